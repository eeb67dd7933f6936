"""The application's five tables in an empty embedded or test database (``leadeval db init``).

The application (a Cloudflare Workers product) creates and owns ``leads``, ``lead_documents``,
``ai_evaluation_usage``, ``ai_evaluation_jobs`` and ``lead_ai_evaluations``; a real application database already
has them, and leadeval's migrations only add to them. Local runs, the sample data and the tests need them too:
this module creates them exactly in the application's schema (``sql/application_schema.sqlite.sql``, and its
PostgreSQL version), never in a shape of leadeval's own. Not part of the Lambda layer.
"""

from __future__ import annotations

import logging
from importlib import resources

from leadeval.adapters.jobstore.sql import APPLICATION_TABLES, SqlJobStore, Statement, split_sql_script
from leadeval.errors import ConfigurationError
from leadeval.ports import JobStore

logger = logging.getLogger(__name__)


def application_schema(dialect: str = "sqlite") -> str:
    """The application's schema for ``dialect`` (``sqlite``, also for D1, or ``postgresql``), as SQL text."""
    name = "postgresql" if dialect == "postgresql" else "sqlite"
    return resources.files("leadeval_tools").joinpath("sql", f"application_schema.{name}.sql").read_text("utf-8")


def create_application_tables(store: JobStore) -> bool:
    """Create the application's five tables in a database that has none of them; True when created, False
    when all five exist. On PostgreSQL, also a ``datetime(text)`` function with SQLite's meaning: the
    application writes timestamps with ``datetime('now')`` in its SQL, and a database leadeval creates must run
    that SQL as it is.

    Raises:
        ConfigurationError: some of the five exist and others do not (naming the missing ones).
    """
    if not isinstance(store, SqlJobStore):
        raise TypeError(f"the application's tables can be created only through an SQL store, not {type(store)}")
    present = store.application_tables()
    if len(present) == len(APPLICATION_TABLES):
        return False
    if present:
        missing = ", ".join(t for t in APPLICATION_TABLES if t not in present)
        raise ConfigurationError(f"this database has some of the application's tables but not {missing}: "
                                 "leadeval creates them only in an empty database", variable="LEADEVAL_DATABASE_URL")
    dialect = store.executor.dialect
    statements = [Statement(f"application_schema.{dialect}.sql#{i}", sql)
                  for i, sql in enumerate(split_sql_script(application_schema(dialect)), 1)]
    if dialect == "postgresql":
        statements += [Statement(name, store.queries[name])
                       for name in ("timestamp_function", "sqlite_datetime_function")]
    store.executor.execute_batch(statements)
    logger.info("application tables created", extra={"tables": len(APPLICATION_TABLES)})
    return True
