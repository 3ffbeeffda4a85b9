"""Saving a siting answer as facilities: a county with no registered shelters, depots or fire
stations gets a *starter set* (`emgis site ... --save`) so coverage, nearest, the warning area
and the live map have something real to show.

The sites go in through the ordinary loader (a GeoJSON written to ``$EMGIS_HOME/sited/``, then
`layers.load.write.load_layer` with ``mode="upsert"``), so every check applies and the `loads`
table keeps the file. They are marked so nobody takes them for registered facilities: the
ext_id starts with ``SITED-``, the name says 拟建 and which model chose it, a shelter's capacity
is left unknown unless its area is known, and a fire station's personnel is the norm's minimum
(``fire.personnel_min.<class>``). `sited_notes` says how many of each layer are such sites.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import geopandas as gpd
import numpy as np
import sqlalchemy as sa

from emgis.shelters.coverage import KINDS

SITED_PREFIX = "SITED-"


def sited_frame(chosen: gpd.GeoDataFrame, layer: str, model: str, site_class: str,
                norms) -> gpd.GeoDataFrame:
    """The chosen new sites as rows of the layer's table (the loader's column names)."""
    kind = KINDS[layer]
    n = len(chosen)
    tag = f"{SITED_PREFIX}{layer.upper()}-{model.upper()}"
    ext = [f"{tag}-{i + 1:02d}" for i in range(n)]
    names = [f"拟建{kind.label_zh} {i + 1}（emgis site {model}，未核实）" for i in range(n)]
    area = chosen["area_m2"].to_numpy(dtype=float) if "area_m2" in chosen else np.full(n, np.nan)
    cols: dict[str, object] = {"ext_id": ext, "name": names}
    if kind.table == "shelters":
        cols.update(duration_class=site_class, status="open",
                    effective_area_m2=[a if np.isfinite(a) and a > 0 else None for a in area])
    elif kind.table == "depots":
        cols.update(level=site_class, status="active",
                    area_m2=[a if np.isfinite(a) and a > 0 else None for a in area])
    else:
        team_type = kind.team_type or "comprehensive"
        key = (f"fire.personnel_min.{site_class}" if team_type == "fire_station"
               else "team.min_personnel.township")
        cols.update(team_type=team_type, status="available",
                    personnel=int(norms.number(key)),
                    fire_class=site_class if team_type == "fire_station" else None)
    return gpd.GeoDataFrame(cols, geometry=chosen.geometry.to_numpy(), crs=4326)


def save_sites(engine, chosen: gpd.GeoDataFrame, layer: str, model: str, site_class: str,
               norms, home: Path, actor: str = "cli"):
    """Write the chosen sites to their table through the loader; return its `LoadResult`."""
    from emgis.layers.load.write import LoadOptions, load_layer

    frame = sited_frame(chosen, layer, model, site_class, norms)
    folder = Path(home) / "sited"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"{layer}-{model}-{stamp}.geojson"
    frame.to_file(path, driver="GeoJSON")
    return load_layer(engine, KINDS[layer].table, path, LoadOptions(crs="4326", mode="upsert"),
                      norms=norms, actor=actor)


def sited_notes(engine) -> list[str]:
    """How many facilities of each table are proposed sites saved by `emgis site --save`."""
    notes = []
    with engine.connect() as c:
        for table, label in (("shelters", "shelters"), ("depots", "depots"),
                             ("team_bases", "teams and stations")):
            n, total = c.execute(sa.text(
                f"SELECT count(*) FILTER (WHERE ext_id LIKE :p), count(*) FROM {table}"),
                {"p": SITED_PREFIX + "%"}).one()
            if n:
                notes.append(f"{n} of {total} {label} are proposed sites saved by `emgis site "
                             "--save` (ext_id SITED-…), not registered facilities: answers that "
                             "use them are a plan, not the county as it is")
    return notes
