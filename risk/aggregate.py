"""Four-colour areas from risk points: colour each area by a declared aggregation rule.

No official rule turns scored risk points (风险点) into coloured areas (domain.md §2.4), so
the rule is chosen by the caller and recorded in every output row (``rule``).

Let an area hold ``n_l`` points of level ``l`` (``n = Σ n_l``) with ranks ``r_l`` (red 4,
orange 3, yellow 2, blue 1; :data:`risk.levels.RANK`):

``max`` (default)
    The area takes the highest level of any point inside it (common practice, [U]).
``count_weighted``
    Mean rank ``r̄ = Σ n_l·r_l / n``, rounded half up (2.5 → 3): the level most points
    pull toward. One red among nine blues gives r̄ = 1.3 → blue, which is why ``max``
    stays the default for a safety map.
``population_weighted``
    Needs a population column on the areas. ``r = r̄ + log10(P / P̃)``, clipped to the
    lowest and highest point rank in the area, rounded half up, where ``P`` is the
    area's population and ``P̃`` the median population of the areas that hold points.
    Ten times the median raises the level by one, a tenth lowers it by one; the clip
    means population never invents a level that no point in the area has. An area with
    ``P = 0`` takes its lowest point level; if ``P̃ = 0`` the term is 0.

An area with no points gets ``level`` None (not blue): blue asserts "assessed, low risk".
Maps should draw such areas unfilled with a grey outline and the legend entry
"未评估 / no risk points".

Risk index (指数化管控), used to rank areas for attention::

    risk_index = Σ_l w_l·n_l × (1 + log10(1 + P / P_unit))

with level weights ``w`` (default red 8, orange 4, yellow 2, blue 1: each level counts
twice the one below, so one red point weighs as much as two orange) and ``P_unit`` =
1000 persons. Without a population column the factor is 1. ``risk_rank`` 1 is the
highest index (ties share the lower rank number). These weights are a design choice, not
a standard; pass ``index=IndexOptions(weights=...)`` to change them.

Points are joined to areas in a projected CRS when the areas carry one
(``areas.attrs["metric_crs"]``, set by :func:`make_grid`) or when ``join_crs`` is given;
admin units drawn in lon/lat are joined in their own CRS. A point on a shared edge is
counted once, in the first matching area in ``areas`` order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from emgis.layers.problems import Problems
from emgis.risk.levels import LEVEL_KEYS, RANK, key_for_rank, level_key

RULES: tuple[str, ...] = ("max", "count_weighted", "population_weighted")
DEFAULT_WEIGHTS: dict[str, float] = {"red": 8.0, "orange": 4.0, "yellow": 2.0, "blue": 1.0}
COUNT_COLUMNS: tuple[str, ...] = tuple(f"n_{k}" for k in LEVEL_KEYS)
_EPS = 1e-9


def _utm_for(geom_4326: shapely.Geometry) -> CRS:
    crs = gpd.GeoSeries([geom_4326], crs="EPSG:4326").estimate_utm_crs()
    if crs is None:
        raise ValueError("cannot choose a UTM zone for the boundary; pass metric_crs explicitly")
    return crs


def make_grid(
    boundary: shapely.Geometry | gpd.GeoSeries | gpd.GeoDataFrame,
    cell_m: float,
    metric_crs: str | int | CRS | None = None,
    *,
    boundary_crs: str | int | CRS = "EPSG:4326",
    prefix: str = "G",
) -> gpd.GeoDataFrame:
    """Make a square grid of ``cell_m`` metres over ``boundary``, clipped to it.

    Parameters
    ----------
    boundary
        The study area: a shapely geometry in ``boundary_crs``, or a GeoSeries /
        GeoDataFrame (its own CRS is used; all parts are merged).
    cell_m
        Cell side in metres.
    metric_crs
        Projected CRS the cells are square in; a UTM zone chosen from the boundary when None.
    boundary_crs
        CRS of a bare shapely ``boundary``.
    prefix
        Code prefix; codes are ``{prefix}{row:04d}_{col:04d}``, rows counted from the north.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``code``, ``row``, ``col``, ``cell_area_m2`` (clipped area), geometry in
        EPSG:4326 (edges densified so they stay the metric cell), and
        ``attrs["metric_crs"]`` so that :func:`aggregate` joins in the metric CRS.
    """
    if not cell_m or cell_m <= 0:
        raise ValueError(f"cell_m={cell_m!r} must be a positive number of metres, e.g. 1000")
    if isinstance(boundary, gpd.GeoDataFrame | gpd.GeoSeries):
        if boundary.crs is None:
            raise ValueError("boundary has no CRS; set it, e.g. boundary.set_crs('EPSG:4326')")
        geom = shapely.union_all(boundary.to_crs("EPSG:4326").geometry.to_numpy())
    else:
        geom = gpd.GeoSeries([boundary], crs=boundary_crs).to_crs("EPSG:4326").iloc[0]
    if geom is None or geom.is_empty or geom.area == 0:
        raise ValueError("boundary is empty or not an area; give the study area polygon(s)")
    metric = CRS.from_user_input(metric_crs) if metric_crs is not None else _utm_for(geom)
    if not metric.is_projected:
        raise ValueError(f"metric_crs={metric.to_string()!r} is not projected; give a UTM or "
                         "Gauss-Kruger CRS in metres")
    poly = gpd.GeoSeries([geom], crs="EPSG:4326").to_crs(metric).iloc[0]
    minx, miny, maxx, maxy = poly.bounds
    x0, y1 = np.floor(minx / cell_m) * cell_m, np.ceil(maxy / cell_m) * cell_m
    ncol = int(np.ceil((maxx - x0) / cell_m))
    nrow = int(np.ceil((y1 - miny) / cell_m))
    rows, cols = np.meshgrid(np.arange(nrow), np.arange(ncol), indexing="ij")
    rows, cols = rows.ravel(), cols.ravel()
    left = x0 + cols * cell_m
    top = y1 - rows * cell_m
    cells = shapely.box(left, top - cell_m, left + cell_m, top)
    keep = shapely.intersects(cells, poly)
    clipped = shapely.intersection(cells[keep], poly)
    nonempty = ~shapely.is_empty(clipped) & (shapely.area(clipped) > 0)
    clipped = clipped[nonempty]
    r, c = rows[keep][nonempty], cols[keep][nonempty]
    dense = shapely.segmentize(clipped, cell_m / 8)
    out = gpd.GeoDataFrame(
        {
            "code": [f"{prefix}{i:04d}_{j:04d}" for i, j in zip(r, c, strict=True)],
            "row": r, "col": c, "cell_area_m2": shapely.area(clipped),
        },
        geometry=gpd.GeoSeries(dense, crs=metric).to_crs("EPSG:4326").to_numpy(),
        crs="EPSG:4326",
    )
    out.attrs["metric_crs"] = metric.to_wkt()
    return out


def _round_half_up(x: np.ndarray) -> np.ndarray:
    return np.floor(x + 0.5 + _EPS)


def _levels_from_counts(counts: np.ndarray, rule: str, population: np.ndarray | None) -> np.ndarray:
    """Return the rank (1..4, 0 where no points) of each area from its level counts.

    ``counts`` has one column per level in :data:`LEVEL_KEYS` order.
    """
    ranks = np.array([RANK[k] for k in LEVEL_KEYS], dtype=float)
    n = counts.sum(axis=1)
    has = n > 0
    present = counts > 0
    max_rank = np.where(present, ranks, 0).max(axis=1)
    if rule == "max":
        return max_rank.astype(int)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_rank = (counts * ranks).sum(axis=1) / np.where(has, n, 1)
    if rule == "count_weighted":
        return np.where(has, _round_half_up(mean_rank), 0).astype(int)
    if population is None:
        raise ValueError("rule='population_weighted' needs population_col on the areas")
    min_rank = np.where(present, ranks, np.inf).min(axis=1)
    p_med = float(np.median(population[has])) if has.any() else 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.log10(population / p_med) if p_med > 0 else np.zeros_like(population)
    r = np.clip(mean_rank + term, np.where(has, min_rank, 0), max_rank)
    return np.where(has, _round_half_up(r), 0).astype(int)


def risk_index(
    counts: np.ndarray,
    population: np.ndarray | None = None,
    *,
    weights: Mapping[str, float] | None = None,
    population_unit: float = 1000.0,
) -> np.ndarray:
    """Return ``Σ w_l·n_l × (1 + log10(1 + P / population_unit))`` per area.

    ``counts`` has one column per level in :data:`LEVEL_KEYS` order (red first).
    """
    w = {**DEFAULT_WEIGHTS, **(weights or {})}
    unknown = set(w) - set(LEVEL_KEYS)
    if unknown:
        raise ValueError(f"weights has unknown level(s) {sorted(unknown)}; "
                         f"use {', '.join(LEVEL_KEYS)}")
    s = np.asarray(counts, dtype=float) @ np.array([w[k] for k in LEVEL_KEYS], dtype=float)
    if population is None:
        return s
    return s * (1.0 + np.log10(1.0 + np.asarray(population, dtype=float) / population_unit))


def _check_inputs(points: gpd.GeoDataFrame, areas: gpd.GeoDataFrame, code_col: str,
                  population_col: str | None,
                  first_row: int) -> tuple[np.ndarray, np.ndarray | None]:
    p = Problems("risk points")
    for name, g in (("points", points), ("areas", areas)):
        if g.crs is None:
            raise ValueError(f"{name} has no CRS; set it (risk points and areas are stored in "
                             "EPSG:4326: gdf.set_crs('EPSG:4326'))")
    if "level" not in points.columns:
        raise ValueError("points has no 'level' column; score them first with "
                         "risk.methods.assess_many")
    raw_levels = points["level"].astype(object)
    lookup = {v: level_key(v) for v in pd.unique(raw_levels.dropna())}  # per distinct value
    levels = raw_levels.map(lookup).to_numpy(dtype=object)
    for i in np.flatnonzero(pd.isna(pd.Series(levels)).to_numpy()):
        raw = points["level"].iloc[i]
        empty = raw is None or (np.ndim(raw) == 0 and bool(pd.isna(raw)))
        p.error(int(i + first_row), "level", None if empty else raw,
                "is empty: the point was not assessed" if empty else "is not a risk level",
                "assess it (risk.methods.assess_many) or drop it" if empty
                else f"use one of {', '.join(LEVEL_KEYS)} (or 重大/较大/一般/低)")
    a = Problems("areas")
    if code_col not in areas.columns:
        a.error(None, code_col, None, "column is missing from the areas",
                "pass code_col= naming the unit code column "
                f"(areas have {', '.join(map(str, areas.columns))})")
    else:
        codes = areas[code_col]
        for i in np.flatnonzero(codes.isna().to_numpy()):
            a.error(int(i + first_row), code_col, None, "is empty", "give every area a unit code")
        for i in np.flatnonzero(codes.duplicated(keep="first").to_numpy()):
            a.error(int(i + first_row), code_col, codes.iloc[i], "repeats an earlier area's code",
                    "give each area a unique code (or dissolve the duplicates first)")
    pop = None
    if population_col is not None:
        if population_col not in areas.columns:
            a.error(None, population_col, None, "column is missing from the areas",
                    "add the population of each area or pass population_col=None")
        else:
            pop_s = pd.to_numeric(areas[population_col], errors="coerce")
            for i in np.flatnonzero((pop_s.isna() | (pop_s < 0)).to_numpy()):
                a.error(int(i + first_row), population_col, areas[population_col].iloc[i],
                        "is not a population (a number ≥ 0)",
                        "give a head count; 0 if nobody lives there")
            pop = pop_s.to_numpy(dtype=float)
    p.extend(a.items)
    p.raise_if_errors()
    return levels, pop


@dataclass(frozen=True)
class IndexOptions:
    """How the risk index weighs levels and people (module docstring; a design choice, not a
    standard)."""

    weights: Mapping[str, float] | None = None
    population_unit: float = 1000.0


def aggregate(
    points: gpd.GeoDataFrame,
    areas: gpd.GeoDataFrame,
    *,
    rule: str = "max",
    code_col: str = "code",
    population_col: str | None = None,
    index: IndexOptions | None = None,
    join_crs: str | int | CRS | None = None,
    first_row: int = 2,
) -> gpd.GeoDataFrame:
    """Colour each area from the levels of the risk points inside it.

    Parameters
    ----------
    points
        Risk points with a ``level`` column (keys or Chinese labels).
    areas
        Admin units or a :func:`make_grid` grid, with a unique ``code_col``.
    rule
        'max' (default), 'count_weighted' or 'population_weighted' (module docstring).
    code_col
        Unit code column of ``areas``.
    population_col
        Population column of ``areas``; required by 'population_weighted', and scales the
        risk index when given.
    index
        Risk-index level weights and population unit (`IndexOptions`, module docstring).
    join_crs
        CRS for the point-in-area join; default ``areas.attrs['metric_crs']`` or areas' CRS.
    first_row
        Row number shown for the first row in problem reports.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per area, in ``areas`` order, EPSG:4326: ``unit_code``, ``level`` (None where
        no points), ``n_points``, ``n_red``, ``n_orange``, ``n_yellow``, ``n_blue``, ``rule``,
        ``population`` (if given), ``risk_index``, ``risk_rank``, geometry.
        ``attrs["points_outside"]`` counts points that fell in no area.
    """
    if rule not in RULES:
        raise ValueError(f"rule={rule!r} is not an aggregation rule; use one of {', '.join(RULES)}")
    if rule == "population_weighted" and population_col is None:
        raise ValueError("rule='population_weighted' needs population_col=<column of areas "
                         "holding the population>")
    levels, pop = _check_inputs(points, areas, code_col, population_col, first_row)
    target = CRS.from_user_input(join_crs or areas.attrs.get("metric_crs") or areas.crs)
    pts = gpd.GeoDataFrame({"lv": levels}, geometry=points.geometry.to_crs(target).to_numpy(),
                           crs=target)
    ars = gpd.GeoDataFrame(geometry=areas.geometry.to_crs(target).to_numpy(), crs=target)
    joined = gpd.sjoin(pts, ars, how="inner", predicate="intersects")
    joined = joined.sort_values("index_right", kind="stable")
    joined = joined[~joined.index.duplicated(keep="first")]
    codes_idx = pd.Categorical(joined["index_right"].to_numpy(), categories=np.arange(len(areas)))
    lv_cat = pd.Categorical(joined["lv"].to_numpy(), categories=list(LEVEL_KEYS))
    counts = pd.crosstab(codes_idx, lv_cat, dropna=False).reindex(
        index=np.arange(len(areas)), columns=list(LEVEL_KEYS), fill_value=0).to_numpy()
    ranks = _levels_from_counts(counts, rule, pop)
    opts = index or IndexOptions()
    index_values = risk_index(counts, pop, weights=opts.weights,
                              population_unit=opts.population_unit)
    out = pd.DataFrame({"unit_code": areas[code_col].to_numpy()})
    out["level"] = pd.Series([key_for_rank(int(r)) if r > 0 else None for r in ranks], dtype=object)
    out["n_points"] = counts.sum(axis=1)
    for j, col in enumerate(COUNT_COLUMNS):
        out[col] = counts[:, j]
    out["rule"] = rule
    if pop is not None:
        out["population"] = pop
    out["risk_index"] = index_values
    ranks_by_index = pd.Series(index_values).rank(method="min", ascending=False)
    out["risk_rank"] = ranks_by_index.astype(int).to_numpy()
    result = gpd.GeoDataFrame(out, geometry=areas.geometry.to_crs("EPSG:4326").to_numpy(),
                              crs="EPSG:4326")
    result.attrs["points_outside"] = int(len(points) - len(joined))
    result.attrs["rule"] = rule
    return result
