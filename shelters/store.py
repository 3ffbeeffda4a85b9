"""Read what coverage, capacity, supply and gaps (`shelters.coverage` and its neighbours) need.

Every reader returns a GeoDataFrame in EPSG:4326 with the table's ``id`` column, the
attributes the analyses use and, for facilities, only usable rows by default (the rule of
`geo.store.USABLE_STATUS`: open shelters, active depots, available teams).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = [
    "CoverageInputs",
    "load_coverage_inputs",
    "read_depot_stock",
    "read_depots",
    "read_hazard_zones",
    "read_shelters",
    "read_team_bases",
    "read_village_polygons",
]

_COLUMNS = {
    "shelters": ("id, ext_id, name, admin_level, design_class, duration_class, space_type, "
                 "effective_area_m2, capacity, capacity_source, status, occupancy, unit_code"),
    "depots": "id, ext_id, name, level, area_m2, status, unit_code",
    "team_bases": ("id, ext_id, name, team_type, personnel, vehicles, status, fire_class, "
                   "unit_code, specialities"),
}
_STR = ("ext_id", "name", "admin_level", "design_class", "duration_class", "space_type",
        "capacity_source", "status", "unit_code", "level", "team_type", "fire_class", "hazard_type",
        "code")


def _read(engine, sql: str, params: dict | None = None):
    import geopandas as gpd
    import sqlalchemy as sa

    with engine.connect() as c:
        gdf = gpd.read_postgis(sa.text(sql), c, geom_col="geom", params=params or {})
    if gdf.crs is None:
        gdf = gdf.set_crs(4326)
    for col in _STR:
        if col in gdf.columns:
            gdf[col] = gdf[col].astype("str")
    return gdf


def _facilities(engine, layer: str, usable_only: bool):
    from emgis.geo.store import USABLE_STATUS

    where = " WHERE status = ANY(:ok)" if usable_only else ""
    return _read(engine, f"SELECT {_COLUMNS[layer]}, geom FROM {layer}{where} ORDER BY id",
                 {"ok": list(USABLE_STATUS[layer])} if usable_only else None)


def read_shelters(engine, *, usable_only: bool = True):
    """Shelters with duration_class, capacity (NaN = unknown), capacity_source, occupancy."""
    gdf = _facilities(engine, "shelters", usable_only)
    gdf["capacity"] = pd.to_numeric(gdf["capacity"], errors="coerce").astype(float)
    area = pd.to_numeric(gdf["effective_area_m2"], errors="coerce")
    gdf["effective_area_m2"] = area.astype(float)
    return gdf


def read_depots(engine, *, usable_only: bool = True):
    """Depots with their level (province … village)."""
    return _facilities(engine, "depots", usable_only)


def read_team_bases(engine, *, usable_only: bool = True, team_types=None):
    """Team bases with team_type and personnel; fire stations are ``team_type='fire_station'``."""
    gdf = _facilities(engine, "team_bases", usable_only)
    if team_types is not None:
        gdf = gdf[gdf["team_type"].isin(list(team_types))].reset_index(drop=True)
    return gdf


def read_depot_stock(engine) -> pd.DataFrame:
    """Stock rows: depot_id, item, quantity, unit."""
    import sqlalchemy as sa

    with engine.connect() as c:
        df = pd.read_sql(sa.text("SELECT depot_id, item, quantity, unit FROM depot_stock "
                                 "ORDER BY depot_id, item"), c)
    for col in ("item", "unit"):
        df[col] = df[col].astype("str")
    return df


def read_hazard_zones(engine, *, levels=None):
    """Hazard zones (hazard_type, level, geometry), optionally only the given levels."""
    where = " WHERE level = ANY(:lv)" if levels is not None else ""
    return _read(engine, "SELECT id, ext_id, hazard_type, level, geom FROM hazard_zones"
                         f"{where} ORDER BY id",
                 {"lv": list(levels)} if levels is not None else None)


def read_village_polygons(engine):
    """Village boundaries (code, name, polygon) where stored; villages without one are left out."""
    return _read(engine, "SELECT code, name, geom FROM admin_units WHERE level = 'village' AND "
                         "geom IS NOT NULL ORDER BY code")


@dataclass
class CoverageInputs:
    """Everything coverage, capacity, supply and gaps read, from one database.

    The facility fields are named after their tables (`shelters.coverage.Kind.table`).
    """

    graph: Any
    demand: Any
    shelters: Any
    depots: Any
    depot_stock: pd.DataFrame
    team_bases: Any
    hazard_zones: Any
    villages: Any
    notes: list[str] = field(default_factory=list)
    township_names: dict[str, str] = field(default_factory=dict)  # 9-digit code -> name
    #: people placed exactly / approximately / not at all (`shelters.placement`)
    placement: dict | None = None


def load_coverage_inputs(engine, *, network: str = "default", home=None, year: int | None = None,
                         norms=None, usable_only: bool = True) -> CoverageInputs:
    """Read the network, village demand (snapped), facilities, stock, hazard zones, villages."""
    from emgis.geo.store import load_network
    from emgis.shelters.demand import demand_from_db, snap_demand

    graph = load_network(engine, network, home=home)
    demand = demand_from_db(engine, year=year, graph=graph, norms=norms)
    attrs = dict(demand.attrs)
    demand = snap_demand(graph, demand, norms=norms)
    demand.attrs.update(attrs)  # placement: `shelters.placement.placement_summary`
    out = CoverageInputs(graph, demand, read_shelters(engine, usable_only=usable_only),
                         read_depots(engine, usable_only=usable_only), read_depot_stock(engine),
                         read_team_bases(engine, usable_only=usable_only),
                         read_hazard_zones(engine), read_village_polygons(engine))
    from emgis.shelters.sited import sited_notes

    out.notes = (list(demand.attrs.get("notes", [])) + snap_notes(graph, demand, norms)
                 + sited_notes(engine))
    out.township_names = read_township_names(engine)
    out.placement = demand.attrs.get("placement")
    if out.placement:
        from emgis.shelters.placement import summary_lines

        out.notes += summary_lines(out.placement, by_township=False)
    return out


def snap_notes(graph, demand, norms=None) -> list[str]:
    """Say which demand points reach the roads only from far away or only an island: their
    times rest on an off-road walk or on a piece of road cut off from the rest."""
    import numpy as np

    from emgis.layers.norms import default_norms

    norms = norms or default_norms()
    limit = norms.number("demand.snap_warn_m")
    pop = demand["population"].to_numpy(dtype=float)
    snap_m = demand["snap_m"].to_numpy(dtype=float)
    node = demand["node"].to_numpy()
    notes = []
    far = np.isfinite(snap_m) & (snap_m > limit)
    if far.any():
        worst = np.argsort(-np.where(far, snap_m, -1))[:5]
        notes.append(
            f"{int(far.sum())} demand point(s) ({pop[far].sum():,.0f} people) are more than "
            f"{limit:,.0f} m from the nearest usable road (demand.snap_warn_m); their times "
            "include an off-road walk — check their places or the road network: "
            + ", ".join(f"{demand['code'].iloc[i]} {snap_m[i]:,.0f} m" for i in worst if far[i]))
    comp = np.asarray(graph.component)
    placed = node >= 0
    if placed.any() and comp.size:
        main = np.bincount(comp).argmax()
        island = placed & (comp[np.where(placed, node, 0)] != main)
        if island.any():
            notes.append(
                f"{int(island.sum())} demand point(s) ({pop[island].sum():,.0f} people) reach "
                "only a part of the road network cut off from its largest part; facilities on "
                "the rest cannot reach them (check the road data around them)")
    return notes

def read_township_names(engine) -> dict[str, str]:
    """``{9-digit township code: name}`` from the stored units, else the newest code list, so
    tables name townships as people know them, not by their codes."""
    import sqlalchemy as sa

    with engine.connect() as c:
        rows = c.execute(sa.text(
            "SELECT left(code, 9), name FROM code_list WHERE level = 'township' "
            "AND vintage = (SELECT max(vintage) FROM code_list) "
            "UNION ALL SELECT left(code, 9), name FROM admin_units WHERE level = 'township' "
            "AND name IS NOT NULL AND name <> ''")).all()
    return {code: name for code, name in rows}  # the units' own names win (last)
