"""leadeval runs on the application's own database: the application's schema is a contract.

Over SQLite, the D1 fake and PostgreSQL: the application's tables are created from the application's schema
(the application's own copy when it is beside the repository, else leadeval's copy of it,
``tools/leadeval_tools/sql/application_schema.sqlite.sql``)
and from a variant of our own with extra columns, foreign keys, indexes and CHECK constraints in the
application's vocabulary (``data/application_schema_variant.sql``); ``db migrate`` runs twice; the
application inserts its rows the way it does (the original processor's manual-test INSERT for the job);
the real sweep and worker handlers run; and every column the application reads is checked, the three JSON
columns against their schemas (``docs/schemas``). Then the edge cases: every timestamp format, an
unreadable timestamp beside good jobs, ``max_retries`` 1 and 7, a ``model_version`` outside the allow-list.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from leadeval.adapters.ai.offline import MODEL_VERSION, OfflineVisionModel
from leadeval.adapters.idempotency import SqlitePersistenceLayer
from leadeval.adapters.jobstore.sql import Statement, split_sql_script
from leadeval.config import Settings
from leadeval.errors import ModelUnavailableError
from leadeval.handlers import handle_sweep, handle_worker
from leadeval.jobs.model_choice import ModelRouter
from leadeval.models import Extraction
from leadeval.timeutil import format_ts, parse_ts, utcnow
from leadeval.wiring import Wiring
from leadeval_tools.appdb import application_schema, create_application_tables
from leadeval_tools.fakes.memory import MemoryDocumentStore, MemoryQueue, ScriptedVisionModel
from leadeval_tools.local import FakeLambdaContext
from leadeval_tools.samples import SampleSet, build_sample_set
from tests.conftest import REPO_ROOT
from tests.contract.conftest import FACTORIES
from tests.helpers import paystub_facts, text_pdf

SHARED = REPO_ROOT.parent / "shared"
VARIANT = Path(__file__).parent / "data" / "application_schema_variant.sql"
SCHEMAS = REPO_ROOT / "docs" / "schemas"
STATUSES = {"pending", "processing", "completed", "failed"}

#: The original job processor's manual test (its section "1. Create test job manually"), verbatim.
MANUAL_TEST_INSERT = """INSERT INTO ai_evaluation_jobs (
  id, lead_id, site_id, status,
  requested_by, requested_at,
  model_version, created_at, updated_at
) VALUES (
  'job_test123',
  'lead_existing',
  'site_abc',
  'pending',
  'user_test',
  datetime('now'),
  '@cf/meta/llama-3.2-11b-vision-instruct',
  datetime('now'),
  datetime('now')
);"""

#: The application's own inserts of a lead, its documents and its usage row (its columns only).
INSERT_LEAD = ("INSERT INTO leads (id, site_id, first_name, last_name, email, phone, move_in_date, monthly_rent) "
               "VALUES (:id, :site_id, :first, :last, :email, :phone, :move_in, :rent)")
INSERT_DOCUMENT = ("INSERT INTO lead_documents (id, lead_id, document_type, storage_key, mime_type, uploaded_at) "
                   "VALUES (:id, :lead_id, :type, :key, :mime, :uploaded_at)")
INSERT_USAGE = ("INSERT INTO ai_evaluation_usage (site_id, month, evaluation_count, quota_limit) "
                "VALUES (:site_id, :month, :count, :quota)")
INSERT_JOB = ("INSERT INTO ai_evaluation_jobs (id, lead_id, site_id, status, requested_by, requested_at, "
              "model_version, created_at, updated_at) VALUES (:id, :lead_id, :site_id, 'pending', 'user_test', "
              ":requested_at, :model_version, :requested_at, :requested_at)")


# --------------------------------------------------------------------------- helpers


def schema_script(schema: str, dialect: str) -> str:
    """The application's DDL as the application runs it: its own schema (as it gives it when it is beside us;
    leadeval's copy otherwise, and leadeval's PostgreSQL version on PostgreSQL), or our variant of it."""
    if schema == "variant":
        suffix = ".postgresql.sql" if dialect == "postgresql" else ".sql"
        return VARIANT.with_name(VARIANT.stem + suffix).read_text("utf-8")
    shared = SHARED / "reference" / "application-schema.sql"
    if dialect != "postgresql" and shared.is_file():
        return shared.read_text("utf-8")
    return application_schema(dialect)


def raw(store: Any, sql: str, **params: Any) -> list[dict[str, Any]]:
    return store.executor.execute_batch([Statement("application", sql, params)])[0]


def create_as_the_application(store: Any, script: str) -> None:
    """Run the application's DDL through the store's executor."""
    statements = [Statement(f"app#{i}", sql) for i, sql in enumerate(split_sql_script(script), 1)]
    store.executor.execute_batch(statements)


@dataclass
class Backend:
    name: str
    store: Any
    extra: Any


@pytest.fixture(name="backend", params=list(FACTORIES))
def _backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A store of each backend on an EMPTY database (no application tables, nothing migrated)."""
    try:
        store, extra = FACTORIES[request.param](tmp_path)
    except ModuleNotFoundError as exc:
        pytest.skip(f"{request.param} backend not available: {exc}")
    yield Backend(request.param, store, extra)
    if callable(extra) and request.param == "postgres":
        extra()
    else:
        store.close()


@dataclass
class Pipeline:
    """The real sweep and worker handlers over a store, with an in-memory queue and document store."""

    services: Wiring
    queue: MemoryQueue
    documents: MemoryDocumentStore

    def run(self, rounds: int = 8) -> None:
        """Sweep, then work every visible message, ``rounds`` times (retries come back at once: the queue's
        delays are skipped by re-sending what was delayed)."""
        for _ in range(rounds):
            handle_sweep({}, None, self.services)
            while messages := self.queue.receive(10):
                answer = handle_worker(self.queue.sqs_event(messages), FakeLambdaContext(), self.services)
                failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
                for m in messages:
                    if m.message_id not in failed:
                        self.queue.delete(m.receipt_handle or "")
                    else:  # a retry: make it visible again now (the backoff is the queue's business)
                        self.queue.change_visibility(m.receipt_handle or "", 0)
            for m in self.queue.messages.values():  # snoozed/delayed copies: deliver them now
                m.visible_at = min(m.visible_at, self.queue.now())


def pipeline(store: Any, tmp_path: Path, *, model: Any = None, models: ModelRouter | None = None,
             env: dict[str, str] | None = None) -> Pipeline:
    queue, documents = MemoryQueue(), MemoryDocumentStore()
    settings = Settings.from_env({"LEADEVAL_DATABASE_URL": f"sqlite:///{tmp_path}/unused.db",
                                  "LEADEVAL_RETRY_BASE_SECONDS": "1", "LEADEVAL_RETRY_CAP_SECONDS": "1",
                                  **(env or {})})
    overrides: dict[str, Any] = {"store": store, "queue": queue, "documents": documents,
                                 "model": model or OfflineVisionModel(),
                                 "idempotency_store": SqlitePersistenceLayer(tmp_path / "idempotency.db")}
    if models is not None:
        overrides["models"] = models
    return Pipeline(Wiring(settings, **overrides), queue, documents)


def add_application_rows(store: Any, p: Pipeline, sample: SampleSet, *, lead_id: str, site_id: str,
                         sample_lead: str = "lead_sunrise_strong", quota: tuple[int, int] = (3, 100)) -> None:
    """The application's lead (the sample's applicant), its documents (stored) and its usage row."""
    lead = sample.lead(sample_lead)
    raw(store, INSERT_LEAD, id=lead_id, site_id=site_id, first=lead.first_name, last=lead.last_name,
        email=lead.email, phone=lead.phone, move_in=lead.move_in_date.isoformat() if lead.move_in_date else None,
        rent=lead.monthly_rent_cents / 100)
    for i, doc in enumerate(sample.documents_of(sample_lead)):
        key = f"{site_id}/{lead_id}/{doc.id}/{doc.file_name}"
        p.documents.put(key, sample.files[doc.storage_key])
        raw(store, INSERT_DOCUMENT, id=f"{lead_id}-{doc.id}", lead_id=lead_id, type=doc.document_type, key=key,
            mime=doc.mime_type, uploaded_at=(utcnow() - timedelta(minutes=10 + i)).strftime("%Y-%m-%d %H:%M:%S"))
    for month in {utcnow().strftime("%Y-%m"), (utcnow() - timedelta(days=3)).strftime("%Y-%m")}:
        existing = raw(store, "SELECT 1 AS x FROM ai_evaluation_usage WHERE site_id = :s AND month = :m",
                       s=site_id, m=month)
        if not existing:
            raw(store, INSERT_USAGE, site_id=site_id, month=month, count=quota[0], quota=quota[1])


def validate_json_columns(row: dict[str, Any]) -> dict[str, Any]:
    """Each JSON column parses and validates against its schema; returns them parsed."""
    parsed = {}
    for column in ("risk_flags", "fraud_signals", "extracted_data"):
        schema = json.loads((SCHEMAS / f"{column}.v1.schema.json").read_text("utf-8"))
        value = json.loads(row[column])
        jsonschema.validate(value, schema, format_checker=jsonschema.FormatChecker())
        parsed[column] = value
    return parsed


def iso(value: Any) -> datetime:
    parsed = parse_ts(value)
    assert parsed is not None
    return parsed


# --------------------------------------------------------------------------- the schema itself


def test_leadevals_copy_is_the_applications_schema() -> None:
    """leadeval creates the application's tables from its own copy: the same statements as the application's."""
    shared = SHARED / "reference" / "application-schema.sql"
    if not shared.is_file():
        pytest.skip("the application's schema is not beside the repository")
    assert split_sql_script(application_schema("sqlite")) == split_sql_script(shared.read_text("utf-8"))


def test_manual_test_insert_is_the_original_processors() -> None:
    """MANUAL_TEST_INSERT is the original processor's manual test, character for character."""
    seed = SHARED / "seed" / "task-2.3-cron-job-processor.md"
    if not seed.is_file():
        pytest.skip("the original processor's spec is not beside the repository")
    match = re.search(r"```sql\n(INSERT INTO ai_evaluation_jobs.*?;)\n```", seed.read_text("utf-8"), re.S)
    assert match is not None and match.group(1) == MANUAL_TEST_INSERT


def test_migrate_refuses_a_database_without_the_applications_tables(backend: Backend) -> None:
    """Pointed at an empty database, db migrate says what is wrong instead of inventing the tables."""
    from leadeval.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match=r"application's tables are missing.*db init"):
        backend.store.migrate()


# --------------------------------------------------------------------------- the contract


@pytest.mark.parametrize("schema", ["application", "variant"])
def test_migrate_only_adds_and_a_job_runs_as_the_application_expects(backend: Backend, schema: str,
                                                                       tmp_path: Path) -> None:
    store = backend.store
    create_as_the_application(store, schema_script(schema, store.executor.dialect))
    before = _columns(store)

    applied = store.migrate()
    assert applied and store.migrate() == []

    after = _columns(store)
    for table, columns in before.items():  # every application column kept, with its type; only leadeval_* added
        assert {c: t for c, t in after[table].items() if c in columns} == columns, table
        assert all(c.startswith("leadeval_") for c in set(after[table]) - set(columns)), table

    p = pipeline(store, tmp_path)
    sample = build_sample_set(today=utcnow().date())
    add_application_rows(store, p, sample, lead_id="lead_existing", site_id="site_abc")
    insert = MANUAL_TEST_INSERT
    if backend.name == "postgres":  # the application's own PostgreSQL has no datetime(): it writes its now()
        insert = insert.replace("datetime('now')", "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')")
    raw(store, insert.rstrip(";"))
    requested = raw(store, "SELECT requested_at, created_at FROM ai_evaluation_jobs WHERE id = 'job_test123'")[0]

    p.run()

    job = raw(store, "SELECT * FROM ai_evaluation_jobs WHERE id = 'job_test123'")[0]
    assert (job["status"], job["lead_id"], job["site_id"], job["requested_by"], job["model_version"]) == (
        "completed", "lead_existing", "site_abc", "user_test", "@cf/meta/llama-3.2-11b-vision-instruct")
    assert (job["retry_count"], job["max_retries"], job["error_code"], job["error_message"]) == (0, 3, None, None)
    assert (job["requested_at"], job["created_at"]) == (requested["requested_at"], requested["created_at"])
    assert iso(job["requested_at"]) <= iso(job["started_at"]) <= iso(job["completed_at"]) == iso(job["updated_at"])
    assert job["evaluation_id"].startswith("eval_") and len(job["evaluation_id"]) == len("eval_") + 21

    evaluation = raw(store, "SELECT * FROM lead_ai_evaluations WHERE id = :id", id=job["evaluation_id"])[0]
    assert (evaluation["lead_id"], evaluation["site_id"], evaluation["score"], evaluation["label"],
            evaluation["recommendation"]) == ("lead_existing", "site_abc", 90, "A", "approve")
    assert evaluation["summary"] and evaluation["model_version"] == MODEL_VERSION
    assert evaluation["evaluated_at"] == evaluation["created_at"] == evaluation["updated_at"] == job["completed_at"]
    parsed = validate_json_columns(evaluation)
    assert parsed["extracted_data"]["score"] == 90 and parsed["extracted_data"]["model"] == "offline"
    rent = sample.lead("lead_sunrise_strong").monthly_rent_cents
    assert parsed["extracted_data"]["income"]["monthly_rent_cents"] == rent
    verdicts = {d["file_name"]: d["verdict"] for d in parsed["fraud_signals"]["documents"]}
    # the text PDFs are read; the ID card is an image, which the offline reader leaves to a vision model
    assert verdicts == {d.file_name: "undetermined" if d.mime_type == "image/png" else "clean"
                        for d in sample.documents_of("lead_sunrise_strong")}

    lead = raw(store, "SELECT ai_score, ai_label, status, updated_at FROM leads WHERE id = 'lead_existing'")[0]
    assert (lead["ai_score"], lead["ai_label"], lead["status"]) == (90, "A", "ai_evaluated")
    assert lead["updated_at"] == job["completed_at"]
    assert {r["status"] for r in raw(store, "SELECT DISTINCT status FROM ai_evaluation_jobs")} <= STATUSES


def test_re_evaluation_adds_a_row_and_moves_the_lead_to_it(backend: Backend, tmp_path: Path) -> None:
    """A second job for the lead (a re-evaluation) adds a second evaluation row; the lead shows the newest;
    the first row stays as history."""
    store = backend.store
    create_application_tables(store)
    store.migrate()
    p = pipeline(store, tmp_path)
    sample = build_sample_set(today=utcnow().date())
    add_application_rows(store, p, sample, lead_id="lead_1", site_id="site_1")
    now = utcnow()
    raw(store, INSERT_JOB, id="job_first", lead_id="lead_1", site_id="site_1", model_version=None,
        requested_at=format_ts(now - timedelta(minutes=2)))
    p.run()
    reevaluation = store.reevaluate("lead_1", now=utcnow(), requested_by="user_test")
    assert reevaluation.status == "created" and reevaluation.job is not None
    p.run()

    rows = raw(store, "SELECT id, score FROM lead_ai_evaluations WHERE lead_id = 'lead_1' ORDER BY created_at")
    assert len(rows) == 2
    second = raw(store, "SELECT evaluation_id FROM ai_evaluation_jobs WHERE id = :id", id=reevaluation.job.id)[0]
    assert second["evaluation_id"] == rows[1]["id"] != rows[0]["id"]
    assert raw(store, "SELECT status FROM leads WHERE id = 'lead_1'")[0]["status"] == "ai_evaluated"


def test_manual_test_insert_runs_verbatim_before_and_after_migrate(backend: Backend, tmp_path: Path) -> None:
    """On a database leadeval creates (`db init`), the application's manual-test INSERT runs exactly as
    written, before leadeval's migrations and after them, and `leadeval process` completes the job."""
    store = backend.store
    assert create_application_tables(store) is True
    assert create_application_tables(store) is False  # the second time: they exist
    raw(store, MANUAL_TEST_INSERT.rstrip(";"))  # before db migrate
    assert store.migrate()
    raw(store, "DELETE FROM ai_evaluation_jobs WHERE id = 'job_test123'")
    raw(store, MANUAL_TEST_INSERT.rstrip(";"))  # after
    p = pipeline(store, tmp_path)
    add_application_rows(store, p, build_sample_set(today=utcnow().date()), lead_id="lead_existing",
                         site_id="site_abc")
    p.run()
    job = store.get_job("job_test123")
    assert job is not None and (job.status, job.error_code) == ("completed", None)


# --------------------------------------------------------------------------- edge cases


@pytest.fixture(name="migrated")
def _migrated(backend: Backend) -> Backend:
    create_application_tables(backend.store)
    backend.store.migrate()
    return backend


FORMATS = {
    "sqlite datetime('now')": "%Y-%m-%d %H:%M:%S",
    "ISO with Z": "%Y-%m-%dT%H:%M:%SZ",
    "ISO with milliseconds and Z": "%Y-%m-%dT%H:%M:%S.123Z",
    "ISO with +00:00": "%Y-%m-%dT%H:%M:%S+00:00",
    "ISO with +0000": "%Y-%m-%dT%H:%M:%S+0000",
    "ISO with microseconds and +00:00": "%Y-%m-%dT%H:%M:%S.123456+00:00",
}


def test_every_timestamp_format_the_application_writes_is_read(migrated: Backend, tmp_path: Path) -> None:
    """Jobs whose requested_at has each format, plus one unreadable beside them in the same sweep: the good
    ones complete; the bad one alone fails InvalidJobRow with a clear message, and nothing is left pending."""
    store = migrated.store
    p = pipeline(store, tmp_path)
    sample = build_sample_set(today=utcnow().date())
    at = utcnow() - timedelta(hours=1)
    add_application_rows(store, p, sample, lead_id="lead_1", site_id="site_1")
    for i, fmt in enumerate(FORMATS.values()):
        raw(store, INSERT_JOB, id=f"job_{i}", lead_id="lead_1", site_id="site_1", model_version=None,
            requested_at=at.strftime(fmt))
    raw(store, INSERT_JOB, id="job_bad", lead_id="lead_1", site_id="site_1", model_version=None,
        requested_at="yesterday at noon")

    outcome = store.sweep(now=utcnow(), limit=100, lease_seconds=300, rescue_after_seconds=3600)

    assert sorted(j.id for j in outcome.claimed) == [f"job_{i}" for i in range(len(FORMATS))]
    assert [(r.id, r.reason) for r in outcome.rejected] == [
        ("job_bad", "requested_at is not a timestamp leadeval can read (ISO 8601 or YYYY-MM-DD HH:MM:SS)")]
    for job in outcome.claimed:
        assert job.requested_at is not None and abs(job.requested_at - at) < timedelta(seconds=1)
    bad = raw(store, "SELECT status, error_code, requested_at FROM ai_evaluation_jobs WHERE id = 'job_bad'")[0]
    assert bad == {"status": "failed", "error_code": "InvalidJobRow", "requested_at": "yesterday at noon"}


def test_a_message_for_a_job_no_sweep_has_seen_reads_its_timestamp_or_fails_it_alone(migrated: Backend) -> None:
    """The worker's claim admits a row the sweep has not seen (a message sent by hand): it parses the
    application's requested_at; an unreadable one fails that job InvalidJobRow and the claim says so."""
    from leadeval.models import JobMessage

    store = migrated.store
    raw(store, INSERT_LEAD, id="lead_1", site_id="site_1", first="A", last="B", email=None, phone=None,
        move_in=None, rent=1000.0)
    raw(store, INSERT_JOB, id="job_ok", lead_id="lead_1", site_id="site_1", model_version=None,
        requested_at="2026-01-31T23:00:00+0000")
    raw(store, INSERT_JOB, id="job_bad", lead_id="lead_1", site_id="site_1", model_version=None,
        requested_at="31/01/2026")
    now = datetime(2026, 2, 1, tzinfo=UTC)
    ok = store.claim(JobMessage(job_id="job_ok", site_id="site_1", lead_id="lead_1"), now=now, lease_seconds=60)
    bad = store.claim(JobMessage(job_id="job_bad", site_id="site_1", lead_id="lead_1"), now=now, lease_seconds=60)
    assert (ok.status, ok.job.requested_at) == ("claimed", datetime(2026, 1, 31, 23, 0, tzinfo=UTC))
    assert (bad.status, bad.job.status, bad.job.error_code, bad.job.requested_at) == (
        "rejected", "failed", "InvalidJobRow", None)


def test_a_requested_at_in_the_future_runs_now_and_keeps_the_applications_value(migrated: Backend) -> None:
    """The application's requested_at is when the job was asked for, not a "not before": a clock ahead, or local
    time written without its offset, must not hold a job back. leadeval's canonical copy is never later than now
    (the sweep claims it at once, and a worker's own admission does the same); the application's column is kept."""
    from leadeval.models import JobMessage

    store = migrated.store
    raw(store, INSERT_LEAD, id="lead_1", site_id="site_1", first="A", last="B", email=None, phone=None,
        move_in=None, rent=1000.0)
    for job_id in ("job_sweep", "job_message"):
        raw(store, INSERT_JOB, id=job_id, lead_id="lead_1", site_id="site_1", model_version=None,
            requested_at="2099-06-01 10:00:00")
    now = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
    claimed = store.claim(JobMessage(job_id="job_message", site_id="site_1", lead_id="lead_1"), now=now,
                          lease_seconds=60)
    outcome = store.sweep(now=now, limit=100, lease_seconds=300, rescue_after_seconds=3600)
    assert (claimed.status, claimed.job.requested_at) == ("claimed", now)
    assert [(j.id, j.requested_at) for j in outcome.claimed] == [("job_sweep", now)]
    rows = raw(store, "SELECT id, requested_at FROM ai_evaluation_jobs ORDER BY id")
    assert rows == [{"id": "job_message", "requested_at": "2099-06-01 10:00:00"},
                    {"id": "job_sweep", "requested_at": "2099-06-01 10:00:00"}]


@pytest.mark.parametrize("max_retries", [1, 7])
def test_max_retries_of_the_row_is_the_attempt_limit(migrated: Backend, tmp_path: Path, max_retries: int) -> None:
    """A job the application inserted with max_retries N and a model failing for ever: exactly N attempts
    (model calls), then failed and dead-lettered with retry_count N; LEADEVAL_MAX_ATTEMPTS (5) plays no part."""
    store = migrated.store
    model = ScriptedVisionModel(default=ModelUnavailableError("503"))
    p = pipeline(store, tmp_path, model=model, env={"LEADEVAL_MAX_ATTEMPTS": "5"})
    add_application_rows(store, p, build_sample_set(today=utcnow().date()), lead_id="lead_1", site_id="site_1",
                         sample_lead="lead_maple_low")
    raw(store, INSERT_JOB, id="job_1", lead_id="lead_1", site_id="site_1", model_version=None,
        requested_at=format_ts(utcnow() - timedelta(minutes=1)))
    raw(store, "UPDATE ai_evaluation_jobs SET max_retries = :n WHERE id = 'job_1'", n=max_retries)

    p.run(rounds=max_retries + 3)

    job = store.get_job("job_1")
    assert (job.status, job.state, job.retry_count, job.max_retries, job.error_code) == (
        "failed", "dead_lettered", max_retries, max_retries, "ModelUnavailable")
    assert len(model.calls) == max_retries  # each attempt stops at the first document's 503
    assert len(p.queue.dlq) == 1


def test_model_version_is_honoured_only_from_the_allow_list(migrated: Backend, tmp_path: Path) -> None:
    """With Workers AI configured, a job naming an allow-listed model runs that model and records it; a job
    naming another runs the configured model and records that; either way the log line says which and why."""
    store = migrated.store
    configured, other, unknown = ("@cf/meta/llama-3.2-11b-vision-instruct", "@cf/meta/llama-4-scout-17b-16e-instruct",
                                  "@cf/unknown/model")
    def workers_ai(model_id: str) -> ScriptedVisionModel:
        """A stand-in for a Workers AI model: its extractions carry its model id, as the real adapter's do."""
        model = ScriptedVisionModel()
        model.name = f"workers-ai:{model_id}"
        model.default = lambda _doc: Extraction(facts=paystub_facts(name="Ada Lovelace"), model=model.name,
                                                model_version=model_id)
        return model

    default = workers_ai(configured)
    built: dict[str, ScriptedVisionModel] = {}

    def build(model_id: str) -> ScriptedVisionModel:
        built[model_id] = workers_ai(model_id)
        return built[model_id]

    router = ModelRouter(default, provider="workers-ai", default_id=configured, allowlist=(configured, other),
                         build=build)
    p = pipeline(store, tmp_path, model=default, models=router)
    raw(store, INSERT_LEAD, id="lead_1", site_id="site_1", first="Ada", last="Lovelace", email=None, phone=None,
        move_in=None, rent=1000.0)
    p.documents.put("site_1/lead_1/stub.pdf", text_pdf(["EARNINGS STATEMENT", "Employee: Ada Lovelace"]))
    raw(store, INSERT_DOCUMENT, id="doc_1", lead_id="lead_1", type="pay_stub", key="site_1/lead_1/stub.pdf",
        mime="application/pdf", uploaded_at="2026-01-01 00:00:00")
    raw(store, INSERT_JOB, id="job_other", lead_id="lead_1", site_id="site_1", model_version=other,
        requested_at=format_ts(utcnow() - timedelta(minutes=2)))
    for model_id, choice in ((unknown, router.choose(unknown)), (other, router.choose(other))):
        assert choice.requested == model_id
    assert router.choose(unknown).model is default and "not in LEADEVAL_MODEL_ALLOWLIST" in router.choose(
        unknown).reason
    assert router.choose(None).model is default and router.choose(configured).model is default

    p.run()
    raw(store, INSERT_JOB, id="job_unknown", lead_id="lead_1", site_id="site_1", model_version=unknown,
        requested_at=format_ts(utcnow() - timedelta(minutes=1)))
    p.run()

    versions = {r["id"]: r["model_version"] for r in raw(
        store, "SELECT j.id, e.model_version FROM ai_evaluation_jobs j JOIN lead_ai_evaluations e "
               "ON e.id = j.evaluation_id")}
    assert versions == {"job_other": other, "job_unknown": configured}
    models = {r["job_id"]: r["model"] for r in raw(store, "SELECT job_id, model FROM leadeval_evaluations")}
    assert models == {"job_other": f"workers-ai:{other}", "job_unknown": f"workers-ai:{configured}"}
    assert len(built[other].calls) == 1 and len(default.calls) == 1


def _columns(store: Any) -> dict[str, dict[str, str]]:
    """The application's five tables' columns and declared types, from the database itself."""
    tables = ("leads", "lead_documents", "ai_evaluation_usage", "ai_evaluation_jobs", "lead_ai_evaluations")
    out: dict[str, dict[str, str]] = {}
    for table in tables:
        if store.executor.dialect == "postgresql":
            rows = raw(store, "SELECT column_name AS name, data_type AS type FROM information_schema.columns "
                              "WHERE table_schema = current_schema() AND table_name = :t", t=table)
        else:
            rows = raw(store, f"SELECT name, type FROM pragma_table_info('{table}')")
        out[table] = {r["name"]: str(r["type"]).lower() for r in rows}
    return out


def test_unreadable_optional_timestamps_never_break_the_sweep_or_the_job(migrated: Backend, tmp_path: Path) -> None:
    """A row whose created_at/updated_at the application wrote badly is claimed, sent and completed like any
    other (leadeval needs only requested_at); the good job beside it too."""
    store = migrated.store
    p = pipeline(store, tmp_path)
    add_application_rows(store, p, build_sample_set(today=utcnow().date()), lead_id="lead_1", site_id="site_1")
    at = format_ts(utcnow() - timedelta(minutes=1))
    raw(store, INSERT_JOB, id="job_good", lead_id="lead_1", site_id="site_1", model_version=None, requested_at=at)
    raw(store, "INSERT INTO ai_evaluation_jobs (id, lead_id, site_id, status, requested_at, created_at, updated_at) "
               "VALUES ('job_odd', 'lead_1', 'site_1', 'pending', :at, 'last tuesday', '??')", at=at)

    p.run()

    assert {j.id: (str(j.status), j.created_at) for j in store.list_jobs()} == {
        "job_good": ("completed", iso(at)), "job_odd": ("completed", None)}
