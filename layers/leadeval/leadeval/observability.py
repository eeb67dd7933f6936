"""Powertools observability singletons shared by the handlers and the local runtime.

The Logger's service is ``leadeval``, which is also the name of its stdlib logger, so every module
logger of the package (``logging.getLogger(__name__)`` -> ``leadeval.…``) propagates to it and is
written as Powertools JSON with the keys appended per record (``job_id``, ``message_id``); every line is
redacted (credentials replaced, ``errors.redact``) after serialisation.
Creating these objects reads only POWERTOOLS_* variables; no client or connection is built.
"""

from __future__ import annotations

import json

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
