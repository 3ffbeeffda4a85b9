"""`emgis norms …`: the norms in force, and the planner's overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer
from rich.table import Table

from emgis.api.cli.base import (
    _norms,
    _settings,
    console,
    err,
    norms_app,
)

# --- norms ---------------------------------------------------------------------------------------

@norms_app.command("list")
def norms_list(prefix: Annotated[str, typer.Argument(
        help="only keys starting with this")] = "") -> None:
    """Show the norms in force with their sources."""
    from emgis.layers.db import open_database

    with open_database() as db:
        norms = _norms(db.engine)
    t = Table("key", "value", "unit", "source", "origin", show_lines=False)
    for k in sorted(norms):
        if k.startswith(prefix):
            n = norms[k]
            t.add_row(k, str(n.value), n.unit, n.source, n.origin)
    console.print(t)


@norms_app.command("set")
def norms_set(key: str, value: str,
              source: Annotated[str, typer.Option(help="why: document or decision")] = "",
              note: str = "") -> None:
    """Override a norm in the database (recorded in the audit log)."""
    from emgis.layers.db import open_database
    from emgis.layers.norms import default_norms

    defaults = default_norms()
    if key in defaults and isinstance(defaults[key].value, float):
        try:
            float(value)
        except ValueError:
            err.print(f"[red]{key} is a number in {defaults[key].unit}; "
                      f"{value!r} is not a number[/]")
            raise typer.Exit(2) from None
    _, ls = _settings()
    with open_database() as db, db.engine.begin() as c:
        c.execute(sa.text("SELECT set_config('emgis.actor', :a, true)"), {"a": ls.actor})
        c.execute(sa.text(
            "INSERT INTO norm_overrides (key, value, standard, note, set_by) "
            "VALUES (:k, :v, :s, :n, :a) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, standard = EXCLUDED.standard, "
            "note = EXCLUDED.note, set_by = EXCLUDED.set_by, set_at = now()"),
            {"k": key, "v": value, "s": source or None, "n": note or None, "a": ls.actor})
    console.print(f"{key} = {value} (was {defaults[key].value if key in defaults else 'not set'})")


@norms_app.command("unset")
def norms_unset(key: str) -> None:
    """Remove a database override, going back to the file or default value."""
    from emgis.layers.db import open_database

    with open_database() as db, db.engine.begin() as c:
        n = c.execute(sa.text("DELETE FROM norm_overrides WHERE key = :k"), {"k": key}).rowcount
    console.print("removed" if n else f"{key} had no database override")


@norms_app.command("export")
def norms_export(file: Path) -> None:
    """Write the norms in force to a CSV a planner can edit and pass back with EMGIS_NORMS_FILE."""
    import csv

    from emgis.layers.db import open_database

    with open_database() as db:
        norms = _norms(db.engine)
    with open(file, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["key", "value", "unit", "standard", "clause", "status", "note"])
        for k in sorted(norms):
            n = norms[k]
            w.writerow([k, n.value, n.unit, n.standard, n.clause, n.status, n.note])
    console.print(f"wrote {len(norms)} norms to {file}")


