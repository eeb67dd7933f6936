"""Masking of the numbers a report must never show in full: Social Security numbers and account numbers.

The property manager already holds the applicant's name, documents and figures; the report adds nothing
beyond them, and keeps the identifiers that open accounts masked to their last four digits (the practice of
bank statements and of the CFPB's model adverse-action notices): ``123-45-6789`` → ``•••-••-6789``,
``000123456789`` → ``••••••••6789``.
"""

from __future__ import annotations

import re

MASK = "•"


class Unmasked(str):
    """Text the report prints as it is, never masked: values it builds itself (CSS, ``data:`` URLs whose base64
    could hold digit runs), never text from a document or a person."""

    __slots__ = ()

#: A Social Security number as printed: 3-2-4 digits with dashes or spaces (or none), not inside a longer number
#: or word.
SSN = re.compile(r"(?<![\w.,$-])(\d{3})([- ]?)(\d{2})\2(\d{4})(?![\w,-]|\.\d)")

#: An account, card or routing number: 8 or more digits, possibly grouped by single spaces or dashes, not inside
#: a word, an amount (``$12,345.67``) or a decimal.
ACCOUNT = re.compile(r"(?<![\w.,$-])\d(?:[- ]?\d){7,}(?![\w,-]|\.\d)")

#: Dates and times that look like digit runs and must stay readable.
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{2}-\d{2}-\d{4}|\d{4} \d{2} \d{2}")
_DATE_TIME = re.compile(r"(\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?)?"
                        r"|\d{1,2}/\d{1,2}/\d{2,4}|\d{1,2}:\d{2}(?::\d{2})?)")


def _mask_account(match: re.Match[str]) -> str:
    text = match.group(0)
    if _DATE.fullmatch(text):
        return text
    digits = sum(ch.isdigit() for ch in text)
    keep, seen, out = 4, 0, []
    for ch in text:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen > digits - keep else MASK)
        else:
            out.append(ch)
    return "".join(out)


def mask_numbers(text: str) -> str:
    """``text`` with every SSN and account number masked but its last four digits.

    Dates (``2026-01-31``), amounts (``$12,345.67``, ``2920.00``), phone-sized numbers with fewer than 8 digits
    and identifiers mixing letters and digits (``job_abc123``, ``D4418``) are left as they are.
    """
    if not text or not any(ch.isdigit() for ch in text):
        return text
    # Dates and times stay as they are, and never join a number beside them into a longer run.
    parts = _DATE_TIME.split(text)
    return "".join(part if i % 2 else _mask_part(part) for i, part in enumerate(parts))


def _mask_part(text: str) -> str:
    text = SSN.sub(lambda m: f"{MASK * 3}{m.group(2) or ''}{MASK * 2}{m.group(2) or ''}{m.group(4)}"
                   if not _DATE.fullmatch(m.group(0)) else m.group(0), text)
    return ACCOUNT.sub(_mask_account, text)


def hidden_characters(text: str) -> list[int]:
    """Indices of the characters of ``text`` that :func:`mask_numbers` masks (the digits of SSNs and account
    numbers but their last four), for blacking them out where they are drawn (a page thumbnail)."""
    masked = mask_numbers(text)
    if len(masked) != len(text):  # masking never changes the length; be safe if it ever did
        return []
    return [i for i, (a, b) in enumerate(zip(text, masked, strict=True)) if a != b]
