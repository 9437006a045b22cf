"""The public GAP instances solved through linkage's pairing stage, against published values.

    .venv/bin/python benchmarks/gap.py     # gap1–gap12 (10 s each), Chu–Beasley A–D (60 s)
    .venv/bin/python benchmarks/gap.py --set chu1997 --time-limit 60 --sense min

Each instance becomes a scenario (``gap_scenario.py``); the pairing stage's score is −cost (min
form) or the profit (max form). Prints one Markdown row per instance: objective, proven bound,
gap to the bound, deviation from the best-known value, time.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import pandas as pd

from gap_scenario import gap_scenario
from linkage.solvers.pairing import solve_pairing

HERE = Path(__file__).parent / "data" / "gap"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, default=HERE)
    parser.add_argument("--set", action="append", help="cattrysse1994, chu1997, yagiura2004")
    parser.add_argument("--sense", default=None, choices=["min", "max"])
    parser.add_argument(
        "--time-limit",
        type=float,
        default=None,
        help="seconds per instance (default 10 for gap1–12, 60 otherwise)",
    )
    parser.add_argument("--method", default="auto")
    parser.add_argument("--only", help="substring of instance names to run")
    parser.add_argument("--seed", type=int, default=None, help="solver seed (default: policy's)")
    args = parser.parse_args(argv)
    best = pd.read_csv(args.dir / "best_known.csv")
    sets = args.set or ["cattrysse1994", "chu1997"]
    best = best[best["instance"].str.split("/").str[0].isin(sets)]
    if args.sense:
        best = best[best["sense"] == args.sense]
    elif "chu1997" in sets or "yagiura2004" in sets:
        # the Chu–Beasley and Yagiura values are for the min form; gap1–12 are run in both
        best = best[(best["sense"] == "min") | best["instance"].str.startswith("cattrysse")]
    if args.only:
        best = best[best["instance"].str.contains(args.only)]
    sys.stdout.write(
        "| instance | sense | linkage | bound | gap to bound | best known | deviation | status "
        "| method | time s |\n|---|---|---|---|---|---|---|---|---|---|\n"
    )
    for row in best.itertuples(index=False):
        limit = args.time_limit or (10.0 if row.instance.startswith("cattrysse") else 60.0)
        path = args.dir / row.instance
        if not path.exists():
            continue
        scenario = gap_scenario(path, row.sense, time_limit_s=limit, method=args.method)
        t0 = time.perf_counter()
        result = solve_pairing(scenario, seed=args.seed)
        wall = time.perf_counter() - t0
        rep = result.report
        sign = -1 if row.sense == "min" else 1
        value = sign * rep.objectives["score"]
        bound_raw = rep.bound.get("score", math.nan)
        bound = sign * bound_raw if bound_raw is not None else math.nan
        known = float(row.best_known_combined)
        deviation = (value - known) / known * (1 if row.sense == "min" else -1)
        sys.stdout.write(
            f"| {row.instance} | {row.sense} | {value:.0f} | {bound:.0f} | {rep.gap:.3%} | "
            f"{known:.0f} | {deviation:+.3%} | {rep.status} | {rep.method} | {wall:.2f} |\n"
        )
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
