"""SqsRedriver: move-task calls with botocore's Stubber (moto lacks them), peeking and
selective redrive with moto."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from leadeval.adapters.queue.sqs import SqsJobQueue
from leadeval.errors import ConfigurationError, StoreUnavailableError, ThrottledError
from leadeval.models import JobMessage
from leadeval.timeutil import utcnow
from leadeval_tools.redrive import MoveTask, SqsRedriver

DLQ_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/jobs-dlq"
DLQ_ARN = "arn:aws:sqs:us-east-1:123456789012:jobs-dlq"
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/jobs"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:jobs"


# --------------------------------------------------------------------------- move tasks (Stubber)


@pytest.fixture
def stubbed() -> tuple[SqsRedriver, Stubber]:
    client = boto3.client("sqs", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
    return SqsRedriver(DLQ_URL, DLQ_ARN, QUEUE_URL, client=client, wait_seconds=0), Stubber(client)


@pytest.mark.parametrize(("rate", "params"), [
    (None, {"SourceArn": DLQ_ARN}),  # no DestinationArn: back to each message's source queue
    (1, {"SourceArn": DLQ_ARN, "MaxNumberOfMessagesPerSecond": 1}),
    (500, {"SourceArn": DLQ_ARN, "MaxNumberOfMessagesPerSecond": 500}),
])
def test_redrive_all_starts_a_move_task(stubbed: tuple[SqsRedriver, Stubber], rate: int | None,
                                        params: dict[str, Any]) -> None:
    redriver, stubber = stubbed
    stubber.add_response("start_message_move_task", {"TaskHandle": "handle-1"}, expected_params=params)
    with stubber:
        assert redriver.redrive_all(max_per_second=rate) == "handle-1"
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize("rate", [0, -1, 501])
def test_redrive_all_refuses_rates_sqs_refuses(stubbed: tuple[SqsRedriver, Stubber], rate: int) -> None:
    redriver, stubber = stubbed
    with stubber, pytest.raises(ValueError):  # no call made: no stubbed response exists
        redriver.redrive_all(max_per_second=rate)


@pytest.mark.parametrize(("code", "status", "expected"), [
    ("AccessDenied", 403, ConfigurationError),
    ("ThrottlingException", 400, ThrottledError),
    ("InvalidParameterValue", 400, StoreUnavailableError),  # e.g. a task already running
    ("InternalError", 500, StoreUnavailableError),
])
def test_redrive_all_errors_are_mapped(stubbed: tuple[SqsRedriver, Stubber], code: str, status: int,
                                       expected: type[Exception]) -> None:
    redriver, stubber = stubbed
    stubber.add_client_error("start_message_move_task", service_error_code=code, http_status_code=status)
    with stubber, pytest.raises(expected):
        redriver.redrive_all()


def test_status_lists_move_tasks(stubbed: tuple[SqsRedriver, Stubber]) -> None:
    redriver, stubber = stubbed
    started = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    started_ms = int(started.timestamp() * 1000)
    stubber.add_response(
        "list_message_move_tasks",
        {"Results": [
            {"TaskHandle": "handle-2", "Status": "RUNNING", "SourceArn": DLQ_ARN,
             "MaxNumberOfMessagesPerSecond": 50, "ApproximateNumberOfMessagesMoved": 7,
             "ApproximateNumberOfMessagesToMove": 20, "StartedTimestamp": started_ms},
            {"Status": "FAILED", "SourceArn": DLQ_ARN, "DestinationArn": QUEUE_ARN,
             "ApproximateNumberOfMessagesMoved": 0, "FailureReason": "AWS.SimpleQueueService.KmsAccessDenied",
             "StartedTimestamp": started_ms - 3_600_000},
        ]},
        expected_params={"SourceArn": DLQ_ARN, "MaxResults": 10},
    )
    with stubber:
        tasks = redriver.status()
    stubber.assert_no_pending_responses()
    assert tasks == [
        MoveTask(status="RUNNING", task_handle="handle-2", source_arn=DLQ_ARN, destination_arn=None, moved=7,
                 to_move=20, max_per_second=50, started_at=started, failure_reason=None),
        MoveTask(status="FAILED", task_handle=None, source_arn=DLQ_ARN, destination_arn=QUEUE_ARN, moved=0,
                 to_move=None, max_per_second=None, started_at=started - timedelta(hours=1),
                 failure_reason="AWS.SimpleQueueService.KmsAccessDenied"),
    ]


def test_cancel_a_move_task(stubbed: tuple[SqsRedriver, Stubber]) -> None:
    redriver, stubber = stubbed
    stubber.add_response("cancel_message_move_task", {"ApproximateNumberOfMessagesMoved": 12},
                         expected_params={"TaskHandle": "handle-2"})
    with stubber:
        assert redriver.cancel("handle-2") == 12
    stubber.assert_no_pending_responses()


def test_redrive_jobs_with_no_ids_makes_no_call(stubbed: tuple[SqsRedriver, Stubber]) -> None:
    redriver, stubber = stubbed
    with stubber:
        assert redriver.redrive_jobs(set()) == 0


# --------------------------------------------------------------------------- peek and redrive (moto)


@dataclass
class Dlq:
    client: Any
    dlq_url: str
    queue_url: str
    bodies: dict[str, str]
    now: datetime

    def redriver(self, **kwargs: Any) -> SqsRedriver:
        kwargs.setdefault("source_queue_url", self.queue_url)
        return SqsRedriver(self.dlq_url, DLQ_ARN, client=self.client, wait_seconds=0, clock=lambda: self.now,
                           **kwargs)

    def counts(self, url: str) -> tuple[int, int]:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attributes = self.client.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        return int(attributes[names[0]]), int(attributes[names[1]])


POISON = "not json \u00e9 <b>"


@pytest.fixture
def dlq(monkeypatch: pytest.MonkeyPatch) -> Iterator[Dlq]:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("sqs", region_name="us-east-1")
        dlq_url = client.create_queue(QueueName="jobs-dlq")["QueueUrl"]
        queue_url = client.create_queue(QueueName="jobs")["QueueUrl"]
        bodies = {
            "job-a": JobMessage(job_id="job-a", site_id="site-1", lead_id="lead-a",
                                generation=2).model_dump_json(),
            "job-b": JobMessage(job_id="job-b", site_id="site-2", lead_id="lead-b").model_dump_json(),
        }
        jobs = SqsJobQueue(queue_url, dlq_url, client=client)
        jobs.dead_letter(bodies["job-a"], reason="ModelOutputInvalid")
        # as the queue's redrive policy would move it: the original attributes, no leadeval_reason
        client.send_message(QueueUrl=dlq_url, MessageBody=bodies["job-b"], MessageAttributes={
            "job_id": {"DataType": "String", "StringValue": "job-b"},
            "generation": {"DataType": "Number", "StringValue": "1"}})
        jobs.dead_letter(POISON, reason="Poison")
        yield Dlq(client, dlq_url, queue_url, bodies, now=utcnow() + timedelta(hours=1))


def test_list_shows_every_message_without_deleting(dlq: Dlq) -> None:
    redriver = dlq.redriver()
    first = redriver.list_messages()
    assert len(first) == 3
    assert dlq.counts(dlq.dlq_url) == (3, 0)  # all visible again at once, none deleted

    by_job = {entry.job_id: entry for entry in first}
    assert set(by_job) == {"job-a", "job-b", None}
    a, b, poison = by_job["job-a"], by_job["job-b"], by_job[None]
    assert (a.site_id, a.lead_id, a.generation, a.poison, a.reason) == ("site-1", "lead-a", 2, False,
                                                                         "ModelOutputInvalid")
    assert (b.site_id, b.generation, b.poison, b.reason) == ("site-2", 1, False, None)
    assert (poison.poison, poison.reason, poison.body, poison.site_id) == (True, "Poison", POISON, None)
    assert a.body == dlq.bodies["job-a"]
    for entry in first:
        assert entry.receive_count == 1
        assert 3600 <= entry.age_seconds < 3900  # clock is an hour after sending
    assert [e.age_seconds for e in first] == sorted((e.age_seconds for e in first), reverse=True)

    second = redriver.list_messages()
    assert sorted(e.message_id for e in second) == sorted(e.message_id for e in first)
    assert {e.receive_count for e in second} == {2}


def test_list_respects_max_messages(dlq: Dlq) -> None:
    assert len(dlq.redriver().list_messages(max_messages=2)) == 2
    assert dlq.counts(dlq.dlq_url) == (3, 0)


def test_redrive_jobs_moves_exactly_the_chosen_job(dlq: Dlq) -> None:
    redriver = dlq.redriver()
    assert redriver.redrive_jobs({"job-a"}) == 1

    moved = dlq.client.receive_message(QueueUrl=dlq.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=300,
                                       MessageAttributeNames=["All"])["Messages"]
    assert [m["Body"] for m in moved] == [dlq.bodies["job-a"]]
    assert "leadeval_reason" not in (moved[0].get("MessageAttributes") or {})

    left = redriver.list_messages()
    assert sorted(e.job_id or "poison" for e in left) == ["job-b", "poison"]
    assert dlq.counts(dlq.dlq_url) == (2, 0)


def test_redrive_jobs_keeps_operator_attributes(dlq: Dlq) -> None:
    assert dlq.redriver().redrive_jobs({"job-b", "job-unknown"}) == 1
    (moved,) = dlq.client.receive_message(QueueUrl=dlq.queue_url, VisibilityTimeout=300,
                                          MessageAttributeNames=["All"])["Messages"]
    assert moved["Body"] == dlq.bodies["job-b"]
    assert moved["MessageAttributes"]["job_id"] == {"StringValue": "job-b", "DataType": "String"}
    assert moved["MessageAttributes"]["generation"] == {"StringValue": "1", "DataType": "Number"}


def test_failed_send_leaves_every_message_in_the_dlq(dlq: Dlq) -> None:
    redriver = dlq.redriver(source_queue_url=dlq.queue_url + "-gone")
    with pytest.raises(ConfigurationError):
        redriver.redrive_jobs({"job-a"})
    assert dlq.counts(dlq.dlq_url) == (3, 0)  # nothing deleted, nothing left hidden
