"""The staffing and volunteer flow networks solved by OR-Tools (arrays) and by networkx.

    .venv/bin/python benchmarks/flows_vs_networkx.py scenarios/jilin scenarios/henan
    .venv/bin/python benchmarks/flows_vs_networkx.py --networks volunteers scenarios/henan

Per scenario the pairing and staffing stages run first (``linkage.solve``); their pairs feed the
staffing network's dispatch and their ``stations`` table the volunteer network's supervision
capacity, exactly as in the pipeline. Both solvers then get exactly the same arcs, capacities,
costs and supplies (``staffing_network``, ``volunteer_network``), one after the other in the
same process; the table reports the optimal cost, each solver's time on that network (building
its own model from the arrays included) and the ratio, and the script fails unless both solvers
reach the same cost. networkx runs its network simplex (``min_cost_flow_cost``) in Python.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Protocol

import networkx as nx
import numpy as np
from numpy.typing import NDArray
from ortools.graph.python import min_cost_flow

import linkage
from linkage.solvers.staffing import staffing_network
from linkage.solvers.volunteers import volunteer_network

NETWORKS = ("staffing", "volunteers")


class Network(Protocol):
    """What both solvers read: the arc arrays and the node supplies."""

    @property
    def n_nodes(self) -> int: ...
    @property
    def tails(self) -> NDArray[np.int64]: ...
    @property
    def heads(self) -> NDArray[np.int64]: ...
    @property
    def caps(self) -> NDArray[np.int64]: ...
    @property
    def costs(self) -> NDArray[np.int64]: ...
    @property
    def supplies(self) -> NDArray[np.int64]: ...


def ortools_cost(net: Network) -> tuple[int, float]:
    t0 = time.perf_counter()
    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(net.tails, net.heads, net.caps, net.costs)
    flow.set_nodes_supplies(np.arange(net.n_nodes, dtype=np.int64), net.supplies)
    assert flow.solve() == flow.OPTIMAL
    return int(flow.optimal_cost()), time.perf_counter() - t0


def networkx_cost(net: Network) -> tuple[int, float]:
    t0 = time.perf_counter()
    graph = nx.DiGraph()
    for node, supply in enumerate(net.supplies.tolist()):
        graph.add_node(node, demand=-supply)
    # parallel arcs (two shortfall halves per station) need a split node for a DiGraph
    extra = net.n_nodes
    for tail, head, cap, cost in zip(
        net.tails.tolist(), net.heads.tolist(), net.caps.tolist(), net.costs.tolist(), strict=True
    ):
        if graph.has_edge(tail, head):
            graph.add_edge(tail, extra, capacity=cap, weight=cost)
            graph.add_edge(extra, head, capacity=cap, weight=0)
            extra += 1
        else:
            graph.add_edge(tail, head, capacity=cap, weight=cost)
    cost = nx.min_cost_flow_cost(graph)
    return int(cost), time.perf_counter() - t0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="+")
    parser.add_argument("--networks", default=",".join(NETWORKS), help="comma-separated")
    args = parser.parse_args(argv)
    wanted = [n for n in args.networks.split(",") if n]
    unknown = set(wanted) - set(NETWORKS)
    if unknown:
        parser.error(f"unknown networks {sorted(unknown)}; choose from {NETWORKS}")

    sys.stdout.write(
        "| scenario | network | nodes | arcs | optimal cost | OR-Tools s | networkx s | ratio |\n"
    )
    sys.stdout.write("|---|---|---|---|---|---|---|---|\n")
    for path in args.scenarios:
        scenario = linkage.load(path)
        plan = linkage.solve(scenario, stages=["pairing", "staffing"])
        for name in wanted:
            net: Network
            if name == "staffing":
                net = staffing_network(scenario, plan.tables["pairs"])
            else:
                net = volunteer_network(scenario, plan.tables["stations"])
            a, ta = ortools_cost(net)
            b, tb = networkx_cost(net)
            sys.stdout.write(
                f"| {path} | {name} | {net.n_nodes:,} | {len(net.tails):,} | {a:,} | {ta:.2f} | "
                f"{tb:.2f} | {tb / ta:.0f}× |\n"
            )
            sys.stdout.flush()
            assert a == b, f"{path} {name}: OR-Tools cost {a} ≠ networkx cost {b}"
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
