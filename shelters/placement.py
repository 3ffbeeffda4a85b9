"""How well the people of an answer are placed: exactly, approximately (and how), or not at all.

Every answer that sums people (`emgis population demand`, the warning area, coverage, gaps)
states it with :func:`placement_summary`: a demand point is **exact** when its population is a
village's own census figure and it stands on the village's own boundary or point; **approximate**
when either was estimated (a village placed at its township's seat, a county total spread over a
grid by a proxy ...); **not placed** when it has no position at all (it counts in no area).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["METHODS", "PLACEMENT_TEXT", "placement_summary", "summary_lines"]

#: what each population_method means, for people who read the answer
METHODS = {
    "village_census": "village census",
    "township_census": "township census spread over its cells by a proxy",
    "county_raster": "county total spread by a population raster",
    "county_proxy": "county total spread by a proxy",
}
#: what each placement means
PLACEMENT_TEXT = {
    "boundary": "village boundary", "point": "village point",
    "township_weighted": "township's placed villages (weighted)",
    "township_polygon": "township polygon", "township_seat": "township seat",
    "county_outline": "county outline only", "grid_roads": "grid cell on its roads",
    "grid_raster": "grid cell (population raster)", "grid_area": "grid cell (area)",
    "code_only": "not placed",
}
_EXACT = ("boundary", "point")


def _quality(placement: np.ndarray, method: np.ndarray, has_geom: np.ndarray) -> np.ndarray:
    exact = np.isin(placement, _EXACT) & (method == "village_census") & has_geom
    return np.where(~has_geom | (placement == "code_only"), "not_placed",
                    np.where(exact, "exact", "approximate"))


def placement_summary(demand: Any, township_names: dict[str, str] | None = None) -> dict:
    """People placed exactly, approximately (by how) and not at all, in total and by township.

    Parameters
    ----------
    demand
        Demand points with ``population``, ``placement``, ``population_method`` (absent:
        ``village_census``), a geometry (None = not placed) and ``code`` or ``township_code``.
    township_names
        ``{9-digit township code: name}`` for the table (default: the column
        ``township_name`` if present).

    Returns
    -------
    dict
        ``total``, ``exact``, ``approximate``, ``not_placed`` (people), ``approximate_by``
        (``{"placement / method": people}``), ``by_township`` (rows: township_code,
        township_name, quality, placement, population_method, how, points, people) and
        ``lines`` (the same in words, for printing).
    """
    n = len(demand)
    pop = pd.to_numeric(pd.Series(demand["population"]), errors="coerce").fillna(0).to_numpy()
    placement = np.asarray(demand["placement"], dtype=object).astype(str)
    method = (np.asarray(demand["population_method"], dtype=object).astype(str)
              if "population_method" in demand.columns else np.full(n, "village_census"))
    geoms = demand.geometry.to_numpy() if n else np.array([], dtype=object)
    has_geom = np.array([g is not None and not g.is_empty for g in geoms], dtype=bool)
    quality = _quality(placement, method, has_geom)
    if "township_code" in demand.columns:
        town = [None if pd.isna(t) else str(t)[:9] for t in demand["township_code"]]
    else:
        town = [str(c)[:9] if str(c)[:9].isdigit() else None for c in demand["code"]]
    names = dict(township_names or {})
    if not names and "township_name" in demand.columns:
        names = {t: nm for t, nm in zip(town, demand["township_name"], strict=True)
                 if t and isinstance(nm, str)}
    how = np.array([f"{PLACEMENT_TEXT.get(p, p)} / {METHODS.get(m, m)}"
                    for p, m in zip(placement, method, strict=True)], dtype=object)
    df = pd.DataFrame({"township_code": [t or "" for t in town], "quality": quality,
                       "placement": placement, "population_method": method, "how": how,
                       "people": pop})
    rows = (df.groupby(["township_code", "quality", "placement", "population_method", "how"],
                       sort=True)["people"].agg(["size", "sum"]).reset_index()
            .rename(columns={"size": "points", "sum": "people"}))
    rows.insert(1, "township_name", [names.get(t) for t in rows["township_code"]])
    rows["township_code"] = rows["township_code"].replace("", None)
    approx = df[df["quality"] == "approximate"].groupby("how")["people"].sum()
    out = {
        "total": float(pop.sum()),
        "exact": float(pop[quality == "exact"].sum()),
        "approximate": float(pop[quality == "approximate"].sum()),
        "not_placed": float(pop[quality == "not_placed"].sum()),
        "approximate_by": {k: float(v) for k, v in approx.items()},
        "by_township": [{k: (None if isinstance(v, float) and np.isnan(v) else v)
                         for k, v in r.items()} for r in rows.to_dict("records")],
    }
    for r in out["by_township"]:
        r["points"], r["people"] = int(r["points"]), float(r["people"])
    out["lines"] = summary_lines(out)
    return out


def summary_lines(s: dict, *, by_township: bool = True, limit: int = 40) -> list[str]:
    """The summary in words: the totals, then one line per township and way of placing."""
    lines = [f"people placed exactly {s['exact']:,.0f}, approximately {s['approximate']:,.0f}, "
             f"not placed {s['not_placed']:,.0f} (of {s['total']:,.0f})"]
    lines += [f"  approximately by {how}: {people:,.0f}"
              for how, people in s["approximate_by"].items()]
    if by_township:
        for r in s["by_township"][:limit]:
            where = r["township_name"] or r["township_code"] or "no township"
            lines.append(f"  {where}: {r['quality']} {r['people']:,.0f} in {r['points']} "
                         f"point(s) — {r['how']}")
        if len(s["by_township"]) > limit:
            lines.append(f"  ... {len(s['by_township']) - limit} more rows")
    return lines
