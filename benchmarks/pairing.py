"""Pairing benchmark: linkage's exact pairing vs a PuLP/CBC model of the same candidates vs a
greedy rule (best score first), side by side in one run, each method in a fresh process so that
its peak memory is its own.

    .venv/bin/python benchmarks/pairing.py scenarios/henan scenarios/national-pairing

Prints a Markdown table (paste it into benchmarks/RESULTS.md). Every method is given the same
candidate table (built once per process, its time reported separately as `build_s`).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import time
from typing import Any

import numpy as np
import pandas as pd


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _inputs(path: str) -> tuple[Any, Any, float, float]:
    import linkage
    from linkage.solvers.candidates import build_candidates

    t0 = time.perf_counter()
    scenario = linkage.load(path)
    t1 = time.perf_counter()
    inputs = build_candidates(scenario)
    return scenario, inputs, t1 - t0, time.perf_counter() - t1


def run_linkage(path: str, method: str) -> dict[str, Any]:
    from linkage.solvers.pairing import solve_pairing

    scenario, inputs, load_s, build_s = _inputs(path)
    t0 = time.perf_counter()
    result = solve_pairing(scenario, method=None if method == "auto" else method)
    wall = time.perf_counter() - t0
    r = result.report
    return {
        "method": f"linkage {r.method}",
        "status": r.status,
        "weighted_shortfall": r.objectives.get("weighted_shortfall"),
        "score": r.objectives.get("score"),
        "gap": r.gap,
        "solve_s": wall,
        "build_s": build_s,
        "load_s": load_s,
        "candidates": len(inputs.candidates),
    }


def _priority_and_need(inputs: Any) -> tuple[pd.Series, pd.Series]:
    targets = inputs.targets.set_index("target")
    return targets["priority"], targets["partners_needed"]


def run_pulp(path: str) -> dict[str, Any]:
    import pulp

    _, inputs, load_s, build_s = _inputs(path)
    cand = inputs.candidates
    priority, need = _priority_and_need(inputs)
    capacity = inputs.organizations.set_index("org")["capacity"]
    t0 = time.perf_counter()
    n = len(cand)
    x = [pulp.LpVariable(f"x{i}", cat="Binary") for i in range(n)]
    short = {t: pulp.LpVariable(f"s{k}", lowBound=0) for k, t in enumerate(need.index)}
    fixed = cand["fixed"].to_numpy()

    def model(sense: int) -> pulp.LpProblem:
        prob = pulp.LpProblem("pairing", sense)
        for t, rows in cand.groupby("target").indices.items():
            prob += pulp.lpSum(x[i] for i in rows) + short[t] == int(need[t])
        for t in need.index.difference(cand["target"].unique()):
            prob += short[t] == int(need[t])
        for o, rows in cand.groupby("org").indices.items():
            loads = cand["load"].to_numpy()
            prob += pulp.lpSum(int(loads[i]) * x[i] for i in rows) <= int(capacity[o])
        for q in inputs.quotas.itertuples(index=False):
            mask = (cand["target_province"] == q.province).to_numpy() & (
                cand["cross_province"].to_numpy() == (q.group == "cross_province")
            )
            prob += pulp.lpSum(x[i] for i in np.flatnonzero(mask)) <= int(q.limit)
        for i in np.flatnonzero(fixed):
            prob += x[i] == 1
        return prob

    solver = pulp.PULP_CBC_CMD(msg=False, threads=2, timeLimit=600)
    phase1 = model(pulp.LpMinimize)
    phase1 += pulp.lpSum(int(priority[t]) * v for t, v in short.items())
    phase1.solve(solver)
    shortfall = round(pulp.value(phase1.objective) or 0)
    phase2 = model(pulp.LpMaximize)
    phase2 += pulp.lpSum(int(priority[t]) * v for t, v in short.items()) <= shortfall
    scores = cand["score"].to_numpy()
    phase2 += pulp.lpSum(int(scores[i]) * x[i] for i in range(n))
    phase2.solve(solver)
    return {
        "method": "PuLP/CBC",
        "status": pulp.LpStatus[phase2.status].lower(),
        "weighted_shortfall": shortfall,
        "score": round(pulp.value(phase2.objective) or 0),
        "gap": float("nan"),
        "solve_s": time.perf_counter() - t0,
        "build_s": build_s,
        "load_s": load_s,
        "candidates": n,
    }


def run_greedy(path: str) -> dict[str, Any]:
    """Best score first: fixed pairs, then candidates by descending score while need, capacity
    and quota last."""
    _, inputs, load_s, build_s = _inputs(path)
    cand = inputs.candidates
    priority, need = _priority_and_need(inputs)
    t0 = time.perf_counter()
    left_need = need.to_dict()
    left_cap = inputs.organizations.set_index("org")["capacity"].to_dict()
    quota_left = {(q.province, q.group): int(q.limit) for q in inputs.quotas.itertuples()}
    order = cand.sort_values(["fixed", "score"], ascending=[False, False], kind="stable")
    score = 0
    for row in order.itertuples(index=False):
        group = (row.target_province, "cross_province" if row.cross_province else "in_province")
        if left_need[row.target] <= 0 or left_cap[row.org] < row.load:
            continue
        if quota_left.get(group, 1) <= 0:
            continue
        left_need[row.target] -= 1
        left_cap[row.org] -= row.load
        if group in quota_left:
            quota_left[group] -= 1
        score += int(row.score)
    weighted = int(sum(int(priority[t]) * v for t, v in left_need.items()))
    return {
        "method": "greedy (best score first)",
        "status": "heuristic",
        "weighted_shortfall": weighted,
        "score": score,
        "gap": float("nan"),
        "solve_s": time.perf_counter() - t0,
        "build_s": build_s,
        "load_s": load_s,
        "candidates": len(cand),
    }


RUNNERS = {
    "linkage": lambda path: run_linkage(path, "auto"),
    "linkage-mip": lambda path: run_linkage(path, "mip"),
    "pulp": run_pulp,
    "greedy": run_greedy,
}


def _child(name: str, path: str, queue: Any) -> None:
    try:
        row = RUNNERS[name](path)
        row["peak_mb"] = _peak_mb()
    except Exception as exc:  # report, do not hang the parent
        row = {"method": name, "status": f"error: {type(exc).__name__}: {exc}"}
    queue.put(row)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("scenarios", nargs="+")
    parser.add_argument("--methods", default="linkage,pulp,greedy")
    args = parser.parse_args(argv)
    ctx = mp.get_context("spawn")
    lines = [
        "| scenario | method | status | candidates | weighted shortfall | score | gap | "
        "solve s | build s | load s | peak MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for path in args.scenarios:
        for name in args.methods.split(","):
            queue = ctx.Queue()
            proc = ctx.Process(target=_child, args=(name, path, queue))
            proc.start()
            row = queue.get()
            proc.join()
            lines.append(
                f"| {path} | {row['method']} | {row['status']} | {row.get('candidates', '')} | "
                f"{row.get('weighted_shortfall', '')} | {row.get('score', '')} | "
                f"{row.get('gap', float('nan')):.4%} | {row.get('solve_s', float('nan')):.2f} | "
                f"{row.get('build_s', float('nan')):.2f} | {row.get('load_s', float('nan')):.2f} | "
                f"{row.get('peak_mb', float('nan')):.0f} |"
            )
            sys.stdout.write(lines[-1] + "\n")
            sys.stdout.flush()
    sys.stdout.write("\n" + "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
