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
import logging
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import (
    add_before_after,
    add_no_write,
    clone_sample,
    machine,
    markers,
    quiet_handlers,
    read_json,
    use_code_root,
    write_section,
)

START, END = markers("worker-cpu")


def run(n_jobs: int, batch: int, tmp: Path, *, profile: bool, ocr: bool = False) -> dict[str, Any]:
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
    created = clone_sample(n_jobs + batch, store, documents, today=utcnow().date(), lift_quotas=True)
    settings = Settings.from_env({"LEADEVAL_DATABASE_URL": f"sqlite:///{tmp / 'jobs.db'}",
                                  "LEADEVAL_MODEL_URL": "offline", "LEADEVAL_DOCUMENTS_URL": "file:unused",
                                  "LEADEVAL_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/leadeval-jobs",
                                  "LEADEVAL_SWEEP_BACKLOG_LIMIT": str(10 ** 6),
                                  # the text-layer reader (issue 14's measure) unless --ocr: then scans are OCR'd
                                  **({} if ocr else {"LEADEVAL_OCR_PAGES_PER_DOCUMENT": "0"})})
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


def render(after: dict[str, Any], before: dict[str, Any] | None, command: str, batch: int, *, ocr: bool) -> str:
    lines = [START, "## Worker CPU per job and jobs per CPU-second (real handlers, no emulator)", "",
             f"Produced by `{command}` on {machine(' (shared)')}. Jobs cloned from the sample set (completed and "
             "failed ones, as `make run` loads them) through the real `handle_sweep` / `handle_worker`: SQLite job "
             "store, documents in memory, the in-memory queue (no moto), the `offline` model "
             + ("with OCR (the sample set's scanned stub is OCR'd), " if ocr else
                "reading text layers only (OCR off: `LEADEVAL_OCR_PAGES_PER_DOCUMENT=0`; `--ocr` measures with it), ")
             + f"{batch} records per worker invocation. "
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--ocr", action="store_true", help="OCR scanned pages (default: text layers only)")
    add_before_after(parser)
    add_no_write(parser)
    args = parser.parse_args(argv)
    use_code_root(args.code_root)
    quiet_handlers()
    logging.disable(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "a").mkdir()
        (Path(tmp) / "b").mkdir()
        result = run(args.jobs, args.batch, Path(tmp) / "a", profile=False, ocr=args.ocr)
        profiled = run(args.jobs, args.batch, Path(tmp) / "b", profile=True, ocr=args.ocr)
    result["top"] = profiled["top"]
    print(json.dumps({k: v for k, v in result.items() if k != "top"}, indent=1))
    for name, ct, tt in result["top"]:
        print(f"{ct:8.3f} {tt:8.3f}  {name}")
    if args.json_out:
        args.json_out.write_text(json.dumps(result))
    before = read_json(args.before_json)
    if not args.no_write:
        command = f"python scripts/bench_worker.py --jobs {args.jobs} --batch {args.batch}"
        command += " --ocr" if args.ocr else ""
        if before:
            command += f" --before-json {args.before_json.name}"
        write_section(render(result, before, command, args.batch, ocr=args.ocr), "worker-cpu")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
