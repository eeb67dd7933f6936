"""What each incremental save of a PDF changed (after pdf-verify-mcp's object-level diff of each revision).

A PDF saved incrementally keeps its first version and appends each later one after the previous ``%%EOF``
(ISO 32000-1 §7.5.6, "Incremental updates"). The objects a later revision (re)defines say what the save did:

- page content streams, fonts or images (XObjects) rewritten → the page's look changed: **high**
  (``pdf_incremental_update`` with ``field`` ``content``); this is what an editor's "edit text" leaves;
- annotations or the page dictionary only → **medium** (something was laid over the page);
- the document information dictionary, the XMP metadata stream, the catalog, or a digital signature only
  → **low** (signing and metadata saves are benign and never move a verdict alone);
- objects that cannot be told (inside a compressed object stream) → **medium**.

Everything here reads the raw bytes (object headers between ``%%EOF`` markers) and the final version's
object graph (which objects are pages, contents, fonts, XObjects, annotations, metadata); nothing renders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from leadeval.models import Severity

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pypdf import PdfReader

_EOF_RE = re.compile(rb"%%EOF")
_OBJ_RE = re.compile(rb"(?<![0-9])(\d{1,10})\s+(\d{1,5})\s+obj\b")
_LINEARIZED_WINDOW = 1024

#: Roles an object can play, worst first (what a revision rewrote).
CONTENT_ROLES = ("content", "font", "xobject")
OVERLAY_ROLES = ("annotation", "page")
BENIGN_ROLES = ("metadata", "info", "catalog", "signature", "acroform")


@dataclass
class Revision:
    """One saved revision after the first: its 1-based number, the objects it (re)defines by role, and
    whether it holds compressed object streams whose members cannot be listed from the bytes."""

    number: int
    roles: dict[str, list[str]] = field(default_factory=dict)
    unknown: int = 0
    object_streams: int = 0
    #: 1-based pages whose page object or content stream this revision rewrote.
    pages: list[int] = field(default_factory=list)


def _ref_num(obj: Any) -> int | None:
    ref = getattr(obj, "indirect_reference", None)
    if ref is not None:
        return int(ref.idnum)
    idnum = getattr(obj, "idnum", None)
    return int(idnum) if idnum is not None else None


def _refs(value: Any) -> list[int]:
    """Object numbers of an indirect reference or an array of them (the array's own number too)."""
    out: list[int] = []
    num = getattr(value, "idnum", None)
    if num is not None:
        out.append(int(num))
        value = value.get_object()
    if isinstance(value, list):
        out += [int(v.idnum) for v in value if getattr(v, "idnum", None) is not None]
    return out


def page_objects(reader: PdfReader, max_pages: int = 50) -> dict[int, int]:
    """Object number → 1-based page, for each page object and its content streams."""
    out: dict[int, int] = {}
    for index, page in enumerate(reader.pages):
        if index >= max_pages:
            break
        num = _ref_num(page)
        if num is not None:
            out[num] = index + 1
        if "/Contents" in page:
            out.update({n: index + 1 for n in _refs(page.raw_get("/Contents"))})
    return out


def object_roles(reader: PdfReader, max_pages: int = 50) -> dict[int, str]:
    """Object number → role in the final version: ``page N``-level roles (content, font, xobject, annotation,
    page) and document-level ones (info, metadata, catalog, acroform, signature)."""
    roles: dict[int, str] = {}
    trailer: Any = reader.trailer
    for key, role in (("/Info", "info"), ("/Root", "catalog")):
        roles.update({n: role for n in _refs(trailer.raw_get(key)) if key in trailer})
    root: Any = reader.trailer["/Root"].get_object()
    if "/Metadata" in root:
        roles.update({n: "metadata" for n in _refs(root.raw_get("/Metadata"))})
    if "/AcroForm" in root:
        roles.update({n: "acroform" for n in _refs(root.raw_get("/AcroForm"))})
    for index, page in enumerate(reader.pages):
        if index >= max_pages:
            break
        page_num = _ref_num(page)
        if page_num is not None:
            roles[page_num] = "page"
        if "/Contents" in page:
            roles.update({n: "content" for n in _refs(page.raw_get("/Contents"))})
        resources: Any = page.get("/Resources")
        resources = resources.get_object() if resources is not None else None
        if hasattr(resources, "get"):
            for key, role in (("/Font", "font"), ("/XObject", "xobject")):
                group: Any = resources.get(key)
                group = group.get_object() if group is not None else None
                if hasattr(group, "values"):
                    for item in group.values():
                        roles.update({n: role for n in _refs(item)})
                        roles.update(_font_parts(item) if role == "font" else {})
        if "/Annots" in page:
            roles.update(_annotation_roles(page.raw_get("/Annots"), roles))
    return roles


def _annotation_roles(annots: Any, known: dict[int, str]) -> dict[int, str]:
    """Roles of a page's annotations: ``signature`` for a signature field's widget, else ``annotation``
    (objects already known keep their role)."""
    out = {n: "annotation" for n in _refs(annots) if n not in known}
    for annot in (annots.get_object() or []):
        a = annot.get_object()
        if hasattr(a, "get") and a.get("/FT") == "/Sig":
            out.update({n: "signature" for n in _refs(annot)})
    return out


def _font_parts(font_ref: Any) -> dict[int, str]:
    """A font's descriptor, embedded font program and descendant fonts (they are the font too)."""
    out: dict[int, str] = {}
    try:
        font = font_ref.get_object()
        descendants = font.get("/DescendantFonts")
        parts = [font]
        if descendants is not None:
            for d in descendants.get_object()[:4]:
                out.update({n: "font" for n in _refs(d)})
                parts.append(d.get_object())
        for part in parts:
            desc_ref = part.raw_get("/FontDescriptor") if "/FontDescriptor" in part else None
            if desc_ref is None:
                continue
            out.update({n: "font" for n in _refs(desc_ref)})
            desc = desc_ref.get_object()
            for key in ("/FontFile", "/FontFile2", "/FontFile3"):
                if key in desc:
                    out.update({n: "font" for n in _refs(desc.raw_get(key))})
    except Exception:  # a malformed font: its parts are simply not classified
        return out
    return out


def revision_segments(data: bytes) -> list[tuple[int, int]]:
    """Byte ranges ``(start, end)`` of each saved revision (the first from 0), one per ``%%EOF`` marker,
    the first-page trailer of a linearized file merged into the first revision."""
    ends = [m.end() for m in _EOF_RE.finditer(data)]
    if len(ends) >= 2 and b"/Linearized" in data[:_LINEARIZED_WINDOW]:
        ends = ends[1:]
    segments, start = [], 0
    for end in ends:
        segments.append((start, end))
        start = end
    return segments


def _canonical(obj: Any, depth: int = 0) -> Any:
    """A comparable form of a PDF object across two readers: references as ``("ref", num, gen)``,
    dictionaries as sorted pairs, arrays as tuples, streams as their dictionary plus decoded bytes."""
    if depth > 12:
        return "…"
    idnum = getattr(obj, "idnum", None)
    if idnum is not None and hasattr(obj, "generation"):
        return ("ref", int(idnum), int(obj.generation))
    if hasattr(obj, "get_data") and hasattr(obj, "items"):
        try:
            payload: Any = obj.get_data()
        except Exception:
            payload = getattr(obj, "_data", b"")
        head = {k: v for k, v in obj.items() if k not in ("/Length", "/Filter", "/DecodeParms")}
        return ("stream", _canonical(head, depth + 1), payload)
    if isinstance(obj, list):
        return tuple(_canonical(v, depth + 1) for v in obj)
    if hasattr(obj, "items"):
        return tuple(sorted((str(k), _canonical(v, depth + 1)) for k, v in obj.items()))
    return str(obj)


#: Page attributes a page may inherit from the page tree (ISO 32000-1 §7.7.3.4): a writer that copies them
#: onto the page changes nothing that is drawn.
_INHERITABLE = ("/MediaBox", "/CropBox", "/Rotate", "/Resources")


def _unchanged(previous: PdfReader | None, current: PdfReader | None, num: int) -> bool:
    """True when object ``num`` reads the same in both versions (a writer re-emitting an object it did not
    change, as pypdf's incremental writer does with a page it only looked at)."""
    if previous is None or current is None:
        return False
    try:
        before: Any = previous.get_object(num)
        after: Any = current.get_object(num)
    except Exception:
        return False
    if before is None or after is None:
        return False
    if hasattr(before, "keys") and hasattr(after, "keys") and before.get("/Type") == "/Page":
        added = [k for k in _INHERITABLE if (k in after) != (k in before)]
        before = {k: v for k, v in before.items() if k not in added}
        after = {k: v for k, v in after.items() if k not in added}
    return bool(_canonical(before) == _canonical(after))


def _reader_of(data: bytes) -> PdfReader | None:
    import io

    from pypdf import PdfReader

    try:
        return PdfReader(io.BytesIO(data), strict=False)
    except Exception:
        return None


def diff_revisions(data: bytes, reader: PdfReader | None) -> list[Revision]:
    """Every revision after the first with the objects it (re)defines, classified by :func:`object_roles`
    (``unknown`` counts objects with no known role; signature dictionaries are recognised by ``/ByteRange``)."""
    segments = revision_segments(data)
    if len(segments) <= 1:
        return []
    roles: dict[int, str] = {}
    on_page: dict[int, int] = {}
    if reader is not None:
        try:
            roles = object_roles(reader)
            on_page = page_objects(reader)
        except Exception:  # an unreadable object graph: every object stays unknown
            roles = {}
    out = []
    versions = [_reader_of(data[:end]) for _, end in segments[:-1]][:8] if reader is not None else []
    versions.append(reader)
    for number, (start, end) in enumerate(segments[1:], start=2):
        chunk = data[start:end]
        revision = Revision(number)
        previous = versions[number - 2] if number - 2 < len(versions) else None
        current = versions[number - 1] if number - 1 < len(versions) else None
        headers = list(_OBJ_RE.finditer(chunk))
        for i, match in enumerate(headers):
            num = int(match.group(1))
            if _unchanged(previous, current, num):
                continue
            body = chunk[match.end(): headers[i + 1].start() if i + 1 < len(headers) else len(chunk)]
            role = roles.get(num)
            if role is None and b"/ByteRange" in body[:4096]:
                role = "signature"
            if role is None and b"/Type/ObjStm" in body[:200].replace(b" ", b""):
                revision.object_streams += 1
                continue
            if role is None and (b"/Type/XRef" in body[:400].replace(b" ", b"")):
                continue  # the revision's own cross-reference stream
            if role is None:
                revision.unknown += 1
                continue
            revision.roles.setdefault(role, []).append(str(num))
            if role in ("content", "page") and num in on_page and on_page[num] not in revision.pages:
                revision.pages.append(on_page[num])
        out.append(revision)
    return out


def revision_severity(revision: Revision) -> tuple[Severity, str]:
    """``(severity, what changed)`` of one revision by the rule in the module docstring."""
    changed = [f"{role} (object{'s' if len(nums) > 1 else ''} {', '.join(nums[:5])})"
               for role, nums in revision.roles.items()]
    if revision.object_streams:
        changed.append(f"{revision.object_streams} compressed object stream(s)")
    if revision.unknown:
        changed.append(f"{revision.unknown} other object(s)")
    what = ", ".join(changed) or "no object"
    if any(r in revision.roles for r in CONTENT_ROLES):
        return "high", what
    if "signature" in revision.roles and not revision.unknown:
        return "low", what  # signing adds a widget annotation and rewrites the page's /Annots and the form
    if any(r in revision.roles for r in OVERLAY_ROLES) or revision.object_streams or revision.unknown:
        return "medium", what
    return "low", what
