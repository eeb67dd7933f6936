"""The report's pieces without a browser: masking, page thumbnails, the page's text and boxes, the store read."""

from __future__ import annotations

import base64
import io
import re
from datetime import UTC, datetime

import pytest
from PIL import Image

from leadeval.models import DocumentResult, Evaluation, Job, JobStatus, Lead, Reason, Signal, Verdict
from leadeval_tools.report.build import Mark, Report, build_report
from leadeval_tools.report.masking import hidden_characters, mask_numbers
from leadeval_tools.report.render import render_html
from leadeval_tools.report.thumbnails import page_thumbnails
from tests.helpers import text_pdf

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(("text", "masked"), [
    ("SSN 123-45-6789 here", "SSN •••-••-6789 here"),
    ("ssn 123 45 6789", "ssn ••• •• 6789"),
    ("123456789", "•••••6789"),
    ("Account 000123456789", "Account ••••••••6789"),
    ("card 4111 1111 1111 1111.", "card •••• •••• •••• 1111."),
    ("acct 12-3456-7890", "acct ••-••••-7890"),
    ("paid 2026-01-31 12345678 on 2026-12-06 00:08 UTC", "paid 2026-01-31 ••••5678 on 2026-12-06 00:08 UTC"),
    ("gross $12,345,678.00 and 2920.00", "gross $12,345,678.00 and 2920.00"),
    ("ids job_abc12345678 D4418-2290-7731 E-10482", "ids job_abc12345678 D4418-2290-7731 E-10482"),
    ("call (763) 555-0188 on 12/04/2026", "call (763) 555-0188 on 12/04/2026"),
    ("printed ******4821", "printed ******4821"),
])
def test_ssn_and_account_numbers_are_masked_to_their_last_four_digits(text: str, masked: str) -> None:
    assert mask_numbers(text) == masked
    assert [text[i] for i in hidden_characters(text)] == [a for a, b in zip(text, masked, strict=True) if a != b]


def test_thumbnails_black_out_account_digits_on_a_text_pdf_page() -> None:
    pdf = text_pdf(["Cascade Community Bank", "Account Number: 000123456789", "Closing balance 1,204.33"])
    thumbs = page_thumbnails("doc_x", pdf)
    assert thumbs.note is None and thumbs.page_count == 1 and [p.page for p in thumbs.pages] == [1]
    page = thumbs.pages[0]
    assert page.masked == 8  # 000012345 hidden, 6789 shown
    assert page.src.startswith("data:image/jpeg;base64,") and max(page.width, page.height) == 900
    plain = page_thumbnails("doc_x", text_pdf(["Cascade Community Bank", "Account Number: 999999999999",
                                                "Closing balance 1,204.33"])).pages[0]
    assert plain.masked == 8

    def dark(src: str, below: int = 30) -> int:
        image = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("L")
        return sum(image.histogram()[:below])

    unmasked = page_thumbnails("doc_x", text_pdf(["Cascade Community Bank", "Account Number: 0001-234",
                                                   "Closing balance 1,204.33"])).pages[0]
    assert unmasked.masked == 0  # 7 digits: not an account number
    # eight blacked-out characters: hundreds of black pixels more than the same page with text there
    assert dark(page.src) - dark(unmasked.src) > 8 * 60


def test_an_unreadable_document_gets_a_note_not_a_picture() -> None:
    thumbs = page_thumbnails("doc_x", b"%PDF-1.7\n1 0 obj <<")
    assert thumbs.pages == [] and thumbs.note is not None and thumbs.note.startswith("no picture: corrupt PDF")


def test_a_mark_is_placed_by_percentages_of_its_page() -> None:
    mark = Mark("signal", (0.1, 0.25, 0.6, 0.3), "Net pay", "high", "net_pay_mismatch")
    assert mark.style == "left:10.000%;top:25.000%;width:50.000%;height:5.000%"


def _report() -> Report:
    job = Job(id="job_1", site_id="site_a", lead_id="lead_1", status=JobStatus.COMPLETED)
    lead = Lead(id="lead_1", site_id="site_a", first_name="Jane", last_name="Doe", monthly_rent=1500)
    stub = DocumentResult(document_id="doc_9", file_name="<script>alert(1)</script>.pdf", verdict=Verdict.EDITED,
                          reason="high-severity finding(s): net_pay_mismatch", signals=[Signal(
                              code="net_pay_mismatch", severity="high", document_id="doc_9",
                              evidence="account 000123456789 shows net 2920.00", page=1, box=(0.1, 0.5, 0.9, 0.55))])
    evaluation = Evaluation(id="eval_1", job_id="job_1", lead_id="lead_1", site_id="site_a", score=0, label="D",
                            recommendation="decline", summary="Recommended decline because doc_9 is edited",
                            documents=[stub], reasons=[Reason(code="document_edited", text="doc_9 is edited",
                                                              data_used=["doc_9"], standard="an original")],
                            extracted_data={"income": {"monthly_rent_cents": 150000, "rent_share_cents": 150000,
                                                       "required_income_cents": 450000}})
    return Report(job=job, lead=lead, evaluation=evaluation, generated_at=NOW)


def test_the_page_escapes_and_masks_what_documents_and_people_wrote() -> None:
    report = _report()
    from leadeval_tools.report import build

    report.documents = [build._document(report.evaluation.documents[0], None, lambda t: t)]  # type: ignore[union-attr]
    html = render_html(report)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;.pdf" in html
    assert "000123456789" not in html and "••••••••6789" in html
    assert 'data-recommendation="decline"' in html and ">Decline<" in html
    assert "http://" not in html and "https://" not in html and "<link" not in html and "<script" not in html
    assert re.search(r'<meta http-equiv="Content-Security-Policy" content="default-src \'none\'', html)


def test_build_report_reads_the_job_and_names_documents_by_file_name(tmp_path) -> None:
    from leadeval.adapters.jobstore.sqlite import SqliteJobStore
    from leadeval.errors import ResourceNotFound
    from leadeval_tools.appdb import create_application_tables

    store = SqliteJobStore(tmp_path / "r.db")
    create_application_tables(store)
    store.migrate()
    report = _report()
    assert report.evaluation is not None and report.lead is not None
    store.create_lead(report.lead)
    store.create_job(report.job.model_copy(update={"status": JobStatus.PENDING, "requested_at": NOW}))
    with pytest.raises(ResourceNotFound):
        build_report(store, None, "job_missing", now=NOW)
    pending = build_report(store, None, "job_1", now=NOW)
    assert pending.evaluation is None and [h.event for h in pending.history] == ["requested"]
    page = render_html(pending)
    assert "No evaluation" in page and "This evaluation request is still <strong>pending</strong>" in page
    assert "Nothing was decided about the applicant by this request yet." in page
    store.close()


def test_pdf_printing_says_clearly_when_chromium_is_missing_or_fails(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path) -> None:
    from leadeval.errors import ConfigurationError
    from leadeval_tools.report.render import PdfError, write_pdf

    monkeypatch.setenv("LEADEVAL_CHROMIUM", str(tmp_path / "no-such-chromium"))
    with pytest.raises(ConfigurationError, match=r"LEADEVAL_CHROMIUM=.* is not an executable"):
        write_pdf(_report(), tmp_path / "r.pdf")
    monkeypatch.setenv("LEADEVAL_CHROMIUM", "false")  # exits 1 without printing anything
    with pytest.raises(PdfError, match=r"Chromium could not print the report \(exit code 1\)"):
        write_pdf(_report(), tmp_path / "r.pdf")
    assert not (tmp_path / "r.pdf").exists()


def test_thumbnails_print_no_preparation_lines(caplog: pytest.LogCaptureFixture) -> None:
    """A report made after a run shows the pages without printing "document prepared" again (the worker's
    lines already said it); a warning of preparation would still show."""
    import logging

    from tests.hostile_inputs import clean_paystub_pdf

    with caplog.at_level(logging.INFO):
        thumbs = page_thumbnails("d1", clean_paystub_pdf())
    assert len(thumbs.pages) == 1
    assert [r.getMessage() for r in caplog.records if r.name == "leadeval.screening.documents"] == []
    assert logging.getLogger("leadeval.screening.documents").level == logging.NOTSET
