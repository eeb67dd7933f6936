"""``make bench``: run every benchmark script in turn; each writes its own section of docs/benchmarks.md.

- ``scripts/bench_budget.py``: leadeval's budgets (D1 requests per job and per sweep, SQS calls
  per sweep, cold import, concurrent fetch, peak memory), between ``<!-- budgets:start/end -->``.
- ``scripts/bench_load.py --proof``: the load and concurrency proof on PostgreSQL + moto SQS (10,000 jobs,
  50 sites, 4 worker and 2 sweep processes; clean, then 10 % faults with a worker killed), between
  ``<!-- load-proof:start/end -->`` (about 25 minutes on 2 cores; needs PostgreSQL on 127.0.0.1:5432).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent


def main() -> int:
    """Run each benchmark; the exit status is non-zero when any of them failed."""
    failed = 0
    for command in ([sys.executable, str(SCRIPTS / "bench_budget.py")],
                    [sys.executable, str(SCRIPTS / "bench_load.py"), "--proof"]):
        print(f"[bench] {' '.join(Path(part).name if part.endswith('.py') else part for part in command)}",
              file=sys.stderr)
        failed |= subprocess.call(command) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
