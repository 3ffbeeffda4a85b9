"""p-median: the ``p`` new sites with the least total weighted travel time.

A demand point's fallback is its nearest existing facility or, with ``unserved_s``, staying
unserved at that cost; only candidates nearer than the fallback enter the model, and demand
points with the same (candidate, time) sets and fallback are merged (`MedianProblem`). A greedy
+ fast interchange search and a Lagrangian relaxation (Beasley 1993) give the heuristic answer,
a lower bound and candidates provably closed or open; the exact method solves the strong MIP
on what the bound leaves open, warm-started with the best solution found.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import sparse

from emgis.shelters.siting.check import _checked
from emgis.shelters.siting.highs import Model, SolveResult
from emgis.shelters.siting.matrix import _entries, _group_rows, _nearest, _prep
from emgis.shelters.siting.result import SitingResult, _finish, _gap
from emgis.shelters.siting.solve import SolveOptions, _coo_rows, _run

_INF = np.inf
# subgradient settings of `_pmedian_lagrange`: deflection weight, iterations without a better
# bound before the step halves
_DEFLECT = 0.0
_STALL = 60


@dataclass(frozen=True)
class MedianProblem:
    """The p-median on demand groups: open ``p`` columns of ``times``; each group goes to its
    nearest open site or its fallback; the objective adds ``offset``."""

    times: sparse.csr_array  # groups × candidates, seconds (only pairs nearer than the fallback)
    group_weight: np.ndarray
    fallback: np.ndarray  # per group: the nearest existing site or the unserved cost (or inf)
    p: int
    offset: float  # the cost of demand points fixed at their fallback

    @property
    def n_groups(self) -> int:
        """Number of demand groups (rows)."""
        return int(self.times.shape[0])

    @property
    def n_cand(self) -> int:
        """Number of candidates (columns)."""
        return int(self.times.shape[1])


@dataclass
class LagrangeResult:
    """What `_pmedian_lagrange` found (objectives without ``offset``)."""

    lower_bound: float
    upper_bound: float  # the best solution's cost
    selection: np.ndarray  # the best solution: bool per candidate
    fix0: np.ndarray  # candidates closed in every solution better than the best one
    fix1: np.ndarray  # candidates open in every such solution


def p_median(times: Any, weights: ArrayLike | None, p: int, *, existing: ArrayLike = (),
             allowed: ArrayLike | None = None, unserved_s: float | None = None,
             method: str = "exact", options: SolveOptions | None = None) -> SitingResult:
    """p-median: ``p`` new sites minimising total weighted travel time.

    Assignment variables exist only for the stored (reachable) pairs. A demand point whose
    nearest existing facility is at ``t0`` only needs candidates nearer than ``t0``. With
    ``unserved_s`` a demand point may stay unassigned at that cost per unit weight (use it
    when ``p`` sites cannot reach everyone); without it every demand point some site can reach
    must be assigned. Demand points no site can reach are in ``unreachable`` and cost nothing.
    """
    t0 = time.perf_counter()
    options = options or SolveOptions()
    inst = _prep(times, weights, existing, allowed)
    n_demand, n_all = inst.times.shape
    weight, new_ok = inst.weights, inst.new_ok
    pen = np.full(n_demand, _INF if unserved_s is None else float(unserved_s))
    fallback = _nearest(inst.times, inst.is_existing, pen)  # nearest existing or unserved cost
    rows, cols, secs = _entries(inst.times)
    usable = new_ok[cols] | inst.is_existing[cols]
    reach = np.zeros(n_demand, dtype=bool)
    reach[rows[usable]] = True
    keep = new_ok[cols] & (secs < fallback[rows])
    rows, cols, secs = rows[keep], cols[keep], secs[keep]
    cand = np.flatnonzero(new_ok)
    colpos = np.full(n_all, -1, dtype=np.int64)
    colpos[cand] = np.arange(cand.size)
    has = np.zeros(n_demand, dtype=bool)
    has[rows] = True
    fixed = ~has & np.isfinite(fallback)  # cost fixed at the fallback
    const = float((weight[fixed] * fallback[fixed]).sum())
    groups = _group_rows(rows, cols, n_all, secs=secs,
                         extra=np.where(np.isfinite(fallback), fallback, -1.0))
    n_groups = groups.n_groups
    on_rep, group_rows = groups.on_reps(rows, n_demand)
    group_times = sparse.csr_array((secs[on_rep], (group_rows, colpos[cols[on_rep]])),
                                   shape=(n_groups, cand.size))
    group_times.sort_indices()
    p_new = int(min(p, cand.size))
    problem = MedianProblem(group_times, groups.total(weight), fallback[groups.reps], p_new,
                            const)
    n_entries = group_times.nnz
    build = time.perf_counter() - t0

    t1 = time.perf_counter()
    budget = None if options.time_limit_s is None else 0.3 * options.time_limit_s
    sel, heur_value = _pmedian_local(problem, time_budget=budget)
    lag = _pmedian_lagrange(problem, sel, heur_value, time_budget=budget,
                            tol=options.mip_rel_gap * 0.5)
    sel, heur_value = lag.selection, lag.upper_bound
    heur_s = time.perf_counter() - t1
    lb_x, ub_x = np.zeros(cand.size), np.ones(cand.size)
    lb_x[lag.fix1] = 1.0
    ub_x[lag.fix0] = 0.0
    lbound = lag.lower_bound + const
    if method == "heuristic" or _gap(heur_value + const, lbound) <= options.mip_rel_gap:
        if method not in ("heuristic", "exact"):
            raise ValueError(f"method={method!r}: use 'exact' or 'heuristic'")
        status = "heuristic" if method == "heuristic" else "optimal"
        dims = (cand.size + n_entries, n_groups + n_entries + 1, 3 * n_entries)
        solved = SolveResult(status, None, heur_value + const, lbound, 0.0, dims)
    else:
        t2 = time.perf_counter()
        mdl, start = _pmedian_model(problem, lb_x, ub_x, sel if options.warm_start else None)
        build += time.perf_counter() - t2
        limit = options.time_limit_s
        left = None if limit is None else max(0.1, limit - (time.perf_counter() - t0))
        solved = _run(mdl, "exact", start, heur_value + const,
                      replace(options, time_limit_s=left))
        if np.isfinite(lbound) and (not np.isfinite(solved.bound) or lbound > solved.bound):
            solved = replace(solved, bound=lbound)
        if solved.x is not None and heur_value + const < solved.objective:
            # the heuristic is better than HiGHS' incumbent
            solved = replace(solved, x=None, objective=heur_value + const)
    chosen_new = cand[solved.x[:cand.size] > 0.5] if solved.x is not None else cand[sel]
    res = _finish("p_median", method, solved, chosen_new, inst.existing, p_new, build_s=build,
                  heuristic_s=heur_s)
    res.n_groups = n_groups
    res.n_fixed = int(lag.fix0.size + lag.fix1.size)
    res.unreachable = np.flatnonzero(~reach)
    res.assignment, unserved = _nearest_assignment(inst.times, res.chosen, unserved_s)
    res.unserved_weight = float(weight[unserved & reach].sum())
    res.uncovered = np.flatnonzero(unserved)
    return _checked(res, inst, p=p, unserved_s=unserved_s)


def _nearest_assignment(times: sparse.csr_array, chosen: np.ndarray,
                        unserved_s: float | None) -> tuple[sparse.csr_array, np.ndarray]:
    """Each demand point to its nearest chosen site (within ``unserved_s``).

    Returns the demand × candidate 0/1 assignment and a bool per demand point: unserved.
    """
    n_demand, n_all = times.shape
    rows, cols, secs = _entries(times)
    is_open = np.zeros(n_all, dtype=bool)
    is_open[chosen] = True
    keep = is_open[cols]
    if unserved_s is not None:
        keep &= secs <= unserved_s
    rows, cols, secs = rows[keep], cols[keep], secs[keep]
    order = np.lexsort((cols, secs, rows))
    rows, cols = rows[order], cols[order]
    first = np.r_[True, rows[1:] != rows[:-1]] if rows.size else np.zeros(0, bool)
    rows, cols = rows[first], cols[first]
    assignment = sparse.csr_array((np.ones(rows.size), (rows, cols)), shape=(n_demand, n_all))
    served = np.zeros(n_demand, dtype=bool)
    served[rows] = True
    return assignment, ~served


# --- heuristics --------------------------------------------------------------------------------

def _pmedian_local(problem: MedianProblem, time_budget: float | None = None,
                   init: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Greedy + fast interchange for ``problem``: (bool per candidate, cost without offset)."""
    t0 = time.perf_counter()
    n_groups, n_cand = problem.times.shape
    weight, fallback, p = problem.group_weight, problem.fallback, problem.p
    rows, cols, secs = _entries(problem.times)
    sel = np.zeros(n_cand, dtype=bool)
    # rows with no finite fallback must be served: treat the missing fallback as a large cost
    hard = float(secs.max() * 10 + 1) if secs.size else 1.0
    base = np.where(np.isfinite(fallback), fallback, hard)
    dist = base.copy()
    if init is not None:
        sel = init.copy()
        np.minimum.at(dist, rows[sel[cols]], secs[sel[cols]])
    for _ in range(min(p, n_cand) - int(sel.sum())):
        gain = np.bincount(cols, weights=weight[rows] * np.maximum(0.0, dist[rows] - secs),
                           minlength=n_cand)
        gain[sel] = -1
        j = int(np.argmax(gain))
        if gain[j] < 0:
            break
        sel[j] = True
        on_j = cols == j
        np.minimum.at(dist, rows[on_j], secs[on_j])

    def state() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per group: nearest open time, its site (-1: the fallback), second nearest time."""
        on_open = sel[cols]
        rr, cc, tt = rows[on_open], cols[on_open], secs[on_open]
        order = np.lexsort((tt, rr))
        rr, cc, tt = rr[order], cc[order], tt[order]
        d1 = base.copy()
        a1 = np.full(n_groups, -1)
        d2 = base.copy()
        first = np.r_[True, rr[1:] != rr[:-1]] if rr.size else np.zeros(0, bool)
        i1 = np.flatnonzero(first)
        better = tt[i1] < d1[rr[i1]]
        d1[rr[i1[better]]] = tt[i1[better]]
        a1[rr[i1[better]]] = cc[i1[better]]
        # second entry of rows having >= 2 open entries
        if rr.size:
            has2 = np.r_[rr[1:] == rr[:-1], False] & first
            sec = np.flatnonzero(has2) + 1
            d2v = np.minimum(tt[sec], base[rr[sec]])
            d2[rr[sec]] = d2v
        # rows whose nearest is the fallback: d2 irrelevant (a1 = -1)
        return d1, a1, d2

    for _ in range(20 * max(p, 1)):
        if time_budget is not None and time.perf_counter() - t0 > time_budget:
            break
        opened = np.flatnonzero(sel)
        if opened.size == 0 or opened.size == n_cand:
            break
        d1, a1, d2 = state()
        pos = np.full(n_cand, -1)
        pos[opened] = np.arange(opened.size)
        assigned = a1 >= 0
        loss = np.bincount(pos[a1[assigned]],
                           weights=weight[assigned] * (d2[assigned] - d1[assigned]),
                           minlength=opened.size)
        gain_in = np.bincount(cols, weights=weight[rows] * np.maximum(0.0, d1[rows] - secs),
                              minlength=n_cand)
        site_of = a1[rows]
        e = site_of >= 0
        corr = weight[rows[e]] * (np.maximum(0.0, d2[rows[e]] - secs[e])
                                  - np.maximum(0.0, d1[rows[e]] - secs[e]))
        correction = sparse.coo_array((corr, (cols[e], pos[site_of[e]])),
                                      shape=(n_cand, opened.size)).toarray()
        delta = gain_in[:, None] + correction - loss[None, :]
        delta[sel, :] = -np.inf
        k_in, j_out = np.unravel_index(int(np.argmax(delta)), delta.shape)
        if not delta[k_in, j_out] > 1e-9 * max(1.0, float(weight @ d1)):
            break
        sel[opened[j_out]], sel[k_in] = False, True
    d1, _, _ = state()
    return sel, float(weight @ d1)


def _pmedian_cost(entries: tuple[np.ndarray, np.ndarray, np.ndarray], weight: np.ndarray,
                  base: np.ndarray, is_open: np.ndarray) -> float:
    """The cost of opening ``is_open``: each row at its nearest open entry or ``base``."""
    rows, cols, secs = entries
    dist = base.copy()
    on_open = is_open[cols]
    np.minimum.at(dist, rows[on_open], secs[on_open])
    return float(weight @ dist)


def _pmedian_lagrange(problem: MedianProblem, sel: np.ndarray, upper: float, *,
                      time_budget: float | None = None, tol: float = 1e-7,
                      max_iter: int = 3000) -> LagrangeResult:
    """Lagrangian relaxation of the assignment rows (subgradient), as in Beasley (1993).

    Starts from the heuristic selection ``sel`` of cost ``upper``. Returns the best lower
    bound, the best solution seen (the Lagrangian open sets are evaluated as they come) and
    the candidates the bound proves closed (``fix0``) or open (``fix1``) in every solution
    better than the best one.
    """
    t0 = time.perf_counter()
    n_groups, n_cand = problem.times.shape
    weight, fallback, p = problem.group_weight, problem.fallback, problem.p
    entries = _entries(problem.times)
    rows, cols, secs = entries
    out = LagrangeResult(-np.inf, upper, sel.copy(), np.zeros(0, np.int64),
                         np.zeros(0, np.int64))
    if n_cand == 0 or p == 0 or n_groups == 0:
        return out
    has_fallback = np.isfinite(fallback)
    fallback_cost = np.where(has_fallback, weight * fallback, 0.0)
    entry_cost = weight[rows] * secs
    hard = float(secs.max() * 10 + 1) if secs.size else 1.0
    base = np.where(has_fallback, fallback, hard)
    d1 = base.copy()
    on_sel = sel[cols]
    np.minimum.at(d1, rows[on_sel], secs[on_sel])
    lam = weight * d1  # the cost of each row in the heuristic solution
    theta, stall, best_lb = 2.0, 0, -np.inf
    best_rho: np.ndarray | None = None  # the site values of the best bound
    dirn = np.zeros(n_groups)
    for it in range(max_iter):
        red = np.minimum(0.0, entry_cost - lam[rows])
        rho = np.bincount(cols, weights=red, minlength=n_cand)
        idx = np.argpartition(rho, p - 1)[:p] if p < n_cand else np.arange(n_cand)
        fall = np.where(has_fallback, np.minimum(0.0, fallback_cost - lam), 0.0)
        value = float(lam.sum() + rho[idx].sum() + fall.sum())
        is_open = np.zeros(n_cand, dtype=bool)
        is_open[idx] = True
        if best_lb + 1e-12 * max(1.0, abs(value)) < value:
            best_lb, best_rho, stall = value, rho.copy(), 0
        else:
            stall += 1
            if stall >= _STALL:
                theta, stall = theta / 2, 0
        if it % 5 == 0:
            cost = _pmedian_cost(entries, weight, base, is_open)
            if cost < out.upper_bound - 1e-12 * max(1.0, abs(cost)):
                out.upper_bound, out.selection = cost, is_open
        if _gap(out.upper_bound, best_lb) <= tol or theta < 1e-4:
            break
        if time_budget is not None and time.perf_counter() - t0 > time_budget:
            break
        covered = np.bincount(rows, weights=((red < 0) & is_open[cols]).astype(float),
                              minlength=n_groups)
        subgrad = 1.0 - covered - (has_fallback & (fallback_cost - lam < 0))
        if float(subgrad @ subgrad) == 0:
            break
        dirn = subgrad + _DEFLECT * dirn  # deflected subgradient: damps the zig-zag
        nrm = float(dirn @ dirn)
        lam = lam + theta * (out.upper_bound - value) / nrm * dirn
    out.lower_bound = best_lb
    if best_rho is not None:
        # polish the Lagrangian open set of the best bound with the interchange search
        init = np.zeros(n_cand, dtype=bool)
        init[np.argsort(best_rho, kind="stable")[:p]] = True
        sel2, cost2 = _pmedian_local(problem, time_budget=time_budget, init=init)
        if cost2 < out.upper_bound - 1e-12 * max(1.0, abs(cost2)):
            out.upper_bound, out.selection = cost2, sel2
    if best_rho is not None and p < n_cand:
        order = np.argsort(best_rho, kind="stable")
        rp, rp1 = best_rho[order[p - 1]], best_rho[order[p]]
        margin = 1e-9 * max(1.0, abs(out.upper_bound))
        inside = np.zeros(n_cand, dtype=bool)
        inside[order[:p]] = True
        # closing j in the Lagrangian set costs rho_(p+1) - rho_j;
        # opening j outside costs rho_j - rho_(p)
        out.fix0 = np.flatnonzero(~inside & (best_lb + best_rho - rp > out.upper_bound + margin))
        out.fix1 = np.flatnonzero(inside & (best_lb + rp1 - best_rho > out.upper_bound + margin))
    return out


# --- exact -------------------------------------------------------------------------------------

def _pmedian_model(problem: MedianProblem, lb_x: np.ndarray, ub_x: np.ndarray,
                   sel: np.ndarray | None) -> tuple[Model, np.ndarray | None]:
    """The strong p-median MIP on group rows: x (one per candidate), z (one per entry), u
    (fallback per group that has one); and a MIP start from ``sel`` when it fits the bounds.

    Entries of candidates fixed closed (``ub_x == 0``) are left out.
    """
    n_groups, n_cand = problem.n_groups, problem.n_cand
    weight, fallback = problem.group_weight, problem.fallback
    rows, cols, secs = _entries(problem.times)
    keep = ub_x[cols] > 0
    rows, cols, secs = rows[keep], cols[keep], secs[keep]
    n_assign = secs.size
    fallback_groups = np.flatnonzero(np.isfinite(fallback))
    n_fallback = fallback_groups.size
    assign_col = n_cand + np.arange(n_assign)
    fallback_col = n_cand + n_assign + np.arange(n_fallback)
    n_cols = n_cand + n_assign + n_fallback
    # rows: n_groups assignment rows (= 1), n_assign linking rows (z - x <= 0), 1 cardinality row
    parts = [
        (rows, assign_col, 1.0),
        (fallback_groups, fallback_col, 1.0),
        (n_groups + np.arange(n_assign), assign_col, 1.0),
        (n_groups + np.arange(n_assign), cols, -1.0),
        (np.full(n_cand, n_groups + n_assign), np.arange(n_cand), 1.0),
    ]
    a_matrix = _coo_rows(parts, n_groups + n_assign + 1, n_cols)
    cost = np.r_[np.zeros(n_cand), weight[rows] * secs,
                 weight[fallback_groups] * fallback[fallback_groups]]
    mdl = Model(c=cost, lb=np.r_[lb_x, np.zeros(n_assign + n_fallback)],
                ub=np.r_[ub_x, np.ones(n_assign + n_fallback)], A=a_matrix,
                rlo=np.r_[np.ones(n_groups), np.full(n_assign, -_INF), problem.p],
                rhi=np.r_[np.ones(n_groups), np.zeros(n_assign), problem.p],
                integer=np.r_[np.ones(n_cand, bool), np.zeros(n_assign + n_fallback, bool)],
                maximize=False, offset=problem.offset)
    if sel is None or np.any(sel & (ub_x == 0)) or np.any(~sel & (lb_x == 1)):
        return mdl, None
    # warm start: assign each group to its nearest selected site or the fallback
    start = np.zeros(n_cols)
    start[:n_cand] = sel
    best = np.full(n_groups, -1)
    best_time = np.where(np.isfinite(fallback), fallback, _INF)
    order = np.lexsort((secs, rows))
    on_sel = order[sel[cols[order]]]
    firsts = on_sel[np.r_[True, rows[on_sel][1:] != rows[on_sel][:-1]]] if on_sel.size else on_sel
    better = secs[firsts] < best_time[rows[firsts]]
    best[rows[firsts[better]]] = firsts[better]
    start[n_cand + best[best >= 0]] = 1.0
    fallback_pos = np.full(n_groups, -1)
    fallback_pos[fallback_groups] = np.arange(n_fallback)
    no_site = (best < 0) & (fallback_pos >= 0)
    start[n_cand + n_assign + fallback_pos[no_site]] = 1.0
    return mdl, start
