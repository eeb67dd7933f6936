"""Machine-readable zones (MRZ) of passports and ID cards, parsed and checked (ICAO Doc 9303).

ICAO Doc 9303, Machine Readable Travel Documents (8th edition, 2021), Part 3 §4.9 defines the check digit:
each character gets a value (``0``–``9`` their digit, ``A``–``Z`` 10–35, the filler ``<`` 0), the values
are multiplied by the repeating weights 7, 3, 1, summed, and the check digit is the sum modulo 10. Part 4
lays out the TD3 zone of a passport data page (two lines of 44 characters) and Part 5 the TD1 zone of an
ID card (three lines of 30).

TD3, line 2 (0-based offsets): document number 0–8, its check digit 9, nationality 10–12, birth date
(YYMMDD) 13–18 and check 19, sex 20, expiry (YYMMDD) 21–26 and check 27, optional data 28–41 and check 42,
composite check 43 over 0–9, 13–19 and 21–42. Line 1: ``P``, type, issuing state 2–4, then
``SURNAME<<GIVEN<NAMES`` padded with ``<``.

TD1, line 1: document code 0–1, issuing state 2–4, document number 5–13 and check 14, optional 15–29;
line 2: birth date 0–5 and check 6, sex 7, expiry 8–13 and check 14, nationality 15–17, optional 18–28,
composite check 29 over line 1 5–29, line 2 0–6, 8–14 and 18–28; line 3: the names.

A check digit that fails means the zone was misread or altered: it is reported, never corrected. OCR often
reads the filler ``<`` as ``K`` or drops some of it at the end of a line; names are read up to the first
run of fillers, and a line is recognised by its structure, not by its exact length only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

_WEIGHTS = (7, 3, 1)


def check_digit(value: str) -> int:
    """The ICAO 9303 check digit of ``value`` (digits, capital letters and ``<``). Raises ValueError for
    any other character."""
    total = 0
    for index, char in enumerate(value):
        if char.isdigit():
            number = int(char)
        elif "A" <= char <= "Z":
            number = ord(char) - ord("A") + 10
        elif char == "<":
            number = 0
        else:
            raise ValueError(f"not an MRZ character: {char!r}")
        total += number * _WEIGHTS[index % 3]
    return total % 10


@dataclass(frozen=True)
class Check:
    """One check digit: the field it guards, the digit printed and the digit computed."""

    field: str
    printed: str
    computed: int

    @property
    def passed(self) -> bool:
        """True when the printed digit equals the computed one."""
        return self.printed == str(self.computed)


@dataclass(frozen=True)
class Mrz:
    """A parsed zone. Dates are None when not a valid calendar date; ``checks`` holds every check digit."""

    kind: str  #: "TD3" (passport) or "TD1" (ID card)
    issuing_state: str
    document_number: str
    nationality: str
    birth_date: date | None
    sex: str
    expiry_date: date | None
    surname: str
    given_names: str
    checks: tuple[Check, ...] = field(default_factory=tuple)
    lines: tuple[int, ...] = ()  #: indexes of the zone's lines in the text given to :func:`find_mrz`

    @property
    def valid(self) -> bool:
        """Every check digit passed."""
        return all(c.passed for c in self.checks)

    def passed(self, name: str) -> bool:
        """The check digit of field ``name`` passed (and the composite one, when the zone has it)."""
        return any(c.field == name and c.passed for c in self.checks) and all(
            c.passed for c in self.checks if c.field == "composite")

    @property
    def full_name(self) -> str:
        """Given names then surname, as printed in the zone (capitals)."""
        return " ".join(part for part in (self.given_names, self.surname) if part)


_TD3_LINE2 = re.compile(r"^[A-Z0-9<]{9}[0-9<][A-Z<]{3}[0-9]{6}[0-9][MFX<][0-9]{6}[0-9][A-Z0-9<]{14}[0-9<][0-9]$")
_TD1_LINE1 = re.compile(r"^[A-Z][A-Z0-9<][A-Z<]{3}[A-Z0-9<]{9}[0-9<][A-Z0-9<]{15}$")
_TD1_LINE2 = re.compile(r"^[0-9]{6}[0-9][MFX<][0-9]{6}[0-9][A-Z<]{3}[A-Z0-9<]{11}[0-9]$")


def _clean(line: str) -> str:
    return re.sub(r"\s+", "", line.strip().upper()).replace("«", "<")


def _date(value: str, *, future: bool, today: date) -> date | None:
    try:
        year, month, day = int(value[0:2]), int(value[2:4]), int(value[4:6])
    except ValueError:
        return None
    century = 2000 if (future or 2000 + year <= today.year) else 1900
    try:
        return date(century + year, month, day)
    except ValueError:
        return None


def _names(text: str) -> tuple[str, str]:
    text = re.sub(r"K{3,}$", "", text)  # OCR reads trailing fillers as K now and then
    surname, _, given = text.partition("<<")
    given = re.split(r"<{2,}", given)[0]
    return surname.replace("<", " ").strip(), given.replace("<", " ").strip()


def find_mrz(text: str, *, today: date | None = None) -> Mrz | None:
    """The first TD3 or TD1 zone in ``text`` (lines as read; spaces inside a line are ignored), or None."""
    today = today or date.today()
    lines = [_clean(line) for line in text.splitlines()]
    for index, line in enumerate(lines):
        if _TD3_LINE2.match(line) and index > 0 and lines[index - 1].startswith("P"):
            return _td3(lines[index - 1], line, today, (index - 1, index))
        if _TD1_LINE1.match(line) and index + 1 < len(lines) and _TD1_LINE2.match(lines[index + 1]):
            names = lines[index + 2] if index + 2 < len(lines) else ""
            return _td1(line, lines[index + 1], names, today, (index, index + 1, index + 2))
    return None


def _td3(line1: str, line2: str, today: date, where: tuple[int, ...]) -> Mrz:
    surname, given = _names(line1[5:])
    composite = line2[0:10] + line2[13:20] + line2[21:43]
    # an empty personal number may carry "<" for its check digit (read as 0)
    personal = line2[42] if line2[42] != "<" else "0"
    checks: tuple[Check, ...] = (
        Check("document_number", line2[9], check_digit(line2[0:9])),
        Check("birth_date", line2[19], check_digit(line2[13:19])),
        Check("expiry_date", line2[27], check_digit(line2[21:27])),
        Check("personal_number", personal, check_digit(line2[28:42])),
        Check("composite", line2[43], check_digit(composite)),
    )
    return Mrz("TD3", line1[2:5].replace("<", ""), line2[0:9].replace("<", ""), line2[10:13].replace("<", ""),
               _date(line2[13:19], future=False, today=today), line2[20],
               _date(line2[21:27], future=True, today=today), surname, given, checks, where)


def _td1(line1: str, line2: str, line3: str, today: date, where: tuple[int, ...]) -> Mrz:
    surname, given = _names(line3)
    composite = line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29]
    checks = (
        Check("document_number", line1[14], check_digit(line1[5:14])),
        Check("birth_date", line2[6], check_digit(line2[0:6])),
        Check("expiry_date", line2[14], check_digit(line2[8:14])),
        Check("composite", line2[29], check_digit(composite)),
    )
    return Mrz("TD1", line1[2:5].replace("<", ""), line1[5:14].replace("<", ""), line2[15:18].replace("<", ""),
               _date(line2[0:6], future=False, today=today), line2[7],
               _date(line2[8:14], future=True, today=today), surname, given, checks, where)
