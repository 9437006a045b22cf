"""Pairing solver: exactness against brute force, method agreement, invariants, determinism."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkage.scenario import Scenario
from linkage.solvers.candidates import build_candidates
from linkage.solvers.pairing import (
    PairingModel,
    PairingResult,
    check_pairing_invariants,
    choose_method,
    model_arrays,
    prune_unit_loads,
    solve_pairing,
)

PROVINCES = (("110000", "甲省"), ("120000", "乙省"))
DESIGNATIONS = ("key_assistance", "old_revolutionary", "ethnic")


def make_regions(counties: list[dict[str, Any]]) -> pd.DataFrame:
    """Two provinces, one city each, and the given counties (province index in 'province')."""
    rows: list[dict[str, Any]] = []
    for code, name in PROVINCES:
        rows.append({"code": code, "name": name, "level": "province", "lat": 31.0, "lon": 111.0})
        rows.append(
            {
                "code": code[:2] + "0100",
                "name": name + "市",
                "level": "city",
                "parent": code,
                "lat": 31.0,
                "lon": 111.0,
            }
        )
    for c in counties:
        prov = PROVINCES[c.pop("province")][0]
        rows.append({"level": "county", "parent": prov[:2] + "0100", **c})
    return pd.DataFrame(rows)


@st.composite
def small_scenarios(
    draw: st.DrawFn, unit: bool = False, max_orgs: int = 4, max_targets: int = 4
) -> Scenario:
    """Random small pairing scenarios: loads, capacities, quotas, fix/forbid/prefer, history."""
    n_t = draw(st.integers(1, max_targets))
    n_o = draw(st.integers(1, max_orgs))
    coord = st.floats(30.0, 32.0)
    counties: list[dict[str, Any]] = []
    for t in range(n_t):
        flags = draw(st.lists(st.sampled_from(DESIGNATIONS), min_size=1, max_size=3, unique=True))
        counties.append(
            {
                "code": f"T{t}",
                "name": f"受援县{t}",
                "province": draw(st.integers(0, 1)),
                "lat": draw(coord),
                "lon": draw(coord) + 80.0,
                "elderly": draw(st.integers(0, 100)),
                "disabled": draw(st.integers(0, 100)),
                "population": 1000,
                **dict.fromkeys(flags, True),
            }
        )
    orgs: list[dict[str, Any]] = []
    for o in range(n_o):
        home = draw(st.integers(-1, n_t - 1))  # -1: its own county, else inside a target
        region = f"H{o}" if home < 0 else f"T{home}"
        if home < 0:
            counties.append(
                {
                    "code": region,
                    "name": f"本地县{o}",
                    "province": draw(st.integers(0, 1)),
                    "lat": draw(coord),
                    "lon": draw(coord) + 80.0,
                }
            )
        orgs.append(
            {
                "id": f"O{o}",
                "name": f"机构{o}",
                "region": region,
                "specialties": draw(st.sampled_from(["", "elderly", "disability;elderly"])),
                "rating": draw(st.integers(0, 5)),
                "pairing_capacity": draw(st.integers(0, 3)),
            }
        )
    pairs = list(itertools.product(range(n_o), range(n_t)))
    overrides: list[dict[str, Any]] = []
    existing: list[dict[str, Any]] = []
    for o, t in pairs:
        action = draw(
            st.sampled_from(
                ["none", "none", "prefer"]
                if unit
                else ["none", "prefer", "prefer", "forbid", "fix"]
            )
        )
        if action != "none":
            overrides.append(
                {
                    "org": f"O{o}",
                    "target": f"T{t}",
                    "action": action,
                    "load": None if unit else draw(st.one_of(st.none(), st.integers(1, 3))),
                    "score": draw(st.one_of(st.none(), st.integers(-5, 120))),
                }
            )
        if draw(st.integers(0, 4)) == 0:
            existing.append({"org": f"O{o}", "target": f"T{t}"})
    quotas: dict[str, dict[str, int | None]] = {}
    if not unit:
        for _, name in PROVINCES:
            if draw(st.booleans()):
                quotas[name] = {
                    "cross_province": draw(st.one_of(st.none(), st.integers(0, 2))),
                    "in_province": draw(st.one_of(st.none(), st.integers(0, 2))),
                }
    pairing: dict[str, Any] = {
        "targets": list(DESIGNATIONS),
        "partners_per_target": draw(st.integers(1, 2)),
        "max_km": draw(st.sampled_from([None, 80.0, 200.0, 400.0])),
        "cross_province": draw(st.booleans()),
        "counterparts": draw(st.sampled_from([{}, {"甲": ["乙"]}, {"12": ["11"]}])),
        "counterparts_ignore_distance": draw(st.booleans()),
        "quotas": quotas,
        "continuity_bonus": draw(st.integers(0, 40)),
    }
    priority = {d: draw(st.integers(1, 5)) for d in DESIGNATIONS}
    meta = {"name": "random", "policy": {"pairing": pairing, "priority": priority}}
    tables = {
        "regions": make_regions(counties),
        "organizations": pd.DataFrame(orgs),
        "pair_overrides": pd.DataFrame(
            overrides, columns=["org", "target", "action", "score", "load"]
        ),
        "existing_pairs": pd.DataFrame(existing, columns=["org", "target"]),
    }
    return Scenario.from_tables(meta, tables)


def brute_force(model: PairingModel) -> tuple[int, int] | None:
    """Lexicographic optimum (weighted shortfall, score) over every 0/1 assignment; None: none."""
    n = model.n
    x = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(np.int64)
    ok = np.all(x[:, model.fixed] == 1, axis=1)
    per_target = np.zeros((n, len(model.need)), np.int64)
    per_target[np.arange(n), model.target] = 1
    count = x @ per_target
    ok &= np.all(count <= model.need, axis=1)
    per_org = np.zeros((n, len(model.capacity)), np.int64)
    per_org[np.arange(n), model.org] = model.load
    ok &= np.all(x @ per_org <= model.capacity, axis=1)
    if len(model.limit):
        per_quota = np.zeros((n, len(model.limit)), np.int64)
        inside = model.quota >= 0
        per_quota[np.flatnonzero(inside), model.quota[inside]] = 1
        ok &= np.all(x @ per_quota <= model.limit, axis=1)
    if not ok.any():
        return None
    w = (model.need - count) @ model.priority
    s = x @ model.score
    best_w = int(w[ok].min())
    return best_w, int(s[ok & (w == best_w)].max())


def objectives(result: PairingResult) -> tuple[int, int]:
    obj = result.report.objectives
    return int(obj["weighted_shortfall"]), int(obj["score"])


FAST = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FAST
@given(small_scenarios())
def test_cp_sat_and_mip_equal_brute_force(scenario: Scenario) -> None:
    """On random small instances CP-SAT and the MIP reach the brute-force lexicographic optimum."""
    model = model_arrays(build_candidates(scenario))
    assert model.n <= 16
    expected = brute_force(model)
    for method in ("cp_sat", "mip"):
        result = solve_pairing(scenario, method=method, workers=1, time_limit_s=20)
        if expected is None:
            assert result.report.status == "infeasible", method
            assert result.pairs.empty
            continue
        assert result.report.status == "optimal", (method, result.report.message)
        assert objectives(result) == expected, method
        assert result.report.gap == 0
        assert check_pairing_invariants(scenario, result) == [], method


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(small_scenarios(unit=True, max_orgs=7, max_targets=6))
def test_flow_agrees_with_cp_sat(scenario: Scenario) -> None:
    """With unit loads and no quota the min-cost flow and CP-SAT reach the same objectives."""
    flow = solve_pairing(scenario, method="flow")
    cp = solve_pairing(scenario, method="cp_sat", workers=1)
    assert flow.report.status == cp.report.status
    if flow.report.status == "optimal":
        assert objectives(flow) == objectives(cp)
        assert check_pairing_invariants(scenario, flow) == []


# ---------------------------------------------------------------------------------------------
# hand-made scenarios


def county(code: str, province: int, lat: float, lon: float, **extra: Any) -> dict[str, Any]:
    return {
        "code": code,
        "name": f"县{code}",
        "province": province,
        "lat": lat,
        "lon": lon,
        **extra,
    }


def scenario_of(
    counties: list[dict[str, Any]],
    orgs: list[dict[str, Any]],
    pairing: dict[str, Any] | None = None,
    overrides: list[dict[str, Any]] | None = None,
    solver: dict[str, Any] | None = None,
) -> Scenario:
    meta = {"name": "hand", "policy": {"pairing": pairing or {}, "solver": solver or {}}}
    tables = {
        "regions": make_regions([dict(c) for c in counties]),
        "organizations": pd.DataFrame(orgs),
        "pair_overrides": pd.DataFrame(
            overrides or [], columns=["org", "target", "action", "score", "load"]
        ),
    }
    return Scenario.from_tables(meta, tables)


def org(code: str, region: str, capacity: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "id": code,
        "name": f"机构{code}",
        "region": region,
        "pairing_capacity": capacity,
        **extra,
    }


def test_shortfall_reasons() -> None:
    """Short targets say why: no candidate, capacity used up, or a binding quota."""
    counties = [
        county("A", 0, 31.0, 111.0, key_assistance=True),
        county("B", 0, 31.1, 111.1, key_assistance=True),
        county("FAR", 1, 40.0, 100.0, key_assistance=True),
        county("H", 0, 31.05, 111.05),
    ]
    orgs = [org("O1", "H", capacity=1)]
    result = solve_pairing(scenario_of(counties, orgs, {"max_km": 100}))
    reasons = result.targets.set_index("target")["reason_code"]
    assert reasons["FAR"] == "no_candidate"
    assert sorted([reasons["A"], reasons["B"]]) == ["", "capacity_exhausted"]
    assert "无可达" in result.targets.set_index("target").loc["FAR", "reason"]

    quota = {"max_km": 100, "quotas": {"甲省": {"in_province": 1}}}
    result = solve_pairing(scenario_of(counties, [org("O1", "H", capacity=2)], quota))
    reasons = result.targets.set_index("target")["reason_code"]
    assert sorted([reasons["A"], reasons["B"]]) == ["", "quota"]
    rules = result.rules.set_index(["rule", "subject"])
    assert bool(rules.loc[("quota", "110000:in_province"), "at_limit"])
    assert not bool(rules.loc[("capacity", "O1"), "at_limit"])
    assert (
        check_pairing_invariants(scenario_of(counties, [org("O1", "H", capacity=2)], quota), result)
        == []
    )


def test_priority_first_then_score() -> None:
    """A scarce partner goes to the higher-priority target even at a lower score."""
    counties = [
        county("KEY", 0, 31.0, 111.0, key_assistance=True),
        county("OLD", 0, 31.0, 111.01, old_revolutionary=True),
        county("H", 0, 31.0, 111.005),
    ]
    overrides = [
        {"org": "O1", "target": "KEY", "action": "prefer", "score": 1},
        {"org": "O1", "target": "OLD", "action": "prefer", "score": 100},
    ]
    scenario = scenario_of(
        counties, [org("O1", "H")], {"targets": ["key_assistance", "old_revolutionary"]}, overrides
    )
    for method in ("flow", "cp_sat", "mip"):
        result = solve_pairing(scenario, method=method)
        assert result.pairs["target"].tolist() == ["KEY"], method
        assert objectives(result) == (2, 1)


def test_fixed_pair_conflict_is_infeasible() -> None:
    """Fixed pairs beyond an organization's capacity make the stage infeasible, with a message."""
    counties = [
        county("A", 0, 31.0, 111.0, key_assistance=True),
        county("B", 0, 31.1, 111.0, key_assistance=True),
        county("H", 0, 31.0, 111.1),
    ]
    overrides = [{"org": "O1", "target": t, "action": "fix"} for t in ("A", "B")]
    result = solve_pairing(scenario_of(counties, [org("O1", "H")], {}, overrides))
    assert result.report.status == "infeasible"
    assert "O1" in result.report.message
    assert result.pairs.empty
    assert (
        check_pairing_invariants(scenario_of(counties, [org("O1", "H")], {}, overrides), result)
        == []
    )


def test_fixed_pair_kept_even_if_worse() -> None:
    """A fixed pair is in the plan even when another pair would score higher."""
    counties = [
        county("A", 0, 31.0, 111.0, key_assistance=True),
        county("H1", 0, 31.0, 111.01),
        county("H2", 0, 32.5, 111.0),
    ]
    orgs = [org("NEAR", "H1", rating=5), org("FARO", "H2")]
    overrides = [{"org": "FARO", "target": "A", "action": "fix"}]
    scenario = scenario_of(counties, orgs, {"max_km": 300}, overrides)
    for method in ("auto", "flow", "cp_sat", "mip"):
        result = solve_pairing(scenario, method=method)  # type: ignore[arg-type]
        assert result.pairs["org"].tolist() == ["FARO"], method
        assert check_pairing_invariants(scenario, result) == []


def national_like(
    seed: int, n_orgs: int = 120, n_targets: int = 40, loads: bool = True
) -> Scenario:
    """A mid-size random scenario with loads and quotas, for determinism and timing."""
    rng = np.random.default_rng(seed)
    counties = [
        county(
            f"T{i}",
            int(rng.integers(0, 2)),
            float(rng.uniform(30, 33)),
            float(rng.uniform(110, 114)),
            key_assistance=True,
            elderly=int(rng.integers(0, 100)),
        )
        for i in range(n_targets)
    ]
    counties += [
        county(
            f"H{i}",
            int(rng.integers(0, 2)),
            float(rng.uniform(30, 33)),
            float(rng.uniform(110, 114)),
        )
        for i in range(n_orgs // 4)
    ]
    spec = ["elderly", "children", "disability;elderly", ""]
    orgs = [
        org(
            f"O{i}",
            f"H{int(rng.integers(0, n_orgs // 4))}",
            capacity=int(rng.integers(1, 4)),
            rating=int(rng.integers(0, 6)),
            specialties=spec[int(rng.integers(0, 4))],
        )
        for i in range(n_orgs)
    ]
    overrides = [
        {
            "org": f"O{i}",
            "target": f"T{int(rng.integers(0, n_targets))}",
            "action": "prefer",
            "load": int(rng.integers(1, 4)),
        }
        for i in range(0, n_orgs, 3)
    ]
    if not loads:
        overrides = [{**o, "load": 1} for o in overrides]
    overrides = list({(o["org"], o["target"]): o for o in overrides}.values())
    pairing = {
        "partners_per_target": 2,
        "max_km": 150,
        "quotas": {"甲": {"cross_province": 3, "in_province": 15}},
    }
    return scenario_of(counties, orgs, pairing, overrides)


@pytest.mark.parametrize(("method", "loads"), [("cp_sat", True), ("mip", True), ("mip", False)])
def test_same_seed_same_pairs(method: str, loads: bool) -> None:
    """Two solves with the same seed and two workers return the same pairs."""
    scenario = national_like(3, loads=loads)
    first = solve_pairing(scenario, method=method, seed=7, workers=2)  # type: ignore[arg-type]
    second = solve_pairing(scenario, method=method, seed=7, workers=2)  # type: ignore[arg-type]
    assert first.report.status == "optimal"
    pd.testing.assert_frame_equal(first.pairs, second.pairs)
    assert check_pairing_invariants(scenario, first) == []


@pytest.mark.parametrize("loads", [True, False])
def test_methods_agree_on_mid_size_instance(loads: bool) -> None:
    """CP-SAT and the MIP reach the same objectives on a mid-size instance with quotas."""
    scenario = national_like(5, loads=loads)
    results = [solve_pairing(scenario, method=m) for m in ("cp_sat", "mip", "auto")]
    assert {objectives(r) for r in results} == {objectives(results[0])}
    assert all(r.report.status == "optimal" for r in results)


def test_auto_picks_flow_for_unit_loads() -> None:
    """auto uses the min-cost flow when loads are 1 and no quota applies, else CP-SAT or a MIP."""
    counties = [county("A", 0, 31.0, 111.0, key_assistance=True), county("H", 0, 31.0, 111.1)]
    scenario = scenario_of(counties, [org("O1", "H")])
    assert solve_pairing(scenario).report.method == "flow"
    model = model_arrays(build_candidates(national_like(3)))
    assert choose_method(model, "auto") in ("cp_sat", "mip")
    with pytest.raises(ValueError, match="flow"):
        solve_pairing(national_like(3), method="flow")


def test_time_limit_returns_plan_with_gap() -> None:
    """A very short time limit still returns a valid plan with its status, bound and gap."""
    scenario = national_like(11, n_orgs=200, n_targets=80)
    result = solve_pairing(scenario, method="cp_sat", time_limit_s=0.05, workers=1)
    assert result.report.status in ("optimal", "feasible")
    assert result.report.gap >= 0
    assert set(result.report.bound) == {"weighted_shortfall", "score"}
    assert check_pairing_invariants(scenario, result) == []


def test_result_tables_shape() -> None:
    """Pairs carry a bilingual reason; organizations report load used; the report serialises."""
    scenario = national_like(2)
    result = solve_pairing(scenario)
    assert {"org", "target", "score", "load", "distance_km", "reason"} <= set(result.pairs)
    assert result.pairs["reason"].str.contains("专长匹配").all()
    assert result.pairs["reason"].str.contains("specialty fit").all()
    assert (result.organizations["load_used"] <= result.organizations["capacity"]).all()
    assert result.candidates["chosen"].sum() == len(result.pairs)
    as_dict = result.report.to_dict()
    assert as_dict["stage"] == "pairing" and as_dict["status"] == "optimal"
    assert set(result.rules["rule"]) >= {"capacity", "partners_per_target", "quota"}


def test_invariant_checker_catches_violations() -> None:
    """The invariant checker reports a pair over capacity and a pair outside the candidates."""
    scenario = national_like(2)
    result = solve_pairing(scenario)
    bad_pairs = pd.concat([result.pairs, result.pairs.iloc[:1].assign(target="NOPE")])
    broken = PairingResult(
        result.candidates,
        bad_pairs,
        result.targets,
        result.organizations,
        result.rules,
        result.report,
    )
    problems = check_pairing_invariants(scenario, broken)
    assert any("not an eligible candidate" in p for p in problems)


@st.composite
def unit_models(draw: st.DrawFn) -> PairingModel:
    """Random unit-load models with quotas and fixed pairs, built directly as arrays."""
    n_o = draw(st.integers(1, 7))
    n_t = draw(st.integers(1, 3))
    cells = [(o, t) for o in range(n_o) for t in range(n_t)]
    chosen = draw(st.lists(st.sampled_from(cells), min_size=1, max_size=14, unique=True))
    org_arr = np.array([c[0] for c in chosen], dtype=np.int64)
    target_arr = np.array([c[1] for c in chosen], dtype=np.int64)
    n = len(chosen)
    fixed = np.array([draw(st.integers(0, 9)) == 0 for _ in range(n)], dtype=bool)
    load = np.where(fixed, [draw(st.integers(1, 2)) for _ in range(n)], 1).astype(np.int64)
    t_prov = [draw(st.integers(0, 1)) for _ in range(n_t)]
    o_prov = [draw(st.integers(0, 1)) for _ in range(n_o)]
    limits = [draw(st.one_of(st.none(), st.integers(0, 3))) for _ in range(4)]  # (prov, cross)
    rows = [i for i, lim in enumerate(limits) if lim is not None]
    row_of = {r: k for k, r in enumerate(rows)}
    quota = np.array(
        [row_of.get(t_prov[t] * 2 + int(t_prov[t] != o_prov[o]), -1) for o, t in chosen],
        dtype=np.int64,
    )
    return PairingModel(
        org=org_arr,
        target=target_arr,
        score=np.array([draw(st.integers(-3, 30)) for _ in range(n)], dtype=np.int64),
        load=load,
        fixed=fixed,
        quota=quota,
        capacity=np.array([draw(st.integers(0, 3)) for _ in range(n_o)], dtype=np.int64),
        need=np.array([draw(st.integers(1, 3)) for _ in range(n_t)], dtype=np.int64),
        priority=np.array([draw(st.integers(1, 3)) for _ in range(n_t)], dtype=np.int64),
        limit=np.array([limits[r] for r in rows], dtype=np.int64),
    )


@settings(max_examples=300, deadline=None, derandomize=True)
@given(unit_models())
def test_unit_load_pruning_is_exact(model: PairingModel) -> None:
    """Pruning candidates with unit loads keeps the brute-force lexicographic optimum."""
    keep = prune_unit_loads(model)
    assert keep[model.fixed].all()
    assert brute_force(model.subset(keep)) == brute_force(model)


def test_pruning_removes_dominated_candidates() -> None:
    """With many interchangeable senders only the best few per target are kept."""
    n_o = 30
    model = PairingModel(
        org=np.arange(n_o, dtype=np.int64),
        target=np.zeros(n_o, dtype=np.int64),
        score=np.arange(n_o, dtype=np.int64),
        load=np.ones(n_o, dtype=np.int64),
        fixed=np.zeros(n_o, dtype=bool),
        quota=np.full(n_o, -1, dtype=np.int64),
        capacity=np.ones(n_o, dtype=np.int64),
        need=np.array([2], dtype=np.int64),
        priority=np.array([1], dtype=np.int64),
        limit=np.zeros(0, dtype=np.int64),
    )
    keep = prune_unit_loads(model)
    assert sorted(np.flatnonzero(keep).tolist()) == [28, 29]
