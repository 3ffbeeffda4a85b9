"""Reports people open in a spreadsheet never evaluate a name as a formula (OWASP "CSV
injection"): a shelter named ``=HYPERLINK(...)`` is shown as text in the warning-area workbook and
in the tables `emgis coverage|gaps|site` and `emgis risk export` write."""

from __future__ import annotations

import io

import openpyxl
import pandas as pd

from emgis.layers.text import spreadsheet_safe
from emgis.shelters.warning import workbook

EVIL = '=HYPERLINK("http://127.0.0.1/x","点击")'


def test_text_cells_starting_a_formula_are_quoted_and_nothing_else_changes():
    df = pd.DataFrame({"name": [EVIL, "+1", "-2", "@SUM(A1)", "\t=1", "正常 name", None],
                       "population": [1, 2, 3, 4, 5, 6, 7], "share": [-0.5] * 7})
    out = spreadsheet_safe(df)
    assert out["name"].tolist()[:5] == ["'" + v for v in df["name"].tolist()[:5]]
    assert out["name"].iloc[5] == "正常 name" and pd.isna(out["name"].iloc[6])
    assert out["population"].tolist() == df["population"].tolist()
    assert out["share"].tolist() == [-0.5] * 7  # numbers stay numbers
    assert df["name"].iloc[0] == EVIL  # the caller's frame is not changed


def test_the_warning_area_workbook_shows_a_formula_name_as_text():
    shelter = {"id": 1, "ext_id": "S1", "name": EVIL, "status": "open", "capacity": 100,
               "occupancy": 0}
    ans = {"population_total": 10.0, "villages_total": 1, "villages_without_route": 0,
           "shelters_inside": [shelter], "census_year": 2020, "area": {"area_km2": 1.0},
           "close_roads": False, "rule": "r",
           "villages": [{"code": "1", "name": "-村", "population": 10.0, "fully_inside": True,
                         "shelter": EVIL, "shelter_id": 1, "time_min": 1.0, "snap_m": 1.0}],
           "shelters_used": []}
    wb = openpyxl.load_workbook(io.BytesIO(workbook(ans)))
    cells = [c.value for ws in wb.worksheets for row in ws.iter_rows() for c in row]
    assert "'" + EVIL in cells and "'-村" in cells
    assert EVIL not in cells
    formulas = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row
                if c.data_type == "f"]
    assert formulas == []
