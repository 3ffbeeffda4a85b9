"""Generate realistic synthetic road networks for tests and benchmarks.

There is no real OSM network of a whole Chinese county in the shared data, so county-,
city- and province-scale work runs on these. The generator is vectorised numpy and
deterministic from its seed. The network has:

* a jittered lattice of local roads whose density follows settlements (one main town,
  market towns and many village clusters): dense residential grids in villages and towns,
  sparse unclassified roads and tracks between them, small disconnected islands;
* a hierarchy: tertiary and secondary collectors every few lines, primary arterials,
  a trunk cross through the main town and a motorway reached only at interchanges;
* rivers that cut local roads and collectors, crossed by bridges on the main roads and
  by a ferry; one-way pairs in town centres; a few missing collector links.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, TypeAlias, overload

import numpy as np
from pyproj import Transformer
from scipy.spatial import cKDTree

from emgis.geo.compiled import CompiledGraph, NetworkReport, RoadEdges

if TYPE_CHECKING:
    import geopandas as gpd

    from emgis.layers.norms import Norms

__all__ = ["SCALES", "synthetic_network"]

#: scale -> (approximate node count, local road spacing in metres)
SCALES = {"county": (20_000, 250.0), "city": (100_000, 120.0), "province": (1_000_000, 300.0)}

# Lattice periods (in lattice lines) of the road hierarchy.
_COLLECTOR_EVERY = 6
_ARTERIAL_EVERY = 24
# Share of lattice nodes that end up in the network (nodes with at least one road).
_KEPT_SHARE = 0.95

_CLASSES = ["motorway", "motorway_link", "trunk", "primary", "secondary", "tertiary",
            "unclassified", "residential", "track", "ferry"]
_SPEED_CLASS = {"motorway_link": "motorway"}

# What synthetic_network returns: the graph, or with as_lines the graph and its edges.
_GraphOrBoth: TypeAlias = "CompiledGraph | tuple[CompiledGraph, gpd.GeoDataFrame]"


@overload
def synthetic_network(scale: str = ..., *, seed: int = ..., centre: tuple[float, float] = ...,
                      n_nodes: int | None = ..., spacing_m: float | None = ...,
                      norms: Norms | None = ..., as_lines: Literal[False] = ...) -> CompiledGraph:
    ...


@overload
def synthetic_network(scale: str = ..., *, seed: int = ..., centre: tuple[float, float] = ...,
                      n_nodes: int | None = ..., spacing_m: float | None = ...,
                      norms: Norms | None = ...,
                      as_lines: Literal[True]) -> tuple[CompiledGraph, gpd.GeoDataFrame]:
    ...


@overload
def synthetic_network(scale: str = ..., *, seed: int = ..., centre: tuple[float, float] = ...,
                      n_nodes: int | None = ..., spacing_m: float | None = ...,
                      norms: Norms | None = ..., as_lines: bool = ...) -> _GraphOrBoth:
    ...


def synthetic_network(scale: str = "county", *, seed: int = 0,
                      centre: tuple[float, float] = (119.91, 31.03),
                      n_nodes: int | None = None, spacing_m: float | None = None,
                      norms: Norms | None = None, as_lines: bool = False) -> _GraphOrBoth:
    """Generate a road network around ``centre``.

    Parameters
    ----------
    scale
        ``"county"`` (~20k nodes), ``"city"`` (~100k) or ``"province"`` (~1M).
    seed
        Same seed, same network.
    centre
        (lon, lat) of the main town, WGS84. The default is near Changxing, Zhejiang.
    n_nodes, spacing_m
        Override the scale's node count or local road spacing.
    norms
        `layers.norms.Norms` for the class speeds (``road.speed_kmh.*``).
    as_lines
        Also return the edges as a line GeoDataFrame (``graph.edges_gdf()``).

    Returns
    -------
    CompiledGraph, or (CompiledGraph, geopandas.GeoDataFrame) when ``as_lines``.
    """
    from emgis.geo.crs import metric_crs_for
    from emgis.geo.network import road_speeds

    if scale not in SCALES:
        raise ValueError(f"scale={scale!r} is not known; use one of {sorted(SCALES)}")
    target, d = SCALES[scale]
    target = int(n_nodes or target)
    d = float(spacing_m or d)
    if target < 100:
        raise ValueError(f"n_nodes={target} is too small for a road hierarchy; ask for 100 or more")
    rng = np.random.default_rng(seed)
    g = int(np.ceil(np.sqrt(target / _KEPT_SHARE)))
    half = g * d / 2

    jj, ii = np.divmod(np.arange(g * g), g)  # node k = jj * g + ii
    x = (ii - g / 2) * d + rng.uniform(-0.3, 0.3, g * g) * d
    y = (jj - g / 2) * d + rng.uniform(-0.3, 0.3, g * g) * d
    dens = _settlements(rng, x, y, half)

    # lattice edges: horizontal along rows, vertical along columns
    h = np.flatnonzero(ii < g - 1)
    v = np.flatnonzero(jj < g - 1)
    eu = np.concatenate([h, v])
    ev = np.concatenate([h + 1, v + g])
    line = np.concatenate([jj[h], ii[v]])  # index of the lattice line the edge runs along
    mid = g // 2
    cls = np.full(eu.size, 6, dtype=np.int16)  # unclassified
    cls[line % _COLLECTOR_EVERY == 0] = 5  # tertiary
    cls[line % (2 * _COLLECTOR_EVERY) == 0] = 4  # secondary
    cls[line % _ARTERIAL_EVERY == _ARTERIAL_EVERY // 2] = 3  # primary
    cls[line == mid] = 2  # trunk cross through the main town
    local = cls == 6
    e_dens = np.maximum(dens[eu], dens[ev])
    keep = ~local | (rng.random(eu.size) < 0.45 + 0.5 * e_dens)
    cls[local & (e_dens > 0.35)] = 7  # residential
    cls[local & (e_dens < 0.05) & (rng.random(eu.size) < 0.5)] = 8  # track
    keep &= ~((cls == 5) & (rng.random(eu.size) < 0.01))  # missing collector links

    # rivers cut everything but the main roads (bridges); one ferry per river
    ferry = np.zeros(eu.size, dtype=bool)
    for _ in range(max(1, round(2 * half / 40_000))):
        amp = rng.uniform(0.02, 0.08) * half  # drawn in this order: the seed fixes the network
        lam = rng.uniform(0.3, 0.8) * 2 * half
        phase = rng.uniform(0, 6.3)
        y0 = rng.uniform(-0.6, 0.6) * half
        side = (y - y0 - amp * np.sin(2 * np.pi * x / lam + phase)) > 0
        cross = side[eu] != side[ev]
        bridge = (cls <= 3) | ((cls == 4) & (rng.random(eu.size) < 0.3))
        candidates = np.flatnonzero(cross & keep & (cls == 5))
        if candidates.size:
            ferry[rng.choice(candidates)] = True
        keep &= ~cross | bridge | ferry
    cls[ferry] = 9

    # one-way pairs in town centres, alternating by line
    oneway = (cls == 7) & (e_dens > 0.85)
    flip = oneway & (line % 2 == 1)
    eu, ev = np.where(flip, ev, eu), np.where(flip, eu, ev)

    eu, ev, cls, oneway = eu[keep], ev[keep], cls[keep], oneway[keep]
    # motorway on its own nodes, joined to the lattice only at interchanges on arterials
    jm = g // 3
    cols = np.arange(_ARTERIAL_EVERY // 2, g, _ARTERIAL_EVERY)
    if cols.size >= 2:
        mx = (cols - g / 2) * d
        my = np.full(cols.size, (jm - g / 2) * d + 0.5 * d)
        mnodes = g * g + np.arange(cols.size)
        x, y = np.r_[x, mx], np.r_[y, my]
        eu = np.r_[eu, mnodes[:-1], mnodes]
        ev = np.r_[ev, mnodes[1:], jm * g + cols]
        cls = np.r_[cls, np.zeros(cols.size - 1, np.int16), np.ones(cols.size, np.int16)]
        oneway = np.r_[oneway, np.zeros(2 * cols.size - 1, bool)]

    used = np.zeros(x.size, dtype=bool)
    used[eu] = used[ev] = True
    new = np.cumsum(used) - 1
    eu, ev = new[eu], new[ev]
    x, y = x[used], y[used]

    crs = metric_crs_for((centre[0] - 0.01, centre[1] - 0.01, centre[0] + 0.01, centre[1] + 0.01))
    fwd = Transformer.from_crs(4326, crs, always_xy=True)
    cx, cy = fwd.transform(centre[0], centre[1])
    lon, lat = Transformer.from_crs(crs, 4326, always_xy=True).transform(x + cx, y + cy)
    speeds = road_speeds(norms)
    speed = np.array([speeds[_SPEED_CLASS.get(c, c)] for c in _CLASSES])[cls]
    graph = CompiledGraph.from_edges(
        np.asarray(lon), np.asarray(lat),
        RoadEdges(eu, ev, highway=cls, highway_names=list(_CLASSES), speed_kmh=speed,
                  oneway=oneway), crs=crs,
        report=NetworkReport(ways_read=int(eu.size), drivable_ways=int(eu.size)),
    )
    return (graph, graph.edges_gdf()) if as_lines else graph


def _settlements(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, half: float) -> np.ndarray:
    """Return a 0..1 settlement density: main town, market towns and village clusters."""
    area_km2 = (2 * half / 1000) ** 2
    main = np.exp(-(x**2 + y**2) / (2 * (0.08 * half + 1500.0) ** 2))
    dens = main
    for per_km2, sigma, peak in ((1 / 120, 900.0, 0.95), (1 / 5, 250.0, 0.7)):
        k = max(1, int(area_km2 * per_km2))
        centres = rng.uniform(-half, half, (k, 2))
        r, _ = cKDTree(centres).query(np.column_stack([x, y]), k=1)
        dens = np.maximum(dens, peak * np.exp(-(r**2) / (2 * sigma**2)))
    return dens
