"""Timestamps: parse the two formats found in existing rows, write one.

Rows carry ``2026-01-31T23:59:59.123Z`` (application code) and ``2026-01-31 23:59:59``
(SQLite's ``datetime('now')``, UTC). Both are parsed to aware UTC datetimes; leadeval writes
ISO 8601 UTC with milliseconds and ``Z``. Never compare the raw strings.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


def parse_ts(value: str | datetime | None) -> datetime | None:
    """Parse a stored timestamp into an aware UTC datetime.

    Accepts ``YYYY-MM-DDTHH:MM:SS[.fff]Z``, ``YYYY-MM-DD HH:MM:SS[.fff]`` (taken as UTC),
    any ISO 8601 string with an offset, an aware or naive datetime (naive = UTC) and None.

    Raises:
        ValueError: the string is not a timestamp in one of these forms.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    text = str(value).strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def format_ts(value: datetime | None) -> str | None:
    """Format a datetime as ISO 8601 UTC with milliseconds and ``Z`` (None stays None)."""
    if value is None:
        return None
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def plus_seconds(value: datetime, seconds: float) -> datetime:
    """``value`` moved by ``seconds`` (may be negative)."""
    return value + timedelta(seconds=seconds)


def usage_month(requested_at: datetime) -> str:
    """The usage month (``YYYY-MM``, UTC) a job counts against: the month of its request."""
    return requested_at.astimezone(UTC).strftime("%Y-%m")
