"""Retry policy: error classification by type, backoff bounds, attempt limits."""

from __future__ import annotations

import random

import pytest

from leadeval import errors
from leadeval.jobs.retry import SQS_MAX_VISIBILITY_SECONDS, RetryPolicy

POLICY = RetryPolicy(max_attempts=5, base_seconds=30, cap_seconds=900)


@pytest.mark.parametrize(
    ("error", "attempts", "action", "code"),
    [
        (errors.StoreUnavailableError("db down"), 1, "retry", "StoreUnavailable"),
        (errors.StorageError("r2 500"), 2, "retry", "StorageError"),
        (errors.ModelTimeout(), 1, "retry", "ModelTimeout"),
        (errors.ModelUnavailableError(), 4, "retry", "ModelUnavailable"),
        (errors.ModelUnavailableError(), 5, "dead_letter", "ModelUnavailable"),
        (errors.ModelUnavailableError(), 6, "dead_letter", "ModelUnavailable"),
        (KeyError("boom"), 1, "retry", "ProcessingError"),
        (KeyError("boom"), 5, "dead_letter", "ProcessingError"),
        (errors.ThrottledError(retry_after=42), 5, "snooze", "Throttled"),
        (errors.ConfigurationError("licence", retry_after=300), 5, "snooze", "ConfigurationError"),
        (errors.ResourceNotFound("no lead"), 1, "fail", "ResourceNotFound"),
        (errors.QuotaExceeded(), 1, "fail", "QuotaExceeded"),
        (errors.DocumentUnreadable(), 1, "fail", "DocumentUnreadable"),
        (errors.ModelRejected(), 1, "fail", "ModelRejected"),
        (errors.ModelOutputInvalid(), 1, "fail", "ModelOutputInvalid"),
    ],
)
def test_decision_by_type(error: BaseException, attempts: int, action: str, code: str) -> None:
    """The action depends only on the exception type and the attempts made."""
    decision = POLICY.decide(error, attempts=attempts)
    assert (decision.action, decision.error_code) == (action, code)


def test_unexpected_error_message_has_no_exception_text() -> None:
    """An unexpected exception's text may hold document data: only its type is recorded."""
    decision = POLICY.decide(ValueError("Jane Doe 555-1234"), attempts=1)
    assert decision.error_message == "unexpected ValueError"


def test_snooze_delay_is_at_least_retry_after() -> None:
    assert POLICY.decide(errors.ThrottledError(retry_after=42.2), attempts=1).delay_seconds == 42
    assert POLICY.decide(errors.ThrottledError(retry_after=99_999), attempts=1).delay_seconds == \
        SQS_MAX_VISIBILITY_SECONDS


def test_job_max_attempts_overrides_policy() -> None:
    assert POLICY.decide(errors.StorageError(), attempts=2, max_attempts=2).action == "dead_letter"
    assert POLICY.decide(errors.StorageError(), attempts=2, max_attempts=3).action == "retry"


@pytest.mark.parametrize(("failure", "low", "high"), [(1, 15, 30), (2, 15, 60), (3, 15, 120), (6, 15, 900),
                                                      (20, 15, 900)])
def test_backoff_within_jittered_exponential_bounds(failure: int, low: int, high: int) -> None:
    """Full jitter between base/2 and min(cap, base·2^(n-1)), over many draws."""
    rng = random.Random(7)
    values = [POLICY.backoff_seconds(failure, rng) for _ in range(500)]
    assert min(values) >= low
    assert max(values) <= high
    assert len(set(values)) > 5  # jitter actually spreads retries
