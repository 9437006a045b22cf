"""The pipeline on every shipped scenario: solved, invariants hold, deterministic, saved."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import linkage
from linkage.solvers.pairing import check_pairing_invariants, solve_pairing

SCENARIOS = sorted(p for p in (Path(__file__).parents[1] / "scenarios").iterdir() if p.is_dir())


@pytest.fixture(scope="module", params=SCENARIOS, ids=[p.name for p in SCENARIOS])
def solved(request: pytest.FixtureRequest) -> tuple[linkage.Scenario, linkage.Plan]:
    scenario = linkage.load(request.param)
    return scenario, linkage.solve(scenario, stages=["pairing"])


def test_shipped_scenarios_are_found() -> None:
    """The three committed scenarios are there to be tested."""
    assert {"jilin", "henan", "national-pairing"} <= {p.name for p in SCENARIOS}


def test_shipped_scenario_solves_to_proven_optimum(
    solved: tuple[linkage.Scenario, linkage.Plan],
) -> None:
    """Each shipped scenario's pairing is proven optimal, with gap 0."""
    _, plan = solved
    report = plan.report("pairing")
    assert report.status == "optimal" and report.gap == 0


def test_shipped_scenario_plan_keeps_every_invariant(
    solved: tuple[linkage.Scenario, linkage.Plan],
) -> None:
    """Capacities, partners per target, quotas, eligibility and reach hold on the plan."""
    scenario, plan = solved
    pairs = plan.pairs
    orgs = scenario.organizations.set_index("id")
    used = pairs.groupby("org")["load"].sum()
    assert (used <= orgs.loc[used.index, "pairing_capacity"]).all()
    targets = plan.targets.set_index("target")
    assert (targets["assigned"] + targets["shortfall"] == targets["partners_needed"]).all()
    per_target = pairs.groupby("target").size()
    assert (per_target <= targets.loc[per_target.index, "partners_needed"]).all()
    candidates = plan.candidates
    chosen = candidates[candidates["chosen"]]
    assert set(zip(pairs.org, pairs.target, strict=True)) == set(
        zip(chosen.org, chosen.target, strict=True)
    )
    limit = scenario.policy.pairing.max_km
    if limit is not None:
        rule_pairs = chosen[(chosen["origin"] == "rule") & ~chosen["cross_province"]]
        assert (rule_pairs["distance_km"] <= limit + 1e-6).all()


def test_every_short_target_has_a_reason(solved: tuple[linkage.Scenario, linkage.Plan]) -> None:
    """A target left short always says why, in Chinese and English."""
    _, plan = solved
    short = plan.targets[plan.targets["shortfall"] > 0]
    assert short["reason_code"].notna().all()
    assert short["reason"].str.contains("/").all()


def test_same_seed_gives_the_same_plan() -> None:
    """Solving twice with one seed gives identical pairs (determinism)."""
    scenario = linkage.load(Path(__file__).parents[1] / "scenarios" / "jilin")
    a = solve_pairing(scenario, seed=3, method="cp_sat")
    b = solve_pairing(scenario, seed=3, method="cp_sat")
    pd.testing.assert_frame_equal(a.pairs, b.pairs)
    assert not check_pairing_invariants(scenario, a)


def test_plan_save_writes_contract_atomically(
    solved: tuple[linkage.Scenario, linkage.Plan], tmp_path: Path
) -> None:
    """plan.save writes the contract's CSVs and summary.json and refuses to overwrite."""
    _, plan = solved
    out = plan.save(tmp_path / "plan")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    stage = summary["stages"]["pairing"]
    assert {"status", "objectives", "bound", "gap", "wall_s", "variables", "constraints"} <= set(
        stage
    )
    pairs = pd.read_csv(out / "pairs.csv", dtype=str)
    assert {"org", "target", "score", "load", "distance_km", "reason"} <= set(pairs.columns)
    with pytest.raises(FileExistsError):
        plan.save(out)


def test_unknown_stage_is_refused(solved: tuple[linkage.Scenario, linkage.Plan]) -> None:
    """Asking for a stage that does not exist names the stages that do."""
    scenario, _ = solved
    with pytest.raises(ValueError, match="pairing"):
        linkage.solve(scenario, stages=["pairng"])


def test_default_pipeline_feeds_pairs_into_staffing() -> None:
    """All stages run in order and staffing receives the pairing's pairs for 牵手 dispatch."""
    scenario = linkage.load(Path(__file__).parents[1] / "scenarios" / "jilin")
    plan = linkage.solve(scenario)
    assert [r.stage for r in plan.reports] == ["pairing", "staffing", "volunteers", "funds"]
    assert plan.solved
    stations = plan.stations
    assert (stations["assigned"] + stations["shortfall"] - stations["need"]).abs().max() < 1e-6
    assert stations.loc[stations["shortfall"] > 0, "reason_code"].notna().all()
    dispatched = plan.staffing[plan.staffing["via"] == "dispatch"]
    assert set(dispatched["org"]) <= set(plan.pairs["org"])
    demand = plan.volunteer_demand
    gap = demand["assigned_hours"] + demand["shortfall_hours"] - demand["need_hours"]
    assert gap.abs().max() < 1e-6
