"""What-if variants of a scenario: changes, grids over parameters, and the what-if file.

A what-if file (YAML) names a base scenario and its variants::

    base: ../scenarios/jilin          # a scenario folder, .xlsx or .json, relative to this file
    description: budget and supervision sweep
    solve:                            # optional settings for every variant's solve
      stages: [pairing, staffing, volunteers, funds]
      time_limit_s: 30
      seed: 0
    variants:
      - name: baseline                # no changes: the base scenario itself
      - name: government+20%
        description: provincial purchasing budget up a fifth
        changes:
          - scale: resources.amount   # TABLE.COLUMN, a numeric column
            by: 1.2
            where: {donor_type: government}     # optional: column: value or [values]
          - set:                      # any scenario.yaml parameter by dotted path
              policy.pairing.cross_province: true
              policy.funds.per_worker_yuan: 600000
          - add: organizations        # rows as in the table's CSV
            rows:
              - {id: NEW-1, name: 新机构, region: "220102", pairing_capacity: 2}
          - drop: organizations       # by key (ids; composite keys as mappings) or by where
            ids: [JL-O00001]
          - designate: key_assistance # key_assistance, old_revolutionary, ethnic or has_station
            regions: ["220221"]
            value: true               # false clears the flag
    grids:
      - name: sweep                   # variants sweep[budget=0.8,supervision=300], ...
        names: "budget{budget}-sup{supervision}"   # optional str.format template
        changes: []                   # optional: applied before the axes, at every point
        axes:                         # the cartesian product, first axis slowest
          budget: {scale: resources.amount, values: [0.8, 1.0, 1.2]}
          supervision: {set: policy.volunteers.hours_per_supervisor, values: [300, 400]}
          donor:                      # named options: each a list of changes
            options:
              none: []
              new-fund: [{add: resources, rows: [{id: F1, donor: 新基金, amount: 1000000}]}]

Rules:

- Changes apply in order, each to the result of the ones before (so a ``drop`` may remove a
  row an earlier ``add`` put in). Every change may carry a ``note``.
- ``scale`` multiplies a column; whole-number columns are rounded. ``where`` matches a column's
  value exactly (a code list column such as ``specialties`` matches rows whose list holds the
  value); several columns must all match; a list of values matches any of them.
- ``add`` checks the new rows like a scenario's (types, bounds, choices, references, keys not
  already in the table).
- ``drop`` also drops the rows of other tables that must point to a dropped row (the pairs and
  overrides of a dropped organization, the people and organizations of a dropped region) and
  blanks optional references to it (the employer of a dropped organization's social workers).
- ``set`` takes ``dotted.path: value`` pairs into ``scenario.yaml``; a value given for a whole
  section (``policy.funds: {...}``) is merged into it, any other value replaces what is there.
- Variant names name the variant's plan folder: no ``/ \\ : * ? " < > |``, no leading dot.
- A variant's scenario is named ``<base name> [<variant>]``.

Every problem in a file is reported at once (a ``ScenarioError`` of ``WhatIfProblem``): the
file, the variant or grid and the change (counted from 1), the YAML line, the key, and a
did-you-mean; the variants' scenarios are then re-validated, and their problems name the
variant. ``load_whatif(path)`` reads and checks a file; ``WhatIf.scenarios()`` or
``variants(scenario, spec)`` build the variants' scenarios.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import re
import sys
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from copy import deepcopy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel

from linkage.pipeline import ORDER
from linkage.scenario.core import Scenario
from linkage.scenario.policy import ScenarioMeta
from linkage.scenario.problems import Problem, ScenarioError, did_you_mean
from linkage.scenario.tables import TABLES, Column
from linkage.scenario.validate import (
    FALSE_WORDS,
    TRUE_WORDS,
    Origin,
    _Collector,
    coerce_table,
    meta_problems,
)

CHANGE_KEYS: dict[str, tuple[str, ...]] = {
    "scale": ("scale", "by", "where", "note"),
    "add": ("add", "rows", "note"),
    "drop": ("drop", "ids", "where", "note"),
    "set": ("set", "note"),
    "designate": ("designate", "regions", "value", "note"),
}
CHANGE_KINDS = tuple(CHANGE_KEYS)
TOP_KEYS = ("base", "description", "solve", "variants", "grids")
VARIANT_KEYS = ("name", "description", "changes")
GRID_KEYS = ("name", "description", "names", "changes", "axes")
AXIS_KEYS = ("scale", "where", "set", "values", "options")
SOLVE_KEYS = ("stages", "time_limit_s", "seed", "pairing_method", "joint")
PAIRING_METHODS = ("auto", "flow", "cp_sat", "mip")
FLAGS = ("key_assistance", "old_revolutionary", "ethnic", "has_station")
_BAD_NAME = re.compile(r'[\\/:*?"<>|\x00-\x1f]')
_BAD_AXIS = re.compile(r"[.\[\]{}!:\s]")
_MISSING = object()

Path_ = tuple[str | int, ...]  # a location in the YAML document


@dataclass(frozen=True)
class WhatIfProblem(Problem):
    """A problem in a what-if file: ``source`` names the file, the variant and the change,
    ``row`` is the YAML line and ``column`` the key."""

    def where(self) -> str:
        parts = [self.source]
        if self.row is not None:
            parts.append(f"line {self.row}")
        if self.column:
            parts.append(f"key {self.column}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Variant:
    """One variant: a name and the changes that make it from the base scenario.

    ``parameters`` holds a grid variant's axis values (axis → value, or the option's name).
    """

    name: str
    changes: tuple[Mapping[str, Any], ...] = ()
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)
    # where each change was written: (label for messages, YAML path); empty for code-built
    origins: tuple[tuple[str, Path_], ...] = field(default=(), repr=False, compare=False)


class _Lines:
    """YAML line numbers of the nodes of a document, found by path."""

    def __init__(self, text: str | None):
        self.root: yaml.Node | None = None
        if text:
            try:
                self.root = yaml.compose(text, Loader=yaml.SafeLoader)
            except yaml.YAMLError:
                self.root = None

    def line(self, path: Path_) -> int | None:
        node = self.root
        if node is None:
            return None
        for part in path:
            if isinstance(node, yaml.MappingNode):
                found = [v for k, v in node.value if getattr(k, "value", None) == str(part)]
                if not found:
                    break
                node = found[0]
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if not 0 <= part < len(node.value):
                    break
                node = node.value[part]
            else:
                break
        return int(node.start_mark.line) + 1


class _Report:
    """Collects problems with where they were written."""

    def __init__(self, source: str, lines: _Lines | None = None):
        self.source = source
        self.lines = lines or _Lines(None)
        self.problems: list[Problem] = []

    def add(self, label: str, path: Path_, key: str | None, value: Any, expected: str) -> None:
        where = f"{self.source} › {label}" if label else self.source
        shown = None if value is _MISSING or value is None else _show(value)
        self.problems.append(WhatIfProblem(where, self.lines.line(path), key, shown, expected))

    def mark(self) -> int:
        return len(self.problems)

    def since(self, mark: int) -> bool:
        return len(self.problems) > mark

    def raise_if_any(self) -> None:
        if self.problems:
            raise ScenarioError(list(dict.fromkeys(self.problems)))


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Mapping | list):
        return yaml.safe_dump(value, allow_unicode=True, default_flow_style=True).strip()
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _as_code(value: Any) -> str | None:
    """A code as the tables keep it: YAML may give 220221 (int) for "220221"."""
    if value is None or isinstance(value, bool | Mapping | list):
        return None
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    text = str(value).strip()
    return text or None


def _suggest(word: str, candidates: Iterable[str]) -> str:
    """did_you_mean over many candidates: those sharing the longest prefix with the word."""
    pool = sorted({c for c in candidates if isinstance(c, str)})
    same_length = [c for c in pool if len(c) == len(word)]  # codes: a county for a county
    if same_length and did_you_mean(word, same_length[:2000] if len(same_length) <= 2000 else []):
        pool = same_length
    if len(pool) > 2000:
        for k in range(len(word), 0, -1):
            narrowed = [c for c in pool if c.startswith(word[:k])]
            if narrowed:
                pool = narrowed[:2000]
                break
        else:
            pool = pool[:2000]
    return did_you_mean(word, pool)


def _keys_problem(
    report: _Report,
    label: str,
    path: Path_,
    mapping: Mapping[str, Any],
    allowed: Sequence[str],
    what: str,
    prefix: str = "",
) -> None:
    for key in mapping:
        if key not in allowed:
            report.add(
                label,
                (*path, key),
                f"{prefix}{key}",
                key,
                f"one of the keys {', '.join(allowed)} of {what}{did_you_mean(str(key), allowed)}"
                " — unknown key",
            )


# --- reading the document ------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class WhatIf:
    """A what-if file read and checked: the base scenario, its variants and solve settings."""

    base: Scenario
    variants: list[Variant]
    path: Path | None = None
    description: str = ""
    solve: Mapping[str, Any] = field(default_factory=dict)
    _lines: _Lines = field(default_factory=lambda: _Lines(None), repr=False)

    @property
    def source(self) -> str:
        return self.path.name if self.path is not None else "what-if"

    def scenarios(self) -> dict[str, Scenario]:
        """Every variant's scenario, re-validated; raises ScenarioError with every problem."""
        return _build(self.base, self.variants, _Report(self.source, self._lines))

    def parameters(self) -> pd.DataFrame:
        """Grid variants' axis values, one row per variant (empty for plain variants)."""
        return parameters_of(self.variants)


def parameters_of(variant_list: Sequence[Variant]) -> pd.DataFrame:
    """Grid variants' axis values, one row per variant (no columns for plain variants)."""
    rows = [dict(v.parameters) for v in variant_list]
    return pd.DataFrame(rows, index=pd.Index([v.name for v in variant_list], name="variant"))


def comparison_table(parameters: pd.DataFrame, results: pd.DataFrame) -> pd.DataFrame:
    """The batch's rows with the grid parameters in front (``comparison.csv``)."""
    return parameters.join(results, how="right") if len(parameters.columns) else results


def parse_variants(
    spec: Mapping[str, Any], *, source: str = "what-if", scenario: Scenario | None = None
) -> tuple[list[Variant], dict[str, Any], str]:
    """A what-if mapping without ``base`` (``variants``, ``grids``, ``solve``, ``description``)
    read and checked: its variants (grids expanded), solve settings and description. With a
    ``scenario``, every change is also checked against it (tables, columns, keys, the rows
    added), without re-validating each variant's whole scenario as ``variants`` does. Raises
    ScenarioError with every problem."""
    report = _Report(source)
    document = {k: v for k, v in spec.items() if k != "base"}
    variant_list, solve, description = _parse(document, report)
    if scenario is not None:
        for variant in variant_list:
            _apply(scenario, variant, report)
    report.raise_if_any()
    return variant_list, solve, description


def load_whatif(path: str | os.PathLike[str]) -> WhatIf:
    """Read a what-if file and check it against its base scenario; every problem at once."""
    from linkage.scenario.io import load

    p = Path(path)
    report = _Report(p.name)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(
            [WhatIfProblem(str(p), None, None, None, f"a readable UTF-8 what-if file ({exc})")]
        ) from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        row = mark.line + 1 if mark is not None else None
        raise ScenarioError(
            [WhatIfProblem(p.name, row, None, None, f"valid YAML ({exc})")]
        ) from None
    report.lines = _Lines(text)
    if not isinstance(document, Mapping):
        report.add("", (), None, type(document).__name__, "a mapping with base and variants")
        report.raise_if_any()
        raise AssertionError  # unreachable

    base: Scenario | None = None
    base_ref = document.get("base", _MISSING)
    if base_ref is _MISSING:
        report.add("", (), "base", _MISSING, "a base scenario (a folder, .xlsx or .json)")
    elif not isinstance(base_ref, str) or not base_ref.strip():
        report.add("", ("base",), "base", base_ref, "a path to the base scenario")
    else:
        base_path = p.parent / base_ref
        if not base_path.exists():
            report.add(
                "",
                ("base",),
                "base",
                base_ref,
                f"an existing scenario folder, .xlsx or .json (relative to {p.name}; "
                f"looked at {base_path})",
            )
        else:
            try:
                base = load(base_path)
            except ScenarioError as exc:
                report.problems.extend(exc.problems)
    variant_list, solve, description = _parse(document, report)
    if base is not None:
        for variant in variant_list:
            _apply(base, variant, report)
    report.raise_if_any()
    assert base is not None
    return WhatIf(base, variant_list, p, description, solve, report.lines)


def variants(
    scenario: Scenario,
    spec: Mapping[str, Any] | Sequence[Mapping[str, Any]] | Sequence[Variant] | WhatIf,
    *,
    name: str = "variant",
    source: str = "what-if",
) -> dict[str, Scenario]:
    """The variants of ``scenario`` that ``spec`` describes, as validated scenarios by name.

    ``spec`` is a what-if mapping (``variants`` and ``grids`` as in a what-if file; a ``base``
    key is ignored: the scenario given is the base), a list of changes (one variant called
    ``name``), a list of ``Variant``, or a ``WhatIf``. Raises ScenarioError with every problem.
    """
    report = _Report(source)
    if isinstance(spec, WhatIf):
        variant_list = list(spec.variants)
        report = _Report(spec.source, spec._lines)
    elif isinstance(spec, Mapping):
        variant_list, _, _ = _parse(spec, report)
    elif isinstance(spec, Sequence) and not isinstance(spec, str):
        if spec and all(isinstance(v, Variant) for v in spec):
            variant_list = [v for v in spec if isinstance(v, Variant)]
        else:
            variant_list, _, _ = _parse(
                {"variants": [{"name": name, "changes": list(spec)}]}, report
            )
    else:
        raise TypeError(f"spec must be a mapping or a list of changes, not {type(spec).__name__}")
    report.raise_if_any()
    return _build(scenario, variant_list, report)


def _parse(
    document: Mapping[str, Any], report: _Report
) -> tuple[list[Variant], dict[str, Any], str]:
    """The variants (grids expanded), the solve settings and the description of a document."""
    _keys_problem(report, "", (), document, TOP_KEYS, "a what-if file")
    description = document.get("description", "")
    if not isinstance(description, str):
        report.add("", ("description",), "description", description, "text")
        description = ""
    solve = _parse_solve(document.get("solve"), report)
    out: list[Variant] = []
    places: list[tuple[str, Path_]] = []  # where each variant was written, for duplicates
    raw_variants = document.get("variants", [])
    if raw_variants is None:
        raw_variants = []
    if not isinstance(raw_variants, list):
        report.add("", ("variants",), "variants", _MISSING, "a list of variants (name, changes)")
        raw_variants = []
    for i, raw in enumerate(raw_variants):
        variant = _parse_variant(raw, i, report)
        if variant is not None:
            out.append(variant)
            places.append((f"variant {variant.name}", ("variants", i, "name")))
    raw_grids = document.get("grids", [])
    if raw_grids is None:
        raw_grids = []
    if not isinstance(raw_grids, list):
        report.add("", ("grids",), "grids", _MISSING, "a list of grids (name, axes)")
        raw_grids = []
    for i, raw in enumerate(raw_grids):
        expanded = _parse_grid(raw, i, report)
        out.extend(expanded)
        grid = raw.get("name") if isinstance(raw, Mapping) else i + 1
        places.extend((f"grid {grid}", ("grids", i, "name")) for _ in expanded)
    if not out and not report.problems:
        report.add("", (), None, _MISSING, "at least one variant (under variants or grids)")
    seen: dict[str, str] = {}
    for v, (label, path) in zip(out, places, strict=True):
        if v.name in seen:
            report.add(
                label, path, "name", v.name, f"a variant name used once (also {seen[v.name]})"
            )
        else:
            seen[v.name] = label
    return out, solve, description


def _parse_solve(raw: Any, report: _Report) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        report.add("", ("solve",), "solve", _MISSING, f"a mapping of {', '.join(SOLVE_KEYS)}")
        return {}
    _keys_problem(report, "", ("solve",), raw, SOLVE_KEYS, "solve", prefix="solve.")
    out: dict[str, Any] = {}
    stages = raw.get("stages")
    if stages is not None:
        if isinstance(stages, str):
            stages = [stages]
        if not isinstance(stages, list) or not stages:
            report.add("", ("solve", "stages"), "solve.stages", stages, "a list of stages")
        else:
            ok = True
            for j, stage in enumerate(stages):
                if stage not in ORDER:
                    ok = False
                    report.add(
                        "",
                        ("solve", "stages", j),
                        f"solve.stages[{j + 1}]",
                        stage,
                        f"one of {', '.join(ORDER)}{did_you_mean(str(stage), ORDER)}",
                    )
            if ok:
                out["stages"] = list(stages)
    checks: dict[str, tuple[Callable[[Any], bool], str]] = {
        "time_limit_s": (lambda v: _is_number(v) and v > 0, "a number of seconds above 0"),
        "seed": (
            lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
            "an integer ≥ 0",
        ),
        "pairing_method": (lambda v: v in PAIRING_METHODS, f"one of {', '.join(PAIRING_METHODS)}"),
        "joint": (lambda v: isinstance(v, bool), "true or false"),
    }
    for key, (ok_value, expected) in checks.items():
        if key in raw:
            if ok_value(raw[key]):
                out[key] = raw[key]
            else:
                report.add("", ("solve", key), f"solve.{key}", raw[key], expected)
    return out


def _name_problem(name: Any) -> str | None:
    if not isinstance(name, str) or not name.strip():
        return "a name (text)"
    if name != name.strip() or name.startswith(".") or _BAD_NAME.search(name) or len(name) > 120:
        return (
            'a name usable as a folder name: no / \\ : * ? " < > |, no leading dot or '
            "surrounding spaces, at most 120 characters"
        )
    return None


def _parse_changes(
    raw: Any, label: str, path: Path_, report: _Report
) -> tuple[list[Mapping[str, Any]], list[tuple[str, Path_]]]:
    """A list of changes, each checked for its kind and keys (well-formed ones are kept)."""
    if raw is None:
        return [], []
    if not isinstance(raw, list):
        report.add(label, path, "changes", _MISSING, "a list of changes")
        return [], []
    changes: list[Mapping[str, Any]] = []
    origins: list[tuple[str, Path_]] = []
    for k, change in enumerate(raw):
        where = f"{label} › change {k + 1}"
        cpath = (*path, k)
        if not isinstance(change, Mapping):
            report.add(
                where,
                cpath,
                None,
                change,
                f"a change: a mapping with one of {', '.join(CHANGE_KINDS)}",
            )
            continue
        kinds = [key for key in change if key in CHANGE_KINDS]
        if len(kinds) != 1:
            if not kinds:
                unknown = [
                    key
                    for key in change
                    if key not in ("note", "by", "where", "rows", "ids", "regions", "value")
                ]
                hint = did_you_mean(str(unknown[0]), CHANGE_KINDS) if unknown else ""
                report.add(
                    where,
                    (*cpath, unknown[0]) if unknown else cpath,
                    str(unknown[0]) if unknown else None,
                    unknown[0] if unknown else _MISSING,
                    f"one of the changes {', '.join(CHANGE_KINDS)}{hint}",
                )
            else:
                report.add(where, cpath, None, ", ".join(kinds), "one kind of change per list item")
            continue
        before = report.mark()
        _keys_problem(report, where, cpath, change, CHANGE_KEYS[kinds[0]], f"a {kinds[0]} change")
        if not report.since(before):
            changes.append(dict(change))
            origins.append((where, cpath))
    return changes, origins


def _parse_variant(raw: Any, i: int, report: _Report) -> Variant | None:
    path: Path_ = ("variants", i)
    if not isinstance(raw, Mapping):
        report.add(
            f"variant {i + 1}", path, None, raw, "a variant: a mapping with name and changes"
        )
        return None
    name = raw.get("name")
    label = f"variant {name}" if isinstance(name, str) and name else f"variant {i + 1}"
    _keys_problem(report, label, path, raw, VARIANT_KEYS, "a variant")
    problem = _name_problem(name)
    if problem:
        report.add(label, (*path, "name"), "name", name if name is not None else _MISSING, problem)
    description = raw.get("description", "")
    if not isinstance(description, str):
        report.add(label, (*path, "description"), "description", description, "text")
        description = ""
    changes, origins = _parse_changes(raw.get("changes"), label, (*path, "changes"), report)
    if problem:
        return None
    return Variant(str(name), tuple(changes), description, {}, tuple(origins))


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def _parse_grid(raw: Any, i: int, report: _Report) -> list[Variant]:
    path: Path_ = ("grids", i)
    if not isinstance(raw, Mapping):
        report.add(f"grid {i + 1}", path, None, raw, "a grid: a mapping with name and axes")
        return []
    gname = raw.get("name")
    label = f"grid {gname}" if isinstance(gname, str) and gname else f"grid {i + 1}"
    _keys_problem(report, label, path, raw, GRID_KEYS, "a grid")
    ok = True
    problem = _name_problem(gname)
    if problem:
        report.add(
            label, (*path, "name"), "name", gname if gname is not None else _MISSING, problem
        )
        ok = False
    description = raw.get("description", "")
    common, common_origins = _parse_changes(raw.get("changes"), label, (*path, "changes"), report)
    axes_raw = raw.get("axes")
    if not isinstance(axes_raw, Mapping) or not axes_raw:
        report.add(
            label,
            (*path, "axes"),
            "axes",
            _MISSING,
            "a mapping of axis name → scale/set with values, or options",
        )
        return []
    # each axis: a list of (value for names and parameters, changes, origins)
    axes: list[tuple[str, list[tuple[Any, list[Mapping[str, Any]], list[tuple[str, Path_]]]]]] = []
    for axis, spec in axes_raw.items():
        apath: Path_ = (*path, "axes", axis)
        alabel = f"{label} › axis {axis}"
        if not isinstance(axis, str) or _BAD_AXIS.search(axis):
            report.add(
                alabel, apath, f"axes.{axis}", axis, "an axis name without . [ ] { } ! : or spaces"
            )
            ok = False
            continue
        if not isinstance(spec, Mapping):
            report.add(
                alabel,
                apath,
                f"axes.{axis}",
                spec,
                "a mapping: scale or set with values, or options",
            )
            ok = False
            continue
        before = report.mark()
        _keys_problem(report, alabel, apath, spec, AXIS_KEYS, "an axis", prefix=f"axes.{axis}.")
        kinds = [k for k in ("scale", "set", "options") if k in spec]
        if len(kinds) != 1:
            report.add(
                alabel, apath, f"axes.{axis}", _MISSING, "exactly one of scale, set or options"
            )
            ok = False
            continue
        kind = kinds[0]
        points: list[tuple[Any, list[Mapping[str, Any]], list[tuple[str, Path_]]]] = []
        if kind == "options":
            options = spec["options"]
            if "values" in spec or "where" in spec:
                report.add(
                    alabel,
                    apath,
                    f"axes.{axis}",
                    _MISSING,
                    "options alone (values and where go with scale or set)",
                )
            if not isinstance(options, Mapping) or not options:
                report.add(
                    alabel,
                    (*apath, "options"),
                    f"axes.{axis}.options",
                    _MISSING,
                    "a mapping of option name → list of changes",
                )
                ok = False
                continue
            for option, changes_raw in options.items():
                changes, origins = _parse_changes(
                    changes_raw, f"{alabel} › option {option}", (*apath, "options", option), report
                )
                points.append((str(option), changes, origins))
        else:
            values = spec.get("values")
            if kind == "set" and "where" in spec:
                report.add(
                    alabel,
                    (*apath, "where"),
                    f"axes.{axis}.where",
                    _MISSING,
                    "where only with scale",
                )
            if not isinstance(spec[kind], str):
                report.add(
                    alabel,
                    (*apath, kind),
                    f"axes.{axis}.{kind}",
                    spec[kind],
                    "a TABLE.COLUMN" if kind == "scale" else "a dotted parameter path",
                )
                ok = False
                continue
            if not isinstance(values, list) or not values:
                report.add(
                    alabel,
                    (*apath, "values"),
                    f"axes.{axis}.values",
                    values if values is not None else _MISSING,
                    "a list of values",
                )
                ok = False
                continue
            for value in values:
                change: dict[str, Any]
                if kind == "scale":
                    change = {"scale": spec["scale"], "by": value}
                    if "where" in spec:
                        change["where"] = spec["where"]
                else:
                    change = {"set": {spec["set"]: value}}
                points.append((value, [change], [(alabel, apath)]))
        if report.since(before):
            ok = False
        axes.append((axis, points))
    if not ok:
        return []
    template = raw.get("names")
    if template is not None and not isinstance(template, str):
        report.add(
            label, (*path, "names"), "names", template, "a name template such as 'budget{budget}'"
        )
        return []
    out: list[Variant] = []
    for combo in itertools.product(*(points for _, points in axes)):
        values = {axis: point[0] for (axis, _), point in zip(axes, combo, strict=True)}
        if template is None:
            shown = ",".join(f"{a}={_format_value(v)}" for a, v in values.items())
            name = f"{gname}[{shown}]"
        else:
            try:
                name = template.format(**values)
            except KeyError as exc:
                key = str(exc.args[0])
                report.add(
                    label,
                    (*path, "names"),
                    "names",
                    key,
                    f"axis names in braces: {', '.join('{' + a + '}' for a in values)}"
                    f"{did_you_mean(key, values)}",
                )
                return []
            except (ValueError, IndexError, TypeError) as exc:
                report.add(
                    label,
                    (*path, "names"),
                    "names",
                    template,
                    f"a str.format template over the axes ({exc})",
                )
                return []
        problem = _name_problem(name)
        if problem:
            report.add(label, (*path, "names"), "names", name, problem)
            return []
        changes = list(common)
        origins = list(common_origins)
        for point in combo:
            changes.extend(point[1])
            origins.extend(point[2])
        out.append(
            Variant(
                name,
                tuple(changes),
                str(description) if description else "",
                values,
                tuple(origins),
            )
        )
    return out


# --- applying changes ------------------------------------------------------------------------


@dataclass
class _State:
    """A variant being made: scenario.yaml as a dict, and the tables (copied when changed)."""

    base: Scenario
    meta: dict[str, Any]
    meta_model: ScenarioMeta
    tables: dict[str, pd.DataFrame]
    changed: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, base: Scenario) -> _State:
        return cls(base, base.meta.model_dump(mode="json"), base.meta, dict(base.tables))

    def put(self, table: str, frame: pd.DataFrame) -> None:
        self.tables[table] = frame.reset_index(drop=True)
        self.changed.add(table)


@dataclass(frozen=True)
class Bad:
    """Reports a problem of one change: the key, the value, what was expected, and where below
    the change it was written (for the YAML line)."""

    report: _Report
    label: str
    path: Path_

    def __call__(self, key: str | None, value: Any, expected: str, sub: Path_ = ()) -> None:
        self.report.add(self.label, (*self.path, *sub), key, value, expected)


def _apply(base: Scenario, variant: Variant, report: _Report) -> _State | None:
    """Apply a variant's changes in order; None (with problems reported) if any is wrong."""
    state = _State.of(base)
    start = report.mark()
    for k, change in enumerate(variant.changes):
        label, path = (
            variant.origins[k]
            if k < len(variant.origins)
            else (f"variant {variant.name} › change {k + 1}", ())
        )
        bad = Bad(report, label, path)
        kind = next((key for key in change if key in CHANGE_KINDS), None)
        if kind is None:
            bad(None, _MISSING, f"one of the changes {', '.join(CHANGE_KINDS)}")
            continue
        APPLY[kind](state, change, bad)
    return None if report.since(start) else state


def _a_column(table: str, word: Any) -> str:
    names = TABLES[table].names
    return f"a column of {table}: {', '.join(names)}{did_you_mean(str(word), names)}"


def _table_name(value: Any, key: str, bad: Bad) -> str | None:
    if isinstance(value, str) and value in TABLES:
        return value
    bad(
        key, value, f"a table: one of {', '.join(TABLES)}{did_you_mean(str(value), TABLES)}", (key,)
    )
    return None


def _table_column(value: Any, key: str, bad: Bad) -> tuple[str, Column] | None:
    text = value if isinstance(value, str) else ""
    table, _, column = text.partition(".")
    if not table or not column:
        bad(key, value, "TABLE.COLUMN, e.g. resources.amount", (key,))
        return None
    name = _table_name(table, key, bad)
    if name is None:
        return None
    declared = TABLES[name]
    numeric = [c.name for c in declared.columns if c.kind in ("int", "float")]
    if column not in declared.column_index:
        bad(
            key,
            column,
            _a_column(name, column),
            (key,),
        )
        return None
    col = declared[column]
    if col.kind not in ("int", "float"):
        bad(key, value, f"a numeric column of {name}: {', '.join(numeric)}", (key,))
        return None
    return name, col


def _present(frame: pd.DataFrame, col: Column) -> list[str]:
    values = frame[col.name].dropna()
    if col.kind == "codes":
        return sorted({p for v in values for p in str(v).split(";") if p})
    return sorted({_show(v) for v in values})


def _match(series: pd.Series, col: Column, wanted: Any) -> np.ndarray | None:
    """Rows equal to ``wanted`` (codes columns: holding it); None when it is the wrong type."""
    if col.kind in ("int", "float"):
        if not _is_number(wanted):
            return None
        return np.asarray(series.to_numpy(dtype=float, na_value=np.nan) == float(wanted))
    if col.kind == "bool":
        if isinstance(wanted, bool):
            flag = wanted
        elif (
            isinstance(wanted, str | int)
            and str(wanted).strip().lower() in TRUE_WORDS | FALSE_WORDS
        ):
            flag = str(wanted).strip().lower() in TRUE_WORDS
        else:
            return None
        return np.asarray(series.to_numpy(dtype=bool) == flag)
    code = _as_code(wanted)
    if code is None:
        return None
    if col.kind == "codes":
        return np.asarray(series.map(lambda v: code in str(v).split(";")).to_numpy(dtype=bool))
    return np.asarray(series.map(lambda v: v == code).to_numpy(dtype=bool))


def _where(state: _State, table: str, where: Any, bad: Bad) -> np.ndarray | None:
    frame = state.tables[table]
    declared = TABLES[table]
    if not isinstance(where, Mapping) or not where:
        bad(
            "where",
            where if where is not None else _MISSING,
            "a mapping of column: value (or [values])",
            ("where",),
        )
        return None
    mask = np.ones(len(frame), dtype=bool)
    ok = True
    for column, wanted in where.items():
        key = f"where.{column}"
        if column not in declared.column_index:
            bad(
                key,
                column,
                _a_column(table, column),
                ("where", column),
            )
            ok = False
            continue
        col = declared[column]
        values = wanted if isinstance(wanted, list) else [wanted]
        if not values:
            bad(key, _MISSING, "at least one value", ("where", column))
            ok = False
            continue
        hits = np.zeros(len(frame), dtype=bool)
        for value in values:
            hit = _match(frame[col.name], col, value)
            if hit is None:
                bad(key, value, f"a {col.kind} value of {table}.{column}", ("where", column))
                ok = False
            elif not hit.any():
                present = _present(frame, col)
                listed = (
                    f" ({', '.join(present[:12])}{', …' if len(present) > 12 else ''})"
                    if present
                    else " (the column is empty)"
                )
                bad(
                    key,
                    value,
                    f"a value found in {table}.{column}{listed}{_suggest(_show(value), present)}",
                    ("where", column),
                )
                ok = False
            else:
                hits |= hit
        mask &= hits
    if ok and not mask.any():
        bad("where", where, f"a where that matches at least one row of {table}", ("where",))
        return None
    return mask if ok else None


def _apply_scale(state: _State, change: Mapping[str, Any], bad: Bad) -> None:
    target = _table_column(change["scale"], "scale", bad)
    by = change.get("by", _MISSING)
    by_ok = _is_number(by) and by >= 0
    if not by_ok:
        bad("by", by, "a factor: a number at least 0, e.g. by: 1.2", ("by",))
    if target is None:
        return
    table, col = target
    frame = state.tables[table]
    mask = np.ones(len(frame), dtype=bool)
    if "where" in change:
        found = _where(state, table, change["where"], bad)
        if found is None:
            return
        mask = found
    if not by_ok:
        return
    values = frame[col.name].to_numpy(dtype=float, na_value=np.nan).copy()
    values[mask] = values[mask] * float(by)
    if col.kind == "int":
        values[mask] = np.round(values[mask])
    out = frame.copy()
    if pd.api.types.is_integer_dtype(frame[col.name].dtype):
        out[col.name] = values.astype(np.int64)
    else:
        out[col.name] = values
    state.put(table, out)


def _references(state: _State, table: str, frame: pd.DataFrame, bad: Bad, rows_key: str) -> None:
    """Added rows must point to rows that exist (in the variant as it is so far)."""
    for col in TABLES[table].columns:
        if not col.references:
            continue
        ref_table, ref_col = col.references.split(".")
        known = set(state.tables[ref_table][ref_col].dropna())
        if ref_table == table:
            known |= set(frame[ref_col].dropna())
        for pos, value in enumerate(frame[col.name]):
            if value is not None and value == value and value not in known:
                bad(
                    f"{rows_key}[{pos + 1}].{col.name}",
                    value,
                    f"a {ref_col} listed in {ref_table}{_suggest(str(value), known)}",
                    (rows_key, pos, col.name),
                )


def _key_tuples(frame: pd.DataFrame, key: Sequence[str]) -> list[tuple[Any, ...]]:
    return list(frame[list(key)].itertuples(index=False, name=None))


def _apply_add(state: _State, change: Mapping[str, Any], bad: Bad) -> None:
    table = _table_name(change["add"], "add", bad)
    rows = change.get("rows", _MISSING)
    if not isinstance(rows, list) or not rows or not all(isinstance(r, Mapping) for r in rows):
        bad("rows", rows, "a list of rows, each a mapping of column: value", ("rows",))
        return
    if table is None:
        return
    declared = TABLES[table]
    start = bad.report.mark()
    for i, row in enumerate(rows):
        for key in row:
            if key not in declared.column_index:
                bad(
                    f"rows[{i + 1}].{key}",
                    key,
                    _a_column(table, key),
                    ("rows", i, key),
                )
    raw = pd.DataFrame.from_records(
        [{k: v for k, v in row.items() if k in declared.column_index} for row in rows]
    ).astype(object)
    sink = _Collector([])
    added = coerce_table(declared, raw, Origin("rows", first_row=1), sink)
    for p in sink.problems:
        if p.severity != "error":
            continue
        if p.row is None:
            bad(
                f"rows.{p.column}" if p.column else "rows",
                p.value if p.value is not None else _MISSING,
                p.expected,
                ("rows",),
            )
        else:
            bad(
                f"rows[{p.row}].{p.column}",
                p.value if p.value is not None else _MISSING,
                p.expected,
                ("rows", p.row - 1),
            )
    _references(state, table, added, bad, "rows")
    current = state.tables[table]
    if declared.key:
        existing = set(_key_tuples(current, declared.key))
        for i, key in enumerate(_key_tuples(added, declared.key)):
            if key in existing:
                shown = "/".join(map(str, key))
                bad(
                    f"rows[{i + 1}].{'/'.join(declared.key)}",
                    shown,
                    f"a {'/'.join(declared.key)} not yet in {table} (drop the row first to replace "
                    "it)",
                    ("rows", i),
                )
    if bad.report.since(start):
        return
    merged = added if current.empty else pd.concat([current, added], ignore_index=True)
    state.put(table, merged[declared.names])


def _cascade(state: _State, table: str, dropped: pd.DataFrame) -> None:
    """Drop rows that must point to dropped rows; blank optional references to them."""
    key = TABLES[table].key
    if len(key) != 1 or dropped.empty:
        return
    gone = set(dropped[key[0]].dropna())
    for other_name, other in TABLES.items():
        if other_name == table:
            continue  # a region's children are the planner's to drop
        for col in other.columns:
            if col.references != f"{table}.{key[0]}":
                continue
            frame = state.tables[other_name]
            hit = frame[col.name].isin(gone).to_numpy(dtype=bool)
            if not hit.any():
                continue
            if col.required:
                state.put(other_name, frame[~hit])
                _cascade(state, other_name, frame[hit])
            else:
                out = frame.copy()
                out[col.name] = out[col.name].astype(object).where(~hit, None)
                state.put(other_name, out)


def _apply_drop(state: _State, change: Mapping[str, Any], bad: Bad) -> None:
    table = _table_name(change["drop"], "drop", bad)
    if ("ids" in change) == ("where" in change):
        bad(None, _MISSING, "either ids (the keys of the rows to drop) or where", ())
        return
    if table is None:
        return
    frame = state.tables[table]
    declared = TABLES[table]
    if "where" in change:
        mask = _where(state, table, change["where"], bad)
        if mask is None:
            return
    else:
        ids = change["ids"]
        if not isinstance(ids, list):
            ids = [ids]
        key = declared.key
        if not ids:
            bad("ids", _MISSING, f"at least one {'/'.join(key)}", ("ids",))
            return
        existing = _key_tuples(frame, key)
        known = set(existing)
        wanted: set[tuple[Any, ...]] = set()
        ok = True
        for i, item in enumerate(ids):
            where_key = f"ids[{i + 1}]"
            if len(key) == 1:
                code = _as_code(
                    item[key[0]] if isinstance(item, Mapping) and key[0] in item else item
                )
                if code is None:
                    bad(where_key, item, f"the {key[0]} of a row of {table}", ("ids", i))
                    ok = False
                    continue
                wanted_key: tuple[Any, ...] = (code,)
            else:
                if not isinstance(item, Mapping) or set(item) != set(key):
                    bad(
                        where_key,
                        item,
                        f"a mapping of {', '.join(key)} (the key of {table})",
                        ("ids", i),
                    )
                    ok = False
                    continue
                wanted_key = tuple(_as_code(item[k]) for k in key)
            if wanted_key not in known:
                shown = "/".join(str(k) for k in wanted_key)
                bad(
                    where_key,
                    shown,
                    f"the {'/'.join(key)} of a row of {table}"
                    f"{_suggest(shown, ('/'.join(map(str, k)) for k in known))}",
                    ("ids", i),
                )
                ok = False
            wanted.add(wanted_key)
        if not ok:
            return
        mask = np.array([k in wanted for k in existing], dtype=bool)
    state.put(table, frame[~mask])
    _cascade(state, table, frame[mask])


def _as_model(annotation: Any) -> type[BaseModel] | None:
    inner = _unwrap_optional(annotation)
    return inner if isinstance(inner, type) and issubclass(inner, BaseModel) else None


def _unwrap_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _resolve(parts: Sequence[str]) -> tuple[bool, int, str]:
    """Check a dotted path into scenario.yaml: (whether it names a section, -1, "") when it is
    right, else (False, the index of the wrong part, what was expected there)."""
    annotation: Any = ScenarioMeta
    for i, part in enumerate(parts):
        model = _as_model(annotation)
        if model is not None:
            if part not in model.model_fields:
                fields = list(model.model_fields)
                return (
                    False,
                    i,
                    f"one of the keys {', '.join(fields)}{did_you_mean(part, fields)}",
                )
            annotation = model.model_fields[part].annotation
            continue
        inner = _unwrap_optional(annotation)
        if get_origin(inner) is dict:
            annotation = get_args(inner)[1]
            continue
        here = ".".join(parts[:i])
        return (False, i, f"nothing below {here}: it is a value, not a section")
    return (_as_model(annotation) is not None, -1, "")


def _merge(into: dict[str, Any], value: Mapping[str, Any]) -> None:
    for key, item in value.items():
        if isinstance(item, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], item)
        else:
            into[key] = deepcopy(item)


def _apply_set(state: _State, change: Mapping[str, Any], bad: Bad) -> None:
    items = change["set"]
    if not isinstance(items, Mapping) or not items:
        bad(
            "set",
            items if items is not None else _MISSING,
            "a mapping of dotted.path: value, e.g. policy.funds.per_worker_yuan: 600000",
            ("set",),
        )
        return
    for path, value in items.items():
        where: Path_ = ("set", path)
        parts = str(path).split(".")
        if any(not p for p in parts):
            bad(str(path), path, "a dotted path such as policy.pairing.cross_province", where)
            continue
        section, bad_at, message = _resolve(parts)
        if bad_at >= 0:
            bad(".".join(parts[: bad_at + 1]), parts[bad_at], message, where)
            continue
        meta = deepcopy(state.meta)
        node: dict[str, Any] = meta
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        if section and isinstance(value, Mapping) and isinstance(node.get(parts[-1]), dict):
            _merge(node[parts[-1]], value)
        else:
            node[parts[-1]] = deepcopy(value)
        parsed, problems = meta_problems(meta, "scenario.yaml")
        if problems or parsed is None:
            for p in problems:
                bad(
                    p.column or str(path),
                    p.value if p.value is not None else value,
                    p.expected,
                    where,
                )
            continue
        state.meta, state.meta_model = meta, parsed


def _apply_designate(state: _State, change: Mapping[str, Any], bad: Bad) -> None:
    flag = change["designate"]
    ok = True
    if flag not in FLAGS:
        bad(
            "designate",
            flag,
            f"one of {', '.join(FLAGS)}{did_you_mean(str(flag), FLAGS)}",
            ("designate",),
        )
        ok = False
    value = change.get("value", True)
    if not isinstance(value, bool):
        bad("value", value, "true (set the flag) or false (clear it)", ("value",))
        ok = False
    codes = change.get("regions", _MISSING)
    if not isinstance(codes, list):
        codes = [codes] if codes is not _MISSING else []
    if not codes:
        bad("regions", _MISSING, "a list of region codes", ("regions",))
        return
    regions = state.tables["regions"]
    known = set(regions["code"])
    wanted: set[str] = set()
    for i, raw in enumerate(codes):
        code = _as_code(raw)
        if code is None or code not in known:
            bad(
                f"regions[{i + 1}]",
                raw,
                f"a code listed in regions{_suggest(str(raw), known)}",
                ("regions", i),
            )
            ok = False
        else:
            wanted.add(code)
    if not ok:
        return
    out = regions.copy()
    hit = out["code"].isin(wanted).to_numpy(dtype=bool)
    flags = out[flag].to_numpy(dtype=bool).copy()
    flags[hit] = bool(value)
    out[flag] = flags
    state.put("regions", out)


APPLY: dict[str, Callable[[_State, Mapping[str, Any], Bad], None]] = {
    "scale": _apply_scale,
    "add": _apply_add,
    "drop": _apply_drop,
    "set": _apply_set,
    "designate": _apply_designate,
}


def _build(base: Scenario, variant_list: Sequence[Variant], report: _Report) -> dict[str, Scenario]:
    """Apply and re-validate every variant, collecting every problem before raising."""
    out: dict[str, Scenario] = {}
    for variant in variant_list:
        state = _apply(base, variant, report)
        if state is None:
            continue
        meta = state.meta_model
        if meta.name == base.meta.name:
            meta = meta.model_copy(update={"name": f"{base.meta.name} [{variant.name}]"})
        if not state.changed and state.meta_model is base.meta:
            out[variant.name] = dataclasses.replace(base, meta=meta)  # only renamed: valid
            continue
        try:
            # Scenario.replace: the changed tables over the base's, all re-validated
            out[variant.name] = Scenario.from_tables(meta, state.tables)
        except ScenarioError as exc:
            for p in exc.problems:
                if p.severity != "error":
                    continue
                # the variant's own tables: rows and columns as if it were saved as CSV
                report.problems.append(
                    dataclasses.replace(
                        p, source=f"{report.source} › variant {variant.name} › {p.source}"
                    )
                )
    report.raise_if_any()
    return out


# --- the command -----------------------------------------------------------------------------


def run_whatif(
    path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    executor: Any = "local",
    scheduler: str | None = None,
    *,
    force: bool = False,
    progress: bool = True,
    max_workers: int | None = None,
) -> pd.DataFrame:
    """Solve every variant of a what-if file; write ``comparison.csv``, the comparison report
    ``comparison.html`` and each variant's plan folder (with ``plan.xlsx`` and ``report.html``)
    under ``out_dir/variants/NAME``. The folder is replaced as a whole at the end (it must not
    exist unless ``force``). Returns the comparison table."""
    from linkage.batch import batch
    from linkage.plan.comparison_report import render_comparison_report
    from linkage.scenario.io import atomic_dir

    whatif = load_whatif(path)
    scenarios = whatif.scenarios()
    with atomic_dir(Path(out_dir), force=force) as tmp:
        results = batch(
            scenarios,
            executor=executor,
            scheduler=scheduler,
            progress=progress,
            max_workers=max_workers,
            plans_dir=tmp / "variants",
            **whatif.solve,
        )
        parameters = whatif.parameters()
        table = comparison_table(parameters, results)
        table.to_csv(tmp / "comparison.csv", encoding="utf-8")
        page = render_comparison_report(
            table,
            title=f"{whatif.base.name} · {whatif.source}",
            parameters=[str(c) for c in parameters.columns],
            description=whatif.description,
        )
        (tmp / "comparison.html").write_text(page, encoding="utf-8")
    return table


def whatif_main(
    path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    executor: str = "local",
    scheduler: str | None = None,
    *,
    force: bool = False,
    progress: bool = True,
) -> int:
    """``linkage whatif FILE --out DIR``: solve, write, print a summary; the exit code is 0 when
    every variant solved, 3 when one did not (its row in comparison.csv says why)."""
    from linkage.cli import EXIT_NOT_SOLVED, EXIT_OK, format_table

    table = run_whatif(path, out_dir, executor, scheduler, force=force, progress=progress)
    shown = [
        c
        for c in ("targets_paired", "need_coverage", "volunteer_hours_covered", "funds_covered")
        if c in table.columns
    ]
    rows = []
    for name, row in table.iterrows():
        cells = [str(name), "yes" if bool(row["solved"]) else "no"]
        cells += ["—" if pd.isna(row[c]) else f"{row[c]:.3f}" for c in shown]
        cells.append(f"{row['total_s']:.1f}s" if pd.notna(row["total_s"]) else "—")
        rows.append(cells)
    print(format_table(rows, ["variant", "solved", *shown, "time"]))
    print(f"{len(table)} variant(s) → {Path(out_dir) / 'comparison.csv'}")
    print(f"comparison report → {Path(out_dir) / 'comparison.html'}")
    failed = table[~table["solved"].astype(bool)]
    for name, row in failed.iterrows():
        print(f"not solved: {name}: {row['error']}", file=sys.stderr)
    return EXIT_NOT_SOLVED if len(failed) else EXIT_OK
