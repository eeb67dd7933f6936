"""Cost per evaluation: tokens, pages and worker milliseconds stored with each evaluation; `leadeval usage`."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadeval.handlers import handle_worker
from leadeval_tools.cli import app
from leadeval_tools.console import estimated_neurons, site_usage
from leadeval_tools.fakes.memory import MemoryDocumentStore, MemoryQueue, ScriptedVisionModel
from leadeval_tools.local import FakeLambdaContext
from tests.helpers import load_event, make_services, paystub_facts, seed_job, text_pdf

PDF = text_pdf(["ACME LOGISTICS - EARNINGS STATEMENT", "Employee: Dana Whitfield", "Gross pay 5,000.00"])


def test_workers_ai_neurons_are_estimated_at_the_published_rate() -> None:
    # Cloudflare's example: 3,000 input + 500 output tokens ~ 13 + 31 = 44 neurons
    neurons = estimated_neurons("workers-ai:@cf/meta/llama-3.2-11b-vision-instruct", 3000, 500)
    assert neurons == pytest.approx(3000 * 4410 / 1e6 + 500 * 61493 / 1e6) and round(neurons) == 44
    assert estimated_neurons("offline", 3000, 500) is None
    assert estimated_neurons("openai+http://x/v1?model=llava", 10, 10) is None


def test_an_evaluation_stores_its_cost_and_usage_sums_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    services = make_services(tmp_path, documents=MemoryDocumentStore(), queue=MemoryQueue(),
                             model=ScriptedVisionModel(default=paystub_facts()))
    try:
        seed_job(services, documents={"doc_1": PDF, "doc_2": PDF}, requested_at=services.now())
        assert handle_worker(load_event("worker_one_job.json"), FakeLambdaContext(), services) == {
            "batchItemFailures": []}
        evaluation = services.store.get_evaluation("job_demo_001")
        assert evaluation is not None
        # the scripted model reports 100 prompt and 50 completion tokens per document; each PDF has one page
        assert (evaluation.prompt_tokens, evaluation.completion_tokens, evaluation.pages) == (200, 100, 2)
        assert evaluation.worker_ms is not None and 0 <= evaluation.worker_ms < 60_000
        month = evaluation.created_at.strftime("%Y-%m")
        rows, application = site_usage(services.store, "site_sunrise", month)
        [row] = rows
        assert (row.model, row.evaluations, row.prompt_tokens, row.completion_tokens, row.pages, row.unmeasured) == (
            "scripted", 1, 200, 100, 2, 0)
        assert row.worker_ms == evaluation.worker_ms and row.neurons is None
        assert application == {"evaluation_count": 10, "quota_limit": 100}
        assert site_usage(services.store, "site_sunrise", "2000-01") == ([], None)
    finally:
        services.close()
    monkeypatch.setenv("LEADEVAL_DATABASE_URL", f"sqlite:///{tmp_path}/jobs.db")
    shown = CliRunner().invoke(app, ["usage", "--site", "site_sunrise", "--month", month])
    assert shown.exit_code == 0, shown.output
    line = next(line for line in shown.output.splitlines() if "scripted" in line)
    assert [cell.strip() for cell in line.split("│")[1:7]] == ["scripted", "1", "200", "100", "—", "2"]
    assert "10 of 100 evaluations (1 saved by leadeval this month)" in shown.output
    assert CliRunner().invoke(app, ["usage", "--site", "site_typo", "--month", month]).exit_code == 1
    assert CliRunner().invoke(app, ["usage", "--site", "site_sunrise", "--month", "2026-13"]).exit_code == 2
