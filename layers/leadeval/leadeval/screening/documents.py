"""Document preparation: sniff, bound, decode, render, and run the forensics.

:func:`prepare_document` turns one document's bytes into a
:class:`~leadeval.models.PreparedDocument` for the vision model:

- the real type is sniffed from magic bytes (:func:`sniff_type`), never from the file name or
  the stored MIME type;
- PDFs: the text layer is extracted with each word's box (``layout``, :mod:`leadeval.screening.layout`),
  pages without one (and page 1) are rendered to JPEG;
- images (JPEG, PNG, WebP, HEIC/HEIF, TIFF): EXIF orientation applied, metadata dropped,
  converted to RGB, downscaled so the long side is at most 1120 px, re-encoded as JPEG;
- forensic signals (:mod:`leadeval.screening.fraud`) are attached.

It never raises for bad input: whatever goes wrong becomes ``unreadable_reason`` (a short
message with sizes, counts and exception class names, never document text), and the document
gets the verdict `unreadable` while the job carries on.

Memory and time: every document is prepared within a budget, checked before the expensive step, and a
document over it is `unreadable` with the reason (sizes and counts) while the job goes on:

- bytes first (``max_bytes``), then, for a PDF, the objects its cross-reference data claims
  (``max_pdf_objects``, from the raw bytes, before pypdf reads them), the page tree walked with a
  cycle guard (``max_pages``), and each page's content streams decompressed in bounded chunks and
  scanned (``max_content_bytes`` in all, ``max_page_operators`` and ``max_page_text_operators`` per
  page, forms counted each time they are drawn) before PDFium loads a page
  (:mod:`leadeval.screening.pdf_budget`);
- for an image, the size from its header (PNG, WebP and JPEG headers are read here, before Pillow
  allocates anything), then the pixels (``max_image_pixels``), the frames (``max_image_frames``;
  only the first is used) and the bytes the decoder will hold (``max_decoded_image_bytes``: width ×
  height × bytes per pixel of the decoded mode × the copies the format's decoder makes, e.g. four
  for WebP, plus a progressive JPEG's coefficient buffers). JPEGs are decoded at a reduced DCT scale
  (``Image.draft``); large images, and HEIF planes as pillow-heif decodes them, are reduced band by
  band;
- ``time_budget_seconds`` per document, checked between steps (before the PDF census, each page's
  text extraction and rendering, an image's decode); the budgets above bound each step.

Measured (``make bench-hostile``, ``docs/benchmarks.md``, "Hostile documents"): the whole
``leadeval evaluate`` process peaks at about 200 MB on a clean one-page pay stub; before these checks a
48 KB PDF of 4 million text-show operators took 2.4 GB, a 1 MB PDF inflating to 1 GiB 2.3 GB and a
16383×3050 WebP 950 MB. With them every hostile input tried stays at about the pay stub's peak, and
the most the budgets let through (an RGB PNG just under ``max_decoded_image_bytes``) reaches 1.8 times
it. (The earlier note here, that preparation "stays well under Lambda's 512 MB", did not hold for
such inputs.)

Heavy libraries (pypdf, pypdfium2, Pillow, pillow_heif) are imported inside the functions
that need them, so importing this module costs nothing at a worker's cold start.

Threads: :func:`prepare_document` may be called from several threads; PDFium (not
thread-safe) is serialized behind a process-wide lock, pypdf and Pillow work per object.
"""

from __future__ import annotations

import codecs
import dataclasses
import hashlib
import io
import logging
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from leadeval.models import PageImages, PageLayout, PageRenderer, PreparedDocument, Signal
from leadeval.screening.forensics import page_signals
from leadeval.screening.forensics.content import MAX_CONTENT_PAGES, MAX_PAGE_TESTS, PageContent, read_page
from leadeval.screening.fraud import (
    count_eof_markers,
    image_signals,
    inflation_signal,
    is_linearized,
    pdf_signals,
    short_value,
)
from leadeval.screening.layout import words_from_textpage
from leadeval.screening.pdf_budget import (
    ContentCensus,
    Deadline,
    OverBudget,
    check_object_claims,
    count_objects,
    measure_content,
    walk_pages,
)
from leadeval.screening.pdfium_lock import PDFIUM_LOCK

if TYPE_CHECKING:  # pragma: no cover - typing only
    from PIL import Image as PILImage

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DocumentLimits:
    """Bounds on what :func:`prepare_document` accepts and produces.

    Attributes:
        max_bytes: bytes per document; larger is unreadable ("too large").
        max_pages: pages per PDF; more is unreadable ("too many pages").
        max_image_pixels: pixels (width × height) per image, read from the header and refused
            before decoding. Pillow's own ``Image.MAX_IMAGE_PIXELS`` (≈89.5 Mpx, its
            decompression-bomb threshold) caps it too, so Pillow's bomb warning can never be
            reached by an image we decode.
        long_side_px: longest side of every output image, in pixels. Llama 3.2 Vision tiles
            images at 560 px, at most 2×2 tiles (Llama 3.2 Vision model card), so 1120.
        max_rendered_pages: PDF pages rendered to images for the model.
        min_text_chars: a PDF page with fewer extracted non-blank characters has "no text
            layer" (scans, photos, or a stray page number).
        max_text_chars: the joined text layer is cut at this many characters (a 25 MB text
            PDF would otherwise flood the model's context); ``metadata["text_truncated"]``
            says when it happened.
        jpeg_quality: quality of the JPEGs produced (Pillow scale 1–95).
        max_pdf_objects: objects a PDF's cross-reference data may claim or hold.
        max_content_bytes: decompressed bytes of a PDF's content streams (pages, forms, glyph
            procedures, patterns, annotation appearances; each stream once).
        max_page_operators: content operators one page may make PDFium build (a form counts each
            time it is drawn).
        max_page_text_operators: text-show operators (``Tj``, ``TJ``, ``'``, ``"``) per page, same rule;
            PDFium keeps about 570 bytes per text-show operator (170 per other operator), and its
            text extraction is quadratic in the text objects of a line drawn out of order (20,000:
            3.3 s), which bounds how long one page can take.
        max_decoded_image_bytes: bytes an image's decoder may hold (see the module docstring).
        max_image_frames: frames (pages) of a TIFF, animated WebP/PNG or HEIF sequence; only the
            first is used.
        time_budget_seconds: time per document, checked between steps (seconds).
        page_forensics: run the page-content checks (:func:`~leadeval.screening.forensics.page_signals`);
            False where only the pages are wanted (the report's thumbnails), recorded in
            ``metadata["page_forensics"]``.
    """

    max_bytes: int = 25 * 1024 * 1024
    max_pages: int = 30
    max_image_pixels: int = 50_000_000
    long_side_px: int = 1120
    max_rendered_pages: int = 3
    min_text_chars: int = 40
    max_text_chars: int = 200_000
    jpeg_quality: int = 85
    max_pdf_objects: int = 100_000
    max_content_bytes: int = 16 * 1024 * 1024
    max_page_operators: int = 200_000
    max_page_text_operators: int = 20_000
    max_decoded_image_bytes: int = 128 * 1024 * 1024
    max_image_frames: int = 30
    time_budget_seconds: float = 10.0
    page_forensics: bool = True

    @classmethod
    def from_settings(cls, settings: Any) -> DocumentLimits:
        """The limits a :class:`leadeval.config.Settings` sets (``LEADEVAL_MAX_DOCUMENT_BYTES``,
        ``LEADEVAL_MAX_PDF_*``, ``LEADEVAL_MAX_IMAGE_*``, ``LEADEVAL_MAX_DECODED_IMAGE_BYTES``,
        ``LEADEVAL_DOCUMENT_BUDGET_SECONDS``); the rest keep their defaults."""
        return cls(max_bytes=settings.max_document_bytes, max_pages=settings.max_pdf_pages,
                   max_image_pixels=settings.max_image_pixels, max_pdf_objects=settings.max_pdf_objects,
                   max_content_bytes=settings.max_pdf_content_bytes,
                   max_page_operators=settings.max_pdf_page_operators,
                   max_page_text_operators=settings.max_pdf_page_text_operators,
                   max_decoded_image_bytes=settings.max_decoded_image_bytes,
                   max_image_frames=settings.max_image_frames,
                   time_budget_seconds=float(settings.document_budget_seconds))


#: Types prepare_document can use.
SUPPORTED_TYPES = frozenset({"pdf", "jpeg", "png", "webp", "heic", "tiff"})

#: Human descriptions of sniffed types, used in "unsupported file type: …".
TYPE_DESCRIPTIONS: dict[str, str] = {
    "pdf": "PDF document",
    "jpeg": "JPEG image",
    "png": "PNG image",
    "webp": "WebP image",
    "heic": "HEIC/HEIF image",
    "tiff": "TIFF image",
    "gif": "GIF image",
    "bmp": "BMP image",
    "svg": "SVG image",
    "zip": "ZIP archive (e.g. a Word/Excel file)",
    "text": "plain text",
    "unknown": "unrecognized binary data",
}

#: Pillow format names to try for each supported image type (the sniffed type decides the
#: decoder: a JPEG named .png is opened as JPEG, and nothing else is attempted).
_PIL_FORMATS: dict[str, tuple[str, ...]] = {
    "jpeg": ("JPEG",),
    "png": ("PNG",),
    "webp": ("WEBP",),
    "tiff": ("TIFF",),
    "heic": ("HEIF", "AVIF"),
}

#: ISO BMFF ``ftyp`` brands of HEIF-family images (ISO/IEC 23008-12 and the AVIF spec).
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs",
                          b"mif1", b"msf1", b"avif", b"avis"})

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_BMP_DIB_HEADER_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})
_PDF_HEADER_WINDOW = 1024  # ISO 32000-1 §7.5.2 readers accept the header within the first 1 KiB
_EXC_MESSAGE_CHARS = 80
_SVG_ELEMENT = re.compile(rb"<svg[\s>]", re.IGNORECASE)


# --------------------------------------------------------------------------- sniffing


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        decoded = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    if not decoded:
        return False
    printable = sum(1 for ch in decoded if ch.isprintable() or ch in "\r\n\t\f")
    return printable / len(decoded) >= 0.95


def sniff_type(data: bytes) -> str:
    """The file's type from its magic bytes (never its name or stored MIME type).

    Returns one of ``"pdf"``, ``"jpeg"``, ``"png"``, ``"webp"``, ``"heic"`` (any HEIF-family
    ``ftyp`` brand: heic, heix, mif1, avif, …), ``"tiff"`` (classic and BigTIFF), ``"gif"``,
    ``"bmp"``, ``"zip"`` (including Office documents), ``"svg"`` (text whose first 4 KiB hold an
    ``<svg`` element; never parsed, so its entities are never resolved), ``"text"`` (UTF-8 without
    NULs) or ``"unknown"`` (also for empty input). ``%PDF-`` is accepted anywhere in the first 1 KiB,
    as PDF readers do.
    """
    head = data[:4096]
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(_PNG_MAGIC):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp" and len(head) >= 12:
        box_size = int.from_bytes(head[:4], "big")
        brands = {head[8:12]}
        end = min(box_size, len(head)) if box_size >= 16 else 16
        brands.update(head[i:i + 4] for i in range(16, end - 3, 4))
        if brands & _HEIF_BRANDS:
            return "heic"
        return "unknown"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:2] == b"BM" and len(head) >= 18 and int.from_bytes(head[14:18], "little") in _BMP_DIB_HEADER_SIZES:
        return "bmp"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return "zip"
    if b"%PDF-" in head[:_PDF_HEADER_WINDOW]:
        return "pdf"
    if _looks_like_text(head):
        return "svg" if _SVG_ELEMENT.search(head) else "text"
    return "unknown"


# --------------------------------------------------------------------------- helpers


def _exc_summary(exc: BaseException) -> str:
    """``Class: message`` cut short, one line (parser messages name offsets and objects)."""
    cause: BaseException | None = exc
    for _ in range(8):  # pypdf wraps the RecursionError of deeply nested objects in a PdfReadError
        if cause is None:
            break
        if isinstance(cause, RecursionError):
            return "RecursionError: objects nested too deeply"
        cause = cause.__cause__ or cause.__context__
    message = short_value(exc, _EXC_MESSAGE_CHARS) if str(exc) else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


_heif_lock = threading.Lock()
_heif_registered = False


def _register_heif() -> None:
    """Register pillow-heif's HEIF opener with Pillow, once per process."""
    global _heif_registered
    with _heif_lock:
        if not _heif_registered:
            import pillow_heif

            pillow_heif.register_heif_opener()
            _heif_registered = True


def _to_rgb(image: PILImage.Image) -> PILImage.Image:
    """RGB copy of ``image``: transparency flattened onto white, 16-bit/float greys scaled."""
    from PIL import Image

    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I", "F") or mode.startswith("I;16"):
        grey = image.convert("I") if mode.startswith("I;16") else image
        return grey.point(lambda v: v * (1 / 256)).convert("L").convert("RGB")
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _jpeg_bytes(image: PILImage.Image, quality: int) -> bytes:
    """``image`` (RGB) encoded as a baseline JPEG with no EXIF, XMP or ICC metadata."""
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality, optimize=True)
    return out.getvalue()


def _fit(width: int, height: int, long_side: int) -> tuple[int, int]:
    """``(width, height)`` scaled down (never up) so the longer side is at most ``long_side``."""
    longest = max(width, height)
    if longest <= long_side:
        return width, height
    scale = long_side / longest
    return max(1, math.floor(width * scale)), max(1, math.floor(height * scale))


def _thumbnail_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    """The size ``Image.thumbnail((long_side, long_side))`` gives (Pillow's aspect-preserving rounding),
    for resampling into a new image without modifying the source."""
    aspect = width / height
    x = y = long_side
    if x / y >= aspect:
        x = max(min(math.floor(y * aspect), math.ceil(y * aspect), key=lambda n: abs(aspect - n / y)), 1)
    else:
        y = max(min(math.floor(x / aspect), math.ceil(x / aspect),
                    key=lambda n: 0 if n == 0 else abs(aspect - x / n)), 1)
    return x, y


# --------------------------------------------------------------------------- entry point


def prepare_document(document_id: str, data: bytes, *,
                     limits: DocumentLimits = DocumentLimits()) -> PreparedDocument:
    """Prepare one document for extraction.

    Args:
        document_id: ``lead_documents.id`` (copied into the result and its signals).
        data: the document's bytes, as stored.
        limits: size, page and pixel bounds (:class:`DocumentLimits`).

    Returns:
        A :class:`~leadeval.models.PreparedDocument` with ``detected_type``, ``sha256`` (hex of
        ``data``) and ``size_bytes`` always set. When usable: ``page_count``, ``text`` (PDF
        text layer, pages separated by form feeds ``"\\f"``; None when no page has
        ``min_text_chars``), ``page_images`` (JPEG bytes, long side <= ``long_side_px``),
        ``metadata`` and ``signals``. When not: ``unreadable_reason`` (then ``text`` is None and
        ``page_images`` empty; forensic signals found before the failure are kept).

    Never raises for bad input: any exception while parsing becomes ``unreadable_reason``, and so
    does a budget exceeded (``limits``: the reason names the budget, e.g. "PDF page too complex:
    page 1 draws more than 20,000 text-show operators (limit 20,000)", "image too large to decode:
    …", "preparation over its time budget: …").
    """
    doc = PreparedDocument(document_id=document_id, detected_type=sniff_type(data),
                           sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data))
    deadline = Deadline(limits.time_budget_seconds)
    try:
        if not data:
            doc.unreadable_reason = "empty file"
        elif len(data) > limits.max_bytes:
            doc.unreadable_reason = f"too large: {len(data)} bytes (limit {limits.max_bytes})"
        elif doc.detected_type == "pdf":
            _prepare_pdf(doc, data, limits, deadline)
        elif doc.detected_type in _PIL_FORMATS:
            _prepare_image(doc, data, limits, deadline)
        else:
            doc.unreadable_reason = f"unsupported file type: {TYPE_DESCRIPTIONS[doc.detected_type]}"
    except OverBudget as over:
        doc.unreadable_reason = str(over)
    except Exception as exc:  # never raise for bad input, whatever the parser throws
        if doc.detected_type == "pdf":
            what = "corrupt PDF"
        else:
            what = f"unreadable {TYPE_DESCRIPTIONS.get(doc.detected_type, doc.detected_type)}"
        doc.unreadable_reason = f"{what}: {_exc_summary(exc)}"
        logger.info("document preparation failed", extra={"document_id": document_id,
                                                          "detected_type": doc.detected_type,
                                                          "error": type(exc).__name__})
    if doc.unreadable_reason is not None:
        doc.text = None
        doc.page_images = []
    logger.info("document prepared", extra={
        "document_id": document_id, "detected_type": doc.detected_type, "size_bytes": doc.size_bytes,
        "page_count": doc.page_count, "images": doc.image_count,
        "has_text": doc.text is not None, "unreadable": doc.unreadable_reason is not None,
        "signals": [s.code for s in doc.signals], "prepare_ms": round(deadline.elapsed() * 1000)})
    return doc


# --------------------------------------------------------------------------- PDFs


def _pdf_metadata(reader: Any, data: bytes) -> dict[str, Any]:
    """Producer, creator, raw dates, version, encryption and revision markers (no author/title:
    they may name a person)."""
    meta: dict[str, Any] = {
        "pdf_version": short_value(getattr(reader, "pdf_header", "") or "", 16),
        "is_encrypted": bool(reader.is_encrypted),
        "eof_markers": count_eof_markers(data),
        "linearized": is_linearized(data),
    }
    try:
        info = reader.metadata
        fields = () if info is None else (
            ("producer", info.producer), ("creator", info.creator),
            ("creation_date", info.creation_date_raw), ("mod_date", info.modification_date_raw))
        for key, value in fields:
            if value:
                meta[key] = short_value(value, 200)
    except Exception as exc:  # a broken /Info dictionary must not make the pages unreadable
        meta["info_error"] = type(exc).__name__
    return meta


def _pypdf_limits(limits: DocumentLimits) -> dict[str, Any]:
    """pypdf's own output limits (``pypdf.Configuration``), tightened to this document's budgets for
    everything pypdf decodes itself: cross-reference and object streams, metadata, name trees."""
    cap = limits.max_content_bytes
    return {"zlib_maximum_output_length": cap, "lzw_maximum_output_length": cap,
            "run_length_maximum_output_length": cap, "brotli_maximum_output_length": cap,
            "jbig2_maximum_output_length": cap, "array_based_stream_maximum_output_length": cap,
            "stream_decoding_work_maximum_length": 4 * cap, "maximum_declared_stream_length": limits.max_bytes,
            "xmp_maximum_input_length": min(cap, 5_000_000)}


def _cannot_decrypt(doc: PreparedDocument, data: bytes, exc: BaseException) -> None:
    """An encrypted PDF pypdf cannot decrypt for want of a dependency (AES needs the ``cryptography``
    package, which the layer pins): unreadable, saying so, with the ``pdf_encrypted`` signal."""
    doc.unreadable_reason = ("encrypted PDF: a dependency needed to decrypt it is missing "
                             f"({short_value(exc, _EXC_MESSAGE_CHARS)})")
    doc.metadata = {"is_encrypted": True, "eof_markers": count_eof_markers(data)}
    doc.signals.append(Signal(code="pdf_encrypted", severity="low", document_id=doc.document_id,
                              evidence="encrypted; cannot be decrypted here (missing dependency)"))


def _prepare_pdf(doc: PreparedDocument, data: bytes, limits: DocumentLimits, deadline: Deadline) -> None:
    """Fill ``doc`` from a PDF (see :func:`prepare_document`). Raises on parser failures (the caller
    turns them into "corrupt PDF: …") and :class:`OverBudget`."""
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its recoverable-structure warnings hold no finding
    from pypdf import apply_configuration

    doc.signals = pdf_signals(doc.document_id, data, None, open_reader=False)  # byte-level, kept if refused
    check_object_claims(data, limits.max_pdf_objects)
    with apply_configuration(**_pypdf_limits(limits)):
        _prepare_pdf_structure(doc, data, limits, deadline)


def _prepare_pdf_structure(doc: PreparedDocument, data: bytes, limits: DocumentLimits,
                           deadline: Deadline) -> None:
    from pypdf import PasswordType, PdfReader
    from pypdf.errors import DependencyError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
    except DependencyError as exc:  # pypdf tries the empty password while opening
        _cannot_decrypt(doc, data, exc)
        return
    except Exception as exc:
        doc.unreadable_reason = f"corrupt PDF: {_exc_summary(exc)}"
        return
    objects = count_objects(reader)
    if objects > limits.max_pdf_objects:
        raise OverBudget(f"too many objects: {objects:,} (limit {limits.max_pdf_objects:,})")

    encrypted = bool(reader.is_encrypted)
    if encrypted:
        try:
            opened = reader.decrypt("")
        except DependencyError as exc:
            _cannot_decrypt(doc, data, exc)
            return
        if opened == PasswordType.NOT_DECRYPTED:
            doc.unreadable_reason = "password-protected PDF"
            doc.metadata = {"is_encrypted": True, "eof_markers": count_eof_markers(data)}
            doc.signals = pdf_signals(doc.document_id, data, reader)
            return

    doc.metadata = _pdf_metadata(reader, data)
    doc.signals = pdf_signals(doc.document_id, data, reader)
    doc.metadata["objects"] = objects

    # Page count: the page tree's /Count first (cheap, before walking a huge tree) ...
    catalog: Any = reader.trailer["/Root"]
    tree_root = catalog["/Pages"]
    claimed: Any = tree_root.get("/Count") if hasattr(tree_root, "get") else None
    claimed = claimed.get_object() if hasattr(claimed, "get_object") else claimed
    if isinstance(claimed, int) and claimed > limits.max_pages:
        doc.metadata["page_count"] = int(claimed)
        doc.unreadable_reason = f"too many pages: {int(claimed)} (limit {limits.max_pages})"
        return
    # ... then the real number, walking the tree (the /Count may lie; the tree may loop).
    tree = walk_pages(catalog, max_pages=limits.max_pages, max_nodes=max(1000, 10 * limits.max_pages))
    doc.metadata["page_count"] = tree.count
    if tree.count > limits.max_pages:
        told = f"; the page tree's /Count says {tree.claimed}" if tree.claimed is not None else ""
        doc.unreadable_reason = f"too many pages: {tree.count} (limit {limits.max_pages}{told})"
        return
    if tree.count == 0:
        doc.unreadable_reason = "corrupt PDF: no pages"
        return

    # What PDFium would build, measured before it loads a page.
    deadline.check("measuring the page contents")
    census = measure_content(tree.pages, max_content_bytes=limits.max_content_bytes,
                             max_page_operators=limits.max_page_operators,
                             max_page_text_operators=limits.max_page_text_operators, deadline=deadline)
    doc.metadata["content_bytes"] = census.decoded_bytes
    doc.metadata["max_page_operators"] = max(census.page_operators, default=0)
    doc.metadata["max_page_text_operators"] = max(census.page_text_operators, default=0)
    if census.inflation is not None:
        signal = inflation_signal(doc.document_id, census.inflation.decoded, census.inflation.encoded,
                                  len(data), census.inflation.object_number)
        if signal is not None:
            doc.signals.append(signal)
    if census.over_budget:
        doc.unreadable_reason = census.over_budget
        return

    doc.page_count = tree.count
    forensics = _forensics_wanted(doc, census, limits)
    # The page forensics read what PDFium built while it loads the first pages for their text (no second
    # parse); they run even when PDFium stops part-way, on the pages read until then.
    contents: list[PageContent] | None = [] if forensics else None
    try:
        _pdf_text_and_images(doc, data, limits, tree.count, "" if encrypted else None, deadline, contents)
    finally:
        if contents is not None:
            _page_forensics(doc, reader, contents, deadline)


def _forensics_wanted(doc: PreparedDocument, census: ContentCensus, limits: DocumentLimits) -> bool:
    """Whether the page checks run on this document (issue 13): within the forensics budget and asked for;
    when not, ``metadata["page_forensics"]`` says why."""
    if (census.decoded_bytes > FORENSICS_MAX_CONTENT_BYTES
            or max(census.page_operators, default=0) > FORENSICS_MAX_PAGE_OPERATORS):
        doc.metadata["page_forensics"] = "skipped: content over the forensics budget"
        return False
    if not limits.page_forensics:
        doc.metadata["page_forensics"] = "skipped: not asked for"
        return False
    return True


def _page_forensics(doc: PreparedDocument, reader: Any, contents: list[PageContent], deadline: Deadline) -> None:
    """Add the page checks' signals to ``doc`` (:func:`~leadeval.screening.forensics.page_signals`), unless the
    time budget is already spent; a page they could not finish, or checks not run, are recorded in
    ``metadata["page_forensics"]`` (a missing finding then means "not checked", as for a document over the
    forensics budget)."""
    if deadline.elapsed() > deadline.seconds:
        doc.metadata["page_forensics"] = "skipped: the time budget was spent before the page checks"
        return
    doc.signals += page_signals(doc.document_id, reader, contents)
    unfinished = [page.number for page in contents if page.incomplete]
    if unfinished:
        doc.metadata["page_forensics"] = (f"incomplete: page {unfinished[0]} draws more boxes over text than the "
                                          f"checks examine ({MAX_PAGE_TESTS:,} text-in-box tests)")


#: Page-content forensics (:func:`leadeval.screening.forensics.page_signals`) run only on documents whose decoded
#: content is at most this many bytes in all (a screening document's pages hold a few tens of KB); above it
#: the skip is recorded in ``metadata["page_forensics"]`` (absence of a finding then means "not checked").
FORENSICS_MAX_CONTENT_BYTES = 256 * 1024
#: ... and draw at most this many operators on any page (forms counted each time they are drawn).
FORENSICS_MAX_PAGE_OPERATORS = 20_000


def _pdf_text_and_images(doc: PreparedDocument, data: bytes, limits: DocumentLimits, page_count: int,
                         password: str | None, deadline: Deadline, contents: list[PageContent] | None) -> None:
    """Extract the text layer and render pages with PDFium (one open document for both),
    holding :data:`~leadeval.screening.pdfium_lock.PDFIUM_LOCK` from open to close; when ``contents`` is a
    list, what each of the first :data:`~leadeval.screening.forensics.content.MAX_CONTENT_PAGES` pages draws is
    appended to it (:func:`~leadeval.screening.forensics.content.read_page`) while the page is loaded. Raises
    :class:`OverBudget` when the time budget is spent before a page is loaded."""
    with PDFIUM_LOCK:
        _pdfium_work(doc, data, limits, page_count, password, deadline, contents)


def _read_content(contents: list[PageContent], page: Any, textpage: Any, index: int) -> None:
    """Append page ``index``'s content to ``contents``; a page PDFium cannot read this way is skipped."""
    try:
        contents.append(read_page(page, textpage, index + 1))
    except Exception as exc:  # a malformed page holds no finding of its own here
        logger.debug("content: page %d unreadable (%s)", index + 1, type(exc).__name__)


def _pdfium_work(doc: PreparedDocument, data: bytes, limits: DocumentLimits, page_count: int,
                 password: str | None, deadline: Deadline, contents: list[PageContent] | None) -> None:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(data, password=password)
    try:
        pdf.init_forms()  # draw filled-in AcroForm fields (W-2s, VOEs) when rendering
        n = min(page_count, len(pdf))
        texts: list[str] = []
        layouts: list[PageLayout] = []
        for index in range(n):
            deadline.check(f"extracting the text of page {index + 1}")
            page = pdf[index]
            try:
                textpage = page.get_textpage()
                try:
                    raw = textpage.get_text_bounded()
                    width_pt, height_pt = page.get_size()
                    words = words_from_textpage(textpage, width_pt, height_pt)
                    if contents is not None and index < MAX_CONTENT_PAGES:
                        _read_content(contents, page, textpage, index)
                finally:
                    textpage.close()
            finally:
                page.close()
            texts.append(raw.replace("\r\n", "\n").replace("\r", "\n").strip())
            layouts.append(PageLayout(page=index + 1, how="text_layer", words=words))

        has_text = [len("".join(t.split())) >= limits.min_text_chars for t in texts]
        doc.metadata["text_pages"] = sum(has_text)
        if any(has_text):
            joined = "\f".join(texts)
            if len(joined) > limits.max_text_chars:
                joined = joined[: limits.max_text_chars]
                doc.metadata["text_truncated"] = True
            doc.text = joined
            doc.layout = [layout for layout, text in zip(layouts, has_text, strict=True) if text]

        # Page 1 always (a vision model may want to look at it even when it has text), then
        # the pages without a text layer, in order, up to max_rendered_pages.
        wanted = [0] + [i for i in range(1, n) if not has_text[i]]
        wanted = wanted[: limits.max_rendered_pages]
        rendered: list[int] = []
        errors: list[str] = []
        images: dict[int, bytes | None] = {}
        if doc.text is None:
            # No text layer: the images are all a reader has, so they are rendered now, within the time
            # budget (a document none of whose pages renders is unreadable). With a text layer they are
            # rendered only when a reader asks (PageImages), most often never.
            for index in wanted:
                deadline.check(f"rendering page {index + 1}")
                try:
                    images[index] = _render_page(pdf, index, limits)
                    rendered.append(index + 1)
                except Exception as exc:
                    images[index] = None
                    errors.append(f"page {index + 1}: {_exc_summary(exc)}")
        else:
            rendered = [index + 1 for index in wanted]
        doc.metadata["rendered_pages"] = rendered
        if errors:
            doc.metadata["render_errors"] = errors
        doc.page_images = PageImages(wanted, _pdf_page_renderer(data, password, limits, n), doc.metadata,
                                     _exc_summary, rendered=images, page_count=n)
        if doc.text is None and not rendered:
            reason = errors[0] if errors else "no pages rendered"
            doc.unreadable_reason = f"corrupt PDF: no text layer and pages could not be rendered ({reason})"
    finally:
        pdf.close()


def _pdf_page_renderer(data: bytes, password: str | None, limits: DocumentLimits,
                       page_count: int) -> PageRenderer:
    """``render(index, long_side_px)`` for :class:`~leadeval.models.PageImages`: opens the PDF with PDFium
    (under :data:`~leadeval.screening.pdfium_lock.PDFIUM_LOCK`), renders page ``index`` (0-based) to fit
    ``long_side_px`` (None: the limits' ``long_side_px``) and closes it. Raises IndexError for a page the
    document does not have, and whatever PDFium raises for a page it cannot draw. Keeps a reference to ``data``
    until the document is dropped."""

    def render(index: int, long_side_px: int | None) -> bytes:
        if not 0 <= index < page_count:
            raise IndexError(f"no page {index + 1} (the document has {page_count})")
        import pypdfium2 as pdfium

        sized = limits if long_side_px is None else dataclasses.replace(limits, long_side_px=int(long_side_px))
        with PDFIUM_LOCK:
            pdf = pdfium.PdfDocument(data, password=password)
            try:
                pdf.init_forms()
                return _render_page(pdf, index, sized)
            finally:
                pdf.close()

    return render


def _render_page(pdf: Any, index: int, limits: DocumentLimits) -> bytes:
    """Render one PDF page straight at the scale that fits ``long_side_px``; JPEG bytes."""
    from PIL import Image

    page = pdf[index]
    try:
        width_pt, height_pt = page.get_size()  # PDF points (1/72 in)
        longest = max(width_pt, height_pt)
        if not longest or longest <= 0 or not math.isfinite(longest):
            raise ValueError("page has no size")
        scale = limits.long_side_px / longest
        bitmap = page.render(scale=scale, may_draw_forms=True)
        try:
            image = bitmap.to_pil()
            if max(image.size) > limits.long_side_px:  # rounding up by a pixel
                image.thumbnail((limits.long_side_px, limits.long_side_px), Image.Resampling.LANCZOS)
            return _jpeg_bytes(_to_rgb(image), limits.jpeg_quality)
        finally:
            bitmap.close()
    finally:
        page.close()


# --------------------------------------------------------------------------- images


#: Bytes per pixel of Pillow's image memory by mode: Pillow stores "1", "L" and "P" in one byte,
#: "I;16*" in two and every other mode (RGB included, padded) in four.
_MODE_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}

#: Copies of the decoded pixels a format's decoder holds at its peak, measured with this layer's
#: Pillow and pillow-heif on 48-50 Mpx images (``docs/benchmarks.md``): WebP (libwebp's animation
#: decoder allocates a canvas when the file is opened, returns the frame as bytes, then Pillow copies
#: them in) 3.8; TIFF (libtiff strip buffers) 1.3; HEIF (the decoded plane, then Pillow's image) 1.8;
#: PNG and JPEG 1 (decoded row by row into the image).
_DECODER_COPIES = {"WEBP": 4.0, "TIFF": 2.0, "HEIF": 2.0, "AVIF": 2.0}


def _header_size(kind: str, data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's IHDR chunk (PNG spec §11.2.2), a WebP's first chunk (VP8 frame
    header, VP8L header, or VP8X canvas: WebP container spec) or a JPEG's frame header, read before
    Pillow opens the file (libwebp's decoder allocates the whole canvas when it opens one, and Pillow
    refuses what it calls a decompression bomb without saying its size). None for other types."""
    if kind == "png" and len(data) >= 24 and data[12:16] == b"IHDR":
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if kind == "webp" and len(data) >= 30:
        chunk = data[12:16]
        if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
            return (int.from_bytes(data[26:28], "little") & 0x3FFF,
                    int.from_bytes(data[28:30], "little") & 0x3FFF)
        if chunk == b"VP8L" and data[20] == 0x2F:
            bits = int.from_bytes(data[21:25], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if chunk == b"VP8X":
            return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    if kind == "jpeg":
        return _jpeg_frame_size(data)
    return None


#: JPEG start-of-frame markers (ITU T.81 Table B.1: SOF0-3, 5-7, 9-11, 13-15).
_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def _jpeg_frame_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a JPEG's first start-of-frame segment, walking at most 256 marker
    segments from the start (ITU T.81 §B.2.2); None when not found before the scan data."""
    position = 2
    for _ in range(256):
        if position + 4 > len(data) or data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        length = int.from_bytes(data[position + 2:position + 4], "big")
        if marker in _JPEG_SOF and position + 9 <= len(data):
            return (int.from_bytes(data[position + 7:position + 9], "big"),
                    int.from_bytes(data[position + 5:position + 7], "big"))
        if marker == 0xDA or length < 2:  # start of scan: no frame header before it
            return None
        position += 2 + length
    return None


def _jpeg_coefficient_bytes(image: PILImage.Image, width: int, height: int) -> int:
    """Bytes libjpeg holds for a progressive JPEG's DCT coefficients: two per sample of every
    component at full resolution (whatever the draft scale), e.g. 3 per pixel at 4:2:0, 6 at 4:4:4."""
    layers = getattr(image, "layer", None) or []
    try:
        h_max = max(h for _, h, _, _ in layers)
        v_max = max(v for _, _, v, _ in layers)
        samples = sum(h * v for _, h, v, _ in layers) / (h_max * v_max)
    except (TypeError, ValueError):
        samples = 3.0
    return int(2 * samples * width * height)


def _decoded_bytes(image: PILImage.Image, width: int, height: int) -> int:
    """Bytes the decoder of an opened (not yet loaded) image will hold: the image at its decode size
    and mode (after ``draft`` for a JPEG) times the copies its decoder makes, plus a progressive JPEG's
    coefficient buffers (``width`` x ``height``: the full size)."""
    w, h = image.size
    estimate = w * h * _MODE_BYTES.get(image.mode, 4) * _DECODER_COPIES.get(str(image.format), 1.0)
    if image.format == "JPEG" and image.info.get("progressive"):
        estimate += _jpeg_coefficient_bytes(image, width, height)
    return int(estimate)


def _frame_count(image: PILImage.Image, limit: int) -> int:
    """Frames of an opened image, counted up to ``limit + 1``: a TIFF's pages by walking at most that
    many IFDs (Pillow's ``n_frames`` would walk them all), other formats from their header."""
    if image.format != "TIFF":
        return int(getattr(image, "n_frames", 1) or 1)
    count = 1
    try:
        while count <= limit:
            image.seek(count)
            count += 1
    except EOFError:
        pass
    finally:
        image.seek(0)
    return count


def _mb(size: float) -> str:
    return f"{size / 1_000_000:,.0f} MB"


def _prepare_image(doc: PreparedDocument, data: bytes, limits: DocumentLimits, deadline: Deadline) -> None:
    """Fill ``doc`` from an image (see :func:`prepare_document`). Raises on decoder failures (the
    caller turns them into "unreadable <type>: …") and :class:`OverBudget`."""
    from PIL import Image

    pixel_limit = limits.max_image_pixels
    if Image.MAX_IMAGE_PIXELS:
        pixel_limit = min(pixel_limit, int(Image.MAX_IMAGE_PIXELS))
    if doc.detected_type == "heic":
        _register_heif()
        if _prepare_heif(doc, data, limits, pixel_limit, deadline):
            return
    Image.init()
    formats = [name for name in _PIL_FORMATS[doc.detected_type] if name in Image.OPEN]
    if not formats:
        doc.unreadable_reason = f"unsupported file type: {TYPE_DESCRIPTIONS[doc.detected_type]} (no decoder)"
        return
    header = _header_size(doc.detected_type, data)
    if header is not None:
        width, height = header
        doc.metadata = {"format": doc.detected_type.upper(), "width": width, "height": height}
        if width * height > pixel_limit:
            raise OverBudget(f"image too large: {width}x{height} pixels (limit {pixel_limit})")
        if doc.detected_type == "webp":
            needs = width * height * 4 * _DECODER_COPIES["WEBP"]
            if needs > limits.max_decoded_image_bytes:
                raise OverBudget(f"image too large to decode: {width}x{height} WebP needs about {_mb(needs)} "
                                 f"(limit {_mb(limits.max_decoded_image_bytes)})")
    try:
        image = Image.open(io.BytesIO(data), formats=formats)  # lazy: reads the header only
    except Image.DecompressionBombError as exc:
        doc.unreadable_reason = f"image too large: decompression bomb ({_exc_summary(exc)})"
        return
    with image:
        width, height = image.size
        meta: dict[str, Any] = {"format": image.format, "width": width, "height": height}
        doc.metadata = meta
        if width * height > pixel_limit:
            raise OverBudget(f"image too large: {width}x{height} pixels (limit {pixel_limit})")
        frames = _frame_count(image, limits.max_image_frames)
        meta["frames"] = frames
        if frames > limits.max_image_frames:
            more = "more than " if image.format == "TIFF" else ""
            raise OverBudget(f"too many frames: {more}{limits.max_image_frames if more else frames} "
                             f"(limit {limits.max_image_frames})")
        if image.format == "JPEG":
            # Decode at 1/2, 1/4 or 1/8 scale (DCT scaling), never below the target size.
            image.draft("RGB", _fit(width, height, limits.long_side_px))
        needs = _decoded_bytes(image, width, height)
        meta["decoded_bytes"] = needs
        if needs > limits.max_decoded_image_bytes:
            progressive = " progressive" if image.format == "JPEG" and image.info.get("progressive") else ""
            raise OverBudget(f"image too large to decode: {width}x{height}{progressive} {image.format} "
                             f"({image.mode}) needs about {_mb(needs)} (limit {_mb(limits.max_decoded_image_bytes)})")
        deadline.check("decoding the image")
        image.load()  # the first frame only
        exif = image.getexif()  # IFD0: 0x0112 Orientation, 0x0131 Software (EXIF 2.32)
        deadline.check("reducing the image")
        small = _downscale_rgb(image, limits.long_side_px)
        if small is image:
            small = image.copy()
    _finish_image(doc, meta, small, exif, limits)


def _finish_image(doc: PreparedDocument, meta: dict[str, Any], small: PILImage.Image, exif: Any,
                  limits: DocumentLimits) -> None:
    """Record the EXIF orientation and software, turn the reduced image upright, encode it."""
    from PIL import ImageOps

    orientation = exif.get(0x0112)
    orientation = orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else None
    software = exif.get(0x0131)
    if orientation:
        meta["exif_orientation"] = orientation
    if software:
        meta["software"] = short_value(software, 120)
    # Apply the orientation to the small image: give it the tag, let Pillow transpose.
    small.getexif()[0x0112] = orientation or 1
    upright = ImageOps.exif_transpose(small)
    meta["output_width"], meta["output_height"] = upright.size
    # Encoded when a reader first asks for it (the offline reader never does).
    doc.page_images = PageImages([0], _image_renderer(upright, limits), doc.metadata, _exc_summary, page_count=1)
    doc.page_count = 1
    doc.signals = image_signals(doc.document_id, meta)


def _image_renderer(upright: PILImage.Image, limits: DocumentLimits) -> PageRenderer:
    """``render(0, long_side_px)`` for an image: its reduced, upright copy encoded as JPEG, scaled down
    first when a smaller long side is asked for (never up: the reduced copy is the largest kept)."""

    def render(index: int, long_side_px: int | None) -> bytes:
        if index != 0:
            raise IndexError(f"an image has one page, not {index + 1}")
        from PIL import Image

        if long_side_px is None or max(upright.size) <= long_side_px:
            return _jpeg_bytes(upright, limits.jpeg_quality)
        small = upright.copy()
        small.thumbnail((long_side_px, long_side_px), Image.Resampling.LANCZOS)
        return _jpeg_bytes(small, limits.jpeg_quality)

    return render


def _reduce_heif(primary: Any, mode: str, long_side: int, deadline: Deadline) -> PILImage.Image:
    """Decode a pillow-heif image and reduce its plane band by band to an RGB image whose long side is
    at most ``long_side`` (see :func:`_downscale_rgb`)."""
    from PIL import Image

    width, height = primary.size
    plane = memoryview(primary.data)  # decodes the image
    stride = primary.stride
    deadline.check("reducing the image")

    def band_of(top: int, bottom: int) -> PILImage.Image:
        band: Any = plane[top * stride:bottom * stride]  # a memoryview: no copy of the decoded plane
        return Image.frombuffer(mode, (width, bottom - top), band, "raw", mode, stride, 1)

    if max(width, height) <= 2 * long_side:
        small = _to_rgb(band_of(0, height))
    else:
        small = _reduce_in_bands(band_of, width, height, max(2, _reduction_factor(width, height, long_side)))
    if max(small.size) > long_side:
        small = small.resize(_thumbnail_size(width, height, long_side), Image.Resampling.LANCZOS)
    return small


#: Channels of the 8-bit planes pillow-heif decodes, by mode.
_HEIF_CHANNELS = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}


def _prepare_heif(doc: PreparedDocument, data: bytes, limits: DocumentLimits, pixel_limit: int,
                  deadline: Deadline) -> bool:
    """Fill ``doc`` from a HEIF image through pillow-heif directly, reducing the decoded plane band by
    band: its Pillow plugin copies the whole plane into a Pillow image (7 bytes per pixel of an RGB
    photo at the peak, 171 MB for a 24-megapixel iPhone photo); this holds the plane (3 bytes per
    pixel, plus libheif's decoding buffers) and one band. Returns False, having changed nothing,
    when pillow-heif cannot open the file (e.g. AVIF without an AV1 decoder) or decodes to a mode
    this does not handle: Pillow's path is tried then. Raises :class:`OverBudget` like
    :func:`_prepare_image`."""
    import pillow_heif
    from PIL import Image

    try:
        heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)  # the container, no pixels
        primary = heif[heif.primary_index]
    except (ValueError, RuntimeError, OSError, SyntaxError, EOFError, IndexError):
        return False
    mode = primary.mode
    if mode not in _HEIF_CHANNELS:
        return False
    width, height = primary.size
    meta: dict[str, Any] = {"format": "HEIF", "width": width, "height": height, "frames": len(heif)}
    doc.metadata = meta
    if width * height > pixel_limit:
        raise OverBudget(f"image too large: {width}x{height} pixels (limit {pixel_limit})")
    if len(heif) > limits.max_image_frames:
        raise OverBudget(f"too many frames: {len(heif)} (limit {limits.max_image_frames})")
    # The plane, plus libheif's own buffers while it decodes (YCbCr planes, tiles of a grid image):
    # measured 2-4 bytes per pixel more on a 12-megapixel iPhone photo and a 24-megapixel image.
    needs = width * height * (_HEIF_CHANNELS[mode] + 2)
    meta["decoded_bytes"] = needs
    if needs > limits.max_decoded_image_bytes:
        raise OverBudget(f"image too large to decode: {width}x{height} HEIF ({mode}) needs about {_mb(needs)} "
                         f"(limit {_mb(limits.max_decoded_image_bytes)})")
    info = dict(primary.info)
    pillow_heif.set_orientation(info)  # libheif already applied the rotation: the EXIF tag now says 1
    exif = Image.Exif()
    raw_exif = info.get("exif")
    if isinstance(raw_exif, bytes):
        exif.load(raw_exif)
    deadline.check("decoding the image")
    small = _reduce_heif(primary, mode, limits.long_side_px, deadline)
    del heif, primary  # pillow-heif keeps the decoded plane on its image object
    _finish_image(doc, meta, small, exif, limits)
    return True


#: Pixels per band when reducing a large image band by band (about 16 MB of RGBA).
_BAND_PIXELS = 4_000_000


def _reduction_factor(width: int, height: int, long_side: int) -> int:
    """The box-reduction factor before Lanczos: rounded up from longest / (2 × long_side), so the
    reduced image's long side lands in [long_side, 2 × long_side]; below 2, no box reduction."""
    factor = max(width, height) // (2 * long_side)
    return -(-max(width, height) // (2 * long_side)) if factor >= 2 else factor


def _reduce_in_bands(band_of: Callable[[int, int], PILImage.Image], width: int, height: int,
                     factor: int) -> PILImage.Image:
    """An RGB image ``factor`` times smaller, built band by band: ``band_of(top, bottom)`` gives the
    rows ``top..bottom`` of the source, each converted and box-reduced (``Image.reduce``, exact when
    bands are aligned to the factor), so no full-size copy is ever made."""
    from PIL import Image

    rows = max(1, (_BAND_PIXELS // max(1, width)) // factor) * factor
    reduced = Image.new("RGB", (-(-width // factor), -(-height // factor)), (255, 255, 255))
    for top in range(0, height, rows):
        band = _to_rgb(band_of(top, min(height, top + rows)))
        reduced.paste(band.reduce(factor), (0, top // factor))
    return reduced


def _downscale_rgb(image: PILImage.Image, long_side: int) -> PILImage.Image:
    """An RGB copy of a loaded image, long side <= ``long_side``, without full-size copies.

    Pillow's ``resize``/``reduce`` premultiply alpha on a full-size copy and ``convert``
    makes another, which would double the decoded image (up to ``max_decoded_image_bytes``) on
    top of the decoder's own copies. So a large image is converted and box-reduced band by band
    (:func:`_reduce_in_bands`), and only the small result is resampled with Lanczos (as ``thumbnail``
    with a ``reducing_gap`` does); an image less than four times the target is resampled straight
    into a new small image.
    """
    from PIL import Image

    width, height = image.size
    factor = _reduction_factor(width, height, long_side)
    if factor < 2:
        reduced = _to_rgb(image)
    else:
        reduced = _reduce_in_bands(lambda top, bottom: image.crop((0, top, width, bottom)), width, height, factor)
    if max(reduced.size) > long_side:
        # resize allocates only the result (and a one-pass buffer), where copy + thumbnail would
        # first duplicate the decoded image.
        reduced = reduced.resize(_thumbnail_size(width, height, long_side), Image.Resampling.LANCZOS)
    return reduced
