"""Retry policy: what happens to a job after an error, decided by the error's type.

Backoff is exponential with full jitter and a cap: ``delay = uniform(base/2, min(cap, base * 2**(n-1)))``
seconds for the n-th retryable failure. Full jitter spreads a burst of failures (AWS Architecture
Blog, "Exponential Backoff And Jitter"); the floor of base/2 keeps a retry from landing instantly.
Compare Oban (15 s + 2^n, +10 % jitter) and River (n^4 s, ±10 %).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from leadeval.errors import (
    ConfigurationError,
    LeadevalError,
    PermanentError,
    ProcessingError,
    RetryableError,
    ThrottledError,
)

Action = Literal["retry", "snooze", "fail", "dead_letter"]

SQS_MAX_VISIBILITY_SECONDS = 43_200  # SQS ChangeMessageVisibility maximum (12 h)


@dataclass(frozen=True)
class RetryDecision:
    """What to do with a job after an error.

    Attributes:
        action: ``retry`` (attempt counted, back to queued), ``snooze`` (no attempt used),
            ``fail`` (permanent error) or ``dead_letter`` (attempts spent).
        delay_seconds: when the message should be delivered again (retry/snooze), whole seconds.
        error_code: value for ``ai_evaluation_jobs.error_code``.
        error_message: value for ``error_message`` (no personal data).
    """

    action: Action
    delay_seconds: int
    error_code: str
    error_message: str


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter and a cap, over a maximum number of attempts.

    Args:
        max_attempts: claims allowed per generation (the job's own ``max_attempts`` wins when set).
        base_seconds: delay scale of the first retry (seconds).
        cap_seconds: longest delay (seconds), at most SQS's 43,200.
    """

    max_attempts: int = 5
    base_seconds: float = 30.0
    cap_seconds: float = 900.0

    def backoff_seconds(self, failure_number: int, rng: random.Random | None = None) -> int:
        """Delay before retry number ``failure_number`` (1-based): full jitter in
        ``[base/2, min(cap, base * 2**(n-1))]``, whole seconds."""
        ceiling = min(self.cap_seconds, self.base_seconds * (2 ** max(0, failure_number - 1)))
        low = min(self.base_seconds / 2, ceiling)
        value = (rng or random).uniform(low, ceiling)
        return int(min(SQS_MAX_VISIBILITY_SECONDS, max(1, round(value))))

    def decide(self, error: BaseException, *, attempts: int, max_attempts: int | None = None,
               rng: random.Random | None = None) -> RetryDecision:
        """Classify ``error`` for a job that has made ``attempts`` claims.

        Throttling and configuration errors snooze for at least their ``retry_after``; permanent
        errors fail; retryable errors retry with backoff until the attempts are spent, then the job
        is dead-lettered. Any other exception is a bug in one job: ``ProcessingError``, retried.
        """
        limit = max_attempts or self.max_attempts
        if isinstance(error, ThrottledError | ConfigurationError):
            delay = int(min(SQS_MAX_VISIBILITY_SECONDS, max(1, round(error.retry_after))))
            return RetryDecision("snooze", delay, error.code, error.message)
        if isinstance(error, PermanentError):
            return RetryDecision("fail", 0, error.code, error.message)
        if not isinstance(error, LeadevalError):
            error = ProcessingError(f"unexpected {type(error).__name__}")
        assert isinstance(error, RetryableError | LeadevalError)
        if attempts >= limit:
            return RetryDecision("dead_letter", 0, error.code,
                                 f"{error.message} (attempts spent: {attempts}/{limit})")
        return RetryDecision("retry", self.backoff_seconds(attempts, rng), error.code, error.message)
