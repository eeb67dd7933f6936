"""The operator console's reads on every backend (SQLite, the D1 fake, PostgreSQL): a filtered page of jobs with
its evaluation in one statement, document names, known sites, a site's month of cost; overrides' author."""

from __future__ import annotations

from datetime import timedelta

from leadeval.models import JobState, JobStatus, LeadDocument
from leadeval.ports import JobStore
from leadeval_tools.console import JobFilter, document_names, list_jobs_page, site_known, site_usage
from tests.contract.test_policies_overrides import NOW, SITE, claim, evaluation_for, make_job, make_lead

MODEL = "workers-ai:@cf/meta/llama-3.2-11b-vision-instruct"


def _complete(store: JobStore, job_id: str, evaluation_id: str, **cost: object) -> None:
    job = make_job(store, job_id)
    result = claim(store, job, NOW)
    assert result.status == "claimed"
    ev = evaluation_for(result.job, evaluation_id, score=71, label="B", recommendation="approve").model_copy(
        update=cost)
    assert store.complete(result.job, ev, now=NOW) is True


def test_one_page_of_jobs_with_filters_and_evaluations(job_store: JobStore) -> None:
    make_lead(job_store)
    _complete(job_store, "job-done", "ev-1")
    failed = make_job(job_store, "job-failed")
    claimed = claim(job_store, failed, NOW).job
    assert job_store.fail(claimed, now=NOW, error_code="ModelRejected", error_message="refused")
    make_job(job_store, "job-other", site_id="site-b", requested_at=NOW - timedelta(days=3))

    page = list_jobs_page(job_store, JobFilter(), limit=10)
    assert [row.job.id for row in page][-1] == "job-other"  # oldest request last
    done = next(row for row in page if row.job.id == "job-done")
    assert (done.score, done.label, done.recommendation) == (71, "B", "approve")
    assert next(row for row in page if row.job.id == "job-failed").score is None

    def ids(**where: object) -> list[str]:
        return sorted(row.job.id for row in list_jobs_page(job_store, JobFilter(**where), limit=10))

    assert ids(site="site-b") == ["job-other"]
    assert ids(error_code="ModelRejected") == ["job-failed"]
    assert ids(status=JobStatus.FAILED, state=JobState.FAILED) == ["job-failed"]
    assert ids(state=JobState.COMPLETED) == ["job-done"]
    assert ids(since=NOW - timedelta(days=1)) == ["job-done", "job-failed"]
    assert ids(until=NOW - timedelta(days=1)) == ["job-other"]
    assert len(list_jobs_page(job_store, JobFilter(), limit=1)) == 1


def test_document_names_and_known_sites(job_store: JobStore) -> None:
    make_lead(job_store)
    job_store.add_document(LeadDocument(id="doc_x1", lead_id="lead-1", document_type="pay_stub",
                                        storage_key=f"{SITE}/lead-1/doc_x1/paystub 2026-01.pdf", uploaded_at=NOW))
    assert document_names(job_store, "lead-1") == {"doc_x1": "paystub 2026-01.pdf"}
    assert document_names(job_store, "lead-none") == {}
    assert site_known(job_store, SITE) and not site_known(job_store, "site-typo")


def test_a_sites_month_of_cost(job_store: JobStore) -> None:
    make_lead(job_store)
    _complete(job_store, "job-1", "ev-1", model=MODEL, prompt_tokens=3000, completion_tokens=500, pages=3,
              worker_ms=1200)
    _complete(job_store, "job-2", "ev-2", model=MODEL, prompt_tokens=1000, completion_tokens=100, pages=1,
              worker_ms=None)
    saved = job_store.get_evaluation("job-1")
    assert saved is not None and (saved.pages, saved.worker_ms) == (3, 1200)
    [row], application = site_usage(job_store, SITE, NOW.strftime("%Y-%m"))
    assert (row.model, row.evaluations, row.prompt_tokens, row.completion_tokens, row.pages, row.worker_ms,
            row.unmeasured) == (MODEL, 2, 4000, 600, 4, 1200, 1)
    assert row.neurons is not None and round(row.neurons, 2) == round((4000 * 4410 + 600 * 61493) / 1e6, 2)
    assert application is None
    assert site_usage(job_store, SITE, "2001-01") == ([], None)


def test_an_override_records_who_and_when(job_store: JobStore) -> None:
    make_lead(job_store)
    _complete(job_store, "job-1", "ev-1")
    saved = job_store.add_override("job-1", recommendation="review", reason="second job", now=NOW,
                                   created_by="kim@example.com")
    assert saved is not None and (saved.created_by, saved.created_at) == ("kim@example.com", NOW)
    [listed] = job_store.list_overrides("job-1")
    assert listed.created_by == "kim@example.com"
