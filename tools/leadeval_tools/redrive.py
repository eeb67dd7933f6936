"""Operator tools for the jobs dead-letter queue: look inside, redrive all, redrive some.

* :meth:`SqsRedriver.list_messages` peeks without deleting: messages are received with a
  short visibility timeout and made visible again (``ChangeMessageVisibilityBatch`` to 0)
  right after, so nothing is hidden for long and nothing is removed. A peek does raise each
  message's ``ApproximateReceiveCount`` (harmless on a DLQ, which has no redrive policy).
* :meth:`SqsRedriver.redrive_all` starts an SQS message move task (``StartMessageMoveTask``
  with only ``SourceArn``: messages go back to the queue each came from);
  :meth:`~SqsRedriver.status` lists tasks (``ListMessageMoveTasks``) and
  :meth:`~SqsRedriver.cancel` stops one (``CancelMessageMoveTask``).
* :meth:`SqsRedriver.redrive_jobs` moves only the messages of chosen jobs: receive, send the
  same body to the source queue, delete from the DLQ.

API facts (Amazon SQS API Reference: StartMessageMoveTask, ListMessageMoveTasks):
``MaxNumberOfMessagesPerSecond`` is at most 500; one active move task per queue; a task runs
at most 36 hours; ``ListMessageMoveTasks`` ``MaxResults`` is 1..10 (default 1); redriven
messages get a new message id. moto (5.2) implements none of the three move-task actions
(its server answers 500), so they are tested with ``botocore.stub.Stubber``, and on a local emulator
:meth:`SqsRedriver.emulate_move_task` does what a move task does (every message back to the source queue,
body and message attributes kept, a new message id and ``SentTimestamp``) so a full redrive can be rehearsed
with the same command.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from leadeval.adapters.queue.sqs import (
    BATCH_LIMIT,
    REASON_ATTRIBUTE,
    error_code,
    map_sqs_error,
    sqs_client_for,
)
from leadeval.models import JobMessage
from leadeval.timeutil import utcnow

logger = logging.getLogger(__name__)

#: Upper bound of ``MaxNumberOfMessagesPerSecond`` for a move task (StartMessageMoveTask).
MAX_MOVE_RATE = 500
#: Seconds a peeked or skipped message stays hidden if resetting its visibility fails.
PEEK_VISIBILITY_SECONDS = 30


@dataclass(frozen=True)
class DlqEntry:
    """One message in the dead-letter queue, as :meth:`SqsRedriver.list_messages` sees it.

    Attributes:
        message_id: SQS message id.
        job_id / site_id / lead_id / generation: from the body when it is a JobMessage,
            else None.
        poison: True when the body is not a JobMessage (not JSON, no job id, …).
        reason: the ``leadeval_reason`` attribute (an error code), None when absent
            (e.g. moved by the queue's redrive policy rather than by the worker).
        age_seconds: seconds since the message was first sent (``SentTimestamp``; a DLQ keeps
            the original enqueue time), >= 0.
        receive_count: ``ApproximateReceiveCount`` (includes earlier peeks).
        body: the body, untouched (identifiers only for JobMessages; may be anything for poison).
    """

    message_id: str
    job_id: str | None
    site_id: str | None
    lead_id: str | None
    generation: int | None
    poison: bool
    reason: str | None
    age_seconds: float
    receive_count: int
    body: str


@dataclass(frozen=True)
class MoveTask:
    """One ``ListMessageMoveTasks`` result entry.

    Attributes:
        status: RUNNING | COMPLETED | CANCELLING | CANCELLED | FAILED.
        task_handle: set for RUNNING tasks only (needed to cancel).
        moved / to_move: ``ApproximateNumberOfMessagesMoved`` / ``…ToMove``.
        max_per_second: the task's rate limit, None when system-optimised.
        started_at: start time (aware UTC), from ``StartedTimestamp`` (epoch milliseconds).
        failure_reason: set when FAILED.
    """

    status: str
    task_handle: str | None
    source_arn: str | None
    destination_arn: str | None
    moved: int
    to_move: int | None
    max_per_second: int | None
    started_at: datetime | None
    failure_reason: str | None


def is_local_endpoint(queue_url: str) -> bool:
    """True for a queue URL that is not Amazon SQS's (moto, ElasticMQ, LocalStack on this machine or a
    container's host): there, a full redrive is emulated (:meth:`SqsRedriver.emulate_move_task`)."""
    from urllib.parse import urlsplit

    host = (urlsplit(queue_url).hostname or "").lower()
    return not (host.endswith(".amazonaws.com") or host.endswith(".amazonaws.com.cn"))


def _parse_job(body: str) -> JobMessage | None:
    try:
        return JobMessage.model_validate_json(body)
    except (ValidationError, ValueError):
        return None


class SqsRedriver:
    """Inspect and redrive the jobs DLQ.

    Args:
        dlq_url: URL of the dead-letter queue.
        dlq_arn: its ARN (the ``SourceArn`` of move tasks).
        source_queue_url: URL of the jobs queue (destination of :meth:`redrive_jobs`).
        client: a boto3 ``sqs`` client; built by :func:`sqs_client_for` on first use when None.
        wait_seconds: long-poll wait per ``ReceiveMessage`` (0..20 s, default 1): short polls
            sample only some SQS servers and may miss messages of a small queue.
        clock: returns "now" (aware UTC) for ages; tests pass a fixed one.

    Errors (every method): ``ThrottledError``, ``ConfigurationError``,
    ``StoreUnavailableError`` as mapped by :func:`~leadeval.adapters.queue.sqs.map_sqs_error`.
    """

    def __init__(self, dlq_url: str, dlq_arn: str, source_queue_url: str, *, client: Any = None,
                 wait_seconds: int = 1, clock: Callable[[], datetime] = utcnow) -> None:
        self.dlq_url = dlq_url
        self.dlq_arn = dlq_arn
        self.source_queue_url = source_queue_url
        self._client = client
        self._wait_seconds = max(0, min(20, int(wait_seconds)))
        self._clock = clock
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The boto3 SQS client (built on first access when none was given)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = sqs_client_for(self.dlq_url)
        return self._client

    # ------------------------------------------------------------------ helpers

    def _call(self, method: str, **params: Any) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, method)(**params)
        except (ClientError, BotoCoreError) as exc:
            raise map_sqs_error(exc) from exc

    def _receive(self, limit: int, received: list[str]) -> Iterable[dict[str, Any]]:
        """Receive up to ``limit`` distinct DLQ messages, each hidden for
        ``PEEK_VISIBILITY_SECONDS``; stops at the first empty receive. The receipt handle of
        every message received (yielded yet or not) is appended to ``received`` at once, so
        the caller can make them all visible again whatever happens."""
        seen: set[str] = set()
        while len(seen) < limit:
            response = self._call(
                "receive_message", QueueUrl=self.dlq_url,
                MaxNumberOfMessages=min(BATCH_LIMIT, limit - len(seen)),
                VisibilityTimeout=PEEK_VISIBILITY_SECONDS, WaitTimeSeconds=self._wait_seconds,
                MessageSystemAttributeNames=["SentTimestamp", "ApproximateReceiveCount"],
                MessageAttributeNames=["All"],
            )
            messages = response.get("Messages") or []
            if not messages:
                return
            received.extend(message["ReceiptHandle"] for message in messages)
            for message in messages:
                if message["MessageId"] in seen:  # standard queues may deliver duplicates
                    continue
                seen.add(message["MessageId"])
                yield message

    def _release(self, receipt_handles: list[str]) -> None:
        """Make messages visible again at once (``ChangeMessageVisibilityBatch`` to 0). Failures
        are logged only: the messages reappear by themselves after the peek timeout."""
        from botocore.exceptions import BotoCoreError, ClientError

        for start in range(0, len(receipt_handles), BATCH_LIMIT):
            entries = [{"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                       for i, handle in enumerate(receipt_handles[start:start + BATCH_LIMIT])]
            try:
                response = self.client.change_message_visibility_batch(QueueUrl=self.dlq_url, Entries=entries)
            except (ClientError, BotoCoreError) as exc:
                logger.warning("could not make DLQ messages visible again",
                               extra={"error_code": error_code(exc), "entries": len(entries)})
                continue
            if response.get("Failed"):
                logger.warning("could not make some DLQ messages visible again",
                               extra={"entries": len(response["Failed"])})

    def _entry(self, message: dict[str, Any]) -> DlqEntry:
        body = message.get("Body") or ""
        attributes = message.get("Attributes") or {}
        job = _parse_job(body)
        reason_attribute = (message.get("MessageAttributes") or {}).get(REASON_ATTRIBUTE) or {}
        sent_ms = attributes.get("SentTimestamp")
        age = 0.0
        if sent_ms:
            sent = datetime.fromtimestamp(int(sent_ms) / 1000, UTC)
            age = max(0.0, (self._clock() - sent).total_seconds())
        return DlqEntry(
            message_id=message["MessageId"],
            job_id=job.job_id if job else None,
            site_id=job.site_id if job else None,
            lead_id=job.lead_id if job else None,
            generation=job.generation if job else None,
            poison=job is None,
            reason=reason_attribute.get("StringValue"),
            age_seconds=age,
            receive_count=int(attributes.get("ApproximateReceiveCount") or 0),
            body=body,
        )

    # ------------------------------------------------------------------ list

    def list_messages(self, max_messages: int = 100) -> list[DlqEntry]:
        """Up to ``max_messages`` DLQ messages, oldest first, without deleting any.

        Each message is received with a 30 s visibility timeout (so paging does not see it
        twice) and made visible again as soon as the listing is done, even when it fails.
        """
        handles: list[str] = []
        entries: list[DlqEntry] = []
        try:
            entries.extend(self._entry(message) for message in self._receive(max(0, max_messages), handles))
        finally:
            self._release(handles)
        entries.sort(key=lambda entry: -entry.age_seconds)
        logger.info("listed DLQ", extra={"messages": len(entries),
                                         "poison": sum(1 for e in entries if e.poison)})
        return entries

    # ------------------------------------------------------------------ move tasks

    def redrive_all(self, max_per_second: int | None = None) -> str:
        """Start a move task sending every DLQ message back to the queue it came from.

        ``StartMessageMoveTask(SourceArn=dlq_arn[, MaxNumberOfMessagesPerSecond=n])``; no
        ``DestinationArn``, which SQS reads as "each message's original source queue".

        Args:
            max_per_second: rate limit, 1..500 messages/s; None lets SQS choose.

        Returns:
            the task handle (for :meth:`cancel`).

        Raises:
            ValueError: ``max_per_second`` outside 1..500.
        """
        params: dict[str, Any] = {"SourceArn": self.dlq_arn}
        if max_per_second is not None:
            if not 1 <= max_per_second <= MAX_MOVE_RATE:
                raise ValueError(f"max_per_second must be 1..{MAX_MOVE_RATE}")
            params["MaxNumberOfMessagesPerSecond"] = int(max_per_second)
        handle = str(self._call("start_message_move_task", **params)["TaskHandle"])
        logger.info("DLQ redrive started", extra={"max_per_second": max_per_second})
        return handle

    def status(self, max_results: int = 10) -> list[MoveTask]:
        """The DLQ's most recent move tasks (``ListMessageMoveTasks``, ``max_results`` 1..10),
        newest first as SQS returns them."""
        response = self._call("list_message_move_tasks", SourceArn=self.dlq_arn,
                              MaxResults=max(1, min(10, int(max_results))))
        tasks = []
        for item in response.get("Results") or []:
            started = item.get("StartedTimestamp")
            tasks.append(MoveTask(
                status=str(item.get("Status")),
                task_handle=item.get("TaskHandle"),
                source_arn=item.get("SourceArn"),
                destination_arn=item.get("DestinationArn"),
                moved=int(item.get("ApproximateNumberOfMessagesMoved") or 0),
                to_move=item.get("ApproximateNumberOfMessagesToMove"),
                max_per_second=item.get("MaxNumberOfMessagesPerSecond"),
                started_at=datetime.fromtimestamp(started / 1000, UTC) if started is not None else None,
                failure_reason=item.get("FailureReason"),
            ))
        return tasks

    def cancel(self, task_handle: str) -> int:
        """Cancel a RUNNING move task (``CancelMessageMoveTask``); returns messages moved so far."""
        response = self._call("cancel_message_move_task", TaskHandle=task_handle)
        return int(response.get("ApproximateNumberOfMessagesMoved") or 0)

    def depth(self) -> int:
        """The DLQ's ``ApproximateNumberOfMessages`` (visible messages; SQS's estimate)."""
        response = self._call("get_queue_attributes", QueueUrl=self.dlq_url,
                              AttributeNames=["ApproximateNumberOfMessages"])
        return int((response.get("Attributes") or {}).get("ApproximateNumberOfMessages") or 0)

    def emulate_move_task(self, max_per_second: int | None = None, *, max_messages: int = 100_000) -> int:
        """What ``StartMessageMoveTask(SourceArn=dlq)`` does, done here for an emulator that lacks it (moto):
        receive every DLQ message, send it to the source queue with its body and ALL its message attributes
        (a move task keeps them, ``leadeval_dead_lettered_at`` included, so the worker knows it is a redrive),
        then delete it from the DLQ. ``max_per_second`` paces the sends (None: as fast as possible).

        Returns:
            how many messages were moved.

        Raises:
            ValueError: ``max_per_second`` outside 1..500.
        """
        import time

        if max_per_second is not None and not 1 <= max_per_second <= MAX_MOVE_RATE:
            raise ValueError(f"max_per_second must be 1..{MAX_MOVE_RATE}")
        moved = 0
        received: list[str] = []
        deleted: set[str] = set()
        try:
            for message in self._receive(max_messages, received):
                params: dict[str, Any] = {"QueueUrl": self.source_queue_url, "MessageBody": message["Body"]}
                attributes = _forwardable(message.get("MessageAttributes") or {}, keep_leadeval=True)
                if attributes:
                    params["MessageAttributes"] = attributes
                self._call("send_message", **params)
                self._call("delete_message", QueueUrl=self.dlq_url, ReceiptHandle=message["ReceiptHandle"])
                deleted.add(message["ReceiptHandle"])
                moved += 1
                if max_per_second:
                    time.sleep(1 / max_per_second)
        finally:
            self._release([handle for handle in received if handle not in deleted])
        logger.info("DLQ redrive emulated (no move task on this endpoint)", extra={"moved": moved})
        return moved

    # ------------------------------------------------------------------ selective redrive

    def redrive_jobs(self, job_ids: set[str], *, max_messages: int = 1000) -> int:
        """Move the DLQ messages of ``job_ids`` (JobMessage bodies) back to the source queue.

        Receives up to ``max_messages`` DLQ messages; for each one naming a chosen job: send the
        same body to the source queue (keeping its message attributes except the
        ``leadeval_*`` dead-letter ones), then delete it from the DLQ. Every other message is
        made visible again at the end. A failure after the send but before the delete leaves
        a copy in both queues, which the worker's idempotency makes harmless.

        Returns:
            how many messages were moved (several if a job's message was dead-lettered twice).
        """
        from botocore.exceptions import BotoCoreError, ClientError

        if not job_ids:
            return 0
        moved = 0
        received: list[str] = []
        deleted: set[str] = set()
        try:
            for message in self._receive(max(0, max_messages), received):
                job = _parse_job(message.get("Body") or "")
                if job is None or job.job_id not in job_ids:
                    continue
                attributes = _forwardable(message.get("MessageAttributes") or {})
                params: dict[str, Any] = {"QueueUrl": self.source_queue_url, "MessageBody": message["Body"]}
                if attributes:
                    params["MessageAttributes"] = attributes
                self._call("send_message", **params)
                deleted.add(message["ReceiptHandle"])
                try:
                    self.client.delete_message(QueueUrl=self.dlq_url, ReceiptHandle=message["ReceiptHandle"])
                except (ClientError, BotoCoreError) as exc:
                    logger.warning("redriven message not deleted from the DLQ",
                                   extra={"job_id": job.job_id, "error_code": error_code(exc)})
                moved += 1
                logger.info("job message redriven", extra={"job_id": job.job_id})
        finally:
            self._release([handle for handle in received if handle not in deleted])
        return moved


def _forwardable(attributes: dict[str, Any], *, keep_leadeval: bool = False) -> dict[str, Any]:
    """Received message attributes in ``SendMessage`` form, minus the DLQ's own ``leadeval_*`` (unless
    ``keep_leadeval``: a move task keeps every attribute)."""
    out: dict[str, Any] = {}
    for name, value in attributes.items():
        if name.startswith("leadeval_") and not keep_leadeval:
            continue
        item = {"DataType": value["DataType"]}
        for field_name in ("StringValue", "BinaryValue"):
            if field_name in value:
                item[field_name] = value[field_name]
        out[name] = item
    return out


__all__ = ["DlqEntry", "MoveTask", "SqsRedriver", "is_local_endpoint"]
