"""PostgreSQL job store (AWS-native deployments): ``postgresql://user:password@host:port/dbname``.

The same :class:`~leadeval.adapters.jobstore.sql.SqlJobStore` as SQLite and D1, over psycopg 3, the
``sql/postgresql.sql`` overlay and ``migrations/postgresql/``. Design points:

- **One connection per process, made lazily and kept** (a warm Lambda reuses it). A lost connection
  raises :class:`StoreUnavailableError` once and is dropped, so the next call reconnects.
- **Each batch is one transaction** (``BEGIN`` … ``COMMIT`` on an autocommit connection), READ COMMITTED:
  guarded ``UPDATE``\\ s re-check their ``WHERE`` against the committed row after waiting for a
  concurrent writer, and the sweep's claim uses ``FOR UPDATE SKIP LOCKED``, so two sweeps never claim
  the same job.
- **No server-side prepared statements** (``prepare_threshold=None``): a warm connection would
  otherwise keep plans of ``SELECT *`` that break ("cached plan must not change result type") when a
  migration adds a column, and prepared statements do not survive transaction-pooling proxies
  (PgBouncer, RDS Proxy pin the connection).
- **Migrations are PostgreSQL files of their own** (``migrations/postgresql/``, the same tables and columns as
  ``migrations/sqlite/``; a contract test compares the two schemas). Timestamp columns stay ``TEXT`` so every
  backend stores the same strings; the application's own timestamps (``2026-01-31T23:59:59.123Z``,
  ``2026-01-31 23:59:59``, ``…+0000``) are parsed by the SQL function ``leadeval_ts(text) -> timestamptz`` that
  :meth:`migrate` creates.

psycopg reference: https://www.psycopg.org/psycopg3/docs/ (connection parameters, ``dict_row``,
``prepare_threshold``, error classes by SQLSTATE in ``psycopg.errors``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import threading
from collections.abc import Sequence
from functools import lru_cache
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leadeval.adapters.jobstore.sql import SqlJobStore, Statement
from leadeval.errors import ProcessingError, StoreUnavailableError, missing_migration

if TYPE_CHECKING:  # psycopg is imported lazily: the SQLite/D1 deployments never load it.
    import psycopg

logger = logging.getLogger(__name__)

__all__ = ["PostgresExecutor", "PostgresJobStore", "to_psycopg_params"]


# --------------------------------------------------------------------------- parameter conversion

_IDENT_START = re.compile(r"[A-Za-z_]")
_IDENT_CHAR = re.compile(r"[A-Za-z0-9_$]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")


@lru_cache(maxsize=512)
def to_psycopg_params(sql: str) -> str:
    """Rewrite ``:name`` placeholders to psycopg's ``%(name)s`` and escape every literal ``%`` as ``%%``.

    Left as they are: ``::type`` casts, ``'string'`` / ``E'string'`` literals, ``"quoted"``
    identifiers, ``-- line`` and ``/* block */`` comments and ``$tag$ dollar $tag$`` quotes (a ``%``
    inside them is still doubled: psycopg scans the whole text for placeholders). A placeholder name
    starts with a letter or ``_``, so an array slice ``a[1:2]`` is untouched (``a[i:j]`` is not
    supported). The result must be executed *with* a params mapping (possibly empty), which makes
    psycopg turn ``%%`` back into ``%``.
    """
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        nxt = sql[i + 1] if i + 1 < n else ""
        if ch == "'":
            escapes = i > 0 and sql[i - 1] in "eE" and (i < 2 or not _IDENT_CHAR.match(sql[i - 2]))
            end = _end_of_quoted(sql, i, "'", backslash=escapes)
        elif ch == '"':
            end = _end_of_quoted(sql, i, '"', backslash=False)
        elif ch == "-" and nxt == "-":
            newline = sql.find("\n", i)
            end = n if newline < 0 else newline
        elif ch == "/" and nxt == "*":
            close = sql.find("*/", i + 2)
            end = n if close < 0 else close + 2
        elif ch == "$" and not (i and _IDENT_CHAR.match(sql[i - 1])) and (tag := _DOLLAR_TAG.match(sql, i)):
            close = sql.find(tag.group(), tag.end())
            end = n if close < 0 else close + len(tag.group())
        elif ch == ":" and nxt == ":":
            out.append("::")
            i += 2
            continue
        elif ch == ":" and _IDENT_START.match(nxt) and (i == 0 or sql[i - 1] != ":"):
            name = _NAME.match(sql, i + 1)
            assert name is not None  # _IDENT_START matched
            out.append(f"%({name.group()})s")
            i = name.end()
            continue
        else:
            out.append("%%" if ch == "%" else ch)
            i += 1
            continue
        out.append(sql[i:end].replace("%", "%%"))
        i = end
    return "".join(out)


def _end_of_quoted(sql: str, start: int, quote: str, *, backslash: bool) -> int:
    """Index just past the quoted token opening at ``start`` (doubled quotes and, in ``E''``, ``\\x``)."""
    i, n = start + 1, len(sql)
    while i < n:
        ch = sql[i]
        if backslash and ch == "\\":
            i += 2
            continue
        if ch == quote:
            if i + 1 < n and sql[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    return n


# --------------------------------------------------------------------------- executor

class PostgresExecutor:
    """Runs statement batches on one lazily opened psycopg 3 connection (thread-safe by a lock).

    Args:
        dsn: libpq connection string or URI (``postgresql://user:password@host:port/dbname``); never logged.
        connect_timeout: seconds to wait for a connection (libpq ``connect_timeout``, integer, >= 1;
            a fraction is rounded up).
        statement_timeout: seconds any one statement may run (server ``statement_timeout``; None: the
            server's setting). A statement cancelled by it raises StoreUnavailableError.
        application_name: shown in ``pg_stat_activity``.

    Rows come back as dicts keyed by column name (``psycopg.rows.dict_row``), like SQLite's.
    """

    dialect = "postgresql"

    def __init__(self, dsn: str, *, connect_timeout: float = 5, statement_timeout: float | None = 30.0,
                 application_name: str = "leadeval") -> None:
        self.dsn = dsn
        self.connect_timeout = max(1, math.ceil(connect_timeout))
        self.statement_timeout = statement_timeout
        self.application_name = application_name
        self._conn: psycopg.Connection[dict[str, Any]] | None = None
        self._lock = threading.RLock()
        self.batches = 0  # number of batches run (tests and benchmarks count round trips)
        self.connects = 0  # number of connections opened

    def _connection(self) -> psycopg.Connection[dict[str, Any]]:
        import psycopg
        from psycopg.rows import dict_row

        conn = self._conn
        if conn is not None and not (conn.closed or conn.broken):
            return conn
        self._drop()
        try:
            conn = psycopg.connect(self.dsn, autocommit=True, row_factory=dict_row, prepare_threshold=None,
                                   connect_timeout=self.connect_timeout,
                                   application_name=self.application_name)
            self._conn = conn
            if self.statement_timeout is not None:
                conn.execute("SELECT set_config('statement_timeout', %(ms)s, false)",
                             {"ms": str(max(1, int(self.statement_timeout * 1000)))})
        except psycopg.Error as exc:
            self._drop()
            # Connection failures carry no SQLSTATE, so a refused connection, a timeout and a bad
            # password look alike here: all are reported as a transient outage.
            raise StoreUnavailableError(f"cannot connect to PostgreSQL: {type(exc).__name__}: "
                                        f"{_first_line(str(exc))}") from exc
        self.connects += 1
        return conn

    def execute_batch(self, statements: Sequence[Statement]) -> list[list[dict[str, Any]]]:
        """Run ``statements`` in order in one transaction; each statement's rows as dicts (``[]`` when
        it returns none).

        Raises:
            StoreUnavailableError: cannot connect; the connection was lost (``OperationalError``,
                ``InterfaceError``; it is dropped and the next call reconnects); a lock or serialization
                failure (``SerializationFailure``, ``DeadlockDetected``, ``LockNotAvailable``) or a
                statement timeout (``QueryCanceled``). The transaction was rolled back (or never
                committed) in every case.
            ProcessingError: any other ``psycopg.Error`` (an SQL bug, a constraint violation), naming
                the statement, its SQLSTATE and primary message (never the DETAIL, which quotes values);
                or any other exception raised while running the batch (its class only), after the
                transaction was rolled back.
        """
        import psycopg
        from psycopg import errors

        transient = (errors.SerializationFailure, errors.DeadlockDetected, errors.LockNotAvailable,
                     errors.QueryCanceled)
        with self._lock:
            self.batches += 1
            conn = self._connection()
            current = "BEGIN"
            try:
                results: list[list[dict[str, Any]]] = []
                with conn.transaction(), conn.cursor() as cursor:
                    for stmt in statements:
                        current = stmt.name
                        cursor.execute(to_psycopg_params(stmt.sql), dict(stmt.params))
                        results.append(cursor.fetchall() if cursor.description else [])
                    current = "COMMIT"
                return results
            except transient as exc:
                if conn.closed or conn.broken:
                    self._drop()
                raise StoreUnavailableError(f"PostgreSQL {type(exc).__name__} in {current}") from exc
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                # Connection lost or server unable to serve (classes 08, 53, 57, 58): start afresh.
                self._drop()
                logger.warning("PostgreSQL unavailable; connection dropped",
                               extra={"statement": current, "error": type(exc).__name__})
                raise StoreUnavailableError(f"PostgreSQL unavailable in {current}: "
                                            f"{type(exc).__name__}") from exc
            except psycopg.Error as exc:
                if conn.closed or conn.broken:
                    self._drop()
                    raise StoreUnavailableError(f"PostgreSQL connection lost in {current}: "
                                                f"{type(exc).__name__}") from exc
                described = _describe(exc)
                raise missing_migration(described) or ProcessingError(f"SQL error in {current}: {described}") from exc
            except Exception as exc:
                # Not the driver's (a parameter mapping that fails, a bug in a caller): the transaction
                # block rolled back on the way out; a connection left unusable is dropped.
                idle = psycopg.pq.TransactionStatus.IDLE
                if conn.closed or conn.broken or conn.info.transaction_status != idle:
                    self._drop()
                raise ProcessingError(f"unexpected {type(exc).__name__} in {current}") from exc

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # closing a broken connection may fail; it is gone either way
                logger.debug("closing a broken PostgreSQL connection failed", exc_info=True)

    def close(self) -> None:
        """Close the connection (a later batch opens a new one)."""
        with self._lock:
            self._drop()


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _describe(exc: psycopg.Error) -> str:
    """SQLSTATE and primary message of a server error (no DETAIL: it may quote row values)."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    state = getattr(exc, "sqlstate", None)
    if primary:
        return f"{state or type(exc).__name__} {primary}"
    return f"{type(exc).__name__}: {_first_line(str(exc))}"


# --------------------------------------------------------------------------- store

class PostgresJobStore(SqlJobStore):
    """The job store on PostgreSQL (see :class:`SqlJobStore` for the methods).

    Args:
        dsn: libpq URI or key/value string (``LEADEVAL_DATABASE_URL``); never logged.
        migrations_dir: folder of ``NNNN_name.sql`` files (default: ``migrations/postgresql/``).
        connect_timeout: seconds to wait for a connection.
        statement_timeout: seconds any one statement may run (None: the server's setting).
    """

    def __init__(self, dsn: str, *, migrations_dir: Path | Traversable | None = None, connect_timeout: float = 5,
                 statement_timeout: float | None = 30.0) -> None:
        super().__init__(PostgresExecutor(dsn, connect_timeout=connect_timeout,
                                          statement_timeout=statement_timeout),
                         migrations_dir=migrations_dir)

    def migrate(self) -> list[str]:
        """Apply pending migrations (translated), holding an advisory lock so concurrent migrators wait.

        Before the files: ``CREATE OR REPLACE FUNCTION leadeval_ts`` (the parser of the application's
        timestamps, idempotent). Returns the file names applied (empty when up to date).
        """
        self._run(self._stmt("migration_lock"), self._stmt("timestamp_function"))
        try:
            applied = super().migrate()
        finally:
            # A lost connection took the lock with it: nothing to release then.
            with contextlib.suppress(StoreUnavailableError):
                self._run(self._stmt("migration_unlock"))
        return applied
