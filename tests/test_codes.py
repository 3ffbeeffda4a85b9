"""Official code lists: the real NBS files parse, the hierarchy holds, changes between vintages are
found.

Also: what a code means (structure rules of domain.md §6), how a mangled code is read, and
the closest known code suggested for an unknown one.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest

from emgis.layers.load.codes import (
    closest_known,
    code_levels,
    combine_code_lists,
    diff_code_lists,
    is_known,
    name_of,
    parse_code_list,
    parse_codes,
    read_code_list,
)
from emgis.layers.problems import InputError

try:
    from tests.conftest import shared
except ModuleNotFoundError:  # plain `pytest` (rootdir not on sys.path); `python -m pytest` has it
    from conftest import shared

ADMIN = "admin/"


@pytest.fixture(scope="module")
def lists():
    return {
        name: read_code_list(shared(ADMIN + f))
        for name, f in (
            ("county", "stats_codes_county_2022_all.csv"),
            ("township", "stats_codes_township_2022_all.csv"),
            ("target_townships", "target_counties_townships_2022.csv"),
            ("villages", "target_counties_villages_12digit_2022.csv"),
        )
    }


def _raw_rows(name):
    with open(shared(ADMIN + name), encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_real_lists_parse_with_counts_from_the_readme(lists):
    assert len(lists["county"]) == 2978
    assert len(lists["township"]) == 41352
    assert len(lists["target_townships"]) == 56
    v = lists["villages"]
    assert len(v) == 718
    by_county = v["code"].str[:6].value_counts().to_dict()
    assert by_county == {"211382": 285, "330522": 278, "340521": 155}
    assert set(lists["county"]["level"]) == {"county"}
    assert set(v["level"]) == {"village"}
    assert (lists["county"]["vintage"] == 2022).all()  # from the file name
    assert v["code"].str.fullmatch(r"\d{12}").all()


def test_real_lists_normalise_codes_and_parents(lists):
    raw = {r["code"]: r for r in _raw_rows("target_counties_villages_12digit_2022.csv")}
    v = lists["villages"].set_index("code")
    # parent of a village = its streetCode + '000', as the source file says independently
    for code, r in list(raw.items())[::50]:
        assert v.loc[code, "parent_code"] == r["streetCode"] + "000"
        assert v.loc[code, "name"] == r["name"]
    t = lists["target_townships"].set_index("code")
    assert t.loc["330522001000", "name"] == "雉城街道"
    assert t.loc["330522001000", "parent_code"] == "330522000000"
    # every village's township is in the township list: the hierarchy is consistent
    assert v["parent_code"].isin(lists["township"]["code"]).all()
    # every township's county is in the county list (金门县's placeholder row aside)
    towns = lists["township"]
    missing = towns.loc[~towns["parent_code"].isin(lists["county"]["code"]), "code"]
    assert len(missing) <= 30  # statistical-only units whose first 6 digits are not 民政 counties
    assert name_of(lists["county"], "330522") == "长兴县"


def test_parse_codes_structure_and_excel_damage():
    values = np.array([
        "330522100201",        # clean village
        "330522",              # county, padded
        "330522101",           # township, padded
        "3.30522E+11",         # Excel scientific notation: digits lost
        "3.30522100201E+11",   # scientific notation with all 12 digits: recoverable
        "330522100201.0",      # number with '.0'
        "33052210021",         # 11 digits
        "99052210020",         # bad length anyway
        "990522100201",        # no province 99
        "330522600001",        # township segment 600 > 599
        "330522000201",        # village segment without township
        "abc",
        "",
    ], dtype=object)
    pc = parse_codes(values)
    assert list(pc.code[:3]) == ["330522100201", "330522000000", "330522101000"]
    assert list(pc.level[:3]) == ["village", "county", "township"]
    assert list(pc.issue) == ["", "", "", "sci_lost", "sci_recovered", "dot_zero", "length",
                              "length", "province", "township_segment", "village_without_township",
                              "not_digits", "empty"]
    assert pc.code[4] == pc.code[5] == "330522100201"
    assert not pc.ok[3] and not pc.ok[6]


def test_code_levels_from_integers():
    lv = code_levels(np.array([330522000000, 330522101000, 330522101201]))
    assert list(lv) == ["county", "township", "village"]


def test_closest_known_suggests_a_typo_fix_and_a_dropped_zero(lists):
    villages = lists["villages"]
    code = villages.loc[villages["code"].str.startswith("330522"), "code"].iat[10]
    name = villages.set_index("code").loc[code, "name"]
    typo = code[:-1] + str((int(code[-1]) + 1) % 10)
    if typo in set(villages["code"]):  # pick a digit that is not another real village
        typo = code[:8] + str((int(code[8]) + 5) % 10) + code[9:]
    dropped = code[:9] + code[10:]  # one digit of the village segment lost
    s = closest_known(villages, [typo, dropped])
    assert s["suggestion"].iat[1] == code and s["name"].iat[1] == name
    assert s["suggestion"].iat[0][:6] == "330522"  # same county
    assert s["distance"].iat[0] == 1
    known = is_known(villages, [code, typo, "330522"])
    assert known.tolist() == [True, typo in set(villages["code"]), False]


def test_diff_code_lists_finds_withdrawn_added_renamed_recoded(lists):
    old = lists["villages"][lists["villages"]["code"].str.startswith("330522")].copy()
    new = old.copy()
    gone, renamed, recoded = old["code"].iat[0], old["code"].iat[1], old["code"].iat[2]
    new = new[new["code"] != gone]
    new.loc[new["code"] == renamed, "name"] = "新名村民委员会"
    recoded_name = new.loc[new["code"] == recoded, "name"].iat[0]
    new.loc[new["code"] == recoded, "code"] = recoded[:9] + "599"
    new["vintage"] = 2023
    d = diff_code_lists(old, new)
    assert set(d.withdrawn["code"]) == {gone, recoded}
    assert set(d.added["code"]) == {recoded[:9] + "599"}
    assert d.renamed.to_dict("records") == [{"code": renamed, "old_name": old["name"].iat[1],
                                             "new_name": "新名村民委员会"}]
    assert d.recoded.to_dict("records") == [{"old_code": recoded, "new_code": recoded[:9] + "599",
                                             "name": recoded_name,
                                             "parent_code": recoded[:9] + "000"}]
    both = combine_code_lists([old, new])
    assert set(both["vintage"]) == {2022, 2023}


def test_bad_code_list_reports_every_problem(tmp_path):
    f = tmp_path / "codes_2021.csv"
    f.write_text(
        "code,name,streetCode\n"
        "330522001001,甲社区,330522001\n"
        "330522001001,乙社区,330522001\n"     # same code, different name
        "330522001002,丙社区,330522002\n"     # streetCode does not match the code
        "3.30522E+11,丁村,330522001\n"        # Excel damage
        "330522001003,,330522001\n",          # no name
        encoding="gbk",
    )
    frame, p = parse_code_list(f)
    msgs = {(x.row, x.severity): x for x in p}
    assert (3, "error") in msgs and "listed twice" in msgs[(3, "error")].message
    assert (4, "error") in msgs and "streetCode" in str(msgs[(4, "error")])
    assert "scientific notation" in msgs[(5, "error")].message and "Text" in msgs[(5, "error")].fix
    assert (6, "error") in msgs and "empty" in msgs[(6, "error")].message
    assert set(frame["vintage"]) == {2021}
    with pytest.raises(InputError) as ei:
        read_code_list(f)
    assert "row 3" in str(ei.value) and "row 5" in str(ei.value)


def test_code_list_without_year_asks_for_the_vintage(tmp_path):
    f = tmp_path / "codes.csv"
    f.write_text("区划代码,名称\n330522,长兴县\n", encoding="utf-8-sig")
    _, p = parse_code_list(f)
    assert any(x.field == "vintage" and "--vintage" in x.fix for x in p.errors)
    assert read_code_list(f, vintage=2020)["vintage"].tolist() == [2020]
