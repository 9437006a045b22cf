"""Solve jobs in worker processes, never in the event loop.

``JobRunner`` (started by the app's lifespan) is a thread in the server process: it marks jobs
left running by a dead server as interrupted, claims queued jobs one at a time (an UPDATE guarded
by ``status='queued'``), and starts each in a child process (forkserver, else spawn). The child,
``run_job``, opens its own engine, rebuilds the scenario from the stored document, and solves the
stages in order; after each stage it writes the progress. A heartbeat thread writes
``heartbeat_at`` every few seconds, reads ``cancel_requested`` (a cancel stops the running stage
through its stopping rule, keeping the stage's best plan and bound, and skips the rest) and exits
the child when its server process dies. ``max_job_seconds`` caps a job's wall-clock time the
same way: the job then fails with ``job_time_limit`` and keeps the plan found so far. At the end
the plan (summary, each table as CSV, the HTML report) and the final status are written in one
transaction, only while the job is still the child's (``status='running' AND worker=token``).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from linkage.api import jobs as jobdb
from linkage.api.settings import Settings
from linkage.api.storage import jobs, make_engine, scenarios, utcnow
from linkage.solvers.stopping import Deadline, StopFlag

log = logging.getLogger("linkage.api.worker")


def _context() -> Any:
    """Forkserver where there is one (children start from a server with linkage imported),
    else spawn; never fork, which would copy the server's threads and connections."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["linkage.api.worker", "linkage.pipeline"])
        return context
    return multiprocessing.get_context("spawn")


# --- the child process ------------------------------------------------------------------------


class _Lost(Exception):
    """The job is no longer this worker's (marked interrupted, or deleted with its scenario)."""


def _watch_parent(stop: threading.Event, beat: Callable[[], None], every: float) -> None:
    """Write the heartbeat every ``every`` seconds; exit the process when the server is gone."""
    parent = multiprocessing.parent_process()
    sentinel = parent.sentinel if parent is not None else None
    from multiprocessing.connection import wait

    while not stop.is_set():
        if sentinel is not None and wait([sentinel], timeout=every):
            os._exit(3)  # the server died: its restart marks the job interrupted
        if sentinel is None and stop.wait(every):
            return
        try:
            beat()
        except Exception:  # a busy database: the next beat will do
            log.debug("heartbeat failed", exc_info=True)


def _progress(
    done: list[str], total: int, started: float, stage: str | None, report: Any = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "stage": stage,
        "stages_done": list(done),
        "stages_total": total,
        "elapsed_s": round(time.monotonic() - started, 3),
    }
    if report is not None:
        objectives = dict(report.objectives)
        first = next(iter(objectives), None)
        out["objective_name"] = first
        out["objective"] = jobdb.finite(objectives.get(first)) if first else None
        out["bound"] = jobdb.finite(dict(report.bound).get(first)) if first else None
        out["gap"] = jobdb.finite(report.gap)
    return out


def _plan_rows(scenario: Any, plan: Any) -> tuple[dict[str, Any], list[Any], str | None]:
    import json

    from linkage.plan.result import _jsonable

    summary = json.loads(json.dumps(plan.summary(), default=_jsonable, allow_nan=True))
    summary = _json_safe(summary)
    tables = []
    for name, frame in plan.tables.items():
        data = frame.to_csv(index=False).encode("utf-8")
        tables.append((name, len(frame), [str(c) for c in frame.columns], data))
    try:
        from linkage.plan.report import render_report

        html: str | None = render_report(scenario, plan)
    except Exception:
        log.exception("the report of a plan failed")
        html = None
    return summary, tables, html


def _json_safe(value: Any) -> Any:
    """Infinite and NaN numbers as null (JSON has neither)."""
    if isinstance(value, float):
        return jobdb.finite(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def run_job(database_url: str, job_id: str, token: str, settings: Mapping[str, Any]) -> None:
    """The worker process's entry point: solve one claimed job and store the outcome."""
    engine = make_engine(database_url)
    started = time.monotonic()
    stop = threading.Event()
    canceled = StopFlag()
    cap = Deadline(started + float(settings["max_job_seconds"]))
    progress: dict[str, Any] = {}  # the job's progress, also kept current by the heartbeat

    def beat() -> None:
        values: dict[str, Any] = {"heartbeat_at": utcnow()}
        if progress:  # elapsed time moves on during a long stage too
            values["progress"] = {**progress, "elapsed_s": round(time.monotonic() - started, 3)}
        with engine.begin() as conn:
            jobdb.update_running(conn, job_id, token, **values)
        if _cancel_requested(engine, job_id):
            canceled.request("canceled")  # the running stage stops within a second or so

    watcher = threading.Thread(
        target=_watch_parent,
        args=(stop, beat, float(settings["heartbeat_seconds"])),
        daemon=True,
    )
    watcher.start()
    try:
        _solve_job(
            engine,
            job_id,
            token,
            started,
            float(settings["max_solve_seconds"]),
            _Stops(canceled, cap),
            progress,
        )
    except _Lost:
        pass
    finally:
        stop.set()
        engine.dispose()


def _write(engine: Engine, job_id: str, token: str, **values: Any) -> None:
    with engine.begin() as conn:
        if not jobdb.update_running(conn, job_id, token, heartbeat_at=utcnow(), **values):
            raise _Lost


def _cancel_requested(engine: Engine, job_id: str) -> bool:
    with engine.connect() as conn:
        return bool(
            conn.execute(sa.select(jobs.c.cancel_requested).where(jobs.c.id == job_id)).scalar()
        )


@dataclass(frozen=True)
class _Stops:
    """Why a job stops early: a cancel request (read with the heartbeat), the wall-clock cap."""

    canceled: StopFlag
    cap: Deadline

    def __call__(self) -> bool:
        return self.canceled() or self.cap()


@dataclass(frozen=True)
class _Run:
    """A job claimed by this worker process: where it lives, since when, what stops it."""

    engine: Engine
    job_id: str
    token: str
    started: float
    max_s: float  # the longest time limit of a stage
    stops: _Stops

    def write(self, **values: Any) -> None:
        _write(self.engine, self.job_id, self.token, **values)

    def cancel_requested(self) -> bool:
        return _cancel_requested(self.engine, self.job_id)

    def elapsed(self) -> float:
        return round(time.monotonic() - self.started, 3)


def _solve_job(
    engine: Engine,
    job_id: str,
    token: str,
    started: float,
    max_s: float,
    stops: _Stops,
    progress: dict[str, Any] | None = None,
) -> None:
    from linkage.scenario.problems import ScenarioError

    run = _Run(engine, job_id, token, started, max_s, stops)

    with engine.connect() as conn:
        row = conn.execute(
            sa.select(jobs.c.tenant_id, jobs.c.kind, jobs.c.options, scenarios.c.document)
            .join(scenarios, scenarios.c.id == jobs.c.scenario_id)
            .where(jobs.c.id == job_id)
        ).first()
    if row is None:
        raise _Lost
    progress = {} if progress is None else progress
    progress.update(stages_done=[], elapsed_s=0.0)
    job = _whatif_job if row.kind == "whatif" else _stages_job
    try:
        job(run, row, progress)
    except _Lost:
        raise
    except ScenarioError as exc:
        from linkage.api.errors import problem_dict

        problems = [problem_dict(p) for p in exc.problems]
        _fail(run, progress, "invalid_scenario", str(exc), problems)
    except Exception as exc:
        log.exception("job %s failed", job_id)
        _fail(run, progress, "solve_failed", f"{type(exc).__name__}: {exc}", [])


def _time_limit(options: Mapping[str, Any], scenario: Any, max_s: float) -> float:
    limit = options.get("time_limit_s")
    return float(limit if limit is not None else min(scenario.policy.solver.time_limit_s, max_s))


def _stages_job(run: _Run, row: Any, progress: dict[str, Any]) -> None:
    """A solve: the stages in order, progress after each, the plan of those solved."""
    from linkage.pipeline import ORDER, STAGES, SolveSettings, assemble_plan
    from linkage.scenario.io import from_document
    from linkage.solvers.report import relative_gap

    options = dict(row.options)
    wanted = list(options.get("stages") or ORDER)
    order = [s for s in ORDER if s in wanted]
    done: list[str] = []
    progress.update(_progress(done, len(order), run.started, None))
    scenario = from_document(row.document)

    def live(values: Mapping[str, Any]) -> None:
        """A better plan inside the running stage: the heartbeat writes it with the progress."""
        objective, bound = float(values["objective"]), float(values["bound"])
        progress.update(
            objective_name=values["objective_name"],
            objective=jobdb.finite(objective),
            bound=jobdb.finite(bound),
            gap=jobdb.finite(relative_gap(objective, bound)),
        )

    settings = SolveSettings(
        time_limit_s=_time_limit(options, scenario, run.max_s),
        seed=options.get("seed"),
        stop=run.stops,
        progress=live,
    )
    tables: dict[str, Any] = {}
    reports: list[Any] = []
    carried: dict[str, Any] = {}
    for name in order:
        if run.stops() or run.cancel_requested():
            break
        progress.update(_progress(done, len(order), run.started, name))
        run.write(progress=progress)
        outcome = STAGES[name](scenario, settings, carried)
        tables.update(outcome.tables)
        reports.append(outcome.report)
        carried.update(outcome.carry)
        done.append(name)
        progress.update(_progress(done, len(order), run.started, name, outcome.report))
        run.write(progress=progress)
    plan = assemble_plan(scenario, tables, reports) if done else None
    last = reports[-1] if reports else None
    progress.update(_progress(done, len(order), run.started, done[-1] if done else None, last))
    stored = _plan_rows(scenario, plan) if plan is not None else None
    _finish(run, row.tenant_id, [s for s in order if s not in done], progress, stored)


def _whatif_job(run: _Run, row: Any, progress: dict[str, Any]) -> None:
    """A what-if batch: every variant solved in turn in this process (the server's
    ``job_workers`` bound the processes), progress per variant; the plan is the comparison
    table with its HTML report."""
    from linkage.batch import results_frame, solve_summary
    from linkage.plan.comparison_report import render_comparison_report
    from linkage.scenario.io import from_document
    from linkage.whatif import comparison_table, parameters_of, parse_variants, variants

    options = dict(row.options)
    scenario = from_document(row.document)
    variant_list, _, description = parse_variants(options["whatif"], source="what-if")
    built = variants(scenario, variant_list, source="what-if")
    names = list(built)
    settings = {
        "stages": options.get("stages"),
        "time_limit_s": _time_limit(options, scenario, run.max_s),
        "seed": options.get("seed"),
    }
    rows: dict[str, dict[str, Any]] = {}

    def report(current: str | None) -> dict[str, Any]:
        return {
            "stage": None,
            "stages_done": [],
            "stages_total": 0,
            "elapsed_s": run.elapsed(),
            "variant": current,
            "variants_done": len(rows),
            "variants_total": len(names),
        }

    progress.update(report(None))
    for name in names:
        if run.stops() or run.cancel_requested():
            break
        progress.update(report(name))
        run.write(progress=progress)
        rows[name], _ = solve_summary(built[name], settings, stop=run.stops)
        progress.update(report(name))
        run.write(progress=progress)
    solved_names = [n for n in names if n in rows]
    stored = None
    if solved_names:
        parameters = parameters_of([v for v in variant_list if v.name in rows])
        table = comparison_table(parameters, results_frame(solved_names, rows))
        page = render_comparison_report(
            table,
            title=f"{scenario.name} · what-if",
            parameters=[str(c) for c in parameters.columns],
            description=description,
            link_plans=False,
        )
        frame = table.reset_index()
        summary = _json_safe(
            {
                "kind": "whatif",
                "scenario": scenario.name,
                "description": description,
                "variants": len(names),
                "variants_solved": int(table["solved"].sum()),
                "parameters": [str(c) for c in parameters.columns],
                "settings": settings,
                "tables": {"comparison": len(frame)},
            }
        )
        data = frame.to_csv(index=False).encode("utf-8")
        stored = (
            summary,
            [("comparison", len(frame), [str(c) for c in frame.columns], data)],
            page,
        )
    _finish(run, row.tenant_id, [n for n in names if n not in rows], progress, stored)


def _finish(
    run: _Run,
    tenant_id: str,
    skipped: list[str],
    progress: dict[str, Any],
    stored: tuple[dict[str, Any], list[Any], str | None] | None,
) -> None:
    """Write the final status and the plan in one transaction, while the job is still ours:
    canceled (a cancel arrived), failed with ``job_time_limit`` (the cap left work undone) or
    succeeded."""
    canceled = run.stops.canceled() or (bool(skipped) and run.cancel_requested())
    capped = not canceled and run.stops.cap() and bool(skipped)
    status = "canceled" if canceled else "failed" if capped else "succeeded"
    error = None
    if capped:
        error = {
            "code": "job_time_limit",
            "message": (
                f"the job reached its wall-clock limit of {run.stops.cap.at - run.started:g} s "
                f"(max_job_seconds); what was solved so far is kept, {', '.join(skipped)} "
                "not solved"
            ),
            "problems": [],
        }
    with run.engine.begin() as conn:
        if not jobdb.update_running(
            conn,
            run.job_id,
            run.token,
            status=status,
            error=error,
            progress=progress,
            finished_at=utcnow(),
            heartbeat_at=utcnow(),
        ):
            raise _Lost
        if stored is not None:
            jobdb.store_plan(conn, run.job_id, tenant_id, *stored)


def _fail(
    run: _Run, progress: dict[str, Any], code: str, message: str, problems: list[dict[str, Any]]
) -> None:
    with run.engine.begin() as conn:
        jobdb.update_running(
            conn,
            run.job_id,
            run.token,
            status="failed",
            error={"code": code, "message": message[:2000], "problems": problems},
            progress={**progress, "elapsed_s": run.elapsed()},
            finished_at=utcnow(),
            heartbeat_at=utcnow(),
        )


# --- the runner in the server process ---------------------------------------------------------


@dataclass
class JobRunner:
    """Polls for queued jobs and runs up to ``settings.job_workers`` at once in child processes."""

    engine: Engine
    settings: Settings
    token: str = field(default_factory=jobdb.worker_token)
    children: dict[str, Any] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def recover(self) -> list[str]:
        """Mark jobs left running by a dead server as interrupted (at startup)."""
        marked = jobdb.mark_interrupted(
            self.engine, self.settings.job_stale_seconds, at_startup=True
        )
        if marked:
            log.warning("marked %d interrupted job(s): %s", len(marked), ", ".join(marked))
        return marked

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="linkage-jobs", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop polling; stop the running children and mark their jobs interrupted."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        for job_id, proc in list(self.children.items()):
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
                if proc.is_alive():
                    proc.kill()
                    proc.join(5)
                jobdb.interrupt_own(
                    self.engine, job_id, self.token, "the server stopped while the job ran"
                )
            self.children.pop(job_id, None)

    def _loop(self) -> None:
        last_sweep = 0.0
        while not self._stop.is_set():
            try:
                self._reap()
                now = time.monotonic()
                if now - last_sweep > self.settings.job_stale_seconds / 4:
                    last_sweep = now
                    jobdb.mark_interrupted(
                        self.engine, self.settings.job_stale_seconds, at_startup=False
                    )
                while len(self.children) < self.settings.job_workers and not self._stop.is_set():
                    job_id = jobdb.claim_next(self.engine, self.token)
                    if job_id is None:
                        break
                    self._spawn(job_id)
            except Exception:
                log.exception("the job runner's loop failed; retrying")
            self._stop.wait(self.settings.job_poll_seconds)

    def _spawn(self, job_id: str) -> None:
        options = {
            "heartbeat_seconds": self.settings.job_heartbeat_seconds,
            "max_solve_seconds": self.settings.max_solve_seconds,
            "max_job_seconds": self.settings.max_job_seconds,
        }
        url = self.engine.url.render_as_string(hide_password=False)
        proc = _context().Process(
            target=run_job,
            args=(url, job_id, self.token, options),
            name=f"linkage-job-{job_id}",
            daemon=True,
        )
        try:
            proc.start()
        except Exception as exc:
            self._failed(job_id, "worker_failed", f"the worker process did not start: {exc}")
            raise
        self.children[job_id] = proc

    def _failed(self, job_id: str, code: str, message: str) -> None:
        with self.engine.begin() as conn:
            jobdb.update_running(
                conn,
                job_id,
                self.token,
                status="failed",
                finished_at=utcnow(),
                error={"code": code, "message": message, "problems": []},
            )

    def _reap(self) -> None:
        for job_id, proc in list(self.children.items()):
            if proc.is_alive():
                continue
            proc.join()
            del self.children[job_id]
            if proc.exitcode != 0:
                message = f"the worker process exited with code {proc.exitcode}"
                self._failed(job_id, "worker_crashed", message)
