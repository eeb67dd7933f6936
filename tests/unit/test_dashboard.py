"""The CloudWatch dashboard (template.yaml OperationsDashboard) shows every metric the code emits, beside the
queue's age of oldest message, the DLQ depth and every alarm; SAM still translates the template (cfn-lint runs
on it in test_template.py)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

from leadeval import observability
from leadeval.handlers import handle_sweep, handle_worker
from leadeval.jobs.process import Outcome
from leadeval.observability import metrics
from leadeval_tools.fakes.memory import MemoryDocumentStore, MemoryQueue, ScriptedVisionModel
from leadeval_tools.local import FakeLambdaContext
from tests.helpers import load_event, make_services, paystub_facts, seed_job, text_pdf

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return cfn_yaml.load(str(TEMPLATE))


def _body(template: dict[str, Any]) -> dict[str, Any]:
    sub = template["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    return json.loads(re.sub(r"\$\{[^}]+\}", "SUBSTITUTED", sub))


def _dashboard_metrics(template: dict[str, Any]) -> set[tuple[str, str]]:
    """(namespace, metric name) of every metric line and SEARCH expression."""
    found: set[tuple[str, str]] = set()
    for widget in _body(template)["widgets"]:
        for line in widget["properties"].get("metrics", []):
            if isinstance(line[0], dict):
                expression = line[0]["expression"]
                namespace = re.search(r"\{(\w+),", expression).group(1)
                found |= {(namespace, name) for name in re.findall(r'MetricName="(\w+)"', expression)}
            else:
                found.add((line[0], line[1]))
    return found


def _emitted_in_code() -> set[str]:
    """Metric names the layer's code passes to ``add_metric``/``single_metric`` as literals or constants."""
    names: set[str] = set()
    for path in (ROOT / "layers" / "leadeval" / "leadeval").rglob("*.py"):
        text = path.read_text()
        names |= set(re.findall(r'(?:add_metric|single_metric)\(\s*name="(\w+)"', text))
    return names


def test_every_declared_metric_is_on_the_dashboard(template: dict[str, Any]) -> None:
    shown = {name for namespace, name in _dashboard_metrics(template) if namespace == "Leadeval"}
    assert set(observability.ALL_METRICS) - shown == set()


def test_the_code_emits_only_declared_metrics() -> None:
    declared = set(observability.ALL_METRICS)
    assert _emitted_in_code() - declared == set()
    # the outcome metrics are built from the Outcome names (handlers._settle); a deferred outcome is settled as
    # the outcome its grouped write gives, never as itself
    settled = {o for o in Outcome if o != Outcome.DEFERRED}
    assert {f"Jobs{o.value.title().replace('_', '')}" for o in settled} == set(observability.OUTCOME_METRICS)


def test_queue_age_dlq_depth_and_every_alarm_are_on_the_dashboard(template: dict[str, Any]) -> None:
    shown = _dashboard_metrics(template)
    assert ("AWS/SQS", "ApproximateAgeOfOldestMessage") in shown
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible") in shown
    sub = template["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    alarms = {name for name, r in template["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert alarms and {a for a in alarms if f"${{{a}.Arn}}" in sub} == alarms


def _emf_names(output: str) -> set[str]:
    names: set[str] = set()
    for line in output.splitlines():
        if line.startswith('{"_aws"'):
            blob = json.loads(line)
            for directive in blob["_aws"]["CloudWatchMetrics"]:
                names |= {m["Name"] for m in directive["Metrics"]}
    return names


def test_what_the_handlers_really_emit_is_on_the_dashboard(template: dict[str, Any], tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A sweep, a completed job and a failed one, with metrics on: every EMF name printed is on the dashboard,
    AI latency and tokens and documents by verdict included."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    services = make_services(tmp_path, documents=MemoryDocumentStore(), queue=MemoryQueue(),
                             model=ScriptedVisionModel(default=paystub_facts()))
    pdf = text_pdf(["ACME LOGISTICS - EARNINGS STATEMENT", "Employee: Dana Whitfield", "Gross pay 5,000.00"])
    seed_job(services, documents={"doc_1": pdf})
    seed_job(services, job_id="job_gone", lead_id="lead_missing", documents={})
    failed = load_event("worker_one_job.json")
    failed["Records"][0]["body"] = failed["Records"][0]["body"].replace("job_demo_001", "job_gone").replace(
        "lead_strong", "lead_missing")
    failed["Records"][0]["messageId"] = "m-gone"
    buffer = io.StringIO()
    try:
        with redirect_stdout(buffer):
            metrics.clear_metrics()
            handle_worker(load_event("worker_one_job.json"), FakeLambdaContext(), services)
            handle_worker(failed, FakeLambdaContext(), services)
            handle_sweep(load_event("sweep_scheduled.json"), FakeLambdaContext(), services)
            metrics.flush_metrics()
    finally:
        metrics.clear_metrics()
        services.close()
    emitted = _emf_names(buffer.getvalue())
    assert {"JobsCompleted", "JobsFailed", "JobsFailedByErrorCode", "AiLatency", "AiPromptTokens",
            "DocumentsClean", "JobsClaimed"} <= emitted, emitted
    shown = {name for namespace, name in _dashboard_metrics(template) if namespace == "Leadeval"}
    assert emitted - shown == set()
    assert '"ErrorCode":"ResourceNotFound"' in buffer.getvalue()


def test_sam_translation_keeps_the_dashboard(sam_translate: Callable[..., dict[str, Any]]) -> None:
    out = sam_translate()
    assert out["Resources"]["OperationsDashboard"]["Type"] == "AWS::CloudWatch::Dashboard"


def test_nothing_is_printed_while_metrics_are_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        observability.count_failure("ModelUnavailable")
    assert buffer.getvalue() == ""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    with redirect_stdout(buffer):
        observability.count_failure("ModelUnavailable")
    assert '"ErrorCode":"ModelUnavailable"' in buffer.getvalue()
