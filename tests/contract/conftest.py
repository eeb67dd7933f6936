"""The ``job_store`` fixture: every JobStore backend, for the contract suite.

- ``sqlite``: the embedded store on a temporary file.
- ``d1``: ``D1JobStore`` talking to ``leadeval_tools.fakes.d1.FakeD1`` (an in-process fake of the D1 REST
  API backed by a real SQLite database) through ``httpx.MockTransport``.
- ``postgres``: ``PostgresJobStore`` on a fresh database of the server in ``LEADEVAL_TEST_POSTGRES_URL``
  (default ``postgresql://postgres@127.0.0.1:5432/postgres``); skipped when no server answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


def make_sqlite(tmp_path: Path):
    from leadeval.adapters.jobstore.sqlite import SqliteJobStore

    return SqliteJobStore(tmp_path / "jobs.db"), None


def make_d1(tmp_path: Path):
    import httpx

    from leadeval.adapters.jobstore.d1 import D1JobStore
    from leadeval_tools.fakes.d1 import FakeD1

    fake = FakeD1(tmp_path / "d1.db", account_id="acct", database_id="db", api_token="token")
    client = httpx.Client(transport=httpx.MockTransport(fake), base_url="https://d1.test/client/v4")
    store = D1JobStore(account_id="acct", database_id="db", api_token="token",
                       base_url="https://d1.test/client/v4", client=client)
    return store, fake


def make_postgres(tmp_path: Path):
    from tests.helpers import create_postgres_database, drop_postgres_database

    dsn = create_postgres_database()  # skips the test when no server answers
    from leadeval.adapters.jobstore.postgres import PostgresJobStore

    store = PostgresJobStore(dsn)

    def drop() -> None:
        store.close()
        drop_postgres_database(dsn)

    return store, drop


FACTORIES = {"sqlite": make_sqlite, "d1": make_d1, "postgres": make_postgres}


@pytest.fixture(name="backend_store", params=list(FACTORIES))
def _backend_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, object, object]]:
    """``(backend name, migrated JobStore, backend extra)``; the extra is the D1 fake or a cleanup."""
    factory = FACTORIES[request.param]
    try:
        store, extra = factory(tmp_path)
    except ModuleNotFoundError as exc:
        pytest.skip(f"{request.param} backend not available: {exc}")
    from leadeval_tools.appdb import create_application_tables
    create_application_tables(store)
    store.migrate()
    yield request.param, store, extra
    if callable(extra) and request.param == "postgres":
        extra()
    else:
        store.close()


@pytest.fixture(name="job_store")
def _job_store(backend_store: tuple[str, object, object]) -> object:
    """A migrated, empty JobStore of each backend."""
    return backend_store[1]
