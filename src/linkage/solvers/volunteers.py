"""Volunteers: which volunteer pools serve which (station, domain) need, as one min-cost flow.

Units. Flow is in whole volunteer **hours per year**. A pool supplies ``floor(count × hours)``
hours (never more than it has); a (station, domain) needs ``ceil(hours)`` (never less than the
rule asks). A station can supervise ``floor(assigned × hours_per_supervisor)`` hours, with
``assigned`` the social workers (FTE) the staffing stage gave it.

Demand. For every township station and domain, need = Σ beneficiaries of the domain (the
region's ``PROFILE_SOURCES`` columns, NaN as 0) × ``policy.volunteers.hours_per_person[domain]``
(a domain without a rate, or without beneficiary columns, needs 0). A ``needs`` row with a
``volunteer_hours`` value replaces the (region, domain) need; rows of regions that are not
stations are ignored. Only (station, domain) pairs with a positive need are demand nodes.

Eligibility. A pool may serve a (station, domain) when the station lies within the pool's reach
(its ``max_km``, else ``policy.volunteers.max_km``, great-circle from the pool's region) and the
domain is among the pool's skills; **a pool with empty skills may serve any domain** (a general
volunteer). Cost is the distance in whole km (rounded half up) per hour.

Aggregation. Pools with the same (region, skills, reach) form one *group* node with the summed
supply. They are interchangeable: every arc of the network depends on a pool only through its
region (origin of the distances), its reach (which stations) and its skills (which domains), so
identical pools have identical arcs with identical costs. A flow of the per-pool network summed
over a group is a flow of the grouped network with the same cost; conversely a grouped flow
splits onto the group's pools (each arc's flow cut onto the pools laid end to end, never more
than a pool's supply since the group's outflow ≤ Σ supply) with the same cost. So both networks
have the same optimal cost and the split is an optimal per-pool plan.

Hubs. A group's arcs depend on its region and reach only through its *origin* (region, reach),
and on its skills only through the domain. So the arcs go through one hub per (origin, domain)
that some group offers: group → hub (cost 0) for every domain in the group's skills, hub →
(station, domain) (cost km) for every station within the origin's reach. Every path group →
hub → (s, d) is exactly one allowed (group, s, d) arc with its cost, and hubs hold no supply,
so the optimum is unchanged; several groups at one origin share the reach arcs (Henan with
1,000,000 volunteers: 0.81 M reach arcs instead of 1.46 M group arcs). The flow is taken back
to pools by cutting flows laid end to end at each hub, then at each group (``cut_segments``).

Network (the logical form)::

    group → (station, domain)  cap supply(group)   cost km          within reach, within skills
    (station, domain) → station  cap need          cost −priority × P   served (a reward)
    station → T                  cap supervision   cost 0
    group → T                    cap supply(group) cost 0           hours left unused

A reward arc has a negative cost; it is saturated and reversed to keep costs non-negative, which
turns it into the shortfall arc (the flow on the reversed arc is need − served = shortfall).
The network solved (nodes: groups, hubs, demand nodes (s, d), stations s, sink T)::

    group → hub(o, d)  cap supply(group)     cost 0                 to_hub      d in its skills
    hub(o, d) → (s, d) cap need(s, d)        cost km(o, s)          reach       s within reach
    s → (s, d)         cap need(s, d)        cost priority(s) × P   shortfall
    s → T              cap supervision(s)    cost 0                 supervised
    group → T          cap supply(group)     cost 0                 unused      hours left unused

supplies: group +supply, (s, d) −need, s +Σ_d need(s, d), T −Σ supply. A demand node receives
pool hours and shortfall adding to its need; a station emits its needs' total either as
shortfall or, at most its supervision capacity, as supervised hours, so the pool hours it gets
are at most its supervision capacity. A station with no supervision capacity gets no reach arcs
(no hour could reach it anyway); s → T is capped at min(supervision(s), Σ_d need(s, d)).
See ``shortfall_penalty`` for P. ``volunteer_network`` builds exactly this network as arrays
(``VolunteerNetwork``, arcs in the order above with the kinds named there; its ``arcs()`` and
``nodes()`` tables carry readable labels, for audit and other solvers) and ``solve_volunteers``
solves it. The time limit is accepted for a uniform stage interface; the flow solver has none
and is exact.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from linkage.geo import PointIndex, haversine_km, region_coords, whole_km
from linkage.scenario.core import Scenario
from linkage.scenario.vocabulary import DOMAINS
from linkage.solvers.flow_network import (
    arc_table,
    cut_segments,
    node_table,
    solve_min_cost_flow,
    stack_arcs,
    unsolved_report,
)
from linkage.solvers.needs import domain_needs, station_needs
from linkage.solvers.report import StageReport

STAGE = "volunteers"
DOMAIN_ORDER: tuple[str, ...] = tuple(DOMAINS)
REASONS: dict[str, str] = {
    "no_volunteer_in_reach": "服务半径内无志愿者 / no volunteer within reach",
    "supervision_capacity": "社工督导能力不足 / the station's social workers cannot supervise "
    "more hours",
    "capacity_exhausted": "可达志愿者时间已用尽 / every volunteer hour in reach is used",
}
NO_STAFFING_NOTE = "（未给出社工配置 / no social workers assigned: staffing not given）"
TOL = 1e-6

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

PLAN_COLUMNS: tuple[str, ...] = ("pool", "station", "domain", "hours", "distance_km")
DEMAND_COLUMNS: tuple[str, ...] = (
    "station",
    "name",
    "domain",
    "need_hours",
    "assigned_hours",
    "shortfall_hours",
    "reason_code",
    "reason",
)


@dataclass(frozen=True, eq=False)
class VolunteerResult:
    """The volunteer plan.

    - ``volunteers``: pool, station, domain, hours, distance_km (whole km);
    - ``volunteer_demand``: station, name, domain, need_hours, assigned_hours, shortfall_hours,
      reason_code, reason (empty when fully served) — one row per (station, domain) with need;
    - ``report``: the stage certificate;
    - ``flow_cost``: the optimal cost of the network (hours × km plus penalties);
    - ``penalty``: P, the shortfall multiplier (a shortfall hour costs priority × P);
    - ``groups``: how many pool groups (pools with equal region, skills, reach) the flow had.
    """

    volunteers: pd.DataFrame
    volunteer_demand: pd.DataFrame
    report: StageReport
    flow_cost: int
    penalty: int
    groups: int

    @property
    def solved(self) -> bool:
        return self.report.solved


def supply_hours(count: FloatArray, hours: FloatArray) -> IntArray:
    """Hours a pool supplies: ``floor(count × hours)`` (a hair of slack for float error)."""
    return np.floor(np.asarray(count, float) * np.asarray(hours, float) + 1e-9).astype(np.int64)


def need_hours(hours: FloatArray) -> IntArray:
    """Whole hours a need asks for: ``ceil(hours)``."""
    return np.ceil(np.asarray(hours, float) - 1e-9).clip(min=0).astype(np.int64)


def supervision_hours(assigned: FloatArray, per_supervisor: float) -> IntArray:
    """Hours a station can supervise: ``floor(assigned FTE × hours_per_supervisor)``."""
    raw = np.nan_to_num(np.asarray(assigned, float), nan=0.0) * float(per_supervisor)
    return np.floor(raw + 1e-9).clip(min=0).astype(np.int64)


def shortfall_penalty(max_km: int, chain: int) -> int:
    """The shortfall multiplier P that makes the flow's cost lexicographic.

    The plan optimises, in this order, W = Σ priority(s) × shortfall(s, d) (hours) and then
    Dist = Σ km × hours; the flow's cost is P·W + Dist. Let D be the largest distance cost of an
    arc and ``chain`` = K = min(#hubs, #demand nodes) among those with a distance arc (the
    hub → (s, d) arcs; no other arc has a distance cost). Choose

        P = K·D + 1.

    Proof. Let x be the optimal flow and y any feasible flow lexicographically better. y − x is a
    sum of simple cycles of x's residual graph, each of cost ≥ 0 since x is optimal; as the
    change (ΔW, ΔDist) of y − x is lexicographically negative, so is that of some cycle C (per
    unit of its flow). Priorities are integers, so ΔW is an integer. Every distance arc C uses
    forwards enters a distinct demand node and leaves a distinct hub (C is simple), so at most
    K of them, and ΔDist ≤ K·D. If ΔW ≤ −1, C costs ≤ −P + K·D < 0; if ΔW = 0 then ΔDist < 0
    and C costs ΔDist < 0. Either contradicts optimality. ∎

    So no hour of need is left unmet that any reassignment of volunteers could fill, priority
    stations first, and only then is distance minimised. P = D + 1 ("larger than any path") is
    not enough: filling one hour may take a chain of reassignments, each adding up to D km.
    """
    return int(chain) * int(max_km) + 1


def volunteer_needs(scenario: Scenario) -> pd.DataFrame:
    """Need per (station, domain) with a positive need: station, name, county, priority,
    domain, hours (unrounded; see the module docstring), s, k — in station, then domain order."""
    rates = scenario.policy.volunteers.hours_per_person
    return domain_needs(scenario, {str(k): v for k, v in rates.items()}, "volunteer_hours", "hours")


def skill_matrix(skills: pd.Series) -> BoolArray:
    """True where a pool may serve a domain (``DOMAIN_ORDER``); empty skills serve every domain."""
    text = skills.fillna("").astype(str)
    padded = ";" + text + ";"
    matrix = np.column_stack(
        [padded.str.contains(f";{d};", regex=False).to_numpy(dtype=bool) for d in DOMAIN_ORDER]
    )
    general = (text.str.strip() == "").to_numpy(dtype=bool)
    matrix[general] = True
    return np.asarray(matrix, dtype=bool)


def _supervision(
    scenario: Scenario, codes: NDArray[Any], stations: pd.DataFrame | None
) -> IntArray:
    """Supervision capacity (hours) per station code; 0 where no social worker is assigned."""
    if stations is None or stations.empty:
        return np.zeros(len(codes), dtype=np.int64)
    assigned = stations.groupby("region")["assigned"].sum()
    got = assigned.reindex(pd.Index(np.asarray(codes, object))).fillna(0.0)
    return supervision_hours(
        got.to_numpy(dtype=float), scenario.policy.volunteers.hours_per_supervisor
    )


def _pool_groups(
    volunteers: pd.DataFrame, reach: FloatArray, aggregate: bool = True
) -> tuple[IntArray, pd.DataFrame]:
    """Group id per pool and one row per group (region, skills, reach), by first appearance."""
    key = pd.DataFrame(
        {
            "region": volunteers["region"].astype(object).to_numpy(),
            "skills": volunteers["skills"].fillna("").astype(str).to_numpy(),
            "reach": reach,
        }
    )
    if not aggregate:
        return np.asarray(np.arange(len(key)), dtype=np.int64), key
    group = key.groupby(["region", "skills", "reach"], sort=False, dropna=False).ngroup()
    gid = group.to_numpy(dtype=np.int64)
    first = np.unique(gid, return_index=True)[1]
    return np.asarray(gid, dtype=np.int64), key.iloc[first].reset_index(drop=True)


ARC_KINDS: tuple[str, ...] = ("to_hub", "reach", "shortfall", "supervised", "unused")
NODE_KINDS: tuple[str, ...] = ("group", "hub", "demand", "station", "sink")


@dataclass(frozen=True, eq=False)
class VolunteerNetwork:
    """The volunteer flow network as solved (see the module docstring), as arrays.

    Nodes are numbered groups, hubs, demand nodes (s, d), stations, then the sink T; arcs are in
    ``ARC_KINDS`` order, part i being ``bounds[i]:bounds[i + 1]``. Besides the arrays given to
    the solver (``tails``, ``heads``, ``caps``, ``costs``, ``supplies``) it keeps what reads a
    flow back into the plan's tables, and a kind and a readable label per node.
    """

    pools: pd.DataFrame
    demand: pd.DataFrame
    station_codes: NDArray[Any]
    no_staffing: bool
    need: IntArray
    d_s: IntArray
    d_k: IntArray
    d_prio: IntArray
    sup_cap: IntArray
    pool_supply: IntArray
    pool_group: IntArray
    groups: pd.DataFrame
    g_supply: IntArray
    hub_o: IntArray
    hub_k: IntArray
    origins: pd.DataFrame
    gh_g: IntArray
    gh_hub: IntArray
    arc_h: IntArray
    arc_d: IntArray
    arc_cost: IntArray
    reachable: BoolArray
    penalty: int
    n_g: int
    n_h: int
    n_d: int
    n_s: int
    n_nodes: int
    bounds: IntArray
    tails: IntArray
    heads: IntArray
    caps: IntArray
    costs: IntArray
    supplies: IntArray
    node_kind: NDArray[Any]
    node_label: NDArray[Any]

    def arcs(self) -> pd.DataFrame:
        """One row per arc: tail, head, capacity, cost, kind and the end nodes' labels."""
        kinds = np.repeat(np.array(ARC_KINDS, dtype=object), np.diff(self.bounds))
        return arc_table(self.tails, self.heads, self.caps, self.costs, kinds, self.node_label)

    def nodes(self) -> pd.DataFrame:
        """One row per node: its kind, label and supply (positive) or demand (negative)."""
        return node_table(self.supplies, self.node_kind, self.node_label)


def _reach_text(reach: NDArray[Any]) -> list[str]:
    return [f"≤{float(r):g} km" for r in reach]


def _node_labels(
    groups: pd.DataFrame,
    pool_ids: NDArray[Any] | None,
    origins: pd.DataFrame,
    hub_o: IntArray,
    hub_k: IntArray,
    demand: pd.DataFrame,
    station_codes: NDArray[Any],
) -> tuple[NDArray[Any], NDArray[Any]]:
    """Kind and readable label per node, in node order (labels are unique within a network)."""
    domains = np.array(DOMAIN_ORDER, dtype=object)
    skills = ["*" if s.strip() == "" else s for s in groups["skills"].astype(str)]
    group_label = [
        f"{'pool ' + str(p) if pool_ids is not None else 'group'} {r} [{s}] {t}"
        for p, r, s, t in zip(
            pool_ids if pool_ids is not None else [None] * len(groups),
            groups["region"].astype(str),
            skills,
            _reach_text(groups["reach"].to_numpy()),
            strict=True,
        )
    ]
    o_region = origins["region"].astype(str).to_numpy(dtype=object)
    o_reach = np.array(_reach_text(origins["reach"].to_numpy()), dtype=object)
    hub_label = [
        f"hub {r} {t} {d}"
        for r, t, d in zip(o_region[hub_o], o_reach[hub_o], domains[hub_k], strict=True)
    ]
    demand_label = [
        f"{s}/{d}"
        for s, d in zip(demand["station"].astype(str), demand["domain"].astype(str), strict=True)
    ]
    station_label = [f"station {s}" for s in station_codes]
    labels = np.array([*group_label, *hub_label, *demand_label, *station_label, "T"], dtype=object)
    sizes = [len(group_label), len(hub_label), len(demand_label), len(station_label), 1]
    kinds = np.repeat(np.array(NODE_KINDS, dtype=object), sizes)
    return kinds, labels


def volunteer_network(
    scenario: Scenario, stations: pd.DataFrame | None = None, *, aggregate: bool = True
) -> VolunteerNetwork:
    """Build the volunteer min-cost-flow network from arrays (no solve).

    ``stations`` is the staffing stage's ``stations`` table, as ``solve_volunteers`` takes it;
    ``aggregate=False`` gives every pool its own node.
    """
    policy = scenario.policy.volunteers
    regions = scenario.regions
    demand = volunteer_needs(scenario)
    station_codes = station_needs(scenario)["region"].to_numpy(dtype=object)
    pools = scenario.tables["volunteers"].reset_index(drop=True)

    n_s, n_d = len(station_codes), len(demand)
    need = need_hours(demand["hours"].to_numpy(dtype=float))
    d_s = demand["s"].to_numpy(dtype=np.int64)
    d_k = demand["k"].to_numpy(dtype=np.int64)
    d_prio = demand["priority"].to_numpy(dtype=np.int64)
    sup_cap = _supervision(scenario, station_codes, stations)
    station_need = np.bincount(d_s, weights=need, minlength=n_s).astype(np.int64)

    # pool groups (see the module docstring): equal region, skills and reach
    reach = pools["max_km"].fillna(policy.max_km).to_numpy(dtype=float)
    pool_supply = supply_hours(
        pools["count"].to_numpy(dtype=float), pools["hours"].to_numpy(dtype=float)
    )
    pool_group, groups = _pool_groups(pools, reach, aggregate)
    n_g = len(groups)
    g_supply = np.bincount(pool_group, weights=pool_supply, minlength=n_g).astype(np.int64)
    g_skill = skill_matrix(groups["skills"]) if n_g else np.zeros((0, len(DOMAIN_ORDER)), bool)

    # reach: once per distinct (region, reach) origin against the station index
    origin_key = groups[["region", "reach"]]
    origin_id = origin_key.groupby(["region", "reach"], sort=False).ngroup().to_numpy(np.int64)
    o_first = np.unique(origin_id, return_index=True)[1]
    origins = origin_key.iloc[o_first].reset_index(drop=True)
    o_lat, o_lon = region_coords(regions, origins["region"].to_numpy(dtype=object))
    s_lat, s_lon = region_coords(regions, station_codes)
    op_o, op_s, op_km = PointIndex(s_lat, s_lon).within_km(
        o_lat, o_lon, origins["reach"].to_numpy(dtype=float)
    )
    op_cost = whole_km(op_km)
    # expand origin → station pairs to group → station pairs (pairs are sorted by origin)
    n_o = len(origins)
    o_count = np.bincount(op_o, minlength=n_o)
    o_start = np.cumsum(o_count) - o_count
    # hubs: one node per (origin, domain) that some group with hours offers
    n_k = len(DOMAIN_ORDER)
    gi, gk = np.nonzero(g_skill & (g_supply > 0)[:, None])
    hub_codes, gh_hub = np.unique(origin_id[gi] * n_k + gk, return_inverse=True)
    gh_hub = np.asarray(gh_hub, dtype=np.int64).reshape(-1)
    hub_o = np.asarray(hub_codes // n_k, dtype=np.int64)
    hub_k = np.asarray(hub_codes % n_k, dtype=np.int64)
    n_h = len(hub_codes)
    # hub → (station, domain): every station in the origin's reach that needs the domain
    per_h = o_count[hub_o]
    hs_h = np.repeat(np.arange(n_h, dtype=np.int64), per_h)
    hs_pair = np.repeat(o_start[hub_o], per_h) + (
        np.arange(int(per_h.sum())) - np.repeat(np.cumsum(per_h) - per_h, per_h)
    )
    hs_s = op_s[hs_pair]
    dnode = np.full((n_s, n_k), -1, dtype=np.int64)
    dnode[d_s, d_k] = np.arange(n_d)
    hs_d = dnode[hs_s, hub_k[hs_h]]
    ok = hs_d >= 0
    reachable = np.zeros(n_d, dtype=bool)
    reachable[hs_d[ok]] = True
    # a station that can supervise nothing can take no volunteer hour: no arcs to it
    ok &= sup_cap[hs_s] > 0
    arc_h, arc_d, arc_cost = hs_h[ok], hs_d[ok], op_cost[hs_pair[ok]]
    live = np.zeros(n_h, dtype=bool)
    live[arc_h] = True
    gh_g, gh_hub = gi[live[gh_hub]].astype(np.int64), gh_hub[live[gh_hub]]

    max_km = int(arc_cost.max(initial=0))
    chain = min(len(np.unique(arc_h)), len(np.unique(arc_d)))
    penalty = shortfall_penalty(max_km, chain)

    # nodes
    group_node = np.arange(n_g, dtype=np.int64)
    hub_node = n_g + np.arange(n_h, dtype=np.int64)
    demand_node = n_g + n_h + np.arange(n_d, dtype=np.int64)
    station_node = n_g + n_h + n_d + np.arange(n_s, dtype=np.int64)
    t_node = n_g + n_h + n_d + n_s
    n_nodes = t_node + 1
    parts: list[tuple[NDArray[Any], ...]] = [
        (group_node[gh_g], hub_node[gh_hub], g_supply[gh_g], np.zeros(len(gh_g))),
        (hub_node[arc_h], demand_node[arc_d], need[arc_d], arc_cost),
        (station_node[d_s], demand_node, need, d_prio * penalty),
        (station_node, np.full(n_s, t_node), np.minimum(sup_cap, station_need), np.zeros(n_s)),
        (group_node, np.full(n_g, t_node), g_supply, np.zeros(n_g)),
    ]
    bounds, tails, heads, caps, costs = stack_arcs(parts)
    supplies = np.zeros(n_nodes, dtype=np.int64)
    supplies[group_node] = g_supply
    supplies[demand_node] = -need
    supplies[station_node] = station_need
    supplies[t_node] = -int(g_supply.sum())
    node_kind, node_label = _node_labels(
        groups,
        None if aggregate else pools["id"].to_numpy(dtype=object),
        origins,
        hub_o,
        hub_k,
        demand,
        station_codes,
    )

    return VolunteerNetwork(
        pools=pools,
        demand=demand,
        station_codes=station_codes,
        no_staffing=stations is None,
        need=need,
        d_s=d_s,
        d_k=d_k,
        d_prio=d_prio,
        sup_cap=sup_cap,
        pool_supply=pool_supply,
        pool_group=pool_group,
        groups=groups,
        g_supply=g_supply,
        hub_o=hub_o,
        hub_k=hub_k,
        origins=origins,
        gh_g=gh_g,
        gh_hub=gh_hub,
        arc_h=arc_h,
        arc_d=arc_d,
        arc_cost=arc_cost,
        reachable=reachable,
        penalty=penalty,
        n_g=n_g,
        n_h=n_h,
        n_d=n_d,
        n_s=n_s,
        n_nodes=n_nodes,
        bounds=bounds,
        tails=tails,
        heads=heads,
        caps=caps,
        costs=costs,
        supplies=supplies,
        node_kind=node_kind,
        node_label=node_label,
    )


def solve_volunteers(
    scenario: Scenario,
    stations: pd.DataFrame | None = None,
    *,
    time_limit_s: float | None = None,
    aggregate: bool = True,
) -> VolunteerResult:
    """Assign volunteer pools to (station, domain) needs under the stations' supervision capacity.

    ``stations`` is the staffing stage's ``stations`` table (region, assigned FTE); None means
    no social worker is assigned anywhere, so nothing can be supervised. See the module
    docstring for the network (built by ``volunteer_network``) and ``shortfall_penalty`` for P.
    ``aggregate=False`` gives every pool its own node (the same optimum, a larger network: for
    checking the aggregation).
    """
    started = time.perf_counter()
    net = volunteer_network(scenario, stations, aggregate=aggregate)
    status, x, flow_cost = solve_min_cost_flow(
        net.tails, net.heads, net.caps, net.costs, net.supplies
    )
    if x is None:
        return _unsolved(
            net.demand,
            net.need,
            net.no_staffing,
            started,
            len(net.tails),
            net.n_nodes,
            status,
            net.penalty,
            net.n_g,
        )

    def part(i: int) -> IntArray:
        return x[net.bounds[i] : net.bounds[i + 1]]

    arc_flow = part(1)
    # back from hubs and groups to pools: cut the flows laid end to end (see ``cut_segments``)
    hub_arc, in_arc, hub_hours = cut_segments(net.arc_h, arc_flow, net.gh_hub, part(0))
    piece, piece_pool, piece_hours = cut_segments(
        net.gh_g[in_arc], hub_hours, net.pool_group, net.pool_supply
    )
    piece_arc = hub_arc[piece]
    piece_d = net.arc_d[piece_arc]
    plan = pd.DataFrame(
        {
            "pool": net.pools["id"].to_numpy(dtype=object)[piece_pool],
            "station": net.station_codes[net.d_s[piece_d]],
            "domain": np.array(DOMAIN_ORDER, dtype=object)[net.d_k[piece_d]],
            "hours": piece_hours,
            "distance_km": net.arc_cost[piece_arc],
        },
        columns=list(PLAN_COLUMNS),
    )
    assigned = np.bincount(net.arc_d, weights=arc_flow, minlength=net.n_d).astype(np.int64)
    short = part(2)
    supervised = part(3)
    saturated = supervised >= net.sup_cap
    table = _demand_table(
        net.demand,
        net.need,
        assigned,
        short,
        net.reachable,
        saturated[net.d_s],
        net.no_staffing,
    )

    weighted = float((net.d_prio * short).sum())
    distance = float((arc_flow * net.arc_cost).sum())
    objectives = {"weighted_shortfall_hours": weighted, "distance": distance}
    report = StageReport.proven(
        STAGE,
        "min_cost_flow",
        objectives,
        wall_s=time.perf_counter() - started,
        variables=len(net.tails),
        constraints=net.n_nodes,
        message=f"{len(net.pools)} pools in {net.n_g} groups, {net.n_d} (station, domain) needs, "
        f"{net.n_h} (origin, domain) hubs, {len(net.arc_h)} reach arcs; units of 1 hour; "
        f"penalty P={net.penalty}"
        + ("; no staffing given, so no supervision capacity" if net.no_staffing else ""),
    )
    return VolunteerResult(
        volunteers=plan,
        volunteer_demand=table,
        report=report,
        flow_cost=flow_cost,
        penalty=net.penalty,
        groups=net.n_g,
    )


def _demand_table(
    demand: pd.DataFrame,
    need: IntArray,
    assigned: IntArray,
    short: IntArray,
    reachable: BoolArray,
    saturated: BoolArray,
    no_staffing: bool,
) -> pd.DataFrame:
    """One row per (station, domain) need. Reason of a shortfall, first that applies: nothing in
    reach; the station's supervision is used up; else every hour in reach is used (at the
    optimum an unused eligible hour with free supervision would fill the need)."""
    code = np.where(
        short > 0,
        np.where(
            ~reachable,
            "no_volunteer_in_reach",
            np.where(saturated, "supervision_capacity", "capacity_exhausted"),
        ),
        "",
    ).astype(object)
    supervision_reason = REASONS["supervision_capacity"] + (NO_STAFFING_NOTE if no_staffing else "")
    labels = {**REASONS, "supervision_capacity": supervision_reason, "": ""}
    return pd.DataFrame(
        {
            "station": demand["station"].to_numpy(dtype=object),
            "name": demand["name"].to_numpy(dtype=object),
            "domain": demand["domain"].to_numpy(dtype=object),
            "need_hours": need.astype(np.int64),
            "assigned_hours": assigned.astype(np.int64),
            "shortfall_hours": short.astype(np.int64),
            "reason_code": code,
            "reason": pd.Series(code).map(labels).to_numpy(dtype=object),
        },
        columns=list(DEMAND_COLUMNS),
    )


def _unsolved(
    demand: pd.DataFrame,
    need: IntArray,
    no_staffing: bool,
    started: float,
    n_arcs: int,
    n_nodes: int,
    status: object,
    penalty: int,
    n_groups: int,
) -> VolunteerResult:
    n = len(demand)
    zeros = np.zeros(n, np.int64)
    table = _demand_table(
        demand, need, zeros, zeros, np.zeros(n, bool), np.zeros(n, bool), no_staffing
    )
    empty = pd.DataFrame(
        {
            "pool": pd.Series(dtype=object),
            "station": pd.Series(dtype=object),
            "domain": pd.Series(dtype=object),
            "hours": pd.Series(dtype=np.int64),
            "distance_km": pd.Series(dtype=np.int64),
        }
    )
    report = unsolved_report(STAGE, started, n_arcs, n_nodes, status)
    return VolunteerResult(empty, table, report, 0, penalty, n_groups)


def check_volunteer_invariants(
    scenario: Scenario, stations: pd.DataFrame | None, result: VolunteerResult
) -> list[str]:
    """Rules every volunteer plan keeps; returns one message per violation (empty: all kept).

    Hours per pool within count × hours; every row within the pool's reach and skills (empty
    skills: any domain); per station the hours within its supervision capacity; per (station,
    domain) assigned = the rows' sum and assigned + shortfall = need, the need as the rule gives.
    """
    problems: list[str] = []
    policy = scenario.policy.volunteers
    regions = scenario.regions
    pools = scenario.tables["volunteers"].set_index("id")
    plan = result.volunteers
    table = result.volunteer_demand

    unknown = ~plan["pool"].isin(pools.index)
    problems += [f"row of unknown pool {p}" for p in plan.loc[unknown, "pool"]]
    plan = plan[~unknown]
    if (plan["hours"] <= 0).any():
        problems.append("a row with no positive hours")

    # hours per pool
    cap = pools["count"].astype(float) * pools["hours"].astype(float)
    used = plan.groupby("pool")["hours"].sum()
    over = used[used > cap.reindex(used.index).fillna(0) + TOL]
    problems += [f"pool {p}: {v:g} hours assigned, has {cap.get(p, 0):g}" for p, v in over.items()]

    if len(plan):
        # within reach
        p_lat, p_lon = region_coords(
            regions, pools.loc[plan["pool"], "region"].to_numpy(dtype=object)
        )
        s_lat, s_lon = region_coords(regions, plan["station"].to_numpy(dtype=object))
        km = haversine_km(p_lat, p_lon, s_lat, s_lon)
        reach = pools.loc[plan["pool"], "max_km"].fillna(policy.max_km).to_numpy(dtype=float)
        bad = ~(km <= reach + 1e-6)
        for pool, st, d, lim in zip(
            plan["pool"][bad], plan["station"][bad], km[bad], reach[bad], strict=True
        ):
            problems.append(f"pool {pool} → {st}: {d:.1f} km beyond reach {lim:g}")
        # within skills
        skills = pools.loc[plan["pool"], "skills"].fillna("").astype(str).to_numpy()
        for pool, dom, sk in zip(plan["pool"], plan["domain"], skills, strict=True):
            if sk.strip() and dom not in sk.split(";"):
                problems.append(f"pool {pool} serves {dom} outside its skills {sk!r}")

    # supervision per station
    codes = station_needs(scenario)["region"].to_numpy(dtype=object)
    cap_s = pd.Series(_supervision(scenario, codes, stations), index=pd.Index(codes))
    got_s = plan.groupby("station")["hours"].sum()
    for s, v in got_s.items():
        limit = float(cap_s.get(s, 0))
        if v > limit + TOL:
            problems.append(f"station {s}: {v:g} volunteer hours, supervision allows {limit:g}")

    # per (station, domain) balance and need
    want = volunteer_needs(scenario)
    want_hours = pd.Series(
        need_hours(want["hours"].to_numpy(dtype=float)),
        index=pd.MultiIndex.from_arrays([want["station"], want["domain"]]),
    )
    t = table.set_index(["station", "domain"])
    got = plan.groupby(["station", "domain"])["hours"].sum()
    extra = got.index.difference(t.index)
    problems += [f"hours to {s}/{d} which has no need row" for s, d in extra]
    got = got.reindex(t.index).fillna(0)
    if ((t["assigned_hours"] - got).abs() > TOL).any():
        problems.append("volunteer_demand.assigned_hours differs from the volunteer rows")
    if ((t["assigned_hours"] + t["shortfall_hours"] - t["need_hours"]).abs() > TOL).any():
        problems.append("assigned + shortfall ≠ need at some (station, domain)")
    if (t["shortfall_hours"] < -TOL).any() or (t["assigned_hours"] < -TOL).any():
        problems.append("negative assigned or shortfall hours")
    if (
        not t.index.sort_values().equals(want_hours.index.sort_values())
        or ((t["need_hours"] - want_hours.reindex(t.index)).abs() > TOL).any()
    ):
        problems.append("(station, domain) needs differ from the need rule")
    return problems
