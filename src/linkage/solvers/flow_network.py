"""What the min-cost-flow stages (staffing, volunteers, funds) share: laying out the arc arrays,
solving, tables of the network for audit, a report when the solver fails, and cutting flows laid
end to end back onto the segments they came from."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from ortools.graph.python import min_cost_flow

from linkage.solvers.report import StageReport

IntArray = NDArray[np.int64]


def stack_arcs(
    parts: Sequence[tuple[NDArray[Any], ...]],
) -> tuple[IntArray, IntArray, IntArray, IntArray, IntArray]:
    """Arc parts (tails, heads, capacities, costs) laid end to end: (bounds, tails, heads, caps,
    costs), part i being ``bounds[i]:bounds[i + 1]`` of each array."""
    bounds = np.cumsum([0] + [len(p[0]) for p in parts]).astype(np.int64)
    tails, heads, caps, costs = (
        np.concatenate([np.asarray(p[i], dtype=np.int64) for p in parts]) for i in range(4)
    )
    return bounds, tails, heads, caps, costs


def solve_min_cost_flow(
    tails: IntArray, heads: IntArray, caps: IntArray, costs: IntArray, supplies: IntArray
) -> tuple[Any, IntArray | None, int]:
    """The solver's status, the flow per arc (None unless optimal) and the optimal cost."""
    flow = min_cost_flow.SimpleMinCostFlow()
    arcs = flow.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    flow.set_nodes_supplies(np.arange(len(supplies), dtype=np.int64), supplies)
    status = flow.solve()
    if status != flow.OPTIMAL:
        return status, None, 0
    return status, np.asarray(flow.flows(arcs), dtype=np.int64), int(flow.optimal_cost())


def arc_table(
    tails: IntArray,
    heads: IntArray,
    caps: IntArray,
    costs: IntArray,
    kinds: NDArray[Any],
    labels: NDArray[Any] | None = None,
) -> pd.DataFrame:
    """One row per arc: tail, head, capacity, cost, kind, and the end nodes' labels if given."""
    columns: dict[str, Any] = {
        "tail": tails,
        "head": heads,
        "capacity": caps,
        "cost": costs,
        "kind": kinds,
    }
    if labels is not None:
        columns["tail_label"] = labels[tails]
        columns["head_label"] = labels[heads]
    return pd.DataFrame(columns)


def node_table(
    supplies: IntArray, kinds: NDArray[Any] | None = None, labels: NDArray[Any] | None = None
) -> pd.DataFrame:
    """One row per node: node, its kind and label if given, and its supply (positive: source)."""
    columns: dict[str, Any] = {"node": np.arange(len(supplies), dtype=np.int64)}
    if kinds is not None:
        columns["kind"] = kinds
    if labels is not None:
        columns["label"] = labels
    columns["supply"] = supplies
    return pd.DataFrame(columns)


def unsolved_report(
    stage: str, started: float, n_arcs: int, n_nodes: int, status: object
) -> StageReport:
    """The report of a stage whose min-cost flow did not reach an optimum."""
    return StageReport(
        stage=stage,
        method="min_cost_flow",
        status="not_solved",
        wall_s=time.perf_counter() - started,
        variables=n_arcs,
        constraints=n_nodes,
        message=f"min-cost flow returned status {status}",
    )


def cut_segments(
    b_key: IntArray, b_len: IntArray, a_key: IntArray, a_len: IntArray
) -> tuple[IntArray, IntArray, IntArray]:
    """Cut segments B onto segments A of the same key: (b index, a index, length) pieces.

    The A segments are sorted by key and laid on one line; each key's B segments start at its
    first A segment and run end to end. Per key Σ B ≤ Σ A (a node's outflow never exceeds its
    inflow or supply), so every B segment lies within its key's A segments and is cut at the A
    boundaries inside it — vectorised, no loop per segment or key.
    """
    empty = np.empty(0, np.int64)
    used = np.flatnonzero(b_len > 0)
    if len(used) == 0:
        return empty, empty, empty
    order = np.argsort(a_key, kind="stable")
    ends = np.cumsum(a_len[order])
    starts = ends - a_len[order]
    n_keys = int(max(a_key.max(initial=-1), b_key.max(initial=-1))) + 1
    first = np.searchsorted(a_key[order], np.arange(n_keys), side="left")
    key_start = np.r_[starts, ends[-1:] if len(ends) else [0]][first]
    b_order = used[np.argsort(b_key[used], kind="stable")]
    length = b_len[b_order]
    key = b_key[b_order]
    cum = np.cumsum(length) - length
    key_first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    before = np.repeat(cum[key_first], np.diff(np.r_[key_first, len(key)]))
    lo = key_start[key] + cum - before
    hi = lo + length
    a0 = np.searchsorted(ends, lo, side="right")
    a1 = np.searchsorted(ends, hi - 1, side="right")
    n_pieces = a1 - a0 + 1
    rep = np.repeat(np.arange(len(b_order)), n_pieces)
    offset = np.arange(int(n_pieces.sum())) - np.repeat(np.cumsum(n_pieces) - n_pieces, n_pieces)
    a = a0[rep] + offset
    cut = np.minimum(hi[rep], ends[a]) - np.maximum(lo[rep], starts[a])
    keep = cut > 0
    return (
        b_order[rep[keep]].astype(np.int64),
        order[a[keep]].astype(np.int64),
        cut[keep].astype(np.int64),
    )
