"""The policy and the rest of ``scenario.yaml``, declared once as pydantic models.

Field descriptions double as documentation and API schema. Every rule may cite a source id
from ``sources``; validation checks that the cited source exists.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Designation = Literal["key_assistance", "old_revolutionary", "ethnic"]
Domain = Literal[
    "elderly", "children", "disability", "hardship", "family", "community", "volunteer_dev"
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Priority(_Strict):
    """Priority weight of a region by its designations (the largest applicable weight wins)."""

    key_assistance: int = Field(3, ge=1, description="weight of key-assistance areas")
    old_revolutionary: int = Field(2, ge=1, description="weight of old revolutionary areas")
    ethnic: int = Field(2, ge=1, description="weight of ethnic areas")
    default: int = Field(1, ge=1, description="weight of every other region")


class Staffing(_Strict):
    base_per_station: float = Field(2, ge=0, description="social workers every station needs")
    per_elderly: float | None = Field(
        1000, gt=0, description="one social worker per this many elderly (60+)"
    )
    per_care_beds: float | None = Field(
        100, gt=0, description="one social worker per this many elderly-care beds"
    )
    dispatch_share: float = Field(
        0.3, ge=0, le=1, description="share of a paired organization's staff it may dispatch"
    )
    max_km: float = Field(50, ge=0, description="default reach of a social worker, km")
    source: str | None = Field(None, description="source id of these rules")


class Quota(_Strict):
    cross_province: int | None = Field(
        None, ge=0, description="at most this many partners from other provinces"
    )
    in_province: int | None = Field(
        None, ge=0, description="at most this many partners from inside the province"
    )


class ScoreWeights(_Strict):
    specialty: int = Field(50, ge=0, description="points for a full specialty fit")
    quality: int = Field(20, ge=0, description="points for the top rating (5A)")
    distance: int = Field(30, ge=0, description="points for zero distance, falling to 0 at max_km")


class Pairing(_Strict):
    targets: list[Designation] = Field(
        default_factory=lambda: list[Designation](["key_assistance"]),
        description="designations that make a region a pairing target",
    )
    level: Literal["county", "township"] = Field("county", description="level of the targets")
    partners_per_target: int = Field(1, ge=1, description="partners every target needs")
    max_km: float | None = Field(
        600, gt=0, description="farthest allowed sender–target distance, km (null: no limit)"
    )
    cross_province: bool | Literal["counterparts"] = Field(
        True,
        description="whether senders may come from other provinces: true (any, within max_km "
        "unless counterparts restrict the target's province), false (none), or counterparts "
        "(only along the counterparts table; targets of unlisted provinces get in-province "
        "senders only)",
    )
    counterparts: dict[str, list[str]] = Field(
        default_factory=dict,
        description="target province → the only provinces that may send across provinces to it "
        "(names or 2-digit codes)",
    )
    counterparts_ignore_distance: bool = Field(
        True, description="counterpart pairs are not bound by max_km"
    )
    quotas: dict[str, Quota] = Field(
        default_factory=dict, description="target province → caps on cross-/in-province partners"
    )
    continuity_bonus: int = Field(30, ge=0, description="points for keeping last period's pair")
    weights: ScoreWeights = Field(default_factory=lambda: ScoreWeights())
    candidates: Literal["rules", "listed"] = Field(
        "rules", description="rules: candidates from the rules; listed: only pair_overrides rows"
    )
    source: str | None = Field(None, description="source id of these rules")


class Volunteers(_Strict):
    max_km: float = Field(30, ge=0, description="default reach of a volunteer, km")
    hours_per_supervisor: float = Field(
        400,
        ge=0,
        description="volunteer hours a social worker can supervise per year (default: a "
        "planning assumption of about 20 volunteers × 20 hours)",
    )
    hours_per_person: dict[Domain, float] = Field(
        default_factory=lambda: dict[Domain, float](
            {"elderly": 0.2, "children": 3.0, "disability": 1.0, "hardship": 0.5, "family": 0.5}
        ),
        description="volunteer hours needed per year per beneficiary of the domain (elderly; "
        "children at risk + left-behind children; disabled; low-income + extreme-poverty; "
        "left-behind women) — a planning assumption unless a source is cited; the defaults "
        "put Henan's need (≈12 M hours) at about the hours its volunteers give",
    )
    source: str | None = None


class Funds(_Strict):
    unit_yuan: int = Field(1000, ge=1, description="money is allocated in whole units of this")
    yuan_per_person: dict[Domain, float] = Field(
        default_factory=lambda: dict[Domain, float](
            {
                "elderly": 10.0,
                "children": 100.0,
                "disability": 30.0,
                "hardship": 20.0,
                "family": 20.0,
            }
        ),
        description="funds needed per year per beneficiary of the domain (same beneficiaries as "
        "volunteers.hours_per_person), yuan — a planning assumption unless a source is cited; "
        "the defaults put Henan's need at ≈¥460 M a year, about twice its synthetic lots",
    )
    utility: list[tuple[float, float]] = Field(
        default_factory=lambda: [(0.5, 1.0), (0.3, 0.6), (0.2, 0.3)],
        description="concave utility: (share of the need, value per unit) segments; shares add "
        "up to 1, values positive and falling",
    )
    per_worker_yuan: float = Field(
        500000, ge=0, description="funds one assigned social worker can deliver per year"
    )
    per_partner_yuan: float = Field(
        1000000,
        ge=0,
        description="funds a 牵手 partner organization can deliver per year in the target it is "
        "paired with, shared by the target's stations",
    )
    source: str | None = None

    @field_validator("utility")
    @classmethod
    def _concave(cls, segments: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if not segments:
            raise ValueError("give at least one (share, value) segment")
        shares = [share for share, _ in segments]
        values = [value for _, value in segments]
        if any(share <= 0 for share in shares) or abs(sum(shares) - 1.0) > 1e-6:
            raise ValueError(f"shares must be positive and add up to 1, not {shares}")
        if any(value <= 0 for value in values) or any(
            later > earlier for earlier, later in pairwise(values)
        ):
            raise ValueError(f"values must be positive and falling (concave), not {values}")
        return segments


class Stability(_Strict):
    """Re-planning from a previous plan (``linkage solve --previous PLAN``): keep its pairs and
    staffing unless a change buys a real improvement."""

    churn_penalty_pairing: int | None = Field(
        None,
        ge=0,
        description="points a pair that was not in the previous plan scores below one that was "
        "(the previous plan's pairs become last period's pairs and earn this as their "
        "continuity bonus); null: pairing.continuity_bonus",
    )
    churn_penalty_staffing: int = Field(
        20,
        ge=0,
        description="km of travel a kept assignment is worth: each 0.1 FTE a pool keeps at the "
        "station the previous plan gave it costs this much less, so workers move only to cut a "
        "shortfall or to save more travel than this; 0: no preference",
    )


class Solver(_Strict):
    time_limit_s: float = Field(60, gt=0, description="time limit per stage, seconds")
    seed: int = Field(0, ge=0, description="random seed (results are deterministic for a seed)")
    workers: int = Field(2, ge=1, description="solver threads")
    pairing_method: Literal["auto", "flow", "cp_sat", "mip"] = Field(
        "auto", description="auto: a flow where the structure allows, else CP-SAT or a MIP"
    )


class Policy(_Strict):
    priority: Priority = Field(default_factory=lambda: Priority())
    staffing: Staffing = Field(default_factory=lambda: Staffing())
    pairing: Pairing = Field(default_factory=lambda: Pairing())
    volunteers: Volunteers = Field(default_factory=lambda: Volunteers())
    funds: Funds = Field(default_factory=lambda: Funds())
    stability: Stability = Field(default_factory=lambda: Stability())
    solver: Solver = Field(default_factory=lambda: Solver())


class ScenarioMeta(_Strict):
    """The whole of ``scenario.yaml``."""

    name: str = Field(..., min_length=1, description="scenario name")
    year: int = Field(2025, ge=1949, le=2100, description="planning year")
    description: str = Field("", description="what the scenario is")
    sources: dict[str, str] = Field(
        default_factory=dict, description="source id → citation of a policy document or data set"
    )
    provenance: dict[str, str] = Field(
        default_factory=dict,
        description="table or figure → which numbers are real and which synthetic",
    )
    policy: Policy = Field(default_factory=lambda: Policy())
