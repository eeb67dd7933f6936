"""Cold start: importing a function's ``app.py`` loads no heavy library.

Each function is imported in a fresh interpreter the way Lambda loads it: ``app.py`` as the module
``app`` from its own folder (``CodeUri``), the layer's ``leadeval`` package on the path. PDF and image
libraries (pypdf, pypdfium2, Pillow, pillow_heif), the CLI-only fpdf2, test-only moto, and httpx (only
the D1 / Workers AI / OpenAI-compatible adapters need it, built on first use) must not be among the
loaded modules, nor Powertools' parser models (unused: messages are validated by leadeval's own model), nor
boto3, Powertools' idempotency utility (built on first use) or the X-Ray SDK's centralized sampler (a botocore
client); no leadeval model builds its schema at import (pydantic ``defer_build``); the sweep loads none of the
worker's Powertools utilities. The child runs with Lambda's environment variables.
Import *time* is measured by ``scripts/bench_budget.py`` (docs/benchmarks.md), not here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
LAYER = REPO / "layers" / "leadeval"
FORBIDDEN = ("pypdf", "pypdfium2", "PIL", "pillow_heif", "fpdf", "moto", "httpx", "psycopg")

_CHILD = """
import json, sys
import app
assert callable(app.lambda_handler)
from pydantic import BaseModel
top = sorted({name.split(".")[0] for name in sys.modules})
parser = sorted(name for name in sys.modules if name.startswith("aws_lambda_powertools.utilities.parser"))
built = sorted(f"{name}.{attr}" for name, module in list(sys.modules.items()) if name.startswith("leadeval")
               for attr, value in vars(module).items() if isinstance(value, type) and issubclass(value, BaseModel)
               and value.__module__ == name and value.__pydantic_complete__)
print(json.dumps({"top": top, "leadeval": sys.modules["leadeval"].__file__, "parser": parser, "built": built,
                  "modules": sorted(sys.modules)}))
"""

#: Lambda's own variables (AWS Lambda docs, "Defined runtime environment variables"); LAMBDA_TASK_ROOT tells the
#: X-Ray SDK and Powertools' Tracer that they run in Lambda (the tracer is enabled: template.yaml's Tracing is
#: Active). Set per function to its folder.
LAMBDA_ENV = {"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
              "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
              "AWS_LAMBDA_FUNCTION_NAME": "leadeval-function", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
              "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000", "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
              "POWERTOOLS_SERVICE_NAME": "leadeval", "POWERTOOLS_METRICS_NAMESPACE": "Leadeval"}

#: Loaded by neither function's import: boto3 (clients are built on first use; Powertools' idempotency
#: persistence is what imports it) and the X-Ray SDK's centralized sampler, whose connector builds a botocore
#: X-Ray client (in Lambda the recorder samples locally).
NOT_AT_IMPORT = ("boto3", "aws_xray_sdk.core.sampling.sampler", "aws_xray_sdk.core.sampling.connector",
                 "aws_lambda_powertools.utilities.idempotency")
#: Worker-only modules the sweep's import must not load (Powertools' batch utility and its event data classes).
NOT_IN_SWEEP = ("aws_lambda_powertools.utilities.batch", "aws_lambda_powertools.utilities.data_classes")


def _modules_after_import(function: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LEADEVAL_", "PYTHONPATH", "POWERTOOLS_", "AWS_", "LAMBDA_", "_X_AMZN"))}
    env.update(LAMBDA_ENV)
    env.update({"PYTHONPATH": os.pathsep.join([str(REPO / "functions" / function), str(LAYER)]),
                "LAMBDA_TASK_ROOT": str(REPO / "functions" / function), "PYTHONDONTWRITEBYTECODE": "1"})
    out = subprocess.run([sys.executable, "-c", _CHILD], cwd=REPO / "functions" / function, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("function", ["worker", "sweep"])
def test_function_import_loads_no_heavy_library(function: str) -> None:
    loaded = _modules_after_import(function)
    assert loaded["leadeval"] == str(LAYER / "leadeval" / "__init__.py")
    assert [name for name in FORBIDDEN if name in loaded["top"]] == []
    # Powertools' batch utility loads its pydantic parser models when pydantic is imported before it
    # (batch/types.py checks sys.modules): the handlers import it first, so none of them is loaded.
    assert loaded["parser"] == []
    # what the handlers do need is there: the wiring really was imported
    assert {"leadeval", "aws_lambda_powertools", "pydantic", "aws_xray_sdk"} <= set(loaded["top"])
    assert "leadeval.wiring" in loaded["modules"] and "leadeval.models" in loaded["modules"]


@pytest.mark.parametrize("function", ["worker", "sweep"])
def test_function_import_builds_no_model_schema_and_no_client_library(function: str) -> None:
    loaded = _modules_after_import(function)
    # leadeval's pydantic models (and Settings) build their validators on first use (defer_build)
    assert loaded["built"] == []
    assert [name for name in NOT_AT_IMPORT if name in loaded["modules"]] == []
    # the tracer is the X-Ray SDK's (Lambda-like environment), sampling locally
    assert "aws_xray_sdk.core.sampling.local.sampler" in loaded["modules"]


def test_sweep_import_loads_no_worker_utility() -> None:
    loaded = _modules_after_import("sweep")
    assert [name for name in NOT_IN_SWEEP if name in loaded["modules"]] == []
    # the worker does load them (they are what the guard above tells apart)
    worker = _modules_after_import("worker")
    assert [name for name in NOT_IN_SWEEP if name in worker["modules"]] == list(NOT_IN_SWEEP)
