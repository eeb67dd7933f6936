"""Pause and resume the worker's consumption of the jobs queue.

In AWS: the worker's SQS event source mapping (``WorkerFunctionJobs`` in template.yaml) is disabled and
enabled with Lambda ``UpdateEventSourceMapping(UUID, Enabled=…)``; while disabled Lambda stops polling,
messages stay on the queue and no attempt is used. Locally: a marker file that the local runtime checks
before each poll.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leadeval.errors import ConfigurationError, StoreUnavailableError


@dataclass(frozen=True)
class ConsumptionState:
    """Where the worker stands: ``state`` is Lambda's ESM state (Enabled, Disabled, Enabling, Disabling…)."""

    uuid: str
    state: str
    queue_arn: str


class LambdaConsumption:
    """Controls the worker's event source mapping.

    Args:
        function_name: the worker function (name or ARN; ``LEADEVAL_WORKER_FUNCTION_NAME``).
        queue_arn: only the mapping from this queue (None: the function's only SQS mapping).
        client: a boto3 ``lambda`` client (built on first use when None).

    Raises (every method): ConfigurationError when no mapping matches; StoreUnavailableError when Lambda's
    API fails.
    """

    def __init__(self, function_name: str, *, queue_arn: str | None = None, client: Any = None) -> None:
        self.function_name = function_name
        self.queue_arn = queue_arn
        self._client = client

    @property
    def client(self) -> Any:
        """The boto3 Lambda client."""
        if self._client is None:
            from leadeval.adapters import aws

            self._client = aws.client("lambda")
        return self._client

    def _call(self, method: str, **params: Any) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, method)(**params)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("ResourceNotFoundException", "AccessDeniedException"):
                raise ConfigurationError(f"Lambda {method} failed ({code}) for the worker function",
                                         variable="LEADEVAL_WORKER_FUNCTION_NAME") from exc
            raise StoreUnavailableError(f"Lambda {method} failed ({code})") from exc
        except BotoCoreError as exc:
            raise StoreUnavailableError(f"Lambda {method} failed ({type(exc).__name__})") from exc

    def mapping(self) -> ConsumptionState:
        """The worker's SQS event source mapping."""
        params: dict[str, Any] = {"FunctionName": self.function_name}
        if self.queue_arn:
            params["EventSourceArn"] = self.queue_arn
        mappings = [m for m in self._call("list_event_source_mappings", **params).get("EventSourceMappings", [])
                    if ":sqs:" in m.get("EventSourceArn", "")]
        if len(mappings) != 1:
            raise ConfigurationError(f"expected one SQS event source mapping for the worker, found {len(mappings)}",
                                     variable="LEADEVAL_WORKER_FUNCTION_NAME")
        m = mappings[0]
        return ConsumptionState(uuid=m["UUID"], state=m.get("State", "?"), queue_arn=m["EventSourceArn"])

    def set_enabled(self, enabled: bool) -> ConsumptionState:
        """Enable (resume) or disable (pause) consumption; returns the new state (Enabling/Disabling)."""
        current = self.mapping()
        response = self._call("update_event_source_mapping", UUID=current.uuid, Enabled=enabled)
        return ConsumptionState(uuid=current.uuid, state=response.get("State", "?"), queue_arn=current.queue_arn)


class LocalConsumption:
    """The local runtime's pause switch: a marker file (default ``.leadeval/paused``)."""

    def __init__(self, marker: Path = Path(".leadeval") / "paused") -> None:
        self.marker = marker

    @property
    def paused(self) -> bool:
        """True while the marker exists."""
        return self.marker.exists()

    def set_enabled(self, enabled: bool) -> ConsumptionState:
        """Remove (resume) or create (pause) the marker."""
        if enabled:
            self.marker.unlink(missing_ok=True)
        else:
            self.marker.parent.mkdir(parents=True, exist_ok=True)
            self.marker.write_text("paused by `leadeval pause`\n")
        return ConsumptionState(uuid="local", state="Enabled" if enabled else "Disabled", queue_arn="local")
