"""Document forensics beyond metadata: what a page draws (fonts, cover-ups, hidden text), what each saved
revision changed, printed identifiers, payroll-tax and bank-row arithmetic, and the written verdict rule.

Modules: :mod:`.verdict` (the verdict rule and the per-document risk score), :mod:`.content` (page
content: fonts, rectangles, render modes, CropBox, annotations), :mod:`.revisions` (what each incremental
save changed), :mod:`.identifiers` (ABA routing numbers, SSNs, EINs), :mod:`.arithmetic` (payroll tax,
statement rows, pay schedule). Metadata-level checks and reuse stay in :mod:`leadeval.screening.fraud`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from leadeval.models import Signal

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pypdf import PdfReader

    from leadeval.screening.forensics.content import PageContent

logger = logging.getLogger(__name__)


def page_signals(document_id: str, reader: PdfReader, pages: list[PageContent]) -> list[Signal]:
    """Every page-level check: :func:`.content.content_signals`, :func:`.identifiers.identifier_signals`,
    :func:`.arithmetic.payroll_signals` and :func:`.arithmetic.statement_signals`, over ``pages``: the first
    :data:`.content.MAX_CONTENT_PAGES` pages as PDFium drew them (:func:`.content.read_page`, read while the
    worker extracts their text; :func:`.content.read_pages` opens a document for it), ``reader`` (pypdf) giving
    their annotations and font resources. Run after the content budget has been checked
    (:mod:`leadeval.screening.pdf_budget`). Never raises: a check that fails is skipped (and logged at DEBUG)."""
    from leadeval.screening.forensics.arithmetic import payroll_signals, statement_signals
    from leadeval.screening.forensics.content import content_signals
    from leadeval.screening.forensics.identifiers import identifier_signals

    out: list[Signal] = []
    for check in (lambda: content_signals(document_id, reader, pages), lambda: identifier_signals(document_id, pages),
                  lambda: payroll_signals(document_id, pages), lambda: statement_signals(document_id, pages)):
        try:
            out += check()
        except Exception as exc:  # one check's failure never hides the others' findings
            logger.debug("forensics: a page check failed (%s)", type(exc).__name__)
    return out
