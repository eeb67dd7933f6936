"""CLI inputs are refused cleanly; local runs recover jobs an interrupted run left in flight."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadeval.adapters.jobstore.sql import Statement
from leadeval.adapters.jobstore.sqlite import SqliteJobStore
from leadeval.models import Job, JobState, JobStatus
from leadeval.timeutil import format_ts
from leadeval_tools.appdb import create_application_tables
from leadeval_tools.cli import app
from tests.helpers import local_database_env, text_pdf

pytestmark = pytest.mark.slow


@pytest.fixture(name="db")
def _db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aws_credentials: None) -> Iterator[Path]:
    yield from local_database_env(tmp_path / "cli.db", monkeypatch)


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
                         status=JobStatus.PENDING, requested_at=done.requested_at))
    store.executor.execute_batch([Statement(
        "interrupted", "UPDATE ai_evaluation_jobs SET status = 'processing', leadeval_state = 'processing', "
        "leadeval_requested_at = requested_at, leadeval_claims = 1, leadeval_lease_expires_at = :lease "
        "WHERE id = 'job_interrupted'", {"lease": format_ts(datetime(2999, 1, 1, tzinfo=UTC))})])
    assert store.get_job("job_interrupted").state == JobState.PROCESSING
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


def test_evaluate_on_an_existing_site_leaves_its_usage_row_alone(db: Path, tmp_path: Path) -> None:
    """`evaluate --site` of a site the application already has: its usage row is not replaced (26/25 stays
    26/25), and the job is judged against it (QuotaExceeded)."""
    from leadeval.models import Usage
    from leadeval.timeutil import usage_month, utcnow

    store = SqliteJobStore(db)
    create_application_tables(store)
    store.migrate()
    store.add_usage(Usage(site_id="site_real", month=usage_month(utcnow()), evaluation_count=26, quota_limit=25))
    store.close()
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "stub.pdf").write_bytes(text_pdf(["EARNINGS STATEMENT", "Employee: Jane Doe", "Gross Pay 4,000.00"]))

    result = CliRunner().invoke(app, ["evaluate", str(folder), "--monthly-rent", "1200", "--first-name", "Jane",
                                      "--last-name", "Doe", "--site", "site_real"])

    assert "QuotaExceeded" in result.output, result.output
    store = SqliteJobStore(db)
    rows = store.executor.execute_batch([Statement("usage", "SELECT * FROM ai_evaluation_usage", {})])[0]
    assert rows == [{"site_id": "site_real", "month": usage_month(utcnow()), "evaluation_count": 26,
                     "quota_limit": 25}]
    store.close()


def test_the_readmes_manual_test_recipe_completes_the_job(db: Path, tmp_path: Path) -> None:
    """README "Run the spec's manual test": after the sample data, the SQL it gives (the original processor's
    INSERT verbatim) and `leadeval process` complete job_test123 in the application's shape."""
    import re
    import sqlite3

    from tests.conftest import REPO_ROOT

    readme = (REPO_ROOT / "README.md").read_text("utf-8")
    block = re.search(r"<!-- manual-test:start -->\n```sh\n(.*?)```\n<!-- manual-test:end -->", readme, re.S)
    assert block is not None
    sql = re.search(r"<<'SQL'\n(.*?)\nSQL\n", block.group(1), re.S)
    assert sql is not None and "'job_test123'" in sql.group(1) and "leadeval process" in block.group(1)
    runner = CliRunner()
    assert runner.invoke(app, ["demo"]).exit_code == 0
    with sqlite3.connect(db) as conn:
        conn.executescript(sql.group(1))

    result = runner.invoke(app, ["process", "--timeout", "120"])

    assert result.exit_code == 0, result.output
    with sqlite3.connect(db) as conn:
        job = conn.execute("SELECT status, retry_count, max_retries, evaluation_id FROM ai_evaluation_jobs "
                           "WHERE id = 'job_test123'").fetchone()
        lead = conn.execute("SELECT ai_score, ai_label, status FROM leads WHERE id = 'lead_existing'").fetchone()
        evaluation = conn.execute("SELECT score, label, model_version FROM lead_ai_evaluations WHERE id = ?",
                                  (job[3],)).fetchone()
    assert job[:3] == ("completed", 0, 3) and job[3].startswith("eval_")
    assert lead == (90, "A", "ai_evaluated") and evaluation == (90, "A", "offline-patterns-1")


def test_db_migrate_refuses_an_empty_database_and_db_init_creates_the_applications_tables(db: Path) -> None:
    """`db migrate` on a database without the application's tables exits 2 naming `db init`; `db init`
    creates them and migrates; both are then no-ops."""
    runner = CliRunner()
    refused = runner.invoke(app, ["db", "migrate"])
    assert refused.exit_code == 2 and "db init" in refused.output and "Traceback" not in refused.output
    created = runner.invoke(app, ["db", "init"])
    assert created.exit_code == 0 and "created the application's tables" in created.output, created.output
    again = runner.invoke(app, ["db", "init"])
    assert again.exit_code == 0 and "the application's tables exist; applied 0 migration(s)" in again.output
    assert "applied 0 migration(s) (database up to date)" in runner.invoke(app, ["db", "migrate"]).output


def test_operator_commands_never_migrate_and_process_never_invents_the_applications_tables(db: Path) -> None:
    """On the application's own database without leadeval's migrations, `jobs list` changes nothing and says to
    run `db migrate`; on a database without the application's tables `process` refuses (exit 2) instead of
    creating them; a missing SQLite path is never created by `db migrate` or `process`."""
    runner = CliRunner()
    missing = db.with_name("typo.db")
    for args in (["db", "migrate"], ["process"]):
        result = runner.invoke(app, args, env={"LEADEVAL_DATABASE_URL": f"sqlite:///{missing}"})
        assert result.exit_code == 2 and "no database at" in result.output, (args, result.output)
    assert not missing.exists()

    db.touch()  # an empty database file: not the application's
    refused = runner.invoke(app, ["process"])
    assert refused.exit_code == 2 and "the application's tables are missing" in refused.output, refused.output
    store = SqliteJobStore(str(db))
    try:
        assert store.application_tables() == set()
        create_application_tables(store)  # now the application's database, never migrated by leadeval
        listed = runner.invoke(app, ["jobs", "list"])
        assert listed.exit_code == 2 and "leadeval db migrate" in listed.output, listed.output
        tables = {row["name"] for row in store.executor.execute_batch([Statement(
            "t", "SELECT name FROM sqlite_master WHERE type = 'table'", {})])[0]}
        assert "leadeval_migrations" not in tables
        assert store.pending_migrations() == [p.name for p in store.migration_files()]
        assert runner.invoke(app, ["db", "migrate"]).exit_code == 0
        assert store.pending_migrations() == []
        assert runner.invoke(app, ["jobs", "list"]).exit_code == 0
    finally:
        store.close()


def test_a_hand_written_status_never_breaks_the_console(db: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """A row whose status is 'PENDING' is read as pending; one whose status is outside the application's four
    values ('queued') is left out of `jobs list` with a warning, and `jobs show` of it exits 1 naming the column,
    without a traceback or the row's data."""
    import sys

    from leadeval_tools.cli import main

    runner = CliRunner()
    assert runner.invoke(app, ["db", "init"]).exit_code == 0
    store = SqliteJobStore(str(db))
    try:
        for job_id, status in (("job_upper", "PENDING"), ("job_odd", "queued")):
            store.executor.execute_batch([Statement("job", (
                "INSERT INTO ai_evaluation_jobs (id, lead_id, site_id, status, requested_by, requested_at, "
                "created_at, updated_at) VALUES (:id, 'lead_1', 'site_1', :status, 'user_test', "
                "'2026-01-31 10:00:00', '2026-01-31 10:00:00', '2026-01-31 10:00:00')"),
                {"id": job_id, "status": status})])
    finally:
        store.close()
    listed = runner.invoke(app, ["jobs", "list"])
    assert listed.exit_code == 0, listed.output
    assert "job_upper" in listed.stdout and "job_odd" not in listed.stdout
    assert "job job_odd left out: its status 'queued' is not one of the application's values" in listed.stderr

    monkeypatch.setattr(sys, "argv", ["leadeval", "jobs", "show", "job_odd"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    message = capsys.readouterr().err
    assert "not in the application's shape: status (enum)" in message and "Traceback" not in message
