"""What-if batches as jobs, and the comparison of two plans."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from linkage.api.auth import AsPlanner
from linkage.api.deps import SettingsDep
from linkage.api.errors import ApiError, errors
from linkage.api.jobs import JobStore, compare_stored_plans
from linkage.api.routers.jobs import JobsViewer, accepted_job, solve_options
from linkage.api.schemas import ComparisonOut, JobOut, SolveRequest, WhatIfRequest

router = APIRouter(tags=["what-if"])


@router.post(
    "/scenarios/{scenario_id}/whatifs",
    operation_id="start_whatif",
    status_code=202,
    response_model=JobOut,
    responses=errors(400, 401, 403, 404, 413, 422, 429),
    summary="Queue a what-if batch: every variant of the scenario solved, compared in one table",
)
def start_whatif(
    scenario_id: str,
    body: WhatIfRequest,
    response: Response,
    tenant: AsPlanner,
    settings: SettingsDep,
) -> dict[str, Any]:
    """The variants are read and their changes checked against the scenario now (422 with
    every problem, as ``linkage whatif`` reports them); each variant's whole scenario is
    validated again when the job runs. The job's plan is the comparison table (``comparison``)
    with its HTML report; its progress counts the variants."""
    from linkage.scenario.io import from_document
    from linkage.whatif import parse_variants

    options = solve_options(body.solve or SolveRequest(), settings)
    spec = body.model_dump(include={"description", "variants", "grids"})
    scenario = from_document(tenant.get_document(scenario_id))
    variant_list, _, _ = parse_variants(spec, source="body", scenario=scenario)
    if len(variant_list) > settings.max_variants:
        raise ApiError(
            422,
            "too_many_variants",
            f"the batch has {len(variant_list)} variants; at most {settings.max_variants} are "
            "allowed",
        )
    options.update(whatif=spec, variants=len(variant_list))
    store = JobStore(tenant.engine, tenant.principal)
    job = store.create(scenario_id, options, settings.max_concurrent_jobs, kind="whatif")
    return accepted_job(response, job)


@router.get(
    "/jobs/{job_id}/plan/comparison",
    operation_id="compare_plans",
    response_model=ComparisonOut,
    responses=errors(401, 403, 404, 409),
    summary="Compare this job's plan (A) with another job's (B): changed pairs, indicator "
    "deltas, per county, and a summary in plain Chinese",
)
def compare_plans(
    job_id: str,
    store: JobsViewer,
    other: Annotated[str, Query(alias="with", description="the other job's id (plan B)")],
) -> dict[str, Any]:
    return compare_stored_plans(store, job_id, other)
