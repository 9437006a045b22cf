"""The API against its own OpenAPI document, by schemathesis: generated requests (valid and
invalid) to every operation, with real scenario, job, table and key ids mixed into the path
parameters; no 5xx, and every answer documented (status code, content type, body schema)."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import api_support  # noqa: F401  (skips without the api extra)
from api_support import TestClient, tiny_document

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.python import asgi  # noqa: E402

from linkage.api.app import create_app  # noqa: E402
from linkage.api.keys import create_key  # noqa: E402
from linkage.api.openapi import openapi_document  # noqa: E402
from linkage.api.settings import Settings  # noqa: E402

# examples per operation: keeps the whole file well under a minute on 2 cores; raise it with
# LINKAGE_SCHEMATHESIS_EXAMPLES=300 for a deeper run by hand
MAX_EXAMPLES = int(os.environ.get("LINKAGE_SCHEMATHESIS_EXAMPLES", "25"))
DONE = ("succeeded", "failed", "canceled", "interrupted")


@dataclass
class Seeded:
    """What the generated requests use: the key's headers and the real ids."""

    headers: dict[str, str]  # an admin key (every route, the keys routes too) in both headers
    scenario: str
    doomed_scenarios: list[str]  # for DELETE: the first delete of each answers 204
    jobs: list[str]  # a succeeded job (with a plan) and a canceled one (re-runnable)
    queued_jobs: list[str]  # for DELETE: the first cancel of each answers 202
    tables: list[str]  # the succeeded job's plan tables
    doomed_keys: list[str]  # for DELETE /v1/keys/{key_id}


class Current:
    """The ASGI app the schema's requests go to: it forwards to the app the fixture made (the
    schema is loaded at import, before any app exists), and holds what was seeded in it."""

    app: Any = None
    seeded: Seeded | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert self.app is not None, "the seeded fixture makes the app"
        await self.app(scope, receive, send)


CURRENT = Current()
SEEN: dict[str, set[int]] = {}  # the status codes answered, per operation


def _seeded() -> Seeded:
    assert CURRENT.seeded is not None, "the seeded fixture runs first"
    return CURRENT.seeded


def _wait(client: Any, job_id: str, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    while True:
        job = client.get(f"/v1/jobs/{job_id}", headers=headers).json()
        if job["status"] in DONE:
            return dict(job)
        assert time.monotonic() < deadline, job
        time.sleep(0.1)


def _seed(settings: Settings, document: dict[str, Any]) -> Seeded:
    """Three scenarios, a succeeded job (solved by an app with a job runner), then in the app
    under test (no runner: its jobs stay queued) a canceled job, two queued jobs, two keys."""
    key = create_key(settings, "st", "admin")
    # both headers: a generated X-API-Key (it comes first) must not replace the key
    headers = {"Authorization": f"Bearer {key}", "X-API-Key": key}

    def post(client: Any, url: str, body: Any, status: int) -> dict[str, Any]:
        response = client.post(url, json=body, headers=headers)
        assert response.status_code == status, response.text
        return dict(response.json())

    with TestClient(create_app(settings.model_copy(update={"run_jobs": True}))) as client:
        scenario, *doomed = [post(client, "/v1/scenarios", document, 201)["id"] for _ in range(3)]
        solves = f"/v1/scenarios/{scenario}/solves"
        job = _wait(client, post(client, solves, {"seed": 1}, 202)["id"], headers)
        assert job["status"] == "succeeded", job
        plan = client.get(f"/v1/jobs/{job['id']}/plan", headers=headers).json()
    with asgi.get_client(CURRENT) as client:  # starts the lifespan of the app under test
        canceled, *queued = [post(client, solves, {}, 202)["id"] for _ in range(3)]
        assert client.delete(f"/v1/jobs/{canceled}", headers=headers).status_code == 202
        keys = [post(client, "/v1/keys", {"role": "viewer"}, 201)["id"] for _ in range(2)]
    return Seeded(
        headers=headers,
        scenario=scenario,
        doomed_scenarios=doomed,
        jobs=[job["id"], canceled],
        queued_jobs=queued,
        tables=[t["name"] for t in plan["tables"]],
        doomed_keys=keys,
    )


def _job_ids(method: str, path: str) -> list[str]:
    seeded = _seeded()
    if "/plan" in path:
        return seeded.jobs[:1]  # the job with a plan
    if path.endswith("/rerun"):
        # the canceled job: re-runnable, so its 202 does not hang on which id is drawn
        return seeded.jobs[1:2]
    if method == "DELETE":
        return seeded.queued_jobs
    return seeded.jobs + seeded.queued_jobs


def _real_ids(method: str, path: str, names: list[str]) -> Any:
    """A strategy for real values of the path parameters ``names`` of one operation (drawn
    once the fixture has seeded them)."""
    pools = {
        "scenario_id": lambda: (
            _seeded().doomed_scenarios if method == "DELETE" else [_seeded().scenario]
        ),
        "job_id": lambda: _job_ids(method, path),
        "name": lambda: _seeded().tables,
        "key_id": lambda: _seeded().doomed_keys,
    }
    choices = {
        name: st.deferred(lambda pool=pools[name]: st.sampled_from(pool()))
        for name in names
        if name in pools
    }
    return st.fixed_dictionaries(choices) if choices else None


def _document_example() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="linkage-schemathesis-") as tmp:
        return tiny_document(Path(tmp))


def _openapi_with_examples(document: dict[str, Any]) -> dict[str, Any]:
    """The API's OpenAPI document, with a valid scenario as the example of the JSON bodies
    (random documents are never valid scenarios: the 201 and 200 answers need one)."""
    spec = openapi_document()
    for path in ("/v1/scenarios", "/v1/scenarios/validate"):
        content = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        content["examples"] = {"tiny": {"value": document}}
    return spec


# a schema-valid request may still be refused for what a schema cannot say: a scenario that fails
# validation (422 invalid_scenario), a time limit over the server's max_solve_seconds (422), a
# cursor this API never returned or an upload that is not an archive (400); all are documented
CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "400", "401", "403", "404", "409", "422", "429"]
            }
        }
    }
)
DOCUMENT = _document_example()
schema = schemathesis.openapi.from_dict(_openapi_with_examples(DOCUMENT), config=CONFIG)
schema.app = CURRENT  # as from_asgi does: requests (and the checks' probes) go in-process


@schema.hook
def before_generate_case(context: Any, strategy: Any) -> Any:
    """Half the valid requests get real ids in their path (more than 404s get exercised)."""
    operation = context.operation
    names = [p.name for p in operation.path_parameters]
    real = _real_ids(operation.method.upper(), operation.path, names)
    if real is None:
        return strategy

    def with_real_ids(pair: tuple[Any, dict[str, str]]) -> Any:
        case, ids = pair
        if case.meta is None or case.meta.generation.mode == GenerationMode.POSITIVE:
            case.path_parameters = {**case.path_parameters, **ids}
        return case

    return st.one_of(strategy, st.tuples(strategy, real).map(with_real_ids))


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """An app on a fresh SQLite file, running (lifespan started), seeded with real data."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("schemathesis") / "data",
        max_solve_seconds=5,
        max_concurrent_jobs=4,  # three seeded, one for generated solves and re-runs
        max_upload_bytes=2 * 1024 * 1024,
        run_jobs=False,
    )
    CURRENT.app = create_app(settings)
    try:
        CURRENT.seeded = _seed(settings, DOCUMENT)
        yield CURRENT.seeded
    finally:
        asgi.shutdown_lifespans()  # ends the app's lifespan
        CURRENT.app = CURRENT.seeded = None


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,  # the same requests every run: the reach check below cannot flake
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_every_operation_conforms_to_the_openapi(case: Any, seeded: Seeded) -> None:
    """Generated requests get no 5xx, and only documented statuses, content types and bodies."""
    response = case.call_and_validate(headers=seeded.headers)
    SEEN.setdefault(f"{case.method.upper()} {case.path}", set()).add(response.status_code)


# the operations whose success the seeded data and the example scenario make reachable (the
# uploads are not: random bytes never make a valid workbook or zip; test_api_scenarios has them)
REACHABLE = {
    "GET /v1/health": 200,
    "GET /v1/ready": 200,
    "POST /v1/scenarios": 201,
    "POST /v1/scenarios/validate": 200,
    "GET /v1/scenarios": 200,
    "GET /v1/scenarios/{scenario_id}": 200,
    "GET /v1/scenarios/{scenario_id}/document": 200,
    "DELETE /v1/scenarios/{scenario_id}": 204,
    "POST /v1/scenarios/{scenario_id}/solves": 202,
    "GET /v1/jobs": 200,
    "GET /v1/jobs/{job_id}": 200,
    "DELETE /v1/jobs/{job_id}": 202,
    "POST /v1/jobs/{job_id}/rerun": 202,
    "GET /v1/jobs/{job_id}/plan": 200,
    "GET /v1/jobs/{job_id}/plan/tables/{name}": 200,
    "GET /v1/jobs/{job_id}/plan/plan.xlsx": 200,
    "GET /v1/jobs/{job_id}/plan/report.html": 200,
    "GET /v1/keys": 200,
    "POST /v1/keys": 201,
    "DELETE /v1/keys/{key_id}": 204,
}


def test_generated_requests_reached_real_resources() -> None:
    """The generated requests reached real resources: each reachable operation answered 2xx."""
    if not SEEN:
        pytest.skip("runs after test_every_operation_conforms_to_the_openapi")
    missing = {
        label: sorted(SEEN.get(label, set()))
        for label, status in REACHABLE.items()
        if status not in SEEN.get(label, set())
    }
    assert not missing, missing
