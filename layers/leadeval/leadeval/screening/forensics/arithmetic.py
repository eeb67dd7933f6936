"""Payroll-tax and bank-statement arithmetic, on values read by position from the text layer (labels and
amounts on one line of :mod:`.content`) or on extracted facts.

External facts (public sources):

- Social Security (OASDI) tax: 6.2 % of wages up to the contribution and benefit base — $168,600 (2024),
  $176,100 (2025), $184,500 (2026) (SSA, "Contribution and Benefit Base", and the SSA 2025 and 2026 COLA fact
  sheets); Medicare (HI) tax: 1.45 % of all wages, plus the Additional Medicare Tax of 0.9 % withheld on
  wages above $200,000 in a calendar year (IRS Topic no. 751, "Social Security and Medicare withholding
  rates"; IRS Form 8959 instructions).
- Form W-2 box 4 (Social Security tax withheld) = 6.2 % × box 3 (Social Security wages); box 6 (Medicare
  tax withheld) = 1.45 % × box 5 (Medicare wages and tips) + 0.9 % × the part of box 5 above $200,000
  (IRS, "General Instructions for Forms W-2 and W-3").

Social Security and Medicare are withheld on the same wages below the wage base, so on one pay stub
``SS ÷ Medicare = 6.2 ÷ 1.45`` within rounding even when pre-tax (Section 125) deductions lower both; an
inflated gross with the taxes left unchanged breaks ``SS ≈ 6.2 % × gross`` beyond what such deductions
explain (:data:`PRE_TAX_SHARE_MAX`).

Every signal here is an *arithmetic* finding (medium: review, never edited by itself; see
:mod:`.verdict`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from leadeval.models import Signal
from leadeval.screening.forensics.content import Line, PageContent

SS_RATE = Decimal("0.062")
MEDICARE_RATE = Decimal("0.0145")
ADDITIONAL_MEDICARE_RATE = Decimal("0.009")
ADDITIONAL_MEDICARE_THRESHOLD = Decimal("200000")
#: SSA contribution and benefit base by year (US dollars).
SS_WAGE_BASE: dict[int, Decimal] = {2020: Decimal("137700"), 2021: Decimal("142800"), 2022: Decimal("147000"),
                                    2023: Decimal("160200"), 2024: Decimal("168600"), 2025: Decimal("176100"),
                                    2026: Decimal("184500")}
#: Pre-tax (Section 125) deductions may lower FICA wages below gross by at most this share before a low
#: Social Security figure is a finding (health premiums rarely exceed a quarter of gross pay).
PRE_TAX_SHARE_MAX = Decimal("0.25")
#: Rounding slack for one period's withholding (US dollars).
PERIOD_TOLERANCE = Decimal("0.05")
#: Rounding slack for a W-2 year (per-period rounding accumulates): the larger of $1 and 0.1 %.
ANNUAL_TOLERANCE = Decimal("1.00")

_MONEY = re.compile(r"\(?-?\$?\s?-?\d{1,3}(?:,\d{3})*\.\d{2}\)?-?")
_DATE = re.compile(r"^(\d{1,2}/\d{1,2}(?:/\d{2,4})?|\d{4}-\d{2}-\d{2}|[A-Z][a-z]{2}\.? \d{1,2}(?:, \d{4})?)\b")


def money_value(token: str) -> Decimal:
    """``"(1,234.50)"`` / ``"-$1,234.50"`` / ``"1,234.50-"`` → ``Decimal("-1234.50")``."""
    negative = token.startswith("(") or "-" in token
    digits = re.sub(r"[^\d.]", "", token)
    value = Decimal(digits)
    return -value if negative else value


def _amounts(text: str) -> list[Decimal]:
    return [money_value(m.group(0)) for m in _MONEY.finditer(text)]


def _dollars(value: Decimal) -> str:
    return f"${value:,.2f}"


def fica_problems(gross: Decimal, ss: Decimal | None, medicare: Decimal | None,
                  ytd_gross: Decimal | None = None) -> list[tuple[str, str, str]]:
    """Problems of one pay period's FICA as ``(field, expected, actual)``; empty when it holds.

    Rules: SS at most 6.2 % of gross (+ rounding) and, below the wage base, at least 6.2 % × (1 −
    :data:`PRE_TAX_SHARE_MAX`) of it; Medicare at most 1.45 % (+ 0.9 % when YTD passes $200,000) and at least
    1.45 % × (1 − :data:`PRE_TAX_SHARE_MAX`); both present below the wage base: SS ÷ Medicare = 6.2 ÷ 1.45.
    Money in US dollars; withholding taken as a magnitude."""
    out: list[tuple[str, str, str]] = []
    lowest_base = min(SS_WAGE_BASE.values())
    below_base = ytd_gross is None or ytd_gross < lowest_base
    over_threshold = ytd_gross is not None and ytd_gross > ADDITIONAL_MEDICARE_THRESHOLD
    if gross <= 0:
        return out
    floor = 1 - PRE_TAX_SHARE_MAX
    if ss is not None:
        ss = abs(ss)
        full = (gross * SS_RATE).quantize(Decimal("0.01"))
        if ss > full + PERIOD_TOLERANCE or (below_base and ss < full * floor - PERIOD_TOLERANCE):
            out.append(("social_security_tax", f"≈ 6.2% × gross {_dollars(gross)} = {_dollars(full)}", _dollars(ss)))
    if medicare is not None:
        medicare = abs(medicare)
        full = (gross * MEDICARE_RATE).quantize(Decimal("0.01"))
        top = full + ((gross * ADDITIONAL_MEDICARE_RATE) if over_threshold else 0)
        if medicare > top + PERIOD_TOLERANCE or medicare < full * floor - PERIOD_TOLERANCE:
            out.append(("medicare_tax", f"≈ 1.45% × gross {_dollars(gross)} = {_dollars(full)}", _dollars(medicare)))
    if ss is not None and medicare is not None and below_base and not over_threshold and medicare > 0 and not out:
        expected = (abs(medicare) * SS_RATE / MEDICARE_RATE).quantize(Decimal("0.01"))
        if abs(abs(ss) - expected) > PERIOD_TOLERANCE:
            out.append(("social_security_tax", f"6.2/1.45 × Medicare {_dollars(abs(medicare))} = {_dollars(expected)}",
                        _dollars(abs(ss))))
    return out


def w2_problems(year: int | None, box3: Decimal | None, box4: Decimal | None, box5: Decimal | None,
                box6: Decimal | None) -> list[tuple[str, str, str]]:
    """Problems of a W-2's boxes 3-6 as ``(field, expected, actual)`` (see the module docstring); a box not
    read is not judged. The wage base is that of ``year`` (the latest known when the year is unknown)."""
    out: list[tuple[str, str, str]] = []
    base = SS_WAGE_BASE.get(year or 0, max(SS_WAGE_BASE.values()))
    if box3 is not None and box3 > base + ANNUAL_TOLERANCE:
        out.append(("social_security_wages", f"at most the {year or 'latest'} wage base {_dollars(base)}",
                    _dollars(box3)))
    if box3 is not None and box4 is not None:
        expected = (min(box3, base) * SS_RATE).quantize(Decimal("0.01"))
        if abs(box4 - expected) > max(ANNUAL_TOLERANCE, expected / 1000):
            out.append(("social_security_tax", f"6.2% × box 3 {_dollars(box3)} = {_dollars(expected)}", _dollars(box4)))
    if box5 is not None and box6 is not None:
        low = (box5 * MEDICARE_RATE).quantize(Decimal("0.01"))
        high = low + (max(Decimal(0), box5 - ADDITIONAL_MEDICARE_THRESHOLD) * ADDITIONAL_MEDICARE_RATE)
        slack = max(ANNUAL_TOLERANCE, low / 1000)
        if not low - slack <= box6 <= high + slack:
            out.append(("medicare_tax", f"1.45% × box 5 {_dollars(box5)} = {_dollars(low)}"
                        + (f" (up to {_dollars(high)} with the 0.9% above $200,000)" if high > low else ""),
                        _dollars(box6)))
    return out


def running_balance_problems(rows: Sequence[tuple[Decimal | None, Decimal | None]],
                             opening: Decimal | None = None) -> list[tuple[int, str, str]]:
    """Rows ``(amount, balance)`` whose balance is not the previous balance ± the amount, as ``(row index
    (0-based), expected, actual)``. An unsigned amount may be a credit or a debit (statements print debits
    in their own column); a row without a balance carries the running figure forward."""
    out: list[tuple[int, str, str]] = []
    previous = opening
    for i, (amount, balance) in enumerate(rows):
        if amount is None:
            continue
        if previous is not None and balance is not None:
            candidates = [previous + amount] if amount < 0 else [previous + amount, previous - amount]
            if all(abs(c - balance) > Decimal("0.01") for c in candidates):
                out.append((i, _dollars(candidates[0]) if len(candidates) == 1 else
                            f"{_dollars(candidates[0])} or {_dollars(candidates[1])}", _dollars(balance)))
        if balance is not None:
            previous = balance
        elif previous is not None:
            previous = previous + amount
    return out


# --------------------------------------------------------------------------- reading by position

_GROSS = re.compile(r"^(total\s+)?gross(\s+(pay|earnings|wages))?\b", re.IGNORECASE)
_SS = re.compile(r"^(social\s+security(\s+tax)?|oasdi|fica[\s-]*(ss|soc)|soc\.?\s*sec\.?)\b(?!.*wages)", re.IGNORECASE)
_MED = re.compile(r"^(medicare(\s+tax)?|fica[\s-]*med)\b(?!.*wages)", re.IGNORECASE)
_W2_BOX = {3: re.compile(r"social\s+security\s+wages", re.IGNORECASE),
           4: re.compile(r"social\s+security\s+tax\s+withheld", re.IGNORECASE),
           5: re.compile(r"medicare\s+wages", re.IGNORECASE),
           6: re.compile(r"medicare\s+tax\s+withheld", re.IGNORECASE)}
_W2 = re.compile(r"\bW-2\b|wage\s+and\s+tax\s+statement", re.IGNORECASE)
_YEAR = re.compile(r"\b(20[1-3]\d)\b")
_OPENING = re.compile(r"(beginning|opening|previous|starting)\s+balance", re.IGNORECASE)
_TOTAL_CREDITS = re.compile(r"total\s+(deposits|credits)", re.IGNORECASE)
_TOTAL_DEBITS = re.compile(r"total\s+(withdrawals|debits|payments)", re.IGNORECASE)


def _first(lines: Sequence[Line], label: re.Pattern[str]) -> tuple[Line, list[Decimal]] | None:
    for line in lines:
        if label.search(line.text):
            amounts = _amounts(line.text)
            if amounts:
                return line, amounts
    return None


def _signal(code: str, document_id: str, page: PageContent, line: Line, field: str, expected: str,
            actual: str, evidence: str) -> Signal:
    last = line.chunks[-1]
    box = page.geometry.box(line.chunks[0].x, line.y - 0.2 * last.size, last.x + last.width,
                            line.y + 0.8 * last.size)
    return Signal(code=code, severity="medium", evidence=evidence, document_id=document_id, page=page.number, box=box,
                  field=field, expected=expected, actual=actual)


def payroll_signals(document_id: str, pages: Sequence[PageContent]) -> list[Signal]:
    """``fica_mismatch`` (pay stub lines: Gross, Social Security, Medicare; first amount = this period, a
    second on the gross line = YTD) and ``w2_tax_mismatch`` (W-2 boxes 3-6 labelled on their line), read from
    the first page that shows them."""
    out: list[Signal] = []
    for page in pages:
        lines = page.lines()
        text = "\n".join(line.text for line in lines)
        if _W2.search(text):
            boxes: dict[int, tuple[Line, Decimal]] = {}
            for number, label in _W2_BOX.items():
                found = _first(lines, label)
                if found:
                    boxes[number] = (found[0], found[1][0])
            years = [int(y) for y in _YEAR.findall(text)]
            year = max(years) if years else None
            values = [boxes[n][1] if n in boxes else None for n in (3, 4, 5, 6)]
            for field, expected, actual in w2_problems(year, *values):
                box_no = {"social_security_wages": 3, "social_security_tax": 4, "medicare_tax": 6}[field]
                line = boxes.get(box_no, next(iter(boxes.values())))[0]
                out.append(_signal("w2_tax_mismatch", document_id, page, line, field, expected, actual,
                                   f"page {page.number}: W-2 {field.replace('_', ' ')} {actual}, expected {expected}"))
            if boxes:
                return out
        gross_found = next((a for ln in lines if _GROSS.search(ln.text.strip()) and (a := _amounts(ln.text))), None)
        if gross_found is None:
            continue
        gross_amounts = gross_found
        ss = next(((ln, a) for ln in lines if _SS.search(ln.text.strip()) and (a := _amounts(ln.text))), None)
        med = next(((ln, a) for ln in lines if _MED.search(ln.text.strip()) and (a := _amounts(ln.text))), None)
        if ss is None and med is None:
            continue
        ytd = gross_amounts[1] if len(gross_amounts) > 1 else None
        for field, expected, actual in fica_problems(gross_amounts[0], ss[1][0] if ss else None,
                                                     med[1][0] if med else None, ytd):
            line = (ss if field == "social_security_tax" else med or ss)[0]  # type: ignore[index]
            out.append(_signal("fica_mismatch", document_id, page, line, field, expected, actual,
                               f"page {page.number}: {field.replace('_', ' ')} {actual}, expected {expected}"))
        return out
    return out


def statement_signals(document_id: str, pages: Sequence[PageContent]) -> list[Signal]:
    """Bank statement rows read by position (a line starting with a date and ending with two amounts: the
    transaction and the running balance): ``running_balance_mismatch`` (medium) per broken row,
    ``transaction_totals_mismatch`` (medium) when printed totals disagree with the rows, and
    ``duplicate_transaction`` (low) for a row printed twice (same date, description and amount)."""
    rows: list[tuple[PageContent, Line, Decimal, Decimal]] = []
    opening: Decimal | None = None
    totals: dict[str, tuple[PageContent, Line, Decimal]] = {}
    for page in pages:
        for line in page.lines():
            text = line.text
            amounts = _amounts(text)
            if _OPENING.search(text) and amounts and opening is None:
                opening = amounts[-1]
            elif _TOTAL_CREDITS.search(text) and amounts:
                totals["credits"] = (page, line, abs(amounts[-1]))
            elif _TOTAL_DEBITS.search(text) and amounts:
                totals["debits"] = (page, line, abs(amounts[-1]))
            elif _DATE.match(text) and len(amounts) >= 2:
                rows.append((page, line, amounts[-2], amounts[-1]))
    if len(rows) < 2:
        return []
    out: list[Signal] = []
    for index, expected, actual in running_balance_problems([(a, b) for _, _, a, b in rows], opening):
        page, line, _, _ = rows[index]
        out.append(_signal("running_balance_mismatch", document_id, page, line, "balance", expected, actual,
                           f"page {page.number}: row {index + 1}'s balance {actual}, expected {expected} "
                           "(previous balance ± the row's amount)"))
    credits = debits = Decimal(0)
    previous = opening
    for _, _, amount, balance in rows:
        signed = amount
        if amount > 0 and previous is not None and abs(previous - amount - balance) <= Decimal("0.01"):
            signed = -amount
        credits += signed if signed > 0 else 0
        debits += -signed if signed < 0 else 0
        previous = balance
    for key, total in (("credits", credits), ("debits", debits)):
        if key in totals and abs(totals[key][2] - total) > Decimal("0.01") and opening is not None:
            page, line, printed = totals[key]
            out.append(_signal("transaction_totals_mismatch", document_id, page, line, f"total_{key}",
                               _dollars(total), _dollars(printed),
                               f"page {page.number}: printed total {key} {_dollars(printed)}, the rows add up to "
                               f"{_dollars(total)}"))
    seen: dict[tuple[str, Decimal], int] = {}
    for page, line, amount, _ in rows:
        row_key = (re.sub(r"\s+", " ", _MONEY.sub("", line.text)).strip().lower(), amount)
        seen[row_key] = seen.get(row_key, 0) + 1
        if seen[row_key] == 2:
            out.append(Signal(code="duplicate_transaction", severity="low", document_id=document_id, page=page.number,
                              evidence=f"page {page.number}: a row with the same date, description and amount "
                                       f"{_dollars(amount)} is printed twice", field="transactions",
                              actual=_dollars(amount)))
    return out


def pay_dates_consistent(frequency: str, first: date, second: date) -> bool:
    """True when two pay dates of one schedule are a whole number of periods apart (a missing stub between
    them is allowed): weekly 7 days (± 2), biweekly 14 (± 2), semimonthly ~15.2 (± 3), monthly ~30.4 (± 4)."""
    period = {"weekly": 7.0, "biweekly": 14.0, "semimonthly": 365.25 / 24, "monthly": 365.25 / 12}.get(frequency)
    if period is None:
        return True
    days = abs((second - first).days)
    k = max(1, round(days / period))
    slack = {"weekly": 2, "biweekly": 2, "semimonthly": 3, "monthly": 4}[frequency]
    return abs(days - k * period) <= slack
