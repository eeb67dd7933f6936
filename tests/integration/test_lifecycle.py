"""The job lifecycle loses nothing and does nothing twice (issue "Job lifecycle that loses nothing and does
nothing twice").

Scenarios run the real sweep and worker handlers (Powertools batch processing and idempotency) on:
- a virtual-clock rig (``tests/lifecycle_rig.py``: SQLite job store, MemoryQueue with DLQ and redrive policy,
  a model with scripted trouble), so leases, backoffs and rescue horizons pass without waiting;
- moto's SQS (``mock_aws``) for what the DLQ tools and SQS itself must show (poison messages listed by
  ``SqsRedriver.list_messages`` and ``leadeval dlq list``, dead-lettered jobs redriven with
  ``SqsRedriver.redrive_jobs``), and ``botocore.stub.Stubber`` for SendMessageBatch answering ``Failed`` entries;
- real worker processes killed with SIGKILL (``tests/integration/worker_process.py``);
- concurrent sweeps on SQLite (two connections) and PostgreSQL (skipped when no server answers).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from typer.testing import CliRunner

from leadeval.adapters.jobstore.sqlite import SqliteJobStore
from leadeval.adapters.queue.sqs import SqsJobQueue
from leadeval.config import Settings
from leadeval.errors import StoreUnavailableError
from leadeval.handlers import handle_worker
from leadeval.jobs.process import ProcessContext, process_message
from leadeval.jobs.sweep import run_sweep
from leadeval.models import Job, JobMessage, JobState, JobStatus, Lead, LeadDocument, Usage
from leadeval.timeutil import format_ts, usage_month
from leadeval.wiring import Wiring
from leadeval_tools.appdb import create_application_tables
from leadeval_tools.cli import app
from leadeval_tools.local import FakeLambdaContext, invoke_worker, sqs_event
from leadeval_tools.redrive import SqsRedriver
from tests.helpers import NOW, create_postgres_database, drop_postgres_database
from tests.lifecycle_rig import PDF, REJECTED, SITE, THROTTLE, UNAVAILABLE, LifecycleRig, doc_id

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(name="rig")
def _rig(tmp_path: Path):
    rig = LifecycleRig(tmp_path, max_retries=3, real_prepare=True)
    yield rig
    rig.close()


def _status(rig: LifecycleRig, job_id: str) -> tuple[str, int, int]:
    job = rig.job(job_id)
    return str(job.state), job.attempts, job.generation


# =========================================================================== duplicate delivery


def test_duplicate_delivery_in_a_row_makes_one_ai_call_and_one_evaluation(rig: LifecycleRig) -> None:
    """The same job's message delivered twice in a row (a re-sweep copy, and SQS redelivering a message whose
    delete was lost): the first completes, every later copy is acked from the idempotency record."""
    rig.seed(["j1"])
    rig.sweep()
    assert rig.duplicate("j1")
    first = rig.work(1)
    second = rig.work(1)
    # SQS redelivers the first message itself (its delete was lost): same message id, new receipt handle.
    again = rig.queue.put(first.delivered[0].body)
    third = rig.work(1)

    assert (first.acked, second.acked, third.acked) == (["m1"], ["m2"], [again])
    assert _status(rig, "j1") == ("completed", 1, 1)
    assert rig.model.calls == Counter({"j1": 1})
    assert rig.evaluations_per_job() == Counter({"j1": 1})
    assert rig.queue.messages == {} and rig.queue.dlq == []


def test_duplicate_delivery_at_once_makes_one_ai_call_and_one_evaluation(rig: LifecycleRig) -> None:
    """Two invocations (two Lambda containers: their own connections) get the same message at the same time.
    The second finds the job generation in progress (Powertools idempotency) and reports the record for
    redelivery; when it comes back, the first's outcome is returned without touching the model."""
    rig.seed(["j1"])
    rig.sweep()
    [message] = rig.receive()
    event = rig.queue.sqs_event([message])
    inside, release = threading.Event(), threading.Event()

    def gate() -> None:
        inside.set()
        assert release.wait(10), "the second invocation never finished"

    rig.model.gate = gate
    twin = rig.twin()
    answers: dict[str, Any] = {}
    first = threading.Thread(target=lambda: answers.update(first=handle_worker(
        event, FakeLambdaContext(timeout_seconds=900), rig.services)))
    first.start()
    assert inside.wait(10), "the first invocation never reached the model"
    answers["second"] = handle_worker(event, FakeLambdaContext(timeout_seconds=900), twin)
    release.set()
    first.join(10)

    assert answers == {"first": {"batchItemFailures": []},
                       "second": {"batchItemFailures": [{"itemIdentifier": message.message_id}]}}
    rig.model.gate = None
    redelivered = handle_worker(event, FakeLambdaContext(timeout_seconds=900), twin)
    assert redelivered == {"batchItemFailures": []}
    assert _status(rig, "j1") == ("completed", 1, 1)
    assert rig.model.calls == Counter({"j1": 1})
    assert rig.evaluations_per_job() == Counter({"j1": 1})
    twin.close()


def test_duplicate_delivery_at_once_without_idempotency_records_the_database_guard_holds(rig: LifecycleRig) -> None:
    """Below Powertools: two workers run process_message for the same message concurrently, each on its own
    connection. The claim is one guarded statement: one holds the job, the other is told ``in_flight``."""
    rig.seed(["j1"])
    rig.sweep()
    [message] = rig.receive()
    job_message = JobMessage.model_validate_json(message.body)
    inside, release = threading.Event(), threading.Event()

    def gate() -> None:
        inside.set()
        assert release.wait(10)

    rig.model.gate = gate
    twin = rig.twin()
    outcomes: dict[str, Any] = {}
    first = threading.Thread(target=lambda: outcomes.update(first=process_message(
        rig.services.process_context(), job_message, now=rig.clock.now())))
    first.start()
    assert inside.wait(10)
    outcomes["second"] = process_message(twin.process_context(), job_message, now=rig.clock.now())
    release.set()
    first.join(10)

    assert (outcomes["first"].outcome, outcomes["second"].outcome, outcomes["second"].detail) == (
        "completed", "skipped", "in_flight")
    assert rig.model.calls == Counter({"j1": 1})
    assert rig.evaluations_per_job() == Counter({"j1": 1})
    twin.close()


def test_duplicate_of_a_dead_lettered_jobs_message_goes_to_the_dlq_and_restarts_nothing(tmp_path: Path) -> None:
    """A copy of a dead-lettered job's message sent before the dead-lettering (a duplicate) must not act as a
    redrive: it joins the DLQ, the job stays failed, the model is not called again."""
    rig = LifecycleRig(tmp_path, max_retries=1)
    rig.seed(["j1"])
    rig.model.broken.add(doc_id("j1"))
    rig.sweep()
    assert rig.duplicate("j1")
    rig.work(1)
    assert (rig.job("j1").status, rig.dlq_jobs()) == (JobStatus.FAILED, ["j1"])

    rig.clock.advance(1)
    copy = rig.work(1)

    assert copy.failures == set() and rig.dlq_jobs() == ["j1", "j1"]
    assert [m.attributes["leadeval_reason"] for m in rig.queue.dlq] == ["ModelUnavailable", "ModelUnavailable"]
    assert _status(rig, "j1") == ("dead_lettered", 1, 1) and rig.job("j1").dead_lettered_at is not None
    assert (rig.model.calls, rig.restarts) == (Counter({"j1": 1}), Counter())
    rig.close()


def test_a_failed_dlq_send_keeps_the_message_and_its_redelivery_dead_letters_it(tmp_path: Path) -> None:
    """The DLQ refuses the worker's send: the record is reported failed (the message is kept), and when it comes
    back it is moved to the DLQ then, without restarting the job (it predates the dead-lettering)."""
    rig = LifecycleRig(tmp_path, max_retries=1, visibility_timeout=60)
    rig.seed(["j1"])
    rig.model.broken.add(doc_id("j1"))
    rig.sweep()
    real_dead_letter = rig.queue.dead_letter
    rig.queue.dead_letter = _raising(StoreUnavailableError("SQS 500"))  # type: ignore[method-assign]
    refused = rig.work()
    assert refused.failures == {"m1"} and rig.queue.dlq == []
    assert _status(rig, "j1") == ("dead_lettered", 1, 1)

    rig.queue.dead_letter = real_dead_letter  # type: ignore[method-assign]
    rig.clock.advance(61)
    retried = rig.work()

    assert retried.acked == ["m1"] and rig.dlq_jobs() == ["j1"]
    assert rig.queue.messages == {}
    assert (rig.model.calls, rig.restarts) == (Counter({"j1": 1}), Counter())
    rig.close()


# =========================================================================== throttling, 5xx, DLQ, redrive


def test_throttling_for_a_while_snoozes_without_using_attempts(rig: LifecycleRig) -> None:
    """429 on the first five calls of each job (more than max_attempts = 3): every job snoozes (message delayed
    by retry_after, attempt given back) and completes on its own, having used one attempt, no retry."""
    ids = rig.seed(["j1", "j2", "j3"])
    for job_id in ids:
        rig.model.trouble[doc_id(job_id)] = [THROTTLE] * 5
    rig.sweep()
    for _ in range(5):
        result = rig.work()
        assert not result.failures  # a snooze re-sends the message with a delay and acks this copy
        assert {j.state for j in rig.jobs()} == {JobState.SNOOZED}
        assert {j.attempts for j in rig.jobs()} == {0}
        assert max(m.receive_count for m in rig.queue.messages.values()) == 0  # fresh copies, never received
        rig.clock.advance(rig.model.retry_after + 1)
    rig.work()

    assert [(j.id, str(j.status), j.attempts, j.retry_count) for j in rig.jobs()] == [
        ("j3", "completed", 1, 0), ("j2", "completed", 1, 0), ("j1", "completed", 1, 0)]
    assert rig.model.calls == Counter({"j1": 6, "j2": 6, "j3": 6})
    assert rig.model.answers == Counter({"j1": 1, "j2": 1, "j3": 1})
    assert rig.evaluations_per_job() == Counter({"j1": 1, "j2": 1, "j3": 1})
    assert rig.queue.dlq == []


def test_5xx_forever_dead_letters_exactly_those_jobs_then_a_redrive_completes_them_once(rig: LifecycleRig) -> None:
    """Two jobs whose model answers 5xx for ever end failed + dead-lettered after max_retries (3) attempts, and
    the DLQ holds exactly their messages; a healthy job beside them completes. With the provider healthy again,
    a redrive restarts both (attempts reset, same generation) and each completes with one more AI call."""
    rig.seed(["ok", "bad1", "bad2"])
    rig.model.broken |= {doc_id("bad1"), doc_id("bad2")}
    rounds = rig.drain(step_seconds=rig.settings.retry_cap_seconds + 1)

    assert rounds <= 5
    assert [(j.id, str(j.status), j.attempts, j.retry_count, j.error_code, j.dead_lettered_at is not None)
            for j in rig.jobs()] == [("bad2", "failed", 3, 3, "ModelUnavailable", True),
                                     ("bad1", "failed", 3, 3, "ModelUnavailable", True),
                                     ("ok", "completed", 1, 0, None, False)]
    assert sorted(rig.dlq_jobs()) == ["bad1", "bad2"]
    assert {m.attributes["leadeval_reason"] for m in rig.queue.dlq} == {"ModelUnavailable"}

    rig.model.broken.clear()
    rig.clock.advance(3600)
    assert rig.redrive() == 2
    rig.settle()

    assert [(j.id, str(j.status), j.attempts, j.generation) for j in rig.jobs()] == [
        ("bad2", "completed", 1, 1), ("bad1", "completed", 1, 1), ("ok", "completed", 1, 1)]
    assert rig.model.calls == Counter({"ok": 1, "bad1": 4, "bad2": 4})
    assert rig.model.answers == Counter({"ok": 1, "bad1": 1, "bad2": 1})
    assert rig.evaluations_per_job() == Counter({"ok": 1, "bad1": 1, "bad2": 1})
    assert (rig.queue.messages, rig.queue.dlq, rig.restarts) == ({}, [], Counter({"bad1": 1, "bad2": 1}))
    rig.redrive()  # nothing left to move: a second redrive is a no-op
    assert rig.settle() == 0


def test_a_redriven_job_that_needs_a_retry_keeps_its_message(rig: LifecycleRig) -> None:
    """After a redrive the job's message is the redriven one (its body carries the job's generation): a retryable
    error on the restarted run delays that message, which claims the job again and completes it — no rescue."""
    rig.seed(["j1"])
    rig.model.broken.add(doc_id("j1"))
    rig.drain(step_seconds=61)
    assert rig.job("j1").status == JobStatus.FAILED
    rig.model.broken.clear()
    rig.model.trouble[doc_id("j1")] = [UNAVAILABLE, THROTTLE]
    rig.clock.advance(600)
    rig.redrive()

    rig.work()  # restarted: 5xx -> retry
    assert _status(rig, "j1") == ("retrying", 1, 1) and len(rig.queue.messages) == 1
    rig.clock.advance(61)
    rig.work()  # 429 -> snooze
    assert _status(rig, "j1") == ("snoozed", 1, 1) and len(rig.queue.messages) == 1
    rig.clock.advance(31)
    rig.work()

    assert _status(rig, "j1") == ("completed", 2, 1)
    assert rig.sweep()["rescued_to_pending"] == 0
    assert (rig.model.answers, rig.evaluations_per_job()) == (Counter({"j1": 1}), Counter({"j1": 1}))


def test_a_job_dead_lettered_again_after_a_redrive_can_be_redriven_again(rig: LifecycleRig) -> None:
    """Redrive, fail again, redrive again: each redrive restarts the job (its DLQ message keeps the generation
    and no cached outcome blocks it), and the third run completes."""
    rig.seed(["j1"])
    rig.model.broken.add(doc_id("j1"))
    rig.drain(step_seconds=61)
    for _ in range(2):
        assert rig.dlq_jobs() == ["j1"]
        rig.clock.advance(600)
        rig.redrive()
        rig.drain(step_seconds=61)
        assert (rig.job("j1").status, rig.job("j1").dead_lettered_at is not None) == (JobStatus.FAILED, True)
    rig.model.broken.clear()
    rig.clock.advance(600)
    rig.redrive()
    rig.settle()

    assert _status(rig, "j1") == ("completed", 1, 1)
    assert (rig.restarts, rig.model.calls, rig.model.answers) == (Counter({"j1": 3}), Counter({"j1": 10}),
                                                                  Counter({"j1": 1}))
    assert rig.queue.dlq == [] and rig.evaluations_per_job() == Counter({"j1": 1})


@pytest.fixture(name="any_store", params=["sqlite", "d1", "postgres"])
def _any_store(request: pytest.FixtureRequest, tmp_path: Path):
    """A migrated job store of each backend (D1: the REST fake; PostgreSQL: skipped without a server)."""
    if request.param == "sqlite":
        store = SqliteJobStore(tmp_path / "jobs.db")
    elif request.param == "d1":
        import httpx

        from leadeval.adapters.jobstore.d1 import D1JobStore
        from leadeval_tools.fakes.d1 import FakeD1

        fake = FakeD1(tmp_path / "d1.db", account_id="acct", database_id="db", api_token="token")
        client = httpx.Client(transport=httpx.MockTransport(fake), base_url="https://d1.test/client/v4")
        store = D1JobStore(account_id="acct", database_id="db", api_token="token",
                           base_url="https://d1.test/client/v4", client=client)
    else:
        from leadeval.adapters.jobstore.postgres import PostgresJobStore

        store = PostgresJobStore(request.getfixturevalue("pg_dsn"))
    create_application_tables(store)
    store.migrate()
    yield store
    store.close()


def test_only_a_message_sent_after_the_dead_lettering_restarts_the_job(any_store: Any) -> None:
    """The claim's rule on every backend: for a failed, dead-lettered job, a copy of its message sent before the
    dead-lettering is told ``dead_lettered`` (nothing changes); one sent after it (a redrive) restarts the job
    with attempts 1 and the same generation; unknown send times keep the old rule (any copy restarts)."""
    store = any_store
    store.create_job(Job(id="j1", site_id=SITE, lead_id="lead_1", status=JobStatus.PENDING,
                         requested_at=NOW - timedelta(hours=1), max_retries=1))
    [job] = store.sweep(now=NOW, limit=10, lease_seconds=120, rescue_after_seconds=3600).claimed
    message = JobMessage.for_job(job)
    held = store.claim(message, now=NOW, lease_seconds=120, sent_at=NOW - timedelta(seconds=1)).job
    dead_at = NOW + timedelta(seconds=5)
    assert store.fail(held, now=dead_at, error_code="ModelUnavailable", error_message="503", dead_lettered=True)
    before = store.get_job("j1")

    older = store.claim(message, now=dead_at + timedelta(minutes=5), lease_seconds=120,
                        sent_at=NOW - timedelta(seconds=1))
    same_instant = store.claim(message, now=dead_at + timedelta(minutes=5), lease_seconds=120, sent_at=dead_at)

    assert (older.status, same_instant.status) == ("dead_lettered", "dead_lettered")
    assert store.get_job("j1") == before
    at = dead_at + timedelta(minutes=10)
    redriven = store.claim(message, now=at, lease_seconds=120, sent_at=dead_at + timedelta(milliseconds=1))
    assert (redriven.status, redriven.redriven) == ("claimed", True)
    assert (redriven.job.status, redriven.job.attempts, redriven.job.generation, redriven.job.dead_lettered_at) == (
        JobStatus.PROCESSING, 1, 1, None)
    assert store.fail(redriven.job, now=at, error_code="ModelUnavailable", error_message="503", dead_lettered=True)
    unknown = store.claim(message, now=at + timedelta(minutes=1), lease_seconds=120)
    assert (unknown.status, unknown.redriven, unknown.job.generation) == ("claimed", True, 1)


def test_a_message_moved_back_by_an_sqs_move_task_restarts_its_job(tmp_path: Path) -> None:
    """A message move task (``leadeval dlq redrive`` without --job, the console's DLQ redrive) moves the DLQ copy
    back with its message attributes. Its ``leadeval_dead_lettered_at`` stamp marks it as redriven even if its
    SentTimestamp were still the original one; the same body without the stamp is an older copy and goes back
    to the DLQ."""
    rig = LifecycleRig(tmp_path, max_retries=1)
    rig.seed(["j1"])
    rig.model.broken.add(doc_id("j1"))
    rig.sweep()
    [original] = rig.receive()
    rig.invoke([original])
    dead_at = rig.job("j1").dead_lettered_at
    assert dead_at == rig.clock.now() and rig.dlq_jobs() == ["j1"]
    rig.model.broken.clear()
    rig.clock.advance(600)
    event = rig.queue.sqs_event([original])  # SentTimestamp of the original send, before the dead-lettering

    copy = handle_worker(event, FakeLambdaContext(timeout_seconds=900), rig.services)
    assert copy == {"batchItemFailures": []}
    assert (rig.dlq_jobs(), rig.job("j1").status, rig.restarts) == (["j1", "j1"], JobStatus.FAILED, Counter())

    event["Records"][0]["messageAttributes"] = {
        "leadeval_reason": {"stringValue": "ModelUnavailable", "dataType": "String"},
        "leadeval_dead_lettered_at": {"stringValue": format_ts(dead_at + timedelta(milliseconds=40)),
                                      "dataType": "String"}}
    moved = handle_worker(event, FakeLambdaContext(timeout_seconds=900), rig.services)

    assert moved == {"batchItemFailures": []}
    assert (_status(rig, "j1"), rig.restarts) == (("completed", 1, 1), Counter({"j1": 1}))
    assert (rig.model.calls, rig.model.answers) == (Counter({"j1": 2}), Counter({"j1": 1}))
    rig.close()


def test_throttling_past_the_queues_max_receive_count_loses_nothing(tmp_path: Path) -> None:
    """Each snooze re-sends the message (DelaySeconds) and acks the received copy, so throttling for longer
    than maxReceiveCount receives never makes SQS move the message to the DLQ: the job waits in `queued`
    with no attempt used and completes once when the provider recovers, without a rescue."""
    rig = LifecycleRig(tmp_path, max_receive_count=4)
    rig.seed(["j1"])
    rig.model.trouble[doc_id("j1")] = [THROTTLE] * 6
    rig.sweep()
    for _ in range(6):
        rig.work()
        rig.clock.advance(rig.model.retry_after + 1)
        assert (rig.queue.dlq, rig.job("j1").state, rig.job("j1").attempts) == ([], JobState.SNOOZED, 0)

    rig.drain()

    assert _status(rig, "j1")[:2] == ("completed", 1)
    assert (rig.model.answers, rig.evaluations_per_job()) == (Counter({"j1": 1}), Counter({"j1": 1}))
    assert rig.model.calls == Counter({"j1": 7})
    assert rig.queue.dlq == []
    rig.close()


@pytest.mark.slow
def test_5xx_forever_on_moto_dead_letters_then_redrive_jobs_completes_them(moto_queues) -> None:
    """The same on SQS (moto): the worker moves exactly the exhausted jobs' messages to the DLQ (send, then
    ack); ``SqsRedriver.redrive_jobs`` moves them back (a new SentTimestamp) and each completes once."""
    sqs = moto_queues(max_attempts=2)
    sqs.seed(["ok", "bad1", "bad2"], requested_at=datetime.now(UTC) - timedelta(hours=1))
    sqs.model.broken |= {doc_id("bad1"), doc_id("bad2")}
    sqs.run_until_quiet()

    assert sqs.statuses() == {"ok": "completed", "bad1": "failed", "bad2": "failed"}
    listed = sqs.redriver().list_messages()
    assert sorted((e.job_id, e.reason, e.poison) for e in listed) == [
        ("bad1", "ModelUnavailable", False), ("bad2", "ModelUnavailable", False)]

    sqs.model.broken.clear()
    time.sleep(0.01)  # an operator redrives later than the dead-lettering (SentTimestamp is in ms)
    assert sqs.redriver().redrive_jobs({"bad1", "bad2"}) == 2
    sqs.run_until_quiet()

    assert sqs.statuses() == {"ok": "completed", "bad1": "completed", "bad2": "completed"}
    assert sqs.model.answers == Counter({"ok": 1, "bad1": 1, "bad2": 1})
    assert sqs.model.calls == Counter({"ok": 1, "bad1": 3, "bad2": 3})
    assert sqs.evaluations() == Counter({"ok": 1, "bad1": 1, "bad2": 1})
    assert sqs.depth(sqs.dlq_url) == 0 and sqs.depth(sqs.queue_url) == 0


# =========================================================================== poison messages


@pytest.mark.slow
def test_poison_messages_reach_the_dlq_intact_and_are_listed(tmp_path: Path, moto_queues,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch of two good jobs and three poison bodies (not JSON, no job id, an unknown job): the good jobs
    complete, the poison bodies reach the DLQ byte for byte (no retry, nothing reported failed), and both
    ``SqsRedriver.list_messages`` and ``leadeval dlq list`` show them."""
    poison = ["this is {not json", json.dumps({"site_id": SITE, "lead_id": "lead_x", "generation": 1}),
              json.dumps({"job_id": "job_nobody", "site_id": SITE, "lead_id": "lead_x", "generation": 1})]
    sqs = moto_queues()
    sqs.seed(["good1", "good2"], requested_at=datetime.now(UTC) - timedelta(hours=1))
    sqs.sweep()
    for body in poison:
        sqs.client.send_message(QueueUrl=sqs.queue_url, MessageBody=body)
    messages = sqs.receive(10)
    assert len(messages) == 5

    answer = sqs.invoke(messages)

    assert answer == {"batchItemFailures": []}
    assert sqs.statuses() == {"good1": "completed", "good2": "completed"}
    listed = sqs.redriver().list_messages()
    assert sorted((e.body, e.poison, e.reason, e.job_id) for e in listed) == sorted([
        (poison[0], True, "MalformedMessage", None), (poison[1], True, "MalformedMessage", None),
        (poison[2], False, "UnknownJob", "job_nobody")])
    assert sqs.depth(sqs.queue_url) == 0

    for key, value in {"LEADEVAL_DATABASE_URL": f"sqlite:///{tmp_path}/jobs.db",
                       "LEADEVAL_QUEUE_URL": sqs.queue_url, "LEADEVAL_DLQ_URL": sqs.dlq_url}.items():
        monkeypatch.setenv(key, value)
    shown = CliRunner().invoke(app, ["dlq", "list"])
    assert shown.exit_code == 0, shown.output
    assert "3 message(s)" in shown.output
    assert shown.output.count("MalformedMessage") == 2 and "UnknownJob" in shown.output
    assert "job_nobody" in shown.output and "this is {not json" in shown.output
    assert len(sqs.redriver().list_messages()) == 3  # listing deletes nothing


# =========================================================================== operator retry and cancel


def test_permanent_failure_then_jobs_retry_runs_the_job_again(rig: LifecycleRig,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A permanent model refusal fails the job (acked, cached). Once the cause is fixed, ``leadeval jobs retry``
    (CLI on the SQLite file) puts it back to pending under generation 2; the next sweep and worker really run it
    (the cached generation-1 outcome does not block it) and it completes."""
    rig.seed(["j1"])
    rig.model.trouble[doc_id("j1")] = [REJECTED]
    rig.sweep()
    rig.work()
    assert (rig.job("j1").status, rig.job("j1").error_code) == (JobStatus.FAILED, "ModelRejected")
    monkeypatch.setenv("LEADEVAL_DATABASE_URL", rig.settings.database_url)
    runner = CliRunner()

    retried = runner.invoke(app, ["jobs", "retry", "j1"])

    assert retried.exit_code == 0, retried.output
    assert "j1: pending again (generation 2)" in retried.output
    assert _status(rig, "j1") == ("pending", 0, 2)
    rig.sweep()
    rig.work()
    assert _status(rig, "j1") == ("completed", 1, 2)
    assert (rig.model.calls, rig.model.answers) == (Counter({"j1": 2}), Counter({"j1": 1}))
    assert rig.evaluations_per_job() == Counter({"j1": 1})
    refused = runner.invoke(app, ["jobs", "retry", "j1"])
    assert refused.exit_code == 1 and "only failed jobs" in refused.output


def test_cancel_of_a_queued_job_acks_its_in_flight_message_without_an_ai_call(
        rig: LifecycleRig, monkeypatch: pytest.MonkeyPatch) -> None:
    """``leadeval jobs cancel`` while the job's message is in flight: the worker acks it, never calls the
    model, and the job stays cancelled (a later sweep does not revive it)."""
    rig.seed(["j1", "j2"])
    rig.sweep()
    in_flight = rig.receive()
    monkeypatch.setenv("LEADEVAL_DATABASE_URL", rig.settings.database_url)

    cancelled = CliRunner().invoke(app, ["jobs", "cancel", "j1"])

    assert cancelled.exit_code == 0 and "j1: cancelled" in cancelled.output
    result = rig.invoke(in_flight)
    assert result.failures == set() and sorted(result.acked) == ["m1", "m2"]
    assert (rig.job("j1").state, rig.job("j2").state) == (JobState.CANCELLED, JobStatus.COMPLETED)
    assert rig.model.calls == Counter({"j2": 1})
    rig.clock.advance(7200)
    rig.sweep()
    assert rig.settle() == 0 and rig.job("j1").state == JobState.CANCELLED
    assert rig.evaluations_per_job() == Counter({"j2": 1})


# =========================================================================== sweep: rejected entries, rescue


def test_rejected_send_message_batch_entries_go_back_to_pending_through_sqs_job_queue(tmp_path: Path) -> None:
    """SendMessageBatch answers HTTP 200 with two ``Failed`` entries (SqsJobQueue over a stubbed client): those
    jobs are back in pending, the other ten are queued and were sent once; the next sweep sends just the two."""
    store = SqliteJobStore(tmp_path / "jobs.db")
    create_application_tables(store)
    store.migrate()
    for i in range(12):
        store.create_job(Job(id=f"job_{i:02d}", site_id=SITE, lead_id=f"lead_{i}", status=JobStatus.PENDING,
                             requested_at=NOW - timedelta(minutes=12 - i)))
    client = boto3.client("sqs", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/jobs"
    queue = SqsJobQueue(url, client=client)
    sent: list[str] = []
    with Stubber(client) as stub:
        stub.add_response("get_queue_attributes", {"Attributes": {"ApproximateNumberOfMessages": "0"}})
        stub.add_response("send_message_batch", {
            "Successful": [{"Id": str(i), "MessageId": f"mid-{i}", "MD5OfMessageBody": "x"}
                           for i in range(10) if i not in (3, 7)],
            "Failed": [{"Id": "3", "SenderFault": False, "Code": "InternalError"},
                       {"Id": "7", "SenderFault": True, "Code": "InvalidParameterValue"}]})
        stub.add_response("send_message_batch", {
            "Successful": [{"Id": "0", "MessageId": "mid-10", "MD5OfMessageBody": "x"},
                           {"Id": "1", "MessageId": "mid-11", "MD5OfMessageBody": "x"}], "Failed": []})
        result = run_sweep(store, _Recording(queue, sent), now=NOW, limit=1000, backlog_limit=2000,
                           lease_seconds=300, rescue_after_seconds=3600)
        stub.assert_no_pending_responses()

    assert (result.claimed, result.sent, result.released, result.sqs_calls) == (12, 10, 2, 2)
    assert sorted(j.id for j in store.list_jobs(state=JobState.PENDING)) == ["job_03", "job_07"]
    assert len(store.list_jobs(state=JobState.QUEUED)) == 10
    assert Counter(sent) == Counter({f"job_{i:02d}": 1 for i in range(12)})

    with Stubber(client) as stub:
        stub.add_response("get_queue_attributes", {"Attributes": {"ApproximateNumberOfMessages": "10"}})
        stub.add_response("send_message_batch", {
            "Successful": [{"Id": "0", "MessageId": "mid-12", "MD5OfMessageBody": "x"},
                           {"Id": "1", "MessageId": "mid-13", "MD5OfMessageBody": "x"}], "Failed": []})
        again = run_sweep(store, _Recording(queue, sent), now=NOW + timedelta(minutes=1), limit=1000,
                          backlog_limit=2000, lease_seconds=300, rescue_after_seconds=3600)
        stub.assert_no_pending_responses()

    assert (again.claimed, again.sent, again.released) == (2, 2, 0)
    assert len(store.list_jobs(state=JobState.QUEUED)) == 12
    assert Counter(sent) == Counter({**{f"job_{i:02d}": 1 for i in range(12)}, "job_03": 2, "job_07": 2})
    store.close()


def test_a_retried_sweep_changes_nothing_twice(rig: LifecycleRig) -> None:
    """EventBridge retries an invocation: the same sweep twice at the same instant claims, sends and rescues
    once. The second sweep finds nothing to do."""
    rig.seed(["j1", "j2", "j3"])
    rig.sweep()
    rig.crash(after_ai=False)  # j1 held by a worker that vanished
    rig.clock.advance(rig.settings.lease_seconds + rig.settings.rescue_after_seconds + 1)
    for m in rig.queue.messages.values():
        m.visible_at = float("inf")  # the messages were lost

    first, second = rig.sweep(), rig.sweep()

    assert (first["rescued_to_pending"], first["claimed"], first["sent"]) == (3, 3, 3)
    assert (second["rescued_to_pending"], second["rescued_to_failed"], second["claimed"], second["sent"]) == (
        0, 0, 0, 0)
    assert len(rig.queue.messages) == 6  # 3 lost + 3 new, one new message per job
    rig.queue.messages = {k: m for k, m in rig.queue.messages.items() if m.visible_at != float("inf")}
    rig.settle()
    assert {j.status for j in rig.jobs()} == {JobStatus.COMPLETED}
    assert rig.model.calls == Counter({"j1": 1, "j2": 1, "j3": 1})


def _stuck_and_pending(store: SqliteJobStore | Any, *, stuck: int, pending: int) -> None:
    """``stuck`` processing jobs whose lease expired a day before NOW, and ``pending`` due jobs."""
    for i in range(stuck + pending):
        store.create_job(Job(id=f"job_{i:02d}", site_id=SITE, lead_id=f"lead_{i}", status=JobStatus.PENDING,
                             requested_at=NOW - timedelta(days=2, minutes=-i)))
    old = NOW - timedelta(days=1)
    claimed = store.sweep(now=old - timedelta(seconds=300), limit=stuck, lease_seconds=300,
                          rescue_after_seconds=3600).claimed
    for job in claimed:
        assert store.claim(JobMessage.for_job(job), now=old - timedelta(seconds=200), lease_seconds=200).status \
            == "claimed"


def _concurrent_sweeps(stores: list[Any]) -> list[Any]:
    barrier = threading.Barrier(len(stores))
    results: list[Any] = [None] * len(stores)

    def run(i: int) -> None:
        barrier.wait(10)
        results[i] = stores[i].sweep(now=NOW, limit=1000, lease_seconds=300, rescue_after_seconds=3600)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def _assert_swept_once(results: list[Any], *, stuck: int, pending: int) -> None:
    claimed = [j.id for r in results for j in r.claimed]
    assert sorted(claimed) == [f"job_{i:02d}" for i in range(stuck + pending)]  # every job once, no job twice
    assert sum(r.rescued_to_pending for r in results) == stuck
    assert sum(r.rescued_to_failed for r in results) == 0


def test_two_sweeps_at_once_on_sqlite_claim_and_rescue_each_job_once(tmp_path: Path) -> None:
    """Two sweeps on two connections at the same instant: every stuck job is rescued once, every due job is
    claimed by exactly one of them (BEGIN IMMEDIATE serialises the two batches)."""
    first = SqliteJobStore(tmp_path / "jobs.db")
    create_application_tables(first)
    first.migrate()
    _stuck_and_pending(first, stuck=5, pending=20)
    second = SqliteJobStore(tmp_path / "jobs.db")

    results = _concurrent_sweeps([first, second])

    _assert_swept_once(results, stuck=5, pending=20)
    assert {j.state for j in first.list_jobs(limit=100)} == {JobState.QUEUED}
    first.close()
    second.close()


@pytest.fixture(name="pg_dsn")
def _pg_dsn():
    dsn = create_postgres_database("leadeval_lifecycle_")
    yield dsn
    drop_postgres_database(dsn)


def test_two_sweeps_at_once_on_postgresql_claim_and_rescue_each_job_once(pg_dsn: str) -> None:
    """The same on PostgreSQL, where the two sweeps really overlap (SKIP LOCKED claim, guarded rescue)."""
    from leadeval.adapters.jobstore.postgres import PostgresJobStore

    stores = [PostgresJobStore(pg_dsn) for _ in range(3)]
    create_application_tables(stores[0])
    stores[0].migrate()
    _stuck_and_pending(stores[0], stuck=5, pending=40)

    results = _concurrent_sweeps(stores)

    _assert_swept_once(results, stuck=5, pending=40)
    for store in stores:
        store.close()


@pytest.mark.parametrize("worker_commits", [True, False])
def test_rescue_never_overwrites_a_job_completed_meanwhile_on_postgresql(pg_dsn: str, worker_commits: bool) -> None:
    """River #1302: a worker long past its lease is completing the job (its transaction holds the row) while a
    sweep's rescue runs. The rescue waits for the row, re-checks its guard against the committed row and leaves
    the completed job alone; had the worker rolled back, the same rescue takes the job."""
    import psycopg

    from leadeval.adapters.jobstore.postgres import PostgresJobStore

    store = PostgresJobStore(pg_dsn)
    create_application_tables(store)
    store.migrate()
    _stuck_and_pending(store, stuck=1, pending=0)
    with psycopg.connect(pg_dsn) as worker:
        worker.execute("UPDATE ai_evaluation_jobs SET status = 'completed', leadeval_state = 'completed', "
                       "leadeval_lease_expires_at = NULL, completed_at = %s "
                       "WHERE id = 'job_00' AND status = 'processing'", (format_ts(NOW),))
        results: list[Any] = []
        sweeper = threading.Thread(target=lambda: results.append(
            PostgresJobStore(pg_dsn).sweep(now=NOW, limit=1000, lease_seconds=300, rescue_after_seconds=3600)))
        sweeper.start()
        with psycopg.connect(pg_dsn, autocommit=True) as watcher:
            for _ in range(500):  # until the sweep waits on the worker's row lock
                if watcher.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[0]:
                    break
                time.sleep(0.01)
            else:
                pytest.fail("the sweep never waited for the worker's row")
        if worker_commits:
            worker.commit()
        else:
            worker.rollback()
        sweeper.join(30)

    [outcome] = results
    job = store.get_job("job_00")
    if worker_commits:
        assert (outcome.rescued_to_pending, [j.id for j in outcome.claimed], job.status) == (
            0, [], JobStatus.COMPLETED)
    else:
        assert (outcome.rescued_to_pending, [j.id for j in outcome.claimed], job.state) == (
            1, ["job_00"], JobState.QUEUED)
    store.close()


def test_rescue_never_overwrites_a_job_completed_meanwhile_on_sqlite(rig: LifecycleRig) -> None:
    """The same race on SQLite, both orders: a worker that outlived its lease completes before the rescue (the
    rescue then leaves the job alone), or after it (its write is refused, and the job completes once through the
    message the sweep sent)."""
    rig.seed(["early", "late"])
    rig.sweep()
    holders = {}
    for m in rig.receive():
        message = JobMessage.model_validate_json(m.body)
        holders[message.job_id] = rig.store.claim(message, now=rig.clock.now(), lease_seconds=120).job
        m.visible_at = float("inf")  # both messages are lost; only the rescue can bring the jobs back
    rig.clock.advance(120 + 600 + 1)
    ctx = rig.services.process_context()

    early = ctx.store.complete(holders["early"], _evaluation(holders["early"]), now=rig.clock.now())
    swept = rig.sweep()
    late = ctx.store.complete(holders["late"], _evaluation(holders["late"]), now=rig.clock.now())

    assert (early, swept["rescued_to_pending"], swept["claimed"], late) == (True, 1, 1, False)
    rig.queue.messages = {k: m for k, m in rig.queue.messages.items() if m.visible_at != float("inf")}
    rig.settle()
    assert _status(rig, "early") == ("completed", 1, 1) and _status(rig, "late") == ("completed", 2, 1)
    assert rig.evaluations_per_job() == Counter({"early": 1, "late": 1})


# =========================================================================== SIGKILL


@pytest.mark.slow
@pytest.mark.parametrize(("crash_at", "mode", "calls_before", "calls_after"), [
    ("before_ai", "kill", 0, 1),       # killed before the AI call: one AI call in all
    ("before_write", "block", 1, 2),   # killed after the AI call, before the write: the call is repeated once
])
def test_a_worker_killed_with_sigkill_is_reclaimed_after_its_lease(tmp_path: Path, crash_at: str, mode: str,
                                                                     calls_before: int, calls_after: int) -> None:
    """A real worker process (the handler, Powertools idempotency on SQLite) is killed with SIGKILL. It leaves
    the job processing under a 2 s lease and an in-progress idempotency record that expires with the simulated
    2 s Lambda timeout; a message arriving meanwhile cannot claim the job. After both expired, the redelivered
    message reclaims the job and completes it once, with one evaluation row. The AI calls are reported by the
    file-backed model."""
    env = _seed_crash_job(tmp_path)
    event = tmp_path / "event.json"
    event.write_text(json.dumps(_event(env["message"])))
    calls = tmp_path / "calls.txt"

    crashed = _worker(tmp_path, event, WORKER_CRASH_AT=crash_at, WORKER_CRASH_MODE=mode)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    store = SqliteJobStore(tmp_path / "jobs.db")
    held = store.get_job("job_kill")
    assert (held.status, held.attempts, held.lease_expires_at - held.started_at) == (
        JobStatus.PROCESSING, 1, timedelta(seconds=2))
    assert _lines(calls) == calls_before
    locks = store.executor.execute_batch([_raw(
        "SELECT status, in_progress_expiration IS NOT NULL AS expires FROM leadeval_idempotency")])[0]
    assert locks == [{"status": "INPROGRESS", "expires": 1}]
    during_lease = store.claim(env["message"], now=held.started_at + timedelta(seconds=1), lease_seconds=2)
    assert during_lease.status == "in_flight"

    time.sleep(2.5)  # the 2 s lease and the 2 s in-progress record expire
    reclaimed = _worker(tmp_path, event)

    assert reclaimed.returncode == 0, reclaimed.stderr[-2000:]
    assert _answer(reclaimed) == {"batchItemFailures": []}
    done = store.get_job("job_kill")
    assert (done.status, done.attempts, done.generation) == (JobStatus.COMPLETED, 2, 1)
    assert _lines(calls) == calls_after
    rows = store.executor.execute_batch([_raw("SELECT count(*) AS n FROM lead_ai_evaluations")])[0]
    assert rows == [{"n": 1}]
    duplicate = _worker(tmp_path, event)  # and a later duplicate is answered from the idempotency record
    assert _answer(duplicate) == {"batchItemFailures": []} and _lines(calls) == calls_after
    store.close()


@pytest.mark.slow
def test_after_sigkill_the_in_progress_record_ends_with_the_lease_not_the_lambda_timeout(tmp_path: Path) -> None:
    """Issue 10: the in-progress idempotency record of a killed worker outlived the job's lease (it followed the
    Lambda's remaining time only), so the job waited for the Lambda timeout. Here the simulated Lambda has 60 s
    and the lease is 2 s: the record's expiry is bounded by the lease, and a redelivery 2.5 s after the claim
    completes the job (before the fix it was answered "in progress" for a minute)."""
    env = _seed_crash_job(tmp_path)
    event = tmp_path / "event.json"
    event.write_text(json.dumps(_event(env["message"])))
    crashed = _worker(tmp_path, event, WORKER_CRASH_AT="before_write", WORKER_CRASH_MODE="block",
                      WORKER_TIMEOUT_SECONDS="60")
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    store = SqliteJobStore(tmp_path / "jobs.db")
    held = store.get_job("job_kill")
    [lock] = store.executor.execute_batch([_raw("SELECT status, in_progress_expiration FROM leadeval_idempotency")])[0]
    lease_end_ms = held.lease_expires_at.timestamp() * 1000
    assert lock["status"] == "INPROGRESS" and lock["in_progress_expiration"] <= lease_end_ms + 1000

    time.sleep(max(0.0, (lease_end_ms - time.time() * 1000) / 1000) + 0.5)
    reclaimed = _worker(tmp_path, event, WORKER_TIMEOUT_SECONDS="60")
    assert _answer(reclaimed) == {"batchItemFailures": []}, reclaimed.stderr[-2000:]
    done = store.get_job("job_kill")
    assert (done.status, done.attempts) == (JobStatus.COMPLETED, 2)
    assert _lines(tmp_path / "calls.txt") == 2
    store.close()


@pytest.mark.slow
@pytest.mark.parametrize("crash_at", ["before_ai", "before_write"])
def test_a_worker_killed_while_holding_a_group_claim_costs_no_job_an_attempt(tmp_path: Path, crash_at: str) -> None:
    """Two jobs in one event are claimed together; the worker is killed (in the first job's model call, or
    when the grouped write is about to run). Which job killed it is not known, so neither is charged an attempt:
    after the lease, the redelivered event claims each alone (marked solo) and completes both, one evaluation
    each."""
    env = _seed_crash_job(tmp_path)
    store = SqliteJobStore(tmp_path / "jobs.db")
    store.create_lead(Lead(id="lead_two", site_id=SITE, first_name="Dana", last_name="Whitfield", monthly_rent=1850))
    store.add_document(LeadDocument(id="doc_two", lead_id="lead_two", site_id=SITE, document_type="pay_stub",
                                    file_name="stub.pdf", storage_key=f"{SITE}/stub.pdf",
                                    uploaded_at=datetime.now(UTC) - timedelta(hours=1)))
    store.create_job(Job(id="job_two", site_id=SITE, lead_id="lead_two", status=JobStatus.PENDING,
                         requested_at=datetime.now(UTC) - timedelta(hours=1)))
    [second] = store.sweep(now=datetime.now(UTC), limit=10, lease_seconds=120, rescue_after_seconds=3600).claimed
    event = tmp_path / "event.json"
    event.write_text(json.dumps(_event(env["message"], JobMessage.for_job(second))))

    # a 30 s Lambda: time enough to claim the records together (the in-progress records still end with the lease)
    crashed = _worker(tmp_path, event, WORKER_CRASH_AT=crash_at, WORKER_TIMEOUT_SECONDS="30")
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    held = [store.get_job(j) for j in ("job_kill", "job_two")]
    assert [(j.status, j.claims, j.retry_count) for j in held if j] == [(JobStatus.PROCESSING, 1, 0)] * 2

    time.sleep(2.5)  # the 2 s lease and the 2 s in-progress record expire
    reclaimed = _worker(tmp_path, event, WORKER_TIMEOUT_SECONDS="30")

    assert _answer(reclaimed) == {"batchItemFailures": []}, reclaimed.stderr[-2000:]
    rows = store.executor.execute_batch([_raw(
        "SELECT id, status, retry_count, leadeval_claims AS claims, leadeval_claim_group AS claim_group, "
        "leadeval_solo AS solo FROM ai_evaluation_jobs ORDER BY id")])[0]
    assert rows == [{"id": j, "status": "completed", "retry_count": 0, "claims": 2, "claim_group": 1, "solo": 1}
                    for j in ("job_kill", "job_two")]
    evaluations = store.executor.execute_batch([_raw("SELECT count(*) AS n FROM lead_ai_evaluations")])[0]
    assert evaluations == [{"n": 2}]
    store.close()


# =========================================================================== helpers


def _raising(error: Exception):
    def fail(*args: Any, **kwargs: Any) -> None:
        raise error

    return fail


def _evaluation(job: Job):
    from leadeval.models import Evaluation

    return Evaluation(id=f"ev_{job.id}", job_id=job.id, lead_id=job.lead_id, site_id=job.site_id, score=80,
                      label="B", recommendation="approve", summary="test")


class _Recording:
    """A JobQueue wrapper that records the job ids of every message offered to ``send``."""

    def __init__(self, queue: SqsJobQueue, sent: list[str]) -> None:
        self.queue, self.sent = queue, sent

    def send(self, messages):
        self.sent.extend(m.job_id for m in messages)
        return self.queue.send(messages)

    def depth(self) -> int:
        return self.queue.depth()


@pytest.fixture(name="moto_queues")
def _moto_queues(tmp_path: Path, aws_credentials: None):
    """A factory of :class:`_MotoQueues` inside ``mock_aws``; closes what it made."""
    made: list[_MotoQueues] = []
    with mock_aws():
        yield lambda **kwargs: made.append(_MotoQueues(tmp_path, **kwargs)) or made[-1]
        for queues in made:
            queues.rig.close()


class _MotoQueues:
    """Jobs queue + DLQ (redrive policy) on moto, the rig's model and SQLite store, and an ESM loop."""

    def __init__(self, root: Path, *, max_attempts: int = 3) -> None:
        self.client = boto3.client("sqs", region_name="us-east-1")
        self.dlq_url = self.client.create_queue(QueueName="jobs-dlq")["QueueUrl"]
        self.dlq_arn = self.client.get_queue_attributes(QueueUrl=self.dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        self.queue_url = self.client.create_queue(QueueName="jobs", Attributes={
            "VisibilityTimeout": "30", "RedrivePolicy": json.dumps({"deadLetterTargetArn": self.dlq_arn,
                                                                   "maxReceiveCount": "10"})})["QueueUrl"]
        self.queue_arn = self.client.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        self.rig = LifecycleRig(root, max_retries=max_attempts, retry_base_seconds=1, retry_cap_seconds=1)
        self.model = self.rig.model
        settings = Settings.from_env({"LEADEVAL_DATABASE_URL": self.rig.settings.database_url,
                                      "LEADEVAL_MAX_ATTEMPTS": str(max_attempts),
                                      "LEADEVAL_RETRY_BASE_SECONDS": "1", "LEADEVAL_RETRY_CAP_SECONDS": "1",
                                      "LEADEVAL_QUEUE_URL": self.queue_url, "LEADEVAL_DLQ_URL": self.dlq_url})
        self.services = Wiring(settings, store=self.rig.store, documents=self.rig.documents,
                                       model=self.model,
                                       queue=SqsJobQueue(self.queue_url, self.dlq_url, client=self.client))
        self.services.replace(process_context=ProcessContext(
            store=self.rig.store, documents=self.rig.documents, model=self.model,
            retry_policy=self.rig.services.process_context().retry_policy, prepare=None))

    def seed(self, ids: list[str], *, requested_at: datetime) -> None:
        self.rig.seed(ids, requested_at=requested_at)

    def sweep(self) -> None:
        run_sweep(self.rig.store, self.services.queue, now=datetime.now(UTC), limit=100, backlog_limit=1000,
                  lease_seconds=120, rescue_after_seconds=3600)

    def receive(self, n: int = 10) -> list[dict[str, Any]]:
        return self.client.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=n, AttributeNames=["All"],
                                           MessageAttributeNames=["All"]).get("Messages", [])

    def invoke(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        answer = invoke_worker(lambda event, context: handle_worker(event, context, self.services),
                               sqs_event(messages, self.queue_arn), FakeLambdaContext())
        failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
        for m in messages:
            if m["MessageId"] not in failed:
                self.client.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
        return answer

    def run_until_quiet(self, timeout: float = 30.0) -> None:
        """Sweep, then work until no job is active (waiting for backoffs of 1 s in wall time)."""
        deadline = time.monotonic() + timeout
        self.sweep()
        while any(j.state.active for j in self.rig.jobs()) or self.depth(self.queue_url):
            assert time.monotonic() < deadline, [(j.id, j.status) for j in self.rig.jobs()]
            messages = self.receive()
            if messages:
                self.invoke(messages)
            else:
                time.sleep(0.2)

    def statuses(self) -> dict[str, str]:
        return {j.id: str(j.status) for j in self.rig.jobs()}

    def evaluations(self) -> Counter[str]:
        return self.rig.evaluations_per_job()

    def depth(self, url: str) -> int:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attributes = self.client.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        return sum(int(attributes[n]) for n in names)

    def redriver(self) -> SqsRedriver:
        return SqsRedriver(self.dlq_url, self.dlq_arn, self.queue_url, client=self.client, wait_seconds=0)


def _seed_crash_job(root: Path) -> dict[str, Any]:
    """A queued job with one text-PDF document in a folder, for the worker processes."""
    store = SqliteJobStore(root / "jobs.db")
    create_application_tables(store)
    store.migrate()
    docs = root / "documents"
    (docs / SITE).mkdir(parents=True)
    (docs / SITE / "stub.pdf").write_bytes(PDF)
    requested = datetime.now(UTC) - timedelta(hours=1)
    store.add_usage(Usage(site_id=SITE, month=usage_month(requested), evaluation_count=1, quota_limit=100))
    store.create_lead(Lead(id="lead_kill", site_id=SITE, first_name="Dana", last_name="Whitfield",
                           monthly_rent=1850))
    store.add_document(LeadDocument(id="doc_kill", lead_id="lead_kill", site_id=SITE, document_type="pay_stub",
                                    file_name="stub.pdf", storage_key=f"{SITE}/stub.pdf", uploaded_at=requested))
    store.create_job(Job(id="job_kill", site_id=SITE, lead_id="lead_kill", status=JobStatus.PENDING,
                         requested_at=requested))
    [job] = store.sweep(now=datetime.now(UTC), limit=10, lease_seconds=120, rescue_after_seconds=3600).claimed
    store.close()
    return {"message": JobMessage.for_job(job)}


def _event(*messages: JobMessage) -> dict[str, Any]:
    sent = str(int(time.time() * 1000))
    return {"Records": [{
        "messageId": f"msg-{i}", "receiptHandle": f"rh-{i}", "body": message.model_dump_json(),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": sent, "SenderId": "TEST",
                       "ApproximateFirstReceiveTimestamp": sent},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:jobs", "awsRegion": "us-east-1"}
        for i, message in enumerate(messages, 1)]}


def _worker(root: Path, event: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run tests/integration/worker_process.py once; in ``block`` mode, SIGKILL it when it reports ready."""
    full_env = {**os.environ, "LEADEVAL_DATABASE_URL": f"sqlite:///{root}/jobs.db",
                "LEADEVAL_DOCUMENTS_URL": f"file://{root}/documents", "WORKER_CALLS_FILE": str(root / "calls.txt"),
                "WORKER_READY_FILE": str(root / "ready"), "WORKER_LEASE_SECONDS": "2",
                "WORKER_TIMEOUT_SECONDS": "2", "POWERTOOLS_METRICS_DISABLED": "true", **env}
    for name in ("WORKER_CRASH_AT", "WORKER_CRASH_MODE"):
        if name not in env:
            full_env.pop(name, None)
    script = REPO_ROOT / "tests" / "integration" / "worker_process.py"
    process = subprocess.Popen([sys.executable, str(script), str(event)], cwd=REPO_ROOT, env=full_env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if env.get("WORKER_CRASH_MODE") == "block":
        ready = root / "ready"
        for _ in range(3000):
            if ready.exists() or process.poll() is not None:
                break
            time.sleep(0.01)
        if ready.exists():
            process.send_signal(signal.SIGKILL)
            ready.unlink()
    out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def _answer(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    return json.loads(result.stdout.strip().splitlines()[-1])


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def _raw(sql: str):
    from leadeval.adapters.jobstore.sql import Statement

    return Statement("raw", sql, {})

