"""Runs the stages in order, each feeding the next its capacities, and assembles the plan."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from linkage.plan.result import Plan
from linkage.scenario.core import Scenario
from linkage.solvers.progress import Reporter, silent
from linkage.solvers.report import StageReport
from linkage.solvers.stopping import StopRule, never


class InvariantViolation(AssertionError):
    """A plan broke a rule it must keep (capacity, eligibility, reach, ...): a bug, never input."""

    def __init__(self, stage: str, violations: Sequence[str]):
        self.stage = stage
        self.violations = list(violations)
        shown = "; ".join(self.violations[:5])
        super().__init__(f"{stage}: {len(self.violations)} invariant violation(s): {shown}")


@dataclass(frozen=True)
class SolveSettings:
    """Overrides of the policy's solver settings for one run (None: the policy's value)."""

    time_limit_s: float | None = None
    seed: int | None = None
    workers: int | None = None
    pairing_method: Literal["auto", "flow", "cp_sat", "mip"] | None = None
    stop: StopRule = never  # ends the running stage early (best plan kept); later ones skipped
    progress: Reporter = silent  # hears of better plans while a stage runs (where a solver tells)


@dataclass
class StageOutcome:
    tables: dict[str, pd.DataFrame]
    report: StageReport
    carry: dict[str, Any] = field(default_factory=dict)  # what later stages may use


StageFn = Callable[[Scenario, SolveSettings, Mapping[str, Any]], StageOutcome]


def _pairing(
    scenario: Scenario, settings: SolveSettings, upstream: Mapping[str, Any]
) -> StageOutcome:
    from linkage.solvers.pairing import check_pairing_invariants, solve_pairing

    result = solve_pairing(
        scenario,
        time_limit_s=settings.time_limit_s,
        seed=settings.seed,
        workers=settings.workers,
        method=settings.pairing_method,
        stop=settings.stop,
        progress=settings.progress,
    )
    violations = check_pairing_invariants(scenario, result)
    if violations:
        raise InvariantViolation("pairing", violations)
    return StageOutcome(
        tables={
            "candidates": result.candidates,
            "pairs": result.pairs,
            "targets": result.targets,
            "organizations": result.organizations,
            "pairing_rules": result.rules,
        },
        report=result.report,
        carry={"pairs": result.pairs},
    )


def _staffing(
    scenario: Scenario, settings: SolveSettings, upstream: Mapping[str, Any]
) -> StageOutcome:
    from linkage.solvers.staffing import check_staffing_invariants, solve_staffing

    # 牵手 dispatch needs the pairs; without the pairing stage only local workers serve. With a
    # previous plan, its assignments are cheaper to keep (policy.stability)
    result = solve_staffing(
        scenario,
        upstream.get("pairs"),
        time_limit_s=settings.time_limit_s,
        previous_staffing=upstream.get("previous_staffing"),
    )
    violations = check_staffing_invariants(scenario, result)
    if violations:
        raise InvariantViolation("staffing", violations)
    return StageOutcome(
        tables={"staffing": result.staffing, "stations": result.stations},
        report=result.report,
        carry={"staffing": result.staffing, "stations": result.stations},
    )


def _volunteers(
    scenario: Scenario, settings: SolveSettings, upstream: Mapping[str, Any]
) -> StageOutcome:
    from linkage.solvers.volunteers import check_volunteer_invariants, solve_volunteers

    # supervision capacity comes from the staffing stage's assigned social workers
    stations = upstream.get("stations")
    result = solve_volunteers(scenario, stations, time_limit_s=settings.time_limit_s)
    violations = check_volunteer_invariants(scenario, stations, result)
    if violations:
        raise InvariantViolation("volunteers", violations)
    return StageOutcome(
        tables={
            "volunteers": result.volunteers,
            "volunteer_demand": result.volunteer_demand,
        },
        report=result.report,
    )


def _funds(
    scenario: Scenario, settings: SolveSettings, upstream: Mapping[str, Any]
) -> StageOutcome:
    from linkage.solvers.funds import check_funds_invariants, solve_funds

    # delivery capacity comes from the assigned social workers and the 牵手 partners
    stations, pairs = upstream.get("stations"), upstream.get("pairs")
    result = solve_funds(
        scenario,
        stations,
        pairs,
        time_limit_s=settings.time_limit_s,
        seed=settings.seed,
        workers=settings.workers,
        stop=settings.stop,
        progress=settings.progress,
    )
    violations = check_funds_invariants(scenario, stations, pairs, result)
    if violations:
        raise InvariantViolation("funds", violations)
    return StageOutcome(
        tables={
            "grants": result.grants,
            "fund_demand": result.fund_demand,
            "fund_lots": result.fund_lots,
        },
        report=result.report,
    )


STAGES: dict[str, StageFn] = {
    "pairing": _pairing,
    "staffing": _staffing,
    "volunteers": _volunteers,
    "funds": _funds,
}
ORDER = tuple(STAGES)


def solve(
    scenario: Scenario,
    stages: Iterable[str] | None = None,
    *,
    time_limit_s: float | None = None,
    seed: int | None = None,
    workers: int | None = None,
    pairing_method: Literal["auto", "flow", "cp_sat", "mip"] | None = None,
    joint: bool = False,
    previous: Plan | None = None,
    explain: bool = False,
    stop: StopRule = never,
) -> Plan:
    """Solve the scenario's stages in order (all by default) and return the plan.

    The plan's ``indicators`` table (and ``indicators_by_county``, ``indicators_by_domain``)
    compare the status quo with the plan; ``pairing_alternatives`` and
    ``station_explanations`` say why each pair and station got what it got. ``joint=True``
    also bounds the joint model of staffing, volunteers and funds and reports the
    staged-vs-joint gap (stage ``joint``, table ``joint``); it needs those three stages.
    ``previous``: re-plan from an earlier plan, keeping its pairs and staffing unless a change
    buys a real improvement (``policy.stability``); the ``churn`` table reports what moved.
    ``explain=True`` adds ``marginal_values`` (one more social worker per county, ¥10,000 more
    per donor restriction class). ``stop`` (a stopping rule, ``linkage.solvers.stopping``) ends
    the running stage early with its best plan and bound and skips the stages after it. A pure
    function of its arguments: the same scenario and seed give the same plan.
    """
    wanted = list(ORDER if stages is None else stages)
    unknown = [s for s in wanted if s not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; the stages are {', '.join(ORDER)}")
    settings = SolveSettings(time_limit_s, seed, workers, pairing_method, stop)
    tables: dict[str, pd.DataFrame] = {}
    reports: list[StageReport] = []
    carried: dict[str, Any] = {}
    if previous is not None:
        from linkage.plan.stability import previous_staffing, with_previous

        scenario = with_previous(scenario, previous)
        carried["previous_staffing"] = previous_staffing(previous)
    for name in ORDER:
        if name not in wanted:
            continue
        if stop():
            break
        outcome = STAGES[name](scenario, settings, carried)
        tables.update(outcome.tables)
        reports.append(outcome.report)
        carried.update(outcome.carry)
    if joint:
        missing = [s for s in ("staffing", "volunteers", "funds") if s not in wanted]
        if missing:
            raise ValueError(f"the joint model needs the stages {', '.join(missing)} too")
        from linkage.solvers.joint import solve_joint

        result = solve_joint(scenario, tables, {r.stage: r for r in reports})
        tables["joint"] = result.terms
        reports.append(result.report)
    return assemble_plan(scenario, tables, reports, previous, explain)


def assemble_plan(
    scenario: Scenario,
    tables: Mapping[str, pd.DataFrame],
    reports: Iterable[StageReport],
    previous: Plan | None = None,
    explain: bool = False,
) -> Plan:
    """The plan of the stages solved: their tables and reports, with the tables derived from
    them (indicators, overall and by county and domain; explanations; churn against
    ``previous``; marginal values when ``explain``)."""
    tables = dict(tables)
    if tables:
        from linkage.plan.indicators import indicators

        tables["indicators"] = indicators(scenario, tables)
        tables["indicators_by_county"] = indicators(scenario, tables, by="county")
        tables["indicators_by_domain"] = indicators(scenario, tables, by="domain")
    tables.update(_explanations(scenario, tables, previous, explain))
    return Plan(
        scenario=scenario.name,
        tables=tables,
        reports=tuple(reports),
        sources=dict(scenario.meta.sources),
    )


def _explanations(
    scenario: Scenario, tables: Mapping[str, pd.DataFrame], previous: Plan | None, explain: bool
) -> dict[str, pd.DataFrame]:
    """Why each pair and station got what it got; churn against a previous plan; on request
    the marginal values (they re-walk the flows: about 8 s on Henan)."""
    from linkage.plan.sensitivity import (
        marginal_values,
        pairing_alternatives,
        station_explanations,
    )
    from linkage.plan.stability import churn

    out: dict[str, pd.DataFrame] = {}
    if "candidates" in tables and "pairs" in tables:
        out["pairing_alternatives"] = pairing_alternatives(dict(tables))
    if "stations" in tables and "staffing" in tables:
        out["station_explanations"] = station_explanations(scenario, dict(tables))
    if previous is not None:
        out["churn"] = churn(previous, dict(tables))
    if explain:
        values = marginal_values(scenario, dict(tables))
        if len(values):
            out["marginal_values"] = values
    return out


def export_models(
    scenario: Scenario,
    folder: str | os.PathLike[str],
    stages: Iterable[str] | None = None,
    plan: Plan | None = None,
) -> list[Path]:
    """Write each stage's model for audit: pairing as MPS (re-solvable by any MIP solver), the
    staffing, volunteer and funds flows as arc and node tables (with the plan's pairs feeding
    牵手 dispatch, and its stations the supervision and delivery capacities)."""
    from linkage.scenario.io import atomic_write_bytes
    from linkage.solvers.pairing import pairing_mps
    from linkage.solvers.staffing import staffing_network

    wanted = list(ORDER if stages is None else stages)
    target = Path(folder)
    written = []
    if "pairing" in wanted:
        text, multiplier = pairing_mps(scenario)
        path = target / "pairing.mps"
        header = (
            f"* objective: minimise {multiplier}·(priority-weighted shortfall) − score; "
            "its optimum is M·W* − S* of the plan\n"
        )
        atomic_write_bytes(path, (header + text).encode("utf-8"))
        written.append(path)
    pairs = plan.tables.get("pairs") if plan is not None else None
    stations = plan.tables.get("stations") if plan is not None else None
    from linkage.solvers.funds import funds_network
    from linkage.solvers.volunteers import volunteer_network

    # every flow stage as its arc and node tables (pairs feed dispatch, stations capacities)
    flows: dict[str, Callable[[], Any]] = {
        "staffing": lambda: staffing_network(scenario, pairs),
        "volunteers": lambda: volunteer_network(scenario, stations),
        "funds": lambda: funds_network(scenario, stations, pairs)[0],
    }
    for stage, build in flows.items():
        if stage not in wanted:
            continue
        network = build()
        for part, frame in (("arcs", network.arcs()), ("nodes", network.nodes())):
            path = target / f"{stage}_{part}.csv"
            atomic_write_bytes(path, frame.to_csv(index=False).encode("utf-8"))
            written.append(path)
    return written
