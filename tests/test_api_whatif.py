"""What-if batches as jobs and plan comparison over HTTP: start, progress, the comparison
table and report, every problem of a bad batch at once, limits, tenants."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from api_support import Api, api, create_scenario, make_api, tiny_document
from test_api_jobs import error_of, start, wait_job

_ = api  # a fixture

SPEC: dict[str, Any] = {
    "description": "西湖 机构 试验",
    "solve": {"stages": ["pairing"], "seed": 0},
    "variants": [
        {"name": "baseline"},
        {"name": "无西湖机构", "changes": [{"drop": "organizations", "ids": ["001"]}]},
    ],
    "grids": [
        {
            "name": "cap",
            "axes": {"capacity": {"scale": "organizations.pairing_capacity", "values": [0, 2]}},
        }
    ],
}


def test_whatif_batch_runs_every_variant_and_compares_them(api: Api, tmp_path: Path) -> None:
    """POST /whatifs queues a whatif job; it solves the four variants (grid expanded) and its
    plan is the comparison table, with the grid parameter, Chinese names and the effect of
    each change, and an HTML report without links to plan folders."""
    headers = api.headers()
    sid = create_scenario(api, headers, tiny_document(tmp_path))
    response = api.client.post(f"/v1/scenarios/{sid}/whatifs", json=SPEC, headers=headers)
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    assert job["kind"] == "whatif" and job["variants"] == 4
    assert job["options"]["stages"] == ["pairing"] and "whatif" not in job["options"]
    done = wait_job(api, headers, job["id"])
    assert done["status"] == "succeeded", done
    assert done["progress"]["variants_done"] == done["progress"]["variants_total"] == 4
    plan = api.client.get(f"/v1/jobs/{job['id']}/plan", headers=headers).json()
    assert plan["summary"]["kind"] == "whatif" and plan["summary"]["variants_solved"] == 4
    assert [t["name"] for t in plan["tables"]] == ["comparison"]
    page = api.client.get(f"/v1/jobs/{job['id']}/plan/tables/comparison", headers=headers).json()
    rows = {r["variant"]: r for r in page["rows"]}
    assert list(rows) == ["baseline", "无西湖机构", "cap[capacity=0]", "cap[capacity=2]"]
    assert all(r["solved"] for r in rows.values())
    assert rows["cap[capacity=0]"]["capacity"] == 0 and rows["baseline"]["capacity"] is None
    paired = {name: r["targets_paired"] for name, r in rows.items()}
    assert paired["cap[capacity=0]"] == 0 < paired["baseline"]
    assert paired["无西湖机构"] < paired["baseline"] == paired["cap[capacity=2]"]
    html = api.client.get(f"/v1/jobs/{job['id']}/plan/report.html", headers=headers).text
    assert "无西湖机构" in html and "西湖 机构 试验" in html
    assert 'href="variants/' not in html
    for url in ("plan/plan.xlsx", "plan/tables/comparison?format=xlsx"):
        workbook = api.client.get(f"/v1/jobs/{job['id']}/{url}", headers=headers)
        assert workbook.status_code == 200 and workbook.content[:2] == b"PK", url


def test_a_bad_batch_lists_every_problem_at_once(api: Api, tmp_path: Path) -> None:
    """A batch with an unknown column, an unknown organization and a bad variant key answers
    422 invalid_scenario naming each, with a did-you-mean; nothing is queued."""
    headers = api.headers()
    sid = create_scenario(api, headers, tiny_document(tmp_path))
    bad = {
        "variants": [
            {"name": "a", "changes": [{"scale": "organizations.pairing_capacty", "by": 2}]},
            {"name": "b", "changes": [{"drop": "organizations", "ids": ["999"]}]},
            {"name": "c", "chanegs": []},
        ]
    }
    response = api.client.post(f"/v1/scenarios/{sid}/whatifs", json=bad, headers=headers)
    error = error_of(response, 422, "invalid_scenario")
    text = " ".join(str(p) for p in error["problems"])
    assert len(error["problems"]) >= 3
    assert "pairing_capacity" in text and "999" in text and "changes" in text
    assert api.client.get("/v1/jobs", headers=headers).json()["items"] == []


def test_whatif_limits_roles_and_tenants(tmp_path: Path) -> None:
    """Too many variants is 422 too_many_variants; a viewer may not start a batch (403);
    another tenant's scenario is 404; a time limit over the server's is 422."""
    for app in make_api(tmp_path, max_variants=3, run_jobs=False):
        headers = app.headers()
        sid = create_scenario(app, headers, tiny_document(tmp_path))
        url = f"/v1/scenarios/{sid}/whatifs"
        error_of(app.client.post(url, json=SPEC, headers=headers), 422, "too_many_variants")
        small = {"variants": [{"name": "baseline"}]}
        error_of(
            app.client.post(url, json=small, headers=app.headers(role="viewer")), 403, "forbidden"
        )
        error_of(app.client.post(url, json=small, headers=app.headers("t2")), 404, "not_found")
        slow = {**small, "solve": {"time_limit_s": 1e6}}
        error_of(app.client.post(url, json=slow, headers=headers), 422, "time_limit_too_long")
        accepted = app.client.post(url, json=small, headers=headers)
        assert accepted.status_code == 202 and accepted.json()["status"] == "queued"


def test_compare_two_plans_over_http(api: Api, tmp_path: Path) -> None:
    """GET /plan/comparison?with= compares two of the tenant's plans like `linkage compare`:
    the dropped organization's pairs are removed, the indicator deltas and the Chinese summary
    say so; another tenant's job is 404 and a what-if batch 409."""
    headers = api.headers()
    base = create_scenario(api, headers, tiny_document(tmp_path))
    document = tiny_document(tmp_path)
    organizations = document["tables"]["organizations"]
    document["tables"]["organizations"] = _without(organizations, "001")
    fewer = create_scenario(api, headers, document)
    a = start(api, headers, base, {"stages": ["pairing"], "seed": 0})["id"]
    b = start(api, headers, fewer, {"stages": ["pairing"], "seed": 0})["id"]
    for job_id in (a, b):
        assert wait_job(api, headers, job_id)["status"] == "succeeded"
    response = api.client.get(f"/v1/jobs/{a}/plan/comparison", params={"with": b}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["job_a"] == a and body["job_b"] == b
    removed = [p for p in body["pairs_changed"] if p["change"] == "removed"]
    assert "001" in {p["org"] for p in removed}
    assert all(p["change"] == "removed" for p in body["pairs_changed"] if p["org"] == "001")
    paired = next(d for d in body["indicator_deltas"] if d["indicator"] == "targets_paired")
    assert paired["delta"] < 0 and paired["improved"] is False
    assert "牵手" in body["summary_text"]
    error_of(
        api.client.get(
            f"/v1/jobs/{a}/plan/comparison", params={"with": b}, headers=api.headers("t2")
        ),
        404,
        "not_found",
    )
    error_of(
        api.client.get(
            f"/v1/jobs/{a}/plan/comparison", params={"with": "job_nope"}, headers=headers
        ),
        404,
        "not_found",
    )
    whatif = api.client.post(
        f"/v1/scenarios/{base}/whatifs", json={"variants": [{"name": "baseline"}]}, headers=headers
    ).json()
    assert wait_job(api, headers, whatif["id"])["status"] == "succeeded"
    error_of(
        api.client.get(
            f"/v1/jobs/{a}/plan/comparison", params={"with": whatif["id"]}, headers=headers
        ),
        409,
        "not_a_plan",
    )


def _without(rows: list[dict[str, Any]], org_id: str) -> list[dict[str, Any]]:
    """A scenario document's organizations without one organization."""
    return [row for row in rows if str(row.get("id")) != org_id]


def test_canceling_and_rerunning_a_batch(tmp_path: Path) -> None:
    """A queued what-if batch is canceled at once and has no plan; its re-run is a what-if
    batch of the same variants."""
    for app in make_api(tmp_path, run_jobs=False):
        headers = app.headers()
        sid = create_scenario(app, headers, tiny_document(tmp_path))
        job = app.client.post(
            f"/v1/scenarios/{sid}/whatifs", json={"variants": [{"name": "x"}]}, headers=headers
        ).json()
        assert app.client.delete(f"/v1/jobs/{job['id']}", headers=headers).json()["status"] == (
            "canceled"
        )
        error_of(app.client.get(f"/v1/jobs/{job['id']}/plan", headers=headers), 404, "no_plan")
        rerun = app.client.post(f"/v1/jobs/{job['id']}/rerun", headers=headers)
        assert rerun.status_code == 202, rerun.text
        assert rerun.json()["kind"] == "whatif" and rerun.json()["variants"] == 1
