"""Which model reads a job's documents: the job's ``model_version`` when the configured provider can serve
it, else the configured model, and always a sentence saying which ran and why.

The application writes a Workers AI model id in ``ai_evaluation_jobs.model_version`` (for example
``@cf/meta/llama-3.2-11b-vision-instruct``). leadeval honours it only where it can: the configured provider
is Workers AI and the id is in ``LEADEVAL_MODEL_ALLOWLIST`` (default: the configured model). Otherwise the
configured model runs, and the evaluation records the model that actually produced the facts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from leadeval.ports import VisionModel


@dataclass(frozen=True)
class ModelChoice:
    """The model to run for one job and why (a sentence for the log line; no personal data).

    Attributes:
        model: the model that will read the documents.
        requested: the job's ``model_version`` (None when the application left it empty).
        honoured: True when ``model`` is the requested one.
        reason: why this model runs.
    """

    model: VisionModel
    requested: str | None
    honoured: bool
    reason: str


@dataclass
class ModelRouter:
    """Chooses the model for a job's ``model_version``.

    Args:
        default: the configured model (``LEADEVAL_MODEL_URL``).
        provider: the configured provider: ``workers-ai``, ``openai`` or ``offline``.
        default_id: the configured model's id (the Workers AI model id, the OpenAI-compatible model name;
            None for the offline reader).
        allowlist: Workers AI model ids a job may select (``LEADEVAL_MODEL_ALLOWLIST``).
        build: makes a model of the configured provider for another model id (Workers AI only); each id is
            built once and reused.
    """

    default: VisionModel
    provider: str
    default_id: str | None = None
    allowlist: Iterable[str] = ()
    build: Callable[[str], VisionModel] | None = None
    _built: dict[str, VisionModel] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def choose(self, requested: str | None) -> ModelChoice:
        """The model for a job whose ``model_version`` is ``requested``. Never raises."""
        requested = (requested or "").strip() or None
        configured = f"the configured model {self.default.name}"
        if requested is None:
            return ModelChoice(self.default, None, False, f"the job names no model_version: {configured} runs")
        if requested == self.default_id:
            return ModelChoice(self.default, requested, True, "the job's model_version is the configured model")
        if self.provider != "workers-ai":
            return ModelChoice(self.default, requested, False,
                               f"the job's model_version {requested} is a Workers AI model and the configured "
                               f"provider is {self.provider}: {configured} runs")
        if requested not in set(self.allowlist) or self.build is None:
            return ModelChoice(self.default, requested, False,
                               f"the job's model_version {requested} is not in LEADEVAL_MODEL_ALLOWLIST: "
                               f"{configured} runs")
        with self._lock:
            model = self._built.get(requested)
            if model is None:
                model = self._built[requested] = self.build(requested)
        return ModelChoice(model, requested, True, "the job's model_version is in LEADEVAL_MODEL_ALLOWLIST")
