"""Local runs own their database and read documents folders without following links out of them (issue 10).

- One database, one local run: a second `leadeval process` / `demo` on a database another run holds stops at
  start naming the holder, and touches nothing (before: it put the first run's live job back to pending).
- The lock dies with its process (kill -9), and the next run then recovers the orphans at once, in-progress
  idempotency records included (before: about 141 s, waiting for the dead run's record to expire).
- `evaluate DIR` and the documents folder loaded at each start skip links leading outside the folder (before:
  a link to /etc/hostname was uploaded and read).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadeval.adapters.idempotency import SqlitePersistenceLayer
from leadeval.adapters.jobstore.sqlite import SqliteJobStore
from leadeval.config import Settings
from leadeval.models import Job, JobMessage, JobStatus, Lead, LeadDocument, Usage
from leadeval.timeutil import usage_month
from leadeval.wiring import IDEMPOTENCY_EXPIRES_SECONDS
from leadeval_tools.appdb import create_application_tables
from leadeval_tools.cli import app
from leadeval_tools.local import LocalRunBusy, LocalRunLock, LocalRuntime, folder_documents
from tests.helpers import leave_in_flight, local_database_env, text_pdf

pytestmark = pytest.mark.slow

STUB = text_pdf(["EARNINGS STATEMENT", "Employee: Jane Doe", "Gross Pay 4,000.00"])
OUTSIDE = b"OUTSIDE-SECRET-CONTENT host-42\n"


@pytest.fixture(name="db")
def _db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aws_credentials: None) -> Iterator[Path]:
    yield from local_database_env(tmp_path / "run" / "local.db", monkeypatch)


def _seed_in_flight(db: Path) -> JobMessage:
    """A lead with one document in the run's documents folder, and its job left `processing` by a run that
    died (lease far ahead)."""
    store = SqliteJobStore(db)
    create_application_tables(store)
    store.migrate()
    requested = datetime.now(UTC) - timedelta(minutes=5)
    store.add_usage(Usage(site_id="site_l", month=usage_month(requested), evaluation_count=1, quota_limit=100))
    store.create_lead(Lead(id="lead_l", site_id="site_l", first_name="Jane", last_name="Doe", monthly_rent=1200))
    key = "site_l/lead_l/01-stub.pdf"
    (db.parent / "documents" / "site_l" / "lead_l").mkdir(parents=True)
    (db.parent / "documents" / key).write_bytes(STUB)
    store.add_document(LeadDocument(id="doc_l", lead_id="lead_l", document_type="pay_stub", storage_key=key,
                                    uploaded_at=requested))
    store.create_job(Job(id="job_l", site_id="site_l", lead_id="lead_l", status=JobStatus.PENDING,
                         requested_at=requested))
    leave_in_flight(store, "job_l", lease_until=datetime(2999, 1, 1, tzinfo=UTC))
    store.close()
    return JobMessage(job_id="job_l", site_id="site_l", lead_id="lead_l", generation=1)


# ----------------------------------------------------------------------------- one run per database


def test_a_second_run_on_a_held_database_stops_at_start_and_touches_nothing(db: Path) -> None:
    _seed_in_flight(db)
    holder = LocalRunLock.for_settings(Settings.from_env(os.environ))
    holder.acquire()
    try:
        result = CliRunner().invoke(app, ["process", "--timeout", "10"])
        assert isinstance(result.exception, LocalRunBusy)
        assert f"pid {os.getpid()}" in result.exception.message and "wait for it to finish" in \
            result.exception.message
        store = SqliteJobStore(db)
        job = store.get_job("job_l")
        assert (job.status, job.attempts) == (JobStatus.PROCESSING, 1)  # not put back to pending
        store.close()

        demo = CliRunner().invoke(app, ["demo", "--timeout", "10"])
        assert isinstance(demo.exception, LocalRunBusy)
        assert db.exists() and SqliteJobStore(db).get_job("job_l") is not None  # demo deleted nothing
    finally:
        holder.release()


def test_the_cli_prints_the_holder_and_exits_1(db: Path) -> None:
    _seed_in_flight(db)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with LocalRunLock.for_settings(Settings.from_env(os.environ)):
        done = subprocess.run([sys.executable, "-c", "from leadeval_tools.cli import main; main()", "process"],
                              env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    text = " ".join(done.stderr.split())
    assert f"LocalRunBusy: another local run (pid {os.getpid()}, started" in text
    assert "Traceback" not in done.stderr


def test_the_lock_dies_with_a_killed_run_and_the_next_run_recovers_its_job_at_once(db: Path) -> None:
    """A run killed with SIGKILL left its job `processing` and an in-progress idempotency record valid for an
    hour. The lock is free again, and the next `process` puts the job back and completes it within its
    timeout: the dead run's in-progress record is cleared rather than waited for."""
    message = _seed_in_flight(db)
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    layer = SqlitePersistenceLayer(db)
    layer.configure(IdempotencyConfig(event_key_jmespath="[job_id, generation]", raise_on_no_idempotency_key=True,
                                      expires_after_seconds=IDEMPOTENCY_EXPIRES_SECONDS),
                    function_name="process_job", key_prefix="leadeval.worker.process_job")
    layer.save_inprogress(data=message.model_dump(), remaining_time_in_millis=3_600_000)
    layer.close()

    script = ("import sys, time; from pathlib import Path; from leadeval_tools.local import LocalRunLock; "
              "lock = LocalRunLock(Path(sys.argv[1]), 'db'); lock.acquire(); print('locked', flush=True); "
              "time.sleep(600)")
    holder = subprocess.Popen([sys.executable, "-c", script, f"{db}.lock"], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    with pytest.raises(LocalRunBusy):
        LocalRunLock.for_settings(Settings.from_env(os.environ)).acquire()
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)

    started = time.monotonic()
    result = CliRunner().invoke(app, ["process", "--timeout", "60"])
    assert result.exit_code == 0, (result.output, result.exception)
    store = SqliteJobStore(db)
    job = store.get_job("job_l")
    assert (job.status, job.attempts) == (JobStatus.COMPLETED, 2)
    assert store.get_evaluation("job_l") is not None
    store.close()
    assert time.monotonic() - started < 60


# ----------------------------------------------------------------------------- links out of folders


def test_evaluate_skips_a_link_leading_outside_its_folder(db: Path, tmp_path: Path) -> None:
    secret = tmp_path / "outside.txt"
    secret.write_bytes(OUTSIDE)
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "stub.pdf").write_bytes(STUB)
    (folder / "hostname.pdf").symlink_to(secret)
    (folder / "inside-link.pdf").symlink_to(folder / "stub.pdf")  # a link within the folder is read
    result = CliRunner().invoke(app, ["evaluate", str(folder), "--monthly-rent", "1200", "--first-name", "Jane",
                                      "--last-name", "Doe", "--timeout", "60"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "skipped hostname.pdf: a link leading outside the folder" in " ".join(result.output.split())
    store = SqliteJobStore(db)
    [job] = store.list_jobs()
    names = sorted(d.file_name for d in store.get_evaluation(job.id).documents)
    store.close()
    assert names == ["inside-link.pdf", "stub.pdf"]
    mirrored = [p.read_bytes() for p in (db.parent / "documents").rglob("*") if p.is_file()]
    assert OUTSIDE not in mirrored and len(mirrored) == 2


def test_the_documents_folder_loaded_at_start_skips_links_leading_outside_it(db: Path, tmp_path: Path) -> None:
    secret = tmp_path / "outside.txt"
    secret.write_bytes(OUTSIDE)
    outside_dir = tmp_path / "elsewhere"
    outside_dir.mkdir()
    (outside_dir / "x.pdf").write_bytes(OUTSIDE)
    documents = db.parent / "documents"
    (documents / "site_l").mkdir(parents=True)
    (documents / "site_l" / "stub.pdf").write_bytes(STUB)
    (documents / "site_l" / "hostname.pdf").symlink_to(secret)
    (documents / "linked-dir").symlink_to(outside_dir, target_is_directory=True)

    keys = [(key, why) for key, _, why in folder_documents(documents, max_bytes=1_000_000)]
    assert keys == [("site_l/hostname.pdf", "a link leading outside the folder"), ("site_l/stub.pdf", None)]

    with LocalRuntime(dict(os.environ)) as runtime:
        import boto3

        s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
        listed = s3.list_objects_v2(Bucket=runtime.bucket).get("Contents", [])
        bodies = [s3.get_object(Bucket=runtime.bucket, Key=o["Key"])["Body"].read() for o in listed]
    keys_loaded = {o["Key"] for o in listed}  # moto's state is per process: other tests' objects may be there
    assert "site_l/stub.pdf" in keys_loaded and "site_l/hostname.pdf" not in keys_loaded
    assert not any(k.startswith("linked-dir/") for k in keys_loaded) and OUTSIDE not in bodies
