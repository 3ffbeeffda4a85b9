"""The `emgis` command line's Typer apps and what every command shares (consoles, settings,
the report of an `InputError`); the commands live in the modules beside it."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from emgis.layers.problems import InputError

app = typer.Typer(help="emgis: risk, coverage and dispatch maps for a county emergency "
                       "management bureau.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            v = version("emgis")
        except PackageNotFoundError:  # run from a source tree without an install
            v = "unknown (not installed)"
        typer.echo(f"emgis {v}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="print emgis's version and exit")) -> None:
    """emgis: risk, coverage and dispatch maps for a county emergency management bureau."""


db_app = typer.Typer(help="Manage the database (emgis's own PostGIS cluster, or "
                          "EMGIS_DATABASE_URL).",
                     no_args_is_help=True)
norms_app = typer.Typer(help="The norms table: numbers from standards, with sources; override "
                             "them here.",
                        no_args_is_help=True)
population_app = typer.Typer(help="Population as demand: rasters summed to units, rescaled to the "
                                  "census; demand points.",
                             no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(norms_app, name="norms")
app.add_typer(population_app, name="population")
console = Console()
err = Console(stderr=True)


def _settings():
    from emgis.layers.settings import DatabaseSettings, LoadSettings

    return DatabaseSettings(), LoadSettings()


def _norms(engine=None):
    """The norms in force (defaults, EMGIS_NORMS_FILE, the database's overrides)."""
    from emgis.layers.norms import norms_in_force

    return norms_in_force(engine)


def _report_input_error(exc: InputError, outcome: str = "nothing was loaded") -> None:
    err.print(f"[bold red]{exc.source}[/]: {outcome}. "
              f"Problems found ({len(exc.problems)}):")
    t = Table(show_lines=False, header_style="bold")
    for col in ("", "row", "field", "value", "problem", "how to fix"):
        t.add_column(col, overflow="fold")
    for p in exc.problems:
        t.add_row("[red]error[/]" if p.severity == "error" else "[yellow]warning[/]",
                  "" if p.row is None else str(p.row), p.field or "",
                  "" if p.value is None else str(p.value),
                  p.message, p.fix)
    err.print(t)
    if all(p.severity == "warning" for p in exc.problems):
        err.print("Only warnings: check them, then run again with "
                  "[bold]--accept-warnings[/] to load.")




LangOpt = Annotated[str, typer.Option(
    "--lang", help="workbook (.xlsx) language: zh (Chinese headers, the default) or en")]


def _check_lang(lang: str) -> str:
    """``zh`` or ``en`` (case-insensitive); exit 2 on anything else."""
    from emgis.layers.workbook import LANGS

    if lang.lower() not in LANGS:
        err.print(f"[red]--lang {lang!r} is not known[/]; use zh or en")
        raise typer.Exit(2)
    return lang.lower()


def _command(ctx: typer.Context) -> str:
    """The command being run as typed (options that differ from their defaults), for the notes
    sheet of the workbook it writes."""
    parts = ["emgis", *ctx.command_path.split()[1:]]
    for p in ctx.command.params:
        v = ctx.params.get(p.name or "")
        if v is None or v == p.default or not p.opts:
            continue
        if p.param_type_name == "argument":
            parts.append(str(v))
        elif v is True:
            parts.append(p.opts[0])
        else:
            parts += [p.opts[0], str(v)]
    return " ".join(parts)
