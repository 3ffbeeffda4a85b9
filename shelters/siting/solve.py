"""What the models share around HiGHS: the solve settings, assembling a constraint matrix from
parts, and the switch between the exact MIP and the heuristic bounded by its LP relaxation.

Every model solves through `highs.solve` (called as ``highs.solve``, so a test can replace it
in one place); it returns `highs.SolveResult`, which the models pass on as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import sparse

from emgis.shelters.siting import highs
from emgis.shelters.siting.highs import Model, SolveResult

# one block of a constraint matrix: rows, columns, and one value or one per entry
Part = tuple[np.ndarray, np.ndarray, ArrayLike]


@dataclass(frozen=True)
class SolveOptions:
    """The HiGHS settings a public model function was given."""

    time_limit_s: float | None = None
    mip_rel_gap: float = 1e-6
    threads: int | None = None
    warm_start: bool = True  # pass the heuristic solution as the MIP start


def _coo_rows(parts: Sequence[Part], n_rows: int, n_cols: int) -> sparse.csr_array:
    """Stack (row, col, val) parts into one CSR matrix; rows already numbered globally."""
    rows = np.concatenate([part[0] for part in parts]).astype(np.int64)
    cols = np.concatenate([part[1] for part in parts]).astype(np.int64)
    vals = np.concatenate([np.broadcast_to(np.asarray(part[2], dtype=float), part[0].shape)
                           for part in parts])
    return sparse.csr_array((vals, (rows, cols)), shape=(n_rows, n_cols))


def _run(mdl: Model, method: str, start: np.ndarray | None, heuristic_value: float,
         options: SolveOptions) -> SolveResult:
    """Solve exactly (HiGHS MIP, warm-started) or keep the heuristic and bound it by the LP.

    ``heuristic_value`` is the objective of the heuristic solution ``start`` came from: the
    result's objective with ``method="heuristic"``, and when HiGHS finds no incumbent in time.
    ``x`` is None whenever the heuristic solution stands.
    """
    if method == "heuristic":
        lp = highs.solve(mdl, relax=True, time_limit_s=options.time_limit_s,
                         threads=options.threads)
        bound = lp.objective if lp.status == "optimal" else np.nan
        return SolveResult("heuristic", None, heuristic_value, bound, lp.seconds, lp.dims)
    if method != "exact":
        raise ValueError(f"method={method!r}: use 'exact' or 'heuristic'")
    solved = highs.solve(mdl, time_limit_s=options.time_limit_s,
                         mip_rel_gap=options.mip_rel_gap, threads=options.threads,
                         start=start if options.warm_start else None)
    if solved.x is None and solved.status != "infeasible":
        # no incumbent within the time limit: fall back on the heuristic
        return SolveResult(solved.status, None, heuristic_value, solved.bound, solved.seconds,
                           solved.dims)
    return solved
