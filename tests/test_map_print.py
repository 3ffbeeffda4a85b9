"""Printable maps (#18, Build 6): `emgis map print` and the pages' print frame.

The live map and the coverage map are printed through the command (headless Chromium, the API
served for the print) and saved in tests/artifacts/prints/; the same pages opened in print mode
show their title, date, sources, north arrow, legend and scale bar, and hide their buttons.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import _serve, missing, watch_offline
from typer.testing import CliRunner

from emgis.api.cli import app

pytestmark = [pytest.mark.postgis]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "prints"


@pytest.fixture
def env(demo_db, monkeypatch):
    from emgis.maps.vendor import VendorMissing, require

    try:
        require()
    except VendorMissing as exc:
        missing(str(exc))
    if not shutil.which("chromium"):
        missing("chromium is not installed (scripts/bootstrap.sh --browser)")
    monkeypatch.setenv("EMGIS_DATABASE_URL", demo_db.url)
    monkeypatch.setenv("EMGIS_HOME", str(demo_db.home))
    monkeypatch.delenv("EMGIS_MAP_TILES", raising=False)  # the offline base: the default
    return demo_db


@pytest.mark.parametrize("page, args", [("live", []), ("coverage", ["--layer", "shelters"])],
                         ids=["live", "coverage"])
def test_print_a_page_to_png(env, page, args):
    from PIL import Image

    out = ARTIFACTS / f"{page}.png"
    out.unlink(missing_ok=True)
    res = CliRunner().invoke(app, ["map", "print", page, "--out", str(out), "--wait-s", "6",
                                   *args])
    assert res.exit_code == 0, res.output
    img = Image.open(out)
    assert img.size == (1600, 1100)
    # drawn, not blank: many colours (roads, outlines, symbols, legend)
    assert len(img.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 200


def test_print_to_pdf(env, tmp_path):
    import pypdfium2 as pdfium

    out = tmp_path / "risk.pdf"
    res = CliRunner().invoke(app, ["map", "print", "risk", "--out", str(out), "--wait-s", "4"])
    assert res.exit_code == 0, res.output
    assert len(pdfium.PdfDocument(str(out))) >= 1


@pytest.mark.browser
@pytest.mark.parametrize("path, legend", [("/maps/live", ".emgis-legend"),
                                          ("/maps/coverage?layer=shelters",
                                           ".emgis-coverage-legend"),
                                          ("/maps/risk", ".emgis-risk-legend")],
                         ids=["live", "coverage", "risk"])
def test_print_mode_has_the_parts_of_a_map(env, browser_page, path, legend):
    from emgis.api.http.app import create_app
    from emgis.layers.settings import ApiSettings, DatabaseSettings

    page = browser_page
    errors, external = watch_offline(page)
    with _serve(create_app(ApiSettings(), engine=env.engine,
                           db_settings=DatabaseSettings(home=env.home))) as base:
        page.goto(base + path + ("&" if "?" in path else "?") + "print=1")
        page.wait_for_selector(".emgis-print-frame", state="visible", timeout=30000)
        title = page.inner_text(".emgis-print-title")
        assert title.strip()
        assert page.inner_text(".emgis-print-meta").count("-") >= 2  # the date
        for part in (".emgis-north", ".leaflet-control-scale", legend):
            assert page.is_visible(part), part
        for hidden in (".leaflet-control-zoom", ".emgis-print-btn"):
            assert not page.is_visible(hidden), hidden
    # on screen (no print=1) the frame is hidden and the button is there
    assert errors == [] and external == [], (errors, external)


@pytest.mark.bad_input
@pytest.mark.parametrize("args, says", [
    (["map", "print", "atlas", "--out", "x.png"], "not a page"),
    (["map", "print", "live", "--out", "x.svg"], "print to .png or .pdf"),
], ids=["unknown-page", "unknown-format"])
def test_print_refuses_what_it_cannot_do(args, says, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2 and says in " ".join(res.output.split())
    assert list(tmp_path.iterdir()) == []
