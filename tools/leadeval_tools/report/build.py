"""What a report shows, gathered from the job store and the document store into plain values for the template.

Everything is read through the store's operator methods (``get_job``, ``get_evaluation``, ``list_overrides``,
``lead_history``, ``job_documents``, ``list_policies``) and the document store's ``get``; nothing is written.
The figures are the evaluation's own (its reasons, income and policy version as saved), never recomputed, so a
report made a year later shows what the property manager was shown then.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from leadeval.errors import LeadevalError, ResourceNotFound
from leadeval.jobs.history import LeadHistory
from leadeval.jobs.records import EvaluationOverride
from leadeval.models import DocumentResult, Evaluation, Job, Lead, LeadDocument, Reason, Signal
from leadeval.ports import DocumentStore, OperatorStore
from leadeval.screening.documents import DocumentLimits
from leadeval.screening.kinds import label as kind_label
from leadeval.screening.policy import ScoringPolicy
from leadeval.screening.scoring import signal_text
from leadeval_tools.report.masking import Unmasked
from leadeval_tools.report.thumbnails import Box, PageImage, Thumbnails, page_thumbnails

logger = logging.getLogger(__name__)

#: Plain words for the recommendation, as the page states it.
RECOMMENDATION_WORDS = {"approve": "Approve", "review": "Review by a person", "decline": "Decline"}
VERDICT_WORDS = {
    "clean": "No sign of editing",
    "edited": "Treated as edited",
    "undetermined": "Could not be determined",
    "unreadable": "Could not be read",
}
#: Fields whose place on the page is drawn (when the reader recorded it): the figures income is counted from, plus
#: any field a finding names. Names, addresses and dates are not boxed: the page would be covered in boxes.
EVIDENCE_FIELDS = frozenset({"gross_pay", "net_pay", "annual_income", "monthly_benefit"})
_FIELD_WORDS = {"gross_pay": "gross pay", "net_pay": "net pay", "ytd_gross": "year-to-date gross",
                "total_deductions": "total deductions", "pay_date": "pay date", "closing_balance": "closing balance",
                "opening_balance": "opening balance", "annual_income": "annual income",
                "monthly_benefit": "monthly benefit", "names_shown": "name shown", "employer": "employer"}


@dataclass(frozen=True)
class Mark:
    """A box drawn on a page: a signal's position (``kind`` "signal", ``severity`` set) or where a counted value
    was read (``kind`` "evidence"). ``box`` is fractions of the page, top-left origin; ``label`` says what."""

    kind: str
    box: Box
    label: str
    severity: str | None = None
    code: str | None = None

    @property
    def style(self) -> Unmasked:
        """The CSS placing it over its page (percentages of the page image)."""
        x0, y0, x1, y1 = self.box
        return Unmasked(f"left:{x0 * 100:.3f}%;top:{y0 * 100:.3f}%;width:{max(0.0, x1 - x0) * 100:.3f}%;"
                f"height:{max(0.0, y1 - y0) * 100:.3f}%")


@dataclass(frozen=True)
class PageView:
    """One page thumbnail and the marks drawn on it."""

    image: PageImage
    marks: list[Mark]


@dataclass(frozen=True)
class SignalView:
    """A finding in plain words: ``title`` and ``standard`` from the signal code, its evidence, severity, and
    where it is (page, field, expected and actual values when known)."""

    code: str
    severity: str
    title: str
    standard: str
    evidence: str
    page: int | None = None
    positioned: bool = False
    field: str | None = None
    expected: str | None = None
    actual: str | None = None


@dataclass(frozen=True)
class DocumentView:
    """One document: its file name, what it is, its verdict and risk, why, its findings and its pages."""

    document_id: str
    file_name: str
    kind: str
    declared_type: str
    verdict: str
    verdict_words: str
    reason: str
    risk_score: int | None
    risk_status: str | None
    signals: list[SignalView]
    pages: list[PageView]
    pages_note: str | None
    unplaced: list[SignalView]  #: findings on this document without a position on a shown page


@dataclass(frozen=True)
class IncomeView:
    """The income calculation as the evaluation saved it (cents; ``ratio`` is income ÷ rent share)."""

    sources: list[str]
    not_counted: list[str]
    monthly_income_cents: int | None
    monthly_rent_cents: int
    voucher_cents: int
    rent_share_cents: int
    required_income_cents: int
    ratio: float | None
    policy_multiple: float | None
    decline_below: float | None
    met: bool | None
    summary: str


@dataclass(frozen=True)
class HistoryLine:
    """One event of the lead's audit trail, with ``current`` True for this report's job."""

    at: datetime
    event: str
    job_id: str
    detail: str
    current: bool


@dataclass
class Report:
    """Everything the template shows for one job. ``evaluation`` is None for a job that has none (failed,
    cancelled, still waiting): the page then says what happened and the applicant's section still applies."""

    job: Job
    lead: Lead | None
    evaluation: Evaluation | None
    generated_at: datetime
    overrides: list[EvaluationOverride] = field(default_factory=list)
    override_in_force: EvaluationOverride | None = None
    reasons: list[Reason] = field(default_factory=list)
    documents: list[DocumentView] = field(default_factory=list)
    application_findings: list[SignalView] = field(default_factory=list)
    income: IncomeView | None = None
    history: list[HistoryLine] = field(default_factory=list)
    policy: ScoringPolicy | None = None
    names: dict[str, str] = field(default_factory=dict)  #: document id -> file name
    summary: str = ""  #: the evaluation's summary, documents named by file name

    @property
    def recommendation_words(self) -> str:
        """The evaluation's recommendation in words ("" without an evaluation)."""
        return RECOMMENDATION_WORDS.get(self.evaluation.recommendation, "") if self.evaluation else ""

    @property
    def reviewed_by_person(self) -> bool:
        """A person has recorded a decision on this evaluation (an override)."""
        return self.override_in_force is not None


def build_report(store: OperatorStore, documents: DocumentStore | None, job_id: str, *, now: datetime,
                 limits: DocumentLimits | None = None, thumbnails: bool = True) -> Report:
    """Gather one job's report.

    Args:
        store: the job store (read only).
        documents: where the documents' bytes are (for thumbnails); None leaves pages out.
        job_id: the job.
        now: when the report is made (printed on it).
        limits: the worker's document limits (bytes, pages, pixels, time), applied to thumbnails too.
        thumbnails: False leaves pages out (a text-only report).

    Raises:
        ResourceNotFound: no such job.
        StoreUnavailableError and the store's other errors.
    """
    job = store.get_job(job_id)
    if job is None:
        raise ResourceNotFound(f"no job {job_id}")
    history = store.lead_history(job.lead_id)
    lead = history.lead if history and history.lead.site_id == job.site_id else None
    evaluation = store.get_evaluation(job_id)
    report = Report(job=job, lead=lead, evaluation=evaluation, generated_at=now)
    if history is not None and lead is not None:
        report.history = _history(history, job.id)
    if evaluation is None:
        return report
    report.overrides = store.list_overrides(job_id)
    report.override_in_force = report.overrides[-1] if report.overrides else None
    report.names = {d.document_id: d.file_name or d.document_id for d in evaluation.documents}
    report.policy = _policy(store, evaluation)
    sub = _namer(report.names)
    report.summary = sub(evaluation.summary)
    report.reasons = [_named(r, sub) for r in evaluation.reasons]
    pages = _pages(store, documents, job, evaluation.documents, limits) if thumbnails else {}
    report.documents = [_document(d, pages.get(d.document_id), sub) for d in evaluation.documents]
    ids = set(report.names)
    report.application_findings = [_signal(s, sub) for s in evaluation.flags if s.document_id not in ids]
    report.income = _income(evaluation, report.reasons, report.policy)
    return report


def _namer(names: dict[str, str]) -> Callable[[str], str]:
    """A function replacing each document id in a text by the file's name (a person knows files by name)."""
    if not names:
        return lambda text: text
    pattern = re.compile("|".join(re.escape(i) for i in sorted(names, key=len, reverse=True)))
    return lambda text: pattern.sub(lambda m: names[m.group(0)], text)


def _named(reason: Reason, sub: Callable[[str], str]) -> Reason:
    """The reason with document ids replaced by file names (:func:`_namer`)."""
    return reason.model_copy(update={"text": sub(reason.text), "standard": sub(reason.standard or "") or None,
                                     "data_used": [sub(d) for d in reason.data_used]})


def _policy(store: OperatorStore, evaluation: Evaluation) -> ScoringPolicy | None:
    """The policy the evaluation was scored under, found by its saved version label; None when it is gone."""
    if evaluation.policy_version == ScoringPolicy().version:
        return ScoringPolicy()
    for saved in store.list_policies(evaluation.site_id):
        try:
            policy = ScoringPolicy.from_stored(saved.policy_json)
        except ValueError:
            continue
        if policy.version == evaluation.policy_version:
            return policy
    return None


def _pages(store: OperatorStore, documents: DocumentStore | None, job: Job, results: Sequence[DocumentResult],
           limits: DocumentLimits | None) -> dict[str, Thumbnails]:
    """Thumbnails of each evaluated document still stored, as it was evaluated (a missing, failing or since
    replaced file gets a note instead: its bytes must hash to the evaluation's ``sha256``)."""
    out: dict[str, Thumbnails] = {}
    if documents is None:
        return out
    rows: dict[str, LeadDocument] = {d.id: d for d in store.job_documents(job.id)}
    max_bytes = (limits or DocumentLimits()).max_bytes
    for result in results:
        row = rows.get(result.part_of or result.document_id)  # a packet's later part: its file's pages
        if row is None:
            out[result.document_id] = Thumbnails([], 0, "no picture: the document is no longer stored")
            continue
        try:
            data = documents.get(row.storage_key, max_bytes=max_bytes)
        except LeadevalError as exc:
            logger.info("report: document not loaded", extra={"document_id": row.id, "error_code": exc.code})
            out[result.document_id] = Thumbnails([], 0, f"no picture: the file could not be loaded ({exc.code})")
            continue
        if result.sha256 and hashlib.sha256(data).hexdigest() != result.sha256:
            out[result.document_id] = Thumbnails([], 0, "no picture: the stored file is no longer the one evaluated "
                                                        "(its SHA-256 differs)")
            continue
        out[result.document_id] = page_thumbnails(row.id, data, limits=limits)
    return out


def _signal(s: Signal, sub: Callable[[str], str], *, shown_pages: set[int] | None = None) -> SignalView:
    title, standard = signal_text(s.code)
    positioned = s.box is not None and s.page is not None and (shown_pages is None or s.page in shown_pages)
    return SignalView(code=s.code, severity=s.severity, title=title, standard=standard, evidence=sub(s.evidence),
                      page=s.page, positioned=positioned, field=_FIELD_WORDS.get(s.field or "", s.field),
                      expected=s.expected, actual=s.actual)


def _document(result: DocumentResult, thumbs: Thumbnails | None, sub: Callable[[str], str]) -> DocumentView:
    thumbs = thumbs or Thumbnails([], 0, None)
    shown = {p.page for p in thumbs.pages}
    wanted = EVIDENCE_FIELDS | {s.field for s in result.signals if s.field}
    pages = []
    for image in thumbs.pages:
        marks = [Mark("evidence", ev.box, f"{_FIELD_WORDS.get(name, name.replace('_', ' '))} read here")
                 for name, ev in result.evidence.items()
                 if ev.page == image.page and ev.box is not None and name in wanted]
        marks += [Mark("signal", s.box, signal_text(s.code)[0], s.severity, s.code)
                  for s in result.signals if s.page == image.page and s.box is not None]
        pages.append(PageView(image, marks))
    signals = [_signal(s, sub, shown_pages=shown) for s in result.signals]
    kind = kind_label(result.kind) if result.kind else result.declared_type.replace("_", " ")
    return DocumentView(
        document_id=result.document_id, file_name=result.file_name or result.document_id, kind=kind,
        declared_type=result.declared_type.replace("_", " "), verdict=result.verdict.value,
        verdict_words=VERDICT_WORDS[result.verdict.value], reason=sub(result.reason), risk_score=result.risk_score,
        risk_status=result.risk_status, signals=signals, pages=pages, pages_note=thumbs.note,
        unplaced=[s for s in signals if not s.positioned])


def _income(evaluation: Evaluation, reasons: Sequence[Reason], policy: ScoringPolicy | None) -> IncomeView:
    income = dict(evaluation.extracted_data.get("income") or {})
    main = next((r for r in reasons if r.code == "income"), None)
    not_counted = [r.text for r in reasons if r.code == "income_not_counted"]
    share = int(income.get("rent_share_cents") or 0)
    required = int(income.get("required_income_cents") or 0)
    total = evaluation.monthly_income_cents
    met = None if share == 0 and total is None else (total or 0) >= required
    return IncomeView(
        sources=list(main.data_used) if main else [], not_counted=not_counted, monthly_income_cents=total,
        monthly_rent_cents=int(income.get("monthly_rent_cents") or 0), voucher_cents=int(income.get("voucher_cents")
                                                                                         or 0),
        rent_share_cents=share, required_income_cents=required, ratio=evaluation.income_to_rent_ratio,
        policy_multiple=policy.income_to_rent_ratio if policy else None,
        decline_below=policy.decline_below_ratio if policy else None, met=met, summary=main.text if main else "")


def _history(history: LeadHistory, job_id: str) -> list[HistoryLine]:
    lines = []
    for entry in history.timeline():
        ev, ovr, job = entry.evaluation, entry.override, entry.job
        if entry.event == "evaluated" and ev is not None:
            detail = (f"{RECOMMENDATION_WORDS[ev.recommendation]} — score {ev.score}, label {ev.label}; "
                      f"policy {ev.policy_version}, model {ev.model}")
        elif entry.event == "override" and ovr is not None:
            detail = f"A person decided: {RECOMMENDATION_WORDS[ovr.recommendation]}. Reason: {ovr.reason}"
        elif entry.event in ("failed", "cancelled") and job is not None:
            detail = f"{job.error_code or entry.event}: {job.error_message or ''}".rstrip(": ")
        else:
            detail = "an evaluation was requested" if entry.event == "requested" else (
                "a new evaluation was requested (re-evaluation)")
        lines.append(HistoryLine(entry.at, entry.event, entry.job_id, detail, entry.job_id == job_id))
    return lines
