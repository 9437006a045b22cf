"""The format documentation is generated from the table declarations and kept current."""

from __future__ import annotations

from pathlib import Path

from linkage.scenario.docs import format_markdown
from linkage.scenario.tables import TABLES

DOC = Path(__file__).parents[1] / "docs" / "scenario-format.md"


def test_scenario_format_doc_is_current() -> None:
    """docs/scenario-format.md equals what the declarations generate (run `linkage docs`)."""
    assert DOC.read_text(encoding="utf-8") == format_markdown(), (
        "regenerate with: linkage docs --out docs/scenario-format.md"
    )


def test_every_declared_column_is_documented() -> None:
    """Every table and column appears in the generated documentation with its Chinese label."""
    text = format_markdown()
    for table in TABLES.values():
        assert f"`{table.name}`" in text
        for col in table.columns:
            assert f"| `{col.name}` | {col.label_zh} |" in text
