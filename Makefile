# leadeval — developer entry points. `make run` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYENV_ROOT ?= $(shell pyenv root 2>/dev/null || echo $$HOME/.pyenv)
PYTHON ?= $(firstword $(wildcard $(PYENV_ROOT)/versions/3.12.*/bin/python3) $(shell command -v python3.12))
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export UV_PYTHON_DOWNLOADS := never
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: venv run test lint bench bench-hostile bench-forensics lock clean

venv: $(STAMP)

$(STAMP): requirements/dev.txt pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.12 not found (pyenv 3.12.x or python3.12)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check uv 2>/dev/null
	@$(BIN)/uv pip install -q --python $(BIN)/python -r requirements/dev.txt
	@$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	@touch $(STAMP)

## run: set up, load the sample data into the embedded SQLite database and run the pipeline
run: venv
	$(BIN)/leadeval demo

## test: set up and run every test (SQLite, PostgreSQL, moto, fakes)
test: venv
	$(BIN)/python -m pytest -q

## lint: ruff (style, imports, complexity gate C901 <= 15), mypy (types, pydantic plugin), cfn-lint (template)
lint: venv
	$(BIN)/ruff check layers tools functions tests scripts
	$(BIN)/mypy
	$(BIN)/cfn-lint template.yaml

bench: venv
	$(BIN)/python scripts/bench.py

## bench-forensics: the tamper benchmark: detection per family, clean false positives, time per page (docs/benchmarks.md)
bench-forensics: venv
	$(BIN)/python scripts/bench_forensics.py

## bench-hostile: peak memory and time of `leadeval evaluate` on each hostile upload (docs/benchmarks.md)
bench-hostile: venv
	$(BIN)/python scripts/bench_hostile.py

clean:
	rm -rf .leadeval .pytest_cache

## lock: re-pin requirements/dev.txt and the layer's requirements.txt from pyproject.toml (no URLs inside)
lock: venv
	$(BIN)/uv pip compile pyproject.toml --extra cli --group dev --python-version 3.12 --no-header -q -o requirements/dev.txt
	$(BIN)/uv pip compile pyproject.toml --python-version 3.12 --no-header -q -c requirements/dev.txt -o layers/leadeval/requirements.txt
