"""Check a whole census table at once: codes, county, code list, duplicates, sums, totals.

The reader (:mod:`layers.load.census.read`) hands over the columns; :class:`Checker` adds
every problem (row as the user sees it, field, value, fix) and marks bad rows, then builds
the clean frame (:data:`FRAME_COLUMNS`) and the table of stated totals against the sums of
their rows. Checking is vectorised over the whole file; Python loops touch only the rows
that need a message.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd

from emgis.layers.load import codes as C
from emgis.layers.load.census.values import (
    COUNT_MESSAGES,
    Table,
    code_ints,
    empty_cells,
    fmt_rows,
    isin,
    parse_count,
    plain,
    plain_ints,
    same_name,
)
from emgis.layers.problems import Problems

COUNT_FIELDS = ("population", "households", "age_0_14", "age_15_64", "age_65_plus")
FRAME_COLUMNS = ["code", "level", "name", "year", "population", "households",
                 "age_0_14", "age_15_64", "age_65_plus", "urban_rural_class"]
_TOTAL_WORDS = re.compile(r"(合计|总计|小计|共计|总数|^全(县|市|区|旗|乡|镇)$"
                          r"|^(grand)?total$|^sum$)", re.IGNORECASE)
_GRAND_TOTAL = re.compile(r"^(全(县|市|区|旗))?(合计|总计|共计|总数)$|^全(县|市|区|旗)$"
                          r"|^(grand)?total$|^sum$", re.IGNORECASE)
TOTAL_COLUMNS = ["code", "name", "row", "source", "stated", "summed", "children", "children_level",
                 "difference"]


class Checker:
    """Check one table; every method adds problems and marks bad rows."""

    def __init__(self, table: Table, year: int, code_list, county, expected, p: Problems, notes):
        self.t, self.year, self.code_list, self.county = table, year, code_list, county
        self.expected, self.p, self.notes = expected, p, notes
        self.n = len(table.rows)
        self.rows = table.rows
        self.bad = np.zeros(self.n, dtype=bool)

    def label(self, f: str) -> str:
        return self.t.labels.get(f, f)

    def err(self, i: int, f: str | None, value, message: str, fix: str) -> None:
        self.p.error(int(self.rows[i]), None if f is None else self.label(f), plain(value),
                     message, fix)
        self.bad[i] = True

    def warn(self, i: int, f: str | None, value, message: str, fix: str) -> None:
        self.p.warn(int(self.rows[i]), None if f is None else self.label(f), plain(value),
                    message, fix)

    # ---------------------------------------------------------------------------------------
    def run(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        t = self.t
        self._check_titles()
        names = t.cols.get("name")
        # leading spaces are dropped by the reader; trailing ones are ignored when names are
        # compared
        self.names = (np.array(names, dtype=object) if names is not None
                      else np.full(self.n, "", dtype=object))
        self.blank = self._blank_rows()
        self.codes = C.parse_codes(t.cols["code"])
        self.code_str = self.codes.code
        self.total = self._total_rows()
        self.skip = self.blank | self.total
        if t.broken is not None:
            self.skip |= t.broken
            self.bad |= t.broken
        study = self.county
        if study is None:
            prefixes = np.unique(self.codes.number[self.codes.ok & ~self.skip] // 10**6)
            study = int(prefixes[0]) if len(prefixes) == 1 else None
        self.study = study
        self.counts = {f: self._counts(f) for f in COUNT_FIELDS if f in t.cols}
        self._check_codes()
        self._check_county()
        if self.code_list is not None:
            self._check_code_list()
        else:
            self._check_file_hierarchy()
        self._check_duplicates()
        self._check_breakdowns()
        urban = self._urban_rural()
        frame = self._frame(urban)
        totals = self._parent_totals(frame)
        return frame, totals

    def _check_titles(self) -> None:
        for line, text in self.t.titles:
            years = {int(y) for y in re.findall(r"(?<!\d)(19[5-9]\d|20\d\d)(?!\d)", text)}
            if years and self.year not in years:
                self.p.warn(line, None, text,
                            f"the title names {', '.join(map(str, sorted(years)))} "
                            f"but the data are being loaded as year {self.year}",
                            f"check --year (the title suggests --year {min(years)}) or the title")

    def _blank_rows(self) -> np.ndarray:
        blank = np.ones(self.n, dtype=bool)
        for f, col in self.t.cols.items():
            if col.dtype.kind in "iu":
                return np.zeros(self.n, dtype=bool)
            blank &= (self.names == "") if f == "name" else empty_cells(col)
        if blank.any():
            self.notes.append(f"{int(blank.sum())} blank row(s) skipped (rows "
                              f"{fmt_rows(self.rows[blank])})")
        return blank

    def _total_rows(self) -> np.ndarray:
        """Rows labelled 合计/总计/小计/全县… (in the name or the code column)."""
        cand = np.flatnonzero(~self.blank
                              & ((self.codes.number == 0) | (self.codes.level != "village")))
        total = np.zeros(self.n, dtype=bool)
        for i in cand:
            text = re.sub(r"\s+", "",
                          f"{self.names[i]}{'' if self.codes.number[i] else self.codes.shown(i)}")
            if _TOTAL_WORDS.search(text):
                total[i] = True
        # a note, not a warning: a differing total is warned about on its own
        for i in np.flatnonzero(total):
            self.notes.append(f"row {int(self.rows[i])} ({self.names[i] or self.codes.shown(i)}) "
                              "is a total row: skipped as data, its figure checks the sum of the "
                              "rows it totals")
        return total

    def _counts(self, f: str) -> tuple[np.ndarray, np.ndarray]:
        """Return (values, present) for a count column; report bad values."""
        col = self.t.cols[f]
        if col.dtype.kind in "iu":
            values, present = col.astype(np.int64), np.ones(self.n, dtype=bool)
        elif col.dtype.kind == "f":  # integers with blanks (the reader saw no decimal point)
            present = ~np.isnan(col)
            values = np.where(present, col, 0).astype(np.int64)
            missing = ~present & ~self.skip
            if f == "population":
                for i in np.flatnonzero(missing):
                    self.err(i, f, "", "is empty",
                             "give the number of resident persons (0 if none)")
        else:
            s = col
            plain, values = plain_ints(s)
            present = plain.copy()
            grouped, dotted, placeholders = [], [], []
            for i in np.flatnonzero(~plain & ~self.skip):
                v, kind = parse_count(s[i])
                if kind == "empty":
                    if f == "population" and not self.blank[i]:
                        self.err(i, f, "", "is empty",
                                 "give the number of resident persons (0 if none)")
                    continue
                if kind == "placeholder":
                    if f == "population":
                        self.err(i, f, s[i], "is a placeholder, not a number",
                                 "give the number of persons (0 if none)")
                    else:
                        placeholders.append(self.rows[i])
                    continue
                if kind in ("ok", "grouped", "dotted"):
                    values[i], present[i] = v, True
                    seen = grouped if kind == "grouped" else dotted if kind == "dotted" else []
                    seen.append(self.rows[i])
                    continue
                self.err(i, f, s[i], *COUNT_MESSAGES[kind])
            # total rows keep their figure for the sum check
            for i in np.flatnonzero(~plain & self.total):
                v, kind = parse_count(s[i])
                if kind in ("ok", "grouped", "dotted"):
                    values[i], present[i] = v, True
            if grouped:
                self.notes.append(f"{self.label(f)}: {len(grouped)} number(s) written with "
                                  "thousands separators (e.g. '1,234') were read as whole numbers "
                                  f"(rows {fmt_rows(np.array(grouped))})")
            if dotted:
                self.notes.append(f"{self.label(f)}: {len(dotted)} number(s) written as '123.0' "
                                  f"were read as whole numbers (rows {fmt_rows(np.array(dotted))})")
            if placeholders:
                self.notes.append(f"{self.label(f)}: {len(placeholders)} cell(s) holding '-' or "
                                  "'/' read as 'not given' "
                                  f"(rows {fmt_rows(np.array(placeholders))})")
        neg = present & (values < 0) & ~self.skip
        for i in np.flatnonzero(neg):
            self.err(i, f, int(values[i]), "is negative", "give zero or a positive count")
        present &= ~neg
        return values, present

    def _check_codes(self) -> None:
        pc = self.codes
        f = "code"
        todo = ~self.skip
        for i in np.flatnonzero(todo & ~pc.ok):
            raw = pc.shown(i)
            msg, fix = C.describe_code_issue(pc.issue[i], raw, int(pc.digits[i]))
            if pc.issue[i] == "empty":
                what = self.names[i] or "this row"
                msg = "is empty"
                fix = f"give the 12-digit statistical division code (统计用区划代码) of {what}"
            if self.code_list is not None and pc.issue[i] in ("length", "not_digits"):
                s = C.closest_known(self.code_list, [str(plain(raw))])
                if s["suggestion"].iat[0] is not None:
                    fix = f"did you mean {s['suggestion'].iat[0]} ({s['name'].iat[0]})? " + fix
            self.err(i, f, raw, msg, fix)
        for issue, text in (("dot_zero", "ended in '.0' (the column was stored as numbers)"),
                            ("grouped", "were written with thousands separators"),
                            ("full_width", "were written with full-width characters")):
            hit = todo & (pc.issue == issue)
            if hit.any():
                self.notes.append(f"{int(hit.sum())} code(s) {text}; read as plain codes (rows "
                                  f"{fmt_rows(self.rows[hit])}). To avoid this, {C.EXCEL_TEXT_FIX}")
        for i in np.flatnonzero(todo & (pc.issue == "sci_recovered")):
            self.warn(i, f, pc.raw[i],
                      f"is in scientific notation; all 12 digits are present, read as {pc.code[i]}",
                      "check the code; " + C.EXCEL_TEXT_FIX)
        big = todo & pc.ok & (pc.number % 1000 > C.VILLAGE_SEGMENT_DOCUMENTED_MAX)
        for i in np.flatnonzero(big):
            self.warn(i, f, pc.code[i],
                      "has a village segment (digits 10–12) above 599, "
                      "outside the documented ranges",
                      "check the code against the official list")
        levels = {lv: int((pc.level[todo & pc.ok] == lv).sum())
                  for lv in ("county", "township", "village")}
        levels = {lv: n for lv, n in levels.items() if n}
        if len(levels) > 1:
            self.notes.append("rows at several levels: "
                              + ", ".join(f"{n} {lv}" for lv, n in levels.items())
                              + "; all kept (column level); higher-level rows also check the sum "
                                "of their rows")

    def _check_county(self) -> None:
        ok = self.codes.ok & ~self.skip
        county = self.codes.number // 10**6
        if self.county is None:
            counts = pd.Series(county[ok]).value_counts()
            if len(counts) > 1:
                self.notes.append("the file covers several counties: "
                                  + ", ".join(map(str, counts.index[:10])))
            return
        name = self._name_of(self.county * 10**6)
        for i in np.flatnonzero(ok & (county != self.county)):
            self.err(i, "code", self.code_str[i],
                     f"is in county {county[i]}, not in the study county {self.county}{name}",
                     f"keep only rows of county {self.county}, or check the code's first 6 digits")

    def _name_of(self, number: int) -> str:
        if self.code_list is None:
            return ""
        hit = self.code_list.loc[self.code_list["code"] == f"{number:012d}", "name"]
        return f" ({hit.iat[0]})" if len(hit) else ""

    def _check_code_list(self) -> None:
        cl = self.code_list
        vintages = sorted({int(v) for v in cl["vintage"].unique()}) if "vintage" in cl else []
        vintage = None
        if vintages:
            earlier = [v for v in vintages if v <= self.year]
            vintage = max(earlier) if earlier else min(vintages)
            if vintage != self.year:
                self.notes.append(f"no {self.year} code list loaded; codes checked against the "
                                  f"{vintage} list")
        cur = cl if vintage is None else cl[cl["vintage"] == vintage]
        known = code_ints(cur["code"])
        index = pd.Index(known)
        if not index.is_unique:
            keep = ~index.duplicated()
            cur, known = cur[keep], known[keep]
            index = pd.Index(known)
        known_levels = set(cur["level"].unique())
        num, lvl = self.codes.number, self.codes.level
        todo = self.codes.ok & ~self.skip & ~self.bad
        pos = index.get_indexer(num)
        in_list = pos >= 0
        parent = C.parent_numbers(num)
        check_self = todo & np.logical_or.reduce([lvl == lv for lv in known_levels]
                                                 + [np.zeros(self.n, bool)])
        unknown = check_self & ~in_list
        if unknown.any():
            idx = np.flatnonzero(unknown)
            sugg = C.closest_known(cur, self.code_str[idx])
            other = cl[cl["vintage"] != vintage] if vintage is not None else cl.iloc[:0]
            for k, i in enumerate(idx):
                code = self.code_str[i]
                elsewhere = other[other["code"] == code]
                if len(elsewhere):
                    ov = int(elsewhere["vintage"].iat[0])
                    self.err(i, "code", code,
                             f"is not in the {vintage} code list; it is in the {ov} list "
                             f"('{elsewhere['name'].iat[0]}'): the unit was withdrawn, merged or "
                             f"recoded between {min(ov, vintage)} and {max(ov, vintage)}",
                             f"give its {vintage} code, or load the {self.year} code list "
                             f"(emgis load codes FILE) if these are {self.year} figures")
                    continue
                fix = "check the code against the official list (统计用区划代码)"
                if sugg["suggestion"].iat[k] is not None:
                    fix = (f"did you mean {sugg['suggestion'].iat[k]} ({sugg['name'].iat[k]})? "
                           + fix)
                extra = ""
                if (lvl[i] == "village" and "township" in known_levels
                        and index.get_indexer([parent[i]])[0] < 0):
                    extra = f"; its township {parent[i]:012d} is not in the list either"
                listed = f"the {vintage} code list" if vintage else "the code list"
                self.err(i, "code", code, f"is not in {listed}{extra}", fix)
        # rows of a level the list does not hold: check their parent instead
        check_parent = todo & ~check_self & (lvl == "village") & ("township" in known_levels)
        for i in np.flatnonzero(check_parent & (index.get_indexer(parent) < 0)):
            self.err(i, "code", self.code_str[i],
                     f"lies under township {parent[i]:012d}, which is not in the code list",
                     "check digits 7–9 (the township) against the official list")
        if check_parent.any() and not check_self.any():
            self.notes.append("the code list has no codes at this level; only the townships of the "
                              "codes were checked")
        self._compare_names(cur, todo & in_list, pos)

    def _compare_names(self, cur: pd.DataFrame, mask: np.ndarray, pos: np.ndarray) -> None:
        idx = np.flatnonzero(mask)
        if not len(idx):
            return
        official = cur["name"].to_numpy(dtype=object)[pos[idx]]
        given = self.names[idx]
        fill = given == ""
        if fill.any() and "name" in self.t.cols:
            self.notes.append(f"{int(fill.sum())} empty name(s) filled from the code list")
        self.names[idx[fill]] = official[fill]
        for k in np.flatnonzero(~fill & (given != official)):
            if not same_name(given[k], official[k]):
                self.warn(idx[k], "name", given[k],
                          f"differs from the code list name '{official[k]}' for "
                          f"{self.code_str[idx[k]]}",
                          "check that the code belongs to this unit (a renamed unit keeps its "
                          "code; a different unit means the code is wrong)")
        if "urban_rural_class" in cur and "urban_rural_class" in self.t.cols:
            ref = np.full(self.n, None, dtype=object)
            ref[idx] = cur["urban_rural_class"].to_numpy(dtype=object)[pos[idx]]
            self._official_urban = ref

    def _check_file_hierarchy(self) -> None:
        ok = self.codes.ok & ~self.skip & ~self.bad
        num, lvl = self.codes.number, self.codes.level
        towns = set(num[ok & (lvl == "township")].tolist())
        if not towns:
            return
        counties_with_towns = {t // 10**6 for t in towns}
        parent = C.parent_numbers(num)
        vill = ok & (lvl == "village") & isin(num // 10**6, list(counties_with_towns))
        for i in np.flatnonzero(vill & ~isin(parent, list(towns))):
            self.warn(i, "code", self.code_str[i],
                      f"lies under township {parent[i]:012d}, which has no row in this file "
                      "(the other townships do)",
                      "check digits 7–9 of the code, or add the township's row")

    def _check_duplicates(self) -> None:
        ok = self.codes.ok & ~self.skip
        num = self.codes.number
        keyed = pd.Series(num).where(ok, -1 - np.arange(self.n))  # rows without a code never match
        dup = ok & keyed.duplicated(keep=False).to_numpy()
        if not dup.any():
            return
        idx = np.flatnonzero(dup)
        first: dict[int, int] = {}
        for i in idx:
            key = int(num[i])
            if key not in first:
                first[key] = i
                continue
            j = first[key]
            self.err(i, "code", self.code_str[i],
                     f"appears twice (rows {self.rows[j]} and {self.rows[i]})",
                     "keep one row per code and year; if two units share a code, one of the "
                     "codes is wrong")
            self.bad[j] = True

    def _check_breakdowns(self) -> None:
        if "population" not in self.counts:
            return
        pop, has_pop = self.counts["population"]
        live = ~self.skip & has_pop
        ages = [f for f in ("age_0_14", "age_15_64", "age_65_plus") if f in self.counts]
        for f in [*ages, "households"]:
            if f not in self.counts:
                continue
            v, has = self.counts[f]
            over = live & has & (v > pop)
            what = ("more households than residents" if f == "households"
                    else "more than the total population")
            for i in np.flatnonzero(over):
                self.err(i, f, int(v[i]), f"is {what} ({int(pop[i])})",
                         f"check {self.label(f)} and {self.label('population')} on this row "
                         "(columns swapped?)")
        if len(ages) == 3:
            has_all = live & np.logical_and.reduce([self.counts[f][1] for f in ages])
            total = sum(self.counts[f][0] for f in ages)
            for i in np.flatnonzero(has_all & (total > pop) & ~self.bad):
                self.err(i, "population", int(pop[i]),
                         f"is less than the sum of the age groups ({int(total[i])})",
                         "the three age groups must add up to the total; check each figure")
            for i in np.flatnonzero(has_all & (total < pop) & ~self.bad):
                self.warn(i, "population", int(pop[i]),
                          f"is {int(pop[i] - total[i])} more than the sum of the age groups "
                          f"({int(total[i])})",
                          "the age groups normally add up to the total; check for a missing or "
                          "mistyped figure")

    def _urban_rural(self) -> np.ndarray:
        col = self.t.cols.get("urban_rural_class")
        out = np.full(self.n, None, dtype=object)
        if col is None:
            return out
        allowed = list(C.URBAN_RURAL_CLASS)
        if col.dtype.kind in "iuf":
            given = ~np.isnan(col) if col.dtype.kind == "f" else np.ones(self.n, dtype=bool)
            ints = np.where(given, col, 0).astype(np.int64)
            table = np.array(sorted(allowed), dtype=object)
            where = np.searchsorted(table.astype(np.int64), ints).clip(0, len(table) - 1)
            good = given & (table.astype(np.int64)[where] == ints)
            out[good] = table[where[good]]
            shown = ints.astype(object)
        else:
            good = isin(col, allowed)
            out[good] = col[good]
            given = col != ""
            shown = col.copy()
            for i in np.flatnonzero(given & ~good):  # ' 220', '220.0', full-width digits
                t = re.sub(r"\.0+$", "", unicodedata.normalize("NFKC", str(col[i])).strip())
                shown[i] = t
                if t in C.URBAN_RURAL_CLASS:
                    out[i], good[i] = t, True
        for i in np.flatnonzero(~self.skip & given & ~good):
            self.err(i, "urban_rural_class", shown[i],
                     "is not an urban-rural class code (城乡分类代码)",
                     "use one of " + ", ".join(f"{k} {v}" for k, v in C.URBAN_RURAL_CLASS.items()))
        ref = getattr(self, "_official_urban", None)
        if ref is not None:
            differs = good & ~self.skip & pd.notna(ref) & (ref != out)
            for i in np.flatnonzero(differs):
                self.warn(i, "urban_rural_class", out[i],
                          f"differs from the code list's class {ref[i]} "
                          f"({C.URBAN_RURAL_CLASS.get(ref[i], '?')})",
                          "check which is current; the class can change between vintages")
        return out

    def _frame(self, urban: np.ndarray) -> pd.DataFrame:
        keep = ~self.skip & ~self.bad & self.codes.ok
        if "population" in self.counts:
            keep &= self.counts["population"][1]
        level_table = np.array(["county", "township", "village"], dtype=object)
        data = {  # object columns: pandas' str dtype would cost a second pass over 10^6 strings
            "code": pd.Series(self.code_str[keep].astype(object), dtype=object),
            "level": pd.Series(level_table[np.searchsorted(level_table.astype(str),
                                                           self.codes.level[keep])],
                               dtype=object),
            "name": pd.Series(self.names[keep], dtype=object),
            "year": np.full(int(keep.sum()), self.year, dtype=np.int64),
        }
        for f in COUNT_FIELDS:
            if f in self.counts:
                v, has = self.counts[f]
                arr = pd.array(v[keep], dtype="Int64")
                arr[~has[keep]] = pd.NA
                data[f] = arr if f != "population" else v[keep]
            else:
                data[f] = pd.array([pd.NA] * int(keep.sum()), dtype="Int64")
        data["urban_rural_class"] = urban[keep]
        self.frame_numbers = self.codes.number[keep]
        frame = pd.DataFrame(data, columns=FRAME_COLUMNS)
        frame.index = pd.Index(self.rows[keep], name="row")
        return frame

    def _parent_totals(self, frame: pd.DataFrame) -> pd.DataFrame:
        num = self.frame_numbers
        lvl = frame["level"].to_numpy()
        pop = frame["population"].to_numpy(dtype=np.int64)
        stated = []  # (parent number or 0 for the whole file, name, row, source, value, row span)
        pop_all, has_pop = self.counts.get("population",
                                           (np.zeros(self.n, np.int64), np.zeros(self.n, bool)))
        prev_total = 0
        for i in np.flatnonzero(self.total):
            row = int(self.rows[i])
            span, since = None, prev_total
            prev_total = row
            if not has_pop[i]:
                self.notes.append(f"total row {row} has no figure; not used as a check")
                continue
            label = self.names[i] or str(self.codes.shown(i))
            parent = int(self.codes.number[i])
            compact = re.sub(r"\s+", "", label)
            if not parent:
                parent = self._township_names(frame).get(_TOTAL_WORDS.sub("", compact), 0)
            if not parent and not _GRAND_TOTAL.match(compact) and "小计" in compact:
                # a subtotal of the rows above it, back to the previous total row
                span = (since, row)
            elif not parent:
                parent = (self.study or 0) * 10**6
            stated.append((parent, label, row, "total row", int(pop_all[i]), span))
        for k in np.flatnonzero(lvl != "village"):
            stated.append((int(num[k]), frame["name"].iat[k], int(frame.index[k]), f"{lvl[k]} row",
                           int(pop[k]), None))
        for code, value in (self.expected or {}).items():
            cp = C.parse_codes(np.array([str(code)], dtype=object))
            if cp.ok[0]:
                stated.append((int(cp.number[0]), self._name_of(int(cp.number[0])).strip(" ()"),
                               None, "given", int(value), None))
        out = []
        rows = frame.index.to_numpy()
        for parent, label, row, source, value, span in stated:
            plevel = C.code_levels(np.array([parent]))[0] if parent else "file"
            if span is not None:
                under = (lvl != "county") & (rows > span[0]) & (rows < span[1])
            elif parent and plevel == "township":
                under = (lvl == "village") & (num // 1000 == parent // 1000)
            elif parent and plevel == "county":
                under = (lvl != "county") & (num // 10**6 == parent // 10**6)
            else:
                under = lvl != "county"
            if not under.any():
                if source != "township row" and source != "county row":
                    self.notes.append(f"{source} {label}: no rows under it to check against")
                continue
            child_level = "village" if (under & (lvl == "village")).any() else "township"
            under &= lvl == child_level
            summed = int(pop[under].sum())
            out.append((f"{parent:012d}" if parent else None, label, row, source, value, summed,
                        int(under.sum()), child_level, summed - value))
            if summed != value:
                diff = summed - value
                msg = (f"states {value:,} but its {int(under.sum())} {child_level} row(s) sum to "
                       f"{summed:,} ({abs(diff):,} {'more' if diff > 0 else 'fewer'})")
                fix = ("check for missing, repeated or mistyped rows, or correct the stated total; "
                       "rows with errors are not counted until fixed")
                self.p.warn(row, self.label("population"), value, msg, fix)
        return pd.DataFrame(out, columns=TOTAL_COLUMNS)

    def _township_names(self, frame: pd.DataFrame) -> dict[str, int]:
        if hasattr(self, "_towns"):
            return self._towns
        names: dict[str, int] = {}
        self._towns = names
        if self.code_list is not None:
            t = self.code_list[self.code_list["level"] == "township"]
            names.update(zip(t["name"], code_ints(t["code"]), strict=True))
        t = frame[frame["level"] == "township"]
        names.update(zip(t["name"], t["code"].astype(np.int64), strict=True))
        return names
