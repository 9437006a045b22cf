"""Packaged real-world reference data: China's administrative units with census figures and
designations (sources and licences in ``README.md`` beside this file).

Every loader returns a fresh pandas DataFrame. Codes (region codes, parent codes, province and
prefecture codes) are always ``str`` so leading digits and zeros survive; counts and shares are
numbers; flags are ``bool``.

>>> from linkage import reference
>>> reference.regions().query("level == 'province'").shape[0]
31
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import pandas as pd

__all__ = [
    "FILES",
    "ethnic_autonomous_units",
    "key_counties",
    "read",
    "regions",
    "revolutionary_old_area_counties",
    "township_village_counts",
    "townships",
]

# Per file: float columns, integer columns and yes/no columns; everything else stays text.
FILES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "regions.csv": (
        (
            "lat",
            "lon",
            "pop_2020",
            "share_60plus_2020",
            "share_65plus_2020",
            "share_0_14_2020",
            "urban_share_2020",
        ),
        (),
        (
            "is_formal_unit",
            "is_autonomous_unit",
            "in_autonomous_region",
            "in_autonomous_prefecture",
            "in_ethnic_8_provinces",
        ),
    ),
    "townships.csv": (("lat", "lon"), (), ("is_ethnic_township",)),
    "township_village_counts.csv": ((), ("villages", "communities", "other"), ()),
    "key_counties_2021.csv": ((), (), ()),
    "revolutionary_old_area_counties.csv": ((), (), ()),
    "ethnic_autonomous_units.csv": ((), (), ()),
}


@cache
def _load(name: str) -> pd.DataFrame:
    floats, ints, flags = FILES[name]
    with resources.files(__name__).joinpath(name).open("r", encoding="utf-8") as handle:
        frame = pd.read_csv(handle, dtype=str, keep_default_na=False)
    for col in floats:
        frame[col] = pd.to_numeric(frame[col].replace("", None), errors="coerce").astype(float)
    for col in ints:
        frame[col] = frame[col].astype("int64")
    for col in flags:
        frame[col] = frame[col].str.lower().isin(["true", "1", "y"])
    return frame


def read(name: str) -> pd.DataFrame:
    """Any packaged file by name (e.g. ``"regions.csv"``), typed as described above."""
    if name not in FILES:
        raise KeyError(f"no reference file {name!r}; known: {', '.join(FILES)}")
    return _load(name).copy()


def regions() -> pd.DataFrame:
    """Province, prefecture and county rows (3,351): 6-digit codes, WGS-84 points, 2020 census
    population, 60+/65+/0-14 and urban shares, designation flags. ``(code, level)`` is the key:
    东莞, 中山 and 儋州 repeat their prefecture code at county level."""
    return read("regions.csv")


def townships() -> pd.DataFrame:
    """All 41,352 townships (乡/镇/街道/苏木) with 9-digit codes, county code, point and the
    民族乡 flag. Check ``coord_source``: ``county_seat_fallback`` points are the county's."""
    return read("townships.csv")


def township_village_counts() -> pd.DataFrame:
    """Per township: number of villages (村), communities (居委会/社区) and other units."""
    return read("township_village_counts.csv")


def key_counties() -> pd.DataFrame:
    """The 90 verified national rural-revitalization key-assistance counties (of 160; 2021)."""
    return read("key_counties_2021.csv")


def revolutionary_old_area_counties() -> pd.DataFrame:
    """Counties inside four State-Council key revolutionary old-area plans (251 rows)."""
    return read("revolutionary_old_area_counties.csv")


def ethnic_autonomous_units() -> pd.DataFrame:
    """The 155 ethnic autonomous regions, prefectures, counties and banners."""
    return read("ethnic_autonomous_units.csv")
