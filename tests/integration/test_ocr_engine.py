"""The real OCR engine (rapidocr, models from its wheel) with networking disabled: `leadeval evaluate` on a
scanned pay stub produces income; a passport photo's MRZ gives a verified expiry. Two pages in all (about
4 CPU-seconds each): the accuracy over the corpus is measured by `make bench-accuracy`, not here."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from leadeval.adapters.ocr.rapid import RapidOcrReader, ocr_available

pytestmark = pytest.mark.skipif(not ocr_available(), reason="the ocr extra (rapidocr, onnxruntime) is not installed")


_real_connect = socket.socket.connect
_real_getaddrinfo = socket.getaddrinfo
_LOCAL = ("127.0.0.1", "::1", "localhost", "0.0.0.0", "")


def _no_network(self: socket.socket, address: Any) -> Any:
    """Only this machine: Unix sockets and loopback (the local run's in-process queue server)."""
    if self.family == socket.AF_UNIX or (isinstance(address, tuple) and address[0] in _LOCAL):
        return _real_connect(self, address)
    raise OSError("networking disabled in this test")


def _local_lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
    if host in _LOCAL or host is None:
        return _real_getaddrinfo(host, *args, **kwargs)
    raise OSError("networking disabled in this test")


@pytest.fixture(name="offline_only")
def _offline_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No connection beyond this machine and no name lookup: a model download would fail the test."""
    monkeypatch.setattr(socket.socket, "connect", _no_network)
    monkeypatch.setattr(socket.socket, "connect_ex", _no_network)
    monkeypatch.setattr(socket, "getaddrinfo", _local_lookup)
    yield


def _scanned_stub() -> tuple[bytes, dict[str, Any]]:
    """A sample pay stub rendered to a JPEG page image (what a scan of it is) and what it states."""
    from leadeval.screening.documents import prepare_document
    from leadeval.timeutil import utcnow
    from leadeval_tools.samples import build_sample_set

    sample = build_sample_set(today=utcnow().date())  # a current stub: one older than the policy is not counted
    stub = next(d for d in sample.documents if d.document_type == "pay_stub" and d.file_name.endswith(".pdf"))
    prepared = prepare_document("stub", sample.files[stub.storage_key])
    return prepared.page_images[0], stub.truth


def test_evaluate_a_scanned_pay_stub_counts_its_income(offline_only: None, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from leadeval.adapters.jobstore.sqlite import SqliteJobStore
    from leadeval_tools.cli import app

    image, truth = _scanned_stub()
    folder = tmp_path / "applicant"
    folder.mkdir()
    (folder / "stub_scan.jpg").write_bytes(image)
    saved = dict(os.environ)
    try:
        monkeypatch.setenv("LEADEVAL_DATABASE_URL", f"sqlite:///{tmp_path}/evaluate.db")
        monkeypatch.setenv("LEADEVAL_OCR_PAGES_PER_DOCUMENT", "1")
        monkeypatch.delenv("LEADEVAL_MODEL_URL", raising=False)
        monkeypatch.delenv("LEADEVAL_DOCUMENTS_URL", raising=False)
        first, last = truth["names_shown"][0].split()
        result = CliRunner().invoke(app, ["evaluate", str(folder), "--monthly-rent", "1850", "--first-name", first,
                                          "--last-name", last])
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert result.exit_code == 0, result.output
    store = SqliteJobStore(tmp_path / "evaluate.db")
    [job] = store.list_jobs()
    evaluation = store.get_evaluation(job.id)
    assert evaluation is not None
    [document] = evaluation.documents
    assert (document.verdict, document.detected_type, document.kind) == ("clean", "jpeg", "pay_stub")
    assert document.facts is not None
    for key in ("gross_pay", "net_pay", "total_deductions", "ytd_gross"):
        assert getattr(document.facts, key) == Decimal(truth[key]), key
        assert document.evidence[key].how == "ocr" and document.evidence[key].certain
        assert 0.5 < document.evidence[key].confidence <= 1.0
    assert document.facts.pay_frequency == truth["pay_frequency"]
    assert evaluation.monthly_income_cents is not None and evaluation.monthly_income_cents > 0
    store.close()


def test_passport_photo_mrz_is_read_and_verified(offline_only: None, corpus_dir: Path) -> None:
    from leadeval.adapters.ai.offline import OfflineVisionModel
    from leadeval.screening.documents import prepare_document

    data = (corpus_dir / "documents" / "id_passport_us_specimen.jpeg").read_bytes()
    reader = RapidOcrReader(threads=1)
    extraction = OfflineVisionModel(reader).for_job().extract(prepare_document("passport", data))
    facts = extraction.facts
    assert facts is not None and facts.document_kind == "government_id"
    # SOURCES.md: HAPPY TRAVELER, expires 14 OCT 2030; the zone's check digits all pass
    assert facts.names_shown[0] == "HAPPY TRAVELER" and facts.id_expiry == date(2030, 10, 14)
    assert extraction.evidence["id_expiry"].certain and extraction.evidence["id_expiry"].how == "ocr"
    assert facts.tampering_signals == []
