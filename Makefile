# leadeval — developer entry points. `make run` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYENV_ROOT ?= $(shell pyenv root 2>/dev/null || echo $$HOME/.pyenv)
PYTHON ?= $(firstword $(wildcard $(PYENV_ROOT)/versions/3.12.*/bin/python3) $(shell command -v python3.12))
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export UV_PYTHON_DOWNLOADS := never
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: venv run test lint bench bench-hostile bench-forensics bench-throughput bench-accuracy image-requirements lock clean browser report-screenshots invoke-sweep invoke-worker

venv: $(STAMP)

$(STAMP): requirements/dev.txt pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.12 not found (pyenv 3.12.x or python3.12)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check uv 2>/dev/null
	@$(BIN)/uv pip install -q --python $(BIN)/python -r requirements/dev.txt
	@$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	@touch $(STAMP)

## run: set up, load the sample data into the embedded SQLite database and run the pipeline. It starts the
## database afresh (and says what it deletes); `make run KEEP=1` keeps earlier work (leadeval demo --keep).
run: venv
	$(BIN)/leadeval demo $(if $(KEEP),--keep,)

## invoke-sweep / invoke-worker: one handler, one event, as Lambda runs it (after `make run`; EVENT=events/….json)
SWEEP_EVENT ?= events/sweep_scheduled.json
WORKER_EVENT ?= events/worker_one_job.json
ENV_VARS ?= events/env.json
invoke-sweep: venv
	$(BIN)/leadeval invoke sweep -e $(or $(EVENT),$(SWEEP_EVENT)) --env-vars $(ENV_VARS)

invoke-worker: venv
	$(BIN)/leadeval invoke worker -e $(or $(EVENT),$(WORKER_EVENT)) --env-vars $(ENV_VARS)

## test: set up and run every test (SQLite, PostgreSQL, moto, fakes, the report in headless Chromium)
test: venv browser
	$(BIN)/python -m pytest -q

## browser: headless Chromium (Debian's chromium) and axe-core (npm) for the report's PDF and browser tests
browser:
	@bash scripts/ensure_chromium.sh || echo "make browser: Chromium or axe-core could not be installed (above); the browser tests will be skipped"

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

## bench-throughput: 10,000 jobs, 4 worker processes and the sweep on one Cloudflare token through the shared
## DynamoDB bucket (moto server) against a D1 fake enforcing 1,200 requests / 5 min; clock x5 (~15 min)
bench-throughput: venv
	$(BIN)/python scripts/bench_throughput.py

## bench-hostile: peak memory and time of `leadeval evaluate` on each hostile upload (docs/benchmarks.md)
bench-hostile: venv
	$(BIN)/python scripts/bench_hostile.py

## report-screenshots: the sample reports' pictures in docs/report/ (headless Chromium), linked from the README
report-screenshots: venv browser
	$(BIN)/python scripts/report_screenshots.py

## bench-accuracy: per-field precision/recall of the offline reader (text layer + OCR) on the corpus and samples
bench-accuracy: venv
	$(BIN)/python scripts/bench_accuracy.py

## image-requirements: install the container image's requirements as aarch64 binary wheels into a temp dir
## (what this machine can check without Docker; needs the package index)
image-requirements: venv
	tmp=$$(mktemp -d) && $(BIN)/python -m pip install -q --disable-pip-version-check --platform manylinux2014_aarch64 \
	  --platform manylinux_2_28_aarch64 --implementation cp --python-version 3.12 --only-binary=:all: \
	  --target $$tmp -r images/worker/requirements.txt && du -sh $$tmp && rm -rf $$tmp

clean:
	rm -rf .leadeval .pytest_cache

## lock: re-pin requirements/dev.txt and the layer's requirements.txt from pyproject.toml (no URLs inside)
lock: venv
	$(BIN)/uv pip compile pyproject.toml --extra cli --extra ocr --group dev --python-version 3.12 --no-header -q -o requirements/dev.txt
	$(BIN)/uv pip compile pyproject.toml --python-version 3.12 --no-header -q -c requirements/dev.txt -o layers/leadeval/requirements.txt
	$(BIN)/uv pip compile pyproject.toml --extra ocr --python-version 3.12 --python-platform aarch64-manylinux_2_28 --no-header -q -c requirements/dev.txt -o images/worker/requirements.txt
