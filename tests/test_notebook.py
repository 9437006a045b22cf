"""The example notebooks run top to bottom (executed with nbclient on a real kernel)."""

from __future__ import annotations

from pathlib import Path

import pytest

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")
pytest.importorskip("ipykernel")
pytest.importorskip("distributed")

EXAMPLES = Path(__file__).parents[1] / "examples"


@pytest.mark.slow
def test_whatif_notebook_runs_budget_sweep_on_dask() -> None:
    """examples/whatif.ipynb runs a 50-variant budget × supervision sweep on a 2-worker Dask
    LocalCluster and plots the indicators."""
    notebook = nbformat.read(EXAMPLES / "whatif.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(EXAMPLES)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    outputs = [out for cell in notebook.cells for out in cell.get("outputs", [])]
    assert not [out for out in outputs if out.get("output_type") == "error"]
    shown = "\n".join(
        str(out.get("data", {}).get("text/plain", "")) + str(out.get("text", "")) for out in outputs
    )
    assert "b0.5-s200" in shown and "b1.5-s800" in shown
    assert "funds_covered" in shown
    assert "<Figure" in shown  # matplotlib drew the plots
