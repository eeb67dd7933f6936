"""Multi-page packets: one file holding several documents (pay stubs, then a bank statement, then a letter).

A lender's or applicant's packet is one PDF whose pages are of different kinds. Read as one document, it takes
the first kind it matches and its other documents are lost (or, worse, their figures are read as the first
kind's). :func:`split_pages` turns the kind of each page (classified on its own by the kinds' markers,
:mod:`leadeval.screening.kinds`) into logical documents, each a run of pages with its page range:

* a page of a known kind that differs from the current part's kind starts a new part;
* a page of the same kind, or of kind ``other`` (a continuation page with only transactions, a cover, a
  blank page), belongs to the current part; ``other`` pages before the first known kind join the first part;
* consecutive pages of one kind are one part (two pay stubs back to back are read as one pay stub part).

A file is a packet when this gives two parts or more; otherwise it stays one document. Pure domain code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from leadeval.models import DocumentKind


@dataclass(frozen=True)
class PagePart:
    """One logical document of a packet: its kind and its pages (1-based, inclusive)."""

    kind: DocumentKind
    first_page: int
    last_page: int

    @property
    def pages(self) -> range:
        """The part's page numbers (1-based)."""
        return range(self.first_page, self.last_page + 1)


def split_pages(page_kinds: Sequence[DocumentKind]) -> list[PagePart]:
    """The logical documents of a file whose page ``i + 1`` is of kind ``page_kinds[i]`` (see the module
    docstring for the rules).

    Returns:
        The parts in page order, covering every page once; ``[]`` for no page; one part of kind ``other`` when
        no page has a known kind.
    """
    parts: list[PagePart] = []
    for number, kind in enumerate(page_kinds, start=1):
        if not parts:
            parts.append(PagePart(kind, number, number))
            continue
        current = parts[-1]
        if kind in (current.kind, DocumentKind.OTHER):
            parts[-1] = PagePart(current.kind, current.first_page, number)
        elif current.kind == DocumentKind.OTHER:  # leading unknown pages join the first known kind
            parts[-1] = PagePart(kind, current.first_page, number)
        else:
            parts.append(PagePart(kind, number, number))
    return parts
