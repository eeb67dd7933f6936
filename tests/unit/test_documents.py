"""Document preparation: sniffing, limits, PDF text/rendering, image normalisation, never raising."""

from __future__ import annotations

import hashlib
import io
import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import pytest
from PIL import Image

from leadeval.screening import documents
from leadeval.screening.documents import DocumentLimits, prepare_document, sniff_type

fpdf = pytest.importorskip("fpdf")

LONG_SIDE = DocumentLimits().long_side_px


# --------------------------------------------------------------------------- helpers


def make_pdf(pages: int = 1, text_pages: set[int] | None = None, *, page_format: str = "A4") -> bytes:
    """An fpdf2 PDF; pages in ``text_pages`` (0-based, default all) carry a text line, the
    others only a filled rectangle (no text layer)."""
    pdf = fpdf.FPDF(format=page_format)
    pdf.set_font("helvetica", size=12)
    for index in range(pages):
        pdf.add_page()
        if text_pages is None or index in text_pages:
            pdf.multi_cell(0, 10, f"Acme Payroll Services pay statement, period ending 2025-12-31, page {index + 1}")
        else:
            pdf.rect(20, 20, 100, 50, style="F")
    return bytes(pdf.output())


def image_bytes(fmt: str, size: tuple[int, int] = (300, 200), mode: str = "RGB", **save) -> bytes:
    color = {"RGB": (200, 30, 30), "RGBA": (200, 30, 30, 0), "L": 128, "1": 1, "P": 3,
             "I;16": 40000, "CMYK": (0, 0, 0, 255)}[mode]
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, format=fmt, **save)
    return out.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG with only a signature, IHDR and IEND: the header claims ``width`` x ``height``."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def decoded(jpeg: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(jpeg))
    assert image.format == "JPEG"
    return image


# --------------------------------------------------------------------------- sniffing


@pytest.mark.parametrize(("data", "expected"), [
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "pdf"),
    (b"\r\n\r\n   garbage before %PDF-1.4\n", "pdf"),           # header within the first 1 KiB
    (b"x" * 1100 + b"%PDF-1.4", "text"),                      # too far in: not a PDF
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "jpeg"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "png"),
    (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "webp"),
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "heic"),
    (b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1heicmiaf", "heic"),
    (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf", "heic"),
    (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2", "unknown"),  # an MP4 video
    (b"II*\x00\x08\x00\x00\x00", "tiff"),
    (b"MM\x00*\x00\x00\x00\x08", "tiff"),
    (b"GIF89a\xff\xff\x29\x04", "gif"),
    (b"BM" + b"\x00" * 12 + struct.pack("<I", 40) + b"\x00" * 8, "bmp"),
    (b"BMW Group quarterly report", "text"),                 # "BM" alone is not a bitmap
    (b"PK\x03\x04\x14\x00\x06\x00", "zip"),
    (b"Name,Amount\nRent,1200\n", "text"),
    ("Pay stub — José Núñez\n".encode(), "text"),
    (b"\x00\x01\x02\x03binary", "unknown"),
    (b"", "unknown"),
])
def test_sniff_type(data: bytes, expected: str) -> None:
    assert sniff_type(data) == expected


@pytest.mark.parametrize(("fmt", "expected"), [
    ("JPEG", "jpeg"), ("PNG", "png"), ("WEBP", "webp"), ("TIFF", "tiff"), ("GIF", "gif"), ("BMP", "bmp"),
])
def test_sniff_type_of_real_encodings(fmt: str, expected: str) -> None:
    assert sniff_type(image_bytes(fmt)) == expected


# --------------------------------------------------------------------------- corpus


@pytest.mark.parametrize(("name", "detected", "out_size"), [
    ("documents/id_dl_washington_sample_jpeg_named_png.png", "jpeg", (450, 294)),  # JPEG named .png
    ("documents/id_passport_us_specimen.jpeg", "jpeg", (1110, 768)),
    ("documents/id_dl_massachusetts_specimen.png", "png", (503, 317)),
    ("documents/employment_verification_form1005.png", "png", (865, 1120)),        # 885x1146 scaled
    ("hostile/heic_iphone_photo_not_a_document.heic", "heic", (1120, 840)),        # 4032x3024 scaled
])
def test_corpus_images(corpus_dir: Path, name: str, detected: str, out_size: tuple[int, int]) -> None:
    data = (corpus_dir / name).read_bytes()
    doc = prepare_document("doc-1", data)
    assert doc.unreadable_reason is None
    assert (doc.detected_type, doc.page_count, doc.text) == (detected, 1, None)
    assert (doc.size_bytes, doc.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert len(doc.page_images) == 1
    image = decoded(doc.page_images[0])
    assert (image.size, image.mode) == (out_size, "RGB")
    assert max(image.size) <= LONG_SIDE
    assert not image.getexif()  # metadata (EXIF, GPS of the iPhone photo) dropped


def test_corpus_photoshop_exif_is_a_signal(corpus_dir: Path) -> None:
    doc = prepare_document("doc-1", (corpus_dir / "documents/id_dl_washington_sample_jpeg_named_png.png")
                           .read_bytes())
    assert doc.metadata["software"].startswith("Adobe Photoshop")
    assert [(s.code, s.severity, s.document_id) for s in doc.signals] == [
        ("image_edited_with_software", "medium", "doc-1")]


@pytest.mark.parametrize(("name", "words"), [
    ("documents/paystub_gusto_style_text.pdf", ["Gusto", "5,000.00"]),
    ("documents/paystub_trinet_style_text.pdf", ["TriNet", "60,000.00"]),
    ("documents/paystub_adp_style_inconsistent_ytd.pdf", ["ADP", "99,999.99"]),
    ("documents/bank_statement_minimal_text.pdf", ["Citizens Bank", "PAYROLL INC"]),
    ("documents/w2_2020_text.pdf", ["Wages, tips", "23,677.70"]),
])
def test_corpus_text_pdfs(corpus_dir: Path, name: str, words: list[str]) -> None:
    doc = prepare_document("doc-1", (corpus_dir / name).read_bytes())
    assert doc.unreadable_reason is None
    assert (doc.detected_type, doc.page_count) == ("pdf", 1)
    assert doc.text is not None
    for word in words:
        assert word in doc.text
    assert len(doc.page_images) == 1  # page 1 rendered too, for the vision model
    assert max(decoded(doc.page_images[0]).size) == LONG_SIDE
    assert doc.metadata["page_count"] == 1 and doc.metadata["rendered_pages"] == [1]


def test_corpus_dark_photo_pdf_has_no_text_layer(corpus_dir: Path) -> None:
    doc = prepare_document("doc-1", (corpus_dir / "hostile/photo_dark_lowlight_form.pdf").read_bytes())
    assert doc.unreadable_reason is None
    assert doc.text is None
    assert len(doc.page_images) == 1
    assert max(decoded(doc.page_images[0]).size) == LONG_SIDE
    assert doc.metadata["producer"].endswith("Quartz PDFContext")
    assert doc.metadata["creator"] == "Preview"


def test_corpus_mixed_packet_renders_first_textless_pages(corpus_dir: Path) -> None:
    doc = prepare_document("doc-1", (corpus_dir / "documents/packet_lending_tax_paystubs_10p.pdf").read_bytes())
    assert doc.unreadable_reason is None
    assert doc.page_count == 10
    assert doc.metadata["rendered_pages"] == [1, 2, 3]
    assert len(doc.page_images) == 3
    assert doc.text is not None and len(doc.text.split("\f")) == 10
    assert "DATA GRAPHICS" in doc.text.split("\f")[4]  # page 5: the pay stub


@pytest.mark.parametrize(("name", "reason"), [
    ("hostile/pdf_encrypted_user_password_abc.pdf", "password-protected PDF"),
    ("hostile/pdf_truncated_no_trailer.pdf", "corrupt PDF: PdfStreamError: Stream has ended unexpectedly"),
    ("hostile/pdf_352_pages_freeculture.pdf", "too many pages: 352 (limit 30)"),
    ("hostile/gif_decompression_bomb_65535x66601.gif", "unsupported file type: GIF image"),
])
def test_corpus_unreadable(corpus_dir: Path, name: str, reason: str) -> None:
    data = (corpus_dir / name).read_bytes()
    doc = prepare_document("doc-1", data)
    assert doc.unreadable_reason == reason
    assert (doc.text, doc.page_images) == (None, [])
    assert (doc.size_bytes, doc.sha256) == (len(data), hashlib.sha256(data).hexdigest())


def test_corpus_gif_bomb_is_refused_without_decoding(corpus_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*_args, **_kwargs):
        raise AssertionError("the bomb must not reach a decoder")

    monkeypatch.setattr(Image, "open", never)
    doc = prepare_document("doc-1", (corpus_dir / "hostile/gif_decompression_bomb_65535x66601.gif").read_bytes())
    assert (doc.detected_type, doc.unreadable_reason) == ("gif", "unsupported file type: GIF image")


@pytest.mark.parametrize(("name", "signal"), [
    ("hostile/pdf_javascript_autoprint.pdf", "pdf_javascript"),
    ("hostile/pdf_embedded_file_attachment.pdf", "pdf_embedded_files"),
    ("hostile/pdf_encrypted_user_password_abc.pdf", "pdf_encrypted"),
    ("hostile/pdf_352_pages_freeculture.pdf", "pdf_modified_after_creation"),
])
def test_corpus_signals_are_attached(corpus_dir: Path, name: str, signal: str) -> None:
    doc = prepare_document("doc-1", (corpus_dir / name).read_bytes())
    assert signal in [s.code for s in doc.signals]
    assert all(s.document_id == "doc-1" for s in doc.signals)


def test_corpus_pdf_metadata(corpus_dir: Path) -> None:
    doc = prepare_document("doc-1", (corpus_dir / "hostile/pdf_javascript_autoprint.pdf").read_bytes())
    meta = doc.metadata
    assert meta["producer"] == "Adobe Acrobat Pro (64-bit) 22.3.20282"
    assert (meta["creation_date"], meta["mod_date"]) == ("D:20230104195131+01'00'", "D:20230104195653+01'00'")
    assert (meta["page_count"], meta["is_encrypted"], meta["eof_markers"], meta["linearized"]) == (1, False, 3, True)


# --------------------------------------------------------------------------- generated PDFs


def test_pdf_text_layer_and_rendering() -> None:
    doc = prepare_document("p", make_pdf(5, text_pages={0, 2}))
    assert doc.unreadable_reason is None
    assert doc.page_count == 5
    pages = doc.text.split("\f")
    assert len(pages) == 5
    assert "page 1" in pages[0] and "page 3" in pages[2]
    assert pages[1] == pages[3] == pages[4] == ""
    # page 1 (has text) + textless pages 2 and 4: max_rendered_pages = 3
    assert doc.metadata["rendered_pages"] == [1, 2, 4]
    assert doc.metadata["text_pages"] == 2
    assert [max(decoded(b).size) for b in doc.page_images] == [LONG_SIDE] * 3


def test_pdf_without_any_text_layer() -> None:
    doc = prepare_document("p", make_pdf(2, text_pages=set()))
    assert (doc.unreadable_reason, doc.text) == (None, None)
    assert doc.metadata["rendered_pages"] == [1, 2]


@pytest.mark.parametrize(("page_format", "expected"), [
    ("A4", (792, 1120)),          # portrait 595x842 pt
    ((100, 1000), (112, 1120)),   # tall and narrow (mm)
    ((1000, 100), (1120, 112)),   # wide
    ((20, 20), (1120, 1120)),     # tiny page: scaled up to the target, never beyond
])
def test_pdf_render_size_fits_long_side(page_format, expected: tuple[int, int]) -> None:
    doc = prepare_document("p", make_pdf(1, text_pages=set(), page_format=page_format))
    assert decoded(doc.page_images[0]).size == expected


def test_pdf_limits_are_configurable() -> None:
    limits = DocumentLimits(max_pages=3, max_rendered_pages=1, min_text_chars=500)
    doc = prepare_document("p", make_pdf(3), limits=limits)
    assert doc.text is None  # no page has 500 characters
    assert len(doc.page_images) == 1
    assert prepare_document("p", make_pdf(4), limits=limits).unreadable_reason == "too many pages: 4 (limit 3)"


def test_pdf_text_is_capped() -> None:
    doc = prepare_document("p", make_pdf(3), limits=DocumentLimits(max_text_chars=50))
    assert len(doc.text) == 50
    assert doc.metadata["text_truncated"] is True


def test_pdf_encrypted_with_empty_password_is_readable() -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf())))
    writer.encrypt(user_password="", owner_password="owner", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    doc = prepare_document("p", out.getvalue())
    assert doc.unreadable_reason is None
    assert "Acme Payroll" in doc.text
    assert len(doc.page_images) == 1
    assert [s.code for s in doc.signals] == ["pdf_encrypted"]
    assert doc.metadata["is_encrypted"] is True


def test_pdf_with_a_user_password_is_unreadable() -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf())))
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    doc = prepare_document("p", out.getvalue())
    assert doc.unreadable_reason == "password-protected PDF"
    assert [s.code for s in doc.signals] == ["pdf_encrypted"]


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_truncated_pdf_is_corrupt(cut: float) -> None:
    data = make_pdf()
    doc = prepare_document("p", data[: int(len(data) * cut)])
    assert doc.unreadable_reason is not None and doc.unreadable_reason.startswith("corrupt PDF: ")
    assert doc.detected_type == "pdf"


def test_pdf_page_count_read_from_the_page_tree_first() -> None:
    # /Count claims a million pages: refused before the page tree is walked
    data = make_pdf().replace(b"/Count 1", b"/Count 1000000")
    doc = prepare_document("p", data)
    assert doc.unreadable_reason == "too many pages: 1000000 (limit 30)"


# --------------------------------------------------------------------------- generated images


@pytest.mark.parametrize(("fmt", "mode", "size", "out_size"), [
    ("JPEG", "RGB", (300, 200), (300, 200)),
    ("JPEG", "CMYK", (300, 200), (300, 200)),
    ("JPEG", "L", (4000, 3000), (1120, 840)),
    ("PNG", "RGBA", (3000, 1000), (1120, 373)),
    ("PNG", "P", (200, 300), (200, 300)),
    ("PNG", "I;16", (100, 50), (100, 50)),
    ("WEBP", "RGB", (1500, 1500), (1120, 1120)),
    ("TIFF", "1", (5000, 2400), (1120, 538)),  # reduced in bands (factor 2), then Lanczos
    ("TIFF", "RGB", (64, 64), (64, 64)),
])
def test_images_become_rgb_jpegs_within_the_long_side(fmt: str, mode: str, size: tuple[int, int],
                                                        out_size: tuple[int, int]) -> None:
    doc = prepare_document("img", image_bytes(fmt, size, mode))
    assert doc.unreadable_reason is None
    assert doc.detected_type == fmt.lower()
    image = decoded(doc.page_images[0])
    assert (image.size, image.mode) == (out_size, "RGB")
    assert (doc.metadata["width"], doc.metadata["height"]) == size


def test_transparent_pixels_become_white() -> None:
    doc = prepare_document("img", image_bytes("PNG", (2500, 600), "RGBA"))  # fully transparent red
    assert decoded(doc.page_images[0]).getpixel((10, 10)) == (255, 255, 255)


def test_sixteen_bit_grey_is_scaled_not_clipped() -> None:
    doc = prepare_document("img", image_bytes("PNG", (40, 40), "I;16"))  # 40000 / 65535 ≈ 61 %
    red, green, blue = decoded(doc.page_images[0]).getpixel((5, 5))
    assert 150 <= red <= 162 and red == green == blue


@pytest.mark.parametrize(("orientation", "out_size"), [
    (1, (400, 200)), (3, (400, 200)), (6, (200, 400)), (8, (200, 400)), (5, (200, 400)),
])
def test_exif_orientation_is_applied_and_metadata_dropped(orientation: int, out_size: tuple[int, int]) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x0131] = "GIMP 2.10"
    exif[0x010F] = "PhoneMaker"  # Make
    doc = prepare_document("img", image_bytes("JPEG", (400, 200), exif=exif.tobytes()))
    image = decoded(doc.page_images[0])
    assert image.size == out_size
    assert not image.getexif()
    assert doc.metadata["exif_orientation"] == orientation
    assert [s.code for s in doc.signals] == ["image_edited_with_software"]


def test_rotated_content_really_turns() -> None:
    # a white image with a black top-left corner, stored with orientation 6 (rotate 90° CW to view)
    image = Image.new("RGB", (400, 200), (255, 255, 255))
    image.paste((0, 0, 0), (0, 0, 40, 40))
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes(), quality=95)
    upright = decoded(prepare_document("img", out.getvalue()).page_images[0])
    assert upright.size == (200, 400)
    assert upright.getpixel((190, 10))[0] < 60       # the corner is now top-right
    assert upright.getpixel((10, 10))[0] > 200


@pytest.mark.parametrize(("data", "reason"), [
    (png_header(10_000, 6_000), "image too large: 10000x6000 pixels (limit 50000000)"),   # 60 MP
    # 4.4 Gpx: refused from the header read here, before Pillow's own bomb check could raise
    (png_header(65_535, 66_601), "image too large: 65535x66601 pixels (limit 50000000)"),
])
def test_huge_image_headers_are_refused_before_decoding(data: bytes, reason: str) -> None:
    doc = prepare_document("img", data)
    # the file has no pixel data: any decode would fail with another message
    assert doc.unreadable_reason is not None and doc.unreadable_reason.startswith(reason)
    assert (doc.detected_type, doc.page_images) == ("png", [])


def test_pillow_bomb_threshold_caps_our_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # refused from the header: Pillow never opens it, so never warns
        doc = prepare_document("img", png_header(40, 40))  # 1,600 px
    assert doc.unreadable_reason == "image too large: 40x40 pixels (limit 1000)"


def test_image_pixel_limit_is_configurable() -> None:
    doc = prepare_document("img", image_bytes("PNG", (100, 100)), limits=DocumentLimits(max_image_pixels=9_999))
    assert doc.unreadable_reason == "image too large: 100x100 pixels (limit 9999)"


def test_truncated_image_is_unreadable() -> None:
    data = image_bytes("PNG", (500, 500), "RGB", compress_level=0)
    doc = prepare_document("img", data[: len(data) // 2])
    assert doc.unreadable_reason is not None
    assert doc.unreadable_reason.startswith("unreadable PNG image: ")


# --------------------------------------------------------------------------- limits and robustness


@pytest.mark.parametrize(("data", "reason"), [
    (b"%PDF-1.4" + b" " * 200, "too large: 208 bytes (limit 100)"),
    (b"", "empty file"),
    (b"Name,Amount\nRent,1200\n", "unsupported file type: plain text"),
    (b"PK\x03\x04" + b"\x00" * 30, "unsupported file type: ZIP archive (e.g. a Word/Excel file)"),
    (b"\x00\x01\x02garbage", "unsupported file type: unrecognized binary data"),
])
def test_refusals(data: bytes, reason: str) -> None:
    doc = prepare_document("x", data, limits=DocumentLimits(max_bytes=100))
    assert doc.unreadable_reason == reason
    assert (doc.size_bytes, doc.sha256) == (len(data), hashlib.sha256(data).hexdigest())


def test_oversized_bytes_are_refused_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(documents, "_prepare_pdf", lambda *a: pytest.fail("parsed an oversized file"))
    doc = prepare_document("x", make_pdf(), limits=DocumentLimits(max_bytes=64))
    assert doc.unreadable_reason is not None and doc.unreadable_reason.startswith("too large: ")
    assert doc.detected_type == "pdf"


@pytest.mark.parametrize("error", [RecursionError("deep"), MemoryError(), KeyError("/Root"), ValueError("x"),
                                   AssertionError("library bug")])
def test_any_pdf_parser_exception_becomes_a_reason(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    import pypdf

    def boom(*_args, **_kwargs):
        raise error

    monkeypatch.setattr(pypdf, "PdfReader", boom)
    doc = prepare_document("x", make_pdf())
    assert doc.unreadable_reason is not None
    assert doc.unreadable_reason.startswith(f"corrupt PDF: {type(error).__name__}")
    assert doc.page_images == [] and doc.text is None


@pytest.mark.parametrize("error", [MemoryError(), OSError("broken data stream"), IndexError("tile")])
def test_any_image_decoder_exception_becomes_a_reason(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    def boom(*_args, **_kwargs):
        raise error

    monkeypatch.setattr(documents, "_downscale_rgb", boom)
    doc = prepare_document("x", image_bytes("JPEG"))
    assert doc.unreadable_reason is not None
    assert doc.unreadable_reason.startswith(f"unreadable JPEG image: {type(error).__name__}")
    assert doc.page_images == []


def test_render_failure_keeps_the_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(documents, "_render_page", lambda *a: (_ for _ in ()).throw(RuntimeError("pdfium")))
    doc = prepare_document("x", make_pdf())
    assert doc.unreadable_reason is None
    assert "Acme Payroll" in doc.text and doc.page_images == []
    assert doc.metadata["render_errors"] == ["page 1: RuntimeError: pdfium"]


def test_render_failure_without_text_is_unreadable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(documents, "_render_page", lambda *a: (_ for _ in ()).throw(RuntimeError("pdfium")))
    doc = prepare_document("x", make_pdf(1, text_pages=set()))
    assert doc.unreadable_reason == (
        "corrupt PDF: no text layer and pages could not be rendered (page 1: RuntimeError: pdfium)")


def test_importing_the_module_loads_no_heavy_library() -> None:
    code = ("import sys; import leadeval.screening.documents, leadeval.screening.fraud; "
            "print(sorted(m for m in ('PIL', 'pypdf', 'pypdfium2', 'pillow_heif', 'boto3', 'httpx') "
            "if m in sys.modules))")
    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={"PYTHONPATH": f"{repo / 'layers' / 'leadeval'}", "PATH": "/usr/bin:/bin"})
    assert result.stdout.strip() == "[]"


def test_broken_info_dictionary_does_not_make_the_pages_unreadable(monkeypatch: pytest.MonkeyPatch) -> None:
    import pypdf

    def broken(_self):
        raise ValueError("bad /Info")

    monkeypatch.setattr(pypdf.PdfReader, "metadata", property(broken))
    doc = prepare_document("x", make_pdf())
    assert doc.unreadable_reason is None
    assert "Acme Payroll" in doc.text
    assert doc.metadata["info_error"] == "ValueError"
    assert "producer" not in doc.metadata


def test_page_forensics_keep_what_pdfium_read_before_the_time_budget_ran_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """The page checks read the pages PDFium loads for their text: when the budget runs out on page 2, page 1's
    finding (text drawn invisible on a page with no image) is still on the document, with the budget's reason."""
    from leadeval.screening.pdf_budget import OverBudget
    from tests.hostile_inputs import pdf_bytes, stream_object

    page1 = b"BT /F1 11 Tf 72 700 Td (Net Pay 2,000.00) Tj ET BT /F1 11 Tf 3 Tr 72 680 Td (Net Pay 9,000.00) Tj ET"
    page2 = b"BT /F1 11 Tf 72 700 Td (Page two of the statement) Tj ET"
    resources = b"/Resources << /Font << /F1 6 0 R >> >>"
    data = pdf_bytes({
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] " + resources + b" /Contents 5 0 R >>",
        4: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] " + resources + b" /Contents 7 0 R >>",
        5: stream_object(page1),
        6: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        7: stream_object(page2),
    })
    assert "invisible_text" in {s.code for s in prepare_document("d1", data).signals}
    real = documents.words_from_textpage
    pages_seen: list[int] = []

    def slow(textpage: object, width: float, height: float) -> object:
        pages_seen.append(1)
        if len(pages_seen) == 2:
            raise OverBudget("preparation over its time budget: extracting the text of page 2")
        return real(textpage, width, height)

    monkeypatch.setattr(documents, "words_from_textpage", slow)
    doc = prepare_document("d1", data)
    assert doc.unreadable_reason == "preparation over its time budget: extracting the text of page 2"
    assert [(s.code, s.page) for s in doc.signals if s.code == "invisible_text"] == [("invisible_text", 1)]


def test_a_page_of_many_boxes_over_much_text_stops_the_page_checks_and_says_so() -> None:
    """600 page-wide grey boxes and 400 pieces of text (within the content budget) would be 240,000 text-in-box
    tests: the checks stop at MAX_PAGE_TESTS and the document records that its page forensics are incomplete;
    a page of a few boxes is checked in full."""
    from leadeval.screening.forensics.content import MAX_PAGE_TESTS
    from tests.hostile_inputs import one_page_pdf

    assert MAX_PAGE_TESTS < 600 * 400
    boxes = b"0.5 g\n" + b"".join(b"0 %d 612 700 re f\n" % (i % 90) for i in range(600))
    text = b"0 g BT /F1 6 Tf\n" + b"".join(b"1 0 0 1 %d %d Tm (1.00) Tj\n" % (20 + (i % 40) * 14, 40 + (i // 40) * 9)
                                          for i in range(400)) + b"ET\n"
    doc = prepare_document("d1", one_page_pdf(boxes + text))
    assert doc.unreadable_reason is None
    assert doc.metadata["page_forensics"] == ("incomplete: page 1 draws more boxes over text than the checks "
                                              f"examine ({MAX_PAGE_TESTS:,} text-in-box tests)")
    few = prepare_document("d1", one_page_pdf(b"0.5 g\n" + b"".join(b"0 %d 612 700 re f\n" % i for i in range(5))
                                              + text))
    assert "page_forensics" not in few.metadata


def test_page_checks_are_skipped_once_the_time_budget_is_spent(monkeypatch: pytest.MonkeyPatch) -> None:
    """Preparation that has used its whole time budget by the time the pages are read does not start the page
    checks: the document says they were skipped."""
    from tests.hostile_inputs import one_page_pdf, text_operators

    data = one_page_pdf(text_operators() + b"BT /F1 11 Tf 3 Tr 72 300 Td (Net Pay 9,000.00) Tj ET\n")
    assert "invisible_text" in {s.code for s in prepare_document("d1", data).signals}
    spent = {"now": False}
    monkeypatch.setattr(documents.Deadline, "elapsed", lambda self: self.seconds + 1 if spent["now"] else 0.0)
    real_read = documents._read_content

    def read_then_spend(contents: list[object], page: object, textpage: object, index: int) -> None:
        real_read(contents, page, textpage, index)  # type: ignore[arg-type]
        spent["now"] = True

    monkeypatch.setattr(documents, "_read_content", read_then_spend)
    doc = prepare_document("d1", data)
    assert doc.metadata["page_forensics"] == "skipped: the time budget was spent before the page checks"
    assert "invisible_text" not in {s.code for s in doc.signals}


def test_page_checks_can_be_left_out_where_only_the_pages_are_wanted() -> None:
    """The report's thumbnails prepare a document for its pictures: the worker has run the page checks already."""
    from tests.hostile_inputs import one_page_pdf, text_operators

    data = one_page_pdf(text_operators() + b"BT /F1 11 Tf 3 Tr 72 300 Td (Net Pay 9,000.00) Tj ET\n")
    assert "invisible_text" in {s.code for s in prepare_document("d1", data).signals}
    doc = prepare_document("d1", data, limits=DocumentLimits(page_forensics=False))
    assert doc.metadata["page_forensics"] == "skipped: not asked for"
    assert "invisible_text" not in {s.code for s in doc.signals}
    assert doc.text is not None and "Net Pay" in doc.text
