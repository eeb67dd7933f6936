"""The written verdict rule and the per-document risk score (docs/scoring.md, "Verdicts").

A document's verdict is one of clean / edited / undetermined / unreadable (after Snappt's CLEAN / EDITED /
UNDETERMINED). The rule, in order:

1. ``unreadable`` stays unreadable (nothing from it is used).
2. ``edited`` needs evidence that the *file was changed*:

   - a high-severity **tamper** signal: page content or fonts rewritten in a later revision, a cover-up
     (opaque box then text over it), an amount in a font used nowhere else, data appended after the end of
     the file, a decompression bomb, …;
   - or a high-severity **arithmetic** break (net pay, balances, FICA, running balance, …): these are high
     only when every value in them was read with certainty (printed tokens located on the page, labels
     matched by position, :class:`~leadeval.models.FieldEvidence` ``certain``);
   - or an arithmetic break of any severity *together with* a medium or high structural signal (a later
     save, a modification date, editing software, hidden text…).

   A reused file (``document_reused``) is never edited for that reason alone; neither is a model's own
   observation, nor a metadata-only later save (low).
3. ``undetermined``: no facts could be read; an arithmetic break on values not read with certainty (the
   values are shown in the reason); a producer that is an image editor or an online PDF editor
   (Photoshop, GIMP, iLovePDF…: never clean); a bank statement printed to PDF ("Microsoft: Print To PDF",
   the original was not supplied); a medium structural signal on the page content (hidden text, text
   outside the CropBox, a markup annotation, an identifier that cannot be genuine). One font under several
   subset tags on a page (``font_subset_mixed``) says the page was assembled from several sources, which honest
   packets also are: it sends the application to review (medium) without moving the verdict.
4. ``clean`` otherwise.

Risk score (after Ocrolus Detect's 0–100 authenticity score with a LOW / MEDIUM / HIGH status where the
worst signal wins): no signal scores 0 (LOW); the worst signal sets the band — low 10–39, medium 40–69,
high 70–100 — and each further signal of medium or high severity adds 5 within that band.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from leadeval.models import DocumentKind, Signal, Verdict

RiskStatus = Literal["LOW", "MEDIUM", "HIGH"]

#: Checks on the figures a document states: they say the figures do not hold together, which is a tamper
#: signal only when the figures were read with certainty (else a misreading is the likelier cause).
ARITHMETIC_CODES = frozenset({
    "net_pay_mismatch", "ytd_below_period_gross", "balance_mismatch", "fica_mismatch", "w2_tax_mismatch",
    "running_balance_mismatch", "transaction_totals_mismatch", "future_dated", "pay_schedule_inconsistent",
})

#: Signals that the file itself was changed or assembled (structure, metadata, page content).
STRUCTURAL_CODES = frozenset({
    "pdf_incremental_update", "pdf_modified_after_creation", "pdf_editing_software", "pdf_data_after_eof",
    "pdf_stream_inflation", "image_edited_with_software", "opaque_mask_followed_by_text", "mixed_font_amount",
    "invisible_text", "text_outside_cropbox", "annotation_over_content",
})

#: Signals that never make a document edited by themselves, whatever their severity.
NEVER_EDITED_ALONE = frozenset({"document_reused", "model_tampering_observation", "name_mismatch"})

#: Medium content signals that keep a document from being clean (at least undetermined).
UNDETERMINING_CODES = frozenset({
    "opaque_mask_followed_by_text", "mixed_font_amount", "invisible_text", "text_outside_cropbox",
    "annotation_over_content", "invalid_routing_number", "invalid_ssn", "invalid_ein",
})

#: Producers that are image editors or online PDF editors: a document they produced is never clean
#: (Snappt, Inscribe "editing software"). Matched on the producer/creator value the signal carries.
_UNDETERMINING_EDITORS = re.compile(
    r"photoshop|\bgimp\b|illustrator|inkscape|\bcanva\b|pixelmator|affinity|paint\.net|photopea|picsart|"
    r"\bfotor\b|snapseed|ilovepdf|smallpdf|\bsejda\b|pdfescape|pdffiller|\bdochub\b|pdf\s*candy|soda\s*pdf|"
    r"pdf-?xchange|foxit\s*(phantom|pdf\s*editor|editor)|\bnitro\b|pdfelement|wondershare",
    re.IGNORECASE,
)

_SEVERITY_ORDER = {"low": 0, "medium": 1, "high": 2}
_BANDS = {"low": (10, 39), "medium": (40, 69), "high": (70, 100)}


def risk(signals: Sequence[Signal]) -> tuple[int, RiskStatus]:
    """``(score 0–100, status)`` of one document from its signals: the worst severity sets the band (low
    10–39 LOW, medium 40–69 MEDIUM, high 70–100 HIGH), each further medium or high signal adds 5 within
    the band; no signal: ``(0, "LOW")``."""
    if not signals:
        return 0, "LOW"
    worst = max(signals, key=lambda s: _SEVERITY_ORDER[s.severity]).severity
    low, high = _BANDS[worst]
    extra = sum(1 for s in signals if s.severity in ("medium", "high")) - (0 if worst == "low" else 1)
    status: RiskStatus = "HIGH" if worst == "high" else "MEDIUM" if worst == "medium" else "LOW"
    return min(high, low + 5 * max(0, extra)), status


def _is_undetermining_editor(signal: Signal) -> bool:
    if signal.code not in ("pdf_editing_software", "image_edited_with_software"):
        return False
    return bool(_UNDETERMINING_EDITORS.search(signal.actual or signal.evidence))


def decide(signals: Sequence[Signal], *, has_facts: bool, kind: DocumentKind | None,
           provisional: Verdict) -> tuple[Verdict, str | None]:
    """The verdict of one document by the rule above, and the reason when the rule moved it (None when the
    provisional verdict stands).

    Args:
        signals: every signal concerning the document (forensic and validation).
        has_facts: whether facts were extracted.
        kind: the document's kind (a statement printed to PDF is undetermined).
        provisional: the verdict so far (unreadable and edited stay).
    """
    if provisional in (Verdict.UNREADABLE, Verdict.EDITED):
        return provisional, None
    tamper = [s for s in signals if s.severity == "high" and s.code not in NEVER_EDITED_ALONE
              and s.code not in ARITHMETIC_CODES]
    if tamper:
        return Verdict.EDITED, "high-severity finding(s): " + ", ".join(dict.fromkeys(s.code for s in tamper))
    arithmetic = [s for s in signals if s.code in ARITHMETIC_CODES]
    certain = [s for s in arithmetic if s.severity == "high"]
    if certain:
        return Verdict.EDITED, ("high-severity finding(s) on values read with certainty: "
                                + ", ".join(dict.fromkeys(s.code for s in certain)))
    structural = [s for s in signals if s.code in STRUCTURAL_CODES and s.severity != "low"]
    if arithmetic and structural:
        return Verdict.EDITED, ("an arithmetic break ("
                                + ", ".join(dict.fromkeys(s.code for s in arithmetic))
                                + ") together with a structural finding ("
                                + ", ".join(dict.fromkeys(s.code for s in structural)) + ")")
    if not has_facts or provisional == Verdict.UNDETERMINED:
        return Verdict.UNDETERMINED, None
    if arithmetic:
        shown = "; ".join(s.evidence for s in arithmetic)
        return Verdict.UNDETERMINED, ("figures do not hold together, but not every value was read with certainty "
                                     f"(a misreading is possible): {shown}")
    editors = [s for s in signals if _is_undetermining_editor(s)]
    if editors:
        return Verdict.UNDETERMINED, ("produced or saved by an image or online PDF editor ("
                                     + "; ".join(s.evidence for s in editors) + "): not an issuer's original")
    if kind == DocumentKind.BANK_STATEMENT and any(s.code == "pdf_print_to_pdf" for s in signals):
        return Verdict.UNDETERMINED, "the statement was printed to PDF: the bank's original file was not supplied"
    content = [s for s in signals if s.code in UNDETERMINING_CODES and s.severity != "low"]
    if content:
        return Verdict.UNDETERMINED, ("page content needs a person's look: "
                                     + ", ".join(dict.fromkeys(s.code for s in content)))
    return Verdict.CLEAN, None


def arithmetic_only(signals: Sequence[Signal]) -> bool:
    """True when a document's medium/high findings are all arithmetic (or reuse / model observations): what
    made it edited is figures that do not add up, with no sign that the file was changed."""
    serious = [s for s in signals if s.severity != "low" and s.code not in NEVER_EDITED_ALONE]
    return bool(serious) and all(s.code in ARITHMETIC_CODES for s in serious)
