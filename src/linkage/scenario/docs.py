"""The scenario format documentation, generated from the declarations (docs/scenario-format.md)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from linkage.scenario.policy import ScenarioMeta
from linkage.scenario.tables import TABLES, Column

KIND_WORDS = {
    "code": "code (text)",
    "text": "text",
    "int": "whole number",
    "float": "number",
    "bool": "yes/no",
    "enum": "one code",
    "codes": "codes, `;`-separated",
}


def _rule(col: Column) -> str:
    parts = []
    if col.required:
        parts.append("required")
    elif col.default is not None:
        parts.append(f"default `{col.default}`" if col.default != "" else "default empty")
    else:
        parts.append("optional")
    if col.minimum is not None:
        parts.append(f"≥ {col.minimum:g}")
    if col.maximum is not None:
        parts.append(f"≤ {col.maximum:g}")
    if col.choices:
        parts.append("values: " + ", ".join(f"`{k}` {v}" for k, v in col.choices.items()))
    if col.references:
        parts.append(f"refers to `{col.references}`")
    return "; ".join(parts)


def _policy_rows(model: type[BaseModel], prefix: str) -> list[str]:
    rows = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.extend(_policy_rows(annotation, f"{path}."))
            continue
        if field.is_required():
            shown = "required"
        else:
            default: Any = field.get_default(call_default_factory=True)
            shown = json.dumps(default, ensure_ascii=False) if default is not None else "null"
        rows.append(f"| `{path}` | {shown} | {field.description or ''} |")
    return rows


def format_markdown() -> str:
    lines = [
        "# Scenario format",
        "",
        "<!-- generated from src/linkage/scenario/tables.py and policy.py by "
        "`linkage docs --format`; a test checks it is current -->",
        "",
        "A scenario is a folder of UTF-8 CSV tables (`<table>.csv`, header row = column names) "
        "plus `scenario.yaml`; the same tables may be the sheets of one `.xlsx` workbook (the "
        "yaml text in a sheet named `scenario`, one line per row) or one JSON document "
        '`{"scenario": {...}, "tables": {"regions": [{...}, ...], ...}}`. Codes are text: keep '
        "leading zeros. Supply tables carry `count`: a row then stands for a pool of identical "
        "people.",
        "",
    ]
    for table in TABLES.values():
        lines += [
            f"## `{table.name}` — {table.label_zh}" + ("" if table.optional else " (required)"),
            "",
            table.description,
            "",
            "| column | 中文 | kind | unit | rule | meaning |",
            "|---|---|---|---|---|---|",
        ]
        for col in table.columns:
            lines.append(
                f"| `{col.name}` | {col.label_zh} | {KIND_WORDS[col.kind]} | {col.unit} | "
                f"{_rule(col)} | {col.description} |"
            )
        if table.key:
            lines += ["", f"Key: {', '.join(f'`{k}`' for k in table.key)} (unique)."]
        lines.append("")
    lines += [
        "## `scenario.yaml`",
        "",
        "Unknown keys are errors (with a did-you-mean). Every rule may cite a `source` id "
        "listed under `sources`.",
        "",
        "| key | default | meaning |",
        "|---|---|---|",
        *_policy_rows(ScenarioMeta, ""),
        "",
    ]
    return "\n".join(lines)
