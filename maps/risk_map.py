"""The four-colour safety-risk map (红橙黄蓝 四色图) as an offline Folium page.

Areas (admin units or grid cells) are filled in the official colours and risk points are
clustered on top; a bilingual legend, a layer control and bounds fitted to the data complete
the page. Colours and labels come from :func:`risk.levels.risk_levels` (the norms table,
``risk.colour.*``): nothing here names a colour of a level. The lowest level is **blue**.

The page loads nothing from beyond the machine (:mod:`maps.assets`): Leaflet and
MarkerCluster are local copies, there are no internet base tiles (a blank base layer, or a
local tile URL), and popups are bound in plain Leaflet so jQuery is not needed.

Example
-------
>>> write_risk_map("out/risk.html", areas, points)  # doctest: +SKIP
PosixPath('out/risk.html')  # and out/risk_assets/leaflet/...
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import pandas as pd
from branca.element import Element, MacroElement
from folium.plugins import MarkerCluster
from folium.template import Template
from folium.utilities import JsCode

from emgis.layers.norms import Norms
from emgis.maps import assets
from emgis.maps.base_layer import MAX_ZOOM, BlankBaseLayer
from emgis.maps.print_layout import add_print
from emgis.maps.tiles import add_base_layers
from emgis.risk.levels import RiskLevel, level_key, risk_levels

DEFAULT_TITLE = "安全风险四色图 Four-colour safety risk map"
#: Map centre and zoom when there is nothing to show (mainland China).
EMPTY_VIEW = ([35.0, 105.0], 4)
#: Outline/fill for an area or point with no level (no points inside): not an official level.
UNRATED = {"key": "", "zh": "未定级", "en": "Unrated", "colour": "#9e9e9e"}

_e = html.escape


def _label(lv: RiskLevel) -> str:
    return f"{lv.zh} {lv.en.capitalize()}"


def _levels_by_key(norms: Norms | None) -> dict[str, RiskLevel]:
    return {lv.key: lv for lv in risk_levels(norms)}


def _key(value: object) -> str | None:
    """Level key of a cell (key, Chinese label, alias); None for empty/NaN; raise if unknown."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str) and not value.strip():
        return None
    k = level_key(value)
    if k is None:
        raise ValueError(
            f"level {value!r} is not a risk level; use red/orange/yellow/blue "
            f"(重大/较大/一般/低风险) or leave it empty"
        )
    return k


def _present(v: object) -> bool:
    """False for None, NaN/NA and empty strings; True otherwise (dicts and lists included)."""
    if v is None or (isinstance(v, str) and not v.strip()):
        return False
    if isinstance(v, Mapping | list | tuple):
        return True
    try:
        return not bool(pd.isna(v))
    except (TypeError, ValueError):
        return True


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _table(title: str | None, rows: list[tuple[str, object]]) -> str:
    """An HTML table for a popup; every text is escaped here."""
    head = f"<b>{_e(title)}</b>" if title else ""
    body = "".join(
        f"<tr><th>{_e(k)}</th><td>{v if isinstance(v, _Raw) else _e(_fmt(v))}</td></tr>"
        for k, v in rows if _present(v) or isinstance(v, _Raw)
    )
    return f'<div class="emgis-popup">{head}<table>{body}</table></div>'


class _Raw(str):
    """Already-escaped HTML for :func:`_table`."""


def _inputs_html(inputs: object) -> _Raw | None:
    if isinstance(inputs, str):
        try:
            inputs = json.loads(inputs)
        except ValueError:
            return _Raw(_e(inputs))
    if not isinstance(inputs, Mapping) or not inputs:
        return None
    return _Raw("<br>".join(f"{_e(str(k))} = {_e(_fmt(v))}" for k, v in inputs.items()))


def _level_text(k: str | None, levels: Mapping[str, RiskLevel]) -> str:
    return _label(levels[k]) if k else f"{UNRATED['zh']} {UNRATED['en']}"


def _to_4326(gdf: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    if gdf is None:
        return None
    if gdf.crs is not None and gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs(4326)
    mask = gdf.geometry.notna() & ~gdf.geometry.is_empty
    return gdf[mask]


#: A cluster takes the colour of the highest level among its points (the official colours,
#: carried by each marker), not MarkerCluster's default green/yellow/orange by count, which
#: would read as risk levels (and green is no level at all).
CLUSTER_ICON_JS = """
function (cluster) {
    var ms = cluster.getAllChildMarkers(), best = null;
    for (var i = 0; i < ms.length; i++) {
        if (best === null || (ms[i].options.emgisRank || 0) > (best.options.emgisRank || 0)) {
            best = ms[i];
        }
    }
    var colour = best ? best.options.fillColor : "UNRATED_COLOUR";
    return L.divIcon({
        html: '<div class="emgis-cluster-icon" style="background:' + colour + '"><span>'
              + cluster.getChildCount() + '</span></div>',
        className: "marker-cluster emgis-cluster",
        iconSize: L.point(36, 36)
    });
}
""".replace("UNRATED_COLOUR", UNRATED["colour"])


# --- page elements ---------------------------------------------------------------------------


class _ClusterPoints(MacroElement):
    """Adds the risk points to its parent MarkerCluster as circle markers with popups.

    One data array and a loop instead of one folium object per point: thousands of points
    stay a small page, and popups are bound with plain Leaflet (folium.Popup needs jQuery).
    Every text in ``data`` is HTML-escaped already; the JSON is safe inside <script>.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            (function (group) {
                var data = {{ this.data_json }};
                for (var i = 0; i < data.length; i++) {
                    var d = data[i];
                    var m = L.circleMarker([d.lat, d.lon], {
                        radius: 7, weight: 1.5, color: "#333333", opacity: 0.9,
                        fillColor: d.colour, fillOpacity: 0.9, className: "emgis-risk-point",
                        emgisRank: d.rank
                    });
                    m.bindPopup(d.popup, {maxWidth: 320});
                    if (d.tooltip) { m.bindTooltip(d.tooltip); }
                    group.addLayer(m);
                }
            })({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, records: list[dict[str, Any]]) -> None:
        super().__init__()
        self._name = "ClusterPoints"
        self.data_json = (json.dumps(records, ensure_ascii=False)
                          .replace("<", "\\u003c").replace(">", "\\u003e")
                          .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


class RiskLegend(MacroElement):
    """The bilingual legend: the four levels (labels and colours from the norms table)."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>
            .emgis-risk-legend { position: absolute; z-index: 1000; bottom: 24px; left: 12px;
                background: rgba(255,255,255,0.92); padding: 8px 10px; border-radius: 4px;
                box-shadow: 0 1px 4px rgba(0,0,0,0.35); font: 13px/1.5 sans-serif; }
            .emgis-risk-legend .t { font-weight: bold; margin-bottom: 4px; }
            .emgis-risk-legend .r { white-space: nowrap; }
            .emgis-risk-legend .s { display: inline-block; width: 18px; height: 12px;
                margin-right: 6px; vertical-align: middle; border: 1px solid #555; }
            .emgis-risk-legend .n { color: #444; font-size: 11px; margin-top: 4px; }
            .marker-cluster.emgis-cluster div.emgis-cluster-icon { margin: 0; width: 36px;
                height: 36px; border-radius: 18px;
                border: 2px solid rgba(40,40,40,0.8); box-sizing: border-box; opacity: 0.9;
                text-align: center; font: bold 13px/32px sans-serif; color: #111;
                text-shadow: 0 0 3px #fff, 0 0 2px #fff; }
            .emgis-popup th { text-align: left; padding-right: 8px; vertical-align: top; }
        </style>
        {% endmacro %}
        {% macro html(this, kwargs) %}
        <div class="emgis-risk-legend" id="{{ this.get_name() }}">{{ this.body }}</div>
        {% endmacro %}
        """
    )

    def __init__(self, levels: list[RiskLevel], *, title: str = "风险等级 Risk level",
                 unrated: bool = False, note: str | None = None) -> None:
        super().__init__()
        self._name = "RiskLegend"
        rows = [
            f'<div class="r" data-level="{_e(lv.key)}"><span class="s" '
            f'style="background:{_e(lv.colour)}"></span>{_e(_label(lv))}</div>'
            for lv in levels
        ]
        if unrated:
            rows.append(
                f'<div class="r" data-level=""><span class="s" style="background:'
                f'{UNRATED["colour"]}"></span>{_e(UNRATED["zh"])} {_e(UNRATED["en"])}</div>'
            )
        note_html = f'<div class="n">{_e(note)}</div>' if note else ""
        self.body = f'<div class="t">{_e(title)}</div>{"".join(rows)}{note_html}'


# --- the map ---------------------------------------------------------------------------------


def _area_features(areas: gpd.GeoDataFrame, levels: Mapping[str, RiskLevel]) -> dict:
    feats = []
    for i, (_, row) in enumerate(areas.iterrows()):
        k = _key(row.get("level"))
        name = row.get("name") if _present(row.get("name")) else row.get("unit_code")
        n_points = row.get("points") if _present(row.get("points")) else row.get("n_points")
        popup = _table(
            _fmt(name) if _present(name) else None,
            [
                ("风险等级 Level", _level_text(k, levels)),
                ("风险指数 Risk index", row.get("risk_index")),
                ("风险点数 Points", n_points),
                ("着色规则 Rule", row.get("rule")),
            ],
        )
        colour = levels[k].colour if k else UNRATED["colour"]
        feats.append({
            "type": "Feature",
            "id": str(i),
            "properties": {"level": k or "", "colour": colour, "popup": popup,
                           "tooltip": _e(_fmt(name)) if _present(name) else ""},
            "geometry": row.geometry.__geo_interface__,
        })
    return {"type": "FeatureCollection", "features": feats}


def _point_records(points: gpd.GeoDataFrame, levels: Mapping[str, RiskLevel]) -> list[dict]:
    out = []
    for _, row in points.iterrows():
        g = row.geometry
        if g.geom_type != "Point":
            g = g.representative_point()
        k = _key(row.get("level"))
        name = row.get("name")
        popup = _table(
            _fmt(name) if _present(name) else None,
            [
                ("编号 ID", row.get("ext_id")),
                ("类别 Category", row.get("category")),
                ("方法 Method", row.get("method")),
                ("输入 Inputs", _inputs_html(row.get("inputs")) or None),
                ("分值 Score", row.get("score")),
                ("风险等级 Level", _level_text(k, levels)),
                ("分级表 Bands", row.get("band_version")),
            ],
        )
        out.append({
            "lat": float(g.y), "lon": float(g.x),
            "colour": levels[k].colour if k else UNRATED["colour"],
            "level": k or "", "rank": levels[k].rank if k else 0, "popup": popup,
            "tooltip": _e(_fmt(name)) if _present(name) else "",
        })
    return out


def _bounds(*frames: gpd.GeoDataFrame | None) -> list[list[float]] | None:
    boxes = [f.total_bounds for f in frames if f is not None and len(f)]
    if not boxes:
        return None
    minx = min(b[0] for b in boxes)
    miny = min(b[1] for b in boxes)
    maxx = max(b[2] for b in boxes)
    maxy = max(b[3] for b in boxes)
    return [[float(miny), float(minx)], [float(maxy), float(maxx)]]


def _check_tiles(tiles: str) -> str:
    if assets.remote_resources(f'<img src="{tiles}">'):
        raise ValueError(f"tiles={tiles!r} is not local; give a URL on this machine "
                         "(e.g. '/tiles/{{z}}/{{x}}/{{y}}.png') or leave tiles=None")
    return tiles


def risk_map(
    areas: gpd.GeoDataFrame | None,
    points: gpd.GeoDataFrame | None,
    *,
    norms: Norms | None = None,
    title: str = DEFAULT_TITLE,
    asset_base: str = assets.STATIC_PREFIX,
    tiles: str | None = None,
    max_zoom: int = MAX_ZOOM,
    base_map=None,
) -> folium.Map:
    """Build the four-colour risk map.

    Parameters
    ----------
    areas
        Admin units or grid cells with a ``level`` column (red/orange/yellow/blue, a Chinese
        label, or None), optionally ``name`` (or ``unit_code``), ``risk_index``, ``points``
        (or ``n_points``), ``rule``. Reprojected to EPSG:4326 if needed. None or empty: no
        area layer.
    points
        Risk points: ``ext_id``, ``name``, ``category``, ``method``, ``inputs`` (dict),
        ``score``, ``level``, ``band_version``. None or empty: no point layer.
    norms
        Norms in force (colours ``risk.colour.*``); ``default_norms()`` when omitted.
    title
        Page title.
    asset_base
        URL (absolute, or relative to the page) under which Leaflet files are served:
        ``/static/leaflet`` for the app (``emgis.api.http.pages.mount_assets``).
    tiles
        A *local* tile URL template; None draws a blank base layer (no requests).
    max_zoom
        Highest zoom; MarkerCluster needs one.
    base_map
        `emgis.layers.settings.MapSettings` for a served page whose operator configured the base map
        (OpenStreetMap, Tianditu, an internal server); overrides ``tiles``.

    Raises
    ------
    ValueError
        On an unknown level, a remote ``tiles`` URL, or a colour norm that is not a colour.
    """
    levels = _levels_by_key(norms)
    areas = _to_4326(areas)
    points = _to_4326(points)

    bounds = _bounds(areas, points)
    loc, zoom = EMPTY_VIEW
    m = folium.Map(location=loc, zoom_start=zoom, tiles=None, control_scale=True)
    m.options["max_zoom"] = max_zoom
    m.get_root().title = _e(title)
    # no favicon request to the server (a 404 in the console otherwise)
    m.get_root().header.add_child(Element('<link rel="icon" href="data:,">'), name="favicon")

    if base_map is not None:
        add_base_layers(m, base_map)
    elif tiles is None:
        BlankBaseLayer(max_zoom=max_zoom).add_to(m)
    else:
        folium.TileLayer(_check_tiles(tiles), attr="emgis local tiles", name="底图 Base",
                         max_zoom=max_zoom).add_to(m)

    unrated = False
    if areas is not None and len(areas):
        data = _area_features(areas, levels)
        unrated |= any(not f["properties"]["level"] for f in data["features"])
        folium.GeoJson(
            data,
            name="风险区域 Risk areas",
            style_function=lambda f: {
                "fillColor": f["properties"]["colour"], "fillOpacity": 0.5,
                "color": "#555555", "weight": 1, "opacity": 0.8,
            },
            highlight_function=lambda f: {"weight": 3, "fillOpacity": 0.7},
            on_each_feature=JsCode(
                "function (feature, layer) {"
                " if (feature.properties.popup) {"
                " layer.bindPopup(feature.properties.popup, {maxWidth: 320}); }"
                " if (feature.properties.tooltip) {"
                " layer.bindTooltip(feature.properties.tooltip, {sticky: true}); }"
                " }"
            ),
        ).add_to(m)

    if points is not None and len(points):
        records = _point_records(points, levels)
        unrated |= any(not r["level"] for r in records)
        cluster = MarkerCluster(name="风险点 Risk points",
                                icon_create_function=CLUSTER_ICON_JS)
        cluster.add_child(_ClusterPoints(records))
        cluster.add_to(m)

    rule_note = None
    if areas is not None and len(areas) and "rule" in areas.columns:
        rules = sorted({str(r) for r in areas["rule"] if _present(r)})
        if rules:
            rule_note = f"区域着色规则 Area rule: {', '.join(rules)}"
    m.add_child(RiskLegend(list(levels.values()), unrated=unrated, note=rule_note))
    folium.LayerControl(collapsed=False).add_to(m)
    if bounds is not None:
        if bounds[0] == bounds[1]:  # a single point: a small box around it
            (la, lo), _ = bounds
            bounds = [[la - 0.01, lo - 0.01], [la + 0.01, lo + 0.01]]
        m.fit_bounds(bounds, padding=(20, 20))

    add_print(m, title)
    assets.localize(m, asset_base)
    return m


def write_risk_map(
    path: str | Path,
    areas: gpd.GeoDataFrame | None,
    points: gpd.GeoDataFrame | None,
    *,
    norms: Norms | None = None,
    title: str = DEFAULT_TITLE,
    assets_dir: str | None = None,
    tiles: str | None = None,
) -> Path:
    """Write the map to ``path`` with its Leaflet files beside it; return ``path``.

    The files go to ``<path stem>_assets/`` (or ``assets_dir``, relative to the page's
    folder) and the page links them relatively, so the folder can be opened from disk, copied
    or served by any static web server. Raises ``ValueError`` if the page would still fetch
    anything from beyond the machine.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rel = assets_dir or f"{path.stem}_assets"
    assets.copy_assets(path.parent / rel / "leaflet")
    m = risk_map(areas, points, norms=norms, title=title, asset_base=f"{rel}/leaflet",
                 tiles=tiles)
    page = m.get_root().render()
    assets.assert_offline(page)
    path.write_text(page, encoding="utf-8")
    return path
