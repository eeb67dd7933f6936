"""Contract: ``job_documents``, the read the report uses for its thumbnails, over every ``JobStore`` backend
(SQLite, D1 through its REST fake, PostgreSQL when a server answers): the documents of the job's lead in the
job's site, not deleted, newest upload first; nothing for a job whose lead is of another site or for no job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from leadeval.models import Job, JobStatus, Lead, LeadDocument

NOW = datetime(2026, 2, 10, 12, 0, 0, tzinfo=UTC)


def test_job_documents_are_the_leads_live_documents_newest_first(job_store) -> None:
    store = job_store
    store.create_lead(Lead(id="lead-1", site_id="site-a", first_name="Jane", last_name="Doe",
                           monthly_rent=Decimal("1500")))
    for doc_id, minutes, deleted in (("d-old", 30, None), ("d-new", 5, None), ("d-gone", 1, NOW)):
        store.add_document(LeadDocument(id=doc_id, lead_id="lead-1", document_type="pay_stub",
                                        storage_key=f"site-a/lead-1/{doc_id}.pdf", mime_type="application/pdf",
                                        uploaded_at=NOW - timedelta(minutes=minutes), deleted_at=deleted))
    store.create_job(Job(id="job-1", site_id="site-a", lead_id="lead-1", status=JobStatus.PENDING, requested_at=NOW))
    store.create_job(Job(id="job-x", site_id="site-b", lead_id="lead-1", status=JobStatus.PENDING, requested_at=NOW))

    docs = store.job_documents("job-1")

    assert [(d.id, d.storage_key, d.file_name) for d in docs] == [
        ("d-new", "site-a/lead-1/d-new.pdf", "d-new.pdf"), ("d-old", "site-a/lead-1/d-old.pdf", "d-old.pdf")]
    assert store.job_documents("job-x") == []  # the lead is not of the job's site
    assert store.job_documents("job-nope") == []
