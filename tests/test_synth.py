"""The scenario generator: reproducible, scalable, honest about provenance, and the committed
scenarios it produced."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

import linkage
from linkage import reference
from linkage.scenario.tables import TABLES
from linkage.synth import build, generate, load_settings

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
COMMITTED = ("jilin", "henan", "national-pairing")

# 宁夏 (64): small (≈240 townships), with ethnic, key-assistance and old-revolutionary counties
SMALL: dict[str, Any] = {
    "seed": 5,
    "prefix": "T",
    "scenario": {
        "name": "宁夏 测试",
        "sources": {"mca-2021-105": "民发〔2021〕105号"},
        "policy": {
            "pairing": {
                "targets": ["key_assistance", "old_revolutionary", "ethnic"],
                "cross_province": False,
                "source": "mca-2021-105",
            }
        },
    },
    "geography": {"provinces": ["64"], "level": "township"},
    "organizations": [
        {
            "count": 12,
            "where": {"level": "county", "capitals": True, "districts_only": True},
            "pairing_capacity": {1: 0.5, 2: 0.5},
        },
        {"count": 30, "where": {"level": "county", "min_per_unit": 1}},
    ],
    "social_workers": {"people": 1500, "rows": 300},
    "volunteers": {"people": 20000, "pools_per_unit": 2},
    "resources": {
        "lots": 25,
        "total_yuan": 5_000_000,
        "donors": [{"name": "福彩公益金", "donor_type": "lottery"}, {"name": "基金会"}],
    },
    "existing_pairs": {"count": 3},
    "pair_overrides": {"fix": 1, "forbid": 1, "prefer": 1},
}


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _csv(folder: Path, table: str) -> pd.DataFrame:
    return pd.read_csv(folder / f"{table}.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(SMALL, tmp_path_factory.mktemp("gen") / "small")


def test_same_seed_gives_identical_files(small: Path, tmp_path: Path) -> None:
    """Generating twice with the same settings and seed writes byte-identical files."""
    again = generate(SMALL, tmp_path / "again")
    assert _files(small) == _files(again)


def test_different_seed_changes_synthetic_tables_only(small: Path, tmp_path: Path) -> None:
    """Another seed changes the synthetic tables but not the real geography."""
    other = generate(SMALL, tmp_path / "other", seed=6)
    assert (other / "volunteers.csv").read_bytes() != (small / "volunteers.csv").read_bytes()
    assert (other / "organizations.csv").read_bytes() != (small / "organizations.csv").read_bytes()
    a, b = _csv(small, "regions"), _csv(other, "regions")
    cols = ["code", "name", "level", "parent", "lat", "lon", "population", "elderly"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    assert not a["care_beds"].equals(b["care_beds"])


def test_scale_multiplies_volunteer_people_and_pools(small: Path, tmp_path: Path) -> None:
    """scale={'volunteers': 2.5} multiplies the volunteers' total count and pool rows."""
    base = _csv(small, "volunteers")
    scaled = _csv(generate(SMALL, tmp_path / "big", scale={"volunteers": 2.5}), "volunteers")
    assert scaled["count"].astype(int).sum() == round(2.5 * base["count"].astype(int).sum())
    assert len(scaled) == round(2.5 * len(base))
    assert (scaled["count"].astype(int) >= 1).all()


def test_totals_set_absolute_people(tmp_path: Path) -> None:
    """totals={'volunteers': N} yields exactly N volunteers."""
    out = generate(SMALL, tmp_path / "total", totals={"volunteers": 123_457})
    assert _csv(out, "volunteers")["count"].astype(int).sum() == 123_457


def test_unknown_scale_key_is_rejected(tmp_path: Path) -> None:
    """Scaling a table the generator cannot scale is a clear error and writes nothing."""
    with pytest.raises(ValueError, match="scalable"):
        generate(SMALL, tmp_path / "bad", scale={"regions": 2})
    assert not (tmp_path / "bad").exists()


def test_provenance_says_what_is_real_and_what_synthetic(small: Path) -> None:
    """scenario.yaml records real and synthetic figures; each region row names its sources."""
    meta = yaml.safe_load((small / "scenario.yaml").read_text(encoding="utf-8"))
    prov = meta["provenance"]
    assert prov["regions.population/elderly"].startswith("real")
    assert prov["regions.code/name/level/parent"].startswith("real")
    for table in ("organizations", "social_workers", "volunteers", "resources"):
        assert prov[table].startswith("synthetic"), table
    assert prov["regions.care_beds"].startswith("synthetic")
    assert "35" in prov["regions.care_beds"]
    assert "seed 5" in prov["generator"]
    regions = _csv(small, "regions")
    figures = dict(zip(regions["level"], regions["figures"], strict=False))
    assert "apportioned from county census2020" in figures["township"]
    assert figures["county"].startswith("population, elderly: census2020")
    assert (regions["figures"] != "").all()


def test_region_hierarchy_is_a_proper_chain(small: Path) -> None:
    """Parents go province → city → county → township with 6/6/6/9-digit codes."""
    regions = _csv(small, "regions")
    level_of = dict(zip(regions["code"], regions["level"], strict=True))
    above = {"city": "province", "county": "city", "township": "county"}
    lengths = {"province": 6, "city": 6, "county": 6, "township": 9}
    assert regions["code"].is_unique
    for code, level, parent in zip(
        regions["code"], regions["level"], regions["parent"], strict=True
    ):
        assert len(code) == lengths[level]
        if level == "province":
            assert parent == ""
        else:
            assert level_of[parent] == above[level]


def test_township_figures_add_up_to_census_counties(small: Path) -> None:
    """Township population and elderly sum exactly to their county's census figures."""
    regions = _csv(small, "regions")
    towns = regions[regions["level"] == "township"]
    counties = regions[regions["level"] == "county"].set_index("code")
    for column in ("population", "elderly"):
        sums = towns[column].astype(float).groupby(towns["parent"]).sum()
        assert (sums == counties.loc[sums.index, column].astype(float)).all()
    ref = reference.regions().query("level == 'county'").set_index("code")
    county_pop = counties["population"].replace("", None).dropna().astype(float)
    assert (county_pop == ref.loc[county_pop.index, "pop_2020"]).all()
    assert (towns["has_station"] == "true").all()


def test_csv_headers_are_the_declared_columns(small: Path) -> None:
    """Every written table's header is the declared column list in declared order."""
    for path in small.glob("*.csv"):
        header = path.read_text(encoding="utf-8").splitlines()[0].split(",")
        assert header == TABLES[path.stem].names, path.name


def test_generated_scenario_loads_without_problems(small: Path) -> None:
    """A generated folder passes validation with no errors and no warnings."""
    scenario = linkage.load(small)
    assert scenario.warnings == ()
    assert scenario.summary()["volunteers"] > 0


def test_existing_folder_needs_overwrite(small: Path, tmp_path: Path) -> None:
    """An existing out_dir is kept unless overwrite=True, which replaces it atomically."""
    out = tmp_path / "keep"
    out.mkdir()
    (out / "mine.txt").write_text("x", encoding="utf-8")
    with pytest.raises(FileExistsError):
        generate(SMALL, out)
    assert (out / "mine.txt").exists()
    generate(SMALL, out, overwrite=True)
    assert not (out / "mine.txt").exists()
    assert _files(out) == _files(small)
    assert [p.name for p in tmp_path.iterdir()] == ["keep"]  # no temporary folders left


def test_failed_generation_leaves_nothing_behind(tmp_path: Path) -> None:
    """A generation that fails midway writes no folder and leaves no temporary files."""
    broken = copy.deepcopy(SMALL)
    broken["named_organizations"] = [{"id": "X", "name": "无处", "region": "999999"}]
    with pytest.raises(ValueError, match="999999"):
        generate(broken, tmp_path / "broken")
    assert list(tmp_path.iterdir()) == []


def test_build_in_memory_matches_settings_model() -> None:
    """build() returns tables and a scenario.yaml mapping without touching the disk."""
    tables, meta = build(load_settings(SMALL), seed=5)
    assert set(tables) >= {"regions", "organizations", "volunteers"}
    assert meta["name"] == "宁夏 测试"
    assert "provenance" in meta


# ---- the committed scenarios ----


@pytest.mark.parametrize("name", COMMITTED)
def test_committed_scenario_loads_without_problems(name: str) -> None:
    """Each committed scenario loads and validates with no errors or warnings."""
    scenario = linkage.load(SCENARIOS / name)
    assert scenario.warnings == ()


@pytest.mark.parametrize("name", COMMITTED)
def test_committed_scenario_regions_match_reference(name: str) -> None:
    """Codes, names and parents of committed regions are those of the reference data."""
    regions = _csv(SCENARIOS / name, "regions")
    ref = reference.regions()
    ref = ref.assign(level=ref["level"].replace({"prefecture": "city"}))
    upper = regions[regions["level"] != "township"].merge(
        ref[["code", "level", "name", "parent_code"]],
        on=["code", "level"],
        how="left",
        suffixes=("", "_ref"),
    )
    assert (upper["name"] == upper["name_ref"]).all()
    assert (upper["parent"] == upper["parent_code"].fillna("")).all()
    towns = regions[regions["level"] == "township"].merge(
        reference.townships()[["code", "name", "county_code"]],
        on="code",
        how="left",
        suffixes=("", "_ref"),
    )
    assert (towns["name"] == towns["name_ref"]).all()
    assert (towns["parent"] == towns["county_code"]).all()


@pytest.mark.parametrize("name", COMMITTED)
def test_committed_scenario_is_reproducible(name: str, tmp_path: Path) -> None:
    """Regenerating from the committed generate.yaml reproduces the committed files exactly."""
    out = generate(SCENARIOS / name / "generate.yaml", tmp_path / name)
    assert _files(out) == _files(SCENARIOS / name)


def test_jilin_targets_and_senders() -> None:
    """Jilin: the 11 ethnic autonomous counties are targets; senders sit in 长春/吉林市."""
    scenario = linkage.load(SCENARIOS / "jilin")
    regions = scenario.regions
    ethnic = set(regions.loc[(regions["level"] == "county") & regions["ethnic"], "code"])
    assert ethnic == {
        "220323",
        "220623",
        "220721",
        "222401",
        "222402",
        "222403",
        "222404",
        "222405",
        "222406",
        "222424",
        "222426",
    }
    assert scenario.policy.pairing.targets == ["ethnic"]
    orgs = scenario.organizations
    senders = orgs[orgs["pairing_capacity"] > 0]
    assert set(senders["region"].str[:4]) <= {"2201", "2202"}
    yongchang = orgs.set_index("id").loc["JL-YONGCHANG"]
    assert yongchang["region"] == "220104004"
    assert yongchang["kind"] == "social_work" and yongchang["pairing_capacity"] > 0


def test_henan_matches_its_plan() -> None:
    """Henan: 325 social-work organizations, ~30,000 workers, staffing ratios, every station."""
    scenario = linkage.load(SCENARIOS / "henan")
    orgs = scenario.organizations
    assert (orgs["kind"] == "social_work").sum() == 325
    assert scenario.tables["social_workers"]["count"].sum() == 30000
    staffing = scenario.policy.staffing
    assert (staffing.per_elderly, staffing.per_care_beds, staffing.base_per_station) == (
        1000,
        100,
        2,
    )
    assert staffing.source == "henan-14th-fyp" and "henan-14th-fyp" in scenario.meta.sources
    regions = scenario.regions
    towns = regions[regions["level"] == "township"]
    assert 2500 <= len(towns) <= 2700 and towns["has_station"].all()
    assert not regions["key_assistance"].any()
    assert set(scenario.policy.pairing.targets) == {"old_revolutionary", "ethnic"}
    old = set(
        reference.revolutionary_old_area_counties().query("code.str.startswith('41')")["code"]
    )
    assert (
        set(regions.loc[regions["old_revolutionary"] & (regions["level"] == "county"), "code"])
        == old
    )


def test_national_pairing_designations_and_senders() -> None:
    """National: only verified key counties, ≥10,000 senders, DESIGN §6 counterparts/quotas."""
    scenario = linkage.load(SCENARIOS / "national-pairing")
    regions = scenario.regions
    key = set(regions.loc[regions["key_assistance"], "code"])
    assert key == set(reference.key_counties()["code"])
    senders = scenario.organizations[scenario.organizations["pairing_capacity"] >= 1]
    assert len(senders) >= 10000
    pairing = scenario.policy.pairing
    assert pairing.counterparts["青海"] == ["浙江"] and pairing.counterparts["贵州"] == ["重庆"]
    assert (pairing.quotas["青海"].cross_province, pairing.quotas["青海"].in_province) == (5, 10)
    assert (pairing.quotas["贵州"].cross_province, pairing.quotas["贵州"].in_province) == (5, 15)
    assert len(scenario.tables["existing_pairs"]) > 0
    assert set(scenario.tables["pair_overrides"]["action"]) == {"fix", "forbid", "prefer"}
