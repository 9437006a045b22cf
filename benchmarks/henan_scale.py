"""The whole plan at Henan's provincial scale (DESIGN §9), stage by stage, against a greedy planner.

    .venv/bin/python benchmarks/henan_scale.py [--verify] [--regenerate] [--totals T=N,...]
        [--stages pairing,staffing,...] [--profile N] [--no-greedy]

1. Generates ``benchmarks/henan_scale.yaml`` (2,586 townships, 400 organizations, 50,000 social
   workers, 1,000,000 volunteers, 5,000 donor lots) into ``benchmarks/work/henan_scale``
   (gitignored) in a subprocess, unless the folder's stamp shows the same settings file and
   generator sources (sha256) — then the cached folder is reused. ``--verify`` regenerates into
   a temporary folder and checks every file is byte-identical to the cached one.
   ``--totals social_workers=30000`` (keys of ``linkage.synth.SCALABLE``: people for workers and
   volunteers, rows for organizations and resources) generates a variant into its own folder.
2. Loads the scenario (timed), then runs every stage of ``linkage.pipeline.ORDER`` in order
   through the pipeline's own stage functions (``STAGES[name](scenario, settings, carried)``,
   invariant checks included, results carried forward exactly as ``linkage.pipeline.solve``
   does), so a stage added to the pipeline (funds) is measured without changing this file.
3. Per phase: wall time, the solver's own time (``StageReport.wall_s``; the rest is building
   the tables and checking invariants), peak RSS and model size. Peak RSS is the larger of a
   thread sampling ``VmRSS`` in /proc/self/status every 10 ms and the kernel's high-water mark
   ``VmHWM``, reset at the start of every phase through /proc/self/clear_refs — the sampler
   cannot run while OR-Tools holds the GIL in C++, and tracemalloc sees no C++ memory at all.
4. Runs the greedy nearest-first planner (``benchmarks/greedy.py``) and compares the
   priority-weighted unmet need Σ priority × shortfall per stage: *chained* (greedy stages feed
   each other, e.g. volunteers supervised by the greedy staffing) and *alone* (the greedy stage
   given the optimal plan's upstream). Target: the optimal plan leaves ≥ 15 % less.

Prints Markdown (paste into benchmarks/RESULTS.md). The machine's load average is printed at
the start and end: read the times as noisy when others use the cores.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import math
import os
import pstats
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import linkage
from greedy import GREEDY, GreedyOutcome
from linkage import pipeline

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ROOT / "benchmarks" / "henan_scale.yaml"
WORK = ROOT / "benchmarks" / "work"
SYNTH_SOURCES = ROOT / "src" / "linkage" / "synth"
STAMP = ".henan_scale.stamp.json"
TARGET_S = 60.0
TARGET_MB = 4096.0
TARGET_REDUCTION = 15.0

# stage → (the StageReport objective that is its priority-weighted unmet need, unit); a stage is
# compared with greedy when it has an entry here and in greedy.GREEDY. Funds: the report's W
# (Σ priority × segment value × unfunded ¥1,000 units), and greedy.greedy_funds returns the same W
UNMET: dict[str, tuple[str, str]] = {
    "staffing": ("weighted_shortfall", "FTE"),
    "volunteers": ("weighted_shortfall_hours", "hours"),
    "funds": ("weighted_unmet", "worth"),
}


# ---------------------------------------------------------------------------------------- memory


def _status_kb(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class RssMonitor:
    """Peak resident memory per phase: a 10 ms VmRSS sampler plus the kernel's VmHWM."""

    def __init__(self, interval_s: float = 0.01) -> None:
        self.interval_s = interval_s
        self._peak_kb = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.hwm_reset = True
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            kb = _status_kb("VmRSS")
            with self._lock:
                self._peak_kb = max(self._peak_kb, kb)

    def reset(self) -> float:
        """Start a phase: returns the current RSS in MB."""
        try:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
                f.write("5")  # resets VmHWM to the current RSS (Linux ≥ 4.0)
        except OSError:
            self.hwm_reset = False
        now = _status_kb("VmRSS")
        with self._lock:
            self._peak_kb = now
        return now / 1024

    def peak(self) -> tuple[float, float]:
        """(peak MB, of which the sampler saw MB) since the last reset."""
        now = _status_kb("VmRSS")
        with self._lock:
            sampled = max(self._peak_kb, now)
        hwm = _status_kb("VmHWM") if self.hwm_reset else 0
        return max(sampled, hwm) / 1024, sampled / 1024

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Phase:
    name: str
    wall_s: float
    start_mb: float
    peak_mb: float
    sampled_mb: float
    solver_s: float = math.nan
    variables: int | None = None
    constraints: int | None = None
    method: str = ""
    status: str = ""
    gap: float = math.nan
    message: str = ""


def measure(
    monitor: RssMonitor, name: str, fn: Callable[[], Any], profile: int = 0
) -> tuple[Any, Phase]:
    start_mb = monitor.reset()
    prof = cProfile.Profile() if profile else None
    t0 = time.perf_counter()
    if prof is not None:
        prof.enable()
    try:
        value = fn()
    finally:
        if prof is not None:
            prof.disable()
    wall = time.perf_counter() - t0
    peak, sampled = monitor.peak()
    if prof is not None:
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(profile)
        sys.stderr.write(f"\n### profile: {name}\n{out.getvalue()}\n")
    return value, Phase(name, wall, start_mb, peak, sampled)


# ------------------------------------------------------------------------------------ generation


def _sha256_files(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def stamp_of(settings: Path, totals: Mapping[str, float]) -> dict[str, Any]:
    return {
        "settings_sha256": hashlib.sha256(settings.read_bytes()).hexdigest(),
        "synth_sha256": _sha256_files(list(SYNTH_SOURCES.glob("*.py"))),
        "totals": dict(sorted(totals.items())),
    }


def _generate_cmd(settings: Path, out: Path, totals: Mapping[str, float]) -> list[str]:
    code = (
        "import sys, json; from linkage.synth import generate; "
        "generate(sys.argv[1], sys.argv[2], totals=json.loads(sys.argv[3]) or None, "
        "overwrite=True)"
    )
    return [sys.executable, "-c", code, str(settings), str(out), json.dumps(dict(totals))]


def generate_in_subprocess(
    settings: Path, out: Path, totals: Mapping[str, float]
) -> tuple[float, float]:
    """Generate in a fresh process (its memory stays out of this one): (wall s, peak MB)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(_generate_cmd(settings, out, totals))
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"generation failed with exit code {proc.returncode}")
    return time.perf_counter() - t0, usage.ru_maxrss / 1024


def ensure_scenario(
    settings: Path, out: Path, totals: Mapping[str, float], force: bool
) -> tuple[float | None, float | None]:
    """Generate unless ``out`` carries the same stamp; (wall s, peak MB), None when cached."""
    want = stamp_of(settings, totals)
    stamp = out / STAMP
    if not force and stamp.exists() and json.loads(stamp.read_text()) == want:
        return None, None
    wall, peak = generate_in_subprocess(settings, out, totals)
    stamp.write_text(json.dumps(want, indent=1))
    return wall, peak


def verify_reproducible(settings: Path, out: Path, totals: Mapping[str, float]) -> list[str]:
    """Regenerate into a temporary folder; the files that differ from ``out`` (empty: none)."""
    with tempfile.TemporaryDirectory(dir=WORK) as tmp:
        again = Path(tmp) / "again"
        generate_in_subprocess(settings, again, totals)
        names = sorted({p.name for p in again.iterdir()} | {p.name for p in out.iterdir()})
        names = [n for n in names if n != STAMP]
        return [
            n
            for n in names
            if not (out / n).exists()
            or not (again / n).exists()
            or (out / n).read_bytes() != (again / n).read_bytes()
        ]


# ------------------------------------------------------------------------------------------ plan


def run_plan(
    scenario: Any, monitor: RssMonitor, profile: int, wanted: set[str] | None = None
) -> tuple[list[Phase], dict[str, Any], dict[str, dict[str, Any]]]:
    """Every pipeline stage in order, as ``pipeline.solve`` runs them: the phases, the outcomes
    by stage and, per stage, the carried results it was given (its upstream)."""
    settings = pipeline.SolveSettings()
    carried: dict[str, Any] = {}
    phases: list[Phase] = []
    outcomes: dict[str, Any] = {}
    upstream: dict[str, dict[str, Any]] = {}
    failed = ""
    for name in pipeline.ORDER:
        if wanted is not None and name not in wanted:
            continue
        if failed:
            phases.append(Phase(name, math.nan, math.nan, math.nan, math.nan, status="skipped"))
            continue
        upstream[name] = dict(carried)
        stage_fn = pipeline.STAGES[name]
        try:
            outcome, phase = measure(
                monitor,
                name,
                lambda fn=stage_fn: fn(scenario, settings, carried),  # type: ignore[misc]
                profile,
            )
        except Exception as exc:  # a stage in the making (funds) must not hide the others
            traceback.print_exc()
            failed = name
            phases.append(
                Phase(name, math.nan, math.nan, math.nan, math.nan, status=f"error: {exc!r}"[:80])
            )
            continue
        r = outcome.report
        phase.solver_s = float(r.wall_s)
        phase.variables, phase.constraints = int(r.variables), int(r.constraints)
        phase.method, phase.status, phase.gap = r.method, r.status, float(r.gap)
        phase.message = r.message
        phases.append(phase)
        outcomes[name] = outcome
        carried.update(outcome.carry)
    return phases, outcomes, upstream


def run_greedy(
    scenario: Any,
    outcomes: Mapping[str, Any],
    upstream: Mapping[str, Mapping[str, Any]],
    monitor: RssMonitor,
    check: bool,
) -> tuple[dict[str, tuple[GreedyOutcome, Phase]], dict[str, tuple[GreedyOutcome, Phase]]]:
    """Greedy per stage, chained (greedy feeds greedy; stages without a greedy rule pass on the
    optimal plan's results) and alone (given the optimal upstream, only where that differs)."""
    chained: dict[str, tuple[GreedyOutcome, Phase]] = {}
    alone: dict[str, tuple[GreedyOutcome, Phase]] = {}
    carried: dict[str, Any] = {}
    greedy_before = False
    for name in pipeline.ORDER:
        if name not in outcomes:
            continue
        rule = GREEDY.get(name)
        if rule is None:
            carried.update(outcomes[name].carry)
            continue
        given = dict(carried)
        chained[name] = measure(
            monitor, f"greedy {name}", lambda r=rule, g=given: r(scenario, g, check)
        )
        carried.update(chained[name][0].carry)
        if greedy_before:
            base = dict(upstream[name])
            alone[name] = measure(
                monitor, f"greedy {name} alone", lambda r=rule, g=base: r(scenario, g, check)
            )
        greedy_before = True
    return chained, alone


# ---------------------------------------------------------------------------------------- output


def _num(v: float | int | None, fmt: str = "{:,.2f}") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return fmt.format(v)


def _git_state() -> str:
    """The commit and how many files under src/ differ from it (others edit while we measure)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "git state unknown"
    return f"commit {head}" + (f" + {len(dirty)} uncommitted file(s) under src/" if dirty else "")


def _reduction(optimal: float, greedy: float) -> str:
    if greedy <= 0:
        return "0 % (both meet all need)" if optimal <= 0 else "–"
    return f"{100 * (greedy - optimal) / greedy:.1f} %"


def _pct(optimal: float, greedy: float) -> float:
    return 100 * (greedy - optimal) / greedy if greedy > 0 else math.nan


def print_report(
    folder: Path,
    gen: tuple[float | None, float | None],
    load: Phase,
    phases: list[Phase],
    sizes: Mapping[str, int],
    outcomes: Mapping[str, Any],
    chained: Mapping[str, tuple[GreedyOutcome, Phase]],
    alone: Mapping[str, tuple[GreedyOutcome, Phase]],
    monitor: RssMonitor,
    load_before: tuple[float, ...],
) -> bool:
    w = sys.stdout.write
    rel = folder.relative_to(ROOT) if folder.is_relative_to(ROOT) else folder
    w(f"\n## Henan at provincial scale — `{rel}`\n\n")
    w(
        f"{sizes['townships']:,} township stations, {sizes['organizations']:,} organizations, "
        f"{sizes['workers']:,} social workers in {sizes['worker_pools']:,} pools, "
        f"{sizes['volunteers']:,} volunteers in {sizes['volunteer_pools']:,} pools, "
        f"{sizes['lots']:,} donor lots. {os.cpu_count()} cores; load average "
        f"{' / '.join(f'{x:.2f}' for x in load_before)} at the start, "
        f"{' / '.join(f'{x:.2f}' for x in os.getloadavg())} at the end (1 / 5 / 15 min).\n\n"
    )
    w(f"Code: {_git_state()}.\n\n")
    if gen[0] is None:
        w("Generation: cached (same settings and generator sources).\n\n")
    else:
        w(f"Generation: {gen[0]:.2f} s in a subprocess, peak {gen[1]:,.0f} MB.\n\n")

    w(
        "| phase | time s | solver s | peak RSS MB | +MB in phase | variables (arcs) | "
        "constraints (nodes) | method | status | gap |\n"
    )
    w("|---|---|---|---|---|---|---|---|---|---|\n")
    w(
        f"| load | {load.wall_s:.2f} | – | {load.peak_mb:,.0f} | "
        f"{load.peak_mb - load.start_mb:,.0f} | – | – | – | – | – |\n"
    )
    done = [p for p in phases if math.isfinite(p.wall_s)]
    for p in phases:
        if not math.isfinite(p.wall_s):
            w(f"| {p.name} | – | – | – | – | – | – | – | {p.status} | – |\n")
            continue
        w(
            f"| {p.name} | {p.wall_s:.2f} | {_num(p.solver_s)} | {p.peak_mb:,.0f} | "
            f"{p.peak_mb - p.start_mb:,.0f} | {_num(p.variables, '{:,}')} | "
            f"{_num(p.constraints, '{:,}')} | {p.method} | {p.status} | {_num(p.gap, '{:.4%}')} |\n"
        )
    complete = [p.name for p in done] == list(pipeline.ORDER)
    total_s = sum(p.wall_s for p in done)
    total_peak = max([p.peak_mb for p in done] + [load.peak_mb])
    w(
        f"| **whole plan** | **{total_s:.2f}** | {sum(p.solver_s for p in done):.2f} | "
        f"**{total_peak:,.0f}** | – | – | – | – | "
        f"{'all stages ran' if complete else 'INCOMPLETE: not the whole plan'} | – |\n"
    )
    w(f"| load + whole plan | {total_s + load.wall_s:.2f} | – | {total_peak:,.0f} | | | | | | |\n")
    sampled = max([p.sampled_mb for p in done] + [load.sampled_mb])
    w(
        f"\nPeak RSS is the process's (scenario and earlier stages included); the 10 ms sampler "
        f"alone saw {sampled:,.0f} MB at most"
        + ("" if monitor.hwm_reset else " (VmHWM could not be reset: peaks are the sampler's)")
        + ". `time s` is the pipeline's stage function (model build, solve, tables, invariant "
        "checks); `solver s` is the stage's own StageReport.wall_s.\n\n"
    )
    ok_time = total_s <= TARGET_S and complete
    ok_mem = total_peak <= TARGET_MB
    w(
        f"Targets: whole plan ≤ {TARGET_S:.0f} s: **{'met' if ok_time else 'MISSED'}** "
        f"({total_s:.2f} s); peak ≤ {TARGET_MB / 1024:.0f} GB: "
        f"**{'met' if ok_mem else 'MISSED'}** ({total_peak:,.0f} MB).\n"
    )
    for p in done:
        if p.message:
            w(f"- {p.name}: {p.message}\n")

    w("\n### Optimal plan vs greedy nearest-first — priority-weighted unmet need\n\n")
    w(
        "| stage | unit | Σ priority × need | optimal Σ p × unmet | greedy chained | reduction | "
        "greedy alone | reduction | greedy s | greedy +MB | greedy rules kept |\n"
    )
    w("|---|---|---|---|---|---|---|---|---|---|---|\n")
    ok_red = True
    for name in pipeline.ORDER:
        if name not in outcomes:
            continue
        if name not in UNMET or name not in chained:
            why = "no greedy rule (add to greedy.GREEDY and UNMET)" if name != "pairing" else ""
            if why:
                w(f"| {name} | – | – | – | – | – | – | – | – | – | {why} |\n")
            continue
        key, unit = UNMET[name]
        opt = float(outcomes[name].report.objectives[key])
        g, gp = chained[name]
        a = alone[name][0] if name in alone else None
        viol = g.violations + (a.violations if a else [])
        w(
            f"| {name} | {unit} | {g.weighted_need:,.1f} | {opt:,.1f} | {g.weighted_unmet:,.1f} | "
            f"{_reduction(opt, g.weighted_unmet)} | "
            f"{_num(a.weighted_unmet, '{:,.1f}') if a else '= chained'} | "
            f"{_reduction(opt, a.weighted_unmet) if a else '= chained'} | "
            f"{g.wall_s:.2f}{f' / {a.wall_s:.2f}' if a else ''} | "
            f"{gp.peak_mb - gp.start_mb:,.0f} | "
            f"{'yes' if not viol else f'NO: {viol[0]}'} |\n"
        )
        red = _pct(opt, g.weighted_unmet)
        ok_red &= math.isfinite(red) and red >= TARGET_REDUCTION
    w(
        f"\nTarget: the optimal plan leaves ≥ {TARGET_REDUCTION:.0f} % less priority-weighted "
        f"unmet need than greedy (chained) in every compared stage: "
        f"**{'met' if ok_red else 'MISSED'}**. "
        "Chained: greedy stages feed each other (greedy volunteers supervised by the greedy "
        "staffing); alone: the greedy stage given the optimal plan's upstream (the same "
        "supervision capacity as the optimal volunteers stage). Pairing is the optimal plan's in "
        "both (greedy pairing: benchmarks/pairing.py).\n"
    )
    return ok_time and ok_mem


# ------------------------------------------------------------------------------------------ main


def _parse_totals(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        key, _, value = item.partition("=")
        out[key.strip()] = float(value)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--settings", type=Path, default=SETTINGS)
    parser.add_argument("--out", type=Path, default=None, help="scenario folder (default: work)")
    parser.add_argument("--totals", default="", help="e.g. social_workers=30000,volunteers=1e5")
    parser.add_argument(
        "--stages", default="", help="comma-separated subset of the pipeline (default: all)"
    )
    parser.add_argument("--regenerate", action="store_true", help="ignore the cached scenario")
    parser.add_argument("--verify", action="store_true", help="check generation is reproducible")
    parser.add_argument("--no-greedy", action="store_true")
    parser.add_argument(
        "--no-check", action="store_true", help="skip the invariant checks of greedy plans"
    )
    parser.add_argument("--profile", type=int, default=0, help="top N functions per stage")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    settings = args.settings.resolve()
    totals = _parse_totals(args.totals)
    suffix = "".join(f"-{k}{v:g}" for k, v in sorted(totals.items()))
    folder = (args.out or WORK / f"{settings.stem}{suffix}").resolve()
    WORK.mkdir(parents=True, exist_ok=True)

    gen = ensure_scenario(settings, folder, totals, args.regenerate)
    sys.stderr.write(
        f"scenario {folder}: "
        + ("cached\n" if gen[0] is None else f"generated in {gen[0]:.2f} s\n")
    )
    if args.verify:
        t0 = time.perf_counter()
        differ = verify_reproducible(settings, folder, totals)
        sys.stderr.write(
            f"reproducibility ({time.perf_counter() - t0:.1f} s): "
            + ("byte-identical\n" if not differ else f"DIFFERENT: {differ}\n")
        )
        if differ:
            return 2

    monitor = RssMonitor()
    try:
        scenario, load = measure(monitor, "load", lambda: linkage.load(folder))
        t = scenario.tables
        sizes = {
            "townships": int((scenario.regions["level"] == "township").sum()),
            "organizations": len(scenario.organizations),
            "workers": int(t["social_workers"]["count"].sum()),
            "worker_pools": len(t["social_workers"]),
            "volunteers": int(t["volunteers"]["count"].sum()),
            "volunteer_pools": len(t["volunteers"]),
            "lots": len(t["resources"]) if "resources" in t else 0,
        }
        wanted = {x.strip() for x in args.stages.split(",") if x.strip()} or None
        unknown = (wanted or set()) - set(pipeline.ORDER)
        if unknown:
            parser.error(f"unknown stage(s) {sorted(unknown)}; the stages: {pipeline.ORDER}")
        phases, outcomes, upstream = run_plan(scenario, monitor, args.profile, wanted)
        chained: dict[str, tuple[GreedyOutcome, Phase]] = {}
        alone: dict[str, tuple[GreedyOutcome, Phase]] = {}
        if not args.no_greedy:
            chained, alone = run_greedy(scenario, outcomes, upstream, monitor, not args.no_check)
        ok = print_report(
            folder, gen, load, phases, sizes, outcomes, chained, alone, monitor, load_before
        )
    finally:
        monitor.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
