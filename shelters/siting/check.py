"""The independent check: recompute a result's objective and feasibility from the matrix alone.

Nothing here uses the models' reductions (groups, dominance, fixing) or HiGHS: a result is
re-evaluated from the travel times, the weights and the rules it was asked to obey. Every
model function passes its answer through `_checked` before returning it, so an answer the
check rejects is an error (`SolutionCheckError`), never a result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import sparse

from emgis.shelters.siting.matrix import Instance, _capacity, _entries, _nearest, times_matrix
from emgis.shelters.siting.result import SitingResult, SolutionCheck

_INF = np.inf
_MODELS = ("lscp", "mclp", "p_median", "capacitated_mclp", "capacitated_p_median")


class SolutionCheckError(RuntimeError):
    """A solve whose answer fails `check_solution`: an error, never a result.

    ``result`` and ``check`` are kept for a bug report; nothing may print, save or serve them.
    """

    def __init__(self, result: SitingResult, check: SolutionCheck) -> None:
        """Keep ``result`` and ``check``; the message lists the check's problems."""
        self.result, self.check = result, check
        super().__init__(f"{result.model}: the solver's answer failed the independent check "
                         f"({'; '.join(check.problems)}); it is not used")


def _checked(res: SitingResult, inst: Instance, *, standard_s: float | None = None,
             p: int | None = None, capacity: np.ndarray | None = None,
             unserved_s: float | None = None) -> SitingResult:
    """``res`` when `check_solution` accepts it; `SolutionCheckError` otherwise.

    A result with no solution at all (no incumbent for a capacitated model) is returned as it
    is: its status says so.
    """
    if res.model.startswith("capacitated") and res.assignment is None:
        return res
    chk = check_solution(res, inst.times, inst.weights, SitingRules(
        standard_s=standard_s, p=p, existing=inst.existing, allowed=inst.allowed,
        capacity=capacity, unserved_s=unserved_s))
    if not chk.ok:
        raise SolutionCheckError(res, chk)
    res.check = chk
    return res


@dataclass(frozen=True)
class _Opened:
    """The matrix and the result's open sites, which every recomputation starts from."""

    times: sparse.csr_array
    weights: np.ndarray
    rows: np.ndarray  # the matrix's stored entries (`_entries`)
    cols: np.ndarray
    secs: np.ndarray
    is_open: np.ndarray  # bool per candidate: chosen
    existing: np.ndarray  # candidate indices, sorted, unique
    allowed: np.ndarray  # bool per candidate

    def usable(self) -> np.ndarray:
        """Bool per candidate: allowed or existing."""
        return self.allowed | np.isin(np.arange(self.times.shape[1]), self.existing)


@dataclass
class _Recomputed:
    """The objective (and what goes with it) recomputed for one model."""

    objective: float
    covered_weight: float | None = None
    loads: np.ndarray | None = None


@dataclass(frozen=True)
class SitingRules:
    """The problem a siting result must solve, as its caller posed it (never taken from the
    result itself): the standard (covering models), ``p``, the existing and the allowed
    candidates, the capacities (capacitated models), the cost of unserved demand (p-median
    models), and the relative tolerance of the objective comparison."""

    standard_s: float | None = None
    p: int | None = None
    existing: ArrayLike = ()
    allowed: ArrayLike | None = None
    capacity: ArrayLike | None = None
    unserved_s: float | None = None
    rtol: float = 1e-6


def check_solution(result: SitingResult, times: Any, weights: ArrayLike | None = None,
                   rules: SitingRules | None = None) -> SolutionCheck:
    """Recompute ``result`` from the matrix alone and list every violated rule of ``rules``.

    Checks: chosen sites are valid indices; every existing site is open; no new site is
    disallowed; at most ``p`` new sites (exactly ``min(p, allowed new)`` for MCLP and the
    p-medians); for LSCP, every demand point some allowed/existing site covers is covered;
    for assignments, shares only on stored pairs to open sites (within ``standard_s`` for
    capacitated MCLP), each row's shares sum to at most 1 (exactly 1 where required), loads
    within capacity; the reported objective equals the recomputed one.
    """
    rules = rules or SitingRules()
    standard_s, p, existing, allowed = rules.standard_s, rules.p, rules.existing, rules.allowed
    capacity, unserved_s, rtol = rules.capacity, rules.unserved_s, rules.rtol
    matrix = times_matrix(times)
    n_demand, n_cand = matrix.shape
    weight = np.ones(n_demand) if weights is None else np.asarray(weights, dtype=float)
    chosen = np.asarray(result.chosen, dtype=np.int64)
    if chosen.size and (chosen.min() < 0 or chosen.max() >= n_cand):
        return SolutionCheck(False, ["chosen index out of range"], np.nan)
    ex = np.unique(np.asarray(existing, dtype=np.int64))
    new = np.setdiff1d(chosen, ex)
    allow = np.ones(n_cand, bool) if allowed is None else np.asarray(allowed, dtype=bool)
    problems = _site_problems(result.model, chosen, new, ex, allow, n_cand, p)
    rows, cols, secs = _entries(matrix)
    is_open = np.zeros(n_cand, dtype=bool)
    is_open[chosen] = True
    opened = _Opened(matrix, weight, rows, cols, secs, is_open, existing=ex, allowed=allow)
    model = result.model
    found: _Recomputed | None
    if model in ("mclp", "lscp"):
        if standard_s is None:
            raise ValueError("standard_s is needed to check a covering model")
        found = _recompute_cover(opened, model, new, standard_s, problems)
    elif model == "p_median":
        found = _recompute_p_median(opened, unserved_s, problems)
    elif model in ("capacitated_mclp", "capacitated_p_median"):
        found = _recompute_assignment(opened, result, standard_s, capacity, unserved_s,
                                      problems)
        if found is None:
            return SolutionCheck(False, problems, np.nan)
    else:
        raise ValueError(f"unknown model {model!r}; one of {_MODELS}")
    problems += _objective_problems(result, found.objective, rtol)
    return SolutionCheck(not problems, problems, found.objective, found.covered_weight,
                         found.loads)


def _site_problems(model: str, chosen: np.ndarray, new: np.ndarray, existing: np.ndarray,
                   allowed: np.ndarray, n_cand: int, p: int | None) -> list[str]:
    """What is wrong with the chosen sites themselves: twice, missing, disallowed, too many."""
    problems: list[str] = []
    if np.unique(chosen).size != chosen.size:
        problems.append("a site is chosen twice")
    missing = np.setdiff1d(existing, chosen)
    if missing.size:
        problems.append(f"existing sites not kept: {missing.tolist()}")
    bad = new[~allowed[new]]
    if bad.size:
        problems.append(f"disallowed candidates chosen: {bad.tolist()}")
    if p is not None:
        n_ok = int((allowed & ~np.isin(np.arange(n_cand), existing)).sum())
        if new.size > p:
            problems.append(f"{new.size} new sites > p={p}")
        elif model in ("mclp", "p_median", "capacitated_mclp",
                       "capacitated_p_median") and new.size != min(p, n_ok):
            problems.append(f"{new.size} new sites, expected {min(p, n_ok)}")
    return problems


def _recompute_cover(opened: _Opened, model: str, new: np.ndarray, standard_s: float,
                     problems: list[str]) -> _Recomputed:
    """MCLP: the covered weight; LSCP: the number of new sites, and no coverable point left."""
    rows, cols, secs = opened.rows, opened.cols, opened.secs
    n_demand = opened.times.shape[0]
    cov = np.zeros(n_demand, dtype=bool)
    cov[rows[opened.is_open[cols] & (secs <= standard_s)]] = True
    covered_weight = float(opened.weights[cov].sum())
    if model == "mclp":
        return _Recomputed(covered_weight, covered_weight)
    can = np.zeros(n_demand, dtype=bool)
    can[rows[opened.usable()[cols] & (secs <= standard_s)]] = True
    lost = np.flatnonzero(can & ~cov)
    if lost.size:
        problems.append(f"{lost.size} coverable demand points not covered")
    return _Recomputed(float(new.size), covered_weight)


def _recompute_p_median(opened: _Opened, unserved_s: float | None,
                        problems: list[str]) -> _Recomputed:
    """p-median: weighted time to the nearest open site (or the unserved cost)."""
    n_demand = opened.times.shape[0]
    pen = np.full(n_demand, _INF if unserved_s is None else float(unserved_s))
    dist = _nearest(opened.times, opened.is_open, pen)
    reach_any = np.isfinite(dist)
    if unserved_s is None:
        can = np.zeros(n_demand, dtype=bool)
        can[opened.rows[opened.usable()[opened.cols]]] = True
        lost = np.flatnonzero(can & ~reach_any)
        if lost.size:
            problems.append(f"{lost.size} reachable demand points left unassigned")
    return _Recomputed(float((opened.weights[reach_any] * dist[reach_any]).sum()))


def _recompute_assignment(opened: _Opened, result: SitingResult, standard_s: float | None,
                          capacity: ArrayLike | None, unserved_s: float | None,
                          problems: list[str]) -> _Recomputed | None:
    """Capacitated models: shares, loads and the objective from ``result.assignment``.

    None (with the problem listed) when the result has no assignment.
    """
    if result.assignment is None:
        problems.append("no assignment")
        return None
    model = result.model
    rows, cols, secs, weight = opened.rows, opened.cols, opened.secs, opened.weights
    n_demand, n_cand = opened.times.shape
    coo = sparse.coo_array(result.assignment)
    a_rows, a_cols, shares = coo.row, coo.col, coo.data
    if np.any(shares < -1e-9) or np.any(shares > 1 + 1e-9):
        problems.append("assignment share outside [0, 1]")
    key_times = rows * n_cand + cols
    key_assign = a_rows.astype(np.int64) * n_cand + a_cols
    pos = np.searchsorted(key_times, key_assign)
    pos = np.minimum(pos, max(key_times.size - 1, 0))
    stored = key_times.size > 0
    ok_pair = (key_times[pos] == key_assign) if stored else np.zeros(key_assign.size, bool)
    if not np.all(ok_pair | (shares <= 1e-9)):
        problems.append("assignment to a pair with no stored travel time")
    pair_s = np.where(ok_pair, secs[pos] if stored else 0.0, _INF)
    if (model == "capacitated_mclp" and standard_s is not None
            and np.any((pair_s > standard_s) & (shares > 1e-9))):
        problems.append("assignment beyond the standard")
    if np.any(~opened.is_open[a_cols] & (shares > 1e-9)):
        problems.append("assignment to a closed site")
    share = np.bincount(a_rows, weights=shares, minlength=n_demand)
    if np.any(share > 1 + 1e-6):
        problems.append("a demand point is assigned more than once")
    loads = np.bincount(a_cols, weights=weight[a_rows] * shares, minlength=n_cand)
    if capacity is not None:
        cap = _capacity(capacity, n_cand)
        over = np.flatnonzero(loads > cap + 1e-6 * np.maximum(1.0, cap))
        if over.size:
            problems.append(f"capacity exceeded at {over.tolist()}")
    if model == "capacitated_mclp":
        served = float(weight @ share)
        return _Recomputed(served, served, loads)
    reach = np.zeros(n_demand, dtype=bool)
    reach[rows[opened.usable()[cols]]] = True
    if unserved_s is None and np.any(reach & (share < 1 - 1e-6)):
        problems.append("reachable demand not fully assigned")
    rest = np.maximum(0.0, 1.0 - share)
    travel = float((weight[a_rows] * shares * np.where(np.isfinite(pair_s), pair_s, 0.0)).sum())
    unserved = 0.0 if unserved_s is None else float(unserved_s) * (weight @ rest)
    return _Recomputed(float(travel + unserved), None, loads)


def _objective_problems(result: SitingResult, objective: float, rtol: float) -> list[str]:
    """The reported objective against the recomputed one, and the bound on the right side."""
    problems: list[str] = []

    def tol(value: float) -> float:
        """The absolute tolerance around ``value``."""
        return rtol * max(1.0, abs(value))

    if np.isfinite(result.objective) and abs(objective - result.objective) > tol(objective):
        problems.append(f"reported objective {result.objective} != recomputed {objective}")
    if np.isfinite(result.bound) and np.isfinite(objective):
        maximize = result.model in ("mclp", "capacitated_mclp")
        slack = tol(objective) + 1e-6 * abs(result.bound)
        if ((maximize and result.bound < objective - slack)
                or (not maximize and result.bound > objective + slack)):
            problems.append(f"bound {result.bound} on the wrong side of objective {objective}")
    return problems
