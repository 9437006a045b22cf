"""The HTTP API under load: many concurrent clients against a real uvicorn on loopback.

    .venv/bin/python benchmarks/api_load.py [--clients 50] [--seconds 60] [--scenario DIR]
        [--solve-every 2.0] [--job-workers 2] [--port 0] [--json out.json]

1. Starts ``uvicorn --factory linkage.api.app:app_from_env`` on 127.0.0.1 in a subprocess, with
   ``LINKAGE_DATA_DIR`` a temporary folder (SQLite, the default) and
   ``LINKAGE_MAX_CONCURRENT_JOBS`` high enough that the benchmark's solves are not refused (a
   documented 429 would still be counted apart, as "limited", not as an error). The API key is
   made with ``linkage.api.keys.create_key`` (as ``linkage keys create`` does) before the start.
2. Uploads the scenario (default ``scenarios/jilin``: 1,154 regions, 5.4k rows) as a JSON
   document, solves it once (all stages) and waits for the plan.
3. Runs ``--clients`` asyncio clients (httpx, one keep-alive connection each) for ``--seconds``,
   each picking its next request at random by weight: job polls (GET /v1/jobs/{id}, the solved
   job and every job the run started), the plan's summary, a JSON page of a table at a random
   offset, a table as CSV, the scenario list and one scenario. At most one small solve
   (``{"stages": ["pairing"]}``) is started every ``--solve-every`` seconds, by whichever client
   comes first; the worker processes solve it beside the server, as in production.
4. Reports per operation: count, errors (any status but the expected one, or a transport error),
   p50 / p99 / max latency in ms; overall requests per second; the CPU the server process and
   the clients used; and how the solves started during the load ended (waiting for them).
   Exits 1 on any error, a traceback in the server's log, or a solve that did not succeed.

Client and server share the machine: on few cores the clients' own CPU time caps the rate, so
read the figures as a floor for the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]

# operation: (weight, expected status)
WEIGHTS: dict[str, int] = {
    "job poll": 30,
    "plan summary": 15,
    "table page (json)": 15,
    "table (csv)": 10,
    "scenario list": 15,
    "scenario get": 15,
}
EXPECTED = {name: 200 for name in WEIGHTS} | {"solve": 202}
PAGE_TABLE = "stations"  # ~1,000 rows in jilin's plan: a page is parsed from its stored CSV
CSV_TABLE = "pairs"


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    limited: int = 0  # documented 429s (too many jobs): expected, counted apart
    samples: list[str] = field(default_factory=list)

    def record(self, seconds: float, ok: bool, limited: bool, sample: str) -> None:
        self.latencies.append(seconds)
        if limited:
            self.limited += 1
        elif not ok:
            self.errors += 1
            if len(self.samples) < 3:
                self.samples.append(sample)


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile ``q`` (0–100) of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(data_dir: Path, port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "linkage.api.app:app_from_env",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    with log.open("ab") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/v1/ready", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"the server did not start:\n{log.read_text()}")
        time.sleep(0.2)


def stop_server(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_job(client: httpx.Client, job_id: str, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] not in ("queued", "running"):
            return dict(job)
        if time.monotonic() > deadline:
            raise SystemExit(f"the job did not finish: {job}")
        time.sleep(0.2)


@dataclass
class Fixture:
    scenario: str
    job: str
    jobs: list[str]  # every job known: polled by the clients
    page_rows: int


def prepare(base: str, key: str, scenario_dir: Path) -> Fixture:
    """Upload the scenario, solve it once, and check the tables the clients fetch exist."""
    from linkage.scenario.io import load, to_document

    document = to_document(load(scenario_dir))
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
        created = client.post("/v1/scenarios", json=document)
        if created.status_code != 201:
            raise SystemExit(f"upload failed: {created.status_code} {created.text[:500]}")
        sid = created.json()["id"]
        started = client.post(f"/v1/scenarios/{sid}/solves", json={"seed": 1})
        if started.status_code != 202:
            raise SystemExit(f"solve failed: {started.status_code} {started.text[:500]}")
        job = wait_job(client, started.json()["id"])
        if job["status"] != "succeeded":
            raise SystemExit(f"the first solve did not succeed: {job}")
        tables = {
            t["name"]: t["rows"] for t in client.get(f"/v1/jobs/{job['id']}/plan").json()["tables"]
        }
    for name in (PAGE_TABLE, CSV_TABLE):
        if name not in tables:
            raise SystemExit(f"the plan has no table {name!r}: {sorted(tables)}")
    return Fixture(scenario=sid, job=job["id"], jobs=[job["id"]], page_rows=tables[PAGE_TABLE])


def solve_outcomes(base: str, key: str, job_ids: list[str]) -> dict[str, int]:
    """How the jobs ended (waiting for those still queued or running)."""
    counts: dict[str, int] = {}
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        for job_id in job_ids:
            status = wait_job(client, job_id)["status"]
            counts[status] = counts.get(status, 0) + 1
    return counts


def requests_for(
    fixture: Fixture, rng: random.Random
) -> dict[str, Callable[[], tuple[str, str, Any]]]:
    """Each operation: a function giving (method, url, json body)."""
    job, sid = fixture.job, fixture.scenario
    return {
        "job poll": lambda: ("GET", f"/v1/jobs/{rng.choice(fixture.jobs)}", None),
        "plan summary": lambda: ("GET", f"/v1/jobs/{job}/plan", None),
        "table page (json)": lambda: (
            "GET",
            f"/v1/jobs/{job}/plan/tables/{PAGE_TABLE}"
            f"?limit=50&offset={rng.randrange(max(fixture.page_rows - 50, 1))}",
            None,
        ),
        "table (csv)": lambda: ("GET", f"/v1/jobs/{job}/plan/tables/{CSV_TABLE}?format=csv", None),
        "scenario list": lambda: ("GET", "/v1/scenarios?limit=20", None),
        "scenario get": lambda: ("GET", f"/v1/scenarios/{sid}", None),
        "solve": lambda: ("POST", f"/v1/scenarios/{sid}/solves", {"stages": ["pairing"]}),
    }


async def run_load(
    base: str,
    key: str,
    fixture: Fixture,
    clients: int,
    seconds: float,
    solve_every: float,
    seed: int,
) -> tuple[dict[str, Stats], float]:
    stats = {name: Stats() for name in [*WEIGHTS, "solve"]}
    names = list(WEIGHTS)
    weights = [WEIGHTS[n] for n in names]
    start = time.monotonic()
    end = start + seconds
    next_solve = [start + solve_every]

    async def client_loop(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        make = requests_for(fixture, rng)
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60, limits=limits
        ) as client:
            while (now := time.monotonic()) < end:
                if now >= next_solve[0]:
                    next_solve[0] = now + solve_every
                    name = "solve"
                else:
                    name = rng.choices(names, weights)[0]
                method, url, body = make[name]()
                began = time.perf_counter()
                try:
                    response = await client.request(method, url, json=body)
                    await response.aread()
                    status, text = response.status_code, response.text[:200]
                except httpx.HTTPError as exc:
                    status, text = 0, f"{type(exc).__name__}: {exc}"
                elapsed = time.perf_counter() - began
                ok = status == EXPECTED[name]
                limited = name == "solve" and status == 429
                stats[name].record(elapsed, ok, limited, f"{method} {url} → {status} {text}")
                if name == "solve" and ok:
                    fixture.jobs.append(response.json()["id"])

    await asyncio.gather(*(client_loop(i) for i in range(clients)))
    return stats, time.monotonic() - start


def report(stats: dict[str, Stats], elapsed: float, args: argparse.Namespace, load: str) -> str:
    total = sum(len(s.latencies) for s in stats.values())
    lines = [
        f"{args.clients} clients, {elapsed:.1f} s, scenario {shown(args.scenario)}, "
        f"job workers {args.job_workers}, one solve every {args.solve_every:g} s; {load}",
        "",
        "| operation | count | errors | limited (429) | p50 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|---|",
    ]
    everything: list[float] = []
    for name, s in stats.items():
        everything += s.latencies
        lines.append(
            f"| {name} | {len(s.latencies)} | {s.errors} | {s.limited} | "
            f"{percentile(s.latencies, 50) * 1000:.1f} | {percentile(s.latencies, 99) * 1000:.1f} "
            f"| {max(s.latencies, default=float('nan')) * 1000:.1f} |"
        )
    errors = sum(s.errors for s in stats.values())
    limited = sum(s.limited for s in stats.values())
    p50, p99 = percentile(everything, 50) * 1000, percentile(everything, 99) * 1000
    top = max(everything, default=float("nan")) * 1000
    lines.append(
        f"| **all** | {total} | {errors} | {limited} | {p50:.1f} | {p99:.1f} | {top:.1f} |"
    )
    lines += ["", f"**{total / elapsed:.0f} requests/s** overall, {errors} errors."]
    for name, s in stats.items():
        for sample in s.samples:
            lines.append(f"- error ({name}): {sample}")
    return "\n".join(lines)


def shown(path: Path) -> str:
    """``path`` relative to the repository when it is inside it."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux), nan elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def loadavg() -> str:
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return "load average unknown"
    return f"load average {one:.2f} / {five:.2f} (1 / 5 min)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to run the load")
    parser.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "jilin")
    parser.add_argument("--solve-every", type=float, default=2.0, help="seconds between solves")
    parser.add_argument("--job-workers", type=int, default=2, help="LINKAGE_JOB_WORKERS")
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    from linkage.api.keys import create_key
    from linkage.api.settings import Settings

    with tempfile.TemporaryDirectory(prefix="linkage-load-") as tmp:
        data_dir = Path(tmp) / "data"
        env = {
            **os.environ,
            "LINKAGE_DATA_DIR": str(data_dir),
            "LINKAGE_MAX_CONCURRENT_JOBS": "10000",
            "LINKAGE_JOB_WORKERS": str(args.job_workers),
        }
        env.pop("LINKAGE_DATABASE_URL", None)
        key = create_key(Settings(data_dir=data_dir), "bench", "planner", "api_load")
        port = args.port or free_port()
        log = Path(tmp) / "server.log"
        proc = start_server(data_dir, port, env, log)
        base = f"http://127.0.0.1:{port}"
        try:
            fixture = prepare(base, key, args.scenario)
            before = loadavg()
            server_cpu, client_cpu = cpu_seconds(proc.pid), time.process_time()
            stats, elapsed = asyncio.run(
                run_load(
                    base, key, fixture, args.clients, args.seconds, args.solve_every, args.seed
                )
            )
            server_cpu = cpu_seconds(proc.pid) - server_cpu
            client_cpu = time.process_time() - client_cpu
            text = report(stats, elapsed, args, f"{before} before, {loadavg()} after")
            outcomes = solve_outcomes(base, key, fixture.jobs[1:])
            total = sum(len(s.latencies) for s in stats.values())
            text += (
                f"\nCPU during the load: server process {server_cpu:.1f} s "
                f"({server_cpu / max(total, 1) * 1000:.2f} ms per request), these clients "
                f"{client_cpu:.1f} s; the solves ran in the server's worker processes."
                f"\nThe solves started during the load, once finished: {outcomes or 'none'}."
            )
        finally:
            stop_server(proc)
        server_errors = [line for line in log.read_text().splitlines() if "Traceback" in line]
    sys.stdout.write(text + "\n")
    if server_errors:
        sys.stdout.write(f"the server logged {len(server_errors)} traceback(s)\n")
    if args.json:
        figures = {
            name: {
                "count": len(s.latencies),
                "errors": s.errors,
                "limited": s.limited,
                "p50_ms": percentile(s.latencies, 50) * 1000,
                "p99_ms": percentile(s.latencies, 99) * 1000,
                "max_ms": max(s.latencies, default=float("nan")) * 1000,
            }
            for name, s in stats.items()
        }
        args.json.write_text(json.dumps({"elapsed_s": elapsed, "operations": figures}, indent=2))
    unsolved = sum(n for status, n in outcomes.items() if status != "succeeded")
    failed = sum(s.errors for s in stats.values()) or server_errors or unsolved
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
