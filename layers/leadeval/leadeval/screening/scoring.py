"""Scoring: final verdicts, verified income and the deterministic, explainable score.

The policy, written for property managers with worked examples, is ``docs/scoring.md``; this
module is its implementation and the two must agree. In short:

1. :func:`~leadeval.screening.validation.validate` checks the extracted facts.
2. :func:`document_verdict` finalises each document: ``unreadable`` stays; any high-severity
   finding on it makes it ``edited``; no facts → ``undetermined``; else ``clean``
   (the verdicts screening vendors such as Snappt and Inscribe give).
3. :func:`income_breakdown` counts every lawful source of income shown by *clean* documents:
   wages (pay stubs, by frequency), employment letters and tax forms (annual ÷ 12), benefit
   letters (SSI/SSDI, child support, pensions, assistance). Bank deposits corroborate and are
   never added on top.
4. :func:`assess` turns that into points, a score 0–100, a label A–D, a recommendation and
   reasons that each name the data used and the standard needed (HUD FHEO screening guidance,
   April 2024: "state the standard that would have been needed", never "in a conclusory
   fashion").

Determinism: the same lead, documents, ``today`` and policy give an equal :class:`Assessment`.
Inputs from the lead are the name (only to match documents), the rent, the voucher amount and
the move-in date — never protected characteristics. Money is integer cents (``*_cents``) except
in :class:`~leadeval.models.ExtractedFacts` (Decimal dollars). Nothing the model extracted sets
a score directly: facts pass through the validators and fixed rules, and the model's own
``tampering_signals`` become medium signals at most.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_HALF_UP, Decimal

from pydantic import BaseModel, Field

from leadeval.models import (
    DocumentKind,
    DocumentResult,
    Label,
    Lead,
    Reason,
    Recommendation,
    Signal,
    Verdict,
    to_cents,
)
from leadeval.screening import kinds
from leadeval.screening.forensics.verdict import arithmetic_only, decide, risk
from leadeval.screening.kinds import INCOME_KINDS
from leadeval.screening.kinds import label as kind_name
from leadeval.screening.policy import ScoringPolicy
from leadeval.screening.validation import (
    document_kind,
    employer_key,
    infer_pay_frequency,
    kind_label,
    validate,
)

logger = logging.getLogger(__name__)

#: Pay frequency → (numerator, denominator) turning one period's gross into a monthly amount.
MONTHLY_FACTORS: dict[str, tuple[int, int]] = {
    "weekly": (52, 12),
    "biweekly": (26, 12),
    "semimonthly": (2, 1),
    "monthly": (1, 1),
    "annual": (1, 12),
}



# --------------------------------------------------------------------------- verdicts


def _merge(signals: Sequence[Signal]) -> list[Signal]:
    """Signals without exact duplicates, first occurrence order kept."""
    seen: set[tuple[str, str, str, str | None]] = set()
    out = []
    for s in signals:
        key = (s.code, s.severity, s.evidence, s.document_id)
        if key not in seen:
            seen.add(key)
            out.append(s)
    return out


def document_verdict(result: DocumentResult, signals: Sequence[Signal]) -> Verdict:
    """The final verdict of one document by the written rule of
    :func:`leadeval.screening.forensics.verdict.decide` (its own forensic ``result.signals`` plus those of
    ``signals`` whose ``document_id`` is this document). Signals without a document id (cross-document
    findings) never change a verdict."""
    return _decide(result, signals)[0]


def _decide(result: DocumentResult, signals: Sequence[Signal]) -> tuple[Verdict, str | None]:
    mine = [*result.signals, *(s for s in signals if s.document_id == result.document_id)]
    return decide(mine, has_facts=result.facts is not None, kind=document_kind(result), provisional=result.verdict)


def _finalise(result: DocumentResult, signals: Sequence[Signal]) -> DocumentResult:
    """A copy with the final verdict (and the rule's reason when it moved it), the kind filled in, this
    document's signals merged and its risk score and status."""
    merged = _merge([*result.signals, *(s for s in signals if s.document_id == result.document_id)])
    verdict, why = _decide(result, signals)
    reason = why if why is not None else result.reason
    score, status = risk(merged)
    return result.model_copy(
        update={"verdict": verdict, "reason": reason, "signals": merged, "kind": document_kind(result),
                "risk_score": score, "risk_status": status}
    )


# --------------------------------------------------------------------------- income


def cents_text(cents: int) -> str:
    """Integer cents as ``$1,234.56``."""
    return f"${Decimal(cents) / 100:,.2f}"


@dataclass(frozen=True)
class IncomeItem:
    """One counted income source: its documents, monthly amount (cents) and how it was derived
    (``lines``: one plain-language line per document, plus the average for several stubs)."""

    document_ids: tuple[str, ...]
    kind: DocumentKind
    monthly_cents: int
    lines: tuple[str, ...]


@dataclass(frozen=True)
class IncomeExclusion:
    """A document that could show income but was not counted, and why.

    ``missing_data`` is True when the document might hold income we could not count (unread,
    figures or frequency missing, employer unclear): a low-income decline is then not allowed.
    """

    document_id: str
    detail: str
    missing_data: bool


@dataclass(frozen=True)
class IncomeBreakdown:
    """Counted items and exclusions; ``total_cents`` is None when nothing was counted."""

    items: list[IncomeItem] = field(default_factory=list)
    exclusions: list[IncomeExclusion] = field(default_factory=list)

    @property
    def total_cents(self) -> int | None:
        """Sum of the items' monthly cents, or None when no item was counted."""
        return sum(i.monthly_cents for i in self.items) if self.items else None


def _monthly(amount_cents: int, frequency: str) -> int:
    """One period's cents as monthly cents (half up), by :data:`MONTHLY_FACTORS`."""
    num, den = MONTHLY_FACTORS[frequency]
    return int((Decimal(amount_cents) * num / den).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _factor_text(frequency: str) -> str:
    num, den = MONTHLY_FACTORS[frequency]
    return f"× {num}" if den == 1 else f"× {num} ÷ {den}"


def income_breakdown(
    documents: Sequence[DocumentResult], *, voucher_amount_cents: int = 0, today: date | None = None,
    max_tax_form_age_days: int | None = None, max_pay_stub_age_days: int | None = None,
) -> IncomeBreakdown:
    """Monthly income shown by clean documents, with what was left out and why.

    Rules (docs/scoring.md, "Income"):

    - Only documents with verdict ``clean`` count; others are listed as exclusions. A file
      submitted twice (same ``sha256``) counts once.
    - Pay stubs: gross pay × 52/12 (weekly), × 26/12 (biweekly), × 2 (semimonthly), × 1
      (monthly), ÷ 12 (annual); frequency as stated, else inferred from the pay period's length
      or the gap between stubs of one employer. Stubs of one employer are averaged. Stubs with
      no employer name join the only named employer, or form one employer when none is named,
      and are not counted when several employers are named (they could duplicate one).
    - Employment letters (annual income ÷ 12, else gross × frequency) and then tax forms
      (annual income ÷ 12) are added unless wage income was already counted for the same
      employer, or for any employer when either side shows no employer name (no double
      counting of one job).
    - Benefit letters: ``monthly_benefit``, else annual income ÷ 12, each added; a letter whose
      amount is within $1.00 of the lead's voucher amount is the voucher itself, which is taken
      off the rent instead.
    - Bank statements corroborate (``net_pay_not_deposited``) and are never added.

    Args:
        documents: final document results (verdicts already decided).
        voucher_amount_cents: the lead's voucher amount (cents a month), 0 when none.
    """
    items: list[IncomeItem] = []
    exclusions: list[IncomeExclusion] = []
    clean: dict[DocumentKind, list[DocumentResult]] = {k: [] for k in kinds.KINDS}
    seen_files: dict[str, str] = {}
    for doc in documents:
        kind = document_kind(doc)
        if kind is None or not kinds.spec(kind).counts_as_income:
            continue
        if doc.verdict != Verdict.CLEAN or doc.facts is None:
            exclusions.append(
                IncomeExclusion(
                    doc.document_id,
                    f"{doc.document_id} ({kind_name(kind)}) is {doc.verdict.value}; "
                    "its figures are not counted",
                    doc.verdict in (Verdict.UNDETERMINED, Verdict.UNREADABLE),
                )
            )
            continue
        if doc.sha256 and doc.sha256 in seen_files:
            exclusions.append(
                IncomeExclusion(
                    doc.document_id,
                    f"{doc.document_id} is the same file as {seen_files[doc.sha256]}; counted once",
                    False,
                )
            )
            continue
        if (kinds.spec(kind).age_rule == "tax_form" and today is not None and max_tax_form_age_days is not None
                and doc.facts.document_date is not None
                and (today - doc.facts.document_date).days > max_tax_form_age_days):
            exclusions.append(
                IncomeExclusion(
                    doc.document_id,
                    f"{doc.document_id} (tax form) reports {doc.facts.document_date.year}, older than the policy "
                    f"allows ({max_tax_form_age_days} days after the tax year); its income is not counted",
                    True,
                )
            )
            continue
        stub_on = doc.facts.pay_date or doc.facts.pay_period_end or doc.facts.document_date
        if (kinds.spec(kind).age_rule == "pay_stub" and today is not None and max_pay_stub_age_days is not None
                and stub_on is not None and (today - stub_on).days > max_pay_stub_age_days):
            # a pay stub far older than the policy allows says nothing about pay today (the stale_document
            # finding is raised beside it); it is listed, with its age, and not counted
            exclusions.append(
                IncomeExclusion(
                    doc.document_id,
                    f"{doc.document_id} (pay stub) is dated {stub_on.isoformat()}, {(today - stub_on).days} days "
                    f"ago: older than the policy allows ({max_pay_stub_age_days} days); its pay is not counted",
                    True,
                )
            )
            continue
        if doc.sha256:
            seen_files[doc.sha256] = doc.document_id
        clean[kind].append(doc)

    counted: list[str | None] = []  # employer keys of wage income counted so far
    items_stubs, excl_stubs = _pay_stub_income(
        [doc for kind in kinds.with_income_rule("pay_periods") for doc in clean[kind]], counted)
    items += items_stubs
    exclusions += excl_stubs
    for kind in kinds.with_income_rule("annual_wage"):
        for doc in clean[kind]:
            item, excl = _annual_wage_income(doc, kind, counted)
            items += [item] if item else []
            exclusions += [excl] if excl else []
    for kind in kinds.with_income_rule("benefit"):
        for doc in clean[kind]:
            item, excl = _benefit_income(doc, voucher_amount_cents)
            items += [item] if item else []
            exclusions += [excl] if excl else []
    return IncomeBreakdown(items=items, exclusions=exclusions)


def _pay_stub_income(
    stubs: Sequence[DocumentResult], counted: list[str | None]
) -> tuple[list[IncomeItem], list[IncomeExclusion]]:
    """Wage items from clean pay stubs, one per employer (see :func:`income_breakdown`)."""
    groups: dict[str | None, list[DocumentResult]] = {}
    unnamed: list[DocumentResult] = []
    for doc in stubs:
        key = employer_key(doc.facts.employer if doc.facts else None)
        if key is None:
            unnamed.append(doc)
        else:
            groups.setdefault(key, []).append(doc)
    exclusions: list[IncomeExclusion] = []
    if unnamed and len(groups) == 1:
        next(iter(groups.values())).extend(unnamed)
    elif unnamed and not groups:
        groups[None] = unnamed
    else:
        exclusions += [
            IncomeExclusion(
                d.document_id,
                f"{d.document_id} (pay stub) shows no employer and "
                f"{len(groups)} employers are named; not added, as it may repeat "
                "one of them",
                True,
            )
            for d in unnamed
        ]
    items: list[IncomeItem] = []
    for key, group in groups.items():
        monthly: list[tuple[str, int, str]] = []
        for doc in group:
            facts = doc.facts
            assert facts is not None  # clean documents have facts
            gross = to_cents(facts.gross_pay)
            siblings = [o.facts for o in group if o is not doc and o.facts is not None]
            frequency = infer_pay_frequency(facts, siblings)
            if gross is None or gross <= 0:
                exclusions.append(
                    IncomeExclusion(
                        doc.document_id,
                        f"{doc.document_id} (pay stub) shows no gross pay for the period; not counted",
                        True,
                    )
                )
            elif frequency is None:
                exclusions.append(
                    IncomeExclusion(
                        doc.document_id,
                        f"{doc.document_id} (pay stub): gross {cents_text(gross)} but the pay "
                        "frequency is neither stated nor inferable from the pay period or other stubs; "
                        "not counted",
                        True,
                    )
                )
            else:
                amount = _monthly(gross, frequency)
                monthly.append(
                    (
                        doc.document_id,
                        amount,
                        f"{doc.document_id} (pay stub): gross {cents_text(gross)} {frequency} "
                        f"{_factor_text(frequency)} = {cents_text(amount)} a month",
                    )
                )
        if not monthly:
            continue
        ids = tuple(m[0] for m in monthly)
        lines = [m[2] for m in monthly]
        if len(monthly) == 1:
            average = monthly[0][1]
        else:
            average = int(
                (Decimal(sum(m[1] for m in monthly)) / len(monthly)).quantize(
                    Decimal(1), rounding=ROUND_HALF_UP
                )
            )
            lines.append(
                f"{', '.join(ids)}: one employer, average of {len(monthly)} stubs = "
                f"{cents_text(average)} a month"
            )
        items.append(IncomeItem(ids, DocumentKind.PAY_STUB, average, tuple(lines)))
        counted.append(key)
    return items, exclusions


def _annual_wage_income(
    doc: DocumentResult, kind: DocumentKind, counted: list[str | None]
) -> tuple[IncomeItem | None, IncomeExclusion | None]:
    """An employment letter's or tax form's monthly wages, unless that job is already counted."""
    facts = doc.facts
    assert facts is not None
    label = kind_name(kind)
    key = employer_key(facts.employer)
    if counted and (key is None or None in counted or key in counted):
        return None, IncomeExclusion(
            doc.document_id,
            f"{doc.document_id} ({label}) not added: its employer "
            "is already counted or cannot be told apart from one that is",
            False,
        )
    annual = to_cents(facts.annual_income)
    if annual is not None and annual > 0:
        amount = _monthly(annual, "annual")
        detail = (
            f"{doc.document_id} ({label}): annual {cents_text(annual)} ÷ 12 = {cents_text(amount)} a month"
        )
    elif (gross := to_cents(facts.gross_pay)) is not None and gross > 0 and facts.pay_frequency is not None:
        amount = _monthly(gross, facts.pay_frequency)
        detail = (
            f"{doc.document_id} ({label}): {cents_text(gross)} {facts.pay_frequency} "
            f"{_factor_text(facts.pay_frequency)} = {cents_text(amount)} a month"
        )
    else:
        return None, IncomeExclusion(
            doc.document_id,
            f"{doc.document_id} ({label}) shows no annual income or pay with its frequency; not counted",
            True,
        )
    counted.append(key)
    return IncomeItem((doc.document_id,), kind, amount, (detail,)), None


def _benefit_income(
    doc: DocumentResult, voucher_amount_cents: int
) -> tuple[IncomeItem | None, IncomeExclusion | None]:
    """A benefit letter's monthly amount, unless it is the housing voucher itself."""
    facts = doc.facts
    assert facts is not None
    monthly = to_cents(facts.monthly_benefit)
    annual = to_cents(facts.annual_income)
    if monthly is not None and monthly > 0:
        amount, detail = monthly, f"{doc.document_id} (benefit letter): {cents_text(monthly)} a month"
    elif annual is not None and annual > 0:
        amount = _monthly(annual, "annual")
        detail = (
            f"{doc.document_id} (benefit letter): annual {cents_text(annual)} ÷ 12 = "
            f"{cents_text(amount)} a month"
        )
    else:
        return None, IncomeExclusion(
            doc.document_id, f"{doc.document_id} (benefit letter) shows no amount; not counted", True
        )
    if voucher_amount_cents > 0 and abs(amount - voucher_amount_cents) <= 100:
        return None, IncomeExclusion(
            doc.document_id,
            f"{doc.document_id} (benefit letter) shows {cents_text(amount)}, the housing "
            f"voucher's payment ({cents_text(voucher_amount_cents)}), which is taken off the rent instead",
            False,
        )
    return IncomeItem((doc.document_id,), DocumentKind.BENEFIT_LETTER, amount, (detail,)), None


def monthly_income_cents(
    documents: Sequence[DocumentResult], *, voucher_amount_cents: int = 0
) -> tuple[int | None, list[str]]:
    """Verified monthly income in cents and the data used (one line per counted source).

    Returns ``(None, [])`` when no clean document shows countable income. See
    :func:`income_breakdown` for the rules and for what was left out.
    """
    breakdown = income_breakdown(documents, voucher_amount_cents=voucher_amount_cents)
    return breakdown.total_cents, [line for i in breakdown.items for line in i.lines]


# --------------------------------------------------------------------------- assessment


class Assessment(BaseModel):
    """The outcome of :func:`assess`: everything an :class:`~leadeval.models.Evaluation` stores.

    ``documents`` carry final verdicts and merged signals; ``flags`` are every signal (document
    and cross-document), without duplicates. ``monthly_income_cents`` is verified income (None
    when none); ``income_to_rent_ratio`` is that income ÷ the rent share, rounded down to two
    decimals (None when no income was verified or the share is 0). ``rent_share_cents`` is rent
    minus voucher; ``required_income_cents`` the income the policy asks for.
    """

    score: int = Field(ge=0, le=100)
    label: Label
    recommendation: Recommendation
    summary: str
    reasons: list[Reason]
    flags: list[Signal]
    documents: list[DocumentResult]
    monthly_income_cents: int | None
    income_to_rent_ratio: float | None
    rent_share_cents: int
    required_income_cents: int
    policy_version: str


_SIGNAL_TEXT: dict[str, tuple[str, str]] = {
    "net_pay_mismatch": (
        "Net pay does not equal gross pay minus deductions",
        "net pay = gross pay − deductions, within $0.01",
    ),
    "ytd_below_period_gross": (
        "Year-to-date gross is lower than this period's gross",
        "year-to-date gross at least this period's gross",
    ),
    "ytd_inconsistent": (
        "Year-to-date gross does not progress between pay stubs of one employer",
        "each stub's year-to-date gross = the previous one + its gross, within $0.01",
    ),
    "ytd_implausible": (
        "Year-to-date gross implies more pay periods than the year has had",
        "year-to-date gross at most 1.25 × gross × the pay dates since 1 January",
    ),
    "pay_date_before_period_end": (
        "Pay date is before the end of the period it pays",
        "a pay date on or after the pay period's end",
    ),
    "future_dated": (
        "The document carries a date in the future",
        "no date later than the evaluation date + 1 day",
    ),
    "period_order": ("A period starts after it ends", "a period's start on or before its end"),
    "balance_mismatch": (
        "Statement balances do not reconcile",
        "opening + credits − debits = closing, within $0.01",
    ),
    "name_mismatch": (
        "No name on the document matches the applicant",
        "a name shown that matches the applicant's first and last name",
    ),
    "net_pay_not_deposited": (
        "Net pay was not found among the bank deposits",
        "a deposit within $1.00 of a stub's net pay on a statement covering its pay date",
    ),
    "stale_document": ("The document is older than the policy allows", ""),
    "id_expired": ("The identity document has expired", "an ID valid on the move-in date (or today)"),
    "not_a_screening_document": (
        "The upload is not a screening document",
        "a pay stub, bank statement, employment letter, tax form, benefit letter or government ID",
    ),
    "model_tampering_observation": (
        "The extraction model noted possible visual editing",
        "no visual sign of editing; a person should look at the original",
    ),
    "pdf_editing_software": (
        "The PDF was produced or saved by editing software",
        "an original PDF downloaded from the payroll provider or bank",
    ),
    "pdf_modified_after_creation": (
        "The PDF was modified after it was created",
        "an unmodified original PDF",
    ),
    "pdf_incremental_update": (
        "The PDF was saved again after its first version",
        "an original PDF saved once by its issuer",
    ),
    "pdf_javascript": ("The PDF contains JavaScript", "a PDF without active content"),
    "pdf_embedded_files": ("The PDF carries embedded files", "a PDF without attachments"),
    "pdf_encrypted": ("The PDF is encrypted", "an unencrypted original PDF"),
    "image_edited_with_software": ("The image was saved by editing software", "an unedited photo or scan"),
    "document_reused": (
        "Also submitted by another applicant",
        "a document not submitted under another applicant's name (reuse alone never declines)",
    ),
    "pdf_print_to_pdf": (
        "The PDF was printed to PDF rather than downloaded",
        "the original PDF as issued (a printed bank statement is undetermined)",
    ),
    "opaque_mask_followed_by_text": (
        "A filled box covers text, with new text drawn on it",
        "page content drawn once, nothing covered",
    ),
    "mixed_font_amount": (
        "An amount differs in font, size or baseline from its neighbours",
        "every amount set in the document's own font, size and baseline",
    ),
    "invisible_text": ("The page holds invisible or white text", "no hidden text"),
    "text_outside_cropbox": ("The page holds text outside its visible area", "no text outside the CropBox"),
    "annotation_over_content": ("An annotation lies over the page", "a page without markup annotations"),
    "font_subset_mixed": (
        "One font is embedded under several subset tags on a page (several sources)",
        "each font embedded once per page",
    ),
    "fica_mismatch": (
        "Social Security or Medicare withholding does not match gross pay",
        "Social Security 6.2 % and Medicare 1.45 % of the same wages (SSA, IRS Topic 751)",
    ),
    "w2_tax_mismatch": (
        "W-2 Social Security or Medicare tax does not match the wages",
        "box 4 = 6.2 % of box 3 up to the wage base, box 6 = 1.45 % of box 5 (+0.9 % above $200,000)",
    ),
    "running_balance_mismatch": (
        "A statement row's balance is not the previous balance plus or minus its amount",
        "each running balance = previous balance ± the row's amount, within $0.01",
    ),
    "transaction_totals_mismatch": (
        "Statement rows do not add up to the printed totals",
        "the rows' credits and debits equal the printed totals, within $0.01",
    ),
    "duplicate_transaction": ("A statement row is printed twice", "each transaction printed once"),
    "invalid_routing_number": ("The routing number fails the ABA check digit", "a valid ABA routing number"),
    "invalid_ssn": ("The SSN shown was never issued", "an SSN the Social Security Administration issues"),
    "invalid_ein": ("The EIN shown has a prefix the IRS never assigns", "an EIN with an assigned prefix"),
    "pay_schedule_inconsistent": (
        "Pay periods, pay dates or advice numbers do not follow one schedule",
        "periods that fit the pay frequency, pay dates whole periods apart, advice numbers increasing",
    ),
    "readers_disagree": (
        "The figure a program reads differs from the figure printed on the page (OCR of the rendered page)",
        "the text layer (or the vision model's answer) and the OCR of the page agree on each key figure",
    ),
}


def signal_text(code: str) -> tuple[str, str]:
    """``(title, standard)`` of a signal code in plain language: what was found and what would have been
    needed (a generic sentence for a code without its own)."""
    return _SIGNAL_TEXT.get(code, (f"Finding '{code}'", "no such finding"))


def _signal_reason(signal: Signal, points: int, labels: dict[str, str], policy: ScoringPolicy) -> Reason:
    title, standard = signal_text(signal.code)
    if signal.code == "stale_document" and signal.expected:
        standard = signal.expected  # the limit of that document's kind (a tax form's is not a pay stub's)
    elif signal.code == "stale_document":
        standard = (
            f"pay stubs at most {policy.max_pay_stub_age_days} days old, bank statements at most "
            f"{policy.max_statement_age_days} days old"
        )
    where = (
        f"{signal.document_id}, {labels[signal.document_id]}"
        if signal.document_id in labels
        else signal.document_id or "across documents"
    )
    return Reason(
        code=signal.code,
        text=f"{title} ({where}): {signal.evidence}. {-points} points ({signal.severity} severity).",
        data_used=[signal.document_id] if signal.document_id else [signal.evidence],
        standard=standard,
        points=-points,
    )


def label_for(score: int, policy: ScoringPolicy) -> Label:
    """The label of a score: A at ``policy.label_a_min`` or more, then B, C; D below C."""
    if score >= policy.label_a_min:
        return "A"
    if score >= policy.label_b_min:
        return "B"
    if score >= policy.label_c_min:
        return "C"
    return "D"


@dataclass
class _Income:
    """The income result and its points (internal)."""

    share: int
    required: int
    total: int | None
    ratio: float | None
    met: bool
    points: int
    reason: Reason


def _income_result(lead: Lead, breakdown: IncomeBreakdown, policy: ScoringPolicy) -> _Income:
    target = Decimal(str(policy.income_to_rent_ratio))
    share = max(0, lead.monthly_rent_cents - max(0, lead.voucher_amount_cents))
    required = int((Decimal(share) * target).quantize(Decimal(1), rounding=ROUND_CEILING))
    total = breakdown.total_cents
    data = [line for i in breakdown.items for line in i.lines]
    rent_text = cents_text(lead.monthly_rent_cents)
    if lead.voucher_amount_cents > 0:
        share_text = (
            f"the applicant's rent share of {cents_text(share)} (rent {rent_text} less the voucher's "
            f"{cents_text(lead.voucher_amount_cents)})"
        )
    else:
        share_text = f"the {rent_text} rent"
    standard = f"monthly income at least {policy.income_to_rent_ratio}× {share_text} = {cents_text(required)}"
    if share == 0:
        text = (
            f"The applicant's rent share is {cents_text(0)} ({rent_text} rent, voucher "
            f"{cents_text(lead.voucher_amount_cents)}), so the income standard is met."
        )
        return _Income(
            share,
            required,
            total,
            None,
            True,
            policy.income_points,
            Reason(code="income", text=text, data_used=data, standard=standard, points=policy.income_points),
        )
    if total is None:
        text = (
            f"No income could be verified from a clean pay stub, employment letter, tax form or benefit "
            f"letter; the policy asks for {policy.income_to_rent_ratio}× {share_text} "
            f"({cents_text(required)} a month). 0 points."
        )
        return _Income(
            share,
            required,
            None,
            None,
            False,
            0,
            Reason(code="income", text=text, data_used=data, standard=standard, points=0),
        )
    ratio_d = (Decimal(total) / Decimal(share)).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    met = total >= required
    points = policy.income_points if met else policy.partial_income_points * total // required
    verdict = "meeting" if met else "below"
    text = (
        f"Verified monthly income {cents_text(total)} is {ratio_d}× {share_text}, {verdict} the "
        f"policy's {policy.income_to_rent_ratio}× ({cents_text(required)}). "
        + (
            f"{points} points."
            if met
            else f"{points} points ({policy.partial_income_points} × {cents_text(total)} ÷ "
            f"{cents_text(required)}, rounded down; {policy.income_points} when met)."
        )
    )
    return _Income(
        share,
        required,
        total,
        float(ratio_d),
        met,
        points,
        Reason(code="income", text=text, data_used=data, standard=standard, points=points),
    )


def assess(
    lead: Lead, documents: Sequence[DocumentResult], *, today: date, policy: ScoringPolicy | None = None
) -> Assessment:
    """Validate, finalise verdicts, count income and score one application.

    Args:
        lead: the applicant row (name for document matching; rent, voucher and move-in date).
        documents: per-document results with provisional verdicts (unreadable / undetermined /
            clean) and forensic signals, in a stable order.
        today: the evaluation date (for future, stale and expiry checks).
        policy: the site's policy; the default policy when None.

    Returns:
        An :class:`Assessment`. The same arguments always give an equal result. Reasons' points
        add up to the score before it is clamped to 0–100. Raises nothing for odd facts.
    """
    policy = policy or ScoringPolicy()
    signals = validate(lead, documents, today=today, policy=policy)
    finals = [_finalise(doc, signals) for doc in documents]
    labels = {d.document_id: kind_label(d) for d in finals}
    flags = _merge(
        [*(s for d in finals for s in d.signals), *(s for s in signals if s.document_id not in labels)]
    )
    breakdown = income_breakdown(finals, voucher_amount_cents=lead.voucher_amount_cents, today=today,
                                 max_tax_form_age_days=policy.max_tax_form_age_days,
                                 max_pay_stub_age_days=policy.max_pay_stub_age_days)
    income = _income_result(lead, breakdown, policy)
    reasons = [income.reason]
    reasons += [
        Reason(
            code="income_not_counted",
            text=e.detail + ".",
            data_used=[e.document_id],
            standard="a clean document showing the amount and, for pay, its frequency",
        )
        for e in breakdown.exclusions
    ]

    clean_income = [d for d in finals if d.verdict == Verdict.CLEAN and d.kind in INCOME_KINDS]
    clean_ids = [d for d in finals if d.verdict == Verdict.CLEAN and d.kind == DocumentKind.GOVERNMENT_ID]
    doc_points = policy.income_document_points if clean_income else 0
    id_points = policy.identity_document_points if clean_ids else 0
    reasons.append(
        _verification_reason(
            "income_document",
            clean_income,
            doc_points,
            policy.income_document_points,
            "a clean income document (pay stub, employment letter, tax form or benefit letter)",
        )
    )
    reasons.append(
        _verification_reason(
            "identity_document",
            clean_ids,
            id_points,
            policy.identity_document_points,
            "a clean government ID",
        )
    )
    reasons += [_document_reason(d) for d in finals if d.verdict != Verdict.CLEAN]

    deductions = 0
    for s in flags:
        points = policy.deduction_points[s.severity]
        deductions += points
        reasons.append(_signal_reason(s, points, labels, policy))

    raw = income.points + doc_points + id_points - deductions
    score = max(0, min(100, raw))
    label = label_for(score, policy)
    recommendation, rec_reason, summary = _recommend(finals, flags, breakdown, income, score, label, policy)
    reasons.append(rec_reason)
    logger.debug(
        "assessed lead %s: score %d label %s recommendation %s, %d flag(s), %d document(s)",
        lead.id,
        score,
        label,
        recommendation,
        len(flags),
        len(finals),
    )
    return Assessment(
        score=score,
        label=label,
        recommendation=recommendation,
        summary=summary,
        reasons=reasons,
        flags=flags,
        documents=finals,
        monthly_income_cents=income.total,
        income_to_rent_ratio=income.ratio,
        rent_share_cents=income.share,
        required_income_cents=income.required,
        policy_version=policy.version,
    )


def _verification_reason(
    code: str, docs: Sequence[DocumentResult], points: int, available: int, standard: str
) -> Reason:
    if docs:
        ids = ", ".join(f"{d.document_id} ({kind_label(d)})" for d in docs)
        text = f"Read with no high-severity finding: {ids}. +{points} points."
    else:
        text = (
            f"No {standard.removeprefix('a ')} was verified; {available} points are given for one. 0 points."
        )
    return Reason(
        code=code, text=text, data_used=[d.document_id for d in docs], standard=standard, points=points
    )


def decline_evidence(doc: DocumentResult) -> list[str]:
    """One line per medium or high signal of ``doc``, with what a person can verify: code, page, field,
    expected and actual values, and the evidence text (``"stub: net_pay_mismatch (page 1, net_pay: expected
    $2,000.00, actual $2,600.00): …"``)."""
    lines = []
    for s in doc.signals:
        if s.severity == "low":
            continue
        where = [f"page {s.page}"] if s.page else []
        if s.field:
            where.append(s.field + (f": expected {s.expected}, actual {s.actual}"
                                    if s.expected is not None or s.actual is not None else ""))
        lines.append(f"{doc.document_id}: {s.code}" + (f" ({', '.join(where)})" if where else "") + f": {s.evidence}")
    return lines


def _document_reason(doc: DocumentResult) -> Reason:
    what = kind_label(doc) if doc.kind is not None else f"declared as {doc.declared_type}"
    if doc.verdict == Verdict.UNREADABLE:
        return Reason(
            code="document_unreadable",
            text=f"{doc.document_id} ({what}) could not be read: {doc.reason}. Nothing from it was used.",
            data_used=[doc.document_id],
            standard="a readable original PDF, or a clear JPEG, PNG, WebP or HEIC photo, within the "
            "size and page limits",
        )
    if doc.verdict == Verdict.UNDETERMINED:
        return Reason(
            code="document_undetermined",
            text=f"{doc.document_id} ({what}) was received but its facts could not be determined: "
            f"{doc.reason}. Nothing from it was used; a person can review it.",
            data_used=[doc.document_id],
            standard="a document whose figures can be read (a text PDF, or a vision model for "
            "photos and scans)",
        )
    return Reason(
        code="document_edited",
        text=f"{doc.document_id} ({what}) is treated as edited: {doc.reason}. Its figures were not used.",
        data_used=[doc.document_id],
        standard="an original document from its issuer with no high-severity finding",
    )


def _recommend(
    finals: Sequence[DocumentResult],
    flags: Sequence[Signal],
    breakdown: IncomeBreakdown,
    income: _Income,
    score: int,
    label: Label,
    policy: ScoringPolicy,
) -> tuple[Recommendation, Reason, str]:
    """Recommendation, its reason and the one-sentence summary (docs/scoring.md, "Recommendation")."""
    edited_docs = [d for d in finals if d.verdict == Verdict.EDITED]
    declining = [d for d in edited_docs if policy.decline_on_edited and d.risk_status == "HIGH"
                 and (policy.decline_on_arithmetic_only or not arithmetic_only(d.signals))]
    held = [d.document_id for d in edited_docs if d not in declining]
    edited = [d.document_id for d in declining]
    unread = [d.document_id for d in finals if d.verdict in (Verdict.UNDETERMINED, Verdict.UNREADABLE)]
    serious = [s for s in flags if s.severity in ("medium", "high")]
    complete = not unread and not held and not any(e.missing_data for e in breakdown.exclusions)
    head = f"score {score}, label {label}"
    target = policy.income_to_rent_ratio
    approve_standard = (
        f"approve needs label A or B (score ≥ {policy.label_b_min}), monthly income ≥ {target}× "
        f"the rent share ({cents_text(income.required)}) from clean documents, at least one "
        "clean document, and no medium or high-severity finding"
    )
    if edited:
        ids = ", ".join(edited)
        evidence = [line for d in declining for line in decline_evidence(d)]
        text = (
            f"Decline recommended: {ids} {'is' if len(edited) == 1 else 'are'} treated as edited, with this "
            "evidence: " + "; ".join(evidence) + ". A person should confirm before any adverse action; the "
            "applicant can dispute it and submit original documents for a new evaluation."
        )
        summary = (
            f"Recommended decline ({head}) because {len(edited)} document(s) ({ids}) show high-severity "
            "findings; a person should confirm before acting."
        )
        return (
            "decline",
            Reason(
                code="recommendation",
                text=text,
                data_used=[*edited, *evidence],
                standard="no document with a high-severity finding",
            ),
            summary,
        )
    decline_at = policy.decline_below_ratio
    if (
        income.total
        and income.share > 0
        and decline_at is not None
        and complete
        and Decimal(income.total) < Decimal(income.share) * Decimal(str(decline_at))
    ):
        text = (
            f"Decline recommended: verified monthly income {cents_text(income.total)} is "
            f"{income.ratio:.2f}× the rent share {cents_text(income.share)}, below the policy's decline "
            f"threshold of {decline_at}× "
            f"(standard {target}× = {cents_text(income.required)}); every document was read. A person "
            "should confirm; other lawful income the applicant documents would count."
        )
        summary = (
            f"Recommended decline ({head}): verified income is {income.ratio:.2f}× the rent share, below "
            f"the policy's {decline_at}× threshold (standard {target}×)."
        )
        return (
            "decline",
            Reason(
                code="recommendation",
                text=text,
                data_used=[i for item in breakdown.items for i in item.document_ids],
                standard=f"monthly income at least {decline_at}× the rent share to avoid a "
                f"decline, {target}× to approve",
            ),
            summary,
        )
    has_clean = any(d.verdict == Verdict.CLEAN for d in finals)
    if label in ("A", "B") and income.met and not serious and has_clean:
        text = (
            "Approve recommended: the income standard is met, the score is in band "
            f"{label}, and no medium or high-severity finding was made."
        )
        income_text = (
            "the rent share is covered by the voucher"
            if income.share == 0
            else f"verified income is {income.ratio:.2f}× the rent share (policy {target}×)"
        )
        summary = f"Recommended approve ({head}): {income_text} and no finding needs review."
        return (
            "approve",
            Reason(code="recommendation", text=text, data_used=[], standard=approve_standard),
            summary,
        )
    causes: list[str] = []
    if not income.met:
        causes.append(
            "income could not be verified from a clean document"
            if income.total is None
            else f"verified income is {income.ratio:.2f}× the rent share, below the policy's {target}×"
        )
    if label not in ("A", "B"):
        causes.append(f"the score is below band B ({policy.label_b_min})")
    if serious:
        causes.append(f"{len(serious)} medium or high-severity finding(s) need a person's look")
    if held:
        causes.append(f"{len(held)} document(s) treated as edited ({', '.join(held)}) go to a person, not a "
                      "decline: their findings are arithmetic only or below HIGH risk (site policy)")
    if unread:
        causes.append(f"{len(unread)} document(s) could not be read or determined ({', '.join(unread)})")
    if not has_clean:
        causes.append("no document was read cleanly")
    text = "Review recommended: " + "; ".join(causes) + "."
    summary = f"Recommended review ({head}): " + "; ".join(causes) + "."
    return (
        "review",
        Reason(code="recommendation", text=text, data_used=unread, standard=approve_standard),
        summary,
    )
