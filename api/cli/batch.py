"""`emgis batch`: coverage or gaps of many counties in one command, each county a task on Dask
(`emgis.shelters.batch`); `emgis batch province` writes a synthetic province to run it on.

Parses, calls `shelters.batch.run.run_batch`, shows a progress bar and prints the province
summary and the error table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from emgis.api.cli.base import _norms, _settings, app, console, err
from emgis.layers.problems import BadArgument, InputError

batch_app = typer.Typer(help="Many counties in one command on a Dask cluster (local or remote): "
                             "coverage, gaps, a synthetic province to try it on.",
                        no_args_is_help=True)
app.add_typer(batch_app, name="batch")

Counties = Annotated[str | None, typer.Option(
    help="county codes (360101,360102), a file of codes (one a line) or a code prefix (3601); "
         "default: every county of the province")]
Engine = Annotated[str, typer.Option(
    help="local (a Dask LocalCluster here), dask://HOST:PORT (a running scheduler) or "
         "sequential (one by one in this process)")]
Workers = Annotated[int, typer.Option(min=1, help="worker processes of the local cluster")]
HaloKm = Annotated[float | None, typer.Option(
    "--halo-km", min=0, help="roads and facilities this far beyond each county border "
                             "(default: the norm batch.halo_km)")]
Out = Annotated[Path | None, typer.Option(
    help="GeoParquet results go under here (default EMGIS_HOME/batch/results)")]
ProvinceDir = Annotated[Path | None, typer.Option(
    help="the province directory: roads.npz, counties.parquet, demand.parquet, facilities "
         "(default EMGIS_HOME/batch/province; `emgis batch province` writes one)")]
Layer = Annotated[str, typer.Option(help="the kind of facility: shelters, fire, depots, teams")]
NoDb = Annotated[bool, typer.Option(
    "--no-db", help="write GeoParquet only, not the PostGIS tables")]


def _run(analysis: str, opts: dict, no_db: bool) -> None:
    """``opts``: the command's options (province, counties, engine, workers, halo_km, out,
    layer)."""
    from emgis.shelters.batch.run import BatchRequest, run_batch

    dbs, _ = _settings()
    home = Path(dbs.home)
    req = BatchRequest(analysis, opts.pop("province") or home / "batch" / "province",
                       opts.pop("out") or home / "batch" / "results", **opts)
    layer = req.layer
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=err, transient=True)
    with progress:
        bar = progress.add_task(f"{analysis} {layer}", total=None)

        def tick(code, result, error) -> None:
            progress.update(bar, advance=1, description=f"{analysis} {layer} {code}"
                            + (" [red]failed[/]" if error else ""))

        try:
            if no_db:
                report = run_batch(req, norms=_norms(), home=home, on_result=tick)
            else:
                from emgis.layers.db import open_database

                with open_database() as db:
                    report = run_batch(req, norms=_norms(db.engine), home=home,
                                       db_engine=db.engine, on_result=tick)
        except (BadArgument, FileNotFoundError, InputError) as exc:
            err.print(f"[red]{exc}[/]")
            raise typer.Exit(2) from None
    _print(report)
    if len(report.summary):
        console.print(f"map: {_map(report, analysis, layer)}")
    if len(report.errors):
        raise typer.Exit(1)


def _map(report, analysis: str, layer: str) -> Path:
    """The province page: every village of the counties that completed, covered or not."""
    import geopandas as gpd
    import pandas as pd

    from emgis.maps.coverage_map import write_coverage_map
    from emgis.shelters.coverage import KINDS

    rows = pd.concat([gpd.read_parquet(report.results_dir / f"{c}.parquet")
                      for c in report.summary["county_code"]], ignore_index=True)
    rows = gpd.GeoDataFrame(rows, geometry="geometry", crs=4326)
    rows["time_s"] = rows["time_min"] * 60
    path = report.results_dir.parent / f"{analysis}-{layer}.html"
    return write_coverage_map(path, rows, kind_label=KINDS[layer].label,
                              title=f"全省{analysis} Province {analysis}: {KINDS[layer].label} "
                                    f"({len(report.summary)} counties)")


def _print(report) -> None:
    s = report.summary
    t = Table(title=f"province summary: {len(s)} of {len(report.counties)} counties "
                    f"({report.engine}, halo {report.halo_km:g} km, {report.seconds:.1f} s)",
              header_style="bold")
    cols = [c for c in ("county_code", "demand_points", "population", "covered_population",
                        "coverage_share", "gap_population", "road_nodes", "facilities",
                        "seconds") if c in s.columns]
    for c in cols:
        t.add_column(c, justify="left" if c == "county_code" else "right")
    for row in s.itertuples(index=False):
        vals = row._asdict()
        t.add_row(*[f"{vals[c]:.1%}" if c == "coverage_share" and vals[c] == vals[c]
                    else f"{vals[c]:,.0f}" if c in ("population", "covered_population",
                                                    "gap_population")
                    else str(vals[c]) for c in cols])
    console.print(t)
    if len(s):
        share = s["covered_population"].sum() / max(s["population"].sum(), 1)
        console.print(f"province: {s['covered_population'].sum():,.0f} of "
                      f"{s['population'].sum():,.0f} people covered ({share:.1%})")
    console.print(f"results: {report.results_dir}; road pieces cached in {report.cache}")
    if len(report.errors):
        e = Table(title=f"[red]{len(report.errors)} county(ies) failed[/] (the others completed)",
                  header_style="bold")
        e.add_column("county_code")
        e.add_column("error", overflow="fold")
        for row in report.errors.itertuples(index=False):
            e.add_row(row.county_code, row.error)
        console.print(e)


@batch_app.command("coverage")
def coverage_cmd(province: ProvinceDir = None, counties: Counties = None,
                 engine: Engine = "local", workers: Workers = 2, halo_km: HaloKm = None,
                 out: Out = None, layer: Layer = "shelters", no_db: NoDb = False) -> None:
    """Coverage of every county (each a task): who reaches a facility within its standard."""
    _run("coverage", dict(province=province, counties=counties, engine=engine, workers=workers,
                      halo_km=halo_km, out=out, layer=layer), no_db)


@batch_app.command("gaps")
def gaps_cmd(province: ProvinceDir = None, counties: Counties = None,
             engine: Engine = "local", workers: Workers = 2, halo_km: HaloKm = None,
             out: Out = None, layer: Layer = "shelters", no_db: NoDb = False) -> None:
    """Gaps of every county (each a task): people out of reach or without a place."""
    _run("gaps", dict(province=province, counties=counties, engine=engine, workers=workers,
                      halo_km=halo_km, out=out, layer=layer), no_db)


@batch_app.command("province")
def province_cmd(
    out: Annotated[Path | None, typer.Argument(
        help="directory to write (default EMGIS_HOME/batch/province)")] = None,
    rows: Annotated[int, typer.Option(min=1, max=99)] = 10,
    cols: Annotated[int, typer.Option(min=1, max=99)] = 10,
    nodes_per_county: Annotated[int, typer.Option(min=200)] = 21_000,
    county_km: Annotated[float, typer.Option(min=1)] = 42.0,
    villages: Annotated[int, typer.Option(min=1)] = 150,
    prefix: Annotated[str, typer.Option(help="2-digit province code")] = "36",
    seed: int = 0,
) -> None:
    """Write a synthetic province (default 10 × 10 counties, > 2 million road nodes)."""
    from emgis.shelters.batch.province import ProvinceSpec, write_province

    dbs, _ = _settings()
    target = out or Path(dbs.home) / "batch" / "province"
    try:
        spec = ProvinceSpec(rows=rows, cols=cols, nodes_per_county=nodes_per_county,
                            county_km=county_km, villages=villages, prefix=prefix, seed=seed)
        path = write_province(target, spec)
    except ValueError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    import json

    meta = json.loads((path / "province.json").read_text(encoding="utf-8"))
    console.print(f"wrote {path}: {meta['counties']} counties, {meta['road_nodes']:,} road "
                  f"nodes, {rows * cols * villages:,} villages")
