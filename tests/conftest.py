"""Shared test fixtures: settings and environment hygiene, corpus location, Lambda context."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
CORPUS_DIR = Path(os.environ.get("LEADEVAL_CORPUS_DIR", REPO_ROOT.parent / "shared" / "corpus"))

# Powertools: no EMF output or X-Ray in tests unless a test turns them on.
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Leadeval")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "leadeval")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
# OCR costs about 4 CPU-seconds a page: off unless a test turns it on (tests/unit/test_ocr.py and the OCR
# evaluate test do; the rest judge text layers as before).
os.environ.setdefault("LEADEVAL_OCR_PAGES_PER_DOCUMENT", "0")


@pytest.fixture(name="corpus_dir")
def _corpus_dir() -> Path:
    """The shared sample corpus (skips the test when it is absent)."""
    if not CORPUS_DIR.is_dir():
        pytest.skip(f"corpus not found at {CORPUS_DIR}")
    return CORPUS_DIR


@pytest.fixture(name="aws_credentials")
def _aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake AWS credentials so boto3 never reaches a real account."""
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SECURITY_TOKEN": "testing", "AWS_SESSION_TOKEN": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
