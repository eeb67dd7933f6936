"""A generated tamper benchmark: clean screening documents and tampered variants with ground truth (issue 13).

Everything is made up (people, employers, banks, identifiers) and built with fpdf2 and pypdf from a seed, so
the same seed gives the same bytes. Clean documents: pay stubs in three layouts (some with pre-tax Section 125
deductions, some with round amounts), bank statements with transaction rows (one or two pages, the second
page's fonts under another subset tag, as per-page subsetting generators do), W-2s, ID-like pages, and pay
stubs re-saved incrementally with new metadata only. Tampered documents: one family per check, each naming
the signal code that must catch it (:data:`FAMILIES`).

Use :func:`corpus` to get ``[Sample]``; ``scripts/bench_forensics.py`` runs them through preparation, the
offline reader and scoring (``make bench-forensics``).
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

CREATED = datetime(2026, 3, 6, 7, 0, tzinfo=UTC)
FIRST_NAMES = ("Dana", "Morgan", "Riley", "Casey", "Jordan", "Avery", "Quinn", "Harper", "Rowan", "Emerson",
               "Sage", "Parker", "Reese", "Finley", "Skyler", "Logan")
LAST_NAMES = ("Whitfield", "Reyes", "Okafor", "Lindqvist", "Tanaka", "Moreau", "Castellano", "Abernathy",
              "Nakamura", "Delacroix", "Oyelaran", "Brennan", "Halvorsen", "Iwasaki", "Marchetti", "Sorensen")
EMPLOYERS = ("Acme Logistics LLC", "Bluefin Analytics Inc", "Cedar Ridge Clinic", "Harbor Freight Lines LLC",
             "Northwind Traders Inc", "Summit Dental Group", "Evergreen Schools District", "Copperline Builders")
STUB_PRODUCERS = ("ADP Workforce Now", "Gusto Payroll", "Paychex Flex", "ReportLab PDF Library", None)
BANK_PRODUCERS = ("Cascade Statement Engine 4.2", "iText 7.1.16", "Crystal Reports", None)
BANKS = ("Cascade Community Bank", "Prairie State Credit Union", "Granite Savings Bank")

#: family → (signal code that must catch it, what was done). ``clean`` documents must raise no MEDIUM+ signal.
FAMILIES: dict[str, tuple[str, str]] = {
    "font_amount": ("mixed_font_amount", "net pay retyped in another font"),
    "cover_up": ("opaque_mask_followed_by_text", "white box over the net pay, new amount typed on it"),
    "white_text": ("invisible_text", "white text added on the white page"),
    "invisible_text": ("invisible_text", "text added in render mode 3 (invisible)"),
    "outside_cropbox": ("text_outside_cropbox", "text placed outside the CropBox"),
    "annotation": ("annotation_over_content", "a FreeText annotation laid over the net pay"),
    "revision_content": ("pdf_incremental_update", "incremental save rewriting the page content"),
    "two_sources": ("font_subset_mixed", "an amount pasted from another PDF (same font, another subset tag)"),
    "wrong_fica": ("fica_mismatch", "Social Security withholding changed"),
    "w2_tax": ("w2_tax_mismatch", "W-2 box 4 not 6.2 % of box 3"),
    "running_balance": ("running_balance_mismatch", "one running balance changed"),
    "routing_number": ("invalid_routing_number", "routing number failing the ABA check digit"),
    "ssn": ("invalid_ssn", "a never-issued SSN"),
    "ein": ("invalid_ein", "an EIN with a never-assigned prefix"),
    "print_to_pdf": ("pdf_print_to_pdf", "bank statement printed with Microsoft: Print To PDF"),
    "photoshop": ("pdf_editing_software", "pay stub saved by Adobe Photoshop"),
    "reused": ("document_reused", "another applicant's pay stub submitted under a new name"),
    "net_pay": ("net_pay_mismatch", "net pay that is not gross minus deductions"),
}


@dataclass
class Sample:
    """One benchmark document with its truth.

    Attributes:
        name: unique, ``<family>-<n>`` (``clean-<kind>-<n>`` for clean ones).
        family: ``clean`` or a key of :data:`FAMILIES`.
        expected_code: the signal that must catch it (None for clean).
        data: the PDF bytes.
        first_name, last_name: the applicant submitting it.
        prior_owner: for ``reused``: ``(first, last)`` of who submitted the same file before.
        pages: page count.
    """

    name: str
    family: str
    expected_code: str | None
    data: bytes
    first_name: str
    last_name: str
    prior_owner: tuple[str, str] | None = None
    pages: int = 1


# --------------------------------------------------------------------------- identifiers


def aba_number(rng: random.Random) -> str:
    """A routing number that passes the ABA 3-7-1 check (prefix 01-12 or 21-32)."""
    prefix = rng.choice([*range(1, 13), *range(21, 33)])
    body = f"{prefix:02d}" + "".join(str(rng.randint(0, 9)) for _ in range(6))
    d = [int(c) for c in body]
    partial = 3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + d[2] + d[5]
    return body + str((10 - partial % 10) % 10)


def bad_aba_number(rng: random.Random) -> str:
    """A routing number whose last digit breaks the check."""
    good = aba_number(rng)
    return good[:8] + str((int(good[8]) + rng.randint(1, 9)) % 10)


def ssn(rng: random.Random, *, masked: bool) -> str:
    """A plausible SSN (area 001-665 or 667-899, group 01-99, serial 0001-9999), or its masked form."""
    serial = rng.randint(1, 9999)
    if masked:
        return f"XXX-XX-{serial:04d}"
    area = rng.choice([rng.randint(1, 665), rng.randint(667, 899)])
    return f"{area:03d}-{rng.randint(1, 99):02d}-{serial:04d}"


def bad_ssn(rng: random.Random) -> str:
    """A never-issued SSN: area 666 or 9xx, group 00, or serial 0000."""
    return rng.choice([f"666-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}",
                       f"9{rng.randint(0, 99):02d}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}",
                       f"{rng.randint(100, 599)}-00-{rng.randint(1000, 9999)}",
                       f"{rng.randint(100, 599)}-{rng.randint(10, 99)}-0000"])


VALID_EIN_PREFIXES = (10, 12, 20, 27, 30, 45, 46, 51, 52, 61, 71, 81, 84, 91, 94, 98)


def ein(rng: random.Random, *, valid: bool = True) -> str:
    """An EIN with an assigned prefix (or, ``valid=False``, one the IRS never assigns)."""
    prefix = rng.choice(VALID_EIN_PREFIXES if valid else (7, 8, 9, 17, 18, 19, 28, 29, 49, 69, 70, 78, 79, 89, 96, 97))
    return f"{prefix:02d}-{rng.randint(1000000, 9999999)}"


# --------------------------------------------------------------------------- drawing


def _m(value: Decimal) -> str:
    return f"{value:,.2f}"


def _new_pdf(producer: str | None, created: datetime = CREATED) -> Any:
    from fpdf import FPDF

    pdf = FPDF(format="letter", unit="mm")
    pdf.set_creation_date(created)
    pdf.set_creator("Payroll Services")
    pdf.set_producer(producer or "PyFPDF/fpdf2")
    pdf.set_auto_page_break(False)
    pdf.add_page()
    return pdf


@dataclass
class Stub:
    """A pay stub's truth. Deductions: federal, Social Security, Medicare, state, and an optional pre-tax
    health premium (Section 125: lowers FICA wages)."""

    employee: str
    employer: str
    pay_date: date
    period: tuple[date, date]
    gross: Decimal
    health: Decimal
    federal: Decimal
    state: Decimal
    ytd_gross: Decimal
    ssn: str
    ein: str
    layout: int
    producer: str | None
    ss: Decimal = Decimal(0)
    medicare: Decimal = Decimal(0)
    net_override: Decimal | None = None

    def __post_init__(self) -> None:
        wages = self.gross - self.health
        if not self.ss:
            self.ss = (wages * Decimal("0.062")).quantize(Decimal("0.01"))
        if not self.medicare:
            self.medicare = (wages * Decimal("0.0145")).quantize(Decimal("0.01"))

    @property
    def deductions(self) -> list[tuple[str, Decimal]]:
        rows = [("Federal Income Tax", self.federal), ("Social Security", self.ss), ("Medicare", self.medicare),
                ("State Income Tax", self.state)]
        return rows + ([("Health Insurance (pre-tax)", self.health)] if self.health else [])

    @property
    def total(self) -> Decimal:
        return sum((a for _, a in self.deductions), Decimal(0))

    @property
    def net(self) -> Decimal:
        return self.net_override if self.net_override is not None else self.gross - self.total


@dataclass
class Drawn:
    """Where the stub's amounts were drawn (mm, top-left origin as fpdf2 counts): label → (x, y, w, h)."""

    cells: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)


def _cell(pdf: Any, drawn: Drawn, key: str, w: float, text: str, align: str = "R", font: str = "Helvetica",
          style: str = "", size: float = 9.0) -> None:
    pdf.set_font(font, style, size)
    drawn.cells[key] = (pdf.get_x(), pdf.get_y(), w, 6.0)
    pdf.cell(w, 6, text, align=align)


def draw_stub(stub: Stub, *, net_font: str = "Helvetica") -> tuple[Any, Drawn]:
    """The stub drawn on an fpdf2 page (not yet output), with the positions of its amounts."""
    pdf = _new_pdf(stub.producer)
    drawn = Drawn()
    if stub.layout == 2:  # a dark header bar with white text on it (honest white text)
        pdf.set_fill_color(40, 60, 90)
        pdf.rect(10, 8, 196, 12, style="F")
        pdf.set_text_color(255, 255, 255)
        pdf.set_font("Helvetica", "B", 12)
        pdf.set_xy(12, 10)
        pdf.cell(0, 8, "EARNINGS STATEMENT")
        pdf.set_text_color(0, 0, 0)
        pdf.set_xy(10, 24)
    else:
        pdf.set_font("Helvetica", "B", 11)
        pdf.cell(0, 6, "EARNINGS STATEMENT", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9.5)
    for line in (stub.employer, f"Employer ID (EIN): {stub.ein}", "",
                 f"Employee: {stub.employee}", f"SSN: {stub.ssn}",
                 f"Pay Date: {stub.pay_date:%m/%d/%Y}",
                 f"Pay Period: {stub.period[0]:%m/%d/%Y} - {stub.period[1]:%m/%d/%Y}",
                 "Pay Frequency: Semimonthly", ""):
        pdf.cell(0, 5.5, line, new_x="LMARGIN", new_y="NEXT")
    label_w, col_w = (70.0, 40.0) if stub.layout != 1 else (90.0, 35.0)
    pdf.set_font("Helvetica", "B", 9)
    pdf.cell(label_w, 6, "Earnings")
    pdf.cell(col_w, 6, "Current", align="R")
    pdf.cell(col_w, 6, "Year to Date", align="R")
    pdf.ln(6)
    pdf.set_font("Helvetica", "", 9)
    pdf.cell(label_w, 6, "Gross Pay")
    _cell(pdf, drawn, "gross", col_w, _m(stub.gross))
    _cell(pdf, drawn, "ytd", col_w, _m(stub.ytd_gross))
    pdf.ln(6)
    for label, amount in stub.deductions:
        pdf.set_font("Helvetica", "", 9)
        pdf.cell(label_w, 6, label)
        _cell(pdf, drawn, label, col_w, _m(amount))
        pdf.ln(6)
    pdf.set_font("Helvetica", "B", 9)
    pdf.cell(label_w, 6, "Total Deductions")
    _cell(pdf, drawn, "total", col_w, _m(stub.total), style="B")
    pdf.ln(6)
    pdf.set_font("Helvetica", "B", 9)
    pdf.cell(label_w, 6, "Net Pay")
    _cell(pdf, drawn, "net", col_w, _m(stub.net), font=net_font, style="" if net_font != "Helvetica" else "B")
    pdf.ln(6)
    return pdf, drawn


def _out(pdf: Any) -> bytes:
    return bytes(pdf.output())


def make_stub(rng: random.Random, person: tuple[str, str], *, layout: int | None = None) -> Stub:
    """A consistent semimonthly pay stub for ``person`` (pay date in late February / early March 2026)."""
    gross = Decimal(rng.choice([rng.randint(1400, 6500), rng.randint(14, 65) * 100]))  # some round amounts
    gross += Decimal(rng.choice([0, rng.randint(1, 99)])) / 100
    health = Decimal(rng.choice([0, 0, rng.randint(40, 320)]))
    federal = (gross * Decimal(rng.choice(["0.08", "0.10", "0.12"]))).quantize(Decimal("0.01"))
    state = (gross * Decimal(rng.choice(["0.00", "0.03", "0.045"]))).quantize(Decimal("0.01"))
    pay_date = rng.choice([date(2026, 2, 20), date(2026, 3, 6)])
    period = (date(2026, 2, 1), date(2026, 2, 15)) if pay_date.day == 20 else (date(2026, 2, 16), date(2026, 2, 28))
    periods = 3 if pay_date.day == 20 else 4
    return Stub(employee=" ".join(person), employer=rng.choice(EMPLOYERS), pay_date=pay_date, period=period,
                gross=gross, health=health, federal=federal, state=state, ytd_gross=gross * periods,
                ssn=ssn(rng, masked=rng.random() < 0.6), ein=ein(rng),
                layout=layout if layout is not None else rng.randint(0, 2), producer=rng.choice(STUB_PRODUCERS))


@dataclass
class Statement:
    """A bank statement's truth: rows (date, description, signed amount) with a running balance."""

    holder: str
    bank: str
    routing: str
    opening: Decimal
    rows: list[tuple[date, str, Decimal]]
    producer: str | None
    two_pages: bool = False
    balance_override: dict[int, Decimal] = field(default_factory=dict)


def make_statement(rng: random.Random, person: tuple[str, str], *, two_pages: bool | None = None) -> Statement:
    """A February 2026 checking statement with 8-26 rows (payroll, rent, card purchases; some equal amounts on
    different days, as honest statements have)."""
    rows: list[tuple[date, str, Decimal]] = []
    pay = Decimal(rng.randint(1200, 3200)) + Decimal(rng.randint(0, 99)) / 100
    count = rng.randint(8, 26) if two_pages is None else (26 if two_pages else rng.randint(8, 16))
    for i in range(count):
        day = date(2026, 2, 1) + timedelta(days=min(27, i * 27 // max(1, count - 1)))
        kind = rng.random()
        if i % 9 == 3:
            rows.append((day, "PAYROLL DIRECT DEP", pay))
        elif kind < 0.15:
            rows.append((day, "COFFEE HOUSE", Decimal("-4.75")))
        elif kind < 0.3:
            rows.append((day, "ONLINE TRANSFER SAVINGS", Decimal(-rng.randint(20, 200))))
        else:
            rows.append((day, rng.choice(["CARD PURCHASE GROCERY", "CARD PURCHASE FUEL", "UTILITY PAYMENT",
                                          "PHARMACY"]), -Decimal(rng.randint(300, 15000)) / 100))
    opening = Decimal(rng.randint(300, 5000)) + Decimal(rng.randint(0, 99)) / 100 + 2000
    return Statement(holder=" ".join(person), bank=rng.choice(BANKS), routing=aba_number(rng), opening=opening,
                     rows=rows, producer=rng.choice(BANK_PRODUCERS),
                     two_pages=count > 18 if two_pages is None else two_pages)


def statement_pdf(st: Statement) -> bytes:
    """The statement as a PDF: summary (opening, totals, closing), then the rows with a running balance;
    rows past 18 go on a second page."""
    pdf = _new_pdf(st.producer, datetime(2026, 3, 2, 6, 0, tzinfo=UTC))
    pdf.set_font("Helvetica", "", 9.5)
    credits = sum((a for _, _, a in st.rows if a > 0), Decimal(0))
    debits = sum((-a for _, _, a in st.rows if a < 0), Decimal(0))
    closing = st.opening + credits - debits
    for line in (st.bank, "CHECKING ACCOUNT STATEMENT", f"Account Holder: {st.holder}", "Account Number: ******4821",
                 f"Routing Number: {st.routing}", "Statement Period: February 1, 2026 to February 28, 2026", ""):
        pdf.cell(0, 5.5, line, new_x="LMARGIN", new_y="NEXT")
    for label, amount in (("Opening Balance", st.opening), ("Total Deposits and Other Credits", credits),
                          ("Total Withdrawals and Other Debits", debits), ("Closing Balance", closing)):
        pdf.cell(120, 6, label)
        pdf.cell(50, 6, _m(amount), align="R")
        pdf.ln(6)
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 9)
    for text, w, align in (("Date", 22, "L"), ("Description", 98, "L"), ("Amount", 25, "R"), ("Balance", 25, "R")):
        pdf.cell(w, 6, text, align=align)
    pdf.ln(6)
    balance = st.opening
    for i, (day, description, amount) in enumerate(st.rows):
        if i == 18:
            pdf.add_page()
        balance += amount
        shown = st.balance_override.get(i, balance)
        pdf.set_font("Helvetica", "", 9)
        for text, w, align in ((day.strftime("%m/%d"), 22, "L"), (description, 98, "L"), (_m(amount), 25, "R"),
                               (_m(shown), 25, "R")):
            pdf.cell(w, 6, text, align=align)
        pdf.ln(6)
    return _out(pdf)


def w2_pdf(rng: random.Random, person: tuple[str, str], *, box4_delta: Decimal = Decimal(0),
           employee_ssn: str | None = None, employer_ein: str | None = None) -> bytes:
    """A 2025 Form W-2 (made up) with boxes 1-6 labelled on their lines."""
    wages = Decimal(rng.randint(28000, 150000)) + Decimal(rng.randint(0, 99)) / 100
    ss_tax = (wages * Decimal("0.062")).quantize(Decimal("0.01")) + box4_delta
    med_tax = (wages * Decimal("0.0145")).quantize(Decimal("0.01"))
    pdf = _new_pdf(rng.choice(("IRS W-2 Generator", "Paychex Flex", None)), datetime(2026, 1, 20, 9, 0, tzinfo=UTC))
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 7, "Form W-2 Wage and Tax Statement 2025", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9.5)
    lines = [f"a Employee's social security number: {employee_ssn or ssn(rng, masked=rng.random() < 0.5)}",
             f"b Employer identification number (EIN): {employer_ein or ein(rng)}",
             f"c Employer: {rng.choice(EMPLOYERS)}", f"e Employee: {' '.join(person)}"]
    for line in lines:
        pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    for label, amount in (("1 Wages, tips, other compensation", wages),
                          ("2 Federal income tax withheld", (wages * Decimal("0.11")).quantize(Decimal("0.01"))),
                          ("3 Social security wages", wages), ("4 Social security tax withheld", ss_tax),
                          ("5 Medicare wages and tips", wages), ("6 Medicare tax withheld", med_tax)):
        pdf.cell(110, 6, label)
        pdf.cell(50, 6, _m(amount), align="R")
        pdf.ln(6)
    return _out(pdf)


def id_pdf(rng: random.Random, person: tuple[str, str]) -> bytes:
    """An ID-like page (a made-up state's card, printed SPECIMEN)."""
    pdf = _new_pdf(rng.choice(("ID Print Service", None)), datetime(2025, 11, 3, 10, 0, tzinfo=UTC))
    pdf.set_fill_color(225, 232, 240)
    pdf.rect(20, 20, 120, 75, style="F")
    pdf.set_xy(25, 25)
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 7, "STATE OF WESTLAND DRIVER LICENSE (SPECIMEN)", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    for line in (f"Name: {' '.join(person)}", f"DL No: W{rng.randint(1000000, 9999999)}",
                 f"DOB: {rng.randint(1, 12):02d}/{rng.randint(1, 28):02d}/{rng.randint(1960, 2002)}",
                 "Expires: 08/31/2029"):
        pdf.set_x(25)
        pdf.cell(0, 7, line, new_x="LMARGIN", new_y="NEXT")
    return _out(pdf)


# --------------------------------------------------------------------------- tampering with bytes


def incremental_content_edit(data: bytes, old: str, new: str) -> bytes:
    """``data`` with one revision appended (pypdf's incremental writer) replacing ``old`` by ``new`` in the
    first page's content stream."""
    from pypdf import PdfWriter

    writer = PdfWriter(io.BytesIO(data), incremental=True)
    page = writer.pages[0]
    contents = page.get_contents()
    assert contents is not None
    text = contents.get_data()
    assert old.encode() in text, old
    contents.set_data(text.replace(old.encode(), new.encode(), 1))
    page.replace_contents(contents)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def metadata_save(data: bytes, days: int) -> bytes:
    """``data`` with one revision appended that only sets ``/ModDate`` ``days`` after creation."""
    from pypdf import PdfWriter

    writer = PdfWriter(io.BytesIO(data), incremental=True)
    writer.add_metadata({"/ModDate": (CREATED + timedelta(days=days)).strftime("D:%Y%m%d%H%M%SZ")})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def tag_fonts(data: bytes, tag: str, *, page_tags: list[str] | None = None) -> bytes:
    """``data`` with each page's fonts renamed ``<tag>+<name>`` (as a subsetting generator names them);
    ``page_tags`` gives each page its own tag (per-page subsetting). Each page gets its own resources."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import DictionaryObject, NameObject

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    for index, page in enumerate(writer.pages):
        this_tag = page_tags[index] if page_tags and index < len(page_tags) else tag
        page_resources: Any = page["/Resources"].get_object()
        resources = DictionaryObject(dict(page_resources.items()))
        fonts = DictionaryObject()
        page_fonts: Any = resources["/Font"].get_object()
        for key, ref in page_fonts.items():
            font = DictionaryObject(dict(ref.get_object().items()))
            base = str(font["/BaseFont"]).lstrip("/").split("+")[-1]
            font[NameObject("/BaseFont")] = NameObject(f"/{this_tag}+{base}")
            fonts[NameObject(key)] = font
        resources[NameObject("/Font")] = fonts
        page[NameObject("/Resources")] = resources
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def paste_from_other_source(data: bytes, where: tuple[float, float, float, float], text: str) -> bytes:
    """``data`` (fonts tagged ``AAAAAA``) with a white box over ``where`` (mm, top-left) and ``text`` pasted on it
    from another PDF whose font carries the tag ``BBBBBB``: the same base font under two subset tags on one page."""
    from fpdf import FPDF
    from pypdf import PdfReader, PdfWriter

    x, y, w, h = where
    snippet = FPDF(format="letter", unit="mm")
    snippet.add_page()
    snippet.set_font("Helvetica", "B", 9)
    snippet.set_xy(x, y)
    snippet.cell(w, h, text, align="R")
    patch = tag_fonts(bytes(snippet.output()), "BBBBBB")
    base = PdfWriter(clone_from=PdfReader(io.BytesIO(tag_fonts(data, "AAAAAA"))))
    base.pages[0].merge_page(PdfReader(io.BytesIO(patch)).pages[0])
    out = io.BytesIO()
    base.write(out)
    return out.getvalue()


# --------------------------------------------------------------------------- the corpus


def _people(rng: random.Random) -> tuple[str, str]:
    return rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)


def _tampered_stub(family: str, rng: random.Random, person: tuple[str, str]) -> bytes:
    """One stub of ``family`` (a stub-based family)."""
    from fpdf.enums import TextMode

    stub = make_stub(rng, person)
    if family == "wrong_fica":
        stub = replace(stub, ss=(stub.ss * Decimal(rng.choice(["1.4", "0.5", "1.25"]))).quantize(Decimal("0.01")))
    if family == "net_pay":
        stub = replace(stub, net_override=stub.net + Decimal(rng.choice([150, 400, 1000])))
    if family == "photoshop":
        stub = replace(stub, producer=rng.choice(("Adobe Photoshop 25.0 (Windows)", "GIMP 2.10.34")))
    if family == "ssn":
        stub = replace(stub, ssn=bad_ssn(rng))
    if family == "ein":
        stub = replace(stub, ein=ein(rng, valid=False))
    pdf, drawn = draw_stub(stub, net_font=rng.choice(("Courier", "Times")) if family == "font_amount" else "Helvetica")
    x, y, w, h = drawn.cells["net"]
    raised = _m(stub.net + 500)
    if family == "cover_up":
        pdf.set_fill_color(255, 255, 255)
        pdf.rect(x, y, w, h, style="F")
        pdf.set_xy(x, y)
        pdf.set_font("Helvetica", "B", 9)
        pdf.cell(w, h, raised, align="R")
    elif family == "white_text":
        pdf.set_text_color(255, 255, 255)
        pdf.set_font("Helvetica", "", 9)
        pdf.text(120, 250, f"Bonus {raised}")
    elif family == "invisible_text":
        pdf.text_mode = TextMode.INVISIBLE
        pdf.set_font("Helvetica", "", 9)
        pdf.text(20, 240, f"Gross Pay {raised}")
        pdf.text_mode = TextMode.FILL
    elif family == "outside_cropbox":
        pdf.set_font("Helvetica", "", 9)
        pdf.text(rng.choice([230.0, 250.0]), 120, f"Net Pay {raised}")
    elif family == "annotation":
        pdf.free_text_annotation(raised, x=x, y=y, w=w, h=h)
    data = _out(pdf)
    if family == "revision_content":
        data = incremental_content_edit(data, _m(stub.net), raised)
    if family == "two_sources":
        data = paste_from_other_source(data, (x, y, w, h), raised)
    return data


def corpus(seed: int = 13, per_family: int = 7) -> list[Sample]:
    """The benchmark: 110 clean documents and ``per_family`` tampered documents per family of :data:`FAMILIES`
    (126 with the default 7), deterministic for a seed."""
    rng = random.Random(seed)
    out: list[Sample] = []
    for i in range(40):
        person = _people(rng)
        stub = make_stub(rng, person, layout=i % 3)
        pdf, _ = draw_stub(stub)
        out.append(Sample(f"clean-stub-{i}", "clean", None, _out(pdf), *person))
    for i in range(30):
        person = _people(rng)
        st = make_statement(rng, person, two_pages=i % 3 == 0)
        data = statement_pdf(st)
        if st.two_pages:  # per-page subsetting: each page's fonts under their own tag (benign)
            data = tag_fonts(data, "CCCCCC", page_tags=["CCCCCC", "DDDDDD"])
        out.append(Sample(f"clean-statement-{i}", "clean", None, data, *person, pages=2 if st.two_pages else 1))
    for i in range(20):
        person = _people(rng)
        out.append(Sample(f"clean-w2-{i}", "clean", None, w2_pdf(rng, person), *person))
    for i in range(10):
        person = _people(rng)
        out.append(Sample(f"clean-id-{i}", "clean", None, id_pdf(rng, person), *person))
    for i in range(10):
        person = _people(rng)
        pdf, _ = draw_stub(make_stub(rng, person))
        out.append(Sample(f"clean-resaved-{i}", "clean", None, metadata_save(_out(pdf), rng.randint(2, 60)), *person))

    for family, (code, _) in FAMILIES.items():
        for i in range(per_family):
            person = _people(rng)
            sample = Sample(f"{family}-{i}", family, code, b"", *person)
            if family in ("running_balance", "routing_number", "print_to_pdf"):
                st = make_statement(rng, person, two_pages=False)
                if family == "running_balance":
                    st.balance_override = {rng.randint(1, len(st.rows) - 1): Decimal(rng.randint(100, 9000))}
                elif family == "routing_number":
                    st.routing = bad_aba_number(rng)
                else:
                    st.producer = "Microsoft: Print To PDF"
                sample.data = statement_pdf(st)
            elif family == "w2_tax":
                sample.data = w2_pdf(rng, person, box4_delta=Decimal(rng.choice([-400, 250, 900])))
            elif family == "reused":
                owner = _people(rng)
                while owner == person:
                    owner = _people(rng)
                pdf, _ = draw_stub(make_stub(rng, owner))
                sample.data, sample.prior_owner = _out(pdf), owner
            else:
                sample.data = _tampered_stub(family, rng, person)
            out.append(sample)
    return out


def sample_count(samples: list[Sample], family: str | None = None) -> int:
    """How many samples (of ``family``, or all)."""
    return sum(1 for s in samples if family is None or s.family == family)


Builder = Callable[[random.Random, tuple[str, str]], bytes]
