"""ICAO 9303 machine-readable zones: check digits, TD3 and TD1 parsing, and what the offline reader does with
them (verified expiry and name, a failed check digit reported)."""

from __future__ import annotations

from datetime import date

import pytest

from leadeval.adapters.ai.offline import apply_mrz, read_document
from leadeval.models import PageLayout, PageWord
from leadeval.screening.mrz import check_digit, find_mrz

# ICAO Doc 9303 Part 4, Appendix A: the specimen passport of Anna Maria Eriksson (Utopia)
TD3 = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10"
# ICAO Doc 9303 Part 5, Appendix A: the specimen TD1 card
TD1 = "I<UTOD231458907<<<<<<<<<<<<<<<\n7408122F1204159UTO<<<<<<<<<<<6\nERIKSSON<<ANNA<MARIA<<<<<<<<<<"


@pytest.mark.parametrize(("value", "digit"), [("L898902C3", 6), ("740812", 2), ("120415", 9), ("D23145890", 7),
                                              ("<<<<<<", 0), ("AB2134<<<", 5)])
def test_check_digit(value: str, digit: int) -> None:
    assert check_digit(value) == digit


def test_td3_specimen() -> None:
    mrz = find_mrz(f"some text above\n{TD3}\n", today=date(2026, 1, 1))
    assert mrz is not None and mrz.kind == "TD3" and mrz.valid
    assert (mrz.document_number, mrz.nationality, mrz.birth_date, mrz.expiry_date, mrz.sex) == (
        "L898902C3", "UTO", date(1974, 8, 12), date(2012, 4, 15), "F")
    assert mrz.full_name == "ANNA MARIA ERIKSSON"


def test_td1_specimen() -> None:
    mrz = find_mrz(TD1, today=date(2026, 1, 1))
    assert mrz is not None and mrz.kind == "TD1" and mrz.valid
    assert (mrz.document_number, mrz.birth_date, mrz.expiry_date) == ("D23145890", date(1974, 8, 12),
                                                                      date(2012, 4, 15))


def test_a_changed_expiry_fails_its_check_digit_and_the_composite() -> None:
    altered = TD3.replace("1204159", "1804159")  # expiry 2012 -> 2018, check digit left as printed (7 now)
    mrz = find_mrz(altered, today=date(2026, 1, 1))
    assert mrz is not None and not mrz.valid
    assert {c.field for c in mrz.checks if not c.passed} == {"expiry_date", "composite"}
    assert not mrz.passed("expiry_date") and not mrz.passed("document_number")  # composite failed too


def _ocr_page(lines: list[str]) -> PageLayout:
    words = []
    for row, line in enumerate(lines):
        words.append(PageWord(line, (0.05, 0.1 + row * 0.05, 0.9, 0.13 + row * 0.05), 0.97))
    return PageLayout(page=1, how="ocr", words=words)


def test_reader_takes_name_and_expiry_from_a_valid_zone() -> None:
    layouts = [_ocr_page(["PASSPORT", *TD3.split("\n")])]
    facts, evidence = read_document(None, layouts)
    facts, evidence = apply_mrz(facts, evidence, layouts)
    assert facts.document_kind == "government_id"
    assert facts.names_shown[0] == "ANNA MARIA ERIKSSON" and facts.id_expiry == date(2012, 4, 15)
    assert evidence["id_expiry"].certain and evidence["id_expiry"].how == "ocr"
    assert evidence["id_expiry"].page == 1 and evidence["id_expiry"].box is not None
    assert facts.tampering_signals == []


def test_reader_reports_a_failed_check_digit() -> None:
    layouts = [_ocr_page(["PASSPORT", *TD3.replace("1204159", "1804159").split("\n")])]
    facts, evidence = apply_mrz(*read_document(None, layouts), layouts)
    assert facts.id_expiry == date(2018, 4, 15)
    assert not evidence["id_expiry"].certain
    assert facts.tampering_signals == ["MRZ check digit failed: expiry_date (printed 9, computed 7)",
                                       "MRZ check digit failed: composite (printed 0, computed 2)"]
