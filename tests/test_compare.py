"""Reading saved plans back, and comparing two plans: pairs, indicators, counties, report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import linkage
from conftest import write_scenario
from linkage.plan.compare import compare, load_plan, write_comparison

SOCIAL_WORKERS = """id,region,count,fte
W1,330106001,2,1.0
"""
FORBID_FIRST = """org,target,action
001,632221,forbid
"""


@pytest.fixture(scope="module")
def plans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, linkage.Plan]:
    """Plan A of the tiny scenario, and plan B with 001→门源 forbidden and two social workers."""
    root = tmp_path_factory.mktemp("plans")
    a = linkage.solve(linkage.load(write_scenario(root / "a")))
    b_folder = write_scenario(
        root / "b", pair_overrides=FORBID_FIRST, social_workers=SOCIAL_WORKERS
    )
    b = linkage.solve(linkage.load(b_folder))
    return {"a": a, "b": b}


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Values as Python objects, every missing value as None (dtypes aside)."""
    return frame.astype(object).where(frame.notna(), None)


def test_load_plan_round_trips_every_table_and_report(
    plans: dict[str, linkage.Plan], tmp_path: Path
) -> None:
    """A saved plan reads back with the same tables (values and codes), reports and sources."""
    plan = plans["b"]
    plan.save(tmp_path / "plan")
    back = load_plan(tmp_path / "plan")
    assert back.scenario == plan.scenario
    assert list(back.tables) == list(plan.tables)
    for name, frame in plan.tables.items():
        if len(frame):
            pd.testing.assert_frame_equal(
                _plain(back.tables[name]), _plain(frame.reset_index(drop=True))
            )
    assert [r.to_dict() for r in back.reports] == [r.to_dict() for r in plan.reports]
    assert dict(back.sources) == dict(plan.sources)
    assert back.solved == plan.solved


def test_load_plan_keeps_codes_as_text_with_leading_zeros(
    plans: dict[str, linkage.Plan], tmp_path: Path
) -> None:
    """Organization ids like 001 and region codes stay strings; numbers and flags get types."""
    plans["a"].save(tmp_path / "plan")
    back = load_plan(tmp_path / "plan")
    pairs = back.tables["pairs"]
    assert set(pairs["org"]) == {"001", "002"}
    assert all(isinstance(t, str) for t in pairs["target"])
    assert pairs["score"].dtype == np.int64
    assert pairs["distance_km"].dtype == np.float64
    assert pairs["fixed"].dtype == bool
    assert back.tables["stations"]["region"].tolist() == ["330106001"]
    assert back.tables["indicators"]["target"].dtype == np.float64


def test_load_plan_refuses_a_folder_that_is_not_a_plan(tmp_path: Path) -> None:
    """A folder without summary.json is not read as a plan."""
    (tmp_path / "pairs.csv").write_text("org,target\n001,632221\n", encoding="utf-8")
    with pytest.raises(FileNotFoundError, match=r"summary\.json"):
        load_plan(tmp_path)


def test_compare_lists_added_removed_and_kept_pairs(plans: dict[str, linkage.Plan]) -> None:
    """Forbidding 001→门源 moves two targets' partners; the table and report say which."""
    result = compare(plans["a"], plans["b"])
    table = result.pairs_changed
    change = {(r.org, r.target): r.change for r in table.itertuples(index=False)}
    assert change == {
        ("001", "632221"): "removed",
        ("002", "632221"): "added",
        ("001", "632222"): "kept",
        ("002", "632223"): "removed",
        ("001", "632223"): "added",
    }
    assert (table["pairs_a"] == 1).all() and (table["pairs_b"] == 1).all()
    assert table.loc[table["target"] == "632221", "name"].iloc[0] == "门源回族自治县"
    text = result.summary_text()
    assert "牵手机构变更 2 个县" in text
    assert "门源回族自治县" in text and "新增 2，撤销 2，保留 1" in text


def test_indicator_deltas_are_b_minus_a(plans: dict[str, linkage.Plan]) -> None:
    """Each indicator's delta is B's after − A's after, flagged improved in its better way."""
    result = compare(plans["a"], plans["b"])
    deltas = result.indicator_deltas.set_index("indicator")
    a = plans["a"].tables["indicators"].set_index("indicator")["after"].astype(float)
    b = plans["b"].tables["indicators"].set_index("indicator")["after"].astype(float)
    assert np.allclose(deltas["delta"], (b - a).reindex(deltas.index), equal_nan=True)
    # two social workers in B: more coverage (better), less unmet need (lower is better)
    assert deltas.loc["need_coverage", "delta"] > 0 and deltas.loc["need_coverage", "improved"]
    assert deltas.loc["weighted_unmet_need", "delta"] < 0
    assert deltas.loc["weighted_unmet_need", "improved"]
    assert "社工需求满足率" in result.summary_text()


def test_by_county_sums_the_stage_tables(plans: dict[str, linkage.Plan]) -> None:
    """Per county: staffing, volunteer hours and funds in A and B with deltas, pairs changed."""
    result = compare(plans["a"], plans["b"])
    county = result.by_county.set_index("county")
    assert county.loc["330106", "name"] == "西湖区"
    assert county.loc["330106", "assigned_a"] == 0.0
    assert county.loc["330106", "assigned_b"] == 2.0
    assert county.loc["330106", "assigned_delta"] == 2.0
    # the pairs changed at 门源 and 海晏: one added and one removed each
    assert county.loc["632221", "pairs_changed"] == 2
    assert county.loc["632223", "pairs_changed"] == 2
    assert county["pairs_changed"].sum() == 4  # 祁连 kept its partner


def test_compare_reads_folders_and_a_plan_equals_itself(
    plans: dict[str, linkage.Plan], tmp_path: Path
) -> None:
    """Saved folders compare like the plans; a plan against itself shows no change at all."""
    plans["a"].save(tmp_path / "a")
    plans["b"].save(tmp_path / "b")
    from_folders = compare(tmp_path / "a", tmp_path / "b")
    from_plans = compare(plans["a"], plans["b"])
    pd.testing.assert_frame_equal(
        from_folders.pairs_changed, from_plans.pairs_changed, check_dtype=False
    )
    same = compare(tmp_path / "a", plans["a"])
    assert (same.pairs_changed["change"] == "kept").all()
    assert (same.indicator_deltas["delta"].fillna(0.0) == 0.0).all()
    assert (same.by_county[["assigned_delta", "funds_delta", "pairs_changed"]] == 0).all().all()
    assert "牵手结对无变化" in same.summary_text() and "各项指标不变" in same.summary_text()


def test_write_comparison_is_atomic_and_never_overwrites(
    plans: dict[str, linkage.Plan], tmp_path: Path
) -> None:
    """The folder holds the three tables and the report; a second write needs force."""
    result = compare(plans["a"], plans["b"])
    out = write_comparison(result, tmp_path / "cmp")
    assert sorted(p.name for p in out.iterdir()) == [
        "by_county.csv",
        "indicator_deltas.csv",
        "pairs_changed.csv",
        "summary.txt",
    ]
    assert (out / "summary.txt").read_text(encoding="utf-8").startswith("方案比较")
    back = pd.read_csv(out / "pairs_changed.csv", dtype={"org": str, "target": str})
    assert "001" in set(back["org"])
    with pytest.raises(FileExistsError):
        write_comparison(result, tmp_path / "cmp")
    write_comparison(result, tmp_path / "cmp", force=True)
    assert [p.name for p in tmp_path.iterdir()] == ["cmp"]  # no temporary folder left
