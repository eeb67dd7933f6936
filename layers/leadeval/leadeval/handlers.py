"""Lambda wiring for the sweep and worker handlers (the ``functions/*/app.py`` files stay thin).

``handle_sweep`` / ``handle_worker`` take the event, the Lambda context and the :class:`~leadeval.wiring.Wiring`,
so tests and the local runtime call them directly with the events in ``events/`` and their own wiring. No
adapter is imported here: the wiring builds them.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import ValidationError

from leadeval.errors import ConfigurationError, LeadevalError, MigrationsMissing
from leadeval.jobs.process import ClaimAheadPlan, JobOutcome, Outcome, ProcessContext, flush_deferred
from leadeval.jobs.records import ClaimAhead
from leadeval.jobs.sweep import run_sweep
from leadeval.models import JobMessage
from leadeval.observability import count_failure, metrics
from leadeval.observability import logger as powertools_logger
from leadeval.ports import DEAD_LETTERED_AT_ATTRIBUTE
from leadeval.timeutil import parse_ts
from leadeval.wiring import NotFinal, Wiring

if TYPE_CHECKING:
    # Imported where the worker uses them (handle_worker): the sweep never loads Powertools' batch and
    # idempotency utilities nor its event data classes (docs/benchmarks.md, "Worker cold import").
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = logging.getLogger(__name__)


class RedeliverLater(Exception):
    """Raised for a record whose message must come back (retry, snooze, deadline, a failed store, idempotency
    table or queue): the batch processor reports it in ``batchItemFailures``. Carries ids and codes only.

    Attributes:
        reason: ``deadline``, ``in_progress``, ``retry``, ``snooze``, ``infrastructure`` or ``unexpected``.
        error_code: the leadeval error code (``StoreUnavailable``, ``IdempotencyUnavailable``, ``ModelUnavailable``…).
        error_class: the class name of the exception behind it (``RedeliverLater`` when there is none).
        component: ``store``, ``idempotency``, ``queue`` or ``worker`` when the record failed for an
            infrastructure reason (or an unexpected exception: ``worker``); None for a job's own retry.
        level: the log level of the record's line (``logging.WARNING`` or ``logging.ERROR``).
        extra: more fields for the log line (codes and counts only).
    """

    def __init__(self, reason: str, *, error_code: str, error_class: str = "RedeliverLater",
                 component: str | None = None, level: int = logging.WARNING, **extra: Any) -> None:
        super().__init__(f"{reason}:{error_code}")
        self.reason = reason
        self.error_code = error_code
        self.error_class = error_class
        self.component = component
        self.level = level
        self.extra = extra


#: Counted once per record that failed because the job store, the idempotency store or the queue failed (or
#: an exception escaped the job's own error handling); ``InfrastructureErrorsAlarm`` (template.yaml) watches it.
INFRASTRUCTURE_METRIC = "InfrastructureErrors"


class WorkerBatchFailed(Exception):
    """Raised by :func:`handle_worker` when every record of the batch failed for an infrastructure reason, so
    the invocation counts as an error (Lambda ``Errors``: ``WorkerErrorsAlarm``) instead of a quiet success.
    The event source mapping then makes the whole batch visible again after its visibility timeout, which is
    what reporting every record would have done. The message holds counts only."""


def handle_sweep(event: dict[str, Any], context: Any, wiring: Wiring) -> dict[str, Any]:
    """Run one sweep for a scheduled event; return the counts (also logged and emitted as metrics).

    The event's content is not needed (EventBridge Scheduler sends our ``Input``: execution id and
    scheduled time, logged for correlation).
    """
    s = wiring.settings
    if isinstance(event, dict) and event.get("execution_id"):
        powertools_logger.set_correlation_id(str(event["execution_id"]))
    try:
        result = run_sweep(wiring.store, wiring.queue, now=wiring.now(), limit=s.sweep_limit,
                           backlog_limit=s.sweep_backlog_limit, lease_seconds=s.lease_seconds,
                           rescue_after_seconds=s.rescue_after_seconds)
    except Exception as exc:
        # One structured line (codes, class and where: never the exception's text or a traceback, which may
        # quote values), then the invocation fails as before so SweepErrorsAlarm counts it.
        logger.error("Sweep failed: nothing was claimed or rescued", extra=failure_fields(exc))
        raise
    metrics.add_metric(name="JobsClaimed", unit=MetricUnit.Count, value=result.claimed)
    metrics.add_metric(name="JobsSent", unit=MetricUnit.Count, value=result.sent)
    metrics.add_metric(name="JobsReleased", unit=MetricUnit.Count, value=result.released)
    metrics.add_metric(name="JobsRescued", unit=MetricUnit.Count,
                       value=result.rescued_to_pending + result.rescued_to_failed)
    return result.as_dict()


def handle_worker(event: dict[str, Any], context: Any, wiring: Wiring) -> PartialItemFailureResponse:
    """Process an SQS batch record by record; return ``{"batchItemFailures": [{"itemIdentifier": id}]}``.

    Per record: a malformed body goes to the DLQ intact and is acked; otherwise the job is processed
    and the message acked (completed, failed, skipped), delayed (retry/snooze: visibility set to the
    backoff and the record reported failed) or moved to the DLQ (attempts spent, unknown job).
    Records not started before the Lambda's remaining time drops under
    ``LEADEVAL_JOB_BUDGET_SECONDS`` are reported failed without claiming, so no attempt is used.

    No failure is silent: every record reported in ``batchItemFailures`` gets exactly one WARNING or ERROR
    line, "message reported for redelivery", with ``job_id`` (None for an unparseable body), ``message_id``,
    ``error_code``, ``error_class`` and ``reason``; a record failed by the job store, the idempotency store or
    the queue (or by an unexpected exception) also counts 1 in the ``InfrastructureErrors`` metric.

    Raises:
        WorkerBatchFailed: every record of the batch failed for an infrastructure reason (logged at ERROR).
    """
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

    ctx = wiring.process_context()
    if ctx.on_configuration_error is None:
        ctx.on_configuration_error = _count_configuration_error
    config, process_job = wiring.idempotent_processor()
    # The in-progress idempotency record of a record expires with the Lambda's remaining time or the job's
    # lease, whichever ends first: after a crash, the redelivered message can take the job back as soon as
    # the lease allows it, never later.
    # LeaseBoundContext quacks like the LambdaContext Powertools reads (get_remaining_time_in_millis).
    config.register_lambda_context(cast("LambdaContext", LeaseBoundContext(context, ctx.lease_seconds)))
    budget_ms = wiring.settings.job_budget_seconds * 1000
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    infrastructure: Counter[str] = Counter()
    upcoming = _parsed_records(event)
    position = [-1]  # index of the record being handled (the batch processor goes through them in order)
    ctx.ahead = _plan_claims(wiring, ctx, context, upcoming, position)
    deferred: list[tuple[SQSRecord, JobMessage]] = []  # records whose outcome waits for the grouped write

    def record_handler(record: SQSRecord, lambda_context: Any = None) -> str:
        powertools_logger.append_keys(message_id=record.message_id)
        position[0] += 1
        try:
            try:
                return _handle_record(record, lambda_context)
            except RedeliverLater as report:
                failure = report
            except Exception as exc:  # the store, the idempotency table, the queue, or a bug
                failure = _infrastructure_failure(exc)
            _report(failure, job_id=_job_id_of(record), message_id=record.message_id, infrastructure=infrastructure)
            raise failure
        finally:
            _unclaim_unused(wiring, ctx, upcoming[position[0]] if position[0] < len(upcoming) else None)
            powertools_logger.remove_keys(["message_id", "job_id"])

    def _handle_record(record: SQSRecord, lambda_context: Any) -> str:
        try:
            message = JobMessage.model_validate_json(record.body)
        except ValidationError:
            logger.error("malformed message body; moving it to the DLQ intact",
                         extra={"error_code": "MalformedMessage"})
            _dead_letter(wiring, record, "MalformedMessage")
            metrics.add_metric(name="PoisonMessages", unit=MetricUnit.Count, value=1)
            return "poison"
        powertools_logger.append_keys(job_id=message.job_id)
        if lambda_context is not None and lambda_context.get_remaining_time_in_millis() < budget_ms:
            remaining = lambda_context.get_remaining_time_in_millis()
            raise RedeliverLater("deadline", error_code="DeadlineNear", remaining_ms=remaining,
                                 **_delay(wiring, record, 0))
        try:
            runs = wiring.runs
            result = process_job(message=message, sent_at=_sent_at(record))
            outcome = JobOutcome(Outcome(result["outcome"]), result["job_id"], error_code=result["error_code"],
                                 detail=result["detail"], ai_calls=result["ai_calls"])
            if wiring.runs == runs:  # answered from the idempotency record: a duplicate delivery, no work done
                logger.info(f"[{message.job_id}] Skipping message: duplicate (already {result['outcome']})",
                            extra={"claim_status": "duplicate", "cached_outcome": result["outcome"]})
                outcome = JobOutcome(Outcome.SKIPPED, message.job_id, detail="duplicate")
        except NotFinal as not_final:
            outcome = not_final.outcome
        except IdempotencyAlreadyInProgressError:
            # Another invocation holds this job generation; the message comes back after its visibility timeout.
            raise RedeliverLater("in_progress", error_code="InProgress",
                                 error_class="IdempotencyAlreadyInProgressError") from None
        if outcome.outcome == Outcome.DEFERRED:
            deferred.append((record, message))
            return outcome.outcome.value  # settled after the grouped write (below)
        return _settle(wiring, record, outcome)

    try:
        response = process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                            context=context)
        for (record, message), result in zip(deferred, flush_deferred(ctx, _log_keys(deferred)), strict=True):
            if not _settle_deferred(wiring, record, message, result, infrastructure):
                response["batchItemFailures"].append({"itemIdentifier": record.message_id})
    finally:
        ctx.ahead = None
        ctx.deferred = None
    records = len(response.get("batchItemFailures", []))
    total = len(event.get("Records") or []) if isinstance(event, dict) else 0
    if total and records == total and sum(infrastructure.values()) == total:
        logger.error("Every record of the batch failed for an infrastructure reason; failing the invocation",
                     extra={"records": total, "by_component": dict(infrastructure)})
        raise WorkerBatchFailed(f"all {total} records failed for an infrastructure reason: "
                                + ", ".join(f"{k} {v}" for k, v in sorted(infrastructure.items())))
    return response


def _plan_claims(wiring: Wiring, ctx: ProcessContext, context: Any,
                 upcoming: list[tuple[JobMessage, datetime | None] | None], position: list[int]) -> ClaimAheadPlan:
    """The invocation's claims made ahead: the group claim of every record (:func:`_claim_group`), and for a
    record the group did not claim, its claim riding along the previous record's write (``position[0]``: the
    index of the record being handled). Neither while too little time is left for the next record to start."""
    budget_ms = wiring.settings.job_budget_seconds * 1000

    def time_for_more() -> bool:
        return context is None or context.get_remaining_time_in_millis() >= budget_ms + CLAIM_AHEAD_MARGIN_MS

    def next_request() -> ClaimAhead | None:
        index = position[0] + 1
        if index >= len(upcoming) or upcoming[index] is None or not time_for_more():
            return None  # no next record, or it may not start: do not take its job
        message, sent_at = upcoming[index]  # type: ignore[misc]
        if plan.holds(message):
            return None  # claimed with the group already
        return ClaimAhead(message=message, sent_at=sent_at, lease_seconds=ctx.lease_seconds)

    plan = ClaimAheadPlan(next_request=next_request)
    if time_for_more():
        _claim_group(wiring, ctx, plan, upcoming)
    return plan


def _report(failure: RedeliverLater, *, job_id: str | None, message_id: str, infrastructure: Counter[str]) -> None:
    """Log a reported record's one line and count an infrastructure failure (metric and ``infrastructure``)."""
    _log_report(failure, job_id=job_id, message_id=message_id)
    if failure.component is not None:
        infrastructure[failure.component] += 1
        metrics.add_metric(name=INFRASTRUCTURE_METRIC, unit=MetricUnit.Count, value=1)


def _claim_group(wiring: Wiring, ctx: ProcessContext, plan: ClaimAheadPlan,
                 upcoming: list[tuple[JobMessage, datetime | None] | None]) -> None:
    """Claim the jobs of every parseable record in one request (:meth:`~leadeval.ports.LifecycleStore.claim_group`)
    when there are two or more, and collect their writes for one request after the batch (``ctx.deferred``,
    :func:`~leadeval.jobs.process.flush_deferred`): two D1 requests for a batch of ten jobs instead of ten or more.
    A record whose job the group did not claim claims it alone, as before; if the group claim itself fails,
    every record does (logged; nothing was claimed)."""
    messages = [parsed[0] for parsed in upcoming if parsed is not None]
    if len(messages) < 2:
        return
    try:
        claims = wiring.store.claim_group(messages, now=wiring.now(), lease_seconds=ctx.lease_seconds)
    except Exception as exc:
        logger.warning("the group claim failed; each record claims its job alone",
                       extra={"records": len(messages), **failure_fields(exc)})
        return
    for message, claim in zip(messages, claims, strict=True):
        if claim is not None:
            plan.made.setdefault((message.job_id, message.generation), claim)
    ctx.deferred = []


@contextmanager
def _record_keys(record: SQSRecord, message: JobMessage) -> Iterator[object]:
    """The record's ``message_id`` and ``job_id`` on every log line written inside (as while it was handled)."""
    powertools_logger.append_keys(message_id=record.message_id, job_id=message.job_id)
    try:
        yield None
    finally:
        powertools_logger.remove_keys(["message_id", "job_id"])


def _log_keys(deferred: list[tuple[SQSRecord, JobMessage]]) -> Callable[[int], AbstractContextManager[object]]:
    """``scope(i)`` for :func:`~leadeval.jobs.process.flush_deferred`: :func:`_record_keys` of the i-th deferred
    record."""
    return lambda i: _record_keys(*deferred[i])


def _settle_deferred(wiring: Wiring, record: SQSRecord, message: JobMessage, result: JobOutcome | Exception,
                     infrastructure: Counter[str]) -> bool:
    """Settle a record whose write went with the group's (:func:`~leadeval.jobs.process.flush_deferred`):
    cache its final outcome for idempotency, then ack, delay or dead-letter its message as :func:`_settle` does.
    Returns False when the record must be reported for redelivery (its one line logged, infrastructure counted),
    as the record handler does for a record that fails."""
    with _record_keys(record, message):
        try:
            if isinstance(result, Exception):
                raise result
            try:
                wiring.remember(message, result)
            except Exception as exc:  # the database holds the outcome: a duplicate finds it there
                logger.warning("could not cache the outcome for idempotency", extra=failure_fields(exc))
            _settle(wiring, record, result)
            return True
        except Exception as exc:
            _report(_infrastructure_failure(exc), job_id=message.job_id, message_id=record.message_id,
                    infrastructure=infrastructure)
            return False


#: A record's job is claimed ahead (with the previous record's write) only while the invocation has this much
#: more than ``LEADEVAL_JOB_BUDGET_SECONDS`` left, so the record then starts (else it is handed back), in ms.
CLAIM_AHEAD_MARGIN_MS = 5_000


def _parsed_records(event: Any) -> list[tuple[JobMessage, datetime | None] | None]:
    """Each record's message and ``SentTimestamp``, in order; None for a body that is not a job message."""
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    records = event.get("Records") if isinstance(event, dict) else None
    parsed: list[tuple[JobMessage, datetime | None] | None] = []
    for raw in records if isinstance(records, list) else []:
        try:
            record = SQSRecord(raw)
            parsed.append((JobMessage.model_validate_json(record.body), _sent_at(record)))
        except (ValidationError, TypeError, KeyError, AttributeError):
            parsed.append(None)
    return parsed


def _unclaim_unused(wiring: Wiring, ctx: ProcessContext, parsed: tuple[JobMessage, datetime | None] | None) -> None:
    """Hand back a job claimed ahead for this record when the record did not use the claim (it stopped before
    processing: the deadline, another invocation's in-progress record, a cached outcome): its message comes
    back and claims it again, no attempt counted. A failure here is logged; the lease then expires as after a
    crash (the rescue counts it)."""
    if parsed is None or ctx.ahead is None:
        return
    made = ctx.ahead.take(parsed[0])
    if made is None or made.status != "claimed" or made.job is None:
        return
    try:
        wiring.store.unclaim(made.job, now=wiring.now(), lease_seconds=ctx.lease_seconds)
    except Exception as exc:
        logger.warning("could not hand back a job claimed ahead; it is taken back when its lease ends",
                       extra={"job_id": made.job.id, **failure_fields(exc)})


class LeaseBoundContext:
    """The Lambda context as Powertools Idempotency sees it: ``get_remaining_time_in_millis`` is the smaller
    of the Lambda's remaining time and the job lease, so an in-progress idempotency record never outlives the
    lease (Powertools sets its ``in_progress_expiration`` to now + that value, ``BasePersistenceLayer
    .save_inprogress``). Other attributes are the wrapped context's.

    Args:
        context: the Lambda context, or None (tests, tools): then the lease alone.
        lease_seconds: the job lease (``ProcessContext.lease_seconds``), seconds.
    """

    def __init__(self, context: Any, lease_seconds: float) -> None:
        self.context = context
        self.lease_seconds = lease_seconds

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds: min(the Lambda's remaining time, the lease), never negative."""
        lease_ms = int(self.lease_seconds * 1000)
        if self.context is None:
            return lease_ms
        return max(0, min(lease_ms, int(self.context.get_remaining_time_in_millis())))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.context, name)


def failure_fields(exc: BaseException) -> dict[str, Any]:
    """Log fields describing an exception without its text (which may quote values or echo credentials):
    ``error_code`` (the leadeval code, ``ProcessingError`` for foreign exceptions), ``error_class``,
    ``cause_class`` (the innermost ``__cause__``, when there is one) and ``raised_at`` (file:line in function
    of the innermost frame: where it was raised)."""
    fields: dict[str, Any] = {"error_code": getattr(exc, "code", None) if isinstance(exc, LeadevalError)
                              else "ProcessingError", "error_class": type(exc).__name__}
    cause = exc
    while cause.__cause__ is not None and cause.__cause__ is not cause:
        cause = cause.__cause__
    if cause is not exc:
        fields["cause_class"] = type(cause).__name__
    if isinstance(exc, MigrationsMissing):
        fields["action"] = MigrationsMissing.action  # a constant: what the operator runs
    tb = cause.__traceback__ or exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is not None:
        code = tb.tb_frame.f_code
        fields["raised_at"] = f"{code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno} in {code.co_name}"
    return fields


def _infrastructure_failure(exc: Exception) -> RedeliverLater:
    """What to report for an exception that escaped a record's processing.

    Outside the job's own pipeline (whose errors ``process_message`` records as retries or failures), only the
    job store (claim, result write), the idempotency store and the queue are called, so a leadeval error is the
    store's (queue errors are tagged where the queue is called), a Powertools idempotency error the idempotency
    store's, and anything else an unexpected exception of the worker.
    """
    from aws_lambda_powertools.utilities.idempotency.exceptions import BaseError as IdempotencyError

    if isinstance(exc, RedeliverLater):
        return exc
    fields = failure_fields(exc)
    if isinstance(exc, _QueueFailure):
        return RedeliverLater("infrastructure", component="queue", level=logging.ERROR,
                              **{**failure_fields(exc.error), "operation": exc.operation})
    if isinstance(exc, IdempotencyError):
        fields["error_code"] = "IdempotencyUnavailable"
        return RedeliverLater("infrastructure", component="idempotency", level=logging.ERROR, **fields)
    if isinstance(exc, LeadevalError):
        if isinstance(exc, ConfigurationError):
            _count_configuration_error(exc)
            fields["variable"] = exc.variable
        return RedeliverLater("infrastructure", component="store", level=logging.ERROR, **fields)
    return RedeliverLater("unexpected", component="worker", level=logging.ERROR, **fields)


def _log_report(report: RedeliverLater, *, job_id: str | None, message_id: str) -> None:
    """The one line of a reported record."""
    what = f"[{job_id}] " if job_id else ""
    logger.log(report.level, f"{what}message reported for redelivery ({report.reason}): {report.error_code}",
               extra={**report.extra, "job_id": job_id, "message_id": message_id, "reason": report.reason,
                      "error_code": report.error_code, "error_class": report.error_class,
                      "component": report.component})


def _job_id_of(record: SQSRecord) -> str | None:
    try:
        return JobMessage.model_validate_json(record.body).job_id
    except ValidationError:
        return None


def _sent_at(record: SQSRecord) -> datetime | None:
    """When the record's message was (re)sent to the jobs queue, or None when the event does not say.

    ``SentTimestamp`` (epoch ms): a redrive gives the message a new one. A message carrying the
    ``leadeval_dead_lettered_at`` attribute came back from the DLQ (an SQS message move task keeps message
    attributes), so it was sent after that instant whatever its timestamp says: the later of the two is used.
    """
    sent: datetime | None = None
    try:
        millis = int(record.attributes.sent_timestamp or 0)
    except (TypeError, ValueError, KeyError):
        millis = 0
    if millis > 0:
        sent = datetime.fromtimestamp(millis / 1000, UTC)
    attributes: dict[str, Any] = dict(record.message_attributes)
    stamp = (attributes.get(DEAD_LETTERED_AT_ATTRIBUTE) or {}).get("stringValue")
    try:
        moved = parse_ts(stamp) if stamp else None
    except ValueError:
        moved = None
    if moved is not None and (sent is None or moved > sent):
        sent = moved
    return sent


def _count_configuration_error(error: LeadevalError) -> None:
    """Feed the ConfigurationErrors alarm (template.yaml)."""
    metrics.add_metric(name="ConfigurationErrors", unit=MetricUnit.Count, value=1)


def _settle(wiring: Wiring, record: SQSRecord, outcome: JobOutcome) -> str:
    metrics.add_metric(name=f"Jobs{outcome.outcome.value.title().replace('_', '')}", unit=MetricUnit.Count,
                       value=1)
    job: dict[str, Any] = {"error_code": outcome.error_code or outcome.outcome.value,
                           "error_class": outcome.error_class or "RedeliverLater"}
    if outcome.outcome == Outcome.SNOOZE:
        # A snooze re-sends the body with a delay and acks this copy: throttling uses no attempt in the
        # database and, this way, no receive count in SQS either (a long outage would otherwise push the
        # message past maxReceiveCount into the DLQ). Delays over SQS's 900 s cap come back sooner and
        # snooze again.
        try:
            wiring.queue.requeue(record.body, delay_seconds=outcome.delay_seconds)
            return outcome.outcome.value
        except LeadevalError as exc:
            # Reported with the delay instead: the queue failed, so it counts as an infrastructure failure.
            raise RedeliverLater("snooze", component="queue", level=logging.WARNING, operation="requeue",
                                 job_error_code=job["error_code"], delay_seconds=outcome.delay_seconds,
                                 **failure_fields(exc), **_delay(wiring, record, outcome.delay_seconds)) from exc
    if outcome.outcome == Outcome.RETRY:
        delayed = _delay(wiring, record, outcome.delay_seconds)
        raise RedeliverLater("retry", component="queue" if delayed else None, delay_seconds=outcome.delay_seconds,
                             **job, **delayed)
    if outcome.outcome in (Outcome.FAILED, Outcome.DEAD_LETTERED):
        count_failure(outcome.error_code or outcome.outcome.value)
    if outcome.outcome in (Outcome.DEAD_LETTERED, Outcome.POISON):
        _dead_letter(wiring, record, outcome.error_code or outcome.outcome.value)
    return outcome.outcome.value


class _QueueFailure(Exception):
    """A queue call failed while settling a record (wraps the leadeval error; ``operation`` names the call)."""

    def __init__(self, operation: str, error: Exception) -> None:
        super().__init__(operation)
        self.operation = operation
        self.error = error


def _delay(wiring: Wiring, record: SQSRecord, seconds: int) -> dict[str, Any]:
    """Set the record's visibility to ``seconds``. Returns ``{}``, or the fields describing the queue's
    failure (the message then comes back after the queue's visibility timeout; nothing is lost)."""
    try:
        wiring.queue.change_visibility(record.receipt_handle, seconds)
    except LeadevalError as exc:
        return {"visibility_error_code": exc.code, "visibility_error_class": type(exc).__name__}
    return {}


def _dead_letter(wiring: Wiring, record: SQSRecord, reason: str) -> None:
    """Send the record's body, untouched, to the DLQ; if that fails, raise so the message is kept.

    Raises:
        _QueueFailure: the DLQ refused the message (the record is then reported for redelivery).
    """
    try:
        wiring.queue.dead_letter(record.body, reason=reason)
    except Exception as exc:
        raise _QueueFailure("dead_letter", exc) from exc
    logger.info("message moved to the DLQ", extra={"reason": reason})
