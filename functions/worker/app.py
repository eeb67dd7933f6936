"""WorkerFunction: SQS batch -> one job per record, partial batch response."""

from __future__ import annotations

from typing import Any

from leadeval.handlers import handle_worker
from leadeval.observability import logger, metrics, tracer
from leadeval.wiring import current


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Entry point: returns ``{"batchItemFailures": [...]}`` for ReportBatchItemFailures."""
    return handle_worker(event, context, current())
