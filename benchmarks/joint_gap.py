"""Staged vs joint: the gap between the staged plan and the joint model's bound, per scenario.

Solves each shipped scenario stage by stage, then bounds the joint model of staffing, volunteers
and funds (``linkage.solvers.joint``) by its LP (HiGHS) where that is affordable and by the
Lagrangian dual (three OR-Tools min-cost flows per round) — side by side in one run, so the two
bounds and their times can be compared. Run by hand::

    .venv/bin/python benchmarks/joint_gap.py [scenarios/jilin scenarios/henan] [--lp-max 400000]

Prints a markdown table for benchmarks/RESULTS.md. The goal is a gap ≤ 1 %.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import linkage
from linkage.solvers.joint import solve_joint

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "scenarios",
        nargs="*",
        default=[str(ROOT / "scenarios/jilin"), str(ROOT / "scenarios/henan")],
    )
    parser.add_argument("--lp-max", type=int, default=400_000, help="largest model for the LP")
    parser.add_argument("--rounds", type=int, default=20, help="Lagrangian rounds")
    args = parser.parse_args()
    rows = []
    for folder in args.scenarios:
        scenario = linkage.load(folder)
        started = time.perf_counter()
        plan = linkage.solve(scenario)
        staged_s = time.perf_counter() - started
        tables = dict(plan.tables)
        reports = {r.stage: r for r in plan.reports}
        for method in ("lp", "lagrangian"):
            probe = solve_joint(scenario, tables, reports, method="lagrangian", iterations=0)
            if method == "lp" and probe.report.variables > args.lp_max:
                rows.append([Path(folder).name, method, f"{probe.report.variables:,}", "skipped"])
                continue
            result = solve_joint(scenario, tables, reports, method=method, iterations=args.rounds)
            r = result.report
            rows.append(
                [
                    Path(folder).name,
                    method,
                    f"{r.variables:,}",
                    f"{r.objectives['staged']:,.1f}",
                    f"{r.bound.get('staged', float('nan')):,.1f}",
                    f"{r.gap:.3%}",
                    f"{r.wall_s:.1f}",
                    f"{staged_s:.1f}",
                ]
            )
            print(" | ".join(rows[-1]), flush=True)
    print(f"\n{platform.node()}, {time.strftime('%Y-%m-%d')}\n")
    print(
        "| scenario | bound by | variables | J staged | joint bound | gap ≤ | joint s | staged s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row + [""] * (8 - len(row))) + " |")


if __name__ == "__main__":
    main()
