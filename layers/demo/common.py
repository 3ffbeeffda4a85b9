"""What every part of the demo generator shares: the county's constants, the world, sampling.

The world (:class:`World`) is the county in metres, in its Gauss-Kruger zone, before any file
is written. The helpers draw from the caller's generator only; the order of the calls, fixed
by ``county.write_demo_county``, is what makes a seed give the same files.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.random import Generator
from shapely.geometry import LineString, Polygon

COUNTY_CODE = "339901"
COUNTY_NAME = "示范县（合成数据）"
COUNTY_NAME_EN = "Demo County (synthetic)"
DEFAULT_SEED = 20250801
#: The "today" of the demo: hazards whose deadline is before it and that are not closed are overdue.
REFERENCE_DATE = dt.date(2026, 11, 1)

INSET = 150.0  # m: facilities stay this far inside the outline so GCJ-02 round trips stay inside

_FIRST = ("东西南北上下前后大小新青白石金龙凤马杨柳桃李梅竹松枫兰荷"
          "溪泉湖塘桥山岭岗坞港沙高长平安和丰")
_SECOND = "溪桥塘山湾岭坞口头埠里庄店墩浦港渚坂垟畈洋岩坑源田园林湖亭泉洲圩岙"

RIVER = "范溪"


@dataclass
class World:
    """The county in metres (Gauss-Kruger), before any file is written."""

    epsg: int
    outline: Polygon
    inner: Polygon  # outline shrunk by INSET
    seat: np.ndarray
    river: LineString
    hills: Polygon
    park: Polygon
    roads: list[LineString]
    zones: gpd.GeoDataFrame
    danger: shapely.Geometry  # high and medium zones: where facilities are not put by accident
    towns: pd.DataFrame
    villages: gpd.GeoDataFrame  # 2020 vintage with census columns
    units: gpd.GeoDataFrame  # 2023 vintage: county, townships, villages
    merged: tuple[str, str]  # (withdrawn village code, the village it was merged into)


def blob(rng: Generator, cx: float, cy: float, rx: float, ry: float, *, amp: float, kmax: int,
         n: int = 200) -> Polygon:
    """Return an irregular star-shaped polygon: an ellipse with random harmonic wobbles."""
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    r = np.ones_like(t)
    for k in range(2, kmax + 1):
        r += rng.uniform(0.4, 1.0) * amp / k**0.8 * np.cos(k * t + rng.uniform(0.0, 2.0 * np.pi))
    r = np.clip(r, 0.6, 1.4)
    return Polygon(np.c_[cx + rx * r * np.cos(t), cy + ry * r * np.sin(t)])


def off(p, dx: float, dy: float) -> np.ndarray:
    return np.array([p[0] + dx, p[1] + dy], dtype=float)


def sample(rng: Generator, region: shapely.Geometry, n: int, *, min_dist: float = 0.0,
           existing: np.ndarray | None = None, around: tuple[float, float] | None = None,
           sd: float = 0.0, avoid: shapely.Geometry | None = None) -> np.ndarray:
    """Return ``n`` random points (n x 2) in ``region``, at least ``min_dist`` apart.

    Points are drawn uniformly over the region, or normally around ``around`` with
    standard deviation ``sd``; those in ``avoid`` or too close to ``existing`` points or
    to each other are rejected. The spacing is relaxed when the region is full.
    """
    shapely.prepare(region)
    have = (np.empty((0, 2)) if existing is None
            else np.asarray(existing, dtype=float).reshape(-1, 2))
    out: list[tuple[float, float]] = []
    x0, y0, x1, y1 = region.bounds
    for attempt in range(400):
        if around is None:
            xs, ys = rng.uniform(x0, x1, 64), rng.uniform(y0, y1, 64)
        else:
            xs, ys = around[0] + rng.normal(0.0, sd, 64), around[1] + rng.normal(0.0, sd, 64)
        ok = shapely.contains_xy(region, xs, ys)
        if avoid is not None and not avoid.is_empty:
            ok &= ~shapely.contains_xy(avoid, xs, ys)
        spacing = min_dist * 0.85 ** (attempt // 40)
        for x, y in zip(xs[ok], ys[ok], strict=True):
            pts = np.vstack([have, out]) if out else have
            if spacing and len(pts) and np.min(np.hypot(pts[:, 0] - x, pts[:, 1] - y)) < spacing:
                continue
            out.append((float(x), float(y)))
            if len(out) == n:
                return np.array(out)
        if around is not None and attempt % 40 == 39:
            sd *= 1.5  # the neighbourhood is full or outside the region: look further out
    raise RuntimeError(f"could not place {n} points in a region of {region.area / 1e6:.2f} km² "
                       f"(placed {len(out)}); this is a bug in the demo generator")


def invent_names(rng: Generator, n: int, taken: set[str]) -> list[str]:
    combos = [a + b for a in _FIRST for b in _SECOND if a != b and a + b not in taken]
    picked = [combos[i] for i in rng.permutation(len(combos))[:n]]
    taken.update(picked)
    return picked


def largest_line(g: shapely.Geometry) -> LineString:
    parts = shapely.get_parts(g)
    return parts[int(np.argmax(shapely.length(parts)))]


def place_near(rng: Generator, w: World, xy, sd: float, *, avoid: bool = True,
               region=None) -> np.ndarray:
    """Return a random point about ``sd`` m from ``xy`` in ``region``, outside the danger zones
    if it can."""
    region = w.inner if region is None else region
    if avoid:
        safe = region.difference(w.danger)
        # a village wholly in the zone keeps its site
        region = safe if safe.area > 20_000 else region
    return sample(rng, region, 1, around=(float(xy[0]), float(xy[1])), sd=sd)[0]


def codes_at(w: World, gdf: gpd.GeoDataFrame | gpd.GeoSeries) -> list[str]:
    """Return the 2023 village code holding each point of ``gdf`` (metric CRS)."""
    vil = w.units[w.units["level"] == "village"].reset_index(drop=True)
    tree = shapely.STRtree(vil.geometry.to_numpy())
    pts = gdf.to_numpy() if isinstance(gdf, gpd.GeoSeries) else gdf.geometry.to_numpy()
    hit = tree.query_nearest(pts, all_matches=False)  # a point inside has distance 0
    return vil["code"].to_numpy()[hit[1][np.argsort(hit[0], kind="stable")]].tolist()


def town_name(w: World, code: str) -> str:
    return str(w.towns.loc[w.towns["code"] == code[:9] + "000", "name"].iloc[0])
