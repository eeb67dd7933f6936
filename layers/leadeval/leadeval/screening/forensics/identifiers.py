"""Printed identifiers that cannot be genuine: ABA routing numbers, Social Security numbers, EINs.

Sources (public documents):

- ABA routing number check digit: the 3-7-1 weighted sum of the nine digits is a multiple of 10
  (American Bankers Association, "ABA Routing Number"; Federal Reserve Financial Services, "Routing Number
  Administration"). The first two digits are 00-12, 21-32 (banks), 61-72 (thrifts / electronic) or 80
  (traveller's cheques) (Federal Reserve, "Routing Number Policy").
- SSNs never issued: area 000, 666 or 900-999; group 00; serial 0000 (Social Security Administration,
  "Social Security Number Randomization", and POMS RM 10201.035); well-known specimen numbers: 078-05-1120
  (the Woolworth wallet card) and 219-09-9999 (an SSA pamphlet sample) (SSA, "Social Security Numbers:
  Misuse of sample numbers"); 123-45-6789 (used in advertising, never issued).
- EIN prefixes never assigned: 00, 07-09, 17-19, 28, 29, 49, 69, 70, 78, 79, 89, 96, 97 (IRS, "How EINs are
  assigned and valid EIN prefixes").

A masked SSN (``XXX-XX-1234``, ``***-**-1234``, or ``000-00-1234`` printed as a mask) is checked only on what
it shows. Evidence never repeats a full SSN: only the part that fails and the last four digits.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from leadeval.models import Signal
from leadeval.screening.forensics.content import Chunk, Line, PageContent

_ROUTING_LABEL = re.compile(r"\b(routing|aba|rtn|r/t|transit)\b", re.IGNORECASE)
_ROUTING_NUMBER = re.compile(r"(?<!\d)(\d{9})(?!\d)")
_SSN_LABEL = re.compile(r"\b(ssn|social\s+security\s+(number|no\.?|#)|soc\.?\s*sec\.?\s*(no|#|number))",
                        re.IGNORECASE)
_SSN = re.compile(r"(?<![\dA-Za-z])([0-9Xx*]{3})[- ]([0-9Xx*]{2})[- ]([0-9]{4})(?!\d)")
_EIN_LABEL = re.compile(r"\b(ein|fein|employer\s+(identification|id)|federal\s+(tax\s+)?id)", re.IGNORECASE)
_EIN = re.compile(r"(?<![\d-])(\d{2})-(\d{7})(?!\d)")

#: Never-assigned EIN prefixes (IRS).
INVALID_EIN_PREFIXES = frozenset({"00", "07", "08", "09", "17", "18", "19", "28", "29", "49", "69", "70", "78",
                                  "79", "89", "96", "97"})
#: Specimen SSNs that were never valid for a person (SSA).
SPECIMEN_SSNS = frozenset({"078051120", "219099999", "123456789"})


def aba_checksum_ok(number: str) -> bool:
    """True when a nine-digit routing number passes the 3-7-1 check and its prefix is in a valid range."""
    if len(number) != 9 or not number.isdigit():
        return False
    d = [int(c) for c in number]
    total = 3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8])
    prefix = int(number[:2])
    valid_prefix = prefix <= 12 or 21 <= prefix <= 32 or 61 <= prefix <= 72 or prefix == 80
    return total % 10 == 0 and valid_prefix


def ssn_problem(area: str, group: str, serial: str) -> str | None:
    """Why an SSN (as printed, possibly masked) was never issued, or None. Masked parts (``X``, ``*``, or an
    all-zero area AND group, a common mask) are not judged."""
    masked_area = not area.isdigit()
    masked_group = not group.isdigit()
    if area == "000" and group == "00":
        masked_area = masked_group = True  # "000-00-1234" is how many stubs mask an SSN
    if serial == "0000":
        return "serial 0000 is never issued"
    if not masked_area and (area == "000" or area == "666" or area >= "900"):
        return f"area {area} is never issued"
    if not masked_group and group == "00":
        return "group 00 is never issued"
    if not masked_area and not masked_group and f"{area}{group}{serial}" in SPECIMEN_SSNS:
        return "a well-known specimen number, never a person's"
    return None


def _labelled(lines: Sequence[Line], label: re.Pattern[str]) -> list[tuple[Line, str]]:
    """Lines whose text carries ``label``, with the text after the label (and the next line's text, for a
    value printed under its label)."""
    out = []
    for i, line in enumerate(lines):
        text = line.text
        m = label.search(text)
        if m:
            tail = text[m.end():]
            below = lines[i + 1].text if i + 1 < len(lines) and lines[i + 1].page == line.page else ""
            out.append((line, tail + " \n " + below))
    return out


def _box_of(page: PageContent, line: Line, needle: str) -> tuple[float, float, float, float] | None:
    fallback = line.chunks[-1] if line.chunks else None
    chunk: Chunk | None = next((c for c in line.chunks if needle[-4:] in c.text), fallback)
    if chunk is None:
        return None
    return page.geometry.box(chunk.x, chunk.y - 0.2 * chunk.size, chunk.x + chunk.width, chunk.y + 0.8 * chunk.size)


def identifier_signals(document_id: str, pages: Sequence[PageContent]) -> list[Signal]:
    """``invalid_routing_number``, ``invalid_ssn`` and ``invalid_ein`` (medium) for labelled identifiers
    that cannot be genuine (see the module docstring), one per identifier."""
    out: list[Signal] = []
    seen: set[tuple[str, str]] = set()
    for page in pages:
        lines = page.lines()
        for line, tail in _labelled(lines, _ROUTING_LABEL):
            m = _ROUTING_NUMBER.search(tail)
            if m and not aba_checksum_ok(m.group(1)) and ("aba", m.group(1)) not in seen:
                seen.add(("aba", m.group(1)))
                out.append(Signal(code="invalid_routing_number", severity="medium", document_id=document_id,
                                  evidence=f"page {page.number}: routing number {m.group(1)} fails the ABA 3-7-1 "
                                           "check digit (or has a prefix no bank uses)",
                                  page=page.number, box=_box_of(page, line, m.group(1)), field="routing_number",
                                  expected="a valid ABA check digit", actual=m.group(1)))
        for line, tail in _labelled(lines, _SSN_LABEL):
            m = _SSN.search(tail)
            if not m:
                continue
            area, group, serial = m.group(1).upper(), m.group(2).upper(), m.group(3)
            problem = ssn_problem(area, group, serial)
            if problem and ("ssn", serial + problem) not in seen:
                seen.add(("ssn", serial + problem))
                out.append(Signal(code="invalid_ssn", severity="medium", document_id=document_id,
                                  evidence=f"page {page.number}: the SSN ending {serial} cannot be genuine: {problem}",
                                  page=page.number, box=_box_of(page, line, serial), field="ssn",
                                  expected="an SSN the SSA issues", actual=f"XXX-XX-{serial}"))
        for line, tail in _labelled(lines, _EIN_LABEL):
            m = _EIN.search(tail)
            if m and m.group(1) in INVALID_EIN_PREFIXES and ("ein", m.group(0)) not in seen:
                seen.add(("ein", m.group(0)))
                out.append(Signal(code="invalid_ein", severity="medium", document_id=document_id,
                                  evidence=f"page {page.number}: EIN prefix {m.group(1)} is never assigned by the IRS",
                                  page=page.number, box=_box_of(page, line, m.group(0)), field="ein",
                                  expected="an assigned EIN prefix", actual=m.group(0)))
    return out
