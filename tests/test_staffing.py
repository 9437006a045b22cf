"""Staffing flow: agreement with an independent LP, lexicographic penalties, dispatch, invariants."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

import linkage
from linkage.geo import haversine_km
from linkage.scenario import Scenario
from linkage.solvers.staffing import (
    SCALE,
    StaffingResult,
    check_staffing_invariants,
    solve_staffing,
)

ROOT = Path(__file__).resolve().parents[1]
COUNTIES = (("410101", 34.0, 113.0), ("410102", 34.0, 113.6))
ORGS = (("O1", "410101"), ("O2", "410102"))


def make(
    townships: list[dict[str, Any]],
    pools: list[dict[str, Any]],
    *,
    staffing: dict[str, Any] | None = None,
) -> Scenario:
    """Two counties (O1 in the first, O2 in the second); townships name their county index."""
    rows: list[dict[str, Any]] = [
        {"code": "410000", "name": "省", "level": "province", "lat": 34.0, "lon": 113.0},
        {"code": "410100", "name": "市", "level": "city", "parent": "410000"},
    ]
    for code, lat, lon in COUNTIES:
        rows.append(
            {
                "code": code,
                "name": code,
                "level": "county",
                "parent": "410100",
                "lat": lat,
                "lon": lon,
            }
        )
    for i, t in enumerate(townships):
        t = dict(t)
        county = COUNTIES[t.pop("county", 0)][0]
        rows.append(
            {
                "code": f"{county}{i + 1:03d}",
                "name": f"镇{i + 1}",
                "level": "township",
                "parent": county,
                "has_station": True,
                **t,
            }
        )
    workers = pd.DataFrame(
        [{"id": f"W{j + 1}", **p} for j, p in enumerate(pools)],
        columns=["id", "region", "org", "fte", "max_km", "count"],
    )
    meta = {
        "name": "staffing test",
        "sources": {"fyp": "规划"},
        "policy": {"staffing": {"source": "fyp", **(staffing or {})}},
    }
    tables = {
        "regions": pd.DataFrame(rows),
        "organizations": pd.DataFrame(
            {"id": [o for o, _ in ORGS], "name": ["甲", "乙"], "region": [r for _, r in ORGS]}
        ),
        "social_workers": workers,
    }
    return Scenario.from_tables(meta, tables)


def station_code(scenario: Scenario, i: int) -> str:
    """Code of the i-th township."""
    towns = scenario.regions[scenario.regions["level"] == "township"]
    return str(towns["code"].iloc[i])


# ---------------------------------------------------------------------------------------------
# the independent formulation: one LP variable per (pool, station) route, no hub nodes


def reference_lp(
    scenario: Scenario, pairs: pd.DataFrame | None, p1: int, p2: int
) -> dict[str, float]:
    """Solve the staffing LP with HiGHS: flow cost and the lexicographic (W1, W2, Dist) optimum."""
    regions = scenario.regions.set_index("code")
    pol = scenario.policy.staffing
    towns = scenario.regions[
        (scenario.regions["level"] == "township") & scenario.regions["has_station"]
    ]
    s_codes = towns["code"].tolist()
    county = {c: regions.loc[c, "parent"] for c in s_codes}
    need_fte = np.maximum.reduce(
        [
            np.full(len(towns), pol.base_per_station),
            towns["elderly"].fillna(0).to_numpy() / (pol.per_elderly or math.inf),
            towns["care_beds"].fillna(0).to_numpy() / (pol.per_care_beds or math.inf),
        ]
    )
    need = np.ceil(need_fte * SCALE - 1e-9).astype(int)
    h1 = (need + 1) // 2
    h2 = need - h1
    flags = ("key_assistance", "old_revolutionary", "ethnic")
    pr = scenario.policy.priority
    prio = []
    for c in s_codes:
        w = [getattr(pr, f) for f in flags if regions.loc[c, f] or regions.loc[county[c], f]]
        prio.append(max(w) if w else pr.default)
    prio_a = np.array(prio)

    sw = scenario.tables["social_workers"]
    supply = np.floor(sw["count"].to_numpy(float) * sw["fte"].to_numpy(float) * SCALE + 1e-9)
    targets: dict[str, set[str]] = {}
    if pairs is not None:
        for o, t in zip(pairs["org"], pairs["target"], strict=True):
            targets.setdefault(o, set()).add(t)
    org_region = dict(
        zip(scenario.organizations["id"], scenario.organizations["region"], strict=True)
    )
    org_units: dict[str, float] = {}
    for o, u in zip(sw["org"], supply, strict=True):
        if isinstance(o, str):
            org_units[o] = org_units.get(o, 0.0) + u

    var_cost: list[float] = []
    var_kind: list[str] = []
    ub: list[float] = []
    rows_eq: list[tuple[int, int]] = []  # (station, var)
    rows_sup: list[tuple[int, int]] = []  # (pool, var)
    rows_org: list[tuple[str, int]] = []

    def add(cost: float, kind: str, upper: float) -> int:
        var_cost.append(cost)
        var_kind.append(kind)
        ub.append(upper)
        return len(var_cost) - 1

    for p, w in sw.reset_index(drop=True).iterrows():
        reach = pol.max_km if pd.isna(w["max_km"]) else w["max_km"]
        plat, plon = regions.loc[w["region"], ["lat", "lon"]]
        for s, c in enumerate(s_codes):
            km = float(haversine_km(plat, plon, regions.loc[c, "lat"], regions.loc[c, "lon"]))
            if km <= reach:
                v = add(math.floor(km + 0.5), "dist", supply[p])
                rows_eq.append((s, v))
                rows_sup.append((int(p), v))
            o = w["org"]
            if isinstance(o, str) and (c in targets.get(o, ()) or county[c] in targets.get(o, ())):
                olat, olon = regions.loc[org_region[o], ["lat", "lon"]]
                okm = float(haversine_km(olat, olon, regions.loc[c, "lat"], regions.loc[c, "lon"]))
                v = add(math.floor(okm + 0.5), "dist", supply[p])
                rows_eq.append((s, v))
                rows_sup.append((int(p), v))
                rows_org.append((o, v))
    for s in range(len(s_codes)):
        rows_eq.append((s, add(float(prio_a[s] * p1), "w1", h1[s])))
        rows_eq.append((s, add(float(prio_a[s] * p2), "w2", h2[s])))

    n = len(var_cost)
    a_eq = sp.coo_matrix(
        (np.ones(len(rows_eq)), ([r for r, _ in rows_eq], [v for _, v in rows_eq])),
        shape=(len(s_codes), n),
    ).tocsr()
    orgs = sorted({o for o, _ in rows_org})
    ub_rows = [(p, v) for p, v in rows_sup] + [(len(sw) + orgs.index(o), v) for o, v in rows_org]
    a_ub = sp.coo_matrix(
        (np.ones(len(ub_rows)), ([r for r, _ in ub_rows], [v for _, v in ub_rows])),
        shape=(len(sw) + len(orgs), n),
    ).tocsr()
    b_ub = np.concatenate(
        [supply, [math.floor(pol.dispatch_share * org_units[o] + 1e-9) for o in orgs]]
    )
    bounds = list(zip([0.0] * n, ub, strict=True))
    cost = np.array(var_cost)
    kind = np.array(var_kind)

    def lp(c: np.ndarray, extra: list[tuple[np.ndarray, float]]) -> float:
        a = sp.vstack([a_ub, *[sp.csr_matrix(r) for r, _ in extra]]) if extra else a_ub
        b = np.concatenate([b_ub, [v for _, v in extra]]) if extra else b_ub
        res = linprog(c, A_ub=a, b_ub=b, A_eq=a_eq, b_eq=need, bounds=bounds, method="highs")
        assert res.status == 0, res.message
        return float(res.fun)

    def slack(value: float) -> float:
        """Room for HiGHS's feasibility tolerance when an optimum becomes a constraint."""
        return 1e-6 * max(1.0, abs(value))

    total = lp(cost, [])
    w1c = np.where(kind == "w1", cost / p1, 0.0)
    w2c = np.where(kind == "w2", cost / p2, 0.0)
    dc = np.where(kind == "dist", cost, 0.0)
    w1 = lp(w1c, [])
    w2 = lp(w2c, [(w1c, w1 + slack(w1))])
    dist = lp(dc, [(w1c, w1 + slack(w1)), (w2c, w2 + slack(w2))])
    return {"cost": total, "w1": w1, "w2": w2, "dist": dist}


def flow_lex(result: StaffingResult) -> dict[str, float]:
    """(W1, W2, Dist) of the flow's plan in units: the second half is left unmet first."""
    st_ = result.stations
    need = np.round(st_["need"].to_numpy() * SCALE).astype(int)
    short = np.round(st_["shortfall"].to_numpy() * SCALE).astype(int)
    h2 = need - (need + 1) // 2
    s2 = np.minimum(short, h2)
    s1 = short - s2
    pr = st_["priority"].to_numpy()
    plan = result.staffing
    return {
        "w1": float((pr * s1).sum()),
        "w2": float((pr * s2).sum()),
        "dist": float((plan["workers"] * SCALE * plan["distance_km"]).sum()),
    }


def assert_matches_reference(scenario: Scenario, pairs: pd.DataFrame | None) -> StaffingResult:
    """Solve, check invariants, and compare cost and the lexicographic optimum with the LP."""
    result = solve_staffing(scenario, pairs)
    assert result.report.status == "optimal"
    assert check_staffing_invariants(scenario, result) == []
    ref = reference_lp(scenario, pairs, *result.penalties)
    assert result.flow_cost == round(ref["cost"])
    got = flow_lex(result)
    for key in ("w1", "w2", "dist"):
        assert got[key] == round(ref[key]), key  # lexicographic optima are integral (TU)
    return result


# ---------------------------------------------------------------------------------------------


def test_small_instance_matches_lp() -> None:
    """A fixed instance with reach limits and dispatch matches the independent LP."""
    sc = make(
        [
            {"lat": 34.0, "lon": 113.0, "elderly": 4000},
            {"lat": 34.1, "lon": 113.1, "care_beds": 300, "ethnic": True},
            {"county": 1, "lat": 34.0, "lon": 113.6, "elderly": 6000, "old_revolutionary": True},
        ],
        [
            {"region": "410101001", "fte": 1.0, "count": 3, "org": "O1"},
            {"region": "410101002", "fte": 0.5, "count": 4, "max_km": 5},
            {"region": "410101", "fte": 1.0, "count": 10, "org": "O1", "max_km": 20},
        ],
    )
    pairs = pd.DataFrame({"org": ["O1"], "target": ["410102"]})
    result = assert_matches_reference(sc, pairs)
    assert (result.staffing["via"] == "dispatch").any()


@st.composite
def instances(draw: st.DrawFn, far: bool = False) -> tuple[Scenario, pd.DataFrame | None]:
    """Random small scenarios: townships, pools with reach, orgs, pairs and a dispatch share.

    ``far``: every pool sits at the first county's centre with a 5 km reach and always pairs,
    so most stations can only be reached by dispatch."""
    n_t = draw(st.integers(1, 5))
    towns: list[dict[str, Any]] = []
    for _ in range(n_t):
        c = draw(st.integers(0, 1))
        towns.append(
            {
                "county": c,
                "lat": COUNTIES[c][1] + draw(st.floats(-0.3, 0.3)),
                "lon": COUNTIES[c][2] + draw(st.floats(-0.3, 0.3)),
                "elderly": draw(st.sampled_from([0, 1500, 4200, 8000])),
                "care_beds": draw(st.sampled_from([0, 150, 333])),
                "ethnic": draw(st.booleans()),
                "key_assistance": draw(st.booleans()),
            }
        )
    codes = [f"{COUNTIES[t['county']][0]}{i + 1:03d}" for i, t in enumerate(towns)]
    pools = [
        {
            "region": "410101" if far else draw(st.sampled_from([*codes, "410101", "410102"])),
            "org": draw(st.sampled_from(["O1", "O2", None])),
            "fte": draw(st.sampled_from([0.5, 0.8, 1.0])),
            "max_km": 5.0 if far else draw(st.sampled_from([5.0, None, 20.0, 80.0])),
            "count": draw(st.integers(1, 6)),
        }
        for _ in range(draw(st.integers(1 if far else 0, 6)))
    ]
    staffing = {
        "base_per_station": draw(st.sampled_from([0, 1, 2])),
        "dispatch_share": draw(st.sampled_from([0.5, 1.0, 0.0])),
        "max_km": draw(st.sampled_from([10.0, 40.0])),
    }
    all_pairs = [(o, c) for o in ("O1", "O2") for c in ("410101", "410102", codes[0])]
    chosen = draw(st.lists(st.sampled_from(all_pairs), min_size=1, max_size=3, unique=True))
    pairs = pd.DataFrame(chosen, columns=["org", "target"]) if far or draw(st.booleans()) else None
    return make(towns, pools, staffing=staffing), pairs


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_random_instances_match_lp(case: tuple[Scenario, pd.DataFrame | None]) -> None:
    """Random instances: same cost as the LP, lexicographic optimum, invariants hold."""
    scenario, pairs = case
    assert_matches_reference(scenario, pairs)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(far=True))
def test_random_dispatch_instances_match_lp(case: tuple[Scenario, pd.DataFrame | None]) -> None:
    """Random dispatch-heavy instances: same cost and lexicographic optimum as the LP."""
    scenario, pairs = case
    assert_matches_reference(scenario, pairs)


def test_dispatch_only_along_pairs_and_within_share() -> None:
    """Only a paired org's workers reach the far county, and no more than its share."""
    sc = make(
        [{"lat": 34.0, "lon": 113.0}, {"county": 1, "lat": 34.0, "lon": 113.6, "elderly": 20000}],
        [
            {"region": "410101001", "org": "O1", "fte": 1.0, "count": 10, "max_km": 5},
            {"region": "410101001", "org": "O2", "fte": 1.0, "count": 10, "max_km": 5},
        ],
        staffing={"dispatch_share": 0.3},
    )
    pairs = pd.DataFrame({"org": ["O1"], "target": ["410102"]})
    result = solve_staffing(sc, pairs)
    assert check_staffing_invariants(sc, result) == []
    disp = result.staffing[result.staffing["via"] == "dispatch"]
    assert set(disp["org"]) == {"O1"}
    assert disp["workers"].sum() == pytest.approx(3.0)
    assert set(disp["station"]) == {station_code(sc, 1)}
    none = solve_staffing(sc, None)
    assert (none.staffing["via"] == "local").all()
    far = none.stations.set_index("region").loc[station_code(sc, 1)]
    assert far["reason_code"] == "no_one_in_reach"
    assert far["assigned"] == 0


def test_invariant_check_catches_a_broken_plan() -> None:
    """Tampering with the plan (over-assigning a pool) is reported."""
    sc = make([{"lat": 34.0, "lon": 113.0}], [{"region": "410101001", "fte": 1.0, "count": 1}])
    result = solve_staffing(sc)
    bad = result.staffing.assign(workers=result.staffing["workers"] * 5)
    broken = StaffingResult(
        bad, result.stations, result.pairs, result.report, result.flow_cost, result.penalties
    )
    assert check_staffing_invariants(sc, broken)


def test_convex_penalty_spreads_scarce_workers() -> None:
    """Two equal stations and workers for one: each gets some before either is full."""
    sc = make(
        [{"lat": 34.0, "lon": 113.0}, {"lat": 34.0, "lon": 113.02}],
        [{"region": "410101", "fte": 1.0, "count": 2}],
        staffing={"base_per_station": 2},
    )
    result = solve_staffing(sc)
    st_ = result.stations
    assert st_["assigned"].tolist() == pytest.approx([1.0, 1.0])
    assert (st_["reason_code"] == "capacity_exhausted").all()
    assert result.report.objectives["weighted_shortfall"] == pytest.approx(2.0)


def test_priority_area_first() -> None:
    """With one worker for two stations, the designated station's first half is filled first."""
    sc = make(
        [{"lat": 34.0, "lon": 113.0}, {"lat": 34.0, "lon": 113.3, "ethnic": True}],
        [{"region": "410101001", "fte": 1.0, "count": 1, "max_km": 100}],
        staffing={"base_per_station": 2},
    )
    result = solve_staffing(sc)
    assert result.stations["assigned"].tolist() == pytest.approx([0.0, 1.0])


def test_henan_solves() -> None:
    """Henan with last period's pairs for dispatch: optimal, within seconds, invariants hold."""
    henan = linkage.load(ROOT / "scenarios" / "henan")
    pairs = henan.tables["existing_pairs"]
    started = time.perf_counter()
    result = solve_staffing(henan, pairs)
    wall = time.perf_counter() - started
    assert result.report.status == "optimal"
    assert wall < 30
    assert check_staffing_invariants(henan, result) == []
    assert len(result.stations) == int(
        ((henan.regions["level"] == "township") & henan.regions["has_station"]).sum()
    )
    assert result.report.variables > 100_000
