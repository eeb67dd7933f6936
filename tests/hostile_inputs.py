"""Hostile uploads, built in memory (no large binary is ever committed).

Each builder returns the bytes an attacker could upload; most are a few kilobytes that claim or inflate
to gigabytes. They are used by ``tests/unit/test_hostile_documents.py`` (every one must end as a verdict
with its reason) and by ``scripts/bench_hostile.py`` (peak memory and time of ``leadeval evaluate`` on
each, next to a clean pay stub).

Deflate bombs are built without compressing gigabytes: a block of input compressed after a full flush
(``Z_FULL_FLUSH`` resets the compressor's dictionary) compresses to the same bytes every time, so the
compressed block is repeated N times and the zlib container's Adler-32 is computed over the N copies.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

# --------------------------------------------------------------------------- deflate


def repeated_zlib(prefix: bytes, block: bytes, count: int, suffix: bytes = b"") -> bytes:
    """zlib data (RFC 1950) whose inflated content is ``prefix + block * count + suffix``; its size is
    about ``len(compress(block)) * count``, computed in milliseconds whatever ``count`` is."""
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = co.compress(prefix) + co.flush(zlib.Z_FULL_FLUSH)
    segment = co.compress(block) + co.flush(zlib.Z_FULL_FLUSH)
    again = co.compress(block) + co.flush(zlib.Z_FULL_FLUSH)
    assert segment == again, "a full flush must make the block's encoding independent of what came before"
    tail = co.compress(suffix) + co.flush()
    adler = zlib.adler32(prefix)
    for _ in range(count):
        adler = zlib.adler32(block, adler)
    adler = zlib.adler32(suffix, adler)
    return b"\x78\xda" + head + segment * count + tail + struct.pack(">I", adler)


# --------------------------------------------------------------------------- PDF building


def pdf_bytes(objects: dict[int, bytes], *, root: int = 1, trailer_extra: bytes = b"",
              after_eof: bytes = b"") -> bytes:
    """A PDF file of ``objects`` (number -> body) with a correct classic xref table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, int] = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + objects[number] + b"\nendobj\n"
    xref = len(out)
    size = max(objects) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for number in range(1, size):
        out += b"%010d 00000 n \n" % offsets[number] if number in offsets else b"0000000000 65535 f \n"
    out += b"trailer\n<< /Size %d /Root %d 0 R %s>>\nstartxref\n%d\n%%%%EOF\n" % (size, root, trailer_extra, xref)
    return bytes(out) + after_eof


def stream_object(data: bytes, *, flate: bool = False, extra: bytes = b"") -> bytes:
    """A stream object body; ``data`` is already encoded when ``flate`` is True."""
    filt = b" /Filter /FlateDecode" if flate else b""
    return b"<< /Length %d%s %s>>\nstream\n" % (len(data), filt, extra) + data + b"\nendstream"


FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
PAGE_RESOURCES = b"<< /Font << /F1 5 0 R >> >>"

#: The lines of a clean one-page pay stub (what the offline model reads as a current pay stub).
PAYSTUB_LINES = (
    "Gusto Pay Stub",
    "Employee: Jane Doe",
    "Pay Date: 11/20/2026",
    "Pay Period: 11/01/2026 - 11/15/2026",
    "Pay Frequency: Semimonthly",
    "EARNINGS",
    "Gross Pay 5,000.00",
    "TAXES & DEDUCTIONS",
    "Federal Income Tax 800.00",
    "Social Security 310.00",
    "Medicare 72.50",
    "Total Deductions 1,182.50",
    "Net Pay 3,817.50",
)


def _pdf_string(text: str) -> bytes:
    return b"(" + text.encode("latin-1").replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def text_operators(lines: tuple[str, ...] = PAYSTUB_LINES) -> bytes:
    """A content stream drawing ``lines`` in Helvetica 11 pt, one per line, from the top left."""
    ops = [b"BT /F1 11 Tf 14 TL 72 740 Td"]
    ops += [_pdf_string(line) + b" Tj T*" for line in lines]
    return b"\n".join(ops) + b"\nET\n"


def one_page_pdf(content: bytes, *, flate: bool = False, after_eof: bytes = b"",
                 page_extra: bytes = b"") -> bytes:
    """A one-page PDF whose page draws ``content`` (encoded with Flate already when ``flate``)."""
    return pdf_bytes({
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources " + PAGE_RESOURCES
           + b" /Contents 4 0 R " + page_extra + b">>",
        4: stream_object(content, flate=flate),
        5: FONT,
    }, after_eof=after_eof)


def clean_paystub_pdf() -> bytes:
    """The clean baseline: a one-page text pay stub (Flate-compressed content, Helvetica)."""
    return one_page_pdf(zlib.compress(text_operators()), flate=True)


def text_show_bomb_pdf(operators: int = 4_000_000) -> bytes:
    """One page whose content stream holds the pay stub and then ``operators`` text-show operators
    (``(a)Tj``), Flate-compressed: ~24 MB of content in a file of a few tens of kilobytes. PDFium
    creates one text object per operator when it loads the page."""
    block = b"(a)Tj " * 10_000
    prefix = text_operators()[:-3] + b"\n/F1 1 Tf\n"
    return one_page_pdf(repeated_zlib(prefix, block, operators // 10_000, b"\nET\n"), flate=True)


def inflation_bomb_pdf(inflated_bytes: int = 1 << 30) -> bytes:
    """The pay stub's page whose content stream then inflates to ``inflated_bytes`` of blanks (about
    1 MB of file per GiB): PDFium inflates the whole stream to load the page."""
    block = b" " * (1 << 20)
    return one_page_pdf(repeated_zlib(text_operators(), block, inflated_bytes >> 20), flate=True)


def deep_nesting_pdf(depth: int = 100_000) -> bytes:
    """The pay stub with an array nested ``depth`` levels deep in its page dictionary
    (``/Nest [[[[…]]]]``): recursive-descent parsers run out of stack."""
    return one_page_pdf(text_operators(), page_extra=b"/Nest " + b"[" * depth + b"]" * depth + b" ")


def circular_page_tree_pdf() -> bytes:
    """A page tree whose /Pages node lists itself among its kids (a cycle)."""
    return pdf_bytes({
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R 2 0 R] /Count 2 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources " + PAGE_RESOURCES
           + b" /Contents 4 0 R >>",
        4: stream_object(text_operators()),
        5: FONT,
    })


def many_pages_pdf(pages: int = 500, *, claimed: int | None = None) -> bytes:
    """``pages`` pages of one line of text each; the root's /Count says ``claimed`` (default: the truth)."""
    first_page = 10
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        5: FONT,
    }
    kids = []
    for i in range(pages):
        page, content = first_page + 2 * i, first_page + 2 * i + 1
        kids.append(b"%d 0 R" % page)
        objects[page] = (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources " + PAGE_RESOURCES
                         + b" /Contents %d 0 R >>" % content)
        objects[content] = stream_object(text_operators((f"Page {i + 1} of a long statement",)))
    objects[2] = b"<< /Type /Pages /Kids [" + b" ".join(kids) + b"] /Count %d >>" % (
        pages if claimed is None else claimed)
    return pdf_bytes(objects)


def zip_archive(names: tuple[str, ...] = ("setup.exe",)) -> bytes:
    """A small ZIP archive holding files named ``names`` (each a stub Windows executable: ``MZ``)."""
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            archive.writestr(name, b"MZ\x90\x00" + b"\x00" * 60 + b"This program cannot be run in DOS mode.")
    return out.getvalue()


def pdf_zip_polyglot() -> bytes:
    """The clean pay stub with a ZIP (holding ``setup.exe``) appended after its last ``%%EOF``: a PDF
    reader shows the stub, an unzip tool extracts the executable."""
    return clean_paystub_pdf() + zip_archive()


# --------------------------------------------------------------------------- images


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(width: int, height: int, *, bit_depth: int = 8, color_type: int = 2,
              idat: bytes | None = None) -> bytes:
    """A PNG of ``width`` x ``height`` (all pixels zero when ``idat`` is None: rows built with
    :func:`repeated_zlib`, so a 36-megapixel image is a few hundred kilobytes)."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color_type]
    if idat is None:
        row = b"\x00" + b"\x00" * (width * channels * bit_depth // 8)
        rows_per_block = max(1, (1 << 20) // len(row))
        blocks, rest = divmod(height, rows_per_block)
        idat = repeated_zlib(b"", row * rows_per_block, blocks, row * rest)
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat)
            + _png_chunk(b"IEND", b""))


def png_header_bomb(side: int = 65_500) -> bytes:
    """A PNG whose header claims ``side`` x ``side`` pixels (4.3 gigapixels at 65,500) over a few
    bytes of image data."""
    return png_bytes(side, side, idat=zlib.compress(b"\x00" * 64))


def jpeg_header_bomb(side: int = 65_500) -> bytes:
    """A real 16x16 JPEG whose start-of-frame marker was patched to claim ``side`` x ``side`` pixels."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 200, 200)).save(out, "JPEG", quality=90)
    data = bytearray(out.getvalue())
    sof = data.find(b"\xff\xc0")
    assert sof > 0, "baseline JPEG expected"
    struct.pack_into(">HH", data, sof + 5, side, side)  # FFC0, length(2), precision(1), height, width
    return bytes(data)


def webp_solid(width: int = 16383, height: int = 3050) -> bytes:
    """A lossless WebP of one solid colour, any size up to 16384 x 16384, in 38 bytes.

    A VP8L image whose Huffman codes each hold a single symbol spends zero bits per pixel, so the
    bitstream is the same for every size and only the 14-bit width and height fields of its header
    change (WebP lossless bitstream spec, "Header"). Built from Pillow's own encoding of a 16x16 white
    image, with the size fields patched."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (16, 16), "white").save(out, "WEBP", lossless=True, method=0)
    data = bytearray(out.getvalue())
    assert data[12:16] == b"VP8L" and data[20] == 0x2F, "Pillow must write a simple VP8L file"
    bits = struct.unpack_from("<I", data, 21)[0]
    bits = (bits & ~((1 << 28) - 1)) | (width - 1) | ((height - 1) << 14)
    struct.pack_into("<I", data, 21, bits)
    return bytes(data)


def png_16bit_rgba(width: int = 6000, height: int = 6000) -> bytes:
    """A 16-bit-per-channel RGBA PNG (8 bytes per pixel in the file; Pillow decodes it to 8-bit RGBA)."""
    return png_bytes(width, height, bit_depth=16, color_type=6)


def tiff_pages(frames: int = 3, size: tuple[int, int] = (400, 520)) -> bytes:
    """A multi-page TIFF (``frames`` pages, each a grey page with a dark band)."""
    from PIL import Image, ImageDraw

    pages = []
    for i in range(frames):
        page = Image.new("L", size, 255)
        ImageDraw.Draw(page).rectangle((20, 20 + i % 50, size[0] - 20, 60 + i % 50), fill=40)
        pages.append(page)
    out = io.BytesIO()
    pages[0].save(out, "TIFF", save_all=True, append_images=pages[1:], compression="tiff_deflate")
    return out.getvalue()


def gif_animation(frames: int = 5) -> bytes:
    """A small animated GIF."""
    from PIL import Image

    images = [Image.new("P", (64, 64), i) for i in range(frames)]
    out = io.BytesIO()
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)
    return out.getvalue()


# --------------------------------------------------------------------------- at the budgets


def operators_at_budget_pdf(pages: int = 1, text_shows: int = 19_987, rectangles: int = 79_900) -> bytes:
    """``pages`` pages drawing one shared content stream: the pay stub (13 text-show operators),
    ``text_shows`` text-show operators and ``rectangles`` filled rectangles. The defaults are at the
    default page budgets (20,000 text-show operators; 199,820 of the 200,000 operators: the scan
    counts ``(a)Tj`` and ``0 0 1 1 re f`` as two each), so PDFium builds all of them."""
    prefix = text_operators()[:-3] + b"\n/F1 1 Tf\n"
    body = b"(a)Tj " * text_shows + b"\nET\n" + b"0 0 1 1 re f\n" * rectangles
    objects: dict[int, bytes] = {1: b"<< /Type /Catalog /Pages 2 0 R >>", 4: stream_object(
        zlib.compress(prefix + body), flate=True), 5: FONT}
    kids = []
    for i in range(pages):
        kids.append(b"%d 0 R" % (10 + i))
        objects[10 + i] = (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources " + PAGE_RESOURCES
                           + b" /Contents 4 0 R >>")
    objects[2] = b"<< /Type /Pages /Kids [" + b" ".join(kids) + b"] /Count %d >>" % pages
    return pdf_bytes(objects)


def reverse_text_pdf(pages: int = 1, objects: int = 19_987) -> bytes:
    """``pages`` pages sharing one content stream of ``objects`` one-letter text objects on one line,
    from right to left: PDFium's text extraction inserts each into a sorted list, so it takes time
    quadratic in them (the slowest page the text budget lets through)."""
    letters = b"abcdefghijklmnopqrstuvwxyz"
    body = b"".join(b"BT /F1 1 Tf %.2f 10 Td (%c)Tj ET\n" % ((objects - i) * 0.03, letters[i % 26])
                    for i in range(objects))
    objects_: dict[int, bytes] = {1: b"<< /Type /Catalog /Pages 2 0 R >>",
                                  4: stream_object(zlib.compress(body), flate=True), 5: FONT}
    kids = []
    for i in range(pages):
        kids.append(b"%d 0 R" % (10 + i))
        objects_[10 + i] = (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources " + PAGE_RESOURCES
                            + b" /Contents 4 0 R >>")
    objects_[2] = b"<< /Type /Pages /Kids [" + b" ".join(kids) + b"] /Count %d >>" % pages
    return pdf_bytes(objects_)


def one_line_amounts_pdf(amounts: int = 19_000) -> bytes:
    """Within the forensics budgets (256 KB of content, 20,000 operators): one text block showing ``amounts``
    amounts in a row on one baseline, one text-show operator each (PDFium makes each a text object; checks
    that compare every piece of a line with every other would take minutes)."""
    return one_page_pdf(b"BT /F1 1 Tf 72 700 Td " + b"(1.00)Tj " * amounts + b"ET\n")


def boxes_over_text_pdf(boxes: int = 4_500) -> bytes:
    """Within the forensics budgets: ``boxes`` grey boxes in a grid, then as many white pieces of text on them
    (every box against every piece would be 20,250,000 tests)."""
    grid = [(20 + (i % 60) * 9, 20 + (i // 60) * 7) for i in range(boxes)]
    return one_page_pdf(b"0.5 g\n" + b"".join(b"%d %d 8 6 re f\n" % xy for xy in grid)
                        + b"1 g BT /F1 4 Tf\n" + b"".join(b"1 0 0 1 %d %d Tm (1)Tj\n" % (x + 1, y + 1) for x, y in grid)
                        + b"ET\n")


def content_at_budget_pdf(content_bytes: int = 16 * 1024 * 1024 - 4096) -> bytes:
    """The pay stub's page padded with blanks to ``content_bytes`` of content (just under the default
    16 MiB budget): PDFium inflates all of it to load the page."""
    prefix = text_operators()
    blocks, rest = divmod(content_bytes - len(prefix), 1 << 20)
    return one_page_pdf(repeated_zlib(prefix, b" " * (1 << 20), blocks, b" " * rest), flate=True)


def png_rgb(width: int = 5790, height: int = 5790) -> bytes:
    """An 8-bit RGB PNG (Pillow decodes it into 4 bytes per pixel: 5790 x 5790 is just under 128 MiB)."""
    return png_bytes(width, height, bit_depth=8, color_type=2)


def tiff_rgb(width: int = 4096, height: int = 4096) -> bytes:
    """A Deflate-compressed RGB TIFF (counted at two copies of 4 bytes per pixel: 4096 x 4096 is 128 MiB)."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (250, 250, 250)).save(out, "TIFF", compression="tiff_deflate")
    return out.getvalue()


def jpeg_progressive(width: int = 7400, height: int = 5500) -> bytes:
    """A progressive 4:2:0 JPEG: libjpeg keeps its DCT coefficients for the whole image (3 bytes per
    pixel) whatever the scale it decodes at; 7400 x 5500 is just under the 128 MiB decode budget."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (240, 240, 240)).save(out, "JPEG", quality=80, progressive=True,
                                                             subsampling="4:2:0")
    return out.getvalue()


def heic_photo(width: int = 5712, height: int = 4284) -> bytes:
    """A HEIC the size of a 24-megapixel phone photo (5712 x 4284: recent iPhones' default), one flat
    colour (encoding takes a few seconds)."""
    import pillow_heif
    from PIL import Image

    pillow_heif.register_heif_opener()
    out = io.BytesIO()
    Image.new("RGB", (width, height), (230, 230, 230)).save(out, "HEIF", quality=30)
    return out.getvalue()


def svg_external_entity() -> bytes:
    """An SVG whose DOCTYPE declares an external entity reading a local file (XXE)."""
    return (b'<?xml version="1.0" encoding="UTF-8"?>\n'
            b'<!DOCTYPE svg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
            b'<svg xmlns="http://www.w3.org/2000/svg" width="612" height="792">'
            b'<text x="72" y="72">Pay Stub &xxe;</text></svg>\n')


# --------------------------------------------------------------------------- catalogue


@dataclass(frozen=True)
class HostileInput:
    """One generated input: its file name (the extension is only a hint: types are sniffed) and builder."""

    name: str
    file_name: str
    build: Callable[[], bytes]
    what: str
    heavy: bool = False  # slow to build or to prepare, or builds a large image in memory: the benchmark only


#: Every generated input, clean baseline first (the order of the benchmark table).
INPUTS: tuple[HostileInput, ...] = (
    HostileInput("clean_paystub", "paystub.pdf", clean_paystub_pdf, "clean one-page pay stub"),
    HostileInput("text_show_4m", "text_show_4m.pdf", text_show_bomb_pdf,
                 "PDF page with 4,000,000 text-show operators"),
    HostileInput("inflate_1gib", "inflate_1gib.pdf", inflation_bomb_pdf,
                 "PDF content stream inflating to 1 GiB"),
    HostileInput("webp_16383x3050", "webp_16383x3050.webp", webp_solid, "WebP 16383x3050 (49.97 Mpx)"),
    HostileInput("deep_nesting", "deep_nesting.pdf", deep_nesting_pdf, "PDF with arrays nested 100,000 deep"),
    HostileInput("circular_pages", "circular_pages.pdf", circular_page_tree_pdf, "PDF page tree with a cycle"),
    HostileInput("pages_500", "pages_500.pdf", many_pages_pdf, "PDF of 500 pages"),
    HostileInput("pages_lie", "pages_lie.pdf", lambda: many_pages_pdf(500, claimed=1),
                 "PDF of 500 pages whose /Count says 1"),
    HostileInput("png_header_65500", "png_65500.png", png_header_bomb, "PNG header claiming 65,500 x 65,500"),
    HostileInput("jpeg_header_65500", "jpeg_65500.jpg", jpeg_header_bomb, "JPEG header claiming 65,500 x 65,500"),
    HostileInput("png_16bit_rgba", "png16_rgba.png", png_16bit_rgba, "16-bit RGBA PNG 6000x6000 (36 Mpx)"),
    HostileInput("tiff_3_pages", "pages3.tiff", tiff_pages, "multi-page TIFF (3 pages)"),
    HostileInput("tiff_200_pages", "pages200.tiff", lambda: tiff_pages(200), "multi-page TIFF (200 pages)"),
    HostileInput("gif", "anim.gif", gif_animation, "animated GIF"),
    HostileInput("svg_xxe", "xxe.svg", svg_external_entity, "SVG with an external entity"),
    HostileInput("pdf_zip_polyglot", "polyglot.pdf", pdf_zip_polyglot, "PDF/ZIP polyglot (setup.exe after %%EOF)"),
    HostileInput("xref_1m_entries", "xref_1m.pdf", lambda: xref_table_bomb(),
                 "PDF whose xref table lists 1,000,000 objects (trailer /Size 6)"),
    # just under the budgets: the most each budget lets through
    HostileInput("limit_pdf_page", "limit_page.pdf", operators_at_budget_pdf,
                 "at the budgets: PDF page of 20,000 text-show operators + 79,900 rectangles"),
    HostileInput("limit_pdf_30_pages", "limit_30_pages.pdf",
                 lambda: operators_at_budget_pdf(30, 19_000, 20_000),
                 "at the budgets: 30 pages of 19,000 text-show operators + 20,000 rectangles (11 MB of content)"),
    HostileInput("limit_pdf_reverse_text", "limit_reverse.pdf", reverse_text_pdf,
                 "at the budgets: PDF page of 19,987 text objects right to left (PDFium's slowest text)"),
    HostileInput("pdf_reverse_text_20_pages", "reverse_20_pages.pdf", lambda: reverse_text_pdf(20),
                 "20 such pages (each accepted; together over the time budget)", heavy=True),
    HostileInput("forensics_one_line", "one_line.pdf", one_line_amounts_pdf,
                 "at the forensics budgets: 19,000 amounts on one line, one text object each"),
    HostileInput("forensics_boxes_over_text", "boxes_text.pdf", boxes_over_text_pdf,
                 "at the forensics budgets: 4,500 boxes, then white text on each"),
    HostileInput("limit_pdf_content", "limit_content.pdf", content_at_budget_pdf,
                 "at the budgets: PDF content stream inflating to 16 MiB − 4 KiB"),
    HostileInput("limit_png", "limit.png", png_rgb, "at the budgets: RGB PNG 5790x5790 (33.5 Mpx)"),
    HostileInput("limit_webp", "limit.webp", lambda: webp_solid(2896, 2896), "at the budgets: WebP 2896x2896"),
    HostileInput("limit_tiff", "limit.tiff", tiff_rgb, "at the budgets: RGB TIFF 4096x4096", heavy=True),
    HostileInput("heic_24mp", "photo24.heic", heic_photo, "HEIC 5712x4284 (24.5 Mpx phone photo size)",
                 heavy=True),
    HostileInput("limit_jpeg_progressive", "limit_progressive.jpg", jpeg_progressive,
                 "at the budgets: progressive JPEG 7400x5500 (40.7 Mpx)", heavy=True),
)

BY_NAME: dict[str, HostileInput] = {item.name: item for item in INPUTS}


def xref_table_bomb(entries: int = 1_000_000) -> bytes:
    """The clean pay stub whose classic cross-reference table lists ``entries`` in-use objects (20 bytes
    each: 1,000,000 make a 20 MB file) while its trailer's /Size says 6: a parser builds an entry for
    each listed object."""
    base = clean_paystub_pdf()
    start = base.rindex(b"\nxref\n") + 1
    head, tail = base[:start], base[start:]
    lines = tail.split(b"\n")  # "xref", "0 6", six entries, "trailer", …
    table = b"\n".join(lines[2:8]) + b"\n" + b"0000000015 00000 n \n" * (entries - 6)
    return (head + b"xref\n0 %d\n" % entries + table
            + b"trailer\n<< /Size 6 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % start)
