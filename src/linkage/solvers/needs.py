"""Station need: how many social workers (FTE) every township station needs (DESIGN §4, §6).

The rule, for every region at level ``township`` with ``has_station``::

    need = max(base_per_station, elderly / per_elderly, care_beds / per_care_beds)

in social workers (FTE), unrounded. A missing (NaN) count counts as 0; a ``per_*`` of None
disables that term. ``rule`` names the term that binds, the first of base / elderly / care_beds
on a tie. An explicit ``needs`` table overrides the rule for a township: its ``social_workers``
summed over the domains (rows with no ``social_workers`` value are ignored; ``rule`` = table).

Every row names the rule's source: the policy's ``staffing.source`` id and its citation from
``meta.sources`` (empty when the policy cites none).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from linkage.geo import Hierarchy
from linkage.scenario.core import Scenario
from linkage.scenario.vocabulary import DOMAINS
from linkage.solvers.candidates import DESIGNATION_COLUMNS, PROFILE_SOURCES, priority_weights

DOMAIN_ORDER: tuple[str, ...] = tuple(DOMAINS)
RULES: dict[str, str] = {
    "base": "每站基本配置 / base number per station",
    "elderly": "按老年人口配置 / one per N elderly",
    "care_beds": "按养老床位配置 / one per M elderly-care beds",
    "table": "需求表指定 / explicit needs table",
}

COLUMNS: tuple[str, ...] = (
    "region",
    "name",
    "county",
    "priority",
    "need",
    "rule",
    "source",
    "citation",
)


def station_needs(scenario: Scenario) -> pd.DataFrame:
    """Need per station: region, name, county, priority, need (FTE), rule, source, citation.

    ``priority`` is the largest ``policy.priority`` weight over the designations of the
    township itself or of its county (``default`` when neither is designated).
    """
    regions = scenario.regions
    staffing = scenario.policy.staffing
    is_station = (regions["level"] == "township").to_numpy() & regions["has_station"].to_numpy(
        dtype=bool
    )
    rows = regions.loc[is_station].reset_index(drop=True)
    tree = Hierarchy(regions)
    county_pos = tree.ancestor_positions(tree.positions(rows["code"].to_numpy()), "county")
    county = np.full(len(rows), None, dtype=object)
    found = county_pos >= 0
    county[found] = tree.codes.to_numpy()[county_pos[found]]

    # designations of the township or its county
    flags = pd.DataFrame(index=rows.index)
    for name in DESIGNATION_COLUMNS:
        own = rows[name].to_numpy(dtype=bool)
        above = np.zeros(len(rows), dtype=bool)
        above[found] = regions[name].to_numpy(dtype=bool)[county_pos[found]]
        flags[name] = own | above
    priority = priority_weights(flags, scenario.policy.priority)

    terms = np.full((len(rows), 3), -np.inf)
    terms[:, 0] = float(staffing.base_per_station)
    if staffing.per_elderly is not None:
        terms[:, 1] = rows["elderly"].fillna(0).to_numpy(dtype=float) / staffing.per_elderly
    if staffing.per_care_beds is not None:
        terms[:, 2] = rows["care_beds"].fillna(0).to_numpy(dtype=float) / staffing.per_care_beds
    which = np.argmax(terms, axis=1)  # first maximum: base wins ties
    need = terms[np.arange(len(rows)), which]
    rule = np.array(["base", "elderly", "care_beds"], dtype=object)[which]

    explicit = _explicit_needs(scenario)
    if len(explicit):
        hit = rows["code"].map(explicit)
        given = hit.notna().to_numpy()
        need = np.where(given, hit.to_numpy(dtype=float, na_value=np.nan), need)
        rule = np.where(given, "table", rule)

    source = staffing.source or ""
    citation = scenario.meta.sources.get(source, "") if source else ""
    return pd.DataFrame(
        {
            "region": rows["code"].astype(object).to_numpy(),
            "name": rows["name"].astype(object).to_numpy(),
            "county": county,
            "priority": priority.astype(np.int64),
            "need": need.astype(float),
            "rule": rule.astype(object),
            "source": source,
            "citation": citation,
        },
        columns=list(COLUMNS),
    )


def _explicit_needs(scenario: Scenario) -> pd.Series:
    """Region → social workers from the ``needs`` table, summed over domains (given rows only)."""
    needs = scenario.tables.get("needs")
    if needs is None or needs.empty or "social_workers" not in needs:
        return pd.Series(dtype=float)
    given = needs.loc[needs["social_workers"].notna(), ["region", "social_workers"]]
    if given.empty:
        return pd.Series(dtype=float)
    return given.groupby("region")["social_workers"].sum().astype(float)


def domain_needs(
    scenario: Scenario, rates: Mapping[str, float], column: str, name: str
) -> pd.DataFrame:
    """Need per (station, domain) with a positive need, from beneficiaries × a rate.

    For every station and domain: Σ beneficiaries of the domain (the region's
    ``PROFILE_SOURCES`` columns, NaN as 0) × ``rates[domain]`` (a domain without a rate or
    beneficiary columns needs 0); a ``needs`` row with a value in ``column`` replaces the
    (region, domain) need (rows of regions that are not stations are ignored). Columns: station,
    name, county, priority, domain, ``name`` (the unrounded need), s (station position) and k
    (domain position); rows in station order, then in the vocabulary's domain order.
    """
    stations = station_needs(scenario)
    regions = scenario.regions
    codes = pd.Index(stations["region"].to_numpy(dtype=object))
    pos = pd.Index(regions["code"].to_numpy(dtype=object)).get_indexer(codes)
    rows = regions.iloc[pos].reset_index(drop=True)
    amount = np.zeros((len(stations), len(DOMAIN_ORDER)), dtype=float)
    for k, domain in enumerate(DOMAIN_ORDER):
        rate = rates.get(domain)
        columns = PROFILE_SOURCES.get(domain, ())
        if rate is None or not columns:
            continue
        people = np.nansum(
            np.column_stack([rows[c].to_numpy(dtype=float) for c in columns]), axis=1
        )
        amount[:, k] = people * float(rate)
    table = scenario.tables.get("needs")
    if table is not None and not table.empty and column in table:
        given = table.loc[table[column].notna(), ["region", "domain", column]]
        at_s = codes.get_indexer(pd.Index(given["region"].to_numpy(dtype=object)))
        at_k = pd.Index(DOMAIN_ORDER).get_indexer(pd.Index(given["domain"].to_numpy(dtype=object)))
        ok = (at_s >= 0) & (at_k >= 0)
        amount[at_s[ok], at_k[ok]] = given[column].to_numpy(dtype=float)[ok]
    s_idx, k_idx = np.nonzero(amount > 0)
    return pd.DataFrame(
        {
            "station": stations["region"].to_numpy(dtype=object)[s_idx],
            "name": stations["name"].to_numpy(dtype=object)[s_idx],
            "county": stations["county"].to_numpy(dtype=object)[s_idx],
            "priority": stations["priority"].to_numpy(dtype=np.int64)[s_idx],
            "domain": np.array(DOMAIN_ORDER, dtype=object)[k_idx],
            name: amount[s_idx, k_idx],
            "s": s_idx.astype(np.int64),
            "k": k_idx.astype(np.int64),
        }
    )
