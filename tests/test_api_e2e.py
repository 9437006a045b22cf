"""End to end against a real uvicorn on 127.0.0.1: key → upload → list → get → validate →
delete; upload → solve → poll → plan; and a kill -9 mid-solve, over TCP."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import api_support  # noqa: F401  (skips without the api extra)
from api_support import fresh_settings, tiny_document
from linkage.api.keys import create_key
from linkage.api.settings import Settings

SERVER = """
import sys
from pathlib import Path
from linkage.api.app import serve
from linkage.api.settings import Settings
settings = Settings(data_dir=Path(sys.argv[1]), database_url=sys.argv[3])
serve(settings, "127.0.0.1", int(sys.argv[2]))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(settings: Settings, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A uvicorn subprocess serving ``settings``' database, once it answers ready; and its
    base URL."""
    port = free_port()
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                SERVER,
                str(settings.data_dir),
                str(port),
                settings.database_url,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/v1/ready", timeout=1).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(log_path.read_text())
        time.sleep(0.1)


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Settings]]:
    """A uvicorn subprocess serving a fresh data dir; yields its base URL and settings."""
    with fresh_settings(tmp_path) as settings:
        proc, base = start_server(settings, tmp_path / "server.log")
        try:
            yield base, settings
        finally:
            stop_server(proc)


DONE = ("succeeded", "failed", "canceled", "interrupted")


def poll(client: httpx.Client, job_id: str, until: Any, timeout: float = 90) -> dict[str, Any]:
    """GET the job until ``until(job)`` holds; the job then."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if until(job):
            return dict(job)
        assert time.monotonic() < deadline, job
        time.sleep(0.1)


def test_scenario_flow_over_http(server: tuple[str, Settings], tmp_path: Path) -> None:
    """A key made by create_key works against the running server through the whole
    scenario flow; another tenant sees none of it."""
    base, settings = server
    key = create_key(settings, "portal", "planner")
    other = create_key(settings, "elsewhere", "admin")
    document = tiny_document(tmp_path)
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as client:
        created = client.post("/v1/scenarios", json=document)
        assert created.status_code == 201, created.text
        sid = created.json()["id"]
        assert created.headers["location"] == f"/v1/scenarios/{sid}"

        listed = client.get("/v1/scenarios").json()
        assert [item["id"] for item in listed["items"]] == [sid]
        assert client.get(f"/v1/scenarios/{sid}").json()["rows"]["regions"] == 9
        assert client.get(f"/v1/scenarios/{sid}/document").json() == document

        assert client.post("/v1/scenarios/validate", json=document).json()["valid"] is True
        document["tables"]["regions"][0]["population"] = "?"
        invalid = client.post("/v1/scenarios/validate", json=document)
        assert invalid.status_code == 422
        assert invalid.json()["error"]["problems"][0]["column"] == "population"

        foreign = httpx.get(f"{base}/v1/scenarios/{sid}", headers={"X-API-Key": other})
        assert foreign.status_code == 404

        assert client.delete(f"/v1/scenarios/{sid}").status_code == 204
        assert client.get(f"/v1/scenarios/{sid}").status_code == 404
        assert client.get("/v1/scenarios").json()["items"] == []


def test_solve_flow_over_http(server: tuple[str, Settings], tmp_path: Path) -> None:
    """Upload → solve → poll → plan summary → a table page and its CSV, over TCP."""
    base, settings = server
    key = create_key(settings, "portal", "planner")
    with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30) as client:
        sid = client.post("/v1/scenarios", json=tiny_document(tmp_path)).json()["id"]
        started = client.post(f"/v1/scenarios/{sid}/solves", json={"time_limit_s": 10})
        assert started.status_code == 202, started.text
        location = started.headers["location"]
        job = poll(client, started.json()["id"], lambda j: j["status"] in DONE)
        assert job["status"] == "succeeded", job
        assert client.get(location).json()["status"] == "succeeded"
        plan = client.get(f"{location}/plan").json()
        assert plan["complete"] and plan["summary"]["solved"]
        page = client.get(f"{location}/plan/tables/targets", params={"limit": 2}).json()
        assert page["total"] == 3 and len(page["rows"]) == 2 and page["next_offset"] == 2
        csv = client.get(f"{location}/plan/tables/targets", params={"format": "csv"}).text
        assert len(csv.strip().splitlines()) == 1 + page["total"]


def test_kill_9_mid_solve_loses_nothing_and_the_job_reruns(tmp_path: Path) -> None:
    """Killing the server with SIGKILL mid-solve and restarting it keeps the scenario and the
    finished plan; the running job is marked interrupted and its re-run solves."""
    from linkage.scenario.io import load, to_document

    root = Path(__file__).resolve().parents[1]
    with fresh_settings(tmp_path) as settings:
        log = tmp_path / "server.log"
        document = to_document(load(root / "scenarios" / "henan"))
        key = create_key(settings, "portal", "planner")
        proc, base = start_server(settings, log)
        try:
            with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=60) as client:
                created = client.post("/v1/scenarios", json=document)
                assert created.status_code == 201, created.text
                scenario = created.json()
                first = client.post(
                    f"/v1/scenarios/{scenario['id']}/solves", json={"stages": ["pairing"]}
                ).json()
                assert (
                    poll(client, first["id"], lambda j: j["status"] in DONE)["status"]
                    == "succeeded"
                )
                pairs = client.get(f"/v1/jobs/{first['id']}/plan/tables/pairs?format=csv").text
                long = client.post(f"/v1/scenarios/{scenario['id']}/solves").json()
                # pairing is done and three stages (several seconds) remain: kill it now
                poll(client, long["id"], lambda j: len(j["progress"]["stages_done"]) >= 1)
            proc.kill()
            proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

        proc, base = start_server(settings, log)
        try:
            with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=60) as client:
                assert client.get(f"/v1/scenarios/{scenario['id']}").json() == scenario
                job = client.get(f"/v1/jobs/{long['id']}").json()
                assert job["status"] == "interrupted" and job["error"]["code"] == "interrupted"
                assert not job["has_plan"]
                assert client.get(f"/v1/jobs/{first['id']}").json()["status"] == "succeeded"
                again = client.get(f"/v1/jobs/{first['id']}/plan/tables/pairs?format=csv").text
                assert again == pairs
                rerun = client.post(f"/v1/jobs/{long['id']}/rerun")
                assert rerun.status_code == 202 and rerun.json()["rerun_of"] == long["id"]
                done = poll(client, rerun.json()["id"], lambda j: j["status"] in DONE)
                assert done["status"] == "succeeded", done
                assert done["progress"]["stages_done"] == [
                    "pairing",
                    "staffing",
                    "volunteers",
                    "funds",
                ]
                # the killed server's worker left with it: the interrupted job stays as it was
                assert client.get(f"/v1/jobs/{long['id']}").json() == job
        finally:
            stop_server(proc)
