"""`leadeval evaluate` on every file of the shared corpus: each job ends completed, or failed with a
specific code and message; none crashes the run; text-PDF facts match SOURCES.md."""

from __future__ import annotations

import os
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadeval.models import JobStatus
from leadeval_tools.cli import app

pytestmark = pytest.mark.slow

# file -> (final status, error code or None, words the error message must contain)
EXPECTED = {
    "documents/bank_statement_minimal_text.pdf": ("completed", None, None),
    "documents/employment_verification_form1005.png": ("completed", None, None),
    "documents/id_dl_colorado_specimen_printed.pdf": ("completed", None, None),
    "documents/id_dl_massachusetts_specimen.png": ("completed", None, None),
    "documents/id_dl_washington_sample_jpeg_named_png.png": ("completed", None, None),
    "documents/id_passport_us_specimen.jpeg": ("completed", None, None),
    "documents/packet_lending_tax_paystubs_10p.pdf": ("completed", None, None),
    "documents/paystub_adp_style_inconsistent_ytd.pdf": ("completed", None, None),
    "documents/paystub_gusto_style_text.pdf": ("completed", None, None),
    "documents/paystub_trinet_style_text.pdf": ("completed", None, None),
    "documents/w2_2020_text.pdf": ("completed", None, None),
    "hostile/gif_decompression_bomb_65535x66601.gif": ("failed", "DocumentUnreadable", "GIF"),
    "hostile/heic_iphone_photo_not_a_document.heic": ("completed", None, None),
    "hostile/pdf_352_pages_freeculture.pdf": ("failed", "DocumentUnreadable", "too many pages"),
    "hostile/pdf_embedded_file_attachment.pdf": ("completed", None, None),
    "hostile/pdf_encrypted_user_password_abc.pdf": ("failed", "DocumentUnreadable", "password"),
    "hostile/pdf_javascript_autoprint.pdf": ("completed", None, None),
    "hostile/pdf_truncated_no_trailer.pdf": ("failed", "DocumentUnreadable", "corrupt PDF"),
    "hostile/photo_dark_lowlight_form.pdf": ("completed", None, None),
}

# facts the offline model reads from text PDFs (SOURCES.md), dollars
FACTS = {
    "documents/paystub_gusto_style_text.pdf": {"document_kind": "pay_stub", "gross_pay": Decimal("5000.00"),
                                               "ytd_gross": Decimal("60000.00")},
    "documents/paystub_trinet_style_text.pdf": {"document_kind": "pay_stub", "gross_pay": Decimal("5000.00"),
                                                "ytd_gross": Decimal("60000.00")},
    "documents/paystub_adp_style_inconsistent_ytd.pdf": {"document_kind": "pay_stub",
                                                         "gross_pay": Decimal("5000.00"),
                                                         "ytd_gross": Decimal("99999.99")},
    "documents/bank_statement_minimal_text.pdf": {"document_kind": "bank_statement"},
    "documents/w2_2020_text.pdf": {"document_kind": "tax_form", "annual_income": Decimal("23677.70")},
}


@pytest.fixture(name="store_env")
def _store_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aws_credentials: None) -> Path:
    saved = dict(os.environ)
    db = tmp_path / "evaluate.db"
    monkeypatch.setenv("LEADEVAL_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.delenv("LEADEVAL_DOCUMENTS_URL", raising=False)
    monkeypatch.delenv("LEADEVAL_MODEL_URL", raising=False)
    yield db
    os.environ.clear()
    os.environ.update(saved)


def test_every_corpus_file_is_listed(corpus_dir: Path) -> None:
    files = {str(p.relative_to(corpus_dir)) for p in corpus_dir.glob("*/*") if p.is_file()}
    assert files == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_evaluate_corpus_file(name: str, corpus_dir: Path, store_env: Path, tmp_path: Path) -> None:
    folder = tmp_path / "applicant"
    folder.mkdir()
    shutil.copy(corpus_dir / name, folder / Path(name).name)

    result = CliRunner().invoke(app, ["evaluate", str(folder), "--monthly-rent", "1850", "--first-name", "Jane",
                                      "--last-name", "Doe"])

    status, code, words = EXPECTED[name]
    # exit codes (README "Exit codes"): 1 when the job evaluate ran failed, 0 when it completed
    assert result.exit_code == (1 if status == "failed" else 0), result.output
    from leadeval.adapters.jobstore.sqlite import SqliteJobStore

    store = SqliteJobStore(store_env)
    [job] = store.list_jobs()
    assert str(job.status) == status, (job.error_code, job.error_message)
    if job.status == JobStatus.FAILED:
        assert job.error_code == code
        assert words in job.error_message
        assert "Job failed" not in result.output or code in result.output
        return
    evaluation = store.get_evaluation(job.id)
    [document] = evaluation.documents
    assert document.verdict in ("clean", "edited", "undetermined")
    assert evaluation.reasons
    for key, value in FACTS.get(name, {}).items():
        assert document.facts is not None, document.reason
        assert getattr(document.facts, key) == value, key
    if name == "documents/id_dl_washington_sample_jpeg_named_png.png":
        assert document.detected_type == "jpeg"
    if name == "hostile/pdf_javascript_autoprint.pdf":
        # Active content is a finding for a person to review, not proof of an edit: never a decline alone.
        assert "pdf_javascript" in {s.code for s in document.signals}
        assert document.verdict != "edited" and evaluation.recommendation == "review"
    store.close()
