"""The property manager's report: one self-contained page per evaluation request, with the decision, the evidence
and the applicant's rights (``leadeval report JOB_ID --html FILE [--pdf FILE]``; ``make run`` writes one per job
to ``.leadeval/reports/``).

- :mod:`~leadeval_tools.report.build` gathers what the page shows from the job store (read only) and the
  documents' pages from the document store;
- :mod:`~leadeval_tools.report.thumbnails` renders each page through the worker's hardened document path;
- :mod:`~leadeval_tools.report.masking` masks SSNs and account numbers in text and on pages;
- :mod:`~leadeval_tools.report.render` fills the Jinja2 template (``templates/report.html.j2``) and prints the
  PDF with headless Chromium.

Not part of the Lambda layer: the application shows its own pages; this is the operator's and the auditor's copy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from leadeval.ports import DocumentStore, OperatorStore
from leadeval.screening.documents import DocumentLimits
from leadeval_tools.report.build import Report, build_report
from leadeval_tools.report.render import render_html, write_html, write_pdf

__all__ = ["Report", "build_report", "render_html", "write_html", "write_pdf", "write_reports"]


def write_reports(store: OperatorStore, documents: DocumentStore | None, job_ids: Iterable[str], folder: Path, *,
                  now: datetime, limits: DocumentLimits | None = None) -> list[Path]:
    """Write ``<folder>/<job_id>.html`` for each job (every job has one: a job without an evaluation gets a page
    saying what happened). Returns the paths written, in ``job_ids`` order.

    Raises:
        ResourceNotFound: a job id that does not exist; the store's errors.
    """
    paths = []
    for job_id in job_ids:
        report = build_report(store, documents, job_id, now=now, limits=limits)
        paths.append(write_html(report, folder / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', job_id)}.html"))
    return paths
