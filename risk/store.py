"""Risk data in PostGIS: candidate points, coloured areas, re-banding, hazards, lists, zones.

This is the database side of the four-colour map (domain.md §2). The pure modules do the
work (:mod:`risk.candidates`, :mod:`risk.methods`, :mod:`risk.aggregate`,
:mod:`risk.hazards`, :mod:`risk.zoning`); the functions here read their inputs from the
tables, write their results back in one transaction each, and say who did it
(``emgis.actor``, picked up by the audit trigger).

* :func:`import_candidates` — OSM candidates → ``risk_points`` (idempotent by ``ext_id``;
  rows already there are left as they are, so a planner's refined scores survive a re-run).
* :func:`compute_areas` — points → ``risk_areas``: one run per kind (admin | grid) is kept;
  every row records the rule that coloured it.
* :func:`relevel_points` — re-band every stored score with the bands in force.
* :func:`move_hazard`, :func:`note_hazard` — the 隐患 closed loop, every step in
  ``hazard_events``; illegal moves raise :class:`risk.hazards.IllegalTransition`.
* :func:`risk_list`, :func:`hazard_lists`, :func:`export_lists` — the ranked risk list and
  the three lists (隐患清单, 责任清单, 整改措施清单) with Chinese headers.
* :func:`zone_slope` — DEM slope classes → ``hazard_zones`` (one multipolygon per level).

Bulk writes (candidates, areas, zones) switch the per-row audit trigger off
(``emgis.bulk``) and write one summary ``audit_log`` entry, as the loaders do; single-row
edits (hazard moves, re-banding) are audited row by row by the trigger.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from emgis.layers import vocab
from emgis.layers.db import latest_census_year
from emgis.layers.norms import Norms
from emgis.risk import hazards as hz
from emgis.risk.aggregate import COUNT_COLUMNS, aggregate, make_grid
from emgis.risk.candidates import find_candidates
from emgis.risk.levels import LEVEL_KEYS, RANK
from emgis.risk.methods import band_tables, relevel_frame

KINDS = ("admin", "grid")
LIST_NAMES = ("隐患清单", "责任清单", "整改措施清单")
SLOPE_PREFIX = "slope:"


# --- helpers -------------------------------------------------------------------------------------

def _actor(c: Connection, actor: str, *, bulk: bool = False) -> None:
    c.execute(sa.text("SELECT set_config('emgis.actor', :a, true)"), {"a": actor})
    if bulk:
        c.execute(sa.text("SELECT set_config('emgis.bulk', 'on', true)"))


def _bulk_done(c: Connection, actor: str, action: str, table: str, key: str, detail: str) -> None:
    """Switch per-row auditing back on and write the one summary entry of a bulk write."""
    c.execute(sa.text("SELECT set_config('emgis.bulk', 'off', true)"))
    c.execute(sa.text("INSERT INTO audit_log (actor, action, table_name, row_key, detail) "
                      "VALUES (:a, :act, :t, :k, :d)"),
              {"a": actor, "act": action, "t": table, "k": key, "d": detail})


def _study_area(c: Connection) -> shapely.Geometry | None:
    row = c.execute(sa.text("SELECT ST_AsBinary(geom) FROM study_area ORDER BY id DESC LIMIT 1")).first()
    return None if row is None else shapely.from_wkb(bytes(row[0]))


def _multipolygon(g: shapely.Geometry) -> shapely.MultiPolygon | None:
    """Keep the polygonal parts of ``g`` as a MultiPolygon (None if there are none)."""
    if g is None or g.is_empty:
        return None
    if g.geom_type == "Polygon":
        return shapely.MultiPolygon([g])
    if g.geom_type == "MultiPolygon":
        return g
    parts = [p for p in getattr(g, "geoms", []) if p.geom_type in ("Polygon", "MultiPolygon")]
    polys = [q for p in parts for q in (p.geoms if p.geom_type == "MultiPolygon" else [p])]
    return shapely.MultiPolygon(polys) if polys else None


def _level_zh(key: object) -> str | None:
    return vocab.RISK_LEVEL[key].zh if isinstance(key, str) and key in vocab.RISK_LEVEL else None


def _obj(values) -> pd.Series:
    """An object column (None stays None, not NaN as in pandas 3 string columns)."""
    return pd.Series(list(values), dtype=object)


# --- candidates ----------------------------------------------------------------------------------

@dataclass
class CandidateImport:
    """What :func:`import_candidates` did."""

    file: str
    found: int
    outside: int
    inserted: int
    existing: int
    by_level: dict[str, int] = field(default_factory=dict)
    load_id: int | None = None


def import_candidates(engine: Engine, osm_path: str | Path, *, actor: str, norms: Norms | None = None,
                      clip: bool = True) -> CandidateImport:
    """Find candidate risk points in an OSM extract and store the new ones in ``risk_points``.

    Each candidate keeps its default method and factor scores (``inputs``) with the score,
    level and band version from :func:`risk.methods.assess_many` under ``norms``. Candidates
    outside the study area (when one is recorded and ``clip``) are dropped. A candidate whose
    ``ext_id`` ('osm:n123', 'osm:w45', 'osm:r6') is already stored is left untouched, so the
    import can be re-run and refined rows are not overwritten.
    """
    cand = find_candidates(osm_path, norms=norms)
    found = len(cand)
    with engine.begin() as c:
        area = _study_area(c) if clip else None
        if area is not None and len(cand):
            inside = shapely.contains_xy(area, cand.geometry.x.to_numpy(), cand.geometry.y.to_numpy())
            cand = cand[inside].reset_index(drop=True)
        outside = found - len(cand)
        _actor(c, actor, bulk=True)
        load_id = c.execute(sa.text(
            "INSERT INTO loads (layer, file, rows, mode, actor) VALUES ('risk_points', :f, :n, 'append', :a) "
            "RETURNING id"), {"f": str(Path(osm_path).resolve()), "n": len(cand), "a": actor}).scalar_one()
        rows = []
        for r in cand.itertuples(index=False):
            rows.append({
                "ext_id": r.ext_id, "name": r.name or r.kind_zh, "category": r.category, "method": r.method,
                "inputs": json.dumps({k: float(v) for k, v in dict(r.inputs).items()}),
                "score": None if pd.isna(r.score) else float(r.score), "level": r.level,
                "band_version": r.band_version, "load_id": load_id,
                "wkb": shapely.to_wkb(r.geometry),
            })
        inserted_ids: list[str] = []
        if rows:
            stmt = sa.text(
                "INSERT INTO risk_points (ext_id, name, category, method, inputs, score, level, band_version, "
                "load_id, geom) VALUES (:ext_id, :name, :category, :method, CAST(:inputs AS jsonb), :score, "
                ":level, :band_version, :load_id, ST_GeomFromWKB(:wkb, 4326)) "
                "ON CONFLICT (ext_id) DO NOTHING RETURNING ext_id")
            for row in rows:  # RETURNING tells which were new
                got = c.execute(stmt, row).scalar()
                if got is not None:
                    inserted_ids.append(got)
        c.execute(sa.text("UPDATE loads SET rows = :n WHERE id = :i"), {"n": len(inserted_ids), "i": load_id})
        new = cand[cand["ext_id"].isin(inserted_ids)]
        by_level = {k: int((new["level"] == k).sum()) for k in LEVEL_KEYS} if len(new) else {k: 0 for k in LEVEL_KEYS}
        _bulk_done(c, actor, "load", "risk_points", str(load_id),
                   f"{len(inserted_ids)} OSM candidate risk points from {Path(osm_path).name} "
                   f"({len(cand) - len(inserted_ids)} already stored, {outside} outside the study area)")
    return CandidateImport(str(osm_path), found, outside, len(inserted_ids), len(cand) - len(inserted_ids),
                           by_level, load_id)


# --- reading points and areas --------------------------------------------------------------------

def read_points(engine: Engine, *, assessed_only: bool = False) -> gpd.GeoDataFrame:
    """Return the stored risk points (EPSG:4326) with their inputs as dicts."""
    where = "WHERE level IS NOT NULL" if assessed_only else ""
    with engine.connect() as c:
        rows = c.execute(sa.text(
            "SELECT id, ext_id, name, category, method, inputs, score, level, band_version, unit_code, "
            f"ST_AsBinary(geom) FROM risk_points {where} ORDER BY id")).all()
    cols = ["id", "ext_id", "name", "category", "method", "inputs", "score", "level", "band_version", "unit_code"]
    data = {c: _obj(r[i] for r in rows) for i, c in enumerate(cols)}
    data["id"] = pd.Series([r[0] for r in rows], dtype="int64")
    data["score"] = pd.Series([np.nan if r[6] is None else float(r[6]) for r in rows], dtype=float)
    geoms = [shapely.from_wkb(bytes(r[10])) for r in rows]
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"), crs="EPSG:4326")


def read_areas(engine: Engine, kind: str | None = None) -> gpd.GeoDataFrame:
    """Return the stored risk areas of ``kind`` (the newest kind stored when None), with names."""
    with engine.connect() as c:
        if kind is None:
            kind = c.execute(sa.text("SELECT unit_kind FROM risk_areas ORDER BY computed_at DESC, id DESC "
                                     "LIMIT 1")).scalar()
            if kind is None:
                return _empty_areas()
        rows = c.execute(sa.text(
            "SELECT r.run_id, r.unit_kind, r.unit_code, coalesce(a.name, r.unit_code), r.level, r.rule, "
            "r.n_points, r.counts, r.risk_index, r.population, ST_AsBinary(r.geom) FROM risk_areas r "
            "LEFT JOIN admin_units a ON r.unit_kind = 'admin' AND a.code = r.unit_code "
            "WHERE r.unit_kind = :k ORDER BY r.id"), {"k": kind}).all()
    if not rows:
        return _empty_areas()
    out = gpd.GeoDataFrame({
        "run_id": _obj(r[0] for r in rows), "unit_kind": _obj(r[1] for r in rows),
        "unit_code": _obj(r[2] for r in rows), "name": _obj(r[3] for r in rows),
        "level": _obj(r[4] for r in rows), "rule": _obj(r[5] for r in rows),
        "n_points": pd.Series([r[6] for r in rows], dtype="int64"),
        **{f"n_{k}": pd.Series([int((r[7] or {}).get(k, 0)) for r in rows], dtype="int64") for k in LEVEL_KEYS},
        "risk_index": pd.Series([np.nan if r[8] is None else r[8] for r in rows], dtype=float),
        "population": pd.Series([np.nan if r[9] is None else r[9] for r in rows], dtype=float),
    }, geometry=gpd.GeoSeries([shapely.from_wkb(bytes(r[10])) for r in rows], crs="EPSG:4326"), crs="EPSG:4326")
    return out


def _empty_areas() -> gpd.GeoDataFrame:
    cols = ["run_id", "unit_kind", "unit_code", "name", "level", "rule"]
    return gpd.GeoDataFrame({c: _obj([]) for c in cols}, geometry=gpd.GeoSeries([], crs="EPSG:4326"),
                            crs="EPSG:4326")


# --- areas ---------------------------------------------------------------------------------------

def _admin_areas(c: Connection, level: str) -> gpd.GeoDataFrame:
    key = vocab.lookup(vocab.ADMIN_LEVEL, level)
    if key is None:
        raise ValueError(f"level={level!r} is not an admin level; use one of {vocab.describe(vocab.ADMIN_LEVEL)}")
    rows = c.execute(sa.text("SELECT code, name, ST_AsBinary(geom) FROM admin_units "
                             "WHERE level = :l AND geom IS NOT NULL ORDER BY code"), {"l": key}).all()
    if not rows:
        raise ValueError(f"no {key} ({vocab.ADMIN_LEVEL[key].zh}) admin units with boundaries are loaded; "
                         f"load them with `emgis load admin_units FILE`, or colour a grid (--grid 1000)")
    codes = [r[0] for r in rows]
    pop = _population(c, codes)
    return gpd.GeoDataFrame(
        {"code": _obj(codes), "name": _obj(r[1] for r in rows),
         "population": pd.Series([pop.get(code, np.nan) for code in codes], dtype=float)},
        geometry=gpd.GeoSeries([shapely.from_wkb(bytes(r[2])) for r in rows], crs="EPSG:4326"), crs="EPSG:4326")


def _population(c: Connection, codes: Sequence[str]) -> dict[str, float]:
    """Population of ``codes`` in the latest year any of them has figures for."""
    year = latest_census_year(c, codes)
    if year is None:
        return {}
    rows = c.execute(sa.text("SELECT code, population FROM population WHERE year = :y AND code = ANY(:c)"),
                     {"y": year, "c": list(codes)}).all()
    return {r[0]: float(r[1]) for r in rows}


def _grid_areas(c: Connection, points: gpd.GeoDataFrame, cell_m: float) -> gpd.GeoDataFrame:
    boundary = _study_area(c)
    if boundary is None:
        if not len(points):
            raise ValueError("there is no study area and no assessed risk point to size the grid; "
                             "run `emgis init --boundary FILE` or import risk points first")
        metric = points.estimate_utm_crs()
        pts = points.geometry.to_crs(metric)
        minx, miny, maxx, maxy = pts.total_bounds
        half = cell_m / 2
        box = shapely.box(minx - half, miny - half, maxx + half, maxy + half)
        boundary = gpd.GeoSeries([box], crs=metric)
        return make_grid(boundary, cell_m, metric)
    return make_grid(boundary, cell_m)


def compute_areas(
    engine: Engine,
    *,
    kind: str = "admin",
    level: str = "village",
    cell_m: float = 1000,
    rule: str = "max",
    norms: Norms | None = None,
    actor: str,
) -> gpd.GeoDataFrame:
    """Colour admin units or a grid from the stored risk points and store the run.

    Parameters
    ----------
    kind
        'admin' (the ``level`` units of ``admin_units``) or 'grid' (``cell_m`` squares over
        the study area, or over the points' extent when there is none).
    rule
        'max' (default), 'count_weighted' or 'population_weighted' (admin units with
        population figures only; the latest year in ``population``).
    norms
        Unused for colouring (levels are stored with the points); accepted so callers can
        pass the norms in force uniformly.

    Returns
    -------
    geopandas.GeoDataFrame
        :func:`risk.aggregate.aggregate` output plus ``run_id``, ``unit_kind`` and ``name``;
        ``attrs['points_outside']`` counts points that fell in no area. Earlier runs of the
        same kind are replaced.
    """
    del norms
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} is not an area kind; use 'admin' or 'grid'")
    points = read_points(engine, assessed_only=True)
    with engine.begin() as c:
        if kind == "admin":
            areas = _admin_areas(c, level)
            has_pop = areas["population"].notna().all() and len(areas)
            if rule == "population_weighted" and not has_pop:
                missing = areas.loc[areas["population"].isna(), "code"].head(5).tolist()
                raise ValueError(f"rule='population_weighted' needs the population of every {level} unit; "
                                 f"none is loaded for {', '.join(missing)}…; load census figures "
                                 "(`emgis load census FILE --year YYYY`) or use --rule max")
            pop_col = "population" if has_pop else None
            tag = f"admin-{vocab.lookup(vocab.ADMIN_LEVEL, level)}"
        else:
            if rule == "population_weighted":
                raise ValueError("rule='population_weighted' needs population per area; grid cells have none. "
                                 "Use admin units (--admin village) or --rule max")
            areas = _grid_areas(c, points, cell_m)
            pop_col = None
            tag = f"grid{int(cell_m)}"
        result = aggregate(points, areas, rule=rule, code_col="code", population_col=pop_col)
        run_id = f"{tag}-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"[:40]
        result.insert(0, "run_id", run_id)
        result.insert(1, "unit_kind", kind)
        result.insert(3, "name", _obj(areas["name"]) if "name" in areas.columns else _obj(areas["code"]))
        _actor(c, actor, bulk=True)
        c.execute(sa.text("DELETE FROM risk_areas WHERE unit_kind = :k"), {"k": kind})
        rows = []
        for r in result.itertuples(index=False):
            geom = _multipolygon(r.geometry)
            if geom is None:
                continue
            counts = {k: int(getattr(r, col)) for k, col in zip(LEVEL_KEYS, COUNT_COLUMNS, strict=True)}
            pop = getattr(r, "population", None)
            rows.append({
                "run": run_id, "kind": kind, "code": r.unit_code, "level": r.level, "rule": rule,
                "n": int(r.n_points), "counts": json.dumps(counts), "idx": float(r.risk_index),
                "pop": None if pop is None or pd.isna(pop) else float(pop), "wkb": shapely.to_wkb(geom),
            })
        if rows:
            c.execute(sa.text(
                "INSERT INTO risk_areas (run_id, unit_kind, unit_code, level, rule, n_points, counts, risk_index, "
                "population, geom) VALUES (:run, :kind, :code, :level, :rule, :n, CAST(:counts AS jsonb), :idx, "
                ":pop, ST_Multi(ST_GeomFromWKB(:wkb, 4326)))"), rows)
        _bulk_done(c, actor, "compute", "risk_areas", run_id,
                   f"{len(rows)} {kind} areas coloured by rule {rule} from {len(points)} assessed risk points "
                   f"({result.attrs.get('points_outside', 0)} outside every area)")
    result.attrs["run_id"] = run_id
    return result


# --- re-banding ----------------------------------------------------------------------------------

def relevel_points(engine: Engine, norms: Norms | None = None, *, actor: str = "cli") -> int:
    """Re-band every stored score with the band tables of ``norms``; return how many changed level.

    Scores and inputs are kept; ``level`` and ``band_version`` are updated (rows whose band
    version alone changed are updated too, so every point names the bands in force).
    """
    tables = band_tables(norms)
    pts = read_points(engine)
    sel = pts["method"].notna() & pts["score"].notna()
    df = pd.DataFrame({"method": pts.loc[sel, "method"].astype(object), "score": pts.loc[sel, "score"],
                       "level": pts.loc[sel, "level"].astype(object)})
    if not len(df):
        return 0
    new, changed = relevel_frame(df, tables)
    versions = [tables[m].version for m in df["method"]]
    updates = [
        {"id": int(i), "level": lv, "bv": v}
        for i, lv, v, old_lv, old_v in zip(pts.loc[sel, "id"], new, versions, df["level"],
                                           pts.loc[sel, "band_version"], strict=True)
        if lv != old_lv or v != old_v
    ]
    if updates:
        with engine.begin() as c:
            _actor(c, actor)
            c.execute(sa.text("UPDATE risk_points SET level = :level, band_version = :bv WHERE id = :id"), updates)
    return int(changed)


# --- hazards -------------------------------------------------------------------------------------

def _hazard_row(c: Connection, ext_id: str, *, lock: bool = False):
    row = c.execute(sa.text(
        "SELECT id, ext_id, title, state, responsible, deadline, measures FROM hazards WHERE ext_id = :e"
        + (" FOR UPDATE" if lock else "")), {"e": ext_id}).first()
    if row is None:
        raise LookupError(f"no hazard {ext_id!r}; list them with `emgis hazard list`")
    return row


def move_hazard(
    engine: Engine,
    ext_id: str,
    to_state: str,
    *,
    actor: str,
    note: str | None = None,
    responsible: str | None = None,
    measures: str | None = None,
    deadline: dt.date | None = None,
    today: dt.date | None = None,
) -> str:
    """Move hazard ``ext_id`` to ``to_state`` (key or Chinese label); return the new state key.

    The move is checked by :mod:`risk.hazards` (closing needs a responsible person and the
    measures, given here or stored). The row, its ``closed_on`` (on 销号) and a
    ``hazard_events`` row are written in one transaction; the audit trigger logs the row change.

    Raises
    ------
    risk.hazards.IllegalTransition
        With the current state, the requested one and the states allowed next.
    LookupError
        If there is no such hazard.
    """
    with engine.begin() as c:
        row = _hazard_row(c, ext_id, lock=True)
        h = hz.Hazard(row.ext_id, row.title, row.state,
                      responsible=responsible if responsible is not None else row.responsible,
                      deadline=deadline if deadline is not None else row.deadline,
                      measures=measures if measures is not None else row.measures)
        entry = h.advance(to_state, by=actor, note=note or "")
        _actor(c, actor)
        c.execute(sa.text(
            "UPDATE hazards SET state = :s, responsible = :r, measures = :m, deadline = :d, "
            "closed_on = CASE WHEN :s = 'closed' THEN CAST(:today AS date) ELSE NULL END WHERE id = :id"),
            {"s": h.state, "r": h.responsible, "m": h.measures, "d": h.deadline,
             "today": today or dt.date.today(), "id": row.id})
        c.execute(sa.text("INSERT INTO hazard_events (hazard_id, at, actor, from_state, to_state, note) "
                          "VALUES (:h, :at, :a, :f, :t, :n)"),
                  {"h": row.id, "at": entry.at, "a": actor, "f": entry.from_state, "t": entry.to_state,
                   "n": note})
    return h.state


def note_hazard(engine: Engine, ext_id: str, note: str, *, actor: str) -> None:
    """Record a supervision note (督办) on hazard ``ext_id``; its state does not change."""
    if not note or not note.strip():
        raise ValueError("a supervision note needs text; say what was checked or demanded")
    with engine.begin() as c:
        row = _hazard_row(c, ext_id)
        c.execute(sa.text("INSERT INTO hazard_events (hazard_id, actor, from_state, to_state, note) "
                          "VALUES (:h, :a, :f, NULL, :n)"), {"h": row.id, "a": actor, "f": row.state, "n": note})


def hazard_events(engine: Engine, ext_id: str) -> pd.DataFrame:
    """Return the history of hazard ``ext_id``, oldest first."""
    with engine.connect() as c:
        row = _hazard_row(c, ext_id)
        rows = c.execute(sa.text("SELECT at, actor, from_state, to_state, note FROM hazard_events "
                                 "WHERE hazard_id = :h ORDER BY at, id"), {"h": row.id}).all()
    cols = ["at", "actor", "from_state", "to_state", "note"]
    return pd.DataFrame({c: _obj(r[i] for r in rows) for i, c in enumerate(cols)})


_HAZARD_SQL = """
SELECT h.ext_id, h.title, h.state, h.responsible, h.deadline, h.measures, h.discovered_on, h.closed_on,
       rp.ext_id AS rp_ext_id, rp.name AS rp_name, rp.level AS rp_level,
       ST_X(coalesce(h.geom, rp.geom)) AS lon, ST_Y(coalesce(h.geom, rp.geom)) AS lat,
       u.code AS unit_code, u.name AS unit_name
FROM hazards h
LEFT JOIN risk_points rp ON rp.id = h.risk_point_id
LEFT JOIN LATERAL (
    SELECT a.code, a.name FROM admin_units a
    WHERE a.code = (rp.unit_code COLLATE "C")
       OR (a.geom IS NOT NULL AND coalesce(h.geom, rp.geom) IS NOT NULL
           AND ST_Intersects(a.geom, coalesce(h.geom, rp.geom)))
    ORDER BY (a.code = (rp.unit_code COLLATE "C")) DESC NULLS LAST,
             array_position(ARRAY['village', 'township', 'county', 'city', 'province']::text[], a.level::text)
    LIMIT 1) u ON true
ORDER BY h.ext_id
"""


def hazard_list(engine: Engine, *, overdue: bool = False, today: dt.date | None = None) -> pd.DataFrame:
    """Return every hazard (key columns in English), optionally only the overdue ones.

    Overdue: today is after the deadline and the hazard is not closed (销号).
    """
    today = today or dt.date.today()
    with engine.connect() as c:
        rows = c.execute(sa.text(_HAZARD_SQL)).mappings().all()
    cols = ["ext_id", "title", "state", "responsible", "deadline", "measures", "discovered_on", "closed_on",
            "rp_ext_id", "rp_name", "rp_level", "lon", "lat", "unit_code", "unit_name"]
    df = pd.DataFrame({c: _obj(r[c] for r in rows) for c in cols})
    df["state_zh"] = _obj(hz.label(s) for s in df["state"])
    df["overdue"] = pd.Series([d is not None and today > d and s != "closed"
                               for d, s in zip(df["deadline"], df["state"], strict=True)], dtype=bool)
    if overdue:
        df = df[df["overdue"]].reset_index(drop=True)
    return df


def hazard_lists(engine: Engine, *, today: dt.date | None = None) -> dict[str, pd.DataFrame]:
    """Return the three lists with Chinese headers: 隐患清单, 责任清单, 整改措施清单."""
    h = hazard_list(engine, today=today)

    def unit(code, name):
        if code is None:
            return None
        return f"{name}（{code}）" if name else code

    units = _obj(unit(c, n) for c, n in zip(h["unit_code"], h["unit_name"], strict=True))
    yes_no = _obj("是" if o else "否" for o in h["overdue"])
    hazards_list = pd.DataFrame({
        "隐患编号": h["ext_id"], "隐患名称": h["title"], "风险点编号": h["rp_ext_id"], "风险点名称": h["rp_name"],
        "风险等级": _obj(_level_zh(v) for v in h["rp_level"]), "状态": h["state_zh"],
        "发现日期": h["discovered_on"], "整改期限": h["deadline"], "销号日期": h["closed_on"],
        "所在单位": units, "经度": h["lon"], "纬度": h["lat"],
    })
    resp = pd.DataFrame({
        "隐患编号": h["ext_id"], "隐患名称": h["title"], "责任人": h["responsible"], "责任单位": units,
        "整改期限": h["deadline"], "状态": h["state_zh"], "是否超期": yes_no,
    })
    measures = pd.DataFrame({
        "隐患编号": h["ext_id"], "隐患名称": h["title"], "整改措施": h["measures"], "责任人": h["responsible"],
        "整改期限": h["deadline"], "状态": h["state_zh"], "销号日期": h["closed_on"],
    })
    return dict(zip(LIST_NAMES, (hazards_list, resp, measures), strict=True))


def export_lists(engine: Engine, path: str | Path, *, today: dt.date | None = None) -> list[Path]:
    """Write the three lists; return the files written.

    ``.xlsx``: one workbook, one sheet per list. ``.csv``: one UTF-8 (with BOM, so Excel
    shows the Chinese) file per list, named ``<stem>_<list>.csv`` beside ``path``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        raise ValueError(f"cannot export the lists to {path.name!r}; give a .xlsx (one sheet per list) "
                         "or .csv (one file per list) file name")
    lists = hazard_lists(engine, today=today)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".xlsx":
        with pd.ExcelWriter(path, engine="openpyxl") as xw:
            for name, df in lists.items():
                df.to_excel(xw, sheet_name=name, index=False)
        return [path]
    out = []
    for name, df in lists.items():
        p = path.with_name(f"{path.stem}_{name}.csv")
        df.to_csv(p, index=False, encoding="utf-8-sig")
        out.append(p)
    return out


# --- risk list -----------------------------------------------------------------------------------

def risk_list(engine: Engine, level: str | None = None, category: str | None = None) -> pd.DataFrame:
    """Return the stored risk points ranked by level (red first) then score (highest first).

    ``level`` and ``category`` filter (keys or Chinese labels); unassessed points come last.
    """
    pts = read_points(engine)
    if level is not None:
        key = vocab.lookup(vocab.RISK_LEVEL, level)
        if key is None:
            raise ValueError(f"level={level!r} is not a risk level; use one of {vocab.describe(vocab.RISK_LEVEL)}")
        pts = pts[pts["level"] == key]
    if category is not None:
        key = vocab.lookup(vocab.RISK_CATEGORY, category)
        if key is None:
            raise ValueError(f"category={category!r} is not a risk category; use one of "
                             f"{vocab.describe(vocab.RISK_CATEGORY)}")
        pts = pts[pts["category"] == key]
    df = pd.DataFrame(pts.drop(columns="geometry"))
    df["lon"] = pts.geometry.x.to_numpy()
    df["lat"] = pts.geometry.y.to_numpy()
    df["rank"] = [RANK.get(lv, 0) if isinstance(lv, str) else 0 for lv in df["level"]]
    df = df.sort_values(["rank", "score", "ext_id"], ascending=[False, False, True], na_position="last",
                        kind="stable").reset_index(drop=True)
    df["level_zh"] = _obj(_level_zh(v) for v in df["level"])
    df["category_zh"] = _obj(vocab.RISK_CATEGORY[v].zh if v in vocab.RISK_CATEGORY else v for v in df["category"])
    return df.drop(columns="rank")


# --- zoning --------------------------------------------------------------------------------------

def zone_slope(
    engine: Engine,
    dem_path: str | Path,
    breaks: Sequence[float],
    labels: Sequence[str],
    *,
    actor: str,
    hazard_type: str = "landslide",
    bounds: tuple[float, float, float, float] | None = None,
    mask_at_or_below: float | None = 0.0,
) -> pd.DataFrame:
    """Zone a DEM by slope and store one ``hazard_zones`` multipolygon per level.

    ``labels`` name the ``len(breaks) + 1`` slope classes, lowest first, as zone levels
    (low/medium/high or 低/中/高; aliases such as 'very_high' → high). Classes with the same
    level are stored together. Earlier slope zones (``ext_id`` 'slope:…') are replaced.

    Returns
    -------
    pandas.DataFrame
        One row per level: ``level``, ``classes``, ``area_m2`` (raster cell counts × cell
        areas, :func:`risk.zoning.class_areas`) and ``stored_area_m2`` (the stored polygons'
        geodesic area in PostGIS), ``ext_id``.
    """
    from emgis.risk.zoning import class_areas, read_dem, slope_zones

    if len(labels) != len(breaks) + 1:
        raise ValueError(f"{len(breaks)} breaks make {len(breaks) + 1} slope classes but {len(labels)} labels "
                         "were given; give one label per class, lowest slope first")
    levels = []
    for lab in labels:
        key = vocab.lookup(vocab.ZONE_LEVEL, lab)
        if key is None:
            raise ValueError(f"label {lab!r} is not a zone level; use one of {vocab.describe(vocab.ZONE_LEVEL)}")
        levels.append(key)
    htype = vocab.lookup(vocab.ZONE_HAZARD, hazard_type)
    if htype is None:
        raise ValueError(f"hazard_type={hazard_type!r} is not a zone hazard; use one of "
                         f"{vocab.describe(vocab.ZONE_HAZARD)}")
    dem = read_dem(dem_path, bounds=bounds, mask_at_or_below=mask_at_or_below)
    classes, polys = slope_zones(dem, breaks, labels=levels)
    raster_area = class_areas(classes)
    src = Path(dem_path).name
    out_rows = []
    with engine.begin() as c:
        _actor(c, actor, bulk=True)
        c.execute(sa.text("DELETE FROM hazard_zones WHERE ext_id LIKE :p"), {"p": SLOPE_PREFIX + "%"})
        for lv in dict.fromkeys(levels):
            cls = [i + 1 for i, x in enumerate(levels) if x == lv]
            parts = polys[polys["class"].isin(cls)].geometry.to_numpy()
            area = float(sum(raster_area.get(k, 0.0) for k in cls))
            if not len(parts):
                out_rows.append({"level": lv, "classes": cls, "area_m2": area, "stored_area_m2": 0.0, "ext_id": None})
                continue
            geom = shapely.union_all(parts) if len(cls) > 1 else shapely.MultiPolygon(
                [q for p in parts for q in (p.geoms if p.geom_type == "MultiPolygon" else [p])])
            geom = _multipolygon(geom)
            ranges = []
            for k in cls:
                lo = breaks[k - 2] if k > 1 else None
                hi = breaks[k - 1] if k <= len(breaks) else None
                ranges.append(f"<{hi:g}°" if lo is None else f"≥{lo:g}°" if hi is None else f"{lo:g}–{hi:g}°")
            ext_id = f"{SLOPE_PREFIX}{lv}"
            stored = c.execute(sa.text(
                "INSERT INTO hazard_zones (ext_id, hazard_type, level, source, geom) VALUES "
                "(:e, :t, :l, :s, ST_Multi(ST_MakeValid(ST_GeomFromWKB(:wkb, 4326)))) "
                "RETURNING ST_Area(geom::geography)"),
                {"e": ext_id, "t": htype, "l": lv, "wkb": shapely.to_wkb(geom),
                 "s": f"slope of {src}, classes {', '.join(ranges)}"}).scalar_one()
            out_rows.append({"level": lv, "classes": cls, "area_m2": area, "stored_area_m2": float(stored),
                             "ext_id": ext_id})
        _bulk_done(c, actor, "compute", "hazard_zones", SLOPE_PREFIX.rstrip(":"),
                   f"slope zones from {src}: breaks {list(breaks)}, levels {levels}")
    return pd.DataFrame(out_rows)


def stored_zone_areas(engine: Engine) -> dict[str, float]:
    """Return ``{level: geodesic area m²}`` of the stored slope zones."""
    with engine.connect() as c:
        rows = c.execute(sa.text("SELECT level, sum(ST_Area(geom::geography)) FROM hazard_zones "
                                 "WHERE ext_id LIKE :p GROUP BY level"), {"p": SLOPE_PREFIX + "%"}).all()
    return {r[0]: float(r[1]) for r in rows}


__all__ = [
    "CandidateImport", "compute_areas", "export_lists", "hazard_events", "hazard_list", "hazard_lists",
    "import_candidates", "move_hazard", "note_hazard", "read_areas", "read_points", "relevel_points",
    "risk_list", "stored_zone_areas", "zone_slope",
]

