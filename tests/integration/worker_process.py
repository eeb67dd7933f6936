"""One worker invocation in its own process, for crash tests: the real ``handle_worker`` (Powertools batch
processing and idempotency) on one SQS event, against a SQLite file and a documents folder, with a vision
model that records every call in a file and can kill its own process (SIGKILL) at a named point.

Usage::

    python tests/integration/worker_process.py EVENT.json

Environment:
    LEADEVAL_DATABASE_URL   ``sqlite:////abs/jobs.db`` (jobs, results and idempotency records)
    LEADEVAL_DOCUMENTS_URL  ``file:///abs/documents``
    WORKER_CALLS_FILE       each AI call appends one line (the document id) and fsyncs, before answering
    WORKER_CRASH_AT         ``before_ai`` (in the model, before the call), ``after_ai`` (after the call is
                            recorded) or ``before_write`` (when the result is about to be saved); unset: none
    WORKER_CRASH_MODE       ``kill`` (default: SIGKILL itself) or ``block`` (touch WORKER_READY_FILE, then sleep
                            until the parent kills the process)
    WORKER_READY_FILE       see ``block``
    WORKER_LEASE_SECONDS    lease of a claim, seconds (default 2; the settings' minimum of 10 is bypassed)
    WORKER_TIMEOUT_SECONDS  the simulated Lambda timeout (default 2): the idempotency record of a killed
                            invocation stays "in progress" this long, as in Lambda

Prints the handler's answer (``{"batchItemFailures": [...]}``) as JSON on stdout and exits 0; a crash ends
the process with SIGKILL (exit status -9 seen by the parent).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from leadeval.config import Settings
from leadeval.handlers import handle_worker
from leadeval.jobs.process import ProcessContext
from leadeval.jobs.retry import RetryPolicy
from leadeval.models import DocumentKind, ExtractedFacts, Extraction, ModelUsage, PreparedDocument
from leadeval.wiring import Wiring
from leadeval_tools.fakes.memory import MemoryQueue
from leadeval_tools.local import FakeLambdaContext


def crash_here(point: str) -> None:
    """End this process the hard way when ``WORKER_CRASH_AT`` names ``point``."""
    if os.environ.get("WORKER_CRASH_AT") != point:
        return
    if os.environ.get("WORKER_CRASH_MODE", "kill") == "block":
        Path(os.environ["WORKER_READY_FILE"]).write_text(point)
        while True:  # the parent sends SIGKILL
            time.sleep(0.05)
    os.kill(os.getpid(), signal.SIGKILL)


class FileRecordingModel:
    """A vision model whose calls are appended to ``WORKER_CALLS_FILE`` (so they survive a SIGKILL)."""

    name = "file-recording"

    def __init__(self, calls_file: Path) -> None:
        self.calls_file = calls_file

    def extract(self, document: PreparedDocument) -> Extraction:
        crash_here("before_ai")
        with self.calls_file.open("a") as f:
            f.write(document.document_id + "\n")
            f.flush()
            os.fsync(f.fileno())
        crash_here("after_ai")
        facts = ExtractedFacts(document_kind=DocumentKind.PAY_STUB, names_shown=["Dana Whitfield"],
                               employer="Acme Logistics", pay_frequency="semimonthly", gross_pay="5000.00",
                               net_pay="3317.50", total_deductions="1682.50")
        return Extraction(facts=facts, model=self.name, model_version="file-1",
                          usage=ModelUsage(prompt_tokens=100, completion_tokens=50))


def main(event_path: str) -> int:
    """Run the worker on the event in ``event_path``; print its answer."""
    settings = Settings.from_env({**os.environ, "LEADEVAL_JOB_BUDGET_SECONDS": "1",
                                  "POWERTOOLS_METRICS_DISABLED": "true"})
    model = FileRecordingModel(Path(os.environ["WORKER_CALLS_FILE"]))
    queue = MemoryQueue()  # visibility changes and dead-letters are not needed by the crash tests
    services = Wiring(settings, model=model, queue=queue)
    store = services.store
    real_complete = store.complete

    def complete(*args: Any, **kwargs: Any) -> bool:
        crash_here("before_write")
        return real_complete(*args, **kwargs)

    store.complete = complete  # type: ignore[method-assign]
    real_write_together = store.write_together

    def write_together(*args: Any, **kwargs: Any) -> None:
        crash_here("before_write")
        real_write_together(*args, **kwargs)

    store.write_together = write_together  # type: ignore[method-assign]
    services.replace(process_context=ProcessContext(
        store=store, documents=services.documents, model=model,
        retry_policy=RetryPolicy(max_attempts=settings.max_attempts, base_seconds=1, cap_seconds=1),
        lease_seconds=float(os.environ.get("WORKER_LEASE_SECONDS", "2"))))
    event = json.loads(Path(event_path).read_text())
    context = FakeLambdaContext(timeout_seconds=float(os.environ.get("WORKER_TIMEOUT_SECONDS", "2")))
    answer = handle_worker(event, context, services)
    services.close()
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
