"""Hostile uploads end as a verdict with their reason, within budgets checked before the expensive step.

The inputs are built in memory by ``tests/hostile_inputs.py``. These tests assert what each one ends as
and that the refusals happen before PDFium loads a page or Pillow decodes a pixel (the expensive step is
made to fail if it is reached); how much memory and time they take is measured by ``make bench-hostile``
(``docs/benchmarks.md``), never here.
"""

from __future__ import annotations

import builtins
import io
import re
import zlib
from typing import Any

import pytest
from PIL import Image

from leadeval.screening import documents, fraud
from leadeval.screening.documents import DocumentLimits, prepare_document, sniff_type
from leadeval.screening.pdf_budget import OverBudget, check_object_claims, walk_pages
from tests import hostile_inputs as h

LIGHT = [item for item in h.INPUTS if not item.heavy]

#: Each generated input that must be refused, with its exact reason (default limits).
REFUSED: dict[str, str] = {
    "text_show_4m": "PDF page too complex: page 1 draws more than 20,000 text-show operators (limit 20,000)",
    "inflate_1gib": ("PDF content too large: more than 16,777,216 bytes of decompressed content streams "
                     "(limit 16,777,216)"),
    "webp_16383x3050": "image too large to decode: 16383x3050 WebP needs about 799 MB (limit 134 MB)",
    "deep_nesting": "corrupt PDF: RecursionError: objects nested too deeply",
    "circular_pages": "corrupt PDF: page tree node object 2 is reached twice (a cycle or a shared subtree)",
    "pages_500": "too many pages: 500 (limit 30)",
    "pages_lie": "too many pages: 500 (limit 30; the page tree's /Count says 1)",
    "png_header_65500": "image too large: 65500x65500 pixels (limit 50000000)",
    "jpeg_header_65500": "image too large: 65500x65500 pixels (limit 50000000)",
    "png_16bit_rgba": "image too large to decode: 6000x6000 PNG (RGBA) needs about 144 MB (limit 134 MB)",
    "tiff_200_pages": "too many frames: more than 30 (limit 30)",
    "gif": "unsupported file type: GIF image",
    "svg_xxe": "unsupported file type: SVG image",
    "xref_1m_entries": "too many objects: the cross-reference tables list more than 100,000 (limit 100,000)",
}



#: Generated inputs that are accepted (clean, under the budgets, or just under them), with the signals
#: found on them.
ACCEPTED: dict[str, set[str]] = {
    "clean_paystub": set(),
    "limit_pdf_reverse_text": set(),
    "tiff_3_pages": set(),
    "pdf_zip_polyglot": {"pdf_data_after_eof"},
    "limit_pdf_page": {"pdf_stream_inflation"},  # 1.2 MB of repeated operators in 8 KB: crafted
    "limit_pdf_30_pages": set(),
    "limit_pdf_content": {"pdf_stream_inflation"},
    "forensics_one_line": {"text_outside_cropbox"},  # the line runs 38,000 pt past the page's edge
    "forensics_boxes_over_text": set(),  # white text on grey boxes is honest
    "limit_png": set(),
    "limit_webp": set(),
}


def test_every_light_input_has_an_expectation() -> None:
    assert {item.name for item in LIGHT} == set(REFUSED) | set(ACCEPTED)


def test_pdf_over_the_time_budget_stops_between_steps() -> None:
    """20 pages of text PDFium extracts slowly (one line drawn right to left): each page is within the
    budgets, together they exceed the time budget, which stops preparation before a later step, with a
    reason. (How long one step can take is measured by make bench-hostile, not here.)"""
    doc = prepare_document("d1", h.reverse_text_pdf(20, 8_000), limits=DocumentLimits(time_budget_seconds=1))
    assert doc.unreadable_reason is not None
    assert re.fullmatch(r"preparation over its time budget: \d+\.\d s before (reading the content streams|"
                        r"extracting the text of page \d+|rendering page 1) \(limit 1 s\)",
                        doc.unreadable_reason), doc.unreadable_reason
    assert (doc.text, doc.page_images) == (None, [])


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_hostile_input_is_refused_with_its_reason(name: str) -> None:
    doc = prepare_document("d1", h.BY_NAME[name].build())
    assert doc.unreadable_reason == REFUSED[name]
    assert (doc.text, doc.page_images) == (None, [])


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_input_within_the_budgets_is_prepared(name: str) -> None:
    """Inputs just under the size, page and operator budgets are prepared. The time budget is another test's
    subject (test_pdf_over_the_time_budget_stops_between_steps): it is set high here, so a loaded machine cannot turn
    a size test into a timing test."""
    doc = prepare_document("d1", h.BY_NAME[name].build(), limits=DocumentLimits(time_budget_seconds=600))
    assert doc.unreadable_reason is None
    assert len(doc.page_images) == 1
    assert {s.code for s in doc.signals} == ACCEPTED[name]


@pytest.mark.parametrize(("name", "at_least"), [("text_show_4m", 400), ("inflate_1gib", 900)])
def test_content_bombs_carry_the_inflation_signal(name: str, at_least: int) -> None:
    """The stream is inflated (output discarded) up to the content budget to measure it, also when its
    operators already refused it."""
    data = h.BY_NAME[name].build()
    [signal] = prepare_document("d1", data).signals
    assert (signal.code, signal.severity, signal.document_id) == ("pdf_stream_inflation", "high", "d1")
    match = re.fullmatch(r"content stream 4 0 R inflates ([\d,]+)× \(at least 16,777,217 bytes from ([\d,]+)\) "
                         r"in a ([\d,]+)-byte file", signal.evidence)
    assert match is not None, signal.evidence
    ratio, encoded, size = (int(g.replace(",", "")) for g in match.groups())
    assert ratio == round(16_777_217 / encoded) and ratio >= at_least and size == len(data)


# --------------------------------------------------------------------------- before the expensive step


def _forbid_pdfium(monkeypatch: pytest.MonkeyPatch) -> None:
    import pypdfium2

    monkeypatch.setattr(pypdfium2, "PdfDocument", lambda *a, **k: pytest.fail("PDFium was given the file"))


def _forbid_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import ImageFile

    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda *a, **k: pytest.fail("an image was decoded"))


@pytest.mark.parametrize("name", ["text_show_4m", "inflate_1gib", "deep_nesting", "circular_pages", "pages_500",
                                  "pages_lie"])
def test_pdf_bombs_never_reach_pdfium(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _forbid_pdfium(monkeypatch)
    assert prepare_document("d1", h.BY_NAME[name].build()).unreadable_reason == REFUSED[name]


@pytest.mark.parametrize("name", ["png_header_65500", "jpeg_header_65500", "png_16bit_rgba", "tiff_200_pages"])
def test_image_bombs_are_never_decoded(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _forbid_decoding(monkeypatch)
    assert prepare_document("d1", h.BY_NAME[name].build()).unreadable_reason == REFUSED[name]


def test_large_webp_is_refused_before_pillow_opens_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """libwebp allocates the whole canvas when Pillow opens the file: the header is read first."""
    monkeypatch.setattr(Image, "open", lambda *a, **k: pytest.fail("Pillow opened the WebP"))
    assert prepare_document("d1", h.webp_solid()).unreadable_reason == REFUSED["webp_16383x3050"]


def test_flate_content_is_never_inflated_unbounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The census inflates Flate streams itself with an output bound; pypdf's unbounded ``get_data`` (and
    its cache of the decoded stream) is never used for them."""
    from pypdf.generic import EncodedStreamObject

    monkeypatch.setattr(EncodedStreamObject, "get_data", lambda self: pytest.fail("get_data on a content stream"))
    _forbid_pdfium(monkeypatch)
    doc = prepare_document("d1", h.inflation_bomb_pdf(64 << 20), limits=DocumentLimits(max_content_bytes=1 << 20))
    assert doc.unreadable_reason == ("PDF content too large: more than 1,048,576 bytes of decompressed content "
                                     "streams (limit 1,048,576)")
    assert doc.metadata["content_bytes"] == (1 << 20) + 1  # one byte past the budget, never more


# --------------------------------------------------------------------------- operator counting and forms


def _text_shows(n: int) -> bytes:
    return b"BT /F1 1 Tf " + b"(a)Tj " * n + b"ET\n"


def _form_pdf(page_content: bytes, forms: dict[int, tuple[bytes, bytes]], *, annots: bytes = b"",
              fonts: bytes = b"/F1 5 0 R") -> bytes:
    """A one-page PDF; ``forms``: object number -> (content, XObject entries of its resources)."""
    objects = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << " + fonts
            + b" >> /XObject << /Fm 10 0 R >> >> /Contents 4 0 R " + annots + b">>"),
        4: h.stream_object(page_content),
        5: h.FONT,
    }
    for number, (content, xobjects) in forms.items():
        objects[number] = h.stream_object(content, extra=(
            b"/Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> "
            b"/XObject << " + xobjects + b" >> >> "))
    return h.pdf_bytes(objects)


def test_page_text_budget_is_exact() -> None:
    """The pay stub draws 13 text-show operators; 19,987 more make exactly the 20,000 allowed."""
    at = prepare_document("d1", h.operators_at_budget_pdf(text_shows=19_987, rectangles=0))
    over = prepare_document("d1", h.operators_at_budget_pdf(text_shows=19_988, rectangles=0))
    assert (at.unreadable_reason, at.metadata["max_page_text_operators"]) == (None, 20_000)
    assert over.unreadable_reason == ("PDF page too complex: page 1 draws more than 20,000 text-show operators "
                                      "(limit 20,000)")


def _png_sub_rows(data: bytes, columns: int) -> bytes:
    """``data`` (padded to whole rows) encoded with the PNG "Sub" predictor, one byte per pixel."""
    data += b" " * (-len(data) % columns)
    out = bytearray()
    for start in range(0, len(data), columns):
        row = data[start:start + columns]
        out += b"\x01" + bytes((row[i] - (row[i - 1] if i else 0)) & 0xFF for i in range(columns))
    return bytes(out)


def test_predictor_cannot_hide_operators_from_the_scan() -> None:
    """A PNG predictor turns the operators into deltas: the stream is decoded with its parameters (by pypdf,
    under the budget), as PDFium decodes it, before it is scanned."""
    content = _text_shows(20_001)
    encoded = zlib.compress(_png_sub_rows(content, 100))
    assert b"Tj" not in zlib.decompress(encoded)  # the raw inflated bytes hide them
    data = h.pdf_bytes({
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources " + h.PAGE_RESOURCES
           + b" /Contents 4 0 R >>",
        4: h.stream_object(encoded, flate=True, extra=b"/DecodeParms << /Predictor 12 /Columns 100 >> "),
        5: h.FONT,
    })
    assert prepare_document("d1", data).unreadable_reason == (
        "PDF page too complex: page 1 draws more than 20,000 text-show operators (limit 20,000)")


def test_content_stream_that_cannot_be_decoded_is_not_handed_to_pdfium(monkeypatch: pytest.MonkeyPatch) -> None:
    _forbid_pdfium(monkeypatch)
    data = h.pdf_bytes({
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        4: h.stream_object(b"4254 zz>", extra=b"/Filter /ASCIIHexDecode "),
    })
    assert prepare_document("d1", data).unreadable_reason == (
        "corrupt PDF: content stream 4 0 R cannot be decoded (PdfStreamError)")


def test_operators_are_counted_outside_names_and_numbers() -> None:
    content = b"q 1 0 0 1 0 0 cm /GS1 gs 0 0 m 10 10 l S Q\nBT /F1 12 Tf [(x) -120 (y)] TJ (z) ' 1 2 (w) \" ET"
    doc = prepare_document("d1", h.one_page_pdf(content), limits=DocumentLimits(min_text_chars=1))
    # q cm gs m l S Q BT Tf TJ ' " ET = 13 operators, plus the first word of the 4 string literals
    assert (doc.metadata["max_page_operators"], doc.metadata["max_page_text_operators"]) == (17, 3)


def test_a_form_counts_each_time_it_is_drawn() -> None:
    form = {10: (b"0 0 1 1 re f\n" * 999, b"")}  # 1,998 operators
    drawn_100 = prepare_document("d1", _form_pdf(b"/Fm Do\n" * 100, form))
    assert (drawn_100.metadata["max_page_operators"], drawn_100.unreadable_reason) == (100 + 199_800, None)
    assert prepare_document("d1", _form_pdf(b"/Fm Do\n" * 101, form)).unreadable_reason == (
        "PDF page too complex: page 1 draws more than 200,000 operators (limit 200,000)")


def test_nested_forms_multiply() -> None:
    """10 × 10 × 10 draws of a form of 100 text-show operators: 100,000, from a few hundred bytes."""
    forms = {10: (b"/Fm2 Do " * 10, b"/Fm2 11 0 R"), 11: (b"/Fm3 Do " * 10, b"/Fm3 12 0 R"),
             12: (_text_shows(100), b"")}
    doc = prepare_document("d1", _form_pdf(b"/Fm Do " * 10, forms))
    assert doc.unreadable_reason == ("PDF page too complex: page 1 draws more than 20,000 text-show operators "
                                     "(limit 20,000)")


def test_forms_drawing_each_other_are_a_corrupt_pdf(monkeypatch: pytest.MonkeyPatch) -> None:
    _forbid_pdfium(monkeypatch)
    forms = {10: (b"/Fm2 Do", b"/Fm2 11 0 R"), 11: (b"/Fm1 Do", b"/Fm1 10 0 R")}
    assert prepare_document("d1", _form_pdf(b"/Fm Do", forms)).unreadable_reason == (
        "corrupt PDF: form XObjects on page 1 draw each other in a cycle")


def test_forms_nested_too_deep_are_a_corrupt_pdf() -> None:
    forms = {10 + i: (b"/Fn Do", b"/Fn %d 0 R" % (11 + i)) for i in range(40)}
    forms[50] = (b"", b"")
    assert prepare_document("d1", _form_pdf(b"/Fm Do", forms)).unreadable_reason == (
        "corrupt PDF: form XObjects on page 1 nested more than 32 deep")


def test_annotation_appearances_count() -> None:
    """Rendering draws each annotation's appearance stream: they are part of the page's budget."""
    annots = b"/Annots [" + b"<< /Subtype /Widget /Rect [0 0 10 10] /AP << /N 10 0 R >> >> " * 21 + b"] "
    doc = prepare_document("d1", _form_pdf(b"", {10: (_text_shows(1_000), b"")}, annots=annots))
    assert doc.unreadable_reason == ("PDF page too complex: page 1 draws more than 20,000 text-show operators "
                                     "(limit 20,000)")


def test_type3_glyph_procedures_count() -> None:
    objects = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /T3 5 0 R >> >> "
           b"/Contents 4 0 R >>",
        4: h.stream_object(b"BT /T3 12 Tf (a) Tj ET"),
        5: b"<< /Type /Font /Subtype /Type3 /FontBBox [0 0 1 1] /FontMatrix [1 0 0 1 0 0] /FirstChar 97 "
           b"/LastChar 97 /Widths [1] /Encoding << /Differences [97 /a] >> /CharProcs << /a 6 0 R >> >>",
        6: h.stream_object(b"0 0 d0 " + b"0 0 1 1 re f\n" * 150_000),
    }
    assert prepare_document("d1", h.pdf_bytes(objects)).unreadable_reason == (
        "PDF page too complex: page 1 draws more than 200,000 operators (limit 200,000)")


# --------------------------------------------------------------------------- objects and page tree


def test_claimed_object_counts_are_refused_before_pypdf_reads_them(monkeypatch: pytest.MonkeyPatch) -> None:
    import pypdf

    monkeypatch.setattr(pypdf, "PdfReader", lambda *a, **k: pytest.fail("pypdf parsed the file"))
    data = h.clean_paystub_pdf().replace(b"/Size 6", b"/Size 5000000")
    assert prepare_document("d1", data).unreadable_reason == (
        "too many objects: the cross-reference data claims 5,000,000 (limit 100,000)")


def test_listed_cross_reference_entries_are_counted_before_pypdf_reads_them(monkeypatch: pytest.MonkeyPatch) -> None:
    import pypdf

    monkeypatch.setattr(pypdf, "PdfReader", lambda *a, **k: pytest.fail("pypdf parsed the file"))
    assert prepare_document("d1", h.xref_table_bomb(1_001), limits=DocumentLimits(max_pdf_objects=1_000)
                            ).unreadable_reason == (
        "too many objects: the cross-reference tables list more than 1,000 (limit 1,000)")


def test_cross_reference_stream_index_ranges_are_counted() -> None:
    with pytest.raises(OverBudget, match=r"claims 250,005 \(limit 100,000\)"):  # entries: 5 + 250,000
        check_object_claims(b"<< /Type /XRef /Size 10 /Index [0 5 100 250000] /W [1 2 1] >>", 100_000)
    check_object_claims(b"<< /Type /XRef /Size 10 /Index [0 5 100 5] >>", 100_000)  # within: no error


def test_object_headers_are_counted_before_pypdf_rebuilds_a_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """A file whose cross-reference data is broken is rebuilt by pypdf from its object headers."""
    import pypdf

    monkeypatch.setattr(pypdf, "PdfReader", lambda *a, **k: pytest.fail("pypdf parsed the file"))
    objects = b"".join(b"%d 0 obj\nnull\nendobj\n" % n for n in range(1, 1_002))
    data = b"%PDF-1.7\n" + objects + b"startxref\n999999\n%%EOF\n"
    assert prepare_document("d1", data, limits=DocumentLimits(max_pdf_objects=1_000)).unreadable_reason == (
        "too many objects: the file holds more than 1,000 (limit 1,000)")


def test_objects_read_are_counted() -> None:
    from leadeval.screening.pdf_budget import count_objects

    assert count_objects(_reader(h.clean_paystub_pdf())) == 5
    assert count_objects(_reader(h.xref_table_bomb(1_000))) == 999  # object 0 is the free list head


def _reader(data: bytes) -> Any:
    from pypdf import PdfReader

    return PdfReader(io.BytesIO(data), strict=False)


def test_page_tree_walk_collects_inherited_resources() -> None:
    data = h.pdf_bytes({
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R 6 0 R] /Count 3 /Resources << /Font << /F1 5 0 R >> >> >>",
        3: b"<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>",
        4: h.stream_object(h.text_operators()),
        5: h.FONT,
        6: b"<< /Type /Pages /Parent 2 0 R /Kids [7 0 R 8 0 R] /Count 2 >>",
        7: b"<< /Type /Page /Parent 6 0 R /Contents 4 0 R >>",
        8: b"<< /Type /Page /Parent 6 0 R /Contents 4 0 R /Resources << >> >>",
    })
    tree = walk_pages(_reader(data).trailer["/Root"], max_pages=30, max_nodes=100)
    assert (tree.count, tree.claimed, len(tree.pages)) == (3, 3, 3)
    fonts = [("/Font" in resources.get_object()) for _, resources in tree.pages]
    assert fonts == [True, True, False]  # inherited from the root twice; the last page has its own


def test_shared_page_tree_subtree_is_refused() -> None:
    """A node listed twice could multiply the page count (2^30 pages from 30 nodes)."""
    data = h.pdf_bytes({
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R 3 0 R] /Count 2 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
    })
    assert prepare_document("d1", data).unreadable_reason == (
        "corrupt PDF: page tree node object 3 is reached twice (a cycle or a shared subtree)")


def test_page_tree_node_budget() -> None:
    with pytest.raises(OverBudget, match="the page tree has more than 100 nodes"):
        walk_pages(_reader(h.many_pages_pdf(150, claimed=1)).trailer["/Root"], max_pages=30, max_nodes=100)


# --------------------------------------------------------------------------- time budget


def test_time_budget_is_checked_before_pdfium(monkeypatch: pytest.MonkeyPatch) -> None:
    _forbid_pdfium(monkeypatch)
    doc = prepare_document("d1", h.clean_paystub_pdf(), limits=DocumentLimits(time_budget_seconds=0))
    assert doc.unreadable_reason is not None
    assert doc.unreadable_reason.startswith("preparation over its time budget: ")
    assert doc.unreadable_reason.endswith(" s before measuring the page contents (limit 0 s)")


def test_time_budget_is_checked_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    _forbid_decoding(monkeypatch)
    doc = prepare_document("d1", h.tiff_pages(1), limits=DocumentLimits(time_budget_seconds=0))
    assert doc.unreadable_reason is not None
    assert doc.unreadable_reason.endswith(" s before decoding the image (limit 0 s)")


def test_document_prepared_log_carries_the_preparation_time(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="leadeval.screening.documents")
    prepare_document("d1", h.clean_paystub_pdf())
    [record] = [r for r in caplog.records if r.getMessage() == "document prepared"]
    assert isinstance(record.prepare_ms, int) and record.prepare_ms >= 0


# --------------------------------------------------------------------------- images


def _png(mode: str, size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize(("data", "decoded"), [
    (_png("RGBA", (100, 100)), 40_000),   # Pillow keeps 4 bytes per pixel
    (_png("RGB", (100, 100)), 40_000),    # RGB too (padded)
    (_png("I;16", (100, 100)), 20_000),   # 16-bit grey: 2
    (_png("P", (100, 100)), 10_000),      # palette: 1
    (h.png_16bit_rgba(100, 100), 40_000),  # 16 bits per channel in the file, 8 once decoded
    (h.webp_solid(100, 100), 160_000),    # libwebp's canvas + its frame + Pillow's image
    (h.tiff_pages(1, (100, 100)), 20_000),  # grey TIFF: two copies of 1 byte
])
def test_decoded_bytes_account_for_mode_and_decoder(data: bytes, decoded: int) -> None:
    doc = prepare_document("d1", data)
    assert doc.unreadable_reason is None
    assert doc.metadata.get("decoded_bytes", decoded) == decoded
    refused = prepare_document("d1", data, limits=DocumentLimits(max_decoded_image_bytes=decoded - 1))
    assert refused.unreadable_reason is not None
    assert refused.unreadable_reason.startswith("image too large to decode: 100x100 ")


def test_progressive_jpeg_counts_its_coefficient_buffers() -> None:
    """libjpeg keeps a progressive file's DCT coefficients for the whole image (2 bytes per sample):
    at 4:2:0, 3 bytes per pixel on top of the (draft-reduced) output."""
    out = io.BytesIO()
    Image.new("RGB", (4000, 3000), (200, 200, 200)).save(out, "JPEG", progressive=True, subsampling="4:2:0")
    baseline = io.BytesIO()
    Image.new("RGB", (4000, 3000), (200, 200, 200)).save(baseline, "JPEG", subsampling="4:2:0")
    # drafted to 1/2 scale: 2000 x 1500 x 4 bytes
    assert prepare_document("d1", baseline.getvalue()).metadata["decoded_bytes"] == 12_000_000
    assert prepare_document("d1", out.getvalue()).metadata["decoded_bytes"] == 12_000_000 + 36_000_000


def test_multipage_tiff_uses_its_first_page_only() -> None:
    pages = [Image.new("L", (300, 400), 0)] + [Image.new("L", (300, 400), 255)] * 2
    out = io.BytesIO()
    pages[0].save(out, "TIFF", save_all=True, append_images=pages[1:])
    doc = prepare_document("d1", out.getvalue())
    assert (doc.metadata["frames"], len(doc.page_images)) == (3, 1)
    assert Image.open(io.BytesIO(doc.page_images[0])).convert("L").getpixel((150, 200)) < 20  # the black page


def test_frame_budget_is_exact() -> None:
    assert prepare_document("d1", h.tiff_pages(30, (64, 64))).metadata["frames"] == 30
    assert prepare_document("d1", h.tiff_pages(31, (64, 64))).unreadable_reason == (
        "too many frames: more than 30 (limit 30)")


def test_heic_is_reduced_from_its_decoded_plane() -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()
    out = io.BytesIO()
    image = Image.new("RGB", (2400, 1600), (255, 255, 255))
    image.paste((0, 0, 0), (0, 0, 1200, 1600))
    image.save(out, "HEIF", quality=90)
    doc = prepare_document("d1", out.getvalue())
    assert (doc.metadata["format"], doc.metadata["decoded_bytes"]) == ("HEIF", 2400 * 1600 * 5)
    small = Image.open(io.BytesIO(doc.page_images[0]))
    assert small.size == (1120, 747)
    assert small.getpixel((100, 300))[0] < 30 and small.getpixel((1000, 300))[0] > 225  # left half black
    refused = prepare_document("d1", out.getvalue(), limits=DocumentLimits(max_decoded_image_bytes=1_000_000))
    assert refused.unreadable_reason == "image too large to decode: 2400x1600 HEIF (RGB) needs about 19 MB (limit 1 MB)"


# --------------------------------------------------------------------------- SVG, encryption


def test_svg_is_sniffed_and_never_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = builtins.open

    def guarded_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        assert "passwd" not in str(file), "the external entity was resolved"
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    doc = prepare_document("d1", h.svg_external_entity())
    assert (doc.detected_type, doc.unreadable_reason) == ("svg", "unsupported file type: SVG image")


@pytest.mark.parametrize(("data", "kind"), [
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "svg"),
    (b"\xef\xbb\xbf<?xml version='1.0'?>\n<!-- a drawing -->\n<SVG width='1'>", "svg"),
    (b"<?xml version='1.0'?><invoice>svg</invoice>", "text"),
    (b"Pay stub, see attached svgs", "text"),
])
def test_svg_sniffing(data: bytes, kind: str) -> None:
    assert sniff_type(data) == kind


def test_aes_pdf_without_cryptography_says_it_is_encrypted(monkeypatch: pytest.MonkeyPatch) -> None:
    """pypdf needs the ``cryptography`` package for AES (the layer pins it); without it, the reason says
    the file is encrypted and what is missing, not "corrupt PDF"."""
    from pypdf import PdfWriter, _encryption
    from pypdf._crypt_providers import _fallback

    writer = PdfWriter(clone_from=io.BytesIO(h.clean_paystub_pdf()))
    writer.encrypt(user_password="", owner_password="owner", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    for name in ("aes_cbc_encrypt", "aes_cbc_decrypt", "aes_ecb_encrypt", "aes_ecb_decrypt"):
        if hasattr(_encryption, name):
            monkeypatch.setattr(_encryption, name, getattr(_fallback, name))
    doc = prepare_document("d1", out.getvalue())
    assert doc.unreadable_reason == ("encrypted PDF: a dependency needed to decrypt it is missing "
                                     "(cryptography>=3.1 is required for AES algorithm)")
    assert [(s.code, s.severity) for s in doc.signals] == [("pdf_encrypted", "low")]


# --------------------------------------------------------------------------- tamper signals


def test_zip_after_eof_is_a_high_signal() -> None:
    archive = h.zip_archive(("setup.exe", "readme.txt"))
    doc = prepare_document("d1", h.clean_paystub_pdf() + archive)
    assert doc.text is not None  # the PDF itself still reads
    [signal] = doc.signals
    assert (signal.code, signal.severity, signal.evidence) == (
        "pdf_data_after_eof", "high",
        f"{len(archive) + 1:,} bytes after the last %%EOF: a ZIP archive of 2 files (1 executable)")


@pytest.mark.parametrize(("tail", "expected"), [
    (b"", None),
    (b"\r\n\x00\x00\x00" + b" " * 500, None),               # whitespace and NUL padding
    (b"\n" + b"x" * 32, None),                                # a stray line: at most 32 bytes
    (b"\n" + b"x" * 33, ("data that is not part of the PDF", False)),
    (b"\nMZ\x90\x00" + b"\x03" * 60, ("a Windows executable", True)),
    (b"\n%PDF-1.7\n" + b"1 0 obj << >> endobj\n" * 3, ("another PDF", True)),
])
def test_data_after_eof(tail: bytes, expected: tuple[str, bool] | None) -> None:
    found = fraud.data_after_eof(h.clean_paystub_pdf() + tail)  # the file ends "%%EOF\n"
    assert found == (None if expected is None else (len(tail) + 1, *expected))


def test_truncated_file_has_no_data_after_eof() -> None:
    data = h.clean_paystub_pdf()
    assert fraud.data_after_eof(data[: data.rfind(b"%%EOF")] + b"garbage" * 20) is None


@pytest.mark.parametrize(("decoded", "encoded", "fires"), [
    (1 << 20, (1 << 20) // 100, True),       # exactly 100× over 1 MiB
    ((1 << 20) - 1, 1_000, False),           # under 1 MiB: no finding, whatever the ratio
    (50_000_000, 500_001, False),            # 99.99×
])
def test_inflation_signal_thresholds(decoded: int, encoded: int, fires: bool) -> None:
    assert (fraud.inflation_signal("d1", decoded, encoded, 10_000) is not None) is fires


def test_ordinary_content_stream_is_not_an_inflation() -> None:
    """A long real-looking page (varied operators and numbers) compresses about 5×."""
    lines = b"".join(b"BT /F1 9 Tf %d %d Td (Line %d of the statement 12/%02d/2025 $%d.%02d) Tj ET\n"
                     % (72 + i % 7, 700 - i % 600, i, i % 28 + 1, i * 37 % 9000, i % 100) for i in range(20_000))
    data = h.one_page_pdf(zlib.compress(lines), flate=True)
    doc = prepare_document("d1", data)
    assert doc.unreadable_reason is None
    assert doc.metadata["content_bytes"] == len(lines) > fraud.INFLATION_MIN_BYTES
    assert not [s for s in doc.signals if s.code == "pdf_stream_inflation"]


def test_over_budget_message_is_a_reason_not_an_error() -> None:
    """OverBudget becomes the reason itself, without the "corrupt PDF: OverBudget" of other exceptions."""
    doc = prepare_document("d1", h.many_pages_pdf(40))
    assert doc.unreadable_reason == "too many pages: 40 (limit 30)"
    assert "OverBudget" not in repr(documents.prepare_document("d1", h.circular_page_tree_pdf()))
