"""Coverage and gaps by team type and speciality (#16, part 1): "the first half hour by
water-rescue teams" is coverage of the water-rescue teams alone against the team standard, on the
command line (`emgis coverage | gaps --type/--speciality`) and over HTTP (`/analyses/coverage |
gaps?team_type=`), checked against a brute force of one Dijkstra per team; and what the nearest
answers carry (free places of shelters, stock of depots)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from scipy.sparse.csgraph import dijkstra
from typer.testing import CliRunner

from emgis.api.cli import app

pytestmark = pytest.mark.postgis


@pytest.fixture
def env(demo_db, monkeypatch, tmp_path):
    monkeypatch.setenv("EMGIS_DATABASE_URL", demo_db.url)
    monkeypatch.setenv("EMGIS_HOME", str(demo_db.home))
    return demo_db, tmp_path


@pytest.fixture(scope="module")
def inputs(demo_db):
    from emgis.layers.norms import norms_in_force
    from emgis.shelters.store import load_coverage_inputs

    norms = norms_in_force(demo_db.engine)
    return load_coverage_inputs(demo_db.engine, network="default", home=demo_db.home,
                                norms=norms), norms


def brute_force(engine, inputs, team_type=None, speciality=None) -> np.ndarray:
    """Minutes from the nearest usable team of the type/speciality to each village: one scipy
    Dijkstra per team (from its base), plus the team's and the village's off-road snaps."""
    from emgis.geo.routing import snap_facilities
    from emgis.geo.store import facilities

    graph, demand = inputs.graph, inputs.demand
    fac = facilities(engine, "team_bases", team_type=team_type, speciality=speciality)
    assert len(fac) > 0
    snapped = snap_facilities(graph, fac.lon, fac.lat)
    mat = graph.matrix()
    node = demand["node"].to_numpy()
    off = demand["offroad_s"].to_numpy(dtype=float)
    best = np.full(len(demand), np.inf)
    for f in range(len(fac)):
        d = dijkstra(mat, indices=int(snapped.nodes[f]))
        t = np.where(node >= 0, d[np.maximum(node, 0)] + snapped.offset_s[f] + off, np.inf)
        best = np.minimum(best, t)
    return best / 60


@pytest.mark.parametrize(("given", "key", "spec"), [
    ("water_rescue", "water_rescue", None),
    ("水域救援", "water_rescue", None),
    (None, None, "危化品处置"),
], ids=["type-key", "type-chinese", "speciality"])
def test_first_half_hour_by_water_rescue_teams_agrees_with_brute_force(env, client, inputs, given,
                                                                       key, spec):
    db, tmp = env
    cov_inputs, norms = inputs
    want = brute_force(db.engine, cov_inputs, key, spec)
    out = tmp / "cov.csv"
    args = ["coverage", "--layer", "teams", "--out", str(out)]
    args += ["--type", given] if given else []
    args += ["--speciality", spec] if spec else []
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    got = pd.read_csv(out, dtype={"code": str})
    assert list(got["code"]) == list(cov_inputs.demand["code"])
    t = got["time_min"].to_numpy(dtype=float)
    fin = np.isfinite(want)
    assert (np.isfinite(t) == fin).all()
    np.testing.assert_allclose(t[fin], want[fin], atol=0.006)  # the table rounds to 0.01 min
    std = norms.number("team.response_min")
    assert std == 30 and set(got["standard_min"].dropna()) == {30.0}
    assert (got["covered"].to_numpy(dtype=bool) == (want <= std)).all()
    out_text = " ".join(res.output.split())
    assert "30 min" in out_text
    # over HTTP: the same teams, the same covered population
    params = {"layer": "teams"} | ({"team_type": given} if given else {}) \
        | ({"speciality": spec} if spec else {})
    r = client.get("/analyses/coverage", params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    pop = cov_inputs.demand["population"].to_numpy(dtype=float)
    assert body["team_type"] == key and body["speciality"] == spec
    assert body["standard_min"] == [30.0]
    assert body["covered"] == pytest.approx(pop[want <= std].sum())
    # the unfiltered answer is cached apart and differs (all teams count)
    every = client.get("/analyses/coverage", params={"layer": "teams"}).json()
    assert every["team_type"] is None and every["facilities"] > body["facilities"]
    gaps = client.get("/analyses/gaps", params=params)
    assert gaps.status_code == 200, gaps.text
    codes = {f["properties"]["code"] for f in gaps.json()["features"]}
    assert codes == set(cov_inputs.demand["code"][~(want <= std)])


def test_type_filtered_nearest_agrees_with_brute_force(client, demo_db, inputs):
    """/analyses/nearest?team_type=water_rescue ranks the water-rescue teams as one Dijkstra per
    team does, from each village's own place."""
    from emgis.geo.routing import snap, snap_facilities
    from emgis.geo.store import facilities

    cov_inputs, _ = inputs
    graph = cov_inputs.graph
    fac = facilities(demo_db.engine, "team_bases", team_type="water_rescue")
    snapped = snap_facilities(graph, fac.lon, fac.lat)
    mat = graph.matrix()
    trees = [dijkstra(mat, indices=int(n)) for n in snapped.nodes]
    d = cov_inputs.demand
    for i in np.linspace(0, len(d) - 1, 5).astype(int):
        lon, lat = float(d.geometry.iloc[i].x), float(d.geometry.iloc[i].y)
        here = snap(graph, lon, lat)
        times = np.array([trees[f][int(here.node)] + snapped.offset_s[f] for f in range(len(fac))])
        times += float(here.time_s)
        order = np.argsort(times, kind="stable")[:2]
        r = client.get("/analyses/nearest", params={"lon": lon, "lat": lat, "k": 2,
                                                    "layer": "team_bases",
                                                    "team_type": "水域救援"})
        assert r.status_code == 200, r.text
        feats = r.json()["features"]
        assert [f["properties"]["time_s"] for f in feats] == pytest.approx(
            list(times[order]), abs=0.2)
        assert {f["id"] for f in feats} <= set(fac.ids.tolist())


def test_gaps_by_team_type_on_the_command_line(env, inputs):
    db, tmp = env
    cov_inputs, norms = inputs
    want = brute_force(db.engine, cov_inputs, "comprehensive")
    out = tmp / "gaps.xlsx"
    res = CliRunner().invoke(app, ["gaps", "--layer", "teams", "--type", "综合", "--out", str(out),
                                   "--lang", "en"])
    assert res.exit_code == 0, res.output
    assert "综合性应急救援队伍 comprehensive" in " ".join(res.output.split())
    villages = pd.read_excel(out, sheet_name="villages", dtype={"village code": str})
    pop = cov_inputs.demand.set_index("code")["population"]
    out_of_reach = set(cov_inputs.demand["code"][want > norms.number("team.response_min")])
    assert set(villages.loc[villages["uncovered"] > 0, "village code"]) == out_of_reach
    assert villages["uncovered"].sum() == pytest.approx(pop[list(out_of_reach)].sum())


@pytest.mark.bad_input
@pytest.mark.parametrize(("args", "said"), [
    (["--layer", "teams", "--type", "nosuch"], "water_rescue (水域救援队伍)"),
    (["--layer", "shelters", "--type", "水域救援"], "select teams"),
    (["--layer", "fire", "--type", "hazchem"], "means team type fire_station"),
    (["--layer", "nowhere"], "is not a facility layer"),
], ids=["unknown-type", "type-on-shelters", "type-against-fire", "unknown-layer"])
@pytest.mark.parametrize("command", ["coverage", "gaps"])
def test_wrong_team_filters_on_the_command_line(env, command, args, said):
    res = CliRunner().invoke(app, [command, *args])
    assert res.exit_code == 2, res.output
    assert said in " ".join(res.output.split())


@pytest.mark.bad_input
@pytest.mark.parametrize(("path", "params", "status", "said"), [
    ("/analyses/coverage", {"layer": "teams", "team_type": "nosuch"}, 400,
     "water_rescue (水域救援队伍)"),
    ("/analyses/gaps", {"layer": "teams", "team_type": "nosuch"}, 400, "is not a team type"),
    ("/analyses/coverage", {"layer": "depots", "team_type": "消防"}, 400, "select teams"),
    ("/analyses/coverage", {"layer": "teams", "speciality": "驾驶飞碟"}, 409,
     "speciality 驾驶飞碟"),
], ids=["coverage-unknown-type", "gaps-unknown-type", "type-on-depots", "no-such-speciality"])
def test_wrong_team_filters_over_http(client, path, params, status, said):
    r = client.get(path, params=params)
    assert r.status_code == status and said in r.text, r.text


# --- what the nearest answers carry ---------------------------------------------------------------

def _village(engine) -> tuple[float, float]:
    with engine.connect() as c:
        return tuple(c.execute(sa.text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM admin_units "
            "WHERE level = 'village' AND geom IS NOT NULL ORDER BY code OFFSET 7 LIMIT 1) q")
        ).one())


def test_nearest_shelters_carry_free_places(client, demo_db):
    """Free places = capacity − occupancy; a shelter of unknown capacity says so (never 0)."""
    lon, lat = _village(demo_db.engine)
    with demo_db.engine.begin() as c:  # one shelter of unknown capacity, one partly occupied
        ids = c.execute(sa.text(
            "SELECT id FROM shelters WHERE status = 'open' ORDER BY "
            "ST_Distance(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326)) LIMIT 2"),
            {"x": lon, "y": lat}).scalars().all()
        c.execute(sa.text("UPDATE shelters SET capacity = NULL, capacity_source = 'unknown', "
                          "effective_area_m2 = NULL WHERE id = :i"), {"i": ids[0]})
        c.execute(sa.text("UPDATE shelters SET capacity = 500, occupancy = 120 WHERE id = :i"),
                  {"i": ids[1]})
    r = client.get("/analyses/nearest", params={"lon": lon, "lat": lat, "layer": "shelters",
                                                "k": 10})
    assert r.status_code == 200, r.text
    props = {f["id"]: f["properties"] for f in r.json()["features"]}
    assert set(ids) <= set(props)
    unknown = props[ids[0]]
    assert unknown["capacity"] is None and unknown["free_places"] is None
    assert unknown["capacity_known"] is False and "capacity unknown" in unknown["places"]
    known = props[ids[1]]
    assert (known["capacity"], known["occupancy"], known["free_places"]) == (500, 120, 380)
    assert known["capacity_known"] is True and "380" in known["places"]
    with demo_db.engine.connect() as c:
        rows = c.execute(sa.text("SELECT id, capacity, coalesce(occupancy, 0) FROM shelters "
                                 "WHERE id = ANY(:i)"), {"i": list(props)}).all()
    for i, cap, occ in rows:
        want = None if cap is None else max(int(cap) - int(occ), 0)
        assert props[i]["free_places"] == want


def test_nearest_depots_carry_their_stock(client, demo_db):
    lon, lat = _village(demo_db.engine)
    r = client.get("/analyses/nearest", params={"lon": lon, "lat": lat, "layer": "depots",
                                                "k": 3})
    assert r.status_code == 200, r.text
    feats = r.json()["features"]
    assert feats
    with demo_db.engine.connect() as c:
        for f in feats:
            want = c.execute(sa.text("SELECT item, quantity, unit FROM depot_stock "
                                     "WHERE depot_id = :d ORDER BY item"),
                             {"d": f["id"]}).all()
            got = f["properties"]["stock"]
            assert [(s["item"], s["quantity"], s["unit"]) for s in got] == \
                [(i, float(q), u) for i, q, u in want]
            assert f["properties"]["stock_items"] == len(want)
