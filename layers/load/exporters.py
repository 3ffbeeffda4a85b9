"""Write a layer from PostGIS to GeoJSON, GeoPackage, Shapefile, CSV or XLSX.

Every layer `emgis load` takes can be written back: the point/polygon layers in any format,
the census (population by code and year, with names), the code lists and the road network
(its edges, with class, speed and time) — tables without geometry as CSV or XLSX only.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from emgis.geo import crs as gcrs
from emgis.layers.load.loaders import layer_spec
from emgis.layers.problems import InputError, Problem
from emgis.layers.schema import LAYERS, shp_name

FORMATS = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GPKG", ".shp": "ESRI Shapefile",
           ".csv": "CSV", ".xlsx": "XLSX"}
TABLE_FORMATS = ("CSV", "XLSX")

#: layers that are not in ``layers.schema.LAYERS`` but are loaded with `emgis load` too
_TABLES = {
    "census": ("SELECT p.code, coalesce(a.name, (SELECT name FROM code_list l WHERE l.code = "
               "p.code ORDER BY vintage DESC LIMIT 1)) AS name, p.year, p.population, "
               "p.households, p.age_0_14, p.age_15_64, p.age_65_plus, p.urban_rural_class "
               "FROM population p LEFT JOIN admin_units a USING (code) ORDER BY p.year, p.code"),
    "codes": ("SELECT code, name, level, parent_code, urban_rural_class, vintage FROM code_list "
              "ORDER BY vintage, code"),
}
_ROADS = ("SELECT network, edge_id, u, v, road_class, name, speed_kmh, length_m, time_s, oneway, "
          "component, geom AS geometry FROM road_edges ORDER BY network, edge_id")


def _read_special(engine: Engine, layer: str) -> gpd.GeoDataFrame | pd.DataFrame:
    with engine.connect() as c:
        if layer == "roads":
            return gpd.read_postgis(sa.text(_ROADS), c, geom_col="geometry", crs=4326)
        return pd.read_sql(sa.text(_TABLES[layer]), c)


def read_layer(engine: Engine, layer: str) -> gpd.GeoDataFrame | pd.DataFrame:
    """Return a layer's rows with the loader's column names (EPSG:4326)."""
    if layer in _TABLES or layer == "roads":
        return _read_special(engine, layer)
    if layer not in LAYERS:
        raise InputError([Problem("command line", None, "LAYER", layer,
                                  "is not a layer emgis exports",
                                  f"use one of: {', '.join([*LAYERS, *_TABLES, 'roads'])}")],
                         source="emgis export")
    spec = layer_spec(layer)
    cols = [f.name for f in spec.fields if f.name not in ("L", "E", "C", "S")]
    extra = {
             "risk_points": ["score", "band_version"]}.get(layer, [])
    select = ", ".join(f'"{c}"' for c in [*cols, *extra])
    if spec.name == "risk_points":
        # the factors go out as the columns the loader reads (L, E, C; S for a matrix), not as
        # the stored inputs document: the file loads back as it was assessed
        select += ", " + ", ".join(f"(inputs->>'{f}')::float8 AS \"{f}\"" for f in "LECS")
    if spec.name == "depot_stock":
        sql = ("SELECT d.ext_id AS depot_id, s.item, s.quantity, s.unit FROM depot_stock s "
               "JOIN depots d ON d.id = s.depot_id ORDER BY d.ext_id, s.item")
        with engine.connect() as c:
            return pd.read_sql(sa.text(sql), c)
    if spec.name == "team_equipment":
        sql = ("SELECT t.ext_id AS team_base_id, e.item, e.kind, e.quantity, e.state "
               "FROM team_equipment e JOIN team_bases t ON t.id = e.team_base_id "
               "ORDER BY t.ext_id, e.item")
        with engine.connect() as c:
            return pd.read_sql(sa.text(sql), c)
    if spec.name == "hazards":
        select = select.replace('"risk_point_id"',
                                "(SELECT ext_id FROM risk_points r "
                                "WHERE r.id = h.risk_point_id) AS risk_point_id")
    geom = "coalesce(geom, point)" if spec.name == "admin_units" else "geom"
    order = spec.key if spec.key in cols else "1"
    sql = f"SELECT {select}, {geom} AS geometry FROM {spec.table} h ORDER BY {order}"
    with engine.connect() as c:
        gdf = gpd.read_postgis(sa.text(sql), c, geom_col="geometry", crs=4326)
    for c in ("hazard_types", "specialities"):
        if c in gdf:
            gdf[c] = [None if v is None else ";".join(v) for v in gdf[c]]
    return gdf


def export_layer(engine: Engine, layer: str, path: str | Path, *, crs: str | None = None,
                 encoding: str | None = None) -> int:
    """Write ``layer`` to ``path`` (format from the suffix); return the number of rows."""
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError([Problem("command line", None, "FILE", path.name,
                                  "has an extension emgis cannot write",
                                  f"use one of: {', '.join(FORMATS)}")], source="emgis export")
    data = read_layer(engine, layer)
    target = gcrs.parse_crs(crs) if crs else None
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, gpd.GeoDataFrame) and target is not None:
        data = data.set_geometry(gcrs.geoseries_from_wgs84(data.geometry, target))
        if target.kind in ("gcj02", "bd09"):
            data = data.set_crs(None, allow_override=True)
    if fmt in TABLE_FORMATS:
        df = pd.DataFrame(data.drop(columns="geometry", errors="ignore"))
        if isinstance(data, gpd.GeoDataFrame) and len(data):
            pts = data.geometry.representative_point()
            df["lon"], df["lat"] = pts.x.round(7), pts.y.round(7)
            if (data.geom_type != "Point").any():
                # full precision: the shape loads back exactly
                df["wkt"] = data.geometry.to_wkt(rounding_precision=-1)
        tmp = path.with_name(f".{path.name}.part")
        try:
            if fmt == "XLSX":
                df.to_excel(tmp, index=False, sheet_name=layer[:31], engine="openpyxl")
            else:
                df.to_csv(tmp, index=False,
                          encoding="gb18030" if (encoding or "").lower() in ("gbk", "gb18030")
                          else "utf-8-sig")
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
        return len(df)
    if not isinstance(data, gpd.GeoDataFrame):
        raise InputError([Problem("command line", None, "FILE", path.name,
                                  f"{layer} has no geometry",
                                  "export it as .csv or .xlsx")], source="emgis export")
    kwargs: dict = {}
    if fmt == "ESRI Shapefile":
        kinds = sorted(set(data.geom_type.dropna().str.replace("Multi", "")))
        if len(kinds) > 1:
            raise InputError([Problem("command line", None, "FILE", path.name,
                                      f"a Shapefile holds one kind of geometry; {layer} has "
                                      f"{' and '.join(kinds)}",
                                      "export it as .gpkg or .geojson, which hold both")],
                             source="emgis export")
        kwargs["encoding"] = encoding or "UTF-8"
        # a .dbf field name has at most 10 characters: cut as GDAL would, and as the loader
        # reads them back (layers.schema.shp_name)
        data = data.rename(columns={c: shp_name(c) for c in data.columns if c != "geometry"})
    elif fmt == "GPKG":
        # GeoPackage 1.2, which GDAL 3.6 / QGIS 3.22 read without a version warning
        kwargs["dataset_options"] = {"VERSION": "1.2"}
    _write_whole(data, path, fmt, kwargs)
    return len(data)


def _write_whole(data: gpd.GeoDataFrame, path: Path, fmt: str, kwargs: dict) -> None:
    """Write into a temporary folder beside ``path``, then move the file(s) in: a failed write
    leaves no partial file and an earlier export of the same name untouched."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".emgis-export-") as tmp:
        tmp_path = Path(tmp) / path.name
        data.to_file(tmp_path, driver=fmt, engine="pyogrio", **kwargs)
        for f in sorted(Path(tmp).iterdir()):
            shutil.move(str(f), str(path.parent / f.name))
