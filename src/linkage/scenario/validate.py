"""One-shot validation: raw tables in, a Scenario or every problem at once out.

Raw tables may hold anything a user typed (CSV text, Excel cells, JSON values). Each column is
coerced to its declared kind; every failure becomes a ``Problem`` naming the source, the row as
the user counts it, the column, the value and what was expected. Nothing raises until all checks
have run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, get_args, get_origin

import numpy as np
import pandas as pd
from pydantic import BaseModel, ValidationError

from linkage.scenario.core import Scenario, frozen_tables
from linkage.scenario.policy import ScenarioMeta
from linkage.scenario.problems import Problem, ScenarioError, did_you_mean
from linkage.scenario.tables import PERSON_COUNTS, TABLES, Column, Table
from linkage.scenario.vocabulary import LEVEL_RANK

# A pathological input (a million bad cells) must not drown the user; the first ones suffice.
MAX_PROBLEMS_PER_COLUMN = 50
CODE_SEPARATORS = re.compile(r"[;,；，、\s]+")
TRUE_WORDS = {"true", "t", "yes", "y", "1", "是", "对", "√", "x"}
FALSE_WORDS = {"false", "f", "no", "n", "0", "否", "", "×"}


@dataclass(frozen=True)
class Origin:
    """Where a raw table came from: the name the user knows and the row of its first record.

    ``letters`` maps a column name to the column letter a spreadsheet shows ("C"), for tables
    read from a workbook; problems then carry the letter too."""

    source: str
    first_row: int = 2  # CSV and Excel: the header is row 1
    letters: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)

    def letter(self, column: str | None) -> str | None:
        """The spreadsheet letter(s) of a column, "A/B" for a two-column key; None if unknown."""
        if not column or not self.letters:
            return None
        if column in self.letters:
            return self.letters[column]
        parts = column.split("/")
        if len(parts) > 1 and all(part in self.letters for part in parts):
            return "/".join(self.letters[part] for part in parts)
        return None


@dataclass
class _Collector:
    problems: list[Problem]

    def add(
        self,
        origin: Origin,
        row: int | None,
        column: str | None,
        value: Any,
        expected: str,
        severity: str = "error",
    ) -> None:
        shown = None if value is None else _show(value)
        self.problems.append(
            Problem(
                origin.source,
                row,
                column,
                shown,
                expected,
                severity,  # type: ignore[arg-type]
                excel_column=origin.letter(column),
            )
        )

    def add_rows(
        self,
        origin: Origin,
        positions: Iterable[int],
        column: str,
        values: Iterable[Any],
        expected: str,
    ) -> None:
        positions = list(positions)
        values = list(values)
        for pos, value in zip(positions[:MAX_PROBLEMS_PER_COLUMN], values, strict=False):
            self.add(origin, origin.first_row + pos, column, value, expected)
        if len(positions) > MAX_PROBLEMS_PER_COLUMN:
            self.add(
                origin,
                None,
                column,
                None,
                f"{expected} ({len(positions) - MAX_PROBLEMS_PER_COLUMN} more rows like this "
                "not listed)",
            )


def _show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _is_blank(values: pd.Series) -> np.ndarray:
    text = values.astype(object)
    blank = text.isna().to_numpy() | (text.map(lambda v: isinstance(v, str) and not v.strip()))
    return np.asarray(blank, dtype=bool)


def _as_code(value: Any) -> Any:
    """Codes arrive as text, or as numbers from Excel/JSON; 410000.0 means '410000'."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def _coerce_column(raw: pd.Series, col: Column, origin: Origin, sink: _Collector) -> pd.Series:
    blank = _is_blank(raw)
    positions = np.arange(len(raw))

    if col.required and blank.any():
        sink.add_rows(
            origin,
            positions[blank],
            col.name,
            [""] * int(blank.sum()),
            f"a value ({col.description})",
        )

    if col.kind in ("code", "text"):
        out = raw.astype(object).map(_as_code).astype(object)
        if col.kind == "code":
            bad = ~blank & out.map(lambda v: isinstance(v, str) and bool(re.search(r"\s", v)))
            if bad.any():
                sink.add_rows(
                    origin, positions[bad.to_numpy()], col.name, out[bad], "a code without spaces"
                )
        out = out.where(~blank, col.default)
        return out.astype(object)

    if col.kind in ("int", "float"):
        numbers = pd.to_numeric(raw.where(~blank), errors="coerce").astype(float)
        numbers = numbers.where(np.isfinite(numbers.to_numpy()))  # "inf" is no quantity
        not_number = ~blank & numbers.isna().to_numpy()
        if not_number.any():
            sink.add_rows(
                origin,
                positions[not_number],
                col.name,
                raw[not_number],
                "a number" if col.kind == "float" else "a whole number",
            )
        ok = ~blank & ~not_number
        if col.kind == "int":
            fractional = ok & (np.abs(numbers.to_numpy() - np.round(numbers.to_numpy())) > 1e-9)
            if fractional.any():
                sink.add_rows(
                    origin, positions[fractional], col.name, raw[fractional], "a whole number"
                )
        values = numbers.to_numpy()
        for bound, test, word in (
            (col.minimum, lambda v, b: v < b, "at least"),
            (col.maximum, lambda v, b: v > b, "at most"),
        ):
            if bound is None:
                continue
            with np.errstate(invalid="ignore"):
                wrong = ok & test(values, bound)
            if wrong.any():
                bound_text = _show(float(bound))
                sink.add_rows(
                    origin,
                    positions[wrong],
                    col.name,
                    raw[wrong],
                    f"a number {word} {bound_text} ({col.description})",
                )
        if col.default is not None:
            numbers = numbers.where(~blank, float(col.default))
        if col.kind == "int" and (col.default is not None or col.required):
            return numbers.fillna(0).round().astype(np.int64)
        return numbers.astype(float)

    if col.kind == "bool":
        words = raw.astype(object).map(
            lambda v: (
                str(v).strip().lower()
                if v is not None and not (isinstance(v, float) and np.isnan(v))
                else ""
            )
        )
        is_true = words.isin(TRUE_WORDS).to_numpy()
        is_false = words.isin(FALSE_WORDS).to_numpy()
        # Python/JSON booleans arrive as True/False, which str() turns into "true"/"false".
        wrong = ~is_true & ~is_false
        if wrong.any():
            sink.add_rows(
                origin,
                positions[wrong],
                col.name,
                raw[wrong],
                "yes or no (true/false, 1/0, Y/N, 是/否)",
            )
        return pd.Series(is_true, index=raw.index, dtype=bool)

    if col.kind == "enum":
        assert col.choices is not None
        out = raw.astype(object).map(_as_code)
        choices = list(col.choices)
        wrong = ~blank & ~out.isin(choices).to_numpy()
        if wrong.any():
            for pos in positions[wrong][:MAX_PROBLEMS_PER_COLUMN]:
                value = out.iloc[pos]
                sink.add(
                    origin,
                    origin.first_row + int(pos),
                    col.name,
                    value,
                    f"one of {', '.join(choices)}{did_you_mean(str(value), choices)}",
                )
        if col.default is not None:
            out = out.where(~blank, col.default)
        return out.astype(object)

    if col.kind == "codes":

        def split(value: Any) -> list[str]:
            text = _as_code(value)
            return [] if text is None else [p for p in CODE_SEPARATORS.split(text) if p]

        parts = raw.astype(object).map(split)
        if col.choices is not None:
            choices = list(col.choices)
            for pos, items in zip(positions, parts, strict=True):
                unknown = [p for p in items if p not in col.choices]
                if unknown:
                    sink.add(
                        origin,
                        origin.first_row + int(pos),
                        col.name,
                        unknown[0],
                        f"codes from {', '.join(choices)} separated by ';'"
                        f"{did_you_mean(unknown[0], choices)}",
                    )
        return parts.map(lambda items: ";".join(sorted(set(items)))).astype(object)

    raise AssertionError(f"undeclared column kind {col.kind}")


def coerce_table(table: Table, raw: pd.DataFrame, origin: Origin, sink: _Collector) -> pd.DataFrame:
    """Coerce one raw table to its declared columns and dtypes, collecting problems."""
    raw = raw.reset_index(drop=True)
    raw.columns = [str(c).strip() for c in raw.columns]
    for name in raw.columns:
        if name not in table.column_index:
            sink.add(
                origin,
                None,
                name,
                None,
                f"a column of {table.name} ({', '.join(table.names)}); this column is "
                f"ignored{did_you_mean(name, table.names)}",
                severity="warning",
            )
    out: dict[str, pd.Series] = {}
    for col in table.columns:
        if col.name not in raw.columns:
            if col.required and len(raw):
                sink.add(
                    origin,
                    None,
                    col.name,
                    None,
                    f"a column {col.name} ({col.description}) — it is required",
                )
            filler = pd.Series([None] * len(raw), index=raw.index, dtype=object)
            out[col.name] = _coerce_column(filler, _unrequired(col), origin, sink)
        else:
            out[col.name] = _coerce_column(raw[col.name], col, origin, sink)
    frame = pd.DataFrame(out, index=raw.index)
    if table.key:
        _check_unique(table, frame, origin, sink)
    return frame


def _unrequired(col: Column) -> Column:
    from dataclasses import replace

    return replace(col, required=False)


def _check_unique(table: Table, frame: pd.DataFrame, origin: Origin, sink: _Collector) -> None:
    keys = list(table.key)
    present = frame[keys].notna().all(axis=1)
    dup = frame[present].duplicated(subset=keys, keep=False)
    if not dup.any():
        return
    first_seen: dict[tuple[Any, ...], int] = {}
    reported = 0
    for pos, key in zip(
        np.flatnonzero(present.to_numpy()),
        frame.loc[present, keys].itertuples(index=False, name=None),
        strict=True,
    ):
        if key in first_seen:
            if reported < MAX_PROBLEMS_PER_COLUMN:
                sink.add(
                    origin,
                    origin.first_row + int(pos),
                    "/".join(keys),
                    "/".join(map(str, key)),
                    f"a unique {'/'.join(keys)} (already at row "
                    f"{origin.first_row + first_seen[key]})",
                )
            reported += 1
        else:
            first_seen[key] = int(pos)


def empty_table(table: Table) -> pd.DataFrame:
    """A table with no rows and the declared columns and dtypes."""
    sink = _Collector([])
    return coerce_table(table, pd.DataFrame(columns=table.names), Origin(table.name), sink)


def _check_regions(regions: pd.DataFrame, origin: Origin, sink: _Collector) -> None:
    rank = regions["level"].map(LEVEL_RANK)
    parent_of = dict(zip(regions["code"], regions["parent"], strict=True))
    level_of = dict(zip(regions["code"], regions["level"], strict=True))
    for pos, (code, level, parent) in enumerate(
        zip(regions["code"], regions["level"], regions["parent"], strict=True)
    ):
        row = origin.first_row + pos
        if code is None or level not in LEVEL_RANK:
            continue
        if parent is None:
            if level != "province":
                sink.add(
                    origin,
                    row,
                    "parent",
                    "",
                    f"the code of the {_level_above(level)} this {level} belongs to",
                )
            continue
        if parent == code:
            sink.add(
                origin,
                row,
                "parent",
                parent,
                "a different region's code (a region cannot be its own parent)",
            )
            continue
        if parent not in level_of:
            sink.add(
                origin,
                row,
                "parent",
                parent,
                f"the code of a region in regions"
                f"{did_you_mean(parent, (c for c in level_of if c and c[:2] == parent[:2]))}",
            )
            continue
        parent_level = level_of[parent]
        if parent_level in LEVEL_RANK and LEVEL_RANK[parent_level] != int(rank.iloc[pos]) - 1:
            how = "reverses" if LEVEL_RANK[parent_level] >= int(rank.iloc[pos]) else "skips"
            sink.add(
                origin,
                row,
                "parent",
                parent,
                f"a {_level_above(level)} (the parent is a {parent_level}: the hierarchy "
                f"{how} levels)",
            )
    # cycles: follow parents; a walk longer than the number of levels has looped
    for pos, code in enumerate(regions["code"]):
        seen = [code]
        current = parent_of.get(code)
        while current is not None and current in parent_of and len(seen) <= len(LEVEL_RANK):
            if current in seen:
                sink.add(
                    origin,
                    origin.first_row + pos,
                    "parent",
                    parent_of.get(code),
                    f"a parent chain that ends at a province (it loops: "
                    f"{' → '.join([*seen, current])})",
                )
                break
            seen.append(current)
            current = parent_of.get(current)
    population = regions["population"].to_numpy()
    for name in PERSON_COUNTS:
        with np.errstate(invalid="ignore"):
            wrong = regions[name].to_numpy() > population
        if wrong.any():
            sink.add_rows(
                origin,
                np.flatnonzero(wrong),
                name,
                regions.loc[wrong, name],
                f"at most the population ({name} cannot exceed population)",
            )


def _level_above(level: str) -> str:
    names = list(LEVEL_RANK)
    return names[max(LEVEL_RANK[level] - 1, 0)]


def _check_references(
    name: str,
    frame: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame],
    origin: Origin,
    sink: _Collector,
) -> None:
    for col in TABLES[name].columns:
        if not col.references:
            continue
        ref_table, ref_col = col.references.split(".")
        if ref_table not in tables:
            continue
        known = set(tables[ref_table][ref_col].dropna())
        values = frame[col.name]
        wrong = values.notna().to_numpy() & ~values.isin(known).to_numpy()
        if name == "regions":
            continue  # parents are checked with the hierarchy
        if wrong.any():
            for pos in np.flatnonzero(wrong)[:MAX_PROBLEMS_PER_COLUMN]:
                value = values.iloc[pos]
                sink.add(
                    origin,
                    origin.first_row + int(pos),
                    col.name,
                    value,
                    f"a {ref_col} listed in {ref_table}{_close(value, known)}",
                )
            if wrong.sum() > MAX_PROBLEMS_PER_COLUMN:
                sink.add(
                    origin,
                    None,
                    col.name,
                    None,
                    f"a {ref_col} listed in {ref_table} "
                    f"({int(wrong.sum()) - MAX_PROBLEMS_PER_COLUMN} more rows not listed)",
                )


def _close(value: str, known: set[str]) -> str:
    # difflib over 40,000 codes is slow; compare with codes sharing the first digits only
    pool = [k for k in known if isinstance(k, str) and k[:3] == str(value)[:3]][:2000]
    return did_you_mean(str(value), pool)


def _check_coordinates(
    scenario_tables: Mapping[str, pd.DataFrame],
    meta: ScenarioMeta,
    origins: Mapping[str, Origin],
    sink: _Collector,
) -> None:
    regions = scenario_tables["regions"]
    no_point = set(regions.loc[regions["lat"].isna() | regions["lon"].isna(), "code"])
    if not no_point:
        return
    pairing = meta.policy.pairing
    needs_distance = pairing.candidates == "rules" and (
        pairing.max_km is not None or pairing.weights.distance > 0
    )
    checks: list[tuple[str, pd.Series, str]] = []
    if needs_distance:
        orgs = scenario_tables["organizations"]
        senders = orgs["pairing_capacity"] > 0
        checks.append(
            (
                "organizations",
                orgs["region"].where(senders),
                "a region with lat/lon (pairing distance rules need the sender's location)",
            )
        )
        targets = _pairing_targets(regions, meta)
        rows = regions["code"].where(targets)
        checks.append(
            (
                "regions",
                rows,
                "lat/lon (this region is a pairing target and distance rules need its location)",
            )
        )
    for name in ("social_workers", "volunteers"):
        frame = scenario_tables[name]
        checks.append(
            (name, frame["region"], "a region with lat/lon (reach in km needs a location)")
        )
    for name, codes, expected in checks:
        missing = codes.isin(no_point).to_numpy()
        if missing.any():
            column = "lat" if name == "regions" else "region"
            sink.add_rows(origins[name], np.flatnonzero(missing), column, codes[missing], expected)


def _pairing_targets(regions: pd.DataFrame, meta: ScenarioMeta) -> pd.Series:
    pairing = meta.policy.pairing
    flagged = np.zeros(len(regions), dtype=bool)
    for designation in pairing.targets:
        flagged |= regions[designation].to_numpy(dtype=bool)
    return pd.Series(flagged & (regions["level"] == pairing.level).to_numpy(), index=regions.index)


def _dig(raw: Mapping[str, Any], *path: str) -> Any:
    node: Any = raw
    for part in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def _check_policy_places(
    regions: pd.DataFrame, raw: Mapping[str, Any], sink: _Collector, source: str
) -> None:
    """Province names and cited sources, checked on the raw yaml so they are reported even when
    other keys are wrong."""
    provinces = regions[regions["level"] == "province"]
    known = set(provinces["code"].astype(str).str[:2]) | set(provinces["name"])
    known |= {short_province_name(n) for n in provinces["name"]}
    origin = Origin(source, first_row=0)
    named: list[tuple[str, Any]] = []
    counterparts = _dig(raw, "policy", "pairing", "counterparts")
    if isinstance(counterparts, Mapping):
        for target, senders in counterparts.items():
            named.append((f"policy.pairing.counterparts.{target}", target))
            if isinstance(senders, list):
                named.extend((f"policy.pairing.counterparts.{target}", s) for s in senders)
    quotas = _dig(raw, "policy", "pairing", "quotas")
    if isinstance(quotas, Mapping):
        named.extend((f"policy.pairing.quotas.{p}", p) for p in quotas)
    for path, place in named:
        if str(place) not in known:
            sink.add(
                origin,
                None,
                path,
                place,
                f"a province name or 2-digit code from regions{did_you_mean(str(place), known)}",
            )
    sources = _dig(raw, "sources")
    sources = sources if isinstance(sources, Mapping) else {}
    for part in ("staffing", "pairing", "volunteers", "funds"):
        cited = _dig(raw, "policy", part, "source")
        if cited is not None and cited not in sources:
            sink.add(
                origin,
                None,
                f"policy.{part}.source",
                cited,
                f"a source id listed under sources{did_you_mean(str(cited), sources)}",
            )


def short_province_name(name: str) -> str:
    """青海省 → 青海, 新疆维吾尔自治区 → 新疆, 重庆市 → 重庆: the short name policies use."""
    for suffix in ("维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "特别行政区", "省", "市"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def meta_problems(raw: Mapping[str, Any], source: str) -> tuple[ScenarioMeta | None, list[Problem]]:
    """Parse scenario.yaml content into ScenarioMeta, or problems with did-you-mean hints."""
    try:
        return ScenarioMeta.model_validate(raw), []
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            path = ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                parent = _model_at(err["loc"][:-1])
                options = list(parent.model_fields) if parent is not None else []
                key = str(err["loc"][-1])
                expected = (
                    f"one of the keys {', '.join(options)}{did_you_mean(key, options)}"
                    if options
                    else "no such key"
                )
                problems.append(Problem(source, None, path, key, f"{expected} — unknown key"))
            else:
                value = err.get("input")
                shown = None if isinstance(value, dict | list) or value is None else str(value)
                problems.append(Problem(source, None, path, shown, err["msg"]))
        return None, problems


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model a location in scenario.yaml points into (through dicts and lists)."""
    model: Any = ScenarioMeta
    for part in loc:
        if isinstance(model, type) and issubclass(model, BaseModel):
            field = model.model_fields.get(str(part))
            if field is None:
                return None
            model = field.annotation
        else:
            # a dict or list level: the part is a key or index, step into the value type
            args = [a for a in get_args(model) if a is not type(None)]
            model = args[-1] if args else None
        while get_origin(model) is not None and get_args(model) != ():
            inner = [a for a in get_args(model) if a is not type(None)]
            if get_origin(model) in (dict, list) or len(inner) != 1:
                break
            model = inner[0]
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def validate(
    meta: ScenarioMeta | Mapping[str, Any],
    tables: Mapping[str, pd.DataFrame],
    origins: Mapping[str, Origin] | None = None,
    meta_source: str = "scenario.yaml",
) -> Scenario:
    """Check everything, then return a Scenario or raise ScenarioError with every problem."""
    sink = _Collector([])
    origins = dict(origins or {})
    for name in TABLES:
        origins.setdefault(name, Origin(f"{name}.csv"))

    if isinstance(meta, ScenarioMeta):
        parsed: ScenarioMeta | None = meta
    else:
        parsed, problems = meta_problems(meta, meta_source)
        sink.problems.extend(problems)

    for name in tables:
        if name not in TABLES:
            sink.add(
                Origin(name),
                None,
                None,
                name,
                f"a table of {', '.join(TABLES)}{did_you_mean(name, TABLES)}",
                severity="warning",
            )

    clean: dict[str, pd.DataFrame] = {}
    for name, table in TABLES.items():
        raw = tables.get(name)
        if raw is None:
            if not table.optional:
                sink.add(origins[name], None, None, None, f"the {name} table ({table.description})")
            clean[name] = empty_table(table)
            continue
        clean[name] = coerce_table(table, raw, origins[name], sink)

    _check_regions(clean["regions"], origins["regions"], sink)
    for name, frame in clean.items():
        _check_references(name, frame, clean, origins[name], sink)
    raw_meta = meta.model_dump() if isinstance(meta, ScenarioMeta) else meta
    _check_policy_places(clean["regions"], raw_meta, sink, meta_source)
    if parsed is not None:
        _check_coordinates(clean, parsed, origins, sink)

    sink.problems.sort(key=lambda p: (p.source, p.row or 0))
    errors = [p for p in sink.problems if p.severity == "error"]
    if errors or parsed is None:
        raise ScenarioError(sink.problems)
    warnings = tuple(p for p in sink.problems if p.severity == "warning")
    return Scenario(meta=parsed, tables=frozen_tables(clean), warnings=warnings)
