"""HTTP plumbing shared by the vision-model adapters: one error mapping, one POST helper.

Retryable vs permanent is decided here, once, by (HTTP status, provider error code) — never by
matching message text (docs/architecture.md, "What the worker does with each outcome").
The mapping, in order of precedence:

=====================================================  ==========================================
status / code                                           error raised
=====================================================  ==========================================
code 5016 (Workers AI: model licence not accepted)      ``ConfigurationError`` (how to accept it)
code 3036 (Workers AI daily free allowance spent)       ``ThrottledError`` until next 00:00 UTC
OpenAI code ``insufficient_quota`` (429, billing)       ``ConfigurationError``
429, code 3040 (out of capacity), 971 / 10429 (API      ``ThrottledError(retry-after header, else
rate limit: the token's five-minute block)              60 s; 300 s for 971 / 10429)``
401, or code 10000 / 9109 (authentication)              ``ConfigurationError(variable=token)``
403 (account blocked, token lacks permission, …)        ``ConfigurationError``
408, code 3007 / 3008 (timeout / aborted)               ``ModelTimeout``
413 or code 3006 (request too large)                    ``DocumentUnreadable``
5xx                                                     ``ModelUnavailableError``
other 4xx (400 bad request / 5007 no such model, …)     ``ModelRejected``
anything else (3xx, 200 with ``success: false``)        ``ModelUnavailableError``
httpx timeout                                           ``ModelTimeout``
httpx connect / read / protocol errors                  ``ModelUnavailableError``
httpx unsupported protocol / invalid URL                ``ConfigurationError``
=====================================================  ==========================================

Sources: Workers AI error table (developers.cloudflare.com/workers-ai/platform/errors/;
Workers AI docs, platform/errors), Cloudflare API rate limits and ``retry-after``
(fundamentals/api/reference/limits), Cloudflare auth error 10000 / 9109 ("Invalid access token"),
OpenAI error codes (platform.openai.com/docs/guides/error-codes: 429 ``insufficient_quota``).

Error messages carry the provider, status and codes only — never the provider's free-text
message, which some servers (vLLM's request validation) fill with an echo of the request, and so
with document text.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from leadeval.adapters.cloudflare import (
    API_BLOCK_CODES,
    API_BLOCK_SECONDS,
    AUTH_CODES,
    envelope_errors,
    parse_retry_after,
    seconds_until_utc_midnight,
)
from leadeval.errors import (
    ConfigurationError,
    DocumentUnreadable,
    LeadevalError,
    ModelRejected,
    ModelTimeout,
    ModelUnavailableError,
    ThrottledError,
)
from leadeval.models import ModelUsage

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger(__name__)

DEFAULT_RETRY_AFTER_SECONDS = 60.0
"""Snooze when a 429 / 3040 carries no usable ``retry-after`` header (seconds)."""

#: Workers AI: "Model Agreement … User has not agreed to Llama3.2 model terms" (HTTP 403).
LICENCE_CODE = 5016
#: Workers AI: "Account limited" — the free 10,000 neurons/day are spent; resets 00:00 UTC.
DAILY_ALLOWANCE_CODE = 3036
#: Workers AI: "Out of capacity" (HTTP 429).
CAPACITY_CODE = 3040
#: Workers AI: timeout / aborted (HTTP 408).
TIMEOUT_CODES = frozenset({3007, 3008})
#: Workers AI: "Request is too large" (HTTP 413).
TOO_LARGE_CODE = 3006
#: OpenAI: 429 whose cause is billing, not rate (retrying cannot help until someone pays).
QUOTA_CODES = frozenset({"insufficient_quota"})

_CODE_NAMES: dict[int | str, str] = {
    5016: "model licence not accepted",
    10000: "authentication error",
    9109: "invalid access token",
    3036: "daily allowance spent",
    3040: "out of capacity",
    3007: "timeout",
    3008: "aborted",
    3006: "request too large",
    5007: "no such model",
    5004: "invalid data",
    3003: "incomplete request",
    3023: "account blocked",
    3030: "image could not be attached",
    3042: "invalid model id",
    5025: "JSON schema not supported",
    971: "API rate limit",
    10429: "API rate limit",
}


@dataclass(frozen=True)
class ErrorDetails:
    """What an error response says, read from either envelope.

    Cloudflare v4: ``{"success": false, "errors": [{"code": 5016, "message": "…"}]}``.
    OpenAI-style: ``{"error": {"message": "…", "type": "…", "code": "…" | int | null}}``;
    vLLM also answers ``{"object": "error", "message": "…", "type": "…", "code": 400}``.

    Attributes:
        codes: provider codes, in order (ints for Cloudflare; OpenAI codes may be strings).
        type: the OpenAI-style error ``type`` (an identifier such as ``invalid_request_error``).
        message: the provider's free text. For classification hints only (never copied into
            an exception message or a log: it may echo the request).
    """

    codes: tuple[int | str, ...] = ()
    type: str | None = None
    message: str = ""
    params: tuple[str, ...] = field(default=())


def _as_code(value: Any) -> int | str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text:
        return None
    return int(text) if text.isdigit() else text


def error_details(body: Any) -> ErrorDetails:
    """Read codes, type and message from a decoded error body of either envelope.

    Args:
        body: the decoded JSON body (any shape; non-dicts give empty details).

    Returns:
        ErrorDetails (empty when the body names no error).
    """
    if not isinstance(body, Mapping):
        return ErrorDetails()
    codes: list[int | str] = []
    messages: list[str] = []
    params: list[str] = []
    err_type: str | None = None
    cloudflare_codes, cloudflare_messages = envelope_errors(body)
    codes.extend(cloudflare_codes)
    messages.extend(cloudflare_messages)
    err = body.get("error")
    if isinstance(err, Mapping):
        code = _as_code(err.get("code"))
        if code is not None:
            codes.append(code)
        if err.get("type"):
            err_type = str(err["type"])
        if err.get("message"):
            messages.append(str(err["message"]))
        if err.get("param"):
            params.append(str(err["param"]))
    elif isinstance(err, str):
        messages.append(err)
    if body.get("object") == "error":
        code = _as_code(body.get("code"))
        if code is not None:
            codes.append(code)
        if body.get("type"):
            err_type = str(body["type"])
        if body.get("message"):
            messages.append(str(body["message"]))
        if body.get("param"):
            params.append(str(body["param"]))
    return ErrorDetails(codes=tuple(codes), type=err_type, message=" | ".join(messages),
                        params=tuple(params))


def _describe(provider: str, status: int | None, details: ErrorDetails) -> str:
    parts = [provider]
    if status is not None:
        parts.append(f"HTTP {status}")
    for code in details.codes:
        name = _CODE_NAMES.get(code)
        parts.append(f"code {code}" + (f" ({name})" if name else ""))
    if details.type:
        parts.append(f"type {details.type}")
    return " ".join(parts)


def classify_error(
    status: int | None,
    details: ErrorDetails | None = None,
    *,
    provider: str = "model",
    retry_after: str | None = None,
    token_variable: str | None = None,
    licence_help: str | None = None,
    now: datetime | None = None,
) -> LeadevalError:
    """Map an error answer to the leadeval exception to raise (the table in the module docstring).

    Args:
        status: the HTTP status (None when there was no HTTP answer).
        details: codes/type read from the body with :func:`error_details`.
        provider: a short label for messages (``"workers-ai"``, ``"openai"``).
        retry_after: the raw ``retry-after`` header, if any.
        token_variable: the environment variable holding the credential (named in auth errors).
        licence_help: how to accept the model licence (used in the 5016 message).
        now: the current time, for 3036 (seconds until 00:00 UTC) and HTTP-date headers.

    Returns:
        The exception instance (not raised): ConfigurationError, ThrottledError, ModelTimeout,
        DocumentUnreadable, ModelUnavailableError or ModelRejected.
    """
    details = details or ErrorDetails()
    codes = set(details.codes)
    what = _describe(provider, status, details)
    if LICENCE_CODE in codes:
        help_text = licence_help or "send {\"prompt\": \"agree\"} once to the model"
        return ConfigurationError(f"{what}: the model's licence has not been accepted on this account. "
                                  f"{help_text}")
    if DAILY_ALLOWANCE_CODE in codes:
        wait = seconds_until_utc_midnight(now)
        return ThrottledError(f"{what}: retry after the 00:00 UTC reset ({wait:.0f} s)", retry_after=wait)
    if codes & QUOTA_CODES:
        return ConfigurationError(f"{what}: the account's quota or billing must be fixed")
    if status == 429 or CAPACITY_CODE in codes or codes & API_BLOCK_CODES:
        default = API_BLOCK_SECONDS if codes & API_BLOCK_CODES else DEFAULT_RETRY_AFTER_SECONDS
        wait = parse_retry_after(retry_after, default=default, now=now)
        return ThrottledError(f"{what}: retry after {wait:.0f} s", retry_after=wait)
    if status == 401 or codes & AUTH_CODES:
        return ConfigurationError(f"{what}: the credential was refused; check {token_variable or 'the key'}",
                                  variable=token_variable)
    if status == 403:
        return ConfigurationError(f"{what}: the account or token is not allowed to use this model",
                                  variable=token_variable if not codes else None)
    if status == 408 or codes & TIMEOUT_CODES:
        return ModelTimeout(f"{what}: the model timed out")
    if status == 413 or TOO_LARGE_CODE in codes:
        return DocumentUnreadable("document too large for the model")
    if status is not None and 500 <= status <= 599:
        return ModelUnavailableError(f"{what}: the model service failed")
    if status is not None and 400 <= status <= 499:
        return ModelRejected(f"{what}: the model rejected the request")
    return ModelUnavailableError(f"{what}: unexpected answer")


def error_from_response(response: httpx.Response, **kwargs: Any) -> LeadevalError:
    """:func:`classify_error` for an ``httpx.Response`` (status, body codes, ``retry-after``).

    Keyword arguments are passed on to :func:`classify_error` (``provider``, ``token_variable``,
    ``licence_help``, ``now``).
    """
    try:
        body = response.json()
    except ValueError:
        body = None
    return classify_error(response.status_code, error_details(body),
                          retry_after=response.headers.get("retry-after"), **kwargs)


def error_from_transport(exc: Exception, *, provider: str = "model") -> LeadevalError:
    """Map an httpx exception raised while sending to a leadeval error.

    ``httpx.TimeoutException`` → ModelTimeout; ``UnsupportedProtocol`` / ``InvalidURL`` →
    ConfigurationError (the base URL is wrong); other ``httpx.TransportError`` (connect, read,
    protocol) → ModelUnavailableError.
    """
    import httpx

    name = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return ModelTimeout(f"{provider}: no answer in time ({name})")
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return ConfigurationError(f"{provider}: the model URL is not usable ({name})")
    return ModelUnavailableError(f"{provider}: could not reach the model ({name})")


def post_json(client: httpx.Client, url: str, payload: Mapping[str, Any], *,
              headers: Mapping[str, str], timeout: float, provider: str) -> httpx.Response:
    """POST ``payload`` as JSON and return the response, whatever its status.

    Args:
        timeout: seconds for the whole request (read/write/pool); connect is capped at 10 s.

    Raises:
        ModelTimeout, ModelUnavailableError, ConfigurationError: transport failures
        (see :func:`error_from_transport`). HTTP error statuses are NOT raised here.
    """
    import httpx

    try:
        return client.post(url, json=dict(payload), headers=dict(headers),
                           timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)))
    except (httpx.TransportError, httpx.InvalidURL) as exc:
        logger.warning("model request failed: provider=%s error=%s", provider, type(exc).__name__)
        raise error_from_transport(exc, provider=provider) from exc


def json_body(response: httpx.Response, *, provider: str) -> dict[str, Any]:
    """The decoded JSON object of a 2xx response.

    Raises:
        ModelUnavailableError: the body is not a JSON object (a proxy's HTML page, a cut body).
    """
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ModelUnavailableError(f"{provider} HTTP {response.status_code}: the body is not a JSON object")
    return body


_IMAGE_MAGIC: Sequence[tuple[bytes, str]] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)


def image_data_url(data: bytes) -> str:
    """A ``data:`` URL for one page image (RFC 2397), base64-encoded.

    Prepared page images are JPEG; PNG and WebP bytes are labelled as such so a
    caller passing them is not mislabelled. Anything else is labelled ``image/jpeg``.
    """
    media = "image/jpeg"
    for magic, kind in _IMAGE_MAGIC:
        if data.startswith(magic):
            media = kind
            break
    else:
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            media = "image/webp"
    return f"data:{media};base64,{base64.b64encode(data).decode('ascii')}"


def owned_client(timeout_seconds: float) -> httpx.Client:
    """A new ``httpx.Client`` for an adapter given none (built on first use, never at import)."""
    import httpx

    return httpx.Client(timeout=httpx.Timeout(timeout_seconds, connect=min(10.0, timeout_seconds)))


def usage_from(value: Any) -> ModelUsage:
    """``{"prompt_tokens": n, "completion_tokens": m, …}`` (both APIs' shape) to ModelUsage;
    a missing block or odd values count as 0."""
    if not isinstance(value, Mapping):
        return ModelUsage()

    def count(key: str) -> int:
        try:
            return max(0, int(value.get(key) or 0))
        except (TypeError, ValueError):
            return 0

    return ModelUsage(prompt_tokens=count("prompt_tokens"), completion_tokens=count("completion_tokens"))


Clock = Callable[[], datetime]
"""Returns the current time as an aware UTC datetime."""
