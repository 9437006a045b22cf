"""The joint model: staffing, volunteers and funds in one LP, to measure what staging costs.

The stages run in order, each taking the previous one's result as fixed: staffing places the
social workers without knowing where volunteers wait for supervision or where money waits for
delivery. The joint model couples them. Its variables are the arc flows of the three stage
networks exactly as the stages build them (``staffing_network``, ``volunteer_network``,
``funds_network``), with the pairs of the pairing stage fixed (pairing is decided first, by the
policy's own lexicographic rule); the couplings replace the fixed capacities::

    supervised hours(s)  ≤ hours_per_supervisor × assigned(s)
    delivered units(s)   ≤ per_worker_yuan / unit_yuan × assigned(s)

with assigned(s) the staffing flow into station s from pools and dispatch (in FTE). The
volunteer and funds networks are built as if every station had unlimited staff (so every arc
exists) and the couplings do the limiting.

Objective. Each stage's primary objective, normalised by its value when nothing is met, summed::

    J = (P1·W1 + P2·W2) / N_staff + W_vol / N_vol + W_funds / N_funds

W1, W2 the priority-weighted first- and second-half staffing shortfall with the staffing
stage's own penalties P1, P2 (so the staged staffing plan is optimal for its term), W_vol the
priority-weighted volunteer shortfall hours, W_funds the funds stage's unfunded worth; N_* the
same sums with every need unmet. Distances, secondary in every stage, are left out.

Gap. The staged plan is a feasible point of the joint model (its supervision and delivery
capacities are floors of the couplings' right-hand sides), so J_joint ≤ J_staged. The joint
model is solved as an LP (HiGHS), a relaxation of the integral joint model, so

    gap = (J_staged − J_LP) / J_staged

is an upper bound on what staging loses against the best integral joint plan.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray
from ortools.graph.python import min_cost_flow
from scipy.optimize import linprog

from linkage.scenario.core import Scenario
from linkage.solvers import staffing as staffing_stage
from linkage.solvers import volunteers as volunteer_stage
from linkage.solvers.funds import VALUE_SCALE, funds_network
from linkage.solvers.needs import station_needs
from linkage.solvers.report import StageReport

STAGE = "joint"
SCALE_J = 1_000_000.0  # J is reported × 1e6 per term, so LP coefficients are not tiny
LP_LIMIT = 100_000  # variables up to which ``auto`` solves the joint LP exactly
TERMS = ("staffing", "volunteers", "funds")

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class JointResult:
    """The staged-vs-joint comparison: ``terms`` (term, staged, joint_lp, each ×1e6 of the
    normalised J) and the stage certificate (objective J_staged, bound J_LP, gap)."""

    terms: pd.DataFrame
    report: StageReport


def _incidence(tails: IntArray, heads: IntArray, n_nodes: int) -> sp.csr_matrix:
    """Node × arc matrix: +1 where an arc leaves a node, −1 where it enters."""
    n = len(tails)
    cols = np.arange(n, dtype=np.int64)
    data = np.concatenate([np.ones(n), -np.ones(n)])
    rows = np.concatenate([tails, heads])
    return sp.csr_matrix((data, (rows, np.concatenate([cols, cols]))), shape=(n_nodes, n))


def _part(bounds: Any, index: int) -> slice:
    return slice(int(bounds[index]), int(bounds[index + 1]))


@dataclass(frozen=True, eq=False)
class JointModel:
    """The three networks side by side, their costs in J and the coupling rows."""

    networks: tuple[
        tuple[IntArray, IntArray, IntArray, IntArray], ...
    ]  # tails, heads, caps, supplies
    cost: FloatArray  # per variable (all arcs of the three networks in order)
    offsets: IntArray  # first variable of each network, and the total
    s_arc: IntArray  # staffing arcs that assign workers to a station...
    s_station: IntArray  # ...and that station
    couple_arc: tuple[IntArray, IntArray]  # per station: volunteer supervised arc, funds delivery
    rates: tuple[float, float]  # hours, fund units per staffing unit
    n_s: int
    priority: IntArray  # per station
    norms: tuple[float, float, float]  # N_staff, N_vol, N_funds

    @property
    def n_var(self) -> int:
        return int(self.offsets[-1])


def joint_model(
    scenario: Scenario, pairs: pd.DataFrame | None
) -> tuple[JointModel, staffing_stage.StaffingNetwork]:
    """Build the joint model (and return the staffing network it was built from)."""
    codes = station_needs(scenario)["region"].to_numpy(dtype=object)
    unlimited = pd.DataFrame({"region": codes, "assigned": np.full(len(codes), 1e9)})
    n_s = len(codes)
    sn = staffing_stage.staffing_network(scenario, pairs)
    vn = volunteer_stage.volunteer_network(scenario, unlimited)
    fn, _, _ = funds_network(scenario, unlimited, pairs)
    networks = (
        (sn.tails, sn.heads, sn.caps, sn.supplies),
        (vn.tails, vn.heads, vn.caps, vn.supplies),
        (fn.tails, fn.heads, fn.capacities, fn.supplies),
    )
    off = np.cumsum((0, *(len(n[0]) for n in networks))).astype(np.int64)

    # assigned(s) in staffing units: local and dispatch arcs into station s
    kinds = staffing_stage.ARC_KINDS
    station0 = int(sn.n_nodes - 2 - sn.n_s)  # stations come right before the nodes F and T
    s_arc = np.concatenate(
        [
            np.arange(_part(sn.bounds, kinds.index(k)).start, _part(sn.bounds, kinds.index(k)).stop)
            for k in ("local", "dispatch")
        ]
    ).astype(np.int64)
    s_station = (sn.heads[s_arc] - station0).astype(np.int64)
    per_unit = 1.0 / staffing_stage.SCALE  # FTE per staffing unit
    policy = scenario.policy
    sup_sl = _part(vn.bounds, volunteer_stage.ARC_KINDS.index("supervised"))
    del_lo, del_hi = fn.bounds["delivery"]
    assert del_hi - del_lo == n_s and sup_sl.stop - sup_sl.start == n_s

    # objective: each term normalised by its all-unmet value, × SCALE_J
    cost = np.zeros(int(off[-1]))
    half1 = (sn.need + 1) // 2
    half2 = sn.need - half1
    n_staff = float((sn.priority * (sn.p1 * half1 + sn.p2 * half2)).sum())
    first = _part(sn.bounds, kinds.index("shortfall_first_half"))
    second = _part(sn.bounds, kinds.index("shortfall_second_half"))
    if n_staff > 0:
        cost[first] = sn.priority * sn.p1 * SCALE_J / n_staff
        cost[second] = sn.priority * sn.p2 * SCALE_J / n_staff
    n_vol = float((vn.d_prio * vn.need).sum())
    short_sl = _part(vn.bounds, volunteer_stage.ARC_KINDS.index("shortfall"))
    if n_vol > 0:
        cost[off[1] + short_sl.start : off[1] + short_sl.stop] = vn.d_prio * SCALE_J / n_vol
    n_funds = float((fn.worth * fn.segment_caps).sum())
    un_lo, un_hi = fn.bounds["unfunded"]
    if n_funds > 0:
        cost[off[2] + un_lo : off[2] + un_hi] = fn.worth.ravel() * SCALE_J / n_funds
    model = JointModel(
        networks=networks,
        cost=cost,
        offsets=off,
        s_arc=s_arc,
        s_station=s_station,
        couple_arc=(
            (off[1] + sup_sl.start + np.arange(n_s)).astype(np.int64),
            (off[2] + del_lo + np.arange(n_s)).astype(np.int64),
        ),
        rates=(
            policy.volunteers.hours_per_supervisor * per_unit,
            policy.funds.per_worker_yuan / policy.funds.unit_yuan * per_unit,
        ),
        n_s=n_s,
        priority=sn.priority,
        norms=(n_staff, n_vol, n_funds),
    )
    return model, sn


def _lp_bound(model: JointModel, method: str) -> tuple[float, FloatArray | None, str]:
    """The joint LP by HiGHS: (optimum, solution, message); optimum inf when not solved."""
    eq = sp.block_diag(
        [_incidence(t, h, len(sup)) for t, h, _, sup in model.networks], format="csr"
    )
    b_eq = np.concatenate([n[3] for n in model.networks]).astype(float)
    upper = np.concatenate([n[2] for n in model.networks]).astype(float)
    n_s, n_var = model.n_s, model.n_var
    rows = []
    for arcs, rate in zip(model.couple_arc, model.rates, strict=True):
        # coupled arc − rate × Σ staffing arcs into s ≤ 0, one row per station
        r = np.concatenate([np.arange(n_s), model.s_station])
        c = np.concatenate([arcs, model.offsets[0] + model.s_arc])
        v = np.concatenate([np.ones(n_s), -rate * np.ones(len(model.s_arc))])
        rows.append(sp.csr_matrix((v, (r, c)), shape=(n_s, n_var)))
    ub = sp.vstack(rows, format="csr")
    lp = linprog(
        model.cost,
        A_ub=ub,
        b_ub=np.zeros(ub.shape[0]),
        A_eq=eq,
        b_eq=b_eq,
        bounds=np.column_stack([np.zeros(n_var), upper]),
        method=method,
    )
    if lp.status != 0:
        return float("inf"), None, f"HiGHS: {lp.message}"
    return float(lp.fun), np.asarray(lp.x), "joint LP by HiGHS"


def _lagrangian_bound(
    model: JointModel,
    upper: float,
    start: tuple[FloatArray, FloatArray],
    iterations: int,
    time_limit_s: float,
) -> tuple[float, int]:
    """A lower bound on the joint LP from its Lagrangian dual: (best bound, iterations).

    Relaxing the couplings with multipliers λ (supervision) and μ (delivery) ≥ 0 leaves three
    independent min-cost flows: the volunteer supervised arc of s costs +λ_s, the funds delivery
    arc +μ_s, each staffing arc into s −(r_v·λ_s + r_f·μ_s). Their total optimum is a lower
    bound on the joint LP for any λ, μ ≥ 0. Costs are scaled by K and rounded for the integer
    flow solver; since every flow lies in its box, the rounded optimum is within
    E = Σ |cost − round(K·cost)/K| × capacity of the exact one, and the bound subtracts E.
    The multipliers follow Polyak subgradient steps towards ``upper`` (the staged J).
    """
    started = time.perf_counter()
    lam, mu = (np.array(m, dtype=float) for m in start)
    r_v, r_f = model.rates
    off = model.offsets
    scale = 1e6
    best = -np.inf
    theta, stale, done = 1.0, 0, 0
    for done in range(1, iterations + 1):
        cost = model.cost.copy()
        cost[model.couple_arc[0]] += lam
        cost[model.couple_arc[1]] += mu
        cost[off[0] + model.s_arc] -= (r_v * lam + r_f * mu)[model.s_station]
        whole = np.rint(cost * scale)
        value, error = 0.0, 0.0
        x = np.zeros(model.n_var, dtype=np.int64)
        for i, (tails, heads, caps, supplies) in enumerate(model.networks):
            part = slice(int(off[i]), int(off[i + 1]))
            flow = min_cost_flow.SimpleMinCostFlow()
            arcs = flow.add_arcs_with_capacity_and_unit_cost(
                tails, heads, caps, whole[part].astype(np.int64)
            )
            flow.set_nodes_supplies(np.arange(len(supplies), dtype=np.int64), supplies)
            if flow.solve() != flow.OPTIMAL:
                return best, done
            x[part] = flow.flows(arcs)
            value += flow.optimal_cost() / scale
            error += float((np.abs(cost[part] - whole[part] / scale) * caps).sum())
        bound = value - error
        if not np.isfinite(best) or bound > best + 1e-9 * max(1.0, abs(best)):
            best, stale = bound, 0
        else:
            stale += 1
            if stale >= 3:
                theta, stale = theta / 2, 0
        assigned = np.bincount(
            model.s_station, weights=x[off[0] + model.s_arc], minlength=model.n_s
        )
        g = x[model.couple_arc[0]] - r_v * assigned
        h = x[model.couple_arc[1]] - r_f * assigned
        norm = float(g @ g + h @ h)
        if norm == 0 or upper - best <= 1e-6 * max(1.0, abs(upper)):
            break
        if time.perf_counter() - started > time_limit_s:
            break
        step = theta * (upper - value) / norm
        lam = np.maximum(lam + step * g, 0.0)
        mu = np.maximum(mu + step * h, 0.0)
    return best, done


def solve_joint(
    scenario: Scenario,
    tables: dict[str, pd.DataFrame],
    reports: dict[str, StageReport],
    *,
    method: str = "auto",
    lp_limit: int = LP_LIMIT,
    iterations: int = 20,
    time_limit_s: float = 300.0,
) -> JointResult:
    """Bound the joint model and compare it with the staged plan in ``tables``/``reports``
    (the staffing, volunteers and funds stages must have run; ``pairs`` is used when present).

    ``method``: ``lp`` solves the joint LP exactly (HiGHS); ``lagrangian`` bounds it from its
    Lagrangian dual with three min-cost flows per iteration; ``auto`` takes the LP up to
    ``lp_limit`` variables, else the Lagrangian bound. Either way the bound is valid, so the
    gap is an upper bound on what staging loses.
    """
    started = time.perf_counter()
    model, sn = joint_model(scenario, tables.get("pairs"))
    staged = _staged_terms(tables, reports, sn, *model.norms)
    j_staged = sum(staged.values())
    use_lp = method == "lp" or (method == "auto" and model.n_var <= lp_limit)
    joint = {t: float("nan") for t in TERMS}
    if use_lp:
        bound, x, message = _lp_bound(model, "highs")
        if x is not None:
            off = model.offsets
            for i, term in enumerate(TERMS):
                part = slice(int(off[i]), int(off[i + 1]))
                joint[term] = float(model.cost[part] @ x[part])
        used = "lp_highs"
    else:
        start = _initial_multipliers(model, tables, scenario)
        bound, rounds = _lagrangian_bound(model, j_staged, start, iterations, time_limit_s)
        message = f"Lagrangian dual bound after {rounds} rounds of three min-cost flows"
        used = "lagrangian_flows"
    wall = time.perf_counter() - started
    solved = np.isfinite(bound)
    gap = max(0.0, j_staged - bound) / j_staged if (solved and j_staged > 0) else 0.0
    terms = pd.DataFrame(
        {
            "term": list(TERMS),
            "staged": [staged[t] for t in TERMS],
            "joint_lp": [joint[t] for t in TERMS],
        }
    )
    report = StageReport(
        STAGE,
        used,
        "optimal" if solved else "not_solved",
        {"staged": j_staged},
        {"staged": bound} if solved else {},
        gap if solved else float("inf"),
        wall,
        model.n_var,
        sum(len(n[3]) for n in model.networks) + 2 * model.n_s,
        message + "; J = Σ normalised unmet need (×1e6 per stage term), pairs fixed; the bound "
        "is a lower bound on the joint optimum, so the gap is an upper bound on what staging "
        "loses",
    )
    return JointResult(terms, report)


def _initial_multipliers(
    model: JointModel, tables: dict[str, pd.DataFrame], scenario: Scenario
) -> tuple[FloatArray, FloatArray]:
    """Prices of supervision and delivery from the staged plan: where a station's volunteer
    need is short for want of supervision, an hour of supervision is worth an hour of that
    shortfall; where money is short for want of delivery, a unit of delivery is worth a unit of
    the cheapest (last) utility segment."""
    codes = pd.Index(station_needs(scenario)["region"].to_numpy(dtype=object))
    lam = np.zeros(model.n_s)
    mu = np.zeros(model.n_s)
    _, n_vol, n_funds = model.norms
    demand = tables.get("volunteer_demand")
    if demand is not None and len(demand) and n_vol > 0:
        short = demand[demand["reason_code"] == "supervision_capacity"]
        at = codes.get_indexer(pd.Index(short["station"].to_numpy(dtype=object)))
        lam[at[at >= 0]] = model.priority[at[at >= 0]] * SCALE_J / n_vol
    funds = tables.get("fund_demand")
    if funds is not None and len(funds) and n_funds > 0:
        short = funds[funds["reason_code"] == "delivery_capacity"]
        at = codes.get_indexer(pd.Index(short["station"].to_numpy(dtype=object)))
        last = round(VALUE_SCALE * scenario.policy.funds.utility[-1][1])
        mu[at[at >= 0]] = model.priority[at[at >= 0]] * last * SCALE_J / n_funds
    return lam, mu


def _staged_terms(
    tables: dict[str, pd.DataFrame],
    reports: dict[str, StageReport],
    sn: staffing_stage.StaffingNetwork,
    n_staff: float,
    n_vol: float,
    n_funds: float,
) -> dict[str, float]:
    """The staged plan's value of each normalised term."""
    stations = tables["stations"]
    short = np.rint(stations["shortfall"].to_numpy(dtype=float) * staffing_stage.SCALE).astype(
        np.int64
    )
    half2 = sn.need - (sn.need + 1) // 2
    second = np.minimum(short, half2)  # the cheaper second half is left unmet first
    first = short - second
    w_staff = float((sn.priority * (sn.p1 * first + sn.p2 * second)).sum())
    w_vol = float(reports["volunteers"].objectives["weighted_shortfall_hours"])
    w_funds = float(reports["funds"].objectives["weighted_unmet"])
    return {
        "staffing": w_staff * SCALE_J / n_staff if n_staff > 0 else 0.0,
        "volunteers": w_vol * SCALE_J / n_vol if n_vol > 0 else 0.0,
        "funds": w_funds * SCALE_J / n_funds if n_funds > 0 else 0.0,
    }
