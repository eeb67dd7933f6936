"""Contract tests for SqsJobQueue: moto ``mock_aws`` (a fresh, shallow queue pair per test) for
behaviour, ``botocore.stub.Stubber`` for what moto cannot produce (per-entry failures, 5xx)."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from botocore.stub import Stubber
from moto import mock_aws

from leadeval.adapters.queue.sqs import SqsJobQueue, sqs_client_for
from leadeval.errors import ConfigurationError, StoreUnavailableError, ThrottledError
from leadeval.models import JobMessage
from leadeval.timeutil import parse_ts, utcnow

QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/jobs"
DLQ_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/jobs-dlq"


def _messages(count: int, start: int = 0) -> list[JobMessage]:
    return [JobMessage(job_id=f"job-{i:03d}", site_id="site-1", lead_id=f"lead-{i:03d}", generation=1 + i % 3)
            for i in range(start, start + count)]


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@dataclass
class Queues:
    client: Any
    queue_url: str
    dlq_url: str
    queue: SqsJobQueue

    def receive(self, url: str, *, visibility: int = 300) -> list[dict[str, Any]]:
        """Every visible message of ``url``, hidden for ``visibility`` (> 0) seconds."""
        assert visibility > 0, "a zero visibility would return the same messages forever"
        out: list[dict[str, Any]] = []
        while True:
            got = self.client.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                              VisibilityTimeout=visibility,
                                              MessageAttributeNames=["All"]).get("Messages", [])
            if not got:
                return out
            out.extend(got)


@pytest.fixture
def sqs(aws_env: None) -> Iterator[Queues]:
    with mock_aws():
        client = boto3.client("sqs", region_name="us-east-1")
        dlq_url = client.create_queue(QueueName="jobs-dlq")["QueueUrl"]
        queue_url = client.create_queue(QueueName="jobs")["QueueUrl"]
        yield Queues(client, queue_url, dlq_url, SqsJobQueue(queue_url, dlq_url, client=client))


def _stubbed(dlq_url: str | None = DLQ_URL) -> tuple[SqsJobQueue, Stubber]:
    client = boto3.client("sqs", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
    return SqsJobQueue(QUEUE_URL, dlq_url, client=client), Stubber(client)


def _entries(messages: list[JobMessage]) -> list[dict[str, Any]]:
    return [{"Id": str(i), "MessageBody": m.model_dump_json(),
             "MessageAttributes": {"job_id": {"DataType": "String", "StringValue": m.job_id},
                                   "generation": {"DataType": "Number", "StringValue": str(m.generation)}}}
            for i, m in enumerate(messages)]


# --------------------------------------------------------------------------- send


def test_send_25_messages_takes_3_calls(sqs: Queues) -> None:
    messages = _messages(25)
    result = sqs.queue.send(messages)
    assert result.calls == 3
    assert result.sent == [m.job_id for m in messages]
    assert result.failed == []

    received = sqs.receive(sqs.queue_url)
    by_job = {JobMessage.model_validate_json(r["Body"]).job_id: r for r in received}
    assert len(received) == 25 and set(by_job) == set(result.sent)
    for message in messages:
        record = by_job[message.job_id]
        assert JobMessage.model_validate_json(record["Body"]) == message
        assert record["MessageAttributes"]["job_id"] == {"StringValue": message.job_id, "DataType": "String"}
        assert record["MessageAttributes"]["generation"] == {"StringValue": str(message.generation),
                                                             "DataType": "Number"}


def test_send_nothing_makes_no_call() -> None:
    queue, stubber = _stubbed()
    with stubber:  # any call would fail: no response is queued
        result = queue.send([])
    assert (result.sent, result.failed, result.calls) == ([], [], 0)


def test_rejected_entry_of_a_200_answer_is_reported() -> None:
    queue, stubber = _stubbed()
    messages = _messages(3)
    stubber.add_response(
        "send_message_batch",
        {"Successful": [{"Id": "0", "MessageId": "m0", "MD5OfMessageBody": "x"}],
         "Failed": [{"Id": "1", "SenderFault": True, "Code": "InvalidParameterValue"}]},
        expected_params={"QueueUrl": QUEUE_URL, "Entries": _entries(messages)},
    )  # entry "2" is in neither list: counted as failed too
    with stubber:
        result = queue.send(messages)
    stubber.assert_no_pending_responses()
    assert result.sent == ["job-000"]
    assert result.failed == ["job-001", "job-002"]
    assert result.calls == 1


def test_whole_call_error_fails_its_chunk_and_sending_goes_on() -> None:
    queue, stubber = _stubbed()
    messages = _messages(15)
    stubber.add_client_error("send_message_batch", service_error_code="InternalError", http_status_code=500,
                             expected_params={"QueueUrl": QUEUE_URL, "Entries": _entries(messages[:10])})
    stubber.add_response(
        "send_message_batch",
        {"Successful": [{"Id": str(i), "MessageId": f"m{i}", "MD5OfMessageBody": "x"} for i in range(5)],
         "Failed": []},
        expected_params={"QueueUrl": QUEUE_URL, "Entries": _entries(messages[10:])},
    )
    with stubber:
        result = queue.send(messages)
    stubber.assert_no_pending_responses()
    assert result.failed == [m.job_id for m in messages[:10]]
    assert result.sent == [m.job_id for m in messages[10:]]
    assert result.calls == 2


class _Unreachable:
    def __init__(self) -> None:
        self.calls = 0

    def send_message_batch(self, **_: Any) -> dict[str, Any]:
        self.calls += 1
        raise EndpointConnectionError(endpoint_url=QUEUE_URL)


def test_unreachable_sqs_fails_everything_after_one_call() -> None:
    client = _Unreachable()
    result = SqsJobQueue(QUEUE_URL, client=client).send(_messages(25))
    assert client.calls == 1 and result.calls == 1
    assert result.sent == [] and len(result.failed) == 25


# --------------------------------------------------------------------------- depth


def test_depth_counts_visible_in_flight_and_delayed(sqs: Queues) -> None:
    assert sqs.queue.depth() == 0
    sqs.queue.send(_messages(3))
    sqs.client.send_message(QueueUrl=sqs.queue_url, MessageBody="{}", DelaySeconds=600)
    assert sqs.queue.depth() == 4
    got = sqs.client.receive_message(QueueUrl=sqs.queue_url, MaxNumberOfMessages=1, VisibilityTimeout=300)
    assert len(got["Messages"]) == 1
    attributes = sqs.client.get_queue_attributes(QueueUrl=sqs.queue_url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"
    assert sqs.queue.depth() == 4  # the in-flight one still counts


def test_depth_of_a_missing_queue_names_the_variable(sqs: Queues) -> None:
    queue = SqsJobQueue(sqs.queue_url + "-gone", client=sqs.client)
    with pytest.raises(ConfigurationError) as caught:
        queue.depth()
    assert caught.value.variable == "LEADEVAL_QUEUE_URL"


# --------------------------------------------------------------------------- visibility


def test_change_visibility_to_zero_makes_the_message_visible_again(sqs: Queues) -> None:
    sqs.queue.send(_messages(1))
    (first,) = sqs.receive(sqs.queue_url)
    assert sqs.receive(sqs.queue_url) == []  # hidden for 300 s
    sqs.queue.change_visibility(first["ReceiptHandle"], 0)
    (again,) = sqs.receive(sqs.queue_url)
    assert again["MessageId"] == first["MessageId"]


def test_change_visibility_hides_the_message(sqs: Queues) -> None:
    sqs.queue.send(_messages(1))
    (first,) = sqs.client.receive_message(QueueUrl=sqs.queue_url, VisibilityTimeout=0)["Messages"]
    sqs.queue.change_visibility(first["ReceiptHandle"], 600)
    assert sqs.receive(sqs.queue_url) == []


def test_change_visibility_beyond_the_total_limit_keeps_the_current_timeout(sqs: Queues) -> None:
    # SQS (and moto) reject a visibility ending more than 12 h after the first receipt: the
    # clamped 43,200 s asked some milliseconds after receiving is already beyond it.
    sqs.queue.send(_messages(1))
    (first,) = sqs.receive(sqs.queue_url, visibility=300)
    sqs.queue.change_visibility(first["ReceiptHandle"], 10**6)  # no exception
    assert sqs.receive(sqs.queue_url) == []  # still hidden by its 300 s timeout


@pytest.mark.parametrize(("seconds", "sent"), [(-5, 0), (0, 0), (90, 90), (43_200, 43_200), (43_201, 43_200),
                                               (10**9, 43_200)])
def test_change_visibility_clamps(seconds: int, sent: int) -> None:
    queue, stubber = _stubbed()
    stubber.add_response("change_message_visibility", {},
                         expected_params={"QueueUrl": QUEUE_URL, "ReceiptHandle": "rh",
                                          "VisibilityTimeout": sent})
    with stubber:
        queue.change_visibility("rh", seconds)
    stubber.assert_no_pending_responses()


def test_change_visibility_of_a_deleted_message_is_a_no_op(sqs: Queues) -> None:
    sqs.queue.send(_messages(1))
    (first,) = sqs.receive(sqs.queue_url)
    sqs.client.delete_message(QueueUrl=sqs.queue_url, ReceiptHandle=first["ReceiptHandle"])
    sqs.queue.change_visibility(first["ReceiptHandle"], 30)  # no exception


# --------------------------------------------------------------------------- dead letter


@pytest.mark.parametrize("body", [
    JobMessage(job_id="job-1", site_id="site-1", lead_id="lead-1", generation=2).model_dump_json(),
    'not json at all \u00e9 {"job_id":',
])
def test_dead_letter_lands_in_the_dlq_intact(sqs: Queues, body: str) -> None:
    before = utcnow().replace(microsecond=0)
    sqs.queue.dead_letter(body, reason="ModelOutputInvalid")
    after = utcnow()
    assert sqs.receive(sqs.queue_url) == []  # nothing on the jobs queue
    (record,) = sqs.receive(sqs.dlq_url)
    assert record["Body"] == body
    attributes = record["MessageAttributes"]
    assert attributes["leadeval_reason"] == {"StringValue": "ModelOutputInvalid", "DataType": "String"}
    stamped = parse_ts(attributes["leadeval_dead_lettered_at"]["StringValue"])
    assert stamped is not None and before <= stamped <= after
    assert attributes["leadeval_dead_lettered_at"]["StringValue"].endswith("Z")


def test_dead_letter_reason_is_never_free_text(sqs: Queues) -> None:
    sqs.queue.dead_letter("{}", reason="Jane Doe's pay stub was unreadable")
    (record,) = sqs.receive(sqs.dlq_url)
    assert record["MessageAttributes"]["leadeval_reason"]["StringValue"] == "Unspecified"


def test_dead_letter_without_dlq_is_a_configuration_error() -> None:
    queue, stubber = _stubbed(dlq_url=None)
    with stubber, pytest.raises(ConfigurationError) as caught:
        queue.dead_letter("{}", reason="Poison")
    assert caught.value.variable == "LEADEVAL_DLQ_URL"


# --------------------------------------------------------------------------- error mapping


@pytest.mark.parametrize(("code", "status", "expected"), [
    ("ThrottlingException", 400, ThrottledError),
    ("AWS.SimpleQueueService.RequestThrottled", 403, ThrottledError),
    ("", 429, ThrottledError),
    ("AWS.SimpleQueueService.NonExistentQueue", 400, ConfigurationError),
    ("QueueDoesNotExist", 400, ConfigurationError),
    ("AccessDenied", 403, ConfigurationError),
    ("KmsAccessDenied", 400, ConfigurationError),
    ("InvalidClientTokenId", 403, ConfigurationError),
    ("InternalError", 500, StoreUnavailableError),
    ("ServiceUnavailable", 503, StoreUnavailableError),
    ("InvalidParameterValue", 400, StoreUnavailableError),
])
def test_error_mapping(code: str, status: int, expected: type[Exception]) -> None:
    queue, stubber = _stubbed()
    stubber.add_client_error("get_queue_attributes", service_error_code=code, http_status_code=status)
    stubber.add_client_error("send_message", service_error_code=code, http_status_code=status)
    with stubber:
        with pytest.raises(expected) as depth_error:
            queue.depth()
        with pytest.raises(expected):
            queue.dead_letter("{}", reason="Poison")
    assert type(depth_error.value) is expected
    assert isinstance(depth_error.value.__cause__, Exception)


def test_throttle_retry_after_header_is_used() -> None:
    queue, stubber = _stubbed()
    stubber.add_client_error("get_queue_attributes", service_error_code="ThrottlingException",
                             http_status_code=400, response_meta={"HTTPHeaders": {"Retry-After": "12"}})
    with stubber, pytest.raises(ThrottledError) as caught:
        queue.depth()
    assert caught.value.retry_after == 12.0


@pytest.mark.parametrize("error", [EndpointConnectionError(endpoint_url=QUEUE_URL),
                                   ReadTimeoutError(endpoint_url=QUEUE_URL)])
def test_connection_errors_are_store_unavailable(error: Exception) -> None:
    class Broken:
        def get_queue_attributes(self, **_: Any) -> dict[str, Any]:
            raise error

    with pytest.raises(StoreUnavailableError):
        SqsJobQueue(QUEUE_URL, client=Broken()).depth()


# --------------------------------------------------------------------------- client construction


@pytest.mark.parametrize(("url", "region", "endpoint"), [
    ("https://sqs.eu-west-2.amazonaws.com/123456789012/jobs", "eu-west-2", "https://sqs.eu-west-2.amazonaws.com"),
    ("https://ap-southeast-1.queue.amazonaws.com/123456789012/jobs", "ap-southeast-1",
     "https://sqs.ap-southeast-1.amazonaws.com"),
    ("http://127.0.0.1:5123/123456789012/jobs", "us-east-1", "http://127.0.0.1:5123"),
])
def test_sqs_client_for(aws_env: None, url: str, region: str, endpoint: str) -> None:
    client = sqs_client_for(url)
    assert client.meta.region_name == region
    assert client.meta.endpoint_url == endpoint


def test_queue_builds_no_client_until_used(monkeypatch: pytest.MonkeyPatch) -> None:
    import leadeval.adapters.queue.sqs as module

    built: list[str] = []
    monkeypatch.setattr(module, "sqs_client_for", lambda url: built.append(url) or object())
    queue = SqsJobQueue(QUEUE_URL)
    assert built == []
    assert queue.client is queue.client
    assert built == [QUEUE_URL]


def test_importing_the_queue_adapters_loads_no_boto3() -> None:
    code = ("import sys, leadeval.adapters.queue.sqs, leadeval_tools.redrive;"
            "print(json.dumps(sorted(m for m in ('boto3', 'botocore') if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", "import json;" + code], capture_output=True, text=True,
                         check=True, cwd=pathlib.Path(__file__).resolve().parents[2],
                         env={"PYTHONPATH": "layers/leadeval", "PATH": ""})
    assert json.loads(out.stdout) == []
