"""Solve jobs and plans: start, poll, list, cancel, re-run, recovery, limits, plan formats,
tenant isolation."""

from __future__ import annotations

import io
import math
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from api_support import Api, api, create_scenario, fresh_settings, make_api, open_api, tiny_document
from linkage.api import jobs as jobdb
from linkage.api import worker
from linkage.api.storage import jobs, plans
from linkage.solvers.stopping import Deadline, StopFlag

_ = api  # a fixture

DONE = ("succeeded", "failed", "canceled", "interrupted")
NO_STOP = worker._Stops(StopFlag(), Deadline(math.inf))


def error_of(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body["error"]) == {"code", "message", "problems"}
    assert body["error"]["code"] == code
    return dict(body["error"])


def wait_job(api: Api, headers: dict[str, str], job_id: str, timeout: float = 60) -> Any:
    """Poll the job until it is finished; its last state."""
    deadline = time.monotonic() + timeout
    while True:
        job = api.client.get(f"/v1/jobs/{job_id}", headers=headers).json()
        if job["status"] in DONE:
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.1)


def start(api: Api, headers: dict[str, str], sid: str, body: Any = None) -> Any:
    response = api.client.post(f"/v1/scenarios/{sid}/solves", json=body, headers=headers)
    assert response.status_code == 202, response.text
    return response.json()


@pytest.fixture
def idle(tmp_path: Path) -> Iterator[Api]:
    """An app whose jobs stay queued (no runner), with room for 10 jobs and 5 s solves."""
    yield from make_api(tmp_path, run_jobs=False, max_concurrent_jobs=10, max_solve_seconds=5)


@pytest.fixture
def solved(api: Api, tmp_path: Path) -> tuple[Api, dict[str, str], str]:
    """A finished solve of the tiny scenario: the api, the planner's headers and the job id."""
    headers = api.headers()
    sid = create_scenario(api, headers, tiny_document(tmp_path))
    job = start(api, headers, sid, {"seed": 1})
    assert wait_job(api, headers, job["id"])["status"] == "succeeded"
    return api, headers, job["id"]


def test_solve_is_accepted_then_succeeds_with_progress(api: Api, tmp_path: Path) -> None:
    """POST …/solves answers 202 with Location and a queued job that a worker solves."""
    headers = api.headers()
    sid = create_scenario(api, headers, tiny_document(tmp_path))
    response = api.client.post(f"/v1/scenarios/{sid}/solves", headers=headers)
    assert response.status_code == 202
    job = response.json()
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    assert job["status"] == "queued" and job["scenario_id"] == sid and not job["has_plan"]
    done = wait_job(api, headers, job["id"])
    assert done["status"] == "succeeded", done
    progress = done["progress"]
    assert progress["stages_done"] == ["pairing", "staffing", "volunteers", "funds"]
    assert progress["stages_total"] == 4 and progress["elapsed_s"] > 0
    assert progress["gap"] == 0 and progress["objective"] == progress["bound"]
    assert done["has_plan"] and done["error"] is None
    assert done["started_at"] and done["finished_at"] and done["heartbeat_at"]


def test_plan_summary_and_table_formats(solved: tuple[Api, dict[str, str], str]) -> None:
    """The plan lists its tables with row counts; a table comes as JSON pages, CSV and XLSX;
    the report is HTML; the whole workbook downloads."""
    from openpyxl import load_workbook

    api, headers, job_id = solved
    plan = api.client.get(f"/v1/jobs/{job_id}/plan", headers=headers).json()
    assert plan["complete"] is True and plan["summary"]["solved"] is True
    assert set(plan["summary"]["stages"]) == {"pairing", "staffing", "volunteers", "funds"}
    rows = {t["name"]: t["rows"] for t in plan["tables"]}
    assert rows == plan["summary"]["tables"] and rows["pairs"] == 3

    url = f"/v1/jobs/{job_id}/plan/tables/pairs"
    page = api.client.get(url, params={"limit": 2, "offset": 1}, headers=headers).json()
    assert page["total"] == 3 and page["offset"] == 1 and page["next_offset"] is None
    assert len(page["rows"]) == 2 and page["rows"][0]["org"] in ("001", "002")
    first = api.client.get(url, params={"limit": 1}, headers=headers).json()
    assert first["next_offset"] == 1 and isinstance(first["rows"][0]["score"], int)

    csv = api.client.get(url, params={"format": "csv"}, headers=headers)
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0].startswith("org,org_name,target")
    assert len(csv.text.strip().splitlines()) == 4

    xlsx = api.client.get(url, params={"format": "xlsx"}, headers=headers)
    assert xlsx.status_code == 200
    book = load_workbook(io.BytesIO(xlsx.content), read_only=True)
    assert len(book.sheetnames) == 2 and "pairs" in book.sheetnames[1]

    report = api.client.get(f"/v1/jobs/{job_id}/plan/report.html", headers=headers)
    assert report.headers["content-type"].startswith("text/html")
    assert "<html" in report.text and "浙青牵手" in report.text

    workbook = api.client.get(f"/v1/jobs/{job_id}/plan/plan.xlsx", headers=headers)
    assert len(load_workbook(io.BytesIO(workbook.content)).sheetnames) == 1 + len(rows)

    error_of(
        api.client.get(f"/v1/jobs/{job_id}/plan/tables/nope", headers=headers), 404, "not_found"
    )
    bad = api.client.get(url, params={"format": "pdf"}, headers=headers)
    error_of(bad, 422, "invalid_request")


def test_request_limits_and_validation(idle: Api, tmp_path: Path) -> None:
    """A time limit over max_solve_seconds, an unknown stage or field answer 422; an unknown
    scenario 404."""
    headers = idle.headers()
    sid = create_scenario(idle, headers, tiny_document(tmp_path))
    url = f"/v1/scenarios/{sid}/solves"
    err = error_of(
        idle.client.post(url, json={"time_limit_s": 6}, headers=headers),
        422,
        "time_limit_too_long",
    )
    assert err["problems"][0]["column"] == "time_limit_s"
    for body in ({"stages": ["dance"]}, {"stages": []}, {"seed": -1}, {"colour": "red"}):
        error_of(idle.client.post(url, json=body, headers=headers), 422, "invalid_request")
    job = start(idle, headers, sid, {"stages": ["funds", "pairing", "funds"], "time_limit_s": 5})
    assert job["options"] == {"stages": ["funds", "pairing"], "time_limit_s": 5.0, "seed": None}
    missing = idle.client.post("/v1/scenarios/sc_nope/solves", headers=headers)
    error_of(missing, 404, "not_found")


def test_concurrent_job_limit_is_429(tmp_path: Path) -> None:
    """A tenant with max_concurrent_jobs queued jobs gets 429 too_many_jobs until one ends;
    another tenant is not held back."""
    for app in make_api(tmp_path, run_jobs=False, max_concurrent_jobs=2):
        headers = app.headers()
        sid = create_scenario(app, headers, tiny_document(tmp_path))
        first = start(app, headers, sid)
        start(app, headers, sid)
        url = f"/v1/scenarios/{sid}/solves"
        error_of(app.client.post(url, headers=headers), 429, "too_many_jobs")
        assert app.client.delete(f"/v1/jobs/{first['id']}", headers=headers).status_code == 202
        start(app, headers, sid)
        other = app.headers("t2")
        start(app, other, create_scenario(app, other, tiny_document(tmp_path)))


def test_cancel_queued_and_finished_jobs(idle: Api, tmp_path: Path) -> None:
    """DELETE cancels a queued job at once; a finished job answers 409 job_finished."""
    headers = idle.headers()
    job = start(idle, headers, create_scenario(idle, headers, tiny_document(tmp_path)))
    response = idle.client.delete(f"/v1/jobs/{job['id']}", headers=headers)
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "canceled" and body["cancel_requested"] and body["finished_at"]
    again = idle.client.delete(f"/v1/jobs/{job['id']}", headers=headers)
    error_of(again, 409, "job_finished")
    error_of(idle.client.get(f"/v1/jobs/{job['id']}/plan", headers=headers), 404, "no_plan")
    error_of(idle.client.delete("/v1/jobs/job_nope", headers=headers), 404, "not_found")


GAP = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "gap" / "chu1997"


def hard_pairing_document() -> dict[str, Any]:
    """Chu–Beasley d20100 as a scenario: its pairing stage runs to a 60 s time limit."""
    sys.path.insert(0, str(GAP.parents[2]))
    from gap_scenario import gap_scenario
    from linkage.scenario.io import to_document

    return to_document(gap_scenario(GAP / "d20100", "min", time_limit_s=60))


def test_cancel_stops_a_long_stage_and_keeps_its_best_plan(tmp_path: Path) -> None:
    """DELETE during a 60 s pairing stage stops it within seconds; the job is canceled and keeps
    the stage's best plan with its bound; meanwhile its progress shows the time going by."""
    for app in make_api(tmp_path, job_heartbeat_seconds=0.5):
        headers = app.headers()
        sid = create_scenario(app, headers, hard_pairing_document())
        job = start(app, headers, sid, {"stages": ["pairing"], "time_limit_s": 60})
        deadline = time.monotonic() + 30
        while app.client.get(f"/v1/jobs/{job['id']}", headers=headers).json()["status"] != (
            "running"
        ):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(2)  # inside the pairing stage's search
        running = app.client.get(f"/v1/jobs/{job['id']}", headers=headers).json()["progress"]
        # the heartbeat keeps the elapsed time current while the stage runs
        assert running["stage"] == "pairing" and running["stages_done"] == []
        assert running["elapsed_s"] >= 1
        asked = time.monotonic()
        assert app.client.delete(f"/v1/jobs/{job['id']}", headers=headers).status_code == 202
        done = wait_job(app, headers, job["id"], timeout=30)
        assert time.monotonic() - asked < 15
        assert done["status"] == "canceled" and done["progress"]["stages_done"] == ["pairing"]
        assert done["progress"]["elapsed_s"] < 30
        plan = app.client.get(f"/v1/jobs/{job['id']}/plan", headers=headers).json()
        pairing = plan["summary"]["stages"]["pairing"]
        assert pairing["status"] == "feasible" and "stopped on request" in pairing["message"]
        assert pairing["gap"] > 0
        targets = app.client.get(
            f"/v1/jobs/{job['id']}/plan/tables/targets", params={"limit": 500}, headers=headers
        ).json()
        assert targets["total"] == 100
        assert sum(int(r["shortfall"]) for r in targets["rows"]) == 0


def test_a_job_stops_at_its_wall_clock_limit_and_keeps_its_plan(tmp_path: Path) -> None:
    """A job that reaches max_job_seconds stops its running stage, skips the rest, fails with
    job_time_limit and keeps the plan found so far."""
    for app in make_api(tmp_path, max_job_seconds=3):
        headers = app.headers()
        sid = create_scenario(app, headers, hard_pairing_document())
        job = start(app, headers, sid, {"stages": ["pairing", "staffing"], "time_limit_s": 60})
        done = wait_job(app, headers, job["id"], timeout=40)
        assert done["status"] == "failed" and done["error"]["code"] == "job_time_limit"
        assert "staffing" in done["error"]["message"]
        assert done["progress"]["stages_done"] == ["pairing"]
        assert done["progress"]["elapsed_s"] < 20
        plan = app.client.get(f"/v1/jobs/{job['id']}/plan", headers=headers).json()
        assert list(plan["summary"]["stages"]) == ["pairing"]
        assert plan["summary"]["stages"]["pairing"]["status"] == "feasible"


def claim(engine: sa.engine.Engine, token: str = "test-host:1:abcd") -> str:
    job_id = jobdb.claim_next(engine, token)
    assert job_id is not None
    return job_id


def status_of(engine: sa.engine.Engine, job_id: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).first()


def test_cancel_running_job_keeps_finished_stages(
    idle: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cancel that arrives while a stage runs stops the worker before the next stage; the
    stages finished so far are kept as the job's plan and the job is canceled."""
    from linkage import pipeline

    headers = idle.headers()
    job = start(idle, headers, create_scenario(idle, headers, tiny_document(tmp_path)))
    engine = idle.client.app.state.engine  # type: ignore[attr-defined]
    job_id = claim(engine)
    pairing = pipeline.STAGES["pairing"]

    def pairing_then_cancel(*args: Any) -> Any:
        outcome = pairing(*args)
        response = idle.client.delete(f"/v1/jobs/{job_id}", headers=headers)
        assert response.json()["status"] == "running" and response.json()["cancel_requested"]
        return outcome

    monkeypatch.setitem(pipeline.STAGES, "pairing", pairing_then_cancel)
    worker._solve_job(engine, job_id, "test-host:1:abcd", time.monotonic(), 5, NO_STOP)
    done = idle.client.get(f"/v1/jobs/{job['id']}", headers=headers).json()
    assert done["status"] == "canceled" and done["progress"]["stages_done"] == ["pairing"]
    plan = idle.client.get(f"/v1/jobs/{job_id}/plan", headers=headers).json()
    assert plan["complete"] is False and list(plan["summary"]["stages"]) == ["pairing"]
    names = {t["name"] for t in plan["tables"]}
    assert "pairs" in names and "staffing" not in names


def test_failing_solve_is_failed_with_error(
    idle: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stage that raises leaves the job failed with code solve_failed and no plan."""
    from linkage import pipeline

    headers = idle.headers()
    start(idle, headers, create_scenario(idle, headers, tiny_document(tmp_path)))
    engine = idle.client.app.state.engine  # type: ignore[attr-defined]
    job_id = claim(engine)

    def broken(*_args: Any) -> Any:
        raise RuntimeError("solver exploded")

    monkeypatch.setitem(pipeline.STAGES, "staffing", broken)
    worker._solve_job(engine, job_id, "test-host:1:abcd", time.monotonic(), 5, NO_STOP)
    job = idle.client.get(f"/v1/jobs/{job_id}", headers=headers).json()
    assert job["status"] == "failed" and job["error"]["code"] == "solve_failed"
    assert "solver exploded" in job["error"]["message"] and not job["has_plan"]
    assert job["progress"]["stages_done"] == ["pairing"]


def test_worker_that_lost_its_claim_writes_nothing(idle: Api, tmp_path: Path) -> None:
    """A worker whose job was marked interrupted (its server restarted) stores no plan and
    leaves the status alone."""
    headers = idle.headers()
    start(idle, headers, create_scenario(idle, headers, tiny_document(tmp_path)))
    engine = idle.client.app.state.engine  # type: ignore[attr-defined]
    job_id = claim(engine)
    jobdb.interrupt_own(engine, job_id, "test-host:1:abcd", "stopped")
    with pytest.raises(worker._Lost):
        worker._solve_job(engine, job_id, "test-host:1:abcd", time.monotonic(), 5, NO_STOP)
    assert status_of(engine, job_id).status == "interrupted"
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(plans)).scalar() == 0


def test_restart_marks_dead_servers_jobs_interrupted_and_rerun_solves(tmp_path: Path) -> None:
    """Jobs left running by a dead process (or with a stale heartbeat) are interrupted when
    the server starts; a re-run is a new job that solves; a queued job survives the restart."""
    with fresh_settings(tmp_path, run_jobs=False, max_concurrent_jobs=5) as idle_settings:
        restart = idle_settings.model_copy(update={"run_jobs": True})
        for app in open_api(idle_settings):
            headers = app.headers()
            sid = create_scenario(app, headers, tiny_document(tmp_path))
            dead, stale, queued = (start(app, headers, sid)["id"] for _ in range(3))
            engine = app.client.app.state.engine  # type: ignore[attr-defined]
            host = jobdb.worker_token().partition(":")[0]
            assert claim(engine, f"{host}:999999999:dead") == dead
            assert claim(engine, "elsewhere:1:x") == stale
            with engine.begin() as conn:
                old = jobdb.utcnow().replace(year=2020)
                conn.execute(jobs.update().where(jobs.c.id == stale).values(heartbeat_at=old))
        for app in open_api(restart):
            for job_id in (dead, stale):
                job = app.client.get(f"/v1/jobs/{job_id}", headers=headers).json()
                assert job["status"] == "interrupted" and job["error"]["code"] == "interrupted"
            assert wait_job(app, headers, queued)["status"] == "succeeded"
            rerun = app.client.post(f"/v1/jobs/{dead}/rerun", headers=headers)
            assert rerun.status_code == 202
            again = rerun.json()
            assert rerun.headers["location"] == f"/v1/jobs/{again['id']}"
            assert again["rerun_of"] == dead and again["scenario_id"] == sid
            assert wait_job(app, headers, again["id"])["status"] == "succeeded"
            error_of(
                app.client.post(f"/v1/jobs/{queued}/rerun", headers=headers),
                409,
                "job_not_rerunnable",
            )


def test_list_jobs_pages_and_filters(idle: Api, tmp_path: Path) -> None:
    """GET /v1/jobs lists newest first with a cursor and filters by status and scenario."""
    headers = idle.headers()
    sid = create_scenario(idle, headers, tiny_document(tmp_path))
    ids = [start(idle, headers, sid)["id"] for _ in range(3)]
    idle.client.delete(f"/v1/jobs/{ids[0]}", headers=headers)
    page = idle.client.get("/v1/jobs", params={"limit": 2}, headers=headers).json()
    assert [j["id"] for j in page["items"]] == ids[:0:-1] and page["next_cursor"]
    rest = idle.client.get(
        "/v1/jobs", params={"limit": 2, "cursor": page["next_cursor"]}, headers=headers
    ).json()
    assert [j["id"] for j in rest["items"]] == [ids[0]] and rest["next_cursor"] is None
    canceled = idle.client.get("/v1/jobs", params={"status": "canceled"}, headers=headers)
    assert [j["id"] for j in canceled.json()["items"]] == [ids[0]]
    other = idle.client.get("/v1/jobs", params={"scenario_id": "sc_other"}, headers=headers)
    assert other.json()["items"] == []
    error_of(
        idle.client.get("/v1/jobs", params={"cursor": "zz"}, headers=headers), 400, "bad_cursor"
    )


def test_roles_on_job_routes(idle: Api, tmp_path: Path) -> None:
    """A viewer reads jobs but cannot start, cancel or re-run one; no key is 401."""
    planner = idle.headers()
    viewer = idle.headers(role="viewer")
    sid = create_scenario(idle, planner, tiny_document(tmp_path))
    job = start(idle, planner, sid)
    assert idle.client.get(f"/v1/jobs/{job['id']}", headers=viewer).status_code == 200
    assert idle.client.get("/v1/jobs", headers=viewer).status_code == 200
    error_of(idle.client.post(f"/v1/scenarios/{sid}/solves", headers=viewer), 403, "forbidden")
    error_of(idle.client.delete(f"/v1/jobs/{job['id']}", headers=viewer), 403, "forbidden")
    error_of(idle.client.post(f"/v1/jobs/{job['id']}/rerun", headers=viewer), 403, "forbidden")
    error_of(idle.client.get(f"/v1/jobs/{job['id']}"), 401, "unauthenticated")


def test_other_tenant_sees_none_of_the_jobs_or_plans(
    solved: tuple[Api, dict[str, str], str],
) -> None:
    """Every job and plan route answers 404 for another tenant's job or scenario, and the
    other tenant's list is empty; nothing is changed."""
    api, headers, job_id = solved
    sid = api.client.get(f"/v1/jobs/{job_id}", headers=headers).json()["scenario_id"]
    other = api.headers("t2", "admin")
    for method, url in (
        ("post", f"/v1/scenarios/{sid}/solves"),
        ("get", f"/v1/jobs/{job_id}"),
        ("delete", f"/v1/jobs/{job_id}"),
        ("post", f"/v1/jobs/{job_id}/rerun"),
        ("get", f"/v1/jobs/{job_id}/plan"),
        ("get", f"/v1/jobs/{job_id}/plan/tables/pairs"),
        ("get", f"/v1/jobs/{job_id}/plan/tables/pairs?format=csv"),
        ("get", f"/v1/jobs/{job_id}/plan/tables/pairs?format=xlsx"),
        ("get", f"/v1/jobs/{job_id}/plan/plan.xlsx"),
        ("get", f"/v1/jobs/{job_id}/plan/report.html"),
    ):
        error_of(api.client.request(method, url, headers=other), 404, "not_found")
    assert api.client.get("/v1/jobs", headers=other).json()["items"] == []
    job = api.client.get(f"/v1/jobs/{job_id}", headers=headers).json()
    assert job["status"] == "succeeded" and not job["cancel_requested"]
    assert api.client.get("/v1/jobs", headers=headers).json()["items"][0]["id"] == job_id
