"""Lambda wiring for the sweep and worker handlers (the ``functions/*/app.py`` files stay thin).

``handle_sweep`` / ``handle_worker`` take the event, the Lambda context and the :class:`Services`, so
tests and the local runtime call them directly with the events in ``events/`` and their own services.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from pydantic import ValidationError

from leadeval.adapters.queue.sqs import DEAD_LETTERED_AT_ATTRIBUTE
from leadeval.bootstrap import Services
from leadeval.errors import LeadevalError
from leadeval.models import JobMessage
from leadeval.observability import logger as powertools_logger
from leadeval.observability import metrics
from leadeval.services.process import JobOutcome, Outcome, process_message
from leadeval.services.sweep import run_sweep
from leadeval.timeutil import parse_ts, utcnow

logger = logging.getLogger(__name__)


class RedeliverLater(Exception):
    """Raised for a record whose message must come back (retry, snooze, deadline): the batch
    processor reports it in ``batchItemFailures``. Carries only ids and codes."""


class _NotFinal(Exception):
    """Raised inside the idempotent function for outcomes that must not be cached (retry, snooze,
    dead-letter, poison, in-flight): Powertools then deletes the record, so the next delivery of the
    same job generation runs again (a redrive must restart a dead-lettered job, DESIGN §1)."""

    def __init__(self, outcome: JobOutcome) -> None:
        super().__init__(outcome.outcome.value)
        self.outcome = outcome


#: Outcomes whose result Powertools Idempotency keeps: a duplicate of the message then returns it
#: without touching the database or the model.
#: Each is final for the message's generation: a completed or cancelled job never changes again, a failed one
#: that was not dead-lettered only leaves ``failed`` through an operator retry (a new generation), and a redrive
#: keeps the generation, so a skipped older generation never becomes claimable again.
_CACHED = {Outcome.COMPLETED, Outcome.FAILED}
_CACHED_SKIPS = {"terminal", "cancelled", "stale_generation"}

#: Idempotency records live as long as a message can: the jobs queue's MessageRetentionPeriod (4 days,
#: template.yaml). The key includes the generation, which operator retry bumps, so a cached outcome never
#: blocks a deliberate re-run; a redrive keeps the generation, but nothing final is ever cached for a
#: generation that ended dead-lettered (retry and dead-letter outcomes are not kept).
IDEMPOTENCY_EXPIRES_SECONDS = 4 * 24 * 3600


def _idempotent_processor(services: Services) -> tuple[Any, Any]:
    """``(config, process_job)`` for this process: Powertools ``idempotent_function`` keyed on
    ``[job_id, generation]`` of the :class:`JobMessage`."""
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function

    from leadeval.adapters.idempotency import make_persistence_layer

    def build() -> tuple[Any, Any]:
        config = IdempotencyConfig(event_key_jmespath="[job_id, generation]", raise_on_no_idempotency_key=True,
                                   expires_after_seconds=IDEMPOTENCY_EXPIRES_SECONDS)
        ctx = services.process_context()

        @idempotent_function(data_keyword_argument="message", config=config,
                             persistence_store=services.overrides.get("idempotency_store")
                             or make_persistence_layer(services.settings),
                             key_prefix="leadeval.worker.process_job")
        def process_job(message: JobMessage, sent_at: datetime | None = None) -> dict[str, Any]:
            outcome = process_message(ctx, message, now=_now(services), sent_at=sent_at)
            if outcome.outcome not in _CACHED and not (
                    outcome.outcome == Outcome.SKIPPED and outcome.detail in _CACHED_SKIPS):
                raise _NotFinal(outcome)
            return {"outcome": outcome.outcome.value, "job_id": outcome.job_id, "error_code": outcome.error_code,
                    "detail": outcome.detail, "ai_calls": outcome.ai_calls}

        return config, process_job

    return services._get("idempotent_processor", build)


def _now(services: Services) -> datetime:
    """The handlers' clock: ``services.overrides["clock"]()`` when a test injects one (virtual time for
    lifecycle and property tests), else the current UTC time."""
    clock = services.overrides.get("clock")
    return clock() if clock is not None else utcnow()


def handle_sweep(event: dict[str, Any], context: Any, services: Services) -> dict[str, Any]:
    """Run one sweep for a scheduled event; return the counts (also logged and emitted as metrics).

    The event's content is not needed (EventBridge Scheduler sends our ``Input``: execution id and
    scheduled time, logged for correlation).
    """
    s = services.settings
    if isinstance(event, dict) and event.get("execution_id"):
        powertools_logger.set_correlation_id(str(event["execution_id"]))
    result = run_sweep(services.store, services.queue, now=_now(services), limit=s.sweep_limit,
                       backlog_limit=s.sweep_backlog_limit, lease_seconds=s.lease_seconds,
                       rescue_after_seconds=s.rescue_after_seconds)
    metrics.add_metric(name="JobsClaimed", unit=MetricUnit.Count, value=result.claimed)
    metrics.add_metric(name="JobsSent", unit=MetricUnit.Count, value=result.sent)
    metrics.add_metric(name="JobsReleased", unit=MetricUnit.Count, value=result.released)
    metrics.add_metric(name="JobsRescued", unit=MetricUnit.Count,
                       value=result.rescued_to_pending + result.rescued_to_failed)
    return result.as_dict()


def handle_worker(event: dict[str, Any], context: Any, services: Services) -> dict[str, Any]:
    """Process an SQS batch record by record; return ``{"batchItemFailures": [{"itemIdentifier": id}]}``.

    Per record: a malformed body goes to the DLQ intact and is acked; otherwise the job is processed
    and the message acked (completed, failed, skipped), delayed (retry/snooze: visibility set to the
    backoff and the record reported failed) or moved to the DLQ (attempts spent, unknown job).
    Records not started before the Lambda's remaining time drops under
    ``LEADEVAL_JOB_BUDGET_SECONDS`` are reported failed without claiming, so no attempt is used.
    """
    ctx = services.process_context()
    if ctx.on_configuration_error is None:
        ctx.on_configuration_error = _count_configuration_error
    config, process_job = _idempotent_processor(services)
    if context is not None:
        config.register_lambda_context(context)
    budget_ms = services.settings.job_budget_seconds * 1000
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

    def record_handler(record: SQSRecord, lambda_context: Any = None) -> str:
        powertools_logger.append_keys(message_id=record.message_id)
        try:
            if lambda_context is not None and lambda_context.get_remaining_time_in_millis() < budget_ms:
                logger.warning("not enough time left to start this record; reported for redelivery",
                               extra={"remaining_ms": lambda_context.get_remaining_time_in_millis()})
                _delay(services, record, 0)
                raise RedeliverLater("deadline")
            try:
                message = JobMessage.model_validate_json(record.body)
            except ValidationError:
                logger.error("malformed message body; moving it to the DLQ intact",
                             extra={"error_code": "MalformedMessage"})
                _dead_letter(services, record, "MalformedMessage")
                metrics.add_metric(name="PoisonMessages", unit=MetricUnit.Count, value=1)
                return "poison"
            powertools_logger.append_keys(job_id=message.job_id)
            try:
                result = process_job(message=message, sent_at=_sent_at(record))
                outcome = JobOutcome(Outcome(result["outcome"]), result["job_id"], error_code=result["error_code"],
                                     detail=result["detail"], ai_calls=result["ai_calls"])
            except _NotFinal as not_final:
                outcome = not_final.outcome
            except IdempotencyAlreadyInProgressError:
                logger.info("the same job generation is being processed by another invocation; "
                            "message will come back after its visibility timeout")
                raise RedeliverLater("in_progress") from None
            return _settle(services, record, outcome)
        finally:
            powertools_logger.remove_keys(["message_id", "job_id"])

    return process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                    context=context)


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
    stamp = (record.message_attributes.get(DEAD_LETTERED_AT_ATTRIBUTE) or {}).get("stringValue")
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


def _settle(services: Services, record: SQSRecord, outcome: JobOutcome) -> str:
    metrics.add_metric(name=f"Jobs{outcome.outcome.value.title().replace('_', '')}", unit=MetricUnit.Count,
                       value=1)
    if outcome.outcome == Outcome.SNOOZE:
        # A snooze re-sends the body with a delay and acks this copy: throttling uses no attempt in the
        # database and, this way, no receive count in SQS either (a long outage would otherwise push the
        # message past maxReceiveCount into the DLQ). Delays over SQS's 900 s cap come back sooner and
        # snooze again.
        try:
            services.queue.requeue(record.body, delay_seconds=outcome.delay_seconds)
            return outcome.outcome.value
        except LeadevalError as exc:
            logger.warning("could not re-send the snoozed message; delaying it instead",
                           extra={"error_code": exc.code})
    if outcome.outcome in (Outcome.RETRY, Outcome.SNOOZE):
        _delay(services, record, outcome.delay_seconds)
        raise RedeliverLater(f"{outcome.outcome.value}:{outcome.error_code}")
    if outcome.outcome in (Outcome.DEAD_LETTERED, Outcome.POISON):
        _dead_letter(services, record, outcome.error_code or outcome.outcome.value)
    return outcome.outcome.value


def _delay(services: Services, record: SQSRecord, seconds: int) -> None:
    try:
        services.queue.change_visibility(record.receipt_handle, seconds)
    except LeadevalError as exc:
        # The message still comes back after the queue's visibility timeout; nothing is lost.
        logger.warning("could not change the message visibility", extra={"error_code": exc.code})


def _dead_letter(services: Services, record: SQSRecord, reason: str) -> None:
    """Send the record's body, untouched, to the DLQ; if that fails, raise so the message is kept."""
    services.queue.dead_letter(record.body, reason=reason)
    logger.info("message moved to the DLQ", extra={"reason": reason})
