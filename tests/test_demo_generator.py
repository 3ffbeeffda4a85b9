"""Synthetic demo county: deterministic files in the formats, encodings and CRSs a bureau really
has.

The generator writes ordinary files; these tests read them back the way a user's tools
would (raw bytes, pandas, pyogrio, the repo's census and code-list readers) and check:
  * the same seed gives byte-identical files, another seed different ones
  * every division code is well formed and hierarchical (domain.md §6 segment ranges)
  * census rows add up (age groups = total, households < residents) in both years,
    and the village withdrawn in 2023 is consistent across census, code lists and units
  * shelters.csv is really GBK and really GCJ-02 (300–700 m from the true positions)
  * depots.shp is GBK with a .cpg and CGCS2000 (EPSG:4490); team_bases.gpkg is in the
    truncated 3° Gauss-Kruger zone (EPSG:4549: eastings ~485 km, northings ~3,430 km)
  * every point lies inside the county outline and inside its own 所属区划代码
  * risk inputs come from the LEC / matrix tables and give all four colours
"""

from __future__ import annotations

import datetime as dt
import json

import geopandas as gpd
import numpy as np
import pandas as pd
import prcoords
import pyogrio
import pytest
import shapely
from pyproj import Geod, Transformer

from emgis.geo.crs import gcj02_to_wgs84
from emgis.layers.demo.county import DemoFiles, write_demo_county
from emgis.layers.load.census.read import read_census
from emgis.layers.load.codes import combine_code_lists, parse_code_list, parse_codes
from emgis.layers.norms import default_norms

GEOD = Geod(ellps="WGS84")
SHELTER_HEADER = ["编号", "名称", "行政级别", "设计类别", "时长类别", "灾种", "空间类型",
                  "有效面积", "容纳人数", "状态", "在避人数", "地址", "所属区划代码",
                  "经度", "纬度"]
CENSUS_HEADER = ["统计用区划代码", "名称", "常住人口", "户数", "0-14岁", "15-64岁", "65岁及以上",
                 "城乡分类代码"]
LEC_L = {10, 6, 3, 1, 0.5, 0.2, 0.1}
LEC_E = {10, 6, 3, 2, 1, 0.5}
LEC_C = {100, 40, 15, 7, 3, 1}


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> DemoFiles:
    return write_demo_county(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def outline(demo) -> shapely.Polygon:
    return gpd.read_file(demo.county).geometry.iloc[0]


@pytest.fixture(scope="module")
def units(demo) -> gpd.GeoDataFrame:
    return pyogrio.read_dataframe(demo.admin_units)


@pytest.fixture(scope="module")
def codes23(demo) -> pd.DataFrame:
    return pd.read_csv(demo.codes_2023, dtype=str, keep_default_na=False)


def _census(path) -> pd.DataFrame:
    return pd.read_csv(path, encoding="gbk", dtype={"统计用区划代码": str, "城乡分类代码": str})


def _shelters(demo) -> pd.DataFrame:
    return pd.read_csv(demo.shelters, encoding="gbk", dtype={"所属区划代码": str},
                       keep_default_na=False)


def _true_shelter_positions(demo) -> tuple[np.ndarray, np.ndarray]:
    s = _shelters(demo)
    return gcj02_to_wgs84(s["经度"].to_numpy(float), s["纬度"].to_numpy(float))


def _in_own_unit(units: gpd.GeoDataFrame, codes, lon, lat) -> np.ndarray:
    geom = units.set_index("code").geometry
    return np.array([shapely.contains_xy(geom[c], x, y)
                     for c, x, y in zip(codes, lon, lat, strict=True)])


# --- determinism ----------------------------------------------------------------------------------

def test_same_seed_gives_byte_identical_files_and_another_seed_differs(demo, tmp_path):
    again = write_demo_county(tmp_path / "again")
    names = sorted(p.name for p in demo.out_dir.iterdir())
    assert names == sorted(p.name for p in again.out_dir.iterdir())
    assert {"depots.cpg", "depots.dbf", "depots.shx", "depots.prj", "README.txt"} <= set(names)
    for name in names:
        assert (demo.out_dir / name).read_bytes() == (again.out_dir / name).read_bytes(), name
    assert again.counts == demo.counts
    other = write_demo_county(tmp_path / "other", seed=7)
    assert other.census_2020.read_bytes() != demo.census_2020.read_bytes()
    assert other.counts["townships"] == 12


def test_bad_seed_is_refused_naming_the_parameter(tmp_path):
    with pytest.raises(ValueError, match="seed=-1"):
        write_demo_county(tmp_path, seed=-1)


def test_demo_files_report_paths_counts_and_crs(demo):
    for name in ("county", "admin_units", "census_2020", "census_2023", "codes_2020", "codes_2023",
                 "shelters", "depots", "depot_stock", "team_bases", "risk_points", "hazards",
                 "hazard_zones", "roads", "readme"):
        assert getattr(demo, name).is_file(), name
    assert (demo.county_code, demo.metric_epsg) == ("339901", 4549)
    assert "合成" in demo.county_name and "synthetic" in demo.county_name_en
    c = demo.counts
    assert (c["townships"] == 12 and 200 <= c["villages_2023"] <= 240
            and c["villages_2020"] == c["villages_2023"] + 1)
    assert (40 <= c["shelters"] <= 50 and 25 <= c["team_bases"] <= 35
            and 70 <= c["risk_points"] <= 90)
    readme = demo.readme.read_text(encoding="utf-8")
    assert "SYNTHETIC" in readme and "合成数据" in readme and str(demo.seed) in readme
    for name in ("county.geojson", "shelters.csv", "depots.shp", "team_bases.gpkg",
                 "hazard_zones.geojson"):
        assert name in readme


# --- boundaries and codes -------------------------------------------------------------------------

def test_county_outline_is_irregular_and_about_45_by_35_km(demo, outline):
    props = json.loads(demo.county.read_text(encoding="utf-8"))["features"][0]["properties"]
    assert props == {"code": "339901", "name": demo.county_name}
    metric = gpd.GeoSeries([outline], crs=4326).to_crs(4549).iloc[0]
    x0, y0, x1, y1 = metric.bounds
    assert 38_000 < x1 - x0 < 55_000 and 28_000 < y1 - y0 < 45_000
    assert metric.area / metric.envelope.area < 0.85  # not a rectangle
    lon, lat = outline.centroid.coords[0]
    assert abs(lon - 119.85) < 0.1 and abs(lat - 31.0) < 0.1


def test_codes_are_valid_and_hierarchical(codes23, units):
    parsed = parse_codes(codes23["code"].to_numpy(dtype=object))
    assert parsed.ok.all()
    assert codes23["code"].str.fullmatch(r"339901\d{6}").all()
    by = {lvl: g for lvl, g in codes23.groupby("level")}
    assert by["county"]["code"].tolist() == ["339901000000"]
    town = by["township"]
    assert len(town) == 12 and town["code"].str.endswith("000").all()
    assert (town["parent_code"] == "339901000000").all()
    seg = town["code"].str[6:9].astype(int)
    # domain.md §6: 001–099 街道, 100–199 镇, 200–399 乡
    assert (town["name"].str.endswith("街道") == seg.between(1, 99)).all()
    assert (town["name"].str.endswith("镇") == seg.between(100, 199)).all()
    assert (town["name"].str.endswith("乡") == seg.between(200, 399)).all()
    assert (seg < 100).sum() == 2
    vil = by["village"]
    assert vil["parent_code"].isin(town["code"]).all()
    assert all(c.startswith(p[:9]) for c, p in zip(vil["code"], vil["parent_code"], strict=True))
    vseg = vil["code"].str[9:].astype(int)
    juwei = vil["name"].str.endswith("居委会")
    assert vseg[juwei].between(1, 199).all() and (vseg[~juwei] >= 200).all()
    assert codes23["code"].is_unique and codes23["name"].is_unique
    # the GeoJSON units are the same list, with the same parents
    merged = units.merge(codes23, on="code", suffixes=("", "_list"))
    assert len(merged) == len(units) == len(codes23)
    assert ((merged["parent_code"] == merged["parent_code_list"]).all()
            and (merged["level"] == merged["level_list"]).all())


def test_units_tile_their_parents(units, outline):
    assert units.is_valid.all()
    assert set(units.geom_type) <= {"Polygon", "MultiPolygon"}
    metric = units.to_crs(4549).set_index("code")
    county = metric.geometry["339901000000"]
    towns = metric[metric["level"] == "township"]
    assert abs(towns.area.sum() - county.area) / county.area < 1e-4
    for code, town in towns.iterrows():
        kids = metric[metric["parent_code"] == code]
        assert len(kids) >= 6
        assert abs(kids.area.sum() - town.geometry.area) / town.geometry.area < 1e-4, code


def test_withdrawn_village_is_consistent_across_years(demo, codes23, units):
    codes20 = pd.read_csv(demo.codes_2020, dtype=str, keep_default_na=False)
    gone = sorted(set(codes20["code"]) - set(codes23["code"]))
    assert len(gone) == 1 and set(codes23["code"]) <= set(codes20["code"])
    c20, c23 = _census(demo.census_2020), _census(demo.census_2023)
    assert gone[0] in set(c20["统计用区划代码"]) and gone[0] not in set(c23["统计用区划代码"])
    assert gone[0] not in set(units["code"])
    assert set(c23["统计用区划代码"]) == set(units.loc[units["level"] == "village", "code"])
    assert set(c20["统计用区划代码"]) == set(codes20.loc[codes20["level"] == "village", "code"])


# --- census ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("year", [2020, 2023])
def test_census_is_gbk_and_adds_up(demo, year):
    path = demo.census_2020 if year == 2020 else demo.census_2023
    raw = path.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert raw.decode("gbk").splitlines()[0].split(",") == CENSUS_HEADER
    c = _census(path)
    pop, hh = c["常住人口"], c["户数"]
    assert (c["0-14岁"] + c["15-64岁"] + c["65岁及以上"] == pop).all()
    assert ((c[["0-14岁", "15-64岁", "65岁及以上"]] >= 0).all(axis=None))
    assert ((hh > 0) & (hh < pop)).all()
    assert 2.3 < pop.sum() / hh.sum() < 3.3
    assert 420_000 < pop.sum() < 480_000
    assert c["统计用区划代码"].str.fullmatch(r"339901\d{6}").all() and c["统计用区划代码"].is_unique
    cls = c["城乡分类代码"]
    assert set(cls) <= {"111", "112", "121", "122", "123", "210", "220"}
    seg = c["统计用区划代码"].str[6:9].astype(int)
    # urban-rural class follows the township type: 主城区 only in 街道, 镇中心区 in 镇, 乡中心区 in
    # 乡
    assert seg[cls == "111"].between(1, 99).all()
    assert seg[cls.isin(["121", "122"])].between(100, 199).all()
    assert seg[cls == "210"].between(200, 399).all()
    assert (cls == "210").sum() == 3
    med = pop.groupby(cls).median()
    assert med["111"] > 2 * med["220"]  # dense county seat, small villages
    assert pop.max() / pop.min() > 10  # lognormal spread, not uniform


def test_census_files_pass_the_repos_own_census_reader(demo):
    lists = [parse_code_list(p)[0] for p in (demo.codes_2020, demo.codes_2023)]
    code_list = combine_code_lists(lists)
    for year, path in ((2020, demo.census_2020), (2023, demo.census_2023)):
        result = read_census(path, year=year, code_list=code_list, county_code="339901")
        assert result.ok, [str(p) for p in result.problems.items]
        assert not result.problems.items
        assert len(result.frame) == len(_census(path))


def test_2023_population_drifted_a_few_percent(demo):
    c20, c23 = _census(demo.census_2020), _census(demo.census_2023)
    j = c20.merge(c23, on="统计用区划代码", suffixes=("_20", "_23"))
    ratio = j["常住人口_23"] / j["常住人口_20"]
    assert 0.85 < ratio.median() < 1.1
    assert abs(c23["常住人口"].sum() / c20["常住人口"].sum() - 1) < 0.05


# --- shelters -------------------------------------------------------------------------------------

def test_shelters_csv_is_gbk_with_the_exact_chinese_header(demo):
    raw = demo.shelters.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert raw.decode("gbk").splitlines()[0].split(",") == SHELTER_HEADER
    s = _shelters(demo)
    assert set(s["行政级别"]) <= {"县级", "乡镇级", "村级"}
    assert set(s["设计类别"]) <= {"紧急", "固定", "中心"}
    assert (s["设计类别"] == "中心").sum() == 1 and 3 <= (s["设计类别"] == "固定").sum() <= 10
    assert (s["设计类别"] == "紧急").sum() > len(s) / 2
    assert set(s["时长类别"]) <= {"紧急", "短期", "中期", "长期"}
    hazards = {h for v in s["灾种"] for h in v.split(";")}
    assert hazards <= {"地震", "洪涝", "地质灾害", "台风", "火灾"}
    assert set(s["空间类型"]) == {"室外", "室内"}
    assert (set(s["状态"]) <= {"开放", "关闭", "规划", "不可用"}
            and (s["状态"] == "开放").mean() > 0.7)
    area = s["有效面积"].astype(float)
    assert (area > 0).all()
    blank = s["容纳人数"] == ""
    assert 0.3 < blank.mean() < 0.7
    assert s.loc[~blank, "容纳人数"].str.fullmatch(r"\d+").all()
    occ = s["在避人数"].astype(int)
    assert (occ >= 0).all() and (occ == 0).mean() > 0.8
    assert s["编号"].is_unique and s["名称"].is_unique
    assert s["所属区划代码"].str.fullmatch(r"339901\d{6}").all()


def test_shelter_coordinates_are_gcj02_offset_300_to_700_m(demo, outline, units):
    s = _shelters(demo)
    glon, glat = s["经度"].to_numpy(float), s["纬度"].to_numpy(float)
    lon, lat = gcj02_to_wgs84(glon, glat)
    # an independent implementation (prcoords) maps the recovered positions back onto the file
    for x, y, gx, gy in zip(lon, lat, glon, glat, strict=True):
        fwd = prcoords.wgs_gcj(prcoords.Coords(y, x))
        assert abs(fwd.lat - gy) < 2e-6 and abs(fwd.lon - gx) < 2e-6
    _, _, offset = GEOD.inv(lon, lat, glon, glat)
    assert (offset > 300).all() and (offset < 700).all()
    # converted back, every shelter is inside the county and inside the unit the table names;
    # read as if it were WGS84, the ~500 m offset puts some into a neighbouring unit
    assert shapely.contains_xy(outline, lon, lat).all()
    assert _in_own_unit(units, s["所属区划代码"], lon, lat).all()
    assert not _in_own_unit(units, s["所属区划代码"], glon, glat).all()


def test_two_flood_shelters_sit_inside_the_high_flood_zone(demo):
    zones = gpd.read_file(demo.hazard_zones)
    high = zones[(zones["hazard_type"] == "flood") & (zones["level"] == "high")].union_all()
    s = _shelters(demo)
    lon, lat = _true_shelter_positions(demo)
    wet = shapely.contains_xy(high, lon, lat)
    assert 2 <= wet.sum() <= 3
    assert s.loc[wet, "灾种"].str.contains("洪涝").all()


# --- depots ---------------------------------------------------------------------------------------

def test_depots_shapefile_is_gbk_and_cgcs2000(demo, outline):
    assert demo.depots.with_suffix(".cpg").read_text(encoding="ascii").strip().upper() == "GBK"
    dbf = demo.depots.with_suffix(".dbf").read_bytes()
    assert "储备".encode("gbk") in dbf and "储备".encode() not in dbf
    assert pyogrio.read_info(demo.depots)["crs"] == "EPSG:4490"
    d = pyogrio.read_dataframe(demo.depots)
    assert list(d.columns) == ["id", "name", "level", "area_m2", "status", "geometry"]
    assert d["id"].is_unique and d["name"].is_unique
    assert d["name"].str.contains("储备").all()  # decoded correctly through the .cpg
    assert set(d["level"]) == {"省级", "市级", "县级", "乡镇级", "村级"}
    counts = d["level"].value_counts()
    assert (counts["省级"] == counts["市级"] == counts["县级"] == 1 and counts["乡镇级"] == 12
            and counts["村级"] >= 8)
    assert set(d["status"]) == {"启用", "停用"}
    assert (d.loc[d["level"] == "乡镇级", "status"] == "停用").sum() >= 1
    assert (d["area_m2"] > 0).all()
    # the city and provincial depots stay inside the outline, within 2 km of its edge
    m = d.to_crs(4549)
    edge = gpd.GeoSeries([outline.boundary], crs=4326).to_crs(4549).iloc[0]
    far = m[m["level"].isin(["省级", "市级"])]
    assert (far.distance(edge) < 2000).all()
    assert shapely.contains_xy(outline, d.geometry.x, d.geometry.y).all()


def test_depot_stock_refers_to_active_depots_with_units(demo):
    stock = pd.read_csv(demo.depot_stock, encoding="utf-8")
    assert list(stock.columns) == ["depot_id", "item", "quantity", "unit"]
    d = pyogrio.read_dataframe(demo.depots)
    assert set(stock["depot_id"]) <= set(d.loc[d["status"] == "启用", "id"])
    units = {"帐篷": "顶", "棉被": "床", "折叠床": "张", "饮用水": "L", "方便食品": "kg",
             "发电机": "台"}
    assert set(stock["item"]) == set(units)
    assert (stock["unit"] == stock["item"].map(units)).all()
    assert (stock["quantity"] > 0).all()
    tents = (stock[stock["item"] == "帐篷"].merge(d, left_on="depot_id", right_on="id")
             .groupby("level")["quantity"].max())
    assert tents["县级"] > tents["乡镇级"] > tents["村级"]


# --- rescue teams ---------------------------------------------------------------------------------

def test_team_bases_are_in_the_truncated_gauss_kruger_zone(demo, units):
    assert pyogrio.list_layers(demo.team_bases)[:, 0].tolist() == ["team_bases"]
    lon0 = 119.85
    assert 4534 + (round(lon0 / 3) - 25) == 4549  # zone 40, CM 120E, false easting 500 000
    assert pyogrio.read_info(demo.team_bases, layer="team_bases")["crs"] == "EPSG:4549"
    t = pyogrio.read_dataframe(demo.team_bases, layer="team_bases")
    x, y = t.geometry.x.to_numpy(), t.geometry.y.to_numpy()
    assert x.min() > 460_000 and x.max() < 510_000 and abs(np.median(x) - 485_000) < 8000
    assert y.min() > 3_410_000 and y.max() < 3_450_000 and abs(np.median(y) - 3_430_000) < 8000
    lon, lat = Transformer.from_crs(4549, 4326, always_xy=True).transform(x, y)
    assert _in_own_unit(units, t["unit_code"], lon, lat).all()


def test_team_bases_fields_and_planted_findings(demo):
    t = pyogrio.read_dataframe(demo.team_bases, layer="team_bases")
    assert list(t.columns) == ["id", "name", "team_type", "specialities", "personnel", "vehicles",
                               "status", "fire_class", "unit_code", "assessed_on", "geometry"]
    assert set(t["team_type"]) <= {"comprehensive", "fire_station", "forest_fire", "hazchem",
                                   "flood", "water_rescue", "medical", "mine", "volunteer"}
    assert set(t["status"]) <= {"available", "deployed", "unavailable"}
    assert t["id"].is_unique and t["name"].is_unique
    fire = t["team_type"] == "fire_station"
    assert set(t.loc[fire, "fire_class"]) <= {"class1", "class2", "small", "special"}
    assert t.loc[~fire, "fire_class"].isna().all()
    in_seat = fire & t["unit_code"].str[6:9].astype(int).between(1, 99)
    assert 2 <= in_seat.sum() <= 3
    comp = t[t["team_type"] == "comprehensive"]
    assert len(comp) == 12 and comp["unit_code"].str[:9].nunique() == 12
    assert comp["personnel"].between(20, 40).all() and 1 <= (comp["personnel"] < 30).sum() <= 3
    assert (t["personnel"] > 0).all() and (t["vehicles"] >= 0).all()
    assert t["specialities"].str.len().gt(0).all()


# --- risk points, hazards, zones ------------------------------------------------------------------

def test_risk_inputs_come_from_the_allowed_tables(demo, units):
    r = gpd.read_file(demo.risk_points)
    assert {"id", "name", "category", "method", "L", "E", "C", "S", "unit_code"} <= set(r.columns)
    assert set(r["category"]) == {"hazchem", "fuel_station", "landslide", "flood", "crowded",
                                  "mine", "industrial"}
    assert r["id"].is_unique and r["name"].is_unique
    lec, mat = r[r["method"] == "LEC"], r[r["method"] == "matrix"]
    assert len(lec) + len(mat) == len(r) and len(mat) > 0
    assert set(lec["L"]) <= LEC_L and set(lec["E"]) <= LEC_E and set(lec["C"]) <= LEC_C
    assert lec["S"].isna().all()
    assert set(mat["L"]) <= set(range(1, 6)) and set(mat["S"]) <= set(range(1, 6))
    assert mat["E"].isna().all() and mat["C"].isna().all()
    assert _in_own_unit(units, r["unit_code"], r.geometry.x, r.geometry.y).all()
    # colour with the bureau's default bands: every colour appears, several reds
    n = default_norms()
    d = lec["L"] * lec["E"] * lec["C"]
    lec_col = np.select([d > n.number("risk.lec.red_above"), d > n.number("risk.lec.orange_above"),
                         d > n.number("risk.lec.yellow_above")],
                        ["red", "orange", "yellow"], "blue")
    rr = mat["L"] * mat["S"]
    mat_col = np.select([rr >= n.number("risk.matrix.red_min"),
                         rr >= n.number("risk.matrix.orange_min"),
                         rr >= n.number("risk.matrix.yellow_min")],
                        ["red", "orange", "yellow"], "blue")
    colours = pd.Series(np.r_[lec_col, mat_col]).value_counts()
    assert set(colours.index) == {"red", "orange", "yellow", "blue"} and colours["red"] >= 4


def test_risk_points_sit_where_their_hazard_is(demo):
    r = gpd.read_file(demo.risk_points).to_crs(4549)
    z = gpd.read_file(demo.hazard_zones).to_crs(4549)
    chem = r[r["category"].isin(["hazchem"])]
    assert chem.union_all().convex_hull.buffer(1).envelope.area < 3000 * 3000  # one industrial park
    slides = z[z["hazard_type"] == "landslide"].union_all()
    assert r[r["category"] == "landslide"].within(slides).mean() > 0.9
    flood = z[z["hazard_type"] == "flood"].union_all()
    assert (r[r["category"] == "flood"].distance(flood) < 500).all()
    mines = r[r["category"] == "mine"]
    assert (mines.distance(slides) < 3000).all()  # in the hills


def test_hazard_register(demo):
    h = pd.read_csv(demo.hazards, encoding="utf-8", dtype={"risk_point_id": str},
                    keep_default_na=False)
    assert list(h.columns) == ["id", "title", "risk_point_id", "state", "responsible", "deadline",
                               "measures", "discovered_on", "lon", "lat"]
    assert 20 <= len(h) <= 30 and h["id"].is_unique
    assert set(h["state"]) == {"discovered", "confirmed", "under_control", "rectifying", "closed"}
    found = h["discovered_on"].map(dt.date.fromisoformat)
    deadline = h["deadline"].map(dt.date.fromisoformat)
    assert (deadline > found).all()
    ref = dt.date(2026, 11, 1)
    assert (found <= ref).all()
    overdue = (deadline < ref) & (h["state"] != "closed")
    assert 2 <= overdue.sum() <= 6
    risk_ids = set(gpd.read_file(demo.risk_points)["id"])
    linked = h["risk_point_id"] != ""
    assert h.loc[linked, "risk_point_id"].isin(risk_ids).all() and linked.mean() > 0.8


def test_hazard_zones(demo):
    z = gpd.read_file(demo.hazard_zones)
    assert list(z.columns) == ["hazard_type", "level", "geometry"]
    assert set(zip(z["hazard_type"], z["level"], strict=True)) == {
        (h, lv) for h in ("flood", "landslide") for lv in ("high", "medium", "low")}
    assert z.is_valid.all() and set(z.geom_type) <= {"Polygon", "MultiPolygon"}
    km2 = z.to_crs(4549).area.groupby(z["hazard_type"]).sum() / 1e6
    assert 20 < km2["flood"] < 250 and 20 < km2["landslide"] < 300


def test_every_point_lies_inside_the_county(demo, outline):
    lon, lat = _true_shelter_positions(demo)
    assert shapely.contains_xy(outline, lon, lat).all()
    d = pyogrio.read_dataframe(demo.depots)
    assert shapely.contains_xy(outline, d.geometry.x, d.geometry.y).all()
    t = pyogrio.read_dataframe(demo.team_bases).to_crs(4326)
    assert shapely.contains_xy(outline, t.geometry.x, t.geometry.y).all()
    r = gpd.read_file(demo.risk_points)
    assert shapely.contains_xy(outline, r.geometry.x, r.geometry.y).all()
    h = pd.read_csv(demo.hazards)
    assert shapely.contains_xy(outline, h["lon"], h["lat"]).all()
