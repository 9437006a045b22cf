"""Exported models re-solve elsewhere to the plan's objective (audit)."""

from __future__ import annotations

from pathlib import Path

import highspy
import pytest

import linkage
from linkage.cli import main
from linkage.solvers.pairing import pairing_mps

SCENARIOS = Path(__file__).parents[1] / "scenarios"


def resolve_with_highs(path: Path) -> float:
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    assert highs.readModel(str(path)) == highspy.HighsStatus.kOk
    highs.run()
    assert highs.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return float(highs.getInfo().objective_function_value)


@pytest.mark.parametrize("name", ["jilin", "henan"])
def test_exported_pairing_mps_resolves_to_plan_objective(name: str, tmp_path: Path) -> None:
    """HiGHS on the exported MPS finds M·W − S equal to the plan's lexicographic optimum."""
    scenario = linkage.load(SCENARIOS / name)
    text, multiplier = pairing_mps(scenario)
    path = tmp_path / "pairing.mps"
    path.write_text(text, encoding="utf-8")
    report = linkage.solve(scenario, stages=["pairing"]).report("pairing")
    expected = multiplier * report.objectives["weighted_shortfall"] - report.objectives["score"]
    assert resolve_with_highs(path) == pytest.approx(expected)


def test_cli_export_models_writes_mps(tmp_path: Path) -> None:
    """solve --export-models writes pairing.mps beside the plan."""
    out, models = tmp_path / "plan", tmp_path / "models"
    code = main(
        [
            "solve",
            str(SCENARIOS / "jilin"),
            "--out",
            str(out),
            "--stages",
            "pairing",
            "--export-models",
            str(models),
        ]
    )
    assert code == 0
    assert resolve_with_highs(models / "pairing.mps") < 0
