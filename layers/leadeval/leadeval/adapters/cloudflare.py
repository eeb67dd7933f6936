"""What leadeval knows about the Cloudflare API itself, shared by the D1 and Workers AI adapters.

Both talk to ``https://api.cloudflare.com/client/v4`` with a bearer token and get the v4 envelope back
(``{"success": false, "errors": [{"code": 10000, "message": "…"}], "result": …}``). The facts below are
Cloudflare's (developers.cloudflare.com: fundamentals/api, "API rate limits"; d1/platform/limits;
workers-ai/platform/pricing):

- the API base URL and ``Authorization: Bearer <token>``;
- authentication failures answer codes 10000 ("Authentication error") and 9109 ("Invalid access token");
- the global limit is 1,200 requests per five minutes per token; over it, HTTP 429 with code 971 or 10429
  ("Please wait and consider throttling your request speed"), and every call of that token is blocked for the
  next five minutes;
- ``retry-after`` follows RFC 9110 §10.2.3 (delay-seconds or an HTTP-date);
- daily allowances (Workers AI neurons, D1's Free plan) reset at 00:00 UTC.

Nothing here is specific to D1 or Workers AI; their own codes stay in their adapters.
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from leadeval.timeutil import utcnow

DEFAULT_BASE_URL = "https://api.cloudflare.com/client/v4"
"""The Cloudflare API (v4) base URL; ``LEADEVAL_CLOUDFLARE_API_URL`` replaces it (tests, proxies)."""

AUTH_CODES = frozenset({10000, 9109})
"""Cloudflare API codes meaning "the token is missing, wrong or expired"."""

API_BLOCK_CODES = frozenset({971, 10429})
"""Cloudflare API: "Please wait and consider throttling your request speed" (HTTP 429): the global limit."""

API_BLOCK_SECONDS = 300.0
"""The global limit blocks every call of the token "for the next five minutes" (seconds)."""

REQUESTS_PER_WINDOW = 1200
WINDOW_SECONDS = 300.0
"""The global limit: 1,200 requests per 5 minutes per token (4 requests/s on average)."""


def bearer(token: str) -> dict[str, str]:
    """The ``Authorization`` header for an API token (never log it)."""
    return {"Authorization": f"Bearer {token}"}


def envelope_errors(body: Any) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """The v4 envelope's ``errors``: their integer codes and their messages, in order (any other shape gives
    empty tuples). The messages are the provider's free text: for classification only, never copied into an
    error or a log line (an endpoint that echoes the request would put the token in them)."""
    if not isinstance(body, Mapping):
        return (), ()
    codes: list[int] = []
    messages: list[str] = []
    for item in body.get("errors") or ():
        if not isinstance(item, Mapping):
            continue
        code = item.get("code")
        if isinstance(code, int) and not isinstance(code, bool):
            codes.append(code)
        elif isinstance(code, str) and code.strip().isdigit():
            codes.append(int(code))
        if item.get("message"):
            messages.append(str(item["message"]))
    return tuple(codes), tuple(messages)


def parse_retry_after(value: str | None, *, default: float, now: datetime | None = None) -> float:
    """Seconds to wait from a ``retry-after`` header (RFC 9110 §10.2.3).

    Args:
        value: delay-seconds (``"30"``, ``"1.5"``) or an HTTP-date; None or garbage gives ``default``.
        default: seconds to use when the header is absent or unusable.
        now: the current time for HTTP-dates (default: now, UTC).

    Returns:
        A non-negative number of seconds.
    """
    if value is None or not str(value).strip():
        return default
    text = str(value).strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return default
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or utcnow())).total_seconds()
    if math.isnan(seconds) or math.isinf(seconds):
        return default
    return max(0.0, seconds)


def seconds_until_utc_midnight(now: datetime | None = None) -> float:
    """Seconds from ``now`` to the next 00:00 UTC, when Cloudflare's daily allowances reset. Always > 0."""
    current = (now or utcnow()).astimezone(UTC)
    midnight = datetime(current.year, current.month, current.day, tzinfo=UTC) + timedelta(days=1)
    return (midnight - current).total_seconds()
