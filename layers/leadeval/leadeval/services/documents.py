"""Document preparation (DESIGN §5.1): sniff, bound, decode, render, and run the forensics.

:func:`prepare_document` turns one document's bytes into a
:class:`~leadeval.models.PreparedDocument` for the vision model:

- the real type is sniffed from magic bytes (:func:`sniff_type`), never from the file name or
  the stored MIME type;
- PDFs: the text layer is extracted, pages without one (and page 1) are rendered to JPEG;
- images (JPEG, PNG, WebP, HEIC/HEIF, TIFF): EXIF orientation applied, metadata dropped,
  converted to RGB, downscaled so the long side is at most 1120 px, re-encoded as JPEG;
- forensic signals (:mod:`leadeval.services.fraud`) are attached.

It never raises for bad input: whatever goes wrong becomes ``unreadable_reason`` (a short
message with sizes, counts and exception class names, never document text), and the document
gets the verdict `unreadable` while the job carries on (DESIGN §4).

Memory: limits are checked before expensive work (byte size first, then the page count or
the pixel count read from the image header, before any pixel is decoded). JPEGs are decoded
at a reduced DCT scale (``Image.draft``), other images are reduced with ``thumbnail``, and PDF
pages are rendered by PDFium directly at the target scale, so a 25 MB PDF or a 50-megapixel
photo stays well under Lambda's 512 MB (DESIGN §7).

Heavy libraries (pypdf, pypdfium2, Pillow, pillow_heif) are imported inside the functions
that need them, so importing this module costs nothing at a worker's cold start.

Threads: :func:`prepare_document` may be called from several threads; PDFium (not
thread-safe) is serialized behind a process-wide lock, pypdf and Pillow work per object.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import logging
import math
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from leadeval.models import PreparedDocument
from leadeval.services.fraud import (
    count_eof_markers,
    image_signals,
    is_linearized,
    pdf_signals,
    short_value,
)

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
            images at 560 px, at most 2×2 tiles (``reference/cloudflare.md``), so 1120.
        max_rendered_pages: PDF pages rendered to images for the model.
        min_text_chars: a PDF page with fewer extracted non-blank characters has "no text
            layer" (scans, photos, or a stray page number).
        max_text_chars: the joined text layer is cut at this many characters (a 25 MB text
            PDF would otherwise flood the model's context); ``metadata["text_truncated"]``
            says when it happened.
        jpeg_quality: quality of the JPEGs produced (Pillow scale 1–95).
    """

    max_bytes: int = 25 * 1024 * 1024
    max_pages: int = 30
    max_image_pixels: int = 50_000_000
    long_side_px: int = 1120
    max_rendered_pages: int = 3
    min_text_chars: int = 40
    max_text_chars: int = 200_000
    jpeg_quality: int = 85


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
    ``"bmp"``, ``"zip"`` (including Office documents), ``"text"`` (UTF-8 without NULs) or
    ``"unknown"`` (also for empty input). ``%PDF-`` is accepted anywhere in the first 1 KiB,
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
        return "text"
    return "unknown"


# --------------------------------------------------------------------------- helpers


def _exc_summary(exc: BaseException) -> str:
    """``Class: message`` cut short, one line (parser messages name offsets and objects)."""
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

    Never raises for bad input: any exception while parsing becomes ``unreadable_reason``.
    """
    doc = PreparedDocument(document_id=document_id, detected_type=sniff_type(data),
                           sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data))
    try:
        if not data:
            doc.unreadable_reason = "empty file"
        elif len(data) > limits.max_bytes:
            doc.unreadable_reason = f"too large: {len(data)} bytes (limit {limits.max_bytes})"
        elif doc.detected_type == "pdf":
            _prepare_pdf(doc, data, limits)
        elif doc.detected_type in _PIL_FORMATS:
            _prepare_image(doc, data, limits)
        else:
            doc.unreadable_reason = f"unsupported file type: {TYPE_DESCRIPTIONS[doc.detected_type]}"
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
        "page_count": doc.page_count, "images": len(doc.page_images),
        "has_text": doc.text is not None, "unreadable": doc.unreadable_reason is not None,
        "signals": [s.code for s in doc.signals]})
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


def _prepare_pdf(doc: PreparedDocument, data: bytes, limits: DocumentLimits) -> None:
    """Fill ``doc`` from a PDF (see :func:`prepare_document`). Raises on parser failures;
    the caller turns them into "corrupt PDF: …"."""
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its recoverable-structure warnings hold no finding
    from pypdf import PasswordType, PdfReader
    from pypdf.errors import DependencyError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
    except Exception as exc:
        doc.unreadable_reason = f"corrupt PDF: {_exc_summary(exc)}"
        doc.signals = pdf_signals(doc.document_id, data, None, open_reader=False)
        return

    encrypted = bool(reader.is_encrypted)
    if encrypted:
        try:
            opened = reader.decrypt("")
        except DependencyError as exc:  # e.g. AES without the cryptography package
            doc.unreadable_reason = f"encrypted PDF with an unsupported cipher: {_exc_summary(exc)}"
            doc.metadata = {"is_encrypted": True}
            return
        if opened == PasswordType.NOT_DECRYPTED:
            doc.unreadable_reason = "password-protected PDF"
            doc.metadata = {"is_encrypted": True, "eof_markers": count_eof_markers(data)}
            doc.signals = pdf_signals(doc.document_id, data, reader)
            return

    doc.metadata = _pdf_metadata(reader, data)
    doc.signals = pdf_signals(doc.document_id, data, reader)

    # Page count: the page tree's /Count first (cheap, before flattening a huge tree) ...
    claimed = reader.trailer["/Root"]["/Pages"].get("/Count")
    claimed = claimed.get_object() if hasattr(claimed, "get_object") else claimed
    if isinstance(claimed, int) and claimed > limits.max_pages:
        doc.metadata["page_count"] = int(claimed)
        doc.unreadable_reason = f"too many pages: {int(claimed)} (limit {limits.max_pages})"
        return
    # ... then the real number (the /Count may lie).
    page_count = len(reader.pages)
    doc.metadata["page_count"] = page_count
    if page_count > limits.max_pages:
        doc.unreadable_reason = f"too many pages: {page_count} (limit {limits.max_pages})"
        return
    if page_count == 0:
        doc.unreadable_reason = "corrupt PDF: no pages"
        return
    doc.page_count = page_count
    _pdf_text_and_images(doc, data, limits, page_count, password="" if encrypted else None)


#: PDFium is not thread-safe, "not even with different documents" (pypdfium2 Python API,
#: "Incompatibility with Threading"): every PDFium call of this process goes through this lock.
_PDFIUM_LOCK = threading.Lock()


def _pdf_text_and_images(doc: PreparedDocument, data: bytes, limits: DocumentLimits,
                         page_count: int, password: str | None) -> None:
    """Extract the text layer and render pages with PDFium (one open document for both),
    holding :data:`_PDFIUM_LOCK` from open to close."""
    with _PDFIUM_LOCK:
        _pdfium_work(doc, data, limits, page_count, password)


def _pdfium_work(doc: PreparedDocument, data: bytes, limits: DocumentLimits,
                 page_count: int, password: str | None) -> None:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(data, password=password)
    try:
        pdf.init_forms()  # draw filled-in AcroForm fields (W-2s, VOEs) when rendering
        n = min(page_count, len(pdf))
        texts: list[str] = []
        for index in range(n):
            page = pdf[index]
            try:
                textpage = page.get_textpage()
                try:
                    raw = textpage.get_text_bounded()
                finally:
                    textpage.close()
            finally:
                page.close()
            texts.append(raw.replace("\r\n", "\n").replace("\r", "\n").strip())

        has_text = [len("".join(t.split())) >= limits.min_text_chars for t in texts]
        doc.metadata["text_pages"] = sum(has_text)
        if any(has_text):
            joined = "\f".join(texts)
            if len(joined) > limits.max_text_chars:
                joined = joined[: limits.max_text_chars]
                doc.metadata["text_truncated"] = True
            doc.text = joined

        # Page 1 always (a vision model may want to look at it even when it has text), then
        # the pages without a text layer, in order, up to max_rendered_pages.
        wanted = [0] + [i for i in range(1, n) if not has_text[i]]
        wanted = wanted[: limits.max_rendered_pages]
        rendered: list[int] = []
        errors: list[str] = []
        for index in wanted:
            try:
                doc.page_images.append(_render_page(pdf, index, limits))
                rendered.append(index + 1)
            except Exception as exc:
                errors.append(f"page {index + 1}: {_exc_summary(exc)}")
        doc.metadata["rendered_pages"] = rendered
        if errors:
            doc.metadata["render_errors"] = errors
        if doc.text is None and not doc.page_images:
            reason = errors[0] if errors else "no pages rendered"
            doc.unreadable_reason = f"corrupt PDF: no text layer and pages could not be rendered ({reason})"
    finally:
        pdf.close()


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


def _prepare_image(doc: PreparedDocument, data: bytes, limits: DocumentLimits) -> None:
    """Fill ``doc`` from an image (see :func:`prepare_document`). Raises on decoder failures;
    the caller turns them into "unreadable <type>: …"."""
    from PIL import Image, ImageOps

    if doc.detected_type == "heic":
        _register_heif()
    Image.init()
    formats = [name for name in _PIL_FORMATS[doc.detected_type] if name in Image.OPEN]
    if not formats:
        doc.unreadable_reason = f"unsupported file type: {TYPE_DESCRIPTIONS[doc.detected_type]} (no decoder)"
        return
    pixel_limit = limits.max_image_pixels
    if Image.MAX_IMAGE_PIXELS:
        pixel_limit = min(pixel_limit, int(Image.MAX_IMAGE_PIXELS))
    try:
        image = Image.open(io.BytesIO(data), formats=formats)  # lazy: reads the header only
    except Image.DecompressionBombError as exc:
        doc.unreadable_reason = f"image too large: decompression bomb ({_exc_summary(exc)})"
        return
    with image:
        width, height = image.size
        meta: dict[str, Any] = {"format": image.format, "width": width, "height": height,
                                "frames": int(getattr(image, "n_frames", 1) or 1)}
        doc.metadata = meta
        if width * height > pixel_limit:
            doc.unreadable_reason = f"image too large: {width}x{height} pixels (limit {pixel_limit})"
            return
        if image.format == "JPEG":
            # Decode at 1/2, 1/4 or 1/8 scale (DCT scaling), never below the target size.
            image.draft("RGB", _fit(width, height, limits.long_side_px))
        image.load()
        exif = image.getexif()  # IFD0: 0x0112 Orientation, 0x0131 Software (EXIF 2.32)
        orientation = exif.get(0x0112)
        orientation = orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else None
        software = exif.get(0x0131)
        if orientation:
            meta["exif_orientation"] = orientation
        if software:
            meta["software"] = short_value(software, 120)
        small = _downscale_rgb(image, limits.long_side_px)
        if small is image:
            small = image.copy()
    # Apply the orientation to the small image: give it the tag, let Pillow transpose.
    small.getexif()[0x0112] = orientation or 1
    upright = ImageOps.exif_transpose(small)
    meta["output_width"], meta["output_height"] = upright.size
    doc.page_images = [_jpeg_bytes(upright, limits.jpeg_quality)]
    doc.page_count = 1
    doc.signals = image_signals(doc.document_id, meta)


#: Pixels per band when reducing a large image band by band (about 16 MB of RGBA).
_BAND_PIXELS = 4_000_000


def _downscale_rgb(image: PILImage.Image, long_side: int) -> PILImage.Image:
    """An RGB copy of a loaded image, long side <= ``long_side``, without full-size copies.

    Pillow's ``resize``/``reduce`` premultiply alpha on a full-size copy and ``convert``
    makes another, which would double a 50-megapixel decode (200 MB RGBA) past Lambda's
    512 MB. So a large image is converted and box-reduced (``Image.reduce``, exact when bands
    are aligned to the factor) band by band, and only the small result is resampled with
    Lanczos (as ``thumbnail`` with a ``reducing_gap`` does).
    """
    from PIL import Image

    width, height = image.size
    factor = max(width, height) // (2 * long_side)
    if factor < 2:
        reduced = _to_rgb(image)
    else:
        rows = max(1, (_BAND_PIXELS // max(1, width)) // factor) * factor
        reduced = Image.new("RGB", (-(-width // factor), -(-height // factor)), (255, 255, 255))
        for top in range(0, height, rows):
            band = _to_rgb(image.crop((0, top, width, min(height, top + rows))))
            reduced.paste(band.reduce(factor), (0, top // factor))
    if max(reduced.size) > long_side:
        if reduced is image:
            reduced = image.copy()
        reduced.thumbnail((long_side, long_side), Image.Resampling.LANCZOS)
    return reduced
