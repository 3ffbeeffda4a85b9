"""Relief needs: what the people relocated by an incident need, from the norms.

Pure: people in, a needs table out; every number comes from the norms in force, and every row
names the norm (key and source) it applied.

* **Chinese practice** (the default, ``needs="china"``): ``relief.need.<stock item>.<basis>``
  — the item is a name of the stock-item vocabulary (`layers.vocab.STOCK_ITEMS`: 帐篷, 棉被,
  折叠床, 饮用水, 方便食品 …) so a depot's stock matches it by name; the basis is
  ``per_household`` (households = relocated people / ``relief.household_size``),
  ``per_person`` (once) or ``per_person_day`` (× ``relief.days``).
* **InaSAFE** (``needs="inasafe"``, the old ``needs.*`` rows of `shelters.supply`): kept only as
  an option; its items are mapped to stock items (rice → 大米, family kits → 家庭包 …).
* **Sphere** (`sphere_check`): the Chinese set held against the Sphere minimum standards
  (``relief.sphere.*``: water, drinking water, covered space, energy) — an international check,
  not a need.

Relocated people = people in the area × ``relief.displaced_share.<incident kind>``
(`displaced_share`, kinds of `layers.vocab.INCIDENT_TYPE`). Needs are rounded up to whole units
(a tent, a quilt, a litre), so the allocation works on whole numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from emgis.layers import vocab

__all__ = ["BASES", "NEED_SETS", "NeedItem", "displaced_share", "need_items", "people_needs",
           "sphere_check"]

BASES = ("per_household", "per_person", "per_person_day")
NEED_SETS = ("china", "inasafe")

# InaSAFE's items (``needs.*`` norms) as stock items of the vocabulary
_INASAFE_ITEMS = {"rice": "大米", "drinking_water": "饮用水", "clean_water": "清洁用水",
                  "family_kits": "家庭包", "toilets": "移动厕所"}

NEEDS_COLUMNS = ["dest_id", "name", "population", "displaced", "households", "item", "need",
                 "unit", "key", "source"]


@dataclass(frozen=True)
class NeedItem:
    item: str     # a stock item name (vocab.STOCK_ITEMS / the stock_items table)
    per: float    # quantity per basis unit
    basis: str    # one of BASES
    unit: str     # the item's counting unit
    key: str      # the norm applied
    source: str   # its standard, clause and certainty


def _unit(item: str) -> str:
    return next((s.unit for s in vocab.STOCK_ITEMS if s.name == item), "")


def need_items(norms, needs: str = "china") -> list[NeedItem]:
    """The per-person / per-household needs of the set ``needs`` from the norms in force."""
    if needs not in NEED_SETS:
        raise ValueError(f"needs={needs!r}: use one of {', '.join(NEED_SETS)}")
    out = []
    if needs == "china":
        for suffix in norms.group("relief.need"):
            item, _, basis = suffix.rpartition(".")
            if basis not in BASES or not item:
                raise ValueError(f"norm relief.need.{suffix}: the key must end in one of "
                                 f"{', '.join(BASES)} (relief.need.<stock item>.<basis>)")
            row = norms[f"relief.need.{suffix}"]
            out.append(NeedItem(item, float(row.value), basis, _unit(item) or row.unit,
                                row.key, row.source))
        return out
    for suffix in norms.group("needs"):
        row = norms[f"needs.{suffix}"]
        if isinstance(row.value, str):
            continue
        base, _, rate = suffix.partition("_per_person")
        for tail in ("_kg", "_l"):
            base = base[: -len(tail)] if base.endswith(tail) else base
        item = _INASAFE_ITEMS.get(base, base)
        if rate == "_week":  # a weekly ration counted per day
            out.append(NeedItem(item, float(row.value) / 7.0, "per_person_day", _unit(item)
                                or row.unit, row.key, row.source))
        else:
            out.append(NeedItem(item, float(row.value), "per_person", _unit(item) or row.unit,
                                row.key, row.source))
    return out


def displaced_share(incident_type: str | None, norms) -> tuple[float, str, str]:
    """``(share, norm key, source)``: the share of the people in an incident's area relocated,
    from ``relief.displaced_share.<kind>`` (``other`` for an unknown type)."""
    kind = vocab.lookup(vocab.INCIDENT_TYPE, incident_type) if incident_type else None
    key = f"relief.displaced_share.{kind}"
    if kind is None or key not in norms:
        key = "relief.displaced_share.other"
    row = norms[key]
    return float(row.value), key, row.source


def people_needs(people: pd.DataFrame, norms, *, share: float = 1.0, needs: str = "china",
                 days: float | None = None) -> pd.DataFrame:
    """The needs of each destination's relocated people.

    ``people`` has ``dest_id``, ``name`` and ``population`` (the people there) or
    ``displaced`` (the people relocated, then ``share`` is not applied). Returns one row per
    destination × item with need > 0: `NEEDS_COLUMNS` (need rounded up to whole units).
    """
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share={share}: a share is between 0 and 1")
    items = need_items(norms, needs)
    hh = norms.number("relief.household_size")
    days = norms.number("relief.days") if days is None else float(days)
    rows = []
    for r in people.itertuples(index=False):
        pop = float(getattr(r, "population", 0.0) or 0.0)
        disp = getattr(r, "displaced", None)
        disp = pop * share if disp is None or pd.isna(disp) else float(disp)
        if disp <= 0:
            continue
        households = disp / hh
        for it in items:
            base = {"per_household": households, "per_person": disp,
                    "per_person_day": disp * days}[it.basis]
            need = math.ceil(base * it.per - 1e-9)
            if need > 0:
                rows.append((r.dest_id, getattr(r, "name", None), pop, disp, households,
                             it.item, float(need), it.unit, it.key, it.source))
    return pd.DataFrame(rows, columns=NEEDS_COLUMNS)


def sphere_check(norms) -> list[dict]:
    """The Chinese needs held against the Sphere minimum standards (``relief.sphere.*``).

    Each row: check, provided, minimum, unit, ok, keys. Water beyond drinking water is not
    stocked in depots; that row says so rather than passing."""
    per = {(i.item, i.basis): i.per for i in need_items(norms, "china")}
    hh = norms.number("relief.household_size")
    drink = per.get(("饮用水", "per_person_day"), 0.0)
    tents = per.get(("帐篷", "per_household"), 0.0)
    food = per.get(("方便食品", "per_person_day"), 0.0)
    rows = [
        ("drinking water 饮用水", drink, "relief.sphere.drinking_l_per_person_day", "L/p/d",
         "relief.need.饮用水.per_person_day"),
        ("total water 总用水 (drinking from depots; the rest from local supply)", drink,
         "relief.sphere.water_l_per_person_day", "L/p/d", "relief.need.饮用水.per_person_day"),
        ("covered space 帐篷面积", tents * norms.number("relief.tent_m2") / hh,
         "relief.sphere.covered_m2_per_person", "m2/p",
         "relief.need.帐篷.per_household; relief.tent_m2; relief.household_size"),
        ("energy 能量", food * norms.number("relief.food_kcal_per_kg"),
         "relief.sphere.kcal_per_person_day", "kcal/p/d",
         "relief.need.方便食品.per_person_day; relief.food_kcal_per_kg"),
    ]
    out = []
    for check, got, key, unit, keys in rows:
        need = norms.number(key)
        out.append({"check": check, "provided": round(got, 3), "minimum": need, "unit": unit,
                    "ok": bool(got >= need - 1e-9), "keys": f"{keys} vs {key}",
                    "source": norms[key].source})
    return out
