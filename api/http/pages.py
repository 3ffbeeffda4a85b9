"""Map pages served by the API (maps/ builds them; this module serves them).

- ``/maps``: the index of pages;
- ``/maps/live``: the live situation map (refreshes itself from the API);
- ``/maps/risk``: the four-colour risk map, from the stored areas and risk points;
- ``/maps/coverage?layer=shelters``: who is within reach of a kind of facility, and the gaps;
- ``/maps/saved/...``: pages written by `emgis coverage | gaps | site --map` and `emgis demo`
  into ``EMGIS_HOME/maps`` (siting before/after maps among them), with their Leaflet copies.

Every page links Leaflet and its plugins under ``/static/leaflet``; the base map is the
configured one (maps/tiles.py).
"""

from __future__ import annotations

import html
import logging
from pathlib import Path

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from emgis.api.http.errors import BadRequest, error_responses
from emgis.geo.store import NETWORK_NAME_PATTERN
from emgis.shelters.coverage import KINDS, kinds_help

log = logging.getLogger("emgis.api")

router = APIRouter(prefix="/maps", tags=["maps"], responses=error_responses(400, 404, 409))

SAVED_DIR = "maps"  # under EMGIS_HOME
COVERAGE_LAYERS = tuple(KINDS)  # shelters.coverage.KINDS, the one list of facility kinds


def saved_dir(home) -> Path | None:
    """``EMGIS_HOME/maps`` (created), where the CLI and the demo write map pages; None without a
    home."""
    if home is None:
        return None
    d = Path(home) / SAVED_DIR
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return d


def mount_saved(app, home) -> None:
    """Serve ``EMGIS_HOME/maps`` under ``/maps/saved``."""
    from starlette.staticfiles import StaticFiles

    d = saved_dir(home)
    if d is not None:
        app.mount("/maps/saved", StaticFiles(directory=str(d), html=True), name="saved-maps")


def _bounds(engine) -> list[list[float]] | None:
    """The study area (or, without one, every administrative unit) as [[S, W], [N, E]]."""
    with engine.connect() as c:
        box = c.execute(sa.text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT COALESCE("
            "(SELECT ST_Extent(geom)::geometry FROM study_area), "
            "(SELECT ST_Extent(geom)::geometry FROM admin_units)) AS e) q")).first()
    if box is None or box[0] is None:
        return None
    return [[float(box[1]), float(box[0])], [float(box[3]), float(box[2])]]


def _map_settings(request: Request):
    from emgis.layers.settings import MapSettings
    from emgis.maps.tiles import base_map

    s = getattr(request.app.state, "map_settings", None) or MapSettings()
    try:
        base_map(s)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return s


def _page(m) -> HTMLResponse:
    return HTMLResponse(m.get_root().render())


@router.get("", response_class=HTMLResponse, summary="The map pages")
def index(request: Request) -> HTMLResponse:
    d = saved_dir(request.app.state.home)
    saved = sorted(p.relative_to(d).as_posix() for p in d.rglob("*.html")) if d else []
    links = [("live", "实时态势图 Live situation map"),
             ("risk", "安全风险四色图 Four-colour risk map"),
             ("plans", "预案体系图 Plan system"),
             ("readiness", "应急队伍建设达标图 Readiness against the norms")]
    links += [(f"coverage?layer={k}", f"覆盖与缺口 Coverage and gaps: {k}")
              for k in COVERAGE_LAYERS]
    items = "".join(f'<li><a href="/maps/{html.escape(h)}">{html.escape(t)}</a></li>'
                    for h, t in links)
    items += "".join(f'<li><a href="/maps/saved/{html.escape(s)}">{html.escape(s)}</a></li>'
                     for s in saved)
    return HTMLResponse(f"""<!doctype html><html lang="zh"><head><meta charset="utf-8">
<link rel="icon" href="data:,"><title>emgis maps</title>
<style>body{{font:15px/1.5 sans-serif;margin:2em}}</style></head>
<body><h1>emgis 地图 maps</h1><ul>{items}</ul>
<p><a href="/docs">API</a> · <a href="/collections">OGC API – Features</a></p></body></html>""")


@router.get("/live", response_class=HTMLResponse, summary="The live situation map")
def live(request: Request) -> HTMLResponse:
    from emgis.maps.live_map import live_map
    from emgis.maps.vendor import VendorMissing, require
    from emgis.risk.store import read_areas

    try:
        require()
    except VendorMissing as exc:
        from emgis.api.http.errors import Conflict

        raise Conflict(str(exc)) from None
    engine = request.app.state.engine
    areas = read_areas(engine)
    risk = None
    if len(areas):
        from emgis.maps.risk_map import _area_features, _levels_by_key

        data = _area_features(areas.to_crs(4326), _levels_by_key(None))
        for f in data["features"]:
            f["properties"] = {"colour": f["properties"].get("colour"),
                               "label": f["properties"].get("tooltip") or ""}
        risk = data
    m = live_map(bounds=_bounds(engine), risk_areas=risk, settings=_map_settings(request))
    return _page(m)


@router.get("/risk", response_class=HTMLResponse, summary="The four-colour risk map")
def risk(request: Request, kind: str | None = Query(None, pattern="^(admin|grid)$",
                                                    description="admin units or grid cells "
                                                                "(default: all)")) -> HTMLResponse:
    from emgis.maps.risk_map import risk_map
    from emgis.risk.store import read_areas, read_points

    engine = request.app.state.engine
    areas = read_areas(engine, kind)
    points = read_points(engine)
    m = risk_map(areas if len(areas) else None, points if len(points) else None)
    _retile(m, request)
    return _page(m)


@router.get("/coverage", response_class=HTMLResponse,
            summary="Coverage and gaps of a kind of facility")
def coverage(request: Request,
             layer: str = Query("shelters", pattern=f"^({'|'.join(COVERAGE_LAYERS)})$",
                                description=kinds_help(aliases=False)),
             network: str | None = Query(None, pattern=NETWORK_NAME_PATTERN)) -> HTMLResponse:
    from emgis.api.http.coverage import cache_key, coverage_result
    from emgis.maps.coverage_map import coverage_map

    key = cache_key(request, "coverage-page", layer, network)
    cache = request.app.state.results
    body = cache.get(key)
    if body is None:
        r = coverage_result(request, layer, network)
        frame = r.frame
        pop = float(frame["population"].sum())
        cov = float(frame.loc[frame["covered"], "population"].sum())
        share = f"{cov / pop:.1%}" if pop else "—"
        m = coverage_map(frame.drop(columns=["standard_s"]), r.facilities, clusters=r.clusters,
                         kind_label=layer,
                         standard=f"{cov:,.0f} of {pop:,.0f} people ({share}) within the standard",
                         explain=r.note,
                         title=f"覆盖与缺口 Coverage and gaps: {layer}")
        _retile(m, request)
        body = m.get_root().render()
        cache.put(key, body)
    return HTMLResponse(body)


def _retile(m, request: Request) -> None:
    """Swap the blank base of a maps/ page for the configured base map (served by this server:
    the offline base asks it for tiles and names)."""
    from emgis.maps.assets import localize
    from emgis.maps.base_layer import BlankBaseLayer
    from emgis.maps.tiles import add_base_layers, base_map

    s = _map_settings(request)
    if base_map(s).kind == "none":
        return
    # the new base goes where the blank one was: before the layer control, which reads the base
    # layers when its script runs (appended last, the control saw none: a JavaScript error)
    items = list(m._children.items())
    at = next((i for i, (_, c) in enumerate(items) if isinstance(c, BlankBaseLayer)), 0)
    kept = [(k, c) for k, c in items if not isinstance(c, BlankBaseLayer)]
    before = set(m._children)
    add_base_layers(m, s, server="")
    added = [(k, c) for k, c in m._children.items() if k not in before]
    m._children.clear()
    m._children.update(kept[:at] + added + kept[at:])
    localize(m)


def mount_assets(app, prefix: str | None = None) -> None:
    """Serve the map assets (`emgis.maps.assets.static_mounts`: emgis's own files, the vendored
    plugins when installed, Leaflet) from ``app`` under ``prefix`` (default ``/static/leaflet``).

    Raises `emgis.maps.assets.AssetsMissing` when Leaflet is not installed.
    """
    from starlette.staticfiles import StaticFiles

    from emgis.maps.assets import STATIC_PREFIX, static_mounts

    for m in static_mounts(prefix or STATIC_PREFIX):
        app.mount(m.path, StaticFiles(directory=str(m.directory)), name=m.name)
