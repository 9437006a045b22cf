"""The Excel input template: generated from the declarations, filled by a planner, loaded back."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from openpyxl import Workbook, load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

import linkage
from linkage.scenario import ScenarioMeta
from linkage.scenario.io import sheet_headers
from linkage.scenario.problems import Problem
from linkage.scenario.tables import TABLES
from linkage.scenario.template import BOOL_CHOICES, header_text, starter_yaml, write_template


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_template(tmp_path_factory.mktemp("template") / "scenario.xlsx")


def _list_validations(sheet: Worksheet) -> dict[str, str]:
    """Column letter → the inline list of the drop-down covering that column from row 2."""
    out = {}
    for dv in sheet.data_validations.dataValidation:
        if dv.type != "list":
            continue
        for cell_range in dv.sqref.ranges:
            if cell_range.min_row == 2 and cell_range.min_col == cell_range.max_col:
                out[get_column_letter(cell_range.min_col)] = dv.formula1
    return out


def _fill(path: Path, rows: dict[str, list[dict[str, object]]], target: Path) -> Path:
    """Write rows under the template's headers, as a planner would, and save as ``target``."""
    book = load_workbook(path)
    for table, records in rows.items():
        sheet = book[table]
        names = TABLES[table].names
        for record in records:
            sheet.append([record.get(name) for name in names])
    book.save(target)
    return target


REGIONS = [
    {"code": "410000", "name": "河南省", "level": "province", "lat": 34.76, "lon": 113.75},
    {"code": "410100", "name": "郑州市", "level": "city", "parent": "410000", "lat": 34.75},
    {
        "code": "410102",
        "name": "中原区",
        "level": "county",
        "parent": "410100",
        "lat": 34.75,
        "lon": 113.61,
        "population": 1_000_000,
        "elderly": 150_000,
        "key_assistance": True,
    },
    {
        "code": "410102001",
        "name": "林山寨街道",
        "level": "township",
        "parent": "410102",
        "lat": 34.75,
        "lon": 113.64,
        "population": 60_000,
        "elderly": 9_000,
        "has_station": True,
    },
]
ORGANIZATIONS = [
    {
        "id": "007",
        "name": "中原春晖社会工作服务社",
        "region": "410102",
        "kind": "social_work",
        "specialties": "elderly;children",
        "staff": 12,
        "rating": 4,
        "pairing_capacity": 2,
    }
]


def test_a_sheet_per_table_with_exactly_the_declared_columns(template: Path) -> None:
    """Every declared table has a sheet whose header cells name exactly its columns, in order."""
    book = load_workbook(template)
    assert {"README", "scenario", *TABLES} == set(book.sheetnames)
    for name, table in TABLES.items():
        header = [c.value for c in book[name][1]]
        assert header == [header_text(col) for col in table.columns], name
        assert [h.split("\n")[0] for h in header] == table.names, name
        assert sheet_headers(name, header) == table.names, name
        assert book[name].freeze_panes == "A2", name


def test_coded_columns_have_dropdowns_listing_the_vocabulary(template: Path) -> None:
    """Enum, code-set and yes/no columns carry a drop-down of exactly their allowed values."""
    book = load_workbook(template)
    checked = 0
    for name, table in TABLES.items():
        lists = _list_validations(book[name])
        for i, col in enumerate(table.columns, start=1):
            letter = get_column_letter(i)
            choices = BOOL_CHOICES if col.kind == "bool" else col.choices
            if choices is None:
                assert letter not in lists, f"{name}.{col.name}"
                continue
            assert lists.get(letter) == '"' + ",".join(choices) + '"', f"{name}.{col.name}"
            checked += 1
    assert checked >= 15  # levels, kinds, domains, designations, actions, yes/no, ...


def test_code_and_text_columns_are_formatted_as_text(template: Path) -> None:
    """Code columns are Excel text ("@"), so an id typed as 007 keeps its zeros."""
    sheet = load_workbook(template)["social_workers"]
    letters = {
        col.name: get_column_letter(i) for i, col in enumerate(TABLES["social_workers"].columns, 1)
    }
    assert sheet.column_dimensions[letters["id"]].number_format == "@"
    assert sheet.column_dimensions[letters["org"]].number_format == "@"
    assert sheet.column_dimensions[letters["fte"]].number_format != "@"


def test_readme_has_a_row_for_every_column_with_unit_and_values(template: Path) -> None:
    """The README sheet explains every declared column: label, unit, default, allowed values."""
    rows = list(load_workbook(template)["README"].iter_rows(values_only=True))
    header_at = next(i for i, r in enumerate(rows) if r[0] == "表 table")
    described = {(r[0], r[1]): r for r in rows[header_at + 1 :] if r[1]}
    for table in TABLES.values():
        for col in table.columns:
            row = described[(table.name, col.name)]
            assert row[2] == col.label_zh
            if col.unit:
                assert row[4].startswith(col.unit)
            if col.choices:
                assert all(code in row[8] for code in col.choices)
            assert col.description in row[11]
    assert len(described) == sum(len(t.columns) for t in TABLES.values())


def test_starter_yaml_is_every_policy_default(template: Path) -> None:
    """The scenario sheet holds a yaml that parses to the declared defaults, key for key."""
    lines = [c.value or "" for (c,) in load_workbook(template)["scenario"].iter_rows(min_row=2)]
    meta = ScenarioMeta.model_validate(yaml.safe_load("\n".join(lines)))
    assert meta == ScenarioMeta(name=meta.name)
    text = starter_yaml(meta)
    for key in ("per_elderly", "partners_per_target", "hours_per_supervisor", "utility"):
        assert f"{key}:" in text


def test_empty_template_loads_as_an_empty_scenario(template: Path) -> None:
    """The template as written is a valid (empty) scenario with no warnings."""
    scenario = linkage.load(template)
    assert scenario.warnings == ()
    assert all(n == 0 for n in scenario.summary().values())


def test_filled_template_loads_and_round_trips(template: Path, tmp_path: Path) -> None:
    """Rows typed under the bilingual headers load: Chinese names intact, 007 kept, defaults."""
    filled = _fill(
        template, {"regions": REGIONS, "organizations": ORGANIZATIONS}, tmp_path / "f.xlsx"
    )
    scenario = linkage.load(filled)
    assert scenario.regions["name"].tolist() == ["河南省", "郑州市", "中原区", "林山寨街道"]
    assert scenario.regions["code"].tolist()[-1] == "410102001"
    assert scenario.regions["key_assistance"].tolist() == [False, False, True, False]
    org = scenario.organizations.iloc[0]
    assert (org["id"], org["name"], org["specialties"]) == (
        "007",
        "中原春晖社会工作服务社",
        "children;elderly",
    )
    assert scenario.social_workers.empty
    copy = tmp_path / "copy.xlsx"
    linkage.save(scenario, copy)
    again = linkage.load(copy)
    assert again.meta == scenario.meta
    for name in scenario.tables:
        pd.testing.assert_frame_equal(again.tables[name], scenario.tables[name], obj=name)


def test_example_template_solves(tmp_path: Path) -> None:
    """The template with examples is a valid scenario that solves as it is."""
    scenario = linkage.load(write_template(tmp_path / "x.xlsx", with_examples=True))
    assert scenario.warnings == ()
    assert scenario.social_workers["id"].tolist() == ["007", "008"]
    plan = linkage.solve(scenario, stages=["pairing"])
    assert plan.solved and len(plan.pairs) >= 1


def test_bad_cell_names_sheet_row_and_column_letter(template: Path, tmp_path: Path) -> None:
    """A bad cell is reported with the sheet, the Excel row and the column letter and name."""
    regions = [dict(r) for r in REGIONS]
    regions[2]["population"] = "一百万"  # row 4 of the sheet; population is column G
    orgs = [*ORGANIZATIONS, dict(ORGANIZATIONS[0])]  # a duplicate id at row 3
    filled = _fill(template, {"regions": regions, "organizations": orgs}, tmp_path / "bad.xlsx")
    with pytest.raises(linkage.ScenarioError) as info:
        linkage.load(filled)
    by_column = {p.column: p for p in info.value.problems}
    population = by_column["population"]
    assert (population.source, population.row, population.excel_column) == (
        "bad.xlsx › regions",
        4,
        "G",
    )
    assert population.value == "一百万"
    assert "bad.xlsx › regions, row 4, column G (population)" in str(population)
    duplicate = by_column["id"]
    assert (duplicate.source, duplicate.row, duplicate.excel_column) == (
        "bad.xlsx › organizations",
        3,
        "A",
    )


def test_moved_columns_are_reported_by_their_own_letter(tmp_path: Path) -> None:
    """Letters follow the sheet's own column order, and a two-column key gives both letters."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "scenario"
    sheet.append(["scenario.yaml"])
    sheet.append(["name: t"])
    regions = book.create_sheet("regions")
    regions.append(["名称", "层级", "code 区划代码", "lat"])  # Chinese-only headers work too
    regions.append(["河南省", "province", "410000", "north"])
    pairs = book.create_sheet("existing_pairs")
    pairs.append(["since", "org", "target"])
    pairs.append([2022, None, "410000"])
    book.save(tmp_path / "moved.xlsx")
    with pytest.raises(linkage.ScenarioError) as info:
        linkage.load(tmp_path / "moved.xlsx")
    got = {(p.source.split(" › ")[1], p.column): p.excel_column for p in info.value.problems}
    assert got[("regions", "lat")] == "D"
    assert got[("existing_pairs", "org")] == "B"


def test_two_column_key_duplicates_name_both_letters(tmp_path: Path) -> None:
    """A duplicate (org, target) pair in a workbook names both key columns' letters."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "scenario"
    sheet.append(["scenario.yaml"])
    sheet.append(["name: t"])
    regions = book.create_sheet("regions")
    regions.append(["code", "name", "level", "lat", "lon"])
    regions.append(["410000", "河南省", "province", 34.7, 113.7])
    orgs = book.create_sheet("organizations")
    orgs.append(["id", "name", "region"])
    orgs.append(["001", "甲", "410000"])
    pairs = book.create_sheet("existing_pairs")
    pairs.append(["org", "target"])
    pairs.append(["001", "410000"])
    pairs.append(["001", "410000"])
    book.save(tmp_path / "dup.xlsx")
    with pytest.raises(linkage.ScenarioError) as info:
        linkage.load(tmp_path / "dup.xlsx")
    (problem,) = [p for p in info.value.problems if p.column == "org/target"]
    assert (problem.row, problem.excel_column) == (3, "A/B")


def test_csv_problems_keep_their_message_and_dict() -> None:
    """Problems outside workbooks print and serialize exactly as before (no letter)."""
    problem = Problem("regions.csv", 3, "population", "x", "a number")
    assert str(problem) == "regions.csv, row 3, column population: got 'x'; expected a number"
    assert "excel_column" not in problem.to_dict()
    lettered = Problem("s.xlsx › regions", 3, "population", "x", "a number", excel_column="G")
    assert lettered.to_dict()["excel_column"] == "G"
    assert lettered.column_text == "G (population)"


def test_broken_yaml_in_scenario_sheet_names_its_row(template: Path, tmp_path: Path) -> None:
    """A YAML error in the scenario sheet is reported at its sheet row, not as missing keys."""
    book = load_workbook(template)
    book["scenario"]["A5"] = "year: [2025"
    book.save(tmp_path / "y.xlsx")
    with pytest.raises(linkage.ScenarioError) as info:
        linkage.load(tmp_path / "y.xlsx")
    (problem,) = info.value.problems
    assert problem.source == "y.xlsx › scenario"
    assert problem.row is not None and problem.row >= 5
    assert problem.expected.startswith("valid YAML")


def test_header_cells_map_to_column_names() -> None:
    """Bilingual, Chinese-only and English headers all name their column; others stay."""
    headers = ["code\n区划代码", "名称", "population 常住人口 (人)", "备注", "code"]
    assert sheet_headers("regions", headers) == ["code", "name", "population", "备注", "code"]


def test_write_template_replaces_atomically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An existing file is replaced whole; a failed write leaves it intact and no temp file."""
    target = tmp_path / "t.xlsx"
    target.write_bytes(b"old")
    write_template(target)
    assert load_workbook(target).sheetnames[0] == "README"
    before = target.read_bytes()

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("linkage.scenario.io.os.replace", fail)
    with pytest.raises(OSError):
        write_template(target, with_examples=True)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["t.xlsx"]
