"""Validation: deterministic checks of extracted facts, per document and across documents.

The vision model (or the offline reader) says what a document *states*; these
checks say whether what it states holds together: arithmetic (net = gross − deductions, YTD
progression, balance reconciliation), dates (future, stale, period order, ID expiry) and
cross-document consistency (names against the lead, net pay against bank deposits). The checks
follow the property-manager and vendor checklists (Snappt, Inscribe, DocuClipper,
compliancesupport.com): "calculations, including YTD progressing from one stub to the next",
"opening/closing reconciliation", "future-dated entries", "names that don't match", "net pay
appears as a deposit on the bank statement".

Every check is a small named function returning :class:`~leadeval.models.Signal` objects.
A signal carries ``document_id`` when exactly one document is concerned; findings that involve
several documents (``ytd_inconsistent``, ``net_pay_not_deposited``) carry ``document_id=None``
and name the documents in their evidence, because the data cannot tell which one is wrong.

Units: money in :class:`~leadeval.models.ExtractedFacts` is ``Decimal`` US dollars; every
comparison is done in ``Decimal`` with a tolerance of one cent (``MONEY_TOLERANCE``), except the
net-pay-to-deposit match, which allows one dollar (``DEPOSIT_TOLERANCE``). Dates are
``datetime.date``; ages are whole days.

Evidence strings hold document ids, field names, figures and dates only — never a name, an
employer or other text read from a document (so nothing a document says can reach a reason
verbatim, and nothing personal is repeated).
"""

from __future__ import annotations

import itertools
import logging
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from leadeval.models import DocumentKind, DocumentResult, ExtractedFacts, Lead, Signal
from leadeval.screening import kinds

if TYPE_CHECKING:
    from leadeval.screening.policy import ScoringPolicy

logger = logging.getLogger(__name__)

PayFrequency = Literal["weekly", "biweekly", "semimonthly", "monthly", "annual"]

#: Two amounts that differ by no more than this are equal (US dollars).
MONEY_TOLERANCE = Decimal("0.01")
#: A bank deposit within this of a stub's net pay corroborates it (US dollars).
DEPOSIT_TOLERANCE = Decimal("1.00")
#: A document date may be this far after ``today`` (time zones, pay stubs issued a day early).
FUTURE_GRACE = timedelta(days=1)
#: ``ytd_implausible`` fires when YTD gross exceeds this gross × the most pay dates the stated
#: frequency allows since 1 January, × (1 + slack): room for overtime, bonuses, a pay cut.
YTD_PERIODS_SLACK = Decimal("0.25")

#: Pay-date gaps (days, inclusive bounds) between two consecutive stubs of one employer.
_CONSECUTIVE_GAP_DAYS: dict[str, tuple[int, int]] = {
    "weekly": (5, 9),
    "biweekly": (12, 16),
    "semimonthly": (12, 19),
    "monthly": (26, 35),
    "annual": (350, 380),
}

_NAME_NOISE = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "jr", "sr", "ii", "iii", "iv"})
_EMPLOYER_NOISE = frozenset(
    {
        "the",
        "inc",
        "incorporated",
        "llc",
        "ltd",
        "limited",
        "corp",
        "corporation",
        "co",
        "company",
        "lp",
        "llp",
        "plc",
        "pllc",
    }
)
_DATE_FIELDS = (
    "pay_period_start",
    "pay_period_end",
    "pay_date",
    "statement_period_start",
    "statement_period_end",
    "document_date",
)

# --------------------------------------------------------------------------- small helpers


def money(amount: Decimal) -> str:
    """``Decimal`` dollars as ``$1,234.56`` (for evidence and reasons)."""
    return f"${amount.quantize(Decimal('0.01')):,}"


def document_kind(result: DocumentResult) -> DocumentKind | None:
    """The document's kind: ``result.kind`` when set, else the extracted ``document_kind``."""
    if result.kind is not None:
        return result.kind
    return result.facts.document_kind if result.facts is not None else None


def kind_label(result: DocumentResult) -> str:
    """Plain-language kind of a document ("pay stub", …; "document" when unknown)."""
    return kinds.label(document_kind(result))


def _tokens(text: str, *, noise: frozenset[str]) -> list[str]:
    """Lower-case ASCII-folded word tokens: accents stripped (NFKD), apostrophes dropped,
    other punctuation (commas, hyphens, dots) splitting words, ``noise`` words removed."""
    decomposed = unicodedata.normalize("NFKD", text)
    folded = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    folded = folded.replace("'", "").replace("\u2019", "")
    cleaned = "".join(c if c.isalnum() else " " for c in folded)
    return [t for t in cleaned.split() if t not in noise]


def employer_key(employer: str | None) -> str | None:
    """A comparable employer key: tokens without legal suffixes ("Acme, Inc." == "ACME");
    None when no employer is shown."""
    if not employer:
        return None
    key = " ".join(_tokens(employer, noise=_EMPLOYER_NOISE))
    return key or None


def names_match(first_name: str, last_name: str, shown: str) -> bool:
    """True when a name printed on a document is plausibly the applicant's.

    Tolerates case, accents ("José" = "Jose"), punctuation, titles and suffixes (Mr, Jr, III),
    middle names, a first-name initial ("J. Smith"), and order ("Smith, John", "SMITH JOHN"):
    the shown name must contain one of the applicant's last-name words and one of the
    first-name words (or the initial of the first one). Nicknames ("Bob" for "Robert") do not
    match: that is left to a person (the signal is medium, so the application goes to review).
    Name-only matching is never used to attribute records (CFPB, 86 FR 62468); here it only
    checks that a document belongs to the applicant.
    """
    words = set(_tokens(shown, noise=_NAME_NOISE))
    first = _tokens(first_name, noise=_NAME_NOISE)
    last = _tokens(last_name, noise=_NAME_NOISE)
    if not words or not first or not last:
        return False
    last_ok = any(t in words for t in last)
    rest = words - set(last) if len(words) > 1 else words
    first_ok = any(t in rest for t in first) or first[0][0] in {w for w in rest if len(w) == 1}
    return last_ok and first_ok


def _stub_date(facts: ExtractedFacts) -> date | None:
    """The date a pay stub speaks for: pay date, else period end, else document date."""
    return facts.pay_date or facts.pay_period_end or facts.document_date


def frequency_from_period(start: date | None, end: date | None) -> PayFrequency | None:
    """Pay frequency inferred from a pay period's length in days (inclusive).

    6–8 days weekly; 14 biweekly; 12, 13, 15, 16 semimonthly (1st–15th is 15 days, 16th–28th
    is 13); 27–31 monthly; anything else (or a missing/reversed period) None.
    """
    if start is None or end is None or end < start:
        return None
    days = (end - start).days + 1
    if 6 <= days <= 8:
        return "weekly"
    if days == 14:
        return "biweekly"
    if days in (12, 13, 15, 16):
        return "semimonthly"
    if 27 <= days <= 31:
        return "monthly"
    return None


def frequency_from_gap(days: int) -> PayFrequency | None:
    """Pay frequency inferred from the days between two consecutive pay dates of one employer:
    5–9 weekly; 14 biweekly; 12, 13, 15–19 semimonthly; 26–35 monthly; else None."""
    if 5 <= days <= 9:
        return "weekly"
    if days == 14:
        return "biweekly"
    if 12 <= days <= 19:
        return "semimonthly"
    if 26 <= days <= 35:
        return "monthly"
    return None


def infer_pay_frequency(
    facts: ExtractedFacts, siblings: Sequence[ExtractedFacts] = ()
) -> PayFrequency | None:
    """The pay frequency of a stub: as stated; else from its pay period's length; else from the
    gap to the nearest pay date among ``siblings`` (other stubs of the same employer).
    None when none of these tells."""
    if facts.pay_frequency is not None:
        return facts.pay_frequency
    inferred = frequency_from_period(facts.pay_period_start, facts.pay_period_end)
    if inferred is not None:
        return inferred
    mine = _stub_date(facts)
    if mine is None:
        return None
    gaps = sorted(abs((mine - d).days) for s in siblings if (d := _stub_date(s)) is not None)
    gaps = [g for g in gaps if g > 0]
    return frequency_from_gap(gaps[0]) if gaps else None


def max_pay_dates_elapsed(frequency: PayFrequency, on: date) -> int:
    """The most pay dates a schedule of ``frequency`` can have from 1 January to ``on``
    (inclusive) — an upper bound whatever the weekday or day of month payday falls on."""
    day_of_year = on.timetuple().tm_yday
    if frequency == "weekly":
        return (day_of_year - 1) // 7 + 1
    if frequency == "biweekly":
        return (day_of_year - 1) // 14 + 1
    if frequency == "semimonthly":
        return 2 * (on.month - 1) + (2 if on.day >= 15 else 1)
    if frequency == "monthly":
        return on.month
    return 1


def _sig(
    code: str, severity: Literal["low", "medium", "high"], evidence: str, document_id: str | None,
    **where: object,
) -> Signal:
    return Signal(code=code, severity=severity, evidence=evidence, document_id=document_id, **where)


#: Appended to the evidence of an arithmetic break on values not all read with certainty.
UNCERTAIN_NOTE = " (not every value was read with certainty: a misreading is possible)"


def values_certain(doc: DocumentResult, *fields: str) -> bool:
    """True when every named value of ``doc`` was read with certainty (its
    :class:`~leadeval.models.FieldEvidence` says ``certain``); a value without evidence is not certain."""
    return all((ev := doc.evidence.get(name)) is not None and ev.certain for name in fields)


def _arithmetic(code: str, evidence: str, doc: DocumentResult, fields: Sequence[str], *, field: str,
                expected: str, actual: str) -> Signal:
    """An arithmetic break: high when every value in it was read with certainty, else medium with
    :data:`UNCERTAIN_NOTE` (a break on values the reader is unsure of is not a tamper signal). Carries the
    field, the expected and actual values, and the page and box of the field when located."""
    certain = values_certain(doc, *fields)
    located = doc.evidence.get(field)
    return Signal(code=code, severity="high" if certain else "medium",
                  evidence=evidence + ("" if certain else UNCERTAIN_NOTE), document_id=doc.document_id,
                  field=field, expected=expected, actual=actual,
                  page=located.page if located else None, box=located.box if located else None)


# --------------------------------------------------------------------------- per-document checks


def check_net_pay(doc: DocumentResult) -> list[Signal]:
    """``net_pay_mismatch`` (high): |gross − deductions − net| > $0.01, when all three are known.
    Deductions are taken as a magnitude (a stub may print them negative)."""
    f = doc.facts
    if f is None or f.gross_pay is None or f.net_pay is None or f.total_deductions is None:
        return []
    expected = f.gross_pay - abs(f.total_deductions)
    if abs(expected - f.net_pay) <= MONEY_TOLERANCE:
        return []
    return [
        _arithmetic(
            "net_pay_mismatch",
            f"gross {money(f.gross_pay)} − deductions {money(abs(f.total_deductions))} = "
            f"{money(expected)}, but net pay shows {money(f.net_pay)}",
            doc, ("gross_pay", "total_deductions", "net_pay"), field="net_pay", expected=money(expected),
            actual=money(f.net_pay),
        )
    ]


def check_ytd_below_gross(doc: DocumentResult) -> list[Signal]:
    """``ytd_below_period_gross`` (high): YTD gross smaller than this period's gross by more
    than $0.01 (the year to date includes this period)."""
    f = doc.facts
    if f is None or f.gross_pay is None or f.ytd_gross is None:
        return []
    if f.gross_pay - f.ytd_gross <= MONEY_TOLERANCE:
        return []
    return [
        _arithmetic(
            "ytd_below_period_gross",
            f"YTD gross {money(f.ytd_gross)} is below this period's gross {money(f.gross_pay)}",
            doc, ("gross_pay", "ytd_gross"), field="ytd_gross", expected=f"at least {money(f.gross_pay)}",
            actual=money(f.ytd_gross),
        )
    ]


def check_ytd_implausible(doc: DocumentResult, siblings: Sequence[ExtractedFacts] = ()) -> list[Signal]:
    """``ytd_implausible`` (medium): YTD gross ÷ this period's gross implies more pay periods
    than the pay frequency allows since 1 January.

    Rule: with ``n`` = :func:`max_pay_dates_elapsed` for the frequency (stated, or inferred by
    :func:`infer_pay_frequency`) at the stub's pay date (else period end), flag when
    ``ytd > gross × n × (1 + YTD_PERIODS_SLACK)``. Skipped when the frequency cannot be told
    (a single stub showing only a pay date and amounts: 20 weekly or biweekly periods are
    possible by December) or gross is not positive. Example: the corpus ADP stub (gross 5,000.00,
    YTD 99,999.99, pay date 31 December) paid monthly allows 12 × 1.25 = 15 periods; it implies 20.
    """
    f = doc.facts
    if f is None or f.gross_pay is None or f.ytd_gross is None or f.gross_pay <= 0:
        return []
    on = f.pay_date or f.pay_period_end
    frequency = infer_pay_frequency(f, siblings)
    if on is None or frequency is None:
        return []
    periods = max_pay_dates_elapsed(frequency, on)
    limit = f.gross_pay * periods * (1 + YTD_PERIODS_SLACK)
    if f.ytd_gross <= limit:
        return []
    implied = (f.ytd_gross / f.gross_pay).quantize(Decimal("0.1"))
    return [
        _sig(
            "ytd_implausible",
            "medium",
            f"YTD gross {money(f.ytd_gross)} is {implied} × this period's gross "
            f"{money(f.gross_pay)}; a {frequency} schedule has at most {periods} pay dates "
            f"from 1 January to {on.isoformat()} (allowed up to {periods * (1 + YTD_PERIODS_SLACK)})",
            doc.document_id,
        )
    ]


def check_pay_date(doc: DocumentResult) -> list[Signal]:
    """``pay_date_before_period_end`` (medium): the pay date precedes the end of the period it pays."""
    f = doc.facts
    if f is None or f.pay_date is None or f.pay_period_end is None or f.pay_date >= f.pay_period_end:
        return []
    return [
        _sig(
            "pay_date_before_period_end",
            "medium",
            f"pay date {f.pay_date.isoformat()} is before the pay period end {f.pay_period_end.isoformat()}",
            doc.document_id,
        )
    ]


def check_future_dates(doc: DocumentResult, today: date) -> list[Signal]:
    """``future_dated`` (high): a pay period, pay date, statement period or document date later
    than ``today`` + 1 day (one signal per document, naming each such field)."""
    f = doc.facts
    if f is None:
        return []
    latest = today + FUTURE_GRACE
    late = [
        (name, value) for name in _DATE_FIELDS if (value := getattr(f, name)) is not None and value > latest
    ]
    if not late:
        return []
    fields = ", ".join(f"{name} {value.isoformat()}" for name, value in late)
    return [
        _arithmetic("future_dated", f"{fields} after {today.isoformat()} (+1 day allowed)", doc,
                    [name for name, _ in late], field=late[0][0],
                    expected=f"on or before {latest.isoformat()}", actual=late[0][1].isoformat())
    ]


def check_period_order(doc: DocumentResult) -> list[Signal]:
    """``period_order`` (medium): a pay or statement period that starts after it ends."""
    f = doc.facts
    if f is None:
        return []
    out = []
    for label, start, end in (
        ("pay period", f.pay_period_start, f.pay_period_end),
        ("statement period", f.statement_period_start, f.statement_period_end),
    ):
        if start is not None and end is not None and start > end:
            out.append(
                _sig(
                    "period_order",
                    "medium",
                    f"{label} starts {start.isoformat()} after it ends {end.isoformat()}",
                    doc.document_id,
                )
            )
    return out


def check_balance(doc: DocumentResult) -> list[Signal]:
    """``balance_mismatch`` (high): opening + credits − debits differs from closing by more
    than $0.01, when all four are known (credits and debits taken as magnitudes)."""
    f = doc.facts
    if f is None:
        return []
    opening, closing, credits, debits = f.opening_balance, f.closing_balance, f.total_credits, f.total_debits
    if opening is None or closing is None or credits is None or debits is None:
        return []
    expected = opening + abs(credits) - abs(debits)
    if abs(expected - closing) <= MONEY_TOLERANCE:
        return []
    return [
        _arithmetic(
            "balance_mismatch",
            f"opening {money(opening)} + credits {money(abs(credits))} − debits "
            f"{money(abs(debits))} = {money(expected)}, but closing shows {money(closing)}",
            doc, ("opening_balance", "total_credits", "total_debits", "closing_balance"),
            field="closing_balance", expected=money(expected), actual=money(closing),
        )
    ]


def _already(doc: DocumentResult, code: str) -> bool:
    """True when the page forensics already raised ``code`` on this document (read from its text layer)."""
    return any(s.code == code for s in doc.signals)


def check_payroll_tax(doc: DocumentResult) -> list[Signal]:
    """``fica_mismatch`` (pay stub: Social Security and Medicare against gross, see
    :func:`leadeval.screening.forensics.arithmetic.fica_problems`) and ``w2_tax_mismatch`` (tax form: boxes
    3-6, :func:`~leadeval.screening.forensics.arithmetic.w2_problems`, the wage base of the form's year), on the
    extracted facts; skipped when the page forensics already found it on the text layer. High only when every
    value was read with certainty."""
    from leadeval.screening.forensics.arithmetic import fica_problems, w2_problems

    f = doc.facts
    kind = document_kind(doc)
    if f is None:
        return []
    if kind == DocumentKind.PAY_STUB and f.gross_pay is not None and not _already(doc, "fica_mismatch"):
        problems = fica_problems(f.gross_pay, f.social_security_tax, f.medicare_tax, f.ytd_gross)
        return [_arithmetic("fica_mismatch", f"{name.replace('_', ' ')} {actual}, expected {expected}", doc,
                            ("gross_pay", name), field=name, expected=expected, actual=actual)
                for name, expected, actual in problems]
    if kind == DocumentKind.TAX_FORM and not _already(doc, "w2_tax_mismatch"):
        year = f.document_date.year if f.document_date else None
        problems = w2_problems(year, f.social_security_wages, f.social_security_tax, f.medicare_wages, f.medicare_tax)
        fields = ("social_security_wages", "social_security_tax", "medicare_wages", "medicare_tax")
        return [_arithmetic("w2_tax_mismatch", f"W-2 {name.replace('_', ' ')} {actual}, expected {expected}", doc,
                            fields, field=name, expected=expected, actual=actual)
                for name, expected, actual in problems]
    return []


def check_transactions(doc: DocumentResult) -> list[Signal]:
    """Bank statement rows from the extraction (``transactions``): ``running_balance_mismatch`` per row whose
    balance is not the previous balance ± its amount (from the opening balance), and
    ``transaction_totals_mismatch`` when the rows' credits or debits differ from the printed totals by more than
    $0.01; skipped when the page forensics already found it on the text layer."""
    from leadeval.screening.forensics.arithmetic import running_balance_problems

    f = doc.facts
    if f is None or len(f.transactions) < 2 or document_kind(doc) != DocumentKind.BANK_STATEMENT:
        return []
    out: list[Signal] = []
    if not _already(doc, "running_balance_mismatch"):
        rows = [(t.amount, t.balance) for t in f.transactions]
        for index, expected, actual in running_balance_problems(rows, f.opening_balance):
            out.append(_arithmetic("running_balance_mismatch",
                                   f"row {index + 1}'s balance {actual}, expected {expected}", doc,
                                   (f"transactions[{index}]", f"transactions[{max(0, index - 1)}]"),
                                   field=f"transactions[{index}]", expected=expected, actual=actual))
    credits = sum((t.amount for t in f.transactions if t.amount > 0), Decimal(0))
    debits = sum((-t.amount for t in f.transactions if t.amount < 0), Decimal(0))
    if not _already(doc, "transaction_totals_mismatch") and debits:  # signed rows only
        for name, printed, total in (("total_credits", f.total_credits, credits),
                                     ("total_debits", f.total_debits, debits)):
            if printed is not None and abs(abs(printed) - total) > MONEY_TOLERANCE:
                out.append(_arithmetic("transaction_totals_mismatch",
                                       f"the rows' {name.removeprefix('total_')} add up to {money(total)}, the "
                                       f"statement prints {money(abs(printed))}", doc, (name,), field=name,
                                       expected=money(total), actual=money(abs(printed))))
    return out


def check_name(doc: DocumentResult, lead: Lead) -> list[Signal]:
    """``name_mismatch`` (medium): names are shown and none matches the applicant (see
    :func:`names_match`). Nothing when no name is shown or the lead has no name on file."""
    f = doc.facts
    if f is None or not f.names_shown or not lead.first_name.strip() or not lead.last_name.strip():
        return []
    if any(names_match(lead.first_name, lead.last_name, shown) for shown in f.names_shown):
        return []
    count = len(f.names_shown)
    return [
        _sig(
            "name_mismatch",
            "medium",
            f"none of the {count} name{'s' if count != 1 else ''} shown matches the applicant's "
            "name on file (case, accents, middle names, initials and order tolerated)",
            doc.document_id,
        )
    ]


def check_stale(doc: DocumentResult, today: date, policy: ScoringPolicy) -> list[Signal]:
    """``stale_document`` (low): a pay stub older than ``policy.max_pay_stub_age_days`` (by pay
    date, else period end, else document date) or a bank statement older than
    ``policy.max_statement_age_days`` (by statement end, else document date). Age = days
    between that date and ``today``; an age equal to the limit is not stale."""
    f = doc.facts
    kind = document_kind(doc)
    if f is None or kind is None:
        return []
    rule = kinds.spec(kind).age_rule  # which policy limit the kind's date is held to (the registry says)
    if rule == "pay_stub":
        on, limit = _stub_date(f), policy.max_pay_stub_age_days
    elif rule == "statement":
        on, limit = f.statement_period_end or f.document_date, policy.max_statement_age_days
    elif rule == "tax_form":
        on, limit = f.document_date, policy.max_tax_form_age_days
    else:
        return []
    if on is None or (today - on).days <= limit:
        return []
    return [
        _sig(
            "stale_document",
            "low",
            f"{kinds.label(kind)} dated {on.isoformat()} is {(today - on).days} days old "
            f"(policy: at most {limit})",
            doc.document_id,
            field="document_date", expected=f"{kinds.label(kind)} at most {limit} days old",
            actual=f"{(today - on).days} days old",
        )
    ]


def check_id_expiry(doc: DocumentResult, lead: Lead, today: date) -> list[Signal]:
    """``id_expired`` (medium): a government ID whose expiry is before the reference date:
    the lead's move-in date, or today when there is none or it has passed. An ID is valid
    through its expiry date."""
    f = doc.facts
    if f is None or f.id_expiry is None or document_kind(doc) != DocumentKind.GOVERNMENT_ID:
        return []
    reference = max(today, lead.move_in_date) if lead.move_in_date else today
    if f.id_expiry >= reference:
        return []
    what = "the move-in date" if reference != today else "today"
    return [
        _sig(
            "id_expired",
            "medium",
            f"ID expiry {f.id_expiry.isoformat()} is before {what} {reference.isoformat()}",
            doc.document_id,
        )
    ]


def check_kind(doc: DocumentResult, policy: ScoringPolicy) -> list[Signal]:
    """``not_a_screening_document`` (low): the document's kind is not one the policy accepts
    (by default: kind ``other``, e.g. a photo, a book, an unrelated form)."""
    kind = document_kind(doc)
    if doc.facts is None or kind is None or kind in policy.accepted_kinds:
        return []
    return [
        _sig(
            "not_a_screening_document",
            "low",
            f"read as {kinds.label(kind)}, which is not a screening document",
            doc.document_id,
        )
    ]


def check_model_observations(doc: DocumentResult) -> list[Signal]:
    """``model_tampering_observation`` (medium, never more): visual tampering the model says it
    saw. Model output cannot set a score or a verdict; it can only send the file to review.
    Evidence quotes at most three observations, 80 characters each, control characters removed."""
    f = doc.facts
    if f is None or not f.tampering_signals:
        return []
    shown = ["".join(c for c in s if c.isprintable())[:80] for s in f.tampering_signals[:3]]
    more = len(f.tampering_signals) - len(shown)
    quoted = "; ".join(f'"{s}"' for s in shown) + (f" (+{more} more)" if more > 0 else "")
    return [
        _sig(
            "model_tampering_observation",
            "medium",
            f"the extraction model reported {len(f.tampering_signals)} visual observation(s): {quoted}",
            doc.document_id,
        )
    ]


# --------------------------------------------------------------------------- cross-document checks


def _stubs_by_employer(documents: Sequence[DocumentResult]) -> dict[str, list[DocumentResult]]:
    """Pay stubs with facts grouped by :func:`employer_key` (stubs without an employer omitted)."""
    groups: dict[str, list[DocumentResult]] = {}
    for doc in documents:
        if doc.facts is None or document_kind(doc) != DocumentKind.PAY_STUB:
            continue
        key = employer_key(doc.facts.employer)
        if key is not None:
            groups.setdefault(key, []).append(doc)
    return groups


def _consecutive(earlier: ExtractedFacts, later: ExtractedFacts) -> bool:
    """True when ``later`` is the next pay period after ``earlier``: periods that abut (next
    start = previous end + 1 day), or pay dates a frequency's gap apart (see
    ``_CONSECUTIVE_GAP_DAYS``; frequency stated or inferred from a period)."""
    if earlier.pay_period_end is not None and later.pay_period_start is not None:
        return (later.pay_period_start - earlier.pay_period_end).days == 1
    if earlier.pay_date is None or later.pay_date is None:
        return False
    frequency = infer_pay_frequency(later) or infer_pay_frequency(earlier)
    if frequency is None:
        return False
    low, high = _CONSECUTIVE_GAP_DAYS[frequency]
    return low <= (later.pay_date - earlier.pay_date).days <= high


def check_ytd_progression(documents: Sequence[DocumentResult]) -> list[Signal]:
    """``ytd_inconsistent`` (high, ``document_id=None``): across pay stubs of the same employer
    in the same calendar year, ordered by pay date (else period end), a later stub's YTD gross
    is lower than an earlier one's, or — for consecutive stubs — the YTD rise differs from the
    later stub's gross by more than $0.01. Stubs without an employer name are not compared (we
    cannot tell they are from one employer); YTD restarts each January."""
    out: list[Signal] = []
    for group in _stubs_by_employer(documents).values():
        dated = [
            (on, doc.document_id, doc.facts)
            for doc in group
            if doc.facts is not None
            and doc.facts.ytd_gross is not None
            and (on := _stub_date(doc.facts)) is not None
        ]
        dated.sort(key=lambda item: item[0])
        for (d1, id1, fa), (d2, id2, fb) in itertools.pairwise(dated):
            ytd_a, ytd_b = fa.ytd_gross or Decimal(0), fb.ytd_gross or Decimal(0)
            if d1 == d2 or d1.year != d2.year:
                continue
            ids = f"{id1} ({d1.isoformat()}) → {id2} ({d2.isoformat()})"
            if ytd_a - ytd_b > MONEY_TOLERANCE:
                out.append(
                    _sig(
                        "ytd_inconsistent",
                        "high",
                        f"YTD gross falls from {money(ytd_a)} to {money(ytd_b)}: {ids}",
                        None,
                    )
                )
            elif fb.gross_pay is not None and _consecutive(fa, fb):
                rise = ytd_b - ytd_a
                if abs(rise - fb.gross_pay) > MONEY_TOLERANCE:
                    out.append(
                        _sig(
                            "ytd_inconsistent",
                            "high",
                            f"YTD gross rises {money(rise)} between consecutive stubs but the "
                            f"later stub's gross is {money(fb.gross_pay)}: {ids}",
                            None,
                        )
                    )
    return out


def check_pay_schedule(documents: Sequence[DocumentResult]) -> list[Signal]:
    """``pay_schedule_inconsistent`` (medium) across the pay stubs of one employer: a stub whose pay period's
    length does not fit its stated frequency (one per stub; only when the period and the frequency were read
    with certainty, as a packet misread is the likelier cause otherwise); consecutive pay dates that are not a
    whole number of periods apart (``document_id=None``); advice/check numbers that do not increase with the
    pay date (``document_id=None``)."""
    from leadeval.screening.forensics.arithmetic import pay_dates_consistent

    out: list[Signal] = []
    for doc in documents:
        f = doc.facts
        if f is None or document_kind(doc) != DocumentKind.PAY_STUB or f.pay_frequency in (None, "annual"):
            continue
        fits = frequency_from_period(f.pay_period_start, f.pay_period_end)
        located = values_certain(doc, "pay_period_start", "pay_period_end", "pay_frequency")
        if located and fits is not None and fits != f.pay_frequency and f.pay_period_start and f.pay_period_end:
            days = (f.pay_period_end - f.pay_period_start).days + 1
            out.append(_sig("pay_schedule_inconsistent", "medium",
                            f"a {days}-day pay period does not fit the stated {f.pay_frequency} frequency",
                            doc.document_id, field="pay_frequency", expected=fits, actual=f.pay_frequency))
    for group in _stubs_by_employer(documents).values():
        dated = sorted(((d.facts.pay_date, d) for d in group if d.facts is not None and d.facts.pay_date),
                       key=lambda item: item[0])
        for (d1, a), (d2, b) in itertools.pairwise(dated):
            frequency = (a.facts.pay_frequency if a.facts else None) or (b.facts.pay_frequency if b.facts else None)
            if frequency and d1 != d2 and not pay_dates_consistent(frequency, d1, d2):
                out.append(_sig("pay_schedule_inconsistent", "medium",
                                f"pay dates {d1.isoformat()} ({a.document_id}) and {d2.isoformat()} ({b.document_id}) "
                                f"are {(d2 - d1).days} days apart, not a whole number of {frequency} periods", None,
                                field="pay_date"))
            numbers = [(x.facts.check_number or "") if x.facts else "" for x in (a, b)]
            digits = ["".join(ch for ch in n if ch.isdigit()) for n in numbers]
            if all(digits) and d1 < d2 and int(digits[1]) <= int(digits[0]):
                out.append(_sig("pay_schedule_inconsistent", "medium",
                                f"advice number {digits[1]} ({b.document_id}, paid {d2.isoformat()}) is not above "
                                f"{digits[0]} ({a.document_id}, paid {d1.isoformat()})", None, field="check_number",
                                expected=f"above {digits[0]}", actual=digits[1]))
    return out


def check_net_pay_deposited(documents: Sequence[DocumentResult]) -> list[Signal]:
    """``net_pay_not_deposited`` (low, ``document_id=None``): pay stubs whose pay date (else
    period end) falls inside a bank statement's period, and none of their net pays is within
    $1.00 of any deposit on the statements covering them. Statements listing no deposits are
    not compared. Low: split deposits and other accounts are common."""
    periods: list[tuple[DocumentResult, date, date, list[Decimal]]] = []
    for doc in documents:
        f = doc.facts
        if (
            f is not None
            and document_kind(doc) == DocumentKind.BANK_STATEMENT
            and f.deposits
            and f.statement_period_start is not None
            and f.statement_period_end is not None
        ):
            periods.append((doc, f.statement_period_start, f.statement_period_end, f.deposits))
    compared: list[str] = []
    used: list[DocumentResult] = []
    for doc in documents:
        f = doc.facts
        if f is None or document_kind(doc) != DocumentKind.PAY_STUB or f.net_pay is None:
            continue
        on = _stub_date(f)
        covering = [
            (s, deposits) for s, start, end, deposits in periods if on is not None and start <= on <= end
        ]
        if not covering:
            continue
        if any(abs(abs(d) - f.net_pay) <= DEPOSIT_TOLERANCE for _, deposits in covering for d in deposits):
            return []
        compared.append(f"{doc.document_id} net {money(f.net_pay)}")
        used.extend(s for s, _ in covering if s not in used)
    if not compared:
        return []
    deposit_count = sum(len(s.facts.deposits) for s in used if s.facts is not None)
    return [
        _sig(
            "net_pay_not_deposited",
            "low",
            f"no deposit within {money(DEPOSIT_TOLERANCE)} of the net pay of {', '.join(compared)} "
            f"on {', '.join(s.document_id for s in used)} ({deposit_count} deposit(s) compared)",
            None,
        )
    ]


# --------------------------------------------------------------------------- entry point


def validate(
    lead: Lead, documents: Sequence[DocumentResult], *, today: date, policy: ScoringPolicy
) -> list[Signal]:
    """Run every check over the documents that have facts; return the signals found.

    Args:
        lead: the applicant (only ``first_name``/``last_name`` for the name match and
            ``move_in_date`` for ID expiry are read).
        documents: per-document results with provisional verdicts (documents without facts
            are skipped).
        today: the evaluation date (dates are compared in whole days).
        policy: the site's :class:`~leadeval.screening.policy.ScoringPolicy` (ages, accepted kinds).

    Returns:
        Signals in a deterministic order: per document (input order), the checks in the order
        listed in this module, then the cross-document checks. Raises nothing for odd facts.
    """
    with_facts = [d for d in documents if d.facts is not None]
    siblings_of = _siblings(with_facts)
    per_document: list[Callable[[DocumentResult], Iterable[Signal]]] = [
        check_net_pay,
        check_ytd_below_gross,
        lambda d: check_ytd_implausible(d, siblings_of.get(d.document_id, [])),
        check_pay_date,
        lambda d: check_future_dates(d, today),
        check_period_order,
        check_balance,
        check_payroll_tax,
        check_transactions,
        lambda d: check_name(d, lead),
        lambda d: check_stale(d, today, policy),
        lambda d: check_id_expiry(d, lead, today),
        lambda d: check_kind(d, policy),
        check_model_observations,
    ]
    signals = [s for doc in with_facts for check in per_document for s in check(doc)]
    signals += check_ytd_progression(with_facts)
    signals += check_pay_schedule(with_facts)
    signals += check_net_pay_deposited(with_facts)
    logger.debug(
        "validation found %d signal(s) over %d document(s) for lead %s",
        len(signals),
        len(with_facts),
        lead.id,
    )
    return signals


def _siblings(documents: Sequence[DocumentResult]) -> dict[str, list[ExtractedFacts]]:
    """For each pay stub with a named employer: the facts of the other stubs of that employer."""
    out: dict[str, list[ExtractedFacts]] = {}
    for group in _stubs_by_employer(documents).values():
        for doc in group:
            out[doc.document_id] = [o.facts for o in group if o is not doc and o.facts is not None]
    return out
