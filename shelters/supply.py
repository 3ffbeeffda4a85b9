"""Supply: are the depots stocked and the teams manned for the people they serve?

Coverage (`shelters.coverage`) says which depot or team is nearest to each village; reach
alone does not help if the nearest depot is empty or the team is three people. Both checks
take the population whose nearest facility it is (from a `depot_coverage` /
`team_coverage` answer) and compare it with a norm:

* `depot_supply` — stock against the per-person needs norms (``needs.*``, `need_items`),
  with stock item names matched in Chinese and English (`NEED_ITEMS`);
* `team_personnel` — personnel against ``fire.firefighters_per_1000``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from emgis.shelters.coverage import KINDS, _ids, _norms

__all__ = ["NEED_ITEMS", "depot_supply", "need_items", "team_personnel"]


# stock item names (Chinese and English) that count against each needs.* norm
NEED_ITEMS: dict[str, tuple[str, ...]] = {
    "rice": ("rice", "大米", "米", "粮食", "方便食品", "食品"),
    "drinking_water": ("drinking_water", "饮用水", "瓶装水", "矿泉水"),
    "clean_water": ("clean_water", "清洁用水", "生活用水"),
    "family_kits": ("family_kits", "family_kit", "家庭包", "家庭用品包"),
    "toilets": ("toilets", "toilet", "厕所", "移动厕所", "简易厕所"),
}


def need_items(norms=None, *, weeks: float = 1.0) -> pd.DataFrame:
    """Return the per-person needs from the ``needs.*`` norms: item, key, per_person, unit.

    ``*_per_person_week`` norms are multiplied by ``weeks``; item is the key without the
    unit and rate suffix (``rice_kg_per_person_week`` → ``rice``).
    """
    norms = _norms(norms)
    rows = []
    for suffix, v in norms.group("needs").items():
        if isinstance(v, str):
            continue
        base, _, rate = suffix.partition("_per_person")
        per = float(v) * (weeks if rate == "_week" else 1.0)
        item = base
        for unit_tail in ("_kg", "_l"):
            if item.endswith(unit_tail):
                item = item[: -len(unit_tail)]
        rows.append({"item": item, "key": f"needs.{suffix}", "per_person": per,
                     "unit": norms[f"needs.{suffix}"].unit})
    return pd.DataFrame(rows, columns=["item", "key", "per_person", "unit"])


def _served_by(cov: pd.DataFrame, population=None, *, covered_only: bool = False) -> pd.DataFrame:
    pop = np.asarray(cov["population"] if population is None else population, dtype=float)
    col = "covered_by_id" if covered_only else "facility_id"
    ids = cov[col]
    df = pd.DataFrame({"id": ids.to_numpy(), "population": pop})
    df = df[ids.notna().to_numpy()]
    return df.groupby("id", sort=True)["population"].sum()


def depot_supply(depot_cov: pd.DataFrame, stock: pd.DataFrame, norms=None, *, depot_ids=None,
                 population=None, share: float = 1.0, weeks: float = 1.0,
                 item_map: dict[str, tuple[str, ...]] | None = None) -> pd.DataFrame:
    """Compare each depot's stock with the needs of the population it serves.

    A depot serves the demand points whose nearest depot it is (``depot_cov`` from
    `depot_coverage`); need = population × ``share`` × per-person norm (× ``weeks`` for
    weekly norms). Stock rows are matched to needs through ``item_map`` (default
    `NEED_ITEMS`, case-insensitive) and summed.

    Returns
    -------
    pandas.DataFrame
        One row per depot × need item: depot_id, item, population_served, need, stock,
        unit, shortfall (need − stock when positive), cover_ratio (stock / need); ranked by
        shortfall. ``attrs["unmatched_items"]`` lists stock items no norm applies to.
    """
    needs = need_items(norms, weeks=weeks)
    item_map = NEED_ITEMS if item_map is None else item_map
    served = _served_by(depot_cov, population)
    if depot_ids is None:
        depot_ids = served.index.to_numpy()
    stocked = list(stock["depot_id"].unique()) if len(stock) else []
    depot_ids = list(pd.unique(np.asarray(list(depot_ids) + stocked, dtype=object)))
    lookup = {}
    for item, names in item_map.items():
        for nm in names:
            lookup[str(nm).strip().lower()] = item
    st = stock.copy()
    matched = [lookup.get(str(s).strip().lower()) for s in st["item"]]
    unmatched = sorted({str(s) for s, m in zip(st["item"], matched, strict=True) if m is None})
    st["need_item"] = pd.array(matched, dtype="str")
    st = st[st["need_item"].notna()]
    qty = st.groupby([st["depot_id"].astype(object), "need_item"])["quantity"].sum()
    rows = []
    for d in depot_ids:
        p = float(served.get(d, 0.0)) * share
        for _, nd in needs.iterrows():
            need = p * nd["per_person"]
            s = float(qty.get((d, nd["item"]), 0.0))
            rows.append({"depot_id": d, "item": nd["item"], "population_served": p, "need": need,
                         "stock": s, "unit": nd["unit"], "shortfall": max(need - s, 0.0),
                         "cover_ratio": s / need if need > 0 else np.nan})
    out = pd.DataFrame(rows, columns=["depot_id", "item", "population_served", "need", "stock",
                                      "unit", "shortfall", "cover_ratio"])
    out = out.sort_values(["shortfall", "depot_id", "item"], ascending=[False, True, True],
                          kind="stable").reset_index(drop=True)
    out.attrs["unmatched_items"] = unmatched
    return out


def team_personnel(team_cov: pd.DataFrame, teams: pd.DataFrame, norms=None, *, population=None,
                   per_1000_key: str = "fire.firefighters_per_1000") -> pd.DataFrame:
    """Compare each team's personnel with the population whose nearest team it is.

    required = ceil(population_served / 1000 × norm ``per_1000_key``); shortfall =
    required − personnel when positive.

    Returns
    -------
    pandas.DataFrame
        id, personnel, population_served, required, shortfall, persons_per_member; ranked
        by shortfall.
    """
    norms = _norms(norms)
    rate = norms.number(per_1000_key)
    served = _served_by(team_cov, population)
    ids = _ids(teams)
    k = KINDS.get(team_cov.attrs.get("kind"))
    if k is not None and k.team_type is not None and "team_type" in teams.columns:
        keep = (teams["team_type"].astype("str") == k.team_type).to_numpy()
        teams, ids = teams[keep], ids[keep]
    pers = pd.to_numeric(teams["personnel"], errors="coerce").fillna(0).to_numpy(dtype=float)
    pop = np.array([float(served.get(i, 0.0)) for i in ids])
    req = np.ceil(pop * rate / 1000.0 - 1e-9)
    out = pd.DataFrame({"id": ids, "personnel": pers, "population_served": pop, "required": req,
                        "shortfall": np.maximum(req - pers, 0.0),
                        "persons_per_member": np.divide(pop, pers, out=np.full(pop.size, np.inf),
                                                        where=pers > 0)})
    out.attrs["norm"] = f"{per_1000_key} = {rate:g} per 1000"
    out = out.sort_values(["shortfall", "id"], ascending=[False, True], kind="stable")
    return out.reset_index(drop=True)

