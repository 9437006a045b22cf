"""The packaged reference data: complete, typed, codes kept as text."""

from __future__ import annotations

from importlib import resources

import pandas as pd
import pytest

from linkage import reference

CODE_COLUMNS = {
    "regions.csv": {
        "code": (6,),
        "parent_code": (0, 6),
        "province_code": (2,),
        "prefecture_code": (0, 4),
    },
    "townships.csv": {"code": (9,), "county_code": (6,)},
    "township_village_counts.csv": {"code": (9,)},
    "key_counties_2021.csv": {"code": (6,)},
    "revolutionary_old_area_counties.csv": {"code": (6,)},
    "ethnic_autonomous_units.csv": {"code": (6,)},
}


@pytest.mark.parametrize("name", sorted(CODE_COLUMNS))
def test_codes_stay_text_with_every_digit(name: str) -> None:
    """Every code column loads as str with its full digit count (no float, no lost zeros)."""
    frame = reference.read(name)
    for column, lengths in CODE_COLUMNS[name].items():
        values = frame[column]
        assert pd.api.types.is_string_dtype(values), column
        assert values.map(lambda v: isinstance(v, str)).all(), column
        assert values.str.len().isin(lengths).all(), column
        filled = values[values != ""]
        assert filled.str.fullmatch(r"\d+").all(), column


def test_trailing_and_leading_zeros_survive() -> None:
    """Codes such as 110000, 1101 and 220104004 come back exactly as written."""
    regions = reference.regions().set_index(["code", "level"])
    assert regions.loc[("110000", "province"), "name"] == "北京市"
    beijing_city = reference.regions().query("code == '110100'")
    assert beijing_city["prefecture_code"].tolist() == ["1101"]
    towns = reference.townships().set_index("code")
    assert towns.loc["220104004", "name"] == "永昌街道"
    assert towns.loc["220104004", "county_code"] == "220104"


def test_row_counts_match_the_documented_sources() -> None:
    """The packaged files hold the documented numbers of rows."""
    regions = reference.regions()
    assert regions["level"].value_counts().to_dict() == {
        "county": 2978,
        "prefecture": 342,
        "province": 31,
    }
    assert len(reference.townships()) == 41352
    assert len(reference.township_village_counts()) == 41352
    assert len(reference.key_counties()) == 90
    assert len(reference.revolutionary_old_area_counties()) == 251
    assert len(reference.ethnic_autonomous_units()) == 155


def test_numbers_and_flags_are_typed() -> None:
    """Counts and shares are numbers and yes/no columns are bool."""
    regions = reference.regions()
    assert regions["pop_2020"].dtype == float
    assert regions["is_autonomous_unit"].dtype == bool
    counts = reference.township_village_counts()
    assert counts["villages"].dtype == "int64"
    assert reference.townships()["is_ethnic_township"].sum() == 883


def test_unverified_key_counties_are_not_invented() -> None:
    """Only the 90 verified key counties are 'Y'; the five unverifiable provinces are 'unknown'."""
    regions = reference.regions()
    counties = regions[regions["level"] == "county"]
    assert (counties["is_key_county_2021"] == "Y").sum() == 90
    unknown = counties.loc[counties["is_key_county_2021"] == "unknown", "province_code"]
    assert set(unknown) == {"53", "61", "62", "63", "64"}


def test_loaders_return_independent_copies() -> None:
    """Changing a returned frame does not change what the next call returns."""
    first = reference.regions()
    first.loc[0, "name"] = "changed"
    assert reference.regions().loc[0, "name"] != "changed"


def test_unknown_file_is_a_clear_error() -> None:
    """Asking for a file that is not packaged names the known files."""
    with pytest.raises(KeyError, match=r"regions\.csv"):
        reference.read("villages.csv")


def test_package_stays_small_and_documented() -> None:
    """The packaged data stays under 8 MB and its README cites every source."""
    root = resources.files("linkage.reference")
    total = sum(len(entry.read_bytes()) for entry in root.iterdir() if entry.name.endswith(".csv"))
    assert total < 8 * 1024 * 1024
    readme = root.joinpath("README.md").read_text(encoding="utf-8")
    for source in ("S1", "S2", "S3", "S4", "S5", "CC BY 4.0", "MIT", "WTFPL"):
        assert source in readme
