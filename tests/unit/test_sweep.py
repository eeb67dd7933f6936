"""Sweep service and handler: claim, fan-out in batches of 10, rejected entries released, backpressure."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from leadeval.handlers import handle_sweep
from leadeval.jobs.sweep import run_sweep
from leadeval.models import Job, JobMessage, JobState, JobStatus
from leadeval_tools.fakes.memory import MemoryQueue
from leadeval_tools.local import FakeLambdaContext
from tests.helpers import NOW, load_event, make_services


@pytest.fixture(name="services")
def _services(tmp_path: Path):
    queue = MemoryQueue()
    services = make_services(tmp_path, queue=queue)
    yield services
    services.close()


def _pending(services, n: int, *, start: int = 0) -> list[str]:
    ids = []
    for i in range(start, start + n):
        job_id = f"job_{i:03d}"
        services.store.create_job(Job(id=job_id, site_id="site_a", lead_id=f"lead_{i}", status=JobStatus.PENDING,
                                      requested_at=NOW - timedelta(minutes=n - i)))
        ids.append(job_id)
    return ids


def test_sweep_claims_and_sends_in_batches_of_ten(services) -> None:
    ids = _pending(services, 25)
    result = run_sweep(services.store, services.queue, now=NOW, limit=1000, backlog_limit=2000,
                       lease_seconds=300, rescue_after_seconds=3600)
    assert (result.claimed, result.sent, result.sqs_calls, result.released) == (25, 25, 3, 0)
    bodies = sorted(JobMessage.model_validate_json(m.body).job_id for m in services.queue.messages.values())
    assert bodies == ids
    assert {j.state for j in services.store.list_jobs(limit=100)} == {JobState.QUEUED}
    again = run_sweep(services.store, services.queue, now=NOW, limit=1000, backlog_limit=2000,
                      lease_seconds=300, rescue_after_seconds=3600)
    assert (again.claimed, again.sqs_calls) == (0, 0)


def test_rejected_entries_go_back_to_pending_and_others_are_queued_once(services) -> None:
    _pending(services, 12)
    services.queue.reject = {"job_003", "job_011"}
    result = run_sweep(services.store, services.queue, now=NOW, limit=1000, backlog_limit=2000,
                       lease_seconds=300, rescue_after_seconds=3600)
    assert (result.claimed, result.sent, result.released) == (12, 10, 2)
    assert {j.id for j in services.store.list_jobs(state=JobState.PENDING)} == {"job_003", "job_011"}
    assert len(services.store.list_jobs(state=JobState.QUEUED)) == 10
    assert len(services.queue.messages) == 10
    services.queue.reject = set()
    retry = run_sweep(services.store, services.queue, now=NOW, limit=1000, backlog_limit=2000,
                      lease_seconds=300, rescue_after_seconds=3600)
    assert (retry.claimed, retry.sent) == (2, 2)
    assert len(services.queue.messages) == 12


def test_backpressure_limits_the_claim(services) -> None:
    _pending(services, 30)
    for _ in range(15):
        services.queue.put("{}")
    result = run_sweep(services.store, services.queue, now=NOW, limit=1000, backlog_limit=20,
                       lease_seconds=300, rescue_after_seconds=3600)
    assert (result.backlog, result.claim_limit, result.claimed) == (15, 5, 5)
    full = run_sweep(services.store, services.queue, now=NOW, limit=1000, backlog_limit=20,
                     lease_seconds=300, rescue_after_seconds=3600)
    assert (full.claim_limit, full.claimed, full.sqs_calls) == (0, 0, 0)


def test_sweep_limit_is_respected_oldest_first(services) -> None:
    ids = _pending(services, 7)
    result = run_sweep(services.store, services.queue, now=NOW, limit=3, backlog_limit=2000,
                       lease_seconds=300, rescue_after_seconds=3600)
    assert result.claimed == 3
    assert {j.id for j in services.store.list_jobs(state=JobState.QUEUED)} == set(ids[:3])


def test_sweep_handler_with_scheduled_event(services) -> None:
    """events/sweep_scheduled.json through the handler wiring returns the counts."""
    _pending(services, 4)
    result = handle_sweep(load_event("sweep_scheduled.json"), FakeLambdaContext(), services)
    assert result["claimed"] == 4 and result["sent"] == 4 and result["sqs_calls"] == 1
    assert set(result) == {"claimed", "admitted", "rejected", "sent", "released", "rescued_to_pending",
                           "rescued_to_failed", "backlog", "claim_limit", "sqs_calls"}
    assert (result["admitted"], result["rejected"]) == (4, 0)


def test_a_job_no_message_can_carry_never_blocks_the_others(services) -> None:
    """A row with an empty site id (written by the application) fails alone (InvalidJobRow); the other jobs
    are sent."""
    _pending(services, 3)
    services.store.create_job(Job(id="job_bad", site_id="", lead_id="lead_x", status=JobStatus.PENDING,
                                  requested_at=NOW - timedelta(hours=1)))
    result = run_sweep(services.store, services.queue, now=NOW, limit=1000, backlog_limit=2000,
                       lease_seconds=300, rescue_after_seconds=3600)
    assert (result.claimed, result.sent, result.released, result.rejected) == (4, 3, 0, 1)
    bad = services.store.get_job("job_bad")
    assert (bad.status, bad.error_code) == (JobStatus.FAILED, "InvalidJobRow")
    again = run_sweep(services.store, services.queue, now=NOW, limit=1000, backlog_limit=2000,
                      lease_seconds=300, rescue_after_seconds=3600)
    assert (again.claimed, again.rejected) == (0, 0)
    assert {j.state for j in services.store.list_jobs(limit=10) if j.id != "job_bad"} == {JobState.QUEUED}
