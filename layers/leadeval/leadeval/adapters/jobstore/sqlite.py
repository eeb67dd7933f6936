"""Embedded SQLite job store (local runs and tests): ``sqlite:///relative.db`` / ``sqlite:////abs.db``.

Each batch runs in one ``BEGIN IMMEDIATE`` transaction, so it is atomic and writers serialise: two
sweeps in two processes never claim the same job. WAL mode lets readers proceed meanwhile.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from leadeval.adapters.jobstore.sql import SqlJobStore, Statement
from leadeval.errors import ProcessingError, StoreUnavailableError, missing_migration

logger = logging.getLogger(__name__)


class SqliteExecutor:
    """Runs statement batches on one SQLite connection (thread-safe by a lock).

    Args:
        path: database file (parent folders are created), or ``":memory:"``.
        busy_timeout_seconds: how long a writer waits for the lock before StoreUnavailableError.
    """

    dialect = "sqlite"

    def __init__(self, path: str | Path, *, busy_timeout_seconds: float = 30.0) -> None:
        self.path = str(path)
        self.busy_timeout_seconds = busy_timeout_seconds
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        self.batches = 0  # number of batches run (tests and benchmarks count round trips)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout_seconds, isolation_level=None,
                                   check_same_thread=False)
            conn.row_factory = sqlite3.Row
            try:
                conn.execute("PRAGMA journal_mode=WAL")  # the first read: fails on a file that is no database
                conn.execute("PRAGMA foreign_keys=ON")
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def execute_batch(self, statements: Sequence[Statement]) -> list[list[dict[str, Any]]]:
        """Run ``statements`` in one transaction; rows of each as dicts.

        The transaction is rolled back on *any* exception, not only ``sqlite3.Error`` (a parameter the
        driver cannot bind raises ``OverflowError``): a failed batch never leaves the connection inside
        a transaction holding the write lock.

        Raises:
            StoreUnavailableError: the database is locked past the busy timeout, cannot be opened, or is
                not usable (not a database, corrupt, I/O error, disk full, read-only): see
                :data:`UNAVAILABLE_CODES`.
            ProcessingError: an SQL error (a bug), naming the statement; or any other exception raised
                while running it (its class only: its text may quote a bound value).
        """
        with self._lock:
            self.batches += 1
            try:
                conn = self._connection()
            except sqlite3.Error as exc:
                raise StoreUnavailableError(f"cannot open SQLite database: {_code_name(exc)}") from exc
            if conn.in_transaction:  # never expected: a batch always ends its transaction
                logger.warning("SQLite connection was left inside a transaction; rolling it back")
                self._rollback(conn)
                conn = self._connection()
            current = "BEGIN"
            try:
                conn.execute("BEGIN IMMEDIATE")
                results = []
                for stmt in statements:
                    current = stmt.name
                    cursor = conn.execute(stmt.sql, dict(stmt.params))
                    results.append([dict(row) for row in cursor.fetchall()] if cursor.description else [])
                current = "COMMIT"
                conn.execute("COMMIT")
                return results
            except sqlite3.Error as exc:
                self._rollback(conn)
                if _primary_code(exc) in UNAVAILABLE_CODES:
                    raise StoreUnavailableError(f"SQLite {_code_name(exc)} in {current}") from exc
                raise missing_migration(str(exc)) or ProcessingError(f"SQL error in {current}: {exc}") from exc
            except Exception as exc:
                self._rollback(conn)
                raise ProcessingError(f"unexpected {type(exc).__name__} in {current}") from exc
            except BaseException:
                self._rollback(conn)
                raise

    def _rollback(self, conn: sqlite3.Connection) -> None:
        """Roll back the open transaction; if that fails, drop the connection (closing it ends the
        transaction and releases the lock) so the next batch opens a fresh one."""
        with contextlib.suppress(sqlite3.Error):
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
            self._conn = None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


#: SQLite primary result codes meaning the database cannot serve now, not that our SQL is wrong
#: (https://www.sqlite.org/rescode.html): the caller retries later and the failure is reported as an
#: infrastructure failure rather than a bug.
UNAVAILABLE_CODES = frozenset({
    sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT,
    sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_PERM, sqlite3.SQLITE_PROTOCOL, sqlite3.SQLITE_NOLFS,
})


def _primary_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def _code_name(exc: sqlite3.Error) -> str:
    """``SQLITE_NOTADB``-style name of the error (never its text), or its class name."""
    return getattr(exc, "sqlite_errorname", None) or type(exc).__name__


class SqliteJobStore(SqlJobStore):
    """The job store on an embedded SQLite file (see :class:`SqlJobStore` for the methods)."""

    def __init__(self, path: str | Path, *, migrations_dir: Path | None = None) -> None:
        super().__init__(SqliteExecutor(path), migrations_dir=migrations_dir)
