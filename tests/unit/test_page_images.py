"""Pages are rendered only when a reader needs them, at the size it needs, once (issue 14, item 3)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from leadeval.adapters.ai.openai_compat import OpenAICompatibleVisionModel
from leadeval.models import PageImages, PreparedDocument
from leadeval.screening import documents
from leadeval.screening.documents import DocumentLimits, prepare_document

fpdf = pytest.importorskip("fpdf")
LONG_SIDE = DocumentLimits().long_side_px


def make_pdf(pages: int, text_pages: set[int]) -> bytes:
    pdf = fpdf.FPDF(format="A4")
    for index in range(pages):
        pdf.add_page()
        if index in text_pages:
            pdf.set_font("helvetica", size=12)
            pdf.cell(0, 10, f"Acme Payroll pay stub page {index + 1} net pay 1,234.56 gross pay 2,000.00")
        else:
            pdf.rect(20, 20, 100, 60, style="F")
    return bytes(pdf.output())


@pytest.fixture(name="renders")
def _renders(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Every PDF page render, as (0-based page, long side asked for)."""
    calls: list[tuple[int, int]] = []
    real = documents._render_page

    def counting(pdf: Any, index: int, limits: DocumentLimits) -> bytes:
        calls.append((index, limits.long_side_px))
        return real(pdf, index, limits)

    monkeypatch.setattr(documents, "_render_page", counting)
    return calls


def size(jpeg: bytes | None) -> tuple[int, int]:
    assert jpeg is not None
    return Image.open(io.BytesIO(jpeg)).size


def test_a_pdf_with_a_text_layer_is_prepared_without_rendering_a_page(renders: list[tuple[int, int]]) -> None:
    doc = prepare_document("p", make_pdf(5, text_pages={0, 2}))
    assert doc.text is not None and "Acme Payroll" in doc.text
    assert renders == []
    assert doc.image_count == 3 and doc.metadata["rendered_pages"] == [1, 2, 4]  # offered, not yet drawn
    assert isinstance(doc.page_images, PageImages)


def test_one_page_is_rendered_once_at_the_size_asked_for(renders: list[tuple[int, int]]) -> None:
    doc = prepare_document("p", make_pdf(5, text_pages={0, 2}))
    first = doc.page_image(0)
    assert max(size(first)) == LONG_SIDE
    assert doc.page_image(0) is first  # cached: not drawn again
    assert renders == [(0, LONG_SIDE)]
    assert max(size(doc.page_image(3, 560))) == 560
    assert renders == [(0, LONG_SIDE), (3, 560)]
    # the list renders the pages it still lacks, once, in order, and reuses page 1
    assert [max(size(b)) for b in doc.page_images] == [LONG_SIDE] * 3
    assert len(doc.page_images) == 3
    assert renders == [(0, LONG_SIDE), (3, 560), (1, LONG_SIDE), (3, LONG_SIDE)]


def test_a_page_the_document_does_not_have_is_none_and_no_error(renders: list[tuple[int, int]]) -> None:
    doc = prepare_document("p", make_pdf(2, text_pages={0, 1}))
    assert (doc.page_image(2), doc.page_image(-1)) == (None, None)
    assert renders == [] and "render_errors" not in doc.metadata


def test_a_page_that_fails_to_render_later_is_none_with_its_error_recorded(
        monkeypatch: pytest.MonkeyPatch) -> None:
    doc = prepare_document("p", make_pdf(1, text_pages={0}))

    def broken(*_args: Any) -> bytes:
        raise RuntimeError("pdfium")

    monkeypatch.setattr(documents, "_render_page", broken)
    assert doc.page_image(0) is None
    assert doc.metadata["render_errors"] == ["page 1: RuntimeError: pdfium"]
    assert doc.metadata["rendered_pages"] == []
    assert list(doc.page_images) == []


def test_a_pdf_without_a_text_layer_is_rendered_while_prepared_and_never_again(
        renders: list[tuple[int, int]]) -> None:
    doc = prepare_document("p", make_pdf(2, text_pages=set()))
    assert doc.text is None
    assert renders == [(0, LONG_SIDE), (1, LONG_SIDE)]
    assert len(doc.page_images) == 2 and doc.page_image(1) is not None
    assert renders == [(0, LONG_SIDE), (1, LONG_SIDE)]


def test_an_image_is_only_scaled_down_from_its_prepared_copy() -> None:
    out = io.BytesIO()
    Image.new("RGB", (2000, 1000), (200, 30, 30)).save(out, format="PNG")
    doc = prepare_document("i", out.getvalue())
    assert size(doc.page_image(0)) == (LONG_SIDE, LONG_SIDE // 2)
    assert doc.page_image(0, 4000) == doc.page_image(0)  # never scaled up
    assert size(doc.page_image(0, 300)) == (300, 150)
    assert doc.page_image(1) is None


def test_a_vision_request_renders_the_first_page_only(renders: list[tuple[int, int]]) -> None:
    doc = prepare_document("p", make_pdf(5, text_pages={0, 2}))
    model = OpenAICompatibleVisionModel(base_url="http://127.0.0.1:9/v1", model="m")
    messages = model._messages(doc, [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}])
    assert messages[1]["content"][1]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert renders == [(0, LONG_SIDE)]


def test_a_document_built_with_a_list_reads_it() -> None:
    doc = PreparedDocument(document_id="d", detected_type="png", sha256="0" * 64, size_bytes=1,
                           page_images=[b"a", b"b"])
    assert (doc.image_count, doc.page_image(1), doc.page_image(2)) == (2, b"b", None)
