"""The study area: the county's outline and the metric CRS chosen for its analyses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from emgis.geo import crs as gcrs
from emgis.geo.geometry import polygonal, repair
from emgis.layers.load.readers import read_input
from emgis.layers.problems import Problems

CODE_COLUMNS = ("code", "adcode", "gb", "区划代码", "county_code", "编码")
NAME_COLUMNS = ("name", "名称", "county", "县名")


@dataclass
class StudyArea:
    name: str
    county_code: str | None
    geom: shapely.MultiPolygon
    metric_epsg: int
    source_crs: str
    area_km2: float


def read_boundary(path: str | Path, *, county_code: str | None = None, crs: str | None = None,
                  name: str | None = None) -> StudyArea:
    """Read a boundary file, pick the county (by code when the file holds several)."""
    path = Path(path)
    p = Problems(path.name)
    raw = read_input(path, p)
    p.raise_if_errors()
    gdf = raw.frame
    if not isinstance(gdf, gpd.GeoDataFrame):
        p.error(None, None, path.name, "has no polygons",
                "give the county outline as GeoJSON, GeoPackage or Shapefile")
        p.raise_if_errors()
    code_col = next((c for c in gdf.columns if str(c).lower() in CODE_COLUMNS), None)
    if county_code is not None:
        if not (county_code.isdigit() and len(county_code) == 6):
            p.error(None, "--county", county_code, "is not a 6-digit county code",
                    "give e.g. 330522 (长兴县)")
            p.raise_if_errors()
        if code_col is None:
            if len(gdf) > 1:
                p.error(None, "code", None,
                        "the file has several features and no code column to pick the county",
                        "add a code column, or give a file with the county alone")
        else:
            codes = gdf[code_col].astype(str).str.replace(r"\.0$", "", regex=True)
            sel = (codes.str[-6:].eq(county_code)
                   | codes.str[:6].eq(county_code) & codes.str.len().eq(12))
            if not sel.any():
                p.error(None, code_col, county_code, "matches no feature of the file",
                        f"check the code; the file holds e.g. {', '.join(codes.head(3))}")
            gdf = gdf[sel]
    p.raise_if_errors()
    spec = gcrs.parse_crs(crs) if crs else gcrs.parse_crs(
        f"EPSG:{gdf.crs.to_epsg()}" if gdf.crs and gdf.crs.to_epsg() else "EPSG:4326")
    geoms = gcrs.geoseries_to_wgs84(gdf.geometry, spec)
    merged, _ = repair(shapely.union_all(geoms.to_numpy()))
    geom = polygonal(merged, multi=True)[0]
    if geom is None:
        p.error(None, "geometry", merged[0].geom_type, "is not an area",
                "give the county's outline as polygons")
        p.raise_if_errors()
    metric = gcrs.metric_crs_for(geom)
    epsg = metric.to_epsg()
    area = float(gpd.GeoSeries([geom], crs=4326).to_crs(metric).area.iloc[0] / 1e6)
    name_col = next((c for c in gdf.columns if str(c).lower() in NAME_COLUMNS), None)
    the_name = name or (str(gdf[name_col].iloc[0]) if name_col is not None else path.stem)
    return StudyArea(the_name, county_code, geom, int(epsg), spec.label, area)


def save_study_area(engine: Engine, area: StudyArea, *, boundary_file: str,
                    actor: str = "cli") -> None:
    """Replace the study area (there is one per database)."""
    with engine.begin() as c:
        c.execute(sa.text("SELECT set_config('emgis.actor', :a, true)"), {"a": actor})
        c.execute(sa.text("DELETE FROM study_area"))
        c.execute(sa.text(
            "INSERT INTO study_area "
            "(county_code, name, metric_epsg, source_crs, boundary_file, geom) "
            "VALUES (:code, :name, :epsg, :src, :file, ST_GeomFromWKB(:wkb, 4326))"),
            {"code": area.county_code, "name": area.name, "epsg": area.metric_epsg,
             "src": area.source_crs, "file": boundary_file, "wkb": shapely.to_wkb(area.geom)})


def load_study_area(engine: Engine) -> StudyArea | None:
    with engine.connect() as c:
        row = c.execute(sa.text(
            "SELECT name, county_code, ST_AsBinary(geom), metric_epsg, source_crs, "
            "ST_Area(geom::geography) / 1e6 FROM study_area ORDER BY id DESC LIMIT 1")).first()
    if row is None:
        return None
    return StudyArea(row[0], row[1], shapely.from_wkb(bytes(row[2])), int(row[3]), row[4] or "",
                     float(row[5]))
