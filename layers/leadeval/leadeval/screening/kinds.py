"""The registry of document kinds: everything leadeval knows about a kind of document, in one entry.

Each :class:`KindSpec` says how a person calls the kind, whether it shows income (income kinds are always
accepted: every lawful source of income counts, whatever a site's policy says), whether a site accepts it by
default, which age rule applies to its date, how the vision model's prompt describes it, and how the offline
reader recognises it in a text layer (a regular expression for its title, one for weaker field markers).

Adding a kind: a member of :class:`~leadeval.models.DocumentKind`, an entry in :data:`KINDS`, and, when the kind
has facts of its own, its reader (``adapters/ai/offline.py``) and its rules (``validation.py``, ``scoring.py``).
Stored site policies keep working: they hold what a site changed, and income kinds are added on load
(:meth:`~leadeval.screening.policy.ScoringPolicy.from_stored`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from leadeval.models import DocumentKind

AgeRule = Literal["pay_stub", "statement", "tax_form"]
#: How a kind's facts become income (:func:`leadeval.screening.scoring.income_breakdown`): ``pay_periods``
#: (gross pay per period, averaged per employer and annualised by the pay frequency), ``annual_wage``
#: (a stated annual income, counted once per employer), ``benefit`` (a monthly benefit or voucher).
IncomeRule = Literal["pay_periods", "annual_wage", "benefit"]
"""Which of a site policy's age limits applies to a document's date (``max_pay_stub_age_days``,
``max_statement_age_days``, ``max_tax_form_age_days``)."""


@dataclass(frozen=True)
class KindSpec:
    """One kind of document.

    Attributes:
        kind: the kind.
        label: what a person calls it ("pay stub"), used in reasons and reports.
        income_rule: how its facts count toward income (:data:`IncomeRule`), or None when they do not;
            kinds with a rule are always accepted by every site.
        accepted_by_default: it counts as a screening document under the default policy.
        age_rule: the policy limit its date is held to, or None (no staleness rule).
        prompt_hint: how the extraction prompt describes it to a vision model.
        title_markers: a regular expression matching the kind's title in a text layer (the offline reader's
            strong marker), or None.
        field_markers: a regular expression matching field labels typical of the kind (a weaker marker), or None.
        marker_rank: the order in which the offline reader tries kinds' markers (lower first: a W-2 names
            wages, so tax forms are tried before pay stubs).
    """

    kind: DocumentKind
    label: str
    income_rule: IncomeRule | None
    accepted_by_default: bool
    age_rule: AgeRule | None
    prompt_hint: str
    title_markers: str | None = None
    field_markers: str | None = None
    marker_rank: int = 99

    @property
    def counts_as_income(self) -> bool:
        """Its facts can count toward income (it has an income rule)."""
        return self.income_rule is not None


_S = r"[ \t]+"

KINDS: dict[DocumentKind, KindSpec] = {spec.kind: spec for spec in (
    KindSpec(DocumentKind.PAY_STUB, "pay stub", income_rule="pay_periods", accepted_by_default=True,
             age_rule="pay_stub", prompt_hint="a pay stub, earnings or wage statement, payroll advice",
             title_markers=rf"\bPay[ \t]*stub\b|\bEarnings{_S}Statement\b|\bWage{_S}Statement\b|\bPay{_S}Statement\b"
                           rf"|\bPayroll{_S}Advice\b|\bDirect{_S}Deposit{_S}Advice\b",
             field_markers=rf"\bAdvice{_S}Number\b|\bNet{_S}Pay\b|\bGross{_S}Pay\b|\bPay{_S}Period\b|\bPay{_S}Date\b"
                           rf"|\bPeriod{_S}Ending\b|\bGross{_S}YTD\b|\bYTD{_S}Gross\b",
             marker_rank=2),
    KindSpec(DocumentKind.BANK_STATEMENT, "bank statement", income_rule=None, accepted_by_default=True,
             age_rule="statement", prompt_hint="a bank or credit-union account statement",
             title_markers=rf"\bBank{_S}Statement\b|\bAccount{_S}Statement\b|\bStatement{_S}of{_S}Accounts?\b"
                           rf"|\b(?:Credit{_S}Union|Savings{_S}Bank|Federal{_S}Savings)\b[^\n]*\bStatement\b"
                           rf"|\bStatement\b[^\n]*\bCredit{_S}Union\b|\bShare{_S}(?:Draft|Savings|Checking)\b",
             field_markers=rf"\bStatement{_S}Period\b|\bAccount{_S}Holder\b"
                           rf"|\b(?:Opening|Beginning|Closing|Ending){_S}Balance\b|\bCredit{_S}Union\b"
                           rf"|\bBalance{_S}Forward\b",
             marker_rank=1),
    KindSpec(DocumentKind.EMPLOYMENT_LETTER, "employment letter", income_rule="annual_wage", accepted_by_default=True,
             age_rule=None, prompt_hint="an employment verification or offer letter",
             title_markers=rf"\bVerification{_S}of{_S}Employment\b|\bEmployment{_S}Verification\b",
             marker_rank=3),
    KindSpec(DocumentKind.TAX_FORM, "tax form", income_rule="annual_wage", accepted_by_default=True,
             age_rule="tax_form", prompt_hint="a W-2, 1099 or other tax form",
             title_markers=rf"\bForm{_S}W-?2\b|Wage{_S}and{_S}Tax{_S}Statement|\b1099-[A-Z]+\b",
             field_markers=r"\bW-2\b",
             marker_rank=0),
    KindSpec(DocumentKind.BENEFIT_LETTER, "benefit letter", income_rule="benefit", accepted_by_default=True,
             age_rule=None, prompt_hint="a housing voucher, SSI/SSDI, pension or other benefit award letter",
             title_markers=rf"\bHousing{_S}Choice{_S}Voucher\b|\bBenefit{_S}Letter\b|\bAward{_S}Letter\b"
                           rf"|\bBenefit{_S}Verification\b",
             field_markers=rf"\bHousing{_S}Assistance{_S}Payment\b|\bBenefit{_S}Amount\b|\bMonthly{_S}Benefit\b"
                           r"|\bVoucher\b",
             marker_rank=4),
    KindSpec(DocumentKind.GOVERNMENT_ID, "government ID", income_rule=None, accepted_by_default=True,
             age_rule=None, prompt_hint="a driver's licence, state ID card or passport",
             title_markers=rf"\bDriver'?s?\s*Licen[cs]e\b|\bOperator'?s?{_S}Licen[cs]e\b|\bIdentification{_S}Card\b"
                           rf"|\bID{_S}Card\b|\bPassport\b|\bPasaporte\b|^P[<A-Z][A-Z<]{{3}}[A-Z<]+<<",
             field_markers=rf"\bDL{_S}(?:No\.?|Number|#|Class|ADULT)|\bREAL{_S}ID\b|\bDOB\b[^\n]*\bEXP\b"
                           rf"|\bEXP\b[^\n]*\bDOB\b|\bDate{_S}of{_S}Birth\b[^\n]*\bExpir",
             marker_rank=5),
    KindSpec(DocumentKind.OTHER, "other document", income_rule=None, accepted_by_default=False,
             age_rule=None, prompt_hint="anything else (a photo, an unrelated form)"),
)}

#: Kinds whose facts can count toward income (always accepted).
INCOME_KINDS: tuple[DocumentKind, ...] = tuple(k for k, s in KINDS.items() if s.counts_as_income)
#: Kinds a site accepts as screening documents unless its policy says otherwise.
DEFAULT_ACCEPTED_KINDS: tuple[DocumentKind, ...] = tuple(k for k, s in KINDS.items() if s.accepted_by_default)


def spec(kind: DocumentKind) -> KindSpec:
    """The registry entry of ``kind``. Raises KeyError for a kind without one (a test keeps them complete)."""
    return KINDS[kind]


def with_income_rule(rule: IncomeRule) -> tuple[DocumentKind, ...]:
    """The kinds whose facts count toward income by ``rule``, in registry order."""
    return tuple(k for k, s in KINDS.items() if s.income_rule == rule)


def label(kind: DocumentKind | None) -> str:
    """What a person calls ``kind`` ("pay stub"; "document" when unknown)."""
    return KINDS[kind].label if kind is not None else "document"
