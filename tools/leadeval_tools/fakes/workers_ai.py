"""In-process fakes of the Workers AI and OpenAI-compatible HTTP APIs, for ``httpx.MockTransport``.

Each fake is a callable ``(httpx.Request) -> httpx.Response`` that

* validates the request strictly (path, credentials, body keys, exactly one image as a data URL,
  system + user messages, ``max_tokens`` set, ``temperature`` 0) and raises ``AssertionError``
  when it is wrong, so a test using it fails loudly;
* records every request (:attr:`requests`, :attr:`calls`);
* answers from a script of :class:`FakeReply` (first in, first out), built with
  :func:`answer`, :func:`cf_error`, :func:`openai_error`, :func:`transport_error`, or taken from
  the recorded-shape tables :data:`ANSWERS`, :data:`WORKERS_AI_ERRORS` and :data:`OPENAI_ERRORS`.

Default answer, when the script is empty (:func:`default_answer`): the fake cannot see images, so
it reads the FIRST user turn's text. ``document_kind`` comes from keywords in it (bank statement,
pay stub, ID, tax form, employment letter, benefit letter; else ``other``). A pay stub — and any
request with an image and no text — gets the fixed pay stub :data:`PAY_STUB_FACTS`; other kinds
get ``{"document_kind": kind}`` only. The answer is bare JSON; usage is ~characters/4.

Usage::

    fake = FakeWorkersAI(replies=[answer(ANSWERS["truncated_json"]), answer(ANSWERS["bare_json"])])
    model = fake.vision_model()          # a WorkersAIVisionModel wired to the fake
    extraction = model.extract(document)
    assert fake.calls == 2
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from leadeval.adapters.ai.offline import classify

# --------------------------------------------------------------------------- canned answers

PAY_STUB_FACTS: dict[str, Any] = {
    "document_kind": "pay_stub",
    "names_shown": ["Jordan Sample"],
    "employer": "Acme Widgets LLC",
    "pay_period_start": "2026-01-01",
    "pay_period_end": "2026-01-15",
    "pay_date": "2026-01-20",
    "pay_frequency": "semimonthly",
    "gross_pay": 2500.00,
    "net_pay": 1912.50,
    "total_deductions": 587.50,
    "ytd_gross": 2500.00,
    "tampering_signals": [],
}
"""The fixed pay-stub extraction of the default answer (fictional data; net = gross − deductions)."""

_BARE = json.dumps(PAY_STUB_FACTS)
_PRETTY = json.dumps(PAY_STUB_FACTS, indent=2)

ANSWERS: dict[str, str | None] = {
    # valid after tolerant parsing
    "bare_json": _BARE,
    "fenced_json_with_prose": ("Here is the extracted information in JSON format:\n\n```json\n"
                               f"{_PRETTY}\n```\n\nLet me know if you need anything else."),
    "fenced_no_language": f"```\n{_PRETTY}\n```",
    "prose_around_json": f"Sure! The document is a pay stub. {_BARE} I hope this helps.",
    # invalid
    "truncated_json": _PRETTY[: len(_PRETTY) * 3 // 5],  # max_tokens hit mid-object
    "empty": "",
    "whitespace": " \n\t ",
    "null": None,
    "prose_only": "I'm sorry, but I can't read this document.",
    "extra_key": json.dumps({**PAY_STUB_FACTS, "score": 100}),
    "wrong_type": json.dumps({**PAY_STUB_FACTS, "gross_pay": "two thousand"}),
}
"""Model answers in the shapes seen from Llama 3.2 Vision and chat servers, by scenario."""

VALID_ANSWERS = frozenset({"bare_json", "fenced_json_with_prose", "fenced_no_language", "prose_around_json"})
"""Keys of :data:`ANSWERS` that parse to :data:`PAY_STUB_FACTS`; the others are invalid."""


# --------------------------------------------------------------------------- replies


@dataclass(frozen=True)
class FakeReply:
    """One scripted reply.

    Attributes:
        status: HTTP status.
        answer: for a success reply, the model's text (None = a null answer).
        body: for an error reply, the JSON body sent as is (overrides ``answer``).
        raw: a non-JSON body (bytes) sent as is (overrides both).
        headers: response headers (e.g. ``{"retry-after": "17"}``).
        prompt_tokens / completion_tokens: usage to report (None = ~characters / 4).
        truncated: OpenAI ``finish_reason: "length"`` (the answer was cut by max_tokens).
        raises: builds an httpx exception to raise instead of answering (timeouts, connect errors).
    """

    status: int = 200
    answer: str | None = None
    body: Any = None
    raw: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    truncated: bool = False
    raises: Callable[[httpx.Request], Exception] | None = None


def answer(text: str | None, *, prompt_tokens: int | None = None, completion_tokens: int | None = None,
           truncated: bool = False) -> FakeReply:
    """A successful reply whose model answer is ``text`` (None → a null answer)."""
    return FakeReply(answer=text, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                     truncated=truncated)


def cf_error(status: int, code: int, message: str, *, retry_after: str | None = None) -> FakeReply:
    """A Cloudflare v4 error envelope: ``{"result": null, "success": false, "errors": [{code, message}]}``."""
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    return FakeReply(status=status, headers=headers, body={
        "result": None, "success": False, "errors": [{"code": code, "message": message}], "messages": []})


def openai_error(status: int, message: str, *, type: str = "invalid_request_error",
                 code: str | int | None = None, param: str | None = None,
                 retry_after: str | None = None) -> FakeReply:
    """An OpenAI-style error body: ``{"error": {"message", "type", "param", "code"}}``."""
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    return FakeReply(status=status, headers=headers,
                     body={"error": {"message": message, "type": type, "param": param, "code": code}})


def transport_error(kind: type[httpx.TransportError], message: str = "fake transport failure") -> FakeReply:
    """A reply that raises ``kind`` (e.g. ``httpx.ReadTimeout``, ``httpx.ConnectError``)."""
    return FakeReply(raises=lambda request: kind(message, request=request))


WORKERS_AI_ERRORS: dict[str, FakeReply] = {
    "rate_limited_429": cf_error(429, 971, "Please wait and consider throttling your request speed",
                                 retry_after="17"),
    "out_of_capacity_3040": cf_error(429, 3040, "AiError: Capacity temporarily exceeded, please try again."),
    "daily_allowance_3036": cf_error(429, 3036, "AiError: You have used up your daily free allocation of "
                                                "10,000 neurons, please upgrade to Cloudflare's Workers "
                                                "Paid plan if you would like to continue usage."),
    "licence_5016": cf_error(403, 5016, "AiError: 5016: Prior to using this model, you must submit the "
                                        "prompt 'agree'."),
    "auth_10000": cf_error(401, 10000, "Authentication error"),
    "auth_9109": cf_error(403, 9109, "Invalid access token"),
    "server_error_7500": cf_error(500, 7500, "internal error; reference = 0123456789abcdef"),
    "bad_gateway_502": FakeReply(status=502, raw=b"<html><body>502 Bad Gateway</body></html>",
                                 headers={"content-type": "text/html"}),
    "timeout_3007": cf_error(408, 3007, "AiError: Request timeout"),
    "too_large_3006": cf_error(413, 3006, "AiError: Request is too large"),
    "no_such_model_5007": cf_error(400, 5007, "AiError: No such model @cf/meta/nope or task"),
    "image_not_attached_3030": cf_error(400, 3030, "AiError: Unable to add image when there are no "
                                                   "user-supplied nor system-supplied messages"),
    "read_timeout": transport_error(httpx.ReadTimeout, "timed out"),
    "connect_error": transport_error(httpx.ConnectError, "connection refused"),
}
"""Workers AI error replies as recorded from the API's documented shapes (error table, §3.7)."""

OPENAI_ERRORS: dict[str, FakeReply] = {
    "rate_limited_429": openai_error(429, "Rate limit reached for requests", type="requests",
                                     code="rate_limit_exceeded", retry_after="17"),
    "insufficient_quota_429": openai_error(429, "You exceeded your current quota", type="insufficient_quota",
                                           code="insufficient_quota"),
    "auth_401": openai_error(401, "Incorrect API key provided", type="invalid_request_error",
                             code="invalid_api_key"),
    "forbidden_403": openai_error(403, "Project does not have access to model", type="invalid_request_error",
                                  code="model_not_found"),
    "server_error_500": openai_error(500, "The server had an error while processing your request",
                                     type="server_error"),
    "unavailable_503": openai_error(503, "The engine is currently overloaded", type="server_error"),
    "timeout_408": openai_error(408, "Request timed out", type="timeout"),
    "too_large_413": openai_error(413, "Request too large", type="invalid_request_error"),
    "bad_request_400": openai_error(400, "model 'nope' not found, try pulling it first", type="api_error"),
    "vllm_bad_request_400": FakeReply(status=400, body={"object": "error", "message": "bad input",
                                                        "type": "BadRequestError", "param": None, "code": 400}),
    "read_timeout": transport_error(httpx.ReadTimeout, "timed out"),
    "connect_error": transport_error(httpx.ConnectError, "connection refused"),
}
"""OpenAI-compatible error replies (OpenAI, Ollama and vLLM body shapes)."""


# --------------------------------------------------------------------------- default answer


def _first_user_text(messages: list[dict[str, Any]]) -> str:
    for message in messages:
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(str(p.get("text", "")) for p in content
                                if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _document_text(user_text: str) -> str:
    """The fenced document text of a user turn (the part between the document_text tags)."""
    match = re.search(r"<document_text>(.*)</document_text>", user_text, re.DOTALL)
    return match.group(1) if match else ""


def default_answer(messages: list[dict[str, Any]], *, has_image: bool) -> str:
    """The fake's answer when its script is empty (see the module docstring).

    Args:
        messages: the request's messages (the first user turn is read).
        has_image: whether the request carried an image.
    """
    text = _document_text(_first_user_text(messages))
    # The document's kind as leadeval's own registry recognises it (the offline reader's markers): the fake
    # answers like a model that read the same words.
    kind = classify(text).value
    if kind == "pay_stub" or (not text.strip() and has_image):
        return json.dumps(PAY_STUB_FACTS)
    return json.dumps({"document_kind": kind})


# --------------------------------------------------------------------------- recorded requests


@dataclass(frozen=True)
class RecordedRequest:
    """One request a fake received: method, path, headers (lower-case names) and decoded body."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The request's ``messages``."""
        return list(self.body.get("messages", []))

    @property
    def user_text(self) -> str:
        """The text of the first user turn (text parts joined for content-part lists)."""
        return _first_user_text(self.messages)

    @property
    def images(self) -> list[str]:
        """Every image data URL the request carried (top-level ``image`` and ``image_url`` parts)."""
        urls = [self.body["image"]] if "image" in self.body else []
        for message in self.messages:
            content = message.get("content")
            if isinstance(content, list):
                urls.extend((part.get("image_url") or {}).get("url") for part in content
                            if isinstance(part, dict) and part.get("type") == "image_url")
        return urls


_DATA_URL = re.compile(r"^data:(image/[-\w.+]+);base64,([A-Za-z0-9+/=\s]+)$")
_MAGIC = {"image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG\r\n\x1a\n"}


def check_image_data_url(url: Any) -> bytes:
    """Assert ``url`` is an image data URL whose bytes match its media type; return the bytes."""
    assert isinstance(url, str), f"image must be a data URL string, got {type(url).__name__}"
    match = _DATA_URL.match(url)
    assert match, "image must be 'data:image/<type>;base64,<data>'"
    media, data = match.groups()
    try:
        raw = base64.b64decode(data, validate=True)
    except binascii.Error as exc:  # pragma: no cover - message only
        raise AssertionError("image data is not valid base64") from exc
    assert raw, "image data is empty"
    magic = _MAGIC.get(media)
    assert magic is None or raw.startswith(magic), f"image bytes are not {media}"
    return raw


class _FakeAPI:
    """Script, recording and envelope plumbing shared by both fakes."""

    def __init__(self, replies: Iterable[FakeReply] = ()) -> None:
        self.script: deque[FakeReply] = deque(replies)
        self.requests: list[RecordedRequest] = []
        self.echo_requests = False
        """When True, every error answer's messages end with the request's ``Authorization`` header and the
        start of its body, as an echoing proxy or a careless server would answer (no token may reach an
        error, a log line or the CLI's output)."""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Answer one request (each fake implements it)."""
        raise NotImplementedError

    @property
    def calls(self) -> int:
        """Requests received so far (valid ones; an invalid request raises before it is counted)."""
        return len(self.requests)

    def push(self, *replies: FakeReply) -> None:
        """Append replies to the script."""
        self.script.extend(replies)

    @property
    def transport(self) -> httpx.MockTransport:
        """An ``httpx.MockTransport`` serving this fake."""
        return httpx.MockTransport(self)

    def client(self) -> httpx.Client:
        """A new ``httpx.Client`` whose requests go to this fake."""
        return httpx.Client(transport=self.transport)

    def _decode(self, request: httpx.Request) -> tuple[dict[str, str], dict[str, Any]]:
        assert request.method == "POST", f"expected POST, got {request.method}"
        headers = {k.lower(): v for k, v in request.headers.items()}
        assert headers.get("content-type", "").startswith("application/json"), "body must be JSON"
        try:
            body = json.loads(request.content)
        except ValueError as exc:
            raise AssertionError("request body is not JSON") from exc
        assert isinstance(body, dict), "request body must be a JSON object"
        return headers, body

    @staticmethod
    def _check_common(body: dict[str, Any]) -> None:
        assert isinstance(body.get("max_tokens"), int) and not isinstance(body["max_tokens"], bool), \
            "max_tokens must be set explicitly (the default truncates JSON)"
        assert body["max_tokens"] > 0, "max_tokens must be positive"
        assert body.get("temperature") == 0, "temperature must be 0"
        messages = body.get("messages")
        assert isinstance(messages, list) and len(messages) >= 2, "messages must hold system + user turns"
        assert messages[0].get("role") == "system", "the first message must be the system turn"
        assert isinstance(messages[0].get("content"), str) and messages[0]["content"].strip(), \
            "the system turn must have text"
        roles = [m.get("role") for m in messages]
        assert "user" in roles[1:], "a user turn is required"
        assert set(roles[1:]) <= {"user", "assistant"}, f"unexpected roles {roles}"
        assert roles[-1] == "user", "the last turn must be the user's"

    def _next(self, request: httpx.Request, messages: list[dict[str, Any]],
              has_image: bool) -> FakeReply:
        reply = self.script.popleft() if self.script else answer(default_answer(messages, has_image=has_image))
        if reply.raises is not None:
            raise reply.raises(request)
        return reply

    @staticmethod
    def _usage(reply: FakeReply, messages: list[dict[str, Any]], text: str | None) -> dict[str, int]:
        chars = sum(len(json.dumps(m.get("content"))) for m in messages)
        prompt = reply.prompt_tokens if reply.prompt_tokens is not None else chars // 4 + 1
        completion = (reply.completion_tokens if reply.completion_tokens is not None
                      else len(text or "") // 4)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def _error_response(self, reply: FakeReply, request: httpx.Request | None = None) -> httpx.Response | None:
        if reply.raw is not None:
            raw = reply.raw
            if self.echo_requests and request is not None:
                raw += self._echo(request).encode()
            return httpx.Response(reply.status, content=raw, headers=dict(reply.headers))
        if reply.body is not None:
            body = reply.body
            if self.echo_requests and request is not None:
                body = _with_echo(body, self._echo(request))
            return httpx.Response(reply.status, json=body, headers=dict(reply.headers))
        return None

    @staticmethod
    def _echo(request: httpx.Request) -> str:
        return (f" (request: {request.method} {request.url} authorization={request.headers.get('authorization')}"
                f" body={request.content.decode('utf-8', 'replace')[:200]})")


def _with_echo(body: Any, echo: str) -> Any:
    """A copy of an error body whose messages (Cloudflare ``errors[].message``, OpenAI ``error.message``,
    vLLM's top-level ``message``) end with ``echo``."""
    body = json.loads(json.dumps(body))
    if isinstance(body, dict):
        for item in body.get("errors") or []:
            if isinstance(item, dict):
                item["message"] = f"{item.get('message', '')}{echo}"
        if isinstance(body.get("error"), dict):
            body["error"]["message"] = f"{body['error'].get('message') or ''}{echo}"
        if "message" in body:
            body["message"] = f"{body['message']}{echo}"
    return body


class FakeWorkersAI(_FakeAPI):
    """A fake of Workers AI's native ``POST /accounts/{account_id}/ai/run/{model}``.

    Validates: POST to ``…/accounts/{account_id}/ai/run/{model}`` (not ``/ai/v1``), ``Authorization:
    Bearer {api_token}``, body keys ⊆ {messages, image, max_tokens, temperature} (no ``prompt``,
    no ``response_format``: the model has no JSON mode), string message contents (no image parts:
    the one image goes in ``image``), ``image`` absent or ONE data URL string whose bytes match
    its media type, ``max_tokens`` set, ``temperature`` 0.

    Answers ``{"result": {"response": text, "usage": {…}}, "success": true, "errors": [],
    "messages": []}`` or the scripted error.
    """

    ALLOWED_KEYS = frozenset({"messages", "image", "max_tokens", "temperature"})

    def __init__(self, replies: Iterable[FakeReply] = (), *, account_id: str = "acct-test",
                 api_token: str = "test-token",
                 model: str = "@cf/meta/llama-3.2-11b-vision-instruct") -> None:
        super().__init__(replies)
        self.account_id = account_id
        self.api_token = api_token
        self.model = model

    def vision_model(self, **kwargs: Any) -> Any:
        """A ``WorkersAIVisionModel`` wired to this fake (kwargs override the defaults; pass
        ``client=None`` to let the adapter build its own)."""
        from leadeval.adapters.ai.workers_ai import WorkersAIVisionModel

        options: dict[str, Any] = {"account_id": self.account_id, "api_token": self.api_token,
                                   "model": self.model}
        options.update(kwargs)
        if "client" not in kwargs:
            options["client"] = self.client()
        return WorkersAIVisionModel(**options)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Validate, record and answer one request."""
        path = request.url.path
        assert "/ai/v1" not in path, "use the native /ai/run endpoint: /ai/v1 rejects images for this model"
        expected = f"/accounts/{self.account_id}/ai/run/{self.model}"
        assert path.endswith(expected), f"unexpected path {path!r}, expected …{expected}"
        headers, body = self._decode(request)
        assert headers.get("authorization") == f"Bearer {self.api_token}", "wrong or missing bearer token"
        unknown = set(body) - self.ALLOWED_KEYS
        assert not unknown, f"unexpected body keys {sorted(unknown)}"
        self._check_common(body)
        for message in body["messages"]:
            assert isinstance(message.get("content"), str), \
                "Workers AI message content must be a string (the image goes in 'image')"
        has_image = "image" in body
        if has_image:
            check_image_data_url(body["image"])
        self.requests.append(RecordedRequest(request.method, path, headers, body))
        reply = self._next(request, body["messages"], has_image)
        error = self._error_response(reply, request)
        if error is not None:
            return error
        return httpx.Response(reply.status, headers=dict(reply.headers), json={
            "result": {"response": reply.answer, "tool_calls": [],
                       "usage": self._usage(reply, body["messages"], reply.answer)},
            "success": True, "errors": [], "messages": [],
        })


class FakeOpenAICompatible(_FakeAPI):
    """A fake of an OpenAI-compatible ``POST {base}/chat/completions`` (OpenAI, Ollama, vLLM).

    Validates: path ends in ``/chat/completions``; ``Authorization: Bearer {api_key}`` when the fake
    has a key, and no Authorization header when it has none; body keys ⊆ {model, messages,
    temperature, max_tokens, response_format}; ``model`` matches; ``response_format`` absent or
    ``{"type": "json_object"}``; at most ONE ``image_url`` part in the whole conversation, a data
    URL whose bytes match its media type; ``max_tokens`` set; ``temperature`` 0.

    With ``reject_response_format=True`` it answers any request carrying ``response_format`` with
    a 400 naming it (a server without JSON mode), without using the script.
    """

    ALLOWED_KEYS = frozenset({"model", "messages", "temperature", "max_tokens", "response_format"})

    def __init__(self, replies: Iterable[FakeReply] = (), *, model: str = "llama3.2-vision",
                 api_key: str | None = None, base_url: str = "http://fake-openai.test/v1",
                 reject_response_format: bool = False) -> None:
        super().__init__(replies)
        self.model = model
        self.api_key = api_key
        self.base_url = base_url
        self.reject_response_format = reject_response_format
        self.rejected_response_format = 0

    def vision_model(self, **kwargs: Any) -> Any:
        """An ``OpenAICompatibleVisionModel`` wired to this fake (kwargs override the defaults)."""
        from leadeval.adapters.ai.openai_compat import OpenAICompatibleVisionModel

        options: dict[str, Any] = {"base_url": self.base_url, "model": self.model, "api_key": self.api_key}
        options.update(kwargs)
        if "client" not in kwargs:
            options["client"] = self.client()
        return OpenAICompatibleVisionModel(**options)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Validate, record and answer one request."""
        path = request.url.path
        assert path.endswith("/chat/completions"), f"unexpected path {path!r}"
        headers, body = self._decode(request)
        if self.api_key:
            assert headers.get("authorization") == f"Bearer {self.api_key}", "wrong or missing API key"
        else:
            assert "authorization" not in headers, "no Authorization header expected without an API key"
        unknown = set(body) - self.ALLOWED_KEYS
        assert not unknown, f"unexpected body keys {sorted(unknown)}"
        assert body.get("model") == self.model, f"model {body.get('model')!r} != {self.model!r}"
        if "response_format" in body:
            assert body["response_format"] == {"type": "json_object"}, "response_format must be json_object"
        self._check_common(body)
        images = 0
        for message in body["messages"]:
            content = message.get("content")
            if isinstance(content, str):
                continue
            assert isinstance(content, list) and content, "content must be a string or a list of parts"
            for part in content:
                assert part.get("type") in {"text", "image_url"}, f"unexpected part type {part.get('type')}"
                if part["type"] == "image_url":
                    images += 1
                    check_image_data_url((part.get("image_url") or {}).get("url"))
                else:
                    assert isinstance(part.get("text"), str), "text parts need text"
        assert images <= 1, f"exactly one image per request, got {images}"
        self.requests.append(RecordedRequest(request.method, path, headers, body))
        if self.reject_response_format and "response_format" in body:
            self.rejected_response_format += 1
            return httpx.Response(400, json={"error": {
                "message": "response_format is not supported by this model", "type": "invalid_request_error",
                "param": "response_format", "code": None}})
        reply = self._next(request, body["messages"], images > 0)
        error = self._error_response(reply, request)
        if error is not None:
            return error
        return httpx.Response(reply.status, headers=dict(reply.headers), json={
            "id": f"chatcmpl-fake-{len(self.requests)}",
            "object": "chat.completion",
            "created": 1767225600,
            "model": self.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.answer},
                         "finish_reason": "length" if reply.truncated else "stop"}],
            "usage": self._usage(reply, body["messages"], reply.answer),
        })
