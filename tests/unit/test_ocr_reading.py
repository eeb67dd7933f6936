"""The offline reader on OCR'd pages, with a scripted PageReader (no engine): lines by geometry, figures
confirmed only by arithmetic, undetermined otherwise, page caps named in the note."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from leadeval.adapters.ai.offline import OcrPagesLeft, OfflineVisionModel
from leadeval.models import PageLayout, PageWord, PreparedDocument


class ScriptedReader:
    """A PageReader returning the same words for every page, and counting the pages it was asked to read."""

    name = "scripted"

    def __init__(self, rows: list[list[tuple[str, float]]], confidence: float = 0.93) -> None:
        self.rows, self.confidence, self.pages = rows, confidence, []

    def read(self, image: bytes, page: int) -> PageLayout:
        self.pages.append(page)
        words = []
        for row, cells in enumerate(self.rows):  # fragments given right to left: geometry must order them
            for text, x in reversed(cells):
                y = 0.1 + 0.04 * row
                words.append(PageWord(text, (x, y, x + 0.012 * len(text), y + 0.02), self.confidence))
        return PageLayout(page=page, how="ocr", words=words)


def _stub(net: str) -> list[list[tuple[str, float]]]:
    return [[("EARNINGS STATEMENT", 0.1)], [("Pay Date:", 0.1), ("12/31/2025", 0.25)],
            [("Current", 0.55), ("YTD", 0.75)],
            [("Gross Pay", 0.1), ("5,000.00", 0.55), ("60,000.00", 0.75)],
            [("Total Deductions", 0.1), ("1,682.50", 0.55)], [("Net Pay", 0.1), (net, 0.55)]]


def _scan(pages: int = 1) -> PreparedDocument:
    return PreparedDocument(document_id="scan", detected_type="jpeg", sha256="0" * 64, size_bytes=10,
                            page_count=pages, page_images=[b"jpeg"] * pages)


def test_figures_that_close_are_certain_and_the_document_determined() -> None:
    extraction = OfflineVisionModel(ScriptedReader(_stub("3,317.50"))).for_job().extract(_scan())
    facts = extraction.facts
    assert facts is not None and not extraction.undetermined and extraction.note is None
    assert (facts.gross_pay, facts.total_deductions, facts.net_pay, facts.ytd_gross, facts.pay_frequency) == (
        Decimal("5000.00"), Decimal("1682.50"), Decimal("3317.50"), Decimal("60000.00"), "monthly")
    gross = extraction.evidence["gross_pay"]
    assert (gross.how, gross.certain, gross.confidence, gross.page) == ("ocr", True, 0.93, 1)
    assert gross.box is not None and abs(gross.box[0] - 0.55) < 1e-9


def test_figures_that_do_not_close_leave_the_document_undetermined() -> None:
    # a misread net (3,371.50): net != gross - deductions; gross and YTD still agree with each other
    extraction = OfflineVisionModel(ScriptedReader(_stub("3,371.50"))).for_job().extract(_scan())
    assert extraction.facts is not None and extraction.facts.net_pay == Decimal("3371.50")
    assert extraction.undetermined
    assert extraction.note == ("read by OCR; figures not confirmed by arithmetic or a second reader: net_pay")
    assert not extraction.evidence["net_pay"].certain and extraction.evidence["gross_pay"].certain


def test_page_caps_are_named_when_hit() -> None:
    reader = ScriptedReader(_stub("3,317.50"))
    model = OfflineVisionModel(reader, ocr_pages_per_document=2, ocr_pages_per_job=3).for_job()
    first = model.extract(_scan(pages=3))
    assert reader.pages == [1, 2]
    assert first.note == ("OCR page cap reached: 2 of 3 page image(s) read (LEADEVAL_OCR_PAGES_PER_DOCUMENT=2)")
    second = model.extract(_scan(pages=2))  # one page left in this job
    assert reader.pages == [1, 2, 1]
    assert second.note == "OCR page cap reached: 1 of 2 page image(s) read (LEADEVAL_OCR_PAGES_PER_JOB=3)"
    third = model.extract(_scan(pages=1))
    assert third.facts is None
    assert third.note == ("needs a vision model; OCR page cap reached: 0 of 1 page image(s) read "
                          "(LEADEVAL_OCR_PAGES_PER_JOB=3)")
    assert model.for_job().extract(_scan(pages=1)).facts is not None  # the next job starts its own count


def test_without_an_engine_images_still_need_a_vision_model() -> None:
    extraction = OfflineVisionModel().extract(_scan())
    assert (extraction.facts, extraction.note) == (None, "needs a vision model")


def test_a_jobs_reader_keeps_every_setting_of_the_model_and_only_its_counts_start_again() -> None:
    reader = ScriptedReader(_stub("3,317.50"))
    model = OfflineVisionModel(reader, ocr_pages_per_document=2, ocr_pages_per_job=3, crosscheck_pages_per_job=1)
    model.extract(_scan(pages=3))  # spends 2 of the 3 pages
    job = model.for_job()
    settings = [f.name for f in dataclasses.fields(OfflineVisionModel) if f.init]
    assert settings == ["ocr", "ocr_pages_per_document", "ocr_pages_per_job", "crosscheck_pages_per_job"]
    assert all(getattr(job, name) is getattr(model, name) for name in settings)  # nothing left behind
    assert job.extract(_scan(pages=3)).note == (
        "OCR page cap reached: 2 of 3 page image(s) read (LEADEVAL_OCR_PAGES_PER_DOCUMENT=2)")  # 3 fresh pages
    assert model.extract(_scan(pages=3)).note == (
        "OCR page cap reached: 1 of 3 page image(s) read (LEADEVAL_OCR_PAGES_PER_JOB=3)")  # 1 page left


def test_pages_left_are_spent_once_per_job_and_the_crosscheck_within_them() -> None:
    left = OcrPagesLeft(job=5, crosscheck=1)
    assert left.take(3) == 3 and left == OcrPagesLeft(job=2, crosscheck=1)
    assert left.take(3, crosscheck=True) == 1 and left == OcrPagesLeft(job=1, crosscheck=0)
    assert left.take(2, crosscheck=True) == 0 and left.take(2) == 1 and left.take(1) == 0
    assert left == OcrPagesLeft(job=0, crosscheck=0)


def test_the_reader_takes_its_caps_from_the_settings() -> None:
    from leadeval.config import Settings

    settings = Settings.from_env({"LEADEVAL_OCR_PAGES_PER_DOCUMENT": "2", "LEADEVAL_OCR_PAGES_PER_JOB": "7",
                                  "LEADEVAL_OCR_CROSSCHECK_PAGES_PER_JOB": "4"})
    reader = ScriptedReader(_stub("3,317.50"))
    model = OfflineVisionModel.from_settings(settings, reader)
    assert (model.ocr, model.ocr_pages_per_document, model.ocr_pages_per_job, model.crosscheck_pages_per_job) == (
        reader, 2, 7, 4)
