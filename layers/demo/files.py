"""Write the demo world as the files a bureau hands over, in their formats and encodings.

GeoJSON boundaries, GBK census CSVs keyed by 12-digit codes, a GBK shelter table geocoded in
GCJ-02, a GBK Shapefile in CGCS2000, GeoPackages in the Gauss-Kruger zone and in WGS84, and
a README. Writers fix every date GDAL would stamp, so the same world gives the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import Transformer

from emgis.geo.crs import wgs84_to_gcj02
from emgis.geo.geometry import repair, repair_polygons
from emgis.layers.demo.common import (
    COUNTY_CODE,
    COUNTY_NAME,
    REFERENCE_DATE,
    RIVER,
    World,
    codes_at,
    town_name,
)

# stamped into the DBF header and GeoPackage so reruns give the same bytes
_FILE_DATE = "2025-08-01"

FILES = {
    "county": "county.geojson",
    "admin_units": "admin_units.geojson",
    "census_2020": "census_2020.csv",
    "census_2023": "census_2023.csv",
    "codes_2020": "codes_2020.csv",
    "codes_2023": "codes_2023.csv",
    "shelters": "shelters.csv",
    "depots": "depots.shp",
    "depot_stock": "depot_stock.csv",
    "team_bases": "team_bases.gpkg",
    "risk_points": "risk_points.geojson",
    "hazards": "hazards.csv",
    "hazard_zones": "hazard_zones.geojson",
    "roads": "roads.gpkg",
    "readme": "README.txt",
}


def write_roads(w: World, seed: int, to_wgs: Transformer, path: Path) -> int:
    """A surveyed-style road layer (lines with class, one-way and speed) around the seat."""
    from emgis.geo.synthetic import synthetic_network

    # centred on the county and large enough to cover it: every village has roads near it
    x0, y0, x1, y1 = w.outline.bounds
    lon, lat = to_wgs.transform((x0 + x1) / 2, (y0 + y1) / 2)
    spacing = 250.0
    side = max(x1 - x0, y1 - y0) + 4000
    _, lines = synthetic_network("county", seed=seed, centre=(lon, lat), spacing_m=spacing,
                                 n_nodes=int((side / spacing) ** 2 * 0.95), as_lines=True)
    area = gpd.GeoSeries([w.outline.buffer(3000)], crs=w.epsg).to_crs(4326).iloc[0]
    lines = lines[lines.intersects(area)]
    out = gpd.GeoDataFrame({
        "highway": lines["highway"].to_numpy(dtype=object),
        "oneway": np.where(lines["oneway"].to_numpy(), "yes", "no").astype(object),
        "maxspeed": np.where(lines["highway"].isin(["motorway", "trunk"]),
                             lines["speed_kmh"].round(), np.nan),
    }, geometry=lines.geometry.to_numpy(), crs=4326)
    _write_gpkg(out, path, "roads")
    return len(out)


def _remove(path: Path) -> None:
    parts = (".shx", ".dbf", ".prj", ".cpg")
    for p in [path, *(path.with_suffix(s) for s in parts)] if path.suffix == ".shp" else [path]:
        p.unlink(missing_ok=True)


def write_geojson(gdf: gpd.GeoDataFrame, path: Path) -> None:
    _remove(path)
    if gdf.geom_type.isin(["Polygon", "MultiPolygon"]).all():
        # Snap to the 1e-7° grid the file is written on, so that what is read back is valid.
        valid, _ = repair(gdf.geometry)
        geoms, _ = repair_polygons(shapely.set_precision(valid, 1e-7))
        gdf = gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs))
    pyogrio.write_dataframe(gdf, path, driver="GeoJSON", layer_options={"COORDINATE_PRECISION": 7})


def _points(df: pd.DataFrame, w: World) -> gpd.GeoDataFrame:
    if "xy" in df:
        xy = np.vstack(df["xy"].to_numpy())
        df = df.drop(columns="xy")
    else:
        xy = df[["x", "y"]].to_numpy()
        df = df.drop(columns=["x", "y"])
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=w.epsg)


def write_boundaries(w: World, p: dict[str, Path]) -> None:
    county = gpd.GeoDataFrame({"code": [COUNTY_CODE], "name": [COUNTY_NAME]}, geometry=[w.outline],
                              crs=w.epsg)
    write_geojson(county.to_crs(4326), p["county"])
    write_geojson(w.units.set_crs(w.epsg).to_crs(4326), p["admin_units"])


_CENSUS_HEADER = ["统计用区划代码", "名称", "常住人口", "户数", "0-14岁", "15-64岁", "65岁及以上",
                  "城乡分类代码"]


def write_census(w: World, p: dict[str, Path]) -> None:
    for year in ("2020", "2023"):
        v = w.villages[w.villages[f"pop_{year}"] > 0]
        df = pd.DataFrame({"c": v["code"], "n": v["name"], "p": v[f"pop_{year}"],
                           "h": v[f"hh_{year}"], "a": v[f"a014_{year}"],
                           "b": v[f"a1564_{year}"], "o": v[f"a65_{year}"], "u": v["urban_rural"]})
        df.columns = _CENSUS_HEADER
        df.to_csv(p[f"census_{year}"], index=False, encoding="gbk", lineterminator="\r\n")


def write_codes(w: World, p: dict[str, Path]) -> None:
    units = w.units[["code", "name", "level", "parent_code"]]
    gone = w.merged[0]
    old = w.villages.loc[w.villages["code"] == gone]
    withdrawn = pd.DataFrame({"code": old["code"], "name": old["name"], "level": "village",
                              "parent_code": old["township"]})
    units_2020 = pd.concat([units, withdrawn], ignore_index=True)
    units_2020 = units_2020.sort_values("code", kind="stable")
    units_2020.to_csv(p["codes_2020"], index=False, encoding="utf-8", lineterminator="\n")
    units.sort_values("code", kind="stable").to_csv(p["codes_2023"], index=False, encoding="utf-8",
                                                    lineterminator="\n")


_SHELTER_HEADER = ["编号", "名称", "行政级别", "设计类别", "时长类别", "灾种", "空间类型",
                   "有效面积", "容纳人数", "状态", "在避人数", "地址", "所属区划代码", "经度",
                   "纬度"]


def write_shelters(df: pd.DataFrame, w: World, to_wgs: Transformer, path: Path) -> None:
    gdf = _points(df, w)
    codes = codes_at(w, gdf)
    lon, lat = to_wgs.transform(df["x"].to_numpy(), df["y"].to_numpy())
    # geocoded with Amap: GCJ-02, as the bureau's table has it
    glon, glat = wgs84_to_gcj02(lon, lat)
    addr = [f"示范县{town_name(w, c)}{_village_short(w, c)}" for c in codes]
    out = pd.DataFrame({
        "编号": [f"BN{i + 1:03d}" for i in range(len(df))], "名称": df["name"],
        "行政级别": df["admin"], "设计类别": df["design"], "时长类别": df["duration"],
        "灾种": df["hazards"], "空间类型": df["space"],
        "有效面积": df["area"].astype(int), "容纳人数": df["capacity"], "状态": df["status"],
        "在避人数": df["occupancy"], "地址": addr, "所属区划代码": codes,
        "经度": np.round(glon, 6), "纬度": np.round(glat, 6),
    })
    out.to_csv(path, index=False, encoding="gbk", lineterminator="\r\n")


def _village_short(w: World, code: str) -> str:
    name = str(w.units.loc[w.units["code"] == code, "name"].iloc[0])
    return name.replace("社区居委会", "社区").replace("村委会", "村")


def write_depots(df: pd.DataFrame, stock: pd.DataFrame, w: World, path: Path,
                 stock_path: Path) -> None:
    gdf = _points(df, w).to_crs(4490)  # CGCS2000 geographic, as the provincial platform exports it
    gdf["area_m2"] = gdf["area_m2"].astype(float)
    _remove(path)
    pyogrio.write_dataframe(gdf, path, driver="ESRI Shapefile", encoding="GBK",
                            layer_options={"DBF_DATE_LAST_UPDATE": _FILE_DATE})
    path.with_suffix(".cpg").write_text("GBK", encoding="ascii")
    stock.to_csv(stock_path, index=False, encoding="utf-8", lineterminator="\n")


def write_teams(df: pd.DataFrame, w: World, path: Path) -> None:
    gdf = _points(df, w)
    gdf["unit_code"] = codes_at(w, gdf)
    gdf = gdf[["id", "name", "team_type", "specialities", "personnel", "vehicles", "status",
               "fire_class", "unit_code",
               *(["assessed_on"] if "assessed_on" in gdf.columns else []), "geometry"]]
    _write_gpkg(gdf, path, "team_bases")


def _write_gpkg(gdf: gpd.GeoDataFrame, path: Path, layer: str) -> None:
    """Write a GeoPackage whose bytes depend only on the data (GDAL stamps the current date)."""
    _remove(path)
    before = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": f"{_FILE_DATE}T00:00:00.000Z"})
    try:
        pyogrio.write_dataframe(gdf, path, layer=layer, driver="GPKG")
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": before})


def write_points_geojson(df: pd.DataFrame, w: World, path: Path) -> None:
    gdf = _points(df.drop(columns="tier"), w)
    gdf["unit_code"] = codes_at(w, gdf)
    write_geojson(gdf.to_crs(4326), path)


def readme(seed: int, w: World, counts: dict[str, int]) -> str:
    gone, into = w.merged
    v = w.villages.set_index("code")["name"]
    c = counts
    return f"""\
示范县（合成数据） / Demo County (synthetic) — SYNTHETIC DATA / 合成数据，非真实数据
=====================================================================================

Every name, number, boundary and position in these files is invented by the emgis demo
generator (layers/demo/, seed {seed}). County code {COUNTY_CODE}: province 33 with city
segment 99, which no real city uses. Do not use these files for any real decision.
The same seed always gives the same files.

Files
-----
county.geojson        study-area outline, EPSG:4326; code, name
admin_units.geojson   county, {c['townships']} townships and {c['villages_2023']} \
villages/communities
                      (2023 boundaries), EPSG:4326; code (12 digits), name, level, parent_code
census_2020.csv       census by village, GBK, Chinese headers (统计用区划代码, 名称, 常住人口, 户数,
                      0-14岁, 15-64岁, 65岁及以上, 城乡分类代码); {c['villages_2020']} rows, \
{c['population_2020']} people
census_2023.csv       same format, 2023 estimate; {c['population_2023']} people
codes_2020.csv        official-style code list (code, name, level, parent_code), UTF-8, 2020 vintage
codes_2023.csv        the same for 2023: {v[gone]} ({gone}) was withdrawn and merged into
                      {v[into]} ({into})
shelters.csv          {c['shelters']} emergency shelters, GBK, coordinates in GCJ-02 (geocoded with
                      Amap); 容纳人数 blank where only the area is known; two flood shelters
                      deliberately lie inside the high flood zone
depots.shp (+.dbf .shx .prj .cpg)
                      {c['depots']} relief-supply depots, Shapefile in GBK, CGCS2000 (EPSG:4490);
                      the 市级 and 省级 depots are placed just inside the county edge so that
                      every demo file stays inside the study area
depot_stock.csv       stock per depot (depot_id, item, quantity, unit), UTF-8
team_bases.gpkg       layer team_bases: {c['team_bases']} rescue-team bases, CGCS2000 3-degree
                      Gauss-Kruger CM 120E (EPSG:{w.epsg}, false easting 500000)
risk_points.geojson   {c['risk_points']} risk points with LEC (L, E, C) or risk-matrix (L, S) \
inputs, EPSG:4326
hazards.csv           {c['hazards']} hidden hazards (隐患) in the register, UTF-8, lon/lat WGS84;
                      overdue means deadline before {REFERENCE_DATE.isoformat()} and not closed
hazard_zones.geojson  flood corridor along the {RIVER} river and landslide zones in the hills,
                      EPSG:4326; hazard_type (flood/landslide), level (high/medium/low)
roads.gpkg            layer roads: {c['roads']} road segments as a surveyed road layer would hold
                      them (lines, EPSG:4326): highway (OSM road class), oneway (yes/no), maxspeed
                      (km/h, expressways only); the network is synthetic (geo/synthetic.py)
"""
