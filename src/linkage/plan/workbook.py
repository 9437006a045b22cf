"""``plan.xlsx``: the plan as one workbook for planners (DESIGN §7).

``write_plan_workbook(plan, path)`` writes

- a ``summary`` sheet: the scenario, whether it was solved, each stage's certificate (method,
  status, every objective with its proven bound, gap, time, model size, message), the
  indicators before/after with target, unit, source and citation, the list of result sheets
  with their row counts, any invariant violations and the cited sources;
- one sheet per result table in the plan's order, named as the table (made Excel-safe: at most
  31 characters, no ``[]:*?/\\``, unique), its header row bold and frozen, with an auto-filter,
  column widths from the header and the first rows (capped at 60) and number formats: whole
  numbers with thousands separators, shares (``coverage``, ``share``, ``gap``, ``rate`` in the
  column name) as percents, other decimals with 2 places; in indicator tables the before, after
  and target cells follow each row's ``unit`` (shares as percents, hours and yuan whole).

Text is written as text (codes keep their leading zeros, a cell starting with ``=`` is no
formula), missing values as empty cells. Sheets are formatted column by column and streamed into
the zip by ``linkage.plan.xlsx`` (openpyxl's writer takes about 20 µs a cell: 13 s for Henan's
plan), and the file is written atomically (temp file + rename). A table longer than an Excel
sheet holds is cut at 1,048,575 rows and the summary says so.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from linkage.plan.xlsx import HEADER_FILL, Book, Column, Sheet, Styles, row_xml, table_rows

if TYPE_CHECKING:
    from linkage.plan.result import Plan

SUMMARY_SHEET = "summary"
MAX_SHEET_NAME = 31
MAX_DATA_ROWS = 1_048_575  # Excel's 1,048,576 rows less the header
MAX_WIDTH = 60
MIN_WIDTH = 8
WIDTH_SAMPLE = 2000  # rows read to size a column

INTEGER = "#,##0"
DECIMAL = "#,##0.00"
PERCENT = "0.0%"
PLAIN_INTEGER = "0"  # years and seeds: no thousands separator
SHARE_NAME = re.compile(r"(^|_)(coverage|share|gap|rate)($|_)")
PLAIN_NAMES = frozenset({"year", "since", "seed"})
UNIT_FORMATS: dict[str, str] = {"share": PERCENT, "hours": INTEGER, "yuan": INTEGER}
INDICATOR_VALUES = ("before", "after", "target")
BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")

STAGE_COLUMNS = (
    "阶段 stage",
    "方法 method",
    "状态 status",
    "目标 objective",
    "目标值 value",
    "界 bound",
    "差距 gap",
    "用时 time (s)",
    "变量 variables",
    "约束 constraints",
    "说明 message",
)
INDICATOR_COLUMNS: tuple[tuple[str, str], ...] = (
    ("indicator", "指标 indicator"),
    ("label", "名称 label"),
    ("before", "现状 before"),
    ("after", "方案 after"),
    ("target", "目标 target"),
    ("unit", "单位 unit"),
    ("better", "方向 better"),
    ("source", "来源 source"),
    ("citation", "依据 citation"),
    ("note", "说明 note"),
)


def write_plan_workbook(plan: Plan, path: str | os.PathLike[str]) -> Path:
    """Write ``plan.xlsx`` (see the module docstring) atomically; returns the path."""
    target = Path(path)
    names = sheet_names([SUMMARY_SHEET, *plan.tables])
    table_sheets = dict(zip(plan.tables, names[1:], strict=True))
    book = Book()
    book.add(_summary_sheet(book.styles, names[0], plan, table_sheets))
    for name, frame in plan.tables.items():
        book.add(_table_sheet(book.styles, table_sheets[name], frame))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".xlsx", dir=target.parent)
    os.close(fd)
    try:
        book.save(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sheet_names(names: Sequence[str]) -> list[str]:
    """Excel-safe, unique (ignoring case) sheet names for ``names``, in order."""
    used: set[str] = set()
    out: list[str] = []
    for name in names:
        base = BAD_SHEET_CHARS.sub("_", str(name)).strip("'") or "sheet"
        if base.lower() == "history":  # reserved by Excel
            base = f"{base}_"
        candidate = base[:MAX_SHEET_NAME]
        n = 1
        while candidate.lower() in used:
            n += 1
            suffix = f"~{n}"
            candidate = base[: MAX_SHEET_NAME - len(suffix)] + suffix
        used.add(candidate.lower())
        out.append(candidate)
    return out


def column_format(name: str, dtype: Any) -> str | None:
    """The number format of a result column, by its dtype and name; None for text and yes/no."""
    if pd.api.types.is_bool_dtype(dtype):
        return None
    if pd.api.types.is_integer_dtype(dtype):
        return PLAIN_INTEGER if name in PLAIN_NAMES else INTEGER
    if pd.api.types.is_float_dtype(dtype):
        return PERCENT if SHARE_NAME.search(name) else DECIMAL
    return None


def unit_format(unit: Any) -> str:
    """The number format of an indicator value by the indicator's unit."""
    return UNIT_FORMATS.get(str(unit), DECIMAL)


# --- values ------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A value as a cell holds it: None for missing (and empty text), Python scalars."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str) and not value:
        return None
    if not isinstance(value, bool | int | float | str):
        return str(value)  # dates, decimals, ...: as the text pandas shows
    return value


def _column(series: pd.Series) -> tuple[list[Any], str]:
    """A column as plain Python values and the writer's kind for them."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype) and not series.hasnans:
        return series.astype(bool).tolist(), "bool"
    if pd.api.types.is_integer_dtype(dtype) and not series.hasnans:
        return series.astype(np.int64).tolist(), "number"
    if pd.api.types.is_float_dtype(dtype):
        numbers = series.to_numpy(dtype=float, na_value=np.nan)
        out: list[Any] = numbers.tolist()
        for i in np.flatnonzero(~np.isfinite(numbers)):
            out[i] = None
        return out, "number"
    if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        text = series.astype(object)
        return text.where(series.notna() & (series != ""), None).tolist(), "text"
    values = [_plain(v) for v in series.tolist()]
    kind = "text" if all(v is None or isinstance(v, str) for v in values) else "any"
    return values, kind


def _text_width(text: str) -> int:
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _shown(value: Any, number_format: str | None) -> str:
    """Roughly the text Excel shows for a value, to size its column."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float) and number_format is not None:
        if number_format == PERCENT:
            return f"{value:.1%}"
        if number_format == DECIMAL:
            return f"{value:,.2f}"
        if number_format == INTEGER:
            return f"{value:,.0f}"
    return str(value)


def _widths(rows: Sequence[Sequence[Any]], formats: Sequence[str | None]) -> list[float]:
    """Column widths for rows of values (header included), at most MAX_WIDTH."""
    widths: list[float] = []
    for i, fmt in enumerate(formats):
        shown = {_shown(row[i], fmt) for row in rows if i < len(row)}
        longest = max((_text_width(line) for text in shown for line in text.split("\n")), default=0)
        widths.append(float(min(max(longest + 2, MIN_WIDTH), MAX_WIDTH)))
    return widths


# --- table sheets ------------------------------------------------------------------------------


def _formats(frame: pd.DataFrame) -> list[str | list[str] | None]:
    """Per column: one number format, or (indicator values) one per row, or None."""
    formats: list[str | list[str] | None] = [
        column_format(str(c), frame[c].dtype) for c in frame.columns
    ]
    if "unit" in frame.columns:
        by_row = [unit_format(u) for u in frame["unit"].tolist()]
        for i, name in enumerate(frame.columns):
            if name in INDICATOR_VALUES and pd.api.types.is_numeric_dtype(frame[name].dtype):
                formats[i] = by_row
    return formats


def _table_sheet(styles: Styles, name: str, frame: pd.DataFrame) -> Sheet:
    frame = frame.iloc[:MAX_DATA_ROWS]
    headers = [str(c) for c in frame.columns]
    formats = _formats(frame)
    columns: list[Column] = []
    for c, fmt in zip(frame.columns, formats, strict=True):
        values, kind = _column(frame[c])
        if isinstance(fmt, list):
            style: int | list[int] = [styles.get(f) for f in fmt]
        else:
            style = styles.get(fmt if fmt is not None else ("@" if kind == "text" else None))
        columns.append(Column(values, kind, style))
    n = len(frame)
    sample = [[col.values[i] for col in columns] for i in range(min(n, WIDTH_SAMPLE))]
    widths = _widths(
        [headers, *sample], [f if not isinstance(f, list) else DECIMAL for f in formats]
    )
    header_style = styles.get(None, "bold", HEADER_FILL)

    def rows() -> Iterator[str]:
        yield row_xml(1, [(h, header_style) for h in headers])
        yield from table_rows(columns, n)

    return Sheet(name, rows, n + 1, len(headers), widths, freeze_rows=1, autofilter=True)


# --- summary -----------------------------------------------------------------------------------


def _number_format(value: Any) -> str:
    return INTEGER if float(value).is_integer() else DECIMAL


def _summary_rows(plan: Plan, table_sheets: Mapping[str, str]) -> list[list[Any]]:
    """The summary as rows of cells: a value, or (kind, value[, number format]) with kind
    title, section, header, number (format by the value) or format."""
    rows: list[list[Any]] = []
    rows.append([("title", plan.scenario)])
    rows.append(["求解 solved", "是 yes" if plan.solved else "否 no"])
    rows.append([])
    rows.append([("section", "求解阶段 stages")])
    rows.append([("header", label) for label in STAGE_COLUMNS])
    for r in plan.reports:
        objectives: list[tuple[str, float | None]] = list(r.objectives.items()) or [("", None)]
        for objective, value in objectives:
            bound = r.bound.get(objective) if objective else None
            rows.append(
                [
                    r.stage,
                    r.method,
                    r.status,
                    objective,
                    ("number", value),
                    ("number", bound),
                    ("format", r.gap, PERCENT),
                    ("format", r.wall_s, DECIMAL),
                    ("format", r.variables, INTEGER),
                    ("format", r.constraints, INTEGER),
                    r.message,
                ]
            )
    rows.append([])
    rows.append([("section", "指标 indicators（现状 before → 方案 after）")])
    rows.append([("header", label) for _, label in INDICATOR_COLUMNS])
    indicators = plan.tables.get("indicators")
    if indicators is None or indicators.empty:
        rows.append(["（无指标 no indicators）"])
    else:
        for record in indicators.to_dict(orient="records"):
            fmt = unit_format(record.get("unit"))
            rows.append(
                [
                    ("format", record.get(name), fmt)
                    if name in INDICATOR_VALUES
                    else record.get(name)
                    for name, _ in INDICATOR_COLUMNS
                ]
            )
    rows.append([])
    rows.append([("section", "结果表 result tables")])
    rows.append([("header", "工作表 sheet"), ("header", "表 table"), ("header", "行数 rows")])
    for name, frame in plan.tables.items():
        note = f"仅前 {MAX_DATA_ROWS:,} 行 / first rows only" if len(frame) > MAX_DATA_ROWS else ""
        rows.append([table_sheets[name], name, ("format", len(frame), INTEGER), note])
    if plan.violations:
        rows.append([])
        rows.append([("section", "不变量检查未通过 invariant violations")])
        rows.extend([[v] for v in plan.violations])
    if plan.sources:
        rows.append([])
        rows.append([("section", "来源 sources")])
        rows.append([("header", "编号 id"), ("header", "依据 citation")])
        rows.extend([[key, text] for key, text in plan.sources.items()])
    return rows


def _summary_cell(styles: Styles, item: Any) -> tuple[Any, int, str | None]:
    """(value, style, number format) of one summary cell."""
    if not isinstance(item, tuple):
        return _plain(item), 0, None
    kind, value, *rest = item
    value = _plain(value)
    if kind == "title":
        return value, styles.get(None, "title"), None
    if kind == "section":
        return value, styles.get(None, "section"), None
    if kind == "header":
        return value, styles.get(None, "bold", HEADER_FILL), None
    if value is None:
        return None, 0, None
    fmt = rest[0] if kind == "format" else _number_format(value)
    return value, styles.get(fmt), fmt


def _summary_sheet(styles: Styles, name: str, plan: Plan, table_sheets: Mapping[str, str]) -> Sheet:
    cells = [
        [_summary_cell(styles, item) for item in row] for row in _summary_rows(plan, table_sheets)
    ]
    n_columns = max(len(r) for r in cells)
    shown = [
        [_shown(value, fmt) for value, _, fmt in row]
        for row in cells[1:]  # the title runs wide
    ]
    widths = _widths(shown, [None] * n_columns)

    def rows() -> Iterator[str]:
        for i, row in enumerate(cells, start=1):
            yield row_xml(i, [(value, style) for value, style, _ in row])

    return Sheet(name, rows, len(cells), n_columns, widths, freeze_rows=1)
