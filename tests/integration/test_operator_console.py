"""The operator console: DLQ redrive rehearsed end to end on the local emulator, `dlq list --limit 0`, exit
codes, jobs list filters and bulk retry/cancel, documents named by file, pause/resume needing --local."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from leadeval.ports import DEAD_LETTERED_AT_ATTRIBUTE
from leadeval_tools.cli import app
from tests.helpers import demo_in

pytestmark = pytest.mark.slow


@pytest.fixture(name="emulator")
def _emulator(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A moto server with the jobs queue and its DLQ, the CLI pointed at them."""
    from moto.server import ThreadedMotoServer

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        import boto3

        host, port = server.get_host_and_port()
        client = boto3.client("sqs", region_name="us-east-1", endpoint_url=f"http://{host}:{port}")
        dlq = client.create_queue(QueueName="jobs-dlq")["QueueUrl"]
        queue = client.create_queue(QueueName="jobs")["QueueUrl"]
        monkeypatch.setenv("LEADEVAL_QUEUE_URL", queue)
        monkeypatch.setenv("LEADEVAL_DLQ_URL", dlq)
        monkeypatch.setenv("LEADEVAL_DATABASE_URL", f"sqlite:///{tmp_path}/jobs.db")
        yield {"client": client, "queue": queue, "dlq": dlq}
    finally:
        server.stop()


def _dead_letter(emulator: dict[str, Any], job_id: str) -> None:
    body = json.dumps({"job_id": job_id, "site_id": "site_a", "lead_id": "lead_a", "generation": 1})
    emulator["client"].send_message(QueueUrl=emulator["dlq"], MessageBody=body, MessageAttributes={
        "leadeval_reason": {"DataType": "String", "StringValue": "ModelUnavailable"},
        DEAD_LETTERED_AT_ATTRIBUTE: {"DataType": "String", "StringValue": "2026-12-01T00:00:00.000Z"}})


def _drain(emulator: dict[str, Any], url: str) -> list[dict[str, Any]]:
    got: dict[str, dict[str, Any]] = {}
    for _ in range(5):
        for m in emulator["client"].receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                                    MessageAttributeNames=["All"]).get("Messages", []):
            got[m["MessageId"]] = m
    return list(got.values())


def test_a_full_redrive_is_rehearsed_on_the_emulator_and_keeps_the_attributes(emulator: dict[str, Any]) -> None:
    for job_id in ("job_1", "job_2", "job_3"):
        _dead_letter(emulator, job_id)
    runner = CliRunner()

    listed = runner.invoke(app, ["dlq", "list", "--limit", "0"])
    assert listed.exit_code == 0, listed.output
    assert "Dead-letter queue: 3 message(s)" in listed.output  # --limit 0: all of them, not none

    some = runner.invoke(app, ["dlq", "list", "--limit", "2"])
    assert "2 message(s) shown of about 3" in some.output

    typo = runner.invoke(app, ["dlq", "redrive", "--job", "job_typo"])
    assert typo.exit_code == 1 and "moved 0 message(s)" in typo.output
    assert "no DLQ message names job_typo" in typo.output

    moved = runner.invoke(app, ["dlq", "redrive"])
    assert moved.exit_code == 0, moved.output
    assert "moved 3 message(s) back to the jobs queue (local emulator" in moved.output
    back = _drain(emulator, emulator["queue"])
    assert sorted(json.loads(m["Body"])["job_id"] for m in back) == ["job_1", "job_2", "job_3"]
    # as a move task does: every attribute kept, so the worker sees a redrive of a dead-lettered job
    assert all(m["MessageAttributes"][DEAD_LETTERED_AT_ATTRIBUTE]["StringValue"] == "2026-12-01T00:00:00.000Z"
               for m in back)
    assert _drain(emulator, emulator["dlq"]) == []

    empty = runner.invoke(app, ["dlq", "redrive"])
    assert empty.exit_code == 1 and "the DLQ is empty" in empty.output


def test_the_redrive_help_says_what_the_code_does() -> None:
    text = " ".join(CliRunner().invoke(app, ["dlq", "redrive", "--help"]).output.split())
    assert "keeps its generation" in text and "new generation" not in text


def test_pause_and_resume_need_local_without_a_worker_function(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LEADEVAL_WORKER_FUNCTION_NAME", raising=False)
    runner = CliRunner()
    refused = runner.invoke(app, ["pause"])
    assert refused.exit_code == 2 and "--local" in refused.output
    assert not (tmp_path / ".leadeval" / "paused").exists()  # nothing was changed
    assert runner.invoke(app, ["pause", "--local"]).exit_code == 0
    assert (tmp_path / ".leadeval" / "paused").exists()
    # a paused local runtime runs nothing: process and evaluate say so at once instead of waiting
    monkeypatch.setenv("LEADEVAL_DATABASE_URL", f"sqlite:///{tmp_path}/jobs.db")
    busy = runner.invoke(app, ["process", "--timeout", "600"])
    assert busy.exit_code == 1 and "paused" in busy.output
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.pdf").write_bytes(b"%PDF-1.4\n")
    ev = runner.invoke(app, ["evaluate", str(folder), "--monthly-rent", "1000", "--first-name", "A",
                             "--last-name", "B"])
    assert ev.exit_code == 1 and "paused" in ev.output
    assert not (tmp_path / "jobs.db").exists()  # refused before anything was written
    assert runner.invoke(app, ["resume", "--local"]).exit_code == 0
    assert not (tmp_path / ".leadeval" / "paused").exists()


@pytest.fixture(name="after_demo", scope="module")
def _after_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("console")
    demo_in(work)
    return work


@pytest.fixture(name="console")
def _console(after_demo: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(after_demo)
    monkeypatch.delenv("LEADEVAL_DATABASE_URL", raising=False)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def test_jobs_list_filters_and_shows_the_lifecycle_columns(console) -> None:
    result = console("jobs", "list", "--site", "site_sunrise", "--error-code", "ResourceNotFound")
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if "job_" in line]
    assert sorted(line.split()[1] for line in rows) == ["job_sunrise_cross_site", "job_sunrise_missing_lead"]
    assert "attempts" in result.output and "dead-lettered" in result.output and "gen" in result.output
    assert all("1/5" in line for line in rows)
    # no wrapping when piped: each row is one line, however long
    assert all(len(line) > 160 for line in rows) or all("│" in line for line in rows)
    assert "(4 jobs" not in result.output
    completed = console("jobs", "list", "--state", "completed", "--since", "2000-01-01", "--limit", "100")
    assert sum(1 for line in completed.output.splitlines() if "job_" in line) == 7
    assert " 90 " in completed.output  # the evaluation's score, from the same query
    assert console("jobs", "list", "--until", "2000-01-01").output.count("job_") == 0
    bad = console("jobs", "list", "--since", "yesterday-ish")
    assert bad.exit_code == 2 and "--since" in bad.output


def test_bulk_retry_is_a_dry_run_until_yes_and_counts(console) -> None:
    dry = console("jobs", "retry", "--error-code", "ResourceNotFound")
    assert dry.exit_code == 0
    assert "dry run: 2 job(s) match" in dry.output and "nothing changed" in dry.output
    listed = console("jobs", "list", "--error-code", "ResourceNotFound").output
    assert listed.count("failed") == 2  # still failed
    done = console("jobs", "retry", "--error-code", "ResourceNotFound", "--yes")
    assert done.exit_code == 0, done.output
    assert "2 of 2 job(s) retried" in done.output and "generation 2" in done.output
    none = console("jobs", "retry", "--error-code", "NoSuchCode", "--yes")
    assert none.exit_code == 1 and "no job matches" in none.output
    nothing = console("jobs", "retry")
    assert nothing.exit_code == 2
    cancelled = console("jobs", "cancel", "--site", "site_sunrise", "--yes")
    assert cancelled.exit_code == 0 and "2 of 2 job(s) cancelled" in cancelled.output  # the two retried, pending
    assert console("jobs", "cancel", "job_sunrise_strong").exit_code == 1  # completed: not cancelled


def test_jobs_show_names_documents_by_file(console) -> None:
    shown = console("jobs", "show", "job_maple_corrupt")
    assert shown.exit_code == 0
    assert "paystub.pdf (doc_corrupt_stub)" in shown.output
    tampered = console("jobs", "show", "job_maple_tampered").output
    assert "paystub_" in tampered and "edited" in tampered
    assert "doc_tampered_stub (pay stub)" not in tampered  # reasons name the file, not the id
    assert console("jobs", "show", "job_nope").exit_code == 1


def test_demo_says_what_it_resets_and_keep_keeps_it(console, after_demo: Path) -> None:
    kept = console("demo", "--keep")
    assert kept.exit_code == 0, kept.output
    assert "already holds the sample data" in kept.output


def test_emulators_keep_the_queues_for_the_next_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`leadeval emulators` prints what to export; with it, what `invoke` dead-letters is there for `dlq list`."""
    import socket
    import subprocess
    import sys

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADEVAL_", "AWS_ENDPOINT"))}
    proc = subprocess.Popen([sys.executable, "-c", "from leadeval_tools.cli import main; main()", "emulators",
                             "--port", str(port)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        exports = {}
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("export "):
                key, _, value = line.removeprefix("export ").strip().partition("=")
                exports[key] = value
            if "Ctrl-C" in line:
                break
        assert exports["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{port}"
        assert exports["LEADEVAL_DLQ_URL"].endswith("/leadeval-jobs-dlq")
        monkeypatch.chdir(tmp_path)
        for key, value in exports.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("LEADEVAL_DATABASE_URL", raising=False)
        runner = CliRunner()
        assert runner.invoke(app, ["db", "init"]).exit_code == 0  # invoke runs on an existing database only
        event = Path(__file__).resolve().parents[2] / "events" / "worker_poison.json"
        saved = dict(os.environ)
        try:
            invoked = runner.invoke(app, ["invoke", "worker", "-e", str(event), "--env-vars",
                                          str(event.parent / "env.json")])
        finally:
            os.environ.clear()
            os.environ.update(saved)
        assert invoked.exit_code == 0, invoked.output
        listed = runner.invoke(app, ["dlq", "list"])
        assert listed.exit_code == 0 and "UnknownJob" in listed.output and "job_unknown_404" in listed.output
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert proc.returncode == 0  # SIGTERM stops it cleanly
