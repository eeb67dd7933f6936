"""CLI inputs are refused cleanly; local runs recover jobs an interrupted run left in flight."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadeval.adapters.jobstore.sqlite import SqliteJobStore
from leadeval.cli import app
from leadeval.models import Job, JobStatus
from tests.helpers import text_pdf

pytestmark = pytest.mark.slow


@pytest.fixture(name="db")
def _db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aws_credentials: None) -> Path:
    saved = dict(os.environ)
    db = tmp_path / "cli.db"
    monkeypatch.setenv("LEADEVAL_DATABASE_URL", f"sqlite:///{db}")
    for name in ("LEADEVAL_DOCUMENTS_URL", "LEADEVAL_MODEL_URL"):
        monkeypatch.delenv(name, raising=False)
    yield db
    os.environ.clear()
    os.environ.update(saved)


@pytest.mark.parametrize(("args", "option"), [
    (["--monthly-rent", "-5"], "--monthly-rent"),
    (["--monthly-rent", "0"], "--monthly-rent"),
    (["--monthly-rent", "nan"], "--monthly-rent"),
    (["--monthly-rent", "1850", "--voucher-amount", "-1"], "--voucher-amount"),
    (["--monthly-rent", "1850", "--voucher-amount", "2000"], "--voucher-amount"),
    (["--monthly-rent", "1850", "--move-in", "2026-02-30"], "--move-in"),
    (["--monthly-rent", "1850", "--site", ""], "--site"),
])
def test_bad_evaluate_inputs_are_refused_naming_the_option(args: list[str], option: str, db: Path,
                                                           tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "stub.pdf").write_bytes(text_pdf(["Pay stub"]))
    result = CliRunner().invoke(app, ["evaluate", str(folder), "--first-name", "Jane", "--last-name", "Doe", *args])
    assert result.exit_code == 2
    assert option in result.output and "Traceback" not in result.output
    assert not db.exists()  # refused before anything was written


def test_empty_name_is_refused(db: Path, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "stub.pdf").write_bytes(text_pdf(["Pay stub"]))
    result = CliRunner().invoke(app, ["evaluate", str(folder), "--monthly-rent", "1850", "--first-name", " ",
                                      "--last-name", "Doe"])
    assert result.exit_code == 2 and "--first-name" in result.output


def test_interrupted_run_is_recovered_and_evaluate_waits_only_for_its_own_job(db: Path, tmp_path: Path) -> None:
    """A job left `processing` by an interrupted run (its emulated queue is gone) goes back to pending at the
    next local run and completes; `evaluate` reports its own job."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "stub.pdf").write_bytes(text_pdf(["EARNINGS STATEMENT", "Employee: Jane Doe", "Gross Pay 4,000.00"]))
    runner = CliRunner()
    first = runner.invoke(app, ["evaluate", str(folder), "--monthly-rent", "1200", "--first-name", "Jane",
                                "--last-name", "Doe"])
    assert first.exit_code == 0, first.output
    store = SqliteJobStore(db)
    [done] = store.list_jobs()
    # An interrupted run: a job of the same lead claimed (processing, lease far ahead) whose message died with
    # that run's emulated queue.
    store.create_job(Job(id="job_interrupted", site_id=done.site_id, lead_id=done.lead_id,
                         status=JobStatus.PROCESSING, requested_at=done.requested_at, attempts=1,
                         lease_expires_at=datetime(2999, 1, 1, tzinfo=UTC)))
    store.close()

    result = runner.invoke(app, ["process", "--timeout", "60"])

    assert result.exit_code == 0, result.output
    store = SqliteJobStore(db)
    assert store.get_job("job_interrupted").status == JobStatus.COMPLETED
    assert store.get_evaluation("job_interrupted") is not None
    assert store.get_job(done.id).status == JobStatus.COMPLETED
    store.close()


def test_read_commands_do_not_create_a_database(db: Path) -> None:
    """`jobs list` on a database that does not exist says so and creates nothing."""
    result = CliRunner().invoke(app, ["jobs", "list"])
    assert result.exit_code == 2 and "no database at" in result.output
    assert not db.exists()
