"""What the benchmark scripts (``scripts/bench_*.py``) share: their section of docs/benchmarks.md, the options
they have in common, the machine line of their reports, a quiet environment for the real handlers and jobs
cloned from the sample set.

The scripts import it as ``benchlib``: ``python scripts/bench_x.py`` puts ``scripts/`` first on ``sys.path``
(a script that tests import as ``scripts.bench_x`` puts it there itself). Nothing of leadeval is imported at
module level: the ``--code-root`` scripts choose which checkout's leadeval loads (:func:`use_code_root`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "benchmarks.md"
"""The markdown file every benchmark writes its own section of."""


def markers(name: str) -> tuple[str, str]:
    """The start and end markers of section ``name``: ``("<!-- name:start -->", "<!-- name:end -->")``."""
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def write_section(section: str, name: str, path: Path = DOC) -> None:
    """Put ``section`` (the markdown of section ``name``, its :func:`markers` included) in place of what stands
    from the start marker to the end marker of ``path``, markers included; everything else is kept as it is.
    When ``path`` lacks either marker, the section is appended after a blank line; a missing file is created
    (``# Benchmarks`` then the section, its folder too). UTF-8.

    Raises ValueError when both markers are there but no end marker follows the start marker (nothing is
    written), and OSError when the file cannot be read or written.
    """
    start, end = markers(name)
    text = path.read_text("utf-8") if path.exists() else "# Benchmarks\n"
    if start in text and end in text:
        head, _, rest = text.partition(start)
        if end not in rest:
            raise ValueError(f"{path}: {end} stands before {start}")
        _, _, tail = rest.partition(end)
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")


def machine(cpus_note: str = "") -> str:
    """``"x86_64, 2 CPUs<cpus_note>, Python 3.12.9"``: this machine, as the sections name it."""
    return f"{platform.machine()}, {os.cpu_count()} CPUs{cpus_note}, Python {platform.python_version()}"


def command_line(script: str, argv: Sequence[str] | None) -> str:
    """``python scripts/<script> <argv…>`` (``argv`` None: this process's arguments) without ``--no-write``:
    the command a section says it was produced by."""
    args = list(argv if argv is not None else sys.argv[1:])
    return " ".join(["python", f"scripts/{script}", *args]).replace(" --no-write", "")


# --------------------------------------------------------------------------- options


def add_no_write(parser: argparse.ArgumentParser) -> None:
    """``--no-write`` (``args.no_write``): leave docs/benchmarks.md as it is."""
    parser.add_argument("--no-write", action="store_true", help="do not write docs/benchmarks.md")


def add_json_out(parser: argparse.ArgumentParser) -> None:
    """``--json-out FILE`` (``args.json_out``, a Path or None): where to write the figures as JSON too."""
    parser.add_argument("--json-out", type=Path, help="also write the figures as JSON to this file")


def add_code_root(parser: argparse.ArgumentParser, help_text: str = "measure another checkout's leadeval") -> None:
    """``--code-root DIR`` (``args.code_root``, a Path; default: this checkout)."""
    parser.add_argument("--code-root", type=Path, default=REPO, help=help_text)


def add_before_after(parser: argparse.ArgumentParser, code_root_help: str = "measure another checkout's leadeval",
                     ) -> None:
    """The options of a before/after comparison: ``--code-root`` (:func:`add_code_root`), ``--json-out``
    (:func:`add_json_out`: the before run's figures) and ``--before-json FILE`` (``args.before_json``, a Path
    or None: a before run's ``--json-out``, shown beside; :func:`read_json`)."""
    add_code_root(parser, code_root_help)
    parser.add_argument("--before-json", type=Path, help="a --json-out of the before run, shown beside")
    add_json_out(parser)


def read_json(path: Path | None) -> Any:
    """The JSON document in ``path``; None when ``path`` is None. Raises OSError and ValueError (bad JSON)."""
    return json.loads(path.read_text()) if path else None


def use_code_root(root: Path) -> None:
    """Import leadeval and leadeval_tools from the checkout at ``root`` (first on ``sys.path``); call before
    anything imports them."""
    sys.path[:0] = [str(root / "layers" / "leadeval"), str(root / "tools")]


# --------------------------------------------------------------------------- the real handlers, quietly


def quiet_handlers() -> None:
    """No Powertools JSON lines, EMF output or tracing from the handlers while measuring (environment defaults
    only: a variable already set is kept), region us-east-1, and pypdf's warnings ("EOF marker not found" for
    the truncated sample PDF) silenced."""
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "CRITICAL")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "leadeval")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    import logging

    logging.getLogger("pypdf").setLevel(logging.ERROR)


def clone_sample(n_jobs: int, store: Any, documents: Any, *, today: Any, lift_quotas: bool = False) -> int:
    """Load ``n_jobs`` pending jobs cloned from the sample set (``leadeval_tools.samples`` built for ``today``, a
    date) into ``store`` (a migrated JobStore) and ``documents`` (a DocumentStore): replica k has its leads,
    documents and jobs with ids suffixed ``-k`` and its files under ``k/``; the usage rows are loaded once, with
    ``lift_quotas`` every quota above 1 raised to 10**9 (so no job fails on quota). Returns the jobs created."""
    import math

    from leadeval.models import Job, JobStatus
    from leadeval_tools.samples import build_sample_set

    sample = build_sample_set(today=today)
    for usage in sample.usage:
        model = usage.to_model()
        if lift_quotas and model.quota_limit and model.quota_limit > 1:
            model = model.model_copy(update={"quota_limit": 10 ** 9})
        store.add_usage(model)
    created = 0
    for k in range(math.ceil(n_jobs / len(sample.jobs))):
        for lead in sample.leads:
            store.create_lead(lead.to_model().model_copy(update={"id": f"{lead.id}-{k}"}))
        for doc in sample.documents:
            key = f"{k}/{doc.storage_key}"
            documents.put(key, sample.files[doc.storage_key])
            store.add_document(doc.to_model().model_copy(update={"id": f"{doc.id}-{k}",
                                                                 "lead_id": f"{doc.lead_id}-{k}", "storage_key": key}))
        for job in sample.jobs:
            if created == n_jobs:
                break
            store.create_job(Job(id=f"{job.id}-{k}", site_id=job.site_id, lead_id=f"{job.lead_id}-{k}",
                                 status=JobStatus.PENDING, requested_at=job.requested_at),
                             requested_at_text=job.requested_at_text)
            created += 1
    return created
