"""The variants of a what-if run compared on one self-contained HTML page (``comparison.html``).

``render_comparison_report(table, title=...)`` takes the comparison table that ``linkage.batch``
returns (one row per variant, index ``variant``; grid parameters may come first) and returns the
document. Like the plan's ``report.html`` it opens with no network: the charts are inline SVG,
the style and script (tooltips, sortable tables) are those of ``report.py``, and a
Content-Security-Policy forbids any load from elsewhere. Its only links are relative ones to
each variant's own plan folder, ``variants/NAME/report.html`` and ``plan.xlsx``, as
``linkage whatif`` writes them beside the page.

Sections:

- the variants: a sortable table of the parameters, solved (the error as a tooltip), the
  whole-scenario indicators (with the difference from the variant named ``baseline``), each
  stage's status, objectives, gap and time, and the total time;
- one bar chart per whole-scenario indicator across the variants, the baseline's bar and value
  highlighted;
- the variants that were not solved, each with its error.

All text from the table (variant names, parameters, errors) is escaped: names are user data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import pandas as pd

from linkage.plan.indicators import INDICATORS, Indicator
from linkage.plan.report import (
    _CSS,
    STAGE_NAMES,
    STATUS_NAMES,
    Cell,
    _better,
    _e,
    _float,
    _gap,
    _general,
    _legend,
    _missing,
    _note,
    _page,
    _section,
    _sortable,
    _table,
    _value,
)

__all__ = ["BASELINE", "VARIANTS_DIR", "render_comparison_report"]

BASELINE = "baseline"  # the variant the others are measured against, when there is one
VARIANTS_DIR = "variants"  # each variant's plan folder: VARIANTS_DIR/NAME
STAGE_FIELDS = ("status", "gap", "wall_s")
CHART_WIDTH = 460.0
BAR_HEIGHT = 16.0
BAR_STEP = 22.0
LABEL_MAX = 30  # characters of a variant name on a chart's axis (the whole name in its tooltip)
BASELINE_COLOR = "#e8590c"


@dataclass(frozen=True)
class _Columns:
    """Which columns of the comparison table are what."""

    parameters: list[str]
    indicators: list[str]
    stages: list[str]
    objectives: dict[str, list[str]]  # stage → its objective columns

    @classmethod
    def of(cls, table: pd.DataFrame, parameters: Sequence[str] | None) -> _Columns:
        columns = [str(c) for c in table.columns]
        if parameters is None:  # run_whatif puts the grid parameters before the batch's columns
            parameters = columns[: columns.index("solved")] if "solved" in columns else []
        params = [c for c in parameters if c in columns]
        indicators = [
            c for c in columns if c not in params and (c in INDICATORS or f"before.{c}" in columns)
        ]
        stages = [c[: -len(".status")] for c in columns if c.endswith(".status")]
        stages = [s for s in stages if s not in params]
        objectives = {
            s: [c for c in columns if c.startswith(f"{s}.") and c[len(s) + 1 :] not in STAGE_FIELDS]
            for s in stages
        }
        return cls(params, indicators, stages, objectives)


def render_comparison_report(
    table: pd.DataFrame,
    *,
    title: str,
    parameters: list[str] | None = None,
    description: str = "",
    generated_at: datetime | None = None,
    link_plans: bool = True,
) -> str:
    """The comparison table as a complete, self-contained HTML document (see the module
    docstring). ``parameters`` names the grid parameter columns (default: the columns before
    ``solved``); ``description`` is shown under the title. ``link_plans``: each solved variant's
    name links to its plan folder's report and workbook (``variants/NAME/``), as ``run_whatif``
    writes them; off where no such folders exist (the HTTP API keeps only the comparison)."""
    cols = _Columns.of(table, parameters)
    names = [str(n) for n in table.index]
    rows = [table.iloc[i] for i in range(len(table))]
    solved = [_solved(r) for r in rows]
    baseline = names.index(BASELINE) if BASELINE in names else None
    when = (generated_at or datetime.now()).strftime("%Y-%m-%d %H:%M")
    sections = [
        _variants(names, rows, cols, baseline, link_plans),
        _charts(names, table, cols, baseline),
        _failed(names, rows, cols, link_plans),
    ]
    nav = (
        ("variants", "方案一览 / variants"),
        ("charts", "指标对比 / indicators"),
        ("failed", "未求解 / not solved"),
    )
    description_html = f'<p class="desc">{_e(description)}</p>' if description else ""
    reference = (
        f" · 基准 / baseline: {_e(BASELINE)}"
        if baseline is not None
        else " · 无基准方案 / no variant named baseline"
    )
    header = [
        f"<h1>{_e(title)}</h1>",
        '<p class="meta">方案比较 / variant comparison',
        f" · 生成于 / generated {_e(when)}</p>",
        f'<p class="meta">{len(names)} 个方案 / variants · {sum(solved)} 已求解 / solved · '
        f"{len(names) - sum(solved)} 未求解 / not solved{reference}</p>",
        description_html,
    ]
    return _page(
        f"{title} — 方案比较 / variant comparison", _CSS + _EXTRA_CSS, header, nav, sections
    )


# ---------------------------------------------------------------------------------------------
# the table of variants


def _variants(
    names: list[str],
    rows: list[pd.Series],
    cols: _Columns,
    baseline: int | None,
    link_plans: bool = True,
) -> str:
    if not names:
        return _section(
            "variants", "方案一览 / variants", "", _note("没有方案 / there are no variants")
        )
    head: list[tuple[str, bool]] = [("方案 / variant", False)]
    numeric_params = {c: _numeric_column(rows, c) for c in cols.parameters}
    head += [(c, numeric_params[c]) for c in cols.parameters]
    head.append(("已求解 / solved", True))
    head += [(_indicator(c).label, True) for c in cols.indicators]
    for stage in cols.stages:
        label = STAGE_NAMES.get(stage, stage).split(" / ")[0]
        head.append((f"{label} 状态 / {stage} status", False))
        head += [(f"{label} {c[len(stage) + 1 :]}", True) for c in cols.objectives[stage]]
        head.append((f"{label} 间隙 / {stage} gap", True))
        head.append((f"{label} 用时 / {stage} s", True))
    head.append(("总用时 / total s", True))
    body = []
    base_row = rows[baseline] if baseline is not None else None
    for i, (name, row) in enumerate(zip(names, rows, strict=True)):
        link = link_plans and _has_plan(row, cols)
        cells: list[Cell] = [(_variant_cell(name, i == baseline, link), None)]
        for c in cols.parameters:
            value = row.get(c)
            if numeric_params[c]:
                cells.append((_e(_general(value)), _sortable(value)))
            else:
                cells.append((_e("" if _missing(value) else value), None))
        cells.append(_solved_cell(row))
        for c in cols.indicators:
            cells.append(_indicator_cell(c, row, base_row if i != baseline else None))
        for stage in cols.stages:
            status = _text(row.get(f"{stage}.status"))
            badge = (
                f'<span class="badge st-{_e(status)}">{_e(STATUS_NAMES.get(status, status))}</span>'
                if status
                else "—"
            )
            cells.append((badge, None))
            for c in cols.objectives[stage]:
                cells.append((_e(_general(row.get(c))), _sortable(row.get(c))))
            gap = _float(row.get(f"{stage}.gap"))
            cells.append((_e(_gap(gap) if not math.isnan(gap) else "—"), _sortable(gap)))
            wall = _float(row.get(f"{stage}.wall_s"))
            cells.append((_e(_seconds(wall)), _sortable(wall)))
        total = _float(row.get("total_s"))
        cells.append((_e(_seconds(total)), _sortable(total)))
        body.append(cells)
    return _section(
        "variants",
        "方案一览 / variants",
        "每行一个方案：参数、是否求解、全局指标（数值下方为与基准方案之差）、各阶段的状态、目标值、"
        "间隙与用时。点击表头排序；点击方案名打开该方案的报告。"
        " / One row per variant: parameters, solved, whole-scenario indicators (the difference"
        " from the baseline below each), each stage's status, objectives, gap and time. Click a"
        " header to sort; a variant's name opens its own plan report.",
        _table(head, body, "variants-table"),
    )


def _variant_cell(name: str, is_baseline: bool, link: bool) -> str:
    """The name, linked to the variant's report when a plan was written, with its workbook."""
    text = _e(name)
    if link:
        folder = f"{VARIANTS_DIR}/{quote(name, safe='')}"
        text = (
            f'<a class="plan-link" href="{_e(folder)}/report.html">{text}</a>'
            f' <a class="small xlsx-link" href="{_e(folder)}/plan.xlsx">xlsx</a>'
        )
    if is_baseline:
        text += ' <span class="badge is-baseline">基准 / baseline</span>'
    return text


def _solved_cell(row: pd.Series) -> Cell:
    error = _text(row.get("error"))
    if _solved(row):
        return '<span class="badge st-optimal">是 / yes</span>', 1.0
    tip = f' data-tip="{_e(error)}"' if error else ""
    return f'<span class="badge st-infeasible"{tip}>否 / no</span>', 0.0


def _indicator_cell(column: str, row: pd.Series, base_row: pd.Series | None) -> Cell:
    spec = _indicator(column)
    value = _float(row.get(column))
    before = _float(row.get(f"before.{column}"))
    tip = f"{spec.label}\n实施前 / before: {_value(before, spec.unit)}"
    text = f'<span data-tip="{_e(tip)}">{_e(_value(value, spec.unit))}</span>'
    if base_row is not None:
        text += _delta(value, _float(base_row.get(column)), spec)
    return text, _sortable(value)


def _delta(value: float, base: float, spec: Indicator) -> str:
    """The difference from the baseline, colored by whether it is better."""
    if not (math.isfinite(value) and math.isfinite(base)):
        return ""
    diff = value - base
    if abs(diff) <= 1e-9 * max(1.0, abs(base)):
        return '<br><span class="delta same">±0</span>'
    better = (diff > 0) == (spec.better != "lower")
    sign = "+" if diff > 0 else "−"
    if spec.unit == "share":
        amount = f"{abs(diff) * 100:.1f} pp"
    else:
        amount = _value(abs(diff), spec.unit, compact=True)
    if not any(ch in "123456789" for ch in amount):  # too small to show: 0.00, 0.0 pp
        return '<br><span class="delta same">≈0</span>'
    kind = "better" if better else "worse"
    return f'<br><span class="delta {kind}">{sign}{_e(amount)}</span>'


# ---------------------------------------------------------------------------------------------
# charts


def _charts(names: list[str], table: pd.DataFrame, cols: _Columns, baseline: int | None) -> str:
    title = "指标对比 / indicators across variants"
    if not cols.indicators or not names:
        return _section("charts", title, "", _note("没有全局指标 / there are no indicators"))
    cards = [_chart(c, names, table, baseline) for c in cols.indicators]
    items = [('<span class="sw after sq"></span>', "方案 / variant")]
    if baseline is not None:
        items += [
            ('<span class="sw is-baseline sq"></span>', "基准方案 / baseline"),
            ('<span class="sw baseline-line"></span>', "基准值 / baseline value"),
        ]
    items.append(("<span>—</span>", "无值（未求解）/ no value (not solved)"))
    return _section(
        "charts",
        title,
        "每个全局指标一张图，每个方案一根条；比例以百分比表示。"
        " / One chart per whole-scenario indicator, one bar per variant; shares in %.",
        f'{_legend(items)}<div class="charts wide">{"".join(cards)}</div>',
    )


def _chart(column: str, names: list[str], table: pd.DataFrame, baseline: int | None) -> str:
    spec = _indicator(column)
    values = [_float(v) for v in table[column].to_list()]
    finite = [v for v in values if math.isfinite(v)]
    top = 1.0 if spec.unit == "share" else max([abs(v) for v in finite] + [0.0])
    top = top if top > 0 else 1.0
    shown = [_shorten(n) for n in names]
    left = min(230.0, max(60.0, max(_text_width(s) for s in shown) + 12))
    right = 64.0
    span = CHART_WIDTH - left - right
    height = 10 + len(names) * BAR_STEP
    svg = [
        f'<svg class="chart" viewBox="0 0 {CHART_WIDTH:.0f} {height:.0f}" '
        f'width="{CHART_WIDTH:.0f}" height="{height:.0f}" role="img" '
        f'aria-label="{_e(spec.label)}" xmlns="http://www.w3.org/2000/svg">'
    ]
    base_value = values[baseline] if baseline is not None else math.nan
    for i, (name, label, value) in enumerate(zip(names, shown, values, strict=True)):
        y = 6 + i * BAR_STEP
        cls = "bar-baseline" if i == baseline else "bar-variant"
        svg.append(
            f'<text class="bar-label{" baseline-label" if i == baseline else ""}" '
            f'x="{left - 6:.0f}" y="{y + 12:.0f}" text-anchor="end">'
            f"<title>{_e(name)}</title>{_e(label)}</text>"
        )
        if not math.isfinite(value):
            svg.append(f'<text class="bar-value" x="{left + 4:.0f}" y="{y + 12:.0f}">—</text>')
            continue
        w = max(0.0, min(1.0, value / top)) * span
        tip = f"{name}\n{spec.label}: {_value(value, spec.unit)}"
        if baseline is not None and i != baseline and math.isfinite(base_value):
            tip += f"\n基准 / baseline: {_value(base_value, spec.unit)}"
        svg.append(
            f'<rect class="bar {cls}" x="{left:.0f}" y="{y:.0f}" width="{w:.1f}" '
            f'height="{BAR_HEIGHT:.0f}" data-variant="{_e(name)}" data-tip="{_e(tip)}"/>'
            f'<text class="bar-value" x="{left + w + 4:.1f}" y="{y + 12:.0f}">'
            f"{_e(_value(value, spec.unit, compact=True))}</text>"
        )
    if math.isfinite(base_value):
        bx = left + max(0.0, min(1.0, base_value / top)) * span
        svg.append(
            f'<line class="baseline-mark" x1="{bx:.1f}" y1="2" x2="{bx:.1f}" '
            f'y2="{height - 2:.0f}"/>'
        )
    svg.append(
        f'<line class="axis" x1="{left:.0f}" y1="2" x2="{left:.0f}" y2="{height - 2:.0f}"/></svg>'
    )
    return (
        f'<figure class="card" data-indicator="{_e(column)}">'
        f"<figcaption>{_e(spec.label)}"
        f'<span class="small"> · {_e(spec.unit)} · {_e(_better(spec.better))}</span>'
        f"</figcaption>{''.join(svg)}</figure>"
    )


def _shorten(name: str) -> str:
    return name if len(name) <= LABEL_MAX else name[: LABEL_MAX - 1] + "…"


def _text_width(text: str) -> float:
    """The width of 11px text, roughly: wide (CJK) characters count double."""
    return sum(11.0 if ord(ch) >= 0x2E80 else 6.2 for ch in text)


# ---------------------------------------------------------------------------------------------
# failed variants


def _failed(names: list[str], rows: list[pd.Series], cols: _Columns, link_plans: bool) -> str:
    title = "未求解的方案 / variants not solved"
    failed = [(n, r) for n, r in zip(names, rows, strict=True) if not _solved(r)]
    if not failed:
        return _section("failed", title, "", _note("全部方案已求解 / every variant solved"))
    items = []
    for name, row in failed:
        error = _text(row.get("error")) or "未知原因 / no reason given"
        if not _has_plan(row, cols):
            plan = ' <span class="small">(无方案 / no plan)</span>'
        elif link_plans:
            link = _variant_cell(name, False, True)
            plan = f' <span class="small">(方案已保存 / plan written: {link})</span>'
        else:
            plan = ' <span class="small">(部分阶段已求解 / some stages solved)</span>'

        items.append(
            f'<li data-variant="{_e(name)}"><strong>{_e(name)}</strong>{plan}'
            f'<pre class="error">{_e(error)}</pre></li>'
        )
    return _section(
        "failed",
        title,
        "这些方案求解失败或有阶段未得到可行方案；原因如下。"
        " / These variants failed, or a stage found no plan; why, as the batch reported it.",
        f'<ul class="failed">{"".join(items)}</ul>',
    )


# ---------------------------------------------------------------------------------------------
# helpers


def _indicator(column: str) -> Indicator:
    known = INDICATORS.get(column)
    if known is not None:
        return known
    return Indicator(column, column, "", "higher", "staffing", ("",))


def _solved(row: pd.Series) -> bool:
    value = row.get("solved")
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return False if _missing(value) else bool(value)


def _has_plan(row: pd.Series, cols: _Columns) -> bool:
    """A plan folder was written: the solve returned a plan (some stage has a status), even if a
    stage was not solved; a variant whose solve raised has no status and no folder."""
    return any(_text(row.get(f"{s}.status")) for s in cols.stages)


def _numeric_column(rows: list[pd.Series], column: str) -> bool:
    values = [r.get(column) for r in rows if not _missing(r.get(column))]
    return bool(values) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in values
    )


def _text(value: Any) -> str:
    return "" if _missing(value) else str(value)


def _seconds(value: float) -> str:
    return "—" if not math.isfinite(value) else f"{value:.2f}"


_EXTRA_CSS = f"""
#variants-table th{{white-space:normal;min-width:5.5em;vertical-align:bottom}}
#variants-table td:first-child,#variants-table .badge{{white-space:nowrap}}
.charts.wide{{grid-template-columns:repeat(auto-fill,minmax(470px,1fr))}}
.bar-variant{{fill:var(--after)}}.bar-baseline{{fill:{BASELINE_COLOR}}}
.baseline-label{{font-weight:700;fill:{BASELINE_COLOR}}}
.baseline-mark{{stroke:{BASELINE_COLOR};stroke-width:1.5;stroke-dasharray:4 3}}
.badge.is-baseline,.sw.is-baseline{{background:{BASELINE_COLOR}}}
.sw.baseline-line{{width:0;height:14px;border-left:2px dashed {BASELINE_COLOR};border-radius:0}}
.delta{{font-size:11px}}.delta.better{{color:#1a7f37}}.delta.worse{{color:#c92a2a}}
.delta.same{{color:var(--muted)}}
ul.failed{{margin:6px 0;padding-left:20px}}
ul.failed li{{margin:6px 0}}
pre.error{{margin:4px 0;padding:6px 8px;background:#fdf2f2;border-radius:4px;font-size:12px;
white-space:pre-wrap;word-break:break-word}}
"""
