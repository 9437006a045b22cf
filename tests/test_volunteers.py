"""Volunteer flow: agreement with an independent LP, supervision, skills, aggregation, Henan."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

import linkage
from linkage.geo import haversine_km
from linkage.scenario import Scenario
from linkage.solvers.volunteers import (
    REASONS,
    VolunteerResult,
    check_volunteer_invariants,
    solve_volunteers,
)
from volunteer_support import COUNTY, random_cases, staff, town, volunteer_scenario

ROOT = Path(__file__).resolve().parents[1]
BENEFICIARIES: dict[str, tuple[str, ...]] = {
    "elderly": ("elderly",),
    "children": ("children_at_risk", "left_behind_children"),
    "disability": ("disabled",),
    "hardship": ("low_income", "extreme_poverty"),
    "family": ("left_behind_women",),
}
DOMAINS = ("elderly", "children", "disability", "hardship", "family", "community", "volunteer_dev")


def make(
    townships: list[dict[str, Any]],
    pools: list[dict[str, Any]],
    *,
    volunteers: dict[str, Any] | None = None,
    needs: list[dict[str, Any]] | None = None,
) -> Scenario:
    """One county; townships are stations with the given columns; pools name a township index."""
    # the hand-computed expectations use these rates, not the policy's defaults
    rates = {"elderly": 2.0, "children": 6.0, "disability": 6.0, "hardship": 4.0, "family": 3.0}
    return volunteer_scenario(
        townships, pools, {"hours_per_person": rates, **(volunteers or {})}, needs
    )


# ---------------------------------------------------------------------------------------------
# the independent formulation: one LP variable per (pool, station, domain), no groups, no reversal


def reference_lp(
    scenario: Scenario, stations: pd.DataFrame | None, penalty: int
) -> dict[str, float]:
    """Solve the volunteer LP with HiGHS: flow cost and the lexicographic (W, Dist) optimum."""
    pol = scenario.policy.volunteers
    reg = scenario.regions.set_index("code")
    towns = scenario.regions[
        (scenario.regions["level"] == "township") & scenario.regions["has_station"]
    ]["code"].tolist()
    prio = {
        c: max(
            [
                getattr(scenario.policy.priority, f)
                for f in ("key_assistance", "old_revolutionary", "ethnic")
                if reg.loc[c, f] or reg.loc[COUNTY, f]
            ]
            or [scenario.policy.priority.default]
        )
        for c in towns
    }
    # needs: (station, domain) → hours
    need: dict[tuple[str, str], int] = {}
    override = {}
    if "needs" in scenario.tables and len(scenario.tables["needs"]):
        for _, r in scenario.tables["needs"].iterrows():
            if not pd.isna(r["volunteer_hours"]):
                override[(r["region"], r["domain"])] = float(r["volunteer_hours"])
    for c in towns:
        for d in DOMAINS:
            rate = pol.hours_per_person.get(d)  # type: ignore[call-overload]
            h = 0.0
            if rate is not None and d in BENEFICIARIES:
                h = sum(
                    0.0 if pd.isna(reg.loc[c, col]) else reg.loc[c, col] for col in BENEFICIARIES[d]
                )
                h *= rate
            h = override.get((c, d), h)
            if h > 0:
                need[(c, d)] = math.ceil(h - 1e-9)
    keys = list(need)
    cap: dict[str, float] = {c: 0.0 for c in towns}
    if stations is not None:
        for r, a in zip(stations["region"], stations["assigned"], strict=True):
            cap[r] = math.floor(a * pol.hours_per_supervisor + 1e-9)

    vols = scenario.tables["volunteers"].reset_index(drop=True)
    cost: list[float] = []
    kind: list[str] = []
    ub: list[float] = []
    eq: list[tuple[int, int]] = []
    le: list[tuple[int, int]] = []  # rows: pools, then stations
    supply = [math.floor(c * h + 1e-9) for c, h in zip(vols["count"], vols["hours"], strict=True)]
    lat = reg["lat"].astype(float).to_dict()
    lon = reg["lon"].astype(float).to_dict()
    for p, v in enumerate(vols.to_dict("records")):
        reach = pol.max_km if pd.isna(v["max_km"]) else v["max_km"]
        skills = [s for s in str(v["skills"] or "").split(";") if s]
        for i, (c, d) in enumerate(keys):
            km = float(haversine_km(lat[v["region"]], lon[v["region"]], lat[c], lon[c]))
            if km <= reach and (not skills or d in skills):
                cost.append(math.floor(km + 0.5))
                kind.append("dist")
                ub.append(supply[p])
                j = len(cost) - 1
                eq.append((i, j))
                le.append((p, j))
                le.append((len(vols) + towns.index(c), j))
    for i, (c, _) in enumerate(keys):
        cost.append(prio[c] * penalty)
        kind.append("short")
        ub.append(need[keys[i]])
        eq.append((i, len(cost) - 1))
    n = len(cost)
    a_eq = sp.coo_matrix(
        (np.ones(len(eq)), ([r for r, _ in eq], [v for _, v in eq])), shape=(len(keys), n)
    ).tocsr()
    a_ub = sp.coo_matrix(
        (np.ones(len(le)), ([r for r, _ in le], [v for _, v in le])),
        shape=(len(vols) + len(towns), n),
    ).tocsr()
    b_ub = np.array(supply + [cap[c] for c in towns], dtype=float)
    b_eq = np.array([need[k] for k in keys], dtype=float)
    bounds = list(zip([0.0] * n, ub, strict=True))
    c_all = np.array(cost, dtype=float)
    k_arr = np.array(kind)

    def lp(c: np.ndarray, extra: list[tuple[np.ndarray, float]]) -> float:
        if not n:
            return 0.0
        a = sp.vstack([a_ub, *[sp.csr_matrix(r) for r, _ in extra]]) if extra else a_ub
        b = np.concatenate([b_ub, [v for _, v in extra]]) if extra else b_ub
        res = linprog(c, A_ub=a, b_ub=b, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
        assert res.status == 0, res.message
        return float(res.fun)

    total = lp(c_all, [])
    wc = np.where(k_arr == "short", c_all / penalty, 0.0)
    dc = np.where(k_arr == "dist", c_all, 0.0)
    w = lp(wc, [])
    dist = lp(dc, [(wc, w + 1e-6 * max(1.0, abs(w)))])
    return {"cost": total, "w": w, "dist": dist}


def assert_matches_reference(scenario: Scenario, stations: pd.DataFrame | None) -> VolunteerResult:
    """Solve, check invariants, and compare cost and the lexicographic optimum with the LP."""
    result = solve_volunteers(scenario, stations)
    assert result.report.status == "optimal"
    assert check_volunteer_invariants(scenario, stations, result) == []
    ref = reference_lp(scenario, stations, result.penalty)
    assert result.flow_cost == round(ref["cost"])
    obj = result.report.objectives
    assert obj["weighted_shortfall_hours"] == round(ref["w"])
    assert obj["distance"] == round(ref["dist"])  # lexicographic optima are integral (TU)
    return result


# ---------------------------------------------------------------------------------------------

TOWNS = [
    {"lat": 34.0, "lon": 113.0, "elderly": 100, "children_at_risk": 10},
    {"lat": 34.0, "lon": 113.2, "elderly": 50, "disabled": 20, "key_assistance": True},
    {"lat": 34.0, "lon": 113.5, "left_behind_women": 30, "low_income": 7},
]


def test_small_instance_matches_lp() -> None:
    """A fixed instance with reach, skills and supervision limits matches the independent LP."""
    sc = make(
        TOWNS,
        [
            {"town": 0, "skills": "elderly", "hours": 20, "count": 8},
            {"town": 0, "skills": "", "hours": 10, "count": 5, "max_km": 25},
            {"town": 1, "skills": "children;disability", "hours": 30, "count": 3},
            {"town": 2, "skills": "family;hardship", "hours": 12.5, "count": 3, "max_km": 5},
        ],
    )
    result = assert_matches_reference(sc, staff([1.0, 0.5, 2.0]))
    assert result.volunteers["hours"].sum() > 0


def test_no_stations_means_no_supervision() -> None:
    """Without a staffing table nothing is assigned and every shortfall names supervision."""
    sc = make(TOWNS, [{"town": 0, "skills": "", "hours": 20, "count": 50, "max_km": 100}])
    result = solve_volunteers(sc, None)
    assert result.volunteers.empty
    demand = result.volunteer_demand
    assert (demand["shortfall_hours"] == demand["need_hours"]).all()
    assert set(demand["reason_code"]) == {"supervision_capacity"}
    assert demand["reason"].str.contains("no social workers assigned").all()
    assert check_volunteer_invariants(sc, None, result) == []


@st.composite
def instances(draw: st.DrawFn) -> tuple[Scenario, pd.DataFrame | None]:
    """Up to 4 stations in a row, up to 7 pools, random reach, skills, supervision and needs."""
    towns, pools, volunteers, needs, stations = draw(random_cases(("key_assistance", "ethnic")))
    return make(towns, pools, volunteers=volunteers, needs=needs), stations


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_random_instances_match_lp(case: tuple[Scenario, pd.DataFrame | None]) -> None:
    """Random instances: same cost and lexicographic optimum as the LP, invariants hold."""
    scenario, stations = case
    assert_matches_reference(scenario, stations)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_aggregation_keeps_the_optimum(case: tuple[Scenario, pd.DataFrame | None]) -> None:
    """Grouping identical pools gives the same objectives and cost as one node per pool."""
    scenario, stations = case
    grouped = solve_volunteers(scenario, stations)
    single = solve_volunteers(scenario, stations, aggregate=False)
    assert grouped.report.objectives == single.report.objectives
    assert check_volunteer_invariants(scenario, stations, grouped) == []


def test_aggregation_of_duplicate_pools() -> None:
    """Identical pools share one node; the plan splits their hours within each pool's supply."""
    pools = [{"town": 0, "skills": "elderly", "hours": 7, "count": c} for c in (1, 3, 2)]
    pools.append({"town": 0, "skills": "elderly", "hours": 7, "count": 4, "max_km": 30})
    sc = make(TOWNS, pools)  # the last one has the policy reach written out: the same group
    stations = staff([5.0, 5.0, 5.0])
    grouped = solve_volunteers(sc, stations)
    single = solve_volunteers(sc, stations, aggregate=False)
    assert grouped.groups == 1 and single.groups == 4
    assert grouped.report.objectives == single.report.objectives
    assert grouped.volunteers["hours"].sum() == 70
    assert check_volunteer_invariants(sc, stations, grouped) == []


def test_supervision_capacity_binds() -> None:
    """A station takes no more hours than its social workers can supervise, and says why."""
    sc = make(
        [{"lat": 34.0, "lon": 113.0, "elderly": 1000}],
        [{"town": 0, "skills": "elderly", "hours": 100, "count": 50}],
        volunteers={"hours_per_supervisor": 160},
    )
    result = solve_volunteers(sc, staff([2.5]))
    row = result.volunteer_demand.iloc[0]
    assert row["need_hours"] == 2000
    assert row["assigned_hours"] == 400  # 2.5 FTE × 160 h
    assert row["reason_code"] == "supervision_capacity"
    assert row["reason"] == REASONS["supervision_capacity"]
    assert check_volunteer_invariants(sc, staff([2.5]), result) == []
    # with enough social workers the whole need is met
    more = solve_volunteers(sc, staff([40.0]))
    assert more.volunteer_demand.iloc[0]["assigned_hours"] == 2000
    assert more.volunteer_demand["shortfall_hours"].sum() == 0


def test_capacity_exhausted_and_out_of_reach() -> None:
    """Shortfall reasons: every hour in reach used, or no volunteer in reach at all."""
    sc = make(
        [
            {"lat": 34.0, "lon": 113.0, "elderly": 100},
            {"lat": 34.0, "lon": 114.0, "elderly": 100},
        ],
        [{"town": 0, "skills": "elderly", "hours": 10, "count": 5}],
    )
    result = solve_volunteers(sc, staff([5.0, 5.0]))
    demand = result.volunteer_demand.set_index("station")
    assert demand.loc[town(0), "assigned_hours"] == 50
    assert demand.loc[town(0), "reason_code"] == "capacity_exhausted"
    assert demand.loc[town(1), "reason_code"] == "no_volunteer_in_reach"
    assert demand.loc[town(1), "reason"] == REASONS["no_volunteer_in_reach"]


def test_skills_respected() -> None:
    """Pools serve only domains among their skills; a pool with empty skills serves any domain."""
    sc = make(
        [{"lat": 34.0, "lon": 113.0, "elderly": 100, "disabled": 100}],
        [
            {"town": 0, "skills": "elderly", "hours": 1000, "count": 1},
            {"town": 0, "skills": "", "hours": 150, "count": 1},
        ],
    )
    result = solve_volunteers(sc, staff([100.0]))
    plan = result.volunteers
    assert set(plan.loc[plan["pool"] == "V1", "domain"]) == {"elderly"}
    got = result.volunteer_demand.set_index("domain")
    assert got.loc["elderly", "assigned_hours"] == 200
    assert got.loc["disability", "assigned_hours"] == 150  # only the general pool can help
    assert got.loc["disability", "reason_code"] == "capacity_exhausted"
    assert check_volunteer_invariants(sc, staff([100.0]), result) == []


def test_needs_table_overrides_the_rule() -> None:
    """A needs row's volunteer_hours replaces the (station, domain) need, also for new domains."""
    sc = make(
        [{"lat": 34.0, "lon": 113.0, "elderly": 100}],
        [{"town": 0, "skills": "community", "hours": 10, "count": 3}],
        needs=[
            {"region": town(0), "domain": "elderly", "volunteer_hours": 12.2},
            {"region": town(0), "domain": "community", "volunteer_hours": 50},
        ],
    )
    result = solve_volunteers(sc, staff([1.0]))
    got = result.volunteer_demand.set_index("domain")
    assert got.loc["elderly", "need_hours"] == 13
    assert got.loc["community", "need_hours"] == 50
    assert got.loc["community", "assigned_hours"] == 30


def test_invariant_check_catches_a_broken_plan() -> None:
    """The checker flags too many hours, a row beyond reach or skills, and a broken balance."""
    sc = make(
        [{"lat": 34.0, "lon": 113.0, "elderly": 100}, {"lat": 34.0, "lon": 114.0, "disabled": 50}],
        [{"town": 0, "skills": "elderly", "hours": 10, "count": 5}],
    )
    stations = staff([1.0, 1.0])
    result = solve_volunteers(sc, stations)
    bad_rows = pd.concat(
        [
            result.volunteers,
            pd.DataFrame(
                [
                    {
                        "pool": "V1",
                        "station": town(1),
                        "domain": "disability",
                        "hours": 500,
                        "distance_km": 92,
                    }
                ]
            ),
        ],
        ignore_index=True,
    )
    broken = VolunteerResult(
        bad_rows, result.volunteer_demand, result.report, 0, result.penalty, result.groups
    )
    problems = check_volunteer_invariants(sc, stations, broken)
    text = " | ".join(problems)
    assert "hours assigned, has" in text
    assert "beyond reach" in text
    assert "outside its skills" in text
    assert "supervision allows" in text
    assert "assigned_hours differs" in text


def test_henan_solves() -> None:
    """Henan (7,758 pools, 2,586 stations) solves after staffing, fast, with invariants kept."""
    from linkage.solvers.staffing import solve_staffing

    henan = linkage.load(ROOT / "scenarios" / "henan")
    stations = solve_staffing(henan, henan.tables["existing_pairs"]).stations
    started = time.perf_counter()
    result = solve_volunteers(henan, stations)
    wall = time.perf_counter() - started
    assert result.report.status == "optimal"
    assert check_volunteer_invariants(henan, stations, result) == []
    assert len(henan.tables["volunteers"]) == 7758
    assert result.groups < 7758
    assert result.volunteers["hours"].sum() > 0
    assert wall < 30
