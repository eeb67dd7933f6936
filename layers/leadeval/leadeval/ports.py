"""Ports: what the services need from the outside world, as Protocols.

One adapter per backend implements each (``adapters/``), plus an in-memory fake where useful
(``testing.py``); the contract suites in ``tests/contract`` run the same assertions over all of
them. Adapters raise only :mod:`leadeval.errors` types.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from leadeval.models import (
    Evaluation,
    Extraction,
    Job,
    JobMessage,
    JobStatus,
    Lead,
    LeadDocument,
    PreparedDocument,
    Usage,
)


@dataclass(frozen=True)
class SweepOutcome:
    """What one sweep's database step did.

    Attributes:
        claimed: jobs moved ``pending -> queued`` by this sweep (to be sent to SQS).
        rescued_to_pending: long-expired ``queued``/``processing`` jobs put back to pending.
        rescued_to_failed: long-expired jobs whose attempts were spent, failed.
    """

    claimed: list[Job]
    rescued_to_pending: int = 0
    rescued_to_failed: int = 0


ClaimStatus = Literal[
    "claimed", "exhausted", "not_found", "stale_generation", "in_flight", "terminal", "cancelled"
]


@dataclass(frozen=True)
class ClaimResult:
    """The worker's claim of one job, and what it loaded with it (one D1 request).

    ``status`` is ``claimed`` when this worker now holds the job (``processing``, attempt
    counted, lease set); ``exhausted`` when the message found its job's last attempt crashed (the
    job is now failed and dead-lettered: move the message to the DLQ); otherwise the message lost (job unknown, superseded generation, held
    by another worker, already terminal or cancelled) and must be acked without work, except
    ``not_found`` (poison: dead-letter it). ``lead`` is None when the lead is missing or of
    another site; ``documents`` holds the lead's non-deleted documents of the job's site.
    ``redriven`` is True when the claim restarted a dead-lettered job afresh.
    """

    status: ClaimStatus
    job: Job | None = None
    lead: Lead | None = None
    documents: list[LeadDocument] = field(default_factory=list)
    usage: Usage | None = None
    redriven: bool = False


@dataclass(frozen=True)
class PriorSubmission:
    """A file hash seen before, with the hash of the applicant name it came with.

    The index keeps only these two hashes (no ids, no tenant data), so it can be shared by
    every site: the same file with a *different* name hash is the signal.
    """

    file_sha256: str
    name_hash: str


class JobStore(Protocol):
    """The job database (SQLite, D1, PostgreSQL). Every transition is one guarded statement;
    a transition that loses a race returns False and changes nothing.

    Raises (any method): StoreUnavailableError (transient), ThrottledError, ConfigurationError.
    """

    def migrate(self) -> list[str]:
        """Apply pending migrations; return the names applied (empty when up to date)."""
        ...

    def sweep(self, *, now: datetime, limit: int, lease_seconds: float,
              rescue_after_seconds: float) -> SweepOutcome:
        """Rescue long-expired jobs, then claim up to ``limit`` due pending jobs
        (``pending -> queued``, ``queued_at = now``, ``lease_expires_at = now + lease_seconds``),
        oldest ``requested_at`` first. Two concurrent sweeps never claim the same job."""
        ...

    def release(self, jobs: Sequence[Job], *, now: datetime) -> int:
        """Put jobs whose message SQS rejected back to pending (guarded on ``queued`` and the
        generation); return how many moved."""
        ...

    def claim(self, message: JobMessage, *, now: datetime, lease_seconds: float) -> ClaimResult:
        """Claim the message's job for processing and load its lead, documents and usage row."""
        ...

    def prior_submissions(self, file_hashes: Sequence[str]) -> list[PriorSubmission]:
        """Earlier submissions of these file hashes, in any site (hashes only, no tenant data)."""
        ...

    def complete(self, job: Job, evaluation: Evaluation, *, now: datetime,
                 fingerprints: Sequence[PriorSubmission] = ()) -> bool:
        """Atomically: insert the evaluation (unique on job_id), update the lead's
        ai_score/ai_label/status, mark the job completed with ``evaluation_id``, and record the
        document fingerprints. Replaying it is harmless. False if the job was no longer held."""
        ...

    def retry_later(self, job: Job, *, now: datetime, delay_seconds: float, error_code: str,
                    error_message: str, count_attempt: bool = True) -> bool:
        """``processing -> queued`` with the error recorded and a lease covering the delay.
        ``count_attempt=False`` (a snooze) gives the claim's attempt back."""
        ...

    def fail(self, job: Job, *, now: datetime, error_code: str, error_message: str,
             dead_lettered: bool = False) -> bool:
        """``processing -> failed`` with the error (and ``dead_lettered_at`` when spent)."""
        ...

    # ---- operator
    def get_job(self, job_id: str) -> Job | None:
        """One job, or None."""
        ...

    def list_jobs(self, *, status: JobStatus | None = None, limit: int = 100) -> list[Job]:
        """Jobs, newest request first."""
        ...

    def get_evaluation(self, job_id: str) -> Evaluation | None:
        """The evaluation saved for a job, or None."""
        ...

    def cancel(self, job_id: str, *, now: datetime) -> bool:
        """``pending | queued -> cancelled``."""
        ...

    def requeue(self, job_id: str, *, now: datetime) -> bool:
        """Operator retry: ``failed -> pending`` with a new generation and attempts reset."""
        ...

    # ---- application-side writes (the application does these in production)
    def create_lead(self, lead: Lead) -> None:
        """Insert a lead."""
        ...

    def add_document(self, document: LeadDocument) -> None:
        """Insert a lead document row."""
        ...

    def create_job(self, job: Job) -> None:
        """Insert a job (normally ``pending``)."""
        ...

    def upsert_usage(self, usage: Usage) -> None:
        """Insert or replace a site's usage row for a month."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class DocumentStore(Protocol):
    """Where document bytes live (R2, S3, a local directory)."""

    def get(self, key: str, *, max_bytes: int) -> bytes:
        """The object's bytes.

        Raises:
            DocumentMissing: no such object (the document becomes `unreadable`).
            DocumentTooLarge: larger than ``max_bytes`` (checked before reading the body).
            StorageError: transient failure; ThrottledError: the store asked us to slow down.
        """
        ...

    def put(self, key: str, data: bytes, *, content_type: str | None = None) -> None:
        """Store bytes under ``key`` (used by loaders and tests)."""
        ...


class VisionModel(Protocol):
    """Extracts facts from one prepared document (one image per request for Workers AI)."""

    name: str

    def extract(self, document: PreparedDocument) -> Extraction:
        """Facts the document states, or ``facts=None`` with a note when it cannot tell.

        Raises: ModelTimeout, ModelUnavailableError, ThrottledError, ConfigurationError,
        ModelRejected, DocumentUnreadable (the document is too large for the model).
        """
        ...


@dataclass(frozen=True)
class SendResult:
    """Outcome of sending messages: ids of jobs SQS accepted and rejected, and API calls made."""

    sent: list[str]
    failed: list[str]
    calls: int


class JobQueue(Protocol):
    """The jobs queue and its dead-letter queue (SQS)."""

    def send(self, messages: Sequence[JobMessage]) -> SendResult:
        """Send with SendMessageBatch, 10 entries per call; per-entry failures reported."""
        ...

    def depth(self) -> int:
        """Approximate visible + in-flight messages on the jobs queue (for backpressure)."""
        ...

    def change_visibility(self, receipt_handle: str, seconds: int) -> None:
        """Delay a received message's next delivery (0..43200 s)."""
        ...

    def dead_letter(self, body: str, *, reason: str) -> None:
        """Send a message body to the DLQ (the worker acks the original afterwards)."""
        ...
