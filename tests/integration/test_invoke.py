"""`leadeval invoke`: every event in events/ runs against what `make run` leaves, as Lambda would run it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from leadeval.adapters.jobstore.sql import Statement
from leadeval.adapters.jobstore.sqlite import SqliteJobStore
from leadeval.models import JobStatus
from leadeval_tools.cli import app
from leadeval_tools.invoke import FunctionSpec, function_spec, invocation_environment, overlay_env_vars
from tests.helpers import demo_in

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"


@pytest.fixture(name="after_make_run", scope="module")
def _after_make_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory where `leadeval demo` (what `make run` runs) has run once."""
    work = tmp_path_factory.mktemp("invoke")
    demo_in(work)
    return work


def _invoke(work: Path, monkeypatch: pytest.MonkeyPatch, *args: str):
    monkeypatch.chdir(work)
    for name in ("LEADEVAL_DATABASE_URL", "LEADEVAL_DOCUMENTS_URL", "LEADEVAL_MODEL_URL", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    saved = dict(os.environ)
    try:
        return CliRunner().invoke(app, ["invoke", *args])
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.mark.parametrize("event", sorted(p.name for p in EVENTS.glob("*.json") if p.name != "env.json"
                                         and not p.name.startswith("env.")))
def test_every_event_file_runs_after_make_run(event: str, after_make_run: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    function = "sweep" if event.startswith("sweep") else "worker"
    result = _invoke(after_make_run, monkeypatch, function, "-e", str(EVENTS / event),
                     "--env-vars", str(EVENTS / "env.json"))
    assert result.exit_code == 0, result.output
    value = json.loads(result.stdout)  # stdout is the return value alone: no log line, no metric blob
    if function == "worker":
        assert value == {"batchItemFailures": []}
    else:
        assert value["claimed"] == 0 and value["claim_limit"] == 100  # the env-vars file's LEADEVAL_SWEEP_LIMIT
    assert '"_aws"' in result.stderr  # metrics are shown, on stderr
    store = SqliteJobStore(after_make_run / ".leadeval" / "leadeval.db")
    try:
        if "one_job" in event or "mixed" in event:
            job = store.get_job("job_demo_001")  # the sample data created the job the event names
            assert job is not None and job.status == JobStatus.COMPLETED
    finally:
        store.close()


def test_a_worker_event_naming_a_pending_job_runs_it(after_make_run: Path, monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    """The handler really runs: a retried job (generation 2) is processed by an event carrying its message."""
    monkeypatch.chdir(after_make_run)
    assert CliRunner().invoke(app, ["jobs", "retry", "job_maple_corrupt"]).exit_code == 0
    event = json.loads((EVENTS / "worker_one_job.json").read_text())
    event["Records"][0]["body"] = json.dumps({"job_id": "job_maple_corrupt", "site_id": "site_maple",
                                              "lead_id": "lead_maple_corrupt", "generation": 2})
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    result = _invoke(after_make_run, monkeypatch, "worker", "-e", str(path), "--env-vars",
                     str(EVENTS / "env.json"))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"batchItemFailures": []}
    assert "\"JobsFailed\":[1.0]" in result.stderr  # its EMF went to stderr
    store = SqliteJobStore(after_make_run / ".leadeval" / "leadeval.db")
    try:
        job = store.get_job("job_maple_corrupt")
        assert job is not None and job.generation == 2 and job.error_code == "DocumentUnreadable"
    finally:
        store.close()


@pytest.mark.parametrize(("args", "message"), [
    (["worker", "-e", "events/sweep_scheduled.json"], "Records"),
    (["worker", "-e", "events/missing.json"], "cannot read the event file"),
    (["sweep", "-e", "events/sweep_scheduled.json", "--env-vars", "README.md"], "is not JSON"),
])
def test_bad_input_exits_2_naming_the_problem(args: list[str], message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(app, ["invoke", *args])
    assert result.exit_code == 2 and message in result.output, result.output


def test_the_template_gives_timeout_memory_and_environment() -> None:
    worker, sweep = function_spec("worker"), function_spec("sweep")
    assert (worker.timeout_seconds, worker.memory_mb) == (120, 1024)  # WorkerTimeout's default, MemorySize
    assert (sweep.timeout_seconds, sweep.memory_mb) == (60, 512)
    assert worker.environment["LEADEVAL_LEASE_SECONDS"] == "180"  # FindInMap WorkerTimings 120 LeaseSeconds
    assert worker.environment["LEADEVAL_MODEL_URL"] == "workers-ai:@cf/meta/llama-3.2-11b-vision-instruct"
    assert worker.environment["LEADEVAL_QUEUE_URL"] is None  # a resource: only known in AWS
    assert worker.handler_path == ROOT / "functions" / "worker" / "app.py"


def test_env_vars_overlay_as_sam_does() -> None:
    spec = FunctionSpec("WorkerFunction", ROOT / "functions/worker/app.py", 120, 1024,
                        {"LEADEVAL_MODEL_URL": "workers-ai:x", "LEADEVAL_SWEEP_LIMIT": "1000",
                         "LEADEVAL_QUEUE_URL": None})
    env = overlay_env_vars(spec, {"Parameters": {"LEADEVAL_MODEL_URL": "offline:", "UNDECLARED": "1",
                                                 "LEADEVAL_SWEEP_LIMIT": "5"},
                                  "WorkerFunction": {"LEADEVAL_SWEEP_LIMIT": 7},
                                  "SweepFunction": {"LEADEVAL_MODEL_URL": "ignored"}})
    assert env == {"LEADEVAL_MODEL_URL": "offline:", "LEADEVAL_SWEEP_LIMIT": "7", "LEADEVAL_QUEUE_URL": None}
    process = invocation_environment({**env, "LEADEVAL_QUEUE_URL": "http://aws"}, {"HOME": "/h"})
    assert process == {"HOME": "/h", "LEADEVAL_MODEL_URL": "offline:", "LEADEVAL_SWEEP_LIMIT": "7"}


def _env_with_database(url: str) -> dict[str, Any]:
    """events/env.json with another LEADEVAL_DATABASE_URL."""
    env = json.loads((EVENTS / "env.json").read_text())
    env["Parameters"]["LEADEVAL_DATABASE_URL"] = url
    return env


def test_a_mistyped_database_path_is_refused_not_created(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """As `process` and the operator commands: exit 2 naming the path, and no file left behind."""
    env = tmp_path / "env.json"
    typo = tmp_path / "typo_dir" / "leadevl.db"
    env.write_text(json.dumps(_env_with_database(f"sqlite:///{typo}")))
    result = _invoke(tmp_path, monkeypatch, "worker", "-e", str(EVENTS / "worker_one_job.json"),
                     "--env-vars", str(env))
    assert result.exit_code == 2 and "no database at" in result.output, result.output
    assert not typo.exists() and not typo.parent.exists()


def test_a_database_without_the_latest_migration_is_refused(after_make_run: Path, monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    """A Lambda never migrates, and neither does `invoke`: a database an upgrade left behind exits 2 naming the
    command to run, unchanged."""
    import sqlite3

    copy = tmp_path / "old.db"
    source, target = sqlite3.connect(after_make_run / ".leadeval" / "leadeval.db"), sqlite3.connect(copy)
    source.backup(target)  # the database with its write-ahead log (a file copy may miss what the WAL holds)
    source.close()
    target.close()
    store = SqliteJobStore(copy)
    store.executor.execute_batch([Statement("forget", "DELETE FROM leadeval_migrations WHERE name LIKE '0007%'", {})])
    store.close()
    env = tmp_path / "env.json"
    env.write_text(json.dumps(_env_with_database(f"sqlite:///{copy}")))
    result = _invoke(after_make_run, monkeypatch, "worker", "-e", str(EVENTS / "worker_one_job.json"),
                     "--env-vars", str(env))
    assert result.exit_code == 2 and "leadeval db migrate" in result.output, result.output
    store = SqliteJobStore(copy)
    try:
        names = store.executor.execute_batch([Statement("m", "SELECT name FROM leadeval_migrations", {})])[0]
        assert "0007_leadeval_claim_groups.sql" not in {r["name"] for r in names}
    finally:
        store.close()


def test_a_misspelt_variable_in_the_env_vars_file_is_named(after_make_run: Path, monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    """SAM CLI drops a variable the template does not declare, silently; invoke drops it too, but says so."""
    typo = "LEADEVAL_SWEEP_" + "LIMT"  # spelt in two parts: test_config's scan of the repository's names skips it
    env = json.loads((EVENTS / "env.json").read_text())
    env["Parameters"][typo] = "5"
    path = tmp_path / "env.json"
    path.write_text(json.dumps(env))
    result = _invoke(after_make_run, monkeypatch, "sweep", "-e", str(EVENTS / "sweep_scheduled.json"),
                     "--env-vars", str(path))
    assert result.exit_code == 0, result.output
    assert f"{typo} (did you mean LEADEVAL_SWEEP_LIMIT?)" in " ".join(result.stderr.split())
    assert json.loads(result.stdout)["claim_limit"] == 100  # the file's real LEADEVAL_SWEEP_LIMIT, the typo ignored
    clean = _invoke(after_make_run, monkeypatch, "worker", "-e", str(EVENTS / "worker_poison.json"),
                    "--env-vars", str(EVENTS / "env.json"))
    assert clean.exit_code == 0 and "ignored" not in clean.stderr  # sweep-only variables are not a typo
