"""An in-process fake of the Cloudflare D1 REST API, for ``httpx.MockTransport``, on a real SQLite file.

It follows the documented contract (Cloudflare D1 docs: REST API ``query``, platform/limits), so an adapter that
passes against it speaks D1's protocol rather than the fake's:

* Routes: only ``POST …/accounts/{account_id}/d1/database/{database_id}/query`` (rows as objects)
  and ``…/raw`` (rows as arrays). Anything else → HTTP 404, code 7003 "No route for the URI".
* Auth: ``Authorization: Bearer <token>``; missing or wrong → HTTP 401, code 10000
  "Authentication error".
* Body: a single query ``{"sql", "params"}`` (the SQL may hold several statements joined by ``;``,
  run as a batch; params then not allowed — a limitation of this fake) or ``{"batch": [{"sql",
  "params"}, …]}``. A batch runs atomically: any failure rolls every statement back.
* Placeholders: anonymous ``?`` and ordered ``?NNN`` only (cloudflare-docs PR #11252). A named one
  (``:name``, ``@name``, ``$name``) left in the SQL is an SQL error, as is a parameter count that does
  not match the statement ("Wrong number of parameter bindings for SQL query.").
* Values: JSON ``null``/strings/``true``/``false`` bind as NULL/TEXT/1/0; JSON numbers bind as REAL
  when ``numbers_as_real`` (the default: the behaviour observed on the live API, third-party note in
  the reference — an INTEGER column still stores a whole number as INTEGER); arrays/objects are
  rejected. Rows come back with whole REALs as JSON integers, as JavaScript's ``JSON.stringify`` does.
* Transactions: ``BEGIN``/``COMMIT``/``END``/``ROLLBACK``/``SAVEPOINT``/``RELEASE`` → HTTP 400, code 7500,
  D1's message (drizzle-orm #2463).
* Limits (D1 limits page): more than 100 bound parameters → "too many SQL variables"; a statement
  over 100,000 bytes → "statement too long: SQLITE_TOOBIG"; strings/BLOBs/rows over 2,000,000 bytes
  (SQLite's own length limit, set on the connection) → "string or blob too big: SQLITE_TOOBIG".
* SQL errors → HTTP 400 (since 2024-04-15, cloudflare-docs PR #13934), code 7500, SQLite's message
  with the result-code name appended (``UNIQUE constraint failed: t.id: SQLITE_CONSTRAINT (extended:
  SQLITE_CONSTRAINT_PRIMARYKEY)``), as D1 words it.
* Success: ``{"result": [{"results": rows, "success": true, "meta": {"changes", "last_row_id",
  "duration", "rows_read", "rows_written", "changed_db", "size_after", "served_by_region",
  "served_by_primary", "timings": {"sql_duration_ms"}}}, …], "success": true, "errors": [],
  "messages": []}``. ``rows_read`` is approximate (rows returned or changed: SQLite does not expose
  the rows it scanned through Python's ``sqlite3``).

Echoing endpoint: with ``echo_requests=True`` every error answer's message ends with the request as a
careless proxy would echo it (``request: POST <url> authorization=Bearer <token> body=<JSON>``), to prove
that no token reaches an error, a log line or the CLI's output.

Fault injection: :meth:`FakeD1.fail_next` (the next request(s) get a given status/code/message and
optional ``retry-after``), :meth:`FakeD1.block_for_rate_limit` (every request answers the API's
five-minute block, HTTP 429 code 971 without ``retry-after``, until :meth:`FakeD1.unblock`), and
:attr:`FakeD1.requests` (every request's decoded body, in order) for request counting.

Usage::

    fake = FakeD1(tmp_path / "d1.db", account_id="acct", database_id="db", api_token="token")
    client = httpx.Client(transport=httpx.MockTransport(fake))
    store = D1JobStore(account_id="acct", database_id="db", api_token="token",
                       base_url="https://d1.test/client/v4", client=client)
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

TRANSACTION_MESSAGE = (
    "To execute a transaction, please use the state.storage.transaction() API instead of the "
    "SQL BEGIN TRANSACTION or SAVEPOINT statements."
)
"""D1's answer to a transaction statement (quoted in drizzle-orm issue #2463)."""
RATE_LIMIT_MESSAGE = (
    "More than 1200 requests per 300 seconds reached. Please wait and consider throttling your request speed"
)
"""The Cloudflare API's global rate-limit answer (code 971; lablabs/cloudflare-exporter #74,
workers-sdk #10025)."""
MAX_PARAMS = 100
MAX_STATEMENT_BYTES = 100_000
MAX_VALUE_BYTES = 2_000_000

_ROUTE = re.compile(r"/accounts/(?P<account>[^/]+)/d1/database/(?P<database>[^/]+)/(?P<kind>query|raw)/?$")
_TRANSACTION = frozenset({"BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE"})
_TOKEN = re.compile(
    r"""
      (?P<literal>'(?:[^']|'')*'?)
    | (?P<quoted>"(?:[^"]|"")*"?|`[^`]*`?|\[[^\]]*\]?)
    | (?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
    | (?P<cast>::)
    | (?P<numbered>\?[0-9]+)
    | (?P<anonymous>\?)
    | (?P<named>[:@$][A-Za-z_][A-Za-z0-9_]*)
    | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
    | (?P<semicolon>;)
    | (?P<other>\s+|.)
    """,
    re.VERBOSE | re.DOTALL,
)


class D1Failure(Exception):
    """An error answer of the fake: HTTP status, API code and message."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Fault:
    """One injected answer (see :meth:`FakeD1.fail_next`)."""

    status: int
    code: int
    message: str
    retry_after: float | None = None


@dataclass(frozen=True)
class _Prepared:
    sql: str
    count: int  # highest placeholder number (SQLite's sqlite3_bind_parameter_count)
    first_keyword: str


def _default_fault(status: int) -> tuple[int, str]:
    if status == 429:
        return 971, "Please wait and consider throttling your request speed"
    if status in (401, 403):
        return 10000, "Authentication error"
    if status == 404:
        return 7003, "No route for the URI"
    if status >= 500:
        return 7500, "internal error; reference = fake0000000000000000"
    return 7500, 'near "x": syntax error: SQLITE_ERROR'


def split_statements(sql: str) -> list[str]:
    """Split SQL text on top-level ``;`` (not inside literals or comments); empty pieces dropped."""
    pieces: list[str] = []
    current: list[str] = []
    meaningful = False
    for match in _TOKEN.finditer(sql):
        kind = match.lastgroup
        if kind == "semicolon":
            if meaningful:
                pieces.append("".join(current).strip())
            current, meaningful = [], False
            continue
        text = match.group()
        current.append(text)
        if kind != "comment" and not text.isspace():
            meaningful = True
    if meaningful:
        pieces.append("".join(current).strip())
    return pieces


def _prepare(sql: str) -> _Prepared:
    """Number the placeholders as SQLite does (``?`` = highest so far + 1) and rewrite them to
    ``:pN`` so Python's ``sqlite3`` binds them by name (it only binds ``?NNN`` by name, and cannot
    bind an unused gap such as ``?1, ?3``). A named placeholder is an error, as on D1."""
    out: list[str] = []
    highest = 0
    first_keyword = ""
    for match in _TOKEN.finditer(sql):
        kind, text = match.lastgroup, match.group()
        if kind == "named":
            raise D1Failure(
                400,
                7500,
                f"named parameter {text} is not supported; D1 binds only ? and ?NNN parameters: SQLITE_RANGE",
            )
        if kind == "numbered":
            number = int(text[1:])
            if number < 1 or number > MAX_PARAMS:
                raise D1Failure(
                    400, 7500, f"variable number must be between ?1 and ?{MAX_PARAMS}: SQLITE_ERROR"
                )
            highest = max(highest, number)
            text = f":p{number}"
        elif kind == "anonymous":
            highest += 1
            if highest > MAX_PARAMS:
                raise D1Failure(400, 7500, "too many SQL variables: SQLITE_ERROR")
            text = f":p{highest}"
        elif kind == "word" and not first_keyword:
            first_keyword = text.upper()
        out.append(text)
    return _Prepared(sql="".join(out), count=highest, first_keyword=first_keyword)


def _sqlite_message(exc: sqlite3.Error) -> str:
    """SQLite's message as D1 words it: ``<message>: <PRIMARY> (extended: <EXTENDED>)``."""
    name = getattr(exc, "sqlite_errorname", None)
    if not name:
        return str(exc)
    primary = "_".join(name.split("_")[:2])
    suffix = primary if primary == name else f"{primary} (extended: {name})"
    return f"{exc}: {suffix}"


def _bind_value(value: Any, *, numbers_as_real: bool) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return 1 if value else 0
    if isinstance(value, int | float):
        return float(value) if numbers_as_real else value
    raise D1Failure(400, 7500, f"Type '{type(value).__name__}' not supported for value")


def _json_value(value: Any) -> Any:
    """A column value as D1 (JavaScript) serialises it: whole REALs as integers, BLOBs as byte arrays."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, bytes):
        return list(value)
    return value


def _envelope_error(
    status: int, code: int, message: str, *, retry_after: float | None = None
) -> httpx.Response:
    headers = {"retry-after": f"{retry_after:g}"} if retry_after is not None else {}
    return httpx.Response(
        status,
        headers=headers,
        json={
            "result": None,
            "success": False,
            "errors": [{"code": code, "message": message}],
            "messages": [],
        },
    )


class FakeD1:
    """A callable ``(httpx.Request) -> httpx.Response`` behaving like the D1 REST API.

    Args:
        db_path: the SQLite database file backing the fake (created when missing).
        account_id, database_id: the only account and database the fake routes.
        api_token: the only bearer token it accepts.
        numbers_as_real: bind JSON numbers as REAL (the live API's observed behaviour); False binds
            whole numbers as INTEGER.
        echo_requests: append the request (method, URL, ``Authorization`` header, body) to every error
            answer's message, as an echoing proxy would.

    Attributes:
        requests: the decoded JSON body of every request received (None when not JSON), in order.
        rate_limited: True while :meth:`block_for_rate_limit` is in force.
    """

    def __init__(
        self,
        db_path: str | Path,
        *,
        account_id: str,
        database_id: str,
        api_token: str,
        numbers_as_real: bool = True,
        echo_requests: bool = False,
    ) -> None:
        self.echo_requests = echo_requests
        self.db_path = str(db_path)
        self.account_id = account_id
        self.database_id = database_id
        self.api_token = api_token
        self.numbers_as_real = numbers_as_real
        self.requests: list[Any] = []
        self.rate_limited = False
        self._faults: deque[Fault] = deque()
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None

    # ------------------------------------------------------------------ fault injection
    def fail_next(
        self,
        *,
        status: int,
        code: int | None = None,
        message: str | None = None,
        retry_after: float | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` requests (after routing and auth) with this error instead.

        Defaults by status: 429 → code 971 "Please wait and consider throttling your request speed";
        401/403 → 10000 "Authentication error"; 404 → 7003; 5xx → 7500 "internal error; reference = …";
        other → 7500 syntax error. ``retry_after`` (seconds) sets the ``retry-after`` header.
        """
        default_code, default_message = _default_fault(status)
        fault = Fault(
            status,
            default_code if code is None else code,
            default_message if message is None else message,
            retry_after,
        )
        with self._lock:
            self._faults.extend([fault] * times)

    def block_for_rate_limit(self) -> None:
        """Start the API's five-minute block: every request gets HTTP 429, code 971, no ``retry-after``
        (a flag: it lasts until :meth:`unblock`, not five real minutes)."""
        self.rate_limited = True

    def unblock(self) -> None:
        """End the rate-limit block."""
        self.rate_limited = False

    # ------------------------------------------------------------------ database
    def connection(self) -> sqlite3.Connection:
        """The SQLite connection behind the fake (for test set-up and inspection)."""
        if self._conn is None:
            Path(self.db_path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys=ON")  # D1 enforces foreign keys
            conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
            conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, MAX_PARAMS)
            self._conn = conn
        return self._conn

    def close(self) -> None:
        """Close the SQLite connection."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # ------------------------------------------------------------------ HTTP
    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Answer one request (see the module docstring for the contract)."""
        response = self._answer(request)
        if not self.echo_requests or response.status_code < 400:
            return response
        envelope = json.loads(response.content)
        echo = (f" (request: {request.method} {request.url} authorization={request.headers.get('authorization')}"
                f" body={request.content.decode('utf-8', 'replace')[:300]})")
        for error in envelope.get("errors") or []:
            error["message"] = f"{error.get('message', '')}{echo}"
        return httpx.Response(response.status_code, headers=response.headers, json=envelope)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            body = self._decode(request)
            self.requests.append(body)
            route = _ROUTE.search(request.url.path)
            if (
                request.method != "POST"
                or route is None
                or route["account"] != self.account_id
                or route["database"] != self.database_id
            ):
                return _envelope_error(404, 7003, "No route for the URI")
            if request.headers.get("authorization") != f"Bearer {self.api_token}":
                return _envelope_error(401, 10000, "Authentication error")
            if self.rate_limited:
                return _envelope_error(429, 971, RATE_LIMIT_MESSAGE)
            if self._faults:
                fault = self._faults.popleft()
                return _envelope_error(fault.status, fault.code, fault.message, retry_after=fault.retry_after)
            try:
                queries = self._queries(body)
                results = self._run(queries, raw=route["kind"] == "raw")
            except D1Failure as failure:
                return _envelope_error(failure.status, failure.code, failure.message)
            return httpx.Response(
                200, json={"result": results, "success": True, "errors": [], "messages": []}
            )

    @staticmethod
    def _decode(request: httpx.Request) -> Any:
        try:
            return json.loads(request.content or b"null")
        except ValueError:
            return None

    def _queries(self, body: Any) -> list[tuple[str, list[Any]]]:
        if not isinstance(body, dict):
            raise D1Failure(400, 7400, "The request is malformed: expected a JSON object")
        items = body.get("batch", [body])
        if not isinstance(items, list) or not items:
            raise D1Failure(400, 7400, "The request is malformed: batch must be a non-empty array")
        queries: list[tuple[str, list[Any]]] = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("sql"), str):
                raise D1Failure(400, 7400, "The request is malformed: each query needs a string sql")
            params = item.get("params") or []
            if not isinstance(params, list):
                raise D1Failure(400, 7400, "The request is malformed: params must be an array")
            statements = split_statements(item["sql"])
            if not statements:
                raise D1Failure(400, 7500, "No SQL statements detected.")
            if len(statements) > 1 and params:
                raise D1Failure(
                    400, 7500, "params with several statements in one sql are not supported by this fake"
                )
            queries.extend((sql, params) for sql in statements)
        return queries

    def _run(self, queries: list[tuple[str, list[Any]]], *, raw: bool) -> list[dict[str, Any]]:
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            results = [self._execute(conn, sql, params, raw=raw) for sql, params in queries]
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return results

    def _execute(self, conn: sqlite3.Connection, sql: str, params: list[Any], *, raw: bool) -> dict[str, Any]:
        if len(sql.encode("utf-8")) > MAX_STATEMENT_BYTES:
            raise D1Failure(400, 7500, "statement too long: SQLITE_TOOBIG")
        prepared = _prepare(sql)
        if prepared.first_keyword in _TRANSACTION:
            raise D1Failure(400, 7500, TRANSACTION_MESSAGE)
        if len(params) > MAX_PARAMS:
            raise D1Failure(400, 7500, "too many SQL variables: SQLITE_ERROR")
        if len(params) != prepared.count:
            raise D1Failure(400, 7500, "Wrong number of parameter bindings for SQL query.")
        bound = {
            f"p{i}": _bind_value(v, numbers_as_real=self.numbers_as_real) for i, v in enumerate(params, 1)
        }
        before = conn.total_changes
        started = time.perf_counter()
        try:
            cursor = conn.execute(prepared.sql, bound)
            rows = cursor.fetchall() if cursor.description else []
        except sqlite3.DataError as exc:  # Python raises DataError for SQLITE_TOOBIG
            raise D1Failure(400, 7500, f"{exc}: SQLITE_TOOBIG") from exc
        except sqlite3.Error as exc:
            raise D1Failure(400, 7500, _sqlite_message(exc)) from exc
        duration = (time.perf_counter() - started) * 1000
        changes = conn.total_changes - before
        columns = [d[0] for d in cursor.description] if cursor.description else []
        if raw:
            results: Any = {"columns": columns, "rows": [[_json_value(v) for v in row] for row in rows]}
        else:
            results = [{col: _json_value(row[i]) for i, col in enumerate(columns)} for row in rows]
        page_count = conn.execute("PRAGMA page_count").fetchone()[0]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        return {
            "results": results,
            "success": True,
            "meta": {
                "served_by_region": "WEUR",
                "served_by_primary": True,
                "timings": {"sql_duration_ms": duration},
                "duration": duration,
                "changes": changes,
                "last_row_id": cursor.lastrowid or 0,
                "changed_db": changes > 0,
                "size_after": page_count * page_size,
                "rows_read": max(len(rows), changes),
                "rows_written": changes,
            },
        }


__all__ = ["RATE_LIMIT_MESSAGE", "TRANSACTION_MESSAGE", "D1Failure", "FakeD1", "Fault", "split_statements"]
