"""Dispatch records and the incident timeline (#16, part 2): the one service both edges call.

A commander assigns to an incident a team, a quantity of one item of a depot's stock, or places
in a shelter for evacuees (`assign`); an assignment moves through its states (`move`: a team
dispatched → en_route → on_scene → returned); notes are added to the timeline (`add_note`).
Each call is given one open transaction and writes everything in it — the assignment, the
resource's state (the team's ``status``, the depot's ``quantity``, the shelter's ``occupancy``)
and the timeline's row with its actor — so a refused or failed call changes nothing.

Counters change by a guarded ``UPDATE … SET x = x ± :n WHERE <bound holds> RETURNING`` (the
pattern of api/http/live.py): the row lock serialises concurrent requests and each re-checks the
bound against the committed value. A team's one active assignment is the database's rule (the
partial unique index of migration 0007): of 20 concurrent requests for one team exactly one
commits; the others are refused with the assignment that won.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from emgis.layers.problems import NotFound, Problems

KINDS = {"team": "救援队伍 team", "depot_stock": "储备物资 depot stock",
         "shelter": "避难场所床位 shelter places"}
STATES = {"dispatched": "已派出 dispatched", "en_route": "途中 en route",
          "on_scene": "到达 on scene", "returned": "已返回 returned",
          "cancelled": "已取消 cancelled"}
ACTIVE = ("dispatched", "en_route", "on_scene")
#: The legal moves of each kind: {state: states it may move to}. Stock is delivered when on
#: scene (final); evacuees leave a shelter when it is "returned" (their places are freed).
MOVES: dict[str, dict[str, tuple[str, ...]]] = {
    "team": {"dispatched": ("en_route", "cancelled"), "en_route": ("on_scene", "returned"),
             "on_scene": ("returned",)},
    "depot_stock": {"dispatched": ("en_route", "cancelled"), "en_route": ("on_scene",)},
    "shelter": {"dispatched": ("en_route", "on_scene", "cancelled"), "en_route": ("on_scene",),
                "on_scene": ("returned",)},
}
ACTIVE_TEAM_INDEX = "uq_incident_assignments_active_team"
MAX_QUANTITY = 1e12
MAX_PLACES = 10_000_000


class DispatchConflict(Exception):
    """The state refuses the request (a team already assigned, stock below 0, a shelter over
    capacity, an illegal move): HTTP 409, exit 2. ``extra`` holds the state that refused it."""

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


@dataclass(frozen=True)
class Ask:
    """What to assign: ``resource`` is the team's, depot's or shelter's id or ext_id."""

    kind: str
    resource: str
    item: str | None = None
    quantity: float | None = None
    places: int | None = None
    note: str | None = None


@dataclass(frozen=True)
class Resource:
    """An assignable resource found: its table id, name and place."""

    kind: str
    id: int
    ext_id: str
    name: str
    lon: float
    lat: float
    status: str | None


_TABLE = {"team": "team_bases", "depot_stock": "depots", "shelter": "shelters"}


def check_ask(ask: Ask) -> None:
    """Refuse an ask whose fields do not fit its kind (`InputError`, every problem at once)."""
    p = Problems("assignment")
    if ask.kind not in KINDS:
        p.error(None, "kind", ask.kind, "is not a kind of resource", f"use one of "
                f"{', '.join(KINDS)}")
        p.raise_if_errors()
    if not str(ask.resource).strip():
        p.error(None, "resource", ask.resource, "is blank", "give the resource's id or ext_id")
    if ask.kind == "depot_stock":
        if not ask.item or not ask.item.strip():
            p.error(None, "item", ask.item, "is required for depot stock",
                    "name the stock item (GET /stock-items), e.g. 帐篷")
        if ask.quantity is None or not (0 < ask.quantity <= MAX_QUANTITY):
            p.error(None, "quantity", ask.quantity, "must be a number above 0",
                    "give how much of the item to send, in its unit")
    elif ask.item is not None or ask.quantity is not None:
        p.error(None, "quantity" if ask.quantity is not None else "item",
                ask.quantity if ask.quantity is not None else ask.item,
                f"is only for depot stock, not a {ask.kind}", "leave it out")
    if ask.kind == "shelter":
        if ask.places is None or not (0 < ask.places <= MAX_PLACES):
            p.error(None, "places", ask.places, "must be a whole number above 0",
                    "give how many evacuees the shelter takes")
    elif ask.places is not None:
        p.error(None, "places", ask.places, f"is only for shelters, not a {ask.kind}",
                "leave it out")
    p.raise_if_errors()


def incident_geometry(conn: Connection, incident_id: int):
    """The incident's shapely geometry; `NotFound` when there is none."""
    import shapely

    wkb = conn.execute(sa.text("SELECT ST_AsBinary(geom) FROM incidents WHERE id = :i"),
                       {"i": incident_id}).scalar()
    if wkb is None:
        raise NotFound(f"there is no incident {incident_id}")
    return shapely.from_wkb(bytes(wkb))


def find_resource(conn: Connection, kind: str, ref: str) -> Resource:
    """The team, depot or shelter ``ref`` names (its id or ext_id; ext_id first); `NotFound`."""
    table = _TABLE[kind]
    ref = str(ref).strip()
    as_id = int(ref) if ref.isascii() and ref.isdigit() and len(ref) <= 9 else None
    row = conn.execute(sa.text(
        f"SELECT id, ext_id, name, ST_X(geom), ST_Y(geom), status FROM {table} "
        "WHERE ext_id = :r OR id = :i ORDER BY (ext_id = :r) DESC LIMIT 1"),
        {"r": ref, "i": as_id}).first()
    if row is None:
        what = {"team": "team", "depot_stock": "depot", "shelter": "shelter"}[kind]
        raise NotFound(f"there is no {what} {ref!r} (give its id or ext_id; "
                       f"see /collections/{table}/items)")
    return Resource(kind, row[0], row[1], row[2], float(row[3]), float(row[4]), row[5])


def _actor(conn: Connection, actor: str) -> None:
    conn.execute(sa.text("SELECT set_config('emgis.actor', :a, true)"), {"a": actor})


def _event(conn: Connection, incident_id: int, actor: str, kind: str, text: str,
           assignment_id: int | None = None, data: dict | None = None) -> dict:
    row = conn.execute(sa.text(
        "INSERT INTO incident_events (incident_id, actor, kind, text, assignment_id, data) "
        "VALUES (:i, :a, :k, :t, :aid, CAST(:d AS jsonb)) "
        "RETURNING id, incident_id, at, actor, kind, text, assignment_id, data"),
        {"i": incident_id, "a": actor, "k": kind, "t": text, "aid": assignment_id,
         "d": json.dumps(data, ensure_ascii=False) if data is not None else None}).one()
    return _event_dict(row)


def _event_dict(row) -> dict:
    d = dict(row._mapping)
    d["at"] = d["at"].isoformat()
    return d


def _label(res: Resource, ask: Ask) -> str:
    if res.kind == "team":
        return f"team {res.name} ({res.ext_id})"
    if res.kind == "depot_stock":
        return f"{ask.quantity:g} {ask.item} from depot {res.name} ({res.ext_id})"
    return f"{ask.places} places in shelter {res.name} ({res.ext_id})"


def _claim_team(conn: Connection, res: Resource, incident_id: int, insert) -> int:
    """Insert the team's assignment (the unique index refuses a second active one) and mark
    the team deployed; `DispatchConflict` naming the assignment that holds it."""
    if res.status != "available":
        held = _active_of_team(conn, res.id)
        if held is None:
            raise DispatchConflict(f"team {res.ext_id} is {res.status}, not available; set it "
                                   "available first (PATCH /team_bases/{id})",
                                   team_status=res.status)
        raise _already(res, held)
    try:
        with conn.begin_nested():
            aid = insert()
    except sa.exc.IntegrityError as exc:
        if ACTIVE_TEAM_INDEX not in str(exc.orig):
            raise
        raise _already(res, _active_of_team(conn, res.id)) from None
    done = conn.execute(sa.text(
        "UPDATE team_bases SET status = 'deployed', updated_at = now() "
        "WHERE id = :t AND status = 'available' RETURNING id"), {"t": res.id}).first()
    if done is None:
        raise DispatchConflict(f"team {res.ext_id} stopped being available while it was being "
                               "assigned; nothing was changed")
    return aid


def _active_of_team(conn: Connection, team_id: int):
    return conn.execute(sa.text(
        "SELECT id, incident_id, state FROM incident_assignments "
        "WHERE team_id = :t AND state IN ('dispatched', 'en_route', 'on_scene')"),
        {"t": team_id}).first()


def _already(res: Resource, held) -> DispatchConflict:
    if held is None:
        return DispatchConflict(f"team {res.ext_id} is already assigned; nothing was changed")
    return DispatchConflict(
        f"team {res.ext_id} is already assigned to incident {held[1]} (assignment {held[0]}, "
        f"{held[2]}); it can take another only once returned. Nothing was changed",
        assignment=held[0], incident=held[1], state=held[2])


def _take_stock(conn: Connection, res: Resource, ask: Ask) -> None:
    item = ask.item
    if res.status != "active":
        raise DispatchConflict(f"depot {res.ext_id} is {res.status}, not active: it sends "
                               "nothing; nothing was changed", status=res.status)
    got = conn.execute(sa.text(
        "UPDATE depot_stock SET quantity = quantity - :q WHERE depot_id = :d AND item = :it "
        "AND quantity - :q >= 0 RETURNING quantity"),
        {"q": ask.quantity, "d": res.id, "it": item}).first()
    if got is None:
        have = conn.execute(sa.text("SELECT quantity FROM depot_stock "
                                    "WHERE depot_id = :d AND item = :it"),
                            {"d": res.id, "it": item}).scalar()
        if have is None:
            raise DispatchConflict(f"depot {res.ext_id} holds no {item}; nothing was changed",
                                   quantity=0)
        raise DispatchConflict(f"depot {res.ext_id} holds {have:g} of {item}; sending "
                               f"{ask.quantity:g} would leave less than 0; nothing was changed",
                               quantity=have)


def _take_places(conn: Connection, res: Resource, places: int) -> None:
    got = conn.execute(sa.text(
        "UPDATE shelters SET occupancy = occupancy + :n, updated_at = now() "
        "WHERE id = :s AND status = 'open' AND (capacity IS NULL OR occupancy + :n <= capacity) "
        "RETURNING occupancy"), {"n": places, "s": res.id}).first()
    if got is None:
        occ, cap, status = conn.execute(sa.text(
            "SELECT occupancy, capacity, status FROM shelters WHERE id = :s"),
            {"s": res.id}).one()
        if status != "open":
            raise DispatchConflict(f"shelter {res.ext_id} is {status}, not open; nothing was "
                                   "changed", status=status)
        raise DispatchConflict(f"shelter {res.ext_id} holds {occ} of {cap}; {places} more "
                               f"would be above its capacity; nothing was changed",
                               occupancy=occ, capacity=cap)


def assign(conn: Connection, incident_id: int, ask: Ask, *, actor: str, leg=None) -> dict:
    """Assign ``ask``'s resource to the incident, in ``conn``'s transaction; return the
    assignment (`assignment`). ``leg`` (`shelters.dispatch_route.Leg`): its ETA and route.

    Raises `InputError` (fields that do not fit the kind), `NotFound` (incident, resource or
    item), `DispatchConflict` (team not available or already assigned, stock, capacity)."""
    check_ask(ask)
    _actor(conn, actor)
    incident_geometry(conn, incident_id)
    res = find_resource(conn, ask.kind, ask.resource)
    if ask.kind == "depot_stock":
        from emgis.layers.load.stock_items import resolve_item

        ask = Ask(ask.kind, ask.resource, resolve_item(conn, str(ask.item)).name, ask.quantity,
                  None, ask.note)
    route = leg.geojson() if leg is not None else None

    def insert() -> int:
        return conn.execute(sa.text(
            "INSERT INTO incident_assignments (incident_id, kind, team_id, depot_id, item, "
            "quantity, shelter_id, places, eta_s, length_m, route, note, assigned_by) VALUES "
            "(:i, :k, :t, :d, :it, :q, :s, :p, :eta, :len, "
            "ST_SetSRID(ST_GeomFromGeoJSON(CAST(:r AS text)), 4326), :note, :a) RETURNING id"),
            {"i": incident_id, "k": ask.kind,
             "t": res.id if ask.kind == "team" else None,
             "d": res.id if ask.kind == "depot_stock" else None,
             "it": ask.item, "q": ask.quantity,
             "s": res.id if ask.kind == "shelter" else None, "p": ask.places,
             "eta": leg.eta_s if leg else None, "len": leg.length_m if leg else None,
             "r": json.dumps(route) if route else None, "note": ask.note,
             "a": actor}).scalar_one()

    if ask.kind == "team":
        aid = _claim_team(conn, res, incident_id, insert)
    elif ask.kind == "depot_stock":
        _take_stock(conn, res, ask)
        aid = insert()
    else:
        _take_places(conn, res, int(ask.places or 0))
        aid = insert()
    eta = (f", ETA {leg.eta_s / 60:.1f} min" if leg is not None and leg.eta_s is not None
           else (f" ({leg.note})" if leg is not None and leg.note else ""))
    _event(conn, incident_id, actor, "assigned",
           f"assigned {_label(res, ask)}{eta}" + (f": {ask.note}" if ask.note else ""),
           aid, {"kind": ask.kind, "resource_id": res.id, "ext_id": res.ext_id,
                 "item": ask.item, "quantity": ask.quantity, "places": ask.places,
                 "eta_s": leg.eta_s if leg else None})
    return assignment(conn, incident_id, aid)


def move(conn: Connection, incident_id: int, assignment_id: int, state: str, *, actor: str,
         note: str | None = None) -> dict:
    """Move an assignment to ``state`` if that is a legal move (`MOVES`), with what follows
    for its resource; `DispatchConflict` naming the state and the allowed moves otherwise."""
    if state not in STATES:
        p = Problems("assignment")
        p.error(None, "state", state, "is not a state", f"use one of {', '.join(STATES)}")
        p.raise_if_errors()
    _actor(conn, actor)
    row = conn.execute(sa.text(
        "SELECT kind, state, team_id, depot_id, item, quantity, shelter_id, places "
        "FROM incident_assignments WHERE id = :a AND incident_id = :i FOR UPDATE"),
        {"a": assignment_id, "i": incident_id}).first()
    if row is None:
        incident_geometry(conn, incident_id)
        raise NotFound(f"incident {incident_id} has no assignment {assignment_id}")
    kind, now = row[0], row[1]
    allowed = MOVES[kind].get(now, ())
    if state not in allowed:
        moves = ", ".join(allowed) if allowed else "none (it is final)"
        raise DispatchConflict(f"assignment {assignment_id} ({kind}) is {now}; it cannot move "
                               f"to {state}. Allowed moves: {moves}",
                               state=now, allowed=list(allowed))
    conn.execute(sa.text(
        f"UPDATE incident_assignments SET state = :s, {state}_at = now(), updated_at = now() "
        "WHERE id = :a"), {"s": state, "a": assignment_id})
    ends = state in ("returned", "cancelled")
    if kind == "team" and ends:
        conn.execute(sa.text("UPDATE team_bases SET status = 'available', updated_at = now() "
                             "WHERE id = :t AND status = 'deployed'"), {"t": row[2]})
    if kind == "depot_stock" and state == "cancelled":
        conn.execute(sa.text("UPDATE depot_stock SET quantity = quantity + :q "
                             "WHERE depot_id = :d AND item = :it"),
                     {"q": row[5], "d": row[3], "it": row[4]})
    if kind == "shelter" and ends:
        conn.execute(sa.text("UPDATE shelters SET occupancy = greatest(occupancy - :n, 0), "
                             "updated_at = now() WHERE id = :s"), {"n": row[7], "s": row[6]})
    a = assignment(conn, incident_id, assignment_id)
    _event(conn, incident_id, actor, "moved",
           f"{a['resource_label']}: {now} → {state}" + (f": {note}" if note else ""),
           assignment_id, {"from": now, "to": state, "kind": kind})
    return a


def incident_of(conn: Connection, assignment_id: int) -> int:
    """The incident an assignment belongs to (`NotFound` when there is no such assignment)."""
    iid = conn.execute(sa.text("SELECT incident_id FROM incident_assignments WHERE id = :a"),
                       {"a": assignment_id}).scalar()
    if iid is None:
        raise NotFound(f"there is no assignment {assignment_id} (see emgis dispatch list "
                       "INCIDENT)")
    return int(iid)


def add_note(conn: Connection, incident_id: int, text: str, *, actor: str,
             data: dict | None = None) -> dict:
    """Add a note to the incident's timeline."""
    if not text or not text.strip():
        p = Problems("event")
        p.error(None, "text", text, "is blank", "write what happened")
        p.raise_if_errors()
    _actor(conn, actor)
    incident_geometry(conn, incident_id)
    return _event(conn, incident_id, actor, "note", text.strip(), None, data)


_ASSIGNMENT_SQL = (
    "SELECT a.id, a.incident_id, a.kind, a.state, a.team_id, a.depot_id, a.item, a.quantity, "
    "a.shelter_id, a.places, a.eta_s, a.length_m, a.note, a.assigned_by, a.dispatched_at, "
    "a.en_route_at, a.on_scene_at, a.returned_at, a.cancelled_at, a.updated_at, "
    "ST_AsGeoJSON(a.route) AS route, "
    "coalesce(t.name, d.name, s.name) AS resource_name, "
    "coalesce(t.ext_id, d.ext_id, s.ext_id) AS resource_ext_id, t.team_type, "
    "coalesce(t.status, d.status, s.status) AS resource_status, si.unit "
    "FROM incident_assignments a "
    "LEFT JOIN team_bases t ON t.id = a.team_id LEFT JOIN depots d ON d.id = a.depot_id "
    "LEFT JOIN shelters s ON s.id = a.shelter_id LEFT JOIN stock_items si ON si.name = a.item "
    "WHERE a.incident_id = :i")


def _assignment_dict(row) -> dict:
    d = dict(row._mapping)
    for k in ("dispatched_at", "en_route_at", "on_scene_at", "returned_at", "cancelled_at",
              "updated_at"):
        d[k] = d[k].isoformat() if d[k] is not None else None
    d["route"] = json.loads(d["route"]) if d["route"] else None
    d["resource_id"] = d["team_id"] or d["depot_id"] or d["shelter_id"]
    d["eta_min"] = round(d["eta_s"] / 60, 2) if d["eta_s"] is not None else None
    d["active"] = d["state"] in ACTIVE
    d["allowed_moves"] = list(MOVES[d["kind"]].get(d["state"], ()))
    name = f"{d['resource_name']} ({d['resource_ext_id']})"
    d["resource_label"] = (f"team {name}" if d["kind"] == "team" else
                           f"{d['quantity']:g} {d['item']} from depot {name}"
                           if d["kind"] == "depot_stock" else f"{d['places']} places in {name}")
    return d


def assignment(conn: Connection, incident_id: int, assignment_id: int) -> dict:
    row = conn.execute(sa.text(_ASSIGNMENT_SQL + " AND a.id = :a"),
                       {"i": incident_id, "a": assignment_id}).first()
    if row is None:
        raise NotFound(f"incident {incident_id} has no assignment {assignment_id}")
    return _assignment_dict(row)


def assignments(conn: Connection, incident_id: int) -> list[dict]:
    """The incident's assignments, oldest first (`NotFound` for an unknown incident)."""
    incident_geometry(conn, incident_id)
    rows = conn.execute(sa.text(_ASSIGNMENT_SQL + " ORDER BY a.id"), {"i": incident_id})
    return [_assignment_dict(r) for r in rows]


def in_states(conn: Connection, states: list[str]) -> list[dict]:
    """Every incident's assignments in ``states`` (e.g. the teams en route, for the live map)."""
    bad = [x for x in states if x not in STATES]
    if bad:
        p = Problems("assignments")
        p.error(None, "state", ",".join(bad), "is not a state", f"use {', '.join(STATES)}")
        p.raise_if_errors()
    sql = _ASSIGNMENT_SQL.replace("WHERE a.incident_id = :i", "WHERE a.state = ANY(:s)")
    rows = conn.execute(sa.text(sql + " ORDER BY a.id"), {"s": list(states)})
    return [_assignment_dict(r) for r in rows]


def timeline(conn: Connection, incident_id: int) -> list[dict]:
    """The incident's timeline, newest last (`NotFound` for an unknown incident)."""
    incident_geometry(conn, incident_id)
    rows = conn.execute(sa.text(
        "SELECT id, incident_id, at, actor, kind, text, assignment_id, data "
        "FROM incident_events WHERE incident_id = :i ORDER BY at, id"), {"i": incident_id})
    return [_event_dict(r) for r in rows]
