"""The one botocore client configuration every AWS-API client of leadeval uses (SQS, S3, R2 through the S3
API, and the operator tools' Lambda and SQS clients).

Standard retry mode with 3 attempts (botocore's ``max_attempts`` counts retries: 1 try + 3 retries), 5 s to
connect and 30 s to read: a hung endpoint fails a job's attempt well inside the worker's timeout, and a throttled
or 5xx answer is retried with botocore's backoff before leadeval's own error mapping sees it
(boto3 docs: guide/retries, "Standard retry mode").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from botocore.config import Config

RETRIES: dict[str, Any] = {"mode": "standard", "max_attempts": 3}
CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 30


def client_config(**overrides: Any) -> Config:
    """The shared ``botocore.config.Config``, with service-specific settings added (``s3={...}``,
    ``signature_version``, checksum modes). Imported lazily: nothing AWS loads at import time."""
    from botocore.config import Config

    return Config(retries=dict(RETRIES), connect_timeout=CONNECT_TIMEOUT_SECONDS,
                  read_timeout=READ_TIMEOUT_SECONDS, **overrides)


def client(service: str, **kwargs: Any) -> Any:
    """A boto3 client of its own session (thread-safe to create), with :func:`client_config`; ``kwargs`` go to
    ``Session.client`` (``region_name``, ``endpoint_url``, credentials, ``config`` to replace the default)."""
    import boto3

    kwargs.setdefault("config", client_config())
    return boto3.session.Session().client(service, **kwargs)
