"""Contract suite for "people stay in charge" (migration 0003) over every ``JobStore`` backend
(``job_store`` fixture: SQLite, D1 through its REST fake, PostgreSQL when a server answers):

- per-site scoring policies: versioned, never edited in place, loaded in the claim's one round trip,
  and applied by the worker (``process_message``) — an invalid stored policy snoozes the job;
- overrides: a person's recommendation and reason, kept beside the evaluation (never replacing it);
- re-evaluation: a new pending job for the lead (an applicant's dispute), counted in the usage row,
  refused while one is waiting or running;
- history: every job, evaluation and override of a lead, in time order.

Time is a fixed aware UTC ``NOW`` moved with ``timedelta``; nothing sleeps.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from leadeval.adapters.jobstore.sql import Statement
from leadeval.errors import ProcessingError
from leadeval.jobs.process import Outcome, ProcessContext, process_message
from leadeval.jobs.records import Reevaluation
from leadeval.models import (
    DocumentKind,
    Evaluation,
    ExtractedFacts,
    Job,
    JobMessage,
    JobState,
    JobStatus,
    Lead,
    LeadDocument,
    Usage,
)
from leadeval.ports import JobStore
from leadeval.screening.policy import ScoringPolicy
from leadeval_tools.appdb import create_application_tables
from leadeval_tools.fakes.memory import MemoryDocumentStore, ScriptedVisionModel
from tests.helpers import text_pdf

NOW = datetime(2026, 2, 10, 12, 0, 0, tzinfo=UTC)
LEASE = 300.0
SITE = "site-a"
OTHER_SITE = "site-b"


# --------------------------------------------------------------------------- helpers


def raw(store: Any, sql: str, **params: Any) -> list[dict[str, Any]]:
    """One raw statement (``:name`` parameters) through the store's executor; its rows."""
    return store.executor.execute_batch([Statement("test_raw", sql, params)])[0]


def round_trips(store: Any) -> int:
    """Batches sent so far: SQLite/PostgreSQL transactions, D1 HTTP requests."""
    executor = store.executor
    return executor.requests if hasattr(executor, "requests") else executor.batches


def make_lead(store: JobStore, lead_id: str = "lead-1", site_id: str = SITE, rent_cents: int = 185_000) -> Lead:
    lead = Lead(id=lead_id, site_id=site_id, first_name="Ada", last_name="Lovelace", email="ada@example.test",
                monthly_rent=Decimal(rent_cents) / 100, created_at=NOW - timedelta(days=2))
    store.create_lead(lead)
    return lead


def make_job(store: JobStore, job_id: str = "job-1", *, lead_id: str = "lead-1", site_id: str = SITE,
             requested_at: datetime = NOW - timedelta(minutes=5), status: JobStatus = JobStatus.PENDING) -> Job:
    job = Job(id=job_id, site_id=site_id, lead_id=lead_id, status=status, requested_at=requested_at,
              created_at=requested_at)
    store.create_job(job)
    return job


def claim(store: JobStore, job: Job, now: datetime = NOW):
    return store.claim(JobMessage(job_id=job.id, site_id=job.site_id, lead_id=job.lead_id,
                                  generation=job.generation), now=now, lease_seconds=LEASE)


def evaluation_for(job: Job, evaluation_id: str, *, score: int, label: str, recommendation: str,
                   policy_version: str = "default-1", model: str = "offline") -> Evaluation:
    return Evaluation(id=evaluation_id, job_id=job.id, lead_id=job.lead_id, site_id=job.site_id, score=score,
                      label=label, recommendation=recommendation, summary=f"{recommendation} at {score}",
                      monthly_income_cents=541_667, income_to_rent_ratio=2.92, policy_version=policy_version,
                      model=model, model_version="v1", input_hash="ab" * 32)


def completed(store: JobStore, job: Job, evaluation_id: str, at: datetime, **fields: Any) -> Evaluation:
    """Claim ``job`` at ``at`` and complete it with an evaluation (saved with ``created_at = at``)."""
    result = claim(store, job, at)
    assert result.status == "claimed", result.status
    ev = evaluation_for(result.job, evaluation_id, **fields)
    assert store.complete(result.job, ev, now=at) is True
    saved = store.get_evaluation(job.id)
    assert saved is not None
    return saved


def policy_json(**settings: Any) -> str:
    """A complete policy as the CLI stores it (defaults filled in)."""
    return ScoringPolicy(**settings).model_dump_json()


# --------------------------------------------------------------------------- policies


class TestPolicies:
    def test_each_save_is_a_new_version_and_old_ones_are_kept(self, job_store: JobStore) -> None:
        first = job_store.set_policy(SITE, policy_json(income_to_rent_ratio=2.5), now=NOW)
        second = job_store.set_policy(SITE, policy_json(income_to_rent_ratio=3.5, decline_below_ratio=None),
                                      now=NOW + timedelta(minutes=1))

        assert (first.site_id, first.version, first.label, first.created_at) == (SITE, 1, "site-a-v1", NOW)
        assert (second.version, second.label, second.created_at) == (2, "site-a-v2", NOW + timedelta(minutes=1))
        # the stored JSON carries the version evaluations will record, and validates as a ScoringPolicy
        v1, v2 = (ScoringPolicy.model_validate_json(p.policy_json) for p in (first, second))
        assert (v1.version, v1.income_to_rent_ratio, v1.decline_below_ratio) == ("site-a-v1", 2.5, 2.0)
        assert (v2.version, v2.income_to_rent_ratio, v2.decline_below_ratio) == ("site-a-v2", 3.5, None)
        assert job_store.get_policy(SITE) == second
        assert job_store.get_policy(SITE, 1) == first
        assert job_store.get_policy(SITE, 3) is None
        assert job_store.list_policies(SITE) == [second, first]

    def test_sites_are_versioned_separately(self, job_store: JobStore) -> None:
        job_store.set_policy(SITE, policy_json(), now=NOW)
        job_store.set_policy(SITE, policy_json(), now=NOW)
        other = job_store.set_policy(OTHER_SITE, policy_json(income_to_rent_ratio=2.0), now=NOW)
        assert (other.version, other.label) == (1, "site-b-v1")
        assert job_store.get_policy("site-c") is None
        assert job_store.list_policies("site-c") == []

    def test_a_version_in_the_file_is_replaced(self, job_store: JobStore) -> None:
        saved = job_store.set_policy(SITE, policy_json(version="my-strict-policy"), now=NOW)
        assert ScoringPolicy.model_validate_json(saved.policy_json).version == "site-a-v1"

    @pytest.mark.parametrize("text", ["[1, 2]", "not json", '"a string"'])
    def test_rejects_what_is_not_a_json_object(self, job_store: JobStore, text: str) -> None:
        with pytest.raises(ValueError, match="JSON"):
            job_store.set_policy(SITE, text, now=NOW)
        assert job_store.list_policies(SITE) == []

    def test_claim_loads_the_latest_policy_of_the_jobs_site_in_the_same_round_trip(
        self, job_store: JobStore
    ) -> None:
        make_lead(job_store)
        job_store.set_policy(SITE, policy_json(income_to_rent_ratio=2.5), now=NOW - timedelta(days=3))
        latest = job_store.set_policy(SITE, policy_json(income_to_rent_ratio=2.75), now=NOW - timedelta(days=1))
        job_store.set_policy(OTHER_SITE, policy_json(income_to_rent_ratio=9.0), now=NOW)
        job = make_job(job_store)
        before = round_trips(job_store)

        result = claim(job_store, job)

        assert round_trips(job_store) - before == 1  # D1: still one request per claim
        assert result.status == "claimed"
        assert result.policy_json == latest.policy_json

    def test_claim_of_a_site_without_policy_has_none(self, job_store: JobStore) -> None:
        make_lead(job_store)
        job_store.set_policy(OTHER_SITE, policy_json(), now=NOW)
        result = claim(job_store, make_job(job_store))
        assert (result.status, result.policy_json) == ("claimed", None)


# --------------------------------------------------------------------------- the worker applies the policy


def _worker(store: JobStore) -> tuple[ProcessContext, MemoryDocumentStore]:
    """A ProcessContext over ``store`` with in-memory documents and a scripted model that reads one
    clean semimonthly pay stub: gross $2,500.00 → $5,000.00 a month (2.70× a $1,850.00 rent)."""
    facts = ExtractedFacts(document_kind=DocumentKind.PAY_STUB, names_shown=["Ada Lovelace"], employer="Acme",
                           pay_period_start=date(2026, 1, 16), pay_period_end=date(2026, 1, 31),
                           pay_date=date(2026, 2, 5), pay_frequency="semimonthly", gross_pay=Decimal("2500.00"),
                           total_deductions=Decimal("500.00"), net_pay=Decimal("2000.00"),
                           ytd_gross=Decimal("5000.00"))
    documents = MemoryDocumentStore()
    model = ScriptedVisionModel(default=facts)
    return ProcessContext(store=store, documents=documents, model=model, lease_seconds=LEASE,
                          new_id=iter(f"ev-{i}" for i in range(1, 100)).__next__), documents


def _seed_stub(store: JobStore, documents: MemoryDocumentStore, job_id: str) -> Job:
    key = f"{SITE}/lead-1/stub.pdf"
    documents.put(key, text_pdf(["Pay stub (the scripted model supplies the facts)"]))
    store.add_document(LeadDocument(id="d-stub", lead_id="lead-1", site_id=SITE, document_type="pay_stub",
                                    file_name="stub.pdf", storage_key=key, uploaded_at=NOW - timedelta(hours=1)))
    return make_job(store, job_id, status=JobStatus.PENDING)


class TestWorkerUsesThePolicy:
    def test_default_policy_then_the_sites_latest(self, job_store: JobStore) -> None:
        """The same documents score differently under the site's own policy, and each evaluation
        records the policy version it was scored under (also part of its input hash)."""
        ctx, documents = _worker(job_store)
        make_lead(job_store)
        job = _seed_stub(job_store, documents, "job-1")

        default = process_message(ctx, JobMessage.for_job(job), now=NOW)

        assert default.outcome == Outcome.COMPLETED
        ev = default.evaluation
        # 2.70× is short of 3.0×: 50 × 5,000 ÷ 5,550 = 45 income points + 20 for the clean stub
        assert (ev.policy_version, ev.score, ev.label, ev.recommendation) == ("default-1", 65, "B", "review")

        job_store.set_policy(SITE, policy_json(income_to_rent_ratio=2.5), now=NOW)
        rerun = job_store.reevaluate("lead-1", now=NOW + timedelta(minutes=1), job_id="job-2")
        assert rerun.status == "created"
        queued = job_store.sweep(now=NOW + timedelta(minutes=2), limit=10, lease_seconds=LEASE,
                                 rescue_after_seconds=900).claimed
        assert [j.id for j in queued] == ["job-2"]

        strict = process_message(ctx, JobMessage.for_job(queued[0]), now=NOW + timedelta(minutes=2))

        assert strict.outcome == Outcome.COMPLETED
        ev2 = strict.evaluation
        # 2.70× meets the site's 2.5×: 70 + 20
        assert (ev2.policy_version, ev2.score, ev2.label, ev2.recommendation) == ("site-a-v1", 90, "A", "approve")
        assert ev2.input_hash != ev.input_hash
        assert job_store.get_evaluation("job-2").policy_version == "site-a-v1"

    def test_invalid_stored_policy_snoozes_the_job_before_any_document_is_read(self, job_store: JobStore) -> None:
        ctx, documents = _worker(job_store)
        make_lead(job_store)
        job = _seed_stub(job_store, documents, "job-1")
        job_store.set_policy(SITE, policy_json(), now=NOW)
        raw(job_store, "UPDATE leadeval_site_policies SET policy_json = :p WHERE site_id = :s",
            p='{"income_to_rent_ratio": "lots"}', s=SITE)

        outcome = process_message(ctx, JobMessage.for_job(job), now=NOW)

        assert (outcome.outcome, outcome.error_code, outcome.ai_calls) == (Outcome.SNOOZE, "ConfigurationError", 0)
        assert outcome.delay_seconds == 300
        assert documents.gets == [] and ctx.model.calls == []
        held = job_store.get_job("job-1")
        assert (held.state, held.attempts, held.error_code) == (JobState.SNOOZED, 0, "ConfigurationError")
        assert "scoring policy of site site-a is invalid" in held.error_message
        assert "income_to_rent_ratio" in held.error_message
        assert job_store.get_evaluation("job-1") is None


# --------------------------------------------------------------------------- overrides


class TestOverrides:
    def test_override_is_kept_beside_the_evaluation(self, job_store: JobStore) -> None:
        make_lead(job_store)
        ev = completed(job_store, make_job(job_store), "ev-1", NOW, score=71, label="B", recommendation="review")

        first = job_store.add_override("job-1", recommendation="approve", reason="  Employer confirmed by phone. ",
                                       now=NOW + timedelta(hours=1), override_id="ovr-1")
        second = job_store.add_override("job-1", recommendation="decline", reason="Pay stub found to be forged.",
                                        now=NOW + timedelta(hours=2), override_id="ovr-2")

        assert (first.id, first.evaluation_id, first.job_id, first.recommendation, first.reason, first.created_at) \
            == ("ovr-1", "ev-1", "job-1", "approve", "Employer confirmed by phone.", NOW + timedelta(hours=1))
        assert (second.recommendation, second.created_at) == ("decline", NOW + timedelta(hours=2))
        assert job_store.list_overrides("job-1") == [first, second]
        # the evaluation itself is unchanged
        assert job_store.get_evaluation("job-1") == ev
        assert raw(job_store, "SELECT COUNT(*) AS n FROM lead_ai_evaluations")[0]["n"] == 1

    def test_no_evaluation_no_override(self, job_store: JobStore) -> None:
        make_lead(job_store)
        make_job(job_store)
        assert job_store.add_override("job-1", recommendation="approve", reason="ok", now=NOW) is None
        assert job_store.add_override("job-unknown", recommendation="approve", reason="ok", now=NOW) is None
        assert job_store.list_overrides("job-1") == []

    @pytest.mark.parametrize(("recommendation", "reason", "message"), [
        ("maybe", "a reason", "approve, review or decline"),
        ("approve", "   ", "needs a reason"),
        ("approve", "x" * 2001, "at most 2000"),
    ])
    def test_rejects_bad_input(self, job_store: JobStore, recommendation: str, reason: str, message: str) -> None:
        make_lead(job_store)
        completed(job_store, make_job(job_store), "ev-1", NOW, score=71, label="B", recommendation="review")
        with pytest.raises(ValueError, match=message):
            job_store.add_override("job-1", recommendation=recommendation, reason=reason, now=NOW)
        assert job_store.list_overrides("job-1") == []

    def test_the_database_refuses_an_unknown_recommendation_or_blank_reason(self, job_store: JobStore) -> None:
        """The table's CHECK constraints hold even for rows written around the store."""
        for recommendation, reason in (("maybe", "why"), ("approve", "  ")):
            with pytest.raises(ProcessingError):
                raw(job_store, "INSERT INTO leadeval_overrides (id, evaluation_id, job_id, recommendation, reason, "
                               "created_at) VALUES ('o', 'e', 'j', :r, :why, '2026-02-10T12:00:00.000Z')",
                    r=recommendation, why=reason)


# --------------------------------------------------------------------------- re-evaluation


class TestReevaluate:
    def test_creates_a_pending_job_for_the_lead_requested_now_and_counts_it(self, job_store: JobStore) -> None:
        make_lead(job_store)
        job_store.add_usage(Usage(site_id=SITE, month="2026-02", evaluation_count=3, quota_limit=50))
        job_store.add_usage(Usage(site_id=OTHER_SITE, month="2026-02", evaluation_count=7, quota_limit=50))
        completed(job_store, make_job(job_store), "ev-1", NOW, score=49, label="D", recommendation="decline")
        at = NOW + timedelta(days=1)

        result = job_store.reevaluate("lead-1", now=at, max_retries=4, job_id="job-2")

        assert result.status == "created"
        job = result.job
        assert (job.id, job.site_id, job.lead_id, job.status, job.requested_at, job.generation, job.attempts,
                job.max_retries) == ("job-2", SITE, "lead-1", JobStatus.PENDING, at, 1, 0, 4)
        assert job_store.get_job("job-2") == job
        assert result.usage == Usage(site_id=SITE, month="2026-02", evaluation_count=4, quota_limit=50)
        assert raw(job_store, "SELECT evaluation_count FROM ai_evaluation_usage WHERE site_id = :s",
                   s=OTHER_SITE) == [{"evaluation_count": 7}]
        # the sweep picks it up like any other request
        swept = job_store.sweep(now=at, limit=10, lease_seconds=LEASE, rescue_after_seconds=900)
        assert [j.id for j in swept.claimed] == ["job-2"]

    def test_generates_a_job_id_and_works_without_a_usage_row(self, job_store: JobStore) -> None:
        make_lead(job_store)
        result = job_store.reevaluate("lead-1", now=NOW)
        assert result.status == "created" and result.usage is None
        assert result.job.id.startswith("job_") and len(result.job.id) == 16

    def test_refused_while_a_job_of_the_lead_is_waiting_or_running(self, job_store: JobStore) -> None:
        make_lead(job_store)
        make_job(job_store, "job-1")
        first = job_store.reevaluate("lead-1", now=NOW, job_id="job-2")
        assert (first.status, first.job, first.active_job.id) == ("in_progress", None, "job-1")
        claim(job_store, job_store.get_job("job-1"))  # processing blocks too
        second = job_store.reevaluate("lead-1", now=NOW, job_id="job-2")
        assert (second.status, second.active_job.id, second.active_job.status) == (
            "in_progress", "job-1", JobStatus.PROCESSING)
        assert job_store.get_job("job-2") is None

    def test_a_failed_or_cancelled_job_does_not_block(self, job_store: JobStore) -> None:
        make_lead(job_store)
        make_job(job_store, "job-1")
        assert job_store.cancel("job-1", now=NOW)
        assert job_store.reevaluate("lead-1", now=NOW, job_id="job-2").status == "created"

    def test_unknown_lead(self, job_store: JobStore) -> None:
        assert job_store.reevaluate("lead-nope", now=NOW, job_id="job-2") == Reevaluation(status="lead_not_found")
        assert job_store.get_job("job-2") is None


# --------------------------------------------------------------------------- history


class TestHistory:
    def test_every_version_override_and_rerun_in_time_order(self, job_store: JobStore) -> None:
        make_lead(job_store)
        make_lead(job_store, "lead-2")
        t0 = NOW - timedelta(minutes=5)
        ev1 = completed(job_store, make_job(job_store, "job-1", requested_at=t0), "ev-1", NOW,
                        score=49, label="D", recommendation="decline")
        job_store.add_override("job-1", recommendation="review", reason="Applicant disputes: second job not counted.",
                               now=NOW + timedelta(hours=1), override_id="ovr-1")
        job_store.set_policy(SITE, policy_json(income_to_rent_ratio=2.5), now=NOW + timedelta(hours=2))
        t3 = NOW + timedelta(hours=3)
        rerun = job_store.reevaluate("lead-1", now=t3, job_id="job-2").job
        t4 = NOW + timedelta(hours=4)
        job_store.sweep(now=t4, limit=10, lease_seconds=LEASE, rescue_after_seconds=900)
        ev2 = completed(job_store, rerun, "ev-2", t4, score=90, label="A", recommendation="approve",
                        policy_version="site-a-v1", model="workers-ai")
        job_store.add_override("job-2", recommendation="approve", reason="Confirmed with both employers.",
                               now=NOW + timedelta(hours=5), override_id="ovr-2")
        # another lead's rows and a job naming this lead from another site stay out
        completed(job_store, make_job(job_store, "job-x", lead_id="lead-2"), "ev-x", NOW, score=1, label="D",
                  recommendation="review")
        make_job(job_store, "job-foreign", site_id=OTHER_SITE)

        history = job_store.lead_history("lead-1")

        assert history.lead.id == "lead-1"
        assert [j.id for j in history.jobs] == ["job-1", "job-2"]
        assert [(e.id, e.job_id, e.score, e.label, e.recommendation, e.policy_version, e.model, e.created_at)
                for e in history.evaluations] == [
            ("ev-1", "job-1", 49, "D", "decline", "default-1", "offline", NOW),
            ("ev-2", "job-2", 90, "A", "approve", "site-a-v1", "workers-ai", t4),
        ]
        assert all(e.documents == [] and e.reasons == [] for e in history.evaluations)  # summaries only
        assert (history.evaluations[0].summary, history.evaluations[0].input_hash) == (ev1.summary, ev1.input_hash)
        assert [(o.id, o.evaluation_id, o.recommendation) for o in history.overrides] == [
            ("ovr-1", "ev-1", "review"), ("ovr-2", "ev-2", "approve")]
        assert [(e.at, e.event, e.job_id) for e in history.timeline()] == [
            (t0, "requested", "job-1"),
            (NOW, "evaluated", "job-1"),
            (NOW + timedelta(hours=1), "override", "job-1"),
            (t3, "re-evaluation requested", "job-2"),
            (t4, "evaluated", "job-2"),
            (NOW + timedelta(hours=5), "override", "job-2"),
        ]
        assert history.latest_evaluation.id == ev2.id
        assert history.in_force(ev1).id == "ovr-1"
        assert history.in_force(ev2).reason == "Confirmed with both employers."

    def test_failed_and_cancelled_jobs_appear(self, job_store: JobStore) -> None:
        make_lead(job_store)
        job = make_job(job_store, "job-1", requested_at=NOW - timedelta(hours=2))
        held = claim(job_store, job, NOW - timedelta(hours=1)).job
        assert job_store.fail(held, now=NOW - timedelta(minutes=30), error_code="DocumentUnreadable",
                              error_message="no document could be used")
        make_job(job_store, "job-2", requested_at=NOW - timedelta(minutes=10))
        assert job_store.cancel("job-2", now=NOW)

        timeline = job_store.lead_history("lead-1").timeline()

        assert [(e.at, e.event, e.job_id) for e in timeline] == [
            (NOW - timedelta(hours=2), "requested", "job-1"),
            (NOW - timedelta(minutes=30), "failed", "job-1"),
            (NOW - timedelta(minutes=10), "re-evaluation requested", "job-2"),
            (NOW, "cancelled", "job-2"),
        ]
        assert timeline[1].job.error_code == "DocumentUnreadable"

    def test_unknown_lead_has_no_history(self, job_store: JobStore) -> None:
        assert job_store.lead_history("lead-nope") is None

    def test_lead_without_jobs(self, job_store: JobStore) -> None:
        make_lead(job_store)
        history = job_store.lead_history("lead-1")
        assert (history.jobs, history.evaluations, history.overrides, history.timeline()) == ([], [], [], [])
        assert history.latest_evaluation is None


# --------------------------------------------------------------------------- the operator CLI (SQLite)


class TestCli:
    """``leadeval policy show|set``, ``evaluations override``, ``leads reevaluate|history`` on an SQLite file."""

    @pytest.fixture(name="cli")
    def _cli(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
        from typer.testing import CliRunner

        from leadeval.adapters.jobstore.sqlite import SqliteJobStore
        from leadeval_tools.cli import app

        db = tmp_path / "cli.db"
        monkeypatch.setenv("LEADEVAL_DATABASE_URL", f"sqlite:///{db}")
        store = SqliteJobStore(db)
        create_application_tables(store)
        store.migrate()
        runner = CliRunner()

        def invoke(*args: str):
            result = runner.invoke(app, list(args))
            result.flat = " ".join(result.output.split())  # the consoles wrap long lines
            return result

        yield invoke, store
        store.close()

    def test_policy_set_validates_then_saves_a_new_version(self, cli, tmp_path: Path) -> None:
        invoke, store = cli
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({"income_to_rent_ratio": 2.5, "decline_below_ratio": 3.0}))
        result = invoke("policy", "set", SITE, "--file", str(bad))
        assert result.exit_code == 2
        assert "is not a valid scoring policy (1 error(s))" in result.flat
        assert "decline_below_ratio must not exceed income_to_rent_ratio" in result.flat
        assert store.list_policies(SITE) == []

        good = tmp_path / "good.json"
        good.write_text(json.dumps({"income_to_rent_ratio": 2.5, "version": "mine"}))
        result = invoke("policy", "set", SITE, "--file", str(good))
        assert result.exit_code == 1 and f"no site {SITE}" in result.flat  # no row names it: a typo?
        assert store.list_policies(SITE) == []
        result = invoke("policy", "set", SITE, "--file", str(good), "--create-site")
        assert result.exit_code == 0, result.output
        assert "saved policy site-a-v1 (version 1)" in result.flat
        assert "changed from the defaults: income_to_rent_ratio 3.0 → 2.5" in result.flat
        assert "the file's version 'mine' is replaced" in result.flat
        assert ScoringPolicy.model_validate_json(store.get_policy(SITE).policy_json).income_to_rent_ratio == 2.5

        result = invoke("policy", "show", SITE)
        assert result.exit_code == 0
        assert "policy site-a-v1 (version 1 of 1" in result.flat and '"income_to_rent_ratio": 2.5' in result.flat

    def test_policy_show_without_a_saved_policy_shows_the_defaults(self, cli) -> None:
        invoke, store = cli
        make_lead(store)
        result = invoke("policy", "show", SITE)
        assert result.exit_code == 0
        assert f"site {SITE} has no saved policy: the defaults (default-1) apply" in result.flat
        assert invoke("policy", "show", SITE, "--version", "2").exit_code == 1
        unknown = invoke("policy", "show", "site-typo")
        assert unknown.exit_code == 1 and "no site site-typo" in unknown.flat

    def test_override_reevaluate_and_history(self, cli) -> None:
        invoke, store = cli
        make_lead(store)
        assert invoke("evaluations", "override", "job-1", "--recommendation", "approve", "--reason",
                      "x", "--by", "ops").exit_code == 1  # no such job yet
        completed(store, make_job(store), "ev-1", NOW, score=49, label="D", recommendation="decline")
        assert invoke("evaluations", "override", "job-1", "--recommendation", "maybe", "--reason",
                      "x", "--by", "ops").exit_code == 2
        assert invoke("evaluations", "override", "job-1", "--recommendation", "approve", "--reason",
                      " ", "--by", "ops").exit_code == 2
        missing_by = invoke("evaluations", "override", "job-1", "--recommendation", "approve", "--reason", "x")
        assert missing_by.exit_code == 2 and "--by" in missing_by.flat  # who decides is required
        assert store.list_overrides("job-1") == []

        result = invoke("evaluations", "override", "job-1", "--recommendation", "review", "--reason",
                        "Second job reported; waiting for its stubs.", "--by", "kim@example.com")
        assert result.exit_code == 0, result.output
        assert "recommended decline (score 49, D); a person decided review" in result.flat
        assert "by kim@example.com on 20" in result.flat
        [saved] = store.list_overrides("job-1")
        assert saved.created_by == "kim@example.com" and saved.created_at is not None
        shown = invoke("jobs", "show", "job-1").flat
        assert "Overridden by kim@example.com: review" in shown and "Second job reported" in shown

        result = invoke("leads", "reevaluate", "lead-1")
        assert result.exit_code == 0, result.output
        [rerun] = [j for j in store.list_jobs() if j.id != "job-1"]
        assert (rerun.status, rerun.lead_id, rerun.site_id) == (JobStatus.PENDING, "lead-1", SITE)
        assert f"re-evaluation job {rerun.id} created" in result.flat
        again = invoke("leads", "reevaluate", "lead-1")
        assert again.exit_code == 1 and f"already has job {rerun.id} (pending)" in again.flat
        assert invoke("leads", "reevaluate", "lead-nope").exit_code == 1

        history = invoke("leads", "history", "lead-1")
        assert history.exit_code == 0
        lines = [line.split()[2:4] for line in history.output.splitlines() if line.startswith("2026-")]
        assert lines == [["requested", "job-1"], ["evaluated", "job-1"], ["override", "job-1"],
                         ["re-evaluation", "requested"]]
        assert "standing: decline (score 49, D) from job job-1" in history.flat
        assert "overridden by a person to review" in history.flat
        assert invoke("leads", "history", "lead-nope").exit_code == 1
