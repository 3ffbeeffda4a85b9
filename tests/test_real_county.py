"""A real county, end to end (#15): 晋宁区, 安宁市 and 富民县 from what a bureau really has.

Each county runs the README's "your own county" path through the doors a user uses: `emgis
init` from the outline, `emgis load roads` (speeds from 道路等级), the township seats from Baidu
BD-09, the 7th-census county total, demand spread over the roads, a starter set of fire
stations (LSCP, 5 min) and shelters (MCLP) saved with `emgis site --save`, coverage and gaps,
nearest-3 with routes from every township seat (HTTP), a warning area over a seat, and the live
map in Chromium. The figures of each run (network size, people within 5/15/30 min, the time of
each step) are written to tests/artifacts/real_county_<code>.json for the closing note.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
import sqlalchemy as sa
from conftest import _serve, shared, watch_offline
from test_demand_real import KUNMING, _bd09_to_wgs84, _cli, _client, _county_total, _seats

pytestmark = [pytest.mark.postgis, pytest.mark.shared_data, pytest.mark.slow]

ARTIFACTS = Path(__file__).parent / "artifacts"


class Steps:
    """Times each step of the path."""

    def __init__(self) -> None:
        self.s: dict[str, float] = {}

    def run(self, name: str, *args: str):
        t0 = time.perf_counter()
        res = _cli(*args)
        self.s[name] = round(time.perf_counter() - t0, 2)
        assert res.exit_code == 0, (name, res.output)
        return res, " ".join(res.output.replace("│", " ").split())


def _within(times_min: pd.Series, pop: pd.Series, minutes: float) -> float:
    t = pd.to_numeric(times_min, errors="coerce").to_numpy(dtype=float)
    w = pop.to_numpy(dtype=float)
    return float(w[np.nan_to_num(t, nan=np.inf) <= minutes].sum() / w.sum())


@pytest.mark.parametrize("county", list(KUNMING), ids=[KUNMING[c] for c in KUNMING])
def test_a_real_county_end_to_end(county, db, tmp_path, monkeypatch, browser_page):
    stem = KUNMING[county]
    home = tmp_path / "home"
    monkeypatch.setenv("EMGIS_DATABASE_URL", db.url)
    monkeypatch.setenv("EMGIS_HOME", str(home))
    steps = Steps()
    steps.run("init", "init", "--boundary", str(shared(f"roads_cn/{stem}_boundary.geojson")),
              "--county", county)
    _, out = steps.run("load roads", "load", "roads", str(shared(f"roads_cn/{stem}_roads.gpkg")))
    with db.engine.connect() as c:
        net = dict(zip(("nodes", "edges", "components"), c.execute(sa.text(
            "SELECT nodes, edges, components FROM road_networks WHERE name = 'default'")).one(),
            strict=True))
        speeds = dict(c.execute(sa.text(
            "SELECT road_class, min(speed_kmh) FROM road_edges GROUP BY 1")).all())
    assert set(speeds) == {"主干路", "次干路", "支路", "内部道路"}, speeds  # 道路等级, as given
    seats_file = shared(f"roads_cn/{stem}_townships_bd09.csv")
    seats = _seats(seats_file, county)
    steps.run("load township seats (BD-09)", "load", "admin_units", str(seats_file), "--crs",
              "bd09", "--accept-warnings")
    total = _county_total(county)
    census = tmp_path / "total.csv"
    census.write_text(f"统计用区划代码,名称,常住人口\n{county}000000,{stem},{total}\n",
                      encoding="utf-8")
    steps.run("load county total", "load", "census", str(census), "--year", "2020")
    steps.run("demand", "population", "demand", str(tmp_path / "d.csv"))
    d = pd.read_csv(tmp_path / "d.csv", dtype={"code": str})
    assert int(d["population"].sum()) == total and set(d["population_method"]) == {"county_proxy"}

    # a starter set: fire stations everyone can reach in 5 min where roads allow, and shelters
    _, out = steps.run("site fire (LSCP 5 min)", "site", "--layer", "fire", "--model", "lscp",
                       "--candidates", "grid:1500", "--save", "--time-limit", "120")
    assert "independent check ok" in out and "saved" in out
    _, out = steps.run("site shelters (MCLP 10)", "site", "--layer", "shelters", "--model",
                       "mclp", "--add", "10", "--candidates", "grid:1500", "--save",
                       "--time-limit", "120")
    assert "independent check ok" in out and "saved 10" in out

    shares = {}
    for layer in ("fire", "shelters"):
        _, out = steps.run(f"coverage {layer}", "coverage", "--layer", layer, "--out",
                           str(tmp_path / f"{layer}.csv"))
        assert "proposed sites saved by `emgis site --save`" in out  # the answer says so
        assert "county total spread by a proxy" in out or "approximately" in out
        cov = pd.read_csv(tmp_path / f"{layer}.csv")
        assert int(cov["population"].sum()) == total
        shares[layer] = {m: round(_within(cov["time_min"], cov["population"], m), 4)
                         for m in (5, 15, 30)}
    assert shares["fire"][30] > 0.5
    _, out = steps.run("gaps shelters", "gaps", "--layer", "shelters", "--out",
                       str(tmp_path / "gaps.xlsx"), "--lang", "en")
    gaps = pd.read_excel(tmp_path / "gaps.xlsx", sheet_name="townships")
    assert gaps["township"].notna().all() and (gaps["township"] != "—").all()  # "—": unknown
    placed = pd.read_excel(tmp_path / "gaps.xlsx", sheet_name="placement")
    assert placed["people"].sum() == pytest.approx(total)  # every person, and how placed
    assert set(placed["placed"]) == {"approximate"}

    # nearest 3 stations with routes from every township seat, and a warning area over one
    t0 = time.perf_counter()
    with _client(db, home) as client:
        for seat in seats:
            lon, lat = _bd09_to_wgs84(float(seat["经度"]), float(seat["纬度"]))
            r = client.get("/analyses/nearest", params={"lon": lon, "lat": lat,
                                                        "layer": "team_bases", "k": 3})
            assert r.status_code == 200, (seat["名称"], r.text)
            feats = r.json()["features"]
            assert len(feats) == 3, seat["名称"]
            assert all(f["geometry"]["type"] == "LineString" for f in feats)
        steps.s["nearest-3 from every township (HTTP)"] = round(time.perf_counter() - t0, 2)
        cov = client.get("/analyses/coverage", params={"layer": "shelters"}).json()
        assert cov["placement"]["approximate"] == pytest.approx(total)
        assert cov["capacity"]["shelters_of_unknown_capacity"] == 10  # the sited ones: unknown
        lon, lat = _bd09_to_wgs84(float(seats[0]["经度"]), float(seats[0]["纬度"]))
        t0 = time.perf_counter()
        r = client.post("/analyses/warning-area",
                        json=shapely.geometry.mapping(shapely.Point(lon, lat).buffer(0.01)))
        steps.s["warning area (HTTP)"] = round(time.perf_counter() - t0, 2)
    assert r.status_code == 200, r.text
    ans = r.json()
    assert ans["population_total"] > 0 and "approximately" in ans["note"]

    # the live map, offline, in Chromium
    from emgis.api.http.app import create_app
    from emgis.layers.settings import ApiSettings, DatabaseSettings, MapSettings
    from emgis.maps.vendor import VendorMissing, require

    try:
        require()
    except VendorMissing as exc:
        from conftest import missing

        missing(str(exc))
    # no base-map tiles: the default (OSM) needs the internet (an offline base map is #18's)
    app = create_app(ApiSettings(), engine=db.engine, db_settings=DatabaseSettings(home=home),
                     map_settings=MapSettings(tiles="none"))
    with _serve(app) as base:
        page = browser_page
        errors, external = watch_offline(page)
        page.goto(base + "/maps/live")
        page.wait_for_selector(".emgis-team_bases", timeout=30000)
        page.wait_for_selector(".emgis-shelters", timeout=30000)
        assert errors == [] and external == [], (errors, external)

    with db.engine.connect() as c:
        sited = {"fire stations": c.execute(sa.text("SELECT count(*) FROM team_bases")).scalar(),
                 "shelters": c.execute(sa.text("SELECT count(*) FROM shelters")).scalar()}
    figures = {"county": county, "name": stem, "network": net, "population": total,
               "sited": sited,
               "demand_points": len(d), "townships": len(seats), "within_min": shares,
               "steps_s": steps.s}
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"real_county_{county}.json").write_text(
        json.dumps(figures, ensure_ascii=False, indent=1), encoding="utf-8")
    print(json.dumps(figures, ensure_ascii=False))
