"""Maintainer tool: rebuild the packaged reference CSVs from the full shared data set.

Users never run this (they have no copy of the full data); it documents exactly how every packaged
file was derived. Run it as ``python -m linkage.reference.build SOURCE_DIR [OUT_DIR]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent

REGION_COLUMNS = [
    "code",
    "level",
    "name",
    "parent_code",
    "province_code",
    "prefecture_code",
    "lat",
    "lon",
    "coord_source",
    "pop_2020",
    "share_60plus_2020",
    "share_65plus_2020",
    "share_0_14_2020",
    "urban_share_2020",
    "pop_match",
    "is_formal_unit",
    "is_autonomous_unit",
    "in_autonomous_region",
    "in_autonomous_prefecture",
    "in_ethnic_8_provinces",
    "is_key_county_2021",
    "revolutionary_old_area",
]
TOWNSHIP_COLUMNS = [
    "code",
    "name",
    "township_type",
    "county_code",
    "lat",
    "lon",
    "coord_source",
    "is_ethnic_township",
]


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")


def _census_shares(census: pd.DataFrame) -> pd.DataFrame:
    """Children (0-14) and urban shares per 2023 county code, summing merged 2020 predecessors."""
    rows = census[(census["level"] == "county") & (census["code_2023"] != "")].copy()
    for col in ("pop_total", "pop_0_14", "pop_urban"):
        rows[col] = pd.to_numeric(rows[col], errors="coerce")
    sums = rows.groupby("code_2023")[["pop_total", "pop_0_14", "pop_urban"]].sum(min_count=1)
    out = pd.DataFrame(
        {
            "code": sums.index.astype(str),
            "share_0_14_2020": (sums["pop_0_14"] / sums["pop_total"]).round(4).to_numpy(),
            "urban_share_2020": (sums["pop_urban"] / sums["pop_total"]).round(4).to_numpy(),
        }
    )
    return out


def build(source: Path, out: Path = HERE) -> dict[str, int]:
    """Write the trimmed reference CSVs into ``out``; returns the byte size of each file."""
    regions = _read(source / "regions.csv")
    census = _read(source / "census2020_county.csv")
    shares = _census_shares(census)
    regions = regions.merge(shares, on="code", how="left")
    # shares are only joined for county rows; a prefecture sharing a county's code must not get one
    not_county = regions["level"] != "county"
    for col in ("share_0_14_2020", "urban_share_2020"):
        regions[col] = regions[col].where(~not_county)
    files: dict[str, pd.DataFrame] = {
        "regions.csv": regions[REGION_COLUMNS],
        "townships.csv": _read(source / "townships.csv")[TOWNSHIP_COLUMNS],
        "key_counties_2021.csv": _read(source / "key_counties_rural_revitalization_2021.csv")[
            ["code", "name", "province", "prefecture"]
        ],
        "revolutionary_old_area_counties.csv": _read(
            source / "revolutionary_old_area_counties.csv"
        )[["code", "name", "province", "prefecture", "old_area_region", "plan", "confidence"]],
        "ethnic_autonomous_units.csv": _read(source / "ethnic_autonomous_units.csv"),
    }
    villages = pd.read_csv(
        source / "villages.csv", dtype=str, usecols=["code", "village_type"], encoding="utf-8"
    )
    villages["township"] = villages["code"].str[:9]
    counts = (
        pd.crosstab(villages["township"], villages["village_type"])
        .reindex(columns=["V", "R", "O"], fill_value=0)
        .rename(columns={"V": "villages", "R": "communities", "O": "other"})
    )
    counts.index.name = "code"
    files["township_village_counts.csv"] = counts.reset_index()
    sizes: dict[str, int] = {}
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in files.items():
        path = out / name
        frame.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
        sizes[name] = path.stat().st_size
    return sizes


if __name__ == "__main__":
    target = Path(sys.argv[2]) if len(sys.argv) > 2 else HERE
    for file, size in build(Path(sys.argv[1]), target).items():
        sys.stdout.write(f"{file}\t{size}\n")
