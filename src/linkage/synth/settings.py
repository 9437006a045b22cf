"""The generator's settings (``generate.yaml``), declared once as pydantic models.

A settings file names the real geography to take from the packaged reference data, how the
designations are derived, the rates that calibrate the synthetic indicators, and how many
organizations, social workers, volunteers and donor lots to synthesise and where. The ``scenario``
block is copied into the generated ``scenario.yaml`` (name, year, sources, policy); the generator
adds ``provenance``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DesignationRule = Literal[
    "key_county_2021",
    "old_area_list",
    "autonomous_unit",
    "in_autonomous_prefecture",
    "in_autonomous_region",
    "ethnic_township",
    "county_with_ethnic_township",
]


def _rules(*names: DesignationRule) -> list[DesignationRule]:
    return list(names)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Geography(_Strict):
    provinces: list[str] = Field(
        default_factory=list, description="2-digit province codes to include (empty: all)"
    )
    level: Literal["county", "township"] = Field(
        "township", description="deepest level of the regions table"
    )
    formal_units_only: bool = Field(
        False, description="drop development zones and other pseudo units (is_formal_unit False)"
    )


class Designations(_Strict):
    """Which reference facts set each designation flag.

    Rules: ``key_county_2021`` (is_key_county_2021 == Y), ``old_area_list`` (listed in
    revolutionary_old_area_counties), ``autonomous_unit`` (the county is an autonomous county or
    banner), ``in_autonomous_prefecture`` / ``in_autonomous_region``, ``ethnic_township`` (the
    民族乡 township itself), ``county_with_ethnic_township`` (a county containing one). County rules
    also flag the county's townships, except ``county_with_ethnic_township``.
    """

    key_assistance: list[DesignationRule] = Field(default_factory=lambda: _rules("key_county_2021"))
    old_revolutionary: list[DesignationRule] = Field(
        default_factory=lambda: _rules("old_area_list")
    )
    ethnic: list[DesignationRule] = Field(
        default_factory=lambda: _rules(
            "autonomous_unit", "in_autonomous_prefecture", "in_autonomous_region", "ethnic_township"
        )
    )
    provinces: dict[str, list[str]] = Field(
        default_factory=dict,
        description="designation → 2-digit province codes it is limited to (absent: everywhere)",
    )


class Indicators(_Strict):
    """Rates calibrating the synthetic indicators (national figures, approximate; see
    ``linkage.synth.geography.RATE_SOURCES``)."""

    care_beds_per_1000_elderly: float = Field(35.0, ge=0)
    children_at_risk_per_1000_children: float = Field(10.0, ge=0)
    left_behind_children_per_1000_rural: float = Field(13.5, ge=0)
    left_behind_women_per_1000_rural: float = Field(40.0, ge=0)
    disabled_per_1000: float = Field(27.0, ge=0)
    low_income_per_1000_rural: float = Field(68.0, ge=0)
    low_income_per_1000_urban: float = Field(8.0, ge=0)
    extreme_poverty_per_1000_rural: float = Field(8.6, ge=0)
    extreme_poverty_per_1000_urban: float = Field(0.4, ge=0)
    designated_hardship_factor: float = Field(
        1.3, ge=0, description="hardship rates × this in designated counties"
    )
    noise_sigma: float = Field(0.3, ge=0, description="log-normal spread of local rates")
    station_share: float = Field(1.0, ge=0, le=1, description="share of townships with a station")
    community_weight: float = Field(
        3.0, ge=0, description="residents of a community relative to a village, for apportioning"
    )


class Placement(_Strict):
    """Where rows are placed: which regions are eligible, weighted how."""

    level: Literal["province", "city", "county", "township"] = "county"
    provinces: list[str] = Field(default_factory=list, description="2-digit codes (empty: all)")
    prefectures: list[str] = Field(default_factory=list, description="4-digit codes")
    capitals: bool = Field(False, description="only provincial-capital prefectures")
    districts_only: bool = Field(False, description="only urban districts (counties named …区)")
    weight: Literal["population", "uniform"] = "population"
    min_per_unit: int = Field(0, ge=0, description="at least this many rows in every unit")


class OrganizationGroup(_Strict):
    count: int = Field(..., ge=0, description="number of organizations")
    kind: str = "social_work"
    where: Placement = Field(default_factory=Placement)
    name_suffixes: list[str] = Field(
        default_factory=lambda: ["社会工作服务中心", "社会工作服务社", "社工服务中心"]
    )
    staff_median: float = Field(10, gt=0)
    staff_max: int = Field(120, ge=1)
    rating_probabilities: list[float] = Field(
        default_factory=lambda: [0.45, 0.02, 0.08, 0.25, 0.15, 0.05],
        description="probability of rating 0 (unrated), 1A … 5A",
    )
    pairing_capacity: dict[int, float] = Field(
        default_factory=lambda: {0: 1.0}, description="capacity → probability"
    )
    specialties: tuple[int, int] = Field((1, 3), description="min and max number of domains")
    note: str = Field("", description="calibration note written into provenance")

    @model_validator(mode="after")
    def _six_ratings(self) -> OrganizationGroup:
        if len(self.rating_probabilities) != 6:
            raise ValueError("rating_probabilities needs 6 entries (unrated, 1A … 5A)")
        return self


class NamedOrganization(_Strict):
    """A real-world-named organization placed on purpose (its figures stay synthetic)."""

    id: str
    name: str
    region: str = Field(..., description="region code; must be in the generated regions")
    kind: str = "social_work"
    specialties: list[str] = Field(default_factory=list)
    staff: int = Field(8, ge=0)
    rating: int = Field(0, ge=0, le=5)
    pairing_capacity: int = Field(0, ge=0)


class SocialWorkers(_Strict):
    people: int = Field(..., ge=0, description="total people over all pools")
    rows: int = Field(..., ge=0, description="number of pool rows")
    where: Placement = Field(default_factory=lambda: Placement(level="township"))
    employed_share: float = Field(
        0.5, ge=0, le=1, description="share of pools linked to an organization of their county"
    )
    levels: dict[str, float] = Field(
        default_factory=lambda: {
            "none": 0.45,
            "assistant": 0.35,
            "intermediate": 0.17,
            "senior": 0.03,
        }
    )
    specialties: tuple[int, int] = (1, 2)
    fte: dict[float, float] = Field(default_factory=lambda: {1.0: 0.8, 0.5: 0.2})
    max_km: dict[str, float] = Field(
        default_factory=lambda: {"": 0.7, "30": 0.2, "80": 0.1},
        description="max_km value ('' = policy default) → probability",
    )
    note: str = ""


class Volunteers(_Strict):
    people: int = Field(..., ge=0)
    pools_per_unit: int = Field(3, ge=1, description="pools per placement unit")
    where: Placement = Field(default_factory=lambda: Placement(level="township"))
    hours_median: float = Field(30, gt=0, description="hours per person per year")
    skills: tuple[int, int] = (1, 3)
    max_km: dict[str, float] = Field(default_factory=lambda: {"": 0.8, "10": 0.15, "50": 0.05})
    note: str = ""


class Donor(_Strict):
    name: str
    donor_type: str = "foundation"
    weight: float = Field(1.0, gt=0)


class Resources(_Strict):
    lots: int = Field(..., ge=0)
    total_yuan: float = Field(..., ge=0, description="money over all funds lots")
    donors: list[Donor] = Field(..., min_length=1)
    kinds: dict[str, float] = Field(
        default_factory=lambda: {"funds": 0.85, "goods": 0.1, "service": 0.05}
    )
    eligible_probability: float = Field(0.3, ge=0, le=1)
    regions_probability: float = Field(0.3, ge=0, le=1)
    domains_probability: float = Field(0.5, ge=0, le=1)
    earmarks: dict[str, float] = Field(
        default_factory=lambda: {"none": 0.7, "social_work": 0.2, "child_welfare": 0.1}
    )
    min_grant_probability: float = Field(0.1, ge=0, le=1)
    note: str = ""


class ExistingPairs(_Strict):
    count: int = Field(..., ge=0)
    since: tuple[int, int] = (2018, 2023)


class PairOverrides(_Strict):
    fix: int = Field(0, ge=0)
    forbid: int = Field(0, ge=0)
    prefer: int = Field(0, ge=0)


class Settings(_Strict):
    """The whole of ``generate.yaml``."""

    seed: int = Field(0, ge=0, description="default seed (numpy default_rng)")
    prefix: str = Field("S", pattern=r"^[A-Za-z0-9]+$", description="id prefix of generated rows")
    scenario: dict[str, Any] = Field(
        ..., description="copied into scenario.yaml: name, year, description, sources, policy"
    )
    geography: Geography = Field(default_factory=Geography)
    designations: Designations = Field(default_factory=Designations)
    indicators: Indicators = Field(default_factory=Indicators)
    organizations: list[OrganizationGroup] = Field(default_factory=list)
    named_organizations: list[NamedOrganization] = Field(default_factory=list)
    social_workers: SocialWorkers | None = None
    volunteers: Volunteers | None = None
    resources: Resources | None = None
    existing_pairs: ExistingPairs | None = None
    pair_overrides: PairOverrides | None = None
    provenance: dict[str, str] = Field(
        default_factory=dict, description="extra provenance lines (e.g. stated gaps)"
    )
