"""Facility siting: choose new sites from candidates, keeping the existing facilities.

Models (all on a sparse demand × candidate travel-time matrix in seconds; a pair that is not
stored is unreachable within the cut-off the matrix was built with):

* `lscp` — location set covering: fewest new sites so that every demand point that *can*
  be covered within the standard is covered (the ones that cannot are reported).
* `mclp` — maximal covering: the ``p`` new sites that cover the most demand weight.
* `p_median` — least total weighted travel time with ``p`` new sites.
* `capacitated_mclp` — maximal covering when a site can serve at most its capacity
  (demand may be split between sites; spopt has no such model).
* `capacitated_p_median` — p-median with capacities, demand that cannot be placed pays
  ``unserved_s`` per unit of weight.

Existing facilities (``existing``: candidate indices) are always open and not counted in
``p``. Candidates with ``allowed[j] == False`` (inside hazard zones, too near hazardous
risk points …) are never chosen. Models are built directly as HiGHS MIPs from numpy arrays
(no per-nonzero Python loops) and solved with highspy; the relative MIP gap is reported.
Demand points with identical neighbourhoods are merged before the model is built.
``method="heuristic"`` (MCLP, p-median, LSCP) runs a vectorised greedy + interchange
search instead and reports the LP-relaxation bound; with ``method="exact"`` the heuristic
solution is the warm start.

`check_solution` recomputes a result's objective and feasibility from the matrix alone;
the tests run it on every solution.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

from emgis.shelters.siting import highs
from emgis.shelters.siting.highs import SolverError

__all__ = [
    "SitingResult",
    "SolutionCheck",
    "SolutionCheckError",
    "SolverError",
    "capacitated_mclp",
    "capacitated_p_median",
    "check_solution",
    "lscp",
    "mclp",
    "p_median",
    "times_matrix",
]

_INF = np.inf
_MODELS = ("lscp", "mclp", "p_median", "capacitated_mclp", "capacitated_p_median")


# --- result types ------------------------------------------------------------------------------

@dataclass
class SitingResult:
    """The outcome of one siting solve.

    ``chosen``: every open candidate (existing + new), sorted; ``new``: the new ones.
    ``objective``/``bound``: in the model's own units (covered weight, number of sites,
    weighted seconds), including the part fixed by existing facilities; ``mip_gap`` is
    ``|objective - bound| / |objective|`` (0 when proven optimal). ``assignment`` (p-median
    and capacitated models) is a sparse demand × candidate array of the share of each demand
    point's weight served by each site.
    """

    model: str
    method: str
    status: str
    chosen: np.ndarray
    new: np.ndarray
    existing: np.ndarray
    objective: float
    bound: float
    mip_gap: float
    build_s: float
    solve_s: float
    n_vars: int = 0
    n_rows: int = 0
    n_nonzeros: int = 0
    covered_weight: float | None = None
    uncovered: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    unreachable: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    unserved_weight: float | None = None
    assignment: sparse.csr_array | None = None
    p: int | None = None
    n_groups: int | None = None
    n_fixed: int | None = None

    @property
    def optimal(self) -> bool:
        return self.status == "optimal"

    @property
    def total_s(self) -> float:
        return self.build_s + self.solve_s


@dataclass
class SolutionCheck:
    """What `check_solution` found: ``ok`` when ``problems`` is empty."""

    ok: bool
    problems: list[str]
    objective: float
    covered_weight: float | None = None
    loads: np.ndarray | None = None


class SolutionCheckError(RuntimeError):
    """A solve whose answer fails `check_solution`: an error, never a result.

    ``result`` and ``check`` are kept for a bug report; nothing may print, save or serve them.
    """

    def __init__(self, result: SitingResult, check: SolutionCheck):
        self.result, self.check = result, check
        super().__init__(f"{result.model}: the solver's answer failed the independent check "
                         f"({'; '.join(check.problems)}); it is not used")


def _checked(res: SitingResult, T, w, **kw) -> SitingResult:
    """``res`` when `check_solution` accepts it; `SolutionCheckError` otherwise.

    A result with no solution at all (no incumbent for a capacitated model) is returned as it
    is: its status says so.
    """
    if res.model.startswith("capacitated") and res.assignment is None:
        return res
    chk = check_solution(res, T, w, **kw)
    if not chk.ok:
        raise SolutionCheckError(res, chk)
    return res


# --- input handling ----------------------------------------------------------------------------

def times_matrix(times: Any, shape: tuple[int, int] | None = None) -> sparse.csr_array:
    """Return ``times`` as a canonical CSR array (sorted, no duplicates; zeros kept).

    Accepts a scipy sparse array/matrix (stored entries are the reachable pairs, explicit
    zeros included), `geo.routing.SparseTimes`, or a dense array with ``inf``/``nan`` for
    unreachable pairs.
    """
    if (isinstance(times, sparse.csr_array) and times.has_canonical_format
            and (shape is None or tuple(times.shape) == tuple(shape))):
        t = times.data
        if t.size and (t.min() < 0 or not np.all(np.isfinite(t))):
            raise ValueError("travel times must be finite and non-negative")
        return times  # already sorted without duplicates: nothing to do
    if hasattr(times, "rows") and hasattr(times, "cols") and hasattr(times, "times"):
        r, c, t = (np.asarray(a) for a in (times.rows, times.cols, times.times))
        shp = tuple(times.shape)
    elif sparse.issparse(times):
        coo = sparse.coo_array(times)
        r, c, t, shp = coo.row, coo.col, coo.data, coo.shape
    else:
        d = np.asarray(times, dtype=float)
        if d.ndim != 2:
            raise ValueError("times must be 2-D (demand × candidate)")
        r, c = np.nonzero(np.isfinite(d))
        t, shp = d[r, c], d.shape
    if shape is not None and tuple(shp) != tuple(shape):
        raise ValueError(f"times has shape {shp}, expected {shape}")
    t = np.asarray(t, dtype=float)
    if t.size and (np.any(t < 0) or not np.all(np.isfinite(t))):
        raise ValueError("travel times must be finite and non-negative")
    r = np.asarray(r, dtype=np.int64)
    c = np.asarray(c, dtype=np.int64)
    # keep the smallest time of duplicates, sorted by (row, col)
    order = np.lexsort((t, c, r))
    r, c, t = r[order], c[order], t[order]
    if r.size:
        first = np.r_[True, (r[1:] != r[:-1]) | (c[1:] != c[:-1])]
        r, c, t = r[first], c[first], t[first]
    indptr = np.zeros(shp[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(r, minlength=shp[0]), out=indptr[1:])
    return sparse.csr_array((t, c, indptr), shape=shp)


def _gather(indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The column indices of ``rows`` of a CSR structure, concatenated (no scipy slicing)."""
    start, stop = indptr[rows], indptr[rows + 1]
    n = stop - start
    if n.sum() == 0:
        return indices[:0]
    offs = np.repeat(start - np.r_[0, np.cumsum(n)[:-1]], n)
    return indices[offs + np.arange(int(n.sum()))]


def _entries(T: sparse.csr_array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r = np.repeat(np.arange(T.shape[0], dtype=np.int64), np.diff(T.indptr))
    return r, T.indices.astype(np.int64), T.data


def _prep(times, weights, existing, allowed, need_weights=True):
    T = times_matrix(times)
    n, m = T.shape
    if weights is None:
        w = np.ones(n)
    else:
        w = np.asarray(weights, dtype=float).ravel()
        if w.size != n:
            raise ValueError(f"{w.size} weights for {n} demand points")
        if np.any(w < 0) or not np.all(np.isfinite(w)):
            raise ValueError("weights must be finite and non-negative")
    ex = np.unique(np.asarray(existing if existing is not None else [], dtype=np.int64).ravel())
    if ex.size and (ex.min() < 0 or ex.max() >= m):
        raise ValueError("existing index out of range")
    is_ex = np.zeros(m, dtype=bool)
    is_ex[ex] = True
    if allowed is None:
        al = np.ones(m, dtype=bool)
    else:
        al = np.asarray(allowed, dtype=bool).ravel()
        if al.size != m:
            raise ValueError(f"allowed has {al.size} entries for {m} candidates")
    new_ok = al & ~is_ex
    return T, w, ex, is_ex, new_ok


def _capacity(capacity, m) -> np.ndarray:
    cap = np.broadcast_to(np.asarray(capacity, dtype=float), (m,)).astype(float)
    if np.any(cap < 0) or not np.all(np.isfinite(cap)):
        raise ValueError("capacities must be finite and non-negative")
    return cap


def _group_rows(r: np.ndarray, c: np.ndarray, n: int, m: int, t: np.ndarray | None = None,
                extra: np.ndarray | None = None):
    """Group rows with identical (col[, time]) sets (and ``extra`` value).

    ``r`` must be sorted. Returns (rows_with_entries, group_of_those_rows, representatives).
    Rows are hashed with two independent random 64-bit keys per entry (sum mod 2^64) plus
    their length: a false merge needs a 128-bit collision.
    """
    if r.size == 0:
        z = np.zeros(0, dtype=np.int64)
        return z, z, z
    rng = np.random.default_rng(0x5EED)
    k1 = rng.integers(0, np.iinfo(np.int64).max, size=m, dtype=np.int64).astype(np.uint64)
    k2 = rng.integers(0, np.iinfo(np.int64).max, size=m, dtype=np.int64).astype(np.uint64)
    h1, h2 = k1[c], k2[c]
    if t is not None:
        tb = np.ascontiguousarray(t, dtype=np.float64).view(np.uint64)
        h1 = h1 ^ (tb * np.uint64(0x9E3779B97F4A7C15))
        h2 = h2 + (tb ^ np.uint64(0xC2B2AE3D27D4EB4F)) * np.uint64(0x165667B19E3779F9)
    starts = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])
    rows = r[starts]
    cnt = np.diff(np.r_[starts, r.size]).astype(np.uint64)
    s1 = np.add.reduceat(h1, starts)
    s2 = np.add.reduceat(h2, starts)
    cols = [s1, s2, cnt]
    if extra is not None:
        cols.append(np.ascontiguousarray(extra[rows], dtype=np.float64).view(np.uint64))
    key = np.stack(cols, axis=1)
    _, first, inv = np.unique(key, axis=0, return_index=True, return_inverse=True)
    return rows, inv.ravel().astype(np.int64), rows[first]


# --- HiGHS -------------------------------------------------------------------------------------

_Model = highs.Model


def _coo_rows(parts, nrow, ncol):
    """Stack (row, col, val) parts into one CSR matrix; rows already numbered globally."""
    r = np.concatenate([p[0] for p in parts]).astype(np.int64)
    c = np.concatenate([p[1] for p in parts]).astype(np.int64)
    v = np.concatenate([np.broadcast_to(np.asarray(p[2], dtype=float), p[0].shape) for p in parts])
    return sparse.csr_array((v, (r, c)), shape=(nrow, ncol))


def _highs_solve(mdl: _Model, *, time_limit_s=None, mip_rel_gap=1e-6, threads=None,
                 start: np.ndarray | None = None, relax: bool = False, extra: dict | None = None,
                 presolve: bool = True):
    """`highs.solve` as (status, x, objective, bound, seconds, dims); duals into ``extra``."""
    res = highs.solve(mdl, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap, threads=threads,
                      start=start, relax=relax, want_duals=extra is not None and relax,
                      presolve=presolve)
    if extra is not None and res.col_dual is not None:
        extra["col_dual"] = res.col_dual
    return res.status, res.x, res.objective, res.bound, res.seconds, res.dims


def _gap(obj: float, bound: float) -> float:
    if not (np.isfinite(obj) and np.isfinite(bound)):
        return np.inf
    d = abs(obj - bound)
    if d <= 1e-9 * max(1.0, abs(obj)):
        return 0.0
    return d / max(abs(obj), 1e-12)


# --- MCLP --------------------------------------------------------------------------------------

def _mclp_parts(T, w, s, is_ex, new_ok):
    r, c, t = _entries(T)
    k = t <= s
    r, c = r[k], c[k]
    n = T.shape[0]
    by_ex = np.zeros(n, dtype=bool)
    by_ex[r[is_ex[c]]] = True
    usable = new_ok[c] | is_ex[c]
    coverable = np.zeros(n, dtype=bool)
    coverable[r[usable]] = True
    keep = new_ok[c] & ~by_ex[r]
    return r[keep], c[keep], by_ex, coverable


def _open_count(Cov: sparse.csr_array, x: np.ndarray) -> np.ndarray:
    return Cov @ x.astype(float)


def _greedy_cover(Cov, W, k, p, init=None, time_budget=None):
    """Greedy + best-swap interchange for max covering on a 0/1 matrix ``Cov`` (G × k).

    Dense BLAS products when the matrix is small enough (county scale), sparse ones otherwise.
    """
    t0 = time.perf_counter()
    Cov = sparse.csr_array(Cov)
    dense = float(Cov.shape[0]) * k <= 2e7
    D = Cov.toarray() if dense else None
    Cc = Cov.tocsc()
    Cc.sort_indices()
    CovT = D.T if dense else Cov.T.tocsr()

    def column(j):
        return Cc.indices[Cc.indptr[j]:Cc.indptr[j + 1]]

    sel = np.zeros(k, dtype=bool) if init is None else init.copy()
    cnt = Cov @ sel.astype(float)
    for _ in range(min(p, k) - int(sel.sum())):
        gain = CovT @ (W * (cnt == 0))
        gain[sel] = -1
        j = int(np.argmax(gain))
        if gain[j] < 0:
            break
        sel[j] = True
        cnt[column(j)] += 1
    # interchange: best (out, in) swap while it improves
    for _ in range(10 * max(p, 1)):
        if time_budget is not None and time.perf_counter() - t0 > time_budget:
            break
        opened = np.flatnonzero(sel)
        if opened.size == 0 or opened.size == k:
            break
        one = W * (cnt == 1)
        g0 = CovT @ (W * (cnt == 0))  # gain of adding k alone
        if dense:
            V = D[:, opened] * one[:, None]  # weight only j covers, per opened j
            loss = V.sum(axis=0)
            inter = CovT @ V  # [k, jpos] weight regained by k when j leaves
        else:
            Vs = Cc[:, opened].multiply(one[:, None]).tocsc()
            loss = np.asarray(Vs.sum(axis=0)).ravel()
            inter = (CovT @ Vs).toarray()
        delta = g0[:, None] + inter - loss[None, :]
        delta[sel, :] = -np.inf
        kk, jj = np.unravel_index(int(np.argmax(delta)), delta.shape)
        if not delta[kk, jj] > 1e-9 * max(1.0, W.sum()):
            break
        jo = opened[jj]
        sel[jo], sel[kk] = False, True
        cnt[column(kk)] += 1
        cnt[column(jo)] -= 1
    return sel, float(W @ (cnt > 0))


def _mclp_model(Cov: sparse.csr_array, W: np.ndarray, pp: int, offset: float) -> _Model:
    """max W·y  s.t.  y_g <= sum of x over g's candidates,  sum x = pp;  x binary, y in [0, 1]."""
    G, nx_ = Cov.shape
    coo = Cov.tocoo()
    gcol = nx_ + np.arange(G)
    parts = [
        (np.arange(G), gcol, 1.0),
        (coo.row, coo.col, -1.0),
        (np.full(nx_, G), np.arange(nx_), 1.0),
    ]
    A = _coo_rows(parts, G + 1, nx_ + G)
    return _Model(c=np.r_[np.zeros(nx_), W], lb=np.zeros(nx_ + G), ub=np.ones(nx_ + G), A=A,
                  rlo=np.r_[np.full(G, -_INF), pp], rhi=np.r_[np.zeros(G), pp],
                  integer=np.r_[np.ones(nx_, bool), np.zeros(G, bool)], maximize=True,
                  offset=offset)


def _mclp_restricted(Cov, W, free, ones, pp, offset):
    """The MCLP left once ``ones`` are open and only ``free`` candidates may still open.

    Groups covered by an open candidate become a constant; groups no free candidate reaches
    drop out; the rest are merged again by their (now shorter) candidate sets, and free
    candidates dominated by another free one are dropped. Returns (Cov', W', cols, const).
    """
    Cov = sparse.csr_array(Cov)
    by_one = (Cov @ ones.astype(float)) > 0
    const = offset + float(W[by_one].sum())
    sub = Cov[~by_one][:, np.flatnonzero(free)].tocsr()
    sub.sort_indices()
    Wr = W[~by_one]
    coo = sub.tocoo()
    r, c = coo.row.astype(np.int64), coo.col.astype(np.int64)
    order = np.lexsort((c, r))
    r, c = r[order], c[order]
    k = sub.shape[1]
    ok = _undominated_columns(r, c, sub.shape[0], np.ones(k, dtype=bool), pp)
    keep = ok[c]
    r, c = r[keep], c[keep]
    cols = np.flatnonzero(free)[ok]
    pos = np.full(k, -1, dtype=np.int64)
    pos[np.flatnonzero(ok)] = np.arange(cols.size)
    rows, grp, rep = _group_rows(r, c, sub.shape[0], k)
    Wg = np.bincount(grp, weights=Wr[rows], minlength=rep.size)
    isrep = np.zeros(sub.shape[0], dtype=bool)
    isrep[rep] = True
    gid = np.full(sub.shape[0], -1, dtype=np.int64)
    gid[rep] = np.arange(rep.size)
    kr = isrep[r]
    C2 = sparse.csr_array((np.ones(int(kr.sum())), (gid[r[kr]], pos[c[kr]])),
                          shape=(rep.size, cols.size))
    return C2, Wg, cols, const


def _mclp_sub(Cov, W, free, ones, pp, offset, sel, time_limit_s, mip_rel_gap, threads,
              warm_start, with_bound=False):
    """Solve the MCLP restricted to ``free`` candidates with ``ones`` open (see `_mclp_restricted`).

    Returns (selection or None, objective, status, seconds[, (bound, dims)]); the incumbent
    ``sel`` warm-starts it when it fits the restriction.
    """
    C2, W2, cols, const = _mclp_restricted(Cov, W, free, ones, pp, offset)
    p2 = pp - int(ones.sum())
    sel_out = None
    if 0 < p2 < cols.size:
        red = _mclp_model(C2, W2, p2, const)
        start = None
        fits = (not np.any(sel & ~free & ~ones) and not np.any(~sel & ones)
                and int(sel[cols].sum()) == p2)
        if warm_start and fits:
            xs = sel[cols].astype(float)
            start = np.r_[xs, np.minimum(1.0, C2 @ xs)]
        status, x, obj, bound, dt, dims = _highs_solve(red, time_limit_s=time_limit_s,
                                                       mip_rel_gap=mip_rel_gap, threads=threads,
                                                       start=start, presolve=False)
        if x is not None:
            sel_out = ones.copy()
            sel_out[cols[x[:cols.size] > 0.5]] = True
    else:  # nothing left to choose
        xs = np.zeros(cols.size) if p2 <= 0 else np.ones(cols.size)
        obj = const + float(W2 @ np.minimum(1.0, C2 @ xs))
        status, bound, dt, dims = "optimal", obj, 0.0, (0, 0, 0)
        sel_out = ones.copy()
        sel_out[cols[xs > 0.5]] = True
    if sel_out is None:
        obj = -np.inf
    return (sel_out, obj, status, dt, (bound, dims)) if with_bound else (sel_out, obj, status, dt, None)


def _mclp_exact(mdl, Cov, W, nx_, pp, G, sel, inc, t0, time_limit_s, mip_rel_gap, warm_start,
                threads):
    """LP relaxation, LP-guided local search, reduced-cost fixing, then the MIP on what is left.

    After fixing, the MIP is rebuilt on the free candidates only, with the demand groups merged
    again: far smaller than the original model with bounds changed.
    """
    extra: dict = {}
    st, xl, lp, _, dt, dims = _highs_solve(mdl, relax=True, time_limit_s=time_limit_s,
                                           threads=threads, extra=extra, presolve=False)
    solve_s = dt
    if st != "optimal" or xl is None:
        x, status, obj, bound, dt2, dims = _run(mdl, "exact", sel, inc, None, time_limit_s,
                                                mip_rel_gap, warm_start, threads)
        return x, status, obj, bound, solve_s + dt2, dims, sel, inc, 0
    # round the LP (largest x first) and polish with the interchange search
    init = np.zeros(nx_, dtype=bool)
    init[np.argsort(-xl[:nx_], kind="stable")[:pp]] = True
    s2, v2 = _greedy_cover(Cov, W, nx_, pp, init=init)
    if v2 + mdl.offset > inc:
        sel, inc = s2, v2 + mdl.offset

    def full_x(s):
        return np.r_[s.astype(float), np.minimum(1.0, Cov @ s.astype(float))]

    if _gap(inc, lp) > mip_rel_gap:
        # RINS-style sub-MIP: candidates on which the LP and the incumbent agree stay fixed
        xs = xl[:nx_]
        agree0 = (xs < 1e-6) & ~sel
        agree1 = (xs > 1 - 1e-6) & sel
        sel3, v3, _, dt3, _ = _mclp_sub(Cov, W, ~agree0 & ~agree1, agree1, pp, mdl.offset, sel,
                                        0.1 * time_limit_s if time_limit_s is not None else 10.0,
                                        mip_rel_gap, threads, warm_start)
        solve_s += dt3
        if v3 > inc:
            sel, inc = sel3, v3
    if _gap(inc, lp) <= mip_rel_gap:
        return full_x(sel), "optimal", inc, lp, solve_s, dims, sel, inc, nx_
    # reduced-cost fixing: flipping x_j away from its LP value costs at least |d_j|
    d = np.abs(extra["col_dual"][:nx_])
    at0, at1 = xl[:nx_] < 1e-9, xl[:nx_] > 1 - 1e-9
    eps = 1e-7 * max(1.0, abs(inc))
    fix0 = at0 & (lp - d < inc - eps)
    fix1 = at1 & (lp - d < inc - eps)
    left = None if time_limit_s is None else max(0.1, time_limit_s - (time.perf_counter() - t0))
    s3, obj, status, dt2, (bound, dims2) = _mclp_sub(Cov, W, ~fix0 & ~fix1, fix1, pp, mdl.offset,
                                                    sel, left, mip_rel_gap, threads, warm_start,
                                                    with_bound=True)
    dims = dims2 if dims2[0] else dims
    solve_s += dt2
    bound = min(bound, lp) if np.isfinite(bound) else lp
    if s3 is not None and obj >= inc:
        sel, inc = s3, obj
    elif status == "infeasible":  # everything better than the incumbent was cut off
        status, bound = "optimal", inc
    if status == "optimal" and bound < inc:
        bound = inc
    return full_x(sel), status, inc, bound, solve_s, dims, sel, inc, int(fix0.sum() + fix1.sum())


def mclp(times, weights, standard_s: float, p: int, *, existing=(), allowed=None,
         method: str = "exact", time_limit_s: float | None = None, mip_rel_gap: float = 1e-6,
         warm_start: bool = True, threads: int | None = None) -> SitingResult:
    """Maximal covering location: ``p`` new sites covering the most weight within ``standard_s``.

    Demand covered by an existing facility counts in the objective and leaves the model;
    demand points with the same set of covering candidates are merged.
    """
    t0 = time.perf_counter()
    T, w, ex, is_ex, new_ok = _prep(times, weights, existing, allowed)
    n, m = T.shape
    r, c, by_ex, coverable = _mclp_parts(T, w, standard_s, is_ex, new_ok)
    # a candidate whose newly covered demand is a subset of another's is never needed
    new_ok = _undominated_columns(r, c, n, new_ok, int(p))
    k = new_ok[c]
    r, c = r[k], c[k]
    cand = np.flatnonzero(new_ok)
    colpos = np.full(m, -1, dtype=np.int64)
    colpos[cand] = np.arange(cand.size)
    rows, grp, rep = _group_rows(r, c, n, m)
    G = rep.size
    W = np.bincount(grp, weights=w[rows], minlength=G)
    # group × candidate coverage from the representatives' entries
    isrep = np.zeros(n, dtype=bool)
    isrep[rep] = True
    gid = np.full(n, -1, dtype=np.int64)
    gid[rep] = np.arange(G)
    k = isrep[r]
    gr, gc = gid[r[k]], colpos[c[k]]
    Cov = sparse.csr_array((np.ones(gr.size), (gr, gc)), shape=(G, cand.size))
    pp = int(min(p, cand.size))
    const = float(w[by_ex].sum())
    build = time.perf_counter() - t0

    t1 = time.perf_counter()
    sel, hval = _greedy_cover(Cov, W, cand.size, pp,
                              time_budget=None if time_limit_s is None else 0.3 * time_limit_s)
    heur_s = time.perf_counter() - t1
    nx_ = cand.size
    mdl = _mclp_model(Cov, W, pp, const)
    build += time.perf_counter() - t1 - heur_s
    start = np.r_[sel.astype(float), np.minimum(1.0, Cov @ sel.astype(float))]
    if method == "exact" and nx_ > pp > 0:
        x_new, status, obj, bound, solve_s, dims, sel, hval, nfix = _mclp_exact(
            mdl, Cov, W, nx_, pp, G, sel, hval + const, t0, time_limit_s, mip_rel_gap,
            warm_start, threads)
        hval -= const
    else:
        nfix = 0
        x_new, status, obj, bound, solve_s, dims = _run(mdl, method, sel, hval + const, start,
                                                        time_limit_s, mip_rel_gap, warm_start,
                                                        threads)
    chosen_new = cand[x_new[:nx_] > 0.5] if x_new is not None else cand[sel]
    res = _finish("mclp", method, status, chosen_new, ex, obj, bound, build, solve_s + heur_s, dims, pp)
    res.n_groups = G
    res.n_fixed = nfix
    cov_all = _covered(T, res.chosen, standard_s)
    res.covered_weight = float(w[cov_all].sum())
    res.uncovered = np.flatnonzero(~cov_all)
    res.unreachable = np.flatnonzero(~coverable)
    return _checked(res, T, w, standard_s=standard_s, p=p, existing=ex, allowed=allowed)


def _run(mdl, method, sel, hval, start, time_limit_s, mip_rel_gap, warm_start, threads):
    """Solve exactly (HiGHS MIP, warm-started) or keep the heuristic and bound it by the LP."""
    if method == "heuristic":
        status, _, lp_obj, _, dt, dims = _highs_solve(mdl, relax=True, time_limit_s=time_limit_s,
                                                      threads=threads)
        return None, "heuristic", hval, lp_obj if status == "optimal" else np.nan, dt, dims
    if method != "exact":
        raise ValueError(f"method={method!r}: use 'exact' or 'heuristic'")
    status, x, obj, bound, dt, dims = _highs_solve(
        mdl, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap, threads=threads,
        start=start if warm_start else None)
    if x is None and sel is not None and status != "infeasible":
        # no incumbent within the time limit: fall back on the heuristic
        return None, status, hval, bound, dt, dims
    return x, status, obj, bound, dt, dims


def _finish(model, method, status, chosen_new, ex, obj, bound, build, solve_s, dims, p):
    chosen_new = np.sort(np.asarray(chosen_new, dtype=np.int64))
    chosen = np.union1d(chosen_new, ex).astype(np.int64)
    return SitingResult(model=model, method=method, status=status, chosen=chosen, new=chosen_new,
                        existing=ex, objective=float(obj), bound=float(bound),
                        mip_gap=_gap(obj, bound), build_s=build, solve_s=solve_s,
                        n_vars=dims[0], n_rows=dims[1], n_nonzeros=dims[2], p=p)


def _covered(T, chosen, s) -> np.ndarray:
    r, c, t = _entries(T)
    open_ = np.zeros(T.shape[1], dtype=bool)
    open_[chosen] = True
    cov = np.zeros(T.shape[0], dtype=bool)
    cov[r[open_[c] & (t <= s)]] = True
    return cov


# --- LSCP --------------------------------------------------------------------------------------

def _undominated_rows(Cov: sparse.csr_array, max_pairs: float = 2e7) -> np.ndarray:
    """Rows of a 0/1 covering matrix not implied by another row (row dominance, exact for LSCP).

    Row i is dropped when some non-empty row k covers a subset of i's candidates: any cover of
    k covers i. Identical rows must already be merged. Skipped (all kept) when the row-overlap matrix
    would exceed ``max_pairs`` entries.
    """
    Cov = sparse.csr_array(Cov)
    n = Cov.shape[0]
    colcount = np.diff(Cov.tocsc().indptr).astype(float)
    if n == 0 or min(float((colcount ** 2).sum()), float(n) * n) > max_pairs:
        return np.ones(n, dtype=bool)
    size = np.diff(Cov.indptr)
    if float(n) * n <= max_pairs:  # dense overlap counts through BLAS: fastest at county scale
        D = Cov.toarray().astype(np.float32)
        S = D @ D.T
        idx = np.arange(n)
        sub = (size[None, :].astype(np.float32) == S) & (size[None, :] > 0) & (
            (size[None, :] < size[:, None]) | ((size[None, :] == size[:, None]) & (idx[None, :] < idx[:, None])))
        return ~sub.any(axis=1)
    B = sparse.csr_array((np.ones(Cov.nnz, dtype=np.int32), Cov.indices, Cov.indptr), shape=Cov.shape)
    S = (B @ B.T).tocoo()
    i, k, v = S.row, S.col, S.data
    subset = (v == size[k]) & (size[k] > 0) & (i != k) & ((size[k] < size[i]) | ((size[k] == size[i]) & (k < i)))
    keep = np.ones(n, dtype=bool)
    keep[i[subset]] = False
    return keep


def _undominated_columns(r: np.ndarray, c: np.ndarray, n: int, new_ok: np.ndarray, p: int,
                         max_work: float = 5e7) -> np.ndarray:
    """``new_ok`` without candidates whose covered rows are a subset of another candidate's.

    Exact for MCLP and LSCP (uncapacitated, every site counts the same): a dominated site can
    be swapped for its dominator with no loss. Identical candidates keep the lowest index.
    Skipped when fewer than ``p`` candidates would remain (the models open exactly ``p``) or
    when the overlap product would be too large.
    """
    cand = np.flatnonzero(new_ok)
    rowcount = np.bincount(r, minlength=n).astype(float)
    if cand.size < 2 or float((rowcount ** 2).sum()) > max_work or cand.size ** 2 > max_work:
        return new_ok
    pos = np.full(new_ok.size, -1, dtype=np.int64)
    pos[cand] = np.arange(cand.size)
    B = sparse.csc_array((np.ones(r.size, dtype=np.float32), (r, pos[c])), shape=(n, cand.size))
    size = np.diff(B.indptr)
    if float(n) * cand.size <= 2e7:  # dense BLAS: fastest at county scale
        D = B.toarray()
        overlap = D.T @ D
    else:
        overlap = (B.T @ B).toarray()
    j = np.arange(cand.size)
    sub = (size[:, None].astype(np.float32) == overlap) & (j[:, None] != j[None, :]) & (size[None, :] > 0) & (
        (size[:, None] < size[None, :]) | ((size[:, None] == size[None, :]) & (j[None, :] < j[:, None])))
    dominated = sub.any(axis=1)
    if int((~dominated).sum()) < p:
        return new_ok
    out = new_ok.copy()
    out[cand[dominated]] = False
    return out


def lscp(times, standard_s: float, *, existing=(), allowed=None, weights=None,
         method: str = "exact", time_limit_s: float | None = None, mip_rel_gap: float = 1e-6,
         warm_start: bool = True, threads: int | None = None) -> SitingResult:
    """Location set covering: fewest new sites so every coverable demand point is covered.

    The objective counts new sites only. Demand points no allowed or existing site can reach
    within the standard are returned in ``unreachable`` rather than making the model infeasible.
    """
    t0 = time.perf_counter()
    T, w, ex, is_ex, new_ok = _prep(times, weights, existing, allowed)
    n, m = T.shape
    r, c, _, coverable = _mclp_parts(T, w, standard_s, is_ex, new_ok)
    cand = np.flatnonzero(new_ok)
    colpos = np.full(m, -1, dtype=np.int64)
    colpos[cand] = np.arange(cand.size)
    _, _, rep = _group_rows(r, c, n, m)
    G = rep.size
    isrep = np.zeros(n, dtype=bool)
    isrep[rep] = True
    gid = np.full(n, -1, dtype=np.int64)
    gid[rep] = np.arange(G)
    k = isrep[r]
    gr, gc = gid[r[k]], colpos[c[k]]
    Cov = sparse.csr_array((np.ones(gr.size), (gr, gc)), shape=(G, cand.size))
    # a demand row whose covering set contains another row's is covered whenever that one is
    keep_rows = _undominated_rows(Cov)
    if not keep_rows.all():
        Cov = Cov[keep_rows]
        G = Cov.shape[0]
    build = time.perf_counter() - t0
    # greedy cover (then drop redundant sites)
    t1 = time.perf_counter()
    Cc = Cov.tocsc()
    Cc.sort_indices()
    ip, ix = Cc.indptr, Cc.indices
    sel = np.zeros(cand.size, dtype=bool)
    cnt = np.zeros(G)
    # gains kept up to date incrementally: covering a row lowers the gain of its candidates
    gain = np.diff(ip).astype(float)
    Cr = sparse.csr_array(Cov)
    while G and gain.max(initial=0.0) > 0:
        j = int(np.argmax(gain))
        rows = ix[ip[j]:ip[j + 1]]
        new = rows[cnt[rows] == 0]
        cnt[rows] += 1
        sel[j] = True
        if new.size:
            gain -= np.bincount(_gather(Cr.indptr, Cr.indices, new), minlength=cand.size)
        gain[j] = 0.0
    for j in np.flatnonzero(sel)[::-1]:
        rows = ix[ip[j]:ip[j + 1]]
        if np.all(cnt[rows] >= 2):
            sel[j] = False
            cnt[rows] -= 1
    heur_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    A = Cov if G else sparse.csr_array((0, cand.size))
    mdl = _Model(c=np.ones(cand.size), lb=np.zeros(cand.size), ub=np.ones(cand.size), A=A,
                 rlo=np.ones(G), rhi=np.full(G, _INF), integer=np.ones(cand.size, bool),
                 maximize=False, offset=0.0)
    build += time.perf_counter() - t2
    x, status, obj, bound, solve_s, dims = _run(mdl, method, sel, float(sel.sum()),
                                                sel.astype(float), time_limit_s, mip_rel_gap,
                                                warm_start, threads)
    chosen_new = cand[x > 0.5] if x is not None else cand[sel]
    if method == "heuristic" and np.isfinite(bound):
        bound = float(np.ceil(bound - 1e-9))
    res = _finish("lscp", method, status, chosen_new, ex, obj, bound, build, solve_s + heur_s,
                  dims, None)
    res.n_groups = G
    cov_all = _covered(T, res.chosen, standard_s)
    res.covered_weight = float(w[cov_all].sum())
    res.uncovered = np.flatnonzero(~cov_all)
    res.unreachable = np.flatnonzero(~coverable)
    return _checked(res, T, w, standard_s=standard_s, existing=ex, allowed=allowed)


# --- p-median ----------------------------------------------------------------------------------

def _nearest(T, open_mask, fallback):
    """Nearest open time per row (``fallback`` when none or when the fallback is nearer)."""
    r, c, t = _entries(T)
    k = open_mask[c]
    d = np.array(fallback, dtype=float, copy=True)
    np.minimum.at(d, r[k], t[k])
    return d


def _pmedian_local(Tm, w, f, p, time_budget=None, init=None):
    """Greedy + fast interchange for p-median on (G × k) CSR ``Tm``; ``f`` fallback per row."""
    t0 = time.perf_counter()
    G, k = Tm.shape
    r, c, t = _entries(Tm)
    sel = np.zeros(k, dtype=bool)
    # rows with no finite fallback must be served: treat the missing fallback as a large cost
    hard = float(t.max() * 10 + 1) if t.size else 1.0
    base = np.where(np.isfinite(f), f, hard)
    d = base.copy()
    if init is not None:
        sel = init.copy()
        np.minimum.at(d, r[sel[c]], t[sel[c]])
    for _ in range(min(p, k) - int(sel.sum())):
        gain = np.bincount(c, weights=w[r] * np.maximum(0.0, d[r] - t), minlength=k)
        gain[sel] = -1
        j = int(np.argmax(gain))
        if gain[j] < 0:
            break
        sel[j] = True
        m_ = c == j
        np.minimum.at(d, r[m_], t[m_])

    def state():
        # nearest and second nearest open facility per row
        k_ = sel[c]
        rr, cc, tt = r[k_], c[k_], t[k_]
        o = np.lexsort((tt, rr))
        rr, cc, tt = rr[o], cc[o], tt[o]
        d1 = base.copy()
        a1 = np.full(G, -1)
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
        if opened.size == 0 or opened.size == k:
            break
        d1, a1, d2 = state()
        pos = np.full(k, -1)
        pos[opened] = np.arange(opened.size)
        assigned = a1 >= 0
        loss = np.bincount(pos[a1[assigned]], weights=w[assigned] * (d2[assigned] - d1[assigned]),
                           minlength=opened.size)
        g0 = np.bincount(c, weights=w[r] * np.maximum(0.0, d1[r] - t), minlength=k)
        ar = a1[r]
        e = ar >= 0
        corr = w[r[e]] * (np.maximum(0.0, d2[r[e]] - t[e]) - np.maximum(0.0, d1[r[e]] - t[e]))
        C = sparse.coo_array((corr, (c[e], pos[ar[e]])), shape=(k, opened.size)).toarray()
        delta = g0[:, None] + C - loss[None, :]
        delta[sel, :] = -np.inf
        kk, jj = np.unravel_index(int(np.argmax(delta)), delta.shape)
        if not delta[kk, jj] > 1e-9 * max(1.0, float(w @ d1)):
            break
        sel[opened[jj]], sel[kk] = False, True
    d1, _, _ = state()
    return sel, float(w @ d1)



def _pmedian_model(gr, gc, gt, W, fg, G, nx_, pp, const, lb_x, ub_x, sel):
    """The strong p-median MIP on group rows: x (nx_), z (one per entry), u (fallback)."""
    nz = gt.size
    ug = np.flatnonzero(np.isfinite(fg))
    nu = ug.size
    zc = nx_ + np.arange(nz)
    uc = nx_ + nz + np.arange(nu)
    ncol = nx_ + nz + nu
    # rows: G assignment rows (= 1), nz linking rows (z - x <= 0), 1 cardinality row
    parts = [
        (gr, zc, 1.0),
        (ug, uc, 1.0),
        (G + np.arange(nz), zc, 1.0),
        (G + np.arange(nz), gc, -1.0),
        (np.full(nx_, G + nz), np.arange(nx_), 1.0),
    ]
    A = _coo_rows(parts, G + nz + 1, ncol)
    cost = np.r_[np.zeros(nx_), W[gr] * gt, W[ug] * fg[ug]]
    mdl = _Model(c=cost, lb=np.r_[lb_x, np.zeros(nz + nu)], ub=np.r_[ub_x, np.ones(nz + nu)], A=A,
                 rlo=np.r_[np.ones(G), np.full(nz, -_INF), pp],
                 rhi=np.r_[np.ones(G), np.zeros(nz), pp],
                 integer=np.r_[np.ones(nx_, bool), np.zeros(nz + nu, bool)],
                 maximize=False, offset=const)
    if sel is None or np.any(sel & (ub_x == 0)) or np.any(~sel & (lb_x == 1)):
        return mdl, None
    # warm start: assign each group to its nearest selected site or the fallback
    start = np.zeros(ncol)
    start[:nx_] = sel
    best = np.full(G, -1)
    bt = np.where(np.isfinite(fg), fg, _INF)
    o = np.lexsort((gt, gr))
    oo = o[sel[gc[o]]]
    firsts = oo[np.r_[True, gr[oo][1:] != gr[oo][:-1]]] if oo.size else oo
    better = gt[firsts] < bt[gr[firsts]]
    best[gr[firsts[better]]] = firsts[better]
    start[nx_ + best[best >= 0]] = 1.0
    upos = np.full(G, -1)
    upos[ug] = np.arange(nu)
    nob = (best < 0) & (upos >= 0)
    start[nx_ + nz + upos[nob]] = 1.0
    return mdl, start


def _pmedian_cost(r, c, t, W, base, open_):
    d = base.copy()
    k = open_[c]
    np.minimum.at(d, r[k], t[k])
    return float(W @ d)


_DEFLECT = 0.0
_STALL = 60


def _pmedian_lagrange(Tm, W, fg, p, sel, ub, *, time_budget=None, tol=1e-7, max_iter=3000):
    """Lagrangian relaxation of the assignment rows (subgradient), as in Beasley (1993).

    Returns the best lower bound, the best solution seen (the Lagrangian open sets are
    evaluated as they come) and the candidates the bound proves closed (``fix0``) or open
    (``fix1``) in every solution better than the best one.
    """
    t0 = time.perf_counter()
    G, k = Tm.shape
    r, c, t = _entries(Tm)
    out = {"lb": -np.inf, "ub": ub, "sel": sel.copy(), "fix0": np.zeros(0, np.int64),
           "fix1": np.zeros(0, np.int64)}
    if k == 0 or p == 0 or G == 0:
        return out
    hasf = np.isfinite(fg)
    Wf = np.where(hasf, W * fg, 0.0)
    Wt = W[r] * t
    hard = float(t.max() * 10 + 1) if t.size else 1.0
    base = np.where(hasf, fg, hard)
    d1 = base.copy()
    kk = sel[c]
    np.minimum.at(d1, r[kk], t[kk])
    lam = W * d1  # the cost of each row in the heuristic solution
    theta, stall, best_lb, best = 2.0, 0, -np.inf, None
    dirn = np.zeros(G)
    for it in range(max_iter):
        red = np.minimum(0.0, Wt - lam[r])
        rho = np.bincount(c, weights=red, minlength=k)
        idx = np.argpartition(rho, p - 1)[:p] if p < k else np.arange(k)
        fall = np.where(hasf, np.minimum(0.0, Wf - lam), 0.0)
        L = float(lam.sum() + rho[idx].sum() + fall.sum())
        open_ = np.zeros(k, dtype=bool)
        open_[idx] = True
        if best_lb + 1e-12 * max(1.0, abs(L)) < L:
            best_lb, best, stall = L, (lam.copy(), rho.copy()), 0
        else:
            stall += 1
            if stall >= _STALL:
                theta, stall = theta / 2, 0
        if it % 5 == 0:
            v = _pmedian_cost(r, c, t, W, base, open_)
            if v < out["ub"] - 1e-12 * max(1.0, abs(v)):
                out["ub"], out["sel"] = v, open_
        if _gap(out["ub"], best_lb) <= tol or theta < 1e-4:
            break
        if time_budget is not None and time.perf_counter() - t0 > time_budget:
            break
        covered = np.bincount(r, weights=((red < 0) & open_[c]).astype(float), minlength=G)
        g = 1.0 - covered - (hasf & (Wf - lam < 0))
        if float(g @ g) == 0:
            break
        dirn = g + _DEFLECT * dirn  # deflected subgradient: damps the zig-zag near the optimum
        nrm = float(dirn @ dirn)
        lam = lam + theta * (out["ub"] - L) / nrm * dirn
    out["lb"] = best_lb
    if best is not None:
        # polish the Lagrangian open set of the best bound with the interchange search
        rho0 = best[1]
        init = np.zeros(k, dtype=bool)
        init[np.argsort(rho0, kind="stable")[:p]] = True
        s2, v2 = _pmedian_local(Tm, W, fg, p, time_budget=time_budget, init=init)
        if v2 < out["ub"] - 1e-12 * max(1.0, abs(v2)):
            out["ub"], out["sel"] = v2, s2
    if best is not None and p < k:
        rho = best[1]
        order = np.argsort(rho, kind="stable")
        rp, rp1 = rho[order[p - 1]], rho[order[p]]
        margin = 1e-9 * max(1.0, abs(out["ub"]))
        inside = np.zeros(k, dtype=bool)
        inside[order[:p]] = True
        # closing j in the Lagrangian set costs rho_(p+1) - rho_j; opening j outside costs rho_j - rho_(p)
        out["fix0"] = np.flatnonzero(~inside & (best_lb + rho - rp > out["ub"] + margin))
        out["fix1"] = np.flatnonzero(inside & (best_lb + rp1 - rho > out["ub"] + margin))
    return out

def p_median(times, weights, p: int, *, existing=(), allowed=None, unserved_s: float | None = None,
             method: str = "exact", time_limit_s: float | None = None, mip_rel_gap: float = 1e-6,
             warm_start: bool = True, threads: int | None = None) -> SitingResult:
    """p-median: ``p`` new sites minimising total weighted travel time.

    Assignment variables exist only for the stored (reachable) pairs. A demand point whose
    nearest existing facility is at ``t0`` only needs candidates nearer than ``t0``. With
    ``unserved_s`` a demand point may stay unassigned at that cost per unit weight (use it
    when ``p`` sites cannot reach everyone); without it every demand point some site can reach
    must be assigned. Demand points no site can reach are in ``unreachable`` and cost nothing.
    """
    t0 = time.perf_counter()
    T, w, ex, is_ex, new_ok = _prep(times, weights, existing, allowed)
    n, m = T.shape
    pen = np.full(n, _INF if unserved_s is None else float(unserved_s))
    f = _nearest(T, is_ex, pen)  # fallback: nearest existing or the unserved cost
    r, c, t = _entries(T)
    usable = new_ok[c] | is_ex[c]
    reach = np.zeros(n, dtype=bool)
    reach[r[usable]] = True
    keep = new_ok[c] & (t < f[r])
    r, c, t = r[keep], c[keep], t[keep]
    cand = np.flatnonzero(new_ok)
    colpos = np.full(m, -1, dtype=np.int64)
    colpos[cand] = np.arange(cand.size)
    has = np.zeros(n, dtype=bool)
    has[r] = True
    fixed = ~has & np.isfinite(f)  # cost fixed at the fallback
    const = float((w[fixed] * f[fixed]).sum())
    rows, grp, rep = _group_rows(r, c, n, m, t=t, extra=np.where(np.isfinite(f), f, -1.0))
    G = rep.size
    W = np.bincount(grp, weights=w[rows], minlength=G)
    fg = f[rep]
    isrep = np.zeros(n, dtype=bool)
    isrep[rep] = True
    gid = np.full(n, -1, dtype=np.int64)
    gid[rep] = np.arange(G)
    k = isrep[r]
    gr, gc, gt = gid[r[k]], colpos[c[k]], t[k]
    Tm = sparse.csr_array((gt, (gr, gc)), shape=(G, cand.size))
    Tm.sort_indices()
    gr, gc, gt = _entries(Tm)
    pp = int(min(p, cand.size))
    build = time.perf_counter() - t0

    t1 = time.perf_counter()
    budget = None if time_limit_s is None else 0.3 * time_limit_s
    sel, hval = _pmedian_local(Tm, W, fg, pp, time_budget=budget)
    lag = _pmedian_lagrange(Tm, W, fg, pp, sel, hval, time_budget=budget,
                            tol=mip_rel_gap * 0.5)
    sel, hval = lag["sel"], lag["ub"]
    heur_s = time.perf_counter() - t1
    nx_ = cand.size
    lb_x, ub_x = np.zeros(nx_), np.ones(nx_)
    lb_x[lag["fix1"]] = 1.0
    ub_x[lag["fix0"]] = 0.0
    lbound = lag["lb"] + const
    if method == "heuristic" or _gap(hval + const, lbound) <= mip_rel_gap:
        if method not in ("heuristic", "exact"):
            raise ValueError(f"method={method!r}: use 'exact' or 'heuristic'")
        status = "heuristic" if method == "heuristic" else "optimal"
        x, obj, bound, solve_s = None, hval + const, lbound, 0.0
        dims = (nx_ + gt.size, G + gt.size + 1, 3 * gt.size)
    else:
        t2 = time.perf_counter()
        keep = ub_x[gc] > 0  # entries of candidates fixed closed by the Lagrangian bound go
        mgr, mgc, mgt = gr[keep], gc[keep], gt[keep]
        mdl, start = _pmedian_model(mgr, mgc, mgt, W, fg, G, nx_, pp, const, lb_x, ub_x,
                                    sel if warm_start else None)
        build += time.perf_counter() - t2
        left = None if time_limit_s is None else max(0.1, time_limit_s - (time.perf_counter() - t0))
        x, status, obj, bound, solve_s, dims = _run(mdl, "exact", sel, hval + const, start,
                                                    left, mip_rel_gap, warm_start, threads)
        if np.isfinite(lbound) and (not np.isfinite(bound) or lbound > bound):
            bound = lbound
        if x is not None and hval + const < obj:  # the heuristic is better than HiGHS' incumbent
            x, obj = None, hval + const
    chosen_new = cand[x[:nx_] > 0.5] if x is not None else cand[sel]
    res = _finish("p_median", method, status, chosen_new, ex, obj, bound, build,
                  solve_s + heur_s, dims, pp)
    res.n_groups = G
    res.n_fixed = int(lag["fix0"].size + lag["fix1"].size)
    res.unreachable = np.flatnonzero(~reach)
    res.assignment, unserved = _nearest_assignment(T, res.chosen, unserved_s)
    res.unserved_weight = float(w[unserved & reach].sum())
    res.uncovered = np.flatnonzero(unserved)
    return _checked(res, T, w, p=p, existing=ex, allowed=allowed, unserved_s=unserved_s)


def _nearest_assignment(T, chosen, unserved_s):
    n, m = T.shape
    r, c, t = _entries(T)
    open_ = np.zeros(m, dtype=bool)
    open_[chosen] = True
    k = open_[c]
    if unserved_s is not None:
        k &= t <= unserved_s
    r, c, t = r[k], c[k], t[k]
    o = np.lexsort((c, t, r))
    r, c = r[o], c[o]
    first = np.r_[True, r[1:] != r[:-1]] if r.size else np.zeros(0, bool)
    r, c = r[first], c[first]
    A = sparse.csr_array((np.ones(r.size), (r, c)), shape=(n, m))
    served = np.zeros(n, dtype=bool)
    served[r] = True
    return A, ~served


# --- capacitated models ------------------------------------------------------------------------

def _capacitated(model, T, w, cap, p, ex, is_ex, new_ok, s, unserved_s, *, method,
                 time_limit_s, mip_rel_gap, threads, strong, t0):
    n, m = T.shape
    r, c, t = _entries(T)
    usable = new_ok[c] | is_ex[c]
    k = usable & (t <= s) if s is not None else usable
    r, c, t = r[k], c[k], t[k]
    reach = np.zeros(n, dtype=bool)
    reach[r] = True
    act = np.flatnonzero(new_ok | is_ex)
    colpos = np.full(m, -1, dtype=np.int64)
    colpos[act] = np.arange(act.size)
    cover = model == "capacitated_mclp"
    rows, grp, rep = _group_rows(r, c, n, m, t=None if cover else t)
    G = rep.size
    W = np.bincount(grp, weights=w[rows], minlength=G)
    isrep = np.zeros(n, dtype=bool)
    isrep[rep] = True
    gid = np.full(n, -1, dtype=np.int64)
    gid[rep] = np.arange(G)
    kk = isrep[r]
    Tm = sparse.csr_array((t[kk], (gid[r[kk]], colpos[c[kk]])), shape=(G, act.size))
    Tm.sort_indices()
    gr, gc, gt = _entries(Tm)
    nx_, nz = act.size, gt.size
    pen = None if (cover or unserved_s is None) else float(unserved_s)
    nu = G if pen is not None else 0
    zc = nx_ + np.arange(nz)
    uc = nx_ + nz + np.arange(nu)
    ncol = nx_ + nz + nu
    capa = cap[act]
    parts = [
        (gr, zc, 1.0),  # assignment rows 0..G-1
        (np.arange(nu), uc, 1.0),
        (G + gc, zc, W[gr]),  # capacity rows G..G+nx-1
        (G + np.arange(nx_), np.arange(nx_), -capa),
        (np.full(nx_, G + nx_), np.arange(nx_), 1.0),  # cardinality row
    ]
    nrow_base = G + nx_ + 1
    link = ~is_ex[act[gc]]
    if strong:
        li = np.flatnonzero(link)
        parts += [(nrow_base + np.arange(li.size), zc[li], 1.0),
                  (nrow_base + np.arange(li.size), gc[li], -1.0)]
        nl = li.size
    else:
        nl = 0
    A = _coo_rows(parts, nrow_base + nl, ncol)
    pp = int(min(p, int(new_ok.sum())))
    n_total = pp + ex.size
    lb = np.zeros(ncol)
    lb[:nx_] = is_ex[act]
    ub = np.ones(ncol)
    ub[:nx_] = 1.0
    if cover:
        cost = np.r_[np.zeros(nx_), W[gr]]
        arlo, arhi = np.full(G, -_INF), np.ones(G)
        offset = 0.0
    else:
        cost = np.r_[np.zeros(nx_), W[gr] * gt, np.full(nu, 0.0) if pen is None else W * pen]
        arlo, arhi = np.ones(G), np.ones(G)
        # with an unserved cost, demand no site can reach pays it (as in the p-median)
        offset = float(w[~reach].sum() * pen) if pen is not None else 0.0
    mdl = _Model(c=cost, lb=lb, ub=ub, A=A,
                 rlo=np.r_[arlo, np.full(nx_, -_INF), n_total, np.full(nl, -_INF)],
                 rhi=np.r_[arhi, np.zeros(nx_), n_total, np.zeros(nl)],
                 integer=np.r_[np.ones(nx_, bool), np.zeros(nz + nu, bool)],
                 maximize=cover, offset=offset)
    build = time.perf_counter() - t0
    if method != "exact":
        raise ValueError(f"{model}: only method='exact' is available")
    status, x, obj, bound, solve_s, dims = _highs_solve(
        mdl, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap, threads=threads)
    if x is None:
        chosen_new = np.zeros(0, dtype=np.int64)
        res = _finish(model, method, status, chosen_new, ex, np.nan, bound, build, solve_s, dims, pp)
        res.unreachable = np.flatnonzero(~reach)
        return res
    chosen_new = act[(x[:nx_] > 0.5) & ~is_ex[act]]
    res = _finish(model, method, status, chosen_new, ex, obj, bound, build, solve_s, dims, pp)
    res.n_groups = G
    res.unreachable = np.flatnonzero(~reach)
    # expand group assignments to the demand points (shares are per unit of weight)
    z = np.clip(x[nx_:nx_ + nz], 0.0, 1.0)
    z[z < 1e-9] = 0.0
    # clean: no share on a closed site
    z[x[:nx_][gc] < 0.5] = 0.0
    Zg = sparse.csr_array((z, (gr, gc)), shape=(G, nx_))
    gfull = np.full(n, -1, dtype=np.int64)
    gfull[rows] = grp
    member = np.flatnonzero(gfull >= 0)
    P = sparse.csr_array((np.ones(member.size), (member, gfull[member])), shape=(n, G))
    Zd = (P @ Zg).tocoo()
    res.assignment = sparse.csr_array((Zd.data, (Zd.row, act[Zd.col])), shape=(n, m))
    served = np.asarray(res.assignment.sum(axis=1)).ravel()
    res.covered_weight = float(w @ np.minimum(served, 1.0))
    res.unserved_weight = float(w[reach] @ np.maximum(0.0, 1.0 - served[reach]))
    res.uncovered = np.flatnonzero(served < 1.0 - 1e-6)
    return res


def capacitated_mclp(times, weights, standard_s: float, p: int, capacity, *, existing=(),
                     allowed=None, method: str = "exact", time_limit_s: float | None = None,
                     mip_rel_gap: float = 1e-6, threads: int | None = None,
                     strong: bool = True) -> SitingResult:
    """Capacitated maximal covering: ``p`` new sites; a site serves at most ``capacity[j]``
    weight of demand within ``standard_s``; demand may be split. Maximises served weight.

    ``strong`` adds the z_ij <= x_j rows (tighter LP bound, larger model).
    """
    t0 = time.perf_counter()
    T, w, ex, is_ex, new_ok = _prep(times, weights, existing, allowed)
    cap = _capacity(capacity, T.shape[1])
    res = _capacitated("capacitated_mclp", T, w, cap, p, ex, is_ex, new_ok, float(standard_s),
                       None, method=method, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap,
                       threads=threads, strong=strong, t0=t0)
    return _checked(res, T, w, standard_s=standard_s, p=p, existing=ex, allowed=allowed,
                    capacity=cap)


def capacitated_p_median(times, weights, p: int, capacity, *, existing=(), allowed=None,
                         unserved_s: float | None = None, method: str = "exact",
                         time_limit_s: float | None = None, mip_rel_gap: float = 1e-6,
                         threads: int | None = None, strong: bool = True) -> SitingResult:
    """Capacitated p-median: least weighted travel time, site loads within ``capacity``.

    Demand may be split between sites. With ``unserved_s`` weight that cannot be placed costs
    that much per unit; without it all reachable demand must be placed (else ``infeasible``).
    """
    t0 = time.perf_counter()
    T, w, ex, is_ex, new_ok = _prep(times, weights, existing, allowed)
    cap = _capacity(capacity, T.shape[1])
    res = _capacitated("capacitated_p_median", T, w, cap, p, ex, is_ex, new_ok, None,
                       unserved_s, method=method, time_limit_s=time_limit_s,
                       mip_rel_gap=mip_rel_gap, threads=threads, strong=strong, t0=t0)
    return _checked(res, T, w, p=p, existing=ex, allowed=allowed, capacity=cap,
                    unserved_s=unserved_s)


# --- independent check -------------------------------------------------------------------------

def check_solution(result: SitingResult, times, weights=None, *, standard_s: float | None = None,
                   p: int | None = None, existing=(), allowed=None, capacity=None,
                   unserved_s: float | None = None, rtol: float = 1e-6) -> SolutionCheck:
    """Recompute ``result`` from the matrix alone and list every violated rule.

    Checks: chosen sites are valid indices; every existing site is open; no new site is
    disallowed; at most ``p`` new sites (exactly ``min(p, allowed new)`` for MCLP and the
    p-medians); for LSCP, every demand point some allowed/existing site covers is covered;
    for assignments, shares only on stored pairs to open sites (within ``standard_s`` for
    capacitated MCLP), each row's shares sum to at most 1 (exactly 1 where required), loads
    within capacity; the reported objective equals the recomputed one.
    """
    T = times_matrix(times)
    n, m = T.shape
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    probs: list[str] = []
    ch = np.asarray(result.chosen, dtype=np.int64)
    if ch.size and (ch.min() < 0 or ch.max() >= m):
        probs.append("chosen index out of range")
        return SolutionCheck(False, probs, np.nan)
    if np.unique(ch).size != ch.size:
        probs.append("a site is chosen twice")
    ex = np.unique(np.asarray(existing, dtype=np.int64))
    missing = np.setdiff1d(ex, ch)
    if missing.size:
        probs.append(f"existing sites not kept: {missing.tolist()}")
    new = np.setdiff1d(ch, ex)
    al = np.ones(m, bool) if allowed is None else np.asarray(allowed, dtype=bool)
    bad = new[~al[new]]
    if bad.size:
        probs.append(f"disallowed candidates chosen: {bad.tolist()}")
    if p is not None:
        n_ok = int((al & ~np.isin(np.arange(m), ex)).sum())
        if new.size > p:
            probs.append(f"{new.size} new sites > p={p}")
        elif result.model in ("mclp", "p_median", "capacitated_mclp",
                              "capacitated_p_median") and new.size != min(p, n_ok):
            probs.append(f"{new.size} new sites, expected {min(p, n_ok)}")
    r, c, t = _entries(T)
    open_ = np.zeros(m, dtype=bool)
    open_[ch] = True
    tol = lambda v: rtol * max(1.0, abs(v))  # noqa: E731
    obj = np.nan
    cov_w = None
    loads = None
    model = result.model
    if model in ("mclp", "lscp"):
        if standard_s is None:
            raise ValueError("standard_s is needed to check a covering model")
        cov = np.zeros(n, dtype=bool)
        cov[r[open_[c] & (t <= standard_s)]] = True
        cov_w = float(w[cov].sum())
        if model == "mclp":
            obj = cov_w
        else:
            usable = al | np.isin(np.arange(m), ex)
            can = np.zeros(n, dtype=bool)
            can[r[usable[c] & (t <= standard_s)]] = True
            lost = np.flatnonzero(can & ~cov)
            if lost.size:
                probs.append(f"{lost.size} coverable demand points not covered")
            obj = float(new.size)
    elif model == "p_median":
        pen = np.full(n, _INF if unserved_s is None else float(unserved_s))
        d = _nearest(T, open_, pen)
        reach_any = np.isfinite(d)
        if unserved_s is None:
            usable = al | np.isin(np.arange(m), ex)
            can = np.zeros(n, dtype=bool)
            can[r[usable[c]]] = True
            lost = np.flatnonzero(can & ~reach_any)
            if lost.size:
                probs.append(f"{lost.size} reachable demand points left unassigned")
        obj = float((w[reach_any] * d[reach_any]).sum())
    elif model in ("capacitated_mclp", "capacitated_p_median"):
        A = result.assignment
        if A is None:
            probs.append("no assignment")
            return SolutionCheck(False, probs, np.nan)
        A = sparse.coo_array(A)
        ar, ac, av = A.row, A.col, A.data
        if np.any(av < -1e-9) or np.any(av > 1 + 1e-9):
            probs.append("assignment share outside [0, 1]")
        keyT = r * m + c
        keyA = ar.astype(np.int64) * m + ac
        pos = np.searchsorted(keyT, keyA)
        pos = np.minimum(pos, max(keyT.size - 1, 0))
        stored = keyT.size > 0
        ok_pair = (keyT[pos] == keyA) if stored else np.zeros(keyA.size, bool)
        if not np.all(ok_pair | (av <= 1e-9)):
            probs.append("assignment to a pair with no stored travel time")
        tt = np.where(ok_pair, t[pos] if stored else 0.0, _INF)
        if model == "capacitated_mclp" and standard_s is not None and np.any((tt > standard_s) & (av > 1e-9)):
            probs.append("assignment beyond the standard")
        if np.any(~open_[ac] & (av > 1e-9)):
            probs.append("assignment to a closed site")
        share = np.bincount(ar, weights=av, minlength=n)
        if np.any(share > 1 + 1e-6):
            probs.append("a demand point is assigned more than once")
        loads = np.bincount(ac, weights=w[ar] * av, minlength=m)
        if capacity is not None:
            cap = _capacity(capacity, m)
            over = np.flatnonzero(loads > cap + 1e-6 * np.maximum(1.0, cap))
            if over.size:
                probs.append(f"capacity exceeded at {over.tolist()}")
        if model == "capacitated_mclp":
            obj = float(w @ share)
            cov_w = obj
        else:
            reach = np.zeros(n, dtype=bool)
            usable = al | np.isin(np.arange(m), ex)
            reach[r[usable[c]]] = True
            if unserved_s is None and np.any(reach & (share < 1 - 1e-6)):
                probs.append("reachable demand not fully assigned")
            rest = np.maximum(0.0, 1.0 - share)
            obj = float((w[ar] * av * np.where(np.isfinite(tt), tt, 0.0)).sum()
                        + (0.0 if unserved_s is None else float(unserved_s) * (w @ rest)))
    else:
        raise ValueError(f"unknown model {model!r}; one of {_MODELS}")
    if np.isfinite(result.objective) and abs(obj - result.objective) > tol(obj):
        probs.append(f"reported objective {result.objective} != recomputed {obj}")
    if np.isfinite(result.bound) and np.isfinite(obj):
        maximize = model in ("mclp", "capacitated_mclp")
        slack = tol(obj) + 1e-6 * abs(result.bound)
        if (maximize and result.bound < obj - slack) or (not maximize and result.bound > obj + slack):
            probs.append(f"bound {result.bound} on the wrong side of objective {obj}")
    return SolutionCheck(not probs, probs, obj, cov_w, loads)
