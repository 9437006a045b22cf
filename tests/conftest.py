"""Shared fixtures: a tiny two-province scenario written as a user would type it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

REGIONS = """code,name,level,parent,lat,lon,population,elderly,care_beds,children_at_risk,disabled,low_income,key_assistance,old_revolutionary,ethnic,has_station
330000,浙江省,province,,30.27,120.15,64567588,12070000,,,,,,,,
330100,杭州市,city,330000,30.27,120.15,11936010,2030000,,,,,,,,
330106,西湖区,county,330100,30.26,120.13,1145071,160000,2000,300,9000,4000,false,false,false,false
330106001,北山街道,township,330106,30.26,120.15,30000,5000,100,10,200,100,false,false,false,true
630000,青海省,province,,36.62,101.78,5923957,720000,,,,,,,,
632200,海北藏族自治州,city,630000,36.95,100.90,265322,30000,,,,,,,,
632221,门源回族自治县,county,632200,37.38,101.62,153040,19000,400,500,2500,6000,true,false,true,false
632222,祁连县,county,632200,38.18,100.25,50000,6000,100,200,900,2500,false,false,true,false
632223,海晏县,county,632200,36.90,100.99,35000,4000,80,100,600,1800,false,true,false,false
"""

ORGANIZATIONS = """id,name,region,kind,specialties,staff,rating,pairing_capacity
001,杭州市西湖区永安社会工作服务中心,330106,social_work,elderly;children,25,5,2
002,北山街道社工站,330106001,social_work,hardship,8,3,1
010,青海省社会工作协会,630000,social_org,community,5,4,0
"""

SCENARIO = {
    "name": "浙青牵手 测试",
    "year": 2025,
    "sources": {"mca-2021-105": '民发〔2021〕105号 "十四五"时期社会工作服务机构"牵手计划"实施方案'},
    "policy": {
        "pairing": {
            "targets": ["key_assistance", "ethnic", "old_revolutionary"],
            "max_km": 600,
            "counterparts": {"青海": ["浙江"]},
            "source": "mca-2021-105",
        }
    },
}


def write_scenario(folder: Path, **overrides: Any) -> Path:
    """Write the tiny scenario as CSV text; keyword arguments replace a file's text or the yaml."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {"regions.csv": REGIONS, "organizations.csv": ORGANIZATIONS}
    meta = dict(SCENARIO)
    for key, value in overrides.items():
        if key == "scenario":
            meta = value
        else:
            files[f"{key}.csv"] = value
    (folder / "scenario.yaml").write_text(
        yaml.safe_dump(meta, allow_unicode=True) if isinstance(meta, dict) else str(meta),
        encoding="utf-8",
    )
    for name, text in files.items():
        if text is not None:
            (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def tiny_folder(tmp_path: Path) -> Path:
    return write_scenario(tmp_path / "tiny")


def tiny_tables_raw() -> dict[str, pd.DataFrame]:
    """The tiny scenario's tables as raw text frames."""
    from io import StringIO

    return {
        "regions": pd.read_csv(StringIO(REGIONS), dtype=str, keep_default_na=False),
        "organizations": pd.read_csv(StringIO(ORGANIZATIONS), dtype=str, keep_default_na=False),
    }


@pytest.fixture
def tiny_tables() -> dict[str, pd.DataFrame]:
    return tiny_tables_raw()
