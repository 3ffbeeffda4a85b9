"""Stock items are a vocabulary (issue #14, part 6).

``PATCH /depot_stock/CK001/帐蓬`` (misspelt) or a GBK-mangled name used to answer 200 and book
stock to a new junk item while 帐篷 stayed unchanged. Now an unknown name is a 422 naming the
closest known item, nothing is written, and a new item is added only on purpose (``POST
/stock-items``, `emgis stock-items add`), audited.
"""

from __future__ import annotations

import urllib.parse

import pytest
import sqlalchemy as sa
from conftest import _token
from typer.testing import CliRunner

from emgis.layers import vocab
from emgis.layers.load.write import load_layer
from emgis.layers.problems import InputError


def _stock(engine, depot="CK001"):
    with engine.connect() as c:
        return dict(c.execute(sa.text(
            "SELECT s.item, s.quantity FROM depot_stock s JOIN depots d ON d.id = s.depot_id "
            "WHERE d.ext_id = :d"), {"d": depot}).all())


def _count(engine, sql):
    with engine.connect() as c:
        return c.execute(sa.text(sql)).scalar_one()


TENT_UTF8_AS_GB18030 = "帐篷".encode().decode("gb18030")  # 甯愮 + one private-use char
BAD_NAMES = [
    pytest.param("帐蓬", id="misspelt"),
    pytest.param(TENT_UTF8_AS_GB18030, id="utf8-read-as-gbk"),
    pytest.param("帐篷".encode("gbk").decode("latin-1"), id="gbk-read-as-latin1"),
    pytest.param("%D5%CA%C5%F1", id="gbk-bytes-in-the-url"),
]


@pytest.mark.bad_input
@pytest.mark.parametrize("item", BAD_NAMES)
def test_unknown_item_is_422_with_the_closest_name_and_nothing_written(client, demo_db, item):
    _, auth = _token(demo_db.engine, "planner")
    before = _stock(demo_db.engine)
    n_items = _count(demo_db.engine, "SELECT count(*) FROM stock_items")
    path = item if item.startswith("%") else urllib.parse.quote(item)
    r = client.patch(f"/depot_stock/CK001/{path}", json={"quantity_delta": 5}, headers=auth)
    assert r.status_code == 422, r.text
    assert "帐篷" in r.text, r.text
    assert _stock(demo_db.engine) == before
    assert _count(demo_db.engine, "SELECT count(*) FROM stock_items") == n_items


@pytest.mark.bad_input
def test_unknown_item_with_nothing_close_says_how_to_add_one(client, demo_db):
    _, auth = _token(demo_db.engine, "planner")
    r = client.patch("/depot_stock/CK001/xyzzy", json={"quantity_delta": 1}, headers=auth)
    assert r.status_code == 422 and "stock-items" in r.text, r.text


def test_known_item_by_english_name_books_to_the_chinese_item(client, demo_db):
    _, auth = _token(demo_db.engine, "planner")
    before = _stock(demo_db.engine)["帐篷"]
    r = client.patch("/depot_stock/CK001/Tent", json={"quantity_delta": 3}, headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["item"] == "帐篷" and r.json()["quantity"] == before + 3


def test_creating_an_item_is_explicit_and_audited(client, demo_db):
    _, viewer = _token(demo_db.engine, "viewer")
    name, auth = _token(demo_db.engine, "planner")
    body = {"name": "冲锋衣", "unit": "件", "kind": "clothing", "name_en": "rain jacket"}
    assert client.post("/stock-items", json=body, headers=viewer).status_code == 403
    assert client.patch("/depot_stock/CK001/冲锋衣", json={"quantity_delta": 2},
                        headers=auth).status_code == 422
    r = client.post("/stock-items", json=body, headers=auth)
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "冲锋衣" and r.json()["added_by"] == name
    assert client.post("/stock-items", json=body, headers=auth).status_code == 422  # twice
    r = client.patch("/depot_stock/CK001/冲锋衣", json={"quantity_delta": 2}, headers=auth)
    assert r.status_code == 200 and r.json()["unit"] == "件", r.text
    listed = client.get("/stock-items", headers=viewer).json()
    assert {"name": "冲锋衣", "unit": "件", "kind": "clothing"}.items() <= next(
        i for i in listed if i["name"] == "冲锋衣").items()
    with demo_db.engine.connect() as c:
        audit = c.execute(sa.text("SELECT table_name, action, row_key FROM audit_log "
                                  "WHERE actor = :a ORDER BY id"), {"a": name}).all()
    assert next(tuple(a) for a in audit) == ("stock_items", "insert", "冲锋衣")


@pytest.mark.bad_input
@pytest.mark.parametrize("body", [
    pytest.param({"name": " ", "unit": "件"}, id="blank-name"),
    pytest.param({"name": "雨靴", "unit": ""}, id="blank-unit"),
    pytest.param({"name": "雨靴", "unit": "双", "kind": "weapons"}, id="unknown-kind"),
    pytest.param({"name": "帐篷", "unit": "顶"}, id="already-known"),
])
def test_bad_new_item_is_422(client, demo_db, body):
    _, auth = _token(demo_db.engine, "admin")
    n_items = _count(demo_db.engine, "SELECT count(*) FROM stock_items")
    assert client.post("/stock-items", json=body, headers=auth).status_code == 422
    assert _count(demo_db.engine, "SELECT count(*) FROM stock_items") == n_items


# --- loads and the command line -----------------------------------------------------------------

@pytest.mark.bad_input
def test_stock_file_with_unknown_item_is_refused_with_the_hint(db, tmp_path):
    dep = tmp_path / "d.csv"
    dep.write_text("id,name,level,status,lon,lat\nD1,县库,县级,启用,119.86,31.01\n",
                   encoding="utf-8")
    load_layer(db.engine, "depots", dep)
    stock = tmp_path / "stock.csv"
    stock.write_text("depot_id,item,quantity,unit\nD1,帐篷,200,顶\nD1,棉彼,10,床\n",
                     encoding="utf-8")
    with pytest.raises(InputError) as exc:
        load_layer(db.engine, "depot_stock", stock)
    problem = exc.value.problems[0]
    assert (problem.row, problem.field, problem.value) == (3, "item", "棉彼")
    assert "棉被" in problem.message and "stock-items add" in problem.fix
    assert _count(db.engine, "SELECT count(*) FROM depot_stock") == 0


def test_cli_stock_items_add_and_list(db, tmp_path, monkeypatch):
    from emgis.api.cli import app
    from emgis.api.cli import base as cli

    monkeypatch.setenv("EMGIS_DATABASE_URL", db.url)
    monkeypatch.setenv("EMGIS_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(cli.console, "_width", 200)
    monkeypatch.setattr(cli.err, "_width", 200)
    run = CliRunner().invoke
    r = run(app, ["stock-items", "add", "雨靴", "--unit", "双", "--kind", "衣物"])
    assert r.exit_code == 0, r.output
    r = run(app, ["stock-items", "add", "雨靴", "--unit", "双"])
    assert r.exit_code == 2 and "already" in r.output, r.output
    r = run(app, ["stock-items", "list"])
    assert r.exit_code == 0 and "雨靴" in r.output and "帐篷" in r.output
    with db.engine.connect() as c:
        assert c.execute(sa.text("SELECT unit, kind FROM stock_items WHERE name = '雨靴'")
                         ).one() == ("双", "clothing")


def test_migration_seed_is_the_vocabulary(db):
    with db.engine.connect() as c:
        seeded = {tuple(r) for r in c.execute(sa.text(
            "SELECT name, unit, kind, coalesce(name_en, '') FROM stock_items"))}
    assert seeded == {(i.name, i.unit, i.kind, i.name_en) for i in vocab.STOCK_ITEMS}
    assert all(i.kind in vocab.STOCK_KIND for i in vocab.STOCK_ITEMS)


@pytest.mark.bad_input
def test_stock_update_in_another_unit_is_422(client, demo_db):
    _, auth = _token(demo_db.engine, "planner")
    before = _stock(demo_db.engine)
    r = client.patch("/depot_stock/CK001/帐篷", json={"quantity_delta": 5, "unit": "箱"},
                     headers=auth)
    assert r.status_code == 422 and "顶" in r.text, r.text
    assert _stock(demo_db.engine) == before


@pytest.mark.bad_input
def test_stock_file_naming_one_item_twice_by_two_names_is_refused(db, tmp_path):
    dep = tmp_path / "d.csv"
    dep.write_text("id,name,level,status,lon,lat\nD1,县库,县级,启用,119.86,31.01\n",
                   encoding="utf-8")
    load_layer(db.engine, "depots", dep)
    stock = tmp_path / "stock.csv"
    stock.write_text("depot_id,item,quantity,unit\nD1,帐篷,200,顶\nD1,tent,10,顶\n",
                     encoding="utf-8")
    with pytest.raises(InputError) as exc:
        load_layer(db.engine, "depot_stock", stock)
    assert "listed twice" in str(exc.value)
    assert _count(db.engine, "SELECT count(*) FROM depot_stock") == 0
