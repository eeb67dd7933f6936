"""The load proof, quick (issue "PostgreSQL job store and a load proof"): ``scripts/bench_load.py`` at a few
hundred jobs, real OS processes (spawned sweeps and workers) on PostgreSQL and moto's SQS in server mode.

- 300 jobs across 5 sites, 2 workers, 2 sweeps, 10 % injected retryable faults (AI 5xx, storage errors) and
  worker 0 killed with SIGKILL while it holds a received batch, then replaced: every job terminal, one
  evaluation per completed job, no job claimed by two sweeps, the DLQ holding exactly the dead-lettered jobs.
- 150 jobs, no faults: every job completed with exactly one AI call.

The invariants are asserted twice: through the bench's own checks and again here, straight from the kept
database. Timings are not asserted (they are the benchmark's output, docs/benchmarks.md). Skipped when no
PostgreSQL server answers at ``LEADEVAL_TEST_POSTGRES_URL``.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from scripts.bench_load import DEFAULT_POSTGRES_URL, BenchConfig, injected_codes, run

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def _require_postgres() -> None:
    psycopg = pytest.importorskip("psycopg")
    try:
        psycopg.connect(DEFAULT_POSTGRES_URL, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server at {DEFAULT_POSTGRES_URL}: {exc}")


def _run_kept(config: BenchConfig) -> Iterator[dict[str, Any]]:
    """Run the bench keeping its database and folder for inspection; drop/remove them afterwards."""
    _require_postgres()
    summary = run(config)
    kept = summary["result"]["kept"]
    try:
        yield summary
    finally:
        import psycopg

        with psycopg.connect(DEFAULT_POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{kept["database"]}" WITH (FORCE)')
        shutil.rmtree(kept["run_dir"], ignore_errors=True)


@pytest.fixture(name="faulty", scope="module")
def _faulty() -> Iterator[dict[str, Any]]:
    yield from _run_kept(BenchConfig(jobs=300, sites=5, workers=2, sweeps=2, fault_rate=0.1, kill_worker=True,
                                     model_latency_ms=10, floor_samples=1, isolated_sweep_jobs=100,
                                     timeout_seconds=300, keep=True))


@pytest.fixture(name="clean", scope="module")
def _clean() -> Iterator[dict[str, Any]]:
    yield from _run_kept(BenchConfig(jobs=150, sites=5, workers=2, sweeps=2, model_latency_ms=10, floor_samples=1,
                                     isolated_sweep_jobs=0, timeout_seconds=300, keep=True))


def _rows(summary: dict[str, Any], sql: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(summary["result"]["kept"]["dsn"]) as conn:
        return conn.execute(sql).fetchall()


MAIN_JOBS = "id LIKE 'job\\_0%'"  # the run's jobs (the isolated sweep's are job_x…)


def test_faulty_run_every_check_of_the_bench_holds(faulty: dict[str, Any]) -> None:
    """The bench's own invariant checks all hold (None = not applicable to a run with faults)."""
    checks = faulty["result"]["checks"]
    assert {k for k, v in checks.items() if v is False} == set()
    assert checks["all_terminal"] and checks["one_evaluation_per_completed_job"]
    assert checks["no_job_claimed_by_two_sweeps"] and checks["sqs_calls_equal_ceil"]
    assert checks["dlq_holds_exactly_the_dead_lettered_jobs"]
    assert faulty["ok"] is True


def test_faulty_run_every_job_terminal_with_at_most_one_evaluation(faulty: dict[str, Any]) -> None:
    """Straight from the database: nothing left pending/queued/processing, one evaluation row per completed
    job (matching its evaluation_id), none for failed jobs, and every failure a dead-lettered retryable error."""
    by_status = dict(_rows(faulty, f"SELECT status, count(*) FROM ai_evaluation_jobs WHERE {MAIN_JOBS} GROUP BY 1"))
    assert set(by_status) <= {"completed", "failed"}
    assert sum(by_status.values()) == 300
    assert _rows(faulty, "SELECT job_id FROM leadeval_evaluations GROUP BY job_id HAVING count(*) > 1") == []
    assert _rows(faulty, "SELECT count(*) FROM lead_ai_evaluations e LEFT JOIN leadeval_evaluations x "
                         "ON x.evaluation_id = e.id WHERE x.evaluation_id IS NULL") == [(0,)]
    assert _rows(faulty, f"""
        SELECT j.id FROM ai_evaluation_jobs j LEFT JOIN leadeval_evaluations e ON e.job_id = j.id
         WHERE j.{MAIN_JOBS} AND ((j.status = 'completed') <> (e.evaluation_id IS NOT NULL)
                                  OR (j.status = 'completed' AND j.evaluation_id IS DISTINCT FROM e.evaluation_id))
        """) == []
    failed = _rows(faulty, "SELECT error_code, leadeval_dead_lettered_at IS NOT NULL FROM ai_evaluation_jobs "
                           "WHERE status = 'failed'")
    assert all(code in injected_codes() and dead for code, dead in failed)
    assert faulty["result"]["dead_lettered"] == faulty["result"]["dlq_messages"] == len(failed)


def test_faulty_run_sweeps_never_claim_the_same_job(faulty: dict[str, Any]) -> None:
    """Two sweep processes claimed disjoint sets that together cover every job once; each tick was one SQL
    batch of 6 statements (reject and admit new rows, three rescues, the claim) and ceil(claimed / 10)
    SendMessageBatch calls."""
    sweeps = faulty["result"]["sweeps"]
    assert sweeps["processes"] == 2 and sweeps["claimed_by_two_sweeps"] == 0
    if sweeps["rescued"] == 0:
        assert sweeps["claims"] == sweeps["distinct_jobs_claimed"] == 300
    assert sweeps["db_batches_per_tick"] == [1]
    assert sweeps["db_statements_per_tick"] == [6]
    assert sweeps["sqs_calls_per_tick"]["GetQueueAttributes"] == [1]


def test_faulty_run_faults_were_injected_and_retried(faulty: dict[str, Any]) -> None:
    """Both kinds of fault happened, were retried through SQS (visibility changed, redelivered) and the
    retries are in the database (retry_count)."""
    r = faulty["result"]
    assert r["faults_injected"]["ai"] > 0 and r["faults_injected"]["storage"] > 0
    assert r["retries"]["jobs_retried"] > 0
    assert r["sqs_calls"]["ChangeMessageVisibility"] > 0
    retried = _rows(faulty, f"SELECT count(*) FROM ai_evaluation_jobs WHERE {MAIN_JOBS} AND retry_count > 0")[0][0]
    assert retried == r["retries"]["jobs_retried"]


def test_faulty_run_worker_killed_mid_batch_and_replaced(faulty: dict[str, Any]) -> None:
    """Worker 0 died of SIGKILL holding a received batch and a new worker process took its place; the
    batch's messages were processed all the same (every job terminal, above)."""
    r = faulty["result"]
    kill = r["kill"]
    assert kill["exitcode"] == -9 and kill["mid_batch"] is True and kill["held_messages"] >= 1
    assert set(r["workers"]) == {"worker-0", "worker-0r", "worker-1"}
    assert sum(w["records"] for w in r["workers"].values()) >= 300


def test_faulty_run_ai_calls_are_accounted_for(faulty: dict[str, Any]) -> None:
    """Every completed job had a successful AI call; a second successful call for one job can only come
    from the kill (the call cut short), so at most the killed batch's jobs have one."""
    ai = faulty["result"]["ai_calls"]
    kill = faulty["result"]["kill"]
    assert ai["completed_jobs_without_call"] == 0
    assert ai["total"] - ai["faulted"] >= faulty["result"]["status"].get("completed", 0)
    assert ai["jobs_with_two_successful_calls"] <= kill["held_messages"]
    assert ai["per_completed_job_mean"] >= 1


def test_isolated_sweep_is_one_sql_batch_and_ceil_sqs_calls(faulty: dict[str, Any]) -> None:
    """One sweep of 100 due jobs: 1 SQL batch (6 statements), 1 GetQueueAttributes, ceil(100/10) sends."""
    iso = faulty["result"]["isolated_sweep"]
    assert iso["jobs"] == 100
    assert (iso["db_batches"], iso["db_statements"]) == (1, 6)
    assert iso["sqs_calls"] == {"GetQueueAttributes": 1, "SendMessageBatch": math.ceil(100 / 10)}


def test_clean_run_every_job_completed_with_one_ai_call(clean: dict[str, Any]) -> None:
    """Without faults: every job completed, exactly one evaluation row and exactly one AI call each."""
    r = clean["result"]
    assert clean["ok"] is True
    assert r["status"] == {"completed": 150}
    assert r["checks"]["one_ai_call_per_job"] is True
    assert r["ai_calls"]["completed_jobs_by_calls"] == {"1": 150}
    assert r["evaluations"] == {"rows": 150, "distinct_jobs": 150, "mismatched_jobs": 0}
    assert _rows(clean, "SELECT count(*), count(DISTINCT x.job_id) FROM lead_ai_evaluations e "
                        "JOIN leadeval_evaluations x ON x.evaluation_id = e.id") == [(150, 150)]
    assert r["retries"]["jobs_retried"] == 0 and r["dlq_messages"] == 0
