"""Census tables: real 长兴县 codes sum to the 7th-census county total; broken files teach.

The clean case is built here from the 278 real village codes of 长兴县 (330522) and the
county total (673,776) read from the tudigong county census table; a second year parses too.

Broken files, each made by a test below (CSV and XLSX, GBK and UTF-8); each gives an
error or warning naming the row and the fix, or is handled as a person would expect:
  1 code in scientific notation, digits lost (3.30522E+11)       -> error, "set the column to Text"
  2 code in scientific notation with all 12 digits               -> warning, read exactly
  3 code with '.0' appended (column stored as numbers)           -> read, said in a note
  4 code one digit short (a dropped zero)                        -> error + "did you mean" the real
  code
  5 code not in the code list (typo)                             -> error + closest code and its
  name
  6 code in another county than the study county                 -> error
  7 township segment above 599                                    -> error
  8 the same code twice                                           -> error naming both rows
  9 negative population                                           -> error
 10 fractional population                                         -> error
 11 thousands separators "1,234" (accepted, noted) and "1,23"     -> note / error
 12 empty population                                              -> error
 13 text in a count ("12人", "abc")                               -> error
 14 blank lines inside the table                                  -> skipped, noted, later rows
 keep their line numbers
 15 a 合计 row that disagrees with the sum                        -> warning with the difference
 16 age groups above the total; households above residents       -> errors
 17 unknown urban-rural class                                     -> error listing the 7 classes
 18 no population column                                          -> error naming the headers found
 19 population given in 万人                                      -> error
 20 title row naming another year than --year                     -> warning
 21 unquoted thousands separator splits a CSV row                 -> error with the line and "quote
 it"
 22 code withdrawn between code-list vintages                     -> error naming the other vintage
 23 name that differs from the code list                          -> warning; short names (XX村)
 accepted
 24 XLSX with a title row and a two-row merged header             -> header found, spreadsheet row
 numbers
 25 UTF-8 with BOM and English headers; UTF-16 tab-separated text -> read
 26 an .xlsx saved with a .csv name; an old .xls; an empty file   -> read as XLSX / error / error
 27 a township code given with its villages                       -> kept as a township row, checks
 their sum
 28 many problems in one file                                     -> every one reported at once
"""

from __future__ import annotations

import csv

import numpy as np
import openpyxl
import pandas as pd
import pytest

from emgis.layers.load.census.checks import FRAME_COLUMNS
from emgis.layers.load.census.read import read_census
from emgis.layers.load.codes import combine_code_lists, read_code_list

try:
    from tests.conftest import shared
except ModuleNotFoundError:  # plain `pytest` (rootdir not on sys.path); `python -m pytest` has it
    from conftest import shared

HEADER = "统计用区划代码,名称,常住人口,户数,0-14岁,15-64岁,65岁及以上,城乡分类代码"


@pytest.fixture(scope="module")
def code_list():
    files = ["stats_codes_county_2022_all.csv", "target_counties_townships_2022.csv",
             "target_counties_villages_12digit_2022.csv"]
    return combine_code_lists([read_code_list(shared("admin/" + f)) for f in files])


@pytest.fixture(scope="module")
def villages(code_list):
    v = code_list[(code_list["level"] == "village") & code_list["code"].str.startswith("330522")]
    return v.sort_values("code").reset_index(drop=True)


@pytest.fixture(scope="module")
def county_total():
    """长兴县 total from the census county table, read independently of the loader."""
    with open(shared("population/county_census2020_population_tudigong.csv"),
              encoding="utf-8-sig") as f:
        row = next(r for r in csv.DictReader(f) if r["CODE"] == "330522")
    assert row["NAME"] == "长兴县"
    return int(row["POPU"])


def split(total: int, n: int, seed: int) -> np.ndarray:
    """Split a total into n positive parts, randomly but deterministically, summing exactly."""
    rng = np.random.default_rng(seed)
    w = rng.random(n) + 0.2
    parts = np.floor(w / w.sum() * total).astype(np.int64)
    parts[: total - parts.sum()] += 1
    return parts


def write(tmp_path, lines, name="census.csv", encoding="gbk"):
    p = tmp_path / name
    p.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return p


def rows_of(villages, n=5, pop=None):
    """CSV data lines for the first n real villages."""
    out = []
    for i in range(n):
        p = 1000 + i if pop is None else pop[i]
        out.append(f"{villages['code'][i]},{villages['name'][i]},{p},{p // 3},{p // 5},"
                   f"{p - p // 5 - p // 6},{p // 6},220")
    return out


def problems_at(result, row, severity="error"):
    return [p for p in result.problems if p.row == row and p.severity == severity]


def only(result, row, severity="error"):
    found = problems_at(result, row, severity)
    assert found, f"no {severity} at row {row}: {[str(p) for p in result.problems]}"
    return found[0]


# --- the real county -------------------------------------------------------------------------

def test_changxing_villages_sum_to_the_census_total(tmp_path, villages, county_total, code_list):
    assert county_total == 673_776 and len(villages) == 278
    pop = split(county_total, 278, seed=2020)
    lines = ["长兴县2020年人口,,,,,,,", HEADER, *rows_of(villages, 278, pop),
             f",合计,{county_total},,,,,"]
    path = write(tmp_path, lines, encoding="gbk")
    r = read_census(path, year=2020, code_list=code_list, county_code="330522",
                    expected_totals={"330522": county_total})
    assert r.ok and not r.problems.errors, [str(p) for p in r.problems.errors]
    assert list(r.frame.columns) == FRAME_COLUMNS
    assert len(r.frame) == 278 and int(r.frame["population"].sum()) == county_total
    assert set(r.frame["level"]) == {"village"} and (r.frame["year"] == 2020).all()
    assert r.frame["code"].tolist() == villages["code"].tolist()
    assert r.frame.index[0] == 3 and r.frame.index[-1] == 280  # CSV lines, title and header counted
    assert r.frame["population"].tolist() == pop.tolist()
    # the 合计 row and the given total are both checks with zero difference
    assert len(r.parent_totals) == 2 and (r.parent_totals["difference"] == 0).all()
    assert (r.parent_totals["code"] == "330522000000").all()
    assert any("GBK" in n for n in r.notes)
    assert not r.problems.warnings  # a total that agrees is a note, not a warning
    assert any(n.startswith("row 281") and "total row" in n for n in r.notes)


def test_a_second_year_parses_from_xlsx(tmp_path, villages, county_total, code_list):
    total = county_total + 4_321
    pop = split(total, 278, seed=2021)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["code", "name", "population", "households"])
    for c, n, p in zip(villages["code"], villages["name"], pop, strict=True):
        ws.append([int(c), n, int(p), int(p) // 3])  # codes stored as numbers, as Excel does
    path = tmp_path / "changxing_2021.xlsx"
    wb.save(path)
    r = read_census(path, year=2021, code_list=code_list, county_code="330522")
    assert r.ok, [str(p) for p in r.problems]
    assert len(r.frame) == 278 and int(r.frame["population"].sum()) == total
    assert (r.frame["year"] == 2021).all() and r.frame["households"].notna().all()
    assert r.frame.index[0] == 2  # spreadsheet row
    assert any("no 2021 code list" in n for n in r.notes)


# --- broken files ----------------------------------------------------------------------------

def test_1_2_3_codes_mangled_by_excel(tmp_path, villages, code_list):
    c = villages["code"]
    lines = [HEADER,
             f"3.30522E+11,{villages['name'][0]},100,30,20,60,20,220",
             f"{c[1][0]}.{c[1][1:]}E+11,{villages['name'][1]},100,30,20,60,20,220",
             f"{c[2]}.0,{villages['name'][2]},100,30,20,60,20,220"]
    r = read_census(write(tmp_path, lines), year=2020, code_list=code_list)
    e = only(r, 2)
    assert "scientific notation" in e.message and "cannot be recovered" in e.message
    assert "Text" in e.fix and e.field == "统计用区划代码"
    w = only(r, 3, "warning")
    assert c[1] in w.message
    assert r.frame["code"].tolist() == [c[1], c[2]]
    assert any("'.0'" in n and "rows 4" in n for n in r.notes) and not problems_at(r, 4)


def test_4_5_codes_not_in_the_list_get_the_closest_known_code(tmp_path, villages, code_list):
    c, n = villages["code"], villages["name"]
    short = c[3][:9] + c[3][10:]  # '001' written as '01'
    typo = c[4][:11] + ("9" if c[4][11] != "9" else "8")
    lines = [HEADER, *rows_of(villages, 3), f"{short},{n[3]},100,,,,,", f"{typo},{n[4]},100,,,,,"]
    r = read_census(write(tmp_path, lines, encoding="utf-8"), year=2022, code_list=code_list)
    e4 = only(r, 5)
    assert "11 digits" in e4.message and f"did you mean {c[3]} ({n[3]})" in e4.fix
    e5 = only(r, 6)
    assert "not in the 2022 code list" in e5.message and "did you mean 330522" in e5.fix
    assert len(r.frame) == 3


def test_6_7_code_outside_the_study_county_and_bad_segments(tmp_path, villages):
    lines = [HEADER, *rows_of(villages, 2), "340521100201,外县村,100,,,,,",
             "330522600001,某村,100,,,,,"]
    r = read_census(write(tmp_path, lines), year=2020, county_code="330522")
    assert "not in the study county 330522" in only(r, 4).message
    e = only(r, 5)
    assert "township segment" in e.message and "599" in e.message
    assert len(r.frame) == 2


def test_8_duplicate_codes_name_both_rows(tmp_path, villages):
    lines = [HEADER, *rows_of(villages, 3), rows_of(villages, 1)[0]]
    r = read_census(write(tmp_path, lines), year=2020)
    e = only(r, 5)
    assert "rows 2 and 5" in e.message and "one row per code" in e.fix
    assert villages["code"][0] not in set(r.frame["code"])


def test_9_to_13_bad_counts(tmp_path, villages):
    c, n = villages["code"], villages["name"]
    lines = [HEADER.split(",城乡")[0].rsplit(",", 4)[0] + ",户数",
             f"{c[0]},{n[0]},-12,3", f"{c[1]},{n[1]},12.5,3", f'{c[2]},{n[2]},"1,234",300',
             f'{c[3]},{n[3]},"1,23",3', f"{c[4]},{n[4]},,3", f"{c[5]},{n[5]},12人,3",
             f"{c[6]},{n[6]},abc,3"]
    r = read_census(write(tmp_path, lines, encoding="utf-8"), year=2020)
    assert "negative" in only(r, 2).message
    assert "fractional" in only(r, 3).message and "round" in only(r, 3).fix
    assert not problems_at(r, 4) and r.frame.loc[4, "population"] == 1234
    assert any("thousands separators" in note and "4" in note for note in r.notes)
    assert "thousands separator" in only(r, 5).message
    assert "empty" in only(r, 6).message
    assert "without units" not in only(r, 7).message and "number only" in only(r, 7).fix
    assert "not a number" in only(r, 8).message
    assert r.frame.index.tolist() == [4]


def test_14_blank_lines_are_skipped_and_line_numbers_kept(tmp_path, villages):
    lines = [HEADER, *rows_of(villages, 2), "", ",,,,,,,", *rows_of(villages, 4)[2:],
             "-5 bad,,,,,,,"]
    r = read_census(write(tmp_path, lines), year=2020)
    assert r.frame.index.tolist() == [2, 3, 6, 7]
    assert any("2 blank row(s)" in note for note in r.notes)
    assert "统计用区划代码" in {p.field for p in problems_at(r, 8)}


def test_15_total_row_that_disagrees_is_a_warning_with_the_difference(tmp_path, villages):
    lines = [HEADER, *rows_of(villages, 4), ",全县合计,4000,,,,,"]  # the rows sum to 4006
    r = read_census(write(tmp_path, lines), year=2020, county_code="330522")
    w = [p for p in problems_at(r, 6, "warning") if "sum to" in p.message]
    assert w and "4,006" in w[0].message and "6 more" in w[0].message
    assert r.ok and len(r.frame) == 4
    assert r.parent_totals["difference"].tolist() == [6]
    # statistics tables often put the 合计 row first, right under the header
    r = read_census(write(tmp_path, [HEADER, ",合计,4006,,,,,", *rows_of(villages, 4)]), year=2020)
    assert (r.ok and r.frame.index.tolist() == [3, 4, 5, 6]
            and r.parent_totals["difference"].tolist() == [0])


def test_16_breakdowns_above_the_total(tmp_path, villages):
    c = villages["code"]
    lines = [HEADER, f"{c[0]},甲,100,30,50,40,20,220", f"{c[1]},乙,100,120,20,60,20,220",
             f"{c[2]},丙,100,30,20,60,10,220"]
    r = read_census(write(tmp_path, lines), year=2020)
    e = only(r, 2)
    assert "sum of the age groups (110)" in e.message
    assert "more households than residents" in only(r, 3).message
    w = only(r, 4, "warning")
    assert "10 more than the sum of the age groups" in w.message
    assert r.frame.index.tolist() == [4]


def test_17_unknown_urban_rural_class(tmp_path, villages):
    lines = [HEADER, rows_of(villages, 1)[0].rsplit(",", 1)[0] + ",300", rows_of(villages, 2)[1]]
    r = read_census(write(tmp_path, lines), year=2020)
    e = only(r, 2)
    assert str(e.value) == "300" and "111 主城区" in e.fix and "220 村庄" in e.fix
    assert r.frame["urban_rural_class"].tolist() == ["220"]


def test_18_19_missing_population_column_and_population_in_ten_thousands(tmp_path, villages):
    r = read_census(write(tmp_path, ["区划代码,名称,户数", f"{villages['code'][0]},甲,30"]),
                    year=2020)
    e = only(r, 1)
    assert "no population column" in e.message and "常住人口" in e.fix and len(r.frame) == 0
    r = read_census(write(tmp_path, ["区划代码,名称,常住人口（万人）",
                                     f"{villages['code'][0]},甲,0.12"]), year=2020)
    e = only(r, 1)
    assert "万人" in e.message and "whole persons" in e.fix


def test_20_title_naming_another_year(tmp_path, villages):
    r = read_census(write(tmp_path, ["长兴县2019年人口统计表", HEADER, *rows_of(villages, 2)]),
                    year=2020)
    w = only(r, 1, "warning")
    assert "2019" in w.message and "--year 2019" in w.fix
    assert r.frame.index.tolist() == [3, 4]


def test_21_unquoted_thousands_separator_splits_a_row(tmp_path, villages):
    c = villages["code"]
    lines = ["区划代码,名称,常住人口", f"{c[0]},甲,100", f"{c[1]},乙,1,234", f"{c[2]},丙,300"]
    r = read_census(write(tmp_path, lines), year=2020)
    e = only(r, 3)
    assert "4 cells but the header has 3" in e.message and '"1,234"' in e.fix
    assert r.frame.index.tolist() == [2, 4]


def test_22_code_withdrawn_between_vintages(tmp_path, villages, code_list):
    gone = villages["code"][1]
    newer = code_list[code_list["code"] != gone].copy()
    newer["vintage"] = 2023
    lists = pd.concat([code_list, newer], ignore_index=True)
    r = read_census(write(tmp_path, [HEADER, *rows_of(villages, 3)]), year=2023, code_list=lists)
    e = only(r, 3)
    assert ("not in the 2023 code list; it is in the 2022 list" in e.message
            and "withdrawn" in e.message)
    assert "emgis load codes" in e.fix
    r = read_census(write(tmp_path, [HEADER, *rows_of(villages, 3)]), year=2022, code_list=lists)
    assert r.ok and len(r.frame) == 3  # the 2022 figures are checked against the 2022 list


def test_23_names_compared_with_the_code_list(tmp_path, villages, code_list):
    c, n = villages["code"], villages["name"]
    short = n[0].replace("村民委员会", "村").replace("社区居民委员会", "社区").replace(
        "居民委员会", "")
    lines = ["区划代码,名称,常住人口", f"{c[0]},{short},100", f"{c[1]},完全不同的名字,100",
             f"{c[2]},,100"]
    r = read_census(write(tmp_path, lines), year=2022, code_list=code_list)
    assert not problems_at(r, 2, "warning")
    w = only(r, 3, "warning")
    assert n[1] in w.message and "code" in w.fix
    assert r.frame.loc[4, "name"] == n[2] and any("filled from the code list" in x for x in r.notes)


def test_24_xlsx_with_title_and_two_row_merged_header(tmp_path, villages, code_list):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["长兴县2020年人口"])
    ws.merge_cells("A1:H1")
    ws.append(["区划代码", "名称", "人口", None, None, None, "户数", "城乡分类代码"])
    ws.append([None, None, "合计", "0-14岁", "15-64岁", "65岁及以上", None, None])
    ws.merge_cells("C2:F2")
    for col in "ABGH":
        ws.merge_cells(f"{col}2:{col}3")
    pops = [500, 800, 1200]
    for i, p in enumerate(pops):
        ws.append([villages["code"][i], villages["name"][i], p, p // 5, p - p // 5 - p // 10,
                   p // 10, p // 3, "220"])
    ws.append([None, "合计", sum(pops), None, None, None, None, None])
    path = tmp_path / "长兴县人口.xlsx"
    wb.save(path)
    r = read_census(path, year=2020, code_list=code_list, county_code="330522")
    assert not r.problems.errors, [str(p) for p in r.problems]
    assert r.frame.index.tolist() == [4, 5, 6]
    assert r.frame["population"].tolist() == pops
    assert r.frame["age_0_14"].tolist() == [p // 5 for p in pops]
    assert r.frame["age_65_plus"].tolist() == [p // 10 for p in pops]
    assert r.frame["households"].tolist() == [p // 3 for p in pops]
    assert any("rows 2–3" in n for n in r.notes)
    assert r.parent_totals["difference"].tolist() == [0] and r.parent_totals["row"].tolist() == [7]


def test_25_utf8_bom_english_headers_and_utf16_tabs(tmp_path, villages):
    c = villages["code"]
    lines = ["code,name,population,households,age_0_14,age_15_64,age_65_plus,urban_rural",
             f"{c[0]},A,100,30,20,60,20,111", f"{c[1]},B,200,60,40,120,40,121"]
    r = read_census(write(tmp_path, lines, encoding="utf-8-sig"), year=2020)
    assert r.ok and r.frame["population"].tolist() == [100, 200] and r.encoding == "UTF-8 with BOM"
    assert r.frame["urban_rural_class"].tolist() == ["111", "121"]
    tabbed = [line.replace(",", "\t") for line in [HEADER, *rows_of(villages, 2)]]
    r = read_census(write(tmp_path, tabbed, name="unicode.txt", encoding="utf-16"), year=2020)
    assert r.ok and len(r.frame) == 2 and r.encoding == "UTF-16"


def test_26_wrong_extension_old_xls_and_empty_file(tmp_path, villages):
    wb = openpyxl.Workbook()
    wb.active.append(["代码", "人口"])
    wb.active.append([int(villages["code"][0]), 10])
    wb.save(tmp_path / "x.xlsx")
    renamed = tmp_path / "export.csv"
    renamed.write_bytes((tmp_path / "x.xlsx").read_bytes())
    r = read_census(renamed, year=2020)
    assert r.ok and len(r.frame) == 1 and any("Excel workbook" in n for n in r.notes)
    old = tmp_path / "old.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100)
    e = read_census(old, year=2020).problems.errors[0]
    assert ".xls" in e.message and ".xlsx" in e.fix
    (tmp_path / "empty.csv").write_bytes(b"")
    assert "empty" in read_census(tmp_path / "empty.csv", year=2020).problems.errors[0].message


def test_27_township_row_with_its_villages(tmp_path, villages, code_list):
    c = villages["code"]
    town = c[0][:9]
    under = [i for i in range(len(c)) if c[i].startswith(town)][:3]
    lines = (["区划代码,名称,常住人口", f"{town},某街道,999"]
             + [f"{c[i]},村{i},{100 + i}" for i in under])
    r = read_census(write(tmp_path, lines), year=2022, code_list=code_list)
    assert r.frame.loc[2, "level"] == "township" and r.frame.loc[2, "code"] == town + "000"
    w = [p for p in problems_at(r, 2, "warning") if "sum to" in p.message]
    expected = sum(100 + i for i in under)
    assert w and f"{expected:,}" in w[0].message
    assert any("rows at several levels" in n for n in r.notes)


def test_28_every_problem_is_reported_at_once(tmp_path, villages):
    c = villages["code"]
    lines = [HEADER, "3.3E+11,甲,1,,,,,", f"{c[1]},乙,-1,,,,,", f"{c[2]},丙,1.5,,,,,",
             f"{c[3]},丁,1,5,,,,999", f"{c[3]},戊,2,,,,,", f"{c[4]},己,,,,,,"]
    r = read_census(write(tmp_path, lines, encoding="utf-8"), year=2020)
    rows = sorted({p.row for p in r.problems.errors})
    assert rows == [2, 3, 4, 5, 6, 7]
    assert all(p.fix and p.file == "census.csv" for p in r.problems)
    assert not r.ok and r.frame.empty


def test_29_subtotal_rows_check_their_own_block(tmp_path, villages, code_list):
    c = villages["code"]
    first = [i for i in range(len(c)) if c[i].startswith("330522001")][:2]  # 雉城街道
    second = [i for i in range(len(c)) if c[i].startswith("330522002")][:2]
    lines = ["区划代码,名称,常住人口"]
    lines += [f"{c[i]},村{i},100" for i in first] + [",雉城街道小计,200"]
    lines += [f"{c[i]},村{i},50" for i in second] + [",小计,90"]  # wrong: the block sums to 100
    lines += [",合计,300"]
    r = read_census(write(tmp_path, lines), year=2022, code_list=code_list)
    t = r.parent_totals.set_index("row")
    assert t.loc[4, "code"] == "330522001000" and t.loc[4, "difference"] == 0
    assert t.loc[7, "children"] == 2 and t.loc[7, "difference"] == 10
    assert t.loc[8, "difference"] == 0
    w = [p for p in problems_at(r, 7, "warning") if "sum to" in p.message]
    assert w and "10 more" in w[0].message
