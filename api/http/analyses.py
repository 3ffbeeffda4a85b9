"""Analyses over HTTP: nearest resources with their routes, and service areas.

The work is done by geo/routing.py on the compiled road graph; this module reads the
parameters, checks them (4xx with a clear message), reads the facilities and returns
GeoJSON. The compiled graph is loaded once per process and kept, keyed by the network's
name and its ``road_networks.built_at``, so a reloaded network is picked up by the next
request without a restart.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

import numpy as np
import orjson
import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from emgis.api.http.changes import NotKept
from emgis.api.http.errors import BadRequest, Conflict, NotFound, error_responses
from emgis.api.http.nearest_store import BUILD_CELLS
from emgis.geo.compiled import CompiledGraph
from emgis.geo.store import NETWORK_NAME_PATTERN, RoadNetworkNotFound, facilities, load_network

router = APIRouter(prefix="/analyses", tags=["analyses"])

GEOJSON = "application/geo+json"
Layer = Literal["shelters", "depots", "team_bases"]
Direction = Literal["from_facility", "to_facility"]


def layer_direction(layer: str) -> str:
    """Which way a layer's resources travel by default — the CLI's rule, one table
    (`shelters.coverage.KINDS`): people go to shelters; teams and supplies come to the place."""
    from emgis.shelters.coverage import kind

    return kind(layer).direction


TEAM_TYPE_HELP = ("team_bases only: a team type (fire_station, hazchem, water_rescue … or its "
                  "Chinese name, 消防, 危化 …)")
SPECIALITY_HELP = "team_bases only: a speciality the team must have"
EQUIPMENT_HELP = ("team_bases only: an equipment kind the team must hold in state ok (冲锋舟, "
                  "救生衣, 破拆工具组 … or its key, GET /equipment-kinds)")


def team_selection(layer: str, team_type: str | None,
                   speciality: str | None) -> tuple[str | None, str | None]:
    """The team type key and speciality asked for (`shelters.needs.team_filter`: a wrong one is
    a `BadArgument`, 400 naming the choices)."""
    from emgis.shelters.needs import team_filter

    _, key, spec = team_filter(layer, team_type, speciality)
    return key, spec


MAX_BANDS = 8
MAX_MINUTES = 240.0


class GraphCache:
    """Compiled graphs by (network name, built_at); one load per network version per process."""

    def __init__(self) -> None:
        self._graphs: dict[str, tuple[dt.datetime, CompiledGraph]] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget every graph (and the facility trees kept with it): the database was
        replaced."""
        with self._lock:
            self._graphs.clear()

    def trees_bytes(self) -> int:
        """Bytes of the facility trees kept with the graphs (open roads and closed areas)."""
        total = 0
        for _, graph in list(self._graphs.values()):
            cache = dict(graph._cache)
            total += sum(v.nbytes for key, v in cache.items()
                         if isinstance(key, tuple) and key[0] == "trees")
            total += sum(t.nbytes for _, t in list(cache.get("closed_trees", {}).values()))
        return total

    def get(self, engine, name: str, home=None) -> CompiledGraph:
        """Return the compiled graph of network ``name``, loading it once per version."""
        return self.versioned(engine, name, home)[0]

    def versioned(self, engine, name: str, home=None, *, memo=None,
                  peek: bool = False) -> tuple[CompiledGraph, tuple[str, dt.datetime]]:
        """Return the graph and its version ``(name, built_at)``.

        ``built_at`` is kept in ``memo`` (an `api.changes.Memo`) while ``road_networks`` is
        unchanged, else asked anew. With ``peek`` nothing is read or loaded:
        `api.changes.NotKept` when not in memory.
        """
        def ask():
            with engine.connect() as c:
                return c.execute(sa.text("SELECT built_at FROM road_networks WHERE name = :n"),
                                 {"n": name}).scalar()

        if memo is not None:
            built = memo.get(("built_at", name), ("road_networks",), ask, peek=peek)
        elif peek:
            raise NotKept(("built_at", name))
        else:
            built = ask()
        if built is None:
            load_network(engine, name, home=home)  # raises RoadNetworkNotFound with how to load one
            raise RoadNetworkNotFound(f"road network {name!r} vanished while loading; "
                                      f"load it again")
        hit = self._graphs.get(name)
        if hit is not None and hit[0] == built:
            return hit[1], (name, built)
        if peek:
            raise NotKept(("graph", name, built))
        with self._lock:
            hit = self._graphs.get(name)
            if hit is not None and hit[0] == built:
                return hit[1], (name, built)
            graph = load_network(engine, name, home=home)
            _warm(graph)
            self._graphs[name] = (built, graph)
            return graph, (name, built)


class ResultCache:
    """A small LRU of finished answers (service areas take seconds; a map page asks again and
    again).

    Keys hold everything the answer depends on: the network version, the facilities'
    ids and positions, the closed edges and the parameters; a change of any of them is a
    different key, so nothing stale is served.
    """

    def __init__(self, size: int = 64) -> None:
        self._items: OrderedDict[tuple, str] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()
        self.hits = 0

    def get(self, key: tuple) -> str | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
        return None

    def clear(self) -> None:
        """Forget every answer: the database was replaced."""
        with self._lock:
            self._items.clear()

    def put(self, key: tuple, value: str) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


def _fingerprint(*arrays) -> str:
    h = hashlib.sha1()
    for a in arrays:
        if a is not None:
            h.update(np.ascontiguousarray(a).tobytes())
        h.update(b"|")
    return h.hexdigest()


def _warm(graph: CompiledGraph) -> None:
    """Build the graph's lazy indexes now, under the lock, not racing in concurrent requests."""
    from emgis.geo.routing import closures_from_polygons, snap

    if graph.n_nodes:
        snap(graph, float(graph.node_lon[0]), float(graph.node_lat[0]))
    closures_from_polygons(graph, [])


def _graph(request: Request, network: str | None, *,
           peek: bool = False) -> tuple[CompiledGraph, tuple]:
    name = network or request.app.state.settings.network
    return request.app.state.graphs.versioned(request.app.state.engine, name,
                                              request.app.state.home,
                                              memo=request.app.state.memo, peek=peek)


#: How far (degrees, ~55 km) beyond the road network a place or facility may lie and still be
#: routed.
EXTENT_MARGIN_DEG = 0.5


def _network_box(graph: CompiledGraph) -> tuple[float, float, float, float]:
    if "api_box" not in graph._cache:
        m = EXTENT_MARGIN_DEG
        graph._cache["api_box"] = (float(graph.node_lon.min()) - m, float(graph.node_lat.min()) - m,
                                   float(graph.node_lon.max()) + m, float(graph.node_lat.max()) + m)
    return graph._cache["api_box"]


def _check_near_network(graph: CompiledGraph, lon: float, lat: float) -> None:
    x0, y0, x1, y1 = _network_box(graph)
    if not (x0 <= lon <= x1 and y0 <= lat <= y1):
        raise BadRequest(f"lon={lon}, lat={lat} is outside the road network's area "
                         f"(lon {x0 + EXTENT_MARGIN_DEG:.4f}..{x1 - EXTENT_MARGIN_DEG:.4f}, "
                         f"lat {y0 + EXTENT_MARGIN_DEG:.4f}..{y1 - EXTENT_MARGIN_DEG:.4f}); "
                         "give a place in the county (longitude first), "
                         "or load a network that covers it")


def _near_network(graph: CompiledGraph, fac):
    """The facilities within the network's area (others cannot be routed to), as a filtered copy."""
    from dataclasses import replace

    x0, y0, x1, y1 = _network_box(graph)
    keep = (fac.lon >= x0) & (fac.lon <= x1) & (fac.lat >= y0) & (fac.lat <= y1)
    if keep.all():
        return fac
    idx = np.flatnonzero(keep)
    return replace(fac, ids=fac.ids[idx], ext_ids=[fac.ext_ids[i] for i in idx],
                   names=[fac.names[i] for i in idx],
                   lon=fac.lon[idx], lat=fac.lat[idx], skipped=fac.skipped + int((~keep).sum()))


#: How far outside a closed area (degrees, ~50 m) a place inside it is moved to be routed from.
EDGE_STEP_DEG = 0.0005


def _outside(area, lon: float, lat: float) -> tuple[float, float]:
    """A place inside a closed area is reached at the nearest point of its edge, just outside.

    Roads inside the area are closed, so the place itself cannot be reached; responders
    come to the edge of the flooded (or burning) area.
    """
    import shapely
    from shapely.ops import nearest_points

    pt = shapely.Point(lon, lat)
    if area is None or not area.covers(pt):
        return lon, lat
    edge = nearest_points(area.boundary, pt)[0]
    dx, dy = edge.x - lon, edge.y - lat
    n = (dx * dx + dy * dy) ** 0.5
    if n == 0:
        return edge.x, edge.y
    return edge.x + dx / n * EDGE_STEP_DEG, edge.y + dy / n * EDGE_STEP_DEG


def _closures(request: Request, graph: CompiledGraph, version: tuple, avoid: int | None, *,
              peek: bool = False):
    """``(mask, count, area)``: the edges incident ``avoid``'s area closes (``(None, 0, None)``
    when not asked).

    Kept per network version while ``incidents`` is unchanged: a commander's every click on a
    flooded area's incident asks again.
    """
    if avoid is None:
        return None, 0, None
    return request.app.state.memo.get(("closures", version, avoid), ("incidents",),
                                      lambda: _read_closures(request, graph, avoid), peek=peek)


def _read_closures(request: Request, graph: CompiledGraph, avoid: int):
    import shapely

    from emgis.geo.routing import closures_from_polygons

    with request.app.state.engine.connect() as c:
        row = c.execute(sa.text("SELECT ST_AsBinary(geom), GeometryType(geom) FROM incidents "
                                "WHERE id = :i"),
                        {"i": avoid}).first()
    if row is None:
        raise NotFound(f"avoid={avoid}: there is no incident {avoid}")
    geom = shapely.from_wkb(bytes(row[0]))
    if row[1] not in ("POLYGON", "MULTIPOLYGON"):
        raise BadRequest(f"avoid={avoid}: incident {avoid} is a {row[1].lower()}, not an area, "
                         "so it closes no roads; give the incident an area "
                         "(PATCH /incidents/{id} with a Polygon geometry)")
    mask = closures_from_polygons(graph, geom)
    mask.setflags(write=False)  # shared by the requests that find it kept
    return mask, int(mask.sum()), geom


def _norms_in_force(request: Request, *, peek: bool = False):
    """The norms (defaults, ``EMGIS_NORMS_FILE``, the database's overrides), kept while the
    overrides are unchanged."""
    from emgis.layers.norms import norms_in_force

    return request.app.state.memo.get(("norms",), ("norm_overrides",),
                                      lambda: norms_in_force(request.app.state.engine),
                                      peek=peek)


def _snapped(request: Request, graph: CompiledGraph, version: tuple, fac, norms):
    """The facilities joined to the network, kept while the network, their positions and the
    off-road speed are unchanged."""
    from emgis.geo.routing import snap_facilities

    key = ("snapped", version, _fingerprint(fac.ids, fac.lon, fac.lat),
           norms.number("road.speed_kmh.offroad"))
    cache: ResultCache = request.app.state.results
    hit = cache.get(key)
    if hit is None:
        hit = snap_facilities(graph, fac.lon, fac.lat, norms=norms)
        cache.put(key, hit)
    return hit


def _usable(request: Request, graph: CompiledGraph, version: tuple, layer: str, norms, *,
            peek: bool = False, team: tuple[str | None, ...] = (None, None)):
    """The usable facilities of ``layer`` (of a team type / speciality / equipment kind) near
    the network and their snaps, kept while the layer (and the equipment lists) are unchanged."""
    equipment = team[2] if len(team) > 2 else None

    def load():
        fac = _near_network(graph, facilities(request.app.state.engine, layer,
                                              team_type=team[0], speciality=team[1],
                                              equipment=equipment))
        return fac, (_snapped(request, graph, version, fac, norms) if len(fac) else None)

    tables = (layer, "norm_overrides", *(("team_equipment",) if equipment else ()))
    return request.app.state.memo.get(("usable", layer, team, version), tables, load, peek=peek)


def _every_facility(request: Request, graph: CompiledGraph, version: tuple, q: NearestQuery,
                    norms, *, peek: bool = False):
    """Every facility of the layer (of the team type / speciality / equipment asked) near the
    network, whatever its status, their snaps and a fingerprint of those: what a nearest-k store
    holds."""
    equipment = q.team[2] if len(q.team) > 2 else None

    def load():
        fac = _near_network(graph, facilities(request.app.state.engine, q.layer,
                                              usable_only=False, team_type=q.team[0],
                                              speciality=q.team[1], equipment=equipment))
        if not len(fac):
            return fac, None, None
        snapped = _snapped(request, graph, version, fac, norms)
        return fac, snapped, _fingerprint(snapped.nodes, snapped.offset_s)

    tables = (q.layer, "norm_overrides", *(("team_equipment",) if equipment else ()))
    return request.app.state.memo.get(("every", q.layer, q.team, version), tables, load,
                                      peek=peek)


def _trees_answer(trees, snapped) -> bool:
    """Do the facilities' trees fit the trees' budget (`FacilityTrees.lookup` would not say
    None)?"""
    return trees is not None and np.unique(snapped.nodes).size <= trees.max_rows


def _store(request: Request, graph: CompiledGraph, version: tuple, q: NearestQuery, norms,
           closures, usable, *, peek: bool = False):
    """``(store, among)`` for `geo.topk.nearest_routes`: the layer's nearest-k store kept for
    these roads, closures and facilities; None when not kept (``k`` above K, a graph too large
    for the budget, or not built yet: then asked of the builder, unless ``peek``)."""
    from emgis.geo.topk import iter_build_topk

    stores = request.app.state.nearest_stores
    if q.k > stores.k or not stores.fits(graph.n_nodes):
        return None
    every, every_snapped, fingerprint = _every_facility(request, graph, version, q, norms,
                                                        peek=peek)
    if not len(every):
        return None
    slot = (version[0], q.layer, q.team, q.direction,
            None if closures is None else id(closures))
    store = stores.get(slot, version, fingerprint, closures)
    if store is None:
        if not peek:
            block = max(1, BUILD_CELLS // max(graph.n_nodes, 1))
            stores.want(slot, version, fingerprint, closures, lambda: iter_build_topk(
                graph, every_snapped, stores.k, direction=q.direction, block=block,
                closures=closures, routes=True))
        return None
    fac, snapped = usable
    # the usable ones' positions in the store (both lists are in id order)
    idx = np.minimum(np.searchsorted(every.ids, fac.ids), len(every) - 1)
    if not (np.array_equal(every.ids[idx], fac.ids)
            and np.array_equal(every_snapped.nodes[idx], snapped.nodes)
            and np.array_equal(every_snapped.offset_s[idx], snapped.offset_s)):
        return None  # read at another moment than the store's: search this time
    among = np.full(len(every), -1, dtype=np.int64)
    among[idx] = np.arange(len(fac))
    return store, among


#: Closed-road sets (incident areas) whose facility trees are kept, per graph; each gets 1/this
#: of the memory.
CLOSED_TREE_SETS = 4
_TREES_LOCK = threading.Lock()


def _trees(request: Request, graph: CompiledGraph, direction: str, closures=None):
    """The graph's stored facility trees for ``direction`` (None when their memory is set to 0).

    With ``closures`` (an incident area's kept, read-only mask) the trees avoiding them: the
    last `CLOSED_TREE_SETS` such sets are kept, each tied to its mask object, so an
    incident whose area changes gets a new mask, hence new trees.
    """
    from emgis.geo.routing import FacilityTrees

    budget = request.app.state.settings.route_trees_mb << 20
    if budget <= 0:
        return None
    if closures is None:
        trees = graph._cache.get(("trees", direction))
        if trees is None:
            with _TREES_LOCK:
                trees = graph._cache.setdefault(("trees", direction),
                                                FacilityTrees(graph, direction, max_bytes=budget))
        return trees
    with _TREES_LOCK:  # short: never held while searching or loading
        kept = graph._cache.setdefault("closed_trees", OrderedDict())
        key = (direction, id(closures))
        hit = kept.get(key)
        if hit is None or hit[0] is not closures:
            hit = kept[key] = (closures, FacilityTrees(graph, direction, closures=closures,
                                                       max_bytes=budget // CLOSED_TREE_SETS))
            while len(kept) > CLOSED_TREE_SETS:
                kept.popitem(last=False)
        kept.move_to_end(key)
        return hit[1]


def _geojson(data: dict) -> Response:
    return Response(orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY), media_type=GEOJSON)


@router.get("/nearest", summary="The k nearest resources of a layer to a point, with their routes",
            response_class=Response,
            responses={200: {"content": {GEOJSON: {}}},
                       **error_responses(400, 404, 409, said={
                           409: "no road network is loaded (the message says how to load one)"})})
async def nearest(request: Request,
            lon: float = Query(ge=-180, le=180, description="longitude of the place (WGS84)"),
            lat: float = Query(ge=-90, le=90, description="latitude of the place (WGS84)"),
            layer: Layer = Query("team_bases", description="which resources"),
            k: int = Query(3, ge=1, le=50, description="how many"),
            avoid: int | None = Query(None, ge=1, le=2**31 - 1,
                                      description="id of an incident whose area closes the "
                                                  "roads in it"),
            direction: Direction | None = Query(
                None, description="from_facility: the resource travels to the place; "
                "to_facility: from the place to the resource; default: the layer's own, as "
                "`emgis route` (people go to shelters; teams and supplies come from their base)"),
            network: str | None = Query(None, pattern=NETWORK_NAME_PATTERN,
                                        description="road network name"),
            team_type: str | None = Query(None, max_length=100, description=TEAM_TYPE_HELP),
            speciality: str | None = Query(None, max_length=100,
                                           description=SPECIALITY_HELP),
            equipment: str | None = Query(None, max_length=100,
                                          description=EQUIPMENT_HELP)) -> Response:
    """The answer from memory on the event loop when everything it needs is kept (no I/O, about a
    millisecond); otherwise (first request, a change, closed roads: database reads or a search)
    in the thread pool."""
    from emgis.shelters.needs import equipment_filter

    team = team_selection(layer, team_type, speciality)
    eq = equipment_filter(layer, equipment)
    if eq is not None:
        team = (*team, eq)
    q = NearestQuery(lon, lat, layer, k, avoid, direction or layer_direction(layer), network,
                     team)
    try:
        return _nearest(request, q, peek=True)
    except NotKept:
        return await run_in_threadpool(_nearest, request, q)


@dataclass(frozen=True)
class NearestQuery:
    """The parsed query of ``/analyses/nearest``."""

    lon: float
    lat: float
    layer: str
    k: int
    avoid: int | None
    direction: str
    network: str | None
    team: tuple[str | None, ...] = (None, None)  # team type, speciality[, equipment kind]


def _nearest(request: Request, q: NearestQuery, *, peek: bool = False) -> Response:
    from emgis.geo.routing import nearest_k
    from emgis.geo.topk import nearest_routes

    lon, lat, layer, k, avoid, direction, network = (q.lon, q.lat, q.layer, q.k, q.avoid,
                                                     q.direction, q.network)

    graph, graph_version = _graph(request, network, peek=peek)
    norms = _norms_in_force(request, peek=peek)
    fac, snapped = _usable(request, graph, graph_version, layer, norms, peek=peek, team=q.team)
    _check_near_network(graph, lon, lat)
    closures, n_closed, area = _closures(request, graph, graph_version, avoid, peek=peek)
    qlon, qlat = _outside(area, lon, lat)
    trees = _trees(request, graph, direction, closures)
    store = None
    if len(fac) and not _trees_answer(trees, snapped):  # too many for the trees' memory
        store = _store(request, graph, graph_version, q, norms, closures, (fac, snapped),
                       peek=peek)
    if peek and len(fac) and store is None and (trees is None or not trees.has(snapped.nodes)):
        raise NotKept("trees not grown yet")
    details = _details(request, layer, peek=peek)
    feats = []
    if len(fac):
        routes = None
        if store is not None:
            routes = nearest_routes(graph, store[0], (qlon, qlat), snapped, k, among=store[1],
                                    closures=closures, norms=norms)
            request.app.state.nearest_stores.answered += routes is not None
        if routes is None:
            if peek:
                raise NotKept("the store cannot tell: search")
            routes = nearest_k(graph, (qlon, qlat), snapped, k, closures=closures,
                               direction=direction, norms=norms, trees=trees)
        for rank, r in enumerate(routes, 1):
            coords = (r.coords if len(r.coords) >= 2
                      else [*r.coords, *r.coords] or [[lon, lat], [lon, lat]])
            feats.append({
                "type": "Feature", "id": int(fac.ids[r.facility]),
                "geometry": {"type": "LineString", "coordinates": coords},
                "properties": {"rank": rank, "layer": layer, "id": int(fac.ids[r.facility]),
                               "ext_id": fac.ext_ids[r.facility], "name": fac.names[r.facility],
                               "lon": float(fac.lon[r.facility]), "lat": float(fac.lat[r.facility]),
                               "time_s": round(r.time_s, 1), "time_min": round(r.time_s / 60, 2),
                               "length_m": round(r.length_m, 1),
                               **details.get(int(fac.ids[r.facility]), {})},
            })
    return _geojson({"type": "FeatureCollection", "features": feats,
                     "query": {"lon": lon, "lat": lat, "layer": layer, "k": k,
                               "direction": direction, "avoid": avoid,
                               "team_type": q.team[0], "speciality": q.team[1],
                               "equipment": q.team[2] if len(q.team) > 2 else None,
                               "network": network or request.app.state.settings.network},
                     "routed_from": [round(qlon, 7), round(qlat, 7)],
                     "note": None if (qlon, qlat) == (lon, lat) else
                     "the place is inside the closed area: routes reach the nearest point of "
                     "its edge",
                     "usable_facilities": len(fac), "skipped": fac.skipped,
                     "closed_edges": n_closed})


#: The tables a layer's details (`_details`) are read from
DETAIL_TABLES = {"shelters": ("shelters",), "depots": ("depots", "depot_stock")}


def _details(request: Request, layer: str, *, peek: bool = False) -> dict[int, dict]:
    """What a nearest answer shows of each resource besides its route, by id: a shelter's free
    places, a depot's stock; kept while their tables are unchanged."""
    if layer not in DETAIL_TABLES:
        return {}
    read = _shelter_places if layer == "shelters" else _depot_stock
    return request.app.state.memo.get(("details", layer), DETAIL_TABLES[layer],
                                      lambda: read(request.app.state.engine), peek=peek)


def _shelter_places(engine) -> dict[int, dict]:
    """Free places = capacity − occupancy (never below 0); a shelter of unknown capacity has
    ``free_places`` None and says "capacity unknown" — never 0 places."""
    with engine.connect() as c:
        rows = c.execute(sa.text("SELECT id, capacity, capacity_source, coalesce(occupancy, 0) "
                                 "FROM shelters")).all()
    out = {}
    for i, cap, source, occ in rows:
        known = cap is not None
        free = max(int(cap) - int(occ), 0) if known else None
        out[int(i)] = {
            "capacity": None if cap is None else int(cap), "capacity_source": source,
            "capacity_known": known, "occupancy": int(occ), "free_places": free,
            "places": (f"{free} free of {int(cap)} (空余 {free} / 容量 {int(cap)})" if known else
                       f"capacity unknown (容量未知); {int(occ)} there now"),
        }
    return out


def _depot_stock(engine) -> dict[int, dict]:
    """A depot's level and its stock by item (quantity and unit, from ``depot_stock``)."""
    with engine.connect() as c:
        levels = c.execute(sa.text("SELECT id, level FROM depots")).all()
        stock = c.execute(sa.text("SELECT depot_id, item, quantity, unit FROM depot_stock "
                                  "ORDER BY depot_id, item")).all()
    out: dict[int, dict] = {int(i): {"level": lv, "stock": [], "stock_items": 0}
                            for i, lv in levels}
    for d, item, qty, unit in stock:
        entry = out.setdefault(int(d), {"level": None, "stock": [], "stock_items": 0})
        entry["stock"].append({"item": item, "quantity": float(qty), "unit": unit})
        entry["stock_items"] += 1
    for entry in out.values():
        entry["stock_summary"] = ("；".join(f"{s['item']} {s['quantity']:g} {s['unit'] or ''}"
                                           .strip() for s in entry["stock"]) or "no stock (无库存)")
    return out


def parse_minutes(text: str) -> list[float]:
    """Parse ``5,10,15`` into ascending distinct bands; BadRequest with the rule when malformed."""
    try:
        bands = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise BadRequest(f"minutes={text!r} is not a comma-separated list of numbers, "
                         f"e.g. minutes=5,10,15") from None
    if not bands:
        raise BadRequest("minutes is empty; give one or more bands, e.g. minutes=5,10,15")
    if len(bands) > MAX_BANDS:
        raise BadRequest(f"minutes={text!r} has {len(bands)} bands; give at most {MAX_BANDS}")
    bad = [b for b in bands if not (np.isfinite(b) and 0 < b <= MAX_MINUTES)]
    if bad:
        raise BadRequest(f"minutes={text!r}: each band must be more than 0 "
                         f"and at most {MAX_MINUTES:g} minutes")
    return sorted(set(bands))


@router.get("/service-areas",
            summary="Areas reached from the usable resources of a layer within time bands",
            response_class=Response,
            responses={200: {"content": {GEOJSON: {}}},
                       **error_responses(400, 404, 409, said={
                           409: "no road network is loaded, "
                                "or the layer has no usable resources"})})
def service_area(request: Request,
                 layer: Layer = Query("shelters", description="which resources"),
                 minutes: str = Query("5,10,15", max_length=200,
                                      description="time bands in minutes, comma-separated"),
                 avoid: int | None = Query(None, ge=1, le=2**31 - 1,
                                           description="id of an incident whose area closes "
                                                       "the roads in it"),
                 direction: Direction | None = Query(
                     None, description="to_facility: people travel to the resource; "
                     "from_facility: the resource travels out; default: the layer's own (people "
                     "go to shelters; teams and supplies come from their base)"),
                 buffer_m: float = Query(100.0, gt=0, le=2000,
                                         description="half-width drawn around reached roads, m"),
                 network: str | None = Query(None, pattern=NETWORK_NAME_PATTERN,
                                             description="road network name"),
                 team_type: str | None = Query(None, max_length=100,
                                               description=TEAM_TYPE_HELP),
                 speciality: str | None = Query(None, max_length=100,
                                                description=SPECIALITY_HELP)) -> Response:
    from shapely.geometry import mapping

    from emgis.geo.routing import service_areas

    bands = parse_minutes(minutes)
    team = team_selection(layer, team_type, speciality)
    direction = direction or layer_direction(layer)
    graph, version = _graph(request, network)
    closures, n_closed, _ = _closures(request, graph, version, avoid)
    fac = _near_network(graph, facilities(request.app.state.engine, layer, team_type=team[0],
                                          speciality=team[1]))
    if not len(fac):
        raise Conflict(f"the layer {layer} has no usable resources"
                       + (f" of team type {team[0] or 'any'} / speciality {team[1] or 'any'}"
                          if any(team) else "") + " "
                       f"({fac.skipped} left out: unusable by status "
                       "or beyond the road network); load some or set their status")
    norms = _norms_in_force(request)
    cache: ResultCache = request.app.state.results
    key = ("service-areas", version, layer, team, tuple(bands), direction, buffer_m, avoid,
           _fingerprint(fac.ids, fac.lon, fac.lat, closures),
           norms.number("road.speed_kmh.offroad"))
    body = cache.get(key)
    if body is not None:
        return Response(body, media_type=GEOJSON)
    gdf = service_areas(graph, (fac.lon, fac.lat), bands, closures=closures, direction=direction,
                        buffer_m=buffer_m,
                        norms=norms)
    feats = [{"type": "Feature", "id": i,
              "geometry": None if g is None or g.is_empty else mapping(g),
              "properties": {"minutes": float(m), "area_km2": round(float(a), 4)}}
             for i, (m, a, g) in enumerate(zip(gdf["minutes"], gdf["area_km2"], gdf.geometry,
                                               strict=True), 1)]
    body = json.dumps({"type": "FeatureCollection", "features": feats,
                       "query": {"layer": layer, "minutes": bands, "direction": direction,
                                 "team_type": team[0], "speciality": team[1],
                                 "avoid": avoid, "buffer_m": buffer_m,
                                 "network": network or request.app.state.settings.network},
                       "facilities": len(fac), "closed_edges": n_closed}, ensure_ascii=False)
    cache.put(key, body)
    return Response(body, media_type=GEOJSON)
