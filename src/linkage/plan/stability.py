"""Re-planning from a previous plan: keep its pairs and staffing unless a change buys a real
improvement, and report how much changed (the churn).

Pairs. ``with_previous(scenario, previous)`` makes the previous plan's pairs the scenario's
``existing_pairs`` (last period's pairs; rows for organizations or regions the scenario no
longer has are dropped, a ``since`` year is kept where the scenario had the pair). Every such
pair is always a candidate and earns the continuity bonus, which becomes
``policy.stability.churn_penalty_pairing`` when that is set. The pairing objective is
lexicographic, so a change of partner that lowers the priority-weighted shortfall W is always
made, and one that only raises the score S is made only when it gains more than the bonus: a
new pair scores ``churn_penalty_pairing`` below an otherwise equal kept one. (Subtracting the
penalty from every new pair instead differs by the penalty × the number of pairs, which W
fixes whenever the targets share one priority, so the bonus is the same rule.)

Staffing. ``previous_staffing(previous)`` is the previous plan's ``staffing`` table, for
``solve_staffing(..., previous_staffing=...)``: each 0.1 FTE a pool keeps on a route of the
previous plan (local: pool → station; dispatch: organization → station, as the network pools
an organization's dispatched workers) costs ``policy.stability.churn_penalty_staffing`` = c km
less, through a parallel arc holding the previous units. The discount is not floored at 0
(floored, it would vanish on 0-km routes, a pool serving its own township, and such pools would
be reshuffled freely); distance costs then lie in [−c, D], and the staffing penalties P1 / P2
are computed from the width D + c of that range, which is all their proof uses (see
``linkage.solvers.staffing``). So no shortfall is ever traded for stability; churn trades only
against distance.

``churn(previous, plan)`` reports pairs kept / added / removed, staffing FTE kept and moved.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from linkage.plan.compare import as_plan
from linkage.plan.result import Plan
from linkage.scenario.core import Scenario

Tables = Plan | Mapping[str, pd.DataFrame]
CHURN_COLUMNS: tuple[str, ...] = ("measure", "label", "value", "unit")


def _tables(plan: Tables | str | os.PathLike[str]) -> Mapping[str, pd.DataFrame]:
    if isinstance(plan, Mapping):
        return plan
    return as_plan(plan).tables


def with_previous(scenario: Scenario, previous: Tables | str | os.PathLike[str]) -> Scenario:
    """The scenario to re-plan from ``previous`` (a Plan, its tables or a saved folder): the
    previous pairs become ``existing_pairs`` and, when ``policy.stability.
    churn_penalty_pairing`` is set, it becomes ``policy.pairing.continuity_bonus``. A previous
    plan without pairs (no pairing stage) leaves the existing pairs as they are."""
    tables = _tables(previous)
    policy = scenario.policy
    bonus = policy.stability.churn_penalty_pairing
    new_policy = policy
    if bonus is not None:
        new_policy = policy.model_copy(
            update={"pairing": policy.pairing.model_copy(update={"continuity_bonus": bonus})}
        )
    pairs = tables.get("pairs")
    if pairs is None:
        return scenario.replace(policy=new_policy)
    known_orgs = set(scenario.organizations["id"].astype(str))
    known_regions = set(scenario.regions["code"].astype(str))
    rows = pairs[["org", "target"]].astype(str).drop_duplicates()
    rows = rows[rows["org"].isin(known_orgs) & rows["target"].isin(known_regions)]
    existing = scenario.tables["existing_pairs"]
    since = (
        existing.assign(org=existing["org"].astype(str), target=existing["target"].astype(str))
        .drop_duplicates(["org", "target"])
        .set_index(["org", "target"])["since"]
        if len(existing)
        else pd.Series(dtype=float)
    )
    years = [since.get((o, t)) for o, t in zip(rows["org"], rows["target"], strict=True)]
    table = pd.DataFrame(
        {
            "org": rows["org"].to_numpy(dtype=object),
            "target": rows["target"].to_numpy(dtype=object),
            "since": pd.array(
                [None if y is None or pd.isna(y) else int(y) for y in years], dtype="Int64"
            ),
        }
    )
    return scenario.replace(policy=new_policy, existing_pairs=table.reset_index(drop=True))


def previous_staffing(previous: Tables | str | os.PathLike[str]) -> pd.DataFrame | None:
    """The previous plan's staffing table (pool, org, station, workers, via), or None."""
    frame = _tables(previous).get("staffing")
    return None if frame is None else frame.copy()


def _routes(staffing: pd.DataFrame | None) -> pd.Series:
    """FTE per route: (pool, station) for local rows, (org, station) for dispatch rows."""
    if staffing is None or staffing.empty:
        return pd.Series(dtype=float)
    via = staffing["via"].tolist() if "via" in staffing else ["local"] * len(staffing)
    who = [
        f"org:{org}" if v == "dispatch" else f"pool:{pool}"
        for v, org, pool in zip(via, staffing["org"], staffing["pool"], strict=True)
    ]
    stations = [str(s) for s in staffing["station"]]
    key = pd.MultiIndex.from_arrays([who, stations])
    return (
        pd.Series(staffing["workers"].to_numpy(dtype=float), index=key).groupby(level=[0, 1]).sum()
    )


def churn(
    previous: Tables | str | os.PathLike[str], plan: Tables | str | os.PathLike[str]
) -> pd.DataFrame:
    """How much ``plan`` changed from ``previous`` (Plans, their tables or saved folders).

    One row per measure (measure, label, value, unit): pairs_previous, pairs_kept,
    pairs_added, pairs_removed, targets_changed (targets with a pair added or removed),
    pairs_kept_share (kept / previous; 1 when there were none); staffing_fte_previous,
    staffing_fte_kept (Σ over routes of min(previous, new) FTE; a route is (pool, station) for
    local rows and (organization, station) for dispatch), staffing_fte_moved (previous −
    kept: FTE no longer on their previous route), staffing_fte_new (FTE on routes beyond what
    they had), staffing_kept_share (kept / previous; 1 when there were none). Measures of a
    stage neither plan ran are left out.
    """
    old, new = _tables(previous), _tables(plan)
    rows: list[tuple[str, str, float, str]] = []
    if "pairs" in old or "pairs" in new:
        key = ["org", "target"]
        empty = pd.DataFrame({"org": [], "target": []}, dtype=object)
        a = old.get("pairs", empty)[key].astype(str).drop_duplicates()
        b = new.get("pairs", empty)[key].astype(str).drop_duplicates()
        both = a.merge(b, on=key, how="outer", indicator=True)
        kept = int((both["_merge"] == "both").sum())
        removed = int((both["_merge"] == "left_only").sum())
        added = int((both["_merge"] == "right_only").sum())
        changed = both.loc[both["_merge"] != "both", "target"].nunique()
        rows += [
            ("pairs_previous", "原有结对 / pairs in the previous plan", float(len(a)), "pairs"),
            ("pairs_kept", "保留结对 / pairs kept", float(kept), "pairs"),
            ("pairs_added", "新增结对 / pairs added", float(added), "pairs"),
            ("pairs_removed", "撤销结对 / pairs removed", float(removed), "pairs"),
            (
                "targets_changed",
                "结对变更的受援地区 / targets whose partners changed",
                float(changed),
                "targets",
            ),
            (
                "pairs_kept_share",
                "结对保留率 / share of previous pairs kept",
                kept / len(a) if len(a) else 1.0,
                "share",
            ),
        ]
    if "staffing" in old or "staffing" in new:
        was = _routes(old.get("staffing"))
        now = _routes(new.get("staffing"))
        routes = was.index.union(now.index)
        w = was.reindex(routes).fillna(0.0).to_numpy(dtype=float)
        n = now.reindex(routes).fillna(0.0).to_numpy(dtype=float)
        total_old = float(w.sum())
        kept_fte = float(np.minimum(w, n).sum())
        rows += [
            (
                "staffing_fte_previous",
                "原有社工配置 / FTE assigned in the previous plan",
                round(total_old, 6),
                "FTE",
            ),
            ("staffing_fte_kept", "留任社工 / FTE kept on their route", round(kept_fte, 6), "FTE"),
            (
                "staffing_fte_moved",
                "调动社工 / FTE moved off their previous route",
                round(total_old - kept_fte, 6),
                "FTE",
            ),
            (
                "staffing_fte_new",
                "新配社工 / FTE on new routes",
                round(float(n.sum()) - kept_fte, 6),
                "FTE",
            ),
            (
                "staffing_kept_share",
                "社工配置保留率 / share of previous FTE kept",
                kept_fte / total_old if total_old > 0 else 1.0,
                "share",
            ),
        ]
    return pd.DataFrame(rows, columns=list(CHURN_COLUMNS))
