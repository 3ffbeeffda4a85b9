"""What the columns of a road line layer mean: the road class (OSM classes or Chinese grades), the
one-way or direction code, and speeds (one per line, or one per direction).

Chinese grades: the urban street grades of CJJ 37-2012 (快速路, 主干路, 次干路, 支路), estate and
campus roads (内部道路), the administrative highway grades (高速公路, 国道, 省道, 县道, 乡道, 村道,
专用公路) and the technical grades of JTG B01-2014 (一级…四级公路, 等外公路), with their usual
variants (主干道, 高速, 一级, 等外 …). Each grade's speed is the norm
``road.speed_kmh.cn.<grade>``; a planner overrides it, or adds a grade the table lacks
(``emgis norms set road.speed_kmh.cn.街巷 15``).

One-way codes are read as a whole column, because the same letter means different things in
different sources (`oneway_scheme`):

* ``yes/no/true/false/1/0/-1``, ``T``/``F`` (true/false), ``FT``/``TF``/``B``/``N`` (Esri), and
  Chinese 双向/正向/逆向/单行/是/否: 1 along the line, 0 both ways, -1 against it;
* Geofabrik shapefiles (a column holding ``B``): ``B`` both, ``F`` along, ``T`` against;
* NavInfo/AutoNavi style codes (a column holding 2 or 3): 0 (not surveyed) and 1 both ways,
  2 along the line, 3 against it.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from emgis.geo.osm import CLASS_ALIASES

if TYPE_CHECKING:
    from emgis.layers.norms import Norms
    from emgis.layers.problems import Problems

__all__ = [
    "CN_GRADES",
    "CN_SPEED_PREFIX",
    "CN_VARIANTS",
    "SKIPPED_CLASSES",
    "WayAttributes",
    "class_speed",
    "cn_road_speeds",
    "oneway_scheme",
    "parse_maxspeed",
    "read_way_attributes",
    "road_speeds",
]

CN_SPEED_PREFIX = "road.speed_kmh.cn"

#: The Chinese grades with a speed norm, in the order they are listed to users.
CN_GRADES = ("快速路", "主干路", "次干路", "支路", "内部道路",
             "高速公路", "一级公路", "二级公路", "三级公路", "四级公路", "等外公路",
             "国道", "省道", "县道", "乡道", "村道", "专用公路")

#: Other ways of writing a grade -> the grade.
CN_VARIANTS = {
    "城市快速路": "快速路", "快速干道": "快速路", "城市快速干道": "快速路",
    "主干道": "主干路", "城市主干路": "主干路", "城市主干道": "主干路", "主干": "主干路",
    "次干道": "次干路", "城市次干路": "次干路", "城市次干道": "次干路", "次干": "次干路",
    "城市支路": "支路", "支道": "支路",
    "内部路": "内部道路", "小区道路": "内部道路", "小区路": "内部道路", "居住区道路": "内部道路",
    "单位内部道路": "内部道路", "园区道路": "内部道路",
    "高速": "高速公路", "一级": "一级公路", "二级": "二级公路", "三级": "三级公路",
    "四级": "四级公路", "等外": "等外公路", "等外路": "等外公路", "国道公路": "国道",
    "省道公路": "省道", "县道公路": "县道", "乡道公路": "乡道", "乡村道路": "乡道",
    "村道公路": "村道", "村级公路": "村道", "专用道路": "专用公路",
}

#: Chinese names of OSM classes that are not grades of a standard.
ZH_OSM = {"机耕路": "track", "渡口": "ferry", "轮渡": "ferry"}

#: Classes left out of the network: a transport model's artificial links to zone centroids.
SKIPPED_CLASSES = frozenset({"centroid_connector", "centroid connector", "connector"})

# Speed norms that are not road classes.
_NOT_CLASSES = ("walk", "offroad")

_MPH_KMH = 1.609344
_KNOT_KMH = 1.852
_SPEED_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*(km/h|kmh|kph|mph|knots)?$")


def road_speeds(norms: Norms | None = None) -> dict[str, float]:
    """Return ``{OSM class: km/h}`` from the norms group ``road.speed_kmh`` (road classes only)."""
    group = _norms(norms).group("road.speed_kmh")
    return {k: float(v) for k, v in group.items() if k not in _NOT_CLASSES and "." not in k}


def cn_road_speeds(norms: Norms | None = None) -> dict[str, float]:
    """Return ``{Chinese grade: km/h}`` from the norms group ``road.speed_kmh.cn``."""
    return {k: float(v) for k, v in _norms(norms).group(CN_SPEED_PREFIX).items()}


def _norms(norms: Norms | None) -> Norms:
    if norms is None:
        from emgis.layers.norms import default_norms

        return default_norms()
    return norms


def parse_maxspeed(value: Any) -> float | None:
    """Return an OSM ``maxspeed`` value in km/h, or None if it does not parse.

    ``"50"``, ``"50 km/h"``, ``"30 mph"`` and ``"50;70"`` (mean) parse; zone codes such as
    ``"CN:urban"``, ``"none"`` or ``"walk"`` do not (the class speed applies).
    """
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return None
    speeds = []
    for part in re.split(r"[;|]", str(value)):
        m = _SPEED_RE.match(part.strip().lower())
        if not m:
            return None
        s = float(m[1]) * {"mph": _MPH_KMH, "knots": _KNOT_KMH}.get(m[2] or "", 1.0)
        if s <= 0:
            return None
        speeds.append(s)
    return float(np.mean(speeds)) if speeds else None


def _text(raw: Any) -> str:
    """A cell as clean text: NFKC (full-width letters and digits folded), no spaces; '' if empty."""
    if raw is None or (isinstance(raw, float) and not np.isfinite(raw)):
        return ""
    if isinstance(raw, bool | np.bool_):
        return "1" if raw else "0"
    if isinstance(raw, int | float | np.number) and float(raw).is_integer():
        return str(int(raw))
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(raw)))


def class_speed(raw: Any, speeds: Mapping[str, float],
                cn_speeds: Mapping[str, float]) -> float | None:
    """Return the speed of road class ``raw`` (a Chinese grade or an OSM class), or None."""
    text = _text(raw)
    grade = text if text in cn_speeds else CN_VARIANTS.get(text)
    if grade is not None and grade in cn_speeds:
        return cn_speeds[grade]
    text = ZH_OSM.get(text, text.lower())
    base = text[:-5] if text.endswith("_link") else text
    base = CLASS_ALIASES.get(base, base)
    return speeds.get(base)


# --- one-way codes -------------------------------------------------------------------------------

_COMMON = {
    "yes": 1, "true": 1, "y": 1, "1": 1, "ft": 1, "forward": 1, "是": 1, "单向": 1, "单行": 1,
    "正向": 1, "顺向": 1, "正": 1, "顺": 1,
    "-1": -1, "reverse": -1, "backward": -1, "tf": -1, "逆向": -1, "反向": -1, "逆": -1,
    "no": 0, "false": 0, "n": 0, "0": 0, "b": 0, "both": 0, "": 0, "none": 0, "null": 0,
    "否": 0, "双向": 0, "双行": 0, "双": 0,
}


@dataclass(frozen=True)
class OnewayScheme:
    """How one column's one-way codes read: ``codes`` maps a cleaned value to 1 / 0 / -1."""

    name: str
    codes: Mapping[str, int]
    description: str

    def code(self, raw: Any) -> int | None:
        return self.codes.get(_text(raw).lower())


_SIGNED = OnewayScheme("signed", {**_COMMON, "t": 1, "f": 0},
                       "yes/1/T/FT/正向 along the line, -1/TF/逆向 against it, "
                       "no/0/F/B/双向 both ways")
_GEOFABRIK = OnewayScheme("geofabrik", {**_COMMON, "f": 1, "t": -1},
                          "Geofabrik codes: B both ways, F along the line, T against it")
_NAVINFO = OnewayScheme("navinfo", {**_COMMON, "1": 0, "2": 1, "3": -1, "-1": -9},
                        "NavInfo/AutoNavi codes: 0 (not surveyed) and 1 both ways, "
                        "2 along the line, 3 against it")


def oneway_scheme(values: Iterable[Any]) -> OnewayScheme:
    """Which one-way coding a whole column uses (see the module's docstring)."""
    seen = {_text(v).lower() for v in values}
    if seen & {"2", "3"} and "-1" not in seen:
        return _NAVINFO
    if "b" in seen and seen & {"f", "t"}:
        return _GEOFABRIK
    return _SIGNED


# --- per-line attributes -------------------------------------------------------------------------

@dataclass(frozen=True)
class WayAttributes:
    """Per line of the layer: the class name kept on its edges, the speed along the line and
    against it (NaN: not allowed that way), and whether it is kept at all."""

    class_name: NDArray[np.object_]
    speed_along: NDArray[np.float64]
    speed_against: NDArray[np.float64]
    keep: NDArray[np.bool_]


def _known_list(cn_speeds: Mapping[str, float], speeds: Mapping[str, float]) -> str:
    cn = [g for g in CN_GRADES if g in cn_speeds] + sorted(set(cn_speeds) - set(CN_GRADES))
    return f"Chinese grades {'、'.join(cn)}; OSM classes {', '.join(sorted(speeds))}"


def _grouped(values: Counter[str], limit: int = 20) -> str:
    parts = [f"{v!r} ({n} line{'s' if n != 1 else ''})" for v, n in values.most_common(limit)]
    more = len(values) - limit
    return ", ".join(parts) + (f" and {more} more" if more > 0 else "")


def read_way_attributes(gdf: Any, *, class_field: str | None,
                        speed_field: str | tuple[str, str] | None, oneway_field: str | None,
                        norms: Norms | None, p: Problems) -> WayAttributes:
    """Read class, speed(s) and one-way code of every line of ``gdf`` into `WayAttributes`.

    ``speed_field`` is one column (km/h both ways) or a pair (along, against): a zero or empty
    speed one way with a speed the other means one-way; both empty means the class speed.
    Problems go to ``p``: unknown classes once, grouped with their counts.
    """
    speeds, cn_speeds = road_speeds(norms), cn_road_speeds(norms)
    n = len(gdf)
    base = np.full(n, np.nan)
    cls_name = np.array([""] * n, dtype=object)
    keep = np.ones(n, dtype=bool)
    unknown_rows = np.zeros(0, dtype=np.int64)
    if class_field is not None:
        codes, uniq = _factorize(gdf[class_field])
        texts = np.array([_text(u) for u in uniq] + [""], dtype=object)
        skip = np.array([t.lower() in SKIPPED_CLASSES for t in texts])
        u_speed = np.array([np.nan if sk else (class_speed(u, speeds, cn_speeds) or np.nan)
                            for u, sk in zip([*uniq, None], skip, strict=True)])
        cls_name, base, keep = texts[codes], u_speed[codes], ~skip[codes]
        unknown_rows = np.flatnonzero(keep & np.isnan(base))
    along, against = base.copy(), base.copy()
    if isinstance(speed_field, str):
        _single_speeds(gdf, speed_field, base, cls_name, p)
        along, against = base.copy(), base.copy()
    elif speed_field is not None:
        _pair_speeds(gdf, speed_field, base, along, against, p)
    if oneway_field is not None:
        codes, uniq = _factorize(gdf[oneway_field])
        scheme = oneway_scheme(uniq)
        u_code = np.array([scheme.code(u) for u in uniq] + [0], dtype=float)
        u_code[np.isnan(u_code) | (u_code == -9)] = np.nan
        o = u_code[codes]
        against[o == 1] = np.nan
        along[o == -1] = np.nan
        bad = Counter({_text(uniq[c]): int(k) for c, k in
                       zip(*np.unique(codes[np.isnan(o)], return_counts=True), strict=True)})
        if bad:
            p.error(None, oneway_field, _grouped(bad), "are not one-way values",
                    f"use {scheme.description}")
    # a line whose class is unknown needs a speed of its own
    still = unknown_rows[np.isnan(along[unknown_rows]) & np.isnan(against[unknown_rows])]
    if still.size:
        missing = Counter(cls_name[i] or "(empty)" for i in still.tolist())
        p.error(None, class_field, _grouped(missing),
                f"{'is not a road class' if len(missing) == 1 else 'are not road classes'} "
                "with a speed",
                f"use one of the {_known_list(cn_speeds, speeds)}; or add the speed of a "
                f"grade as a norm (emgis norms set {CN_SPEED_PREFIX}.<grade> KMH), or give a "
                "speed column (--speed-field)")
    cls_name = cls_name.copy()
    cls_name[keep & (cls_name == "")] = "road"
    return WayAttributes(cls_name, along, against, keep)


def _factorize(col: Any) -> tuple[NDArray[np.intp], list[Any]]:
    """Codes of a column's distinct values and the values (missing ones: code len(values))."""
    import pandas as pd

    codes, uniq = pd.factorize(col)
    codes = np.where(codes < 0, len(uniq), codes)
    return codes, list(uniq)


def _single_speeds(gdf: Any, field: str, base: NDArray[np.float64],
                   cls_name: NDArray[np.object_], p: Problems) -> None:
    for i, raw in enumerate(gdf[field].tolist()):
        s = _number(raw)
        if s is not None and s > 0:
            base[i] = s
        elif s is not None or _text(raw).lower() not in ("", "nan", "none"):
            p.error(i + 1, field, raw, "is not a positive speed in km/h",
                    "give km/h as a number, or leave it empty to use the class speed")
        elif np.isnan(base[i]) and cls_name[i] == "":
            p.error(i + 1, field, raw, "is empty and the row has no known class",
                    "give a speed in km/h or a class column with a known road class")


def _pair_speeds(gdf: Any, fields: Sequence[str], base: NDArray[np.float64],
                 along: NDArray[np.float64], against: NDArray[np.float64], p: Problems) -> None:
    ab, ba = (gdf[f].tolist() for f in fields)
    for i, (ra, rb) in enumerate(zip(ab, ba, strict=True)):
        sa, sb = _number(ra), _number(rb)
        for f, raw, s in ((fields[0], ra, sa), (fields[1], rb, sb)):
            if (s is None and _text(raw).lower() not in ("", "nan", "none")) or \
                    (s is not None and s < 0):
                p.error(i + 1, f, raw, "is not a speed in km/h",
                        "give km/h as a number (0 or empty: not open that way)")
        has_a, has_b = sa is not None and sa > 0, sb is not None and sb > 0
        if not has_a and not has_b:
            continue  # no directional speed: the class speed both ways
        along[i] = sa if has_a else np.nan
        against[i] = sb if has_b else np.nan


def _number(raw: Any) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, int | float | np.number):
        return float(raw) if np.isfinite(raw) else None
    text = _text(raw)
    try:
        return float(text)
    except ValueError:
        return parse_maxspeed(text)
