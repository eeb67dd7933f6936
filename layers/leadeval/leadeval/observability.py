"""Powertools observability singletons shared by the handlers and the local runtime.

The Logger's service is ``leadeval``, which is also the name of its stdlib logger, so every module
logger of the package (``logging.getLogger(__name__)`` -> ``leadeval.…``) propagates to it and is
written as Powertools JSON with the keys appended per record (``job_id``, ``message_id``); every line is
redacted (credentials replaced, ``errors.redact``) after serialisation.
Creating these objects reads only POWERTOOLS_* variables; no client or connection is built.
"""

from __future__ import annotations

import json
import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

from leadeval.errors import redact


def _redacted_json(log: dict) -> str:
    """Powertools' default serialisation (compact JSON, ``str`` for other types, non-ASCII kept), then
    :func:`~leadeval.errors.redact`: no log line carries an ``Authorization`` value, a bearer token or a
    password, whichever field (message, extra key, exception text) it came in."""
    return redact(json.dumps(log, default=str, separators=(",", ":"), ensure_ascii=False))


logger = Logger(service="leadeval", json_serializer=_redacted_json)
metrics = Metrics(namespace="Leadeval", service="leadeval")
# Patch only botocore (SQS, S3/R2, DynamoDB calls): patching every supported library imports each of them
# at cold start (measured ~0.25 s more on the worker's import, docs/benchmarks.md).
tracer = Tracer(service="leadeval", patch_modules=["botocore"])


# ------------------------------------------------------------------------------------------- metrics
# Every CloudWatch metric leadeval publishes (EMF through Powertools, namespace ``Leadeval``, dimension
# ``service=leadeval``), in one place: the dashboard in template.yaml shows each one, and a test checks that
# what the code emits is in these lists and on the dashboard.

#: The sweep's counts per invocation (handlers.handle_sweep).
SWEEP_METRICS = ("JobsClaimed", "JobsSent", "JobsReleased", "JobsRescued")
#: One per record's outcome (``Jobs`` + the outcome in CamelCase: handlers._settle).
OUTCOME_METRICS = ("JobsCompleted", "JobsFailed", "JobsRetry", "JobsSnooze", "JobsDeadLettered", "JobsSkipped",
                   "JobsPoison")
#: The worker's other counts: poison bodies, infrastructure and configuration errors (alarms watch the last two).
WORKER_METRICS = ("PoisonMessages", "InfrastructureErrors", "ConfigurationErrors")
#: Per model request: latency (milliseconds) and the tokens the provider reported.
AI_METRICS = ("AiLatency", "AiPromptTokens", "AiCompletionTokens")
#: Per completed evaluation: its documents by verdict.
DOCUMENT_METRICS = ("DocumentsClean", "DocumentsEdited", "DocumentsUndetermined", "DocumentsUnreadable")
#: Failed and dead-lettered jobs by error code: dimensions ``service`` and ``ErrorCode``.
FAILED_BY_CODE_METRIC = "JobsFailedByErrorCode"
ERROR_CODE_DIMENSION = "ErrorCode"

ALL_METRICS = (*SWEEP_METRICS, *OUTCOME_METRICS, *WORKER_METRICS, *AI_METRICS, *DOCUMENT_METRICS,
               FAILED_BY_CODE_METRIC)


def count_failure(error_code: str) -> None:
    """Count a failed or dead-lettered job under its error code (``JobsFailedByErrorCode``, dimension
    ``ErrorCode``): its own EMF blob, since one blob's metrics share their dimensions. Nothing is printed
    while metrics are disabled (``POWERTOOLS_METRICS_DISABLED``: Powertools' ``single_metric`` prints anyway)."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric
    from aws_lambda_powertools.metrics.functions import is_metrics_disabled

    if is_metrics_disabled():
        return

    with single_metric(name=FAILED_BY_CODE_METRIC, unit=MetricUnit.Count, value=1, namespace=metrics.namespace,
                       default_dimensions={"service": metrics.service or "leadeval"}) as metric:
        metric.add_dimension(name=ERROR_CODE_DIMENSION, value=error_code or "Unknown")


class MeteredModel:
    """A :class:`~leadeval.ports.VisionModel` that publishes, per request, ``AiLatency`` (milliseconds, failed
    requests included) and the ``AiPromptTokens`` / ``AiCompletionTokens`` the provider reported.

    Args:
        model: the model asked.
    """

    def __init__(self, model: Any) -> None:
        self.model = model

    def extract(self, document: Any) -> Any:
        """``model.extract(document)``, timed; errors propagate unchanged."""
        from aws_lambda_powertools.metrics import MetricUnit

        started = time.perf_counter()
        try:
            extraction = self.model.extract(document)
        finally:
            metrics.add_metric(name="AiLatency", unit=MetricUnit.Milliseconds,
                               value=round((time.perf_counter() - started) * 1000, 1))
        usage = getattr(extraction, "usage", None)
        if usage is not None:
            metrics.add_metric(name="AiPromptTokens", unit=MetricUnit.Count, value=usage.prompt_tokens)
            metrics.add_metric(name="AiCompletionTokens", unit=MetricUnit.Count, value=usage.completion_tokens)
        return extraction

    def for_job(self) -> MeteredModel:
        """The model for one job (its ``for_job`` when it has per-job budgets), still metered."""
        inner = getattr(self.model, "for_job", None)
        return MeteredModel(inner()) if callable(inner) else self

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)


def count_documents(evaluation: Any) -> None:
    """Publish a completed evaluation's documents by verdict (``DocumentsClean``, ``DocumentsEdited``,
    ``DocumentsUndetermined``, ``DocumentsUnreadable``; 0s included, so every series has a value)."""
    from aws_lambda_powertools.metrics import MetricUnit

    counts = {name: 0 for name in DOCUMENT_METRICS}
    for document in getattr(evaluation, "documents", ()) or ():
        name = f"Documents{str(document.verdict).title()}"
        if name in counts:
            counts[name] += 1
    for name, value in counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


class MeteredStore:
    """The job store, publishing a completed evaluation's documents by verdict (:func:`count_documents`) when
    ``complete`` saved it; every other call goes straight to ``store``."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def complete(self, job: Any, evaluation: Any, **kwargs: Any) -> bool:
        """``store.complete(...)``; counts the documents when it returned True (saved)."""
        saved = bool(self.store.complete(job, evaluation, **kwargs))
        if saved:
            count_documents(evaluation)
        return saved

    def write_together(self, writes: Any) -> None:
        """``store.write_together(writes)``; counts the documents of each complete that was saved."""
        self.store.write_together(writes)
        for write in writes:
            if write.kind == "complete" and write.saved and write.evaluation is not None:
                count_documents(write.evaluation)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)
