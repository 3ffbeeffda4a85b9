"""Score loaded risk points with the methods in risk.methods (the loader's bridge)."""

from __future__ import annotations

import pandas as pd

from emgis.layers.norms import Norms
from emgis.layers.problems import InputError, Problems
from emgis.risk.methods import assess_many


def score_points(gdf, p: Problems, notes: list[str], norms: Norms) -> None:
    """Add score, level, band_version and inputs to ``gdf``; record bad factors in ``p``."""
    has = gdf["method"].notna()
    gdf["inputs"] = None
    gdf["score"] = None
    gdf["band_version"] = None
    if not has.any():
        return
    sub = pd.DataFrame(gdf.loc[has, ["method", "L", "E", "C", "S"]])
    try:
        scored = assess_many(sub, norms=norms, file=p.file)
    except InputError as exc:
        p.extend(exc.problems)
        return
    gdf.loc[has, "score"] = scored["score"].to_numpy()
    gdf.loc[has, "level"] = scored["level"].to_numpy()
    gdf.loc[has, "band_version"] = scored["band_version"].to_numpy()
    gdf.loc[has, "inputs"] = [
        {k: v for k, v in r.items() if v is not None and not pd.isna(v)}
        for r in sub[["L", "E", "C", "S"]].to_dict("records")
    ]
    notes.append(f"{int(has.sum())} risk point(s) scored; "
                 f"levels from band tables {sorted(set(scored['band_version']))}")
