"""What a siting model returns (`SitingResult`) and what the independent check finds in it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from emgis.shelters.siting.highs import SolveResult


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
    #: what `check_solution` found when the model returned it (None: no solution to check)
    check: SolutionCheck | None = None

    @property
    def optimal(self) -> bool:
        """Whether the solver proved the objective optimal."""
        return self.status == "optimal"

    @property
    def total_s(self) -> float:
        """Build plus solve time, in seconds."""
        return self.build_s + self.solve_s


@dataclass
class SolutionCheck:
    """What `check_solution` found: ``ok`` when ``problems`` is empty."""

    ok: bool
    problems: list[str]
    objective: float
    covered_weight: float | None = None
    loads: np.ndarray | None = None


def _gap(objective: float, bound: float) -> float:
    """``|objective - bound| / |objective|``: 0 within rounding, inf when either is unknown."""
    if not (np.isfinite(objective) and np.isfinite(bound)):
        return np.inf
    diff = abs(objective - bound)
    if diff <= 1e-9 * max(1.0, abs(objective)):
        return 0.0
    return diff / max(abs(objective), 1e-12)


def _finish(model: str, method: str, solved: SolveResult, chosen_new: np.ndarray,
            existing: np.ndarray, p: int | None, *, build_s: float,
            heuristic_s: float = 0.0) -> SitingResult:
    """A `SitingResult` from a solve: status, objective, bound and sizes from ``solved``.

    ``solved.seconds`` plus ``heuristic_s`` is the reported solve time.
    """
    chosen_new = np.sort(np.asarray(chosen_new, dtype=np.int64))
    chosen = np.union1d(chosen_new, existing).astype(np.int64)
    n_vars, n_rows, n_nonzeros = solved.dims
    return SitingResult(model=model, method=method, status=solved.status, chosen=chosen,
                        new=chosen_new, existing=existing, objective=float(solved.objective),
                        bound=float(solved.bound), mip_gap=_gap(solved.objective, solved.bound),
                        build_s=build_s, solve_s=solved.seconds + heuristic_s, n_vars=n_vars,
                        n_rows=n_rows, n_nonzeros=n_nonzeros, p=p)
