"""Risk-point scoring methods as data: LEC (D = L × E × C) and the 5 × 5 risk matrix (R = L × S).

A :class:`Method` holds its factors and the allowed score of each factor with its Chinese
description (domain.md §2.2–2.3). The thresholds that turn a score into one of the four
levels are *not* here: they are norms (``risk.lec.*``, ``risk.matrix.*``) read into a
:class:`BandTable`, which a jurisdiction may override and whose ``version`` (a short hash
of its content) is stored with every assessment so that a map says which bands it used.

Closedness of the bands (decided here, following the wording in the norms table):

* LEC, keys ``risk.lec.<level>_above`` — a threshold is a strict lower bound:
  D > 320 red (重大); 160 < D ≤ 320 orange (较大); 70 < D ≤ 160 yellow (一般);
  D ≤ 70 blue (低). This follows the LEC literature, which writes 一般危险 as "< 70" with
  "70–160" 显著危险, and the domain note "160 < D ≤ 320". With the standard score tables
  only 70 is an exact product (e.g. 10 × 1 × 7), and it is blue. 320 and 160 cannot be
  reached exactly (the neighbours are 300/360 and 150/180), so their closedness only
  matters for overridden bands.
* Matrix, keys ``risk.matrix.<level>_min`` — a threshold is an inclusive lower bound:
  R ≥ 20 red; 10 ≤ R < 20 orange; 4 ≤ R < 10 yellow; R < 4 blue, i.e. the published
  ranges 20–25, 10–16, 4–9, 1–3.

Scores are rounded to 4 decimals before comparison: products of the tabulated values have
at most two decimals, and rounding removes binary noise such as 0.2 × 10 × 40 = 80.00000000000001.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pandas as pd

from emgis.layers import vocab
from emgis.layers.norms import Norms, default_norms
from emgis.layers.problems import Problems
from emgis.risk.levels import LEVEL_KEYS

_DECIMALS = 4


@dataclass(frozen=True)
class Score:
    """One allowed value of a factor and what it means."""

    value: float
    zh: str


@dataclass(frozen=True)
class Factor:
    """A factor of a method (e.g. L, likelihood) and its allowed scores."""

    symbol: str
    zh: str
    en: str
    scores: tuple[Score, ...]

    @property
    def allowed(self) -> tuple[float, ...]:
        return tuple(s.value for s in self.scores)

    def describe(self, value: float) -> str:
        """Return the Chinese description of an allowed ``value``."""
        for s in self.scores:
            if np.isclose(s.value, value):
                return s.zh
        raise ValueError(f"{self.symbol}={value!r} is not allowed; allowed: {_fmt(self.allowed)}")


@dataclass(frozen=True)
class Method:
    """A scoring method: score = product of its factors; bands read from ``norm_prefix``."""

    key: str
    zh: str
    formula: str
    factors: tuple[Factor, ...]
    norm_prefix: str
    closed: Literal["above", "min"]

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(f.symbol for f in self.factors)

    def factor(self, symbol: str) -> Factor:
        for f in self.factors:
            if f.symbol == symbol:
                return f
        raise KeyError(f"method {self.key} has no factor {symbol!r}; "
                       f"it has {', '.join(self.symbols)}")


LEC = Method(
    key="LEC", zh="作业条件危险性评价法", formula="D = L × E × C",
    norm_prefix="risk.lec", closed="above",
    factors=(
        Factor("L", "事故发生的可能性", "likelihood", (
            Score(10, "完全可以预料"), Score(6, "相当可能"), Score(3, "可能，但不经常"),
            Score(1, "可能性小，完全意外"), Score(0.5, "很不可能，可以设想"),
            Score(0.2, "极不可能"), Score(0.1, "实际不可能"))),
        Factor("E", "暴露于危险环境的频繁程度", "exposure", (
            Score(10, "连续暴露"), Score(6, "每天工作时间内暴露"), Score(3, "每周一次或偶然暴露"),
            Score(2, "每月一次暴露"), Score(1, "每年几次暴露"), Score(0.5, "非常罕见地暴露"))),
        Factor("C", "发生事故产生的后果", "consequence", (
            Score(100, "大灾难，许多人死亡"), Score(40, "灾难，数人死亡"),
            Score(15, "非常严重，一人死亡"), Score(7, "严重，重伤"), Score(3, "重大，致残"),
            Score(1, "引人注目，需要救护"))),
    ),
)

MATRIX = Method(
    key="matrix", zh="风险矩阵法", formula="R = L × S",
    norm_prefix="risk.matrix", closed="min",
    factors=(
        Factor("L", "事故发生的可能性", "likelihood", (
            Score(5, "极有可能（几乎肯定发生）"), Score(4, "很可能"), Score(3, "可能"),
            Score(2, "不太可能"), Score(1, "极不可能（罕见）"))),
        Factor("S", "事故后果严重性", "severity", (
            Score(5, "特别严重（灾难性）"), Score(4, "严重"), Score(3, "较严重"),
            Score(2, "一般"), Score(1, "轻微"))),
    ),
)

METHODS: dict[str, Method] = {LEC.key: LEC, MATRIX.key: MATRIX}


def get_method(method: str | Method) -> Method:
    """Return the :class:`Method` for a key, Chinese name or alias (e.g. 'LEC', '风险矩阵法')."""
    if isinstance(method, Method):
        return method
    key = vocab.lookup(vocab.RISK_METHOD, method)
    if key is None or key not in METHODS:
        raise ValueError(
            f"method={method!r} is not a risk method; use one of "
            f"{vocab.describe(vocab.RISK_METHOD)}"
        )
    return METHODS[key]


# --- bands ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BandTable:
    """Thresholds turning a method's score into a level, with a content-derived version.

    ``thresholds`` are ``(level, threshold)`` for red, orange and yellow, highest first;
    anything not reaching the yellow threshold is blue. ``closed='above'`` means a score
    must be strictly greater than the threshold, ``'min'`` greater or equal.
    """

    method: str
    thresholds: tuple[tuple[str, float], ...]
    closed: Literal["above", "min"]
    version: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        levels = [lv for lv, _ in self.thresholds]
        if levels != list(LEVEL_KEYS[:-1]):
            raise ValueError(
                f"band table for {self.method} has levels {levels}; give thresholds for "
                f"{', '.join(LEVEL_KEYS[:-1])} in that order (blue is everything below)"
            )
        values = [t for _, t in self.thresholds]
        if any(a <= b for a, b in itertools.pairwise(values)):
            shown = ", ".join(f"{lv}={t:g}" for lv, t in self.thresholds)
            raise ValueError(
                f"band thresholds for {self.method} must fall strictly from red to yellow; got "
                f"{shown}. Fix the {get_method(self.method).norm_prefix}.* norms"
            )
        if self.closed not in ("above", "min"):
            raise ValueError(f"closed={self.closed!r} must be 'above' (>) or 'min' (>=)")
        if not self.version:
            text = (f"{self.method}|{self.closed}|"
                    + "|".join(f"{lv}:{t:g}" for lv, t in self.thresholds))
            digest = hashlib.sha1(text.encode()).hexdigest()[:10]
            object.__setattr__(self, "version", f"{self.method}-{digest}")

    @classmethod
    def from_norms(cls, method: str | Method, norms: Norms | None = None) -> BandTable:
        """Build the band table of ``method`` from ``<prefix>.<level>_above|_min`` norms."""
        m = get_method(method)
        norms = norms or default_norms()
        thresholds = tuple(
            (lv, norms.number(f"{m.norm_prefix}.{lv}_{m.closed}")) for lv in LEVEL_KEYS[:-1]
        )
        return cls(m.key, thresholds, m.closed)

    def levels_of(self, scores: Iterable[float] | np.ndarray) -> np.ndarray:
        """Return the level key of each score (object array; None where the score is NaN)."""
        s = np.round(np.asarray(scores, dtype=float), _DECIMALS)
        out = np.full(s.shape, LEVEL_KEYS[-1], dtype=object)
        # assign from the lowest band up so the highest band reached wins
        for lv, t in reversed(self.thresholds):
            hit = s > t if self.closed == "above" else s >= t
            out[hit] = lv
        out[np.isnan(s)] = None
        return out

    def level_of(self, score: float) -> str:
        """Return the level key of one score."""
        return str(self.levels_of([score])[0])

    def describe(self) -> str:
        op = ">" if self.closed == "above" else "≥"
        parts = [f"{lv} {op} {t:g}" for lv, t in self.thresholds]
        return f"{self.method} [{self.version}]: " + "; ".join(parts) + "; else blue"


def band_tables(norms: Norms | None = None) -> dict[str, BandTable]:
    """Return the band table of every method, keyed by method key."""
    norms = norms or default_norms()
    return {k: BandTable.from_norms(k, norms) for k in METHODS}


# --- assessment -------------------------------------------------------------------------


@dataclass(frozen=True)
class Assessment:
    """The score and level of one risk point, and the band table that produced it."""

    score: float
    level: str
    method: str
    band_version: str
    inputs: Mapping[str, float]


def _fmt(values: Sequence[float]) -> str:
    return ", ".join(f"{v:g}" for v in values)


def _check_value(m: Method, symbol: str, raw: object, problems: Problems,
                 row: int | None) -> float | None:
    f = m.factor(symbol)
    allowed = np.array(f.allowed)
    if isinstance(raw, np.generic):  # show 7, not np.int64(7), in messages
        raw = raw.item()
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    try:
        v = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        v = float("nan")
    if np.isnan(v) or not np.isclose(allowed, v).any():
        absent = raw is None or (np.ndim(raw) == 0 and bool(pd.isna(raw)))
        what = "is missing" if absent else "is not an allowed score"
        problems.error(row, symbol, raw, f"{what} for {m.key} factor {symbol} ({f.zh})",
                       f"use one of {_fmt(f.allowed)}")
        return None
    return float(allowed[np.isclose(allowed, v)][0])


def _bands_for(m: Method, bands: BandTable | Mapping[str, BandTable] | None,
               norms: Norms | None) -> BandTable:
    if bands is None:
        return BandTable.from_norms(m, norms)
    if isinstance(bands, BandTable):
        if bands.method != m.key:
            raise ValueError(f"bands are for method {bands.method!r} but the method is {m.key!r}; "
                             f"pass BandTable.from_norms({m.key!r}, norms)")
        return bands
    if m.key not in bands:
        raise ValueError(f"bands has no table for method {m.key!r}; it has {', '.join(bands)}")
    return bands[m.key]


def assess(
    method: str | Method,
    inputs: Mapping[str, object],
    bands: BandTable | Mapping[str, BandTable] | None = None,
    *,
    norms: Norms | None = None,
) -> Assessment:
    """Score one risk point and give its level.

    Parameters
    ----------
    method
        'LEC' or 'matrix' (or a Chinese name / alias, or a :class:`Method`).
    inputs
        Factor scores, e.g. ``{"L": 6, "E": 6, "C": 7}``; each must be in the method's table.
    bands
        Band table (or mapping method → table); built from ``norms`` when omitted.
    norms
        Norms in force; ``default_norms()`` when omitted.

    Raises
    ------
    layers.problems.InputError
        Listing every missing, unknown or disallowed factor, with the allowed values.
    """
    m = get_method(method)
    problems = Problems(f"{m.key} inputs")
    values: dict[str, float] = {}
    for sym in m.symbols:
        v = _check_value(m, sym, inputs.get(sym), problems, None)
        if v is not None:
            values[sym] = v
    for extra in set(inputs) - set(m.symbols):
        problems.error(None, str(extra), inputs[extra], f"is not a factor of {m.key} ({m.formula})",
                       f"give only {', '.join(m.symbols)}")
    problems.raise_if_errors()
    table = _bands_for(m, bands, norms)
    score = round(float(np.prod([values[s] for s in m.symbols])), _DECIMALS)
    return Assessment(score, table.level_of(score), m.key, table.version, values)


def assess_many(
    df: pd.DataFrame,
    *,
    method: str | Method | None = None,
    method_col: str = "method",
    bands: BandTable | Mapping[str, BandTable] | None = None,
    norms: Norms | None = None,
    file: str = "risk points",
    first_row: int = 2,
) -> pd.DataFrame:
    """Score many points at once; return a copy with ``score``, ``level``, ``band_version``.

    Factor scores are read from columns named by factor symbol (``L``, ``E``, ``C`` for
    LEC; ``L``, ``S`` for the matrix). Rows may mix methods through ``method_col``; with
    ``method`` given, every row uses it. Every bad value in the table is reported at once.

    Parameters
    ----------
    df
        One row per point (a GeoDataFrame keeps its geometry).
    method
        Method for every row; if None, read per row from ``method_col``.
    method_col
        Column holding each row's method when ``method`` is None; the output's
        ``method`` column holds normalised keys.
    bands, norms
        As for :func:`assess`.
    file, first_row
        How problems are located: row numbers are positions + ``first_row`` (2 = the first
        data line of a CSV with a header).

    Raises
    ------
    layers.problems.InputError
        Listing every row, factor and value that is not allowed, with the allowed values.
    """
    problems = Problems(file)
    out = df.copy()
    n = len(out)
    rows = np.arange(n) + first_row
    if method is not None:
        keys = np.full(n, get_method(method).key, dtype=object)
    else:
        if method_col not in out.columns:
            raise ValueError(f"df has no {method_col!r} column and method=None; pass method='LEC' "
                             f"or 'matrix', or add a {method_col!r} column")
        col = out[method_col].astype(object)
        lookup = {v: vocab.lookup(vocab.RISK_METHOD, v) for v in pd.unique(col.dropna())}
        keys = col.map(lookup).to_numpy(dtype=object)
        for i in np.flatnonzero(pd.isna(pd.Series(keys)).to_numpy()):
            problems.error(int(rows[i]), method_col, out[method_col].iloc[i],
                           "is not a risk method",
                           f"use one of {vocab.describe(vocab.RISK_METHOD)}")
    score = np.full(n, np.nan)
    level = np.full(n, None, dtype=object)
    version = np.full(n, None, dtype=object)
    for key, m in METHODS.items():
        sel = keys == key
        if not sel.any():
            continue
        missing = [s for s in m.symbols if s not in out.columns]
        if missing:
            problems.error(None, ", ".join(missing), None,
                           f"column(s) missing for {m.key} ({m.formula})",
                           f"add columns {', '.join(m.symbols)}")
            continue
        prod = np.ones(int(sel.sum()))
        ok = np.ones(int(sel.sum()), dtype=bool)
        for sym in m.symbols:
            raw = out[sym].to_numpy()[sel]
            vals = pd.to_numeric(pd.Series(raw), errors="coerce").to_numpy(dtype=float)
            allowed = np.array(m.factor(sym).allowed)
            good = np.isclose(vals[:, None], allowed[None, :]).any(axis=1)
            for j in np.flatnonzero(~good):  # loop over the bad cells only, to report them
                _check_value(m, sym, raw[j], problems, int(rows[sel][j]))
            ok &= good
            prod *= np.where(good, vals, np.nan)
        table = _bands_for(m, bands, norms)
        s = np.round(prod, _DECIMALS)
        score[sel] = s
        level[sel] = table.levels_of(s)
        version[sel] = np.where(ok, table.version, None)
    problems.items.sort(key=lambda p: (p.row is not None, p.row or 0))
    problems.raise_if_errors()
    out["method"] = pd.Series(keys, index=out.index, dtype=object)
    out["score"] = score
    out["level"] = pd.Series(level, index=out.index, dtype=object)
    out["band_version"] = pd.Series(version, index=out.index, dtype=object)
    return out


def relevel(
    assessments: Sequence[Assessment],
    new_bands: BandTable | Mapping[str, BandTable],
) -> tuple[list[Assessment], int]:
    """Re-band assessments with new thresholds; return them and how many changed level.

    Scores are kept; only ``level`` and ``band_version`` change.
    """
    out = []
    changed = 0
    for a in assessments:
        table = _bands_for(get_method(a.method), new_bands, None)
        lv = table.level_of(a.score)
        changed += lv != a.level
        out.append(replace(a, level=lv, band_version=table.version))
    return out, changed


def relevel_frame(
    df: pd.DataFrame, new_bands: BandTable | Mapping[str, BandTable]
) -> tuple[pd.Series, int]:
    """Re-band an :func:`assess_many` result; return the new levels and how many changed."""
    new = pd.Series(np.full(len(df), None, dtype=object), index=df.index, name="level",
                    dtype=object)
    methods = df["method"].to_numpy()
    for key in pd.unique(methods):
        table = _bands_for(get_method(key), new_bands, None)
        sel = methods == key
        new[sel] = table.levels_of(df["score"].to_numpy(dtype=float)[sel])
    changed = int((new.to_numpy() != df["level"].to_numpy()).sum())
    return new, changed
