"""The joint model: a lower bound on the staged plan, and it sees what staging misses."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

import linkage
from linkage.scenario import Scenario

COUNTY = "410101"
A, B = f"{COUNTY}001", f"{COUNTY}002"


def make(resources: list[dict[str, Any]] | None = None) -> Scenario:
    """Two townships 18 km apart, one social worker at A, volunteers only near B."""
    regions = pd.DataFrame(
        [
            {"code": "410000", "name": "省", "level": "province", "lat": 34.0, "lon": 113.0},
            {"code": "410100", "name": "市", "level": "city", "parent": "410000"},
            {"code": COUNTY, "name": "县", "level": "county", "parent": "410100"},
            {
                "code": A,
                "name": "甲镇",
                "level": "township",
                "parent": COUNTY,
                "lat": 34.0,
                "lon": 113.0,
                "has_station": True,
            },
            {
                "code": B,
                "name": "乙镇",
                "level": "township",
                "parent": COUNTY,
                "lat": 34.0,
                "lon": 113.2,
                "has_station": True,
                "children_at_risk": 10,
            },
        ]
    )
    tables = {
        "regions": regions,
        "organizations": pd.DataFrame(
            [{"id": "O1", "name": "甲镇社工站", "region": A, "kind": "social_work", "staff": 1}]
        ),
        "social_workers": pd.DataFrame(
            [{"id": "W1", "region": A, "org": "O1", "fte": 1.0, "max_km": 50, "count": 1}]
        ),
        "volunteers": pd.DataFrame(
            [{"id": "V1", "region": B, "skills": "children", "hours": 100, "max_km": 5, "count": 1}]
        ),
    }
    if resources:
        tables["resources"] = pd.DataFrame(resources)
    meta = {
        "name": "joint test",
        "policy": {
            "staffing": {"base_per_station": 1, "per_elderly": None, "per_care_beds": None},
            "volunteers": {"hours_per_person": {"children": 10}, "hours_per_supervisor": 160},
            "funds": {"yuan_per_person": {"children": 1000}},
        },
    }
    return Scenario.from_tables(meta, tables)


def test_joint_sees_the_volunteers_staging_leaves_unsupervised() -> None:
    """Staffing splits the one worker fairly; the joint LP gives B more to supervise volunteers."""
    plan = linkage.solve(make(), joint=True)
    stations = plan.stations.set_index("region")
    assert stations["assigned"].tolist() == pytest.approx([0.5, 0.5])  # convex penalties
    assert plan.volunteer_demand["assigned_hours"].sum() == 80  # 0.5 FTE × 160 h
    terms = plan.joint.set_index("term")
    assert terms.loc["volunteers", "staged"] == pytest.approx(2e5)  # 20 of 100 hours unmet
    assert terms.loc["volunteers", "joint_lp"] < terms.loc["volunteers", "staged"] - 1e4
    assert terms.loc["staffing", "joint_lp"] >= terms.loc["staffing", "staged"] - 1e-6
    report = plan.report("joint")
    assert report.status == "optimal"
    assert report.bound["staged"] < report.objectives["staged"]
    expected = (report.objectives["staged"] - report.bound["staged"]) / report.objectives["staged"]
    assert report.gap == pytest.approx(expected)


def test_joint_couples_funds_delivery_to_staffing() -> None:
    """Money for B is delivered only by B's workers: the joint LP moves staff to deliver it."""
    lots = [{"id": "R1", "donor": "基金会", "amount": 10000, "regions": B}]
    scenario = make(lots)
    funds = scenario.policy.funds.model_copy(update={"per_worker_yuan": 10000})
    scenario = scenario.replace(policy=scenario.policy.model_copy(update={"funds": funds}))
    plan = linkage.solve(scenario, joint=True)
    need = plan.fund_demand.set_index("station").loc[B]
    assert need["granted_yuan"] == 5000  # 0.5 FTE deliver ¥5,000
    assert need["reason_code"] == "delivery_capacity"
    terms = plan.joint.set_index("term")
    assert terms.loc["funds", "joint_lp"] < terms.loc["funds", "staged"] - 1e4


def test_joint_gap_is_zero_when_nothing_couples() -> None:
    """With enough workers everywhere the staged plan is jointly optimal: gap 0."""
    scenario = make()
    workers = scenario.tables["social_workers"].assign(count=2)
    plan = linkage.solve(scenario.replace(social_workers=workers), joint=True)
    report = plan.report("joint")
    assert plan.volunteer_demand["shortfall_hours"].sum() == 0
    assert report.gap == pytest.approx(0.0, abs=1e-9)
    assert report.bound["staged"] == pytest.approx(report.objectives["staged"], abs=1e-6)


def test_joint_needs_the_coupled_stages() -> None:
    """Asking for the joint model without the volunteer and funds stages is an error."""
    with pytest.raises(ValueError, match="joint model needs"):
        linkage.solve(make(), stages=["pairing", "staffing"], joint=True)
