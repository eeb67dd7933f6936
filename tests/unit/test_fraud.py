"""Deterministic forensics: PDF structure/metadata signals, image EXIF, names and file reuse."""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter
from pypdf.generic import DictionaryObject, NameObject, TextStringObject

from leadeval.jobs.records import PriorSubmission
from leadeval.screening.fraud import (
    IMAGE_EDITORS,
    PDF_EDITORS,
    count_eof_markers,
    image_signals,
    match_editor,
    name_hash,
    normalize_name,
    pdf_revision_count,
    pdf_signals,
    reuse_signals,
)

fpdf = pytest.importorskip("fpdf")


# --------------------------------------------------------------------------- helpers


def make_pdf(text: str = "Acme Payroll Services pay statement for the period ending 2025-12-31") -> bytes:
    """A clean one-page text PDF, as fpdf2 writes it (one revision, no editor)."""
    pdf = fpdf.FPDF()
    pdf.set_font("helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 10, text)
    return bytes(pdf.output())


def rewrite(data: bytes, *, metadata: dict[str, str] | None = None, incremental: bool = False,
            open_action_js: str | None = None, attachment: bytes | None = None,
            doc_js: str | None = None) -> bytes:
    """``data`` saved again by pypdf (a full rewrite, or an appended revision)."""
    if incremental:
        writer = PdfWriter(io.BytesIO(data), incremental=True)
    else:
        writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    if metadata:
        writer.add_metadata(metadata)
    if open_action_js is not None:
        writer.root_object[NameObject("/OpenAction")] = DictionaryObject({
            NameObject("/S"): NameObject("/JavaScript"),
            NameObject("/JS"): TextStringObject(open_action_js)})
    if doc_js is not None:
        from pypdf.actions import JavaScript

        writer.add_open_action(JavaScript(doc_js))
    if attachment is not None:
        writer.add_attachment("note.txt", attachment)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def codes(signals) -> list[str]:
    return [s.code for s in signals]


def by_code(signals, code: str):
    found = [s for s in signals if s.code == code]
    assert len(found) == 1, f"expected one {code}, got {codes(signals)}"
    return found[0]


# --------------------------------------------------------------------------- editor patterns


@pytest.mark.parametrize(("value", "expected", "severity"), [
    ("iLovePDF", "iLovePDF", "medium"),
    ("Smallpdf.com", "Smallpdf", "medium"),
    ("Sejda Console 3.2.85", "Sejda", "medium"),
    ("PDFescape Online", "PDFescape", "medium"),
    ("PDF-XChange Editor 9.5.366", "PDF-XChange", "medium"),
    ("Foxit PhantomPDF Printer Version 9.7", "Foxit PhantomPDF / PDF Editor", "medium"),
    ("Foxit PDF Editor 12.1", "Foxit PhantomPDF / PDF Editor", "medium"),
    ("Nitro Pro 13 (13.70.0.30)", "Nitro", "medium"),
    ("Adobe Acrobat Pro (64-bit) 22.3.20282", "Adobe Acrobat", "medium"),
    ("Adobe Acrobat Pro DC 21.1.20155", "Adobe Acrobat", "medium"),
    ("Adobe Acrobat 11.0.23", "Adobe Acrobat", "medium"),
    ("Microsoft® Word for Microsoft 365", "Microsoft Word", "medium"),
    ("Microsoft Office Word 2007", "Microsoft Word", "medium"),
    ("Acrobat PDFMaker 21 for Word", "Microsoft Word (Acrobat PDFMaker)", "medium"),
    ("Canva", "Canva", "medium"),
    ("Adobe Photoshop 25.0 (Windows)", "Adobe Photoshop", "medium"),
    ("LibreOffice 6.3", "LibreOffice / OpenOffice", "low"),
    ("OpenOffice.org 3.2", "LibreOffice / OpenOffice", "low"),
    ("macOS Version 12.3.1 (Build 21E258) Quartz PDFContext", "macOS Preview / Quartz", "low"),
    ("Preview", "macOS Preview / Quartz", "low"),
    ("Microsoft® Excel® 2019", "Microsoft Excel", "low"),
])
def test_pdf_editor_patterns_match(value: str, expected: str, severity: str) -> None:
    editor = match_editor(value, PDF_EDITORS)
    assert editor is not None
    assert (editor.name, editor.severity) == (expected, severity)


@pytest.mark.parametrize("value", [
    "Acrobat Distiller 5.0.5 for Macintosh",  # print-to-PDF conversion, not an edit
    "Adobe PDF Library 15.0",
    "ReportLab PDF Library - www.reportlab.com",
    "Skia/PDF m91",
    "PDFium",
    "PyFPDF/fpdf2.8.9",
    "Foxit Reader PDF Printer Version 10.1",
    "iText® 7.1.16 ©2000-2021 iText Group NV",
    "",
    None,
])
def test_pdf_generators_are_not_editors(value: str | None) -> None:
    assert match_editor(value, PDF_EDITORS) is None


# --------------------------------------------------------------------------- PDF signals (generated)


def test_clean_fpdf2_pdf_raises_no_signal() -> None:
    assert pdf_signals("d1", make_pdf()) == []


def test_ilovepdf_producer_is_editing_software() -> None:
    data = rewrite(make_pdf(), metadata={"/Producer": "iLovePDF"})
    signal = by_code(pdf_signals("d1", data), "pdf_editing_software")
    assert (signal.severity, signal.evidence, signal.document_id) == ("medium", "Producer: iLovePDF", "d1")


def test_severity_is_the_worst_of_producer_and_creator() -> None:
    data = rewrite(make_pdf(), metadata={"/Producer": "LibreOffice 7.6", "/Creator": "Microsoft® Word 2019"})
    signal = by_code(pdf_signals("d1", data), "pdf_editing_software")
    assert signal.severity == "medium"
    assert signal.evidence == "Producer: LibreOffice 7.6; Creator: Microsoft® Word 2019"


@pytest.mark.parametrize(("created", "modified", "flagged"), [
    ("D:20250101000000Z", "D:20250201120000Z", True),   # a month later
    ("D:20250101000000Z", "D:20250102000100Z", True),   # one day and a minute
    ("D:20250101000000Z", "D:20250101230000Z", False),  # same day
    ("D:20250101000000Z", "D:20250101000000Z", False),
    ("D:20250201000000Z", "D:20250101000000Z", False),  # modified "before" creation: not this signal
    ("D:20250101090000+09'00'", "D:20250102010000+01'00'", False),  # exactly 1 day apart in UTC
])
def test_modified_after_creation(created: str, modified: str, flagged: bool) -> None:
    data = rewrite(make_pdf(), metadata={"/CreationDate": created, "/ModDate": modified})
    found = [s for s in pdf_signals("d1", data) if s.code == "pdf_modified_after_creation"]
    assert bool(found) is flagged
    if flagged:
        assert found[0].severity == "medium"
        assert created in found[0].evidence and modified in found[0].evidence


def test_modified_after_creation_compares_in_utc() -> None:
    # 09:00+09:00 is 00:00Z; 00:30-01:00 next day is 01:30Z: 25.5 hours later in UTC, although
    # the local wall-clock times are 15.5 hours apart.
    data = rewrite(make_pdf(), metadata={"/CreationDate": "D:20250101090000+09'00'",
                                          "/ModDate": "D:20250102003000-01'00'"})
    assert "pdf_modified_after_creation" in codes(pdf_signals("d1", data))


def test_malformed_dates_are_ignored() -> None:
    data = rewrite(make_pdf(), metadata={"/CreationDate": "yesterday", "/ModDate": "D:2025XX"})
    assert "pdf_modified_after_creation" not in codes(pdf_signals("d1", data))


def test_incremental_update_of_metadata_only_is_low() -> None:
    """Issue 13: what the save changed is said; metadata only is low (it never moves a verdict alone)."""
    original = make_pdf()
    updated = rewrite(original, metadata={"/Title": "second revision"}, incremental=True)
    assert updated.startswith(original)  # really appended, not rewritten
    signal = by_code(pdf_signals("d1", updated), "pdf_incremental_update")
    assert signal.severity == "low"
    assert re.fullmatch(r"2 %%EOF markers: revision 2 of 2 rewrote info \(object \d+\)", signal.evidence)


def test_incremental_update_rewriting_the_page_content_is_high() -> None:
    from pypdf import PdfWriter

    original = make_pdf()
    writer = PdfWriter(io.BytesIO(original), incremental=True)
    page = writer.pages[0]
    contents = page.get_contents()
    assert contents is not None
    contents.set_data(contents.get_data() + b"\nBT /F1 12 Tf 72 700 Td (9,999.00) Tj ET")
    page.replace_contents(contents)
    out = io.BytesIO()
    writer.write(out)
    signal = by_code(pdf_signals("d1", out.getvalue()), "pdf_incremental_update")
    assert signal.severity == "high"
    assert "rewrote content (object" in signal.evidence
    assert (signal.field, signal.page, signal.expected) == ("revision", 1, "one revision, as issued")
    assert signal.actual is not None and signal.actual.startswith("revision 2 rewrote content (object")


def test_incremental_update_of_signed_file_is_low() -> None:
    updated = rewrite(make_pdf(), metadata={"/ByteRange": "[0 10 20 30]"}, incremental=True)
    signal = by_code(pdf_signals("d1", updated), "pdf_incremental_update")
    assert signal.severity == "low"


def test_incremental_update_found_by_byte_scan_even_when_unparseable() -> None:
    data = b"%PDF-1.4\n1 0 obj garbage\nstartxref\n9\n%%EOF\nmore garbage\nstartxref\n40\n%%EOF\n"
    assert codes(pdf_signals("d1", data)) == ["pdf_incremental_update"]


@pytest.mark.parametrize(("data", "eofs", "revisions"), [
    (b"%PDF-1.7\n...%%EOF\n", 1, 1),
    (b"%PDF-1.7\n...%%EOF\n...%%EOF\n", 2, 2),
    (b"%PDF-1.7\n1 0 obj <</Linearized 1/L 99>> endobj ...%%EOF\n...%%EOF\n", 2, 1),
    (b"%PDF-1.7\n1 0 obj <</Linearized 1/L 99>> endobj ...%%EOF\n...%%EOF\n...%%EOF", 3, 2),
    (b"%PDF-1.7\n" + b" " * 2000 + b"/Linearized 1 ...%%EOF\n...%%EOF\n", 2, 2),  # not at the start
    (b"%PDF-1.7\nno marker at all", 0, 0),
])
def test_revision_count(data: bytes, eofs: int, revisions: int) -> None:
    assert count_eof_markers(data) == eofs
    assert pdf_revision_count(data) == revisions


def test_javascript_in_names_tree() -> None:
    data = rewrite(make_pdf(), doc_js="app.alert('hi');")
    signal = by_code(pdf_signals("d1", data), "pdf_javascript")
    assert (signal.severity, signal.evidence) == ("medium", "JavaScript in Names tree")


def test_javascript_open_action() -> None:
    data = rewrite(make_pdf(), open_action_js="this.print(true);")
    signal = by_code(pdf_signals("d1", data), "pdf_javascript")
    assert (signal.severity, signal.evidence) == ("medium", "JavaScript in OpenAction")


def test_javascript_token_found_when_structure_is_broken() -> None:
    data = b"%PDF-1.4\n5 0 obj << /S /JavaScript /JS (app.alert(1)) >> endobj\n"
    signal = by_code(pdf_signals("d1", data), "pdf_javascript")
    assert "token" in signal.evidence


def test_embedded_file_is_flagged_with_a_count_only() -> None:
    data = rewrite(make_pdf(), attachment=b"secret payload")
    signal = by_code(pdf_signals("d1", data), "pdf_embedded_files")
    assert (signal.severity, signal.evidence) == ("medium", "1 embedded file (/EmbeddedFiles)")
    assert "note.txt" not in signal.evidence


def test_encrypted_with_empty_password_is_low_and_still_inspected() -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf())))
    writer.add_metadata({"/Producer": "Smallpdf"})
    writer.encrypt(user_password="", owner_password="owner", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    signals = pdf_signals("d1", out.getvalue())
    assert codes(signals) == ["pdf_editing_software", "pdf_encrypted"]
    assert by_code(signals, "pdf_encrypted").evidence == "encrypted; opened with the empty password"


def test_passing_an_open_reader_gives_the_same_signals() -> None:
    data = rewrite(rewrite(make_pdf(), metadata={"/Producer": "Nitro Pro 13"}), metadata={"/Title": "x"},
                   incremental=True)
    reader = PdfReader(io.BytesIO(data), strict=False)
    assert pdf_signals("d1", data, reader) == pdf_signals("d1", data)
    assert codes(pdf_signals("d1", data)) == ["pdf_editing_software", "pdf_incremental_update"]


@pytest.mark.parametrize("data", [b"", b"not a pdf", b"%PDF-1.4\n\x00\xff" * 50, b"%PDF-1.7\n1 0 obj <<"])
def test_pdf_signals_never_raise_on_garbage(data: bytes) -> None:
    assert pdf_signals("d1", data) == []


# --------------------------------------------------------------------------- PDF signals (corpus)


@pytest.mark.parametrize(("name", "expected"), [
    ("hostile/pdf_javascript_autoprint.pdf",
     ["pdf_editing_software", "pdf_incremental_update", "pdf_javascript"]),
    ("hostile/pdf_embedded_file_attachment.pdf",
     ["pdf_editing_software", "pdf_incremental_update", "pdf_embedded_files"]),
    # linearized with exactly 2 %%EOF markers: NOT an incremental update; Distiller not an editor
    ("hostile/pdf_352_pages_freeculture.pdf", ["pdf_modified_after_creation"]),
    ("hostile/pdf_encrypted_user_password_abc.pdf", ["pdf_encrypted"]),
    ("hostile/pdf_truncated_no_trailer.pdf", []),
    ("hostile/photo_dark_lowlight_form.pdf", ["pdf_editing_software"]),  # macOS Preview (low)
    ("documents/paystub_gusto_style_text.pdf", []),
    ("documents/w2_2020_text.pdf", []),
    ("documents/id_dl_colorado_specimen_printed.pdf", ["pdf_print_to_pdf"]),  # Skia/PDF: printed from a browser
    ("documents/bank_statement_minimal_text.pdf", []),
])
def test_corpus_pdf_signals(corpus_dir: Path, name: str, expected: list[str]) -> None:
    assert codes(pdf_signals("d1", (corpus_dir / name).read_bytes())) == expected


def test_corpus_signal_details(corpus_dir: Path) -> None:
    autoprint = pdf_signals("d1", (corpus_dir / "hostile/pdf_javascript_autoprint.pdf").read_bytes())
    assert by_code(autoprint, "pdf_incremental_update").evidence == (
        "3 %%EOF markers (linearized: first-page trailer not counted): revision 2 of 2 rewrote metadata "
        "(object 2), 2 compressed object stream(s)")
    assert by_code(autoprint, "pdf_incremental_update").severity == "medium"  # what it changed cannot be told
    assert by_code(autoprint, "pdf_javascript").severity == "medium"
    preview = pdf_signals("d1", (corpus_dir / "hostile/photo_dark_lowlight_form.pdf").read_bytes())
    assert by_code(preview, "pdf_editing_software").severity == "low"
    encrypted = pdf_signals("d1", (corpus_dir / "hostile/pdf_encrypted_user_password_abc.pdf").read_bytes())
    assert by_code(encrypted, "pdf_encrypted").evidence == "encrypted; needs a password"


# --------------------------------------------------------------------------- images


@pytest.mark.parametrize(("software", "expected"), [
    ("Adobe Photoshop CC 2019 (Windows)", ("medium", "EXIF Software: Adobe Photoshop CC 2019 (Windows)")),
    ("GIMP 2.10.34", ("medium", "EXIF Software: GIMP 2.10.34")),
    ("Pixelmator Pro 3.3", ("medium", "EXIF Software: Pixelmator Pro 3.3")),
    ("Adobe Lightroom 7.0 (iOS)", ("low", "EXIF Software: Adobe Lightroom 7.0 (iOS)")),
    ("16.2", None),  # iOS version written by the camera app
    ("HDR+ 1.0.540104767zd", None),
    ("Google", None),
    (None, None),
])
def test_image_signals(software: str | None, expected: tuple[str, str] | None) -> None:
    metadata = {"format": "JPEG", "software": software} if software else {"format": "JPEG"}
    signals = image_signals("img1", metadata)
    if expected is None:
        assert signals == []
    else:
        assert [(s.code, s.severity, s.evidence, s.document_id) for s in signals] == [
            ("image_edited_with_software", *expected, "img1")]


def test_editor_lists_are_not_empty_and_named() -> None:
    assert len({e.name for e in PDF_EDITORS}) == len(PDF_EDITORS)
    assert len({e.name for e in IMAGE_EDITORS}) == len(IMAGE_EDITORS)


# --------------------------------------------------------------------------- names and reuse


@pytest.mark.parametrize(("raw", "normalized"), [
    ("José  Álvarez-Núñez", "jose alvarez nunez"),
    ("  MARY   ann ", "mary ann"),
    ("O'Brien", "obrien"),
    ("O’Brien", "obrien"),
    ("Jean-Luc", "jean luc"),
    ("Smith, Jr.", "smith jr"),
    ("Straße", "strasse"),
    ("Zoë Ångström", "zoe angstrom"),
    ("Nguyễn Văn", "nguyen van"),
    ("李 小龍", "李 小龍"),
    ("", ""),
])
def test_normalize_name(raw: str, normalized: str) -> None:
    assert normalize_name(raw) == normalized


@pytest.mark.parametrize(("a", "b", "same"), [
    (("José", "Álvarez-Núñez"), ("jose", "NUNEZ"), True),  # last token of the surname
    (("Mary Ann", "Smith"), ("Mary", "smith"), True),      # middle names ignored
    (("Mary", "de la Cruz"), ("mary", "Cruz"), True),
    (("Mary", "Smith"), ("Maria", "Smith"), False),
    (("John", "Smith"), ("Smith", "John"), False),
])
def test_name_hash(a: tuple[str, str], b: tuple[str, str], same: bool) -> None:
    assert (name_hash(*a) == name_hash(*b)) is same


def test_name_hash_is_sha256_of_the_normalized_pair() -> None:
    assert name_hash("José María", "Álvarez-Núñez") == hashlib.sha256(b"jose nunez").hexdigest()


FILE = "a" * 64
OTHER_FILE = "b" * 64


@pytest.mark.parametrize(("prior", "expected_evidence"), [
    ([], None),
    ([PriorSubmission(FILE, name_hash("Ann", "Lee"))], None),                       # same applicant
    ([PriorSubmission(OTHER_FILE, name_hash("Bob", "Roe"))], None),                 # another file
    ([PriorSubmission(FILE, name_hash("Bob", "Roe"))],
     "also submitted by another applicant: the same file came with 1 other applicant name"),
    ([PriorSubmission(FILE, name_hash("Bob", "Roe")), PriorSubmission(FILE, name_hash("Cy", "Doe")),
      PriorSubmission(FILE, name_hash("Bob", "Roe")), PriorSubmission(FILE, name_hash("ann", "LEE"))],
     "also submitted by another applicant: the same file came with 2 other applicant names"),
])
def test_reuse_signals(prior: list[PriorSubmission], expected_evidence: str | None) -> None:
    signals = reuse_signals("d9", FILE, name_hash("Ann", "Lee"), prior)
    if expected_evidence is None:
        assert signals == []
    else:
        assert [(s.code, s.severity, s.evidence, s.document_id) for s in signals] == [
            ("document_reused", "medium", expected_evidence, "d9")]
