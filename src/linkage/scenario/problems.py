"""Problems found in user input, reported all at once."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input: where it is, what was there, what was expected."""

    source: str  # file or sheet the user gave, e.g. "regions.csv", "scenario.xlsx › regions"
    row: int | None  # row as the user counts it (header is row 1), None for file-level problems
    column: str | None
    value: str | None
    expected: str
    severity: Literal["error", "warning"] = "error"
    # the column as a spreadsheet shows it ("C"; "A/B" for a two-column key), for workbook
    # sources only; ``column`` stays the declared name
    excel_column: str | None = None

    @property
    def column_text(self) -> str:
        """The column for people: "C (population)" in a workbook, else the name (or "")."""
        if self.excel_column:
            return f"{self.excel_column} ({self.column})" if self.column else self.excel_column
        return self.column or ""

    def where(self) -> str:
        parts = [self.source]
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column:
            word = "key" if self.source.endswith((".yaml", "› scenario")) else "column"
            parts.append(f"{word} {self.column_text}")
        return ", ".join(parts)

    def __str__(self) -> str:
        got = f": got {self.value!r}" if self.value is not None else ""
        return f"{self.where()}{got}; expected {self.expected}"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if out["excel_column"] is None:  # CSV and JSON sources: the same keys as ever
            del out["excel_column"]
        return out


class ScenarioError(ValueError):
    """Raised when a scenario is invalid; ``problems`` lists every problem found."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems: list[Problem] = list(problems)
        errors = [p for p in self.problems if p.severity == "error"]
        head = "; ".join(str(p) for p in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        super().__init__(f"{len(errors)} problem(s) in the scenario: {head}{more}")


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """' (did you mean "x"?)' when a close match exists, else ''."""
    # two-character Chinese names differ by one character at ratio 0.5
    cutoff = 0.5 if len(word) <= 3 else 0.6
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=cutoff)
    return f' (did you mean "{close[0]}"?)' if close else ""
