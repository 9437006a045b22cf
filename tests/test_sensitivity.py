"""Explanations (pairing alternatives, station sources and missed pools) and marginal values,
the latter checked against re-solving with one more social worker or ¥10,000 more."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import linkage
from conftest import write_scenario
from linkage.plan.sensitivity import (
    MARGINAL_COLUMNS,
    funds_marginals,
    marginal_values,
    pairing_alternatives,
    station_explanations,
    worker_marginals,
)
from linkage.scenario import Scenario
from linkage.solvers.funds import solve_funds
from linkage.solvers.staffing import solve_staffing

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------
# pairing


@pytest.fixture(scope="module")
def tiny_plan(tmp_path_factory: pytest.TempPathFactory) -> linkage.Plan:
    folder = write_scenario(tmp_path_factory.mktemp("tiny") / "s")
    return linkage.solve(linkage.load(folder), stages=["pairing"])


def test_alternative_blocked_by_capacity_names_the_partners_it_serves(
    tiny_plan: linkage.Plan,
) -> None:
    """海晏's better-scoring alternative 001 is at capacity with 门源 and 祁连, and says so."""
    table = pairing_alternatives(tiny_plan)
    hy = table[table["target"] == "632223"].reset_index(drop=True)
    assert hy["kind"].tolist() == ["chosen", "alternative"]
    assert hy.loc[0, "org"] == "002" and hy.loc[0, "score_gap"] == 0
    alt = hy.loc[1]
    assert alt["org"] == "001" and alt["rank"] == 1
    assert alt["score_gap"] == 52 - 26  # better, yet blocked
    assert alt["binding"] == "capacity"
    assert "门源回族自治县" in alt["why"] and "祁连县" in alt["why"]
    parts = alt[["specialty", "quality", "distance", "continuity"]].sum()
    assert parts == alt["score"]


def test_alternative_with_room_is_worse_by_its_score_gap(tmp_path: Path) -> None:
    """When 001 can take every target, 002 (with room) is out only by its lower score."""
    orgs = """id,name,region,kind,specialties,staff,rating,pairing_capacity
001,杭州市西湖区永安社会工作服务中心,330106,social_work,elderly;children,25,5,3
002,北山街道社工站,330106001,social_work,hardship,8,3,1
"""
    plan = linkage.solve(
        linkage.load(write_scenario(tmp_path / "s", organizations=orgs)), stages=["pairing"]
    )
    table = pairing_alternatives(plan)
    alts = table[table["kind"] == "alternative"]
    assert len(alts) == 3 and set(alts["org"]) == {"002"}
    assert (alts["binding"] == "partners_per_target").all()
    chosen = table[table["kind"] == "chosen"].set_index("target")["score"]
    for row in alts.itertuples(index=False):
        assert row.score_gap == row.score - chosen[row.target] < 0
        assert f"低 {-row.score_gap:g} 分" in row.why


def test_alternatives_are_the_best_unchosen_candidates_in_score_order() -> None:
    """On Jilin every target lists its chosen pairs, then up to 3 unchosen ones, best first."""
    plan = linkage.solve(linkage.load(ROOT / "scenarios" / "jilin"), stages=["pairing"])
    table = pairing_alternatives(plan)
    cand = plan.tables["candidates"]
    assert set(table["target"]) == set(plan.tables["targets"]["target"])
    for target, rows in table.groupby("target"):
        chosen = rows[rows["kind"] == "chosen"]
        alts = rows[rows["kind"] == "alternative"]
        mine = cand[cand["target"] == target]
        assert set(chosen["org"]) == set(mine.loc[mine["chosen"], "org"])
        best = mine.loc[~mine["chosen"], "score"].sort_values(ascending=False).head(3)
        assert alts["score"].tolist() == best.tolist()
        assert alts["rank"].tolist() == list(range(1, len(alts) + 1))
        assert (alts["score_gap"] == alts["score"] - chosen["score"].min()).all()
        assert alts["binding"].isin(["capacity", "quota", "partners_per_target", "fixed"]).all()


# ---------------------------------------------------------------------------------------------
# staffing scenarios: counties A (113.0 E), B (114.0 E), C (115.0 E), all at 34.0 N


def county_scenario(
    towns: list[dict[str, Any]], pools: list[dict[str, Any]], **staffing: Any
) -> Scenario:
    """Counties 410101 (A), 410102 (B), 410103 (C); each town row names its county index and
    longitude; every station needs the base 2 FTE unless ``elderly`` raises it."""
    rows: list[dict[str, Any]] = [
        {"code": "410000", "name": "省", "level": "province", "lat": 34.0, "lon": 114.0},
        {"code": "410100", "name": "市", "level": "city", "parent": "410000"},
    ]
    for i, name in enumerate("ABC"):
        rows.append(
            {
                "code": f"41010{i + 1}",
                "name": f"{name}县",
                "level": "county",
                "parent": "410100",
                "lat": 34.0,
                "lon": 113.0 + i,
            }
        )
    for j, town in enumerate(towns):
        town = dict(town)
        county = f"41010{town.pop('county') + 1}"
        rows.append(
            {
                "code": f"{county}{j + 1:03d}",
                "name": f"镇{j + 1}",
                "level": "township",
                "parent": county,
                "lat": 34.0,
                "has_station": True,
                **town,
            }
        )
    workers = pd.DataFrame(
        [{"id": f"W{k + 1}", "max_km": 50, **p} for k, p in enumerate(pools)],
        columns=["id", "region", "fte", "max_km", "count"],
    )
    return Scenario.from_tables(
        {
            "name": "marginal test",
            "policy": {"staffing": {"per_elderly": None, "per_care_beds": None, **staffing}},
        },
        {
            "regions": pd.DataFrame(rows),
            "organizations": pd.DataFrame({"id": ["O1"], "name": ["甲"], "region": ["410101"]}),
            "social_workers": workers,
        },
    )


def test_station_explanations_name_sources_missed_pools_and_none() -> None:
    """镇2 (priority 3) gets the one worker; short 镇1 lists it as missed; 镇3 has no one."""
    scenario = county_scenario(
        [
            {"county": 0, "lon": 113.1},
            {"county": 0, "lon": 113.2, "key_assistance": True},
            {"county": 2, "lon": 115.0},
        ],
        [{"region": "410101", "count": 1, "fte": 1.0}],  # at A's seat, 9 and 18 km away
    )
    plan = linkage.solve(scenario, stages=["staffing"])
    table = station_explanations(scenario, plan)
    rows = {(r.station, r.kind): r for r in table.itertuples(index=False)}
    source = rows[("410101002", "source")]
    assert source.pool == "W1" and source.workers == 1.0 and source.distance_km == 18
    missed = rows[("410101001", "missed")]
    assert missed.pool == "W1" and missed.workers == 0 and missed.distance_km == 9
    assert missed.elsewhere == "镇2 1" and "other stations" in missed.why
    assert missed.shortfall == 2.0 and missed.reason_code == "capacity_exhausted"
    none = rows[("410103003", "none")]
    assert "no social worker within reach" in none.why
    assert set(table["station"]) == set(plan.tables["stations"]["region"])


def test_station_explanations_when_no_pool_exists(tmp_path: Path) -> None:
    """With no social worker at all, the short station gets one row: no one within reach."""
    scenario = linkage.load(write_scenario(tmp_path / "s"))
    plan = linkage.solve(scenario, stages=["staffing"])
    table = station_explanations(scenario, plan)
    assert table["station"].tolist() == ["330106001"] and table["kind"].tolist() == ["none"]
    assert table["shortfall"].iloc[0] == table["need"].iloc[0] > 0
    assert "no social worker within reach" in table["why"].iloc[0]


def resolve_gain(scenario: Scenario, county: str, pairs: pd.DataFrame | None = None) -> float:
    """Re-solve staffing with one more 1-FTE pool at the county's point: the fall of W."""
    workers = scenario.tables["social_workers"]
    extra = pd.DataFrame([{"id": "EXTRA", "region": county, "count": 1, "fte": 1.0}])
    more = scenario.replace(social_workers=pd.concat([workers, extra], ignore_index=True))
    before = solve_staffing(scenario, pairs).report.objectives["weighted_shortfall"]
    after = solve_staffing(more, pairs).report.objectives["weighted_shortfall"]
    return before - after


def test_worker_marginals_equal_resolving_with_one_more_worker() -> None:
    """Per county the value equals W's fall when a 1-FTE pool is added at its seat and re-solved."""
    scenario = county_scenario(
        [
            # A: 镇1 short 0.4 FTE, 镇2 (ethnic, priority 2) short 0.3: 0.7 FTE to fill
            {"county": 0, "lon": 113.05},
            {"county": 0, "lon": 113.1, "ethnic": True},
            # B: fully staffed
            {"county": 1, "lon": 114.05},
            # C: short 2 FTE, but 60 km from its seat
            {"county": 2, "lon": 115.65},
        ],
        [
            {"region": "410101001", "count": 2, "fte": 0.8, "max_km": 0},
            {"region": "410101002", "count": 1, "fte": 1.0, "max_km": 0},
            {"region": "410101002", "count": 1, "fte": 0.7, "max_km": 0},
            {"region": "410102003", "count": 2, "fte": 1.0},
        ],
    )
    table = worker_marginals(scenario).set_index("key")
    assert table.loc["410101", "value"] == pytest.approx(0.4 * 1 + 0.3 * 2)
    assert table.loc["410102", "value"] == 0
    assert table.loc["410103", "value"] == 0
    assert "paths" in table.loc["410101", "method"]  # 0.7 FTE need two paths, then none
    for county in ("410101", "410102", "410103"):
        assert table.loc[county, "value"] == pytest.approx(resolve_gain(scenario, county))


def test_worker_marginals_equal_resolving_on_jilin() -> None:
    """On Jilin the best two counties' values and a zero one equal re-solving with +1 FTE."""
    scenario = linkage.load(ROOT / "scenarios" / "jilin")
    pairs = linkage.solve(scenario, stages=["pairing"]).tables["pairs"]
    table = worker_marginals(scenario, pairs)
    ranked = table.sort_values(["value", "key"], ascending=[False, True])
    assert ranked["value"].iloc[0] > 0
    picks = [*ranked["key"].iloc[:2], ranked["key"].iloc[-1]]
    for county in picks:
        value = float(table.loc[table["key"] == county, "value"].iloc[0])
        assert value == pytest.approx(resolve_gain(scenario, county, pairs))


# ---------------------------------------------------------------------------------------------
# funds


def funds_scenario(lots: list[dict[str, Any]]) -> Scenario:
    """One county, three stations (镇2 key-assistance), elderly and children needs."""
    rows: list[dict[str, Any]] = [
        {"code": "410000", "name": "省", "level": "province", "lat": 34.0, "lon": 113.0},
        {"code": "410100", "name": "市", "level": "city", "parent": "410000"},
        {"code": "410101", "name": "县", "level": "county", "parent": "410100"},
    ]
    for k, (elderly, children, key) in enumerate(
        ((2000, 40, False), (1500, 80, True), (500, 0, False))
    ):
        rows.append(
            {
                "code": f"410101{k + 1:03d}",
                "name": f"镇{k + 1}",
                "level": "township",
                "parent": "410101",
                "lat": 34.0,
                "lon": 113.0 + k / 10,
                "has_station": True,
                "elderly": elderly,
                "children_at_risk": children,
                "key_assistance": key,
            }
        )
    resources = pd.DataFrame(
        [{"id": f"L{n + 1}", "donor": f"捐赠方{n + 1}", **lot} for n, lot in enumerate(lots)]
    )
    return Scenario.from_tables(
        {"name": "funds marginal test"}, {"regions": pd.DataFrame(rows), "resources": resources}
    )


LOTS = [
    {"amount": 12000},  # anything, anywhere
    {"amount": 3000, "eligible": "key_assistance", "domains": "children"},
    {"amount": 4000, "regions": "410101003", "domains": "elderly"},  # more than 镇3 needs
    {"amount": 2000, "regions": "410101001", "domains": "children"},
]
STATIONS = pd.DataFrame(
    {"region": ["410101001", "410101002", "410101003"], "assigned": [5.0, 5.0, 0.002]}
)


def test_funds_marginals_equal_resolving_with_10000_more() -> None:
    """Per restriction class the value equals the fall of weighted_unmet when a ¥10,000 lot
    with the same restrictions is added and the stage re-solved."""
    scenario = funds_scenario(LOTS)
    table = funds_marginals(scenario, STATIONS, None)
    assert len(table) == len(LOTS)  # every lot has its own restrictions
    base = solve_funds(scenario, STATIONS).report.objectives["weighted_unmet"]
    values = {}
    for n, lot in enumerate(LOTS):
        extra = [*LOTS, {**lot, "amount": 10000}]
        more = solve_funds(funds_scenario(extra), STATIONS).report.objectives["weighted_unmet"]
        key = table["name"].str.contains(f"L{n + 1}\\b", regex=True)
        values[n] = float(table.loc[key, "value"].iloc[0])
        assert values[n] == pytest.approx(base - more)
    assert values[0] > 0  # unrestricted money always finds a need
    assert values[2] == 0  # 镇3's elderly need is met and its delivery is tiny
    assert table["key"].is_unique
    assert "eligible=key_assistance|domains=children|regions=*" in set(table["key"])


def test_marginal_values_table_has_both_kinds_only_for_stages_the_plan_ran() -> None:
    """marginal_values gives county and class rows with their units, and leaves out a kind whose
    stage the plan lacks."""
    scenario = linkage.load(ROOT / "scenarios" / "jilin")
    plan = linkage.solve(scenario, stages=["pairing", "staffing", "funds"])
    table = marginal_values(scenario, plan)
    assert list(table.columns) == list(MARGINAL_COLUMNS)
    counties = table[table["kind"] == "social_worker"]
    assert set(counties["key"]) == set(plan.tables["stations"]["county"])
    assert (table["value"] >= 0).all()
    assert counties["unit"].str.contains("per extra FTE").all()
    assert table.loc[table["kind"] == "funds", "unit"].str.contains("per extra ¥10,000").all()
    staffing_only = marginal_values(scenario, {"stations": plan.tables["stations"]})
    assert set(staffing_only["kind"]) == {"social_worker"}
    assert marginal_values(scenario, {"pairs": plan.tables["pairs"]}).empty
