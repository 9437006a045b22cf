"""Health, readiness, the error shape for unknown routes, and the OpenAPI golden file."""

from __future__ import annotations

import json
from pathlib import Path

from api_support import Api, TestClient, api
from linkage.api.app import create_app
from linkage.api.openapi import openapi_document
from linkage.api.settings import Settings

_ = api  # a fixture

GOLDEN = Path(__file__).parent / "data" / "openapi.json"
REGENERATE = ".venv/bin/python -m linkage.api.openapi tests/data/openapi.json"


def test_health_needs_no_key(api: Api) -> None:
    """GET /v1/health answers 200 ok with the package version, without a key."""
    response = api.client.get("/v1/health")
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_ready_when_migrated(api: Api) -> None:
    """GET /v1/ready answers 200 with the head revision once the app has started."""
    from linkage.api.storage import head_revision

    response = api.client.get("/v1/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "database": "ok", "revision": head_revision()}


def test_not_ready_before_migrations(tmp_path: Path) -> None:
    """An app started without migrating answers 503 migrations_pending in the error shape."""
    settings = Settings(data_dir=tmp_path)
    with TestClient(create_app(settings, run_migrations=False)) as client:
        response = client.get("/v1/ready")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "migrations_pending"


def test_not_ready_without_a_database(tmp_path: Path) -> None:
    """An unreachable database answers 503 database_unavailable."""
    from sqlalchemy import create_engine

    blocker = tmp_path / "file"
    blocker.write_text("")  # a file where the database's folder should be
    app = create_app(Settings(database_url="sqlite://"), run_migrations=False)
    app.state.engine = create_engine(f"sqlite:///{blocker}/x/linkage.db")
    with TestClient(app) as client:
        response = client.get("/v1/ready")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "database_unavailable"


def test_unknown_routes_and_methods_use_the_error_shape(api: Api) -> None:
    """404 for an unknown path and 405 for a wrong method come in the one error shape."""
    missing = api.client.get("/v1/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong = api.client.put("/v1/health")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "method_not_allowed"


def test_405_allow_lists_every_method_of_the_resource(api: Api) -> None:
    """A 405's Allow header lists every method the OpenAPI document gives the requested path."""
    # GET and DELETE of a resource are separate routes; a concrete path such as
    # /v1/scenarios/xlsx wins over /v1/scenarios/{scenario_id}; the docs routes keep Starlette's
    cases = {
        "/v1/scenarios/sc_x": "DELETE, GET",
        "/v1/jobs/job_x": "DELETE, GET",
        "/v1/scenarios": "GET, POST",
        "/v1/keys": "GET, POST",
        "/v1/scenarios/xlsx": "POST",
        "/v1/health": "GET",
    }
    for path, allow in cases.items():
        response = api.client.request("PATCH", path)
        assert response.status_code == 405, path
        assert response.headers["allow"] == allow, path
        assert response.json()["error"]["code"] == "method_not_allowed"
    assert "GET" in api.client.post("/v1/docs").headers["allow"]


def test_a_repeated_query_parameter_is_422(api: Api) -> None:
    """A declared query parameter given twice is 422 invalid_request; undeclared ones pass."""
    headers = api.headers()
    twice = api.client.get("/v1/jobs?scenario_id=a&scenario_id=b&limit=2", headers=headers)
    assert twice.status_code == 422, twice.text
    error = twice.json()["error"]
    assert error["code"] == "invalid_request"
    assert [(p["source"], p["column"]) for p in error["problems"]] == [("query", "scenario_id")]
    assert api.client.get("/v1/jobs?scenario_id=a", headers=headers).status_code == 200
    assert api.client.get("/v1/scenarios?x=1&x=2", headers=headers).status_code == 200
    assert api.client.get("/v1/health?x=1&x=2").status_code == 200


def test_openapi_matches_the_golden_file() -> None:
    """The app's OpenAPI document equals tests/data/openapi.json."""
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert openapi_document() == golden, (
        f"the API changed; review the change, then regenerate with: {REGENERATE}"
    )


def test_every_operation_has_a_stable_id_and_documented_errors() -> None:
    """Every operation has an explicit snake_case operation id, and every 4xx it documents
    uses the one error shape."""
    spec = openapi_document()
    ids = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            op_id = operation["operationId"]
            ids.append(op_id)
            assert op_id.replace("_", "").isalpha() and op_id.islower(), (method, path)
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (path, status)
    assert len(ids) == len(set(ids)) >= 13
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_openapi_is_served_under_v1(api: Api) -> None:
    """GET /v1/openapi.json serves the same document."""
    assert api.client.get("/v1/openapi.json").json() == openapi_document()
