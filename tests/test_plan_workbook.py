"""plan.xlsx: a summary sheet, then one sheet per result table equal to its DataFrame."""

from __future__ import annotations

import math
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

import linkage
from linkage.plan.result import Plan
from linkage.plan.workbook import (
    DECIMAL,
    INTEGER,
    PERCENT,
    sheet_names,
    write_plan_workbook,
)
from linkage.scenario.template import write_template
from linkage.solvers.report import StageReport


@pytest.fixture(scope="module")
def solved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Plan, Path]:
    folder = tmp_path_factory.mktemp("plan")
    scenario = linkage.load(write_template(folder / "scenario.xlsx", with_examples=True))
    plan = linkage.solve(scenario)
    return plan, write_plan_workbook(plan, folder / "plan.xlsx")


def test_summary_sheet_comes_first_with_stages_and_indicators(solved: tuple[Plan, Path]) -> None:
    """The first sheet names the scenario, each stage's certificate and every indicator."""
    plan, path = solved
    book = load_workbook(path)
    assert book.sheetnames[0] == "summary"
    rows = list(book["summary"].iter_rows(values_only=True))
    assert rows[0][0] == plan.scenario
    stage_rows = {(r[0], r[3]): r for r in rows if r[0] in {s.stage for s in plan.reports}}
    for report in plan.reports:
        for objective, value in report.objectives.items():
            row = stage_rows[(report.stage, objective)]
            assert (row[1], row[2]) == (report.method, report.status)
            assert row[4] == pytest.approx(value)
            assert row[5] == pytest.approx(report.bound[objective])
            assert row[8] == report.variables
    by_label = {r[1]: r for r in rows if r[0] in set(plan.indicators["indicator"])}
    assert len(by_label) == len(plan.indicators)
    for record in plan.indicators.to_dict(orient="records"):
        label = str(record["label"])
        row = by_label[label]  # Chinese label intact, e.g. 站点覆盖率 / station coverage
        assert "/" in label and not label.isascii()
        for got, key in zip(row[2:5], ("before", "after", "target"), strict=True):
            want = float(record[key])
            assert got is None if math.isnan(want) else got == pytest.approx(want)
        assert (row[5], row[7] or "", row[8] or "") == (
            record["unit"],
            record["source"],
            record["citation"],
        )
    assert any("牵手计划" in (r[8] or "") for r in by_label.values())


def test_each_table_sheet_equals_its_dataframe(solved: tuple[Plan, Path]) -> None:
    """Every result table has a sheet with its header and the same values, cell by cell."""
    plan, path = solved
    book = load_workbook(path)
    assert book.sheetnames[1:] == list(plan.tables)
    for name, frame in plan.tables.items():
        rows = list(book[name].iter_rows(values_only=True))
        assert list(rows[0]) == list(frame.columns), name
        assert len(rows) == len(frame) + 1, name
        for i, record in enumerate(frame.itertuples(index=False), start=1):
            for j, value in enumerate(record):
                got = rows[i][j]
                if value is None or (isinstance(value, float) and math.isnan(value)):
                    assert got is None, (name, i, j)
                elif isinstance(value, str):
                    assert got == (value or None), (name, i, j)
                else:
                    assert got == value and type(got) is not str, (name, i, j, got, value)


def test_headers_frozen_and_number_formats(solved: tuple[Plan, Path]) -> None:
    """Table sheets freeze the header; counts get separators, coverage percents, floats 2 dp."""
    plan, path = solved
    book = load_workbook(path)
    for name in plan.tables:
        assert book[name].freeze_panes == "A2", name
    stations = book["stations"]
    formats = {cell.value: stations.cell(2, cell.column).number_format for cell in stations[1]}
    assert formats["priority"] == INTEGER
    assert formats["coverage"] == PERCENT
    assert formats["need"] == DECIMAL
    assert formats["region"] == "@"
    indicators = book["indicators"]
    header = [c.value for c in indicators[1]]
    unit, before = header.index("unit") + 1, header.index("before") + 1
    for row in range(2, indicators.max_row + 1):
        fmt = indicators.cell(row, before).number_format
        expected = {"share": PERCENT, "yuan": INTEGER, "hours": INTEGER}.get(
            indicators.cell(row, unit).value, DECIMAL
        )
        assert fmt == expected, indicators.cell(row, 1).value


def test_widths_fit_text_and_are_capped(solved: tuple[Plan, Path]) -> None:
    """Columns are as wide as their header or values (Chinese counted double), at most 60."""
    plan, path = solved
    sheet = load_workbook(path)["pairs"]
    widths = {cell.value: sheet.column_dimensions[cell.column_letter].width for cell in sheet[1]}
    longest_name = max(len(n) for n in plan.pairs["org_name"])
    assert widths["org_name"] >= 2 * longest_name
    assert widths["reason"] <= 60
    assert widths["org"] < widths["org_name"]


def _plan(tables: dict[str, pd.DataFrame]) -> Plan:
    report = StageReport.proven(
        "pairing", "flow", {"score": 1.0}, wall_s=0.1, variables=3, constraints=2
    )
    return Plan("测试方案", tables, (report,))


def test_awkward_values_are_written_safely(tmp_path: Path) -> None:
    """Leading zeros, formula-like text, markup, spaces, control characters, NaN, inf survive."""
    frame = pd.DataFrame(
        {
            "code": ["007", "=1+1", "a\x01b", ""],
            "text": ["<b>&amp;", " 两端空格 ", "多行\n文本", None],
            "value": [1.5, np.nan, np.inf, -2.0],
            "count": np.array([1, 2, 3, 1_234_567], dtype=np.int64),
            "flag": [True, False, True, False],
            "mixed": ["x", 3, None, 2.5],
        }
    )
    path = write_plan_workbook(_plan({"odd": frame}), tmp_path / "plan.xlsx")
    sheet = load_workbook(path)["odd"]
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert [r[0] for r in rows] == ["007", "=1+1", "ab", None]
    assert sheet["A3"].data_type == "s"
    assert [r[1] for r in rows] == ["<b>&amp;", " 两端空格 ", "多行\n文本", None]
    assert [r[2] for r in rows] == [1.5, None, None, -2.0]
    assert [r[3] for r in rows] == [1, 2, 3, 1_234_567]
    assert [r[4] for r in rows] == [True, False, True, False]
    assert [r[5] for r in rows] == ["x", 3, None, 2.5]


def test_sheet_names_are_excel_safe_and_unique() -> None:
    """Sheet names lose []:*?/\\, fit 31 characters, avoid 'History' and differ ignoring case."""
    names = sheet_names(["summary", "Summary", "a/b:c", "x" * 40, "x" * 40, "History", "'q'"])
    assert names[0] == "summary" and names[1].lower() != "summary"
    assert names[2] == "a_b_c"
    assert all(len(n) <= 31 for n in names)
    assert len({n.lower() for n in names}) == len(names)
    assert names[5].lower() != "history" and names[6] == "q"


def test_large_table_is_streamed_quickly(tmp_path: Path) -> None:
    """A 200,000-row table is written in seconds, every row present (the dimension says so)."""
    n = 200_000
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "pool": [f"P{i:06d}" for i in range(n)],
            "station": rng.choice(["410102001", "410102002", "410103001"], n),
            "domain": rng.choice(["elderly", "children"], n),
            "hours": rng.integers(0, 1000, n),
            "distance_km": rng.random(n) * 50,
        }
    )
    started = time.perf_counter()
    path = write_plan_workbook(_plan({"volunteers": frame}), tmp_path / "big.xlsx")
    elapsed = time.perf_counter() - started
    assert elapsed < 10, f"{elapsed:.1f}s"
    book = load_workbook(path, read_only=True)
    assert book["volunteers"].max_row == n + 1
    with zipfile.ZipFile(path) as zf:
        tail = zf.read("xl/worksheets/sheet2.xml")[-2000:].decode()
    last = frame.iloc[-1]
    assert f'<row r="{n + 1}">' in tail and f">{last['pool']}<" in tail


def test_existing_file_is_replaced_atomically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed write leaves the previous plan.xlsx intact and no temporary file behind."""
    target = tmp_path / "plan.xlsx"
    plan = _plan({"t": pd.DataFrame({"a": [1]})})
    write_plan_workbook(plan, target)
    before = target.read_bytes()

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("linkage.plan.xlsx.Book.save", fail)
    with pytest.raises(OSError):
        write_plan_workbook(_plan({"t": pd.DataFrame({"a": [2]})}), target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["plan.xlsx"]
