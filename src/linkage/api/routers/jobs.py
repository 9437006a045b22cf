"""Solve jobs and their plans: start, list, get, cancel, re-run; the plan's summary, tables
(JSON paged, CSV, XLSX) and HTML report."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Response
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from linkage.api.auth import AsPlanner, AsViewer
from linkage.api.deps import SettingsDep, TablesDep
from linkage.api.errors import ApiError, errors
from linkage.api.jobs import JobStore, load_stored_plan
from linkage.api.schemas import (
    JobOut,
    JobPage,
    JobStatus,
    PlanOut,
    PlanTablePage,
    SolveRequest,
)
from linkage.api.settings import Settings
from linkage.api.tables import TableCache

router = APIRouter(tags=["jobs"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _as_viewer(store: AsViewer) -> JobStore:
    return JobStore(store.engine, store.principal)


def _as_planner(store: AsPlanner) -> JobStore:
    return JobStore(store.engine, store.principal)


# the caller's tenant's jobs, for a viewer (read) or a planner (start, cancel, re-run)
JobsViewer = Annotated[JobStore, Depends(_as_viewer)]
JobsPlanner = Annotated[JobStore, Depends(_as_planner)]


def accepted_job(response: Response, job: dict[str, Any]) -> dict[str, Any]:
    response.headers["Location"] = f"/v1/jobs/{job['id']}"
    return job


def solve_options(request: SolveRequest, settings: Settings) -> dict[str, Any]:
    """A job's options from its solve request; 422 for a time limit over the server's."""
    limit = settings.max_solve_seconds
    if request.time_limit_s is not None and request.time_limit_s > limit:
        raise ApiError(
            422,
            "time_limit_too_long",
            f"the time limit is at most {limit:g} seconds per stage",
            [
                {
                    "source": "body",
                    "row": None,
                    "column": "time_limit_s",
                    "value": f"{request.time_limit_s:g}",
                    "expected": f"at most {limit:g}",
                    "severity": "error",
                }
            ],
        )
    options = request.model_dump()
    if request.stages is not None:
        options["stages"] = list(dict.fromkeys(request.stages))
    return options


@router.post(
    "/scenarios/{scenario_id}/solves",
    operation_id="start_solve",
    status_code=202,
    response_model=JobOut,
    responses=errors(400, 401, 403, 404, 413, 429),
    summary="Queue a solve of the scenario; poll the job at the Location header",
)
def start_solve(
    scenario_id: str,
    response: Response,
    store: JobsPlanner,
    settings: SettingsDep,
    body: Annotated[SolveRequest | None, Body()] = None,
) -> dict[str, Any]:
    options = solve_options(body or SolveRequest(), settings)
    return accepted_job(response, store.create(scenario_id, options, settings.max_concurrent_jobs))


@router.get(
    "/jobs",
    operation_id="list_jobs",
    response_model=JobPage,
    responses=errors(400, 401, 403),
    summary="List the tenant's jobs, newest first",
)
def list_jobs(
    store: JobsViewer,
    settings: SettingsDep,
    limit: Annotated[int | None, Query(ge=1, le=500, description="items per page")] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    status: Annotated[JobStatus | None, Query(description="only jobs with this status")] = None,
    scenario_id: Annotated[str | None, Query(description="only this scenario's jobs")] = None,
) -> dict[str, Any]:
    size = min(limit or settings.page_limit_default, settings.page_limit_max)
    return store.list(size, cursor, status, scenario_id)


@router.get(
    "/jobs/{job_id}",
    operation_id="get_job",
    response_model=JobOut,
    responses=errors(401, 403, 404),
    summary="A job: status, progress (stage, elapsed, objective, bound, gap) and error",
)
def get_job(job_id: str, store: JobsViewer) -> dict[str, Any]:
    return store.get(job_id)


@router.delete(
    "/jobs/{job_id}",
    operation_id="cancel_job",
    status_code=202,
    response_model=JobOut,
    responses=errors(401, 403, 404, 409),
    summary="Cancel a job: a running solve stops its current stage within seconds, keeping "
    "the best plan found so far, and skips the stages after it",
)
def cancel_job(job_id: str, store: JobsPlanner) -> dict[str, Any]:
    return store.cancel(job_id)


@router.post(
    "/jobs/{job_id}/rerun",
    operation_id="rerun_job",
    status_code=202,
    response_model=JobOut,
    responses=errors(401, 403, 404, 409, 429),
    summary="Queue a new job with the same scenario and options (interrupted, failed or "
    "canceled jobs)",
)
def rerun_job(
    job_id: str, response: Response, store: JobsPlanner, settings: SettingsDep
) -> dict[str, Any]:
    return accepted_job(response, store.rerun(job_id, settings.max_concurrent_jobs))


@router.get(
    "/jobs/{job_id}/plan",
    operation_id="get_plan",
    response_model=PlanOut,
    responses=errors(401, 403, 404),
    summary="The job's plan: stage reports, table names and row counts",
)
def get_plan(job_id: str, store: JobsViewer) -> dict[str, Any]:
    return store.plan_row(job_id)


def _parse(csv: bytes, name: str) -> Any:
    """A stored table with its columns typed as ``load_plan`` reads them."""
    from linkage.plan.compare import read_table

    with tempfile.TemporaryDirectory(prefix="linkage-table-") as tmp:
        path = Path(tmp) / f"{name}.csv"
        path.write_bytes(csv)
        return read_table(path)


def _page(
    store: JobStore, tables: TableCache, job_id: str, name: str, limit: int, offset: int
) -> dict[str, Any]:
    store.plan_row(job_id)  # the tenant's job with a plan, or 404: before the cache is asked
    frame = tables.get((job_id, name), lambda: _parse(store.table_csv(job_id, name), name))
    total = len(frame)
    part = frame.iloc[offset : offset + limit]
    rows = [
        {str(k): _plain(v) for k, v in record.items()} for record in part.to_dict(orient="records")
    ]
    end = offset + len(rows)
    return {
        "name": name,
        "columns": [str(c) for c in frame.columns],
        "total": total,
        "offset": offset,
        "limit": limit,
        "next_offset": end if end < total else None,
        "rows": rows,
    }


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _xlsx(store: JobStore, job_id: str, name: str | None) -> bytes:
    from linkage.plan.result import Plan
    from linkage.plan.workbook import write_plan_workbook

    plan = load_stored_plan(store, job_id)
    if name is not None:
        plan = Plan(
            scenario=plan.scenario,
            tables={name: plan.tables[name]},
            reports=plan.reports,
            sources=plan.sources,
            violations=plan.violations,
        )
    with tempfile.TemporaryDirectory(prefix="linkage-xlsx-") as tmp:
        return write_plan_workbook(plan, Path(tmp) / "plan.xlsx").read_bytes()


def json_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``errors`` for a route whose success is not JSON: the errors still are."""
    ref = {"$ref": "#/components/schemas/ErrorResponse"}
    return {
        status: {
            "description": spec["description"],
            "content": {"application/json": {"schema": ref}},
        }
        for status, spec in errors(*statuses).items()
    }


TABLE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "JSON (a page of rows), CSV (the whole table) or XLSX",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/PlanTablePage"}},
            "text/csv": {"schema": {"type": "string"}},
            XLSX: {"schema": {"type": "string", "format": "binary"}},
        },
    },
    **errors(401, 403, 404),
}


@router.get(
    "/jobs/{job_id}/plan/tables/{name}",
    operation_id="get_plan_table",
    response_model=PlanTablePage,
    responses=TABLE_RESPONSES,
    summary="One table of the plan: JSON paged by limit and offset, or the whole table as "
    "CSV or XLSX",
)
async def get_plan_table(
    job_id: str,
    name: str,
    store: JobsViewer,
    settings: SettingsDep,
    tables: TablesDep,
    format: Annotated[Literal["json", "csv", "xlsx"], Query(description="answer format")] = "json",
    limit: Annotated[int | None, Query(ge=1, le=500, description="rows per page (json)")] = None,
    offset: Annotated[int, Query(ge=0, description="first row (json)")] = 0,
) -> Any:
    if format == "json":
        size = min(limit or settings.page_limit_default, settings.page_limit_max)
        return await run_in_threadpool(_page, store, tables, job_id, name, size, offset)
    csv = await run_in_threadpool(store.table_csv, job_id, name)
    if format == "csv":
        return Response(
            csv,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    data = await run_in_threadpool(_xlsx, store, job_id, name)
    return Response(
        data,
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
    )


@router.get(
    "/jobs/{job_id}/plan/plan.xlsx",
    operation_id="get_plan_workbook",
    response_class=Response,
    responses={
        200: {"description": "plan.xlsx", "content": {XLSX: {"schema": {"type": "string"}}}},
        **json_errors(401, 403, 404),
    },
    summary="The whole plan as plan.xlsx (a summary sheet, then a sheet per table)",
)
async def get_plan_workbook(job_id: str, store: JobsViewer) -> Response:
    data = await run_in_threadpool(_xlsx, store, job_id, None)
    return Response(
        data,
        media_type=XLSX,
        headers={"Content-Disposition": 'attachment; filename="plan.xlsx"'},
    )


@router.get(
    "/jobs/{job_id}/plan/report.html",
    operation_id="get_plan_report",
    response_class=HTMLResponse,
    responses={
        200: {"description": "the plan's offline HTML report", "content": {"text/html": {}}},
        **json_errors(401, 403, 404),
    },
    summary="The plan's report (maps, certificates, indicators) as one HTML page",
)
async def get_plan_report(job_id: str, store: JobsViewer) -> HTMLResponse:
    return HTMLResponse(await run_in_threadpool(store.report_html, job_id))
