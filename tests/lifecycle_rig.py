"""A virtual-clock rig for job-lifecycle tests: the real sweep and worker handlers over a SQLite job store,
a :class:`~leadeval_tools.fakes.memory.MemoryQueue` (jobs queue + DLQ, visibility timeouts, receive counts, redrive
policy) and a vision model whose trouble (throttling, 5xx, permanent refusals) is scripted per job.

Time is virtual: ``rig.clock`` drives the queue's visibility timeouts, the job store's leases and the
handlers (``Wiring`` override ``clock``), so a test can jump an hour without waiting. The Lambda event
source mapping is played by :meth:`LifecycleRig.work`: receive a batch, call ``handle_worker`` with the
SQS event Lambda would send, delete the records not reported in ``batchItemFailures``.

Used by ``tests/integration/test_lifecycle.py`` and ``tests/unit/test_lifecycle_property.py``.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from leadeval.adapters.idempotency import SqlitePersistenceLayer
from leadeval.config import Settings
from leadeval.errors import LeadevalError, ModelRejected, ModelUnavailableError, ThrottledError
from leadeval.handlers import handle_sweep, handle_worker
from leadeval.jobs.process import ProcessContext
from leadeval.jobs.retry import RetryPolicy
from leadeval.models import (
    Extraction,
    Job,
    JobMessage,
    JobStatus,
    Lead,
    LeadDocument,
    ModelUsage,
    PreparedDocument,
    Usage,
)
from leadeval.timeutil import usage_month
from leadeval.wiring import Wiring
from leadeval_tools.appdb import create_application_tables
from leadeval_tools.fakes.memory import FakeMessage, MemoryDocumentStore, MemoryQueue
from leadeval_tools.local import FakeLambdaContext, invoke_worker
from tests.helpers import NOW, paystub_facts, text_pdf

BASE = NOW  # 2026-11-29 12:00 UTC: the virtual clock starts here
SITE = "site_sunrise"
PDF = text_pdf(["ACME LOGISTICS - EARNINGS STATEMENT", "Employee: Dana Whitfield", "Gross pay 5,000.00"])

#: Trouble a job's document can meet at the model, consumed one per call in order.
THROTTLE, UNAVAILABLE, REJECTED = "429", "5xx", "4xx"


def doc_id(job_id: str) -> str:
    """The one document of a rig job."""
    return f"doc_{job_id}"


def job_of(document_id: str) -> str:
    """The job a rig document belongs to."""
    return document_id.removeprefix("doc_")


class VirtualClock:
    """Seconds since the epoch (float) that only move when told; ``now()`` is the aware UTC datetime."""

    def __init__(self, start: datetime = BASE) -> None:
        self.t = start.timestamp()

    def now(self) -> datetime:
        """The virtual time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.t, UTC)

    def epoch(self) -> float:
        """The virtual time in epoch seconds (the MemoryQueue's clock)."""
        return self.t

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (>= 0)."""
        assert seconds >= 0
        self.t += seconds


class TroubleModel:
    """A :class:`~leadeval.ports.VisionModel` answering clean pay-stub facts, after the trouble scripted for
    each document: ``trouble[document_id]`` is a list of ``"429"`` / ``"5xx"`` / ``"4xx"`` consumed one per
    call; ``broken`` documents answer 5xx for ever (until removed). ``calls`` counts every call per job,
    ``answers`` only those that returned facts (the calls that cost a real extraction)."""

    name = "trouble"

    def __init__(self, *, retry_after: float = 30.0) -> None:
        self.retry_after = retry_after
        self.trouble: dict[str, list[str]] = {}
        self.broken: set[str] = set()
        self.calls: Counter[str] = Counter()
        self.answers: Counter[str] = Counter()
        self.gate: Callable[[], None] | None = None  # called first in every call (tests block here)
        self._lock = threading.Lock()

    def extract(self, document: PreparedDocument) -> Extraction:
        if self.gate is not None:
            self.gate()
        job_id = job_of(document.document_id)
        with self._lock:
            self.calls[job_id] += 1
        script = self.trouble.get(document.document_id)
        kind = script.pop(0) if script else (UNAVAILABLE if document.document_id in self.broken else None)
        if kind == THROTTLE:
            raise ThrottledError("429 Too Many Requests", retry_after=self.retry_after)
        if kind == UNAVAILABLE:
            raise ModelUnavailableError("503 Service Unavailable")
        if kind == REJECTED:
            raise ModelRejected("400 Bad Request")
        with self._lock:
            self.answers[job_id] += 1
        return Extraction(facts=paystub_facts(), model=self.name, model_version="trouble-1",
                          usage=ModelUsage(prompt_tokens=100, completion_tokens=50))


def fast_prepare(document_id: str, data: bytes) -> PreparedDocument:
    """Document preparation without PDF parsing (the lifecycle does not depend on it)."""
    return PreparedDocument(document_id=document_id, detected_type="pdf", sha256=hashlib.sha256(data).hexdigest(),
                            size_bytes=len(data), page_count=1, text="EARNINGS STATEMENT")


@dataclass
class WorkResult:
    """One simulated worker invocation: the records delivered, the handler's answer, the acked ids."""

    delivered: list[FakeMessage] = field(default_factory=list)
    failures: set[str] = field(default_factory=set)

    @property
    def acked(self) -> list[str]:
        """Message ids deleted after the invocation (not reported in batchItemFailures)."""
        return [m.message_id for m in self.delivered if m.message_id not in self.failures]


class LifecycleRig:
    """Sweep, worker, crash, operator actions and a drain, on virtual time (see the module docstring).

    Args:
        root: a folder for the SQLite file (job store and idempotency records).
        max_retries: the attempt limit of the jobs it seeds (``LEADEVAL_MAX_ATTEMPTS``).
        lease_seconds, rescue_after_seconds, retry_base_seconds, retry_cap_seconds: settings.
        visibility_timeout, max_receive_count: the jobs queue's (template: 6 x the worker timeout, 10).
        real_prepare: use the real document preparation (text PDF) instead of :func:`fast_prepare`.
    """

    def __init__(self, root: Path, *, max_retries: int = 3, lease_seconds: int = 120,
                 rescue_after_seconds: int = 600, retry_base_seconds: int = 10, retry_cap_seconds: int = 60,
                 visibility_timeout: float = 360.0, max_receive_count: int = 10, retry_after: float = 30.0,
                 real_prepare: bool = False) -> None:
        self.clock = VirtualClock()
        self.queue = MemoryQueue(visibility_timeout=visibility_timeout, max_receive_count=max_receive_count,
                                 clock=self.clock.epoch)
        self.model = TroubleModel(retry_after=retry_after)
        self.documents = MemoryDocumentStore()
        self.settings = Settings.from_env({
            "LEADEVAL_DATABASE_URL": f"sqlite:///{root}/jobs.db",
            "LEADEVAL_MAX_ATTEMPTS": str(max_retries), "LEADEVAL_LEASE_SECONDS": str(lease_seconds),
            "LEADEVAL_RESCUE_AFTER_SECONDS": str(rescue_after_seconds),
            "LEADEVAL_RETRY_BASE_SECONDS": str(retry_base_seconds),
            "LEADEVAL_RETRY_CAP_SECONDS": str(retry_cap_seconds)})
        self.real_prepare = real_prepare
        self._idempotency_layers: list[SqlitePersistenceLayer] = []
        self.services = self._services()
        create_application_tables(self.services.store)
        self.services.store.migrate()
        self.store = self.services.store
        self.poison: list[str] = []  # malformed bodies injected, in order
        self.crashed_after_ai: Counter[str] = Counter()  # per job: workers killed between AI call and write
        self.redriven: Counter[str] = Counter()  # per job: DLQ messages moved back by an operator
        self.restarts: Counter[str] = Counter()  # per job: claims that restarted a dead-lettered job
        self.worker_invocations = 0
        self._spy_claims()
        self._log_level = logging.getLogger("leadeval").level
        logging.getLogger("leadeval").setLevel(logging.WARNING)  # restored by close()

    # ------------------------------------------------------------------ set-up
    def _services(self) -> Wiring:
        idempotency = SqlitePersistenceLayer(self.settings.sqlite_path())
        self._idempotency_layers.append(idempotency)
        services = Wiring(self.settings, queue=self.queue, documents=self.documents, model=self.model,
                                  clock=self.clock.now, idempotency_store=idempotency)
        s = self.settings
        services.replace(process_context=ProcessContext(
            store=services.store, documents=self.documents, model=self.model,
            retry_policy=RetryPolicy(max_attempts=s.max_attempts, base_seconds=s.retry_base_seconds,
                                     cap_seconds=s.retry_cap_seconds),
            lease_seconds=s.lease_seconds, prepare=None if self.real_prepare else fast_prepare))
        return services

    def twin(self) -> Wiring:
        """Services of a second Lambda container: the same database file, queue, model and clock, but its own
        connections (job store and idempotency records). Close it when done."""
        return self._services()

    def _spy_claims(self) -> None:
        real_claim = self.store.claim

        def claim(message: JobMessage, **kwargs: Any):
            result = real_claim(message, **kwargs)
            if result.redriven:
                self.restarts[message.job_id] += 1
            return result

        self.store.claim = claim  # type: ignore[method-assign]

    def seed(self, job_ids: Iterable[str], *, quota: tuple[int, int] = (1, 1000),
             requested_at: datetime | None = None) -> list[str]:
        """Create a lead, one stored document and a pending job for each id (requested an hour before the
        virtual start, or at ``requested_at``)."""
        ids = list(job_ids)
        requested = requested_at or BASE - timedelta(hours=1)
        self.store.add_usage(Usage(site_id=SITE, month=usage_month(requested), evaluation_count=quota[0],
                                   quota_limit=quota[1]))
        for i, job_id in enumerate(ids):
            lead_id = f"lead_{job_id}"
            self.store.create_lead(Lead(id=lead_id, site_id=SITE, first_name="Dana", last_name="Whitfield",
                                        monthly_rent=1850))
            key = f"{SITE}/{lead_id}/{doc_id(job_id)}.pdf"
            self.documents.put(key, PDF)
            self.store.add_document(LeadDocument(id=doc_id(job_id), lead_id=lead_id, document_type="pay_stub",
                                                 storage_key=key, uploaded_at=requested))
            self.store.create_job(Job(id=job_id, site_id=SITE, lead_id=lead_id, status=JobStatus.PENDING,
                                      requested_at=requested + timedelta(seconds=i),
                                      max_retries=self.settings.max_attempts))
        return ids

    # ------------------------------------------------------------------ actors
    def sweep(self) -> dict[str, int]:
        """One scheduled sweep through the real handler."""
        return handle_sweep({"execution_id": "rig"}, None, self.services)

    def receive(self, max_messages: int = 10) -> list[FakeMessage]:
        """Messages the event source mapping would hand to one invocation (now hidden)."""
        return self.queue.receive(max_messages)

    def invoke(self, messages: list[FakeMessage]) -> WorkResult:
        """Run the worker handler on received messages and delete the records it did not report failed."""
        result = WorkResult(delivered=list(messages))
        if not messages:
            return result
        self.worker_invocations += 1
        answer = invoke_worker(lambda event, context: handle_worker(event, context, self.services),
                               self.queue.sqs_event(messages), FakeLambdaContext(timeout_seconds=900))
        result.failures = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
        for m in messages:
            if m.message_id not in result.failures:
                self.queue.delete(m.receipt_handle or "")
        return result

    def work(self, max_messages: int = 10) -> WorkResult:
        """One worker invocation on the visible messages (up to ``max_messages``)."""
        return self.invoke(self.receive(max_messages))

    def crash(self, *, after_ai: bool) -> str | None:
        """A worker receives one message, claims its job and dies (SIGKILL): before the AI call, or after
        it and before writing the result. Nothing is settled or deleted: the message comes back after its
        visibility timeout and the job's lease expires. Returns the job id when a job was claimed."""
        messages = self.receive(1)
        if not messages:
            return None
        try:
            message = JobMessage.model_validate_json(messages[0].body)
        except ValueError:
            return None
        claim = self.store.claim(message, now=self.clock.now(), lease_seconds=self.settings.lease_seconds,
                                 sent_at=datetime.fromtimestamp(messages[0].sent_at, UTC))
        if claim.status != "claimed":
            return None
        if after_ai:
            try:
                self.model.extract(fast_prepare(doc_id(message.job_id), PDF))
            except LeadevalError:
                pass  # the provider failed; the worker dies before recording anything either way
            else:
                self.crashed_after_ai[message.job_id] += 1
        return message.job_id

    def put_poison(self, body: str) -> str:
        """Enqueue a malformed body (not JSON, no job id, an unknown job)."""
        self.poison.append(body)
        return self.queue.put(body)

    def duplicate(self, job_id: str) -> bool:
        """Deliver a job's current message twice: a copy of a queued message for the job goes on the queue.

        An SQS duplicate is the same stored message delivered again, so the copy keeps the original's send time
        (``SentTimestamp``); only a redrive or a new send gives a message a later one."""
        for m in list(self.queue.messages.values()):
            if _body_job(m.body) == job_id:
                copy = self.queue.put(m.body)
                self.queue.messages[copy].sent_at = m.sent_at
                return True
        return False

    # ------------------------------------------------------------------ operators
    def cancel(self, job_id: str) -> bool:
        """``leadeval jobs cancel``."""
        return self.store.cancel(job_id, now=self.clock.now())

    def retry(self, job_id: str) -> bool:
        """``leadeval jobs retry``."""
        return self.store.requeue(job_id, now=self.clock.now())

    def redrive(self, job_ids: set[str] | None = None) -> int:
        """``leadeval dlq redrive [--job …]``: DLQ messages back to the jobs queue (new ids, sent now)."""
        chosen = [m for m in self.queue.dlq if job_ids is None or _body_job(m.body) in job_ids]
        for m in chosen:
            job = _body_job(m.body)
            if job is not None:
                self.redriven[job] += 1
        return self.queue.redrive(job_ids)

    # ------------------------------------------------------------------ observation
    def job(self, job_id: str) -> Job:
        """The job's row (asserts it exists)."""
        job = self.store.get_job(job_id)
        assert job is not None, job_id
        return job

    def jobs(self) -> list[Job]:
        """Every job, newest request first."""
        return self.store.list_jobs(limit=10_000)

    def evaluations_per_job(self) -> Counter[str]:
        """Rows of the application's lead_ai_evaluations per job id (read straight from the tables; a row
        without leadeval's details would count under None)."""
        rows = self.store.executor.execute_batch([_raw(
            "SELECT x.job_id FROM lead_ai_evaluations e "
            "LEFT JOIN leadeval_evaluations x ON x.evaluation_id = e.id")])[0]
        return Counter(r["job_id"] for r in rows)

    def dlq_jobs(self) -> list[str | None]:
        """The job id of each DLQ message (None for bodies that are not job messages)."""
        return [_body_job(m.body) for m in self.queue.dlq]

    def queued_jobs(self) -> Counter[str | None]:
        """Messages on the jobs queue per job id (visible or in flight)."""
        return Counter(_body_job(m.body) for m in self.queue.messages.values())

    def active(self) -> list[Job]:
        """Jobs not yet in a terminal state."""
        return [j for j in self.jobs() if j.state.active]

    # ------------------------------------------------------------------ drain
    def settle(self, max_invocations: int = 200) -> int:
        """Run worker invocations until no message is visible now; returns the invocations made."""
        made = 0
        while made < max_invocations:
            if not self.work().delivered:
                return made
            made += 1
        raise AssertionError(f"still delivering after {max_invocations} invocations")

    def drain(self, *, step_seconds: float | None = None, max_rounds: int = 60) -> int:
        """Advance time past every lease, backoff, visibility timeout and rescue horizon, sweeping and
        working, until no job is active and the jobs queue is empty. Returns the rounds used.

        Raises:
            AssertionError: still not quiet after ``max_rounds`` rounds.
        """
        s = self.settings
        step = step_seconds or max(s.lease_seconds + s.rescue_after_seconds + 1, s.retry_cap_seconds + 1,
                                   self.queue.visibility_timeout + 1, self.model.retry_after + 1)
        for rounds in range(1, max_rounds + 1):
            self.sweep()
            self.settle()
            if not self.active() and not self.queue.messages:
                return rounds
            self.clock.advance(step)
        state = [(j.id, str(j.state), j.attempts, j.lease_expires_at) for j in self.active()]
        raise AssertionError(f"not quiet after {max_rounds} rounds: active {state}, "
                             f"queue {[(m.body, m.visible_at) for m in self.queue.messages.values()]}")

    def close(self) -> None:
        """Close the store and the idempotency records' connections; restore the package's log level."""
        logging.getLogger("leadeval").setLevel(self._log_level)
        self.services.close()
        for layer in self._idempotency_layers:
            if layer._conn is not None:
                layer._conn.close()
                layer._conn = None


def _body_job(body: str) -> str | None:
    try:
        return JobMessage.model_validate_json(body).job_id
    except (ValueError, LeadevalError):
        return None


def _raw(sql: str):
    from leadeval.adapters.jobstore.sql import Statement

    return Statement("raw", sql, {})
