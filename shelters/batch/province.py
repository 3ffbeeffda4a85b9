"""A synthetic province for batch runs, tests and benchmarks: a grid of counties over one
large road network from `geo.synthetic`, with villages and facilities in every county.

Written as files, the way a provincial department would hand them over: ``roads.npz`` (the
whole province's compiled network, `geo.compiled.CompiledGraph.save`), ``counties.parquet``
(code, name, outline), ``demand.parquet`` (villages: 12-digit code, name, population),
``shelters.parquet``, ``team_bases.parquet``, ``depots.parquet`` (GeoParquet, EPSG:4326, every
row with its ``county_code``) and ``province.json`` (how it was made).

County codes are ``<province prefix><row:02><column:02>`` (6 digits, e.g. ``360101``), so a
row of counties shares a 4-digit prefix (``3601``: the first ten counties of a 10 × 10
province).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

__all__ = ["ProvinceSpec", "write_province"]

_SHELTER_CLASSES = np.array(["emergency", "short", "medium", "long"])
_FILES = ("roads.npz", "counties.parquet", "demand.parquet", "shelters.parquet",
          "team_bases.parquet", "depots.parquet")


@dataclass(frozen=True)
class ProvinceSpec:
    """How big a synthetic province is. The defaults make the 100-county province (> 2 M
    road nodes); tests use a few thousand nodes per county."""

    rows: int = 10
    cols: int = 10
    nodes_per_county: int = 21_000
    county_km: float = 42.0
    villages: int = 150
    shelters: int = 6
    fire_stations: int = 2
    prefix: str = "36"
    seed: int = 0
    centre: tuple[float, float] = (115.9, 27.6)

    def county_codes(self) -> list[str]:
        return [f"{self.prefix}{r + 1:02d}{c + 1:02d}" for r in range(self.rows)
                for c in range(self.cols)]


def write_province(out: str | Path, spec: ProvinceSpec = ProvinceSpec()) -> Path:
    """Generate the province of ``spec`` into directory ``out`` and return it."""
    from emgis.geo.synthetic import synthetic_network

    if not (1 <= spec.rows <= 99 and 1 <= spec.cols <= 99):
        raise ValueError("rows and cols must be between 1 and 99 (two digits of the code)")
    if not (len(spec.prefix) == 2 and spec.prefix.isdigit()):
        raise ValueError(f"prefix={spec.prefix!r} must be a 2-digit province code")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    n = spec.rows * spec.cols * spec.nodes_per_county
    spacing = spec.county_km * 1000 / np.sqrt(spec.nodes_per_county / 0.95)
    graph = synthetic_network("province", seed=spec.seed, centre=spec.centre, n_nodes=n,
                              spacing_m=spacing)
    graph.save(out / "roads.npz")
    rng = np.random.default_rng(spec.seed + 1)
    lon0, lon1 = float(graph.node_lon.min()), float(graph.node_lon.max())
    lat0, lat1 = float(graph.node_lat.min()), float(graph.node_lat.max())
    dlon, dlat = (lon1 - lon0) / spec.cols, (lat1 - lat0) / spec.rows
    counties, demand, shelters, teams, depots = [], [], [], [], []
    for i, code in enumerate(spec.county_codes()):
        r, c = divmod(i, spec.cols)
        box = (lon0 + c * dlon, lat0 + r * dlat, lon0 + (c + 1) * dlon, lat0 + (r + 1) * dlat)
        counties.append({"code": code, "name": f"合成县{code}", "geometry": shapely.box(*box)})

        def points(k: int, box=box) -> np.ndarray:
            m = 0.02
            x = rng.uniform(box[0] + m * dlon, box[2] - m * dlon, k)
            y = rng.uniform(box[1] + m * dlat, box[3] - m * dlat, k)
            return shapely.points(x, y)

        v = np.arange(spec.villages)
        demand.append(pd.DataFrame({
            "county_code": code,
            "code": [f"{code}{t:03d}{j:03d}" for t, j in zip(v // 15 + 1, v % 15 + 1,
                                                               strict=True)],
            "name": [f"{code}村{j}" for j in v],
            "population": np.round(rng.lognormal(6.5, 0.6, v.size)).astype(np.int64),
            "geometry": points(v.size)}))
        s = np.arange(spec.shelters)
        shelters.append(pd.DataFrame({
            "county_code": code, "ext_id": [f"S{code}-{j}" for j in s],
            "name": [f"{code}避难场所{j}" for j in s],
            "duration_class": rng.choice(_SHELTER_CLASSES, s.size, p=[0.4, 0.3, 0.2, 0.1]),
            "capacity": rng.integers(500, 5000, s.size).astype(float),
            "geometry": points(s.size)}))
        f = np.arange(spec.fire_stations + 1)
        teams.append(pd.DataFrame({
            "county_code": code, "ext_id": [f"T{code}-{j}" for j in f],
            "name": [f"{code}队伍{j}" for j in f],
            "team_type": np.where(f < spec.fire_stations, "fire_station", "rescue"),
            "geometry": points(f.size)}))
        depots.append(pd.DataFrame({"county_code": code, "ext_id": [f"D{code}"],
                                    "name": [f"{code}储备库"], "level": ["county"],
                                    "geometry": points(1)}))
    _write(out / "counties.parquet", pd.DataFrame(counties))
    _write(out / "demand.parquet", pd.concat(demand, ignore_index=True))
    for name, parts in (("shelters", shelters), ("team_bases", teams), ("depots", depots)):
        frame = pd.concat(parts, ignore_index=True)
        frame.insert(0, "id", np.arange(1, len(frame) + 1))  # unique in the province
        _write(out / f"{name}.parquet", frame)
    meta = {**asdict(spec), "road_nodes": graph.n_nodes, "road_edges": graph.n_edges,
            "counties": spec.rows * spec.cols, "files": list(_FILES)}
    (out / "province.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1),
                                       encoding="utf-8")
    return out


def _write(path: Path, frame: pd.DataFrame) -> None:
    gpd.GeoDataFrame(frame, geometry="geometry", crs=4326).to_parquet(path, index=False)
