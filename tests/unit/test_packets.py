"""Multi-page packets (issue 12, item 2): pages classified one by one, one logical document per kind with its
page range (screening/packets.py), facts read per part by the offline reader, and one document result per part
in the evaluation (the file's own id first, then ``<id>#pages-A-B``)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from leadeval.adapters.ai.offline import OfflineVisionModel, packet_parts
from leadeval.handlers import handle_worker
from leadeval.models import DocumentKind
from leadeval.screening.documents import prepare_document
from leadeval.screening.packets import PagePart, split_pages
from leadeval_tools.fakes.memory import MemoryDocumentStore, MemoryQueue
from leadeval_tools.local import FakeLambdaContext
from tests.helpers import load_event, make_services, seed_job

K = DocumentKind
STUB = ["ACME LOGISTICS - EARNINGS STATEMENT", "Employee: Dana Whitfield", "Pay Date: 11/20/2026",
        "Pay Period: 11/01/2026 - 11/15/2026", "Pay Frequency: Semimonthly", "Gross Pay 5,000.00",
        "Total Deductions 1,682.50", "Net Pay 3,317.50"]
EARLIER_STUB = ["ACME LOGISTICS - EARNINGS STATEMENT", "Employee: Dana Whitfield", "Pay Date: 11/05/2026",
                "Pay Period: 10/16/2026 - 10/31/2026", "Pay Frequency: Semimonthly", "Gross Pay 5,000.00",
                "Total Deductions 1,682.50", "Net Pay 3,317.50"]
BANK = ["FIRST COMMUNITY BANK - BANK STATEMENT", "Account Holder: Dana Whitfield",
        "Statement Period: 10/01/2026 - 10/31/2026", "Opening Balance 1,200.00", "Closing Balance 4,517.50"]
TRANSACTIONS = ["10/20 PAYROLL DEPOSIT ACME 3,317.50 4,517.50", "10/25 CARD PURCHASE 25.00 4,492.50"]


def _pdf(pages: list[list[str]]) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_creation_date(datetime(2026, 11, 1, tzinfo=UTC))
    for lines in pages:
        pdf.add_page()
        pdf.set_font("helvetica", size=11)
        for line in lines:
            pdf.cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


@pytest.mark.parametrize(("kinds", "parts"), [
    ([], []),
    ([K.PAY_STUB], [PagePart(K.PAY_STUB, 1, 1)]),
    ([K.OTHER, K.OTHER], [PagePart(K.OTHER, 1, 2)]),
    # a continuation page (kind other) stays with the part before it; same kind back to back is one part
    ([K.PAY_STUB, K.PAY_STUB, K.BANK_STATEMENT, K.OTHER],
     [PagePart(K.PAY_STUB, 1, 2), PagePart(K.BANK_STATEMENT, 3, 4)]),
    # a cover page joins the first known kind
    ([K.OTHER, K.TAX_FORM, K.PAY_STUB, K.TAX_FORM],
     [PagePart(K.TAX_FORM, 1, 2), PagePart(K.PAY_STUB, 3, 3), PagePart(K.TAX_FORM, 4, 4)]),
])
def test_pages_become_one_part_per_run_of_a_kind(kinds: list[DocumentKind], parts: list[PagePart]) -> None:
    assert split_pages(kinds) == parts
    assert [p for part in parts for p in part.pages] == list(range(1, len(kinds) + 1))


def test_a_packet_is_read_as_one_document_per_kind_with_its_pages() -> None:
    document = prepare_document("packet", _pdf([STUB, EARLIER_STUB, BANK, TRANSACTIONS]))
    assert [(p.kind, p.first_page, p.last_page) for p in packet_parts(document.text or "")] == [
        (K.PAY_STUB, 1, 2), (K.BANK_STATEMENT, 3, 4)]
    extraction = OfflineVisionModel().extract(document)
    assert extraction.facts is not None and extraction.facts.document_kind == K.PAY_STUB
    stub, bank = extraction.parts
    assert (stub.first_page, stub.last_page, bank.first_page, bank.last_page) == (1, 2, 3, 4)
    assert stub.facts == extraction.facts and stub.facts.gross_pay == Decimal("5000.00")
    assert stub.facts.opening_balance is None  # the statement's figures are not read into the stub
    assert bank.facts.document_kind == K.BANK_STATEMENT and bank.facts.names_shown == ["Dana Whitfield"]
    assert (bank.facts.opening_balance, bank.facts.closing_balance) == (Decimal("1200.00"), Decimal("4517.50"))
    assert bank.facts.gross_pay is None and bank.evidence["closing_balance"].page == 3


def test_a_one_kind_file_is_not_a_packet() -> None:
    document = prepare_document("stubs", _pdf([STUB, EARLIER_STUB]))
    extraction = OfflineVisionModel().extract(document)
    assert extraction.parts == [] and extraction.facts is not None and extraction.facts.document_kind == K.PAY_STUB


def test_the_evaluation_holds_one_document_per_part(tmp_path: Path) -> None:
    services = make_services(tmp_path, documents=MemoryDocumentStore(), queue=MemoryQueue())
    try:
        seed_job(services, documents={"doc_1": _pdf([STUB, BANK, TRANSACTIONS])})
        assert handle_worker(load_event("worker_one_job.json"), FakeLambdaContext(), services) == {
            "batchItemFailures": []}
        evaluation = services.store.get_evaluation("job_demo_001")
        assert evaluation is not None
        first, second = evaluation.documents
        assert (first.document_id, first.kind, first.pages, first.part_of) == ("doc_1", K.PAY_STUB, (1, 1), None)
        assert (second.document_id, second.kind, second.pages, second.part_of) == (
            "doc_1#pages-2-3", K.BANK_STATEMENT, (2, 3), "doc_1")
        assert second.facts is not None and second.facts.closing_balance == Decimal("4517.50")
        assert first.sha256 and second.sha256 is None
    finally:
        services.close()
