"""Why the plan looks as it does, and what one more unit of a scarce resource would be worth.

- ``pairing_alternatives(plan)``: for every 牵手 target its chosen partners with their score
  components, then the best ``n`` candidates that were not chosen, how many points worse each
  is than the weakest chosen partner, and the rule that kept it out.
- ``station_explanations(scenario, plan)``: for every station the pools that staff it (with
  km and FTE) and, when it is short, the nearest pools within reach that it did not get and
  where their workers went instead.
- ``marginal_values(scenario, plan)``: the value of one more social worker per county and of
  ¥10,000 more per donor restriction class, exact, from the residual graphs of the staffing and
  funds flows (``linkage.solvers.potentials``) instead of one re-solve per county or class.

Marginal values, precisely.

Social workers: a hypothetical pool of 1 FTE (``SCALE`` units) at the county's point (its
seat), reaching the stations within ``policy.staffing.max_km``, local only. Its value is the
fall of the staffing stage's priority-weighted shortfall W = Σ priority × shortfall (FTE ×
priority, the stage's ``weighted_shortfall``) at the lexicographic optimum, per extra FTE. W
does not depend on distance, so the network is taken with every distance cost 0 (the plan's
(W1, W2) optimum is the same); with D = 0 the penalties of ``shortfall_penalties`` become
P2 = 1, P1 = ⌊p_max / p_min⌋ + 1 and still put W1 before W2 exactly, and the extra pools,
one per county seat with zero supply, need no new D or K. The network is solved once; each
county's FTE then moves along successive shortest residual paths from its pool to the sink T,
and the change of W is read off the shortfall arcs each path uses (reversed: shortfall falls;
forward: it rises). Once a path uses no shortfall arc the rest of the FTE is worth nothing (the
lexicographic optimum is convex in the supply, so a flat start stays flat) and the search
stops. Downstream effects (supervision of volunteers, fund delivery) are not counted.

Funds: ``⌊10,000 / unit_yuan⌋`` more units of supply at a restriction class node of the funds
network (lots with the same eligible designations, domains and regions; the stage merges them
into one node), absorbed at the sink Z when unspent. Its value is the fall of W_funds = Σ worth
of the unfunded units (the stage's ``weighted_unmet``: priority × round(100 × utility value)
per ¥``unit_yuan``) per extra ¥10,000 — the whole cost change, as every other arc is free. It is
the value for the flow without minimum grants, which is the funds plan when no minimum binds
and its bound otherwise.

Both are exact for the whole extra FTE / ¥10,000 (a path too narrow for it is followed by the
next shortest path), and the tests check them against re-solving with the extra supply.
Measured on scenarios/henan (181 counties, 125 classes, 2 cores): 1.5 s for the counties
(2.4 s with half the social workers, when most counties need several paths) and 6.7 s for the
classes, against about 1.2–2.5 s per county and 1.1 s per class to re-solve.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from ortools.graph.python import min_cost_flow

from linkage.geo import PointIndex
from linkage.plan.compare import as_plan
from linkage.plan.result import Plan
from linkage.scenario.core import Scenario
from linkage.solvers.candidates import DESIGNATION_COLUMNS
from linkage.solvers.potentials import Augmentation, SupplyPaths

Tables = Plan | Mapping[str, pd.DataFrame]
IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

ALTERNATIVE_COLUMNS: tuple[str, ...] = (
    "target",
    "target_name",
    "kind",
    "rank",
    "org",
    "org_name",
    "score",
    "specialty",
    "quality",
    "distance",
    "continuity",
    "distance_km",
    "score_gap",
    "binding",
    "why",
)
STATION_COLUMNS: tuple[str, ...] = (
    "station",
    "name",
    "county",
    "need",
    "assigned",
    "shortfall",
    "reason_code",
    "kind",
    "pool",
    "org",
    "via",
    "distance_km",
    "workers",
    "pool_fte",
    "elsewhere",
    "why",
)
MARGINAL_COLUMNS: tuple[str, ...] = (
    "kind",
    "key",
    "name",
    "value",
    "unit",
    "method",
    "detail",
)
WORKER_UNIT = (
    "每增 1 名社工（县城）的加权缺口减少（FTE×优先级）/ fall of the priority-weighted shortfall "
    "(FTE × priority) per extra FTE at the county seat"
)
FUNDS_UNIT = (
    "每增 ¥10,000 的加权未资助减少（优先级×效用分）/ fall of weighted_unmet (priority × "
    "utility points per unit_yuan) per extra ¥10,000"
)
EXTRA_YUAN = 10_000
SHOWN = 3  # how many stations / pools a text lists before "…"


def _tables(plan: Tables | str | os.PathLike[str]) -> Mapping[str, pd.DataFrame]:
    if isinstance(plan, Mapping):
        return plan
    return as_plan(plan).tables


# --- pairing: why this partner, and the best ones not chosen ------------------------------------


def pairing_alternatives(plan: Tables | str | os.PathLike[str], n: int = 3) -> pd.DataFrame:
    """Per target: its chosen pairs (kind ``chosen``, rank 0) and its best ``n`` unchosen
    candidates (kind ``alternative``, rank 1..n, best score first), with the score components
    of the candidates table.

    ``score_gap`` = the alternative's score − the weakest chosen partner's score (negative: it
    is that many points worse; NaN when the target got no partner). ``binding`` names what kept
    it out: ``capacity`` (its organization has less spare pairing capacity than the pair's
    load; ``why`` names the targets it partners instead), ``quota`` (the target province's
    cross-/in-province quota is full), ``partners_per_target`` (the target has all its
    partners and they score at least as much), ``fixed`` (a planner-fixed pair holds the
    place), else ``not_proven`` (the solver stopped before proving the plan optimal).
    """
    t = _tables(plan)
    cand = t.get("candidates")
    if cand is None or not len(cand):
        return pd.DataFrame(columns=list(ALTERNATIVE_COLUMNS))
    cand = cand.reset_index(drop=True)
    chosen = cand["chosen"].astype(bool).to_numpy()
    names = _org_names(t)
    target_names = _target_names(t)
    orgs = t.get("organizations")
    spare: dict[str, float] = {}
    if orgs is not None and {"org", "capacity", "load_used"} <= set(orgs.columns):
        left = orgs["capacity"].astype(float) - orgs["load_used"].astype(float)
        spare = dict(zip(orgs["org"].astype(str), left, strict=True))
    partners = (
        cand[chosen].groupby("org")["target"].agg(lambda s: list(map(str, s))).to_dict()
        if chosen.any()
        else {}
    )
    full_quota = _full_quotas(t.get("pairing_rules"))
    targets = t.get("targets")
    need = (
        dict(zip(targets["target"].astype(str), targets["partners_needed"], strict=True))
        if targets is not None
        else {}
    )

    cand = cand.assign(
        is_chosen=chosen, org=cand["org"].astype(str), target=cand["target"].astype(str)
    )
    ranked = cand.sort_values(
        ["target", "is_chosen", "score", "distance_km", "org"],
        ascending=[True, False, False, True, True],
        kind="stable",
    )
    ranked["pos"] = ranked.groupby(["target", "is_chosen"]).cumcount()
    picked = ranked[ranked["is_chosen"] | (ranked["pos"] < n)].copy()
    weakest = cand[chosen].groupby("target")["score"].min()
    fixed_targets = set(cand.loc[chosen & cand["fixed"].astype(bool), "target"])
    n_chosen = cand[chosen].groupby("target").size()

    rows: list[dict[str, Any]] = []
    for r in picked.to_dict("records"):
        org, target = str(r["org"]), str(r["target"])
        base: dict[str, Any] = {
            "target": target,
            "target_name": target_names.get(target, ""),
            "org": org,
            "org_name": names.get(org, ""),
            "score": int(r["score"]),
            "specialty": int(r["specialty"]),
            "quality": int(r["quality"]),
            "distance": int(r["distance"]),
            "continuity": int(r["continuity"]),
            "distance_km": float(r["distance_km"]),
        }
        if r["is_chosen"]:
            rows.append(
                base
                | {
                    "kind": "chosen",
                    "rank": 0,
                    "score_gap": 0.0,
                    "binding": "fixed" if bool(r["fixed"]) else "",
                    "why": _chosen_text(r),
                }
            )
            continue
        low = weakest.get(target)
        gap = float(r["score"] - low) if low is not None else float("nan")
        group = "cross_province" if bool(r["cross_province"]) else "in_province"
        full = int(n_chosen.get(target, 0)) >= int(need.get(target, 1))
        load = float(r["load"]) if "load" in r else 1.0
        if spare.get(org, float("inf")) < load:
            others = [x for x in partners.get(org, []) if x != target]
            shown = "、".join(target_names.get(x, x) for x in others[:SHOWN])
            binding = "capacity"
            why = (
                f"机构承接能力已满（已结对 {shown}）/ organization at its capacity "
                f"(partners {', '.join(others[:SHOWN])})"
            )
        elif (str(r["target_province"]), group) in full_quota:
            binding = "quota"
            scope = "省际" if group == "cross_province" else "省内"
            why = f"{r['target_province']} 的{scope}名额已满 / the province's {group} quota is full"
        elif full and gap <= 0:
            binding = "partners_per_target"
            why = f"比已选机构低 {-gap:g} 分 / {-gap:g} points below the chosen partner"
        elif full and target in fixed_targets:
            binding = "fixed"
            why = "名额被指定结对占用 / the place is held by a planner-fixed pair"
        else:
            binding = "not_proven"
            why = "求解未证明最优 / the solver did not prove the plan optimal"
        rows.append(
            base
            | {
                "kind": "alternative",
                "rank": int(r["pos"]) + 1,
                "score_gap": gap,
                "binding": binding,
                "why": why,
            }
        )
    return pd.DataFrame(rows, columns=list(ALTERNATIVE_COLUMNS))


def _chosen_text(r: Mapping[Any, Any]) -> str:
    text = (
        f"专长 {int(r['specialty'])} + 评级 {int(r['quality'])} + 距离 {int(r['distance'])}"
        f" + 延续 {int(r['continuity'])} = {int(r['score'])} 分 / specialty + quality + distance + "
        f"continuity = {int(r['score'])}"
    )
    parts = int(r["specialty"]) + int(r["quality"]) + int(r["distance"]) + int(r["continuity"])
    if parts != int(r["score"]):
        text += f"; 评分由结对调整给定 / score set by override ({int(r['score'])})"
    if bool(r["fixed"]):
        text += "; 指定结对 / fixed by planner"
    return text


def _org_names(t: Mapping[str, pd.DataFrame]) -> dict[str, str]:
    out: dict[str, str] = {}
    orgs = t.get("organizations")
    if orgs is not None and {"org", "name"} <= set(orgs.columns):
        out.update(zip(orgs["org"].astype(str), orgs["name"].astype(str), strict=True))
    pairs = t.get("pairs")
    if pairs is not None and {"org", "org_name"} <= set(pairs.columns):
        for o, name in zip(pairs["org"].astype(str), pairs["org_name"], strict=True):
            out.setdefault(o, str(name))
    return out


def _target_names(t: Mapping[str, pd.DataFrame]) -> dict[str, str]:
    targets = t.get("targets")
    if targets is None or not {"target", "name"} <= set(targets.columns):
        return {}
    return dict(zip(targets["target"].astype(str), targets["name"].astype(str), strict=True))


def _full_quotas(rules: pd.DataFrame | None) -> set[tuple[str, str]]:
    if rules is None or not len(rules):
        return set()
    quota = rules[(rules["rule"] == "quota") & rules["at_limit"].astype(bool)]
    out = set()
    for subject in quota["subject"].astype(str):
        province, _, group = subject.partition(":")
        out.add((province, group))
    return out


# --- staffing: where each station's workers come from, and whom a short one could not get -------


def station_explanations(
    scenario: Scenario, plan: Tables | str | os.PathLike[str], n: int = SHOWN
) -> pd.DataFrame:
    """Per station: one ``source`` row per pool that staffs it (via local / dispatch, km, FTE);
    when it is short, one ``missed`` row for each of the ``n`` nearest pools within reach that
    do not staff it, with where their FTE went (``elsewhere``) and why it could not have them;
    a station with neither gets one ``none`` row saying why.

    ``pool_fte`` is the pool's whole supply; a missed pool with FTE left (possible only when the
    plan is not optimal) says so.
    """
    from linkage.solvers.staffing import SCALE, staffing_network

    t = _tables(plan)
    stations = t.get("stations")
    staffing = t.get("staffing")
    if stations is None:
        return pd.DataFrame(columns=list(STATION_COLUMNS))
    net = staffing_network(scenario, t.get("pairs"))
    pools = net.workers["id"].astype(str).to_numpy(dtype=object)
    pool_fte = pd.Series(net.supply / SCALE, index=pools)
    pool_org = pd.Series(net.pool_org, index=pools)
    st = stations.assign(region=stations["region"].astype(str)).set_index("region")
    names = {str(k): str(v) for k, v in st["name"].items()}
    if staffing is None:
        staffing = pd.DataFrame(
            {"pool": [], "org": [], "station": [], "workers": [], "distance_km": [], "via": []}
        )
    rows = staffing.assign(
        pool=staffing["pool"].astype(str), station=staffing["station"].astype(str)
    )
    used = rows.groupby("pool")["workers"].sum()

    frames: list[pd.DataFrame] = []
    src = rows.merge(
        st[["name", "county", "need", "assigned", "shortfall", "reason_code"]],
        left_on="station",
        right_index=True,
        how="inner",
    )
    if len(src):
        via = src["via"].astype(str)
        frames.append(
            pd.DataFrame(
                {
                    "station": src["station"].to_numpy(dtype=object),
                    "kind": "source",
                    "pool": src["pool"].to_numpy(dtype=object),
                    "org": src["org"].to_numpy(dtype=object),
                    "via": via.to_numpy(dtype=object),
                    "distance_km": src["distance_km"].to_numpy(dtype=float),
                    "workers": src["workers"].to_numpy(dtype=float),
                    "pool_fte": pool_fte.reindex(src["pool"]).to_numpy(dtype=float),
                    "elsewhere": "",
                    "why": np.where(
                        via == "dispatch",
                        "牵手机构派驻 / dispatched by a paired organization",
                        "服务半径内 / within the pool's reach",
                    ),
                }
            )
        )

    # short stations: the nearest pools within reach that do not staff them
    short = st.index[st["shortfall"].astype(float) > 1e-9]
    s_pos = pd.Index(net.needs["region"].astype(str)).get_indexer(pd.Index(short))
    short_pos = s_pos[s_pos >= 0]
    if len(short_pos):
        on = np.isin(net.loc_s, short_pos)
        reach = pd.DataFrame(
            {
                "station": net.needs["region"].astype(str).to_numpy(dtype=object)[net.loc_s[on]],
                "pool": pools[net.loc_p[on]],
                "distance_km": net.loc_cost[on].astype(float),
            }
        )
        served = set(zip(rows["pool"], rows["station"], strict=True))
        unserved = np.array(
            [(p, s) not in served for p, s in zip(reach["pool"], reach["station"], strict=True)],
            dtype=bool,
        )
        reach = reach.loc[unserved]
        reach = reach.sort_values(["station", "distance_km", "pool"], kind="stable")
        reach = reach.groupby("station", sort=False).head(n)
        if len(reach):
            where = _where_pools_went(rows[rows["pool"].isin(set(reach["pool"]))], names)
            left = pool_fte.reindex(reach["pool"]).to_numpy(float) - used.reindex(
                reach["pool"]
            ).fillna(0.0).to_numpy(float)
            frames.append(
                pd.DataFrame(
                    {
                        "station": reach["station"].to_numpy(dtype=object),
                        "kind": "missed",
                        "pool": reach["pool"].to_numpy(dtype=object),
                        "org": pool_org.reindex(reach["pool"]).to_numpy(dtype=object),
                        "via": "local",
                        "distance_km": reach["distance_km"].to_numpy(dtype=float),
                        "workers": 0.0,
                        "pool_fte": pool_fte.reindex(reach["pool"]).to_numpy(dtype=float),
                        "elsewhere": [where.get(p, "") for p in reach["pool"]],
                        "why": np.where(
                            left > 1e-9,
                            "尚有未派社工（方案非最优）/ FTE left unassigned (plan not optimal)",
                            "全部社工已派往他站 / all its FTE serve other stations",
                        ),
                    }
                )
            )
    detail = pd.concat(frames, ignore_index=True) if frames else None
    covered = set(detail["station"]) if detail is not None else set()
    rest = st.index[~st.index.isin(covered)]
    if len(rest):
        lacking = st.loc[rest, "shortfall"].astype(float).to_numpy() > 1e-9
        code = st.loc[rest, "reason_code"].astype(str).to_numpy()
        why = np.where(
            lacking & (code == "no_one_in_reach"),
            "服务半径内无社工 / no social worker within reach",
            np.where(
                lacking,
                "可达社工已全部派出 / every worker in reach is assigned",
                "无需社工 / needs no social worker",
            ),
        )
        none = pd.DataFrame(
            {
                "station": rest.to_numpy(dtype=object),
                "kind": "none",
                "pool": None,
                "org": None,
                "via": "",
                "distance_km": np.nan,
                "workers": 0.0,
                "pool_fte": np.nan,
                "elsewhere": "",
                "why": why,
            }
        )
        detail = none if detail is None else pd.concat([detail, none], ignore_index=True)
    if detail is None:
        return pd.DataFrame(columns=list(STATION_COLUMNS))
    info = st[["name", "county", "need", "assigned", "shortfall", "reason_code"]]
    out = detail.merge(info, left_on="station", right_index=True, how="left")
    kind_order = out["kind"].map({"source": 0, "missed": 1, "none": 2})
    out = out.assign(_k=kind_order).sort_values(
        ["station", "_k", "distance_km"], kind="stable", na_position="last"
    )
    return out[list(STATION_COLUMNS)].reset_index(drop=True)


def _where_pools_went(rows: pd.DataFrame, names: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pool, group in rows.groupby("pool", sort=False):
        group = group.sort_values("workers", ascending=False, kind="stable")
        parts = [
            f"{names.get(s, s)} {w:g}"
            for s, w in zip(group["station"], group["workers"], strict=True)
        ][:SHOWN]
        more = f" 等 {len(group)} 站 / {len(group)} stations" if len(group) > SHOWN else ""
        out[str(pool)] = "、".join(parts) + more
    return out


# --- marginal values ---------------------------------------------------------------------------


def marginal_values(
    scenario: Scenario,
    plan: Tables | str | os.PathLike[str],
    *,
    kinds: tuple[str, ...] = ("social_worker", "funds"),
) -> pd.DataFrame:
    """One row per county (kind ``social_worker``) and per donor restriction class (kind
    ``funds``): kind, key (county code / the class's restrictions), name, value, unit, method,
    detail (which stations or needs gain). A kind is left out when the plan lacks its stage
    (``stations`` for social workers, ``fund_demand`` for funds). See the module docstring
    for what the values mean and how they are computed.
    """
    t = _tables(plan)
    frames = []
    if "social_worker" in kinds and "stations" in t:
        frames.append(worker_marginals(scenario, t.get("pairs")))
    if "funds" in kinds and "fund_demand" in t:
        frames.append(funds_marginals(scenario, t.get("stations"), t.get("pairs")))
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=list(MARGINAL_COLUMNS))
    return pd.concat(frames, ignore_index=True)


def _solve(
    tails: IntArray, heads: IntArray, caps: IntArray, costs: IntArray, supplies: IntArray
) -> IntArray:
    flow = min_cost_flow.SimpleMinCostFlow()
    arcs = flow.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    flow.set_nodes_supplies(np.arange(len(supplies), dtype=np.int64), supplies)
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"min-cost flow returned status {status}")
    return np.asarray(flow.flows(arcs), dtype=np.int64)


def _method(steps: list[Augmentation], seconds: float) -> str:
    paths = len(steps)
    return (
        f"residual shortest paths ({paths} path{'s' if paths != 1 else ''}; "
        f"network solve and shared Bellman–Ford {seconds:.2f} s)"
    )


def worker_marginals(scenario: Scenario, pairs: pd.DataFrame | None = None) -> pd.DataFrame:
    """The ``social_worker`` rows of ``marginal_values`` (see the module docstring)."""
    from linkage.solvers.staffing import SCALE, shortfall_penalties, staffing_network

    started = time.perf_counter()
    net = staffing_network(scenario, pairs)
    needs = net.needs
    regions = scenario.regions.assign(code=scenario.regions["code"].astype(str)).set_index("code")
    counties = pd.unique(needs["county"].astype(str).to_numpy(dtype=object))
    n_c = len(counties)
    if not n_c:
        return pd.DataFrame(columns=list(MARGINAL_COLUMNS))
    c_lat = regions["lat"].reindex(counties).to_numpy(dtype=float)
    c_lon = regions["lon"].reindex(counties).to_numpy(dtype=float)
    c_name = regions["name"].reindex(counties).fillna("").astype(str).to_numpy(dtype=object)
    s_lat = regions["lat"].reindex(needs["region"].astype(str)).to_numpy(dtype=float)
    s_lon = regions["lon"].reindex(needs["region"].astype(str)).to_numpy(dtype=float)
    ci, si, _ = PointIndex(s_lat, s_lon).within_km(
        c_lat, c_lon, float(scenario.policy.staffing.max_km)
    )

    # W does not depend on distance, so the distances are dropped (cost 0): with D = 0 the
    # penalties P2 = 1, P1 = ⌊p_max / p_min⌋ + 1 keep W1 before W2 exactly, paths that cut
    # a shortfall are found without km in the way, and the extra pools need no new D or K
    t_node = net.n_nodes - 1
    station0 = net.n_nodes - 2 - net.n_s
    new_node = net.n_nodes + np.arange(n_c, dtype=np.int64)
    p1, p2 = shortfall_penalties(net.priority, 0, 1)
    first, second, third = (int(b) for b in net.bounds[4:7])
    costs = np.zeros(len(net.costs), dtype=np.int64)
    costs[first:second] = net.priority * p1
    costs[second:third] = net.priority * p2
    tails = np.concatenate([net.tails, new_node[ci], new_node])
    heads = np.concatenate([net.heads, station0 + si, np.full(n_c, t_node, dtype=np.int64)])
    caps = np.concatenate([net.caps, np.full(len(ci) + n_c, SCALE, dtype=np.int64)])
    costs = np.concatenate([costs, np.zeros(len(ci) + n_c, dtype=np.int64)])
    supplies = np.concatenate([net.supplies, np.zeros(n_c, dtype=np.int64)])
    x = _solve(tails, heads, caps, costs, supplies)
    search = SupplyPaths(tails, heads, caps, costs, x, len(supplies), t_node)
    seconds = time.perf_counter() - started

    short_arc = np.zeros(len(tails), dtype=bool)
    short_arc[first:third] = True
    station_of = np.where(short_arc, heads - station0, -1)
    s_names = needs["name"].astype(str).to_numpy(dtype=object)

    def no_shortfall(step: Augmentation) -> bool:
        return not short_arc[step.arcs].any()

    rows = []
    for k in range(n_c):
        if not (np.isfinite(c_lat[k]) and np.isfinite(c_lon[k])):
            rows.append(
                _row(
                    "social_worker", counties[k], c_name[k], np.nan, WORKER_UNIT, "", "no location"
                )
            )
            continue
        steps = search.supply(int(new_node[k]), SCALE, settled=no_shortfall)
        gain: dict[int, float] = {}
        for step in steps:
            on = short_arc[step.arcs]
            for arc, up in zip(step.arcs[on].tolist(), step.forward[on].tolist(), strict=True):
                st = int(station_of[arc])
                gain[st] = gain.get(st, 0.0) + (-1 if up else 1) * step.units / SCALE
        value = float(sum(net.priority[st] * g for st, g in gain.items()))
        text = "；".join(
            f"{s_names[st]} 缺口 {-g:+g} FTE / shortfall {-g:+g} FTE"
            for st, g in sorted(gain.items(), key=lambda kv: -kv[1])[:SHOWN]
            if abs(g) > 1e-12
        )
        rows.append(
            _row(
                "social_worker",
                counties[k],
                c_name[k],
                round(value, 9),
                WORKER_UNIT,
                _method(steps, seconds),
                text or "无可补的缺口 / no shortfall within reach to fill",
            )
        )
    return pd.DataFrame(rows, columns=list(MARGINAL_COLUMNS))


def _row(
    kind: str, key: str, name: str, value: float, unit: str, method: str, detail: str
) -> dict[str, Any]:
    return {
        "kind": kind,
        "key": key,
        "name": name,
        "value": value,
        "unit": unit,
        "method": method,
        "detail": detail,
    }


def funds_marginals(
    scenario: Scenario, stations: pd.DataFrame | None, pairs: pd.DataFrame | None
) -> pd.DataFrame:
    """The ``funds`` rows of ``marginal_values`` (see the module docstring)."""
    from linkage.solvers.funds import DOMAIN_ORDER, funds_network, lot_units

    started = time.perf_counter()
    net, demand, lots = funds_network(scenario, stations, pairs)
    n_classes = int(net.n_classes)
    if not n_classes:
        return pd.DataFrame(columns=list(MARGINAL_COLUMNS))
    unit = int(scenario.policy.funds.unit_yuan)
    extra = int(lot_units(np.array([float(EXTRA_YUAN)]), unit)[0])
    tails, heads, costs = net.tails, net.heads, net.costs
    x = _solve(tails, heads, net.capacities, costs, net.supplies)
    # arcs whose capacity is a class's supply (entry, unspent) or the total supply (tree) grow
    # with it; those capacities never bind a flow of the given supplies (a class's arcs carry
    # only its money, the tree only the classes' money), so growing them all by the extra keeps
    # x optimal and makes the network the one with any single class grown
    caps = net.capacities.copy()
    for part in ("entry", "tree", "unspent"):
        a, b = net.bounds[part]
        caps[a:b] += extra
    z_node = len(net.supplies) - 1
    search = SupplyPaths(tails, heads, caps, costs, x, len(net.supplies), z_node)
    seconds = time.perf_counter() - started
    lo, hi = net.bounds["unfunded"]
    unfunded = np.zeros(len(tails), dtype=bool)
    unfunded[lo:hi] = True
    n_seg = int(net.segment_caps.shape[1])
    labels = (demand["name"].astype(str) + "/" + demand["domain"].astype(str)).to_numpy(object)

    def worthless(step: Augmentation) -> bool:
        return step.unit_cost >= 0

    table = lots.table
    ids = table["id"].astype(str).to_numpy(dtype=object)
    donor = table["donor"].astype(str).to_numpy(dtype=object)
    rows = []
    for c in range(n_classes):
        members = np.flatnonzero(net.class_of_lot == c)
        head = int(members[0])
        key = _restriction_key(
            int(lots.designations[head]),
            int(lots.domains[head]),
            lots.regions[head],
            DOMAIN_ORDER,
        )
        donors = list(dict.fromkeys(donor[members]))
        name = (
            f"{len(members)} 笔 / lots: {', '.join(ids[members][:SHOWN])}"
            f"{' …' if len(members) > SHOWN else ''} ({'、'.join(donors[:SHOWN])}"
            f"{' 等' if len(donors) > SHOWN else ''})"
        )
        if extra <= 0:
            rows.append(_row("funds", key, name, 0.0, FUNDS_UNIT, "unit above ¥10,000", ""))
            continue
        steps = search.supply(c, extra, settled=worthless)
        value = -float(sum(s.units * s.unit_cost for s in steps if s.unit_cost < 0)) + 0.0
        gain: dict[int, int] = {}
        for step in steps:
            on = unfunded[step.arcs]
            for arc, up in zip(step.arcs[on].tolist(), step.forward[on].tolist(), strict=True):
                d = (arc - lo) // n_seg
                gain[d] = gain.get(d, 0) + (-1 if up else 1) * step.units
        text = "；".join(
            f"{labels[d]} +¥{g * unit:,}"
            for d, g in sorted(gain.items(), key=lambda kv: -kv[1])[:SHOWN]
            if g > 0
        )
        rows.append(
            _row(
                "funds",
                key,
                name,
                round(value, 9),
                FUNDS_UNIT,
                _method(steps, seconds),
                text or "无可再资助的需求 / nothing more it may fund or deliver",
            )
        )
    return pd.DataFrame(rows, columns=list(MARGINAL_COLUMNS))


def _restriction_key(
    designations: int, domains: int, regions: tuple[str, ...], domain_order: tuple[str, ...]
) -> str:
    eligible = [d for i, d in enumerate(DESIGNATION_COLUMNS) if designations >> i & 1]
    every = (1 << len(domain_order)) - 1
    fields = [d for i, d in enumerate(domain_order) if domains >> i & 1]
    return (
        f"eligible={';'.join(eligible) or '*'}|domains="
        f"{'*' if domains == every else ';'.join(fields)}|regions={';'.join(regions) or '*'}"
    )
