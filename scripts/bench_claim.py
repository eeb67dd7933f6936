"""Claim cost on SQLite/D1 from 100 to 100,000 pending jobs: query plans and timings.

Usage::

    .venv/bin/python scripts/bench_claim.py                 # measure, write docs/benchmarks.md
    .venv/bin/python scripts/bench_claim.py --no-write      # print only
    .venv/bin/python scripts/bench_claim.py --code-root /tmp/le-base --no-write   # another checkout's SQL

For each backlog size a fresh SQLite file gets the application's tables, leadeval's migrations and N
admitted pending jobs (``leadeval_state = 'pending'``, canonical ``leadeval_requested_at``), then
``ANALYZE``-free (D1 databases carry no statistics unless someone runs ANALYZE). Timed, median of
``--runs``: the ``claim_due`` statement alone (limit 10), and the sweep's whole batch (the six statements
``SqlJobStore.sweep`` sends: admission, rescue, claim), each inside a transaction rolled back afterwards,
so every run sees the same N pending rows. The plans are ``EXPLAIN QUERY PLAN`` of each statement.
D1 runs the same SQLite planner, so the plan is also what D1 reads (and bills as rows read).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import add_before_after, add_no_write, machine, markers, read_json, use_code_root, write_section

START, END = markers("claim")
SWEEP = ("reject_new_rows", "admit_new_rows", "rescue_exhausted", "rescue_crashed", "rescue_lost", "claim_due")
NOW = "2026-06-01T00:00:00.000Z"
PARAMS = {"now": NOW, "lease_until": "2026-06-01T00:05:00.000Z", "limit": 10,
          "rescue_before": "2026-05-31T23:00:00.000Z"}


def _database(root: Path, pending: int) -> sqlite3.Connection:
    from leadeval.adapters.jobstore.sqlite import SqliteJobStore
    from leadeval_tools.appdb import create_application_tables

    path = root / f"claim-{pending}.db"
    store = SqliteJobStore(path)
    create_application_tables(store)
    store.migrate()
    store.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO ai_evaluation_jobs (id, lead_id, site_id, status, requested_at, created_at, updated_at,"
        " leadeval_state, leadeval_requested_at) VALUES (?, ?, 'site', 'pending', ?, ?, ?, 'pending', ?)",
        ((f"job_{i:07d}", f"lead_{i}", "2026-01-01 00:00:00", "2026-01-01 00:00:00", "2026-01-01 00:00:00",
          f"2026-01-{1 + i // 86400 % 28:02d}T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}.000Z")
         for i in range(pending)))
    conn.execute("COMMIT")
    return conn


def _params(sql: str) -> dict[str, Any]:
    return {k: v for k, v in PARAMS.items() if f":{k}" in sql}


def _timed(conn: sqlite3.Connection, statements: list[str], runs: int) -> tuple[float, int]:
    times, claimed = [], 0
    for _ in range(runs):
        conn.execute("BEGIN IMMEDIATE")
        start = time.perf_counter()
        for sql in statements:
            rows = conn.execute(sql, _params(sql)).fetchall()
        times.append((time.perf_counter() - start) * 1000)
        claimed = len(rows)
        conn.execute("ROLLBACK")
    return statistics.median(times), claimed


def measure(sizes: list[int], runs: int) -> dict[str, Any]:
    """Plans of the sweep's statements and median ms per backlog size."""
    from leadeval.adapters.jobstore.sql import load_queries

    queries = load_queries("sqlite")
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        plans: dict[str, list[str]] = {}
        for n in sizes:
            conn = _database(Path(tmp), n)
            if not plans:
                plans = {name: [r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + queries[name],
                                                           _params(queries[name]))] for name in SWEEP}
            claim_ms, claimed = _timed(conn, [queries["claim_due"]], runs)
            sweep_ms, _ = _timed(conn, [queries[name] for name in SWEEP], runs)
            rows.append({"pending": n, "claimed": claimed, "claim_ms": claim_ms, "sweep_ms": sweep_ms})
            conn.close()
            print(f"{n:>7} pending: claim_due {claim_ms:.3f} ms, sweep batch {sweep_ms:.3f} ms", flush=True)
    return {"rows": rows, "plans": plans}


def render(result: dict[str, Any], command: str, before: dict[str, Any] | None) -> str:
    lines = [START, "## Claim cost on SQLite/D1 (flat from 100 to 100,000 pending)", "",
             f"Produced by `{command}` on {machine(' (shared)')}, SQLite {sqlite3.sqlite_version}. A fresh "
             "database per size with N admitted pending jobs; median of the runs, each in a transaction rolled "
             "back (same N every run). *claim_due*: the claim statement alone (LIMIT 10); *sweep batch*: the six "
             "statements of one sweep (admission, rescue, claim).", ""]
    head = "| pending | claimed | claim_due ms | sweep batch ms |"
    lines += [head, "| --- | --- | --- | --- |"]
    for r in result["rows"]:
        lines.append(f"| {r['pending']:,} | {r['claimed']} | **{r['claim_ms']:.3f}** | {r['sweep_ms']:.3f} |")
    if before:
        lines += ["", "Before (the same script on the previous SQL: "
                  "`git archive <parent> | tar -x -C /tmp/le-base`, then "
                  "`python scripts/bench_claim.py --code-root /tmp/le-base --no-write --json-out claim-before.json`):",
                  "",
                  head, "| --- | --- | --- | --- |"]
        for r in before["rows"]:
            lines.append(f"| {r['pending']:,} | {r['claimed']} | {r['claim_ms']:.3f} | {r['sweep_ms']:.3f} |")
    lines += ["", "Query plans (`EXPLAIN QUERY PLAN`; D1 runs the same planner):", ""]
    for name, plan in result["plans"].items():
        lines.append(f"- `{name}`: " + "; ".join(f"`{p}`" for p in plan))
    if before:
        lines += ["", "Before, `claim_due`: " + "; ".join(f"`{p}`" for p in before["plans"]["claim_due"]) + " — "
                  "the outer UPDATE walked the claim index over every pending row and tested each id against "
                  "the subquery's list (O(pending) rows read, which D1 bills). Now it finds the ids by primary "
                  "key (the unary `+` on its state tests keeps the planner off the claim index); "
                  "`reject_new_rows`/`admit_new_rows` likewise, and `rescue_lost` walks the lease index. The due "
                  "time already had one canonical format (`leadeval_requested_at`, ISO 8601 UTC ms Z, written at "
                  "admission) and its index (`leadeval_idx_jobs_claim`); the statements did not let the planner use "
                  "it for the rows they update, so the fix is in the SQL and needs no migration."]
    lines.append(END)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="100,1000,10000,100000")
    parser.add_argument("--runs", type=int, default=15)
    add_before_after(parser, code_root_help="measure another checkout's leadeval (its SQL)")
    add_no_write(parser)
    args = parser.parse_args(argv)
    use_code_root(args.code_root)
    result = measure([int(s) for s in args.sizes.split(",")], args.runs)
    if args.json_out:
        args.json_out.write_text(json.dumps(result))
    before = read_json(args.before_json)
    if not args.no_write:
        command = "python scripts/bench_claim.py" + (f" --before-json {args.before_json.name}" if before else "")
        write_section(render(result, command, before), "claim")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
