"""The regions table: real geography and census figures, synthetic beneficiary counts.

Real: codes, names, hierarchy, points, 2020 census population and 60+ share, designations.
Apportioned: township population and elderly (county census figures split by the township's
villages and communities — no open source has township populations). Synthetic: care beds and the
beneficiary counts, drawn around national rates (``RATE_SOURCES``) with log-normal local spread.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from linkage import reference
from linkage.scenario.tables import PERSON_COUNTS, REGIONS
from linkage.synth.settings import Designations, Geography, Indicators

FloatArray = NDArray[np.float64]

# Where each default rate in ``Indicators`` comes from; written into provenance. All approximate.
RATE_SOURCES: dict[str, str] = {
    "care_beds": "35 beds per 1,000 elderly: the 13th five-year civil-affairs target of 35–40 "
    "elderly-care beds per 1,000 elderly (aggregates.md, secondary copy)",
    "children_at_risk": "10 per 1,000 children aged 0–14 (approximate assumption: MCA counts of "
    "orphans, de-facto unattended and other 困境儿童 amount to a few million nationally)",
    "left_behind_children": "13.5 per 1,000 rural residents (approximate: MCA 2018 count of ~6.97 "
    "million rural left-behind children over the 2020 census rural population of ~510 million)",
    "left_behind_women": "40 per 1,000 rural residents (approximate, low reliability: research "
    "estimates of tens of millions of rural left-behind women in the 2010s, since declining)",
    "disabled": "27 per 1,000 residents (approximate: ~38 million certified disabled persons, "
    "CDPF statistics around 2021)",
    "low_income": "68 per 1,000 rural and 8 per 1,000 urban residents (approximate: MCA 2021 "
    "bulletin, ~34.7 million rural and ~7.4 million urban 低保 recipients)",
    "extreme_poverty": "8.6 per 1,000 rural and 0.4 per 1,000 urban residents (approximate: MCA "
    "2021 bulletin, ~4.4 million rural and ~0.3 million urban 特困 persons)",
}

# the synthetic counts: care beds and every beneficiary count but the (real) elderly
COUNT_COLUMNS = ("care_beds", *(c for c in PERSON_COUNTS if c != "elderly"))
DESIGNATIONS = ("key_assistance", "old_revolutionary", "ethnic")
DEFAULT_SHARE_0_14 = 0.18  # 2020 census national share, for the few counties without one
PSEUDO_COUNTY_SUFFIX = "99"

# NBS prefecture codes of the provincial capitals (municipalities: their 市辖区 prefecture).
PROVINCIAL_CAPITALS: dict[str, str] = {
    "11": "1101",
    "12": "1201",
    "13": "1301",
    "14": "1401",
    "15": "1501",
    "21": "2101",
    "22": "2201",
    "23": "2301",
    "31": "3101",
    "32": "3201",
    "33": "3301",
    "34": "3401",
    "35": "3501",
    "36": "3601",
    "37": "3701",
    "41": "4101",
    "42": "4201",
    "43": "4301",
    "44": "4401",
    "45": "4501",
    "46": "4601",
    "50": "5001",
    "51": "5101",
    "52": "5201",
    "53": "5301",
    "54": "5401",
    "61": "6101",
    "62": "6201",
    "63": "6301",
    "64": "6401",
    "65": "6501",
}

_POINT_NOTES = {
    "prefecture_seat_fallback": "point: prefecture seat (approximate)",
    "county_seat_fallback": "point: county seat (approximate)",
    "mean_of_townships": "point: mean of township points",
}


@dataclass(frozen=True)
class Geo:
    """The regions table to write, and per-row facts the supply generators place rows by."""

    table: pd.DataFrame
    province: pd.Series  # 2-digit province code per row
    prefecture: pd.Series  # 4-digit prefecture code per row
    county: pd.Series  # 6-digit county code (county and township rows; else "")
    is_district: pd.Series  # county rows named …区 and their townships


def _largest_remainder(total: float, weights: FloatArray) -> NDArray[np.int64]:
    """Split an integer total in proportion to weights, summing exactly to the total."""
    n = len(weights)
    if n == 0 or not np.isfinite(total):
        return np.zeros(n, dtype=np.int64)
    whole = round(total)
    w = np.where(np.isfinite(weights) & (weights > 0), weights, 0.0)
    if w.sum() <= 0:
        w = np.ones(n)
    exact = whole * w / w.sum()
    base = np.floor(exact).astype(np.int64)
    short = whole - int(base.sum())
    if short > 0:
        order = np.argsort(-(exact - base), kind="stable")
        base[order[:short]] += 1
    return base


def _county_designations(
    counties: pd.DataFrame, townships: pd.DataFrame, rules: Designations
) -> pd.DataFrame:
    """Per county row, one bool column per designation; plus township-only ethnic flags."""
    old_area = set(reference.revolutionary_old_area_counties()["code"])
    ethnic_counties = set(townships.loc[townships["is_ethnic_township"], "county_code"])
    facts = {
        "key_county_2021": (counties["is_key_county_2021"] == "Y").to_numpy(),
        "old_area_list": counties["code"].isin(old_area).to_numpy(),
        "autonomous_unit": counties["is_autonomous_unit"].to_numpy(dtype=bool),
        "in_autonomous_prefecture": counties["in_autonomous_prefecture"].to_numpy(dtype=bool),
        "in_autonomous_region": counties["in_autonomous_region"].to_numpy(dtype=bool),
        "county_with_ethnic_township": counties["code"].isin(ethnic_counties).to_numpy(),
        "ethnic_township": np.zeros(len(counties), dtype=bool),
    }
    out = pd.DataFrame(index=counties.index)
    for name in DESIGNATIONS:
        flag = np.zeros(len(counties), dtype=bool)
        for rule in getattr(rules, name):
            flag |= facts[rule]
        limit = rules.provinces.get(name)
        if limit is not None:
            flag &= counties["province_code"].isin(limit).to_numpy()
        out[name] = flag
        # whether the county's flag carries down to all its townships
        inherit = np.zeros(len(counties), dtype=bool)
        for rule in getattr(rules, name):
            if rule not in ("county_with_ethnic_township", "ethnic_township"):
                inherit |= facts[rule]
        out[f"{name}_inherit"] = flag & inherit
    return out


def build_regions(
    geography: Geography,
    designations: Designations,
    indicators: Indicators,
    rng: np.random.Generator,
) -> Geo:
    """The scenario's regions table from the packaged reference data."""
    ref = reference.regions()
    if geography.provinces:
        ref = ref[ref["province_code"].isin(geography.provinces)]
        missing = set(geography.provinces) - set(ref["province_code"])
        if missing:
            raise ValueError(f"unknown province codes: {', '.join(sorted(missing))}")
    provinces = ref[ref["level"] == "province"].copy()
    cities = ref[ref["level"] == "prefecture"].copy()
    counties = ref[ref["level"] == "county"].copy()
    if geography.formal_units_only:
        counties = counties[counties["is_formal_unit"]]
    # 东莞/中山/儋州 repeat their prefecture code at county level; codes must be unique here
    no_county_cities = set(counties["code"]) & set(cities["code"])
    counties = counties[~counties["code"].isin(no_county_cities)].copy()

    towns = pd.DataFrame()
    if geography.level == "township":
        towns = reference.townships()
        towns = towns[towns["code"].str[:2].isin(set(provinces["code"].str[:2]))].copy()
        pseudo = towns["county_code"].isin(no_county_cities)
        if pseudo.any():
            extra = cities[cities["code"].isin(set(towns.loc[pseudo, "county_code"]))].copy()
            extra["parent_code"] = extra["code"]
            extra["code"] = extra["code"].str[:4] + PSEUDO_COUNTY_SUFFIX
            extra["level"] = "county"
            extra["coord_source"] = "pseudo_county"
            for col in ("is_key_county_2021", "revolutionary_old_area"):
                extra[col] = ""
            counties = pd.concat([counties, extra], ignore_index=False)
            towns.loc[pseudo, "county_code"] = (
                towns.loc[pseudo, "county_code"].str[:4] + PSEUDO_COUNTY_SUFFIX
            )
        towns = towns[towns["county_code"].isin(set(counties["code"]))].copy()

    county_flags = _county_designations(
        counties, towns if len(towns) else _no_towns(), designations
    )

    # ---- county figures (real) ----
    c_pop = counties["pop_2020"].to_numpy(dtype=float)
    c_share60 = counties["share_60plus_2020"].to_numpy(dtype=float)
    c_elderly = np.round(c_pop * c_share60)
    c_share014 = counties["share_0_14_2020"].fillna(DEFAULT_SHARE_0_14).to_numpy(dtype=float)
    urban_default = np.where(counties["name"].str.endswith("区"), 0.85, 0.45)
    c_urban = counties["urban_share_2020"].to_numpy(dtype=float)
    c_urban = np.where(np.isfinite(c_urban), c_urban, urban_default)
    c_designated = county_flags[list(DESIGNATIONS)].any(axis=1).to_numpy()

    rates = indicators
    if geography.level == "township" and len(towns):
        counts = reference.township_village_counts().set_index("code")
        vc = counts.reindex(towns["code"]).fillna(0)
        villages = vc["villages"].to_numpy(dtype=float)
        communities = vc["communities"].to_numpy(dtype=float)
        weight = villages + rates.community_weight * communities + 0.5 * vc["other"].to_numpy()
        weight = np.maximum(weight, 0.5)
        c_pos = pd.Index(counties["code"]).get_indexer(towns["county_code"])
        t_pop = np.full(len(towns), np.nan)
        t_elderly = np.full(len(towns), np.nan)
        t_rural = np.full(len(towns), np.nan)
        town_urban_raw = np.where(
            villages + communities > 0,
            rates.community_weight
            * communities
            / np.maximum(rates.community_weight * communities + villages, 1e-9),
            np.where(towns["township_type"].to_numpy() == "街道", 1.0, 0.3),
        )
        for ci in np.unique(c_pos):
            members = np.flatnonzero(c_pos == ci)
            if not np.isfinite(c_pop[ci]):
                continue
            pop = _largest_remainder(c_pop[ci], weight[members]).astype(float)
            t_pop[members] = pop
            if np.isfinite(c_elderly[ci]):
                t_elderly[members] = _largest_remainder(c_elderly[ci], pop)
            raw_rural = pop * (1.0 - town_urban_raw[members])
            target = c_pop[ci] * (1.0 - c_urban[ci])
            if raw_rural.sum() > 0:
                t_rural[members] = np.minimum(pop, raw_rural * target / raw_rural.sum())
            else:
                t_rural[members] = pop * (1.0 - c_urban[ci])
        t_share014 = c_share014[c_pos]
        t_designated = c_designated[c_pos] | towns["is_ethnic_township"].to_numpy(dtype=bool)
        t_counts = _synthetic_counts(
            t_pop, t_elderly, t_rural, t_share014, t_designated, rates, rng
        )
        c_counts = {
            name: _sum_by(c_pos, values, len(counties)) for name, values in t_counts.items()
        }
    else:
        c_rural = c_pop * (1.0 - c_urban)
        c_counts = _synthetic_counts(
            c_pop, c_elderly, c_rural, c_share014, c_designated, rates, rng
        )

    # ---- assemble rows top-down ----
    province_rows = _census_rows(provinces, "province", None, "")
    city_rows = _census_rows(
        cities,
        "city",
        cities["parent_code"].to_numpy(dtype=object),
        cities["prefecture_code"].to_numpy(dtype=object),
    )
    county_rows = pd.DataFrame(
        {
            "code": counties["code"].to_numpy(dtype=object),
            "name": counties["name"].to_numpy(dtype=object),
            "level": "county",
            "parent": counties["parent_code"].to_numpy(dtype=object),
            "lat": counties["lat"].to_numpy(),
            "lon": counties["lon"].to_numpy(),
            "population": c_pop,
            "elderly": c_elderly,
            **{name: c_counts[name] for name in COUNT_COLUMNS},
            **{name: county_flags[name].to_numpy() for name in DESIGNATIONS},
            "_point": counties["coord_source"].to_numpy(dtype=object),
            "_prov": counties["province_code"].to_numpy(dtype=object),
            "_pref": counties["prefecture_code"].to_numpy(dtype=object),
            "_county": counties["code"].to_numpy(dtype=object),
            "_district": counties["name"].str.endswith("区").to_numpy(),
        }
    )
    parts = [province_rows, city_rows, county_rows]
    if geography.level == "township" and len(towns):
        inherit = {name: county_flags[f"{name}_inherit"].to_numpy()[c_pos] for name in DESIGNATIONS}
        ethnic_town = towns["is_ethnic_township"].to_numpy(dtype=bool) & (
            "ethnic_township" in designations.ethnic
        )
        limit = designations.provinces.get("ethnic")
        if limit is not None:
            ethnic_town &= towns["code"].str[:2].isin(limit).to_numpy()
        inherit["ethnic"] = inherit["ethnic"] | ethnic_town
        town_rows = pd.DataFrame(
            {
                "code": towns["code"].to_numpy(dtype=object),
                "name": towns["name"].to_numpy(dtype=object),
                "level": "township",
                "parent": towns["county_code"].to_numpy(dtype=object),
                "lat": towns["lat"].to_numpy(),
                "lon": towns["lon"].to_numpy(),
                "population": t_pop,
                "elderly": t_elderly,
                **{name: t_counts[name] for name in COUNT_COLUMNS},
                **inherit,
                "has_station": rng.random(len(towns)) < rates.station_share
                if rates.station_share < 1
                else True,
                "_point": towns["coord_source"].to_numpy(dtype=object),
                "_prov": towns["code"].str[:2].to_numpy(dtype=object),
                "_pref": towns["code"].str[:4].to_numpy(dtype=object),
                "_county": towns["county_code"].to_numpy(dtype=object),
                "_district": county_rows.set_index("code")["_district"]
                .reindex(towns["county_code"])
                .to_numpy(dtype=bool),
            }
        )
        parts.append(town_rows)
    rows = pd.concat(parts, ignore_index=True)

    # ---- sums upward for the synthetic counts of cities and provinces ----
    is_county = (rows["level"] == "county").to_numpy()
    for name in COUNT_COLUMNS:
        values = rows[name].to_numpy(dtype=float, copy=True)
        county_values = pd.Series(values[is_county], index=rows.loc[is_county, "code"])
        by_pref = county_values.groupby(rows.loc[is_county, "_pref"].to_numpy()).sum(min_count=1)
        by_prov = county_values.groupby(rows.loc[is_county, "_prov"].to_numpy()).sum(min_count=1)
        is_city = (rows["level"] == "city").to_numpy()
        is_prov = (rows["level"] == "province").to_numpy()
        values[is_city] = by_pref.reindex(rows.loc[is_city, "_pref"]).to_numpy(dtype=float)
        values[is_prov] = by_prov.reindex(rows.loc[is_prov, "_prov"]).to_numpy(dtype=float)
        rows[name] = values
    # placeholders (省直辖县级行政区划) have no census row: their counties' sums stand in
    for name in ("population", "elderly"):
        values = rows[name].to_numpy(dtype=float, copy=True)
        is_city = (rows["level"] == "city").to_numpy()
        missing = is_city & ~np.isfinite(values)
        if missing.any():
            sums = (
                pd.Series(values[is_county])
                .groupby(rows.loc[is_county, "_pref"].to_numpy())
                .sum(min_count=1)
            )
            values[missing] = sums.reindex(rows.loc[missing, "_pref"]).to_numpy(dtype=float)
            rows[name] = values
    for name in DESIGNATIONS:
        rows[name] = rows[name].fillna(False).astype(bool)
    if "has_station" not in rows:
        rows["has_station"] = False
    rows["has_station"] = rows["has_station"].fillna(False).astype(bool)

    # ---- points: a row without one takes its parent's, and says so ----
    rows["_point"] = rows["_point"].fillna("").astype(object)
    lat = rows["lat"].to_numpy(dtype=float, copy=True)
    lon = rows["lon"].to_numpy(dtype=float, copy=True)
    pos = {code: i for i, code in enumerate(rows["code"])}
    point_note = rows["_point"].map(lambda s: _POINT_NOTES.get(str(s), "")).to_numpy(dtype=object)
    for i in range(len(rows)):  # parents come first: provinces, cities, counties, townships
        if np.isfinite(lat[i]) and np.isfinite(lon[i]):
            continue
        parent = rows["parent"].iat[i]
        j = pos.get(parent) if parent is not None else None
        if j is not None and np.isfinite(lat[j]):
            lat[i], lon[i] = lat[j], lon[j]
            point_note[i] = "point: parent's (no coordinate in source)"
    rows["lat"] = np.round(lat, 6)
    rows["lon"] = np.round(lon, 6)

    rows["figures"] = [
        _figures(level, pop, note)
        for level, pop, note in zip(
            rows["level"], rows["population"].to_numpy(dtype=float), point_note, strict=True
        )
    ]
    pseudo_rows = rows["_point"] == "pseudo_county"
    rows.loc[pseudo_rows, "figures"] = (
        "pseudo county: code synthetic (prefecture city without counties); "
        + rows.loc[pseudo_rows, "figures"]
    )
    table = rows[REGIONS.names].copy()
    for name in ("population", "elderly", *COUNT_COLUMNS):
        table[name] = pd.array(np.round(table[name].to_numpy(dtype=float)), dtype="Int64")
    return Geo(
        table=table.reset_index(drop=True),
        province=rows["_prov"].astype(str).reset_index(drop=True),
        prefecture=rows["_pref"].astype(str).reset_index(drop=True),
        county=rows["_county"].astype(str).reset_index(drop=True),
        is_district=rows["_district"].astype(bool).reset_index(drop=True),
    )


def _census_rows(table: pd.DataFrame, level: str, parent: object, pref: object) -> pd.DataFrame:
    """Region rows of provinces or cities, whose population and 60+ share are the census's."""
    return pd.DataFrame(
        {
            "code": table["code"].to_numpy(dtype=object),
            "name": table["name"].to_numpy(dtype=object),
            "level": level,
            "parent": parent,
            "lat": table["lat"].to_numpy(),
            "lon": table["lon"].to_numpy(),
            "population": table["pop_2020"].to_numpy(),
            "elderly": np.round(
                table["pop_2020"].to_numpy() * table["share_60plus_2020"].to_numpy()
            ),
            "_point": table["coord_source"].to_numpy(dtype=object),
            "_prov": table["province_code"].to_numpy(dtype=object),
            "_pref": pref,
            "_county": "",
            "_district": False,
        }
    )


def _no_towns() -> pd.DataFrame:
    return pd.DataFrame({"county_code": pd.Series([], dtype=str), "is_ethnic_township": []})


def _sum_by(groups: NDArray[np.int64], values: FloatArray, n: int) -> FloatArray:
    out = np.zeros(n)
    seen = np.zeros(n, dtype=bool)
    finite = np.isfinite(values)
    np.add.at(out, groups[finite], values[finite])
    seen[groups[finite]] = True
    return np.where(seen, out, np.nan)


def _synthetic_counts(
    pop: FloatArray,
    elderly: FloatArray,
    rural: FloatArray,
    share_0_14: FloatArray,
    designated: NDArray[np.bool_],
    rates: Indicators,
    rng: np.random.Generator,
) -> dict[str, FloatArray]:
    """Care beds and beneficiary counts around the national rates, one noise draw per cell."""
    n = len(pop)
    urban = np.maximum(pop - rural, 0.0)
    hardship = np.where(designated, rates.designated_hardship_factor, 1.0)

    def noise() -> FloatArray:
        # mean-one log-normal: local rates scatter around the national one without biasing it
        s = rates.noise_sigma
        return np.asarray(rng.lognormal(-0.5 * s * s, s, n), dtype=float)

    raw = {
        "care_beds": elderly * rates.care_beds_per_1000_elderly / 1000 * noise(),
        "children_at_risk": pop
        * share_0_14
        * rates.children_at_risk_per_1000_children
        / 1000
        * hardship
        * noise(),
        "left_behind_children": rural * rates.left_behind_children_per_1000_rural / 1000 * noise(),
        "left_behind_women": rural * rates.left_behind_women_per_1000_rural / 1000 * noise(),
        "disabled": pop * rates.disabled_per_1000 / 1000 * noise(),
        "low_income": (
            rural * rates.low_income_per_1000_rural + urban * rates.low_income_per_1000_urban
        )
        / 1000
        * hardship
        * noise(),
        "extreme_poverty": (
            rural * rates.extreme_poverty_per_1000_rural
            + urban * rates.extreme_poverty_per_1000_urban
        )
        / 1000
        * hardship
        * noise(),
    }
    return {name: np.minimum(np.round(values), pop) for name, values in raw.items()}


def _figures(level: str, population: float, point_note: str) -> str:
    if not np.isfinite(population):
        base = "no census2020 population (unit created or reorganised after 2020)"
    elif level == "township":
        base = (
            "population, elderly: apportioned from county census2020 by village/community "
            "counts; care beds, beneficiary counts: synthetic"
        )
    elif level == "county":
        base = "population, elderly: census2020; care beds, beneficiary counts: synthetic"
    else:
        base = (
            "population, elderly: census2020; care beds, beneficiary counts: synthetic "
            "(sum of counties)"
        )
    return f"{base}; {point_note}" if point_note else base
