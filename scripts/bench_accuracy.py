"""Extraction accuracy of the offline reader (text layer by position, OCR for scans and photos).

Usage::

    make bench-accuracy                                   # corpus + samples, writes docs/benchmarks.md
    .venv/bin/python scripts/bench_accuracy.py --no-write # print only

Documents: every file of the sample corpus (``LEADEVAL_CORPUS_DIR``) with labelled facts in
``scripts/accuracy_truth.json`` (transcribed from its SOURCES.md), the project's generated samples
(:func:`leadeval_tools.samples.build_sample_set`, their own ``truth``), and two of those samples "scanned"
(their rendered page image, read by OCR). Each is prepared (:func:`prepare_document`) and read by
:class:`~leadeval.adapters.ai.offline.OfflineVisionModel` with rapidocr.

Scores, per field and per document kind: *recall* (labelled values read exactly / labelled values),
*precision* (exact values / values emitted for labelled fields; a wrong value counts against it, a missing
one does not), and *list completeness* for multi-row fields (``deposits``, ``names_shown``: share of the
labelled rows found). Names compare case-insensitively. *Wrong verified income*: an income figure emitted
wrong on a document the reader did not mark undetermined (the goal is 0). CPU-seconds per page are the
process CPU time of preparation + reading divided by the document's pages read; peak RSS is the process's
(``ru_maxrss``) after all documents.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from benchlib import REPO, add_no_write, markers, use_code_root, write_section

use_code_root(REPO)

from leadeval.adapters.ai.offline import INCOME_FIELDS, OfflineVisionModel  # noqa: E402
from leadeval.adapters.ocr.rapid import RapidOcrReader, ocr_available  # noqa: E402
from leadeval.screening.documents import prepare_document  # noqa: E402

TRUTH = REPO / "scripts" / "accuracy_truth.json"
START, END = markers("accuracy")
LISTS = ("deposits", "names_shown")
SAMPLE_DAY = date(2026, 1, 10)


@dataclass
class Tally:
    """Counts for one field (or one kind): labelled, emitted, exact; list rows labelled and found."""

    labelled: int = 0
    emitted: int = 0
    exact: int = 0
    rows: int = 0
    rows_found: int = 0

    def add(self, other: Tally) -> None:
        self.labelled += other.labelled
        self.emitted += other.emitted
        self.exact += other.exact
        self.rows += other.rows
        self.rows_found += other.rows_found


@dataclass
class Row:
    """One document's outcome."""

    name: str
    source: str
    kind: str
    read_kind: str
    how: str
    pages: int
    cpu: float
    fields: dict[str, Tally] = field(default_factory=dict)
    wrong: list[str] = field(default_factory=list)
    wrong_verified_income: list[str] = field(default_factory=list)
    undetermined: bool = False


def _norm(value: Any) -> Any:
    return value.casefold().strip() if isinstance(value, str) else value


def score(truth: dict[str, Any], facts: dict[str, Any]) -> tuple[dict[str, Tally], list[str]]:
    """Per-field tallies of ``facts`` (ExtractedFacts JSON) against ``truth``, and the fields read wrong."""
    tallies: dict[str, Tally] = {}
    wrong: list[str] = []
    for key, expected in truth.items():
        got = facts.get(key)
        tally = Tally(labelled=1)
        if key in LISTS:
            wanted = [_norm(v) for v in expected]
            have = {_norm(v) for v in (got or [])}
            tally.rows, tally.rows_found = len(wanted), sum(v in have for v in wanted)
            tally.emitted = 1 if got else 0
            tally.exact = 1 if got and tally.rows_found == tally.rows else 0
            if got and tally.rows_found == 0:
                wrong.append(key)
        else:
            tally.emitted = 0 if got in (None, "") else 1
            tally.exact = 1 if tally.emitted and _norm(got) == _norm(expected) else 0
            if tally.emitted and not tally.exact:
                wrong.append(key)
        tallies[key] = tally
    return tallies, wrong


def _documents(corpus: Path | None, scans: int) -> list[tuple[str, str, bytes, dict[str, Any]]]:
    """(name, source, bytes, truth) of every document benchmarked."""
    from leadeval_tools.samples import build_sample_set

    out: list[tuple[str, str, bytes, dict[str, Any]]] = []
    if corpus is not None and corpus.is_dir():
        truth = {k: v for k, v in json.loads(TRUTH.read_text()).items() if not k.startswith("_")}
        for name, facts in truth.items():
            path = corpus / name
            if path.is_file():
                out.append((name, "corpus", path.read_bytes(), facts))
    sample = build_sample_set(today=SAMPLE_DAY)
    seen: set[str] = set()
    scanned = 0
    for doc in sample.documents:
        if not doc.truth or doc.storage_key in seen:
            continue
        seen.add(doc.storage_key)
        data = sample.files[doc.storage_key]
        out.append((doc.file_name, "sample", data, doc.truth))
        if scanned < scans and doc.file_name.endswith(".pdf") and doc.document_type in ("pay_stub",
                                                                                        "bank_statement"):
            page = prepare_document("scan", data).page_images[0]
            out.append((f"{doc.file_name} (scanned)", "sample scan", page, doc.truth))
            scanned += 1
    return out


def run(corpus: Path | None, scans: int) -> tuple[list[Row], int]:
    """Read every document; the rows and the peak RSS (KiB)."""
    model = OfflineVisionModel(RapidOcrReader() if ocr_available() else None, ocr_pages_per_document=3,
                               ocr_pages_per_job=10_000)
    rows: list[Row] = []
    for name, source, data, truth in _documents(corpus, scans):
        started = time.process_time()
        prepared = prepare_document(name, data)
        extraction = model.extract(prepared)
        cpu = time.process_time() - started
        facts = extraction.facts.model_dump(mode="json", exclude_defaults=True) if extraction.facts else {}
        how = "ocr" if any(e.how == "ocr" for e in extraction.evidence.values()) or (
            prepared.text is None and extraction.facts is not None) else "text layer"
        pages = min(len(prepared.page_images), 3) if how == "ocr" else max(1, prepared.page_count)
        tallies, wrong = score(truth, facts)
        verified_wrong = [k for k in wrong if k in INCOME_FIELDS and not extraction.undetermined]
        rows.append(Row(name, source, truth.get("document_kind", "other"), facts.get("document_kind", "-"), how,
                        pages, cpu, tallies, wrong, verified_wrong, extraction.undetermined))
        print(f"{name}: {how}, {cpu:.1f} CPU-s, wrong {wrong}, undetermined {extraction.undetermined}",
              file=sys.stderr)
    return rows, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f} % ({part}/{whole})" if whole else "–"


def render(rows: list[Row], peak_kib: int, command: str) -> str:
    """The markdown section for docs/benchmarks.md."""
    lines = [START, "## Extraction accuracy (offline reader: text layer by position, rapidocr for images)", "",
             f"Command: `{command}` (rapidocr, ONNX Runtime on the CPUs available; measured "
             f"{date.today().isoformat()}). Truth: `scripts/accuracy_truth.json` (the corpus's SOURCES.md) and the "
             "generated samples' own truth; two samples also read as scans (their rendered page image, OCR).", ""]
    for source in ("corpus", "sample", "sample scan"):
        chosen = [r for r in rows if r.source == source]
        if not chosen:
            continue
        total = Tally()
        for r in chosen:
            for t in r.fields.values():
                total.add(t)
        lines.append(f"**{source}**: recall {_pct(total.exact, total.labelled)}, precision "
                     f"{_pct(total.exact, total.emitted)}, wrong verified income "
                     f"{sum(len(r.wrong_verified_income) for r in chosen)}.")
    lines += ["", "Per document kind (all sources):", "",
              "| kind | documents | recall | precision | list rows found |", "|---|---|---|---|---|"]
    kinds: dict[str, Tally] = defaultdict(Tally)
    counts: dict[str, int] = defaultdict(int)
    for r in rows:
        counts[r.kind] += 1
        for t in r.fields.values():
            kinds[r.kind].add(t)
    for kind in sorted(kinds):
        t = kinds[kind]
        lines.append(f"| {kind} | {counts[kind]} | {_pct(t.exact, t.labelled)} | {_pct(t.exact, t.emitted)} | "
                     f"{_pct(t.rows_found, t.rows)} |")
    lines += ["", "Per field (all sources):", "", "| field | labelled | recall | precision |", "|---|---|---|---|"]
    per_field: dict[str, Tally] = defaultdict(Tally)
    for r in rows:
        for key, t in r.fields.items():
            per_field[key].add(t)
    for key in sorted(per_field):
        t = per_field[key]
        lines.append(f"| {key} | {t.labelled} | {_pct(t.exact, t.labelled)} | {_pct(t.exact, t.emitted)} |")
    lines += ["", "Per document:", "", "| document | read as | via | pages | CPU-s | CPU-s/page | missed or wrong |",
              "|---|---|---|---|---|---|---|"]
    for r in rows:
        missed = [k for k, t in r.fields.items() if not t.exact]
        flag = " (undetermined)" if r.undetermined else ""
        lines.append(f"| {r.name} | {r.read_kind}{flag} | {r.how} | {r.pages} | {r.cpu:.1f} | "
                     f"{r.cpu / max(1, r.pages):.1f} | {', '.join(missed) or '–'}"
                     f"{'; wrong: ' + ', '.join(r.wrong) if r.wrong else ''} |")
    ocr_rows = [r for r in rows if r.how == "ocr"]
    if ocr_rows:
        pages = sum(r.pages for r in ocr_rows)
        lines += ["", f"OCR: {pages} page(s), {sum(r.cpu for r in ocr_rows) / pages:.1f} CPU-s per page on average "
                  "(preparation included, first page includes building the engine)."]
    lines += [f"Peak RSS of the whole benchmark process: {peak_kib / 1024:.0f} MB.", "", END]
    return "\n".join(lines)


def main() -> int:
    """Run, print, and write docs/benchmarks.md unless ``--no-write``. Exit 1 when a wrong income figure was
    counted as verified."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    add_no_write(parser)
    parser.add_argument("--scans", type=int, default=2, help="samples also read as scans (OCR)")
    args = parser.parse_args()
    corpus = os.environ.get("LEADEVAL_CORPUS_DIR")
    rows, peak = run(Path(corpus) if corpus else None, args.scans)
    section = render(rows, peak, "make bench-accuracy")
    print(section)
    if not args.no_write:
        write_section(section, "accuracy")
    return 1 if any(r.wrong_verified_income for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
