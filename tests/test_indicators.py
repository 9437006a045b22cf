"""Plan indicators: hand-computed before/after values, missing stages, groupings, Gini, Henan."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import linkage
from linkage.plan.indicators import COLUMNS, INDICATORS, gini, indicators
from linkage.scenario import Scenario
from linkage.solvers.needs import station_needs

ROOT = Path(__file__).resolve().parents[1]
C1, C2 = "410101", "410102"
T1, T2, T3, T4 = "410101001", "410101002", "410102001", "410102002"
STAFFING_CODES = {
    "station_coverage",
    "workers_per_1000_elderly",
    "workers_per_100_beds",
    "need_coverage",
    "weighted_unmet_need",
    "coverage_gini",
    "least_covered_priority_township",
}
VOLUNTEER_CODES = {"volunteer_hours_covered", "volunteer_hours"}
FUND_CODES = {"funds_covered", "funds_granted"}


# ---------------------------------------------------------------------------------------------
# the hand-computed scenario
#
# Two counties, 乙县 (C2) a key-assistance county, so its townships have priority 3.
#   township  elderly  beds  need (max(2, e/1000, b/100))  home FTE (before)  plan (after)
#   T1 镇1     3000     100   3                               4 (W1)             3
#   T2 镇2     1000     400   4                               1 (W2)             3
#   T3 镇3      500       0   2                               0                  2
#   T4 镇4     2500       0   2.5                             1 (W4: 2 × 0.5)    1.5
# W3 (4 FTE) works at the county 甲县, no station: it counts nowhere before.
# Volunteers, before: V1 (90 h, any skill) at T1 splits 60 elderly / 30 children by need
# (100 / 50); V2 adds 40 children hours, capped at the need 50; V3 (hardship) finds no hardship
# need at T2; V4 lives at a county; V5 (elderly;hardship) gives its 50 h to T3's hardship need
# of 30 (T3 has no elderly row); V6's station T4 has no need row.


def make_scenario(no_elderly: tuple[str, ...] = (), **staffing: object) -> Scenario:
    """The hand-computed scenario; ``no_elderly`` townships lack the elderly figure; keyword
    arguments change the staffing policy."""
    rows = [
        {"code": "410000", "name": "省", "level": "province", "lat": 34.0, "lon": 113.0},
        {"code": "410100", "name": "市", "level": "city", "parent": "410000"},
        {
            "code": C1,
            "name": "甲县",
            "level": "county",
            "parent": "410100",
            "lat": 34.0,
            "lon": 113.0,
        },
        {
            "code": C2,
            "name": "乙县",
            "level": "county",
            "parent": "410100",
            "lat": 34.0,
            "lon": 113.6,
            "key_assistance": True,
        },
    ]
    for code, name, county, elderly, beds, lon in (
        (T1, "镇1", C1, 3000, 100, 113.0),
        (T2, "镇2", C1, 1000, 400, 113.1),
        (T3, "镇3", C2, 500, 0, 113.6),
        (T4, "镇4", C2, 2500, 0, 113.7),
    ):
        rows.append(
            {
                "code": code,
                "name": name,
                "level": "township",
                "parent": county,
                "lat": 34.0,
                "lon": lon,
                "population": 20000,
                "elderly": None if code in no_elderly else elderly,
                "care_beds": beds,
                "has_station": True,
            }
        )
    workers = pd.DataFrame(
        [
            {"id": "W1", "region": T1, "fte": 1.0, "count": 4},
            {"id": "W2", "region": T2, "fte": 1.0, "count": 1},
            {"id": "W3", "region": C1, "org": "O1", "fte": 1.0, "count": 4},
            {"id": "W4", "region": T4, "fte": 0.5, "count": 2},
        ],
        columns=["id", "region", "org", "fte", "count"],
    )
    volunteers = pd.DataFrame(
        [
            {"id": "V1", "region": T1, "skills": "", "hours": 10, "count": 9},
            {"id": "V2", "region": T1, "skills": "children", "hours": 20, "count": 2},
            {"id": "V3", "region": T2, "skills": "hardship", "hours": 100, "count": 1},
            {"id": "V4", "region": C2, "skills": "", "hours": 1000, "count": 1},
            {"id": "V5", "region": T3, "skills": "elderly;hardship", "hours": 50, "count": 1},
            {"id": "V6", "region": T4, "skills": "elderly", "hours": 10, "count": 1},
        ]
    )
    meta = {
        "name": "indicator test",
        "sources": {"fyp": "十四五规划", "mca": "牵手计划实施方案"},
        "policy": {
            "staffing": {"source": "fyp", **staffing},
            "pairing": {"source": "mca"},
            "funds": {"source": "fyp"},
        },
    }
    tables = {
        "regions": pd.DataFrame(rows),
        "organizations": pd.DataFrame(
            {"id": ["O1", "O2"], "name": ["甲机构", "乙机构"], "region": [C1, C2]}
        ),
        "social_workers": workers,
        "volunteers": volunteers,
        "existing_pairs": pd.DataFrame({"org": ["O1", "O2"], "target": [C1, "410100"]}),
    }
    return Scenario.from_tables(meta, tables)


def plan_tables() -> dict[str, pd.DataFrame]:
    """Hand-made plan tables with the stages' columns."""
    need = np.array([3.0, 4.0, 2.0, 2.5])
    assigned = np.array([3.0, 3.0, 2.0, 1.5])
    stations = pd.DataFrame(
        {
            "region": [T1, T2, T3, T4],
            "name": ["镇1", "镇2", "镇3", "镇4"],
            "county": [C1, C1, C2, C2],
            "priority": [1, 1, 3, 3],
            "rule": ["elderly", "care_beds", "base", "elderly"],
            "need": need,
            "assigned": assigned,
            "coverage": assigned / need,
            "shortfall": need - assigned,
            "reason_code": ["", "capacity_exhausted", "", "capacity_exhausted"],
            "reason": ["", "x", "", "x"],
        }
    )
    targets = pd.DataFrame(
        {
            "target": [C1, C2],
            "name": ["甲县", "乙县"],
            "province": ["410000", "410000"],
            "partners_needed": [2, 1],
            "priority": [1, 3],
            "assigned": [1, 1],
            "shortfall": [1, 0],
            "reason_code": ["capacity", ""],
            "reason": ["x", ""],
        }
    )
    volunteer_demand = pd.DataFrame(
        {
            "station": [T1, T1, T2, T3],
            "name": ["镇1", "镇1", "镇2", "镇3"],
            "domain": ["elderly", "children", "elderly", "hardship"],
            "need_hours": [100, 50, 40, 30],
            "assigned_hours": [100, 50, 20, 30],
            "shortfall_hours": [0, 0, 20, 0],
            "reason_code": ["", "", "supervision_capacity", ""],
            "reason": ["", "", "x", ""],
        }
    )
    fund_demand = pd.DataFrame(
        {
            "station": [T1, T3, T4],
            "name": ["镇1", "镇3", "镇4"],
            "county": [C1, C2, C2],
            "priority": [1, 3, 3],
            "domain": ["elderly", "hardship", "elderly"],
            "need_yuan": [10000.0, 5000.0, 5000.0],
            "granted_yuan": [6000.0, 5000.0, 0.0],
            "shortfall_yuan": [4000.0, 0.0, 5000.0],
            "reason_code": ["budget", "", "budget"],
            "reason": ["x", "", "x"],
        }
    )
    return {
        "stations": stations,
        "targets": targets,
        "volunteer_demand": volunteer_demand,
        "fund_demand": fund_demand,
    }


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return make_scenario()


def row(frame: pd.DataFrame, code: str, group: str = "") -> pd.Series:
    """The one row of an indicator (and group)."""
    hit = frame[(frame["indicator"] == code) & (frame["group"] == group)]
    assert len(hit) == 1, (code, group, len(hit))
    return hit.iloc[0]


WHOLE_EXPECTED: dict[str, tuple[float, float, float]] = {
    # code: (before, after, target)
    "station_coverage": (1 / 4, 3 / 4, 1.0),
    "workers_per_1000_elderly": (1000 * 5 / 7000, 1000 * 9.5 / 7000, 1.0),
    "workers_per_100_beds": (100 * 5 / 500, 100 * 9.5 / 500, 1.0),
    "need_coverage": (5 / 11.5, 9.5 / 11.5, 1.0),
    "weighted_unmet_need": (0 + 3 + 3 * 2 + 3 * 1.5, 1 + 3 * 1.0, 0.0),
    # before coverage [1, .25, 0, .4]; after [1, .75, 1, .6]; Σ|xi − xj| / (2 n² mean)
    "coverage_gini": (6.3 / 13.2, 2.9 / 26.8, math.nan),
    "least_covered_priority_township": (0.0, 0.6, 1.0),
    "targets_paired": (0.0, 0.5, 1.0),
    "volunteer_hours_covered": (110 / 220, 200 / 220, 1.0),
    "volunteer_hours": (110.0, 200.0, math.nan),
    "funds_covered": (0.0, 11000 / 20000, 1.0),
    "funds_granted": (0.0, 11000.0, math.nan),
}


def test_hand_tables_match_the_need_rule(scenario: Scenario) -> None:
    """The hand-made stations table carries the needs the staffing rule gives the scenario."""
    needs = station_needs(scenario)
    assert needs["region"].tolist() == [T1, T2, T3, T4]
    assert needs["need"].tolist() == pytest.approx(plan_tables()["stations"]["need"].tolist())
    assert needs["priority"].tolist() == [1, 1, 3, 3]


@pytest.mark.parametrize("code", list(WHOLE_EXPECTED))
def test_whole_scenario_values_are_hand_computed(scenario: Scenario, code: str) -> None:
    """Each indicator's before, after and target equal the hand-computed values."""
    out = indicators(scenario, plan_tables())
    got = row(out, code)
    before, after, target = WHOLE_EXPECTED[code]
    assert got["before"] == pytest.approx(before)
    assert got["after"] == pytest.approx(after)
    if math.isnan(target):
        assert math.isnan(got["target"])
    else:
        assert got["target"] == pytest.approx(target)


def test_whole_scenario_has_one_row_per_indicator_in_order(scenario: Scenario) -> None:
    """All twelve indicators, once each, in the declared order, with the declared columns."""
    out = indicators(scenario, plan_tables())
    assert list(out.columns) == list(COLUMNS)
    assert out["indicator"].tolist() == list(INDICATORS)
    assert (out["group"] == "").all() and (out["group_name"] == "").all()


def test_least_covered_note_names_the_townships(scenario: Scenario) -> None:
    """The note names the least-covered priority township before and after; other notes empty."""
    out = indicators(scenario, plan_tables())
    note = row(out, "least_covered_priority_township")["note"]
    assert note == f"before: 镇3 ({T3}) 0.00; after: 镇4 ({T4}) 0.60"
    others = out[out["indicator"] != "least_covered_priority_township"]
    assert (others["note"] == "").all()


def test_least_covered_without_priority_townships_is_nan() -> None:
    """With no station of priority > 1 the least-covered indicator is NaN and says why."""
    tables = plan_tables()
    tables["stations"] = tables["stations"].assign(priority=1)
    out = indicators(make_scenario(), {"stations": tables["stations"]})
    got = row(out, "least_covered_priority_township")
    assert math.isnan(got["before"]) and math.isnan(got["after"])
    assert "priority" in got["note"]


def test_sources_and_citations_follow_the_policy_sections(scenario: Scenario) -> None:
    """Source ids come from the indicator's policy section; citations from meta.sources."""
    out = indicators(scenario, plan_tables()).set_index("indicator")
    assert out.loc["station_coverage", "source"] == "fyp"
    assert out.loc["station_coverage", "citation"] == "十四五规划"
    assert out.loc["targets_paired", "source"] == "mca"
    assert out.loc["targets_paired", "citation"] == "牵手计划实施方案"
    assert out.loc["volunteer_hours", "source"] == ""  # the volunteer rules cite no source
    assert out.loc["volunteer_hours", "citation"] == ""
    assert out.loc["funds_granted", "citation"] == "十四五规划"


def test_ratio_targets_follow_the_policy() -> None:
    """Per-elderly and per-bed targets are the policy's ratios, NaN when the policy sets none."""
    tables = {"stations": plan_tables()["stations"]}
    out = indicators(make_scenario(per_elderly=500, per_care_beds=None), tables)
    assert row(out, "workers_per_1000_elderly")["target"] == pytest.approx(2.0)
    assert math.isnan(row(out, "workers_per_100_beds")["target"])


def test_ratio_per_elderly_leaves_out_townships_without_the_figure() -> None:
    """A station whose elderly figure is missing counts in neither sum of the per-elderly ratio."""
    scenario = make_scenario(no_elderly=(T3,))
    assert station_needs(scenario)["need"].tolist() == [3.0, 4.0, 2.0, 2.5]
    out = indicators(scenario, {"stations": plan_tables()["stations"]})
    got = row(out, "workers_per_1000_elderly")
    # T3 has no home worker; the plan's 2 FTE at T3 are left out with its elderly
    assert got["before"] == pytest.approx(1000 * 5 / 6500)
    assert got["after"] == pytest.approx(1000 * 7.5 / 6500)
    assert row(out, "workers_per_100_beds")["after"] == pytest.approx(100 * 9.5 / 500)


def test_chinese_and_english_labels(scenario: Scenario) -> None:
    """Every label reads Chinese / English, and the example label is the station coverage's."""
    out = indicators(scenario, plan_tables())
    for label in out["label"]:
        zh, en = label.split(" / ")
        assert re.search(r"[\u4e00-\u9fff]", zh) and re.search(r"[a-z]", en)
    assert row(out, "station_coverage")["label"] == "站点覆盖率 / station coverage"
    assert set(out["better"]) <= {"higher", "lower"}


@pytest.mark.parametrize(
    ("present", "expected"),
    [
        ((), set()),
        (("stations",), STAFFING_CODES),
        (("targets",), {"targets_paired"}),
        (("volunteer_demand",), VOLUNTEER_CODES),
        (("fund_demand",), FUND_CODES),
        (("stations", "fund_demand"), STAFFING_CODES | FUND_CODES),
    ],
)
def test_missing_tables_leave_their_indicators_out(
    scenario: Scenario, present: tuple[str, ...], expected: set[str]
) -> None:
    """Only the indicators whose plan tables are given appear; nothing else is invented."""
    tables = {k: v for k, v in plan_tables().items() if k in present}
    out = indicators(scenario, tables)
    assert set(out["indicator"]) == expected
    assert list(out.columns) == list(COLUMNS)


def test_empty_plan_tables_give_undefined_values(scenario: Scenario) -> None:
    """Stages that ran on no rows give NaN whole-scenario values and no county or domain rows."""
    empty = {k: v.iloc[:0] for k, v in plan_tables().items()}
    out = indicators(scenario, empty)
    assert out["indicator"].tolist() == list(INDICATORS)
    assert out[["before", "after"]].isna().all().all()
    assert indicators(scenario, empty, by="county").empty
    assert indicators(scenario, empty, by="domain").empty


def test_values_do_not_depend_on_other_tables(scenario: Scenario) -> None:
    """An indicator's values are the same whether or not the other stages' tables are given."""
    full = indicators(scenario, plan_tables()).set_index("indicator")
    alone = indicators(scenario, {"volunteer_demand": plan_tables()["volunteer_demand"]})
    alone = alone.set_index("indicator")
    cols = ["before", "after", "target"]
    pd.testing.assert_frame_equal(alone[cols], full.loc[alone.index, cols])


def test_unknown_grouping_is_refused(scenario: Scenario) -> None:
    """A grouping other than None, county or domain raises ValueError."""
    with pytest.raises(ValueError, match="by must be"):
        indicators(scenario, plan_tables(), by="province")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# groupings


def test_by_county_hand_computed(scenario: Scenario) -> None:
    """Per-county values equal the hand-computed ones, with the county names."""
    out = indicators(scenario, plan_tables(), by="county")
    assert set(out["group"]) == {C1, C2}
    assert set(zip(out["group"], out["group_name"], strict=True)) == {(C1, "甲县"), (C2, "乙县")}
    expected = {
        ("station_coverage", C1): (0.5, 1.0),
        ("station_coverage", C2): (0.0, 0.5),
        ("need_coverage", C1): (4 / 7, 6 / 7),
        ("need_coverage", C2): (1 / 4.5, 3.5 / 4.5),
        ("weighted_unmet_need", C1): (3.0, 1.0),
        ("weighted_unmet_need", C2): (10.5, 3.0),
        ("workers_per_1000_elderly", C1): (1.0, 1.5),
        ("workers_per_100_beds", C1): (0.8, 1.2),
        ("coverage_gini", C1): (1.5 / 5, 0.5 / 7),
        ("volunteer_hours", C1): (110.0, 170.0),
        ("volunteer_hours_covered", C2): (0.0, 1.0),
        ("funds_covered", C1): (0.0, 0.6),
        ("funds_granted", C2): (0.0, 5000.0),
    }
    for (code, group), (before, after) in expected.items():
        got = row(out, code, group)
        assert (got["before"], got["after"]) == pytest.approx((before, after)), (code, group)


def test_by_county_omits_whole_scenario_only_indicators(scenario: Scenario) -> None:
    """County rows leave out the least-covered township and the paired share of targets."""
    out = indicators(scenario, plan_tables(), by="county")
    assert set(out["indicator"]) == (STAFFING_CODES | VOLUNTEER_CODES | FUND_CODES) - {
        "least_covered_priority_township"
    }
    assert (out["group"] != "").all()


def test_by_county_aggregates_back_to_the_whole(scenario: Scenario) -> None:
    """Sums add up and shares, weighted by their denominators, average back to the whole."""
    tables = plan_tables()
    assert_county_consistent(scenario, tables)


def assert_county_consistent(scenario: Scenario, tables: dict[str, pd.DataFrame]) -> None:
    whole = indicators(scenario, tables).set_index("indicator")
    county = indicators(scenario, tables, by="county")
    stations = tables["stations"]
    per = stations.groupby("county").agg(n=("need", "size"), need=("need", "sum"))
    regions = scenario.regions.set_index("code")
    stations = stations.assign(elderly=regions["elderly"].reindex(stations["region"]).to_numpy())
    per["elderly"] = stations.groupby("county")["elderly"].sum()
    for side in ("before", "after"):
        by = county.pivot(index="group", columns="indicator", values=side)

        def back(code: str, weight: pd.Series, by: pd.DataFrame = by) -> float:
            w = weight.reindex(by.index)
            return float((by[code] * w).sum() / w.sum())

        assert back("station_coverage", per["n"]) == pytest.approx(
            whole.loc["station_coverage", side]
        )
        assert back("need_coverage", per["need"]) == pytest.approx(whole.loc["need_coverage", side])
        assert back("workers_per_1000_elderly", per["elderly"]) == pytest.approx(
            whole.loc["workers_per_1000_elderly", side]
        )
        for total in ("weighted_unmet_need", "volunteer_hours", "funds_granted"):
            if total in by:
                assert by[total].sum() == pytest.approx(whole.loc[total, side]), total


def test_by_domain_hand_computed(scenario: Scenario) -> None:
    """Per-domain rows hold only volunteer and fund indicators, with Chinese domain names."""
    out = indicators(scenario, plan_tables(), by="domain")
    assert set(out["indicator"]) == VOLUNTEER_CODES | FUND_CODES
    names = dict(zip(out["group"], out["group_name"], strict=True))
    assert names["elderly"] == "老年人服务"
    expected = {
        ("volunteer_hours", "elderly"): (60.0, 120.0),
        ("volunteer_hours", "children"): (50.0, 50.0),
        ("volunteer_hours_covered", "elderly"): (60 / 140, 120 / 140),
        ("volunteer_hours_covered", "hardship"): (0.0, 1.0),
        ("funds_covered", "elderly"): (0.0, 0.4),
        ("funds_granted", "hardship"): (0.0, 5000.0),
    }
    for (code, group), (before, after) in expected.items():
        got = row(out, code, group)
        assert (got["before"], got["after"]) == pytest.approx((before, after)), (code, group)
    hours = out[out["indicator"] == "volunteer_hours"]
    assert hours["after"].sum() == pytest.approx(200.0)


def test_volunteers_by_county_without_stations_table(scenario: Scenario) -> None:
    """Volunteer rows find their county through the need rule when no stations table is given."""
    tables = plan_tables()
    alone = indicators(scenario, {"volunteer_demand": tables["volunteer_demand"]}, by="county")
    full = indicators(scenario, tables, by="county")
    full = full[full["indicator"].isin(VOLUNTEER_CODES)].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone, full)


# ---------------------------------------------------------------------------------------------
# Gini


def brute_gini(x: list[float]) -> float:
    """Σᵢ Σⱼ |xᵢ − xⱼ| / (2 n² mean), the definition."""
    a = np.asarray(x, dtype=float)
    mean = a.mean()
    if mean == 0:
        return 0.0
    return float(np.abs(a[:, None] - a[None, :]).sum() / (2 * len(a) ** 2 * mean))


@pytest.mark.parametrize("n", [1, 2, 5, 40])
def test_gini_known_values(n: int) -> None:
    """Equal values give 0; one value holding everything among n gives (n − 1) / n."""
    assert gini([0.7] * n) == pytest.approx(0.0, abs=1e-12)
    assert gini([0.0] * n) == 0.0
    assert gini([0.0] * (n - 1) + [3.0]) == pytest.approx((n - 1) / n)


def test_gini_of_nothing_is_nan() -> None:
    """No values: the Gini is undefined (NaN)."""
    assert math.isnan(gini([]))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_subnormal=False),
        min_size=1,
        max_size=40,
    )
)
def test_gini_matches_the_mean_absolute_difference(values: list[float]) -> None:
    """The sorted-rank formula agrees with the brute-force mean-absolute-difference formula."""
    assert gini(values) == pytest.approx(brute_gini(values), abs=1e-9)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.floats(min_value=0, max_value=1, allow_nan=False, allow_subnormal=False),
        min_size=1,
        max_size=30,
    ),
    st.integers(min_value=0, max_value=2**32 - 1),
)
def test_gini_is_invariant_to_order_and_scale(values: list[float], seed: int) -> None:
    """Shuffling or scaling the values leaves the Gini unchanged."""
    shuffled = np.random.default_rng(seed).permutation(values)
    assert gini(shuffled) == pytest.approx(gini(values), abs=1e-9)
    assert gini(np.asarray(values) * 7.5) == pytest.approx(gini(values), abs=1e-9)


# ---------------------------------------------------------------------------------------------
# the shipped Henan scenario


@pytest.fixture(scope="module")
def henan() -> tuple[Scenario, linkage.Plan]:
    scenario = linkage.load(ROOT / "scenarios" / "henan")
    return scenario, linkage.solve(scenario)


SHARES = (
    "station_coverage",
    "need_coverage",
    "targets_paired",
    "volunteer_hours_covered",
    "funds_covered",
    "coverage_gini",
    "least_covered_priority_township",
)


@pytest.mark.slow
def test_henan_plan_improves_station_coverage(henan: tuple[Scenario, linkage.Plan]) -> None:
    """On Henan the plan covers at least as many stations as the status quo, shares in [0, 1]."""
    scenario, plan = henan
    out = indicators(scenario, plan.tables)
    funds = FUND_CODES if "fund_demand" in plan.tables else set()
    assert set(out["indicator"]) == STAFFING_CODES | {"targets_paired"} | VOLUNTEER_CODES | funds
    cov = row(out, "station_coverage")
    assert cov["after"] >= cov["before"]
    assert row(out, "need_coverage")["after"] >= row(out, "need_coverage")["before"]
    assert row(out, "weighted_unmet_need")["after"] <= row(out, "weighted_unmet_need")["before"]
    shares = out[out["indicator"].isin(SHARES)]
    assert shares[["before", "after"]].notna().all().all()
    assert ((shares[["before", "after"]] >= 0) & (shares[["before", "after"]] <= 1)).all().all()
    assert (out["citation"] != "").all()  # Henan cites a source for every policy section


@pytest.mark.slow
def test_henan_groupings(henan: tuple[Scenario, linkage.Plan]) -> None:
    """On Henan county rows cover every county with stations and aggregate back to the whole."""
    scenario, plan = henan
    county = indicators(scenario, plan.tables, by="county")
    assert set(county["group"]) == set(plan.tables["stations"]["county"])
    assert (county["group_name"] != "").all()
    shares = county[county["indicator"].isin(SHARES)][["before", "after"]]
    assert ((shares >= 0) & (shares <= 1)).all().all()
    assert_county_consistent(scenario, dict(plan.tables))
    domain = indicators(scenario, plan.tables, by="domain")
    funds = FUND_CODES if "fund_demand" in plan.tables else set()
    assert set(domain["indicator"]) == VOLUNTEER_CODES | funds
    total = domain[domain["indicator"] == "volunteer_hours"]["after"].sum()
    assert total == pytest.approx(plan.tables["volunteer_demand"]["assigned_hours"].sum())
