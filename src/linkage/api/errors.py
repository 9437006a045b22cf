"""One JSON shape for every error: ``{"error": {"code", "message", "problems": [...]}}``.

``problems`` holds the same objects the CLI lists for an invalid scenario (``Problem.to_dict``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from linkage.scenario.problems import Problem, ScenarioError


class ProblemOut(BaseModel):
    """One thing wrong with the input, as ``linkage validate`` reports it."""

    source: str = Field(description='file, sheet or part of the request, e.g. "regions.csv"')
    row: int | None = Field(description="row as the user counts it (header is row 1)")
    column: str | None
    value: str | None
    expected: str
    severity: str = Field(description='"error" or "warning"')
    excel_column: str | None = Field(default=None, description="spreadsheet column, workbooks")


class ErrorBody(BaseModel):
    code: str = Field(description="stable machine-readable code, e.g. invalid_scenario")
    message: str
    problems: list[ProblemOut] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    error: ErrorBody


DESCRIPTIONS = {
    400: "Bad request: malformed JSON, a bad or unsafe archive, a bad cursor",
    401: "No API key, or an unknown or revoked one",
    403: "The key's role does not allow this",
    404: "Not found (also for another tenant's ids)",
    409: "Conflict with the current state",
    413: "Upload too large, or a table has too many rows",
    422: "Invalid scenario or request, with every problem listed",
    429: "Too many queued or running jobs for the tenant",
    503: "Not ready",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, all in the one error shape (422 always:
    any request can fail validation, and FastAPI would otherwise document its own shape)."""
    return {
        s: {"model": ErrorResponse, "description": DESCRIPTIONS[s]}
        for s in sorted({*statuses, 422})
    }


def problem_dict(problem: Problem | Mapping[str, Any]) -> dict[str, Any]:
    """``Problem.to_dict`` with plain JSON types (rows may arrive as numpy integers)."""
    out = problem.to_dict() if isinstance(problem, Problem) else dict(problem)
    for key, value in out.items():
        if value is None or isinstance(value, str):
            continue
        out[key] = int(value) if key == "row" else str(value)
    return out


class ApiError(Exception):
    """An error answered with ``status`` in the one error shape."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        problems: Iterable[Problem | Mapping[str, Any]] = (),
        headers: Mapping[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.problems = [problem_dict(p) for p in problems]
        self.headers = dict(headers or {})


def error_response(
    status: int,
    code: str,
    message: str,
    problems: Iterable[Mapping[str, Any]] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "problems": list(problems)}}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def invalid_scenario(exc: ScenarioError) -> ApiError:
    return ApiError(422, "invalid_scenario", str(exc), exc.problems)


HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@lru_cache(maxsize=256)
def _path_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}/]+\})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))


def allowed_methods(request: Request) -> list[str]:
    """The methods the OpenAPI document lists for the request's path: a resource's GET and
    DELETE are separate routes, and Starlette's 405 names only the first one's."""
    path = request.scope.get("path", "")
    root = request.scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    paths = request.app.openapi().get("paths", {})
    if path in paths:  # as OpenAPI matches: a concrete path before the templated ones
        matching = [paths[path]]
    else:
        matching = [ops for t, ops in paths.items() if _path_pattern(t).fullmatch(path)]
    return sorted({m.upper() for operations in matching for m in operations if m in HTTP_METHODS})


def install_handlers(app: FastAPI) -> None:
    """Answer every error raised by routes, validation and routing in the one shape."""

    async def api_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.code, exc.message, exc.problems, exc.headers)

    async def scenario_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ScenarioError)
        err = invalid_scenario(exc)
        return error_response(err.status, err.code, err.message, err.problems)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            allowed = allowed_methods(request)
            if allowed:  # else a route outside the document (/v1/docs): Starlette's is right
                headers["Allow"] = ", ".join(allowed)
        return error_response(exc.status_code, code, message, headers=headers)

    async def request_invalid(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = []
        for e in exc.errors():
            loc = [str(part) for part in e.get("loc", ())]
            problems.append(
                Problem(
                    source=loc[0] if loc else "request",
                    row=None,
                    column=".".join(loc[1:]) or None,
                    value=None,
                    expected=str(e.get("msg", "a valid value")),
                ).to_dict()
            )
        return error_response(422, "invalid_request", "the request is not valid", problems)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(ScenarioError, scenario_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, request_invalid)
