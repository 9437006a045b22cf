"""Reading and writing scenarios: a folder of CSVs + scenario.yaml, one .xlsx, or one JSON.

Readers keep every cell as the user wrote it (text) and leave all checking to ``validate``, so
that problems are reported with the file, sheet and row the user sees. Writers are atomic.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from openpyxl.utils import get_column_letter

from linkage.scenario.core import Scenario
from linkage.scenario.problems import Problem, ScenarioError
from linkage.scenario.tables import TABLES
from linkage.scenario.validate import Origin, validate

META_FILE = "scenario.yaml"
META_SHEET = "scenario"
README_SHEET = "README"


def load(path: str | os.PathLike[str]) -> Scenario:
    """Load a scenario from a folder, an .xlsx workbook or a .json document."""
    p = Path(path)
    if p.is_dir():
        return load_folder(p)
    if not p.exists():
        raise ScenarioError(
            [Problem(str(p), None, None, None, "an existing folder, .xlsx or .json file")]
        )
    if p.suffix.lower() in (".xlsx", ".xlsm"):
        return load_xlsx(p)
    if p.suffix.lower() == ".json":
        return load_json(p)
    if p.name == META_FILE:
        return load_folder(p.parent)
    raise ScenarioError(
        [Problem(str(p), None, None, p.suffix, "a folder, a .xlsx workbook or a .json document")]
    )


def _read_yaml(path: Path) -> tuple[dict[str, Any] | None, list[Problem]]:
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        return None, [Problem(path.name, None, None, None, f"UTF-8 text ({exc.reason})")]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        row = mark.line + 1 if mark is not None else None
        return None, [Problem(path.name, row, None, None, f"valid YAML ({exc})")]
    if content is None:
        content = {}
    if not isinstance(content, dict):
        return None, [
            Problem(
                path.name,
                None,
                None,
                type(content).__name__,
                "a mapping of keys (name, year, sources, policy)",
            )
        ]
    return content, []


def read_csv_text(path: Path) -> pd.DataFrame:
    """Every cell as text; empty cells as empty strings (validation decides what they mean)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


def load_folder(folder: Path) -> Scenario:
    problems: list[Problem] = []
    meta_path = folder / META_FILE
    meta: dict[str, Any] | None = None
    if not meta_path.exists():
        problems.append(
            Problem(
                str(meta_path),
                None,
                None,
                None,
                "a scenario.yaml naming the scenario and its policy",
            )
        )
    else:
        meta, found = _read_yaml(meta_path)
        problems.extend(found)
    tables: dict[str, pd.DataFrame] = {}
    origins: dict[str, Origin] = {}
    for csv in sorted(folder.glob("*.csv")):
        try:
            tables[csv.stem] = read_csv_text(csv)
        except (UnicodeDecodeError, pd.errors.ParserError) as exc:
            problems.append(Problem(csv.name, None, None, None, f"a UTF-8 CSV table ({exc})"))
        origins[csv.stem] = Origin(csv.name)
    return _validated(meta, tables, origins, problems, META_FILE)


def _validated(
    meta: Mapping[str, Any] | None,
    tables: Mapping[str, pd.DataFrame],
    origins: Mapping[str, Origin],
    problems: list[Problem],
    meta_source: str,
) -> Scenario:
    try:
        scenario = validate(
            meta if meta is not None else {"name": "?"}, tables, origins, meta_source
        )
    except ScenarioError as exc:
        raise ScenarioError(problems + exc.problems) from None
    if problems:
        raise ScenarioError(problems + list(scenario.warnings))
    return scenario


def load_xlsx(path: Path) -> Scenario:
    problems: list[Problem] = []
    try:
        sheets = pd.read_excel(
            path, sheet_name=None, dtype=str, keep_default_na=False, engine="openpyxl"
        )
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise ScenarioError(
            [
                Problem(
                    path.name,
                    None,
                    None,
                    None,
                    f"a readable .xlsx workbook ({type(exc).__name__}: {exc})",
                )
            ]
        ) from None
    meta: dict[str, Any] | None = None
    if META_SHEET in sheets:
        meta, found = _meta_from_sheet(sheets.pop(META_SHEET), f"{path.name} › {META_SHEET}")
        problems.extend(found)
    else:
        problems.append(
            Problem(
                path.name,
                None,
                None,
                None,
                f"a sheet named {META_SHEET!r} holding scenario.yaml in cell A1",
            )
        )
    sheets.pop(README_SHEET, None)
    tables: dict[str, pd.DataFrame] = {}
    origins: dict[str, Origin] = {}
    for name, frame in sheets.items():
        headers = [str(c).strip() for c in frame.columns]
        if name in TABLES:
            headers = sheet_headers(name, headers)
        tables[name] = frame.set_axis(headers, axis=1)
        letters = {h: get_column_letter(i + 1) for i, h in reversed(list(enumerate(headers)))}
        origins[name] = Origin(f"{path.name} › {name}", letters=letters)
    return _validated(meta, tables, origins, problems, f"{path.name} › {META_SHEET}")


def sheet_headers(table: str, headers: list[str]) -> list[str]:
    """Column names from a sheet's header cells, which may be bilingual as the template writes
    them ("population\n常住人口 (人)"): a cell names a column when it is the column's name, or
    when its first or last word is, or when its first word is the column's Chinese label (unique
    in the table). Other cells are kept as they are (validation warns about them); a column named
    twice keeps only its first cell."""
    declared = TABLES[table]
    by_label: dict[str, str] = {}
    for col in declared.columns:
        by_label[col.label_zh] = col.name if col.label_zh not in by_label else ""
    out: list[str] = []
    for header in headers:
        words = header.split()
        name = header
        if header not in declared.column_index and words:
            for candidate in (words[0], words[-1], by_label.get(words[0], "")):
                if candidate in declared.column_index:
                    name = candidate
                    break
        out.append(header if name in out else name)
    return out


def _meta_from_sheet(
    sheet: pd.DataFrame, source: str
) -> tuple[dict[str, Any] | None, list[Problem]]:
    # scenario.yaml is kept one line per row in the first column, so no cell limit applies
    lines = sheet.iloc[:, 0].astype(str).tolist() if len(sheet.columns) else []
    try:
        content = yaml.safe_load("\n".join(lines)) if lines else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        row = mark.line + 2 if mark is not None else None  # the sheet's row 1 is the header
        return None, [Problem(source, row, None, None, f"valid YAML ({exc})")]
    return (content if isinstance(content, dict) else {}), []


def load_json(path: Path) -> Scenario:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ScenarioError(
            [
                Problem(
                    path.name,
                    getattr(exc, "lineno", None),
                    None,
                    None,
                    f"a UTF-8 JSON document ({exc})",
                )
            ]
        ) from None
    return from_document(document, source=path.name)


def from_document(document: Any, source: str = "scenario.json") -> Scenario:
    """A scenario from the JSON form: {"scenario": {...yaml...}, "tables": {name: [rows]}}."""
    if not isinstance(document, dict):
        raise ScenarioError(
            [
                Problem(
                    source,
                    None,
                    None,
                    type(document).__name__,
                    'an object with "scenario" and "tables"',
                )
            ]
        )
    problems: list[Problem] = []
    unknown = set(document) - {"scenario", "tables"}
    for key in sorted(unknown):
        problems.append(Problem(source, None, key, key, 'only the keys "scenario" and "tables"'))
    meta = document.get("scenario")
    if not isinstance(meta, dict):
        problems.append(Problem(source, None, "scenario", None, "an object (scenario.yaml)"))
        meta = None
    raw_tables = document.get("tables", {})
    tables: dict[str, pd.DataFrame] = {}
    origins: dict[str, Origin] = {}
    if not isinstance(raw_tables, dict):
        problems.append(Problem(source, None, "tables", None, "an object of table name → rows"))
        raw_tables = {}
    for name, rows in raw_tables.items():
        where = f"{source} › tables.{name}"
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            problems.append(Problem(where, None, None, None, "a list of row objects"))
            continue
        tables[name] = (
            pd.DataFrame.from_records(rows).astype(object)
            if rows
            else pd.DataFrame(columns=TABLES[name].names if name in TABLES else [])
        )
        origins[name] = Origin(where, first_row=1)
    return _validated(meta, tables, origins, problems, f"{source} › scenario")


# --- writing -----------------------------------------------------------------------------------


def meta_dict(scenario: Scenario) -> dict[str, Any]:
    return scenario.meta.model_dump(mode="json")


def _text_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Tables as the user would type them: no trailing '.0' on whole numbers, blanks for missing."""
    out = frame.copy()
    for name in out.columns:
        col = out[name]
        if col.dtype == bool:
            out[name] = col.map({True: "true", False: "false"})
        elif pd.api.types.is_float_dtype(col):
            out[name] = col.map(_number_text)
        else:
            out[name] = col.astype(object).map(lambda v: "" if v is None else str(v))
    return out


def _number_text(value: float) -> str:
    if value is None or math.isnan(value):
        return ""
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


@contextmanager
def atomic_dir(target: Path, *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; on success it replaces ``target`` at once."""
    target = Path(target)
    if target.exists() and not force:
        raise FileExistsError(f"{target} exists (use force to overwrite)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            old = target.with_name(f".{target.name}.old.{os.getpid()}")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_folder(scenario: Scenario, folder: str | os.PathLike[str], *, force: bool = False) -> None:
    with atomic_dir(Path(folder), force=force) as tmp:
        (tmp / META_FILE).write_text(
            yaml.safe_dump(meta_dict(scenario), allow_unicode=True, sort_keys=False),
            encoding="utf-8",
        )
        for name, frame in scenario.tables.items():
            if TABLES[name].optional and frame.empty:
                continue
            _text_table(frame).to_csv(tmp / f"{name}.csv", index=False, encoding="utf-8")


def save_xlsx(scenario: Scenario, path: str | os.PathLike[str]) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".xlsx", dir=target.parent)
    os.close(fd)
    try:
        with pd.ExcelWriter(tmp, engine="openpyxl") as writer:
            meta_text = yaml.safe_dump(meta_dict(scenario), allow_unicode=True, sort_keys=False)
            pd.DataFrame({META_FILE: meta_text.splitlines()}).to_excel(
                writer, sheet_name=META_SHEET, index=False
            )
            for name, frame in scenario.tables.items():
                if TABLES[name].optional and frame.empty:
                    continue
                _text_table(frame).to_excel(writer, sheet_name=name, index=False)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def to_document(scenario: Scenario) -> dict[str, Any]:
    tables = {}
    for name, frame in scenario.tables.items():
        if TABLES[name].optional and frame.empty:
            continue
        text = _text_table(frame)
        tables[name] = text.to_dict(orient="records")
    return {"scenario": meta_dict(scenario), "tables": tables}


def save_json(scenario: Scenario, path: str | os.PathLike[str]) -> None:
    data = json.dumps(to_document(scenario), ensure_ascii=False, indent=1).encode("utf-8")
    atomic_write_bytes(Path(path), data)


def save(scenario: Scenario, path: str | os.PathLike[str], *, force: bool = False) -> None:
    """Save to a folder, or to one .xlsx / .json file, chosen by the path's suffix."""
    p = Path(path)
    if p.suffix.lower() == ".xlsx":
        save_xlsx(scenario, p)
    elif p.suffix.lower() == ".json":
        save_json(scenario, p)
    else:
        save_folder(scenario, p, force=force)
