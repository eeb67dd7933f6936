"""Page thumbnails for the report: every page of a document as a small JPEG ``data:`` URL.

Pages are rendered by the same hardened path the worker uses (:func:`leadeval.screening.documents.prepare_document`:
PDFium for PDFs, Pillow for images, with every size, page, pixel, operator and time budget), asked to render
every page (up to :data:`MAX_PAGES`) at :data:`LONG_SIDE_PX`. On PDF pages with a text layer, the digits of
Social Security and account numbers (all but the last four) are blacked out on the image, as the report's text
masks them (:mod:`leadeval_tools.report.masking`); images and scans have no text layer to find them in.
"""

from __future__ import annotations

import base64
import contextlib
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace

from leadeval.screening.documents import DocumentLimits, prepare_document
from leadeval_tools.report.masking import Unmasked, hidden_characters

logger = logging.getLogger(__name__)

#: Pages shown per document (a 30-page upload shows its first 12 and says so).
MAX_PAGES = 12
#: Longest side of a thumbnail in pixels: sharp on a 2× screen at the ~360 px the page shows it, small enough
#: that a report of a dozen pages stays a few hundred kilobytes.
LONG_SIDE_PX = 900
JPEG_QUALITY = 70

#: A box as fractions of the page, top-left origin: ``(x0, y0, x1, y1)`` (see :data:`leadeval.models.Box`).
Box = tuple[float, float, float, float]


class DataUrl(Unmasked):
    """A ``data:`` URL, never passed through the report's number masking (its base64 text could hold digit
    runs)."""

    __slots__ = ()


@dataclass(frozen=True)
class PageImage:
    """One page's thumbnail: ``src`` a ``data:image/jpeg;base64,…`` URL, its size in pixels, 1-based ``page``."""

    page: int
    src: DataUrl
    width: int
    height: int
    masked: int = 0  #: characters blacked out on it


@dataclass(frozen=True)
class Thumbnails:
    """A document's thumbnails, or why there are none (``note``); ``page_count`` is the document's page count."""

    pages: list[PageImage]
    page_count: int = 0
    note: str | None = None


@contextlib.contextmanager
def _quiet_preparation() -> Iterator[None]:
    """Preparation's INFO lines ("document prepared") left out while a thumbnail is made: they describe the
    worker's reading of a document, and a report made after a run would print them again as if it read it."""
    prepared_logger = logging.getLogger("leadeval.screening.documents")
    level = prepared_logger.level
    prepared_logger.setLevel(max(logging.WARNING, level))
    try:
        yield
    finally:
        prepared_logger.setLevel(level)


def _limits(base: DocumentLimits) -> DocumentLimits:
    # Every page counts as having no text layer (min_text_chars out of reach), so prepare_document renders
    # page 1 and each following page, up to max_rendered_pages; the safety budgets stay the worker's.
    return replace(base, max_rendered_pages=MAX_PAGES, min_text_chars=10**9, long_side_px=LONG_SIDE_PX,
                   jpeg_quality=JPEG_QUALITY, page_forensics=False)  # the worker ran the checks already


def page_thumbnails(document_id: str, data: bytes, *, limits: DocumentLimits | None = None) -> Thumbnails:
    """Thumbnails of every page of ``data`` (a stored document's bytes), numbers masked on text-layer pages.

    Args:
        document_id: for logs only.
        data: the document's bytes.
        limits: the worker's document limits (``DocumentLimits.from_settings``); defaults otherwise.

    Returns:
        :class:`Thumbnails`; never raises for bad input (an unreadable document gives no pages and a ``note``
        naming why, e.g. "corrupt PDF: …").
    """
    with _quiet_preparation():
        prepared = prepare_document(document_id, data, limits=_limits(limits or DocumentLimits()))
    if prepared.unreadable_reason is not None:
        return Thumbnails([], prepared.page_count, f"no picture: {prepared.unreadable_reason}")
    rendered = prepared.metadata.get("rendered_pages") or list(range(1, len(prepared.page_images) + 1))
    hidden = _hidden_boxes(data, rendered) if prepared.detected_type == "pdf" else {}
    pages = []
    for number, jpeg in zip(rendered, prepared.page_images, strict=False):
        boxes = hidden.get(number, [])
        src, width, height = _encode(jpeg, boxes)
        pages.append(PageImage(number, src, width, height, masked=len(boxes)))
    note = None
    if prepared.page_count > len(pages):
        note = f"pages {len(pages) + 1}–{prepared.page_count} not shown (first {len(pages)} of {prepared.page_count})"
    return Thumbnails(pages, prepared.page_count, note)


def _encode(jpeg: bytes, black: list[Box]) -> tuple[DataUrl, int, int]:
    """The JPEG as a data URL, with ``black`` boxes (fractions of the page) filled in black first."""
    from PIL import Image, ImageDraw

    with Image.open(io.BytesIO(jpeg)) as opened:
        width, height = opened.size
        if black:
            image = opened.convert("RGB")
            draw = ImageDraw.Draw(image)
            for x0, y0, x1, y1 in black:
                draw.rectangle((x0 * width - 1, y0 * height - 1, x1 * width + 1, y1 * height + 1), fill="black")
            out = io.BytesIO()
            image.save(out, "JPEG", quality=JPEG_QUALITY)
            jpeg = out.getvalue()
    return DataUrl("data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")), width, height


def _hidden_boxes(data: bytes, pages: list[int]) -> dict[int, list[Box]]:
    """Per 1-based page, the boxes (fractions, top-left origin) of the text-layer characters to black out.

    Called only on a PDF that :func:`prepare_document` has already opened within its budgets. Any failure
    here leaves the page unmasked and is logged (ids and counts only)."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    out: dict[int, list[Box]] = {}
    try:
        pdf = pdfium.PdfDocument(data)
    except Exception as exc:  # pragma: no cover - prepare_document opened it just before
        logger.info("thumbnail masking skipped", extra={"error": type(exc).__name__})
        return out
    try:
        for number in pages:
            page = pdf[number - 1]
            try:
                width, height = page.get_size()
                textpage = page.get_textpage()
                try:
                    count = textpage.count_chars()
                    text = "".join(chr(pdfium_c.FPDFText_GetUnicode(textpage.raw, i) or 32) for i in range(count))
                    boxes = []
                    for index in hidden_characters(text):
                        left, bottom, right, top = textpage.get_charbox(index)
                        if width > 0 and height > 0 and right > left:
                            boxes.append((max(0.0, left / width), max(0.0, 1 - top / height),
                                          min(1.0, right / width), min(1.0, 1 - bottom / height)))
                    if boxes:
                        out[number] = boxes
                finally:
                    textpage.close()
            finally:
                page.close()
    except Exception as exc:
        logger.warning("thumbnail masking failed", extra={"error": type(exc).__name__})
    finally:
        pdf.close()
    return out
