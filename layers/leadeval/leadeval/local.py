"""Local runtime: the real sweep and worker handlers against a local AWS emulator (moto server).

``make run`` and ``leadeval evaluate`` use it. SQS (jobs queue + DLQ with a redrive policy) and the
document bucket go through the same boto3 adapters as in AWS, against ``moto``'s server mode started
in-process on 127.0.0.1, so receive counts, visibility timeouts and dead-lettering follow SQS's own
semantics. The handlers are loaded from ``functions/*/app.py`` the way Lambda loads them, invoked
with the event shapes Lambda sends (see ``events/``); records not reported in ``batchItemFailures``
are deleted afterwards, as the SQS event source mapping does.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from leadeval import bootstrap
from leadeval.bootstrap import Services, build_services
from leadeval.config import Settings
from leadeval.models import JobStatus
from leadeval.ports import DocumentStore

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[3]
REGION = "us-east-1"
ACTIVE = (JobStatus.PENDING, JobStatus.QUEUED, JobStatus.PROCESSING)


@dataclass
class FakeLambdaContext:
    """The attributes of a Lambda context the handlers and Powertools read.

    ``timeout_seconds`` is the simulated function timeout; remaining time counts down from creation.
    """

    function_name: str = "leadeval-local"
    timeout_seconds: float = 120.0
    memory_limit_in_mb: int = 1024
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:000000000000:function:leadeval-local"
    log_group_name: str = "/aws/lambda/leadeval-local"
    log_stream_name: str = "local"
    _started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the simulated timeout."""
        return max(0, int((self.timeout_seconds - (time.monotonic() - self._started)) * 1000))


@cache
def load_handler(name: str) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """``lambda_handler`` of ``functions/<name>/app.py``, imported from its file as Lambda does: once per
    process, like a warm container (the handlers read their services through ``get_services()``).

    Falls back to the layer's ``handle_*`` wiring when the repository's ``functions/`` is absent.
    """
    path = REPO_ROOT / "functions" / name / "app.py"
    if path.exists():
        spec = importlib.util.spec_from_file_location(f"leadeval_local_{name}_app", path)
        assert spec and spec.loader
        module: ModuleType = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.lambda_handler  # type: ignore[no-any-return]
    from leadeval import handlers

    fn = handlers.handle_sweep if name == "sweep" else handlers.handle_worker
    return lambda event, context: fn(event, context, bootstrap.get_services())


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The Lambda SQS event for messages from ``ReceiveMessage`` (shape of ``events/worker_*.json``)."""
    records = []
    for m in messages:
        attrs = m.get("Attributes", {})
        records.append({
            "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
            "attributes": {k: attrs[k] for k in ("ApproximateReceiveCount", "SentTimestamp", "SenderId",
                                                  "ApproximateFirstReceiveTimestamp") if k in attrs},
            "messageAttributes": {k: {"stringValue": v.get("StringValue"), "binaryValue": None,
                                      "stringListValues": [], "binaryListValues": [],
                                      "dataType": v.get("DataType", "String")}
                                  for k, v in m.get("MessageAttributes", {}).items()},
            "md5OfBody": m.get("MD5OfBody") or hashlib.md5(m["Body"].encode()).hexdigest(),
            "eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": REGION,
        })
    return {"Records": records}


def invoke_worker(handler: Callable[[dict[str, Any], Any], dict[str, Any]], event: dict[str, Any],
                  context: Any) -> dict[str, Any]:
    """Invoke a worker handler as the SQS event source mapping sees it: a partial batch response, or, when
    the invocation fails as a whole (:class:`~leadeval.handlers.WorkerBatchFailed`: every record failed for
    an infrastructure reason), every record reported failed (none is deleted; all come back).

    Returns:
        ``{"batchItemFailures": [{"itemIdentifier": message id}, ...]}``.
    """
    from leadeval.handlers import WorkerBatchFailed

    try:
        return handler(event, context) or {"batchItemFailures": []}
    except WorkerBatchFailed:
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event.get("Records", [])]}


def scheduled_event() -> dict[str, Any]:
    """The sweep's event, as EventBridge Scheduler sends our template's ``Input``."""
    return {"execution_id": str(uuid.uuid4()), "scheduled_time": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                              time.gmtime())}


def mirror_folder(settings: Settings) -> Path:
    """Where local runs keep a copy of the emulated bucket: ``documents/`` beside the SQLite database
    (``.leadeval/documents`` by default), so a database and its documents stay together."""
    if settings.database.kind == "sqlite":
        return settings.sqlite_path().parent / "documents"
    return Path(".leadeval") / "documents"


class MirroredDocumentStore:
    """The emulated bucket plus a copy of every object written, in a local folder.

    moto keeps nothing after the run; the folder does, and :class:`LocalRuntime` uploads it into the new
    bucket at start. So documents loaded by ``leadeval demo`` or ``evaluate`` are still there for a later
    ``leadeval leads reevaluate`` + ``leadeval process``. Reads go to the bucket (the real S3 code path).
    """

    def __init__(self, primary: DocumentStore, folder: Path) -> None:
        self.primary = primary
        self.folder = folder

    def get(self, key: str, *, max_bytes: int) -> bytes:
        from leadeval.adapters.storage.local import LocalDocumentStore
        from leadeval.errors import DocumentMissing

        try:
            return self.primary.get(key, max_bytes=max_bytes)
        except DocumentMissing:
            # Written by another local run after this one started (its own emulated bucket): the copy has it.
            return LocalDocumentStore(self.folder).get(key, max_bytes=max_bytes)

    def put(self, key: str, data: bytes, *, content_type: str | None = None) -> None:
        self.primary.put(key, data, content_type=content_type)
        from leadeval.adapters.storage.local import LocalDocumentStore

        LocalDocumentStore(self.folder).put(key, data)


class LocalRuntime:
    """moto server + queues + bucket + the real handlers, for one local run.

    Args:
        env: variables to read settings from (normally ``os.environ``).
        batch_size: SQS records per worker invocation (the template's BatchSize).
        visibility_timeout: the jobs queue's visibility timeout (seconds).
        max_receive_count: the redrive policy's maxReceiveCount.
        bucket: bucket created for documents when ``LEADEVAL_DOCUMENTS_URL`` is not set.
    """

    def __init__(self, env: Mapping[str, str], *, batch_size: int = 5, visibility_timeout: int = 30,
                 max_receive_count: int = 10, bucket: str = "leadeval-documents") -> None:
        self.env = dict(env)
        self.batch_size = batch_size
        self.visibility_timeout = visibility_timeout
        self.max_receive_count = max_receive_count
        self.bucket = bucket
        self.server: Any = None
        self.services: Services | None = None
        self.sqs: Any = None
        self.queue_url = self.dlq_url = self.queue_arn = ""
        self.invocations = {"sweep": 0, "worker": 0}

    def __enter__(self) -> LocalRuntime:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Services:
        """Start moto, create the queues (and the bucket), and install the services the handlers use."""
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                           "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": endpoint}.items():
            os.environ[key] = value
        import boto3

        self.sqs = boto3.client("sqs", region_name=REGION, endpoint_url=endpoint)
        self.dlq_url = self.sqs.create_queue(QueueName="leadeval-jobs-dlq",
                                             Attributes={"MessageRetentionPeriod": "1209600"})["QueueUrl"]
        dlq_arn = self.sqs.get_queue_attributes(QueueUrl=self.dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        self.queue_url = self.sqs.create_queue(QueueName="leadeval-jobs", Attributes={
            "VisibilityTimeout": str(self.visibility_timeout),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn,
                                         "maxReceiveCount": str(self.max_receive_count)})})["QueueUrl"]
        self.queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        env = {**self.env, "LEADEVAL_QUEUE_URL": self.queue_url, "LEADEVAL_DLQ_URL": self.dlq_url,
               "AWS_ENDPOINT_URL": endpoint}
        mirror: Path | None = None
        if not env.get("LEADEVAL_DOCUMENTS_URL"):
            s3 = boto3.client("s3", region_name=REGION, endpoint_url=endpoint)
            s3.create_bucket(Bucket=self.bucket)
            env["LEADEVAL_DOCUMENTS_URL"] = f"s3://{self.bucket}"
            mirror = mirror_folder(Settings.from_env(env))
            for path in sorted(p for p in mirror.rglob("*") if p.is_file()) if mirror.is_dir() else []:
                s3.put_object(Bucket=self.bucket, Key=path.relative_to(mirror).as_posix(), Body=path.read_bytes())
        self.services = build_services(Settings.from_env(env))
        if mirror is not None:
            self.services.overrides["documents"] = MirroredDocumentStore(self.services.documents, mirror)
        bootstrap.reset_services()
        bootstrap._services = self.services  # the handlers' get_services() returns these
        return self.services

    def stop(self) -> None:
        """Stop moto and close the services."""
        if self.services is not None:
            self.services.close()
        bootstrap._services = None
        if self.server is not None:
            self.server.stop()
            self.server = None

    # ------------------------------------------------------------------ invocations
    def sweep(self) -> dict[str, Any]:
        """Invoke the sweep handler once."""
        self.invocations["sweep"] += 1
        return load_handler("sweep")(scheduled_event(), FakeLambdaContext(timeout_seconds=60))

    def poll(self, *, wait_seconds: int = 0) -> int:
        """Receive one batch and invoke the worker handler with it; delete the records it did not
        report failed. Returns the number of records delivered."""
        from leadeval.adapters.queue.consumer import LocalConsumption

        if LocalConsumption().paused:
            return 0
        response = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=self.batch_size,
                                            WaitTimeSeconds=wait_seconds, AttributeNames=["All"],
                                            MessageAttributeNames=["All"])
        messages = response.get("Messages", [])
        if not messages:
            return 0
        self.invocations["worker"] += 1
        result = invoke_worker(load_handler("worker"), sqs_event(messages, self.queue_arn), FakeLambdaContext())
        failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
        for m in messages:
            if m["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
        return len(messages)

    def active_jobs(self) -> int:
        """Jobs not yet in a final state."""
        assert self.services is not None
        return sum(len(self.services.store.list_jobs(status=s, limit=100_000)) for s in ACTIVE)

    def _stop_on_configuration_error(self) -> None:
        """A job snoozed by a ConfigurationError (bad token, model licence not accepted) will not heal by
        waiting: a local run stops with its message instead (in AWS the worker snoozes and alarms)."""
        from leadeval.errors import ConfigurationError

        assert self.services is not None
        for job in self.services.store.list_jobs(status=JobStatus.QUEUED, limit=1000):
            if job.error_code == "ConfigurationError":
                raise ConfigurationError(f"{job.id}: {job.error_message}")

    def recover_orphans(self) -> int:
        """Put back to pending the jobs an earlier, interrupted local run left queued or processing: their
        messages were in that run's emulated queue, which is gone. Returns how many."""
        assert self.services is not None
        from leadeval.timeutil import utcnow

        reset = getattr(self.services.store, "reset_in_flight", None)
        count = reset(now=utcnow()) if reset else 0
        if count:
            logger.warning("jobs left in flight by an interrupted local run were put back to pending",
                           extra={"jobs": count})
        return count

    def _active(self, job_ids: set[str] | None) -> int:
        if job_ids is None:
            return self.active_jobs()
        assert self.services is not None
        jobs = [self.services.store.get_job(job_id) for job_id in job_ids]
        return sum(1 for job in jobs if job is not None and job.status in ACTIVE)

    def run_until_idle(self, *, timeout_seconds: float = 600.0, job_ids: set[str] | None = None) -> None:
        """Sweep and work until no job (or none of ``job_ids``) is pending, queued or processing.

        Raises:
            TimeoutError: jobs are still active after ``timeout_seconds`` (the message says when the local
                runtime is paused).
        """
        from leadeval.adapters.queue.consumer import LocalConsumption

        deadline = time.monotonic() + timeout_seconds
        while True:
            self.sweep()
            delivered = 0
            while (n := self.poll()) > 0:
                delivered += n
            if self._active(job_ids) == 0:
                return
            self._stop_on_configuration_error()
            if time.monotonic() > deadline:
                paused = " (the local runtime is paused: `leadeval resume --local`)" \
                    if LocalConsumption().paused else ""
                raise TimeoutError(f"{self._active(job_ids)} jobs still active after {timeout_seconds:.0f}s{paused}")
            if delivered == 0:
                time.sleep(1.0)  # messages delayed by backoff become visible again
