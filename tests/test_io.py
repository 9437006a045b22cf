"""Scenario round trips through CSV folders, .xlsx workbooks and JSON are lossless."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import linkage
from conftest import write_scenario
from linkage.scenario import from_document, to_document

EXTRA_TABLES = {
    "social_workers": "id,region,org,level,specialties,fte,max_km,count\n"
    "007,330106001,002,intermediate,elderly;hardship,0.5,40,12\n",
    "volunteers": "id,region,skills,hours,max_km,count\n000123,330106,elderly,120,,300\n",
    "resources": "id,donor,donor_type,kind,amount,eligible,regions,domains,min_grant\n"
    "R01,浙江省慈善联合总会,foundation,funds,2500000,ethnic;key_assistance,630000,"
    "children,50000\n",
    "pair_overrides": "org,target,action,score,load\n001,632221,fix,,\n002,632222,prefer,80,2\n",
    "existing_pairs": "org,target,since\n001,632223,2022\n",
}


def assert_same(a: linkage.Scenario, b: linkage.Scenario) -> None:
    assert a.meta == b.meta
    for name in a.tables:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name], check_dtype=True, obj=name)


@pytest.fixture
def full(tmp_path: Path) -> linkage.Scenario:
    return linkage.load(write_scenario(tmp_path / "src", **EXTRA_TABLES))


def test_codes_with_leading_zeros_stay_text(full: linkage.Scenario) -> None:
    """Ids like 007 and 000123 keep their zeros after loading."""
    assert full.social_workers["id"].tolist() == ["007"]
    assert full.volunteers["id"].tolist() == ["000123"]
    assert full.social_workers["org"].tolist() == ["002"]


@pytest.mark.parametrize("suffix", ["", ".xlsx", ".json"])
def test_round_trip_is_lossless(full: linkage.Scenario, tmp_path: Path, suffix: str) -> None:
    """Saving to a folder, a workbook or JSON and loading again gives the same scenario."""
    target = tmp_path / f"copy{suffix}"
    linkage.save(full, target)
    again = linkage.load(target)
    assert_same(full, again)
    assert again.organizations["name"].iloc[0] == "杭州市西湖区永安社会工作服务中心"


def test_json_document_round_trip_in_memory(full: linkage.Scenario) -> None:
    """The API's JSON form survives json.dumps with Chinese text unescaped."""
    text = json.dumps(to_document(full), ensure_ascii=False)
    assert "永安社会工作服务中心" in text
    assert_same(full, from_document(json.loads(text)))


def test_json_numbers_as_numbers_are_accepted(full: linkage.Scenario) -> None:
    """JSON rows may carry numbers and booleans as JSON values, not only text."""
    doc = to_document(full)
    doc["tables"]["organizations"][0]["pairing_capacity"] = 2
    doc["tables"]["regions"][6]["ethnic"] = True
    doc["tables"]["regions"][6]["population"] = 153040.0
    assert_same(full, from_document(doc))


def test_json_row_numbers_count_from_one(full: linkage.Scenario) -> None:
    """A bad value in the JSON form is reported by its table and 1-based row."""
    doc = to_document(full)
    doc["tables"]["organizations"][1]["rating"] = "AAAA"
    with pytest.raises(linkage.ScenarioError) as info:
        from_document(doc, source="upload.json")
    (p,) = info.value.problems
    assert (p.source, p.row, p.column) == ("upload.json › tables.organizations", 2, "rating")


def test_xlsx_problems_name_the_sheet(full: linkage.Scenario, tmp_path: Path) -> None:
    """Validation errors in a workbook name the file and sheet."""
    from openpyxl import load_workbook

    book = tmp_path / "s.xlsx"
    linkage.save(full, book)
    wb = load_workbook(book)
    wb["organizations"]["G3"] = "9"  # rating of the second organization
    wb.save(book)
    with pytest.raises(linkage.ScenarioError) as info:
        linkage.load(book)
    (p,) = info.value.problems
    assert (p.source, p.row, p.column, p.value) == ("s.xlsx › organizations", 3, "rating", "9")


def test_folder_save_refuses_to_overwrite(full: linkage.Scenario, tmp_path: Path) -> None:
    """An existing folder is not overwritten without force, and is kept intact."""
    target = tmp_path / "out"
    linkage.save(full, target)
    (target / "note.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(FileExistsError):
        linkage.save(full, target)
    assert (target / "note.txt").read_text(encoding="utf-8") == "mine"
    linkage.save(full, target, force=True)
    assert not (target / "note.txt").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_replace_revalidates(full: linkage.Scenario) -> None:
    """Scenario.replace builds a new validated scenario and leaves the old one alone."""
    orgs = full.organizations.copy()
    orgs.loc[0, "pairing_capacity"] = -1
    with pytest.raises(linkage.ScenarioError):
        full.replace(organizations=orgs)
    orgs.loc[0, "pairing_capacity"] = 5
    changed = full.replace(organizations=orgs)
    assert changed.organizations["pairing_capacity"].iloc[0] == 5
    assert full.organizations["pairing_capacity"].iloc[0] == 2
