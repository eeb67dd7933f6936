"""Persistence layers for Powertools Idempotency.

In AWS the worker uses Powertools' ``DynamoDBPersistenceLayer`` on the table ``template.yaml`` creates
(``LEADEVAL_IDEMPOTENCY_TABLE``, TTL on ``expiration``). The embedded default needs no AWS:
:class:`SqlitePersistenceLayer` keeps the records in a table of a SQLite file — the job database itself
when it is SQLite. Why SQLite rather than Powertools' Redis layer: the embedded default must run with
nothing but Python (``make run`` on a fresh machine), and a table beside the jobs is inspectable with the
same tools; Redis would be one more server to start. A D1 job store does *not* host these records: they
would cost 2–3 more D1 requests per job and break the 3-request budget, so D1 deployments use
the DynamoDB table.

The conditional put follows the DynamoDB layer's condition (Powertools ``persistence/dynamodb.py``): a put
succeeds if no record exists, or it has expired (``expiration`` < now, epoch **seconds**), or it is
``INPROGRESS`` with ``in_progress_expiration`` < now (epoch **milliseconds**); otherwise it raises
``IdempotencyItemAlreadyExistsError`` carrying the existing record.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

if TYPE_CHECKING:
    from leadeval.config import Settings

_SCHEMA = """
CREATE TABLE IF NOT EXISTS leadeval_idempotency (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    expiration INTEGER NOT NULL,
    in_progress_expiration INTEGER,
    data TEXT,
    validation TEXT
)
"""


class SqlitePersistenceLayer(BasePersistenceLayer):
    """Idempotency records in SQLite (table ``leadeval_idempotency``).

    Args:
        path: the SQLite file (created with its parent folder when missing).
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = str(path)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(_SCHEMA)
            self._conn = conn
        return self._conn

    @staticmethod
    def _record(row: tuple) -> DataRecord:
        key, status, expiration, in_progress, data, validation = row
        return DataRecord(idempotency_key=key, status=status, expiry_timestamp=expiration,
                          in_progress_expiry_timestamp=in_progress, response_data=data or "",
                          payload_hash=validation or "")

    def _get_record(self, idempotency_key: str) -> DataRecord:
        with self._lock:
            row = self._db().execute(
                "SELECT id, status, expiration, in_progress_expiration, data, validation "
                "FROM leadeval_idempotency WHERE id = ?", (idempotency_key,)).fetchone()
        if row is None:
            raise IdempotencyItemNotFoundError
        return self._record(row)

    def _put_record(self, data_record: DataRecord) -> None:
        now_s, now_ms = int(time.time()), int(time.time() * 1000)
        with self._lock:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                cursor = db.execute(
                    "INSERT INTO leadeval_idempotency (id, status, expiration, in_progress_expiration, data, "
                    "validation) VALUES (?, ?, ?, ?, NULL, ?) "
                    "ON CONFLICT (id) DO UPDATE SET status = excluded.status, expiration = excluded.expiration, "
                    "in_progress_expiration = excluded.in_progress_expiration, data = NULL, "
                    "validation = excluded.validation "
                    "WHERE leadeval_idempotency.expiration < ? OR (leadeval_idempotency.status = 'INPROGRESS' "
                    "AND leadeval_idempotency.in_progress_expiration IS NOT NULL "
                    "AND leadeval_idempotency.in_progress_expiration < ?)",
                    (data_record.idempotency_key, data_record.status, data_record.expiry_timestamp,
                     data_record.in_progress_expiry_timestamp, data_record.payload_hash, now_s, now_ms))
                if cursor.rowcount == 0:
                    row = db.execute(
                        "SELECT id, status, expiration, in_progress_expiration, data, validation "
                        "FROM leadeval_idempotency WHERE id = ?", (data_record.idempotency_key,)).fetchone()
                    db.execute("COMMIT")
                    raise IdempotencyItemAlreadyExistsError(old_data_record=self._record(row) if row else None)
                db.execute("COMMIT")
            except IdempotencyItemAlreadyExistsError:
                raise
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def _update_record(self, data_record: DataRecord) -> None:
        # An upsert, as DynamoDB's UpdateItem (which creates a missing item): the worker caches a grouped job's
        # outcome after its record's in-progress item was deleted (``Wiring.remember``).
        with self._lock:
            self._db().execute(
                "INSERT INTO leadeval_idempotency (id, status, expiration, in_progress_expiration, data, validation) "
                "VALUES (?, ?, ?, NULL, ?, ?) ON CONFLICT (id) DO UPDATE SET status = excluded.status, "
                "expiration = excluded.expiration, data = excluded.data",
                (data_record.idempotency_key, data_record.status, data_record.expiry_timestamp,
                 data_record.response_data, data_record.payload_hash))

    def _delete_record(self, data_record: DataRecord) -> None:
        with self._lock:
            self._db().execute("DELETE FROM leadeval_idempotency WHERE id = ?", (data_record.idempotency_key,))


    def delete_in_progress(self) -> int:
        """Delete every ``INPROGRESS`` record; returns how many. Only for the owner of the database when no
        worker can be running (a local run that holds the run lock, after a crash): those records belong to
        invocations that are gone, and would otherwise hold their jobs until they expire."""
        with self._lock:
            return self._db().execute("DELETE FROM leadeval_idempotency WHERE status = 'INPROGRESS'").rowcount

    def close(self) -> None:
        """Close the connection (the next call reopens it)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def sqlite_records_path(settings: Settings) -> Path | None:
    """The SQLite file holding the idempotency records, or None when they are in DynamoDB."""
    if settings.idempotency_table:
        return None
    if settings.database.kind == "sqlite":
        return settings.sqlite_path()
    return Path(".leadeval") / "idempotency.db"


def make_persistence_layer(settings: Settings) -> BasePersistenceLayer:
    """DynamoDB when ``LEADEVAL_IDEMPOTENCY_TABLE`` is set; else SQLite (the job database file when it is
    SQLite, otherwise ``.leadeval/idempotency.db``)."""
    path = sqlite_records_path(settings)
    if path is None and settings.idempotency_table:
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

        return DynamoDBPersistenceLayer(table_name=settings.idempotency_table)
    assert path is not None  # sqlite_records_path() is None only when a table is set
    return SqlitePersistenceLayer(path)
