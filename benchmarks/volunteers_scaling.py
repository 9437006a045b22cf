"""Volunteer-stage scaling: henan regenerated with 10k, 100k and 1M volunteers.

    .venv/bin/python benchmarks/volunteers_scaling.py [--totals 10000,100000,1000000]

For each size: generate the scenario (same seed, only the volunteer total changes), load it,
solve staffing once (its stations feed supervision), then time the volunteers stage. Prints a
Markdown table; the ratio column is time relative to the smallest size.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import linkage
from linkage.solvers.staffing import solve_staffing
from linkage.solvers.volunteers import solve_volunteers
from linkage.synth import generate

SETTINGS = Path(__file__).parents[1] / "scenarios" / "henan" / "generate.yaml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--totals", default="10000,100000,1000000")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for total in (int(t) for t in args.totals.split(",")):
            folder = generate(SETTINGS, Path(tmp) / f"v{total}", totals={"volunteers": total})
            scenario = linkage.load(folder)
            stations = solve_staffing(scenario).stations
            t0 = time.perf_counter()
            result = solve_volunteers(scenario, stations)
            wall = time.perf_counter() - t0
            people = int(scenario.tables["volunteers"]["count"].sum())
            rows.append((people, len(scenario.tables["volunteers"]), result.report.variables, wall))
    base = rows[0][3]
    sys.stdout.write("| volunteers | pools | arcs | volunteers stage s | × smallest |\n")
    sys.stdout.write("|---|---|---|---|---|\n")
    for people, pools, arcs, wall in rows:
        sys.stdout.write(
            f"| {people:,} | {pools:,} | {arcs:,} | {wall:.2f} | {wall / base:.1f} |\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
