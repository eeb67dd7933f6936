"""Worker CPU per job and jobs per CPU-second, through the real handlers, without an emulator.

Usage::

    .venv/bin/python scripts/bench_worker.py                        # measure, write docs/benchmarks.md
    .venv/bin/python scripts/bench_worker.py --jobs 100 --no-write  # print only
    .venv/bin/python scripts/bench_worker.py --code-root /tmp/le-base --no-write --json-out before.json

``--jobs`` jobs cloned from the sample set (``leadeval_tools.samples``: its 10 jobs, completed and failed ones,
each replica with its own ids) go through the real ``handle_sweep`` / ``handle_worker`` with the embedded
SQLite job store, documents in memory (``MemoryDocumentStore``), the in-memory queue (``MemoryQueue``, no moto)
and the ``offline`` model; the worker takes ``--batch`` records per invocation (the template's batch size 10).
Measured: CPU time (``time.process_time``: user + system of this process) of the worker invocations only,
over the jobs delivered: *CPU ms per job* and *jobs per CPU-second*; and, in a second identical run under
``cProfile``, the functions with the most cumulative time (the profile's top items). One warm-up batch
(imports, first PDFium use) runs first and is not counted.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import math
import os
import platform
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "benchmarks.md"
START, END = "<!-- worker-cpu:start -->", "<!-- worker-cpu:end -->"


def _quiet() -> None:
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "CRITICAL")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "leadeval")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    import logging

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    logging.disable(logging.CRITICAL)


def _load(n_jobs: int, store: Any, documents: Any, today: Any) -> int:
    from leadeval.models import Job, JobStatus
    from leadeval_tools.samples import build_sample_set

    sample = build_sample_set(today=today)
    for usage in sample.usage:
        store.add_usage(usage.to_model().model_copy(update={"quota_limit": 10 ** 9})
                        if usage.to_model().quota_limit and usage.to_model().quota_limit > 1 else usage.to_model())
    created = 0
    for k in range(math.ceil(n_jobs / len(sample.jobs))):
        for lead in sample.leads:
            store.create_lead(lead.to_model().model_copy(update={"id": f"{lead.id}-{k}"}))
        for doc in sample.documents:
            key = f"{k}/{doc.storage_key}"
            documents.put(key, sample.files[doc.storage_key])
            store.add_document(doc.to_model().model_copy(update={"id": f"{doc.id}-{k}",
                                                                 "lead_id": f"{doc.lead_id}-{k}", "storage_key": key}))
        for job in sample.jobs:
            if created == n_jobs:
                break
            store.create_job(Job(id=f"{job.id}-{k}", site_id=job.site_id, lead_id=f"{job.lead_id}-{k}",
                                 status=JobStatus.PENDING, requested_at=job.requested_at),
                             requested_at_text=job.requested_at_text)
            created += 1
    return created


def run(n_jobs: int, batch: int, tmp: Path, *, profile: bool) -> dict[str, Any]:
    """One run: sweep everything onto the in-memory queue, then worker invocations of ``batch`` records."""
    from leadeval import handlers
    from leadeval.adapters.idempotency import SqlitePersistenceLayer
    from leadeval.adapters.jobstore.sqlite import SqliteJobStore
    from leadeval.config import Settings
    from leadeval.timeutil import utcnow
    from leadeval.wiring import Wiring
    from leadeval_tools.appdb import create_application_tables
    from leadeval_tools.fakes.memory import MemoryDocumentStore, MemoryQueue
    from leadeval_tools.local import FakeLambdaContext, invoke_worker

    store = SqliteJobStore(tmp / "jobs.db")
    create_application_tables(store)
    store.migrate()
    documents = MemoryDocumentStore()
    created = _load(n_jobs + batch, store, documents, utcnow().date())
    settings = Settings.from_env({"LEADEVAL_DATABASE_URL": f"sqlite:///{tmp / 'jobs.db'}",
                                  "LEADEVAL_MODEL_URL": "offline", "LEADEVAL_DOCUMENTS_URL": "file:unused",
                                  "LEADEVAL_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/leadeval-jobs",
                                  "LEADEVAL_SWEEP_BACKLOG_LIMIT": str(10 ** 6)})
    queue = MemoryQueue(visibility_timeout=720)
    services = Wiring(settings, store=store, documents=documents, queue=queue,
                      idempotency_store=SqlitePersistenceLayer(tmp / "idempotency.db"))
    handlers.metrics.add_metric = lambda **_: None  # type: ignore[method-assign]
    while handlers.handle_sweep({}, FakeLambdaContext(timeout_seconds=60), services)["claimed"]:
        pass

    def one_batch() -> int:
        messages = queue.receive(batch)
        if not messages:
            return 0
        result = invoke_worker(lambda event, context: handlers.handle_worker(event, context, services),
                               queue.sqs_event(messages), FakeLambdaContext())
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        for m in messages:
            if m.message_id not in failed:
                queue.delete(m.receipt_handle)
        return len(messages)

    one_batch()  # warm-up: imports, first PDFium and Pillow use
    profiler = cProfile.Profile() if profile else None
    delivered = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    while n := one_batch():
        delivered += n
    if profiler:
        profiler.disable()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    states: dict[str, int] = {}
    for job in store.list_jobs(limit=created + 10):
        states[str(job.status)] = states.get(str(job.status), 0) + 1
    services.close()
    out: dict[str, Any] = {"jobs": delivered, "cpu_s": cpu, "wall_s": wall, "states": states,
                           "cpu_ms_per_job": 1000 * cpu / max(1, delivered),
                           "jobs_per_cpu_s": delivered / cpu if cpu else 0.0}
    if profiler:
        buffer = io.StringIO()
        stats = pstats.Stats(profiler, stream=buffer)
        total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
        top = []
        for (file, line, func), (_cc, _nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
            top.append((ct, tt, _short(file, line, func)))
        top.sort(reverse=True)
        out["profile_total_s"] = total
        out["top"] = [(name, ct, tt) for ct, tt, name in top if not _wrapper(name)][:18]
    return out


def _short(file: str, line: int, func: str) -> str:
    if file.startswith("~") or file == "<built-in>":
        return func
    for marker in ("site-packages/", "layers/leadeval/", "tools/", "lib/python3.12/"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{file}:{line}({func})"


def _wrapper(name: str) -> bool:
    """Frames that only pass the call through (the loop, Powertools decorators): left out of the top items."""
    return any(part in name for part in ("bench_worker.py", "functools.py", "<lambda>", "contextlib.py",
                                         "aws_lambda_powertools", "invoke_worker", "threading.py"))


def render(after: dict[str, Any], before: dict[str, Any] | None, command: str, batch: int) -> str:
    lines = [START, "## Worker CPU per job and jobs per CPU-second (real handlers, no emulator)", "",
             f"Produced by `{command}` on {platform.machine()}, {os.cpu_count()} CPUs (shared), Python "
             f"{platform.python_version()}. Jobs cloned from the sample set (completed and failed ones, as "
             "`make run` loads them) through the real `handle_sweep` / `handle_worker`: SQLite job store, documents "
             f"in memory, the in-memory queue (no moto), the `offline` model, {batch} records per worker invocation. "
             "CPU time is user + system of the process over the worker invocations only (`time.process_time`; "
             "wall time on a shared machine measures the neighbours); one warm-up batch is not counted.", "",
             "| | jobs | CPU ms per job | jobs per CPU-second | final states |", "| --- | --- | --- | --- | --- |"]
    for label, r in (("before", before), ("after", after)):
        if r:
            states = ", ".join(f"{k} {v}" for k, v in sorted(r["states"].items()))
            lines.append(f"| {label} | {r['jobs']} | **{r['cpu_ms_per_job']:.1f}** | {r['jobs_per_cpu_s']:.0f} "
                         f"| {states} |")
    for label, r in (("before", before), ("after", after)):
        if r and r.get("top"):
            lines += ["", f"Profile {label} (cProfile, a second identical run; cumulative / own seconds over "
                          f"{r['jobs']} jobs; call wrappers left out):", "",
                      "| function | cumulative s | own s |", "| --- | --- | --- |"]
            lines += [f"| `{name}` | {ct:.3f} | {tt:.3f} |" for name, ct, tt in r["top"]]
    lines.append(END)
    return "\n".join(lines)


def write_section(section: str, path: Path = DOC) -> None:
    text = path.read_text("utf-8")
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text, "utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--code-root", type=Path, help="measure another checkout's leadeval")
    parser.add_argument("--before-json", type=Path, help="a --json-out of the before run, shown beside")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    root = args.code_root or REPO
    sys.path[:0] = [str(root / "layers" / "leadeval"), str(root / "tools")]
    _quiet()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "a").mkdir()
        (Path(tmp) / "b").mkdir()
        result = run(args.jobs, args.batch, Path(tmp) / "a", profile=False)
        profiled = run(args.jobs, args.batch, Path(tmp) / "b", profile=True)
    result["top"] = profiled["top"]
    print(json.dumps({k: v for k, v in result.items() if k != "top"}, indent=1))
    for name, ct, tt in result["top"]:
        print(f"{ct:8.3f} {tt:8.3f}  {name}")
    if args.json_out:
        args.json_out.write_text(json.dumps(result))
    before = json.loads(args.before_json.read_text()) if args.before_json else None
    if not args.no_write:
        command = f"python scripts/bench_worker.py --jobs {args.jobs} --batch {args.batch}"
        if before:
            command += f" --before-json {args.before_json.name}"
        write_section(render(result, before, command, args.batch))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
