"""The linkage command: exit codes, problem tables, and plan folders written atomically."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ORGANIZATIONS, write_scenario
from linkage.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "linkage.cli", *args], capture_output=True, text=True, check=False
    )


def test_validate_valid_scenario_exits_0(
    tiny_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A valid scenario validates with exit code 0 and names its tables."""
    assert main(["validate", str(tiny_folder)]) == 0
    assert "valid" in capsys.readouterr().out


def test_validate_invalid_scenario_exits_2_without_traceback(tmp_path: Path) -> None:
    """Bad input prints a problem table with file, row, column and exits 2, no traceback."""
    orgs = ORGANIZATIONS.replace(",25,5,2", ",二十五,5,2")
    folder = write_scenario(tmp_path / "bad", organizations=orgs)
    result = run_cli("validate", str(folder))
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    line = next(line for line in result.stdout.splitlines() if "二十五" in line)
    assert "organizations.csv" in line and "staff" in line and " 2 " in line


def test_missing_path_exits_2(tmp_path: Path) -> None:
    """A scenario path that does not exist is invalid input (exit 2), not a crash."""
    result = run_cli("validate", str(tmp_path / "nope"))
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_solve_writes_plan_and_refuses_overwrite(tiny_folder: Path, tmp_path: Path) -> None:
    """solve writes the plan contract files, exits 0, and exits 2 rather than overwrite."""
    out = tmp_path / "plan"
    assert main(["solve", str(tiny_folder), "--out", str(out), "--stages", "pairing"]) == 0
    for name in ("candidates.csv", "pairs.csv", "targets.csv", "organizations.csv", "summary.json"):
        assert (out / name).exists(), name
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["stages"]["pairing"]["status"] == "optimal"
    before = (out / "pairs.csv").read_bytes()
    assert main(["solve", str(tiny_folder), "--out", str(out)]) == 2
    assert (out / "pairs.csv").read_bytes() == before
    assert main(["solve", str(tiny_folder), "--out", str(out), "--force"]) == 0


def test_solve_invalid_input_exits_2(tmp_path: Path) -> None:
    """solve on an invalid scenario exits 2 and writes no plan."""
    folder = write_scenario(tmp_path / "bad", organizations="id,name\n1,x\n")
    out = tmp_path / "plan"
    assert main(["solve", str(folder), "--out", str(out)]) == 2
    assert not out.exists()


def test_solve_infeasible_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Fixed pairs that exceed an organization's capacity cannot be solved: exit 3 with why."""
    overrides = "org,target,action\n002,632221,fix\n002,632222,fix\n"
    folder = write_scenario(tmp_path / "s", pair_overrides=overrides)
    out = tmp_path / "plan"
    assert main(["solve", str(folder), "--out", str(out)]) == 3
    assert "infeasible" in capsys.readouterr().err


def test_graph_export_and_reachability(tiny_folder: Path, tmp_path: Path) -> None:
    """graph writes GraphML with typed nodes and prints the reachability report."""
    import networkx as nx

    out = tmp_path / "g.graphml"
    assert main(["graph", str(tiny_folder), "--out", str(out)]) == 0
    graph = nx.read_graphml(out)
    assert graph.nodes["org:001"]["type"] == "organization"
    assert graph.nodes["region:632221"]["name"] == "门源回族自治县"
