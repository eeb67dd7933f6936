"""Checks of ``template.yaml``, ``samconfig.toml`` and ``events/`` that cfn-lint cannot make.

cfn-lint (1.58, which validates SAM templates against SAM schemas without translating them) does not
look inside event properties or resolve ``Fn::FindInMap`` against parameter ``AllowedValues``, so the
rules that keep the queue and the worker consistent (docs/architecture.md; AWS Lambda docs on SQS event sources
§2.2/§6) are asserted here on the parsed template, with parameters at their defaults unless a test
says otherwise.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"
EVENTS = ROOT / "events"
SQS_EVENT_FILES = sorted(EVENTS.glob("worker_*.json"))

#: Settings every function must see (README "Configuration").
REQUIRED_ENV = [
    "LEADEVAL_DATABASE_URL", "LEADEVAL_DOCUMENTS_URL", "LEADEVAL_MODEL_URL", "LEADEVAL_QUEUE_URL",
    "LEADEVAL_DLQ_URL", "LEADEVAL_SWEEP_LIMIT", "LEADEVAL_SWEEP_BACKLOG_LIMIT", "LEADEVAL_MAX_ATTEMPTS",
    "LEADEVAL_LEASE_SECONDS", "LEADEVAL_RESCUE_AFTER_SECONDS", "LEADEVAL_JOB_BUDGET_SECONDS",
    "LEADEVAL_MAX_DOCUMENT_BYTES", "LEADEVAL_MAX_DOCUMENTS", "LEADEVAL_MAX_PDF_PAGES",
    "LEADEVAL_MAX_IMAGE_PIXELS", "LEADEVAL_IDEMPOTENCY_TABLE", "LEADEVAL_CLOUDFLARE_API_URL",
    "CLOUDFLARE_ACCOUNT_ID", "CLOUDFLARE_API_TOKEN_PARAMETER", "CLOUDFLARE_D1_API_TOKEN_PARAMETER",
    "CLOUDFLARE_AI_API_TOKEN_PARAMETER", "R2_ACCESS_KEY_ID_PARAMETER", "R2_SECRET_ACCESS_KEY_PARAMETER",
    "POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL",
]

#: Environment variable naming a secret -> (template parameter, condition "it is set").
SECRET_ENV = {
    "CLOUDFLARE_API_TOKEN_PARAMETER": ("CloudflareApiTokenParameter", "HasCloudflareApiToken"),
    "CLOUDFLARE_D1_API_TOKEN_PARAMETER": ("CloudflareD1ApiTokenParameter", "HasCloudflareD1ApiToken"),
    "CLOUDFLARE_AI_API_TOKEN_PARAMETER": ("CloudflareAiApiTokenParameter", "HasCloudflareAiApiToken"),
    "R2_ACCESS_KEY_ID_PARAMETER": ("R2AccessKeyIdParameter", "HasR2AccessKeyId"),
    "R2_SECRET_ACCESS_KEY_PARAMETER": ("R2SecretAccessKeyParameter", "HasR2SecretAccessKey"),
    "OPENAI_API_KEY_PARAMETER": ("OpenAiApiKeyParameter", "HasOpenAiApiKey"),
}

#: D1 budget (template comment on WorkerMaxConcurrency): 1,200 requests / 300 s per token, <= 3 requests
#: per job, ~6 s per job -> 0.5 requests/s per worker.
D1_REQUESTS_PER_SECOND = 1200 / 300
WORKER_D1_REQUESTS_PER_SECOND = 3 / 6


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    """The template as plain dicts; CloudFormation short tags become ``{"Ref": ...}`` etc."""
    return cfn_yaml.load(str(TEMPLATE_PATH))


def _resources(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template["Resources"].items() if res["Type"] == type_}


def _props(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return template["Resources"][logical_id]["Properties"]


def _env(template: dict[str, Any]) -> dict[str, Any]:
    return template["Globals"]["Function"]["Environment"]["Variables"]


def _default(template: dict[str, Any], name: str) -> Any:
    return template["Parameters"][name]["Default"]


def _resolve(template: dict[str, Any], value: Any, overrides: dict[str, Any] | None = None) -> Any:
    """Resolve ``Ref`` to a parameter (override, else default) and ``Fn::FindInMap``; literals pass."""
    overrides = overrides or {}
    if isinstance(value, dict) and set(value) == {"Ref"}:
        name = value["Ref"]
        assert name in template["Parameters"], f"Ref {name} is not a parameter"
        return overrides.get(name, _default(template, name))
    if isinstance(value, dict) and set(value) == {"Fn::FindInMap"}:
        mapping, top, second = (_resolve(template, part, overrides) for part in value["Fn::FindInMap"])
        return template["Mappings"][mapping][str(top)][second]
    return value


def _worker_sqs_event(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    events = _props(template, "WorkerFunction")["Events"]
    sqs = [(name, ev["Properties"]) for name, ev in events.items() if ev["Type"] == "SQS"]
    assert len(sqs) == 1, "the worker has exactly one SQS event source"
    return sqs[0]


def _sweep_schedule(template: dict[str, Any]) -> dict[str, Any]:
    events = _props(template, "SweepFunction")["Events"]
    schedules = [ev["Properties"] for ev in events.values() if ev["Type"] == "ScheduleV2"]
    assert len(schedules) == 1
    return schedules[0]


def _parameter_overrides(text: str) -> dict[str, str]:
    pairs = (item.split("=", 1) for item in shlex.split(text))
    return {key: value for key, value in pairs}


def _statements(document: Any) -> list[dict[str, Any]]:
    """Every policy statement in a policy document, looking through ``Fn::If`` branches."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict) and "Fn::If" in node:
            for branch in node["Fn::If"][1:]:
                walk(branch)
        elif isinstance(node, dict) and "Effect" in node:
            found.append(node)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(document["Statement"])
    return found


# --------------------------------------------------------------------------- lint + toolchain


@pytest.mark.slow
def test_cfn_lint_passes() -> None:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    command = str(cfn_lint) if cfn_lint.exists() else shutil.which("cfn-lint")
    if command is None:
        pytest.skip("cfn-lint is not installed")
    result = subprocess.run([command, str(TEMPLATE_PATH)], capture_output=True, text=True, cwd=ROOT,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_runtime_matches_python_version(template: dict[str, Any]) -> None:
    pinned = (ROOT / ".python-version").read_text().split()[0]
    major, minor = pinned.split(".")[:2]
    runtime = f"python{major}.{minor}"
    function_globals = template["Globals"]["Function"]
    # Runtime and Layers are per zip function (a container-image worker may have neither; see WorkerPackageType).
    zip_functions = ("SweepFunction", "WorkerFunction")
    assert "Runtime" not in function_globals and "Layers" not in function_globals
    for name in zip_functions:
        assert template["Resources"][name]["Properties"]["Runtime"] == runtime
    layer = template["Resources"]["LeadevalLayer"]
    assert layer["Properties"]["CompatibleRuntimes"] == [runtime]
    # Built by layers/leadeval/Makefile (compiled bytecode); the Makefile refuses any Python but the runtime's.
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert f"PYTHON_VERSION := {major}.{minor}\n" in (ROOT / "layers" / "leadeval" / "Makefile").read_text()
    assert layer["Properties"]["ContentUri"] == "layers/leadeval/"
    # The layer's native wheels (pydantic-core, pypdfium2, Pillow) must match the functions' CPU.
    assert layer["Metadata"]["BuildArchitecture"] == function_globals["Architectures"][0] == "arm64"
    for name in zip_functions:
        assert template["Resources"][name]["Properties"]["Layers"] == [{"Ref": "LeadevalLayer"}]
    assert function_globals["Tracing"] == "Active"


@pytest.mark.parametrize(("logical_id", "code_uri", "timeout", "memory"), [
    ("SweepFunction", "functions/sweep/", 60, 512),
    ("WorkerFunction", "functions/worker/", {"Ref": "WorkerTimeout"}, 1024),
])
def test_functions(template: dict[str, Any], logical_id: str, code_uri: str, timeout: Any,
                   memory: int) -> None:
    props = _props(template, logical_id)
    assert (props["CodeUri"], props["Handler"]) == (code_uri, "app.lambda_handler")
    assert (props["Timeout"], props["MemorySize"]) == (timeout, memory)
    requirements = ROOT / code_uri / "requirements.txt"
    lines = [line for line in requirements.read_text().splitlines() if line.strip()]
    assert all(line.lstrip().startswith("#") for line in lines), "dependencies come from the layer"


# --------------------------------------------------------------------------- queue and worker


def test_worker_reports_batch_item_failures(template: dict[str, Any]) -> None:
    _, event = _worker_sqs_event(template)
    # Without it Lambda ignores batchItemFailures and deletes every message of a batch that returned.
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["Queue"] == {"Fn::GetAtt": ["JobsQueue", "Arn"]}
    assert event["BatchSize"] == {"Ref": "WorkerBatchSize"}
    assert 1 <= _default(template, "WorkerBatchSize") <= template["Parameters"]["WorkerBatchSize"]["MaxValue"] <= 10


def test_worker_concurrency_fits_the_d1_budget(template: dict[str, Any]) -> None:
    _, event = _worker_sqs_event(template)
    assert event["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "WorkerMaxConcurrency"}
    concurrency = _resolve(template, event["ScalingConfig"]["MaximumConcurrency"])
    assert concurrency >= 2  # ScalingConfig.MaximumConcurrency minimum (CloudFormation reference)
    assert concurrency * WORKER_D1_REQUESTS_PER_SECOND < D1_REQUESTS_PER_SECOND


@pytest.mark.parametrize("worker_timeout", [None, 60, 90, 120, 180, 300, 600, 900])
def test_visibility_timeout_is_six_worker_timeouts(template: dict[str, Any], worker_timeout: int | None) -> None:
    """None = the parameter defaults; the others are every allowed WorkerTimeout."""
    allowed = template["Parameters"]["WorkerTimeout"]["AllowedValues"]
    if worker_timeout is not None and worker_timeout not in allowed:
        pytest.fail(f"WorkerTimeout {worker_timeout} is no longer allowed: update this table")
    overrides = {} if worker_timeout is None else {"WorkerTimeout": worker_timeout}
    timeout = _resolve(template, _props(template, "WorkerFunction")["Timeout"], overrides)
    visibility = _resolve(template, _props(template, "JobsQueue")["VisibilityTimeout"], overrides)
    _, event = _worker_sqs_event(template)
    window = _resolve(template, event.get("MaximumBatchingWindowInSeconds", 0), overrides)
    assert visibility >= 6 * timeout + window
    assert visibility <= 43200  # SQS maximum


def test_every_allowed_worker_timeout_has_timings(template: dict[str, Any]) -> None:
    allowed = template["Parameters"]["WorkerTimeout"]["AllowedValues"]
    assert _default(template, "WorkerTimeout") in allowed
    assert sorted(int(key) for key in template["Mappings"]["WorkerTimings"]) == sorted(allowed)
    assert max(allowed) <= 900  # Lambda's maximum timeout


@pytest.mark.parametrize("worker_timeout", [60, 90, 120, 180, 300, 600, 900])
def test_lease_budget_and_rescue_relations(template: dict[str, Any], worker_timeout: int) -> None:
    overrides = {"WorkerTimeout": worker_timeout}
    env = _env(template)
    lease = int(_resolve(template, env["LEADEVAL_LEASE_SECONDS"], overrides))
    budget = int(_resolve(template, env["LEADEVAL_JOB_BUDGET_SECONDS"], overrides))
    rescue = int(_resolve(template, env["LEADEVAL_RESCUE_AFTER_SECONDS"], overrides))
    visibility = int(_resolve(template, _props(template, "JobsQueue")["VisibilityTimeout"], overrides))
    assert 0 < budget < worker_timeout  # a job leaves time to record its outcome
    assert worker_timeout < lease < visibility  # a live attempt keeps its lease; a crashed one's expires
    assert rescue > visibility  # a lost lease is rescued only after a redelivery would have come


def test_queue_retention_and_redrive(template: dict[str, Any]) -> None:
    queue, dlq = _props(template, "JobsQueue"), _props(template, "JobsDLQ")
    assert dlq["MessageRetentionPeriod"] == 1209600  # 14 days, the SQS maximum
    assert dlq["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"] == 345600
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["JobsDLQ", "Arn"]}
    assert queue["RedrivePolicy"]["maxReceiveCount"] == {"Ref": "MaxReceiveCount"}
    assert queue["SqsManagedSseEnabled"] is True and dlq["SqsManagedSseEnabled"] is True


def test_max_receive_count_well_above_max_attempts(template: dict[str, Any]) -> None:
    max_receive = _resolve(template, _props(template, "JobsQueue")["RedrivePolicy"]["maxReceiveCount"])
    max_attempts = _resolve(template, _env(template)["LEADEVAL_MAX_ATTEMPTS"])
    assert max_receive >= 2 * max_attempts
    assert template["Parameters"]["MaxReceiveCount"]["MinValue"] >= 5  # AWS guidance


# --------------------------------------------------------------------------- sweep


def test_sweep_never_retries(template: dict[str, Any]) -> None:
    props = _props(template, "SweepFunction")
    assert props["EventInvokeConfig"]["MaximumRetryAttempts"] == 0
    schedule = _sweep_schedule(template)
    assert schedule["RetryPolicy"] == {"MaximumRetryAttempts": 0}
    assert schedule["ScheduleExpression"] == {"Ref": "SweepSchedule"}
    assert schedule["OmitName"] is True
    assert re.fullmatch(r"(rate|cron)\(.+\)", _default(template, "SweepSchedule"))


def test_schedule_input_matches_the_sample_event(template: dict[str, Any]) -> None:
    payload = json.loads(_sweep_schedule(template)["Input"])
    assert payload["execution_id"] == "<aws.scheduler.execution-id>"
    assert payload["scheduled_time"] == "<aws.scheduler.scheduled-time>"
    assert all(re.fullmatch(r"<aws\.scheduler\.[a-z-]+>", value) for value in payload.values())
    sample = json.loads((EVENTS / "sweep_scheduled.json").read_text())
    assert set(sample) == set(payload)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", sample["scheduled_time"])


# --------------------------------------------------------------------------- table, IAM


def test_idempotency_table(template: dict[str, Any]) -> None:
    props = _props(template, "IdempotencyTable")
    assert template["Resources"]["IdempotencyTable"]["Type"] == "AWS::DynamoDB::Table"
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert props["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert _env(template)["LEADEVAL_IDEMPOTENCY_TABLE"] == {"Ref": "IdempotencyTable"}


@pytest.mark.parametrize(("function", "template_name", "queue"), [
    ("SweepFunction", "SQSSendMessagePolicy", "JobsQueue"),
    ("WorkerFunction", "SQSPollerPolicy", "JobsQueue"),
    ("WorkerFunction", "SQSSendMessagePolicy", "JobsDLQ"),
])
def test_queue_policies(template: dict[str, Any], function: str, template_name: str, queue: str) -> None:
    policies = _props(template, function)["Policies"]
    granted = [p[template_name]["QueueName"] for p in policies if isinstance(p, dict) and template_name in p]
    assert granted == [{"Fn::GetAtt": [queue, "QueueName"]}]


@pytest.mark.parametrize("function", ["SweepFunction", "WorkerFunction"])
def test_functions_get_secret_reads(template: dict[str, Any], function: str) -> None:
    policies = _props(template, function)["Policies"]
    assert {"Fn::If": ["HasAnySecret", {"Ref": "SecretsReadPolicy"}, {"Ref": "AWS::NoValue"}]} in policies


@pytest.mark.parametrize(("env_name", "parameter", "condition"),
                         [(env, *spec) for env, spec in SECRET_ENV.items()])
def test_secret_grants_are_exact(template: dict[str, Any], env_name: str, parameter: str,
                                 condition: str) -> None:
    assert _env(template)[env_name] == {"Ref": parameter}
    assert _default(template, parameter) == ""
    assert template["Conditions"][condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, ""]}]}
    statements = template["Resources"]["SecretsReadPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    mine = [s for s in statements if s["Fn::If"][0] == condition]
    assert len(mine) == 1 and mine[0]["Fn::If"][2] == {"Ref": "AWS::NoValue"}
    granted = _statements({"Statement": mine})
    assert {s["Action"] for s in granted} == {"secretsmanager:GetSecretValue", "ssm:GetParameter"}
    for statement in granted:  # each grant names this parameter's value, never a wildcard
        assert parameter in json.dumps(statement["Resource"])
        assert "*" not in json.dumps(statement["Resource"])


@pytest.mark.parametrize("value", ["/leadeval/prod/cloudflare-api-token", "leadeval-token",
                                   "arn:aws:secretsmanager:us-east-1:123456789012:secret:cf-AbC123", ""])
def test_secret_parameter_pattern_accepts(template: dict[str, Any], value: str) -> None:
    assert re.fullmatch(template["Parameters"]["CloudflareApiTokenParameter"]["AllowedPattern"], value)


@pytest.mark.parametrize("value", ["arn:aws:ssm:us-east-1:123456789012:parameter/x", "my token", "a=b"])
def test_secret_parameter_pattern_rejects(template: dict[str, Any], value: str) -> None:
    assert not re.fullmatch(template["Parameters"]["CloudflareApiTokenParameter"]["AllowedPattern"], value)


def test_no_wildcard_resources_in_template_policies(template: dict[str, Any]) -> None:
    documents = [res["Properties"]["PolicyDocument"]
                 for res in _resources(template, "AWS::IAM::ManagedPolicy").values()]
    for function in ("SweepFunction", "WorkerFunction"):
        documents += [p for p in _props(template, function)["Policies"] if isinstance(p, dict) and "Statement" in p]
    statements = [s for document in documents for s in _statements(document)]
    assert statements
    assert all(s["Resource"] != "*" for s in statements)


# --------------------------------------------------------------------------- alarms, outputs


@pytest.mark.parametrize(("namespace", "metric", "dimension", "statistic"), [
    ("AWS/SQS", "ApproximateNumberOfMessagesVisible", ("QueueName", {"Fn::GetAtt": ["JobsDLQ", "QueueName"]}),
     "Maximum"),
    ("AWS/SQS", "ApproximateAgeOfOldestMessage", ("QueueName", {"Fn::GetAtt": ["JobsQueue", "QueueName"]}),
     "Maximum"),
    ("Leadeval", "JobsRescued", ("service", "leadeval"), "Sum"),
    ("Leadeval", "ConfigurationErrors", ("service", "leadeval"), "Sum"),
    ("Leadeval", "InfrastructureErrors", ("service", "leadeval"), "Sum"),
    ("AWS/Lambda", "Errors", ("FunctionName", {"Fn::If": ["WorkerIsImage", {"Ref": "WorkerImageFunction"},
                                                          {"Ref": "WorkerFunction"}]}), "Sum"),
])
def test_alarm_exists(template: dict[str, Any], namespace: str, metric: str, dimension: tuple[str, Any],
                      statistic: str) -> None:
    alarms = [res["Properties"] for res in _resources(template, "AWS::CloudWatch::Alarm").values()
              if (res["Properties"]["Namespace"], res["Properties"]["MetricName"]) == (namespace, metric)
              and {"Name": dimension[0], "Value": dimension[1]} in res["Properties"]["Dimensions"]]
    assert len(alarms) == 1
    alarm = alarms[0]
    assert alarm["Statistic"] == statistic
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"] == [{"Ref": "AlarmsTopic"}]
    if metric == "ApproximateAgeOfOldestMessage":
        assert alarm["Threshold"] == 900
    else:
        assert alarm["Threshold"] == 0


def test_custom_metric_alarms_match_powertools_settings(template: dict[str, Any]) -> None:
    env = _env(template)
    custom = [res["Properties"] for res in _resources(template, "AWS::CloudWatch::Alarm").values()
              if not res["Properties"]["Namespace"].startswith("AWS/")]
    assert {alarm["MetricName"] for alarm in custom} == {"JobsRescued", "ConfigurationErrors", "InfrastructureErrors"}
    for alarm in custom:  # Powertools Metrics: namespace + default dimension service=<service name>
        assert alarm["Namespace"] == env["POWERTOOLS_METRICS_NAMESPACE"]
        assert alarm["Dimensions"] == [{"Name": "service", "Value": env["POWERTOOLS_SERVICE_NAME"]}]


def test_the_infrastructure_alarm_watches_the_metric_the_worker_emits(template: dict[str, Any]) -> None:
    """The alarm's metric name is the one handle_worker adds (a rename on either side breaks this)."""
    from leadeval.handlers import INFRASTRUCTURE_METRIC

    alarm = template["Resources"]["InfrastructureErrorsAlarm"]["Properties"]
    assert alarm["MetricName"] == INFRASTRUCTURE_METRIC


def test_alarm_email_subscription_is_optional(template: dict[str, Any]) -> None:
    subscription = template["Resources"]["AlarmsEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    assert _default(template, "AlarmEmail") == ""


def test_outputs(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    event_name, _ = _worker_sqs_event(template)
    # SAM names the generated AWS::Lambda::EventSourceMapping <FunctionLogicalId><EventLogicalId>.
    # ... of whichever worker WorkerPackageType selects.
    assert outputs["WorkerEventSourceMapping"]["Value"] == {"Fn::If": [
        "WorkerIsImage", {"Ref": f"WorkerImageFunction{event_name}"}, {"Ref": f"WorkerFunction{event_name}"}]}
    expected = {
        "JobsQueueUrl": {"Ref": "JobsQueue"}, "JobsQueueArn": {"Fn::GetAtt": ["JobsQueue", "Arn"]},
        "JobsDLQUrl": {"Ref": "JobsDLQ"}, "JobsDLQArn": {"Fn::GetAtt": ["JobsDLQ", "Arn"]},
        "SweepFunctionName": {"Ref": "SweepFunction"},
        "WorkerFunctionName": {"Fn::If": ["WorkerIsImage", {"Ref": "WorkerImageFunction"}, {"Ref": "WorkerFunction"}]},
        "IdempotencyTableName": {"Ref": "IdempotencyTable"}, "LeadevalLayerArn": {"Ref": "LeadevalLayer"},
    }
    assert {name: outputs[name]["Value"] for name in expected} == expected


# --------------------------------------------------------------------------- WorkerPackageType: Zip | Image


def _chosen(template: dict[str, Any], package_type: str, node: Any) -> Any:
    """``node`` with every ``Fn::If`` on the worker conditions resolved for ``package_type``."""
    image = package_type == "Image"
    if isinstance(node, dict):
        if set(node) == {"Fn::If"} and node["Fn::If"][0] in ("WorkerIsImage", "WorkerIsZip"):
            condition, then, otherwise = node["Fn::If"]
            wanted = image if condition == "WorkerIsImage" else not image
            return _chosen(template, package_type, then if wanted else otherwise)
        return {key: _chosen(template, package_type, value) for key, value in node.items()}
    if isinstance(node, list):
        return [_chosen(template, package_type, value) for value in node]
    return node


def _references(node: Any) -> set[str]:
    """Logical ids named by Ref, GetAtt and Sub (``${Name}`` / ``${Name.Attr}``) anywhere in ``node``."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value[0] if isinstance(value, list) else value.split(".")[0])
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                found |= {name.split(".")[0] for name in re.findall(r"\$\{([^}!]+)\}", text)}
            found |= _references(value)
    elif isinstance(node, list):
        for value in node:
            found |= _references(value)
    return found


@pytest.mark.parametrize("package_type", ["Zip", "Image"])
def test_worker_package_type_keeps_every_reference_valid(template: dict[str, Any], package_type: str) -> None:
    parameter = template["Parameters"]["WorkerPackageType"]
    assert (parameter["Default"], parameter["AllowedValues"]) == ("Zip", ["Zip", "Image"])
    image = package_type == "Image"
    conditions = {"WorkerIsImage": image, "WorkerIsZip": not image}
    present = {name for name, resource in template["Resources"].items()
               if conditions.get(resource.get("Condition", ""), True)}
    worker = "WorkerImageFunction" if image else "WorkerFunction"
    assert {"WorkerFunction", "WorkerImageFunction"} & present == {worker}
    # SAM's generated resources of the present functions (<FunctionLogicalId><EventLogicalId>).
    generated = {f"{name}{event}" for name in present
                 for event in (template["Resources"][name].get("Properties", {}).get("Events") or {})}
    known = present | generated | set(template["Parameters"]) | {"AWS::Partition", "AWS::Region", "AWS::AccountId",
                                                                 "AWS::NoValue", "AWS::StackName", "AWS::URLSuffix"}
    for section in ("Resources", "Outputs"):
        for name, body in template[section].items():
            if section == "Resources" and name not in present:
                continue
            missing = _references(_chosen(template, package_type, body)) - known
            assert not missing, f"{name} references {missing} with WorkerPackageType={package_type}"
    alarm = _chosen(template, package_type, template["Resources"]["WorkerErrorsAlarm"]["Properties"]["Dimensions"])
    assert alarm == [{"Name": "FunctionName", "Value": {"Ref": worker}}]


def test_the_image_worker_is_the_zip_worker_with_ocr_and_the_memory_it_needs(template: dict[str, Any]) -> None:
    zipped, image = _props(template, "WorkerFunction"), _props(template, "WorkerImageFunction")
    assert image["PackageType"] == "Image"
    assert not {"Runtime", "Handler", "Layers", "CodeUri"} & set(image)  # SAM refuses them on an image
    for key in ("Timeout", "Events", "Policies", "LoggingConfig"):
        assert image[key] == zipped[key], key
    # OCR peaks near 1 GB over the worker's own use (docs/benchmarks.md): twice the zip worker's memory.
    assert image["MemorySize"] == 2048 >= 2 * zipped["MemorySize"]
    ocr = image["Environment"]["Variables"]
    assert int(ocr["LEADEVAL_OCR_PAGES_PER_DOCUMENT"]) > 0 and int(ocr["LEADEVAL_OCR_PAGES_PER_JOB"]) > 0
    metadata = template["Resources"]["WorkerImageFunction"]["Metadata"]
    assert (ROOT / metadata["DockerContext"] / metadata["Dockerfile"]).is_file()
    dockerfile = (ROOT / metadata["Dockerfile"]).read_text()
    assert "FROM public.ecr.aws/lambda/python:3.12-arm64" in dockerfile and 'CMD ["app.lambda_handler"]' in dockerfile


@pytest.mark.parametrize("package_type", ["Zip", "Image"])
def test_sam_translation_with_either_worker(package_type: str, sam_translate: Callable[..., dict[str, Any]]) -> None:
    """The SAM translator (skipped when absent) accepts the template with either WorkerPackageType."""
    out = sam_translate({"WorkerPackageType": package_type})
    resources = out["Resources"]
    image = resources["WorkerImageFunction"]
    assert (image["Condition"], resources["WorkerFunction"]["Condition"]) == ("WorkerIsImage", "WorkerIsZip")
    assert image["Properties"]["PackageType"] == "Image" and "Runtime" not in image["Properties"]
    assert image["Properties"]["MemorySize"] == 2048
    assert resources["WorkerImageFunctionJobs"]["Condition"] == "WorkerIsImage"
    assert resources["WorkerFunctionJobs"]["Condition"] == "WorkerIsZip"


def test_sam_translation_generates_the_referenced_resources(sam_translate: Callable[..., dict[str, Any]]) -> None:
    """Optional deeper check with the SAM translator (not a project dependency; skipped when absent)."""
    out = sam_translate()
    resources = out["Resources"]
    mapping = resources["WorkerFunctionJobs"]
    assert mapping["Type"] == "AWS::Lambda::EventSourceMapping"
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert resources["SweepFunctionSweep"]["Type"] == "AWS::Scheduler::Schedule"
    assert resources["SweepFunctionEventInvokeConfig"]["Properties"]["MaximumRetryAttempts"] == 0


# --------------------------------------------------------------------------- environment


@pytest.mark.parametrize("name", REQUIRED_ENV)
def test_setting_is_declared(template: dict[str, Any], name: str) -> None:
    assert name in _env(template)


def test_config_settings_are_declared(template: dict[str, Any]) -> None:
    config = ROOT / "layers/leadeval/leadeval/config.py"
    if not config.exists():
        pytest.skip("layers/leadeval/leadeval/config.py not written yet")
    from leadeval.config import _TOOL_VARIABLES

    # every variable config.py names, except those only the dev tools, scripts and tests read (not in Lambda)
    names = set(re.findall(r'"(LEADEVAL_[A-Z_]+)"', config.read_text())) - set(_TOOL_VARIABLES)
    assert names, "config.py names no LEADEVAL_ variable"
    assert sorted(names - set(_env(template))) == []


def test_secrets_are_declared_by_reference_only(template: dict[str, Any]) -> None:
    """Each secret reaches the functions as ``<NAME>_PARAMETER`` (an SSM name / secret ARN), never as
    a value in the environment."""
    config = pytest.importorskip("leadeval.config")
    secret_names = getattr(config, "SECRET_NAMES", None)
    if not secret_names:
        pytest.skip("leadeval.config defines no SECRET_NAMES")
    env = _env(template)
    assert sorted(f"{name}_PARAMETER" for name in secret_names) == sorted(SECRET_ENV)
    assert [name for name in secret_names if name in env] == []


@pytest.mark.parametrize("name", ["env.json", "env.docker.json"])
def test_env_json_overrides_only_declared_variables(template: dict[str, Any], name: str) -> None:
    # sam local invoke --env-vars silently ignores undeclared variables (aws-sam-cli #6145).
    env_file = json.loads((EVENTS / name).read_text())
    assert set(env_file) == {"Parameters"}
    assert env_file["Parameters"]
    assert sorted(set(env_file["Parameters"]) - set(_env(template))) == []
    assert all(isinstance(value, str) for value in env_file["Parameters"].values())


# --------------------------------------------------------------------------- samconfig.toml


@pytest.fixture(scope="module")
def samconfig() -> dict[str, Any]:
    return tomllib.loads((ROOT / "samconfig.toml").read_text())


def test_samconfig_shape(samconfig: dict[str, Any]) -> None:
    assert samconfig["version"] == 0.1
    assert samconfig["default"]["validate"]["parameters"]["lint"] is True
    build = samconfig["default"]["build"]["parameters"]
    assert build["cached"] is True and build["parallel"] is True
    for env in ("default", "prod"):
        deploy = samconfig[env]["deploy"]["parameters"]
        assert deploy["capabilities"] == "CAPABILITY_IAM"
        assert deploy["resolve_s3"] is True and deploy["confirm_changeset"] is True
    local = samconfig["default"]["local_invoke"]["parameters"]
    assert (ROOT / local["env_vars"]).is_file()


@pytest.mark.parametrize(("env", "command"), [("default", "deploy"), ("prod", "deploy"),
                                               ("default", "local_invoke")])
def test_samconfig_overrides_are_valid_and_not_secret(template: dict[str, Any], samconfig: dict[str, Any],
                                                      env: str, command: str) -> None:
    overrides = _parameter_overrides(samconfig[env][command]["parameters"]["parameter_overrides"])
    assert overrides
    for name, value in overrides.items():
        assert name in template["Parameters"], name
        spec = template["Parameters"][name]
        if "AllowedValues" in spec:
            assert value in [str(v) for v in spec["AllowedValues"]], name
        if "AllowedPattern" in spec and command == "deploy":
            assert re.fullmatch(spec["AllowedPattern"], value), name
    secret_parameters = {parameter for parameter, _ in SECRET_ENV.values()}
    for name in secret_parameters & set(overrides):  # names of SSM parameters, never values
        assert overrides[name].startswith("/leadeval/"), name


# --------------------------------------------------------------------------- events


@pytest.mark.parametrize("path", sorted(EVENTS.glob("*.json")), ids=lambda p: p.name)
def test_event_parses(path: Path) -> None:
    assert isinstance(json.loads(path.read_text()), dict)


def test_expected_events_exist() -> None:
    names = {path.name for path in EVENTS.glob("*.json")}
    assert {"sweep_scheduled.json", "worker_one_job.json", "worker_mixed_batch.json", "worker_poison.json",
            "env.json"} <= names


@pytest.mark.parametrize("path", SQS_EVENT_FILES, ids=lambda p: p.name)
def test_sqs_event_is_realistic(path: Path) -> None:
    from aws_lambda_powertools.utilities.parser.models import SqsModel

    event = json.loads(path.read_text())
    parsed = SqsModel.model_validate(event)  # Powertools' model of the Lambda SQS event
    assert parsed.Records
    for record in event["Records"]:
        assert record["md5OfBody"] == hashlib.md5(record["body"].encode("utf-8")).hexdigest()
        assert record["eventSourceARN"].split(":")[3] == record["awsRegion"]
        assert int(record["attributes"]["ApproximateFirstReceiveTimestamp"]) >= int(
            record["attributes"]["SentTimestamp"])
    message_ids = [record["messageId"] for record in event["Records"]]
    assert len(set(message_ids)) == len(message_ids)


def test_sqs_events_use_distinct_message_ids() -> None:
    ids = [record["messageId"] for path in SQS_EVENT_FILES
           for record in json.loads(path.read_text())["Records"]]
    assert len(ids) == len(set(ids)) == 5


def _bodies(name: str) -> list[str]:
    return [record["body"] for record in json.loads((EVENTS / name).read_text())["Records"]]


def test_worker_one_job_body() -> None:
    from leadeval.models import JobMessage

    (body,) = _bodies("worker_one_job.json")
    message = JobMessage.model_validate_json(body)
    assert message == JobMessage(job_id="job_demo_001", site_id="site_sunrise", lead_id="lead_strong",
                                 generation=1)


def test_worker_mixed_batch_bodies() -> None:
    from pydantic import ValidationError

    from leadeval.models import JobMessage

    valid, not_json, no_job_id = _bodies("worker_mixed_batch.json")
    assert JobMessage.model_validate_json(valid).job_id == "job_demo_001"
    with pytest.raises(json.JSONDecodeError):
        json.loads(not_json)
    assert "job_id" not in json.loads(no_job_id)
    with pytest.raises(ValidationError):
        JobMessage.model_validate_json(no_job_id)


def test_worker_poison_body_is_a_well_formed_unknown_job() -> None:
    from leadeval.models import JobMessage

    (body,) = _bodies("worker_poison.json")
    message = JobMessage.model_validate_json(body)
    known = {JobMessage.model_validate_json(b).job_id for b in _bodies("worker_one_job.json")}
    assert message.job_id not in known
