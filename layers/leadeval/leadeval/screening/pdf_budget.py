"""Bounded pre-checks of a PDF, run before PDFium loads a page (so before its memory is spent).

PDFium builds every page object (one per path, image and text-show operator, with per-character data
for text) when it loads a page, and inflates the page's content streams whole. Measured with pypdfium2 on
pages of repeated operators (``docs/benchmarks.md``, "Hostile documents"): about 570 bytes per
text-show operator and 170 per other operator, plus the inflated streams themselves; a 48 KB file
whose page holds 4 million ``(a)Tj`` took 2.4 GB, a 1 MB file whose content stream inflates to 1 GiB
2.3 GB. Its text extraction also takes time quadratic in the text objects of a line when they come out
of left-to-right order (each is inserted into a sorted list; forms drawn again restart the order):
10,000 such objects 0.8 s, 20,000 3.3 s, 40,000 13 s. So before PDFium sees a page, this module
measures what it would have to build, with work bounded by the budgets rather than by what the file
claims:

- :func:`check_object_claims`: the trailer's ``/Size``, the cross-reference streams' ``/Index``
  ranges, the classic tables' entries and the object headers, read from the raw bytes before pypdf
  parses the cross-reference data (pypdf builds one entry per object listed, or found when it
  rebuilds a broken table);
- :func:`count_objects`: the objects pypdf's cross-reference table holds once read;
- :func:`walk_pages`: the page tree walked iteratively with a cycle guard (a node reached twice,
  whether by a cycle or a shared subtree, is refused), a depth limit and a node limit, collecting the
  pages with their inherited ``/Resources``;
- :func:`measure_content`: each page's content streams, and what they draw (form XObjects, as many
  times as ``Do`` names them; Type 3 glyph procedures; tiling patterns; annotation appearances),
  decompressed in chunks with a total output budget (``zlib.decompressobj`` with ``max_length`` for
  Flate, pypdf's own output limits for other filters), while a scan counts operators and text-show
  operators (``Tj``, ``TJ``, ``'``, ``"``). Decompression never goes past the budget.

The operator scan is a tokenizer-free approximation: operator-like words outside names are counted, so
the first word of a string literal counts too. It overcounts a text page by about its word count (a dense
real page: 5,000 operators), which the budgets leave room for.

Everything here reads structure only; a budget exceeded is reported as a reason made of sizes, counts
and object numbers (:class:`OverBudget`, or :attr:`ContentCensus.over_budget` for the content, so that
what was measured on the way is kept). pypdf objects are passed in; nothing here imports PDFium.
"""

from __future__ import annotations

import re
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from leadeval.screening.fraud import INFLATION_MIN_BYTES

#: Output chunk of the bounded decompression and the scan (bytes), and input slice fed to zlib.
_CHUNK = 1 << 20
_INPUT_SLICE = 64 * 1024

#: Deepest form XObject nesting followed (PDFium itself stops drawing nested forms a little deeper).
MAX_FORM_DEPTH = 32
#: Deepest page tree followed; pypdf's default limit is 100, real trees are 2-5 levels deep.
MAX_PAGE_TREE_DEPTH = 64

_DELIMS = rb"\s()<>\[\]{}%"
#: An operator: a word starting with a letter or a quote, not preceded by a regular character or "/"
#: (names) and not followed by a regular character.
_OPERATOR = re.compile(rb"(?<![^" + _DELIMS + rb"])[A-Za-z'\"][A-Za-z0-9*'\"]*(?![^" + _DELIMS + rb"/])")
_TEXT_SHOW = re.compile(rb"(?<![^" + _DELIMS + rb"])(?:Tj|TJ|'|\")(?![^" + _DELIMS + rb"/])")
_DO = re.compile(rb"/([^" + _DELIMS + rb"/]+)\s*Do(?![^" + _DELIMS + rb"/])")

#: ``/Size N`` (trailer, cross-reference stream) and ``/Index [a n b m …]`` (cross-reference stream).
_SIZE = re.compile(rb"/Size\s+(\d{1,20})")
_INDEX = re.compile(rb"/Index\s*\[([\d\s]*)\]")
#: A classic cross-reference table entry (ISO 32000-1 §7.5.4: 10-digit offset, 5-digit generation, n/f).
_XREF_ENTRY = re.compile(rb"\d{10} \d{5} [nf]")
#: An indirect object's header: what pypdf counts when it rebuilds a broken cross-reference table.
_OBJECT_HEADER = re.compile(rb"(?<!\d)\d{1,10}\s{1,8}\d{1,5}\s{1,8}obj\b")


class OverBudget(Exception):
    """The document exceeds a preparation budget; ``str(exc)`` is the reason shown to people (sizes,
    counts and object numbers only)."""


class _Over(Exception):
    """A content budget was exceeded (internal: becomes ``ContentCensus.over_budget``)."""


@dataclass
class Deadline:
    """A per-document time budget, checked between steps (it never interrupts a running step; the
    other budgets bound how long one step can take).

    Attributes:
        seconds: the budget, in seconds.
        started: ``time.monotonic()`` when preparation started.
    """

    seconds: float
    started: float = field(default_factory=time.monotonic)

    def elapsed(self) -> float:
        """Seconds since ``started``."""
        return time.monotonic() - self.started

    def check(self, step: str) -> None:
        """Raise :class:`OverBudget` if the budget is spent, naming the step that would start.

        Raises:
            OverBudget: "preparation over its time budget: 12.3 s before <step> (limit 10 s)".
        """
        elapsed = self.elapsed()
        if elapsed > self.seconds:
            raise OverBudget(f"preparation over its time budget: {elapsed:.1f} s before {step} "
                             f"(limit {self.seconds:g} s)")


# --------------------------------------------------------------------------- objects


def check_object_claims(data: bytes, max_objects: int) -> None:
    """Refuse a PDF whose trailer or cross-reference streams claim, whose classic cross-reference
    tables list, or whose bytes hold (object headers) more than ``max_objects`` objects, from the raw
    bytes, before pypdf reads the cross-reference data (it builds an entry for each: 150 MB and 3 s
    for a 20 MB table of 1,000,000).

    Raises:
        OverBudget: "too many objects: the cross-reference data claims N (limit M)", "… the
            cross-reference tables list more than M (limit M)" or "… the file holds more than M …".
    """
    claimed = max((int(m) for m in _SIZE.findall(data)), default=0)
    for match in _INDEX.finditer(data):
        numbers = [int(n) for n in match.group(1).split()]
        claimed = max(claimed, sum(numbers[1::2]))
    if claimed > max_objects:
        raise OverBudget(f"too many objects: the cross-reference data claims {claimed:,} (limit {max_objects:,})")
    for pattern, marks, what in (
            (_XREF_ENTRY, (b" n", b" f"), "the cross-reference tables list"),  # more than their /Size says
            (_OBJECT_HEADER, (b"obj",), "the file holds")):  # a broken table is rebuilt from these
        if sum(data.count(mark) for mark in marks) <= max_objects:  # a fast upper bound first
            continue
        for found, _ in enumerate(pattern.finditer(data), 1):
            if found > max_objects:
                raise OverBudget(f"too many objects: {what} more than {max_objects:,} (limit {max_objects:,})")


def count_objects(reader: Any) -> int:
    """Objects in pypdf's cross-reference table (in-use objects plus those in object streams)."""
    return sum(len(entries) for entries in reader.xref.values()) + len(reader.xref_objStm)


# --------------------------------------------------------------------------- page tree


def _key(raw: Any) -> tuple[Any, ...]:
    """Identity of a PDF object for cycle detection: its object number when indirect."""
    from pypdf.generic import IndirectObject

    if isinstance(raw, IndirectObject):
        return (raw.idnum, raw.generation)
    ref = getattr(raw, "indirect_reference", None)
    if ref is not None and hasattr(ref, "idnum"):
        return (ref.idnum, ref.generation)
    return ("direct", id(raw))


def _resolve(obj: Any) -> Any:
    get_object = getattr(obj, "get_object", None)
    return get_object() if callable(get_object) else obj


def _ref_text(key: tuple[Any, ...]) -> str:
    return f"object {key[0]}" if isinstance(key[0], int) else "a direct object"


@dataclass
class PageTree:
    """What :func:`walk_pages` found.

    Attributes:
        count: pages in the tree (exact: the walk is refused rather than cut short).
        claimed: the root's ``/Count`` (None when absent or not an integer).
        pages: the first ``max_pages`` pages, in order, as ``(page dictionary, resources)``; resources
            are the page's own or inherited from its nearest ancestor (ISO 32000-1 §7.7.3.4).
    """

    count: int
    claimed: int | None
    pages: list[tuple[Any, Any]]


def walk_pages(catalog: Any, *, max_pages: int, max_nodes: int) -> PageTree:
    """Walk the page tree under ``catalog["/Pages"]`` iteratively.

    Args:
        catalog: the document catalog (a pypdf dictionary).
        max_pages: pages kept in :attr:`PageTree.pages` (the walk goes on counting).
        max_nodes: most tree nodes (pages and intermediate nodes) visited.

    Raises:
        OverBudget: "corrupt PDF: …" for a cycle or a node reached twice, a tree deeper than
            :data:`MAX_PAGE_TREE_DEPTH`, a node that is not a dictionary or kids that are not an array;
            "too many pages: …" past ``max_nodes``.
    """
    root_raw = catalog.raw_get("/Pages") if "/Pages" in catalog else None
    if root_raw is None:
        raise OverBudget("corrupt PDF: the catalog has no page tree")
    root = _resolve(root_raw)
    count_value = _resolve(root.get("/Count")) if hasattr(root, "get") else None
    claimed = int(count_value) if isinstance(count_value, int) and not isinstance(count_value, bool) else None
    seen: set[tuple[Any, ...]] = set()
    pages: list[tuple[Any, Any]] = []
    count = 0
    stack: list[tuple[Any, Any, int]] = [(root_raw, None, 0)]
    while stack:
        raw, inherited, depth = stack.pop()
        key = _key(raw)
        if key in seen:
            raise OverBudget(f"corrupt PDF: page tree node {_ref_text(key)} is reached twice (a cycle or a "
                             "shared subtree)")
        seen.add(key)
        if len(seen) > max_nodes:
            raise OverBudget(f"too many pages: the page tree has more than {max_nodes:,} nodes")
        node = _resolve(raw)
        if not hasattr(node, "get"):
            raise OverBudget(f"corrupt PDF: page tree node {_ref_text(key)} is not a dictionary")
        resources = node.raw_get("/Resources") if "/Resources" in node else inherited
        kind = node.get("/Type")
        kids = node.get("/Kids")
        if kind == "/Pages" or (kind != "/Page" and kids is not None):
            if depth >= MAX_PAGE_TREE_DEPTH:
                raise OverBudget(f"corrupt PDF: the page tree is more than {MAX_PAGE_TREE_DEPTH} levels deep")
            kids = _resolve(kids)
            if not isinstance(kids, list):
                raise OverBudget(f"corrupt PDF: page tree node {_ref_text(key)} has no /Kids array")
            stack.extend((kid, resources, depth + 1) for kid in reversed(kids))
        else:
            count += 1
            if len(pages) < max_pages:
                pages.append((node, resources))
    return PageTree(count=count, claimed=claimed, pages=pages)


# --------------------------------------------------------------------------- content


@dataclass
class StreamStats:
    """One content stream, decoded and scanned.

    Attributes:
        operators: operators counted (see the module docstring).
        text_operators: text-show operators.
        draws: ``Do`` count per XObject name.
        decoded: bytes decoded (all of it, unless the budget stopped the decoding).
        encoded: bytes of encoded input consumed to produce ``decoded``.
    """

    operators: int = 0
    text_operators: int = 0
    draws: Counter[bytes] = field(default_factory=Counter)
    decoded: int = 0
    encoded: int = 0


@dataclass
class Inflation:
    """The content stream with the largest inflation seen (for the ``pdf_stream_inflation`` signal).

    Attributes:
        decoded: bytes it inflated to (a lower bound when decoding stopped at the budget).
        encoded: its encoded bytes consumed to produce them.
        object_number: its object number (None for a direct object).
    """

    decoded: int
    encoded: int
    object_number: int | None

    @property
    def ratio(self) -> float:
        """``decoded / encoded``."""
        return self.decoded / max(1, self.encoded)


@dataclass
class ContentCensus:
    """What :func:`measure_content` measured.

    Attributes:
        decoded_bytes: content bytes decoded in all (each stream once).
        page_operators: operators each page makes PDFium build (forms counted per ``Do``).
        page_text_operators: the text-show operators among them.
        inflation: the stream with the largest decoded/encoded ratio, when it inflated at least
            :data:`INFLATION_MIN_BYTES`.
        over_budget: the reason when a budget was exceeded (then the lists stop at that page).
    """

    decoded_bytes: int = 0
    page_operators: list[int] = field(default_factory=list)
    page_text_operators: list[int] = field(default_factory=list)
    inflation: Inflation | None = None
    over_budget: str | None = None


def _last_whitespace(data: bytes, end: int) -> int:
    """Index of the last space, newline or carriage return before ``end`` (-1 when none)."""
    return max(data.rfind(b" ", 0, end), data.rfind(b"\n", 0, end), data.rfind(b"\r", 0, end))


class _Scanner:
    """Counts operators over chunks of one logical content stream (a page's streams are one)."""

    def __init__(self) -> None:
        self.stats = StreamStats()
        self._carry = b""

    def feed(self, chunk: bytes, final: bool = False) -> None:
        data = self._carry + chunk
        cut = len(data)
        if not final:
            # Tokens may straddle chunks: keep what follows the last whitespace for the next chunk
            # (and the name before it, so that "/Name Do" stays together), unless that tail is long
            # (a run without whitespace is scanned as it is).
            last = _last_whitespace(data, len(data))
            if last >= 0 and len(data) - last <= 4096:
                cut = last + 1
                start = _last_whitespace(data, last) + 1
                if data[start:start + 1] == b"/":
                    cut = start
        part, self._carry = data[:cut], data[cut:]
        self.stats.operators += len(_OPERATOR.findall(part))
        self.stats.text_operators += len(_TEXT_SHOW.findall(part))
        self.stats.draws.update(_DO.findall(part))

    def finish(self) -> StreamStats:
        self.feed(b"", final=True)
        return self.stats


def _filters(stream: Any) -> list[str]:
    value = _resolve(stream.get("/Filter"))
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [str(_resolve(item)) for item in items]


def _is_stream(obj: Any) -> bool:
    from pypdf.generic import StreamObject

    return isinstance(obj, StreamObject)


def _raw(stream: Any) -> bytes:
    """A pypdf stream's encoded bytes (decrypted already: pypdf decrypts objects as it reads them).
    pypdf keeps them in ``_data``; ``get_data()`` would decode them without our bound."""
    raw = getattr(stream, "_data", b"")
    return bytes(raw) if isinstance(raw, bytes | bytearray) else b""


class _Budget:
    """The document's decoded-content budget."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    @property
    def left(self) -> int:
        return max(0, self.limit - self.used)


def _inflate(raw: bytes, cap: int) -> Iterator[tuple[bytes, int]]:
    """Inflate zlib data in chunks of at most 1 MiB and at most ``cap`` bytes in all; yields
    ``(chunk, encoded bytes consumed so far)``. Stops quietly at a corrupt block (PDFium draws what
    inflated before it too)."""
    inflater = zlib.decompressobj()
    view = memoryview(raw)
    position = produced = 0
    while produced < cap:
        if inflater.unconsumed_tail:
            piece: bytes | memoryview = inflater.unconsumed_tail
        elif position < len(raw):
            piece = view[position:position + _INPUT_SLICE]
            position += len(piece)
        else:
            piece = b""  # flush what the inflater still holds
        try:
            out = inflater.decompress(piece, min(_CHUNK, cap - produced))
        except zlib.error:
            return
        if out:
            produced += len(out)
            yield out, position - len(inflater.unconsumed_tail)
        elif not piece or inflater.eof:
            return


def _decoded_chunks(stream: Any, cap: int, meter: StreamStats) -> Iterator[bytes]:
    """The stream's decoded bytes in chunks, at most ``cap`` bytes in all; ``meter.decoded`` and
    ``meter.encoded`` track the output and the input consumed.

    Flate alone without decode parameters (what content streams use) is inflated with
    ``zlib.decompressobj`` and ``max_length`` (a corrupt block ends it, as it ends PDFium's); unfiltered
    data is sliced; other filter chains, and Flate with parameters (a PNG predictor would hide the
    operators from the scan), are decoded by pypdf under its output limits (``pypdf.Configuration``)
    set to ``cap``: a chain that would go past it counts as ``cap`` bytes.

    Raises:
        _Over: "corrupt PDF: content stream N 0 R cannot be decoded (…)" when pypdf cannot decode a
            chain: what it holds could not be measured.
    """
    raw = _raw(stream)
    filters = _filters(stream)
    if "/DecodeParms" in stream or "/DP" in stream:  # a predictor: pypdf applies it as PDFium does
        filters = ["(with parameters)"]
    if not filters:
        meter.decoded = meter.encoded = min(len(raw), cap)
        for start in range(0, meter.decoded, _CHUNK):
            yield raw[start:min(start + _CHUNK, meter.decoded)]
        return
    if filters in (["/FlateDecode"], ["/Fl"]):
        for chunk, consumed in _inflate(raw, cap):
            meter.decoded += len(chunk)
            meter.encoded = consumed
            yield chunk
        return
    from pypdf import apply_configuration  # pypdf.Configuration: its documented limits
    from pypdf.errors import LimitReachedError

    cap = max(1, cap)
    try:
        with apply_configuration(zlib_maximum_output_length=cap, lzw_maximum_output_length=cap,
                                 run_length_maximum_output_length=cap, brotli_maximum_output_length=cap,
                                 jbig2_maximum_output_length=cap, array_based_stream_maximum_output_length=cap,
                                 stream_decoding_work_maximum_length=4 * cap):
            decoded = stream.get_data()
    except LimitReachedError:
        meter.encoded, meter.decoded = len(raw), cap
        return
    except Exception as exc:  # any decoder failure: unmeasured content is not handed to PDFium
        ref = getattr(stream, "indirect_reference", None)
        which = f"content stream {ref.idnum} 0 R" if ref is not None else "a content stream"
        raise _Over(f"corrupt PDF: {which} cannot be decoded ({type(exc).__name__})") from None
    meter.encoded, meter.decoded = len(raw), min(len(decoded), cap)
    for start in range(0, meter.decoded, _CHUNK):
        yield decoded[start:min(start + _CHUNK, meter.decoded)]


def _measure_inflation(stream: Any, cap: int) -> tuple[int, int]:
    """(decoded, encoded consumed) of a Flate stream inflated up to ``cap`` bytes, output discarded:
    how far a stream refused for its operators would inflate."""
    if _filters(stream) not in (["/FlateDecode"], ["/Fl"]):
        return 0, 0
    decoded = encoded = 0
    for chunk, consumed in _inflate(_raw(stream), cap):
        decoded += len(chunk)
        encoded = consumed
    return decoded, encoded


def measure_content(pages: list[tuple[Any, Any]], *, max_content_bytes: int, max_page_operators: int,
                    max_page_text_operators: int, deadline: Deadline | None = None) -> ContentCensus:
    """Decode and scan what each page draws, within the budgets.

    Args:
        pages: ``(page dictionary, resources)`` pairs from :func:`walk_pages`.
        max_content_bytes: decoded bytes of all content streams together (each stream counted once).
        max_page_operators: operators one page may make PDFium build; a form XObject counts as many
            times as it is drawn (``Do``), and nested forms multiply; an annotation counts one plus its
            appearance; Type 3 glyph procedures and tiling patterns count once per document.
        max_page_text_operators: text-show operators (``Tj``, ``TJ``, ``'``, ``"``) per page, same rule.
        deadline: checked before each stream is read.

    Returns:
        A :class:`ContentCensus`; ``over_budget`` holds the reason when a budget was exceeded:
        "PDF content too large: more than 16,777,216 bytes of decompressed content streams (limit …)",
        "PDF page too complex: page 1 draws more than 20,000 text-show operators (limit 20,000)",
        "corrupt PDF: form XObjects on page 2 nested more than 32 deep" or "… draw each other in a cycle".

    Raises:
        OverBudget: from ``deadline`` only.
    """
    meter = _ContentMeter(max_content_bytes=max_content_bytes, max_page_operators=max_page_operators,
                          max_page_text_operators=max_page_text_operators, deadline=deadline)
    return meter.measure(pages)


class _ContentMeter:
    """The state of one :func:`measure_content` run: the byte budget, memoized stream statistics and costs,
    the Type 3 fonts and patterns already counted (PDFium parses them once per document)."""

    def __init__(self, *, max_content_bytes: int, max_page_operators: int, max_page_text_operators: int,
                 deadline: Deadline | None) -> None:
        self.max_content_bytes = max_content_bytes
        self.max_page_operators = max_page_operators
        self.max_page_text_operators = max_page_text_operators
        self.deadline = deadline
        self.census = ContentCensus()
        self.budget = _Budget(max_content_bytes)
        self.memo: dict[tuple[Any, ...], StreamStats] = {}
        self.costs: dict[tuple[Any, ...], tuple[int, int]] = {}
        self.once: set[tuple[Any, ...]] = set()
        self.extra = 0  # operators of Type 3 glyphs and patterns met while costing the current page

    def _over(self, operators: int, text: int) -> bool:
        return operators > self.max_page_operators or text > self.max_page_text_operators

    def measure(self, pages: list[tuple[Any, Any]]) -> ContentCensus:
        """Cost every page in order; stop at the first budget exceeded (its reason in ``over_budget``)."""
        try:
            for number, (page_dict, resources) in enumerate(pages, 1):
                self._measure_page(number, page_dict, resources)
        except _Over as over:
            self.census.over_budget = str(over)
        self.census.decoded_bytes = self.budget.used
        return self.census

    def _measure_page(self, number: int, page_dict: Any, resources: Any) -> None:
        self.extra = 0
        contents = page_dict.raw_get("/Contents") if "/Contents" in page_dict else None
        streams = self.streams_of(contents) if contents is not None else []
        operators, text = self.cost_of(streams, ("page", number), resources, (), number)
        annot_ops, annot_text = self.annotation_cost(page_dict, resources, number)
        operators += annot_ops + self.extra
        text += annot_text
        self.census.page_operators.append(operators)
        self.census.page_text_operators.append(text)
        if text > self.max_page_text_operators:
            raise _Over(f"PDF page too complex: page {number} draws more than {self.max_page_text_operators:,} "
                        f"text-show operators (limit {self.max_page_text_operators:,})")
        if operators > self.max_page_operators:
            raise _Over(f"PDF page too complex: page {number} draws more than {self.max_page_operators:,} "
                        f"operators (limit {self.max_page_operators:,})")

    def note_inflation(self, decoded: int, encoded: int, key: tuple[Any, ...]) -> None:
        """Keep the stream that inflates most (a ``pdf_stream_inflation`` candidate)."""
        if decoded < INFLATION_MIN_BYTES:
            return
        found = Inflation(decoded, encoded, key[0] if isinstance(key[0], int) else None)
        if self.census.inflation is None or found.ratio > self.census.inflation.ratio:
            self.census.inflation = found

    def scan(self, streams: list[tuple[Any, tuple[Any, ...]]], key: tuple[Any, ...]) -> StreamStats:
        """Decode and scan ``streams`` as one logical stream (memoized by ``key``)."""
        if key in self.memo:
            return self.memo[key]
        if self.deadline is not None:
            self.deadline.check("reading the content streams")
        scanner = _Scanner()
        for stream, stream_key in streams:
            meter = StreamStats()
            for chunk in _decoded_chunks(stream, self.budget.left + 1, meter):
                scanner.feed(chunk)
                if self._over(scanner.stats.operators, scanner.stats.text_operators):
                    self.note_inflation(*_measure_inflation(stream, self.max_content_bytes + 1), stream_key)
                    break
            self.budget.used += meter.decoded
            self.note_inflation(meter.decoded, meter.encoded, stream_key)
            if self.budget.used > self.budget.limit:
                raise _Over(f"PDF content too large: more than {self.budget.limit:,} bytes of decompressed "
                            f"content streams (limit {self.budget.limit:,})")
            if self._over(scanner.stats.operators, scanner.stats.text_operators):
                break
        stats = scanner.finish()
        self.memo[key] = stats
        return stats

    @staticmethod
    def streams_of(value: Any) -> list[tuple[Any, tuple[Any, ...]]]:
        """A ``/Contents`` value (a stream or an array of streams) as ``(stream, key)`` pairs."""
        resolved = _resolve(value)
        items = list(resolved)[:10_000] if isinstance(resolved, list) else [value]
        return [(_resolve(item), _key(item)) for item in items if _is_stream(_resolve(item))]

    def cost_of(self, streams: list[tuple[Any, tuple[Any, ...]]], key: tuple[Any, ...], resources: Any,
                stack: tuple[tuple[Any, ...], ...], page: int) -> tuple[int, int]:
        """(operators, text operators) that drawing ``streams`` costs, with the forms it draws."""
        if key in self.costs:
            return self.costs[key]
        if key in stack:
            raise _Over(f"corrupt PDF: form XObjects on page {page} draw each other in a cycle")
        if len(stack) > MAX_FORM_DEPTH:
            raise _Over(f"corrupt PDF: form XObjects on page {page} nested more than {MAX_FORM_DEPTH} deep")
        stats = self.scan(streams, key)
        operators, text = stats.operators, stats.text_operators
        res = _resolve(resources)
        self.extra += self.extras(res, (*stack, key), page)
        xobjects = _resolve(res.get("/XObject")) if hasattr(res, "get") else None
        if xobjects is not None and hasattr(xobjects, "raw_get"):
            for name, times in stats.draws.items():
                sub = self._form_cost(xobjects, name, resources, (*stack, key), page)
                operators += times * sub[0]
                text += times * sub[1]
                if self._over(operators, text):
                    break
        self.costs[key] = (operators, text)
        return operators, text

    def _form_cost(self, xobjects: Any, name: bytes, resources: Any, stack: tuple[tuple[Any, ...], ...],
                   page: int) -> tuple[int, int]:
        """The cost of one drawing of the form XObject ``name`` (0 for an image or a missing name)."""
        target_name = "/" + name.decode("latin-1")
        target_raw = xobjects.raw_get(target_name) if target_name in xobjects else None
        target = _resolve(target_raw)
        if not _is_stream(target) or target.get("/Subtype") != "/Form":
            return 0, 0
        form_resources = target.raw_get("/Resources") if "/Resources" in target else resources
        form_key = _key(target_raw)
        return self.cost_of([(target, form_key)], form_key, form_resources, stack, page)

    def extras(self, res: Any, stack: tuple[tuple[Any, ...], ...], page: int) -> int:
        """Operators of the Type 3 glyph procedures and tiling patterns of ``res`` not counted yet."""
        if not hasattr(res, "get"):
            return 0
        return self._type3_cost(res, stack, page) + self._pattern_cost(res, stack, page)

    def _type3_cost(self, res: Any, stack: tuple[tuple[Any, ...], ...], page: int) -> int:
        total = 0
        fonts = _resolve(res.get("/Font"))
        for font_raw in list(fonts.values())[:1000] if hasattr(fonts, "values") else []:
            font, key = _resolve(font_raw), _key(font_raw)
            if not hasattr(font, "get") or font.get("/Subtype") != "/Type3" or key in self.once:
                continue
            self.once.add(key)
            procs = _resolve(font.get("/CharProcs"))
            font_res = font.raw_get("/Resources") if "/Resources" in font else res
            for proc_raw in list(procs.values())[:10_000] if hasattr(procs, "values") else []:
                proc = _resolve(proc_raw)
                if _is_stream(proc):
                    proc_key = _key(proc_raw)
                    total += self.cost_of([(proc, proc_key)], proc_key, font_res, stack, page)[0]
        return total

    def _pattern_cost(self, res: Any, stack: tuple[tuple[Any, ...], ...], page: int) -> int:
        total = 0
        patterns = _resolve(res.get("/Pattern"))
        for pattern_raw in list(patterns.values())[:1000] if hasattr(patterns, "values") else []:
            pattern, key = _resolve(pattern_raw), _key(pattern_raw)
            if not _is_stream(pattern) or key in self.once:
                continue
            self.once.add(key)
            pattern_res = pattern.raw_get("/Resources") if "/Resources" in pattern else res
            total += self.cost_of([(pattern, key)], key, pattern_res, stack, page)[0]
        return total

    def annotation_cost(self, page_dict: Any, resources: Any, page: int) -> tuple[int, int]:
        """One operator per annotation plus its normal appearance streams (drawn when rendering)."""
        annotations = _resolve(page_dict.get("/Annots"))
        if not isinstance(annotations, list):
            return 0, 0
        operators = text = 0
        for annot_raw in list(annotations)[: self.max_page_operators + 1]:
            operators += 1
            for state_raw in _appearance_states(_resolve(annot_raw)):
                form = _resolve(state_raw)
                if _is_stream(form):
                    form_key = _key(state_raw)
                    form_res = form.raw_get("/Resources") if "/Resources" in form else resources
                    sub_ops, sub_text = self.cost_of([(form, form_key)], form_key, form_res, (), page)
                    operators += sub_ops
                    text += sub_text
            if self._over(operators, text):
                break
        return operators, text


def _appearance_states(annot: Any) -> list[Any]:
    """The (raw) normal appearance streams of an annotation: its ``/AP /N`` stream, or each state's."""
    appearance = _resolve(annot.get("/AP")) if hasattr(annot, "get") else None
    normal_raw = None
    if appearance is not None and hasattr(appearance, "raw_get") and "/N" in appearance:
        normal_raw = appearance.raw_get("/N")
    normal = _resolve(normal_raw)
    if _is_stream(normal):
        return [normal_raw]
    if hasattr(normal, "raw_get"):
        return [normal.raw_get(k) for k in list(normal.keys())[:16]]
    return []
