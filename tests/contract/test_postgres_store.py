"""PostgreSQL-only behaviour of ``PostgresJobStore`` that the shared contract suite cannot test:
concurrent claims on separate connections, connection loss, transient lock errors, the migrations'
idempotence and their schema against SQLite's, and the ``leadeval_ts`` timestamp parser.

Each test gets a fresh database on the server in ``LEADEVAL_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``); the module is skipped when no server answers.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from leadeval.adapters.jobstore.postgres import PostgresJobStore, to_psycopg_params
from leadeval.adapters.jobstore.sql import Statement, load_queries
from leadeval.adapters.jobstore.sqlite import SqliteJobStore
from leadeval.errors import ProcessingError, StoreUnavailableError
from leadeval.models import Job, JobState, JobStatus, Lead
from leadeval.timeutil import format_ts
from leadeval_tools.appdb import create_application_tables
from tests.helpers import create_postgres_database, drop_postgres_database

psycopg = pytest.importorskip("psycopg")

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)


@pytest.fixture(name="dsn")
def _dsn() -> Iterator[str]:
    """DSN of a fresh, empty database (dropped afterwards, connections included)."""
    dsn = create_postgres_database()
    yield dsn
    drop_postgres_database(dsn)


@pytest.fixture(name="store")
def _store(dsn: str) -> Iterator[PostgresJobStore]:
    store = PostgresJobStore(dsn)
    create_application_tables(store)
    store.migrate()
    yield store
    store.close()


def _admin(dsn: str) -> Any:
    """A separate autocommit connection to the test database (dict rows)."""
    from psycopg.rows import dict_row

    return psycopg.connect(dsn, autocommit=True, row_factory=dict_row)


def _add_jobs(store: PostgresJobStore, count: int) -> list[str]:
    """``count`` pending jobs requested one second apart from T0 - 1 h; ids in request order."""
    store.create_lead(Lead(id="lead-1", site_id="site-1", first_name="A", last_name="B",
                           monthly_rent=1500))
    ids = []
    for i in range(count):
        job = Job(id=f"job-{i:04d}", site_id="site-1", lead_id="lead-1", status=JobStatus.PENDING,
                  requested_at=T0 - timedelta(hours=1) + timedelta(seconds=i))
        store.create_job(job)
        ids.append(job.id)
    return ids


def _sweep(store: PostgresJobStore, limit: int) -> list[str]:
    outcome = store.sweep(now=T0, limit=limit, lease_seconds=300, rescue_after_seconds=3600)
    return [job.id for job in outcome.claimed]


# --------------------------------------------------------------------------- concurrent claims


def test_two_sweeps_racing_on_two_connections_never_claim_the_same_job(store: PostgresJobStore,
                                                                       dsn: str) -> None:
    ids = _add_jobs(store, 200)
    other = PostgresJobStore(dsn)
    barrier = threading.Barrier(2)
    results: dict[str, list[str]] = {}
    errors: list[BaseException] = []

    def run(label: str, s: PostgresJobStore) -> None:
        try:
            s.get_job("warm-up")  # connect first, so both sweeps start together
            barrier.wait(timeout=30)
            results[label] = _sweep(s, 60)
        except BaseException as exc:  # re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(label, s)) for label, s in (("a", store), ("b", other))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    other.close()
    assert not errors, errors
    a, b = set(results["a"]), set(results["b"])
    assert len(results["a"]) == len(a) == 60
    assert len(results["b"]) == len(b) == 60
    assert a & b == set()
    queued = {j.id for j in store.list_jobs(state=JobState.QUEUED, limit=1000)}
    assert a | b == queued
    # Each sweep skips only rows the other holds, so together they took the 120 oldest.
    assert queued == set(ids[:120])


def test_a_sweep_skips_rows_locked_by_an_uncommitted_claim_instead_of_waiting(store: PostgresJobStore,
                                                                              dsn: str) -> None:
    ids = _add_jobs(store, 200)
    other = PostgresJobStore(dsn, statement_timeout=5)  # a wait would fail the test, not hang it
    claim = to_psycopg_params(load_queries("postgresql")["claim_due"])
    params = {"now": format_ts(T0), "lease_until": format_ts(T0 + timedelta(minutes=5)), "limit": 60}
    store.sweep(now=T0, limit=0, admit_limit=1000, lease_seconds=300, rescue_after_seconds=3600)  # admit only
    with _admin(dsn) as held, held.transaction():
        first = {row["id"] for row in held.execute(claim, params).fetchall()}
        second = _sweep(other, 60)  # runs while the first claim's transaction still holds its rows
    other.close()
    assert first == set(ids[:60])
    assert set(second) == set(ids[60:120])
    assert {j.id for j in store.list_jobs(state=JobState.QUEUED, limit=1000)} == set(ids[:120])


def test_claim_order_parses_both_timestamp_formats(store: PostgresJobStore, dsn: str) -> None:
    # As raw strings '2026-01-31 23:00:00' < '2026-01-31T22:00:00.000Z' (' ' sorts before 'T'); as
    # instants 22:00Z comes first, and 23:30+01:00 (22:30Z) in between; 23:00 is after the sweep's 22:45,
    # so it is admitted as requested at 22:45 (never later than now) and comes last.
    store.create_lead(Lead(id="lead-1", site_id="site-1", first_name="A", last_name="B",
                           monthly_rent=1500))
    rows = [("late", "2026-01-31 23:00:00"), ("early", "2026-01-31T22:00:00.000Z"),
            ("middle", "2026-01-31T23:30:00+01:00")]
    with _admin(dsn) as conn:
        for job_id, requested_at in rows:
            conn.execute("INSERT INTO ai_evaluation_jobs (id, site_id, lead_id, status, requested_at, created_at, "
                         "updated_at) VALUES (%s, 'site-1', 'lead-1', 'pending', %s, %s, %s)",
                         (job_id, requested_at, requested_at, requested_at))
    outcome = store.sweep(now=datetime(2026, 1, 31, 22, 45, tzinfo=UTC), limit=10, lease_seconds=60,
                          rescue_after_seconds=3600)
    assert [j.id for j in outcome.claimed] == ["early", "middle", "late"]


# --------------------------------------------------------------------------- connection and errors


def _backend_pid(store: PostgresJobStore) -> int:
    return store.executor.execute_batch([Statement("pid", "SELECT pg_backend_pid() AS pid")])[0][0]["pid"]


def test_a_connection_killed_server_side_fails_one_call_then_reconnects(store: PostgresJobStore,
                                                                       dsn: str) -> None:
    _add_jobs(store, 1)
    pid = _backend_pid(store)
    with _admin(dsn) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s) AS ok", (pid,)).fetchone()["ok"] is True
    connects = store.executor.connects
    with pytest.raises(StoreUnavailableError):
        store.get_job("job-0000")
    job = store.get_job("job-0000")
    assert job is not None and job.status == JobStatus.PENDING
    assert store.executor.connects == connects + 1
    assert _backend_pid(store) != pid


def test_no_server_is_store_unavailable() -> None:
    store = PostgresJobStore("postgresql://postgres@127.0.0.1:1/none", connect_timeout=1)
    with pytest.raises(StoreUnavailableError, match="cannot connect"):
        store.get_job("job-1")


def test_a_lock_timeout_is_transient_and_keeps_the_connection(store: PostgresJobStore, dsn: str) -> None:
    _add_jobs(store, 1)
    _backend_pid(store)
    connects = store.executor.connects
    with _admin(dsn) as holder, holder.transaction():
        holder.execute("SELECT id FROM ai_evaluation_jobs WHERE id = 'job-0000' FOR UPDATE")
        with pytest.raises(StoreUnavailableError, match="LockNotAvailable"):
            store.executor.execute_batch([
                Statement("lock_timeout", "SET LOCAL lock_timeout = '50ms'"),
                Statement("cancel_job", load_queries("postgresql")["cancel_job"],
                          {"job_id": "job-0000", "now": format_ts(T0)}),
            ])
    assert store.cancel("job-0000", now=T0) is True
    assert store.executor.connects == connects


def test_a_statement_timeout_is_transient(dsn: str) -> None:
    store = PostgresJobStore(dsn, statement_timeout=0.05)
    try:
        with pytest.raises(StoreUnavailableError, match="QueryCanceled"):
            store.executor.execute_batch([Statement("sleep", "SELECT pg_sleep(5)")])
    finally:
        store.close()


def test_a_batch_is_one_transaction_and_sql_errors_name_the_statement_without_row_values(
        store: PostgresJobStore) -> None:
    lead = Lead(id="lead-secret@example.com", site_id="site-1", first_name="A", last_name="B",
                monthly_rent=Decimal('0.01'))
    store.create_lead(lead)
    q = load_queries("postgresql")
    insert = {"site_id": "site-1", "lead_id": lead.id, "requested_by": None, "requested_at": format_ts(T0),
              "model_version": None, "max_retries": 5, "now": format_ts(T0)}
    lead_row = {"id": lead.id, "site_id": "site-1", "first_name": "A", "last_name": "B", "email": None,
                "phone": None, "monthly_rent": 0.01, "voucher_cents": 0, "move_in_date": None,
                "status": "new", "now": format_ts(T0)}
    with pytest.raises(ProcessingError) as info:
        store.executor.execute_batch([Statement("insert_job", q["insert_job"], {"id": "job-x", **insert}),
                                      Statement("insert_lead", q["insert_lead"], lead_row)])
    assert "insert_lead" in info.value.message
    assert "23505" in info.value.message  # unique_violation
    assert "secret" not in info.value.message  # the DETAIL quotes the key's value; never reported
    assert store.get_job("job-x") is None  # the first statement was rolled back with the batch


def test_a_warm_connection_survives_a_migration_that_adds_a_column(store: PostgresJobStore, dsn: str) -> None:
    # Server-side prepared statements of SELECT * would fail with "cached plan must not change
    # result type" after ALTER TABLE; the executor does not prepare them.
    _add_jobs(store, 1)
    for _ in range(8):
        assert store.get_job("job-0000") is not None
    with _admin(dsn) as admin:
        admin.execute("ALTER TABLE ai_evaluation_jobs ADD COLUMN priority BIGINT NOT NULL DEFAULT 0")
    rows = store.executor.execute_batch([Statement("get_job", load_queries("postgresql")["get_job"],
                                                   {"job_id": "job-0000"})])[0]
    assert rows[0]["priority"] == 0


# --------------------------------------------------------------------------- migrations and schema


def _pg_schema(dsn: str) -> dict[str, Any]:
    """``{"columns": {table: [(name, type family, not null, has default)]}, "indexes": {...}}``."""
    with _admin(dsn) as conn:
        columns: dict[str, list[tuple[str, str, bool, bool]]] = {}
        for r in conn.execute(
                "SELECT table_name, column_name, data_type, is_nullable, column_default "
                "FROM information_schema.columns WHERE table_schema = 'public' "
                "ORDER BY table_name, ordinal_position").fetchall():
            columns.setdefault(r["table_name"], []).append(
                (r["column_name"], _family(r["data_type"]), r["is_nullable"] == "NO",
                 r["column_default"] is not None))
        indexes = {
            (r["tablename"], r["indexname"], "UNIQUE" in r["indexdef"])
            for r in conn.execute("SELECT tablename, indexname, indexdef FROM pg_indexes "
                                  "WHERE schemaname = 'public'").fetchall()
            if not r["indexname"].endswith(("_pkey", "_pg"))
        }
    return {"columns": columns, "indexes": indexes}


def _sqlite_schema(path: Path) -> dict[str, Any]:
    """The same shape from SQLite. A PRIMARY KEY column counts as NOT NULL (PostgreSQL enforces it;
    SQLite's ``notnull`` flag does not show it for non-INTEGER keys)."""
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        columns = {
            t: [(name, _family(decl), bool(notnull) or pk > 0, default is not None)
                for _cid, name, decl, notnull, default, pk in conn.execute(f'PRAGMA table_info("{t}")')]
            for t in tables
        }
        indexes = {
            (t, name, bool(unique))
            for t in tables
            for _seq, name, unique, origin, _partial in conn.execute(f'PRAGMA index_list("{t}")')
            if origin == "c"  # created by CREATE INDEX, not a PRIMARY KEY / UNIQUE autoindex
        }
    finally:
        conn.close()
    return {"columns": columns, "indexes": indexes}


def _family(declared: str) -> str:
    declared = declared.lower()
    if declared in ("integer", "bigint", "smallint"):
        return "integer"
    if declared in ("real", "double precision"):
        return "real"
    if declared in ("text", "character varying"):
        return "text"
    return declared


def test_migrations_give_postgresql_the_same_schema_as_sqlite(store: PostgresJobStore, dsn: str,
                                                              tmp_path: Path) -> None:
    sqlite = SqliteJobStore(tmp_path / "schema.db")
    create_application_tables(sqlite)
    sqlite.migrate()
    sqlite.close()
    expected, actual = _sqlite_schema(tmp_path / "schema.db"), _pg_schema(dsn)
    assert sorted(actual["columns"]) == sorted(expected["columns"])
    for table, cols in expected["columns"].items():
        assert actual["columns"][table] == cols, table
    assert actual["indexes"] == expected["indexes"]
    # spot checks of the mapping itself
    assert ("income_to_rent_ratio", "real", False, False) in actual["columns"]["leadeval_evaluations"]
    assert ("monthly_rent", "real", False, False) in actual["columns"]["leads"]
    assert ("leadeval_generation", "integer", True, True) in actual["columns"]["ai_evaluation_jobs"]


def test_defaulted_timestamps_are_iso_utc_text(store: PostgresJobStore, dsn: str) -> None:
    with _admin(dsn) as conn:
        conn.execute("INSERT INTO leads (id, site_id, first_name, last_name, monthly_rent) "
                     "VALUES ('l', 's', 'A', 'B', 1)")
        row = conn.execute("SELECT created_at, pg_typeof(created_at)::text AS t FROM leads").fetchone()
    assert row["t"] == "text"
    stored = datetime.strptime(row["created_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - stored) < timedelta(minutes=5)


def test_migrating_twice_is_a_no_op(store: PostgresJobStore, dsn: str) -> None:
    before = _pg_schema(dsn)
    assert store.migrate() == []
    assert _pg_schema(dsn) == before
    # Even re-running the translated files (records lost) changes nothing: IF NOT EXISTS everywhere.
    with _admin(dsn) as conn:
        conn.execute("DELETE FROM leadeval_migrations")
    assert store.migrate() == [f.name for f in store.migration_files()]
    assert _pg_schema(dsn) == before


# --------------------------------------------------------------------------- leadeval_ts


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("2026-01-31T23:59:59.123Z", "2026-01-31T23:59:59.123Z"),  # application code
        ("2026-01-31 23:59:59", "2026-01-31T23:59:59.000Z"),  # SQLite datetime('now'), UTC
        ("2026-01-31T23:59:59", "2026-01-31T23:59:59.000Z"),
        ("2026-02-01T01:30:00+02:00", "2026-01-31T23:30:00.000Z"),
        ("2026-02-01T01:30:00+0200", "2026-01-31T23:30:00.000Z"),
        ("2026-01-31T20:00:00-05", "2026-02-01T01:00:00.000Z"),
        ("2026-01-31 23:59", "2026-01-31T23:59:00.000Z"),
        ("2026-01-31", "2026-01-31T00:00:00.000Z"),  # a date alone is midnight UTC, not -31 hours
        ("not a date", None),  # like julianday(): NULL, never an error that breaks a sweep
        ("", None),
        ("31/01/2026", None),
    ],
)
def test_leadeval_ts_parses_both_stored_formats(store: PostgresJobStore, stored: str,
                                                expected: str | None) -> None:
    for timezone in ("UTC", "America/New_York"):  # the session time zone must not matter
        rows = store.executor.execute_batch([
            Statement("tz", "SELECT set_config('TimeZone', :tz, true)", {"tz": timezone}),
            Statement("ts", "SELECT leadeval_ts(:v) AS ts", {"v": stored}),
        ])
        assert format_ts(rows[1][0]["ts"]) == expected
