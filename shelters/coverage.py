"""Coverage, capacity and gaps: who reaches which facility within its standard, and who is left out.

Everything here is a pure function of arrays / (Geo)DataFrames and a `CompiledGraph`; the
PostGIS side lives in `shelters.store`. Times are seconds and always include the off-road
snap time at *both* ends (demand point → its node, facility node → facility point).

Coverage (`coverage` and the wrappers `shelter_coverage`, `fire_coverage`,
`depot_coverage`, `team_coverage`) runs one multi-source Dijkstra per facility class
(`geo.routing.nearest_facility_times`), never a Python loop over demand points:

* shelters — people travel **to** the shelter (``direction="to_facility"``); the standard of
  a shelter is ``shelter.service_time_min.<duration_class>``. **Rule:** a demand point is
  covered when *any* shelter is reachable within the service time of its *own* duration
  class (e.g. an emergency shelter 12 min away fails its 10-min standard, but a long-term
  shelter 25 min away meets its 30-min one). The nearest shelter (of any class) is reported
  as well, with its standard, and ``covered_by`` names the fastest shelter that meets its
  own standard.
* fire stations (``team_type == "fire_station"``) — **from** the station,
  ``fire.response_min``.
* depots — **from** the depot, ``depot.delivery_h.<level>`` hours, same any-class rule.
* teams — **from** the base, ``team.response_min`` (all team types unless filtered).

Capacity: `shelter_capacity` (given capacity, else effective area ÷ m² per person of the
class, else unknown), `assign_demand` (a transportation LP on the sparse demand ×
shelter travel-time matrix solved with HiGHS, lexicographic: first serve as many people as
possible within the standard, then minimise person-seconds) and `shelter_assignment`
(the two wired up with each shelter's class service time). `depot_supply` compares stock
with the per-person needs norms of the population whose nearest depot it is;
`team_personnel` compares personnel with ``fire.firefighters_per_1000``.

Gaps: `gap_tables` (uncovered / under-served population per village and township, ranked),
`uncovered_clusters` (buffer-and-dissolve polygons with their population) and
`hazard_shelter_check` (villages in high/medium hazard zones without a shelter within its
standard).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import sparse

__all__ = [
    "KINDS",
    "NEED_ITEMS",
    "Assignment",
    "Kind",
    "assign_demand",
    "coverage",
    "demand_shelter_times",
    "depot_coverage",
    "depot_supply",
    "fire_coverage",
    "gap_tables",
    "hazard_shelter_check",
    "need_items",
    "shelter_assignment",
    "shelter_capacity",
    "shelter_coverage",
    "team_coverage",
    "team_personnel",
    "uncovered_clusters",
]


# --- kinds of facility ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Kind:
    """How one kind of facility is measured.

    ``norm``: the standard's norm key (``<norm>.<class>`` when ``class_col`` is set);
    ``unit_s``: seconds per unit of the norm (60 for minutes, 3600 for hours).
    """

    name: str
    direction: Literal["to_facility", "from_facility"]
    norm: str
    unit_s: float
    class_col: str | None = None


KINDS: dict[str, Kind] = {
    "shelters": Kind("shelters", "to_facility", "shelter.service_time_min", 60.0, "duration_class"),
    "fire": Kind("fire", "from_facility", "fire.response_min", 60.0),
    "depots": Kind("depots", "from_facility", "depot.delivery_h", 3600.0, "level"),
    "teams": Kind("teams", "from_facility", "team.response_min", 60.0),
}

FIRE_STATION = "fire_station"


def _norms(norms):
    if norms is None:
        from emgis.layers.norms import default_norms

        return default_norms()
    return norms


# --- inputs ---------------------------------------------------------------------------------------

def _demand_snapped(graph, demand, norms) -> tuple[np.ndarray, np.ndarray]:
    """Return (node, offroad_s) of the demand points, snapping them when not done yet."""
    if not {"node", "offroad_s"} <= set(demand.columns):
        from emgis.layers.demand import snap_demand

        demand = snap_demand(graph, demand, norms=norms)
    node = np.asarray(demand["node"], dtype=np.int64)
    off = np.asarray(demand["offroad_s"], dtype=float)
    off = np.where(node >= 0, np.nan_to_num(off, nan=0.0), np.nan)
    return node, off


def _facility_points(graph, fac, norms):
    """Return `geo.routing.Facilities` for a facility frame.

    Uses columns ``node`` and ``offroad_s`` when present (already snapped), else the point
    geometry (any CRS) or ``lon``/``lat`` columns.
    """
    from emgis.geo.routing import Facilities, snap_facilities

    if {"node", "offroad_s"} <= set(fac.columns):
        nodes = np.asarray(fac["node"], dtype=np.int64)
        off = np.nan_to_num(np.asarray(fac["offroad_s"], dtype=float), nan=0.0)
        dist = (np.asarray(fac["snap_m"], dtype=float) if "snap_m" in fac.columns
                else np.zeros(nodes.size))
        return Facilities(nodes, off, dist)
    if hasattr(fac, "geometry") and getattr(fac, "crs", None) is not None:
        import shapely

        g = fac.geometry.to_crs(4326).to_numpy()
        bad = shapely.is_missing(g) | shapely.is_empty(g)
        if bad.any():
            raise ValueError(f"facilities: {int(bad.sum())} row(s) have no geometry (positions "
                             f"{np.flatnonzero(bad)[:5].tolist()}); drop them or give a point")
        g = np.where(shapely.get_type_id(g) == 0, g, shapely.point_on_surface(g))
        lon, lat = shapely.get_x(g), shapely.get_y(g)
    elif {"lon", "lat"} <= set(fac.columns):
        lon = np.asarray(fac["lon"], dtype=float)
        lat = np.asarray(fac["lat"], dtype=float)
    else:
        raise ValueError("facilities: give a GeoDataFrame of points with a CRS, columns lon/lat, "
                         "or pre-snapped columns node/offroad_s")
    return snap_facilities(graph, lon, lat, norms=norms)


def _ids(fac) -> np.ndarray:
    return fac["id"].to_numpy() if "id" in fac.columns else fac.index.to_numpy()


def _take_ids(ids: np.ndarray, idx: np.ndarray):
    """Facility ids at positions ``idx`` (missing where idx < 0), as a nullable array."""
    ok = idx >= 0
    vals = ids[np.where(ok, idx, 0)] if ids.size else np.zeros(idx.size, dtype=object)
    if ids.size and np.issubdtype(ids.dtype, np.integer):
        return pd.arrays.IntegerArray(np.where(ok, vals, 0).astype(np.int64), ~ok)
    return pd.array([str(v) if k else None for v, k in zip(vals, ok, strict=True)], dtype="str")


def _standard_seconds(kind: Kind, classes: np.ndarray | None, norms) -> np.ndarray | float:
    if kind.class_col is None:
        return norms.number(kind.norm) * kind.unit_s
    out = np.empty(classes.size)
    missing = []
    for c in pd.unique(classes):
        key = f"{kind.norm}.{c}"
        if c is None or (isinstance(c, float) and np.isnan(c)) or key not in norms:
            missing.append(c)
            continue
        out[classes == c] = norms.number(key) * kind.unit_s
    if missing:
        known = sorted(norms.group(kind.norm))
        raise ValueError(f"{kind.name}: {kind.class_col} value(s) {missing} have no norm "
                         f"{kind.norm}.<class>; use one of {known} (or add the norm)")
    return out


# --- coverage ---------------------------------------------------------------------------------------

def coverage(graph, demand, facilities, kind: str | Kind, *, norms=None,
             standard_s: float | None = None, cutoff_s: float | None = None,
             closures: Any = None) -> pd.DataFrame:
    """Return, per demand point, the nearest facility of ``kind`` and whether it is covered.

    Parameters
    ----------
    graph
        `geo.compiled.CompiledGraph`.
    demand
        Demand points (`layers.demand.village_demand`; snapped with
        `layers.demand.snap_demand` or snapped here): columns code, population, geometry
        and, when snapped, node / offroad_s.
    facilities
        (Geo)DataFrame of facilities: point geometry (or lon/lat, or pre-snapped node /
        offroad_s), ``id`` (else the index is the id) and, for shelters, ``duration_class``;
        for depots ``level``. For ``kind="fire"`` only rows with ``team_type ==
        "fire_station"`` count when the column is there.
    kind
        ``"shelters"``, ``"fire"``, ``"depots"``, ``"teams"`` or a `Kind`.
    norms
        `layers.norms.Norms` (defaults when None).
    standard_s
        Override the standard (seconds) for every facility.
    cutoff_s
        Do not search beyond this many seconds (times beyond it are ``inf``).
    closures
        Closed edges (see `geo.routing.closures_from_polygons`).

    Returns
    -------
    pandas.DataFrame
        Same index as ``demand``; columns code, population (when given), ``time_s`` to the
        nearest facility (``inf`` unreachable), ``facility`` (its position in
        ``facilities``, -1 none), ``facility_id``, ``class`` (of that facility),
        ``standard_s`` (of that facility), ``covered`` (any facility within its own
        standard), ``covered_by`` / ``covered_by_id`` (the fastest such facility, -1 /
        missing), ``slack_s`` (standard minus time of ``covered_by``, or of the nearest
        when uncovered), and ``time_s.<class>`` per class.
    """
    from emgis.geo.routing import Facilities, nearest_facility_times

    norms = _norms(norms)
    k = KINDS[kind] if isinstance(kind, str) else kind
    nodes, off = _demand_snapped(graph, demand, norms)
    n = nodes.size
    fac_all = _facility_points(graph, facilities, norms) if len(facilities) else None
    use = np.ones(len(facilities), dtype=bool)
    if k.name == "fire" and "team_type" in facilities.columns:
        use = (facilities["team_type"].astype("str") == FIRE_STATION).to_numpy()
    if k.class_col is not None and k.class_col not in facilities.columns and standard_s is None:
        raise ValueError(f"{k.name}: facilities have no column {k.class_col!r}, needed for the "
                         f"standard {k.norm}.<class>; add it or pass standard_s=")
    classes = (facilities[k.class_col].astype(object).to_numpy() if k.class_col in facilities.columns
               else np.full(len(facilities), "all", dtype=object))
    if k.class_col is None:
        classes = np.full(len(facilities), "all", dtype=object)
    if standard_s is not None:
        std = np.full(len(facilities), float(standard_s))
    else:
        s = _standard_seconds(k, classes[use] if k.class_col else None, norms)
        std = np.full(len(facilities), np.nan)
        std[use] = s
    ok = nodes >= 0
    times = {}
    owners = {}
    for c in pd.unique(classes[use]):
        idx = np.flatnonzero(use & (classes == c))
        sub = Facilities(fac_all.nodes[idx], fac_all.offset_s[idx], fac_all.distance_m[idx])
        t_node, f = nearest_facility_times(graph, sub, cutoff_s=cutoff_s, closures=closures,
                                           direction=k.direction, norms=norms)
        t = np.full(n, np.inf)
        fi = np.full(n, -1, dtype=np.int64)
        t[ok] = t_node[nodes[ok]] + off[ok]
        fn = f[nodes[ok]]
        fi[ok] = np.where(fn >= 0, idx[np.maximum(fn, 0)], -1)
        if cutoff_s is not None:
            beyond = t > cutoff_s
            t[beyond], fi[beyond] = np.inf, -1
        t[fi < 0] = np.inf
        times[c], owners[c] = t, fi
    keys = list(times)
    if keys:
        T = np.column_stack([times[c] for c in keys])
        F = np.column_stack([owners[c] for c in keys])
        S = np.column_stack([np.where(F[:, j] >= 0, std[np.maximum(F[:, j], 0)], np.nan)
                             for j in range(len(keys))])
        best = np.argmin(T, axis=1)
        rows = np.arange(n)
        t_near, f_near = T[rows, best], F[rows, best]
        meets = np.isfinite(T) & (T <= S)  # nan compares False
        T_meet = np.where(meets, T, np.inf)
        bm = np.argmin(T_meet, axis=1)
        covered = meets.any(axis=1)
        f_cov = np.where(covered, F[rows, bm], -1)
        t_cov = T[rows, bm]
    else:
        t_near = np.full(n, np.inf)
        f_near = np.full(n, -1, dtype=np.int64)
        covered = np.zeros(n, dtype=bool)
        f_cov = np.full(n, -1, dtype=np.int64)
        t_cov = np.full(n, np.inf)
    f_near = np.where(np.isfinite(t_near), f_near, -1)
    std_near = np.where(f_near >= 0, std[np.maximum(f_near, 0)] if std.size else np.nan, np.nan)
    ids = _ids(facilities)
    out = pd.DataFrame(index=demand.index)
    for col in ("code", "name", "population"):
        if col in demand.columns:
            out[col] = demand[col].to_numpy()
    out["time_s"] = t_near
    out["facility"] = f_near
    out["facility_id"] = _take_ids(ids, f_near)
    cls_near = [str(classes[f]) if f >= 0 else None for f in f_near]
    out["class"] = pd.array(cls_near, dtype="str")
    out["standard_s"] = std_near
    out["covered"] = covered
    out["covered_by"] = f_cov
    out["covered_by_id"] = _take_ids(ids, f_cov)
    std_cov = np.where(f_cov >= 0, std[np.maximum(f_cov, 0)] if std.size else np.nan, np.nan)
    out["slack_s"] = np.where(covered, std_cov - t_cov, std_near - t_near)
    for c in keys:
        out[f"time_s.{c}"] = times[c]
    pop = np.asarray(demand["population"], dtype=float) if "population" in demand.columns else None
    notes = [f"{k.name}: {int(use.sum())} facilities, direction {k.direction}, "
             f"rule: covered if any facility is reached within its own standard ({k.norm})"]
    if (~ok).any():
        notes.append(f"{int((~ok).sum())} demand point(s) have no position/node and are uncovered")
    if pop is not None:
        notes.append(f"covered population {pop[covered].sum():,.0f} of {pop.sum():,.0f}")
    out.attrs["notes"] = notes
    out.attrs["kind"] = k.name
    return out


def shelter_coverage(graph, demand, shelters, **kw) -> pd.DataFrame:
    """`coverage` of shelters: people travel to the shelter; per-class service time."""
    return coverage(graph, demand, shelters, "shelters", **kw)


def fire_coverage(graph, demand, team_bases, **kw) -> pd.DataFrame:
    """`coverage` of fire stations (team_type fire_station): ``fire.response_min`` from the station."""
    return coverage(graph, demand, team_bases, "fire", **kw)


def depot_coverage(graph, demand, depots, **kw) -> pd.DataFrame:
    """`coverage` of depots: delivery from the depot within ``depot.delivery_h.<level>``."""
    return coverage(graph, demand, depots, "depots", **kw)


def team_coverage(graph, demand, team_bases, *, team_types=None, **kw) -> pd.DataFrame:
    """`coverage` of rescue teams: ``team.response_min`` from the base.

    ``team_types``: only these types count (all when None; fire stations are teams too).
    Positions in ``facility`` refer to the rows kept.
    """
    if team_types is not None and "team_type" in team_bases.columns:
        team_bases = team_bases[team_bases["team_type"].astype("str").isin(list(team_types))]
    return coverage(graph, demand, team_bases, "teams", **kw)


# --- capacity ---------------------------------------------------------------------------------------

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
                       if f"shelter.m2_per_person.{c}" in norms else np.nan for c in cls], dtype=float)
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
                           f"{', '.join(map(str, out['id'][unknown].head(10)))}"] if unknown.any() else [])
    return out


def demand_shelter_times(graph, demand, shelters, *, norms=None, cutoff_s: float | None = None,
                         closures: Any = None):
    """Return the sparse demand × shelter travel-time matrix (seconds, both snaps included).

    People travel to the shelter. Pairs slower than ``cutoff_s`` (default: the largest
    shelter service time in the norms) are left out.
    """
    norms = _norms(norms)
    if cutoff_s is None:
        cutoff_s = max(float(v) for v in norms.group("shelter.service_time_min").values()) * 60.0
    return demand_facility_times(graph, demand, shelters, cutoff_s=cutoff_s, norms=norms, closures=closures)


def demand_facility_times(graph, demand, facilities, *, cutoff_s: float,
                          direction: Literal["to_facility", "from_facility"] = "to_facility",
                          norms=None, closures: Any = None):
    """Return the sparse demand × facility travel-time matrix (seconds, both snaps included).

    ``direction``: ``to_facility`` (people go to a shelter) or ``from_facility`` (a team,
    depot or fire engine comes to the village). Pairs slower than ``cutoff_s`` are left out.
    The siting models take this matrix with candidates as the facilities.
    """
    from emgis.geo.routing import SparseTimes, travel_time_matrix

    norms = _norms(norms)
    nodes, off = _demand_snapped(graph, demand, norms)
    fac = _facility_points(graph, facilities, norms)
    ok = np.flatnonzero(nodes >= 0)
    if ok.size == 0 or len(fac) == 0:
        return SparseTimes(np.array([], np.int64), np.array([], np.int64), np.array([]),
                           (nodes.size, len(fac)))
    # unique nodes on both sides, then expand (several villages may share a node)
    un, inv = np.unique(nodes[ok], return_inverse=True)
    fn, finv = np.unique(fac.nodes, return_inverse=True)
    if direction == "to_facility":
        m = travel_time_matrix(graph, un, fn, cutoff_s=cutoff_s, closures=closures)
        rows, cols = m.rows, m.cols
    else:
        m = travel_time_matrix(graph, fn, un, cutoff_s=cutoff_s, closures=closures)
        rows, cols = m.cols, m.rows
    csr = sparse.csr_array((m.times + 1.0, (rows, cols)), shape=(un.size, fn.size))  # +1: keep zeros
    sub = csr[inv][:, finv].tocoo()
    r = ok[sub.row]
    c = sub.col
    t = sub.data - 1.0 + off[r] + fac.offset_s[c]
    keep = t <= cutoff_s
    return SparseTimes(r[keep].astype(np.int64), c[keep].astype(np.int64), t[keep],
                       (nodes.size, len(fac)))


@dataclass
class Assignment:
    """Demand assigned to shelters under capacities.

    ``flows``: persons, demand × shelter (CSR). ``demand``: per demand point population,
    assigned, unserved (= population − assigned), reachable (some shelter within the time
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


def _times_csr(times, shape=None) -> sparse.csr_array:
    if hasattr(times, "rows") and hasattr(times, "times"):
        r, c, t, shp = (np.asarray(times.rows), np.asarray(times.cols), np.asarray(times.times, float),
                        tuple(times.shape))
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


def assign_demand(times, population, capacity, *, max_time_s: Any = None,
                  unknown_capacity: Literal["zero", "unlimited"] = "zero",
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
        ``"zero"`` (default, pessimistic: a shelter of unknown capacity takes nobody) or
        ``"unlimited"``.
    """
    w = np.asarray(population, dtype=float)
    cap = np.asarray(capacity, dtype=float)
    r, c, t, shp = _times_csr(times, (w.size, cap.size))
    if max_time_s is not None:
        lim = np.broadcast_to(np.asarray(max_time_s, dtype=float), (cap.size,))
        keep = t <= lim[c]
        r, c, t = r[keep], c[keep], t[keep]
    known = np.isfinite(cap)
    eff = np.where(known, np.maximum(cap, 0.0), 0.0 if unknown_capacity == "zero" else np.inf)
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
    load = np.bincount(cc, weights=x, minlength=n_s)
    ptime = np.bincount(rr, weights=x * tt, minlength=n_d)
    dem = pd.DataFrame({
        "population": w, "assigned": assigned, "unserved": w - assigned, "reachable": reach,
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
    if (~known).any():
        notes.append(f"{int((~known).sum())} shelter(s) of unknown capacity counted as "
                     f"{unknown_capacity}")
    notes.append(f"served {served:,.0f} of {total:,.0f} persons; unserved {total - served:,.0f} "
                 f"({int((~reach & (w > 0)).sum())} populated point(s) have no shelter within the limit)")
    return Assignment(status, flows, dem, she, total, served, total - served,
                      float((x * tt).sum()), notes)


def shelter_assignment(graph, demand, shelters, *, norms=None, share: float = 1.0,
                       unknown_capacity: Literal["zero", "unlimited"] = "zero",
                       subtract_occupancy: bool = True, closures: Any = None) -> Assignment:
    """Assign village demand to shelters within each shelter's class service time.

    Wires `shelter_capacity` (available places), `demand_shelter_times` and `assign_demand`
    with ``max_time_s`` = ``shelter.service_time_min.<duration_class>`` of each shelter;
    ``share`` of each village's population is to be sheltered (1.0: everybody).
    ``shelters`` attribute columns (id, duration_class) are copied into the result.
    """
    norms = _norms(norms)
    cap = shelter_capacity(shelters, norms, subtract_occupancy=subtract_occupancy)
    std = _standard_seconds(KINDS["shelters"], shelters["duration_class"].astype(object).to_numpy(), norms)
    times = demand_shelter_times(graph, demand, shelters, norms=norms, closures=closures,
                                 cutoff_s=float(np.max(std)) if len(std) else None)
    out = assign_demand(times, np.asarray(demand["population"], dtype=float) * share,
                        cap["available"].to_numpy(), max_time_s=std, unknown_capacity=unknown_capacity)
    out.shelters.insert(0, "id", cap["id"].to_numpy())
    out.shelters.insert(1, "duration_class", shelters["duration_class"].astype("str").to_numpy())
    out.shelters["standard_s"] = std
    if "code" in demand.columns:
        out.demand.insert(0, "code", demand["code"].astype("str").to_numpy())
    out.notes = cap.attrs.get("notes", []) + out.notes
    return out


# --- depots and teams ---------------------------------------------------------------------------------

# stock item names (Chinese and English) that count against each needs.* norm
NEED_ITEMS: dict[str, tuple[str, ...]] = {
    "rice": ("rice", "大米", "米", "粮食", "方便食品", "食品"),
    "drinking_water": ("drinking_water", "饮用水", "瓶装水", "矿泉水"),
    "clean_water": ("clean_water", "清洁用水", "生活用水"),
    "family_kits": ("family_kits", "family_kit", "家庭包", "家庭用品包"),
    "toilets": ("toilets", "toilet", "厕所", "移动厕所", "简易厕所"),
}


def need_items(norms=None, *, weeks: float = 1.0) -> pd.DataFrame:
    """Return the per-person needs from the ``needs.*`` norms: item, key, per_person, unit.

    ``*_per_person_week`` norms are multiplied by ``weeks``; item is the key without the
    unit and rate suffix (``rice_kg_per_person_week`` → ``rice``).
    """
    norms = _norms(norms)
    rows = []
    for suffix, v in norms.group("needs").items():
        if isinstance(v, str):
            continue
        base, _, rate = suffix.partition("_per_person")
        per = float(v) * (weeks if rate == "_week" else 1.0)
        item = base
        for unit_tail in ("_kg", "_l"):
            if item.endswith(unit_tail):
                item = item[: -len(unit_tail)]
        rows.append({"item": item, "key": f"needs.{suffix}", "per_person": per,
                     "unit": norms[f"needs.{suffix}"].unit})
    return pd.DataFrame(rows, columns=["item", "key", "per_person", "unit"])


def _served_by(cov: pd.DataFrame, population=None, *, covered_only: bool = False) -> pd.DataFrame:
    pop = np.asarray(cov["population"] if population is None else population, dtype=float)
    col = "covered_by_id" if covered_only else "facility_id"
    ids = cov[col]
    df = pd.DataFrame({"id": ids.to_numpy(), "population": pop})
    df = df[ids.notna().to_numpy()]
    return df.groupby("id", sort=True)["population"].sum()


def depot_supply(depot_cov: pd.DataFrame, stock: pd.DataFrame, norms=None, *, depot_ids=None,
                 population=None, share: float = 1.0, weeks: float = 1.0,
                 item_map: dict[str, tuple[str, ...]] | None = None) -> pd.DataFrame:
    """Compare each depot's stock with the needs of the population it serves.

    A depot serves the demand points whose nearest depot it is (``depot_cov`` from
    `depot_coverage`); need = population × ``share`` × per-person norm (× ``weeks`` for
    weekly norms). Stock rows are matched to needs through ``item_map`` (default
    `NEED_ITEMS`, case-insensitive) and summed.

    Returns
    -------
    pandas.DataFrame
        One row per depot × need item: depot_id, item, population_served, need, stock,
        unit, shortfall (need − stock when positive), cover_ratio (stock / need); ranked by
        shortfall. ``attrs["unmatched_items"]`` lists stock items no norm applies to.
    """
    needs = need_items(norms, weeks=weeks)
    item_map = NEED_ITEMS if item_map is None else item_map
    served = _served_by(depot_cov, population)
    if depot_ids is None:
        depot_ids = served.index.to_numpy()
    depot_ids = list(pd.unique(np.asarray(list(depot_ids) + list(stock["depot_id"].unique()
                                                                 if len(stock) else []), dtype=object)))
    lookup = {}
    for item, names in item_map.items():
        for nm in names:
            lookup[str(nm).strip().lower()] = item
    st = stock.copy()
    matched = [lookup.get(str(s).strip().lower()) for s in st["item"]]
    unmatched = sorted({str(s) for s, m in zip(st["item"], matched, strict=True) if m is None})
    st["need_item"] = pd.array(matched, dtype="str")
    st = st[st["need_item"].notna()]
    qty = st.groupby([st["depot_id"].astype(object), "need_item"])["quantity"].sum()
    rows = []
    for d in depot_ids:
        p = float(served.get(d, 0.0)) * share
        for _, nd in needs.iterrows():
            need = p * nd["per_person"]
            s = float(qty.get((d, nd["item"]), 0.0))
            rows.append({"depot_id": d, "item": nd["item"], "population_served": p, "need": need,
                         "stock": s, "unit": nd["unit"], "shortfall": max(need - s, 0.0),
                         "cover_ratio": s / need if need > 0 else np.nan})
    out = pd.DataFrame(rows, columns=["depot_id", "item", "population_served", "need", "stock",
                                      "unit", "shortfall", "cover_ratio"])
    out = out.sort_values(["shortfall", "depot_id", "item"], ascending=[False, True, True],
                          kind="stable").reset_index(drop=True)
    out.attrs["unmatched_items"] = unmatched
    return out


def team_personnel(team_cov: pd.DataFrame, teams: pd.DataFrame, norms=None, *, population=None,
                   per_1000_key: str = "fire.firefighters_per_1000") -> pd.DataFrame:
    """Compare each team's personnel with the population whose nearest team it is.

    required = ceil(population_served / 1000 × norm ``per_1000_key``); shortfall =
    required − personnel when positive.

    Returns
    -------
    pandas.DataFrame
        id, personnel, population_served, required, shortfall, persons_per_member; ranked
        by shortfall.
    """
    norms = _norms(norms)
    rate = norms.number(per_1000_key)
    served = _served_by(team_cov, population)
    ids = _ids(teams)
    if team_cov.attrs.get("kind") == "fire" and "team_type" in teams.columns:
        keep = (teams["team_type"].astype("str") == FIRE_STATION).to_numpy()
        teams, ids = teams[keep], ids[keep]
    pers = pd.to_numeric(teams["personnel"], errors="coerce").fillna(0).to_numpy(dtype=float)
    pop = np.array([float(served.get(i, 0.0)) for i in ids])
    req = np.ceil(pop * rate / 1000.0 - 1e-9)
    out = pd.DataFrame({"id": ids, "personnel": pers, "population_served": pop, "required": req,
                        "shortfall": np.maximum(req - pers, 0.0),
                        "persons_per_member": np.divide(pop, pers, out=np.full(pop.size, np.inf),
                                                        where=pers > 0)})
    out.attrs["norm"] = f"{per_1000_key} = {rate:g} per 1000"
    return out.sort_values(["shortfall", "id"], ascending=[False, True], kind="stable").reset_index(drop=True)


# --- gaps --------------------------------------------------------------------------------------------

def gap_tables(demand, covered, unserved=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Uncovered and under-served population per village and per township, ranked.

    ``uncovered`` = population of points not covered; ``underserved`` = unserved persons
    (from `assign_demand`) beyond the uncovered ones (covered in reach, but no capacity
    left); ``gap`` = their sum. Township = first 9 digits of the 12-digit code.

    Returns
    -------
    (villages, townships)
        Both ranked by gap (then code). Villages: code, name, township, population,
        uncovered, underserved, gap, gap_share. Townships: township, villages, population,
        uncovered, underserved, gap, gap_share, villages_with_gap.
    """
    pop = np.asarray(demand["population"], dtype=float)
    cov = np.asarray(covered, dtype=bool)
    unc = np.where(cov, 0.0, pop)
    if unserved is None:
        und = np.zeros(pop.size)
    else:
        und = np.clip(np.asarray(unserved, dtype=float) - unc, 0.0, None)
    code = demand["code"].astype("str").to_numpy(dtype=object)
    v = pd.DataFrame({
        "code": pd.array(code, dtype="str"),
        "name": (demand["name"].astype("str").to_numpy(dtype=object) if "name" in demand.columns
                 else np.full(pop.size, None, dtype=object)),
        "township": pd.array([str(c)[:9] for c in code], dtype="str"),
        "population": pop, "uncovered": unc, "underserved": und, "gap": unc + und,
    })
    v["name"] = v["name"].astype("str")
    v["gap_share"] = np.divide(v["gap"], pop, out=np.zeros(pop.size), where=pop > 0)
    v = v.sort_values(["gap", "code"], ascending=[False, True], kind="stable").reset_index(drop=True)
    g = v.assign(villages=1, villages_with_gap=(v["gap"] > 0).astype(int)).groupby("township", sort=True)
    t = g[["villages", "population", "uncovered", "underserved", "gap", "villages_with_gap"]].sum()
    t = t.reset_index()
    t["gap_share"] = np.divide(t["gap"].to_numpy(), t["population"].to_numpy(),
                               out=np.zeros(len(t)), where=t["population"].to_numpy() > 0)
    t = t[["township", "villages", "population", "uncovered", "underserved", "gap", "gap_share",
           "villages_with_gap"]]
    t = t.sort_values(["gap", "township"], ascending=[False, True], kind="stable").reset_index(drop=True)
    return v, t


def uncovered_clusters(demand, covered, *, radius_m: float = 1000.0, metric_crs: Any = None,
                       min_population: float = 0.0):
    """Polygons around clusters of uncovered demand points, with their population.

    Uncovered points are buffered by ``radius_m`` in a metric CRS and the buffers are
    dissolved; each connected part is one cluster (points closer than ``2 × radius_m``
    join). Points without geometry are left out.

    Returns
    -------
    geopandas.GeoDataFrame
        cluster, points, population, codes (``;``-joined), geometry (EPSG:4326), ranked by
        population; clusters below ``min_population`` dropped.
    """
    import geopandas as gpd
    import shapely

    from emgis.geo.crs import metric_crs_for

    cov = np.asarray(covered, dtype=bool)
    g = demand.geometry
    arr = g.to_numpy()
    ok = ~(shapely.is_missing(arr) | shapely.is_empty(arr)) & ~cov
    cols = ["cluster", "points", "population", "codes"]
    if not ok.any():
        return gpd.GeoDataFrame({c: [] for c in cols}, geometry=[], crs=4326)
    sel = demand[ok]
    g84 = sel.geometry.to_crs(4326)
    crs = metric_crs if metric_crs is not None else metric_crs_for(tuple(g84.total_bounds))
    pts = g84.to_crs(crs).to_numpy()
    merged = shapely.union_all(shapely.buffer(pts, float(radius_m), quad_segs=8))
    parts = shapely.get_parts(merged)
    tree = shapely.STRtree(parts)
    pi, qi = tree.query(pts, predicate="intersects")
    which = np.full(len(pts), -1, dtype=np.int64)
    which[pi] = qi
    pop = np.asarray(sel["population"], dtype=float)
    codes = sel["code"].astype("str").to_numpy(dtype=object) if "code" in sel.columns else \
        np.array([str(i) for i in sel.index], dtype=object)
    n = len(parts)
    cnt = np.bincount(which, minlength=n)
    ppop = np.bincount(which, weights=pop, minlength=n)
    cl_codes = [";".join(sorted(codes[which == j])) for j in range(n)]
    out = gpd.GeoDataFrame({"points": cnt, "population": ppop,
                            "codes": pd.array(cl_codes, dtype="str")},
                           geometry=gpd.GeoSeries(parts, crs=crs), crs=crs).to_crs(4326)
    out = out[out["population"] >= min_population]
    out = out.sort_values(["population", "points"], ascending=[False, False], kind="stable")
    out = out.reset_index(drop=True)
    out.insert(0, "cluster", np.arange(1, len(out) + 1))
    return out


def hazard_shelter_check(demand, shelter_cov: pd.DataFrame, hazard_zones, *,
                         levels: tuple[str, ...] = ("high", "medium"), villages=None) -> pd.DataFrame:
    """Villages in a disaster-prone area without a usable shelter within its standard.

    A village is in a disaster-prone area when its polygon (``villages``: GeoDataFrame with
    ``code``; else its demand point) intersects a hazard zone whose ``level`` is in
    ``levels``; it fails when ``shelter_cov["covered"]`` is False (see `coverage`: no
    shelter reachable within its own class's service time).

    Returns
    -------
    pandas.DataFrame
        The failing villages: code, name, population, hazard_types, hazard_levels, time_s,
        facility_id (nearest shelter), standard_s; ranked by population.
        ``attrs["in_hazard"]`` is the number of villages in hazard zones.
    """
    import geopandas as gpd

    zones = hazard_zones
    if "level" in zones.columns:
        zones = zones[zones["level"].astype("str").isin(list(levels)).to_numpy()]
    zones = zones.to_crs(4326) if zones.crs is not None else zones.set_crs(4326)
    codes = demand["code"].astype("str").to_numpy(dtype=object)
    if villages is not None:
        vg = villages[["code", villages.geometry.name]].copy()
        vg["code"] = vg["code"].astype("str")
        vg = vg.to_crs(4326)
        by_code = dict(zip(vg["code"], vg.geometry, strict=False))
        geoms = [by_code.get(c, p) for c, p in zip(codes, demand.geometry.to_crs(4326), strict=True)]
    else:
        geoms = list(demand.geometry.to_crs(4326))
    places = gpd.GeoDataFrame({"row": np.arange(len(demand))}, geometry=geoms, crs=4326)
    places = places[~(places.geometry.isna() | places.geometry.is_empty)]
    zcols = [c for c in ("hazard_type", "level") if c in zones.columns]
    hit = gpd.sjoin(places, zones[[*zcols, zones.geometry.name]], how="inner", predicate="intersects")
    in_hz = np.zeros(len(demand), dtype=bool)
    in_hz[hit["row"].to_numpy()] = True
    types = hit.groupby("row")["hazard_type"].agg(lambda s: ";".join(sorted(set(map(str, s))))) \
        if "hazard_type" in hit.columns else pd.Series(dtype=object)
    lv = hit.groupby("row")["level"].agg(lambda s: ";".join(sorted(set(map(str, s))))) \
        if "level" in hit.columns else pd.Series(dtype=object)
    cov = np.asarray(shelter_cov["covered"], dtype=bool)
    fail = np.flatnonzero(in_hz & ~cov)
    out = pd.DataFrame({
        "code": pd.array(codes[fail], dtype="str"),
        "name": pd.array(demand["name"].astype("str").to_numpy(dtype=object)[fail]
                         if "name" in demand.columns else [None] * fail.size, dtype="str"),
        "population": np.asarray(demand["population"], dtype=float)[fail],
        "hazard_types": pd.array([types.get(i) for i in fail], dtype="str"),
        "hazard_levels": pd.array([lv.get(i) for i in fail], dtype="str"),
        "time_s": shelter_cov["time_s"].to_numpy()[fail],
        "facility_id": shelter_cov["facility_id"].array[fail],
        "standard_s": shelter_cov["standard_s"].to_numpy()[fail],
    })
    out = out.sort_values(["population", "code"], ascending=[False, True], kind="stable")
    out = out.reset_index(drop=True)
    out.attrs["in_hazard"] = int(in_hz.sum())
    return out
