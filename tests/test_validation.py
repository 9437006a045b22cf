"""Validation: every class of bad input is reported with file, row, column, value, expectation."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import linkage
from conftest import ORGANIZATIONS, REGIONS, SCENARIO, write_scenario
from linkage.scenario.problems import Problem


def problems_for(tmp_path: Path, **overrides: object) -> list[Problem]:
    folder = write_scenario(tmp_path / "s", **overrides)
    with pytest.raises(linkage.ScenarioError) as info:
        linkage.load(folder)
    return info.value.problems


def find(problems: list[Problem], **where: object) -> Problem:
    for p in problems:
        if all(getattr(p, k) == v for k, v in where.items()):
            return p
    raise AssertionError(f"no problem with {where} in {[str(p) for p in problems]}")


def test_valid_tiny_scenario_loads(tiny_folder: Path) -> None:
    """The fixture scenario is valid and keeps codes as text."""
    scenario = linkage.load(tiny_folder)
    assert scenario.organizations["id"].tolist() == ["001", "002", "010"]
    assert scenario.regions.loc[scenario.regions.code == "632221", "ethnic"].item()


def test_duplicate_ids_are_reported_with_both_rows(tmp_path: Path) -> None:
    """A repeated organization id names the row and the row it first appeared in."""
    orgs = ORGANIZATIONS + "001,重复机构,330106,social_work,,1,1,1\n"
    p = find(problems_for(tmp_path, organizations=orgs), source="organizations.csv", row=5)
    assert p.value == "001" and "already at row 2" in p.expected


def test_duplicate_region_code(tmp_path: Path) -> None:
    """A repeated region code is an error on the second row."""
    regions = REGIONS + "632223,海晏县,county,632200,36.9,100.99,1,0,,,,,,,,\n"
    p = find(problems_for(tmp_path, regions=regions), source="regions.csv", row=11, column="code")
    assert p.value == "632223" and "already at row 10" in p.expected


def test_unknown_region_reference_suggests_a_close_code(tmp_path: Path) -> None:
    """An organization in an unknown region is reported with a did-you-mean."""
    orgs = ORGANIZATIONS.replace("002,北山街道社工站,330106001", "002,北山街道社工站,330106002")
    p = find(problems_for(tmp_path, organizations=orgs), column="region", row=3)
    assert p.value == "330106002" and "regions" in p.expected and "did you mean" in p.expected


def test_parent_skipping_a_level(tmp_path: Path) -> None:
    """A county whose parent is a province skips the city level."""
    regions = REGIONS.replace("632222,祁连县,county,632200", "632222,祁连县,county,630000")
    p = find(problems_for(tmp_path, regions=regions), column="parent", row=9)
    assert "skips" in p.expected


def test_parent_reversing_levels(tmp_path: Path) -> None:
    """A city whose parent is a county reverses the hierarchy."""
    regions = REGIONS.replace(
        "632200,海北藏族自治州,city,630000", "632200,海北藏族自治州,city,632223"
    )
    problems = problems_for(tmp_path, regions=regions)
    assert "reverses" in find(problems, column="parent", row=7).expected
    assert any("loops" in p.expected for p in problems)


def test_parent_cycle(tmp_path: Path) -> None:
    """Two regions that are each other's parent form a cycle."""
    regions = REGIONS.replace("330100,杭州市,city,330000", "330100,杭州市,city,330106")
    problems = problems_for(tmp_path, regions=regions)
    assert any("loops" in p.expected for p in problems)


def test_missing_parent_for_non_province(tmp_path: Path) -> None:
    """A county without a parent is an error; a province without one is fine."""
    regions = REGIONS.replace("632223,海晏县,county,632200", "632223,海晏县,county,")
    p = find(problems_for(tmp_path, regions=regions), column="parent", row=10)
    assert "city" in p.expected


def test_missing_required_column(tmp_path: Path) -> None:
    """A table without a required column names that column."""
    orgs = "id,region\n001,330106\n"
    p = find(problems_for(tmp_path, organizations=orgs), column="name", row=None)
    assert "required" in p.expected


def test_missing_required_table(tmp_path: Path) -> None:
    """A scenario without regions says so."""
    problems = problems_for(tmp_path, regions=None)
    folder = tmp_path / "s"
    (folder / "regions.csv").unlink(missing_ok=True)
    with pytest.raises(linkage.ScenarioError) as info:
        linkage.load(folder)
    assert any(p.source == "regions.csv" and p.row is None for p in info.value.problems)
    assert problems  # the organizations now refer to regions that are not there


def test_non_numeric_and_negative_quantities(tmp_path: Path) -> None:
    """Text in a number column and a negative capacity are both reported."""
    orgs = ORGANIZATIONS.replace(",25,5,2", ",二十五,5,-2")
    problems = problems_for(tmp_path, organizations=orgs)
    assert find(problems, column="staff", row=2).value == "二十五"
    assert "at least 0" in find(problems, column="pairing_capacity", row=2).expected


def test_fractional_whole_number(tmp_path: Path) -> None:
    """A capacity of 1.5 is not a whole number."""
    orgs = ORGANIZATIONS.replace(",25,5,2", ",25,5,1.5")
    assert (
        "whole"
        in find(problems_for(tmp_path, organizations=orgs), column="pairing_capacity").expected
    )


def test_impossible_quantity_elderly_over_population(tmp_path: Path) -> None:
    """More elderly than people is impossible."""
    regions = REGIONS.replace(
        "632222,祁连县,county,632200,38.18,100.25,50000,6000",
        "632222,祁连县,county,632200,38.18,100.25,50000,60000",
    )
    p = find(problems_for(tmp_path, regions=regions), column="elderly", row=9)
    assert "population" in p.expected


def test_rating_above_maximum(tmp_path: Path) -> None:
    """A 6A rating does not exist."""
    orgs = ORGANIZATIONS.replace(",25,5,2", ",25,6,2")
    assert "at most 5" in find(problems_for(tmp_path, organizations=orgs), column="rating").expected


@pytest.mark.parametrize(
    ("table", "text", "column"),
    [
        (
            "organizations",
            ORGANIZATIONS.replace("elderly;children", "elderly;childen"),
            "specialties",
        ),
        ("organizations", ORGANIZATIONS.replace("social_org", "ngo"), "kind"),
        ("social_workers", "id,region,level\nw1,330106,expert\n", "level"),
        ("volunteers", "id,region,skills,hours\nv1,330106,cooking,100\n", "skills"),
        ("regions", REGIONS.replace("632223,海晏县,county", "632223,海晏县,district"), "level"),
    ],
)
def test_unknown_codes(tmp_path: Path, table: str, text: str, column: str) -> None:
    """Unknown domain, kind, level and skill codes list the allowed values."""
    p = find(problems_for(tmp_path, **{table: text}), column=column)
    assert "one of" in p.expected or "codes from" in p.expected


def test_reference_to_missing_organization(tmp_path: Path) -> None:
    """A social worker employed by an unknown organization is reported."""
    workers = "id,region,org\nw1,330106,999\n"
    p = find(problems_for(tmp_path, social_workers=workers), column="org")
    assert p.value == "999" and "organizations" in p.expected


def test_missing_coordinates_where_distance_rules_apply(tmp_path: Path) -> None:
    """A pairing target without lat/lon is an error while a distance limit applies."""
    regions = REGIONS.replace(
        "632222,祁连县,county,632200,38.18,100.25", "632222,祁连县,county,632200,,"
    )
    p = find(problems_for(tmp_path, regions=regions), source="regions.csv", row=9)
    assert "lat/lon" in p.expected


def test_missing_coordinates_are_fine_without_distance_rules(tmp_path: Path) -> None:
    """Without a distance limit or distance score, a target needs no coordinates."""
    regions = REGIONS.replace(
        "632222,祁连县,county,632200,38.18,100.25", "632222,祁连县,county,632200,,"
    )
    meta = {
        **SCENARIO,
        "policy": {"pairing": {"targets": ["ethnic"], "max_km": None, "weights": {"distance": 0}}},
    }
    scenario = linkage.load(write_scenario(tmp_path / "s", regions=regions, scenario=meta))
    assert len(scenario.regions) == 9


def test_unknown_yaml_keys_get_did_you_mean(tmp_path: Path) -> None:
    """Misspelt keys in scenario.yaml are errors that suggest the right key."""
    meta = {"name": "x", "polcy": {}, "policy": {"pairing": {"max_kms": 10}}}
    problems = problems_for(tmp_path, scenario=meta)
    assert 'did you mean "policy"' in find(problems, column="polcy").expected
    assert 'did you mean "max_km"' in find(problems, column="policy.pairing.max_kms").expected


def test_bad_yaml_value_and_unknown_province(tmp_path: Path) -> None:
    """A negative limit and an unknown counterpart province are both reported."""
    meta = {
        "name": "x",
        "policy": {"pairing": {"partners_per_target": 0, "counterparts": {"青海": ["浙将"]}}},
    }
    problems = problems_for(tmp_path, scenario=meta)
    find(problems, column="policy.pairing.partners_per_target")
    assert "浙江" in find(problems, value="浙将").expected


def test_uncited_source(tmp_path: Path) -> None:
    """A rule citing a source id that is not listed is an error."""
    meta = {**SCENARIO, "policy": {"staffing": {"source": "henan-15th"}}}
    p = find(problems_for(tmp_path, scenario=meta), column="policy.staffing.source")
    assert p.value == "henan-15th" and "sources" in p.expected


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    """Problems in several files come back together in one exception."""
    orgs = ORGANIZATIONS.replace(",25,5,2", ",x,9,-1")
    regions = REGIONS.replace("632223,海晏县,county", "632223,海晏县,countyy")
    meta = {"name": "x", "yeer": 2025}
    problems = problems_for(tmp_path, organizations=orgs, regions=regions, scenario=meta)
    sources = {p.source for p in problems}
    assert {"organizations.csv", "regions.csv", "scenario.yaml"} <= sources
    assert len([p for p in problems if p.severity == "error"]) >= 5


def test_unknown_column_is_a_warning_with_suggestion(tmp_path: Path) -> None:
    """An unknown column is ignored with a warning that suggests the declared name."""
    orgs = ORGANIZATIONS.replace("pairing_capacity", "pairing_capacty")
    scenario = linkage.load(write_scenario(tmp_path / "s", organizations=orgs))
    (w,) = [w for w in scenario.warnings if w.column == "pairing_capacty"]
    assert "pairing_capacity" in w.expected
    assert scenario.organizations["pairing_capacity"].eq(0).all()


def test_non_utf8_csv_is_reported(tmp_path: Path) -> None:
    """A GBK-encoded CSV is an input problem, not a traceback."""
    folder = write_scenario(tmp_path / "s")
    (folder / "organizations.csv").write_bytes(ORGANIZATIONS.encode("gbk"))
    with pytest.raises(linkage.ScenarioError) as info:
        linkage.load(folder)
    assert any(
        p.source == "organizations.csv" and "UTF-8" in p.expected for p in info.value.problems
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    value=st.text(max_size=12),
    column=st.sampled_from(
        ["staff", "rating", "pairing_capacity", "specialties", "kind", "region", "id"]
    ),
)
def test_any_cell_value_is_accepted_or_reported(value: str, column: str) -> None:
    """Whatever a user types into a cell, validation either accepts it or reports problems."""
    from io import StringIO

    import pandas as pd

    from conftest import tiny_tables_raw

    tables = tiny_tables_raw()
    orgs = pd.read_csv(StringIO(ORGANIZATIONS), dtype=str, keep_default_na=False)
    orgs.loc[0, column] = value
    tables["organizations"] = orgs
    try:
        scenario = linkage.Scenario.from_tables(SCENARIO, tables)
    except linkage.ScenarioError as exc:
        assert exc.problems
        assert all(p.source and p.expected for p in exc.problems)
    else:
        assert len(scenario.organizations) == 3
