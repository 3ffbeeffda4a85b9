"""Candidate sites for new shelters, depots or team bases, and the exclusions that rule some out.

Candidates come from a layer the planner gives, from an OSM extract (schools, sports grounds,
stadiums, parks, squares: the open and public places GB 51143 names for shelters), or from a
regular grid over the study area. A candidate inside a high- or medium-level hazard zone, or
closer to a hazardous risk point than the norms' exclusion buffer
(``shelter.exclusion_buffer_m.*``),
is never chosen; `exclusions` says which and why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
import shapely

#: OSM tags of places that can take people in the open, and what each is (key, values, kind, 中文).
OSM_SITE_TAGS: tuple[tuple[str, tuple[str, ...], str, str], ...] = (
    ("amenity", ("school", "college", "university"), "school", "学校"),
    ("leisure", ("stadium", "sports_centre", "pitch", "track"), "sports", "体育场地"),
    ("leisure", ("park", "garden", "common"), "park", "公园绿地"),
    ("place", ("square",), "square", "广场"),
    ("landuse", ("recreation_ground", "village_green"), "green", "公共绿地"),
)

#: risk-point categories whose exclusion buffer is a norm (``shelter.exclusion_buffer_m.<key>``).
EXCLUSION_NORM = {"hazchem": "hazchem", "fuel_station": "fuel"}


def _kind(tags) -> tuple[str, str] | None:
    for key, values, kind, zh in OSM_SITE_TAGS:
        if tags.get(key) in values:
            return kind, zh
    return None


def osm_candidates(path: str | Path, *, boundary: Any = None,
                   min_area_m2: float = 0.0) -> gpd.GeoDataFrame:
    """Read candidate sites from a local OSM extract (never a network call).

    Polygons (ways and multipolygon relations) give their area in m²; nodes give none.
    ``boundary`` (a WGS84 polygon) keeps only sites inside it. Columns: ext_id
    ('osm:w123'), name, kind, kind_zh, area_m2, geometry (a point inside the site).
    """
    keys = sorted({k for k, *_ in OSM_SITE_TAGS})
    rows: list[tuple] = []
    fp = osmium.FileProcessor(str(path)).with_areas().with_filter(osmium.filter.KeyFilter(*keys))
    wkb = osmium.geom.WKBFactory()
    for obj in fp:
        hit = _kind(obj.tags)
        if hit is None:
            continue
        try:
            if obj.is_node():
                geom, ext = shapely.Point(obj.location.lon, obj.location.lat), f"osm:n{obj.id}"
            elif obj.is_area():
                geom = shapely.from_wkb(wkb.create_multipolygon(obj))
                ext = f"osm:{'w' if obj.from_way() else 'r'}{obj.orig_id()}"
            else:
                continue
        except (osmium.InvalidLocationError, RuntimeError):
            continue  # clipped at the extract's edge
        rows.append((ext, obj.tags.get("name"), *hit, geom))
    gdf = gpd.GeoDataFrame(rows, columns=["ext_id", "name", "kind", "kind_zh", "geometry"],
                           crs=4326)
    if gdf.empty:
        gdf["area_m2"] = pd.Series(dtype=float)
        return gdf
    area = gdf.to_crs(gdf.estimate_utm_crs()).area.to_numpy()
    gdf["area_m2"] = np.where(gdf.geom_type.isin(["Polygon", "MultiPolygon"]), np.round(area),
                              np.nan)
    gdf = gdf.set_geometry(gdf.geometry.representative_point())
    if boundary is not None:
        gdf = gdf[gdf.within(boundary)]
    if min_area_m2 > 0:
        gdf = gdf[~(gdf["area_m2"] < min_area_m2)]
    gdf = gdf.drop_duplicates("ext_id").reset_index(drop=True)
    return gdf[["ext_id", "name", "kind", "kind_zh", "area_m2", "geometry"]]


def grid_candidates(area: Any, cell_m: float, metric_epsg: int) -> gpd.GeoDataFrame:
    """Cell centres of a ``cell_m`` grid inside ``area`` (a WGS84 polygon)."""
    metric = gpd.GeoSeries([area], crs=4326).to_crs(metric_epsg).iloc[0]
    x0, y0, x1, y1 = metric.bounds
    xs = np.arange(x0 + cell_m / 2, x1, cell_m)
    ys = np.arange(y0 + cell_m / 2, y1, cell_m)
    gx, gy = np.meshgrid(xs, ys)
    pts = shapely.points(gx.ravel(), gy.ravel())
    pts = pts[shapely.contains_xy(metric, gx.ravel(), gy.ravel())]
    gdf = gpd.GeoDataFrame({"ext_id": [f"grid:{i}" for i in range(len(pts))]}, geometry=pts,
                           crs=metric_epsg)
    gdf["name"] = gdf["ext_id"]
    gdf["kind"], gdf["kind_zh"], gdf["area_m2"] = "grid", "网格", np.nan
    return gdf.to_crs(4326)[["ext_id", "name", "kind", "kind_zh", "area_m2", "geometry"]]


def exclusions(candidates: gpd.GeoDataFrame, *, hazard_zones: gpd.GeoDataFrame | None = None,
               risk_points: gpd.GeoDataFrame | None = None, norms=None,
               metric_epsg: int | None = None,
               zone_levels: tuple[str, ...] = ("high", "medium")) -> pd.Series:
    """Why each candidate may not be chosen ('' when it may): hazard zone or too near a risk
    point."""
    from emgis.layers.norms import default_norms

    norms = norms or default_norms()
    reason = np.full(len(candidates), "", dtype=object)
    if not len(candidates):
        return pd.Series(reason, index=candidates.index, dtype=object)
    epsg = metric_epsg or candidates.estimate_utm_crs().to_epsg()
    pts = candidates.to_crs(epsg).geometry.to_numpy()
    if hazard_zones is not None and len(hazard_zones):
        zones = hazard_zones[hazard_zones["level"].isin(zone_levels)].to_crs(epsg)
        tree = shapely.STRtree(zones.geometry.to_numpy())
        cand_i, zone_i = tree.query(pts, predicate="intersects")
        for ci, zi in zip(cand_i, zone_i, strict=True):
            if not reason[ci]:
                z = zones.iloc[zi]
                reason[ci] = f"inside a {z['level']} {z.get('hazard_type', 'hazard')} zone"
    if risk_points is not None and len(risk_points):
        rp = risk_points.to_crs(epsg)
        for category, key in EXCLUSION_NORM.items():
            sel = rp[rp["category"] == category]
            if sel.empty:
                continue
            dist = norms.number(f"shelter.exclusion_buffer_m.{key}")
            tree = shapely.STRtree(sel.geometry.to_numpy())
            cand_i, pt_i = tree.query(pts, predicate="dwithin", distance=dist)
            for ci, pi in zip(cand_i, pt_i, strict=True):
                if not reason[ci]:
                    name = sel.iloc[pi].get("name") or sel.iloc[pi].get("ext_id")
                    reason[ci] = f"within {dist:g} m of {category} risk point {name}"
    return pd.Series(reason, index=candidates.index, dtype=object)
