"""Reading by position: words with boxes, lines by geometry, labels paired with the figures beside them,
evidence (page and box) for each value; pay frequency from what a stub shows; kinds by printed wording."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from leadeval.adapters.ai.offline import OfflineVisionModel, extract_facts, infer_frequency
from leadeval.models import DocumentKind, PageLayout, PageWord
from leadeval.screening.documents import prepare_document
from leadeval.screening.layout import layout_text, page_lines

ROWS = [  # label, current, year to date
    ("Gross Pay", "3,900.00", "46,800.00"),
    ("Federal Income Tax", "468.00", "5,616.00"),
    ("Social Security", "241.80", "2,901.60"),
    ("Medicare", "56.55", "678.60"),
    ("State Income Tax", "105.78", "1,269.36"),
    ("Total Deductions", "872.13", "10,465.56"),
    ("Net Pay", "3,027.87", "36,334.44"),
]


def _two_column_stub() -> bytes:
    """A clean stub drawn column by column (all labels, then the rates, then current, then YTD), so its text
    layer lists every label before any figure: the order that made the old reader take a rate for the gross."""
    from fpdf import FPDF

    pdf = FPDF(format="letter")
    pdf.add_page()
    pdf.set_font("Helvetica", size=10)
    pdf.text(20, 20, "ACME Widgets Inc. Earnings Statement")
    pdf.text(20, 28, "Pay Date: 12/31/2026")
    pdf.text(20, 40, "Description")
    pdf.text(20, 48, "Regular")
    for row, (label, _, _) in enumerate(ROWS):
        pdf.text(20, 56 + 8 * row, label)
    pdf.text(80, 40, "Rate")
    pdf.text(80, 48, "86.67")
    pdf.text(100, 40, "Hours")
    pdf.text(100, 48, "45.00")
    pdf.text(130, 40, "Current")
    pdf.text(130, 48, "3,900.00")
    for row, (_, current, _) in enumerate(ROWS):
        pdf.text(130, 56 + 8 * row, current)
    pdf.text(170, 40, "YTD")
    pdf.text(170, 48, "46,800.00")
    for row, (_, _, ytd) in enumerate(ROWS):
        pdf.text(170, 56 + 8 * row, ytd)
    return bytes(pdf.output())


def test_two_column_stub_pairs_labels_with_figures_by_position() -> None:
    doc = prepare_document("stub", _two_column_stub())
    assert doc.layout and doc.layout[0].page == 1
    # the text layer lists the labels first: read as text alone the gross is the rate
    assert doc.text is not None and doc.text.index("Net Pay") < doc.text.index("86.67")
    extraction = OfflineVisionModel().extract(doc)
    facts = extraction.facts
    assert facts is not None and facts.document_kind == DocumentKind.PAY_STUB
    assert facts.gross_pay == Decimal("3900.00")
    assert facts.total_deductions == Decimal("872.13")
    assert facts.net_pay == Decimal("3027.87")
    assert facts.ytd_gross == Decimal("46800.00")
    assert facts.pay_date == date(2026, 12, 31)
    assert facts.pay_frequency == "monthly"  # 46,800 / 3,900 = 12 periods paid by December 31
    gross = extraction.evidence["gross_pay"]
    assert gross.how == "text_layer" and gross.certain and gross.page == 1 and gross.box is not None
    x0, y0, _x1, y1 = gross.box
    letter_w, letter_h = 215.9, 279.4  # fpdf2 letter page in mm
    assert abs(x0 - 130 / letter_w) < 0.01 and 0 < y0 < y1 < 1
    assert abs(y1 - 56 / letter_h) < 0.02  # the Gross Pay row's baseline, not the Regular row's
    assert extraction.evidence["total_deductions"].certain
    assert extraction.evidence["ytd_gross"].box is not None and extraction.evidence["ytd_gross"].box[0] > 0.75


def test_lines_are_made_by_geometry_not_drawing_order() -> None:
    words = [PageWord("3,900.00", (0.6, 0.30, 0.7, 0.32)), PageWord("Gross", (0.1, 0.30, 0.16, 0.32)),
             PageWord("Net", (0.1, 0.40, 0.14, 0.42)), PageWord("Pay", (0.17, 0.30, 0.21, 0.32)),
             PageWord("3,027.87", (0.6, 0.401, 0.7, 0.421)), PageWord("Pay", (0.15, 0.40, 0.19, 0.42))]
    lines = page_lines(words)
    assert [[w.text for w in line] for line in lines] == [["Gross", "Pay", "3,900.00"], ["Net", "Pay", "3,027.87"]]
    laid = layout_text([PageLayout(page=1, how="text_layer", words=words)])
    assert laid.text == "Gross Pay  3,900.00\nNet Pay  3,027.87"
    start = laid.text.index("3,027.87")
    assert [w.word.text for w in laid.words_in(start, start + 8)] == ["3,027.87"]


@pytest.mark.parametrize(("start", "end", "paid", "gross", "ytd", "expected"), [
    (None, None, date(2025, 12, 31), "5000.00", "60000.00", "monthly"),
    (None, None, date(2025, 12, 31), "2000.00", "48000.00", "semimonthly"),
    (None, None, date(2025, 12, 26), "2000.00", "52000.00", "biweekly"),
    (None, None, date(2025, 3, 28), "1000.00", "13000.00", "weekly"),
    (None, None, date(2025, 12, 31), "5000.00", "99999.99", None),  # not a whole number of periods
    (None, None, date(2025, 6, 30), "5000.00", "60000.00", None),  # 12 periods by June: none fits
    (date(2020, 1, 20), date(2020, 1, 26), None, None, None, "weekly"),
    (date(2020, 4, 17), date(2020, 4, 30), None, None, None, "biweekly"),
    (date(2026, 2, 16), date(2026, 2, 28), None, None, None, "semimonthly"),
    (date(2026, 2, 1), date(2026, 2, 28), None, None, None, "monthly"),
])
def test_pay_frequency_inferred(start: date | None, end: date | None, paid: date | None, gross: str | None,
                                ytd: str | None, expected: str | None) -> None:
    assert infer_frequency(start, end, paid, Decimal(gross) if gross else None,
                           Decimal(ytd) if ytd else None) == expected


@pytest.mark.parametrize(("text", "kind"), [
    ("MOUNTAIN VIEW CREDIT UNION\nMember Statement\nShare Draft 0012\nBalance Forward 1,200.00", "bank_statement"),
    ("Statement of Account\nChecking 1234", "bank_statement"),
    ("MASSACHUSETTS\nDRIVER'S LICENSE\nCONNOR SAMPLE", "government_id"),
    ("COLORADO\nDL ADULT NON REAL ID\nDOB 04/24/1976 EXP 04/24/2018", "government_id"),
    ("P<USATRAVELER<<HAPPY<<<<<<<<<<<<<<<<<<<<<<<<<\nE000077306USA6502056F3010146<<<<<<<<<<<<<<04", "government_id"),
])
def test_kinds_by_printed_wording(text: str, kind: str) -> None:
    assert extract_facts(text).document_kind == DocumentKind(kind)


@pytest.mark.parametrize(("name", "frequency", "gross", "ytd"), [
    ("paystub_gusto_style_text.pdf", "monthly", "5000.00", "60000.00"),
    ("paystub_trinet_style_text.pdf", "monthly", "5000.00", "60000.00"),
    ("paystub_adp_style_inconsistent_ytd.pdf", None, "5000.00", "99999.99"),
])
def test_corpus_stubs_read_by_position(corpus_dir: Path, name: str, frequency: str | None, gross: str,
                                       ytd: str) -> None:
    extraction = OfflineVisionModel().extract(prepare_document(name, (corpus_dir / "documents" / name).read_bytes()))
    facts = extraction.facts
    assert facts is not None
    assert (facts.pay_frequency, facts.gross_pay, facts.ytd_gross) == (frequency, Decimal(gross), Decimal(ytd))
    assert facts.total_deductions == Decimal("1682.50")  # 800 + 310 + 72.50 + 500, summed from the lines
    assert extraction.evidence["gross_pay"].certain and extraction.evidence["ytd_gross"].certain
    assert extraction.evidence["total_deductions"].how == "derived"
    assert not extraction.evidence["total_deductions"].certain


def test_w2_names_and_employer_from_address_blocks(corpus_dir: Path) -> None:
    data = (corpus_dir / "documents" / "w2_2020_text.pdf").read_bytes()
    extraction = OfflineVisionModel().extract(prepare_document("w2", data))
    facts = extraction.facts
    assert facts is not None and facts.document_kind == DocumentKind.TAX_FORM
    assert facts.names_shown == ["Anastasia Hodges"]
    assert facts.employer == "NORTH 312"
    assert facts.annual_income == Decimal("23677.70")
    assert extraction.evidence["annual_income"].certain
    name = extraction.evidence["names_shown[0]"]
    assert name.page == 1 and name.box is not None and not name.certain  # unlabelled: located, not certain


def test_licence_numbered_name_fields_and_unlabelled_expiry() -> None:
    # OCR lines of the Washington sample licence (AAMVA fields 1 family name, 2 given names)
    text = ("WA WASHINGTON DRIVER LICENSE\n4dLIC#WDLABCD456DG 9CLASS B DONOR\n23  1 TALBOT\n2 LIAM R.\n"
            "3 DOB 01/06/1958  4aISs01/06/2015\n")
    facts = extract_facts(text)
    assert facts.document_kind == DocumentKind.GOVERNMENT_ID
    assert facts.names_shown == ["LIAM R. TALBOT"]
    assert facts.id_expiry is None  # no expiry label and one plausible validity date: not guessed
    with_issue = extract_facts(text + "REV 07/01/2018\n")
    assert with_issue.id_expiry == date(2018, 7, 1)  # unlabelled: the latest of two or more plausible dates
    assert extract_facts(text + "B  4b EXP 08/12/2020\n").id_expiry == date(2020, 8, 12)  # labelled wins


def test_licence_expiry_read_under_its_label() -> None:
    from leadeval.adapters.ai.offline import read_document

    def word(text: str, x: float, y: float) -> PageWord:
        return PageWord(text, (x, y, x + 0.015 * len(text), y + 0.03), 0.9)

    words = [word("7/8/2021", 0.05, 0.01), word("DRIVER", 0.5, 0.1), word("LICENSE", 0.62, 0.1),
             word("4b", 0.3, 0.4), word("Exp", 0.34, 0.4), word("12", 0.6, 0.4), word("Restrictions", 0.64, 0.4),
             word("04/24/1976", 0.05, 0.45), word("04/24/2018", 0.3, 0.45), word("NONE", 0.6, 0.45)]
    facts, evidence = read_document(None, [PageLayout(page=1, how="ocr", words=words)])
    assert facts.document_kind == DocumentKind.GOVERNMENT_ID
    assert facts.id_expiry == date(2018, 4, 24)  # not the viewer's 7/8/2021 printed at the top
    assert evidence["id_expiry"].how == "ocr" and not evidence["id_expiry"].certain
    assert evidence["id_expiry"].box is not None and abs(evidence["id_expiry"].box[0] - 0.3) < 1e-9


def test_whole_dollar_figures_are_figures_of_the_layout_and_located_as_evidence() -> None:
    from leadeval.adapters.ai.offline import read_document

    def word(text: str, x: float, y: float) -> PageWord:
        return PageWord(text, (x, y, x + 0.012 * len(text), y + 0.02), 1.0)

    # two tables side by side: a label after a cell of figures starts the next table's row
    words = [word("Earnings", 0.05, 0.05), word("Statement", 0.16, 0.05),
             word("Gross", 0.05, 0.3), word("Pay", 0.12, 0.3), word("$5,600", 0.3, 0.3),
             word("Net", 0.55, 0.3), word("Pay", 0.6, 0.3), word("$4,200", 0.8, 0.3)]
    page = PageLayout(page=1, how="text_layer", words=words)
    assert layout_text([page]).text == "Earnings Statement\nGross Pay  $5,600\nNet Pay  $4,200"
    facts, evidence = read_document(None, [page])
    assert (facts.gross_pay, facts.net_pay) == (Decimal("5600.00"), Decimal("4200.00"))
    gross = evidence["gross_pay"]
    assert gross.certain and gross.how == "text_layer" and gross.box is not None and abs(gross.box[0] - 0.3) < 1e-9
