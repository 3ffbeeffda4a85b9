"""Risk points and coloured areas in PostGIS: candidate import, reading, colouring, re-banding.

Why a module of its own: this is the database side of the four-colour map (domain.md §2),
the data every other risk module starts from. The pure modules do the work
(:mod:`risk.candidates`, :mod:`risk.methods`, :mod:`risk.aggregate`); the functions here read
their inputs from the tables, write their results back in one transaction each, and say who
did it (``emgis.actor``, picked up by the audit trigger). The hazard loop lives in
:mod:`risk.hazard_log`, the lists in :mod:`risk.lists`, the slope zones in :mod:`risk.zoning`.

* :func:`import_candidates` — OSM candidates → ``risk_points`` (idempotent by ``ext_id``;
  rows already there are left as they are, so a planner's refined scores survive a re-run).
* :func:`read_points`, :func:`read_areas` — the stored points and areas as GeoDataFrames.
* :func:`compute_areas` — points → ``risk_areas``: one run per kind (admin | grid) is kept;
  every row records the rule that coloured it.
* :func:`relevel_points` — re-band every stored score with the bands in force.

Bulk writes (candidates, areas) switch the per-row audit trigger off (``emgis.bulk``) and
write one summary ``audit_log`` entry, as the loaders do; re-banding is audited row by row by
the trigger.
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
from emgis.risk._db import bulk_done, multipolygon, obj, set_actor
from emgis.risk.aggregate import COUNT_COLUMNS, aggregate, make_grid
from emgis.risk.candidates import find_candidates
from emgis.risk.levels import LEVEL_KEYS
from emgis.risk.methods import band_tables, relevel_frame

KINDS = ("admin", "grid")


def _study_area(c: Connection) -> shapely.Geometry | None:
    row = c.execute(sa.text(
        "SELECT ST_AsBinary(geom) FROM study_area ORDER BY id DESC LIMIT 1")).first()
    return None if row is None else shapely.from_wkb(bytes(row[0]))


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


def import_candidates(engine: Engine, osm_path: str | Path, *, actor: str,
                      norms: Norms | None = None, clip: bool = True) -> CandidateImport:
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
            inside = shapely.contains_xy(area, cand.geometry.x.to_numpy(),
                                         cand.geometry.y.to_numpy())
            cand = cand[inside].reset_index(drop=True)
        outside = found - len(cand)
        set_actor(c, actor, bulk=True)
        load_id = c.execute(sa.text(
            "INSERT INTO loads (layer, file, rows, mode, actor) "
            "VALUES ('risk_points', :f, :n, 'append', :a) RETURNING id"),
            {"f": str(Path(osm_path).resolve()), "n": len(cand), "a": actor}).scalar_one()
        rows = []
        for r in cand.itertuples(index=False):
            rows.append({
                "ext_id": r.ext_id, "name": r.name or r.kind_zh, "category": r.category,
                "method": r.method,
                "inputs": json.dumps({k: float(v) for k, v in dict(r.inputs).items()}),
                "score": None if pd.isna(r.score) else float(r.score), "level": r.level,
                "band_version": r.band_version, "load_id": load_id,
                "wkb": shapely.to_wkb(r.geometry),
            })
        inserted_ids: list[str] = []
        if rows:
            stmt = sa.text(
                "INSERT INTO risk_points (ext_id, name, category, method, inputs, score, level, "
                "band_version, load_id, geom) VALUES (:ext_id, :name, :category, :method, "
                "CAST(:inputs AS jsonb), :score, :level, :band_version, :load_id, "
                "ST_GeomFromWKB(:wkb, 4326)) ON CONFLICT (ext_id) DO NOTHING RETURNING ext_id")
            for row in rows:  # RETURNING tells which were new
                got = c.execute(stmt, row).scalar()
                if got is not None:
                    inserted_ids.append(got)
        c.execute(sa.text("UPDATE loads SET rows = :n WHERE id = :i"),
                  {"n": len(inserted_ids), "i": load_id})
        new = cand[cand["ext_id"].isin(inserted_ids)]
        by_level = ({k: int((new["level"] == k).sum()) for k in LEVEL_KEYS} if len(new)
                    else {k: 0 for k in LEVEL_KEYS})
        bulk_done(c, actor, "load", "risk_points", str(load_id),
                  f"{len(inserted_ids)} OSM candidate risk points from {Path(osm_path).name} "
                  f"({len(cand) - len(inserted_ids)} already stored, {outside} outside the "
                  "study area)")
    return CandidateImport(str(osm_path), found, outside, len(inserted_ids),
                           len(cand) - len(inserted_ids), by_level, load_id)


# --- reading points and areas --------------------------------------------------------------------

def read_points(engine: Engine, *, assessed_only: bool = False) -> gpd.GeoDataFrame:
    """Return the stored risk points (EPSG:4326) with their inputs as dicts."""
    where = "WHERE level IS NOT NULL" if assessed_only else ""
    with engine.connect() as c:
        rows = c.execute(sa.text(
            "SELECT id, ext_id, name, category, method, inputs, score, level, band_version, "
            f"unit_code, ST_AsBinary(geom) FROM risk_points {where} ORDER BY id")).all()
    cols = ["id", "ext_id", "name", "category", "method", "inputs", "score", "level",
            "band_version", "unit_code"]
    data = {c: obj(r[i] for r in rows) for i, c in enumerate(cols)}
    data["id"] = pd.Series([r[0] for r in rows], dtype="int64")
    data["score"] = pd.Series([np.nan if r[6] is None else float(r[6]) for r in rows],
                              dtype=float)
    geoms = [shapely.from_wkb(bytes(r[10])) for r in rows]
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"),
                            crs="EPSG:4326")


def read_areas(engine: Engine, kind: str | None = None) -> gpd.GeoDataFrame:
    """Return the stored risk areas of ``kind`` (the newest kind stored when None), with names."""
    with engine.connect() as c:
        if kind is None:
            kind = c.execute(sa.text("SELECT unit_kind FROM risk_areas "
                                     "ORDER BY computed_at DESC, id DESC LIMIT 1")).scalar()
            if kind is None:
                return _empty_areas()
        rows = c.execute(sa.text(
            "SELECT r.run_id, r.unit_kind, r.unit_code, coalesce(a.name, r.unit_code), r.level, "
            "r.rule, r.n_points, r.counts, r.risk_index, r.population, ST_AsBinary(r.geom) "
            "FROM risk_areas r "
            "LEFT JOIN admin_units a ON r.unit_kind = 'admin' AND a.code = r.unit_code "
            "WHERE r.unit_kind = :k ORDER BY r.id"), {"k": kind}).all()
    if not rows:
        return _empty_areas()
    counts = {f"n_{k}": pd.Series([int((r[7] or {}).get(k, 0)) for r in rows], dtype="int64")
              for k in LEVEL_KEYS}
    out = gpd.GeoDataFrame({
        "run_id": obj(r[0] for r in rows), "unit_kind": obj(r[1] for r in rows),
        "unit_code": obj(r[2] for r in rows), "name": obj(r[3] for r in rows),
        "level": obj(r[4] for r in rows), "rule": obj(r[5] for r in rows),
        "n_points": pd.Series([r[6] for r in rows], dtype="int64"),
        **counts,
        "risk_index": pd.Series([np.nan if r[8] is None else r[8] for r in rows], dtype=float),
        "population": pd.Series([np.nan if r[9] is None else r[9] for r in rows], dtype=float),
    }, geometry=gpd.GeoSeries([shapely.from_wkb(bytes(r[10])) for r in rows], crs="EPSG:4326"),
        crs="EPSG:4326")
    return out


def _empty_areas() -> gpd.GeoDataFrame:
    cols = ["run_id", "unit_kind", "unit_code", "name", "level", "rule"]
    return gpd.GeoDataFrame({c: obj([]) for c in cols},
                            geometry=gpd.GeoSeries([], crs="EPSG:4326"), crs="EPSG:4326")


# --- areas ---------------------------------------------------------------------------------------

def _admin_areas(c: Connection, level: str) -> gpd.GeoDataFrame:
    key = vocab.lookup(vocab.ADMIN_LEVEL, level)
    if key is None:
        raise ValueError(f"level={level!r} is not an admin level; use one of "
                         f"{vocab.describe(vocab.ADMIN_LEVEL)}")
    rows = c.execute(sa.text("SELECT code, name, ST_AsBinary(geom) FROM admin_units "
                             "WHERE level = :l AND geom IS NOT NULL ORDER BY code"),
                     {"l": key}).all()
    if not rows:
        raise ValueError(f"no {key} ({vocab.ADMIN_LEVEL[key].zh}) admin units with boundaries "
                         "are loaded; load them with `emgis load admin_units FILE`, or colour "
                         "a grid (--grid 1000)")
    codes = [r[0] for r in rows]
    pop = _population(c, codes)
    return gpd.GeoDataFrame(
        {"code": obj(codes), "name": obj(r[1] for r in rows),
         "population": pd.Series([pop.get(code, np.nan) for code in codes], dtype=float)},
        geometry=gpd.GeoSeries([shapely.from_wkb(bytes(r[2])) for r in rows], crs="EPSG:4326"),
        crs="EPSG:4326")


def _population(c: Connection, codes: Sequence[str]) -> dict[str, float]:
    """Population of ``codes`` in the latest year any of them has figures for."""
    year = latest_census_year(c, codes)
    if year is None:
        return {}
    rows = c.execute(sa.text("SELECT code, population FROM population "
                             "WHERE year = :y AND code = ANY(:c)"),
                     {"y": year, "c": list(codes)}).all()
    return {r[0]: float(r[1]) for r in rows}


def _grid_areas(c: Connection, points: gpd.GeoDataFrame, cell_m: float) -> gpd.GeoDataFrame:
    boundary = _study_area(c)
    if boundary is None:
        if not len(points):
            raise ValueError("there is no study area and no assessed risk point to size the "
                             "grid; run `emgis init --boundary FILE` or import risk points first")
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
                raise ValueError(f"rule='population_weighted' needs the population of every "
                                 f"{level} unit; none is loaded for {', '.join(missing)}…; load "
                                 "census figures (`emgis load census FILE --year YYYY`) or use "
                                 "--rule max")
            pop_col = "population" if has_pop else None
            tag = f"admin-{vocab.lookup(vocab.ADMIN_LEVEL, level)}"
        else:
            if rule == "population_weighted":
                raise ValueError("rule='population_weighted' needs population per area; grid "
                                 "cells have none. Use admin units (--admin village) or "
                                 "--rule max")
            areas = _grid_areas(c, points, cell_m)
            pop_col = None
            tag = f"grid{int(cell_m)}"
        result = aggregate(points, areas, rule=rule, code_col="code", population_col=pop_col)
        run_id = f"{tag}-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"[:40]
        result.insert(0, "run_id", run_id)
        result.insert(1, "unit_kind", kind)
        result.insert(3, "name",
                      obj(areas["name"]) if "name" in areas.columns else obj(areas["code"]))
        set_actor(c, actor, bulk=True)
        c.execute(sa.text("DELETE FROM risk_areas WHERE unit_kind = :k"), {"k": kind})
        rows = []
        for r in result.itertuples(index=False):
            geom = multipolygon(r.geometry)
            if geom is None:
                continue
            counts = {k: int(getattr(r, col))
                      for k, col in zip(LEVEL_KEYS, COUNT_COLUMNS, strict=True)}
            pop = getattr(r, "population", None)
            rows.append({
                "run": run_id, "kind": kind, "code": r.unit_code, "level": r.level, "rule": rule,
                "n": int(r.n_points), "counts": json.dumps(counts), "idx": float(r.risk_index),
                "pop": None if pop is None or pd.isna(pop) else float(pop),
                "wkb": shapely.to_wkb(geom),
            })
        if rows:
            c.execute(sa.text(
                "INSERT INTO risk_areas (run_id, unit_kind, unit_code, level, rule, n_points, "
                "counts, risk_index, population, geom) VALUES (:run, :kind, :code, :level, "
                ":rule, :n, CAST(:counts AS jsonb), :idx, :pop, "
                "ST_Multi(ST_GeomFromWKB(:wkb, 4326)))"), rows)
        bulk_done(c, actor, "compute", "risk_areas", run_id,
                  f"{len(rows)} {kind} areas coloured by rule {rule} from {len(points)} "
                  f"assessed risk points ({result.attrs.get('points_outside', 0)} outside "
                  "every area)")
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
    df = pd.DataFrame({"method": pts.loc[sel, "method"].astype(object),
                       "score": pts.loc[sel, "score"],
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
            set_actor(c, actor)
            c.execute(sa.text("UPDATE risk_points SET level = :level, band_version = :bv "
                              "WHERE id = :id"), updates)
    return int(changed)


__all__ = [
    "KINDS", "CandidateImport", "compute_areas", "import_candidates", "read_areas", "read_points",
    "relevel_points",
]
