"""Compiled (numba) tabu search kernel of the GAP search in ``gap_search.py``.

Arrays follow :class:`linkage.solvers.gap_search.GapView`: ``cost`` and ``load`` are
(m + 1) × n with row m the dummy agent "unpaired", ``cap`` has m + 1 entries. ``dest`` is the
destination mask (m + 1) × n: where a job may be moved (allowed cells, possibly narrowed to a
candidate list); ``cand`` lists, per job, the agents where ``dest`` is True (-1 padded).

The search state lives in arrays owned by the caller, so a run can be cut into chunks (the
caller checks its clock and its ``stop`` callable between them) and goes on exactly where it
stopped: the result for a seed does not depend on where the chunks end. ``state`` (int64):
ITER, LAST_GAIN (iteration of the last new best), BEST_COST, RNG (a Park–Miller generator, so
a run needs no global random state).
"""

from __future__ import annotations

import numpy as np
from numba import njit

ITER, LAST_GAIN, BEST_COST, RNG, STATE_SIZE = 0, 1, 2, 3, 4
NO_COST = np.iinfo(np.int64).max
_MOD = 2_147_483_647
SHIFT, SWAP, EJECT, CHAIN, LONG = 0, 1, 2, 3, 4


@njit(cache=True, nogil=True)
def _rand(state: np.ndarray, lo: int, hi: int) -> int:  # pragma: no cover - compiled
    """A draw from [lo, hi] (Park–Miller minimal standard generator kept in state[RNG])."""
    state[RNG] = (state[RNG] * 48271) % _MOD
    return lo + state[RNG] % (hi - lo + 1)


@njit(cache=True, nogil=True)
def seed_state(seed: int) -> np.ndarray:  # pragma: no cover - compiled
    """A fresh search state for ``seed`` (no best yet)."""
    state = np.zeros(STATE_SIZE, np.int64)
    state[RNG] = 1 + (seed * 7919 + 12345) % (_MOD - 1)
    state[BEST_COST] = NO_COST
    return state


@njit(cache=True, nogil=True)
def _apply(
    load: np.ndarray,
    a: np.ndarray,
    used: np.ndarray,
    tabu: np.ndarray,
    kind: int,
    j: int,
    k: int,
    d: int,
    q: int,
    until: int,
    mark: bool,
    q2: int,
) -> None:  # pragma: no cover - compiled
    """Make a move. SHIFT: j to agent k. SWAP: jobs j and k exchange agents. EJECT: j to k's
    agent, k to agent d. CHAIN: j to k's agent, k to q's agent, q to agent d. LONG: j to k's
    agent, k to q's agent, q to q2's agent, q2 to agent d. With ``mark``, each moved job may
    not go back to the agent it left before iteration ``until``."""
    aj = a[j]
    if mark:
        tabu[aj, j] = until
    used[aj] -= load[aj, j]
    if kind == SHIFT:
        used[k] += load[k, j]
        a[j] = k
        return
    ak = a[k]
    if mark:
        tabu[ak, k] = until
    used[ak] += load[ak, j] - load[ak, k]
    a[j] = ak
    if kind == SWAP:
        used[aj] += load[aj, k]
        a[k] = aj
    elif kind == EJECT:
        used[d] += load[d, k]
        a[k] = d
    else:
        b = a[q]
        if mark:
            tabu[b, q] = until
        used[b] += load[b, k] - load[b, q]
        a[k] = b
        if kind == CHAIN:
            used[d] += load[d, q]
            a[q] = d
            return
        b2 = a[q2]
        if mark:
            tabu[b2, q2] = until
        used[b2] += load[b2, q] - load[b2, q2]
        a[q] = b2
        used[d] += load[d, q2]
        a[q2] = d


@njit(cache=True, nogil=True)
def tabu_chunk(
    cost: np.ndarray,
    load: np.ndarray,
    cap: np.ndarray,
    dest: np.ndarray,
    cand: np.ndarray,
    a: np.ndarray,
    used: np.ndarray,
    alpha: np.ndarray,
    tabu: np.ndarray,
    best: np.ndarray,
    state: np.ndarray,
    tenure_lo: int,
    tenure_hi: int,
    alpha_step: float,
    max_iterations: int,
    stall: int,
    chunk: int,
) -> bool:  # pragma: no cover - compiled
    """Up to ``chunk`` iterations of tabu search with strategic oscillation.

    Capacities are soft: the search minimises cost + Σ_i alpha[i]·(excess load of agent i),
    alpha[i] rising (× ``alpha_step``) while agent i is over its capacity and every alpha
    falling while the assignment is feasible. Each iteration makes the best non-tabu move of
    five kinds: a shift (one job to another agent), a swap (two jobs at different agents
    exchange them), an ejection (j goes to k's agent, which sends k on to its best destination),
    a chain of three (j goes to k's agent, k to q's agent, q on to its best destination) or of
    four (j to k's agent, k to q's agent, q to r's agent, r on to its best destination); the
    continuations of each job are tabulated once per iteration (best and second best, at
    different agents), so a chain costs no more to find than a swap, and a chain is taken only
    when its agents are all different (its value is then exact).
    Moving a job away from an agent forbids it to go back for a tenure drawn in [tenure_lo,
    tenure_hi]; a tabu move is still allowed when it gives a feasible assignment cheaper than
    ``best``, and any feasible neighbour cheaper than ``best`` becomes ``best`` even when the
    search moves elsewhere. Returns True when the run is over (iteration cap, ``stall``
    iterations without a new best, or no move left)."""
    m1, n = cost.shape
    width = cand.shape[1]
    ex = np.empty(m1, np.int64)
    start = np.empty(m1 + 1, np.int64)  # jobs of agent i: members[start[i]:start[i + 1]]
    members = np.empty(n, np.int64)
    fill = np.empty(m1, np.int64)
    spare = np.empty(m1, np.int64)  # scratch loads when a neighbour is written to best
    # per job k: best and second best destination (arrival side only: value, agent, excess)
    v1 = np.empty(n)
    v2 = np.empty(n)
    d1 = np.empty(n, np.int64)
    d2 = np.empty(n, np.int64)
    x1 = np.empty(n, np.int64)
    x2 = np.empty(n, np.int64)
    # per job k: best and second best (at another agent) two-step continuation "k goes to
    # b = a[q], which sends q on to its best destination other than a[k]"
    w1 = np.empty(n)
    w2 = np.empty(n)
    wq1 = np.empty(n, np.int64)
    wq2 = np.empty(n, np.int64)
    wd1 = np.empty(n, np.int64)
    wd2 = np.empty(n, np.int64)
    wx1 = np.empty(n, np.int64)
    wx2 = np.empty(n, np.int64)
    # per job k: best and second best three-step continuation "k goes to b = a[q], q goes to
    # a[q2], q2 on to agent zd" (agents all distinct, none a[k])
    z1 = np.empty(n)
    z2 = np.empty(n)
    zq1 = np.empty(n, np.int64)
    zq2 = np.empty(n, np.int64)
    zr1 = np.empty(n, np.int64)
    zr2 = np.empty(n, np.int64)
    zd1 = np.empty(n, np.int64)
    zd2 = np.empty(n, np.int64)
    zx1 = np.empty(n, np.int64)
    zx2 = np.empty(n, np.int64)
    for _ in range(chunk):
        it = state[ITER]
        if it >= max_iterations or it - state[LAST_GAIN] >= stall:
            return True
        it += 1
        state[ITER] = it
        incumbent = state[BEST_COST]
        total_cost = 0
        total_ex = 0
        for j in range(n):
            total_cost += cost[a[j], j]
        for i in range(m1):
            ex[i] = max(used[i] - cap[i], 0)
            total_ex += ex[i]
            fill[i] = 0
        for j in range(n):
            fill[a[j]] += 1
        start[0] = 0
        for i in range(m1):
            start[i + 1] = start[i] + fill[i]
            fill[i] = start[i]
        for j in range(n):
            members[fill[a[j]]] = j
            fill[a[j]] += 1
        record = incumbent  # cheapest feasible neighbour so far (must beat the best)
        r_kind = -1
        r_j = -1
        r_k = -1
        r_d = -1
        r_q = -1
        r_r = -1
        best_val = np.inf
        kind = -1
        bj = -1
        bk = -1
        bd = -1
        bq = -1
        br = -1
        # shifts, and each job's two best non-tabu destinations (arrival side only)
        for j in range(n):
            aj = a[j]
            cj = cost[aj, j]
            leave = max(used[aj] - load[aj, j] - cap[aj], 0) - ex[aj]
            v1[j] = np.inf
            v2[j] = np.inf
            d1[j] = -1
            d2[j] = -1
            for t in range(width):
                i = cand[j, t]
                if i < 0:
                    break
                if i == aj:
                    continue
                arrive = max(used[i] + load[i, j] - cap[i], 0) - ex[i]
                dc = cost[i, j] - cj
                feasible = total_ex + arrive + leave == 0
                if feasible and total_cost + dc < record:
                    record = total_cost + dc
                    r_kind, r_j, r_k = SHIFT, j, i
                is_tabu = tabu[i, j] > it
                if not is_tabu:
                    v = dc + alpha[i] * arrive
                    if v < v1[j]:
                        v2[j], d2[j], x2[j] = v1[j], d1[j], x1[j]
                        v1[j], d1[j], x1[j] = v, i, arrive
                    elif v < v2[j]:
                        v2[j], d2[j], x2[j] = v, i, arrive
                val = dc + alpha[i] * arrive + alpha[aj] * leave
                if val >= best_val:
                    continue
                if is_tabu and not (feasible and total_cost + dc < incumbent):
                    continue
                best_val = val
                kind, bj, bk = SHIFT, j, i
        # two-step continuations: k goes to b = a[q] (q leaves b), q to its best destination
        for k in range(n):
            ak = a[k]
            w1[k] = np.inf
            w2[k] = np.inf
            wq1[k] = -1
            wq2[k] = -1
            for t in range(width):
                b = cand[k, t]
                if b < 0:
                    break
                if b == ak or tabu[b, k] > it:
                    continue
                enter = cost[b, k] - cost[ak, k]
                for s in range(start[b], start[b + 1]):
                    q = members[s]
                    if d1[q] != ak:
                        dq, vq, xq = d1[q], v1[q], x1[q]
                    else:
                        dq, vq, xq = d2[q], v2[q], x2[q]
                    if dq < 0:
                        continue
                    xb = max(used[b] + load[b, k] - load[b, q] - cap[b], 0) - ex[b]
                    w = enter + alpha[b] * xb + vq
                    if w < w1[k]:
                        if wq1[k] >= 0 and a[wq1[k]] != b:
                            w2[k], wq2[k], wd2[k], wx2[k] = w1[k], wq1[k], wd1[k], wx1[k]
                        w1[k], wq1[k], wd1[k], wx1[k] = w, q, dq, xb + xq
                    elif w < w2[k] and b != a[wq1[k]]:
                        w2[k], wq2[k], wd2[k], wx2[k] = w, q, dq, xb + xq
        # three-step continuations: k goes to b = a[q], q continues as in w
        for k in range(n):
            ak = a[k]
            z1[k] = np.inf
            z2[k] = np.inf
            zq1[k] = -1
            zq2[k] = -1
            for t in range(width):
                b = cand[k, t]
                if b < 0:
                    break
                if b == ak or tabu[b, k] > it:
                    continue
                enter = cost[b, k] - cost[ak, k]
                for s in range(start[b], start[b + 1]):
                    q = members[s]
                    r, rd, rw, rx = wq1[q], wd1[q], w1[q], wx1[q]
                    if r >= 0 and (a[r] == ak or rd == ak):
                        r, rd, rw, rx = wq2[q], wd2[q], w2[q], wx2[q]
                        if r >= 0 and (a[r] == ak or rd == ak):
                            r = -1
                    if r < 0:
                        continue
                    xb = max(used[b] + load[b, k] - load[b, q] - cap[b], 0) - ex[b]
                    z = enter + alpha[b] * xb + rw
                    if z < z1[k]:
                        if zq1[k] >= 0 and a[zq1[k]] != b:
                            z2[k], zq2[k], zr2[k], zd2[k], zx2[k] = (
                                z1[k],
                                zq1[k],
                                zr1[k],
                                zd1[k],
                                zx1[k],
                            )
                        z1[k], zq1[k], zr1[k], zd1[k], zx1[k] = z, q, r, rd, xb + rx
                    elif z < z2[k] and b != a[zq1[k]]:
                        z2[k], zq2[k], zr2[k], zd2[k], zx2[k] = z, q, r, rd, xb + rx
        # swaps, ejections and chains: j goes to b = a[k]
        for j in range(n):
            aj = a[j]
            cj = cost[aj, j]
            lj = load[aj, j]
            leave = max(used[aj] - lj - cap[aj], 0) - ex[aj]
            leave_val = alpha[aj] * leave
            for t in range(width):
                b = cand[j, t]
                if b < 0:
                    break
                if b == aj:
                    continue
                j_tabu = tabu[b, j] > it
                enter = cost[b, j] - cj
                for s in range(start[b], start[b + 1]):
                    k = members[s]
                    arrive = max(used[b] + load[b, j] - load[b, k] - cap[b], 0) - ex[b]
                    head = enter + leave_val + alpha[b] * arrive
                    if not j_tabu:
                        # ejection: k on to its best destination other than a[j]
                        if d1[k] != aj:
                            dk, vk, xk = d1[k], v1[k], x1[k]
                        else:
                            dk, vk, xk = d2[k], v2[k], x2[k]
                        if dk >= 0:
                            if total_ex + leave + arrive + xk == 0:
                                value = total_cost + enter + cost[dk, k] - cost[b, k]
                                if value < record:
                                    record = value
                                    r_kind, r_j, r_k, r_d = EJECT, j, k, dk
                            if head + vk < best_val:
                                best_val = head + vk
                                kind, bj, bk, bd = EJECT, j, k, dk
                        # chain: k on to a[q], q on to its best destination (neither a[j])
                        q, wd, wk, wx = wq1[k], wd1[k], w1[k], wx1[k]
                        if q >= 0 and (a[q] == aj or wd == aj):
                            q, wd, wk, wx = wq2[k], wd2[k], w2[k], wx2[k]
                            if q >= 0 and (a[q] == aj or wd == aj):
                                q = -1
                        if q >= 0:
                            if total_ex + leave + arrive + wx == 0:
                                bq_ = a[q]
                                value = (
                                    total_cost
                                    + enter
                                    + cost[bq_, k]
                                    - cost[b, k]
                                    + cost[wd, q]
                                    - cost[bq_, q]
                                )
                                if value < record:
                                    record = value
                                    r_kind, r_j, r_k, r_d, r_q = CHAIN, j, k, wd, q
                            if head + wk < best_val:
                                best_val = head + wk
                                kind, bj, bk, bd, bq = CHAIN, j, k, wd, q
                        # long chain: k on to a[q], q to a[r], r on to zd (none a[j])
                        q, r, zd, zk, zx = zq1[k], zr1[k], zd1[k], z1[k], zx1[k]
                        if q >= 0 and (a[q] == aj or a[r] == aj or zd == aj):
                            q, r, zd, zk, zx = zq2[k], zr2[k], zd2[k], z2[k], zx2[k]
                            if q >= 0 and (a[q] == aj or a[r] == aj or zd == aj):
                                q = -1
                        if q >= 0:
                            if total_ex + leave + arrive + zx == 0:
                                bq_ = a[q]
                                br_ = a[r]
                                value = (
                                    total_cost
                                    + enter
                                    + cost[bq_, k]
                                    - cost[b, k]
                                    + cost[br_, q]
                                    - cost[bq_, q]
                                    + cost[zd, r]
                                    - cost[br_, r]
                                )
                                if value < record:
                                    record = value
                                    r_kind, r_j, r_k, r_d, r_q, r_r = LONG, j, k, zd, q, r
                            if head + zk < best_val:
                                best_val = head + zk
                                kind, bj, bk, bd, bq, br = LONG, j, k, zd, q, r
                    # swap: k goes to a[j] (each pair once)
                    if k <= j or not dest[aj, k]:
                        continue
                    dc = enter + cost[aj, k] - cost[b, k]
                    back = max(used[aj] - lj + load[aj, k] - cap[aj], 0) - ex[aj]
                    feasible = total_ex + back + arrive == 0
                    if feasible and total_cost + dc < record:
                        record = total_cost + dc
                        r_kind, r_j, r_k = SWAP, j, k
                    val = dc + alpha[aj] * back + alpha[b] * arrive
                    if val >= best_val:
                        continue
                    if (j_tabu or tabu[aj, k] > it) and not (
                        feasible and total_cost + dc < incumbent
                    ):
                        continue
                    best_val = val
                    kind, bj, bk = SWAP, j, k
        if r_kind >= 0:  # a feasible neighbour beats the best: keep it
            best[:] = a
            spare[:] = used
            _apply(load, best, spare, tabu, r_kind, r_j, r_k, r_d, r_q, 0, False, r_r)
            state[BEST_COST] = record
            state[LAST_GAIN] = it
        if kind < 0:
            return True
        until = it + _rand(state, tenure_lo, tenure_hi)
        _apply(load, a, used, tabu, kind, bj, bk, bd, bq, until, True, br)
        over = False
        for i in range(m1):
            if used[i] > cap[i]:
                over = True
                alpha[i] = min(alpha[i] * alpha_step, 1e12)
        if not over:
            for i in range(m1):
                alpha[i] = max(alpha[i] / alpha_step, 1e-3)
            value = 0
            for j in range(n):
                value += cost[a[j], j]
            if value < state[BEST_COST]:
                state[BEST_COST] = value
                state[LAST_GAIN] = it
                best[:] = a
    return False
