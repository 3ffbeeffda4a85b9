"""One county of a batch: its road piece, its villages, its facilities and its neighbours'
inside the halo, through the same code as the single-county path (`shelters.service`).

`run_county` is what a Dask worker (or the sequential loop) runs; it takes the province's
tables once shipped (`ProvinceData`) and returns a `CountyResult` of plain frames.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from emgis.layers.problems import Problems

__all__ = ["CountyResult", "ProvinceData", "read_province", "run_county"]

ANALYSES = ("coverage", "gaps")
_FACILITY_TABLES = ("shelters", "team_bases", "depots")


@dataclass
class ProvinceData:
    """The province's tables (everything but the roads), shipped to the workers once."""

    counties: gpd.GeoDataFrame
    demand: gpd.GeoDataFrame
    shelters: gpd.GeoDataFrame
    team_bases: gpd.GeoDataFrame
    depots: gpd.GeoDataFrame

    def box(self, code: str) -> tuple[float, float, float, float]:
        row = self.counties[self.counties["code"] == code]
        if row.empty:
            raise KeyError(f"county {code} is not in the province's counties")
        return tuple(float(b) for b in row.geometry.iloc[0].bounds)  # type: ignore[return-value]


def read_province(path: str | Path) -> ProvinceData:
    """Read a province directory (`shelters.batch.province.write_province`'s layout)."""
    path = Path(path)
    missing = [n for n in ("roads.npz", "counties.parquet", "demand.parquet")
               if not (path / n).exists()]
    if missing:
        raise FileNotFoundError(f"{path}: {', '.join(missing)} missing; a province directory "
                                "holds roads.npz, counties.parquet, demand.parquet and the "
                                "facility files (emgis batch province DIR writes one)")
    frames = {}
    for name in ("counties", "demand", *_FACILITY_TABLES):
        f = path / f"{name}.parquet"
        frames[name] = (gpd.read_parquet(f) if f.exists()
                        else gpd.GeoDataFrame({"county_code": []}, geometry=[], crs=4326))
    frames["counties"]["code"] = frames["counties"]["code"].astype(str)
    for name in ("demand", *_FACILITY_TABLES):
        frames[name]["county_code"] = frames[name]["county_code"].astype(str)
    return ProvinceData(**frames)


@dataclass
class CountyInputs:
    """`shelters.store.CoverageInputs`' fields that coverage and gaps read."""

    graph: Any
    demand: gpd.GeoDataFrame
    shelters: gpd.GeoDataFrame
    team_bases: gpd.GeoDataFrame
    depots: gpd.GeoDataFrame
    township_names: dict[str, str] = field(default_factory=dict)


@dataclass
class CountyResult:
    """A county's rows (one per village) and its line of the province summary."""

    code: str
    rows: gpd.GeoDataFrame
    summary: dict


def _check_demand(code: str, demand: gpd.GeoDataFrame) -> None:
    """Every problem of a county's villages at once (`InputError`)."""
    p = Problems(f"demand of county {code}")
    if demand.empty:
        p.error(None, "county_code", code, "the county has no villages",
                "add its villages to demand.parquet or leave the county out of --counties")
    pop = pd.to_numeric(demand["population"], errors="coerce").to_numpy(dtype=float)
    for i in np.flatnonzero(~np.isfinite(pop) | (pop < 0)).tolist():
        p.error(i + 1, "population", demand["population"].iloc[i],
                "population must be a number ≥ 0", "correct the village's population")
    geom = demand.geometry.to_numpy()
    for i in np.flatnonzero(demand.geometry.isna().to_numpy() |
                            gpd.GeoSeries(geom).is_empty.to_numpy()).tolist():
        p.error(i + 1, "geometry", None, "village without a location",
                "give the village a point")
    p.raise_if_errors()


def county_inputs(code: str, piece: str, data: ProvinceData, halo_m: float) -> CountyInputs:
    """The county's villages, and the facilities (its own and its neighbours') in the halo."""
    from emgis.geo.compiled import CompiledGraph
    from emgis.shelters.batch.partition import halo_box
    from emgis.shelters.demand import snap_demand

    graph = CompiledGraph.load(piece)
    demand = data.demand[data.demand["county_code"] == code].reset_index(drop=True)
    _check_demand(code, demand)
    x0, y0, x1, y1 = halo_box(data.box(code), halo_m)
    fac = {}
    for name in _FACILITY_TABLES:
        t = getattr(data, name)
        g = t.geometry
        keep = (g.x >= x0) & (g.x <= x1) & (g.y >= y0) & (g.y <= y1)
        fac[name] = t[keep.to_numpy()].reset_index(drop=True)
    return CountyInputs(graph, snap_demand(graph, demand), **fac)


def run_county(code: str, analysis: str, layer: str, piece: str, data: ProvinceData,
               halo_m: float, norms) -> CountyResult:
    """Coverage (or gaps) of ``layer`` in county ``code`` — the work of one task."""
    from emgis.shelters.service import compute_coverage, compute_gaps, coverage_table

    t0 = time.perf_counter()
    inputs = county_inputs(code, piece, data, halo_m)
    c = compute_coverage(inputs, layer, norms)
    rows = coverage_table(inputs, c, layer)
    rows.insert(0, "county_code", code)
    summary = {"county_code": code, "analysis": analysis, "layer": layer,
               "demand_points": len(rows),
               "population": float(rows["population"].sum()),
               "covered_population": float(rows.loc[rows["covered"], "population"].sum()),
               "road_nodes": int(inputs.graph.n_nodes),
               "facilities": len(getattr(inputs, _table(layer)))}
    summary["coverage_share"] = (summary["covered_population"] / summary["population"]
                                 if summary["population"] else None)
    if analysis == "gaps":
        gaps = compute_gaps(inputs, c, layer, norms)
        v = gaps.villages.set_index("code")
        for col in ("uncovered", "underserved", "gap"):
            rows[col] = rows["code"].map(v[col]).to_numpy(dtype=float)
        summary["gap_population"] = float(rows["gap"].sum())
    summary["seconds"] = round(time.perf_counter() - t0, 3)
    return CountyResult(code, rows, summary)


def _table(layer: str) -> str:
    from emgis.shelters.coverage import KINDS

    return KINDS[layer].table
