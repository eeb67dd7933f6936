"""Contract suite for ``ports.JobStore``: the same assertions over every backend (``job_store`` fixture:
SQLite, D1 through its REST fake, PostgreSQL when a server answers).

Time is a fixed aware UTC ``NOW`` moved with ``timedelta``; nothing sleeps. Rows the application
writes in other shapes (SQLite's ``datetime('now')`` timestamps, stale leases) are set with raw SQL
through the store's executor, which every SQL backend has. ``attempts`` is derived (failed attempts plus the
one running or done); ``retry_count`` is the application's counter of failed attempts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from leadeval.adapters.jobstore.sql import Statement
from leadeval.errors import MigrationsMissing, ProcessingError
from leadeval.jobs.records import PriorSubmission, ResultWrite, ReuseCheck
from leadeval.models import (
    DocumentKind,
    DocumentResult,
    Evaluation,
    ExtractedFacts,
    Job,
    JobMessage,
    JobState,
    JobStatus,
    Lead,
    LeadDocument,
    Reason,
    Signal,
    Usage,
    Verdict,
)
from leadeval.ports import JobStore

NOW = datetime(2026, 2, 10, 12, 0, 0, tzinfo=UTC)
LEASE = 300.0  # seconds a claim holds a job
RESCUE = 900.0  # seconds after lease expiry before a sweep rescues a job
LONG_AFTER = timedelta(seconds=LEASE + RESCUE + 1)  # a sweep this long after a claim rescues it

SITE = "site-a"
OTHER_SITE = "site-b"


# --------------------------------------------------------------------------- helpers


def raw(store: Any, sql: str, **params: Any) -> list[dict[str, Any]]:
    """Run one raw statement (``:name`` parameters) through the store's executor; its rows."""
    return store.executor.execute_batch([Statement("test_raw", sql, params)])[0]


def make_lead(store: JobStore, lead_id: str = "lead-1", site_id: str = SITE) -> Lead:
    lead = Lead(
        id=lead_id,
        site_id=site_id,
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.test",
        phone="555-0100",
        monthly_rent=1500,
        voucher_amount_cents=20_000,
        move_in_date=date(2026, 3, 1),
        created_at=NOW - timedelta(days=1),
    )
    store.create_lead(lead)
    return lead


def make_document(
    store: JobStore,
    doc_id: str,
    *,
    lead_id: str = "lead-1",
    site_id: str = SITE,
    uploaded_at: datetime = NOW - timedelta(hours=2),
    deleted_at: datetime | None = None,
) -> None:
    store.add_document(
        LeadDocument(
            id=doc_id,
            lead_id=lead_id,
            document_type="pay_stub",
            mime_type="application/pdf",
            storage_key=f"{site_id}/{lead_id}/{doc_id}.pdf",
            uploaded_at=uploaded_at,
            deleted_at=deleted_at,
        )
    )


def make_job(
    store: JobStore,
    job_id: str = "job-1",
    *,
    requested_at: datetime = NOW - timedelta(minutes=5),
    lead_id: str = "lead-1",
    site_id: str = SITE,
    max_retries: int = 5,
) -> Job:
    job = Job(
        id=job_id,
        site_id=site_id,
        lead_id=lead_id,
        status=JobStatus.PENDING,
        requested_by="user-1",
        requested_at=requested_at,
        max_retries=max_retries,
        created_at=requested_at,
    )
    store.create_job(job)
    return job


def message(job: Job, generation: int | None = None) -> JobMessage:
    return JobMessage(
        job_id=job.id,
        site_id=job.site_id,
        lead_id=job.lead_id,
        generation=job.generation if generation is None else generation,
    )


def sweep(store: JobStore, now: datetime = NOW, limit: int = 100):
    return store.sweep(now=now, limit=limit, lease_seconds=LEASE, rescue_after_seconds=RESCUE)


def claim(store: JobStore, job: Job, now: datetime = NOW, generation: int | None = None):
    return store.claim(message(job, generation), now=now, lease_seconds=LEASE)


def claimed_job(store: JobStore, job_id: str = "job-1", now: datetime = NOW) -> Job:
    """Seed a lead and a pending job, sweep and claim it: the job as the worker holds it."""
    make_lead(store)
    job = make_job(store, job_id)
    sweep(store, now)
    result = claim(store, job, now)
    assert result.status == "claimed"
    return result.job


def evaluation(job: Job, evaluation_id: str = "ev-1", score: int = 72) -> Evaluation:
    facts = ExtractedFacts(
        document_kind=DocumentKind.PAY_STUB,
        names_shown=["ADA LOVELACE"],
        employer="Acme",
        pay_period_start=date(2026, 1, 1),
        pay_period_end=date(2026, 1, 15),
        pay_date=date(2026, 1, 16),
        pay_frequency="semimonthly",
        gross_pay=Decimal("2500.00"),
        net_pay=Decimal("1980.55"),
        total_deductions=Decimal("519.45"),
        ytd_gross=Decimal("2500.00"),
        deposits=[Decimal("1980.55")],
    )
    signal = Signal(
        code="pdf_incremental_update", severity="medium", evidence="2 revisions", document_id="d1"
    )
    return Evaluation(
        id=evaluation_id,
        job_id=job.id,
        lead_id=job.lead_id,
        site_id=job.site_id,
        score=score,
        label="B",
        recommendation="review",
        summary="Income verified from one pay stub.",
        reasons=[
            Reason(
                code="income_ratio",
                text="Income is 2.7 times the rent share.",
                data_used=["d1: net pay 1,980.55"],
                standard="3 times the rent share",
                points=-8,
            )
        ],
        documents=[
            DocumentResult(
                document_id="d1",
                file_name="d1.pdf",
                declared_type="pay_stub",
                detected_type="pdf",
                kind=DocumentKind.PAY_STUB,
                verdict=Verdict.EDITED,
                reason="edited after creation",
                facts=facts,
                signals=[signal],
                sha256="ab" * 32,
            )
        ],
        flags=[signal],
        monthly_income_cents=429_119,
        income_to_rent_ratio=2.75,
        policy_version="default-1",
        model="offline",
        model_version="v1",
        prompt_tokens=1200,
        completion_tokens=300,
        input_hash="cafe" * 16,
    )


def status_of(store: JobStore, job_id: str = "job-1") -> JobStatus:
    job = store.get_job(job_id)
    assert job is not None
    return job.status


def state_of(store: JobStore, job_id: str = "job-1") -> JobState:
    job = store.get_job(job_id)
    assert job is not None
    return job.state


def evaluation_rows(store: JobStore, lead_id: str = "lead-1") -> int:
    """The application's evaluation rows of the lead (and leadeval's, which must match them)."""
    app = raw(store, "SELECT COUNT(*) AS n FROM lead_ai_evaluations WHERE lead_id = :id", id=lead_id)[0]["n"]
    ours = raw(store, "SELECT COUNT(*) AS n FROM leadeval_evaluations WHERE lead_id = :id", id=lead_id)[0]["n"]
    assert int(app) == int(ours)
    return int(app)


def lead_score(store: JobStore, lead_id: str = "lead-1") -> tuple[Any, Any, Any]:
    row = raw(store, "SELECT ai_score, ai_label, status FROM leads WHERE id = :id", id=lead_id)[0]
    return row["ai_score"], row["ai_label"], row["status"]


def ids(jobs: Sequence[Job]) -> list[str]:
    return [j.id for j in jobs]


# --------------------------------------------------------------------------- migrations


class TestMigrate:
    def test_second_migrate_is_a_no_op(self, job_store: JobStore) -> None:
        """The fixture migrated once; migrating again applies nothing and records nothing new."""
        assert job_store.migrate() == []
        names = [r["name"] for r in raw(job_store, "SELECT name FROM leadeval_migrations ORDER BY name")]
        assert names == [f.name for f in job_store.migration_files()] == [
            "0001_leadeval_jobs.sql", "0002_leadeval_evaluations.sql", "0003_leadeval_policies_overrides.sql",
            "0006_leadeval_operators.sql", "0007_leadeval_claim_groups.sql"]


# --------------------------------------------------------------------------- sweep


class TestSweep:
    def test_claims_due_jobs_oldest_request_first(self, job_store: JobStore) -> None:
        """Due pending jobs go to queued with queued_at = now and a lease, ordered by requested_at
        parsed (a SQLite-format timestamp sorts by time, not as a string)."""
        make_lead(job_store)
        make_document(job_store, "d1")
        job_store.add_usage(Usage(site_id=SITE, month="2026-02", evaluation_count=1, quota_limit=10))
        make_job(job_store, "job-new", requested_at=NOW - timedelta(minutes=1))
        make_job(job_store, "job-old", requested_at=NOW - timedelta(minutes=3))
        make_job(job_store, "job-mid", requested_at=NOW - timedelta(minutes=2))
        # '2026-02-10 11:58:00' < '2026-02-10T11:57:00.000Z' as strings, but it is later in time.
        raw(
            job_store,
            "UPDATE ai_evaluation_jobs SET requested_at = :ts WHERE id = :id",
            ts="2026-02-10 11:58:00",
            id="job-mid",
        )

        outcome = sweep(job_store)

        assert ids(outcome.claimed) == ["job-old", "job-mid", "job-new"]
        assert (outcome.rescued_to_pending, outcome.rescued_to_failed) == (0, 0)
        assert outcome.admitted == 3 and outcome.rejected == []
        for claimed in outcome.claimed:
            job = job_store.get_job(claimed.id)
            assert (claimed.site_id, claimed.lead_id, claimed.generation) == (SITE, "lead-1", 1)
            assert (job.status, job.state, job.queued_at) == (JobStatus.PENDING, JobState.QUEUED, NOW)
            assert job.lease_expires_at == NOW + timedelta(seconds=LEASE)
            assert (job.attempts, job.retry_count, job.max_retries) == (0, 0, 5)

    def test_respects_limit_and_takes_the_rest_next_time(self, job_store: JobStore) -> None:
        """``limit`` caps one sweep; the next sweep takes the remaining job, then nothing is left."""
        make_lead(job_store)
        for minutes, job_id in ((3, "job-a"), (2, "job-b"), (1, "job-c")):
            make_job(job_store, job_id, requested_at=NOW - timedelta(minutes=minutes))

        assert ids(sweep(job_store, limit=2).claimed) == ["job-a", "job-b"]
        assert status_of(job_store, "job-c") == JobStatus.PENDING
        assert ids(sweep(job_store, NOW + timedelta(seconds=1), limit=2).claimed) == ["job-c"]
        assert sweep(job_store, NOW + timedelta(seconds=2), limit=2).claimed == []

    def test_second_sweep_claims_nothing(self, job_store: JobStore) -> None:
        """A claimed (queued) job is not claimed again while its lease is young."""
        make_lead(job_store)
        make_job(job_store)
        assert ids(sweep(job_store).claimed) == ["job-1"]
        again = sweep(job_store, NOW + timedelta(seconds=LEASE))
        assert (again.claimed, again.rescued_to_pending, again.rescued_to_failed) == ([], 0, 0)
        assert job_store.get_job("job-1").queued_at == NOW

    def test_a_job_requested_in_the_future_runs_now(self, job_store: JobStore) -> None:
        """requested_at is when the application asked, not a "not before" (a clock ahead or local time without
        its offset must not hold a job back): a job requested 30 s ahead is claimed by the sweep of now, and its
        canonical requested_at is now (the claim order and the usage month follow it)."""
        make_lead(job_store)
        make_job(job_store, requested_at=NOW + timedelta(seconds=30))
        (claimed,) = sweep(job_store).claimed
        assert (claimed.id, claimed.requested_at) == ("job-1", NOW)


# --------------------------------------------------------------------------- rescue


class TestRescue:
    def test_long_expired_queued_job_is_rescued_and_reclaimed_by_the_same_sweep(
        self, job_store: JobStore
    ) -> None:
        """A queued job whose lease expired more than rescue_after ago (its message was lost) goes back
        to pending, and the same sweep's claim takes it again: ``rescued_to_pending`` counts it AND
        ``claimed`` lists it, with a fresh queued_at and lease."""
        make_lead(job_store)
        make_job(job_store)
        sweep(job_store)
        later = NOW + LONG_AFTER

        outcome = sweep(job_store, later)

        assert (outcome.rescued_to_pending, outcome.rescued_to_failed) == (1, 0)
        assert ids(outcome.claimed) == ["job-1"]
        job = job_store.get_job("job-1")
        assert (job.state, job.queued_at, job.lease_expires_at, job.retry_count) == (
            JobState.QUEUED,
            later,
            later + timedelta(seconds=LEASE),
            0,
        )

    def test_not_rescued_until_rescue_after_has_passed(self, job_store: JobStore) -> None:
        """At exactly lease expiry + rescue_after the job is left alone (strictly older is rescued)."""
        make_lead(job_store)
        make_job(job_store)
        sweep(job_store)
        outcome = sweep(job_store, NOW + timedelta(seconds=LEASE + RESCUE))
        assert (outcome.claimed, outcome.rescued_to_pending, outcome.rescued_to_failed) == ([], 0, 0)
        job = job_store.get_job("job-1")
        assert (job.state, job.queued_at) == (JobState.QUEUED, NOW)

    def test_crashed_processing_job_is_rescued_with_its_attempts_kept(self, job_store: JobStore) -> None:
        """A processing job whose worker vanished long ago goes back to pending and is re-queued;
        the crashed attempt counts as a failed one (retry_count 1)."""
        claimed_job(job_store)
        outcome = sweep(job_store, NOW + LONG_AFTER)
        assert (outcome.rescued_to_pending, outcome.rescued_to_failed) == (1, 0)
        assert ids(outcome.claimed) == ["job-1"]
        job = job_store.get_job("job-1")
        assert (job.status, job.state, job.retry_count, job.attempts) == (JobStatus.PENDING, JobState.QUEUED, 1, 1)

    def test_job_with_attempts_spent_is_failed(self, job_store: JobStore) -> None:
        """A long-expired job whose attempts are spent is failed ``AttemptsExhausted``, not re-queued."""
        make_lead(job_store)
        job = make_job(job_store, max_retries=1)
        sweep(job_store)
        assert claim(job_store, job).job.attempts == 1
        later = NOW + LONG_AFTER

        outcome = sweep(job_store, later)

        assert (outcome.claimed, outcome.rescued_to_pending, outcome.rescued_to_failed) == ([], 0, 1)
        failed = job_store.get_job("job-1")
        assert (failed.status, failed.error_code, failed.completed_at, failed.lease_expires_at) == (
            JobStatus.FAILED,
            "AttemptsExhausted",
            later,
            None,
        )
        assert (failed.dead_lettered_at, failed.state, failed.retry_count) == (None, JobState.FAILED, 1)

    def test_job_completed_meanwhile_is_untouched(self, job_store: JobStore) -> None:
        """Rescue is guarded by the status it read (River #1302): a completed job keeps its state even
        when its row still carries an old lease."""
        job = claimed_job(job_store)
        assert job_store.complete(job, evaluation(job), now=NOW + timedelta(seconds=10))
        raw(
            job_store,
            "UPDATE ai_evaluation_jobs SET leadeval_lease_expires_at = :ts WHERE id = :id",
            ts="2026-02-10T12:00:00.000Z",
            id="job-1",
        )
        before = job_store.get_job("job-1")

        outcome = sweep(job_store, NOW + LONG_AFTER)

        assert (outcome.claimed, outcome.rescued_to_pending, outcome.rescued_to_failed) == ([], 0, 0)
        after = job_store.get_job("job-1")
        assert (after.status, after.completed_at, after.evaluation_id, after.updated_at) == (
            JobStatus.COMPLETED,
            before.completed_at,
            "ev-1",
            before.updated_at,
        )


# --------------------------------------------------------------------------- release


class TestRelease:
    def test_moves_only_queued_jobs_of_that_generation(self, job_store: JobStore) -> None:
        """release() puts back queued jobs whose generation matches; stale or processing ones stay."""
        make_lead(job_store)
        for job_id in ("job-a", "job-b", "job-c"):
            make_job(job_store, job_id)
        queued = {j.id: j for j in sweep(job_store).claimed}
        claim(job_store, queued["job-c"], NOW + timedelta(seconds=1))  # now processing
        later = NOW + timedelta(seconds=2)

        moved = job_store.release(
            [queued["job-a"], dataclasses.replace(queued["job-b"], generation=2), queued["job-c"]],
            now=later,
        )

        assert moved == 1
        released = job_store.get_job("job-a")
        assert (released.state, released.queued_at, released.lease_expires_at) == (JobState.PENDING, None, None)
        assert state_of(job_store, "job-b") == JobState.QUEUED
        assert status_of(job_store, "job-c") == JobStatus.PROCESSING
        assert job_store.release([], now=later) == 0


# --------------------------------------------------------------------------- claim


class TestClaim:
    def test_claim_loads_lead_documents_and_usage(self, job_store: JobStore) -> None:
        """The claim holds the job (processing, attempt 1, lease) and loads the site's lead, its
        non-deleted documents (newest upload first, as the application lists them) and the month's usage
        row."""
        make_lead(job_store)
        make_lead(job_store, "lead-other", site_id=OTHER_SITE)
        make_document(job_store, "d2", uploaded_at=NOW - timedelta(hours=1))
        make_document(job_store, "d1", uploaded_at=NOW - timedelta(hours=2))
        make_document(job_store, "d-deleted", deleted_at=NOW - timedelta(minutes=30))
        make_document(job_store, "d-other-lead", lead_id="lead-other")
        job_store.add_usage(Usage(site_id=SITE, month="2026-02", evaluation_count=3, quota_limit=50))
        job_store.add_usage(Usage(site_id=SITE, month="2026-01", evaluation_count=40, quota_limit=50))
        job_store.add_usage(Usage(site_id=OTHER_SITE, month="2026-02", evaluation_count=9, quota_limit=9))
        job = make_job(job_store)
        sweep(job_store)
        at = NOW + timedelta(seconds=10)

        result = claim(job_store, job, at)

        assert (result.status, result.redriven) == ("claimed", False)
        held = result.job
        assert (held.status, held.state, held.attempts, held.retry_count, held.claims, held.generation,
                held.started_at, held.lease_expires_at) == (
            JobStatus.PROCESSING,
            JobState.PROCESSING,
            1,
            0,
            1,
            1,
            at,
            at + timedelta(seconds=LEASE),
        )
        assert (result.lead.id, result.lead.site_id, result.lead.monthly_rent_cents) == (
            "lead-1",
            SITE,
            150_000,
        )
        assert [d.id for d in result.documents] == ["d2", "d1"]
        assert all(d.lead_id == "lead-1" and d.deleted_at is None for d in result.documents)
        assert result.usage == Usage(site_id=SITE, month="2026-02", evaluation_count=3, quota_limit=50)

    def test_lead_of_another_site_is_not_loaded(self, job_store: JobStore) -> None:
        """A job naming a lead that belongs to another site gets lead None and no documents."""
        make_lead(job_store, "lead-x", site_id=OTHER_SITE)
        make_document(job_store, "dx", lead_id="lead-x", site_id=OTHER_SITE)
        job = make_job(job_store, lead_id="lead-x")
        result = claim(job_store, job)
        assert (result.status, result.lead, result.documents) == ("claimed", None, [])

    @pytest.mark.parametrize("stored", ["2026-01-31T23:59:59.123Z", "2026-01-31 23:59:59",
                                        "2026-01-31T23:59:59+0000", "2026-01-31T23:59:59.123456+00:00",
                                        "2026-02-01T00:59:59+01:00"])
    def test_usage_row_is_the_month_of_the_request_not_of_now(self, job_store: JobStore, stored: str) -> None:
        """A job requested on 31 January (UTC) and processed in February reads January's usage row,
        whichever format the application wrote requested_at in."""
        make_lead(job_store)
        job_store.add_usage(Usage(site_id=SITE, month="2026-01", evaluation_count=7, quota_limit=20))
        job_store.add_usage(Usage(site_id=SITE, month="2026-02", evaluation_count=1, quota_limit=20))
        job_store.add_usage(
            Usage(site_id=OTHER_SITE, month="2026-01", evaluation_count=99, quota_limit=20)
        )
        job = make_job(job_store, requested_at=datetime(2026, 1, 31, 23, 0, tzinfo=UTC))
        raw(
            job_store, "UPDATE ai_evaluation_jobs SET requested_at = :ts WHERE id = :id", ts=stored, id=job.id
        )

        result = claim(job_store, job, datetime(2026, 2, 1, 0, 0, 30, tzinfo=UTC))

        assert result.status == "claimed"
        assert result.job.requested_at.replace(microsecond=0) == datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC)
        assert result.usage == Usage(site_id=SITE, month="2026-01", evaluation_count=7, quota_limit=20)

    def test_second_claim_of_the_same_message_is_in_flight(self, job_store: JobStore) -> None:
        """A duplicate delivery while the lease runs loses: in_flight, and no attempt is counted."""
        job = claimed_job(job_store)
        result = claim(job_store, job, NOW + timedelta(seconds=LEASE - 1))
        assert result.status == "in_flight"
        assert (result.job.attempts, result.job.started_at) == (1, NOW)

    def test_claimable_again_once_the_lease_expires(self, job_store: JobStore) -> None:
        """A redelivered message reclaims a crashed attempt when the lease has expired: the crash counts as a
        failed attempt (retry_count 1), this is attempt 2, under a new claim number."""
        job = claimed_job(job_store)
        at = NOW + timedelta(seconds=LEASE)
        result = claim(job_store, job, at)
        assert result.status == "claimed"
        assert (result.job.attempts, result.job.retry_count, result.job.claims, result.job.started_at,
                result.job.lease_expires_at) == (2, 1, 2, at, at + timedelta(seconds=LEASE))

    @pytest.mark.parametrize(("generation", "status"), [(1, "stale_generation"), (3, "ahead_generation")])
    def test_message_of_another_generation_claims_nothing(self, job_store: JobStore, generation: int,
                                                          status: str) -> None:
        """After an operator retry (generation 2), a generation-1 message (superseded: stale) or a
        generation-3 one (ahead of the row) claims nothing, and says which."""
        job = claimed_job(job_store)
        assert job_store.fail(job, now=NOW, error_code="ModelRejected", error_message="refused")
        assert job_store.requeue("job-1", now=NOW + timedelta(seconds=1))

        result = claim(job_store, job, NOW + timedelta(seconds=2), generation=generation)

        assert result.status == status
        assert (result.job.state, result.job.generation, result.job.attempts) == (JobState.PENDING, 2, 0)

    def test_cancelled_job(self, job_store: JobStore) -> None:
        """A message for a cancelled job claims nothing."""
        make_lead(job_store)
        job = make_job(job_store)
        sweep(job_store)
        assert job_store.cancel("job-1", now=NOW)
        result = claim(job_store, job, NOW + timedelta(seconds=1))
        assert (result.status, result.job.status, result.job.state, result.job.error_code,
                result.job.attempts) == ("cancelled", JobStatus.FAILED, JobState.CANCELLED, "Cancelled", 0)

    def test_unknown_job_is_not_found(self, job_store: JobStore) -> None:
        """A message naming no job is poison: not_found, nothing loaded."""
        result = job_store.claim(
            JobMessage(job_id="nope", site_id=SITE, lead_id="lead-1"), now=NOW, lease_seconds=LEASE
        )
        assert (result.status, result.job, result.lead, result.documents, result.usage) == (
            "not_found",
            None,
            None,
            [],
            None,
        )

    def test_completed_job_is_terminal(self, job_store: JobStore) -> None:
        """A duplicate message after completion claims nothing."""
        job = claimed_job(job_store)
        assert job_store.complete(job, evaluation(job), now=NOW + timedelta(seconds=5))
        result = claim(job_store, job, NOW + timedelta(seconds=LEASE * 2))
        assert (result.status, result.job.status) == ("terminal", JobStatus.COMPLETED)

    def test_failed_job_not_dead_lettered_is_terminal(self, job_store: JobStore) -> None:
        """A permanently failed job (not dead-lettered) is not restarted by a message."""
        job = claimed_job(job_store)
        assert job_store.fail(job, now=NOW, error_code="QuotaExceeded", error_message="quota")
        result = claim(job_store, job, NOW + timedelta(seconds=1))
        assert (result.status, result.job.status, result.job.generation) == ("terminal", JobStatus.FAILED, 1)

    @pytest.mark.parametrize("end", ["failed", "completed", "cancelled"])
    def test_a_generation_ahead_of_an_ended_job_is_ahead_not_final(self, job_store: JobStore, end: str) -> None:
        """A message naming generation 2 of a job still at generation 1 that ended (failed, completed or
        cancelled): ``ahead_generation``, never ``terminal``/``cancelled``, which the worker caches as final for
        that generation (an operator retry would later reach generation 2 and find it answered)."""
        if end == "cancelled":
            make_lead(job_store)
            job = make_job(job_store)
            assert job_store.cancel("job-1", now=NOW)
        else:
            job = claimed_job(job_store)
            if end == "failed":
                assert job_store.fail(job, now=NOW, error_code="QuotaExceeded", error_message="quota")
            else:
                assert job_store.complete(job, evaluation(job), now=NOW)
        result = claim(job_store, job, NOW + timedelta(seconds=1), generation=2)
        assert (result.status, str(result.job.state), result.job.generation) == ("ahead_generation", end, 1)

    def test_spent_attempts_with_live_lease_are_in_flight(self, job_store: JobStore) -> None:
        """The last attempt is still running: a duplicate message neither claims nor fails the job."""
        make_lead(job_store)
        job = make_job(job_store, max_retries=1)
        sweep(job_store)
        assert claim(job_store, job).status == "claimed"
        result = claim(job_store, job, NOW + timedelta(seconds=LEASE - 1))
        assert (result.status, result.job.status) == ("in_flight", JobStatus.PROCESSING)

    def test_exhausted_when_the_last_attempt_crashed(self, job_store: JobStore) -> None:
        """Attempts spent and the lease expired: the job is failed and dead-lettered, status exhausted."""
        make_lead(job_store)
        job = make_job(job_store, max_retries=2)
        sweep(job_store)
        assert claim(job_store, job).job.attempts == 1
        assert claim(job_store, job, NOW + timedelta(seconds=LEASE)).job.attempts == 2
        at = NOW + timedelta(seconds=2 * LEASE)

        result = claim(job_store, job, at)

        assert result.status == "exhausted"
        dead = result.job
        assert (
            dead.status,
            dead.state,
            dead.error_code,
            dead.dead_lettered_at,
            dead.completed_at,
            dead.lease_expires_at,
            dead.attempts,
            dead.retry_count,
            dead.generation,
        ) == (JobStatus.FAILED, JobState.DEAD_LETTERED, "AttemptsExhausted", at, at, None, 2, 2, 1)
        assert job_store.get_job("job-1") == dead

    def test_redriven_message_restarts_a_dead_lettered_job(self, job_store: JobStore) -> None:
        """A message of a dead-lettered job's generation (a DLQ redrive) claims it afresh: redriven,
        attempts 1, dead_lettered_at cleared, generation kept, so the redriven message (whose body carries
        that generation) keeps claiming the job after a snooze or retry."""
        make_lead(job_store)
        make_document(job_store, "d1")
        job = make_job(job_store, max_retries=1)
        sweep(job_store)
        held = claim(job_store, job).job
        assert job_store.fail(
            held, now=NOW, error_code="AttemptsExhausted", error_message="spent", dead_lettered=True
        )
        at = NOW + timedelta(hours=1)

        result = claim(job_store, job, at, generation=1)

        assert (result.status, result.redriven) == ("claimed", True)
        restarted = result.job
        assert (
            restarted.status,
            restarted.generation,
            restarted.attempts,
            restarted.retry_count,
            restarted.dead_lettered_at,
            restarted.started_at,
            restarted.completed_at,
            restarted.lease_expires_at,
        ) == (JobStatus.PROCESSING, 1, 1, 0, None, at, None, at + timedelta(seconds=LEASE))
        assert (result.lead.id, [d.id for d in result.documents]) == ("lead-1", ["d1"])
        assert claim(job_store, job, at + timedelta(seconds=1), generation=1).status == "in_flight"
        assert job_store.retry_later(restarted, now=at + timedelta(seconds=2), delay_seconds=10,
                                     error_code="Throttled", error_message="429", count_attempt=False)
        again = claim(job_store, job, at + timedelta(seconds=20), generation=1)
        assert (again.status, again.redriven, again.job.generation, again.job.attempts) == ("claimed", False, 1, 1)


# --------------------------------------------------------------------------- complete


class TestComplete:
    def test_complete_saves_the_evaluation_lead_job_and_fingerprints(self, job_store: JobStore) -> None:
        """One call: evaluation row, lead score/label/status, job completed with evaluation_id,
        fingerprints recorded."""
        job = claimed_job(job_store)
        ev = evaluation(job)
        prints = [PriorSubmission("11" * 32, "aa" * 32), PriorSubmission("22" * 32, "bb" * 32)]
        at = NOW + timedelta(seconds=30)

        assert job_store.complete(job, ev, now=at, fingerprints=prints) is True

        done = job_store.get_job("job-1")
        assert (
            done.status,
            done.evaluation_id,
            done.completed_at,
            done.lease_expires_at,
            done.error_code,
        ) == (JobStatus.COMPLETED, "ev-1", at, None, None)
        assert lead_score(job_store) == (72, "B", "ai_evaluated")
        assert evaluation_rows(job_store) == 1
        saved = job_store.get_evaluation("job-1")
        assert (saved.created_at, saved.generation) == (at, 1)
        assert (
            sorted(job_store.prior_submissions(["11" * 32, "22" * 32]), key=lambda p: p.file_sha256) == prints
        )

    def test_replay_is_harmless(self, job_store: JobStore) -> None:
        """Completing again (a duplicate delivery) returns False and leaves exactly one evaluation."""
        job = claimed_job(job_store)
        assert job_store.complete(job, evaluation(job), now=NOW + timedelta(seconds=30))
        assert (
            job_store.complete(job, evaluation(job, "ev-2", score=10), now=NOW + timedelta(seconds=40))
            is False
        )
        assert evaluation_rows(job_store) == 1
        assert job_store.get_evaluation("job-1").id == "ev-1"
        assert lead_score(job_store) == (72, "B", "ai_evaluated")
        assert job_store.get_job("job-1").completed_at == NOW + timedelta(seconds=30)

    def test_rejected_after_a_rescue_took_the_job_back(self, job_store: JobStore) -> None:
        """A worker that outlived its lease cannot complete once a sweep rescued the job."""
        job = claimed_job(job_store)
        assert ids(sweep(job_store, NOW + LONG_AFTER).claimed) == ["job-1"]

        assert job_store.complete(job, evaluation(job), now=NOW + LONG_AFTER) is False

        assert job_store.get_evaluation("job-1") is None
        assert evaluation_rows(job_store) == 0
        assert lead_score(job_store) == (None, None, "new")
        assert state_of(job_store) == JobState.QUEUED

    def test_rejected_after_another_worker_took_over(self, job_store: JobStore) -> None:
        """Worker 1's lease expired, worker 2 reclaimed the job and moved it on (retry_later): worker
        1's late complete changes nothing."""
        first = claimed_job(job_store)
        second = claim(job_store, first, NOW + timedelta(seconds=LEASE)).job
        assert (second.attempts, second.claims) == (2, 2)
        assert job_store.retry_later(
            second,
            now=NOW + timedelta(seconds=LEASE + 5),
            delay_seconds=60,
            error_code="StorageError",
            error_message="R2 503",
        )

        assert job_store.complete(first, evaluation(first), now=NOW + timedelta(seconds=LEASE + 6)) is False

        assert evaluation_rows(job_store) == 0
        after = job_store.get_job("job-1")
        assert (after.state, after.attempts, after.error_code) == (JobState.RETRYING, 2, "StorageError")

    def test_only_the_first_of_two_workers_saves(self, job_store: JobStore) -> None:
        """Worker 2 reclaimed and completed; worker 1's complete returns False and its evaluation is
        not saved."""
        first = claimed_job(job_store)
        second = claim(job_store, first, NOW + timedelta(seconds=LEASE)).job
        assert job_store.complete(
            second, evaluation(second, "ev-2", score=90), now=NOW + timedelta(seconds=LEASE + 1)
        )
        assert (
            job_store.complete(first, evaluation(first, "ev-1"), now=NOW + timedelta(seconds=LEASE + 2))
            is False
        )
        assert evaluation_rows(job_store) == 1
        assert job_store.get_job("job-1").evaluation_id == "ev-2"
        assert lead_score(job_store) == (90, "B", "ai_evaluated")


# --------------------------------------------------------------------------- retry_later / fail


class TestRetryLater:
    @pytest.mark.parametrize(
        ("count_attempt", "attempts", "retry_count", "state"),
        [(True, (1, 2), (1, 2), JobState.RETRYING), (False, (0, 0), (0, 0), JobState.SNOOZED)],
    )
    def test_attempt_counted_or_given_back(
        self,
        job_store: JobStore,
        count_attempt: bool,
        attempts: tuple[int, int],
        retry_count: tuple[int, int],
        state: JobState,
    ) -> None:
        """processing → pending (retrying) with the error and a lease covering the delay, the failed
        attempt counted; a snooze (count_attempt=False) counts nothing. Two rounds."""
        job = claimed_job(job_store)
        for round_index in range(2):
            at = NOW + timedelta(seconds=100 * (round_index + 1))
            assert (
                job_store.retry_later(
                    job,
                    now=at,
                    delay_seconds=45,
                    error_code="Throttled",
                    error_message="slow down",
                    count_attempt=count_attempt,
                )
                is True
            )
            row = job_store.get_job("job-1")
            assert row.status == JobStatus.PENDING
            assert (
                row.state,
                row.attempts,
                row.retry_count,
                row.error_code,
                row.error_message,
                row.lease_expires_at,
            ) == (
                state,
                attempts[round_index],
                retry_count[round_index],
                "Throttled",
                "slow down",
                at + timedelta(seconds=45),
            )
            result = claim(job_store, job, at + timedelta(seconds=1))  # the redelivered message
            assert (result.status, result.job.attempts) == ("claimed", attempts[round_index] + 1)
            job = result.job

    def test_refused_when_not_processing(self, job_store: JobStore) -> None:
        """retry_later loses (False, no change) once the job is no longer processing."""
        job = claimed_job(job_store)
        assert job_store.retry_later(job, now=NOW, delay_seconds=10, error_code="E", error_message="m")
        assert (
            job_store.retry_later(job, now=NOW, delay_seconds=10, error_code="E2", error_message="m2")
            is False
        )
        row = job_store.get_job("job-1")
        assert (row.attempts, row.retry_count, row.error_code) == (1, 1, "E")

    def test_error_message_is_truncated(self, job_store: JobStore) -> None:
        """The stored error message keeps at most 1,000 characters."""
        job = claimed_job(job_store)
        assert job_store.retry_later(job, now=NOW, delay_seconds=1, error_code="E", error_message="x" * 5000)
        assert job_store.get_job("job-1").error_message == "x" * 1000


class TestFail:
    @pytest.mark.parametrize("dead_lettered", [True, False])
    def test_fail(self, job_store: JobStore, dead_lettered: bool) -> None:
        """processing → failed with the error, completed_at, and dead_lettered_at only when asked."""
        job = claimed_job(job_store)
        at = NOW + timedelta(seconds=20)
        assert (
            job_store.fail(
                job,
                now=at,
                error_code="DocumentUnreadable",
                error_message="no usable document",
                dead_lettered=dead_lettered,
            )
            is True
        )
        row = job_store.get_job("job-1")
        assert (
            row.status,
            row.state,
            row.retry_count,
            row.error_code,
            row.error_message,
            row.completed_at,
            row.lease_expires_at,
            row.dead_lettered_at,
        ) == (
            JobStatus.FAILED,
            JobState.DEAD_LETTERED if dead_lettered else JobState.FAILED,
            1,
            "DocumentUnreadable",
            "no usable document",
            at,
            None,
            at if dead_lettered else None,
        )
        assert job_store.fail(job, now=at, error_code="Other", error_message="again") is False
        assert job_store.get_job("job-1").error_code == "DocumentUnreadable"


# --------------------------------------------------------------------------- operator


STATES = ("pending", "queued", "processing", "completed", "failed")


def jobs_in_every_state(store: JobStore) -> None:
    """Seed one job per state, ``job-<state>`` (failed is dead-lettered)."""
    make_lead(store)
    jobs = {state: make_job(store, f"job-{state}") for state in STATES if state != "pending"}
    sweep(store)
    for state in ("processing", "completed", "failed"):
        held = claim(store, jobs[state]).job
        if state == "completed":
            assert store.complete(held, evaluation(held, f"ev-{state}"), now=NOW)
        elif state == "failed":
            assert store.fail(
                held, now=NOW, error_code="ModelRejected", error_message="refused", dead_lettered=True
            )
    make_job(store, "job-pending")
    expected = {"pending": JobState.PENDING, "queued": JobState.QUEUED, "processing": JobState.PROCESSING,
                "completed": JobState.COMPLETED, "failed": JobState.DEAD_LETTERED}
    assert {state: state_of(store, f"job-{state}") for state in STATES} == expected


class TestCancel:
    def test_cancel_only_from_pending_or_queued(self, job_store: JobStore) -> None:
        """pending | queued → failed (the application's vocabulary) in state cancelled, error code Cancelled
        (completed_at set, lease cleared); every other state is left as it is; cancelling twice or an unknown
        job returns False."""
        jobs_in_every_state(job_store)
        at = NOW + timedelta(seconds=50)
        expected = {"pending": True, "queued": True, "processing": False, "completed": False, "failed": False}

        outcome = {state: job_store.cancel(f"job-{state}", now=at) for state in STATES}

        assert outcome == expected
        for state, cancelled in expected.items():
            row = job_store.get_job(f"job-{state}")
            if cancelled:
                assert (row.status, row.state, row.error_code, row.completed_at, row.lease_expires_at) == (
                    JobStatus.FAILED, JobState.CANCELLED, "Cancelled", at, None)
            else:
                assert row.state != JobState.CANCELLED
        assert job_store.cancel("job-pending", now=at) is False
        assert job_store.cancel("unknown", now=at) is False


class TestRequeue:
    def test_requeue_only_from_failed(self, job_store: JobStore) -> None:
        """Operator retry: failed → pending with generation + 1, attempts 0, lease and timestamps
        cleared, and the next sweep claims it under the new generation; other states are refused."""
        jobs_in_every_state(job_store)
        at = NOW + timedelta(seconds=60)

        outcome = {state: job_store.requeue(f"job-{state}", now=at) for state in STATES}

        assert outcome == {
            "pending": False,
            "queued": False,
            "processing": False,
            "completed": False,
            "failed": True,
        }
        for state in ("pending", "queued", "processing", "completed"):
            row = job_store.get_job(f"job-{state}")
            assert (row.state, row.generation) == (JobState(state), 1)
        row = job_store.get_job("job-failed")
        assert (
            row.status,
            row.state,
            row.generation,
            row.attempts,
            row.retry_count,
            row.dead_lettered_at,
            row.queued_at,
            row.started_at,
            row.completed_at,
            row.lease_expires_at,
            row.updated_at,
        ) == (JobStatus.PENDING, JobState.PENDING, 2, 0, 0, None, None, None, None, None, at)
        claimed = sweep(job_store, at).claimed
        assert [(j.id, j.generation) for j in claimed] == [("job-failed", 2), ("job-pending", 1)]


class TestPriorSubmissions:
    def test_returns_recorded_hashes_only(self, job_store: JobStore) -> None:
        """Only recorded (file hash, name hash) pairs come back, every name seen with a file."""
        job = claimed_job(job_store)
        prints = [
            PriorSubmission("11" * 32, "aa" * 32),
            PriorSubmission("11" * 32, "bb" * 32),
            PriorSubmission("22" * 32, "aa" * 32),
        ]
        assert job_store.complete(job, evaluation(job), now=NOW, fingerprints=prints)

        found = job_store.prior_submissions(["11" * 32, "33" * 32, "11" * 32])

        assert sorted(found, key=lambda p: (p.file_sha256, p.name_hash)) == prints[:2]
        assert job_store.prior_submissions(["33" * 32]) == []
        assert job_store.prior_submissions([]) == []


def group_of(store: JobStore, job_id: str = "job-1") -> tuple[int, int]:
    """The job's (leadeval_claim_group, leadeval_solo)."""
    [row] = raw(store, "SELECT leadeval_claim_group AS g, leadeval_solo AS s FROM ai_evaluation_jobs WHERE id = :id",
                id=job_id)
    return int(row["g"]), int(row["s"])


def group_claimed(store: JobStore, ids_: Sequence[str] = ("job-1", "job-2"), now: datetime = NOW) -> list[Job]:
    """Seed a lead and pending jobs, sweep, and claim them together: the jobs as the worker holds them."""
    make_lead(store)
    jobs = [make_job(store, job_id, max_retries=2) for job_id in ids_]
    sweep(store, now)
    results = store.claim_group([message(j) for j in jobs], now=now, lease_seconds=LEASE)
    assert [r.status if r else None for r in results] == ["claimed"] * len(jobs)
    assert all(r is not None and r.grouped and r.lead is not None for r in results)
    return [r.job for r in results if r is not None and r.job is not None]


class TestClaimGroups:
    """Claims made together for one worker invocation (one request) and their crashes: a crash of a group
    claim is no job's attempt (which job crashed it is not known); each job is then claimed alone."""

    def test_jobs_are_claimed_together_and_loaded(self, job_store: JobStore) -> None:
        jobs = group_claimed(job_store)
        assert [(j.status, j.claims, j.retry_count) for j in jobs] == [(JobStatus.PROCESSING, 1, 0)] * 2
        assert group_of(job_store, "job-1") == group_of(job_store, "job-2") == (2, 0)

    def test_a_job_already_held_or_unknown_is_left_to_its_own_claim(self, job_store: JobStore) -> None:
        [held] = group_claimed(job_store, ("job-1",))
        ghost = JobMessage(job_id="job-ghost", site_id=SITE, lead_id="lead-1", generation=1)
        again = job_store.claim_group([message(held), ghost], now=NOW, lease_seconds=LEASE)
        assert again == [None, None]
        assert job_store.get_job("job-1").claims == 1  # type: ignore[union-attr]

    def test_a_crashed_group_claim_counts_no_attempt_and_the_job_is_then_claimed_alone(
            self, job_store: JobStore) -> None:
        group_claimed(job_store)
        outcome = sweep(job_store, NOW + LONG_AFTER)  # the worker died holding both
        assert (outcome.rescued_to_pending, outcome.rescued_to_failed) == (2, 0)
        for job_id in ("job-1", "job-2"):
            job = job_store.get_job(job_id)
            assert (job.state, job.retry_count) == (JobState.QUEUED, 0)  # type: ignore[union-attr]
            assert group_of(job_store, job_id) == (2, 1)
        later = NOW + LONG_AFTER
        jobs = [job_store.get_job(j) for j in ("job-1", "job-2")]
        assert job_store.claim_group([message(j) for j in jobs if j], now=later, lease_seconds=LEASE) == [None, None]
        alone = claim(job_store, jobs[0], later)  # type: ignore[arg-type]
        assert alone.status == "claimed" and not alone.grouped and group_of(job_store, "job-1") == (1, 1)
        # a crash while claimed alone counts, as always
        sweep(job_store, later + LONG_AFTER)
        assert job_store.get_job("job-1").retry_count == 1  # type: ignore[union-attr]

    def test_a_crashed_group_claim_taken_back_by_its_message_counts_no_attempt(self, job_store: JobStore) -> None:
        jobs = group_claimed(job_store)
        after_lease = NOW + timedelta(seconds=LEASE + 1)
        result = claim(job_store, jobs[0], after_lease)  # the redelivered message, alone
        assert (result.status, result.job.retry_count, result.job.claims) == ("claimed", 0, 2)  # type: ignore[union-attr]
        assert group_of(job_store, "job-1") == (1, 1)

    def test_a_group_crash_never_spends_the_last_attempt(self, job_store: JobStore) -> None:
        """max_retries 2, one failed attempt, then a group claim crashes: the job is not exhausted; it is
        claimed alone (a crash then would spend its last attempt)."""
        jobs = group_claimed(job_store)
        assert job_store.retry_later(jobs[0], now=NOW, delay_seconds=0, error_code="ModelUnavailable",
                                     error_message="model down")
        regrouped = job_store.claim_group([message(j) for j in jobs], now=NOW, lease_seconds=LEASE)
        assert regrouped[0] is not None and regrouped[0].job is not None and regrouped[1] is None  # job-2: held
        assert regrouped[0].job.retry_count == 1
        outcome = sweep(job_store, NOW + LONG_AFTER)
        assert (outcome.rescued_to_pending, outcome.rescued_to_failed) == (2, 0)
        job = job_store.get_job("job-1")
        assert (job.status, job.retry_count) == (JobStatus.PENDING, 1)  # type: ignore[union-attr]

    def test_writes_run_together_and_one_that_lost_its_job_changes_nothing(self, job_store: JobStore) -> None:
        first, second = group_claimed(job_store)
        after_lease = NOW + timedelta(seconds=LEASE + 1)
        assert claim(job_store, second, after_lease).status == "claimed"  # another worker took job-2 over
        writes = [ResultWrite("complete", first, NOW, evaluation=evaluation(first, "ev-1")),
                  ResultWrite("fail", second, NOW, error_code="ResourceNotFound", error_message="lead not found")]
        job_store.write_together(writes)
        assert [w.saved for w in writes] == [True, False]
        assert status_of(job_store, "job-1") == JobStatus.COMPLETED
        assert status_of(job_store, "job-2") == JobStatus.PROCESSING  # the new holder's, untouched


class TestReuseCheckedWrite:
    """complete() with a ReuseCheck: the lookup rides along the write, and the write holds only while no hash
    came with another applicant name (issue 14: no separate lookup request per job)."""

    def _earlier(self, store: JobStore, prints: list[PriorSubmission]) -> Job:
        """An earlier job of the lead completed with ``prints``; returns the next job, claimed."""
        job = claimed_job(store, "job-earlier")
        assert store.complete(job, evaluation(job, "ev-earlier"), now=NOW, fingerprints=prints)
        later = make_job(store, "job-1")
        sweep(store, NOW)
        result = claim(store, later, NOW)
        assert result.status == "claimed" and result.job is not None
        return result.job

    def test_the_write_holds_when_the_hashes_came_with_the_same_name_only(self, job_store: JobStore) -> None:
        job = self._earlier(job_store, [PriorSubmission("11" * 32, "aa" * 32)])
        check = ReuseCheck(hashes=["11" * 32, "22" * 32], name_hash="aa" * 32)
        mine = [PriorSubmission("22" * 32, "aa" * 32)]

        assert job_store.complete(job, evaluation(job), now=NOW, fingerprints=mine, reuse_check=check)

        assert (status_of(job_store), check.reused) == (JobStatus.COMPLETED, False)
        # every earlier submission of the hashes, this write's own fingerprints included (same name: no signal)
        assert sorted(check.prior or [], key=lambda p: p.file_sha256) == [PriorSubmission("11" * 32, "aa" * 32),
                                                                           PriorSubmission("22" * 32, "aa" * 32)]
        assert evaluation_rows(job_store) == 2 and lead_score(job_store) == (72, "B", "ai_evaluated")

    def test_a_hash_seen_with_another_name_writes_nothing_and_brings_the_submissions_back(
            self, job_store: JobStore) -> None:
        job = self._earlier(job_store, [PriorSubmission("11" * 32, "bb" * 32)])
        before = lead_score(job_store)
        check = ReuseCheck(hashes=["11" * 32], name_hash="aa" * 32)

        saved = job_store.complete(job, evaluation(job, score=90), now=NOW,
                                   fingerprints=[PriorSubmission("11" * 32, "aa" * 32)], reuse_check=check)

        assert (saved, check.reused, check.prior) == (False, True, [PriorSubmission("11" * 32, "bb" * 32)])
        # nothing of the result: the job is still held, no evaluation row, the lead unchanged
        assert (status_of(job_store), state_of(job_store)) == (JobStatus.PROCESSING, JobState.PROCESSING)
        assert evaluation_rows(job_store) == 1 and lead_score(job_store) == before
        # scored again with the reuse signal, the write without the check holds
        assert job_store.complete(job, evaluation(job, score=60), now=NOW,
                                  fingerprints=[PriorSubmission("11" * 32, "aa" * 32)])
        assert status_of(job_store) == JobStatus.COMPLETED and lead_score(job_store)[0] == 60

    def test_no_hashes_checks_nothing(self, job_store: JobStore) -> None:
        job = claimed_job(job_store)
        check = ReuseCheck(hashes=[], name_hash="aa" * 32)
        assert job_store.complete(job, evaluation(job), now=NOW, reuse_check=check)
        assert (check.prior, check.reused) == ([], False)


class TestListJobs:
    def test_filters_by_status_newest_request_first(self, job_store: JobStore) -> None:
        """list_jobs orders by requested_at descending, filters by status and honours limit."""
        make_lead(job_store)
        for minutes, job_id in ((30, "job-a"), (20, "job-b"), (10, "job-c")):
            make_job(job_store, job_id, requested_at=NOW - timedelta(minutes=minutes))
        make_job(job_store, "job-future", requested_at=NOW + timedelta(hours=1))
        sweep(job_store, limit=1)  # job-a queued

        assert ids(job_store.list_jobs()) == ["job-future", "job-c", "job-b", "job-a"]
        assert ids(job_store.list_jobs(status=JobStatus.PENDING)) == ["job-future", "job-c", "job-b", "job-a"]
        assert ids(job_store.list_jobs(state=JobState.PENDING)) == ["job-future", "job-c", "job-b"]
        assert ids(job_store.list_jobs(state=JobState.QUEUED)) == ["job-a"]
        assert job_store.list_jobs(status=JobStatus.COMPLETED) == []
        assert ids(job_store.list_jobs(limit=2)) == ["job-future", "job-c"]


class TestGetEvaluation:
    def test_round_trips_reasons_documents_and_flags(self, job_store: JobStore) -> None:
        """The saved evaluation reads back equal, nested facts (Decimal, dates) included."""
        job = claimed_job(job_store)
        ev = evaluation(job)
        assert job_store.complete(job, ev, now=NOW + timedelta(seconds=3))

        saved = job_store.get_evaluation("job-1")

        assert saved.model_dump(exclude={"created_at"}) == ev.model_dump(exclude={"created_at"})
        assert (saved.risk_flags, saved.fraud_signals, saved.extracted_data) == (
            ev.risk_flags, ev.fraud_signals, ev.extracted_data)
        assert saved.documents[0].facts.net_pay == Decimal("1980.55")
        assert saved.created_at == NOW + timedelta(seconds=3)
        assert job_store.get_evaluation("unknown") is None


class TestMigrationsMissing:
    """leadeval upgraded, `leadeval db migrate` not run: the store names the migration to run instead of failing
    every job with an SQL error (a ConfigurationError: jobs snooze, the alarm fires)."""

    def test_a_missing_leadeval_column_names_the_command_to_run(self, job_store: JobStore) -> None:
        make_lead(job_store)
        make_job(job_store)
        raw(job_store, "ALTER TABLE ai_evaluation_jobs DROP COLUMN leadeval_solo")  # as before migration 0007
        with pytest.raises(MigrationsMissing) as caught:
            sweep(job_store)
        assert caught.value.missing == "leadeval_solo" and caught.value.variable == "LEADEVAL_DATABASE_URL"
        assert "leadeval db migrate" in str(caught.value)

    def test_a_missing_application_column_stays_an_sql_error(self, job_store: JobStore) -> None:
        with pytest.raises(ProcessingError):
            raw(job_store, "SELECT no_such_column FROM ai_evaluation_jobs")
