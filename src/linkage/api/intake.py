"""Uploaded scenarios to ``Scenario`` objects, holding them to the limits on the way.

JSON documents go through ``from_document``, workbooks through ``load_xlsx`` and zips of CSVs
through ``load_folder`` — the CLI's own readers, so a scenario has the same problems either way.
Archives (a zip, and an .xlsx, which is one) are checked before anything is decompressed: number
of entries, unsafe paths, total uncompressed size and compression ratio.
"""

from __future__ import annotations

import csv
import io
import json
import re
import stat
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from linkage.api.errors import ApiError
from linkage.api.settings import Settings
from linkage.scenario.core import Scenario
from linkage.scenario.io import META_FILE, META_SHEET, README_SHEET, from_document, load_folder
from linkage.scenario.io import load_xlsx as _load_xlsx
from linkage.scenario.problems import Problem

RATIO_FLOOR = 1024 * 1024  # archives smaller than this expanded are never called bombs
SAFE_NAME = re.compile(r"[^\w.\- ()\u4e00-\u9fff]+")


def too_many_rows(
    settings: Settings, counts: Mapping[str, int], source: str, where: str = "{source} › {name}"
) -> None:
    """413 when a table is over the row limit; ``where`` formats each problem's source."""
    over = {name: n for name, n in counts.items() if n > settings.max_rows_per_table}
    if over:
        limit = settings.max_rows_per_table
        raise ApiError(
            413,
            "too_many_rows",
            f"{len(over)} table(s) over the limit of {limit} rows",
            [
                Problem(
                    where.format(source=source, name=name),
                    None,
                    None,
                    str(n),
                    f"at most {limit} rows",
                )
                for name, n in sorted(over.items())
            ],
        )


def _bad_archive(code: str, message: str, source: str, value: str | None = None) -> ApiError:
    return ApiError(400, code, message, [Problem(source, None, None, value, message)])


def open_archive(data: bytes, settings: Settings, source: str) -> zipfile.ZipFile:
    """The archive, once it is known to be a zip that is safe to expand."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise _bad_archive("bad_archive", f"a readable zip archive ({exc})", source) from None
    infos = archive.infolist()
    if len(infos) > settings.max_zip_entries:
        raise _bad_archive(
            "archive_too_many_entries",
            f"at most {settings.max_zip_entries} entries in the archive",
            source,
            str(len(infos)),
        )
    total = 0
    for info in infos:
        name = info.filename
        parts = re.split(r"[\\/]", name)
        if (
            name.startswith(("/", "\\"))
            or ".." in parts
            or (parts and re.fullmatch(r"[A-Za-z]:", parts[0]))
            or "\x00" in name
            or stat.S_ISLNK(info.external_attr >> 16)
        ):
            raise _bad_archive(
                "unsafe_archive_entry",
                "archive entries with relative paths inside the archive (no '..', no absolute "
                "paths, no links)",
                source,
                name,
            )
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > RATIO_FLOOR and ratio > settings.max_zip_ratio:
            raise _bad_archive(
                "zip_bomb",
                f"a compression ratio of at most {settings.max_zip_ratio:g}",
                source,
                f"{name}: {ratio:.0f}",
            )
    if total > settings.max_uncompressed_bytes:
        raise _bad_archive(
            "zip_bomb",
            f"at most {settings.max_uncompressed_bytes} bytes uncompressed",
            source,
            str(total),
        )
    return archive


def _read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, source: str) -> bytes:
    """The entry's bytes; zipfile stops at the declared size and checks the CRC."""
    try:
        return archive.read(info)
    except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError) as exc:
        raise _bad_archive(
            "bad_archive", f"a readable archive entry ({exc})", source, info.filename
        ) from None


def safe_filename(name: str | None, default: str) -> str:
    base = PurePosixPath((name or "").replace("\\", "/")).name
    base = SAFE_NAME.sub("_", base).strip(" .")
    return base or default


def scenario_from_json(body: bytes, settings: Settings, source: str = "scenario.json") -> Scenario:
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(
            400,
            "invalid_json",
            f"the body is not a UTF-8 JSON document ({exc})",
            [
                Problem(
                    source,
                    getattr(exc, "lineno", None),
                    None,
                    None,
                    f"a UTF-8 JSON document ({exc})",
                )
            ],
        ) from None
    tables = document.get("tables") if isinstance(document, dict) else None
    if isinstance(tables, dict):
        counts = {str(k): len(v) for k, v in tables.items() if isinstance(v, list)}
        too_many_rows(settings, counts, source, "{source} › tables.{name}")
    return from_document(document, source=source)


def _csv_rows(data: bytes, limit: int) -> int:
    """Rows after the header (quoted newlines counted right), stopping past ``limit``."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return 0  # the reader reports the encoding
    n = -1
    for n, _ in enumerate(csv.reader(io.StringIO(text))):
        if n > limit:
            break
    return max(n, 0)


def scenario_from_zip(data: bytes, settings: Settings, source: str = "scenario.zip") -> Scenario:
    """A zip of a scenario folder: scenario.yaml and CSVs at the top or in one top folder."""
    archive = open_archive(data, settings, source)
    files = [
        i
        for i in archive.infolist()
        if not i.is_dir()
        and not i.filename.startswith("__MACOSX/")
        and not PurePosixPath(i.filename).name.startswith(".")
    ]
    paths = [PurePosixPath(i.filename) for i in files]
    tops = {p.parts[0] for p in paths if len(p.parts) > 1}
    strip = 1 if paths and all(len(p.parts) > 1 for p in paths) and len(tops) == 1 else 0
    wanted: dict[str, zipfile.ZipInfo] = {}
    for info, path in zip(files, paths, strict=True):
        rel = path.parts[strip:]
        if len(rel) != 1 or not (rel[0] == META_FILE or rel[0].lower().endswith(".csv")):
            continue  # like a folder: only scenario.yaml and the CSVs beside it are read
        if rel[0] in wanted:
            raise _bad_archive(
                "bad_archive", "each file at most once in the archive", source, info.filename
            )
        wanted[rel[0]] = info
    with tempfile.TemporaryDirectory(prefix="linkage-upload-") as tmp:
        folder = Path(tmp)
        counts = {}
        for name, info in wanted.items():
            content = _read_entry(archive, info, source)
            if name != META_FILE:
                counts[Path(name).stem] = _csv_rows(content, settings.max_rows_per_table)
            (folder / name).write_bytes(content)
        too_many_rows(settings, counts, source)
        return load_folder(folder)


def _sheet_rows(path: Path, limit: int) -> dict[str, int]:
    """Data rows per table sheet (header excluded), counted from the cells, stopping past limit."""
    from openpyxl import load_workbook

    counts: dict[str, int] = {}
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception:  # damaged workbooks are reported by load_xlsx
        return counts
    try:
        for sheet in workbook.worksheets:
            if sheet.title in (META_SHEET, README_SHEET):
                continue
            reset = getattr(sheet, "reset_dimensions", None)
            if reset is not None:
                reset()  # ignore the declared dimension; count the rows really there
            n = -1
            for n, _ in enumerate(sheet.iter_rows(values_only=True)):
                if n > limit:
                    break
            counts[sheet.title] = max(n, 0)
    finally:
        workbook.close()
    return counts


def scenario_from_xlsx(data: bytes, settings: Settings, filename: str | None = None) -> Scenario:
    name = safe_filename(filename, "scenario.xlsx")
    if not name.lower().endswith((".xlsx", ".xlsm")):
        name += ".xlsx"
    open_archive(data, settings, name).close()
    with tempfile.TemporaryDirectory(prefix="linkage-upload-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        too_many_rows(settings, _sheet_rows(path, settings.max_rows_per_table), name)
        return _load_xlsx(path)


def scenario_row(scenario: Scenario) -> dict[str, Any]:
    """What is stored of a valid scenario: its name, document, row counts and warnings."""
    from linkage.scenario.io import to_document

    return {
        "name": scenario.name,
        "document": to_document(scenario),
        "row_counts": {k: int(v) for k, v in scenario.summary().items()},
        "warnings": [p.to_dict() for p in scenario.warnings],
    }
