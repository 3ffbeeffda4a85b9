"""Coordinates in another system than the file says (#15): GCJ-02/BD-09 files read as WGS84,
and degrees under a projected label, stop the load with a warning or an error naming the
likely system."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from conftest import shared
from shapely.geometry import Point

from emgis.geo import crs as gcrs
from emgis.layers.load.loaders import prepare_layer
from emgis.layers.load.write import LoadOptions, load_layer
from emgis.layers.problems import InputError


def _messages(prep) -> str:
    return " | ".join(str(w) for w in prep.problems.items)


@pytest.mark.shared_data
@pytest.mark.bad_input
def test_the_real_gcj02_shelter_file_is_caught_by_its_columns():
    """china4cities_shelters_gcj02.geojson (columns lon_gcj02/lat_gcj02, tagged CRS84) went in
    ~600 m off with no warning."""
    path = shared("shelters/china4cities_shelters_gcj02.geojson")
    prep = prepare_layer("shelters", path)
    text = _messages(prep)
    assert "GCJ-02" in text and "lon_gcj02" in text and "--crs gcj02" in text
    assert any("GCJ-02" in str(w) for w in prep.problems.warnings)
    ok = prepare_layer("shelters", path, crs="gcj02")
    assert "suggests GCJ-02" not in _messages(ok)
    wgs = prepare_layer("shelters", path, crs="4326")  # the user says they are WGS84: believed
    assert "suggests GCJ-02" not in _messages(wgs)


@pytest.mark.bad_input
@pytest.mark.parametrize(("name", "system"), [("lng_bd09", "bd09"), ("高德经度", "gcj02"),
                                              ("baidu_x", "bd09")])
def test_column_names_name_the_system(tmp_path, name, system):
    path = tmp_path / "s.csv"  # coordinates in lon/lat, the system named by another column
    pd.DataFrame({"编号": ["S1", "S2"], "名称": ["甲", "乙"], "lon": [119.9, 119.91],
                  "lat": [30.9, 30.91], name: [119.9, 119.91]}).to_csv(path, index=False)
    prep = prepare_layer("shelters", path)
    assert f"--crs {system}" in _messages(prep)


@pytest.mark.bad_input
def test_degrees_under_a_projected_label_are_an_error(tmp_path):
    """A real road file declared UTM zone 49N and held degrees."""
    path = tmp_path / "s.gpkg"
    gpd.GeoDataFrame({"ext_id": ["S1", "S2"], "name": ["甲", "乙"]},
                     geometry=[Point(102.6, 24.8), Point(102.61, 24.81)],
                     crs=32649).to_file(path)
    prep = prepare_layer("shelters", path)
    assert prep.problems.errors
    text = _messages(prep)
    assert "degrees" in text and "--crs 4326" in text
    assert not prepare_layer("shelters", path, crs="4326").problems.errors


@pytest.mark.postgis
@pytest.mark.bad_input
def test_points_off_the_roads_like_gcj02_are_caught(demo_db, tmp_path):
    """No telling names: the points sit off the stored roads the way GCJ-02 points do."""
    with demo_db.engine.connect() as c:
        xy = np.array(c.execute(sa.text(
            "SELECT ST_X(ST_LineInterpolatePoint(e.geom, 0.5)), "
            "ST_Y(ST_LineInterpolatePoint(e.geom, 0.5)) FROM road_edges e, study_area s "
            "WHERE length_m > 200 AND ST_Within(e.geom, s.geom) ORDER BY e.id LIMIT 40")).all())
        before = c.execute(sa.text("SELECT count(*) FROM shelters")).scalar()
    glon, glat = gcrs.wgs84_to_gcj02(xy[:, 0], xy[:, 1])
    path = tmp_path / "shelters.csv"
    pd.DataFrame({"编号": [f"G{i}" for i in range(len(glon))], "名称": "新场所",
                  "经度": glon, "纬度": glat, "类型": "emergency"}).to_csv(path, index=False)
    with pytest.raises(InputError) as info:
        load_layer(demo_db.engine, "shelters", path, LoadOptions())
    text = str(info.value)
    assert "look like GCJ-02" in text and "--crs gcj02" in text
    with demo_db.engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM shelters")).scalar() == before
    # the same places given in WGS84 raise nothing about their system
    plain = tmp_path / "plain.csv"
    pd.DataFrame({"编号": [f"W{i}" for i in range(len(xy))], "名称": "新场所",
                  "经度": xy[:, 0], "纬度": xy[:, 1]}).to_csv(plain, index=False)
    try:
        load_layer(demo_db.engine, "shelters", plain, LoadOptions(mode="append"))
    except InputError as exc:
        assert "GCJ-02" not in str(exc)
    # nor do points 300 m off the roads in a direction no Chinese map shifts them
    east = tmp_path / "east.csv"
    pd.DataFrame({"编号": [f"E{i}" for i in range(len(xy))], "名称": "新场所",
                  "经度": xy[:, 0] + 0.003, "纬度": xy[:, 1]}).to_csv(east, index=False)
    try:
        load_layer(demo_db.engine, "shelters", east, LoadOptions(mode="append"))
    except InputError as exc:
        assert "GCJ-02" not in str(exc) and "BD-09" not in str(exc)
    finally:
        with demo_db.engine.begin() as c:
            c.execute(sa.text("DELETE FROM shelters WHERE ext_id LIKE 'W%' OR ext_id LIKE 'E%'"))
