"""The exception tree. Retryable vs permanent is decided here, once, by type.

Adapters translate vendor exceptions (``botocore`` ``ClientError``, ``httpx`` errors,
``sqlite3.Error``, ``psycopg.Error``) into these classes at their boundary, always with
``raise ... from exc``; services never see vendor types and never match message text::

    LeadevalError
    ├── RetryableError            transient; job back to `queued`, message redelivered after backoff
    │   ├── StoreUnavailableError     DB / D1 5xx, timeouts, connection loss
    │   ├── StorageError              R2 / S3 5xx, timeouts (the seed's code for a failed load)
    │   ├── ModelTimeout              AI 408 / 3007 / client timeout
    │   ├── ModelUnavailableError     AI 5xx
    │   └── ProcessingError           an unexpected bug inside one job (the seed's catch-all code)
    ├── ThrottledError            429s, daily allowance, the API's 5-minute block:
    │                             snooze >= retry_after, no attempt used
    ├── ConfigurationError        bad settings, credentials, model licence not accepted:
    │                             never fails a job; snooze, log at ERROR, alarm
    └── PermanentError            retrying cannot help; job -> failed with error_code, message acked
        ├── ResourceNotFound          job's lead missing, of another site, or no documents at all
        ├── QuotaExceeded             the site's monthly evaluation quota is spent
        ├── DocumentUnreadable        no document of the job could be used
        ├── ModelRejected             AI 4xx (bad request, content policy)
        └── ModelOutputInvalid        output not valid after the allowed repair request

Every class carries ``code``: the value written to ``ai_evaluation_jobs.error_code``.
"""

from __future__ import annotations

import re

REDACTED = "[REDACTED]"

# Credentials as they appear in echoed requests, URLs and provider answers. Values stop at whitespace, quotes,
# backslashes and separators, so redacting a JSON log line keeps it valid JSON.
_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization: Bearer <t> / Basic <t> / <t>; also "authorization": "…" in an echoed JSON body
    # (a shell reference such as $CLOUDFLARE_API_TOKEN, shown in help text, is no secret and is kept)
    (re.compile(r"(?i)\b((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)(?>(?:(bearer|basic|token)\s+)?)"
                r"(?!\$)[^\s\"'\\,;]+"), r"\1\2 " + REDACTED),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{4,}"), r"\1 " + REDACTED),
    # api_key=…, "api_token": "…", password: …, secret=…, X-Auth-Key: …
    # (a ':' counts only when a space or a quote follows: "the_secret:88" is a log line's location)
    (re.compile(r"(?i)\b((?:[a-z0-9]+[_-])*(?:api[_-]?key|api[_-]?token|access[_-]?token|auth[_-]?token|token|"
                r"secret(?:[_-]access)?(?:[_-]key)?|password|passwd|pwd|x-auth-key)[\"']?"
                r"(?:\s*=\s*[\"']?|\s*:(?:\s+[\"']?|[\"'])))"
                r"(?!\$)[^\s\"'\\,;&]+"), r"\1" + REDACTED),
    # scheme://user:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@\"']+):[^@\s/\"']+@"), r"\1:" + REDACTED + "@"),
    # AWS access key ids
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), REDACTED),
)

#: A piece of every pattern above (lower case): a text holding none of them holds no credential they find.
_SECRET_WORDS = ("auth", "bearer", "key", "token", "secret", "pass", "pwd", "://", "akia", "asia")


def redact(text: str) -> str:
    """``text`` with credentials replaced by ``[REDACTED]``: ``Authorization`` header values, ``Bearer``
    tokens, ``api_key`` / ``token`` / ``password`` / ``secret`` assignments (``=``, ``:``, JSON), passwords in
    URLs (``postgresql://user:[REDACTED]@host``) and AWS access key ids. Applied to every error message
    (:class:`LeadevalError`) and every JSON log line (``observability.logger``), so a provider that echoes a
    request cannot put a token in a log, the database or the CLI's output."""
    lowered = text.lower()
    if not any(word in lowered for word in _SECRET_WORDS):
        return text  # no pattern can match: every one needs one of these words
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class LeadevalError(Exception):
    """Base class of every error leadeval raises on purpose. Its message is redacted (:func:`redact`)."""

    code: str = "ProcessingError"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(redact(message) if message else
                         (self.__doc__ or self.__class__.__name__).strip().splitlines()[0])

    @property
    def message(self) -> str:
        """The human-readable message (no personal data: ids, codes and counts only)."""
        return str(self.args[0]) if self.args else self.__class__.__name__


class RetryableError(LeadevalError):
    """A transient failure: the job goes back to `queued` and the message is redelivered."""

    code = "ProcessingError"


class StoreUnavailableError(RetryableError):
    """The job database is unreachable, timed out or answered a transient 5xx."""

    code = "StoreUnavailable"


class StorageError(RetryableError):
    """The document store failed transiently (5xx, timeout, connection reset)."""

    code = "StorageError"


class ModelTimeout(RetryableError):
    """The vision model did not answer in time (HTTP 408, Workers AI 3007, client timeout)."""

    code = "ModelTimeout"


class ModelUnavailableError(RetryableError):
    """The vision model answered 5xx or could not be reached."""

    code = "ModelUnavailable"


class ProcessingError(RetryableError):
    """An unexpected error while processing one job; retried, then dead-lettered."""

    code = "ProcessingError"


class ThrottledError(LeadevalError):
    """A provider asked us to slow down; the job snoozes without using an attempt.

    Attributes:
        retry_after: seconds to wait at least before the next try (float, >= 0).
    """

    code = "Throttled"

    def __init__(self, message: str | None = None, *, retry_after: float = 60.0) -> None:
        super().__init__(message)
        self.retry_after = max(0.0, float(retry_after))


class ConfigurationError(LeadevalError):
    """A setting, credential or account prerequisite is wrong; no job is failed for it.

    Attributes:
        variable: the environment variable to fix, when one is to blame.
        retry_after: how long a worker snoozes the job before looking again (seconds).
    """

    code = "ConfigurationError"

    def __init__(self, message: str | None = None, *, variable: str | None = None,
                 retry_after: float = 300.0) -> None:
        super().__init__(message)
        self.variable = variable
        self.retry_after = retry_after


class MigrationsMissing(ConfigurationError):
    """The database lacks a column or table of leadeval's own (``leadeval_*``): leadeval was upgraded and
    ``leadeval db migrate`` was not run against it. Raised by the SQL executors instead of a ``ProcessingError``,
    so the worker snoozes its jobs (no attempt used), the ConfigurationErrors alarm fires and the log line says
    what to do (:attr:`action`).

    Attributes:
        missing: the missing object's name (``leadeval_claim_group``): an identifier of our schema, no data.
        action: what the operator runs (a constant: safe to log).
    """

    action = "run `leadeval db migrate` against LEADEVAL_DATABASE_URL"

    def __init__(self, missing: str) -> None:
        super().__init__(f"the database lacks leadeval's {missing} (leadeval was upgraded, its migrations were "
                         f"not applied): {self.action}", variable="LEADEVAL_DATABASE_URL")
        self.missing = missing


_MISSING_OBJECT = re.compile(
    r"""no such (?:column|table): (?:\w+\.)?(leadeval_\w+)"""  # SQLite, D1
    # PostgreSQL 42703 / 42P01: column "x" does not exist, column "x" of relation "t" does not exist,
    # relation "x" does not exist
    r"""|(?:column|relation) "(?:\w+\.)?(leadeval_\w+)"(?: of relation "\w+")? does not exist""",
    re.IGNORECASE)


def missing_migration(message: str) -> MigrationsMissing | None:
    """A :class:`MigrationsMissing` when a database error message says one of leadeval's own columns or tables
    is missing (SQLite/D1: ``no such column: leadeval_x``; PostgreSQL: ``column "leadeval_x" does not exist``),
    else None. Only ``leadeval_*`` names count: a missing application column stays an SQL error."""
    match = _MISSING_OBJECT.search(message)
    return MigrationsMissing(match.group(1) or match.group(2)) if match else None


class PermanentError(LeadevalError):
    """Retrying cannot help: the job is failed with this code and the message acked."""

    code = "ProcessingError"


class ResourceNotFound(PermanentError):
    """The job's lead is missing, belongs to another site, or has no documents."""

    code = "ResourceNotFound"


class QuotaExceeded(PermanentError):
    """The site's monthly evaluation quota is spent for the month of the request."""

    code = "QuotaExceeded"


class DocumentUnreadable(PermanentError):
    """No document of the job could be used (each one was missing, corrupt or unsupported)."""

    code = "DocumentUnreadable"


class ModelRejected(PermanentError):
    """The vision model refused the request (HTTP 4xx other than 408/429)."""

    code = "ModelRejected"


class ModelOutputInvalid(PermanentError):
    """The model's answer was not valid extraction JSON, even after one repair request."""

    code = "ModelOutputInvalid"


class DocumentMissing(LeadevalError):
    """A document's object is not in storage (404 / NoSuchKey).

    Not a job error: the document gets the verdict `unreadable` ("missing from storage").
    """

    code = "DocumentMissing"


class DocumentTooLarge(LeadevalError):
    """A document's object is larger than the configured byte limit (checked before reading).

    Attributes:
        size: the object's size in bytes, when known.
    """

    code = "DocumentTooLarge"

    def __init__(self, message: str | None = None, *, size: int | None = None) -> None:
        super().__init__(message)
        self.size = size
