"""The ``offline`` extraction model: regular expressions over a PDF's text layer.

:class:`OfflineVisionModel` implements :class:`leadeval.ports.VisionModel` without a model, a
network or any state. It reads **only** ``PreparedDocument.text`` (the text layer that document
preparation extracted with PDFium, within its budgets, pages separated by form feeds ``"\\f"``).
A document without text (a scan, a photo, an image ID) gets
``Extraction(facts=None, note="needs a vision model")``: it never guesses from images. Text is
data: the offline model only pattern-matches facts, so instructions written in a document
("ignore previous instructions", "score 100") change nothing, and no extracted field can set a
score anyway (see :mod:`leadeval.models`).

What is recognised (the label table is :data:`RULES`; every label is case-insensitive and its
value is looked for after the label on the same line, or on the following lines that hold only
that value, as pypdf often puts a table cell on its own line):

* **Kind** (:data:`KIND_MARKERS`, first match wins; strong title phrases first, then weaker field
  markers): "W-2" / "Wage and Tax Statement" -> ``tax_form``; "bank statement", "statement
  period", "account holder", opening/closing balance -> ``bank_statement``; "pay stub",
  "earnings statement", "wage statement", "payroll advice", "advice number", "net pay", "gross
  pay", "pay period", "pay date", "period ending", "gross YTD" -> ``pay_stub``; "housing choice
  voucher", "housing assistance payment", "benefit letter/amount", "award letter" ->
  ``benefit_letter``; "verification of employment", "employment verification" ->
  ``employment_letter``; "driver license", "identification card", "passport" ->
  ``government_id``; anything else -> ``other``.
* **Names** (every kind): labelled lines "Employee:", "Employee Name", "Account Holder:", "Head
  of Household:", "Tenant:", "Participant:", "Recipient:", "Beneficiary:", "Name:" (at the
  start of a line) and "Pay to the order of". Only 2–5 name-like words are kept; a following
  label on the same line (two-column layouts: "Employee: Ann Lee Pay Date: ...") is cut off.
  Names are kept as printed (order and case); "LEE, ANN" stays so. On a W-2 whose text layer
  lists the filled values apart from the box labels (no labelled name), the one-word
  title-case value lines are taken as the employee's name parts, joined in text order.
* **Employer** (pay stubs, tax forms, employment letters): "Employer:", "Employer Name",
  "Company:"; otherwise the first address block: a line followed by a street line
  ("151 N Market Street") and a city/state/ZIP line ("Wooster OH 44691").
* **Pay stubs**: pay period ("Pay Period: A - B", "Pay Begin/End Date", "Period
  Beginning/Ending"), pay date ("Pay/Check/Payment/Advice/Deposit Date"; else a bare "Date:"),
  pay frequency (labelled, else the first weekly/biweekly/semimonthly/monthly word), gross pay
  ("Gross Pay", "Gross Earnings", "Total Gross", "Total Earnings"; else the single earnings
  line such as "Regular Pay" when it is the only one), net pay ("Net Pay", "Net Amount", "Net
  Check", "Take-Home Pay"), total deductions ("Total Deductions", "Total Taxes & Deductions",
  "Total Withholdings"; else the sum of the current amounts of the tax and deduction lines:
  federal/state/local income tax, Social Security, Medicare, SDI, 401(k)/403(b), retirement,
  health/dental/vision/life insurance, HSA/FSA, union dues, garnishment, child support), YTD
  gross ("YTD Gross", "Gross YTD", "Year-to-Date Gross"; else the second amount of the gross
  row when the stub has a year-to-date column). A current-period row whose label is preceded or
  followed by "YTD" / "Year to Date" is not a current figure; the first amount of a row is the
  current one, the second the year-to-date one.
* **Bank statements**: statement period ("Statement Period", "Period", "For the period" followed
  by two dates), opening ("Opening/Beginning/Starting/Previous Balance", "Balance Forward") and
  closing ("Closing/Ending/New Balance") balances, total credits ("Total Deposits", "Total
  Credits", "Deposits and Other Credits") and debits ("Total Withdrawals", "Total Debits",
  "Withdrawals and Other Debits"), stored positive. ``deposits``: the credit amounts of the
  transaction lines (lines that start with a date and end with amounts). When a line ends with
  an amount and a running balance, the change of the balance decides credit or debit; otherwise
  the printed sign (``-45.67``, ``(45.67)``) does, and a single unsigned amount is a credit only
  when the description says so (deposit, payroll, direct dep, credit, refund, transfer from,
  interest).
* **Benefit letters**: monthly benefit ("Monthly Benefit/Payment (Amount)", "Housing Assistance
  Payment (HAP)", "HAP Amount", "Voucher Amount", "Benefit Amount"): the first amount on the
  label's line.
* **Annual income**: W-2 box 1 ("Wages, tips, other compensation"); employment letters "Annual
  Salary", "Base Salary", "Annual Pay/Income/Compensation", "Salary". On a W-2 whose values are
  listed apart from the labels, box 1 is inferred from the tax arithmetic the IRS form implies:
  social-security wages are the amount whose 6.2 % is also printed (box 4) and Medicare wages
  the amount whose 1.45 % is printed (box 6); box 1 is then the largest other amount between
  half of and the larger of those wages, or those wages when there is none (SSA/IRS 2020
  General Instructions for Forms W-2 and W-3: employee rates 6.2 % and 1.45 %).
* **Dates** anywhere: ``MM/DD/YYYY``, ``MM/DD/YY`` (20YY), ``YYYY-MM-DD``, "January 5, 2026",
  "Jan. 5, 2026", "5 January 2026". ``document_date``: "Date:", "Statement/Issue/Letter/Notice
  Date"; for letters also a line that holds only a date. ``id_expiry`` (IDs): "Expires",
  "Expiration Date", "Exp".
* **Amounts**: ``$1,234.56``, ``1234.56``, ``-45.67``, ``(45.67)``, and whole dollars after a dollar
  sign: ``$5600``, ``$5,600``, ``-$45``, ``($45)`` (read as ``5600.00``...). A number with neither cents nor
  "$" is not money, so hour counts, ids, account and check numbers, ZIP codes and years are not read as
  money, nor are figures followed by "%", "hours"/"hrs" or "/hr".

Packets: a text layer whose pages are of different kinds is split into one part per run of pages of a kind
(:func:`packet_parts`, :mod:`leadeval.screening.packets`); ``facts`` are the first part's and
``Extraction.parts`` holds every part's. Cross-check: with an OCR engine, a text layer's key figures are
compared with the OCR of the page they are printed on (:meth:`OfflineVisionModel.cross_check`,
:mod:`leadeval.screening.crosscheck`).

Limits: page images read by OCR are one document (not split); texts longer than :data:`MAX_TEXT_CHARS` are
read up to that length.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import KW_ONLY, dataclass, field, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from leadeval.errors import DocumentUnreadable
from leadeval.models import (
    DocumentKind,
    ExtractedFacts,
    ExtractedPart,
    Extraction,
    FieldEvidence,
    ModelUsage,
    PageLayout,
    PreparedDocument,
    Signal,
)
from leadeval.ports import PageReader
from leadeval.screening.crosscheck import CHECKED_AMOUNTS, Reading, confirm_agreed, cross_check
from leadeval.screening.kinds import KINDS
from leadeval.screening.layout import LaidOutText, PlacedWord, address_blocks, layout_text, union_box
from leadeval.screening.mrz import find_mrz
from leadeval.screening.packets import PagePart, split_pages

if TYPE_CHECKING:
    from leadeval.config import Settings

logger = logging.getLogger(__name__)

MODEL_NAME = "offline"
MODEL_VERSION = "offline-patterns-1"
NEEDS_VISION_NOTE = "needs a vision model"
MAX_TEXT_CHARS = 400_000  #: longer texts are truncated (a 352-page book is not a pay stub)

_K = DocumentKind
_ALL: frozenset[DocumentKind] = frozenset(DocumentKind)
_STUB = frozenset({_K.PAY_STUB})
_BANK = frozenset({_K.BANK_STATEMENT})
_LETTERS = frozenset({_K.EMPLOYMENT_LETTER, _K.BENEFIT_LETTER})

# --------------------------------------------------------------------------- value patterns

_MONTHS = {
    name: number
    for number, names in enumerate(
        [("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",),
         ("june", "jun"), ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"),
         ("october", "oct"), ("november", "nov"), ("december", "dec")], start=1)
    for name in names
}
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
DATE_RE = (
    r"(?:\d{1,2}/\d{1,2}/(?:\d{4}|\d{2})(?!\d)"
    r"|\d{4}-\d{2}-\d{2}(?!\d)"
    rf"|(?:{_MONTH_RE})\.?[ \t]+\d{{1,2}},?[ \t]+\d{{4}}"
    rf"|\d{{1,2}}[ \t]+(?:{_MONTH_RE})\.?,?[ \t]+\d{{4}})"
)
_DATE = re.compile(DATE_RE, re.IGNORECASE)
_RANGE = re.compile(
    rf"(?P<a>{DATE_RE})[ \t]*(?:-|–|—|to|through|thru)[ \t]*(?P<b>{DATE_RE})", re.IGNORECASE
)
_DIGITS_RE = r"(?:\d{1,3}(?:,\d{3})+|\d+)"  # 1,234,567 or 1234567
#: money: with cents ($1,234.56 / 1234.56 / -45.67 / (45.67) / -$45.67), or whole dollars after a dollar sign
#: ($5600 / $5,600 / -$45 / ($45)); never a figure followed by "%", "hours"/"hrs" or "/hr" ("40.00 hours",
#: "6.20%", "$25/hr"). A number without cents and without "$" is not money (years, ZIP codes, account, check
#: and hour counts).
AMOUNT_RE = (
    rf"(?<![\w.,/$])(?:\([ \t]*)?[-+]?[ \t]?(?:\$?[ \t]?[-+]?{_DIGITS_RE}\.\d{{2}}|\$[ \t]?[-+]?{_DIGITS_RE})"
    r"(?:[ \t]*\))?(?![\d%]|,\d|\.\d|[ \t]*(?:hours?|hrs?)\b|[ \t]*/[ \t]*(?:hr|hour)\b)"
)
_AMOUNT = re.compile(AMOUNT_RE)
_PURE_AMOUNTS_LINE = re.compile(rf"^[ \t]*(?:{AMOUNT_RE}[ \t]*)+$")
_YTD_WORD = re.compile(r"\b(?:YTD|Y-T-D|Year[- ]to[- ]Date)\b", re.IGNORECASE)
_TXN_LINE = re.compile(
    rf"^[ \t]*(?:\d{{1,2}}/\d{{1,2}}(?:/\d{{2,4}})?|\d{{4}}-\d{{2}}-\d{{2}}|(?:{_MONTH_RE})\.?[ \t]+\d{{1,2}})"
    r"[ \t]+(?P<rest>.+)$",
    re.IGNORECASE | re.MULTILINE,
)
_CREDIT_WORDS = re.compile(
    r"\b(?:deposit|payroll|direct\s+dep|credit|refund|transfer\s+from|interest|reversal)\b", re.IGNORECASE
)
_STREET_LINE = re.compile(
    r"^\d+[A-Za-z]?[ \t]+(?:[\w.'#-]+[ \t]+){0,5}?"
    r"(?:Street|St|Avenue|Ave|Boulevard|Blvd|Road|Rd|Drive|Dr|Lane|Ln|Way|Court|Ct|Place|Pl|Parkway|Pkwy"
    r"|Highway|Hwy|Plaza|Circle|Cir|Terrace|Ter|Square|Sq|Trail|Trl|Suite|Ste|Loop|Row)\b\.?"
    r"(?:[ \t]+(?:NE|NW|SE|SW|N|S|E|W))?(?:,?[ \t]+(?:Suite|Ste|Unit|Apt|#)[ \t]*[\w-]+)?[ \t]*$",
    re.IGNORECASE,
)
_CITY_LINE = re.compile(r"^[A-Za-z][A-Za-z .'-]*,?[ \t]+[A-Z]{2}[ \t]+\d{5}(?:-\d{4})?[ \t]*$")
# Letters of any script (accents included: "Zoë Ñúñez-Øster"); a capital first letter is checked in code.
_NAME_TOKEN = re.compile(
    r"^(?:[^\W\d_](?:[^\W\d_]|['’-])*\.?,?|(?:de|del|della|di|da|van|von|der|den|la|le|du|bin|al|st\.?),?)$"
)


#: Words that make a name a company's, not a person's.
_COMPANY_WORD = re.compile(
    r"\b(?:inc|llc|l\.l\.c|corp|corporation|co|company|ltd|llp|lp|bank|union|trust|group|services|payroll|"
    r"university|college|county|city|state|department|agency|authority|association|hospital)\b\.?", re.IGNORECASE)
_PARTICLE = re.compile(r"^(?:de|del|della|di|da|van|von|der|den|la|le|du|bin|al|st\.?),?$")


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


#: words that start a field label; trimmed off the end of a name or employer value
_LABEL_WORDS = _wordset(
    "pay date period check employee employer id number no no. account statement department dept ssn "
    "rate frequency position title location status start hire phone tel email address advice company "
    "bank net gross total name holder head household tenant code member case routing voucher unit "
    "program effective issue expiration exp dob birth class type file reference ref page branch "
    "customer client job ending beginning issued amount earnings deductions hours current ytd"
)
_TAX_YEAR = re.compile(
    r"(?:Wage[ \t]+and[ \t]+Tax[ \t]+Statement|Form[ \t]+(?:W-?2|1099-[A-Z]+))[ \t]+((?:19|20)\d\d)\b")
_W2_NAME_PART = re.compile(r"^[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)*$")
_W2_FORM_WORDS = _wordset(
    "other description value employee employer department copy void corrected statutory state local "
    "wages medicare instructions notice retirement plan third-party sick pay employee's employer's"
)


# --------------------------------------------------------------------------- the table

ValueType = Literal["amount", "date", "range", "name", "text", "frequency"]


@dataclass(frozen=True)
class Rule:
    """One row of the label table.

    Attributes:
        field: the :class:`~leadeval.models.ExtractedFacts` field it fills (``pay_period`` and
            ``statement_period`` fill both ends from a date range).
        kinds: document kinds the rule applies to.
        label: regular expression of the label (case-insensitive).
        value: what follows the label: an amount, a date, a date range, a person's name,
            free text (an employer), or a pay frequency word.
        column: which amount of a row (0 = current period, 1 = year to date).
        current: the figure is a current-period one: skipped when "YTD" surrounds the label.
        near: the amount may come after a few words on the same line ("HAP to owner: $900.00").
    """

    field: str
    kinds: frozenset[DocumentKind]
    label: str
    value: ValueType
    column: int = 0
    current: bool = False
    near: bool = False


_GROSS_LABEL = r"(?:Current[ \t]+)?(?:Total[ \t]+)?Gross(?:[ \t]+(?:Pay|Earnings|Wages|Income))?|Total[ \t]+Earnings"

#: The label table, in priority order per field (the first rule with a value wins).
RULES: tuple[Rule, ...] = (
    # people
    Rule("names_shown", _ALL, r"Employee(?:'s)?[ \t]+Name|Employee[ \t]*:|Account[ \t]+Holder(?:[ \t]+Name)?"
         r"|Head[ \t]+of[ \t]+Household|Tenant(?:[ \t]+Name)?[ \t]*:|Participant(?:[ \t]+Name)?[ \t]*:"
         r"|Recipient(?:[ \t]+Name)?[ \t]*:|Beneficiary(?:[ \t]+Name)?[ \t]*:|^[ \t]*Name[ \t]*:"
         r"|Pay\s+to\s+the\s+order\s+of", "name"),
    Rule("employer", frozenset({_K.PAY_STUB, _K.TAX_FORM, _K.EMPLOYMENT_LETTER}),
         r"(?:Employer(?:'s)?(?:[ \t]+Name)?|Company(?:[ \t]+Name)?)[ \t]*:", "text"),
    # pay stubs
    Rule("pay_period", _STUB, r"Pay[ \t]+Period(?:[ \t]+Dates?)?|Period[ \t]+Covered", "range"),
    Rule("pay_period_start", _STUB, r"(?:Pay[ \t]+)?Period[ \t]+(?:Beginning|Begin|Start(?:ing)?)(?:[ \t]+Date)?"
         r"|Pay[ \t]+Begin[ \t]+Date", "date"),
    Rule("pay_period_end", _STUB, r"(?:Pay[ \t]+)?Period[ \t]+(?:Ending|End)(?:[ \t]+Date)?|Pay[ \t]+End[ \t]+Date",
         "date"),
    Rule("pay_date", _STUB, r"Pay[ \t]+Date|Check[ \t]+Date|Payment[ \t]+Date|Advice[ \t]+Date|Deposit[ \t]+Date",
         "date"),
    Rule("pay_date", _STUB, r"(?<![A-Za-z][ \t])\bDate[ \t]*:", "date"),
    Rule("pay_frequency", _STUB | {_K.EMPLOYMENT_LETTER}, r"Pay[ \t]+(?:Frequency|Schedule|Cycle)|Frequency",
         "frequency"),
    Rule("gross_pay", _STUB, _GROSS_LABEL, "amount", current=True),
    Rule("net_pay", _STUB, r"Net[ \t]+(?:Pay|Amount|Check|Earnings)|Take[- ]Home(?:[ \t]+Pay)?", "amount",
         current=True),
    Rule("total_deductions", _STUB, r"Total[ \t]+(?:Taxes[ \t]*(?:&|and)[ \t]*)?Deductions|Deductions[ \t]+Total"
         r"|Total[ \t]+Withholdings?", "amount", current=True),
    Rule("ytd_gross", _STUB, r"YTD[ \t]+Gross(?:[ \t]+(?:Pay|Earnings))?|Gross(?:[ \t]+(?:Pay|Earnings))?[ \t]+YTD"
         r"|Year[- ]to[- ]Date[ \t]+Gross(?:[ \t]+(?:Pay|Earnings))?|Gross[ \t]+Year[- ]to[- ]Date", "amount"),
    Rule("ytd_gross", _STUB, _GROSS_LABEL, "amount", column=1, current=True),
    # bank statements
    Rule("statement_period", _BANK, r"Statement[ \t]+Period|Statement[ \t]+Dates?|For[ \t]+the[ \t]+period"
         r"|Statement[ \t]+(?:from|for)|Period", "range"),
    Rule("opening_balance", _BANK, r"(?:Opening|Beginning|Starting|Previous)[ \t]+Balance|Balance[ \t]+Forward",
         "amount"),
    Rule("closing_balance", _BANK, r"(?:Closing|Ending|New)[ \t]+Balance", "amount"),
    Rule("total_credits", _BANK, r"Total[ \t]+(?:Deposits|Credits)(?:[ \t]+(?:and|&)[ \t]+(?:Other[ \t]+)?"
         r"(?:Credits|Additions))?|Deposits[ \t]+(?:and|&)[ \t]+(?:Other[ \t]+)?(?:Credits|Additions)", "amount"),
    Rule("total_debits", _BANK, r"Total[ \t]+(?:Withdrawals|Debits|Checks)(?:[ \t]+(?:and|&)[ \t]+(?:Other[ \t]+)?"
         r"(?:Debits|Subtractions|Withdrawals))?|(?:Withdrawals|Checks)[ \t]+(?:and|&)[ \t]+(?:Other[ \t]+)?"
         r"(?:Debits|Subtractions)", "amount"),
    # benefits and income
    Rule("monthly_benefit", frozenset({_K.BENEFIT_LETTER}),
         r"Monthly[ \t]+(?:Benefit|Payment|Housing[ \t]+Assistance[ \t]+Payment)(?:[ \t]+Amount)?"
         r"|Housing[ \t]+Assistance[ \t]+Payment(?:[ \t]*\(HAP\))?(?:[ \t]+Amount)?|HAP[ \t]+Amount"
         r"|Voucher[ \t]+Amount|Benefit[ \t]+Amount", "amount", near=True),
    Rule("annual_income", frozenset({_K.TAX_FORM}),
         r"Wages,?[ \t]+tips,?[ \t]+(?:and[ \t]+)?other[ \t]+comp(?:ensation|\.)?", "amount", near=True),
    Rule("annual_income", frozenset({_K.EMPLOYMENT_LETTER}),
         r"Annual[ \t]+(?:Base[ \t]+)?(?:Salary|Pay|Income|Compensation|Wages)|Base[ \t]+Salary"
         r"|Yearly[ \t]+Salary|Salary", "amount", near=True),
    # dates
    Rule("document_date", _ALL, r"(?:Statement|Issue|Letter|Notice)[ \t]+Date|Date[ \t]+Issued"
         r"|(?<![A-Za-z][ \t])\bDate[ \t]*:", "date"),
    Rule("id_expiry", frozenset({_K.GOVERNMENT_ID}), r"Expiration(?:[ \t]+Date)?|Expires|Exp(?:\.|[ \t]+Date)?\b",
         "date"),
)

#: Kind markers: (kind, pattern) from the registry (``screening/kinds.py``): every kind's title phrases first,
#: then the weaker field markers, each in the registry's ``marker_rank`` order; the first match wins.
KIND_MARKERS: tuple[tuple[DocumentKind, str], ...] = tuple(
    (spec.kind, pattern)
    for attribute in ("title_markers", "field_markers")
    for spec in sorted(KINDS.values(), key=lambda s: s.marker_rank)
    if (pattern := getattr(spec, attribute)) is not None
)

#: Tax and deduction lines summed when no total is printed (current amount = first of the row).
DEDUCTION_LINE_RE = (
    r"Federal[ \t]+(?:Income[ \t]+)?(?:Tax|Withholding)|Fed\.?[ \t]+(?:Income[ \t]+)?(?:Tax|Withholdi?n?g)|FITW?H?"
    r"|Social[ \t]+Security(?:[ \t]+Tax)?|Soc\.?[ \t]+Sec\.?|OASDI(?:/EE)?|FICA|Medicare(?:[ \t]+Tax)?|MED(?:/EE)?"
    r"|(?:[A-Z]{2}[ \t]+)?State[ \t]+(?:Income[ \t]+)?(?:Tax|Withholding)|SIT|(?:Local|City)[ \t]+(?:Income[ \t]+)?Tax"
    r"|SDI|State[ \t]+Disability(?:[ \t]+Insurance)?|Paid[ \t]+Family[ \t]+Leave|FLI"
    r"|(?:Roth[ \t]+)?401[ \t]*\(?k\)?(?:[ \t]+Contribution)?|403[ \t]*\(?b\)?(?:[ \t]+Contribution)?"
    r"|Retirement(?:[ \t]+Plan)?(?:[ \t]+Contribution)?"
    r"|(?:Health|Medical|Dental|Vision|Life)(?:[ \t]+Insurance)?|HSA|FSA|Union[ \t]+Dues|Garnishment|Child[ \t]+Support"
)
#: Earnings lines; one alone (no gross printed) is the gross pay.
EARNINGS_LINE_RE = (
    r"Regular(?:[ \t]+(?:Pay|Earnings|Salary|Wages))?|Salary|Hourly(?:[ \t]+Pay)?|Overtime(?:[ \t]+Pay)?|OT"
    r"|Bonus|Commission|Holiday(?:[ \t]+Pay)?|Hol|PTO|Vacation(?:[ \t]+Pay)?|Sick(?:[ \t]+Pay)?|Tips"
)
_DEDUCTION_LINE = re.compile(rf"^[ \t]*(?:{DEDUCTION_LINE_RE})(?!\w)", re.IGNORECASE | re.MULTILINE)
_EARNINGS_LINE = re.compile(rf"^[ \t]*(?:{EARNINGS_LINE_RE})(?!\w)", re.IGNORECASE | re.MULTILINE)
_FREQUENCY_WORD = re.compile(
    r"\b(bi-?weekly|every[ \t]+(?:two|other)[ \t]+weeks?|semi-?monthly|twice[ \t]+a[ \t]+month|weekly|monthly"
    r"|annual(?:ly)?|yearly)\b",
    re.IGNORECASE,
)
_COMPILED: tuple[tuple[Rule, re.Pattern[str]], ...] = tuple(
    (rule, re.compile(rf"(?:{rule.label})(?:[ \t]*[:#])?[ \t]*", re.IGNORECASE | re.MULTILINE)) for rule in RULES
)
_KIND_COMPILED = tuple((kind, re.compile(pattern, re.IGNORECASE | re.MULTILINE)) for kind, pattern in KIND_MARKERS)


# --------------------------------------------------------------------------- the model


@dataclass
class OcrPagesLeft:
    """The OCR pages one job may still read: ``job`` in all, ``crosscheck`` of them to cross-check a text layer
    or a model's answer. Counts only go down (:meth:`take`); a new job gets a new one
    (:meth:`OfflineVisionModel.for_job`)."""

    job: int
    crosscheck: int

    def take(self, wanted: int, *, crosscheck: bool = False) -> int:
        """Spend up to ``wanted`` pages (cross-check pages also spend ``crosscheck``).

        Returns:
            How many pages may be read: ``wanted`` or fewer when a count runs out (never negative).
        """
        allowed = max(0, min(wanted, self.job, self.crosscheck if crosscheck else wanted))
        self.job -= allowed
        if crosscheck:
            self.crosscheck -= allowed
        return allowed


@dataclass(eq=False)
class OfflineVisionModel:
    """A :class:`~leadeval.ports.VisionModel` that reads a PDF's text layer, and page images by OCR.

    Without ``ocr`` it is stateless, deterministic, no I/O. ``name`` is ``"offline"``; extractions carry
    ``model_version`` :data:`MODEL_VERSION` and zero token usage. It raises nothing of its own.

    Args:
        ocr: the :class:`~leadeval.ports.PageReader` for documents without a usable text layer (scans,
            photos); None = such documents get "needs a vision model".
        ocr_pages_per_document: pages OCR'd per document at most (the first ones rendered).
        ocr_pages_per_job: pages OCR'd per job at most (:meth:`for_job` starts a job's count).
        crosscheck_pages_per_job: of those, pages OCR'd per job to cross-check a text layer or a vision model's
            answer (:meth:`cross_check`; about 4–6 CPU-seconds a page); 0 turns the cross-check off.
    A cap that stops a page from being read is named in the extraction's note (and so in the document's
    reason). The pages a job has left are one :class:`OcrPagesLeft`, started from the caps.
    """

    name = MODEL_NAME

    ocr: PageReader | None = None
    _: KW_ONLY
    ocr_pages_per_document: int = 3
    ocr_pages_per_job: int = 8
    crosscheck_pages_per_job: int = 8
    _pages_left: OcrPagesLeft = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._pages_left = OcrPagesLeft(job=self.ocr_pages_per_job, crosscheck=self.crosscheck_pages_per_job)

    @classmethod
    def from_settings(cls, settings: Settings, ocr: PageReader | None) -> OfflineVisionModel:
        """The reader with the OCR page caps of ``settings`` (``LEADEVAL_OCR_PAGES_PER_DOCUMENT``,
        ``LEADEVAL_OCR_PAGES_PER_JOB``, ``LEADEVAL_OCR_CROSSCHECK_PAGES_PER_JOB``) and the engine ``ocr``."""
        return cls(ocr, ocr_pages_per_document=settings.ocr_pages_per_document,
                   ocr_pages_per_job=settings.ocr_pages_per_job,
                   crosscheck_pages_per_job=settings.ocr_crosscheck_pages_per_job)

    def for_job(self) -> OfflineVisionModel:
        """A reader for one job: the same engine and caps, with that job's OCR page counts starting at zero."""
        return replace(self)

    def extract(self, document: PreparedDocument) -> Extraction:
        """Facts stated in the document's text layer, read by position when its words' boxes are known
        (``document.layout``), with each value's :class:`~leadeval.models.FieldEvidence`. A document without
        a text layer (images, scans) is OCR'd when an engine is configured (:meth:`_extract_ocr`), else gets
        ``facts=None`` with note "needs a vision model". Money is ``Decimal`` dollars as printed."""
        text = document.text
        if text is None or not text.strip():
            if self.ocr is not None and document.page_images:
                return self._extract_ocr(document)
            logger.info("offline model: no text layer", extra={"document_id": document.document_id})
            return Extraction(facts=None, note=NEEDS_VISION_NOTE, model=MODEL_NAME, model_version=MODEL_VERSION,
                              usage=ModelUsage())
        parts = packet_parts(text)
        layout = document.layout
        if len(parts) > 1:  # a packet: ``facts`` are the first part's, every part is in ``parts``
            text, layout = _part_pages(document, parts[0])
        facts, evidence = read_document(text, layout)
        read_parts = [_read_part(document, part) for part in parts[1:]]
        signals: list[Signal] = []
        note: str | None = None
        if self.ocr is not None and document.image_count and self.crosscheck_pages_per_job > 0:
            first = Reading("text layer", facts, evidence, layout_text(layout).text if layout else text)
            evidence, signals, note = self.cross_check(document, first, _figure_pages(evidence))
        logger.info(
            "offline model: extracted",
            extra={"document_id": document.document_id, "kind": facts.document_kind.value,
                   "fields": len(facts.model_dump(exclude_defaults=True)),
                   "certain": sum(e.certain for e in evidence.values()), "signals": len(signals)},
        )
        if read_parts:
            head = parts[0]
            read_parts.insert(0, ExtractedPart(first_page=head.first_page, last_page=head.last_page, facts=facts,
                                               evidence=evidence))
            logger.info("offline model: packet", extra={"document_id": document.document_id,
                                                        "parts": [p.kind.value for p in parts]})
        return Extraction(facts=facts, model=MODEL_NAME, model_version=MODEL_VERSION, usage=ModelUsage(),
                          evidence=evidence, signals=signals, note=note, parts=read_parts)

    def cross_check(self, document: PreparedDocument, first: Reading,
                    pages: Sequence[int]) -> tuple[dict[str, FieldEvidence], list[Signal], str | None]:
        """OCR the rendered ``pages`` (1-based; within the per-document and per-job caps) and compare their
        figures with ``first`` (:func:`leadeval.screening.crosscheck.cross_check`).

        Returns:
            ``(evidence, signals, note)``: ``first``'s evidence with the fields OCR agrees on made certain,
            the disagreements as signals, and a note when a cap or a page that failed to render left pages
            unread (None otherwise).
        Raises:
            Nothing of its own; a page the engine cannot decode is left out (DocumentUnreadable is logged).
        """
        assert self.ocr is not None
        wanted = list(dict.fromkeys(p for p in pages if 1 <= p <= max(1, document.page_count)))[
            : max(0, self.ocr_pages_per_document)]
        allowed = self._pages_left.take(len(wanted), crosscheck=True)
        note = None
        if allowed < len(pages):
            cap, limit = "LEADEVAL_OCR_PAGES_PER_DOCUMENT", self.ocr_pages_per_document
            if allowed < len(wanted) and self._pages_left.crosscheck <= 0:
                cap, limit = "LEADEVAL_OCR_CROSSCHECK_PAGES_PER_JOB", self.crosscheck_pages_per_job
            elif allowed < len(wanted):
                cap, limit = "LEADEVAL_OCR_PAGES_PER_JOB", self.ocr_pages_per_job
            note = f"cross-check by OCR: {allowed} of {len(pages)} page(s) read, OCR page cap reached ({cap}={limit})"
        layouts: list[PageLayout] = []
        for number in wanted[:allowed]:
            image = document.page_image(number - 1)
            if image is None:
                continue
            try:
                layouts.append(self.ocr.read(image, number))
            except DocumentUnreadable as exc:
                logger.warning("offline model: cross-check page not OCR'd",
                               extra={"document_id": document.document_id, "page": number, "error": exc.code})
        if not any(layout.words for layout in layouts):
            return dict(first.evidence), [], note
        ocr_facts, ocr_evidence = read_document(None, layouts)
        second = Reading("OCR", ocr_facts, ocr_evidence, layout_text(layouts).text)
        outcome = cross_check(document.document_id, first, second)
        logger.info("offline model: cross-checked by OCR", extra={
            "document_id": document.document_id, "pages": len(layouts), "compared": len(outcome.compared),
            "agreed": len(outcome.agreed), "signals": len(outcome.signals)})
        return confirm_agreed(first.evidence, ocr_evidence, outcome.agreed), outcome.signals, note

    def _extract_ocr(self, document: PreparedDocument) -> Extraction:
        """OCR the document's page images (within the caps), read the lines by position, parse a passport or
        ID zone (:mod:`leadeval.screening.mrz`), then confirm figures (:func:`confirm_ocr`). Unconfirmed
        income figures make the extraction ``undetermined``, with a note naming them."""
        assert self.ocr is not None
        numbers = list(document.metadata.get("rendered_pages") or range(1, len(document.page_images) + 1))
        wanted = min(len(document.page_images), self.ocr_pages_per_document)
        allowed = self._pages_left.take(wanted)
        capped: list[str] = []
        if allowed < len(document.page_images):
            cap = ("LEADEVAL_OCR_PAGES_PER_JOB" if allowed < wanted else "LEADEVAL_OCR_PAGES_PER_DOCUMENT")
            limit = self.ocr_pages_per_job if allowed < wanted else self.ocr_pages_per_document
            capped.append(f"OCR page cap reached: {allowed} of {len(document.page_images)} page image(s) read "
                          f"({cap}={limit})")
        if allowed == 0:
            note = f"{NEEDS_VISION_NOTE}; {capped[0]}" if capped else NEEDS_VISION_NOTE
            return Extraction(facts=None, note=note, model=MODEL_NAME, model_version=MODEL_VERSION)
        layouts = [self.ocr.read(image, number) for image, number in
                   zip(document.page_images[:allowed], numbers[:allowed], strict=False)]
        if not any(layout.words for layout in layouts):
            note = "no text found on the page image(s) by OCR"
            return Extraction(facts=None, note="; ".join([NEEDS_VISION_NOTE, note, *capped]), model=MODEL_NAME,
                              model_version=MODEL_VERSION)
        facts, evidence = read_document(None, layouts)
        facts, evidence = apply_mrz(facts, evidence, layouts)
        unconfirmed = confirm_ocr(facts, evidence)
        notes = list(capped)
        if unconfirmed:
            notes.insert(0, "read by OCR; figures not confirmed by arithmetic or a second reader: "
                            + ", ".join(unconfirmed))
        logger.info("offline model: OCR extracted", extra={
            "document_id": document.document_id, "kind": facts.document_kind.value, "pages": allowed,
            "words": sum(len(layout.words) for layout in layouts), "unconfirmed": len(unconfirmed)})
        return Extraction(facts=facts, note="; ".join(notes) or None, model=MODEL_NAME,
                          model_version=MODEL_VERSION, evidence=evidence, undetermined=bool(unconfirmed))


def packet_parts(text: str) -> list[PagePart]:
    """The logical documents of a text layer whose pages (separated by form feeds) are of different kinds: each
    page classified on its own (:func:`classify`), then :func:`leadeval.screening.packets.split_pages`. One part
    (or none) means the file is one document."""
    pages = text[:MAX_TEXT_CHARS].split("\f")
    if len(pages) < 2:
        return []
    return split_pages([classify(_normalise(page)) if page.strip() else _K.OTHER for page in pages])


def _read_part(document: PreparedDocument, part: PagePart) -> ExtractedPart:
    """What one part of a packet states, read from its pages only."""
    facts, evidence = read_document(*_part_pages(document, part))
    return ExtractedPart(first_page=part.first_page, last_page=part.last_page, facts=facts, evidence=evidence)


def _part_pages(document: PreparedDocument, part: PagePart) -> tuple[str, list[PageLayout]]:
    """One part of a packet: its pages' text (form feeds between pages) and their positioned words."""
    text = "\f".join((document.text or "").split("\f")[part.first_page - 1: part.last_page])
    return text, [page for page in document.layout if page.page in part.pages]


def _figure_pages(evidence: dict[str, FieldEvidence]) -> list[int]:
    """The pages (1-based) where the checked figures were read, in page order; page 1 when none is located."""
    pages = sorted({e.page for name, e in evidence.items() if e.page and (name in CHECKED_AMOUNTS
                                                                          or name.startswith("names_shown["))})
    return pages or [1]


def read_document(text: str | None, layout: Sequence[PageLayout]) -> tuple[ExtractedFacts, dict[str, FieldEvidence]]:
    """The facts of a document and where each was read.

    Args:
        text: the text in the reader's order (PDFium's text layer), or None (OCR only).
        layout: the positioned words of its pages (:class:`~leadeval.models.PageLayout`); may be empty.
    Returns:
        ``(facts, evidence)``. With a layout the lines its geometry spells are read first (a label meets the
        figures printed beside it, :mod:`leadeval.screening.layout`), and ``text`` only fills the fields they
        leave empty; each value is then located on its page (:func:`locate_evidence`).
    """
    laid = layout_text(layout) if layout else None
    if laid is None or not laid.text.strip():
        facts = extract_facts(text or "")
        return facts, {}
    facts = _with_address_blocks(extract_facts(laid.text), layout)
    if facts.document_kind == _K.GOVERNMENT_ID:
        below = _date_below_label(laid, _ID_EXPIRY_LABEL)
        if below is not None:
            facts = facts.model_copy(update={"id_expiry": below})
    if text and text.strip():
        facts = _fill_from(facts, extract_facts(text))
    return facts, locate_evidence(facts, laid)


_ID_EXPIRY_LABEL = re.compile(r"\b(?:Expiration(?:[ \t]+Date)?|Expires|Exp)\b\.?", re.IGNORECASE)


def _date_below_label(laid: LaidOutText, label: re.Pattern[str]) -> date | None:
    """A date printed under ``label`` (the next line, overlapping the label's column): a licence prints
    "4b Exp" over its date, other fields beside it."""
    for match in label.finditer(laid.text):
        words = laid.words_in(*match.span())
        if not words:
            continue
        x0, x1 = words[0].word.box[0], words[-1].word.box[2]
        _, line_end = laid.line_bounds(match.start())
        if line_end >= len(laid.text) or laid.text[line_end] == "\f":
            continue
        next_start, next_end = laid.line_bounds(line_end + 1)
        for found in _DATE.finditer(laid.text, next_start, next_end):
            value_words = laid.words_in(*found.span())
            if value_words and value_words[0].word.box[0] <= x1 + 0.02 and value_words[-1].word.box[2] >= x0 - 0.02:
                return parse_date(found.group(0))
    return None


def _with_address_blocks(facts: ExtractedFacts, layout: Sequence[PageLayout]) -> ExtractedFacts:
    """Names printed above an address, found by position (:func:`~leadeval.screening.layout.address_blocks`):
    the first block's company is the employer when none was labelled (pay stubs, tax forms, letters); a
    block whose first line is a person's name adds that name (the employee's address on a stub or W-2)."""
    blocks = address_blocks(layout, _STREET_LINE, _CITY_LINE)
    update: dict[str, Any] = {}
    names = list(facts.names_shown)
    employer = facts.employer
    employer_kinds = (_K.PAY_STUB, _K.TAX_FORM, _K.EMPLOYMENT_LETTER)
    for number, block in enumerate(blocks):
        person = _clean_name(block.above)
        if person is None and facts.document_kind == _K.GOVERNMENT_ID and block.above2:
            person = _clean_name(f"{block.above} {block.above2}")  # family name printed over the given names
        if (number == 0 and facts.document_kind in employer_kinds and not employer and ":" not in block.above
                and not _DATE.search(block.above) and re.search(r"[A-Za-z]{2}", block.above)):
            employer = update["employer"] = block.above.strip()
            continue
        if (person and person.casefold() not in {n.casefold() for n in names} and person != employer
                and not _COMPANY_WORD.search(person)):
            names.append(person)
    if names != facts.names_shown:
        update["names_shown"] = names
    return facts.model_copy(update=update) if update else facts


def _fill_from(primary: ExtractedFacts, fallback: ExtractedFacts) -> ExtractedFacts:
    """``primary`` with its empty fields taken from ``fallback`` (same kind only; names are merged)."""
    if fallback.document_kind != primary.document_kind:
        return primary
    update: dict[str, Any] = {}
    for name in ExtractedFacts.model_fields:
        mine, theirs = getattr(primary, name), getattr(fallback, name)
        if name == "names_shown":
            known = {n.casefold() for n in mine}
            extra = [n for n in theirs if n.casefold() not in known]
            if extra:
                update[name] = [*mine, *extra]
        elif (mine is None or mine == []) and theirs not in (None, []):
            update[name] = theirs
    return primary.model_copy(update=update) if update else primary


def extract_facts(text: str) -> ExtractedFacts:
    """Read the facts a document's text states (see the module docstring for what is recognised).

    Args:
        text: the text layer, pages joined with newlines.
    Returns:
        ExtractedFacts; fields the text does not state stay None / empty.
    """
    text = _normalise(text[:MAX_TEXT_CHARS])
    kind = classify(text)
    found, names = _apply_rules(text, kind)
    _complete_by_kind(text, kind, found, names)
    found["names_shown"] = names
    return ExtractedFacts(document_kind=kind, **{k: v for k, v in found.items() if v is not None})


def _apply_rules(text: str, kind: DocumentKind) -> tuple[dict[str, Any], list[str]]:
    """The labelled values of the kind's rules (:data:`RULES`): ``(fields, names)``, first match per field."""
    found: dict[str, Any] = {}
    names: list[str] = []
    for rule, pattern in _COMPILED:
        if kind not in rule.kinds:
            continue
        if rule.field == "names_shown":
            for match in pattern.finditer(text):
                name = _name_after(text, match)
                if name and name.casefold() not in {n.casefold() for n in names}:
                    names.append(name)
            continue
        targets = _targets(rule.field)
        if all(found.get(target) is not None for target in targets):
            continue
        value = _first_value(text, pattern, rule)
        if value is None:
            continue
        if rule.value == "range" and isinstance(value, tuple):  # a date range
            found.setdefault(targets[0], value[0])
            found.setdefault(targets[1], value[1])
        else:
            found.setdefault(targets[0], value)
    return found, names


def _complete_by_kind(text: str, kind: DocumentKind, found: dict[str, Any], names: list[str]) -> None:
    """Facts a kind's documents show without a label (line items, address blocks, the tax year), added to
    ``found`` / ``names`` where the rules left them empty."""
    if kind == _K.PAY_STUB:
        if found.get("gross_pay") is None:
            found["gross_pay"] = _single_earnings_line(text)
        if found.get("total_deductions") is None:
            found["total_deductions"] = _sum_deduction_lines(text)
        if found.get("pay_frequency") is None:
            word = _FREQUENCY_WORD.search(text)
            found["pay_frequency"] = _frequency(word.group(1)) if word else infer_frequency(
                found.get("pay_period_start"), found.get("pay_period_end"), found.get("pay_date"),
                found.get("gross_pay"), found.get("ytd_gross"))
    if kind == _K.BANK_STATEMENT:
        found["deposits"] = _credits(text, found.get("opening_balance"))
        for key in ("total_debits", "total_credits"):
            if found.get(key) is not None:
                found[key] = abs(found[key])
    if kind in (_K.PAY_STUB, _K.TAX_FORM, _K.EMPLOYMENT_LETTER) and not found.get("employer"):
        found["employer"] = _address_block_name(text, exclude=names)
    if kind == _K.TAX_FORM:
        if found.get("annual_income") is None:
            found["annual_income"] = _w2_box1_from_arithmetic(text)
        if not names:
            names.extend(_w2_name_parts(text, employer=found.get("employer")))
        if found.get("document_date") is None and (year := _TAX_YEAR.search(text)):
            found["document_date"] = date(int(year.group(1)), 12, 31)  # the end of the tax year it reports
    if kind in _LETTERS and found.get("document_date") is None:
        found["document_date"] = _standalone_date(text)
    if kind == _K.GOVERNMENT_ID:
        _complete_id(text, found, names)


#: A licence's numbered name fields (AAMVA DL/ID Card Design Standard: 1 family name, 2 given names), each
#: on its own line, possibly after another field's number.
_AAMVA_NAME = re.compile(
    r"^(?:\S+[ \t]+)?1[ \t]+(?P<family>[A-Z][A-Z'-]+(?:[ \t]+[A-Z][A-Z'-]+)*)[ \t]*\n"
    r"(?:\S+[ \t]+)?2[ \t]+(?P<given>[A-Z][A-Z.'-]*(?:[ \t]+[A-Z][A-Z.'-]*)*)[ \t]*$", re.MULTILINE)


def _complete_id(text: str, found: dict[str, Any], names: list[str]) -> None:
    """An ID's numbered name fields, and its expiry when no label was read: the latest of its dates from 1990 to
    15 years ahead (a licence prints birth, issue and expiry dates, the expiry last in time), when it prints at
    least two such dates."""
    for match in _AAMVA_NAME.finditer(text):
        name = _clean_name(f"{match.group('given')} {match.group('family')}")
        if name and name.casefold() not in {n.casefold() for n in names}:
            names.append(name)
    if found.get("id_expiry") is None:
        # plausible validity years only (a misread "2916"); a licence is issued for at most about 12 years
        latest = date.today().year + 15
        dates = {d for m in _DATE.finditer(text)
                 if (d := parse_date(m.group(0))) is not None and 1990 <= d.year <= latest}
        if len(dates) >= 2:
            found["id_expiry"] = max(dates)


def classify(text: str) -> DocumentKind:
    """The document kind the text's markers point to (:data:`KIND_MARKERS`), else ``other``."""
    for kind, pattern in _KIND_COMPILED:
        if pattern.search(text):
            return kind
    return _K.OTHER


# --------------------------------------------------------------------------- helpers


def _normalise(text: str) -> str:
    table = str.maketrans({"\u2019": "'", "\u2018": "'", "\u00a0": " ", "\u2013": "-", "\u2014": "-",
                           "\u2212": "-", "\r": "\n"})
    return text.translate(table)


def _targets(field: str) -> tuple[str, ...]:
    if field in ("pay_period", "statement_period"):
        return (f"{field}_start", f"{field}_end")
    return (field,)


def _line_tail(text: str, end: int) -> tuple[str, int]:
    """The rest of the line from ``end``, and the index where the next line starts."""
    newline = text.find("\n", end)
    if newline < 0:
        return text[end:], len(text)
    return text[end:newline], newline + 1


def _next_lines(text: str, start: int, limit: int = 4) -> Iterable[str]:
    for _ in range(limit):
        if start >= len(text):
            return
        line, start = _line_tail(text, start)
        yield line


def _first_value(text: str, pattern: re.Pattern[str], rule: Rule) -> object | None:
    for match in pattern.finditer(text):
        if rule.current and _ytd_before(text, match.start()):
            continue
        tail, next_start = _line_tail(text, match.end())
        value = _VALUE_READERS[rule.value](text, tail, next_start, rule)
        if value is not None:
            return value
    return None


def _ytd_before(text: str, start: int) -> bool:
    line_start = text.rfind("\n", 0, start) + 1
    return bool(re.search(r"(?:YTD|Year[- ]to[- ]Date)[ \t]*$", text[line_start:start], re.IGNORECASE))


def _row_amounts(text: str, tail: str, next_start: int) -> list[Decimal]:
    """Amounts that directly follow a label: on its line, or on the next lines holding only amounts.

    Words before the first amount mean the line is not this label's row (empty list); words
    after an amount end the row.
    """
    amounts: list[Decimal] = []
    position = 0
    for match in _AMOUNT.finditer(tail):
        if tail[position: match.start()].strip(" \t$|:"):
            break
        amounts.append(_amount(match.group(0)))
        position = match.end()
    if amounts or tail.strip():
        return amounts
    for line in _next_lines(text, next_start):
        if not _PURE_AMOUNTS_LINE.match(line):
            break
        amounts.extend(_amount(m.group(0)) for m in _AMOUNT.finditer(line))
    return amounts


def _read_amount(text: str, tail: str, next_start: int, rule: Rule) -> Decimal | None:
    if rule.near:
        match = _AMOUNT.search(tail)
        if match and len(tail[: match.start()]) <= 60:
            return abs(_amount(match.group(0)))
        if tail.strip():
            return None
    if rule.current:
        first = _AMOUNT.search(tail)
        if _YTD_WORD.search(tail[: first.start()] if first else tail):
            return None
    amounts = _row_amounts(text, tail, next_start)
    if rule.column == 1 and not _YTD_WORD.search(text):
        return None
    return amounts[rule.column] if len(amounts) > rule.column else None


def _read_date(text: str, tail: str, next_start: int, rule: Rule) -> date | None:
    match = _DATE.match(tail.strip())
    if match is None and not tail.strip():
        nxt = next(iter(_next_lines(text, next_start, 1)), "")
        match = _DATE.match(nxt.strip())
    return parse_date(match.group(0)) if match else None


def _read_range(text: str, tail: str, next_start: int, rule: Rule) -> tuple[date, date] | None:
    match = _RANGE.match(tail.strip())
    if match is None and not tail.strip():
        nxt = next(iter(_next_lines(text, next_start, 1)), "")
        match = _RANGE.match(nxt.strip())
    if match is None:
        return None
    start, end = parse_date(match.group("a")), parse_date(match.group("b"))
    return (start, end) if start and end else None


def _read_text(text: str, tail: str, next_start: int, rule: Rule) -> str | None:
    value = _trim_label_words(tail.split(":", 1)[0].split("  ", 1)[0].split("|", 1)[0].split())
    cleaned = " ".join(value).strip(" ,;-")
    return cleaned if re.search(r"[A-Za-z]{2}", cleaned) else None


def _read_frequency(text: str, tail: str, next_start: int, rule: Rule) -> str | None:
    match = _FREQUENCY_WORD.match(tail.strip())
    return _frequency(match.group(1)) if match else None


def _read_name(text: str, tail: str, next_start: int, rule: Rule) -> str | None:
    return _clean_name(tail)


_VALUE_READERS: dict[str, Callable[[str, str, int, Rule], object | None]] = {
    "amount": _read_amount,
    "date": _read_date,
    "range": _read_range,
    "text": _read_text,
    "frequency": _read_frequency,
    "name": _read_name,
}


def _name_after(text: str, match: re.Match[str]) -> str | None:
    tail, next_start = _line_tail(text, match.end())
    name = _clean_name(tail)
    if name is None and not tail.strip():
        name = _clean_name(next(iter(_next_lines(text, next_start, 1)), ""))
    return name


def _trim_label_words(tokens: list[str]) -> list[str]:
    while tokens and tokens[-1].strip(".,").casefold() in _LABEL_WORDS:
        tokens = tokens[:-1]
    return tokens


def _clean_name(value: str) -> str | None:
    """A person's name at the start of ``value``: 2–5 name-like words before any next label."""
    before_label = value.split(":", 1)[0].split("  ", 1)[0] if ":" in value else value.split("  ", 1)[0]
    tokens: list[str] = []
    for token in before_label.split():
        if not _NAME_TOKEN.match(token) or (token[0].islower() and not _PARTICLE.match(token)):
            break
        tokens.append(token)
    tokens = _trim_label_words(tokens)
    if not 2 <= len(tokens) <= 5 or sum(t[0].isupper() for t in tokens) < 2:
        return None
    return " ".join(tokens).rstrip(",")


def _frequency(word: str) -> str:
    word = re.sub(r"[\s-]+", " ", word.casefold())
    if word in ("biweekly", "bi weekly") or word.startswith("every"):
        return "biweekly"
    if word in ("semimonthly", "semi monthly", "twice a month"):
        return "semimonthly"
    if word in ("annual", "annually", "yearly"):
        return "annual"
    return word  # weekly / monthly


def parse_date(value: str) -> date | None:
    """A date in a US format (``MM/DD/YYYY``, ``MM/DD/YY``, ``YYYY-MM-DD``, "January 5, 2026",
    "5 January 2026"); None when it is not a valid calendar date."""
    value = value.strip()
    try:
        if m := re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})", value):
            year = int(m.group(3))
            return date(year + 2000 if year < 100 else year, int(m.group(1)), int(m.group(2)))
        if m := re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", value):
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        if m := re.fullmatch(r"([A-Za-z]+)\.?\s+(\d{1,2}),?\s+(\d{4})", value):
            month = _MONTHS.get(m.group(1).casefold())
            return date(int(m.group(3)), month, int(m.group(2))) if month else None
        if m := re.fullmatch(r"(\d{1,2})\s+([A-Za-z]+)\.?,?\s+(\d{4})", value):
            month = _MONTHS.get(m.group(2).casefold())
            return date(int(m.group(3)), month, int(m.group(1))) if month else None
    except ValueError:
        return None
    return None


_CENT = Decimal("0.01")


def _amount(value: str) -> Decimal:
    """The value of an :data:`AMOUNT_RE` match in dollars, with cents ("$5,600" -> ``Decimal("5600.00")``);
    negative when printed with "-" or in parentheses."""
    negative = "-" in value or "(" in value
    number = Decimal(re.sub(r"[^\d.]", "", value)).quantize(_CENT)
    return -number if negative else number


def _single_earnings_line(text: str) -> Decimal | None:
    rows = []
    for match in _EARNINGS_LINE.finditer(text):
        tail, next_start = _line_tail(text, match.end())
        if _YTD_WORD.search(tail):
            continue
        amounts = _row_amounts(text, tail, next_start)
        if amounts:
            rows.append(amounts)
    if len(rows) == 1 and len(rows[0]) <= 2:
        return rows[0][0]
    return None


def _sum_deduction_lines(text: str) -> Decimal | None:
    total: Decimal | None = None
    for match in _DEDUCTION_LINE.finditer(text):
        tail, next_start = _line_tail(text, match.end())
        first = _AMOUNT.search(tail)
        if _YTD_WORD.search(tail[: first.start()] if first else tail):
            continue
        amounts = _row_amounts(text, tail, next_start)
        if amounts:
            total = (total or Decimal("0.00")) + abs(amounts[0])
    return total


def _credits(text: str, opening: Decimal | None) -> list[Decimal]:
    """Credit amounts of the transaction lines (see the module docstring)."""
    credits: list[Decimal] = []
    balance = opening
    for match in _TXN_LINE.finditer(text):
        rest = match.group("rest")
        amounts = [(_amount(m.group(0)), m.group(0)) for m in _AMOUNT.finditer(rest)]
        if not amounts:
            continue
        first = _AMOUNT.search(rest)
        description = rest[: first.start()] if first else rest
        if re.search(r"\bbalance\b|\btotal\b", description, re.IGNORECASE):
            if len(amounts) == 1:
                balance = amounts[0][0]
            continue
        if len(amounts) >= 2:
            (amount, printed), (new_balance, _) = amounts[-2], amounts[-1]
            if balance is not None and new_balance - balance == abs(amount):
                is_credit = True
            elif balance is not None and new_balance - balance == -abs(amount):
                is_credit = False
            else:
                is_credit = amount > 0
            balance = new_balance
        else:
            amount, printed = amounts[0]
            is_credit = amount > 0 and ("+" in printed or bool(_CREDIT_WORDS.search(description)))
            balance = None
        if is_credit:
            credits.append(abs(amount))
    return credits


def _address_block_name(text: str, exclude: Iterable[str] = ()) -> str | None:
    """The line above the first street line + city/state/ZIP line (a letterhead or W-2 box c)."""
    excluded = {name.casefold() for name in exclude}
    lines = [line.strip() for line in text.split("\n")]
    for index in range(1, len(lines) - 1):
        if not (_STREET_LINE.match(lines[index]) and _CITY_LINE.match(lines[index + 1])):
            continue
        candidate = lines[index - 1]
        if (len(candidate) >= 3 and ":" not in candidate and re.search(r"[A-Za-z]{2}", candidate)
                and not _DATE.search(candidate) and candidate.casefold() not in excluded):
            return candidate
    return None


def _w2_name_parts(text: str, employer: str | None) -> list[str]:
    """A filled W-2 whose values are listed apart from the labels: one-word title-case values."""
    parts = [
        line.strip() for line in text.split("\n")
        if _W2_NAME_PART.match(line.strip()) and line.strip().casefold() not in _W2_FORM_WORDS
        and line.strip() != employer
    ]
    return [" ".join(parts)] if 2 <= len(parts) <= 3 else []



def _w2_box1_from_arithmetic(text: str) -> Decimal | None:
    """Box 1 of a W-2 whose values are printed apart from their labels (module docstring)."""
    amounts = {abs(_amount(m.group(0))) for m in _AMOUNT.finditer(text)}
    amounts = {a for a in amounts if a > 0}

    def taxed_at(rate: str) -> dict[Decimal, Decimal]:
        pairs = {}
        for wage in amounts:
            tax = (wage * Decimal(rate)).quantize(_CENT, rounding=ROUND_HALF_UP)
            match = next((a for a in amounts if abs(a - tax) <= _CENT and a != wage), None)
            if match is not None and wage >= 100:
                pairs[wage] = match
        return pairs

    social, medicare = taxed_at("0.062"), taxed_at("0.0145")
    wages = set(social) | set(medicare)
    if not wages:
        return None
    top = max(wages)
    explained = wages | set(social.values()) | set(medicare.values())
    candidates = [a for a in amounts if a not in explained and top / 2 <= a <= top]
    return max(candidates) if candidates else max(medicare or social)


def _standalone_date(text: str) -> date | None:
    for line in text.split("\n"):
        match = _DATE.fullmatch(line.strip())
        if match:
            return parse_date(match.group(0))
    return None


# --------------------------------------------------------------------------- evidence: where each value is


def _field_labels() -> dict[str, tuple[re.Pattern[str], ...]]:
    """Per field, its labels in the order they are tried: the rules' labels, then weaker ones (the single
    earnings line read as the gross)."""
    labels: dict[str, list[str]] = {}
    for rule in RULES:
        for target in _targets(rule.field):
            labels.setdefault(target, []).append(rule.label)
    weaker = {"gross_pay": EARNINGS_LINE_RE, "ytd_gross": EARNINGS_LINE_RE, "pay_date": r"Period[ \t]+Ending"}
    flags = re.IGNORECASE | re.MULTILINE
    return {name: (re.compile("|".join(f"(?:{p})" for p in parts), flags),
                   *((re.compile(weaker[name], flags),) if name in weaker else ()))
            for name, parts in labels.items()}


_FIELD_LABELS = _field_labels()
_AMOUNT_FIELDS = ("gross_pay", "net_pay", "total_deductions", "ytd_gross", "opening_balance", "closing_balance",
                  "total_credits", "total_debits", "monthly_benefit", "annual_income")
_DATE_FIELDS = ("pay_period_start", "pay_period_end", "pay_date", "statement_period_start", "statement_period_end",
                "id_expiry", "document_date")
#: Fields the reader may compute rather than read (their evidence is ``derived`` when not located).
_DERIVABLE = frozenset({"total_deductions", "pay_frequency", "annual_income", "document_date", "gross_pay",
                        "id_expiry"})


def locate_evidence(facts: ExtractedFacts, laid: LaidOutText) -> dict[str, FieldEvidence]:
    """Where each value of ``facts`` is printed in ``laid`` (:class:`~leadeval.models.FieldEvidence` per field).

    A value is *located* when a token of the laid-out text spells it (an amount of the same value, a date of
    the same day, the name's words). Its label is *matched by position* when the field's label (the
    :data:`RULES` labels of that field) is printed before it on the same line, or on the line above it
    (a label over its value). ``certain`` is True only for a located text-layer token whose label matched;
    OCR'd tokens are never certain here (arithmetic or a second reader decides, see
    :func:`leadeval.adapters.ai.ocr_reading.confirm`). ``confidence`` is the lowest word confidence of the
    token; ``box`` the union of its words' boxes; ``page`` 1-based. A value not located but computable from
    others (a deduction total summed from lines, a frequency inferred, W-2 box 1 from the tax arithmetic)
    gets ``how="derived"`` and is not certain. List items are keyed ``deposits[i]`` and ``names_shown[i]``.
    """
    evidence: dict[str, FieldEvidence] = {}
    for name in _AMOUNT_FIELDS:
        value = getattr(facts, name)
        if value is not None:
            _put(evidence, name, _locate(laid, _amount_spans(laid.text, value), _FIELD_LABELS.get(name)))
    for name in _DATE_FIELDS:
        value = getattr(facts, name)
        if value is not None:
            _put(evidence, name, _locate(laid, _date_spans(laid.text, value), _FIELD_LABELS.get(name)))
    if facts.pay_frequency is not None:
        spans = [m.span(1) for m in _FREQUENCY_WORD.finditer(laid.text)
                 if _frequency(m.group(1)) == facts.pay_frequency]
        _put(evidence, "pay_frequency", _locate(laid, spans, _FIELD_LABELS.get("pay_frequency")))
    if facts.employer:
        _put(evidence, "employer", _locate(laid, _text_spans(laid.text, facts.employer), _FIELD_LABELS.get("employer")))
    for index, person in enumerate(facts.names_shown):
        _put(evidence, f"names_shown[{index}]",
             _locate(laid, _text_spans(laid.text, person), _FIELD_LABELS.get("names_shown")))
    used: set[int] = set()
    for index, deposit in enumerate(facts.deposits):
        spans = [span for span in _amount_spans(laid.text, deposit) if span[0] not in used]
        found = _locate(laid, spans, _TXN_LINE, whole_line=True)
        if found is not None:
            used.add(found[1])
        _put(evidence, f"deposits[{index}]", found)
    for name in _DERIVABLE:
        if getattr(facts, name, None) is not None and name not in evidence:
            evidence[name] = FieldEvidence(how="derived", certain=False)
    return evidence


def _put(evidence: dict[str, FieldEvidence], key: str, found: tuple[FieldEvidence, int] | None) -> None:
    if found is not None:
        evidence[key] = found[0]


def _amount_spans(text: str, value: Decimal) -> list[tuple[int, int]]:
    wanted = abs(value)
    return [span for span, amount in _amounts_in(text) if amount == wanted]


def _date_spans(text: str, value: date) -> list[tuple[int, int]]:
    return [span for span, day in _dates_in(text) if day == value]


@lru_cache(maxsize=1)
def _amounts_in(text: str) -> tuple[tuple[tuple[int, int], Decimal], ...]:
    """Every amount of ``text`` as (span, absolute value in dollars), found once per text: the fields of one
    document look for their values in the same text, one after the other (one text kept: a text that comes
    back later is searched again)."""
    return tuple((m.span(), abs(_amount(m.group(0)))) for m in _AMOUNT.finditer(text))


@lru_cache(maxsize=1)
def _dates_in(text: str) -> tuple[tuple[tuple[int, int], date | None], ...]:
    """Every date of ``text`` as (span, the date or None when not a calendar date), found once per text."""
    return tuple((m.span(), parse_date(m.group(0))) for m in _DATE.finditer(text))


def _text_spans(text: str, value: str) -> list[tuple[int, int]]:
    words = [re.escape(w) for w in value.split()]
    if not words:
        return []
    pattern = re.compile(r"\s+".join(words), re.IGNORECASE)
    return [m.span() for m in pattern.finditer(text)]


def _locate(laid: LaidOutText, spans: Sequence[tuple[int, int]],
            labels: re.Pattern[str] | Sequence[re.Pattern[str]] | None,
            *, whole_line: bool = False) -> tuple[FieldEvidence, int] | None:
    """The evidence of the best of ``spans`` and its start offset (None when no span is on a word): the first
    span labelled by the first of ``labels`` that labels any, else the first span, not certain."""
    patterns = (labels,) if isinstance(labels, re.Pattern) else tuple(labels or ())
    placed = [(start, words) for start, end in spans if (words := laid.words_in(start, end))]
    for label in patterns:
        for start, words in placed:
            if _labelled(laid, start, words[0], label, whole_line):
                return _evidence(words, True), start
    if not placed:
        return None
    start, words = placed[0]
    return _evidence(words, False), start


def _labelled(laid: LaidOutText, start: int, first: PlacedWord, label: re.Pattern[str], whole_line: bool) -> bool:
    """The label is printed before the token on its line, or on the line above over the token's column."""
    line_start, line_end = laid.line_bounds(start)
    if whole_line:
        return bool(label.match(laid.text[line_start:line_end]))
    if label.search(laid.text[line_start:start]):
        return True
    if line_start == 0 or laid.text[line_start - 1] == "\f":
        return False
    above_start, above_end = laid.line_bounds(line_start - 1)
    x0, x1 = first.word.box[0], first.word.box[2]
    for match in label.finditer(laid.text, above_start, above_end):
        words = laid.words_in(*match.span())
        if words and words[0].word.box[0] <= x1 and words[-1].word.box[2] >= x0 - 0.02:
            return True
    return False


def _evidence(words: Sequence[PlacedWord], labelled: bool) -> FieldEvidence:
    how = "ocr" if words[0].how == "ocr" else "text_layer"
    confidence = min(w.word.confidence for w in words)
    return FieldEvidence(how=how, certain=labelled and how == "text_layer", confidence=max(0.0, min(1.0, confidence)),
                         page=words[0].page, box=union_box([w.word.box for w in words if w.page == words[0].page]))


# --------------------------------------------------------------------------- pay frequency from what a stub shows


def infer_frequency(start: date | None, end: date | None, paid: date | None, gross: Decimal | None,
                    ytd: Decimal | None) -> str | None:
    """The pay frequency a stub implies when it does not state one.

    First from the pay period's length (inclusive days): 7 weekly, 14 biweekly, the 1st–15th or the
    16th–end of a month semimonthly, a whole calendar month monthly. Otherwise from the year-to-date
    gross: ``ytd / gross`` must be a whole number ``n`` of periods (within 0.5 %) that matches, for exactly
    one frequency, the periods paid by the pay date (or the period end) in its calendar year: its month
    (monthly), twice the months before plus 1 or 2 (semimonthly), its day of the year ÷ 14 or ÷ 7 rounded
    up, ±1 (biweekly, weekly). Example: gross 5,000.00, YTD 60,000.00 paid on 12/31 is 12 periods:
    monthly. None when neither applies (a YTD that is not a multiple of the gross says nothing).
    """
    if start is not None and end is not None and end >= start:
        by_period = _frequency_of_period(start, end)
        if by_period is not None:
            return by_period
    when = paid or end
    matches = ytd_frequencies(when, gross, ytd)
    return matches[0] if len(matches) == 1 else None


def ytd_frequencies(when: date | None, gross: Decimal | None, ytd: Decimal | None) -> list[str]:
    """The pay frequencies for which ``ytd`` is the right whole number of ``gross`` periods by ``when``
    (see :func:`infer_frequency`); empty when ``ytd / gross`` is not a whole number within 0.5 %."""
    if when is None or gross is None or ytd is None or gross <= 0 or ytd < gross:
        return []
    ratio = ytd / gross
    periods = int(ratio.to_integral_value())
    if periods < 1 or abs(ratio - periods) > Decimal("0.005") * periods:
        return []
    day_of_year = when.timetuple().tm_yday
    expected = {
        "monthly": (when.month, 0),
        "semimonthly": (2 * (when.month - 1) + (1 if when.day <= 15 else 2), 0),
        "biweekly": (-(-day_of_year // 14), 1),
        "weekly": (-(-day_of_year // 7), 1),
    }
    return [name for name, (count, slack) in expected.items() if abs(count - periods) <= slack]


def _frequency_of_period(start: date, end: date) -> str | None:
    days = (end - start).days + 1
    if days == 7:
        return "weekly"
    if days == 14:
        return "biweekly"
    next_month = date(end.year + end.month // 12, end.month % 12 + 1, 1)
    month_end = (next_month - timedelta(days=1)).day
    if start.month == end.month and ((start.day == 1 and end.day == 15) or (start.day == 16 and end.day == month_end)):
        return "semimonthly"
    if start.day == 1 and start.month == end.month and end.day == month_end:
        return "monthly"
    return None


# --------------------------------------------------------------------------- OCR: confirmation and the MRZ

#: Figures that can count toward income: an OCR'd one counts only once confirmed.
INCOME_FIELDS = ("gross_pay", "net_pay", "ytd_gross", "annual_income", "monthly_benefit", "total_credits",
                 "opening_balance", "closing_balance")
_TOLERANCE = Decimal("0.01")


def confirm_ocr(facts: ExtractedFacts, evidence: dict[str, FieldEvidence]) -> list[str]:
    """Mark OCR'd figures ``certain`` where arithmetic closes, and name the income figures still unconfirmed.

    Closes: net = gross − deductions (all three confirmed); YTD gross = n × gross for the number of periods
    the pay date implies at the stub's frequency (:func:`ytd_frequencies`; gross and YTD confirmed);
    opening + credits − debits = closing (the four confirmed). Nothing else confirms an OCR'd figure yet (a W-2's
    box 1 or a benefit amount stays unconfirmed). ``evidence`` is updated in place.

    Returns:
        The names of income figures (:data:`INCOME_FIELDS`, ``deposits[i]``) read by OCR and not confirmed.
    """
    confirmed: set[str] = set()
    gross, net, deductions = facts.gross_pay, facts.net_pay, facts.total_deductions
    if gross is not None and net is not None and deductions is not None and abs(gross - deductions - net) <= _TOLERANCE:
        confirmed |= {"gross_pay", "net_pay", "total_deductions"}
    fits = ytd_frequencies(facts.pay_date or facts.pay_period_end, gross, facts.ytd_gross)
    if fits and (facts.pay_frequency in fits or (facts.pay_frequency is None and len(fits) == 1)):
        confirmed |= {"gross_pay", "ytd_gross"}
    balances = (facts.opening_balance, facts.total_credits, facts.total_debits, facts.closing_balance)
    if all(v is not None for v in balances):
        opening, credits, debits, closing = (v for v in balances if v is not None)
        if abs(opening + credits - debits - closing) <= _TOLERANCE:
            confirmed |= {"opening_balance", "total_credits", "total_debits", "closing_balance"}
    for name in confirmed:
        found = evidence.get(name)
        if found is not None and found.how == "ocr":
            evidence[name] = found.model_copy(update={"certain": True})
    keys = [name for name in INCOME_FIELDS if getattr(facts, name) is not None]
    keys += [f"deposits[{i}]" for i in range(len(facts.deposits))]
    return [key for key in keys if (e := evidence.get(key)) is not None and e.how in ("ocr", "derived")
            and not e.certain and _ocr_read(evidence)]


def _ocr_read(evidence: dict[str, FieldEvidence]) -> bool:
    return any(e.how == "ocr" for e in evidence.values())


def apply_mrz(facts: ExtractedFacts, evidence: dict[str, FieldEvidence],
              layouts: Sequence[PageLayout]) -> tuple[ExtractedFacts, dict[str, FieldEvidence]]:
    """A passport or ID zone in the pages' lines (:func:`leadeval.screening.mrz.find_mrz`): the document is a
    government ID; the holder's name (given names then surname) is added; the expiry is taken from the zone.
    A passed check digit makes its field certain (``id_expiry``; the name when the composite check passes);
    a failed one is reported in ``tampering_signals`` (field, printed and computed digit: a misread or an
    altered zone), and the expiry is then not certain."""
    laid = layout_text(layouts)
    mrz = find_mrz(laid.text)
    if mrz is None:
        return facts, evidence
    update: dict[str, Any] = {"document_kind": _K.GOVERNMENT_ID}
    names = [n for n in facts.names_shown if n.casefold() != mrz.full_name.casefold()]
    if mrz.full_name:
        names.insert(0, mrz.full_name)
        evidence = {k: v for k, v in evidence.items() if not k.startswith("names_shown[")}
    update["names_shown"] = names
    lines = laid.text.split("\n")
    line_start = sum(len(line) + 1 for line in lines[: mrz.lines[-1]])
    zone = laid.words_in(line_start, line_start + len(lines[mrz.lines[-1]]))
    box = union_box([w.word.box for w in zone]) if zone else None
    page = zone[0].page if zone else None
    confidence = min((w.word.confidence for w in zone), default=0.0)
    if mrz.expiry_date is not None:
        update["id_expiry"] = mrz.expiry_date
        evidence["id_expiry"] = FieldEvidence(how="ocr", certain=mrz.passed("expiry_date"), confidence=confidence,
                                              page=page, box=box)
    if mrz.full_name:
        evidence["names_shown[0]"] = FieldEvidence(how="ocr", certain=mrz.valid, confidence=confidence, page=page,
                                                   box=box)
    failed = [c for c in mrz.checks if not c.passed]
    if failed:
        update["tampering_signals"] = [*facts.tampering_signals, *(
            f"MRZ check digit failed: {c.field} (printed {c.printed}, computed {c.computed})" for c in failed)]
    return facts.model_copy(update=update), evidence
