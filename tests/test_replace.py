"""`--mode replace` keeps what it can and never deletes silently (issue #14, part 2).

Reloading the demo's own files with replace used to delete every depot's stock, clear every
hazard→risk-point link and wipe the hazard history, printing nothing. Now replace matches rows
by their external key and updates them in place (same internal id, so whatever points at them
survives); rows absent from the file are deleted only when nothing depends on them, or when
the caller says ``delete_dependents`` — and the one `load` audit entry counts what went.
"""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pytest
import sqlalchemy as sa
from conftest import table_checksums

from emgis.layers.load.study_area import read_boundary, save_study_area
from emgis.layers.load.write import LoadOptions, load_layer
from emgis.layers.problems import InputError
from emgis.risk.hazard_log import move_hazard, note_hazard

REPLACE = LoadOptions(mode="replace")


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory):
    from emgis.layers.demo.county import write_demo_county

    return write_demo_county(tmp_path_factory.mktemp("replace_demo") / "files")


@pytest.fixture
def loaded(db, demo_files):
    """A fresh database with the demo's study area, depots, stock, risk points and hazards."""
    area = read_boundary(demo_files.county, county_code=demo_files.county_code)
    save_study_area(db.engine, area, boundary_file=str(demo_files.county), actor="test")
    for layer in ("depots", "depot_stock", "risk_points", "hazards"):
        load_layer(db.engine, layer, getattr(demo_files, layer))
    return db


def _one(engine, sql, **params):
    with engine.connect() as c:
        return c.execute(sa.text(sql), params).one()


def _snapshot(engine):
    return table_checksums(engine)


def _last_load_detail(engine) -> dict:
    with engine.connect() as c:
        return json.loads(c.execute(sa.text("SELECT detail FROM audit_log WHERE action = 'load' "
                                            "ORDER BY id DESC LIMIT 1")).scalar_one())


# --- replace that keeps every parent: nothing that depends on them goes -------------------------

@pytest.mark.bad_input
def test_replace_depots_with_the_same_file_keeps_the_stock(loaded, demo_files):
    before = _one(loaded.engine, "SELECT count(*), sum(quantity), "
                  "string_agg(d.ext_id || ':' || d.id, ',' ORDER BY d.id) "
                  "FROM depot_stock s JOIN depots d ON d.id = s.depot_id")
    assert before[0] == 122
    res = load_layer(loaded.engine, "depots", demo_files.depots, REPLACE)
    after = _one(loaded.engine, "SELECT count(*), sum(quantity), "
                 "string_agg(d.ext_id || ':' || d.id, ',' ORDER BY d.id) "
                 "FROM depot_stock s JOIN depots d ON d.id = s.depot_id")
    assert after == before
    assert res.counts == {"inserted": 0, "updated": 25, "deleted": 0}
    detail = _last_load_detail(loaded.engine)
    assert (detail["inserted"], detail["updated"], detail["deleted"]) == (0, 25, 0)


@pytest.mark.bad_input
def test_replace_risk_points_with_the_same_file_keeps_hazard_links(loaded, demo_files):
    links = "SELECT count(risk_point_id), string_agg(ext_id || ':' || risk_point_id, ',' " \
            "ORDER BY ext_id) FROM hazards"
    before = _one(loaded.engine, links)
    assert before[0] == 23
    load_layer(loaded.engine, "risk_points", demo_files.risk_points, REPLACE)
    assert _one(loaded.engine, links) == before


@pytest.mark.bad_input
def test_replace_hazards_keeps_history_and_the_state_the_workflow_reached(loaded, demo_files):
    h = _one(loaded.engine, "SELECT ext_id, state FROM hazards WHERE state = 'discovered' "
             "ORDER BY ext_id LIMIT 1")
    move_hazard(loaded.engine, h.ext_id, "confirmed", actor="clerk", note="checked on site")
    note_hazard(loaded.engine, h.ext_id, "photos taken", actor="clerk")
    res = load_layer(loaded.engine, "hazards", demo_files.hazards, REPLACE)
    state, events = _one(loaded.engine,
                         "SELECT h.state, count(e.id) FROM hazards h "
                         "LEFT JOIN hazard_events e ON e.hazard_id = h.id WHERE h.ext_id = :e "
                         "GROUP BY h.state", e=h.ext_id)
    assert (state, events) == ("confirmed", 2)  # the file still says discovered
    assert any(h.ext_id in n and "kept" in n for n in res.notes), res.notes
    assert _one(loaded.engine, "SELECT count(*) FROM hazards")[0] == 25


# --- replace that would delete parents with dependents: refused, nothing changes ----------------

def _without(path, out, column, drop: set[str]):
    if str(path).endswith(".csv"):
        df = pd.read_csv(path, dtype=str, encoding="utf-8")
        df[~df[column].isin(drop)].to_csv(out, index=False, encoding="utf-8")
    else:
        gdf = gpd.read_file(path)
        gdf[~gdf[column].isin(drop)].to_file(out)
    return out


REFUSED = [
    pytest.param("depots", "depots.gpkg", "id", "depot_stock", "CK001", id="depot-with-stock"),
    pytest.param("risk_points", "risk_points.gpkg", "id", "hazards", None,
                 id="risk-point-linked-by-hazards"),
    pytest.param("hazards", "hazards.csv", "id", "hazard_events", None,
                 id="hazard-with-history"),
]


def _victim(engine, layer: str) -> str:
    sql = {"depots": "SELECT d.ext_id FROM depots d JOIN depot_stock s ON s.depot_id = d.id "
                     "ORDER BY d.ext_id LIMIT 1",
           "risk_points": "SELECT r.ext_id FROM risk_points r JOIN hazards h "
                          "ON h.risk_point_id = r.id ORDER BY r.ext_id LIMIT 1",
           "hazards": "SELECT ext_id FROM hazards ORDER BY ext_id LIMIT 1"}[layer]
    with engine.connect() as c:
        return c.execute(sa.text(sql)).scalar_one()


@pytest.mark.bad_input
@pytest.mark.parametrize(("layer", "name", "column", "dependent", "example"), REFUSED)
def test_replace_that_would_delete_dependents_is_refused(loaded, demo_files, tmp_path, layer,
                                                         name, column, dependent, example):
    victim = _victim(loaded.engine, layer)
    if layer == "hazards":
        note_hazard(loaded.engine, victim, "site visit: still open", actor="clerk")
    src = getattr(demo_files, layer)
    smaller = _without(src, tmp_path / name, column, {victim})
    before = _snapshot(loaded.engine)
    with pytest.raises(InputError) as exc:
        load_layer(loaded.engine, layer, smaller, REPLACE)
    text = str(exc.value)
    assert dependent in text and victim in text and "--delete-dependents" in text, text
    assert _snapshot(loaded.engine) == before


@pytest.mark.bad_input
def test_replace_with_delete_dependents_goes_ahead_and_audits_the_counts(loaded, demo_files,
                                                                        tmp_path):
    victim = _victim(loaded.engine, "depots")
    n_stock = _one(loaded.engine, "SELECT count(*) FROM depot_stock s JOIN depots d "
                   "ON d.id = s.depot_id WHERE d.ext_id = :v", v=victim)[0]
    assert n_stock > 0
    smaller = _without(demo_files.depots, tmp_path / "depots.gpkg", "id", {victim})
    res = load_layer(loaded.engine, "depots", smaller,
                     LoadOptions(mode="replace", delete_dependents=True))
    assert res.counts["deleted"] == 1 and res.counts["updated"] == 24
    assert res.counts["dependents_deleted"] == {"depot_stock": n_stock}
    detail = _last_load_detail(loaded.engine)
    assert detail["deleted"] == 1 and detail["dependents_deleted"] == {"depot_stock": n_stock}
    assert detail["deleted_keys"] == [victim]
    with loaded.engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM depot_stock")).scalar() == 122 - n_stock
        # every deleted row leaves its before-image in the audit log
        trail = c.execute(sa.text("SELECT table_name, count(*) FROM audit_log "
                                  "WHERE action = 'delete' GROUP BY table_name "
                                  "ORDER BY table_name")).all()
    assert [tuple(t) for t in trail] == [("depot_stock", n_stock), ("depots", 1)]


@pytest.mark.bad_input
def test_replace_without_dependents_deletes_and_counts(db, tmp_path):
    def depots(*rows):
        p = tmp_path / f"d{len(rows)}.csv"
        p.write_text("\n".join(["id,name,level,status,lon,lat", *rows]), encoding="utf-8")
        return p

    load_layer(db.engine, "depots", depots("D1,一号,县级,启用,119.86,31.01",
                                           "D2,二号,县级,启用,119.87,31.02"))
    res = load_layer(db.engine, "depots", depots("D2,二号库,县级,启用,119.87,31.02"), REPLACE)
    assert res.counts == {"inserted": 0, "updated": 1, "deleted": 1}


# --- the command line: refused with the list (exit 2), then --delete-dependents with counts ----

@pytest.mark.bad_input
def test_cli_replace_refuses_then_deletes_with_the_option_and_prints_counts(loaded, demo_files,
                                                                           tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from emgis.api import cli
    from emgis.api.cli import app

    monkeypatch.setenv("EMGIS_DATABASE_URL", loaded.url)
    monkeypatch.setenv("EMGIS_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(cli.base.console, "_width", 300)
    monkeypatch.setattr(cli.base.err, "_width", 300)
    victim = _victim(loaded.engine, "depots")
    smaller = _without(demo_files.depots, tmp_path / "depots.gpkg", "id", {victim})
    args = ["load", "depots", str(smaller), "--mode", "replace"]
    before = _snapshot(loaded.engine)
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 2, refused.output
    out = " ".join(refused.output.split())
    assert "depot_stock" in out and victim in out and "--delete-dependents" in out, out
    assert _snapshot(loaded.engine) == before
    done = CliRunner().invoke(app, [*args, "--delete-dependents"])
    assert done.exit_code == 0, done.output
    out = " ".join(done.output.split())
    assert "0 inserted, 24 updated, 1 deleted" in out, out
    assert "depot_stock row(s)" in out


def test_replace_hazards_applies_a_legal_next_state_and_records_it(loaded, demo_files, tmp_path):
    h = _one(loaded.engine, "SELECT ext_id FROM hazards WHERE state = 'discovered' "
             "ORDER BY ext_id LIMIT 1").ext_id
    move_hazard(loaded.engine, h, "confirmed", actor="clerk", note="checked")
    df = pd.read_csv(demo_files.hazards, dtype=str, encoding="utf-8")
    df.loc[df["id"] == h, "state"] = "under_control"
    df.to_csv(tmp_path / "hazards.csv", index=False, encoding="utf-8")
    res = load_layer(loaded.engine, "hazards", tmp_path / "hazards.csv", REPLACE)
    assert res.counts["hazard_states_changed"] == 1
    with loaded.engine.connect() as c:
        state = c.execute(sa.text("SELECT state FROM hazards WHERE ext_id = :e"), {"e": h}).scalar()
        moves = c.execute(sa.text(
            "SELECT e.from_state, e.to_state FROM hazard_events e JOIN hazards h "
            "ON h.id = e.hazard_id WHERE h.ext_id = :e ORDER BY e.id"), {"e": h}).all()
    assert state == "under_control"
    assert [tuple(m) for m in moves] == [("discovered", "confirmed"),
                                         ("confirmed", "under_control")]


def _write(tmp_path, name, *lines):
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


@pytest.mark.bad_input
def test_replace_admin_units_refuses_to_orphan_the_codes_others_name(db, tmp_path):
    head = "code,name,level,parent_code,lon,lat"
    units = ["339901001000,城关镇,乡镇级,,119.86,31.01",
             "339901001001,东村,村级,339901001000,119.861,31.011"]
    load_layer(db.engine, "admin_units", _write(tmp_path, "u1.csv", head, *units))
    load_layer(db.engine, "shelters", _write(
        tmp_path, "s.csv", "id,name,duration_class,status,unit_code,lon,lat",
        "S1,东村广场,紧急,开放,339901001001,119.8612,31.0112"))
    before = _snapshot(db.engine)
    with pytest.raises(InputError) as exc:
        load_layer(db.engine, "admin_units", _write(tmp_path, "u2.csv", head, units[0]), REPLACE)
    text = str(exc.value)
    assert "shelters" in text and "339901001001" in text, text
    assert _snapshot(db.engine) == before


@pytest.mark.bad_input
def test_replace_incidents_refuses_to_delete_incidents_reported_through_the_api(db, tmp_path):
    with db.engine.begin() as c:
        c.execute(sa.text("INSERT INTO incidents (title, incident_type, status, geom) VALUES "
                          "('API fire', 'fire', 'reported', "
                          "ST_SetSRID(ST_MakePoint(119.86, 31.01), 4326))"))
    before = _snapshot(db.engine)
    with pytest.raises(InputError) as exc:
        load_layer(db.engine, "incidents", _write(
            tmp_path, "i.csv", "id,title,incident_type,status,lon,lat",
            "E1,演练,flood,接报,119.87,31.02"), REPLACE)
    assert "entered outside any file load" in str(exc.value)
    assert _snapshot(db.engine) == before


@pytest.mark.bad_input
@pytest.mark.parametrize("mode", ["upsert", "replace"])
def test_a_file_without_live_columns_keeps_the_stored_values(loaded, demo_files, tmp_path, mode):
    """Found while merging #14: a shelters file without occupancy or status reset every stored
    shelter's occupancy (set through the API during an event) to nothing and its status to the
    default 'open'. Fields the file does not give now stay as stored."""
    db = loaded
    load_layer(db.engine, "shelters", demo_files.shelters)
    with db.engine.begin() as c:
        ext, cap = c.execute(sa.text("SELECT ext_id, capacity FROM shelters WHERE capacity > 60 "
                                     "ORDER BY ext_id LIMIT 1")).one()
        c.execute(sa.text("UPDATE shelters SET occupancy = 50, status = 'closed' "
                          "WHERE ext_id = :e"), {"e": ext})
        rows = c.execute(sa.text("SELECT ext_id, name, ST_X(geom), ST_Y(geom), duration_class "
                                 "FROM shelters ORDER BY ext_id")).all()
    path = tmp_path / "bare.csv"
    pd.DataFrame(rows, columns=["编号", "名称", "经度", "纬度", "类型"]).to_csv(path, index=False)
    res = load_layer(db.engine, "shelters", path, LoadOptions(mode=mode))
    assert any("stored rows keep theirs" in n for n in res.notes)
    occ, status, capacity = _one(db.engine, "SELECT occupancy, status, capacity FROM shelters "
                                 "WHERE ext_id = :e", e=ext)
    assert (occ, status, capacity) == (50, "closed", cap)
