"""Staffing: which social-worker pools serve which township station, as one min-cost flow.

Units. Flow is in whole units of ``1 / SCALE`` FTE (0.1 FTE). A pool supplies
``floor(count × fte × SCALE)`` units (never more than it has); a station needs
``ceil(need × SCALE)`` units (never less than the rule asks), so the ``stations`` table reports
the need rounded up to 0.1 FTE.

Network (nodes: pools, per dispatching organization an in- and an out-node, stations, a
shortfall source F and a sink T)::

    pool  → station   cap supply(pool)      cost km(pool, station)   local, within reach
    pool  → org_in    cap supply(pool)      cost 0                   pools of paired orgs
    org_in → org_out  cap ⌊share × units(org)⌋  cost 0               the dispatch share
    org_out → station cap ⌊share × units(org)⌋  cost km(org, station)  stations of paired targets
    F → station       cap ⌈need/2⌉          cost priority × P1       first half unmet
    F → station       cap need − ⌈need/2⌉   cost priority × P2       second half unmet
    pool → T          cap supply(pool)      cost 0                   left unassigned
    F → T             cap Σ need            cost 0                   shortfall not used
    pool → station    cap kept units        cost km − c              keeps a previous local row
    org_out → station cap kept units        cost km − c              keeps a previous dispatch

supplies: pool +supply, F +Σ need, station −need, T −Σ supply. Reach is the pool's
``max_km`` (else ``policy.staffing.max_km``), found through ``PointIndex``; km are whole
kilometres (rounded half up). A dispatched worker travels from the organization's region; a
station is a dispatch destination of an organization when the station or its county is a target
the organization is paired with. The time limit is accepted for a uniform stage interface; the
flow solver has none and is exact.

Re-planning (``previous_staffing``, the staffing table of a previous plan): every local
(pool, station) and dispatch (organization, station) route the previous plan used gets a
parallel arc holding the units it carried, at the route's km less
``policy.stability.churn_penalty_staffing`` = c. Kept units are therefore exactly c km cheaper
than moved ones, and only up to what was there before. The discount may go below 0: floored
at 0 it would vanish on the commonest route, a pool serving its own township at 0 km, and the
solver would reshuffle such pools freely. Distance costs then lie in [−b, D] (b ≤ c the largest
discount below 0); ``shortfall_penalties``'s proof only uses the width of that range (a simple
cycle uses at most K distance arcs forwards and K backwards, so its distance changes by at most
K·(D + b)), so the penalties are computed with D + b in place of D and stay exact: shortfall
still comes first, then distance less the churn discount. The parallel arcs add no node, so K
is unchanged. Without ``previous_staffing`` (or with c = 0) the keep parts are empty and the
network, penalties included, is the one above.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from linkage.geo import PointIndex, haversine_km, region_coords, whole_km
from linkage.scenario.core import Scenario
from linkage.solvers.flow_network import (
    arc_table,
    node_table,
    solve_min_cost_flow,
    stack_arcs,
    unsolved_report,
)
from linkage.solvers.needs import station_needs
from linkage.solvers.report import StageReport

STAGE = "staffing"
SCALE = 10  # flow units per FTE: 0.1 FTE
REASONS: dict[str, str] = {
    "no_one_in_reach": "服务半径内无社工 / no social worker within reach",
    "capacity_exhausted": "可达社工已全部派出 / every worker in reach is assigned",
}
VIA = ("local", "dispatch")
TOL = 1e-6

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True, eq=False)
class StaffingResult:
    """The staffing plan.

    - ``staffing``: pool, org, station, workers (FTE), distance_km, via (local / dispatch);
    - ``stations``: region, name, county, priority, rule, need (FTE, rounded up to 0.1),
      assigned, coverage (assigned / need; 1 when nothing is needed), shortfall, reason_code,
      reason (empty when fully staffed);
    - ``pairs``: the org → target pairs dispatch was allowed along;
    - ``report``: the stage certificate;
    - ``flow_cost``: the optimal cost of the network (in units, with penalties);
    - ``penalties``: (P1, P2), the shortfall multipliers used.
    """

    staffing: pd.DataFrame
    stations: pd.DataFrame
    pairs: pd.DataFrame
    report: StageReport
    flow_cost: int
    penalties: tuple[int, int]

    @property
    def solved(self) -> bool:
        return self.report.solved


def supply_units(count: FloatArray, fte: FloatArray) -> IntArray:
    """Units a pool supplies: ``floor(count × fte × SCALE)`` (a hair of slack for float error)."""
    return np.floor(np.asarray(count, float) * np.asarray(fte, float) * SCALE + 1e-9).astype(
        np.int64
    )


def need_units(need: FloatArray) -> IntArray:
    """Units a station needs: ``ceil(need × SCALE)``."""
    return np.ceil(np.asarray(need, float) * SCALE - 1e-9).clip(min=0).astype(np.int64)


def shortfall_penalties(priority: IntArray, max_km: int, chain: int) -> tuple[int, int]:
    """The shortfall multipliers (P1, P2) that make the flow's cost lexicographic.

    A unit of a station's first half left unmet costs p × P1, of its second half p × P2, with p
    the station's priority (an integer ≥ 1); the flow leaves the cheaper second half unmet
    first, so the penalty is convex. The plan optimises, in this order,

        W1 = Σ p × first-half shortfall,  W2 = Σ p × second-half shortfall,  Dist = Σ km × units

    and the flow's cost is P1·W1 + P2·W2 + Dist. Let D be the largest distance cost of an arc
    and ``chain`` = K a bound on the distance arcs a simple cycle can use forwards (or
    backwards): each enters a distinct station and leaves a distinct pool / organization node,
    so K = min(#stations, #pool and organization nodes) with a distance arc. Choose

        P2 = K·D + 1,    P1 = ⌊(p_max·P2 + K·D) / p_min⌋ + 1.

    Proof. Let x be the optimal flow and y any feasible flow lexicographically better. y − x is
    a sum of simple cycles of x's residual graph, each with cost ≥ 0 as x is optimal; as the
    change (ΔW1, ΔW2, ΔDist) of y − x is lexicographically negative, so is that of some cycle C.
    C passes the shortfall node F once, so it changes two arcs at F (shortfall arcs or F → T),
    and |ΔDist| ≤ K·D. The cases: two first-half arcs: ΔW1 ≤ −1, ΔW2 = 0, cost ≤ −P1 + K·D < 0;
    two second-half arcs: ΔW1 = 0, ΔW2 ≤ −1, cost ≤ −P2 + K·D < 0; a first half down and a
    second half up: cost ≤ −p_min·P1 + p_max·P2 + K·D < 0; one shortfall arc down and F → T:
    cost ≤ −p_min·P2 + K·D < 0; no shortfall change: ΔDist < 0 is the cost. Every case
    contradicts optimality. ∎

    So every station's first half is filled before any second half, priority areas first (W
    weighs shortfall by priority), no worker idles while a station in reach is short, and only
    then is distance minimised. The bounds are what the worst case needs (saving one unit of
    the lowest weight may take a chain of K reassignments each adding up to D km); they stay
    far below int64 limits (Henan: P1 ≈ 3.4e6) and cost about 15 % in flow time over the
    one-move bounds (K = 1), which leave shortfall that reassignment chains could fill.
    """
    p_min = int(priority.min()) if len(priority) else 1
    p_max = int(priority.max()) if len(priority) else 1
    slack = int(chain) * int(max_km)
    p2 = slack + 1
    p1 = (p_max * p2 + slack) // max(p_min, 1) + 1
    return p1, p2


def _dispatch_pairs(
    scenario: Scenario, pairs: pd.DataFrame | None, stations: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The (org, target) pairs and the (org, station position) dispatch destinations."""
    empty_pairs = pd.DataFrame({"org": pd.Series(dtype=object), "target": pd.Series(dtype=object)})
    empty_dest = pd.DataFrame({"org": pd.Series(dtype=object), "s": pd.Series(dtype=np.int64)})
    if pairs is None or pairs.empty:
        return empty_pairs, empty_dest
    used = pairs[["org", "target"]].astype(object).drop_duplicates().reset_index(drop=True)
    known = set(scenario.organizations["id"].astype(object))
    used = used[used["org"].isin(known)].reset_index(drop=True)
    st = pd.DataFrame(
        {
            "s": np.arange(len(stations), dtype=np.int64),
            "region": stations["region"].to_numpy(dtype=object),
            "county": stations["county"].to_numpy(dtype=object),
        }
    )
    by_county = used.merge(st, left_on="target", right_on="county")[["org", "s"]]
    by_station = used.merge(st, left_on="target", right_on="region")[["org", "s"]]
    dest = pd.concat([by_county, by_station], ignore_index=True).drop_duplicates()
    dest = dest.sort_values(["org", "s"], kind="stable").reset_index(drop=True)
    return used, dest


@dataclass(frozen=True, eq=False)
class StaffingNetwork:
    """The staffing flow network as arrays (arcs in ``parts`` order, see the module docstring),
    with what is needed to read a flow back into tables."""

    workers: pd.DataFrame
    needs: pd.DataFrame
    supply: IntArray
    need: IntArray
    priority: IntArray
    pool_org: NDArray[Any]
    loc_p: IntArray
    loc_s: IntArray
    loc_cost: IntArray
    used_pairs: pd.DataFrame
    n_h: int
    hub_pools: IntArray
    pool_hub: IntArray
    hub_cap: IntArray
    dest_h: IntArray
    dest_s: IntArray
    disp_cost: IntArray
    p1: int
    p2: int
    n_s: int
    n_nodes: int
    bounds: IntArray
    tails: IntArray
    heads: IntArray
    caps: IntArray
    costs: IntArray
    supplies: IntArray
    # re-planning: the local / dispatch arcs (positions into loc_* / dest_*) a keep arc doubles
    keep_loc: IntArray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    keep_disp: IntArray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    def arcs(self) -> pd.DataFrame:
        """One row per arc: tail, head, capacity, cost and its kind, for audit and other solvers."""
        kinds = np.repeat(np.array(ARC_KINDS, dtype=object), np.diff(self.bounds))
        return arc_table(self.tails, self.heads, self.caps, self.costs, kinds)

    def nodes(self) -> pd.DataFrame:
        """One row per node with its supply (positive) or demand (negative)."""
        return node_table(self.supplies)


ARC_KINDS = (
    "local",
    "to_dispatch_hub",
    "dispatch_share",
    "dispatch",
    "shortfall_first_half",
    "shortfall_second_half",
    "unassigned",
    "shortfall_unused",
    "keep_local",
    "keep_dispatch",
)


def staffing_network(
    scenario: Scenario,
    pairs: pd.DataFrame | None = None,
    previous_staffing: pd.DataFrame | None = None,
) -> StaffingNetwork:
    """Build the staffing min-cost-flow network from arrays (no solve).

    ``previous_staffing`` (pool, org, station, workers, via: a previous plan's ``staffing``
    table) adds the discounted keep arcs of the module docstring; None adds none.
    """
    policy = scenario.policy.staffing
    regions = scenario.regions
    needs = station_needs(scenario)
    workers = scenario.tables["social_workers"].reset_index(drop=True)

    n_p, n_s = len(workers), len(needs)
    supply = supply_units(
        workers["count"].to_numpy(dtype=float), workers["fte"].to_numpy(dtype=float)
    )
    need = need_units(needs["need"].to_numpy(dtype=float))
    priority = needs["priority"].to_numpy(dtype=np.int64)

    # local arcs: pool → station within reach, through the spatial index
    p_lat, p_lon = region_coords(regions, workers["region"])
    s_lat, s_lon = region_coords(regions, needs["region"])
    reach = workers["max_km"].fillna(policy.max_km).to_numpy(dtype=float)
    loc_p, loc_s, loc_km = PointIndex(s_lat, s_lon).within_km(p_lat, p_lon, reach)
    loc_cost = whole_km(loc_km)

    # dispatch: per paired organization an in/out node pair with the share as capacity
    used_pairs, dest = _dispatch_pairs(scenario, pairs, needs)
    orgs = pd.Index(pd.unique(dest["org"].to_numpy(dtype=object)))
    n_h = len(orgs)
    pool_org = workers["org"].astype(object).to_numpy()
    pool_hub = orgs.get_indexer(pd.Index(pool_org)).astype(np.int64)
    hub_pools = np.flatnonzero(pool_hub >= 0).astype(np.int64)
    org_units = np.bincount(pool_hub[hub_pools], weights=supply[hub_pools], minlength=n_h)
    hub_cap = np.floor(policy.dispatch_share * org_units + 1e-9).astype(np.int64)
    org_table = scenario.organizations.set_index("id")
    o_lat, o_lon = region_coords(regions, org_table.loc[orgs, "region"] if n_h else pd.Series([]))
    dest_h = orgs.get_indexer(pd.Index(dest["org"].to_numpy(dtype=object))).astype(np.int64)
    dest_s = dest["s"].to_numpy(dtype=np.int64)
    disp_cost = whole_km(haversine_km(o_lat[dest_h], o_lon[dest_h], s_lat[dest_s], s_lon[dest_s]))

    # re-planning: parallel arcs that keep the previous plan's routes at a discount
    churn = int(scenario.policy.stability.churn_penalty_staffing)
    keep_loc, keep_loc_units, keep_disp, keep_disp_units = _kept_routes(
        previous_staffing if churn > 0 else None, workers, needs, orgs, loc_p, loc_s, dest_h, dest_s
    )
    keep_loc_cap = np.minimum(keep_loc_units, supply[loc_p[keep_loc]])
    keep_disp_cap = np.minimum(keep_disp_units, hub_cap[dest_h[keep_disp]])
    keep_loc_cost = loc_cost[keep_loc] - churn
    keep_disp_cost = disp_cost[keep_disp] - churn

    # distance costs lie in [−below, D]; the penalties need the width D + below of that range
    max_km = int(max(loc_cost.max(initial=0), disp_cost.max(initial=0)))
    below = int(max(-keep_loc_cost.min(initial=0), -keep_disp_cost.min(initial=0), 0))
    dist_heads = np.union1d(loc_s, dest_s)
    dist_tails = len(np.unique(loc_p)) + len(np.unique(dest_h))
    p1, p2 = shortfall_penalties(priority, max_km + below, min(len(dist_heads), dist_tails))

    # nodes
    pool_node = np.arange(n_p, dtype=np.int64)
    hub_in = n_p + np.arange(n_h, dtype=np.int64)
    hub_out = n_p + n_h + np.arange(n_h, dtype=np.int64)
    station_node = n_p + 2 * n_h + np.arange(n_s, dtype=np.int64)
    f_node = n_p + 2 * n_h + n_s
    t_node = f_node + 1
    n_nodes = t_node + 1
    half1 = (need + 1) // 2
    half2 = need - half1
    total_need = int(need.sum())

    parts: list[tuple[NDArray[Any], ...]] = [
        (pool_node[loc_p], station_node[loc_s], supply[loc_p], loc_cost),
        (hub_pools, hub_in[pool_hub[hub_pools]], supply[hub_pools], np.zeros(len(hub_pools))),
        (hub_in, hub_out, hub_cap, np.zeros(n_h)),
        (hub_out[dest_h], station_node[dest_s], hub_cap[dest_h], disp_cost),
        (np.full(n_s, f_node), station_node, half1, priority * p1),
        (np.full(n_s, f_node), station_node, half2, priority * p2),
        (pool_node, np.full(n_p, t_node), supply, np.zeros(n_p)),
        (np.array([f_node]), np.array([t_node]), np.array([total_need]), np.zeros(1)),
        (
            pool_node[loc_p[keep_loc]],
            station_node[loc_s[keep_loc]],
            keep_loc_cap,
            keep_loc_cost,
        ),
        (
            hub_out[dest_h[keep_disp]],
            station_node[dest_s[keep_disp]],
            keep_disp_cap,
            keep_disp_cost,
        ),
    ]
    bounds, tails, heads, caps, costs = stack_arcs(parts)
    supplies = np.zeros(n_nodes, dtype=np.int64)
    supplies[pool_node] = supply
    supplies[station_node] = -need
    supplies[f_node] = total_need
    supplies[t_node] = -int(supply.sum())

    return StaffingNetwork(
        workers=workers,
        needs=needs,
        supply=supply,
        need=need,
        priority=priority,
        pool_org=pool_org,
        loc_p=loc_p,
        loc_s=loc_s,
        loc_cost=loc_cost,
        used_pairs=used_pairs,
        n_h=n_h,
        hub_pools=hub_pools,
        pool_hub=pool_hub,
        hub_cap=hub_cap,
        dest_h=dest_h,
        dest_s=dest_s,
        disp_cost=disp_cost,
        p1=p1,
        p2=p2,
        n_s=n_s,
        n_nodes=n_nodes,
        bounds=bounds,
        tails=tails,
        heads=heads,
        caps=caps,
        costs=costs,
        supplies=supplies,
        keep_loc=keep_loc,
        keep_disp=keep_disp,
    )


def _kept_routes(
    previous: pd.DataFrame | None,
    workers: pd.DataFrame,
    needs: pd.DataFrame,
    orgs: pd.Index,
    loc_p: IntArray,
    loc_s: IntArray,
    dest_h: IntArray,
    dest_s: IntArray,
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """The local arcs and dispatch arcs (positions) a previous staffing table used, with the
    units it put on each; routes that no longer exist (pool, station, reach or pairing gone)
    are dropped."""
    empty = np.empty(0, dtype=np.int64)
    if previous is None or previous.empty:
        return empty, empty, empty, empty
    n_s = max(len(needs), 1)
    units = np.floor(previous["workers"].to_numpy(dtype=float) * SCALE + 0.5).astype(np.int64)
    s = pd.Index(needs["region"].astype(object)).get_indexer(
        pd.Index(previous["station"].astype(object))
    )
    via = (
        previous["via"].astype(object).to_numpy()
        if "via" in previous
        else np.full(len(previous), "local", dtype=object)
    )

    def on_arcs(tail: IntArray, arc_tail: IntArray, arc_s: IntArray, rows: BoolArray) -> IntArray:
        ok = rows & (tail >= 0) & (s >= 0) & (units > 0)
        at = pd.Index(arc_tail * n_s + arc_s).get_indexer(tail[ok] * n_s + s[ok])
        found = at >= 0
        return np.bincount(at[found], weights=units[ok][found], minlength=len(arc_tail)).astype(
            np.int64
        )

    pool = (
        pd.Index(workers["id"].astype(object))
        .get_indexer(pd.Index(previous["pool"].astype(object)))
        .astype(np.int64)
    )
    local_units = on_arcs(pool, loc_p, loc_s, via == "local")
    org = orgs.get_indexer(pd.Index(previous["org"].astype(object))).astype(np.int64)
    disp_units = on_arcs(org, dest_h, dest_s, via == "dispatch")
    keep_loc = np.flatnonzero(local_units > 0).astype(np.int64)
    keep_disp = np.flatnonzero(disp_units > 0).astype(np.int64)
    return keep_loc, local_units[keep_loc], keep_disp, disp_units[keep_disp]


def solve_staffing(
    scenario: Scenario,
    pairs: pd.DataFrame | None = None,
    *,
    time_limit_s: float | None = None,
    previous_staffing: pd.DataFrame | None = None,
) -> StaffingResult:
    """Assign social-worker pools to township stations; ``pairs`` (org, target) enable dispatch.

    See the module docstring for the network and ``shortfall_penalties`` for the penalties.
    ``previous_staffing`` (a previous plan's ``staffing`` table) makes keeping its routes
    cheaper by ``policy.stability.churn_penalty_staffing`` km per 0.1 FTE (re-planning).
    """
    started = time.perf_counter()
    net = staffing_network(scenario, pairs, previous_staffing)
    status, x, flow_cost = solve_min_cost_flow(
        net.tails, net.heads, net.caps, net.costs, net.supplies
    )
    if x is None:
        return _unsolved(
            net.needs,
            net.used_pairs,
            started,
            len(net.tails),
            net.n_nodes,
            status,
            (net.p1, net.p2),
        )

    def part(i: int) -> IntArray:
        return x[net.bounds[i] : net.bounds[i + 1]]

    # local rows (a keep arc's flow belongs to the local arc it doubles)
    lf = part(0) + np.bincount(
        net.keep_loc, weights=part(ARC_KINDS.index("keep_local")), minlength=len(net.loc_p)
    ).astype(np.int64)
    on = lf > 0
    local = pd.DataFrame(
        {
            "p": net.loc_p[on],
            "s": net.loc_s[on],
            "units": lf[on],
            "distance_km": net.loc_cost[on],
            "via": "local",
        }
    )
    # dispatch rows: split each org's hub flow back onto its pools (any split is exact)
    disp_flow = part(3) + np.bincount(
        net.keep_disp, weights=part(ARC_KINDS.index("keep_dispatch")), minlength=len(net.dest_s)
    ).astype(np.int64)
    dispatch = _decompose(
        part(1),
        net.hub_pools,
        net.pool_hub[net.hub_pools],
        disp_flow,
        net.dest_h,
        net.dest_s,
        net.disp_cost,
        net.n_h,
    )
    rows = pd.concat([local, dispatch], ignore_index=True)
    staffing = pd.DataFrame(
        {
            "pool": net.workers["id"].to_numpy(dtype=object)[rows["p"].to_numpy(dtype=np.int64)],
            "org": net.pool_org[rows["p"].to_numpy(dtype=np.int64)],
            "station": net.needs["region"].to_numpy(dtype=object)[
                rows["s"].to_numpy(dtype=np.int64)
            ],
            "workers": rows["units"].to_numpy(dtype=float) / SCALE,
            "distance_km": rows["distance_km"].to_numpy(dtype=np.int64),
            "via": rows["via"].to_numpy(dtype=object),
        }
    )

    assigned_units = np.bincount(
        rows["s"].to_numpy(dtype=np.int64),
        weights=rows["units"].to_numpy(dtype=float),
        minlength=net.n_s,
    ).astype(np.int64)
    short_units = part(4) + part(5)
    reachable = np.zeros(net.n_s, dtype=bool)
    reachable[net.loc_s] = True
    reachable[net.dest_s[net.hub_cap[net.dest_h] > 0]] = True
    stations = _stations_table(net.needs, net.need, assigned_units, short_units, reachable)

    weighted = float((stations["priority"] * stations["shortfall"]).sum())
    distance = float((staffing["workers"] * staffing["distance_km"]).sum())
    objectives = {"weighted_shortfall": weighted, "distance_km": distance}
    report = StageReport.proven(
        STAGE,
        "min_cost_flow",
        objectives,
        wall_s=time.perf_counter() - started,
        variables=len(net.tails),
        constraints=net.n_nodes,
        message=f"{len(net.loc_p)} local arcs, {len(net.dest_s)} dispatch arcs, "
        f"{net.n_h} dispatching organizations; units of 1/{SCALE} FTE; "
        f"penalties P1={net.p1}, P2={net.p2}"
        + (
            f"; {len(net.keep_loc) + len(net.keep_disp)} routes of the previous plan kept at "
            f"−{scenario.policy.stability.churn_penalty_staffing} km per unit"
            if previous_staffing is not None
            else ""
        ),
    )
    return StaffingResult(
        staffing=staffing,
        stations=stations,
        pairs=net.used_pairs,
        report=report,
        flow_cost=flow_cost,
        penalties=(net.p1, net.p2),
    )


def _decompose(
    in_flow: IntArray,
    pools: IntArray,
    pool_hub: IntArray,
    out_flow: IntArray,
    dest_h: IntArray,
    dest_s: IntArray,
    dest_cost: IntArray,
    n_h: int,
) -> pd.DataFrame:
    """(pool, station, units) rows of the dispatched flow: per organization, lay the pools'
    inflows and the stations' outflows end to end and cut at every breakpoint."""
    frames: list[pd.DataFrame] = []
    for h in range(n_h):  # one step per dispatching organization, never per arc
        pin = np.flatnonzero((pool_hub == h) & (in_flow > 0))
        sout = np.flatnonzero((dest_h == h) & (out_flow > 0))
        if len(pin) == 0 or len(sout) == 0:
            continue
        a = np.cumsum(in_flow[pin])
        b = np.cumsum(out_flow[sout])
        cuts = np.union1d(a, b)
        cuts = cuts[cuts <= min(a[-1], b[-1])]
        start = np.concatenate([[0], cuts[:-1]])
        length = cuts - start
        keep = length > 0
        mid = (start + cuts)[keep] / 2
        pi = np.searchsorted(a, mid, side="right")
        si = np.searchsorted(b, mid, side="right")
        frames.append(
            pd.DataFrame(
                {
                    "p": pools[pin[pi]],
                    "s": dest_s[sout[si]],
                    "units": length[keep].astype(np.int64),
                    "distance_km": dest_cost[sout[si]],
                    "via": "dispatch",
                }
            )
        )
    if not frames:
        return pd.DataFrame(
            {
                "p": pd.Series(dtype=np.int64),
                "s": pd.Series(dtype=np.int64),
                "units": pd.Series(dtype=np.int64),
                "distance_km": pd.Series(dtype=np.int64),
                "via": pd.Series(dtype=object),
            }
        )
    return pd.concat(frames, ignore_index=True)


def _stations_table(
    needs: pd.DataFrame,
    need: IntArray,
    assigned: IntArray,
    short: IntArray,
    reachable: NDArray[np.bool_],
) -> pd.DataFrame:
    need_fte = need / SCALE
    assigned_fte = assigned / SCALE
    with np.errstate(divide="ignore", invalid="ignore"):
        coverage = np.where(need > 0, assigned / np.maximum(need, 1), 1.0)
    code = np.where(short > 0, np.where(reachable, "capacity_exhausted", "no_one_in_reach"), "")
    return pd.DataFrame(
        {
            "region": needs["region"].to_numpy(dtype=object),
            "name": needs["name"].to_numpy(dtype=object),
            "county": needs["county"].to_numpy(dtype=object),
            "priority": needs["priority"].to_numpy(dtype=np.int64),
            "rule": needs["rule"].to_numpy(dtype=object),
            "need": need_fte,
            "assigned": assigned_fte,
            "coverage": coverage.astype(float),
            "shortfall": short / SCALE,
            "reason_code": code.astype(object),
            "reason": np.array([REASONS.get(c, "") for c in code], dtype=object),
        }
    )


def _unsolved(
    needs: pd.DataFrame,
    pairs: pd.DataFrame,
    started: float,
    n_arcs: int,
    n_nodes: int,
    status: object,
    penalties: tuple[int, int],
) -> StaffingResult:
    n = len(needs)
    need = need_units(needs["need"].to_numpy(dtype=float))
    stations = _stations_table(
        needs, need, np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, bool)
    )
    empty = pd.DataFrame(
        {
            "pool": pd.Series(dtype=object),
            "org": pd.Series(dtype=object),
            "station": pd.Series(dtype=object),
            "workers": pd.Series(dtype=float),
            "distance_km": pd.Series(dtype=np.int64),
            "via": pd.Series(dtype=object),
        }
    )
    report = unsolved_report(STAGE, started, n_arcs, n_nodes, status)
    return StaffingResult(empty, stations, pairs, report, 0, penalties)


def check_staffing_invariants(scenario: Scenario, result: StaffingResult) -> list[str]:
    """Rules every staffing plan keeps; returns one message per violation (empty: all kept).

    Supply per pool not exceeded; every local row within the pool's reach; every dispatch row
    along a pairing (the station or its county is a target of the pool's organization) and each
    organization within its dispatch share; per station assigned + shortfall = need, with
    assigned the sum of its rows and the need as the rule gives it (rounded up to 0.1 FTE).
    """
    problems: list[str] = []
    policy = scenario.policy.staffing
    regions = scenario.regions
    workers = scenario.tables["social_workers"].set_index("id")
    plan = result.staffing
    stations = result.stations.set_index("region")

    # supply per pool
    cap = workers["count"].astype(float) * workers["fte"].astype(float)
    used = plan.groupby("pool")["workers"].sum()
    over = used[used > cap.reindex(used.index).fillna(0) + TOL]
    problems += [f"pool {p}: {v:g} FTE assigned, has {cap.get(p, 0):g}" for p, v in over.items()]

    unknown = ~plan["station"].isin(stations.index)
    problems += [f"row to unknown station {s}" for s in plan.loc[unknown, "station"]]
    plan = plan[~unknown]

    # local rows within reach
    local = plan[plan["via"] == "local"]
    if len(local):
        p_lat, p_lon = region_coords(regions, workers.loc[local["pool"], "region"])
        s_lat, s_lon = region_coords(regions, local["station"])
        km = haversine_km(p_lat, p_lon, s_lat, s_lon)
        reach = workers.loc[local["pool"], "max_km"].fillna(policy.max_km).to_numpy(dtype=float)
        bad = ~(km <= reach + 1e-6)
        for (_, r), d, lim in zip(local[bad].iterrows(), km[bad], reach[bad], strict=True):
            problems += [f"pool {r['pool']} → {r['station']}: {d:.1f} km beyond reach {lim:g}"]

    # dispatch rows along pairings, within the share
    disp = plan[plan["via"] == "dispatch"]
    bad_via = plan[~plan["via"].isin(VIA)]
    problems += [f"row with unknown via {v!r}" for v in bad_via["via"]]
    if len(disp):
        allowed = set(zip(result.pairs["org"], result.pairs["target"], strict=True))
        org = workers.loc[disp["pool"], "org"].to_numpy(dtype=object)
        county = stations.loc[disp["station"], "county"].to_numpy(dtype=object)
        for o, s, c in zip(org, disp["station"], county, strict=True):
            if (o, s) not in allowed and (o, c) not in allowed:
                problems.append(f"dispatch of org {o} to {s} without a pairing")
        org_fte = (workers["count"] * workers["fte"]).groupby(workers["org"]).sum()
        sent = disp.assign(org=org).groupby("org")["workers"].sum()
        for o, v in sent.items():
            limit = policy.dispatch_share * float(org_fte.get(o, 0.0))
            if v > limit + TOL:
                problems.append(f"org {o} dispatches {v:g} FTE, share allows {limit:g}")

    # per station balance and need
    got = plan.groupby("station")["workers"].sum().reindex(stations.index).fillna(0.0)
    st = stations
    if ((st["assigned"] - got).abs() > TOL).any():
        problems.append("stations.assigned differs from the staffing rows")
    if ((st["assigned"] + st["shortfall"] - st["need"]).abs() > TOL).any():
        problems.append("assigned + shortfall ≠ need at some station")
    if (st["shortfall"] < -TOL).any():
        problems.append("negative shortfall")
    want = station_needs(scenario).set_index("region")["need"]
    want_fte = pd.Series(need_units(want.to_numpy(dtype=float)) / SCALE, index=want.index)
    if (
        not st.index.equals(want_fte.index)
        or ((st["need"] - want_fte.reindex(st.index)).abs() > TOL).any()
    ):
        problems.append("station needs differ from the need rule")
    return problems
