"""Cold start: importing a function's ``app.py`` loads no heavy library.

Each function is imported in a fresh interpreter the way Lambda loads it: ``app.py`` as the module
``app`` from its own folder (``CodeUri``), the layer's ``leadeval`` package on the path. PDF and image
libraries (pypdf, pypdfium2, Pillow, pillow_heif), the CLI-only fpdf2, test-only moto, and httpx (only
the D1 / Workers AI / OpenAI-compatible adapters need it, built on first use) must not be among the
loaded modules, nor Powertools' parser models (unused: messages are validated by leadeval's own model).
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
top = sorted({name.split(".")[0] for name in sys.modules})
parser = sorted(name for name in sys.modules if name.startswith("aws_lambda_powertools.utilities.parser"))
print(json.dumps({"top": top, "leadeval": sys.modules["leadeval"].__file__, "parser": parser}))
"""


def _modules_after_import(function: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADEVAL_", "PYTHONPATH"))}
    env.update({"PYTHONPATH": os.pathsep.join([str(REPO / "functions" / function), str(LAYER)]),
                "POWERTOOLS_SERVICE_NAME": "leadeval", "AWS_DEFAULT_REGION": "us-east-1",
                "PYTHONDONTWRITEBYTECODE": "1"})
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
    assert {"leadeval", "aws_lambda_powertools", "pydantic"} <= set(loaded["top"])
