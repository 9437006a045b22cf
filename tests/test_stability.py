"""Re-planning from a previous plan: pairs and staffing kept unless a change is worth more than
the churn penalty, shortfall never traded for stability, and the churn report."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import linkage
from conftest import SCENARIO, write_scenario
from linkage.plan.compare import load_plan
from linkage.plan.stability import churn, previous_staffing, with_previous
from linkage.scenario import Scenario
from linkage.solvers.pairing import solve_pairing
from linkage.solvers.staffing import solve_staffing, staffing_network

ROOT = Path(__file__).resolve().parents[1]

# two senders in 西湖区 with the same specialties, one point of rating apart
TWO_SENDERS = """id,name,region,kind,specialties,staff,rating,pairing_capacity
001,甲社工服务中心,330106,social_work,elderly,25,{r1},1
002,乙社工服务中心,330106,social_work,elderly,25,{r2},1
"""


def pairing_scenario(
    folder: Path,
    *,
    ratings: tuple[int, int],
    targets: list[str],
    stability: dict[str, Any] | None = None,
    overrides: str | None = None,
) -> Scenario:
    """The tiny scenario with two senders of the given ratings and the given target designations."""
    meta = copy.deepcopy(SCENARIO)
    meta["policy"]["pairing"]["targets"] = targets
    if stability is not None:
        meta["policy"]["stability"] = stability
    files: dict[str, Any] = {
        "organizations": TWO_SENDERS.format(r1=ratings[0], r2=ratings[1]),
        "scenario": meta,
    }
    if overrides is not None:
        files["pair_overrides"] = overrides
    return linkage.load(write_scenario(folder, **files))


def pairs_of(plan: Any) -> set[tuple[str, str]]:
    return set(zip(plan.pairs["org"], plan.pairs["target"], strict=True))


def test_previous_pairs_become_existing_pairs_with_the_churn_bonus(tmp_path: Path) -> None:
    """with_previous makes the plan's pairs last period's pairs, earning churn_penalty_pairing."""
    base = pairing_scenario(tmp_path / "a", ratings=(4, 3), targets=["key_assistance"])
    previous = linkage.solve(base, stages=["pairing"])
    assert pairs_of(previous) == {("001", "632221")}
    again = with_previous(base, previous)
    assert again.tables["existing_pairs"][["org", "target"]].values.tolist() == [["001", "632221"]]
    cand = solve_pairing(again).candidates.set_index("org")
    assert cand.loc["001", "continuity"] == base.policy.pairing.continuity_bonus
    assert cand.loc["002", "continuity"] == 0
    strict = pairing_scenario(
        tmp_path / "b",
        ratings=(4, 3),
        targets=["key_assistance"],
        stability={"churn_penalty_pairing": 7},
    )
    cand = solve_pairing(with_previous(strict, previous)).candidates.set_index("org")
    assert cand.loc["001", "continuity"] == 7


@pytest.mark.parametrize(("penalty", "kept"), [(30, True), (5, True), (3, False), (0, False)])
def test_a_pair_changes_only_when_the_gain_beats_the_penalty(
    tmp_path: Path, penalty: int, kept: bool
) -> None:
    """002 now scores 4 points more than last plan's 001: it replaces 001 only under a penalty < 4."""
    previous = linkage.solve(
        pairing_scenario(tmp_path / "a", ratings=(4, 3), targets=["key_assistance"]),
        stages=["pairing"],
    )
    now = pairing_scenario(
        tmp_path / "b",
        ratings=(4, 5),
        targets=["key_assistance"],
        stability={"churn_penalty_pairing": penalty},
    )
    assert pairs_of(linkage.solve(now, stages=["pairing"])) == {("002", "632221")}
    replanned = linkage.solve(with_previous(now, previous), stages=["pairing"])
    assert pairs_of(replanned) == ({("001", "632221")} if kept else {("002", "632221")})


def test_a_pair_moves_when_keeping_it_would_leave_a_target_unpaired(tmp_path: Path) -> None:
    """However large the churn penalty, covering a new target (lower W) comes first."""
    previous = linkage.solve(
        pairing_scenario(tmp_path / "a", ratings=(4, 3), targets=["key_assistance"]),
        stages=["pairing"],
    )
    assert pairs_of(previous) == {("001", "632221")}
    now = pairing_scenario(
        tmp_path / "b",
        ratings=(4, 3),
        targets=["key_assistance", "ethnic"],
        stability={"churn_penalty_pairing": 1000},
        overrides="org,target,action\n002,632222,forbid\n",
    )
    replanned = linkage.solve(with_previous(now, previous), stages=["pairing"])
    assert pairs_of(replanned) == {("002", "632221"), ("001", "632222")}
    assert replanned.report("pairing").objectives["weighted_shortfall"] == 0


# ---------------------------------------------------------------------------------------------
# staffing


def staffing_scenario(
    towns: list[tuple[float, bool]], pools: list[dict[str, Any]], *, churn: int | None = None
) -> Scenario:
    """One county at 34.0 N 113.0 E; township i (code 41010100i) at 34.0 N and the longitude
    ``towns[i - 1]`` = (lon, has_station) gives; every station needs the base 2 FTE."""
    rows: list[dict[str, Any]] = [
        {"code": "410000", "name": "省", "level": "province", "lat": 34.0, "lon": 113.0},
        {"code": "410100", "name": "市", "level": "city", "parent": "410000"},
        {
            "code": "410101",
            "name": "县",
            "level": "county",
            "parent": "410100",
            "lat": 34.0,
            "lon": 113.0,
        },
    ]
    for i, (lon, station) in enumerate(towns):
        rows.append(
            {
                "code": f"41010100{i + 1}",
                "name": f"镇{i + 1}",
                "level": "township",
                "parent": "410101",
                "lat": 34.0,
                "lon": lon,
                "has_station": station,
            }
        )
    workers = pd.DataFrame(
        [{"id": f"W{j + 1}", "fte": 1.0, "max_km": 50, **p} for j, p in enumerate(pools)],
        columns=["id", "region", "fte", "max_km", "count"],
    )
    policy: dict[str, Any] = {"staffing": {"per_elderly": None, "per_care_beds": None}}
    if churn is not None:
        policy["stability"] = {"churn_penalty_staffing": churn}
    return Scenario.from_tables(
        {"name": "churn test", "policy": policy},
        {
            "regions": pd.DataFrame(rows),
            "organizations": pd.DataFrame({"id": ["O1"], "name": ["甲"], "region": ["410101"]}),
            "social_workers": workers,
        },
    )


def routes(result: Any) -> dict[tuple[str, str], float]:
    table = result.staffing
    return {
        (p, s): w for p, s, w in zip(table["pool"], table["station"], table["workers"], strict=True)
    }


# station 镇1 at 113.0 E; 镇2 (no station) ≈ 11 km east, where W1 lives
TOWNS = [(113.0, True), (113.12, False)]
FAR = {"region": "410101002", "count": 2}
NEAR = {"region": "410101001", "count": 2}


@pytest.mark.parametrize(("penalty", "kept"), [(100, True), (12, True), (10, False), (0, False)])
def test_staffing_keeps_a_route_unless_the_saving_beats_the_penalty(
    penalty: int, kept: bool
) -> None:
    """A pool at the station replaces last plan's pool 11 km away only under a penalty < 11 km."""
    previous = solve_staffing(staffing_scenario(TOWNS, [FAR]))
    assert routes(previous) == {("W1", "410101001"): 2.0}
    assert int(previous.staffing["distance_km"].iloc[0]) == 11
    now = staffing_scenario(TOWNS, [FAR, NEAR], churn=penalty)
    assert routes(solve_staffing(now)) == {("W2", "410101001"): 2.0}
    replanned = solve_staffing(now, previous_staffing=previous.staffing)
    expected = {("W1", "410101001"): 2.0} if kept else {("W2", "410101001"): 2.0}
    assert routes(replanned) == expected
    assert replanned.report.objectives["weighted_shortfall"] == 0


def test_staffing_never_keeps_a_route_at_the_cost_of_a_shortfall() -> None:
    """A worker leaves last plan's station when only it can reach a new station's need."""
    # W1 lives at 镇3, halfway (≈ 14 km) between 镇1 and 镇2, and served 镇1 last time
    pool = {"region": "410101003", "count": 2}
    before = [(113.0, True), (113.3, False), (113.15, False)]
    previous = solve_staffing(staffing_scenario(before, [pool]))
    assert routes(previous) == {("W1", "410101001"): 2.0}
    # now 镇2 opens a station, and W2 (reach 5 km) can serve 镇1 only
    after = [(113.0, True), (113.3, True), (113.15, False)]
    local = {"region": "410101001", "count": 2, "max_km": 5}
    now = staffing_scenario(after, [pool, local], churn=1000)
    replanned = solve_staffing(now, previous_staffing=previous.staffing)
    assert routes(replanned) == {("W1", "410101002"): 2.0, ("W2", "410101001"): 2.0}
    assert replanned.report.objectives["weighted_shortfall"] == 0


@pytest.fixture(scope="module")
def jilin() -> tuple[Scenario, linkage.Plan]:
    scenario = linkage.load(ROOT / "scenarios" / "jilin")
    return scenario, linkage.solve(scenario, stages=["pairing", "staffing"])


def test_without_previous_staffing_the_network_is_unchanged(
    jilin: tuple[Scenario, linkage.Plan],
) -> None:
    """previous_staffing=None (or a zero penalty) builds the same arcs and the same plan."""
    scenario, plan = jilin
    pairs = plan.tables["pairs"]
    plain = staffing_network(scenario, pairs)
    assert len(plain.keep_loc) == len(plain.keep_disp) == 0
    free = scenario.replace(
        policy=scenario.policy.model_copy(
            update={
                "stability": scenario.policy.stability.model_copy(
                    update={"churn_penalty_staffing": 0}
                )
            }
        )
    )
    zero = staffing_network(free, pairs, plan.tables["staffing"])
    for name in ("tails", "heads", "caps", "costs", "supplies"):
        assert np.array_equal(getattr(plain, name), getattr(zero, name))
    pd.testing.assert_frame_equal(
        solve_staffing(free, pairs, previous_staffing=plan.tables["staffing"]).staffing,
        plan.tables["staffing"],
    )


def test_replanning_an_unchanged_scenario_from_its_plan_changes_nothing(
    jilin: tuple[Scenario, linkage.Plan], tmp_path: Path
) -> None:
    """From its own (saved) plan, Jilin re-plans to the same pairs and keeps every FTE."""
    scenario, plan = jilin
    plan.save(tmp_path / "plan")
    previous = load_plan(tmp_path / "plan")
    again = with_previous(scenario, previous)
    pairs = linkage.solve(again, stages=["pairing"]).tables["pairs"]
    staffed = solve_staffing(again, pairs, previous_staffing=previous_staffing(previous))
    report = churn(previous, {"pairs": pairs, "staffing": staffed.staffing}).set_index("measure")
    assert report.loc["pairs_kept_share", "value"] == 1.0
    assert report.loc["staffing_kept_share", "value"] == pytest.approx(1.0)
    assert report.loc["staffing_fte_moved", "value"] == pytest.approx(0.0)
    assert staffed.report.objectives["weighted_shortfall"] == pytest.approx(
        plan.report("staffing").objectives["weighted_shortfall"]
    )


def test_replanning_moves_fewer_workers_at_the_same_shortfall(
    jilin: tuple[Scenario, linkage.Plan],
) -> None:
    """With 10 % more social workers, re-planning from the plan keeps W and moves fewer FTE."""
    scenario, plan = jilin
    workers = scenario.tables["social_workers"].copy()
    workers["count"] = np.ceil(workers["count"] * 1.1).astype(int)
    more = scenario.replace(social_workers=workers)
    pairs = plan.tables["pairs"]
    fresh = solve_staffing(more, pairs)
    stable = solve_staffing(more, pairs, previous_staffing=plan.tables["staffing"])
    assert stable.report.objectives["weighted_shortfall"] == pytest.approx(
        fresh.report.objectives["weighted_shortfall"]
    )
    moved = {
        name: churn(plan, {"staffing": r.staffing})
        .set_index("measure")
        .loc["staffing_fte_moved", "value"]
        for name, r in (("fresh", fresh), ("stable", stable))
    }
    assert moved["stable"] < moved["fresh"]


def test_churn_counts_pairs_and_fte_by_route() -> None:
    """Pairs kept/added/removed and FTE kept/moved/new, local by pool and dispatch by org."""
    old = {
        "pairs": pd.DataFrame({"org": ["a", "b"], "target": ["t1", "t2"]}),
        "staffing": pd.DataFrame(
            {
                "pool": ["P1", "P3"],
                "org": [None, "O"],
                "station": ["S1", "S2"],
                "workers": [2.0, 1.0],
                "via": ["local", "dispatch"],
            }
        ),
    }
    new = {
        "pairs": pd.DataFrame({"org": ["a", "c"], "target": ["t1", "t2"]}),
        "staffing": pd.DataFrame(
            {
                "pool": ["P1", "P2", "P4"],
                "org": [None, None, "O"],
                "station": ["S1", "S1", "S2"],
                "workers": [1.5, 0.5, 1.0],
                "via": ["local", "local", "dispatch"],
            }
        ),
    }
    report = churn(old, new).set_index("measure")["value"].to_dict()
    assert report["pairs_previous"] == 2 and report["pairs_kept"] == 1
    assert report["pairs_added"] == 1 and report["pairs_removed"] == 1
    assert report["targets_changed"] == 1 and report["pairs_kept_share"] == 0.5
    assert report["staffing_fte_previous"] == 3.0
    assert report["staffing_fte_kept"] == 2.5  # 1.5 of P1 at S1, and O's 1.0 dispatched to S2
    assert report["staffing_fte_moved"] == 0.5 and report["staffing_fte_new"] == 0.5
    assert report["staffing_kept_share"] == pytest.approx(2.5 / 3.0)
