"""No failure of the worker is silent (issue 10).

Each path that reports a record in ``batchItemFailures`` is driven for real (a failing store, idempotency
store, queue, a corrupted database file, a poison value) and asserted on what an operator sees: exactly one
WARNING/ERROR line for the record, with ``job_id``, ``message_id``, ``error_code`` and ``error_class``, the
``InfrastructureErrors`` metric for store / idempotency / queue failures, and an invocation that fails
(``WorkerBatchFailed``: Lambda ``Errors``) when every record failed for such a reason.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from leadeval.adapters.idempotency import SqlitePersistenceLayer
from leadeval.config import Settings
from leadeval.errors import StorageError, StoreUnavailableError
from leadeval.handlers import INFRASTRUCTURE_METRIC, WorkerBatchFailed, handle_sweep, handle_worker
from leadeval.models import JobMessage, JobStatus
from leadeval.observability import logger as powertools_logger
from leadeval.observability import metrics
from leadeval.timeutil import utcnow
from leadeval.wiring import Wiring
from leadeval_tools.fakes.memory import MemoryDocumentStore, MemoryQueue, ScriptedVisionModel
from leadeval_tools.local import FakeLambdaContext
from tests.helpers import load_event, make_services, paystub_facts, seed_job, text_pdf

PDF = text_pdf(["ACME LOGISTICS - EARNINGS STATEMENT", "Employee: Dana Whitfield", "Gross pay 5,000.00"])
REPORTED = "message reported for redelivery"


class Captured:
    """Powertools JSON lines and metrics written while a test runs."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line.startswith("{")]

    def reported(self) -> list[dict[str, Any]]:
        """Lines of records reported for redelivery."""
        return [line for line in self.lines() if REPORTED in line.get("message", "")]

    def loud(self, message_id: str) -> list[dict[str, Any]]:
        """Every WARNING/ERROR line about one message."""
        return [line for line in self.lines()
                if line.get("message_id") == message_id and line["level"] in ("WARNING", "ERROR")]

    @staticmethod
    def metric(name: str) -> float:
        entry = metrics.metric_set.get(name)
        return sum(entry["Value"]) if entry else 0


@pytest.fixture(name="captured")
def _captured() -> Iterator[Captured]:
    stream = io.StringIO()
    package = logging.getLogger("leadeval")
    level = package.level
    package.setLevel(logging.INFO)
    previous = powertools_logger.registered_handler.setStream(stream)
    metrics.clear_metrics()
    try:
        yield Captured(stream)
    finally:
        powertools_logger.registered_handler.setStream(previous)
        package.setLevel(level)
        metrics.clear_metrics()


@pytest.fixture(name="env")
def _env(tmp_path: Path):
    queue = MemoryQueue()
    services = make_services(tmp_path, documents=MemoryDocumentStore(), queue=queue,
                             model=ScriptedVisionModel(default=paystub_facts()))
    yield services, queue
    services.close()


def _record(message_id: str, body: dict[str, Any] | str) -> dict[str, Any]:
    record = copy.deepcopy(load_event("worker_one_job.json")["Records"][0])
    record["messageId"] = message_id
    record["receiptHandle"] = f"rh-{message_id}"
    record["body"] = body if isinstance(body, str) else json.dumps(body)
    return record


def _job_body(job_id: str = "job_demo_001", lead_id: str = "lead_strong", generation: int = 1) -> dict[str, Any]:
    return {"job_id": job_id, "site_id": "site_sunrise", "lead_id": lead_id, "generation": generation}


def _assert_one_line(captured: Captured, message_id: str, *, job_id: str | None, level: str, reason: str,
                     error_code: str, error_class: str, component: str | None) -> dict[str, Any]:
    """The record has exactly one WARNING/ERROR line, and it is the report, with these fields."""
    [line] = captured.loud(message_id)
    assert REPORTED in line["message"]
    assert (line["level"], line["job_id"], line["message_id"], line["reason"], line["error_code"],
            line["error_class"], line.get("component")) == (level, job_id, message_id, reason, error_code,
                                                             error_class, component)
    return line


# ----------------------------------------------------------------------------- infrastructure failures


def test_a_claim_failing_with_store_unavailable_is_logged_counted_and_fails_the_invocation(env, captured) -> None:
    """The store refuses the claim (StoreUnavailableError): one ERROR line, InfrastructureErrors = 1, and since it
    was the batch's only record the invocation fails (Lambda Errors -> WorkerErrorsAlarm)."""
    services, _ = env
    seed_job(services, documents={"doc_1": PDF})

    def down(*args: Any, **kwargs: Any) -> None:
        raise StoreUnavailableError("D1 HTTP 503: D1 unavailable")

    services.store.claim = down  # type: ignore[method-assign]
    with pytest.raises(WorkerBatchFailed, match="all 1 records failed for an infrastructure reason: store 1"):
        handle_worker({"Records": [_record("m-1", _job_body())]}, FakeLambdaContext(), services)

    _assert_one_line(captured, "m-1", job_id="job_demo_001", level="ERROR", reason="infrastructure",
                     error_code="StoreUnavailable", error_class="StoreUnavailableError", component="store")
    assert captured.metric(INFRASTRUCTURE_METRIC) == 1
    [summary] = [line for line in captured.lines() if line["message"].startswith("Every record of the batch")]
    assert (summary["level"], summary["records"], summary["by_component"]) == ("ERROR", 1, {"store": 1})


def test_a_store_failure_in_one_record_of_two_is_a_partial_failure_not_an_invocation_error(env, captured) -> None:
    """Only the failing record is reported (with its line and metric); the other completes; no exception."""
    services, _ = env
    seed_job(services, documents={"doc_1": PDF})
    seed_job(services, job_id="job_down", lead_id="lead_down", documents={"doc_d": PDF})
    real_claim = services.store.claim

    def claim(message, **kwargs):
        if message.job_id == "job_down":
            raise StoreUnavailableError("SQLite SQLITE_BUSY in claim_job")
        return real_claim(message, **kwargs)

    services.store.claim = claim  # type: ignore[method-assign]
    event = {"Records": [_record("m-ok", _job_body()), _record("m-down", _job_body("job_down", "lead_down"))]}
    assert handle_worker(event, FakeLambdaContext(), services) == {"batchItemFailures": [{"itemIdentifier": "m-down"}]}
    assert services.store.get_job("job_demo_001").status == JobStatus.COMPLETED
    _assert_one_line(captured, "m-down", job_id="job_down", level="ERROR", reason="infrastructure",
                     error_code="StoreUnavailable", error_class="StoreUnavailableError", component="store")
    assert captured.loud("m-ok") == [] and captured.metric(INFRASTRUCTURE_METRIC) == 1


@pytest.mark.parametrize(("error", "reason", "code", "component"), [
    (StoreUnavailableError("PostgreSQL unavailable in complete_job: OperationalError"), "infrastructure",
     "StoreUnavailable", "store"),
    (RuntimeError("a bug"), "unexpected", "ProcessingError", "worker"),
])
def test_an_exception_inside_complete_is_reported_with_its_class(env, captured, error: Exception, reason: str,
                                                                 code: str, component: str) -> None:
    """complete() raises after the evaluation was computed: the record is reported with one ERROR line (a bug also
    says where it was raised, never its text) and counted; the job keeps its lease, so the redelivered message
    takes it back once the lease ends."""
    services, _ = env
    seed_job(services, documents={"doc_1": PDF})

    def complete(*args: Any, **kwargs: Any) -> bool:
        raise error

    services.store.complete = complete  # type: ignore[method-assign]
    with pytest.raises(WorkerBatchFailed):
        handle_worker({"Records": [_record("m-1", _job_body())]}, FakeLambdaContext(), services)
    line = _assert_one_line(captured, "m-1", job_id="job_demo_001", level="ERROR", reason=reason,
                            error_code=code, error_class=type(error).__name__, component=component)
    assert line["raised_at"].startswith("test_worker_failures.py:") and line["raised_at"].endswith("in complete")
    assert "a bug" not in json.dumps(captured.lines())
    assert captured.metric(INFRASTRUCTURE_METRIC) == 1
    job = services.store.get_job("job_demo_001")
    assert (job.status, job.attempts) == (JobStatus.PROCESSING, 1)


class _UnreachableIdempotency(SqlitePersistenceLayer):
    """An idempotency store whose every write fails as an unreachable database does."""

    def _put_record(self, data_record):
        raise sqlite3.OperationalError("unable to open database file")


def test_an_unreachable_idempotency_store_is_reported_and_counted(tmp_path: Path, captured) -> None:
    queue = MemoryQueue()
    services = make_services(tmp_path, documents=MemoryDocumentStore(), queue=queue,
                             model=ScriptedVisionModel(default=paystub_facts()),
                             idempotency_store=_UnreachableIdempotency(tmp_path / "idem.db"))
    seed_job(services, documents={"doc_1": PDF})
    with pytest.raises(WorkerBatchFailed, match="idempotency 1"):
        handle_worker({"Records": [_record("m-1", _job_body())]}, FakeLambdaContext(), services)
    line = _assert_one_line(captured, "m-1", job_id="job_demo_001", level="ERROR", reason="infrastructure",
                            error_code="IdempotencyUnavailable", error_class="IdempotencyPersistenceLayerError",
                            component="idempotency")
    assert line["cause_class"] == "OperationalError"
    assert captured.metric(INFRASTRUCTURE_METRIC) == 1
    assert services.store.get_job("job_demo_001").attempts == 0  # nothing was claimed
    services.close()


@pytest.mark.parametrize("separate_idempotency", [False, True])
def test_a_corrupted_database_file_is_reported_and_counted(tmp_path: Path, captured,
                                                           separate_idempotency: bool) -> None:
    """The SQLite file is overwritten with garbage. With the idempotency records in the same file, the
    idempotency store fails first; with them elsewhere, the claim does (SQLITE_NOTADB -> StoreUnavailable)."""
    path = tmp_path / "jobs.db"
    path.write_bytes(b"\x00garbage, not an SQLite file\x00" * 512)
    overrides: dict[str, Any] = {}
    if separate_idempotency:
        overrides["idempotency_store"] = SqlitePersistenceLayer(tmp_path / "idem.db")
    services = Wiring(Settings.from_env({"LEADEVAL_DATABASE_URL": f"sqlite:///{path}"}),
                              documents=MemoryDocumentStore(), queue=MemoryQueue(),
                              model=ScriptedVisionModel(default=paystub_facts()), **overrides)
    with pytest.raises(WorkerBatchFailed):
        handle_worker({"Records": [_record("m-1", _job_body())]}, FakeLambdaContext(), services)
    if separate_idempotency:
        line = _assert_one_line(captured, "m-1", job_id="job_demo_001", level="ERROR", reason="infrastructure",
                                error_code="StoreUnavailable", error_class="StoreUnavailableError",
                                component="store")
        assert line["cause_class"] == "DatabaseError"
    else:
        _assert_one_line(captured, "m-1", job_id="job_demo_001", level="ERROR", reason="infrastructure",
                         error_code="IdempotencyUnavailable", error_class="IdempotencyPersistenceLayerError",
                         component="idempotency")
    assert captured.metric(INFRASTRUCTURE_METRIC) == 1
    services.close()


def test_a_dlq_that_refuses_a_poison_message_is_reported_and_counted(env, captured) -> None:
    """A malformed body whose DLQ send fails: the message is kept (reported), one ERROR line names the queue
    operation, and the metric counts it; the body has no job id, so the line has none (message_id only)."""
    services, queue = env

    def refuse(body: str, *, reason: str) -> None:
        raise StoreUnavailableError("SQS call failed (InternalError)")

    queue.dead_letter = refuse  # type: ignore[method-assign]
    with pytest.raises(WorkerBatchFailed, match="queue 1"):
        handle_worker({"Records": [_record("m-bad", "not json")]}, FakeLambdaContext(), services)
    reported = [line for line in captured.loud("m-bad") if REPORTED in line["message"]]
    assert len(reported) == 1
    line = reported[0]
    assert (line["level"], line.get("job_id"), line["reason"], line["error_code"], line["error_class"],
            line["component"], line["operation"]) == ("ERROR", None, "infrastructure", "StoreUnavailable",
                                                      "StoreUnavailableError", "queue", "dead_letter")
    assert captured.metric(INFRASTRUCTURE_METRIC) == 1


# ----------------------------------------------------------------------------- job-level reports


def test_a_retry_is_reported_with_one_warning_and_no_infrastructure_metric(env, captured) -> None:
    services, _ = env
    seed_job(services, documents={"doc_1": PDF})
    services.documents.fail("site_sunrise/lead_strong/doc_1.pdf", StorageError("R2 503"))
    result = handle_worker({"Records": [_record("m-1", _job_body())]}, FakeLambdaContext(), services)
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    line = _assert_one_line(captured, "m-1", job_id="job_demo_001", level="WARNING", reason="retry",
                            error_code="StorageError", error_class="StorageError", component=None)
    assert line["delay_seconds"] > 0
    assert captured.metric(INFRASTRUCTURE_METRIC) == 0


def test_a_record_left_for_lack_of_time_is_reported_with_one_warning(env, captured) -> None:
    services, _ = env
    seed_job(services, documents={"doc_1": PDF})
    result = handle_worker({"Records": [_record("m-1", _job_body())]}, FakeLambdaContext(timeout_seconds=5),
                           services)
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    line = _assert_one_line(captured, "m-1", job_id="job_demo_001", level="WARNING", reason="deadline",
                            error_code="DeadlineNear", error_class="RedeliverLater", component=None)
    assert 0 < line["remaining_ms"] <= 5000


def test_a_duplicate_in_progress_elsewhere_is_reported_with_one_warning(env, captured) -> None:
    services, _ = env
    seed_job(services, documents={"doc_1": PDF})
    model = services.model
    event = {"Records": [_record("m-1", _job_body())]}
    inner: dict[str, Any] = {}

    def extract(document):  # while the first invocation works, the same message arrives again
        if not inner:
            inner["answer"] = handle_worker({"Records": [_record("m-dup", _job_body())]}, FakeLambdaContext(),
                                            services)
        return ScriptedVisionModel.extract(model, document)

    model.extract = extract  # type: ignore[method-assign]
    assert handle_worker(event, FakeLambdaContext(), services) == {"batchItemFailures": []}
    assert inner["answer"] == {"batchItemFailures": [{"itemIdentifier": "m-dup"}]}
    _assert_one_line(captured, "m-dup", job_id="job_demo_001", level="WARNING", reason="in_progress",
                     error_code="InProgress", error_class="IdempotencyAlreadyInProgressError", component=None)


# ----------------------------------------------------------------------------- poison values


def test_a_generation_sqlite_cannot_bind_goes_to_the_dlq_and_the_valid_record_completes(env, captured) -> None:
    """The issue's batch: generation 99999999999999999999 beside a valid record. The poison is refused before
    any SQL and dead-lettered intact; the valid job completes; the next invocation works (no transaction left
    open, no 'database is locked')."""
    services, queue = env
    seed_job(services, documents={"doc_1": PDF})
    seed_job(services, job_id="job_next", lead_id="lead_next", documents={"doc_n": PDF})
    poison = '{"job_id":"job_demo_001","site_id":"site_sunrise","lead_id":"lead_strong","generation":' \
             '99999999999999999999}'
    event = {"Records": [_record("m-poison", poison), _record("m-ok", _job_body())]}
    assert handle_worker(event, FakeLambdaContext(), services) == {"batchItemFailures": []}
    assert [m.body for m in queue.dlq] == [poison]
    assert queue.dlq[0].attributes["leadeval_reason"] == "MalformedMessage"
    assert services.store.get_job("job_demo_001").status == JobStatus.COMPLETED
    assert handle_worker({"Records": [_record("m-next", _job_body("job_next", "lead_next"))]}, FakeLambdaContext(),
                         services) == {"batchItemFailures": []}
    assert services.store.get_job("job_next").status == JobStatus.COMPLETED
    assert captured.metric("PoisonMessages") == 1


@pytest.mark.parametrize("body", [
    {"job_id": "job 1; DROP TABLE x", "site_id": "s", "lead_id": "l", "generation": 1},
    {"job_id": "j" * 65, "site_id": "s", "lead_id": "l", "generation": 1},
    {"job_id": "job_1", "site_id": "s", "lead_id": "l", "generation": "1"},
    {"job_id": "job_1", "site_id": "s", "lead_id": "l", "generation": 2**31},
    {"job_id": "job_1", "site_id": "s", "lead_id": "l", "generation": 0},
])
def test_poison_values_are_refused_before_any_sql(env, captured, body: dict[str, Any]) -> None:
    services, queue = env
    calls: list[Any] = []
    real = services.store.executor.execute_batch
    services.store.executor.execute_batch = lambda statements: calls.append(statements) or real(statements)
    assert handle_worker({"Records": [_record("m-1", body)]}, FakeLambdaContext(), services) == {
        "batchItemFailures": []}
    assert [m.body for m in queue.dlq] == [json.dumps(body)] and calls == []


# ----------------------------------------------------------------------------- idempotency caches final outcomes


def test_a_skip_for_a_generation_ahead_is_not_cached_so_the_retried_job_runs(env, captured) -> None:
    """A message for generation 2 arrives while the failed job is at generation 1: acked without work and NOT
    cached. After `jobs retry` (generation 2), the real generation-2 message runs the job."""
    services, _ = env
    seed_job(services, documents={"doc_1": PDF})
    job = services.store.claim(JobMessage(**_job_body()), now=utcnow(), lease_seconds=300).job
    assert services.store.fail(job, now=utcnow(), error_code="QuotaExceeded", error_message="quota")
    ahead = {"Records": [_record("m-ahead", _job_body(generation=2))]}
    assert handle_worker(ahead, FakeLambdaContext(), services) == {"batchItemFailures": []}
    [skip] = [line for line in captured.lines() if "ahead_generation" in line["message"]]
    assert (skip["level"], skip["generation"], skip["job_generation"]) == ("WARNING", 2, 1)

    assert services.store.requeue("job_demo_001", now=utcnow())
    real = {"Records": [_record("m-real", _job_body(generation=2))]}
    assert handle_worker(real, FakeLambdaContext(), services) == {"batchItemFailures": []}
    done = services.store.get_job("job_demo_001")
    assert (done.status, done.generation) == (JobStatus.COMPLETED, 2)


# ----------------------------------------------------------------------------- the sweep


def test_a_sweep_failure_is_one_structured_json_line_then_the_invocation_fails(env, captured) -> None:
    services, _ = env

    def down(**kwargs: Any) -> None:
        raise StoreUnavailableError("D1 HTTP 503: D1 unavailable")

    services.store.sweep = down  # type: ignore[method-assign]
    with pytest.raises(StoreUnavailableError):
        handle_sweep({"execution_id": "exec-1"}, None, services)
    [line] = [line for line in captured.lines() if line["level"] == "ERROR"]
    assert (line["message"], line["error_code"], line["error_class"], line["correlation_id"]) == (
        "Sweep failed: nothing was claimed or rescued", "StoreUnavailable", "StoreUnavailableError", "exec-1")
    assert line["raised_at"].endswith("in down") and "exception" not in line
    assert captured.stream.getvalue().count("Traceback") == 0
