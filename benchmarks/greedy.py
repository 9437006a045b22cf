"""Greedy planners for staffing, volunteers and funds: the rules a planner would use by hand.

Staffing and volunteers are nearest-first: stations are served one at a time, in order of
priority (highest first), then need (largest first), then their order in the regions table. Each
station takes the nearest available supply within reach until its need is met:

- **staffing** — social-worker pools within the pool's reach (``max_km``, else
  ``policy.staffing.max_km``), nearest first; when local workers do not cover the need, the
  organizations paired with the station or its county (the pairing stage's ``pairs``) dispatch
  workers, nearest organization first, within their dispatch share
  (``policy.staffing.dispatch_share`` × the organization's FTE) and their pools' remaining FTE;
- **volunteers** — per (station, domain) need, largest need first within a station, the nearest
  volunteer pools within reach that have the skill (empty skills: any domain), never more hours
  at a station than its social workers can supervise (``floor(assigned FTE ×
  hours_per_supervisor)``, with ``assigned`` from the staffing plan handed over — the greedy
  staffing when the greedy plans are chained).

Funds (``greedy_funds``) have no distance: (station, domain) needs by priority then size, each
from the largest lot its restrictions allow first, within its station's delivery capacity and
honouring minimum grants (see its docstring).

Units and needs are exactly the solvers': ``station_needs`` with ``need_units`` / ``supply_units``
(0.1 FTE), ``volunteer_needs`` with ``need_hours`` / ``supply_hours`` / ``supervision_hours``
(whole hours), ``skill_matrix`` for skills; for funds ``fund_needs``, ``need_units``,
``segment_caps`` and ``segment_worth`` (lots, restrictions and delivery are read again from the
funds docstring in ``funds_inputs``). "Within reach" comes from the k-d tree in
``linkage.geo.PointIndex``; the per-station step is a vectorised cumulative take over the
station's candidates sorted by distance, so the Python loop runs once per station (or per
(station, domain)), never per pool.

Each planner returns the same result classes as the solvers (with a ``feasible`` StageReport,
method ``greedy_nearest_first``, ``greedy_largest_lot_first`` for funds), so the solvers'
invariant checks apply to it unchanged, and a ``GreedyOutcome`` with the priority-weighted unmet
need (Σ priority × shortfall; for funds the stage's W, Σ worth of the unfunded units), the
measure the solvers minimise first. ``GREEDY`` maps a pipeline stage name to its greedy planner;
a stage is compared by adding its entry there (see ``benchmarks/henan_scale.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from linkage.geo import PointIndex, haversine_km, region_coords, whole_km
from linkage.scenario.core import Scenario
from linkage.solvers.needs import station_needs
from linkage.solvers.report import StageReport
from linkage.solvers.staffing import (
    SCALE,
    StaffingResult,
    check_staffing_invariants,
    need_units,
    supply_units,
)
from linkage.solvers.volunteers import (
    DOMAIN_ORDER,
    VolunteerResult,
    check_volunteer_invariants,
    need_hours,
    skill_matrix,
    supervision_hours,
    supply_hours,
    volunteer_needs,
)

METHOD = "greedy_nearest_first"
IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


@dataclass
class GreedyOutcome:
    """One greedy stage: its result (the solver's result class), the priority-weighted unmet and
    total need in ``unit``, what later greedy stages may use (``carry``, the pipeline's keys) and
    the invariant violations found (empty: the greedy plan keeps every rule)."""

    stage: str
    unit: str
    weighted_unmet: float
    weighted_need: float
    wall_s: float
    result: Any
    carry: dict[str, Any] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)


GreedyFn = Callable[[Scenario, Mapping[str, Any], bool], GreedyOutcome]


def _by_station(
    pools_lat: FloatArray,
    pools_lon: FloatArray,
    reach: FloatArray,
    s_lat: FloatArray,
    s_lon: FloatArray,
) -> tuple[IntArray, FloatArray, IntArray]:
    """Every (pool, station) within the pool's reach, grouped by station, nearest first (ties:
    pool order): pools, km, and the CSR start of every station (length n_stations + 1)."""
    p, s, km = PointIndex(s_lat, s_lon).within_km(pools_lat, pools_lon, reach)
    order = np.lexsort((p, km, s))
    p, s, km = p[order], s[order], km[order]
    start = np.searchsorted(s, np.arange(len(s_lat) + 1), side="left").astype(np.int64)
    return p, km, start


def _take(left: IntArray, idx: IntArray, wanted: int) -> IntArray:
    """Take up to ``wanted`` from ``left[idx]`` in order (first come first); returns the amounts
    taken per position (``left`` is reduced in place)."""
    avail = left[idx]
    before = np.cumsum(avail) - avail
    take = np.clip(wanted - before, 0, avail).astype(np.int64)
    left[idx] -= take
    return take


def _station_order(priority: IntArray, need: FloatArray) -> IntArray:
    """Priority (highest first), then need (largest first), then position."""
    n = len(priority)
    return np.lexsort((np.arange(n), -np.asarray(need, float), -priority)).astype(np.int64)


def greedy_staffing(
    scenario: Scenario, upstream: Mapping[str, Any], check: bool = True
) -> GreedyOutcome:
    """Nearest-first staffing (see the module docstring); ``upstream['pairs']`` enables dispatch."""
    started = time.perf_counter()
    policy = scenario.policy.staffing
    regions = scenario.regions
    needs = station_needs(scenario)
    n_s = len(needs)
    need = need_units(needs["need"].to_numpy(dtype=float))
    priority = needs["priority"].to_numpy(dtype=np.int64)
    workers = scenario.tables["social_workers"].reset_index(drop=True)
    supply = supply_units(
        workers["count"].to_numpy(dtype=float), workers["fte"].to_numpy(dtype=float)
    )
    left = supply.copy()

    p_lat, p_lon = region_coords(regions, workers["region"].to_numpy(dtype=object))
    s_lat, s_lon = region_coords(regions, needs["region"].to_numpy(dtype=object))
    reach = workers["max_km"].fillna(policy.max_km).to_numpy(dtype=float)
    cand_p, cand_km, start = _by_station(p_lat, p_lon, reach, s_lat, s_lon)

    # dispatch along the pairs: (org, station) when the station or its county is a target
    pairs = upstream.get("pairs")
    used_pairs = pd.DataFrame({"org": pd.Series(dtype=object), "target": pd.Series(dtype=object)})
    dispatch: dict[int, list[tuple[float, int]]] = {}
    org_pools: list[IntArray] = []
    hub_left = np.zeros(0, dtype=np.int64)
    if pairs is not None and len(pairs):
        used_pairs = pairs[["org", "target"]].astype(object).drop_duplicates()
        used_pairs = used_pairs[used_pairs["org"].isin(set(scenario.organizations["id"]))]
        st = pd.DataFrame(
            {
                "s": np.arange(n_s),
                "region": needs["region"].to_numpy(dtype=object),
                "county": needs["county"].to_numpy(dtype=object),
            }
        )
        dest = pd.concat(
            [
                used_pairs.merge(st, left_on="target", right_on="county")[["org", "s"]],
                used_pairs.merge(st, left_on="target", right_on="region")[["org", "s"]],
            ]
        ).drop_duplicates()
        orgs = pd.Index(pd.unique(dest["org"].to_numpy(dtype=object)))
        pool_hub = orgs.get_indexer(pd.Index(workers["org"].astype(object).to_numpy()))
        org_pools = [np.flatnonzero(pool_hub == h).astype(np.int64) for h in range(len(orgs))]
        hub_left = np.array(
            [int(np.floor(policy.dispatch_share * supply[p].sum() + 1e-9)) for p in org_pools],
            dtype=np.int64,
        )
        org_region = scenario.organizations.set_index("id").loc[orgs, "region"]
        o_lat, o_lon = region_coords(regions, org_region.to_numpy(dtype=object))
        d_h = orgs.get_indexer(pd.Index(dest["org"].to_numpy(dtype=object)))
        d_s = dest["s"].to_numpy(dtype=np.int64)
        d_km = haversine_km(o_lat[d_h], o_lon[d_h], s_lat[d_s], s_lon[d_s])
        for h, s, km in zip(d_h.tolist(), d_s.tolist(), d_km.tolist(), strict=True):
            dispatch.setdefault(s, []).append((km, h))
        for options in dispatch.values():
            options.sort()

    assigned = np.zeros(n_s, dtype=np.int64)
    rows: list[tuple[IntArray, IntArray, IntArray, FloatArray, str]] = []
    for s in _station_order(priority, need).tolist():
        want = int(need[s])
        if want <= 0:
            continue
        idx = cand_p[start[s] : start[s + 1]]
        if len(idx):
            take = _take(left, idx, want)
            on = take > 0
            if on.any():
                got = int(take.sum())
                want -= got
                assigned[s] += got
                km = cand_km[start[s] : start[s + 1]][on]
                rows.append((idx[on], np.full(int(on.sum()), s), take[on], km, "local"))
        for km_h, h in dispatch.get(s, []):
            if want <= 0:
                break
            amount = min(want, int(hub_left[h]), int(left[org_pools[h]].sum()))
            if amount <= 0:
                continue
            take = _take(left, org_pools[h], amount)
            on = take > 0
            hub_left[h] -= amount
            want -= amount
            assigned[s] += amount
            n_on = int(on.sum())
            rows.append(
                (org_pools[h][on], np.full(n_on, s), take[on], np.full(n_on, km_h), "dispatch")
            )

    pool_ids = workers["id"].to_numpy(dtype=object)
    pool_org = workers["org"].astype(object).to_numpy()
    p_all = np.concatenate([r[0] for r in rows]) if rows else np.zeros(0, np.int64)
    s_all = np.concatenate([r[1] for r in rows]) if rows else np.zeros(0, np.int64)
    staffing = pd.DataFrame(
        {
            "pool": pool_ids[p_all],
            "org": pool_org[p_all],
            "station": needs["region"].to_numpy(dtype=object)[s_all],
            "workers": (np.concatenate([r[2] for r in rows]) if rows else np.zeros(0)) / SCALE,
            "distance_km": whole_km(np.concatenate([r[3] for r in rows]) if rows else np.zeros(0)),
            "via": np.concatenate([np.full(len(r[0]), r[4], dtype=object) for r in rows])
            if rows
            else np.zeros(0, dtype=object),
        }
    )
    short = need - assigned
    stations = pd.DataFrame(
        {
            "region": needs["region"].to_numpy(dtype=object),
            "name": needs["name"].to_numpy(dtype=object),
            "county": needs["county"].to_numpy(dtype=object),
            "priority": priority,
            "rule": needs["rule"].to_numpy(dtype=object),
            "need": need / SCALE,
            "assigned": assigned / SCALE,
            "coverage": np.where(need > 0, assigned / np.maximum(need, 1), 1.0),
            "shortfall": short / SCALE,
            "reason_code": np.where(short > 0, "greedy", "").astype(object),
            "reason": "",
        }
    )
    unmet = float((priority * short).sum() / SCALE)
    wall = time.perf_counter() - started
    report = StageReport(
        stage="staffing",
        method=METHOD,
        status="feasible",
        objectives={
            "weighted_shortfall": unmet,
            "distance_km": float((staffing["workers"] * staffing["distance_km"]).sum()),
        },
        gap=float("nan"),
        wall_s=wall,
        variables=len(cand_p),
        message=f"{len(cand_p)} (pool, station) pairs in reach, {len(dispatch)} stations "
        f"with dispatch",
    )
    result = StaffingResult(staffing, stations, used_pairs, report, 0, (0, 0))
    return GreedyOutcome(
        stage="staffing",
        unit="FTE",
        weighted_unmet=unmet,
        weighted_need=float((priority * need).sum() / SCALE),
        wall_s=wall,
        result=result,
        carry={"staffing": staffing, "stations": stations},
        violations=check_staffing_invariants(scenario, result) if check else [],
    )


def greedy_volunteers(
    scenario: Scenario, upstream: Mapping[str, Any], check: bool = True
) -> GreedyOutcome:
    """Nearest-first volunteers under the supervision of ``upstream['stations']`` (the staffing
    plan's stations table: region, assigned FTE; none: nothing can be supervised)."""
    started = time.perf_counter()
    policy = scenario.policy.volunteers
    regions = scenario.regions
    demand = volunteer_needs(scenario)
    station_codes = station_needs(scenario)["region"].to_numpy(dtype=object)
    n_s, n_d = len(station_codes), len(demand)
    need = need_hours(demand["hours"].to_numpy(dtype=float))
    d_s = demand["s"].to_numpy(dtype=np.int64)
    d_k = demand["k"].to_numpy(dtype=np.int64)
    d_prio = demand["priority"].to_numpy(dtype=np.int64)
    stations = upstream.get("stations")
    if stations is None or stations.empty:
        sup = np.zeros(n_s, dtype=np.int64)
    else:
        got = stations.groupby("region")["assigned"].sum().reindex(pd.Index(station_codes))
        sup = supervision_hours(got.fillna(0.0).to_numpy(dtype=float), policy.hours_per_supervisor)

    pools = scenario.tables["volunteers"].reset_index(drop=True)
    left = supply_hours(pools["count"].to_numpy(dtype=float), pools["hours"].to_numpy(dtype=float))
    skill = skill_matrix(pools["skills"])
    reach = pools["max_km"].fillna(policy.max_km).to_numpy(dtype=float)
    p_lat, p_lon = region_coords(regions, pools["region"].to_numpy(dtype=object))
    s_lat, s_lon = region_coords(regions, station_codes)
    cand_p, cand_km, start = _by_station(p_lat, p_lon, reach, s_lat, s_lon)

    # per station its (station, domain) rows, largest need first
    d_order = np.lexsort((d_k, -need, d_s))
    d_start = np.searchsorted(d_s[d_order], np.arange(n_s + 1), side="left")
    station_need = np.bincount(d_s, weights=need, minlength=n_s)
    station_prio = np.ones(n_s, dtype=np.int64)
    station_prio[d_s] = d_prio

    assigned = np.zeros(n_d, dtype=np.int64)
    reachable = np.zeros(n_d, dtype=bool)
    rows: list[tuple[IntArray, int, IntArray, FloatArray]] = []
    for s in _station_order(station_prio, station_need).tolist():
        rows_s = d_order[d_start[s] : d_start[s + 1]]
        if len(rows_s) == 0:
            continue
        idx = cand_p[start[s] : start[s + 1]]
        km = cand_km[start[s] : start[s + 1]]
        cap = int(sup[s])
        for d in rows_s.tolist():
            has = skill[idx, d_k[d]]
            reachable[d] = bool(has.any())
            want = min(int(need[d]), cap)
            if want <= 0 or not reachable[d]:
                continue
            q = idx[has]
            take = _take(left, q, want)
            on = take > 0
            got = int(take.sum())
            assigned[d] = got
            cap -= got
            rows.append((q[on], d, take[on], km[has][on]))

    p_all = np.concatenate([r[0] for r in rows]) if rows else np.zeros(0, np.int64)
    d_all = np.concatenate([np.full(len(r[0]), r[1]) for r in rows]) if rows else p_all
    plan = pd.DataFrame(
        {
            "pool": pools["id"].to_numpy(dtype=object)[p_all],
            "station": station_codes[d_s[d_all]],
            "domain": np.array(DOMAIN_ORDER, dtype=object)[d_k[d_all]],
            "hours": np.concatenate([r[2] for r in rows]) if rows else np.zeros(0, np.int64),
            "distance_km": whole_km(np.concatenate([r[3] for r in rows]) if rows else np.zeros(0)),
        }
    )
    short = need - assigned
    table = pd.DataFrame(
        {
            "station": demand["station"].to_numpy(dtype=object),
            "name": demand["name"].to_numpy(dtype=object),
            "domain": demand["domain"].to_numpy(dtype=object),
            "need_hours": need,
            "assigned_hours": assigned,
            "shortfall_hours": short,
            "reason_code": np.where(
                short > 0, np.where(reachable, "greedy", "no_volunteer_in_reach"), ""
            ).astype(object),
            "reason": "",
        }
    )
    unmet = float((d_prio * short).sum())
    wall = time.perf_counter() - started
    report = StageReport(
        stage="volunteers",
        method=METHOD,
        status="feasible",
        objectives={
            "weighted_shortfall_hours": unmet,
            "distance": float((plan["hours"] * plan["distance_km"]).sum()),
        },
        gap=float("nan"),
        wall_s=wall,
        variables=len(cand_p),
        message=f"{len(cand_p)} (pool, station) pairs in reach, {n_d} (station, domain) needs",
    )
    result = VolunteerResult(plan, table, report, 0, 0, len(pools))
    return GreedyOutcome(
        stage="volunteers",
        unit="hours",
        weighted_unmet=unmet,
        weighted_need=float((d_prio * need).sum()),
        wall_s=wall,
        result=result,
        carry={},
        violations=check_volunteer_invariants(scenario, stations, result) if check else [],
    )


# ------------------------------------------------------------------------------------------ funds
# The funds inputs are read again here from the rules of the funds stage's module docstring (lots,
# restrictions, delivery), not from its private helpers, so that benchmarks/funds_vs_pulp.py can
# cross-check them against linkage.solvers.funds.eligible_pairs.

FUNDS_YUAN_UNITS = frozenset({"yuan", "元"})
FUNDS_EARMARK_DOMAINS: dict[str, tuple[str, ...]] = {"child_welfare": ("children",)}


@dataclass(frozen=True, eq=False)
class FundsInputs:
    """The funds problem as the funds docstring states it, in ``unit``-yuan units.

    Per (station, domain) need ``d`` (``fund_needs`` order): ``need``, its utility ``caps`` and
    ``worth`` per segment, station ``d_s`` and domain ``d_k``. Per money lot (``lots``, the rows
    of kind funds counted in yuan): ``units``, ``min_units`` (0: no binding minimum),
    ``designations`` (bit mask over ``DESIGNATION_COLUMNS``, 0: any), ``domains`` (bit mask over
    ``FUNDS_DOMAINS``, earmark applied) and ``regions`` (listed codes, (): anywhere). Per station:
    ``station_flags`` (its and its ancestors' designations), ``station_anc`` (region positions of
    itself and its ancestors, padded with ``n_regions``), ``deliver`` (own delivery units) and
    ``station_target`` (index into ``pool``, the 牵手 partner units per target, or -1)."""

    unit: int
    demand: pd.DataFrame
    need: IntArray
    caps: IntArray
    worth: IntArray
    d_s: IntArray
    d_k: IntArray
    priority: IntArray
    station_codes: NDArray[np.object_]
    lots: pd.DataFrame
    units: IntArray
    min_units: IntArray
    designations: IntArray
    domains: IntArray
    regions: list[tuple[str, ...]]
    region_index: pd.Index
    station_flags: IntArray
    station_anc: IntArray
    deliver: IntArray
    pool: IntArray
    station_target: IntArray


def _funds_bits(text: pd.Series, vocabulary: tuple[str, ...]) -> IntArray:
    out = np.zeros(len(text), dtype=np.int64)
    for row, value in enumerate(text.fillna("").astype(str).tolist()):
        words = {w.strip() for w in value.split(";") if w.strip()}
        for i, word in enumerate(vocabulary):
            if word in words:
                out[row] |= 1 << i
    return out


def funds_inputs(
    scenario: Scenario, stations: pd.DataFrame | None, pairs: pd.DataFrame | None
) -> FundsInputs:
    """The funds problem from the scenario, the staffing ``stations`` and the pairing ``pairs``."""
    from linkage.solvers.candidates import DESIGNATION_COLUMNS
    from linkage.solvers.funds import (
        DOMAIN_ORDER as FUNDS_DOMAINS,
    )
    from linkage.solvers.funds import (
        fund_needs,
        need_units,
        segment_caps,
        segment_worth,
    )

    policy = scenario.policy.funds
    unit = int(policy.unit_yuan)
    demand = fund_needs(scenario)
    need = need_units(demand["yuan"].to_numpy(dtype=float), unit)
    shares = [share for share, _ in policy.utility]
    values = [value for _, value in policy.utility]
    priority = demand["priority"].to_numpy(dtype=np.int64)
    caps = segment_caps(need, shares)
    worth = segment_worth(priority, values)

    # money lots and their restrictions
    res = scenario.tables.get("resources")
    if res is None:
        res = pd.DataFrame(columns=["id", "kind", "amount", "unit"])
    res = res.reset_index(drop=True)
    kind = res.get("kind", pd.Series("funds", index=res.index)).fillna("funds").astype(str)
    unit_text = res.get("unit", pd.Series("yuan", index=res.index)).fillna("yuan").astype(str)
    money = (kind == "funds") & unit_text.str.strip().str.lower().isin(FUNDS_YUAN_UNITS)
    lots = res.loc[money].reset_index(drop=True)
    amount = lots["amount"].to_numpy(dtype=float)
    units = np.floor(amount / unit + 1e-9).clip(min=0).astype(np.int64)
    minimum = lots.get("min_grant", pd.Series(0.0, index=lots.index)).fillna(0.0)
    min_units = np.ceil(minimum.to_numpy(dtype=float) / unit - 1e-9).astype(np.int64)
    min_units = np.where(min_units > 1, min_units, 0).astype(np.int64)
    every = (1 << len(FUNDS_DOMAINS)) - 1
    domains = _funds_bits(lots.get("domains", pd.Series("", index=lots.index)), FUNDS_DOMAINS)
    domains = np.where(domains == 0, every, domains)
    earmark = lots.get("earmark", pd.Series("none", index=lots.index)).fillna("none").to_numpy()
    for mark, allowed in FUNDS_EARMARK_DOMAINS.items():
        mask = sum(1 << FUNDS_DOMAINS.index(d) for d in allowed)
        domains = np.where(earmark == mark, domains & mask, domains)
    designations = _funds_bits(
        lots.get("eligible", pd.Series("", index=lots.index)), DESIGNATION_COLUMNS
    )
    listed = lots.get("regions", pd.Series("", index=lots.index)).fillna("").astype(str)
    regions = [tuple(sorted({c.strip() for c in t.split(";") if c.strip()})) for t in listed]

    # stations: ancestors (walking the parent column) and their designations
    table = scenario.regions
    index = pd.Index(table["code"].astype(str).to_numpy(dtype=object))
    parent = index.get_indexer(pd.Index(table["parent"].fillna("").astype(str).to_numpy(object)))
    flags = np.zeros(len(table), dtype=np.int64)
    for i, name in enumerate(DESIGNATION_COLUMNS):
        if name in table:
            flags |= table[name].fillna(False).to_numpy(dtype=bool).astype(np.int64) << i
    station_codes = station_needs(scenario)["region"].astype(str).to_numpy(dtype=object)
    current = index.get_indexer(pd.Index(station_codes)).astype(np.int64)
    chain = []
    while (current >= 0).any():
        chain.append(current)
        current = np.where(current >= 0, parent[np.maximum(current, 0)], -1)
    anc = np.column_stack(chain) if chain else np.full((len(station_codes), 1), -1)
    station_flags = np.bitwise_or.reduce(np.where(anc >= 0, flags[np.maximum(anc, 0)], 0), axis=1)
    anc = np.where(anc >= 0, anc, len(index)).astype(np.int64)

    # delivery: assigned social workers, then the partner pool of the 牵手 target it lies in
    if stations is None or stations.empty:
        assigned = np.zeros(len(station_codes))
    else:
        by = stations.groupby(stations["region"].astype(str))["assigned"].sum()
        assigned = by.reindex(pd.Index(station_codes)).fillna(0.0).to_numpy(dtype=float)
    deliver = np.floor(assigned * policy.per_worker_yuan / unit + 1e-9).astype(np.int64)
    pool = np.zeros(0, dtype=np.int64)
    station_target = np.full(len(station_codes), -1, dtype=np.int64)
    if pairs is not None and len(pairs) and policy.per_partner_yuan > 0:
        k = pairs[["org", "target"]].astype(str).drop_duplicates().groupby("target").size()
        pool = np.floor(k.to_numpy(dtype=float) * policy.per_partner_yuan / unit + 1e-9)
        pool = pool.astype(np.int64)
        target_of_region = np.full(len(index) + 1, -1, dtype=np.int64)
        at = index.get_indexer(pd.Index(k.index.to_numpy(dtype=object)))
        target_of_region[at[at >= 0]] = np.flatnonzero(at >= 0)
        # the nearest target up the chain (the station itself first)
        for col in range(anc.shape[1] - 1, -1, -1):
            hit = target_of_region[anc[:, col]]
            station_target = np.where(hit >= 0, hit, station_target)
    return FundsInputs(
        unit=unit,
        demand=demand,
        need=need,
        caps=caps,
        worth=worth,
        d_s=demand["s"].to_numpy(dtype=np.int64),
        d_k=demand["k"].to_numpy(dtype=np.int64),
        priority=priority,
        station_codes=station_codes,
        lots=lots,
        units=units,
        min_units=min_units,
        designations=designations,
        domains=domains.astype(np.int64),
        regions=regions,
        region_index=index,
        station_flags=station_flags.astype(np.int64),
        station_anc=anc,
        deliver=deliver,
        pool=pool,
        station_target=station_target,
    )


def funds_station_mask(
    inp: FundsInputs, designations: IntArray, regions: list[tuple[str, ...]]
) -> NDArray[np.bool_]:
    """(station, row) → the row's designation and region restrictions allow the station; rows
    are lots or merged classes of lots (rules (a) and (b) of the funds docstring)."""
    n_s, n_r = len(inp.station_codes), len(inp.region_index)
    ok = (designations[None, :] == 0) | ((inp.station_flags[:, None] & designations[None, :]) != 0)
    restricted = np.flatnonzero([len(r) > 0 for r in regions])
    if len(restricted):
        mark = np.zeros((len(restricted), n_r + 1), dtype=bool)
        for j, row in enumerate(restricted.tolist()):
            pos = inp.region_index.get_indexer(pd.Index(list(regions[row]), dtype=object))
            mark[j, pos[pos >= 0]] = True
        inside = np.zeros((len(restricted), n_s), dtype=bool)
        for col in range(inp.station_anc.shape[1]):
            inside |= mark[:, inp.station_anc[:, col]]
        ok[:, restricted] &= inside.T
    return ok


def funds_domain_mask(domains: IntArray) -> NDArray[np.bool_]:
    """(domain position, row) → the row may fund the domain (rule (c), earmark applied)."""
    from linkage.solvers.funds import DOMAIN_ORDER as FUNDS_DOMAINS

    n_k = len(FUNDS_DOMAINS)
    return ((domains[None, :] >> np.arange(n_k)[:, None]) & 1).astype(bool)


def funds_weighted_unmet(inp: FundsInputs, granted: IntArray) -> float:
    """W of the funds docstring: Σ worth of the units left unfunded, the funded units filling the
    utility segments in order (the concave utility)."""
    edges = np.cumsum(inp.caps, axis=1)
    funded_seg = np.clip(granted[:, None] - (edges - inp.caps), 0, inp.caps)
    return float((inp.worth * (inp.caps - funded_seg)).sum())


def greedy_funds(
    scenario: Scenario, upstream: Mapping[str, Any], check: bool = True
) -> GreedyOutcome:
    """Largest lot first, needs by priority: the funds rule a planner would follow by hand.

    Needs in order of priority (highest first), then size (largest first), then position; each
    takes money from the lots its restrictions allow (designation, region, domain and earmark, as
    in the funds docstring), the largest remaining lot first, up to its need and its station's
    delivery capacity (``floor(assigned × per_worker_yuan / unit)``, then the partner pool of the
    牵手 target it lies in, shared with the target's other stations). A lot whose grant would fall
    below its ``min_grant`` is skipped. ``weighted_unmet`` is the stage's W (Σ worth of the
    unfunded units with the stage's segment caps and worths)."""
    from linkage.solvers.funds import (
        DEMAND_COLUMNS,
        GRANT_COLUMNS,
        LOT_COLUMNS,
        FundsResult,
        check_funds_invariants,
    )

    started = time.perf_counter()
    stations, pairs = upstream.get("stations"), upstream.get("pairs")
    inp = funds_inputs(scenario, stations, pairs)
    n_d = len(inp.need)
    ok_station = funds_station_mask(inp, inp.designations, inp.regions)  # (station, lot)
    ok_domain = funds_domain_mask(inp.domains)  # (domain, lot)
    left = inp.units.copy()
    own = inp.deliver.copy()
    pool = inp.pool.copy()
    granted = np.zeros(n_d, dtype=np.int64)
    reachable = np.zeros(n_d, dtype=bool)
    g_lot: list[int] = []
    g_dem: list[int] = []
    g_units: list[int] = []
    for d in _station_order(inp.priority, inp.need).tolist():
        s, k = int(inp.d_s[d]), int(inp.d_k[d])
        allowed = ok_station[s] & ok_domain[k]
        reachable[d] = bool(allowed.any())
        t = int(inp.station_target[s])
        room = int(own[s]) + (int(pool[t]) if t >= 0 else 0)
        want = min(int(inp.need[d]), room)
        if want <= 0:
            continue
        # lots that can still give: money left, and a minimum this need can ever reach
        cand = np.flatnonzero(allowed & (left > 0) & (inp.min_units <= np.minimum(left, want)))
        if len(cand) == 0:
            continue
        cand = cand[np.lexsort((cand, -left[cand]))]
        got = 0
        for i in cand.tolist():
            g = min(int(left[i]), want - got)
            if g < int(inp.min_units[i]):
                continue
            left[i] -= g
            got += g
            g_lot.append(i)
            g_dem.append(d)
            g_units.append(g)
            if got == want:
                break
        granted[d] = got
        from_own = min(got, int(own[s]))
        own[s] -= from_own
        if got > from_own:
            pool[t] -= got - from_own

    unit = inp.unit
    lot_i = np.array(g_lot, dtype=np.int64)
    dem_i = np.array(g_dem, dtype=np.int64)
    amount = np.array(g_units, dtype=np.int64) * unit
    demand = inp.demand
    lots = inp.lots

    def lot_col(name: str, default: str) -> NDArray[np.object_]:
        values = lots.get(name, pd.Series(default, index=lots.index)).fillna(default)
        return values.to_numpy(dtype=object)[lot_i]

    grants = pd.DataFrame(
        {
            "lot": lots["id"].to_numpy(dtype=object)[lot_i],
            "donor": lot_col("donor", ""),
            "donor_type": lot_col("donor_type", "foundation"),
            "earmark": lot_col("earmark", "none"),
            "station": demand["station"].to_numpy(dtype=object)[dem_i],
            "name": demand["name"].to_numpy(dtype=object)[dem_i],
            "county": demand["county"].to_numpy(dtype=object)[dem_i],
            "domain": demand["domain"].to_numpy(dtype=object)[dem_i],
            "amount_yuan": amount,
        },
        columns=list(GRANT_COLUMNS),
    )
    short = inp.need - granted
    in_t = inp.station_target >= 0
    pool_full = np.ones(len(own), dtype=bool)
    pool_full[in_t] = pool[inp.station_target[in_t]] <= 0
    saturated = ((own <= 0) & pool_full)[inp.d_s]
    code = np.where(
        short > 0,
        np.where(
            ~reachable,
            "donor_restriction",
            np.where(saturated, "delivery_capacity", "greedy"),
        ),
        "",
    ).astype(object)
    fund_demand = pd.DataFrame(
        {
            "station": demand["station"].to_numpy(dtype=object),
            "name": demand["name"].to_numpy(dtype=object),
            "county": demand["county"].to_numpy(dtype=object),
            "priority": inp.priority,
            "domain": demand["domain"].to_numpy(dtype=object),
            "need_yuan": inp.need * unit,
            "granted_yuan": granted * unit,
            "shortfall_yuan": short * unit,
            "reason_code": code,
            "reason": code,
        },
        columns=list(DEMAND_COLUMNS),
    )
    spent = np.bincount(lot_i, weights=amount, minlength=len(lots)).astype(np.int64)
    fund_lots = pd.DataFrame(
        {
            "lot": lots["id"].to_numpy(dtype=object),
            "donor": lots.get("donor", pd.Series("", index=lots.index)).to_numpy(dtype=object),
            "donor_type": lots.get("donor_type", pd.Series("", index=lots.index)).to_numpy(
                dtype=object
            ),
            "kind": "funds",
            "amount": lots["amount"].to_numpy(dtype=float),
            "unit": "yuan",
            "min_grant": lots.get("min_grant", pd.Series(0.0, index=lots.index))
            .fillna(0.0)
            .to_numpy(dtype=float),
            "granted_yuan": spent,
            "unused_yuan": lots["amount"].to_numpy(dtype=float) - spent,
            "grants": np.bincount(lot_i, minlength=len(lots)),
            "note": "",
        },
        columns=list(LOT_COLUMNS),
    )
    unmet = funds_weighted_unmet(inp, granted)
    wall = time.perf_counter() - started
    report = StageReport(
        stage="funds",
        method="greedy_largest_lot_first",
        status="feasible",
        objectives={"weighted_unmet": unmet, "granted_yuan": float(granted.sum() * unit)},
        gap=float("nan"),
        wall_s=wall,
        variables=len(g_lot),
        message=f"{len(lots)} money lots, {n_d} (station, domain) needs, {len(g_lot)} grants",
    )
    result = FundsResult(grants, fund_demand, fund_lots, report, int(unmet))
    return GreedyOutcome(
        stage="funds",
        unit="worth",
        weighted_unmet=unmet,
        weighted_need=float((inp.worth * inp.caps).sum()),
        wall_s=wall,
        result=result,
        carry={},
        violations=check_funds_invariants(scenario, stations, pairs, result) if check else [],
    )


# pipeline stage name → its greedy planner; the comparison in henan_scale.py runs every stage of
# linkage.pipeline.ORDER that has an entry here
GREEDY: dict[str, GreedyFn] = {
    "staffing": greedy_staffing,
    "volunteers": greedy_volunteers,
    "funds": greedy_funds,
}
