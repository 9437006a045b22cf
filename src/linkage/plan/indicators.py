"""Policy indicators of a plan: the status quo without linkage ("before") against it ("after").

``indicators(scenario, tables, by)`` returns one row per indicator (per group when ``by`` is
"county" or "domain") with the columns of ``COLUMNS``. An indicator is computed only when the
plan table it reads is in ``tables``; a stage that did not run leaves its indicators out.

Before: the status quo without linkage.

- Social workers: every pool works only at its home township, ``count × fte`` FTE, when that
  township is a station (pools living elsewhere, e.g. at a county agency, count nowhere). A
  station's FTE count up to its need, as the plan's assignments do (workers beyond a station's
  need serve no station need).
- Pairs: last period's pairs (the scenario's ``existing_pairs``) to the plan's targets.
- Volunteers: every pool serves only its home station, ``count × hours`` hours, in the domains
  of its skills (empty skills: any domain) that have a need row there. Its hours are offered to
  those domains in proportion to their need; each (station, domain) then serves the hours
  offered to it up to its need (hours offered beyond a need are not moved to another domain:
  nobody coordinates). A station serves at most ``floor(FTE × hours_per_supervisor)`` hours,
  with its home social workers (capped at its need) as the supervisors, as in the plan; the
  rows of a station over the cap are scaled down alike.
- Funds: nothing is allocated (0 yuan).

After: read from the plan tables (``stations``, ``targets``, ``volunteer_demand``,
``fund_demand``). Both sides use the plan's needs (the ``need`` / ``need_hours`` /
``need_yuan`` columns), so the two sides share their denominators.

Indicators (``x`` a station's FTE, ``n`` its need, ``c = min(x, n) / n`` its coverage, 1 when
``n`` is 0; sums over the stations, rows or targets of the group):

- ``station_coverage``: share of stations with ``min(x, n) ≥ min(base_per_station, n)``, i.e.
  staffed to the base (a station whose explicit need is below the base: its need met).
  Target 1.
- ``workers_per_1000_elderly``: ``1000 × Σ min(x, n) / Σ elderly`` over the stations whose
  township has an elderly figure ( a township with the figure missing is left out of both
  sums; NaN when the sum of elderly is 0). Target ``1000 / per_elderly`` (NaN when the policy
  sets none).
- ``workers_per_100_beds``: ``100 × Σ x / Σ care_beds``, likewise over the stations with a
  care-beds figure. Target ``100 / per_care_beds``.
- ``need_coverage``: ``Σ min(x, n) / Σ n``. Target 1.
- ``weighted_unmet_need``: ``Σ priority × (n − min(x, n))``, FTE × priority weight (after: the
  stations' shortfall weighted). Lower is better; target 0.
- ``coverage_gini``: the Gini coefficient (``gini``) of c across stations. Lower is better; the
  policy sets no target.
- ``least_covered_priority_township``: the lowest c among stations with priority > 1 (the
  first station on a tie); ``note`` names the township before and after. Whole scenario only.
  Target 1; NaN with a note when no station has priority > 1.
- ``targets_paired``: share of the ``targets`` rows with partners ≥ ``partners_needed``
  (after: ``assigned``; before: distinct organizations of ``existing_pairs`` to the target).
  Whole scenario only (a county target's share would be a yes/no). Target 1.
- ``volunteer_hours_covered``: ``Σ min(served, need_hours) / Σ need_hours`` over the
  (station, domain) rows. Target 1.
- ``volunteer_hours``: hours served, ``Σ served`` (after: ``assigned_hours``).
- ``funds_covered``: ``Σ min(granted_yuan, need_yuan) / Σ need_yuan``. Target 1.
- ``funds_granted``: ``Σ granted_yuan``, yuan.

A share over a group with rows but no need is 1 (nothing was left unmet); with no rows, NaN.
Targets: 1 (0 for unmet need) where the share is of a need the policy's rules define, the
policy's own ratio for the per-elderly and per-bed ratios, NaN for absolute amounts and the
Gini. ``source`` is the cited source id of the policy section the indicator follows
(``staffing``, ``pairing``, ``volunteers``, ``funds``), ``citation`` its text from
``meta.sources``.

Groupings. ``by="county"``: the station, volunteer and fund indicators per county (the
station's county; a township with no county above it, as under a city without counties, counts
under its parent). ``by="domain"``: the volunteer and fund indicators per service domain (fund
rows without a domain count only in the other groupings).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from linkage.scenario.core import Scenario
from linkage.scenario.vocabulary import DOMAINS
from linkage.solvers.needs import station_needs

Grouping = Literal[None, "county", "domain"]
Stage = Literal["staffing", "pairing", "volunteers", "funds"]
FloatArray = NDArray[np.float64]
ObjectArray = NDArray[np.object_]

COLUMNS: tuple[str, ...] = (
    "indicator",
    "label",
    "group",
    "group_name",
    "before",
    "after",
    "target",
    "unit",
    "better",
    "source",
    "citation",
    "note",
)
TOL = 1e-9
WHOLE = ""
NO_PRIORITY_NOTE = "无重点乡镇 / no township with priority > 1"


@dataclass(frozen=True)
class Indicator:
    """What an indicator is: its label, unit, direction, the policy section it follows and the
    groupings it has a meaning for (``""`` the whole scenario)."""

    code: str
    label: str
    unit: str
    better: Literal["higher", "lower"]
    stage: Stage
    groupings: tuple[str, ...]


_STATION_GROUPS = (WHOLE, "county")
_SUPPLY_GROUPS = (WHOLE, "county", "domain")

INDICATORS: dict[str, Indicator] = {
    i.code: i
    for i in (
        Indicator(
            "station_coverage",
            "站点覆盖率 / station coverage",
            "share",
            "higher",
            "staffing",
            _STATION_GROUPS,
        ),
        Indicator(
            "workers_per_1000_elderly",
            "每千名老年人社工数 / social workers per 1,000 elderly",
            "per 1,000 elderly",
            "higher",
            "staffing",
            _STATION_GROUPS,
        ),
        Indicator(
            "workers_per_100_beds",
            "每百张养老床位社工数 / social workers per 100 care beds",
            "per 100 beds",
            "higher",
            "staffing",
            _STATION_GROUPS,
        ),
        Indicator(
            "need_coverage",
            "社工需求满足率 / social-worker need covered",
            "share",
            "higher",
            "staffing",
            _STATION_GROUPS,
        ),
        Indicator(
            "weighted_unmet_need",
            "加权未满足社工需求 / priority-weighted unmet social-worker need",
            "FTE × priority",
            "lower",
            "staffing",
            _STATION_GROUPS,
        ),
        Indicator(
            "coverage_gini",
            "站点覆盖基尼系数 / Gini of station coverage",
            "index (0–1)",
            "lower",
            "staffing",
            _STATION_GROUPS,
        ),
        Indicator(
            "least_covered_priority_township",
            "覆盖率最低的重点乡镇 / least-covered priority township",
            "share",
            "higher",
            "staffing",
            (WHOLE,),
        ),
        Indicator(
            "targets_paired",
            "受援地区结对率 / targets fully paired",
            "share",
            "higher",
            "pairing",
            (WHOLE,),
        ),
        Indicator(
            "volunteer_hours_covered",
            "志愿服务需求满足率 / volunteer need hours served",
            "share",
            "higher",
            "volunteers",
            _SUPPLY_GROUPS,
        ),
        Indicator(
            "volunteer_hours",
            "志愿服务时长 / volunteer hours served",
            "hours",
            "higher",
            "volunteers",
            _SUPPLY_GROUPS,
        ),
        Indicator(
            "funds_covered",
            "资金需求满足率 / fund need covered",
            "share",
            "higher",
            "funds",
            _SUPPLY_GROUPS,
        ),
        Indicator(
            "funds_granted",
            "资助金额 / funds granted",
            "yuan",
            "higher",
            "funds",
            _SUPPLY_GROUPS,
        ),
    )
}


def indicators(
    scenario: Scenario,
    tables: Mapping[str, pd.DataFrame],
    by: Grouping = None,
) -> pd.DataFrame:
    """Indicators before (status quo) and after (the plan); see the module docstring.

    One row per indicator, or per indicator and group when ``by`` is "county" or "domain"; an
    indicator whose plan table is missing from ``tables``, or that has no meaning for the
    grouping, is left out.
    """
    if by not in (None, "county", "domain"):
        raise ValueError(f"by must be None, 'county' or 'domain', not {by!r}")
    grouping = by or WHOLE
    parts: list[pd.DataFrame] = []
    stations = tables.get("stations")
    if stations is not None and by != "domain":
        parts.append(_staffing(scenario, stations, by))
    targets = tables.get("targets")
    if targets is not None and by is None:
        parts.append(_pairing(scenario, targets))
    demand = tables.get("volunteer_demand")
    if demand is not None:
        parts.append(_volunteers(scenario, demand, stations, by))
    funds = tables.get("fund_demand")
    if funds is not None:
        parts.append(_funds(scenario, funds, by))
    parts = [p for p in parts if len(p)]
    if not parts:
        return _empty()
    rows = pd.concat(parts, ignore_index=True)
    spec = rows["indicator"].map(INDICATORS)
    rows = rows[[grouping in s.groupings for s in spec]].reset_index(drop=True)
    return _decorate(scenario, rows, by)


def gini(values: ArrayLike) -> float:
    """Gini coefficient of non-negative values: Σᵢ Σⱼ |xᵢ − xⱼ| / (2 n² mean).

    0 when all values are equal (all zero included), (n − 1) / n when one value holds
    everything; NaN for no values.
    """
    x = np.asarray(values, dtype=float).ravel()
    if len(x) == 0:
        return float("nan")
    return float(_gini_by(x, np.zeros(len(x), dtype=np.int64)).iloc[0])


# ---------------------------------------------------------------------------------------------
# the stages' indicators: frames with indicator, group, before, after, target, note


def _staffing(scenario: Scenario, stations: pd.DataFrame, by: Grouping) -> pd.DataFrame:
    policy = scenario.policy.staffing
    region = stations["region"].astype(object).to_numpy()
    need = np.nan_to_num(stations["need"].to_numpy(dtype=float), nan=0.0)
    regions = _by_code(scenario.regions)
    pools = scenario.tables["social_workers"]
    home = (
        (pools["count"].astype(float) * pools["fte"].astype(float))
        .groupby(pools["region"].astype(object).to_numpy())
        .sum()
    )
    elderly = regions["elderly"].reindex(region).to_numpy(dtype=float)
    beds = regions["care_beds"].reindex(region).to_numpy(dtype=float)
    frame = pd.DataFrame(
        {
            "g": _county_keys(scenario, region, stations["county"]) if by == "county" else WHOLE,
            "need": need,
            "priority": stations["priority"].to_numpy(dtype=float),
            "elderly": np.nan_to_num(elderly, nan=0.0),
            "beds": np.nan_to_num(beds, nan=0.0),
        }
    )
    cover: dict[str, FloatArray] = {}
    base = np.minimum(float(policy.base_per_station), need)
    for side, fte in (
        ("before", home.reindex(region).fillna(0.0).to_numpy(dtype=float)),
        ("after", np.nan_to_num(stations["assigned"].to_numpy(dtype=float), nan=0.0)),
    ):
        met = np.minimum(fte, need)
        cover[side] = np.divide(met, need, out=np.ones(len(need)), where=need > 0)
        frame[f"{side}_fte"] = fte
        # a township without the figure would count its workers against no one
        frame[f"{side}_fte_e"] = np.where(np.isnan(elderly), 0.0, met)
        frame[f"{side}_fte_b"] = np.where(np.isnan(beds), 0.0, met)
        frame[f"{side}_met"] = met
        frame[f"{side}_ok"] = (met >= base - TOL).astype(float)
        frame[f"{side}_unmet"] = frame["priority"].to_numpy() * (need - met)
    whole = [WHOLE] if by is None else None
    sums = _sums(frame, whole)
    n = sums["n"].to_numpy(dtype=float)
    per_elderly = policy.per_elderly
    per_beds = policy.per_care_beds
    out = [
        _rows(
            "station_coverage",
            sums.index,
            _ratio(sums["before_ok"], n),
            _ratio(sums["after_ok"], n),
            1.0,
        ),
        _rows(
            "workers_per_1000_elderly",
            sums.index,
            1000 * _ratio(sums["before_fte_e"], sums["elderly"]),
            1000 * _ratio(sums["after_fte_e"], sums["elderly"]),
            np.nan if per_elderly is None else 1000 / per_elderly,
        ),
        _rows(
            "workers_per_100_beds",
            sums.index,
            100 * _ratio(sums["before_fte_b"], sums["beds"]),
            100 * _ratio(sums["after_fte_b"], sums["beds"]),
            np.nan if per_beds is None else 100 / per_beds,
        ),
        _rows(
            "need_coverage",
            sums.index,
            _share(sums["before_met"], sums["need"], n),
            _share(sums["after_met"], sums["need"], n),
            1.0,
        ),
        _rows(
            "weighted_unmet_need",
            sums.index,
            _defined(sums["before_unmet"], n),
            _defined(sums["after_unmet"], n),
            0.0,
        ),
        _rows(
            "coverage_gini",
            sums.index,
            _gini_by(cover["before"], frame["g"].to_numpy()).reindex(sums.index),
            _gini_by(cover["after"], frame["g"].to_numpy()).reindex(sums.index),
            np.nan,
        ),
    ]
    if by is None:
        out.append(_least_covered(stations, cover))
    return pd.concat(out, ignore_index=True)


def _least_covered(stations: pd.DataFrame, cover: Mapping[str, FloatArray]) -> pd.DataFrame:
    """The lowest coverage among priority stations, before and after, and which township."""
    priority = stations["priority"].to_numpy(dtype=float) > 1
    if not priority.any():
        return _rows(
            "least_covered_priority_township", [WHOLE], np.nan, np.nan, 1.0, NO_PRIORITY_NOTE
        )
    names = stations["name"].astype(str).to_numpy()[priority]
    codes = stations["region"].astype(str).to_numpy()[priority]
    value: dict[str, float] = {}
    said: list[str] = []
    for side in ("before", "after"):
        c = cover[side][priority]
        at = int(np.argmin(c))  # np.argmin keeps the first station on a tie
        value[side] = float(c[at])
        said.append(f"{side}: {names[at]} ({codes[at]}) {c[at]:.2f}")
    return _rows(
        "least_covered_priority_township",
        [WHOLE],
        value["before"],
        value["after"],
        1.0,
        "; ".join(said),
    )


def _pairing(scenario: Scenario, targets: pd.DataFrame) -> pd.DataFrame:
    needed = targets["partners_needed"].to_numpy(dtype=float)
    existing = scenario.tables["existing_pairs"].drop_duplicates(["org", "target"])
    had = existing.groupby(existing["target"].astype(object).to_numpy()).size()
    before = had.reindex(targets["target"].astype(object).to_numpy()).fillna(0).to_numpy(float)
    after = np.nan_to_num(targets["assigned"].to_numpy(dtype=float), nan=0.0)
    n = float(len(targets))
    return _rows(
        "targets_paired",
        [WHOLE],
        _ratio(np.array([(before >= needed - TOL).sum()], dtype=float), n),
        _ratio(np.array([(after >= needed - TOL).sum()], dtype=float), n),
        1.0,
    )


def _volunteers(
    scenario: Scenario, demand: pd.DataFrame, stations: pd.DataFrame | None, by: Grouping
) -> pd.DataFrame:
    need = np.nan_to_num(demand["need_hours"].to_numpy(dtype=float), nan=0.0)
    served = np.nan_to_num(demand["assigned_hours"].to_numpy(dtype=float), nan=0.0)
    before = _status_quo_hours(scenario, demand, need)
    station = demand["station"].astype(object).to_numpy()
    if by == "county":
        known = stations if stations is not None else station_needs(scenario)
        county = pd.Series(known["county"].to_numpy(dtype=object), index=known["region"])
        county = county[~county.index.duplicated()]
        keys: Any = _county_keys(scenario, station, county.reindex(station))
    elif by == "domain":
        keys = demand["domain"].to_numpy(dtype=object)
    else:
        keys = WHOLE
    frame = pd.DataFrame(
        {
            "g": keys,
            "need": need,
            "before_met": np.minimum(before, need),
            "after_met": np.minimum(served, need),
            "before": before,
            "after": served,
        }
    )
    return _covered_and_given(frame, by, "volunteer_hours_covered", "volunteer_hours")


def _funds(scenario: Scenario, funds: pd.DataFrame, by: Grouping) -> pd.DataFrame:
    need = np.nan_to_num(funds["need_yuan"].to_numpy(dtype=float), nan=0.0)
    granted = np.nan_to_num(funds["granted_yuan"].to_numpy(dtype=float), nan=0.0)
    if by == "county":
        keys: Any = _county_keys(
            scenario, funds["station"].astype(object).to_numpy(), funds["county"]
        )
    elif by == "domain":
        keys = funds["domain"].to_numpy(dtype=object)
    else:
        keys = WHOLE
    frame = pd.DataFrame(
        {
            "g": keys,
            "need": need,
            # before linkage no lot is allocated
            "before": np.zeros(len(funds)),
            "after": granted,
            "before_met": np.zeros(len(funds)),
            "after_met": np.clip(np.minimum(granted, need), 0.0, None),
        }
    )
    return _covered_and_given(frame, by, "funds_covered", "funds_granted")


def _covered_and_given(frame: pd.DataFrame, by: Grouping, covered: str, given: str) -> pd.DataFrame:
    """A stage's share of need met (target: all of it) and its total given (no target), per
    group ``g`` of ``frame`` (columns need, before, after, before_met, after_met)."""
    sums = _sums(frame, [WHOLE] if by is None else None)
    n = sums["n"].to_numpy(dtype=float)
    return pd.concat(
        [
            _rows(
                covered,
                sums.index,
                _share(sums["before_met"], sums["need"], n),
                _share(sums["after_met"], sums["need"], n),
                1.0,
            ),
            _rows(
                given,
                sums.index,
                _defined(sums["before"], n),
                _defined(sums["after"], n),
                np.nan,
            ),
        ],
        ignore_index=True,
    )


# ---------------------------------------------------------------------------------------------
# the status quo of volunteers


def _status_quo_hours(scenario: Scenario, demand: pd.DataFrame, need: FloatArray) -> FloatArray:
    """Hours each demand row gets when every pool serves only its home station (see the module
    docstring): offered in proportion to the need of the domains it may serve, capped by need."""
    domains = pd.Index(list(DOMAINS))
    st = pd.Index(pd.unique(demand["station"].astype(object).to_numpy()))
    s = st.get_indexer(pd.Index(demand["station"].astype(object)))
    k = domains.get_indexer(pd.Index(demand["domain"].astype(object)))
    ok = k >= 0
    cell = np.zeros((len(st), len(domains)))
    np.add.at(cell, (s[ok], k[ok]), need[ok])

    pools = scenario.tables["volunteers"]
    home = st.get_indexer(pd.Index(pools["region"].astype(object)))
    at = home >= 0
    # identical (home, skills) pools split alike: aggregate them before the per-pool arithmetic
    supply = (
        pd.DataFrame(
            {
                "home": home[at],
                "skills": pools["skills"].fillna("").astype(str).to_numpy()[at],
                "hours": (pools["count"].astype(float) * pools["hours"].astype(float)).to_numpy()[
                    at
                ],
            }
        )
        .groupby(["home", "skills"], as_index=False, sort=False)["hours"]
        .sum()
    )
    where = supply["home"].to_numpy(dtype=np.int64)
    weight = _skill_matrix(supply["skills"], domains) * cell[where]
    total = weight.sum(axis=1, keepdims=True)
    split = np.divide(weight, total, out=np.zeros_like(weight), where=total > 0)
    offered = np.zeros_like(cell)
    np.add.at(offered, where, split * supply["hours"].to_numpy(dtype=float)[:, None])
    served = np.minimum(offered, cell)
    # ...and only as many hours as the station's own social workers can supervise
    needs = station_needs(scenario)
    workers = scenario.tables.get("social_workers")
    fte = np.zeros(len(st))
    if workers is not None and len(workers):
        home_fte = (
            (workers["count"].astype(float) * workers["fte"].astype(float))
            .groupby(workers["region"].astype(object).to_numpy())
            .sum()
        )
        station_need = pd.Series(
            needs["need"].to_numpy(dtype=float), index=needs["region"].astype(object).to_numpy()
        )
        codes = st.to_numpy(dtype=object)
        fte = np.minimum(
            home_fte.reindex(codes).fillna(0.0).to_numpy(dtype=float),
            station_need.reindex(codes).fillna(0.0).to_numpy(dtype=float),
        )
    cap = np.floor(fte * scenario.policy.volunteers.hours_per_supervisor + 1e-9)
    total_served = served.sum(axis=1)
    scale = np.divide(cap, total_served, out=np.ones(len(st)), where=total_served > cap)
    served = served * np.minimum(scale, 1.0)[:, None]

    # back to rows: a cell normally has one row; several share the cell's hours by their need
    out = np.zeros(len(demand))
    cell_need = cell[s[ok], k[ok]]
    out[ok] = np.divide(
        served[s[ok], k[ok]] * need[ok],
        cell_need,
        out=np.zeros(int(ok.sum())),
        where=cell_need > 0,
    )
    return out


def _skill_matrix(skills: pd.Series, domains: pd.Index) -> NDArray[np.bool_]:
    """True where a pool may serve a domain; empty skills serve every domain (a general
    volunteer, as the volunteer stage reads them)."""
    text = skills.fillna("").astype(str).str.replace(" ", "", regex=False)
    padded = ";" + text + ";"
    matrix = np.zeros((len(text), len(domains)), dtype=bool)
    for j, d in enumerate(domains):  # one pass per domain (7), vectorised over the pools
        matrix[:, j] = padded.str.contains(f";{d};", regex=False).to_numpy(dtype=bool)
    matrix[(text == "").to_numpy(dtype=bool)] = True
    return matrix


# ---------------------------------------------------------------------------------------------
# helpers


def _by_code(regions: pd.DataFrame) -> pd.DataFrame:
    return regions.set_index(regions["code"].astype(object).to_numpy())


def _county_keys(scenario: Scenario, codes: ObjectArray, county: Any) -> ObjectArray:
    """County per station; a township without a county above it groups under its parent."""
    given = pd.Series(np.asarray(county, dtype=object))
    parent = _by_code(scenario.regions)["parent"].reindex(codes)
    keys = given.where(given.notna(), pd.Series(parent.to_numpy(dtype=object)))
    return keys.fillna(WHOLE).astype(str).to_numpy(dtype=object)


def _sums(frame: pd.DataFrame, whole: Sequence[str] | None) -> pd.DataFrame:
    """Column sums and row count ``n`` per group ``g``; ``whole`` keeps that group even empty."""
    grouped = frame.groupby("g", sort=True)
    sums = grouped.sum(numeric_only=True)
    sums["n"] = grouped.size()
    if whole is not None:
        sums = sums.reindex(list(whole))
        sums["n"] = sums["n"].fillna(0)
    return sums


def _ratio(num: Any, den: Any) -> FloatArray:
    """num / den; NaN where den is not positive."""
    a = np.atleast_1d(np.asarray(num, dtype=float))
    b = np.broadcast_to(np.asarray(den, dtype=float), a.shape)
    return np.divide(a, b, out=np.full(a.shape, np.nan), where=b > 0)


def _share(met: Any, need: Any, n: FloatArray) -> FloatArray:
    """Share of need met; 1 for a group with rows but no need, NaN for a group without rows."""
    share = _ratio(met, need)
    need_a = np.nan_to_num(np.asarray(need, dtype=float), nan=0.0)
    return np.where((need_a <= 0) & (n > 0), 1.0, share)


def _defined(total: Any, n: FloatArray) -> FloatArray:
    """A sum, NaN for a group without rows."""
    return np.where(n > 0, np.nan_to_num(np.asarray(total, dtype=float), nan=0.0), np.nan)


def _gini_by(values: ArrayLike, keys: ArrayLike) -> pd.Series:
    """Gini per key, from the sorted form G = 2 Σ i·x₍ᵢ₎ / (n Σ x) − (n + 1) / n (i from 1)."""
    frame = pd.DataFrame({"k": np.asarray(keys), "x": np.asarray(values, dtype=float)})
    frame = frame.sort_values(["k", "x"], kind="stable")
    frame["ix"] = (frame.groupby("k").cumcount() + 1) * frame["x"]
    grouped = frame.groupby("k")
    n = grouped.size().astype(float)
    total = grouped["x"].sum()
    weighted = grouped["ix"].sum()
    raw = 2 * weighted / (n * total).where(total > 0) - (n + 1) / n
    # all zero: everyone equal; clip: float error may dip a hair below 0 for equal values
    return raw.where(total > 0, 0.0).clip(lower=0.0)


def _rows(
    code: str,
    groups: Sequence[str] | pd.Index,
    before: Any,
    after: Any,
    target: float,
    note: str = "",
) -> pd.DataFrame:
    group = list(groups)
    return pd.DataFrame(
        {
            "indicator": code,
            "group": pd.Series(group, dtype=object),
            "before": np.broadcast_to(np.asarray(before, dtype=float), (len(group),)),
            "after": np.broadcast_to(np.asarray(after, dtype=float), (len(group),)),
            "target": float(target),
            "note": note,
        }
    )


def _decorate(scenario: Scenario, rows: pd.DataFrame, by: Grouping) -> pd.DataFrame:
    """Labels, group names, sources and citations; rows in the order of ``INDICATORS``."""
    policy = scenario.policy
    sources: dict[Stage, str] = {
        "staffing": policy.staffing.source or "",
        "pairing": policy.pairing.source or "",
        "volunteers": policy.volunteers.source or "",
        "funds": policy.funds.source or "",
    }
    spec = rows["indicator"].map(INDICATORS)
    source = [sources[s.stage] for s in spec]
    if by == "county":
        names = _by_code(scenario.regions)["name"]
        group_name = names.reindex(rows["group"]).fillna("").astype(str).to_numpy()
    elif by == "domain":
        group_name = rows["group"].map(lambda d: DOMAINS.get(d, d)).astype(str).to_numpy()
    else:
        group_name = np.full(len(rows), WHOLE, dtype=object)
    out = rows.assign(
        label=[s.label for s in spec],
        group_name=group_name,
        unit=[s.unit for s in spec],
        better=[s.better for s in spec],
        source=source,
        citation=[scenario.meta.sources.get(s, "") if s else "" for s in source],
        order=rows["indicator"].map({c: i for i, c in enumerate(INDICATORS)}),
    )
    out = out.sort_values(["order", "group"], kind="stable")
    return out[list(COLUMNS)].reset_index(drop=True)


def _empty() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    return frame.astype({"before": float, "after": float, "target": float})
