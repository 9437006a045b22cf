"""The GAP local search behind load-bearing pairings: feasible, never worse, optimal on gap1–gap4,
deterministic for a seed."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkage.solvers import gap_kernel
from linkage.solvers.candidates import build_candidates
from linkage.solvers.gap_search import (
    CAND_MIN,
    _candidates,
    candidate_mask,
    from_plan,
    gap_view,
    improve_plan,
    local_search,
    tabu_search,
    total_cost,
    used_capacity,
)
from linkage.solvers.pairing import (
    PairingModel,
    check_pairing_invariants,
    greedy_plan,
    model_arrays,
    solve_pairing,
)

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))
from gap_scenario import gap_scenario  # noqa: E402


def random_model(seed: int, m: int, n: int, density: float, tight: float) -> PairingModel:
    """A random GAP-shaped pairing model: some pairs missing, capacities a share of the loads."""
    rng = np.random.default_rng(seed)
    present = rng.random((m, n)) < density
    present[rng.integers(0, m, n), np.arange(n)] = True
    org, target = np.nonzero(present)
    load = rng.integers(1, 20, len(org))
    per_org = np.bincount(org, weights=load, minlength=m)
    capacity = np.maximum((tight * per_org / max(1.0, n / m)).astype(np.int64), 1)
    fixed = np.zeros(len(org), bool)
    return PairingModel(
        org=org.astype(np.int64),
        target=target.astype(np.int64),
        score=rng.integers(-50, 50, len(org)).astype(np.int64),
        load=load.astype(np.int64),
        fixed=fixed,
        quota=np.full(len(org), -1, np.int64),
        capacity=capacity,
        need=np.ones(n, np.int64),
        priority=rng.integers(1, 4, n).astype(np.int64),
        limit=np.zeros(0, np.int64),
    )


def keeps_rules(model: PairingModel, x: np.ndarray) -> bool:
    """Capacities, partners per target and fixed pairs all kept by plan x."""
    used = np.bincount(model.org[x], weights=model.load[x], minlength=len(model.capacity))
    count = np.bincount(model.target[x], minlength=len(model.need))
    return bool(
        np.all(used <= model.capacity) and np.all(count <= model.need) and x[model.fixed].all()
    )


def lexicographic(model: PairingModel, x: np.ndarray) -> tuple[int, int]:
    return model.weighted_shortfall(x), -model.total_score(x)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    m=st.integers(1, 6),
    n=st.integers(1, 25),
    density=st.floats(0.3, 1.0),
    tight=st.floats(0.2, 1.5),
)
def test_search_plans_keep_rules_and_never_lose(
    seed: int, m: int, n: int, density: float, tight: float
) -> None:
    """On random GAPs the improved plan keeps every rule and is no worse than the greedy start."""
    model = random_model(seed, m, n, density, tight)
    start = greedy_plan(model)
    found = improve_plan(model, start, time_limit_s=2.0, seed=seed)
    assert found is not None
    assert keeps_rules(model, found.x)
    assert lexicographic(model, found.x) <= lexicographic(model, start)
    assert found.cost <= found.start_cost


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), tight=st.floats(0.2, 1.2))
def test_tabu_and_local_search_stay_feasible(seed: int, tight: float) -> None:
    """Tabu search and the shift/swap descent return feasible assignments no worse than start."""
    model = random_model(seed, 4, 20, 0.8, tight)
    view = gap_view(model)
    assert view is not None
    start = from_plan(view, greedy_plan(model))
    descended = local_search(view, start)
    assert total_cost(view, descended) <= total_cost(view, start)
    best, _ = tabu_search(view, descended, max_iterations=500, deadline=1e18, seed=seed)
    used = np.bincount(best, weights=view.load[best, np.arange(view.n)], minlength=view.m + 1)
    assert np.all(used <= view.capacity)
    assert view.allowed[best, np.arange(view.n)].all()
    assert total_cost(view, best) <= total_cost(view, descended)


def _kernel_run(view, start, dest, seed: int, iterations: int, chunk: int):  # type: ignore[no-untyped-def]
    """Run the compiled tabu search for ``iterations`` in chunks of ``chunk``."""
    m, n = view.m, view.n
    a = start.copy()
    used = used_capacity(view, a)
    alpha = np.full(m + 1, 2.0)
    tabu = np.zeros((m + 1, n), np.int64)
    best = a.copy()
    state = gap_kernel.seed_state(seed)
    state[gap_kernel.BEST_COST] = total_cost(view, a)
    cand = _candidates(dest)
    while not gap_kernel.tabu_chunk(
        view.cost,
        view.load,
        view.capacity,
        dest,
        cand,
        a,
        used,
        alpha,
        tabu,
        best,
        state,
        1,
        3,
        1.02,
        iterations,
        10**12,
        chunk,
    ):
        pass
    return a, used, best, state


def test_tabu_kernel_is_deterministic_and_independent_of_chunks() -> None:
    """The compiled search gives the same trajectory and best for a seed whether it runs in one
    chunk or one iteration at a time, keeps its loads consistent, and another seed differs."""
    model = random_model(7, 12, 60, 0.9, 0.6)
    view = gap_view(model)
    assert view is not None
    start = local_search(view, from_plan(view, greedy_plan(model)))
    dest = candidate_mask(view)
    a1, used1, best1, state1 = _kernel_run(view, start, dest, 3, 3_000, 10_000)
    a2, used2, best2, state2 = _kernel_run(view, start, dest, 3, 3_000, 1)
    assert np.array_equal(a1, a2) and np.array_equal(best1, best2)
    assert np.array_equal(state1, state2)
    assert np.array_equal(used1, used_capacity(view, a1))
    assert np.array_equal(used2, used1)
    assert total_cost(view, best1) == state1[gap_kernel.BEST_COST] <= total_cost(view, start)
    assert np.all(used_capacity(view, best1) <= view.capacity)
    a3, *_ = _kernel_run(view, start, dest, 4, 3_000, 10_000)
    assert not np.array_equal(a1, a3)


def test_tabu_search_stops_when_told() -> None:
    """``stop`` ends the tabu search after the first chunk, long before its iteration cap."""
    model = random_model(3, 10, 200, 0.9, 0.6)
    view = gap_view(model)
    assert view is not None
    start = from_plan(view, greedy_plan(model))
    calls: list[int] = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 1

    _, iterations = tabu_search(view, start, max_iterations=10**9, deadline=1e18, seed=0, stop=stop)
    assert 0 < iterations < 50_000


def test_candidate_mask_narrows_to_least_reduced_cost() -> None:
    """With many agents each job keeps at most max(CAND_MIN, 30 %) of its allowed agents plus
    the dummy; with at most CAND_MIN agents nothing is cut."""
    model = random_model(11, 30, 120, 1.0, 0.8)
    view = gap_view(model)
    assert view is not None
    dest = candidate_mask(view)
    assert not np.any(dest & ~view.allowed)
    assert dest[view.m].all()
    per_job = dest[: view.m].sum(axis=0)
    assert per_job.max() <= 9 and per_job.min() >= 1
    assert dest.sum() < view.allowed.sum()
    small = gap_view(random_model(11, CAND_MIN, 40, 1.0, 0.8))
    assert small is not None
    assert np.array_equal(candidate_mask(small), small.allowed)


def test_not_a_plain_gap_gives_none() -> None:
    """Quotas or a target needing two partners leave the search out (None)."""
    model = random_model(1, 3, 8, 1.0, 1.0)
    with_quota = PairingModel(
        **{**model.__dict__, "quota": np.zeros(model.n, np.int64), "limit": np.array([5])}
    )
    assert gap_view(with_quota) is None
    two = PairingModel(**{**model.__dict__, "need": np.full(len(model.need), 2, np.int64)})
    assert gap_view(two) is None
    assert improve_plan(two, greedy_plan(two), time_limit_s=1.0) is None


GAP_SMALL = [f"gap{k}-{i}" for k in (1, 2, 3, 4) for i in range(5)]


@pytest.mark.parametrize("name", GAP_SMALL)
def test_search_reaches_published_optimum(name: str) -> None:
    """On gap1–gap4 (min form) the local search alone reaches the published optimum."""
    best = pd.read_csv(BENCH / "data" / "gap" / "best_known.csv")
    row = best[(best["instance"] == f"cattrysse1994/{name}") & (best["sense"] == "min")]
    scenario = gap_scenario(BENCH / "data" / "gap" / "cattrysse1994" / name, "min")
    model = model_arrays(build_candidates(scenario))
    found = improve_plan(model, greedy_plan(model), time_limit_s=10.0, seed=0)
    assert found is not None
    assert model.weighted_shortfall(found.x) == 0
    assert -model.total_score(found.x) == int(row["best_known_combined"].iloc[0])


@pytest.mark.parametrize("name", ["gap1-0", "gap2-3", "gap3-1", "gap4-4"])
def test_tabu_search_alone_reaches_published_optimum(name: str) -> None:
    """Tabu search alone (5,000 iterations from the greedy plan) reaches the gap1–gap4 optimum."""
    best = pd.read_csv(BENCH / "data" / "gap" / "best_known.csv")
    row = best[(best["instance"] == f"cattrysse1994/{name}") & (best["sense"] == "min")]
    scenario = gap_scenario(BENCH / "data" / "gap" / "cattrysse1994" / name, "min")
    model = model_arrays(build_candidates(scenario))
    view = gap_view(model)
    assert view is not None
    start = from_plan(view, greedy_plan(model))
    found, _ = tabu_search(view, start, max_iterations=5_000, deadline=1e18, seed=0)
    assert total_cost(view, found) == int(row["best_known_combined"].iloc[0])


def test_pairing_on_gap_uses_search_and_keeps_invariants() -> None:
    """On a GAP scenario the pairing stage runs the search, stops it when the solver proves the
    optimum (well before the 60 s limit), and keeps every rule."""
    path = BENCH / "data" / "gap" / "cattrysse1994" / "gap5-0"
    scenario = gap_scenario(path, "min", time_limit_s=60)
    result = solve_pairing(scenario)
    assert result.report.wall_s < 10
    assert result.report.status == "optimal"
    assert "GAP local search" in result.report.message
    assert -result.report.objectives["score"] == 403
    assert check_pairing_invariants(scenario, result) == []
