"""Ports: what the services need from the outside world, as Protocols.

One adapter per backend implements each (``adapters/``), plus an in-memory fake where useful
(``testing.py``); the contract suites in ``tests/contract`` run the same assertions over all of
them. Adapters raise only :mod:`leadeval.errors` types.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, Protocol

from leadeval.models import (
    Evaluation,
    Extraction,
    Job,
    JobMessage,
    JobState,
    JobStatus,
    Lead,
    LeadDocument,
    PreparedDocument,
    Usage,
)


@dataclass(frozen=True)
class ClaimedJob:
    """A job a sweep claimed (``pending -> queued``): what its message carries, unvalidated (a row the
    application wrote may hold identifiers no message can carry; the sweep fails those alone)."""

    id: str
    site_id: str
    lead_id: str
    generation: int
    requested_at: datetime | None = None


@dataclass(frozen=True)
class RejectedJob:
    """A new row the sweep failed ``InvalidJobRow`` at once: its id and why (no row content)."""

    id: str
    reason: str


@dataclass(frozen=True)
class SweepOutcome:
    """What one sweep's database step did.

    Attributes:
        claimed: jobs moved ``pending -> queued`` by this sweep (to be sent to SQS), oldest request first.
        admitted: new rows (inserted or re-opened by the application) leadeval took in.
        rejected: new rows failed ``InvalidJobRow`` (unreadable ``requested_at``, no attempt allowed).
        rescued_to_pending: long-expired jobs put back to the sweep (a crashed worker or a lost message).
        rescued_to_failed: long-expired jobs whose attempts were spent, failed.
    """

    claimed: list[ClaimedJob]
    admitted: int = 0
    rejected: list[RejectedJob] = field(default_factory=list)
    rescued_to_pending: int = 0
    rescued_to_failed: int = 0


ClaimStatus = Literal[
    "claimed", "exhausted", "dead_lettered", "not_found", "stale_generation", "ahead_generation", "in_flight",
    "terminal", "cancelled", "rejected",
]


@dataclass(frozen=True)
class ClaimResult:
    """The worker's claim of one job, and what it loaded with it (one D1 request).

    ``status`` is ``claimed`` when this worker now holds the job (``processing``, claim number taken,
    lease set; a crashed earlier attempt counted in ``retry_count``); ``rejected`` when the job's row
    cannot be run (its ``requested_at`` is not a timestamp, or ``max_retries`` allows no attempt: the job
    is now failed ``InvalidJobRow``); ``exhausted`` when the message found its job's last attempt crashed
    (the job is now failed and dead-lettered: move the message to the DLQ); ``dead_lettered`` when the job
    already is failed and dead-lettered and the message is an older copy of its generation (the original
    redelivered after its DLQ send failed, or a duplicate: move it to the DLQ too, so a redrive can restart
    the job); otherwise the message lost (job unknown, superseded generation, held by another worker,
    already terminal or cancelled) and must be acked without work, except ``not_found`` (poison:
    dead-letter it). ``stale_generation`` means the row has moved past the message's generation (final for
    that generation); ``ahead_generation`` that the message names a generation the row has not reached (not
    final: an operator retry may reach it later). ``lead`` is None when the lead is missing or of another
    site; ``documents`` holds the lead's non-deleted documents, newest upload first.
    ``redriven`` is True when the claim restarted a dead-lettered job afresh. ``policy_json`` is
    the latest scoring policy saved for the job's site (``leadeval_site_policies``, a complete
    ``ScoringPolicy`` as JSON), or None when the site has none (the defaults apply).
    """

    status: ClaimStatus
    job: Job | None = None
    lead: Lead | None = None
    documents: list[LeadDocument] = field(default_factory=list)
    usage: Usage | None = None
    redriven: bool = False
    policy_json: str | None = None


@dataclass(frozen=True)
class PriorSubmission:
    """A file hash seen before, with the hash of the applicant name it came with.

    The index keeps only these two hashes (no ids, no tenant data), so it can be shared by
    every site: the same file with a *different* name hash is the signal.
    """

    file_sha256: str
    name_hash: str


@dataclass(frozen=True)
class SitePolicy:
    """One saved version of a site's scoring policy (``leadeval_site_policies``).

    Attributes:
        site_id: the site.
        version: 1, 2, 3 … per site; the worker uses the highest.
        policy_json: the complete policy as JSON (a ``ScoringPolicy``), whose ``version`` field is
            ``label`` — the value evaluations store in ``policy_version``.
        created_at: when it was saved (UTC).
    """

    site_id: str
    version: int
    policy_json: str
    created_at: datetime | None = None

    @property
    def label(self) -> str:
        """``<site_id>-v<version>``: the policy version evaluations record."""
        return f"{self.site_id}-v{self.version}"


@dataclass(frozen=True)
class EvaluationOverride:
    """A person's decision on an evaluation (``leadeval_overrides``): the recommendation they chose
    and why. It never replaces the evaluation; the latest override of an evaluation is the one in force."""

    id: str
    evaluation_id: str
    job_id: str
    recommendation: Literal["approve", "review", "decline"]
    reason: str
    created_at: datetime | None = None


ReevaluationStatus = Literal["created", "lead_not_found", "in_progress"]


@dataclass(frozen=True)
class Reevaluation:
    """The outcome of :meth:`JobStore.reevaluate`.

    ``status`` is ``created`` (``job`` is the new pending job; ``usage`` the month's usage row after
    counting it, None when the site has no row for the month), ``lead_not_found``, or ``in_progress``
    (nothing created: ``active_job`` is the lead's job still pending, queued or processing).
    """

    status: ReevaluationStatus
    job: Job | None = None
    active_job: Job | None = None
    usage: Usage | None = None


HistoryEvent = Literal["requested", "re-evaluation requested", "evaluated", "failed", "cancelled", "override"]

_EVENT_ORDER = {"requested": 0, "re-evaluation requested": 0, "evaluated": 1, "failed": 1, "cancelled": 1,
                "override": 2}


@dataclass(frozen=True)
class HistoryEntry:
    """One line of a lead's audit trail: what happened, when (UTC), to which job, and the row concerned."""

    at: datetime
    event: HistoryEvent
    job_id: str
    job: Job | None = None
    evaluation: Evaluation | None = None
    override: EvaluationOverride | None = None


@dataclass(frozen=True)
class LeadHistory:
    """Everything kept about one lead's evaluations (:meth:`JobStore.lead_history`).

    Attributes:
        lead: the lead.
        jobs: its jobs in the lead's site, oldest request first (the first evaluation and every
            re-evaluation; an operator retry re-runs a job under a new ``generation``).
        evaluations: one per completed job, oldest first — summary fields only (``documents``,
            ``reasons`` and ``flags`` are left empty; ``get_evaluation`` has them).
        overrides: every override of those evaluations, oldest first.
    """

    lead: Lead
    jobs: list[Job] = field(default_factory=list)
    evaluations: list[Evaluation] = field(default_factory=list)
    overrides: list[EvaluationOverride] = field(default_factory=list)

    def timeline(self) -> list[HistoryEntry]:
        """Every request, evaluation, failure, cancellation and override in time order.

        A job's request is ``requested`` for the lead's first job and ``re-evaluation requested``
        for later ones. Ties (the same instant) order requests before outcomes before overrides.
        """
        evaluations = {e.job_id: e for e in self.evaluations}
        entries: list[HistoryEntry] = []
        for index, job in enumerate(self.jobs):
            requested = job.requested_at or job.created_at or _EPOCH
            entries.append(HistoryEntry(requested, "requested" if index == 0 else "re-evaluation requested",
                                        job.id, job=job))
            if job.id in evaluations:
                continue
            if job.state == JobState.CANCELLED:
                entries.append(HistoryEntry(job.completed_at or job.updated_at or requested, "cancelled",
                                            job.id, job=job))
            elif job.status == JobStatus.FAILED:
                entries.append(HistoryEntry(job.completed_at or job.updated_at or requested, "failed",
                                            job.id, job=job))
        jobs = {j.id: j for j in self.jobs}
        for ev in self.evaluations:
            entries.append(HistoryEntry(ev.created_at or _EPOCH, "evaluated", ev.job_id, job=jobs.get(ev.job_id),
                                        evaluation=ev))
        for o in self.overrides:
            entries.append(HistoryEntry(o.created_at or _EPOCH, "override", o.job_id, job=jobs.get(o.job_id),
                                        evaluation=evaluations.get(o.job_id), override=o))
        return sorted(entries, key=lambda e: (e.at, _EVENT_ORDER[e.event], e.job_id,
                                              e.override.id if e.override else ""))

    def in_force(self, evaluation: Evaluation) -> EvaluationOverride | None:
        """The override in force for ``evaluation`` (its latest), or None."""
        mine = [o for o in self.overrides if o.evaluation_id == evaluation.id]
        return max(mine, key=lambda o: (o.created_at or _EPOCH, o.id)) if mine else None

    @property
    def latest_evaluation(self) -> Evaluation | None:
        """The most recent evaluation (the one that stands), or None."""
        return max(self.evaluations, key=lambda e: (e.created_at or _EPOCH, e.id)) if self.evaluations else None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class JobStore(Protocol):
    """The job database (SQLite, D1, PostgreSQL), holding the application's tables and leadeval's own.
    Every transition is one guarded statement; a transition that loses a race returns False and changes
    nothing. ``ai_evaluation_jobs.status`` only ever receives the application's four values.

    Raises (any method): StoreUnavailableError (transient), ThrottledError, ConfigurationError.
    """

    def migrate(self) -> list[str]:
        """Apply pending leadeval migrations; return the names applied (empty when up to date).

        Raises:
            ConfigurationError: the application's tables are missing (not the application's database;
                an embedded one needs :meth:`create_application_tables` first).
        """
        ...

    def create_application_tables(self) -> bool:
        """Create the application's five tables, exactly in the application's schema, in a database that
        has none of them (embedded and test databases); True when created, False when they exist.

        Raises:
            ConfigurationError: some of the five exist and others do not.
        """
        ...

    def sweep(self, *, now: datetime, limit: int, lease_seconds: float,
              rescue_after_seconds: float, admit_limit: int | None = None) -> SweepOutcome:
        """One batch: admit up to ``admit_limit`` (default ``limit``) new rows (failing alone those whose
        ``requested_at`` is unreadable), rescue long-expired jobs, then claim up to ``limit`` due jobs
        (``pending -> queued``, lease ``now + lease_seconds``), oldest request first. Two concurrent sweeps
        never claim the same job."""
        ...

    def release(self, jobs: Sequence[ClaimedJob], *, now: datetime) -> int:
        """Put jobs whose message SQS rejected back to the sweep (guarded on ``queued`` and the
        generation); return how many moved."""
        ...

    def fail_invalid(self, jobs: Sequence[ClaimedJob], *, now: datetime, reason: str) -> int:
        """Fail claimed jobs whose identifiers no message can carry (``InvalidJobRow``); return how many."""
        ...

    def claim(self, message: JobMessage, *, now: datetime, lease_seconds: float,
              sent_at: datetime | None = None) -> ClaimResult:
        """Claim the message's job for processing and load its lead, documents, usage row and policy.

        ``sent_at`` is when SQS accepted the message (its ``SentTimestamp``; a redrive gives a new one).
        A failed, dead-lettered job restarts (failed attempts reset, same generation) only for a message of
        its generation sent after it was dead-lettered; an older copy gets ``dead_lettered``. None
        (unknown): any message of the job's generation restarts it."""
        ...

    def prior_submissions(self, file_hashes: Sequence[str]) -> list[PriorSubmission]:
        """Earlier submissions of these file hashes, in any site (hashes only, no tenant data)."""
        ...

    def complete(self, job: Job, evaluation: Evaluation, *, now: datetime,
                 fingerprints: Sequence[PriorSubmission] = ()) -> bool:
        """Atomically: insert the evaluation (the application's row and leadeval's details; one per job
        generation), set the lead's ``ai_score``/``ai_label``/``status = 'ai_evaluated'``, mark the job
        ``completed`` with ``evaluation_id``, and record the document fingerprints. False (nothing written)
        if the claim that loaded ``job`` no longer holds it."""
        ...

    def retry_later(self, job: Job, *, now: datetime, delay_seconds: float, error_code: str,
                    error_message: str, count_attempt: bool = True) -> bool:
        """Back to ``pending`` (state retrying, or snoozed when ``count_attempt`` is False) with the error
        recorded and a lease covering the delay; a retry adds the failed attempt to ``retry_count``."""
        ...

    def fail(self, job: Job, *, now: datetime, error_code: str, error_message: str,
             dead_lettered: bool = False) -> bool:
        """``processing -> failed`` with the error (state dead_lettered when its message goes to the DLQ);
        the failed attempt counts in ``retry_count``."""
        ...

    # ---- operator
    def get_job(self, job_id: str) -> Job | None:
        """One job, or None."""
        ...

    def list_jobs(self, *, status: JobStatus | None = None, state: JobState | None = None,
                  limit: int = 100) -> list[Job]:
        """Jobs, newest request first; ``status`` filters on the application's status, ``state`` on
        leadeval's lifecycle state (:attr:`Job.state`)."""
        ...

    def get_evaluation(self, job_id: str) -> Evaluation | None:
        """The latest evaluation saved for a job, or None."""
        ...

    def cancel(self, job_id: str, *, now: datetime) -> bool:
        """A job not started yet (pending, queued, retrying, snoozed) ends ``failed`` with code ``Cancelled``."""
        ...

    def requeue(self, job_id: str, *, now: datetime) -> bool:
        """Operator retry: a failed (not cancelled) job back to pending with a new generation and its
        failed attempts reset."""
        ...

    # ---- people stay in charge: site policies, overrides, re-evaluation, history
    def set_policy(self, site_id: str, policy_json: str, *, now: datetime) -> SitePolicy:
        """Save a new version of a site's scoring policy (never edits an old one) and return it.

        ``policy_json`` is a complete, validated ``ScoringPolicy`` as a JSON object; its ``version``
        field is replaced by the new version's :attr:`SitePolicy.label`. Raises ValueError when it
        is not a JSON object."""
        ...

    def get_policy(self, site_id: str, version: int | None = None) -> SitePolicy | None:
        """A version of a site's policy (None: the latest), or None when there is none."""
        ...

    def list_policies(self, site_id: str) -> list[SitePolicy]:
        """Every saved version of a site's policy, newest first."""
        ...

    def add_override(self, job_id: str, *, recommendation: Literal["approve", "review", "decline"],
                     reason: str, now: datetime, override_id: str | None = None) -> EvaluationOverride | None:
        """Record a person's recommendation and reason for a job's evaluation (the evaluation is
        unchanged); None when the job has no evaluation. Raises ValueError for an unknown
        recommendation or an empty reason."""
        ...

    def list_overrides(self, job_id: str) -> list[EvaluationOverride]:
        """A job's overrides, oldest first (the last one is in force)."""
        ...

    def reevaluate(self, lead_id: str, *, now: datetime, max_retries: int = 3,
                   job_id: str | None = None, requested_by: str | None = None) -> Reevaluation:
        """Start a new pending job for a lead (an applicant's dispute), as the application inserts one:
        requested ``now`` by ``requested_by``, in the lead's site, counted in the month's usage row;
        refused while the lead has a job pending or processing."""
        ...

    def lead_history(self, lead_id: str) -> LeadHistory | None:
        """The lead's jobs, evaluations and overrides (one round trip), or None for an unknown lead."""
        ...

    # ---- application-side writes (the application does these in production; local runs and tests use them)
    def create_lead(self, lead: Lead) -> None:
        """Insert a lead in the application's columns (plus leadeval's voucher column)."""
        ...

    def add_document(self, document: LeadDocument) -> None:
        """Insert a lead document row in the application's columns."""
        ...

    def create_job(self, job: Job, *, requested_at_text: str | None = None) -> None:
        """Insert a pending job as the application does (its columns only: id, lead, site, requested_by,
        requested_at, model_version, max_retries, timestamps). ``requested_at_text`` writes ``requested_at``
        exactly as given (the application's own formats, e.g. ``2026-01-31 23:59:59``) instead of
        ``job.requested_at`` in leadeval's format."""
        ...

    def add_usage(self, usage: Usage) -> Usage:
        """Insert a site's usage row for a month unless one exists (an existing row is never changed);
        return the row in force."""
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

    def requeue(self, body: str, *, delay_seconds: int) -> None:
        """Send a message body again to the jobs queue, delivered after ``delay_seconds`` (SQS
        ``DelaySeconds``, capped at 900). A snooze uses it and acks the original, so throttling never
        raises a message's receive count toward ``maxReceiveCount``."""
        ...
