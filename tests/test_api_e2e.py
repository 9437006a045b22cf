"""End to end against a real uvicorn on 127.0.0.1: key → upload → list → get → validate →
delete, over TCP."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import api_support  # noqa: F401  (skips without the api extra)
from api_support import tiny_document
from linkage.api.keys import create_key
from linkage.api.settings import Settings

SERVER = """
import sys
from pathlib import Path
from linkage.api.app import serve
from linkage.api.settings import Settings
serve(Settings(data_dir=Path(sys.argv[1])), "127.0.0.1", int(sys.argv[2]))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Settings]]:
    """A uvicorn subprocess serving a fresh data dir; yields its base URL and settings."""
    settings = Settings(data_dir=tmp_path / "data")
    port = free_port()
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(settings.data_dir), str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/v1/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError((tmp_path / "server.log").read_text())
            time.sleep(0.1)
        yield base, settings
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


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
