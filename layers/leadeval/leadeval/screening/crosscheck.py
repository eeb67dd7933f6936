"""Two readers of one document, cross-checked: the key figures one reader gave against the OCR of the page.

A PDF's text layer is what a program reads; the rendered page is what a person sees. They differ when a text
layer was edited over a scan (the "searchable PDF" a scanner writes, with a figure changed in its invisible
text) or when an image patch was pasted over printed text. A vision model's answer can differ from the page
too (a misread or an invented figure). :func:`cross_check` compares the figures a first reader gave (the text
layer, or a vision model) with those the OCR of the rendered page gave, field by field:

* **Compared**: the amounts of :data:`CHECKED_AMOUNTS` (gross, net, deductions, YTD gross, balances, credits,
  debits, annual income, monthly benefit) when both readers read the field, and the names shown when both
  read a name.
* **Agreement** (equal within half a cent; a name with the same letters): the field is ``agreed``; the caller
  may then mark the value ``certain`` (two readers agree, :class:`~leadeval.models.FieldEvidence`).
* **Disagreement**: a :data:`SIGNAL_CODE` signal carrying both values (``expected`` = the first reader's,
  ``actual`` = OCR's), the field, and the page and box where the value is printed. A disagreement is not
  reported when the first reader's figure is printed elsewhere on the OCR'd page or OCR's figure is in the
  first reader's text: the two readers then paired a label with different figures of one page, which says
  nothing about the page. Severity: ``high`` (the document becomes ``edited``) only between a text layer and
  OCR words of confidence >= :data:`HIGH_CONFIDENCE`; ``medium`` otherwise (a vision model or an uncertain
  OCR word may be the one that is wrong). Names disagree at ``medium`` at most.

Pure domain code: no I/O, no OCR engine; the caller renders and OCRs the pages
(:class:`leadeval.ports.PageReader`) and reads the facts of both.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from leadeval.models import ExtractedFacts, FieldEvidence, Severity, Signal

#: The signal a disagreement between two readers raises.
SIGNAL_CODE = "readers_disagree"
#: Money fields compared between the readers (US dollars, ``Decimal``).
CHECKED_AMOUNTS = ("gross_pay", "net_pay", "total_deductions", "ytd_gross", "opening_balance", "closing_balance",
                   "total_credits", "total_debits", "annual_income", "monthly_benefit")
#: OCR confidence (the lowest of the value's words, ``[0, 1]``) from which a disagreement with a text layer is
#: high-severity.
HIGH_CONFIDENCE = 0.9
_HALF_CENT = Decimal("0.005")
#: a money figure: with cents, or whole dollars after a dollar sign ("$5,600"; what the offline reader reads)
_PRINTED_AMOUNT = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+\.\d{2}(?!\d)|(?<![\d.,])\d+\.\d{2}(?!\d)"
                             r"|(?<=\$)[ \t]?(?:\d{1,3}(?:,\d{3})+|\d+)(?![\d,]|\.\d)")


@dataclass(frozen=True)
class Reading:
    """What one reader made of a document.

    Attributes:
        source: how it read, as shown in evidence: ``"text layer"``, ``"vision model"`` or ``"OCR"``.
        facts: the facts it read.
        evidence: where each value was read (:attr:`~leadeval.models.Extraction.evidence`); may be empty.
        text: the reader's whole text (lines of the pages it read), used to tell a different print from a
            different pairing; empty when unknown (a vision model's answer).
    """

    source: str
    facts: ExtractedFacts
    evidence: Mapping[str, FieldEvidence] = field(default_factory=dict)
    text: str = ""


@dataclass(frozen=True)
class CrossCheck:
    """The outcome of :func:`cross_check`.

    Attributes:
        compared: the fields both readers read (amount field names, ``names_shown[i]`` of the first reader).
        agreed: those the readers agree on.
        signals: one :data:`SIGNAL_CODE` signal per disagreement.
    """

    compared: list[str] = field(default_factory=list)
    agreed: list[str] = field(default_factory=list)
    signals: list[Signal] = field(default_factory=list)


def printed_amounts(text: str) -> set[Decimal]:
    """The money figures printed in ``text`` (``1,234.56`` / ``1234.56``, or whole dollars after a dollar
    sign: ``$5,600`` / ``$5600``), as positive Decimals."""
    found: set[Decimal] = set()
    for match in _PRINTED_AMOUNT.finditer(text):
        try:
            found.add(Decimal(match.group(0).replace(",", "").strip()))
        except InvalidOperation:  # pragma: no cover - the pattern only matches digits
            continue
    return found


def cross_check(document_id: str, first: Reading, ocr: Reading) -> CrossCheck:
    """Compare ``first`` (a text layer or a vision model) with ``ocr`` (the OCR of the same pages).

    Args:
        document_id: ``lead_documents.id`` the signals concern.
        first: the reading whose facts the document keeps.
        ocr: the OCR reading of the rendered page(s).
    Returns:
        A :class:`CrossCheck` (see the module docstring for what is compared and each signal's severity).
    """
    outcome = CrossCheck()
    ocr_printed = printed_amounts(ocr.text)
    first_printed = printed_amounts(first.text)
    for name in CHECKED_AMOUNTS:
        mine, theirs = getattr(first.facts, name), getattr(ocr.facts, name)
        if mine is None or theirs is None:
            continue
        outcome.compared.append(name)
        if abs(mine - theirs) <= _HALF_CENT:
            outcome.agreed.append(name)
            continue
        if abs(mine) in ocr_printed or abs(theirs) in first_printed:
            continue  # the same figures are on the page: the readers paired differently, the page is not in doubt
        seen = ocr.evidence.get(name)
        confident = seen is not None and seen.confidence >= HIGH_CONFIDENCE
        severity: Severity = "high" if first.source == "text layer" and confident else "medium"
        outcome.signals.append(_signal(document_id, name, f"{mine:,.2f}", f"{theirs:,.2f}", severity,
                                       first, ocr))
    _check_names(document_id, first, ocr, outcome)
    return outcome


def _check_names(document_id: str, first: Reading, ocr: Reading, outcome: CrossCheck) -> None:
    """Names: each of the first reader's names agrees when OCR read the same name or its page shows its
    words; one disagreement (medium) when OCR read names and none of the first reader's is on the page."""
    if not first.facts.names_shown or not ocr.facts.names_shown:
        return
    theirs = {_letters(n) for n in ocr.facts.names_shown}
    page_words = set(_words(ocr.text))
    missing: list[str] = []
    for index, person in enumerate(first.facts.names_shown):
        key = f"names_shown[{index}]"
        outcome.compared.append(key)
        words = _words(person)
        if _letters(person) in theirs or (words and all(w in page_words for w in words)):
            outcome.agreed.append(key)
        else:
            missing.append(person)
    if missing and len(missing) == len(first.facts.names_shown):
        outcome.signals.append(_signal(document_id, "names_shown", missing[0], ocr.facts.names_shown[0], "medium",
                                       first, ocr, key="names_shown[0]"))


def _signal(document_id: str, name: str, mine: str, theirs: str, severity: Severity, first: Reading,
            ocr: Reading, *, key: str | None = None) -> Signal:
    where = _where(first.evidence.get(key or name), ocr.evidence.get(key or name))
    return Signal(
        code=SIGNAL_CODE, severity=severity, document_id=document_id, field=name, expected=mine, actual=theirs,
        page=where.page if where else None, box=where.box if where else None,
        evidence=f"{name}: the {first.source} reads {mine}, the {ocr.source} of the rendered page reads {theirs}",
    )


def _where(*candidates: FieldEvidence | None) -> FieldEvidence | None:
    """The first evidence that has a box (else the first with a page)."""
    present = [c for c in candidates if c is not None]
    return next((c for c in present if c.box is not None), next((c for c in present if c.page), None))


def _letters(name: str) -> str:
    """A name's letters only, accents removed, case folded, word order ignored ("LEE, ANN" = "Ann Lee")."""
    return " ".join(sorted(_words(name)))


def _words(text: str) -> list[str]:
    plain = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return re.findall(r"[^\W\d_]+", plain.casefold())


def confirm_agreed(evidence: Mapping[str, FieldEvidence], ocr_evidence: Mapping[str, FieldEvidence],
                   agreed: Sequence[str]) -> dict[str, FieldEvidence]:
    """``evidence`` with each agreed field ``certain`` (two readers agree): its own entry when it has one
    (keeping how it was read), else OCR's (page and box of the OCR'd word), else a bare certain model value.

    Returns:
        A new dict; ``evidence`` is not changed.
    """
    out = dict(evidence)
    for key in agreed:
        mine = out.get(key) or ocr_evidence.get(key)
        out[key] = (mine.model_copy(update={"certain": True}) if mine is not None
                    else FieldEvidence(how="model", certain=True))
    return out
