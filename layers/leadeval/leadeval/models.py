"""Pydantic models shared by every layer: jobs, messages, leads, documents, evaluations.

Units: money in the database and in scoring is integer **cents** (``*_cents``); money the
model extracts is ``Decimal`` **US dollars** (as printed on the document) and is converted
with :func:`to_cents`. Durations are seconds unless a name says ``_ms``. Timestamps are aware
UTC datetimes (see :mod:`leadeval.timeutil`).
"""

from __future__ import annotations

import datetime as _dt
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from leadeval.timeutil import parse_ts


def to_cents(amount: Decimal | float | int | None) -> int | None:
    """Dollars (as printed) to integer cents, rounding half up; None stays None."""
    if amount is None:
        return None
    return int((Decimal(str(amount)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


class _Model(BaseModel):
    """Base of every leadeval model: its validator and serializer are built on first use, not when the class
    is defined (pydantic's ``defer_build``), so importing this module builds no schema and a Lambda loads only
    the schemas its invocations use (docs/benchmarks.md, "Worker cold import")."""

    model_config = ConfigDict(defer_build=True)


class _Row(_Model):
    """Base for database rows: tolerant of every timestamp format the application may write.

    Required timestamps must parse (:func:`~leadeval.timeutil.parse_ts`); an optional one that does not
    (a malformed value the application wrote in a column leadeval only displays) reads as None rather
    than failing the job that carries it.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    @field_validator("*", mode="before")
    @classmethod
    def _timestamps(cls, value: Any, info: Any) -> Any:
        name = info.field_name or ""
        if isinstance(value, str) and name.endswith("_at"):
            try:
                return parse_ts(value)
            except ValueError:
                field = cls.model_fields.get(name)
                if field is not None and not field.is_required():
                    return None
                raise
        return value


# --------------------------------------------------------------------------- jobs


class JobStatus(StrEnum):
    """``ai_evaluation_jobs.status``: the application's vocabulary, the only values leadeval writes there."""

    PENDING = "pending"  #: not started: waiting for the sweep, its message, or a retry
    PROCESSING = "processing"  #: a worker holds it
    COMPLETED = "completed"  #: evaluation saved (terminal)
    FAILED = "failed"  #: a permanent error, attempts spent, or cancelled (terminal until a retry)


class JobState(StrEnum):
    """leadeval's finer lifecycle of a job (``ai_evaluation_jobs.leadeval_state``, read with ``status``).

    Each state projects onto one application ``status``: pending, queued, retrying and snoozed are
    ``pending``; processing is ``processing``; completed is ``completed``; failed, dead_lettered and
    cancelled are ``failed``.
    """

    PENDING = "pending"  #: waiting for a sweep to claim it
    QUEUED = "queued"  #: a message for it is on the jobs queue
    RETRYING = "retrying"  #: a retryable error; its message comes back after the backoff
    SNOOZED = "snoozed"  #: throttled or misconfigured; its message comes back, no attempt used
    PROCESSING = "processing"  #: a worker holds it until ``lease_expires_at``
    COMPLETED = "completed"  #: evaluation saved (terminal)
    FAILED = "failed"  #: permanent error, or attempts spent with no message left (terminal until a retry)
    DEAD_LETTERED = "dead_lettered"  #: attempts spent; its message is in the DLQ (redrive or retry)
    CANCELLED = "cancelled"  #: cancelled by an operator (terminal)

    @property
    def terminal(self) -> bool:
        """True for completed, failed, dead_lettered and cancelled."""
        return self in (JobState.COMPLETED, JobState.FAILED, JobState.DEAD_LETTERED, JobState.CANCELLED)

    @property
    def active(self) -> bool:
        """True while the job is waiting or running (pending, queued, retrying, snoozed, processing)."""
        return not self.terminal


_STATES_OF_STATUS = {
    JobStatus.PENDING: (JobState.PENDING, JobState.QUEUED, JobState.RETRYING, JobState.SNOOZED),
    JobStatus.PROCESSING: (JobState.PROCESSING,),
    JobStatus.COMPLETED: (JobState.COMPLETED,),
    JobStatus.FAILED: (JobState.FAILED, JobState.DEAD_LETTERED, JobState.CANCELLED),
}


def _alias(name: str) -> Any:
    """An optional field read from leadeval's ``leadeval_<name>`` column (or ``<name>``)."""
    return Field(None, validation_alias=AliasChoices(f"leadeval_{name}", name))


class Job(_Row):
    """One row of ``ai_evaluation_jobs``: the application's columns and leadeval's own (``leadeval_*``).

    ``retry_count`` counts failed attempts (a crashed attempt counts once it is found) and ``max_retries``
    is the attempt limit: the application's columns, with its meaning and its default (3) for the rows it
    inserts. ``generation`` is bumped by an operator retry and is part of the idempotency key; ``claims``
    fences the worker holding the job. ``requested_at`` is the canonical copy leadeval keeps once the sweep
    has seen the row (the application's own value when it has not yet; None when that is not a timestamp:
    such a job is failed ``InvalidJobRow`` by the first sweep or claim that meets it). ``leadeval_state`` is the raw
    column; :attr:`state` is the lifecycle state read with ``status``.
    """

    id: str
    site_id: str
    lead_id: str
    status: JobStatus
    leadeval_state: str | None = None
    requested_by: str | None = None
    requested_at: datetime | None = Field(None, validation_alias=AliasChoices("leadeval_requested_at", "requested_at"))
    model_version: str | None = None
    generation: int = Field(1, validation_alias=AliasChoices("leadeval_generation", "generation"))
    claims: int = Field(0, validation_alias=AliasChoices("leadeval_claims", "claims"))
    retry_count: int = 0
    max_retries: int = 3
    lease_expires_at: datetime | None = _alias("lease_expires_at")
    queued_at: datetime | None = _alias("queued_at")
    started_at: datetime | None = None
    completed_at: datetime | None = None
    dead_lettered_at: datetime | None = _alias("dead_lettered_at")
    error_code: str | None = None
    error_message: str | None = None
    evaluation_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @field_validator("status", mode="before")
    @classmethod
    def _status_as_written(cls, value: Any) -> Any:
        # The application's vocabulary in any case or padding ('PENDING', 'pending '); other values stay invalid.
        return value.strip().lower() if isinstance(value, str) else value

    @model_validator(mode="before")
    @classmethod
    def _canonical_first(cls, data: Any) -> Any:
        # A row carries both requested_at columns: the canonical one wins when the sweep has written it.
        if isinstance(data, dict) and data.get("leadeval_requested_at") is None and "requested_at" in data:
            data = {k: v for k, v in data.items() if k != "leadeval_requested_at"}
        return data

    @property
    def state(self) -> JobState:
        """The lifecycle state: ``leadeval_state`` when it agrees with ``status``, else what ``status`` says
        (a row the application inserted or re-opened: pending; failed/completed as they are)."""
        allowed = _STATES_OF_STATUS[self.status]
        if self.leadeval_state in {s.value for s in allowed}:
            return JobState(self.leadeval_state)
        return allowed[0]

    @property
    def attempts(self) -> int:
        """Attempts made in this generation, derived: the failed ones (``retry_count``) plus the one running
        or the one that succeeded."""
        running_or_done = self.status in (JobStatus.PROCESSING, JobStatus.COMPLETED)
        return self.retry_count + (1 if running_or_done else 0)

    @property
    def attempts_left(self) -> int:
        """Attempts still allowed for this generation (``max_retries - retry_count``, at least 0)."""
        return max(0, self.max_retries - self.retry_count)


#: Grammar of the identifiers a job message may carry: 1-64 ASCII letters, digits, ``_``, ``-``, ``.`` or ``:``
#: (nanoid, UUID, ``job_…``-style ids). Anything else is refused before any SQL runs.
ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
#: Highest generation a message may carry: 2**31 - 1 fits every backend's integer exactly (SQLite and
#: PostgreSQL 64-bit integers, D1's JSON numbers bound as 64-bit floats). Operator retries bump it by one.
MAX_GENERATION = 2**31 - 1

_MessageId = Annotated[str, Field(pattern=ID_PATTERN, strict=True)]


class JobMessage(_Model):
    """The SQS message body: identifiers only, never personal data (the DLQ keeps it 14 days).

    Validation is the poison filter: ids must match :data:`ID_PATTERN` and ``generation`` must be a JSON
    integer in ``1..MAX_GENERATION`` (no strings, floats or booleans), so a body that could break a driver
    (an integer SQLite cannot bind, a 10 KB id) is a malformed message that goes to the DLQ intact.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    job_id: _MessageId
    site_id: _MessageId
    lead_id: _MessageId
    generation: Annotated[int, Field(ge=1, le=MAX_GENERATION, strict=True)] = 1

    @classmethod
    def for_job(cls, job: Job) -> JobMessage:
        """The message that fans ``job`` out."""
        return cls(job_id=job.id, site_id=job.site_id, lead_id=job.lead_id, generation=job.generation)


# --------------------------------------------------------------------------- application data


class Lead(_Row):
    """One row of ``leads`` (the application owns it; leadeval adds ``leadeval_voucher_cents``).

    ``monthly_rent`` is the application's column: the full rent in **dollars** (a number, possibly None);
    :attr:`monthly_rent_cents` is the same in cents, what scoring uses. ``voucher_amount_cents`` is the
    part a housing voucher pays (0 when none). ``move_in_date`` is None when the application's text is not
    a date.
    """

    id: str
    site_id: str
    first_name: str
    last_name: str
    email: str | None = None
    phone: str | None = None
    move_in_date: date | None = None
    monthly_rent: Decimal | None = None
    voucher_amount_cents: int = Field(0, validation_alias=AliasChoices("leadeval_voucher_cents",
                                                                       "voucher_amount_cents"))
    status: str = "new"
    ai_score: int | None = None
    ai_label: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @field_validator("move_in_date", mode="before")
    @classmethod
    def _lenient_date(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return date.fromisoformat(value.strip()[:10])
            except ValueError:
                return None
        return value

    @field_validator("monthly_rent", mode="before")
    @classmethod
    def _exact_dollars(cls, value: Any) -> Any:
        # REAL comes back as a float: go through its shortest repr so 1850.1 stays 1850.1, not 1850.0999…
        return Decimal(repr(value)) if isinstance(value, float) else value

    @property
    def monthly_rent_cents(self) -> int:
        """The rent in cents (0 when the application left it empty)."""
        return to_cents(self.monthly_rent) or 0

    @property
    def full_name(self) -> str:
        """First and last name, space-joined (never log it)."""
        return f"{self.first_name} {self.last_name}".strip()


class LeadDocument(_Row):
    """One row of ``lead_documents``. ``document_type`` is what the applicant declared; the real type is
    sniffed from the bytes. ``storage_key`` is the object key in R2/S3 or the path under the local
    documents directory. Documents belong to their lead (and so to the lead's site)."""

    id: str
    lead_id: str
    document_type: str = "other"
    storage_key: str
    mime_type: str | None = None
    uploaded_at: datetime | None = None
    deleted_at: datetime | None = None

    @property
    def file_name(self) -> str:
        """The file's name as a person knows it: the last part of its storage key."""
        return self.storage_key.rstrip("/").rsplit("/", 1)[-1]


class Usage(_Row):
    """One row of ``ai_evaluation_usage``: evaluations accepted for a site in a month (YYYY-MM).

    The worker fails a job ``QuotaExceeded`` when ``evaluation_count > quota_limit`` (the application
    counts a request when it accepts it)."""

    site_id: str
    month: str
    evaluation_count: int = 0
    quota_limit: int = 100


# --------------------------------------------------------------------------- evaluation


class DocumentKind(StrEnum):
    """What a document is, as the extraction saw it."""

    PAY_STUB = "pay_stub"
    BANK_STATEMENT = "bank_statement"
    GOVERNMENT_ID = "government_id"
    EMPLOYMENT_LETTER = "employment_letter"
    TAX_FORM = "tax_form"
    BENEFIT_LETTER = "benefit_letter"  #: housing voucher, SSI/SSDI, pension, other assistance
    OTHER = "other"  #: not a screening document (a photo, a book, an unrelated form)


class Transaction(_Model):
    """One row of a bank statement's transaction list, as printed.

    ``amount`` is signed US dollars (credits positive, debits negative); ``balance`` the running balance
    printed on the row, when the statement prints one.
    """

    model_config = ConfigDict(extra="forbid")

    date: _dt.date | None = None
    description: str = ""
    amount: Decimal
    balance: Decimal | None = None


class ExtractedFacts(_Model):
    """What one document states, as extracted (by the vision model or the offline reader).

    Strict: unknown fields are rejected, so a model answer that invents keys fails validation
    and gets one repair request. Money is ``Decimal`` US dollars as printed. Nothing here can
    set a score: the score is computed from validated facts by :mod:`leadeval.screening.scoring`.
    """

    model_config = ConfigDict(extra="forbid")

    document_kind: DocumentKind
    names_shown: list[str] = Field(default_factory=list)
    employer: str | None = None
    pay_period_start: date | None = None
    pay_period_end: date | None = None
    pay_date: date | None = None
    pay_frequency: Literal["weekly", "biweekly", "semimonthly", "monthly", "annual"] | None = None
    gross_pay: Decimal | None = None
    net_pay: Decimal | None = None
    total_deductions: Decimal | None = None
    ytd_gross: Decimal | None = None
    statement_period_start: date | None = None
    statement_period_end: date | None = None
    opening_balance: Decimal | None = None
    closing_balance: Decimal | None = None
    total_credits: Decimal | None = None
    total_debits: Decimal | None = None
    deposits: list[Decimal] = Field(default_factory=list)
    #: Bank statement rows (date, description, signed amount, running balance), in printed order.
    transactions: list[Transaction] = Field(default_factory=list)
    #: Social Security (OASDI) and Medicare tax withheld this period (pay stub) or for the year (W-2 boxes 4
    #: and 6), US dollars as printed.
    social_security_tax: Decimal | None = None
    medicare_tax: Decimal | None = None
    #: W-2 box 3 (Social Security wages) and box 5 (Medicare wages and tips), US dollars.
    social_security_wages: Decimal | None = None
    medicare_wages: Decimal | None = None
    #: Pay stub advice / check number, as printed (digits compared across stubs of one employer).
    check_number: str | None = None
    monthly_benefit: Decimal | None = None
    annual_income: Decimal | None = None
    id_expiry: date | None = None
    document_date: date | None = None
    tampering_signals: list[str] = Field(default_factory=list)


class ModelUsage(_Model):
    """Token usage reported by a model for one request (0 when the backend reports none)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __add__(self, other: ModelUsage) -> ModelUsage:
        return ModelUsage(prompt_tokens=self.prompt_tokens + other.prompt_tokens,
                          completion_tokens=self.completion_tokens + other.completion_tokens)


class ExtractedPart(_Model):
    """One logical document of a multi-page packet (:mod:`leadeval.screening.packets`): its pages (1-based,
    inclusive) and what they state."""

    first_page: int = Field(ge=1)
    last_page: int = Field(ge=1)
    facts: ExtractedFacts
    evidence: dict[str, FieldEvidence] = Field(default_factory=dict)


class Extraction(_Model):
    """The outcome of asking a :class:`~leadeval.ports.VisionModel` about one document.

    ``facts`` is None when the model could not read it; ``note`` then says why (for example
    "needs a vision model" or "model answer unusable"), and the document is `undetermined`.
    """

    facts: ExtractedFacts | None = None
    note: str | None = None
    model: str
    model_version: str | None = None
    usage: ModelUsage = Field(default_factory=ModelUsage)
    #: Provenance of each value in ``facts``, keyed by its field name (``gross_pay``; list items as
    #: ``deposits[3]``). A field without an entry was not located (treat it as not certain).
    evidence: dict[str, FieldEvidence] = Field(default_factory=dict)
    #: Facts were read but cannot be relied on (OCR'd figures that no arithmetic or second reader
    #: confirmed): the document is ``undetermined``, never ``clean``, and ``note`` says why.
    undetermined: bool = False
    #: Findings of the reading itself about the document (two readers that disagree,
    #: :mod:`leadeval.screening.crosscheck`); added to the document's forensic signals.
    signals: list[Signal] = Field(default_factory=list)
    #: A packet of several documents (pages of different kinds): every logical document with its pages, the
    #: first one being the one ``facts`` describes; empty for a file that is one document.
    parts: list[ExtractedPart] = Field(default_factory=list)


Severity = Literal["low", "medium", "high"]

#: A rectangle on a page as fractions of the page's width and height, origin at the top-left corner:
#: ``(x0, y0, x1, y1)`` with ``0 <= x0 <= x1 <= 1`` and ``0 <= y0 <= y1 <= 1``. Independent of the
#: resolution a page was rendered or OCR'd at, so a report can draw it on any thumbnail.
Box = tuple[float, float, float, float]

#: How a value was read: ``text_layer`` (printed tokens located on the PDF page, label paired by
#: position), ``ocr`` (recognised from a page image), ``model`` (a vision model's answer),
#: ``derived`` (computed from other values, e.g. a frequency from YTD ÷ period gross).
ReadHow = Literal["text_layer", "ocr", "model", "derived"]


class FieldEvidence(_Model):
    """Where one extracted value came from and how far it can be trusted.

    ``certain`` is set by the reader: True only for a value located on the page (a text-layer token
    whose label was matched by position), or an OCR/model value confirmed by arithmetic that closes
    or by a second reader agreeing. Checks that would call a document edited use only certain values.
    ``confidence`` is the engine's own score in ``[0, 1]`` (1.0 for a located text-layer token).
    ``page`` is 1-based; ``box`` is a :data:`Box` (fractions of the page, top-left origin).
    """

    how: ReadHow
    certain: bool = False
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    page: int | None = None
    box: Box | None = None


class Signal(_Model):
    """A named finding about a document or the application, with evidence (no document text
    beyond the figure or field concerned).

    Optional evidence a person can verify (after Plaid's document risk signals): the ``page``
    (1-based) and ``box`` (:data:`Box`) where it is, the ``field`` concerned, and the
    ``expected`` / ``actual`` values as printed.
    """

    code: str
    severity: Severity
    evidence: str
    document_id: str | None = None
    page: int | None = None
    box: Box | None = None
    field: str | None = None
    expected: str | None = None
    actual: str | None = None


class Verdict(StrEnum):
    """Per-document verdict, after Snappt/Inscribe: clean, edited, undetermined, unreadable."""

    CLEAN = "clean"
    EDITED = "edited"
    UNDETERMINED = "undetermined"
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class PageWord:
    """One word read on a page: its text, its :data:`Box` (fractions of the page, top-left origin) and
    the reader's confidence in ``[0, 1]`` (1.0 for a text-layer word)."""

    text: str
    box: Box
    confidence: float = 1.0


@dataclass
class PageLayout:
    """The words of one page with their positions (``page`` is 1-based), as read from the PDF's text
    layer (``how="text_layer"``, PDFium's character boxes) or by OCR from the page image (``how="ocr"``)."""

    page: int
    how: ReadHow
    words: list[PageWord] = field(default_factory=list)


@dataclass
class PreparedDocument:
    """A document after preparation, before the model sees it.

    Attributes:
        document_id: ``lead_documents.id``.
        detected_type: type sniffed from the bytes: pdf, jpeg, png, webp, heic, tiff, gif, or
            a description of what it was when unsupported.
        sha256: hex digest of the original bytes (the fingerprint index keys on it).
        size_bytes: size of the original bytes.
        page_count: pages (PDF) or frames used (images: 1).
        text: the PDF text layer (None when there is none or for images).
        page_images: JPEG bytes of the pages offered to a vision model (PDF: page 1, then the pages
            without a text layer, up to ``max_rendered_pages``; an image: its downscaled copy), long side
            <= the limits' ``long_side_px`` (1120 px). For a PDF with a text layer this is a
            :class:`PageImages`: nothing is rendered until the list itself is read (then every page of
            it, once). A reader that needs one page reads :meth:`page_image` instead.
        signals: forensic signals found during preparation.
        unreadable_reason: set when the document cannot be used; the verdict is `unreadable`.
        layout: positioned words of the text-layer pages (see the attribute).
    """

    document_id: str
    detected_type: str
    sha256: str
    size_bytes: int
    page_count: int = 0
    text: str | None = None
    page_images: Sequence[bytes] = field(default_factory=list)
    signals: list[Signal] = field(default_factory=list)
    unreadable_reason: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    #: The positioned words of the PDF's text-layer pages (:class:`PageLayout`, one per page that has
    #: text); empty for images and scans. The offline reader pairs labels with values by position.
    layout: list[PageLayout] = field(default_factory=list)

    @property
    def image_count(self) -> int:
        """How many page images the document offers (``len(page_images)`` without rendering any)."""
        pages = self.page_images
        return len(pages.pages) if isinstance(pages, PageImages) else len(pages)

    def page_image(self, index: int = 0, long_side_px: int | None = None) -> bytes | None:
        """JPEG bytes of one page, rendered on the first call for that page and size, then cached.

        Args:
            index: the page, 0-based in the document (a PDF's page number - 1; an image: 0).
            long_side_px: longest side in pixels (default: the size prepared for the vision models,
                ``DocumentLimits.long_side_px``). PDF pages are rendered at that size; an image is
                only ever scaled down from its prepared copy.

        Returns:
            The JPEG bytes, or None when the document has no such page image (unreadable, index out of
            range, or the page failed to render: the failure is in ``metadata["render_errors"]``).
            Never raises for a bad document.
        """
        pages = self.page_images
        if isinstance(pages, PageImages):
            return pages.page(index, long_side_px)
        return pages[index] if 0 <= index < len(pages) else None


#: ``render(index, long_side_px) -> JPEG bytes`` of page ``index`` (0-based); raises when it cannot.
PageRenderer = Callable[[int, "int | None"], bytes]


class PageImages(Sequence[bytes]):
    """The page images of a document, rendered when first read, once (a lazy ``list[bytes]``).

    Reading the sequence (``len``, ``bool``, iteration, indexing, ``==``) renders every page of
    :attr:`pages` at the default size, in order, on the first such read; a page that fails to render is
    left out (as an eager list would have left it out), its error appended to ``metadata["render_errors"]``
    and its number removed from ``metadata["rendered_pages"]``. :meth:`page` renders just one page, at the
    size asked for. Thread-safe: one render per page and size, whatever the callers.

    Args:
        pages: 0-based page numbers the sequence holds, in order.
        render: renders one page (see :data:`PageRenderer`).
        metadata: the document's metadata dict (render errors are recorded there).
        describe: an exception as the one-line text recorded (never the document's content).
        rendered: pages already rendered at the default size, by index (None: it failed, its error is
            already recorded); they are never rendered again.
        page_count: the document's pages (None: unknown); :meth:`page` answers None beyond them.
    """

    def __init__(self, pages: Sequence[int], render: PageRenderer, metadata: dict[str, Any],
                 describe: Callable[[BaseException], str] = lambda exc: type(exc).__name__, *,
                 rendered: Mapping[int, bytes | None] | None = None, page_count: int | None = None) -> None:
        self.pages: tuple[int, ...] = tuple(pages)
        self.page_count = page_count
        self._render = render
        self._metadata = metadata
        self._describe = describe
        self._cache: dict[tuple[int, int | None], bytes | None] = {
            (index, None): image for index, image in (rendered or {}).items()}
        self._lock = threading.Lock()
        self._all: list[bytes] | None = None

    def page(self, index: int, long_side_px: int | None = None) -> bytes | None:
        """One page's JPEG (see :meth:`PreparedDocument.page_image`); None when it cannot be rendered."""
        if index < 0 or (self.page_count is not None and index >= self.page_count):
            return None
        key = (index, long_side_px)
        with self._lock:
            if key not in self._cache:
                try:
                    self._cache[key] = self._render(index, long_side_px)
                except Exception as exc:  # a page PDFium cannot draw: no image, the reason kept
                    self._cache[key] = None
                    errors = self._metadata.setdefault("render_errors", [])
                    errors.append(f"page {index + 1}: {self._describe(exc)}")
                    rendered = self._metadata.get("rendered_pages")
                    if long_side_px is None and isinstance(rendered, list) and index + 1 in rendered:
                        rendered.remove(index + 1)
            return self._cache[key]

    def _materialised(self) -> list[bytes]:
        if self._all is None:
            self._all = [image for image in (self.page(i) for i in self.pages) if image is not None]
        return self._all

    def __len__(self) -> int:
        return len(self._materialised())

    def __getitem__(self, item: Any) -> Any:
        return self._materialised()[item]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._materialised())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PageImages):
            return self._materialised() == other._materialised()
        return self._materialised() == other if isinstance(other, list) else NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        state = f"{len(self._all)} rendered" if self._all is not None else "not rendered"
        return f"PageImages(pages={list(self.pages)}, {state})"


class DocumentResult(_Model):
    """The per-document outcome stored with the evaluation."""

    document_id: str
    file_name: str = ""
    declared_type: str = "other"
    detected_type: str | None = None
    kind: DocumentKind | None = None
    verdict: Verdict
    reason: str
    facts: ExtractedFacts | None = None
    signals: list[Signal] = Field(default_factory=list)
    sha256: str | None = None
    #: Provenance of each value in ``facts`` (see :attr:`Extraction.evidence`).
    evidence: dict[str, FieldEvidence] = Field(default_factory=dict)
    #: Document risk 0–100 and its status (the worst signal wins); None when not assessed.
    risk_score: int | None = Field(default=None, ge=0, le=100)
    risk_status: Literal["LOW", "MEDIUM", "HIGH"] | None = None
    #: The pages (1-based, inclusive) this result describes when its file is a packet of several documents.
    pages: tuple[int, int] | None = None
    #: For the second and later documents of a packet: the ``lead_documents.id`` of the file they are part of
    #: (their own ``document_id`` is that id + ``#pages-A-B``).
    part_of: str | None = None


class Reason(_Model):
    """A plain-language reason: what was found, the data used, and the standard that would have
    been needed for a better result (HUD 2024 screening guidance: never conclusory)."""

    code: str
    text: str
    data_used: list[str] = Field(default_factory=list)
    standard: str | None = None
    points: int = 0


Label = Literal["A", "B", "C", "D"]
Recommendation = Literal["approve", "review", "decline"]


class Evaluation(_Model):
    """A saved evaluation: the application's ``lead_ai_evaluations`` row and leadeval's details beside it
    (``leadeval_evaluations``).

    The application's columns: ``id`` (``eval_`` + nanoid), ``score``, ``label``, ``recommendation``,
    ``summary`` (plain language), ``risk_flags``, ``fraud_signals`` and ``extracted_data`` (JSON objects in
    the documented, versioned shapes of ``docs/schemas/``; built by
    :func:`leadeval.screening.results.application_json`), ``model_version`` (the model that produced the
    facts) and ``created_at`` (also ``evaluated_at``). leadeval's: the job and its ``generation``, the
    reasons, per-document results, flags, income figures (cents), policy version, model name, token usage
    and an input hash for audit.
    """

    id: str
    job_id: str
    generation: int = 1
    lead_id: str
    site_id: str
    score: Annotated[int, Field(ge=0, le=100)]
    label: Label
    recommendation: Recommendation
    summary: str
    reasons: list[Reason] = Field(default_factory=list)
    documents: list[DocumentResult] = Field(default_factory=list)
    flags: list[Signal] = Field(default_factory=list)
    risk_flags: dict[str, Any] = Field(default_factory=dict)
    fraud_signals: dict[str, Any] = Field(default_factory=dict)
    extracted_data: dict[str, Any] = Field(default_factory=dict)
    monthly_income_cents: int | None = None
    income_to_rent_ratio: float | None = None
    policy_version: str = "default-1"
    model: str = "offline"
    model_version: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: Cost inputs (``leadeval usage``): pages prepared (PDF pages; an image counts 1) and the worker's
    #: milliseconds on the evaluation (fetch, prepare, model, score; not the claim or the result write).
    pages: int = 0
    worker_ms: int | None = None
    input_hash: str = ""
    created_at: datetime | None = None
