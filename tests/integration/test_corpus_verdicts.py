"""Per-file verdicts, signals and reasons on the sample corpus (``LEADEVAL_CORPUS_DIR``, see its SOURCES.md),
matching what a person sees in each file. ``test_evaluate_corpus.py`` checks job statuses through the CLI;
this file checks the per-document outcome through ``process_message`` (SQLite, documents in memory, the
offline model unless a test brings a vision model), so it stays fast.

Each file is evaluated alone as one applicant's upload ("Jane Doe", rent $1,850.00) on 10 January 2026:
ten days after the December 2025 pay stubs, so only the genuinely old documents are stale.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from leadeval.adapters.ai.offline import OfflineVisionModel
from leadeval.jobs.process import JobOutcome, Outcome, process_message
from leadeval.models import (
    DocumentResult,
    Evaluation,
    ExtractedFacts,
    Job,
    JobMessage,
    JobStatus,
    Lead,
    LeadDocument,
    PreparedDocument,
    Usage,
    Verdict,
)
from leadeval.timeutil import usage_month
from leadeval.wiring import Wiring
from leadeval_tools.fakes.memory import MemoryDocumentStore, ScriptedVisionModel
from leadeval_tools.fakes.workers_ai import FakeWorkersAI, answer
from tests import hostile_inputs
from tests.helpers import make_services

TODAY = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Expect:
    """What a person sees in a file, as the evaluation must say it.

    Attributes:
        verdict: the document's verdict.
        detected: the type sniffed from the bytes.
        kind: the document kind read (None when nothing was read).
        reason: the start of the document's reason.
        signals: the codes of the findings on the document.
    """

    verdict: Verdict
    detected: str | None
    kind: str | None
    reason: str
    signals: frozenset[str] = frozenset()


def _e(verdict: Verdict, detected: str | None, kind: str | None, reason: str, *signals: str) -> Expect:
    return Expect(verdict, detected, kind, reason, frozenset(signals))


V = Verdict
VISION = "needs a vision model"
FACTS = "facts extracted"

EXPECTED: dict[str, Expect] = {
    # a text statement from January 2024: read, and 710 days old
    "documents/bank_statement_minimal_text.pdf": _e(V.CLEAN, "pdf", "bank_statement", FACTS, "stale_document"),
    # images and image-only PDFs: the offline model reads text layers only
    "documents/employment_verification_form1005.png": _e(V.UNDETERMINED, "png", None, VISION),
    "documents/id_dl_colorado_specimen_printed.pdf": _e(V.UNDETERMINED, "pdf", None, VISION, "pdf_print_to_pdf"),
    "documents/id_dl_massachusetts_specimen.png": _e(V.UNDETERMINED, "png", None, VISION),
    "documents/id_passport_us_specimen.jpeg": _e(V.UNDETERMINED, "jpeg", None, VISION),
    # JPEG bytes behind a .png name: sniffed as JPEG; its EXIF says Photoshop (SOURCES.md: "EXIF from Photoshop")
    "documents/id_dl_washington_sample_jpeg_named_png.png": _e(V.UNDETERMINED, "jpeg", None, VISION,
                                                               "image_edited_with_software"),
    # a 10-page lending packet: read as its first pay stub (DATA GRAPHICS, January 2020)
    "documents/packet_lending_tax_paystubs_10p.pdf": _e(V.CLEAN, "pdf", "pay_stub", FACTS, "stale_document",
                                                       "font_subset_mixed"),  # page 4: Garamond under 2 tags
    # December 2025 stubs with no names and no stated frequency: read, nothing wrong on their face
    "documents/paystub_adp_style_inconsistent_ytd.pdf": _e(V.CLEAN, "pdf", "pay_stub", FACTS),
    "documents/paystub_gusto_style_text.pdf": _e(V.CLEAN, "pdf", "pay_stub", FACTS),
    "documents/paystub_trinet_style_text.pdf": _e(V.CLEAN, "pdf", "pay_stub", FACTS),
    # Anastasia Hodges' W-2, uploaded by Jane Doe: her name is read from the address block, so it mismatches
    "documents/w2_2020_text.pdf": _e(V.CLEAN, "pdf", "tax_form", FACTS, "stale_document", "name_mismatch"),
    # hostile files
    "hostile/gif_decompression_bomb_65535x66601.gif": _e(V.UNREADABLE, "gif", None,
                                                         "unsupported file type: GIF image"),
    "hostile/heic_iphone_photo_not_a_document.heic": _e(V.UNDETERMINED, "heic", None, VISION),
    "hostile/pdf_352_pages_freeculture.pdf": _e(V.UNREADABLE, "pdf", None, "too many pages: 352 (limit 30)",
                                                "pdf_modified_after_creation"),
    "hostile/pdf_embedded_file_attachment.pdf": _e(V.CLEAN, "pdf", "other", FACTS, "pdf_editing_software",
                                                   "pdf_incremental_update", "pdf_embedded_files",
                                                   "not_a_screening_document"),
    "hostile/pdf_encrypted_user_password_abc.pdf": _e(V.UNREADABLE, "pdf", None, "password-protected PDF",
                                                      "pdf_encrypted"),
    "hostile/pdf_javascript_autoprint.pdf": _e(V.UNDETERMINED, "pdf", None, VISION, "pdf_editing_software",
                                               "pdf_incremental_update", "pdf_javascript"),
    "hostile/pdf_truncated_no_trailer.pdf": _e(V.UNREADABLE, "pdf", None, "corrupt PDF"),
    "hostile/photo_dark_lowlight_form.pdf": _e(V.UNDETERMINED, "pdf", None, VISION, "pdf_editing_software"),
}

UNREADABLE = sorted(name for name, e in EXPECTED.items() if e.verdict == Verdict.UNREADABLE)


# --------------------------------------------------------------------------- running one applicant


class Applicant:
    """Runs one job per call through ``process_message`` on a shared SQLite database."""

    def __init__(self, services: Wiring) -> None:
        self.services = services
        self.count = 0

    def evaluate(self, files: dict[str, bytes], *, first: str = "Jane", last: str = "Doe",
                 now: datetime = TODAY) -> JobOutcome:
        self.count += 1
        store, n = self.services.store, self.count
        lead_id, job_id = f"lead_{n}", f"job_{n}"
        store.create_lead(Lead(id=lead_id, site_id="site_corpus", first_name=first, last_name=last,
                               monthly_rent=1850))
        for i, (doc_id, data) in enumerate(files.items()):
            key = f"site_corpus/{lead_id}/{doc_id}"
            self.services.documents.put(key, data)
            store.add_document(LeadDocument(id=doc_id, lead_id=lead_id, site_id="site_corpus", file_name=doc_id,
                                            storage_key=key, uploaded_at=now - timedelta(minutes=30 + i)))
        store.add_usage(Usage(site_id="site_corpus", month=usage_month(now), evaluation_count=1,
                                 quota_limit=1000))
        job = Job(id=job_id, site_id="site_corpus", lead_id=lead_id, status=JobStatus.PENDING,
                  requested_at=now - timedelta(minutes=5))
        store.create_job(job)
        return process_message(self.services.process_context(), JobMessage.for_job(job), now=now)

    def job(self) -> Job:
        job = self.services.store.get_job(f"job_{self.count}")
        assert job is not None
        return job


def _applicant(tmp_path: Path, model: Any) -> Applicant:
    return Applicant(make_services(tmp_path, documents=MemoryDocumentStore(), model=model))


@pytest.fixture(name="offline")
def _offline(tmp_path: Path) -> Applicant:
    applicant = _applicant(tmp_path, OfflineVisionModel())
    yield applicant
    applicant.services.close()


def _read(corpus_dir: Path, name: str) -> bytes:
    return (corpus_dir / name).read_bytes()


def _document(ev: Evaluation, document_id: str) -> DocumentResult:
    return next(d for d in ev.documents if d.document_id == document_id)


def _completed(outcome: JobOutcome) -> Evaluation:
    assert outcome.outcome == Outcome.COMPLETED, (outcome.outcome, outcome.error_code)
    assert outcome.evaluation is not None
    return outcome.evaluation


# --------------------------------------------------------------------------- every file, alone


def test_every_corpus_file_has_an_expectation(corpus_dir: Path) -> None:
    assert {str(p.relative_to(corpus_dir)) for p in corpus_dir.glob("*/*") if p.is_file()} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_file_alone(name: str, corpus_dir: Path, offline: Applicant) -> None:
    """The document's verdict, detected type, kind, reason and signals. A file that cannot be used fails
    its job (nothing else was uploaded) with that same reason in the job's error message."""
    expect = EXPECTED[name]
    outcome = offline.evaluate({"d1": _read(corpus_dir, name)})

    if expect.verdict == Verdict.UNREADABLE:
        assert (outcome.outcome, outcome.error_code) == (Outcome.FAILED, "DocumentUnreadable")
        message = offline.job().error_message
        assert message.startswith("no document could be used (1 unreadable: ")
        assert expect.reason in message
        return
    ev = _completed(outcome)
    doc = _document(ev, "d1")
    assert (doc.verdict, doc.detected_type, doc.kind) == (expect.verdict, expect.detected, expect.kind)
    assert doc.reason.startswith(expect.reason), doc.reason
    assert {s.code for s in doc.signals} == expect.signals
    # nothing here is bad enough to decline (the 2020 W-2 is too old to count as current income: review)
    assert ev.recommendation == "review"
    if expect.verdict == Verdict.UNDETERMINED:
        [reason] = [r for r in ev.reasons if r.code == "document_undetermined"]
        assert reason.text == (f"d1 (declared as other) was received but its facts could not be determined: "
                               f"{expect.reason}. Nothing from it was used; a person can review it.")


def test_unreadable_files_beside_a_readable_stub(corpus_dir: Path, offline: Applicant) -> None:
    """With one readable document the job completes: each unusable file is `unreadable` with its reason,
    none takes points off, and the result is a review (never a decline: they might hold income)."""
    files = {Path(name).name: _read(corpus_dir, name) for name in UNREADABLE}
    files["stub.pdf"] = _read(corpus_dir, "documents/paystub_gusto_style_text.pdf")

    ev = _completed(offline.evaluate(files))

    for name in UNREADABLE:
        doc = _document(ev, Path(name).name)
        assert (doc.verdict, doc.detected_type, doc.facts) == (Verdict.UNREADABLE, EXPECTED[name].detected, None)
        assert doc.reason.startswith(EXPECTED[name].reason), doc.reason
        assert {s.code for s in doc.signals} == EXPECTED[name].signals
    assert _document(ev, "stub.pdf").verdict == Verdict.CLEAN
    assert _document(ev, "pdf_truncated_no_trailer.pdf").reason == (
        "corrupt PDF: PdfStreamError: Stream has ended unexpectedly")
    assert ev.recommendation == "review"
    recommendation = next(r for r in ev.reasons if r.code == "recommendation")
    assert "4 document(s) could not be read or determined" in recommendation.text
    # the clean stub's points (its pay is now counted: 60,000.00 YTD / 5,000.00 on 12/31 is monthly pay); an
    # unreadable file adds nothing, but the forensic findings made on its bytes still count: the book was
    # modified 72 days after creation (-10), the PDF is encrypted (-3)
    assert [(s.code, s.severity, s.document_id) for s in ev.flags] == [
        ("pdf_modified_after_creation", "medium", "pdf_352_pages_freeculture.pdf"),
        ("pdf_encrypted", "low", "pdf_encrypted_user_password_abc.pdf")]
    assert ev.score == 52


# --------------------------------------------------------------------------- what a person sees, file by file


def test_encrypted_pdf_needs_its_password(corpus_dir: Path, offline: Applicant) -> None:
    offline.evaluate({"d1": _read(corpus_dir, "hostile/pdf_encrypted_user_password_abc.pdf")})
    assert offline.job().error_message == "no document could be used (1 unreadable: password-protected PDF)"


def test_truncated_pdf_is_corrupt(corpus_dir: Path, offline: Applicant) -> None:
    offline.evaluate({"d1": _read(corpus_dir, "hostile/pdf_truncated_no_trailer.pdf")})
    assert offline.job().error_message == ("no document could be used (1 unreadable: corrupt PDF: PdfStreamError: "
                                           "Stream has ended unexpectedly)")


def test_gif_bomb_is_refused_before_decoding(corpus_dir: Path, offline: Applicant) -> None:
    """44 bytes claiming 65535×66601 pixels: GIF is not an accepted type, so it is never decoded."""
    data = _read(corpus_dir, "hostile/gif_decompression_bomb_65535x66601.gif")
    offline.evaluate({"d1": data})
    assert offline.job().error_message == "no document could be used (1 unreadable: unsupported file type: GIF image)"


def _png_bomb(width: int = 60_000, height: int = 60_000) -> bytes:
    """A 1×1 PNG whose header claims ``width`` × ``height`` (3.6 gigapixels by default)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buffer, "PNG")
    data = buffer.getvalue()
    ihdr = struct.pack(">II", width, height) + data[24:29]
    return data[:16] + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr)) + data[33:]


def test_png_bomb_of_an_accepted_type_is_refused_by_its_pixel_count(offline: Applicant) -> None:
    """The same attack in an accepted type (synthetic, beside the corpus GIF): refused from the header."""
    offline.evaluate({"d1": _png_bomb()})
    message = offline.job().error_message
    assert message == "no document could be used (1 unreadable: image too large: 60000x60000 pixels (limit 50000000))"


def test_jpeg_named_png_is_read_as_jpeg_and_sent_to_a_vision_model_as_jpeg(corpus_dir: Path, tmp_path: Path) -> None:
    fake = FakeWorkersAI([answer(json.dumps({"document_kind": "government_id", "names_shown": ["LIAM R. TALBOT"],
                                             "id_expiry": "2020-08-12", "tampering_signals": []}))])
    applicant = _applicant(tmp_path, fake.vision_model())
    ev = _completed(applicant.evaluate({"DriverLicense.png": _read(
        corpus_dir, "documents/id_dl_washington_sample_jpeg_named_png.png")}, first="Liam", last="Talbot"))

    doc = _document(ev, "DriverLicense.png")
    assert (doc.detected_type, doc.kind) == ("jpeg", "government_id")
    [request] = fake.requests
    assert request.body["image"].startswith("data:image/jpeg;base64,")
    # a person sees an ID that expired in 2020, saved by Photoshop
    assert {s.code: s.severity for s in doc.signals} == {"image_edited_with_software": "medium",
                                                          "id_expired": "medium"}
    assert ev.recommendation == "review"


class TestInconsistentYtdStub:
    """The ADP-style stub: gross $5,000.00 this period, YTD gross $99,999.99 on 31 December, while its other
    YTD lines are 12× their period amounts (a 60,000 year). It states no pay frequency."""

    NAME = "documents/paystub_adp_style_inconsistent_ytd.pdf"

    def test_offline_reads_no_frequency_so_nothing_is_flagged_and_nothing_counted(
        self, corpus_dir: Path, offline: Applicant
    ) -> None:
        ev = _completed(offline.evaluate({"adp": _read(corpus_dir, self.NAME)}))
        facts = _document(ev, "adp").facts
        assert (facts.pay_date.isoformat(), facts.pay_frequency, facts.gross_pay, facts.ytd_gross) == (
            "2025-12-31", None, Decimal("5000.00"), Decimal("99999.99"))
        assert _document(ev, "adp").signals == []  # 20 weekly or biweekly pay dates fit by December
        [not_counted] = [r for r in ev.reasons if r.code == "income_not_counted"]
        assert not_counted.text == ("adp (pay stub): gross $5,000.00 but the pay frequency is neither stated nor "
                                    "inferable from the pay period or other stubs; not counted.")
        assert (ev.monthly_income_cents, ev.recommendation) == (None, "review")

    @pytest.mark.parametrize(("name", "flagged"), [
        (NAME, True), ("documents/paystub_gusto_style_text.pdf", False)])
    def test_flagged_when_the_frequency_is_stated(self, name: str, flagged: bool, corpus_dir: Path,
                                                  tmp_path: Path) -> None:
        """A reader that sees "monthly" (a vision model, or a person) gets `ytd_implausible`: 20 periods'
        worth by the 12th monthly pay date. The consistent Gusto stub (60,000 = 12 × 5,000) is not flagged."""
        offline_model = OfflineVisionModel()

        def monthly(document: PreparedDocument) -> ExtractedFacts:
            facts = offline_model.extract(document).facts
            assert facts is not None
            return facts.model_copy(update={"pay_frequency": "monthly"})

        applicant = _applicant(tmp_path, ScriptedVisionModel(default=monthly))
        ev = _completed(applicant.evaluate({"stub": _read(corpus_dir, name)}))

        signals = [(s.code, s.severity, s.evidence) for s in _document(ev, "stub").signals]
        if not flagged:
            assert signals == []
            assert ev.monthly_income_cents == 500_000
            return
        assert signals == [("ytd_implausible", "medium",
                            "YTD gross $99,999.99 is 20.0 × this period's gross $5,000.00; a monthly schedule has "
                            "at most 12 pay dates from 1 January to 2025-12-31 (allowed up to 15.00)")]
        assert _document(ev, "stub").verdict == Verdict.CLEAN  # medium: a person looks, the income still counts
        assert (ev.monthly_income_cents, ev.recommendation) == (500_000, "review")


class TestDogPhoto:
    """An iPhone HEIC photo of a dog."""

    NAME = "hostile/heic_iphone_photo_not_a_document.heic"

    def test_offline_needs_a_vision_model(self, corpus_dir: Path, offline: Applicant) -> None:
        ev = _completed(offline.evaluate({"pug.heic": _read(corpus_dir, self.NAME)}))
        doc = _document(ev, "pug.heic")
        assert (doc.verdict, doc.detected_type, doc.reason, doc.signals) == (Verdict.UNDETERMINED, "heic", VISION,
                                                                             [])
        assert (ev.score, ev.recommendation) == (0, "review")

    def test_a_vision_model_that_sees_no_document_makes_it_not_a_screening_document(
        self, corpus_dir: Path, tmp_path: Path
    ) -> None:
        fake = FakeWorkersAI([answer(json.dumps({"document_kind": "other", "tampering_signals": []}))])
        applicant = _applicant(tmp_path, fake.vision_model())

        ev = _completed(applicant.evaluate({"pug.heic": _read(corpus_dir, self.NAME)}))

        doc = _document(ev, "pug.heic")
        assert (doc.verdict, doc.kind, doc.detected_type) == (Verdict.CLEAN, "other", "heic")
        assert fake.requests[0].body["image"].startswith("data:image/jpeg;base64,")  # HEIC decoded, sent as JPEG
        [signal] = doc.signals
        assert (signal.code, signal.severity, signal.evidence) == (
            "not_a_screening_document", "low", "read as other document, which is not a screening document")
        [reason] = [r for r in ev.reasons if r.code == "not_a_screening_document"]
        assert reason.text.startswith("The upload is not a screening document (pug.heic, other document)")
        assert (ev.score, ev.recommendation) == (0, "review")  # never a decline for a wrong upload


def test_an_old_w2_is_not_counted_as_current_income(corpus_dir: Path, offline: Applicant) -> None:
    """The 2020 W-2 (box 1 $23,677.70) is read, but a tax year that ended years ago says nothing about today's
    income: it is flagged stale and not counted, so the application goes to review rather than decline."""
    ev = _completed(offline.evaluate({"w2": _read(corpus_dir, "documents/w2_2020_text.pdf")}))
    doc = _document(ev, "w2")
    assert (doc.facts.annual_income, doc.facts.document_date, ev.monthly_income_cents) == (
        Decimal("23677.70"), date(2020, 12, 31), None)
    assert [s.code for s in doc.signals] == ["name_mismatch", "stale_document"]  # Anastasia Hodges' W-2, Jane Doe
    assert ev.recommendation == "review"


def test_w2_of_its_own_employee_has_no_name_mismatch(corpus_dir: Path, offline: Applicant) -> None:
    """The text layer of this W-2 does not label the employee's name; nothing is guessed, so no false mismatch."""
    ev = _completed(offline.evaluate({"w2": _read(corpus_dir, "documents/w2_2020_text.pdf")},
                                     first="Anastasia", last="Hodges"))
    assert "name_mismatch" not in {s.code for s in _document(ev, "w2").signals}


# --------------------------------------------------------------------------- generated hostile uploads


#: What each generated hostile upload ends as beside a clean pay stub, when it is not refused (the refused
#: ones end `unreadable` with the reason ``tests/unit/test_hostile_documents.py`` fixes for them).
HOSTILE_READ: dict[str, tuple[Verdict, str]] = {
    "tiff_3_pages": (Verdict.UNDETERMINED, VISION),
    "pdf_zip_polyglot": (Verdict.EDITED, "high-severity finding(s): pdf_data_after_eof"),
    "limit_pdf_page": (Verdict.EDITED, "high-severity finding(s): pdf_stream_inflation"),
    "limit_pdf_content": (Verdict.EDITED, "high-severity finding(s): pdf_stream_inflation"),
    "limit_pdf_30_pages": (Verdict.CLEAN, FACTS),
    # a line of 19,000 amounts runs 38,000 pt past the page: text outside the CropBox, for a person to look at
    "forensics_one_line": (Verdict.UNDETERMINED, "page content needs a person's look: text_outside_cropbox"),
    "forensics_boxes_over_text": (Verdict.CLEAN, FACTS),  # white text on grey boxes is honest
    "limit_png": (Verdict.UNDETERMINED, VISION),
    "limit_webp": (Verdict.UNDETERMINED, VISION),
}


@pytest.mark.parametrize("name", sorted(set(hostile_inputs.BY_NAME) - {"clean_paystub", "limit_pdf_reverse_text"}
                                        - {i.name for i in hostile_inputs.INPUTS if i.heavy}))
def test_hostile_upload_beside_a_pay_stub(name: str, offline: Applicant) -> None:
    """Each hostile upload gets its own verdict and reason while the job completes with the applicant's
    other document read (a hostile file never takes the batch down)."""
    from tests.unit.test_hostile_documents import REFUSED

    ev = _completed(offline.evaluate({"stub": hostile_inputs.clean_paystub_pdf(),
                                      "upload": hostile_inputs.BY_NAME[name].build()},
                                     now=datetime(2026, 12, 1, 12, 0, tzinfo=UTC)))
    stub, upload = _document(ev, "stub"), _document(ev, "upload")
    assert (stub.verdict, stub.kind, stub.reason) == (Verdict.CLEAN, "pay_stub", FACTS)
    expected = (Verdict.UNREADABLE, REFUSED[name]) if name in REFUSED else HOSTILE_READ[name]
    assert (upload.verdict, upload.reason) == expected
    if name in ("text_show_4m", "inflate_1gib"):  # refused, and the bomb is a finding on the file
        assert [(s.code, s.severity) for s in upload.signals] == [("pdf_stream_inflation", "high")]
