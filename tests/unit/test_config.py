"""Settings: URL grammar, defaults, and errors naming the variable."""

from __future__ import annotations

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
