"""Planning reads over HTTP: the four-colour risk areas (``/analyses/risk-areas``).

The stored areas of the newest `emgis risk areas` run (risk/store.read_areas) as GeoJSON, each
with its level, its colour (the norms' ``risk.colour.*``, database overrides included, so a
jurisdiction's colours are the ones served) and a label a map or a list can show as is. Nothing
is computed here: when no run is stored the answer is an empty FeatureCollection with a note on
how to make one, never a 404, so a dashboard can always draw the layer.

Coverage, gaps and the warning area live in api/gaps.py and api/warning.py.
"""

from __future__ import annotations

import json
import math
from typing import Literal

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from emgis.api.http.errors import BadRequest, Conflict, error_responses

router = APIRouter(prefix="/analyses", tags=["analyses"])

GEOJSON = "application/geo+json"
Kind = Literal["admin", "grid"]

HOW_TO_COMPUTE = ("run `emgis risk areas` (admin units: `--admin village` or `--admin township`; "
                  "a grid: `--grid 1000`)")


def _levels(engine) -> dict:
    """The four levels with the colours in force (norms file and database overrides)."""
    from emgis.layers.norms import norms_in_force
    from emgis.risk.levels import risk_levels

    try:
        return {lv.key: lv for lv in risk_levels(norms_in_force(engine))}
    except ValueError as exc:  # a colour norm that is not a colour: fix the norms, not the request
        raise Conflict(f"{exc}; then ask again") from None


def _level_filter(text: str | None) -> set[str] | None:
    from emgis.risk.levels import LEVEL_KEYS, level_key

    if text is None:
        return None
    keys, bad = set(), []
    for part in (t.strip() for t in text.split(",")):
        if not part:
            continue
        k = level_key(part)
        if k:
            keys.add(k)
        else:
            bad.append(part)
    if bad or not keys:
        raise BadRequest(f"level={text!r}: {', '.join(map(repr, bad)) or 'nothing'} "
                         f"is not a risk level; give one or more of {', '.join(LEVEL_KEYS)} "
                         f"(or 重大/较大/一般/低), comma-separated, "
                         "e.g. level=red,orange")
    return keys


def _num(x) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


@router.get("/risk-areas",
            summary="The four-colour risk areas (admin units or grid cells) with level and colour",
            response_class=Response,
            responses={200: {"content": {GEOJSON: {}},
                             "description": "a FeatureCollection (empty, with a note, "
                                            "when no run is stored)"},
                       **error_responses(400, 409, said={
                           400: "level is not a risk level",
                           409: "a risk colour norm is not a colour"})})
def risk_areas(request: Request,
               kind: Kind | None = Query(None, description="admin (admin units) or grid (cells); "
                                                             "default: the kind of the newest run"),
               level: str | None = Query(None, max_length=100,
                                         description="only these levels, comma-separated: "
                                                     "red,orange,yellow,blue "
                                                     "(or 重大/较大/一般/低)")) -> Response:
    from emgis.maps.risk_map import UNRATED
    from emgis.risk.levels import LEVEL_KEYS
    from emgis.risk.store import read_areas

    wanted = _level_filter(level)
    engine = request.app.state.engine
    levels = _levels(engine)
    areas = read_areas(engine, kind)
    shown_kind = (kind if kind is not None
                  else (str(areas["unit_kind"].iloc[0]) if len(areas) else None))
    with engine.connect() as c:
        computed_at = c.execute(sa.text("SELECT max(computed_at) FROM risk_areas "
                                        "WHERE unit_kind = :k"),
                                {"k": shown_kind}).scalar() if shown_kind else None
        stored = c.execute(sa.text("SELECT DISTINCT unit_kind FROM risk_areas "
                                   "ORDER BY 1")).scalars().all()
    feats = []
    counts = dict.fromkeys([*LEVEL_KEYS, "unrated"], 0)
    for row in areas.itertuples(index=False):
        k = row.level if isinstance(row.level, str) and row.level in levels else None
        counts[k or "unrated"] += 1
        if wanted is not None and k not in wanted:
            continue
        lv = levels.get(k)
        level_label = f"{lv.zh} {lv.en.capitalize()}" if lv else f"{UNRATED['zh']} {UNRATED['en']}"
        name = row.name if isinstance(row.name, str) and row.name else row.unit_code
        feats.append({
            "type": "Feature", "id": f"{row.unit_kind}:{row.unit_code}",
            "geometry": (None if row.geometry is None or row.geometry.is_empty
                         else row.geometry.__geo_interface__),
            "properties": {
                "unit_kind": row.unit_kind, "unit_code": row.unit_code, "name": name,
                "level": k, "rank": lv.rank if lv else 0,
                "colour": lv.colour if lv else UNRATED["colour"],
                "level_label": level_label, "label": f"{name} — {level_label}",
                "rule": row.rule, "run_id": row.run_id, "n_points": int(row.n_points),
                **{f"n_{key}": int(getattr(row, f"n_{key}")) for key in LEVEL_KEYS},
                "risk_index": _num(row.risk_index), "population": _num(row.population),
            },
        })
    note = None
    if not len(areas):
        others = [s for s in stored if s != kind]
        note = (f"no {kind + ' ' if kind else ''}four-colour risk areas have been computed; "
                f"{HOW_TO_COMPUTE}"
                + (f" (stored now: {', '.join(others)}; ask kind={others[0]})" if others else ""))
    body = {
        "type": "FeatureCollection", "features": feats,
        "kind": shown_kind, "computed_at": computed_at.isoformat() if computed_at else None,
        "rule": str(areas["rule"].iloc[0]) if len(areas) else None,
        "counts": counts, "returned": len(feats),
        "levels": [{**lv.as_dict(), "label": f"{lv.zh} {lv.en.capitalize()}"}
                   for lv in levels.values()]
        + [{"key": None, "rank": 0, "zh": UNRATED["zh"], "en": UNRATED["en"],
            "colour": UNRATED["colour"], "label": f"{UNRATED['zh']} {UNRATED['en']}"}],
        "note": note,
    }
    return Response(json.dumps(body, ensure_ascii=False), media_type=GEOJSON)
