"""Two readers cross-checked (issue 12, item 4): the comparison (screening/crosscheck.py), the offline reader's
text layer against a scripted OCR of the page within the page caps, and a vision model (the Workers AI fake)
against OCR. The real engine on a PDF whose text layer was edited over a scan is in
tests/integration/test_crosscheck_ocr.py."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from PIL import Image

from leadeval.adapters.ai.crosschecked import OcrCrossCheckedModel
from leadeval.adapters.ai.offline import OfflineVisionModel
from leadeval.models import (
    DocumentKind,
    DocumentResult,
    ExtractedFacts,
    FieldEvidence,
    PageLayout,
    PageWord,
    PreparedDocument,
    Verdict,
)
from leadeval.screening.crosscheck import SIGNAL_CODE, Reading, confirm_agreed, cross_check, printed_amounts
from leadeval.screening.scoring import document_verdict, signal_text
from leadeval_tools.fakes.workers_ai import FakeWorkersAI

_BOX = (0.5, 0.3, 0.6, 0.32)


def _stub(**values: object) -> ExtractedFacts:
    return ExtractedFacts(document_kind=DocumentKind.PAY_STUB, **values)  # type: ignore[arg-type]


def _ocr(confidence: float = 0.97, **values: object) -> Reading:
    facts = _stub(**values)
    evidence = {name: FieldEvidence(how="ocr", confidence=confidence, page=1, box=_BOX)
                for name in values if name != "names_shown"}
    text = " ".join(f"{v:,.2f}" for v in values.values() if isinstance(v, Decimal))
    return Reading("OCR", facts, evidence, text)


def test_a_text_layer_figure_the_page_does_not_show_is_a_high_signal_with_both_values() -> None:
    first = Reading("text layer", _stub(gross_pay=Decimal("3900.00"), net_pay=Decimal("2158.15")),
                    {"gross_pay": FieldEvidence(how="text_layer", certain=True, page=1, box=(0.6, 0.2, 0.7, 0.22))},
                    "Gross Pay 3,900.00 Net Pay 2,158.15")
    outcome = cross_check("doc_1", first, _ocr(gross_pay=Decimal("2900.00"), net_pay=Decimal("2158.15")))
    assert outcome.compared == ["gross_pay", "net_pay"]
    assert outcome.agreed == ["net_pay"]
    [signal] = outcome.signals
    assert (signal.code, signal.severity, signal.document_id) == (SIGNAL_CODE, "high", "doc_1")
    assert (signal.field, signal.expected, signal.actual) == ("gross_pay", "3,900.00", "2,900.00")
    assert (signal.page, signal.box) == (1, (0.6, 0.2, 0.7, 0.22))  # where the text layer prints it
    assert "3,900.00" in signal.evidence and "2,900.00" in signal.evidence
    assert signal_text(SIGNAL_CODE)[0].startswith("The figure a program reads differs")
    result = DocumentResult(document_id="doc_1", verdict=Verdict.CLEAN, reason="facts extracted",
                            facts=first.facts, signals=outcome.signals)
    assert document_verdict(result, []) == Verdict.EDITED


def test_an_uncertain_ocr_word_or_a_vision_model_disagreeing_is_medium() -> None:
    text_layer = Reading("text layer", _stub(net_pay=Decimal("2158.15")), {}, "Net Pay 2,158.15")
    [low] = cross_check("d", text_layer, _ocr(confidence=0.6, net_pay=Decimal("2168.15"))).signals
    assert low.severity == "medium"
    model = Reading("vision model", _stub(net_pay=Decimal("2158.15")))
    [medium] = cross_check("d", model, _ocr(net_pay=Decimal("2168.15"))).signals
    assert medium.severity == "medium" and medium.box == _BOX  # the model has no box: OCR's is shown


def test_readers_pairing_different_figures_of_one_page_raise_nothing() -> None:
    # OCR paired "Gross Pay" with the YTD column; the text layer's 2,900.00 is on the OCR'd page too.
    first = Reading("text layer", _stub(gross_pay=Decimal("2900.00")), {}, "Gross Pay 2,900.00 75,400.00")
    second = Reading("OCR", _stub(gross_pay=Decimal("75400.00")), {}, "Gross Pay 2,900.00 75,400.00")
    outcome = cross_check("d", first, second)
    assert outcome.compared == ["gross_pay"] and not outcome.agreed and not outcome.signals


def test_printed_amounts_take_whole_dollars_after_a_dollar_sign_only() -> None:
    text = "Gross $5,600 $ 4200 Net 12.50 1,234.56 paid 01/15/2026 tax year 2026 ZIP 62701 check 1042 5,600"
    assert printed_amounts(text) == {Decimal("5600"), Decimal("4200"), Decimal("12.50"), Decimal("1234.56")}
    # the text layer read "$5,600" as the gross, OCR paired the label with the other figure: both are printed
    first = Reading("text layer", _stub(gross_pay=Decimal("5600.00")), {}, "Gross Pay $5,600 $4,200")
    second = Reading("OCR", _stub(gross_pay=Decimal("4200.00")), {}, "Gross Pay $5,600 $4,200")
    assert cross_check("d", first, second).signals == []


def test_names_agree_across_case_and_order_and_disagree_at_medium() -> None:
    first = Reading("text layer", _stub(names_shown=["Avery Castillo"]), {}, "")
    same = Reading("OCR", _stub(names_shown=["CASTILLO, AVERY"]), {}, "CASTILLO, AVERY")
    assert cross_check("d", first, same).agreed == ["names_shown[0]"]
    other = Reading("OCR", _stub(names_shown=["Morgan Reyes"]), {}, "Employee: Morgan Reyes")
    [signal] = cross_check("d", first, other).signals
    assert (signal.field, signal.expected, signal.actual, signal.severity) == (
        "names_shown", "Avery Castillo", "Morgan Reyes", "medium")


def test_agreement_makes_a_value_certain_keeping_how_it_was_read() -> None:
    mine = {"gross_pay": FieldEvidence(how="model", certain=False)}
    ocr = {"net_pay": FieldEvidence(how="ocr", confidence=0.95, page=1, box=_BOX)}
    out = confirm_agreed(mine, ocr, ["gross_pay", "net_pay", "ytd_gross"])
    assert out["gross_pay"] == FieldEvidence(how="model", certain=True)
    assert out["net_pay"] == FieldEvidence(how="ocr", certain=True, confidence=0.95, page=1, box=_BOX)
    assert out["ytd_gross"].certain and not mine["gross_pay"].certain


# --------------------------------------------------------------------------- with a scripted OCR engine


class ScriptedReader:
    """A PageReader giving one pay stub's words for every page; counts the pages it read."""

    name = "scripted"

    def __init__(self, gross: str, confidence: float = 0.97) -> None:
        self.gross, self.confidence, self.pages = gross, confidence, []  # type: list[int]

    def read(self, image: bytes, page: int) -> PageLayout:
        self.pages.append(page)
        rows = [[("EARNINGS STATEMENT", 0.1)], [("Employee:", 0.1), ("Jordan Sample", 0.25)],
                [("Gross Pay", 0.1), (self.gross, 0.55)], [("Net Pay", 0.1), ("1,912.50", 0.55)]]
        words = [PageWord(text, (x, 0.1 + 0.04 * row, x + 0.012 * len(text), 0.12 + 0.04 * row), self.confidence)
                 for row, cells in enumerate(rows) for text, x in cells]
        return PageLayout(page=page, how="ocr", words=words)


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 80), "white").save(out, "JPEG")
    return out.getvalue()


def _text_pdf(pages: int = 1) -> PreparedDocument:
    text = "EARNINGS STATEMENT\nEmployee: Jordan Sample\nGross Pay 2,500.00\nNet Pay 1,912.50\n"
    return PreparedDocument(document_id="stub", detected_type="pdf", sha256="0" * 64, size_bytes=10,
                            page_count=pages, text=text, page_images=[_jpeg()] * pages)


def test_offline_reader_cross_checks_its_text_layer_with_the_ocr_of_the_page() -> None:
    reader = ScriptedReader("2,800.00")
    extraction = OfflineVisionModel(reader).extract(_text_pdf())
    assert reader.pages == [1]
    assert extraction.facts is not None and extraction.facts.gross_pay == Decimal("2500.00")  # the text layer's
    [signal] = extraction.signals
    assert (signal.field, signal.expected, signal.actual, signal.severity) == ("gross_pay", "2,500.00", "2,800.00",
                                                                               "high")
    honest = OfflineVisionModel(ScriptedReader("2,500.00")).extract(_text_pdf())
    assert honest.signals == [] and honest.evidence["gross_pay"].certain and honest.evidence["net_pay"].certain


def test_without_an_engine_or_past_the_caps_no_page_is_ocrd_and_the_cap_is_named() -> None:
    assert OfflineVisionModel(None).extract(_text_pdf()).signals == []
    reader = ScriptedReader("2,800.00")
    model = OfflineVisionModel(reader, ocr_pages_per_document=1, ocr_pages_per_job=1).for_job()
    assert len(model.extract(_text_pdf()).signals) == 1
    second = model.extract(_text_pdf())  # the job's one page is spent
    assert reader.pages == [1] and second.signals == []
    assert second.note is not None and "LEADEVAL_OCR_PAGES_PER_JOB=1" in second.note
    off = OfflineVisionModel(reader, ocr_pages_per_document=0)
    assert off.extract(_text_pdf()).signals == [] and reader.pages == [1]
    unchecked = OfflineVisionModel(reader, crosscheck_pages_per_job=0)  # the setting's default: no OCR of text PDFs
    assert unchecked.extract(_text_pdf()).signals == [] and reader.pages == [1]
    budget = OfflineVisionModel(reader, crosscheck_pages_per_job=1).for_job()
    assert len(budget.extract(_text_pdf()).signals) == 1
    spent = budget.extract(_text_pdf())
    assert reader.pages == [1, 1] and spent.note is not None
    assert "LEADEVAL_OCR_CROSSCHECK_PAGES_PER_JOB=1" in spent.note


@pytest.mark.parametrize(("printed", "signals"), [("2,500.00", 0), ("2,800.00", 1)])
def test_a_vision_models_answer_is_cross_checked_with_ocr(printed: str, signals: int) -> None:
    fake = FakeWorkersAI()  # answers the fixed pay stub: gross 2,500.00, net 1,912.50, Jordan Sample
    reader = ScriptedReader(printed)
    model = OcrCrossCheckedModel(fake.vision_model(), OfflineVisionModel(reader)).for_job()
    scan = PreparedDocument(document_id="scan", detected_type="jpeg", sha256="0" * 64, size_bytes=10, page_count=1,
                            page_images=[_jpeg()])
    extraction = model.extract(scan)
    assert fake.calls == 1 and reader.pages == [1] and model.name == fake.vision_model().name
    assert extraction.facts is not None and extraction.facts.gross_pay == Decimal("2500.00")
    assert len(extraction.signals) == signals
    assert extraction.evidence["net_pay"].certain and extraction.evidence["names_shown[0]"].certain
    assert extraction.evidence.get("gross_pay", FieldEvidence(how="model")).certain is (signals == 0)
    if signals:
        assert (extraction.signals[0].severity, extraction.signals[0].actual) == ("medium", "2,800.00")


def test_wiring_cross_checks_a_vision_model_only_when_ocr_and_the_cross_check_are_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from leadeval.config import Settings
    from leadeval.wiring import make_vision_model

    monkeypatch.setattr("leadeval.adapters.ocr.rapid.ocr_available", lambda: True)
    env = {"LEADEVAL_MODEL_URL": "openai+http://localhost:11434/v1?model=llava",
           "LEADEVAL_OCR_PAGES_PER_DOCUMENT": "2", "LEADEVAL_OCR_CROSSCHECK_PAGES_PER_JOB": "3"}
    wrapped = make_vision_model(Settings.from_env(env))
    assert isinstance(wrapped, OcrCrossCheckedModel) and wrapped.reader.ocr_pages_per_document == 2
    assert wrapped.reader.crosscheck_pages_per_job == 3
    off = make_vision_model(Settings.from_env({**env, "LEADEVAL_OCR_PAGES_PER_DOCUMENT": "0"}))
    assert not isinstance(off, OcrCrossCheckedModel) and off.name == wrapped.name
    default = make_vision_model(Settings.from_env({k: v for k, v in env.items()
                                                   if k != "LEADEVAL_OCR_CROSSCHECK_PAGES_PER_JOB"}))
    assert not isinstance(default, OcrCrossCheckedModel)  # off unless configured: it costs seconds a page
    offline = make_vision_model(Settings.from_env({"LEADEVAL_OCR_PAGES_PER_DOCUMENT": "2"}))
    assert offline.crosscheck_pages_per_job == 0  # type: ignore[attr-defined]
