"""A worker invocation claims its records' jobs in one request and writes their outcomes in one (issue 14,
item 1: D1 requests per job).

Each test drives the real ``handle_worker`` on a batch of records over SQLite and reads what the store ran
(the first statement of each batch names it) and the jobs' rows: two requests for a batch, the same outcomes,
claim numbers and attempt counts as records claiming for themselves, a job claimed with the group whose
record then does not run handed back with nothing counted, and a grouped write the store refuses written job
by job (so only what must fail fails).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from leadeval.adapters.jobstore.sql import Statement
from leadeval.errors import ProcessingError, StoreUnavailableError
from leadeval.handlers import WorkerBatchFailed, handle_worker
from leadeval.wiring import Wiring
from leadeval_tools.fakes.memory import MemoryDocumentStore, MemoryQueue, ScriptedVisionModel
from leadeval_tools.local import FakeLambdaContext
from tests.helpers import load_event, make_services, paystub_facts, raw_rows, seed_job, text_pdf

PDF = text_pdf(["ACME LOGISTICS - EARNINGS STATEMENT", "Employee: Dana Whitfield", "Gross pay 5,000.00"])


@dataclass
class SteeredContext(FakeLambdaContext):
    """A Lambda context whose remaining time the test sets (ms)."""

    remaining_ms: int = 600_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture(name="services")
def _services(tmp_path: Path) -> Any:
    services = make_services(tmp_path, documents=MemoryDocumentStore(), queue=MemoryQueue(),
                             model=ScriptedVisionModel(default=paystub_facts()))
    yield services
    services.close()


def _batches(services: Wiring) -> list[list[str]]:
    """Statement names of every batch the store runs from now on."""
    seen: list[list[str]] = []
    executor = services.store.executor  # type: ignore[attr-defined]
    real = executor.execute_batch

    def spy(statements: Sequence[Statement]) -> list[list[dict[str, Any]]]:
        seen.append([s.name for s in statements])
        return real(statements)

    executor.execute_batch = spy
    return seen


def _record(n: int, job_id: str, lead_id: str) -> dict[str, Any]:
    record = copy.deepcopy(load_event("worker_one_job.json")["Records"][0])
    record.update(messageId=f"m-{n}", receiptHandle=f"rh-{n}", body=json.dumps(
        {"job_id": job_id, "site_id": "site_sunrise", "lead_id": lead_id, "generation": 1}))
    return record


def _row(services: Wiring, job_id: str) -> tuple[str, str, int, int]:
    job = services.store.get_job(job_id)
    assert job is not None
    return str(job.status), str(job.state), job.retry_count, job.claims


def _seed(services: Wiring, n: int) -> list[dict[str, Any]]:
    records = []
    for i in range(1, n + 1):
        seed_job(services, job_id=f"job_{i}", lead_id=f"lead_{i}", documents={f"doc_{i}": PDF})
        records.append(_record(i, f"job_{i}", f"lead_{i}"))
    return records


GROUP_CLAIM = ["reject_job", "admit_job", "claim_job_in_group", "get_job", "job_lead", "job_documents", "job_usage",
               "job_policy"]


def _group(services: Wiring, job_id: str) -> tuple[int, int]:
    """The job's (leadeval_claim_group, leadeval_solo)."""
    [row] = raw_rows(services.store, "SELECT leadeval_claim_group AS g, leadeval_solo AS s FROM ai_evaluation_jobs "
                                     "WHERE id = :id", id=job_id)
    return int(row["g"]), int(row["s"])


def test_a_batch_is_claimed_in_one_request_and_written_in_one(services: Wiring) -> None:
    records = _seed(services, 3)
    batches = _batches(services)
    assert handle_worker({"Records": records}, FakeLambdaContext(), services) == {"batchItemFailures": []}
    # 2 requests for 3 jobs (4 when each write carried the next claim, 9 with a claim and a lookup per job)
    assert [b[0] for b in batches] == ["reject_job", "insert_evaluation_details"]
    assert batches[0] == GROUP_CLAIM * 3
    assert batches[1].count("complete_job") == 3 and batches[1].count("prior_submissions") == 3
    for i in (1, 2, 3):  # each claimed once, no attempt counted, as when each record claims for itself
        assert _row(services, f"job_{i}") == ("completed", "completed", 0, 1)
        assert _group(services, f"job_{i}") == (3, 0)
        assert services.store.get_evaluation(f"job_{i}") is not None


def test_a_document_already_submitted_under_another_name_is_scored_again_with_the_reuse_signal(
        services: Wiring) -> None:
    """The grouped write assumes no reuse; the same file came with two other applicants in the same batch, so
    their parts of it hold nothing (the first job's part holds) and bring that submission back; both are scored
    again with document_reused and written together: one request more for the batch."""
    seed_job(services, job_id="job_1", lead_id="lead_1", documents={"doc_1": PDF})
    seed_job(services, job_id="job_2", lead_id="lead_2", documents={"doc_2": PDF}, name=("Morgan", "Reyes"))
    seed_job(services, job_id="job_3", lead_id="lead_3", documents={"doc_3": PDF}, name=("Riley", "Chen"))
    batches = _batches(services)
    records = [_record(i, f"job_{i}", f"lead_{i}") for i in (1, 2, 3)]
    assert handle_worker({"Records": records}, FakeLambdaContext(), services) == {"batchItemFailures": []}
    assert [b[0] for b in batches] == ["reject_job", "insert_evaluation_details", "insert_evaluation_details"]
    assert batches[2].count("complete_job") == 2  # job_2 and job_3, scored again, in one request
    assert "prior_submissions" not in batches[2]  # the second write needs no lookup: it has the rows
    first, second, third = (services.store.get_evaluation(f"job_{i}") for i in (1, 2, 3))
    assert first is not None and second is not None and third is not None
    for later in (second, third):
        assert [s.code for s in later.flags if s.code == "document_reused"] == ["document_reused"]
    assert not [s for s in first.flags if s.code == "document_reused"]  # the first submission saw no other name
    for i in (2, 3):
        assert _row(services, f"job_{i}") == ("completed", "completed", 0, 1)
        assert len(services.store.lead_history(f"lead_{i}").evaluations) == 1  # type: ignore[union-attr]


def test_a_failure_is_written_with_the_group(services: Wiring) -> None:
    seed_job(services, job_id="job_1", lead_id="lead_1", documents={})  # no documents: ResourceNotFound
    seed_job(services, job_id="job_2", lead_id="lead_2", documents={"doc_2": PDF})
    batches = _batches(services)
    records = [_record(1, "job_1", "lead_1"), _record(2, "job_2", "lead_2")]
    assert handle_worker({"Records": records}, FakeLambdaContext(), services) == {"batchItemFailures": []}
    assert [b[0] for b in batches] == ["reject_job", "fail_job"]
    assert "complete_job" in batches[1]
    assert services.store.get_job("job_1").error_code == "ResourceNotFound"  # type: ignore[union-attr]
    assert _row(services, "job_1") == ("failed", "failed", 1, 1)
    assert _row(services, "job_2") == ("completed", "completed", 0, 1)


def test_a_duplicate_of_a_job_in_the_group_is_acked_without_work(services: Wiring) -> None:
    [record] = _seed(services, 1)
    twin = {**copy.deepcopy(record), "messageId": "m-twin", "receiptHandle": "rh-twin"}
    assert handle_worker({"Records": [record, twin]}, FakeLambdaContext(), services) == {"batchItemFailures": []}
    assert _row(services, "job_1") == ("completed", "completed", 0, 1)
    assert len(services.store.lead_history("lead_1").evaluations) == 1  # type: ignore[union-attr]


def test_one_record_claims_alone(services: Wiring) -> None:
    [record] = _seed(services, 1)
    batches = _batches(services)
    assert handle_worker({"Records": [record]}, FakeLambdaContext(), services) == {"batchItemFailures": []}
    assert [b[0] for b in batches] == ["reject_job", "insert_evaluation_details"]
    assert "claim_job" in batches[0] and "claim_job_in_group" not in batches[0]
    assert _group(services, "job_1") == (1, 0)


def test_no_group_claim_when_the_next_record_may_not_start(services: Wiring) -> None:
    records = _seed(services, 2)
    batches = _batches(services)
    budget_ms = services.settings.job_budget_seconds * 1000
    context = SteeredContext(remaining_ms=budget_ms + 1_000)  # enough to start, not enough to claim ahead
    assert handle_worker({"Records": records}, context, services) == {"batchItemFailures": []}
    assert [b[0] for b in batches] == ["reject_job", "insert_evaluation_details",
                                       "reject_job", "insert_evaluation_details"]
    assert len(batches[1]) == len(batches[3])  # the write carried no claim


def test_a_grouped_job_whose_record_misses_the_deadline_is_handed_back_uncounted(services: Wiring) -> None:
    records = _seed(services, 2)
    budget_ms = services.settings.job_budget_seconds * 1000
    context = SteeredContext()
    real_get = services.documents.get

    def get(*args: Any, **kwargs: Any) -> bytes:
        data = real_get(*args, **kwargs)
        context.remaining_ms = budget_ms - 1  # the next record finds the deadline near
        return data

    services.documents.get = get  # type: ignore[method-assign]
    assert handle_worker({"Records": records}, context, services) == {"batchItemFailures": [{"itemIdentifier": "m-2"}]}
    assert _row(services, "job_1") == ("completed", "completed", 0, 1)
    assert _row(services, "job_2") == ("pending", "queued", 0, 1)  # grouped, handed back, nothing counted

    # its message comes back: the job runs, its first attempt
    assert handle_worker({"Records": [records[1]]}, FakeLambdaContext(), services) == {"batchItemFailures": []}
    assert _row(services, "job_2") == ("completed", "completed", 0, 2)


def test_a_grouped_write_refused_for_one_statement_is_written_job_by_job(services: Wiring) -> None:
    """A ProcessingError (a statement over a D1 limit, an SQL error) writes nothing: each write then runs alone,
    so only the job whose write is at fault is reported (here: none is, every job completes)."""
    records = _seed(services, 2)
    real = services.store.write_together
    calls: list[int] = []

    def refuse(writes: Any) -> None:
        calls.append(len(writes))
        raise ProcessingError("D1 statement insert_evaluation binds 101 parameters; D1 allows 100 per statement")

    services.store.write_together = refuse  # type: ignore[method-assign]
    assert handle_worker({"Records": records}, FakeLambdaContext(), services) == {"batchItemFailures": []}
    assert calls == [2] and real is not None
    for i in (1, 2):
        assert _row(services, f"job_{i}") == ("completed", "completed", 0, 1)


def test_a_grouped_write_that_fails_reports_every_record_and_loses_nothing(
        services: Wiring, caplog: pytest.LogCaptureFixture) -> None:
    records = _seed(services, 2)

    def unavailable(writes: Any) -> None:
        raise StoreUnavailableError("D1 HTTP 503: D1 unavailable")

    services.store.write_together = unavailable  # type: ignore[method-assign]
    with pytest.raises(WorkerBatchFailed):  # every record failed for an infrastructure reason: the invocation fails
        handle_worker({"Records": records}, FakeLambdaContext(), services)
    lines = [r for r in caplog.records if "message reported for redelivery" in r.getMessage()]
    assert sorted(getattr(r, "job_id", None) for r in lines) == ["job_1", "job_2"]
    assert {getattr(r, "component", None) for r in lines} == {"store"}
    for i in (1, 2):  # still held: the lease ends, the messages come back and claim them (a crashed attempt)
        assert _row(services, f"job_{i}")[:2] == ("processing", "processing")
        assert services.store.get_evaluation(f"job_{i}") is None


def test_a_grouped_outcome_is_cached_once_written_so_a_redelivery_costs_no_work(services: Wiring) -> None:
    records = _seed(services, 2)
    assert handle_worker({"Records": records}, FakeLambdaContext(), services) == {"batchItemFailures": []}
    batches = _batches(services)
    # the same two messages again (a redelivery): the group claim finds nothing to claim, and each record is
    # answered by the idempotency record its grouped write left (COMPLETED), not by a claim of its own; the
    # dashboard counts them as skipped duplicates, not as completions again
    from leadeval.observability import metrics

    metrics.clear_metrics()
    try:
        assert handle_worker({"Records": records}, FakeLambdaContext(), services) == {"batchItemFailures": []}
        counted = {name: sum(entry["Value"]) for name, entry in metrics.metric_set.items()}
    finally:
        metrics.clear_metrics()
    assert [b[0] for b in batches] == ["reject_job"] and "claim_job_in_group" in batches[0]
    assert all(_row(services, f"job_{i}") == ("completed", "completed", 0, 1) for i in (1, 2))
    assert (counted.get("JobsSkipped"), counted.get("JobsCompleted")) == (2, None)


def test_a_database_not_migrated_after_an_upgrade_says_what_to_run(
        services: Wiring, caplog: pytest.LogCaptureFixture) -> None:
    """leadeval upgraded, `leadeval db migrate` not run (no migration 0007 columns): every record is reported with
    the fix in its line (error_class MigrationsMissing, action), the invocation fails, and the sweep's one ERROR
    line says the same; nothing is attempted or lost."""
    from leadeval.errors import MigrationsMissing
    from leadeval.handlers import handle_sweep

    records = _seed(services, 2)
    raw_rows(services.store, "ALTER TABLE ai_evaluation_jobs DROP COLUMN leadeval_solo")
    with pytest.raises(WorkerBatchFailed):
        handle_worker({"Records": records}, FakeLambdaContext(), services)
    lines = [r for r in caplog.records if "message reported for redelivery" in r.getMessage()]
    assert [(getattr(r, "job_id", None), getattr(r, "error_class", None), getattr(r, "action", None))
            for r in lines] == [(f"job_{i}", "MigrationsMissing", MigrationsMissing.action) for i in (1, 2)]
    caplog.clear()
    with pytest.raises(MigrationsMissing):
        handle_sweep({}, FakeLambdaContext(), services)
    [line] = [r for r in caplog.records if r.getMessage().startswith("Sweep failed")]
    assert getattr(line, "action", None) == MigrationsMissing.action
    assert [_row(services, f"job_{i}") for i in (1, 2)] == [("pending", "pending", 0, 0)] * 2


def test_the_lines_written_when_a_grouped_outcome_is_saved_carry_the_message_id(services: Wiring) -> None:
    """The JSON log lines (Powertools' logger) of outcomes saved after the batch carry the record's message_id
    and job_id, as the lines written while each record was handled do."""
    import io
    import logging

    from leadeval.observability import logger as powertools_logger

    records = _seed(services, 2)
    stream, package = io.StringIO(), logging.getLogger("leadeval")
    level, previous = package.level, powertools_logger.registered_handler.setStream(stream)
    package.setLevel(logging.INFO)
    try:
        assert handle_worker({"Records": records}, FakeLambdaContext(), services) == {"batchItemFailures": []}
    finally:
        powertools_logger.registered_handler.setStream(previous)
        package.setLevel(level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    done = [line for line in lines if line["message"].endswith("Job completed successfully")]
    assert [(line.get("job_id"), line.get("message_id")) for line in done] == [("job_1", "m-1"), ("job_2", "m-2")]
