"""HiGHS plumbing shared by the siting models and the capacity assignment: one place that
creates a solver, passes a model built from numpy arrays, and refuses answers it cannot trust.

Why this module is careful
--------------------------
highspy 1.16.0 maps a MIP start (``setSolution``) into the presolved space and accepts it there
("MIP start solution is feasible in the reduced space: objective value is 11") without checking
it: values of columns presolve removed are dropped rather than moved to what replaced them, so
the mapped start can be infeasible and look better than the true optimum. Branch-and-bound then
prunes everything against that bogus incumbent, reports "optimal" with that objective and bound,
and hands back the *user's* start as the solution. On emgis's 15-minute county LSCP this gave
"optimal, 11 sites" for a solution of 16 sites, where the proven optimum is 14; on a 5 × 7 set
cover (`_START_PROBE`) it reports objective 1 for an optimum of 2. highspy 1.15.1 runs the same
start in the original space and is right.

So, without trusting any version number:

* `starts_are_safe` solves `_START_PROBE` once per process; when the installed HiGHS gets it
  wrong, MIP starts are passed only to models solved without presolve (the mapping is the
  presolve's), and the heuristic start is still used by the callers as their fallback incumbent.
* `solve` re-derives every MIP answer from the original model — objective ``c·x + offset``,
  rows, bounds, integrality — and, when they disagree with what HiGHS reported, solves again
  without the start; if HiGHS still disagrees with itself it raises `SolverError`, never returns.

HiGHS prints a banner ("Running HiGHS …") the first time a solver is created in a process,
before any option can be set; `new_highs` swallows it so it never lands inside the CLI's or
the benchmark's tables.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

import numpy as np
from scipy import sparse

__all__ = ["Model", "SolveResult", "SolverError", "new_highs", "solve", "starts_are_safe"]

_INF = np.inf
_T = TypeVar("_T")

_STATUS = {
    "kOptimal": "optimal", "kInfeasible": "infeasible", "kTimeLimit": "time_limit",
    "kUnboundedOrInfeasible": "infeasible", "kUnbounded": "unbounded",
    "kIterationLimit": "iteration_limit", "kSolutionLimit": "solution_limit",
    "kInterrupt": "interrupted", "kModelEmpty": "optimal", "kMemoryLimit": "memory_limit",
}

# Feasibility tolerances for re-deriving an answer (HiGHS' own defaults are 1e-7 .. 1e-6).
_ROW_TOL = 1e-6
_INT_TOL = 1e-5


class SolverError(RuntimeError):
    """HiGHS returned an answer that contradicts its own model: never used as a result."""


@dataclass
class Model:
    """A linear model in HiGHS' column-wise terms: ``min/max c·x + offset``,
    ``rlo <= A x <= rhi``, ``lb <= x <= ub``, ``x_j`` integer where ``integer[j]``."""

    c: np.ndarray
    lb: np.ndarray
    ub: np.ndarray
    A: sparse.csr_array
    rlo: np.ndarray
    rhi: np.ndarray
    integer: np.ndarray  # bool per column
    maximize: bool
    offset: float = 0.0


@dataclass
class SolveResult:
    """One HiGHS run: ``x`` is None when HiGHS has no feasible point."""

    status: str
    x: np.ndarray | None
    objective: float
    bound: float
    seconds: float
    dims: tuple[int, int, int]  # columns, rows, nonzeros
    col_dual: np.ndarray | None = None
    start_dropped: bool = False  # a MIP start was given but not passed (or its run was redone)


_banner_lock = threading.Lock()
_banner_done = False


def new_highs() -> Any:
    """A quiet ``highspy.Highs``: the once-per-process banner is swallowed, output is off."""
    global _banner_done
    import highspy

    if _banner_done:
        h = highspy.Highs()
    else:
        with _banner_lock:
            if _banner_done:
                h = highspy.Highs()
            else:
                h = _quietly(highspy.Highs)
                _banner_done = True
    h.setOptionValue("output_flag", False)
    return h


def _quietly(fn: Callable[[], _T]) -> _T:
    """Call ``fn`` with the process's stdout (fd 1) sent to /dev/null (C code writes there,
    whatever Python's ``sys.stdout`` is: a test runner's capture has no file descriptor)."""
    fd = 1
    try:
        sys.stdout.flush()
        saved = os.dup(fd)
    except (OSError, ValueError):  # no fd 1 at all (closed)
        return fn()
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), fd)
            return fn()
    finally:
        os.dup2(saved, fd)
        os.close(saved)


# A 5-row, 7-column set cover with optimum 2 (columns 1 and 4): the smallest instance found on
# which highspy 1.16.0, given the optimal start, reports "optimal" with objective 1.
_START_PROBE = np.array([
    [0, 0, 0, 1, 1, 1, 1],
    [1, 1, 0, 1, 0, 0, 0],
    [1, 1, 0, 0, 0, 1, 0],
    [0, 1, 0, 0, 0, 0, 1],
    [0, 1, 1, 1, 0, 0, 0],
], dtype=float)
_PROBE_START = np.array([0, 1, 0, 0, 1, 0, 0], dtype=float)


def _probe_model() -> Model:
    """`_START_PROBE` as a set-cover model: fewest columns covering every row."""
    n, m = _START_PROBE.shape
    return Model(c=np.ones(m), lb=np.zeros(m), ub=np.ones(m), A=sparse.csr_array(_START_PROBE),
                 rlo=np.ones(n), rhi=np.full(n, _INF), integer=np.ones(m, bool), maximize=False)


@cache
def starts_are_safe() -> bool:
    """Whether this HiGHS solves `_START_PROBE` right when given a MIP start with presolve on."""
    h = _passed(_probe_model(), relax=False)
    _set_start(h, _PROBE_START)
    h.run()
    x = np.asarray(h.getSolution().col_value, dtype=float)
    obj = float(h.getInfo().objective_function_value)
    return abs(obj - 2.0) < 1e-9 and abs(float(x.sum()) - 2.0) < 1e-9


def version() -> str:
    """The installed HiGHS version, e.g. ``"1.16.0"`` (for error messages)."""
    import highspy

    try:
        h = new_highs()
        return f"{h.versionMajor()}.{h.versionMinor()}.{h.versionPatch()}"
    except Exception:  # pragma: no cover - older bindings
        return getattr(highspy, "__version__", "?")


def _passed(mdl: Model, *, relax: bool) -> Any:
    """A quiet ``Highs`` holding ``mdl`` (integrality dropped with ``relax``)."""
    import highspy

    h = new_highs()
    A = sparse.csr_array(mdl.A)
    A.sort_indices()
    ncol, nrow = mdl.c.size, A.shape[0]
    integ = np.zeros(ncol, np.int32) if relax else mdl.integer.astype(np.int32)
    st = h.passModel(int(ncol), int(nrow), int(A.nnz), 2, -1 if mdl.maximize else 1,
                     float(mdl.offset), mdl.c.astype(float), mdl.lb.astype(float),
                     mdl.ub.astype(float), mdl.rlo.astype(float), mdl.rhi.astype(float),
                     A.indptr.astype(np.int32), A.indices.astype(np.int32),
                     A.data.astype(float), integ)
    if st == highspy.HighsStatus.kError:
        raise SolverError("HiGHS rejected the model")
    return h


def _set_start(h: Any, start: np.ndarray) -> None:
    """Give ``h`` the column values ``start`` as its MIP start."""
    import highspy

    sol = highspy.HighsSolution()
    sol.col_value = np.asarray(start, dtype=float).tolist()
    sol.value_valid = True
    h.setSolution(sol)


def disagreement(mdl: Model, x: np.ndarray, objective: float, *, relax: bool = False) -> str | None:
    """Why ``x`` is not a solution of ``mdl`` with value ``objective`` (None when it is)."""
    value = float(mdl.c @ x) + float(mdl.offset)
    if abs(value - objective) > 1e-6 * max(1.0, abs(value)):
        return f"reported objective {objective:g} but its solution's objective is {value:g}"
    ax = mdl.A @ x
    viol = max(float(np.max(mdl.rlo - ax, initial=0.0)), float(np.max(ax - mdl.rhi, initial=0.0)))
    if viol > _ROW_TOL * max(1.0, float(np.max(np.abs(ax), initial=0.0))):
        return f"its solution violates a row by {viol:g}"
    bviol = max(float(np.max(mdl.lb - x, initial=0.0)), float(np.max(x - mdl.ub, initial=0.0)))
    if bviol > _ROW_TOL:
        return f"its solution violates a bound by {bviol:g}"
    if not relax and mdl.integer.any():
        xi = x[mdl.integer]
        frac = float(np.max(np.abs(xi - np.round(xi)), initial=0.0))
        if frac > _INT_TOL:
            return f"its solution has an integer variable at a fractional value ({frac:g} off)"
    return None


def solve(mdl: Model, *, time_limit_s: float | None = None, mip_rel_gap: float = 1e-6,
          threads: int | None = None, start: np.ndarray | None = None, relax: bool = False,
          want_duals: bool = False, presolve: bool = True) -> SolveResult:
    """Solve ``mdl`` (its LP relaxation with ``relax``) and return a result that agrees with it.

    ``start`` warm-starts a MIP when this HiGHS handles starts correctly (`starts_are_safe`) or
    presolve is off. Raises `SolverError` when HiGHS' answer contradicts the model even
    without a start.
    """
    use_start = start is not None and not relax and (not presolve or starts_are_safe())
    res = _run(mdl, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap, threads=threads,
               start=start if use_start else None, relax=relax, want_duals=want_duals,
               presolve=presolve)
    res.start_dropped = start is not None and not relax and not use_start
    if res.x is None:
        return res
    why = disagreement(mdl, res.x, res.objective, relax=relax)
    if why is None:
        return res
    if use_start:
        left = None if time_limit_s is None else max(0.01, time_limit_s - res.seconds)
        again = _run(mdl, time_limit_s=left, mip_rel_gap=mip_rel_gap, threads=threads,
                     start=None, relax=relax, want_duals=want_duals, presolve=presolve)
        again.seconds += res.seconds
        again.start_dropped = True
        if again.x is None:
            return again
        why2 = disagreement(mdl, again.x, again.objective, relax=relax)
        if why2 is None:
            return again
        why = f"{why}; without the start, {why2}"
    raise SolverError(f"HiGHS {version()} gave a wrong answer ({why}); the result is not used. "
                      "Report it with the model (emgis can write it as MPS).")


def _run(mdl: Model, *, time_limit_s: float | None, mip_rel_gap: float, threads: int | None,
         start: np.ndarray | None, relax: bool, want_duals: bool,
         presolve: bool) -> SolveResult:
    """One HiGHS run with these options, its answer taken as HiGHS reports it (`solve` checks)."""
    h = _passed(mdl, relax=relax)
    if not presolve:  # for models emgis has already reduced: HiGHS's presolve only costs time
        h.setOptionValue("presolve", "off")
    if time_limit_s is not None:
        h.setOptionValue("time_limit", float(max(time_limit_s, 0.01)))
    h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    if threads is not None:
        h.setOptionValue("threads", int(threads))
    if start is not None:
        _set_start(h, start)
    t0 = time.perf_counter()
    h.run()
    dt = time.perf_counter() - t0
    st = h.getModelStatus()
    status = _STATUS.get(st.name, st.name) if hasattr(st, "name") else str(st)
    info = h.getInfo()
    x = None
    duals = None
    obj = bound = np.nan
    if info.primal_solution_status == 2 or status == "optimal":  # a feasible point exists
        sol = h.getSolution()
        x = np.asarray(sol.col_value, dtype=float)
        obj = float(info.objective_function_value)
        if want_duals:
            duals = np.asarray(sol.col_dual, dtype=float)
    if relax or not mdl.integer.any():
        bound = obj if status == "optimal" else np.nan
    else:
        bound = float(info.mip_dual_bound)
    dims = (int(mdl.c.size), int(mdl.A.shape[0]), int(sparse.csr_array(mdl.A).nnz))
    return SolveResult(status, x, obj, bound, dt, dims, duals)
