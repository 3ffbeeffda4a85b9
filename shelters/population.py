"""Population on a grid by unit: zonal sums and dasymetric rescaling to census totals.

Rasters are read and written by ``emgis.layers.load.rasters`` (:class:`PopRaster`); this
module answers where the people are: how many live in each unit by the raster, and the
raster rescaled so that each unit holds its census total.

Cells belong to a unit by their **centre** (``rasterio.features.rasterize`` with
``all_touched=False``): a cell whose centre falls in a village counts wholly for it, so every
cell counts at most once and the unit sums add up to the raster total minus the population
outside all units. Units are reprojected to the raster's CRS first (rasters come in
EPSG:4326 as WorldPop does, in Mollweide as GHSL does, or in a UTM / Gauss-Kruger zone).
Everything is vectorised: one rasterize call and one ``numpy.bincount`` per operation,
never a Python loop over cells.

``dasymetric`` rescales the raster so that each unit's cells sum to its census total
(the census says how many, the raster says where). Cells outside every unit are set to 0 by
default (``outside="keep"`` leaves them unchanged).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

import numpy as np
import pandas as pd
from pyproj import CRS

from emgis.layers.load.rasters import PopRaster
from emgis.layers.problems import Problems

__all__ = ["dasymetric", "unit_labels", "zonal_sums"]


# --- units on the grid ---------------------------------------------------------------------------

def _keys(values: Any) -> np.ndarray:
    """Codes as plain strings: integers (and integral floats) without '.0', text stripped."""
    s = pd.Series(values)
    if pd.api.types.is_integer_dtype(s.dtype):
        return s.astype(np.int64).astype(str).to_numpy(dtype=object)
    if pd.api.types.is_float_dtype(s.dtype):
        f = s.to_numpy(dtype=float)
        integral = np.isfinite(f) & (f == np.round(f))
        out = s.astype(str).to_numpy(dtype=object)
        out[integral] = f[integral].astype(np.int64).astype(str)
        return out
    return np.array([("" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip())
                     for v in s.tolist()], dtype=object)


def _check_units(units, code_col: str, source: str) -> None:
    import geopandas as gpd

    p = Problems(source, row_label="feature")
    if not isinstance(units, gpd.GeoDataFrame):
        raise TypeError(f"{source}: units must be a GeoDataFrame, not {type(units).__name__}")
    if code_col not in units.columns:
        cols = [c for c in units.columns if c != units.geometry.name]
        p.error(None, code_col, None, "is not a column of the units layer",
                f"pass code_col= naming the unit code column, one of {cols}")
    if units.crs is None:
        p.error(None, "geometry", None, "has no CRS",
                "set the layer's CRS (gdf.set_crs(...)) to the one its coordinates are in")
    p.raise_if_errors()


def unit_labels(raster: PopRaster, units,
                code_col: str = "code") -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Label every cell with the unit whose polygon holds its centre.

    Returns
    -------
    labels
        int32 array of the raster's shape: 1 + the index into ``codes`` of the cell's unit,
        0 outside all units. Rows of ``units`` sharing a code (multi-part units) share a label.
    codes
        The distinct unit codes (object array of str), in order of first appearance.
    notes
        What happened (units without geometry, overlapping units, units on no cell).
    """
    from rasterio import features

    _check_units(units, code_col, "units")
    if raster.crs is None:
        raise ValueError(f"{raster.source}: the raster has no CRS; read it with "
                         "read_population_raster")
    notes: list[str] = []
    keys = _keys(units[code_col])
    codes, group = np.unique(keys, return_inverse=True)  # sorted; reorder to first appearance
    first = np.full(codes.size, keys.size, dtype=np.int64)
    np.minimum.at(first, group, np.arange(keys.size))
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    codes, group = codes[order], rank[group]

    geoms = units.geometry
    if CRS.from_user_input(units.crs) != raster.crs:
        geoms = geoms.to_crs(raster.crs)
    geoms = geoms.to_numpy()
    usable = np.array([g is not None and not g.is_empty for g in geoms], dtype=bool)
    if (~usable).any():
        notes.append(f"{int((~usable).sum())} unit(s) have no geometry and get no cells: "
                     f"{', '.join(map(str, keys[~usable][:10]))}")
    labels = np.zeros(raster.shape, dtype=np.int32)
    if usable.any():
        shapes = ((g, int(v) + 1) for g, v in zip(geoms[usable], group[usable], strict=True))
        labels = features.rasterize(shapes, out_shape=raster.shape, transform=raster.transform,
                                    fill=0, all_touched=False, dtype="int32")
        # overlaps: rasterize again with unit areas summed; a cell burnt twice is in two units
        hits = features.rasterize(((g, 1) for g in geoms[usable]), out_shape=raster.shape,
                                  transform=raster.transform, fill=0, all_touched=False,
                                  merge_alg=features.MergeAlg.add, dtype="int32")
        overlap = int((hits > 1).sum())
        if overlap:
            notes.append(f"{overlap} cell centre(s) lie in more than one unit polygon; each was "
                         "counted once, for the unit listed last")
    present = np.bincount(labels.ravel(), minlength=codes.size + 1)[1:] > 0
    if (~present).any():
        miss = codes[~present]
        notes.append(f"{miss.size} unit(s) hold no cell centre (smaller than a cell or outside "
                     f"the raster) and get no population from it: {', '.join(map(str, miss[:10]))}"
                     f"{' ...' if miss.size > 10 else ''}")
    return labels, codes, notes


def zonal_sums(raster: PopRaster, units, code_col: str = "code") -> pd.Series:
    """Return the raster population of each unit (cells by centre), indexed by unit code.

    ``result.attrs`` holds ``outside_units`` (persons in cells whose centre is in no unit),
    ``raster_total`` and ``notes``; the unit sums plus ``outside_units`` equal the total.
    """
    labels, codes, notes = unit_labels(raster, units, code_col)
    sums = np.bincount(labels.ravel(), weights=raster.data.ravel(), minlength=codes.size + 1)
    out = pd.Series(sums[1:], index=pd.Index(codes.astype(str), name=code_col), name="population")
    out.attrs["outside_units"] = float(sums[0])
    out.attrs["raster_total"] = raster.total
    notes.append(f"population in cells outside all units: {sums[0]:,.1f} of {raster.total:,.1f}")
    out.attrs["notes"] = notes
    return out


def _totals_series(totals: Any) -> pd.Series:
    if isinstance(totals, pd.DataFrame):
        if not {"code", "population"} <= set(totals.columns):
            raise ValueError("totals: a DataFrame needs the columns 'code' and 'population'; or "
                             "pass a Series indexed by code")
        totals = pd.Series(totals["population"].to_numpy(), index=totals["code"].to_numpy())
    if not isinstance(totals, pd.Series):
        totals = pd.Series(totals)
    return totals


def dasymetric(raster: PopRaster, units, totals: Any, code_col: str = "code", *,
               outside: Literal["zero", "keep"] = "zero") -> PopRaster:
    """Rescale the raster so that each unit's cells sum to its census total.

    Each unit's cells are multiplied by ``total / raster sum``. A unit whose raster sum is 0
    but whose total is positive gets its total spread evenly over its cells (over its
    data cells, or over all its cells when all are nodata; those then count as data).

    Parameters
    ----------
    raster
        The population (or any weight) grid.
    units
        Unit polygons with ``code_col``.
    totals
        Series code -> population (or a DataFrame with ``code`` and ``population``).
    outside
        ``"zero"`` (default): cells whose centre is in no unit, and cells of units without a
        total, become 0, so the result holds exactly the census population that fell on a
        cell. ``"keep"``: those cells keep their raster values.

    Returns
    -------
    PopRaster
        A new raster; ``notes`` say which units were spread evenly, which had no total and
        which totals found no cell (their population is not on the grid).

    Raises
    ------
    layers.problems.InputError
        When a total is not a number or is negative.
    """
    if outside not in ("zero", "keep"):
        raise ValueError(f"outside={outside!r} is not known; use 'zero' or 'keep'")
    totals = _totals_series(totals)
    p = Problems("totals")
    t_keys = _keys(pd.Series(totals.index))
    t_vals = pd.to_numeric(pd.Series(totals.to_numpy()), errors="coerce").to_numpy(dtype=float)
    for i in np.flatnonzero(~np.isfinite(t_vals) | (t_vals < 0)):
        p.error(i + 1, "population", totals.iloc[i],
                f"for unit {t_keys[i]} is not a non-negative number",
                "give the unit's census population as a number ≥ 0")
    dup = pd.Series(t_keys).duplicated(keep=False).to_numpy()
    for i in np.flatnonzero(dup):
        p.error(i + 1, "code", t_keys[i], "appears more than once in the totals",
                "give one total per unit code")
    p.raise_if_errors()

    labels, codes, notes = unit_labels(raster, units, code_col)
    notes = [f"dasymetric rescaling of {raster.source} to census totals", *notes]
    n = codes.size
    flat_lab = labels.ravel()
    data = raster.data.ravel()
    mask = raster.mask.ravel().copy()
    raw_sum = np.bincount(flat_lab, weights=data, minlength=n + 1)[1:]
    n_cells = np.bincount(flat_lab, minlength=n + 1)[1:]
    n_valid = np.bincount(flat_lab, weights=mask.astype(np.float64), minlength=n + 1)[1:]

    lookup = pd.Series(t_vals, index=t_keys)
    target = lookup.reindex(codes.astype(str)).to_numpy(dtype=float)
    has_total = np.isfinite(target)
    if (~has_total).any():
        miss = codes[~has_total]
        what = "set to 0" if outside == "zero" else "kept unchanged"
        notes.append(f"{miss.size} unit(s) have no census total; their cells were {what}: "
                     f"{', '.join(map(str, miss[:10]))}{' ...' if miss.size > 10 else ''}")
    unknown = np.setdiff1d(t_keys.astype(str), codes.astype(str))
    if unknown.size:
        lost = float(lookup.loc[unknown].sum())
        notes.append(f"{unknown.size} total(s) name no unit polygon "
                     f"({lost:,.1f} persons not placed): "
                     f"{', '.join(unknown[:10])}{' ...' if unknown.size > 10 else ''}")
    no_cells = has_total & (n_cells == 0) & (target > 0)
    if no_cells.any():
        notes.append(f"{int(no_cells.sum())} unit(s) with a census total hold no cell centre; "
                     f"{float(target[no_cells].sum()):,.1f} persons are not on the grid: "
                     f"{', '.join(map(str, codes[no_cells][:10]))}")

    # per-unit factor for data cells, and per-unit even share where the raster sum is 0
    factor = np.zeros(n + 1)
    even = np.zeros(n + 1)
    positive = has_total & (raw_sum > 0)
    factor[1:][positive] = target[positive] / raw_sum[positive]
    spread = has_total & (raw_sum <= 0) & (target > 0) & (n_cells > 0)
    all_nodata = spread & (n_valid == 0)
    denom = np.where(all_nodata, n_cells, n_valid)
    even[1:][spread] = target[spread] / denom[spread]
    if spread.any():
        notes.append(f"{int(spread.sum())} unit(s) have raster population 0 but a census total; "
                     f"their total was spread evenly over their cells: "
                     f"{', '.join(map(str, codes[spread][:10]))}"
                     f"{' ...' if spread.sum() > 10 else ''}")
    keep_unit = np.zeros(n + 1, dtype=bool)
    if outside == "keep":
        keep_unit[0] = True
        keep_unit[1:] = ~has_total
    spread_l = np.r_[False, spread]
    all_nodata_l = np.r_[False, all_nodata]

    cell_spread = spread_l[flat_lab]
    newly_valid = all_nodata_l[flat_lab]
    mask |= newly_valid
    out = np.where(keep_unit[flat_lab], data,
                   np.where(cell_spread, np.where(mask, even[flat_lab], 0.0),
                            data * factor[flat_lab]))
    out[~mask] = 0.0
    placed = float(out.sum())
    notes.append(f"result total {placed:,.1f} persons (census totals "
                 f"{float(np.nansum(t_vals)):,.1f})")
    return replace(raster, data=out.reshape(raster.shape), mask=mask.reshape(raster.shape),
                   notes=[*raster.notes, *notes], source=f"dasymetric({raster.source})")
