"""Scenarios: create (JSON, .xlsx, zip of CSVs), list, get, get the document, delete, validate."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from linkage.api import intake
from linkage.api.auth import AsPlanner, AsViewer
from linkage.api.deps import SettingsDep
from linkage.api.errors import errors
from linkage.api.repo import TenantStore
from linkage.api.schemas import DOCUMENT_SCHEMA, ScenarioOut, ScenarioPage, ValidationOut

router = APIRouter(prefix="/scenarios", tags=["scenarios"])

JSON_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": DOCUMENT_SCHEMA}},
    }
}
WRITE_ERRORS = errors(400, 401, 403, 413, 422)


def _created(response: Response, out: dict[str, Any]) -> dict[str, Any]:
    response.headers["Location"] = f"/v1/scenarios/{out['id']}"
    return out


def _store(store: TenantStore, scenario: Any, source: str) -> dict[str, Any]:
    return store.add_scenario(intake.scenario_row(scenario), source)


@router.post(
    "",
    operation_id="create_scenario",
    status_code=201,
    response_model=ScenarioOut,
    responses=WRITE_ERRORS,
    openapi_extra=JSON_BODY,
    summary="Create a scenario from a JSON document",
)
async def create_scenario(
    request: Request,
    response: Response,
    store: AsPlanner,
    settings: SettingsDep,
) -> dict[str, Any]:
    body = await request.body()
    scenario = await run_in_threadpool(intake.scenario_from_json, body, settings)
    return _created(response, await run_in_threadpool(_store, store, scenario, "json"))


@router.post(
    "/xlsx",
    operation_id="create_scenario_from_xlsx",
    status_code=201,
    response_model=ScenarioOut,
    responses=WRITE_ERRORS,
    summary="Create a scenario from an .xlsx workbook (as `linkage template` writes)",
)
async def create_scenario_from_xlsx(
    response: Response,
    file: Annotated[UploadFile, File(description="the .xlsx workbook")],
    store: AsPlanner,
    settings: SettingsDep,
) -> dict[str, Any]:
    data = await file.read()
    scenario = await run_in_threadpool(intake.scenario_from_xlsx, data, settings, file.filename)
    return _created(response, await run_in_threadpool(_store, store, scenario, "xlsx"))


@router.post(
    "/zip",
    operation_id="create_scenario_from_zip",
    status_code=201,
    response_model=ScenarioOut,
    responses=WRITE_ERRORS,
    summary="Create a scenario from a zip of a scenario folder (scenario.yaml and CSVs)",
)
async def create_scenario_from_zip(
    response: Response,
    file: Annotated[UploadFile, File(description="a .zip of scenario.yaml and the table CSVs")],
    store: AsPlanner,
    settings: SettingsDep,
) -> dict[str, Any]:
    data = await file.read()
    name = intake.safe_filename(file.filename, "scenario.zip")
    scenario = await run_in_threadpool(intake.scenario_from_zip, data, settings, name)
    return _created(response, await run_in_threadpool(_store, store, scenario, "zip"))


@router.post(
    "/validate",
    operation_id="validate_scenario",
    response_model=ValidationOut,
    responses=WRITE_ERRORS,
    openapi_extra=JSON_BODY,
    summary="Check a JSON scenario document without storing it",
)
async def validate_scenario(
    request: Request,
    _store: AsPlanner,
    settings: SettingsDep,
) -> dict[str, Any]:
    body = await request.body()
    scenario = await run_in_threadpool(intake.scenario_from_json, body, settings)
    stored = intake.scenario_row(scenario)
    return {"name": stored["name"], "rows": stored["row_counts"], "warnings": stored["warnings"]}


@router.get(
    "",
    operation_id="list_scenarios",
    response_model=ScenarioPage,
    responses=errors(400, 401, 403, 422),
    summary="List the tenant's scenarios, newest first",
)
def list_scenarios(
    store: AsViewer,
    settings: SettingsDep,
    limit: Annotated[int | None, Query(ge=1, le=500, description="items per page")] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> dict[str, Any]:
    size = min(limit or settings.page_limit_default, settings.page_limit_max)
    return store.list_scenarios(size, cursor)


@router.get(
    "/{scenario_id}",
    operation_id="get_scenario",
    response_model=ScenarioOut,
    responses=errors(401, 403, 404),
)
def get_scenario(scenario_id: str, store: AsViewer) -> dict[str, Any]:
    return store.get_scenario(scenario_id)


@router.get(
    "/{scenario_id}/document",
    operation_id="get_scenario_document",
    response_class=JSONResponse,
    responses={
        200: {
            "description": "The scenario as a JSON document",
            "content": {"application/json": {"schema": DOCUMENT_SCHEMA}},
        },
        **errors(401, 403, 404),
    },
)
def get_scenario_document(scenario_id: str, store: AsViewer) -> JSONResponse:
    return JSONResponse(store.get_document(scenario_id))


@router.delete(
    "/{scenario_id}",
    operation_id="delete_scenario",
    status_code=204,
    response_class=Response,
    responses=errors(401, 403, 404),
)
def delete_scenario(scenario_id: str, store: AsPlanner) -> Response:
    store.delete_scenario(scenario_id)
    return Response(status_code=204)
