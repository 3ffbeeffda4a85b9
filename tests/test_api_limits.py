"""What the API refuses before it does any work: numbers that are not numbers, bodies too large,
geometries no one meant to send, text that is not text, radii that are not distances.

Each case posts what an attacker or a careless client sent (issue #14) and expects a 4xx in the
shape of every other error (``detail``, and ``problems`` naming the field), never a 5xx.
"""

from __future__ import annotations

import json
import math
import warnings

import pytest
import sqlalchemy as sa
from conftest import _token

with warnings.catch_warnings():  # starlette asks for httpx2; httpx still works (test extra)
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from emgis.api.http.app import create_app
from emgis.layers.settings import ApiSettings, DatabaseSettings

pytestmark = pytest.mark.postgis

#: inside the demo county (around 119.85°E 31.0°N)
LON, LAT = 119.85, 31.0
POINT = {"type": "Point", "coordinates": [LON, LAT]}


def _fields(r) -> set[str]:
    """The fields an error answer names (FastAPI's ``loc`` or the problems' ``field``)."""
    body = r.json()
    if isinstance(body["detail"], list):
        return {str(part) for err in body["detail"] for part in err["loc"]}
    return {p["field"] for p in body.get("problems", []) if p["field"]}


def _send(client, method: str, url: str, raw: str, auth: dict):
    return client.request(method, url, content=raw.encode(),
                          headers={**auth, "Content-Type": "application/json"})


@pytest.fixture(scope="module")
def admin(demo_db) -> dict:
    return _token(demo_db.engine, "admin")[1]


@pytest.fixture(scope="module")
def ids(demo_db) -> dict:
    with demo_db.engine.connect() as c:
        return dict(c.execute(sa.text(
            "SELECT (SELECT min(id) FROM shelters) AS shelter, "
            "(SELECT min(id) FROM team_bases) AS team, "
            "(SELECT min(id) FROM incidents) AS incident, "
            "(SELECT ext_id FROM depots ORDER BY id LIMIT 1) AS depot, "
            "(SELECT item FROM depot_stock ORDER BY depot_id, item LIMIT 1) AS item")).one()
            ._mapping)


# --- numbers are numbers -------------------------------------------------------------------------

STRICT = [
    pytest.param("shelter", {"occupancy_delta": True}, "occupancy_delta", id="delta-true"),
    pytest.param("shelter", {"occupancy_delta": "1"}, "occupancy_delta", id="delta-string"),
    pytest.param("shelter", {"occupancy": False}, "occupancy", id="occupancy-false"),
    pytest.param("shelter", {"occupancy": "12"}, "occupancy", id="occupancy-string"),
    pytest.param("shelter", {"occupancy": 12.5}, "occupancy", id="occupancy-fraction"),
    pytest.param("stock", {"quantity_delta": True}, "quantity_delta", id="quantity-true"),
    pytest.param("stock", {"quantity_delta": "2.5"}, "quantity_delta", id="quantity-string"),
    pytest.param("stock", {"quantity_delta": 1, "unit": 5}, "unit", id="unit-number"),
    pytest.param("incident", {"name": 7, "type": "fire", "geometry": POINT}, "name",
                 id="incident-name-number"),
]


@pytest.mark.bad_input
@pytest.mark.parametrize(("what", "body", "field"), STRICT)
def test_booleans_and_strings_are_not_numbers(client, admin, ids, what, body, field):
    url = {"shelter": f"/shelters/{ids['shelter']}",
           "stock": f"/depot_stock/{ids['depot']}/{ids['item']}", "incident": "/incidents"}[what]
    method = "POST" if what == "incident" else "PATCH"
    r = client.request(method, url, json=body, headers=admin)
    assert r.status_code == 422, r.text
    assert field in _fields(r)


def test_whole_numbers_still_pass_as_quantities(client, admin, ids):
    r = client.patch(f"/depot_stock/{ids['depot']}/{ids['item']}", json={"quantity_delta": 1},
                     headers=admin)
    assert r.status_code == 200, r.text


# --- body size -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_client(demo_db):
    """The app with a 0.01 MB (10,486-byte) body limit."""
    app = create_app(ApiSettings(max_body_mb=0.01, cache=False), engine=demo_db.engine,
                     db_settings=DatabaseSettings(home=demo_db.home))
    with TestClient(app) as c:
        yield c


def _big(n: int) -> bytes:
    pad = "x" * n
    return json.dumps({"name": pad, "type": "fire", "geometry": POINT}).encode()


@pytest.mark.bad_input
def test_anonymous_large_body_is_refused_before_it_is_read(client):
    r = client.post("/incidents", content=_big(6 * 1024 * 1024),
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    assert "EMGIS_API_MAX_BODY_MB" in r.json()["detail"]


@pytest.mark.bad_input
def test_streamed_body_is_counted_and_stopped_at_the_limit(small_client, admin):
    def chunks():
        for _ in range(100):
            yield b"x" * 1000

    r = small_client.post("/analyses/warning-area", content=chunks(),
                          headers={**admin, "Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    assert "content-length" not in {k.lower() for k in r.request.headers}


def test_bodies_under_the_limit_pass(small_client, admin, ids):
    r = small_client.patch(f"/shelters/{ids['shelter']}", json={"occupancy_delta": 0},
                           headers=admin)
    assert r.status_code == 200, r.text


# --- geometry ------------------------------------------------------------------------------------

def _ring(n: int, r: float = 0.01) -> list[list[float]]:
    pts = [[LON + r * math.cos(2 * math.pi * i / n), LAT + r * math.sin(2 * math.pi * i / n)]
           for i in range(n)]
    return [*pts, pts[0]]


GEOMETRIES = [
    pytest.param('{"type": "Point", "coordinates": [0, 0]}', "(0, 0)", id="null-island"),
    pytest.param('{"type": "Point", "coordinates": [NaN, 31.0]}', "finite", id="nan"),
    pytest.param('{"type": "Point", "coordinates": [119.8, Infinity]}', "finite", id="infinity"),
    pytest.param('{"type": "Point", "coordinates": [1e400, 31.0]}', "finite", id="overflow"),
    pytest.param('{"type": "Point", "coordinates": [200, 31.0]}', "-180..180", id="lon-200"),
    pytest.param('{"type": "Point", "coordinates": [119.8, -95]}', "-90..90", id="lat-95"),
    pytest.param('{"type": "Point", "coordinates": [31.0, 119.85]}', "-90..90", id="lat-lon-swap"),
    pytest.param('{"type": "Point", "coordinates": [116.4, 39.9]}', "km outside the study area",
                 id="far-away"),
    pytest.param(json.dumps({"type": "Polygon", "coordinates": [_ring(100_000)]}), "vertices",
                 id="100k-vertices"),
]


@pytest.mark.bad_input
@pytest.mark.parametrize(("geometry", "says"), GEOMETRIES)
def test_incident_geometry_limits(client, admin, geometry, says):
    raw = f'{{"name": "limit test", "type": "fire", "geometry": {geometry}}}'
    r = _send(client, "POST", "/incidents", raw, admin)
    assert r.status_code == 422, r.text
    problem = r.json()["problems"][0]
    assert problem["field"] == "geometry" and says in problem["message"] + problem["fix"]
    assert problem["fix"]


@pytest.mark.bad_input
@pytest.mark.parametrize(("url", "raw", "field"), [
    pytest.param("/team_bases/{team}", '{"position": {"type": "Point", "coordinates": [0, 0]}}',
                 "position", id="team-null-island"),
    pytest.param("/team_bases/{team}",
                 '{"position": {"type": "Point", "coordinates": [116.4, 39.9]}}', "position",
                 id="team-far-away"),
    pytest.param("/incidents/{incident}",
                 '{"geometry": {"type": "Point", "coordinates": [NaN, NaN]}}', "geometry",
                 id="incident-patch-nan"),
    pytest.param("/analyses/warning-area",
                 json.dumps({"type": "Polygon", "coordinates": [_ring(100_000)]}), "geometry",
                 id="warning-area-100k-vertices"),
])
def test_every_posted_geometry_is_checked(client, admin, ids, url, raw, field):
    method = "POST" if url.startswith("/analyses") else "PATCH"
    r = _send(client, method, url.format(**ids), raw, admin)
    assert r.status_code == 422, r.text
    assert field in _fields(r)


def test_a_polygon_in_the_county_still_loads(client, admin):
    body = {"name": "limit test", "type": "flood",
            "geometry": {"type": "Polygon", "coordinates": [_ring(500)]}}
    assert client.post("/incidents", json=body, headers=admin).status_code == 201


# --- text that is not text -----------------------------------------------------------------------

SURROGATE = r'"\ud800"'
_INC = f'"type": "fire", "geometry": {json.dumps(POINT)}'
TEXTS = [
    pytest.param("POST", "/incidents", f'{{"name": {SURROGATE}, {_INC}}}', "name",
                 id="incident-name"),
    pytest.param("POST", "/incidents", f'{{"name": "x", "type": {SURROGATE}, '
                 f'"geometry": {json.dumps(POINT)}}}', "type", id="incident-type"),
    pytest.param("POST", "/incidents", f'{{"name": "x", {_INC}, "level": {SURROGATE}}}', "level",
                 id="incident-level"),
    pytest.param("POST", "/incidents", f'{{"name": "x", {_INC}, "status": {SURROGATE}}}',
                 "status", id="incident-status"),
    pytest.param("POST", "/incidents", f'{{"name": "x", {_INC}, "ext_id": {SURROGATE}}}',
                 "ext_id", id="incident-ext-id"),
    pytest.param("POST", "/incidents", f'{{"name": "x", {_INC}, {SURROGATE}: 1}}', "body",
                 id="incident-unknown-key"),
    pytest.param("PATCH", "/incidents/{incident}", f'{{"name": {SURROGATE}}}', "name",
                 id="incident-patch-name"),
    pytest.param("PATCH", "/incidents/{incident}", f'{{"type": {SURROGATE}}}', "type",
                 id="incident-patch-type"),
    pytest.param("PATCH", "/incidents/{incident}", f'{{"level": {SURROGATE}}}', "level",
                 id="incident-patch-level"),
    pytest.param("PATCH", "/incidents/{incident}", f'{{"status": {SURROGATE}}}', "status",
                 id="incident-patch-status"),
    pytest.param("PATCH", "/shelters/{shelter}", f'{{"status": {SURROGATE}}}', "status",
                 id="shelter-status"),
    pytest.param("PATCH", "/team_bases/{team}", f'{{"status": {SURROGATE}}}', "status",
                 id="team-status"),
    pytest.param("PATCH", "/depot_stock/{depot}/{item}",
                 f'{{"quantity_delta": 1, "unit": {SURROGATE}}}', "unit", id="stock-unit"),
    pytest.param("POST", "/analyses/warning-area",
                 f'{{"type": "Polygon", "coordinates": [], {SURROGATE}: 1}}', "geometry",
                 id="warning-area-key"),
    pytest.param("POST", "/analyses/warning-area",
                 f'{{"type": "Feature", "properties": {{"name": {SURROGATE}}}, '
                 f'"geometry": {SURROGATE}}}', "geometry", id="warning-area-feature"),
]


@pytest.mark.bad_input
@pytest.mark.parametrize(("method", "url", "raw", "field"), TEXTS)
def test_lone_surrogates_are_refused_naming_the_field(client, admin, ids, method, url, raw,
                                                      field):
    r = _send(client, method, url.format(**ids), raw, admin)
    assert r.status_code in (400, 422), r.text
    assert field in _fields(r) or field in r.json()["detail"]
    r.content.decode("utf-8")  # the answer itself is valid UTF-8


# --- radii ---------------------------------------------------------------------------------------

@pytest.mark.bad_input
@pytest.mark.parametrize("radius", ["5e-324", "1e-12", "0.5", "0", "-1", "1e9", "nan", "inf"])
def test_warning_radius_has_a_documented_range(client, demo_db, radius):
    with demo_db.engine.connect() as c:
        iid = c.execute(sa.text("SELECT min(id) FROM incidents "
                                "WHERE GeometryType(geom) = 'POINT'")).scalar_one()
    r = client.get(f"/analyses/warning-area?incident={iid}&radius_m={radius}")
    assert r.status_code == 422, r.text
    assert "radius_m" in _fields(r)
    spec = client.get("/openapi.json").json()
    param = next(p for p in spec["paths"]["/analyses/warning-area"]["get"]["parameters"]
                 if p["name"] == "radius_m")
    schema = next(s for s in param["schema"].get("anyOf", [param["schema"]])
                  if s.get("type") == "number")
    assert schema["minimum"] == 1 and schema["maximum"] == 50_000
