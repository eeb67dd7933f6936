"""What a PDF page draws, read from the page objects PDFium built when it loaded the page for its text layer
(no second parse, no rendering): fonts and positions of each piece of text, filled rectangles, fill colours and
text render modes, the CropBox; the annotations and the font resources are read with pypdf.

Checks (each :class:`~leadeval.models.Signal` carries the page, a :data:`~leadeval.models.Box` and, for an
amount, the field ``amount`` with the expected and the actual font):

- ``opaque_mask_followed_by_text`` (high): an opaque filled rectangle (fill opacity at least
  :data:`MASK_MIN_ALPHA`) drawn over the glyphs of text already on the page, then new text drawn inside it
  (Extend Verify's ``OPAQUE_MASK_FOLLOWED_BY_TEXT``): the classic cover-up and retype. A rectangle over earlier
  text with nothing drawn on it after is medium (a redaction box, or a hidden value). On a page that sets a
  blend mode other than Normal (a flattened Multiply highlight tints, it does not hide) each is one step lower.
  Translucent boxes, thin rules and shapes other than rectangles are no masks.
- ``mixed_font_amount`` (high): an amount in a font family used by no other text on the page while the
  page's other amounts share one family (Ocrolus "abnormal fonts"; families compared without style and vendor
  suffixes, Arial as Helvetica); medium for an amount whose size or baseline differs from every other piece of
  text on its line (the line's others agreeing), unless the same step recurs on another line (layout).
- ``invisible_text`` (medium): text drawn with render mode 3 or 7 (invisible; ISO 32000-1 §9.3.6) on a page
  that draws no image (an invisible OCR layer over a scanned image is normal), or text whose painted part is
  white (its fill, its outline, or both, by render mode) not drawn on anything earlier that may be darker: a
  rectangle or shape with a non-white fill, an image, a shading (not judged on a page with patterns, whose
  fills PDFium reports as white).
- ``text_outside_cropbox`` (medium): text whose origin lies outside the page's CropBox (never shown), except
  the words of a line that runs past the right edge (cut off, not hidden).
- ``annotation_over_content`` (medium; low for highlights): a markup annotation (FreeText, Square, Circle,
  Stamp, Ink, Polygon, PolyLine, Line, Caret) on the page, with its box and modification date (Inscribe
  reports annotation dates); links, form widgets and pop-ups are not findings.
- ``font_subset_mixed`` (medium): one base font embedded under several subset tags on the same page
  (``ABCDEF+Arial`` and ``GHIJKL+Arial``): text pasted from several sources. Several tags across different
  pages are normal (many generators subset per page) and are not a finding.

The positioned lines are also returned (:class:`Line`) for the printed-identifier and arithmetic checks.
"""

from __future__ import annotations

import ctypes
import logging
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from leadeval.models import Box, Severity, Signal

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pypdf import PdfReader

logger = logging.getLogger(__name__)

#: Pages read for content checks (the first ones: screening documents are short).
MAX_CONTENT_PAGES = 4
#: Text pieces are indexed by square cells of this many points to find those inside a box without comparing
#: every box with every piece.
GRID_CELL_PT = 12.0
#: Text-in-box candidates one page's checks may look at. A screening page has tens of boxes and pieces (a few
#: hundred tests); a page drawing thousands of boxes over thousands of pieces (within the content budget) would
#: cost seconds: the checks stop there and the page is marked ``incomplete``.
MAX_PAGE_TESTS = 200_000
#: Two pieces of text whose baselines differ by at most this many points are on one line.
LINE_TOLERANCE_PT = 2.5
#: An amount's size differing from its line by more than this (points) is a size mismatch.
SIZE_TOLERANCE_PT = 0.6
#: Baseline offsets (points) between these bounds, within a line, are a misaligned amount.
BASELINE_MIN_PT, BASELINE_MAX_PT = 0.6, LINE_TOLERANCE_PT

AMOUNT_RE = re.compile(r"^\(?-?\$?\s?-?\d{1,3}(?:,\d{3})*\.\d{2}\)?-?$")
_SUBSET_RE = re.compile(r"^([A-Z]{6})\+(.+)$")
#: Vendor suffixes of a PostScript font name ("ArialMT", "TimesNewRomanPSMT"), not part of the family.
_VENDOR_SUFFIX_RE = re.compile(r"(?:psmt|mt|ps)$")
#: Families that are one design under two names: PDF readers (PDFium among them) substitute the standard 14
#: fonts for the Microsoft core fonts when those are not embedded (ISO 32000-1 §9.6.2.2 and Annex D; Adobe
#: Technical Note #5641, "Font names"), so "Arial-BoldMT" may come back as "Helvetica-Bold".
_FAMILY_ALIASES = {"arial": "helvetica", "timesnewroman": "times", "couriernew": "courier"}
_MARKUP = {"/FreeText", "/Square", "/Circle", "/Stamp", "/Ink", "/Polygon", "/PolyLine", "/Line", "/Caret"}
_LOW_MARKUP = {"/Highlight", "/Underline", "/StrikeOut", "/Squiggly", "/Text"}


@dataclass
class Chunk:
    """One piece of text as drawn: page (1-based), origin in points (PDF user space after the CTM), size in
    points, base font (subset tag removed), the subset tag, fill colour (RGB components from 0 to 1, as PDFium
    gives it: grey and CMYK converted; ``(0.0,)`` when PDFium has none), render mode, and its order of drawing on
    the page."""

    page: int
    text: str
    x: float
    y: float
    size: float
    font: str
    tag: str | None
    fill: tuple[float, ...]
    mode: int
    order: int
    #: Stroke colour (as ``fill``), read only for white text in a stroking render mode (1, 2, 5, 6).
    stroke: tuple[float, ...] = ()

    @property
    def visible_white(self) -> bool:
        """True when what the render mode paints is white: the fill (modes 0, 4), the outline (1, 5) or both
        (2, 6). Invisible modes (3, 7) are not white text: they are reported as invisible."""
        if self.mode in (0, 4):
            return is_white(self.fill)
        if self.mode in (1, 5):
            return is_white(self.stroke)
        return self.mode in (2, 6) and is_white(self.fill) and is_white(self.stroke)

    @property
    def width(self) -> float:
        """Estimated advance width (points): half the size per character (no font metrics needed)."""
        return max(1.0, len(self.text) * self.size * 0.5)

    @cached_property
    def family(self) -> str:
        """The font family: the base font before any ``-`` or ``,`` style part, without a vendor suffix,
        lower case, one name for aliased designs (``Helvetica-Bold`` → ``helvetica``, ``Arial-BoldMT`` and
        ``ArialMT`` → ``helvetica``, ``TimesNewRomanPS-BoldMT`` → ``times``)."""
        name = re.split(r"[-,]", self.font.lstrip("/"), maxsplit=1)[0].lower().replace(" ", "")
        name = _VENDOR_SUFFIX_RE.sub("", name) or name
        return _FAMILY_ALIASES.get(name, name)


@dataclass
class Rect:
    """A filled rectangle: page, corners in points, fill colour (as :class:`Chunk`'s), order of drawing."""

    page: int
    x0: float
    y0: float
    x1: float
    y1: float
    fill: tuple[float, ...]
    order: int
    #: Fill opacity from 0 to 1 (the graphics state's ``ca``): a translucent box hides nothing.
    alpha: float = 1.0
    #: What drew it: "rect" (a rectangle of a filled path), "path" (another filled shape: its bounding box),
    #: "image" or "shading" (their bounding boxes). Only "rect" can be a cover-up mask; all can lie behind text.
    kind: str = "rect"

    def holds(self, x: float, y: float, margin: float = 0.5) -> bool:
        """True when the point is inside (with ``margin`` points of slack)."""
        return self.x0 - margin <= x <= self.x1 + margin and self.y0 - margin <= y <= self.y1 + margin


@dataclass
class Line:
    """Text pieces on one baseline of one page, left to right (``text`` joined with single spaces)."""

    page: int
    y: float
    chunks: list[Chunk]

    @cached_property
    def text(self) -> str:
        """The line's text, pieces joined by one space (computed once: read it after the line is complete)."""
        return " ".join(c.text.strip() for c in self.chunks if c.text.strip())


@dataclass
class PageGeometry:
    """A page's CropBox (points): left, bottom, right, top; whether it draws an image."""

    left: float
    bottom: float
    right: float
    top: float
    draws_image: bool = False

    def box(self, x0: float, y0: float, x1: float, y1: float) -> Box:
        """Points → a :data:`~leadeval.models.Box` (fractions of the CropBox, top-left origin), clamped."""
        w = max(1e-6, self.right - self.left)
        h = max(1e-6, self.top - self.bottom)

        def cx(v: float) -> float:
            return min(1.0, max(0.0, (v - self.left) / w))

        def cy(v: float) -> float:
            return min(1.0, max(0.0, (self.top - v) / h))

        a, b, c, d = cx(min(x0, x1)), cy(max(y0, y1)), cx(max(x0, x1)), cy(min(y0, y1))
        return (round(a, 4), round(b, 4), round(c, 4), round(d, 4))


@dataclass
class PageContent:
    """Everything read from one page."""

    number: int
    geometry: PageGeometry
    chunks: list[Chunk] = field(default_factory=list)
    rects: list[Rect] = field(default_factory=list)
    fonts: list[str] = field(default_factory=list)  # raw /BaseFont names of the page's font resources
    #: True when a check stopped at :data:`MAX_PAGE_TESTS` (the page's findings are then incomplete).
    incomplete: bool = False
    #: Boxes drawn that text may sit on (images, shadings, filled shapes that are not rectangles), in points.
    backdrops: list[Rect] = field(default_factory=list)
    #: The page (or a form it draws) defines patterns: a filled shape PDFium reports as white may be patterned.
    patterned: bool = False
    #: The page (or a form it draws) sets a blend mode other than Normal: a box may darken or tint, not hide.
    blends: bool = False
    _lines: list[Line] | None = field(default=None, init=False, repr=False, compare=False)
    _grid: dict[tuple[int, int], list[Chunk]] | None = field(default=None, init=False, repr=False, compare=False)
    _tests_left: int = field(default=0, init=False, repr=False, compare=False)

    def chunks_at(self, rect: Rect, margin: float = 0.5) -> list[Chunk]:
        """The chunks whose origin (plus half a point) may lie in ``rect`` widened by ``margin`` points, in
        drawing order: candidates from a grid of :data:`GRID_CELL_PT` cells (built once per page), for the
        caller to test exactly. Raises :class:`PageTooComplex` once the page's checks have looked at
        :data:`MAX_PAGE_TESTS` candidates in all, and ValueError for a rectangle without finite corners."""
        if not all(math.isfinite(v) for v in (rect.x0, rect.y0, rect.x1, rect.y1)):
            raise ValueError("a rectangle without finite corners")
        if self._grid is None:
            self._grid, self._tests_left = {}, MAX_PAGE_TESTS
            for c in self.chunks:
                self._grid.setdefault(_cell(c.x + 0.5, c.y + 0.5), []).append(c)
        (i0, j0), (i1, j1) = _cell(rect.x0 - margin, rect.y0 - margin), _cell(rect.x1 + margin, rect.y1 + margin)
        if (i1 - i0 + 1) * (j1 - j0 + 1) > len(self._grid):  # a large rectangle: walk the cells that hold text
            found = [c for (i, j), cell in self._grid.items() if i0 <= i <= i1 and j0 <= j <= j1 for c in cell]
        else:
            found = [c for i in range(i0, i1 + 1) for j in range(j0, j1 + 1) for c in self._grid.get((i, j), ())]
        self._tests_left -= len(found) + 1
        if self._tests_left < 0:
            raise PageTooComplex(f"page {self.number}: over {MAX_PAGE_TESTS:,} text-in-box tests")
        found.sort(key=lambda c: c.order)
        return found

    def lines(self) -> list[Line]:
        """Chunks grouped by baseline (within :data:`LINE_TOLERANCE_PT`), top to bottom, left to right; grouped
        once, when first asked (every check reads the same lines: the chunks do not change after reading)."""
        if self._lines is None:
            self._lines = self._group_lines()
        return self._lines

    def _group_lines(self) -> list[Line]:
        out: list[Line] = []
        for chunk in sorted((c for c in self.chunks if c.text.strip()), key=lambda c: (-c.y, c.x)):
            if out and abs(out[-1].y - chunk.y) <= LINE_TOLERANCE_PT:
                out[-1].chunks.append(chunk)
            else:
                out.append(Line(self.number, chunk.y, [chunk]))
        for line in out:
            line.chunks.sort(key=lambda c: c.x)
        return out


Matrix = tuple[float, float, float, float, float, float]

#: Form XObjects nested deeper than this are not read (the content budget has already refused cycles and
#: nesting beyond 32; a screening document's forms are one or two deep).
MAX_FORM_DEPTH = 8
#: Words of a line that starts inside the CropBox and runs past its edge by at most this many points are an
#: overflow (cut off), not text placed outside: 3 inches.
OVERFLOW_PT = 216.0
#: Above this many page objects × text characters, a page's text is grouped by object in one pass (see
#: ``_PageObjects.index_text``); a screening page is about 100 × 1,000.
MAX_TEXT_SCAN = 2_000_000
#: Characters grouped that way at most (the content budget allows 20,000 text-show operators a page).
MAX_INDEXED_CHARS = 400_000
#: A box filled at least this opaque (the graphics state's ``ca``) can hide text; a lighter one is a highlight.
MASK_MIN_ALPHA = 0.8
#: A filled path with more segments than this is no rectangle and is not read point by point.
MAX_RECT_PATH_SEGMENTS = 4_000


class PageTooComplex(Exception):
    """A page's checks reached :data:`MAX_PAGE_TESTS`: thousands of boxes over thousands of pieces of text."""


def _cell(x: float, y: float) -> tuple[int, int]:
    return math.floor(x / GRID_CELL_PT), math.floor(y / GRID_CELL_PT)


def _apply(m: Matrix, x: float, y: float) -> tuple[float, float]:
    """The point (x, y) placed by matrix ``m``."""
    return m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5]


def _compose(m: Matrix, n: Matrix) -> Matrix:
    """Affine matrix product m × n (PDF order: a b c d e f): ``m`` applied first, then ``n``."""
    a, b, c, d, e, f = m
    a2, b2, c2, d2, e2, f2 = n
    return (a * a2 + b * c2, a * b2 + b * d2, c * a2 + d * c2, c * b2 + d * d2, e * a2 + f * c2 + e2,
            e * b2 + f * d2 + f2)


def is_white(fill: tuple[float, ...]) -> bool:
    """True for white: every RGB component at least 0.98 (PDFium gives grey and CMYK as RGB). A colour PDFium
    did not give (``(0.0,)``, ``()``) is not white."""
    return len(fill) == 3 and all(v >= 0.98 for v in fill)


class _PageObjects:
    """One walk over a loaded PDFium page's objects (text, paths, images, form XObjects, in drawing order),
    filling a :class:`PageContent`. Uses PDFium's public C API through ``pypdfium2.raw`` (``fpdf_edit.h``:
    ``FPDFPage_GetObject``, ``FPDFPageObj_GetMatrix``, ``FPDFTextObj_GetText`` / ``GetFontSize`` / ``GetFont`` /
    ``GetTextRenderMode``, ``FPDFFont_GetBaseFontName``, ``FPDFPageObj_GetFillColor``, ``FPDFPath_*``,
    ``FPDFFormObj_*``). A text object's matrix is its text matrix times the CTM with the origin as ``e f``
    (PDF user space), as pypdf's ``Tm × CTM``; objects inside a form are in the form's space and are composed
    with the form's matrix here."""

    def __init__(self, textpage: Any, content: PageContent) -> None:
        import pypdfium2.raw as pdfium_c

        self.c = pdfium_c
        self.textpage = textpage
        self.content = content
        self.order = 0
        self.fonts: dict[int, tuple[str, str | None]] = {}
        self._buffer(1024)
        self.rgba = tuple(ctypes.c_uint() for _ in range(4))
        self.rgba_refs = tuple(ctypes.byref(v) for v in self.rgba)  # made once: passed to every fill call
        self.number = ctypes.c_float()
        self.number_ref = ctypes.byref(self.number)
        self.matrix = pdfium_c.FS_MATRIX()
        self.matrix_ref = ctypes.byref(self.matrix)
        self.point = (ctypes.c_float(), ctypes.c_float())
        self.point_refs = tuple(ctypes.byref(v) for v in self.point)
        self.fill_mode, self.stroked = ctypes.c_int(), pdfium_c.FPDF_BOOL()  # a path's draw mode
        self.draw_mode_refs = (ctypes.byref(self.fill_mode), ctypes.byref(self.stroked))
        self.alpha = 1.0
        self.by_object: dict[int, list[str]] | None = None

    def _buffer(self, size: int) -> None:
        self.buffer = ctypes.create_string_buffer(size)
        self.wide = ctypes.cast(self.buffer, ctypes.POINTER(self.c.FPDF_WCHAR))

    def walk(self, container: Any, count: int, get: Any, outer: Matrix | None, depth: int) -> None:
        """Read ``count`` objects of ``container`` (a page, or a form object with ``outer`` its placement)."""
        c = self.c
        for i in range(count):
            obj = get(container, i)
            self.order += 1
            kind = c.FPDFPageObj_GetType(obj)
            if kind == c.FPDF_PAGEOBJ_TEXT:
                self._text(obj, outer)
            elif kind == c.FPDF_PAGEOBJ_PATH:
                self._path(obj, outer)
            elif kind == c.FPDF_PAGEOBJ_IMAGE:
                self.content.geometry.draws_image = True
                self._backdrop(obj, outer, "image", (0.0,))
            elif kind == c.FPDF_PAGEOBJ_SHADING:
                self._backdrop(obj, outer, "shading", (0.0,))
            elif kind == c.FPDF_PAGEOBJ_FORM and depth < MAX_FORM_DEPTH:
                self.walk(obj, c.FPDFFormObj_CountObjects(obj), c.FPDFFormObj_GetObject,
                          self._placement(obj, outer), depth + 1)

    def _placement(self, obj: Any, outer: Matrix | None) -> Matrix:
        m = self.matrix
        own: Matrix = ((m.a, m.b, m.c, m.d, m.e, m.f) if self.c.FPDFPageObj_GetMatrix(obj, self.matrix_ref)
                       else (1.0, 0.0, 0.0, 1.0, 0.0, 0.0))
        return own if outer is None else _compose(own, outer)

    def _fill(self, obj: Any) -> tuple[float, ...]:
        """The fill colour (RGB 0–1); its opacity is left in ``self.alpha``."""
        self.alpha = 1.0
        if not self.c.FPDFPageObj_GetFillColor(obj, *self.rgba_refs):
            return (0.0,)
        r, g, b, a = self.rgba
        self.alpha = a.value / 255
        return (r.value / 255, g.value / 255, b.value / 255)

    def _stroke(self, obj: Any) -> tuple[float, ...]:
        if not self.c.FPDFPageObj_GetStrokeColor(obj, *self.rgba_refs):
            return (0.0,)
        r, g, b, _ = self.rgba
        return (r.value / 255, g.value / 255, b.value / 255)

    def _backdrop(self, obj: Any, outer: Matrix | None, kind: str, fill: tuple[float, ...]) -> None:
        """Record the bounding box of something text may be drawn on (an image, a shading, a filled shape)."""
        box = tuple(ctypes.c_float() for _ in range(4))
        if not self.c.FPDFPageObj_GetBounds(obj, *(ctypes.byref(v) for v in box)):
            return
        left, bottom, right, top = (v.value for v in box)
        if outer is not None:  # bounds are in the form's space: place its corners on the page
            corners = [_apply(outer, x, y) for x in (left, right) for y in (bottom, top)]
            left, right = min(p[0] for p in corners), max(p[0] for p in corners)
            bottom, top = min(p[1] for p in corners), max(p[1] for p in corners)
        self.content.backdrops.append(Rect(self.content.number, left, bottom, right, top, fill, self.order,
                                           kind=kind))

    def _font(self, obj: Any) -> tuple[str, str | None]:
        """(base font without subset tag, subset tag), once per font of the page."""
        font = self.c.FPDFTextObj_GetFont(obj)
        key = ctypes.cast(font, ctypes.c_void_p).value or 0
        known = self.fonts.get(key)
        if known is None:
            size = self.c.FPDFFont_GetBaseFontName(font, self.buffer, len(self.buffer)) if key else 0
            base = self.buffer.raw[: size - 1].decode("latin-1") if 0 < size <= len(self.buffer) else ""
            match = _SUBSET_RE.match(base)
            known = (match.group(2), match.group(1)) if match else (base, None)
            self.fonts[key] = known
        return known

    def index_text(self) -> None:
        """Group the text page's characters by the text object that drew them, in one pass. PDFium's
        ``FPDFTextObj_GetText`` walks every character of the page for each object it is asked about, which a
        page of thousands of one-character objects turns into minutes; :func:`read_page` indexes instead when
        objects × characters exceeds :data:`MAX_TEXT_SCAN`."""
        c = self.c
        by_object: dict[int, list[str]] = {}
        get_object, get_unicode = c.FPDFText_GetTextObject, c.FPDFText_GetUnicode
        for i in range(min(c.FPDFText_CountChars(self.textpage), MAX_INDEXED_CHARS)):
            owner = ctypes.cast(get_object(self.textpage, i), ctypes.c_void_p).value
            if owner:
                by_object.setdefault(owner, []).append(chr(get_unicode(self.textpage, i)))
        self.by_object = by_object

    def _string(self, obj: Any) -> str:
        if self.by_object is not None:
            return "".join(self.by_object.get(ctypes.cast(obj, ctypes.c_void_p).value or 0, ()))
        get = self.c.FPDFTextObj_GetText
        size = get(obj, self.textpage, self.wide, len(self.buffer))
        if size > len(self.buffer):
            self._buffer(size)
            size = get(obj, self.textpage, self.wide, len(self.buffer))
        return self.buffer.raw[: max(0, size - 2)].decode("utf-16-le", "replace")  # UTF-16LE, NUL-terminated

    def _text(self, obj: Any, outer: Matrix | None) -> None:
        text = self._string(obj).strip()
        if not text:
            return
        m = self._placement(obj, outer)
        self.c.FPDFTextObj_GetFontSize(obj, self.number_ref)
        scale = (m[2] ** 2 + m[3] ** 2) ** 0.5 or 1.0
        name, tag = self._font(obj)
        content = self.content
        fill, mode = self._fill(obj), int(self.c.FPDFTextObj_GetTextRenderMode(obj))
        stroke = self._stroke(obj) if mode in (1, 5) or (mode in (2, 6) and is_white(fill)) else ()
        content.chunks.append(Chunk(content.number, text, m[4], m[5], float(self.number.value) * scale, name, tag,
                                    fill, mode, self.order, stroke))

    def _path(self, obj: Any, outer: Matrix | None) -> None:
        """A filled path's rectangles (each closed, axis-parallel four-corner sub-path: what ``re`` draws); any
        other filled shape (a rounded box, a curve) is a backdrop (its bounding box), never a mask."""
        c = self.c
        if not c.FPDFPath_GetDrawMode(obj, *self.draw_mode_refs) or self.fill_mode.value == 0:
            return
        fill = self._fill(obj)
        alpha = self.alpha
        segments = c.FPDFPath_CountSegments(obj)
        if not 4 <= segments <= MAX_RECT_PATH_SEGMENTS:
            self._backdrop(obj, outer, "path", fill)
            return
        m = self._placement(obj, outer)
        x, y = self.point
        subpaths: list[list[tuple[float, float]]] = []
        for i in range(segments):
            segment = c.FPDFPath_GetPathSegment(obj, i)
            kind = c.FPDFPathSegment_GetType(segment)
            if kind == c.FPDF_SEGMENT_BEZIERTO:
                self._backdrop(obj, outer, "path", fill)
                return  # a curve: no rectangle in this path
            c.FPDFPathSegment_GetPoint(segment, *self.point_refs)
            point = _apply(m, x.value, y.value)
            if kind == c.FPDF_SEGMENT_MOVETO or not subpaths:
                subpaths.append([point])
            else:
                subpaths[-1].append(point)
        found = 0
        for points in subpaths:
            if len(points) == 5 and points[-1] == points[0]:
                points = points[:-1]
            if len(points) != 4 or not all(abs(p[0] - q[0]) < 0.01 or abs(p[1] - q[1]) < 0.01
                                           for p, q in zip(points, points[1:] + points[:1], strict=True)):
                continue
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            self.content.rects.append(Rect(self.content.number, min(xs), min(ys), max(xs), max(ys), fill,
                                           self.order, alpha))
            found += 1
        if not found:
            self._backdrop(obj, outer, "path", fill)  # no rectangle in it: a shape text may sit on


def read_page(page: Any, textpage: Any, number: int) -> PageContent:
    """What a page loaded by PDFium draws: its text pieces (one per text object, i.e. per text-show
    operator), filled rectangles, whether it draws an image, and its CropBox.

    Args:
        page: a ``pypdfium2.PdfPage``, loaded (the caller holds
            :data:`~leadeval.screening.pdfium_lock.PDFIUM_LOCK`).
        textpage: its ``PdfTextPage`` (PDFium decodes the text objects' strings through it).
        number: the page's number (1-based), copied into what is read.

    Returns:
        A :class:`PageContent` in PDF points, without what the page's resources say (``fonts``,
        ``patterned``, ``blends``: :func:`read_resources`). Raises whatever PDFium raises on a page it cannot
        read (callers skip the page), and ValueError for a page without a bounding box.
    """
    import pypdfium2.raw as pdfium_c

    # The visible box: the CropBox within the MediaBox, either inherited from the page tree, corners in any
    # order (ISO 32000-1 §7.7.3.4, §7.9.5, §14.11.2); FPDF_GetPageBoundingBox resolves all three, where
    # PdfPage.get_cropbox reads the page's own dictionary and falls back to US Letter.
    box = pdfium_c.FS_RECTF()
    if not pdfium_c.FPDF_GetPageBoundingBox(page.raw, ctypes.byref(box)):
        raise ValueError(f"page {number} has no bounding box")
    content = PageContent(number, PageGeometry(min(box.left, box.right), min(box.bottom, box.top),
                                               max(box.left, box.right), max(box.bottom, box.top)))
    objects = _PageObjects(textpage.raw, content)
    count = pdfium_c.FPDFPage_CountObjects(page.raw)
    if count * pdfium_c.FPDFText_CountChars(textpage.raw) > MAX_TEXT_SCAN:
        objects.index_text()
    objects.walk(page.raw, count, pdfium_c.FPDFPage_GetObject, None, 0)
    return content


def read_pages(data: bytes, *, password: str | None = None, max_pages: int = MAX_CONTENT_PAGES) -> list[PageContent]:
    """:func:`read_page` for the first ``max_pages`` pages of a PDF given as bytes, opened here with PDFium under
    :data:`~leadeval.screening.pdfium_lock.PDFIUM_LOCK` (the worker reads the pages while it extracts their
    text instead: :func:`leadeval.screening.documents.prepare_document`). A page that cannot be read is
    skipped. Raises ``pypdfium2.PdfiumError`` when PDFium cannot open the document."""
    import pypdfium2 as pdfium

    from leadeval.screening.pdfium_lock import PDFIUM_LOCK

    pages: list[PageContent] = []
    with PDFIUM_LOCK:
        pdf = pdfium.PdfDocument(data, password=password)
        try:
            for index in range(min(len(pdf), max_pages)):
                try:
                    page = pdf[index]
                    try:
                        textpage = page.get_textpage()
                        try:
                            pages.append(read_page(page, textpage, index + 1))
                        finally:
                            textpage.close()
                    finally:
                        page.close()
                except Exception as exc:  # a malformed page holds no finding of its own here
                    logger.debug("content: page %d unreadable (%s)", index + 1, type(exc).__name__)
        finally:
            pdf.close()
    return pages


def read_resources(page: PageContent, reader: PdfReader) -> None:
    """Fill ``page.fonts`` (when empty), ``page.patterned`` and ``page.blends`` from the page's resources, read
    with pypdf: dictionary lookups, no content parsed. PDFium reports a pattern fill as white and has no getter
    for an object's blend mode (ISO 32000-1 §11.3.5), so the checks ask the resources instead. A resource
    dictionary that cannot be read leaves the page as read (no fonts, no patterns, no blending)."""
    try:
        resources = reader.pages[page.number - 1].get("/Resources")
        resources = resources.get_object() if resources is not None else None
    except Exception as exc:  # a broken page dictionary: judged as a plain page
        logger.debug("content: resources of page %d unreadable (%s)", page.number, type(exc).__name__)
        return
    if not hasattr(resources, "get"):
        return
    if not page.fonts:
        page.fonts = _font_names(resources, page.number)
    page.patterned, page.blends = _graphics(resources, page.number)


def _font_names(resources: Any, number: int) -> list[str]:
    """The raw ``/BaseFont`` names (subset tags kept) of a page's own font resources."""
    try:
        fonts = resources.get("/Font")
        fonts = fonts.get_object() if fonts is not None else {}
        names = (font.get_object().get("/BaseFont") for font in (fonts.values() if hasattr(fonts, "values") else []))
        return [str(name).lstrip("/") for name in names if name is not None]
    except Exception as exc:  # a broken font dictionary: no subset finding on this page
        logger.debug("content: fonts of page %d unreadable (%s)", number, type(exc).__name__)
        return []


_NORMAL_BLENDS = {"/Normal", "/Compatible"}


def _graphics(resources: Any, number: int) -> tuple[bool, bool]:
    """(defines patterns, sets a blend mode other than Normal) in a page's resources and those of the form
    XObjects it holds (one level: where report generators put them)."""
    patterned = blends = False
    try:
        stack: list[Any] = [resources]
        xobjects = resources.get("/XObject")
        for ref in list(xobjects.get_object().values() if xobjects is not None else [])[:50]:
            form = ref.get_object()
            if form.get("/Subtype") == "/Form" and form.get("/Resources") is not None:
                stack.append(form["/Resources"].get_object())
        for res in (r for r in stack if hasattr(r, "get")):
            patterned = patterned or res.get("/Pattern") is not None
            states = res.get("/ExtGState")
            for state in list(states.get_object().values() if states is not None else [])[:50]:
                mode = state.get_object().get("/BM")
                names = {str(m) for m in (mode if isinstance(mode, list) else [mode])} if mode is not None else set()
                blends = blends or bool(names - _NORMAL_BLENDS)
    except Exception as exc:  # a broken resource dictionary: judged as a plain page
        logger.debug("content: graphics of page %d unreadable (%s)", number, type(exc).__name__)
    return patterned, blends


# --------------------------------------------------------------------------- checks


def _sig(code: str, severity: Severity, evidence: str, document_id: str, page: PageContent, box: Box | None,
         **extra: str | None) -> Signal:
    return Signal(code=code, severity=severity, evidence=evidence, document_id=document_id, page=page.number,
                  box=box, **extra)


def _chunk_box(page: PageContent, c: Chunk) -> Box:
    return page.geometry.box(c.x, c.y - 0.2 * c.size, c.x + c.width, c.y + 0.8 * c.size)


def cover_ups(document_id: str, page: PageContent) -> list[Signal]:
    """``opaque_mask_followed_by_text`` (see the module docstring), one per covering rectangle."""
    out: list[Signal] = []
    for rect in page.rects:
        if (rect.x1 - rect.x0) < 3 or (rect.y1 - rect.y0) < 3:
            continue  # a rule line, not a mask
        if rect.alpha < MASK_MIN_ALPHA:
            continue  # translucent (a highlight): the text under it still shows
        try:
            inside = [c for c in page.chunks_at(rect) if rect.holds(c.x + 0.5, c.y + 0.5)]
        except PageTooComplex:
            page.incomplete = True
            return out
        except ValueError:
            continue  # a box without finite corners covers nothing that can be shown
        covered = [c for c in inside if c.order < rect.order and rect.holds(c.x + 0.5, c.y + 0.6 * c.size)
                   and rect.holds(c.x + min(c.width, rect.x1 - rect.x0) - 1, c.y + 0.5)]  # the glyphs, not a rule
        if not covered:
            continue
        after = [c for c in inside if c.order > rect.order]
        box = page.geometry.box(rect.x0, rect.y0, rect.x1, rect.y1)
        if after:
            blended = " (the page sets a blend mode: the box may tint, not hide)" if page.blends else ""
            out.append(_sig("opaque_mask_followed_by_text", "medium" if page.blends else "high",
                            f"page {page.number}: a filled box covers text drawn before it "
                            f"({len(covered)} piece(s)), then {len(after)} piece(s) of text are drawn on it "
                            f"(now reads {after[0].text!r}){blended}", document_id, page, box, field="text",
                            actual=after[0].text[:40]))
        else:
            out.append(_sig("opaque_mask_followed_by_text", "low" if page.blends else "medium",
                            f"page {page.number}: a filled box covers {len(covered)} piece(s) of text drawn "
                            "before it" + (" (the page sets a blend mode: the box may tint, not hide)"
                                           if page.blends else ""), document_id, page, box))
    return out


def _amount_chunks(page: PageContent) -> list[Chunk]:
    return [c for c in page.chunks if AMOUNT_RE.match(c.text.strip())]


def mixed_fonts(document_id: str, page: PageContent) -> list[Signal]:
    """``mixed_font_amount`` (see the module docstring)."""
    amounts = _amount_chunks(page)
    if len(amounts) < 3:
        return []
    out: list[Signal] = []
    families = Counter(c.family for c in page.chunks if c.text.strip())
    amount_families = Counter(c.family for c in amounts)
    majority, majority_count = amount_families.most_common(1)[0]
    flagged: set[int] = set()
    for c in amounts:
        if c.family != majority and families[c.family] <= 2 and majority_count >= 2:
            flagged.add(id(c))
            out.append(_sig("mixed_font_amount", "high",
                            f"page {page.number}: the amount {c.text} is set in {c.font} {c.size:.1f}pt, a font "
                            f"used nowhere else on the page; the other amounts use {majority}",
                            document_id, page, _chunk_box(page, c), field="amount", expected=majority,
                            actual=f"{c.font} {c.size:.1f}pt"))
    outliers = [found for line in page.lines() if len(line.chunks) >= 3
                for found in _line_outliers(document_id, page, line, flagged)]
    # The same offset or the same size step on two lines or more is the generator's layout, not a retyped amount.
    layout = Counter(key for _, key in outliers)
    return out + [signal for signal, key in outliers if layout[key] == 1]


def _line_outliers(document_id: str, page: PageContent, line: Line,
                   flagged: set[int]) -> list[tuple[Signal, tuple[str, float, float]]]:
    """The medium ``mixed_font_amount`` findings of one line (3 pieces or more), each with its kind of step
    (``("size", amount size, line size)`` or ``("baseline", offset, 0)``, points to 0.1): an amount whose size
    differs from the one size all the line's other pieces share, or whose baseline sits off theirs. Each amount
    is compared with "the line without it" from counts made once per line, so a line of thousands of pieces
    costs a sort, not a comparison of every pair."""
    out: list[tuple[Signal, tuple[str, float, float]]] = []
    has_text = any(not AMOUNT_RE.match(o.text.strip()) for o in line.chunks)
    sizes = Counter(round(o.size, 1) for o in line.chunks)
    ys = sorted(o.y for o in line.chunks)
    for c in line.chunks:
        if id(c) in flagged or not AMOUNT_RE.match(c.text.strip()):
            continue
        first = line.chunks[1] if line.chunks[0] is c else line.chunks[0]  # the first of the others
        own = round(c.size, 1)
        peer_sizes = len(sizes) - (1 if sizes[own] == 1 else 0)  # distinct sizes of the others
        low = ys[1] if c.y == ys[0] else ys[0]
        high = ys[-2] if c.y == ys[-1] else ys[-1]
        if peer_sizes == 1 and abs(c.size - first.size) > SIZE_TOLERANCE_PT and has_text:
            out.append((_sig("mixed_font_amount", "medium",
                             f"page {page.number}: the amount {c.text} is {c.size:.1f}pt on a line set in "
                             f"{first.size:.1f}pt", document_id, page, _chunk_box(page, c), field="amount",
                             expected=f"{first.size:.1f}pt", actual=f"{c.size:.1f}pt"),
                        ("size", round(c.size, 1), round(first.size, 1))))
        elif high - low <= 0.2 and BASELINE_MIN_PT <= abs(c.y - first.y) <= BASELINE_MAX_PT:
            out.append((_sig("mixed_font_amount", "medium",
                             f"page {page.number}: the amount {c.text} sits {abs(c.y - first.y):.1f}pt off the "
                             "baseline of its line", document_id, page, _chunk_box(page, c), field="amount",
                             expected=f"baseline {first.y:.1f}", actual=f"baseline {c.y:.1f}"),
                        ("baseline", round(c.y - first.y, 1), 0.0)))
    return out


def hidden_text(document_id: str, page: PageContent) -> list[Signal]:
    """``invisible_text`` and ``text_outside_cropbox`` (see the module docstring), one of each per page."""
    out = []
    words = [c for c in page.chunks if any(ch.isalnum() for ch in c.text)]
    invisible = [c for c in words if c.mode in (3, 7)]
    if invisible and not page.geometry.draws_image:
        c = invisible[0]
        out.append(_sig("invisible_text", "medium",
                        f"page {page.number}: {len(invisible)} piece(s) of text drawn invisible (render mode "
                        f"{c.mode}) on a page with no image, e.g. {c.text[:40]!r}", document_id, page,
                        _chunk_box(page, c), field="text", actual=c.text[:40]))
    # PDFium reports a pattern fill as white: on a page with patterns, white text may be patterned text.
    white = [] if page.patterned else _white_on_white([c for c in words if c.visible_white], page)
    if white:
        c = white[0]
        out.append(_sig("invisible_text", "medium",
                        f"page {page.number}: {len(white)} piece(s) of white text on a white page, e.g. "
                        f"{c.text[:40]!r}", document_id, page, _chunk_box(page, c), field="text", actual=c.text[:40]))
    outside = _outside_cropbox(page, words)
    if outside:
        c = outside[0]
        out.append(_sig("text_outside_cropbox", "medium",
                        f"page {page.number}: {len(outside)} piece(s) of text outside the CropBox (never shown), "
                        f"e.g. {c.text[:40]!r} at ({c.x:.0f}, {c.y:.0f})", document_id, page, None, field="text",
                        actual=c.text[:40]))
    return out


def _outside_cropbox(page: PageContent, words: list[Chunk]) -> list[Chunk]:
    """The pieces of ``words`` whose origin lies outside the CropBox, except the words that continue a line
    running past the right edge (each starting within three font sizes of where the line so far ends, and at
    most :data:`OVERFLOW_PT` past the edge): a footer too long for the page is cut off, not hidden."""
    g = page.geometry

    def inside(c: Chunk) -> bool:
        return g.left - 2 <= c.x <= g.right + 2 and g.bottom - 2 <= c.y <= g.top + 2

    out = [c for c in words if not inside(c)]
    if not out:
        return out
    overflow: set[int] = set()
    for line in page.lines():
        reach: float | None = None  # where the line's text so far ends (estimated), once it started inside
        for c in line.chunks:  # left to right
            if inside(c):
                reach = max(reach or c.x, c.x + c.width)
            elif (reach is not None and c.x <= reach + 3 * c.size and c.x <= g.right + OVERFLOW_PT
                  and g.bottom - 2 <= c.y <= g.top + 2):
                overflow.add(id(c))
                reach = c.x + c.width
    return [c for c in out if id(c) not in overflow]


def _white_on_white(white: list[Chunk], page: PageContent) -> list[Chunk]:
    """The pieces of ``white`` not drawn on something earlier that may be darker (white on a dark box is honest:
    a table header): a rectangle or shape whose fill is not white (nor possibly a pattern, which PDFium reports
    as white), an image or a shading. Empty, with the page marked ``incomplete``, when the page is too complex
    to tell."""
    backed: set[int] = set()
    behind = [r for r in [*page.rects, *page.backdrops]
              if r.kind in ("image", "shading") or not is_white(r.fill) or page.patterned]
    for rect in behind if white else ():
        try:
            backed.update(id(c) for c in page.chunks_at(rect) if rect.order < c.order and rect.holds(c.x + 0.5,
                                                                                                    c.y + 0.5))
        except PageTooComplex:
            page.incomplete = True
            return []
        except ValueError:
            continue
    return [c for c in white if id(c) not in backed]


def subset_tags(document_id: str, page: PageContent) -> list[Signal]:
    """``font_subset_mixed`` (see the module docstring)."""
    tags: dict[str, set[str]] = {}
    for raw in page.fonts:
        match = _SUBSET_RE.match(raw)
        if match:
            tags.setdefault(match.group(2), set()).add(match.group(1))
    several = {name: sorted(t) for name, t in tags.items() if len(t) > 1}
    if not several:
        return []
    text = "; ".join(f"{name} under {', '.join(t)}" for name, t in sorted(several.items()))
    return [_sig("font_subset_mixed", "medium",
                 f"page {page.number}: the same font embedded under several subset tags ({text}): text from "
                 "several sources", document_id, page, None, field="font", actual=text[:120])]


def annotation_signals(document_id: str, reader: PdfReader, pages: list[PageContent]) -> list[Signal]:
    """``annotation_over_content`` (see the module docstring), one per annotation."""
    out = []
    for content in pages:
        try:
            page = reader.pages[content.number - 1]
            annots = page.get("/Annots")
            annots = annots.get_object() if annots is not None else []
        except Exception:
            continue
        for ref in list(annots or [])[:50]:
            try:
                annot = ref.get_object()
                subtype = str(annot.get("/Subtype"))
            except Exception:
                continue
            if subtype not in _MARKUP and subtype not in _LOW_MARKUP:
                continue
            severity: Severity = "medium" if subtype in _MARKUP else "low"
            rect = [float(v) for v in annot.get("/Rect", [0, 0, 0, 0])][:4]
            box = content.geometry.box(*rect) if len(rect) == 4 else None
            when = annot.get("/M")
            out.append(_sig("annotation_over_content", severity,
                            f"page {content.number}: a {subtype.lstrip('/')} annotation lies over the page"
                            + (f", modified {str(when)[:40]}" if when else ""), document_id, content, box,
                            field="annotation", actual=subtype.lstrip("/")))
    return out


def content_signals(document_id: str, reader: PdfReader, pages: list[PageContent]) -> list[Signal]:
    """Every check of this module over ``pages`` (:func:`read_page`; their resources read here with
    :func:`read_resources`), ``reader`` giving the annotations and resources. Never raises for a malformed
    page: a check that cannot run on a page is skipped."""
    for page in pages:
        read_resources(page, reader)
    out: list[Signal] = []
    for page in pages:
        for check in (cover_ups, mixed_fonts, hidden_text, subset_tags):
            try:
                out += check(document_id, page)
            except Exception as exc:  # a check that cannot run on odd content is skipped, never fatal
                logger.debug("content: %s failed on page %d (%s)", check.__name__, page.number, type(exc).__name__)
    out += annotation_signals(document_id, reader, pages)
    return out
