"""The application's view of an evaluation: the three JSON columns of ``lead_ai_evaluations``.

The application's dashboard reads ``risk_flags``, ``fraud_signals`` and ``extracted_data`` (JSON text).
leadeval writes each as a JSON object in a documented, versioned shape; ``docs/schemas/`` holds one JSON
Schema per column (``<column>.v1.schema.json``) and the tests check every evaluation against them. Within a
version, fields are only ever added (consumers ignore fields they do not know); a change of meaning or a
removal takes a new ``version``.

Money: integer **cents** for every figure leadeval computes (``*_cents``); extracted facts keep the
document's printed amounts as decimal strings in **US dollars** (``"5000.00"``). Dates are ISO 8601.
No row content beyond what the application already holds (names shown on documents, amounts).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from leadeval.models import DocumentResult, Lead, Reason, Signal

if TYPE_CHECKING:
    from leadeval.screening.scoring import Assessment

#: The version of the three shapes below (``"version"`` in each object).
SCHEMA_VERSION = 1


def _where(signal: Signal) -> dict[str, Any]:
    """The verifiable evidence of a signal (added within v1): page, box, field, expected and actual values."""
    return {"page": signal.page, "box": list(signal.box) if signal.box is not None else None, "field": signal.field,
            "expected": signal.expected, "actual": signal.actual}


def _signal(signal: Signal) -> dict[str, Any]:
    return {"code": signal.code, "severity": signal.severity, "evidence": signal.evidence, **_where(signal)}


def _reason(reason: Reason) -> dict[str, Any]:
    return {"code": reason.code, "text": reason.text, "points": reason.points, "standard": reason.standard,
            "data_used": list(reason.data_used)}


def risk_flags(flags: Sequence[Signal]) -> dict[str, Any]:
    """``risk_flags``: every finding that lowers confidence in the application, worst first.

    Shape (v1): ``{"version": 1, "flags": [{"code", "severity", "message", "standard", "document_id", "page",
    "box", "field", "expected", "actual"}]}``;
    ``severity`` is low, medium or high; ``message`` says what was found with its evidence; ``standard``
    what would have been needed; ``document_id`` is None for a finding across documents.
    """
    from leadeval.screening.scoring import signal_text

    order = {"high": 0, "medium": 1, "low": 2}
    items = []
    for flag in sorted(flags, key=lambda f: (order[f.severity], f.code, f.document_id or "")):
        title, standard = signal_text(flag.code)
        items.append({"code": flag.code, "severity": flag.severity, "message": f"{title}: {flag.evidence}",
                      "standard": standard, "document_id": flag.document_id, **_where(flag)})
    return {"version": SCHEMA_VERSION, "flags": items}


def fraud_signals(documents: Sequence[DocumentResult], flags: Sequence[Signal]) -> dict[str, Any]:
    """``fraud_signals``: each document's authenticity verdict with its forensic signals, and the findings
    across documents.

    Shape (v1): ``{"version": 1, "documents": [{"document_id", "file_name", "verdict", "reason", "risk_score",
    "risk_status", "signals": [signal]}], "application": [signal]}`` where a signal is ``{"code", "severity",
    "evidence", "page", "box", "field", "expected", "actual"}``; ``verdict`` is clean, edited, undetermined or
    unreadable; ``risk_score`` 0–100 and ``risk_status`` LOW / MEDIUM / HIGH (the worst signal wins). The
    location fields (page 1-based; box ``[x0, y0, x1, y1]`` as fractions of the page, top-left origin) are
    null when the finding has none; they and the risk fields were added within version 1.
    """
    ids = {d.document_id for d in documents}
    return {
        "version": SCHEMA_VERSION,
        "documents": [{"document_id": d.document_id, "file_name": d.file_name, "verdict": d.verdict.value,
                       "reason": d.reason, "risk_score": d.risk_score, "risk_status": d.risk_status,
                       "signals": [_signal(s) for s in d.signals]} for d in documents],
        "application": [_signal(s) for s in flags if s.document_id not in ids],
    }


def extracted_data(lead: Lead, assessment: Assessment, *, model: str) -> dict[str, Any]:
    """``extracted_data``: what was read from each document, the income calculation and the reasons.

    Shape (v1): ``{"version": 1, "income": {"monthly_income_cents", "monthly_rent_cents", "voucher_cents",
    "rent_share_cents", "required_income_cents", "income_to_rent_ratio"}, "documents": [{"document_id",
    "file_name", "declared_type", "detected_type", "kind", "verdict", "facts"}], "reasons": [{"code",
    "text", "points", "standard", "data_used"}], "score", "label", "recommendation", "policy_version",
    "model"}``. ``facts`` is None when nothing was read; its amounts are decimal strings in dollars.
    """
    return {
        "version": SCHEMA_VERSION,
        "income": {
            "monthly_income_cents": assessment.monthly_income_cents,
            "monthly_rent_cents": lead.monthly_rent_cents,
            "voucher_cents": lead.voucher_amount_cents,
            "rent_share_cents": assessment.rent_share_cents,
            "required_income_cents": assessment.required_income_cents,
            "income_to_rent_ratio": assessment.income_to_rent_ratio,
        },
        "documents": [{
            "document_id": d.document_id, "file_name": d.file_name, "declared_type": d.declared_type,
            "detected_type": d.detected_type, "kind": d.kind.value if d.kind else None, "verdict": d.verdict.value,
            "facts": d.facts.model_dump(mode="json") if d.facts else None,
        } for d in assessment.documents],
        "reasons": [_reason(r) for r in assessment.reasons],
        "score": assessment.score,
        "label": assessment.label,
        "recommendation": assessment.recommendation,
        "policy_version": assessment.policy_version,
        "model": model,
    }


def application_json(lead: Lead, assessment: Assessment, *, model: str) -> dict[str, dict[str, Any]]:
    """The three JSON columns for one assessment: ``{"risk_flags": …, "fraud_signals": …,
    "extracted_data": …}`` (see each function for its shape)."""
    return {
        "risk_flags": risk_flags(assessment.flags),
        "fraud_signals": fraud_signals(assessment.documents, assessment.flags),
        "extracted_data": extracted_data(lead, assessment, model=model),
    }
