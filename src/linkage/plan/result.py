"""The plan: result tables as DataFrames plus each stage's certificate (status, bound, gap)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from linkage.solvers.report import StageReport

if TYPE_CHECKING:
    from linkage.scenario.core import Scenario

SOLVED = ("optimal", "feasible")


@dataclass(frozen=True, eq=False)
class Plan:
    """What a solve produced. Tables are read-only by convention; ``save`` writes them all."""

    scenario: str
    tables: Mapping[str, pd.DataFrame] = field(repr=False)
    reports: tuple[StageReport, ...]
    sources: Mapping[str, str] = field(default_factory=dict, repr=False)
    violations: tuple[str, ...] = ()

    def __getattr__(self, name: str) -> pd.DataFrame:
        tables = self.__dict__.get("tables", {})
        if name in tables:
            return tables[name]
        raise AttributeError(name)

    @property
    def solved(self) -> bool:
        """Every stage found a plan (proven optimal, or feasible with a reported gap)."""
        return all(r.status in SOLVED for r in self.reports)

    def report(self, stage: str) -> StageReport:
        for r in self.reports:
            if r.stage == stage:
                return r
        raise KeyError(stage)

    def summary(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "solved": self.solved,
            "stages": {r.stage: r.to_dict() for r in self.reports},
            "tables": {name: len(frame) for name, frame in self.tables.items()},
            "invariant_violations": list(self.violations),
            "sources": dict(self.sources),
        }

    def save(
        self,
        folder: str | os.PathLike[str],
        *,
        force: bool = False,
        scenario: Scenario | None = None,
    ) -> Path:
        """Write every table as CSV, ``plan.xlsx`` (a summary sheet, then a sheet per table) and
        summary.json — and, given the scenario the plan solves, the offline ``report.html`` —
        atomically; never overwrite unless force."""
        from linkage.scenario.io import atomic_dir

        target = Path(folder)
        with atomic_dir(target, force=force) as tmp:
            for name, frame in self.tables.items():
                frame.to_csv(tmp / f"{name}.csv", index=False, encoding="utf-8")
            (tmp / "summary.json").write_text(
                json.dumps(self.summary(), ensure_ascii=False, indent=2, default=_jsonable),
                encoding="utf-8",
            )
            from linkage.plan.workbook import write_plan_workbook

            write_plan_workbook(self, tmp / "plan.xlsx")
            if scenario is not None:
                from linkage.plan.report import render_report

                (tmp / "report.html").write_text(render_report(scenario, self), encoding="utf-8")
        return target


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)
