"""`emgis coverage` and `emgis gaps` on the demo county, and the coverage map in Chromium."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from conftest import watch_offline
from typer.testing import CliRunner

from emgis.api.cli import app
from emgis.layers.norms import default_norms

pytestmark = pytest.mark.postgis


@pytest.mark.parametrize("layer", ["shelters", "fire", "depots", "teams"])
def test_coverage_of_each_kind(layer, demo_env, tmp_path):
    res = CliRunner().invoke(app,
                             ["coverage", "--layer", layer, "--out", str(tmp_path / "c.geojson")])
    assert res.exit_code == 0, res.output
    c = gpd.read_file(tmp_path / "c.geojson")
    assert len(c) == 220
    # the flag is recomputed from the reported times and the norms: any facility within its own
    # standard
    norms = default_norms()
    per_class = [k for k in c.columns if k.startswith("time_min.")]
    if per_class:
        key = {"shelters": "shelter.service_time_min", "depots": "depot.delivery_h"}[layer]
        unit = 60 if layer == "depots" else 1
        ok = np.zeros(len(c), dtype=bool)
        for col in per_class:
            ok |= (c[col].astype(float).fillna(np.inf).to_numpy()
                   <= norms.number(f"{key}.{col[9:]}") * unit + 0.01)
    else:
        ok = (c["time_min"].astype(float).fillna(np.inf).to_numpy()
              <= c["standard_min"].astype(float).to_numpy() + 0.01)
    assert (c["covered"].to_numpy() == ok).all()
    share = c.loc[c["covered"], "population"].sum() / c["population"].sum()
    assert f"{share:.1%}" in res.output
    if layer == "fire":  # the 5-minute rule from the norms table
        assert set(c["standard_min"].astype(float)) == {default_norms().number("fire.response_min")}


def test_gaps_tables_clusters_and_map(demo_env, tmp_path, served, browser_page):
    run = CliRunner()
    res = run.invoke(app, ["gaps", "--layer", "shelters", "--out", str(tmp_path / "gaps.xlsx"),
                           "--clusters", str(tmp_path / "clusters.geojson"), "--map",
                           str(tmp_path / "gaps.html"), "--lang", "en"])
    assert res.exit_code == 0, res.output
    sheets = pd.read_excel(tmp_path / "gaps.xlsx", sheet_name=None,
                           dtype={"village code": str, "township code": str})
    assert {"villages", "townships", "hazard_villages"} <= set(sheets)
    v, t = sheets["villages"], sheets["townships"]
    assert v["gap"].sum() == pytest.approx(t["gap"].sum())
    assert list(t["gap"]) == sorted(t["gap"], reverse=True)
    # townships by name, as people know them (the table printed codes such as 339901001)
    assert t["township"].notna().all() and v["township"].notna().all()
    assert not ({"—"} & set(t["township"]) | {"—"} & set(v["township"]))  # "—": not known
    assert str(t["township"].iloc[0]) in res.output
    clusters = gpd.read_file(tmp_path / "clusters.geojson")
    assert clusters["population"].sum() == pytest.approx(v["uncovered"].sum())
    assert "hazard zones" in res.output

    page = browser_page
    errors, external = watch_offline(page)
    page.goto(f"{served}/gaps.html")
    page.wait_for_selector("path.emgis-demand", timeout=15000)
    assert errors == [] and external == []
    assert page.locator("path.emgis-demand.uncovered").count() == int((v["uncovered"] > 0).sum())
    assert page.locator("path.emgis-facility").count() > 0
    assert "Out of reach" in page.locator(".emgis-coverage-legend").inner_text()


def test_coverage_without_roads_is_a_clear_error(db, monkeypatch, tmp_path):
    monkeypatch.setenv("EMGIS_DATABASE_URL", db.url)
    monkeypatch.setenv("EMGIS_HOME", str(tmp_path))
    res = CliRunner().invoke(app, ["coverage", "--layer", "shelters"])
    assert res.exit_code == 2
    res = CliRunner().invoke(app, ["coverage", "--layer", "hospitals"])
    assert res.exit_code == 2 and "hospitals" in res.output


@pytest.mark.bad_input
def test_shelters_without_capacity_are_capacity_unknown_not_zero(demo_env):
    """Found with real shelters (no capacity): coverage printed 'sheltered within capacity 0
    (unserved 87,544)' and gaps 'under-served 100 %' — unknown was treated as zero."""
    import sqlalchemy as sa

    db, _ = demo_env
    with db.engine.begin() as c:
        c.execute(sa.text("UPDATE shelters SET capacity = NULL, effective_area_m2 = NULL"))
    res = CliRunner().invoke(app, ["coverage", "--layer", "shelters"])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.replace("│", " ").split())  # table cells may wrap
    assert "sheltered within capacity 0 (unserved" in out
    assert "covered, capacity unknown" in out and "have no capacity" in out
    served_line = out[out.index("sheltered within capacity"):]
    unserved = float(served_line.split("unserved ")[1].split(")")[0].replace(",", ""))
    covered = float(out.split("within the standard")[1].split()[0].replace(",", ""))
    total = float(out.split("population")[1].split()[0].replace(",", ""))
    assert unserved == pytest.approx(total - covered, abs=1)  # only the out-of-reach ones
    res = CliRunner().invoke(app, ["gaps", "--layer", "shelters"])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.replace("│", " ").split())
    assert "within reach only of shelters of unknown capacity" in out
