"""The linkage graph (DESIGN §5), for people: export it, find who no one can reach, and why.

Solvers never walk this graph; they use the vectorised candidate tables. Node ids are typed
strings (``region:410000``, ``org:001``, ``social_workers:w1``, ``volunteers:v1``,
``resource:R1``) so GraphML and GEXF exports keep them apart.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import networkx as nx
import numpy as np
import pandas as pd

from linkage.geo import Hierarchy

if TYPE_CHECKING:
    from linkage.plan.result import Plan
    from linkage.scenario.core import Scenario


def _clean(attrs: dict[str, Any]) -> dict[str, Any]:
    """GraphML accepts str/int/float/bool only: drop missing values, unwrap numpy scalars."""
    out = {}
    for key, value in attrs.items():
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        if hasattr(value, "item"):
            value = value.item()
        out[key] = value
    return out


def _add_nodes(
    graph: nx.MultiDiGraph, prefix: str, kind: str, frame: pd.DataFrame, key: str
) -> None:
    records: list[dict[str, Any]] = [
        {str(k): v for k, v in row.items()} for row in frame.to_dict(orient="records")
    ]
    graph.add_nodes_from((f"{prefix}:{row[key]}", _clean({"type": kind, **row})) for row in records)


def build_graph(
    scenario: Scenario, plan: Plan | None = None, candidates: pd.DataFrame | None = None
) -> nx.MultiDiGraph:
    """Regions (hierarchy edges ``part_of``), organizations and pools (``based_in``), pairing
    candidates (``candidate``, with score and distance) and, given a plan, the chosen pairs
    (``paired``)."""
    from linkage.solvers.candidates import build_candidates

    graph = nx.MultiDiGraph(name=scenario.name)
    regions = scenario.regions
    _add_nodes(graph, "region", "region", regions, "code")
    has_parent = regions["parent"].notna()
    graph.add_edges_from(
        (f"region:{c}", f"region:{p}", {"type": "part_of"})
        for c, p in zip(
            regions.loc[has_parent, "code"], regions.loc[has_parent, "parent"], strict=True
        )
    )
    for table, prefix in (
        ("organizations", "org"),
        ("social_workers", "social_workers"),
        ("volunteers", "volunteers"),
    ):
        frame = scenario.tables[table]
        _add_nodes(graph, prefix, table.rstrip("s"), frame, "id")
        graph.add_edges_from(
            (f"{prefix}:{i}", f"region:{r}", {"type": "based_in"})
            for i, r in zip(frame["id"], frame["region"], strict=True)
        )
    workers = scenario.tables["social_workers"]
    employed = workers["org"].notna()
    graph.add_edges_from(
        (f"social_workers:{i}", f"org:{o}", {"type": "employed_by"})
        for i, o in zip(workers.loc[employed, "id"], workers.loc[employed, "org"], strict=True)
    )
    _add_nodes(graph, "resource", "resource", scenario.tables["resources"], "id")

    if candidates is None:
        candidates = build_candidates(scenario).candidates
    for row in candidates.itertuples(index=False):
        graph.add_edge(
            f"org:{row.org}",
            f"region:{row.target}",
            **_clean(
                {
                    "type": "candidate",
                    "score": row.score,
                    "load": row.load,
                    "distance_km": row.distance_km,
                }
            ),
        )
    if plan is not None and "pairs" in plan.tables:
        for row in plan.tables["pairs"].itertuples(index=False):
            graph.add_edge(
                f"org:{row.org}",
                f"region:{row.target}",
                **_clean({"type": "paired", "score": row.score, "reason": row.reason}),
            )
    return graph


def reachability(scenario: Scenario, candidates: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per pairing target: how many candidates it has, and for those with none, why.

    Columns: target, name, province, candidates, nearest_sender_km, reachable, why.
    """
    from linkage.solvers.candidates import build_candidates

    inputs = build_candidates(scenario)
    if candidates is None:
        candidates = inputs.candidates
    regions = scenario.regions
    tree = Hierarchy(regions)
    targets = inputs.targets
    counts = candidates.groupby("target").size()
    orgs = scenario.organizations
    senders = orgs[orgs["pairing_capacity"] > 0]
    points = regions.set_index("code")[["lat", "lon"]]
    province_of = pd.Series(
        tree.ancestor_at(regions["code"].to_numpy(), "province"), index=regions["code"]
    )
    names = dict(zip(regions["code"], regions["name"], strict=True))

    target_codes = targets["target"].to_numpy()
    t_pts = points.reindex(target_codes)
    s_pts = points.reindex(senders["region"])
    nearest = _nearest_km(t_pts, s_pts)
    t_prov = province_of.reindex(target_codes).to_numpy()
    s_prov = province_of.reindex(senders["region"]).to_numpy()
    n_candidates = counts.reindex(target_codes, fill_value=0).to_numpy()
    why = [
        "" if n else _why_unreachable(scenario, prov, names, s_prov, s_pts, lat, lon)
        for n, prov, lat, lon in zip(
            n_candidates, t_prov, t_pts["lat"].to_numpy(), t_pts["lon"].to_numpy(), strict=True
        )
    ]
    return pd.DataFrame(
        {
            "target": target_codes,
            "name": targets["name"].to_numpy(),
            "province": [names.get(p, "") if p else "" for p in t_prov],
            "candidates": n_candidates,
            "nearest_sender_km": np.round(nearest, 1),
            "reachable": n_candidates > 0,
            "why": why,
        }
    )


def _nearest_km(targets: pd.DataFrame, senders: pd.DataFrame) -> np.ndarray:
    """Great-circle km from each target to its nearest sender (NaN without points)."""
    from scipy.spatial import cKDTree

    from linkage.geo import km_for_chord, unit_vectors

    out = np.full(len(targets), np.nan)
    s_ok = senders.notna().all(axis=1).to_numpy()
    t_ok = targets.notna().all(axis=1).to_numpy()
    if not s_ok.any() or not t_ok.any():
        return out
    tree = cKDTree(unit_vectors(senders["lat"].to_numpy()[s_ok], senders["lon"].to_numpy()[s_ok]))
    chord, _ = tree.query(
        unit_vectors(targets["lat"].to_numpy()[t_ok], targets["lon"].to_numpy()[t_ok])
    )
    out[t_ok] = km_for_chord(chord)
    return out


def _why_unreachable(
    scenario: Scenario,
    prov: Any,
    names: dict[str, str],
    sender_prov: np.ndarray,
    sender_points: pd.DataFrame,
    lat: float,
    lon: float,
) -> str:
    """Which rule shuts the target off from every sender, in words (English / 中文)."""
    from linkage.geo import haversine_km
    from linkage.scenario.validate import short_province_name

    policy = scenario.policy.pairing
    if policy.candidates == "listed":
        return (
            "no fix/prefer row in pair_overrides lists it (candidates: listed) / 候选仅限结对调整表"
        )
    if len(sender_points) == 0:
        return "no sending organization (pairing_capacity > 0) in the scenario / 无援派机构"
    dist = haversine_km(sender_points["lat"].to_numpy(), sender_points["lon"].to_numpy(), lat, lon)
    same = sender_prov == prov
    limit = f"limit {policy.max_km:g} km" if policy.max_km else "no distance limit"
    parts = []
    if same.any():
        parts.append(
            f"nearest in-province sender {np.nanmin(dist[same]):.0f} km ({limit}) / "
            "本省机构超出服务半径"
        )
    else:
        parts.append("no sender in its province / 本省无援派机构")
    pname = names.get(prov, "") if prov else ""
    counterparts = next(
        (
            v
            for k, v in policy.counterparts.items()
            if k in (pname, short_province_name(pname), str(prov)[:2])
        ),
        None,
    )
    if policy.cross_province is False or (
        policy.cross_province == "counterparts" and counterparts is None
    ):
        parts.append("cross-province senders not allowed / 不允许跨省结对")
    elif counterparts is not None:
        parts.append(
            f"cross-province senders only from {', '.join(counterparts)}, none eligible "
            "/ 对口省份无可用机构"
        )
    elif (~same).any():
        parts.append(
            f"nearest cross-province sender {np.nanmin(dist[~same]):.0f} km ({limit}) "
            "/ 外省机构超出服务半径"
        )
    if (scenario.tables["pair_overrides"]["action"] == "forbid").any():
        parts.append("check forbid rows in pair_overrides / 注意禁止结对设置")
    return "; ".join(parts)
