"""WorkerFunction: SQS batch -> one job per record, partial batch response."""

from __future__ import annotations

from typing import Any

# Powertools' batch utility is imported before pydantic (leadeval's models): imported after it, the utility
# loads all of Powertools' pydantic parser models (its batch/types.py checks sys.modules), which the worker
# never uses. The sweep does not load it at all.
import aws_lambda_powertools.utilities.batch  # noqa: F401

from leadeval.handlers import handle_worker
from leadeval.observability import logger, metrics, tracer
from leadeval.wiring import current


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Entry point: returns ``{"batchItemFailures": [...]}`` for ReportBatchItemFailures."""
    return handle_worker(event, context, current())
