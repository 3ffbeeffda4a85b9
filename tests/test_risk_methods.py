"""Risk levels and point scoring (LEC, risk matrix): hand-computed cases at every band edge."""

from __future__ import annotations

import pandas as pd
import pytest

from emgis.layers.norms import Norm, default_norms
from emgis.layers.problems import InputError
from emgis.risk.levels import LEVEL_KEYS, RANK, key_for_rank, level_key, risk_levels
from emgis.risk.methods import (
    LEC,
    MATRIX,
    Assessment,
    BandTable,
    assess,
    assess_many,
    band_tables,
    get_method,
    relevel,
    relevel_frame,
)


def _override(**values: float | str):
    return default_norms().with_overrides(
        Norm(key=k.replace("__", "."), value=v, unit="", standard="", clause="", status="L")
        for k, v in values.items()
    )


# --- levels -------------------------------------------------------------------------------


def test_four_levels_in_order_with_labels_and_colours():
    levels = risk_levels()
    assert [lv.key for lv in levels] == ["red", "orange", "yellow", "blue"]
    assert [lv.rank for lv in levels] == [4, 3, 2, 1]
    assert [lv.zh for lv in levels] == ["重大风险", "较大风险", "一般风险", "低风险"]
    assert [lv.en for lv in levels] == ["major", "significant", "general", "low"]
    assert [lv.colour for lv in levels] == ["#ff0000", "#ff8c00", "#ffd700", "#1e50ff"]
    blue = levels[-1].colour
    r, g, b = (int(blue[i:i + 2], 16) for i in (1, 3, 5))
    assert b > r and b > g, "the low level is blue, never green"


def test_level_colour_override_and_bad_colour():
    norms = _override(risk__colour__blue="#0000CC")
    assert risk_levels(norms)[-1].colour == "#0000cc"
    with pytest.raises(ValueError, match=r"risk\.colour\.blue.*'green'.*hex colour"):
        risk_levels(_override(risk__colour__blue="green"))


def test_level_lookup_and_rank():
    assert (level_key("重大风险") == "red" and level_key("蓝") == "blue"
            and level_key("low") == "blue")
    assert level_key("green") is None
    assert [key_for_rank(r) for r in (4, 3, 2, 1)] == list(LEVEL_KEYS)
    assert RANK["red"] > RANK["orange"] > RANK["yellow"] > RANK["blue"]
    with pytest.raises(ValueError, match="rank 5"):
        key_for_rank(5)


# --- LEC ----------------------------------------------------------------------------------

# (L, E, C, D worked out by hand, level). With the standard tables the products nearest the
# edges are 300|360 (edge 320), 150|180 (edge 160) and 63|70|75 (edge 70, reached exactly).
LEC_CASES = [
    (6, 6, 7, 252, "orange"),
    (10, 10, 3, 300, "orange"),   # largest product ≤ 320
    (10, 2, 15, 300, "orange"),
    (3, 3, 40, 360, "red"),       # smallest product > 320
    (10, 1, 40, 400, "red"),
    (10, 1, 15, 150, "yellow"),   # largest product ≤ 160
    (3, 0.5, 100, 150, "yellow"),
    (10, 6, 3, 180, "orange"),    # smallest product > 160
    (10, 1, 7, 70, "blue"),       # exactly 70: D ≤ 70 is blue
    (1, 10, 7, 70, "blue"),
    (3, 3, 7, 63, "blue"),
    (10, 0.5, 15, 75, "yellow"),  # smallest product > 70
    (0.2, 10, 40, 80, "yellow"),  # 0.2 × 10 × 40 is 80.00000000000001 in binary floats
    (0.1, 0.5, 1, 0.05, "blue"),
    (10, 10, 100, 10000, "red"),
]


@pytest.mark.parametrize(("L", "E", "C", "D", "level"), LEC_CASES)
def test_lec_hand_cases(L, E, C, D, level):
    a = assess("LEC", {"L": L, "E": E, "C": C})
    assert a.score == pytest.approx(D, abs=1e-9)
    assert a.level == level
    assert a.method == "LEC"
    assert a.band_version == BandTable.from_norms("LEC").version
    assert dict(a.inputs) == {"L": L, "E": E, "C": C}


def test_lec_band_closedness_at_unreachable_edges():
    t = BandTable.from_norms("LEC")
    assert [t.level_of(d) for d in (320, 320.01, 160, 160.01, 70, 70.01)] == [
        "orange", "red", "yellow", "orange", "blue", "yellow"]


def test_lec_overridden_band_makes_an_edge_reachable():
    norms = _override(risk__lec__red_above=300)
    bands = BandTable.from_norms("LEC", norms)
    assert bands.version != BandTable.from_norms("LEC").version
    assert assess("LEC", {"L": 10, "E": 10, "C": 3}, bands).level == "orange"  # 300, not > 300
    assert assess("LEC", {"L": 3, "E": 3, "C": 40}, norms=norms).level == "red"  # 360


def test_lec_score_descriptions():
    assert LEC.factor("L").describe(6) == "相当可能"
    assert LEC.factor("C").describe(100).startswith("大灾难")
    assert LEC.factor("E").allowed == (10, 6, 3, 2, 1, 0.5)


# --- matrix -------------------------------------------------------------------------------

MATRIX_CASES = [  # (L, S, R by hand, level): bands 20–25 red, 10–16 orange, 4–9 yellow, 1–3 blue
    (5, 5, 25, "red"), (4, 5, 20, "red"), (5, 4, 20, "red"),
    (4, 4, 16, "orange"), (3, 5, 15, "orange"), (3, 4, 12, "orange"), (2, 5, 10, "orange"),
    (3, 3, 9, "yellow"), (2, 4, 8, "yellow"), (2, 2, 4, "yellow"), (1, 4, 4, "yellow"),
    (4, 1, 4, "yellow"), (1, 3, 3, "blue"), (3, 1, 3, "blue"), (1, 1, 1, "blue"),
]


@pytest.mark.parametrize(("L", "S", "R", "level"), MATRIX_CASES)
def test_matrix_hand_cases(L, S, R, level):
    a = assess("风险矩阵法", {"L": L, "S": S})
    assert (a.score, a.level, a.method) == (R, level, "matrix")


def test_matrix_every_cell_has_a_level_consistent_with_the_published_ranges():
    published = {"red": range(20, 26), "orange": range(10, 17), "yellow": range(4, 10),
                 "blue": range(1, 4)}
    for L in range(1, 6):
        for S in range(1, 6):
            a = assess("matrix", {"L": L, "S": S})
            assert L * S in published[a.level]


# --- band tables --------------------------------------------------------------------------


def test_band_table_version_is_content_derived_and_rejects_bad_order():
    t1, t2 = band_tables()["matrix"], BandTable.from_norms(MATRIX)
    assert t1.version == t2.version and t1.version.startswith("matrix-")
    assert len(t1.version) <= 40
    with pytest.raises(ValueError, match=r"fall strictly from red to yellow.*risk\.lec"):
        BandTable.from_norms("LEC", _override(risk__lec__orange_above=400))


def test_unknown_method_names_the_allowed_ones():
    assert get_method("R=LS") is MATRIX and get_method("作业条件危险性评价法") is LEC
    with pytest.raises(ValueError, match=r"method='AHP'.*LEC.*matrix"):
        get_method("AHP")


# --- errors -------------------------------------------------------------------------------


def test_bad_inputs_name_factor_value_and_allowed_values_all_at_once():
    with pytest.raises(InputError) as exc:
        assess("LEC", {"L": 5, "E": 4, "X": 1})
    msg = str(exc.value)
    assert "4 error(s)" in msg
    assert "field L: 5 is not an allowed score" in msg and "10, 6, 3, 1, 0.5, 0.2, 0.1" in msg
    assert "field E: 4" in msg and "10, 6, 3, 2, 1, 0.5" in msg
    assert "field C is missing" in msg and "100, 40, 15, 7, 3, 1" in msg
    assert "field X: 1 is not a factor of LEC" in msg
    with pytest.raises(InputError, match=r"field S: 6 .* use one of 5, 4, 3, 2, 1"):
        assess("matrix", {"L": 1, "S": 6})


def test_assess_many_matches_single_assessments_and_mixes_methods():
    df = pd.DataFrame({
        "method": ["LEC", "matrix", "风险矩阵法", "lec"],
        "L": [6, 4, 1, "0.5"], "E": [6, None, None, 10], "C": [7, None, None, 15],
        "S": [None, 5, 3, None],
    })
    out = assess_many(df)
    assert list(out["score"]) == [252, 20, 3, 75]
    assert list(out["level"]) == ["orange", "red", "blue", "yellow"]
    assert list(out["method"]) == ["LEC", "matrix", "matrix", "LEC"]
    tables = band_tables()
    assert list(out["band_version"]) == [tables[m].version for m in out["method"]]
    assert "score" not in df.columns, "the input frame is not modified"


def test_assess_many_reports_every_bad_row():
    df = pd.DataFrame({"method": ["LEC", "LEC", "AHP", "matrix"], "L": [7, 6, 1, 6],
                       "E": [6, 4, 1, None], "C": [7, 7, 1, None], "S": [None, None, None, 0]})
    with pytest.raises(InputError) as exc:
        assess_many(df, file="points.csv")
    rows = [(p.row, p.field) for p in exc.value.problems]
    assert rows == [(2, "L"), (3, "E"), (4, "method"), (5, "L"), (5, "S")]
    assert "points.csv row 5, field S: 0" in str(exc.value)


def test_assess_many_with_one_method_for_all_rows():
    df = pd.DataFrame({"L": [1, 2, 5], "S": [1, 2, 4]})
    assert list(assess_many(df, method="matrix")["level"]) == ["blue", "yellow", "red"]


# --- relevel ------------------------------------------------------------------------------


def test_relevel_counts_changes_by_hand():
    points = [assess("LEC", {"L": L, "E": E, "C": C}) for L, E, C, _, _ in LEC_CASES]
    stricter = BandTable.from_norms("LEC", _override(risk__lec__red_above=250,
                                                     risk__lec__yellow_above=60))
    new, changed = relevel(points, stricter)
    # D = 252, 300, 300 orange → red (> 250); 63, 70, 70 blue → yellow (> 60): six changes.
    assert changed == 6
    assert [a.level for a in new][:4] == ["red", "red", "red", "red"]
    assert all(a.band_version == stricter.version for a in new)
    assert [a.score for a in new] == [a.score for a in points]
    same, none = relevel(points, BandTable.from_norms("LEC"))
    assert none == 0 and [a.level for a in same] == [a.level for a in points]


def test_relevel_frame_mixed_methods():
    df = assess_many(pd.DataFrame({"method": ["LEC", "matrix"], "L": [6, 2], "E": [6, None],
                                   "C": [7, None], "S": [None, 5]}))
    tables = band_tables(_override(risk__matrix__orange_min=12, risk__matrix__yellow_min=5))
    levels, changed = relevel_frame(df, tables)
    assert list(levels) == ["orange", "yellow"] and changed == 1  # R = 10 < 12 → yellow


def test_assessment_is_a_plain_record():
    a = Assessment(1.0, "blue", "matrix", "v", {"L": 1, "S": 1})
    assert a.level == "blue"
