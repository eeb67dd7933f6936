"""D1 requests per Cloudflare token under the shared limiter: several worker processes, one budget, no block.

Usage::

    .venv/bin/python scripts/bench_throughput.py                        # 10,000 jobs, 4 workers, clock × 5
    .venv/bin/python scripts/bench_throughput.py --jobs 1000 --no-limiter  # control: blocks without the bucket
    .venv/bin/python scripts/bench_throughput.py --jobs 1000 --no-write   # a short run, print only

What runs (all on this machine):

- **D1**: ``FakeD1`` (the project's D1 REST fake, SQLite behind it) served over HTTP by this process, in front
  of it an enforcer of Cloudflare's API limit: 1,200 requests per 5 minutes per token (a sliding window), and
  when a request goes over it the token is blocked for 5 minutes (every request gets HTTP 429, code 971;
  Cloudflare docs, fundamentals/api/reference/limits). It counts the blocks triggered.
- **The shared limiter**: ``leadeval.adapters.ratelimit.TokenBucket`` (the shipped defaults: 60 burst, 3.6/s)
  in a DynamoDB table served by moto in server mode (a process of its own), taken by ``D1Executor`` (the
  shipped D1 client) before each request; a 429 records its block there.
- **Workers**: ``--workers`` processes (default 4) share a counter of jobs and take them 10 at a time (the
  worker's batch size); each batch sends the D1 requests the real worker sends for 10 jobs at batch 10
  (``--requests-per-batch``, default 3: the measured 0.28 per job rounded up, ``bench_budget.py --only d1``; a
  group claim, a grouped write and the rewrite of results the reuse check stopped), each a real
  D1 batch request with one statement. A ``ThrottledError`` (no token within 10 s, or the token blocked)
  snoozes the batch as the worker does (it comes back after ``retry_after``), nothing counted as done.
- **The sweep**: one request per minute through the same bucket (a thread of this process).

The workload is the worker's request *pattern*, not its handlers (documents, model and results are not
processed here: ``bench_worker.py`` measures that CPU); the figure is what the token's budget lets through.

**Time scaling.** Cloudflare's window is 5 minutes and the budget 4 requests/s, so 10,000 jobs at 0.3 requests
each take about 14 minutes of real time (at 1.7, the worker's rate before claim groups, over an hour). Every clock
of the run (the enforcer's window and block, the bucket's refill and waits, the sweep's minute) is a scaled clock:
``start + (time.time() - start) × --scale``, and a sleep of s scaled seconds sleeps s / scale real seconds. Jobs/s
and requests/s are reported per *scaled* second, i.e. as they would be in real time; the run's real duration is
reported too. Scaling also stretches every stall: the bucket counts a request when its token is taken, Cloudflare
(and the enforcer) when it arrives, and the bucket's margin (1,140 against 1,200 per window) covers about 17
scaled seconds between the two, i.e. 3.3 real seconds at × 5. Run it on an otherwise idle machine: a run beside a
CPU-heavy job (the test suite) did trigger blocks.

Results go between ``<!-- throughput:start -->`` and ``<!-- throughput:end -->`` in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from benchlib import DOC, REPO, add_json_out, add_no_write, command_line, machine, markers, write_section

START, END = markers("throughput")

ACCOUNT = "0123456789abcdef0123456789abcdef"
DATABASE = "5b4e1c2a-9d3f-4e8b-a1c7-2f6d8e0b9a13"
TOKEN = "bench-token"
TABLE = "leadeval-bench-idempotency"
WINDOW_SECONDS = 300.0
"""Cloudflare's window and block length (seconds)."""
WINDOW_LIMIT = 1200
"""Requests allowed per token per window."""
BATCH = 10
"""Jobs per worker invocation (the template's batch size)."""


class ScaledClock:
    """Seconds since the epoch, running ``scale`` times faster than real time from ``origin``."""

    def __init__(self, origin: float, scale: float) -> None:
        self.origin, self.scale = origin, scale

    def __call__(self) -> float:
        return self.origin + (time.time() - self.origin) * self.scale

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds) / self.scale)


class Enforcer:
    """Cloudflare's per-token limit in front of the fake: a sliding window of ``WINDOW_LIMIT`` requests per
    ``WINDOW_SECONDS`` (scaled) and a block of ``WINDOW_SECONDS`` when a request goes over it."""

    def __init__(self, clock: ScaledClock) -> None:
        self.clock = clock
        self.times: collections.deque[float] = collections.deque()
        self.blocked_until = 0.0
        self.blocks = 0
        self.requests = 0
        self.rejected = 0
        self.max_in_window = 0
        self.lock = threading.Lock()

    def admit(self) -> bool:
        """True when the request may go through; False (and, over the limit, a new block) when not."""
        with self.lock:
            now = self.clock()
            if now < self.blocked_until:
                self.rejected += 1
                return False
            while self.times and self.times[0] <= now - WINDOW_SECONDS:
                self.times.popleft()
            if len(self.times) >= WINDOW_LIMIT:
                self.blocks += 1
                self.blocked_until = now + WINDOW_SECONDS
                self.rejected += 1
                return False
            self.times.append(now)
            self.requests += 1
            self.max_in_window = max(self.max_in_window, len(self.times))
            return True


def serve_d1(fake: Any, enforcer: Enforcer) -> ThreadingHTTPServer:
    """Serve ``fake`` (a FakeD1) over HTTP on 127.0.0.1 behind ``enforcer``; returns the running server."""
    import httpx

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            if not enforcer.admit():
                payload = json.dumps({"result": None, "success": False, "messages": [],
                                      "errors": [{"code": 971, "message": "Please wait and consider throttling "
                                                  "your request speed"}]}).encode()
                self._send(429, payload)
                return
            request = httpx.Request("POST", f"http://d1{self.path}", headers=dict(self.headers), content=body)
            response = fake(request)
            self._send(response.status_code, response.content)

        def _send(self, status: int, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _bucket(endpoint: str, clock: ScaledClock) -> Any:
    """The shared TokenBucket on moto's DynamoDB at ``endpoint``; None with ``LEADEVAL_BENCH_NO_LIMITER=1``
    (``--no-limiter``: the control run, each worker on its own)."""
    if os.environ.get("LEADEVAL_BENCH_NO_LIMITER") == "1":
        return None
    import boto3

    from leadeval.adapters.ratelimit import TokenBucket, bucket_key

    table = boto3.resource("dynamodb", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x",
                           aws_secret_access_key="x").Table(TABLE)
    return TokenBucket(table=table, key=bucket_key(TOKEN), clock=clock, sleep=clock.sleep)


def _executor(d1_url: str, bucket: Any) -> Any:
    from leadeval.adapters.jobstore.d1 import D1Executor

    return D1Executor(account_id=ACCOUNT, database_id=DATABASE, api_token=TOKEN, base_url=d1_url, limiter=bucket)


def worker_main(d1_url: str, ddb_url: str, origin: Any, scale: float, requests_per_batch: int,
                remaining: Any, done: Any, stats: Any, lock: Any, ready: Any, go: Any) -> None:
    """One worker process: take 10 jobs at a time from ``remaining`` and send their requests (after ``go``)."""
    from leadeval.adapters.jobstore.sql import Statement
    from leadeval.errors import ThrottledError

    clock = ScaledClock(0.0, scale)
    executor = _executor(d1_url, _bucket(ddb_url, clock))
    statement = Statement(name="bench", sql="SELECT :n AS n", params={"n": 1})
    ready.release()
    go.wait()
    clock.origin = origin.value
    while True:
        with lock:
            take = min(BATCH, remaining.value)
            remaining.value -= take
        if take == 0:
            return
        owed = round(requests_per_batch * take / BATCH)
        while owed:
            try:
                executor.execute_batch([statement])
                owed -= 1
                with lock:
                    stats[0] += 1
            except ThrottledError as exc:  # the batch snoozes: its messages come back after retry_after
                with lock:
                    stats[1] += 1
                    stats[2] += 1 if "blocked" in str(exc) or "rate limited" in str(exc) else 0
                clock.sleep(exc.retry_after or 1)
        with lock:
            done.value += take


def run(jobs: int, workers: int, scale: float, requests_per_batch: int, tmp: Path) -> dict[str, Any]:
    """Drive ``jobs`` jobs through ``workers`` processes; return the figures."""
    import boto3

    from leadeval.adapters.jobstore.sql import Statement
    from leadeval.errors import ThrottledError
    from leadeval_tools.fakes.d1 import FakeD1

    # moto in a process of its own (its CPU is not this process's, which serves D1)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    moto = subprocess.Popen([sys.executable, "-c", "from moto.server import main; main()", "-H", "127.0.0.1",
                             "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ddb_url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    boto3.client("dynamodb", endpoint_url=ddb_url, region_name="us-east-1", aws_access_key_id="x",
                 aws_secret_access_key="x").create_table(
        TableName=TABLE, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    origin = time.time() + 3600.0  # the scaled clocks start when the workers do (set again below)
    clock = ScaledClock(origin, scale)
    enforcer = Enforcer(clock)
    fake = FakeD1(tmp / "d1.sqlite", account_id=ACCOUNT, database_id=DATABASE, api_token=TOKEN)
    server = serve_d1(fake, enforcer)
    d1_url = f"http://127.0.0.1:{server.server_address[1]}"
    ctx = mp.get_context("spawn")
    remaining, done = ctx.Value("i", jobs, lock=False), ctx.Value("i", 0, lock=False)
    stats, lock = ctx.Array("i", 3, lock=False), ctx.Lock()  # requests sent, snoozes, snoozes for a block
    stop = threading.Event()
    sweeps = [0, 0]

    def sweep() -> None:  # one request a minute through the same bucket
        executor = _executor(d1_url, _bucket(ddb_url, clock))
        while not stop.is_set():
            try:
                executor.execute_batch([Statement(name="sweep", sql="SELECT 1 AS n")])
                sweeps[0] += 1
            except ThrottledError:
                sweeps[1] += 1
            clock.sleep(60)

    ready, go = ctx.Semaphore(0), ctx.Event()
    shared_origin = ctx.Value("d", 0.0, lock=False)
    procs = [ctx.Process(target=worker_main, args=(d1_url, ddb_url, shared_origin, scale, requests_per_batch,
                                                   remaining, done, stats, lock, ready, go)) for _ in range(workers)]
    for p in procs:
        p.start()
    for _ in procs:  # every worker has imported and built its clients: the run starts now
        ready.acquire()
    started, cpu0 = time.time(), time.process_time()
    clock.origin = shared_origin.value = started
    go.set()
    sweeper = threading.Thread(target=sweep, daemon=True)
    sweeper.start()
    for p in procs:
        p.join()
    stop.set()
    real = time.time() - started
    scaled = real * scale
    server.shutdown()
    fake.close()
    moto.terminate()
    moto.wait()
    return {"jobs": done.value, "workers": workers, "scale": scale, "requests_per_job": requests_per_batch / BATCH,
            "worker_requests": stats[0], "sweep_requests": sweeps[0], "snoozes": stats[1],
            "snoozes_blocked": stats[2], "blocks": enforcer.blocks, "rejected": enforcer.rejected,
            "admitted": enforcer.requests, "max_in_window": enforcer.max_in_window, "real_s": real,
            "scaled_s": scaled, "jobs_per_s": done.value / scaled, "requests_per_s": enforcer.requests / scaled,
            "parent_cpu_s": time.process_time() - cpu0}


def render(r: dict[str, Any], command: str) -> str:
    """The markdown section for ``r``."""
    budget = 4.0
    needed = budget / 8.0
    lines = [START, "## Requests per Cloudflare token: several workers, one shared budget (issue 14, item 2)", "",
             f"Produced by `{command}` on {r['machine']} ({r['date']}): {r['jobs']:,} jobs, {r['workers']} worker "
             f"processes and the sweep sharing the DynamoDB token bucket (moto server; 60 burst, 3.6/s), the D1 "
             f"fake behind an enforcer of 1,200 requests per 5 minutes per token with the 5-minute block; each "
             f"batch of 10 jobs sends {r['requests_per_job'] * BATCH:.0f} D1 requests ({r['requests_per_job']:.2f} "
             "per job: the worker's requests per job at batch 10 measured by `bench_budget.py --only d1`, rounded "
             "up to whole requests per batch). Clock scaled × {r['scale']:g} (see the script's "
             f"docstring): {r['scaled_s']:,.0f} scaled seconds took {r['real_s']:,.0f} real seconds. Rates are "
             "per scaled second, i.e. as in real time.", "",
             "| figure | value |", "| --- | --- |",
             f"| blocks triggered (requests over 1,200 in 5 minutes) | **{r['blocks']}** |",
             f"| requests refused by the enforcer | {r['rejected']} |",
             f"| most requests in any 5-minute window | {r['max_in_window']:,} (limit 1,200) |",
             f"| D1 requests: workers / sweep | {r['worker_requests']:,} / {r['sweep_requests']} |",
             f"| snoozed batches (no token within 10 s) | {r['snoozes']:,} |",
             f"| requests per second on the token | {r['requests_per_s']:.2f} (bucket 3.6/s, API 4/s) |",
             f"| **jobs per second per token** | **{r['jobs_per_s']:.2f}** |",
             f"| what the bucket lets through over this run (3.6/s plus the 60 burst) ÷ requests per job | "
             f"{(3.6 + 60 / r['scaled_s']) / r['requests_per_job']:.2f} jobs/s |", "",
             f"The workers used {100 * r['requests_per_s'] / (3.6 + 60 / r['scaled_s']):.0f} % of what the bucket "
             "lets through over the run (its 3.6/s plus the 60-token burst): below 100 % the run was bound by "
             "this machine's CPU (moto, the HTTP fake and the workers on 2 shared cores), not by the budget.", "",
             f"Issue 14's goal of 8 jobs/s per token {'holds' if r['jobs_per_s'] >= 8 else 'does not hold'} "
             f"here: at {r['requests_per_job']:.2f} requests per job the API's 4 requests/s allow at most "
             f"{budget / r['requests_per_job']:.2f} jobs/s (the bucket's 3.6/s, which leaves room for operators, "
             f"{3.6 / r['requests_per_job']:.2f}); 8 jobs/s needs at most **{needed:.2f} requests per job** "
             f"({3.6 / 8:.2f} with the bucket's rate). However many workers draw on it, the shared bucket keeps the "
             "token under the limit, and the workers run at the budget's rate instead of triggering the 5-minute "
             "block.", "", END]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=4, help="concurrent worker processes")
    parser.add_argument("--scale", type=float, default=5.0, help="scaled seconds per real second")
    parser.add_argument("--requests-per-batch", type=int, default=3,
                        help="D1 requests per batch of 10 jobs (3: the worker's measured 0.28 per job, rounded up)")
    parser.add_argument("--no-limiter", action="store_true",
                        help="control run: no shared bucket (the enforcer must then count blocks); not written")
    add_no_write(parser)
    add_json_out(parser)
    args = parser.parse_args(argv)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    if args.no_limiter:
        os.environ["LEADEVAL_BENCH_NO_LIMITER"] = "1"  # inherited by the spawned workers
        args.no_write = True
    import logging

    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="leadeval-throughput-") as tmp:
        result = run(args.jobs, args.workers, args.scale, args.requests_per_batch, Path(tmp))
    result.update(machine=machine(" (shared)"), date=time.strftime("%Y-%m-%d"))
    section = render(result, command_line("bench_throughput.py", argv))
    print(section)
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=2), "utf-8")
    if not args.no_write:
        write_section(section, "throughput")
        print(f"[bench_throughput] written to {DOC.relative_to(REPO)}", file=sys.stderr)
    return 0 if (result["blocks"] == 0) != args.no_limiter else 1


if __name__ == "__main__":
    sys.exit(main())
