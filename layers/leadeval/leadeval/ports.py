"""Ports: what the lifecycle and the screening domain need from the outside world, as Protocols.

One adapter per backend implements each (``adapters/``), plus in-process fakes for the tests
(``tools/leadeval_tools/fakes``); the contract suites in ``tests/contract`` run the same assertions over all of
them. Adapters raise only :mod:`leadeval.errors` types. The value objects they return are in
:mod:`leadeval.jobs.records` and :mod:`leadeval.jobs.history`.

The job store is split by who uses it: :class:`LifecycleStore` (the sweep and the worker), :class:`OperatorStore`
(the CLI and people: migrations, inspection, retries, policies, overrides, re-evaluation, history) and
:class:`SeedStore` (rows the application writes in production; local runs and tests write them too).
:class:`JobStore` is all three, which is what each SQL backend implements.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal, Protocol

from leadeval.jobs.history import LeadHistory
from leadeval.jobs.records import (
    ClaimAhead,
    ClaimedJob,
    ClaimResult,
    EvaluationOverride,
    PriorSubmission,
    Reevaluation,
    ResultWrite,
    ReuseCheck,
    SendResult,
    SitePolicy,
    SweepOutcome,
)
from leadeval.models import (
    Evaluation,
    Extraction,
    Job,
    JobMessage,
    JobState,
    JobStatus,
    Lead,
    LeadDocument,
    PageLayout,
    PreparedDocument,
    Usage,
)


class LifecycleStore(Protocol):
    """The sweep and the worker: admit, claim, hold and finish jobs. Every transition is one guarded
    statement; a transition that loses a race returns False (or a claim status) and changes nothing.

    Raises (any method): StoreUnavailableError (transient), ThrottledError, ConfigurationError.
    """

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
              sent_at: datetime | None = None, claimed: ClaimResult | None = None) -> ClaimResult:
        """Claim the message's job for processing and load its lead, documents, usage row and policy.

        ``sent_at`` is when SQS accepted the message (its ``SentTimestamp``; a redrive gives a new one).
        A failed, dead-lettered job restarts (failed attempts reset, same generation) only for a message of
        its generation sent after it was dead-lettered; an older copy gets ``dead_lettered``. None
        (unknown): any message of the job's generation restarts it. ``claimed``: this claim was already made
        with the previous record's write (``ClaimAhead.result``): it is returned as is, no request made."""
        ...

    def claim_group(self, messages: Sequence[JobMessage], *, now: datetime,
                    lease_seconds: float) -> list[ClaimResult | None]:
        """Claim the jobs of several messages (one worker invocation's records) in one request, each as
        :meth:`claim` would and loading the same, but only a job waiting for its message and not marked to be
        claimed alone. The claim records how many records it was made for: a crash while it holds the jobs
        counts as no job's attempt (which one crashed the worker is not known) and marks each to be claimed
        alone from then on, where a crash counts as before.

        Returns:
            One entry per message, in order: a ``claimed`` :class:`ClaimResult` with ``grouped=True``, a
            ``rejected`` one (final, as :meth:`claim`), or None when the message must claim alone (:meth:`claim`:
            already held, crashed, redriven, marked alone, not found, superseded...).
        """
        ...

    def write_together(self, writes: Sequence[ResultWrite]) -> None:
        """Run several jobs' outcome writes (:meth:`complete`, :meth:`retry_later`, :meth:`fail`, as each
        ``ResultWrite.kind`` says) in one request, atomically; set each write's ``saved`` (and a complete's
        ``reuse_check.prior``). Each write is guarded by its own claim, so one that lost its job changes
        nothing and the others still hold.

        Raises:
            StoreUnavailableError, ThrottledError, ConfigurationError: nothing written.
            ProcessingError: a statement broke (a limit, an SQL error): nothing written; writing each alone
                tells which.
        """
        ...

    def prior_submissions(self, file_hashes: Sequence[str]) -> list[PriorSubmission]:
        """Earlier submissions of these file hashes, in any site (hashes only, no tenant data)."""
        ...

    def complete(self, job: Job, evaluation: Evaluation, *, now: datetime,
                 fingerprints: Sequence[PriorSubmission] = (), claim_next: ClaimAhead | None = None,
                 reuse_check: ReuseCheck | None = None) -> bool:
        """Atomically: insert the evaluation (the application's row and leadeval's details; one per job
        generation), set the lead's ``ai_score``/``ai_label``/``status = 'ai_evaluated'``, mark the job
        ``completed`` with ``evaluation_id``, and record the document fingerprints. False (nothing written)
        if the claim that loaded ``job`` no longer holds it. ``claim_next`` (also on :meth:`retry_later` and
        :meth:`fail`): the next record's claim, made in the same request (one D1 request), its outcome put in
        ``claim_next.result``; it does not depend on this write's outcome. ``reuse_check``: write nothing (False)
        when one of its hashes was submitted with another applicant name (the evaluation was scored assuming
        none), and put the earlier submissions of its hashes in ``reuse_check.prior`` in the same request, so
        the caller scores again with them (no separate :meth:`prior_submissions` request)."""
        ...

    def retry_later(self, job: Job, *, now: datetime, delay_seconds: float, error_code: str,
                    error_message: str, count_attempt: bool = True, claim_next: ClaimAhead | None = None) -> bool:
        """Back to ``pending`` (state retrying, or snoozed when ``count_attempt`` is False) with the error
        recorded and a lease covering the delay; a retry adds the failed attempt to ``retry_count``."""
        ...

    def fail(self, job: Job, *, now: datetime, error_code: str, error_message: str,
             dead_lettered: bool = False, claim_next: ClaimAhead | None = None) -> bool:
        """``processing -> failed`` with the error (state dead_lettered when its message goes to the DLQ);
        the failed attempt counts in ``retry_count``."""
        ...

    def unclaim(self, job: Job, *, now: datetime, lease_seconds: float) -> bool:
        """A job claimed ahead whose record did not run after all: ``processing -> pending`` (state queued,
        its message comes back; lease ``now + lease_seconds``), no attempt counted. False if the claim that
        loaded ``job`` no longer holds it."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class OperatorStore(Protocol):
    """People and the CLI: migrations, inspection, operator retry and cancel, site policies, overrides,
    re-evaluation and a lead's history.

    Raises (any method): StoreUnavailableError (transient), ThrottledError, ConfigurationError.
    """

    def migrate(self) -> list[str]:
        """Apply pending leadeval migrations; return the names applied (empty when up to date).

        Raises:
            ConfigurationError: the application's tables are missing (not the application's database;
                an embedded one needs ``leadeval db init`` first).
        """
        ...

    def pending_migrations(self) -> list[str]:
        """The migrations :meth:`migrate` would apply (names, in order), read without changing anything.

        Raises:
            ConfigurationError: as :meth:`migrate`.
        """
        ...

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
                     reason: str, now: datetime, override_id: str | None = None,
                     created_by: str | None = None) -> EvaluationOverride | None:
        """Record a person's recommendation and reason for a job's evaluation (the evaluation is
        unchanged), by ``created_by`` (who: a name or an e-mail address) at ``now``; None when the job has no
        evaluation. Raises ValueError for an unknown
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

    def job_documents(self, job_id: str) -> list[LeadDocument]:
        """The documents of a job's lead (a lead of the job's site), not deleted, newest upload first: what the
        worker loads with its claim, read without claiming (the report's thumbnails). Empty for an unknown job."""
        ...

    def reset_in_flight(self, *, now: datetime) -> int:
        """Local runtime only: jobs whose message died with a previous local run's emulated queue go back to
        the sweep (a dead run's processing attempt counts as failed); returns how many."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class SeedStore(Protocol):
    """Rows the application writes in production (leads, their documents, usage rows, pending jobs), in the
    application's columns; local runs, the sample data and the tests write them the same way.

    Raises (any method): StoreUnavailableError (transient), ThrottledError, ConfigurationError.
    """

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


class JobStore(LifecycleStore, OperatorStore, SeedStore, Protocol):
    """The whole job database (SQLite, D1, PostgreSQL) holding the application's tables and leadeval's own:
    what each SQL backend implements. ``ai_evaluation_jobs.status`` only ever receives the application's four
    values."""


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


class PageReader(Protocol):
    """Reads the words of one page image with their positions (OCR), for pages without a text layer.

    ``name`` identifies the engine (``"rapidocr"``). Implementations hold no state per call and are safe to
    share within one thread of work.
    """

    name: str

    def read(self, image: bytes, page: int) -> PageLayout:
        """The words of ``image`` (JPEG or PNG bytes of page ``page``, 1-based) with boxes as fractions of the
        image (top-left origin) and the engine's confidence per word; ``how="ocr"``.

        Raises: DocumentUnreadable when the bytes are not an image the engine can decode.
        """
        ...


#: Message attribute the queue adapter sets on a message it moves to the DLQ: when (ISO 8601 UTC with ``Z``).
#: An SQS message move task keeps message attributes, so a redriven message still carries it, and the worker
#: reads it to tell a redrive from an older copy of the same message.
DEAD_LETTERED_AT_ATTRIBUTE = "leadeval_dead_lettered_at"


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
