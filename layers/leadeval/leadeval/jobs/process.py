"""Processing one job: claim, load, check quota, prepare, extract, validate, score, save.

:func:`process_message` never raises for a job's own failure: it records the outcome in the database
(completed, failed, retried, snoozed, dead-lettered) and returns a :class:`JobOutcome` telling the
caller (the worker handler) what to do with the SQS message: ack it, delay it, or move it to the DLQ.
It raises only when the claim itself fails (database unreachable): the message is then retried as is.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from nanoid import generate as nanoid

from leadeval.errors import (
    ConfigurationError,
    DocumentMissing,
    DocumentTooLarge,
    DocumentUnreadable,
    LeadevalError,
    ModelOutputInvalid,
    ProcessingError,
    QuotaExceeded,
    ResourceNotFound,
)
from leadeval.jobs.model_choice import ModelChoice, ModelRouter
from leadeval.jobs.records import ClaimAhead, ClaimResult, PriorSubmission, ResultWrite, ReuseCheck
from leadeval.jobs.retry import RetryPolicy
from leadeval.models import (
    DocumentResult,
    Evaluation,
    Extraction,
    Job,
    JobMessage,
    Lead,
    LeadDocument,
    ModelUsage,
    PreparedDocument,
    Usage,
    Verdict,
)
from leadeval.ports import DocumentStore, JobStore, VisionModel
from leadeval.timeutil import usage_month

if TYPE_CHECKING:  # scoring (and pydantic validation of a policy) loads only when a job is evaluated
    from leadeval.screening.policy import ScoringPolicy
    from leadeval.screening.scoring import Assessment

logger = logging.getLogger(__name__)

UNUSABLE_NOTE = "model answer unusable"


class Outcome(StrEnum):
    """What happened to a message's job, and so what to do with the message."""

    COMPLETED = "completed"  #: evaluation saved: ack
    FAILED = "failed"  #: permanent error recorded: ack
    RETRY = "retry"  #: retryable error, attempt counted: redeliver after delay_seconds
    SNOOZE = "snooze"  #: throttled / configuration: redeliver after delay_seconds, no attempt used
    DEAD_LETTERED = "dead_lettered"  #: attempts spent: send the message to the DLQ, then ack
    SKIPPED = "skipped"  #: duplicate, superseded, cancelled or already done: ack
    DEFERRED = "deferred"  #: a grouped job's write waits for the invocation's flush (flush_deferred): settle then
    POISON = "poison"  #: names no job we know: send to the DLQ untouched, then ack


@dataclass(frozen=True)
class JobOutcome:
    """The result of :func:`process_message`.

    Attributes:
        outcome: see :class:`Outcome`.
        job_id: the message's job id.
        delay_seconds: for RETRY/SNOOZE, when the message should come back (seconds).
        error_code: the job's error code when it did not complete.
        evaluation: the saved evaluation when completed.
        detail: why a message was skipped (claim status) — ids and codes only.
        ai_calls: vision-model calls made for this job in this attempt.
        error_class: the class name of the exception behind ``error_code`` (RETRY/SNOOZE/FAILED), for logs.
    """

    outcome: Outcome
    job_id: str
    delay_seconds: int = 0
    error_code: str | None = None
    evaluation: Evaluation | None = None
    detail: str | None = None
    ai_calls: int = 0
    error_class: str | None = None


@dataclass
class ClaimAheadPlan:
    """One worker invocation's plan to claim each record's job with the previous record's last write (the
    result write, or the retry/failure write), in the same request: one D1 request fewer per job of a batch.

    Attributes:
        next_request: the claim to carry on the current record's write (None: none, e.g. the last record, an
            unparseable next body, or too little time left for the next record to start).
        made: claims made ahead, by ``(job_id, generation)``, until the record's processing takes them.
    """

    next_request: Callable[[], ClaimAhead | None]
    made: dict[tuple[str, int], ClaimResult] = field(default_factory=dict)

    def holds(self, message: JobMessage) -> bool:
        """Whether a claim for ``message`` was made ahead and not taken yet."""
        return (message.job_id, message.generation) in self.made

    def take(self, message: JobMessage) -> ClaimResult | None:
        """The claim made ahead for ``message`` (removed from the plan), or None."""
        return self.made.pop((message.job_id, message.generation), None)

    def write_kwargs(self) -> tuple[dict[str, Any], ClaimAhead | None]:
        """Keyword arguments for a lifecycle write (``claim_next`` when a claim rides along), and the request."""
        ahead = self.next_request()
        return ({"claim_next": ahead} if ahead is not None else {}), ahead

    def record(self, ahead: ClaimAhead | None) -> None:
        """Keep the outcome of a claim that rode along a write that ran."""
        if ahead is not None and ahead.result is not None:
            self.made[(ahead.message.job_id, ahead.message.generation)] = ahead.result


@dataclass
class ProcessContext:
    """What :func:`process_message` needs: the ports, the policies and the limits.

    Attributes:
        store, documents, model: the ports.
        retry_policy: backoff and attempt limit.
        lease_seconds: how long a claim holds the job (must exceed the worker timeout).
        max_document_bytes, max_documents: limits applied before reading documents.
        fetch_concurrency: parallel document fetches (wall time ≈ slowest fetch).
        prepare: document preparation function (``screening.documents.prepare_document``).
        assess: scoring function (``screening.scoring.assess``).
        new_id: id factory for evaluations (``eval_`` + nanoid, as the application's ids).
        on_configuration_error: called when a ConfigurationError snoozes a job (metrics, alarm).
        models: chooses the model for a job's ``model_version`` (None: ``model`` always runs).
        ahead: the worker invocation's :class:`ClaimAheadPlan` (None: every record claims for itself).
        deferred: while a worker invocation collects its grouped jobs' writes (:func:`flush_deferred`), the
            writes so far; None: every write runs when its outcome is known.
        clock: the current time (aware UTC) when an outcome is written, so ``completed_at``, ``evaluated_at``
            and a retry's backoff count from the end of the work, not from the claim (None: the message's
            ``now`` throughout, as tests with a fixed time expect).
    """

    store: JobStore
    documents: DocumentStore
    model: VisionModel
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)
    lease_seconds: float = 300.0
    max_document_bytes: int = 25 * 1024 * 1024
    max_documents: int = 15
    fetch_concurrency: int = 8
    prepare: Callable[[str, bytes], PreparedDocument] | None = None
    assess: Callable[..., Assessment] | None = None
    new_id: Callable[[], str] = field(default_factory=lambda: lambda: "eval_" + nanoid())
    on_configuration_error: Callable[[LeadevalError], None] | None = None
    models: ModelRouter | None = None
    ahead: ClaimAheadPlan | None = None
    clock: Callable[[], datetime] | None = None
    deferred: list[DeferredWrite] | None = None

    def time_now(self, fallback: datetime) -> datetime:
        """The clock's time, or ``fallback`` without a clock."""
        return self.clock() if self.clock is not None else fallback

    def _write_kwargs(self) -> tuple[dict[str, Any], ClaimAhead | None]:
        return self.ahead.write_kwargs() if self.ahead is not None else ({}, None)

    def _record(self, ahead: ClaimAhead | None) -> None:
        if self.ahead is not None:
            self.ahead.record(ahead)

    def choose_model(self, requested: str | None) -> ModelChoice:
        """The model for a job's ``model_version`` (``models`` decides; without it, always ``model``)."""
        if self.models is None:
            provider, _, model_id = self.model.name.partition(":")
            self.models = ModelRouter(self.model, provider=provider, default_id=model_id or None)
        return self.models.choose(requested)


def _log(job_id: str, text: str, **extra: object) -> None:
    logger.info(f"[{job_id}] {text}", extra={"job_id": job_id, **extra})


def process_message(ctx: ProcessContext, message: JobMessage, *, now: datetime,
                    sent_at: datetime | None = None) -> JobOutcome:
    """Process the job a message names, end to end, and record the outcome.

    Args:
        ctx: ports and policies.
        message: the parsed SQS body.
        now: the clock (aware UTC).
        sent_at: when SQS accepted the message (``SentTimestamp``), None when unknown: it tells a redriven
            message (sent after its job was dead-lettered: restart the job) from an older copy (move it to
            the DLQ as well), see :meth:`~leadeval.ports.JobStore.claim`.

    Raises:
        StoreUnavailableError, ThrottledError, ConfigurationError: only from the claim itself.
    """
    made = ctx.ahead.take(message) if ctx.ahead is not None else None
    claim = ctx.store.claim(message, now=now, lease_seconds=ctx.lease_seconds, sent_at=sent_at,
                            **({"claimed": made} if made is not None else {}))
    if claim.status == "not_found":
        logger.warning(f"[{message.job_id}] message names an unknown job", extra={"job_id": message.job_id})
        return JobOutcome(Outcome.POISON, message.job_id, error_code="UnknownJob", detail="not_found")
    if claim.status == "rejected":
        reason = (claim.job.error_message if claim.job else None) or "the job's row cannot be run"
        logger.error(f"[{message.job_id}] Job failed: InvalidJobRow: {reason}",
                     extra={"job_id": message.job_id, "error_code": "InvalidJobRow"})
        return JobOutcome(Outcome.FAILED, message.job_id, error_code="InvalidJobRow", detail=claim.status)
    if claim.status == "exhausted":
        logger.error(f"[{message.job_id}] Job failed: AttemptsExhausted (last attempt never finished)",
                     extra={"job_id": message.job_id, "error_code": "AttemptsExhausted"})
        return JobOutcome(Outcome.DEAD_LETTERED, message.job_id, error_code="AttemptsExhausted",
                          detail=claim.status)
    if claim.status == "dead_lettered":
        code = (claim.job.error_code if claim.job else None) or "AttemptsExhausted"
        _log(message.job_id, "Job already dead-lettered: moving this copy of its message to the DLQ",
             claim_status=claim.status, error_code=code)
        return JobOutcome(Outcome.DEAD_LETTERED, message.job_id, error_code=code, detail=claim.status)
    if claim.status == "ahead_generation":
        logger.warning(f"[{message.job_id}] Skipping message: ahead_generation (the job has not reached it)",
                       extra={"job_id": message.job_id, "claim_status": claim.status,
                              "generation": message.generation,
                              "job_generation": claim.job.generation if claim.job else None})
        return JobOutcome(Outcome.SKIPPED, message.job_id, detail=claim.status)
    if claim.status != "claimed" or claim.job is None:
        _log(message.job_id, f"Skipping message: {claim.status}", claim_status=claim.status)
        return JobOutcome(Outcome.SKIPPED, message.job_id, detail=claim.status)

    job = claim.job
    _log(job.id, f"Starting processing for lead {job.lead_id}", lead_id=job.lead_id, site_id=job.site_id,
         attempt=job.retry_count + 1, max_retries=job.max_retries, generation=job.generation,
         redriven=claim.redriven)
    calls = [0]
    try:
        read = _read(ctx, job, claim.lead, claim.documents, claim.usage, now=now, calls=calls,
                     policy_json=claim.policy_json)
        # Scored assuming no document came with another applicant name; the write holds only if so, and brings
        # the earlier submissions back in the same request (no separate lookup): scored again with them if not.
        evaluation = _score(ctx, job, read, now=now, evaluation_id=ctx.new_id())
    except Exception as exc:
        return _record_failure(ctx, job, exc, now=ctx.time_now(now), ai_calls=calls[0], grouped=claim.grouped)
    from leadeval.screening.fraud import name_hash, reuse_hashes

    check = ReuseCheck(hashes=reuse_hashes(read.ordered), name_hash=name_hash(read.lead.first_name,
                                                                               read.lead.last_name))
    write = ResultWrite("complete", job, ctx.time_now(now), evaluation=evaluation,
                        fingerprints=_fingerprints(evaluation, read.lead), reuse_check=check)
    return _write(ctx, write, grouped=claim.grouped,
                  finish=lambda final: _completed(final, ai_calls=calls[0]),
                  rescore=lambda: _rescored(ctx, write, read, now=now, ai_calls=calls[0]))


@dataclass
class DeferredWrite:
    """A grouped job's outcome, its write waiting for :func:`flush_deferred` (with the other records').

    Attributes:
        write: the write to run.
        finish: the job's :class:`JobOutcome` from its final write (``saved`` set); logs the outcome.
        rescore: for a result: when its write was stopped because a document came with another applicant name,
            the job scored again with those submissions (the write to make instead), or the outcome of a
            failure to do so (already recorded); None for a retry or a failure.
    """

    write: ResultWrite
    finish: Callable[[ResultWrite], JobOutcome]
    rescore: Callable[[], ResultWrite | JobOutcome] | None = None


def _write(ctx: ProcessContext, write: ResultWrite, *, grouped: bool, finish: Callable[[ResultWrite], JobOutcome],
           rescore: Callable[[], ResultWrite | JobOutcome] | None = None) -> JobOutcome:
    """Run ``write`` now (with the next record's claim riding along) and return ``finish`` of it (of the write
    scored again when the reuse check stopped it); for a grouped claim while the invocation collects writes
    (``ctx.deferred``), keep it for :func:`flush_deferred` instead and return a ``DEFERRED`` outcome."""
    if grouped and ctx.deferred is not None:
        ctx.deferred.append(DeferredWrite(write, finish, rescore))
        return JobOutcome(Outcome.DEFERRED, write.job.id)
    ahead_kwargs, ahead = ctx._write_kwargs()
    _run_write(ctx.store, write, **ahead_kwargs)
    ctx._record(ahead)
    if rescore is not None and _stopped_by_reuse(write):
        again = rescore()
        if isinstance(again, JobOutcome):
            return again
        _run_write(ctx.store, again)
        return finish(again)
    return finish(write)


def _stopped_by_reuse(write: ResultWrite) -> bool:
    """A result write that did not hold because one of its documents came with another applicant name."""
    return write.kind == "complete" and not write.saved and write.reuse_check is not None and write.reuse_check.reused


def _run_write(store: JobStore, write: ResultWrite, **kwargs: Any) -> bool:
    """One write through the store method its kind names; sets and returns ``write.saved``."""
    if write.kind == "complete" and write.evaluation is not None:
        saved = store.complete(write.job, write.evaluation, now=write.now, fingerprints=write.fingerprints,
                               reuse_check=write.reuse_check, **kwargs)
    elif write.kind == "retry_later":
        saved = store.retry_later(write.job, now=write.now, delay_seconds=write.delay_seconds,
                                  error_code=write.error_code, error_message=write.error_message,
                                  count_attempt=write.count_attempt, **kwargs)
    else:
        saved = store.fail(write.job, now=write.now, error_code=write.error_code, error_message=write.error_message,
                           dead_lettered=write.dead_lettered, **kwargs)
    write.saved = bool(saved)
    return write.saved


def _write_all(ctx: ProcessContext, writes: Sequence[ResultWrite]) -> list[Exception | None]:
    """``writes`` in one request (``saved`` set on each); what failed, per write (None: written or lost its job).

    A ``ProcessingError`` (one write broke a limit or an SQL rule: nothing was written) makes each write run
    alone, so only the job whose write is at fault fails; any other store error (unavailable, throttled,
    configuration) is every write's."""
    if not writes:
        return []
    try:
        ctx.store.write_together(writes)
        return [None] * len(writes)
    except ProcessingError:
        logger.warning("the grouped write was refused; writing each outcome alone",
                       extra={"writes": len(writes), "error_code": "ProcessingError"})
    except Exception as exc:
        return [exc] * len(writes)
    out: list[Exception | None] = []
    for write in writes:
        try:
            _run_write(ctx.store, write)
            out.append(None)
        except Exception as exc:
            out.append(exc)
    return out


def flush_deferred(ctx: ProcessContext, scope: Callable[[int], AbstractContextManager[object]] | None = None,
                   ) -> list[JobOutcome | Exception]:
    """Write every deferred outcome of the invocation (``ctx.deferred``) in one request, then the results the
    reuse check stopped, scored again, in a second one; finish each job. ``scope(i)`` (optional) is entered
    around what is done for the i-th deferred write alone (scoring again, finishing: its log lines), e.g. to
    give those lines the record's message id.

    Returns:
        One entry per deferred write, in the order they were deferred: the job's :class:`JobOutcome`, or the
        exception its write raised (the worker reports that record for redelivery, as a failed write); see
        :func:`_write_all` for which failures are whose.
    """
    pending, ctx.deferred = list(ctx.deferred or ()), []
    within = scope or (lambda _i: nullcontext())
    results: list[JobOutcome | Exception | None] = list(_write_all(ctx, [d.write for d in pending]))
    again: list[tuple[int, ResultWrite]] = []
    for i, d in enumerate(pending):
        if results[i] is None and d.rescore is not None and _stopped_by_reuse(d.write):
            with within(i):
                try:
                    redo = d.rescore()
                except Exception as exc:  # recording a failure to score again failed (the store)
                    results[i] = exc
                    continue
            if isinstance(redo, JobOutcome):
                results[i] = redo
            else:
                again.append((i, redo))
    for (i, write), error in zip(again, _write_all(ctx, [w for _, w in again]), strict=True):
        with within(i):
            results[i] = error if error is not None else _finish(pending[i], write)
    out: list[JobOutcome | Exception] = []
    for i, (d, r) in enumerate(zip(pending, results, strict=True)):
        with within(i):
            out.append(r if r is not None else _finish(d, d.write))
    return out


def _finish(deferred: DeferredWrite, write: ResultWrite) -> JobOutcome | Exception:
    try:
        return deferred.finish(write)
    except Exception as exc:
        return exc


def _rescored(ctx: ProcessContext, write: ResultWrite, read: _Read, *, now: datetime,
              ai_calls: int) -> ResultWrite | JobOutcome:
    """The result write of a job scored again with the reuse signals its stopped write brought back
    (``write.reuse_check.prior``), without a reuse check; or the outcome of recording a failure to score."""
    job, check = write.job, write.reuse_check
    assert write.evaluation is not None and check is not None
    prior = list(check.prior or ())
    _log(job.id, "Documents submitted under another applicant name: scoring again with the reuse signals",
         reused_hashes=len({p.file_sha256 for p in prior if p.name_hash != check.name_hash}))
    try:
        evaluation = _score(ctx, job, read, now=now, evaluation_id=write.evaluation.id, prior=prior)
    except Exception as exc:
        return _record_failure(ctx, job, exc, now=ctx.time_now(now), ai_calls=ai_calls, grouped=False)
    return ResultWrite("complete", job, ctx.time_now(now), evaluation=evaluation,
                       fingerprints=_fingerprints(evaluation, read.lead))


def _completed(write: ResultWrite, *, ai_calls: int) -> JobOutcome:
    """The outcome (and log lines) of a job's final result write."""
    job, evaluation = write.job, write.evaluation
    assert evaluation is not None
    if not write.saved:
        _log(job.id, "Result not saved: the job was taken over meanwhile", claim_status="lost")
        return JobOutcome(Outcome.SKIPPED, job.id, detail="lost_lease", ai_calls=ai_calls)
    _log(job.id, f"AI evaluation completed - Score: {evaluation.score}, Label: {evaluation.label}",
         score=evaluation.score, label=evaluation.label, recommendation=evaluation.recommendation)
    _log(job.id, "Job completed successfully", evaluation_id=evaluation.id)
    return JobOutcome(Outcome.COMPLETED, job.id, evaluation=evaluation, ai_calls=ai_calls)


def _record_failure(ctx: ProcessContext, job: Job, exc: BaseException, *, now: datetime,
                    ai_calls: int, grouped: bool = False) -> JobOutcome:
    # This attempt is attempt retry_count + 1 of max_retries (the application's counter and limit).
    attempt = job.retry_count + 1
    decision = ctx.retry_policy.decide(exc, attempts=attempt, max_attempts=job.max_retries)
    if decision.action in ("retry", "snooze"):
        write = ResultWrite("retry_later", job, now, delay_seconds=decision.delay_seconds,
                            error_code=decision.error_code, error_message=decision.error_message,
                            count_attempt=decision.action == "retry")
    else:
        write = ResultWrite("fail", job, now, error_code=decision.error_code, error_message=decision.error_message,
                            dead_lettered=decision.action == "dead_letter")
    return _write(ctx, write, grouped=grouped,
                  finish=lambda final: _failed(ctx, job, exc, decision, saved=bool(final.saved), ai_calls=ai_calls))


def _failed(ctx: ProcessContext, job: Job, exc: BaseException, decision: Any, *, saved: bool,
            ai_calls: int) -> JobOutcome:
    """The outcome (and log line) of a retry, snooze or failure write (``decision``: the retry policy's)."""
    attempt = job.retry_count + 1
    extra = {"job_id": job.id, "error_code": decision.error_code, "attempt": attempt}
    if decision.action in ("retry", "snooze"):
        if decision.error_code == "ConfigurationError":
            logger.error(f"[{job.id}] Configuration error, job snoozed: {decision.error_message}", extra=extra)
            if ctx.on_configuration_error and isinstance(exc, LeadevalError):
                ctx.on_configuration_error(exc)
        else:
            # INFO: the worker handler writes the record's one WARNING line when it reports the message.
            logger.info(f"[{job.id}] Job will be retried in {decision.delay_seconds}s: "
                        f"{decision.error_code}", extra={**extra, "delay_seconds": decision.delay_seconds})
        if not saved:
            return JobOutcome(Outcome.SKIPPED, job.id, detail="lost_lease", ai_calls=ai_calls)
        outcome = Outcome.RETRY if decision.action == "retry" else Outcome.SNOOZE
        return JobOutcome(outcome, job.id, delay_seconds=decision.delay_seconds,
                          error_code=decision.error_code, ai_calls=ai_calls, error_class=type(exc).__name__)
    dead = decision.action == "dead_letter"
    logger.error(f"[{job.id}] Job failed: {decision.error_code}: {decision.error_message}",
                 extra={**extra, "dead_lettered": dead})
    if not saved:
        return JobOutcome(Outcome.SKIPPED, job.id, detail="lost_lease", ai_calls=ai_calls)
    return JobOutcome(Outcome.DEAD_LETTERED if dead else Outcome.FAILED, job.id,
                      error_code=decision.error_code, ai_calls=ai_calls, error_class=type(exc).__name__)


@dataclass(frozen=True)
class _Read:
    """A job's documents read and checked, ready to score (see :func:`_read`, :func:`_score`).

    Attributes:
        lead: the job's lead.
        ordered: one result per document (a packet's later documents follow their file).
        extractions: the model's answers, in document order.
        policy: the site's policy (None: the defaults).
        model_name: the model that ran.
        pages: pages of the prepared documents.
        started: ``time.perf_counter()`` when reading started (seconds), for ``worker_ms``.
    """

    lead: Lead
    ordered: list[DocumentResult]
    extractions: list[Extraction]
    policy: ScoringPolicy | None
    model_name: str
    pages: int
    started: float


def _read(ctx: ProcessContext, job: Job, lead: Lead | None, documents: Sequence[LeadDocument],
          usage: Usage | None, *, now: datetime, calls: list[int], policy_json: str | None = None) -> _Read:
    started = time.perf_counter()  # the evaluation's worker time (Evaluation.worker_ms)
    policy = site_policy(job.site_id, policy_json)  # before any document is read: a bad policy costs nothing
    if lead is None:
        raise ResourceNotFound("lead not found in the job's site")
    if not documents:
        raise ResourceNotFound("the lead has no documents")
    if lead.monthly_rent_cents <= 0:
        raise ResourceNotFound("the lead has no positive monthly rent: nothing to measure income against")
    _log(job.id, f"Found {len(documents)} documents", documents=len(documents))
    if usage is not None and usage.evaluation_count > usage.quota_limit:
        raise QuotaExceeded(f"monthly quota exceeded for {usage.month}: "
                            f"{usage.evaluation_count} > {usage.quota_limit}")
    if usage is None:
        month = usage_month(job.requested_at) if job.requested_at else "the job's month"
        logger.warning(f"[{job.id}] no usage row for {month}; quota not checked",
                       extra={"job_id": job.id, "site_id": job.site_id})

    accepted = list(documents[: ctx.max_documents])
    results: dict[str, DocumentResult] = {
        d.id: _unreadable(d, f"over the limit of {ctx.max_documents} documents per application")
        for d in documents[ctx.max_documents:]
    }
    prepared = _fetch_and_prepare(ctx, accepted, results)

    choice = ctx.choose_model(job.model_version)
    model = choice.model
    if hasattr(model, "for_job"):  # a model with per-job budgets (the offline reader's OCR pages)
        model = model.for_job()
    _log(job.id, f"Model: {model.name} ({choice.reason})", model=model.name,
         requested_model=choice.requested, model_honoured=choice.honoured)
    _log(job.id, "Calling AI evaluation...", model=model.name, documents=len(prepared))
    extractions: list[Extraction] = []
    parts: dict[str, list[DocumentResult]] = {}
    for doc in accepted:
        p = prepared.get(doc.id)
        if p is None:
            continue
        try:
            calls[0] += 1
            extraction = model.extract(p)
        except DocumentUnreadable as exc:
            results[doc.id] = _unreadable(doc, exc.message, p)
            continue
        extractions.append(extraction)
        results[doc.id] = DocumentResult(
            document_id=doc.id, file_name=doc.file_name, declared_type=doc.document_type,
            detected_type=p.detected_type, sha256=p.sha256,
            kind=extraction.facts.document_kind if extraction.facts else None,
            verdict=Verdict.CLEAN if extraction.facts and not extraction.undetermined else Verdict.UNDETERMINED,
            reason="facts extracted" if extraction.facts and not extraction.undetermined
            else (extraction.note or "no facts extracted"),
            facts=extraction.facts, signals=[*p.signals, *extraction.signals],
            evidence=extraction.evidence)
        if len(extraction.parts) > 1:
            parts[doc.id] = _packet_parts(results[doc.id], extraction)
            results[doc.id] = results[doc.id].model_copy(
                update={"pages": (extraction.parts[0].first_page, extraction.parts[0].last_page)})

    # A packet's later documents follow the file they are part of.
    ordered = [r for d in documents for r in (results[d.id], *parts.get(d.id, ()))]
    if all(r.verdict == Verdict.UNREADABLE for r in ordered):
        reasons = "; ".join(sorted({r.reason for r in ordered}))
        raise DocumentUnreadable(f"no document could be used ({len(ordered)} unreadable: {reasons})")
    if extractions and all(e.facts is None and e.note == UNUSABLE_NOTE for e in extractions):
        raise ModelOutputInvalid(f"no document yielded valid facts ({len(extractions)} model answers unusable)")
    return _Read(lead=lead, ordered=ordered, extractions=extractions, policy=policy, model_name=model.name,
                 pages=sum(p.page_count for p in prepared.values()), started=started)


def _score(ctx: ProcessContext, job: Job, read: _Read, *, now: datetime, evaluation_id: str,
           prior: Sequence[PriorSubmission] = ()) -> Evaluation:
    """Score what :func:`_read` read, with the reuse signals ``prior`` gives (earlier submissions of the
    documents' hashes; none: scored as if no document came with another applicant name)."""
    from leadeval.screening.fraud import with_reuse
    from leadeval.screening.results import application_json
    from leadeval.screening.scoring import assess

    lead, extractions = read.lead, read.extractions
    ordered = with_reuse(read.ordered, lead.first_name, lead.last_name, lambda _hashes: prior) if prior \
        else read.ordered
    assessment = (ctx.assess or assess)(lead, ordered, today=now.date(), policy=read.policy)

    # The model that actually produced the facts (the application's model_version column).
    model_versions = sorted({e.model_version for e in extractions if e.model_version})
    usage_total = sum((e.usage for e in extractions), start=ModelUsage())
    evaluation = Evaluation(
        id=evaluation_id, job_id=job.id, generation=job.generation, lead_id=lead.id, site_id=job.site_id,
        score=assessment.score, label=assessment.label, recommendation=assessment.recommendation,
        summary=assessment.summary, reasons=assessment.reasons, documents=assessment.documents,
        flags=assessment.flags, monthly_income_cents=assessment.monthly_income_cents,
        income_to_rent_ratio=assessment.income_to_rent_ratio, policy_version=assessment.policy_version,
        model=read.model_name, model_version=",".join(model_versions) or read.model_name,
        prompt_tokens=usage_total.prompt_tokens, completion_tokens=usage_total.completion_tokens,
        pages=read.pages, worker_ms=round((time.perf_counter() - read.started) * 1000),
        input_hash=_input_hash(ordered, lead, assessment.policy_version, read.model_name),
        created_at=ctx.time_now(now),
        **application_json(lead, assessment, model=read.model_name))
    return evaluation


def _packet_parts(result: DocumentResult, extraction: Extraction) -> list[DocumentResult]:
    """The second and later logical documents of a packet (``extraction.parts[1:]``), each its own result:
    id ``<file id>#pages-A-B``, ``part_of`` the file's id, its pages, kind and facts. The file's forensic
    signals and hash stay on the file's own result."""
    out: list[DocumentResult] = []
    for part in extraction.parts[1:]:
        undetermined = extraction.undetermined
        out.append(result.model_copy(update={
            "document_id": f"{result.document_id}#pages-{part.first_page}-{part.last_page}",
            "part_of": result.document_id, "pages": (part.first_page, part.last_page),
            "kind": part.facts.document_kind, "facts": part.facts, "evidence": part.evidence, "signals": [],
            "sha256": None, "verdict": Verdict.UNDETERMINED if undetermined else Verdict.CLEAN}))
    return out


def site_policy(site_id: str, policy_json: str | None) -> ScoringPolicy | None:
    """The site's scoring policy from its stored JSON (``ClaimResult.policy_json``); None when the
    site has none, so :func:`~leadeval.screening.scoring.assess` applies the defaults.

    Returns:
        A ``ScoringPolicy`` (its ``version`` is what the evaluation records), or None.

    Raises:
        ConfigurationError: the stored policy is not a valid ``ScoringPolicy`` (edited by hand, or
            saved by a version that accepted other settings). The job snoozes and an alarm fires
            rather than being scored under a policy the site did not choose.
    """
    if policy_json is None:
        return None
    from pydantic import ValidationError

    from leadeval.screening.policy import ScoringPolicy

    try:
        return ScoringPolicy.from_stored(policy_json)
    except ValidationError as exc:
        first: dict[str, Any] = dict(exc.errors()[0]) if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())) or "policy"
        raise ConfigurationError(
            f"the scoring policy of site {site_id} is invalid ({exc.error_count()} error(s); first: {where}: "
            f"{first.get('msg', 'invalid')}); save a valid one with `leadeval policy set`") from exc


def _fetch_and_prepare(ctx: ProcessContext, documents: Sequence[LeadDocument],
                       results: dict[str, DocumentResult]) -> dict[str, PreparedDocument]:
    """Fetch every document concurrently, then prepare each. Missing/too-large documents become
    `unreadable`; transient storage errors propagate (the job is retried)."""
    from leadeval.screening.documents import prepare_document

    prepare = ctx.prepare or prepare_document

    def fetch(doc: LeadDocument) -> tuple[LeadDocument, bytes | None, str | None]:
        try:
            return doc, ctx.documents.get(doc.storage_key, max_bytes=ctx.max_document_bytes), None
        except DocumentMissing:
            return doc, None, "missing from storage"
        except DocumentTooLarge as exc:
            return doc, None, f"too large: {exc.size} bytes (limit {ctx.max_document_bytes})" if exc.size \
                else f"too large (limit {ctx.max_document_bytes} bytes)"

    prepared: dict[str, PreparedDocument] = {}
    if not documents:
        return prepared
    workers = max(1, min(ctx.fetch_concurrency, len(documents)))
    if workers == 1:  # one document (or no concurrency): no thread to start
        fetched = [fetch(doc) for doc in documents]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch") as pool:
            fetched = list(pool.map(fetch, documents))
    for i, (doc, data, problem) in enumerate(fetched):
        fetched[i] = (doc, None, problem)  # drop the list's reference: each document's bytes are freed once prepared
        if data is None:
            results[doc.id] = _unreadable(doc, problem or "unreadable")
            continue
        p = prepare(doc.id, data)
        del data
        if p.unreadable_reason:
            results[doc.id] = _unreadable(doc, p.unreadable_reason, p)
        else:
            prepared[doc.id] = p
    return prepared


def _unreadable(doc: LeadDocument, reason: str, prepared: PreparedDocument | None = None) -> DocumentResult:
    return DocumentResult(document_id=doc.id, file_name=doc.file_name, declared_type=doc.document_type,
                          detected_type=prepared.detected_type if prepared else None,
                          sha256=prepared.sha256 if prepared else None, verdict=Verdict.UNREADABLE,
                          reason=reason, signals=list(prepared.signals) if prepared else [])


def _fingerprints(evaluation: Evaluation, lead: Lead | None) -> list[PriorSubmission]:
    if lead is None:
        return []
    from leadeval.screening.fraud import fingerprints_of

    return fingerprints_of(evaluation.documents, lead.first_name, lead.last_name)


def _input_hash(results: Sequence[DocumentResult], lead: Lead, policy_version: str, model: str) -> str:
    """sha256 over the documents' hashes, the lead's rent figures, the policy and the model (audit)."""
    h = hashlib.sha256()
    for r in sorted(results, key=lambda r: r.document_id):
        h.update(f"{r.document_id}:{r.sha256 or '-'};".encode())
    h.update(f"rent={lead.monthly_rent_cents};voucher={lead.voucher_amount_cents};".encode())
    h.update(f"policy={policy_version};model={model}".encode())
    return h.hexdigest()
