"""Shared test fixtures: settings and environment hygiene, corpus location, Lambda context, the SAM
translation of template.yaml."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


@pytest.fixture(name="sam_translate")
def _sam_translate() -> Callable[..., dict[str, Any]]:
    """``sam_translate(parameters=None)``: template.yaml as the SAM translator turns it into CloudFormation (a
    dict), with ``parameters`` (name -> value; the rest at their defaults). The template is first given what
    `sam build` + `sam package` fill in: every ``CodeUri``/``ContentUri`` an S3 URI, the image worker's
    ``ImageUri`` an ECR one. Region us-east-1. Skips the test when samtranslator is not installed (it is not a
    project dependency; cfn-lint brings it)."""
    translator = pytest.importorskip("samtranslator.translator.transform")
    yaml_helper = pytest.importorskip("samtranslator.yaml_helper")

    class _Policies:
        def load(self) -> dict[str, str]:
            names = ["service-role/AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess",
                     "service-role/AWSLambdaSQSQueueExecutionRole"]
            return {name.split("/")[-1]: f"arn:aws:iam::aws:policy/{name}" for name in names}

    def translate(parameters: dict[str, str] | None = None) -> dict[str, Any]:
        sam = yaml_helper.yaml_parse((REPO_ROOT / "template.yaml").read_text())
        for resource in sam["Resources"].values():
            props = resource.get("Properties", {})
            for key in ("CodeUri", "ContentUri"):
                if key in props:
                    props[key] = "s3://bucket/" + props[key].strip("/")
            if props.get("PackageType") == "Image":
                props["ImageUri"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/leadeval:worker"
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
            return translator.transform(sam, parameters or {}, _Policies())

    return translate
