"""The production adapters end to end: the real handlers over D1 (FakeD1), R2 (moto) and Workers AI (fake).

``test_sample_set_through_d1_r2_and_workers_ai`` runs the project's sample data once through
``handle_sweep`` / ``handle_worker`` with:

* the job store: ``D1JobStore`` speaking D1's REST protocol to :class:`~leadeval_tools.fakes.d1.FakeD1`
  (a real SQLite database behind an ``httpx.MockTransport``), whose request log gives the D1 budget;
* the documents: ``R2DocumentStore`` built by ``bootstrap`` from ``r2://BUCKET`` against moto's S3 on
  the account's R2 endpoint (``MOTO_S3_CUSTOM_ENDPOINTS``);
* the model: ``WorkersAIVisionModel`` talking to :class:`~leadeval_tools.fakes.workers_ai.FakeWorkersAI`, scripted
  per document with answers in the shapes Llama 3.2 Vision gives (bare JSON, fenced JSON with prose,
  JSON cut by ``max_tokens`` then a valid repair, empty answers) and the API's errors (429 with
  ``retry-after``, 502, 5016 licence not accepted);
* the queue: :class:`~leadeval_tools.fakes.memory.MemoryQueue` on a virtual clock shared with the handlers' clock,
  so snoozes and backoffs pass without waiting; one record per invocation (the template's default
  ``WorkerBatchSize``), so each invocation's D1 requests are one job delivery's.

``test_evaluate_stops_on_licence_error`` runs ``leadeval evaluate`` against a local HTTP server serving
the Workers AI fake, which answers 5016 to every call: the command must stop with the licence message
(exit code 2) after one model call instead of waiting for the snoozed job.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from moto import mock_aws

from leadeval import handlers
from leadeval.adapters.idempotency import SqlitePersistenceLayer
from leadeval.adapters.jobstore.d1 import D1JobStore, convert_named_params
from leadeval.adapters.jobstore.sql import load_queries
from leadeval.adapters.storage.s3 import R2DocumentStore
from leadeval.config import Settings
from leadeval.models import Extraction, JobState, JobStatus, PreparedDocument, Verdict
from leadeval.wiring import Wiring
from leadeval_tools.appdb import create_application_tables
from leadeval_tools.cli import _load_sample
from leadeval_tools.fakes.d1 import FakeD1
from leadeval_tools.fakes.memory import MemoryQueue
from leadeval_tools.fakes.workers_ai import WORKERS_AI_ERRORS, FakeReply, FakeWorkersAI, answer
from leadeval_tools.local import FakeLambdaContext, invoke_worker
from leadeval_tools.samples import EVENT_LEAD_ID, build_sample_set
from tests.helpers import NOW, load_event

pytestmark = pytest.mark.slow

ACCOUNT = "0123456789abcdef0123456789abcdef"
DATABASE = "5b4e1c2a-9d3f-4e8b-a1c7-2f6d8e0b9a13"
BUCKET = "leadeval-docs"
MODEL = "@cf/meta/llama-3.2-11b-vision-instruct"
API = "https://api.cloudflare.test/client/v4"
D1_TOKEN, AI_TOKEN = "d1-token", "ai-token"

PROMPT, COMPLETION = 1200, 180
"""Usage the fake reports for each answered request (a prompt with the schema and one document)."""
MAX_TOKENS = 1024
"""The adapter's ``max_tokens``: an answer cut by it reports exactly this many completion tokens."""


# --------------------------------------------------------------------------- model answers


def _facts_json(truth: dict[str, Any], *, indent: int | None = None) -> str:
    """The JSON a model gives for a document stating ``truth``: money as numbers, dates as ISO text."""
    def plain(key: str, value: Any) -> Any:
        if isinstance(value, list):
            return [plain(key, v) for v in value]
        if isinstance(value, str) and key not in ("names_shown", "employer") and value.replace(".", "", 1).isdigit():
            return float(value)
        return value

    return json.dumps({k: plain(k, v) for k, v in truth.items()}, indent=indent)


def bare(truth: dict[str, Any]) -> FakeReply:
    return answer(_facts_json(truth), prompt_tokens=PROMPT, completion_tokens=COMPLETION)


def fenced(truth: dict[str, Any]) -> FakeReply:
    text = ("Here is the extracted information in JSON format:\n\n```json\n"
            f"{_facts_json(truth, indent=2)}\n```\n\nLet me know if you need anything else.")
    return answer(text, prompt_tokens=PROMPT, completion_tokens=COMPLETION)


def truncated(truth: dict[str, Any]) -> FakeReply:
    pretty = _facts_json(truth, indent=2)
    return answer(pretty[: len(pretty) * 3 // 5], prompt_tokens=PROMPT, completion_tokens=MAX_TOKENS)


def empty() -> FakeReply:
    return answer("", prompt_tokens=PROMPT, completion_tokens=0)


LICENCE_PENDING = WORKERS_AI_ERRORS["licence_5016"]
"""Answered while :attr:`RoutedWorkersAI.licence_accepted` is False; dropped from a script once it is."""


class RoutedWorkersAI(FakeWorkersAI):
    """The Workers AI fake with one reply script per document (FIFO; the fake's default answer when a
    script runs out). :class:`DocumentAwareModel` names the document an extraction is for; requests
    still go through the real adapter and the fake's request validation."""

    def __init__(self, scripts: dict[str, list[FakeReply]]) -> None:
        super().__init__(account_id=ACCOUNT, api_token=AI_TOKEN, model=MODEL)
        self.scripts = {doc: list(replies) for doc, replies in scripts.items()}
        self.current: str | None = None
        self.licence_accepted = False
        self.calls_by_document: Counter[str] = Counter()

    def _next(self, request: httpx.Request, messages: list[dict[str, Any]], has_image: bool) -> FakeReply:
        assert self.current is not None
        self.calls_by_document[self.current] += 1
        script = self.scripts.get(self.current, [])
        if script and script[0] is LICENCE_PENDING:
            if not self.licence_accepted:
                return LICENCE_PENDING
            script.pop(0)
        if script:
            return script.pop(0)
        return super()._next(request, messages, has_image)


@dataclass
class DocumentAwareModel:
    """The real ``WorkersAIVisionModel``, telling the fake which document each extraction is for."""

    inner: Any
    fake: RoutedWorkersAI

    @property
    def name(self) -> str:
        return self.inner.name

    def extract(self, document: PreparedDocument) -> Extraction:
        self.fake.current = document.document_id
        try:
            return self.inner.extract(document)
        finally:
            self.fake.current = None


# --------------------------------------------------------------------------- D1 request names


def _request_names() -> dict[str, str]:
    """SQL text as D1JobStore sends it -> query name (of ``sqlite.sql``)."""
    return {convert_named_params(sql).sql: name for name, sql in load_queries("sqlite").items()}


def label_request(body: dict[str, Any], names: dict[str, str]) -> str:
    """A D1 request named by its first statement (``claim_job``, ``prior_submissions``, …)."""
    return names.get(body["batch"][0]["sql"], "?")


# --------------------------------------------------------------------------- the run


@dataclass
class Pipeline:
    services: Any
    fake_d1: FakeD1
    fake_ai: RoutedWorkersAI
    queue: MemoryQueue
    clock: list[float]
    names: dict[str, str] = field(default_factory=_request_names)
    deliveries: list[tuple[str, list[str]]] = field(default_factory=list)
    sweeps: list[tuple[dict[str, Any], list[str]]] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)

    def _requests_since(self, start: int) -> list[str]:
        return [label_request(body, self.names) for body in self.fake_d1.requests[start:]]

    def sweep(self) -> dict[str, Any]:
        start = len(self.fake_d1.requests)
        result = handlers.handle_sweep(load_event("sweep_scheduled.json"), FakeLambdaContext(timeout_seconds=60),
                                       self.services)
        self.sweeps.append((result, self._requests_since(start)))
        return result

    def work_visible(self) -> int:
        """Deliver every message visible now, one record per invocation; returns how many."""
        delivered = 0
        while messages := self.queue.receive(1):
            start = len(self.fake_d1.requests)
            result = invoke_worker(lambda event, context: handlers.handle_worker(event, context, self.services),
                                   self.queue.sqs_event(messages), FakeLambdaContext())
            job_id = json.loads(messages[0].body)["job_id"]
            self.deliveries.append((job_id, self._requests_since(start)))
            failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
            for m in messages:
                if m.message_id not in failed:
                    self.queue.delete(m.receipt_handle)
            delivered += 1
        return delivered

    def advance_to_next_message(self) -> bool:
        """Move the virtual clock to the next delayed message; False when the queue is empty."""
        if not self.queue.messages:
            return False
        self.clock[0] = max(self.clock[0], min(m.visible_at for m in self.queue.messages.values()))
        return True


@pytest.fixture(name="pipeline")
def _pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("MOTO_S3_CUSTOM_ENDPOINTS", f"https://{ACCOUNT}.r2.cloudflarestorage.com")

    clock = [0.0]
    # the replies below are scripted per application scenario: the sample events' job is left out
    sample = build_sample_set(today=NOW.date()).without_lead(EVENT_LEAD_ID)
    truth = {d.id: d.truth for d in sample.documents}
    fake_ai = RoutedWorkersAI({
        # job_sunrise_strong: every answer shape that parses, and one repair
        "doc_strong_stub_1": [bare(truth["doc_strong_stub_1"])],
        "doc_strong_stub_2": [fenced(truth["doc_strong_stub_2"])],
        "doc_strong_bank": [truncated(truth["doc_strong_bank"]), bare(truth["doc_strong_bank"])],
        "doc_strong_id": [bare(truth["doc_strong_id"])],
        # job_sunrise_moderate: throttled once (snooze, no attempt), then answered
        "doc_moderate_stub": [WORKERS_AI_ERRORS["rate_limited_429"], bare(truth["doc_moderate_stub"])],
        "doc_moderate_bank": [bare(truth["doc_moderate_bank"])],
        # job_sunrise_id_only: its only document gets two empty answers
        "doc_id_only_id": [empty(), empty()],
        # job_maple_low: one document usable, the other unusable
        "doc_low_stub": [bare(truth["doc_low_stub"])],
        "doc_low_letter": [empty(), empty()],
        # job_maple_voucher: the licence is not accepted yet, then it is
        "doc_voucher_letter": [LICENCE_PENDING, bare(truth["doc_voucher_letter"])],
        "doc_voucher_stub": [fenced(truth["doc_voucher_stub"])],
        # job_maple_tampered: a 502 (retry, attempt used), then a fenced answer
        "doc_tampered_stub": [WORKERS_AI_ERRORS["bad_gateway_502"], fenced(truth["doc_tampered_stub"])],
    })
    fake_d1 = FakeD1(tmp_path / "d1.db", account_id=ACCOUNT, database_id=DATABASE, api_token=D1_TOKEN)
    store = D1JobStore(account_id=ACCOUNT, database_id=DATABASE, api_token=D1_TOKEN, base_url=API,
                       client=httpx.Client(transport=httpx.MockTransport(fake_d1)),
                       token_variable="CLOUDFLARE_D1_API_TOKEN")
    model = DocumentAwareModel(fake_ai.vision_model(base_url=API, token_variable="CLOUDFLARE_AI_API_TOKEN"),
                               fake_ai)
    queue = MemoryQueue(visibility_timeout=720, clock=lambda: clock[0])
    settings = Settings.from_env({
        "LEADEVAL_DATABASE_URL": f"d1://{ACCOUNT}/{DATABASE}", "LEADEVAL_DOCUMENTS_URL": f"r2://{BUCKET}",
        "LEADEVAL_MODEL_URL": f"workers-ai:{MODEL}", "LEADEVAL_CLOUDFLARE_API_URL": API,
        "CLOUDFLARE_ACCOUNT_ID": ACCOUNT, "CLOUDFLARE_D1_API_TOKEN": D1_TOKEN, "CLOUDFLARE_AI_API_TOKEN": AI_TOKEN,
        "R2_ACCESS_KEY_ID": "r2-key-id", "R2_SECRET_ACCESS_KEY": "r2-secret",
        "LEADEVAL_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/leadeval-jobs",
    })
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        services = Wiring(settings, store=store, model=model, queue=queue,
                          idempotency_store=SqlitePersistenceLayer(tmp_path / "idempotency.db"),
                          clock=lambda: NOW + timedelta(seconds=clock[0]))
        assert isinstance(services.documents, R2DocumentStore)  # built from r2:// by the wiring
        pipeline = Pipeline(services, fake_d1, fake_ai, queue, clock)
        monkeypatch.setattr(handlers.metrics, "add_metric",
                            lambda *, name, unit, value, **_: pipeline.metrics.extend([name] * int(value)))
        create_application_tables(store)
        store.migrate()
        _load_sample(services, sample)
        yield pipeline
        services.close()
        fake_d1.close()


# The D1 requests of one job delivery, by outcome (first statement of each batch request).
# The claim batch starts with reject_job (a row no sweep has admitted yet fails alone), the result write with
# leadeval's details (insert_evaluation_details, then the application's row).
# The reuse lookup (prior_submissions) rides along the result write of a job that is scored (issues 13, 14).
COMPLETED = ["reject_job", "insert_evaluation_details"]
SNOOZED_OR_RETRIED = ["reject_job", "retry_later"]
FAILED_AFTER_READING = ["reject_job", "fail_job"]
FAILED_BEFORE_READING = ["reject_job", "fail_job"]

#: job -> (status, error_code, attempts, retry_count, D1 requests of each delivery in order)
EXPECTED: dict[str, tuple[JobStatus, str | None, int, int, list[list[str]]]] = {
    "job_sunrise_strong": (JobStatus.COMPLETED, None, 1, 0, [COMPLETED]),
    "job_sunrise_moderate": (JobStatus.COMPLETED, None, 1, 0, [SNOOZED_OR_RETRIED, COMPLETED]),
    "job_sunrise_id_only": (JobStatus.FAILED, "ModelOutputInvalid", 1, 1, [FAILED_AFTER_READING]),
    "job_maple_low": (JobStatus.COMPLETED, None, 1, 0, [COMPLETED]),
    "job_maple_voucher": (JobStatus.COMPLETED, None, 1, 0, [SNOOZED_OR_RETRIED, COMPLETED]),
    "job_maple_tampered": (JobStatus.COMPLETED, None, 2, 1, [SNOOZED_OR_RETRIED, COMPLETED]),
    "job_maple_corrupt": (JobStatus.FAILED, "DocumentUnreadable", 1, 1, [FAILED_BEFORE_READING]),
    "job_harbor_quota": (JobStatus.FAILED, "QuotaExceeded", 1, 1, [FAILED_BEFORE_READING]),
    "job_sunrise_cross_site": (JobStatus.FAILED, "ResourceNotFound", 1, 1, [FAILED_BEFORE_READING]),
    "job_sunrise_missing_lead": (JobStatus.FAILED, "ResourceNotFound", 1, 1, [FAILED_BEFORE_READING]),
}

#: completed job -> (model requests answered, completion tokens): usage summed over its answered requests
EXPECTED_USAGE = {
    "job_sunrise_strong": (5, 4 * COMPLETION + MAX_TOKENS),  # stub, stub, bank (cut + repair), ID
    "job_sunrise_moderate": (2, 2 * COMPLETION),  # the 429 has no usage
    "job_maple_low": (3, COMPLETION),  # stub, then two empty answers for the letter
    "job_maple_voucher": (2, 2 * COMPLETION),  # the 5016 has no usage
    "job_maple_tampered": (1, COMPLETION),  # the 502 has no usage
}


def test_sample_set_through_d1_r2_and_workers_ai(pipeline: Pipeline) -> None:
    p = pipeline
    store = p.services.store

    # --- first pass, before any delay has passed (licence not accepted yet)
    first_sweep = p.sweep()
    assert (first_sweep["claimed"], first_sweep["sent"], first_sweep["sqs_calls"]) == (10, 10, 1)
    assert p.work_visible() == 10

    moderate, voucher = store.get_job("job_sunrise_moderate"), store.get_job("job_maple_voucher")
    assert (moderate.state, moderate.error_code, moderate.attempts, moderate.retry_count) == (
        JobState.SNOOZED, "Throttled", 0, 0)
    assert (voucher.state, voucher.error_code, voucher.attempts, voucher.retry_count) == (
        JobState.SNOOZED, "ConfigurationError", 0, 0)
    assert "5016" in voucher.error_message and """'{"prompt":"agree"}'""" in voucher.error_message
    assert p.metrics.count("ConfigurationErrors") == 1
    delays = {json.loads(m.body)["job_id"]: m.visible_at - p.clock[0] for m in p.queue.messages.values()}
    assert delays["job_sunrise_moderate"] == 17  # the 429's retry-after
    assert delays["job_maple_voucher"] == 300  # ConfigurationError snooze
    assert set(delays) == {"job_sunrise_moderate", "job_maple_voucher", "job_maple_tampered"}

    # --- the account owner accepts the licence; time passes until every delayed message is back
    p.fake_ai.licence_accepted = True
    rounds = 0
    while p.advance_to_next_message():
        rounds += 1
        assert rounds <= 10, "jobs keep coming back"
        p.work_visible()
    last_sweep = p.sweep()
    assert last_sweep["claimed"] == 0

    # every job's final state, and the D1 requests of each of its deliveries
    for job_id, (status, error_code, attempts, retry_count, requests) in EXPECTED.items():
        job = store.get_job(job_id)
        assert (job.status, job.error_code, job.attempts, job.retry_count) == (
            status, error_code, attempts, retry_count), job_id
        assert [names for j, names in p.deliveries if j == job_id] == requests, job_id
    assert len(p.deliveries) == 13
    assert max(len(names) for _, names in p.deliveries) == 2  # D1 requests per delivery: claim, then one write
    assert [names for _, names in p.sweeps] == [["reject_new_rows"], ["reject_new_rows"]]  # 1 per sweep
    assert all(len(body["batch"]) == 6 for body in p.fake_d1.requests if label_request(body, p.names)
               == "reject_new_rows")  # admission x2, rescue x3 + claim: one request whatever the job count
    assert p.queue.dlq == [] and p.queue.messages == {}
    assert p.metrics.count("ConfigurationErrors") == 1

    # one evaluation per completed job, none for failed ones
    db = sqlite3.connect(p.fake_d1.db_path)
    per_job = dict(db.execute("SELECT x.job_id, count(*) FROM lead_ai_evaluations e JOIN leadeval_evaluations x "
                              "ON x.evaluation_id = e.id GROUP BY x.job_id").fetchall())
    db.close()
    assert per_job == dict.fromkeys(EXPECTED_USAGE, 1)

    # token usage and model version on every evaluation
    for job_id, (requests, completion_tokens) in EXPECTED_USAGE.items():
        evaluation = store.get_evaluation(job_id)
        assert store.get_job(job_id).evaluation_id == evaluation.id
        assert (evaluation.model, evaluation.model_version) == (f"workers-ai:{MODEL}", MODEL), job_id
        assert (evaluation.prompt_tokens, evaluation.completion_tokens) == (
            requests * PROMPT, completion_tokens), job_id

    # model calls per document: repairs and retries included, none for documents never read
    assert dict(p.fake_ai.calls_by_document) == {
        "doc_strong_stub_1": 1, "doc_strong_stub_2": 1, "doc_strong_bank": 2, "doc_strong_id": 1,
        "doc_moderate_stub": 2, "doc_moderate_bank": 1, "doc_id_only_id": 2,
        "doc_low_stub": 1, "doc_low_letter": 2, "doc_voucher_letter": 2, "doc_voucher_stub": 1,
        "doc_tampered_stub": 2}
    assert all(not replies for replies in p.fake_ai.scripts.values())  # every scripted reply was used

    # the unusable document is undetermined with its reason; the others of that job were read
    low = {d.document_id: d for d in store.get_evaluation("job_maple_low").documents}
    assert (low["doc_low_letter"].verdict, low["doc_low_letter"].reason) == (
        Verdict.UNDETERMINED, "model answer unusable")
    assert low["doc_low_stub"].verdict != Verdict.UNDETERMINED and low["doc_low_stub"].facts is not None
    strong = store.get_evaluation("job_sunrise_strong")
    assert [d.reason for d in strong.documents] == ["facts extracted"] * 4
    id_only = store.get_job("job_sunrise_id_only")
    assert id_only.error_message == "no document yielded valid facts (1 model answers unusable)"


# --------------------------------------------------------------------------- leadeval evaluate


class _FakeServer:
    """A ``ThreadingHTTPServer`` on 127.0.0.1 answering with a Workers AI fake (the real HTTP client
    of the adapter talks to it). A request the fake rejects is answered 500 and kept in ``errors``."""

    def __init__(self, fake: FakeWorkersAI) -> None:
        errors: list[str] = []
        self.errors = errors

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = httpx.Request("POST", f"http://127.0.0.1{self.path}", headers=dict(self.headers.items()),
                                        content=body)
                try:
                    response = fake(request)
                except AssertionError as exc:
                    errors.append(str(exc))
                    response = httpx.Response(500, json={"success": False, "errors": [{"code": 0,
                                                                                       "message": str(exc)}]})
                content = response.read()
                self.send_response(response.status_code)
                for name, value in response.headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/client/v4"

    def __enter__(self) -> _FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class _AlwaysLicence(FakeWorkersAI):
    """Every call answers 5016: the account has not accepted the model's licence."""

    def _next(self, request: httpx.Request, messages: list[dict[str, Any]], has_image: bool) -> FakeReply:
        return WORKERS_AI_ERRORS["licence_5016"]


def test_evaluate_stops_on_licence_error(tmp_path: Path, aws_credentials: None) -> None:
    from typer.testing import CliRunner

    from leadeval.adapters.jobstore.sqlite import SqliteJobStore
    from leadeval_tools.cli import app

    sample = build_sample_set(today=NOW.date())
    stub = next(d for d in sample.documents if d.id == "doc_low_stub")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "paystub.pdf").write_bytes(sample.files[stub.storage_key])
    fake = _AlwaysLicence(account_id=ACCOUNT, api_token=AI_TOKEN, model=MODEL)
    saved = dict(os.environ)
    for name in ("LEADEVAL_DOCUMENTS_URL", "LEADEVAL_QUEUE_URL", "LEADEVAL_DLQ_URL", "CLOUDFLARE_AI_API_TOKEN"):
        os.environ.pop(name, None)
    try:
        with _FakeServer(fake) as server:
            env = {"LEADEVAL_DATABASE_URL": f"sqlite:///{tmp_path}/leadeval.db",
                   "LEADEVAL_MODEL_URL": f"workers-ai:{MODEL}", "LEADEVAL_CLOUDFLARE_API_URL": server.base_url,
                   "CLOUDFLARE_ACCOUNT_ID": ACCOUNT, "CLOUDFLARE_API_TOKEN": AI_TOKEN,
                   "POWERTOOLS_METRICS_DISABLED": "true"}
            result = CliRunner().invoke(app, ["evaluate", str(docs), "--monthly-rent", "1450", "--first-name",
                                              "Priya", "--last-name", "Raman", "--timeout", "60"], env=env)
    finally:
        os.environ.clear()
        os.environ.update(saved)

    assert server.errors == []
    assert result.exit_code == 2, result.output
    flat = "".join(result.output.split())  # Rich wraps long lines
    assert "Configurationerror,stopping:" in flat
    assert "code5016" in flat and "licencehasnotbeenaccepted" in flat
    assert f"""curl-XPOST{server.base_url}/accounts/$CLOUDFLARE_ACCOUNT_ID/ai/run/{MODEL}""" in flat
    assert """-d'{"prompt":"agree"}'""" in flat
    assert fake.calls == 1  # stopped after the first answer, never asked again
    store = SqliteJobStore(tmp_path / "leadeval.db")
    try:
        (job,) = store.list_jobs(limit=10)
        assert (job.state, job.error_code, job.attempts, job.retry_count) == (
            JobState.SNOOZED, "ConfigurationError", 0, 0)
    finally:
        store.close()
