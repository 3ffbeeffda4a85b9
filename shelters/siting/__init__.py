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
every model function runs it on its own answer before returning it (`SolutionCheckError`
when it fails), and the tests run it on every solution.

The package, one concern per module:

* `matrix` — `times_matrix`, the validated inputs (`Instance`), row grouping, dominance;
* `highs` — the HiGHS wrapper that re-derives every answer (and works around HiGHS 1.16's
  MIP-start bug);
* `solve` — the settings the models share (`SolveOptions`) and the exact/heuristic switch;
* `lscp`, `mclp`, `pmedian`, `capacitated` — one model each, with its heuristics;
* `result` — `SitingResult`, `SolutionCheck`; `check` — `check_solution`.
"""

from __future__ import annotations

from emgis.shelters.siting.capacitated import capacitated_mclp, capacitated_p_median
from emgis.shelters.siting.check import SitingRules, SolutionCheckError, check_solution
from emgis.shelters.siting.highs import SolverError
from emgis.shelters.siting.lscp import lscp
from emgis.shelters.siting.matrix import times_matrix
from emgis.shelters.siting.mclp import mclp
from emgis.shelters.siting.pmedian import p_median
from emgis.shelters.siting.result import SitingResult, SolutionCheck
from emgis.shelters.siting.solve import SolveOptions

__all__ = [
    "SitingResult",
    "SitingRules",
    "SolutionCheck",
    "SolutionCheckError",
    "SolveOptions",
    "SolverError",
    "capacitated_mclp",
    "capacitated_p_median",
    "check_solution",
    "lscp",
    "mclp",
    "p_median",
    "times_matrix",
]
