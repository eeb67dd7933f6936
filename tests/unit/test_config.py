"""Settings: URL grammar, defaults, and errors naming the variable."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from leadeval.config import Settings, parse_database_url, parse_documents_url, parse_model_url
from leadeval.errors import ConfigurationError


def test_defaults_are_the_embedded_ones() -> None:
    s = Settings.from_env({})
    assert s.database.kind == "sqlite" and s.database.path == ".leadeval/leadeval.db"
    assert s.documents.kind == "file" and s.documents.path == ".leadeval/documents"
    assert s.model.kind == "offline"
    assert (s.sweep_limit, s.max_attempts) == (1000, 5)


@pytest.mark.parametrize(("url", "kind", "attrs"), [
    ("sqlite:///rel/x.db", "sqlite", {"path": "rel/x.db"}),
    ("sqlite:////abs/x.db", "sqlite", {"path": "/abs/x.db"}),
    ("d1://acct123/db-uuid", "d1", {"account_id": "acct123", "database_id": "db-uuid"}),
    ("postgresql://u:p@127.0.0.1:5432/test", "postgresql", {"dsn": "postgresql://u:p@127.0.0.1:5432/test"}),
])
def test_database_urls(url: str, kind: str, attrs: dict[str, str]) -> None:
    spec = parse_database_url(url)
    assert spec.kind == kind
    for key, value in attrs.items():
        assert getattr(spec, key) == value


@pytest.mark.parametrize(("url", "kind", "value"), [
    ("file:docs", "file", "docs"), ("file:///srv/docs", "file", "/srv/docs"),
    ("r2://my-bucket", "r2", "my-bucket"), ("s3://b-1", "s3", "b-1"),
])
def test_documents_urls(url: str, kind: str, value: str) -> None:
    spec = parse_documents_url(url)
    assert spec.kind == kind and (spec.path or spec.bucket) == value


def test_model_urls() -> None:
    assert parse_model_url("workers-ai:@cf/meta/llama-3.2-11b-vision-instruct").model == \
        "@cf/meta/llama-3.2-11b-vision-instruct"
    spec = parse_model_url("openai+http://localhost:11434/v1?model=llama3.2-vision")
    assert (spec.kind, spec.base_url, spec.model) == ("openai", "http://localhost:11434/v1", "llama3.2-vision")


@pytest.mark.parametrize(("env", "variable"), [
    ({"LEADEVAL_DATABASE_URL": "mysql://x"}, "LEADEVAL_DATABASE_URL"),
    ({"LEADEVAL_DATABASE_URL": "d1://only-account"}, "LEADEVAL_DATABASE_URL"),
    ({"LEADEVAL_DOCUMENTS_URL": "ftp://x"}, "LEADEVAL_DOCUMENTS_URL"),
    ({"LEADEVAL_MODEL_URL": "gpt"}, "LEADEVAL_MODEL_URL"),
    ({"LEADEVAL_MODEL_URL": "openai+http://host/v1"}, "LEADEVAL_MODEL_URL"),
    ({"LEADEVAL_SWEEP_LIMIT": "many"}, "LEADEVAL_SWEEP_LIMIT"),
    ({"LEADEVAL_MAX_ATTEMPTS": "0"}, "LEADEVAL_MAX_ATTEMPTS"),
    ({"LEADEVAL_DOCUMENT_BUDGET_SECONDS": "0"}, "LEADEVAL_DOCUMENT_BUDGET_SECONDS"),
    ({"LEADEVAL_MAX_DECODED_IMAGE_BYTES": "lots"}, "LEADEVAL_MAX_DECODED_IMAGE_BYTES"),
    ({"LEADEVAL_MAX_PDF_PAGE_TEXT_OPERATORS": "99"}, "LEADEVAL_MAX_PDF_PAGE_TEXT_OPERATORS"),
    ({"LEADEVAL_MODEL_URL": "workers-ai:@cf/meta/llama-3.2-11b-vision-instruct"}, "CLOUDFLARE_ACCOUNT_ID"),
    ({"LEADEVAL_MODEL_URL": "workers-ai:@cf/meta/llama-3.2-11b-vision-instruct",
      "CLOUDFLARE_ACCOUNT_ID": "a"}, "CLOUDFLARE_API_TOKEN"),
    ({"LEADEVAL_DATABASE_URL": "d1://a/b"}, "CLOUDFLARE_API_TOKEN"),
    ({"LEADEVAL_DOCUMENTS_URL": "r2://bucket", "CLOUDFLARE_ACCOUNT_ID": "a"}, "R2_ACCESS_KEY_ID"),
])
def test_bad_settings_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env(env)
    assert info.value.variable == variable
    assert variable in info.value.message


def test_d1_account_from_url_wins() -> None:
    s = Settings.from_env({"LEADEVAL_DATABASE_URL": "d1://from-url/db", "CLOUDFLARE_ACCOUNT_ID": "from-env",
                           "CLOUDFLARE_API_TOKEN": "t"})
    assert s.cloudflare_account == "from-url"


def test_secret_may_come_from_a_parameter_name() -> None:
    s = Settings.from_env({"LEADEVAL_DATABASE_URL": "d1://a/b",
                           "CLOUDFLARE_API_TOKEN_PARAMETER": "/leadeval/cloudflare-token"})
    assert s.secret_parameters == {"CLOUDFLARE_API_TOKEN": "/leadeval/cloudflare-token"}


def test_lease_must_outlast_the_job_budget() -> None:
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env({"LEADEVAL_LEASE_SECONDS": "30", "LEADEVAL_JOB_BUDGET_SECONDS": "60"})
    assert info.value.variable == "LEADEVAL_LEASE_SECONDS"


def test_preparation_budgets_reach_the_document_limits() -> None:
    from leadeval.screening.documents import DocumentLimits

    default = DocumentLimits.from_settings(Settings.from_env({}))
    assert default == DocumentLimits()  # the settings' defaults are the limits' defaults
    limits = DocumentLimits.from_settings(Settings.from_env({
        "LEADEVAL_MAX_DOCUMENT_BYTES": "2048", "LEADEVAL_MAX_PDF_PAGES": "7", "LEADEVAL_MAX_IMAGE_PIXELS": "2000000",
        "LEADEVAL_MAX_PDF_OBJECTS": "500", "LEADEVAL_MAX_PDF_CONTENT_BYTES": "100000",
        "LEADEVAL_MAX_PDF_PAGE_OPERATORS": "3000", "LEADEVAL_MAX_PDF_PAGE_TEXT_OPERATORS": "1000",
        "LEADEVAL_MAX_DECODED_IMAGE_BYTES": "5000000", "LEADEVAL_MAX_IMAGE_FRAMES": "4",
        "LEADEVAL_DOCUMENT_BUDGET_SECONDS": "3"}))
    assert (limits.max_bytes, limits.max_pages, limits.max_image_pixels, limits.max_pdf_objects,
            limits.max_content_bytes, limits.max_page_operators, limits.max_page_text_operators,
            limits.max_decoded_image_bytes, limits.max_image_frames, limits.time_budget_seconds) == (
        2048, 7, 2_000_000, 500, 100_000, 3000, 1000, 5_000_000, 4, 3.0)


@pytest.mark.parametrize(("url_env", "names"), [
    ({"LEADEVAL_DATABASE_URL": "d1://acct/db"}, ("CLOUDFLARE_D1_API_TOKEN", "CLOUDFLARE_API_TOKEN")),
    ({"LEADEVAL_MODEL_URL": "workers-ai:@cf/meta/llama-3.2-11b-vision-instruct", "CLOUDFLARE_ACCOUNT_ID": "acct"},
     ("CLOUDFLARE_AI_API_TOKEN", "CLOUDFLARE_API_TOKEN")),
])
def test_a_missing_token_names_every_variable_that_would_do(url_env: dict[str, str], names: tuple[str, str]) -> None:
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env(url_env)
    for name in names:
        assert f"{name} (or {name}_PARAMETER)" in str(info.value)
    assert info.value.variable == "CLOUDFLARE_API_TOKEN"


# ------------------------------------------------------------------------- unknown LEADEVAL_* variables
@pytest.fixture(name="fresh_warnings")
def _fresh_warnings(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """No unknown-variable warning reported yet in this process; WARNING records of leadeval.config captured."""
    from leadeval import config

    monkeypatch.setattr(config, "_warned", set())
    caplog.set_level(logging.WARNING, logger="leadeval.config")
    return caplog


def _config_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "leadeval.config" and r.levelno == logging.WARNING]


def test_a_misspelt_variable_is_named_once_with_the_name_it_meant(fresh_warnings: pytest.LogCaptureFixture) -> None:
    settings = Settings.from_env({"LEADEVAL_SWEEP_LIMT": "77", "LEADEVAL_MAX_PDF_PAGE": "3", "PATH": "/bin"})
    assert settings.sweep_limit == 1000 and settings.max_pdf_pages == 30  # ignored: the defaults stand
    [record] = _config_warnings(fresh_warnings)
    assert record.getMessage() == (
        "Ignoring unknown environment variables: LEADEVAL_MAX_PDF_PAGE (did you mean LEADEVAL_MAX_PDF_PAGES?), "
        "LEADEVAL_SWEEP_LIMT (did you mean LEADEVAL_SWEEP_LIMIT?)")
    assert "77" not in fresh_warnings.text  # names only, never values


def test_an_unknown_variable_without_a_close_name_is_named_alone(fresh_warnings: pytest.LogCaptureFixture) -> None:
    Settings.from_env({"LEADEVAL_DEBUG": "secret-ish", "leadeval_sweep_limit": "5"})
    [record] = _config_warnings(fresh_warnings)
    assert record.getMessage() == ("Ignoring unknown environment variables: LEADEVAL_DEBUG, "
                                   "leadeval_sweep_limit (did you mean LEADEVAL_SWEEP_LIMIT?)")
    assert "secret-ish" not in fresh_warnings.text


def test_unknown_variables_do_not_stop_a_failing_load_from_naming_them(
        fresh_warnings: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ConfigurationError):
        Settings.from_env({"LEADEVAL_DATABASE_URL": "mysql://x", "LEADEVAL_DOCUMENT_URL": "s3://b"})
    [record] = _config_warnings(fresh_warnings)
    assert record.getMessage() == ("Ignoring unknown environment variable: LEADEVAL_DOCUMENT_URL (did you mean "
                                   "LEADEVAL_DOCUMENTS_URL?)")


def test_the_same_unknown_names_are_reported_once_per_process(fresh_warnings: pytest.LogCaptureFixture) -> None:
    for _ in range(3):
        Settings.from_env({"LEADEVAL_SWEEP_LIMT": "5"})
    assert len(_config_warnings(fresh_warnings)) == 1
    Settings.from_env({"LEADEVAL_SWEEP_LIMT": "5", "LEADEVAL_FOO": "1"})  # a different set: reported
    assert [r.getMessage() for r in _config_warnings(fresh_warnings)][1] == (
        "Ignoring unknown environment variables: LEADEVAL_FOO, LEADEVAL_SWEEP_LIMT (did you mean "
        "LEADEVAL_SWEEP_LIMIT?)")


def test_known_variables_are_not_reported(fresh_warnings: pytest.LogCaptureFixture) -> None:
    from leadeval.config import KNOWN_VARIABLES, warn_unknown_variables

    Settings.from_env({"LEADEVAL_SWEEP_LIMIT": "5", "LEADEVAL_OCR_CROSSCHECK_PAGES_PER_JOB": "2",
                       "LEADEVAL_CORPUS_DIR": "/x", "LEADEVAL_CHROMIUM": "/usr/bin/chromium"})
    warn_unknown_variables(KNOWN_VARIABLES)
    assert _config_warnings(fresh_warnings) == []


# Every place that sets or reads LEADEVAL_* variables; this file is left out (it spells unknown ones on purpose).
_SCANNED = ("template.yaml", "Makefile", "README.md", "scripts", "tools", ".ci", "layers", "functions", "events",
            "docs", "tests", "pyproject.toml")


def test_every_leadeval_variable_the_repository_names_is_known() -> None:
    from leadeval.config import KNOWN_VARIABLES

    repo = Path(__file__).resolve().parents[2]
    named: dict[str, str] = {}
    for entry in _SCANNED:
        path = repo / entry
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        assert files, f"{entry} not found"
        for file in files:
            if file == Path(__file__).resolve() or "__pycache__" in file.parts or file.suffix in (".pyc", ".png",
                                                                                                   ".pdf"):
                continue
            text = file.read_text(encoding="utf-8", errors="replace")
            # a name, not a prefix or pattern such as LEADEVAL_MAX_PDF_* or "LEADEVAL_"
            for name in re.findall(r"\bLEADEVAL_[A-Z0-9_]*[A-Z0-9]\b(?![_*])", text):
                named.setdefault(name, str(file.relative_to(repo)))
    assert "LEADEVAL_OCR_CROSSCHECK_PAGES_PER_JOB" in named and "LEADEVAL_PG_PORT" in named  # the scan works
    assert {name: where for name, where in named.items() if name not in KNOWN_VARIABLES} == {}
