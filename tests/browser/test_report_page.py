"""The property manager's report as a person sees it: each sample job's page loaded in headless Chromium.

What is asserted is what shows on the screen: the recommendation and each document's verdict (read back from the
rendered DOM and compared with the evaluation saved in the database), the findings drawn as boxes at their place on
a tampered page, no horizontal scrolling at 1280 and 390 CSS pixels, no request leaving the page, and no serious or
critical accessibility violation found by axe-core.
"""

from __future__ import annotations

import io
import re
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from leadeval.models import FieldEvidence
from leadeval.ports import OperatorStore
from leadeval_tools.report import build_report, write_html
from leadeval_tools.report.build import RECOMMENDATION_WORDS, VERDICT_WORDS
from tests.browser.conftest import DemoRun

pytestmark = pytest.mark.slow

SAMPLE_JOBS = ("job_sunrise_strong", "job_sunrise_moderate", "job_sunrise_id_only", "job_maple_low",
               "job_maple_voucher", "job_maple_tampered", "job_maple_corrupt", "job_harbor_quota",
               "job_demo_001", "job_sunrise_cross_site", "job_sunrise_missing_lead")

_SEEN = """(() => {
  const rec = document.querySelector('[data-recommendation]');
  const docs = [...document.querySelectorAll('article.document')].map(a => {
    const badge = a.querySelector('[data-role=verdict]'); const r = badge.getBoundingClientRect();
    return {id: a.dataset.documentId, verdict: a.dataset.verdict, badge: badge.innerText.trim(),
            name: a.querySelector('.file-name').innerText.trim(), visible: r.width > 0 && r.height > 0,
            images: [...a.querySelectorAll('img')].filter(i => i.complete && i.naturalWidth > 0).length};
  });
  const shown = role => { const e = document.querySelector(`[data-role=${role}] strong`); return e && e.innerText; };
  return {recommendation: rec.dataset.recommendation, words: rec.innerText.trim(), docs,
          score: shown('score'), label: shown('label'),
          text: document.body.innerText};
})()"""

_OVERFLOW = """(() => ({page: document.documentElement.scrollWidth, window: window.innerWidth,
  wide: [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
    .map(e => e.tagName + '.' + e.className).slice(0, 5)}))()"""


#: The decision card's left edge colour by recommendation (report.css.j2), as RGB.
_EDGE = {"approve": (27, 94, 32), "review": (176, 120, 0), "decline": (160, 20, 26), "none": (61, 71, 82)}


def _open(chromium: Any, path: Path, width: int = 1280) -> None:
    chromium.viewport(width)
    chromium.open(path)


def test_demo_writes_one_report_per_job_and_says_where(demo_run: DemoRun) -> None:
    assert f"{len(SAMPLE_JOBS)} reports (one page per job, open in a browser) in {demo_run.reports}/" in demo_run.output
    for job_id in SAMPLE_JOBS:
        page = demo_run.reports / f"{job_id}.html"
        assert page.is_file() and str(page) in demo_run.output


@pytest.mark.parametrize("job_id", SAMPLE_JOBS)
def test_each_sample_report_shows_the_decision_and_every_documents_verdict(
        job_id: str, demo_run: DemoRun, chromium: Any) -> None:
    store = demo_run.store()
    evaluation, job = store.get_evaluation(job_id), store.get_job(job_id)
    store.close()
    assert job is not None
    _open(chromium, demo_run.reports / f"{job_id}.html")
    seen = chromium.evaluate(_SEEN)
    # the screenshot: the decision card's edge is drawn in the recommendation's colour
    shot = Image.open(io.BytesIO(chromium.screenshot())).convert("RGB")
    edge = chromium.evaluate("(() => { const r = document.querySelector('#decision').getBoundingClientRect();"
                             " return [r.left + 4, r.top + window.scrollY + r.height / 2]; })()")
    assert shot.width == 1280 and shot.height > 900
    assert shot.getpixel((int(edge[0]), int(edge[1]))) == pytest.approx(
        _EDGE[evaluation.recommendation if evaluation else "none"], abs=3)

    if evaluation is None:  # failed jobs: the page says so, with the error code
        assert seen["recommendation"] == "none" and seen["words"] == "No evaluation"
        assert job.error_code and job.error_code in seen["text"]
        assert "Information for the applicant" in seen["text"] and seen["docs"] == []
        return
    assert seen["recommendation"] == evaluation.recommendation
    assert RECOMMENDATION_WORDS[evaluation.recommendation] in seen["words"]
    assert (seen["score"], seen["label"]) == (str(evaluation.score), evaluation.label)
    assert [(d["id"], d["verdict"], d["badge"], d["name"]) for d in seen["docs"]] == [
        (d.document_id, d.verdict.value, VERDICT_WORDS[d.verdict.value], d.file_name) for d in evaluation.documents]
    assert all(d["visible"] for d in seen["docs"])
    # every readable document shows its page(s); the sample's documents are all one page
    for shown, saved in zip(seen["docs"], evaluation.documents, strict=True):
        assert shown["images"] == (0 if saved.verdict.value == "unreadable" else 1), shown
    assert evaluation.policy_version in seen["text"] and evaluation.model in seen["text"]
    assert chromium.requests and all(u.startswith(("file:", "data:")) for u in chromium.requests)


def test_the_tampered_stub_is_edited_with_its_finding_and_goes_to_review(demo_run: DemoRun, chromium: Any) -> None:
    """Issue 13: its only finding is arithmetic (net ≠ gross − deductions, read with certainty): edited, and the
    default policy sends arithmetic-only findings to a person rather than declining."""
    _open(chromium, demo_run.reports / "job_maple_tampered.html")
    seen = chromium.evaluate(_SEEN)
    assert seen["recommendation"] == "review" and seen["words"].endswith("Review by a person")
    assert [d["badge"] for d in seen["docs"]] == ["Treated as edited"]
    assert "Net pay does not equal gross pay minus deductions" in seen["text"]
    assert "doc_tampered_stub" not in seen["text"].split("History")[0]  # named by its file name, not its id


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("job_id", SAMPLE_JOBS)
def test_no_horizontal_overflow(job_id: str, width: int, demo_run: DemoRun, chromium: Any) -> None:
    _open(chromium, demo_run.reports / f"{job_id}.html", width)
    measured = chromium.evaluate(_OVERFLOW)
    assert measured["window"] == width
    assert measured["page"] <= width and measured["wide"] == [], measured


def _serious_violations(chromium: Any, axe_source: str) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the open page (all rules axe runs by default: WCAG 2.x A/AA
    and best practices)."""
    chromium.evaluate(axe_source)
    assert chromium.evaluate("typeof axe.run") == "function"
    violations = chromium.evaluate(
        "axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map(v => "
        "({id: v.id, impact: v.impact, nodes: v.nodes.length})))")
    return [v for v in violations if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("job_id", SAMPLE_JOBS)
def test_no_serious_accessibility_violation(job_id: str, demo_run: DemoRun, chromium: Any, axe_source: str) -> None:
    for width in (1280, 390):
        _open(chromium, demo_run.reports / f"{job_id}.html", width)
        assert _serious_violations(chromium, axe_source) == []


class _WithPositions:
    """The demo's store, except that the tampered stub's evaluation carries positions, as the forensic reader
    records them: the finding's box on page 1, where gross pay and the employer were read."""

    SIGNAL_BOX = (0.10, 0.55, 0.90, 0.60)
    GROSS_BOX = (0.55, 0.40, 0.70, 0.43)

    def __init__(self, store: OperatorStore) -> None:
        self.store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def get_evaluation(self, job_id: str) -> Any:
        evaluation = self.store.get_evaluation(job_id)
        assert evaluation is not None
        doc = evaluation.documents[0]
        signals = [s.model_copy(update={"page": 1, "box": self.SIGNAL_BOX, "field": "net_pay", "expected": "1920.00",
                                        "actual": "2920.00"}) if s.code == "net_pay_mismatch" else s
                   for s in doc.signals]
        doc = doc.model_copy(update={
            "signals": signals, "risk_score": 88, "risk_status": "HIGH",
            "evidence": {"gross_pay": FieldEvidence(how="text_layer", certain=True, page=1, box=self.GROSS_BOX),
                         # not an income figure nor named by a finding: not boxed
                         "employer": FieldEvidence(how="text_layer", certain=True, page=1, box=(0.1, 0.1, 0.5, 0.12))}})
        return evaluation.model_copy(update={"documents": [doc]})


@pytest.fixture(name="positioned_page")
def _positioned_page(demo_run: DemoRun, tmp_path: Path) -> Path:
    """The tampered stub's report with positions recorded for its finding and its figures."""
    store = demo_run.store()
    try:
        report = build_report(_WithPositions(store), demo_run.document_store(), "job_maple_tampered",  # type: ignore[arg-type]
                              now=datetime.now(UTC))
    finally:
        store.close()
    return write_html(report, tmp_path / "tampered.html")


def test_the_boxes_page_has_no_serious_accessibility_violation(positioned_page: Path, chromium: Any,
                                                               axe_source: str) -> None:
    for width in (1280, 390):
        _open(chromium, positioned_page, width)
        assert _serious_violations(chromium, axe_source) == []


def test_findings_with_a_position_are_drawn_as_boxes_at_their_place(positioned_page: Path, chromium: Any) -> None:
    page = positioned_page
    for width in (1280, 390):
        _open(chromium, page, width)
        boxes = chromium.evaluate("""(() => {
          const fig = document.querySelector('article[data-verdict=edited] figure[data-page="1"]');
          const img = fig.querySelector('img').getBoundingClientRect();
          return [...fig.querySelectorAll('.mark')].map(m => { const r = m.getBoundingClientRect();
            return {kind: m.dataset.kind, code: m.dataset.code || null, x0: (r.left - img.left) / img.width,
                    y0: (r.top - img.top) / img.height, x1: (r.right - img.left) / img.width,
                    y1: (r.bottom - img.top) / img.height, color: getComputedStyle(m).borderTopColor}; });
        })()""")
        assert [(b["kind"], b["code"]) for b in boxes] == [("evidence", None), ("signal", "net_pay_mismatch")]
        for box, expected in zip(boxes, (_WithPositions.GROSS_BOX, _WithPositions.SIGNAL_BOX), strict=True):
            assert [round(box[k], 2) for k in ("x0", "y0", "x1", "y1")] == pytest.approx(list(expected), abs=0.01)
        assert boxes[1]["color"] == "rgb(160, 20, 26)"  # a serious finding is drawn in the page's red
        text = chromium.evaluate("document.body.innerText")
        assert "Risk high (88/100)" in text and "Expected: 1920.00" in text and "Printed: 2920.00" in text
        assert "Page 1: gross pay read here; Net pay does not equal gross pay minus deductions" in text


def test_report_command_writes_html_and_a_pdf(demo_run: DemoRun, tmp_path: Path, chromium: Any,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from pypdf import PdfReader

    from leadeval_tools.cli import app

    monkeypatch.setenv("LEADEVAL_DATABASE_URL", f"sqlite:///{demo_run.db}")
    monkeypatch.delenv("LEADEVAL_DOCUMENTS_URL", raising=False)
    html, pdf = tmp_path / "r.html", tmp_path / "r.pdf"
    result = CliRunner().invoke(app, ["report", "job_maple_voucher", "--html", str(html), "--pdf", str(pdf)])
    assert result.exit_code == 0, result.output
    assert f"wrote {html}" in result.output and f"wrote {pdf}" in result.output
    assert pdf.read_bytes().startswith(b"%PDF")
    # NFKC: the PDF's text keeps the font's ligatures ("ﬁ")
    text = unicodedata.normalize("NFKC", " ".join(page.extract_text() for page in PdfReader(pdf).pages))
    assert "Information for the applicant" in text and "hcv_benefit_letter.pdf" in text
    missing = CliRunner().invoke(app, ["report", "job_nope", "--html", str(html)])
    assert missing.exit_code == 1 and "no job job_nope" in missing.output


def test_an_override_and_a_re_evaluation_show_in_the_decision_the_history_and_the_applicants_section(
        demo_run: DemoRun, tmp_path: Path) -> None:
    import sqlite3

    from leadeval.adapters.jobstore.sqlite import SqliteJobStore
    from leadeval_tools.report import render_html

    db = tmp_path / "copy.db"
    with sqlite3.connect(demo_run.db) as source, sqlite3.connect(db) as target:
        source.backup(target)  # the demo's database is in WAL mode: a file copy could miss pages
    store = SqliteJobStore(db)
    try:
        store.add_override("job_maple_tampered", recommendation="review", now=datetime(2030, 1, 2, 3, 4, tzinfo=UTC),
                           reason="Applicant brought the original stub; SSN 123-45-6789 checked")
        again = store.reevaluate("lead_maple_tampered", now=datetime(2030, 1, 3, tzinfo=UTC), job_id="job_again")
        assert again.status == "created"
        html = render_html(build_report(store, None, "job_maple_tampered", now=datetime(2030, 1, 4, tzinfo=UTC)))
        newer = render_html(build_report(store, None, "job_again", now=datetime(2030, 1, 4, tzinfo=UTC)))
    finally:
        store.close()
    assert "A person reviewed this evaluation and decided: Review" in html and 'data-override="review"' in html
    assert "123-45-6789" not in html and "SSN •••-••-6789 checked" in html
    assert "A person reviewed this evaluation on 2030-01-02 03:04 UTC and recorded a decision" in html
    events = re.findall(r'<li(?: class="current")? data-event="([^"]+)"', html)
    assert events == ["requested", "evaluated", "override", "re-evaluation requested"]
    assert 'data-recommendation="none"' in newer and "pending" in newer  # the new request: nothing decided yet


class _Replaced:
    """A document store whose files were all replaced since the evaluation."""

    def get(self, key: str, *, max_bytes: int) -> bytes:
        from tests.helpers import text_pdf

        return text_pdf(["Another pay stub uploaded under the same key"])

    def put(self, key: str, data: bytes, *, content_type: str | None = None) -> None:
        raise AssertionError("the report never writes")


def test_a_file_replaced_since_the_evaluation_is_not_pictured(demo_run: DemoRun) -> None:
    from leadeval_tools.report import render_html

    store = demo_run.store()
    try:
        stored = build_report(store, demo_run.document_store(), "job_maple_tampered", now=datetime.now(UTC))
        replaced = build_report(store, _Replaced(), "job_maple_tampered", now=datetime.now(UTC))
    finally:
        store.close()
    assert [len(d.pages) for d in stored.documents] == [1] and stored.documents[0].pages_note is None
    assert [len(d.pages) for d in replaced.documents] == [0]
    assert replaced.documents[0].pages_note == ("no picture: the stored file is no longer the one evaluated "
                                                "(its SHA-256 differs)")
    assert "<img" not in render_html(replaced) and "its SHA-256 differs" in render_html(replaced)
