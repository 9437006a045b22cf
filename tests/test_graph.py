"""The linkage graph and the reachability report."""

from __future__ import annotations

from pathlib import Path

import linkage
from conftest import SCENARIO, write_scenario
from linkage.graph import build_graph, reachability


def test_graph_has_typed_nodes_and_edges(tiny_folder: Path) -> None:
    """Regions, organizations, hierarchy and candidate edges are all in the graph."""
    scenario = linkage.load(tiny_folder)
    graph = scenario.graph()
    assert graph.nodes["region:632221"]["type"] == "region"
    assert graph.nodes["org:001"]["type"] == "organization"
    kinds = {d["type"] for _, _, d in graph.edges(data=True)}
    assert {"part_of", "based_in", "candidate"} <= kinds
    assert graph.has_edge("region:632221", "region:632200")


def test_plan_adds_paired_edges(tiny_folder: Path) -> None:
    """Given a plan, the chosen pairs appear as 'paired' edges."""
    scenario = linkage.load(tiny_folder)
    plan = linkage.solve(scenario, stages=["pairing"])
    graph = build_graph(scenario, plan)
    paired = [(u, v) for u, v, d in graph.edges(data=True) if d["type"] == "paired"]
    assert len(paired) == len(plan.pairs) > 0


def test_unreachable_target_says_why(tmp_path: Path) -> None:
    """A target no sender may reach is listed with the rule that shuts it off."""
    meta = {
        **SCENARIO,
        "policy": {
            "pairing": {
                "targets": ["ethnic", "key_assistance"],
                "max_km": 100,
                "cross_province": False,
            }
        },
    }
    scenario = linkage.load(write_scenario(tmp_path / "s", scenario=meta))
    report = reachability(scenario).set_index("target")
    assert not report.loc["632221", "reachable"]
    why = report.loc["632221", "why"]
    assert "no sender in its province" in why and "not allowed" in why
    assert report.loc["632221", "nearest_sender_km"] > 1000


def test_reachable_targets_have_candidates(tiny_folder: Path) -> None:
    """With counterparts, every target in the tiny scenario has candidates and no reason."""
    report = reachability(linkage.load(tiny_folder))
    assert report["reachable"].all() and (report["why"] == "").all()
