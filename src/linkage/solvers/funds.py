"""Funds: which donor lot pays for which (station, domain) need, as one min-cost flow.

Units. Money moves in whole units of ``policy.funds.unit_yuan`` (¥1,000 by default). A lot
supplies ``floor(amount / unit)`` units; a need asks ``ceil(yuan / unit)``. Only lots of kind
``funds`` counted in yuan (unit ``yuan``/``元``) are allocated; goods and service lots are listed
in ``fund_lots`` with a note and take no part.

Need. For every township station and domain, need = Σ beneficiaries of the domain (the same
columns as the volunteer need, ``PROFILE_SOURCES``; NaN as 0) × ``policy.funds.
yuan_per_person[domain]``. A ``needs`` row with a ``funds`` value replaces the (region, domain)
need. Only (station, domain) pairs with a positive need are demand nodes.

Restrictions. A lot may fund (s, d) when (a) ``eligible`` is empty or the township, or one of
its ancestors, carries one of the listed designations; (b) ``regions`` is empty or s lies in
(or is) one of the listed regions; (c) d is among ``domains`` (empty: any) and among the
earmark's domains (``EARMARK_DOMAINS``: child-welfare money funds the children domain only;
social-work money funds any domain, since all delivery here is by social workers).

Utility. The need of (s, d) is cut into the policy's segments: segment j covers the units
between ``⌊C_{j-1}·need + ½⌋`` and ``⌊C_j·need + ½⌋`` (C_j the cumulative share, C_K = 1;
halves round up), and a unit in it is worth ``priority(s) × max(1, ⌊100 × value_j + ½⌋)``.
Values fall, so the units of a need are filled in segment order at any optimum (concave
utility): money spreads over needs before it deepens any one of them. The stage maximises
total worth, equivalently minimises W = Σ worth of the units left unfunded (reported as
``weighted_unmet``).

Delivery. A station can spend at most ``floor(assigned × per_worker_yuan / unit)`` units
(``assigned``: the social workers, FTE, the staffing stage gave it) plus a share of its
partners' capacity: every 牵手 target (county or township) with k pairs offers
``floor(k × per_partner_yuan / unit)`` units, shared by the stations in the target.

Routing (why the model grows with lots + regions, not their product). Lots with the same
restrictions are interchangeable, so they merge into one *class* node. Classes with the same
designation and domain filter share one *copy* of the region tree: a copy holds, for its
filter, every region on a path from a region some class of the filter enters down to an
eligible station. A class enters its copy at each of its listed regions (at the tree's roots
when it lists none); money flows only downwards, so it stays inside the regions it entered.
An eligible station's copy node feeds its (s, d) demand nodes for the filter's domains. Every
path class → entry → ... → station → (s, d) is an allowed (lot, s, d) grant and every allowed
grant has such a path, so the routed network has the same optimum as the lot × need one.

Network (nodes: classes, copy nodes, demand nodes (s, d), stations T(s), partner nodes P(t),
sink Z; costs ≥ 0)::

    class → copy(f, r)        cap supply(class)    cost 0     r an entry of the class
    copy(f, a) → copy(f, b)   cap Σ supply         cost 0     b a child of a in the copy
    copy(f, s) → (s, d)       cap need(s, d)       cost 0     d in the filter's domains
    T(s) → (s, d)             cap segment j        cost priority(s) × value_j   unfunded part
    T(s) → Z                  cap delivery(s)      cost 0
    T(s) → P(t)               cap Σ need(s, ·)     cost 0     s in the 牵手 target t
    P(t) → Z                  cap partners(t)      cost 0
    class → Z                 cap supply(class)    cost 0     money left unspent

supplies: class +supply, (s, d) −need, T(s) +Σ_d need(s, d), Z −Σ supply. The segment arcs
are the reversed (saturated) reward arcs of the utility, as in the volunteer stage: a demand
node receives money and unfunded units adding to its need, and a station emits its needs'
total as unfunded units or, within its delivery capacity, as funded units. The flow is taken
back to lots by cutting flows laid end to end level by level down each copy (``cut_segments``).

Minimum grants. A lot with ``min_grant`` above one unit may not give any (s, d) less than its
minimum: that is a MIP. Small instances (the lot × need model within ``EXACT_LIMIT``
variables) are solved exactly by CP-SAT on that model. Otherwise the flow without minimums
gives a proven bound; the plan keeps each minimum-grant lot's grants that reach its minimum,
lets it top those up, and re-solves the flow for the rest, so the plan keeps every minimum and
its gap to the bound is reported.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from ortools.sat.python import cp_model

from linkage.geo import Hierarchy
from linkage.scenario.core import Scenario
from linkage.scenario.vocabulary import DOMAINS
from linkage.solvers.candidates import DESIGNATION_COLUMNS
from linkage.solvers.flow_network import arc_table, cut_segments, node_table, solve_min_cost_flow
from linkage.solvers.needs import domain_needs, station_needs
from linkage.solvers.progress import CpSatReporter, Reporter, silent
from linkage.solvers.report import StageReport, relative_gap
from linkage.solvers.stopping import StopRule, interrupting, never

STAGE = "funds"
DOMAIN_ORDER: tuple[str, ...] = tuple(DOMAINS)
VALUE_SCALE = 100  # utility values in hundredths, so every cost is a whole number
YUAN_UNITS = frozenset({"yuan", "元", "cny", "rmb", "人民币"})
EARMARK_DOMAINS: Mapping[str, tuple[str, ...]] = {"child_welfare": ("children",)}
EXACT_LIMIT = 20_000  # lot × need variables up to which minimum grants are solved exactly
REASONS: dict[str, str] = {
    "donor_restriction": "无符合捐赠限定的资金 / no lot's restrictions allow this need",
    "delivery_capacity": "社工承接能力已满 / the station's social workers and partners cannot "
    "deliver more",
    "minimum_grant": "低于最小资助额 / the lots with money left that may fund it have a minimum "
    "grant it cannot take",
    "budget_exhausted": "可用资金已用尽 / every lot that may fund this need is spent",
}
NO_STAFFING_NOTE = "（未给出社工配置 / no social workers assigned: staffing not given）"
TOL = 1e-6

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

GRANT_COLUMNS: tuple[str, ...] = (
    "lot",
    "donor",
    "donor_type",
    "earmark",
    "station",
    "name",
    "county",
    "domain",
    "amount_yuan",
)
DEMAND_COLUMNS: tuple[str, ...] = (
    "station",
    "name",
    "county",
    "priority",
    "domain",
    "need_yuan",
    "granted_yuan",
    "shortfall_yuan",
    "reason_code",
    "reason",
)
LOT_COLUMNS: tuple[str, ...] = (
    "lot",
    "donor",
    "donor_type",
    "kind",
    "amount",
    "unit",
    "min_grant",
    "granted_yuan",
    "unused_yuan",
    "grants",
    "note",
)


@dataclass(frozen=True, eq=False)
class FundsResult:
    """The funds plan.

    - ``grants``: lot, donor, donor_type, earmark, station, name, county, domain, amount_yuan;
    - ``fund_demand``: one row per (station, domain) need: need_yuan, granted_yuan,
      shortfall_yuan, reason_code, reason (empty when fully funded);
    - ``fund_lots``: every resource row: how much of it was granted, unused, and why not when
      it is not money;
    - ``report``: the stage certificate (``weighted_unmet`` = W of the module docstring);
    - ``flow_cost``: W of the plan, in units × worth.
    """

    grants: pd.DataFrame
    fund_demand: pd.DataFrame
    fund_lots: pd.DataFrame
    report: StageReport
    flow_cost: int

    @property
    def solved(self) -> bool:
        return self.report.solved


# --- inputs -----------------------------------------------------------------------------------


def fund_needs(scenario: Scenario) -> pd.DataFrame:
    """Need per (station, domain) with a positive need: station, name, county, priority,
    domain, yuan (unrounded), s (station position) and k (domain position)."""
    rates = scenario.policy.funds.yuan_per_person
    return domain_needs(scenario, {str(k): v for k, v in rates.items()}, "funds", "yuan")


def need_units(yuan: FloatArray, unit: int) -> IntArray:
    """Whole units a need asks for: ``ceil(yuan / unit)``."""
    return np.ceil(np.asarray(yuan, float) / unit - 1e-9).clip(min=0).astype(np.int64)


def lot_units(amount: FloatArray, unit: int) -> IntArray:
    """Whole units a lot supplies: ``floor(amount / unit)``."""
    return np.floor(np.asarray(amount, float) / unit + 1e-9).clip(min=0).astype(np.int64)


def segment_caps(need: IntArray, shares: Sequence[float]) -> IntArray:
    """Units per utility segment, one column per segment, each row adding up to the need."""
    cum = np.cumsum(np.asarray(shares, dtype=float))
    cum[-1] = 1.0
    edges = np.floor(np.outer(need, cum) + 0.5).astype(np.int64)
    edges[:, -1] = need
    edges = np.maximum.accumulate(np.minimum(edges, need[:, None]), axis=1)
    return np.diff(np.column_stack([np.zeros(len(need), np.int64), edges]), axis=1)


def segment_worth(priority: IntArray, values: Sequence[float]) -> IntArray:
    """Worth of one unit in each segment: ``priority × round(100 × value)``."""
    scaled = np.floor(np.asarray(values, float) * VALUE_SCALE + 0.5).astype(np.int64)
    return np.outer(np.asarray(priority, np.int64), np.maximum(scaled, 1))


@dataclass(frozen=True)
class _Lots:
    """The money lots (kind funds, in yuan) with their restrictions as bit masks."""

    table: pd.DataFrame  # the resource rows that are money, in input order
    units: IntArray
    designations: IntArray  # bit i: DESIGNATION_COLUMNS[i]; 0 = any
    domains: IntArray  # bit k: DOMAIN_ORDER[k]; never 0 (an empty list means every domain)
    regions: list[tuple[str, ...]]  # () = anywhere
    min_units: IntArray  # smallest grant in units (0: none)


def _bits(text: pd.Series, vocabulary: Sequence[str]) -> IntArray:
    padded = ";" + text.fillna("").astype(str).str.replace(" ", "", regex=False) + ";"
    out = np.zeros(len(text), dtype=np.int64)
    for i, word in enumerate(vocabulary):
        out |= padded.str.contains(f";{word};", regex=False).to_numpy(dtype=bool).astype(
            np.int64
        ) << np.int64(i)
    return out


def _money_lots(scenario: Scenario) -> tuple[_Lots, pd.DataFrame]:
    """The lots the stage allocates, and every resource row with a note on why it is left out."""
    unit = scenario.policy.funds.unit_yuan
    resources = scenario.tables.get("resources")
    if resources is None:
        resources = pd.DataFrame(columns=["id", "donor", "donor_type", "kind", "amount", "unit"])
    resources = resources.reset_index(drop=True)
    kind = resources.get("kind", pd.Series("funds", index=resources.index)).fillna("funds")
    unit_text = resources.get("unit", pd.Series("yuan", index=resources.index)).fillna("yuan")
    in_yuan = unit_text.astype(str).str.strip().str.lower().isin(YUAN_UNITS)
    money = (kind == "funds").to_numpy() & in_yuan.to_numpy()
    note = np.where(
        money,
        "",
        np.where(
            kind != "funds",
            "非资金资源，未参与分配 / not money (goods or service): not allocated",
            "资金单位不是元，未参与分配 / funds not counted in yuan: not allocated",
        ),
    ).astype(object)
    lots = resources.loc[money].reset_index(drop=True)
    domain_bits = _bits(lots.get("domains", pd.Series("", index=lots.index)), DOMAIN_ORDER)
    domain_bits = np.where(domain_bits == 0, (1 << len(DOMAIN_ORDER)) - 1, domain_bits)
    earmark = lots.get("earmark", pd.Series("none", index=lots.index)).fillna("none")
    for mark, allowed in EARMARK_DOMAINS.items():
        mask = sum(1 << DOMAIN_ORDER.index(d) for d in allowed)
        domain_bits = np.where(earmark.to_numpy() == mark, domain_bits & mask, domain_bits)
    region_text = lots.get("regions", pd.Series("", index=lots.index)).fillna("").astype(str)
    regions = [tuple(sorted({c.strip() for c in t.split(";") if c.strip()})) for t in region_text]
    min_grant = lots.get("min_grant", pd.Series(0.0, index=lots.index)).fillna(0.0)
    min_units = np.ceil(min_grant.to_numpy(dtype=float) / unit - 1e-9).astype(np.int64)
    min_units = np.where(min_units > 1, min_units, 0)  # a one-unit minimum binds nothing
    parsed = _Lots(
        table=lots,
        units=lot_units(lots["amount"].to_numpy(dtype=float), unit),
        designations=_bits(
            lots.get("eligible", pd.Series("", index=lots.index)), DESIGNATION_COLUMNS
        ),
        domains=domain_bits.astype(np.int64),
        regions=regions,
        min_units=min_units.astype(np.int64),
    )
    listing = resources.assign(note=note)
    return parsed, listing


def _station_designations(scenario: Scenario, codes: NDArray[Any]) -> IntArray:
    """Bit mask per station: the designations of the township or any of its ancestors."""
    regions = scenario.regions
    tree = Hierarchy(regions)
    flags = np.zeros(len(regions), dtype=np.int64)
    for i, name in enumerate(DESIGNATION_COLUMNS):
        if name in regions:
            flags |= regions[name].fillna(False).to_numpy(dtype=bool).astype(np.int64) << i
    current = tree.positions(codes)
    mask = np.zeros(len(current), dtype=np.int64)
    for _ in range(tree.depth + 1):
        alive = current >= 0
        if not alive.any():
            break
        mask[alive] |= flags[current[alive]]
        current = np.where(alive, tree.parent[np.maximum(current, 0)], -1)
    return mask


def _delivery(
    scenario: Scenario,
    station_codes: NDArray[Any],
    stations: pd.DataFrame | None,
    pairs: pd.DataFrame | None,
) -> tuple[IntArray, IntArray, IntArray, NDArray[Any]]:
    """Delivery units per station; the partner pool per 牵手 target; station → target index
    (-1 when the station is in no paired target); and the targets' codes."""
    policy = scenario.policy.funds
    unit = policy.unit_yuan
    if stations is None or stations.empty:
        cap = np.zeros(len(station_codes), dtype=np.int64)
    else:
        got = stations.groupby("region")["assigned"].sum()
        assigned = got.reindex(pd.Index(station_codes)).fillna(0.0).to_numpy(dtype=float)
        cap = np.floor(assigned * policy.per_worker_yuan / unit + 1e-9).astype(np.int64)
    empty = np.empty(0, dtype=object)
    if pairs is None or pairs.empty or policy.per_partner_yuan <= 0:
        return cap, np.empty(0, np.int64), np.full(len(station_codes), -1, np.int64), empty
    per_target = pairs[["org", "target"]].drop_duplicates().groupby("target").size()
    targets = per_target.index.to_numpy(dtype=object)
    partner_cap = np.floor(
        per_target.to_numpy(dtype=float) * policy.per_partner_yuan / unit + 1e-9
    ).astype(np.int64)
    tree = Hierarchy(scenario.regions)
    target_pos = pd.Index(targets)
    own = target_pos.get_indexer(pd.Index(station_codes))
    county = tree.ancestor_at(station_codes, "county")
    above = target_pos.get_indexer(pd.Index(county))
    station_target = np.where(own >= 0, own, above).astype(np.int64)
    return cap, partner_cap, station_target, targets


@dataclass(frozen=True)
class TopUp:
    """Direct lot → demand arcs: ``lots`` (lot positions) with ``units`` to give, and the
    allowed (``pair_topup`` index into ``lots``, ``pair_demand``) pairs."""

    lots: IntArray
    units: IntArray
    pair_topup: IntArray
    pair_demand: IntArray


# --- the network ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class FundsNetwork:
    """The routed flow network of the funds stage, as arrays (see the module docstring)."""

    tails: IntArray
    heads: IntArray
    capacities: IntArray
    costs: IntArray
    supplies: IntArray
    kinds: NDArray[np.object_]  # per arc: entry, tree, leaf, unfunded, delivery, partner, ...
    bounds: Mapping[str, tuple[int, int]]  # arc kind → [start, end) in the arc arrays
    labels: NDArray[np.object_]  # per node
    node_kinds: NDArray[np.object_]
    # for taking the flow back to lots
    class_of_lot: IntArray
    entry_class: IntArray
    entry_node: IntArray
    tree_parent: IntArray
    tree_child: IntArray
    leaf_node: IntArray
    leaf_demand: IntArray
    node_rank: IntArray  # per copy node (indexed from 0 over copy nodes)
    n_classes: int
    reachable: BoolArray  # per demand: some lot may fund it (through the classes)
    need: IntArray  # per demand, units still to fund
    deliver: IntArray  # per station, delivery units
    partner_cap: IntArray  # per 牵手 target
    station_target: IntArray  # per station, its target's index or -1
    targets: NDArray[np.object_]
    worth: IntArray  # (demand, segment) worth of a unit
    segment_caps: IntArray  # (demand, segment) units

    def arcs(self) -> pd.DataFrame:
        """One row per arc: tail, head, capacity, cost, kind, and readable node labels."""
        return arc_table(
            self.tails, self.heads, self.capacities, self.costs, self.kinds, self.labels
        )

    def nodes(self) -> pd.DataFrame:
        """One row per node: node, kind, label, supply (positive: source)."""
        return node_table(self.supplies, self.node_kinds, self.labels)


def _class_ids(lots: _Lots, keep: BoolArray) -> tuple[IntArray, pd.DataFrame]:
    """Class per kept lot (-1 otherwise) and one row per class: designations, domains, regions."""
    key = pd.DataFrame(
        {
            "designations": lots.designations,
            "domains": lots.domains,
            "regions": [";".join(r) for r in lots.regions],
        }
    )
    ids = np.full(len(key), -1, dtype=np.int64)
    if keep.any():
        ids[keep] = key[keep].groupby(list(key.columns), sort=False).ngroup().to_numpy(np.int64)
    first = np.unique(ids[keep], return_index=True)[1] if keep.any() else np.empty(0, np.int64)
    classes = key[keep].iloc[first].reset_index(drop=True)
    return ids, classes


def funds_network(
    scenario: Scenario,
    stations: pd.DataFrame | None = None,
    pairs: pd.DataFrame | None = None,
    *,
    lots_mask: BoolArray | None = None,
    fixed: IntArray | None = None,
    topup: TopUp | None = None,
) -> tuple[FundsNetwork, pd.DataFrame, _Lots]:
    """Build the routed network (see the module docstring).

    For the minimum-grant repair: ``lots_mask`` keeps only some lots in the classes; ``fixed``
    (units per demand) are granted already, so they fill the first utility segments and use
    the station's delivery capacity first, then its target's partner pool; ``topup`` adds
    direct arcs from some lots to some demands (after the class nodes)."""
    policy = scenario.policy.funds
    unit = policy.unit_yuan
    regions = scenario.regions
    demand = fund_needs(scenario)
    station_codes = station_needs(scenario)["region"].to_numpy(dtype=object)
    lots, _ = _money_lots(scenario)
    keep = (lots.units > 0) if lots_mask is None else (lots_mask & (lots.units > 0))
    class_of_lot, classes = _class_ids(lots, keep)
    n_c = len(classes)
    c_units = np.bincount(class_of_lot[keep], weights=lots.units[keep], minlength=n_c).astype(
        np.int64
    )

    n_s, n_d, n_k = len(station_codes), len(demand), len(DOMAIN_ORDER)
    full_need = need_units(demand["yuan"].to_numpy(dtype=float), unit)
    done = np.zeros(n_d, np.int64) if fixed is None else np.asarray(fixed, np.int64)
    need = full_need - done
    d_s = demand["s"].to_numpy(dtype=np.int64)
    d_k = demand["k"].to_numpy(dtype=np.int64)
    d_prio = demand["priority"].to_numpy(dtype=np.int64)
    dnode = np.full((n_s, n_k), -1, dtype=np.int64)
    dnode[d_s, d_k] = np.arange(n_d)
    deliver, partner_cap, station_target, targets = _delivery(
        scenario, station_codes, stations, pairs
    )
    if fixed is not None:
        done_s = np.bincount(d_s, weights=done, minlength=n_s).astype(np.int64)
        overflow = np.maximum(done_s - deliver, 0)
        deliver = np.maximum(deliver - done_s, 0)
        in_t = station_target >= 0
        used = np.bincount(
            station_target[in_t], weights=overflow[in_t], minlength=len(targets)
        ).astype(np.int64)
        partner_cap = np.maximum(partner_cap - used, 0)
    station_need = np.bincount(d_s, weights=need, minlength=n_s).astype(np.int64)
    n_u = 0 if topup is None else len(topup.lots)

    # region tree as positions; a station's chain of ancestors, itself first
    tree = Hierarchy(regions)
    n_r = len(regions)
    rank = tree.rank
    s_pos = tree.positions(station_codes)
    chain = [s_pos]
    for _ in range(tree.depth):
        prev = chain[-1]
        chain.append(np.where(prev >= 0, tree.parent[np.maximum(prev, 0)], -1))
    anc = np.column_stack(chain)  # (n_s, depth + 1)
    roots = np.flatnonzero(tree.parent < 0)
    s_flags = _station_designations(scenario, station_codes)
    order_by_rank = np.argsort(rank, kind="stable")

    filters = classes.groupby(["designations", "domains"], sort=False).ngroup().to_numpy(np.int64)
    n_f = int(filters.max(initial=-1)) + 1
    copy_keys: list[IntArray] = []  # f * n_r + region position, per copy node
    entry_c: list[IntArray] = []
    entry_key: list[IntArray] = []
    tree_p: list[IntArray] = []
    tree_c: list[IntArray] = []
    leaf_key: list[IntArray] = []
    leaf_d: list[IntArray] = []
    reachable = np.zeros(n_d, dtype=bool)
    code_index = tree.codes
    for f in range(n_f):
        members = np.flatnonzero(filters == f)
        des = int(classes["designations"].iloc[members[0]])
        dom = int(classes["domains"].iloc[members[0]])
        ok_station = (s_flags & des) != 0 if des else np.ones(n_s, dtype=bool)
        dom_ok = ((dom >> np.arange(n_k)) & 1).astype(bool)
        allowed = ok_station[:, None] & dom_ok[None, :] & (dnode >= 0)
        live = allowed.any(axis=1)
        if not live.any():
            continue
        # entries: the listed regions of each class, or the roots
        entry_mask = np.zeros(n_r, dtype=bool)
        f_entry_c: list[IntArray] = []
        f_entry_r: list[IntArray] = []
        for c in members:
            listed = classes["regions"].iloc[c]
            pos = tree.positions(listed.split(";")) if listed else roots
            pos = pos[pos >= 0]
            entry_mask[pos] = True
            f_entry_c.append(np.full(len(pos), c, dtype=np.int64))
            f_entry_r.append(pos.astype(np.int64))
        covered = entry_mask.copy()
        for r in order_by_rank:  # parents come before children
            p = tree.parent[r]
            if p >= 0 and covered[p]:
                covered[r] = True
        live &= (s_pos >= 0) & covered[np.maximum(s_pos, 0)]
        if not live.any():
            continue
        chains = anc[live]
        inside = (chains >= 0) & covered[np.maximum(chains, 0)]
        nodes = np.unique(chains[inside])
        copy_keys.append(f * n_r + nodes)
        has_parent = (tree.parent[nodes] >= 0) & covered[np.maximum(tree.parent[nodes], 0)]
        tree_p.append(f * n_r + tree.parent[nodes[has_parent]])
        tree_c.append(f * n_r + nodes[has_parent])
        ls, lk = np.nonzero(allowed & live[:, None])
        leaf_key.append(f * n_r + s_pos[ls])
        leaf_d.append(dnode[ls, lk])
        reachable[dnode[ls, lk]] = True
        ec = np.concatenate(f_entry_c)
        er = np.concatenate(f_entry_r)
        in_copy = np.isin(er, nodes)
        entry_c.append(ec[in_copy])
        entry_key.append(f * n_r + er[in_copy])

    def cat(parts: list[IntArray]) -> IntArray:
        return np.concatenate(parts).astype(np.int64) if parts else np.empty(0, np.int64)

    keys = cat(copy_keys)
    n_copy = len(keys)
    key_index = pd.Index(keys)

    def copy_id(k: IntArray) -> IntArray:
        return key_index.get_indexer(pd.Index(k)).astype(np.int64)

    e_class, e_copy = cat(entry_c), copy_id(cat(entry_key))
    t_parent, t_child = copy_id(cat(tree_p)), copy_id(cat(tree_c))
    l_copy, l_dem = copy_id(cat(leaf_key)), cat(leaf_d)
    n_p = len(targets)

    # node numbering (top-up lots sit right after the classes)
    class_node = np.arange(n_c, dtype=np.int64)
    topup_node = n_c + np.arange(n_u, dtype=np.int64)
    n_c += n_u
    copy_node = n_c + np.arange(n_copy, dtype=np.int64)
    demand_node = n_c + n_copy + np.arange(n_d, dtype=np.int64)
    station_node = n_c + n_copy + n_d + np.arange(n_s, dtype=np.int64)
    partner_node = n_c + n_copy + n_d + n_s + np.arange(n_p, dtype=np.int64)
    z_node = n_c + n_copy + n_d + n_s + n_p
    n_nodes = z_node + 1
    total = int(c_units.sum())

    # fixed units fill the first segments: cut them off the front
    edges = np.cumsum(segment_caps(full_need, [s for s, _ in policy.utility]), axis=1)
    edges = np.maximum(edges - done[:, None], 0)
    caps_seg = np.diff(np.column_stack([np.zeros(n_d, np.int64), edges]), axis=1)
    worth = segment_worth(d_prio, [v for _, v in policy.utility])
    n_seg = caps_seg.shape[1]
    seg_d = np.repeat(np.arange(n_d, dtype=np.int64), n_seg)
    in_target = station_target >= 0
    u_units = np.empty(0, np.int64) if topup is None else topup.units
    u_pair = np.empty(0, np.int64) if topup is None else topup.pair_topup
    u_dem = np.empty(0, np.int64) if topup is None else topup.pair_demand
    total += int(u_units.sum())
    parts: dict[str, tuple[Any, Any, Any, Any]] = {
        "entry": (class_node[e_class], copy_node[e_copy], c_units[e_class], 0),
        "topup": (topup_node[u_pair], demand_node[u_dem], need[u_dem], 0),
        "tree": (copy_node[t_parent], copy_node[t_child], np.full(len(t_child), total), 0),
        "leaf": (copy_node[l_copy], demand_node[l_dem], need[l_dem], 0),
        "unfunded": (station_node[d_s[seg_d]], demand_node[seg_d], caps_seg.ravel(), worth.ravel()),
        "delivery": (station_node, np.full(n_s, z_node), np.minimum(deliver, station_need), 0),
        "partner": (
            station_node[in_target],
            partner_node[station_target[in_target]],
            station_need[in_target],
            0,
        ),
        "partner_delivery": (partner_node, np.full(n_p, z_node), partner_cap, 0),
        "unspent": (class_node, np.full(len(class_node), z_node), c_units, 0),
        "topup_unspent": (topup_node, np.full(n_u, z_node), u_units, 0),
    }
    bounds: dict[str, tuple[int, int]] = {}
    arrays: list[list[IntArray]] = [[], [], [], []]
    start = 0
    for name, (tail, head, cap, cost) in parts.items():
        n = len(tail)
        bounds[name] = (start, start + n)
        start += n
        arrays[0].append(np.asarray(tail, np.int64))
        arrays[1].append(np.asarray(head, np.int64))
        arrays[2].append(np.asarray(cap, np.int64))
        arrays[3].append(np.broadcast_to(np.asarray(cost, np.int64), (n,)).copy())
    tails, heads, caps, costs = (np.concatenate(a) for a in arrays)
    kinds = np.concatenate([np.full(b - a, name, dtype=object) for name, (a, b) in bounds.items()])
    supplies = np.zeros(n_nodes, dtype=np.int64)
    supplies[class_node] = c_units
    supplies[topup_node] = u_units
    supplies[demand_node] = -need
    supplies[station_node] = station_need
    supplies[z_node] = -total

    copy_region = keys % n_r if n_copy else np.empty(0, np.int64)
    copy_filter = keys // n_r if n_copy else np.empty(0, np.int64)
    labels = np.concatenate(
        [
            np.array([f"class {c}" for c in range(len(class_node))], dtype=object),
            np.array([f"top-up {i}" for i in range(n_u)], dtype=object),
            np.array(
                [f"f{f}:{code_index[r]}" for f, r in zip(copy_filter, copy_region, strict=True)],
                dtype=object,
            ),
            (demand["station"].astype(str) + "/" + demand["domain"].astype(str)).to_numpy(object),
            np.array([f"T:{c}" for c in station_codes], dtype=object),
            np.array([f"P:{t}" for t in targets], dtype=object),
            np.array(["Z"], dtype=object),
        ]
    )
    node_kinds = np.concatenate(
        [
            np.full(len(class_node), "class", dtype=object),
            np.full(n_u, "top-up", dtype=object),
            np.full(n_copy, "region", dtype=object),
            np.full(n_d, "need", dtype=object),
            np.full(n_s, "station", dtype=object),
            np.full(n_p, "partner", dtype=object),
            np.array(["sink"], dtype=object),
        ]
    )
    network = FundsNetwork(
        tails=tails,
        heads=heads,
        capacities=caps,
        costs=costs,
        supplies=supplies,
        kinds=kinds,
        bounds=bounds,
        labels=labels,
        node_kinds=node_kinds,
        class_of_lot=class_of_lot,
        entry_class=e_class,
        entry_node=e_copy,
        tree_parent=t_parent,
        tree_child=t_child,
        leaf_node=l_copy,
        leaf_demand=l_dem,
        node_rank=rank[copy_region].astype(np.int64) if n_copy else np.empty(0, np.int64),
        n_classes=len(class_node),
        reachable=reachable,
        need=need,
        deliver=deliver,
        partner_cap=partner_cap,
        station_target=station_target,
        targets=targets,
        worth=worth,
        segment_caps=caps_seg,
    )
    return network, demand, lots


def _solve_flow(network: FundsNetwork) -> tuple[int, IntArray] | None:
    _, x, cost = solve_min_cost_flow(
        network.tails, network.heads, network.capacities, network.costs, network.supplies
    )
    return None if x is None else (cost, x)


def _to_lots(
    network: FundsNetwork, lots: _Lots, x: IntArray
) -> tuple[IntArray, IntArray, IntArray]:
    """Grants as (lot position, demand position, units), cut level by level down each copy."""

    def part(name: str) -> IntArray:
        a, b = network.bounds[name]
        return x[a:b]

    keep = network.class_of_lot >= 0
    lot_pos = np.flatnonzero(keep)
    # class → entry arcs, onto the class's lots
    e_piece, e_lot, e_len = cut_segments(
        network.entry_class, part("entry"), network.class_of_lot[lot_pos], lots.units[lot_pos]
    )
    pool_node = network.entry_node[e_piece]
    pool_lot = lot_pos[e_lot]
    pool_len = e_len
    tree_flow, leaf_flow = part("tree"), part("leaf")
    g_lot: list[IntArray] = []
    g_dem: list[IntArray] = []
    g_len: list[IntArray] = []
    carried = (np.empty(0, np.int64),) * 3
    for level in sorted(set(network.node_rank.tolist())):
        at = network.node_rank[pool_node] == level
        node = np.concatenate([carried[0], pool_node[at]])
        lot = np.concatenate([carried[1], pool_lot[at]])
        length = np.concatenate([carried[2], pool_len[at]])
        t_here = network.node_rank[network.tree_parent] == level
        l_here = network.node_rank[network.leaf_node] == level
        out_key = np.concatenate([network.tree_parent[t_here], network.leaf_node[l_here]])
        out_len = np.concatenate([tree_flow[t_here], leaf_flow[l_here]])
        b, a, cut = cut_segments(out_key, out_len, node, length)
        n_tree = int(t_here.sum())
        to_tree = b < n_tree
        child = network.tree_child[np.flatnonzero(t_here)[b[to_tree]]]
        carried = (child, lot[a[to_tree]], cut[to_tree])
        leaf = np.flatnonzero(l_here)[b[~to_tree] - n_tree]
        g_lot.append(lot[a[~to_tree]])
        g_dem.append(network.leaf_demand[leaf])
        g_len.append(cut[~to_tree])
    if not g_lot:
        empty = np.empty(0, np.int64)
        return empty, empty, empty
    frame = pd.DataFrame(
        {"lot": np.concatenate(g_lot), "d": np.concatenate(g_dem), "u": np.concatenate(g_len)}
    )
    frame = frame.groupby(["lot", "d"], sort=True, as_index=False).agg(u=("u", "sum"))
    return (
        frame["lot"].to_numpy(np.int64),
        frame["d"].to_numpy(np.int64),
        frame["u"].to_numpy(np.int64),
    )


# --- eligibility, for the exact model and the invariant checker ---------------------------------


def eligible_pairs(
    scenario: Scenario, lots: _Lots, demand: pd.DataFrame, which: IntArray | None = None
) -> tuple[IntArray, IntArray]:
    """Every (lot position, demand position) the lot's restrictions allow, one lot at a time
    (only the lot positions ``which`` when given)."""
    station_codes = station_needs(scenario)["region"].to_numpy(dtype=object)
    tree = Hierarchy(scenario.regions)
    chain = [tree.positions(station_codes)]
    for _ in range(tree.depth):
        prev = chain[-1]
        chain.append(np.where(prev >= 0, tree.parent[np.maximum(prev, 0)], -1))
    anc = np.column_stack(chain)
    s_flags = _station_designations(scenario, station_codes)
    d_s = demand["s"].to_numpy(dtype=np.int64)
    d_k = demand["k"].to_numpy(dtype=np.int64)
    out_l: list[IntArray] = []
    out_d: list[IntArray] = []
    for i in range(len(lots.units)) if which is None else which.tolist():
        des, dom = int(lots.designations[i]), int(lots.domains[i])
        ok = ((dom >> d_k) & 1).astype(bool)
        if des:
            ok &= (s_flags[d_s] & des) != 0
        if lots.regions[i]:
            pos = tree.positions(list(lots.regions[i]))
            inside = np.asarray(np.isin(anc, pos[pos >= 0]).any(axis=1), dtype=bool)
            ok &= inside[d_s]
        hit = np.flatnonzero(ok)
        out_l.append(np.full(len(hit), i, dtype=np.int64))
        out_d.append(hit.astype(np.int64))
    if not out_l:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(out_l), np.concatenate(out_d)


def allowed_grants(
    scenario: Scenario, lots: _Lots, lot: IntArray, station: NDArray[Any], domain: IntArray
) -> BoolArray:
    """Element-wise: may lot position ``lot[i]`` fund (``station[i]``, domain ``domain[i]``)?"""
    n = len(lot)
    if n == 0:
        return np.zeros(0, dtype=bool)
    ok = (domain >= 0) & (((lots.domains[lot] >> np.maximum(domain, 0)) & 1) == 1)
    des = lots.designations[lot]
    flags = _station_designations(scenario, station)
    ok &= (des == 0) | ((flags & des) != 0)
    # regions: explode (grant, listed region) pairs and ask the hierarchy
    listed = [lots.regions[i] for i in lot.tolist()]
    count = np.array([len(r) for r in listed], dtype=np.int64)
    restricted = count > 0
    if restricted.any():
        row = np.repeat(np.arange(n), count)
        areas = np.array([c for r in listed for c in r], dtype=object)
        inside = Hierarchy(scenario.regions).is_within(station[row], areas)
        hit = np.zeros(n, dtype=bool)
        np.logical_or.at(hit, row[inside], True)
        ok &= ~restricted | hit
    return np.asarray(ok, dtype=bool)


# --- solving ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Allocation:
    lot: IntArray
    demand: IntArray
    units: IntArray
    unfunded: IntArray  # (demand, segment)
    cost: int


def _grants_from_flow(
    network: FundsNetwork, lots: _Lots, x: IntArray, topup: TopUp | None
) -> tuple[IntArray, IntArray, IntArray]:
    lot, dem, units = _to_lots(network, lots, x)
    if topup is not None and len(topup.pair_demand):
        a, b = network.bounds["topup"]
        fx = x[a:b]
        used = fx > 0
        lot = np.concatenate([lot, topup.lots[topup.pair_topup[used]]])
        dem = np.concatenate([dem, topup.pair_demand[used]])
        units = np.concatenate([units, fx[used]])
    return lot, dem, units


def _unfunded(network: FundsNetwork, x: IntArray) -> IntArray:
    a, b = network.bounds["unfunded"]
    return x[a:b].reshape(network.segment_caps.shape)


def _merge(
    parts: Sequence[tuple[IntArray, IntArray, IntArray]],
) -> tuple[IntArray, IntArray, IntArray]:
    frame = pd.DataFrame(
        {
            "lot": np.concatenate([p[0] for p in parts]),
            "d": np.concatenate([p[1] for p in parts]),
            "u": np.concatenate([p[2] for p in parts]),
        }
    )
    frame = (
        frame[frame["u"] > 0].groupby(["lot", "d"], sort=True, as_index=False).agg(u=("u", "sum"))
    )
    return (
        frame["lot"].to_numpy(np.int64),
        frame["d"].to_numpy(np.int64),
        frame["u"].to_numpy(np.int64),
    )


def _repair_min_grants(
    scenario: Scenario,
    stations: pd.DataFrame | None,
    pairs: pd.DataFrame | None,
    lots: _Lots,
    relaxed: tuple[IntArray, IntArray, IntArray],
    relaxed_network: FundsNetwork,
    d_s: IntArray,
) -> tuple[_Allocation, FundsNetwork]:
    """A plan that keeps every minimum grant, from the relaxed (minimum-free) flow.

    Each minimum-grant lot keeps its relaxed grants that reach its minimum; the money of its
    smaller grants (and what it left unspent) is consolidated into whole minimum grants at the
    needs where its relaxed grants were largest, while need and delivery room allow; then the
    flow is re-solved with those grants fixed, the lot free to top them up, and every other
    lot routed as before."""
    lot, dem, units = relaxed
    n_d = len(relaxed_network.need)
    minimum = lots.min_units[lot]
    kept = (minimum > 0) & (units >= minimum)
    fixed = np.bincount(dem[kept], weights=units[kept], minlength=n_d).astype(np.int64)

    # delivery room left after the kept grants: the station's own, then its target's pool
    net = relaxed_network
    used_s = np.bincount(d_s, weights=fixed, minlength=len(net.deliver)).astype(np.int64)
    room_s = net.deliver - used_s
    in_t = net.station_target >= 0
    room_t = net.partner_cap - np.bincount(
        net.station_target[in_t], weights=np.maximum(-room_s[in_t], 0), minlength=len(net.targets)
    ).astype(np.int64)
    room_d = net.need - fixed

    spent = np.bincount(lot, weights=units, minlength=len(lots.units)).astype(np.int64)
    small = np.flatnonzero((minimum > 0) & ~kept)
    order = small[np.lexsort((-units[small], lot[small]))]
    budget: dict[int, int] = {}
    new_lot: list[int] = []
    new_dem: list[int] = []
    for i in order.tolist():
        lot_i, d = int(lot[i]), int(dem[i])
        if lot_i not in budget:
            small_units = int(units[small][lot[small] == lot_i].sum())
            budget[lot_i] = small_units + int(lots.units[lot_i] - spent[lot_i])
        m = int(lots.min_units[lot_i])
        if budget[lot_i] < m or room_d[d] < m:
            continue
        s = int(d_s[d])
        t = int(net.station_target[s])
        own = max(int(room_s[s]), 0)
        pool = int(room_t[t]) if t >= 0 else 0
        if own + pool < m:
            continue
        room_s[s] -= m
        if t >= 0 and m > own:
            room_t[t] -= m - own
        room_d[d] -= m
        fixed[d] += m
        budget[lot_i] -= m
        new_lot.append(lot_i)
        new_dem.append(d)

    f_lot = np.concatenate([lot[kept], np.array(new_lot, dtype=np.int64)])
    f_dem = np.concatenate([dem[kept], np.array(new_dem, dtype=np.int64)])
    f_units = np.concatenate([units[kept], lots.min_units[np.array(new_lot, dtype=np.int64)]])
    bound_lots = np.flatnonzero(lots.min_units > 0)
    given = np.bincount(f_lot, weights=f_units, minlength=len(lots.units)).astype(np.int64)
    index = pd.Index(bound_lots)
    topup = TopUp(
        lots=bound_lots.astype(np.int64),
        units=np.maximum(lots.units[bound_lots] - given[bound_lots], 0).astype(np.int64),
        pair_topup=index.get_indexer(pd.Index(f_lot)).astype(np.int64),
        pair_demand=f_dem.astype(np.int64),
    )
    network, _, _ = funds_network(
        scenario, stations, pairs, lots_mask=lots.min_units == 0, fixed=fixed, topup=topup
    )
    solved = _solve_flow(network)
    if solved is None:  # cannot happen: the fixed grants fit need and delivery
        raise RuntimeError("the funds repair flow found no solution")
    cost, x = solved
    extra = _grants_from_flow(network, lots, x, topup)
    merged = _merge([(f_lot, f_dem, f_units), extra])
    return _Allocation(*merged, unfunded=_unfunded(network, x), cost=cost), network


def _exact_min_grants(
    scenario: Scenario,
    network: FundsNetwork,
    lots: _Lots,
    pair_l: IntArray,
    pair_d: IntArray,
    d_s: IntArray,
    hint: _Allocation | None,
    time_limit_s: float,
    seed: int,
    workers: int,
    stop: StopRule = never,
    progress: Reporter = silent,
) -> tuple[_Allocation | None, float, str]:
    """The lot × need model with minimum grants, by CP-SAT: (allocation, bound, status)."""
    model = cp_model.CpModel()
    need = network.need
    n_d, n_seg = network.segment_caps.shape
    ub = np.minimum(lots.units[pair_l], need[pair_d])
    g = [model.new_int_var(0, int(u), f"g{i}") for i, u in enumerate(ub)]
    for i in np.flatnonzero(lots.min_units[pair_l] > 0):
        m = int(lots.min_units[pair_l[i]])
        if m > ub[i]:
            model.add(g[i] == 0)
            continue
        y = model.new_bool_var(f"y{i}")
        model.add(g[i] >= m).only_enforce_if(y)
        model.add(g[i] == 0).only_enforce_if(~y)
    u = [
        [model.new_int_var(0, int(network.segment_caps[d, j]), f"u{d}_{j}") for j in range(n_seg)]
        for d in range(n_d)
    ]
    by_demand = pd.Series(np.arange(len(pair_d))).groupby(pair_d).apply(list)
    for d in range(n_d):
        items = by_demand.get(d, [])
        model.add(sum(g[i] for i in items) + sum(u[d]) == int(need[d]))
    for lot_i in np.unique(pair_l).tolist():
        items = np.flatnonzero(pair_l == lot_i).tolist()
        model.add(sum(g[i] for i in items) <= int(lots.units[lot_i]))
    # delivery: a station's funded units within its capacity plus what it draws from partners
    n_s = len(network.deliver)
    draw = [model.new_int_var(0, int(need.sum()), f"p{s}") for s in range(n_s)]
    funded_by_station = pd.Series(np.arange(len(pair_d))).groupby(d_s[pair_d]).apply(list)
    for s in range(n_s):
        items = funded_by_station.get(s, [])
        if network.station_target[s] < 0:
            model.add(draw[s] == 0)
        model.add(sum(g[i] for i in items) <= int(network.deliver[s]) + draw[s])
    for t in range(len(network.targets)):
        members = np.flatnonzero(network.station_target == t)
        model.add(sum(draw[int(s)] for s in members) <= int(network.partner_cap[t]))
    model.minimize(
        sum(
            int(network.worth[d, j]) * u[d][j]
            for d in range(n_d)
            for j in range(n_seg)
            if network.segment_caps[d, j] > 0
        )
    )
    if hint is not None:
        hinted = dict(
            zip(
                zip(hint.lot.tolist(), hint.demand.tolist(), strict=True),
                hint.units.tolist(),
                strict=True,
            )
        )
        for pos_i, key in enumerate(zip(pair_l.tolist(), pair_d.tolist(), strict=True)):
            model.add_hint(g[pos_i], int(hinted.get(key, 0)))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit_s)
    solver.parameters.random_seed = int(seed)
    solver.parameters.num_workers = int(workers)
    with interrupting(stop, solver.stop_search):
        status = solver.solve(model, CpSatReporter(progress, "unfunded_worth"))
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, float(solver.best_objective_bound), "not_solved"
    values = np.array([solver.value(v) for v in g], dtype=np.int64)
    used = values > 0
    unfunded = np.array([[solver.value(v) for v in row] for row in u], dtype=np.int64).reshape(
        n_d, n_seg
    )
    # the worth of what is left unfunded, from the integer solution (objective_value is a float)
    cost = int((network.worth * unfunded).sum())
    allocation = _Allocation(pair_l[used], pair_d[used], values[used], unfunded, cost)
    proven = "optimal" if status == cp_model.OPTIMAL else "feasible"
    return allocation, float(solver.best_objective_bound), proven


def solve_funds(
    scenario: Scenario,
    stations: pd.DataFrame | None = None,
    pairs: pd.DataFrame | None = None,
    *,
    time_limit_s: float | None = None,
    seed: int | None = None,
    workers: int | None = None,
    exact_limit: int = EXACT_LIMIT,
    stop: StopRule = never,
    progress: Reporter = silent,
) -> FundsResult:
    """Allocate the money lots to (station, domain) needs (see the module docstring).

    ``stations`` is the staffing stage's stations table (assigned FTE give the delivery
    capacity; None: no capacity, nothing is delivered), ``pairs`` the pairing stage's pairs
    (partners add delivery capacity to their targets). Without minimum grants the flow is
    exact; with them, CP-SAT solves the lot × need model when it has at most ``exact_limit``
    variables, else the repaired flow plan is reported with its gap to the flow bound.
    ``stop`` ends the CP-SAT search early (the repaired plan is its starting point); ``progress``
    hears of each better plan it finds.
    """
    started = time.perf_counter()
    solver = scenario.policy.solver
    limit = solver.time_limit_s if time_limit_s is None else time_limit_s
    network, demand, lots = funds_network(scenario, stations, pairs)
    _, listing = _money_lots(scenario)
    solved = _solve_flow(network)
    if solved is None:  # cannot happen: every supply has a zero-cost way to the sink
        raise RuntimeError("the funds flow found no solution")
    bound_cost, x = solved
    relaxed = _grants_from_flow(network, lots, x, None)
    allocation = _Allocation(*relaxed, unfunded=_unfunded(network, x), cost=bound_cost)
    d_s = demand["s"].to_numpy(dtype=np.int64)
    status, method, bound = "optimal", "min_cost_flow", float(bound_cost)
    note = ""
    minimum = lots.min_units[allocation.lot]
    violated = bool(((minimum > 0) & (allocation.units < minimum)).any())
    if violated:
        repaired, _ = _repair_min_grants(scenario, stations, pairs, lots, relaxed, network, d_s)
        pair_l, pair_d = np.empty(0, np.int64), np.empty(0, np.int64)
        small = int((lots.units > 0).sum()) * len(demand) <= exact_limit
        if small:
            pair_l, pair_d = eligible_pairs(scenario, lots, demand)
            keep = lots.units[pair_l] > 0
            pair_l, pair_d = pair_l[keep], pair_d[keep]
        if small and len(pair_l) <= exact_limit:
            exact, cp_bound, cp_status = _exact_min_grants(
                scenario,
                network,
                lots,
                pair_l,
                pair_d,
                d_s,
                repaired,
                limit,
                solver.seed if seed is None else seed,
                solver.workers if workers is None else workers,
                stop,
                progress,
            )
            # the objective is integral: CP-SAT's float bound may be rounded up
            bound = max(bound, math.ceil(cp_bound - 1e-6)) if math.isfinite(cp_bound) else bound
            if exact is not None and exact.cost <= repaired.cost:
                allocation, method, status = exact, "cp_sat", cp_status
                if cp_status == "optimal":
                    bound = float(exact.cost)
            else:
                allocation, method, status = repaired, "min_cost_flow+repair", "feasible"
        else:
            allocation, method, status = repaired, "min_cost_flow+repair", "feasible"
            note = "; minimum grants: flow bound without them, plan repaired"
        if allocation.cost <= bound + TOL:
            status = "optimal"
    gap = relative_gap(float(allocation.cost), bound)
    unit = scenario.policy.funds.unit_yuan
    full_need = need_units(demand["yuan"].to_numpy(dtype=float), unit)
    granted = np.bincount(allocation.demand, weights=allocation.units, minlength=len(demand))
    granted = granted.astype(np.int64)
    short = full_need - granted
    funded_s = np.bincount(d_s, weights=granted, minlength=len(network.deliver)).astype(np.int64)
    saturated = _delivery_saturated(network, funded_s)
    spent = np.bincount(allocation.lot, weights=allocation.units, minlength=len(lots.units))
    # a need some lot with money left may fund: that lot's minimum grant is what stops it
    left = np.flatnonzero((lots.units - spent > 0) & (lots.min_units > 0))
    below = np.zeros(len(demand), dtype=bool)
    if len(left):
        below[eligible_pairs(scenario, lots, demand, left)[1]] = True
    table = _demand_table(
        demand,
        full_need,
        granted,
        short,
        network.reachable,
        saturated[d_s],
        below,
        stations is None,
        unit,
    )
    if lots.regions and not network.reachable.all():
        # top-up and exact paths never reach beyond the classes' reach: nothing to add
        pass
    grants = _grants_table(scenario, lots, demand, allocation, unit)
    lot_table = _lots_table(listing, lots, spent.astype(np.int64), allocation, unit)
    objectives = {
        "weighted_unmet": float(allocation.cost),
        "granted_yuan": float(granted.sum() * unit),
    }
    report = StageReport(
        STAGE,
        method,
        status,  # type: ignore[arg-type]
        objectives,
        {"weighted_unmet": bound, "granted_yuan": objectives["granted_yuan"]},
        gap,
        time.perf_counter() - started,
        len(network.tails),
        len(network.supplies),
        f"{len(lots.units)} money lots in {network.n_classes} classes, {len(demand)} (station, "
        f"domain) needs, {int((network.kinds == 'tree').sum())} region-tree arcs; units of "
        f"¥{unit:,}"
        + note
        + ("; no staffing given, so no delivery capacity" if stations is None else ""),
    )
    return FundsResult(grants, table, lot_table, report, int(allocation.cost))


def _delivery_saturated(network: FundsNetwork, funded_s: IntArray) -> BoolArray:
    """Per station: its own capacity and its target's partner pool are used up."""
    own_full = funded_s >= network.deliver
    over = np.maximum(funded_s - network.deliver, 0)
    in_t = network.station_target >= 0
    pool_used = np.bincount(
        network.station_target[in_t], weights=over[in_t], minlength=len(network.targets)
    )
    pool_full = np.ones(len(network.deliver), dtype=bool)
    pool_full[in_t] = (
        pool_used[network.station_target[in_t]] >= network.partner_cap[network.station_target[in_t]]
    )
    return own_full & pool_full


def _demand_table(
    demand: pd.DataFrame,
    need: IntArray,
    granted: IntArray,
    short: IntArray,
    reachable: BoolArray,
    saturated: BoolArray,
    below_minimum: BoolArray,
    no_staffing: bool,
    unit: int,
) -> pd.DataFrame:
    """One row per (station, domain) need. Reason of a shortfall, first that applies: no lot
    may fund it; the station cannot deliver more; a lot with money left may fund it but only
    in grants of at least its minimum; else every lot that may fund it is spent (at the
    optimum an eligible unit left unspent with free delivery and no minimum would be granted)."""
    code = np.select(
        [short <= 0, ~reachable, saturated, below_minimum],
        ["", "donor_restriction", "delivery_capacity", "minimum_grant"],
        default="budget_exhausted",
    ).astype(object)
    delivery_reason = REASONS["delivery_capacity"] + (NO_STAFFING_NOTE if no_staffing else "")
    labels = {**REASONS, "delivery_capacity": delivery_reason, "": ""}
    return pd.DataFrame(
        {
            "station": demand["station"].to_numpy(dtype=object),
            "name": demand["name"].to_numpy(dtype=object),
            "county": demand["county"].to_numpy(dtype=object),
            "priority": demand["priority"].to_numpy(dtype=np.int64),
            "domain": demand["domain"].to_numpy(dtype=object),
            "need_yuan": (need * unit).astype(np.int64),
            "granted_yuan": (granted * unit).astype(np.int64),
            "shortfall_yuan": (short * unit).astype(np.int64),
            "reason_code": code,
            "reason": pd.Series(code).map(labels).to_numpy(dtype=object),
        },
        columns=list(DEMAND_COLUMNS),
    )


def _grants_table(
    scenario: Scenario, lots: _Lots, demand: pd.DataFrame, allocation: _Allocation, unit: int
) -> pd.DataFrame:
    table = lots.table
    d = allocation.demand

    def column(name: str, default: str) -> NDArray[np.object_]:
        values = table.get(name, pd.Series(default, index=table.index)).fillna(default)
        return values.to_numpy(dtype=object)[allocation.lot]

    return pd.DataFrame(
        {
            "lot": table["id"].to_numpy(dtype=object)[allocation.lot],
            "donor": column("donor", ""),
            "donor_type": column("donor_type", "foundation"),
            "earmark": column("earmark", "none"),
            "station": demand["station"].to_numpy(dtype=object)[d],
            "name": demand["name"].to_numpy(dtype=object)[d],
            "county": demand["county"].to_numpy(dtype=object)[d],
            "domain": demand["domain"].to_numpy(dtype=object)[d],
            "amount_yuan": (allocation.units * unit).astype(np.int64),
        },
        columns=list(GRANT_COLUMNS),
    )


def _lots_table(
    listing: pd.DataFrame, lots: _Lots, spent: IntArray, allocation: _Allocation, unit: int
) -> pd.DataFrame:
    ids = listing["id"].to_numpy(dtype=object)
    granted = pd.Series(spent * unit, index=lots.table["id"].to_numpy(dtype=object))
    count = pd.Series(np.bincount(allocation.lot, minlength=len(lots.units)), index=granted.index)
    got = granted.reindex(ids).fillna(0).to_numpy(dtype=np.int64)
    money = listing["note"].to_numpy(dtype=object) == ""
    amount = listing["amount"].to_numpy(dtype=float)
    unused = np.where(money, amount - got, 0.0)

    def column(name: str, default: Any) -> NDArray[Any]:
        return listing.get(name, pd.Series(default, index=listing.index)).fillna(default).to_numpy()

    return pd.DataFrame(
        {
            "lot": ids,
            "donor": column("donor", ""),
            "donor_type": column("donor_type", "foundation"),
            "kind": column("kind", "funds"),
            "amount": amount,
            "unit": column("unit", "yuan"),
            "min_grant": column("min_grant", 0.0).astype(float),
            "granted_yuan": got,
            "unused_yuan": unused,
            "grants": count.reindex(ids).fillna(0).to_numpy(dtype=np.int64),
            "note": listing["note"].to_numpy(dtype=object),
        },
        columns=list(LOT_COLUMNS),
    )


# --- invariants -------------------------------------------------------------------------------


def check_funds_invariants(
    scenario: Scenario,
    stations: pd.DataFrame | None,
    pairs: pd.DataFrame | None,
    result: FundsResult,
) -> list[str]:
    """Rules every funds plan keeps; returns one message per violation (empty: all kept).

    Per lot: grants within its amount, each at least its minimum, only money lots, only where
    its designation, region, domain and earmark restrictions allow. Per (station, domain):
    granted = the grants' sum, granted + shortfall = need as the rule gives, a reason for every
    shortfall. Per station: funded within its delivery capacity plus what its 牵手 target's
    partner pool still has (the pools shared by the target's stations).
    """
    problems: list[str] = []
    unit = scenario.policy.funds.unit_yuan
    lots, _ = _money_lots(scenario)
    grants = result.grants
    table = result.fund_demand
    lot_index = pd.Index(lots.table["id"].to_numpy(dtype=object))
    at = lot_index.get_indexer(pd.Index(grants["lot"].to_numpy(dtype=object)))
    problems += [f"grant from {g} which is not a money lot" for g in grants["lot"][at < 0]]
    grants = grants[at >= 0]
    at = at[at >= 0]
    amount = grants["amount_yuan"].to_numpy(dtype=float)
    if (amount <= 0).any():
        problems.append("a grant with no positive amount")
    # per lot: amount and minimum
    spent = np.bincount(at, weights=amount, minlength=len(lots.units))
    have = lots.table["amount"].to_numpy(dtype=float)
    for i in np.flatnonzero(spent > have + TOL):
        problems.append(f"lot {lot_index[i]}: ¥{spent[i]:,.0f} granted, has ¥{have[i]:,.0f}")
    minimum = lots.table.get("min_grant", pd.Series(0.0, index=lots.table.index)).fillna(0.0)
    small = amount < minimum.to_numpy(dtype=float)[at] - TOL
    small &= lots.min_units[at] > 0
    for lot, st, a in zip(
        grants["lot"][small], grants["station"][small], amount[small], strict=True
    ):
        problems.append(f"lot {lot} → {st}: ¥{a:,.0f} below its minimum grant")
    # restrictions, checked on the granted pairs only
    demand = fund_needs(scenario)
    codes = grants["station"].to_numpy(dtype=object)
    k = pd.Index(DOMAIN_ORDER).get_indexer(pd.Index(grants["domain"].to_numpy(dtype=object)))
    ok = allowed_grants(scenario, lots, at, codes, k)
    for lot, st, d in zip(grants["lot"][~ok], codes[~ok], grants["domain"][~ok], strict=True):
        problems.append(f"lot {lot} → {st}/{d}: its restrictions do not allow it")
    # per (station, domain)
    t = table.set_index(["station", "domain"])
    got = grants.groupby(["station", "domain"])["amount_yuan"].sum()
    extra = got.index.difference(t.index)
    problems += [f"grant to {s}/{d} which has no need row" for s, d in extra]
    got = got.reindex(t.index).fillna(0)
    if ((t["granted_yuan"] - got).abs() > TOL).any():
        problems.append("fund_demand.granted_yuan differs from the grants")
    if ((t["granted_yuan"] + t["shortfall_yuan"] - t["need_yuan"]).abs() > TOL).any():
        problems.append("granted + shortfall ≠ need at some (station, domain)")
    if (t["shortfall_yuan"] < -TOL).any():
        problems.append("negative shortfall")
    want = pd.Series(
        need_units(demand["yuan"].to_numpy(dtype=float), unit) * unit,
        index=pd.MultiIndex.from_arrays([demand["station"], demand["domain"]]),
    )
    if (
        not t.index.sort_values().equals(want.index.sort_values())
        or ((t["need_yuan"] - want.reindex(t.index)).abs() > TOL).any()
    ):
        problems.append("(station, domain) needs differ from the need rule")
    if ((t["shortfall_yuan"] > 0) & (t["reason_code"] == "")).any():
        problems.append("a fund shortfall without a reason")
    # delivery
    codes = station_needs(scenario)["region"].to_numpy(dtype=object)
    deliver, partner_cap, station_target, _ = _delivery(scenario, codes, stations, pairs)
    funded = (
        grants.groupby("station")["amount_yuan"].sum().reindex(pd.Index(codes)).fillna(0.0)
    ).to_numpy(dtype=float) / unit
    over = np.maximum(funded - deliver, 0)
    outside = (station_target < 0) & (over > TOL)
    problems += [f"station {c}: funds beyond its delivery capacity" for c in codes[outside]]
    in_t = station_target >= 0
    drawn = np.bincount(station_target[in_t], weights=over[in_t], minlength=len(partner_cap))
    for i in np.flatnonzero(drawn > partner_cap + TOL):
        problems.append(f"牵手 target #{i}: partners asked to deliver beyond their capacity")
    return problems
