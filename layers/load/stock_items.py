"""The stock-item vocabulary in the database: look names up, refuse unknown ones, add items.

Depots' stock names an item of ``stock_items`` (migration 0006; a foreign key holds it). A name
that is not there — a misspelling (帐蓬 for 帐篷), text mangled by a wrong encoding — is an
`InputError` naming the closest known items (`layers.vocab.closest_items`); a new item is added
only on purpose, through `add_item` (`emgis stock-items add`, ``POST /stock-items``).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from emgis.layers import vocab
from emgis.layers.problems import InputError, Problem, Problems

ADD_HINT = "emgis stock-items add NAME --unit UNIT (or POST /stock-items) adds a new item"


@dataclass(frozen=True)
class Item:
    name: str
    unit: str | None
    kind: str
    name_en: str | None
    added_by: str


def known_items(conn: Connection) -> dict[str, Item]:
    rows = conn.execute(sa.text("SELECT name, unit, kind, name_en, added_by FROM stock_items "
                                "ORDER BY kind, name")).all()
    return {r[0]: Item(*r) for r in rows}


def match_item(items: dict[str, Item], text: str) -> str | None:
    """The item ``text`` names: its name, or its English name in any case; else None."""
    s = text.strip()
    if s in items:
        return s
    low = s.lower()
    return next((i.name for i in items.values() if i.name_en and i.name_en.lower() == low), None)


def unknown_item_message(items: dict[str, Item], text: str,
                         extra: list[str] | None = None) -> tuple[str, str]:
    """(problem, fix) for an item name that is not in the vocabulary."""
    near = vocab.closest_items(text, items)
    for t in extra or ():
        near = [*near, *(n for n in vocab.closest_items(t, items) if n not in near)]
    if near:
        shown = ", ".join(f"{n} ({items[n].unit})" if items[n].unit else n for n in near[:3])
        return (f"is not a known stock item; did you mean {shown}?",
                f"use the item's exact name; if it really is a new item, {ADD_HINT}")
    return ("is not a known stock item",
            f"list the items with emgis stock-items list (GET /stock-items); {ADD_HINT}")


def resolve_item(conn: Connection, text: str, *, field: str = "item",
                 raw_readings: list[str] | None = None) -> Item:
    """The stored item ``text`` names, or InputError naming the closest ones.

    ``raw_readings``: other readings of the same bytes (e.g. a URL path decoded as GBK) to
    search for near names when ``text`` itself was damaged in decoding.
    """
    items = known_items(conn)
    name = match_item(items, text)
    if name is not None:
        return items[name]
    message, fix = unknown_item_message(items, text, raw_readings)
    raise InputError([Problem("stock item", None, field, text, message, fix)],
                     source="stock item")


def check_items(conn: Connection, names: list[tuple[int, object]], p: Problems) -> list:
    """Map each (row, name) of a stock file to a known item name; record unknown ones in ``p``
    (as errors, with the closest known names). Returns the names to store (None if unknown)."""
    items = known_items(conn)
    out = []
    for row, v in names:
        if v is None:
            out.append(None)
            continue
        name = match_item(items, str(v))
        if name is None:
            message, fix = unknown_item_message(items, str(v))
            p.error(row, "item", v, message, fix)
        out.append(name)
    return out


def list_items(engine: Engine) -> list[Item]:
    with engine.connect() as c:
        return list(known_items(c).values())


def add_item(engine: Engine, name: str, *, unit: str, kind: str | None = None,
             name_en: str | None = None, actor: str) -> Item:
    """Add a stock item on purpose (audited under ``actor``); InputError if the name is blank,
    already known, or the kind is not one of ``vocab.STOCK_KIND``."""
    p = Problems("stock item")
    name = (name or "").strip()
    unit = (unit or "").strip()
    if not name:
        p.error(None, "name", name, "is empty", "give the item's name as depots call it, e.g. 帐篷")
    if not unit:
        p.error(None, "unit", unit, "is empty", "give the unit it is counted in, e.g. 顶, 床, kg")
    key = vocab.lookup(vocab.STOCK_KIND, kind) if kind else "other"
    if key is None:
        p.error(None, "kind", kind, "is not a stock item kind",
                f"use one of {vocab.describe(vocab.STOCK_KIND)}")
    p.raise_if_errors()
    with engine.begin() as c:
        c.execute(sa.text("SELECT set_config('emgis.actor', :a, true)"), {"a": actor})
        items = known_items(c)
        same = match_item(items, name) or (match_item(items, name_en) if name_en else None)
        if same is not None:
            raise InputError([Problem("stock item", None, "name", name,
                                      f"is already a stock item ({same}, "
                                      f"{items[same].unit or 'no unit'})",
                                      "use that item; nothing was added")], source="stock item")
        c.execute(sa.text("INSERT INTO stock_items (name, unit, kind, name_en, added_by) "
                          "VALUES (:n, :u, :k, :e, :a)"),
                  {"n": name, "u": unit, "k": key, "e": (name_en or "").strip() or None,
                   "a": actor})
    return Item(name, unit, key or "other", (name_en or "").strip() or None, actor)
