"""Fixtures of the browser tests: one `leadeval demo` run (its jobs and their report pages) and one headless
Chromium driven over the DevTools protocol.

Chromium and axe-core are installed by `make test`'s setup (scripts/ensure_chromium.sh); a test that needs one
of them skips, saying which is missing and how to install it, only when it is truly absent.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadeval.adapters.jobstore.sqlite import SqliteJobStore
from leadeval.adapters.storage.local import LocalDocumentStore

AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"


@dataclass(frozen=True)
class DemoRun:
    """A finished `leadeval demo`: its database, its documents folder, its reports folder and its output."""

    db: Path
    documents: Path
    reports: Path
    output: str

    def store(self) -> SqliteJobStore:
        """The demo's job store (read it, close it)."""
        return SqliteJobStore(self.db)

    def document_store(self) -> LocalDocumentStore:
        """The copy of the demo's documents (what `leadeval report` reads without LEADEVAL_DOCUMENTS_URL)."""
        return LocalDocumentStore(self.documents)


@pytest.fixture(scope="session", name="demo_run")
def _demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    from leadeval_tools.cli import app

    folder = tmp_path_factory.mktemp("demo")
    saved = dict(os.environ)
    try:
        os.environ["LEADEVAL_DATABASE_URL"] = f"sqlite:///{folder / 'leadeval.db'}"
        for name in ("LEADEVAL_DOCUMENTS_URL", "LEADEVAL_MODEL_URL", "AWS_ENDPOINT_URL"):
            os.environ.pop(name, None)
        os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                           "AWS_DEFAULT_REGION": "us-east-1"})
        result = CliRunner().invoke(app, ["demo", "--timeout", "300"])
    finally:  # at once, not at the session's end: the local run's defaults must not reach later tests
        os.environ.clear()
        os.environ.update(saved)
    assert result.exit_code == 0, result.output
    yield DemoRun(folder / "leadeval.db", folder / "documents", folder / "reports", result.output)


def _chromium_missing() -> str | None:
    if os.environ.get("LEADEVAL_CHROMIUM") or any(shutil.which(n) for n in ("chromium", "chromium-browser")):
        return None
    return ("Chromium is not installed and scripts/ensure_chromium.sh could not install it "
            "(apt-get install chromium, as root); run `make browser`")


@pytest.fixture(scope="session", name="chromium")
def _chromium() -> Iterator[object]:
    from leadeval_tools.report.browser import Chromium

    missing = _chromium_missing()
    if missing:
        pytest.skip(missing)
    with Chromium() as browser:
        yield browser


@pytest.fixture(scope="session", name="axe_source")
def _axe_source() -> str:
    if not AXE.is_file():
        pytest.skip(f"axe-core is not installed ({AXE} missing): run `make browser` (npm install in tests/browser)")
    return AXE.read_text(encoding="utf-8")
