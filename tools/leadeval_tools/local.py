"""Local runtime: the real sweep and worker handlers against a local AWS emulator (moto server).

``make run`` and ``leadeval evaluate`` use it. SQS (jobs queue + DLQ with a redrive policy) and the
document bucket go through the same boto3 adapters as in AWS, against ``moto``'s server mode started
in-process on 127.0.0.1, so receive counts, visibility timeouts and dead-lettering follow SQS's own
semantics. The handlers are loaded from ``functions/*/app.py`` the way Lambda loads them, invoked
with the event shapes Lambda sends (see ``events/``); records not reported in ``batchItemFailures``
are deleted afterwards, as the SQS event source mapping does.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from leadeval import wiring
from leadeval.config import Settings
from leadeval.errors import LeadevalError
from leadeval.models import JobState, JobStatus
from leadeval.ports import DocumentStore
from leadeval.wiring import Wiring

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ACTIVE = (JobStatus.PENDING, JobStatus.PROCESSING)  # the application's statuses of unfinished jobs


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
def load_handler(name: str) -> Callable[[dict[str, Any], Any], Any]:
    """``lambda_handler`` of ``functions/<name>/app.py``, imported from its file as Lambda does: once per
    process, like a warm container (the handlers read their services through ``current()``).

    Falls back to the layer's ``handle_*`` wiring when the repository's ``functions/`` is absent.
    """
    path = REPO_ROOT / "functions" / name / "app.py"
    if path.exists():
        spec = importlib.util.spec_from_file_location(f"leadeval_local_{name}_app", path)
        assert spec and spec.loader
        module: ModuleType = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        handler: Callable[[dict[str, Any], Any], Any] = module.lambda_handler
        return handler
    from leadeval import handlers

    fn = handlers.handle_sweep if name == "sweep" else handlers.handle_worker
    return lambda event, context: fn(event, context, wiring.current())


@contextlib.contextmanager
def handler_output() -> Iterator[None]:
    """Around a local invocation: what the handler prints (Powertools EMF metric blobs) goes to stderr, never
    into a command's report on stdout, and with metrics disabled (``POWERTOOLS_METRICS_DISABLED``) the metric
    set is emptied afterwards (Powertools keeps an unflushed set and prints it once it holds 100 metrics). The
    logger's keys are reset afterwards: a Lambda instance keeps the last invocation's context until the next
    one, but a local run goes on (its report) and those lines belong to no invocation."""
    from aws_lambda_powertools.metrics.functions import is_metrics_disabled

    from leadeval.observability import logger, metrics

    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        logger.clear_state()
        if is_metrics_disabled():
            metrics.clear_metrics()


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


class LocalRunBusy(LeadevalError):
    """Another local run holds the database (see :class:`LocalRunLock`)."""

    code = "LocalRunBusy"


class LocalRunLock:
    """One database, one local run at a time: an exclusive ``flock`` on ``<database>.lock``.

    A second ``leadeval demo`` / ``evaluate`` / ``process`` on the same database stops at start with
    :class:`LocalRunBusy` naming the holder (pid, start time) instead of putting the first run's live jobs back
    to pending. The kernel releases the lock when its process ends, ``kill -9`` included, so the next run
    takes over at once and knows that jobs left in flight (and their in-progress idempotency records) are
    orphans. The lock file is kept (deleting it would let two runs lock two different files).

    Args:
        path: the lock file (created with its folder when missing).
        database: how the database is named in the message (a URL: its password is redacted).
    """

    def __init__(self, path: Path, database: str) -> None:
        self.path = path
        self.database = database
        self._handle: Any = None

    @classmethod
    def for_settings(cls, settings: Settings) -> LocalRunLock:
        """The lock of ``settings``' database: ``<file>.lock`` beside a SQLite file; for another database,
        ``.leadeval/local-run-<hash of its URL>.lock``."""
        if settings.database.kind == "sqlite":
            path = Path(f"{settings.sqlite_path()}.lock")
        else:
            digest = hashlib.sha256(settings.database_url.encode()).hexdigest()[:16]
            path = Path(".leadeval") / f"local-run-{digest}.lock"
        return cls(path, settings.database_url)

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._handle is not None

    def acquire(self) -> None:
        """Take the lock without waiting.

        Raises:
            LocalRunBusy: another process holds it (the message names its pid and start time).
        """
        import fcntl

        if self._handle is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held open for the run's lifetime
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise LocalRunBusy(f"another local run ({holder}) is using {self.database}: wait for it to finish "
                               f"or stop it, then try again (lock file {self.path})") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, started {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n")
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        """Release the lock (closing the file releases the ``flock``)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> LocalRunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def folder_documents(folder: Path, *, max_bytes: int, recursive: bool = True,
                     ) -> Iterator[tuple[str, bytes | None, str | None]]:
    """The documents of a local folder, read through :class:`~leadeval.adapters.storage.local.LocalDocumentStore`
    and its guard: ``(key, data, None)`` per readable file, ``(key, None, why)`` per skipped one.

    Links are never followed out of ``folder``: directories are walked without following links, and a file
    that is a link leading outside the folder (``/etc/hostname``…) is skipped ("a link leading outside the
    folder"), as is a file over ``max_bytes`` (bytes) or anything that is not a regular file. Hidden names
    (``.…``) are skipped silently. Keys are POSIX paths relative to ``folder``, in sorted order.
    """
    from leadeval.adapters.storage.local import LocalDocumentStore
    from leadeval.errors import DocumentMissing, DocumentTooLarge

    store = LocalDocumentStore(folder)
    keys: list[str] = []
    for top, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if recursive else []
        base = Path(top).relative_to(folder)
        keys.extend((base / name).as_posix() for name in files if not name.startswith("."))
    for key in sorted(keys):
        try:
            yield key, store.get(key, max_bytes=max_bytes), None
        except DocumentTooLarge:
            yield key, None, f"larger than {max_bytes} bytes (LEADEVAL_MAX_DOCUMENT_BYTES)"
        except DocumentMissing as exc:
            yield key, None, ("a link leading outside the folder" if "outside" in exc.message
                              else "not a regular file")


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


def start_moto(host: str, port: int) -> Any:
    """moto's server (SQS, S3, DynamoDB…) on ``host:port`` (0: a free port), started in a thread."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    return server


def create_queues(sqs: Any, *, visibility_timeout: int = 30, max_receive_count: int = 10) -> tuple[str, str]:
    """The jobs queue and its DLQ as the template makes them (redrive policy, 14-day DLQ retention), created
    (or found: CreateQueue is idempotent) on ``sqs``. Returns ``(queue_url, dlq_url)``."""
    dlq_url = sqs.create_queue(QueueName="leadeval-jobs-dlq",
                               Attributes={"MessageRetentionPeriod": "1209600"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(QueueName="leadeval-jobs", Attributes={
        "VisibilityTimeout": str(visibility_timeout),
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn,
                                     "maxReceiveCount": str(max_receive_count)})})["QueueUrl"]
    return queue_url, dlq_url


def load_bucket(s3: Any, bucket: str, settings: Settings) -> Path:
    """Create ``bucket`` and upload the local runs' documents folder (:func:`mirror_folder`) into it; returns
    the folder."""
    s3.create_bucket(Bucket=bucket)
    mirror = mirror_folder(settings)
    skipped = 0
    for key, data, _ in folder_documents(mirror, max_bytes=settings.max_document_bytes) if mirror.is_dir() else ():
        if data is None:
            skipped += 1
            continue
        s3.put_object(Bucket=bucket, Key=key, Body=data)
    if skipped:
        logger.warning("files of the documents folder not loaded (links leading outside it, oversized "
                       "or special files)", extra={"skipped": skipped})
    return mirror


def running_emulators(env: Mapping[str, str]) -> tuple[str, str, str] | None:
    """``(endpoint, queue_url, dlq_url)`` when ``env`` points at emulators already running (``leadeval
    emulators`` printed these: ``AWS_ENDPOINT_URL``, ``LEADEVAL_QUEUE_URL`` and ``LEADEVAL_DLQ_URL`` all set, the
    queues not Amazon SQS's); None: the local runtime starts its own moto server."""
    from leadeval_tools.redrive import is_local_endpoint

    endpoint, queue, dlq = (env.get(k) or "" for k in ("AWS_ENDPOINT_URL", "LEADEVAL_QUEUE_URL", "LEADEVAL_DLQ_URL"))
    if endpoint and queue and dlq and is_local_endpoint(queue) and is_local_endpoint(dlq):
        return endpoint, queue, dlq
    return None


def create_idempotency_table(endpoint: str, table: str) -> None:
    """The Powertools idempotency table as the template makes it (partition key ``id``, TTL on
    ``expiration``), on the DynamoDB of ``endpoint``."""
    import boto3

    dynamodb = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)
    if table in dynamodb.list_tables().get("TableNames", []):
        return
    dynamodb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                          KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])


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
                 max_receive_count: int = 10, bucket: str = "leadeval-documents",
                 lock: LocalRunLock | None = None) -> None:
        self.env = dict(env)
        self.lock = lock
        self._owns_lock = lock is None
        self.batch_size = batch_size
        self.visibility_timeout = visibility_timeout
        self.max_receive_count = max_receive_count
        self.bucket = bucket
        self.server: Any = None
        self.services: Wiring | None = None
        self.sqs: Any = None
        self.queue_url = self.dlq_url = self.queue_arn = ""
        self.invocations = {"sweep": 0, "worker": 0}

    def __enter__(self) -> LocalRuntime:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Wiring:
        """Take the database's :class:`LocalRunLock` (unless one was given), start moto, create the queues
        (and the bucket), and install the services the handlers use.

        Raises:
            LocalRunBusy: another local run holds the database.
        """
        if self.lock is None:
            self.lock = LocalRunLock.for_settings(Settings.from_env(self.env))
        self.lock.acquire()
        import boto3

        external = running_emulators(self.env)
        if external is None:
            self.server = start_moto("127.0.0.1", 0)
            host, port = self.server.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                               "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": endpoint}.items():
                os.environ[key] = value
            self.sqs = boto3.client("sqs", region_name=REGION, endpoint_url=endpoint)
            self.queue_url, self.dlq_url = create_queues(self.sqs, visibility_timeout=self.visibility_timeout,
                                                         max_receive_count=self.max_receive_count)
        else:  # `leadeval emulators` is running: use its queues, so what a command leaves there stays
            endpoint, self.queue_url, self.dlq_url = external
            self.sqs = boto3.client("sqs", region_name=REGION, endpoint_url=endpoint)
        self.queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        env = {**self.env, "LEADEVAL_QUEUE_URL": self.queue_url, "LEADEVAL_DLQ_URL": self.dlq_url,
               "AWS_ENDPOINT_URL": endpoint}
        mirror: Path | None = None
        if not env.get("LEADEVAL_DOCUMENTS_URL"):
            env["LEADEVAL_DOCUMENTS_URL"] = f"s3://{self.bucket}"
            mirror = load_bucket(boto3.client("s3", region_name=REGION, endpoint_url=endpoint), self.bucket,
                                 Settings.from_env(env))
        self.services = Wiring(Settings.from_env(env))
        if mirror is not None:
            self.services.replace(documents=MirroredDocumentStore(self.services.documents, mirror))
        wiring.install(self.services)  # the handlers' wiring.current() returns it
        return self.services

    def stop(self) -> None:
        """Stop moto, close the services and release the run lock (when this runtime took it)."""
        if self.services is not None:
            self.services.close()
        wiring.install(None)
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self._owns_lock and self.lock is not None:
            self.lock.release()

    # ------------------------------------------------------------------ invocations
    def sweep(self) -> dict[str, Any]:
        """Invoke the sweep handler once."""
        self.invocations["sweep"] += 1
        with handler_output():
            return load_handler("sweep")(scheduled_event(), FakeLambdaContext(timeout_seconds=60))

    def poll(self, *, wait_seconds: int = 0) -> int:
        """Receive one batch and invoke the worker handler with it; delete the records it did not
        report failed. Returns the number of records delivered."""
        from leadeval_tools.consumption import LocalConsumption

        if LocalConsumption().paused:
            return 0
        response = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=self.batch_size,
                                            WaitTimeSeconds=wait_seconds, AttributeNames=["All"],
                                            MessageAttributeNames=["All"])
        messages = response.get("Messages", [])
        if not messages:
            return 0
        self.invocations["worker"] += 1
        with handler_output():
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
        for job in self.services.store.list_jobs(status=JobStatus.PENDING, limit=1000):
            if job.state == JobState.SNOOZED and job.error_code == "ConfigurationError":
                raise ConfigurationError(f"{job.id}: {job.error_message}")

    def recover_orphans(self) -> int:
        """Put back to pending the jobs an earlier, interrupted local run left queued or processing: their
        messages were in that run's emulated queue, which is gone. Their in-progress idempotency records
        (SQLite) are deleted too, so the jobs run at once instead of waiting for those records to expire.
        Safe because this run holds the database's :class:`LocalRunLock`: no other local run is alive on it.
        Returns how many jobs were put back."""
        assert self.services is not None and self.lock is not None and self.lock.held
        from leadeval.adapters.idempotency import SqlitePersistenceLayer, sqlite_records_path
        from leadeval.timeutil import utcnow

        reset = getattr(self.services.store, "reset_in_flight", None)
        count = reset(now=utcnow()) if reset else 0
        records = sqlite_records_path(self.services.settings)
        cleared = 0
        if records is not None and records.exists():
            layer = SqlitePersistenceLayer(records)
            try:
                cleared = layer.delete_in_progress()
            finally:
                layer.close()
        if count or cleared:
            logger.warning("jobs left in flight by an interrupted local run were put back to pending",
                           extra={"jobs": count, "in_progress_records": cleared})
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
        from leadeval_tools.consumption import LocalConsumption

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
