"""``leadeval invoke sweep|worker -e EVENT``: one function, one event, as Lambda runs it (no container).

What ``sam local invoke FUNCTION -e EVENT --env-vars ENV`` does in Docker, done in this process:

- the function's environment is the template's (``Globals.Function.Environment.Variables`` then the function's
  own ``Environment``), ``!Ref`` to a parameter resolved to its default and ``!FindInMap`` through the
  template's mappings, as SAM CLI resolves them; values it cannot resolve locally (``!Ref JobsQueue``,
  ``!GetAtt …``) are left empty;
- the env-vars file overlays it as SAM CLI does (AWS SAM CLI reference, ``sam local invoke --env-vars``): its
  ``Parameters`` object applies to every function, an object keyed by the function's logical id
  (``SweepFunction``, ``WorkerFunction``) to that function, and only variables the template declares are
  overridden (aws/aws-sam-cli issue #6145);
- the Lambda context carries the function's ``Timeout`` (seconds) and ``MemorySize`` (MB) from the template;
- the handler is ``functions/<name>/app.py``'s ``lambda_handler``, imported from its file.

Then, because no container can reach AWS from here, the local emulators replace what the template would
reach in AWS: the queue, the DLQ and the AWS endpoint (``LEADEVAL_QUEUE_URL``, ``LEADEVAL_DLQ_URL``,
``AWS_ENDPOINT_URL``: moto's server, started for the call), the embedded idempotency table (no
``LEADEVAL_IDEMPOTENCY_TABLE``), and, when the file does not name one, the embedded database and document
folder that ``make run`` fills. Metrics (EMF) and logs go to stderr; stdout holds only the handler's return
value as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from leadeval_tools.local import REPO_ROOT

TEMPLATE_PATH = REPO_ROOT / "template.yaml"

#: ``leadeval invoke NAME`` -> the template's logical id.
FUNCTIONS = {"sweep": "SweepFunction", "worker": "WorkerFunction"}

#: Variables the local emulators own during an invoke (the template's values point at AWS resources).
EMULATED = ("LEADEVAL_QUEUE_URL", "LEADEVAL_DLQ_URL", "AWS_ENDPOINT_URL", "LEADEVAL_IDEMPOTENCY_TABLE")


class InvokeInputError(ValueError):
    """The event file, the env-vars file or the template cannot be used (the message says which and why)."""


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags kept as ``{"Fn": value}`` (``!Ref X`` -> ``{"Ref": "X"}``)."""


def _tag(loader: Any, suffix: str, node: Any) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    key = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {key: value}


_CfnLoader.add_multi_constructor("!", _tag)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The SAM template as plain data (short tags as their long ``Fn::`` form).

    Raises:
        InvokeInputError: the file is missing or not YAML.
    """
    try:
        data = yaml.load(path.read_text("utf-8"), Loader=_CfnLoader)
    except (OSError, yaml.YAMLError) as exc:
        raise InvokeInputError(f"cannot read the template {path}: {type(exc).__name__}") from exc
    if not isinstance(data, dict):
        raise InvokeInputError(f"{path} is not a template")
    return data


@dataclass(frozen=True)
class FunctionSpec:
    """What the template says about one function: its logical id, handler file, timeout (seconds), memory
    (MB) and environment (unresolvable values are None)."""

    logical_id: str
    handler_path: Path
    timeout_seconds: int
    memory_mb: int
    environment: dict[str, str | None]


def _resolve(value: Any, template: Mapping[str, Any]) -> Any:
    """A template value with ``Ref`` to parameters (their defaults) and ``Fn::FindInMap`` resolved; None when
    it refers to a resource or attribute (only known in AWS)."""
    if not isinstance(value, dict):
        return value
    parameters = template.get("Parameters") or {}
    if "Ref" in value:
        param = parameters.get(value["Ref"])
        return None if param is None else param.get("Default")
    if "Fn::FindInMap" in value:
        name, first, second = (_resolve(v, template) for v in value["Fn::FindInMap"])
        try:
            return template["Mappings"][name][str(first)][second]
        except (KeyError, TypeError):
            return None
    return None


def function_spec(name: str, template: Mapping[str, Any] | None = None) -> FunctionSpec:
    """The template's view of ``sweep`` or ``worker``.

    Raises:
        InvokeInputError: an unknown function name, or the template lacks the function.
    """
    if name not in FUNCTIONS:
        raise InvokeInputError(f"unknown function {name!r}: expected one of {', '.join(FUNCTIONS)}")
    template = template if template is not None else load_template()
    logical_id = FUNCTIONS[name]
    resource = (template.get("Resources") or {}).get(logical_id)
    if not resource:
        raise InvokeInputError(f"the template has no {logical_id}")
    props = resource.get("Properties") or {}
    globals_ = ((template.get("Globals") or {}).get("Function") or {})
    variables: dict[str, Any] = {**((globals_.get("Environment") or {}).get("Variables") or {}),
                                 **((props.get("Environment") or {}).get("Variables") or {})}
    environment = {}
    for key, raw in variables.items():
        resolved = _resolve(raw, template)
        environment[key] = None if resolved is None else str(resolved)
    timeout = _resolve(props.get("Timeout", globals_.get("Timeout", 3)), template)
    memory = _resolve(props.get("MemorySize", globals_.get("MemorySize", 128)), template)
    code_uri = str(props.get("CodeUri") or f"functions/{name}/").rstrip("/")
    return FunctionSpec(logical_id=logical_id, handler_path=REPO_ROOT / code_uri / "app.py",
                        timeout_seconds=int(timeout), memory_mb=int(memory), environment=environment)


def read_json_file(path: Path, what: str) -> Any:
    """A JSON file's content.

    Raises:
        InvokeInputError: missing, unreadable or not JSON (naming the file and the line).
    """
    try:
        return json.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise InvokeInputError(f"cannot read the {what} {path}: {exc.strerror or type(exc).__name__}") from exc
    except json.JSONDecodeError as exc:
        raise InvokeInputError(f"the {what} {path} is not JSON (line {exc.lineno}: {exc.msg})") from exc


def overlay_env_vars(spec: FunctionSpec, env_vars: Any) -> dict[str, str | None]:
    """The function's environment overlaid with an env-vars file's content, as SAM CLI does: ``Parameters``
    for every function, then the function's own object; only declared variables change; values are strings.

    Raises:
        InvokeInputError: the content is not an object of objects.
    """
    if not isinstance(env_vars, dict) or not all(isinstance(v, dict) for v in env_vars.values()):
        raise InvokeInputError('the env-vars file must be {"Parameters": {...}, "<FunctionLogicalId>": {...}}')
    environment = dict(spec.environment)
    for section in (env_vars.get("Parameters") or {}, env_vars.get(spec.logical_id) or {}):
        for key, value in section.items():
            if key in environment:
                environment[key] = "" if value is None else str(value)
    return environment


def undeclared_env_vars(spec: FunctionSpec, env_vars: Mapping[str, Any]) -> dict[str, str | None]:
    """The variables an env-vars file sets for ``spec``'s function (``Parameters`` and its own object) that no
    function of the template declares, so :func:`overlay_env_vars` drops them (as SAM CLI does, silently): a
    misspelling, most likely. Each comes with the declared name it is closest to, or None. A variable only
    another function declares (``Parameters`` apply to every function) is not listed.

    Returns:
        ``{name: closest declared name or None}``, sorted by name.
    """
    import difflib

    declared = sorted({name for function in ("sweep", "worker") for name in function_spec(function).environment})
    names = {key for section in (env_vars.get("Parameters") or {}, env_vars.get(spec.logical_id) or {})
             if isinstance(section, dict) for key in section}
    return {name: next(iter(difflib.get_close_matches(name, declared, n=1, cutoff=0.85)), None)
            for name in sorted(names - set(declared))}


def invocation_environment(environment: Mapping[str, str | None], base: Mapping[str, str]) -> dict[str, str]:
    """The process environment an invoke runs with: ``base`` (the caller's, for credentials and local
    defaults) with the function's variables set; empty or unresolved ones are dropped unless ``base`` has
    them, and the emulated ones (:data:`EMULATED`) are never taken from the template or the env-vars file:
    ``base``'s (the exports of a running ``leadeval emulators``) or, unset, the local runtime's own moto."""
    env = dict(base)
    for key, value in environment.items():
        if key in EMULATED:
            continue  # the caller's value (``leadeval emulators``' exports) or none: the runtime's own moto
        if value:
            env[key] = value
    return env


def check_event(name: str, event: Any) -> dict[str, Any]:
    """The event, if it has the shape the function receives (an object; for the worker, ``Records``).

    Raises:
        InvokeInputError: naming what is wrong.
    """
    if not isinstance(event, dict):
        raise InvokeInputError("the event must be a JSON object")
    if name == "worker" and not isinstance(event.get("Records"), list):
        raise InvokeInputError('a worker event is an SQS event: {"Records": [...]} (see events/worker_*.json)')
    return event


def invoke(name: str, event: dict[str, Any], spec: FunctionSpec, env: Mapping[str, str]) -> Any:
    """Run ``name``'s handler on ``event`` inside a :class:`~leadeval_tools.local.LocalRuntime` built from
    ``env`` (moto for SQS/S3, the embedded database), with a Lambda context of the template's timeout and
    memory; the worker's result is what the SQS event source mapping reads, and the records it did not report
    failed are deleted from the emulated queue as the mapping does. Returns the handler's return value.

    Raises:
        LeadevalError: the handler failed (the sweep raises; the worker raises WorkerBatchFailed).
    """
    from leadeval_tools.local import FakeLambdaContext, LocalRuntime, handler_output, load_handler

    with LocalRuntime(env) as runtime:
        services = runtime.services
        assert services is not None
        from leadeval_tools.cli import require_migrated

        require_migrated(services.store)  # as in Lambda: the database is the application's, already migrated
        runtime.recover_orphans()
        context = FakeLambdaContext(function_name=spec.logical_id, timeout_seconds=spec.timeout_seconds,
                                    memory_limit_in_mb=spec.memory_mb)
        handler = load_handler(name)
        with handler_output():
            return handler(event, context)
