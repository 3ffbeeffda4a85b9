"""`emgis population …`: rasters summed to units and rescaled to the census; demand points."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer

from emgis.api.cli.base import (
    _norms,
    _report_input_error,
    _settings,
    console,
    err,
    population_app,
)
from emgis.layers.db import latest_census_year
from emgis.layers.problems import InputError

# --- population -------------------------------------------------------------------------------

def _units_with_geometry(engine, level: str):
    import geopandas as gpd

    with engine.connect() as c:
        units = gpd.read_postgis(sa.text("SELECT code, name, geom FROM admin_units "
                                         "WHERE level = :l AND geom IS NOT NULL "
                                         "ORDER BY code"), c, geom_col="geom", params={"l": level})
    if units.empty:
        from emgis.layers.problems import Problem

        raise InputError([Problem(
            "admin_units", None, "level", level, "has no unit with a boundary in the database",
            "load township/village outlines first: emgis load admin_units FILE")],
                         source="admin_units")
    return units


def _raster_units_census(raster: Path, level: str, year: int | None):
    """Read the raster, the stored units of ``level`` and one census year (the latest by
    default)."""
    from emgis.layers.db import open_database
    from emgis.layers.load.rasters import read_population_raster

    try:
        pop = read_population_raster(raster)
        with open_database() as db:
            units = _units_with_geometry(db.engine, level)
            with db.engine.connect() as c:
                y = year or latest_census_year(c)
                census = dict(c.execute(sa.text(
                    "SELECT code, population FROM population WHERE year = :y"),
                                        {"y": y}).all())
    except InputError as exc:
        _report_input_error(exc)
        raise typer.Exit(2) from None
    return pop, units, y, census


@population_app.command("zonal")
def population_zonal(
    raster: Annotated[Path, typer.Argument(help="population GeoTIFF (WorldPop, GHSL, ...)")],
    level: Annotated[str, typer.Option(help="sum to this level of admin_units")] = "village",
    out: Annotated[Path | None, typer.Option(
        help="write code,name,raster_population[,census] as CSV")] = None,
) -> None:
    """Sum a population raster over the stored units, beside the latest census where there is
    one."""
    from emgis.shelters.population import zonal_sums

    pop, units, _, census = _raster_units_census(raster, level, None)
    sums = zonal_sums(pop, units)
    table = units[["code", "name"]].copy()
    table["raster_population"] = table["code"].map(sums).fillna(0.0).round(1)
    table["census"] = table["code"].map(census)
    for note in sums.attrs.get("notes", []):
        console.print(f"  note: {note}")
    console.print(f"raster total {pop.total:,.0f}; inside the {len(units)} {level} units "
                  f"{table['raster_population'].sum():,.0f}; "
                  f"outside {sums.attrs.get('outside_units', 0):,.0f}")
    if out:
        table.to_csv(out, index=False, encoding="utf-8-sig")
        console.print(f"wrote {out}")


@population_app.command("dasymetric")
def population_dasymetric(
    raster: Annotated[Path, typer.Argument(help="population GeoTIFF to rescale")],
    out: Annotated[Path, typer.Argument(help="the rescaled GeoTIFF to write")],
    year: Annotated[int | None, typer.Option(
        help="census year (default: the latest loaded)")] = None,
    level: str = "village",
) -> None:
    """Rescale a raster so each unit's cells sum to its census total (dasymetric mapping)."""
    from emgis.layers.load.rasters import write_raster
    from emgis.shelters.population import dasymetric

    pop, units, y, totals = _raster_units_census(raster, level, year)
    result = dasymetric(pop, units, {k: v for k, v in totals.items() if v is not None})
    write_raster(out, result)
    for note in result.notes:
        console.print(f"  note: {note}")
    console.print(f"wrote {out}: total {result.total:,.0f} "
                  f"(census {y}: {sum(v or 0 for v in totals.values()):,})")


@population_app.command("demand")
def population_demand(
    out: Annotated[Path, typer.Argument(help="GeoJSON, GeoPackage or CSV of demand points")],
    year: Annotated[int | None, typer.Option(
        help="census year (default: the latest loaded)")] = None,
    store: Annotated[bool, typer.Option(
        help="store township-weighted positions of code-only villages")] = True,
    snap: Annotated[bool, typer.Option(
        help="snap each point to the road network (node, snap_m, offroad_s)")] = False,
    network: Annotated[str, typer.Option(help="road network to snap to")] = "default",
    raster: Annotated[Path | None, typer.Option(
        help="population GeoTIFF to spread a county or township total by (instead of roads)"
    )] = None,
) -> None:
    """Demand points with their population, placed from the best source the database holds.

    A village census gives one point per village (its boundary or point, else its township's
    seat, else the county outline); a township census or a county total (a census row with the
    county's code) is spread over 500 m cells by --raster, else by road length by grade. Each
    point says how it was placed and where its population comes from.
    """
    from emgis.geo.store import RoadNetworkNotFound, load_network
    from emgis.layers.db import open_database
    from emgis.layers.problems import MissingData
    from emgis.shelters.demand import demand_from_db, snap_demand, store_placements

    dbs, ls = _settings()
    try:
        with open_database() as db:
            norms = _norms(db.engine)

            def graph():
                try:
                    return load_network(db.engine, network, home=dbs.home)
                except RoadNetworkNotFound:
                    return None

            pop_raster = None
            if raster is not None:
                from emgis.layers.load.rasters import read_population_raster

                pop_raster = read_population_raster(raster)
            d = demand_from_db(db.engine, year=year, graph=graph, norms=norms, raster=pop_raster)
            placed = store_placements(db.engine, d, actor=ls.actor) if store else 0
            if snap:
                attrs = dict(d.attrs)
                d = snap_demand(load_network(db.engine, network, home=dbs.home), d, norms=norms)
                d.attrs.update(attrs)
    except InputError as exc:
        _report_input_error(exc)
        raise typer.Exit(2) from None
    except (RoadNetworkNotFound, MissingData) as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    if snap:
        console.print(f"snapped to network {network!r}: median {d['snap_m'].median():,.0f} m, "
                      f"max {d['snap_m'].max():,.0f} m from a road")
    counts = d["placement"].value_counts().to_dict()
    console.print(f"{len(d)} demand points, population {d['population'].sum():,.0f} "
                  f"(census {d.attrs['year']}); placement: "
                  + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for line in d.attrs["placement"]["lines"]:
        console.print(line, soft_wrap=True)
    if placed:
        console.print(f"  stored {placed} township-weighted position(s) in admin_units")
    for note in d.attrs.get("notes", []):
        console.print(f"  note: {note}", soft_wrap=True)
    frame = d.drop(columns="geometry")
    if out.suffix.lower() == ".csv":
        frame["lon"], frame["lat"] = d.geometry.x, d.geometry.y
        frame.to_csv(out, index=False, encoding="utf-8-sig")
    else:
        d[d.geometry.notna()].to_file(out)
        if d.geometry.isna().any():
            console.print(f"  {int(d.geometry.isna().sum())} point(s) without a position are "
                          "not in the file (CSV keeps them)")
    console.print(f"wrote {out}")


# commands defined in their own modules register themselves on `app`
