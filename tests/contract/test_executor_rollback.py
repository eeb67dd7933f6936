"""A batch that fails for any reason, the driver's or not, is rolled back and leaves the store usable
(issue 10: an ``OverflowError`` inside the SQLite executor kept the write lock for ever).

Runs on the SQLite and PostgreSQL executors (the D1 executor holds no transaction: a batch is one HTTP
request, checked before it is sent).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from leadeval.adapters.jobstore.sql import Statement
from leadeval.adapters.jobstore.sqlite import SqliteJobStore
from leadeval.errors import ProcessingError, StoreUnavailableError
from leadeval.models import Job, JobStatus
from leadeval_tools.appdb import create_application_tables

NOW = datetime(2026, 2, 10, 12, 0, tzinfo=UTC)


class _ExplodingParams(Mapping[str, Any]):
    """Statement parameters whose reading raises a non-driver exception (a bug in a caller)."""

    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("boom")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("boom")

    def __len__(self) -> int:
        return 1


def _insert_job(job_id: str) -> Statement:
    return Statement("test_insert", "INSERT INTO ai_evaluation_jobs (id, site_id, lead_id, status, requested_at, "
                                    "created_at, updated_at) VALUES (:id, 's', 'l', 'pending', "
                                    "'2026-02-10T12:00:00.000Z', '2026-02-10T12:00:00.000Z', "
                                    "'2026-02-10T12:00:00.000Z')", {"id": job_id})


def _count(store: Any) -> int:
    return store.executor.execute_batch([Statement("test_count", "SELECT count(*) AS n FROM ai_evaluation_jobs")])[
        0][0]["n"]


@pytest.fixture(name="sql_store")
def _sql_store(backend_store: tuple[str, object, object]) -> Any:
    name, store, _ = backend_store
    if name == "d1":
        pytest.skip("D1 batches hold no transaction")
    return store


def test_a_non_driver_exception_mid_batch_rolls_back_and_the_next_batch_runs(sql_store: Any) -> None:
    """The first statement wrote a row; the second raises RuntimeError while binding: the batch raises
    ProcessingError naming the statement and the class (not the text), the row is gone, and the next batch of
    the same connection commits."""
    with pytest.raises(ProcessingError, match=r"unexpected RuntimeError in test_explode") as caught:
        sql_store.executor.execute_batch([_insert_job("job-a"),
                                          Statement("test_explode", "SELECT :x AS x", _ExplodingParams())])
    assert "boom" not in caught.value.message
    assert _count(sql_store) == 0
    sql_store.executor.execute_batch([_insert_job("job-b")])
    assert _count(sql_store) == 1


def test_a_value_sqlite_cannot_bind_rolls_back_and_releases_the_write_lock(tmp_path: Path) -> None:
    """The issue's poison: 99999999999999999999 raises OverflowError inside sqlite3. The batch is rolled back:
    the same store keeps working, and another connection can write at once (no 'database is locked')."""
    store = SqliteJobStore(tmp_path / "jobs.db")
    create_application_tables(store)
    store.migrate()
    store.create_job(Job(id="job-1", site_id="s", lead_id="l", status=JobStatus.PENDING, requested_at=NOW))
    poison = Statement("get_job", "SELECT * FROM ai_evaluation_jobs WHERE id = :id AND leadeval_generation = :g",
                       {"id": "job-1", "g": 99999999999999999999})
    with pytest.raises(ProcessingError, match=r"unexpected OverflowError in get_job"):
        store.executor.execute_batch([_insert_job("job-2"), poison])

    assert store.executor._conn is not None and not store.executor._conn.in_transaction
    other = sqlite3.connect(tmp_path / "jobs.db", timeout=0.2, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # would raise 'database is locked' if the failed batch kept the lock
    other.execute("ROLLBACK")
    other.close()
    assert [j.id for j in store.list_jobs()] == ["job-1"]  # job-2's insert was rolled back
    store.close()


def test_a_file_that_is_not_a_database_is_an_unavailable_store_not_a_bug(tmp_path: Path) -> None:
    """A corrupted database file (here: not a database at all) raises StoreUnavailableError naming SQLite's
    code, so the worker reports it as an infrastructure failure."""
    path = tmp_path / "jobs.db"
    path.write_bytes(b"this is not a database" * 100)
    store = SqliteJobStore(path)
    with pytest.raises(StoreUnavailableError, match="SQLITE_NOTADB"):
        store.get_job("job-1")
    store.close()
