"""Synthetic supply tables: organizations, social-worker and volunteer pools, donor lots, and
last period's pairs and planner overrides. Every draw comes from the one generator passed in, in
a fixed order, so a seed reproduces the files exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from linkage.scenario.tables import TABLES
from linkage.synth.geography import PROVINCIAL_CAPITALS, Geo, _largest_remainder
from linkage.synth.settings import (
    ExistingPairs,
    NamedOrganization,
    OrganizationGroup,
    PairOverrides,
    Placement,
    Resources,
    SocialWorkers,
    Volunteers,
)

IntArray = NDArray[np.int64]

# how often each domain is an organization's or worker's specialty: elderly and children work
# dominate Chinese social-work service purchasing; volunteer development is a niche
DOMAIN_WEIGHTS: dict[str, float] = {
    "elderly": 0.26,
    "children": 0.2,
    "disability": 0.11,
    "hardship": 0.15,
    "family": 0.1,
    "community": 0.12,
    "volunteer_dev": 0.06,
}
ORG_WORDS = (
    "仁爱",
    "阳光",
    "同心",
    "和谐",
    "益民",
    "启航",
    "善德",
    "恒爱",
    "春晖",
    "向阳",
    "惠民",
    "乐群",
    "明德",
    "博爱",
    "睦邻",
    "众合",
    "爱心",
    "新航",
    "德馨",
    "暖阳",
    "同行",
    "汇智",
    "慧心",
    "安康",
)
SENDER_MIN_RATING = 3  # 牵手 sending agencies are expected to be well-rated (3A or better)


def eligible_units(geo: Geo, where: Placement) -> tuple[IntArray, NDArray[np.float64]]:
    """Row positions of the regions rows a placement allows, and their placement weights."""
    table = geo.table
    mask = np.array(table["level"] == where.level, dtype=bool)
    if where.provinces:
        mask &= geo.province.isin(where.provinces).to_numpy()
    if where.prefectures:
        mask &= geo.prefecture.isin(where.prefectures).to_numpy()
    if where.capitals:
        capital = geo.province.map(PROVINCIAL_CAPITALS).fillna("")
        mask &= (geo.prefecture == capital).to_numpy()
    if where.districts_only:
        mask &= geo.is_district.to_numpy()
    units = np.flatnonzero(mask).astype(np.int64)
    if where.weight == "population":
        pop = table["population"].to_numpy(dtype=float, na_value=np.nan)[units]
        weights = np.where(np.isfinite(pop) & (pop > 0), pop, 1.0)
    else:
        weights = np.ones(len(units))
    return units, np.asarray(weights, dtype=float)


def place(rng: np.random.Generator, geo: Geo, where: Placement, n: int) -> IntArray:
    """Regions row positions of n rows: ``min_per_unit`` everywhere, the rest by weight."""
    units, weights = eligible_units(geo, where)
    if n and not len(units):
        raise ValueError(f"no region matches the placement {where.model_dump()}")
    base = np.repeat(units, where.min_per_unit)[:n]
    rest = n - len(base)
    extra = rng.choice(units, size=rest, p=weights / weights.sum()) if rest > 0 else units[:0]
    return np.sort(np.concatenate([base, extra]).astype(np.int64), kind="stable")


def _pick(rng: np.random.Generator, choices: Mapping[Any, float], n: int) -> list[Any]:
    keys = list(choices)
    p = np.asarray([choices[k] for k in keys], dtype=float)
    idx = rng.choice(len(keys), size=n, p=p / p.sum())
    return [keys[i] for i in idx]


def _domains(rng: np.random.Generator, span: tuple[int, int], n: int) -> list[str]:
    names = list(DOMAIN_WEIGHTS)
    p = np.asarray(list(DOMAIN_WEIGHTS.values()))
    p = p / p.sum()
    sizes = rng.integers(span[0], span[1] + 1, size=n)
    return [
        ";".join(sorted(rng.choice(names, size=int(k), replace=False, p=p))) if k else ""
        for k in sizes
    ]


# pseudo units (development zones) make poor place names; their city's name stands in
_ZONE_WORDS = (
    "开发",
    "示范",
    "产业",
    "园区",
    "食品区",
    "新区",
    "实验区",
    "聚集区",
    "管理区",
    "委员会",
)


def _short(name: str) -> str:
    for suffix in ("自治县", "自治旗", "街道", "县", "区", "市", "镇", "乡", "旗"):
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


def _place_name(names: NDArray[np.object_], parent_pos: IntArray, pos: int) -> str:
    name = str(names[pos])
    if any(word in name for word in _ZONE_WORDS) and parent_pos[pos] >= 0:
        return _short(str(names[parent_pos[pos]]))
    return _short(name)


def organizations(
    rng: np.random.Generator,
    geo: Geo,
    groups: Sequence[OrganizationGroup],
    named: Sequence[NamedOrganization],
    prefix: str,
    factor: float = 1.0,
) -> pd.DataFrame:
    frames: list[pd.DataFrame] = []
    names_seen: dict[str, int] = {}
    table = geo.table
    region_names = table["name"].to_numpy(dtype=object)
    parent_pos = pd.Index(table["code"]).get_indexer(table["parent"].fillna(""))
    for group in groups:
        n = round(group.count * factor)
        where = place(rng, geo, group.where, n)
        staff = np.clip(
            np.round(rng.lognormal(np.log(group.staff_median), 0.6, n)), 1, group.staff_max
        ).astype(np.int64)
        rating = rng.choice(6, size=n, p=np.asarray(group.rating_probabilities) / 1.0)
        capacity = np.asarray(_pick(rng, group.pairing_capacity, n), dtype=np.int64)
        rating = np.where(capacity > 0, np.maximum(rating, SENDER_MIN_RATING), rating)
        specialties = _domains(rng, group.specialties, n)
        words = rng.integers(0, len(ORG_WORDS), size=n)
        suffixes = rng.integers(0, len(group.name_suffixes), size=n)
        names = []
        for pos, w, s in zip(where, words, suffixes, strict=True):
            here = int(pos)
            if table["level"].iat[here] == "township":
                county = int(parent_pos[here])
                place_name = _place_name(region_names, parent_pos, county) + _short(
                    str(region_names[here])
                )
            else:
                place_name = _place_name(region_names, parent_pos, here)
            name = f"{place_name}{ORG_WORDS[w]}{group.name_suffixes[s]}"
            seen = names_seen.get(name, 0)
            names_seen[name] = seen + 1
            names.append(name if not seen else f"{name}（{seen + 1}）")
        frames.append(
            pd.DataFrame(
                {
                    "name": names,
                    "region": table["code"].to_numpy(dtype=object)[where],
                    "kind": group.kind,
                    "specialties": specialties,
                    "staff": staff,
                    "rating": rating.astype(np.int64),
                    "pairing_capacity": capacity,
                }
            )
        )
    frame = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=TABLES["organizations"].names)
    )
    frame.insert(0, "id", [f"{prefix}-O{i + 1:05d}" for i in range(len(frame))])
    known = set(table["code"])
    extra = []
    for org in named:
        if org.region not in known:
            raise ValueError(f"named organization {org.id}: region {org.region} is not generated")
        extra.append(
            {
                "id": org.id,
                "name": org.name,
                "region": org.region,
                "kind": org.kind,
                "specialties": ";".join(sorted(org.specialties)),
                "staff": org.staff,
                "rating": org.rating,
                "pairing_capacity": org.pairing_capacity,
            }
        )
    if extra:
        frame = pd.concat([pd.DataFrame(extra), frame], ignore_index=True)
    return frame[TABLES["organizations"].names]


def _people(
    rng: np.random.Generator, total: int, weights: NDArray[np.float64]
) -> NDArray[np.int64]:
    """People per pool: the total split by weight with gamma noise, every pool at least one."""
    n = len(weights)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    noisy = weights * rng.gamma(2.0, 0.5, size=n)
    counts = np.ones(n, dtype=np.int64) + _largest_remainder(float(total - n), noisy)
    return counts


def social_workers(
    rng: np.random.Generator,
    geo: Geo,
    orgs: pd.DataFrame,
    spec: SocialWorkers,
    prefix: str,
    factor: float = 1.0,
) -> pd.DataFrame:
    people = round(spec.people * factor)
    rows = min(round(spec.rows * factor), people)
    where = place(rng, geo, spec.where, rows)
    pop = geo.table["population"].to_numpy(dtype=float, na_value=np.nan)[where]
    counts = _people(rng, people, np.where(np.isfinite(pop) & (pop > 0), pop, 1.0))
    region = geo.table["code"].to_numpy(dtype=object)[where]
    county = geo.county.to_numpy(dtype=object)[where]

    # an employed pool works for a social-work organization of its own county
    org_county = orgs["region"].astype(str).str[:6].to_numpy(dtype=object)
    social_work = (orgs["kind"] == "social_work").to_numpy()
    by_county: dict[str, list[str]] = {}
    for oid, c, ok in zip(orgs["id"], org_county, social_work, strict=True):
        if ok:
            by_county.setdefault(str(c), []).append(str(oid))
    employed = rng.random(rows) < spec.employed_share
    pick = rng.random(rows)
    org_ids: list[str | None] = []
    for c, emp, u in zip(county, employed, pick, strict=True):
        candidates = by_county.get(str(c), [])
        org_ids.append(candidates[int(u * len(candidates))] if emp and candidates else None)
    return pd.DataFrame(
        {
            "id": [f"{prefix}-W{i + 1:06d}" for i in range(rows)],
            "region": region,
            "org": org_ids,
            "level": _pick(rng, spec.levels, rows),
            "specialties": _domains(rng, spec.specialties, rows),
            "fte": _pick(rng, spec.fte, rows),
            "max_km": [float(v) if v else None for v in _pick(rng, spec.max_km, rows)],
            "count": counts,
        }
    )[TABLES["social_workers"].names]


def volunteers(
    rng: np.random.Generator, geo: Geo, spec: Volunteers, prefix: str, factor: float = 1.0
) -> pd.DataFrame:
    units, weights = eligible_units(geo, spec.where)
    people = round(spec.people * factor)
    rows = min(round(len(units) * spec.pools_per_unit * factor), people)
    # equal pools per unit; when scaled down, a random subset of units keeps one
    per_unit = _largest_remainder(float(rows), np.ones(len(units)) + rng.random(len(units)) * 1e-6)
    where = np.repeat(units, per_unit)
    counts = _people(rng, people, np.repeat(weights / np.maximum(per_unit, 1), per_unit))
    hours = np.clip(np.round(rng.lognormal(np.log(spec.hours_median), 0.5, rows)), 4, 400)
    return pd.DataFrame(
        {
            "id": [f"{prefix}-V{i + 1:07d}" for i in range(rows)],
            "region": geo.table["code"].to_numpy(dtype=object)[where],
            "skills": _domains(rng, spec.skills, rows),
            "hours": hours,
            "max_km": [float(v) if v else None for v in _pick(rng, spec.max_km, rows)],
            "count": counts,
        }
    )[TABLES["volunteers"].names]


def resources(
    rng: np.random.Generator, geo: Geo, spec: Resources, prefix: str, factor: float = 1.0
) -> pd.DataFrame:
    n = round(spec.lots * factor)
    table = geo.table
    donor_idx = rng.choice(
        len(spec.donors), size=n, p=_norm([d.weight for d in spec.donors])
    ).astype(np.int64)
    kinds = _pick(rng, spec.kinds, n)
    weights = rng.lognormal(0.0, 1.0, n)
    is_funds = np.asarray([k == "funds" for k in kinds])
    money = np.zeros(n)
    if is_funds.any():
        money[is_funds] = spec.total_yuan * factor * weights[is_funds] / weights[is_funds].sum()
    present = [d for d in ("key_assistance", "old_revolutionary", "ethnic") if table[d].any()]
    restrictable = table[table["level"].isin(["city", "county"])]
    designated = restrictable[restrictable[present].any(axis=1)] if present else restrictable
    rows: list[dict[str, Any]] = []
    for i in range(n):
        donor = spec.donors[int(donor_idx[i])]
        kind = kinds[i]
        if kind == "funds":
            amount, unit = max(1000.0, round(money[i] / 1000) * 1000), "yuan"
        elif kind == "goods":
            amount, unit = float(rng.integers(2, 50) * 100), "件"
        else:
            amount, unit = float(rng.integers(2, 40) * 100), "小时"
        eligible = ""
        if present and rng.random() < spec.eligible_probability:
            k = int(rng.integers(1, len(present) + 1))
            eligible = ";".join(sorted(rng.choice(present, size=k, replace=False)))
        regions = ""
        if rng.random() < spec.regions_probability and len(restrictable):
            pool = designated if (len(designated) and rng.random() < 0.5) else restrictable
            k = int(rng.integers(1, 3))
            picked = rng.choice(pool["code"].to_numpy(dtype=object), size=k, replace=False)
            regions = ";".join(sorted(str(c) for c in picked))
        domains = ""
        if rng.random() < spec.domains_probability:
            domains = _domains(rng, (1, 2), 1)[0]
        earmark = str(_pick(rng, spec.earmarks, 1)[0])
        if donor.donor_type == "lottery":
            # lottery welfare funds go first to township social-work services (henan-14th-fyp)
            earmark = "social_work"
        if earmark == "child_welfare":
            domains = "children"
        min_grant = 0.0
        if kind == "funds" and rng.random() < spec.min_grant_probability:
            min_grant = float(min(amount, rng.integers(1, 6) * 10000))
        rows.append(
            {
                "id": f"{prefix}-R{i + 1:05d}",
                "donor": donor.name,
                "donor_type": donor.donor_type,
                "kind": kind,
                "amount": amount,
                "unit": unit,
                "eligible": eligible,
                "regions": regions,
                "domains": domains,
                "earmark": earmark,
                "min_grant": min_grant,
            }
        )
    columns = TABLES["resources"].names
    return pd.DataFrame(rows, columns=columns) if rows else pd.DataFrame(columns=columns)


def _norm(values: Sequence[float]) -> NDArray[np.float64]:
    arr = np.asarray(values, dtype=float)
    return arr / arr.sum()


def province_codes(geo: Geo) -> dict[str, str]:
    """Every way a policy may name a province (name, short name, 2-digit code) → 2-digit code."""
    from linkage.scenario.validate import short_province_name

    provinces = geo.table[geo.table["level"] == "province"]
    out: dict[str, str] = {}
    for code, name in zip(provinces["code"], provinces["name"], strict=True):
        two = str(code)[:2]
        out.update({two: two, str(code): two, str(name): two, short_province_name(str(name)): two})
    return out


def _allowed_senders(
    geo: Geo, orgs: pd.DataFrame, policy: Mapping[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, set[str]]]:
    """Targets, senders and the provinces each target province accepts senders from."""
    pairing = policy.get("pairing", {}) or {}
    level = pairing.get("level", "county")
    designations = pairing.get("targets", ["key_assistance"])
    table = geo.table
    flagged = table[list(designations)].any(axis=1) & (table["level"] == level)
    targets = pd.DataFrame(
        {"target": table.loc[flagged, "code"], "province": geo.province[flagged]}
    ).reset_index(drop=True)
    senders = orgs[orgs["pairing_capacity"] > 0][["id", "region", "pairing_capacity"]].copy()
    senders["province"] = senders["region"].astype(str).str[:2]
    names = province_codes(geo)
    accepted: dict[str, set[str]] = {}
    for target, sources in (pairing.get("counterparts") or {}).items():
        t = names.get(str(target))
        if t is not None:
            accepted.setdefault(t, {t}).update(names[str(s)] for s in sources if str(s) in names)
    return targets, senders.reset_index(drop=True), accepted


def existing_pairs(
    rng: np.random.Generator,
    geo: Geo,
    orgs: pd.DataFrame,
    policy: Mapping[str, Any],
    spec: ExistingPairs,
) -> pd.DataFrame:
    """Last period's pairs: in-province or from a counterpart province, within capacity."""
    targets, senders, accepted = _allowed_senders(geo, orgs, policy)
    left = dict(zip(senders["id"], senders["pairing_capacity"], strict=True))
    by_province = {p: g["id"].tolist() for p, g in senders.groupby("province")}
    rows: list[dict[str, Any]] = []
    order = rng.permutation(len(targets))
    for ti in order:
        if len(rows) >= spec.count:
            break
        target, province = str(targets["target"].iat[ti]), str(targets["province"].iat[ti])
        pool = [
            o for p in sorted(accepted.get(province, {province})) for o in by_province.get(p, [])
        ]
        pool = [o for o in pool if left[o] > 0]
        if not pool:
            continue
        org = pool[int(rng.integers(len(pool)))]
        left[org] -= 1
        since = int(rng.integers(spec.since[0], spec.since[1] + 1))
        rows.append({"org": org, "target": target, "since": since})
    return pd.DataFrame(rows, columns=TABLES["existing_pairs"].names)


def pair_overrides(
    rng: np.random.Generator,
    geo: Geo,
    orgs: pd.DataFrame,
    policy: Mapping[str, Any],
    existing: pd.DataFrame,
    spec: PairOverrides,
) -> pd.DataFrame:
    """A few planner decisions: fix allowed pairs, forbid last period's, prefer out-of-rule ones."""
    targets, senders, accepted = _allowed_senders(geo, orgs, policy)
    used = existing["org"].value_counts().to_dict() if len(existing) else {}
    left = {
        o: int(c) - int(used.get(o, 0))
        for o, c in zip(senders["id"], senders["pairing_capacity"], strict=True)
    }
    taken = set(existing["target"]) if len(existing) else set()
    rows: list[dict[str, Any]] = []
    free = [i for i in rng.permutation(len(targets)) if targets["target"].iat[i] not in taken]
    for ti in free[: spec.fix]:
        province = str(targets["province"].iat[ti])
        pool = [
            o
            for o, p in zip(senders["id"], senders["province"], strict=True)
            if p in accepted.get(province, {province}) and left[o] > 0
        ]
        if pool:
            org = pool[int(rng.integers(len(pool)))]
            left[org] -= 1
            rows.append({"org": org, "target": targets["target"].iat[ti], "action": "fix"})
    if len(existing):
        for i in rng.permutation(len(existing))[: spec.forbid]:
            rows.append(
                {
                    "org": existing["org"].iat[i],
                    "target": existing["target"].iat[i],
                    "action": "forbid",
                }
            )
    for j, ti in enumerate(free[spec.fix : spec.fix + spec.prefer]):
        province = str(targets["province"].iat[ti])
        outside = senders[~senders["province"].isin(accepted.get(province, {province}))]
        pool_frame = outside if len(outside) else senders
        if not len(pool_frame):
            break
        org = pool_frame["id"].iat[int(rng.integers(len(pool_frame)))]
        rows.append(
            {
                "org": org,
                "target": targets["target"].iat[ti],
                "action": "prefer",
                "score": 60 + 10 * j,
                "load": 1,
            }
        )
    frame = pd.DataFrame(rows, columns=TABLES["pair_overrides"].names)
    for col in ("score", "load"):
        frame[col] = frame[col].astype("Int64")
    return frame.drop_duplicates(subset=["org", "target"], keep="first").reset_index(drop=True)
