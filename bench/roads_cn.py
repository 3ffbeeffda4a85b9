"""Benchmark building a routable graph from a real Chinese county road layer: emgis's
`graph_from_lines` against osmnx building the same graph from the same lines.

Run ``python -m bench.roads_cn`` (``--quick``: one county). Inputs: the three Kunming county
networks of ``../shared/data/roads_cn`` (晋宁区, 安宁市, 富民县; test and benchmark use only,
read in place), each read once; both sides then start from the same GeoDataFrame in memory.

* emgis: ``graph_from_lines(gdf, class_field="道路等级")`` — speeds from the grade norms, lines
  joined at every shared vertex within 0.5 m (KD-tree), split into edges at junctions, duplicate
  edges and self-loops dropped, arcs in CSR arrays, lengths, travel times, components.
* osmnx (the simplest honest build an osmnx user writes): lines exploded to LineStrings, nodes
  = their end points (coordinates rounded to 1e-6°, since the source lines are noded at
  junctions), a reverse copy of every line (the layer has no one-way roads), great-circle
  lengths (``ox.distance.great_circle`` over each line's vertices), ``ox.graph_from_gdfs``, then
  ``ox.add_edge_speeds`` with the same grade speeds and ``ox.add_edge_travel_times``. It does not
  split lines at interior shared vertices, drop duplicates or find components, so it does less
  work than emgis — and gives a coarser graph: on these layers many junctions are interior
  vertices, so the osmnx graph has ~20 % fewer nodes (those crossings are not joined). Neither
  side's time includes reading the file.

Prints nodes / edges of each and the time ratio osmnx / emgis; no pass/fail on time.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("EMGIS_SHARED_DATA", ROOT.parent / "shared" / "data"))
COUNTIES = [("晋宁区", "jinning_530115"), ("安宁市", "anning_530181"), ("富民县", "fumin_530124")]
FIELD = "道路等级"


def _best(fn, reps: int):
    best, out = np.inf, None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def emgis_build(gdf, norms):
    from emgis.geo.network import graph_from_lines

    return graph_from_lines(gdf, class_field=FIELD, norms=norms)


def osmnx_build(gdf, speeds: dict[str, float]):
    """The same lines as an osmnx MultiDiGraph with lengths, speeds and travel times."""
    import geopandas as gpd
    import osmnx as ox
    import pandas as pd
    import shapely

    lines = gdf.explode(index_parts=False, ignore_index=True)
    geoms = lines.geometry.values
    coords, which = shapely.get_coordinates(geoms, return_index=True)
    counts = np.bincount(which, minlength=len(geoms))
    ends = np.cumsum(counts) - 1
    starts = ends - counts + 1
    ep = np.round(np.vstack([coords[starts], coords[ends]]), 6)
    xy, node_of = np.unique(ep, axis=0, return_inverse=True)
    node_of = node_of.ravel()
    n = len(geoms)
    u, v = node_of[:n], node_of[n:]
    seg = ox.distance.great_circle(coords[:-1, 1], coords[:-1, 0], coords[1:, 1], coords[1:, 0])
    cs = np.concatenate([[0.0], np.cumsum(seg)])
    length = cs[ends] - cs[starts]
    grade = lines[FIELD].to_numpy()
    fwd = pd.DataFrame({"u": u, "v": v, "highway": grade, "length": length, "oneway": False})
    back = pd.DataFrame({"u": v, "v": u, "highway": grade, "length": length, "oneway": False})
    edges = pd.concat([fwd, back], ignore_index=True)
    edges["key"] = edges.groupby(["u", "v"]).cumcount()
    edges = gpd.GeoDataFrame(
        edges.set_index(["u", "v", "key"]),
        geometry=np.concatenate([geoms, shapely.reverse(geoms)]), crs=4326)
    nodes = gpd.GeoDataFrame({"x": xy[:, 0], "y": xy[:, 1]}, crs=4326,
                             geometry=shapely.points(xy))
    G = ox.graph_from_gdfs(nodes, edges)
    G = ox.add_edge_speeds(G, hwy_speeds=speeds)
    return ox.add_edge_travel_times(G)


def main(argv: list[str] | None = None) -> int:
    import warnings

    import geopandas as gpd

    from emgis.geo.road_fields import cn_road_speeds
    from emgis.layers.norms import default_norms

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one county, one repetition")
    args = ap.parse_args(argv)
    reps = 1 if args.quick else 3
    norms = default_norms()
    speeds = cn_road_speeds(norms)
    print("graph from a county road layer (道路等级 speeds): emgis graph_from_lines vs osmnx "
          "graph_from_gdfs + add_edge_speeds/travel_times; best of", reps)
    for zh, stem in COUNTIES[:1] if args.quick else COUNTIES:
        path = SHARED / "roads_cn" / f"{stem}_roads.gpkg"
        if not path.exists():
            print(f"  {zh}: {path} is not available; skipped")
            continue
        gdf = gpd.read_file(path, layer="roads")
        t_em, g = _best(lambda gdf=gdf: emgis_build(gdf, norms), reps)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t_ox, G = _best(lambda gdf=gdf: osmnx_build(gdf, speeds), reps)
        print(f"  {zh} {stem}: {len(gdf):,} lines | emgis {t_em:6.3f} s "
              f"({g.n_nodes:,} nodes, {g.n_edges:,} edges, {g.n_arcs:,} arcs, "
              f"{g.report.components} components) | osmnx {t_ox:6.3f} s "
              f"({G.number_of_nodes():,} nodes, {G.number_of_edges():,} arcs) | "
              f"osmnx/emgis {t_ox / t_em:5.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
