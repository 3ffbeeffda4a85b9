"""Capacity: how many of the people within reach of a shelter find a place in it.

Coverage (`shelters.coverage`) counts a village as covered when a shelter is near enough;
it says nothing about whether the shelter can take them. Nearest-assignment would overfill
the central shelters and leave outer ones empty, so here demand is assigned under capacities:

* `shelter_capacity` — the given capacity, else effective area ÷ m² per person of the class
  (``shelter.m2_per_person.<duration_class>``), else unknown;
* `assign_demand` — a transportation LP on the sparse demand × shelter travel-time matrix
  solved with HiGHS, lexicographic: first serve as many people as possible within the
  standard, then minimise person-seconds;
* `shelter_assignment` — the two wired up with each shelter's class service time.

The HiGHS instance comes from `emgis.shelters.siting.highs.new_highs` (the project's solver
settings).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import sparse

from emgis.shelters.coverage import KINDS, _ids, _norms, _standard_seconds, demand_shelter_times

__all__ = ["Assignment", "assign_demand", "shelter_assignment", "shelter_capacity"]


def shelter_capacity(shelters, norms=None, *, subtract_occupancy: bool = True) -> pd.DataFrame:
    """Return the capacity of each shelter and where it comes from.

    Capacity is the given ``capacity``; else ``floor(effective_area_m2 /
    shelter.m2_per_person.<duration_class>)``; else unknown (NaN, ``capacity_source
    'unknown'``). ``available`` is capacity minus ``occupancy`` (when present and
    ``subtract_occupancy``), never below 0.

    Returns
    -------
    pandas.DataFrame
        Index of ``shelters``; columns id, capacity, capacity_source, available.
    """
    norms = _norms(norms)
    n = len(shelters)
    cap = (pd.to_numeric(shelters["capacity"], errors="coerce").to_numpy(dtype=float, copy=True)
           if "capacity" in shelters.columns else np.full(n, np.nan))
    src = np.where(np.isfinite(cap), "given", "unknown").astype(object)
    if "capacity_source" in shelters.columns:
        given_src = shelters["capacity_source"].astype(object).to_numpy()
        src = np.where(np.isfinite(cap) & pd.notna(given_src), given_src, src)
    if "effective_area_m2" in shelters.columns and "duration_class" in shelters.columns:
        area = pd.to_numeric(shelters["effective_area_m2"], errors="coerce").to_numpy(dtype=float)
        cls = shelters["duration_class"].astype(object).to_numpy()
        m2 = np.array([norms.number(f"shelter.m2_per_person.{c}")
                       if f"shelter.m2_per_person.{c}" in norms else np.nan for c in cls],
                      dtype=float)
        fill = ~np.isfinite(cap) & np.isfinite(area) & np.isfinite(m2)
        cap[fill] = np.floor(area[fill] / m2[fill])
        src[fill] = "area"
    src = np.where(np.isfinite(cap), src, "unknown")
    occ = (pd.to_numeric(shelters["occupancy"], errors="coerce").fillna(0).to_numpy(dtype=float)
           if subtract_occupancy and "occupancy" in shelters.columns else np.zeros(n))
    out = pd.DataFrame(index=shelters.index)
    out["id"] = _ids(shelters)
    out["capacity"] = cap
    out["capacity_source"] = pd.array([str(s) for s in src], dtype="str")
    out["available"] = np.maximum(cap - occ, 0.0)
    unknown = ~np.isfinite(cap)
    out.attrs["notes"] = ([f"{int(unknown.sum())} shelter(s) have unknown capacity: "
                           f"{', '.join(map(str, out['id'][unknown].head(10)))}"]
                          if unknown.any() else [])
    return out



@dataclass
class Assignment:
    """Demand assigned to shelters under capacities.

    ``flows``: persons, demand × shelter (CSR). ``demand``: per demand point population,
    assigned, capacity_unknown (persons without a place in a shelter of known capacity but
    within the limit of one whose capacity is unknown: covered, capacity unknown), unserved
    (= population − assigned − capacity_unknown), reachable (some shelter within the time
    limit), mean_time_s of the assigned persons. ``shelters``: per shelter capacity,
    capacity_known, load, utilisation, nearest_load (persons whose fastest shelter within
    the limit it is) and overload (nearest_load − capacity when positive: what
    nearest-assignment would put over capacity).
    """

    status: str
    flows: sparse.csr_array
    demand: pd.DataFrame
    shelters: pd.DataFrame
    total: float
    served: float
    unserved: float
    person_seconds: float
    notes: list[str] = field(default_factory=list)
    capacity_unknown: float = 0.0  # persons covered only by shelters of unknown capacity


def _times_csr(times, shape=None) -> sparse.csr_array:
    if hasattr(times, "rows") and hasattr(times, "times"):
        r, c = np.asarray(times.rows), np.asarray(times.cols)
        t, shp = np.asarray(times.times, float), tuple(times.shape)
    elif sparse.issparse(times):
        coo = sparse.coo_array(times)
        r, c, t, shp = coo.row, coo.col, coo.data.astype(float), coo.shape
    else:
        d = np.asarray(times, dtype=float)
        r, c = np.nonzero(np.isfinite(d))
        t, shp = d[r, c], d.shape
    if shape is not None and tuple(shp) != tuple(shape):
        raise ValueError(f"times has shape {shp}, expected {tuple(shape)}")
    order = np.lexsort((t, c, r))
    r, c, t = r[order], c[order], t[order]
    if r.size:
        first = np.r_[True, (r[1:] != r[:-1]) | (c[1:] != c[:-1])]
        r, c, t = r[first], c[first], t[first]
    return r.astype(np.int64), c.astype(np.int64), t, shp


def _lp(cost, ub, A, rlo, rhi, *, time_limit_s=None):
    import highspy

    from emgis.shelters.siting.highs import new_highs

    h = new_highs()
    if time_limit_s is not None:
        h.setOptionValue("time_limit", float(time_limit_s))
    A = sparse.csr_array(A)
    A.sort_indices()
    ncol, nrow = cost.size, A.shape[0]
    st = h.passModel(int(ncol), int(nrow), int(A.nnz), 2, 1, 0.0,
                     cost.astype(float), np.zeros(ncol), ub.astype(float),
                     rlo.astype(float), rhi.astype(float),
                     A.indptr.astype(np.int32), A.indices.astype(np.int32), A.data.astype(float),
                     np.zeros(ncol, np.int32))
    if st == highspy.HighsStatus.kError:
        raise RuntimeError("HiGHS rejected the assignment model")
    h.run()
    status = h.getModelStatus()
    name = status.name if hasattr(status, "name") else str(status)
    x = np.asarray(h.getSolution().col_value, dtype=float)
    return name, x


UnknownCapacity = Literal["separate", "zero", "unlimited"]


def assign_demand(times, population, capacity, *, max_time_s: Any = None,
                  unknown_capacity: UnknownCapacity = "separate",
                  time_limit_s: float | None = None) -> Assignment:
    """Assign demand to shelters by travel time with capacities respected (HiGHS LP).

    The transportation problem on the sparse demand × shelter matrix, restricted to pairs
    within ``max_time_s`` (a scalar or one standard per shelter, e.g. the service time of
    its class): variables ``x_ij`` persons of demand ``i`` at shelter ``j``,
    ``Σ_j x_ij ≤ w_i``, ``Σ_i x_ij ≤ cap_j``. Solved lexicographically in two HiGHS LPs:
    first the most persons served (``max Σ x``), then, with ``Σ x`` held at that maximum,
    ``min Σ (t_ij − M) x_ij`` with ``M = max t + 1`` — i.e. the fewest person-seconds among
    the assignments serving the most people (the -M term only guards the served total
    against solver tolerances). When no capacity binds everyone goes to their fastest
    shelter within the limit; the LP is a transportation problem, so with whole-number
    populations and capacities the optimum is whole-number too.

    Parameters
    ----------
    times
        `geo.routing.SparseTimes`, scipy sparse (stored = reachable) or dense (``inf`` =
        unreachable), demand × shelter, seconds.
    population
        Persons per demand point.
    capacity
        Persons per shelter; NaN = unknown.
    max_time_s
        Time limit per pair (scalar or per shelter); None: every stored pair.
    unknown_capacity
        ``"separate"`` (default: a shelter of unknown capacity takes nobody in the LP, and the
        persons left without a place who are within its limit are ``capacity_unknown`` —
        neither served nor unserved: unknown is never zero), ``"zero"`` (pessimistic: they
        are unserved) or ``"unlimited"`` (optimistic: it takes everyone).
    """
    w = np.asarray(population, dtype=float)
    cap = np.asarray(capacity, dtype=float)
    r, c, t, shp = _times_csr(times, (w.size, cap.size))
    if max_time_s is not None:
        lim = np.broadcast_to(np.asarray(max_time_s, dtype=float), (cap.size,))
        keep = t <= lim[c]
        r, c, t = r[keep], c[keep], t[keep]
    known = np.isfinite(cap)
    eff = np.where(known, np.maximum(cap, 0.0),
                   np.inf if unknown_capacity == "unlimited" else 0.0)
    n_d, n_s = shp
    # nearest-assignment load (fastest allowed shelter of each demand point)
    nearest = np.full(n_d, -1, dtype=np.int64)
    if r.size:
        o = np.lexsort((t, r))
        first = np.r_[True, r[o][1:] != r[o][:-1]]
        nearest[r[o][first]] = c[o][first]
    reach = nearest >= 0
    nearest_load = np.bincount(nearest[reach], weights=w[reach], minlength=n_s)
    # LP on useful pairs
    use = (w[r] > 0) & (eff[c] > 0)
    rr, cc, tt = r[use], c[use], t[use]
    x = np.zeros(rr.size)
    status = "optimal"
    notes: list[str] = []
    if rr.size:
        ud, rinv = np.unique(rr, return_inverse=True)
        limited = np.isfinite(eff)
        us, cinv = np.unique(cc[limited[cc]], return_inverse=True)
        k = rr.size
        kl = np.flatnonzero(limited[cc])
        rows = np.r_[rinv, ud.size + cinv]
        cols = np.r_[np.arange(k), kl]
        A = sparse.csr_array((np.ones(rows.size), (rows, cols)), shape=(ud.size + us.size, k))
        rhi = np.r_[w[ud], eff[us]]
        rlo = np.full(rhi.size, -np.inf)
        ub = w[rr]
        status, x1 = _lp(-np.ones(k), ub, A, rlo, rhi, time_limit_s=time_limit_s)
        if status.lower().endswith("optimal") and x1.size == k:
            served = float(np.clip(x1, 0, None).sum())
            A2 = sparse.vstack([A, sparse.csr_array(np.ones((1, k)))]).tocsr()
            # phase 2: fewest person-seconds with (numerically) the most persons served;
            # the -M term keeps the served total at its maximum within HiGHS' tolerances
            tol = 1e-7 * max(1.0, served)
            big = float(tt.max()) + 1.0
            status, x = _lp(tt - big, ub, A2, np.r_[rlo, served - tol], np.r_[rhi, np.inf],
                            time_limit_s=time_limit_s)
            if x.size != k:
                x = x1
        else:
            x = x1 if x1.size == k else np.zeros(k)
        status = "optimal" if status.lower().endswith("optimal") else status
        x = np.clip(x, 0.0, None)
        x = np.minimum(x, ub)
    flows = sparse.csr_array((x, (rr, cc)), shape=shp)
    assigned = np.bincount(rr, weights=x, minlength=n_d)
    assigned = np.minimum(assigned, w)
    unknown_pop = np.zeros(n_d)
    if unknown_capacity == "separate" and (~known).any() and r.size:
        near_unknown = np.zeros(n_d, dtype=bool)
        near_unknown[r[~known[c]]] = True
        unknown_pop = np.where(near_unknown, w - assigned, 0.0)
    load = np.bincount(cc, weights=x, minlength=n_s)
    ptime = np.bincount(rr, weights=x * tt, minlength=n_d)
    dem = pd.DataFrame({
        "population": w, "assigned": assigned, "capacity_unknown": unknown_pop,
        "unserved": w - assigned - unknown_pop, "reachable": reach,
        "nearest": nearest,
        "mean_time_s": np.divide(ptime, assigned, out=np.full(n_d, np.nan), where=assigned > 0),
    })
    over = np.where(known, np.maximum(nearest_load - np.where(known, cap, 0), 0.0), np.nan)
    she = pd.DataFrame({
        "capacity": cap, "capacity_known": known, "load": load,
        "utilisation": np.divide(load, cap, out=np.full(n_s, np.nan), where=known & (cap > 0)),
        "nearest_load": nearest_load, "overload": over,
    })
    total = float(w.sum())
    served = float(assigned.sum())
    unknown_total = float(unknown_pop.sum())
    unserved = total - served - unknown_total
    if (~known).any():
        how = {"separate": "given no place; the persons within their reach are counted as "
                           "'covered, capacity unknown'",
               "zero": "counted as taking nobody", "unlimited": "counted as unlimited"}
        notes.append(f"{int((~known).sum())} shelter(s) of unknown capacity "
                     f"{how[unknown_capacity]}")
    notes.append(f"served {served:,.0f} of {total:,.0f} persons; "
                 + (f"covered, capacity unknown {unknown_total:,.0f}; " if unknown_total else "")
                 + f"unserved {unserved:,.0f} ({int((~reach & (w > 0)).sum())} populated "
                 "point(s) have no shelter within the limit)")
    return Assignment(status, flows, dem, she, total, served, unserved,
                      float((x * tt).sum()), notes, unknown_total)


def shelter_assignment(graph, demand, shelters, *, norms=None, share: float = 1.0,
                       unknown_capacity: UnknownCapacity = "separate",
                       subtract_occupancy: bool = True, closures: Any = None) -> Assignment:
    """Assign village demand to shelters within each shelter's class service time.

    Wires `shelter_capacity` (available places), `demand_shelter_times` and `assign_demand`
    with ``max_time_s`` = ``shelter.service_time_min.<duration_class>`` of each shelter;
    ``share`` of each village's population is to be sheltered (1.0: everybody).
    ``shelters`` attribute columns (id, duration_class) are copied into the result.
    """
    norms = _norms(norms)
    cap = shelter_capacity(shelters, norms, subtract_occupancy=subtract_occupancy)
    classes = shelters["duration_class"].astype(object).to_numpy()
    std = _standard_seconds(KINDS["shelters"], classes, norms)
    times = demand_shelter_times(graph, demand, shelters, norms=norms, closures=closures,
                                 cutoff_s=float(np.max(std)) if len(std) else None)
    out = assign_demand(times, np.asarray(demand["population"], dtype=float) * share,
                        cap["available"].to_numpy(), max_time_s=std,
                        unknown_capacity=unknown_capacity)
    out.shelters.insert(0, "id", cap["id"].to_numpy())
    at = 1
    for col in ("ext_id", "name"):  # people know a shelter by its 编号 and name, not the db id
        if col in shelters.columns:
            out.shelters.insert(at, col, shelters[col].astype(object).to_numpy())
            at += 1
    out.shelters.insert(at, "duration_class",
                        shelters["duration_class"].astype("str").to_numpy())
    out.shelters["standard_s"] = std
    if "code" in demand.columns:
        out.demand.insert(0, "code", demand["code"].astype("str").to_numpy())
    out.notes = cap.attrs.get("notes", []) + out.notes
    return out

