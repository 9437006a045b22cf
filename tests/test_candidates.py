"""Candidate rules: reach, provinces, counterparts, overrides, history, scores."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from linkage.geo import haversine_km
from linkage.scenario import Scenario
from linkage.solvers.candidates import CANDIDATE_COLUMNS, build_candidates
from linkage.solvers.pairing import check_pairing_invariants, solve_pairing

# 青海 (target side), 浙江 (its counterpart, far away), 四川 (a near neighbour), 甘肃 (near too)
PROVINCES = {"630000": "青海省", "330000": "浙江省", "510000": "四川省", "620000": "甘肃省"}
XINING = (36.62, 101.78)


def regions(extra: list[dict[str, Any]]) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for code, name in PROVINCES.items():
        rows.append({"code": code, "name": name, "level": "province"})
        rows.append(
            {"code": code[:2] + "0100", "name": name[:2] + "一市", "level": "city", "parent": code}
        )
    for r in extra:
        rows.append({"level": "county", "parent": r["code"][:2] + "0100", **r})
    return pd.DataFrame(rows)


def place(code: str, lat: float, lon: float, **extra: Any) -> dict[str, Any]:
    return {"code": code, "name": f"县{code}", "lat": lat, "lon": lon, **extra}


def org(code: str, region: str, capacity: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "id": code,
        "name": f"机构{code}",
        "region": region,
        "pairing_capacity": capacity,
        **extra,
    }


# targets in 青海; senders: near 青海, near 甘肃 (~200 km), far 浙江 (~1,900 km), 四川 (~600 km)
COUNTIES = [
    place("630101", *XINING, key_assistance=True, elderly=300, disabled=100),
    place("630102", 36.9, 101.7, ethnic=True),
    place("630103", 36.5, 101.9),  # not designated: a sender's home
    place("620101", 36.06, 103.83),  # 兰州-like, ~190 km
    place("330101", 30.27, 120.15),  # 杭州-like
    place("510101", 30.66, 104.06),  # 成都-like, ~700 km
]
ORGS = [
    org("QH", "630103", rating=5, specialties="elderly"),
    org("GS", "620101", rating=4, specialties="disability;elderly"),
    org("ZJ", "330101", rating=5, specialties="children"),
    org("SC", "510101", rating=3),
    org("IN", "630101", rating=5),  # based inside target 630101
    org("ZERO", "630103", capacity=0),
]


def scenario(
    pairing: dict[str, Any] | None = None,
    overrides: list[dict[str, Any]] | None = None,
    existing: list[dict[str, Any]] | None = None,
    orgs: list[dict[str, Any]] | None = None,
    counties: list[dict[str, Any]] | None = None,
) -> Scenario:
    policy = {"pairing": {"targets": ["key_assistance", "ethnic"], **(pairing or {})}}
    tables = {
        "regions": regions([dict(c) for c in (counties or COUNTIES)]),
        "organizations": pd.DataFrame(orgs or ORGS),
        "pair_overrides": pd.DataFrame(
            overrides or [], columns=["org", "target", "action", "score", "load"]
        ),
        "existing_pairs": pd.DataFrame(existing or [], columns=["org", "target", "since"]),
    }
    return Scenario.from_tables({"name": "候选", "policy": policy}, tables)


def pairs(s: Scenario) -> set[tuple[str, str]]:
    table = build_candidates(s).candidates
    return set(zip(table["org"], table["target"], strict=True))


def test_table_columns_and_targets() -> None:
    """The table has the declared columns; targets are designated counties with their priority."""
    inputs = build_candidates(scenario())
    assert list(inputs.candidates.columns) == list(CANDIDATE_COLUMNS)
    targets = inputs.targets.set_index("target")
    assert set(targets.index) == {"630101", "630102"}
    assert targets.loc["630101", "priority"] == 3  # key_assistance
    assert targets.loc["630102", "priority"] == 2  # ethnic
    assert (targets["partners_needed"] == 1).all()
    assert "ZERO" not in set(inputs.organizations["org"])  # capacity 0: not a sender


def test_distance_limit() -> None:
    """Same-province and cross-province senders need to be within max_km."""
    near = pairs(scenario({"max_km": 300}))
    assert ("QH", "630101") in near and ("GS", "630101") in near
    assert ("SC", "630101") not in near and ("ZJ", "630101") not in near
    wide = pairs(scenario({"max_km": 1000}))
    assert ("SC", "630101") in wide and ("ZJ", "630101") not in wide
    unlimited = pairs(scenario({"max_km": None}))
    assert ("ZJ", "630101") in unlimited


def test_distance_column_is_haversine() -> None:
    """distance_km is the great-circle distance between the org's and the target's regions."""
    table = build_candidates(scenario({"max_km": 300})).candidates.set_index(["org", "target"])
    expected = float(haversine_km(36.06, 103.83, *XINING))
    assert abs(table.loc[("GS", "630101"), "distance_km"] - expected) < 1e-6


def test_cross_province_false() -> None:
    """With cross_province false only same-province senders are candidates."""
    got = pairs(scenario({"max_km": 1000, "cross_province": False}))
    assert {o for o, _ in got} == {"QH", "IN"}


@pytest.mark.parametrize("names", [{"青海": ["浙江"]}, {"青海省": ["浙江省"]}, {"63": ["33"]}])
def test_counterparts(names: dict[str, list[str]]) -> None:
    """Counterparts restrict cross-province senders and, by default, ignore the distance limit."""
    got = pairs(scenario({"max_km": 300, "counterparts": names}))
    assert ("ZJ", "630101") in got  # counterpart, ~1,900 km
    assert ("GS", "630101") not in got  # near but not a counterpart province
    assert ("QH", "630101") in got  # same province still by distance
    strict = pairs(
        scenario({"max_km": 300, "counterparts": names, "counterparts_ignore_distance": False})
    )
    assert ("ZJ", "630101") not in strict and ("GS", "630101") not in strict
    closed = pairs(scenario({"max_km": 300, "counterparts": names, "cross_province": False}))
    assert ("ZJ", "630101") not in closed


def test_cross_province_only_along_counterparts() -> None:
    """cross_province: counterparts admits only counterpart senders across provinces; targets of
    unlisted provinces keep in-province senders within reach."""
    base = {"max_km": 300, "cross_province": "counterparts"}
    listed = pairs(scenario({**base, "counterparts": {"青海": ["浙江"]}}))
    assert ("ZJ", "630101") in listed and ("GS", "630101") not in listed
    unlisted = pairs(scenario({**base, "counterparts": {"四川": ["浙江"]}}))
    assert {o for o, _ in unlisted} == {"QH", "IN"}


def test_own_province_as_counterpart_keeps_the_distance_limit() -> None:
    """Listing a province as its own counterpart does not lift max_km for in-province senders."""
    far_home = [*COUNTIES, place("630104", 38.5, 96.0)]  # ~600 km from 西宁, still in 青海
    orgs = [*ORGS, org("FAR", "630104")]
    got = pairs(
        scenario({"max_km": 300, "counterparts": {"青海": ["青海"]}}, orgs=orgs, counties=far_home)
    )
    assert ("QH", "630101") in got and ("FAR", "630101") not in got


def test_org_inside_target_excluded() -> None:
    """An organization based in the target county (or below it) is not its candidate."""
    got = pairs(scenario({"max_km": 300}))
    assert ("IN", "630101") not in got
    assert ("IN", "630102") in got
    township = [
        *COUNTIES,
        {"code": "630101001", "name": "某镇", "level": "township", "lat": 36.6, "lon": 101.8},
    ]
    frame = regions([dict(c) for c in COUNTIES])
    frame = pd.concat([frame, pd.DataFrame([{**township[-1], "parent": "630101"}])])
    s = Scenario.from_tables(
        {"name": "镇", "policy": {"pairing": {"targets": ["key_assistance", "ethnic"]}}},
        {"regions": frame, "organizations": pd.DataFrame([org("TOWN", "630101001")])},
    )
    assert pairs(s) == {("TOWN", "630102")}


def test_overrides_forbid_fix_prefer() -> None:
    """forbid removes a pair; fix and prefer add one beyond the rules with their score and load."""
    overrides = [
        {"org": "QH", "target": "630101", "action": "forbid"},
        {"org": "ZJ", "target": "630101", "action": "fix", "load": 2},
        {"org": "SC", "target": "630102", "action": "prefer", "score": 99, "load": 3},
    ]
    orgs = [o if o["id"] != "ZJ" else {**o, "pairing_capacity": 2} for o in ORGS]
    s = scenario({"max_km": 300}, overrides, orgs=orgs)
    table = build_candidates(s).candidates.set_index(["org", "target"])
    assert ("QH", "630101") not in table.index
    assert bool(table.loc[("ZJ", "630101"), "fixed"])
    assert table.loc[("ZJ", "630101"), "load"] == 2
    assert table.loc[("ZJ", "630101"), "origin"] == "override"
    assert table.loc[("SC", "630102"), "score"] == 99
    assert table.loc[("SC", "630102"), "load"] == 3
    assert not bool(table.loc[("SC", "630102"), "fixed"])
    result = solve_pairing(s)
    assert ("ZJ", "630101") in set(zip(result.pairs["org"], result.pairs["target"], strict=True))
    assert check_pairing_invariants(s, result) == []


def test_override_names_a_new_target() -> None:
    """A prefer on a county no designation makes a target adds it as a target."""
    overrides = [{"org": "GS", "target": "630103", "action": "prefer"}]
    inputs = build_candidates(scenario({"max_km": 300}, overrides))
    targets = inputs.targets.set_index("target")
    assert "630103" in targets.index and not bool(targets.loc["630103", "designated"])
    rule_pairs = inputs.candidates[inputs.candidates["origin"] == "rule"]
    assert "630103" not in set(rule_pairs["target"])


def test_listed_mode() -> None:
    """With candidates: listed only fix/prefer override rows are candidates."""
    overrides = [
        {"org": "ZJ", "target": "630101", "action": "prefer"},
        {"org": "QH", "target": "630102", "action": "fix"},
        {"org": "GS", "target": "630102", "action": "forbid"},
    ]
    existing = [{"org": "GS", "target": "630101"}]
    got = pairs(scenario({"candidates": "listed"}, overrides, existing))
    assert got == {("ZJ", "630101"), ("QH", "630102")}


def test_existing_pairs_bonus_and_continuity() -> None:
    """Last period's pairs are candidates even beyond reach and earn the continuity bonus."""
    existing = [{"org": "SC", "target": "630101"}, {"org": "QH", "target": "630101"}]
    s = scenario({"max_km": 300, "continuity_bonus": 25}, existing=existing)
    table = build_candidates(s).candidates.set_index(["org", "target"])
    assert table.loc[("SC", "630101"), "origin"] == "existing"
    assert table.loc[("SC", "630101"), "continuity"] == 25
    assert table.loc[("QH", "630101"), "continuity"] == 25
    assert table.loc[("GS", "630101"), "continuity"] == 0
    forbidden = scenario(
        {"max_km": 300}, [{"org": "SC", "target": "630101", "action": "forbid"}], existing
    )
    assert ("SC", "630101") not in pairs(forbidden)


def test_score_components() -> None:
    """Specialty fit, quality and distance points follow the policy weights."""
    s = scenario({"max_km": 300, "weights": {"specialty": 40, "quality": 20, "distance": 30}})
    table = build_candidates(s).candidates.set_index(["org", "target"])
    row = table.loc[("GS", "630101")]
    # 630101 needs: elderly 300, disabled 100 → shares 0.75 / 0.25; GS covers both → fit 1
    assert row["specialty"] == 40
    assert row["quality"] == 16  # 20 × 4/5
    assert row["distance"] == int(np.floor(30 * (1 - row["distance_km"] / 300) + 0.5))
    assert row["score"] == row["specialty"] + row["quality"] + row["distance"]
    qh = table.loc[("QH", "630101")]
    assert qh["specialty"] == 30  # elderly only: 0.75 × 40
    # a target with no figures has a uniform profile over five domains: elderly = 1/5
    assert table.loc[("QH", "630102"), "specialty"] == 8


def test_quota_binds_in_plan() -> None:
    """Quotas cap cross-province partners into a province in the solved plan."""
    counties = [*COUNTIES, place("630104", 36.7, 101.6, key_assistance=True)]
    orgs = [org(f"ZJ{i}", "330101", rating=5) for i in range(3)]
    policy = {
        "max_km": 300,
        "counterparts": {"青海": ["浙江"]},
        "quotas": {"青海省": {"cross_province": 1}},
    }
    s = scenario(policy, orgs=orgs, counties=counties)
    inputs = build_candidates(s)
    assert inputs.quotas[["province", "group", "limit"]].values.tolist() == [
        ["630000", "cross_province", 1]
    ]
    result = solve_pairing(s)
    assert len(result.pairs) == 1
    assert set(result.targets["reason_code"]) == {"", "quota"}
    assert check_pairing_invariants(s, result) == []
