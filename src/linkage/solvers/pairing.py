"""Pairing (牵手计划): which sending organization partners with which target, solved exactly.

Model (DESIGN §6, docs/formulation): x[c] ∈ {0,1} per candidate c = (o, t), shortfall s[t] ≥ 0,

    Σ_{c into t} x[c] + s[t] = k[t]                          partners per target
    Σ_{c of o} load[c]·x[c] ≤ capacity[o]                     capacity
    Σ_{c into province P, group g} x[c] ≤ quota[P, g]        quota (g: cross_province / in_province)
    x[c] = 1 for fixed c                                      fixed

lexicographic: first minimise W = Σ priority[t]·s[t], then maximise S = Σ score[c]·x[c].

Methods: ``flow`` (unit loads, no quota: a min-cost flow over arrays), ``cp_sat`` (two phases),
``mip`` (two phases with a MIP backend in OR-Tools), ``auto`` (chooses by structure and size).
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import ortools.linear_solver.linear_solver_pb2 as linear_solver_pb2
import ortools.linear_solver.pywraplp as pywraplp
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray
from ortools.graph.python import min_cost_flow
from ortools.linear_solver.python import model_builder as mb
from ortools.sat.python import cp_model

from linkage.scenario.core import Scenario
from linkage.solvers.candidates import PairingInputs, build_candidates
from linkage.solvers.progress import CpSatReporter, Reporter, silent
from linkage.solvers.report import StageReport, Status, relative_gap
from linkage.solvers.stopping import AnyOf, StopRule, interrupting, never

Method = Literal["auto", "flow", "cp_sat", "mip"]
STAGE = "pairing"
# MIP backends: both do true branch-and-bound (LP-only backends such as GLOP/PDLP would
# silently drop integrality, DESIGN §6), and every solution is checked integral. Measured on 2
# cores: unit loads with quotas, national scale (10,000 senders × 885 targets, 210,297
# candidates after pruning): HiGHS 40 s, SCIP 165 s, both optimal; loads 1–3 (22,189
# candidates): HiGHS 3.8 s, SCIP 5.0 s; tight GAP 40 × 400 with a 30 s limit: SCIP gap 0.05 %,
# HiGHS no bound. So HiGHS for unit loads, SCIP when loads vary.
MIP_BACKEND_UNIT = "highs"
MIP_BACKEND = "scip"
MIP_BACKENDS = ("scip", "highs")
# auto: CP-SAT (one worker) up to this many candidates, a MIP above; see ``choose_method``
CP_SAT_MAX_CANDIDATES = 1_000

REASONS: dict[str, str] = {
    "no_candidate": "无可达的合格机构 / no eligible organization within reach",
    "too_few_candidates": "可达的合格机构不足 / fewer eligible organizations within reach than "
    "partners needed",
    "capacity_exhausted": "候选机构能力已用尽 / every candidate's capacity is used",
    "quota": "省际/省内名额已满 / the province's quota binds",
    "time_limit": "求解时限内未能补足 / the solver stopped at its time limit",
}
RULES: dict[str, str] = {
    "capacity": "机构承接能力 / organization capacity",
    "partners_per_target": "每个受援地区的结对数 / partners per target",
    "quota": "省际/省内名额 / province quota",
    "fixed": "指定结对 / fixed pair",
}

IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True, eq=False)
class PairingResult:
    """The pairing plan.

    - ``candidates``: the candidate table with ``chosen``;
    - ``pairs``: org, org_name, target, target_name, score, load, distance_km, origin, fixed,
      reason;
    - ``targets``: target, name, province, partners_needed, priority, assigned, shortfall,
      reason_code, reason (empty when fully paired);
    - ``organizations``: org, name, capacity, load_used, at_limit;
    - ``rules``: rule, label, subject, limit, used, at_limit — every capacity, partners-per-target,
      quota and fixed-pair rule and whether it is at its limit;
    - ``report``: the stage certificate.
    """

    candidates: pd.DataFrame
    pairs: pd.DataFrame
    targets: pd.DataFrame
    organizations: pd.DataFrame
    rules: pd.DataFrame
    report: StageReport

    @property
    def solved(self) -> bool:
        return self.report.solved


@dataclass(frozen=True, eq=False)
class PairingModel:
    """The pairing model as arrays (one entry per candidate / org / target / quota)."""

    org: IntArray  # candidate → organization position
    target: IntArray  # candidate → target position
    score: IntArray
    load: IntArray
    fixed: BoolArray
    quota: IntArray  # candidate → quota position, -1 when no quota applies
    capacity: IntArray  # per organization
    need: IntArray  # per target: partners needed
    priority: IntArray  # per target
    limit: IntArray  # per quota

    @property
    def n(self) -> int:
        return len(self.org)

    @property
    def unit_loads(self) -> bool:
        return bool(np.all(self.load[~self.fixed] == 1))

    @property
    def has_quota(self) -> bool:
        return bool(np.any(self.quota >= 0))

    def subset(self, keep: BoolArray) -> PairingModel:
        """The same model over the kept candidates only."""
        return replace(
            self,
            org=self.org[keep],
            target=self.target[keep],
            score=self.score[keep],
            load=self.load[keep],
            fixed=self.fixed[keep],
            quota=self.quota[keep],
        )

    def weighted_shortfall(self, x: BoolArray) -> int:
        assigned = np.bincount(self.target[x], minlength=len(self.need))
        return int(np.dot(self.priority, np.maximum(self.need - assigned, 0)))

    def total_score(self, x: BoolArray) -> int:
        return int(self.score[x].sum())


@dataclass(frozen=True)
class _Solution:
    x: BoolArray
    status: Status
    method: str
    objectives: dict[str, float]
    bound: dict[str, float]
    variables: int
    constraints: int
    message: str = ""


def model_arrays(inputs: PairingInputs) -> PairingModel:
    """Index the candidate table against its organizations, targets and quotas."""
    cand = inputs.candidates
    quota_key = pd.MultiIndex.from_frame(inputs.quotas[["province", "group"]])
    group = np.where(cand["cross_province"].to_numpy(dtype=bool), "cross_province", "in_province")
    cand_key = pd.MultiIndex.from_arrays([cand["target_province"].to_numpy(dtype=object), group])
    quota = (
        quota_key.get_indexer(cand_key).astype(np.int64)
        if len(quota_key)
        else np.full(len(cand), -1, dtype=np.int64)
    )
    return PairingModel(
        org=pd.Index(inputs.organizations["org"]).get_indexer(cand["org"]).astype(np.int64),
        target=pd.Index(inputs.targets["target"]).get_indexer(cand["target"]).astype(np.int64),
        score=cand["score"].to_numpy(dtype=np.int64),
        load=cand["load"].to_numpy(dtype=np.int64),
        fixed=cand["fixed"].to_numpy(dtype=bool),
        quota=quota,
        capacity=inputs.organizations["capacity"].to_numpy(dtype=np.int64),
        need=inputs.targets["partners_needed"].to_numpy(dtype=np.int64),
        priority=inputs.targets["priority"].to_numpy(dtype=np.int64),
        limit=inputs.quotas["limit"].to_numpy(dtype=np.int64),
    )


def choose_method(model: PairingModel, method: Method) -> str:
    """The method ``auto`` picks: a flow where the structure allows, else CP-SAT or a MIP by size.

    Measured on 2 cores (OR-Tools 9.15, two phases, time to proven optimum):

    ===============================================  ========  ========  ======  ======
    instance (candidates)                            CP-SAT 1  CP-SAT 2  SCIP    HiGHS
    ===============================================  ========  ========  ======  ======
    GAP 10 × 60, loads 5–25, tight (600)             0.75 s    6.98 s    2.38 s  1.06 s
    GAP 5 × 30 (150)                                 0.15 s    2.02 s    0.38 s  —
    GAP 20 × 100 (2,000)                             4.15 s    —         0.74 s  1.63 s
    GAP 40 × 400 (16,000), 30 s limit: gap           0.8 %     —         0.05 %  no bound
    geographic, loads 1–3, quotas, k=2 (633)         0.07 s    0.07 s¹   0.07 s  —
    geographic (2,862)                               0.76 s    3.69 s    0.26 s  0.24 s
    geographic (22,189)                              9.2 s     31.5 s    5.0 s   3.8 s
    geographic (145,099)                             48 s      —         36 s    24 s
    ===============================================  ========  ========  ======  ======

    CP-SAT 2 = two workers with ``interleave_search`` (needed for a reproducible plan; ¹ without
    it). One CP-SAT worker is reproducible and fastest on small tight instances; past ~1,000
    candidates SCIP proves optimality sooner and, on hard large ones, keeps the smaller gap
    (HiGHS is faster on easy large ones but gave no bound on the hard one), matching DESIGN §6:
    never CP-SAT alone on a large b-matching. The MIP backend itself is chosen by load shape
    (``MIP_BACKEND_UNIT`` / ``MIP_BACKEND``).
    """
    if method != "auto":
        return method
    if model.unit_loads and not model.has_quota:
        return "flow"
    return "cp_sat" if model.n <= CP_SAT_MAX_CANDIDATES else "mip"


def solve_pairing(
    scenario: Scenario,
    *,
    time_limit_s: float | None = None,
    seed: int | None = None,
    workers: int | None = None,
    method: Method | None = None,
    stop: StopRule = never,
    progress: Reporter = silent,
) -> PairingResult:
    """Solve the pairing stage of ``scenario``; defaults come from ``policy.solver``.

    ``stop`` (a stopping rule) ends the search early with the best plan found and its bound;
    ``progress`` hears of each better plan CP-SAT finds (the other methods report at the end)."""
    started = time.perf_counter()
    settings = scenario.policy.solver
    limit = float(time_limit_s if time_limit_s is not None else settings.time_limit_s)
    rng_seed = int(seed if seed is not None else settings.seed)
    threads = int(workers if workers is not None else settings.workers)
    asked: Method = method if method is not None else settings.pairing_method

    inputs = build_candidates(scenario)
    model = model_arrays(inputs)
    chosen = choose_method(model, asked)
    if asked == "auto" and chosen == "cp_sat":
        threads = 1  # small instances: one worker is both fastest and reproducible (see above)
    problem = _fixed_conflicts(model, inputs)
    if problem:
        solution = _Solution(
            x=np.zeros(model.n, dtype=bool),
            status="infeasible",
            method=chosen,
            objectives={},
            bound={},
            variables=model.n + len(model.need),
            constraints=len(model.need) + len(model.capacity) + len(model.limit),
            message=problem,
        )
    elif model.n == 0:
        solution = _Solution(
            x=np.zeros(0, dtype=bool),
            status="optimal",
            method=chosen,
            objectives=_objectives(model, np.zeros(0, dtype=bool)),
            bound=_objectives(model, np.zeros(0, dtype=bool)),
            variables=len(model.need),
            constraints=len(model.need),
            message="no candidates",
        )
    else:
        solvers: dict[str, Callable[..., _Solution]] = {
            "flow": _solve_flow,
            "cp_sat": functools.partial(_solve_cp_sat, progress=progress),
            "mip": _solve_mip,
        }
        if chosen == "flow" and not (model.unit_loads and not model.has_quota):
            raise ValueError(
                "method 'flow' needs unit loads and no quota; use 'cp_sat', 'mip' or 'auto'"
            )
        keep = prune_unit_loads(model) if chosen != "flow" else np.ones(model.n, dtype=bool)
        if chosen != "flow" and not model.unit_loads:
            # load-bearing: a plain GAP gets the local search (gap_search.py) beside the solver
            solution = _solve_with_search(solvers[chosen], model, limit, rng_seed, threads, stop)
        elif keep.all():
            solution = solvers[chosen](model, limit, rng_seed, threads, stop=stop)
        else:
            small = solvers[chosen](model.subset(keep), limit, rng_seed, threads, stop=stop)
            x = np.zeros(model.n, dtype=bool)
            x[np.flatnonzero(keep)] = small.x
            message = f"{int(keep.sum())} of {model.n} candidates kept by exact pruning"
            solution = replace(
                small,
                x=x,
                message="; ".join(m for m in (small.message, message) if m),
            )
    return _result(inputs, model, solution, time.perf_counter() - started)


# share of the time limit the GAP local search may use (it runs beside the exact solver)
SEARCH_SHARE = 0.95


def _solve_with_search(
    solve: Callable[..., _Solution],
    model: PairingModel,
    time_limit_s: float,
    seed: int,
    workers: int,
    stop: StopRule = never,
) -> _Solution:
    """The exact solver, with the GAP local search running beside it when the model is a GAP.

    The solver runs in a thread exactly as without the search (OR-Tools releases the GIL while
    solving, so on two cores both progress); ``gap_search.improve_plan`` runs meanwhile for at
    most ``SEARCH_SHARE`` of the limit and stops as soon as the solver returns. The better plan
    (W, then S; the solver's on a tie) is reported, with the solver's bound: the status stays
    optimal only when the solver proved it.
    """
    from linkage.solvers import gap_search  # imported here: gap_search imports this module

    box: dict[str, _Solution] = {}
    errors: list[BaseException] = []
    done = threading.Event()

    def run() -> None:
        try:
            box["solution"] = solve(model, time_limit_s, seed, workers, stop=stop)
        except BaseException as exc:  # re-raised in the calling thread
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=run, name="linkage-pairing-solver", daemon=True)
    thread.start()
    try:
        found = gap_search.improve_plan(
            model,
            greedy_plan(model),
            time_limit_s=SEARCH_SHARE * time_limit_s,
            seed=seed,
            stop=AnyOf((done.is_set, stop)),
        )
    finally:
        thread.join()
    if errors:
        raise errors[0]
    solution = box["solution"]
    if found is None:
        return solution
    note = (
        f"GAP local search beside the solver: {found.wall_s:.1f} s, {found.iterations} tabu "
        f"iterations, {found.rounds} LNS rounds, cost {found.start_cost} → {found.cost}"
    )
    mine = (model.weighted_shortfall(found.x), -model.total_score(found.x))
    theirs = (model.weighted_shortfall(solution.x), -model.total_score(solution.x))
    if solution.status in ("infeasible", "not_solved") or mine < theirs:
        solution = replace(
            solution,
            x=found.x,
            status="feasible",
            objectives=_objectives(model, found.x),
            message="; ".join(
                m for m in (solution.message, "the local search plan is better: reported") if m
            ),
        )
    return replace(solution, message="; ".join(m for m in (solution.message, note) if m))


def _objectives(model: PairingModel, x: BoolArray) -> dict[str, float]:
    return {
        "weighted_shortfall": float(model.weighted_shortfall(x)),
        "score": float(model.total_score(x)),
    }


def _fixed_conflicts(model: PairingModel, inputs: PairingInputs) -> str:
    """Why the fixed pairs alone break a rule (empty when they do not)."""
    f = model.fixed
    problems: list[str] = []
    used = np.bincount(model.org[f], weights=model.load[f], minlength=len(model.capacity))
    for o in np.flatnonzero(used > model.capacity):
        problems.append(
            "指定结对超出机构能力 / fixed pairs exceed the capacity of "
            f"{inputs.organizations['org'][o]} ({int(used[o])} > {int(model.capacity[o])})"
        )
    count = np.bincount(model.target[f], minlength=len(model.need))
    for t in np.flatnonzero(count > model.need):
        problems.append(
            f"指定结对多于所需 / more fixed partners than needed for {inputs.targets['target'][t]}"
            f" ({int(count[t])} > {int(model.need[t])})"
        )
    in_quota = f & (model.quota >= 0)
    per_quota = np.bincount(model.quota[in_quota], minlength=len(model.limit))
    for q in np.flatnonzero(per_quota > model.limit):
        row = inputs.quotas.iloc[q]
        problems.append(
            f"指定结对超出名额 / fixed pairs exceed the {row['group']} quota of {row['place']}"
            f" ({int(per_quota[q])} > {int(model.limit[q])})"
        )
    return "; ".join(problems)


def greedy_plan(model: PairingModel) -> BoolArray:
    """A feasible plan: fixed pairs, then candidates by (priority, score) while rules allow.

    Warm start for CP-SAT and the MIP, and the fallback plan when a time limit stops them before
    their first solution. Assumes the fixed pairs alone keep every rule (checked before).
    """
    x = model.fixed.copy()
    need = model.need - np.bincount(model.target[x], minlength=len(model.need))
    cap = model.capacity - np.bincount(
        model.org[x], weights=model.load[x], minlength=len(model.capacity)
    ).astype(np.int64)
    in_quota = x & (model.quota >= 0)
    left = model.limit - np.bincount(model.quota[in_quota], minlength=len(model.limit))
    left = np.append(left, np.iinfo(np.int64).max)  # position -1: no quota
    order = np.lexsort((-model.score, -model.priority[model.target]))
    order = order[~x[order]]
    # one pass in Python over the candidates: a heuristic, run once, linear in their number
    for i, o, t, q, load in zip(
        order.tolist(),
        model.org[order].tolist(),
        model.target[order].tolist(),
        model.quota[order].tolist(),
        model.load[order].tolist(),
        strict=True,
    ):
        if need[t] > 0 and cap[o] >= load and left[q] > 0:
            x[i] = True
            need[t] -= 1
            cap[o] -= load
            left[q] -= 1
    return x


def prune_unit_loads(model: PairingModel) -> BoolArray:
    """Candidates that may matter when every free pair has load 1 (all kept otherwise).

    Exact: the pruned model has the same optimal (W, S), and its optima are optimal for the
    full model. Candidates of organizations with no unit of capacity left after the fixed
    pairs can never be chosen. For a target t and quota group g (the quota row its candidates
    count against, or none), order
    its free candidates by score (best first) and keep the shortest prefix P whose capacities
    sum to more than B = (k[t] − 1)·max_cap(t, g) + D[t], where D[t] is the total demand k of
    the other targets that share an organization with t.

    Proof: let x be optimal and use a free candidate (o, t) of group g outside P. An
    organization o' of P cannot take (o', t) only if it already partners t — at most k[t] − 1
    of them, together holding at most (k[t] − 1)·max_cap capacity — or it has no spare unit,
    so all of its spare capacity (what the fixed pairs leave) is used by free unit-load pairs
    with other targets t' that share o' with t; those pairs number at most D[t]. If every o'
    of P were blocked, P's capacity would be at most B, contrary to its choice. So some o' in
    P is free: moving t's partner from o to o' keeps every target's count, every quota (same
    t, same g) and every capacity (o' had a spare unit), leaves W unchanged and does not
    lower S. Each
    such move lowers the number of pairs outside the kept prefixes, so repeating them ends in
    an optimal plan that uses only kept candidates. Fixed candidates are always kept.
    """
    n = model.n
    keep = np.ones(n, dtype=bool)
    free = ~model.fixed
    if n == 0 or not np.all(model.load[free] == 1):
        return keep
    n_t, n_o = len(model.need), len(model.capacity)
    spare = model.capacity - np.bincount(
        model.org[model.fixed], weights=model.load[model.fixed], minlength=n_o
    ).astype(np.int64)
    usable = free & (spare[model.org] >= 1)
    keep = model.fixed | usable
    idx = np.flatnonzero(usable)
    if not len(idx):
        return keep
    # D[t]: demand of the other targets reachable through t's organizations
    incidence = sp.csr_matrix(
        (np.ones(n), (model.target, model.org)), shape=(n_t, n_o), dtype=np.float64
    )
    incidence.data[:] = 1.0  # duplicates cannot occur, but make the pattern boolean anyway
    shared = (incidence @ incidence.T).tocsr()
    shared.data[:] = 1.0
    demand = np.asarray(shared @ model.need.astype(float)).ravel() - model.need
    demand = np.where(np.bincount(model.target, minlength=n_t) > 0, demand, 0.0)

    # candidates of one target under the same quota row (or none) can replace one another
    group = model.target[idx] * (len(model.limit) + 1) + (model.quota[idx] + 1)
    order = np.lexsort((idx, -model.score[idx], group))
    g_sorted = group[order]
    cap_sorted = spare[model.org[idx[order]]].astype(np.int64)
    starts = np.flatnonzero(np.r_[True, g_sorted[1:] != g_sorted[:-1]])
    lengths = np.diff(np.r_[starts, len(order)])
    group_start = np.repeat(starts, lengths)
    cum = np.cumsum(cap_sorted)
    before = np.r_[0, cum][group_start]
    cum_in_group = cum - before  # capacity of the prefix ending here, inclusive
    max_cap = np.maximum.reduceat(cap_sorted, starts)
    t_sorted = model.target[idx[order]]
    budget = (model.need[t_sorted] - 1) * np.repeat(max_cap, lengths) + demand[t_sorted]
    # keep a candidate when the prefix before it has not yet exceeded the budget
    prefix_before = cum_in_group - cap_sorted
    needed = prefix_before <= budget
    keep[idx[order[~needed]]] = False
    return keep


# ---------------------------------------------------------------------------------------------
# min-cost flow


def shortfall_multiplier(model: PairingModel, free: BoolArray, need: IntArray) -> int:
    """The M that makes M·W − S lexicographic (W first, then S), as small as is still correct.

    Proof: a target t receives at most need[t] free pairs, each of score in [lo_t, hi_t], and a
    slot left empty scores 0; so with lo_t' = min(0, lo_t), hi_t' = max(0, hi_t) every plan's
    free score lies in [Σ need[t]·lo_t', Σ need[t]·hi_t'] and any two plans differ in S by at
    most R = Σ_t need[t]·(hi_t' − lo_t'). W is an integer, so a plan with a smaller W has
    W ≤ W' − 1 and its cost M·W − S ≤ M·W' − M − S < M·W' − S' whenever M > R ≥ S − S'.
    Hence M = R + 1 minimises W first and, among plans of least W, maximises S.
    """
    t = model.target[free]
    s = model.score[free]
    n_t = len(need)
    hi = np.zeros(n_t, dtype=np.int64)
    lo = np.zeros(n_t, dtype=np.int64)
    np.maximum.at(hi, t, s)
    np.minimum.at(lo, t, s)
    return int(np.dot(need, hi - lo)) + 1


def _solve_flow(
    model: PairingModel, time_limit_s: float, seed: int, workers: int, stop: StopRule = never
) -> _Solution:
    """Unit loads, no quota: source → org (capacity) → target (1 per pair) ← source (shortfall)."""
    fixed = model.fixed
    free = ~fixed
    capacity = model.capacity - np.bincount(
        model.org[fixed], weights=model.load[fixed], minlength=len(model.capacity)
    ).astype(np.int64)
    need = model.need - np.bincount(model.target[fixed], minlength=len(model.need))
    n_o, n_t = len(capacity), len(need)
    big_m = shortfall_multiplier(model, free, need)
    source = 0
    org_node = 1 + np.arange(n_o, dtype=np.int64)
    target_node = 1 + n_o + np.arange(n_t, dtype=np.int64)
    free_idx = np.flatnonzero(free)
    tails = np.concatenate(
        [np.zeros(n_o, np.int64), org_node[model.org[free_idx]], np.zeros(n_t, np.int64)]
    )
    heads = np.concatenate([org_node, target_node[model.target[free_idx]], target_node])
    caps = np.concatenate([capacity, np.ones(len(free_idx), np.int64), need])
    costs = np.concatenate(
        [np.zeros(n_o, np.int64), -model.score[free_idx], big_m * model.priority]
    )
    flow = min_cost_flow.SimpleMinCostFlow()
    arcs = flow.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    total = int(need.sum())
    flow.set_nodes_supplies(
        np.concatenate([[source], target_node]).astype(np.int64),
        np.concatenate([[total], -need]).astype(np.int64),
    )
    status = flow.solve()
    if status != flow.OPTIMAL:
        return _Solution(
            np.zeros(model.n, bool),
            "not_solved",
            "flow",
            {},
            {},
            len(arcs),
            1 + n_o + n_t,
            f"min-cost flow returned status {status}",
        )
    pair_flow = flow.flows(arcs[n_o : n_o + len(free_idx)])
    x = fixed.copy()
    x[free_idx[pair_flow > 0]] = True
    obj = _objectives(model, x)
    return _Solution(x, "optimal", "flow", obj, dict(obj), len(arcs), 1 + n_o + n_t)


# ---------------------------------------------------------------------------------------------
# shared structure for CP-SAT and the MIP


def _groups(keys: IntArray, size: int) -> list[IntArray]:
    """Candidate positions per key value 0..size-1 (one argsort, no Python loop per candidate)."""
    order = np.argsort(keys, kind="stable")
    counts = np.bincount(keys, minlength=size) if len(keys) else np.zeros(size, np.int64)
    return np.split(order, np.cumsum(counts)[:-1]) if size else []


def _constraint_matrix(model: PairingModel) -> tuple[sp.csr_matrix, IntArray, IntArray]:
    """Rows: targets (= need), organizations (≤ capacity), quotas (≤ limit); columns: x then s.

    Returns the matrix and the lower/upper bounds of each row.
    """
    n, n_t, n_o, n_q = model.n, len(model.need), len(model.capacity), len(model.limit)
    cand = np.arange(n)
    in_quota = model.quota >= 0
    rows = np.concatenate(
        [model.target, n_t + model.org, n_t + n_o + model.quota[in_quota], np.arange(n_t)]
    )
    cols = np.concatenate([cand, cand, cand[in_quota], n + np.arange(n_t)])
    vals = np.concatenate(
        [np.ones(n), model.load.astype(float), np.ones(int(in_quota.sum())), np.ones(n_t)]
    )
    matrix = sp.csr_matrix((vals, (rows, cols)), shape=(n_t + n_o + n_q, n + n_t))
    lower = np.concatenate([model.need, np.full(n_o + n_q, np.iinfo(np.int64).min)])
    upper = np.concatenate([model.need, model.capacity, model.limit])
    return matrix, lower, upper


# ---------------------------------------------------------------------------------------------
# CP-SAT


def _cp_status(code: cp_model.CpSolverStatus | int) -> Status:
    if code == cp_model.OPTIMAL:
        return "optimal"
    if code == cp_model.FEASIBLE:
        return "feasible"
    if code == cp_model.INFEASIBLE:
        return "infeasible"
    return "not_solved"


def _cp_solver(time_limit_s: float, seed: int, workers: int) -> cp_model.CpSolver:
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(time_limit_s, 0.01)
    solver.parameters.random_seed = seed
    solver.parameters.num_workers = workers
    # parallel CP-SAT races its workers and so is not reproducible; interleaved search runs the
    # same portfolio in deterministic batches, so a seed gives the same plan (when the time
    # limit does not cut the search short)
    solver.parameters.interleave_search = workers > 1
    solver.parameters.log_search_progress = False
    return solver


def _solve_cp_sat(
    model: PairingModel,
    time_limit_s: float,
    seed: int,
    workers: int,
    stop: StopRule = never,
    progress: Reporter = silent,
) -> _Solution:
    """Two phases: min W; then W fixed at its best value, max S hinted with phase 1's plan."""
    started = time.perf_counter()
    cp = cp_model.CpModel()
    n, n_t = model.n, len(model.need)
    x = [cp.new_bool_var(f"x{i}") for i in range(n)]
    s = [cp.new_int_var(0, int(model.need[t]), f"s{t}") for t in range(n_t)]
    for i in np.flatnonzero(model.fixed):
        cp.add(x[i] == 1)
    for t, members in enumerate(_groups(model.target, n_t)):
        cp.add(cp_model.LinearExpr.sum([x[i] for i in members]) + s[t] == int(model.need[t]))
    for o, members in enumerate(_groups(model.org, len(model.capacity))):
        if len(members):
            cp.add(
                cp_model.LinearExpr.weighted_sum(
                    [x[i] for i in members], model.load[members].tolist()
                )
                <= int(model.capacity[o])
            )
    in_quota = np.flatnonzero(model.quota >= 0)
    for q, members in enumerate(_groups(model.quota[in_quota], len(model.limit))):
        if len(members):
            cp.add(
                cp_model.LinearExpr.sum([x[i] for i in in_quota[members]]) <= int(model.limit[q])
            )
    shortfall = cp_model.LinearExpr.weighted_sum(s, model.priority.tolist())
    cp.minimize(shortfall)
    start = greedy_plan(model)
    start_short = model.need - np.bincount(model.target[start], minlength=n_t)
    for var, value in zip(x, start.tolist(), strict=True):
        cp.add_hint(var, value)
    for var, value in zip(s, start_short.tolist(), strict=True):
        cp.add_hint(var, value)

    fallback = ""
    phase1 = _cp_solver(time_limit_s, seed, workers)
    with interrupting(stop, phase1.stop_search):
        code1 = phase1.solve(cp, CpSatReporter(progress, "weighted_shortfall"))
    status1 = _cp_status(code1)
    if status1 == "infeasible":
        return _Solution(
            np.zeros(n, bool),
            status1,
            "cp_sat",
            {},
            {},
            n + n_t,
            len(cp.proto.constraints),
            "phase 1 (shortfall): INFEASIBLE",
        )
    if status1 == "optimal" or status1 == "feasible":
        x1 = np.array([phase1.boolean_value(v) for v in x], dtype=bool)
        w_bound = float(phase1.best_objective_bound)
    else:
        # stopped before any solution: the greedy plan stands, W ≥ 0 is the only bound proven
        x1, status1, w_bound = start, "feasible", 0.0
        fallback = (
            f"phase 1 stopped without a plan ({phase1.status_name(code1)}); greedy plan kept; "
        )
    w_best = model.weighted_shortfall(x1)
    if stop():
        n_cons = len(cp.proto.constraints)
        return _stopped(model, x1, w_bound, "cp_sat", n + n_t, n_cons, fallback)

    cp.add(shortfall <= w_best)
    cp.maximize(cp_model.LinearExpr.weighted_sum(x, model.score.tolist()))
    cp.clear_hints()
    for var, value in zip(x, x1.tolist(), strict=True):
        cp.add_hint(var, value)
    remaining = time_limit_s - (time.perf_counter() - started)
    # phase 2 always gets a little time: a plan with an unproven score beats none
    phase2 = _cp_solver(max(remaining, 0.1 * time_limit_s), seed, workers)
    with interrupting(stop, phase2.stop_search):
        code2 = phase2.solve(cp, CpSatReporter(progress, "score"))
    status2 = _cp_status(code2)
    if status2 in ("optimal", "feasible"):
        x2 = np.array([phase2.boolean_value(v) for v in x], dtype=bool)
        s_bound = float(phase2.best_objective_bound)
    else:
        # the hint is feasible, so this only happens when phase 2 had no time at all
        x2, status2, s_bound = x1, "feasible", math.inf
    status: Status = "optimal" if status1 == status2 == "optimal" else "feasible"
    obj = _objectives(model, x2)
    bound = {"weighted_shortfall": w_bound, "score": s_bound}
    message = _stop_note(status, stop, fallback)
    return _Solution(x2, status, "cp_sat", obj, bound, n + n_t, len(cp.proto.constraints), message)


# ---------------------------------------------------------------------------------------------
# MIP (model_builder over sparse arrays)


def _mip_model(
    model: PairingModel, objective: NDArray[np.float64], maximize: bool, w_cap: int | None
) -> tuple[mb.Model, int, int]:
    matrix, lower, upper = _constraint_matrix(model)
    n, n_t = model.n, len(model.need)
    if w_cap is not None:
        extra = sp.csr_matrix(
            (model.priority.astype(float), (np.zeros(n_t, np.int64), n + np.arange(n_t))),
            shape=(1, n + n_t),
        )
        matrix = sp.vstack([matrix, extra], format="csr")
        lower = np.append(lower, np.iinfo(np.int64).min)
        upper = np.append(upper, w_cap)
    low = lower.astype(float)
    low[lower == np.iinfo(np.int64).min] = -np.inf
    var_lb = np.concatenate([model.fixed.astype(float), np.zeros(n_t)])
    var_ub = np.concatenate([np.ones(n), model.need.astype(float)])
    mip = mb.Model()
    helper = mip.helper
    helper.fill_model_from_sparse_data(  # the stubs mistype these float64 arrays
        var_lb,  # type: ignore[arg-type]
        var_ub,  # type: ignore[arg-type]
        objective,  # type: ignore[arg-type]
        low,  # type: ignore[arg-type]
        upper.astype(float),  # type: ignore[arg-type]
        matrix.astype(float),
    )
    for j in range(n + n_t):
        helper.set_var_integrality(j, True)
    helper.set_maximize(maximize)
    return mip, n + n_t, matrix.shape[0]


@dataclass(frozen=True)
class _MipRun:
    """What one MIP solve gave: status, the variables' values (None without a plan), bound."""

    status: Status
    code: str
    values: NDArray[np.float64] | None
    bound: float


_MB_STATUS: dict[mb.SolveStatus, Status] = {
    mb.SolveStatus.OPTIMAL: "optimal",
    mb.SolveStatus.FEASIBLE: "feasible",
    mb.SolveStatus.INFEASIBLE: "infeasible",
}


def _mip_solve(
    mip: mb.Model,
    backend: str,
    time_limit_s: float,
    seed: int,
    workers: int,
    stop: StopRule = never,
) -> _MipRun:
    """Solve on ``backend``. SCIP runs through ``pywraplp`` (loaded from the model's proto in
    C++), whose ``InterruptSolve`` stops it on ``stop`` with its incumbent and bound —
    ``model_builder``'s ``stop_search`` does not reach SCIP or HiGHS (measured: both ran to their
    time limit). HiGHS, used for the unit-load pairings that it solves in seconds, is not
    interruptible: ``stop`` is read only before it starts."""
    limit = max(time_limit_s, 0.01)
    if backend == "scip":
        return _scip_solve(mip, limit, seed, stop)
    solver = mb.Solver(backend)
    if not solver.solver_is_supported():
        raise RuntimeError(f"MIP backend {backend!r} is not available in this OR-Tools build")
    solver.set_time_limit_in_seconds(limit)
    solver.enable_output(False)
    # output_flag: HiGHS prints a banner to stdout even with enable_output(False). No `threads`:
    # HiGHS keeps one global thread pool per process, and asking another size later makes every
    # solve fail at once (seen here after a 1-worker solve).
    solver.set_solver_specific_parameters(
        f"output_flag=false\nlog_to_console=false\nrandom_seed={seed}"
    )
    code = solver.solve(mip)
    status = _MB_STATUS.get(code, "not_solved")
    values = None
    if status in ("optimal", "feasible"):
        values = solver.values(mip.get_variables()).to_numpy(dtype=float)
    return _MipRun(status, code.name, values, float(solver.best_objective_bound))


def _scip_solve(mip: mb.Model, time_limit_s: float, seed: int, stop: StopRule) -> _MipRun:
    solver = pywraplp.Solver.CreateSolver("SCIP")
    if solver is None:
        raise RuntimeError("MIP backend 'scip' is not available in this OR-Tools build")
    problem = solver.LoadModelFromProto(mip.export_to_proto())
    if problem:
        raise RuntimeError(f"SCIP did not load the pairing model: {problem}")
    solver.SetTimeLimit(math.ceil(time_limit_s * 1000))
    solver.SetSolverSpecificParametersAsString(f"randomization/randomseedshift = {seed}")
    solver.SuppressOutput()
    with interrupting(stop, solver.InterruptSolve):
        code = solver.Solve()
    names = {
        pywraplp.Solver.OPTIMAL: "OPTIMAL",
        pywraplp.Solver.FEASIBLE: "FEASIBLE",
        pywraplp.Solver.INFEASIBLE: "INFEASIBLE",
        pywraplp.Solver.UNBOUNDED: "UNBOUNDED",
        pywraplp.Solver.ABNORMAL: "ABNORMAL",
        pywraplp.Solver.NOT_SOLVED: "NOT_SOLVED",
    }
    known: dict[str, Status] = {
        "OPTIMAL": "optimal",
        "FEASIBLE": "feasible",
        "INFEASIBLE": "infeasible",
    }
    status = known.get(names.get(code, "NOT_SOLVED"), "not_solved")
    values = None
    if status in ("optimal", "feasible"):
        response = linear_solver_pb2.MPSolutionResponse()
        solver.FillSolutionResponseProto(response)
        values = np.asarray(response.variable_value, dtype=float)
    bound = float(solver.Objective().BestBound()) if values is not None else math.nan
    return _MipRun(status, names.get(code, "NOT_SOLVED"), values, bound)


def _mip_values(run: _MipRun, n: int) -> BoolArray:
    values = run.values
    assert values is not None
    # the backend must have kept integrality (an LP-only backend would return fractions)
    if np.any(np.abs(values - np.round(values)) > 1e-6):
        raise RuntimeError("MIP backend returned a fractional solution: integrality was dropped")
    return np.asarray(np.round(values[:n]) > 0.5, dtype=bool)


def _mip_hint(mip: mb.Model, model: PairingModel, x: BoolArray) -> None:
    shortfall = model.need - np.bincount(model.target[x], minlength=len(model.need))
    values = np.concatenate([x.astype(float), shortfall.astype(float)])
    for j, value in enumerate(values.tolist()):
        mip.helper.add_hint(j, value)


def _solve_mip(
    model: PairingModel,
    time_limit_s: float,
    seed: int,
    workers: int,
    backend: str | None = None,
    stop: StopRule = never,
) -> _Solution:
    """Two phases like CP-SAT, on a MIP backend; the model is filled from a CSR matrix."""
    if backend is None:
        backend = MIP_BACKEND_UNIT if model.unit_loads else MIP_BACKEND
    if backend not in MIP_BACKENDS:
        raise ValueError(f"MIP backend must be one of {MIP_BACKENDS}, not {backend!r}")
    started = time.perf_counter()
    n, n_t = model.n, len(model.need)
    obj1 = np.concatenate([np.zeros(n), model.priority.astype(float)])
    mip1, n_vars, n_cons = _mip_model(model, obj1, maximize=False, w_cap=None)
    start = greedy_plan(model)
    if backend != "highs":  # OR-Tools 9.15 crashes passing hints to HiGHS (measured here)
        _mip_hint(mip1, model, start)
    fallback = ""
    run1 = _mip_solve(mip1, backend, time_limit_s, seed, workers, stop)
    status1 = run1.status
    if status1 == "infeasible":
        return _Solution(
            np.zeros(n, bool),
            status1,
            f"mip:{backend}",
            {},
            {},
            n_vars,
            n_cons,
            message=f"phase 1 (shortfall): {run1.code}",
        )
    if status1 in ("optimal", "feasible"):
        x1 = _mip_values(run1, n)
        w_bound = run1.bound
    else:
        # stopped before any solution: the greedy plan stands, W ≥ 0 is the only bound proven
        x1, status1, w_bound = start, "feasible", 0.0
        fallback = f"phase 1 stopped without a plan ({run1.code}); greedy plan kept; "
    w_best = model.weighted_shortfall(x1)
    if stop():
        return _stopped(model, x1, w_bound, f"mip:{backend}", n_vars, n_cons, fallback)

    obj2 = np.concatenate([model.score.astype(float), np.zeros(n_t)])
    mip2, n_vars, n_cons = _mip_model(model, obj2, maximize=True, w_cap=w_best)
    if backend != "highs":
        _mip_hint(mip2, model, x1)
    remaining = time_limit_s - (time.perf_counter() - started)
    run2 = _mip_solve(mip2, backend, max(remaining, 0.1 * time_limit_s), seed, workers, stop)
    status2 = run2.status
    if status2 in ("optimal", "feasible"):
        x2 = _mip_values(run2, n)
        s_bound = run2.bound
    else:
        x2, status2, s_bound = x1, "feasible", math.inf
    status: Status = "optimal" if status1 == status2 == "optimal" else "feasible"
    obj = _objectives(model, x2)
    # a MIP's bound is a float of the LP relaxation; integral objectives allow rounding it
    bound = {
        "weighted_shortfall": math.ceil(w_bound - 1e-6) if math.isfinite(w_bound) else w_bound,
        "score": math.floor(s_bound + 1e-6) if math.isfinite(s_bound) else s_bound,
    }
    return _Solution(
        x2, status, f"mip:{backend}", obj, bound, n_vars, n_cons, _stop_note(status, stop, fallback)
    )


def _stop_note(status: Status, stop: StopRule, fallback: str) -> str:
    if status == "optimal":
        return ""
    why = "stopped on request" if stop() else "stopped at the time limit"
    return f"{fallback}{why}: best plan and bound"


def _stopped(
    model: PairingModel,
    x1: BoolArray,
    w_bound: float,
    method: str,
    n_vars: int,
    n_cons: int,
    fallback: str,
) -> _Solution:
    """Phase 1's plan when the solve is stopped before phase 2: the score is not maximised
    (its bound unknown)."""
    w = math.ceil(w_bound - 1e-6) if math.isfinite(w_bound) else w_bound
    return _Solution(
        x1,
        "feasible",
        method,
        _objectives(model, x1),
        {"weighted_shortfall": w, "score": math.inf},
        n_vars,
        n_cons,
        f"{fallback}stopped on request after phase 1 (shortfall): score not maximised",
    )


# ---------------------------------------------------------------------------------------------
# result tables


def _gap(objectives: dict[str, float], bound: dict[str, float]) -> float:
    gaps = [relative_gap(objectives[k], bound[k]) for k in objectives if k in bound]
    return max(gaps, default=0.0)


def _result(
    inputs: PairingInputs, model: PairingModel, solution: _Solution, wall_s: float
) -> PairingResult:
    x = solution.x
    orgs, targets, cand = inputs.organizations, inputs.targets, inputs.candidates
    n_t, n_o = len(targets), len(orgs)
    candidates = cand.assign(chosen=x)

    assigned = np.bincount(model.target[x], minlength=n_t)
    shortfall = model.need - assigned
    used = np.bincount(model.org[x], weights=model.load[x], minlength=n_o).astype(np.int64)
    quota_used = np.bincount(model.quota[x & (model.quota >= 0)], minlength=len(model.limit))
    quota_full = quota_used >= model.limit

    code = _shortfall_reasons(model, x, shortfall, used, quota_full, solution.status)
    target_table = pd.DataFrame(
        {
            "target": targets["target"],
            "name": targets["name"],
            "province": targets["province"],
            "partners_needed": model.need,
            "priority": model.priority,
            "assigned": assigned.astype(np.int64),
            "shortfall": shortfall.astype(np.int64),
            "reason_code": code,
            "reason": pd.Series(code, dtype=object).map(REASONS).fillna("").to_numpy(),
        }
    )
    org_table = pd.DataFrame(
        {
            "org": orgs["org"],
            "name": orgs["name"],
            "capacity": model.capacity,
            "load_used": used,
            "at_limit": used >= model.capacity,
        }
    )
    chosen = candidates[x]
    org_name = pd.Series(orgs["name"].to_numpy(), index=orgs["org"].to_numpy())
    target_name = pd.Series(targets["name"].to_numpy(), index=targets["target"].to_numpy())
    pairs = pd.DataFrame(
        {
            "org": chosen["org"].to_numpy(dtype=object),
            "org_name": org_name.reindex(chosen["org"]).to_numpy(dtype=object),
            "target": chosen["target"].to_numpy(dtype=object),
            "target_name": target_name.reindex(chosen["target"]).to_numpy(dtype=object),
            "score": chosen["score"].to_numpy(dtype=np.int64),
            "load": chosen["load"].to_numpy(dtype=np.int64),
            "distance_km": chosen["distance_km"].to_numpy(dtype=float),
            "origin": chosen["origin"].to_numpy(dtype=object),
            "fixed": chosen["fixed"].to_numpy(dtype=bool),
            "reason": pair_reasons(chosen),
        }
    )
    rules = _rules_table(inputs, model, x, used, assigned, quota_used)
    report = StageReport(
        stage=STAGE,
        method=solution.method,
        status=solution.status,
        objectives=solution.objectives,
        bound=solution.bound,
        gap=_gap(solution.objectives, solution.bound) if solution.objectives else 0.0,
        wall_s=wall_s,
        variables=solution.variables,
        constraints=solution.constraints,
        message=solution.message,
    )
    return PairingResult(candidates, pairs, target_table, org_table, rules, report)


def _shortfall_reasons(
    model: PairingModel,
    x: BoolArray,
    shortfall: IntArray,
    used: IntArray,
    quota_full: BoolArray,
    status: Status,
) -> NDArray[np.object_]:
    """Why each short target is short; every unchosen candidate is blocked by something."""
    n_t = len(model.need)
    code = np.full(n_t, "", dtype=object)
    short = shortfall > 0
    n_cand = np.bincount(model.target, minlength=n_t)
    spare = model.capacity[model.org] - used[model.org]
    by_capacity = ~x & (model.load > spare)
    full = np.append(quota_full, False)  # position -1 (no quota) is never full
    by_quota = ~x & full[model.quota]
    unblocked = ~x & ~by_capacity & ~by_quota
    quota_only = by_quota & ~by_capacity
    has_unblocked = np.bincount(model.target[unblocked], minlength=n_t) > 0
    has_quota_only = np.bincount(model.target[quota_only], minlength=n_t) > 0
    n_unchosen = np.bincount(model.target[~x], minlength=n_t)
    code[short] = "capacity_exhausted"
    code[short & has_quota_only] = "quota"
    code[short & (n_unchosen == 0)] = "too_few_candidates"
    code[short & (n_cand == 0)] = "no_candidate"
    if status != "optimal":
        code[short & has_unblocked] = "time_limit"
    if status in ("infeasible", "not_solved"):
        code[:] = ""  # no plan: the report's message says why
    return code


def pair_reasons(chosen: pd.DataFrame) -> NDArray[np.object_]:
    """A short bilingual explanation of each chosen pair's score."""
    if not len(chosen):
        return np.empty(0, dtype=object)
    spec = chosen["specialty"].astype(int).astype(str)
    qual = chosen["quality"].astype(int).astype(str)
    dist_pts = chosen["distance"].astype(int).astype(str)
    km = chosen["distance_km"].round(0)
    km_text = km.map(lambda v: "?" if pd.isna(v) else str(int(v)))
    text = (
        "专长匹配 "
        + spec
        + " 分 / specialty fit "
        + spec
        + "; 评级 "
        + qual
        + " 分 / quality "
        + qual
        + "; 距离 "
        + km_text
        + " km ("
        + dist_pts
        + " 分) / distance "
        + km_text
        + " km ("
        + dist_pts
        + ")"
    )
    cont = chosen["continuity"].astype(int)
    text = text.where(
        cont <= 0,
        text + "; 延续既有结对 +" + cont.astype(str) + " / continuing pair +" + cont.astype(str),
    )
    components = chosen["specialty"] + chosen["quality"] + chosen["distance"] + cont
    overridden = chosen["score"] != components
    text = text.where(
        ~overridden,
        text
        + "; 评分由结对调整给定 "
        + chosen["score"].astype(str)
        + " / score set by override "
        + chosen["score"].astype(str),
    )
    text = text.where(~chosen["fixed"].astype(bool), text + "; 指定结对 / fixed by planner")
    cross = chosen["cross_province"].astype(bool)
    text = text.where(~cross, text + "; 跨省 / cross-province")
    return text.to_numpy(dtype=object)


def _rules_table(
    inputs: PairingInputs,
    model: PairingModel,
    x: BoolArray,
    used: IntArray,
    assigned: IntArray,
    quota_used: IntArray,
) -> pd.DataFrame:
    orgs, targets, quotas, cand = (
        inputs.organizations,
        inputs.targets,
        inputs.quotas,
        inputs.candidates,
    )
    fixed = cand[model.fixed]
    frames = [
        pd.DataFrame(
            {
                "rule": "capacity",
                "subject": orgs["org"].to_numpy(dtype=object),
                "limit": model.capacity,
                "used": used,
            }
        ),
        pd.DataFrame(
            {
                "rule": "partners_per_target",
                "subject": targets["target"].to_numpy(dtype=object),
                "limit": model.need,
                "used": assigned.astype(np.int64),
            }
        ),
        pd.DataFrame(
            {
                "rule": "quota",
                "subject": (quotas["province"] + ":" + quotas["group"]).to_numpy(dtype=object),
                "limit": model.limit,
                "used": quota_used.astype(np.int64),
            }
        ),
        pd.DataFrame(
            {
                "rule": "fixed",
                "subject": (fixed["org"] + "→" + fixed["target"]).to_numpy(dtype=object),
                "limit": np.ones(len(fixed), np.int64),
                "used": x[model.fixed].astype(np.int64),
            }
        ),
    ]
    table = (
        pd.concat([f for f in frames if len(f)], ignore_index=True)
        if any(len(f) for f in frames)
        else pd.DataFrame(columns=["rule", "subject", "limit", "used"])
    )
    table = table.astype({"limit": np.int64, "used": np.int64})
    table.insert(1, "label", table["rule"].map(RULES))
    table["at_limit"] = table["used"] >= table["limit"]
    return table


# ---------------------------------------------------------------------------------------------
# invariants


def check_pairing_invariants(scenario: Scenario, result: PairingResult) -> list[str]:
    """Every rule the returned plan must keep, checked from the scenario (empty list: all kept)."""
    problems: list[str] = []
    if result.report.status in ("infeasible", "not_solved"):
        if len(result.pairs):
            problems.append(f"a {result.report.status} result lists pairs")
        return problems
    inputs = build_candidates(scenario)
    pairs = result.pairs
    cand = inputs.candidates
    key = ["org", "target"]
    if pairs.duplicated(key).any():
        problems.append("a pair appears twice")
    merged = pairs[key].merge(cand, on=key, how="left", indicator=True)
    outside = merged[merged["_merge"] == "left_only"]
    for org, target in outside[key].itertuples(index=False):
        problems.append(f"pair {org}→{target} is not an eligible candidate")
    if len(inputs.forbidden):
        banned = pairs[key].merge(inputs.forbidden, on=key)
        for org, target in banned.itertuples(index=False):
            problems.append(f"pair {org}→{target} is forbidden")
    load = merged.loc[merged["_merge"] == "both"].groupby("org")["load"].sum()
    capacity = dict(zip(inputs.organizations["org"], inputs.organizations["capacity"], strict=True))
    for org, used in load.items():
        if int(used) > int(capacity.get(str(org), 0)):
            problems.append(f"{org} uses {int(used)} load units, capacity {capacity.get(str(org))}")
    count = pairs.groupby("target").size()
    need = inputs.targets.set_index("target")["partners_needed"]
    for target, n in count.items():
        if int(n) > int(need.get(target, 0)):
            problems.append(f"{target} has {n} partners, needs {need.get(target, 0)}")
    table = result.targets.set_index("target")
    for target, row in table.iterrows():
        if int(row["assigned"]) != int(count.get(target, 0)):
            problems.append(
                f"{target}: assigned {row['assigned']} but {count.get(target, 0)} pairs"
            )
        if int(row["assigned"]) + int(row["shortfall"]) != int(need.get(target, -1)):
            problems.append(f"{target}: assigned + shortfall ≠ partners needed")
        if int(row["shortfall"]) > 0 and not row["reason_code"]:
            problems.append(f"{target}: short without a reason")
    quotas = inputs.quotas
    for province, place, group, limit in zip(
        quotas["province"], quotas["place"], quotas["group"], quotas["limit"], strict=True
    ):
        cross = group == "cross_province"
        inside = merged[
            (merged["target_province"] == province) & (merged["cross_province"] == cross)
        ]
        if len(inside) > int(limit):
            problems.append(f"quota {place} {group}: {len(inside)} > {limit}")
    fixed = cand.loc[cand["fixed"], key]
    missing = fixed.merge(pairs[key], on=key, how="left", indicator=True)
    for org, target in missing.loc[missing["_merge"] == "left_only", key].itertuples(index=False):
        problems.append(f"fixed pair {org}→{target} is missing")
    report = result.report
    if report.objectives:
        w = float((table["priority"] * table["shortfall"]).sum())
        if w != report.objectives.get("weighted_shortfall"):
            problems.append("reported weighted shortfall differs from the targets table")
        if float(pairs["score"].sum()) != report.objectives.get("score"):
            problems.append("reported score differs from the pairs table")
    return problems


# ---------------------------------------------------------------------------------------------
# audit export


def pairing_mps(scenario: Scenario) -> tuple[str, int]:
    """The whole pairing model (every candidate, no pruning) as an MPS text, and its M.

    One MIP with the lexicographic objective folded into ``minimise M·W − S`` (exact for the
    M of ``shortfall_multiplier`` taken over all candidates), so an auditor can re-solve it with
    any MIP solver: its optimum equals M·W* − S* of the plan.
    """
    model = model_arrays(build_candidates(scenario))
    multiplier = shortfall_multiplier(model, np.ones(model.n, dtype=bool), model.need)
    objective = np.concatenate(
        [-model.score.astype(float), (multiplier * model.priority).astype(float)]
    )
    mip, _, _ = _mip_model(model, objective, maximize=False, w_cap=None)
    mip.name = f"linkage pairing: {scenario.name}"
    return mip.export_to_mps_string(), multiplier
