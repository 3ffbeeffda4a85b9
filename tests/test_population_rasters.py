"""Population rasters: reading (with every bad-input problem), zonal sums by cell centre,
dasymetric rescaling to census totals, writing — in geographic and projected CRSs."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from affine import Affine

from emgis.layers.load.rasters import PopRaster, read_population_raster, write_raster
from emgis.layers.problems import InputError
from emgis.shelters.population import dasymetric, zonal_sums

NODATA = -99999.0


def from_origin(west, north, dx, dy):
    # rasterio.transform.from_origin multiplies Affines with `*` (a PendingDeprecationWarning)
    return Affine(dx, 0.0, west, 0.0, -dy, north)


# geographic grid: 10 x 10 cells of 0.001 degree, upper-left corner at (119.900, 31.010)
GEO_X0, GEO_Y0, GEO_D = 119.900, 31.010, 0.001
# projected grid: CGCS2000 3-degree Gauss-Kruger CM 120E (EPSG:4549), 100 m cells
GK_EPSG, GK_X0, GK_Y0, GK_D = 4549, 490_000.0, 3_435_000.0, 100.0


def _grid() -> np.ndarray:
    """10 x 10 counts: cell (r, c) holds r * 10 + c; two nodata cells."""
    a = np.arange(100, dtype=np.float32).reshape(10, 10)
    a[0, 0] = NODATA
    a[9, 9] = NODATA
    return a


def _tif(path, data, *, crs, transform, nodata=NODATA, count=1):
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[-1], height=data.shape[-2],
                       count=count, dtype=data.dtype, crs=crs, transform=transform,
                       nodata=nodata) as dst:
        if count == 1:
            dst.write(data, 1)
        else:
            dst.write(data)
    return path


def _box_cells(x0, y0, d, c0, c1, r0, r1):
    """Polygon over cells columns c0..c1-1, rows r0..r1-1 (edges on cell edges)."""
    return shapely.box(x0 + c0 * d, y0 - r1 * d, x0 + c1 * d, y0 - r0 * d)


def _hand(grid, r0, r1, c0, c1):
    sub = grid[r0:r1, c0:c1].astype(float)
    return float(sub[sub != NODATA].sum())


@pytest.fixture
def geo_tif(tmp_path):
    return _tif(tmp_path / "pop_4326.tif", _grid(), crs="EPSG:4326",
                transform=from_origin(GEO_X0, GEO_Y0, GEO_D, GEO_D))


@pytest.fixture
def gk_tif(tmp_path):
    return _tif(tmp_path / "pop_gk.tif", _grid(), crs=f"EPSG:{GK_EPSG}",
                transform=from_origin(GK_X0, GK_Y0, GK_D, GK_D))


def _geo_units():
    # A: rows 0-4, cols 0-4 ; B: rows 0-4, cols 5-9 ; C: rows 5-9, cols 0-9 minus the last 2 rows
    # (rows 8-9 are outside every unit); edges sit a quarter cell inside so that reprojection
    # round-off cannot move a cell centre across them
    q = GEO_D / 4
    a = _box_cells(GEO_X0, GEO_Y0, GEO_D, 0, 5, 0, 5).buffer(-q, join_style="mitre")
    b = _box_cells(GEO_X0, GEO_Y0, GEO_D, 5, 10, 0, 5).buffer(-q, join_style="mitre")
    c = _box_cells(GEO_X0, GEO_Y0, GEO_D, 0, 10, 5, 8).buffer(-q, join_style="mitre")
    return gpd.GeoDataFrame({"code": ["A", "B", "C"]}, geometry=[a, b, c], crs=4326)


def test_read_sets_nodata_to_zero_and_masks_it(geo_tif):
    r = read_population_raster(geo_tif)
    assert r.data.dtype == np.float64 and r.shape == (10, 10)
    assert r.data[0, 0] == 0 and r.data[9, 9] == 0
    assert not r.mask[0, 0] and not r.mask[9, 9] and r.mask.sum() == 98
    assert r.total == pytest.approx(sum(range(100)) - 99)
    assert r.nodata == NODATA and r.crs.to_epsg() == 4326
    assert r.transform.a == pytest.approx(GEO_D)


def test_zonal_sums_geographic_raster_units_in_gauss_kruger(geo_tif):
    r = read_population_raster(geo_tif)
    units = _geo_units().to_crs(GK_EPSG)  # units in another CRS: reprojected to the raster's
    s = zonal_sums(r, units)
    g = _grid()
    assert s["A"] == pytest.approx(_hand(g, 0, 5, 0, 5))
    assert s["B"] == pytest.approx(_hand(g, 0, 5, 5, 10))
    assert s["C"] == pytest.approx(_hand(g, 5, 8, 0, 10))
    assert s.attrs["outside_units"] == pytest.approx(_hand(g, 8, 10, 0, 10))
    assert s.sum() + s.attrs["outside_units"] == pytest.approx(r.total)
    assert list(s.index) == ["A", "B", "C"]


def test_zonal_sums_by_cell_centre_on_projected_raster(gk_tif):
    r = read_population_raster(gk_tif)
    # a polygon covering cells (rows 2-3, cols 2-3) fully and the left 40 % of column 4:
    # column 4's centres are outside, so it does not count
    poly = shapely.box(GK_X0 + 200, GK_Y0 - 400, GK_X0 + 440, GK_Y0 - 200)
    # a village smaller than a cell, holding no cell centre
    tiny = shapely.box(GK_X0 + 710, GK_Y0 - 790, GK_X0 + 740, GK_Y0 - 760)
    # a multi-part unit (two rows with one code): cells (0, 8) and (1, 8)
    p1 = _box_cells(GK_X0, GK_Y0, GK_D, 8, 9, 0, 1)
    p2 = _box_cells(GK_X0, GK_Y0, GK_D, 8, 9, 1, 2)
    units = gpd.GeoDataFrame({"code": [330522100001, 330522100002, 330522100003, 330522100003]},
                             geometry=[poly, tiny, p1, p2], crs=GK_EPSG)
    s = zonal_sums(r, units)
    g = _grid()
    assert s["330522100001"] == pytest.approx(_hand(g, 2, 4, 2, 4))
    assert s["330522100002"] == 0
    assert s["330522100003"] == pytest.approx(8 + 18)
    assert any("no cell centre" in n for n in s.attrs["notes"])
    assert s.attrs["outside_units"] == pytest.approx(r.total - s.sum())


def test_dasymetric_matches_totals_and_spreads_empty_units(gk_tif, tmp_path):
    g = _grid()
    g[5:8, :] = 0  # unit C has no raster population
    path = _tif(tmp_path / "zeros.tif", g, crs=f"EPSG:{GK_EPSG}",
                transform=from_origin(GK_X0, GK_Y0, GK_D, GK_D))
    r = read_population_raster(path)
    units = _geo_units().to_crs(4326)
    # place the geographic unit layout onto the GK grid: same cell indices
    units = gpd.GeoDataFrame({"code": ["A", "B", "C"]}, geometry=[
        _box_cells(GK_X0, GK_Y0, GK_D, 0, 5, 0, 5), _box_cells(GK_X0, GK_Y0, GK_D, 5, 10, 0, 5),
        _box_cells(GK_X0, GK_Y0, GK_D, 0, 10, 5, 8)], crs=GK_EPSG).to_crs(4326)
    totals = pd.Series({"A": 1000.0, "B": 250.5, "C": 300.0, "Z": 7.0})
    d = dasymetric(r, units, totals)
    s = zonal_sums(d, units)
    for code in ("A", "B", "C"):
        assert s[code] == pytest.approx(totals[code], rel=1e-9)
    # relative pattern kept inside a unit
    assert d.data[1, 1] / d.data[1, 2] == pytest.approx(g[1, 1] / g[1, 2])
    # C spread evenly over its 30 cells
    assert np.allclose(d.data[5:8, :], 10.0)
    assert any("spread evenly" in n for n in d.notes)
    assert any("name no unit" in n for n in d.notes)  # Z
    # outside all units: zero by default, unchanged with outside='keep'
    assert d.data[8:, :].sum() == 0
    assert d.total == pytest.approx(1550.5)
    k = dasymetric(r, units, totals, outside="keep")
    assert np.array_equal(k.data[8:, :], r.data[8:, :])
    # nodata cell (0, 0) in A stays nodata
    assert not d.mask[0, 0] and d.data[0, 0] == 0


def test_dasymetric_all_nodata_unit_and_bad_totals(gk_tif):
    r = read_population_raster(gk_tif)
    r.data[5:8, :] = 0
    r.mask[5:8, :] = False
    units = gpd.GeoDataFrame({"code": ["C"]},
                             geometry=[_box_cells(GK_X0, GK_Y0, GK_D, 0, 10, 5, 8)], crs=GK_EPSG)
    d = dasymetric(r, units, pd.Series({"C": 60.0}))
    assert np.allclose(d.data[5:8, :], 2.0) and d.mask[5:8, :].all()
    with pytest.raises(InputError) as e:
        dasymetric(r, units, pd.Series({"C": -5.0, "D": float("nan")}))
    assert len(e.value.problems) == 2
    assert all(p.field == "population" for p in e.value.problems)


def test_write_and_read_back(gk_tif, tmp_path):
    r = read_population_raster(gk_tif)
    out = write_raster(tmp_path / "out.tif", r)
    back = read_population_raster(out)
    assert np.array_equal(back.data, r.data) and np.array_equal(back.mask, r.mask)
    assert back.crs == r.crs and back.transform == r.transform
    # a raster without nodata value writes the default for its masked cells
    r2 = PopRaster(r.data, r.mask, r.transform, r.crs, None)
    back2 = read_population_raster(write_raster(tmp_path / "out2.tif", r2))
    assert back2.nodata == -99999.0 and np.array_equal(back2.mask, r.mask)


def test_not_a_raster(tmp_path):
    p = tmp_path / "villages.tif"
    p.write_text("code,population\n330522100001,120\n", encoding="utf-8")
    with pytest.raises(InputError) as e:
        read_population_raster(p)
    assert "not a raster" in str(e.value)
    with pytest.raises(InputError, match="does not exist"):
        read_population_raster(tmp_path / "missing.tif")


def test_no_crs_and_negative_values_reported_together(tmp_path):
    g = _grid()
    g[3, 4] = -5
    g[6, 1] = -2
    p = _tif(tmp_path / "bad.tif", g, crs=None, transform=from_origin(GK_X0, GK_Y0, GK_D, GK_D))
    with pytest.raises(InputError) as e:
        read_population_raster(p)
    probs = e.value.problems
    assert {p.field for p in probs} == {"crs", "band 1, column 5"}
    neg = next(p for p in probs if p.field.startswith("band"))
    assert neg.row == 4 and neg.value == -5 and "2 negative" in neg.message
    assert all(p.file.endswith("bad.tif") and p.fix for p in probs)


def test_multi_band_uses_band_one_with_a_note(tmp_path):
    g = _grid()
    data = np.stack([g, g * 0 + 1])
    p = _tif(tmp_path / "two.tif", data, crs="EPSG:4326",
             transform=from_origin(GEO_X0, GEO_Y0, GEO_D, GEO_D), count=2)
    r = read_population_raster(p)
    assert r.total == pytest.approx(sum(range(100)) - 99)
    assert any("2 bands" in n and "band 1" in n for n in r.notes)


def test_nan_nodata_float_raster(tmp_path):
    g = _grid().astype(np.float64)
    g[g == NODATA] = np.nan
    p = _tif(tmp_path / "nan.tif", g, crs="EPSG:4326",
             transform=from_origin(GEO_X0, GEO_Y0, GEO_D, GEO_D), nodata=np.nan)
    r = read_population_raster(p)
    assert r.mask.sum() == 98 and np.isfinite(r.data).all()
    assert r.total == pytest.approx(sum(range(100)) - 99)


def test_no_georeferencing(tmp_path):
    import warnings

    from rasterio.errors import NotGeoreferencedWarning

    p = tmp_path / "plain.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(p, "w", driver="GTiff", width=4, height=3, count=1,
                           dtype="float32") as dst:
            dst.write(np.ones((3, 4), np.float32), 1)
    with pytest.raises(InputError) as e:
        read_population_raster(p)
    assert {q.field for q in e.value.problems} == {"crs", "transform"}
