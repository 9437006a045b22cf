"""A small, fast .xlsx writer for large plain tables (SpreadsheetML, ECMA-376).

openpyxl builds every cell as an object and serializes it through an XML tree, about 20 µs a
cell here; a plan's 100,000-row tables then take tens of seconds. This writer formats whole
columns as XML text with list comprehensions (about 1 µs a cell) and streams the sheets into the
zip. It writes only what plan.xlsx needs: numbers, booleans and inline strings, cell styles
(number format, bold / title fonts, a header fill), column widths, a frozen header and an
auto-filter. Reading the result back with openpyxl or pandas is how the tests check it.
"""

from __future__ import annotations

import math
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from openpyxl.utils import get_column_letter

MAX_ROWS = 1_048_576
MAX_CELL_TEXT = 32_767  # Excel's limit on a cell's text
CHUNK_ROWS = 20_000  # rows formatted and compressed at a time
# XML 1.0 forbids these characters even escaped
ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
OFFICE_DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
CT_SHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
CT_BOOK = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
CT_STYLES = "application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"
XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

BUILTIN_FORMATS: dict[str, int] = {
    "General": 0,
    "0": 1,
    "0.00": 2,
    "#,##0": 3,
    "#,##0.00": 4,
    "0%": 9,
    "0.00%": 10,
    "@": 49,
}
FONTS: dict[str, str] = {
    "normal": '<font><sz val="11"/><name val="Calibri"/><family val="2"/></font>',
    "bold": '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font>',
    "title": '<font><b/><sz val="14"/><name val="Calibri"/><family val="2"/></font>',
    "section": '<font><b/><sz val="12"/><name val="Calibri"/><family val="2"/></font>',
}
HEADER_FILL = "DDEBF7"


@dataclass
class Styles:
    """Cell formats (xf records): number format, font and fill; 0 is the default."""

    xfs: list[tuple[str, str, str | None]] = field(
        default_factory=lambda: [("General", "normal", None)]
    )

    def get(
        self, number_format: str | None = None, font: str = "normal", fill: str | None = None
    ) -> int:
        key = (number_format or "General", font, fill)
        if key not in self.xfs:
            self.xfs.append(key)
        return self.xfs.index(key)

    def xml(self) -> str:
        custom: dict[str, int] = {}
        for fmt, _, _ in self.xfs:
            if fmt not in BUILTIN_FORMATS and fmt not in custom:
                custom[fmt] = 164 + len(custom)
        fonts = list(FONTS)
        fills = [None, "gray125", *sorted({f for _, _, f in self.xfs if f})]
        parts = [XML_HEAD, f'<styleSheet xmlns="{MAIN_NS}">']
        if custom:
            parts.append(f'<numFmts count="{len(custom)}">')
            parts += [
                f"<numFmt numFmtId={quoteattr(str(i))} formatCode={quoteattr(code)}/>"
                for code, i in custom.items()
            ]
            parts.append("</numFmts>")
        parts.append(f'<fonts count="{len(fonts)}">{"".join(FONTS.values())}</fonts>')
        parts.append(f'<fills count="{len(fills)}">')
        parts.append('<fill><patternFill patternType="none"/></fill>')
        parts.append('<fill><patternFill patternType="gray125"/></fill>')
        parts += [
            f'<fill><patternFill patternType="solid"><fgColor rgb="FF{rgb}"/>'
            '<bgColor indexed="64"/></patternFill></fill>'
            for rgb in fills[2:]
        ]
        parts.append("</fills>")
        parts.append('<borders count="1"><border><left/><right/><top/><bottom/><diagonal/>')
        parts.append("</border></borders>")
        parts.append('<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" ')
        parts.append('borderId="0"/></cellStyleXfs>')
        parts.append(f'<cellXfs count="{len(self.xfs)}">')
        for fmt, font, fill in self.xfs:
            num = BUILTIN_FORMATS.get(fmt, custom.get(fmt, 0))
            font_id = fonts.index(font)
            fill_id = fills.index(fill)
            applied = (
                (' applyNumberFormat="1"' if num else "")
                + (' applyFont="1"' if font_id else "")
                + (' applyFill="1"' if fill_id else "")
            )
            parts.append(
                f'<xf numFmtId="{num}" fontId="{font_id}" fillId="{fill_id}" borderId="0" '
                f'xfId="0"{applied}/>'
            )
        parts.append("</cellXfs>")
        parts.append('<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>')
        parts.append("</cellStyles></styleSheet>")
        return "".join(parts)


# --- cells -------------------------------------------------------------------------------------


def text_xml(value: str) -> str:
    """A string as the inner XML of an inline-string cell."""
    if ILLEGAL_XML.search(value):
        value = ILLEGAL_XML.sub("", value)
    return f'<is><t xml:space="preserve">{escape(value[:MAX_CELL_TEXT])}</t></is>'


def cell_xml(ref: str, value: Any, style: int = 0) -> str:
    """One cell of any plain value; None (and NaN, ±inf) is no cell."""
    s = f' s="{style}"' if style else ""
    if value is None:
        return ""
    if isinstance(value, bool):
        return f'<c r="{ref}"{s} t="b"><v>{int(value)}</v></c>'
    if isinstance(value, int):
        return f'<c r="{ref}"{s}><v>{value}</v></c>'
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        return f'<c r="{ref}"{s}><v>{value!r}</v></c>'
    return f'<c r="{ref}"{s} t="inlineStr">{text_xml(str(value))}</c>'


@dataclass
class Column:
    """A column of plain Python values (None for empty cells) with its cell style(s).

    ``kind`` picks the fast path: "number" (int/float/None), "bool", "text" (str/None) or
    "any" (cell by cell). ``style`` is one xf id, or one per row."""

    values: Sequence[Any]
    kind: str = "any"
    style: int | Sequence[int] = 0


def _column_xml(letter: str, col: Column, rows: Sequence[str], start: int) -> list[str]:
    """The cells of one column for ``rows`` (row numbers as text) from value ``start`` on."""
    values = col.values[start : start + len(rows)]
    if not isinstance(col.style, int):
        styles = col.style[start : start + len(rows)]
        return [
            cell_xml(f"{letter}{r}", v, st) for r, v, st in zip(rows, values, styles, strict=True)
        ]
    s = f' s="{col.style}"' if col.style else ""
    if col.kind == "number":
        return [
            ""
            if v is None
            else f'<c r="{letter}{r}"{s}><v>{v!r}</v></c>'
            if isinstance(v, float)
            else f'<c r="{letter}{r}"{s}><v>{v}</v></c>'
            for r, v in zip(rows, values, strict=True)
        ]
    if col.kind == "bool":
        return [
            "" if v is None else f'<c r="{letter}{r}"{s} t="b"><v>{int(v)}</v></c>'
            for r, v in zip(rows, values, strict=True)
        ]
    if col.kind == "text":
        texts = [v for v in values if v is not None]
        joined = "".join(texts)
        plain = (
            ILLEGAL_XML.search(joined) is None
            and not any(ch in joined for ch in "&<>")
            and all(len(t) <= MAX_CELL_TEXT for t in texts)
        )
        if plain:  # nothing to escape or cut: format the text as it is
            return [
                ""
                if v is None
                else f'<c r="{letter}{r}"{s} t="inlineStr"><is><t xml:space="preserve">{v}</t>'
                "</is></c>"
                for r, v in zip(rows, values, strict=True)
            ]
    return [cell_xml(f"{letter}{r}", v, col.style) for r, v in zip(rows, values, strict=True)]


def table_rows(columns: Sequence[Column], n: int, first_row: int = 2) -> Iterator[str]:
    """sheetData XML of ``n`` rows from ``first_row`` on, in chunks."""
    letters = [get_column_letter(i + 1) for i in range(len(columns))]
    for start in range(0, n, CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, n)
        rows = [str(first_row + i) for i in range(start, stop)]
        cells = [
            _column_xml(letter, col, rows, start)
            for letter, col in zip(letters, columns, strict=True)
        ]
        yield "".join(
            [f'<row r="{r}">{"".join(parts)}</row>' for r, *parts in zip(rows, *cells, strict=True)]
        )


def row_xml(row: int, cells: Sequence[tuple[Any, int]]) -> str:
    """One row of (value, style) cells."""
    parts = [
        cell_xml(f"{get_column_letter(j + 1)}{row}", value, style)
        for j, (value, style) in enumerate(cells)
    ]
    return f'<row r="{row}">{"".join(parts)}</row>'


# --- workbook ----------------------------------------------------------------------------------


@dataclass
class Sheet:
    name: str
    rows: Callable[[], Iterable[str]]  # sheetData XML chunks, made when the book is saved
    n_rows: int
    n_columns: int
    widths: Sequence[float] = ()
    freeze_rows: int = 0
    autofilter: bool = False


@dataclass
class Book:
    styles: Styles = field(default_factory=Styles)
    sheets: list[Sheet] = field(default_factory=list)

    def add(self, sheet: Sheet) -> None:
        if sheet.n_rows > MAX_ROWS:
            raise ValueError(f"sheet {sheet.name!r}: {sheet.n_rows} rows, Excel holds {MAX_ROWS}")
        self.sheets.append(sheet)

    def save(self, path: str | Path) -> None:
        big = any(s.n_rows * max(s.n_columns, 1) > 10_000_000 for s in self.sheets)
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
            zf.writestr("[Content_Types].xml", self._content_types())
            zf.writestr(
                "_rels/.rels",
                f'{XML_HEAD}<Relationships xmlns="{PKG_REL_NS}"><Relationship Id="rId1" '
                f'Type="{OFFICE_DOC}" Target="xl/workbook.xml"/></Relationships>',
            )
            zf.writestr("xl/workbook.xml", self._workbook())
            zf.writestr("xl/_rels/workbook.xml.rels", self._workbook_rels())
            for i, sheet in enumerate(self.sheets, start=1):
                with zf.open(f"xl/worksheets/sheet{i}.xml", "w", force_zip64=big) as fh:
                    for chunk in _sheet_xml(sheet, selected=i == 1):
                        fh.write(chunk.encode("utf-8"))
            zf.writestr("xl/styles.xml", self.styles.xml())

    def _content_types(self) -> str:
        sheets = "".join(
            f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{CT_SHEET}"/>'
            for i in range(1, len(self.sheets) + 1)
        )
        return (
            f'{XML_HEAD}<Types xmlns="{CT_NS}">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{CT_BOOK}"/>'
            f'<Override PartName="/xl/styles.xml" ContentType="{CT_STYLES}"/>'
            f"{sheets}</Types>"
        )

    def _workbook(self) -> str:
        sheets = "".join(
            f'<sheet name={quoteattr(s.name)} sheetId="{i}" r:id="rId{i}"/>'
            for i, s in enumerate(self.sheets, start=1)
        )
        names = "".join(
            f'<definedName name="_xlnm._FilterDatabase" localSheetId="{i}" hidden="1">'
            f"{escape(_quoted(s.name))}!$A$1:${get_column_letter(s.n_columns)}${s.n_rows}"
            "</definedName>"
            for i, s in enumerate(self.sheets)
            if s.autofilter and s.n_columns
        )
        defined = f"<definedNames>{names}</definedNames>" if names else ""
        return (
            f'{XML_HEAD}<workbook xmlns="{MAIN_NS}" xmlns:r="{REL_NS}">'
            '<bookViews><workbookView activeTab="0"/></bookViews>'
            f"<sheets>{sheets}</sheets>{defined}</workbook>"
        )

    def _workbook_rels(self) -> str:
        base = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
        rels = "".join(
            f'<Relationship Id="rId{i}" Type="{base}/worksheet" Target="worksheets/sheet{i}.xml"/>'
            for i in range(1, len(self.sheets) + 1)
        )
        styles = (
            f'<Relationship Id="rId{len(self.sheets) + 1}" Type="{base}/styles" '
            'Target="styles.xml"/>'
        )
        return f'{XML_HEAD}<Relationships xmlns="{PKG_REL_NS}">{rels}{styles}</Relationships>'


def _quoted(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


def _sheet_xml(sheet: Sheet, *, selected: bool) -> Iterator[str]:
    last = f"{get_column_letter(max(sheet.n_columns, 1))}{max(sheet.n_rows, 1)}"
    tab = ' tabSelected="1"' if selected else ""
    if sheet.freeze_rows:
        top = f"A{sheet.freeze_rows + 1}"
        view = (
            f'<sheetView{tab} workbookViewId="0"><pane ySplit="{sheet.freeze_rows}" '
            f'topLeftCell="{top}" activePane="bottomLeft" state="frozen"/>'
            f'<selection pane="bottomLeft" activeCell="{top}" sqref="{top}"/></sheetView>'
        )
    else:
        view = f'<sheetView{tab} workbookViewId="0"/>'
    cols = "".join(
        f'<col min="{i}" max="{i}" width="{w:.1f}" customWidth="1"/>'
        for i, w in enumerate(sheet.widths, start=1)
    )
    yield (
        f'{XML_HEAD}<worksheet xmlns="{MAIN_NS}" xmlns:r="{REL_NS}">'
        f'<dimension ref="A1:{last}"/><sheetViews>{view}</sheetViews>'
        '<sheetFormatPr defaultRowHeight="15"/>'
        + (f"<cols>{cols}</cols>" if cols else "")
        + "<sheetData>"
    )
    yield from sheet.rows()
    tail = "</sheetData>"
    if sheet.autofilter and sheet.n_columns:
        tail += f'<autoFilter ref="A1:{last}"/>'
    tail += '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" '
    tail += 'footer="0.3"/></worksheet>'
    yield tail
