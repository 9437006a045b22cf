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
