"""What the job store and the queue return: value objects of the job lifecycle (no behaviour beyond reading).

The ports (:mod:`leadeval.ports`) name them in their signatures; the SQL store builds them; the lifecycle
(:mod:`leadeval.jobs`) and the operator tools read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from leadeval.models import Evaluation, Job, JobMessage, Lead, LeadDocument, Usage


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
    ``ScoringPolicy`` as JSON), or None when the site has none (the defaults apply). ``grouped`` is True for
    a claim made with the other records of the invocation (:meth:`~leadeval.ports.LifecycleStore.claim_group`):
    its result write waits for theirs (:meth:`~leadeval.ports.LifecycleStore.write_together`).
    """

    status: ClaimStatus
    job: Job | None = None
    lead: Lead | None = None
    documents: list[LeadDocument] = field(default_factory=list)
    usage: Usage | None = None
    redriven: bool = False
    policy_json: str | None = None
    grouped: bool = False


@dataclass
class ClaimAhead:
    """The next record's claim, sent with the current record's last write in the same request (one D1 request
    fewer per job of a batch): the store fills :attr:`result` when the write ran.

    Attributes:
        message: the next record's job message.
        sent_at: its ``SentTimestamp`` (see :meth:`~leadeval.ports.LifecycleStore.claim`).
        lease_seconds: the lease the claim takes, seconds.
        result: the claim's outcome, as :meth:`~leadeval.ports.LifecycleStore.claim` returns it; None until
            the write that carried it ran.
    """

    message: JobMessage
    sent_at: datetime | None
    lease_seconds: float
    result: ClaimResult | None = None


@dataclass
class ResultWrite:
    """One job's outcome write, run with the other records' in one request
    (:meth:`~leadeval.ports.LifecycleStore.write_together`); the store sets :attr:`saved`.

    Attributes:
        kind: ``complete`` (``evaluation``, ``fingerprints``, ``reuse_check``), ``retry_later`` (``delay_seconds``,
            ``error_code``, ``error_message``, ``count_attempt``) or ``fail`` (``error_code``, ``error_message``,
            ``dead_lettered``): the arguments of the store method of that name.
        job: the job as its claim loaded it (the write is guarded by that claim).
        now: when the outcome was reached (aware UTC).
        saved: None until run; then whether the claim still held the job and the write was made.
    """

    kind: Literal["complete", "retry_later", "fail"]
    job: Job
    now: datetime
    evaluation: Evaluation | None = None
    fingerprints: list[PriorSubmission] = field(default_factory=list)
    reuse_check: ReuseCheck | None = None
    delay_seconds: float = 0.0
    error_code: str = ""
    error_message: str = ""
    count_attempt: bool = True
    dead_lettered: bool = False
    saved: bool | None = None


@dataclass
class ReuseCheck:
    """The reuse lookup carried by a result write (:meth:`~leadeval.ports.LifecycleStore.complete`): the write
    holds only while none of ``hashes`` was submitted with another applicant name hash than ``name_hash``
    (the score it carries assumed no reuse); the store fills :attr:`prior` with every earlier submission of
    ``hashes`` in the same request, so a write that did not hold can be scored again without another lookup.

    Attributes:
        hashes: the documents' file and identity hashes (hex), as :func:`~leadeval.screening.fraud.reuse_hashes`
            gives them.
        name_hash: the applicant's :func:`~leadeval.screening.fraud.name_hash`.
        prior: the submissions found (None until the write ran).
    """

    hashes: list[str]
    name_hash: str
    prior: list[PriorSubmission] | None = None

    @property
    def reused(self) -> bool:
        """True when a hash came with another applicant name: the write did not hold, score again."""
        return any(p.name_hash != self.name_hash for p in self.prior or ())


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
    created_by: str | None = None  #: who recorded it (``--by``); None for overrides older than migration 0006


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


@dataclass(frozen=True)
class SendResult:
    """Outcome of sending messages: ids of jobs SQS accepted and rejected, and API calls made."""

    sent: list[str]
    failed: list[str]
    calls: int


