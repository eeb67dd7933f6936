"""Settings: every environment variable leadeval reads, validated in one place.

``Settings.from_env(mapping)`` takes a plain mapping (``os.environ`` in Lambda, a dict in tests) and
raises :class:`~leadeval.errors.ConfigurationError` naming the variable when a value is missing or
malformed. Backends are chosen by URL scheme:

- ``LEADEVAL_DATABASE_URL``: ``sqlite:///relative/path.db`` | ``sqlite:////absolute/path.db`` (default
  ``sqlite:///.leadeval/leadeval.db``) | ``d1://ACCOUNT_ID/DATABASE_ID`` | ``postgresql://user:pw@host:port/db``
- ``LEADEVAL_DOCUMENTS_URL``: ``file:relative/dir`` | ``file:///absolute/dir`` (default
  ``file:.leadeval/documents``) | ``r2://BUCKET`` | ``s3://BUCKET``
- ``LEADEVAL_MODEL_URL``: ``offline:`` (default) | ``workers-ai:MODEL_ID`` |
  ``openai+http://host:port/v1?model=NAME`` | ``openai+https://…``

Secrets (``CLOUDFLARE_API_TOKEN``, ``CLOUDFLARE_D1_API_TOKEN``, ``CLOUDFLARE_AI_API_TOKEN``,
``R2_ACCESS_KEY_ID``, ``R2_SECRET_ACCESS_KEY``, ``OPENAI_API_KEY``) may be given directly or as
``<NAME>_PARAMETER``: an SSM SecureString name or a Secrets Manager ARN, resolved lazily with
Powertools ``parameters`` (cached 300 s) by :func:`resolve_secret`.

Any other ``LEADEVAL_*`` variable (a misspelt one, say) is ignored, with one warning naming it (never its value)
and the known name it is closest to: :data:`KNOWN_VARIABLES` lists every ``LEADEVAL_*`` name the project reads,
here or in its tools, scripts and tests.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ConfigDict

from leadeval.errors import ConfigurationError

logger = logging.getLogger(__name__)

SECRET_NAMES = (
    "CLOUDFLARE_API_TOKEN",
    "CLOUDFLARE_D1_API_TOKEN",
    "CLOUDFLARE_AI_API_TOKEN",
    "R2_ACCESS_KEY_ID",
    "R2_SECRET_ACCESS_KEY",
    "OPENAI_API_KEY",
)


@dataclass(frozen=True)
class DatabaseSpec:
    """Parsed ``LEADEVAL_DATABASE_URL``: ``kind`` and its parts (path, account/database id, dsn)."""

    kind: Literal["sqlite", "d1", "postgresql"]
    path: str | None = None
    account_id: str | None = None
    database_id: str | None = None
    dsn: str | None = None


@dataclass(frozen=True)
class DocumentsSpec:
    """Parsed ``LEADEVAL_DOCUMENTS_URL``: ``kind`` and the bucket or directory."""

    kind: Literal["file", "r2", "s3"]
    path: str | None = None
    bucket: str | None = None


@dataclass(frozen=True)
class ModelSpec:
    """Parsed ``LEADEVAL_MODEL_URL``: ``kind``, model id and (OpenAI-compatible) base URL."""

    kind: Literal["offline", "workers-ai", "openai"]
    model: str | None = None
    base_url: str | None = None


def parse_database_url(url: str, variable: str = "LEADEVAL_DATABASE_URL") -> DatabaseSpec:
    """Parse a database URL (grammar in the module docstring).

    Raises:
        ConfigurationError: unknown scheme or missing parts, naming ``variable``.
    """
    if url.startswith("sqlite:///"):
        rest = url[len("sqlite:///"):]
        if not rest:
            raise ConfigurationError(f"{variable}: sqlite URL needs a path", variable=variable)
        return DatabaseSpec("sqlite", path=rest)
    if url.startswith("d1://"):
        parts = [p for p in url[len("d1://"):].split("/") if p]
        if len(parts) != 2:
            raise ConfigurationError(f"{variable}: expected d1://ACCOUNT_ID/DATABASE_ID", variable=variable)
        return DatabaseSpec("d1", account_id=parts[0], database_id=parts[1])
    if url.startswith(("postgresql://", "postgres://")):
        if not urlsplit(url).hostname and "host=" not in url:
            raise ConfigurationError(f"{variable}: PostgreSQL URL needs a host", variable=variable)
        return DatabaseSpec("postgresql", dsn=url)
    raise ConfigurationError(
        f"{variable}: unsupported URL scheme (use sqlite:///path, d1://ACCOUNT/DB or postgresql://…)",
        variable=variable)


def parse_documents_url(url: str, variable: str = "LEADEVAL_DOCUMENTS_URL") -> DocumentsSpec:
    """Parse a documents URL: ``file:dir``, ``file:///abs``, ``r2://BUCKET``, ``s3://BUCKET``.

    Raises:
        ConfigurationError: unknown scheme or empty bucket/path, naming ``variable``.
    """
    if url.startswith("file://"):
        path = url[len("file://"):]
        if not path.startswith("/"):
            raise ConfigurationError(f"{variable}: file:// URLs must be absolute (file:///dir)", variable=variable)
        return DocumentsSpec("file", path=path)
    if url.startswith("file:"):
        path = url[len("file:"):]
        if not path:
            raise ConfigurationError(f"{variable}: file: URL needs a directory", variable=variable)
        return DocumentsSpec("file", path=path)
    for scheme in ("r2", "s3"):
        if url.startswith(f"{scheme}://"):
            bucket = url[len(scheme) + 3:].strip("/")
            if not bucket or "/" in bucket:
                raise ConfigurationError(f"{variable}: expected {scheme}://BUCKET", variable=variable)
            return DocumentsSpec(scheme, bucket=bucket)
    raise ConfigurationError(f"{variable}: unsupported URL (use file:dir, r2://BUCKET or s3://BUCKET)",
                             variable=variable)


def parse_model_url(url: str, variable: str = "LEADEVAL_MODEL_URL") -> ModelSpec:
    """Parse a model URL: ``offline:``, ``workers-ai:MODEL``, ``openai+http(s)://host/v1?model=NAME``.

    Raises:
        ConfigurationError: unknown scheme or missing model, naming ``variable``.
    """
    if url in ("offline", "offline:"):
        return ModelSpec("offline", model="offline")
    if url.startswith("workers-ai:"):
        model = url[len("workers-ai:"):]
        if not model.startswith("@cf/"):
            raise ConfigurationError(f"{variable}: expected workers-ai:@cf/…", variable=variable)
        return ModelSpec("workers-ai", model=model)
    if url.startswith(("openai+http://", "openai+https://")):
        parts = urlsplit(url[len("openai+"):])
        model = (parse_qs(parts.query).get("model") or [""])[0]
        if not model or not parts.hostname:
            raise ConfigurationError(f"{variable}: expected openai+http://host:port/v1?model=NAME",
                                     variable=variable)
        base = f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")
        return ModelSpec("openai", model=model, base_url=base)
    raise ConfigurationError(
        f"{variable}: unsupported model URL (use offline:, workers-ai:MODEL or openai+http://…?model=NAME)",
        variable=variable)


_WORKERS_AI_MODEL_ID = re.compile(r"^@[a-z0-9-]+/[A-Za-z0-9._/-]+$")


def parse_model_allowlist(value: str | None, model: ModelSpec,
                          variable: str = "LEADEVAL_MODEL_ALLOWLIST") -> tuple[str, ...]:
    """The Workers AI model ids a job's ``model_version`` may select (comma-separated).

    Unset: only the configured Workers AI model (none for other providers). Workers AI model ids look like
    ``@cf/meta/llama-3.2-11b-vision-instruct`` (https://developers.cloudflare.com/workers-ai/models/).

    Raises:
        ConfigurationError: an entry is not a Workers AI model id, naming ``variable``.
    """
    if value is None:
        return (model.model,) if model.kind == "workers-ai" and model.model else ()
    ids = tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
    for model_id in ids:
        if not _WORKERS_AI_MODEL_ID.match(model_id):
            raise ConfigurationError(f"{variable}: {model_id!r} is not a Workers AI model id (e.g. "
                                     "@cf/meta/llama-3.2-11b-vision-instruct)", variable=variable)
    return ids


_INT_SETTINGS: dict[str, tuple[str, int, int, int]] = {
    # field: (variable, default, min, max)
    "sweep_limit": ("LEADEVAL_SWEEP_LIMIT", 1000, 1, 100_000),
    "sweep_backlog_limit": ("LEADEVAL_SWEEP_BACKLOG_LIMIT", 2000, 1, 1_000_000),
    "max_attempts": ("LEADEVAL_MAX_ATTEMPTS", 5, 1, 100),
    "lease_seconds": ("LEADEVAL_LEASE_SECONDS", 300, 10, 43_200),
    "rescue_after_seconds": ("LEADEVAL_RESCUE_AFTER_SECONDS", 3600, 60, 7 * 86_400),
    "job_budget_seconds": ("LEADEVAL_JOB_BUDGET_SECONDS", 60, 1, 900),
    "retry_base_seconds": ("LEADEVAL_RETRY_BASE_SECONDS", 30, 1, 3600),
    "retry_cap_seconds": ("LEADEVAL_RETRY_CAP_SECONDS", 900, 1, 43_200),
    "max_document_bytes": ("LEADEVAL_MAX_DOCUMENT_BYTES", 25 * 1024 * 1024, 1024, 512 * 1024 * 1024),
    "max_documents": ("LEADEVAL_MAX_DOCUMENTS", 15, 1, 100),
    "max_pdf_pages": ("LEADEVAL_MAX_PDF_PAGES", 30, 1, 1000),
    "max_image_pixels": ("LEADEVAL_MAX_IMAGE_PIXELS", 50_000_000, 1_000_000, 500_000_000),
    "max_pdf_objects": ("LEADEVAL_MAX_PDF_OBJECTS", 100_000, 100, 10_000_000),
    "max_pdf_content_bytes": ("LEADEVAL_MAX_PDF_CONTENT_BYTES", 16 * 1024 * 1024, 64 * 1024, 1024 * 1024 * 1024),
    "max_pdf_page_operators": ("LEADEVAL_MAX_PDF_PAGE_OPERATORS", 200_000, 1_000, 10_000_000),
    "max_pdf_page_text_operators": ("LEADEVAL_MAX_PDF_PAGE_TEXT_OPERATORS", 20_000, 100, 10_000_000),
    "max_decoded_image_bytes": ("LEADEVAL_MAX_DECODED_IMAGE_BYTES", 128 * 1024 * 1024, 1024 * 1024,
                                2 * 1024 * 1024 * 1024),
    "max_image_frames": ("LEADEVAL_MAX_IMAGE_FRAMES", 30, 1, 1000),
    "document_budget_seconds": ("LEADEVAL_DOCUMENT_BUDGET_SECONDS", 10, 1, 900),
    "fetch_concurrency": ("LEADEVAL_FETCH_CONCURRENCY", 8, 1, 64),
    # OCR of page images by the offline reader (when rapidocr is installed); 0 pages turns it off
    "ocr_pages_per_document": ("LEADEVAL_OCR_PAGES_PER_DOCUMENT", 3, 0, 30),
    "ocr_pages_per_job": ("LEADEVAL_OCR_PAGES_PER_JOB", 8, 0, 300),
    # of those, pages per job OCR'd to cross-check a text layer or a vision model's answer (0 = off: it costs
    # about 4-6 CPU-seconds a page, so only the container-image worker turns it on by default)
    "ocr_crosscheck_pages_per_job": ("LEADEVAL_OCR_CROSSCHECK_PAGES_PER_JOB", 0, 0, 300),
}


#: The ``LEADEVAL_*`` variables :meth:`Settings.from_env` reads besides those of ``_INT_SETTINGS``.
_SETTINGS_VARIABLES = (
    "LEADEVAL_DATABASE_URL", "LEADEVAL_DOCUMENTS_URL", "LEADEVAL_MODEL_URL", "LEADEVAL_MODEL_ALLOWLIST",
    "LEADEVAL_QUEUE_URL", "LEADEVAL_DLQ_URL", "LEADEVAL_IDEMPOTENCY_TABLE", "LEADEVAL_WORKER_FUNCTION_NAME",
    "LEADEVAL_CLOUDFLARE_API_URL",
)
#: ``LEADEVAL_*`` variables read outside :class:`Settings`, by the dev tools, scripts and tests (not in Lambda).
_TOOL_VARIABLES = (
    "LEADEVAL_CHROMIUM",            # tools/leadeval_tools/report/render.py: the Chromium that prints reports
    "LEADEVAL_CORPUS_DIR",          # tests, scripts/bench_*.py: the shared sample corpus
    "LEADEVAL_TEST_POSTGRES_URL",   # tests, scripts/bench_load.py: the PostgreSQL server tests use
    "LEADEVAL_BENCH_NO_LIMITER",    # scripts/bench_throughput.py
    "LEADEVAL_PG_PORT", "LEADEVAL_PG_DIR", "LEADEVAL_PG_WAIT_SECONDS",  # scripts/ensure_postgres.sh
    "LEADEVAL_SKIP_BROWSER_SETUP",  # scripts/ensure_chromium.sh
)
#: Every ``LEADEVAL_*`` variable the project reads; others are reported by :func:`warn_unknown_variables`.
KNOWN_VARIABLES = frozenset((*_SETTINGS_VARIABLES, *(v for v, *_ in _INT_SETTINGS.values()), *_TOOL_VARIABLES))

_warned: set[frozenset[str]] = set()  # the unknown-name sets already reported by this process


def unknown_variables(names: Iterable[str]) -> dict[str, str | None]:
    """The ``LEADEVAL_*`` names (any case) among ``names`` that leadeval does not read, each with the known
    name it is an obvious misspelling of (``difflib`` ratio of the parts after ``LEADEVAL_`` >= 0.75), or None.

    Returns:
        ``{unknown name: closest known name or None}``, sorted by name.
    """
    suffixes = {name[len("LEADEVAL_"):]: name for name in KNOWN_VARIABLES}
    unknown: dict[str, str | None] = {}
    for name in sorted(names):
        if not name.upper().startswith("LEADEVAL_") or name in KNOWN_VARIABLES:
            continue
        close = difflib.get_close_matches(name[len("LEADEVAL_"):].upper(), suffixes, n=1, cutoff=0.75)
        unknown[name] = suffixes[close[0]] if close else None
    return unknown


def warn_unknown_variables(names: Iterable[str]) -> None:
    """Log one warning naming the unknown ``LEADEVAL_*`` variables among ``names`` (names only, never values),
    with the known name each probably meant; nothing when all are known, or when this process already
    reported the same names (the local runtime loads its settings several times)."""
    unknown = unknown_variables(names)
    if not unknown or frozenset(unknown) in _warned:
        return
    _warned.add(frozenset(unknown))
    listed = ", ".join(f"{name} (did you mean {close}?)" if close else name for name, close in unknown.items())
    logger.warning("Ignoring unknown environment variable%s: %s", "s" if len(unknown) > 1 else "", listed)


class Settings(BaseModel):
    """All settings. Build with :meth:`from_env`; fields mirror the variables in ``_INT_SETTINGS``
    and the URLs above. Durations in seconds, sizes in bytes."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    database_url: str = "sqlite:///.leadeval/leadeval.db"
    documents_url: str = "file:.leadeval/documents"
    model_url: str = "offline:"
    queue_url: str | None = None
    dlq_url: str | None = None
    idempotency_table: str | None = None
    worker_function_name: str | None = None
    cloudflare_api_url: str = "https://api.cloudflare.com/client/v4"
    cloudflare_account_id: str | None = None
    aws_endpoint_url: str | None = None
    sweep_limit: int = 1000
    sweep_backlog_limit: int = 2000
    max_attempts: int = 5
    lease_seconds: int = 300
    rescue_after_seconds: int = 3600
    job_budget_seconds: int = 60
    retry_base_seconds: int = 30
    retry_cap_seconds: int = 900
    max_document_bytes: int = 25 * 1024 * 1024
    max_documents: int = 15
    max_pdf_pages: int = 30
    max_image_pixels: int = 50_000_000
    max_pdf_objects: int = 100_000
    max_pdf_content_bytes: int = 16 * 1024 * 1024
    max_pdf_page_operators: int = 200_000
    max_pdf_page_text_operators: int = 20_000
    max_decoded_image_bytes: int = 128 * 1024 * 1024
    max_image_frames: int = 30
    document_budget_seconds: int = 10
    fetch_concurrency: int = 8
    ocr_pages_per_document: int = 3
    ocr_pages_per_job: int = 8
    ocr_crosscheck_pages_per_job: int = 0
    model_allowlist: tuple[str, ...] = ()
    secrets: dict[str, str] = {}
    secret_parameters: dict[str, str] = {}

    @property
    def database(self) -> DatabaseSpec:
        """The parsed database URL."""
        return parse_database_url(self.database_url)

    @property
    def documents(self) -> DocumentsSpec:
        """The parsed documents URL."""
        return parse_documents_url(self.documents_url)

    @property
    def model(self) -> ModelSpec:
        """The parsed model URL."""
        return parse_model_url(self.model_url)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read and validate every setting from ``env``; unknown ``LEADEVAL_*`` names in it are logged (one
        warning, see :func:`warn_unknown_variables`), not refused.

        Raises:
            ConfigurationError: a value is malformed or a backend lacks what it needs, naming the variable.
        """
        def get(name: str, default: str | None = None) -> str | None:
            value = env.get(name)
            return value.strip() if value is not None and value.strip() != "" else default

        warn_unknown_variables(env)
        values: dict[str, object] = {
            "database_url": get("LEADEVAL_DATABASE_URL", "sqlite:///.leadeval/leadeval.db"),
            "documents_url": get("LEADEVAL_DOCUMENTS_URL", "file:.leadeval/documents"),
            "model_url": get("LEADEVAL_MODEL_URL", "offline:"),
            "queue_url": get("LEADEVAL_QUEUE_URL"),
            "dlq_url": get("LEADEVAL_DLQ_URL"),
            "idempotency_table": get("LEADEVAL_IDEMPOTENCY_TABLE"),
            "worker_function_name": get("LEADEVAL_WORKER_FUNCTION_NAME"),
            "cloudflare_api_url": (get("LEADEVAL_CLOUDFLARE_API_URL") or
                                   "https://api.cloudflare.com/client/v4").rstrip("/"),
            "cloudflare_account_id": get("CLOUDFLARE_ACCOUNT_ID"),
            "aws_endpoint_url": get("AWS_ENDPOINT_URL"),
        }
        for field_name, (variable, default, low, high) in _INT_SETTINGS.items():
            raw = get(variable)
            if raw is None:
                values[field_name] = default
                continue
            try:
                number = int(raw)
            except ValueError:
                raise ConfigurationError(f"{variable}: expected an integer, got {raw!r}",
                                         variable=variable) from None
            if not low <= number <= high:
                raise ConfigurationError(f"{variable}: {number} is outside {low}..{high}", variable=variable)
            values[field_name] = number
        values["model_allowlist"] = parse_model_allowlist(get("LEADEVAL_MODEL_ALLOWLIST"),
                                                          parse_model_url(str(values["model_url"])))
        values["secrets"] = {n: v for n in SECRET_NAMES if (v := get(n))}
        values["secret_parameters"] = {n: v for n in SECRET_NAMES if (v := get(f"{n}_PARAMETER"))}
        settings = cls.model_validate(values)
        settings.check()
        return settings

    def check(self) -> None:
        """Cross-field checks: each backend has what it needs.

        Raises:
            ConfigurationError: naming the variable to set.
        """
        db, docs, model = self.database, self.documents, self.model
        if self.retry_cap_seconds < self.retry_base_seconds:
            raise ConfigurationError("LEADEVAL_RETRY_CAP_SECONDS must be >= LEADEVAL_RETRY_BASE_SECONDS",
                                     variable="LEADEVAL_RETRY_CAP_SECONDS")
        if self.lease_seconds <= self.job_budget_seconds:
            raise ConfigurationError("LEADEVAL_LEASE_SECONDS must exceed LEADEVAL_JOB_BUDGET_SECONDS (a lease must "
                                     "outlast the work it covers)", variable="LEADEVAL_LEASE_SECONDS")
        needs_account = db.kind == "d1" and not db.account_id
        if (needs_account or docs.kind == "r2" or model.kind == "workers-ai") and not (
                self.cloudflare_account_id or db.account_id):
            raise ConfigurationError("CLOUDFLARE_ACCOUNT_ID is required for D1, R2 and Workers AI",
                                     variable="CLOUDFLARE_ACCOUNT_ID")
        if db.kind == "d1":
            self._require_secret("CLOUDFLARE_D1_API_TOKEN", "CLOUDFLARE_API_TOKEN")
        if model.kind == "workers-ai":
            self._require_secret("CLOUDFLARE_AI_API_TOKEN", "CLOUDFLARE_API_TOKEN")
        if docs.kind == "r2":
            self._require_secret("R2_ACCESS_KEY_ID")
            self._require_secret("R2_SECRET_ACCESS_KEY")

    def _require_secret(self, *names: str) -> None:
        if not any(n in self.secrets or n in self.secret_parameters for n in names):
            variable = names[-1]
            choices = " or ".join(f"{n} (or {n}_PARAMETER)" for n in names)
            raise ConfigurationError(f"{choices} is required by the configured backend", variable=variable)

    @property
    def cloudflare_account(self) -> str | None:
        """The Cloudflare account: a ``d1://`` URL's account wins over ``CLOUDFLARE_ACCOUNT_ID``."""
        db = self.database
        return db.account_id if db.kind == "d1" and db.account_id else self.cloudflare_account_id

    def sqlite_path(self, base: Path | None = None) -> Path:
        """The SQLite file of ``LEADEVAL_DATABASE_URL`` (relative paths from ``base`` or the cwd)."""
        path = Path(self.database.path or "")
        return path if path.is_absolute() else (base or Path.cwd()) / path


def resolve_secret(settings: Settings, *names: str) -> tuple[str, str]:
    """The first of ``names`` that is set, directly or through ``<NAME>_PARAMETER``, and its value.

    Parameters named by an ARN (``arn:…:secretsmanager:…``) are read with Powertools
    ``parameters.get_secret``; other names with ``parameters.get_parameter(decrypt=True)``; both
    cached for 300 s (Powertools default).

    Returns:
        ``(variable_name, value)``.

    Raises:
        ConfigurationError: none is set, or the parameter cannot be read, naming the variable.
    """
    for name in names:
        if name in settings.secrets:
            return name, settings.secrets[name]
        if name in settings.secret_parameters:
            ref = settings.secret_parameters[name]
            try:
                from aws_lambda_powertools.utilities import parameters

                if ref.startswith("arn:") and ":secretsmanager:" in ref:
                    value = parameters.get_secret(ref)
                else:
                    value = parameters.get_parameter(ref, decrypt=True)
            except Exception as exc:
                raise ConfigurationError(f"{name}_PARAMETER: cannot read {ref!r}: {type(exc).__name__}",
                                         variable=f"{name}_PARAMETER") from exc
            return name, str(value)
    raise ConfigurationError(f"{names[-1]} is not set", variable=names[-1])
