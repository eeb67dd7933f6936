"""A record's job is claimed in the same request as the previous record's last write (issue 14, item 1).

Each test drives the real ``handle_worker`` on a batch of records over SQLite and reads what the store ran
(the first statement of each batch names it) and the jobs' rows: one request fewer per job after the first,
the same outcomes, claim numbers and attempt counts as records claiming for themselves, and a job claimed
ahead whose record then does not run is handed back with nothing counted.
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
from leadeval.handlers import handle_worker
from leadeval.wiring import Wiring
from leadeval_tools.fakes.memory import MemoryDocumentStore, MemoryQueue, ScriptedVisionModel
from leadeval_tools.local import FakeLambdaContext
from tests.helpers import load_event, make_services, paystub_facts, seed_job, text_pdf

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


def test_each_claim_after_the_first_rides_along_the_previous_write(services: Wiring) -> None:
    records = _seed(services, 3)
    batches = _batches(services)
    assert handle_worker({"Records": records}, FakeLambdaContext(), services) == {"batchItemFailures": []}
    claim = ["reject_job", "admit_job", "claim_job", "claim_redriven", "fail_exhausted", "get_job", "job_lead",
             "job_documents", "job_usage", "job_policy"]
    # 4 requests for 3 jobs (7 with a separate reuse lookup per job, 9 with a claim per job too): the reuse
    # lookup rides along each result write, after the write's own statements and before the next claim.
    assert [b[0] for b in batches] == ["reject_job", "insert_evaluation_details", "insert_evaluation_details",
                                       "insert_evaluation_details"]
    assert batches[1][-10:] == claim and batches[2][-10:] == claim
    assert batches[1][-11] == batches[2][-11] == batches[3][-1] == "prior_submissions"
    assert batches[3][-2] == "complete_job"
    for i in (1, 2, 3):  # each claimed once, no attempt counted, as when each record claims for itself
        assert _row(services, f"job_{i}") == ("completed", "completed", 0, 1)


def test_a_document_already_submitted_under_another_name_is_scored_again_with_the_reuse_signal(
        services: Wiring) -> None:
    """The result write assumes no reuse; when the same file came with another applicant, that write holds
    nothing and brings the earlier submission back, and the job is scored again with document_reused: one
    request more, for that job only."""
    seed_job(services, job_id="job_1", lead_id="lead_1", documents={"doc_1": PDF})
    seed_job(services, job_id="job_2", lead_id="lead_2", documents={"doc_2": PDF}, name=("Morgan", "Reyes"))
    batches = _batches(services)
    records = [_record(1, "job_1", "lead_1"), _record(2, "job_2", "lead_2")]
    assert handle_worker({"Records": records}, FakeLambdaContext(), services) == {"batchItemFailures": []}
    assert [b[0] for b in batches] == ["reject_job", "insert_evaluation_details", "insert_evaluation_details",
                                       "insert_evaluation_details"]
    assert batches[2][-1] == "prior_submissions" and "prior_submissions" not in batches[3]
    first, second = (services.store.get_evaluation(j) for j in ("job_1", "job_2"))
    assert first is not None and second is not None
    assert [s.code for s in second.flags if s.code == "document_reused"] == ["document_reused"]
    assert not [s for s in first.flags if s.code == "document_reused"]  # the first submission saw no other name
    assert _row(services, "job_2") == ("completed", "completed", 0, 1)
    assert len(services.store.lead_history("lead_2").evaluations) == 1  # type: ignore[union-attr]


def test_a_failure_write_carries_the_next_claim_too(services: Wiring) -> None:
    seed_job(services, job_id="job_1", lead_id="lead_1", documents={})  # no documents: ResourceNotFound
    seed_job(services, job_id="job_2", lead_id="lead_2", documents={"doc_2": PDF})
    batches = _batches(services)
    records = [_record(1, "job_1", "lead_1"), _record(2, "job_2", "lead_2")]
    assert handle_worker({"Records": records}, FakeLambdaContext(), services) == {"batchItemFailures": []}
    assert [b[0] for b in batches] == ["reject_job", "fail_job", "insert_evaluation_details"]
    assert services.store.get_job("job_1").error_code == "ResourceNotFound"  # type: ignore[union-attr]
    assert _row(services, "job_2") == ("completed", "completed", 0, 1)


def test_a_duplicate_of_the_job_just_completed_is_acked_without_work(services: Wiring) -> None:
    [record] = _seed(services, 1)
    twin = {**copy.deepcopy(record), "messageId": "m-twin", "receiptHandle": "rh-twin"}
    assert handle_worker({"Records": [record, twin]}, FakeLambdaContext(), services) == {"batchItemFailures": []}
    assert _row(services, "job_1") == ("completed", "completed", 0, 1)
    assert len(services.store.lead_history("lead_1").evaluations) == 1  # type: ignore[union-attr]


def test_no_claim_ahead_when_the_next_record_may_not_start(services: Wiring) -> None:
    records = _seed(services, 2)
    batches = _batches(services)
    budget_ms = services.settings.job_budget_seconds * 1000
    context = SteeredContext(remaining_ms=budget_ms + 1_000)  # enough to start, not enough to claim ahead
    assert handle_worker({"Records": records}, context, services) == {"batchItemFailures": []}
    assert [b[0] for b in batches] == ["reject_job", "insert_evaluation_details",
                                       "reject_job", "insert_evaluation_details"]
    assert len(batches[1]) == len(batches[3])  # the write carried no claim


def test_a_job_claimed_ahead_whose_record_misses_the_deadline_is_handed_back_uncounted(
        services: Wiring) -> None:
    records = _seed(services, 2)
    budget_ms = services.settings.job_budget_seconds * 1000
    context = SteeredContext()
    real_complete = services.store.complete

    def complete(*args: Any, **kwargs: Any) -> bool:
        saved = real_complete(*args, **kwargs)
        context.remaining_ms = budget_ms - 1  # the next record finds the deadline near
        return saved

    services.store.complete = complete  # type: ignore[method-assign]
    assert handle_worker({"Records": records}, context, services) == {"batchItemFailures": [{"itemIdentifier": "m-2"}]}
    assert _row(services, "job_1") == ("completed", "completed", 0, 1)
    assert _row(services, "job_2") == ("pending", "queued", 0, 1)  # claimed ahead, handed back, nothing counted

    # its message comes back: the job runs, its first attempt
    assert handle_worker({"Records": [records[1]]}, FakeLambdaContext(), services) == {"batchItemFailures": []}
    assert _row(services, "job_2") == ("completed", "completed", 0, 2)


def test_a_claim_made_ahead_is_used_once_then_records_claim_for_themselves(services: Wiring) -> None:
    records = _seed(services, 2)
    assert handle_worker({"Records": records}, FakeLambdaContext(), services) == {"batchItemFailures": []}
    batches = _batches(services)
    # the same two messages again (a redelivery): each record claims for itself and finds its job terminal
    assert handle_worker({"Records": records}, FakeLambdaContext(), services) == {"batchItemFailures": []}
    assert all(_row(services, f"job_{i}") == ("completed", "completed", 0, 1) for i in (1, 2))
    # the wiring's check of finished jobs answers each record; no write ran, so nothing was claimed ahead
    assert batches == [["get_job"], ["get_job"]]
