"""Keep road networks in PostGIS and on disk, and read facilities for routing.

A loaded network lives in two places: its edges in the ``road_edges`` table (for maps,
SQL and as the record of what was loaded) and its compiled graph in
``EMGIS_HOME/networks/<name>.npz`` (what routing reads: loading it takes milliseconds,
rebuilding it from the table takes seconds). ``road_networks`` ties them together. When
the file is missing or does not match the table (another machine, a deleted home
directory) `load_network` rebuilds it from ``road_edges`` and writes it again.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from emgis.geo.compiled import CompiledGraph, NetworkReport, RoadEdges
from emgis.layers.problems import Problems

__all__ = [
    "FACILITY_LAYERS",
    "USABLE_STATUS",
    "FacilityPoints",
    "RoadNetworkNotFound",
    "facilities",
    "graph_file",
    "list_networks",
    "load_network",
    "save_network",
]

#: Facility layers routing can use, and the status values that make a facility usable
#: (layers.vocab): an open shelter, an active depot, a team available at its base.
USABLE_STATUS = {
    "shelters": ("open",),
    "depots": ("active",),
    "team_bases": ("available",),
}
FACILITY_LAYERS = tuple(USABLE_STATUS)

#: A road network's name: what `emgis load roads --name` accepts and the API's ``network=``
#: parameters check.
NETWORK_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
_NAME_RE = re.compile(NETWORK_NAME_PATTERN)


class RoadNetworkNotFound(LookupError):
    """No road network of that name has been loaded."""


def graph_file(home: str | Path, name: str) -> Path:
    """Return where the compiled graph of network ``name`` is kept under ``home``."""
    return Path(home) / "networks" / f"{name}.npz"


def check_network_name(name: str) -> None:
    """Raise InputError unless ``name`` is usable as a network (and file) name."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        p = Problems("--name")
        p.error(None, "name", name, "is not a network name",
                "use letters, digits, '_', '-' or '.' (up to 63), e.g. default or county_2025")
        p.raise_if_errors()


def _sha256(path: Path) -> str | None:
    if not path.is_file():
        return None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --- saving --------------------------------------------------------------------------------------

def save_network(engine: Engine, graph: CompiledGraph, *, name: str = "default",
                 source_file: str | Path | None = None, home: str | Path) -> Path:
    """Store ``graph`` as network ``name``: its edges in ``road_edges``, the graph on disk.

    The table rows of the network are replaced in one transaction (COPY); the compiled
    graph is written next to its final place first and moved there only once the
    transaction has committed, so a failed save leaves the previous network whole.

    Parameters
    ----------
    engine
        The database.
    graph
        The compiled network (from `geo.network.graph_from_osm` or `graph_from_lines`).
    name
        Network name; ``default`` is the one routing uses unless told otherwise.
    source_file
        The file the network was built from (recorded with its SHA-256).
    home
        ``EMGIS_HOME``; the graph goes to ``home/networks/<name>.npz``.

    Returns
    -------
    pathlib.Path
        The compiled graph's file.
    """
    check_network_name(name)
    final = graph_file(home, name)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.stem}.{os.getpid()}.tmp.npz")
    graph.save(tmp)
    src = Path(source_file).resolve() if source_file is not None else None
    rep = graph.report.as_dict()
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO road_networks (name, source_file, sha256, nodes, edges, components, "
                "graph_path, report, built_at) VALUES (:n, :f, :s, :nodes, :edges, :comp, :path, "
                "CAST(:rep AS jsonb), now()) ON CONFLICT (name) DO UPDATE SET "
                "source_file = EXCLUDED.source_file, "
                "sha256 = EXCLUDED.sha256, nodes = EXCLUDED.nodes, edges = EXCLUDED.edges, "
                "components = EXCLUDED.components, graph_path = EXCLUDED.graph_path, "
                "report = EXCLUDED.report, built_at = now()"),
                {"n": name, "f": None if src is None else str(src),
                 "s": None if src is None else _sha256(src), "nodes": graph.n_nodes,
                 "edges": graph.n_edges, "comp": int(graph.report.components),
                 "path": str(final.resolve()), "rep": json.dumps(rep)})
            conn.execute(sa.text("DELETE FROM road_edges WHERE network = :n"), {"n": name})
            _copy_edges(conn, graph, name)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()
    return final


def _copy_edges(conn: sa.Connection, graph: CompiledGraph, name: str) -> None:
    import pandas as pd
    import shapely

    names = np.asarray(graph.highway_names, dtype=object)
    lines = shapely.set_srid(graph.edge_lines(), 4326)
    df = pd.DataFrame({
        "network": name,
        "edge_id": np.arange(graph.n_edges, dtype=np.int64),
        "u": graph.node_ids[graph.edge_u],
        "v": graph.node_ids[graph.edge_v],
        "road_class": names[graph.edge_highway],
        "speed_kmh": graph.edge_speed_kmh,
        "length_m": graph.edge_length_m,
        "time_s": graph.edge_time_s,
        "oneway": np.where(graph.edge_oneway, "t", "f"),
        "component": graph.component[graph.edge_u],
        "geom": shapely.to_wkb(lines, hex=True, include_srid=True),
    })
    buf = io.StringIO()
    df.to_csv(buf, header=False, index=False, float_format="%.17g")
    buf.seek(0)
    cols = ", ".join(df.columns)
    raw = conn.connection.dbapi_connection
    if raw is None:  # the pooled connection was invalidated (the server went away)
        raise sa.exc.DisconnectionError("save_network: the database connection was lost while "
                                        "saving the road network; save it again")
    cur = raw.cursor()
    try:
        cur.copy_expert(f"COPY road_edges ({cols}) FROM STDIN WITH (FORMAT csv)", buf)
    finally:
        cur.close()


# --- loading -------------------------------------------------------------------------------------

def list_networks(engine: Engine) -> list[dict]:
    """Return the loaded networks.

    One dict per network: name, source_file, nodes, edges, components, built_at, graph_path.
    """
    with engine.connect() as c:
        rows = c.execute(sa.text(
            "SELECT name, source_file, nodes, edges, components, built_at, graph_path "
            "FROM road_networks ORDER BY name")).mappings().all()
    return [dict(r) for r in rows]


def load_network(engine: Engine, name: str = "default", *,
                 home: str | Path | None = None) -> CompiledGraph:
    """Return the compiled graph of network ``name``.

    Reads the saved graph file; if it is missing or does not match ``road_edges``, the
    graph is rebuilt from the table (and written again under ``home`` when given).

    Raises
    ------
    RoadNetworkNotFound
        When no network of that name was loaded (the message says how to load one).
    """
    with engine.connect() as c:
        row = c.execute(sa.text("SELECT graph_path, edges, nodes, report FROM road_networks "
                                "WHERE name = :n"), {"n": name}).first()
        if row is None:
            all_names = sa.text("SELECT name FROM road_networks ORDER BY name")
            have = c.execute(all_names).scalars().all()
    if row is None:
        other = f" (loaded networks: {', '.join(have)}; pick one with --network)" if have else ""
        raise RoadNetworkNotFound(
            f"no road network named {name!r} is loaded{other}; load one with "
            f"`emgis load roads FILE` (an OSM extract .osm.pbf/.osm or a road line layer)"
            + ("" if name == "default" else f" and --name {name}"))
    path, n_edges, n_nodes, report = row
    if path and Path(path).is_file():
        try:
            g = CompiledGraph.load(path)
        except ValueError:
            g = None
        if g is not None and g.n_edges == n_edges and g.n_nodes == n_nodes:
            return g
    g = _graph_from_table(engine, name, report)
    if home is not None:
        final = graph_file(home, name)
        final.parent.mkdir(parents=True, exist_ok=True)
        g.save(final)
        with engine.begin() as c:
            c.execute(sa.text("UPDATE road_networks SET graph_path = :p WHERE name = :n"),
                      {"p": str(final.resolve()), "n": name})
    return g


def _graph_from_table(engine: Engine, name: str, report: dict | None) -> CompiledGraph:
    import shapely

    with engine.connect() as c:
        rows = c.execute(sa.text(
            "SELECT u, v, road_class, speed_kmh, oneway, ST_AsBinary(geom) FROM road_edges "
            "WHERE network = :n ORDER BY edge_id"), {"n": name}).all()
    if not rows:
        raise RoadNetworkNotFound(f"road network {name!r} has no edges in road_edges; "
                                  "load it again with `emgis load roads FILE`")
    u_id = np.array([r[0] for r in rows], dtype=np.int64)
    v_id = np.array([r[1] for r in rows], dtype=np.int64)
    lines = shapely.from_wkb([bytes(r[5]) for r in rows])
    coords, which = shapely.get_coordinates(lines, return_index=True)
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(np.bincount(which, minlength=len(rows)), out=offsets[1:])
    node_ids, inv = np.unique(np.concatenate([u_id, v_id]), return_inverse=True)
    m = len(rows)
    ends = np.concatenate([coords[offsets[:-1]], coords[offsets[1:] - 1]])
    node_xy = np.empty((node_ids.size, 2))
    node_xy[inv] = ends
    classes = [r[2] or "" for r in rows]
    hw_names = sorted(set(classes))
    code = {h: i for i, h in enumerate(hw_names)}
    keep = {k: v for k, v in (report or {}).items() if k in NetworkReport.__dataclass_fields__}
    edges = RoadEdges(inv[:m], inv[m:],
                      highway=np.array([code[h] for h in classes], dtype=np.int16),
                      highway_names=hw_names, speed_kmh=np.array([r[3] for r in rows], dtype=float),
                      oneway=np.array([r[4] for r in rows], dtype=bool),
                      geom_coords=coords, geom_offsets=offsets)
    return CompiledGraph.from_edges(node_xy[:, 0], node_xy[:, 1], edges, node_ids=node_ids,
                                    report=NetworkReport(**keep))


# --- facilities ----------------------------------------------------------------------------------

@dataclass
class FacilityPoints:
    """Usable facilities of one layer as arrays (WGS84)."""

    layer: str
    ids: np.ndarray  # database id
    ext_ids: list[str]
    names: list[str]
    lon: np.ndarray
    lat: np.ndarray
    skipped: int  # rows left out because their status makes them unusable

    def __len__(self) -> int:
        return int(self.lon.size)


def facilities(engine: Engine, layer: str, *, usable_only: bool = True,
               team_type: str | None = None, speciality: str | None = None,
               equipment: str | None = None) -> FacilityPoints:
    """Read the facilities of ``layer`` (shelters, depots, team_bases) as lon/lat arrays.

    Only usable ones unless ``usable_only=False``: open shelters, active depots, teams
    available at their base (see `USABLE_STATUS`). For team_bases, ``team_type`` (a key of
    `layers.vocab.TEAM_TYPE`) and ``speciality`` (one of a team's specialities) keep only the
    teams that have them; ``equipment`` (a key of `layers.vocab.EQUIPMENT_KIND`) only the teams
    holding at least one of that kind in state ok (table ``team_equipment``).
    """
    if layer not in USABLE_STATUS:
        raise ValueError(f"layer={layer!r} is not a facility layer; "
                         f"use one of {', '.join(FACILITY_LAYERS)}")
    if (team_type or speciality or equipment) and layer != "team_bases":
        raise ValueError("team_type, speciality and equipment select teams: use them with "
                         "team_bases")
    ok = USABLE_STATUS[layer]
    where = ""
    if team_type:
        where += " AND team_type = :tt"
    if speciality:
        where += " AND :sp = ANY(specialities)"
    if equipment:
        where += (" AND EXISTS (SELECT 1 FROM team_equipment e WHERE e.team_base_id = "
                  "team_bases.id AND e.kind = :eq AND e.state = 'ok' AND e.quantity > 0)")
    with engine.connect() as c:
        rows = c.execute(sa.text(
            f"SELECT id, ext_id, name, ST_X(geom), ST_Y(geom), status = ANY(:ok) FROM {layer} "
            f"WHERE true{where} ORDER BY id"),
            {"ok": list(ok), "tt": team_type, "sp": speciality, "eq": equipment}).all()
    use = [r for r in rows if r[5] or not usable_only]
    return FacilityPoints(
        layer=layer,
        ids=np.array([r[0] for r in use], dtype=np.int64),
        ext_ids=[r[1] for r in use], names=[r[2] for r in use],
        lon=np.array([r[3] for r in use], dtype=float),
        lat=np.array([r[4] for r in use], dtype=float),
        skipped=len(rows) - len(use),
    )
