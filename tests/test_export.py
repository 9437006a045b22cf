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


def test_exported_staffing_arcs_resolve_to_the_plan_cost(tmp_path: Path) -> None:
    """The staffing arc and node tables, re-solved as an LP by HiGHS, give the plan's flow cost."""
    import numpy as np
    import pandas as pd
    import scipy.sparse as sp
    from scipy.optimize import linprog

    from linkage.pipeline import export_models
    from linkage.solvers.staffing import solve_staffing

    scenario = linkage.load(SCENARIOS / "jilin")
    plan = linkage.solve(scenario, stages=["pairing"])
    export_models(scenario, tmp_path, ["staffing"], plan)
    arcs = pd.read_csv(tmp_path / "staffing_arcs.csv")
    nodes = pd.read_csv(tmp_path / "staffing_nodes.csv")
    # flow conservation: out − in = supply at every node (a network matrix: the LP is integral)
    n, m = len(nodes), len(arcs)
    rows = np.concatenate([arcs["tail"], arcs["head"]])
    cols = np.concatenate([np.arange(m), np.arange(m)])
    vals = np.concatenate([np.ones(m), -np.ones(m)])
    a_eq = sp.csr_matrix((vals, (rows, cols)), shape=(n, m))
    lp = linprog(
        arcs["cost"],
        A_eq=a_eq,
        b_eq=nodes["supply"],
        bounds=np.column_stack([np.zeros(m), arcs["capacity"]]),
        method="highs",
    )
    assert lp.status == 0
    expected = solve_staffing(scenario, plan.pairs).flow_cost
    assert lp.fun == pytest.approx(expected)
    assert {"local", "shortfall_first_half", "dispatch"} <= set(arcs["kind"])


def _resolve_arcs(folder: Path, stem: str) -> float:
    """Min-cost flow optimum of exported arc and node tables, as an LP by HiGHS."""
    import numpy as np
    import pandas as pd
    import scipy.sparse as sp
    from scipy.optimize import linprog

    arcs = pd.read_csv(folder / f"{stem}_arcs.csv")
    nodes = pd.read_csv(folder / f"{stem}_nodes.csv")
    n, m = len(nodes), len(arcs)
    rows = np.concatenate([arcs["tail"], arcs["head"]])
    cols = np.concatenate([np.arange(m), np.arange(m)])
    vals = np.concatenate([np.ones(m), -np.ones(m)])
    lp = linprog(
        arcs["cost"],
        A_eq=sp.csr_matrix((vals, (rows, cols)), shape=(n, m)),
        b_eq=nodes["supply"],
        bounds=np.column_stack([np.zeros(m), arcs["capacity"]]),
        method="highs",
    )
    assert lp.status == 0
    return float(lp.fun)


def test_cli_exports_funds_and_volunteer_flows_that_resolve(tmp_path: Path) -> None:
    """solve --export-models writes the funds and volunteer flows; HiGHS re-solves the funds
    tables to the stage's bound (the flow without minimum grants) and finds the volunteer
    tables' optimum equal to the plan's flow cost."""
    import json

    from linkage.solvers.volunteers import solve_volunteers

    out, models = tmp_path / "plan", tmp_path / "models"
    code = main(
        ["solve", str(SCENARIOS / "jilin"), "--out", str(out), "--export-models", str(models)]
    )
    assert code == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    funds = summary["stages"]["funds"]
    assert _resolve_arcs(models, "funds") == pytest.approx(funds["bound"]["weighted_unmet"])
    scenario = linkage.load(SCENARIOS / "jilin")
    stations = linkage.solve(scenario, stages=["pairing", "staffing"]).stations
    expected = solve_volunteers(scenario, stations).flow_cost
    assert _resolve_arcs(models, "volunteers") == pytest.approx(expected, rel=1e-9)
