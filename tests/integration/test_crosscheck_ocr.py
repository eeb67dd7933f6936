"""Two readers with the real OCR engine (issue 12, item 4): a "searchable" scan whose invisible text layer was
edited (one amount changed) gives a high ``readers_disagree`` signal with both values and the document is
``edited``; the same scan with its honest text layer gives none. Two OCR'd pages in all (~4 CPU-s each)."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest

from leadeval.adapters.ai.offline import OfflineVisionModel
from leadeval.adapters.ocr.rapid import RapidOcrReader, ocr_available
from leadeval.models import DocumentResult, Verdict
from leadeval.screening.crosscheck import SIGNAL_CODE
from leadeval.screening.documents import prepare_document
from leadeval.screening.scoring import document_verdict

pytestmark = pytest.mark.skipif(not ocr_available(), reason="the ocr extra (rapidocr, onnxruntime) is not installed")


def _scan_with_text_layer(replace: dict[str, str] | None = None) -> bytes:
    """A sample pay stub as a scanner's searchable PDF: the page is an image, and each word of the stub is
    written over it as invisible text (PDF text render mode 3) — with ``replace``'s words changed."""
    from fpdf import FPDF
    from fpdf.enums import TextMode

    from leadeval_tools.samples import build_sample_set

    sample = build_sample_set(today=date(2026, 1, 10))
    stub = next(d for d in sample.documents if d.document_type == "pay_stub" and d.file_name.endswith(".pdf"))
    original = prepare_document("stub", sample.files[stub.storage_key])
    image = original.page_image(0, 1700)
    assert image is not None
    pdf = FPDF(unit="pt", format="letter")
    pdf.add_page()
    pdf.image(io.BytesIO(image), x=0, y=0, w=pdf.w, h=pdf.h)
    pdf.text_mode = TextMode.INVISIBLE
    for word in original.layout[0].words:
        x0, y0, _, y1 = word.box
        size = max(4.0, (y1 - y0) * pdf.h * 0.95)
        pdf.set_font("Helvetica", size=size)
        pdf.text(x0 * pdf.w, y1 * pdf.h - size * 0.2, (replace or {}).get(word.text, word.text) + " ")
    return bytes(pdf.output())


@pytest.fixture(scope="module", name="reader")
def _reader() -> RapidOcrReader:
    return RapidOcrReader()


def test_an_edited_text_layer_over_a_scan_is_found_by_the_ocr_of_the_page(reader: RapidOcrReader) -> None:
    document = prepare_document("doc_edited", _scan_with_text_layer({"2,900.00": "3,900.00"}))
    assert document.text is not None and "3,900.00" in document.text and "2,900.00" not in document.text
    extraction = OfflineVisionModel(reader).extract(document)
    assert extraction.facts is not None and extraction.facts.gross_pay == Decimal("3900.00")  # the text layer's
    [signal] = extraction.signals
    assert (signal.code, signal.severity, signal.field) == (SIGNAL_CODE, "high", "gross_pay")
    assert (signal.expected, signal.actual, signal.page) == ("3,900.00", "2,900.00", 1)
    assert signal.box is not None and 0.5 < signal.box[0] < signal.box[2] < 1 and 0.2 < signal.box[1] < 0.4
    result = DocumentResult(document_id="doc_edited", verdict=Verdict.CLEAN, reason="facts extracted",
                            facts=extraction.facts, signals=extraction.signals, evidence=extraction.evidence)
    assert document_verdict(result, []) == Verdict.EDITED


def test_an_honest_searchable_scan_raises_nothing_and_agreeing_figures_are_certain(reader: RapidOcrReader) -> None:
    document = prepare_document("doc_honest", _scan_with_text_layer())
    extraction = OfflineVisionModel(reader).extract(document)
    assert extraction.facts is not None and extraction.facts.gross_pay == Decimal("2900.00")
    assert extraction.signals == []
    assert all(extraction.evidence[name].certain for name in ("gross_pay", "net_pay", "ytd_gross"))
