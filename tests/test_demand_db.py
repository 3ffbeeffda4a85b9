"""Demand points from the stored county: every village with its census population, placed."""

from __future__ import annotations

import pytest
import shapely
import sqlalchemy as sa
from rich.console import Console

from emgis.api.cli.demo import load_demo
from emgis.layers.demo.county import write_demo_county
from emgis.layers.problems import MissingData
from emgis.shelters.demand import demand_from_db, store_placements

pytestmark = pytest.mark.postgis


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory):
    return write_demo_county(tmp_path_factory.mktemp("demo"), seed=20250801)


def test_no_census_gives_a_clear_error(db):
    with pytest.raises(MissingData, match="emgis load census"):
        demand_from_db(db.engine)


def test_every_village_gets_its_population_and_code_only_villages_are_placed(db, demo_files):
    load_demo(db, demo_files, console=Console(quiet=True))
    with db.engine.begin() as c:
        gone = [r[0] for r in c.execute(sa.text(
            "UPDATE admin_units SET geom = NULL, point = NULL, placement = 'code_only' "
            "WHERE code IN (SELECT code FROM admin_units WHERE level = 'village' ORDER BY code "
            "LIMIT 3) RETURNING code"))]
        total, n = c.execute(sa.text("SELECT sum(population), count(*) FROM population "
                                     "WHERE year = 2023")).one()
        towns = {r[0]: shapely.from_wkb(bytes(r[1])) for r in c.execute(sa.text(
            "SELECT code, ST_AsBinary(geom) FROM admin_units WHERE level = 'township'"))}
    d = demand_from_db(db.engine)
    assert d.attrs["year"] == 2023
    assert len(d) == n and d["population"].sum() == pytest.approx(float(total))
    assert d.geometry.notna().all()
    placed = d.set_index("code").loc[gone]
    assert (placed["placement"] == "township_weighted").all()
    for code, g in zip(placed.index, placed.geometry, strict=True):
        assert towns[code[:9] + "000"].buffer(1e-6).contains(g), code
    assert set(d["placement"]) <= {"boundary", "point", "township_weighted"}
    assert store_placements(db.engine, d) == 3
    with db.engine.connect() as c:
        stored = c.execute(sa.text("SELECT count(*) FROM admin_units "
                                   "WHERE placement = 'township_weighted' "
                                   "AND point IS NOT NULL")).scalar()
    assert stored == 3
