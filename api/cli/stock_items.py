"""`emgis stock-items list / add`: the vocabulary of relief items depots may stock.

A stock update or a stock file that names an unknown item is refused with the closest known
names; a new item is added here (or by ``POST /stock-items``), on purpose and audited.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from emgis.api.cli.base import _report_input_error, _settings, app, console
from emgis.layers import vocab
from emgis.layers.problems import InputError

stock_items_app = typer.Typer(help="Stock items: the relief items depots may hold (帐篷, 棉被, "
                                   "...), each with its unit; add a new one on purpose.")
app.add_typer(stock_items_app, name="stock-items")


@stock_items_app.command("list")
def stock_items_list() -> None:
    """Show every known stock item with its unit and kind."""
    from emgis.layers.db import open_database
    from emgis.layers.load.stock_items import list_items

    with open_database() as db:
        items = list_items(db.engine)
    t = Table("name", "unit", "kind", "English", "added by")
    for i in items:
        kind = vocab.STOCK_KIND[i.kind].zh if i.kind in vocab.STOCK_KIND else i.kind
        t.add_row(i.name, i.unit or "", f"{i.kind} ({kind})", i.name_en or "", i.added_by)
    console.print(t)


@stock_items_app.command("add")
def stock_items_add(
    name: Annotated[str, typer.Argument(help="the name depots use, e.g. 帐篷")],
    unit: Annotated[str, typer.Option(help="the unit it is counted in, e.g. 顶, 床, kg")],
    kind: Annotated[str | None, typer.Option(
        help=f"one of {', '.join(vocab.STOCK_KIND)} (or its Chinese name); default other")]
        = None,
    name_en: Annotated[str | None, typer.Option("--en", help="an English name")] = None,
) -> None:
    """Add NAME to the stock items (audited under EMGIS_ACTOR)."""
    from emgis.layers.db import open_database
    from emgis.layers.load.stock_items import add_item

    _, ls = _settings()
    with open_database() as db:
        try:
            item = add_item(db.engine, name, unit=unit, kind=kind, name_en=name_en,
                            actor=ls.actor)
        except InputError as exc:
            _report_input_error(exc, "nothing was added")
            raise typer.Exit(2) from None
    console.print(f"[green]added[/] stock item {item.name} ({item.unit}, {item.kind})")
