"""The sweep's statements on SQLite/D1 read only the rows they touch: index searches, no scan, no sort.

D1 runs SQLite's planner and bills the rows a statement reads, so a plan that visits every pending row
makes each sweep cost O(backlog) (docs/benchmarks.md, "Claim cost"). These tests read the plans, not
timings.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from leadeval.adapters.jobstore.sql import load_queries
from leadeval.adapters.jobstore.sqlite import SqliteJobStore
from leadeval_tools.appdb import create_application_tables

PARAMS = {"now": "2026-06-01T00:00:00.000Z", "lease_until": "2026-06-01T00:05:00.000Z", "limit": 10,
          "rescue_before": "2026-05-31T23:00:00.000Z"}


@pytest.fixture(name="conn")
def _conn(tmp_path: Path) -> sqlite3.Connection:
    store = SqliteJobStore(tmp_path / "plan.db")
    create_application_tables(store)
    store.migrate()
    store.close()
    return sqlite3.connect(tmp_path / "plan.db")


def _plan(conn: sqlite3.Connection, name: str) -> list[str]:
    sql = load_queries("sqlite")[name]
    return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql,
                                           {k: v for k, v in PARAMS.items() if f":{k}" in sql})]


@pytest.mark.parametrize("name", ["reject_new_rows", "admit_new_rows", "claim_due"])
def test_the_updated_rows_are_found_by_primary_key_not_by_walking_the_pending_rows(
        conn: sqlite3.Connection, name: str) -> None:
    plan = _plan(conn, name)
    assert plan[0].startswith("SEARCH ai_evaluation_jobs USING INDEX sqlite_autoindex_ai_evaluation_jobs")
    assert plan[0].endswith("(id=?)")
    assert not any(line.startswith("SCAN") or "TEMP B-TREE" in line for line in plan), plan


def test_claim_due_walks_the_claim_index_up_to_the_due_time_in_claim_order(conn: sqlite3.Connection) -> None:
    plan = _plan(conn, "claim_due")
    assert ("SEARCH ai_evaluation_jobs USING COVERING INDEX leadeval_idx_jobs_claim "
            "(status=? AND leadeval_state=? AND leadeval_requested_at<?)") in plan
    assert not any("TEMP B-TREE" in line for line in plan), plan  # claim order comes from the index


@pytest.mark.parametrize("name", ["rescue_exhausted", "rescue_crashed", "rescue_lost"])
def test_the_rescues_walk_the_lease_index_up_to_the_rescue_time(conn: sqlite3.Connection, name: str) -> None:
    assert _plan(conn, name) == [
        "SEARCH ai_evaluation_jobs USING INDEX leadeval_idx_jobs_lease "
        "(leadeval_state=? AND leadeval_lease_expires_at<?)"]
