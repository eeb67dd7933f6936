"""The layer ships compiled bytecode (layers/leadeval/Makefile, ``make package``), and the handlers run from it.

SAM builds the layer with ``make build-LeadevalLayer`` (template ``BuildMethod: makefile``): pip installs the
wheels (not repeated here: no network in tests; the development environment's copies stand in), then
``make package`` copies the package and compiles it. Here ``make package`` runs for real into a temporary
folder; importing from it must use the shipped ``.pyc`` files and write none (``/opt`` is read-only in Lambda).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

LAYER = REPO_ROOT / "layers" / "leadeval"
pytestmark = pytest.mark.slow


@pytest.fixture(name="built", scope="module")
def _built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    artifacts = tmp_path_factory.mktemp("artifacts")
    subprocess.run(["make", "--no-print-directory", "-C", str(LAYER), "package", f"ARTIFACTS_DIR={artifacts}",
                    f"PYTHON={sys.executable}"], check=True, capture_output=True, timeout=300)
    return artifacts / "python"


def test_every_module_has_unchecked_hash_bytecode_for_the_runtime(built: Path) -> None:
    sources = sorted(built.joinpath("leadeval").rglob("*.py"))
    assert sources
    tag = sys.implementation.cache_tag  # cpython-312
    for source in sources:
        cached = Path(importlib.util.cache_from_source(str(source)))
        assert cached.name.endswith(f".{tag}.pyc"), cached
        flags = int.from_bytes(cached.read_bytes()[4:8], "little")
        assert flags == 0b01, (cached, flags)  # hash-based (bit 0), not checked against the source (bit 1 clear)
    assert built.joinpath("leadeval", "adapters", "jobstore", "sql", "queries.sql").is_file()


def test_the_handlers_import_from_the_compiled_layer_without_compiling(built: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in built.rglob("*.pyc")}
    code = (f"import sys; sys.path[:0] = [{str(LAYER.parent.parent / 'functions' / 'worker')!r}, {str(built)!r}]\n"
            "import app, leadeval.handlers\n"
            "assert leadeval.handlers.__cached__ and leadeval.handlers.__file__.startswith(sys.path[1])\n"
            "print(len([m for m in sys.modules if m.startswith('leadeval')]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "POWERTOOLS_TRACE_DISABLED": "true",
                               "POWERTOOLS_SERVICE_NAME": "leadeval", "AWS_DEFAULT_REGION": "us-east-1",
                               "PYTHONPATH": ""}, cwd=str(built))
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.strip()) > 10
    assert {p: p.stat().st_mtime_ns for p in built.rglob("*.pyc")} == before  # nothing compiled or rewritten


def test_the_build_refuses_a_python_that_is_not_the_runtimes() -> None:
    # The interpreter running the tests is 3.12; a runtime of 3.11 stands for any mismatch.
    done = subprocess.run(["make", "--no-print-directory", "-C", str(LAYER), "check-python",
                           "PYTHON_VERSION=3.11", f"PYTHON={sys.executable}"], capture_output=True, text=True)
    assert done.returncode != 0
    assert f"is Python {sys.version_info[0]}.{sys.version_info[1]}, the runtime is 3.11" in done.stderr
