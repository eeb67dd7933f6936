"""Composition root: builds the ports from :class:`~leadeval.config.Settings`, lazily.

Nothing is built at import time. :func:`get_services` builds once per warm Lambda container from
``os.environ`` (a bad setting fails at the first invocation with a message naming the variable);
tests call :func:`build_services` with their own settings and overrides.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leadeval.config import Settings, resolve_secret
from leadeval.errors import ConfigurationError
from leadeval.ports import DocumentStore, JobQueue, JobStore, VisionModel
from leadeval.services.model_choice import ModelRouter
from leadeval.services.process import ProcessContext
from leadeval.services.retry import RetryPolicy


@dataclass
class Services:
    """The built ports plus settings. Ports are created on first access and then reused."""

    settings: Settings
    overrides: dict[str, Any] = field(default_factory=dict)
    _built: dict[str, Any] = field(default_factory=dict)

    def _get(self, name: str, factory: Any) -> Any:
        if name in self.overrides:
            return self.overrides[name]
        if name not in self._built:
            self._built[name] = factory()
        return self._built[name]

    @property
    def store(self) -> JobStore:
        """The job store for ``LEADEVAL_DATABASE_URL``."""
        return self._get("store", lambda: make_job_store(self.settings))

    @property
    def documents(self) -> DocumentStore:
        """The document store for ``LEADEVAL_DOCUMENTS_URL``."""
        return self._get("documents", lambda: make_document_store(self.settings))

    @property
    def model(self) -> VisionModel:
        """The vision model for ``LEADEVAL_MODEL_URL``."""
        return self._get("model", lambda: make_vision_model(self.settings))

    @property
    def queue(self) -> JobQueue:
        """The SQS jobs queue (``LEADEVAL_QUEUE_URL``, ``LEADEVAL_DLQ_URL``)."""
        return self._get("queue", lambda: make_queue(self.settings))

    def process_context(self) -> ProcessContext:
        """Everything :func:`~leadeval.services.process.process_message` needs."""
        s = self.settings

        def prepare(document_id: str, data: bytes):
            from leadeval.services.documents import DocumentLimits, prepare_document

            return prepare_document(document_id, data, limits=DocumentLimits.from_settings(s))

        return self._get("process_context", lambda: ProcessContext(
            store=self.store, documents=self.documents, model=self.model,
            retry_policy=RetryPolicy(max_attempts=s.max_attempts, base_seconds=s.retry_base_seconds,
                                     cap_seconds=s.retry_cap_seconds),
            lease_seconds=s.lease_seconds, max_document_bytes=s.max_document_bytes,
            max_documents=s.max_documents, fetch_concurrency=s.fetch_concurrency, prepare=prepare,
            on_configuration_error=self.overrides.get("on_configuration_error"),
            models=self._get("models", lambda: make_model_router(self.settings, self.model))))

    def close(self) -> None:
        """Close what was built (database connections)."""
        store = self._built.get("store")
        if store is not None:
            store.close()
        self._built.clear()


def build_services(settings: Settings, **overrides: Any) -> Services:
    """Services for ``settings``; any port can be replaced by passing it by name (store=…, queue=…)."""
    return Services(settings=settings, overrides=overrides)


_services: Services | None = None


def get_services() -> Services:
    """The process-wide services, built on first use from ``os.environ``.

    Raises:
        ConfigurationError: a setting is missing or malformed (the message names the variable).
    """
    global _services
    if _services is None:
        _services = build_services(Settings.from_env(os.environ))
    return _services


def reset_services() -> None:
    """Forget the process-wide services (tests, the local runtime after changing settings)."""
    global _services
    if _services is not None:
        _services.close()
    _services = None


def make_job_store(settings: Settings) -> JobStore:
    """The job store for ``settings.database_url``."""
    db = settings.database
    if db.kind == "sqlite":
        from leadeval.adapters.jobstore.sqlite import SqliteJobStore

        return SqliteJobStore(settings.sqlite_path())
    if db.kind == "d1":
        from leadeval.adapters.jobstore.d1 import D1JobStore

        variable, token = resolve_secret(settings, "CLOUDFLARE_D1_API_TOKEN", "CLOUDFLARE_API_TOKEN")
        return D1JobStore(account_id=settings.cloudflare_account or "", database_id=db.database_id or "",
                          api_token=token, base_url=settings.cloudflare_api_url, token_variable=variable)
    from leadeval.adapters.jobstore.postgres import PostgresJobStore

    return PostgresJobStore(db.dsn or "")


def make_document_store(settings: Settings) -> DocumentStore:
    """The document store for ``settings.documents_url``."""
    docs = settings.documents
    if docs.kind == "file":
        from leadeval.adapters.storage.local import LocalDocumentStore

        return LocalDocumentStore(Path(docs.path or "."))
    if docs.kind == "s3":
        from leadeval.adapters.storage.s3 import S3DocumentStore

        return S3DocumentStore(docs.bucket or "", endpoint_url=settings.aws_endpoint_url)
    from leadeval.adapters.storage.s3 import R2DocumentStore

    _, key_id = resolve_secret(settings, "R2_ACCESS_KEY_ID")
    _, secret = resolve_secret(settings, "R2_SECRET_ACCESS_KEY")
    return R2DocumentStore(docs.bucket or "", account_id=settings.cloudflare_account or "",
                           access_key_id=key_id, secret_access_key=secret)


def make_vision_model(settings: Settings, *, model_id: str | None = None) -> VisionModel:
    """The vision model for ``settings.model_url`` (Workers AI: ``model_id`` instead of the configured
    model when given)."""
    spec = settings.model
    if spec.kind == "offline":
        from leadeval.adapters.ai.offline import OfflineVisionModel

        return OfflineVisionModel()
    if spec.kind == "workers-ai":
        from leadeval.adapters.ai.workers_ai import WorkersAIVisionModel

        variable, token = resolve_secret(settings, "CLOUDFLARE_AI_API_TOKEN", "CLOUDFLARE_API_TOKEN")
        return WorkersAIVisionModel(account_id=settings.cloudflare_account or "", api_token=token,
                                    model=model_id or spec.model or "", base_url=settings.cloudflare_api_url,
                                    token_variable=variable)
    from leadeval.adapters.ai.openai_compat import OpenAICompatibleVisionModel

    api_key = settings.secrets.get("OPENAI_API_KEY")
    if api_key is None and "OPENAI_API_KEY" in settings.secret_parameters:
        api_key = resolve_secret(settings, "OPENAI_API_KEY")[1]
    return OpenAICompatibleVisionModel(base_url=spec.base_url or "", model=spec.model or "", api_key=api_key)


def make_model_router(settings: Settings, model: VisionModel) -> ModelRouter:
    """The model router for a job's ``model_version``: Workers AI serves the ids of
    ``LEADEVAL_MODEL_ALLOWLIST`` (each built once, sharing the configured credentials); any other
    provider always runs its configured ``model``."""
    spec = settings.model
    build = None
    if spec.kind == "workers-ai":
        def build(model_id: str) -> VisionModel:
            return make_vision_model(settings, model_id=model_id)

    return ModelRouter(model, provider=spec.kind, default_id=spec.model, allowlist=settings.model_allowlist,
                       build=build)


def make_queue(settings: Settings) -> JobQueue:
    """The SQS jobs queue adapter.

    Raises:
        ConfigurationError: ``LEADEVAL_QUEUE_URL`` is not set.
    """
    if not settings.queue_url:
        raise ConfigurationError("LEADEVAL_QUEUE_URL is not set", variable="LEADEVAL_QUEUE_URL")
    from leadeval.adapters.queue.sqs import SqsJobQueue

    return SqsJobQueue(settings.queue_url, settings.dlq_url)
