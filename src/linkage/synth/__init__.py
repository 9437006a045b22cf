"""Scenario generator: real geography and census figures, synthetic supply, reproducible by seed.

    from linkage.synth import generate
    generate("scenarios/henan/generate.yaml", "out/henan-big", seed=7,
             scale={"volunteers": 3.0}, overwrite=True)

``generate`` writes a scenario folder — ``<table>.csv`` for every generated table (header = the
declared columns of ``linkage.scenario.tables``, codes as text, sets ``;``-separated),
``scenario.yaml`` (the settings' ``scenario`` block plus ``provenance``) and a copy of the
settings as ``generate.yaml`` — atomically: into a temporary folder beside ``out_dir`` that is then
renamed into place, so a reader never sees half a scenario.

What is real and what synthetic is recorded per figure in ``scenario.yaml``'s ``provenance`` and per
region row in the ``figures`` column.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from linkage.scenario.policy import ScenarioMeta
from linkage.scenario.tables import TABLES
from linkage.synth import supply
from linkage.synth.geography import COUNT_COLUMNS, RATE_SOURCES, build_regions
from linkage.synth.settings import Settings

__all__ = ["SCALABLE", "Settings", "generate", "load_settings"]

SETTINGS_FILE = "generate.yaml"
# table → what a scale factor multiplies
SCALABLE: dict[str, str] = {
    "organizations": "rows (organizations)",
    "social_workers": "people and pool rows",
    "volunteers": "people and pool rows",
    "resources": "donor lots and total money",
}


def load_settings(settings: Settings | Mapping[str, Any] | str | os.PathLike[str]) -> Settings:
    """Settings from a model, a mapping (parsed YAML) or a ``generate.yaml`` path."""
    if isinstance(settings, Settings):
        return settings
    if isinstance(settings, Mapping):
        return Settings.model_validate(dict(settings))
    path = Path(settings)
    if path.is_dir():
        path = path / SETTINGS_FILE
    return Settings.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def _settings_text(settings: Settings | Mapping[str, Any] | str | os.PathLike[str]) -> str:
    """The settings as written by the user when they came from a file (comments kept)."""
    if isinstance(settings, str | os.PathLike):
        path = Path(settings)
        if path.is_dir():
            path = path / SETTINGS_FILE
        return path.read_text(encoding="utf-8")
    data = settings.model_dump(mode="json") if isinstance(settings, Settings) else dict(settings)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def generate(
    settings: Settings | Mapping[str, Any] | str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    seed: int | None = None,
    scale: Mapping[str, float] | None = None,
    *,
    totals: Mapping[str, float] | None = None,
    overwrite: bool = False,
) -> Path:
    """Generate a scenario folder and return its path.

    Args:
        settings: a ``generate.yaml`` path (or its folder), its parsed mapping, or ``Settings``.
        out_dir: the scenario folder to write; replaced atomically when ``overwrite`` is true.
            It may be the settings' own folder (the settings are written back unchanged).
        seed: numpy ``default_rng`` seed; ``None`` uses the settings' ``seed``. The same settings,
            seed and scale give byte-identical files.
        scale: table → factor multiplying its size (keys in ``SCALABLE``), e.g.
            ``{"volunteers": 3.0}`` triples the volunteers and their pools.
        totals: table → absolute size instead of a factor: people for ``social_workers`` and
            ``volunteers``, rows for ``organizations`` and ``resources``, e.g.
            ``{"volunteers": 1_000_000}``. Giving a scale and a total for one table is an error.
        overwrite: replace an existing ``out_dir``; otherwise an existing folder is an error.

    Raises:
        FileExistsError: ``out_dir`` exists and ``overwrite`` is false.
        ValueError: unknown scale key, bad settings, or a generated table the scenario
            declarations reject.
    """
    text = _settings_text(settings)
    spec = load_settings(settings)
    out = Path(out_dir)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists (pass overwrite=True to replace it)")
    factors = _factors(spec, scale or {}, totals or {})
    used_seed = spec.seed if seed is None else seed
    tables, meta = build(spec, used_seed, factors)
    _write_atomic(out, tables, meta, text)
    return out


def _factors(
    spec: Settings, scale: Mapping[str, float], totals: Mapping[str, float]
) -> dict[str, float]:
    unknown = (set(scale) | set(totals)) - set(SCALABLE)
    if unknown:
        raise ValueError(
            f"cannot scale {', '.join(sorted(unknown))}; scalable: {', '.join(SCALABLE)}"
        )
    both = set(scale) & set(totals)
    if both:
        raise ValueError(f"give either a scale or a total for {', '.join(sorted(both))}")
    factors = {name: float(scale.get(name, 1.0)) for name in SCALABLE}
    base = {
        "organizations": float(sum(g.count for g in spec.organizations)),
        "social_workers": float(spec.social_workers.people if spec.social_workers else 0),
        "volunteers": float(spec.volunteers.people if spec.volunteers else 0),
        "resources": float(spec.resources.lots if spec.resources else 0),
    }
    for name, total in totals.items():
        if base[name] <= 0:
            raise ValueError(f"the settings generate no {name} to scale to {total}")
        factors[name] = float(total) / base[name]
    for name, factor in factors.items():
        if not np.isfinite(factor) or factor < 0:
            raise ValueError(f"scale of {name} must be a non-negative number, not {factor}")
    return factors


def build(
    spec: Settings, seed: int, factors: Mapping[str, float] | None = None
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """The generated tables and scenario.yaml content, in memory (nothing is written)."""
    factors = {name: 1.0 for name in SCALABLE} | dict(factors or {})
    rng = np.random.default_rng(seed)
    policy: Mapping[str, Any] = spec.scenario.get("policy", {}) or {}
    geo = build_regions(spec.geography, spec.designations, spec.indicators, rng)
    tables: dict[str, pd.DataFrame] = {"regions": geo.table}
    orgs = supply.organizations(
        rng,
        geo,
        spec.organizations,
        spec.named_organizations,
        spec.prefix,
        factors["organizations"],
    )
    if len(orgs):
        tables["organizations"] = orgs
    if spec.social_workers is not None:
        tables["social_workers"] = supply.social_workers(
            rng, geo, orgs, spec.social_workers, spec.prefix, factors["social_workers"]
        )
    if spec.volunteers is not None:
        tables["volunteers"] = supply.volunteers(
            rng, geo, spec.volunteers, spec.prefix, factors["volunteers"]
        )
    if spec.resources is not None:
        tables["resources"] = supply.resources(
            rng, geo, spec.resources, spec.prefix, factors["resources"]
        )
    existing = pd.DataFrame(columns=TABLES["existing_pairs"].names)
    if spec.existing_pairs is not None:
        existing = supply.existing_pairs(rng, geo, orgs, policy, spec.existing_pairs)
        tables["existing_pairs"] = existing
    if spec.pair_overrides is not None:
        tables["pair_overrides"] = supply.pair_overrides(
            rng, geo, orgs, policy, existing, spec.pair_overrides
        )
    meta = dict(spec.scenario)
    meta["provenance"] = {
        **(meta.get("provenance") or {}),
        **_provenance(spec, seed, factors, tables),
    }
    ScenarioMeta.model_validate(meta)  # the settings' scenario block must be a valid scenario.yaml
    return tables, meta


def _provenance(
    spec: Settings, seed: int, factors: Mapping[str, float], tables: Mapping[str, pd.DataFrame]
) -> dict[str, str]:
    rates = spec.indicators
    scaled = {k: v for k, v in factors.items() if v != 1.0}
    rules = spec.designations
    regions = tables["regions"]
    levels = ", ".join(f"{n} {lvl}" for lvl, n in regions["level"].value_counts().items())
    out: dict[str, str] = {
        "generator": f"linkage.synth.generate from generate.yaml, seed {seed}"
        + (f", scale {scaled}" if scaled else "")
        + "; numpy default_rng; same settings + seed + scale give identical files",
        "regions.code/name/level/parent": f"real ({levels}): NBS 统计用区划代码 2023 via "
        "modood/Administrative-divisions-of-China (S1), packaged in linkage.reference",
        "regions.lat/lon": "real: Amap district centres via Vonng/adcode (S2, CC BY 4.0), "
        "converted GCJ-02 → WGS-84; approximate or borrowed points are named in `figures`",
        "regions.population/elderly": "real for provinces, cities and counties: 7th census "
        "2020 (S3, leiii/census, MIT; Dong, Du & Liu 2022); elderly = population × census 60+ "
        "share. Townships: county figures apportioned by villages + "
        f"{rates.community_weight:g} × communities (real totals, synthetic split)",
        "regions.key_assistance": f"real, rules {rules.key_assistance}: 国家乡村振兴重点帮扶县 "
        "2021 (S4), 90 of 160 verified; the 70 unverified counties (云南, 陕西, 甘肃, 青海, 宁夏) "
        "are not marked",
        "regions.old_revolutionary": f"real, rules {rules.old_revolutionary}: counties in the "
        "陕甘宁, 大别山, 左右江 and 川陕 key old-area plans (S5); other old areas are a gap",
        "regions.ethnic": f"real, rules {rules.ethnic}: ethnic autonomous units and 民族乡 "
        "(derived from S1 names)",
        "regions.has_station": f"assumed: {rates.station_share:.0%} of townships have a station "
        "(target: every township)",
    }
    rate_text = {
        "care_beds": f"{rates.care_beds_per_1000_elderly:g} per 1,000 elderly",
        "children_at_risk": f"{rates.children_at_risk_per_1000_children:g} per 1,000 children",
        "left_behind_children": f"{rates.left_behind_children_per_1000_rural:g} per 1,000 rural",
        "left_behind_women": f"{rates.left_behind_women_per_1000_rural:g} per 1,000 rural",
        "disabled": f"{rates.disabled_per_1000:g} per 1,000 residents",
        "low_income": f"{rates.low_income_per_1000_rural:g}/{rates.low_income_per_1000_urban:g} "
        "per 1,000 rural/urban",
        "extreme_poverty": f"{rates.extreme_poverty_per_1000_rural:g}/"
        f"{rates.extreme_poverty_per_1000_urban:g} per 1,000 rural/urban",
    }
    for name in COUNT_COLUMNS:
        hardship = (
            f", × {rates.designated_hardship_factor:g} in designated areas"
            if name in ("children_at_risk", "low_income", "extreme_poverty")
            else ""
        )
        split = (
            "; rural/urban split from the census urban share"
            if name
            in ("left_behind_children", "left_behind_women", "low_income", "extreme_poverty")
            else ""
        )
        out[f"regions.{name}"] = (
            f"synthetic: {rate_text[name]}{hardship}, × mean-one log-normal noise "
            f"(σ {rates.noise_sigma:g}){split}. Calibrated to: {RATE_SOURCES[name]}"
        )
    notes = {
        "organizations": "; ".join(g.note for g in spec.organizations if g.note),
        "social_workers": spec.social_workers.note if spec.social_workers else "",
        "volunteers": spec.volunteers.note if spec.volunteers else "",
        "resources": spec.resources.note if spec.resources else "",
    }
    for name in ("organizations", "social_workers", "volunteers", "resources"):
        if name not in tables:
            continue
        frame = tables[name]
        size = f"{len(frame):,} rows"
        if "count" in frame:
            size += f", {int(frame['count'].sum()):,} people"
        if name == "resources":
            funds = frame.loc[frame["kind"] == "funds", "amount"].sum()
            size += f", ¥{funds:,.0f} in funds lots"
        what = "synthetic (no open micro-data exists)"
        if name == "organizations" and spec.named_organizations:
            what += (
                "; named organizations "
                + ", ".join(o.name for o in spec.named_organizations)
                + " are placed at their real township, their figures synthetic"
            )
        out[name] = f"{what}: {size}" + (f". Calibrated to: {notes[name]}" if notes[name] else "")
    if "existing_pairs" in tables:
        out["existing_pairs"] = (
            f"synthetic: {len(tables['existing_pairs'])} last-period pairs, in-province or from "
            "a counterpart province, within sender capacity"
        )
    if "pair_overrides" in tables:
        out["pair_overrides"] = (
            "synthetic planner decisions exercising fix (allowed pair), forbid (a last-period "
            "pair) and prefer (an out-of-rule pair with a score)"
        )
    out.update(spec.provenance)
    return out


def _csv_ready(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """Declared column order; yes/no as true/false; whole-number floats without '.0'."""
    declared = TABLES[table]
    out = pd.DataFrame(index=frame.index)
    for col in declared.columns:
        if col.name not in frame:
            continue
        values = frame[col.name]
        if col.kind == "bool":
            values = values.map(lambda v: "true" if bool(v) else "false")
        elif col.kind in ("int", "float") and values.dtype.kind == "f":
            finite = values.dropna()
            if len(finite) and bool((finite == finite.round()).all()):
                values = values.round().astype("Int64")
        out[col.name] = values
    return out


def _write_atomic(
    out: Path, tables: Mapping[str, pd.DataFrame], meta: Mapping[str, Any], settings_text: str
) -> None:
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; a scenario folder is ordinary shared data
    try:
        for name, frame in tables.items():
            _csv_ready(frame, name).to_csv(
                tmp / f"{name}.csv", index=False, encoding="utf-8", lineterminator="\n"
            )
        (tmp / "scenario.yaml").write_text(
            yaml.safe_dump(dict(meta), allow_unicode=True, sort_keys=False, width=100),
            encoding="utf-8",
        )
        (tmp / SETTINGS_FILE).write_text(settings_text, encoding="utf-8")
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            old.rmdir()
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
