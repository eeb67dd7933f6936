"""The composition root: the one place that builds leadeval's parts from :class:`~leadeval.config.Settings`.

:class:`Wiring` holds the settings and the ports, each built on first use (nothing at import time) or given by
whoever composes it (tests, the local runtime): the job store, the document store, the vision model and the
router for a job's ``model_version``, the jobs queue, the idempotency records, the clock and the processing
context, plus the worker's Powertools idempotent function. The Lambda handlers get theirs from
:func:`current` (built once per warm container from ``os.environ``: a bad setting fails at the first
invocation with a message naming the variable); the local runtime and tests :func:`install` their own.
Adapters are imported here, lazily, and nowhere else outside ``adapters/``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from leadeval.config import Settings, resolve_secret
from leadeval.errors import ConfigurationError, LeadevalError
from leadeval.jobs.model_choice import ModelRouter
from leadeval.jobs.process import JobOutcome, Outcome, ProcessContext, process_message
from leadeval.jobs.retry import RetryPolicy
from leadeval.models import JobMessage, PreparedDocument
from leadeval.ports import DocumentStore, JobQueue, JobStore, VisionModel
from leadeval.timeutil import utcnow

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer, IdempotencyConfig

#: Idempotency records live as long as a message can: the jobs queue's MessageRetentionPeriod (4 days,
#: template.yaml). The key includes the generation, which operator retry bumps, so a cached outcome never
#: blocks a deliberate re-run; a redrive keeps the generation, but nothing final is ever cached for a
#: generation that ended dead-lettered (retry and dead-letter outcomes are not kept).
IDEMPOTENCY_EXPIRES_SECONDS = 4 * 24 * 3600

#: Outcomes whose result Powertools Idempotency keeps: a duplicate of the message then returns it without
#: touching the database or the model. Each is final for the message's generation: a completed or cancelled job
#: never changes again, a failed one that was not dead-lettered only leaves ``failed`` through an operator retry
#: (a new generation), and a redrive keeps the generation, so a skipped older generation never becomes claimable
#: again. ``ahead_generation`` (a message naming a generation the row has not reached) is deliberately absent: an
#: operator retry may reach that generation later, and a cached skip would then ack its real message unworked.
CACHED_OUTCOMES = frozenset({Outcome.COMPLETED, Outcome.FAILED})
CACHED_SKIPS = frozenset({"terminal", "cancelled", "stale_generation"})


def _final(outcome: JobOutcome) -> bool:
    """Whether the idempotency store keeps ``outcome`` (:data:`CACHED_OUTCOMES`, :data:`CACHED_SKIPS`)."""
    return outcome.outcome in CACHED_OUTCOMES or (outcome.outcome == Outcome.SKIPPED and outcome.detail in CACHED_SKIPS)


def _cached(outcome: JobOutcome) -> dict[str, Any]:
    """What the idempotency store keeps of an outcome (the worker rebuilds a :class:`JobOutcome` from it)."""
    return {"outcome": outcome.outcome.value, "job_id": outcome.job_id, "error_code": outcome.error_code,
            "detail": outcome.detail, "ai_calls": outcome.ai_calls}


class NotFinal(Exception):
    """Raised inside the idempotent function for outcomes that must not be cached (retry, snooze, dead-letter,
    poison, in-flight): Powertools then deletes the record, so the next delivery of the same job generation
    runs again (a redrive must restart a dead-lettered job)."""

    def __init__(self, outcome: JobOutcome) -> None:
        super().__init__(outcome.outcome.value)
        self.outcome = outcome


ProcessJob = Callable[..., dict[str, Any]]
"""The worker's idempotent ``process_job(message=JobMessage, sent_at=datetime | None) -> dict`` (the cached
outcome: ``outcome``, ``job_id``, ``error_code``, ``detail``, ``ai_calls``); raises :class:`NotFinal`."""


class Wiring:
    """Settings and the ports built from them; a port given to the constructor is used as it is.

    Args:
        settings: every setting (``Settings.from_env``).
        store, documents, model, queue: the ports (default: built from ``settings`` on first use).
        models: the router for a job's ``model_version`` (default: from ``settings`` and ``model``).
        idempotency_store: Powertools idempotency persistence (default: DynamoDB when
            ``LEADEVAL_IDEMPOTENCY_TABLE`` is set, else SQLite beside the job database).
        clock: returns the current aware UTC time (default: the system clock; tests pass a virtual one).
        process_context: what ``process_message`` needs (default: built from the above and ``settings``).
        on_configuration_error: called when a ConfigurationError snoozes a job (the worker counts a metric).
    """

    def __init__(self, settings: Settings, *, store: JobStore | None = None, documents: DocumentStore | None = None,
                 model: VisionModel | None = None, queue: JobQueue | None = None, models: ModelRouter | None = None,
                 idempotency_store: BasePersistenceLayer | None = None,
                 clock: Callable[[], datetime] | None = None, process_context: ProcessContext | None = None,
                 on_configuration_error: Callable[[LeadevalError], None] | None = None) -> None:
        self.settings = settings
        self._store = store
        self._documents = documents
        self._model = model
        self._queue = queue
        self._models = models
        self._idempotency_store = idempotency_store
        self._clock = clock
        self._process_context = process_context
        self.on_configuration_error = on_configuration_error
        self._built_store = store is None
        self._processor: tuple[IdempotencyConfig, ProcessJob] | None = None
        self.runs = 0
        """How many times the idempotent ``process_job`` actually ran (a call answered from the idempotency
        record does not run it): the worker tells a replayed outcome from a fresh one by it."""

    # ---------------------------------------------------------------- ports
    @property
    def store(self) -> JobStore:
        """The job store for ``LEADEVAL_DATABASE_URL``."""
        if self._store is None:
            self._store = make_job_store(self.settings)
        return self._store

    @property
    def documents(self) -> DocumentStore:
        """The document store for ``LEADEVAL_DOCUMENTS_URL``."""
        if self._documents is None:
            self._documents = make_document_store(self.settings)
        return self._documents

    @property
    def model(self) -> VisionModel:
        """The vision model for ``LEADEVAL_MODEL_URL``."""
        if self._model is None:
            self._model = make_vision_model(self.settings)
        return self._model

    @property
    def models(self) -> ModelRouter:
        """Which model reads a job's documents, for its ``model_version``."""
        if self._models is None:
            self._models = make_model_router(self.settings, self.model)
        return self._models

    @property
    def queue(self) -> JobQueue:
        """The SQS jobs queue (``LEADEVAL_QUEUE_URL``, ``LEADEVAL_DLQ_URL``)."""
        if self._queue is None:
            self._queue = make_queue(self.settings)
        return self._queue

    @property
    def idempotency_store(self) -> BasePersistenceLayer:
        """Where the worker's idempotency records live."""
        if self._idempotency_store is None:
            from leadeval.adapters.idempotency import make_persistence_layer

            self._idempotency_store = make_persistence_layer(self.settings)
        return self._idempotency_store

    def replace(self, *, documents: DocumentStore | None = None,
                process_context: ProcessContext | None = None) -> None:
        """Install parts after construction, when they are built around parts of this wiring: the local runtime
        wraps the built document store, tests install a processing context around the built job store. What
        was built from the replaced parts (the processing context, the idempotent function) is rebuilt."""
        if documents is not None:
            self._documents = documents
            self._process_context = None
        if process_context is not None:
            self._process_context = process_context
        self._processor = None

    def now(self) -> datetime:
        """The handlers' clock: the injected one (virtual time in lifecycle tests), else the current UTC time."""
        return self._clock() if self._clock is not None else utcnow()

    # ---------------------------------------------------------------- the worker's processing
    def process_context(self) -> ProcessContext:
        """Everything :func:`~leadeval.jobs.process.process_message` needs (built once)."""
        if self._process_context is None:
            s = self.settings

            def prepare(document_id: str, data: bytes) -> PreparedDocument:
                from leadeval.screening.documents import DocumentLimits, prepare_document

                return prepare_document(document_id, data, limits=DocumentLimits.from_settings(s))

            from leadeval.observability import MeteredStore

            # Metered: documents by verdict per saved evaluation (EMF); the models are metered by the router.
            self._process_context = ProcessContext(
                store=cast(JobStore, MeteredStore(self.store)), documents=self.documents, model=self.model,
                clock=self.now,
                retry_policy=RetryPolicy(max_attempts=s.max_attempts, base_seconds=s.retry_base_seconds,
                                         cap_seconds=s.retry_cap_seconds),
                lease_seconds=s.lease_seconds, max_document_bytes=s.max_document_bytes,
                max_documents=s.max_documents, fetch_concurrency=s.fetch_concurrency, prepare=prepare,
                on_configuration_error=self.on_configuration_error, models=self.models)
        return self._process_context

    def idempotent_processor(self) -> tuple[IdempotencyConfig, ProcessJob]:
        """``(config, process_job)``, built once: Powertools ``idempotent_function`` around
        :func:`~leadeval.jobs.process.process_message`, keyed on the message's ``[job_id, generation]``; only
        final outcomes are cached (:data:`CACHED_OUTCOMES`, :data:`CACHED_SKIPS`), the others raise
        :class:`NotFinal` so Powertools deletes their record."""
        if self._processor is None:
            from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function

            config = IdempotencyConfig(event_key_jmespath="[job_id, generation]", raise_on_no_idempotency_key=True,
                                       expires_after_seconds=IDEMPOTENCY_EXPIRES_SECONDS)
            ctx = self.process_context()

            @idempotent_function(data_keyword_argument="message", config=config,
                                 persistence_store=self.idempotency_store, key_prefix="leadeval.worker.process_job")
            def process_job(message: JobMessage, sent_at: datetime | None = None) -> dict[str, Any]:
                self.runs += 1
                outcome = process_message(ctx, message, now=self.now(), sent_at=sent_at)
                if not _final(outcome):  # DEFERRED too: cached by remember() once its write is made
                    raise NotFinal(outcome)
                return _cached(outcome)

            self._processor = (config, process_job)
        return self._processor

    def remember(self, message: JobMessage, outcome: JobOutcome) -> None:
        """Cache the final outcome of a job whose write was deferred (``Outcome.DEFERRED``, then
        :func:`~leadeval.jobs.process.flush_deferred`) in the idempotency store under the message's key, as
        :meth:`idempotent_processor` caches the others when they return; other outcomes are not cached.

        Raises:
            Exception: the idempotency store's errors (Powertools ``save_success``).
        """
        if _final(outcome):
            self.idempotency_store.save_success(data=message.model_dump(mode="json"), result=_cached(outcome))

    def close(self) -> None:
        """Close the job store if this wiring built it (database connections)."""
        if self._built_store and self._store is not None:
            self._store.close()
            self._store = None


_current: Wiring | None = None


def current() -> Wiring:
    """The process-wide wiring: the installed one, or one built on first use from ``os.environ``.

    Raises:
        ConfigurationError: a setting is missing or malformed (the message names the variable).
    """
    global _current
    if _current is None:
        _current = Wiring(Settings.from_env(os.environ))
    return _current


def install(wiring: Wiring | None) -> None:
    """Make ``wiring`` the one the Lambda handlers use (the local runtime, tests); None forgets it (the next
    :func:`current` builds from the environment again). The previous one is closed."""
    global _current
    if _current is not None and _current is not wiring:
        _current.close()
    _current = wiring


def make_job_store(settings: Settings) -> JobStore:
    """The job store for ``settings.database_url``."""
    db = settings.database
    if db.kind == "sqlite":
        from leadeval.adapters.jobstore.sqlite import SqliteJobStore

        return SqliteJobStore(settings.sqlite_path())
    if db.kind == "d1":
        from leadeval.adapters.jobstore.d1 import D1JobStore

        variable, token = resolve_secret(settings, "CLOUDFLARE_D1_API_TOKEN", "CLOUDFLARE_API_TOKEN")
        limiter = None
        if settings.idempotency_table:  # in AWS: the token's budget shared by every instance (issue 14)
            from leadeval.adapters.ratelimit import dynamodb_bucket

            limiter = dynamodb_bucket(settings.idempotency_table, token)
        return D1JobStore(account_id=settings.cloudflare_account or "", database_id=db.database_id or "",
                          api_token=token, base_url=settings.cloudflare_api_url, token_variable=variable,
                          limiter=limiter)
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
    model when given). With OCR on (the ``ocr`` extra installed and both OCR page caps > 0) a Workers AI or
    OpenAI-compatible model's answers are cross-checked against the OCR of the first page when
    ``LEADEVAL_OCR_CROSSCHECK_PAGES_PER_JOB`` > 0
    (:class:`~leadeval.adapters.ai.crosschecked.OcrCrossCheckedModel`)."""
    spec = settings.model
    from leadeval.adapters.ai.offline import OfflineVisionModel
    from leadeval.adapters.ocr.rapid import RapidOcrReader, ocr_available

    use_ocr = settings.ocr_pages_per_document > 0 and settings.ocr_pages_per_job > 0 and ocr_available()
    offline = OfflineVisionModel.from_settings(settings, RapidOcrReader() if use_ocr else None)
    if spec.kind == "offline":
        return offline
    model = _remote_model(settings, model_id)
    if offline.ocr is None or settings.ocr_crosscheck_pages_per_job == 0:
        return model
    from leadeval.adapters.ai.crosschecked import OcrCrossCheckedModel

    return cast(VisionModel, OcrCrossCheckedModel(model, offline))  # its answers cross-checked by OCR


def _remote_model(settings: Settings, model_id: str | None) -> VisionModel:
    """Workers AI or the OpenAI-compatible endpoint of ``settings.model_url``."""
    spec = settings.model
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
    from leadeval.observability import MeteredModel

    spec = settings.model
    build = None
    if spec.kind == "workers-ai":
        def build(model_id: str) -> VisionModel:
            return cast(VisionModel, MeteredModel(make_vision_model(settings, model_id=model_id)))

    # Metered (AI latency and tokens per request, observability.MeteredModel) whichever model a job gets.
    return ModelRouter(cast(VisionModel, MeteredModel(model)), provider=spec.kind, default_id=spec.model,
                       allowlist=settings.model_allowlist, build=build)


def make_queue(settings: Settings) -> JobQueue:
    """The SQS jobs queue adapter.

    Raises:
        ConfigurationError: ``LEADEVAL_QUEUE_URL`` is not set.
    """
    if not settings.queue_url:
        raise ConfigurationError("LEADEVAL_QUEUE_URL is not set", variable="LEADEVAL_QUEUE_URL")
    from leadeval.adapters.queue.sqs import SqsJobQueue

    return SqsJobQueue(settings.queue_url, settings.dlq_url)
