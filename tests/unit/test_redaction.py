"""Errors never carry a provider's text where it may echo credentials (issue 10: a D1 endpoint echoing the
request printed ``Bearer <token>``).

Fakes of D1 and of both vision-model APIs answer errors that echo the request (``echo_requests``); the token
must appear in no exception message, no log line, no stored job error and no CLI output.
"""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from leadeval.adapters.jobstore.d1 import D1JobStore, sql_error_summary
from leadeval.errors import (
    ConfigurationError,
    LeadevalError,
    ProcessingError,
    StoreUnavailableError,
    ThrottledError,
    redact,
)
from leadeval.models import PreparedDocument
from leadeval.observability import logger as powertools_logger
from leadeval_tools.fakes.d1 import FakeD1
from leadeval_tools.fakes.workers_ai import WORKERS_AI_ERRORS, FakeOpenAICompatible, FakeWorkersAI, openai_error

TOKEN = "sekrit-TOKEN-9f8e7d6c5b4a"
BASE = "https://d1.test/client/v4"


@pytest.fixture(name="log_stream")
def _log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    package = logging.getLogger("leadeval")
    level = package.level
    package.setLevel(logging.DEBUG)
    previous = powertools_logger.registered_handler.setStream(stream)
    try:
        yield stream
    finally:
        powertools_logger.registered_handler.setStream(previous)
        package.setLevel(level)


# ----------------------------------------------------------------------------- redact()


@pytest.mark.parametrize(("text", "expected"), [
    ("Authorization: Bearer abc.DEF-123", "Authorization: Bearer [REDACTED]"),
    ('{"authorization": "Bearer tok_123456"}', '{"authorization": "Bearer [REDACTED]"}'),
    ("echo: authorization=Bearer x1y2z3w4 body={}", "echo: authorization=Bearer [REDACTED] body={}"),
    ("sent Bearer abcdefgh to the API", "sent Bearer [REDACTED] to the API"),
    ("postgresql://app:hunter2@db.internal:5432/leads", "postgresql://app:[REDACTED]@db.internal:5432/leads"),
    ("GET /v1?api_key=abcd1234&x=1", "GET /v1?api_key=[REDACTED]&x=1"),
    ('{"api_token": "abc", "n": 1}', '{"api_token": "[REDACTED]", "n": 1}'),
    ("CLOUDFLARE_API_TOKEN=abcdef", "CLOUDFLARE_API_TOKEN=[REDACTED]"),
    ("key AKIAABCDEFGHIJKLMNOP used", "key [REDACTED] used"),
])
def test_redact_replaces_credentials(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize("text", [
    "D1 HTTP 401 code 10000: the API token was refused; check CLOUDFLARE_API_TOKEN (it needs D1 Read and D1 Write)",
    '{"prompt_tokens":120,"completion_tokens":40,"token_variable":"CLOUDFLARE_D1_API_TOKEN"}',
    "password authentication failed for user \"leadeval\"",
    'curl … -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" -d \'{"prompt":"agree"}\'',
])
def test_redact_leaves_ordinary_messages_alone(text: str) -> None:
    assert redact(text) == text


def test_error_messages_are_redacted_at_construction() -> None:
    error = StoreUnavailableError(f"upstream said: Authorization: Bearer {TOKEN}")
    assert TOKEN not in error.message and TOKEN not in str(error)


def test_log_lines_are_redacted_whatever_field_carries_the_secret(log_stream: io.StringIO) -> None:
    log = logging.getLogger("leadeval.test")
    log.warning(f"got Authorization: Bearer {TOKEN}", extra={"header": f"Bearer {TOKEN}"})
    try:
        raise RuntimeError(f"api_key={TOKEN}")
    except RuntimeError:
        log.exception("failed")
    text = log_stream.getvalue()
    assert TOKEN not in text and text.count("[REDACTED]") >= 3
    assert all(json.loads(line) for line in text.splitlines())  # still valid JSON


# ----------------------------------------------------------------------------- D1


@pytest.fixture(name="echoing_d1")
def _echoing_d1(tmp_path: Path) -> Iterator[tuple[FakeD1, D1JobStore]]:
    fake = FakeD1(tmp_path / "d1.db", account_id="acct", database_id="db", api_token=TOKEN, echo_requests=True)
    store = D1JobStore(account_id="acct", database_id="db", api_token=TOKEN, base_url=BASE,
                       client=httpx.Client(transport=httpx.MockTransport(fake)))
    yield fake, store
    store.close()
    fake.close()


def test_the_fake_really_echoes_the_token(echoing_d1: tuple[FakeD1, D1JobStore]) -> None:
    """The fixture is hostile: its error answers do carry the bearer token."""
    fake, _ = echoing_d1
    fake.fail_next(status=400)
    response = httpx.Client(transport=httpx.MockTransport(fake)).post(
        f"{BASE}/accounts/acct/d1/database/db/query", json={"sql": "SELECT 1"},
        headers={"Authorization": f"Bearer {TOKEN}"})
    assert f"Bearer {TOKEN}" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(("fault", "error_type"), [
    ({"status": 400}, ProcessingError),                                   # SQL error (7500, syntax)
    ({"status": 400, "code": 7500, "message": "UNIQUE constraint failed: t.id: SQLITE_CONSTRAINT"},
     ProcessingError),
    ({"status": 400, "code": 7400, "message": "The request is malformed"}, ProcessingError),
    ({"status": 500}, StoreUnavailableError),                             # internal error; reference = …
    ({"status": 500, "code": 7500, "message": "Network connection lost."}, StoreUnavailableError),
    ({"status": 503, "code": 1000, "message": "upstream"}, StoreUnavailableError),
    ({"status": 401}, ConfigurationError),
    ({"status": 429}, ThrottledError),
    ({"status": 200, "code": 1, "message": "Your daily limit is exceeded"}, ThrottledError),
])
def test_d1_errors_from_an_echoing_endpoint_carry_no_token(echoing_d1: tuple[FakeD1, D1JobStore],
                                                           log_stream: io.StringIO, fault: dict,
                                                           error_type: type[LeadevalError]) -> None:
    fake, store = echoing_d1
    fake.fail_next(**fault)
    with pytest.raises(error_type) as caught:
        store.get_job("job-1")
    assert TOKEN not in caught.value.message and "Bearer" not in caught.value.message
    assert TOKEN not in log_stream.getvalue()


def test_sql_error_summary_keeps_known_phrases_and_codes_only() -> None:
    echoed = f"no such table: jobs: SQLITE_ERROR (request: POST /query authorization=Bearer {TOKEN} body={{}})"
    assert sql_error_summary(echoed) == "no such table: jobs: SQLITE_ERROR"
    assert sql_error_summary(f"gateway says Bearer {TOKEN}") == "message withheld (45 characters)"
    assert sql_error_summary("") == "no message"


def test_the_cli_prints_no_token_when_d1_echoes_it(echoing_d1: tuple[FakeD1, D1JobStore],
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """`leadeval jobs list` against an echoing D1: the CLI stops with the error's code and summary; the token is
    in neither stream."""
    from leadeval import wiring
    from leadeval_tools import cli

    fake, store = echoing_d1
    fake.fail_next(status=400, code=7500, message="no such table: leads: SQLITE_ERROR")
    monkeypatch.setenv("LEADEVAL_DATABASE_URL", "d1://acct/db")
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    monkeypatch.setattr(wiring, "make_job_store", lambda settings: store)
    monkeypatch.setattr(sys, "argv", ["leadeval", "jobs", "list"])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    captured = capsys.readouterr()
    assert exited.value.code == 1
    assert "ProcessingError: D1 SQL error in application_tables: no such table: leads" in \
        " ".join(captured.err.split())
    assert TOKEN not in captured.out + captured.err and "Bearer" not in captured.err


# ----------------------------------------------------------------------------- vision models


def _document() -> PreparedDocument:
    return PreparedDocument(document_id="doc-1", detected_type="pdf", sha256="0" * 64, size_bytes=2048,
                            page_count=1, text="ACME LOGISTICS EARNINGS STATEMENT Gross pay 5,000.00")


@pytest.mark.parametrize("name", sorted(k for k, v in WORKERS_AI_ERRORS.items() if v.raises is None))
def test_workers_ai_errors_from_an_echoing_endpoint_carry_no_token(name: str, log_stream: io.StringIO) -> None:
    fake = FakeWorkersAI([WORKERS_AI_ERRORS[name]], api_token=TOKEN)
    fake.echo_requests = True
    with pytest.raises(LeadevalError) as caught:
        fake.vision_model().extract(_document())
    assert TOKEN not in caught.value.message and TOKEN not in log_stream.getvalue()


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422, 429, 500, 503])
def test_openai_compatible_errors_from_an_echoing_endpoint_carry_no_token(status: int,
                                                                          log_stream: io.StringIO) -> None:
    fake = FakeOpenAICompatible([openai_error(status, "bad request")] * 3, api_key=TOKEN)
    fake.echo_requests = True
    with pytest.raises(LeadevalError) as caught:
        fake.vision_model().extract(_document())
    assert TOKEN not in caught.value.message and TOKEN not in log_stream.getvalue()
