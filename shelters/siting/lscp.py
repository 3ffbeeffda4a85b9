"""Location set covering (LSCP): the fewest new sites so that every coverable demand point is
covered within the standard.

Demand points with the same covering candidates are merged and rows implied by another row are
dropped (`_undominated_rows`); a greedy cover with redundant sites removed is the heuristic
answer and the MIP start.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import sparse

from emgis.shelters.siting.check import _checked
from emgis.shelters.siting.highs import Model
from emgis.shelters.siting.matrix import (
    _cover_entries,
    _gather,
    _group_rows,
    _prep,
    _undominated_rows,
    covered,
)
from emgis.shelters.siting.result import SitingResult, _finish
from emgis.shelters.siting.solve import SolveOptions, _run

_INF = np.inf


def lscp(times: Any, standard_s: float, *, existing: ArrayLike = (),
         allowed: ArrayLike | None = None, weights: ArrayLike | None = None,
         method: str = "exact", options: SolveOptions | None = None) -> SitingResult:
    """Location set covering: fewest new sites so every coverable demand point is covered.

    The objective counts new sites only. Demand points no allowed or existing site can reach
    within the standard are returned in ``unreachable`` rather than making the model infeasible.
    """
    t0 = time.perf_counter()
    options = options or SolveOptions()
    inst = _prep(times, weights, existing, allowed)
    n_demand, n_all = inst.times.shape
    entries = _cover_entries(inst, standard_s)
    rows, cols = entries.rows, entries.cols
    cand = np.flatnonzero(inst.new_ok)
    colpos = np.full(n_all, -1, dtype=np.int64)
    colpos[cand] = np.arange(cand.size)
    groups = _group_rows(rows, cols, n_all)
    on_rep, group_rows = groups.on_reps(rows, n_demand)
    cover = sparse.csr_array((np.ones(group_rows.size), (group_rows, colpos[cols[on_rep]])),
                             shape=(groups.n_groups, cand.size))
    # a demand row whose covering set contains another row's is covered whenever that one is
    keep_rows = _undominated_rows(cover)
    if not keep_rows.all():
        cover = cover[keep_rows]
    n_groups = cover.shape[0]
    build = time.perf_counter() - t0

    t1 = time.perf_counter()
    sel = _greedy_set_cover(cover)
    heur_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    a_matrix = cover if n_groups else sparse.csr_array((0, cand.size))
    mdl = Model(c=np.ones(cand.size), lb=np.zeros(cand.size), ub=np.ones(cand.size),
                A=a_matrix, rlo=np.ones(n_groups), rhi=np.full(n_groups, _INF),
                integer=np.ones(cand.size, bool), maximize=False, offset=0.0)
    build += time.perf_counter() - t2
    solved = _run(mdl, method, sel.astype(float), float(sel.sum()), options)
    chosen_new = cand[solved.x > 0.5] if solved.x is not None else cand[sel]
    if method == "heuristic" and np.isfinite(solved.bound):  # a whole number of sites
        solved = replace(solved, bound=float(np.ceil(solved.bound - 1e-9)))
    res = _finish("lscp", method, solved, chosen_new, inst.existing, None, build_s=build,
                  heuristic_s=heur_s)
    res.n_groups = n_groups
    cov_all = covered(inst.times, res.chosen, standard_s)
    res.covered_weight = float(inst.weights[cov_all].sum())
    res.uncovered = np.flatnonzero(~cov_all)
    res.unreachable = np.flatnonzero(~entries.coverable)
    return _checked(res, inst, standard_s=standard_s)


def _greedy_set_cover(cover: sparse.csr_array) -> np.ndarray:
    """Greedy set cover of every row of the 0/1 ``cover``, then redundant sites dropped.

    Returns a bool per column. Gains are kept up to date incrementally: covering a row lowers
    the gain of every candidate covering it.
    """
    n_groups, n_cand = cover.shape
    by_col = cover.tocsc()
    by_col.sort_indices()
    ip, ix = by_col.indptr, by_col.indices
    sel = np.zeros(n_cand, dtype=bool)
    count = np.zeros(n_groups)
    gain = np.diff(ip).astype(float)
    by_row = sparse.csr_array(cover)
    while n_groups and gain.max(initial=0.0) > 0:
        j = int(np.argmax(gain))
        rows = ix[ip[j]:ip[j + 1]]
        new = rows[count[rows] == 0]
        count[rows] += 1
        sel[j] = True
        if new.size:
            gain -= np.bincount(_gather(by_row.indptr, by_row.indices, new), minlength=n_cand)
        gain[j] = 0.0
    for j in np.flatnonzero(sel)[::-1]:
        rows = ix[ip[j]:ip[j + 1]]
        if np.all(count[rows] >= 2):
            sel[j] = False
            count[rows] -= 1
    return sel
