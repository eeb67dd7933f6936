"""A site's screening policy: the standards scoring applies (income multiple, ages, accepted kinds, points,
label bands), versioned per site (``leadeval policy set``) and recorded with every evaluation."""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict, Field, model_validator

from leadeval.models import DocumentKind, Severity
from leadeval.screening.kinds import DEFAULT_ACCEPTED_KINDS, INCOME_KINDS


def _default_deductions() -> dict[Severity, int]:
    return {"high": 25, "medium": 10, "low": 3}


class ScoringPolicy(BaseModel):
    """A site's screening policy: stored as JSON, versioned (``version`` is saved with every
    evaluation). Unknown keys are rejected so a typo cannot silently fall back to a default.

    Attributes:
        income_to_rent_ratio: monthly income needed, as a multiple of the applicant's rent
            share (rent − voucher). Default 3.0.
        decline_below_ratio: a verified ratio below this is declined (when every document was
            read and counted); None never declines for income. Default 2.0 (2/3 of 3.0).
        max_pay_stub_age_days / max_statement_age_days: older documents get ``stale_document``.
        accepted_kinds: kinds that count as screening documents (others get
            ``not_a_screening_document``); must include every income kind
            (:data:`~leadeval.screening.kinds.INCOME_KINDS`). Default: the registry's accepted kinds.
        income_points: points when the income standard is met.
        partial_income_points: the most points when it is not met, scaled by income ÷ required
            income (rounded down).
        income_document_points: points for at least one clean income document.
        identity_document_points: points for at least one clean government ID.
        deduction_points: points taken per finding, by severity.
        label_a_min / label_b_min / label_c_min: lowest score of labels A, B, C (D below).
        decline_on_edited: an edited document (HIGH risk, with its evidence listed) recommends decline.
            Default True; False sends every edited document to review.
        decline_on_arithmetic_only: an edited document whose only findings are arithmetic (figures that do
            not add up, read with certainty, no sign the file was changed) also recommends decline.
            Default False: honest stubs with unlisted deductions exist, so such findings go to review.

    Raises:
        pydantic.ValidationError: bands not descending, an income kind missing from
            ``accepted_kinds``, ``decline_below_ratio`` above ``income_to_rent_ratio``, or
            ``partial_income_points`` above ``income_points``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = "default-1"
    income_to_rent_ratio: float = Field(default=3.0, gt=0)
    decline_below_ratio: float | None = Field(default=2.0, ge=0)
    max_pay_stub_age_days: int = Field(default=60, ge=0)
    max_statement_age_days: int = Field(default=90, ge=0)
    #: a tax form reports a past year: last year's stays current until ~15 months after its year ends
    max_tax_form_age_days: int = Field(default=456, ge=0)
    accepted_kinds: list[DocumentKind] = Field(default_factory=lambda: list(DEFAULT_ACCEPTED_KINDS))
    income_points: int = Field(default=70, ge=0)
    partial_income_points: int = Field(default=50, ge=0)
    income_document_points: int = Field(default=20, ge=0)
    identity_document_points: int = Field(default=10, ge=0)
    deduction_points: dict[Severity, int] = Field(default_factory=lambda: _default_deductions())
    label_a_min: int = 80
    label_b_min: int = 65
    label_c_min: int = 50
    decline_on_edited: bool = True
    decline_on_arithmetic_only: bool = False

    @model_validator(mode="after")
    def _coherent(self) -> ScoringPolicy:
        if not 100 >= self.label_a_min > self.label_b_min > self.label_c_min >= 0:
            raise ValueError("label bands must satisfy 100 >= A > B > C >= 0")
        missing = [k.value for k in INCOME_KINDS if k not in self.accepted_kinds]
        if missing:
            raise ValueError(
                f"accepted_kinds must include every income kind (missing: {', '.join(missing)}): "
                "every lawful source of income counts"
            )
        if self.decline_below_ratio is not None and self.decline_below_ratio > self.income_to_rent_ratio:
            raise ValueError("decline_below_ratio must not exceed income_to_rent_ratio")
        if self.partial_income_points > self.income_points:
            raise ValueError("partial_income_points must not exceed income_points")
        if set(self.deduction_points) != {"low", "medium", "high"} or min(self.deduction_points.values()) < 0:
            raise ValueError("deduction_points needs non-negative low, medium and high")
        return self

    @classmethod
    def from_stored(cls, policy_json: str) -> ScoringPolicy:
        """A policy saved earlier (``leadeval_site_policies.policy_json``), normalised so that it stays valid
        when leadeval learns new kinds: income kinds are always accepted, so any missing from a stored
        ``accepted_kinds`` are added; fields it does not name take today's defaults.

        Raises:
            pydantic.ValidationError: the stored policy is invalid for another reason (edited by hand).
        """
        data = json.loads(policy_json)
        if isinstance(data, dict) and isinstance(data.get("accepted_kinds"), list):
            kinds = list(data["accepted_kinds"])
            data["accepted_kinds"] = kinds + [k.value for k in INCOME_KINDS if k.value not in kinds]
        return cls.model_validate(data)

    def stored_json(self) -> str:
        """What to store for this policy: only the settings that differ from the defaults (and the version), so
        a stored policy never pins what the site did not choose (a kind leadeval learns later is accepted)."""
        changed = self.model_dump(mode="json", exclude_defaults=True)
        changed["version"] = self.version
        return json.dumps(changed, sort_keys=True, separators=(",", ":"))

