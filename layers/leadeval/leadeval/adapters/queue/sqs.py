""":class:`~leadeval.ports.JobQueue` over Amazon SQS: the jobs queue and its dead-letter queue.

The boto3 ``sqs`` client is passed in or built lazily on first use (``boto3`` is imported only
then). botocore failures are translated once, by :func:`map_sqs_error`:

* throttling (HTTP 429, ``ThrottlingException``, ``RequestThrottled``, …) -> ``ThrottledError``;
* credentials, permissions, KMS key problems, a queue that does not exist ->
  ``ConfigurationError`` (an operator must fix the setting; retrying cannot help);
* everything else (5xx, timeouts, connection loss, unexpected 4xx) ->
  :class:`~leadeval.errors.StoreUnavailableError`. SQS is part of the job machinery, not a
  document store, so ``StorageError`` (documents) would mislabel it; ``StoreUnavailableError``
  is the retryable "our own infrastructure is unavailable" error, and the message of the
  raised error names SQS and the error code.

SQS facts used (Amazon SQS API Reference): ``SendMessageBatch`` takes at most 10 entries and
can answer HTTP 200 with some entries in ``Failed``; ``ChangeMessageVisibility`` accepts
0..43,200 seconds (12 hours); message attribute data types are ``String``, ``Number`` and
``Binary``; ``ApproximateNumberOfMessages`` / ``…NotVisible`` / ``…Delayed`` are queue
attributes (Amazon SQS API Reference). moto implements the same calls (tests/contract/test_sqs_queue.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from leadeval.adapters import aws
from leadeval.errors import ConfigurationError, LeadevalError, StoreUnavailableError, ThrottledError
from leadeval.jobs.records import SendResult
from leadeval.models import JobMessage
from leadeval.ports import DEAD_LETTERED_AT_ATTRIBUTE
from leadeval.timeutil import format_ts, utcnow

logger = logging.getLogger(__name__)

#: Entries per ``SendMessageBatch`` / ``ChangeMessageVisibilityBatch`` / ``DeleteMessageBatch``.
BATCH_LIMIT = 10
#: Upper bound of a message's visibility timeout in seconds (ChangeMessageVisibility: 12 h).
MAX_VISIBILITY_TIMEOUT = 43_200
#: Seconds to wait after a throttled SQS call when the response names no ``Retry-After``.
DEFAULT_THROTTLE_RETRY_AFTER = 5.0

#: Message attribute names on dead-lettered messages: the error code (never personal data)
#: and when the worker moved it (ISO 8601 UTC with ``Z``).
REASON_ATTRIBUTE = "leadeval_reason"

_THROTTLE_CODES = frozenset({
    "Throttling", "ThrottlingException", "RequestThrottled", "AWS.SimpleQueueService.RequestThrottled",
    "RequestLimitExceeded", "TooManyRequestsException", "KmsThrottled",
    "AWS.SimpleQueueService.KmsThrottled",
})
_CONFIG_CODES = frozenset({
    "AccessDenied", "AccessDeniedException", "InvalidClientTokenId", "UnrecognizedClientException",
    "SignatureDoesNotMatch", "IncompleteSignature", "ExpiredToken", "ExpiredTokenException",
    "InvalidSecurity", "AWS.SimpleQueueService.InvalidSecurity", "MissingAuthenticationToken",
    "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "QueueDeletedRecently",
    "KmsAccessDenied", "KmsDisabled", "KmsInvalidKeyUsage", "KmsInvalidState", "KmsNotFound",
    "KmsOptInRequired", "AWS.SimpleQueueService.KmsAccessDenied", "AWS.SimpleQueueService.KmsDisabled",
    "AWS.SimpleQueueService.KmsNotFound", "AWS.SimpleQueueService.KmsInvalidState",
    "AWS.SimpleQueueService.KmsInvalidKeyUsage", "AWS.SimpleQueueService.KmsOptInRequired",
})
#: ``ChangeMessageVisibility`` on a message that is no longer in flight (deleted, or visible
#: again): nothing left to change.
_NOT_IN_FLIGHT_CODES = frozenset({
    "ReceiptHandleIsInvalid", "MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight",
    "InvalidReceiptHandle",
})
#: ``ChangeMessageVisibility`` beyond the 12 h total from the first receipt.
_VISIBILITY_LIMIT_CODES = frozenset({"InvalidParameterValue", "AWS.SimpleQueueService.InvalidParameterValue"})
_REASON = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_AWS_HOST = re.compile(
    r"^(?:sqs\.)?(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+)(?:\.queue)?\.amazonaws\.com(?:\.cn)?$")


def error_code(exc: BaseException) -> str:
    """The error code of a botocore ``ClientError``, else the exception's class name."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = (response.get("Error") or {}).get("Code")
        if code:
            return str(code)
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        if status:
            return str(status)
    return type(exc).__name__


def map_sqs_error(exc: BaseException, *, queue_variable: str | None = None) -> LeadevalError:
    """Translate a botocore exception from an SQS call into leadeval's error tree.

    Returns (to be raised ``from exc``): ``ThrottledError`` (throttling codes, HTTP 429;
    ``retry_after`` from a ``Retry-After`` header, else 5 s), ``ConfigurationError``
    (credentials, permissions, KMS, unknown queue; ``variable`` = ``queue_variable`` for an
    unknown queue), otherwise ``StoreUnavailableError`` (5xx, connection errors, timeouts,
    unexpected 4xx).
    """
    from botocore.exceptions import ClientError, NoCredentialsError, PartialCredentialsError

    code = error_code(exc)
    if isinstance(exc, ClientError):
        status = (exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        if code in _THROTTLE_CODES or status == 429:
            headers = (exc.response.get("ResponseMetadata") or {}).get("HTTPHeaders") or {}
            retry_after = DEFAULT_THROTTLE_RETRY_AFTER
            for name, value in headers.items():
                if str(name).lower() == "retry-after":
                    with contextlib.suppress(TypeError, ValueError):
                        retry_after = float(value)
            return ThrottledError(f"SQS throttled ({code})", retry_after=retry_after)
        if code in ("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "QueueDeletedRecently"):
            return ConfigurationError(f"SQS queue does not exist ({code})", variable=queue_variable)
        if code in _CONFIG_CODES or status in (401, 403):
            return ConfigurationError(f"SQS access refused ({code})")
        return StoreUnavailableError(f"SQS call failed ({code})")
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return ConfigurationError(f"SQS credentials missing ({code})")
    return StoreUnavailableError(f"SQS unreachable ({code})")


def sqs_client_for(queue_url: str) -> Any:
    """A boto3 ``sqs`` client suited to ``queue_url``.

    For ``https://sqs.<region>.amazonaws.com/…`` (and the legacy
    ``<region>.queue.amazonaws.com``) the region is taken from the URL; for any other host
    (moto server, ElasticMQ, LocalStack) the URL's scheme and host become the endpoint and the
    region comes from the environment (``AWS_REGION`` / ``AWS_DEFAULT_REGION``, else
    ``us-east-1``). The shared client configuration (:mod:`leadeval.adapters.aws`).
    """
    parts = urlsplit(queue_url)
    host = (parts.hostname or "").lower()
    match = _AWS_HOST.match(host)
    region: str | None
    endpoint: str | None
    if match:
        region, endpoint = match.group("region"), None
    else:
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        endpoint = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None
    return aws.client("sqs", region_name=region, endpoint_url=endpoint)


#: SendMessage ``DelaySeconds`` maximum (15 minutes).
MAX_DELAY_SECONDS = 900


class SqsJobQueue:
    """The jobs queue (and optionally its DLQ) on SQS; implements :class:`~leadeval.ports.JobQueue`.

    Args:
        queue_url: URL of the jobs queue.
        dlq_url: URL of the dead-letter queue (needed by :meth:`dead_letter` only).
        client: a boto3 ``sqs`` client; built by :func:`sqs_client_for` on first use when None.

    Errors: see :func:`map_sqs_error` (``send`` reports failures in its result instead).
    """

    def __init__(self, queue_url: str, dlq_url: str | None = None, *, client: Any = None) -> None:
        if not queue_url:
            raise ConfigurationError("jobs queue URL is empty", variable="LEADEVAL_QUEUE_URL")
        self.queue_url = queue_url
        self.dlq_url = dlq_url
        self._client = client
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SqsJobQueue(queue_url={self.queue_url!r}, dlq_url={self.dlq_url!r})"

    @property
    def client(self) -> Any:
        """The boto3 SQS client (built on first access when none was given)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = sqs_client_for(self.queue_url)
        return self._client

    # ------------------------------------------------------------------ send

    def send(self, messages: Sequence[JobMessage]) -> SendResult:
        """Send ``messages`` with ``SendMessageBatch``, 10 entries per call.

        Each entry: ``Id`` = its index within the call, body = ``message.model_dump_json()``,
        message attributes ``job_id`` (String) and ``generation`` (Number) for operators.
        A ``Failed`` entry of an HTTP 200 answer puts that job id in ``failed``; so does an
        entry the answer does not mention. A whole call failing with a ``ClientError`` fails
        its chunk (code logged) and the next chunk is still tried; a connection-level failure
        (``BotoCoreError``: endpoint unreachable, timeouts after botocore's retries) fails the
        chunk and every remaining one without further calls, so a sweep ends promptly.

        Returns:
            ``SendResult(sent=[job ids], failed=[job ids], calls=API calls made)``. Never raises
            for SQS failures.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        sent: list[str] = []
        failed: list[str] = []
        calls = 0
        chunks = [list(messages[i:i + BATCH_LIMIT]) for i in range(0, len(messages), BATCH_LIMIT)]
        for number, chunk in enumerate(chunks):
            entries = [
                {
                    "Id": str(index),
                    "MessageBody": message.model_dump_json(),
                    "MessageAttributes": {
                        "job_id": {"DataType": "String", "StringValue": message.job_id},
                        "generation": {"DataType": "Number", "StringValue": str(message.generation)},
                    },
                }
                for index, message in enumerate(chunk)
            ]
            calls += 1
            try:
                response = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except ClientError as exc:
                logger.warning("SendMessageBatch failed", extra={"error_code": error_code(exc),
                                                                  "entries": len(chunk)})
                failed.extend(message.job_id for message in chunk)
                continue
            except BotoCoreError as exc:
                remaining = [m.job_id for c in chunks[number:] for m in c]
                logger.error("SQS unreachable; remaining messages not sent",
                             extra={"error_code": error_code(exc), "entries": len(remaining)})
                failed.extend(remaining)
                break
            ok_ids = {str(item.get("Id")) for item in response.get("Successful") or []}
            for item in response.get("Failed") or []:
                logger.warning("SendMessageBatch entry rejected",
                               extra={"error_code": item.get("Code"),
                                      "sender_fault": item.get("SenderFault")})
            for index, message in enumerate(chunk):
                (sent if str(index) in ok_ids else failed).append(message.job_id)
        if failed:
            logger.warning("messages not sent", extra={"sent": len(sent), "failed": len(failed),
                                                       "calls": calls})
        return SendResult(sent=sent, failed=failed, calls=calls)

    # ------------------------------------------------------------------ depth

    def depth(self) -> int:
        """Approximate messages on the jobs queue: visible + in flight + delayed.

        Sum of the queue attributes ``ApproximateNumberOfMessages``,
        ``ApproximateNumberOfMessagesNotVisible`` and ``ApproximateNumberOfMessagesDelayed``
        (one ``GetQueueAttributes`` call; the values are approximate by SQS's definition).

        Raises:
            ThrottledError, ConfigurationError, StoreUnavailableError: see :func:`map_sqs_error`.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                 "ApproximateNumberOfMessagesDelayed"]
        try:
            response = self.client.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=names)
        except (ClientError, BotoCoreError) as exc:
            raise map_sqs_error(exc, queue_variable="LEADEVAL_QUEUE_URL") from exc
        attributes = response.get("Attributes") or {}
        return sum(int(attributes.get(name, 0) or 0) for name in names)

    # ------------------------------------------------------------------ visibility

    def change_visibility(self, receipt_handle: str, seconds: int) -> None:
        """Make a received message invisible for ``seconds`` more (clamped to 0..43,200).

        A message no longer in flight (already deleted or visible again:
        ``ReceiptHandleIsInvalid``, ``MessageNotInflight``) has nothing to change: logged at
        WARNING, not raised.

        SQS also caps a message's *total* visibility at 12 hours from its first receipt and
        rejects (``InvalidParameterValue``) a value beyond the time left, without lowering it
        itself (ChangeMessageVisibility API reference). That rejection is logged at WARNING,
        not raised: the message keeps its current timeout and reappears when it ends, and the
        job's database lease still guards against early work.

        Raises:
            ThrottledError, ConfigurationError, StoreUnavailableError: see :func:`map_sqs_error`.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        timeout = max(0, min(MAX_VISIBILITY_TIMEOUT, int(seconds)))
        try:
            self.client.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=receipt_handle,
                                                  VisibilityTimeout=timeout)
        except ClientError as exc:
            code = error_code(exc)
            if code in _NOT_IN_FLIGHT_CODES:
                logger.warning("message no longer in flight; visibility unchanged",
                               extra={"error_code": code})
                return
            if code in _VISIBILITY_LIMIT_CODES and timeout > 0:
                logger.warning("visibility beyond the 12 h total limit; unchanged",
                               extra={"error_code": code, "seconds": timeout})
                return
            raise map_sqs_error(exc, queue_variable="LEADEVAL_QUEUE_URL") from exc
        except BotoCoreError as exc:
            raise map_sqs_error(exc) from exc

    # ------------------------------------------------------------------ requeue

    def requeue(self, body: str, *, delay_seconds: int) -> None:
        """Send ``body`` again to the jobs queue with ``DelaySeconds`` = ``delay_seconds`` clamped to
        0..900 (the SQS maximum, SendMessage API reference). The snoozing worker acks the original
        afterwards, so a long throttle never counts toward the queue's ``maxReceiveCount``.

        Raises:
            ThrottledError, StoreUnavailableError, ConfigurationError: see :func:`map_sqs_error`.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        delay = max(0, min(MAX_DELAY_SECONDS, int(delay_seconds)))
        try:
            self.client.send_message(QueueUrl=self.queue_url, MessageBody=body, DelaySeconds=delay)
        except (ClientError, BotoCoreError) as exc:
            raise map_sqs_error(exc, queue_variable="LEADEVAL_QUEUE_URL") from exc

    # ------------------------------------------------------------------ dead letter

    def dead_letter(self, body: str, *, reason: str) -> None:
        """Send ``body`` unchanged to the DLQ with message attributes ``leadeval_reason``
        (``reason``, an error code) and ``leadeval_dead_lettered_at`` (now, ISO 8601 UTC).

        ``reason`` must look like an error code (``[A-Za-z0-9_.:-]{1,64}``); anything else is
        replaced by ``Unspecified`` so free text (possibly personal data) never reaches the
        DLQ, which keeps messages for 14 days.

        Raises:
            ConfigurationError: no DLQ URL was given, or see :func:`map_sqs_error`.
            ThrottledError, StoreUnavailableError: see :func:`map_sqs_error`.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        if not self.dlq_url:
            raise ConfigurationError("dead-letter queue URL is not configured", variable="LEADEVAL_DLQ_URL")
        if not _REASON.match(reason or ""):
            logger.warning("dead-letter reason is not an error code; replaced")
            reason = "Unspecified"
        attributes = {
            REASON_ATTRIBUTE: {"DataType": "String", "StringValue": reason},
            DEAD_LETTERED_AT_ATTRIBUTE: {"DataType": "String", "StringValue": format_ts(utcnow()) or ""},
        }
        try:
            response = self.client.send_message(QueueUrl=self.dlq_url, MessageBody=body,
                                                MessageAttributes=attributes)
        except (ClientError, BotoCoreError) as exc:
            raise map_sqs_error(exc, queue_variable="LEADEVAL_DLQ_URL") from exc
        logger.info("message dead-lettered", extra={"reason": reason,
                                                    "message_id": response.get("MessageId")})
