"""Any OpenAI-compatible chat-completions server as the vision model: Ollama, vLLM, OpenAI.

Configuration URL grammar (``LEADEVAL_MODEL_URL``; parsed by the lead's config, not here)::

    openai+http://host:port/v1?model=NAME    →  base_url "http://host:port/v1", model "NAME"
    openai+https://host/v1?model=NAME        →  base_url "https://host/v1",     model "NAME"

The ``openai+`` prefix is dropped and the ``model`` query parameter removed (other query
parameters, if any, stay in the base URL). An API key, when the server needs one, is passed
separately from a secret setting, never in the URL. Examples: Ollama
``openai+http://localhost:11434/v1?model=llama3.2-vision``, vLLM
``openai+http://vllm:8000/v1?model=meta-llama/Llama-3.2-11B-Vision-Instruct``, OpenAI
``openai+https://api.openai.com/v1?model=gpt-4o-mini``.

Request (OpenAI Chat Completions, platform.openai.com/docs/api-reference/chat/create)::

    POST {base_url}/chat/completions
    Authorization: Bearer <api_key>            # only when an api_key is given
    {"model": NAME, "temperature": 0, "max_tokens": 1024,
     "response_format": {"type": "json_object"},          # when json_mode
     "messages": [{"role": "system", "content": "..."},
                  {"role": "user", "content": [{"type": "text", "text": "..."},
                                               {"type": "image_url",
                                                "image_url": {"url": "data:image/jpeg;base64,..."}}]}]}

One image per request (the first page image), like Workers AI: Llama 3.2 Vision served by
Ollama / vLLM takes one. When the server answers 400 mentioning ``response_format`` (JSON mode not
supported), the request is repeated once without it and the adapter stops sending it.
Response: ``choices[0].message.content`` (the answer), ``usage.prompt_tokens`` /
``usage.completion_tokens``, ``model`` (recorded as the model version).
Errors: ``{"error": {"message", "type", "code"}}``, mapped by :mod:`leadeval.adapters.ai._http`.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from leadeval.adapters.ai import _http
from leadeval.adapters.ai.extraction import Message, extract_with_repair
from leadeval.errors import ConfigurationError
from leadeval.models import Extraction, ModelUsage, PreparedDocument

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger(__name__)

PROVIDER = "openai"


class OpenAICompatibleVisionModel:
    """A :class:`~leadeval.ports.VisionModel` backed by an OpenAI-compatible ``/chat/completions``.

    Args:
        base_url: the API base including its version path (``http://localhost:11434/v1``).
        model: the model name the server knows.
        api_key: sent as ``Authorization: Bearer`` when given (Ollama and vLLM need none).
        client: an ``httpx.Client`` to use; when None one is built on first use.
        max_tokens: the answer's token budget.
        timeout_seconds: seconds allowed per request (local CPU servers are slow; connect ≤ 10 s).
        json_mode: ask for ``response_format: {"type": "json_object"}`` (dropped automatically
            when the server rejects it).
        key_variable: the environment variable named in credential errors.

    Raises:
        ConfigurationError: at construction, when ``base_url`` is not http(s) or ``model`` is empty.
    """

    def __init__(self, *, base_url: str, model: str, api_key: str | None = None,
                 client: httpx.Client | None = None, max_tokens: int = 1024,
                 timeout_seconds: float = 120.0, json_mode: bool = True,
                 key_variable: str = "OPENAI_API_KEY") -> None:
        base = (base_url or "").strip().rstrip("/")
        if not base.lower().startswith(("http://", "https://")):
            raise ConfigurationError("the OpenAI-compatible base URL must start with http:// or https://",
                                     variable="LEADEVAL_MODEL_URL")
        if not model or not model.strip():
            raise ConfigurationError("the OpenAI-compatible model name is empty (?model=NAME)",
                                     variable="LEADEVAL_MODEL_URL")
        self.base_url = base
        self.model = model.strip()
        self._api_key = api_key.strip() if api_key and api_key.strip() else None
        self.max_tokens = int(max_tokens)
        self.timeout_seconds = float(timeout_seconds)
        self.json_mode = bool(json_mode)
        self.key_variable = key_variable
        self.name = f"openai:{self.model}"
        self._client = client
        self._owns_client = client is None

    def __repr__(self) -> str:
        return f"OpenAICompatibleVisionModel(base_url={self.base_url!r}, model={self.model!r})"

    @property
    def url(self) -> str:
        """``{base_url}/chat/completions``."""
        return f"{self.base_url}/chat/completions"

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = _http.owned_client(self.timeout_seconds)
        return self._client

    def close(self) -> None:
        """Close the HTTP client if this adapter built it."""
        if self._owns_client and self._client is not None:
            self._client.close()
            self._client = None

    def _messages(self, document: PreparedDocument, messages: list[Message]) -> list[dict[str, Any]]:
        """The conversation with the first page image attached to the first user turn."""
        out: list[dict[str, Any]] = []
        image = document.page_image(0)  # the first page only: rendered now, if at all
        attached = False
        for message in messages:
            if not attached and message["role"] == "user" and image is not None:
                url = _http.image_data_url(image)
                out.append({"role": "user", "content": [
                    {"type": "text", "text": message["content"]},
                    {"type": "image_url", "image_url": {"url": url}},
                ]})
                attached = True
            else:
                out.append(dict(message))
        return out

    def _post(self, payload: dict[str, Any]) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        return _http.post_json(self._http(), self.url, payload, headers=headers,
                               timeout=self.timeout_seconds, provider=PROVIDER)

    def _ask(self, document: PreparedDocument, messages: list[Message],
             seen: dict[str, str]) -> tuple[str | None, ModelUsage]:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": self._messages(document, messages),
            "temperature": 0,
            "max_tokens": self.max_tokens,
        }
        if self.json_mode:
            payload["response_format"] = {"type": "json_object"}
        response = self._post(payload)
        if response.status_code == 400 and self.json_mode and _mentions_response_format(response):
            logger.info("openai-compatible server rejected response_format; retrying without it: model=%s",
                        self.model)
            self.json_mode = False
            payload.pop("response_format", None)
            response = self._post(payload)
        body: dict[str, Any] | None = None
        if response.is_success:
            body = _http.json_body(response, provider=PROVIDER)
        if body is None or ("error" in body and not body.get("choices")):
            error = _http.error_from_response(response, provider=PROVIDER, token_variable=self.key_variable)
            logger.warning("openai-compatible request failed: document=%s status=%s error=%s",
                           document.document_id, response.status_code, error.code)
            raise error
        if isinstance(body.get("model"), str) and body["model"]:
            seen["model"] = body["model"]
        answer = _answer_text(body)
        usage = _http.usage_from(body.get("usage"))
        logger.info("openai-compatible answered: document=%s prompt_tokens=%d completion_tokens=%d",
                    document.document_id, usage.prompt_tokens, usage.completion_tokens)
        return answer, usage

    def extract(self, document: PreparedDocument) -> Extraction:
        """Extract facts from one document (first page image and/or text layer).

        Returns:
            Extraction (``model_version`` = the ``model`` the server reported, else the configured
            name; usage summed over the requests).

        Raises:
            ConfigurationError (401/403, billing quota), ThrottledError (429), ModelTimeout (408,
            client timeout), ModelUnavailableError (5xx, connection), DocumentUnreadable (413),
            ModelRejected (other 4xx).
        """
        seen: dict[str, str] = {}
        extraction = extract_with_repair(lambda messages: self._ask(document, messages, seen), document,
                                         self.name, self.model)
        if seen.get("model") and seen["model"] != extraction.model_version:
            extraction = extraction.model_copy(update={"model_version": seen["model"]})
        return extraction


def _mentions_response_format(response: httpx.Response) -> bool:
    """True when a 400 body names ``response_format`` (JSON mode unsupported by the server)."""
    try:
        body = response.json()
    except ValueError:
        return "response_format" in response.text
    details = _http.error_details(body)
    return "response_format" in details.message or "response_format" in details.params


def _answer_text(body: dict[str, Any]) -> str | None:
    """``choices[0].message.content`` as text (content-part lists joined); None when absent."""
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    message = choices[0].get("message")
    if not isinstance(message, dict):
        return None
    content = message.get("content")
    if isinstance(content, list):
        texts = [str(part.get("text", "")) for part in content if isinstance(part, dict)]
        return "".join(texts)
    if isinstance(content, dict):
        return json.dumps(content)
    return content if content is None or isinstance(content, str) else str(content)
