"""Tenant isolation on every route of the OpenAPI document: another tenant's ids look missing,
whatever the route, and the owner's data stays as it was."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from api_support import Api, api, create_scenario, tiny_document
from test_api_jobs import start, wait_job

_ = api  # a fixture

# a body that would be accepted from the owner, per (method, path template)
BODIES: dict[tuple[str, str], Any] = {
    ("post", "/v1/scenarios/{scenario_id}/solves"): {"stages": ["pairing"]},
    ("post", "/v1/scenarios/{scenario_id}/whatifs"): {"variants": [{"name": "baseline"}]},
}


def test_every_route_with_an_id_hides_other_tenants_data(api: Api, tmp_path: Path) -> None:
    """For every method of every path with an id in the OpenAPI document, tenant B (admin)
    gets 404 not_found on tenant A's scenario, job, plan, table or key; A still sees its own
    data unchanged, and no route is left untried."""
    owner = api.headers("a", "admin")
    other = api.headers("b", "admin")
    sid = create_scenario(api, owner, tiny_document(tmp_path))
    first = start(api, owner, sid, {"stages": ["pairing"], "seed": 0})["id"]
    second = start(api, owner, sid, {"stages": ["pairing"], "seed": 1})["id"]
    for job_id in (first, second):
        assert wait_job(api, owner, job_id)["status"] == "succeeded"
    key_id = api.client.post("/v1/keys", json={"role": "viewer"}, headers=owner).json()["id"]
    ids = {"scenario_id": sid, "job_id": first, "name": "pairs", "key_id": key_id}
    before = {
        url: api.client.get(url, headers=owner).json()
        for url in (f"/v1/scenarios/{sid}", f"/v1/jobs/{first}", f"/v1/jobs/{first}/plan")
    }

    tried = []
    for template, operations in api.client.app.openapi()["paths"].items():  # type: ignore[attr-defined]
        if "{" not in template:
            continue
        url = template.format(**ids)
        for method in operations:
            params = {"with": second} if template.endswith("/plan/comparison") else None
            response = api.client.request(
                method.upper(),
                url,
                headers=other,
                params=params,
                json=BODIES.get((method, template)),
            )
            assert response.status_code == 404, (method, template, response.text)
            assert response.json()["error"]["code"] == "not_found", (method, template)
            tried.append((method, template))
    assert len(tried) >= 14

    for url, body in before.items():
        assert api.client.get(url, headers=owner).json() == body
    keys = api.client.get("/v1/keys", headers=owner).json()["items"]
    assert key_id in [k["id"] for k in keys]
    jobs = api.client.get("/v1/jobs", headers=other).json()["items"]
    assert jobs == []
