"""The volunteer network as exported tables: an LP on them gives the plan's cost; plans conserve."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

import linkage
from linkage.scenario import Scenario
from linkage.solvers.volunteers import (
    ARC_KINDS,
    DOMAIN_ORDER,
    NODE_KINDS,
    VolunteerNetwork,
    VolunteerResult,
    solve_volunteers,
    volunteer_network,
)
from volunteer_support import random_cases, volunteer_scenario

ROOT = Path(__file__).resolve().parents[1]


@st.composite
def instances(draw: st.DrawFn) -> tuple[Scenario, pd.DataFrame | None, bool]:
    """Up to 4 stations in a row, up to 7 pools (some identical), random supervision and needs."""
    towns, pools, volunteers, needs, stations = draw(random_cases(("key_assistance",)))
    aggregate = draw(st.booleans())
    return volunteer_scenario(towns, pools, volunteers, needs), stations, aggregate


def exported(net: VolunteerNetwork, folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The arc and node tables written as CSV and read back, as an auditor gets them."""
    net.arcs().to_csv(folder / "volunteer_arcs.csv", index=False)
    net.nodes().to_csv(folder / "volunteer_nodes.csv", index=False)
    return (
        pd.read_csv(folder / "volunteer_arcs.csv", keep_default_na=False),
        pd.read_csv(folder / "volunteer_nodes.csv", keep_default_na=False),
    )


def imbalance(arcs: pd.DataFrame, n_nodes: int, flow: np.ndarray) -> np.ndarray:
    """Per node: outflow − inflow of ``flow`` on the arc table."""
    out = np.bincount(arcs["tail"].to_numpy(), weights=flow, minlength=n_nodes)
    into = np.bincount(arcs["head"].to_numpy(), weights=flow, minlength=n_nodes)
    return np.asarray(out - into)


def lp_cost(arcs: pd.DataFrame, nodes: pd.DataFrame) -> float:
    """Min-cost flow of the tables as an LP (out − in = supply, 0 ≤ x ≤ capacity) by HiGHS."""
    n, m = len(nodes), len(arcs)
    rows = np.concatenate([arcs["tail"], arcs["head"]])
    cols = np.concatenate([np.arange(m), np.arange(m)])
    vals = np.concatenate([np.ones(m), -np.ones(m)])
    a_eq = sp.csr_matrix((vals, (rows, cols)), shape=(n, m))
    lp = linprog(
        arcs["cost"].to_numpy(dtype=float),
        A_eq=a_eq,
        b_eq=nodes["supply"].to_numpy(dtype=float),
        bounds=np.column_stack([np.zeros(m), arcs["capacity"].to_numpy(dtype=float)]),
        method="highs",
    )
    assert lp.status == 0, lp.message
    assert np.abs(imbalance(arcs, n, lp.x) - nodes["supply"].to_numpy()).max(initial=0) < 1e-6
    return float(lp.fun)


def plan_flow(net: VolunteerNetwork, arcs: pd.DataFrame, result: VolunteerResult) -> np.ndarray:
    """The plan's tables read back as a flow on the exported arcs (one value per arc row)."""
    flow = np.zeros(len(arcs), dtype=np.int64)
    rows = {kind: np.flatnonzero(arcs["kind"].to_numpy() == kind) for kind in ARC_KINDS}
    plan, demand = result.volunteers, result.volunteer_demand
    d_index = pd.MultiIndex.from_arrays([net.demand["station"], net.demand["domain"]])
    pool = pd.Index(net.pools["id"]).get_indexer(plan["pool"])
    group = net.pool_group[pool]
    domain = pd.Index(DOMAIN_ORDER).get_indexer(plan["domain"])
    d = d_index.get_indexer(pd.MultiIndex.from_arrays([plan["station"], plan["domain"]]))
    assert (pool >= 0).all() and (d >= 0).all()
    to_hub = {
        (g, int(net.hub_k[h])): (i, h)
        for i, (g, h) in enumerate(zip(net.gh_g, net.gh_hub, strict=True))
    }
    reach = {(h, dd): i for i, (h, dd) in enumerate(zip(net.arc_h, net.arc_d, strict=True))}
    hours = plan["hours"].to_numpy(dtype=np.int64)
    for g, k, dd, v in zip(group, domain, d, hours, strict=True):
        i, h = to_hub[(int(g), int(k))]
        flow[rows["to_hub"][i]] += v
        flow[rows["reach"][reach[(h, int(dd))]]] += v
    at = d_index.get_indexer(pd.MultiIndex.from_arrays([demand["station"], demand["domain"]]))
    flow[rows["shortfall"][at]] = demand["shortfall_hours"].to_numpy(dtype=np.int64)
    s_index = pd.Index(net.station_codes)
    per_station = plan.groupby("station")["hours"].sum()
    flow[rows["supervised"][s_index.get_indexer(per_station.index)]] = per_station.to_numpy()
    used = np.bincount(group, weights=hours, minlength=net.n_g).astype(np.int64)
    flow[rows["unused"]] = net.g_supply - used
    return flow


def check_plan_flow(
    net: VolunteerNetwork, arcs: pd.DataFrame, nodes: pd.DataFrame, result: VolunteerResult
) -> None:
    """The plan read back onto the arcs is within capacity, conserves, and costs the flow cost."""
    assert result.report.status == "optimal"
    flow = plan_flow(net, arcs, result)
    assert (flow >= 0).all() and (flow <= arcs["capacity"].to_numpy()).all()
    assert (imbalance(arcs, len(nodes), flow) == nodes["supply"].to_numpy()).all()
    assert int((flow * arcs["cost"].to_numpy()).sum()) == result.flow_cost


Jilin = tuple[Scenario, pd.DataFrame, VolunteerNetwork, VolunteerResult]


@pytest.fixture(scope="module")
def jilin() -> Jilin:
    """Jilin with the staffing stage's stations, its volunteer network and its volunteer plan."""
    scenario = linkage.load(ROOT / "scenarios" / "jilin")
    stations = linkage.solve(scenario, stages=["pairing", "staffing"]).tables["stations"]
    return (
        scenario,
        stations,
        volunteer_network(scenario, stations),
        solve_volunteers(scenario, stations),
    )


def test_jilin_exported_tables_resolve_to_the_plan_cost(jilin: Jilin, tmp_path: Path) -> None:
    """Jilin's volunteer arc and node tables, re-solved as an LP by HiGHS, give the flow cost."""
    _, _, net, result = jilin
    arcs, nodes = exported(net, tmp_path)
    assert lp_cost(arcs, nodes) == pytest.approx(result.flow_cost)
    # and that cost is the plan's lexicographic objective P·W + Dist
    obj = result.report.objectives
    assert result.flow_cost == result.penalty * obj["weighted_shortfall_hours"] + obj["distance"]


def test_jilin_plan_is_a_conserving_flow_on_the_exported_arcs(jilin: Jilin, tmp_path: Path) -> None:
    """Jilin's plan read back onto the exported arcs conserves flow within capacity at its cost."""
    _, _, net, result = jilin
    arcs, nodes = exported(net, tmp_path)
    assert nodes["supply"].sum() == 0
    check_plan_flow(net, arcs, nodes, result)


def test_jilin_tables_describe_the_network_solved(jilin: Jilin) -> None:
    """The tables have the solved model's size, known kinds in order, and consistent labels."""
    _, _, net, result = jilin
    arcs, nodes = net.arcs(), net.nodes()
    assert (len(arcs), len(nodes)) == (result.report.variables, result.report.constraints)
    assert result.penalty == net.penalty and result.groups == net.n_g
    columns = ["tail", "head", "capacity", "cost", "kind", "tail_label", "head_label"]
    assert list(arcs.columns) == columns
    assert list(nodes.columns) == ["node", "kind", "label", "supply"]
    assert list(pd.unique(arcs["kind"])) == list(ARC_KINDS)
    assert list(pd.unique(nodes["kind"])) == list(NODE_KINDS)
    assert nodes["label"].is_unique
    assert (arcs["capacity"] >= 0).all() and (arcs["cost"] >= 0).all()
    labels = nodes["label"].to_numpy()
    assert (arcs["tail_label"].to_numpy() == labels[arcs["tail"]]).all()
    assert (arcs["head_label"].to_numpy() == labels[arcs["head"]]).all()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_random_exported_tables_resolve_to_the_plan_cost(
    case: tuple[Scenario, pd.DataFrame | None, bool],
) -> None:
    """Random instances: the exported tables' LP gives the flow cost; the plan conserves on them."""
    scenario, stations, aggregate = case
    net = volunteer_network(scenario, stations, aggregate=aggregate)
    result = solve_volunteers(scenario, stations, aggregate=aggregate)
    with tempfile.TemporaryDirectory() as folder:
        arcs, nodes = exported(net, Path(folder))
    assert lp_cost(arcs, nodes) == pytest.approx(result.flow_cost)
    assert nodes["supply"].sum() == 0
    check_plan_flow(net, arcs, nodes, result)
