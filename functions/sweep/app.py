"""SweepFunction: EventBridge Scheduler -> rescue stuck jobs, claim due jobs, fan out to SQS."""

from __future__ import annotations

from typing import Any

from leadeval.handlers import handle_sweep
from leadeval.observability import logger, metrics, tracer
from leadeval.wiring import current


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Entry point: one sweep; returns its counts."""
    return handle_sweep(event, context, current())
