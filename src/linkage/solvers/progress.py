"""Progress reports: a long solve tells whoever asks how far it has got while it runs.

A reporter is any callable taking a mapping with ``objective_name``, ``objective`` (the best
value found so far) and ``bound`` (what is proven about it). CP-SAT reports each new solution
through ``CpSatReporter``; the API's worker keeps the latest in the job's progress.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ortools.sat.python import cp_model

Reporter = Callable[[Mapping[str, Any]], None]


def silent(_values: Mapping[str, Any]) -> None:
    """The reporter of a solve nobody watches."""


class CpSatReporter(cp_model.CpSolverSolutionCallback):
    """Hands each new CP-SAT solution's objective and bound to ``report`` (as ``name``)."""

    def __init__(self, report: Reporter, name: str) -> None:
        super().__init__()
        self._report = report
        self._name = name

    def on_solution_callback(self) -> None:
        self._report(
            {
                "objective_name": self._name,
                "objective": float(self.objective_value),
                "bound": float(self.best_objective_bound),
            }
        )
