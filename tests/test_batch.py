"""Batches: the local process pool and a real Dask cluster give the sequential results."""

from __future__ import annotations

import concurrent.futures as cf
import os
import socket
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

import linkage
from linkage.batch import batch, pack, summarize, unpack
from linkage.whatif import variants

ROOT = Path(__file__).parents[1]
STAGES = ["pairing", "staffing"]
TIMES = ("total_s", "worker")  # columns that differ from run to run


@pytest.fixture(scope="module")
def sweep() -> dict[str, linkage.Scenario]:
    """Four Jilin variants that change the pairing and the staffing."""
    base = linkage.load(ROOT / "scenarios" / "jilin")
    return variants(
        base,
        {
            "variants": [
                {"name": "baseline"},
                {"name": "designate", "changes": [{"designate": "ethnic", "regions": ["220102"]}]},
                {"name": "drop", "changes": [{"drop": "organizations", "ids": ["JL-O00020"]}]},
                {"name": "base3", "changes": [{"set": {"policy.staffing.base_per_station": 3}}]},
            ]
        },
    )


@pytest.fixture(scope="module")
def expected(sweep: dict[str, linkage.Scenario]) -> pd.DataFrame:
    """Plain solves, one after another, summarized like batch rows."""
    rows = {
        name: summarize(linkage.solve(s, stages=STAGES, workers=1)) for name, s in sweep.items()
    }
    return pd.DataFrame.from_dict(rows, orient="index")


def assert_same_results(results: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(results.index) == list(expected.index)
    assert results["solved"].all() and (results["error"] == "").all()
    for column in expected.columns:
        if column.endswith(".wall_s"):
            continue
        assert results[column].tolist() == expected[column].tolist(), column


def test_pack_round_trip_is_exact(sweep: dict[str, linkage.Scenario]) -> None:
    """A packed scenario rebuilds with the same policy and identical tables."""
    scenario = sweep["designate"]
    rebuilt = unpack(pack(scenario))
    assert rebuilt.meta == scenario.meta
    for name, frame in scenario.tables.items():
        pd.testing.assert_frame_equal(rebuilt.tables[name], frame)


def test_local_pool_matches_sequential_solves(
    sweep: dict[str, linkage.Scenario], expected: pd.DataFrame
) -> None:
    """The default local process pool gives the sequential solves' rows, in the given order."""
    results = batch(sweep, stages=STAGES, progress=False)
    assert results.index.name == "variant"
    assert_same_results(results, expected)
    assert {"targets_paired", "before.targets_paired", "staffing.gap", "total_s"} <= set(
        results.columns
    )
    assert (results["pairing.status"] == "optimal").all()
    assert not results["worker"].str.endswith(f":{os.getpid()}").any()  # other processes
    # the variants really differ
    assert results["pairing.score"].nunique() > 1 and results["need_coverage"].nunique() > 1


def test_dask_local_cluster_with_two_workers_matches(
    sweep: dict[str, linkage.Scenario], expected: pd.DataFrame
) -> None:
    """A real Dask LocalCluster of two worker processes runs the batch with the same results,
    given as a Client or by its scheduler's address."""
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        results = batch(sweep, executor=client, stages=STAGES, progress=False)
        by_address = batch(
            sweep,
            executor="dask",
            scheduler=cluster.scheduler_address,
            stages=STAGES,
            progress=False,
        )
        pids = client.run(os.getpid)
    assert len(pids) == 2
    assert_same_results(results, expected)
    assert_same_results(by_address, expected)
    workers = {f"{socket.gethostname()}:{pid}" for pid in pids.values()}
    assert set(results["worker"]) | set(by_address["worker"]) <= workers


def test_failing_variant_is_reported_not_raised(
    sweep: dict[str, linkage.Scenario], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A variant whose solve raises gets a row with the error; the others are solved."""
    import linkage.pipeline

    real = linkage.pipeline.solve

    def flaky(scenario: linkage.Scenario, *args: Any, **kwargs: Any) -> linkage.Plan:
        if scenario.name.endswith("[drop]"):
            raise RuntimeError("boom")
        return real(scenario, *args, **kwargs)

    monkeypatch.setattr(linkage.pipeline, "solve", flaky)
    with cf.ThreadPoolExecutor(max_workers=2) as pool:
        results = batch(sweep, executor=pool, stages=["pairing"], progress=False)
    assert not results.loc["drop", "solved"]
    assert results.loc["drop", "error"].startswith("RuntimeError: boom (at test_batch.py:")
    assert pd.isna(results.loc["drop", "targets_paired"])
    assert results.drop(index="drop")["solved"].all()


class _ExitOnUnpickle:
    """Kills the process that unpickles it, as an out-of-memory kill would."""

    def __reduce__(self) -> tuple[Any, tuple[int]]:
        return (os._exit, (3,))


def test_dead_worker_process_is_reported_not_raised() -> None:
    """A worker process that dies makes an error row that says so, not an exception."""
    dying = SimpleNamespace(meta=_ExitOnUnpickle(), tables={}, warnings=())
    results = batch({"dies": dying}, progress=False)  # type: ignore[dict-item]
    assert not results.loc["dies", "solved"]
    assert "BrokenProcessPool" in results.loc["dies", "error"]
    assert "a worker process died" in results.loc["dies", "error"]


def test_batch_keeps_plans_and_writes_plan_folders(
    sweep: dict[str, linkage.Scenario], tmp_path: Path
) -> None:
    """plans= receives each variant's Plan and plans_dir= gets each plan's folder."""
    some = {name: sweep[name] for name in ("baseline", "drop")}
    plans: dict[str, linkage.Plan] = {}
    results = batch(
        some,
        executor="sequential",
        stages=["pairing"],
        progress=False,
        plans=plans,
        plans_dir=tmp_path / "plans",
    )
    assert set(plans) == {"baseline", "drop"}
    assert (
        plans["drop"].report("pairing").objectives["score"] == results.loc["drop", "pairing.score"]
    )
    for name in some:
        assert (tmp_path / "plans" / name / "pairs.csv").exists()


def test_progress_bar_counts_the_variants(
    sweep: dict[str, linkage.Scenario], capsys: pytest.CaptureFixture[str]
) -> None:
    """progress=True shows a tqdm bar that reaches the number of variants."""
    pytest.importorskip("tqdm")
    batch(sweep, executor="sequential", stages=["pairing"], progress=True)
    assert "4/4" in capsys.readouterr().err


def test_unknown_stage_is_refused_before_solving(sweep: dict[str, linkage.Scenario]) -> None:
    """A misspelt stage raises at once instead of failing every variant."""
    with pytest.raises(ValueError, match="pairng"):
        batch(sweep, stages=["pairng"], progress=False)
