"""``make bench-forensics``: the tamper benchmark (issue 13).

Usage::

    .venv/bin/python scripts/bench_forensics.py              # writes docs/benchmarks.md
    .venv/bin/python scripts/bench_forensics.py --no-write   # print only
    .venv/bin/python scripts/bench_forensics.py --per-family 3

The documents come from ``leadeval_tools.tamper.corpus`` (generated in memory from a seed: 110 clean ones and
7 tampered ones per family, made-up people). Each runs as the worker runs it: ``prepare_document`` (forensic
signals), the ``offline`` reader, the reuse lookup (an in-memory index holding what earlier applicants
submitted: for the ``reused`` family, the same file under its owner's name) and ``assess`` for an applicant
whose name is the one printed on the document (rent $1,500, evaluated on 10 March 2026).

Figures: per family, the share of documents *detected* — the family's signal is on the document and the
document is MEDIUM or HIGH risk or not clean (a print-to-PDF statement is low risk by design and counts when
its verdict is undetermined); on clean documents, the share verdict ``edited`` and the share with any MEDIUM+
signal (listing those signals); the forensic time per page (``pdf_signals`` + page forensics on the bytes, PDFium
opening the document and loading its pages included: the worker shares that load with the text layer,
median and 95th percentile) and the whole preparation per document. Goals: ≥ 95 % detected, 0 clean edited,
≤ 2 % clean MEDIUM+. Exit status 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import io
import platform
import statistics
import sys
import time
from collections import Counter, defaultdict
from datetime import date

from benchlib import add_no_write, markers, write_section

START, END = markers("forensics")
TODAY = date(2026, 3, 10)


def run(per_family: int) -> dict[str, object]:
    """Evaluate the corpus; the figures as a dict (see the module docstring)."""
    from pypdf import PdfReader

    from leadeval.adapters.ai.offline import OfflineVisionModel
    from leadeval.jobs.records import PriorSubmission
    from leadeval.models import DocumentResult, Lead, Verdict
    from leadeval.screening.documents import prepare_document
    from leadeval.screening.forensics import page_signals
    from leadeval.screening.forensics.content import read_pages
    from leadeval.screening.fraud import name_hash, pdf_signals, with_reuse
    from leadeval.screening.scoring import assess
    from leadeval_tools.tamper import FAMILIES, corpus

    samples = corpus(per_family=per_family)
    model = OfflineVisionModel()
    per_page: list[float] = []
    prepare_ms: list[float] = []
    outcomes: dict[str, list[bool]] = defaultdict(list)
    clean_edited: list[str] = []
    clean_medium: list[str] = []
    clean_medium_codes: Counter[str] = Counter()
    for sample in samples:
        start = time.perf_counter()
        reader = PdfReader(io.BytesIO(sample.data))
        pdf_signals("t", sample.data, reader)
        page_signals("t", reader, read_pages(sample.data))
        per_page.append((time.perf_counter() - start) * 1000 / sample.pages)

        start = time.perf_counter()
        prepared = prepare_document(sample.name, sample.data)
        prepare_ms.append((time.perf_counter() - start) * 1000)
        extraction = model.extract(prepared)
        result = DocumentResult(document_id=sample.name, file_name=f"{sample.name}.pdf", detected_type="pdf",
                                sha256=prepared.sha256,
                                kind=extraction.facts.document_kind if extraction.facts else None,
                                verdict=Verdict.CLEAN if extraction.facts else Verdict.UNDETERMINED,
                                reason="facts extracted" if extraction.facts else (extraction.note or "no facts"),
                                facts=extraction.facts, signals=list(prepared.signals), evidence=extraction.evidence)
        index = ([PriorSubmission(prepared.sha256, name_hash(*sample.prior_owner))] if sample.prior_owner else [])
        [result] = with_reuse([result], sample.first_name, sample.last_name,
                              lambda hashes, index=index: [p for p in index if p.file_sha256 in hashes])
        lead = Lead(id="lead", site_id="site", first_name=sample.first_name, last_name=sample.last_name,
                    monthly_rent=1500)
        final = assess(lead, [result], today=TODAY).documents[0]
        serious = [s for s in final.signals if s.severity in ("medium", "high")]
        if sample.family == "clean":
            if final.verdict == Verdict.EDITED:
                clean_edited.append(sample.name)
            if serious:
                clean_medium.append(sample.name)
                clean_medium_codes.update(s.code for s in serious)
            continue
        has_code = any(s.code == sample.expected_code for s in final.signals)
        flagged = final.risk_status in ("MEDIUM", "HIGH") or final.verdict != Verdict.CLEAN
        outcomes[sample.family].append(has_code and flagged)
    clean = sum(1 for s in samples if s.family == "clean")
    tampered = len(samples) - clean
    detected = sum(sum(v) for v in outcomes.values())
    return {
        "clean": clean, "tampered": tampered, "detected": detected,
        "families": {f: (sum(outcomes[f]), len(outcomes[f]), FAMILIES[f][0], FAMILIES[f][1]) for f in FAMILIES},
        "clean_edited": clean_edited, "clean_medium": clean_medium, "clean_medium_codes": dict(clean_medium_codes),
        "page_ms_median": statistics.median(per_page),
        "page_ms_p95": statistics.quantiles(per_page, n=20)[-1],
        "prepare_ms_median": statistics.median(prepare_ms),
    }


def markdown(figures: dict[str, object], command: str) -> str:
    """The docs/benchmarks.md section."""
    families: dict[str, tuple[int, int, str, str]] = figures["families"]  # type: ignore[assignment]
    clean = int(figures["clean"])  # type: ignore[call-overload]
    tampered = int(figures["tampered"])  # type: ignore[call-overload]
    detected = int(figures["detected"])  # type: ignore[call-overload]
    edited: list[str] = figures["clean_edited"]  # type: ignore[assignment]
    medium: list[str] = figures["clean_medium"]  # type: ignore[assignment]
    lines = [
        START,
        "## Tamper benchmark (forensics)",
        "",
        f"Produced by `{command}` on {platform.machine()}, Python {platform.python_version()} "
        f"({date.today().isoformat()}). Documents from `leadeval_tools.tamper.corpus` (seed 13): {clean} clean "
        f"(pay stubs in 3 layouts, some with pre-tax deductions and round amounts; bank statements with rows, a "
        f"third on two pages with per-page font subsets; W-2s; ID-like pages; stubs re-saved with new metadata "
        f"only) and {tampered} tampered, each through `prepare_document`, the offline reader, the reuse lookup "
        "and `assess`. *Detected* = the family's signal is on the document and it is MEDIUM/HIGH risk or not "
        "clean.",
        "",
        "| family | what was done | signal | detected |",
        "| --- | --- | --- | --- |",
    ]
    for family, (hit, total, code, what) in families.items():
        lines.append(f"| {family} | {what} | `{code}` | {hit}/{total} ({100 * hit / max(1, total):.0f} %) |")
    lines += [
        "",
        f"- tampered documents detected: **{detected}/{tampered} ({100 * detected / max(1, tampered):.1f} %)** "
        "(goal ≥ 95 %)",
        f"- clean documents `edited`: **{len(edited)}/{clean}** (goal 0)"
        + (f": {', '.join(edited)}" if edited else ""),
        f"- clean documents with a MEDIUM+ signal: **{len(medium)}/{clean} "
        f"({100 * len(medium) / max(1, clean):.1f} %)** (goal ≤ 2 %)"
        + (f": {figures['clean_medium_codes']}" if medium else ""),
        "- forensic time per page (`pdf_signals` + page forensics, PDFium's page load included): "
        f"median {figures['page_ms_median']:.1f} ms, p95 {figures['page_ms_p95']:.1f} ms; "
        "whole `prepare_document` (text layer and page 1 render included): "
        f"median {figures['prepare_ms_median']:.0f} ms per document",
        END,
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_no_write(parser)
    parser.add_argument("--per-family", type=int, default=7)
    args = parser.parse_args()
    figures = run(args.per_family)
    command = "python scripts/bench_forensics.py" + (f" --per-family {args.per_family}" if args.per_family != 7 else "")
    section = markdown(figures, command)
    print(section)
    if not args.no_write:
        write_section(section, "forensics")
    tampered = int(figures["tampered"])  # type: ignore[call-overload]
    ok = (int(figures["detected"]) >= 0.95 * tampered and not figures["clean_edited"]  # type: ignore[call-overload]
          and len(figures["clean_medium"]) <= 0.02 * int(figures["clean"]))  # type: ignore[arg-type,call-overload]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
