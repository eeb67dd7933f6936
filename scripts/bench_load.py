"""Load and concurrency proof: PostgreSQL job store + moto SQS + real OS processes.

What runs (issue "PostgreSQL job store and a load proof"):

- a fresh PostgreSQL database (``CREATE DATABASE leadeval_load_<hex>`` on ``--postgres-url``, migrated
  by :class:`PostgresJobStore`, dropped at the end unless ``--keep``);
- moto's SQS in server mode (``ThreadedMotoServer`` on 127.0.0.1, port 0) in a process of its own, with
  the jobs queue (VisibilityTimeout ``--visibility-timeout``) and its DLQ (redrive policy,
  ``maxReceiveCount`` 10, above the 5 attempts);
- ``--jobs`` pending jobs across ``--sites`` sites, one lead and one small text PDF per job (five PDFs,
  reused, in a :class:`LocalDocumentStore` folder), a usage row per site and month;
- ``--workers`` worker processes and ``--sweeps`` sweep processes (``multiprocessing`` spawn), started
  together. A worker loops ReceiveMessage (≤ 10) → :func:`leadeval_tools.local.sqs_event` →
  :func:`leadeval.handlers.handle_worker` with its own :class:`~leadeval.wiring.Wiring` → DeleteMessageBatch of the
  records not reported in ``batchItemFailures`` (what the Lambda event source mapping does). A sweep
  loops :func:`leadeval.handlers.handle_sweep` every ``--sweep-interval`` seconds; the backlog limit
  (``LEADEVAL_SWEEP_BACKLOG_LIMIT``, ``--backlog-limit``) keeps moto's queue shallow;
- the vision model is :class:`BenchVisionModel` (``--model-latency-ms`` per call; a share
  ``--fault-rate`` of calls raise ``ModelUnavailableError``, as an AI 5xx) and document reads go through
  :class:`FaultyDocumentStore` (the same share raise ``StorageError``, as an R2 5xx);
- ``--kill-worker``: once half the jobs are terminal, worker 0 is killed with SIGKILL while it holds a
  received batch, preferably just after it started an AI call (read from its event file), and a new
  worker process takes its place.

Every child process appends JSON lines to its own file in the run folder (``events/<name>.jsonl``,
written with one ``os.write`` per line, so a SIGKILL loses nothing already recorded): each AI call with
its job id (recorded when the call starts), each injected fault, each sweep tick with the job ids it
claimed, its duration, SQL batches/statements and SQS calls, and each worker batch with its
``store.claim`` latencies, peak RSS and SQS/SQL counters.

After the run (every job terminal) the orchestrator checks the invariants against the database, the DLQ
and the event files, then, with nothing else running, measures the floor: the same messages sent with
SendMessageBatch into fresh queues pre-filled to the depth each sampled sweep saw (``--floor-samples``),
and one isolated sweep of ``--isolated-sweep-jobs`` due jobs (default 1,000) against a plain
SendMessageBatch of the same messages. The result is a JSON summary on stdout (``ok`` is False when an
invariant failed; the exit status is then 1) and a markdown table; progress goes to stderr.

Usage::

    .venv/bin/python scripts/bench_load.py --jobs 300 --sites 5 --workers 2 --sweeps 2 \\
        --fault-rate 0.1 --kill-worker --model-latency-ms 20
    .venv/bin/python scripts/bench_load.py --proof     # what `make bench` runs (scripts/bench.py): the
                                                       # issue's two 10,000-job runs, written into the
                                                       # load-proof section of docs/benchmarks.md

Timings settings (defaults) follow the template's rules scaled down: worker timeout T = 6 s,
``LEADEVAL_LEASE_SECONDS`` = 10 (> T), VisibilityTimeout = 15 s (> the latest record start T − budget
plus the lease, so a crashed attempt's redelivered message finds the lease expired),
``LEADEVAL_JOB_BUDGET_SECONDS`` = 2, retry backoff 1–2 s, ``LEADEVAL_RESCUE_AFTER_SECONDS`` = 60 (its
minimum). Powertools Idempotency records go to one SQLite file in the run folder shared by the workers
(:class:`~leadeval.adapters.idempotency.SqlitePersistenceLayer`; DynamoDB in AWS).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing as mp
import os
import platform
import random
import shutil
import sys
import tempfile
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
for _path in (REPO_ROOT / "scripts", REPO_ROOT / "layers" / "leadeval", REPO_ROOT):  # scripts/: benchlib
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from benchlib import DOC, markers, write_section  # noqa: E402

DEFAULT_POSTGRES_URL = os.environ.get("LEADEVAL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REGION = "us-east-1"
TERMINAL = ("completed", "failed", "cancelled")

#: The five applicants whose pay stubs are the shared PDFs (lead i uses PDF i % 5 and its name).
PEOPLE = [("Dana", "Whitfield", "Acme Logistics"), ("Luis", "Ortega", "Harbor Freight Lines"),
          ("Mei", "Tanaka", "Northside Clinic"), ("Ama", "Mensah", "City Transit"),
          ("Noor", "Haddad", "Blue Ridge Foods")]
GROSS, NET = Decimal("5000.00"), Decimal("3317.50")


@dataclass
class BenchConfig:
    """One load run. Sizes, fault injection and the (scaled-down) timing settings; see the module doc."""

    jobs: int = 300
    sites: int = 5
    workers: int = 2
    sweeps: int = 2
    fault_rate: float = 0.0
    kill_worker: bool = False
    model_latency_ms: float = 20.0
    postgres_url: str = DEFAULT_POSTGRES_URL
    batch_size: int = 10
    worker_timeout_seconds: float = 6.0
    lease_seconds: int = 10
    visibility_timeout: int = 15
    job_budget_seconds: int = 2
    retry_base_seconds: int = 1
    retry_cap_seconds: int = 2
    rescue_after_seconds: int = 60
    max_attempts: int = 5
    max_receive_count: int = 10
    backlog_limit: int = 200
    sweep_limit: int = 1000
    sweep_interval: float = 0.25
    floor_samples: int = 20
    profile: bool = False
    isolated_sweep_jobs: int = 1000
    seed: int = 1
    timeout_seconds: float = 1800.0
    log_level: str = "INFO"
    keep: bool = False


# =========================================================================== child-side pieces


class EventLog:
    """Append-only JSON lines, one ``os.write`` per line (O_APPEND), so a killed process loses nothing
    it recorded. Thread-safe for lines under PIPE_BUF in practice (document fetches run in threads)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, record: dict[str, Any]) -> None:
        """Append one record."""
        os.write(self.fd, (json.dumps(record, separators=(",", ":")) + "\n").encode())


def job_of_document(document_id: str) -> str:
    """``doc_000123`` → ``job_000123`` (one document per job in this bench)."""
    return "job_" + document_id.rsplit("_", 1)[1]


def variant_of_document(document_id: str) -> int:
    """Which of the shared PDFs (and applicants) a document is: index % len(PEOPLE)."""
    return int(document_id.rsplit("_", 1)[1]) % len(PEOPLE)


def pay_stub_facts(variant: int, today: date) -> Any:
    """The facts the fake model "reads" from PDF ``variant``: a clean semimonthly pay stub."""
    from leadeval.models import DocumentKind, ExtractedFacts

    first, last, employer = PEOPLE[variant]
    pay_date = today - timedelta(days=9)
    return ExtractedFacts(document_kind=DocumentKind.PAY_STUB, names_shown=[f"{first} {last}"], employer=employer,
                          pay_period_start=pay_date - timedelta(days=19), pay_period_end=pay_date - timedelta(days=5),
                          pay_date=pay_date, pay_frequency="semimonthly", gross_pay=GROSS, net_pay=NET,
                          total_deductions=GROSS - NET, ytd_gross=GROSS * 22)


class BenchVisionModel:
    """A :class:`~leadeval.ports.VisionModel` with a fixed latency and an injected failure rate.

    Each call is recorded in ``events`` (``{"k": "ai", "job": id, "fault": 0|1}``) *before* the latency,
    so a call cut short by a kill still counts. A faulted call sleeps the same latency, then raises
    :class:`~leadeval.errors.ModelUnavailableError` (what the adapters raise for an AI 5xx).

    Args:
        latency_s: seconds per call (``time.sleep``: the worker waits on the model, as on a real API).
        fault_rate: probability (0..1) that a call fails.
        rng: the random source (seeded per process).
        events: where calls are recorded.
    """

    name = "bench-fake"

    def __init__(self, *, latency_s: float, fault_rate: float, rng: random.Random, events: EventLog) -> None:
        self.latency_s = latency_s
        self.fault_rate = fault_rate
        self.rng = rng
        self.events = events

    def extract(self, document: Any) -> Any:
        """Facts of the pay stub ``document`` is, or ModelUnavailableError (injected)."""
        from leadeval.errors import ModelUnavailableError
        from leadeval.models import Extraction, ModelUsage

        fault = self.rng.random() < self.fault_rate
        self.events.write({"k": "ai", "job": job_of_document(document.document_id), "fault": int(fault)})
        time.sleep(self.latency_s)
        if fault:
            raise ModelUnavailableError("injected: AI answered 503")
        facts = pay_stub_facts(variant_of_document(document.document_id), datetime.now(UTC).date())
        return Extraction(facts=facts, model=self.name, model_version="bench-1",
                          usage=ModelUsage(prompt_tokens=900, completion_tokens=120))


class FaultyDocumentStore:
    """Wraps a :class:`~leadeval.ports.DocumentStore`; a share ``fault_rate`` of ``get`` calls raise
    :class:`~leadeval.errors.StorageError` (what the R2 adapter raises for a 5xx), recorded in ``events``."""

    def __init__(self, inner: Any, *, fault_rate: float, rng: random.Random, events: EventLog) -> None:
        self.inner = inner
        self.fault_rate = fault_rate
        self.rng = rng
        self.events = events

    def get(self, key: str, *, max_bytes: int) -> bytes:
        """The inner store's bytes, or an injected StorageError."""
        from leadeval.errors import StorageError

        if self.fault_rate and self.rng.random() < self.fault_rate:
            self.events.write({"k": "storage_fault"})
            raise StorageError("injected: storage answered 503")
        return self.inner.get(key, max_bytes=max_bytes)

    def put(self, key: str, data: bytes, *, content_type: str | None = None) -> None:
        """Delegates to the inner store."""
        self.inner.put(key, data, content_type=content_type)


def _bench_store_class() -> type:
    """:class:`PostgresJobStore` that counts SQL statements and times ``claim`` / ``sweep`` (built lazily:
    nothing is imported at module import)."""
    from leadeval.adapters.jobstore.postgres import PostgresExecutor, PostgresJobStore

    class CountingPostgresExecutor(PostgresExecutor):
        """PostgresExecutor plus ``statements`` (statements run; ``batches`` counts round-trip batches)."""

        def __init__(self, dsn: str) -> None:
            super().__init__(dsn, application_name="leadeval-bench")
            self.statements = 0

        def execute_batch(self, statements: Sequence[Any]) -> list[list[dict[str, Any]]]:
            self.statements += len(statements)
            return super().execute_batch(statements)

    class BenchJobStore(PostgresJobStore):
        """Records ``claim`` latencies (ms) and the ids each ``sweep`` claimed."""

        def __init__(self, dsn: str) -> None:
            super().__init__(dsn)
            self.executor = CountingPostgresExecutor(dsn)
            self.claim_ms: list[float] = []
            self.last_sweep: dict[str, Any] = {}

        def claim(self, message: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            result = super().claim(message, **kwargs)
            self.claim_ms.append(round((time.perf_counter() - started) * 1000, 3))
            return result

        def sweep(self, **kwargs: Any) -> Any:
            started = time.perf_counter()
            outcome = super().sweep(**kwargs)
            self.last_sweep = {"ids": [j.id for j in outcome.claimed],
                               "store_ms": round((time.perf_counter() - started) * 1000, 3),
                               "rescued": outcome.rescued_to_pending + outcome.rescued_to_failed}
            return outcome

    return BenchJobStore


def counting_sqs_client(queue_url: str) -> tuple[Any, Counter[str]]:
    """An SQS client for ``queue_url`` (the adapter's :func:`sqs_client_for`) and a Counter of its API
    calls by operation name (botocore ``before-call`` event: one per API call, not per HTTP retry)."""
    from leadeval.adapters.queue.sqs import sqs_client_for

    client = sqs_client_for(queue_url)
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    client.meta.events.register("before-call.sqs", count)
    return client, calls


def _peak_rss_kb() -> int:
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux


def _child_setup(spec: dict[str, Any]) -> tuple[Any, EventLog, random.Random, Counter[str]]:
    """Common child start: logs to a file, environment, services with the bench's ports."""
    run_dir = Path(spec["run_dir"])
    log = os.open(run_dir / "logs" / f"{spec['name']}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.environ.update(spec["env"])
    warnings.simplefilter("ignore")  # Powertools warns on empty metric flushes
    events = EventLog(run_dir / "events" / f"{spec['name']}.jsonl")
    rng = random.Random(f"{spec['seed']}:{spec['name']}")

    from leadeval.adapters.idempotency import SqlitePersistenceLayer
    from leadeval.adapters.queue.sqs import SqsJobQueue
    from leadeval.adapters.storage.local import LocalDocumentStore
    from leadeval.config import Settings
    from leadeval.wiring import Wiring

    settings = Settings.from_env(spec["env"])
    client, calls = counting_sqs_client(spec["queue_url"])
    store = _bench_store_class()(spec["dsn"])
    documents = FaultyDocumentStore(LocalDocumentStore(run_dir / "docs"), fault_rate=spec["fault_rate"],
                                    rng=rng, events=events)
    model = BenchVisionModel(latency_s=spec["model_latency_ms"] / 1000, fault_rate=spec["fault_rate"], rng=rng,
                             events=events)
    services = Wiring(settings, store=store, documents=documents, model=model,
                              queue=SqsJobQueue(spec["queue_url"], spec["dlq_url"], client=client),
                              idempotency_store=SqlitePersistenceLayer(run_dir / "idempotency.db"))
    # Warm up what every first job would otherwise load (imports, the connection): the clock starts after.
    import leadeval.handlers
    import leadeval.screening.documents
    import leadeval.screening.fraud
    import leadeval.screening.scoring  # noqa: F401

    store.get_job("warm-up")
    services.queue.depth()
    if spec["name"].startswith("worker"):  # a warm Lambda container has loaded pypdf & co.
        services.process_context().prepare("warm-up", (run_dir / "docs" / "pdf" / "stub_0.pdf").read_bytes())
    calls.clear()
    return services, events, rng, calls


def worker_main(spec: dict[str, Any]) -> None:
    """A worker process: receive ≤ ``batch_size`` → Lambda SQS event → ``handle_worker`` → delete the
    records not reported failed; until ``stop`` is set. One ``batch`` event line per batch."""
    services, events, _, calls = _child_setup(spec)
    from leadeval.handlers import handle_worker
    from leadeval.observability import metrics
    from leadeval_tools.local import FakeLambdaContext, invoke_worker, sqs_event

    store, client = services.store, services.queue.client
    events.write({"k": "ready", "pid": os.getpid()})
    spec["go"].wait()
    profiler = _start_profile(spec)
    while not spec["stop"].is_set():
        try:
            response = client.receive_message(QueueUrl=spec["queue_url"], MaxNumberOfMessages=spec["batch_size"],
                                              WaitTimeSeconds=1, AttributeNames=["All"],
                                              MessageAttributeNames=["All"])
        except Exception as exc:  # moto busy or restarting: try again
            events.write({"k": "error", "where": "receive", "error": type(exc).__name__})
            time.sleep(0.2)
            continue
        messages = response.get("Messages", [])
        if not messages:
            continue
        events.write({"k": "recv", "n": len(messages)})
        started = time.perf_counter()
        context = FakeLambdaContext(timeout_seconds=spec["worker_timeout_seconds"])
        result = invoke_worker(lambda event, ctx: handle_worker(event, ctx, services),
                               sqs_event(messages, spec["queue_arn"]), context)
        metrics.flush_metrics()
        failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            client.delete_message_batch(QueueUrl=spec["queue_url"], Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)])
        events.write({"k": "batch", "n": len(messages), "failed": len(failed),
                      "ms": round((time.perf_counter() - started) * 1000, 3), "claims": store.claim_ms,
                      "rss_kb": _peak_rss_kb(), "db_batches": store.executor.batches,
                      "db_statements": store.executor.statements, "sqs": dict(calls)})
        store.claim_ms = []
    events.write({"k": "exit", "rss_kb": _peak_rss_kb()})
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(Path(spec["run_dir"]) / f"{spec['name']}.prof")
    services.close()


def _start_profile(spec: dict[str, Any]) -> Any:
    """A running cProfile.Profile when ``spec["profile"]`` (``--profile``), else None."""
    if not spec.get("profile"):
        return None
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    return profiler


def sweep_main(spec: dict[str, Any]) -> None:
    """A sweep process: ``handle_sweep`` every ``sweep_interval`` seconds until ``stop`` is set; one
    ``sweep`` event line per tick with the ids it claimed and what it cost."""
    services, events, _, calls = _child_setup(spec)
    from leadeval.errors import LeadevalError
    from leadeval.handlers import handle_sweep
    from leadeval.observability import metrics
    from leadeval_tools.local import FakeLambdaContext, scheduled_event

    store = services.store
    events.write({"k": "ready", "pid": os.getpid()})
    spec["go"].wait()
    while not spec["stop"].is_set():
        batches, statements, before = store.executor.batches, store.executor.statements, Counter(calls)
        store.last_sweep = {}
        started = time.perf_counter()
        try:
            result = handle_sweep(scheduled_event(), FakeLambdaContext(timeout_seconds=60), services)
        except LeadevalError as exc:
            events.write({"k": "error", "where": "sweep", "error": exc.code})
            spec["stop"].wait(spec["sweep_interval"])
            continue
        elapsed = (time.perf_counter() - started) * 1000
        metrics.flush_metrics()
        sqs = dict(Counter(calls) - before)
        events.write({"k": "sweep", "ms": round(elapsed, 3), "store_ms": store.last_sweep.get("store_ms"),
                      "ids": store.last_sweep.get("ids", []), "claimed": result["claimed"], "sent": result["sent"],
                      "released": result["released"], "backlog": result["backlog"],
                      "rescued": store.last_sweep.get("rescued", 0), "send_calls": result["sqs_calls"],
                      "db_batches": store.executor.batches - batches,
                      "db_statements": store.executor.statements - statements, "sqs": sqs})
        spec["stop"].wait(spec["sweep_interval"])
    events.write({"k": "exit", "rss_kb": _peak_rss_kb()})
    services.close()


def moto_main(conn: Any, stop: Any, log_path: str) -> None:
    """moto's server mode on 127.0.0.1 (port 0) in this process; sends ``(host, port)`` on ``conn``.
    Its output (tracebacks of requests it failed) goes to ``log_path``."""
    import logging

    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    conn.send(server.get_host_and_port())
    stop.wait()
    server.stop()


# =========================================================================== orchestrator


def _pdf_for(variant: int, today: date) -> bytes:
    from tests.helpers import text_pdf

    first, last, employer = PEOPLE[variant]
    pay_date = today - timedelta(days=9)
    return text_pdf([f"{employer} - Earnings Statement", f"Employee: {first} {last}",
                     f"Pay date: {pay_date:%m/%d/%Y}  Frequency: semimonthly",
                     f"Gross pay: {GROSS:,.2f}", f"Total deductions: {GROSS - NET:,.2f}", f"Net pay: {NET:,.2f}",
                     f"YTD gross: {GROSS * 22:,.2f}"])


def _create_database(admin_url: str) -> tuple[str, str]:
    """Create a fresh database; return ``(dsn, name)``."""
    import psycopg

    name = f"leadeval_load_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}", name


def _drop_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Plan:
    """The seeded rows: job index → ids."""

    jobs: int
    sites: int
    prefix: str = ""
    first_index: int = 0

    def job_id(self, i: int) -> str:
        return f"job_{self.prefix}{i:06d}"

    def site_id(self, i: int) -> str:
        return f"site_{self.prefix}{i % self.sites:03d}"

    def indexes(self) -> range:
        return range(self.first_index, self.first_index + self.jobs)


def seed(dsn: str, plan: Plan, docs_dir: Path, *, now: datetime, max_attempts: int) -> None:
    """Insert leads, documents, usage rows and pending jobs with the store's own insert queries
    (psycopg ``executemany``, pipelined), and write the five shared PDFs into ``docs_dir``."""
    import psycopg

    from leadeval.adapters.jobstore.postgres import to_psycopg_params
    from leadeval.adapters.jobstore.sql import load_queries
    from leadeval.timeutil import format_ts, usage_month

    docs_dir.mkdir(parents=True, exist_ok=True)
    sizes = {}
    for v in range(len(PEOPLE)):
        data = _pdf_for(v, now.date())
        (docs_dir / "pdf").mkdir(exist_ok=True)
        (docs_dir / "pdf" / f"stub_{v}.pdf").write_bytes(data)
        sizes[v] = len(data)
    q = {name: to_psycopg_params(sql) for name, sql in load_queries("postgresql").items()}
    ts = format_ts(now)
    base = now - timedelta(hours=1)
    leads, docs, jobs, months = [], [], [], set()
    for i in plan.indexes():
        v = i % len(PEOPLE)
        first, last, _ = PEOPLE[v]
        site, suffix = plan.site_id(i), f"{plan.prefix}{i:06d}"
        requested = base + timedelta(milliseconds=10 * (i - plan.first_index))
        months.add(usage_month(requested))
        leads.append({"id": f"lead_{suffix}", "site_id": site, "first_name": first, "last_name": last,
                      "email": None, "phone": None, "monthly_rent": 1850.0, "voucher_cents": 0,
                      "move_in_date": None, "status": "new", "now": ts})
        docs.append({"id": f"doc_{suffix}", "lead_id": f"lead_{suffix}", "document_type": "pay_stub",
                     "mime_type": "application/pdf", "storage_key": f"pdf/stub_{v}.pdf", "uploaded_at": ts,
                     "deleted_at": None})
        jobs.append({"id": plan.job_id(i), "site_id": site, "lead_id": f"lead_{suffix}", "requested_by": "bench",
                     "requested_at": format_ts(requested), "model_version": None, "max_retries": max_attempts,
                     "now": ts})
    usage = [{"site_id": f"site_{plan.prefix}{s:03d}", "month": m, "evaluation_count": plan.jobs // plan.sites + 1,
              "quota_limit": 100_000} for s in range(plan.sites) for m in sorted(months)]
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.executemany(q["insert_lead"], leads)
        cur.executemany(q["insert_document"], docs)
        cur.executemany(q["insert_usage"], usage)
        cur.executemany(q["insert_job"], jobs)


def _read_events(path: Path) -> list[dict[str, Any]]:
    out = []
    if path.exists():
        for line in path.read_text().splitlines():
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
    return out


def _tail_events(path: Path, nbytes: int = 16384) -> list[dict[str, Any]]:
    """The complete JSON lines among the last ``nbytes`` of an event file."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - nbytes))
            lines = handle.read().decode(errors="replace").split("\n")
    except FileNotFoundError:
        return []
    if size > nbytes:
        lines = lines[1:]  # the first may be cut
    out = []
    for line in lines:
        with contextlib.suppress(ValueError):
            out.append(json.loads(line))
    return out


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile ``q`` (0..100) of ``values`` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def _entries(messages: Sequence[Any]) -> list[dict[str, Any]]:
    """SendMessageBatch entries exactly as :meth:`SqsJobQueue.send` builds them."""
    return [{"Id": str(i), "MessageBody": m.model_dump_json(),
             "MessageAttributes": {"job_id": {"DataType": "String", "StringValue": m.job_id},
                                   "generation": {"DataType": "Number", "StringValue": str(m.generation)}}}
            for i, m in enumerate(messages)]


def send_floor(sqs: Any, name: str, messages: Sequence[Any], *, prefill: int) -> float:
    """Seconds to send ``messages`` with SendMessageBatch (10 a call) into a fresh queue already holding
    ``prefill`` messages (the depth the sweep saw; the pre-fill is not timed). The queue is deleted."""
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "15"})["QueueUrl"]
    try:
        filler = list(messages[:1]) * 10 if messages else []
        for start in range(0, prefill, 10):
            sqs.send_message_batch(QueueUrl=url, Entries=_entries(filler[: min(10, prefill - start)]))
        started = time.perf_counter()
        for start in range(0, len(messages), 10):
            sqs.send_message_batch(QueueUrl=url, Entries=_entries(messages[start:start + 10]))
        return time.perf_counter() - started
    finally:
        sqs.delete_queue(QueueUrl=url)


#: Worker log messages worth counting: duplicates acked, lost visibility changes, in-progress bounces.
LOG_EVENTS = {
    "skipped_in_flight": "Skipping message: in_flight",
    "skipped_terminal": "Skipping message: terminal",
    "result_not_saved_lease_lost": "Result not saved: the job was taken over meanwhile",
    "visibility_unchanged_not_in_flight": "message no longer in flight; visibility unchanged",
    "idempotency_in_progress": "the same job generation is being processed by another invocation",
    "deadline_deferred": "not enough time left to start this record",
}


class Orchestrator:
    """Runs one :class:`BenchConfig`; see :func:`run`."""

    def __init__(self, config: BenchConfig) -> None:
        self.c = config
        self.ctx = mp.get_context("spawn")
        self.run_dir = Path(tempfile.mkdtemp(prefix="leadeval-load-"))
        for sub in ("logs", "events", "docs"):
            (self.run_dir / sub).mkdir()
        self.procs: dict[str, Any] = {}
        self.moto: Any = None
        self.moto_stop: Any = None
        self.db_name: str | None = None
        self.dsn = ""
        self.progress: list[tuple[float, int]] = []

    def log(self, text: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)

    # ------------------------------------------------------------------ setup
    def start_moto(self) -> str:
        parent, child = self.ctx.Pipe()
        self.moto_stop = self.ctx.Event()
        self.moto = self.ctx.Process(target=moto_main, name="moto", daemon=True,
                                     args=(child, self.moto_stop, str(self.run_dir / "logs" / "moto.log")))
        self.moto.start()
        if not parent.poll(60):
            raise RuntimeError("moto server did not start within 60 s")
        host, port = parent.recv()
        return f"http://{host}:{port}"

    def env(self, endpoint: str) -> dict[str, str]:
        c = self.c
        return {
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": endpoint, "POWERTOOLS_SERVICE_NAME": "leadeval",
            "POWERTOOLS_METRICS_NAMESPACE": "Leadeval", "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": c.log_level, "LEADEVAL_DATABASE_URL": self.dsn,
            "LEADEVAL_DOCUMENTS_URL": f"file://{self.run_dir / 'docs'}", "LEADEVAL_MODEL_URL": "offline:",
            "LEADEVAL_QUEUE_URL": self.queue_url, "LEADEVAL_DLQ_URL": self.dlq_url,
            "LEADEVAL_SWEEP_LIMIT": str(c.sweep_limit), "LEADEVAL_SWEEP_BACKLOG_LIMIT": str(c.backlog_limit),
            "LEADEVAL_LEASE_SECONDS": str(c.lease_seconds), "LEADEVAL_JOB_BUDGET_SECONDS": str(c.job_budget_seconds),
            "LEADEVAL_RETRY_BASE_SECONDS": str(c.retry_base_seconds),
            "LEADEVAL_RETRY_CAP_SECONDS": str(c.retry_cap_seconds),
            "LEADEVAL_RESCUE_AFTER_SECONDS": str(c.rescue_after_seconds),
            "LEADEVAL_MAX_ATTEMPTS": str(c.max_attempts),
        }

    def spec(self, name: str, env: dict[str, str]) -> dict[str, Any]:
        c = self.c
        return {"name": name, "run_dir": str(self.run_dir), "env": env, "seed": c.seed, "dsn": self.dsn,
                "queue_url": self.queue_url, "dlq_url": self.dlq_url, "queue_arn": self.queue_arn,
                "fault_rate": c.fault_rate, "model_latency_ms": c.model_latency_ms, "batch_size": c.batch_size,
                "worker_timeout_seconds": c.worker_timeout_seconds, "sweep_interval": c.sweep_interval,
                "profile": c.profile, "go": self.go, "stop": self.stop}

    def start_child(self, name: str, target: Any, env: dict[str, str]) -> None:
        proc = self.ctx.Process(target=target, args=(self.spec(name, env),), name=name)
        proc.start()
        self.procs[name] = proc

    def status_counts(self, conn: Any) -> dict[str, int]:
        rows = conn.execute("SELECT status, count(*) FROM ai_evaluation_jobs WHERE id LIKE 'job\\_0%' "
                            "GROUP BY status").fetchall()
        return {status: n for status, n in rows}

    # ------------------------------------------------------------------ run
    def run(self) -> dict[str, Any]:
        import boto3
        import psycopg

        from leadeval.adapters.jobstore.postgres import PostgresJobStore

        c = self.c
        self.log(f"run folder {self.run_dir}")
        self.dsn, self.db_name = _create_database(c.postgres_url)
        try:
            store = PostgresJobStore(self.dsn)
            from leadeval_tools.appdb import create_application_tables
            create_application_tables(store)
            store.migrate()
            store.close()
            endpoint = self.start_moto()
            self.sqs = boto3.client("sqs", region_name=REGION, endpoint_url=endpoint, aws_access_key_id="testing",
                                    aws_secret_access_key="testing")
            self.dlq_url = self.sqs.create_queue(QueueName="leadeval-jobs-dlq", Attributes={
                "MessageRetentionPeriod": "1209600"})["QueueUrl"]
            dlq_arn = self.sqs.get_queue_attributes(QueueUrl=self.dlq_url, AttributeNames=["QueueArn"])[
                "Attributes"]["QueueArn"]
            self.queue_url = self.sqs.create_queue(QueueName="leadeval-jobs", Attributes={
                "VisibilityTimeout": str(c.visibility_timeout),
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn,
                                             "maxReceiveCount": str(c.max_receive_count)})})["QueueUrl"]
            self.queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
                "Attributes"]["QueueArn"]
            now = datetime.now(UTC)
            plan = Plan(c.jobs, c.sites)
            started = time.perf_counter()
            seed(self.dsn, plan, self.run_dir / "docs", now=now, max_attempts=c.max_attempts)
            self.log(f"seeded {c.jobs} jobs across {c.sites} sites in {time.perf_counter() - started:.1f}s")
            env = self.env(endpoint)
            self.go, self.stop = self.ctx.Event(), self.ctx.Event()
            for i in range(c.sweeps):
                self.start_child(f"sweep-{i}", sweep_main, env)
            for i in range(c.workers):
                self.start_child(f"worker-{i}", worker_main, env)
            self.wait_ready(list(self.procs))
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                elapsed, kill = self.drive(conn, env, plan)
            self.stop.set()
            for proc in self.procs.values():
                proc.join(30)
                if proc.exitcode is None:
                    proc.terminate()
                    proc.join(5)
            result = self.collect(plan, elapsed, kill)
            result["floor"] = self.floor(plan, result.pop("_sweep_ticks"))
            if c.isolated_sweep_jobs:
                result["isolated_sweep"] = self.isolated_sweep(env, now)
            result["checks"]["isolated_sweep_sqs_calls_equal_ceil"] = (
                result["isolated_sweep"]["send_calls_equal_ceil"] if c.isolated_sweep_jobs else None)
            result["ok"] = all(v for v in result["checks"].values() if v is not None)
            if c.keep:  # the caller inspects, then drops the database and removes the folder
                result["kept"] = {"database": self.db_name, "dsn": self.dsn, "run_dir": str(self.run_dir)}
            return result
        finally:
            self.shutdown()

    def wait_ready(self, names: Sequence[str], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        pending = set(names)
        while pending:
            for name in list(pending):
                if any(e.get("k") == "ready" for e in _read_events(self.run_dir / "events" / f"{name}.jsonl")):
                    pending.discard(name)
                elif self.procs[name].exitcode is not None:
                    raise RuntimeError(f"{name} exited during start-up (see {self.run_dir}/logs/{name}.log)")
            if time.monotonic() > deadline:
                raise RuntimeError(f"not ready after {timeout:.0f}s: {sorted(pending)}")
            time.sleep(0.05)

    def drive(self, conn: Any, env: dict[str, str], plan: Plan) -> tuple[float, dict[str, Any] | None]:
        """Start the clock, kill/restart a worker midway if asked, and return when every job is terminal."""
        c = self.c
        self.go.set()
        t0 = time.perf_counter()
        kill: dict[str, Any] | None = None
        last_report = 0.0
        while True:
            counts = self.status_counts(conn)
            terminal = sum(counts.get(s, 0) for s in TERMINAL)
            now = time.perf_counter() - t0
            self.progress.append((round(now, 2), terminal))
            if terminal >= c.jobs:
                return now, kill
            if now - last_report >= 10:
                self.log(f"{now:6.1f}s {terminal}/{c.jobs} terminal {counts}")
                last_report = now
            if now > c.timeout_seconds:
                raise TimeoutError(f"only {terminal}/{c.jobs} jobs terminal after {now:.0f}s: {counts}")
            for name, proc in self.procs.items():
                if proc.exitcode is not None and not (kill and name == kill["victim"]):
                    raise RuntimeError(f"{name} died (exit {proc.exitcode}); see {self.run_dir}/logs/{name}.log")
            if c.kill_worker and kill is None and terminal >= c.jobs // 2:
                kill = self.kill_and_restart(env, t0)
            time.sleep(0.25)

    def kill_and_restart(self, env: dict[str, str], t0: float) -> dict[str, Any]:
        """SIGKILL worker-0 while it holds a received batch, preferably just after it started an AI call
        (the call is then lost with the process and the job's next attempt calls the model again: the
        repeat the design allows: a crash between the AI call and the write), then start ``worker-0r`` in its place."""
        victim = "worker-0"
        path = self.run_dir / "events" / f"{victim}.jsonl"
        deadline = time.monotonic() + 20
        held, mid_batch, in_ai_call = 0, False, False
        while time.monotonic() < deadline:
            events = _tail_events(path)
            since = next((len(events) - 1 - k for k, e in enumerate(reversed(events)) if e.get("k") != "ai"
                          and e.get("k") != "storage_fault"), -1)
            if since >= 0 and events[since].get("k") == "recv":
                held, mid_batch = events[since]["n"], True
                in_ai_call = events[-1].get("k") == "ai"
                if in_ai_call or time.monotonic() > deadline - 10:
                    break
            time.sleep(0.002)
        at = time.perf_counter() - t0
        last = events[-1] if events else {}
        self.procs[victim].kill()
        self.procs[victim].join(10)
        exitcode = self.procs[victim].exitcode
        events = _read_events(path)
        ai_in_batch = 0
        for e in reversed(events):
            if e.get("k") == "recv":
                break
            ai_in_batch += e.get("k") == "ai"
        self.log(f"killed {victim} at {at:.1f}s (exit {exitcode}, mid-batch={mid_batch}, in an AI call={in_ai_call}, "
                 f"holding {held} messages, {ai_in_batch} AI calls made in that batch); restarting")
        self.start_child("worker-0r", worker_main, env)
        self.wait_ready(["worker-0r"])
        return {"victim": victim, "at_s": round(at, 2), "exitcode": exitcode, "mid_batch": mid_batch,
                "in_ai_call": in_ai_call, "held_messages": held, "ai_calls_in_killed_batch": ai_in_batch,
                "ai_call_cut_short": {"job": last.get("job"), "faulted": bool(last.get("fault"))} if in_ai_call
                else None,
                "replacement": "worker-0r"}

    # ------------------------------------------------------------------ results
    def collect(self, plan: Plan, elapsed: float, kill: dict[str, Any] | None) -> dict[str, Any]:
        import psycopg

        c = self.c
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            status = self.status_counts(conn)
            ev_rows, ev_jobs = conn.execute(
                "SELECT count(*), count(DISTINCT x.job_id) FROM lead_ai_evaluations e "
                "JOIN leadeval_evaluations x ON x.evaluation_id = e.id WHERE x.job_id LIKE 'job\\_0%'").fetchone()
            mismatched = conn.execute(
                "SELECT count(*) FROM ai_evaluation_jobs j LEFT JOIN leadeval_evaluations e ON e.job_id = j.id "
                "WHERE j.id LIKE 'job\\_0%' AND ((j.status = 'completed' AND (e.evaluation_id IS NULL OR "
                "j.evaluation_id IS DISTINCT FROM e.evaluation_id)) "
                "OR (j.status <> 'completed' AND e.evaluation_id IS NOT NULL))"
            ).fetchone()[0]
            failed = dict(conn.execute("SELECT coalesce(error_code, '?'), count(*) FROM ai_evaluation_jobs "
                                       "WHERE status = 'failed' GROUP BY 1").fetchall())
            dead = {r[0] for r in conn.execute(
                "SELECT id FROM ai_evaluation_jobs WHERE leadeval_dead_lettered_at IS NOT NULL")}
            completed_ids = {r[0] for r in conn.execute("SELECT id FROM ai_evaluation_jobs WHERE status = 'completed'")}
            # Attempts per job: failed ones (retry_count) plus the one that completed; the fencing claim number
            # counts every claim, so claims > attempts means an attempt was lost (a killed worker, a redrive).
            attempts = conn.execute(
                "SELECT count(*) FILTER (WHERE retry_count > 0), coalesce(sum(retry_count), 0), "
                "count(*) FILTER (WHERE leadeval_claims > retry_count + 1), "
                "max(retry_count + CASE WHEN status = 'completed' THEN 1 ELSE 0 END) FROM ai_evaluation_jobs "
                "WHERE id LIKE 'job\\_0%'").fetchone()
        dlq_ids = self.drain_dlq()

        ticks, workers, ai_calls, ai_ok, faults = [], {}, Counter(), Counter(), Counter()
        claims_ms: list[float] = []
        claimed_by: dict[str, set[str]] = {}
        sqs_calls: Counter[str] = Counter()
        db_batches = db_statements = 0
        for path in sorted((self.run_dir / "events").glob("*.jsonl")):
            name = path.stem
            events = _read_events(path)
            if name.startswith("sweep"):
                mine = [e for e in events if e.get("k") == "sweep"]
                ticks.extend({**e, "process": name} for e in mine)
                claimed_by[name] = {i for e in mine for i in e["ids"]}
                for e in mine:
                    sqs_calls.update(e["sqs"])
                continue
            batches = [e for e in events if e.get("k") == "batch"]
            rss = max([e["rss_kb"] for e in events if "rss_kb" in e] or [0])
            workers[name] = {"batches": len(batches), "records": sum(e["n"] for e in batches),
                             "peak_rss_mb": round(rss / 1024, 1)}
            for e in batches:
                claims_ms.extend(e["claims"])
            if batches:
                sqs_calls.update(batches[-1]["sqs"])
                db_batches += batches[-1]["db_batches"]
                db_statements += batches[-1]["db_statements"]
            for e in events:
                if e.get("k") == "ai":
                    ai_calls[e["job"]] += 1
                    faults["ai"] += e["fault"]
                    if not e["fault"]:
                        ai_ok[e["job"]] += 1
                elif e.get("k") == "storage_fault":
                    faults["storage"] += 1

        all_claims = [i for e in ticks for i in e["ids"]]
        rescued_jobs = self.describe_jobs(sorted(j for j, n in Counter(all_claims).items() if n > 1))
        names = list(claimed_by)
        overlap = set()
        for a in range(len(names)):
            for b in range(a + 1, len(names)):
                overlap |= claimed_by[names[a]] & claimed_by[names[b]]
        claiming = [e for e in ticks if e["claimed"]]
        sweep_ms = sum(e["ms"] for e in claiming)
        claimed_total = sum(e["claimed"] for e in claiming)
        ceil_ok = all(e["send_calls"] == math.ceil(e["claimed"] / 10) and
                      e["sqs"].get("SendMessageBatch", 0) == math.ceil(e["claimed"] / 10) for e in ticks)
        rescued = sum(e["rescued"] for e in ticks)
        per_job = Counter(ai_calls[j] for j in completed_ids)
        repeated_ok = sorted(j for j, n in ai_ok.items() if n > 1)
        terminal = sum(status.get(s, 0) for s in TERMINAL)
        no_fault = c.fault_rate == 0 and not c.kill_worker
        result: dict[str, Any] = {
            "jobs": c.jobs, "elapsed_s": round(elapsed, 2), "jobs_per_s": round(c.jobs / elapsed, 1),
            "status": status, "failed_by_code": failed,
            "evaluations": {"rows": ev_rows, "distinct_jobs": ev_jobs, "mismatched_jobs": mismatched},
            "dead_lettered": len(dead), "dlq_messages": len(dlq_ids),
            "retries": {"jobs_retried": attempts[0], "retries": int(attempts[1]),
                        "jobs_reclaimed_after_a_lost_attempt": attempts[2], "max_attempts_used": attempts[3]},
            "rescued_jobs": rescued_jobs,
            "worker_log_events": self.scan_worker_logs(),
            "faults_injected": dict(faults),
            "ai_calls": {"total": sum(ai_calls.values()), "faulted": faults["ai"],
                         "per_completed_job_mean": round(sum(ai_calls[j] for j in completed_ids)
                                                         / max(1, len(completed_ids)), 4),
                         "completed_jobs_by_calls": {str(k): v for k, v in sorted(per_job.items())},
                         "jobs_with_two_successful_calls": len(repeated_ok),
                         "completed_jobs_without_call": sum(1 for j in completed_ids if not ai_ok[j])},
            "claim_latency_ms": {"count": len(claims_ms), "p50": percentile(claims_ms, 50),
                                 "p99": percentile(claims_ms, 99), "max": max(claims_ms, default=None)},
            "sweeps": {"processes": c.sweeps, "ticks": len(ticks), "claiming_ticks": len(claiming),
                       "claims": len(all_claims), "distinct_jobs_claimed": len(set(all_claims)),
                       "claimed_by_two_sweeps": len(overlap), "rescued": rescued,
                       "mean_claimed_per_claiming_tick": round(claimed_total / max(1, len(claiming)), 1),
                       "mean_backlog_seen": round(sum(e["backlog"] for e in claiming) / max(1, len(claiming)), 1),
                       "ms_per_1000_jobs": round(sweep_ms / max(1, claimed_total) * 1000, 1),
                       "mean_claiming_tick_ms": round(sweep_ms / max(1, len(claiming)), 1),
                       "db_batches_per_tick": sorted({e["db_batches"] for e in ticks}),
                       "db_statements_per_tick": sorted({e["db_statements"] for e in ticks}),
                       "sqs_calls_per_tick": _calls_summary(ticks)},
            "workers": workers,
            "worker_peak_rss_mb": max((w["peak_rss_mb"] for w in workers.values()), default=None),
            "worker_db_batches_per_job": round(db_batches / c.jobs, 2),
            "worker_db_statements_per_job": round(db_statements / c.jobs, 2),
            "sqs_calls": dict(sorted(sqs_calls.items())),
            "kill": kill and {**kill, "ai_calls_of_the_cut_job": ai_calls[(kill["ai_call_cut_short"] or {}).get(
                "job", "")] or None},
            "moto_failed_requests": self.moto_errors(),
            "_sweep_ticks": claiming,
        }
        result["checks"] = {
            "all_terminal": terminal == c.jobs,
            "all_completed": status.get("completed", 0) == c.jobs if no_fault else None,
            "one_evaluation_per_completed_job": (ev_rows == ev_jobs == status.get("completed", 0)
                                                 and mismatched == 0),
            "no_job_claimed_by_two_sweeps": not overlap,
            "every_job_claimed_once": (len(all_claims) == len(set(all_claims)) == c.jobs) if not rescued else None,
            "sqs_calls_equal_ceil": ceil_ok,
            "one_ai_call_per_job": (all(ai_calls[plan.job_id(i)] == 1 for i in plan.indexes())
                                    if no_fault else None),
            "every_completed_job_had_a_successful_call": all(ai_ok[j] >= 1 for j in completed_ids),
            "dlq_holds_exactly_the_dead_lettered_jobs": dlq_ids == dead,
            "failures_are_dead_lettered_retryable_errors": all(code in injected_codes() for code in failed)
            and sum(failed.values()) == len(dead),
        }
        return result

    def describe_jobs(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """Final rows (status, attempts, retries, error) of jobs claimed more than once by the sweeps: they were
        rescued (their message was lost and their lease long expired), and what the workers logged about them
        (message texts and counts, from every worker's log)."""
        import psycopg

        if not ids:
            return []
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            rows = conn.execute("SELECT id, status, leadeval_claims, retry_count, error_code FROM ai_evaluation_jobs "
                                "WHERE id = ANY(%s) ORDER BY id", (list(ids),)).fetchall()
        logs = [p.read_text(errors="replace").splitlines() for p in (self.run_dir / "logs").glob("worker-*.log")]
        out = []
        for job_id, status, attempts, retries, code in rows:
            said: Counter[str] = Counter()
            for lines in logs:
                for line in lines:
                    if f'"job_id":"{job_id}"' in line:
                        with contextlib.suppress(ValueError):
                            said[json.loads(line).get("message", "").replace(f"[{job_id}] ", "")] += 1
            out.append({"job": job_id, "status": status, "attempts": attempts, "retry_count": retries,
                        "error_code": code, "worker_log": dict(said)})
        return out

    def scan_worker_logs(self) -> dict[str, int]:
        """How often each of :data:`LOG_EVENTS` appears in the workers' logs."""
        counts = dict.fromkeys(LOG_EVENTS, 0)
        for path in (self.run_dir / "logs").glob("worker-*.log"):
            text = path.read_text(errors="replace")
            for key, needle in LOG_EVENTS.items():
                counts[key] += text.count(needle)
        return counts

    def moto_errors(self) -> int:
        """Requests moto answered with a 500 (its thread-unsafe SQS backend races under concurrent
        ReceiveMessage: "Set changed size during iteration"); botocore retried them."""
        path = self.run_dir / "logs" / "moto.log"
        return path.read_text(errors="replace").count("Error on request") if path.exists() else 0

    def drain_dlq(self) -> set[str]:
        """Job ids of the messages in the DLQ (received with a long visibility; not deleted)."""
        ids: set[str] = set()
        seen: set[str] = set()
        for _ in range(1000):
            messages = self.sqs.receive_message(QueueUrl=self.dlq_url, MaxNumberOfMessages=10,
                                                VisibilityTimeout=600).get("Messages", [])
            if not messages:
                break
            for m in messages:
                if m["MessageId"] in seen:
                    continue
                seen.add(m["MessageId"])
                with contextlib.suppress(ValueError, AttributeError):
                    ids.add(json.loads(m["Body"]).get("job_id"))
        return ids

    # ------------------------------------------------------------------ floor
    def messages_for(self, ids: Sequence[str]) -> list[Any]:
        from leadeval.models import JobMessage

        out = []
        for job_id in ids:
            i = int(job_id.rsplit("_", 1)[1])
            out.append(JobMessage(job_id=job_id, site_id=f"site_{i % self.c.sites:03d}", lead_id=f"lead_{i:06d}",
                                  generation=1))
        return out

    def floor(self, plan: Plan, claiming: list[dict[str, Any]]) -> dict[str, Any]:
        """Replay up to ``floor_samples`` claiming sweep ticks (evenly spaced) as plain SendMessageBatch
        calls of the same messages into fresh queues pre-filled to the depth that tick saw."""
        n = min(self.c.floor_samples, len(claiming))
        if not n:
            return {}
        picks = [claiming[round(k * (len(claiming) - 1) / max(1, n - 1))] for k in range(n)] if n > 1 else claiming[:1]
        floor_s = 0.0
        for k, tick in enumerate(picks):
            floor_s += send_floor(self.sqs, f"floor-{k}", self.messages_for(tick["ids"]), prefill=tick["backlog"])
        sweep_ms = sum(t["ms"] for t in picks)
        jobs = sum(t["claimed"] for t in picks)
        return {"samples": n, "jobs": jobs, "sweep_ms": round(sweep_ms, 1), "floor_ms": round(floor_s * 1000, 1),
                "sweep_ms_per_tick": round(sweep_ms / n, 1), "floor_ms_per_tick": round(floor_s * 1000 / n, 1),
                "mean_backlog": round(sum(t["backlog"] for t in picks) / n, 1),
                "sweep_ms_per_1000": round(sweep_ms / jobs * 1000, 1),
                "floor_ms_per_1000": round(floor_s * 1000 / jobs * 1000, 1),
                "ratio": round(sweep_ms / (floor_s * 1000), 2)}

    def isolated_sweep(self, env: dict[str, str], now: datetime, *, repeats: int = 2) -> dict[str, Any]:
        """One sweep of ``isolated_sweep_jobs`` due jobs (limit and backlog limit above it) into a fresh queue
        with nothing else running, and the same messages sent by plain SendMessageBatch into another fresh
        queue; alternated ``repeats`` times (the jobs are put back to pending between sweeps). The ratio is
        of the fastest of each (the least disturbed run on a shared machine)."""
        import logging

        import psycopg

        from leadeval.adapters.queue.sqs import SqsJobQueue
        from leadeval.config import Settings
        from leadeval.handlers import handle_sweep
        from leadeval.models import JobMessage
        from leadeval.wiring import Wiring
        from leadeval_tools.local import FakeLambdaContext, scheduled_event

        n = self.c.isolated_sweep_jobs
        plan = Plan(n, 10, prefix="x", first_index=0)
        seed(self.dsn, plan, self.run_dir / "docs", now=now, max_attempts=self.c.max_attempts)
        saved_env, package_logger = dict(os.environ), logging.getLogger("leadeval")
        saved_level = package_logger.level
        package_logger.setLevel(logging.WARNING)  # the orchestrator's stdout carries the JSON summary
        sweeps, floors, messages = [], [], []
        try:
            for k in range(repeats):
                if messages:
                    floors.append(send_floor(self.sqs, f"iso-floor-{k}", messages, prefill=0))
                url = self.sqs.create_queue(QueueName=f"iso-jobs-{k}",
                                            Attributes={"VisibilityTimeout": "15"})["QueueUrl"]
                iso_env = {**env, "LEADEVAL_QUEUE_URL": url, "LEADEVAL_SWEEP_LIMIT": str(n),
                           "LEADEVAL_SWEEP_BACKLOG_LIMIT": str(max(2000, 2 * n))}
                os.environ.update(iso_env)
                try:
                    client, calls = counting_sqs_client(url)
                    store = _bench_store_class()(self.dsn)
                    store.get_job("warm-up")
                    client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
                    calls.clear()
                    services = Wiring(Settings.from_env(iso_env), store=store,
                                              queue=SqsJobQueue(url, client=client))
                    batches, statements = store.executor.batches, store.executor.statements
                    started = time.perf_counter()
                    result = handle_sweep(scheduled_event(), FakeLambdaContext(timeout_seconds=60), services)
                    sweeps.append(time.perf_counter() - started)
                    db_batches = store.executor.batches - batches
                    db_statements = store.executor.statements - statements
                    sqs_calls = dict(calls)
                    ids = store.last_sweep["ids"]
                    store_ms = store.last_sweep["store_ms"]
                    if not messages:
                        jobs = {j.id: j for j in (store.get_job(i) for i in ids)}
                        messages = [JobMessage.for_job(jobs[i]) for i in ids]
                    services.close()
                finally:
                    os.environ.clear()
                    os.environ.update(saved_env)
                    self.sqs.delete_queue(QueueUrl=url)
                with psycopg.connect(self.dsn, autocommit=True) as conn:
                    conn.execute("UPDATE ai_evaluation_jobs SET status = 'pending', leadeval_state = 'pending', "
                                 "leadeval_queued_at = NULL, leadeval_lease_expires_at = NULL "
                                 "WHERE id LIKE 'job\\_x%'")
            floors.append(send_floor(self.sqs, "iso-floor-last", messages, prefill=0))
        finally:
            package_logger.setLevel(saved_level)
        return {"jobs": result["claimed"], "sweep_ms": round(min(sweeps) * 1000, 1),
                "sweep_ms_runs": [round(x * 1000, 1) for x in sweeps], "store_ms": store_ms,
                "db_batches": db_batches, "db_statements": db_statements, "sqs_calls": sqs_calls,
                "send_calls_equal_ceil": sqs_calls.get("SendMessageBatch", 0) == math.ceil(result["claimed"] / 10)
                == result["sqs_calls"],
                "floor_ms": round(min(floors) * 1000, 1), "floor_ms_runs": [round(x * 1000, 1) for x in floors],
                "ratio": round(min(sweeps) / min(floors), 2)}

    # ------------------------------------------------------------------ teardown
    def shutdown(self) -> None:
        if getattr(self, "stop", None) is not None:
            self.stop.set()
        for proc in self.procs.values():
            if proc.exitcode is None:
                proc.kill()
                proc.join(5)
        if self.moto is not None:
            self.moto_stop.set()
            self.moto.join(10)
            if self.moto.exitcode is None:
                self.moto.kill()
        if self.db_name and not self.c.keep:
            with contextlib.suppress(Exception):
                _drop_database(self.c.postgres_url, self.db_name)
        if not self.c.keep:
            shutil.rmtree(self.run_dir, ignore_errors=True)
        else:
            self.log(f"kept {self.run_dir} and database {self.db_name}")


def injected_codes() -> set[str]:
    """``error_code`` values a job may fail with in this bench: the injected retryable errors once its
    attempts are spent (and AttemptsExhausted for an attempt lost with a killed worker)."""
    from leadeval.errors import ModelUnavailableError, StorageError

    return {ModelUnavailableError.code, StorageError.code, "AttemptsExhausted"}


def _calls_summary(ticks: Sequence[dict[str, Any]]) -> dict[str, list[int]]:
    """Per SQS operation, the distinct call counts seen per sweep tick (e.g. GetQueueAttributes: [1])."""
    ops: dict[str, set[int]] = {}
    for e in ticks:
        for op in set(e["sqs"]) | {"GetQueueAttributes", "SendMessageBatch"}:
            ops.setdefault(op, set()).add(e["sqs"].get(op, 0))
    return {op: sorted(v) for op, v in sorted(ops.items())}


def environment() -> dict[str, Any]:
    """Machine and versions the figures were measured on."""
    from importlib.metadata import version

    cpu = platform.processor()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    pg = None
    with contextlib.suppress(Exception):
        import psycopg

        with psycopg.connect(DEFAULT_POSTGRES_URL, connect_timeout=3) as conn:
            pg = conn.execute("SHOW server_version").fetchone()[0]
    return {"cpus": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "postgresql": pg,
            "moto": version("moto"), "boto3": version("boto3"),
            "aws_lambda_powertools": version("aws-lambda-powertools"), "psycopg": version("psycopg")}


def run(config: BenchConfig) -> dict[str, Any]:
    """Run one load proof and return its summary (``{"config", "result", "ok"}``; ``result["checks"]`` holds
    each invariant: True, False, or None when it does not apply to this configuration).

    Raises:
        TimeoutError: jobs still active after ``config.timeout_seconds``.
        RuntimeError: moto or a child process failed to start, or a child died unexpectedly.
        psycopg.OperationalError: no PostgreSQL server at ``config.postgres_url``.
    """
    result = Orchestrator(config).run()
    return {"config": asdict(config), "result": result, "ok": result["ok"]}


def markdown_table(summaries: Sequence[tuple[str, dict[str, Any]]]) -> str:
    """A markdown table of the key figures, one column per (title, summary)."""
    def row(label: str, fn: Any) -> str:
        cells = []
        for _, s in summaries:
            try:
                cells.append(str(fn(s["result"], s["config"])))
            except (KeyError, TypeError, ZeroDivisionError):
                cells.append("–")
        return f"| {label} | " + " | ".join(cells) + " |"

    def ai(r: dict[str, Any], _: Any) -> str:
        by = r["ai_calls"]["completed_jobs_by_calls"]
        return (f"{r['ai_calls']['per_completed_job_mean']} (" + ", ".join(f"{v} jobs × {k}" for k, v in by.items())
                + ")")

    lines = ["| | " + " | ".join(t for t, _ in summaries) + " |", "|---|" + "---|" * len(summaries)]
    lines += [
        row("jobs / sites / workers / sweeps", lambda r, c: f"{c['jobs']} / {c['sites']} / {c['workers']} / "
                                                             f"{c['sweeps']}"),
        row("fault rate / worker killed", lambda r, c: f"{c['fault_rate']:.0%} / "
                                                        f"{'yes' if c['kill_worker'] else 'no'}"),
        row("model latency per call", lambda r, c: f"{c['model_latency_ms']:g} ms"),
        row("end to end", lambda r, c: f"{r['elapsed_s']} s = **{r['jobs_per_s']} jobs/s**"),
        row("final states", lambda r, c: ", ".join(f"{k} {v}" for k, v in sorted(r["status"].items()))),
        row("evaluation rows (distinct jobs)", lambda r, c: f"{r['evaluations']['rows']} "
                                                             f"({r['evaluations']['distinct_jobs']})"),
        row("failed by code / DLQ messages", lambda r, c: (", ".join(f"{k} {v}" for k, v in
                                                                     r["failed_by_code"].items()) or "none")
            + f" / {r['dlq_messages']}"),
        row("jobs claimed by two sweeps", lambda r, c: r["sweeps"]["claimed_by_two_sweeps"]),
        row("sweep claims (distinct jobs)", lambda r, c: f"{r['sweeps']['claims']} "
                                                          f"({r['sweeps']['distinct_jobs_claimed']})"),
        row("injected faults (AI / storage)", lambda r, c: f"{r['faults_injected'].get('ai', 0)} / "
                                                            f"{r['faults_injected'].get('storage', 0)}"),
        row("jobs retried / re-claimed after the kill", lambda r, c: f"{r['retries']['jobs_retried']} / "
                                                                     f"{r['retries']['jobs_reclaimed_after_a_lost_attempt']}"),
        row("AI calls per completed job", ai),
        row("jobs with two successful AI calls", lambda r, c: r["ai_calls"]["jobs_with_two_successful_calls"]),
        row("copies acked without work (job in flight / already terminal)",
            lambda r, c: f"{r['worker_log_events']['skipped_in_flight']} / "
                         f"{r['worker_log_events']['skipped_terminal']}"),
        row("messages lost, jobs rescued by the sweep", lambda r, c: f"{r['sweeps']['rescued']}"),
        row("claim latency p50 / p99", lambda r, c: f"{r['claim_latency_ms']['p50']:.1f} / "
                                                    f"{r['claim_latency_ms']['p99']:.1f} ms"),
        row("worker peak RSS", lambda r, c: f"{r['worker_peak_rss_mb']} MB"),
        row("worker SQL batches / statements per job", lambda r, c: f"{r['worker_db_batches_per_job']} / "
                                                                     f"{r['worker_db_statements_per_job']}"),
        row("sweep ticks (claiming) / mean claimed / backlog seen",
            lambda r, c: f"{r['sweeps']['ticks']} ({r['sweeps']['claiming_ticks']}) / "
                         f"{r['sweeps']['mean_claimed_per_claiming_tick']} / {r['sweeps']['mean_backlog_seen']}"),
        row("sweep SQL batches / statements per tick", lambda r, c: f"{r['sweeps']['db_batches_per_tick']} / "
                                                                     f"{r['sweeps']['db_statements_per_tick']}"),
        row("sweep SendMessageBatch = ceil(claimed/10)", lambda r, c: "yes" if r["checks"]["sqs_calls_equal_ceil"]
            else "**no**"),
        row("sweep tick under load, mean", lambda r, c: f"{r['sweeps']['mean_claiming_tick_ms']} ms for "
                                                         f"{r['sweeps']['mean_claimed_per_claiming_tick']} jobs"),
        row("its floor (same messages, same depth, idle)", lambda r, c: f"{r['floor']['floor_ms_per_tick']} ms vs "
                                                                         f"{r['floor']['sweep_ms_per_tick']} ms → "
                                                                         f"**×{r['floor']['ratio']}** "
                                                                         f"({r['floor']['samples']} ticks)"),
        row("sweep of N due jobs, isolated", lambda r, c: f"{r['isolated_sweep']['jobs']} jobs: "
                                                           f"**{r['isolated_sweep']['sweep_ms']:,.0f} ms** "
                                                           f"({r['isolated_sweep']['db_batches']} SQL batch, "
                                                           f"{r['isolated_sweep']['db_statements']} statements, "
                                                           f"{r['isolated_sweep']['store_ms']:.0f} ms; SQS "
                                                           f"{_ops(r['isolated_sweep']['sqs_calls'])})"),
        row("its floor: the same messages by SendMessageBatch",
            lambda r, c: f"{r['isolated_sweep']['floor_ms']:,.0f} ms → **×{r['isolated_sweep']['ratio']}**"),
        row("invariants", lambda r, c: "all hold" if r["ok"] else "**FAILED: " + ", ".join(
            k for k, v in r["checks"].items() if v is False) + "**"),
    ]
    return "\n".join(lines)


def _ops(calls: dict[str, int]) -> str:
    return ", ".join(f"{v} {k}" for k, v in sorted(calls.items()))


# =========================================================================== the proof (make bench)

START, END = markers("load-proof")
HEADING = "## Load proof (PostgreSQL + moto SQS)"


def proof_configs(scale: float = 1.0) -> list[tuple[str, BenchConfig]]:
    """The issue's two runs: 10,000 jobs, 50 sites, 4 workers, 2 sweeps; clean, then 10 % retryable faults
    with a worker killed and restarted midway. ``scale`` shrinks the job count (trial runs only)."""
    jobs = max(100, round(10_000 * scale))
    base = {"jobs": jobs, "sites": min(50, max(5, jobs // 200)), "workers": 4, "sweeps": 2, "model_latency_ms": 20.0}
    return [("no faults", BenchConfig(**base, isolated_sweep_jobs=min(1000, jobs))),
            ("10 % faults, worker killed", BenchConfig(**base, fault_rate=0.1, kill_worker=True,
                                                       isolated_sweep_jobs=0))]


def command_for(config: BenchConfig) -> str:
    """The ``bench_load.py`` command line that reproduces ``config``."""
    default = BenchConfig()
    args = ["python scripts/bench_load.py", f"--jobs {config.jobs}", f"--sites {config.sites}",
            f"--workers {config.workers}", f"--sweeps {config.sweeps}"]
    if config.fault_rate:
        args.append(f"--fault-rate {config.fault_rate:g}")
    if config.kill_worker:
        args.append("--kill-worker")
    args.append(f"--model-latency-ms {config.model_latency_ms:g}")
    if config.isolated_sweep_jobs != default.isolated_sweep_jobs:
        args.append(f"--isolated-sweep-jobs {config.isolated_sweep_jobs}")
    return " ".join(args)


def render_section(summaries: Sequence[tuple[str, dict[str, Any]]], env: dict[str, Any], *,
                   elapsed_s: float) -> str:
    """The markdown between the markers: how it was run, the table, the invariants and what the figures say."""
    c0 = summaries[0][1]["config"]
    lines = [HEADING, "",
             f"Produced by `make bench` (`python scripts/bench_load.py --proof`, {elapsed_s / 60:.0f} min) on "
             f"{datetime.now(UTC):%Y-%m-%d}: {env['cpus']} CPUs ({env['cpu']}), shared with other work; Python "
             f"{env['python']}, PostgreSQL {env['postgresql']}, moto {env['moto']} (server mode), psycopg "
             f"{env['psycopg']}, Powertools {env['aws_lambda_powertools']}. The columns are, in order:", ""]
    lines += [f"- *{title}*: `{command_for(BenchConfig(**s['config']))}`" for title, s in summaries]
    lines += ["",
              "Each run: a fresh PostgreSQL database, moto's SQS in its own process (jobs queue with "
              f"VisibilityTimeout {c0['visibility_timeout']} s and a DLQ, maxReceiveCount {c0['max_receive_count']}), "
              "one lead and one text PDF pay stub per job (five PDFs reused, `LocalDocumentStore`), and real OS "
              "processes started together: workers loop ReceiveMessage (10) → `sqs_event` → `handle_worker` → "
              "DeleteMessageBatch of the records not reported failed; sweeps loop `handle_sweep` every "
              f"{c0['sweep_interval']} s with `LEADEVAL_SWEEP_BACKLOG_LIMIT={c0['backlog_limit']}`. Settings: "
              f"`LEADEVAL_LEASE_SECONDS={c0['lease_seconds']}`, worker timeout {c0['worker_timeout_seconds']:g} s "
              f"with `LEADEVAL_JOB_BUDGET_SECONDS={c0['job_budget_seconds']}`, retry backoff "
              f"{c0['retry_base_seconds']}–{c0['retry_cap_seconds']} s, `LEADEVAL_MAX_ATTEMPTS={c0['max_attempts']}`, "
              f"`LEADEVAL_RESCUE_AFTER_SECONDS={c0['rescue_after_seconds']}`; idempotency records in one SQLite file "
              "shared by the workers. The model is a fake with a fixed latency; with faults, that share of model "
              "calls raise `ModelUnavailableError` (AI 5xx) and the same share of document reads `StorageError`.",
              "", markdown_table(summaries), ""]
    lines += ["Invariants checked after each run (database, DLQ and the processes' own records):", ""]
    labels = {
        "all_terminal": "every job terminal",
        "all_completed": "every job completed (no faults)",
        "one_evaluation_per_completed_job": "exactly one evaluation row per completed job, none for others, "
                                            "`evaluation_id` matching",
        "no_job_claimed_by_two_sweeps": "no job claimed by two sweep processes (claimed ids recorded per process, "
                                        "intersection empty)",
        "every_job_claimed_once": "every job claimed exactly once over all sweep ticks",
        "sqs_calls_equal_ceil": "every sweep tick: SendMessageBatch calls = ceil(claimed / 10)",
        "isolated_sweep_sqs_calls_equal_ceil": "isolated sweep: SendMessageBatch calls = ceil(jobs / 10)",
        "one_ai_call_per_job": "exactly one AI call per job (no faults)",
        "every_completed_job_had_a_successful_call": "every completed job had a successful AI call",
        "dlq_holds_exactly_the_dead_lettered_jobs": "the DLQ holds exactly the dead-lettered jobs",
        "failures_are_dead_lettered_retryable_errors": "every failed job is a dead-lettered retryable error",
    }
    names = list(dict.fromkeys(k for _, s in summaries for k in s["result"]["checks"]))
    lines += ["| invariant | " + " | ".join(t for t, _ in summaries) + " |", "|---|" + "---|" * len(summaries)]
    for name in names:
        cells = []
        for _, s in summaries:
            value = s["result"]["checks"].get(name)
            cells.append("n/a" if value is None else "holds" if value else "**FAILED**")
        lines.append(f"| {labels.get(name, name)} | " + " | ".join(cells) + " |")
    lines += ["", "Reading the figures:", ""]
    clean = summaries[0][1]["result"]
    lines.append(
        f"- **Throughput** is jobs over the wall time from the start signal (all processes up and warm) to the "
        f"last job terminal. Workers are CPU-bound here (each job renders its PDF's first page and runs the "
        f"scorer; the fake model only sleeps {c0['model_latency_ms']:g} ms), so on {env['cpus']} shared cores "
        f"the figure measures this machine, not the design; with a real vision model (seconds per call) "
        f"throughput is bounded by workers × calls per second instead.")
    iso = clean.get("isolated_sweep") or {}
    lines.append(
        f"- **Sweep.** Every tick is one SQL batch of 3 statements (rescue to failed, rescue to pending, "
        f"`claim_due` with `FOR UPDATE SKIP LOCKED`) whatever it claims, one GetQueueAttributes (the backpressure "
        f"check) and ceil(claimed / 10) SendMessageBatch. Under load the backlog limit holds the queue near "
        f"{c0['backlog_limit']} messages (mean depth seen by claiming ticks: {clean['sweeps']['mean_backlog_seen']}),"
        f" so a tick tops it up with about {clean['sweeps']['mean_claimed_per_claiming_tick']} jobs in "
        f"{clean['sweeps']['mean_claiming_tick_ms']} ms. The floor replays {clean['floor'].get('samples')} sampled "
        f"ticks after the run, with nothing else running: the same messages by plain SendMessageBatch into a "
        f"fresh queue pre-filled to the depth that tick saw. The ratio (×{clean['floor'].get('ratio')}) is what "
        f"sharing moto (one Python process serving every SQS call of {c0['workers']} workers and {c0['sweeps']} "
        f"sweeps) and {env['cpus']} cores costs, not the sweep's own work. That shows in the isolated sweep of "
        f"{iso.get('jobs', '–')} due jobs (fresh queue, nothing else running, depth 0 → {iso.get('jobs', '–')} "
        f"as for its floor; fastest of {len(iso.get('sweep_ms_runs', []))} alternated runs each): "
        f"{iso.get('sweep_ms', 0):,.0f} ms, of which {iso.get('store_ms', 0):.0f} ms in the database, against "
        f"{iso.get('floor_ms', 0):,.0f} ms for the bare sends (×{iso.get('ratio', '–')}). moto's SQS slows as the "
        f"queue deepens (each message costs O(depth) in moto), so "
        f"{iso.get('jobs', '–')} sends into one queue dominate; real SQS answers a SendMessageBatch in tens of "
        "milliseconds at any depth.")
    lines.append(
        "- **Claim latency** is the wall time of `store.claim` in the worker: one transaction that claims the job "
        "and loads its lead, documents and usage row, on a local server shared with everything else.")
    lines.append(
        "- **Peak RSS** is `ru_maxrss` of each worker process (the largest shown), after it has processed its "
        "share of the jobs.")
    lines.append(
        "- **AI calls per completed job** counts every call the fake model received (recorded when the call "
        "starts, so a call cut short by the kill counts): with faults, the extra calls are the injected AI 5xx "
        "retried, plus the call the killed worker was making (that job's next attempt calls the model again: "
        "the one repeat the design allows (a crash between the AI call and the write), "
        "*jobs with two successful AI calls*).")
    faulty = next((s["result"] for _, s in summaries if s["result"].get("kill")), None)
    if faulty is not None:
        k = faulty["kill"]
        lines.append(
            f"- **The kill**: worker-0 was killed with SIGKILL {k['at_s']} s into the run "
            f"{'while making an AI call' if k['in_ai_call'] else 'mid-batch' if k['mid_batch'] else ''}, holding "
            f"{k['held_messages']} received messages; a new worker process replaced it. "
            + (f"The call cut short was {'an injected failure' if k['ai_call_cut_short']['faulted'] else 'a good one'}"
               f"; that job's AI calls in all: {k.get('ai_calls_of_the_cut_job')}. " if k.get("ai_call_cut_short")
               else "")
            + "Its messages came back "
            f"after the visibility timeout and were reclaimed "
            f"({faulty['retries']['jobs_reclaimed_after_a_lost_attempt']} job(s) had an attempt lost with the "
            f"process: `attempts > retry_count + 1`).")
    for title, s in summaries:
        for job in s["result"].get("rescued_jobs", []):
            said = "; ".join(f"“{m}” ×{n}" for m, n in job["worker_log"].items()) or "nothing"
            lines.append(
                f"- **Rescue** (*{title}*): `{job['job']}` was claimed twice by the sweeps: its message was lost "
                f"while the job was queued or processing, so once its lease had been expired for "
                f"`LEADEVAL_RESCUE_AFTER_SECONDS` a sweep put it back to pending and sent it again. It ended "
                f"{job['status']} after {job['attempts']} attempt(s), {job['retry_count']} retried "
                f"(error {job['error_code'] or 'none'}). The workers logged for it: {said}.")
    errors = sum(s["result"].get("moto_failed_requests", 0) for _, s in summaries)
    if errors:
        lines.append(
            f"- moto answered {errors} request(s) with HTTP 500 (its SQS backend is not thread-safe: "
            f"\"Set changed size during iteration\" under concurrent ReceiveMessage); botocore retried them.")
    lines.append("")
    return "\n".join(lines)


def proof(doc: Path = DOC, *, scale: float = 1.0) -> int:
    """Run :func:`proof_configs`, print each summary, write the section into ``doc``; 1 if an invariant failed."""
    started = time.perf_counter()
    summaries = []
    for title, config in proof_configs(scale):
        print(f"[bench_load] {title}: {command_for(config)}", file=sys.stderr, flush=True)
        summary = run(config)
        print(json.dumps({"title": title, **summary}, indent=2, default=str), flush=True)
        summaries.append((title, summary))
    env = environment()
    section = render_section(summaries, env, elapsed_s=time.perf_counter() - started)
    write_section(f"{START}\n{section.rstrip()}\n{END}", "load-proof", doc)
    print(markdown_table(summaries))
    print(f"[bench_load] wrote the load-proof section of {doc}", file=sys.stderr)
    return 0 if all(s["ok"] for _, s in summaries) else 1


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: run one configuration; print the JSON summary and a markdown table; exit 1 if an invariant failed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    d = BenchConfig()
    parser.add_argument("--jobs", type=int, default=d.jobs)
    parser.add_argument("--sites", type=int, default=d.sites)
    parser.add_argument("--workers", type=int, default=d.workers)
    parser.add_argument("--sweeps", type=int, default=d.sweeps)
    parser.add_argument("--fault-rate", type=float, default=d.fault_rate,
                        help="share of AI calls and of document reads that fail (retryable)")
    parser.add_argument("--kill-worker", action="store_true", help="SIGKILL worker 0 midway and restart it")
    parser.add_argument("--model-latency-ms", type=float, default=d.model_latency_ms)
    parser.add_argument("--postgres-url", default=d.postgres_url, help="server to create the fresh database on")
    parser.add_argument("--backlog-limit", type=int, default=d.backlog_limit)
    parser.add_argument("--sweep-interval", type=float, default=d.sweep_interval)
    parser.add_argument("--lease-seconds", type=int, default=d.lease_seconds)
    parser.add_argument("--visibility-timeout", type=int, default=d.visibility_timeout)
    parser.add_argument("--floor-samples", type=int, default=d.floor_samples)
    parser.add_argument("--isolated-sweep-jobs", type=int, default=d.isolated_sweep_jobs)
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--timeout", type=float, default=d.timeout_seconds, dest="timeout_seconds")
    parser.add_argument("--log-level", default=d.log_level)
    parser.add_argument("--keep", action="store_true", help="keep the run folder and the database")
    parser.add_argument("--profile", action="store_true", help="cProfile each worker (<run folder>/worker-N.prof)")
    parser.add_argument("--json", type=Path, help="also write the JSON summary to this file")
    parser.add_argument("--proof", action="store_true",
                        help="run the issue's two configurations (sizes and faults above are ignored) and write "
                             "the load-proof section of docs/benchmarks.md")
    parser.add_argument("--docs", type=Path, default=DOC, help="with --proof: the markdown file to update")
    parser.add_argument("--proof-scale", type=float, default=1.0, help=argparse.SUPPRESS)
    args = vars(parser.parse_args(argv))
    if args.pop("proof"):
        return proof(args["docs"], scale=args["proof_scale"])
    for name in ("docs", "proof_scale"):
        args.pop(name)
    out = args.pop("json")
    summary = run(BenchConfig(**args))
    summary["environment"] = environment()
    text = json.dumps(summary, indent=2, default=str)
    if out:
        out.write_text(text + "\n")
    print(text)
    print()
    print(markdown_table([("this run", summary)]))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
