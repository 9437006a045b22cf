"""Solve many scenarios at once — a local process pool or a Dask cluster — one row per variant.

``batch(variants)`` sends each scenario with the solve settings to a pure task function,
``solve_variant``, and collects a summary row per variant: the whole-scenario indicators
(after the plan, and ``before.<indicator>``), each stage's status, objectives, gap and wall
time (``<stage>.status``, ``<stage>.<objective>``, ``<stage>.gap``, ``<stage>.wall_s``), the
task's total time (``total_s``), the worker that ran it (``worker``, host:pid), and
``solved`` / ``error``. A variant that fails — an exception in the solve, a worker that died,
a stage not solved — gets a row that says why; the batch goes on.

Executors, all through ``concurrent.futures``:

- ``"local"`` (default): a process pool, one process per core divided by
  ``workers_per_task``; each solve gets ``workers_per_task`` solver threads, so the pool does
  not oversubscribe the machine.
- ``"dask"``: a ``dask.distributed.Client`` of the scheduler at ``scheduler`` (an address such
  as ``tcp://scheduler:8786``), or of a ``LocalCluster`` (``max_workers`` processes with one
  thread each) when none is given; the client's ``concurrent.futures`` executor runs the same
  code path. A Dask ``Client`` may also be passed as the executor.
- ``"sequential"``: in this process, one after another (for debugging).
- any ``concurrent.futures.Executor``.

Scenarios do not pickle (their tables are a read-only mapping), so a task ships the validated
scenario's parts (``pack``): the policy model and the tables as DataFrames, rebuilt on the
worker without validating again (``unpack``). Tasks of a Dask cluster need ``linkage``
importable on its workers.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import math
import multiprocessing
import os
import socket
import sys
import time
import traceback
import warnings
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any

import pandas as pd

from linkage.pipeline import ORDER
from linkage.plan.result import Plan
from linkage.scenario.core import Scenario, frozen_tables
from linkage.solvers.stopping import StopRule, never

FIRST_COLUMNS = ("solved", "error")
LAST_COLUMNS = ("total_s", "worker")


def pack(scenario: Scenario) -> dict[str, Any]:
    """A validated scenario as picklable parts (policy model, DataFrames, warnings)."""
    return {
        "meta": scenario.meta,
        "tables": dict(scenario.tables),
        "warnings": tuple(scenario.warnings),
    }


def unpack(packed: Mapping[str, Any]) -> Scenario:
    """The scenario ``pack`` took apart; it was validated before, so it is not validated again."""
    return Scenario(
        meta=packed["meta"],
        tables=frozen_tables(packed["tables"]),
        warnings=tuple(packed.get("warnings", ())),
    )


def summarize(plan: Plan) -> dict[str, Any]:
    """One row of a batch: whole-scenario indicators (after, before) and each stage's report."""
    row: dict[str, Any] = {"solved": plan.solved, "error": ""}
    unsolved = [r for r in plan.reports if not r.solved]
    if unsolved:
        row["error"] = "; ".join(
            f"{r.stage}: {r.status}" + (f": {r.message}" if r.message else "") for r in unsolved
        )
    indicators = plan.tables.get("indicators")
    before: dict[str, Any] = {}
    if indicators is not None and len(indicators):
        groups = indicators["group"].astype(object).where(indicators["group"].notna(), "")
        whole = indicators[groups.map(lambda g: str(g) == "").to_numpy(dtype=bool)]
        for r in whole.itertuples(index=False):
            row[str(r.indicator)] = _number(r.after)
            before[f"before.{r.indicator}"] = _number(r.before)
    row.update(before)
    for report in plan.reports:
        stage = report.stage
        row[f"{stage}.status"] = report.status
        for name, value in report.objectives.items():
            row[f"{stage}.{name}"] = _number(value)
        row[f"{stage}.gap"] = _number(report.gap)
        row[f"{stage}.wall_s"] = float(report.wall_s)
    return row


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def solve_variant(
    name: str, packed: Mapping[str, Any], settings: Mapping[str, Any]
) -> dict[str, Any]:
    """The task: rebuild the scenario, solve it, summarize. Never raises for a failed solve.

    Returns ``{"variant", "row", "plan"}``; ``plan`` only when ``settings["keep_plan"]``.
    """
    try:
        scenario = unpack(packed)
    except Exception as exc:
        row = {"solved": False, "error": describe(exc), "total_s": 0.0, "worker": _worker()}
        return {"variant": name, "row": row, "plan": None}
    row, plan = solve_summary(scenario, settings)
    return {"variant": name, "row": row, "plan": plan if settings.get("keep_plan") else None}


def solve_summary(
    scenario: Scenario, settings: Mapping[str, Any], stop: StopRule = never
) -> tuple[dict[str, Any], Plan | None]:
    """Solve one variant with the batch's ``settings`` and return its row (``summarize`` plus
    ``total_s`` and ``worker``) and its plan (None when the solve raised: the row says why)."""
    from linkage.pipeline import solve

    started = time.perf_counter()
    plan: Plan | None = None
    try:
        plan = solve(
            scenario,
            stages=settings.get("stages"),
            time_limit_s=settings.get("time_limit_s"),
            seed=settings.get("seed"),
            workers=settings.get("workers"),
            pairing_method=settings.get("pairing_method"),
            joint=bool(settings.get("joint", False)),
            stop=stop,
        )
        row = summarize(plan)
    except Exception as exc:
        row = {"solved": False, "error": describe(exc)}
        plan = None
    row["total_s"] = time.perf_counter() - started
    row["worker"] = _worker()
    return row, plan


def _worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def describe(exc: BaseException) -> str:
    """``Type: message (at file:line)``: the innermost frame in linkage (past this module), else
    the innermost frame."""
    text = f"{type(exc).__name__}: {exc}"
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [
        f
        for f in frames
        if "linkage" in Path(f.filename).parts and Path(f.filename).name != "batch.py"
    ] or frames
    if ours:
        frame = ours[-1]
        text += f" (at {Path(frame.filename).name}:{frame.lineno})"
    return text


def _hint(exc: BaseException) -> str:
    if isinstance(exc, cf.process.BrokenProcessPool):
        return (
            " — a worker process died: out of memory, or a script that starts the batch "
            'without `if __name__ == "__main__":` (worker processes import the main module)'
        )
    return ""


def cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class _Sequential(cf.Executor):
    """Runs each task at submit, in this process."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        future: cf.Future[Any] = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


@contextlib.contextmanager
def _executor(
    executor: Any, scheduler: str | None, tasks: int, max_workers: int | None, per_task: int
) -> Iterator[cf.Executor]:
    """The executor to submit to; what this opens it also closes."""
    slots = max(1, (max_workers or max(1, cores() // per_task)))
    if isinstance(executor, cf.Executor):
        yield executor
    elif executor == "sequential":
        yield _Sequential()
    elif executor == "local":
        context = multiprocessing.get_context("forkserver" if os.name == "posix" else "spawn")
        with cf.ProcessPoolExecutor(max_workers=min(slots, tasks), mp_context=context) as pool:
            yield pool
    elif executor == "dask":
        with _dask_client(scheduler, min(slots, tasks)) as client:
            yield client.get_executor()
    elif _is_dask_client(executor):
        yield executor.get_executor()
    else:
        raise ValueError(
            f"executor must be 'local', 'dask', 'sequential', a concurrent.futures.Executor or "
            f"a dask.distributed.Client, not {executor!r}"
        )


def _is_dask_client(value: Any) -> bool:
    module = sys.modules.get("distributed")
    return module is not None and isinstance(value, module.Client)


@contextlib.contextmanager
def _dask_client(scheduler: str | None, workers: int) -> Iterator[Any]:
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ImportError(
            "executor='dask' needs dask.distributed: pip install 'linkage[dask]'"
        ) from exc
    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _progress(enabled: bool, total: int) -> Any:
    if not enabled:
        return None
    try:
        with warnings.catch_warnings():  # tqdm.auto warns in a notebook without ipywidgets
            warnings.simplefilter("ignore")
            from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="variants", unit="variant")


def batch(
    variants: Mapping[str, Scenario],
    *,
    executor: Any = "local",
    scheduler: str | None = None,
    stages: Iterable[str] | None = None,
    progress: bool = True,
    workers_per_task: int = 1,
    max_workers: int | None = None,
    time_limit_s: float | None = None,
    seed: int | None = None,
    pairing_method: str | None = None,
    joint: bool = False,
    plans: MutableMapping[str, Plan] | None = None,
    plans_dir: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Solve every variant and return one row per variant (index ``variant``, in the given
    order); see the module's docstring for the columns and executors.

    ``workers_per_task`` solver threads per solve; ``max_workers`` parallel solves (default:
    cores ÷ workers_per_task; for ``"dask"`` without a scheduler, the local cluster's workers).
    ``plans``, if given, receives each solved variant's Plan; ``plans_dir`` gets each plan's
    folder (``plans_dir/NAME``, written atomically as results come in, with its ``plan.xlsx``
    and, rendered here from the variant's scenario, its ``report.html``).
    """
    names = list(variants)
    wanted = None if stages is None else list(stages)
    if wanted is not None:
        unknown = [s for s in wanted if s not in ORDER]
        if unknown:
            raise ValueError(f"unknown stage(s) {unknown}; the stages are {', '.join(ORDER)}")
    if workers_per_task < 1:
        raise ValueError("workers_per_task must be at least 1")
    settings = {
        "stages": wanted,
        "time_limit_s": time_limit_s,
        "seed": seed,
        "workers": workers_per_task,
        "pairing_method": pairing_method,
        "joint": joint,
        "keep_plan": plans is not None or plans_dir is not None,
    }
    rows: dict[str, dict[str, Any]] = {}
    bar = _progress(progress, len(names))
    try:
        if names:
            with _executor(executor, scheduler, len(names), max_workers, workers_per_task) as pool:
                futures = {
                    pool.submit(solve_variant, name, pack(variants[name]), settings): name
                    for name in names
                }
                for future in cf.as_completed(futures):
                    name = futures[future]
                    try:
                        result = future.result()
                    except Exception as exc:  # the task never ran to the end: a worker died
                        result = {
                            "variant": name,
                            "row": {"solved": False, "error": describe(exc) + _hint(exc)},
                            "plan": None,
                        }
                    rows[name] = result["row"]
                    plan = result.get("plan")
                    if plan is not None:
                        if plans is not None:
                            plans[name] = plan
                        if plans_dir is not None:
                            plan.save(Path(plans_dir) / name, force=True, scenario=variants[name])
                    if bar is not None:
                        bar.set_postfix_str(name, refresh=False)
                        bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return results_frame(names, rows)


def results_frame(names: list[str], rows: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """The batch's table: one row per variant (index ``variant``, in ``names``' order)."""
    columns: list[str] = list(FIRST_COLUMNS)
    for name in names:
        columns.extend(c for c in rows[name] if c not in columns and c not in LAST_COLUMNS)
    columns.extend(LAST_COLUMNS)
    frame = pd.DataFrame(
        [{c: rows[name].get(c) for c in columns} for name in names],
        index=pd.Index(names, name="variant", dtype=object),
        columns=columns,
    )
    frame["solved"] = frame["solved"].astype(bool)
    frame["error"] = frame["error"].fillna("").astype(str)
    for column in columns:
        if column.endswith(".status") or column == "worker":
            frame[column] = frame[column].astype(object)
        elif column not in FIRST_COLUMNS:
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame
