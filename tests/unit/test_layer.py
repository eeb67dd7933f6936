"""The Lambda layer holds only what runs in Lambda, and works from itself alone.

SAM builds the layer from ``layers/leadeval/`` (template ``LeadevalLayer``: ``ContentUri: layers/leadeval/``,
``BuildMethod: python3.12``): it copies the folder's files into ``python/`` and installs ``requirements.txt``
there. These tests build the same ``python/`` folder (the package copied as SAM copies it) and check what is
inside, then import the handlers from it in a fresh interpreter where the development package and the
development dependencies cannot be imported.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

LAYER = REPO_ROOT / "layers" / "leadeval"
#: Modules that run only outside Lambda (they live in tools/leadeval_tools), by their path in the package.
DEV_MODULES = {"cli", "local", "samples", "testing", "testing_ai", "testing_d1", "appdb", "adapters/queue/redrive",
               "adapters/queue/consumer", "fakes/memory", "fakes/workers_ai", "fakes/d1"}
#: Distributions the CLI, the local runtime and the tests need, and Lambda never does.
DEV_DISTRIBUTIONS = ("typer", "rich", "moto", "fpdf2", "flask", "flask-cors", "pytest", "hypothesis", "cfn-lint",
                     "mypy", "ruff", "jsonschema", "pre-commit")


def _requirements(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            names.add(re.split(r"[=<>\[;]", line, maxsplit=1)[0].strip().lower())
    return names


@pytest.fixture(name="layer_build", scope="module")
def _layer_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python/`` as SAM's Python builder lays the layer out (its own dependencies come from the venv)."""
    python = tmp_path_factory.mktemp("layer") / "python"
    shutil.copytree(LAYER, python, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return python


def test_the_layer_holds_no_development_module(layer_build: Path) -> None:
    package = layer_build / "leadeval"
    modules = {p.relative_to(package).with_suffix("").as_posix() for p in package.rglob("*.py")}
    assert not modules & DEV_MODULES, modules & DEV_MODULES
    assert "adapters/jobstore/migrations/sqlite/0001_leadeval_jobs.sql" in {
        p.relative_to(package).as_posix() for p in package.rglob("*.sql")}
    imports_tools = re.compile(r"^\s*(?:from|import)\s+leadeval_tools\b", re.MULTILINE)
    for path in package.rglob("*.py"):
        text = path.read_text("utf-8")
        assert not imports_tools.search(text), path  # the layer never imports the development package
        assert "parents[" not in text, path  # nor reaches outside itself through the file system


def test_the_layers_requirements_hold_no_development_dependency() -> None:
    layer = _requirements(LAYER / "requirements.txt")
    assert not layer & set(DEV_DISTRIBUTIONS), layer & set(DEV_DISTRIBUTIONS)
    assert {"aws-lambda-powertools", "boto3", "pydantic", "httpx", "nanoid"} <= layer


def test_the_handlers_import_from_the_layer_alone(layer_build: Path) -> None:
    """A fresh interpreter with the built layer first on its path, where importing the development package or a
    development dependency fails: both functions' handler modules import, and the migrations are found."""
    blocked = ("leadeval_tools", "typer", "rich", "moto", "fpdf", "flask", "flask_cors", "pytest", "hypothesis")
    code = f"""
import importlib.abc, importlib.util, sys
BLOCKED = {blocked!r}

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError("development-only module in Lambda: " + name)
        return None

sys.meta_path.insert(0, Block())
sys.path.insert(0, {str(layer_build)!r})
import leadeval, leadeval.handlers, leadeval.wiring
assert leadeval.__file__.startswith({str(layer_build)!r}), leadeval.__file__
for name in ("sweep", "worker"):
    spec = importlib.util.spec_from_file_location(name + "_app", {str(REPO_ROOT / "functions")!r} + f"/{{name}}/app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert callable(module.lambda_handler)
from leadeval.adapters.jobstore.sql import default_migrations
print(sorted(f.name for f in default_migrations("postgresql").iterdir()))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "POWERTOOLS_TRACE_DISABLED": "true",
                               "POWERTOOLS_METRICS_NAMESPACE": "Leadeval", "AWS_DEFAULT_REGION": "us-east-1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == ("['0001_leadeval_jobs.sql', '0002_leadeval_evaluations.sql', "
                                   "'0003_leadeval_policies_overrides.sql', '0006_leadeval_operators.sql', "
                                   "'0007_leadeval_claim_groups.sql']")
