"""Page geometry: words with boxes, merged into lines by position, and the text those lines spell.

Readers of a page (PDFium's text layer, OCR) produce :class:`~leadeval.models.PageWord` s with a box
each. A text layer lists its characters in drawing order, which is not reading order: a pay stub drawn
column by column ("labels left, current and YTD right") comes out as all the labels, then all the
figures, and a reader of that text pairs a label with the wrong figure. :func:`page_lines` puts words
that share a baseline band into one line, left to right, so a label and the figures printed beside it
meet on one line again; :func:`layout_text` spells the lines of every page as text (pages separated by
form feeds, wide gaps between words as two spaces, the way the offline reader expects a column break;
a label printed after a column of figures, the next table of a two-table row, starts a line of its own)
and keeps, for every word, where it is in that text, so a value found in the text can be located on its
page (:meth:`LaidOutText.words_in`).

Boxes are fractions of the page (``x0, y0, x1, y1``, origin top-left), as :data:`leadeval.models.Box`.
Nothing here opens a document: :func:`words_from_textpage` takes the text page object PDFium made (and
imports ``pypdfium2.raw`` when called).
"""

from __future__ import annotations

import ctypes
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import median
from typing import Any

from leadeval.models import Box, PageLayout, PageWord

#: A gap between two characters wider than this many character heights starts a new word (PDFs often
#: position words apart without a space character: "withholding9,600.00").
WORD_GAP_HEIGHTS = 0.25
#: A gap between two words wider than this many character heights is a column break (two spaces).
COLUMN_GAP_HEIGHTS = 1.5
#: Two words are on one line when their vertical centres differ by at most this share of their height.
SAME_LINE_SHARE = 0.5
#: A word that is a money figure ("5,000.00", "$72.50", "(45.67)", or whole dollars after "$": "$5,600").
_FIGURE = re.compile(r"^[-+(]?(?:\$?[-+]?\d[\d,]*\.\d{2}|\$[-+]?\d[\d,]*)\)?$")
#: Characters per page read with their boxes (PDFium's text pages are already bounded by preparation).
MAX_PAGE_CHARS = 50_000


def words_from_textpage(textpage: Any, width_pt: float, height_pt: float) -> list[PageWord]:
    """The words of a PDFium text page with their boxes.

    Args:
        textpage: a ``pypdfium2.PdfTextPage`` (its ``count_chars`` and ``get_text_range``; each character's
            loose box, from the font's advance and ascent, so a narrow glyph such as "1" does not open a gap:
            PDFium's ``FPDFText_GetLooseCharBox``, called through ``pypdfium2.raw`` with one reused rectangle).
        width_pt, height_pt: the page size in PDF points (``PdfPage.get_size()``).
    Returns:
        Words in PDFium's character order; each box is a fraction of the page with the origin at the
        top-left (PDF space has it bottom-left). Whitespace and a gap wider than
        :data:`WORD_GAP_HEIGHTS` character heights separate words. Empty when the page has no characters
        or no size.
    """
    if width_pt <= 0 or height_pt <= 0:
        return []
    count = min(textpage.count_chars(), MAX_PAGE_CHARS)
    if count <= 0:
        return []
    import pypdfium2.raw as pdfium_c

    text = textpage.get_text_range(0, count)
    loose_box, handle = pdfium_c.FPDFText_GetLooseCharBox, textpage.raw
    rect = pdfium_c.FS_RECTF()
    rect_ref = ctypes.byref(rect)
    words: list[PageWord] = []
    chars: list[str] = []
    x0 = y0 = x1 = y1 = 0.0  # the current word's left, bottom, right, top in points (when chars)
    # One pass, per character: a ctypes call and plain comparisons (no helper objects, no min/max calls):
    # a text layer has thousands of characters a page.
    for index, char in enumerate(text[:count]):
        if not ("!" <= char <= "~") and (char.isspace() or not char.isprintable()):  # ASCII graphic: neither
            if chars:
                words.append(PageWord("".join(chars), _fraction(x0, y0, x1, y1, width_pt, height_pt)))
                chars = []
            continue
        if not loose_box(handle, index, rect_ref):
            continue  # PDFium has no box for this character: it joins no word
        left, bottom, right, top = rect.left, rect.bottom, rect.right, rect.top
        if right < left or top < bottom:
            continue
        if chars:
            height = y1 - y0 if y1 - y0 > top - bottom else top - bottom
            if height < 1e-6:
                height = 1e-6
            gap = left - x1
            if gap > WORD_GAP_HEIGHTS * height or gap < -height or bottom >= y1 or top <= y0:
                words.append(PageWord("".join(chars), _fraction(x0, y0, x1, y1, width_pt, height_pt)))
                chars = []
        if chars:
            x0, y0 = (left if left < x0 else x0), (bottom if bottom < y0 else y0)
            x1, y1 = (right if right > x1 else x1), (top if top > y1 else y1)
        else:
            x0, y0, x1, y1 = left, bottom, right, top
        chars.append(char)
    if chars:
        words.append(PageWord("".join(chars), _fraction(x0, y0, x1, y1, width_pt, height_pt)))
    return words


def _fraction(left: float, bottom: float, right: float, top: float, width: float, height: float) -> Box:
    return (min(1.0, max(0.0, left / width)), min(1.0, max(0.0, 1 - top / height)),
            min(1.0, max(0.0, right / width)), min(1.0, max(0.0, 1 - bottom / height)))


def page_lines(words: Sequence[PageWord]) -> list[list[PageWord]]:
    """``words`` grouped into lines, top to bottom, each left to right.

    A word joins a line when its vertical centre is within :data:`SAME_LINE_SHARE` of the median word
    height from the line's centre (so a label and the figures beside it, drawn at different times or in
    other columns, meet); otherwise it starts a new line.
    """
    usable = [w for w in words if w.text.strip()]
    if not usable:
        return []
    typical = median(w.box[3] - w.box[1] for w in usable) or 1e-6
    lines: list[tuple[float, list[PageWord]]] = []
    for word in sorted(usable, key=lambda w: ((w.box[1] + w.box[3]) / 2, w.box[0])):
        centre = (word.box[1] + word.box[3]) / 2
        if lines and abs(centre - lines[-1][0]) <= SAME_LINE_SHARE * typical:
            members = lines[-1][1]
            members.append(word)
            lines[-1] = (sum((w.box[1] + w.box[3]) / 2 for w in members) / len(members), members)
        else:
            lines.append((centre, [word]))
    return [sorted(members, key=lambda w: w.box[0]) for _, members in lines]


@dataclass(frozen=True)
class PlacedWord:
    """A word of a :class:`LaidOutText`: where it is in the text (``start``/``end`` offsets), its page
    (1-based), how it was read, and the word itself."""

    start: int
    end: int
    page: int
    how: str
    word: PageWord


@dataclass
class LaidOutText:
    """The text of laid-out pages and where each of its words is (see the module docstring)."""

    text: str = ""
    words: list[PlacedWord] = field(default_factory=list)

    def words_in(self, start: int, end: int) -> list[PlacedWord]:
        """The words overlapping the text span ``[start, end)``, in text order."""
        return [w for w in self.words if w.start < end and w.end > start]

    def line_bounds(self, offset: int) -> tuple[int, int]:
        """The ``(start, end)`` offsets of the line holding ``offset``."""
        start = max(self.text.rfind("\n", 0, offset), self.text.rfind("\f", 0, offset)) + 1
        ends = [i for i in (self.text.find("\n", offset), self.text.find("\f", offset)) if i >= 0]
        return start, min(ends) if ends else len(self.text)


def union_box(boxes: Sequence[Box]) -> Box:
    """The smallest box holding every one of ``boxes`` (non-empty)."""
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def layout_text(pages: Sequence[PageLayout]) -> LaidOutText:
    """The text the pages' lines spell (:func:`page_lines`), pages separated by form feeds, words by a
    space or, across a gap wider than :data:`COLUMN_GAP_HEIGHTS` word heights, two spaces; with each
    word's offsets (:class:`LaidOutText`)."""
    out = LaidOutText()
    parts: list[str] = []
    length = 0
    for page_index, page in enumerate(pages):
        if page_index:
            parts.append("\f")
            length += 1
        for line_index, line in enumerate(page_lines(page.words)):
            if line_index:
                parts.append("\n")
                length += 1
            previous: PageWord | None = None
            cell_has_amount = False
            for word in line:
                if previous is not None:
                    height = max(previous.box[3] - previous.box[1], word.box[3] - word.box[1], 1e-6)
                    separator = " "
                    if word.box[0] - previous.box[2] > COLUMN_GAP_HEIGHTS * height:
                        # a label after a cell of figures starts the next table's row: its own line
                        label_after_figures = cell_has_amount and not _FIGURE.match(word.text)
                        separator = "\n" if label_after_figures else "  "
                        cell_has_amount = False
                    parts.append(separator)
                    length += len(separator)
                out.words.append(PlacedWord(length, length + len(word.text), page.page, page.how, word))
                parts.append(word.text)
                length += len(word.text)
                previous = word
                cell_has_amount = cell_has_amount or bool(_FIGURE.match(word.text))
    out.text = "".join(parts)
    return out


@dataclass(frozen=True)
class AddressBlock:
    """An address printed as a block: the line above the street (a person's or a company's name), the street
    line and the city/state/ZIP line, each as text; ``page`` 1-based; ``box`` of the line above."""

    above: str
    street: str
    #: the line above ``above`` at the same x ("" when none): a licence prints the family name over the given
    #: names (AAMVA DL/ID Card Design Standard, fields 1 and 2)
    above2: str = ""
    city: str = ""
    page: int = 1
    box: Box = (0.0, 0.0, 0.0, 0.0)


#: How far (fraction of the page width) the lines of one block may start apart, and how many lines of other
#: columns may sit between them (a W-2 prints box codes beside the employee's address).
BLOCK_ALIGN = 0.03
BLOCK_MAX_SKIP = 8


def address_blocks(pages: Sequence[PageLayout], street: re.Pattern[str], city: re.Pattern[str]) -> list[AddressBlock]:
    """Address blocks of the pages, in reading order.

    A block is a street cell (words of one line up to a column gap, matching ``street``), a city cell below
    it starting at the same x (within :data:`BLOCK_ALIGN`, at most :data:`BLOCK_MAX_SKIP` lines of other
    columns between) matching ``city``, and the words of the nearest line above starting at that x (the
    name). Columns are found by position, so the figures printed to the right of an address do not hide it.
    """
    blocks: list[AddressBlock] = []
    for page in pages:
        lines = page_lines(page.words)
        for index, line in enumerate(lines):
            for cell in _cells(line):
                if not street.match(_spell(cell)):
                    continue
                x0 = cell[0].box[0]
                city_cell = _aligned_city(lines[index + 1: index + 1 + BLOCK_MAX_SKIP], x0, city)
                earlier = list(reversed(lines[max(0, index - BLOCK_MAX_SKIP): index]))
                above = _aligned_words(earlier, x0)
                if city_cell is None or not city.match(_spell(city_cell)) or not above:
                    continue
                higher = [line for line in earlier if line and line[0].box[1] < above[0].box[1] - 1e-6]
                above2 = _aligned_words(higher[:1], x0)
                blocks.append(AddressBlock(_spell(above), _spell(cell), _spell(above2), _spell(city_cell),
                                           page.page, union_box([w.box for w in above + above2])))
    return blocks


def _spell(words: Sequence[PageWord]) -> str:
    return " ".join(w.text for w in words)


def _cells(line: Sequence[PageWord]) -> list[list[PageWord]]:
    cells: list[list[PageWord]] = []
    for word in line:
        if cells:
            previous = cells[-1][-1]
            height = max(previous.box[3] - previous.box[1], word.box[3] - word.box[1], 1e-6)
            if word.box[0] - previous.box[2] <= COLUMN_GAP_HEIGHTS * height:
                cells[-1].append(word)
                continue
        cells.append([word])
    return cells


def _aligned_city(lines: Sequence[Sequence[PageWord]], x0: float, city: re.Pattern[str]) -> list[PageWord] | None:
    """The first cell starting at ``x0`` that matches ``city`` (an apartment line may come between)."""
    for line in lines:
        for cell in _cells(line):
            if abs(cell[0].box[0] - x0) <= BLOCK_ALIGN and city.match(_spell(cell)):
                return cell
    return None


def _aligned_words(lines: Sequence[Sequence[PageWord]], x0: float) -> list[PageWord]:
    """The words of the first line that has a word starting at ``x0``, from that word on."""
    for line in lines:
        for position, word in enumerate(line):
            if abs(word.box[0] - x0) <= BLOCK_ALIGN:
                return list(line[position:])
    return []
