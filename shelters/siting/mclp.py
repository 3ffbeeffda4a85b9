"""Maximal covering (MCLP): the ``p`` new sites covering the most demand weight within the
standard.

Demand covered by an existing facility is a constant; dominated candidates are dropped and
demand points with the same covering candidates merged into weighted groups (`CoverProblem`).
A greedy + best-swap interchange search gives the heuristic answer. The exact method then
solves the LP relaxation, polishes its rounding, tries a RINS-style sub-MIP, fixes candidates
by reduced cost and solves the MIP that is left, rebuilt on the free candidates only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import sparse

from emgis.shelters.siting import highs
from emgis.shelters.siting.check import _checked
from emgis.shelters.siting.highs import Model, SolveResult
from emgis.shelters.siting.matrix import (
    _cover_entries,
    _group_rows,
    _prep,
    _undominated_columns,
    covered,
)
from emgis.shelters.siting.result import SitingResult, _finish, _gap
from emgis.shelters.siting.solve import SolveOptions, _coo_rows, _run

_INF = np.inf


@dataclass(frozen=True)
class CoverProblem:
    """Maximal covering on demand groups: open ``p`` columns of ``cover`` so that the rows they
    cover weigh the most; the objective adds ``offset`` (weight covered whatever is chosen)."""

    cover: sparse.csr_array  # groups × candidates, 0/1
    group_weight: np.ndarray
    p: int
    offset: float

    @property
    def n_cand(self) -> int:
        """Number of candidates (columns)."""
        return int(self.cover.shape[1])


@dataclass
class SubSolve:
    """A restricted MCLP's answer (`_mclp_sub`); ``selection`` None when HiGHS found none."""

    selection: np.ndarray | None  # bool per candidate of the full problem
    objective: float  # -inf without a selection
    status: str
    bound: float
    seconds: float
    dims: tuple[int, int, int]


@dataclass
class ExactCover:
    """`_mclp_exact`'s answer: the solve as the result reports it and the selection behind it."""

    solved: SolveResult  # x: the full model's columns; None when the heuristic stands
    selection: np.ndarray  # bool per candidate
    n_fixed: int  # candidates fixed by the reductions before the last MIP


def mclp(times: Any, weights: ArrayLike | None, standard_s: float, p: int, *,
         existing: ArrayLike = (), allowed: ArrayLike | None = None, method: str = "exact",
         options: SolveOptions | None = None) -> SitingResult:
    """Maximal covering location: ``p`` new sites covering the most weight within ``standard_s``.

    Demand covered by an existing facility counts in the objective and leaves the model;
    demand points with the same set of covering candidates are merged.
    """
    t0 = time.perf_counter()
    options = options or SolveOptions()
    inst = _prep(times, weights, existing, allowed)
    n_demand, n_all = inst.times.shape
    entries = _cover_entries(inst, standard_s)
    rows, cols = entries.rows, entries.cols
    # a candidate whose newly covered demand is a subset of another's is never needed
    new_ok = _undominated_columns(rows, cols, n_demand, inst.new_ok, int(p))
    keep = new_ok[cols]
    rows, cols = rows[keep], cols[keep]
    cand = np.flatnonzero(new_ok)
    colpos = np.full(n_all, -1, dtype=np.int64)
    colpos[cand] = np.arange(cand.size)
    groups = _group_rows(rows, cols, n_all)
    # group × candidate coverage from the representatives' entries
    on_rep, group_rows = groups.on_reps(rows, n_demand)
    cover = sparse.csr_array((np.ones(group_rows.size), (group_rows, colpos[cols[on_rep]])),
                             shape=(groups.n_groups, cand.size))
    p_new = int(min(p, cand.size))
    problem = CoverProblem(cover, groups.total(inst.weights), p_new,
                           offset=float(inst.weights[entries.by_existing].sum()))
    build = time.perf_counter() - t0

    t1 = time.perf_counter()
    sel, heur_value = _greedy_cover(
        problem, time_budget=None if options.time_limit_s is None else 0.3 * options.time_limit_s)
    heur_s = time.perf_counter() - t1
    mdl = _mclp_model(problem)
    build += time.perf_counter() - t1 - heur_s
    start = np.r_[sel.astype(float), np.minimum(1.0, cover @ sel.astype(float))]
    if method == "exact" and cand.size > p_new > 0:
        exact = _mclp_exact(mdl, problem, sel, heur_value + problem.offset, t0, options)
        solved, sel, n_fixed = exact.solved, exact.selection, exact.n_fixed
    else:
        n_fixed = 0
        solved = _run(mdl, method, start, heur_value + problem.offset, options)
    chosen_new = cand[solved.x[:cand.size] > 0.5] if solved.x is not None else cand[sel]
    res = _finish("mclp", method, solved, chosen_new, inst.existing, p_new, build_s=build,
                  heuristic_s=heur_s)
    res.n_groups = groups.n_groups
    res.n_fixed = n_fixed
    cov_all = covered(inst.times, res.chosen, standard_s)
    res.covered_weight = float(inst.weights[cov_all].sum())
    res.uncovered = np.flatnonzero(~cov_all)
    res.unreachable = np.flatnonzero(~entries.coverable)
    return _checked(res, inst, standard_s=standard_s, p=p)


# --- heuristic ---------------------------------------------------------------------------------

def _greedy_cover(problem: CoverProblem, init: np.ndarray | None = None,
                  time_budget: float | None = None) -> tuple[np.ndarray, float]:
    """Greedy + best-swap interchange for ``problem``: (bool per candidate, covered weight).

    The covered weight excludes ``problem.offset``. Dense BLAS products when the matrix is
    small enough (county scale), sparse ones otherwise.
    """
    t0 = time.perf_counter()
    cover = sparse.csr_array(problem.cover)
    weight, n_cand, p = problem.group_weight, problem.n_cand, problem.p
    dense = cover.toarray() if float(cover.shape[0]) * n_cand <= 2e7 else None
    by_col = cover.tocsc()
    by_col.sort_indices()
    cover_t = dense.T if dense is not None else cover.T.tocsr()

    def column(j: int | np.integer[Any]) -> np.ndarray:
        """The groups candidate ``j`` covers."""
        return by_col.indices[by_col.indptr[j]:by_col.indptr[j + 1]]

    sel = np.zeros(n_cand, dtype=bool) if init is None else init.copy()
    count = cover @ sel.astype(float)  # open candidates covering each group
    for _ in range(min(p, n_cand) - int(sel.sum())):
        gain = cover_t @ (weight * (count == 0))
        gain[sel] = -1
        j = int(np.argmax(gain))
        if gain[j] < 0:
            break
        sel[j] = True
        count[column(j)] += 1
    # interchange: best (out, in) swap while it improves
    for _ in range(10 * max(p, 1)):
        if time_budget is not None and time.perf_counter() - t0 > time_budget:
            break
        opened = np.flatnonzero(sel)
        if opened.size == 0 or opened.size == n_cand:
            break
        only_one = weight * (count == 1)
        gain_in = cover_t @ (weight * (count == 0))  # gain of adding a candidate alone
        if dense is not None:
            sole = dense[:, opened] * only_one[:, None]  # weight only j covers, per opened j
            loss = sole.sum(axis=0)
            regained = cover_t @ sole  # [k, jpos] weight regained by k when j leaves
        else:
            sole_s = by_col[:, opened].multiply(only_one[:, None]).tocsc()
            loss = np.asarray(sole_s.sum(axis=0)).ravel()
            regained = (cover_t @ sole_s).toarray()
        delta = gain_in[:, None] + regained - loss[None, :]
        delta[sel, :] = -np.inf
        k_in, j_out = np.unravel_index(int(np.argmax(delta)), delta.shape)
        if not delta[k_in, j_out] > 1e-9 * max(1.0, weight.sum()):
            break
        out = opened[j_out]
        sel[out], sel[k_in] = False, True
        count[column(k_in)] += 1
        count[column(out)] -= 1
    return sel, float(weight @ (count > 0))


# --- exact -------------------------------------------------------------------------------------

def _mclp_model(problem: CoverProblem) -> Model:
    """max W·y  s.t.  y_g <= sum of x over g's candidates,  sum x = p;  x binary, y in [0, 1]."""
    n_groups, n_cand = problem.cover.shape
    coo = problem.cover.tocoo()
    group_col = n_cand + np.arange(n_groups)
    parts = [
        (np.arange(n_groups), group_col, 1.0),
        (coo.row, coo.col, -1.0),
        (np.full(n_cand, n_groups), np.arange(n_cand), 1.0),
    ]
    a_matrix = _coo_rows(parts, n_groups + 1, n_cand + n_groups)
    n_cols = n_cand + n_groups
    return Model(c=np.r_[np.zeros(n_cand), problem.group_weight], lb=np.zeros(n_cols),
                 ub=np.ones(n_cols), A=a_matrix,
                 rlo=np.r_[np.full(n_groups, -_INF), problem.p],
                 rhi=np.r_[np.zeros(n_groups), problem.p],
                 integer=np.r_[np.ones(n_cand, bool), np.zeros(n_groups, bool)], maximize=True,
                 offset=problem.offset)


def _mclp_restricted(problem: CoverProblem, free: np.ndarray,
                     ones: np.ndarray) -> tuple[CoverProblem, np.ndarray]:
    """The MCLP left once ``ones`` are open and only ``free`` candidates may still open.

    Groups covered by an open candidate become a constant; groups no free candidate reaches
    drop out; the rest are merged again by their (now shorter) candidate sets, and free
    candidates dominated by another free one are dropped. Returns the restricted problem (its
    ``p`` is what is left to open) and its columns' candidates in ``problem``.
    """
    cover = sparse.csr_array(problem.cover)
    weight = problem.group_weight
    by_one = (cover @ ones.astype(float)) > 0
    const = problem.offset + float(weight[by_one].sum())
    sub = cover[~by_one][:, np.flatnonzero(free)].tocsr()
    sub.sort_indices()
    sub_weight = weight[~by_one]
    coo = sub.tocoo()
    rows, cols = coo.row.astype(np.int64), coo.col.astype(np.int64)
    order = np.lexsort((cols, rows))
    rows, cols = rows[order], cols[order]
    n_rows, n_free = sub.shape
    ok = _undominated_columns(rows, cols, n_rows, np.ones(n_free, dtype=bool), problem.p)
    keep = ok[cols]
    rows, cols = rows[keep], cols[keep]
    kept = np.flatnonzero(free)[ok]
    pos = np.full(n_free, -1, dtype=np.int64)
    pos[np.flatnonzero(ok)] = np.arange(kept.size)
    groups = _group_rows(rows, cols, n_free)
    on_rep, group_rows = groups.on_reps(rows, n_rows)
    cover2 = sparse.csr_array((np.ones(group_rows.size), (group_rows, pos[cols[on_rep]])),
                              shape=(groups.n_groups, kept.size))
    restricted = CoverProblem(cover2, groups.total(sub_weight), problem.p - int(ones.sum()),
                              const)
    return restricted, kept


def _mclp_sub(problem: CoverProblem, free: np.ndarray, ones: np.ndarray,
              incumbent: np.ndarray, options: SolveOptions) -> SubSolve:
    """Solve the MCLP restricted to ``free`` candidates with ``ones`` open (`_mclp_restricted`).

    The ``incumbent`` selection warm-starts it when it fits the restriction.
    """
    sub, cols = _mclp_restricted(problem, free, ones)
    selection = None
    if 0 < sub.p < cols.size:
        start = None
        fits = (not np.any(incumbent & ~free & ~ones) and not np.any(~incumbent & ones)
                and int(incumbent[cols].sum()) == sub.p)
        if options.warm_start and fits:
            xs = incumbent[cols].astype(float)
            start = np.r_[xs, np.minimum(1.0, sub.cover @ xs)]
        solved = highs.solve(_mclp_model(sub), time_limit_s=options.time_limit_s,
                             mip_rel_gap=options.mip_rel_gap, threads=options.threads,
                             start=start, presolve=False)
        if solved.x is not None:
            selection = ones.copy()
            selection[cols[solved.x[:cols.size] > 0.5]] = True
        objective, status, bound = solved.objective, solved.status, solved.bound
        seconds, dims = solved.seconds, solved.dims
    else:  # nothing left to choose
        xs = np.zeros(cols.size) if sub.p <= 0 else np.ones(cols.size)
        objective = sub.offset + float(sub.group_weight @ np.minimum(1.0, sub.cover @ xs))
        status, bound, seconds, dims = "optimal", objective, 0.0, (0, 0, 0)
        selection = ones.copy()
        selection[cols[xs > 0.5]] = True
    if selection is None:
        objective = -np.inf
    return SubSolve(selection, objective, status, bound, seconds, dims)


def _mclp_exact(mdl: Model, problem: CoverProblem, sel: np.ndarray, incumbent: float,
                t0: float, options: SolveOptions) -> ExactCover:
    """LP relaxation, LP-guided local search, reduced-cost fixing, then the MIP on what is left.

    ``sel`` is the heuristic selection, ``incumbent`` its objective (offset included); ``t0``
    when the whole solve started (for the time limit). After fixing, the MIP is rebuilt on the
    free candidates only, with the demand groups merged again: far smaller than the original
    model with bounds changed.
    """
    cover, n_cand, p_new = problem.cover, problem.n_cand, problem.p
    time_limit_s, mip_rel_gap = options.time_limit_s, options.mip_rel_gap
    relaxed = highs.solve(mdl, relax=True, time_limit_s=time_limit_s, threads=options.threads,
                          want_duals=True, presolve=False)
    solve_s, dims = relaxed.seconds, relaxed.dims
    if relaxed.status != "optimal" or relaxed.x is None:
        solved = _run(mdl, "exact", None, incumbent, options)
        return ExactCover(replace(solved, seconds=solve_s + solved.seconds), sel, 0)
    x_lp, lp = relaxed.x, relaxed.objective
    # round the LP (largest x first) and polish with the interchange search
    init = np.zeros(n_cand, dtype=bool)
    init[np.argsort(-x_lp[:n_cand], kind="stable")[:p_new]] = True
    sel2, value2 = _greedy_cover(problem, init=init)
    if value2 + mdl.offset > incumbent:
        sel, incumbent = sel2, value2 + mdl.offset

    def full_x(selection: np.ndarray) -> np.ndarray:
        """The model's columns (x, then y) for a selection."""
        return np.r_[selection.astype(float), np.minimum(1.0, cover @ selection.astype(float))]

    if _gap(incumbent, lp) > mip_rel_gap:
        # RINS-style sub-MIP: candidates on which the LP and the incumbent agree stay fixed
        xs = x_lp[:n_cand]
        agree0 = (xs < 1e-6) & ~sel
        agree1 = (xs > 1 - 1e-6) & sel
        rins_limit = 0.1 * time_limit_s if time_limit_s is not None else 10.0
        rins = _mclp_sub(problem, ~agree0 & ~agree1, agree1, sel,
                         replace(options, time_limit_s=rins_limit))
        solve_s += rins.seconds
        if rins.objective > incumbent and rins.selection is not None:
            sel, incumbent = rins.selection, rins.objective
    if _gap(incumbent, lp) <= mip_rel_gap:
        solved = SolveResult("optimal", full_x(sel), incumbent, lp, solve_s, dims)
        return ExactCover(solved, sel, n_cand)
    # reduced-cost fixing: flipping x_j away from its LP value costs at least |d_j|
    assert relaxed.col_dual is not None  # asked for with want_duals, present when optimal
    reduced = np.abs(relaxed.col_dual[:n_cand])
    at0, at1 = x_lp[:n_cand] < 1e-9, x_lp[:n_cand] > 1 - 1e-9
    eps = 1e-7 * max(1.0, abs(incumbent))
    fix0 = at0 & (lp - reduced < incumbent - eps)
    fix1 = at1 & (lp - reduced < incumbent - eps)
    left = None if time_limit_s is None else max(0.1, time_limit_s - (time.perf_counter() - t0))
    last = _mclp_sub(problem, ~fix0 & ~fix1, fix1, sel, replace(options, time_limit_s=left))
    dims = last.dims if last.dims[0] else dims
    solve_s += last.seconds
    status = last.status
    bound = min(last.bound, lp) if np.isfinite(last.bound) else lp
    if last.selection is not None and last.objective >= incumbent:
        sel, incumbent = last.selection, last.objective
    elif status == "infeasible":  # everything better than the incumbent was cut off
        status, bound = "optimal", incumbent
    if status == "optimal" and bound < incumbent:
        bound = incumbent
    solved = SolveResult(status, full_x(sel), incumbent, bound, solve_s, dims)
    return ExactCover(solved, sel, int(fix0.sum() + fix1.sum()))
