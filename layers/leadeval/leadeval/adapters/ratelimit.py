"""One request budget per Cloudflare API token, shared by every worker and sweep (issue 14, item 2).

The Cloudflare API allows 1,200 requests per 5 minutes per token, and one request over it blocks every call of
that token for five minutes (Cloudflare docs, fundamentals/api/reference/limits: HTTP 429, code 971). Lambda
instances share nothing, so the budget lives in DynamoDB: a token bucket per API token, one item in the table
that already holds the worker's idempotency records (partition key ``id``; the item's id is
``leadeval.ratelimit#<first 16 hex of the token's sha256>``: the token itself is never stored).

- :meth:`TokenBucket.acquire` takes one request's token before each D1 request: it reads the item, refills it
  for the time passed (``rate_per_second``, up to ``capacity``), and takes one token with a conditional write
  (the item's ``version`` unchanged: two instances never spend the same token). Without a token it waits
  (sleeping the time one token takes) up to ``max_wait_seconds``, then raises
  :class:`~leadeval.errors.ThrottledError`: the job snoozes, its message comes back, no attempt is used.
- :meth:`TokenBucket.block` records an answer's ``retry-after`` (or the 5-minute block) as ``blocked_until``:
  every instance then stops calling until that time instead of each finding out with a request of its own.

A bucket of ``capacity`` C refilled at r per second lets through at most C + 300 r requests in any 5 minutes;
the defaults (C = 60, r = 3.6/s) give 1,140: under 1,200, with room for operators' CLI calls.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from leadeval.errors import ThrottledError

logger = logging.getLogger(__name__)

DEFAULT_RATE_PER_SECOND = 3.6
"""Tokens refilled per second (the API's 1,200 / 300 s = 4/s, less room for operators)."""
DEFAULT_CAPACITY = 60.0
"""Largest burst: C + 300 r = 60 + 1,080 = 1,140 requests in any 5 minutes (limit 1,200)."""
DEFAULT_MAX_WAIT_SECONDS = 10.0
"""Longest a caller waits for a token before the job snoozes instead (seconds)."""


_EPSILON = 1e-4
_MIN_SLEEP_SECONDS = 0.01


def bucket_key(api_token: str) -> str:
    """The bucket's item id for an API token: a hash prefix, never the token."""
    return "leadeval.ratelimit#" + hashlib.sha256(api_token.encode("utf-8")).hexdigest()[:16]


@dataclass
class TokenBucket:
    """A token bucket in a DynamoDB table shared by every Lambda instance (see the module docstring).

    Args:
        table: a boto3 DynamoDB ``Table`` resource (the idempotency table: partition key ``id``).
        key: the bucket's item id (:func:`bucket_key`).
        rate_per_second, capacity, max_wait_seconds: see the module constants.
        clock: seconds since the epoch (wall clock: instances compare it through the item).
        sleep: how to wait, seconds.

    Raises:
        ThrottledError (from :meth:`acquire`): no token within ``max_wait_seconds``, or the token is blocked.
    """

    table: Any
    key: str
    rate_per_second: float = DEFAULT_RATE_PER_SECOND
    capacity: float = DEFAULT_CAPACITY
    max_wait_seconds: float = DEFAULT_MAX_WAIT_SECONDS
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep

    def _read(self) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"id": self.key}, ConsistentRead=True).get("Item")
        return dict(item) if item else None

    def acquire(self) -> None:
        """Take one request's token, waiting up to ``max_wait_seconds``.

        Raises:
            ThrottledError: the token is blocked (a 429's retry-after, ``retry_after`` = what is left of it), or
                no token came in time (``retry_after`` = the time a token takes, at least 1 s).
        """
        from botocore.exceptions import ClientError

        deadline = self.clock() + self.max_wait_seconds
        while True:
            now = self.clock()
            item = self._read()
            blocked_until = float(item.get("blocked_until", 0)) if item else 0.0
            if blocked_until > now:
                raise ThrottledError("the Cloudflare API token is blocked (shared limiter)",
                                     retry_after=math.ceil(blocked_until - now))
            tokens, version = self._refilled(item, now)
            if tokens >= 1 - _EPSILON:  # timestamps are stored to the microsecond
                try:
                    self._write(max(0.0, tokens - 1), now, version, blocked_until)
                    return
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                        raise
                    continue  # another instance took a token meanwhile: read again
            wait = max((1 - tokens) / self.rate_per_second, _MIN_SLEEP_SECONDS)
            if now + wait > deadline:
                logger.warning("Cloudflare API budget spent: no request token within %.1f s", self.max_wait_seconds)
                raise ThrottledError("the Cloudflare API token's request budget is spent (shared limiter)",
                                     retry_after=max(1, math.ceil(wait)))
            self.sleep(wait)

    def block(self, seconds: float) -> None:
        """Stop every instance from calling for ``seconds`` (a 429's retry-after, or the API's 5-minute block);
        an earlier block that ends later stays."""
        if seconds <= 0:
            return
        from botocore.exceptions import ClientError

        until = self.clock() + seconds
        try:
            self.table.update_item(
                Key={"id": self.key}, UpdateExpression="SET blocked_until = :until",
                ConditionExpression="attribute_not_exists(blocked_until) OR blocked_until < :until",
                ExpressionAttributeValues={":until": _decimal(until)})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    def _refilled(self, item: dict[str, Any] | None, now: float) -> tuple[float, int | None]:
        if item is None:
            return self.capacity, None
        tokens = float(item.get("tokens", self.capacity))
        updated = float(item.get("updated_at", now))
        version = int(item["version"]) if "version" in item else None  # a block() may come first
        return min(self.capacity, tokens + max(0.0, now - updated) * self.rate_per_second), version

    def _write(self, tokens: float, now: float, version: int | None, blocked_until: float) -> None:
        values: dict[str, Any] = {":tokens": _decimal(tokens), ":now": _decimal(now),
                                  ":next": (version or 0) + 1}
        if version is None:
            condition = "attribute_not_exists(version)"
        else:
            condition = "version = :version"
            values[":version"] = version
        self.table.update_item(Key={"id": self.key},
                               UpdateExpression="SET tokens = :tokens, updated_at = :now, version = :next",
                               ConditionExpression=condition, ExpressionAttributeValues=values)


def _decimal(value: float) -> Any:
    from decimal import Decimal

    return Decimal(str(round(value, 6)))


def dynamodb_bucket(table_name: str, api_token: str) -> TokenBucket:
    """The shared bucket for ``api_token`` in the DynamoDB table ``table_name`` (the idempotency table)."""
    import boto3

    from leadeval.adapters.aws import client_config

    table = boto3.session.Session().resource("dynamodb", config=client_config()).Table(table_name)
    return TokenBucket(table=table, key=bucket_key(api_token))
