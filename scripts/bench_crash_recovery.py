"""How long a job waits after its worker is killed with SIGKILL mid-job (kill -9), until it is completed.

Two scenarios, each run for real in child processes, timed from the kill to the job's completion:

- ``local``: the issue's case. ``leadeval process`` (the local runtime: real sweep and worker handlers, moto SQS,
  the SQLite job database and its idempotency records) runs a job whose model call hangs (an OpenAI-compatible
  HTTP server in this process); the run is killed with SIGKILL while the call is open, the server is switched
  to answer, and ``leadeval process`` is started again: recovery = kill → that second run's exit with the job
  completed.
- ``worker``: one worker invocation (``tests/integration/worker_process.py``: the handler, Powertools idempotency
  on SQLite) with a simulated Lambda timeout of ``--lambda-timeout`` s and a lease of ``--lease`` s is killed
  just before it saves the result; the message is then redelivered every second (a fresh worker process each
  time) until one completes the job.

Usage::

    python scripts/bench_crash_recovery.py [--scenario local|worker|both] [--lease 10] [--lambda-timeout 120]
        [--code-root PATH]

``--code-root`` runs the children on another checkout's ``layers/leadeval`` (and its
``tests/integration/worker_process.py``), e.g. a worktree of an older commit, to measure before/after on the same
machine. Prints one JSON line per scenario.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from benchlib import add_code_root

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT / "layers" / "leadeval"), str(REPO_ROOT)]

from leadeval.adapters.jobstore.sqlite import SqliteJobStore  # noqa: E402
from leadeval.models import Job, JobMessage, JobStatus, Lead, LeadDocument, Usage  # noqa: E402
from leadeval.timeutil import usage_month  # noqa: E402
from leadeval_tools.appdb import create_application_tables  # noqa: E402
from leadeval_tools.fakes.workers_ai import default_answer  # noqa: E402
from tests.helpers import text_pdf  # noqa: E402

STUB = text_pdf(["ACME LOGISTICS - EARNINGS STATEMENT", "Employee: Dana Whitfield", "Pay date 11/20/2026",
                 "Gross pay 5,000.00", "Net pay 3,317.50"])


# ----------------------------------------------------------------------------- a model that hangs, then answers


class _Model(BaseHTTPRequestHandler):
    """OpenAI-compatible ``POST …/chat/completions``: hangs while ``server.hanging`` is set (the request is
    counted first), otherwise answers the fakes' default extraction."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
        self.server.requests += 1  # type: ignore[attr-defined]
        while self.server.hanging.is_set():  # type: ignore[attr-defined]
            time.sleep(0.05)
        messages = body.get("messages") or []
        has_image = any(isinstance(m.get("content"), list) and any(p.get("type") == "image_url"
                                                                   for p in m["content"]) for m in messages)
        content = default_answer(messages, has_image=has_image)
        payload = json.dumps({"id": "chatcmpl-bench", "object": "chat.completion", "created": 0,
                              "model": body.get("model"), "usage": {"prompt_tokens": 1, "completion_tokens": 1},
                              "choices": [{"index": 0, "finish_reason": "stop",
                                           "message": {"role": "assistant", "content": content}}]}).encode()
        try:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the killed run's request: nobody is listening
            pass

    def log_message(self, *args: Any) -> None:
        return


def _seed(db: Path, *, queued: bool) -> JobMessage:
    """One lead, one text-PDF pay stub in the documents folder beside the database, one job (swept: its
    message out, when ``queued``)."""
    store = SqliteJobStore(db)
    create_application_tables(store)
    store.migrate()
    requested = datetime.now(UTC) - timedelta(minutes=5)
    store.add_usage(Usage(site_id="site_b", month=usage_month(requested), evaluation_count=1, quota_limit=100))
    store.create_lead(Lead(id="lead_b", site_id="site_b", first_name="Dana", last_name="Whitfield",
                           monthly_rent=1850))
    key = "site_b/lead_b/01-stub.pdf"
    (db.parent / "documents" / "site_b" / "lead_b").mkdir(parents=True)
    (db.parent / "documents" / key).write_bytes(STUB)
    store.add_document(LeadDocument(id="doc_b", lead_id="lead_b", document_type="pay_stub", storage_key=key,
                                    uploaded_at=requested))
    store.create_job(Job(id="job_b", site_id="site_b", lead_id="lead_b", status=JobStatus.PENDING,
                         requested_at=requested))
    if queued:
        store.sweep(now=datetime.now(UTC), limit=10, lease_seconds=120, rescue_after_seconds=3600)
    store.close()
    return JobMessage(job_id="job_b", site_id="site_b", lead_id="lead_b")


def _job(db: Path) -> Job:
    store = SqliteJobStore(db)
    try:
        job = store.get_job("job_b")
        assert job is not None
        return job
    finally:
        store.close()


def _env(code_root: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADEVAL_", "WORKER_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(code_root / "layers" / "leadeval"), str(code_root)])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


def run_local(code_root: Path, work: Path) -> dict[str, Any]:
    """The ``local`` scenario (see the module docstring)."""
    db = work / "local" / "jobs.db"
    db.parent.mkdir(parents=True)
    _seed(db, queued=False)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Model)
    server.requests = 0  # type: ignore[attr-defined]
    server.hanging = threading.Event()  # type: ignore[attr-defined]
    server.hanging.set()  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = _env(code_root, LEADEVAL_DATABASE_URL=f"sqlite:///{db}",
               LEADEVAL_MODEL_URL=f"openai+http://127.0.0.1:{server.server_address[1]}/v1?model=bench")
    command = [sys.executable, "-c", "from leadeval_tools.cli import main; main()", "process", "--timeout", "900"]
    first = subprocess.Popen(command, env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while server.requests == 0 and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.05)
    assert server.requests == 1, "the first run never called the model"  # type: ignore[attr-defined]
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_at = time.monotonic()
    held = _job(db)
    server.hanging.clear()  # type: ignore[attr-defined]
    second = subprocess.run(command, env=env, cwd=work, capture_output=True, text=True, timeout=900)
    recovered = time.monotonic() - killed_at
    server.shutdown()
    done = _job(db)
    return {"scenario": "local", "code_root": str(code_root), "status_at_kill": str(held.status),
            "second_run_exit": second.returncode, "final_status": str(done.status), "attempts": done.attempts,
            "model_requests": server.requests,  # type: ignore[attr-defined]
            "recovery_seconds": round(recovered, 1)}


def run_worker(code_root: Path, work: Path, *, lease: float, lambda_timeout: float) -> dict[str, Any]:
    """The ``worker`` scenario (see the module docstring)."""
    root = work / "worker"
    db = root / "jobs.db"
    db.parent.mkdir(parents=True)
    message = _seed(db, queued=True)
    sent = str(int(time.time() * 1000))
    event = root / "event.json"
    event.write_text(json.dumps({"Records": [{
        "messageId": "msg-1", "receiptHandle": "rh-1", "body": message.model_dump_json(),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": sent, "SenderId": "BENCH",
                       "ApproximateFirstReceiveTimestamp": sent},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:jobs", "awsRegion": "us-east-1"}]}))
    env = _env(code_root, LEADEVAL_DATABASE_URL=f"sqlite:///{db}", LEADEVAL_DOCUMENTS_URL=f"file://{root}/documents",
               WORKER_CALLS_FILE=str(root / "calls.txt"), WORKER_READY_FILE=str(root / "ready"),
               WORKER_LEASE_SECONDS=str(lease), WORKER_TIMEOUT_SECONDS=str(lambda_timeout),
               POWERTOOLS_METRICS_DISABLED="true")
    script = [sys.executable, str(code_root / "tests" / "integration" / "worker_process.py"), str(event)]
    crashing = subprocess.Popen(script, env={**env, "WORKER_CRASH_AT": "before_write", "WORKER_CRASH_MODE": "block"},
                                cwd=code_root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ready = root / "ready"
    while not ready.exists():
        assert crashing.poll() is None, "the worker ended before reaching the write"
        time.sleep(0.01)
    crashing.send_signal(signal.SIGKILL)
    crashing.wait()
    killed_at = time.monotonic()
    deliveries = 0
    while _job(db).status != JobStatus.COMPLETED:
        assert time.monotonic() - killed_at < 900, "not recovered in 15 minutes"
        started = time.monotonic()
        subprocess.run(script, env=env, cwd=code_root, capture_output=True, timeout=300)
        deliveries += 1
        time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))  # one redelivery per second at most
    done = _job(db)
    return {"scenario": "worker", "code_root": str(code_root), "lease_seconds": lease,
            "lambda_timeout_seconds": lambda_timeout, "redeliveries": deliveries, "attempts": done.attempts,
            "recovery_seconds": round(time.monotonic() - killed_at, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=["local", "worker", "both"], default="both")
    parser.add_argument("--lease", type=float, default=10.0, help="worker scenario: lease, seconds")
    parser.add_argument("--lambda-timeout", type=float, default=120.0,
                        help="worker scenario: simulated Lambda timeout, seconds")
    add_code_root(parser, "run the children on another checkout (its layers/leadeval and worker_process.py)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="leadeval-crash-") as tmp:
        work = Path(tmp)
        if args.scenario in ("local", "both"):
            print(json.dumps(run_local(args.code_root.resolve(), work)), flush=True)
        if args.scenario in ("worker", "both"):
            print(json.dumps(run_worker(args.code_root.resolve(), work, lease=args.lease,
                                        lambda_timeout=args.lambda_timeout)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
