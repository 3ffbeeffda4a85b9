"""Coverage: who reaches which facility within its standard, for every kind of facility.

A county bureau measures four kinds of facility against a norm each: shelters, fire
stations, supply depots and rescue teams. They differ in who travels (people go **to** a
shelter; an engine, a lorry or a team comes **from** its base), in the norm that sets the
standard and in the table they are read from; everything else is the same computation.
`Kind` holds those differences and `KINDS` is the one list of them — the CLI (``--layer``),
the API (``?layer=``), the map pages and the demo read it, so a kind is added in one place.

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

`demand_facility_times` / `demand_shelter_times` give the sparse demand × facility matrix
instead of the nearest only: capacity (`shelters.capacity`) and siting take it. What the
answers lead to is elsewhere: places in shelters (`shelters.capacity`), stock and personnel
(`shelters.supply`), gaps by village and township (`shelters.gaps`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

__all__ = [
    "KINDS",
    "Kind",
    "coverage",
    "demand_facility_times",
    "demand_shelter_times",
    "depot_coverage",
    "fire_coverage",
    "kind",
    "kind_names",
    "kinds_help",
    "shelter_coverage",
    "team_coverage",
]


# --- kinds of facility ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Kind:
    """One kind of facility: how it is measured, what it is called and where it is read from.

    ``norm``: the standard's norm key (``<norm>.<class>`` when ``class_col`` is set);
    ``unit_s``: seconds per unit of the norm (60 for minutes, 3600 for hours);
    ``label_zh`` / ``label_en``: its names in tables, titles and maps (`label` joins them);
    ``table``: the facility table it reads (also the `shelters.store.CoverageInputs` field);
    ``team_type``: only rows with this ``team_type`` count, when the table has the column;
    ``aliases``: other names accepted for it (`kind`);
    ``default_class``: the class of new sites when none is given (``emgis site --class``).
    """

    name: str
    direction: Literal["to_facility", "from_facility"]
    norm: str
    unit_s: float
    class_col: str | None = None
    label_zh: str = ""
    label_en: str = ""
    table: str = ""
    team_type: str | None = None
    aliases: tuple[str, ...] = ()
    default_class: str | None = None

    @property
    def label(self) -> str:
        """``避难场所 shelters``: Chinese and English, as every table and map shows it."""
        return f"{self.label_zh} {self.label_en}".strip()


#: The one list of facility kinds: the CLI (--layer), the API (?layer=), the map pages and the
#: demo all read it. Order is the order they are listed in.
KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("shelters", "to_facility", "shelter.service_time_min", 60.0, "duration_class",
         label_zh="避难场所", label_en="shelters", table="shelters", default_class="emergency"),
    Kind("fire", "from_facility", "fire.response_min", 60.0,
         label_zh="消防站", label_en="fire stations", table="team_bases",
         team_type="fire_station"),
    Kind("depots", "from_facility", "depot.delivery_h", 3600.0, "level",
         label_zh="物资储备库", label_en="depots", table="depots", default_class="county"),
    # team_bases: the collection's and /analyses/nearest's name for the same table
    Kind("teams", "from_facility", "team.response_min", 60.0,
         label_zh="救援队伍", label_en="teams", table="team_bases", aliases=("team_bases",)),
)}


def kind_names(*, aliases: bool = False) -> tuple[str, ...]:
    """The kinds' names in `KINDS` order, followed by their aliases when ``aliases``."""
    names = tuple(KINDS)
    if aliases:
        names += tuple(a for k in KINDS.values() for a in k.aliases)
    return names


def kinds_help(*, aliases: bool = True) -> str:
    """``shelters, fire (fire stations), depots, teams (or team_bases)``, for help texts."""
    parts = []
    for k in KINDS.values():
        part = k.name if k.label_en == k.name else f"{k.name} ({k.label_en})"
        if aliases and k.aliases:
            part += f" (or {', '.join(k.aliases)})"
        parts.append(part)
    return ", ".join(parts)


def kind(name: str | Kind) -> Kind:
    """The `Kind` called ``name`` or one of its aliases (``team_bases`` → ``teams``).

    Raises ``ValueError`` naming the known kinds when there is none.
    """
    if isinstance(name, Kind):
        return name
    if name in KINDS:
        return KINDS[name]
    for k in KINDS.values():
        if name in k.aliases:
            return k
    raise ValueError(f"unknown facility kind {name!r}; use one of: {kinds_help()}")


_kind = kind  # coverage()'s parameter is called kind


def _norms(norms):
    if norms is None:
        from emgis.layers.norms import default_norms

        return default_norms()
    return norms


# --- inputs ---------------------------------------------------------------------------------------

def _demand_snapped(graph, demand, norms) -> tuple[np.ndarray, np.ndarray]:
    """Return (node, offroad_s) of the demand points, snapping them when not done yet."""
    if not {"node", "offroad_s"} <= set(demand.columns):
        from emgis.shelters.demand import snap_demand

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


# --- coverage -------------------------------------------------------------------------------------

def coverage(graph, demand, facilities, kind: str | Kind, *, norms=None,
             standard_s: float | None = None, cutoff_s: float | None = None,
             closures: Any = None) -> pd.DataFrame:
    """Return, per demand point, the nearest facility of ``kind`` and whether it is covered.

    Parameters
    ----------
    graph
        `geo.compiled.CompiledGraph`.
    demand
        Demand points (`shelters.demand.village_demand`; snapped with
        `shelters.demand.snap_demand` or snapped here): columns code, population, geometry
        and, when snapped, node / offroad_s.
    facilities
        (Geo)DataFrame of facilities: point geometry (or lon/lat, or pre-snapped node /
        offroad_s), ``id`` (else the index is the id) and, for shelters, ``duration_class``;
        for depots ``level``. For ``kind="fire"`` only rows with ``team_type ==
        "fire_station"`` count when the column is there.
    kind
        A name in `KINDS` (or an alias: see `kind`) or a `Kind`.
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
    k = _kind(kind)
    nodes, off = _demand_snapped(graph, demand, norms)
    n = nodes.size
    fac_all = _facility_points(graph, facilities, norms) if len(facilities) else None
    use = np.ones(len(facilities), dtype=bool)
    if k.team_type is not None and "team_type" in facilities.columns:
        use = (facilities["team_type"].astype("str") == k.team_type).to_numpy()
    if k.class_col is not None and k.class_col not in facilities.columns and standard_s is None:
        raise ValueError(f"{k.name}: facilities have no column {k.class_col!r}, needed for the "
                         f"standard {k.norm}.<class>; add it or pass standard_s=")
    classes = (facilities[k.class_col].astype(object).to_numpy()
               if k.class_col in facilities.columns
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
    """`coverage` of fire stations (team_type fire_station): ``fire.response_min`` from them."""
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


# --- travel-time matrices -------------------------------------------------------------------------

def demand_shelter_times(graph, demand, shelters, *, norms=None, cutoff_s: float | None = None,
                         closures: Any = None):
    """Return the sparse demand × shelter travel-time matrix (seconds, both snaps included).

    People travel to the shelter. Pairs slower than ``cutoff_s`` (default: the largest
    shelter service time in the norms) are left out.
    """
    norms = _norms(norms)
    if cutoff_s is None:
        cutoff_s = max(float(v) for v in norms.group("shelter.service_time_min").values()) * 60.0
    return demand_facility_times(graph, demand, shelters, cutoff_s=cutoff_s, norms=norms,
                                 closures=closures)


def demand_facility_times(graph, demand, facilities, *, cutoff_s: float,
                          direction: Literal["to_facility", "from_facility"] = "to_facility",
                          norms=None, closures: Any = None):
    """Return the sparse demand × facility travel-time matrix (seconds, both snaps included).

    ``direction``: ``to_facility`` (people go to a shelter) or ``from_facility`` (a team,
    depot or fire engine comes to the village). Pairs slower than ``cutoff_s`` are left out.
    The siting models take this matrix with candidates as the facilities.
    """
    from scipy import sparse

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
    # +1: keep zero times as stored entries
    csr = sparse.csr_array((m.times + 1.0, (rows, cols)), shape=(un.size, fn.size))
    sub = csr[inv][:, finv].tocoo()
    r = ok[sub.row]
    c = sub.col
    t = sub.data - 1.0 + off[r] + fac.offset_s[c]
    keep = t <= cutoff_s
    return SparseTimes(r[keep].astype(np.int64), c[keep].astype(np.int64), t[keep],
                       (nodes.size, len(fac)))

