"""The document-kind registry is complete and is the one source of a kind's facts; stored policies survive a
new kind."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from leadeval.adapters.ai.extraction import system_prompt
from leadeval.adapters.ai.offline import KIND_MARKERS, classify
from leadeval.models import DocumentKind
from leadeval.screening import kinds
from leadeval.screening.policy import ScoringPolicy


def test_every_kind_has_one_registry_entry() -> None:
    assert set(kinds.KINDS) == set(DocumentKind)
    assert all(spec.kind == kind and spec.label for kind, spec in kinds.KINDS.items())


def test_income_kinds_are_always_accepted_by_default() -> None:
    assert set(kinds.INCOME_KINDS) == {DocumentKind.PAY_STUB, DocumentKind.EMPLOYMENT_LETTER, DocumentKind.TAX_FORM,
                                       DocumentKind.BENEFIT_LETTER}
    assert set(kinds.INCOME_KINDS) <= set(kinds.DEFAULT_ACCEPTED_KINDS)
    assert DocumentKind.OTHER not in kinds.DEFAULT_ACCEPTED_KINDS
    assert ScoringPolicy().accepted_kinds == list(kinds.DEFAULT_ACCEPTED_KINDS)


def test_the_prompt_and_the_offline_reader_take_their_kinds_from_the_registry() -> None:
    prompt = system_prompt()
    for spec in kinds.KINDS.values():
        assert f"{spec.kind.value}: {spec.prompt_hint}" in prompt
    assert {kind for kind, _ in KIND_MARKERS} == {k for k, s in kinds.KINDS.items() if s.title_markers}
    assert classify("WAGE AND TAX STATEMENT  Form W-2  Wages, tips, other compensation") == DocumentKind.TAX_FORM
    assert classify("Statement Period 01/01/2026 - 01/31/2026  Opening Balance") == DocumentKind.BANK_STATEMENT
    assert classify("a recipe for bread") == DocumentKind.OTHER


@pytest.mark.parametrize("stored_kinds", [["pay_stub", "bank_statement"], ["bank_statement", "government_id"]])
def test_a_stored_policy_missing_an_income_kind_loads_with_it(stored_kinds: list[str]) -> None:
    """A policy saved when fewer income kinds existed (or by hand) is normalised on load, never refused: every
    income kind is accepted; the kinds it named stay."""
    policy = ScoringPolicy.from_stored(json.dumps({"version": "site-a-v1", "accepted_kinds": stored_kinds,
                                                   "income_to_rent_ratio": 2.5}))
    assert set(policy.accepted_kinds) == set(stored_kinds) | set(kinds.INCOME_KINDS)
    assert (policy.version, policy.income_to_rent_ratio) == ("site-a-v1", 2.5)
    with pytest.raises(ValueError, match="must include every income kind"):
        ScoringPolicy.model_validate({"accepted_kinds": stored_kinds})  # a person's input is still checked


def test_a_stored_policy_holds_only_what_the_site_changed() -> None:
    """So a kind leadeval learns later is accepted by every site that never narrowed its kinds."""
    stored = json.loads(ScoringPolicy(income_to_rent_ratio=2.5, label_a_min=85).stored_json())
    assert stored == {"version": "default-1", "income_to_rent_ratio": 2.5, "label_a_min": 85}
    assert ScoringPolicy.from_stored(json.dumps(stored)) == ScoringPolicy(income_to_rent_ratio=2.5, label_a_min=85)


def test_income_is_counted_by_each_kinds_rule_not_by_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scoring asks the registry which kinds carry which income rule: giving the employment letter's rule to
    another kind makes that kind's stated annual income count, with no change to the scorer."""
    from dataclasses import replace

    from leadeval.models import DocumentResult, ExtractedFacts, Verdict
    from leadeval.screening.scoring import income_breakdown

    assert set(kinds.INCOME_KINDS) == {k for rule in ("pay_periods", "annual_wage", "benefit")
                                       for k in kinds.with_income_rule(rule)}  # type: ignore[arg-type]
    doc = DocumentResult(document_id="doc_1", kind=DocumentKind.OTHER, verdict=Verdict.CLEAN, reason="ok",
                         facts=ExtractedFacts(document_kind=DocumentKind.OTHER, annual_income=Decimal("48000")))
    assert income_breakdown([doc]).items == []
    monkeypatch.setitem(kinds.KINDS, DocumentKind.OTHER,
                        replace(kinds.KINDS[DocumentKind.OTHER], income_rule="annual_wage"))
    (item,) = income_breakdown([doc]).items
    assert item.monthly_cents == 400_000
