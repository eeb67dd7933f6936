"""In-memory fakes of the ports, for tests (shipped in the package, procrastinate/structlog style).

- :class:`MemoryDocumentStore`: a dict of bytes, with injectable failures.
- :class:`ScriptedVisionModel`: answers from a per-document script (facts, notes or errors).
- :class:`MemoryQueue`: an SQS-like queue with a DLQ, visibility timeouts, receive counts and a
  redrive policy, on a virtual clock (no wall-clock waits), for lifecycle and property tests.

The contract suites keep them honest: the same assertions run over the fakes and the real adapters.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from leadeval.errors import DocumentMissing, DocumentTooLarge, LeadevalError
from leadeval.jobs.records import SendResult
from leadeval.models import ExtractedFacts, Extraction, JobMessage, ModelUsage, PreparedDocument


class MemoryDocumentStore:
    """A :class:`~leadeval.ports.DocumentStore` in a dict. ``failures[key]`` (an exception) is raised
    on the next ``get`` of that key (``sticky=True`` keeps raising)."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.failures: dict[str, tuple[LeadevalError, bool]] = {}
        self.gets: list[str] = []

    def fail(self, key: str, error: LeadevalError, *, sticky: bool = False) -> None:
        """Make ``get(key)`` raise ``error`` (once, or until cleared when sticky)."""
        self.failures[key] = (error, sticky)

    def get(self, key: str, *, max_bytes: int) -> bytes:
        self.gets.append(key)
        if key in self.failures:
            error, sticky = self.failures[key]
            if not sticky:
                del self.failures[key]
            raise error
        if key not in self.objects:
            raise DocumentMissing("missing from storage")
        data = self.objects[key]
        if len(data) > max_bytes:
            raise DocumentTooLarge(f"{len(data)} bytes exceeds {max_bytes}", size=len(data))
        return data

    def put(self, key: str, data: bytes, *, content_type: str | None = None) -> None:
        self.objects[key] = bytes(data)


Answer = ExtractedFacts | Extraction | LeadevalError | Callable[[PreparedDocument], Any]


class ScriptedVisionModel:
    """A :class:`~leadeval.ports.VisionModel` answering from ``script[document_id]`` (a list consumed in
    order; the last entry repeats) or ``default``. Entries: ExtractedFacts, an Extraction, an exception to
    raise, or a callable. Counts calls per document in ``calls``."""

    name = "scripted"

    def __init__(self, script: dict[str, list[Answer]] | None = None, *,
                 default: Answer | None = None) -> None:
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.default = default
        self.calls: list[str] = []

    def extract(self, document: PreparedDocument) -> Extraction:
        self.calls.append(document.document_id)
        entries = self.script.get(document.document_id)
        answer = (entries.pop(0) if len(entries) > 1 else entries[0]) if entries else self.default
        if callable(answer) and not isinstance(answer, ExtractedFacts | Extraction):
            answer = answer(document)
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, ExtractedFacts):
            return Extraction(facts=answer, model=self.name, model_version="scripted-1",
                              usage=ModelUsage(prompt_tokens=100, completion_tokens=50))
        if isinstance(answer, Extraction):
            return answer
        return Extraction(facts=None, note="needs a vision model", model=self.name)


@dataclass
class FakeMessage:
    """A message in :class:`MemoryQueue`."""

    message_id: str
    body: str
    visible_at: float = 0.0
    receive_count: int = 0
    receipt_handle: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    sent_at: float = 0.0  #: the queue's clock when the message was sent (SQS ``SentTimestamp``)


class MemoryQueue:
    """An SQS standard queue + DLQ on a virtual clock (``now()`` returns ``clock[0]`` seconds).

    Implements :class:`~leadeval.ports.JobQueue` plus the consumer side (``receive``, ``delete``) and
    the redrive policy: a message received more than ``max_receive_count`` times moves to the DLQ on
    the next receive, as SQS does. ``reject`` makes ``send`` report those job ids failed.
    """

    def __init__(self, *, visibility_timeout: float = 30.0, max_receive_count: int = 10,
                 clock: Callable[[], float] | None = None) -> None:
        self.visibility_timeout = visibility_timeout
        self.max_receive_count = max_receive_count
        self._clock = clock or (lambda: 0.0)
        self.messages: dict[str, FakeMessage] = {}
        self.dlq: list[FakeMessage] = []
        self.reject: set[str] = set()
        self.send_calls = 0
        self._ids = itertools.count(1)

    def now(self) -> float:
        """The virtual time (seconds)."""
        return self._clock()

    # ---- producer side (JobQueue)
    def send(self, messages: Sequence[JobMessage]) -> SendResult:
        sent, failed, calls = [], [], 0
        for start in range(0, len(messages), 10):
            calls += 1
            for m in messages[start:start + 10]:
                if m.job_id in self.reject:
                    failed.append(m.job_id)
                    continue
                self.put(m.model_dump_json())
                sent.append(m.job_id)
        self.send_calls += calls
        return SendResult(sent=sent, failed=failed, calls=calls)

    def put(self, body: str, *, delay: float = 0.0) -> str:
        """Enqueue a raw body (tests use it for malformed messages and redrives)."""
        mid = f"m{next(self._ids)}"
        self.messages[mid] = FakeMessage(mid, body, visible_at=self.now() + delay, sent_at=self.now())
        return mid

    def depth(self) -> int:
        return len(self.messages)

    def change_visibility(self, receipt_handle: str, seconds: int) -> None:
        for m in self.messages.values():
            if m.receipt_handle == receipt_handle:
                m.visible_at = self.now() + max(0, min(43_200, seconds))
                return

    def requeue(self, body: str, *, delay_seconds: int) -> None:
        """A new copy of ``body`` delivered after ``min(delay_seconds, 900)`` virtual seconds."""
        self.put(body, delay=max(0, min(900, delay_seconds)))

    def dead_letter(self, body: str, *, reason: str) -> None:
        self.dlq.append(FakeMessage(f"d{next(self._ids)}", body, attributes={"leadeval_reason": reason},
                                    sent_at=self.now()))

    # ---- consumer side
    def receive(self, max_messages: int = 10) -> list[FakeMessage]:
        """Visible messages (up to ``max_messages``), hidden for the visibility timeout."""
        out: list[FakeMessage] = []
        for mid in sorted(self.messages, key=lambda k: int(k[1:])):
            m = self.messages[mid]
            if m.visible_at > self.now():
                continue
            if m.receive_count >= self.max_receive_count:
                self.dlq.append(self.messages.pop(mid))
                continue
            m.receive_count += 1
            m.receipt_handle = f"{mid}-r{m.receive_count}"
            m.visible_at = self.now() + self.visibility_timeout
            out.append(m)
            if len(out) >= max_messages:
                break
        return out

    def delete(self, receipt_handle: str) -> None:
        """Delete the message this receipt handle belongs to (latest receive only)."""
        for mid, m in list(self.messages.items()):
            if m.receipt_handle == receipt_handle:
                del self.messages[mid]

    def redrive(self, job_ids: set[str] | None = None) -> int:
        """Move DLQ messages back to the queue (all, or those of ``job_ids``); new message ids and send
        times, as SQS."""
        moved = 0
        for m in list(self.dlq):
            job_id = _job_id(m.body)
            if job_ids is None or job_id in job_ids:
                self.dlq.remove(m)
                self.put(m.body)
                moved += 1
        return moved

    def sqs_event(self, messages: Sequence[FakeMessage]) -> dict[str, Any]:
        """The Lambda SQS event for received messages (``SentTimestamp``: the send time on the queue's clock
        in epoch milliseconds; "0" with the default clock, which the worker reads as unknown)."""
        return {"Records": [{
            "messageId": m.message_id, "receiptHandle": m.receipt_handle, "body": m.body,
            "attributes": {"ApproximateReceiveCount": str(m.receive_count), "SentTimestamp": str(int(m.sent_at * 1000)),
                           "SenderId": "TEST", "ApproximateFirstReceiveTimestamp": "0"},
            "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:jobs", "awsRegion": "us-east-1"}
            for m in messages]}


def _job_id(body: str) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data.get("job_id") if isinstance(data, dict) else None
