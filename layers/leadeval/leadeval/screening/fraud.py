"""Deterministic document forensics, run before the model sees a document.

Every check here reads structure and metadata only (PDF trailer, catalog, info dictionary,
EXIF), never the document's body text, and returns :class:`~leadeval.models.Signal` objects
whose evidence is short and factual ("Producer: iLovePDF", "2 %%EOF markers").

Where the checks come from (the project's research anchors, §B.1 "what commercial tools
detect"):

- Inscribe fraud signals (https://help.inscribe.ai/en/articles/7852994-understanding-inscribe-fraud-signals):
  "edited after creation" dates, editing software (Adobe, online editors), EXIF issues.
- DocuClipper bank-statement fraud detection
  (https://www.docuclipper.com/docs/understanding-bank-statement-fraud-detection): the gap
  between creation and modification dates, unusual producers, fingerprints and duplicates.
- htpbe PDF structure markers (https://htpbe.tech/compare/snappt-alternative): a second xref
  section / incremental update after an edit; a "Microsoft Word" producer where a payroll
  provider is expected.
- MetaMap bank-statement alteration (https://docs.metamap.com/docs/bank-statement-alteration-detection):
  a created−modified gap outside the allowed range, a generator other than the issuer's.

Signal codes and severities:

- ``pdf_editing_software`` (medium): producer/creator is a PDF or image editor; low for an
  office suite or macOS Preview/Quartz (common in honest "save as PDF" flows too).
- ``pdf_modified_after_creation`` (medium): ModDate − CreationDate > 1 day (both in UTC).
- ``pdf_incremental_update``: more than one saved revision (``%%EOF`` markers, minus the first-page
  trailer of a linearized file), rated by what each later revision rewrote
  (:mod:`leadeval.screening.forensics.revisions`): page content, fonts or images → high; annotations or the
  page → medium; metadata or a signature only → low. Without a readable structure: medium, low when the
  file carries a digital signature.
- ``pdf_javascript`` (high): JavaScript in the Names tree, the OpenAction or the catalog's /AA
  or, anywhere else (a link annotation, or a file whose structure cannot be parsed), a /JS or
  /JavaScript action token in the raw bytes.
- ``pdf_embedded_files`` (medium): an /EmbeddedFiles name tree (attachments).
- ``pdf_encrypted`` (low): the file is encrypted (opened with the empty password, or not).
- ``pdf_data_after_eof`` (high for an archive, an executable or another PDF; medium for other data):
  more than :data:`TRAILING_DATA_MIN_BYTES` bytes other than whitespace and NULs follow the last
  ``%%EOF``. A PDF reader ignores them, so the file can carry something else: a ZIP appended to a
  PDF makes a PDF/ZIP polyglot that an unzip tool opens (the classic way to smuggle an executable
  past a PDF-only upload check).
- ``pdf_stream_inflation`` (high): a content stream inflates at least :data:`INFLATION_RATIO`
  times its encoded size, over at least :data:`INFLATION_MIN_BYTES` (a decompression bomb: page
  descriptions compress 3-10 times; only repeated filler reaches 100). Measured by
  :mod:`leadeval.screening.pdf_budget` while it checks the content budget.
- ``pdf_print_to_pdf`` (low): the producer or creator is a print-to-PDF driver ("Microsoft: Print To
  PDF", Chrome's Skia/PDF, CutePDF…): on a bank statement the verdict is undetermined.
- ``image_edited_with_software`` (medium; low for Lightroom): EXIF Software names an editor.
- ``document_reused`` (medium): the same file, or the same extracted identity, came with another applicant
  name (before or after this one): review, never edited or declined for that alone.

Nothing here imports boto3 or httpx; pypdf is imported lazily, only when a PDF must be opened.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from leadeval.jobs.records import PriorSubmission
from leadeval.models import DocumentResult, ExtractedFacts, Severity, Signal

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pypdf import PdfReader

logger = logging.getLogger(__name__)

#: ModDate may trail CreationDate by this much before ``pdf_modified_after_creation`` fires.
#: Generators often stamp both within seconds; Acrobat saves minutes apart; one day is the
#: threshold the brief sets (DocuClipper/MetaMap flag "a gap"; MetaMap: "for most banks … 0").
MODIFIED_AFTER_CREATION_THRESHOLD = timedelta(days=1)

#: Longest metadata value quoted in evidence (characters).
EVIDENCE_VALUE_CHARS = 80

#: How far into the file the linearization dictionary may start (ISO 32000-1 Annex F: it is the
#: first object after the header; 1 KiB leaves room for a binary comment and whitespace).
LINEARIZED_WINDOW_BYTES = 1024

#: Stop counting attachments here (evidence says "N+").
MAX_ATTACHMENTS_COUNTED = 100

#: Bytes (other than whitespace and NULs) after the last ``%%EOF`` before ``pdf_data_after_eof``
#: fires: some generators end with a stray line or a little padding; a payload is larger.
TRAILING_DATA_MIN_BYTES = 32

#: ``pdf_stream_inflation``: a content stream is a decompression bomb when it inflates at least this
#: many times its encoded size over at least :data:`INFLATION_MIN_BYTES`. Page descriptions compress
#: 3-10 times (Flate on operators and numbers); only repeated filler reaches 100 (zlib's ceiling is
#: about 1,032).
INFLATION_RATIO = 100
INFLATION_MIN_BYTES = 1 << 20

#: File names inside an appended ZIP that count as executables or scripts.
_EXECUTABLE_NAME = re.compile(r"\.(exe|dll|scr|com|msi|bat|cmd|ps1|vbs|js|jar|lnk|hta|sh|elf|apk)$", re.IGNORECASE)

#: Magic numbers of what is appended after ``%%EOF`` (high severity: a second file).
_APPENDED_KINDS: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive"), (b"PK\x05\x06", "a ZIP archive"), (b"MZ", "a Windows executable"),
    (b"\x7fELF", "an ELF executable"), (b"Rar!\x1a\x07", "a RAR archive"), (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\x1f\x8b", "a gzip file"), (b"%PDF-", "another PDF"),
)


@dataclass(frozen=True)
class EditorPattern:
    """A producer/creator (or EXIF Software) value that names an editing tool.

    Attributes:
        name: the tool, as shown in logs and docs.
        pattern: case-insensitive regular expression searched in the value.
        severity: the signal's severity when it matches.
    """

    name: str
    pattern: re.Pattern[str]
    severity: Severity


def _p(name: str, regex: str, severity: Severity = "medium") -> EditorPattern:
    return EditorPattern(name, re.compile(regex, re.IGNORECASE), severity)


#: PDF producer/creator values that point at an editor rather than the issuer's generator.
#:
#: Decisions (documented because they are judgement calls):
#: - Adobe Acrobat *the application* (Pro, Standard, DC, "Adobe Acrobat 11.0") is an editor and
#:   flags medium. "Acrobat Distiller" (a print-to-PDF converter many enterprise payroll and
#:   banking back ends use) and "Adobe PDF Library" (the SDK inside countless generators) are
#:   NOT flagged: they say how a file was converted, not that it was edited.
#: - "Acrobat PDFMaker … for Word" is Acrobat's Office add-in: the file was authored in Word,
#:   so it flags like Microsoft Word (medium): a pay stub or statement typed in Word is the
#:   htpbe example of a suspicious producer.
#: - Office suites (LibreOffice/OpenOffice, Microsoft Excel: small employers print payroll from
#:   spreadsheets) and macOS Preview / Quartz PDFContext are low: they
#:   are common in honest "print/save as PDF" flows, but are still not an issuer's generator.
PDF_EDITORS: tuple[EditorPattern, ...] = (
    _p("iLovePDF", r"ilovepdf"),
    _p("Smallpdf", r"smallpdf"),
    _p("Sejda", r"\bsejda\b"),
    _p("PDFescape", r"pdfescape"),
    _p("PDF-XChange", r"pdf-?xchange"),
    _p("Foxit PhantomPDF / PDF Editor", r"foxit\s*(phantom|pdf\s*editor|editor)"),
    _p("Nitro", r"\bnitro\b"),
    _p("PDFelement", r"pdfelement|wondershare"),
    _p("pdfFiller", r"pdffiller"),
    _p("DocHub", r"\bdochub\b"),
    _p("PDF Candy", r"pdf\s*candy"),
    _p("Soda PDF", r"soda\s*pdf"),
    _p("Microsoft Word (Acrobat PDFMaker)", r"pdfmaker[^\n]*\bword\b"),
    _p("Adobe Acrobat", r"\b(adobe\s+)?acrobat(?!\s*(distiller|pdfmaker|paper\s*capture))"
                        r"(\s+(pro|standard|std|dc|reader|\d))"),
    _p("Microsoft Word", r"microsoft\s*(®|\(r\))?\s*(office\s*)?word\b"),
    _p("Microsoft Excel", r"microsoft\s*(®|\(r\))?\s*(office\s*)?excel\b", "low"),
    _p("Canva", r"\bcanva\b"),
    _p("Adobe Photoshop", r"photoshop"),
    _p("Adobe Illustrator", r"illustrator"),
    _p("Inkscape", r"inkscape"),
    _p("GIMP", r"\bgimp\b"),
    _p("LibreOffice / OpenOffice", r"libreoffice|openoffice", "low"),
    _p("macOS Preview / Quartz", r"^preview$|quartz\s*pdfcontext", "low"),
)

#: EXIF ``Software`` values that name an image editor (camera firmware and phone OS versions,
#: e.g. "iOS 16.1" or "HDR+ 1.0", are not editors and do not match).
IMAGE_EDITORS: tuple[EditorPattern, ...] = (
    _p("Adobe Photoshop", r"photoshop"),
    _p("GIMP", r"\bgimp\b"),
    _p("Pixelmator", r"pixelmator"),
    _p("Affinity Photo", r"affinity"),
    _p("Paint.NET", r"paint\.net"),
    _p("Photopea", r"photopea"),
    _p("Canva", r"\bcanva\b"),
    _p("PicsArt", r"picsart"),
    _p("Fotor", r"\bfotor\b"),
    _p("Snapseed", r"snapseed"),
    _p("Adobe Lightroom", r"lightroom", "low"),
)


def match_editor(value: str | None, editors: Iterable[EditorPattern]) -> EditorPattern | None:
    """The first editor whose pattern occurs in ``value`` (None when none, or no value)."""
    if not value:
        return None
    for editor in editors:
        if editor.pattern.search(value):
            return editor
    return None


def short_value(value: Any, limit: int = EVIDENCE_VALUE_CHARS) -> str:
    """A metadata value made safe for evidence: printable, one line, at most ``limit`` chars."""
    text = "".join(ch if ch.isprintable() else " " for ch in str(value))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _max_severity(severities: Iterable[Severity]) -> Severity:
    order = {"low": 0, "medium": 1, "high": 2}
    return max(severities, key=order.__getitem__)


# --------------------------------------------------------------------------- PDF: byte scans


_EOF_RE = re.compile(rb"%%EOF")
_JS_TOKEN_RE = re.compile(rb"/(?:JavaScript|JS)(?![A-Za-z0-9_.#-])")


def count_eof_markers(data: bytes) -> int:
    """Number of ``%%EOF`` markers in the raw bytes (one per saved revision, plus one for the
    first-page trailer of a linearized file)."""
    return len(_EOF_RE.findall(data))


def is_linearized(data: bytes) -> bool:
    """True when a ``/Linearized`` dictionary starts within the first 1 KiB (ISO 32000-1
    Annex F puts it first). Such a file legitimately has two ``%%EOF`` markers."""
    return b"/Linearized" in data[:LINEARIZED_WINDOW_BYTES]


def pdf_revision_count(data: bytes) -> int:
    """Saved revisions: ``%%EOF`` markers, minus the linearization trailer when linearized
    (never below 0)."""
    eofs = count_eof_markers(data)
    return max(0, eofs - (1 if is_linearized(data) and eofs >= 2 else 0))


def _zip_contents(tail: bytes) -> tuple[int, int]:
    """(entries, executables) listed by the central directory headers (``PK\\x01\\x02``, APPNOTE
    §4.3.12) in ``tail``: at most 1,000 read, names only counted, never quoted."""
    entries = executables = 0
    for match in re.finditer(rb"PK\x01\x02", tail):
        start = match.start()
        if start + 46 > len(tail):
            break
        name_length = int.from_bytes(tail[start + 28:start + 30], "little")
        name = tail[start + 46:start + 46 + name_length].decode("utf-8", "replace")
        entries += 1
        executables += bool(_EXECUTABLE_NAME.search(name))
        if entries >= 1000:
            break
    return entries, executables


def data_after_eof(data: bytes) -> tuple[int, str, bool] | None:
    """What follows the last ``%%EOF`` marker, when it is more than stray bytes.

    Returns:
        ``(bytes after the marker, description, is_a_second_file)`` when more than
        :data:`TRAILING_DATA_MIN_BYTES` bytes other than whitespace and NULs follow it, e.g.
        ``(1013, "a ZIP archive of 1 file (1 executable)", True)``; None otherwise, and for a file with
        no ``%%EOF`` at all (truncated: nothing can follow the end).
    """
    end = data.rfind(b"%%EOF")
    if end < 0:
        return None
    tail = data[end + 5:]
    payload = tail.strip(b"\x00\t\n\x0c\r ")
    if len(payload) <= TRAILING_DATA_MIN_BYTES:
        return None
    for magic, what in _APPENDED_KINDS:
        if payload.startswith(magic) or (magic.startswith(b"PK") and magic in payload[:4096]):
            if what == "a ZIP archive":
                entries, executables = _zip_contents(payload)
                if entries:
                    what += f" of {entries} file{'s' if entries != 1 else ''}"
                    if executables:
                        what += f" ({executables} executable{'s' if executables != 1 else ''})"
            return len(tail), what, True
    return len(tail), "data that is not part of the PDF", False


def inflation_signal(document_id: str, decoded: int, encoded: int, file_size: int,
                     object_number: int | None = None) -> Signal | None:
    """``pdf_stream_inflation`` (high) when a content stream inflated at least :data:`INFLATION_RATIO`
    times its encoded size over at least :data:`INFLATION_MIN_BYTES`; None otherwise.

    Args:
        document_id: ``lead_documents.id``.
        decoded: bytes the stream inflated to (a lower bound when decoding stopped at the budget).
        encoded: encoded bytes consumed to produce them.
        file_size: the PDF's size in bytes (quoted in the evidence).
        object_number: the stream's object number, when indirect.
    """
    ratio = decoded / max(1, encoded)
    if decoded < INFLATION_MIN_BYTES or ratio < INFLATION_RATIO:
        return None
    which = f"content stream {object_number} 0 R" if object_number is not None else "a content stream"
    return Signal(code="pdf_stream_inflation", severity="high",
                  evidence=(f"{which} inflates {ratio:,.0f}× (at least {decoded:,} bytes from {encoded:,}) in a "
                            f"{file_size:,}-byte file"),
                  document_id=document_id)


# --------------------------------------------------------------------------- PDF: structure


def _resolve(obj: Any) -> Any:
    get_object = getattr(obj, "get_object", None)
    return get_object() if callable(get_object) else obj


def _is_js_action(action: Any, depth: int = 0) -> bool:
    """True if an action dictionary (or its /Next chain) runs JavaScript."""
    action = _resolve(action)
    if depth > 8 or not hasattr(action, "get"):
        return False
    if action.get("/S") == "/JavaScript" or "/JS" in action:
        return True
    nxt = _resolve(action.get("/Next"))
    if nxt is None:
        return False
    items = nxt if isinstance(nxt, list) else [nxt]
    return any(_is_js_action(item, depth + 1) for item in items[:16])


def _javascript_locations(reader: PdfReader) -> list[str]:
    root = _resolve(reader.trailer["/Root"])
    where: list[str] = []
    names = _resolve(root.get("/Names"))
    if hasattr(names, "get") and names.get("/JavaScript") is not None:
        where.append("Names tree")
    open_action = _resolve(root.get("/OpenAction"))
    if hasattr(open_action, "get") and _is_js_action(open_action):
        where.append("OpenAction")
    aa = _resolve(root.get("/AA"))
    if hasattr(aa, "values") and any(_is_js_action(v) for v in list(aa.values())[:16]):
        where.append("document actions (/AA)")
    return where


def _embedded_file_count(reader: PdfReader) -> int:
    root = _resolve(reader.trailer["/Root"])
    names = _resolve(root.get("/Names"))
    if not (hasattr(names, "get") and names.get("/EmbeddedFiles") is not None):
        return 0
    count = 0
    for _ in reader.attachment_list:  # lazy: file contents are not read
        count += 1
        if count >= MAX_ATTACHMENTS_COUNTED:
            break
    return max(count, 1)  # an EmbeddedFiles tree is the finding, even if pypdf lists none


def _info_dates(reader: PdfReader) -> tuple[datetime | None, datetime | None, str | None, str | None]:
    info = reader.metadata
    if info is None:
        return None, None, None, None
    created = modified = None
    try:
        created = info.creation_date
    except Exception:  # malformed date string: no comparison possible
        created = None
    try:
        modified = info.modification_date
    except Exception:
        modified = None
    return created, modified, info.creation_date_raw, info.modification_date_raw


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _open_reader(data: bytes) -> PdfReader | None:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            reader.decrypt("")
        return reader
    except Exception as exc:
        logger.debug("pdf_signals: could not open PDF (%s)", type(exc).__name__)
        return None


def _reader_is_decrypted(reader: PdfReader) -> bool:
    """True when the reader's objects can be read (not encrypted, or decrypted already)."""
    if not reader.is_encrypted:
        return True
    from pypdf.errors import FileNotDecryptedError

    try:
        reader.trailer["/Root"].get_object()
    except FileNotDecryptedError:
        return False
    return True


def pdf_signals(document_id: str, data: bytes, reader: PdfReader | None = None, *,
                open_reader: bool = True) -> list[Signal]:
    """Forensic signals of one PDF.

    Args:
        document_id: ``lead_documents.id``, copied into each signal.
        data: the PDF's raw bytes (scanned for ``%%EOF`` markers and, when the structure cannot
            be read, for JavaScript tokens).
        reader: an open ``pypdf.PdfReader`` on ``data`` (already decrypted with the empty
            password if it was encrypted); when None one is opened here (``strict=False``),
            unless ``open_reader`` is False (the caller already failed to open it: only the
            byte-level checks run).

    Returns:
        Signals in a stable order: editing software, modified after creation, incremental
        update, data after the last ``%%EOF``, JavaScript, embedded files, encrypted. Evidence
        quotes only metadata values (producer, creator, dates) and counts.

    Never raises for a malformed or encrypted PDF: a check that cannot run is skipped (and the
    byte-level checks still run when the structure cannot be parsed at all).
    """
    if reader is None and open_reader:
        reader = _open_reader(data)
    readable: PdfReader | None = None
    if reader is not None:
        try:
            readable = reader if _reader_is_decrypted(reader) else None
        except Exception:
            readable = None
    found: list[_Found] = []
    if readable is not None:
        found += _read_safely(_editor_signals, readable, "metadata", [])
        found += _read_safely(_date_signals, readable, "dates", [])
        found += _read_safely(_print_signals, readable, "metadata", [])
    where: dict[str, Any] = {}
    revisions = _revision_signals(data, readable, where)
    if revisions and revisions[0][1] == "low":  # a metadata- or signature-only save moved ModDate: benign
        found = [(c, "low", e + "; the later save changed metadata only") if c == "pdf_modified_after_creation"
                 else (c, sev, e) for c, sev, e in found]
    found += revisions
    found += _appended_data_signals(data)
    found += _javascript_signals(readable, data)
    found += _attachment_signals(readable, data)
    found += _encryption_signals(reader, readable is not None)
    return [Signal(code=code, severity=severity, evidence=evidence, document_id=document_id,
                   **(where if code == "pdf_incremental_update" else {}))
            for code, severity, evidence in found]


_Found = tuple[str, Severity, str]
"""A signal before it is tied to its document: (code, severity, evidence)."""


def _read_safely[T](read: Callable[[PdfReader], T], reader: PdfReader, what: str, default: T) -> T:
    """``read(reader)``, or ``default`` when that part of the structure cannot be read (never an error)."""
    try:
        return read(reader)
    except Exception as exc:
        logger.debug("pdf_signals: %s unreadable (%s)", what, type(exc).__name__)
        return default


def _editor_signals(reader: PdfReader) -> list[_Found]:
    """Producer / Creator naming an editing tool (:data:`PDF_EDITORS`)."""
    info = reader.metadata
    found: list[tuple[str, str, EditorPattern]] = []
    fields = (("Producer", info.producer), ("Creator", info.creator)) if info is not None else ()
    for label, value in fields:
        editor = match_editor(str(value) if value else None, PDF_EDITORS)
        if editor is not None:
            found.append((label, short_value(value), editor))
    if not found:
        return []
    return [("pdf_editing_software", _max_severity(e.severity for _, _, e in found),
             "; ".join(f"{label}: {value}" for label, value, _ in found))]


#: Producers/creators of a "print to PDF" driver: the file is a print of what was on screen, not the issuer's
#: original (Snappt marks such bank statements UNDETERMINED). Chrome/Edge print through Skia, Windows through
#: "Microsoft: Print To PDF". macOS Quartz is not listed: Preview's own saves use it too (it is a low editor).
PRINT_TO_PDF = re.compile(r"print\s*to\s*pdf|skia/pdf|cutepdf|pdfcreator|bullzip|"
                          r"dopdf|primopdf|novapdf", re.IGNORECASE)


def _print_signals(reader: PdfReader) -> list[_Found]:
    """``pdf_print_to_pdf`` (low): the producer or creator is a print-to-PDF driver. Low: it says nothing
    of an edit, but a bank statement printed to PDF is undetermined (the original was not supplied)."""
    info = reader.metadata
    if info is None:
        return []
    for label, value in (("Producer", info.producer), ("Creator", info.creator)):
        if value and PRINT_TO_PDF.search(str(value)):
            return [("pdf_print_to_pdf", "low", f"{label}: {short_value(value)}")]
    return []


def _date_signals(reader: PdfReader) -> list[_Found]:
    """ModDate later than CreationDate by more than :data:`MODIFIED_AFTER_CREATION_THRESHOLD`."""
    created, modified, created_raw, modified_raw = _info_dates(reader)
    if created is None or modified is None:
        return []
    gap = _as_utc(modified) - _as_utc(created)
    if gap <= MODIFIED_AFTER_CREATION_THRESHOLD:
        return []
    return [("pdf_modified_after_creation", "medium",
             f"CreationDate {short_value(created_raw)}, ModDate {short_value(modified_raw)} ({gap.days} days later)")]


def _revision_signals(data: bytes, reader: PdfReader | None = None,
                      where: dict[str, Any] | None = None) -> list[_Found]:
    """Incremental updates, each classified by what it changed
    (:func:`leadeval.screening.forensics.revisions.diff_revisions`): page content, fonts or images rewritten
    → high; annotations or the page dictionary → medium; metadata or a signature only → low. Without a
    readable structure, a byte scan: medium (low when the file carries a digital signature). ``where`` receives
    the signal's field, expected/actual values and page (the revision that changed most, its first page)."""
    from leadeval.screening.forensics.revisions import diff_revisions, revision_severity

    eofs = count_eof_markers(data)
    if pdf_revision_count(data) <= 1:
        return []
    evidence = f"{eofs} %%EOF markers"
    if is_linearized(data):
        evidence += " (linearized: first-page trailer not counted)"
    revisions = diff_revisions(data, reader) if reader is not None else []
    if revisions:
        rated = [(r, *revision_severity(r)) for r in revisions]
        worst = _max_severity(sev for _, sev, _ in rated)
        total = len(revisions) + 1
        what = "; ".join(f"revision {r.number} of {total} rewrote {text}" for r, _, text in rated)
        if where is not None:  # the revision that changed most, and the first page it rewrote
            revision, _, text = next(item for item in rated if item[1] == worst)
            where.update({"field": "revision", "expected": "one revision, as issued",
                          "actual": f"revision {revision.number} rewrote {text}"[:160],
                          "page": revision.pages[0] if revision.pages else None})
        return [("pdf_incremental_update", worst, f"{evidence}: {what}")]
    severity: Severity = "medium"
    if b"/ByteRange" in data:
        severity = "low"
        evidence += "; the file carries a digital signature (signing appends a revision)"
    return [("pdf_incremental_update", severity, evidence)]


def _appended_data_signals(data: bytes) -> list[_Found]:
    """Data appended after the last ``%%EOF`` (a byte scan)."""
    appended = data_after_eof(data)
    if appended is None:
        return []
    size, what, second_file = appended
    return [("pdf_data_after_eof", "high" if second_file else "medium", f"{size:,} bytes after the last %%EOF: {what}")]


def _javascript_signals(reader: PdfReader | None, data: bytes) -> list[_Found]:
    """JavaScript in the catalog's actions or names (or, when the structure is unreadable, a token in the bytes)."""
    where: list[str] = _read_safely(_javascript_locations, reader, "catalog", []) if reader is not None else []
    if where:
        return [("pdf_javascript", "medium", "JavaScript in " + ", ".join(where))]
    if _JS_TOKEN_RE.search(data):
        return [("pdf_javascript", "medium", "JavaScript action token (/JS or /JavaScript) in the file")]
    return []


def _attachment_signals(reader: PdfReader | None, data: bytes) -> list[_Found]:
    """Embedded files (the names tree; or the ``/EmbeddedFiles`` token when the structure is unreadable)."""
    if reader is None:
        attachments = 1 if b"/EmbeddedFiles" in data else 0
    else:
        attachments = _read_safely(_embedded_file_count, reader, "names tree", 0)
    if not attachments:
        return []
    more = "+" if attachments >= MAX_ATTACHMENTS_COUNTED else ""
    return [("pdf_embedded_files", "medium",
             f"{attachments}{more} embedded file{'s' if attachments != 1 else ''} (/EmbeddedFiles)")]


def _encryption_signals(reader: PdfReader | None, readable: bool) -> list[_Found]:
    """Encryption: opened with the empty password (readable), or needing one."""
    try:
        encrypted = reader is not None and bool(reader.is_encrypted)
    except Exception:
        encrypted = False
    if not encrypted:
        return []
    return [("pdf_encrypted", "low", "encrypted; opened with the empty password" if readable
             else "encrypted; needs a password")]


# --------------------------------------------------------------------------- images


def image_signals(document_id: str, metadata: dict[str, Any]) -> list[Signal]:
    """Forensic signals of an image from the metadata :func:`prepare_document` recorded.

    Args:
        document_id: ``lead_documents.id``.
        metadata: the image's metadata; reads ``software`` (EXIF tag 0x0131 ``Software``).

    Returns:
        ``[image_edited_with_software]`` (severity of the matched editor, usually medium) when
        the Software tag names an image editor (Photoshop, GIMP, …; Inscribe's "Software"
        signal), else ``[]``.
    """
    software = metadata.get("software")
    editor = match_editor(str(software) if software else None, IMAGE_EDITORS)
    if editor is None:
        return []
    return [Signal(code="image_edited_with_software", severity=editor.severity,
                   evidence=f"EXIF Software: {short_value(software)}", document_id=document_id)]


# --------------------------------------------------------------------------- names and reuse


_SEPARATORS = re.compile(r"[\s\-‐‑‒–—_/\\.,;:]+")


def normalize_name(name: str) -> str:
    """A name folded for comparison: casefolded, accents stripped (Unicode NFKD, combining
    marks dropped), hyphens/dashes/underscores/slashes/dots/commas turned into spaces, other
    punctuation (apostrophes, quotes, parentheses) dropped, whitespace collapsed.

    ``"José  Álvarez-Núñez"`` -> ``"jose alvarez nunez"``; ``"O'Brien"`` -> ``"obrien"``.
    Letters of any script are kept (only marks and punctuation go).
    """
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    kept: list[str] = []
    for ch in decomposed:
        category = unicodedata.category(ch)
        if category.startswith("M"):  # combining accents
            continue
        if _SEPARATORS.fullmatch(ch):
            kept.append(" ")
        elif category.startswith(("L", "N")) or ch.isspace():
            kept.append(ch)
        # other punctuation and symbols are dropped
    return " ".join("".join(kept).split())


def name_hash(first_name: str, last_name: str) -> str:
    """SHA-256 hex digest of ``"<first> <last>"`` after :func:`normalize_name`, using the
    first token of ``first_name`` and the last token of ``last_name`` (middle names and
    compound-surname prefixes are ignored, so "Mary Ann" / "de la Cruz" hash as
    "mary cruz"). An empty part contributes an empty token.

    Only this hash is stored in the shared fingerprint index (no names, no tenant data).
    """
    first_tokens = normalize_name(first_name).split()
    last_tokens = normalize_name(last_name).split()
    first = first_tokens[0] if first_tokens else ""
    last = last_tokens[-1] if last_tokens else ""
    return hashlib.sha256(f"{first} {last}".encode()).hexdigest()


def identity_hash(facts: ExtractedFacts | None) -> str | None:
    """A hash of what a document *says* (its extracted identity), so that the same pay stub re-exported,
    re-scanned or re-typed under another name is recognised without keeping any of its content.

    Pay stub: employer (:func:`~leadeval.screening.validation.employer_key`) + pay date (else period end) +
    gross + net. Bank statement: period end + opening + closing balance. Tax form: employer + document date
    + annual income (or Social Security wages). Amounts are normalised to cents. None when the document
    states too little to be told apart (an employer or a date missing, fewer than two amounts).

    Returns:
        ``"identity:"`` + SHA-256 hex digest (the prefix keeps it apart from file hashes in the shared
        index, ``leadeval_fingerprints.file_sha256``).
    """
    from leadeval.models import DocumentKind, to_cents
    from leadeval.screening.validation import employer_key

    if facts is None:
        return None
    parts: list[str | int | None]
    kind = facts.document_kind
    if kind == DocumentKind.PAY_STUB:
        on = facts.pay_date or facts.pay_period_end
        parts = [employer_key(facts.employer), on.isoformat() if on else None, to_cents(facts.gross_pay),
                 to_cents(facts.net_pay)]
    elif kind == DocumentKind.BANK_STATEMENT:
        on = facts.statement_period_end
        parts = [on.isoformat() if on else None, to_cents(facts.opening_balance), to_cents(facts.closing_balance)]
    elif kind == DocumentKind.TAX_FORM:
        on = facts.document_date
        parts = [employer_key(facts.employer), on.isoformat() if on else None,
                 to_cents(facts.annual_income if facts.annual_income is not None else facts.social_security_wages)]
    else:
        return None
    if any(p is None for p in parts):
        return None
    text = "|".join(["identity-v1", kind.value, *(str(p) for p in parts)])
    return "identity:" + hashlib.sha256(text.encode()).hexdigest()


#: The words every reuse finding starts with (Issue 13: the signal is "also submitted by another applicant").
REUSE_WORDING = "also submitted by another applicant"


def reuse_signals(document_id: str, file_sha256: str, applicant_name_hash: str,
                  prior: Sequence[PriorSubmission], *, identity: str | None = None,
                  name_matches_applicant: bool | None = None) -> list[Signal]:
    """``document_reused`` (medium) when this exact file (same SHA-256 of the bytes) or the same extracted
    identity (:func:`identity_hash`) was submitted with a DIFFERENT applicant name hash, before or after
    this applicant: every such evaluation goes to review, whoever came first. The same name hash (the
    applicant re-applying, or a re-run) gives nothing. Reuse alone never makes a document edited nor an
    application declined (:mod:`leadeval.screening.forensics.verdict`).

    Args:
        document_id: ``lead_documents.id``.
        file_sha256: hex digest of the document's bytes.
        applicant_name_hash: :func:`name_hash` of the current applicant.
        prior: submissions from :meth:`~leadeval.ports.JobStore.prior_submissions` (may include other
            hashes; they are ignored).
        identity: the document's :func:`identity_hash`, when it has one.
        name_matches_applicant: whether a name printed on the document matches the current applicant
            (None when no name was read): the evidence says so, since the current applicant may be the
            document's owner.

    The idea is DocuClipper's duplicate fingerprints and Inscribe's network detection; the evidence holds
    counts only.
    """
    same_file = {p.name_hash for p in prior if p.file_sha256 == file_sha256 and p.name_hash != applicant_name_hash}
    same_identity = ({p.name_hash for p in prior if p.file_sha256 == identity and p.name_hash != applicant_name_hash}
                     if identity else set())
    others = same_file | same_identity
    if not others:
        return []
    n = len(others)
    what = "the same file" if same_file else "a document stating the same employer, date and amounts"
    evidence = f"{REUSE_WORDING}: {what} came with {n} other applicant name{'s' if n != 1 else ''}"
    if name_matches_applicant is True:
        evidence += "; the name printed on the document matches this applicant"
    elif name_matches_applicant is False:
        evidence += "; the name printed on the document does not match this applicant"
    return [Signal(code="document_reused", severity="medium", evidence=evidence, document_id=document_id,
                   field="file" if same_file else "identity")]


def with_reuse(results: Sequence[DocumentResult], first_name: str, last_name: str,
               lookup: Callable[[list[str]], Sequence[PriorSubmission]]) -> list[DocumentResult]:
    """``results`` with :func:`reuse_signals` added to each document that was submitted with another applicant
    name (same file, or same extracted identity), looked up in ONE call of ``lookup`` (the store's
    ``prior_submissions``) over every file and identity hash. Unreadable documents keep their file check.
    The lead's name is used only to hash it and to say whether the name printed on the document matches."""
    from leadeval.screening.validation import names_match

    identities = {r.document_id: identity_hash(r.facts) for r in results}
    wanted = reuse_hashes(results)
    if not wanted:
        return list(results)
    prior = lookup(wanted)
    applicant = name_hash(first_name, last_name)
    out = []
    for r in results:
        shown = r.facts.names_shown if r.facts is not None else []
        matches = any(names_match(first_name, last_name, n) for n in shown) if shown else None
        found = reuse_signals(r.document_id, r.sha256 or "", applicant, prior,
                              identity=identities[r.document_id], name_matches_applicant=matches) if r.sha256 else []
        out.append(r.model_copy(update={"signals": [*r.signals, *found]}) if found else r)
    return out


def reuse_hashes(results: Sequence[DocumentResult]) -> list[str]:
    """The hashes :func:`with_reuse` looks up for ``results``: each document's file hash and extracted identity
    hash (:func:`identity_hash`), in document order, without repeats (hex strings; empty when none)."""
    wanted: list[str] = []
    for r in results:
        wanted += [h for h in (r.sha256, identity_hash(r.facts)) if h]
    return list(dict.fromkeys(wanted))


def fingerprints_of(documents: Sequence[DocumentResult], first_name: str, last_name: str) -> list[PriorSubmission]:
    """What the shared index keeps of an evaluation: for every readable document, its file hash and its
    extracted identity hash (:func:`identity_hash`), each with the applicant's :func:`name_hash`. Every
    submission is indexed, reused or not, so whoever comes first or later is compared with the others."""
    from leadeval.models import Verdict

    applicant = name_hash(first_name, last_name)
    out: list[PriorSubmission] = []
    for d in documents:
        if not d.sha256 or d.verdict == Verdict.UNREADABLE:
            continue
        out.append(PriorSubmission(file_sha256=d.sha256, name_hash=applicant))
        identity = identity_hash(d.facts)
        if identity:
            out.append(PriorSubmission(file_sha256=identity, name_hash=applicant))
    return out
