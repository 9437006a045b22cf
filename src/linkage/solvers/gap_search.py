"""A primal heuristic for load-bearing pairings that are a plain generalised assignment problem.

The pairing stage (``pairing.py``) minimises the weighted shortfall W and then maximises the score
S. When no quota applies and, after the fixed pairs, every target still needs at most one
partner, the free part of the model is a GAP: jobs (the targets still needing a partner) go to
agents (organizations, with the capacity the fixed pairs leave) or to a dummy agent "unpaired"
of unlimited capacity and cost M·priority[t], where M = ``shortfall_multiplier`` makes the single
cost M·W − S lexicographic. :func:`improve_plan` searches that GAP and returns a plan that keeps
every rule of the model and is never lexicographically worse than its start; the exact solvers
take it as their starting solution, so proven bounds and gaps are still theirs alone.

The search runs cycles, each from the best assignment so far, until ``CYCLE_PATIENCE`` cycles in
a row bring nothing, a sub-problem covering the whole GAP is solved to optimality, or the time is
up:

- **tabu search with strategic oscillation** (:func:`tabu_search`, compiled with numba in
  ``gap_kernel.py``): capacities become soft with a penalty α_i per unit of excess load (α_i
  grows while agent i is over its capacity, every α shrinks while the assignment is feasible);
  each iteration takes the best non-tabu shift (one job to another agent), swap (two jobs
  exchange agents), ejection (j moves to k's agent, which sends k on to its best destination)
  or ejection chain of three or four jobs (j to k's agent, k to q's agent, [q to r's agent,]
  the last on to its best destination), and any feasible neighbour better than the best is
  kept even when the search moves elsewhere. Moves
  go only to each job's candidate agents (:func:`candidate_mask`: least reduced cost in the LP
  relaxation), which makes iterations several times cheaper and keeps the search where
  near-optimal assignments are;
- **large neighbourhood search** (:func:`search`): free every job of a few agents (and every
  unpaired job) and re-solve that sub-GAP with CP-SAT (one worker, a deterministic-time limit),
  keeping the result when it is no worse, followed by a shift/swap descent
  (:func:`local_search`). The neighbourhood grows while sub-problems are proven optimal and
  shrinks when they are not; the first agent is drawn (seeded) with a bias to unused capacity,
  the others to agents offering cheap alternatives for the drawn agents' jobs.

Deterministic for a seed when the budget does not bind: the tabu search draws from its own
seeded generator and its result does not depend on how it is cut into chunks, the sub-problems
run on CP-SAT's deterministic time and every phase stops after a fixed number of non-improving
steps; the wall-clock budget cuts the search short on hard instances (as a time limit does for
CP-SAT). Measured on the Chu–Beasley type D instances: see ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from ortools.sat.python import cp_model
from scipy.optimize import linprog
from scipy.sparse import coo_matrix

from linkage.solvers import gap_kernel
from linkage.solvers.pairing import PairingModel, shortfall_multiplier

IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

# beyond this many (agent, job) cells or jobs (the swap matrices are jobs × jobs): no search
MAX_CELLS, MAX_SEARCH_JOBS = 4_000_000, 2_000
# neighbourhood size (jobs freed per sub-problem): start, lower and upper limits
START_JOBS, MIN_JOBS, MAX_JOBS = 25, 8, 40
# CP-SAT deterministic time per sub-problem (≈ seconds on one core)
SUB_DTIME = 0.3
# stop after this many large-neighbourhood rounds without improvement
PATIENCE = 40
# weight of an agent with no unused capacity when drawing the first agent of a neighbourhood
SLACK_FLOOR = 0.05
# tabu tenure in iterations (drawn uniformly in between); penalty factor per iteration
TENURE = (1, 3)
ALPHA_STEP = 1.02
# move evaluations between two looks at the clock and at ``stop``
TABU_CHUNK_WORK = 2_000_000
# candidate agents per job (a share of the agents, at least CAND_MIN); LP size limit
CAND_SHARE, CAND_MIN = 0.3, 6
LP_MAX_CELLS = 500_000
# tabu search stall limit (per job, with a minimum); large neighbourhood rounds and cycles
# without gain
TABU_STALL_PER_JOB, TABU_MIN_STALL = 3_000, 50_000
CYCLE_PATIENCE, CYCLE_LNS_PATIENCE = 3, 10


def _never() -> bool:
    return False


@dataclass(frozen=True, eq=False)
class GapView:
    """The free part of a pairing model as a dense GAP; row ``m`` is the dummy agent "unpaired".

    ``cost`` is −score for a candidate, M·priority[t] for the dummy and 0 (with ``allowed``
    False) where no candidate exists; ``cand[i, j]`` is the candidate behind agent i, job j.
    """

    cost: IntArray  # (m + 1, n)
    load: IntArray  # (m + 1, n), the dummy row 0
    capacity: IntArray  # (m + 1,), what the fixed pairs leave; the dummy: the sum of all loads
    allowed: BoolArray  # (m + 1, n), the dummy row True
    cand: IntArray  # (m, n), -1 where no candidate
    base: BoolArray  # the fixed pairs, over the model's candidates

    @property
    def m(self) -> int:
        return self.cost.shape[0] - 1

    @property
    def n(self) -> int:
        return self.cost.shape[1]


@dataclass(frozen=True)
class SearchResult:
    """The improved plan, its GAP cost (M·W − S over the free part) and what the search did."""

    x: BoolArray
    start_cost: int
    cost: int
    iterations: int  # tabu search
    rounds: int  # large neighbourhood search
    improvements: int
    wall_s: float
    proven: bool  # a sub-problem covering the whole GAP was solved to optimality


def gap_view(model: PairingModel) -> GapView | None:
    """The GAP behind ``model``, or None when it is not a plain GAP (quotas, needs above one)."""
    if model.n == 0 or model.has_quota:
        return None
    fixed = model.fixed
    n_t, n_o = len(model.need), len(model.capacity)
    need = model.need - np.bincount(model.target[fixed], minlength=n_t)
    if np.any(need > 1) or np.any(need < 0):
        return None
    spare = model.capacity - np.bincount(
        model.org[fixed], weights=model.load[fixed], minlength=n_o
    ).astype(np.int64)
    if np.any(spare < 0):
        return None
    free = ~fixed & (need[model.target] == 1)
    jobs = np.flatnonzero(need == 1)
    if not len(jobs):
        return None
    agents = np.unique(model.org[free])
    m, n = len(agents), len(jobs)
    if m == 0 or (m + 1) * n > MAX_CELLS or n > MAX_SEARCH_JOBS:
        return None
    agent_of = np.full(n_o, -1, np.int64)
    agent_of[agents] = np.arange(m)
    job_of = np.full(n_t, -1, np.int64)
    job_of[jobs] = np.arange(n)
    idx = np.flatnonzero(free)
    rows, cols = agent_of[model.org[idx]], job_of[model.target[idx]]
    cand = np.full((m, n), -1, np.int64)
    cand[rows, cols] = idx
    if np.count_nonzero(cand >= 0) != len(idx):
        return None  # two candidates for one (organization, target): not a plain GAP
    big = shortfall_multiplier(model, free, need)
    cost = np.zeros((m + 1, n), np.int64)
    load = np.zeros((m + 1, n), np.int64)
    allowed = np.zeros((m + 1, n), bool)
    cost[rows, cols] = -model.score[idx]
    load[rows, cols] = model.load[idx]
    allowed[rows, cols] = True
    cost[m] = big * model.priority[jobs]
    allowed[m] = True
    capacity = np.append(spare[agents], int(load.sum()) + 1)
    return GapView(cost, load, capacity, allowed, cand, fixed.copy())


def to_plan(view: GapView, assign: IntArray) -> BoolArray:
    """The plan (over the model's candidates) of a GAP assignment."""
    x = view.base.copy()
    paired = assign < view.m
    x[view.cand[assign[paired], np.flatnonzero(paired)]] = True
    return x


def from_plan(view: GapView, x: BoolArray) -> IntArray:
    """The GAP assignment of a plan (jobs with no chosen free candidate go to the dummy)."""
    assign = np.full(view.n, view.m, np.int64)
    rows, cols = np.nonzero((view.cand >= 0) & x[np.maximum(view.cand, 0)])
    assign[cols] = rows
    return assign


def total_cost(view: GapView, assign: IntArray) -> int:
    return int(view.cost[assign, np.arange(view.n)].sum())


def used_capacity(view: GapView, assign: IntArray) -> IntArray:
    return np.bincount(
        assign, weights=view.load[assign, np.arange(view.n)], minlength=view.m + 1
    ).astype(np.int64)


def feasible(view: GapView, assign: IntArray) -> bool:
    """Every job at an allowed agent and every capacity kept."""
    cols = np.arange(view.n)
    return bool(
        np.all(view.allowed[assign, cols]) and np.all(used_capacity(view, assign) <= view.capacity)
    )


def local_search(view: GapView, assign: IntArray, max_moves: int = 100_000) -> IntArray:
    """Best-improvement shift and swap moves that keep every capacity, to a local optimum."""
    a = assign.copy()
    cols = np.arange(view.n)
    cost, load, cap, allowed = view.cost, view.load, view.capacity, view.allowed
    used = used_capacity(view, a)
    for _ in range(max_moves):
        current = cost[a, cols]
        cur_load = load[a, cols]
        # shift j from a[j] to i: i must have room for load[i, j]
        room = (cap - used)[:, None] >= load
        shift = np.where(allowed & room, cost - current[None, :], 0)
        i_best, j_best = np.unravel_index(int(np.argmin(shift)), shift.shape)
        best_shift = int(shift[i_best, j_best])
        # swap j and k (rows: j, columns: k): j goes to a[k], k goes to a[j]
        to_k = cost[a]  # [j, k] = cost of k at a[j]
        load_k = load[a]  # [j, k] = load of k at a[j]
        ok = allowed[a] & allowed[a].T & (a[:, None] != a[None, :])
        after = used[a][:, None] - cur_load[:, None] + load_k  # a[j]'s use after the swap
        ok &= (after <= cap[a][:, None]) & (cap[a][None, :] >= after.T)
        gain = to_k + to_k.T - current[:, None] - current[None, :]
        swap = np.where(ok, gain, 0)
        j_sw, k_sw = np.unravel_index(int(np.argmin(swap)), swap.shape)
        best_swap = int(swap[j_sw, k_sw])
        if best_shift >= 0 and best_swap >= 0:
            break
        if best_shift <= best_swap:
            j = int(j_best)
            used[a[j]] -= load[a[j], j]
            a[j] = int(i_best)
            used[a[j]] += load[a[j], j]
        else:
            j, k = int(j_sw), int(k_sw)
            aj, ak = int(a[j]), int(a[k])
            used[aj] += load[aj, k] - load[aj, j]
            used[ak] += load[ak, j] - load[ak, k]
            a[j], a[k] = ak, aj
    return a


def candidate_mask(view: GapView) -> BoolArray:
    """Where the tabu search may move each job: the allowed agents, narrowed for GAPs of more
    than ``CAND_MIN`` agents to the ``max(CAND_MIN, ⌈CAND_SHARE·m⌉)`` agents of least reduced
    cost c_ij + u_i·load_ij, with u the capacity duals of the LP relaxation (HiGHS); the dummy
    agent stays a destination. Any solution within Δ of the LP bound pays reduced costs of at
    most Δ in all, so near-optimal assignments sit almost only on such agents. All allowed
    agents when the LP is too large or does not solve."""
    m, n = view.m, view.n
    dest = view.allowed.copy()
    width = max(CAND_MIN, math.ceil(CAND_SHARE * m))
    if width >= m or (m + 1) * n > LP_MAX_CELLS:
        return dest
    rows, cols = np.nonzero(view.allowed)
    k = len(rows)
    ub = coo_matrix(
        (view.load[rows, cols].astype(float), (rows, np.arange(k))), shape=(m + 1, k)
    ).tocsr()[:m]
    eq = coo_matrix((np.ones(k), (cols, np.arange(k))), shape=(n, k))
    try:
        lp = linprog(
            view.cost[rows, cols].astype(float),
            A_ub=ub,
            b_ub=view.capacity[:m].astype(float),
            A_eq=eq,
            b_eq=np.ones(n),
            bounds=(0, 1),
            method="highs",
        )
    except ValueError:
        return dest
    if lp.status != 0:
        return dest
    dual = np.append(np.maximum(-np.asarray(lp.ineqlin.marginals, float), 0.0), 0.0)
    reduced = np.where(view.allowed[:m], view.cost[:m] + dual[:m, None] * view.load[:m], np.inf)
    keep = np.argsort(reduced, axis=0, kind="stable")[:width]
    narrowed = np.zeros_like(dest)
    narrowed[keep, np.arange(n)[None, :]] = True
    narrowed[:m] &= view.allowed[:m]
    narrowed[m] = view.allowed[m]
    return narrowed


def _candidates(dest: BoolArray) -> IntArray:
    """Per job, the agents where ``dest`` is True (rows of a -1 padded array)."""
    width = max(int(dest.sum(axis=0).max()), 1)
    cand = np.full((dest.shape[1], width), -1, np.int64)
    jobs, agents = np.nonzero(dest.T)  # sorted by job
    first = np.searchsorted(jobs, np.arange(dest.shape[1]))
    cand[jobs, np.arange(len(jobs)) - first[jobs]] = agents
    return cand


def tabu_search(
    view: GapView,
    assign: IntArray,
    *,
    max_iterations: int,
    deadline: float,
    seed: int = 0,
    stall: int | None = None,
    stop: Callable[[], bool] = _never,
    dest: BoolArray | None = None,
) -> tuple[IntArray, int]:
    """Tabu search with strategic oscillation: (best feasible assignment, iterations run).

    Capacities become soft: the search minimises cost + Σ α_i·(excess load of agent i), α_i
    rising while agent i is over its capacity and every α falling while the assignment is
    feasible. Each iteration makes the best non-tabu shift, swap, ejection or ejection chain
    (three or four jobs) towards the agents of ``dest`` (default :func:`candidate_mask`),
    compiled in :func:`linkage.solvers.gap_kernel.tabu_chunk`; a job moved away from an agent
    may not go back for a short random tenure, and any feasible neighbour better than the best
    becomes the best. The clock and ``stop`` are checked between chunks of about
    ``TABU_CHUNK_WORK`` move evaluations; the result for a seed does not depend on them (only
    on when the run ends).
    """
    m, n = view.m, view.n
    if dest is None:
        dest = candidate_mask(view)
    cand = _candidates(dest)
    a = assign.copy()
    used = used_capacity(view, a)
    best = a.copy()
    state = gap_kernel.seed_state(seed)
    if feasible(view, a):
        state[gap_kernel.BEST_COST] = total_cost(view, a)
    real = view.allowed[:m]
    spread = float(np.ptp(view.cost[:m][real])) if real.any() else 1.0
    mean_load = float(view.load[:m][real].mean()) if real.any() else 1.0
    alpha = np.full(m + 1, max(spread, 1.0) / max(mean_load, 1.0))
    tabu = np.zeros((m + 1, n), np.int64)
    per_iteration = 3 * n * cand.shape[1] * (n // (m + 1) + 2)
    chunk = int(min(max(TABU_CHUNK_WORK // per_iteration, 1), 10_000))
    while time.perf_counter() < deadline and not stop():
        over = gap_kernel.tabu_chunk(
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
            TENURE[0],
            TENURE[1],
            ALPHA_STEP,
            max_iterations,
            np.iinfo(np.int64).max if stall is None else stall,
            chunk,
        )
        if over:
            break
    if not feasible(view, best):  # no feasible assignment met (the start was infeasible)
        best = assign.copy()
    return best, int(state[gap_kernel.ITER])


def _pick_agents(view: GapView, assign: IntArray, size: int, rng: np.random.Generator) -> list[int]:
    """Agents whose jobs (together with the unpaired ones) number about ``size``."""
    m = view.m
    count = np.bincount(assign, minlength=m + 1)[:m]
    # the first agent: drawn with weight growing with its unused capacity (where cost is lost)
    slack = np.maximum(view.capacity[:m] - used_capacity(view, assign)[:m], 0).astype(float)
    weight = slack / max(float(view.capacity[:m].max()), 1.0) + SLACK_FLOOR
    picked = [int(rng.choice(m, p=weight / weight.sum()))]
    freed = int(count[picked[0]]) + int(np.sum(assign == m))
    while freed < size and len(picked) < m:
        # relatedness: how cheaply the picked agents' jobs could go to each other agent
        jobs = np.flatnonzero(np.isin(assign, picked))
        left = np.setdiff1d(np.arange(m), picked)
        if len(jobs):
            sub = np.where(view.allowed[np.ix_(left, jobs)], view.cost[np.ix_(left, jobs)], 0)
            spread = np.ptp(view.cost[:m][view.allowed[:m]]) + 1
            affinity = np.exp(-(sub - sub.min()) / spread * 4).mean(axis=1) + 1e-9
            weights = affinity / affinity.sum()
        else:
            weights = np.full(len(left), 1.0 / len(left))
        nxt = int(rng.choice(left, p=weights))
        picked.append(nxt)
        freed += int(count[nxt])
    return picked


def _solve_sub(
    view: GapView, assign: IntArray, jobs: IntArray, seed: int, dtime: float
) -> tuple[IntArray | None, bool]:
    """Re-assign ``jobs`` (the others stay) by CP-SAT: (new assignment or None, proven optimal).

    Every agent may take a freed job within the capacity the other jobs leave it."""
    m = view.m
    if not len(jobs):
        return None, True
    freed = np.zeros(view.n, bool)
    freed[jobs] = True
    kept = np.flatnonzero(~freed)
    residual = view.capacity - np.bincount(
        assign[kept], weights=view.load[assign[kept], kept], minlength=m + 1
    ).astype(np.int64)
    rows = np.flatnonzero(
        (view.allowed[:m][:, jobs] & (view.load[:m][:, jobs] <= residual[:m, None])).any(axis=1)
    )
    agents = rows.tolist()
    cp = cp_model.CpModel()
    sub_allowed = view.allowed[np.ix_(rows, jobs)] & (
        view.load[np.ix_(rows, jobs)] <= residual[rows][:, None]
    )
    terms: list[tuple[cp_model.IntVar, int, int, int]] = []  # (var, agent row, job col, cost)
    per_job: list[list[cp_model.IntVar]] = [[] for _ in jobs]
    per_agent: list[list[tuple[cp_model.IntVar, int]]] = [[] for _ in agents]
    for r, c in zip(*np.nonzero(sub_allowed), strict=True):
        i, j = agents[int(r)], int(jobs[int(c)])
        var = cp.new_bool_var("")
        terms.append((var, i, j, int(view.cost[i, j])))
        per_job[int(c)].append(var)
        per_agent[int(r)].append((var, int(view.load[i, j])))
        cp.add_hint(var, bool(assign[j] == i))
    dummy = []
    for c, j in enumerate(jobs.tolist()):
        u = cp.new_bool_var("")
        dummy.append((u, int(view.cost[m, j])))
        cp.add_hint(u, bool(assign[j] == m))
        cp.add_exactly_one([*per_job[c], u])
    for r, members in enumerate(per_agent):
        if members:
            cp.add(
                cp_model.LinearExpr.weighted_sum([v for v, _ in members], [w for _, w in members])
                <= int(residual[agents[r]])
            )
    cp.minimize(
        cp_model.LinearExpr.weighted_sum(
            [v for v, *_ in terms] + [u for u, _ in dummy],
            [w for *_, w in terms] + [w for _, w in dummy],
        )
    )
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = seed
    solver.parameters.max_deterministic_time = dtime
    solver.parameters.max_time_in_seconds = 10 * dtime + 1  # a guard only
    code = solver.solve(cp)
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, False
    new = assign.copy()
    new[jobs] = m
    for var, i, j, _ in terms:
        if solver.boolean_value(var):
            new[j] = i
    return new, code == cp_model.OPTIMAL


def search(
    view: GapView,
    assign: IntArray,
    *,
    time_limit_s: float,
    seed: int = 0,
    patience: int = PATIENCE,
    stop: Callable[[], bool] = _never,
) -> tuple[IntArray, int, int, bool]:
    """Large neighbourhood search from a feasible assignment.

    Returns (best assignment, rounds, improvements, proven optimal)."""
    deadline = time.perf_counter() + time_limit_s
    rng = np.random.default_rng(seed)
    best = local_search(view, assign)
    best_cost = total_cost(view, best)
    size = float(START_JOBS)
    rounds = improvements = stale = 0
    proven = False
    while stale < patience and time.perf_counter() < deadline and not stop():
        rounds += 1
        agents = _pick_agents(view, best, int(size), rng)
        jobs = np.flatnonzero(np.isin(best, agents) | (best == view.m))
        new, optimal = _solve_sub(view, best, jobs, seed + rounds, SUB_DTIME)
        whole = len(jobs) == view.n
        size = min(size * 1.1, MAX_JOBS) if optimal else max(size * 0.8, MIN_JOBS)
        stale += 1
        if new is not None and feasible(view, new):
            new = local_search(view, new)
            new_cost = total_cost(view, new)
            if new_cost < best_cost:
                improvements += 1
                stale = 0
            if new_cost <= best_cost:  # equal cost: move on the plateau
                best, best_cost = new, new_cost
            if whole and optimal:
                proven = True
                break
    return best, rounds, improvements, proven


def improve_plan(
    model: PairingModel,
    x: BoolArray,
    *,
    time_limit_s: float,
    seed: int = 0,
    stop: Callable[[], bool] = _never,
) -> SearchResult | None:
    """A plan no worse than ``x`` (which must keep every rule), or None when the model is not a
    plain GAP. ``stop`` is polled (between tabu chunks and sub-problems) to end early.

    Cycles of tabu search (until it stalls) then large neighbourhood search (until it stalls or
    proves the GAP optimal), each cycle from the best assignment so far, until ``CYCLE_PATIENCE``
    cycles in a row bring nothing or the time is up."""
    started = time.perf_counter()
    deadline = started + time_limit_s
    view = gap_view(model)
    if view is None:
        return None
    start = from_plan(view, x)
    if not feasible(view, start) or not np.array_equal(to_plan(view, start), x):
        return None  # x is not a plan of this GAP (should not happen for a valid plan)
    start_cost = total_cost(view, start)
    best = local_search(view, start)
    best_cost = total_cost(view, best)
    dest = candidate_mask(view) if view.n > START_JOBS else view.allowed
    iterations = rounds = improvements = stale = cycle = 0
    proven = False
    while not proven and stale < CYCLE_PATIENCE and time.perf_counter() < deadline and not stop():
        if view.n <= START_JOBS:  # one sub-problem holds the whole GAP: solve it outright
            best, _, _, proven = search(
                view, best, time_limit_s=deadline - time.perf_counter(), seed=seed, stop=stop
            )
            best_cost = total_cost(view, best)
            break
        found, its = tabu_search(
            view,
            best,
            max_iterations=np.iinfo(np.int64).max,
            stall=max(TABU_MIN_STALL, TABU_STALL_PER_JOB * view.n),
            deadline=deadline,
            seed=seed + cycle,
            stop=stop,
            dest=dest,
        )
        left = deadline - time.perf_counter()
        found, n_rounds, n_better, proven = search(
            view,
            found,
            time_limit_s=left,
            seed=seed + cycle,
            patience=CYCLE_LNS_PATIENCE,
            stop=stop,
        )
        iterations, rounds, improvements = (
            iterations + its,
            rounds + n_rounds,
            improvements + n_better,
        )
        cost = total_cost(view, found)
        stale = 0 if cost < best_cost else stale + 1
        if cost <= best_cost and feasible(view, found):
            best, best_cost = found, cost
        cycle += 1
    if best_cost > start_cost or not feasible(view, best):
        best, best_cost = start, start_cost
    return SearchResult(
        to_plan(view, best),
        start_cost,
        best_cost,
        iterations,
        rounds,
        improvements,
        time.perf_counter() - started,
        proven,
    )
