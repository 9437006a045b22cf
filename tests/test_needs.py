"""Station need: the rule's terms, missing counts, disabled terms, the needs-table override."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import linkage
from linkage.scenario import Scenario
from linkage.solvers.needs import COLUMNS, station_needs

ROOT = Path(__file__).resolve().parents[1]


def scenario(
    townships: list[dict[str, Any]],
    *,
    staffing: dict[str, Any] | None = None,
    needs: pd.DataFrame | None = None,
    county: dict[str, Any] | None = None,
) -> Scenario:
    """One province, city and county (flags in ``county``) with the given townships."""
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
            **(county or {}),
        },
    ]
    for i, t in enumerate(townships):
        rows.append(
            {
                "code": f"410101{i + 1:03d}",
                "name": f"镇{i + 1}",
                "level": "township",
                "parent": "410101",
                "lat": 34.0,
                "lon": 113.0 + 0.01 * i,
                "has_station": True,
                **t,
            }
        )
    meta = {
        "name": "needs test",
        "sources": {"fyp": "某省十四五规划"},
        "policy": {"staffing": {"source": "fyp", **(staffing or {})}},
    }
    tables: dict[str, pd.DataFrame] = {
        "regions": pd.DataFrame(rows),
        "organizations": pd.DataFrame({"id": ["O1"], "name": ["机构"], "region": ["410101"]}),
    }
    if needs is not None:
        tables["needs"] = needs
    return Scenario.from_tables(meta, tables)


def test_columns_and_source() -> None:
    """The table has the documented columns and cites the policy's source with its citation."""
    out = station_needs(scenario([{"elderly": 100}]))
    assert list(out.columns) == list(COLUMNS)
    assert out.loc[0, "source"] == "fyp"
    assert out.loc[0, "citation"] == "某省十四五规划"


def test_each_term_can_bind() -> None:
    """need = max(base, elderly / per_elderly, care_beds / per_care_beds); rule names the term."""
    out = station_needs(
        scenario(
            [
                {"elderly": 1000, "care_beds": 100},  # all 1 → base 2
                {"elderly": 3500, "care_beds": 100},  # elderly 3.5
                {"elderly": 1000, "care_beds": 420},  # care beds 4.2
                {"elderly": 2000, "care_beds": 50},  # tie with base: base
            ]
        )
    )
    assert out["need"].tolist() == pytest.approx([2.0, 3.5, 4.2, 2.0])
    assert out["rule"].tolist() == ["base", "elderly", "care_beds", "base"]


def test_missing_counts_are_zero_and_none_disables() -> None:
    """A NaN count is 0, and a per_* of None removes that term from the maximum."""
    out = station_needs(
        scenario(
            [{"elderly": np.nan, "care_beds": 900}, {"elderly": 9000}],
            staffing={"per_care_beds": None, "base_per_station": 1},
        )
    )
    assert out["need"].tolist() == pytest.approx([1.0, 9.0])
    assert out["rule"].tolist() == ["base", "elderly"]


def test_only_townships_with_a_station() -> None:
    """Townships without a station get no need row."""
    out = station_needs(scenario([{"elderly": 5000}, {"elderly": 5000, "has_station": False}]))
    assert out["region"].tolist() == ["410101001"]
    assert out.loc[0, "county"] == "410101"


def test_needs_table_overrides_summing_domains() -> None:
    """Explicit needs rows replace the rule for their township, summed over domains."""
    needs = pd.DataFrame(
        {
            "region": ["410101002", "410101002", "410101001"],
            "domain": ["elderly", "children", "family"],
            "social_workers": [1.5, 2.0, None],
            "volunteer_hours": [None, None, 100.0],
        }
    )
    out = station_needs(scenario([{"elderly": 5000}, {"elderly": 5000}], needs=needs))
    assert out["need"].tolist() == pytest.approx([5.0, 3.5])
    assert out["rule"].tolist() == ["elderly", "table"]


def test_priority_from_own_or_county_designation() -> None:
    """Priority is the largest weight over the township's or its county's designations."""
    plain = station_needs(scenario([{}, {"ethnic": True}]))
    assert plain["priority"].tolist() == [1, 2]
    flagged = station_needs(scenario([{}, {"ethnic": True}], county={"key_assistance": True}))
    assert flagged["priority"].tolist() == [3, 3]


def test_henan_needs() -> None:
    """Henan: one row per station township, every need at least the base of 2, cited."""
    henan = linkage.load(ROOT / "scenarios" / "henan")
    out = station_needs(henan)
    regions = henan.regions
    stations = regions[(regions["level"] == "township") & regions["has_station"]]
    assert len(out) == len(stations)
    assert (out["need"] >= 2).all()
    assert out["county"].notna().all()
    assert (out["source"] == "henan-14th-fyp").all()
    assert out["citation"].str.contains("十四五").all()
