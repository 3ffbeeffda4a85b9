"""Raster hazard zoning: slope with metre cell sizes, reclassify, overlay, polygons and areas."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from pyproj import CRS, Geod

from emgis.risk.zoning import (
    Raster,
    cell_area_m2,
    class_areas,
    read_dem,
    reclassify,
    slope,
    slope_zones,
    vectorise,
    weighted_overlay,
)

WGS84 = CRS.from_epsg(4326)
GEOD = Geod(ellps="WGS84")
ARC_SEC = 1 / 3600


def _geographic(data: np.ndarray, west: float, north: float, cell: float = ARC_SEC) -> Raster:
    return Raster(np.asarray(data, dtype=float), Affine(cell, 0, west, 0, -cell, north), WGS84)


def _plane(lat_north: float, k: float, direction: str, n: int = 40) -> Raster:
    """A plane rising ``k`` metres per metre east or north, measured with geodesics."""
    west = 120.0
    lons = west + (np.arange(n) + 0.5) * ARC_SEC
    lats = lat_north - (np.arange(n) + 0.5) * ARC_SEC
    z = np.zeros((n, n))
    for i, lat in enumerate(lats):
        if direction == "east":
            _, _, d = GEOD.inv(np.full(n, west), np.full(n, lat), lons, np.full(n, lat))
            z[i] = k * np.asarray(d)
        else:
            _, _, d = GEOD.inv(west, lats[-1], west, lat)
            z[i] = k * d
    return _geographic(z, west, lat_north)


@pytest.mark.parametrize("lat", [0.5, 36.9, 60.0])
@pytest.mark.parametrize("direction", ["east", "north"])
def test_slope_of_a_known_plane_uses_metre_cells(lat, direction):
    k = 0.25  # 14.036°
    s = slope(_plane(lat, k, direction)).data[2:-2, 2:-2]
    assert np.nanmax(np.abs(s - np.degrees(np.arctan(k)))) < 0.01


def test_slope_keeps_coastal_cells_and_nodata():
    z = np.full((5, 5), 10.0)
    z[:, :2] = np.nan  # sea, masked
    s = slope(_geographic(z, 122.0, 37.0)).data
    assert np.isnan(s[:, :2]).all()
    assert np.allclose(s[:, 2:], 0.0), "a land cell next to the sea is flat, not nodata"


def test_cell_area_matches_geodesic_polygons():
    r = _geographic(np.zeros((3, 2)), 122.0, 37.0, cell=0.01)
    areas = cell_area_m2(r)
    for i, top in enumerate([37.0, 36.99, 36.98]):
        lons = [122.0, 122.01, 122.01, 122.0]
        lats = [top, top, top - 0.01, top - 0.01]
        geodesic, _ = GEOD.polygon_area_perimeter(lons, lats)
        assert areas[i] == pytest.approx(abs(geodesic), rel=1e-5)


def test_reclassify_bins_are_closed_on_the_left():
    r = _geographic(np.array([[0, 7.99, 8, 14.99, 15, 25, 30, np.nan]]), 0, 1)
    c = reclassify(r, [8, 15, 25], labels=["low", "medium", "high", "very_high"])
    assert np.array_equal(c.data, [[1, 1, 2, 2, 3, 4, 4, np.nan]], equal_nan=True)
    assert c.labels == ("low", "medium", "high", "very_high")
    with pytest.raises(ValueError, match="3 breaks make 4 classes"):
        reclassify(r, [8, 15, 25], labels=["a", "b"])
    with pytest.raises(ValueError, match="strictly increasing"):
        reclassify(r, [15, 8])


def test_weighted_overlay_on_one_grid_and_resampled():
    a = _geographic(np.array([[1, 2], [3, np.nan]]), 0, 1, cell=1)
    b = _geographic(np.array([[3, 3], [1, 1]]), 0, 1, cell=1)
    out = weighted_overlay([a, b], [3, 1])
    # (3·1 + 1·3)/4 = 1.5; (3·2 + 3)/4 = 2.25; (9 + 1)/4 = 2.5; nodata stays nodata
    assert np.array_equal(out.data, [[1.5, 2.25], [2.5, np.nan]], equal_nan=True)
    coarse = _geographic(np.array([[4.0]]), 0, 1, cell=2)  # one 2° cell covering all four
    out2 = weighted_overlay([b, coarse], [1, 1])
    assert np.array_equal(out2.data, [[3.5, 3.5], [2.5, 2.5]])
    with pytest.raises(ValueError, match="one weight per raster"):
        weighted_overlay([a, b], [1])


def test_vectorise_small_class_raster():
    data = np.array([[1, 1, 2], [1, 2, 2], [np.nan, 3, 3]])
    r = Raster(data, Affine(0.01, 0, 122.0, 0, -0.01, 37.0), WGS84, ("low", "medium", "high"))
    polys = vectorise(r)
    assert polys.crs.to_epsg() == 4326
    assert sorted(polys["level"]) == ["high", "low", "medium"]
    per_class = polys.groupby("class")["area_m2"].sum()
    expected = class_areas(r)
    for cls, area in expected.items():
        assert per_class[cls] == pytest.approx(area, rel=1e-4)
    one_cell = cell_area_m2(r)[0]
    assert expected[1] == pytest.approx(3 * one_cell, rel=1e-3)


@pytest.mark.shared_data
def test_sea_is_masked_not_flat_land(shared_data):
    path = shared_data("dem/ASTGTMV003_N36E122_dem.tif")
    bounds = (122.40, 36.85, 122.54, 36.95)
    raw = read_dem(path, bounds=bounds, mask_at_or_below=None)
    dem = read_dem(path, bounds=bounds)
    sea = raw.data <= 0
    assert 0.05 < sea.mean() < 0.95, "the window holds both land and sea"
    assert np.isnan(dem.data[sea]).all() and not np.isnan(dem.data[~sea]).any()
    assert np.isnan(slope(dem).data[sea]).all()


@pytest.mark.shared_data
def test_slope_zoning_of_the_real_dem_matches_cell_areas(shared_data):
    path = shared_data("dem/ASTGTMV003_N36E122_dem.tif")
    dem = read_dem(path, bounds=(122.30, 36.85, 122.50, 37.00))
    assert dem.shape == (540, 720)
    s = slope(dem).data
    land = s[~np.isnan(s)]
    # the data README reports p50 4.7°, p95 19.2° over all the tile's land
    assert 3 < np.median(land) < 7 and 15 < np.percentile(land, 95) < 25
    classes, polys = slope_zones(dem, [8, 15, 25], labels=["low", "medium", "high", "very_high"])
    assert polys.crs.to_epsg() == 4326 and len(polys) > 100
    raster_area = class_areas(classes)
    polygon_area = polys.groupby("class")["area_m2"].sum()
    assert set(raster_area) == {1, 2, 3, 4}
    for cls, area in raster_area.items():
        assert polygon_area[cls] == pytest.approx(area, rel=0.01)
    # cell counts × cell area, independently: every cell near 36.9 N is ≈ 30.9 m × 24.8 m
    n_cells = int((~np.isnan(classes.data)).sum())
    approx_cell = (ARC_SEC * np.pi / 180 * 6_371_000) ** 2 * np.cos(np.radians(36.925))
    assert sum(raster_area.values()) == pytest.approx(n_cells * approx_cell, rel=0.01)
