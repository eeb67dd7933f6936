"""Powertools observability singletons shared by the handlers and the local runtime.

The Logger's service is ``leadeval``, which is also the name of its stdlib logger, so every module
logger of the package (``logging.getLogger(__name__)`` -> ``leadeval.…``) propagates to it and is
written as Powertools JSON with the keys appended per record (``job_id``, ``message_id``).
Creating these objects reads only POWERTOOLS_* variables; no client or connection is built.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="leadeval")
metrics = Metrics(namespace="Leadeval", service="leadeval")
# Patch only botocore (SQS, S3/R2, DynamoDB calls): patching every supported library imports each of them
# at cold start (measured ~0.25 s more on the worker's import, docs/benchmarks.md).
tracer = Tracer(service="leadeval", patch_modules=["botocore"])
