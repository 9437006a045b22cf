"""Scenarios for the volunteer tests: one county whose townships are stations, given or random."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from hypothesis import strategies as st

from linkage.scenario import Scenario

COUNTY = "410101"

# townships, pools, the volunteers policy, needs rows and the staffing stations table
Case = tuple[
    list[dict[str, Any]],
    list[dict[str, Any]],
    dict[str, Any],
    list[dict[str, Any]] | None,
    pd.DataFrame | None,
]


def town(i: int) -> str:
    """Code of the i-th township."""
    return f"{COUNTY}{i + 1:03d}"


def staff(assigned: list[float]) -> pd.DataFrame:
    """A staffing ``stations`` table: assigned FTE per township in order."""
    return pd.DataFrame({"region": [town(i) for i in range(len(assigned))], "assigned": assigned})


def volunteer_scenario(
    townships: list[dict[str, Any]],
    pools: list[dict[str, Any]],
    volunteers: dict[str, Any],
    needs: list[dict[str, Any]] | None,
) -> Scenario:
    """One county; townships are stations with the given columns; pools name a township index."""
    rows: list[dict[str, Any]] = [
        {"code": "410000", "name": "省", "level": "province", "lat": 34.0, "lon": 113.0},
        {"code": "410100", "name": "市", "level": "city", "parent": "410000"},
        {
            "code": COUNTY,
            "name": "县",
            "level": "county",
            "parent": "410100",
            "lat": 34.0,
            "lon": 113.0,
        },
    ]
    for i, t in enumerate(townships):
        rows.append(
            {
                "code": town(i),
                "name": f"镇{i + 1}",
                "level": "township",
                "parent": COUNTY,
                "has_station": True,
                **t,
            }
        )
    vols = pd.DataFrame(
        [
            {
                "id": f"V{j + 1}",
                **{k: v for k, v in p.items() if k != "town"},
                "region": town(p["town"]),
            }
            for j, p in enumerate(pools)
        ],
        columns=["id", "region", "skills", "hours", "max_km", "count"],
    )
    meta = {"name": "volunteer test", "policy": {"volunteers": volunteers}}
    tables: dict[str, pd.DataFrame] = {"regions": pd.DataFrame(rows), "volunteers": vols}
    if needs:
        tables["needs"] = pd.DataFrame(needs)
    return Scenario.from_tables(meta, tables)


@st.composite
def random_cases(draw: st.DrawFn, designations: Sequence[str]) -> Case:
    """Up to 4 stations in a row, each with random ``designations``; up to 7 pools (some
    identical), random reach, skills, supervision and needs; staffing not given one time in 10."""
    n_t = draw(st.integers(1, 4))
    towns = [
        {
            "lat": 34.0,
            "lon": 113.0 + 0.15 * i,
            "elderly": draw(st.sampled_from([0, 40, 125])),
            "children_at_risk": draw(st.sampled_from([0, 5, 17])),
            "disabled": draw(st.sampled_from([0, 3.5, 9])),
            "left_behind_women": draw(st.sampled_from([0, 11])),
            **{d: draw(st.booleans()) for d in designations},
        }
        for i in range(n_t)
    ]
    skill_sets = ["", "elderly", "children", "elderly;family", "disability;children", "community"]
    pools = [
        {
            "town": draw(st.integers(0, n_t - 1)),
            "skills": draw(st.sampled_from(skill_sets)),
            "hours": draw(st.sampled_from([0, 5, 12.5, 40])),
            "max_km": draw(st.sampled_from([None, 10.0, 20.0, 60.0])),
            "count": draw(st.integers(1, 6)),
        }
        for _ in range(draw(st.integers(0, 7)))
    ]
    volunteers = {
        "max_km": draw(st.sampled_from([5.0, 30.0])),
        "hours_per_supervisor": draw(st.sampled_from([20, 160])),
    }
    needs = None
    if draw(st.booleans()):
        needs = [
            {
                "region": town(draw(st.integers(0, n_t - 1))),
                "domain": draw(st.sampled_from(["community", "elderly"])),
                "volunteer_hours": draw(st.sampled_from([0, 33.3, 100])),
            }
        ]
    stations: pd.DataFrame | None = staff(
        [draw(st.sampled_from([0.0, 0.5, 1.0, 3.0])) for _ in range(n_t)]
    )
    if draw(st.integers(0, 9)) == 0:
        stations = None  # staffing not given
    return towns, pools, volunteers, needs, stations
