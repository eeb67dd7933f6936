"""Cloudflare D1 job store over the D1 REST API (``d1://ACCOUNT_ID/DATABASE_ID``).

Every job-store step is ONE request (D1 REST API: client-api/query, "batch" form)::

    POST {base_url}/accounts/{account_id}/d1/database/{database_id}/query
    Authorization: Bearer <API token with D1 Read + D1 Write>
    {"batch": [{"sql": "UPDATE … WHERE id = ?1 …", "params": ["job-1", 2]}, …]}

    200 {"result": [{"results": [{…row…}], "success": true, "meta": {"changes": 1, …}}, …],
         "success": true, "errors": [], "messages": []}

Facts this adapter is built on (sources in the reference file):

- Placeholders: D1 binds anonymous ``?`` and ordered ``?NNN`` only, not named ones (cloudflare-docs
  PR #11252), so the shared ``sqlite.sql`` ``:name`` parameters are rewritten to ``?NNN`` here
  (:func:`convert_named_params`), skipping string literals, quoted identifiers, comments and ``::``.
- No interactive transactions: ``BEGIN``/``COMMIT``/``SAVEPOINT`` are rejected ("To execute a
  transaction, please use the state.storage.transaction() API …", drizzle-orm #2463); a batch is the
  unit of atomicity (a failing statement rolls the whole batch back). We never send them.
- Limits, per statement of a batch (D1 limits page): at most **100 bound parameters** and
  **100,000 bytes** of SQL; strings/BLOBs at most **2,000,000 bytes**. They are checked before
  sending (:class:`~leadeval.errors.ProcessingError`: a bug in our SQL, never a transient fault). The
  whole request body may be larger; the whole call must finish within the API's 30 s.
- The API's global rate limit is 1,200 requests / 5 minutes per token, and exceeding it blocks every
  call for five minutes with HTTP 429 (fundamentals/api-rate-limits): hence one request per step.

Error mapping (:func:`classify_d1_error`, decided by HTTP status and API code first; message text is
matched only to split code 7500 into transient platform faults and SQL errors, and to recognise the
Free plan's daily-limit answer, which has no documented code):

===============================================================  ======================================
answer                                                            raised
===============================================================  ======================================
a message saying the daily limits are exceeded (D1 FAQ)           ``ThrottledError`` until 00:00 UTC
HTTP 429 with ``retry-after``                                     ``ThrottledError(max(header, 1 s))``
HTTP 429 without it, or code 971 / 10429 (the 5-minute block)     ``ThrottledError(300 s)``
HTTP 401 / 403, or code 10000 / 9109 (authentication)             ``ConfigurationError(token variable)``
HTTP 404, or code 7003 / 7404 (no such account / database)        ``ConfigurationError(database URL)``
code 7500 with a transient message (debug-d1.mdx list)            ``StoreUnavailableError``
code 7500 with HTTP 5xx (``internal error; reference = …``)       ``StoreUnavailableError``
code 7500 with HTTP 4xx (syntax, no such table, constraint,       ``ProcessingError("D1 SQL error in
``SQLITE_TOOBIG``, …; 400 since 2024-04-15, cloudflare-docs        <statement>: <safe summary>")``
PR #13934)
other HTTP 5xx, 408                                               ``StoreUnavailableError``
other HTTP 4xx (a malformed request: our bug)                     ``ProcessingError``
anything else (2xx with ``success: false``, a non-JSON body)      ``StoreUnavailableError``
httpx timeouts and transport errors                               ``StoreUnavailableError``
httpx unsupported protocol / invalid URL                          ``ConfigurationError(API URL)``
===============================================================  ======================================

Messages: an error raised here never carries D1's text as such, only codes and a safe summary
(:func:`sql_error_summary`: known SQLite phrases with word-character identifiers, ``SQLITE_*`` names): a
proxy or gateway in front of the API that echoes the request would otherwise put ``Authorization: Bearer
<token>`` into the job's error message, the logs and the CLI's output.

Transient D1 messages (``src/content/docs/d1/observability/debug-d1.mdx``, "Recommended action:
retry"): "D1 DB reset because its code was updated.", "Network connection lost.", "Internal error …
caused object to be reset.", "Cannot resolve D1 DB due to transient issue on remote node.", "D1 DB
is overloaded. Requests queued for too long." / "Too many requests queued."; plus "internal error;
reference = …" (workers-sdk #15449, #14731).

Retrying a write batch after a transient fault is safe here because every statement of
``sql/queries.sql`` is idempotent or guarded.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from leadeval.adapters.cloudflare import (
    API_BLOCK_CODES,
    API_BLOCK_SECONDS,
    AUTH_CODES,
    DEFAULT_BASE_URL,
    bearer,
    envelope_errors,
    parse_retry_after,
    seconds_until_utc_midnight,
)
from leadeval.adapters.jobstore.sql import SqlJobStore, Statement
from leadeval.errors import (
    ConfigurationError,
    LeadevalError,
    ProcessingError,
    StoreUnavailableError,
    ThrottledError,
    missing_migration,
)
from leadeval.timeutil import format_ts, utcnow

if TYPE_CHECKING:
    import httpx


class RequestLimiter(Protocol):
    """A request budget shared by every caller of one API token (:mod:`leadeval.adapters.ratelimit`)."""

    def acquire(self) -> None:
        """Take one request's token (may wait); raises ThrottledError when none comes in time."""
        ...

    def block(self, seconds: float) -> None:
        """Stop every caller for ``seconds`` (a 429's retry-after)."""
        ...

logger = logging.getLogger(__name__)

MAX_PARAMS_PER_STATEMENT = 100
"""D1 limits page: "Maximum number of bound parameters per query" = 100."""
MAX_STATEMENT_BYTES = 100_000
"""D1 limits page: "Maximum SQL statement length" = 100,000 bytes (UTF-8 of the SQL text)."""
MAX_VALUE_BYTES = 2_000_000
"""D1 limits page: "Maximum string, BLOB or table row size" = 2,000,000 bytes."""

MIN_RETRY_AFTER_SECONDS = 1.0
"""Floor for a 429's ``retry-after`` (a ``0`` would make the worker retry at once)."""

SQL_ERROR_CODE = 7500
"""D1's code for statement errors: SQL errors (HTTP 400) and transient platform faults (HTTP 5xx)."""
ROUTE_CODES = frozenset({7003, 7404})
"""Cloudflare API: "No route for the URI" / "Could not route to …": a wrong account or database id."""

TRANSIENT_MESSAGES = (
    "network connection lost",
    "internal error",
    "object to be reset",
    "reset because its code was updated",
    "transient issue",
    "d1 db is overloaded",
    "requests queued",
    "too many requests queued",
)
"""Lower-case fragments of D1's retryable messages (debug-d1.mdx error list; workers-sdk #15449)."""

_DAILY_LIMIT = re.compile(r"daily\b.{0,40}\blimit", re.IGNORECASE | re.DOTALL)
"""D1 FAQ: the Free plan's API "will return errors … indicating that your daily limits have been exceeded"."""

_TRANSACTION_KEYWORDS = frozenset({"BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE"})

# One token of SQLite SQL, in order of precedence: literals, quoted identifiers and comments are
# matched whole (a ':' inside them is not a parameter); '::' is a cast, not a parameter.
_TOKEN = re.compile(
    r"""
      (?P<literal>'(?:[^']|'')*'?)              # 'string' ('' escapes); unterminated: to the end
    | (?P<quoted>"(?:[^"]|"")*"?|`[^`]*`?|\[[^\]]*\]?)
    | (?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
    | (?P<cast>::)
    | (?P<named>:[A-Za-z_][A-Za-z0-9_]*)
    | (?P<positional>\?[0-9]*)
    | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
    | (?P<semicolon>;)
    | (?P<other>\s+|.)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class ConvertedSql:
    """A statement with its ``:name`` parameters rewritten to ordered ``?NNN`` placeholders.

    Attributes:
        sql: the SQL text to send (``:a, :b, :a`` became ``?1, ?2, ?1``; comments dropped).
        names: parameter names in placeholder order (``names[i]`` binds ``?{i + 1}``).
        first_keyword: the statement's first keyword, upper-case (``""`` when there is none).
        extra_statements: True when more SQL follows a ``;`` (several statements in one text).
        positional: True when the text already holds ``?``/``?NNN`` placeholders.
        size_bytes: UTF-8 length of ``sql`` (D1's 100,000-byte limit applies to it).
    """

    sql: str
    names: tuple[str, ...]
    first_keyword: str
    extra_statements: bool
    positional: bool
    size_bytes: int


@lru_cache(maxsize=512)
def convert_named_params(sql: str) -> ConvertedSql:
    """Rewrite ``:name`` parameters to ordered ``?NNN`` placeholders (D1 binds no named parameters).

    Each distinct name gets the next number in order of first appearance, so a repeated name reuses
    its number: ``"a = :a AND b = :b OR c = :a"`` → ``"a = ?1 AND b = ?2 OR c = ?1"`` with names
    ``("a", "b")``. Text inside ``'string literals'`` and quoted identifiers (``"x"``, `` `x` ``,
    ``[x]``) is left untouched, ``::`` is not a parameter, and comments are dropped (with any
    leading/trailing whitespace). Pure and cached.

    Args:
        sql: one statement of the shared SQLite dialect.

    Returns:
        The :class:`ConvertedSql` (text, names in order, and facts used by the pre-send checks).
    """
    out: list[str] = []
    numbers: dict[str, int] = {}
    first_keyword = ""
    seen_semicolon = False
    extra_statements = False
    positional = False
    for match in _TOKEN.finditer(sql):
        kind = match.lastgroup
        text = match.group()
        if kind == "named":
            name = text[1:]
            number = numbers.setdefault(name, len(numbers) + 1)
            text = f"?{number}"
        elif kind == "positional":
            positional = True
        if kind not in ("comment", "semicolon") and not text.isspace():
            if seen_semicolon:
                extra_statements = True
            if not first_keyword and kind == "word":
                first_keyword = text.upper()
        if kind == "semicolon":
            seen_semicolon = True
        if kind == "comment":  # not sent: D1's 100,000-byte limit counts them, and they say nothing to D1
            text = "" if text.startswith("--") else " "  # the newline after '--' stays; '/**/' separates
        out.append(text)
    converted = "".join(out).strip()
    return ConvertedSql(
        sql=converted,
        names=tuple(numbers),
        first_keyword=first_keyword,
        extra_statements=extra_statements,
        positional=positional,
        size_bytes=len(converted.encode("utf-8")),
    )


def json_param(value: Any, *, statement: str, name: str) -> Any:
    """One parameter as the JSON value D1 binds: bool → 0/1, None → null, int/float → number,
    str → string, datetime → ISO 8601 UTC text (``…Z``).

    Raises:
        ProcessingError: any other type (a bug in the caller), or a non-finite float.
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return 1 if value else 0
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ProcessingError(f"D1 parameter {name} of {statement} is not a finite number")
        return value
    if isinstance(value, datetime):
        return format_ts(value)
    raise ProcessingError(f"D1 parameter {name} of {statement} has unsupported type {type(value).__name__}")


def build_query(statement: Statement) -> dict[str, Any]:
    """The ``{"sql", "params"}`` object for one statement, after D1's per-statement limits.

    Raises:
        ProcessingError: naming the statement, when it is a transaction statement
            (``BEGIN``/``COMMIT``/``END``/``ROLLBACK``/``SAVEPOINT``/``RELEASE``: D1 rejects them), holds
            several statements or positional placeholders, misses a parameter, has more than 100
            bound parameters, more than 100,000 bytes of SQL, or a value over 2,000,000 bytes.
    """
    converted = convert_named_params(statement.sql)
    name = statement.name
    if converted.first_keyword in _TRANSACTION_KEYWORDS:
        raise ProcessingError(
            f"D1 rejects transaction statements ({converted.first_keyword}) in {name}: "
            "a batch is already atomic"
        )
    if converted.extra_statements:
        raise ProcessingError(f"D1 statement {name} holds several statements; send one per Statement")
    if converted.positional:
        raise ProcessingError(f"D1 statement {name} uses ?/?NNN placeholders; use :name parameters")
    if len(converted.names) > MAX_PARAMS_PER_STATEMENT:
        raise ProcessingError(
            f"D1 statement {name} binds {len(converted.names)} parameters; "
            f"D1 allows {MAX_PARAMS_PER_STATEMENT} per statement"
        )
    if converted.size_bytes > MAX_STATEMENT_BYTES:
        raise ProcessingError(
            f"D1 statement {name} is {converted.size_bytes} bytes long; "
            f"D1 allows {MAX_STATEMENT_BYTES} bytes per statement"
        )
    params = []
    for param in converted.names:
        if param not in statement.params:
            raise ProcessingError(f"D1 statement {name} misses parameter :{param}")
        value = json_param(statement.params[param], statement=name, name=param)
        # n characters are at most 4n UTF-8 bytes: only strings that may be too long are encoded
        too_long = isinstance(value, str) and len(value) * 4 > MAX_VALUE_BYTES
        if too_long and len(value.encode("utf-8")) > MAX_VALUE_BYTES:
            raise ProcessingError(f"D1 parameter {param} of {name} is over {MAX_VALUE_BYTES} bytes")
        params.append(value)
    return {"sql": converted.sql, "params": params}


# --------------------------------------------------------------------------- error mapping


@dataclass(frozen=True)
class D1ErrorInfo:
    """What a D1 answer says about its failure.

    Attributes:
        codes: API error codes in order (``errors[].code``).
        message: the API's messages joined by `` | ``. For classification only: errors carry
            :func:`sql_error_summary` of it, never the text itself (an echoing endpoint may put the request's
            ``Authorization`` header in it).
        failed_index: index of the failing statement when the answer says which (a ``result``
            entry with ``success: false``), else None.
    """

    codes: tuple[int, ...] = ()
    message: str = ""
    failed_index: int | None = None


def error_info(body: Any) -> D1ErrorInfo:
    """Read codes, messages and the failing statement from a decoded D1 envelope (any shape)."""
    if not isinstance(body, Mapping):
        return D1ErrorInfo()
    codes, found = envelope_errors(body)
    messages = list(found)
    failed = None
    result = body.get("result")
    if isinstance(result, list):
        for index, entry in enumerate(result):
            if isinstance(entry, Mapping) and entry.get("success") is False:
                failed = index
                if entry.get("error") and not messages:
                    messages.append(str(entry["error"]))
                break
    return D1ErrorInfo(codes=codes, message=" | ".join(messages), failed_index=failed)


#: SQLite / D1 error phrases kept in an error's message, with identifiers restricted to word characters
#: (table and column names, an SQL keyword): the rest of a provider's text is never copied, since an endpoint
#: (a proxy, a misconfigured gateway) may echo the request, its ``Authorization`` header included.
_SQL_PHRASES = (
    re.compile(r"no such (?:table|column|function|index|collation|savepoint): [\w.]{1,128}"),
    re.compile(r"(?:UNIQUE|NOT NULL|CHECK|FOREIGN KEY|PRIMARY KEY) constraint failed"
               r"(?:: [\w.]{1,128}(?:, [\w.]{1,128}){0,15})?"),
    re.compile(r'near "\w{1,64}": syntax error'),
    re.compile(r"(?:table|index|view|trigger) [\w.]{1,128} already exists"),
    re.compile(r"duplicate column name: \w{1,128}"),
    re.compile(r"incomplete input|too many SQL variables|string or blob too big|statement too long|"
               r"Wrong number of parameter bindings for SQL query|No SQL statements detected|datatype mismatch|"
               r"cannot start a transaction within a transaction|"
               r"please use the state\.storage\.transaction\(\) API|The request is malformed"),
)
_SQLITE_CODE = re.compile(r"\bSQLITE_[A-Z_]{2,40}\b")


def sql_error_summary(message: str) -> str:
    """A safe summary of a D1 error message: the first known SQLite/D1 phrase (:data:`_SQL_PHRASES`) and the
    ``SQLITE_*`` result-code names it holds, e.g. ``UNIQUE constraint failed: t.id: SQLITE_CONSTRAINT``;
    ``"no message"`` / ``"message withheld (N characters)"`` otherwise. Nothing else of the text is kept."""
    if not message.strip():
        return "no message"
    parts = []
    for pattern in _SQL_PHRASES:
        found = pattern.search(message)
        if found:
            parts.append(found.group())
            break
    codes = list(dict.fromkeys(_SQLITE_CODE.findall(message)))
    if codes:
        parts.append(" ".join(codes))
    return ": ".join(parts) if parts else f"message withheld ({len(message)} characters)"


def _retry_after_seconds(value: str | None, now: datetime | None) -> float | None:
    """Seconds from a ``retry-after`` header (delay-seconds or HTTP-date); None when absent."""
    if value is None or not value.strip():
        return None
    return parse_retry_after(value, default=API_BLOCK_SECONDS, now=now)


def _statement_label(statement_names: Sequence[str], index: int | None) -> str:
    if index is not None and 0 <= index < len(statement_names):
        return statement_names[index]
    if len(statement_names) == 1:
        return statement_names[0]
    return "batch [" + ", ".join(statement_names) + "]"


def classify_d1_error(
    status: int | None,
    info: D1ErrorInfo | None = None,
    *,
    retry_after: str | None = None,
    statement_names: Sequence[str] = (),
    token_variable: str = "CLOUDFLARE_API_TOKEN",
    database_variable: str = "LEADEVAL_DATABASE_URL",
    now: datetime | None = None,
) -> LeadevalError:
    """Map a failed D1 answer to the leadeval error to raise (the table in the module docstring).

    Args:
        status: the HTTP status.
        info: codes/messages read with :func:`error_info`.
        retry_after: the raw ``retry-after`` header (seconds or an HTTP-date), if any.
        statement_names: the batch's statement names, in order (named in SQL errors).
        token_variable: the environment variable holding the API token (named in auth errors).
        database_variable: the variable holding the ``d1://`` URL (named when the route is unknown).
        now: the current time (UTC), for the daily limit's "until 00:00 UTC".

    Returns:
        The exception instance (not raised): ThrottledError, ConfigurationError,
        StoreUnavailableError or ProcessingError.
    """
    info = info or D1ErrorInfo()
    codes = set(info.codes)
    lowered = info.message.lower()
    what = f"D1 HTTP {status}" + "".join(f" code {c}" for c in info.codes)
    if _DAILY_LIMIT.search(info.message):
        wait = seconds_until_utc_midnight(now)
        return ThrottledError(
            f"{what}: the account's daily D1 limits are exceeded; retry after 00:00 UTC ({wait:.0f} s)",
            retry_after=wait,
        )
    if status == 429 or codes & API_BLOCK_CODES:
        header = _retry_after_seconds(retry_after, now)
        wait = API_BLOCK_SECONDS if header is None else max(header, MIN_RETRY_AFTER_SECONDS)
        return ThrottledError(f"{what}: rate limited; retry after {wait:.0f} s", retry_after=wait)
    if status in (401, 403) or codes & AUTH_CODES:
        return ConfigurationError(
            f"{what}: the API token was refused; check {token_variable} "
            "(it needs D1 Read and D1 Write on this account)",
            variable=token_variable,
        )
    if status == 404 or codes & ROUTE_CODES:
        return ConfigurationError(
            f"{what}: no such D1 account or database; check {database_variable}", variable=database_variable
        )
    if SQL_ERROR_CODE in codes:
        transient = next((f for f in TRANSIENT_MESSAGES if f in lowered), None)
        if transient is not None or (status or 0) >= 500:
            # the known phrase as D1 wrote it (a constant of its error list), never the rest of its text
            said = info.message[lowered.index(transient):][:len(transient)] if transient else "internal error"
            return StoreUnavailableError(f"{what}: transient D1 failure: {said}")
        label = _statement_label(statement_names, info.failed_index)
        return missing_migration(info.message) or ProcessingError(
            f"D1 SQL error in {label}: {sql_error_summary(info.message)}")
    if status is not None and (status >= 500 or status == 408):
        return StoreUnavailableError(f"{what}: D1 unavailable")
    if status is not None and 400 <= status < 500:
        label = _statement_label(statement_names, info.failed_index)
        return ProcessingError(f"D1 rejected the request for {label}: {sql_error_summary(info.message)}")
    return StoreUnavailableError(f"{what}: unexpected D1 answer")


def error_from_transport(
    exc: Exception, *, url_variable: str = "LEADEVAL_CLOUDFLARE_API_URL"
) -> LeadevalError:
    """Map an httpx exception raised while sending: timeouts and transport errors →
    StoreUnavailableError; unsupported protocol / invalid URL → ConfigurationError (the API URL)."""
    import httpx

    kind = type(exc).__name__
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return ConfigurationError(
            f"D1: the API URL is not usable ({kind}); check {url_variable}", variable=url_variable
        )
    return StoreUnavailableError(f"D1: no answer ({kind})")


# --------------------------------------------------------------------------- executor


class D1Executor:
    """:class:`~leadeval.adapters.jobstore.sql.SqlExecutor` over the D1 REST ``/query`` endpoint.

    Each :meth:`execute_batch` is exactly one HTTP request (``self.requests`` counts them, for the
    request budget: two or three per worker invocation of up to ten jobs, at most 3 for a job alone;
    docs/benchmarks.md).

    Args:
        account_id: the Cloudflare account id.
        database_id: the D1 database id (UUID).
        api_token: an API token with D1 Read and D1 Write.
        base_url: the Cloudflare API base (``…/client/v4``); tests point it at a fake.
        client: the ``httpx.Client`` to use; when None one is built on first use and closed by
            :meth:`close`.
        timeout_seconds: seconds allowed per request (connect capped at 10 s). The API must answer
            within 30 s anyway (D1 limits page, footnote on query duration).
        token_variable: the environment variable named in credential errors.
        clock: the current time (UTC), for the daily limit's reset.

    Raises:
        ConfigurationError: at construction, when the account id, database id or token is empty.
    """

    dialect = "sqlite"

    def __init__(
        self,
        *,
        account_id: str,
        database_id: str,
        api_token: str,
        base_url: str = DEFAULT_BASE_URL,
        client: httpx.Client | None = None,
        timeout_seconds: float = 30.0,
        token_variable: str = "CLOUDFLARE_API_TOKEN",
        clock: Callable[[], datetime] = utcnow,
        limiter: RequestLimiter | None = None,
    ) -> None:
        if not account_id or not account_id.strip():
            raise ConfigurationError("the Cloudflare account id is empty", variable="CLOUDFLARE_ACCOUNT_ID")
        if not database_id or not database_id.strip():
            raise ConfigurationError(
                "the D1 database id is empty (d1://ACCOUNT_ID/DATABASE_ID)", variable="LEADEVAL_DATABASE_URL"
            )
        if not api_token or not api_token.strip():
            raise ConfigurationError(f"{token_variable} is empty", variable=token_variable)
        self.account_id = account_id.strip()
        self.database_id = database_id.strip()
        self._api_token = api_token.strip()
        self.base_url = base_url.rstrip("/")
        self.timeout_seconds = float(timeout_seconds)
        self.token_variable = token_variable
        self._clock = clock
        self.limiter = limiter
        """The token's shared request budget (:mod:`leadeval.adapters.ratelimit`), or None (no sharing)."""
        self._client = client
        self._owns_client = client is None
        self.requests = 0
        """HTTP requests sent (each batch is one)."""
        self.rows_read = 0
        """Sum of ``meta.rows_read`` over successful answers (D1 bills on it)."""
        self.rows_written = 0
        """Sum of ``meta.rows_written`` over successful answers."""

    @property
    def url(self) -> str:
        """The ``/query`` endpoint of this database."""
        return f"{self.base_url}/accounts/{self.account_id}/d1/database/{self.database_id}/query"

    def _http(self) -> httpx.Client:
        if self._client is None:
            import httpx

            self._client = httpx.Client(
                timeout=httpx.Timeout(self.timeout_seconds, connect=min(10.0, self.timeout_seconds))
            )
        return self._client

    def execute_batch(self, statements: Sequence[Statement]) -> list[list[dict[str, Any]]]:
        """Run ``statements`` in one ``{"batch": [...]}`` request; rows of each as dicts.

        Args:
            statements: the statements, in order; ``:name`` parameters from each ``params`` mapping.

        Returns:
            One list of row dicts per statement (``[]`` for statements returning no rows).

        Raises:
            ProcessingError: a statement breaks a D1 limit (checked before sending: no request is
                made) or D1 answers an SQL error (naming the statement).
            ThrottledError, ConfigurationError, StoreUnavailableError: see :func:`classify_d1_error`.
        """
        if not statements:
            return []
        body = {"batch": [build_query(stmt) for stmt in statements]}
        names = [stmt.name for stmt in statements]
        import httpx

        if self.limiter is not None:
            self.limiter.acquire()  # ThrottledError when the token's budget is spent or blocked: nothing sent
        self.requests += 1
        try:
            response = self._http().post(
                self.url,
                json=body,
                headers=bearer(self._api_token),
                timeout=httpx.Timeout(self.timeout_seconds, connect=min(10.0, self.timeout_seconds)),
            )
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            logger.warning("D1 request failed: error=%s statements=%d", type(exc).__name__, len(names))
            raise error_from_transport(exc) from exc
        try:
            payload = response.json()
        except ValueError:
            payload = None
        ok = (
            200 <= response.status_code < 300
            and isinstance(payload, Mapping)
            and payload.get("success") is True
        )
        if not ok:
            info = error_info(payload)
            error = classify_d1_error(
                response.status_code,
                info,
                retry_after=response.headers.get("retry-after"),
                statement_names=names,
                token_variable=self.token_variable,
                now=self._clock(),
            )
            if isinstance(error, ThrottledError) and self.limiter is not None:
                self.limiter.block(error.retry_after)  # every instance waits, none finds out by calling
            logger.warning(
                "D1 request refused: status=%s codes=%s error=%s statements=%d",
                response.status_code,
                list(info.codes),
                error.code,
                len(names),
            )
            raise error
        return self._rows(payload, names)

    def _rows(self, payload: Mapping[str, Any], names: Sequence[str]) -> list[list[dict[str, Any]]]:
        result = payload.get("result")
        if not isinstance(result, list) or len(result) != len(names):
            got = len(result) if isinstance(result, list) else type(result).__name__
            raise StoreUnavailableError(f"D1 answered {got} results for {len(names)} statements")
        rows: list[list[dict[str, Any]]] = []
        for index, entry in enumerate(result):
            if not isinstance(entry, Mapping) or entry.get("success") is False:
                raise ProcessingError(f"D1 SQL error in {names[index]}: statement reported no success")
            meta = entry.get("meta")
            if isinstance(meta, Mapping):
                self.rows_read += _count(meta.get("rows_read"))
                self.rows_written += _count(meta.get("rows_written"))
            results = entry.get("results") or []
            if not isinstance(results, list) or not all(isinstance(r, Mapping) for r in results):
                raise StoreUnavailableError(f"D1 answered rows of an unexpected shape for {names[index]}")
            rows.append([dict(r) for r in results])
        return rows

    def close(self) -> None:
        """Close the HTTP client if this executor built it."""
        if self._owns_client and self._client is not None:
            self._client.close()
            self._client = None


def _count(value: Any) -> int:
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


class D1JobStore(SqlJobStore):
    """The job store on Cloudflare D1 over its REST API (see :class:`SqlJobStore` for the methods).

    Request budget (one batch = one request): ``sweep`` 1, ``claim`` 1 (0 when it rides along the previous
    write, ``claim_next``), ``complete`` 1 with the reuse lookup in it (a second one only when a document came
    with another applicant name), ``retry_later`` / ``fail`` 1 — at most 2 per job besides the sweep.

    Args:
        account_id, database_id: from ``d1://ACCOUNT_ID/DATABASE_ID``.
        api_token: an API token with D1 Read and D1 Write (``token_variable`` names its variable).
        base_url: the Cloudflare API base.
        client: an ``httpx.Client`` to use (built lazily when None).
        timeout_seconds: seconds per request.
        migrations_dir: folder of ``NNNN_name.sql`` migrations (default: ``migrations/sqlite/``: D1 is SQLite).
        limiter: the API token's request budget shared by every instance (``acquire()`` before each request,
            ``block(seconds)`` after a 429), e.g. :class:`~leadeval.adapters.ratelimit.TokenBucket`; None: none.

    Raises:
        ConfigurationError: at construction, when an id or the token is empty.
    """

    def __init__(
        self,
        *,
        account_id: str,
        database_id: str,
        api_token: str,
        base_url: str = DEFAULT_BASE_URL,
        client: httpx.Client | None = None,
        timeout_seconds: float = 30.0,
        token_variable: str = "CLOUDFLARE_API_TOKEN",
        migrations_dir: Path | Traversable | None = None,
        limiter: RequestLimiter | None = None,
    ) -> None:
        executor = D1Executor(
            account_id=account_id,
            database_id=database_id,
            api_token=api_token,
            base_url=base_url,
            client=client,
            timeout_seconds=timeout_seconds,
            token_variable=token_variable,
            limiter=limiter,
        )
        super().__init__(executor, migrations_dir=migrations_dir)
        self.d1: D1Executor = executor

    @property
    def requests(self) -> int:
        """HTTP requests sent to D1 so far."""
        return self.d1.requests

    def migration_statements(self, script: str) -> list[str]:
        """The statements of one migration file; D1 rejects transaction statements, so a file's
        own ``BEGIN``/``COMMIT`` lines (wrangler-style files may have them) are dropped — the
        batch that applies the file is already atomic."""
        statements = super().migration_statements(script)
        return [s for s in statements if convert_named_params(s).first_keyword not in _TRANSACTION_KEYWORDS]


__all__ = [
    "D1ErrorInfo",
    "D1Executor",
    "D1JobStore",
    "build_query",
    "classify_d1_error",
    "convert_named_params",
    "error_from_transport",
    "error_info",
    "json_param",
    "sql_error_summary",
]
