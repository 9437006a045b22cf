"""The ``linkage`` command: a thin layer over the Python API.

Exit codes: 0 solved / valid, 2 invalid input, 3 not solved (the reason is printed).
"""

from __future__ import annotations

import argparse
import sys
import time
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

EXIT_OK = 0
EXIT_INVALID = 2
EXIT_NOT_SOLVED = 3


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(width - _width(text), 0)


def format_table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    """A plain text table that lines up Chinese (double-width) text too."""
    cells = [list(header), *[[str(c) for c in r] for r in rows]]
    widths = [min(max(_width(r[i]) for r in cells), 60) for i in range(len(header))]
    lines = ["  ".join(_pad(c, w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def print_problems(problems: Sequence[object], out: TextIO) -> None:
    from linkage.scenario.problems import Problem

    rows = []
    for p in problems:
        assert isinstance(p, Problem)
        rows.append(
            [
                p.severity,
                p.source,
                "" if p.row is None else str(p.row),
                p.column_text,
                "" if p.value is None else p.value,
                p.expected,
            ]
        )
    out.write(format_table(rows, ["severity", "file", "row", "column", "value", "expected"]))
    out.write("\n")
    errors = sum(1 for p in problems if getattr(p, "severity", "") == "error")
    out.write(f"{errors} error(s), {len(problems) - errors} warning(s)\n")


def _load(path: str) -> object:
    import linkage

    return linkage.load(path)


def cmd_validate(args: argparse.Namespace) -> int:
    from linkage.scenario import Scenario

    scenario = _load(args.scenario)
    assert isinstance(scenario, Scenario)
    if scenario.warnings:
        print_problems(scenario.warnings, sys.stdout)
    sizes = ", ".join(f"{name} {n}" for name, n in scenario.summary().items() if n)
    print(f"{scenario.name}: valid ({sizes})")
    return EXIT_OK


def cmd_solve(args: argparse.Namespace) -> int:
    from linkage.pipeline import solve
    from linkage.scenario import Scenario

    out = Path(args.out)
    if out.exists() and not args.force:
        print(f"error: {out} exists; pass --force to overwrite it", file=sys.stderr)
        return EXIT_INVALID
    scenario = _load(args.scenario)
    assert isinstance(scenario, Scenario)
    stages = args.stages.split(",") if args.stages else None
    previous = None
    if args.previous:
        from linkage.plan.compare import load_plan

        previous = load_plan(args.previous)
    started = time.perf_counter()
    plan = solve(
        scenario,
        stages=stages,
        time_limit_s=args.time_limit,
        seed=args.seed,
        workers=args.workers,
        pairing_method=args.method,
        joint=args.joint,
        previous=previous,
        explain=args.explain,
    )
    plan.save(out, force=args.force, scenario=scenario)
    if args.export_models:
        from linkage.pipeline import export_models

        for path in export_models(scenario, args.export_models, stages, plan):
            print(f"model exported: {path}")
    rows = []
    for r in plan.reports:
        objective = ", ".join(f"{k} {v}" for k, v in r.objectives.items())
        rows.append(
            [
                r.stage,
                r.method,
                r.status,
                objective,
                f"{r.gap:.4%}",
                f"{r.wall_s:.2f}s",
                f"{r.variables} vars / {r.constraints} cons",
            ]
        )
    print(f"{scenario.name}")
    print(format_table(rows, ["stage", "method", "status", "objective", "gap", "time", "model"]))
    if "indicators" in plan.tables:
        print(_indicator_table(plan.tables["indicators"]))
    for name, frame in plan.tables.items():
        print(f"  {name}: {len(frame)} rows")
    print(f"plan written to {out} in {time.perf_counter() - started:.1f}s")
    if not plan.solved:
        for r in plan.reports:
            if r.status not in ("optimal", "feasible"):
                print(f"not solved: {r.stage}: {r.status}: {r.message}", file=sys.stderr)
        return EXIT_NOT_SOLVED
    return EXIT_OK


def _indicator_table(frame: Any) -> str:
    """The whole-scenario indicators as a text table: before → after (target)."""

    def shown(value: float) -> str:
        if value != value:  # NaN
            return "—"
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"

    rows = [
        [r.label, shown(r.before), shown(r.after), shown(r.target)]
        for r in frame.itertuples(index=False)
    ]
    return format_table(rows, ["indicator 指标", "before 现状", "after 方案", "target 目标"])


def cmd_graph(args: argparse.Namespace) -> int:
    import networkx as nx

    from linkage.graph import reachability
    from linkage.scenario import Scenario
    from linkage.scenario.io import atomic_write_bytes

    scenario = _load(args.scenario)
    assert isinstance(scenario, Scenario)
    graph = scenario.graph()
    if args.out:
        target = Path(args.out)
        lines = nx.generate_graphml(graph) if target.suffix != ".gexf" else nx.generate_gexf(graph)
        atomic_write_bytes(target, "\n".join(lines).encode("utf-8"))
        print(f"{graph.number_of_nodes()} nodes, {graph.number_of_edges()} edges → {target}")
    report = reachability(scenario)
    unreachable = report[~report["reachable"]]
    print(
        f"{len(report)} pairing targets, {len(unreachable)} that no eligible organization can reach"
    )
    if len(unreachable):
        rows = [
            [str(r.target), str(r.name), str(r.province), str(r.why)]
            for r in unreachable.itertuples()
        ]
        print(format_table(rows, ["target", "name", "province", "why"]))
    return EXIT_OK


def _numbers(items: Sequence[str] | None, flag: str) -> dict[str, float] | None:
    parsed: dict[str, float] = {}
    for item in items or []:
        key, _, value = item.partition("=")
        try:
            parsed[key] = float(value)
        except ValueError:
            print(
                f"error: {flag} {item}: expected TABLE=NUMBER, e.g. volunteers=1000000",
                file=sys.stderr,
            )
            raise SystemExit(EXIT_INVALID) from None
    return parsed or None


def cmd_generate(args: argparse.Namespace) -> int:
    from linkage.synth import generate

    out = Path(args.out)
    if out.exists() and not args.force:
        print(f"error: {out} exists; pass --force to overwrite it", file=sys.stderr)
        return EXIT_INVALID
    written = generate(
        args.settings,
        out,
        seed=args.seed,
        scale=_numbers(args.scale, "--scale"),
        totals=_numbers(args.total, "--total"),
        overwrite=args.force,
    )
    print(f"scenario written to {written}")
    return EXIT_OK


def cmd_convert(args: argparse.Namespace) -> int:
    from linkage.scenario import Scenario, save

    scenario = _load(args.scenario)
    assert isinstance(scenario, Scenario)
    save(scenario, args.out, force=args.force)
    print(f"{scenario.name} → {args.out}")
    return EXIT_OK


def cmd_docs(args: argparse.Namespace) -> int:
    from linkage.scenario.docs import format_markdown
    from linkage.scenario.io import atomic_write_bytes

    text = format_markdown()
    if args.out:
        atomic_write_bytes(Path(args.out), text.encode("utf-8"))
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_template(args: argparse.Namespace) -> int:
    from linkage.scenario.template import write_template

    out = Path(args.out)
    if out.exists() and not args.force:
        print(f"error: {out} exists; pass --force to overwrite it", file=sys.stderr)
        return EXIT_INVALID
    write_template(out, with_examples=args.examples)
    print(f"template written to {out}: fill a sheet per table, then `linkage solve {out}`")
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    from linkage.plan.compare import compare, write_comparison

    comparison = compare(args.a, args.b, names=(Path(args.a).name, Path(args.b).name))
    print(comparison.summary_text())
    if args.out:
        out = Path(args.out)
        if out.exists() and not args.force:
            print(f"error: {out} exists; pass --force to overwrite it", file=sys.stderr)
            return EXIT_INVALID
        write_comparison(comparison, out, force=args.force)
        print(f"comparison written to {out}")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from linkage.api.app import serve
    from linkage.api.settings import Settings

    serve(Settings.from_env(), args.host, args.port)
    return EXIT_OK


def cmd_keys_create(args: argparse.Namespace) -> int:
    from linkage.api.keys import create_key
    from linkage.api.settings import Settings

    try:
        key = create_key(Settings.from_env(), args.tenant, args.role, name=args.name)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    print(key)  # shown once; only its hash is stored
    return EXIT_OK


def cmd_whatif(args: argparse.Namespace) -> int:
    from linkage.whatif import whatif_main

    return whatif_main(args.file, args.out, args.executor, args.scheduler, force=args.force)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="linkage",
        description="Plan the five-society linkage (五社联动) and 牵手 pairing with OR-Tools.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check a scenario and list every problem")
    p.add_argument("scenario", help="a scenario folder, .xlsx workbook or .json document")
    p.set_defaults(run=cmd_validate)

    p = sub.add_parser("solve", help="solve a scenario and write the plan folder")
    p.add_argument("scenario")
    p.add_argument("--out", required=True, help="plan folder to write")
    p.add_argument("--stages", help="comma-separated stages (default: all), e.g. pairing")
    p.add_argument("--force", action="store_true", help="overwrite an existing plan folder")
    p.add_argument("--time-limit", type=float, help="seconds per stage (default: the policy's)")
    p.add_argument("--seed", type=int, help="random seed (default: the policy's)")
    p.add_argument("--workers", type=int, help="solver threads (default: the policy's)")
    p.add_argument(
        "--method",
        choices=["auto", "flow", "cp_sat", "mip"],
        help="pairing method (default: the policy's, auto)",
    )
    p.add_argument(
        "--export-models",
        metavar="DIR",
        help="also write each stage's model (MPS, flow arc tables) for audit",
    )
    p.add_argument(
        "--joint",
        action="store_true",
        help="also solve the joint LP of staffing, volunteers and funds; report the staged gap",
    )
    p.add_argument(
        "--previous",
        metavar="PLAN",
        help="re-plan from this plan folder: keep its pairs and staffing unless a change pays",
    )
    p.add_argument(
        "--explain",
        action="store_true",
        help="also compute marginal values (one more worker per county, ¥10,000 per donor class)",
    )
    p.set_defaults(run=cmd_solve)

    p = sub.add_parser("graph", help="export the linkage graph and report unreachable targets")
    p.add_argument("scenario")
    p.add_argument("--out", help="GraphML (.graphml) or GEXF (.gexf) file to write")
    p.set_defaults(run=cmd_graph)

    p = sub.add_parser("generate", help="generate a synthetic scenario from generator settings")
    p.add_argument("settings", help="generator settings (e.g. scenarios/henan/generate.yaml)")
    p.add_argument("--out", required=True, help="scenario folder to write")
    p.add_argument("--seed", type=int, help="random seed (default: the settings')")
    p.add_argument(
        "--scale",
        action="append",
        metavar="TABLE=F",
        help="multiply a table's people, e.g. volunteers=2.5 (repeatable)",
    )
    p.add_argument(
        "--total",
        action="append",
        metavar="TABLE=N",
        help="set a table's total people, e.g. volunteers=1000000 (repeatable)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing folder")
    p.set_defaults(run=cmd_generate)

    p = sub.add_parser("convert", help="save a scenario as a folder, .xlsx or .json")
    p.add_argument("scenario")
    p.add_argument("out")
    p.add_argument("--force", action="store_true")
    p.set_defaults(run=cmd_convert)

    p = sub.add_parser("compare", help="compare two plan folders: changed pairs, indicators")
    p.add_argument("a", help="the first plan folder")
    p.add_argument("b", help="the second plan folder")
    p.add_argument("--out", help="folder for the comparison tables and summary.txt")
    p.add_argument("--force", action="store_true", help="overwrite an existing output folder")
    p.set_defaults(run=cmd_compare)

    p = sub.add_parser("whatif", help="solve every variant of a what-if file and compare them")
    p.add_argument("file", help="the what-if YAML file (a base scenario and its variants)")
    p.add_argument("--out", required=True, help="folder for comparison.csv and variant plans")
    p.add_argument("--executor", choices=["local", "dask", "sequential"], default="local")
    p.add_argument("--scheduler", help="Dask scheduler address (default: a local cluster)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output folder")
    p.set_defaults(run=cmd_whatif)

    p = sub.add_parser("template", help="write an input workbook (.xlsx) to fill in")
    p.add_argument("--out", required=True, help="the .xlsx file to write")
    p.add_argument("--examples", action="store_true", help="fill in a tiny example scenario")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(run=cmd_template)

    p = sub.add_parser("serve", help="run the HTTP API (needs linkage[api])")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(run=cmd_serve)

    p = sub.add_parser("keys", help="manage API keys")
    keys = p.add_subparsers(dest="keys_command", required=True)
    k = keys.add_parser("create", help="create an API key and print it (shown once)")
    k.add_argument("--tenant", required=True)
    k.add_argument("--role", required=True, choices=["viewer", "planner", "admin"])
    k.add_argument("--name", default="", help="who or what uses the key")
    k.set_defaults(run=cmd_keys_create)

    p = sub.add_parser("docs", help="write the scenario format documentation")
    p.add_argument("--out", help="file to write (default: standard output)")
    p.set_defaults(run=cmd_docs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from linkage.scenario.problems import ScenarioError

    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except ScenarioError as exc:
        print_problems(exc.problems, sys.stdout)
        return EXIT_INVALID
    except FileExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID


if __name__ == "__main__":
    sys.exit(main())
