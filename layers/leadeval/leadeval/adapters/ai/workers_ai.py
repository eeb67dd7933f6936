"""Cloudflare Workers AI vision model over the native REST endpoint (``/ai/run``).

Request (one document, one image per request — the model takes one; 2+ is HTTP 400 code 3030)::

    POST {base_url}/accounts/{account_id}/ai/run/{model}
    Authorization: Bearer <API token with "Workers AI - Read" and "Workers AI - Edit">
    {"messages": [{"role": "system", ...}, {"role": "user", ...}],
     "image": "data:image/jpeg;base64,<first page image>",   # absent for text-only documents
     "max_tokens": 1024, "temperature": 0}

Response: ``{"result": {"response": "...", "usage": {"prompt_tokens", "completion_tokens",
"total_tokens"}}, "success": true, "errors": [], "messages": []}``.

Why this shape (Workers AI docs: models/llama-3.2-11b-vision-instruct,
configuration/open-ai-compatibility): the OpenAI-compatible ``/ai/v1`` endpoint rejects images
for ``@cf/meta/llama-3.2-11b-vision-instruct`` (3030, "Unable to add image…"); the model has no
JSON mode (``response_format`` is not in its schema), so we prompt for JSON and validate it;
its default ``max_tokens`` (256) truncates the JSON, so it is always set.
The system turn must be present for the image to attach.

The Meta licence must be accepted once per account (error 5016 until then): a human decision,
never done by this adapter — see the :class:`~leadeval.errors.ConfigurationError` it raises.
Error mapping: :mod:`leadeval.adapters.ai._http`.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from leadeval.adapters.ai import _http
from leadeval.adapters.ai.extraction import Message, extract_with_repair
from leadeval.adapters.cloudflare import DEFAULT_BASE_URL, bearer
from leadeval.errors import ConfigurationError
from leadeval.models import Extraction, ModelUsage, PreparedDocument
from leadeval.timeutil import utcnow

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "@cf/meta/llama-3.2-11b-vision-instruct"
PROVIDER = "workers-ai"


class WorkersAIVisionModel:
    """A :class:`~leadeval.ports.VisionModel` backed by Workers AI's native ``/ai/run`` endpoint.

    Args:
        account_id: the Cloudflare account id (``CLOUDFLARE_ACCOUNT_ID``).
        api_token: an API token allowed to run Workers AI (``token_variable`` names its variable).
        model: the Workers AI model id.
        base_url: the Cloudflare API base (``…/client/v4``); tests point it at a fake.
        client: an ``httpx.Client`` to use; when None one is built on first use (and closed by
            :meth:`close`).
        max_tokens: the answer's token budget (the model's default of 256 truncates the JSON).
        timeout_seconds: seconds allowed per request (connect capped at 10 s).
        token_variable: the environment variable named in credential errors.
        clock: the current time (UTC), for the 3036 "until 00:00 UTC" snooze.

    Raises:
        ConfigurationError: at construction, when ``account_id`` or ``api_token`` is empty.
    """

    def __init__(self, *, account_id: str, api_token: str, model: str = DEFAULT_MODEL,
                 base_url: str = DEFAULT_BASE_URL, client: httpx.Client | None = None,
                 max_tokens: int = 1024, timeout_seconds: float = 60.0,
                 token_variable: str = "CLOUDFLARE_API_TOKEN", clock: _http.Clock = utcnow) -> None:
        if not account_id or not account_id.strip():
            raise ConfigurationError("the Cloudflare account id is empty", variable="CLOUDFLARE_ACCOUNT_ID")
        if not api_token or not api_token.strip():
            raise ConfigurationError(f"{token_variable} is empty", variable=token_variable)
        if not model or not model.strip():
            raise ConfigurationError("the Workers AI model id is empty", variable="LEADEVAL_MODEL_URL")
        self.account_id = account_id.strip()
        self._api_token = api_token.strip()
        self.model = model.strip()
        self.base_url = base_url.rstrip("/")
        self.max_tokens = int(max_tokens)
        self.timeout_seconds = float(timeout_seconds)
        self.token_variable = token_variable
        self.name = f"workers-ai:{self.model}"
        self._clock = clock
        self._client = client
        self._owns_client = client is None

    def __repr__(self) -> str:
        return f"WorkersAIVisionModel(model={self.model!r}, account_id={self.account_id!r})"

    @property
    def url(self) -> str:
        """``{base_url}/accounts/{account_id}/ai/run/{model}`` (the model id kept verbatim)."""
        return f"{self.base_url}/accounts/{self.account_id}/ai/run/{self.model}"

    def licence_help(self) -> str:
        """How an operator accepts the model's licence (the text of the 5016 error)."""
        return (
            "Accepting it accepts Meta's Llama 3.2 Community License and Acceptable Use Policy for "
            "this Cloudflare account: a decision for the account owner, never made automatically. "
            "To accept, send {\"prompt\":\"agree\"} once to the model: "
            f"curl -X POST {self.base_url}/accounts/$CLOUDFLARE_ACCOUNT_ID/ai/run/{self.model} "
            f"-H \"Authorization: Bearer ${self.token_variable}\" -d '{{\"prompt\":\"agree\"}}'"
        )

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = _http.owned_client(self.timeout_seconds)
        return self._client

    def close(self) -> None:
        """Close the HTTP client if this adapter built it."""
        if self._owns_client and self._client is not None:
            self._client.close()
            self._client = None

    def _ask(self, document: PreparedDocument, messages: list[Message]) -> tuple[str | None, ModelUsage]:
        payload: dict[str, Any] = {
            "messages": messages,
            "max_tokens": self.max_tokens,
            "temperature": 0,
        }
        image = document.page_image(0)  # the first page only: rendered now, if at all
        if image is not None:
            payload["image"] = _http.image_data_url(image)
        response = _http.post_json(
            self._http(), self.url, payload,
            headers=bearer(self._api_token),
            timeout=self.timeout_seconds, provider=PROVIDER,
        )
        body: dict[str, Any] | None = None
        if response.is_success:
            body = _http.json_body(response, provider=PROVIDER)
        if body is None or body.get("success") is False:
            error = _http.error_from_response(
                response, provider=PROVIDER, token_variable=self.token_variable,
                licence_help=self.licence_help(), now=self._clock())
            logger.warning("workers-ai request failed: document=%s status=%s error=%s",
                           document.document_id, response.status_code, error.code)
            raise error
        result = body.get("result")
        result = result if isinstance(result, dict) else {}
        answer = result.get("response")
        if isinstance(answer, dict | list):  # some models return JSON already decoded
            answer = json.dumps(answer)
        elif answer is not None and not isinstance(answer, str):
            answer = str(answer)
        usage = _http.usage_from(result.get("usage"))
        logger.info("workers-ai answered: document=%s prompt_tokens=%d completion_tokens=%d",
                    document.document_id, usage.prompt_tokens, usage.completion_tokens)
        return answer, usage

    def extract(self, document: PreparedDocument) -> Extraction:
        """Extract facts from one document (first page image and/or text layer).

        Returns:
            Extraction (``model_version`` = the model id; usage summed over at most 2 requests).

        Raises:
            ConfigurationError (credentials, 403, licence 5016), ThrottledError (429, 3040, 3036),
            ModelTimeout (408, 3007, client timeout), ModelUnavailableError (5xx, connection),
            DocumentUnreadable (413 / 3006), ModelRejected (other 4xx).
        """
        return extract_with_repair(lambda messages: self._ask(document, messages), document,
                                   self.name, self.model)

