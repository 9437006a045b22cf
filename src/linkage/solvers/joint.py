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
from scipy.optimize import linprog

from linkage.scenario.core import Scenario
from linkage.solvers import staffing as staffing_stage
from linkage.solvers import volunteers as volunteer_stage
from linkage.solvers.funds import funds_network
from linkage.solvers.needs import station_needs
from linkage.solvers.report import StageReport

STAGE = "joint"
SCALE_J = 1_000_000.0  # J is reported × 1e6 per term, so LP coefficients are not tiny
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


def solve_joint(
    scenario: Scenario,
    tables: dict[str, pd.DataFrame],
    reports: dict[str, StageReport],
    *,
    method: str = "highs-ipm",
) -> JointResult:
    """Solve the joint LP and compare it with the staged plan given by ``tables``/``reports``
    (the staffing, volunteers and funds stages must have run; ``pairs`` is used when present)."""
    started = time.perf_counter()
    pairs = tables.get("pairs")
    codes = station_needs(scenario)["region"].to_numpy(dtype=object)
    unlimited = pd.DataFrame({"region": codes, "assigned": np.full(len(codes), 1e9)})
    n_s = len(codes)

    sn = staffing_stage.staffing_network(scenario, pairs)
    vn = volunteer_stage.volunteer_network(scenario, unlimited)
    fn, _, _ = funds_network(scenario, unlimited, pairs)

    # arc offsets of the three networks in one variable vector
    n_a = (len(sn.tails), len(vn.tails), len(fn.tails))
    off = np.cumsum((0, *n_a))
    n_var = int(off[-1])
    eq = sp.block_diag(
        [
            _incidence(sn.tails, sn.heads, sn.n_nodes),
            _incidence(vn.tails, vn.heads, vn.n_nodes),
            _incidence(fn.tails, fn.heads, len(fn.supplies)),
        ],
        format="csr",
    )
    b_eq = np.concatenate([sn.supplies, vn.supplies, fn.supplies]).astype(float)
    upper = np.concatenate([sn.caps, vn.caps, fn.capacities]).astype(float)

    # assigned(s) in staffing units: local and dispatch arcs into station s
    kinds = staffing_stage.ARC_KINDS
    station0 = int(sn.n_nodes - 2 - sn.n_s)  # stations come right before the nodes F and T
    into: list[tuple[IntArray, IntArray]] = []
    for kind in ("local", "dispatch"):
        sl = _part(sn.bounds, kinds.index(kind))
        arcs = np.arange(sl.start, sl.stop, dtype=np.int64)
        into.append((arcs, sn.heads[sl] - station0))
    s_arc = np.concatenate([a for a, _ in into])
    s_station = np.concatenate([s for _, s in into])
    per_unit = 1.0 / staffing_stage.SCALE  # FTE per staffing unit

    policy = scenario.policy
    sup_sl = _part(vn.bounds, volunteer_stage.ARC_KINDS.index("supervised"))
    del_lo, del_hi = fn.bounds["delivery"]
    rows: list[sp.csr_matrix] = []
    for arc0, rate in (
        (off[1] + sup_sl.start, policy.volunteers.hours_per_supervisor * per_unit),
        (off[2] + del_lo, policy.funds.per_worker_yuan / policy.funds.unit_yuan * per_unit),
    ):
        # coupled arc(s) − rate × Σ staffing arcs into s ≤ 0, one row per station
        r = np.concatenate([np.arange(n_s), s_station])
        c = np.concatenate([arc0 + np.arange(n_s), off[0] + s_arc])
        v = np.concatenate([np.ones(n_s), -rate * np.ones(len(s_arc))])
        rows.append(sp.csr_matrix((v, (r, c)), shape=(n_s, n_var)))
    assert del_hi - del_lo == n_s and sup_sl.stop - sup_sl.start == n_s
    ub = sp.vstack(rows, format="csr")

    # objective: each term normalised by its all-unmet value, × SCALE_J
    cost = np.zeros(n_var)
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

    lp = linprog(
        cost,
        A_ub=ub,
        b_ub=np.zeros(ub.shape[0]),
        A_eq=eq,
        b_eq=b_eq,
        bounds=np.column_stack([np.zeros(n_var), upper]),
        method=method,
    )
    wall = time.perf_counter() - started
    size = {"variables": n_var, "constraints": int(eq.shape[0] + ub.shape[0])}
    staged = _staged_terms(tables, reports, sn, n_staff, n_vol, n_funds)
    if lp.status != 0:
        report = StageReport(
            STAGE,
            "lp_highs",
            "not_solved",
            {"staged": sum(staged.values())},
            {},
            float("inf"),
            wall,
            size["variables"],
            size["constraints"],
            f"HiGHS: {lp.message}",
        )
        empty = pd.DataFrame({"term": TERMS, "staged": [staged[t] for t in TERMS]})
        return JointResult(empty.assign(joint_lp=np.nan), report)
    x = np.asarray(lp.x)
    joint = {
        "staffing": float(cost[: off[1]] @ x[: off[1]]),
        "volunteers": float(cost[off[1] : off[2]] @ x[off[1] : off[2]]),
        "funds": float(cost[off[2] :] @ x[off[2] :]),
    }
    j_staged, j_lp = sum(staged.values()), float(lp.fun)
    gap = max(0.0, j_staged - j_lp) / j_staged if j_staged > 0 else 0.0
    terms = pd.DataFrame(
        {
            "term": list(TERMS),
            "staged": [staged[t] for t in TERMS],
            "joint_lp": [joint[t] for t in TERMS],
        }
    )
    report = StageReport(
        STAGE,
        "lp_highs",
        "optimal",
        {"staged": j_staged},
        {"staged": j_lp},
        gap,
        wall,
        size["variables"],
        size["constraints"],
        "J = Σ normalised unmet need (×1e6 per stage term); the bound is the joint LP optimum "
        "(pairs fixed), so the gap is an upper bound on what staging loses",
    )
    return JointResult(terms, report)


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
