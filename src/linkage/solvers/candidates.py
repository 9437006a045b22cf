"""The pairing candidate table: one row per allowed (organization, target), one variable per row.

Everything is built from arrays: reach through the spatial index (``linkage.geo``), province
rules through merges of small province tables, scores with numpy. No Python loop runs per
candidate, so ~10,000 senders × ~1,000 targets build in well under a second at the usual reach.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from linkage.geo import Hierarchy, PointIndex, haversine_km
from linkage.scenario.core import Scenario
from linkage.scenario.policy import Pairing, Priority
from linkage.scenario.validate import short_province_name

# Distance points fall to 0 at max_km; with no distance limit they fall to 0 at this reach, about
# the span of mainland China, so that nearer partners still score higher.
NO_LIMIT_SCORE_KM = 3000.0

PROFILE_DOMAINS: tuple[str, ...] = ("elderly", "children", "disability", "hardship", "family")
# which regions indicators make up each domain of a target's need profile
PROFILE_SOURCES: Mapping[str, tuple[str, ...]] = {
    "elderly": ("elderly",),
    "children": ("children_at_risk", "left_behind_children"),
    "disability": ("disabled",),
    "hardship": ("low_income", "extreme_poverty"),
    "family": ("left_behind_women",),
}
DESIGNATION_COLUMNS: tuple[str, ...] = ("key_assistance", "old_revolutionary", "ethnic")

CANDIDATE_COLUMNS: tuple[str, ...] = (
    "org",
    "target",
    "score",
    "load",
    "distance_km",
    "specialty",
    "quality",
    "distance",
    "continuity",
    "origin",
    "fixed",
    "cross_province",
    "target_province",
    "org_province",
)
QUOTA_GROUPS: tuple[str, ...] = ("cross_province", "in_province")
_ORIGIN_RANK = {"override": 0, "existing": 1, "rule": 2}
IntArray = NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class PairingInputs:
    """Everything the pairing model reads, as tables.

    - ``candidates``: ``CANDIDATE_COLUMNS``, index 0..n-1, sorted by target then org;
    - ``targets``: target, name, province, lat, lon, partners_needed, priority, designated
      (False when only an override made the region a target), need_<domain> (need profile);
    - ``organizations``: org, name, region, province, lat, lon, capacity — every sender and
      every organization named by a fix/prefer override;
    - ``quotas``: province, place (as the policy wrote it), group (cross_province / in_province),
      limit;
    - ``forbidden``: org, target pairs a forbid override removed.
    """

    candidates: pd.DataFrame
    targets: pd.DataFrame
    organizations: pd.DataFrame
    quotas: pd.DataFrame
    forbidden: pd.DataFrame


def province_lookup(regions: pd.DataFrame) -> dict[str, str]:
    """Every way the policy may name a province (name, short name, 2-digit or full code) → code."""
    provinces = regions[regions["level"] == "province"]
    lookup: dict[str, str] = {}
    for code, name in zip(provinces["code"], provinces["name"], strict=True):
        code = str(code)
        for key in (code, code[:2], str(name), short_province_name(str(name))):
            lookup.setdefault(key, code)
    return lookup


def resolve_province(lookup: Mapping[str, str], place: str) -> str:
    """The province code a policy place name means; KeyError names the place when unknown."""
    key = str(place).strip()
    if key in lookup:
        return lookup[key]
    short = short_province_name(key)
    if short in lookup:
        return lookup[short]
    raise KeyError(f"province {place!r} is not among the province-level regions")


def need_profile(regions: pd.DataFrame) -> NDArray[np.float64]:
    """Share of each ``PROFILE_DOMAINS`` domain in a region's needs; uniform when all are 0."""
    counts = np.column_stack(
        [
            np.nansum(
                np.column_stack([regions[c].to_numpy(dtype=float) for c in PROFILE_SOURCES[d]]),
                axis=1,
            )
            for d in PROFILE_DOMAINS
        ]
    )
    total = counts.sum(axis=1, keepdims=True)
    uniform = np.full_like(counts, 1.0 / len(PROFILE_DOMAINS))
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(total > 0, counts / np.where(total > 0, total, 1.0), uniform)
    return np.asarray(shares, dtype=float)


def specialty_matrix(specialties: pd.Series) -> NDArray[np.float64]:
    """1.0 where an organization lists a ``PROFILE_DOMAINS`` domain among its specialties."""
    padded = ";" + specialties.fillna("").astype(str) + ";"
    return np.column_stack(
        [padded.str.contains(f";{d};", regex=False).to_numpy(dtype=float) for d in PROFILE_DOMAINS]
    )


def priority_weights(regions: pd.DataFrame, priority: Priority) -> NDArray[np.int64]:
    """The largest priority weight over a region's designations, else ``default``."""
    weights = np.full(len(regions), priority.default, dtype=np.int64)
    any_designation = np.zeros(len(regions), dtype=bool)
    best = np.zeros(len(regions), dtype=np.int64)
    for name in DESIGNATION_COLUMNS:
        flag = regions[name].to_numpy(dtype=bool)
        any_designation |= flag
        best = np.where(flag, np.maximum(best, int(getattr(priority, name))), best)
    return np.where(any_designation, best, weights)


def round_half_up(values: NDArray[np.float64]) -> NDArray[np.int64]:
    """Conventional rounding (0.5 → 1), not numpy's round-half-to-even."""
    return np.floor(np.asarray(values, dtype=float) + 0.5).astype(np.int64)


def build_candidates(scenario: Scenario) -> PairingInputs:
    """The candidate table and the targets, senders and quotas the pairing model needs."""
    policy = scenario.policy
    rules = policy.pairing
    regions = scenario.regions
    overrides = scenario.tables["pair_overrides"]
    existing = scenario.tables["existing_pairs"]
    tree = Hierarchy(regions)
    lookup = province_lookup(regions)

    adders = overrides[overrides["action"].isin(["fix", "prefer"])].reset_index(drop=True)
    forbid = overrides.loc[overrides["action"] == "forbid", ["org", "target"]].reset_index(
        drop=True
    )
    targets = _targets(regions, rules, policy.priority, set(adders["target"]), tree)
    senders = _organizations(scenario.organizations, regions, set(adders["org"]), tree)
    org_index = pd.Index(senders["org"])
    target_index = pd.Index(targets["target"])

    # every source of pairs as (org position, target position, origin rank)
    oi_parts: list[IntArray] = []
    ti_parts: list[IntArray] = []
    rank_parts: list[IntArray] = []

    def add(oi: IntArray, ti: IntArray, origin: str) -> None:
        ok = (oi >= 0) & (ti >= 0)
        oi_parts.append(oi[ok])
        ti_parts.append(ti[ok])
        rank_parts.append(np.full(int(ok.sum()), _ORIGIN_RANK[origin], dtype=np.int64))

    if rules.candidates == "rules":
        add(*_rule_pairs(senders, targets, rules, lookup, tree), "rule")
        oi = _positions(org_index, existing["org"])
        # position -1 (not a sender) reads the appended 0 and stays excluded
        capacity = np.append(senders["capacity"].to_numpy(dtype=np.int64), 0)
        oi = np.where(capacity[oi] > 0, oi, -1)
        add(oi, _positions(target_index, existing["target"]), "existing")
    add(
        _positions(org_index, adders["org"]), _positions(target_index, adders["target"]), "override"
    )

    oi = np.concatenate(oi_parts)
    ti = np.concatenate(ti_parts)
    rank = np.concatenate(rank_parts)
    n_o = max(len(senders), 1)
    key = ti * n_o + oi  # both tables are sorted by code, so key order is (target, org) order
    order = np.lexsort((rank, key))
    first = np.ones(len(order), dtype=bool)
    first[1:] = key[order][1:] != key[order][:-1]
    keep = order[first]
    oi, ti, rank = oi[keep], ti[keep], rank[keep]
    if len(forbid):
        banned = _positions(target_index, forbid["target"]) * n_o + _positions(
            org_index, forbid["org"]
        )
        allowed = ~np.isin(ti * n_o + oi, banned)
        oi, ti, rank = oi[allowed], ti[allowed], rank[allowed]

    origin_names = np.array(sorted(_ORIGIN_RANK, key=_ORIGIN_RANK.__getitem__), dtype=object)
    table = _score(oi, ti, origin_names[rank], senders, targets, regions, rules, existing, adders)
    return PairingInputs(
        candidates=table,
        targets=targets,
        organizations=senders,
        quotas=_quotas(rules, lookup),
        forbidden=forbid,
    )


def _positions(index: pd.Index, codes: pd.Series) -> IntArray:
    return np.asarray(index.get_indexer(pd.Index(codes.to_numpy(dtype=object))), dtype=np.int64)


def _targets(
    regions: pd.DataFrame,
    rules: Pairing,
    priority: Priority,
    named: set[str],
    tree: Hierarchy,
) -> pd.DataFrame:
    designated = np.zeros(len(regions), dtype=bool)
    for name in rules.targets:
        designated |= regions[name].to_numpy(dtype=bool)
    designated &= (regions["level"] == rules.level).to_numpy()
    # a planner's fix/prefer names a region as a target even when no designation makes it one
    chosen = designated | regions["code"].isin(named).to_numpy()
    rows = regions[chosen]
    profile = need_profile(rows)
    frame = pd.DataFrame(
        {
            "target": rows["code"].to_numpy(dtype=object),
            "name": rows["name"].to_numpy(dtype=object),
            "province": tree.ancestor_at(rows["code"].to_numpy(), "province"),
            "lat": rows["lat"].to_numpy(dtype=float),
            "lon": rows["lon"].to_numpy(dtype=float),
            "partners_needed": np.full(len(rows), rules.partners_per_target, dtype=np.int64),
            "priority": priority_weights(rows, priority),
            "designated": designated[chosen],
            **{f"need_{d}": profile[:, i] for i, d in enumerate(PROFILE_DOMAINS)},
        }
    )
    return frame.sort_values("target", kind="stable").reset_index(drop=True)


def _organizations(
    orgs: pd.DataFrame, regions: pd.DataFrame, named: set[str], tree: Hierarchy
) -> pd.DataFrame:
    capacity = orgs["pairing_capacity"].to_numpy(dtype=np.int64)
    rows = orgs[(capacity > 0) | orgs["id"].isin(named).to_numpy()]
    where = tree.positions(rows["region"].to_numpy())
    lat = regions["lat"].to_numpy(dtype=float)
    lon = regions["lon"].to_numpy(dtype=float)
    ok = where >= 0
    frame = pd.DataFrame(
        {
            "org": rows["id"].to_numpy(dtype=object),
            "name": rows["name"].to_numpy(dtype=object),
            "region": rows["region"].to_numpy(dtype=object),
            "province": tree.ancestor_at(rows["region"].to_numpy(), "province"),
            "lat": np.where(ok, lat[np.maximum(where, 0)], np.nan),
            "lon": np.where(ok, lon[np.maximum(where, 0)], np.nan),
            "capacity": rows["pairing_capacity"].to_numpy(dtype=np.int64),
            "rating": rows["rating"].to_numpy(dtype=np.int64),
            "specialties": rows["specialties"].fillna("").to_numpy(dtype=object),
        }
    )
    return frame.sort_values("org", kind="stable").reset_index(drop=True)


def _counterpart_pairs(rules: Pairing, lookup: Mapping[str, str]) -> pd.DataFrame:
    rows = [
        (resolve_province(lookup, target), resolve_province(lookup, sender))
        for target, senders in rules.counterparts.items()
        for sender in senders
    ]
    return pd.DataFrame(rows, columns=["target_province", "org_province"]).drop_duplicates()


def _rule_pairs(
    senders: pd.DataFrame,
    targets: pd.DataFrame,
    rules: Pairing,
    lookup: Mapping[str, str],
    tree: Hierarchy,
) -> tuple[IntArray, IntArray]:
    """(org position, target position) pairs the rules allow, 'org inside target' removed."""
    active = np.flatnonzero(senders["capacity"].to_numpy() > 0)
    designated = np.flatnonzero(targets["designated"].to_numpy(dtype=bool))
    counterparts = _counterpart_pairs(rules, lookup)
    restricted = set(counterparts["target_province"])
    s_prov = senders["province"].to_numpy(dtype=object)[active]
    t_prov = targets["province"].to_numpy(dtype=object)[designated]
    s_lat = senders["lat"].to_numpy(dtype=float)[active]
    s_lon = senders["lon"].to_numpy(dtype=float)[active]
    t_lat = targets["lat"].to_numpy(dtype=float)[designated]
    t_lon = targets["lon"].to_numpy(dtype=float)[designated]

    # "counterparts": cross-province pairs only along the counterparts table
    only_counterparts = rules.cross_province == "counterparts"
    any_province = rules.cross_province is True
    if rules.max_km is not None:
        ti, si, _ = PointIndex(s_lat, s_lon).within_km(t_lat, t_lon, rules.max_km)
    elif any_province:
        # no distance limit and any province may send: every pair is within the rules
        ti = np.repeat(np.arange(len(designated), dtype=np.int64), len(active))
        si = np.tile(np.arange(len(active), dtype=np.int64), len(designated))
    else:
        same = pd.merge(
            pd.DataFrame({"ti": np.arange(len(designated)), "province": t_prov}),
            pd.DataFrame({"si": np.arange(len(active)), "province": s_prov}),
            on="province",
        )
        ti = same["ti"].to_numpy(dtype=np.int64)
        si = same["si"].to_numpy(dtype=np.int64)

    cross = s_prov[si] != t_prov[ti]
    along = _member(t_prov[ti], s_prov[si], counterparts)
    if any_province:
        in_restricted = np.isin(t_prov[ti], list(restricted))
        ok = ~cross | ~in_restricted | along
    elif only_counterparts:
        ok = ~cross | along
    else:
        ok = ~cross
    si, ti = si[ok], ti[ok]

    # counterpart pairs beyond max_km; a province listed as its own counterpart does not lift
    # the distance limit for its in-province senders
    counterparts = counterparts[counterparts["target_province"] != counterparts["org_province"]]
    crossing_allowed = any_province or only_counterparts
    lifted = rules.counterparts_ignore_distance or rules.max_km is None
    if crossing_allowed and lifted and len(counterparts):
        far = counterparts.merge(
            pd.DataFrame({"ti": np.arange(len(designated)), "target_province": t_prov}),
            on="target_province",
        ).merge(
            pd.DataFrame({"si": np.arange(len(active)), "org_province": s_prov}),
            on="org_province",
        )
        # duplicates with the near pairs are removed with the other sources' duplicates
        si = np.concatenate([si, far["si"].to_numpy(dtype=np.int64)])
        ti = np.concatenate([ti, far["ti"].to_numpy(dtype=np.int64)])
    oi = active[si].astype(np.int64)
    tj = designated[ti].astype(np.int64)
    inside = tree.is_within(
        senders["region"].to_numpy(dtype=object)[oi], targets["target"].to_numpy(dtype=object)[tj]
    )
    return oi[~inside], tj[~inside]


def _member(
    target_province: NDArray[np.object_],
    org_province: NDArray[np.object_],
    allowed: pd.DataFrame,
) -> NDArray[np.bool_]:
    """Element-wise: is (target_province, org_province) a row of ``allowed``."""
    if not len(allowed) or not len(target_province):
        return np.zeros(len(target_province), dtype=bool)
    key = pd.MultiIndex.from_arrays([target_province, org_province])
    table = pd.MultiIndex.from_frame(allowed[["target_province", "org_province"]])
    return np.asarray(key.isin(table), dtype=bool)


def _score(
    oi: IntArray,
    ti: IntArray,
    origin: NDArray[np.object_],
    senders: pd.DataFrame,
    targets: pd.DataFrame,
    regions: pd.DataFrame,
    rules: Pairing,
    existing: pd.DataFrame,
    adders: pd.DataFrame,
) -> pd.DataFrame:
    weights = rules.weights
    n_o = max(len(senders), 1)
    distance_km = haversine_km(
        targets["lat"].to_numpy()[ti],
        targets["lon"].to_numpy()[ti],
        senders["lat"].to_numpy()[oi],
        senders["lon"].to_numpy()[oi],
    )
    profile = targets[[f"need_{d}" for d in PROFILE_DOMAINS]].to_numpy(dtype=float)
    has = specialty_matrix(senders["specialties"])
    fit = np.einsum("ij,ij->i", has[oi], profile[ti]) if len(oi) else np.zeros(0)
    specialty = round_half_up(weights.specialty * fit)
    quality = round_half_up(weights.quality * senders["rating"].to_numpy(dtype=float)[oi] / 5.0)
    reach = rules.max_km if rules.max_km is not None else NO_LIMIT_SCORE_KM
    closeness = np.maximum(0.0, 1.0 - np.nan_to_num(distance_km, nan=reach) / reach)
    distance = round_half_up(weights.distance * closeness)

    org_index = pd.Index(senders["org"])
    target_index = pd.Index(targets["target"])
    key = ti * n_o + oi
    was = _positions(target_index, existing["target"]) * n_o + _positions(
        org_index, existing["org"]
    )
    continuity = np.where(np.isin(key, was), rules.continuity_bonus, 0).astype(np.int64)
    score = specialty + quality + distance + continuity

    load = np.ones(len(oi), dtype=np.int64)
    fixed = np.zeros(len(oi), dtype=bool)
    if len(adders) and len(oi):
        wanted = _positions(target_index, adders["target"]) * n_o + _positions(
            org_index, adders["org"]
        )
        at = pd.Index(key).get_indexer(wanted)
        given = at >= 0
        at = at[given]
        chosen = adders[given]
        fixed[at] = (chosen["action"] == "fix").to_numpy()
        own_score = chosen["score"].to_numpy(dtype=float)
        own_load = chosen["load"].to_numpy(dtype=float)
        has_score = ~np.isnan(own_score)
        has_load = ~np.isnan(own_load)
        score[at[has_score]] = own_score[has_score].astype(np.int64)
        load[at[has_load]] = own_load[has_load].astype(np.int64)

    t_prov = targets["province"].to_numpy(dtype=object)[ti]
    o_prov = senders["province"].to_numpy(dtype=object)[oi]
    return pd.DataFrame(
        {
            "org": senders["org"].to_numpy(dtype=object)[oi],
            "target": targets["target"].to_numpy(dtype=object)[ti],
            "score": score.astype(np.int64),
            "load": load,
            "distance_km": distance_km,
            "specialty": specialty,
            "quality": quality,
            "distance": distance,
            "continuity": continuity,
            "origin": origin,
            "fixed": fixed,
            "cross_province": np.asarray(t_prov != o_prov, dtype=bool),
            "target_province": t_prov,
            "org_province": o_prov,
        },
        columns=list(CANDIDATE_COLUMNS),
    )


def _quotas(rules: Pairing, lookup: Mapping[str, str]) -> pd.DataFrame:
    rows = []
    for place, quota in rules.quotas.items():
        province = resolve_province(lookup, place)
        for group in QUOTA_GROUPS:
            limit = getattr(quota, group)
            if limit is not None:
                rows.append((province, place, group, int(limit)))
    frame = pd.DataFrame(rows, columns=["province", "place", "group", "limit"])
    # two spellings of one province (青海 and 63) both cap it; the tighter limit binds
    return (
        frame.sort_values("limit", kind="stable")
        .drop_duplicates(["province", "group"], keep="first")
        .reset_index(drop=True)
        .astype({"limit": np.int64})
    )
