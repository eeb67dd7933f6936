"""Worker handler: partial batch responses, poison messages, outcomes per record (events/*.json)."""

from __future__ import annotations

import copy
import io
import json
import logging
from pathlib import Path

import pytest

from leadeval.adapters.jobstore.sql import Statement
from leadeval.errors import StorageError, ThrottledError
from leadeval.handlers import handle_worker
from leadeval.models import JobState, JobStatus
from leadeval.observability import logger as powertools_logger
from leadeval_tools.fakes.memory import MemoryDocumentStore, MemoryQueue, ScriptedVisionModel
from leadeval_tools.local import FakeLambdaContext
from tests.helpers import load_event, make_services, paystub_facts, seed_job, text_pdf

PDF = text_pdf(["ACME LOGISTICS - EARNINGS STATEMENT", "Employee: Dana Whitfield", "Gross pay 5,000.00"])


@pytest.fixture(name="env")
def _env(tmp_path: Path):
    queue = MemoryQueue()
    model = ScriptedVisionModel(default=paystub_facts())
    services = make_services(tmp_path, documents=MemoryDocumentStore(), model=model, queue=queue)
    yield services, queue, model
    services.close()


def test_one_job_completes_and_is_acked(env) -> None:
    """events/worker_one_job.json: the job completes, one evaluation is saved, nothing is reported."""
    services, queue, model = env
    seed_job(services, documents={"doc_1": PDF, "doc_2": PDF})
    result = handle_worker(load_event("worker_one_job.json"), FakeLambdaContext(), services)
    assert result == {"batchItemFailures": []}
    job = services.store.get_job("job_demo_001")
    assert job.status == JobStatus.COMPLETED and job.attempts == 1
    evaluation = services.store.get_evaluation("job_demo_001")
    assert job.evaluation_id == evaluation.id
    assert [d.verdict for d in evaluation.documents] == ["clean", "clean"]
    assert len(model.calls) == 2 and queue.dlq == []


def test_mixed_batch_reports_exactly_the_retryable_record(env) -> None:
    """A valid job, a non-JSON body, a body without job_id, and a job whose storage fails transiently:
    only the last is reported; the two malformed bodies reach the DLQ intact."""
    services, queue, _ = env
    seed_job(services, documents={"doc_1": PDF})
    seed_job(services, job_id="job_flaky", lead_id="lead_flaky", documents={"doc_f": PDF})
    services.documents.fail("site_sunrise/lead_flaky/doc_f.pdf", StorageError("R2 503"))
    event = load_event("worker_mixed_batch.json")
    flaky = copy.deepcopy(event["Records"][0])
    flaky["messageId"] = "flaky-message-id"
    flaky["body"] = json.dumps({"job_id": "job_flaky", "site_id": "site_sunrise", "lead_id": "lead_flaky",
                                "generation": 1})
    event["Records"].append(flaky)

    result = handle_worker(event, FakeLambdaContext(), services)

    assert result == {"batchItemFailures": [{"itemIdentifier": "flaky-message-id"}]}
    assert services.store.get_job("job_demo_001").status == JobStatus.COMPLETED
    flaky_job = services.store.get_job("job_flaky")
    assert (flaky_job.status, flaky_job.state, flaky_job.error_code, flaky_job.retry_count) == (
        JobStatus.PENDING, JobState.RETRYING, "StorageError", 1)
    assert [m.body for m in queue.dlq] == [event["Records"][1]["body"], event["Records"][2]["body"]]
    assert {m.attributes["leadeval_reason"] for m in queue.dlq} == {"MalformedMessage"}


def test_poison_unknown_job_goes_to_dlq(env) -> None:
    services, queue, _ = env
    event = load_event("worker_poison.json")
    assert handle_worker(event, FakeLambdaContext(), services) == {"batchItemFailures": []}
    assert [m.body for m in queue.dlq] == [event["Records"][0]["body"]]
    assert queue.dlq[0].attributes["leadeval_reason"] == "UnknownJob"


def test_throttled_model_snoozes_without_using_an_attempt(env) -> None:
    services, queue, model = env
    seed_job(services, documents={"doc_1": PDF})
    model.default = ThrottledError("429", retry_after=120)
    event = load_event("worker_one_job.json")
    receipt = event["Records"][0]["receiptHandle"]
    result = handle_worker(event, FakeLambdaContext(), services)
    # The snooze re-sends the body with DelaySeconds (so SQS's receive count never grows) and acks this copy.
    assert result == {"batchItemFailures": []}
    job = services.store.get_job("job_demo_001")
    assert (job.state, job.attempts, job.retry_count, job.error_code) == (JobState.SNOOZED, 0, 0, "Throttled")
    assert job.lease_expires_at is not None
    [copy] = queue.messages.values()
    assert (copy.body, copy.visible_at - queue.now(), copy.receive_count) == (event["Records"][0]["body"], 120, 0)
    assert receipt


def test_duplicate_delivery_in_a_row_makes_one_evaluation(env) -> None:
    services, _, model = env
    seed_job(services, documents={"doc_1": PDF})
    event = load_event("worker_one_job.json")
    assert handle_worker(event, FakeLambdaContext(), services) == {"batchItemFailures": []}
    assert handle_worker(event, FakeLambdaContext(), services) == {"batchItemFailures": []}
    assert len(model.calls) == 1
    assert services.store.get_job("job_demo_001").status == JobStatus.COMPLETED


def test_deadline_reports_unstarted_records_without_claiming(env) -> None:
    services, _, model = env
    seed_job(services, documents={"doc_1": PDF})
    event = load_event("worker_one_job.json")
    result = handle_worker(event, FakeLambdaContext(timeout_seconds=5), services)  # < 60 s job budget
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    job = services.store.get_job("job_demo_001")
    assert (job.status, job.state, job.attempts, job.claims) == (JobStatus.PENDING, JobState.PENDING, 0, 0)
    assert model.calls == []


def test_logs_carry_job_id_and_no_personal_data(env) -> None:
    """Every log line of a job is JSON with job_id and message_id; names, emails, phones never appear."""
    services, _, _ = env
    seed_job(services, documents={"doc_1": PDF})
    logging.getLogger("leadeval").setLevel(logging.INFO)
    stream = io.StringIO()
    previous = powertools_logger.registered_handler.setStream(stream)
    try:
        handle_worker(load_event("worker_one_job.json"), FakeLambdaContext(), services)
    finally:
        powertools_logger.registered_handler.setStream(previous)
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    job_lines = [line for line in lines if "[job_demo_001]" in line.get("message", "")]
    assert [line["message"].split("] ", 1)[1] for line in job_lines][:2] == [
        "Starting processing for lead lead_strong", "Found 1 documents"]
    assert any("AI evaluation completed - Score:" in line["message"] for line in job_lines)
    assert job_lines[-1]["message"].endswith("Job completed successfully")
    assert all(line.get("job_id") == "job_demo_001" and "message_id" in line for line in job_lines)
    text = "\n".join(json.dumps(line) for line in lines)
    for personal in ("Dana", "Whitfield", "dana@example.com", "555-0100"):
        assert personal not in text


def test_completed_at_and_evaluated_at_are_when_the_work_ended_not_when_it_was_claimed(tmp_path: Path) -> None:
    """The job's started_at is the claim; completed_at and the evaluation's evaluated_at are read from the clock
    after the work (the seed stamps completed_at after the AI call). A clock that ticks 7 s per reading shows it."""
    from datetime import UTC, datetime, timedelta

    from leadeval.timeutil import parse_ts

    ticks = iter(datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC) + timedelta(seconds=7 * i) for i in range(1000))
    services = make_services(tmp_path, documents=MemoryDocumentStore(), queue=MemoryQueue(),
                             model=ScriptedVisionModel(default=paystub_facts()), clock=lambda: next(ticks))
    try:
        seed_job(services, documents={"doc_1": PDF})
        assert handle_worker(load_event("worker_one_job.json"), FakeLambdaContext(), services) == {
            "batchItemFailures": []}
        row = services.store.executor.execute_batch([Statement(
            "times", "SELECT j.started_at, j.completed_at, e.evaluated_at FROM ai_evaluation_jobs j "
            "JOIN lead_ai_evaluations e ON e.id = j.evaluation_id WHERE j.id = 'job_demo_001'", {})])[0][0]
        started, completed, evaluated = (parse_ts(row[k]) for k in ("started_at", "completed_at", "evaluated_at"))
        assert started < evaluated <= completed
        assert (completed - started) >= timedelta(seconds=7)
    finally:
        services.close()


def test_a_local_invocation_leaves_no_lambda_context_on_the_lines_logged_after_it() -> None:
    """A local run goes on after its last invocation (the summary, the report): its lines carry no request id of
    an invocation that has ended, while the lines inside the invocation do."""
    from leadeval_tools.local import handler_output

    with handler_output():
        powertools_logger.append_keys(function_request_id="req-local-1")
        assert powertools_logger.get_current_keys()["function_request_id"] == "req-local-1"
    assert "function_request_id" not in powertools_logger.get_current_keys()
    assert powertools_logger.get_current_keys()["service"] == "leadeval"
