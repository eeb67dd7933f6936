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
from leadeval.errors import ProcessingError, StoreUnavailableError

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
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._conn = conn
        return self._conn

    def execute_batch(self, statements: Sequence[Statement]) -> list[list[dict[str, Any]]]:
        """Run ``statements`` in one transaction; rows of each as dicts.

        Raises:
            StoreUnavailableError: the database is locked past the busy timeout or cannot be opened.
            ProcessingError: an SQL error (a bug), naming the statement.
        """
        with self._lock:
            self.batches += 1
            try:
                conn = self._connection()
            except sqlite3.Error as exc:
                raise StoreUnavailableError(f"cannot open SQLite database: {exc}") from exc
            current = "BEGIN"
            try:
                conn.execute("BEGIN IMMEDIATE")
                results = []
                for stmt in statements:
                    current = stmt.name
                    cursor = conn.execute(stmt.sql, dict(stmt.params))
                    results.append([dict(row) for row in cursor.fetchall()] if cursor.description else [])
                conn.execute("COMMIT")
                return results
            except sqlite3.OperationalError as exc:
                _rollback(conn)
                if getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                    raise StoreUnavailableError(f"SQLite busy in {current}") from exc
                raise ProcessingError(f"SQL error in {current}: {exc}") from exc
            except sqlite3.Error as exc:
                _rollback(conn)
                raise ProcessingError(f"SQL error in {current}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _rollback(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        conn.execute("ROLLBACK")


class SqliteJobStore(SqlJobStore):
    """The job store on an embedded SQLite file (see :class:`SqlJobStore` for the methods)."""

    def __init__(self, path: str | Path, *, migrations_dir: Path | None = None) -> None:
        super().__init__(SqliteExecutor(path), migrations_dir=migrations_dir)
