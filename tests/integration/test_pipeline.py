"""sweep -> SQS (moto server) -> worker -> SQLite, with the real handlers, on the project's sample data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from leadeval.models import JobStatus
from leadeval_tools.appdb import create_application_tables
from leadeval_tools.cli import _load_sample
from leadeval_tools.local import LocalRuntime
from leadeval_tools.samples import build_sample_set
from tests.helpers import NOW

pytestmark = pytest.mark.slow


@pytest.fixture(name="runtime")
def _runtime(tmp_path: Path, aws_credentials: None):
    env = {"LEADEVAL_DATABASE_URL": f"sqlite:///{tmp_path}/leadeval.db", "POWERTOOLS_METRICS_DISABLED": "true",
           "LEADEVAL_RETRY_BASE_SECONDS": "1", "LEADEVAL_RETRY_CAP_SECONDS": "2"}
    saved = dict(os.environ)
    runtime = LocalRuntime(env)
    runtime.start()
    yield runtime
    runtime.stop()
    os.environ.clear()
    os.environ.update(saved)


def test_sample_jobs_end_as_expected(runtime: LocalRuntime) -> None:
    """Every sample job ends in the state its sample says; one evaluation per completed job; DLQ empty."""
    services = runtime.services
    sample = build_sample_set(today=NOW.date())
    create_application_tables(services.store)
    services.store.migrate()
    _load_sample(services, sample)

    runtime.run_until_idle(timeout_seconds=120)

    for job in sample.jobs:
        row = services.store.get_job(job.id)
        expected = job.expect if hasattr(job, "expect") and job.expect else next(
            lead.expect for lead in sample.leads if lead.id == job.lead_id)
        status, _, rest = expected.partition(" ")
        assert str(row.status) == status.rstrip(","), (job.id, row.status, row.error_code, expected)
        if row.status == JobStatus.FAILED:
            assert row.error_code == rest.split(":")[0], (job.id, row.error_code, expected)
            assert row.error_message
        else:
            evaluation = services.store.get_evaluation(job.id)
            assert evaluation is not None and row.evaluation_id == evaluation.id
            assert evaluation.reasons, job.id
    dlq = runtime.sqs.get_queue_attributes(QueueUrl=runtime.dlq_url, AttributeNames=["All"])["Attributes"]
    assert dlq["ApproximateNumberOfMessages"] == "0"
    assert runtime.invocations["sweep"] >= 1 and runtime.invocations["worker"] >= 1


def test_transient_storage_failure_is_retried_through_sqs(runtime: LocalRuntime) -> None:
    """A document fetch failing once (R2 503) makes the record fail; SQS redelivers it after the backoff
    (ChangeMessageVisibility) and the job completes on attempt 2."""
    from leadeval.errors import StorageError

    services = runtime.services
    sample = build_sample_set(today=NOW.date())
    create_application_tables(services.store)
    services.store.migrate()
    _load_sample(services, sample)
    target = next(j for j in sample.jobs if j.id == "job_sunrise_strong")
    doc = next(d for d in sample.documents if d.lead_id == target.lead_id)
    real_get = services.documents.get
    failed = []

    def flaky_get(key: str, *, max_bytes: int) -> bytes:
        if key == doc.storage_key and not failed:
            failed.append(key)
            raise StorageError("R2 503 SlowDown-like failure")
        return real_get(key, max_bytes=max_bytes)

    services.documents.get = flaky_get  # type: ignore[method-assign]
    runtime.run_until_idle(timeout_seconds=120)
    row = services.store.get_job(target.id)
    assert failed == [doc.storage_key]
    assert (row.status, row.attempts, row.retry_count) == (JobStatus.COMPLETED, 2, 1)
