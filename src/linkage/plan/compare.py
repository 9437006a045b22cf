"""Two plans side by side: which 牵手 pairs changed, how the indicators moved, what changed where.

``load_plan(folder)`` reads a folder written by ``Plan.save`` back into a ``Plan``;
``compare(a, b)`` (plans or folders) returns a ``Comparison`` with three tables and a short
report in plain Chinese with English; ``write_comparison`` writes them atomically.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from linkage.plan.result import Plan
from linkage.solvers.report import StageReport

SUMMARY_FILE = "summary.json"
# columns that hold codes (region codes, organization / pool / lot ids): always text, so that
# leading zeros survive ("001", "0101") and codes compare equal to the scenario's
CODE_COLUMNS = frozenset(
    {
        "org",
        "target",
        "pool",
        "station",
        "region",
        "county",
        "province",
        "target_province",
        "org_province",
        "lot",
        "id",
        "subject",
        "group",
        "key",
        "parent",
    }
)
# free text that may happen to look like a number: never converted
TEXT_COLUMNS = frozenset(
    {
        "name",
        "org_name",
        "target_name",
        "label",
        "group_name",
        "reason",
        "reason_code",
        "note",
        "message",
        "citation",
        "source",
        "donor",
        "detail",
        "why",
    }
)
_LEADING_ZERO = re.compile(r"^[+-]?0\d")
COMPARISON_TABLES: tuple[str, ...] = ("pairs_changed", "indicator_deltas", "by_county")
CHANGES: dict[str, str] = {
    "added": "新增 / added",
    "removed": "撤销 / removed",
    "kept": "保留 / kept",
}


# --- reading a saved plan -----------------------------------------------------------------------


def load_plan(folder: str | os.PathLike[str]) -> Plan:
    """Read a plan folder written by ``Plan.save``: every CSV as a table, summary.json as the
    stage reports, sources and invariant violations.

    Column types: code columns (``CODE_COLUMNS``, and any column whose numbers carry a leading
    zero; in the indicator tables ``target`` is a number and ``group`` text) and free text
    (``TEXT_COLUMNS``) stay strings, an empty code being missing and empty text "". A column
    whose values are all numbers becomes int64 (float64 when it has decimals or empty cells,
    NaN for the empty ones); one of only True/False becomes bool; anything else is text. A
    table saved without rows has only text columns (nothing tells a number). A report
    value saved as null (an infinity or NaN) reads back as inf for a bound or a gap and NaN for
    an objective.
    """
    root = Path(folder)
    summary_path = root / SUMMARY_FILE
    if not summary_path.is_file():
        raise FileNotFoundError(f"{root} is not a saved plan: {SUMMARY_FILE} is missing")
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    listed = list(summary.get("tables", {}))
    present = sorted(p.stem for p in root.glob("*.csv") if not p.name.startswith("."))
    names = [n for n in listed if n in present] + [n for n in present if n not in listed]
    tables = {name: read_table(root / f"{name}.csv") for name in names}
    reports = tuple(_report(stage) for stage in summary.get("stages", {}).values())
    return Plan(
        scenario=str(summary.get("scenario", root.name)),
        tables=tables,
        reports=reports,
        sources={str(k): str(v) for k, v in summary.get("sources", {}).items()},
        violations=tuple(str(v) for v in summary.get("invariant_violations", [])),
    )


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """One plan CSV with the column types of ``load_plan``."""
    path = Path(path)
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    # the indicator tables: "target" is the policy's target value, not a target region, and
    # "group" a county code or a domain, empty for the whole scenario
    special = {"target": "number", "group": "text"} if path.stem.startswith("indicators") else {}
    return pd.DataFrame(
        {col: _typed(col, raw[col], special.get(col, "")) for col in raw.columns},
        index=raw.index,
    )


def _typed(name: str, values: pd.Series, kind: str = "") -> pd.Series:
    text = values  # pandas' string dtype as read (object before pandas 3)
    if kind == "text" or (not kind and name in TEXT_COLUMNS):
        return text
    if not kind and name in CODE_COLUMNS:
        return text.mask(text == "")  # an empty code is a missing one (a pool with no org)
    filled = text[text != ""]
    if not len(filled):
        return text
    if filled.isin(["True", "False"]).all():
        if len(filled) == len(text):
            return text == "True"
        return text
    if filled.map(lambda v: bool(_LEADING_ZERO.match(v))).any():
        return text  # "001": a code, not the number 1
    numbers = pd.to_numeric(filled, errors="coerce")
    if numbers.isna().any():
        return text
    full = pd.to_numeric(text.replace("", np.nan), errors="coerce")
    whole = len(filled) == len(text) and bool(np.all(np.mod(numbers.to_numpy(float), 1) == 0))
    if whole and not filled.str.contains(r"[.eE]", regex=True).any():
        return full.astype(np.int64)
    return full.astype(float)


def _report(raw: Mapping[str, Any]) -> StageReport:
    def numbers(values: Mapping[str, Any] | None, missing: float) -> dict[str, float]:
        return {str(k): missing if v is None else float(v) for k, v in (values or {}).items()}

    gap = raw.get("gap")
    return StageReport(
        stage=str(raw["stage"]),
        method=str(raw.get("method", "")),
        status=raw.get("status", "not_solved"),
        objectives=numbers(raw.get("objectives"), math.nan),
        bound=numbers(raw.get("bound"), math.inf),
        gap=math.inf if gap is None else float(gap),
        wall_s=float(raw.get("wall_s", 0.0)),
        variables=int(raw.get("variables", 0)),
        constraints=int(raw.get("constraints", 0)),
        message=str(raw.get("message", "")),
    )


def as_plan(plan: Plan | str | os.PathLike[str]) -> Plan:
    """A plan as given, or read from its folder."""
    return plan if isinstance(plan, Plan) else load_plan(plan)


# --- the comparison -----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Comparison:
    """Plan A against plan B.

    - ``pairs_changed``: one row per 牵手 pair of either plan: target, name, org, org_name,
      pairs_a / pairs_b (the target's number of pairs in each plan), in_a, in_b, change
      (added: only in B; removed: only in A; kept: in both);
    - ``indicator_deltas``: indicator, label, unit, better, after_a, after_b, delta (B − A),
      improved (the change goes the indicator's better way; False when unchanged);
    - ``by_county``: per county: staffing assigned FTE, volunteer hours served and funds
      granted in A and B with their deltas, and pairs_changed (pairs added + removed whose
      target is the county or a township in it);
    - ``name_a`` / ``name_b``: what the plans are called in the report.
    """

    name_a: str
    name_b: str
    pairs_changed: pd.DataFrame
    indicator_deltas: pd.DataFrame
    by_county: pd.DataFrame

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        return {name: getattr(self, name) for name in COMPARISON_TABLES}

    def summary_text(self) -> str:
        """A short report in plain Chinese with English, one line per fact."""
        return _summary_text(self)


def compare(
    a: Plan | str | os.PathLike[str],
    b: Plan | str | os.PathLike[str],
    *,
    names: tuple[str, str] = ("A", "B"),
) -> Comparison:
    """Compare plan ``a`` with plan ``b`` (Plans, or folders written by ``Plan.save``).

    Tables a plan does not have (a stage it did not run) count as empty: its pairs as none, its
    indicators as missing (NaN).
    """
    pa, pb = as_plan(a), as_plan(b)
    pairs = _pairs_changed(pa.tables, pb.tables)
    return Comparison(
        name_a=names[0],
        name_b=names[1],
        pairs_changed=pairs,
        indicator_deltas=_indicator_deltas(pa.tables, pb.tables),
        by_county=_by_county(pa.tables, pb.tables, pairs),
    )


def write_comparison(
    comparison: Comparison, folder: str | os.PathLike[str], *, force: bool = False
) -> Path:
    """Write the three tables as CSV and the report as summary.txt, atomically (the folder
    appears complete or not at all); never overwrite unless ``force``."""
    from linkage.scenario.io import atomic_dir

    target = Path(folder)
    with atomic_dir(target, force=force) as tmp:
        for name, frame in comparison.tables.items():
            frame.to_csv(tmp / f"{name}.csv", index=False, encoding="utf-8")
        (tmp / "summary.txt").write_text(comparison.summary_text() + "\n", encoding="utf-8")
    return target


def _table(tables: Mapping[str, pd.DataFrame], name: str, columns: Iterable[str]) -> pd.DataFrame:
    frame = tables.get(name)
    cols = list(columns)
    if frame is None:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    missing = [c for c in cols if c not in frame]
    return frame.assign(**{c: pd.Series(np.nan, index=frame.index) for c in missing})


def _pairs_changed(ta: Mapping[str, pd.DataFrame], tb: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    cols = ["org", "org_name", "target", "target_name"]
    pa = _table(ta, "pairs", cols)[cols].astype(object)
    pb = _table(tb, "pairs", cols)[cols].astype(object)
    key = ["org", "target"]
    merged = pd.merge(
        pa.drop_duplicates(key), pb.drop_duplicates(key), on=key, how="outer", indicator=True
    )
    in_a = merged["_merge"].isin(["both", "left_only"]).to_numpy()
    in_b = merged["_merge"].isin(["both", "right_only"]).to_numpy()
    count_a = pa.groupby("target").size()
    count_b = pb.groupby("target").size()
    targets = merged["target"]
    out = pd.DataFrame(
        {
            "target": targets.astype(object),
            "name": merged["target_name_x"].where(
                merged["target_name_x"].notna(), merged["target_name_y"]
            ),
            "org": merged["org"].astype(object),
            "org_name": merged["org_name_x"].where(
                merged["org_name_x"].notna(), merged["org_name_y"]
            ),
            "pairs_a": targets.map(count_a).fillna(0).astype(np.int64),
            "pairs_b": targets.map(count_b).fillna(0).astype(np.int64),
            "in_a": in_a,
            "in_b": in_b,
            "change": np.where(in_a & in_b, "kept", np.where(in_a, "removed", "added")),
        }
    )
    order = out["change"].map({"removed": 0, "added": 1, "kept": 2})
    out = out.assign(_o=order).sort_values(["target", "_o", "org"], kind="stable")
    return out.drop(columns="_o").reset_index(drop=True)


def _indicator_deltas(
    ta: Mapping[str, pd.DataFrame], tb: Mapping[str, pd.DataFrame]
) -> pd.DataFrame:
    cols = ["indicator", "label", "unit", "better", "after"]
    ia = _table(ta, "indicators", cols)[cols]
    ib = _table(tb, "indicators", cols)[cols]
    merged = pd.merge(ia, ib, on="indicator", how="outer", suffixes=("_a", "_b"), sort=False)
    order = list(dict.fromkeys([*ia["indicator"], *ib["indicator"]]))
    merged = merged.set_index("indicator").reindex(order).reset_index()
    after_a = pd.to_numeric(merged["after_a"], errors="coerce").astype(float)
    after_b = pd.to_numeric(merged["after_b"], errors="coerce").astype(float)
    delta = after_b - after_a
    better = merged["better_a"].where(merged["better_a"].notna(), merged["better_b"])
    moved = delta.abs() > 1e-12
    improved = moved & (((better == "higher") & (delta > 0)) | ((better == "lower") & (delta < 0)))
    return pd.DataFrame(
        {
            "indicator": merged["indicator"].astype(object),
            "label": merged["label_a"].where(merged["label_a"].notna(), merged["label_b"]),
            "unit": merged["unit_a"].where(merged["unit_a"].notna(), merged["unit_b"]),
            "better": better,
            "after_a": after_a,
            "after_b": after_b,
            "delta": delta,
            "improved": improved.to_numpy(dtype=bool),
        }
    )


def _county_of(tables: Iterable[Mapping[str, pd.DataFrame]]) -> dict[str, str]:
    """Station / township code → county code, from the plans' station and fund tables."""
    out: dict[str, str] = {}
    for t in tables:
        for name, col in (("stations", "region"), ("fund_demand", "station")):
            frame = t.get(name)
            if frame is not None and "county" in frame and col in frame:
                out.update(zip(frame[col].astype(str), frame["county"].astype(str), strict=True))
    return out


def _county_names(tables: Iterable[Mapping[str, pd.DataFrame]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for t in tables:
        ind = t.get("indicators_by_county")
        if ind is not None and {"group", "group_name"} <= set(ind.columns):
            out.update(zip(ind["group"].astype(str), ind["group_name"].astype(str), strict=True))
        targets = t.get("targets")
        if targets is not None and {"target", "name"} <= set(targets.columns):
            for code, name in zip(targets["target"], targets["name"], strict=True):
                out.setdefault(str(code), str(name))
    return out


def _per_county(frame: pd.DataFrame | None, key: str, value: str, county: dict[str, str]) -> Any:
    if frame is None or value not in frame or key not in frame:
        return pd.Series(dtype=float)
    where = frame["county"].astype(str) if "county" in frame else frame[key].astype(str).map(county)
    return pd.to_numeric(frame[value], errors="coerce").groupby(where.to_numpy()).sum()


def _by_county(
    ta: Mapping[str, pd.DataFrame], tb: Mapping[str, pd.DataFrame], pairs: pd.DataFrame
) -> pd.DataFrame:
    county = _county_of((ta, tb))
    measures = (
        ("assigned", "stations", "region", "assigned"),
        ("volunteer_hours", "volunteer_demand", "station", "assigned_hours"),
        ("funds", "fund_demand", "station", "granted_yuan"),
    )
    series: dict[str, pd.Series] = {}
    for label, table, key, value in measures:
        series[f"{label}_a"] = _per_county(ta.get(table), key, value, county)
        series[f"{label}_b"] = _per_county(tb.get(table), key, value, county)
    changed = pairs[pairs["change"] != "kept"]
    target_county = changed["target"].astype(str).map(lambda t: county.get(t, t))
    pair_count = changed.groupby(target_county.to_numpy()).size()
    codes = sorted(set().union(*(s.index for s in series.values()), pair_count.index))
    names = _county_names((ta, tb))
    out = pd.DataFrame(
        {"county": pd.Series(codes, dtype=object), "name": [names.get(c, "") for c in codes]}
    )
    for label, *_ in measures:
        a = series[f"{label}_a"].reindex(codes).fillna(0.0).to_numpy(dtype=float)
        b = series[f"{label}_b"].reindex(codes).fillna(0.0).to_numpy(dtype=float)
        out[f"{label}_a"] = a
        out[f"{label}_b"] = b
        out[f"{label}_delta"] = b - a
    out["pairs_changed"] = pair_count.reindex(codes).fillna(0).to_numpy(dtype=np.int64)
    return out


# --- the report ---------------------------------------------------------------------------------


def _format(value: float, unit: str) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    if unit == "share":
        return f"{100 * value:.1f}%"
    if unit == "yuan":
        return f"¥{value:,.0f}"
    if unit == "hours" or abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _format_delta(value: float, unit: str) -> str:
    if unit == "share":
        return f"{100 * value:+.1f} 个百分点 / pp"
    if unit == "yuan":
        return f"{'+' if value >= 0 else '−'}¥{abs(value):,.0f}"
    if abs(value) >= 1000:
        return f"{value:+,.0f}"
    return f"{value:+.3g}"


def _summary_text(c: Comparison) -> str:
    lines = [f"方案比较 / plan comparison: {c.name_a} → {c.name_b}"]
    pairs = c.pairs_changed
    n = {k: int((pairs["change"] == k).sum()) for k in CHANGES}
    moved = pairs[pairs["change"] != "kept"]
    targets = list(dict.fromkeys(moved["target"].astype(str)))
    if targets:
        word = "个县" if all(len(t) == 6 for t in targets) else "个受援地区"
        shown = []
        for t in targets[:5]:
            rows = moved[moved["target"].astype(str) == t]
            name = str(rows["name"].dropna().iloc[0]) if rows["name"].notna().any() else t
            gone = "、".join(_names(rows[rows["change"] == "removed"])) or "—"
            new = "、".join(_names(rows[rows["change"] == "added"])) or "—"
            shown.append(f"{name}（{gone} → {new}）")
        more = f" 等 / and {len(targets) - 5} more" if len(targets) > 5 else ""
        lines.append(
            f"牵手机构变更 {len(targets)} {word}：{'；'.join(shown)}{more} / "
            f"partner organizations changed in {len(targets)} target(s)"
        )
    elif len(pairs):
        lines.append("牵手结对无变化 / no pair changed")
    if len(pairs):
        lines.append(
            f"结对：新增 {n['added']}，撤销 {n['removed']}，保留 {n['kept']} / "
            f"pairs added {n['added']}, removed {n['removed']}, kept {n['kept']}"
        )
    deltas = c.indicator_deltas
    changed = deltas[deltas["delta"].abs() > 1e-9]
    for row in changed.to_dict("records"):
        unit = str(row["unit"])
        arrow = "改善 / better" if row["improved"] else "变差 / worse"
        lines.append(
            f"{row['label']}: {_format(float(row['after_a']), unit)} → "
            f"{_format(float(row['after_b']), unit)} "
            f"({_format_delta(float(row['delta']), unit)}, {arrow})"
        )
    if len(deltas) and not len(changed):
        lines.append("各项指标不变 / every indicator unchanged")
    county = c.by_county
    if len(county):
        big = county.reindex(
            county["assigned_delta"].abs().sort_values(ascending=False, kind="stable").index
        )
        big = big[big["assigned_delta"].abs() > 1e-9].head(3)
        if len(big):
            parts = [
                f"{r['name'] or r['county']} {float(r['assigned_delta']):+.1f}"
                for r in big.to_dict("records")
            ]
            lines.append(
                f"社工配置变化最大的县 / largest staffing changes (FTE): {'，'.join(parts)}"
            )
    return "\n".join(lines)


def _names(rows: pd.DataFrame) -> list[str]:
    return [
        str(name) if isinstance(name, str) and name else str(org)
        for org, name in zip(rows["org"], rows["org_name"], strict=True)
    ]
