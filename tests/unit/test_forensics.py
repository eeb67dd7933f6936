"""Page forensics, identifiers, payroll and statement arithmetic, revisions and reuse (issue 13): each check on
documents built here (fpdf2 / pypdf, made-up people), its honest edge cases and the evidence it carries."""

from __future__ import annotations

import io
import random
import re
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from pypdf import PdfReader

from leadeval.jobs.records import PriorSubmission
from leadeval.models import DocumentKind, DocumentResult, ExtractedFacts, Signal, Verdict
from leadeval.screening.forensics import page_signals
from leadeval.screening.forensics.arithmetic import (
    fica_problems,
    pay_dates_consistent,
    running_balance_problems,
    w2_problems,
)
from leadeval.screening.forensics.content import read_pages
from leadeval.screening.forensics.identifiers import aba_checksum_ok, ssn_problem
from leadeval.screening.forensics.verdict import risk
from leadeval.screening.fraud import fingerprints_of, identity_hash, name_hash, pdf_signals, with_reuse
from leadeval_tools import tamper


def signals_of(data: bytes) -> list[Signal]:
    reader = PdfReader(io.BytesIO(data))
    return [*pdf_signals("d1", data, reader), *page_signals("d1", reader, read_pages(data))]


def codes(data: bytes) -> list[str]:
    return sorted({s.code for s in signals_of(data) if s.severity != "low"})


def rng() -> random.Random:
    return random.Random(7)


def stub_bytes(**changes: Any) -> bytes:
    stub = tamper.make_stub(rng(), ("Dana", "Whitfield"), layout=changes.pop("layout", 0))
    for key, value in changes.items():
        setattr(stub, key, value)
    pdf, _ = tamper.draw_stub(stub)
    return bytes(pdf.output())


# --------------------------------------------------------------------------- page content


def test_a_clean_stub_in_every_layout_raises_nothing_medium() -> None:
    """Layout 2 draws white text on a dark header bar: honest white text is not hidden text."""
    for layout in (0, 1, 2):
        assert codes(stub_bytes(layout=layout)) == [], layout


@pytest.mark.parametrize(("family", "code", "severity"), [
    ("font_amount", "mixed_font_amount", "high"),
    ("cover_up", "opaque_mask_followed_by_text", "high"),
    ("white_text", "invisible_text", "medium"),
    ("invisible_text", "invisible_text", "medium"),
    ("outside_cropbox", "text_outside_cropbox", "medium"),
    ("annotation", "annotation_over_content", "medium"),
    ("two_sources", "font_subset_mixed", "medium"),
])
def test_each_page_check_catches_its_tamper_with_a_page_and_box(family: str, code: str, severity: str) -> None:
    data = tamper._tampered_stub(family, rng(), ("Dana", "Whitfield"))
    [signal] = [s for s in signals_of(data) if s.code == code]
    assert (signal.severity, signal.page, signal.document_id) == (severity, 1, "d1")
    if code != "text_outside_cropbox" and code != "font_subset_mixed":
        assert signal.box is not None and all(0 <= v <= 1 for v in signal.box)
        x0, y0, x1, y1 = signal.box
        assert x0 <= x1 and y0 <= y1


def test_mixed_font_names_the_fonts_and_the_cover_up_the_new_text() -> None:
    font = next(s for s in signals_of(tamper._tampered_stub("font_amount", rng(), ("A", "B")))
                if s.code == "mixed_font_amount")
    assert (font.field, font.expected) == ("amount", "helvetica")
    assert font.actual is not None and font.actual.split()[0] in ("Courier", "Times-Roman")
    cover = next(s for s in signals_of(tamper._tampered_stub("cover_up", rng(), ("A", "B")))
                 if s.code == "opaque_mask_followed_by_text")
    assert cover.actual is not None and re.fullmatch(r"[\d,]+\.\d\d", cover.actual)
    assert "then 1 piece(s)" in cover.evidence


def test_bold_totals_are_one_family_not_a_mixed_font() -> None:
    """Total Deductions and Net Pay are Helvetica-Bold, the other amounts Helvetica: one family."""
    assert "mixed_font_amount" not in codes(stub_bytes())


def test_invisible_text_over_a_scanned_image_is_an_ocr_layer_not_a_finding() -> None:
    from fpdf import FPDF
    from fpdf.enums import TextMode
    from PIL import Image

    pdf = FPDF(unit="pt")
    pdf.add_page()
    image = io.BytesIO()
    Image.new("RGB", (60, 80), "white").save(image, "PNG")
    pdf.image(image, x=0, y=0, w=595, h=842)
    pdf.text_mode = TextMode.INVISIBLE
    pdf.set_font("Helvetica", size=10)
    pdf.text(72, 100, "Gross Pay 3,900.00")
    assert "invisible_text" not in codes(bytes(pdf.output()))


def test_per_page_subset_tags_are_benign_but_two_tags_on_one_page_are_not() -> None:
    """A multi-page statement whose generator subsets fonts per page has a tag per page: no finding."""
    statement = tamper.make_statement(rng(), ("Dana", "Whitfield"), two_pages=True)
    data = tamper.tag_fonts(tamper.statement_pdf(statement), "CCCCCC", page_tags=["CCCCCC", "DDDDDD"])
    assert len(PdfReader(io.BytesIO(data)).pages) == 2
    assert "font_subset_mixed" not in codes(data)
    one_page = tamper.paste_from_other_source(stub_bytes(), (100, 100, 40, 6), "9,999.00")
    [signal] = [s for s in signals_of(one_page) if s.code == "font_subset_mixed"]
    assert "AAAAAA" in signal.evidence and "BBBBBB" in signal.evidence


def test_a_highlight_is_low_and_a_link_is_nothing() -> None:
    from fpdf import FPDF

    def page(highlight: bool) -> bytes:
        pdf = FPDF()
        pdf.add_page()
        pdf.set_font("Helvetica", size=10)
        pdf.cell(40, 10, "Net Pay 2,000.00")
        pdf.link(10, 10, 40, 10, "https://example.com")
        if highlight:
            with pdf.highlight("checked"):
                pdf.cell(40, 10, "2,000.00")
        return bytes(pdf.output())

    assert [s.code for s in signals_of(page(False)) if s.code == "annotation_over_content"] == []
    highlighted = [s for s in signals_of(page(True)) if s.code == "annotation_over_content"]
    assert [s.severity for s in highlighted] == ["low"]


def _drawn(content: bytes, form: bytes = b"", *, resources: bytes = b"", crop: bytes = b"10 10 600 780") -> bytes:
    """A one-page PDF (CropBox ``crop``) drawing ``content``, which may draw the form ``/Fm1`` (``form``), use the
    fonts /F1 (Helvetica) and /F2 (a subset-tagged Courier) and the page ``resources`` added."""
    from tests.hostile_inputs import pdf_bytes, stream_object

    return pdf_bytes({
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /CropBox [" + crop + b"] /Resources "
           b"<< /Font << /F1 5 0 R /F2 7 0 R >> /XObject << /Fm1 6 0 R >> " + resources + b" >> /Contents 4 0 R >>",
        4: stream_object(content),
        5: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        6: stream_object(form, extra=b"/Type /XObject /Subtype /Form /BBox [0 0 500 500] "
                                     b"/Resources << /Font << /F1 5 0 R >> >>"),
        7: b"<< /Type /Font /Subtype /Type1 /BaseFont /ABCDEF+Courier /Encoding /WinAnsiEncoding >>",
    })


def test_page_content_is_read_from_pdfium_objects_in_page_space() -> None:
    """Positions, sizes, fonts, fills, render modes and drawing order as PDFium built the page: text in a form
    XObject is placed by the form's matrix, a path of two ``re`` makes two rectangles, a curve none."""
    content = (b"q 2 0 0 2 30 40 cm BT /F1 9 Tf 10 20 Td (Scaled) Tj ET Q\n"
               b"BT /F2 11 Tf 3 Tr 100 700 Td (Hidden 1,234.00) Tj ET\n"
               b"0 0 0 0 k 50 60 100 20 re 300 60 40 10 re f\n"
               b"0.5 g 400 400 m 450 450 500 400 450 350 c h f\n"
               b"q 1 0 0 1 100 200 cm /Fm1 Do Q\n"
               b"BT 1 1 1 rg /F1 12 Tf 55 65 Td (On top) Tj ET\n")
    form = b"BT /F1 12 Tf 10 20 Td (Inside) Tj ET"
    (page,) = read_pages(_drawn(content, form))

    assert (page.geometry.left, page.geometry.bottom, page.geometry.right, page.geometry.top) == (10, 10, 600, 780)
    assert page.geometry.draws_image is False
    chunks = {c.text: c for c in page.chunks}
    assert list(chunks) == ["Scaled", "Hidden 1,234.00", "Inside", "On top"]
    scaled, hidden, inside, on_top = chunks.values()
    assert (scaled.x, scaled.y, scaled.size) == pytest.approx((50, 80, 18))  # (10, 20) × 2 + (30, 40); 9 pt × 2
    assert (inside.x, inside.y, inside.size) == pytest.approx((110, 220, 12))  # the form's cm applied
    assert (hidden.font, hidden.tag, hidden.mode) == ("Courier", "ABCDEF", 3)
    assert (scaled.font, scaled.tag, scaled.mode, scaled.fill) == ("Helvetica", None, 0, (0.0, 0.0, 0.0))
    assert on_top.fill == (1.0, 1.0, 1.0)
    assert [(r.x0, r.y0, r.x1, r.y1) for r in page.rects] == [(50, 60, 150, 80), (300, 60, 340, 70)]
    assert all(r.fill == (1.0, 1.0, 1.0) for r in page.rects)  # CMYK 0 0 0 0 is white
    assert scaled.order < hidden.order < page.rects[0].order == page.rects[1].order < inside.order < on_top.order


def test_white_text_on_a_white_box_over_earlier_text_is_a_cover_up_and_text_in_a_form_counts() -> None:
    """The cover-up check on what PDFium read: the covered text is drawn inside a form XObject."""
    content = b"q 1 0 0 1 60 80 cm /Fm1 Do Q\n1 g 55 75 120 30 re f\n0 g BT /F1 12 Tf 65 90 Td (9,999.00) Tj ET\n"
    form = b"BT /F1 12 Tf 5 10 Td (1,234.00) Tj ET"
    data = _drawn(content, form)
    found = [s for s in page_signals("d1", PdfReader(io.BytesIO(data)), read_pages(data))
             if s.code == "opaque_mask_followed_by_text"]
    assert [(s.severity, s.actual) for s in found] == [("high", "9,999.00")]


# --------------------------------------------------------------------------- identifiers


@pytest.mark.parametrize(("number", "ok"), [
    ("011000015", True),   # a Federal Reserve routing number (Boston)
    ("021000021", True),
    ("011000016", False),  # check digit off by one
    ("131000016", False),  # prefix 13 is used by no bank
    ("12345678", False),
])
def test_aba_checksum(number: str, ok: bool) -> None:
    assert aba_checksum_ok(number) is ok


@pytest.mark.parametrize(("ssn", "problem"), [
    ("123-45-6788", None),
    ("XXX-XX-1234", None),            # masked
    ("***-**-1234", None),
    ("000-00-1234", None),            # zeros as a mask
    ("XXX-XX-0000", "serial 0000 is never issued"),
    ("666-12-3456", "area 666 is never issued"),
    ("912-34-5678", "area 912 is never issued"),
    ("000-12-3456", "area 000 is never issued"),
    ("123-00-4567", "group 00 is never issued"),
    ("078-05-1120", "a well-known specimen number, never a person's"),
    ("219-09-9999", "a well-known specimen number, never a person's"),
])
def test_ssn_problems(ssn: str, problem: str | None) -> None:
    area, group, serial = ssn.split("-")
    assert ssn_problem(area, group, serial) == problem


def test_identifier_signals_never_repeat_a_full_ssn() -> None:
    [signal] = [s for s in signals_of(stub_bytes(ssn="666-12-3456")) if s.code == "invalid_ssn"]
    assert "666-12" not in signal.evidence and signal.actual == "XXX-XX-3456"
    assert [s.code for s in signals_of(stub_bytes(ein="07-1234567")) if s.code == "invalid_ein"] == ["invalid_ein"]
    assert [s.code for s in signals_of(stub_bytes(ein="12-3456789")) if s.code == "invalid_ein"] == []


# --------------------------------------------------------------------------- payroll tax


@pytest.mark.parametrize(("gross", "ss", "medicare", "ytd", "fields"), [
    ("3900.00", "241.80", "56.55", "15600.00", []),            # the honest stub
    ("4000.00", "248.00", "58.00", None, []),                 # round but honest amounts
    ("3900.00", "229.40", "53.65", None, []),                  # $200 pre-tax health premium: both lower
    ("3900.00", "300.00", "56.55", None, ["social_security_tax"]),  # more than 6.2 %
    ("5900.00", "241.80", "56.55", None, ["social_security_tax", "medicare_tax"]),  # gross inflated
    ("3900.00", "241.80", "50.00", None, ["social_security_tax"]),  # SS ÷ Medicare ≠ 6.2 ÷ 1.45
    ("9000.00", "0.00", "130.50", "180000.00", []),            # past the wage base: no SS
])
def test_fica(gross: str, ss: str, medicare: str, ytd: str | None, fields: list[str]) -> None:
    problems = fica_problems(Decimal(gross), Decimal(ss), Decimal(medicare), Decimal(ytd) if ytd else None)
    assert [p[0] for p in problems] == fields


def test_w2_boxes() -> None:
    assert w2_problems(2025, Decimal("52000.00"), Decimal("3224.00"), Decimal("52000.00"), Decimal("754.00")) == []
    # above the 2025 wage base: box 3 capped at $176,100, box 4 = 6.2 % of it; Additional Medicare above $200,000
    assert w2_problems(2025, Decimal("176100.00"), Decimal("10918.20"), Decimal("250000.00"),
                       Decimal("4075.00")) == []
    assert [p[0] for p in w2_problems(2025, Decimal("180000.00"), Decimal("11160.00"), None, None)] == [
        "social_security_wages", "social_security_tax"]
    assert w2_problems(2026, Decimal("180000.00"), Decimal("11160.00"), None, None) == []  # 2026 base $184,500
    assert [p[0] for p in w2_problems(2025, Decimal("52000.00"), Decimal("3624.00"), Decimal("52000.00"),
                                      Decimal("754.00"))] == ["social_security_tax"]


# --------------------------------------------------------------------------- statements


def test_running_balance_accepts_unsigned_debits_and_flags_a_break() -> None:
    rows = [(Decimal("100.00"), Decimal("1100.00")), (Decimal("40.00"), Decimal("1060.00")),  # unsigned debit
            (Decimal("-10.00"), Decimal("1050.00")), (Decimal("5.00"), Decimal("2000.00"))]
    assert running_balance_problems(rows, Decimal("1000.00")) == [(3, "$1,055.00 or $1,045.00", "$2,000.00")]


def test_statement_rows_on_the_page() -> None:
    statement = tamper.make_statement(rng(), ("Dana", "Whitfield"), two_pages=False)
    assert codes(tamper.statement_pdf(statement)) == []
    statement.balance_override = {2: Decimal("9999.99")}
    broken = [s for s in signals_of(tamper.statement_pdf(statement)) if s.code == "running_balance_mismatch"]
    assert broken[0].actual == "$9,999.99" and broken[0].field == "balance" and broken[0].page == 1
    # the row after the break is checked against the printed (wrong) balance too: one or two findings, never none
    assert 1 <= len(broken) <= 2


def test_same_amount_on_two_days_is_not_a_duplicate_row() -> None:
    statement = tamper.make_statement(rng(), ("A", "B"), two_pages=False)
    statement.rows = [(date(2026, 2, 3), "COFFEE HOUSE", Decimal("-4.75")), (date(2026, 2, 4), "COFFEE HOUSE",
                                                                              Decimal("-4.75"))]
    assert "duplicate_transaction" not in {s.code for s in signals_of(tamper.statement_pdf(statement))}
    statement.rows.append((date(2026, 2, 4), "COFFEE HOUSE", Decimal("-4.75")))
    dup = [s for s in signals_of(tamper.statement_pdf(statement)) if s.code == "duplicate_transaction"]
    assert [s.severity for s in dup] == ["low"]


@pytest.mark.parametrize(("frequency", "first", "second", "ok"), [
    ("biweekly", date(2026, 1, 2), date(2026, 1, 16), True),
    ("biweekly", date(2026, 1, 2), date(2026, 1, 30), True),   # one stub missing between
    ("biweekly", date(2026, 1, 2), date(2026, 1, 23), False),
    ("semimonthly", date(2026, 1, 15), date(2026, 1, 31), True),
    ("monthly", date(2026, 1, 31), date(2026, 3, 2), True),
])
def test_pay_dates(frequency: str, first: date, second: date, ok: bool) -> None:
    assert pay_dates_consistent(frequency, first, second) is ok


# --------------------------------------------------------------------------- print to PDF, editors


def test_print_to_pdf_producer_is_low() -> None:
    statement = tamper.make_statement(rng(), ("A", "B"), two_pages=False)
    statement.producer = "Microsoft: Print To PDF"
    [signal] = [s for s in signals_of(tamper.statement_pdf(statement)) if s.code == "pdf_print_to_pdf"]
    assert (signal.severity, signal.evidence) == ("low", "Producer: Microsoft: Print To PDF")


# --------------------------------------------------------------------------- risk


@pytest.mark.parametrize(("severities", "expected"), [
    ([], (0, "LOW")), (["low"], (10, "LOW")), (["low", "low"], (10, "LOW")), (["medium"], (40, "MEDIUM")),
    (["medium", "medium", "low"], (45, "MEDIUM")), (["high"], (70, "HIGH")), (["high", "medium"], (75, "HIGH")),
    (["high"] * 10, (100, "HIGH")), (["medium"] * 10, (69, "MEDIUM")),
])
def test_risk_worst_signal_wins(severities: list[Any], expected: tuple[int, str]) -> None:
    assert risk([Signal(code="x", severity=s, evidence="e") for s in severities]) == expected


# --------------------------------------------------------------------------- reuse


def stub_result(doc_id: str, sha: str, names: list[str], employer: str = "Acme Logistics LLC") -> DocumentResult:
    facts = ExtractedFacts(document_kind=DocumentKind.PAY_STUB, names_shown=names, employer=employer,
                           pay_date=date(2026, 3, 6), gross_pay=Decimal("2500.00"), net_pay=Decimal("2000.00"))
    return DocumentResult(document_id=doc_id, verdict=Verdict.CLEAN, reason="facts extracted", facts=facts,
                          sha256=sha)


def test_identity_hash_ignores_legal_suffixes_and_needs_enough_facts() -> None:
    a = identity_hash(stub_result("a", "1", [], "Acme Logistics LLC").facts)
    b = identity_hash(stub_result("b", "2", [], "ACME LOGISTICS").facts)
    assert a is not None and a == b and a.startswith("identity:")
    assert identity_hash(ExtractedFacts(document_kind=DocumentKind.PAY_STUB, gross_pay=Decimal("1"))) is None
    assert identity_hash(ExtractedFacts(document_kind=DocumentKind.GOVERNMENT_ID)) is None


def test_reuse_by_identity_both_ways_with_the_name_match_stated() -> None:
    """Jane's stub, re-exported (another file hash), comes from Morgan: Morgan goes to review; when Jane applies
    after Morgan, Jane goes to review too, and the reason says the printed name is hers."""
    index: list[PriorSubmission] = []

    def lookup(hashes: list[str]) -> list[PriorSubmission]:
        return [p for p in index if p.file_sha256 in hashes]

    first = with_reuse([stub_result("m1", "sha-morgan", ["Jane Doe"])], "Morgan", "Reyes", lookup)
    assert first[0].signals == []
    index += fingerprints_of(first, "Morgan", "Reyes")
    assert {p.name_hash for p in index} == {name_hash("Morgan", "Reyes")} and len(index) == 2  # file + identity

    [jane] = with_reuse([stub_result("j1", "sha-jane", ["Jane Doe"])], "Jane", "Doe", lookup)
    [signal] = jane.signals
    assert (signal.code, signal.severity, signal.field) == ("document_reused", "medium", "identity")
    assert signal.evidence == ("also submitted by another applicant: a document stating the same employer, date "
                               "and amounts came with 1 other applicant name; the name printed on the document "
                               "matches this applicant")
    again = with_reuse([stub_result("j2", "sha-jane", ["Jane Doe"])], "Jane", "Doe", lookup)
    assert again[0].signals[0].evidence.endswith("matches this applicant")
    index += fingerprints_of(again, "Jane", "Doe")  # reused files are indexed too: no first-come advantage
    [morgan_again] = with_reuse([stub_result("m2", "sha-jane", ["Jane Doe"])], "Morgan", "Reyes", lookup)
    assert morgan_again.signals[0].evidence.startswith("also submitted by another applicant: the same file")
    assert morgan_again.signals[0].evidence.endswith("does not match this applicant")


def test_unreadable_documents_are_not_indexed() -> None:
    unread = DocumentResult(document_id="u", verdict=Verdict.UNREADABLE, reason="corrupt", sha256="x")
    assert fingerprints_of([unread], "A", "B") == []


def test_an_amount_in_a_foreign_font_is_one_high_finding_and_line_outliers_compare_with_the_rest_of_the_line() -> None:
    """The retyped amount (another font, another size) is reported once, high; on another line an amount 1 pt off
    the baseline the line's other pieces share is medium; a line whose pieces all differ says nothing."""
    from leadeval.screening.forensics.content import Chunk, PageContent, PageGeometry, mixed_fonts

    def chunk(text: str, x: float, y: float, size: float = 9.0, font: str = "Helvetica") -> Chunk:
        return Chunk(1, text, x, y, size, font, None, (0.0,), 0, int(x))

    page = PageContent(1, PageGeometry(0, 0, 612, 792), chunks=[
        chunk("Gross Pay", 40, 700), chunk("2,000.00", 200, 700), chunk("24,000.00", 300, 700),
        chunk("Net Pay", 40, 680), chunk("1,700.00", 200, 680, size=11.0, font="Courier"),
        chunk("20,400.00", 300, 680),
        chunk("Medicare", 40, 660), chunk("29.00", 200, 661.0), chunk("348.00", 300, 660),
        chunk("Federal", 40, 640, size=8), chunk("150.00", 200, 641, size=10), chunk("1,800.00", 300, 642.5),
    ])
    found = [(s.severity, s.actual) for s in mixed_fonts("d1", page)]
    assert found == [("high", "Courier 11.0pt"), ("medium", "baseline 661.0")]


#: A pay stub's body in Helvetica 10 pt, black: labels at x 72, amounts at x 372.
_BODY = b"".join(b"BT /F1 10 Tf 72 %d Td (%s) Tj ET BT /F1 10 Tf 372 %d Td (%s) Tj ET\n" % (y, label, y, amount)
                 for y, label, amount in ((684, b"Gross Pay", b"2,450.00"), (666, b"Federal Income Tax", b"245.00"),
                                          (648, b"Social Security", b"151.90"), (630, b"Medicare", b"35.53"),
                                          (594, b"Net Pay", b"1,919.57")))
_WHITE_TITLE = b"q BT 1 1 1 rg /F1 11 Tf 80 750 Td (EARNINGS AND DEDUCTIONS) Tj ET Q\n"


def _page_codes(data: bytes) -> list[tuple[str, str]]:
    return sorted({(s.code, s.severity) for s in signals_of(data) if s.severity != "low"})


@pytest.mark.parametrize(("name", "font", "family"), [
    ("Arial", "ArialMT", "helvetica"), ("Arial bold", "Arial-BoldMT", "helvetica"),
    ("Arial as PDFium substitutes it", "Helvetica-Bold", "helvetica"), ("Arial, style after a comma", "Arial,Bold",
                                                                        "helvetica"),
    ("Times", "TimesNewRomanPS-BoldMT", "times"), ("Courier New", "CourierNewPSMT", "courier"),
    ("Calibri", "Calibri-Bold", "calibri"), ("Garamond", "Garamond", "garamond"),
])
def test_font_families_ignore_style_vendor_suffix_and_standard_aliases(name: str, font: str, family: str) -> None:
    from leadeval.screening.forensics.content import Chunk

    assert Chunk(1, "1.00", 0, 0, 10, font, None, (0.0,), 0, 1).family == family, name


@pytest.mark.parametrize(("name", "backdrop", "resources"), [
    ("an inline image", b"q 468 20 0 0 72 745 cm BI /W 2 /H 1 /CS /RGB /BPC 8 ID \x10 `\x10 ` EI Q\n", b""),
    ("a rounded dark box", b"0.1 0.2 0.4 rg 80 745 m 532 745 l 540 745 540 765 532 765 c 80 765 l "
                           b"72 765 72 745 80 745 c f\n", b""),
    ("a dark box drawn with m l l l h", b"0.1 0.2 0.4 rg 72 745 m 540 745 l 540 765 l 72 765 l h f\n", b""),
    ("a shading clipped to the header", b"q 72 745 468 20 re W n /Sh0 sh Q\n",
     b"/Shading << /Sh0 << /ShadingType 2 /ColorSpace /DeviceRGB /Coords [72 0 540 0] /Function << /FunctionType 2 "
     b"/Domain [0 1] /C0 [0.1 0.2 0.4] /C1 [0.3 0.4 0.6] /N 1 >> >> >>"),
    ("a pattern-filled box", b"q /Pattern cs /P0 scn 72 745 468 20 re f Q\n",
     b"/Pattern << /P0 << /PatternType 2 /Shading << /ShadingType 2 /ColorSpace /DeviceRGB /Coords [72 0 540 0] "
     b"/Function << /FunctionType 2 /Domain [0 1] /C0 [0.1 0.2 0.4] /C1 [0.3 0.4 0.6] /N 1 >> >> >> >>"),
])
def test_white_title_on_a_dark_header_of_any_kind_is_not_hidden_text(name: str, backdrop: bytes,
                                                                      resources: bytes) -> None:
    """An honest header: white type on a dark band, whatever draws the band (PDFium reports a pattern fill as
    white; images, shadings and curved shapes are no rectangles). The same title on the bare page is hidden."""
    assert _page_codes(_drawn(backdrop + _WHITE_TITLE + _BODY, resources=resources)) == [], name
    assert _page_codes(_drawn(_WHITE_TITLE + _BODY)) == [("invisible_text", "medium")]


def test_outlined_white_title_shows_its_outline_and_is_not_hidden() -> None:
    """Render mode 2 (fill and stroke) with a white fill and a black outline: the outline shows."""
    outlined = b"q BT 1 1 1 rg 0 0 0 RG 2 Tr /F1 20 Tf 72 750 Td (PAY STATEMENT) Tj ET Q\n"
    assert _page_codes(_drawn(outlined + _BODY)) == []
    assert _page_codes(_drawn(outlined.replace(b"0 0 0 RG", b"1 1 1 RG") + _BODY)) == [("invisible_text", "medium")]


def test_boxes_that_do_not_hide_the_text_under_them_are_not_cover_ups() -> None:
    """A translucent highlight (``ca`` 0.3) and a 3 pt rule through the baseline hide nothing; an opaque box over
    the whole line does; on a page that sets a blend mode (a flattened Multiply highlight), a box with text drawn
    on it is medium, not high."""
    translucent = b"/ExtGState << /G0 << /ca 0.3 >> >>"
    assert _page_codes(_drawn(_BODY + b"q /G0 gs 1 1 0 rg 365 590 60 14 re f Q\n", resources=translucent)) == []
    assert _page_codes(_drawn(_BODY + b"0.85 g 60 593 400 3 re f\n")) == []
    assert _page_codes(_drawn(_BODY + b"1 g 365 590 60 14 re f\n")) == [("opaque_mask_followed_by_text", "medium")]
    retyped = _BODY + b"1 g 365 590 60 14 re f 0 g BT /F1 10 Tf 372 594 Td (9,919.57) Tj ET\n"
    assert _page_codes(_drawn(retyped)) == [("opaque_mask_followed_by_text", "high")]
    multiply = b"/ExtGState << /GM << /BM /Multiply >> >>"
    assert _page_codes(_drawn(b"/GM gs " + retyped, resources=multiply)) == [("opaque_mask_followed_by_text",
                                                                               "medium")]


def test_a_footer_running_past_the_edge_is_cut_off_not_hidden_and_a_far_away_line_is() -> None:
    footer = b"".join(b"BT /F1 9 Tf %d 40 Td (%s) Tj ET\n" % (x, word) for x, word in
                      ((72, b"Questions about this statement? Call payroll at the number on your card"), (400, b"or"),
                       (412, b"visit"), (436, b"the"), (455, b"benefits"), (496, b"portal"), (526, b"online"),
                       (560, b"for"), (576, b"more"), (600, b"details.")))
    assert _page_codes(_drawn(_BODY + footer, crop=b"0 0 590 792")) == []
    planted = b"BT /F1 9 Tf 760 40 Td (Net Pay 9,919.57) Tj ET\n"
    assert _page_codes(_drawn(_BODY + planted, crop=b"0 0 590 792")) == [("text_outside_cropbox", "medium")]


def test_a_crop_box_given_by_its_other_corners_holds_the_page() -> None:
    """ISO 32000-1 §7.9.5: a rectangle may name any two opposite corners."""
    assert _page_codes(_drawn(_BODY, crop=b"612 792 0 0")) == []


def test_the_same_baseline_step_on_every_line_is_layout_and_a_single_one_is_a_finding() -> None:
    def stub(offsets: dict[int, float]) -> bytes:
        return b"".join(b"BT /F1 10 Tf 72 %d Td (%s) Tj ET BT /F1 10 Tf 250 %d Td (YTD) Tj ET "
                        b"BT /F1 10 Tf 372 %.1f Td (%s) Tj ET\n" % (y, label, y, y + offsets.get(y, 0.0), amount)
                        for y, label, amount in ((684, b"Gross Pay", b"2,450.00"), (666, b"Federal Tax", b"245.00"),
                                                 (648, b"Social Security", b"151.90"), (630, b"Medicare", b"35.53")))

    assert _page_codes(_drawn(stub({684: 0.8, 666: 0.8, 648: 0.8, 630: 0.8}))) == []
    assert _page_codes(_drawn(stub({666: 0.8}))) == [("mixed_font_amount", "medium")]


def test_text_grouped_by_object_in_one_pass_reads_what_pdfium_gives_each_object(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A page of very many text objects is read through one pass over its characters (PDFium's per-object
    ``FPDFTextObj_GetText`` scans the whole page each time): the pieces, positions and fonts are the same."""
    from leadeval.screening.forensics import content

    data = stub_bytes(layout=1)
    per_object = [(c.text, c.x, c.y, c.size, c.font, c.order) for c in read_pages(data)[0].chunks]
    monkeypatch.setattr(content, "MAX_TEXT_SCAN", 0)
    indexed = [(c.text, c.x, c.y, c.size, c.font, c.order) for c in read_pages(data)[0].chunks]
    assert len(per_object) > 20
    assert indexed == per_object


def test_an_a4_page_whose_box_is_inherited_from_the_page_tree_holds_its_text() -> None:
    """fpdf2 writes the MediaBox on the page tree, not the page: the page is A4, not PDFium's Letter fallback,
    and a title near its top is on it."""
    from tests.helpers import text_pdf

    data = text_pdf(["ACME LOGISTICS - EARNINGS STATEMENT", "Employee: Dana Whitfield", "Gross pay 5,000.00"])
    (page,) = read_pages(data)
    box = page.geometry
    assert (box.left, box.bottom, box.right, box.top) == pytest.approx((0, 0, 595.28, 841.89), abs=0.01)
    assert max(c.y for c in page.chunks) > 792  # above a Letter page's top
    assert _page_codes(data) == []
