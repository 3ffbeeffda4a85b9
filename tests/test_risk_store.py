"""Risk data through PostGIS: OSM candidates, coloured areas, re-banding, the 隐患 loop in the
database, the three lists, slope zones and the `emgis risk` / `emgis hazard` commands.

Real inputs only where the issue names them: the Liechtenstein and Kyoto OSM extracts and the
ASTER tile in ../shared/data; admin units and hazards are built here around those points.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely
import sqlalchemy as sa
from conftest import shared
from typer.testing import CliRunner

from emgis.layers.load.study_area import StudyArea, save_study_area
from emgis.layers.load.write import load_layer
from emgis.layers.norms import Norm, default_norms
from emgis.risk import hazards as hz
from emgis.risk.hazard_log import HazardFields, hazard_list, move_hazard, note_hazard
from emgis.risk.levels import LEVEL_KEYS, RANK
from emgis.risk.lists import LIST_NAMES, export_lists, hazard_lists, risk_list
from emgis.risk.methods import band_tables
from emgis.risk.store import (
    compute_areas,
    import_candidates,
    read_areas,
    read_points,
    relevel_points,
)
from emgis.risk.zoning import stored_zone_areas, zone_slope

pytestmark = [pytest.mark.postgis, pytest.mark.shared_data]

LIE = "osm/liechtenstein_osm2pgsql_2013.osm.pbf"
KYOTO = "osm/kyoto_jp_sumo_saga.osm.gz"
DEM = "dem/ASTGTMV003_N36E122_dem.tif"


def _scalar(engine, sql, **params):
    with engine.connect() as c:
        return c.execute(sa.text(sql), params).scalar()


def _rows(engine, sql, **params):
    with engine.connect() as c:
        return c.execute(sa.text(sql), params).all()


def _max_level(levels) -> str | None:
    return max(levels, key=RANK.__getitem__) if levels else None


def _check_max_rule(points: gpd.GeoDataFrame, areas: gpd.GeoDataFrame, *, metric=None) -> None:
    """Every area's level is the highest level of the points inside it; counts add up."""
    pts = points.to_crs(metric) if metric else points
    ars = areas.to_crs(metric) if metric else areas
    seen = np.zeros(len(pts), dtype=bool)
    total = 0
    for i in range(len(ars)):
        geom = ars.geometry.iloc[i]
        inside = shapely.intersects(geom, pts.geometry.to_numpy()) & ~seen
        seen |= inside
        lv = list(pts["level"].to_numpy()[inside])
        assert areas["level"].iloc[i] == _max_level(lv), areas["unit_code"].iloc[i]
        assert int(areas["n_points"].iloc[i]) == len(lv)
        for k in LEVEL_KEYS:
            assert int(areas[f"n_{k}"].iloc[i]) == lv.count(k)
        total += len(lv)
    assert int(areas["n_points"].sum()) == total == int(seen.sum())


def _bbox_study_area(engine, points: gpd.GeoDataFrame, epsg: int,
                     margin: float = 0.01) -> shapely.Polygon:
    minx, miny, maxx, maxy = points.total_bounds
    box = shapely.box(minx - margin, miny - margin, maxx + margin, maxy + margin)
    save_study_area(engine, StudyArea("test area", None, shapely.MultiPolygon([box]), epsg,
                                      "EPSG:4326", 0.0),
                    boundary_file="test", actor="tester")
    return box


def _admin_2x2(tmp_path, box: shapely.Polygon,
               prefix: str = "3305220010") -> tuple[list[str], object]:
    """A 2×2 split of ``box`` as four village units in a GeoJSON file."""
    minx, miny, maxx, maxy = box.bounds
    mx, my = (minx + maxx) / 2, (miny + maxy) / 2
    cells = [(minx, my, mx, maxy), (mx, my, maxx, maxy), (minx, miny, mx, my), (mx, miny, maxx, my)]
    feats, codes = [], []
    for i, b in enumerate(cells):
        code = f"{prefix}{i + 1:02d}"
        codes.append(code)
        feats.append({"type": "Feature",
                      "properties": {"code": code, "name": f"测试村{i + 1}", "level": "village",
                                      "parent_code": prefix[:9]},
                      "geometry": shapely.geometry.mapping(shapely.box(*b))})
    path = tmp_path / "villages.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats},
                               ensure_ascii=False), encoding="utf-8")
    return codes, path


# --- candidates, areas, re-banding ---------------------------------------------------------------

def test_candidates_coloured_to_admin_units_and_grid_then_rebanded(db, tmp_path):
    eng = db.engine
    res = import_candidates(eng, shared(LIE), actor="tester")
    assert res.found > 50 and res.inserted == res.found and res.outside == 0
    assert sum(res.by_level.values()) == res.inserted
    again = import_candidates(eng, shared(LIE), actor="tester")
    assert again.inserted == 0 and again.existing == res.found
    assert _scalar(eng, "SELECT count(*) FROM risk_points") == res.found
    assert _scalar(eng,
                   "SELECT count(*) FROM risk_points "
                   "WHERE ext_id LIKE 'osm:%' AND level IS NOT NULL "
                   "AND score IS NOT NULL AND band_version IS NOT NULL "
                   "AND inputs IS NOT NULL") == res.found
    # fuel stations keep their default inputs and the LEC score 3 × 6 × 15
    fuel = _rows(eng,
                 "SELECT inputs, score, level FROM risk_points WHERE category = 'fuel_station'")
    assert fuel and all(r[0] == {"L": 3.0, "E": 6.0, "C": 15.0} and r[1] == 270 and r[2] == "orange"
                        for r in fuel)
    loads = _rows(eng,
                  "SELECT actor, detail FROM audit_log "
                  "WHERE table_name = 'risk_points' AND action = 'load'")
    assert len(loads) == 2 and loads[0][0] == "tester"

    points = read_points(eng)
    box = _bbox_study_area(eng, points, 32632)
    # a study area now clips: nothing of Kyoto lies in Liechtenstein
    kyoto = import_candidates(eng, shared(KYOTO), actor="tester")
    assert kyoto.found > 0 and kyoto.outside == kyoto.found and kyoto.inserted == 0

    codes, path = _admin_2x2(tmp_path, box)
    load_layer(eng, "admin_units", path, actor="tester")
    with eng.begin() as c:  # two census years: the latest one is used
        for i, code in enumerate(codes):
            c.execute(sa.text("INSERT INTO population (code, year, population) "
                              "VALUES (:c, 2010, 1), (:c, 2020, :p)"),
                      {"c": code, "p": 1000 * (i + 1)})

    admin = compute_areas(eng, kind="admin", level="village", rule="max", actor="tester")
    assert list(admin["unit_code"]) == codes and (admin["rule"] == "max").all()
    assert list(admin["population"]) == [1000, 2000, 3000, 4000]
    _check_max_rule(points, admin)
    assert int(admin["n_points"].sum()) == len(points) and admin.attrs["points_outside"] == 0
    stored = read_areas(eng, "admin")
    assert len(stored) == 4 and stored["run_id"].nunique() == 1 and (stored["rule"] == "max").all()
    assert (list(stored["level"]) == list(admin["level"])
            and list(stored["name"]) == [f"测试村{i}" for i in range(1, 5)])
    _check_max_rule(points, stored)
    assert _scalar(eng,
                   "SELECT count(*) FROM audit_log "
                   "WHERE table_name = 'risk_areas' AND action = 'compute'") == 1

    grid = compute_areas(eng, kind="grid", cell_m=1000, actor="tester")
    assert grid["unit_code"].is_unique and len(grid) > 50
    _check_max_rule(points, grid, metric=32632)
    first_run = grid.attrs["run_id"]
    grid2 = compute_areas(eng, kind="grid", cell_m=2000, rule="count_weighted", actor="tester")
    runs = _rows(eng,
                 "SELECT unit_kind, run_id, rule, count(*) FROM risk_areas "
                 "GROUP BY 1, 2, 3 ORDER BY 1")
    assert [(r[0], r[1], r[2]) for r in runs] == [("admin", admin.attrs["run_id"], "max"),
                                                  ("grid", grid2.attrs["run_id"], "count_weighted")]
    assert first_run != grid2.attrs["run_id"] and runs[1][3] == len(grid2)

    pw = compute_areas(eng, kind="admin", rule="population_weighted", actor="tester")
    assert (pw["rule"] == "population_weighted").all()
    assert set(r[0] for r in _rows(eng,
                                   "SELECT rule FROM risk_areas WHERE unit_kind = 'admin'")) == {
        "population_weighted"}
    with pytest.raises(ValueError, match="grid cells have none"):
        compute_areas(eng, kind="grid", rule="population_weighted", actor="tester")
    with pytest.raises(ValueError, match="no township"):
        compute_areas(eng, kind="admin", level="township", actor="tester")

    # re-banding: lower the LEC red threshold to 250; 250 < D <= 320 turns red
    assert relevel_points(eng, default_norms(), actor="tester") == 0
    norms = default_norms().with_overrides([Norm("risk.lec.red_above", 250.0, "", "", "", "L")])
    pts = read_points(eng)
    lec = pts["method"] == "LEC"
    expected = int((lec & (pts["score"] > 250) & (pts["score"] <= 320)).sum())
    assert expected >= 16  # at least the fuel stations (270)
    assert relevel_points(eng, norms, actor="tester") == expected
    new_version = band_tables(norms)["LEC"].version
    assert _scalar(eng,
                   "SELECT count(*) FROM risk_points "
                   "WHERE category = 'fuel_station' AND level = 'red' "
                   "AND band_version = :v", v=new_version) == len(fuel)
    # every LEC point now names the new bands (an audited update); matrix points are untouched
    assert _scalar(eng,
                   "SELECT count(*) FROM audit_log "
                   "WHERE table_name = 'risk_points' AND action = 'update' "
                   "AND actor = 'tester'") == int(lec.sum())
    assert _scalar(eng,
                   "SELECT count(*) FROM risk_points WHERE method = 'LEC' AND band_version = :v",
                   v=new_version) == int(lec.sum())
    assert relevel_points(eng, norms, actor="tester") == 0
    assert relevel_points(eng, default_norms(), actor="tester") == expected

    ranked = risk_list(eng)
    ranks = [RANK[v] for v in ranked["level"]]
    assert ranks == sorted(ranks, reverse=True)
    for _, grp in ranked.groupby("level"):
        assert list(grp["score"]) == sorted(grp["score"], reverse=True)
    oranges = risk_list(eng, level="较大")
    assert len(oranges) == (read_points(eng)["level"] == "orange").sum() > 0
    assert (oranges["level"] == "orange").all() and (oranges["level_zh"] == "较大风险").all()
    assert (risk_list(eng, category="加油站")["category"] == "fuel_station").all()
    with pytest.raises(ValueError, match="not a risk level"):
        risk_list(eng, level="green")


def test_kyoto_candidates_on_a_grid_over_the_points(db):
    eng = db.engine
    res = import_candidates(eng, shared(KYOTO), actor="tester")
    assert res.inserted == res.found > 50
    points = read_points(eng)
    grid = compute_areas(eng, kind="grid", cell_m=1000, actor="tester")
    assert grid.attrs["points_outside"] == 0 and int(grid["n_points"].sum()) == len(points)
    _check_max_rule(points, grid, metric=grid.geometry.estimate_utm_crs())
    assert _scalar(eng, "SELECT count(*) FROM risk_areas WHERE unit_kind = 'grid'") == len(grid)


# --- hazards -------------------------------------------------------------------------------------

def _add_hazard(engine, ext_id: str, state: str, *, responsible="张三", measures="加装防护栏",
                deadline=None, geom=None, rp_ext_id=None) -> None:
    with engine.begin() as c:
        c.execute(sa.text(
            "INSERT INTO hazards (ext_id, title, state, responsible, measures, deadline, "
            "discovered_on, risk_point_id, geom) "
            "VALUES (:e, :t, :s, :r, :m, :d, DATE '2026-01-05', "
            "(SELECT id FROM risk_points WHERE ext_id = :rp), ST_GeomFromText(:g, 4326))"),
            {"e": ext_id, "t": f"隐患 {ext_id}", "s": state, "r": responsible, "m": measures,
             "d": deadline, "g": geom, "rp": rp_ext_id})


def test_hazard_lifecycle_refuses_illegal_moves_and_records_legal_ones(db):
    eng = db.engine
    pairs = list(itertools.product(hz.STATES, hz.STATES))
    for i, (s, _) in enumerate(pairs):
        _add_hazard(eng, f"H{i:02d}", s)
    audit_before = _scalar(eng, "SELECT count(*) FROM audit_log")
    legal = 0
    for i, (s, t) in enumerate(pairs):
        ext = f"H{i:02d}"
        if t not in hz.ALLOWED[s]:
            with pytest.raises(hz.IllegalTransition) as exc:
                move_hazard(eng, ext, t, actor="inspector")
            msg = str(exc.value)
            assert msg == str(hz.IllegalTransition(s, t))
            assert "cannot move a hazard" in msg and hz.label(s) in msg
            assert ("is final" in msg) if s == "closed" else ("allowed next" in msg)
            assert _scalar(eng, "SELECT state FROM hazards WHERE ext_id = :e", e=ext) == s
            assert _scalar(eng,
                           "SELECT count(*) FROM hazard_events e "
                           "JOIN hazards h ON h.id = e.hazard_id "
                           "WHERE h.ext_id = :e", e=ext) == 0
            continue
        legal += 1
        assert move_hazard(eng, ext, hz.label(t), actor="inspector", note=f"{s}→{t}") == t
        ev = _rows(eng, "SELECT e.actor, e.from_state, e.to_state, e.note FROM hazard_events e "
                        "JOIN hazards h ON h.id = e.hazard_id WHERE h.ext_id = :e", e=ext)
        assert ev == [("inspector", s, t, f"{s}→{t}")]
        hid = _scalar(eng, "SELECT id FROM hazards WHERE ext_id = :e", e=ext)
        audit = _rows(eng,
                      "SELECT actor, before ->> 'state', after ->> 'state', after ->> 'closed_on' "
                      "FROM audit_log "
                      "WHERE table_name = 'hazards' AND action = 'update' AND row_key = :k",
                      k=str(hid))
        assert len(audit) == 1 and audit[0][:3] == ("inspector", s, t)
        assert ((audit[0][3] == dt.date.today().isoformat()) if t == "closed"
                else audit[0][3] is None)
    assert legal == sum(len(v) for v in hz.ALLOWED.values())
    assert _scalar(eng, "SELECT count(*) FROM audit_log") == audit_before + legal
    assert _scalar(eng, "SELECT count(*) FROM hazard_events") == legal

    # a whole loop on one hazard, closing needs responsible person and measures
    _add_hazard(eng, "LOOP", "discovered", responsible=None, measures=None)
    for t in ("confirmed", "rectifying", "under_control", "rectifying"):
        move_hazard(eng, "LOOP", t, actor="inspector")
    with pytest.raises(hz.MissingForClose, match="responsible and measures are missing"):
        move_hazard(eng, "LOOP", "closed", actor="inspector")
    assert _scalar(eng, "SELECT state FROM hazards WHERE ext_id = 'LOOP'") == "rectifying"
    note_hazard(eng, "LOOP", "督办：限期三日内完成", actor="supervisor")
    assert _scalar(eng, "SELECT state FROM hazards WHERE ext_id = 'LOOP'") == "rectifying"
    move_hazard(eng, "LOOP", "销号", actor="inspector",
                fields=HazardFields(responsible="李四", measures="更换老化线路"))
    row = _rows(eng,
                "SELECT state, responsible, measures, closed_on FROM hazards "
                "WHERE ext_id = 'LOOP'")[0]
    assert row == ("closed", "李四", "更换老化线路", dt.date.today())
    hist = _rows(eng,
                 "SELECT actor, from_state, to_state, note FROM hazard_events e JOIN hazards h "
                 "ON h.id = e.hazard_id WHERE h.ext_id = 'LOOP' ORDER BY e.id")
    assert [(r[1], r[2]) for r in hist] == [
        ("discovered", "confirmed"), ("confirmed", "rectifying"), ("rectifying", "under_control"),
        ("under_control", "rectifying"), ("rectifying", None), ("rectifying", "closed")]
    assert hist[4] == ("supervisor", "rectifying", None, "督办：限期三日内完成")
    note_hazard(eng, "LOOP", "销号后回访", actor="supervisor")  # notes are allowed after close-out
    with pytest.raises(LookupError, match="no hazard 'NOPE'"):
        move_hazard(eng, "NOPE", "confirmed", actor="x")
    with pytest.raises(hz.IllegalTransition, match="to 'bogus'"):
        move_hazard(eng, "LOOP", "bogus", actor="x")


# --- the three lists -----------------------------------------------------------------------------

def test_three_lists_export_to_xlsx_and_csv_with_chinese_headers(db, tmp_path):
    eng = db.engine
    with eng.begin() as c:
        c.execute(sa.text("INSERT INTO admin_units (code, name, level, geom) VALUES "
                          "('330522001001', '城东村', 'village', ST_Multi(ST_MakeEnvelope(119.9, "
                          "31.0, 120.0, 31.1, 4326)))"))
        c.execute(sa.text("INSERT INTO risk_points (ext_id, name, category, method, score, level, "
                          "geom) VALUES "
                          "('RP1', '加油站甲', 'fuel_station', 'LEC', 270, 'orange', "
                          "ST_Point(119.95, 31.05, 4326))"))
    _add_hazard(eng, "Y1", "rectifying", deadline=dt.date(2020, 1, 1), rp_ext_id="RP1")
    _add_hazard(eng, "Y2", "closed", deadline=dt.date(2020, 1, 1), geom="POINT(119.91 31.01)")
    _add_hazard(eng, "Y3", "discovered", responsible=None, measures=None,
                deadline=dt.date(2999, 1, 1))
    lists = hazard_lists(eng, today=dt.date(2026, 6, 1))
    assert tuple(lists) == LIST_NAMES == ("隐患清单", "责任清单", "整改措施清单")
    resp = lists["责任清单"].set_index("隐患编号")
    assert list(lists["责任清单"].columns) == ["隐患编号", "隐患名称", "责任人", "责任单位",
                                               "整改期限", "状态", "是否超期"]
    assert (resp.loc["Y1", "责任单位"] == "城东村（330522001001）"
            and resp.loc["Y1", "是否超期"] == "是")
    assert (resp.loc["Y2", "责任单位"] == "城东村（330522001001）"
            and resp.loc["Y2", "是否超期"] == "否")
    assert resp.loc["Y3", "责任人"] is None and resp.loc["Y3", "是否超期"] == "否"
    hl = lists["隐患清单"].set_index("隐患编号")
    assert hl.loc["Y1", "风险点名称"] == "加油站甲" and hl.loc["Y1", "风险等级"] == "较大风险"
    assert hl.loc["Y1", "状态"] == "整改"
    assert list(hazard_list(eng, overdue=True, today=dt.date(2026, 6, 1))["ext_id"]) == ["Y1"]

    (xlsx,) = export_lists(eng, tmp_path / "lists.xlsx")
    wb = openpyxl.load_workbook(xlsx, read_only=True)
    assert wb.sheetnames == list(LIST_NAMES)
    for name, df in lists.items():
        rows = list(wb[name].iter_rows(values_only=True))
        assert list(rows[0]) == list(df.columns) and len(rows) == 4
    wb.close()
    back = pd.read_excel(xlsx, sheet_name="整改措施清单")
    assert list(back.columns) == ["隐患编号", "隐患名称", "整改措施", "责任人", "整改期限", "状态",
                                  "销号日期"]
    assert set(back["整改措施"].dropna()) == {"加装防护栏"}

    csvs = export_lists(eng, tmp_path / "lists.csv")
    assert [p.name for p in csvs] == [f"lists_{n}.csv" for n in LIST_NAMES]
    for p, (name, df) in zip(csvs, lists.items(), strict=True):
        assert p.read_bytes()[:3] == b"\xef\xbb\xbf", "Excel needs the BOM to read Chinese"
        got = pd.read_csv(p, encoding="utf-8-sig")
        assert list(got.columns) == list(df.columns) and len(got) == 3, name
    with pytest.raises(ValueError, match=r"\.xlsx"):
        export_lists(eng, tmp_path / "lists.json")


# --- slope zones ---------------------------------------------------------------------------------

def test_slope_zones_of_the_real_dem_stored_with_raster_areas(db):
    from emgis.risk.zoning import class_areas, read_dem, reclassify, slope

    eng = db.engine
    bounds = (122.30, 36.85, 122.50, 37.00)
    out = zone_slope(eng, shared(DEM), [8, 15, 25], ["low", "medium", "high", "very_high"],
                     actor="tester", bounds=bounds)
    assert (list(out["level"]) == ["low", "medium", "high"]
            and list(out["classes"]) == [[1], [2], [3, 4]])
    raster = class_areas(reclassify(slope(read_dem(shared(DEM), bounds=bounds)), [8, 15, 25]))
    expected = {"low": raster[1], "medium": raster[2], "high": raster[3] + raster[4]}
    stored = stored_zone_areas(eng)
    assert set(stored) == set(expected)
    for lv, area in expected.items():
        assert stored[lv] == pytest.approx(area, rel=0.01)
        assert out.set_index("level").loc[lv, "area_m2"] == pytest.approx(area, rel=1e-9)
    rows = _rows(eng,
                 "SELECT ext_id, hazard_type, level, source, ST_IsValid(geom) FROM hazard_zones "
                 "ORDER BY id")
    assert [r[0] for r in rows] == ["slope:low", "slope:medium", "slope:high"]
    assert all(r[1] == "landslide" and r[4]
               for r in rows) and "≥25°" in rows[2][3] and "<8°" in rows[0][3]
    # re-running replaces the zones instead of adding to them
    zone_slope(eng, shared(DEM), [15], ["低", "高"], actor="tester", bounds=bounds)
    assert [r[0] for r in _rows(eng,
                                "SELECT level FROM hazard_zones ORDER BY id")] == ["low", "high"]
    with pytest.raises(ValueError, match="one label per class"):
        zone_slope(eng, shared(DEM), [8, 15], ["low", "high"], actor="tester", bounds=bounds)


# --- the command line ----------------------------------------------------------------------------

def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_cli_risk_and_hazard_commands(db, tmp_path, monkeypatch):
    import emgis.api.cli.risk  # noqa: F401 - registers `risk` and `hazard`
    from emgis.api.cli import app
    from emgis.api.cli import base as cli

    for con in (cli.console, cli.err):  # wide enough that rich does not cut table cells
        monkeypatch.setattr(con, "_width", 200)
    monkeypatch.setenv("EMGIS_DATABASE_URL", db.url)
    monkeypatch.setenv("EMGIS_ACTOR", "cli-tester")
    run = CliRunner().invoke

    r = run(app, ["risk", "candidates", str(shared(LIE))])
    assert r.exit_code == 0, r.output
    n = _scalar(db.engine, "SELECT count(*) FROM risk_points")
    assert f"{n} new candidate risk points" in _flat(r.output)
    r = run(app, ["risk", "candidates", str(shared(LIE))])
    assert r.exit_code == 0 and "0 new candidate" in _flat(r.output), r.output

    r = run(app, ["risk", "areas", "--grid", "1000"])
    assert r.exit_code == 0, r.output
    assert "rule max" in _flat(r.output)
    assert _scalar(db.engine,
                   "SELECT count(DISTINCT run_id) FROM risk_areas WHERE unit_kind = 'grid'") == 1
    r = run(app, ["risk", "areas"])
    assert r.exit_code == 2 and "load them with" in _flat(r.output), r.output

    r = run(app, ["risk", "list", "--level", "orange", "--limit", "0"])
    assert r.exit_code == 0, r.output
    assert "较大风险 significant" in r.output and "重大风险" not in r.output
    r = run(app, ["risk", "list", "--level", "green"])
    assert r.exit_code == 2 and "not a risk level" in _flat(r.output)

    r = run(app, ["risk", "relevel"])
    assert r.exit_code == 0 and "0 risk point(s) changed level" in _flat(r.output), r.output
    r = run(app, ["norms", "set", "risk.lec.red_above", "250"])
    assert r.exit_code == 0, r.output
    r = run(app, ["risk", "relevel"])
    fuel = _scalar(db.engine, "SELECT count(*) FROM risk_points WHERE category = 'fuel_station'")
    assert r.exit_code == 0 and re.search(r"(\d+) risk point\(s\) changed level",
                                          _flat(r.output)), r.output
    assert int(re.search(r"(\d+) risk point\(s\) changed level", _flat(r.output)).group(1)) >= fuel
    assert _scalar(db.engine,
                   "SELECT count(*) FROM risk_points "
                   "WHERE category = 'fuel_station' AND level = 'red'") == fuel

    out = tmp_path / "map" / "risk.html"
    r = run(app, ["risk", "map", str(out), "--grid", "1000"])
    assert r.exit_code == 0, r.output
    page = out.read_text(encoding="utf-8")
    assert "风险等级 Risk level" in page and (tmp_path / "map" / "risk_assets" / "leaflet").is_dir()
    assert "coloured a" not in r.output  # the stored 1000 m grid was used
    r = run(app, ["risk", "map", str(tmp_path / "m2.html"), "--grid", "2000"])
    assert r.exit_code == 0 and "coloured a 2000 m grid" in _flat(r.output), r.output
    r = run(app, ["risk", "map", str(tmp_path / "m3.html")])  # the newest stored areas
    n_grid = _scalar(db.engine, "SELECT count(*) FROM risk_areas")
    assert r.exit_code == 0 and f"({n_grid} areas, {n} risk points)" in _flat(r.output), r.output
    r = run(app, ["risk", "map", str(tmp_path / "m4.html"), "--admin"])
    assert r.exit_code == 0 and "points only" in _flat(r.output), r.output

    _add_hazard(db.engine, "HZ1", "discovered", responsible=None, measures=None,
                deadline=dt.date(2020, 1, 1))
    r = run(app, ["hazard", "move", "HZ1", "closed"])
    assert r.exit_code == 2, r.output
    assert _flat(str(hz.IllegalTransition("discovered", "closed"))) in _flat(r.output)
    r = run(app, ["hazard", "move", "HZ1", "确认", "--note", "现场核实"])
    assert r.exit_code == 0 and "confirmed (确认)" in r.output, r.output
    r = run(app, ["hazard", "move", "HZ1", "rectifying", "--responsible", "王五", "--deadline",
                  "2021-01-01"])
    assert r.exit_code == 0, r.output
    r = run(app, ["hazard", "move", "HZ1", "closed"])
    assert r.exit_code == 2 and "measures is missing" in _flat(r.output), r.output
    r = run(app, ["hazard", "note", "HZ1", "督办一次"])
    assert r.exit_code == 0, r.output
    r = run(app, ["hazard", "list", "--overdue"])
    assert r.exit_code == 0 and "HZ1" in r.output and "王五" in r.output, r.output
    r = run(app, ["hazard", "move", "HZ1", "closed", "--measures", "拆除违建"])
    assert r.exit_code == 0, r.output
    r = run(app, ["hazard", "list", "--overdue"])
    assert r.exit_code == 0 and "HZ1" not in r.output
    r = run(app, ["hazard", "move", "NOPE", "closed"])
    assert r.exit_code == 2 and "no hazard 'NOPE'" in r.output
    ev = _rows(db.engine, "SELECT actor, from_state, to_state FROM hazard_events ORDER BY id")
    assert ev == [("cli-tester", "discovered", "confirmed"),
                  ("cli-tester", "confirmed", "rectifying"),
                  ("cli-tester", "rectifying", None), ("cli-tester", "rectifying", "closed")]
    assert _scalar(db.engine,
                   "SELECT count(*) FROM audit_log "
                   "WHERE table_name = 'hazards' AND action = 'update' "
                   "AND actor = 'cli-tester'") == 3

    r = run(app, ["risk", "export", str(tmp_path / "lists.xlsx")])
    assert r.exit_code == 0, r.output
    assert openpyxl.load_workbook(tmp_path / "lists.xlsx").sheetnames == list(LIST_NAMES)
    r = run(app, ["risk", "export", str(tmp_path / "lists.csv")])
    assert r.exit_code == 0 and (tmp_path / "lists_责任清单.csv").exists(), r.output
