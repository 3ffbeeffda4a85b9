"""Capacitated siting: maximal covering and p-median when a site serves at most its capacity.

Demand may be split between sites: the models assign shares of each demand group's weight
(z, one per stored pair) to open sites (x, binary), with one capacity row per site; the
``strong`` form adds z_gj <= x_j for every new site (a tighter LP bound, a larger model).
Only HiGHS' exact MIP is available (spopt has no capacitated MCLP).
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
from emgis.shelters.siting.highs import Model
from emgis.shelters.siting.matrix import Groups, Instance, _capacity, _entries, _group_rows, _prep
from emgis.shelters.siting.result import SitingResult, _finish
from emgis.shelters.siting.solve import SolveOptions, _coo_rows

_INF = np.inf


@dataclass(frozen=True)
class CapacitatedSpec:
    """What one capacitated model is asked: which model, the capacities, the rules."""

    model: str  # "capacitated_mclp" or "capacitated_p_median"
    capacity: np.ndarray  # per candidate
    p: int
    standard_s: float | None  # MCLP: only pairs within it serve
    unserved_s: float | None  # p-median: the cost per unit of weight left unplaced
    strong: bool  # add the z <= x rows

    @property
    def cover(self) -> bool:
        """Whether this is the covering model (maximise served weight)."""
        return self.model == "capacitated_mclp"


@dataclass(frozen=True)
class _Built:
    """A capacitated MIP and what reading its solution needs."""

    mdl: Model
    sites: np.ndarray  # the candidate of each x column (allowed new or existing)
    group_rows: np.ndarray  # the z columns' (group, x column) pairs, in column order
    group_cols: np.ndarray
    groups: Groups
    reach: np.ndarray  # bool per demand point: some usable site serves it
    p_new: int


def capacitated_mclp(times: Any, weights: ArrayLike | None, standard_s: float, p: int,
                     capacity: ArrayLike, *, existing: ArrayLike = (),
                     allowed: ArrayLike | None = None,
                     options: SolveOptions | None = None) -> SitingResult:
    """Capacitated maximal covering: ``p`` new sites; a site serves at most ``capacity[j]``
    weight of demand within ``standard_s``; demand may be split. Maximises served weight.

    Solved exactly (HiGHS MIP) with the z_ij <= x_j rows (tighter LP bound, larger model).
    """
    t0 = time.perf_counter()
    inst = _prep(times, weights, existing, allowed)
    cap = _capacity(capacity, inst.n_candidates)
    spec = CapacitatedSpec("capacitated_mclp", cap, p, float(standard_s), None, True)
    res = _capacitated(inst, spec, "exact", options or SolveOptions(), t0)
    return _checked(res, inst, standard_s=standard_s, p=p, capacity=cap)


def capacitated_p_median(times: Any, weights: ArrayLike | None, p: int, capacity: ArrayLike, *,
                         existing: ArrayLike = (), allowed: ArrayLike | None = None,
                         unserved_s: float | None = None,
                         options: SolveOptions | None = None) -> SitingResult:
    """Capacitated p-median: least weighted travel time, site loads within ``capacity``.

    Demand may be split between sites. With ``unserved_s`` weight that cannot be placed costs
    that much per unit; without it all reachable demand must be placed (else ``infeasible``).
    """
    t0 = time.perf_counter()
    inst = _prep(times, weights, existing, allowed)
    cap = _capacity(capacity, inst.n_candidates)
    spec = CapacitatedSpec("capacitated_p_median", cap, p, None, unserved_s, True)
    res = _capacitated(inst, spec, "exact", options or SolveOptions(), t0)
    return _checked(res, inst, p=p, capacity=cap, unserved_s=unserved_s)


def _capacitated(inst: Instance, spec: CapacitatedSpec, method: str, options: SolveOptions,
                 t0: float) -> SitingResult:
    """Build and solve one capacitated model; the result carries the demand's assignment.

    ``t0``: when the public function started (the build time counts from it). A solve without
    an incumbent gives a result with no assignment, its status saying why.
    """
    built = _build(inst, spec)
    build = time.perf_counter() - t0
    if method != "exact":
        raise ValueError(f"{spec.model}: only method='exact' is available")
    solved = highs.solve(built.mdl, time_limit_s=options.time_limit_s,
                         mip_rel_gap=options.mip_rel_gap, threads=options.threads)
    if solved.x is None:
        res = _finish(spec.model, method, replace(solved, objective=np.nan),
                      np.zeros(0, dtype=np.int64), inst.existing, built.p_new, build_s=build)
        res.unreachable = np.flatnonzero(~built.reach)
        return res
    n_sites = built.sites.size
    is_open = solved.x[:n_sites] > 0.5
    chosen_new = built.sites[is_open & ~inst.is_existing[built.sites]]
    res = _finish(spec.model, method, solved, chosen_new, inst.existing, built.p_new,
                  build_s=build)
    res.n_groups = built.groups.n_groups
    res.unreachable = np.flatnonzero(~built.reach)
    res.assignment = _assignment(built, solved.x, inst.times.shape)
    served = np.asarray(res.assignment.sum(axis=1)).ravel()
    weight, reach = inst.weights, built.reach
    res.covered_weight = float(weight @ np.minimum(served, 1.0))
    res.unserved_weight = float(weight[reach] @ np.maximum(0.0, 1.0 - served[reach]))
    res.uncovered = np.flatnonzero(served < 1.0 - 1e-6)
    return res


def _build(inst: Instance, spec: CapacitatedSpec) -> _Built:
    """The MIP: columns x (sites), z (shares per group-site pair), u (unplaced share per group,
    p-median with ``unserved_s``); rows: one per group (shares), one per site (capacity), the
    cardinality row, then the strong form's z <= x rows."""
    n_demand, n_all = inst.times.shape
    weight, is_existing, new_ok = inst.weights, inst.is_existing, inst.new_ok
    rows, cols, secs = _entries(inst.times)
    usable = new_ok[cols] | is_existing[cols]
    keep = usable & (secs <= spec.standard_s) if spec.standard_s is not None else usable
    rows, cols, secs = rows[keep], cols[keep], secs[keep]
    reach = np.zeros(n_demand, dtype=bool)
    reach[rows] = True
    sites = np.flatnonzero(new_ok | is_existing)
    colpos = np.full(n_all, -1, dtype=np.int64)
    colpos[sites] = np.arange(sites.size)
    cover = spec.cover
    groups = _group_rows(rows, cols, n_all, secs=None if cover else secs)
    n_groups = groups.n_groups
    group_weight = groups.total(weight)
    on_rep, rep_groups = groups.on_reps(rows, n_demand)
    group_times = sparse.csr_array((secs[on_rep], (rep_groups, colpos[cols[on_rep]])),
                                   shape=(n_groups, sites.size))
    group_times.sort_indices()
    g_rows, g_cols, g_secs = _entries(group_times)
    n_sites, n_assign = sites.size, g_secs.size
    pen = None if (cover or spec.unserved_s is None) else float(spec.unserved_s)
    n_unplaced = n_groups if pen is not None else 0
    assign_col = n_sites + np.arange(n_assign)
    unplaced_col = n_sites + n_assign + np.arange(n_unplaced)
    n_cols = n_sites + n_assign + n_unplaced
    parts = [
        (g_rows, assign_col, 1.0),  # share rows 0..n_groups-1
        (np.arange(n_unplaced), unplaced_col, 1.0),
        (n_groups + g_cols, assign_col, group_weight[g_rows]),  # capacity rows
        (n_groups + np.arange(n_sites), np.arange(n_sites), -spec.capacity[sites]),
        (np.full(n_sites, n_groups + n_sites), np.arange(n_sites), 1.0),  # cardinality row
    ]
    n_rows_base = n_groups + n_sites + 1
    if spec.strong:
        link = np.flatnonzero(~is_existing[sites[g_cols]])
        parts += [(n_rows_base + np.arange(link.size), assign_col[link], 1.0),
                  (n_rows_base + np.arange(link.size), g_cols[link], -1.0)]
        n_link = link.size
    else:
        n_link = 0
    a_matrix = _coo_rows(parts, n_rows_base + n_link, n_cols)
    p_new = int(min(spec.p, int(new_ok.sum())))
    n_total = p_new + inst.existing.size
    lb = np.zeros(n_cols)
    lb[:n_sites] = is_existing[sites]
    ub = np.ones(n_cols)
    ub[:n_sites] = 1.0
    if cover:
        cost = np.r_[np.zeros(n_sites), group_weight[g_rows]]
        share_lo, share_hi = np.full(n_groups, -_INF), np.ones(n_groups)
        offset = 0.0
    else:
        unplaced_cost = np.full(n_unplaced, 0.0) if pen is None else group_weight * pen
        cost = np.r_[np.zeros(n_sites), group_weight[g_rows] * g_secs, unplaced_cost]
        share_lo, share_hi = np.ones(n_groups), np.ones(n_groups)
        # with an unserved cost, demand no site can reach pays it (as in the p-median)
        offset = float(weight[~reach].sum() * pen) if pen is not None else 0.0
    mdl = Model(c=cost, lb=lb, ub=ub, A=a_matrix,
                rlo=np.r_[share_lo, np.full(n_sites, -_INF), n_total, np.full(n_link, -_INF)],
                rhi=np.r_[share_hi, np.zeros(n_sites), n_total, np.zeros(n_link)],
                integer=np.r_[np.ones(n_sites, bool), np.zeros(n_assign + n_unplaced, bool)],
                maximize=cover, offset=offset)
    return _Built(mdl, sites, g_rows, g_cols, groups, reach, p_new)


def _assignment(built: _Built, x: np.ndarray, shape: tuple[int, int]) -> sparse.csr_array:
    """The demand × candidate shares of a solution: group shares expanded to their members."""
    n_demand, n_all = shape
    n_sites, n_assign = built.sites.size, built.group_rows.size
    shares = np.clip(x[n_sites:n_sites + n_assign], 0.0, 1.0)
    shares[shares < 1e-9] = 0.0
    # clean: no share on a closed site
    shares[x[:n_sites][built.group_cols] < 0.5] = 0.0
    by_group = sparse.csr_array((shares, (built.group_rows, built.group_cols)),
                                shape=(built.groups.n_groups, n_sites))
    group_of = np.full(n_demand, -1, dtype=np.int64)
    group_of[built.groups.members] = built.groups.group_of
    member = np.flatnonzero(group_of >= 0)
    membership = sparse.csr_array((np.ones(member.size), (member, group_of[member])),
                                  shape=(n_demand, built.groups.n_groups))
    by_demand = (membership @ by_group).tocoo()
    return sparse.csr_array((by_demand.data, (by_demand.row, built.sites[by_demand.col])),
                            shape=(n_demand, n_all))
