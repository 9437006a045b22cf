"""Progress reports while a stage runs: CP-SAT's better plans reach the reporter, and a job's
progress shows them before the stage ends."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from linkage.solvers.pairing import solve_pairing

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))
from gap_scenario import gap_scenario  # noqa: E402


def test_cp_sat_pairing_reports_each_better_plan() -> None:
    """Solving a GAP by CP-SAT reports phase 1 (shortfall) then phase 2 (score) plans, each
    score no worse than the last, the last one the plan returned."""
    path = BENCH / "data" / "gap" / "cattrysse1994" / "gap1-0"
    scenario = gap_scenario(path, "min", time_limit_s=20, method="cp_sat")
    heard: list[dict[str, Any]] = []
    result = solve_pairing(scenario, progress=lambda values: heard.append(dict(values)))
    names = [h["objective_name"] for h in heard]
    assert "weighted_shortfall" in names and names[-1] == "score"
    assert names.index("score") > names.index("weighted_shortfall")
    scores = [h["objective"] for h in heard if h["objective_name"] == "score"]
    assert scores == sorted(scores)
    assert scores[-1] == result.report.objectives["score"]
    assert all(h["bound"] >= h["objective"] for h in heard if h["objective_name"] == "score")


def test_a_jobs_progress_shows_the_running_stage_best_plan(tmp_path: Path) -> None:
    """While a 60 s CP-SAT pairing stage runs, the job's progress carries its best score and
    bound (no stage finished yet); a cancel then ends it."""
    from api_support import create_scenario, make_api
    from linkage.scenario.io import to_document
    from test_api_jobs import start, wait_job

    path = BENCH / "data" / "gap" / "chu1997" / "d10100"
    document = to_document(gap_scenario(path, "min", time_limit_s=60, method="cp_sat"))
    for app in make_api(tmp_path, job_heartbeat_seconds=0.5):
        headers = app.headers()
        sid = create_scenario(app, headers, document)
        job = start(app, headers, sid, {"stages": ["pairing"]})
        deadline = time.monotonic() + 40
        while True:
            progress = app.client.get(f"/v1/jobs/{job['id']}", headers=headers).json()["progress"]
            if progress.get("objective_name") == "score":
                break
            assert time.monotonic() < deadline, progress
            time.sleep(0.2)
        assert progress["stages_done"] == [] and progress["stage"] == "pairing"
        assert progress["bound"] >= progress["objective"] and progress["gap"] >= 0
        assert app.client.delete(f"/v1/jobs/{job['id']}", headers=headers).status_code == 202
        assert wait_job(app, headers, job["id"], timeout=30)["status"] == "canceled"
