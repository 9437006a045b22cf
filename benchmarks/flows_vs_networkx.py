"""The staffing flow network solved by OR-Tools (arrays) and by networkx, side by side.

    .venv/bin/python benchmarks/flows_vs_networkx.py scenarios/jilin scenarios/henan

Both get exactly the same arcs, capacities, costs and supplies (``staffing_network``); the
table reports each solver's time on that network (building included) and checks the costs
agree. networkx runs its network simplex in Python.
"""

from __future__ import annotations

import sys
import time

import networkx as nx
import numpy as np
from ortools.graph.python import min_cost_flow

import linkage
from linkage.solvers.staffing import StaffingNetwork, staffing_network


def ortools_cost(net: StaffingNetwork) -> tuple[int, float]:
    t0 = time.perf_counter()
    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(net.tails, net.heads, net.caps, net.costs)
    flow.set_nodes_supplies(np.arange(net.n_nodes, dtype=np.int64), net.supplies)
    assert flow.solve() == flow.OPTIMAL
    return int(flow.optimal_cost()), time.perf_counter() - t0


def networkx_cost(net: StaffingNetwork) -> tuple[int, float]:
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
    sys.stdout.write("| scenario | arcs | OR-Tools s | networkx s | ratio | costs agree |\n")
    sys.stdout.write("|---|---|---|---|---|---|\n")
    for path in argv:
        scenario = linkage.load(path)
        pairs = linkage.solve(scenario, stages=["pairing"]).pairs
        net = staffing_network(scenario, pairs)
        a, ta = ortools_cost(net)
        b, tb = networkx_cost(net)
        sys.stdout.write(
            f"| {path} | {len(net.tails):,} | {ta:.2f} | {tb:.2f} | {tb / ta:.0f}× | {a == b} |\n"
        )
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
