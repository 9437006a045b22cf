"""Jobs and plans in the database: the row is the source of truth for a job's state.

The routes reach jobs through ``JobStore`` (scoped to the caller's tenant); the runner and the
worker processes use the module functions, which guard every write by the job's status and the
worker's claim token, so a worker that lost its claim (its server was restarted and the job
marked interrupted) changes nothing.
"""

from __future__ import annotations

import math
import os
import socket
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from linkage.api.errors import ApiError
from linkage.api.keys import Principal
from linkage.api.repo import aware, decode_cursor, encode_cursor, not_found
from linkage.api.storage import jobs, new_id, plan_tables, plans, scenarios, tenants, utcnow

ACTIVE = ("queued", "running")
FINISHED = ("succeeded", "failed", "canceled", "interrupted")
RERUNNABLE = ("failed", "canceled", "interrupted")


def finite(value: Any) -> float | None:
    """A JSON-safe number: None for missing, infinite or NaN values."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def job_out(row: Mapping[Any, Any], has_plan: bool) -> dict[str, Any]:
    options = dict(row["options"] or {})
    rerun_of = options.pop("rerun_of", None)
    whatif = options.pop("whatif", None)  # the batch's variants: kept for the worker
    variants = options.pop("variants", None)
    return {
        "id": row["id"],
        "scenario_id": row["scenario_id"],
        "kind": row["kind"],
        "status": row["status"],
        "options": options,
        "variants": variants if whatif is not None else None,
        "progress": row["progress"] or {},
        "error": row["error"],
        "cancel_requested": bool(row["cancel_requested"]),
        "has_plan": has_plan,
        "rerun_of": rerun_of,
        "created_at": aware(row["created_at"]),
        "started_at": _maybe(row["started_at"]),
        "finished_at": _maybe(row["finished_at"]),
        "heartbeat_at": _maybe(row["heartbeat_at"]),
    }


def _maybe(value: datetime | None) -> datetime | None:
    return None if value is None else aware(value)


HAS_PLAN = sa.exists().where(plans.c.job_id == jobs.c.id).label("has_plan")


@dataclass(frozen=True)
class JobStore:
    """The caller's tenant's jobs and plans."""

    engine: Engine
    principal: Principal

    @property
    def tenant(self) -> str:
        return self.principal.tenant_id

    def _where(self, job_id: str) -> Any:
        return sa.and_(jobs.c.id == job_id, jobs.c.tenant_id == self.tenant)

    def create(
        self, scenario_id: str, options: dict[str, Any], max_active: int, kind: str = "solve"
    ) -> dict[str, Any]:
        """Queue a job (a solve, or a what-if batch) on one of the tenant's scenarios; 404 for
        another tenant's scenario, 429 when the tenant already has ``max_active`` queued or
        running jobs."""
        now = utcnow()
        with self.engine.begin() as conn:
            # a write to the tenant's row first: it serialises job creation per tenant (a row
            # lock on PostgreSQL, the database write lock on SQLite), so the count is exact
            conn.execute(
                tenants.update()
                .where(tenants.c.id == self.tenant)
                .values(created_at=tenants.c.created_at)
            )
            found = conn.execute(
                sa.select(scenarios.c.id).where(
                    scenarios.c.id == scenario_id, scenarios.c.tenant_id == self.tenant
                )
            ).first()
            if found is None:
                raise not_found("scenario", scenario_id)
            active = conn.execute(
                sa.select(sa.func.count())
                .select_from(jobs)
                .where(jobs.c.tenant_id == self.tenant, jobs.c.status.in_(ACTIVE))
            ).scalar_one()
            if active >= max_active:
                raise ApiError(
                    429,
                    "too_many_jobs",
                    f"the tenant has {active} queued or running job(s); the limit is "
                    f"{max_active}: wait for one to finish or cancel one",
                )
            row = {
                "id": new_id("job_"),
                "tenant_id": self.tenant,
                "scenario_id": scenario_id,
                "kind": kind,
                "status": "queued",
                "options": options,
                "progress": {},
                "error": None,
                "cancel_requested": False,
                "created_at": now,
                "started_at": None,
                "heartbeat_at": None,
                "finished_at": None,
            }
            conn.execute(jobs.insert().values(**row))
        return job_out(row, has_plan=False)

    def get(self, job_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(jobs, HAS_PLAN).where(self._where(job_id))).first()
        if row is None:
            raise not_found("job", job_id)
        return job_out(row._mapping, bool(row.has_plan))

    def list(
        self, limit: int, cursor: str | None, status: str | None, scenario_id: str | None
    ) -> dict[str, Any]:
        """Newest first; ``next_cursor`` continues after the last item shown."""
        query = sa.select(jobs, HAS_PLAN).where(jobs.c.tenant_id == self.tenant)
        if cursor:
            query = query.where(jobs.c.id < decode_cursor(cursor))
        if status:
            query = query.where(jobs.c.status == status)
        if scenario_id:
            query = query.where(jobs.c.scenario_id == scenario_id)
        query = query.order_by(jobs.c.id.desc()).limit(limit + 1)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        items = [job_out(r._mapping, bool(r.has_plan)) for r in rows[:limit]]
        more = len(rows) > limit
        return {"items": items, "next_cursor": encode_cursor(items[-1]["id"]) if more else None}

    def cancel(self, job_id: str) -> dict[str, Any]:
        """A queued job is canceled at once; a running one is asked to stop (its worker stops
        its running stage within a few seconds, keeping that stage's best plan, and skips the rest);
        409 for a finished one."""
        now = utcnow()
        with self.engine.begin() as conn:
            queued = conn.execute(
                jobs.update()
                .where(self._where(job_id), jobs.c.status == "queued")
                .values(status="canceled", cancel_requested=True, finished_at=now)
            ).rowcount
            if not queued:
                running = conn.execute(
                    jobs.update()
                    .where(self._where(job_id), jobs.c.status == "running")
                    .values(cancel_requested=True)
                ).rowcount
                if not running:
                    status = conn.execute(
                        sa.select(jobs.c.status).where(self._where(job_id))
                    ).scalar()
                    if status is None:
                        raise not_found("job", job_id)
                    raise ApiError(409, "job_finished", f"the job has already {status}")
        return self.get(job_id)

    def rerun(self, job_id: str, max_active: int) -> dict[str, Any]:
        """A new queued job with the same scenario and options as a finished one."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(jobs.c.scenario_id, jobs.c.status, jobs.c.options, jobs.c.kind).where(
                    self._where(job_id)
                )
            ).first()
        if row is None:
            raise not_found("job", job_id)
        if row.status not in RERUNNABLE:
            raise ApiError(
                409,
                "job_not_rerunnable",
                f"the job is {row.status}; only {', '.join(RERUNNABLE)} jobs can be re-run",
            )
        options = {k: v for k, v in dict(row.options).items() if k != "rerun_of"}
        return self.create(
            row.scenario_id, {**options, "rerun_of": job_id}, max_active, kind=row.kind
        )

    def plan_row(self, job_id: str) -> dict[str, Any]:
        """The stored plan of one of the tenant's jobs (404 for no such job or no plan)."""
        with self.engine.connect() as conn:
            job = conn.execute(
                sa.select(jobs.c.status, jobs.c.scenario_id, jobs.c.options, jobs.c.progress).where(
                    self._where(job_id)
                )
            ).first()
            if job is None:
                raise not_found("job", job_id)
            plan = conn.execute(
                sa.select(plans.c.summary, plans.c.created_at).where(plans.c.job_id == job_id)
            ).first()
            if plan is None:
                raise ApiError(404, "no_plan", f"the job is {job.status} and has no plan")
            tables = conn.execute(
                sa.select(plan_tables.c.name, plan_tables.c.row_count, plan_tables.c.columns)
                .where(plan_tables.c.job_id == job_id)
                .order_by(plan_tables.c.name)
            ).all()
        summary = dict(plan.summary)
        order = {name: i for i, name in enumerate(summary.get("tables", {}))}
        listed = sorted(tables, key=lambda t: (order.get(t.name, len(order)), t.name))
        return {
            "job_id": job_id,
            "scenario_id": job.scenario_id,
            "complete": job.status == "succeeded",
            "summary": summary,
            "tables": [
                {"name": t.name, "rows": int(t.row_count), "columns": list(t.columns)}
                for t in listed
            ],
            "created_at": aware(plan.created_at),
        }

    def table_csv(self, job_id: str, name: str) -> bytes:
        self.plan_row(job_id)  # 404s in the same shape as the summary
        with self.engine.connect() as conn:
            data = conn.execute(
                sa.select(plan_tables.c.csv).where(
                    plan_tables.c.job_id == job_id, plan_tables.c.name == name
                )
            ).scalar()
        if data is None:
            raise ApiError(404, "not_found", f"the plan has no table {name!r}")
        return bytes(data)

    def report_html(self, job_id: str) -> str:
        self.plan_row(job_id)
        with self.engine.connect() as conn:
            html = conn.execute(
                sa.select(plans.c.report_html).where(plans.c.job_id == job_id)
            ).scalar()
        if not html:
            raise ApiError(404, "no_report", "the plan has no report")
        return str(html)

    def plan_folder(self, job_id: str, folder: Path) -> None:
        """Write the stored plan as ``Plan.save`` lays it out (CSVs and summary.json)."""
        import json

        summary = self.plan_row(job_id)["summary"]
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(plan_tables.c.name, plan_tables.c.csv).where(
                    plan_tables.c.job_id == job_id
                )
            ).all()
        for row in rows:
            (folder / f"{row.name}.csv").write_bytes(bytes(row.csv))
        (folder / "summary.json").write_text(
            json.dumps(summary, ensure_ascii=False), encoding="utf-8"
        )


def load_stored_plan(store: JobStore, job_id: str) -> Any:
    """The stored plan as a ``linkage.plan.Plan`` (column types as ``load_plan`` reads them)."""
    from linkage.plan.compare import load_plan

    with tempfile.TemporaryDirectory(prefix="linkage-plan-") as tmp:
        store.plan_folder(job_id, Path(tmp))
        return load_plan(tmp)


# --- the runner's and the workers' side ------------------------------------------------------


def worker_token() -> str:
    """Who claims a job: ``host:pid:nonce`` of the server process that runs it."""
    import secrets

    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def claim_next(engine: Engine, token: str) -> str | None:
    """Atomically move the oldest queued job to running under ``token``; its id, or None."""
    for _ in range(5):
        with engine.begin() as conn:
            job_id = conn.execute(
                sa.select(jobs.c.id).where(jobs.c.status == "queued").order_by(jobs.c.id).limit(1)
            ).scalar()
            if job_id is None:
                return None
            now = utcnow()
            claimed = conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.status == "queued")
                .values(status="running", worker=token, started_at=now, heartbeat_at=now)
            ).rowcount
        if claimed:
            return str(job_id)
    return None


def mark_interrupted(engine: Engine, stale_seconds: float, *, at_startup: bool) -> list[str]:
    """Mark running jobs whose server is gone as interrupted: at startup, those claimed by a
    dead process on this host; always, those whose heartbeat is older than ``stale_seconds``."""
    host = socket.gethostname()[:60]
    now = utcnow()
    cutoff = now - timedelta(seconds=stale_seconds)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(jobs.c.id, jobs.c.worker, jobs.c.heartbeat_at).where(
                jobs.c.status == "running"
            )
        ).all()
    dead = []
    for row in rows:
        worker_host, _, rest = (row.worker or "").partition(":")
        pid_text = rest.partition(":")[0]
        gone = (
            at_startup
            and worker_host == host
            and pid_text.isdigit()
            and not _pid_alive(int(pid_text))
        )
        stale = row.heartbeat_at is None or aware(row.heartbeat_at) < cutoff
        if gone or stale:
            dead.append((row.id, row.worker))
    marked = []
    for job_id, worker in dead:
        with engine.begin() as conn:
            changed = conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.status == "running", jobs.c.worker == worker)
                .values(
                    status="interrupted",
                    finished_at=now,
                    error={
                        "code": "interrupted",
                        "message": "the server running the job stopped; re-run it",
                        "problems": [],
                    },
                )
            ).rowcount
        if changed:
            marked.append(job_id)
    return marked


def interrupt_own(engine: Engine, job_id: str, token: str, message: str) -> None:
    """This server is stopping: mark a job it runs as interrupted."""
    with engine.begin() as conn:
        conn.execute(
            jobs.update()
            .where(jobs.c.id == job_id, jobs.c.status == "running", jobs.c.worker == token)
            .values(
                status="interrupted",
                finished_at=utcnow(),
                error={"code": "interrupted", "message": message, "problems": []},
            )
        )


def update_running(conn: Connection, job_id: str, token: str, **values: Any) -> bool:
    """Write to a job this worker still holds; False when the claim is lost."""
    return bool(
        conn.execute(
            jobs.update()
            .where(jobs.c.id == job_id, jobs.c.status == "running", jobs.c.worker == token)
            .values(**values)
        ).rowcount
    )


def store_plan(
    conn: Connection,
    job_id: str,
    tenant_id: str,
    summary: Mapping[str, Any],
    tables: Sequence[tuple[str, int, list[str], bytes]],
    report_html: str | None,
) -> None:
    conn.execute(
        plans.insert().values(
            job_id=job_id,
            tenant_id=tenant_id,
            summary=dict(summary),
            report_html=report_html,
            created_at=utcnow(),
        )
    )
    if tables:
        conn.execute(
            plan_tables.insert(),
            [
                {"job_id": job_id, "name": name, "row_count": n, "columns": columns, "csv": data}
                for name, n, columns, data in tables
            ],
        )


def compare_stored_plans(store: JobStore, job_a: str, job_b: str) -> dict[str, Any]:
    """``linkage compare`` on two of the tenant's stored plans: 404 when either has none, 409
    when either is a what-if batch's comparison rather than a plan."""
    import json

    from linkage.plan.compare import compare

    for job_id in (job_a, job_b):
        if store.plan_row(job_id)["summary"].get("kind") == "whatif":
            raise ApiError(
                409,
                "not_a_plan",
                f"job {job_id} is a what-if batch: its plan is a comparison of variants, not a "
                "plan to compare",
            )
    result = compare(
        load_stored_plan(store, job_a), load_stored_plan(store, job_b), names=(job_a, job_b)
    )

    def records(frame: Any) -> list[dict[str, Any]]:
        return list(json.loads(frame.to_json(orient="records", force_ascii=False)))

    return {
        "job_a": job_a,
        "job_b": job_b,
        "summary_text": result.summary_text(),
        **{name: records(frame) for name, frame in result.tables.items()},
    }
