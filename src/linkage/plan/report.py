"""The plan as one self-contained HTML page (``report.html``) that opens with no network.

``render_report(scenario, plan)`` returns the document; ``write_report(scenario, plan, path)``
writes it atomically. Everything is inline: the maps and charts are SVG drawn here, the style
and the little script (tooltips, sortable tables, layer toggles) sit in the page, and a
Content-Security-Policy forbids the page any load from elsewhere. No map tiles or geodata: the
maps are an equirectangular projection of the scenario's own region points, with each
province outlined by the convex hull of its points.

Sections, each drawn only from the plan tables it needs (a plan of the pairing stage alone
still renders, with a note where a section has nothing to show):

- header and the solver certificates of every stage (status, method, objectives, bound, gap,
  time, model size);
- the pairing map: sender organization's region → target, targets colored fully paired / short;
- the station coverage map: township stations colored by coverage after the plan;
- the indicators before / after, one bar chart each with the policy target marked, and a table;
- the unmet needs: counts and amounts by reason per stage, and the 20 largest per stage.

All text from the scenario or the plan is escaped: names are user data.
"""

from __future__ import annotations

import html
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from linkage.plan.result import Plan
from linkage.scenario.core import Scenario
from linkage.scenario.vocabulary import DOMAINS
from linkage.solvers.report import StageReport

__all__ = ["render_report", "write_report"]

TOP_UNMET = 20
MAP_WIDTH = 760.0
MAP_MAX_HEIGHT = 620.0
MAP_PAD = 18.0

STAGE_NAMES: dict[str, str] = {
    "pairing": "牵手结对 / pairing",
    "staffing": "社工配置 / staffing",
    "volunteers": "志愿服务 / volunteers",
    "funds": "资金配置 / funds",
    "joint": "联合模型 / joint model",
}
STATUS_NAMES: dict[str, str] = {
    "optimal": "最优 / optimal",
    "feasible": "可行 / feasible",
    "infeasible": "不可行 / infeasible",
    "not_solved": "未求解 / not solved",
}
ORIGIN_NAMES: dict[str, str] = {
    "rule": "规则候选 / by rule",
    "existing": "延续上期 / continued",
    "override": "人工指定 / planner override",
}
PAIRED_COLOR = "#1a9850"
SHORT_COLOR = "#d73027"
SENDER_COLOR = "#2c6fbb"
# station coverage bins: (lowest coverage, label, color), best first
COVERAGE_BINS: tuple[tuple[float, str, str], ...] = (
    (1.0 - 1e-9, "100%", "#1a9850"),
    (0.75, "75–99%", "#a6d96a"),
    (0.5, "50–74%", "#fdae61"),
    (-math.inf, "< 50%", "#d73027"),
)


def write_report(scenario: Scenario, plan: Plan, path: str | os.PathLike[str]) -> Path:
    """Render the report and write it to ``path`` atomically: a temporary file beside it, then a
    rename, so a reader never sees half a report. The file is readable by all (0644)."""
    target = Path(path)
    data = render_report(scenario, plan).encode("utf-8")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def render_report(scenario: Scenario, plan: Plan, *, generated_at: datetime | None = None) -> str:
    """The plan as a complete, self-contained HTML document (see the module docstring)."""
    regions = _Regions(scenario.regions)
    when = (generated_at or datetime.now()).strftime("%Y-%m-%d %H:%M")
    title = f"{scenario.meta.name or plan.scenario} — 方案报告 / plan report"
    sections = [
        _certificates(plan),
        _pairing_map(scenario, plan, regions),
        _coverage_map(plan, regions),
        _indicator_charts(plan),
        _unmet(plan, regions),
    ]
    nav = (
        ("certificates", "求解证书 / certificates"),
        ("pairing-map", "结对地图 / pairing map"),
        ("coverage-map", "站点覆盖 / station coverage"),
        ("indicators", "指标 / indicators"),
        ("unmet", "未满足需求 / unmet needs"),
    )
    stages = " · ".join(STAGE_NAMES.get(r.stage, r.stage) for r in plan.reports) or "—"
    solved = "是 / yes" if plan.solved else "否 / no"
    violations = ""
    if plan.violations:
        items = "".join(f"<li>{_e(v)}</li>" for v in plan.violations)
        violations = (
            '<div class="warn"><strong>不变式违例 / invariant violations</strong>'
            f"<ul>{items}</ul></div>"
        )
    description = (
        f'<p class="desc">{_e(scenario.meta.description)}</p>' if scenario.meta.description else ""
    )
    header = [
        f"<h1>{_e(scenario.meta.name or plan.scenario)}</h1>",
        '<p class="meta">方案报告 / plan report',
        f" · 规划年度 / year {_e(scenario.meta.year)}",
        f" · 生成于 / generated {_e(when)}</p>",
        f'<p class="meta">阶段 / stages: {_e(stages)} · 全部求解 / all solved: {solved}</p>',
        description,
        violations,
    ]
    return _page(title, _CSS, header, nav, sections)


def _page(
    title: str,
    css: str,
    header: Sequence[str],
    nav: Sequence[tuple[str, str]],
    sections: Sequence[str],
) -> str:
    """A complete, self-contained HTML document: the header's HTML, a menu of (anchor, label)
    links, then the sections."""
    links = "".join(f'<a href="#{anchor}">{_e(label)}</a>' for anchor, label in nav)
    return "".join(
        [
            "<!DOCTYPE html>\n",
            '<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n',
            # the page may load nothing from anywhere: everything it shows is inline
            '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
            "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n",
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
            f"<title>{_e(title)}</title>\n<style>{css}</style>\n</head>\n<body>\n",
            '<header id="top">',
            *header,
            f"<nav>{links}</nav></header>\n<main>\n",
            "\n".join(sections),
            "\n</main>\n",
            '<div id="tooltip" role="tooltip" hidden></div>\n',
            f"<script>{_JS}</script>\n</body>\n</html>\n",
        ]
    )


# ---------------------------------------------------------------------------------------------
# certificates


def _certificates(plan: Plan) -> str:
    head = [
        ("阶段 / stage", False),
        ("状态 / status", False),
        ("方法 / method", False),
        ("目标值 / objectives", False),
        ("界 / bound", False),
        ("间隙 / gap", True),
        ("用时 / time (s)", True),
        ("变量 / variables", True),
        ("约束 / constraints", True),
        ("说明 / message", False),
    ]
    rows = [_certificate_row(r) for r in plan.reports]
    body = (
        _table(head, rows, "certificates")
        if rows
        else _note("本方案没有求解阶段 / the plan has no solved stage")
    )
    return _section(
        "certificates",
        "求解证书 / solver certificates",
        "每个阶段的求解状态、目标值与已证明的界；间隙 = |目标 − 界| / max(1, |目标|)。"
        " / Each stage's status, achieved objectives (in lexicographic order) and proven bounds.",
        body,
    )


def _certificate_row(r: StageReport) -> list[Cell]:
    status = (
        f'<span class="badge st-{_e(r.status)}">{_e(STATUS_NAMES.get(r.status, r.status))}</span>'
    )
    return [
        (_e(STAGE_NAMES.get(r.stage, r.stage)), None),
        (status, None),
        (f"<code>{_e(r.method)}</code>", None),
        (_objectives(r.objectives), None),
        (_objectives(r.bound), None),
        (_e(_gap(r.gap)), _sortable(r.gap)),
        (_e(f"{r.wall_s:.2f}"), float(r.wall_s)),
        (_e(f"{int(r.variables):,}"), float(r.variables)),
        (_e(f"{int(r.constraints):,}"), float(r.constraints)),
        (f'<span class="small">{_e(r.message)}</span>', None),
    ]


def _objectives(values: Mapping[str, float]) -> str:
    if not values:
        return "—"
    return "<br>".join(
        f'<span class="small">{_e(k)}</span> = {_e(_general(v))}' for k, v in values.items()
    )


def _gap(gap: float) -> str:
    if not math.isfinite(gap):
        return "∞"
    return "0" if gap == 0 else f"{gap * 100:.3f}%"


# ---------------------------------------------------------------------------------------------
# maps


class _Regions:
    """Region names, parents, levels and points by code (codes as text)."""

    def __init__(self, regions: pd.DataFrame):
        codes = regions["code"].astype(str).to_list()
        self.name = dict(zip(codes, regions["name"].astype(str), strict=True))
        parents = regions["parent"].astype(object).where(regions["parent"].notna(), None)
        self.parent = {
            c: (None if p is None else str(p)) for c, p in zip(codes, parents, strict=True)
        }
        self.level = dict(zip(codes, regions["level"].astype(str), strict=True))
        lat = regions["lat"].to_numpy(dtype=float)
        lon = regions["lon"].to_numpy(dtype=float)
        self.point = {
            c: (float(lo), float(la))
            for c, la, lo in zip(codes, lat, lon, strict=True)
            if math.isfinite(la) and math.isfinite(lo)
        }

    def label(self, code: str, name: str | None = None) -> str:
        """``name（parent name）``, the parent for context (a township's county)."""
        own = name if name else self.name.get(code, code)
        parent = self.parent.get(code)
        if parent and parent in self.name:
            return f"{own}（{self.name[parent]}）"
        return own

    def province(self, code: str) -> str | None:
        seen = 0
        current: str | None = code
        while current is not None and seen < 16:
            if self.level.get(current) == "province":
                return current
            current = self.parent.get(current)
            seen += 1
        return None


@dataclass(frozen=True)
class _Projection:
    """Equirectangular: x = lon·cos(φ₀), y = −lat, scaled into the map box."""

    kx: float
    x0: float
    y0: float
    scale: float
    offset_x: float
    width: float
    height: float

    @classmethod
    def fit(cls, points: Iterable[tuple[float, float]]) -> _Projection:
        pts = list(points)
        if not pts:
            return cls(1.0, 0.0, 0.0, 1.0, MAP_PAD, MAP_WIDTH, 2 * MAP_PAD)
        lons = np.array([p[0] for p in pts])
        lats = np.array([p[1] for p in pts])
        kx = math.cos(math.radians(float((lats.min() + lats.max()) / 2)))
        xs, ys = lons * kx, -lats
        x0, y0 = float(xs.min()), float(ys.min())
        span_x = max(float(xs.max()) - x0, 1e-6)
        span_y = max(float(ys.max()) - y0, 1e-6)
        inner_w, inner_h = MAP_WIDTH - 2 * MAP_PAD, MAP_MAX_HEIGHT - 2 * MAP_PAD
        scale = min(inner_w / span_x, inner_h / span_y)
        height = span_y * scale + 2 * MAP_PAD
        offset_x = MAP_PAD + (inner_w - span_x * scale) / 2
        return cls(kx, x0, y0, scale, offset_x, MAP_WIDTH, height)

    def __call__(self, point: tuple[float, float]) -> tuple[float, float]:
        lon, lat = point
        return (
            self.offset_x + (lon * self.kx - self.x0) * self.scale,
            MAP_PAD + (-lat - self.y0) * self.scale,
        )


def _shorten(
    start: tuple[float, float], end: tuple[float, float], by: float
) -> tuple[float, float]:
    """``end`` moved ``by`` towards ``start`` (at most halfway): an arrow stops at a dot's rim."""
    dx, dy = end[0] - start[0], end[1] - start[1]
    length = math.hypot(dx, dy)
    if length <= 0:
        return end
    cut = min(by, length / 2) / length
    return end[0] - dx * cut, end[1] - dy * cut


def _scale_bar(project: _Projection) -> str:
    """A distance scale in the map's lower left (east–west, at the map's mean latitude)."""
    px_per_km = project.scale / 111.32  # x = lon·cos φ₀: one projected degree is 111.32 km
    if px_per_km <= 0:
        return ""
    km = 1.0
    for step in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000):
        if step * px_per_km <= 140:
            km = float(step)
    width = km * px_per_km
    x, y = MAP_PAD, project.height - 8
    return (
        f'<g class="scale"><line x1="{x:.1f}" y1="{y:.1f}" x2="{x + width:.1f}" y2="{y:.1f}"/>'
        f'<line x1="{x:.1f}" y1="{y - 4:.1f}" x2="{x:.1f}" y2="{y:.1f}"/>'
        f'<line x1="{x + width:.1f}" y1="{y - 4:.1f}" x2="{x + width:.1f}" y2="{y:.1f}"/>'
        f'<text x="{x + width + 4:.1f}" y="{y:.1f}">{km:,.0f} km</text></g>'
    )


def _hull(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Convex hull (Andrew's monotone chain), counter-clockwise; [] for fewer than 3 points."""
    pts = sorted(set(points))
    if len(pts) < 3:
        return []

    def cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[float, float]] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[tuple[float, float]] = []
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    hull = lower[:-1] + upper[:-1]
    return hull if len(hull) >= 3 else []


def _outlines(regions: _Regions, project: _Projection, codes: Iterable[str]) -> str:
    """Each province's outline: the convex hull of its points among ``codes``."""
    by_province: dict[str, list[tuple[float, float]]] = {}
    for code in codes:
        point = regions.point.get(code)
        province = regions.province(code)
        if point is None or province is None:
            continue
        by_province.setdefault(province, []).append(project(point))
    parts = []
    for province, pts in sorted(by_province.items()):
        hull = _hull(pts)
        if not hull:
            continue
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in hull)
        name = regions.name.get(province, province)
        parts.append(
            f'<polygon class="outline" points="{path}"><title>{_e(name)}</title></polygon>'
        )
    return f'<g class="outlines">{"".join(parts)}</g>'


def _svg_open(project: _Projection, map_id: str, label: str) -> str:
    return (
        f'<svg id="{map_id}" class="map" viewBox="0 0 {project.width:.0f} {project.height:.0f}" '
        f'width="{project.width:.0f}" height="{project.height:.0f}" role="img" '
        f'aria-label="{_e(label)}" xmlns="http://www.w3.org/2000/svg">'
    )


def _base_codes(regions: _Regions) -> list[str]:
    """The points a map is drawn over: counties (townships, cities when a scenario has none)."""
    for level in ("county", "township", "city"):
        codes = [c for c, lv in regions.level.items() if lv == level and c in regions.point]
        if codes:
            return codes
    return list(regions.point)


def _hull_codes(regions: _Regions) -> list[str]:
    """The points a province's outline wraps: its counties and townships."""
    codes = [c for c, lv in regions.level.items() if lv in ("county", "township")]
    return codes or list(regions.point)


def _pairing_map(scenario: Scenario, plan: Plan, regions: _Regions) -> str:
    title = "牵手结对地图 / pairing map"
    pairs = plan.tables.get("pairs")
    targets = plan.tables.get("targets")
    if pairs is None and targets is None:
        return _section(
            "pairing-map",
            title,
            "",
            _note("本方案不含牵手结对阶段 / the plan has no pairing stage"),
        )
    pairs = pairs if pairs is not None else pd.DataFrame(columns=["org", "target"])
    targets = targets if targets is not None else pd.DataFrame(columns=["target"])
    orgs = scenario.organizations
    org_region = dict(zip(orgs["id"].astype(str), orgs["region"].astype(str), strict=True))
    base = _base_codes(regions)
    sender_codes = [org_region.get(str(o), "") for o in pairs["org"]]
    target_codes = [str(t) for t in targets["target"]] + [str(t) for t in pairs["target"]]
    outline = _hull_codes(regions)
    shown = [c for c in [*outline, *sender_codes, *target_codes] if c in regions.point]
    project = _Projection.fit(regions.point[c] for c in shown)

    parts = [_svg_open(project, "pairing-svg", title)]
    parts.append(
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" '
        'markerHeight="6" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        f'fill="{SENDER_COLOR}"/></marker></defs>'
    )
    parts.append(_outlines(regions, project, outline))
    dots = "".join(
        f'<circle class="county-pt" cx="{x:.1f}" cy="{y:.1f}" r="1.8"/>'
        for x, y in (project(regions.point[c]) for c in base)
    )
    parts.append(f'<g class="counties">{dots}</g>')

    # pair lines: the sender organization's region to the target
    lines = []
    drawn = 0
    for row, sender in zip(pairs.itertuples(index=False), sender_codes, strict=True):
        target = str(getattr(row, "target", ""))
        if sender not in regions.point or target not in regions.point:
            continue
        x1, y1 = project(regions.point[sender])
        x2, y2 = _shorten(project(regions.point[sender]), project(regions.point[target]), 6.0)
        origin = str(getattr(row, "origin", "") or "")
        tip = "\n".join(
            [
                f"{_field(row, 'org_name')} ({_field(row, 'org')}) → "
                f"{_field(row, 'target_name')} ({target})",
                f"派出地 / sender region: {regions.label(sender)}",
                f"得分 / score {_field(row, 'score')} · 距离 / distance "
                f"{_num(getattr(row, 'distance_km', float('nan')), 0)} km",
                f"来源 / origin: {ORIGIN_NAMES.get(origin, origin)}",
            ]
        )
        lines.append(
            f'<line class="pair-line origin-{_e(origin)}" x1="{x1:.1f}" y1="{y1:.1f}" '
            f'x2="{x2:.1f}" y2="{y2:.1f}" marker-end="url(#arrow)" data-tip="{_e(tip)}"/>'
        )
        drawn += 1
    parts.append(f'<g class="layer-pairs">{"".join(lines)}</g>')

    # senders: one square per region sending, naming its organizations
    by_sender: dict[str, list[str]] = {}
    for row, sender in zip(pairs.itertuples(index=False), sender_codes, strict=True):
        if sender in regions.point:
            by_sender.setdefault(sender, []).append(
                f"{_field(row, 'org_name')} → {_field(row, 'target_name')}"
            )
    squares = []
    for sender, names in sorted(by_sender.items()):
        x, y = project(regions.point[sender])
        tip = "\n".join([f"派出地 / sender: {regions.label(sender)} ({sender})", *names])
        squares.append(
            f'<rect class="sender" x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" '
            f'data-tip="{_e(tip)}"/>'
        )
    parts.append(f'<g class="layer-senders">{"".join(squares)}</g>')

    # targets: fully paired or short
    dots_t = []
    n_paired = n_short = 0
    for row in targets.itertuples(index=False):
        code = str(getattr(row, "target", ""))
        if code not in regions.point:
            continue
        x, y = project(regions.point[code])
        shortfall = _float(getattr(row, "shortfall", 0))
        short = shortfall > 1e-9
        n_short += short
        n_paired += not short
        reason = str(getattr(row, "reason", "") or "")
        tip_lines = [
            f"{regions.label(code, _field(row, 'name'))} ({code})",
            f"需要 / needed {_field(row, 'partners_needed')} · 已结对 / paired "
            f"{_field(row, 'assigned')} · 缺口 / short {_num(shortfall, 0)}",
            f"优先级 / priority {_field(row, 'priority')}",
        ]
        if short and reason:
            tip_lines.append(f"原因 / reason: {reason}")
        dots_t.append(
            f'<circle class="target {"short" if short else "paired"}" cx="{x:.1f}" '
            f'cy="{y:.1f}" r="5" data-tip="{_e(chr(10).join(tip_lines))}"/>'
        )
    parts.append(f'<g class="layer-targets">{"".join(dots_t)}</g>{_scale_bar(project)}</svg>')

    legend = _legend(
        [
            (f'<span class="sw sq" style="background:{SENDER_COLOR}"></span>', "派出地 / sender"),
            (
                f'<span class="sw" style="background:{PAIRED_COLOR}"></span>',
                f"已足额结对 / fully paired ({n_paired})",
            ),
            (
                f'<span class="sw" style="background:{SHORT_COLOR}"></span>',
                f"结对不足 / short ({n_short})",
            ),
            ('<span class="sw line"></span>', f"结对 / pair ({drawn})"),
            ('<span class="sw line dashed"></span>', "延续上期 / continued"),
            ('<span class="sw line dotted"></span>', "人工指定 / planner override"),
            ('<span class="sw county"></span>', "县级点位 / county points"),
        ]
    )
    toggles = _toggles(
        "pairing-svg",
        [("layer-pairs", "结对连线 / pair lines"), ("counties", "县级点位 / county points")],
    )
    missing = len(pairs) - drawn
    note = (
        _note(f"{missing} 对结对缺少坐标，未画出 / {missing} pairs lack a point and are not drawn")
        if missing
        else ""
    )
    return _section(
        "pairing-map",
        title,
        "派出机构所在地 → 受援地区；受援地区按是否足额结对着色。悬停查看详情。"
        " / Sender organization's region → target; targets colored by fully paired or short."
        " Hover for details.",
        f'<div class="map-wrap">{"".join(parts)}</div>{legend}{toggles}{note}',
    )


def _coverage_map(plan: Plan, regions: _Regions) -> str:
    title = "站点覆盖地图 / station coverage map"
    stations = plan.tables.get("stations")
    if stations is None:
        return _section(
            "coverage-map",
            title,
            "",
            _note("本方案不含社工配置阶段 / the plan has no staffing stage"),
        )
    codes = stations["region"].astype(str).to_list()
    coverage = _floats(stations, "coverage", default=1.0)
    order = sorted(
        (i for i, c in enumerate(codes) if c in regions.point),
        key=lambda i: (-coverage[i], codes[i]),  # the least covered drawn last, on top
    )
    outline = _hull_codes(regions)
    project = _Projection.fit(
        [regions.point[c] for c in outline if c in regions.point]
        + [regions.point[codes[i]] for i in order]
    )
    need = _floats(stations, "need")
    assigned = _floats(stations, "assigned")
    shortfall = _floats(stations, "shortfall")
    priority = _floats(stations, "priority", default=1.0)
    names = _texts(stations, "name")
    reasons = _texts(stations, "reason")
    counts = [0] * len(COVERAGE_BINS)
    dots = []
    for i in order:
        k = _coverage_bin(coverage[i])
        counts[k] += 1
        x, y = project(regions.point[codes[i]])
        tip_lines = [
            f"{regions.label(codes[i], names[i])} ({codes[i]})",
            f"覆盖率 / coverage {_pct(coverage[i])}",
            f"需求 / need {_num(need[i], 1)} FTE · 配置 / assigned {_num(assigned[i], 1)} FTE",
            f"优先级 / priority {_num(priority[i], 0)}",
        ]
        if shortfall[i] > 1e-9:
            tip_lines.append(f"缺口 / short {_num(shortfall[i], 1)} FTE: {reasons[i] or '—'}")
        radius = 3.2 if priority[i] > 1 else 2.3
        dots.append(
            f'<circle class="station cov-{k}" cx="{x:.1f}" cy="{y:.1f}" r="{radius}" '
            f'data-tip="{_e(chr(10).join(tip_lines))}"/>'
        )
    svg = (
        _svg_open(project, "coverage-svg", title)
        + _outlines(regions, project, outline)
        + f'<g class="layer-stations">{"".join(dots)}</g>{_scale_bar(project)}</svg>'
    )
    legend = _legend(
        [
            (f'<span class="sw" style="background:{color}"></span>', f"{label} ({n})")
            for (_, label, color), n in zip(COVERAGE_BINS, counts, strict=True)
        ]
        + [('<span class="sw big"></span>', "大点：重点乡镇 / large: priority township")]
    )
    missing = len(codes) - len(order)
    note = (
        _note(f"{missing} 个站点缺少坐标，未画出 / {missing} stations lack a point")
        if missing
        else ""
    )
    return _section(
        "coverage-map",
        title,
        "乡镇（街道）社工站按方案实施后的覆盖率（已配置社工 / 需求）着色。悬停查看详情。"
        " / Township stations colored by coverage after the plan (assigned FTE / need).",
        f'<div class="map-wrap">{svg}</div>{legend}{note}',
    )


def _coverage_bin(value: float) -> int:
    for k, (low, _, _) in enumerate(COVERAGE_BINS):
        if value >= low:
            return k
    return len(COVERAGE_BINS) - 1


# ---------------------------------------------------------------------------------------------
# indicators


def _indicator_charts(plan: Plan) -> str:
    title = "指标：实施前后 / indicators before and after"
    frame = plan.tables.get("indicators")
    if frame is None or frame.empty:
        return _section(
            "indicators", title, "", _note("本方案没有指标 / the plan has no indicators")
        )
    cards = [_indicator_card(row) for row in frame.itertuples(index=False)]
    head = [
        ("指标 / indicator", False),
        ("实施前 / before", True),
        ("实施后 / after", True),
        ("目标 / target", True),
        ("单位 / unit", False),
        ("方向 / better", False),
        ("依据 / source", False),
        ("备注 / note", False),
    ]
    rows = []
    for row in frame.itertuples(index=False):
        unit = str(row.unit)
        source = str(row.source or "")
        citation = str(getattr(row, "citation", "") or "")
        rows.append(
            [
                (_e(row.label), None),
                (_e(_value(row.before, unit)), _sortable(row.before)),
                (_e(_value(row.after, unit)), _sortable(row.after)),
                (_e(_value(row.target, unit)), _sortable(row.target)),
                (_e(unit), None),
                (_e(_better(str(row.better))), None),
                (f'<span title="{_e(citation)}">{_e(source)}</span>', None),
                (f'<span class="small">{_e(row.note or "")}</span>', None),
            ]
        )
    legend = _legend(
        [
            ('<span class="sw before"></span>', "实施前（现状）/ before (status quo)"),
            ('<span class="sw after"></span>', "实施后（方案）/ after (the plan)"),
            ('<span class="sw target"></span>', "政策目标 / policy target"),
        ]
    )
    return _section(
        "indicators",
        title,
        "现状（不实施联动）与方案的对比；比例以百分比表示，虚线为政策目标。"
        " / The status quo without linkage against the plan; shares in %, the dashed line is the"
        " policy target.",
        f'{legend}<div class="charts">{"".join(cards)}</div>'
        + _table(head, rows, "indicator-table"),
    )


def _indicator_card(row: Any) -> str:
    unit = str(row.unit)
    before, after, target = _float(row.before), _float(row.after), _float(row.target)
    share = unit == "share"
    values = [v for v in (before, after, target) if math.isfinite(v)]
    top = 1.0 if share else max([abs(v) for v in values] + [0.0])
    top = top if top > 0 else 1.0
    width, left, right, bar_h = 300.0, 64.0, 78.0, 20.0
    span = width - left - right
    svg = [
        f'<svg class="chart" viewBox="0 0 {width:.0f} 86" width="{width:.0f}" height="86" '
        f'role="img" aria-label="{_e(row.label)}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for k, (side, label, value) in enumerate(
        (("before", "前 before", before), ("after", "后 after", after))
    ):
        y = 12 + k * (bar_h + 10)
        svg.append(
            f'<text class="bar-label" x="{left - 6:.0f}" y="{y + 14:.0f}" '
            f'text-anchor="end">{_e(label)}</text>'
        )
        if not math.isfinite(value):
            svg.append(f'<text class="bar-value" x="{left + 4:.0f}" y="{y + 14:.0f}">—</text>')
            continue
        w = max(0.0, min(1.0, value / top)) * span
        tip = f"{row.label}\n{label}: {_value(value, unit)}"
        svg.append(
            f'<rect class="bar bar-{side}" x="{left:.0f}" y="{y:.0f}" width="{w:.1f}" '
            f'height="{bar_h:.0f}" data-tip="{_e(tip)}"/>'
            f'<text class="bar-value" x="{left + w + 4:.1f}" y="{y + 14:.0f}">'
            f"{_e(_value(value, unit, compact=True))}</text>"
        )
    if math.isfinite(target):
        tx = left + max(0.0, min(1.0, target / top)) * span
        svg.append(
            f'<line class="target-mark" x1="{tx:.1f}" y1="6" x2="{tx:.1f}" y2="70" '
            f'data-tip="{_e(f"{row.label}{chr(10)}目标 / target: {_value(target, unit)}")}"/>'
            f'<text class="target-label" x="{tx:.1f}" y="82" text-anchor="middle">'
            f"目标 {_e(_value(target, unit, compact=True))}</text>"
        )
    svg.append(f'<line class="axis" x1="{left:.0f}" y1="6" x2="{left:.0f}" y2="70"/></svg>')
    note = f'<p class="small">{_e(_field(row, "note"))}</p>' if _field(row, "note") else ""
    return (
        f'<figure class="card" data-indicator="{_e(row.indicator)}">'
        f"<figcaption>{_e(row.label)}"
        f'<span class="small"> · {_e(unit)} · {_e(_better(str(row.better)))}</span>'
        f"</figcaption>{''.join(svg)}{note}</figure>"
    )


def _better(better: str) -> str:
    return "越低越好 / lower is better" if better == "lower" else "越高越好 / higher is better"


# ---------------------------------------------------------------------------------------------
# unmet needs


@dataclass(frozen=True)
class _Unmet:
    stage: str
    table: str
    code: str
    need: str
    assigned: str
    shortfall: str
    unit: str
    fmt: Callable[[float], str]


def _fte(v: float) -> str:
    return _num(v, 1)


def _hours(v: float) -> str:
    return _num(v, 0)


def _yuan(v: float) -> str:
    return "¥" + _num(v, 0)


def _count(v: float) -> str:
    return _num(v, 0)


UNMET: tuple[_Unmet, ...] = (
    _Unmet(
        "pairing",
        "targets",
        "target",
        "partners_needed",
        "assigned",
        "shortfall",
        "个机构 / partners",
        _count,
    ),
    _Unmet("staffing", "stations", "region", "need", "assigned", "shortfall", "FTE", _fte),
    _Unmet(
        "volunteers",
        "volunteer_demand",
        "station",
        "need_hours",
        "assigned_hours",
        "shortfall_hours",
        "小时 / hours",
        _hours,
    ),
    _Unmet(
        "funds",
        "fund_demand",
        "station",
        "need_yuan",
        "granted_yuan",
        "shortfall_yuan",
        "元 / yuan",
        _yuan,
    ),
)


def _unmet(plan: Plan, regions: _Regions) -> str:
    title = "未满足需求及原因 / unmet needs and their reasons"
    present = [(u, plan.tables[u.table]) for u in UNMET if u.table in plan.tables]
    present = [(u, f) for u, f in present if u.shortfall in f.columns]
    if not present:
        return _section("unmet", title, "", _note("本方案没有需求表 / the plan has no need table"))
    head = [
        ("阶段 / stage", False),
        ("原因代码 / reason code", False),
        ("原因 / reason", False),
        ("条数 / rows", True),
        ("缺口 / unmet", True),
        ("单位 / unit", False),
        ("占总需求 / of need", True),
    ]
    rows: list[list[Cell]] = []
    details = []
    for spec, frame in present:
        short = _floats(frame, spec.shortfall)
        need = _floats(frame, spec.need)
        total_need = float(np.nansum(need))
        unmet = frame.assign(_short=short)[short > 1e-9]
        if unmet.empty:
            rows.append(
                [
                    (_e(STAGE_NAMES[spec.stage]), None),
                    ("—", None),
                    (_e("全部满足 / every need met"), None),
                    ("0", 0.0),
                    (_e(spec.fmt(0.0)), 0.0),
                    (_e(spec.unit), None),
                    ("0%", 0.0),
                ]
            )
        else:
            code = _texts(unmet, "reason_code")
            text = _texts(unmet, "reason")
            grouped = pd.DataFrame({"code": code, "text": text, "short": unmet["_short"]})
            for reason, part in grouped.groupby("code", sort=False):
                label = part["text"].mode().iloc[0] if part["text"].ne("").any() else ""
                amount = float(part["short"].sum())
                share = amount / total_need if total_need > 0 else float("nan")
                rows.append(
                    [
                        (_e(STAGE_NAMES[spec.stage]), None),
                        (f"<code>{_e(reason or '—')}</code>", None),
                        (_e(label or "未注明 / not given"), None),
                        (_e(f"{len(part):,}"), float(len(part))),
                        (_e(spec.fmt(amount)), amount),
                        (_e(spec.unit), None),
                        (_e(_pct(share)), _sortable(share)),
                    ]
                )
        details.append(_top_unmet(spec, unmet, regions))
    summary = _table(head, rows, "unmet-summary")
    return _section(
        "unmet",
        title,
        "每个阶段按原因汇总的缺口，以及缺口最大的 20 项。"
        " / Each stage's shortfall by reason, then its 20 largest unmet needs.",
        summary + "".join(details),
    )


def _top_unmet(spec: _Unmet, unmet: pd.DataFrame, regions: _Regions) -> str:
    heading = f"{STAGE_NAMES[spec.stage]}：缺口最大的 {TOP_UNMET} 项 / the {TOP_UNMET} largest"
    if unmet.empty:
        return f"<h3>{_e(heading)}</h3>" + _note("无缺口 / nothing unmet")
    has_domain = "domain" in unmet.columns
    top = unmet.assign(_code=unmet[spec.code].astype(str)).sort_values(
        ["_short", "_code"], ascending=[False, True], kind="stable"
    )
    top = top.head(TOP_UNMET)
    head = [("地区 / region", False), ("代码 / code", False)]
    if has_domain:
        head.append(("服务领域 / domain", False))
    head += [
        ("需求 / need", True),
        ("已满足 / met", True),
        ("缺口 / unmet", True),
        ("原因 / reason", False),
    ]
    names = _texts(top, "name")
    domains = _texts(top, "domain") if has_domain else [""] * len(top)
    need = _floats(top, spec.need)
    met = _floats(top, spec.assigned)
    short = top["_short"].to_numpy(dtype=float)
    reasons = _texts(top, "reason")
    codes = top["_code"].to_list()
    rows: list[list[Cell]] = []
    for i, code in enumerate(codes):
        row: list[Cell] = [
            (_e(regions.label(code, names[i] or None)), None),
            (f"<code>{_e(code)}</code>", None),
        ]
        if has_domain:
            row.append((_e(DOMAINS.get(domains[i], domains[i])), None))
        row += [
            (_e(spec.fmt(need[i])), _sortable(need[i])),
            (_e(spec.fmt(met[i])), _sortable(met[i])),
            (_e(spec.fmt(short[i])), _sortable(short[i])),
            (f'<span class="small">{_e(reasons[i] or "—")}</span>', None),
        ]
        rows.append(row)
    return f"<h3>{_e(heading)}</h3>" + _table(head, rows, f"unmet-{spec.stage}")


# ---------------------------------------------------------------------------------------------
# HTML pieces

Cell = tuple[str, float | None]  # escaped HTML, numeric sort key (None: sort by text)


def _table(head: Sequence[tuple[str, bool]], rows: Sequence[Sequence[Cell]], table_id: str) -> str:
    ths = "".join(
        f'<th class="{"num" if numeric else "txt"}" scope="col" tabindex="0">{_e(label)}</th>'
        for label, numeric in head
    )
    body = []
    for row in rows:
        tds = []
        for content, key in row:
            if key is None:
                tds.append(f"<td>{content}</td>")
            else:
                tds.append(f'<td class="num" data-v="{float(key)!r}">{content}</td>')
        body.append(f"<tr>{''.join(tds)}</tr>")
    return (
        f'<div class="table-wrap"><table id="{table_id}" class="sortable">'
        f"<thead><tr>{ths}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def _section(anchor: str, title: str, lead: str, body: str) -> str:
    lead_html = f'<p class="lead">{_e(lead)}</p>' if lead else ""
    return f'<section id="{anchor}"><h2>{_e(title)}</h2>{lead_html}{body}</section>'


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


def _legend(items: Sequence[tuple[str, str]]) -> str:
    spans = "".join(f'<span class="item">{swatch}{_e(text)}</span>' for swatch, text in items)
    return f'<div class="legend">{spans}</div>'


def _toggles(svg_id: str, layers: Sequence[tuple[str, str]]) -> str:
    boxes = "".join(
        f'<label><input type="checkbox" checked data-svg="{svg_id}" data-layer="{layer}"> '
        f"{_e(text)}</label>"
        for layer, text in layers
    )
    return f'<div class="toggles">{boxes}</div>'


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


# ---------------------------------------------------------------------------------------------
# numbers


def _float(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return float("nan")
    return out


def _floats(frame: pd.DataFrame, column: str, default: float = float("nan")) -> np.ndarray:
    if column not in frame.columns:
        return np.full(len(frame), default)
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)


def _texts(frame: pd.DataFrame, column: str) -> list[str]:
    if column not in frame.columns:
        return [""] * len(frame)
    return ["" if _missing(v) else str(v) for v in frame[column].to_list()]


def _field(row: Any, name: str) -> str:
    value = getattr(row, name, "")
    return "" if _missing(value) else str(value)


def _missing(value: Any) -> bool:
    """None, NaN, pd.NA or NaT (a scalar)."""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # not a scalar
        return False


def _sortable(value: Any) -> float | None:
    v = _float(value)
    return v if math.isfinite(v) else None


def _num(value: Any, digits: int) -> str:
    v = _float(value)
    if not math.isfinite(v):
        return "—"
    return f"{v:,.{digits}f}"


def _pct(value: Any) -> str:
    v = _float(value)
    return "—" if not math.isfinite(v) else f"{v * 100:.1f}%"


def _general(value: Any) -> str:
    v = _float(value)
    if not math.isfinite(v):
        return "—" if math.isnan(v) else ("∞" if v > 0 else "−∞")
    if v == int(v) or abs(v) >= 1000:
        return f"{v:,.0f}" if abs(v) >= 1 or v == 0 else f"{v:.4g}"
    return f"{v:.4g}"


def _compact(v: float) -> str:
    a = abs(v)
    if a >= 1e8:
        return f"{v / 1e8:.2f} 亿"
    if a >= 1e4:
        return f"{v / 1e4:.1f} 万"
    return f"{v:,.0f}" if a >= 100 else f"{v:.2f}"


def _value(value: Any, unit: str, *, compact: bool = False) -> str:
    """An indicator value in its unit: shares as %, yuan with ¥, hours whole."""
    v = _float(value)
    if not math.isfinite(v):
        return "—"
    if unit == "share":
        return f"{v * 100:.1f}%"
    if unit == "yuan":
        return "¥" + (_compact(v) if compact else f"{v:,.0f}")
    if unit == "hours":
        return _compact(v) if compact else f"{v:,.0f}"
    if unit.startswith("index"):
        return f"{v:.3f}"
    return _compact(v) if compact and abs(v) >= 1e4 else f"{v:,.2f}"


# ---------------------------------------------------------------------------------------------
# style and script

_CSS = """
:root{--ink:#1f2933;--muted:#5f6b7a;--line:#d9dee5;--bg:#f6f7f9;--card:#fff;
--before:#9aa5b1;--after:#2c6fbb;--target:#d9480f}
*{box-sizing:border-box}
body{margin:0;font:14px/1.55 "Noto Sans CJK SC","WenQuanYi Micro Hei","PingFang SC",
"Microsoft YaHei","Source Han Sans SC",sans-serif;color:var(--ink);background:var(--bg)}
header{background:#123c69;color:#fff;padding:18px 28px 10px}
header h1{margin:0 0 4px;font-size:24px}
header .meta{margin:2px 0;color:#d6e2f0}
header .desc{margin:6px 0;color:#c4d3e6;font-size:13px;max-width:1100px}
nav{margin-top:10px;display:flex;flex-wrap:wrap;gap:6px 16px}
nav a{color:#fff;text-decoration:none;border-bottom:1px dotted #9fb8d6}
main{padding:8px 28px 40px;max-width:1320px}
section{background:var(--card);border:1px solid var(--line);border-radius:6px;
padding:14px 18px;margin:16px 0}
h2{margin:0 0 6px;font-size:19px}
h3{margin:18px 0 6px;font-size:15px}
.lead{color:var(--muted);margin:0 0 10px}
.note{color:var(--muted);font-style:italic}
.warn{background:#fff3cd;color:#5c4400;padding:8px 12px;border-radius:4px;margin:8px 0}
.small{font-size:12px;color:var(--muted)}
code{font-size:12px;background:#eef1f5;padding:0 3px;border-radius:3px}
.table-wrap{overflow-x:auto}
table{border-collapse:collapse;width:100%;margin:6px 0 4px;font-size:13px}
th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef1f5;cursor:pointer;user-select:none;white-space:nowrap}
th:hover{background:#e1e6ee}
th[aria-sort=ascending]::after{content:" ▲"}
th[aria-sort=descending]::after{content:" ▼"}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:0 6px;border-radius:10px;font-size:12px;color:#fff}
.st-optimal{background:#1a7f37}.st-feasible{background:#b7791f}
.st-infeasible{background:#c92a2a}.st-not_solved{background:#6b7280}
.map-wrap{overflow-x:auto}
svg.map{max-width:100%;height:auto;background:#fbfcfd;border:1px solid var(--line)}
.outline{fill:#eef3f8;stroke:#aab7c6;stroke-width:1}
.county-pt{fill:#b3bcc7}
.pair-line{stroke:#2c6fbb;stroke-width:1.6;stroke-opacity:.6;fill:none}
.pair-line.origin-existing{stroke-dasharray:6 3}
.pair-line.origin-override{stroke-dasharray:2 3}
.pair-line:hover,.pair-line.hot{stroke-width:3.5;stroke-opacity:1}
.sender{fill:#2c6fbb;stroke:#fff;stroke-width:1}
.target{stroke:#fff;stroke-width:1.2}
.target.paired{fill:#1a9850}.target.short{fill:#d73027}
.station{stroke:#fff;stroke-width:.4}
.cov-0{fill:#1a9850}.cov-1{fill:#a6d96a}.cov-2{fill:#fdae61}.cov-3{fill:#d73027}
.hot{stroke:#111 !important;stroke-width:2 !important}
.hidden-layer{display:none}
.legend{display:flex;flex-wrap:wrap;gap:4px 18px;margin:8px 0;font-size:13px}
.legend .item{display:inline-flex;align-items:center;gap:6px}
.sw{display:inline-block;width:12px;height:12px;border-radius:50%}
.sw.sq{border-radius:1px}
.sw.line{width:22px;height:0;border-top:2px solid #2c6fbb;border-radius:0}
.sw.line.dashed{border-top-style:dashed}.sw.line.dotted{border-top-style:dotted}
.sw.county{width:5px;height:5px;background:#b3bcc7}
.sw.big{width:12px;height:12px;background:#fff;border:1px solid #5f6b7a}
.sw.before{background:var(--before);border-radius:2px}
.sw.after{background:var(--after);border-radius:2px}
.sw.target{width:0;height:14px;border-left:2px dashed var(--target);border-radius:0}
.toggles{display:flex;gap:16px;font-size:13px;color:var(--muted)}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(310px,1fr));gap:10px}
.card{margin:0;border:1px solid var(--line);border-radius:5px;padding:8px 10px;background:#fff}
.card figcaption{font-weight:600;font-size:13px;margin-bottom:2px}
.card p{margin:2px 0}
svg.chart{max-width:100%;height:auto}
.bar-before{fill:var(--before)}.bar-after{fill:var(--after)}
.bar:hover{opacity:.8}
.bar-label,.bar-value,.target-label{font-size:11px;fill:#3e4c59}
.target-label{fill:var(--target)}
.target-mark{stroke:var(--target);stroke-width:2;stroke-dasharray:4 3}
.axis{stroke:#7b8794;stroke-width:1}
.scale line{stroke:#3e4c59;stroke-width:1.2}.scale text{font-size:11px;fill:#3e4c59}
#tooltip{position:fixed;z-index:10;pointer-events:none;max-width:420px;white-space:pre-line;
background:rgba(20,28,38,.94);color:#fff;font-size:12px;line-height:1.45;padding:6px 9px;
border-radius:4px;box-shadow:0 2px 8px rgba(0,0,0,.25)}
"""

_JS = """
(function () {
  "use strict";
  var tip = document.getElementById("tooltip");
  var current = null;

  function place(ev) {
    var x = ev.clientX + 14, y = ev.clientY + 14;
    var w = tip.offsetWidth, h = tip.offsetHeight;
    if (x + w > window.innerWidth - 4) { x = Math.max(4, ev.clientX - w - 14); }
    if (y + h > window.innerHeight - 4) { y = Math.max(4, ev.clientY - h - 14); }
    tip.style.left = x + "px";
    tip.style.top = y + "px";
  }
  function show(el, ev) {
    if (current && current !== el) { current.classList.remove("hot"); }
    current = el;
    el.classList.add("hot");
    tip.textContent = el.getAttribute("data-tip");
    tip.hidden = false;
    place(ev);
  }
  function hide() {
    if (current) { current.classList.remove("hot"); }
    current = null;
    tip.hidden = true;
  }
  document.addEventListener("mouseover", function (ev) {
    var el = ev.target instanceof Element ? ev.target.closest("[data-tip]") : null;
    if (el) { show(el, ev); } else if (current) { hide(); }
  });
  document.addEventListener("mousemove", function (ev) {
    if (current) { place(ev); }
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape") { hide(); }
  });

  // sortable tables: numbers by their data-v, text by Chinese collation
  function key(cell) {
    var v = cell.getAttribute("data-v");
    return v === null ? null : parseFloat(v);
  }
  function sortBy(table, col, th) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var asc = th.getAttribute("aria-sort") !== "ascending";
    var numeric = th.classList.contains("num");
    rows.sort(function (a, b) {
      var ca = a.cells[col], cb = b.cells[col], r;
      if (!ca || !cb) { return 0; }
      if (numeric) {
        var ka = key(ca), kb = key(cb);
        if (ka === null && kb === null) { r = 0; }
        else if (ka === null) { return 1; }
        else if (kb === null) { return -1; }
        else { r = ka - kb; }
      } else {
        r = ca.textContent.localeCompare(cb.textContent, "zh-CN");
      }
      return asc ? r : -r;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(th.parentNode.cells, function (h) {
      h.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.addEventListener("click", function () { sortBy(table, col, th); });
      th.addEventListener("keydown", function (ev) {
        if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); sortBy(table, col, th); }
      });
    });
  });

  // layer toggles on the maps
  Array.prototype.forEach.call(document.querySelectorAll("input[data-layer]"), function (box) {
    box.addEventListener("change", function () {
      var svg = document.getElementById(box.getAttribute("data-svg"));
      var layer = svg && svg.querySelector("." + box.getAttribute("data-layer"));
      if (layer) { layer.classList.toggle("hidden-layer", !box.checked); }
    });
  });
  document.documentElement.setAttribute("data-ready", "1");
})();
"""
