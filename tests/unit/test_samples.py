"""The project's sample data: deterministic, complete, and read back exactly by the offline model."""

from __future__ import annotations

import io
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path

import pytest

from leadeval.adapters.ai.offline import OfflineVisionModel
from leadeval.models import DocumentKind, ExtractedFacts, PreparedDocument
from leadeval.timeutil import parse_ts, usage_month
from leadeval_tools.samples import SampleSet, build_sample_set, write_sample_files

TODAY = date(2026, 3, 1)
#: a mid-year day, a New Year's Day (year-to-date resets, job month is December), a leap day
TODAYS = [TODAY, date(2026, 7, 15), date(2027, 1, 1), date(2028, 2, 29)]
PERIODS_PER_YEAR = {"weekly": 52, "biweekly": 26, "semimonthly": 24, "monthly": 12}


@cache
def sample(today: date = TODAY) -> SampleSet:
    return build_sample_set(today=today)


def pdf_text(data: bytes) -> str:
    import pypdf

    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def monthly_income(truth: dict[str, object]) -> Decimal:
    """Monthly gross income in dollars from a pay stub's truth."""
    return Decimal(str(truth["gross_pay"])) * PERIODS_PER_YEAR[str(truth["pay_frequency"])] / 12


def stubs_of(s: SampleSet, lead_id: str) -> list[dict[str, object]]:
    return [doc.truth for doc in s.documents_of(lead_id) if doc.truth.get("document_kind") == "pay_stub"]


# --------------------------------------------------------------------------- determinism


def test_same_today_gives_identical_objects_and_bytes() -> None:
    first, second = build_sample_set(today=TODAY), build_sample_set(today=TODAY)

    assert first.files == second.files  # byte for byte, PDF creation dates included
    assert (first.leads, first.documents, first.jobs, first.usage) == (
        second.leads, second.documents, second.jobs, second.usage)


def test_another_today_moves_the_dates() -> None:
    a, b = sample(TODAY), sample(TODAY + timedelta(days=7))
    a_dates = [doc.truth.get("pay_date") for doc in a.documents]
    b_dates = [doc.truth.get("pay_date") for doc in b.documents]
    assert a_dates != b_dates
    assert a.files != b.files


def test_pdf_creation_dates_come_from_today_and_precede_the_upload() -> None:
    import pypdf

    s = sample()
    for doc in s.documents:
        if doc.mime_type != "application/pdf" or not doc.truth:
            continue
        created = pypdf.PdfReader(io.BytesIO(s.files[doc.storage_key])).metadata.creation_date
        assert created is not None, doc.id
        assert created.tzinfo is not None, doc.id
        assert doc.uploaded_at is not None
        assert TODAY - timedelta(days=40) <= created.date() <= TODAY, doc.id
        assert created < doc.uploaded_at, doc.id


# --------------------------------------------------------------------------- completeness


def test_every_storage_key_has_a_file_and_every_file_a_document() -> None:
    s = sample()
    keys = [doc.storage_key for doc in s.documents]
    assert len(keys) == len(set(keys))
    assert set(keys) == set(s.files)
    assert all(s.files[key] for key in keys)


def test_ids_are_unique_readable_and_consistent() -> None:
    s = sample()
    for prefix, ids in (("lead_", [lead.id for lead in s.leads]), ("doc_", [doc.id for doc in s.documents]),
                        ("job_", [job.id for job in s.jobs])):
        assert len(ids) == len(set(ids))
        assert all(i.startswith(prefix) and i.replace("_", "").isalnum() and i.islower() for i in ids)
    assert len(s.sites) == 3 and set(s.sites) == {lead.site_id for lead in s.leads}
    for doc in s.documents:
        assert s.lead(doc.lead_id).site_id == doc.site_id
        assert doc.storage_key.startswith(f"{doc.site_id}/{doc.lead_id}/")


def test_each_lead_has_one_to_four_documents_and_one_pending_job() -> None:
    s = sample()
    assert 8 <= len(s.leads) <= 10
    own_jobs = Counter(job.lead_id for job in s.jobs if not job.expect)
    for lead in s.leads:
        assert 1 <= len(s.documents_of(lead.id)) <= 4, lead.id
        assert own_jobs[lead.id] == 1, lead.id
        assert lead.expect.startswith(("completed", "failed ")), lead.id
        assert lead.email.endswith("@example.com") and "555-01" in lead.phone
        assert lead.move_in_date is not None and lead.move_in_date > TODAY
        assert lead.to_model().monthly_rent_cents == lead.monthly_rent_cents


def test_rows_convert_to_the_shared_models() -> None:
    s = sample()
    for doc in s.documents:
        row = doc.to_model()
        assert (row.id, row.lead_id, row.storage_key, row.file_name) == (
            doc.id, doc.lead_id, doc.storage_key, doc.file_name)
    for job in s.jobs:
        row = job.to_model()
        assert row.status == "pending" and row.requested_at == job.requested_at
        assert parse_ts(job.requested_at_text) == job.requested_at
    for lead in s.leads:
        assert lead.to_model().monthly_rent_cents == lead.monthly_rent_cents
    assert [u.to_model().quota_limit for u in s.usage] == [u.quota_limit for u in s.usage]


@pytest.mark.parametrize("today", TODAYS)
def test_jobs_are_requested_hours_before_today_and_usage_covers_their_month(today: date) -> None:
    s = sample(today)
    midnight = datetime.combine(today, datetime.min.time(), UTC)
    months = {usage_month(job.requested_at) for job in s.jobs}
    for job in s.jobs:
        assert midnight - timedelta(hours=12) < job.requested_at < midnight
    assert months == {u.month for u in s.usage}
    assert {(u.site_id, u.month) for u in s.usage} == {(site, m) for site in s.sites for m in months}


@pytest.mark.parametrize("today", TODAYS)
def test_pay_dates_are_within_the_last_30_days(today: date) -> None:
    s = sample(today)
    pay_dates = [date.fromisoformat(d.truth["pay_date"]) for d in s.documents if "pay_date" in d.truth]
    assert len(pay_dates) >= 6
    assert all(today - timedelta(days=30) <= day < today for day in pay_dates)


@pytest.mark.parametrize("today", TODAYS)
def test_truth_is_extracted_facts_and_stubs_and_statements_add_up(today: date) -> None:
    s = sample(today)
    for doc in s.documents:
        if not doc.truth:
            continue
        facts = ExtractedFacts.model_validate(doc.truth)
        if facts.document_kind == DocumentKind.BANK_STATEMENT:
            assert facts.closing_balance == facts.opening_balance + facts.total_credits - facts.total_debits
            assert sum(facts.deposits) == facts.total_credits
            assert facts.statement_period_end < today
        if facts.document_kind == DocumentKind.PAY_STUB and doc.lead_id != "lead_maple_tampered":
            assert facts.net_pay == facts.gross_pay - facts.total_deductions, doc.id
            assert facts.ytd_gross >= facts.gross_pay
            assert facts.pay_period_start < facts.pay_period_end <= facts.pay_date


# --------------------------------------------------------------------------- the scenarios


def test_strong_applicant() -> None:
    s = sample()
    lead = s.lead("lead_sunrise_strong")
    stubs = stubs_of(s, lead.id)
    kinds = sorted(doc.truth["document_kind"] for doc in s.documents_of(lead.id))
    statement = next(d.truth for d in s.documents_of(lead.id) if d.truth["document_kind"] == "bank_statement")

    assert kinds == ["bank_statement", "government_id", "pay_stub", "pay_stub"]
    assert stubs[0]["gross_pay"] == stubs[1]["gross_pay"] and stubs[0]["net_pay"] == stubs[1]["net_pay"]
    assert Decimal(stubs[1]["ytd_gross"]) - Decimal(stubs[0]["ytd_gross"]) == Decimal(stubs[1]["gross_pay"])
    assert statement["deposits"].count(stubs[0]["net_pay"]) == 2
    assert monthly_income(stubs[0]) >= 3 * Decimal(lead.monthly_rent_cents) / 100
    assert lead.expect.startswith("completed")


@pytest.mark.parametrize(("lead_id", "low", "high"), [("lead_sunrise_moderate", 2.3, 2.7),
                                                      ("lead_maple_low", 0, 2.0)])
def test_income_to_rent_ratios(lead_id: str, low: float, high: float) -> None:
    s = sample()
    lead = s.lead(lead_id)
    ratio = float(monthly_income(stubs_of(s, lead_id)[0]) * 100 / lead.monthly_rent_cents)
    assert low <= ratio < high


def test_voucher_holder() -> None:
    s = sample()
    lead = s.lead("lead_maple_voucher")
    letter = next(d.truth for d in s.documents_of(lead.id) if d.document_type == "benefit_letter")

    assert 0 < lead.voucher_amount_cents < lead.monthly_rent_cents
    assert int(Decimal(letter["monthly_benefit"]) * 100) == lead.voucher_amount_cents
    assert len(stubs_of(s, lead.id)) == 1


def test_tampered_stub_does_not_add_up() -> None:
    stub = stubs_of(sample(), "lead_maple_tampered")[0]
    assert Decimal(stub["net_pay"]) != Decimal(stub["gross_pay"]) - Decimal(stub["total_deductions"])


def test_corrupt_pdf_starts_like_a_pdf_but_cannot_be_opened() -> None:
    import pypdf
    import pypdfium2

    s = sample()
    (doc,) = s.documents_of("lead_maple_corrupt")
    data = s.files[doc.storage_key]

    assert data.startswith(b"%PDF-") and b"%%EOF" not in data and doc.truth == {}
    with pytest.raises(pypdf.errors.PyPdfError):
        pypdf.PdfReader(io.BytesIO(data))
    with pytest.raises(pypdfium2.PdfiumError):
        pypdfium2.PdfDocument(data)
    assert s.lead(doc.lead_id).expect.startswith("failed DocumentUnreadable")


def test_quota_lead_is_on_a_site_over_its_quota() -> None:
    s = sample()
    lead = s.lead("lead_harbor_quota")
    job = next(job for job in s.jobs if job.lead_id == lead.id)
    usage = next(u for u in s.usage if u.site_id == lead.site_id and u.month == usage_month(job.requested_at))

    assert usage.evaluation_count > usage.quota_limit
    assert lead.expect.startswith("failed QuotaExceeded")
    assert [other.id for other in s.leads if other.site_id == lead.site_id] == [lead.id]
    assert all(u.evaluation_count <= u.quota_limit for u in s.usage if u.site_id != lead.site_id)


def test_jobs_that_must_fail_resource_not_found() -> None:
    s = sample()
    leads = {lead.id: lead for lead in s.leads}
    strays = [job for job in s.jobs if job.lead_id not in leads or leads[job.lead_id].site_id != job.site_id]

    assert {job.id for job in strays} == {"job_sunrise_cross_site", "job_sunrise_missing_lead"}
    assert all(job.expect.startswith("failed ResourceNotFound") for job in strays)
    assert any(job.lead_id in leads for job in strays) and any(job.lead_id not in leads for job in strays)


def test_id_only_lead_has_only_an_image_the_offline_model_cannot_read() -> None:
    from PIL import Image

    s = sample()
    (doc,) = s.documents_of("lead_sunrise_id_only")
    image = Image.open(io.BytesIO(s.files[doc.storage_key]))
    prepared = PreparedDocument(document_id=doc.id, detected_type="png", sha256="0" * 64,
                                size_bytes=len(s.files[doc.storage_key]), page_count=1, text=None)

    assert (image.format, doc.mime_type, doc.truth["document_kind"]) == ("PNG", "image/png", "government_id")
    assert date.fromisoformat(doc.truth["id_expiry"]) > TODAY
    assert OfflineVisionModel().extract(prepared).note == "needs a vision model"
    assert "vision model" in s.lead(doc.lead_id).expect


# --------------------------------------------------------------------------- the offline model reads them


@pytest.mark.parametrize("today", TODAYS)
def test_offline_model_extracts_every_generated_text_pdf_exactly(today: date) -> None:
    s = sample(today)
    model = OfflineVisionModel()
    mismatches: dict[str, dict[str, tuple[object, object]]] = {}
    checked = 0
    for doc in s.documents:
        if doc.mime_type != "application/pdf" or not doc.truth:
            continue
        extraction = model.extract(PreparedDocument(document_id=doc.id, detected_type="pdf", sha256="0" * 64,
                                                    size_bytes=1, page_count=1,
                                                    text=pdf_text(s.files[doc.storage_key])))
        assert extraction.facts is not None, doc.id
        got = extraction.facts.model_dump(mode="json", exclude_defaults=True)
        diff = {k: (got.get(k), doc.truth.get(k)) for k in set(got) | set(doc.truth) if got.get(k) != doc.truth.get(k)}
        if diff:
            mismatches[doc.id] = diff
        checked += 1
    assert checked == 12  # + the pay stub of job_demo_001 (the job the sample events name)
    assert mismatches == {}


# --------------------------------------------------------------------------- writing files


def test_write_sample_files(tmp_path: Path) -> None:
    s = sample()
    write_sample_files(s, tmp_path)

    written = {p.relative_to(tmp_path).as_posix(): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert written == s.files


@pytest.mark.parametrize("key", ["../escape.pdf", "/abs/escape.pdf", "site/../../escape.pdf"])
def test_write_sample_files_refuses_keys_outside_the_root(tmp_path: Path, key: str) -> None:
    bad = SampleSet(sites=[], leads=[], documents=[], jobs=[], usage=[], files={key: b"x"})
    with pytest.raises(ValueError, match="unsafe storage key"):
        write_sample_files(bad, tmp_path / "root")
    assert not any(tmp_path.rglob("escape.pdf"))
