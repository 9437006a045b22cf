"""The Excel input template, generated from the table declarations (``tables.py``).

``write_template(path)`` writes a workbook a planner fills and loads with ``linkage.load``:

- a ``README`` sheet (ignored by the loader) explaining how to fill the workbook and every
  column of every table: Chinese label, kind, unit, required, default, bounds, allowed values
  with their Chinese labels, references and the description, in Chinese and English;
- a ``scenario`` sheet holding a starter ``scenario.yaml``, one line per row (as ``save_xlsx``
  writes it), every policy key present with its default and a comment saying what it means;
- one sheet per declared table. Row 1 holds the column names, bilingual: the English name the
  loader reads on the first line, the Chinese label and unit on the second
  (``"population\\n常住人口 (人)"``; ``io.sheet_headers`` reads them back). A header comment
  repeats the column's rules. Coded columns have drop-down lists (enums, and TRUE/FALSE for
  yes/no columns; lists of several codes accept ``;``-separated values), numbers are checked
  against their bounds, codes and text are formatted as text so that ``007`` keeps its zeros,
  the header row is frozen.

With ``with_examples=True`` the table sheets carry a few rows of a small, valid scenario (the
Zhejiang → Qinghai pairing of the tests), so the workbook solves as it is.
"""

from __future__ import annotations

import io
import os
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet
from pydantic import BaseModel

from linkage.scenario.io import META_FILE, META_SHEET, README_SHEET, atomic_write_bytes
from linkage.scenario.policy import ScenarioMeta
from linkage.scenario.tables import TABLES, Column, Table

LAST_ROW = 1_048_576  # Excel's last row: validations and formats cover the whole column
LIST_LIMIT = 255  # Excel's limit on an inline drop-down list ("a,b,c") and on prompts
BOOL_CHOICES: dict[str, str] = {"TRUE": "是", "FALSE": "否"}

UNIT_ZH: dict[str, str] = {
    "persons": "人",
    "beds": "张",
    "degree": "度",
    "FTE": "全职当量",
    "km": "公里",
    "hours": "小时",
    "yuan": "元",
    "load units": "结对单位",
}
KIND_TEXT: dict[str, tuple[str, str]] = {
    "code": ("代码（按文本保存，保留前导零）", "code (text, leading zeros kept)"),
    "text": ("文本", "text"),
    "int": ("整数", "whole number"),
    "float": ("数值", "number"),
    "bool": ("是/否（TRUE/FALSE，也接受 是/否、1/0）", "yes/no (TRUE/FALSE; 是/否, 1/0 too)"),
    "enum": ("单选（下拉列表）", "one code (drop-down list)"),
    "codes": ("多选（多个代码用 ; 分隔）", "codes separated by ;"),
}

HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
REQUIRED_FILL = PatternFill("solid", fgColor="FCE4D6")
TITLE_FONT = Font(bold=True, size=14)
WRAP_TOP = Alignment(wrap_text=True, vertical="top")

USAGE: tuple[tuple[str, str], ...] = (
    (
        "每张表一个工作表；第 1 行是列名：第一行英文代码供程序读取，请勿修改，"
        "第二行是中文名称和单位。",
        "One sheet per table. Row 1 holds the column names: the English code on its first line "
        "(the program reads it: do not change it), the Chinese label and unit below it.",
    ),
    (
        "从第 2 行起每行填一条记录；不用的可选表保持为空。"
        "橙色列名为必填列，其余列可留空（取默认值）。",
        "Fill one record per row from row 2; leave optional tables you do not use empty. "
        "Orange headers are required; other cells may stay empty (their default applies).",
    ),
    (
        "区划代码、编号等代码列按文本保存，保留前导零（如 007）。",
        "Codes (region codes, ids) are text: leading zeros such as 007 are kept.",
    ),
    (
        "单选列从下拉列表选择；多选列可填多个代码，用英文分号 ; 分隔（如 elderly;children）。",
        "Pick one-code columns from the drop-down list; several codes are separated by ; "
        "(e.g. elderly;children).",
    ),
    (
        "scenario 工作表保存方案设置 scenario.yaml，每行一行 YAML，缩进用空格；# 后为说明。",
        "The scenario sheet holds scenario.yaml, one YAML line per row, indented with spaces; "
        "text after # is a comment.",
    ),
    (
        "填好后检查并求解：linkage validate 方案.xlsx；linkage solve 方案.xlsx --out 结果目录",
        "Then check and solve: linkage validate scenario.xlsx; "
        "linkage solve scenario.xlsx --out plan",
    ),
    (
        "错误信息会指出工作表、行号和列字母（如 regions, row 7, column C (population)）。",
        "Problems name the sheet, the row and the column letter "
        "(e.g. regions, row 7, column C (population)).",
    ),
)

README_COLUMNS: tuple[str, ...] = (
    "表 table",
    "列 column",
    "中文名称 label",
    "类型 kind",
    "单位 unit",
    "必填 required",
    "默认值 default",
    "取值范围 bounds",
    "可选值 allowed values",
    "引用 references",
    "填写说明（中文）",
    "description (English)",
)
README_WIDTHS: tuple[int, ...] = (16, 20, 18, 24, 16, 10, 12, 14, 48, 20, 48, 60)


# --- example scenario (with_examples=True) ---------------------------------------------------

EXAMPLE_META: dict[str, Any] = {
    "name": "示例：浙青牵手 / example: Zhejiang → Qinghai",
    "year": 2025,
    "description": "模板示例数据（部分为虚构）/ template example, partly synthetic",
    "sources": {
        "mca-2021-105": '民发〔2021〕105号 "十四五"时期社会工作服务机构"牵手计划"实施方案',
        "planning-assumption": "规划假设：模板示例取默认值 / planning assumption: the defaults",
    },
    "policy": {
        "staffing": {"source": "planning-assumption"},
        "pairing": {
            "targets": ["key_assistance", "ethnic", "old_revolutionary"],
            "counterparts": {"青海": ["浙江"]},
            "source": "mca-2021-105",
        },
        "volunteers": {"source": "planning-assumption"},
        "funds": {"source": "planning-assumption"},
    },
}

# the tables as a planner would type them; cells are typed by their column's kind
EXAMPLE_CSV: dict[str, str] = {
    "regions": """code,name,level,parent,lat,lon,population,elderly,care_beds,children_at_risk,\
disabled,low_income,key_assistance,old_revolutionary,ethnic,has_station
330000,浙江省,province,,30.27,120.15,64567588,12070000,,,,,FALSE,FALSE,FALSE,FALSE
330100,杭州市,city,330000,30.27,120.15,11936010,2030000,,,,,FALSE,FALSE,FALSE,FALSE
330106,西湖区,county,330100,30.26,120.13,1145071,160000,2000,300,9000,4000,FALSE,FALSE,FALSE,FALSE
330106001,北山街道,township,330106,30.26,120.15,30000,5000,100,10,200,100,FALSE,FALSE,FALSE,TRUE
630000,青海省,province,,36.62,101.78,5923957,720000,,,,,FALSE,FALSE,FALSE,FALSE
632200,海北藏族自治州,city,630000,36.95,100.90,265322,30000,,,,,FALSE,FALSE,FALSE,FALSE
632221,门源回族自治县,county,632200,37.38,101.62,153040,19000,400,500,2500,6000,TRUE,FALSE,TRUE,FALSE
632221100,浩门镇,township,632221,37.38,101.62,40000,5000,120,150,700,1600,TRUE,FALSE,TRUE,TRUE
632222,祁连县,county,632200,38.18,100.25,50000,6000,100,200,900,2500,FALSE,FALSE,TRUE,FALSE
""",
    "organizations": """id,name,region,kind,specialties,staff,rating,pairing_capacity
001,杭州市西湖区永安社会工作服务中心,330106,social_work,elderly;children,25,5,2
002,北山街道社工站,330106001,social_work,hardship,8,3,1
010,青海省社会工作协会,630000,social_org,community,5,4,0
""",
    "social_workers": """id,region,org,level,specialties,fte,max_km,count
007,330106001,002,intermediate,elderly;hardship,1,40,6
008,632221100,,assistant,children,0.5,,2
""",
    "volunteers": """id,region,skills,hours,max_km,count
V001,330106001,elderly,120,,300
V002,632221100,,40,,150
""",
    "resources": """id,donor,donor_type,kind,amount,unit,eligible,regions,domains,min_grant
R01,浙江省慈善联合总会,foundation,funds,2500000,yuan,ethnic;key_assistance,630000,children;elderly,0
""",
    "pair_overrides": """org,target,action,score,load
001,632221,fix,,
""",
    "existing_pairs": """org,target,since
002,632222,2022
""",
}


def example_rows(table: Table) -> list[dict[str, Any]]:
    """The example rows of a table as cell values: text for codes, numbers, booleans."""
    text = EXAMPLE_CSV.get(table.name)
    if text is None:
        return []
    header, *lines = text.strip().splitlines()
    names = header.split(",")
    rows = []
    for line in lines:
        cells = line.split(",")
        rows.append(
            {name: _typed(table[name], cell) for name, cell in zip(names, cells, strict=True)}
        )
    return rows


def _typed(col: Column, text: str) -> Any:
    if text == "":
        return None
    if col.kind == "bool":
        return text.upper() == "TRUE"
    if col.kind in ("int", "float"):
        number = float(text)
        return int(number) if number.is_integer() else number
    return text


# --- public API --------------------------------------------------------------------------------


def write_template(path: str | os.PathLike[str], *, with_examples: bool = False) -> Path:
    """Write the input workbook (see the module docstring) atomically; returns the path."""
    target = Path(path)
    buffer = io.BytesIO()
    template_workbook(with_examples=with_examples).save(buffer)
    atomic_write_bytes(target, buffer.getvalue())
    return target


def template_workbook(*, with_examples: bool = False) -> Workbook:
    """The template as an openpyxl workbook (not saved)."""
    book = Workbook()
    readme = book.active
    assert readme is not None
    readme.title = README_SHEET
    _write_readme(readme)
    _write_meta(book.create_sheet(META_SHEET), _starter_meta(with_examples))
    for table in TABLES.values():
        rows = example_rows(table) if with_examples else []
        _write_table(book.create_sheet(table.name), table, rows)
    return book


def header_text(col: Column) -> str:
    """The bilingual header cell of a column: "population\\n常住人口 (人)"."""
    unit = UNIT_ZH.get(col.unit, col.unit)
    return f"{col.name}\n{col.label_zh}" + (f" ({unit})" if unit else "")


def starter_yaml(meta: ScenarioMeta) -> str:
    """scenario.yaml with every key of ``meta`` and a comment from its field's description."""
    head = [
        "# 方案设置 scenario.yaml：每行一行 YAML，缩进用空格；# 后为说明，可删改。",
        "# One YAML line per row, indented with spaces; text after # is a comment.",
        "# sources 列出政策依据（编号: 文件名），各规则的 source 引用其编号。",
    ]
    return "\n".join(head + _yaml_lines(type(meta), meta.model_dump(mode="json"), 0)) + "\n"


# --- sheets ------------------------------------------------------------------------------------


def _starter_meta(with_examples: bool) -> ScenarioMeta:
    if with_examples:
        return ScenarioMeta.model_validate(EXAMPLE_META)
    return ScenarioMeta(name="新方案 / new scenario", description="")


def _yaml_lines(model: type[BaseModel], data: Mapping[str, Any], depth: int) -> list[str]:
    lines: list[str] = []
    pad = "  " * depth
    for name, field in model.model_fields.items():
        value = data.get(name)
        note = f"  # {field.description}" if field.description else ""
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            lines.append(f"{pad}{name}:{note}")
            lines.extend(_yaml_lines(annotation, value or {}, depth + 1))
        elif isinstance(value, dict) and value:
            lines.append(f"{pad}{name}:{note}")
            lines.extend(f"{pad}  {_flow(k)}: {_flow(v)}" for k, v in value.items())
        else:
            lines.append(f"{pad}{name}: {_flow(value)}{note}")
    return lines


def _flow(value: Any) -> str:
    """One value as inline YAML: plain where it can be, quoted where YAML needs it."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 1000, not 1000.0 (the policy's float fields take it alike)
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=1_000_000)
    return text.removesuffix("\n...\n").strip()


def _write_meta(sheet: Worksheet, meta: ScenarioMeta) -> None:
    sheet.append([META_FILE])
    sheet["A1"].font = HEADER_FONT
    for line in starter_yaml(meta).splitlines():
        sheet.append([line])
    sheet.column_dimensions["A"].width = 120
    sheet.column_dimensions["A"].number_format = "@"
    sheet.freeze_panes = "A2"


def _choices(col: Column) -> Mapping[str, str] | None:
    return BOOL_CHOICES if col.kind == "bool" else col.choices


def _rules(col: Column) -> tuple[str, str, str, str]:
    """(default, bounds, allowed values, references) as README text."""
    if col.required:
        default = ""
    elif col.default is None or col.default == "":
        default = "（空 empty）"
    elif isinstance(col.default, bool):
        default = "TRUE" if col.default else "FALSE"
    else:
        default = str(col.default)
    bounds = []
    if col.minimum is not None:
        bounds.append(f"≥ {col.minimum:g}")
    if col.maximum is not None:
        bounds.append(f"≤ {col.maximum:g}")
    choices = _choices(col)
    allowed = "; ".join(f"{k} {v}" for k, v in choices.items()) if choices else ""
    refers = f"{col.references}" if col.references else ""
    return default, ", ".join(bounds), allowed, refers


def _rule_zh(col: Column) -> str:
    default, bounds, _, refers = _rules(col)
    parts = [f"{col.label_zh}：{KIND_TEXT[col.kind][0]}"]
    parts.append("必填" if col.required else f"可留空，默认 {default}")
    if bounds:
        parts.append(f"取值 {bounds}")
    if col.unit:
        parts.append(f"单位 {UNIT_ZH.get(col.unit, col.unit)}")
    if refers:
        table, column = refers.split(".")
        parts.append(f"须为 {table} 表 {column} 列中已有的值")
    if col.kind == "codes" and col.choices is None:
        parts.append("多个用 ; 分隔")
    return "；".join(parts)


def _rule_en(col: Column) -> str:
    default, bounds, _, refers = _rules(col)
    parts = [f"{col.description} — {KIND_TEXT[col.kind][1]}"]
    parts.append("required" if col.required else f"default {default}")
    if bounds:
        parts.append(bounds)
    if col.unit:
        parts.append(f"unit: {col.unit}")
    if refers:
        parts.append(f"must be a {refers}")
    return "; ".join(parts)


def _write_readme(sheet: Worksheet) -> None:
    sheet.append(["五社联动 社会工作资源配置 方案输入模板 / linkage scenario input template"])
    sheet["A1"].font = TITLE_FONT
    sheet.append([])
    for zh, en in USAGE:
        sheet.append([zh])
        sheet.append([en])
    sheet.append([])
    sheet.append(list(README_COLUMNS))
    header_row = sheet.max_row
    for cell in sheet[header_row]:
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
    for table in TABLES.values():
        need = "必填表 required table" if not table.optional else "可选表 optional table"
        key = f"；唯一键 key: {', '.join(table.key)}" if table.key else ""
        sheet.append(
            [table.name, "", table.label_zh, "", "", need]
            + [""] * 4
            + [f"{table.label_zh}{key}", table.description]
        )
        for cell in sheet[sheet.max_row]:
            cell.font = HEADER_FONT
        for col in table.columns:
            default, bounds, allowed, refers = _rules(col)
            unit = f"{col.unit} {UNIT_ZH.get(col.unit, '')}".strip() if col.unit else ""
            sheet.append(
                [
                    table.name,
                    col.name,
                    col.label_zh,
                    " / ".join(KIND_TEXT[col.kind]),
                    unit,
                    "是 yes" if col.required else "否 no",
                    default,
                    bounds,
                    allowed,
                    refers,
                    _rule_zh(col),
                    _rule_en(col),
                ]
            )
    for i, width in enumerate(README_WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = width
    for row in sheet.iter_rows(min_row=header_row + 1):
        for cell in row:
            cell.alignment = WRAP_TOP
    sheet.freeze_panes = sheet.cell(header_row + 1, 3).coordinate


def _write_table(sheet: Worksheet, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    sheet.append([header_text(col) for col in table.columns])
    for i, col in enumerate(table.columns, start=1):
        cell = sheet.cell(1, i)
        cell.font = HEADER_FONT
        cell.fill = REQUIRED_FILL if col.required else HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        comment = Comment(f"{_rule_zh(col)}\n\n{_rule_en(col)}", "linkage")
        comment.width, comment.height = 320, 160
        cell.comment = comment
    sheet.row_dimensions[1].height = 32
    text_columns = [col.kind in ("code", "text", "enum", "codes") for col in table.columns]
    for record in rows:
        sheet.append([_cell_value(col, record.get(col.name)) for col in table.columns])
        for i, is_text in enumerate(text_columns, start=1):
            if is_text:
                sheet.cell(sheet.max_row, i).number_format = "@"
    for i, col in enumerate(table.columns, start=1):
        letter = get_column_letter(i)
        dimension = sheet.column_dimensions[letter]
        dimension.width = _width(col, [r.get(col.name) for r in rows])
        if text_columns[i - 1]:
            dimension.number_format = "@"
        validation = _validation(col)
        if validation is not None:
            sheet.add_data_validation(validation)
            validation.add(f"{letter}2:{letter}{LAST_ROW}")
    sheet.freeze_panes = "A2"


def _cell_value(col: Column, value: Any) -> Any:
    if value is None or value == "":
        return None
    if col.kind in ("code", "text", "enum", "codes"):
        return str(value)
    return value


def _text_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _width(col: Column, values: Sequence[Any]) -> float:
    shown = [*header_text(col).split("\n"), *(str(v) for v in values if v is not None)]
    return float(min(max(max(_text_width(s) for s in shown) + 2, 10), 40))


def _validation(col: Column) -> DataValidation | None:
    choices = _choices(col)
    if choices is not None:
        listed = ",".join(choices)
        if len(listed) + 2 > LIST_LIMIT:
            return None  # too long for an inline list; the README still lists the values
        several = col.kind == "codes"
        labels = "; ".join(f"{k} {v}" for k, v in choices.items())
        prompt = f"{col.label_zh}：{'可填多个，用 ; 分隔' if several else '从列表选择'}。{labels}"
        return DataValidation(
            type="list",
            formula1=f'"{listed}"',
            allow_blank=True,
            showErrorMessage=True,
            # several codes ("elderly;children") are not an item of the list: inform, accept
            errorStyle="information" if several else "stop",
            errorTitle=col.label_zh,
            error=(
                "多个代码用 ; 分隔 / several codes are separated by ;"
                if several
                else f"请从下拉列表选择 / choose from the list: {listed}"
            )[:LIST_LIMIT],
            promptTitle=col.label_zh[:32],
            prompt=prompt[:LIST_LIMIT],
            showInputMessage=True,
        )
    if col.kind in ("int", "float") and (col.minimum is not None or col.maximum is not None):
        low, high = col.minimum, col.maximum
        if low is not None and high is not None:
            operator, formula1, formula2 = "between", f"{low:g}", f"{high:g}"
        elif low is not None:
            operator, formula1, formula2 = "greaterThanOrEqual", f"{low:g}", None
        else:
            operator, formula1, formula2 = "lessThanOrEqual", f"{high:g}", None
        bounds = _rules(col)[1]
        word = "整数 a whole number" if col.kind == "int" else "数值 a number"
        return DataValidation(
            type="whole" if col.kind == "int" else "decimal",
            operator=operator,
            formula1=formula1,
            formula2=formula2,
            allow_blank=True,
            showErrorMessage=True,
            errorStyle="stop",
            errorTitle=col.label_zh,
            error=f"{col.label_zh}：{word} {bounds}"[:LIST_LIMIT],
        )
    return None
