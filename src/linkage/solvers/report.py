"""The certificate every stage returns: status, objectives, proven bound, gap, time, size."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["optimal", "feasible", "infeasible", "not_solved"]
STATUSES: tuple[str, ...] = ("optimal", "feasible", "infeasible", "not_solved")


@dataclass(frozen=True)
class StageReport:
    """How one stage was solved.

    ``objectives`` holds the achieved value of each objective in lexicographic order, and
    ``bound`` the best proven bound on each (equal to the objective when proven optimal).
    ``gap`` is the largest relative gap over the objectives, ``|obj - bound| / max(1, |obj|)``,
    0 when every objective is proven.
    """

    stage: str
    method: str
    status: Status
    objectives: Mapping[str, float] = field(default_factory=dict)
    bound: Mapping[str, float] = field(default_factory=dict)
    gap: float = 0.0
    wall_s: float = 0.0
    variables: int = 0
    constraints: int = 0
    message: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {self.status!r}")

    @classmethod
    def proven(
        cls,
        stage: str,
        method: str,
        objectives: Mapping[str, float],
        *,
        wall_s: float,
        variables: int,
        constraints: int,
        message: str = "",
    ) -> StageReport:
        """An exact method's report: optimal, every bound equal to its objective, gap 0."""
        return cls(
            stage,
            method,
            "optimal",
            dict(objectives),
            dict(objectives),
            0.0,
            wall_s,
            variables,
            constraints,
            message,
        )

    @property
    def solved(self) -> bool:
        return self.status in ("optimal", "feasible")

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "method": self.method,
            "status": self.status,
            "objectives": {k: _plain(v) for k, v in self.objectives.items()},
            "bound": {k: _plain(v) for k, v in self.bound.items()},
            "gap": _plain(self.gap),
            "wall_s": round(float(self.wall_s), 4),
            "variables": int(self.variables),
            "constraints": int(self.constraints),
            "message": self.message,
        }


def relative_gap(objective: float, bound: float) -> float:
    """``|objective - bound| / max(1, |objective|)``; inf when either is not finite."""
    if not (math.isfinite(objective) and math.isfinite(bound)):
        return math.inf
    return abs(objective - bound) / max(1.0, abs(objective))


def _plain(value: Any) -> Any:
    """JSON-ready: integers stay integers, infinities become None."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        if value.is_integer():
            return int(value)
    return value
