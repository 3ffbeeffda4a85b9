"""The demo county's geography: outline, river, hills, townships, villages, roads, census.

:func:`build_world` draws, in a fixed order: the outline, the county seat, a river crossing
the county and hills in its south-west; the hazard zones along them; 12 townships (2 街道,
镇 by distance from the seat, the remotest as 乡) as Voronoi cells; villages weighted by
township area and kind; census figures for 2020 and 2023, with one village withdrawn and
merged into its neighbour in 2023.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.random import Generator
from pyproj import Transformer
from shapely import affinity
from shapely.geometry import LineString, MultiPoint, Polygon, box

from emgis.geo.crs import gk_epsg
from emgis.layers.demo.common import (
    COUNTY_CODE,
    COUNTY_NAME,
    INSET,
    World,
    blob,
    invent_names,
    largest_line,
    off,
    sample,
)
from emgis.layers.demo.hazards import draw_hazard_zones

_LON0, _LAT0 = 119.85, 31.0
_HALF_W, _HALF_H = 22_500.0, 17_500.0  # semi-axes of the outline, m (about 45 x 35 km)
_N_VILLAGES_2020 = 221


def build_world(rng: Generator) -> World:
    epsg = int(gk_epsg(_LON0, width=3, prefixed=False))
    cx, cy = Transformer.from_crs(4326, epsg, always_xy=True).transform(_LON0, _LAT0)
    outline = blob(rng, cx, cy, _HALF_W, _HALF_H, amp=0.09, kmax=14, n=256)
    inner = outline.buffer(-INSET)
    seat = np.array([cx + rng.uniform(-3500, -1500), cy + rng.uniform(500, 2000)])

    # The river crosses the county west to east about 3 km south of the seat; its meanders
    # are damped near the seat so the town sits on a terrace above the flood corridor.
    x = np.arange(cx - _HALF_W * 1.6, cx + _HALF_W * 1.6, 250.0)
    dx = x - seat[0]
    damp = 1.0 - np.exp(-((dx / 8000.0) ** 2))
    y = (seat[1] - 3000.0
         + damp * 1500.0 * np.sin(2 * np.pi * x / 17_000 + rng.uniform(0, 2 * np.pi))
         + damp * 600.0 * np.sin(2 * np.pi * x / 9100 + rng.uniform(0, 2 * np.pi))
         + 300.0 * np.sin(2 * np.pi * x / 5200 + rng.uniform(0, 2 * np.pi))
         + rng.uniform(-0.05, 0.05) * dx)
    river = LineString(np.c_[x, y])

    hills = blob(rng, cx - 11_500 + rng.uniform(-1500, 1500),
                 cy - 10_500 + rng.uniform(-1000, 1000),
                 9000.0, 6500.0, amp=0.12, kmax=7)
    hills = _largest(hills.intersection(outline).difference(river.buffer(2500.0)))

    pc = seat + np.array([6500.0, 2500.0]) + rng.uniform(-500, 500, 2)
    park = affinity.rotate(box(pc[0] - 1200, pc[1] - 800, pc[0] + 1200, pc[1] + 800),
                           rng.uniform(-25, 25))

    zones, danger = draw_hazard_zones(rng, outline, river, hills, epsg)
    towns = _townships(rng, outline, seat, hills)
    roads = _roads(rng, outline, seat, towns)
    villages = _villages(rng, towns, seat, hills, park)
    villages, merged = _census(rng, villages, towns)
    units = _units_2023(outline, towns, villages, merged)
    safe = shapely.difference(villages.geometry.to_numpy(), danger)
    villages["safe_km2"] = shapely.area(safe) / 1e6
    return World(epsg, outline, inner, seat, river, hills, park, roads, zones, danger, towns,
                 villages, units, merged)


def _largest(geom: shapely.Geometry) -> Polygon:
    parts = shapely.get_parts(geom)
    return parts[int(np.argmax(shapely.area(parts)))]


def _voronoi(points: np.ndarray, clip: shapely.Geometry) -> np.ndarray:
    """Return the Voronoi cell of each point (in the points' order), clipped to ``clip``."""
    cells = shapely.get_parts(shapely.voronoi_polygons(MultiPoint(points),
                                                       extend_to=clip.buffer(20_000)))
    owner = np.array([np.flatnonzero(shapely.contains_xy(cells, x, y))[0] for x, y in points])
    return shapely.intersection(cells[owner], clip)


def _townships(rng: Generator, outline: Polygon, seat: np.ndarray, hills: Polygon) -> pd.DataFrame:
    streets = (np.array([off(seat, 1400.0, -300.0), off(seat, -1300.0, 300.0)])
               + rng.normal(0, 200, (2, 2)))
    rural = sample(rng, outline.buffer(-3000.0), 10, min_dist=8500.0, existing=streets)
    remote = (np.hypot(*(rural - seat).T)
              + 6000.0 * shapely.contains_xy(hills, rural[:, 0], rural[:, 1]))
    xiang = np.zeros(10, dtype=bool)
    xiang[np.argsort(-remote, kind="stable")[:3]] = True  # 乡 are the remotest, hilliest units
    dist = np.hypot(*(rural - seat).T)
    order = np.lexsort((dist, xiang))  # 镇 by distance from the seat, then 乡
    seeds = np.vstack([streets, rural[order]])
    kinds = ["street"] * 2 + ["xiang" if x else "town" for x in xiang[order]]
    segs, n_town, n_xiang = [], 0, 0
    for k in kinds:
        if k == "street":
            segs.append(len(segs) + 1)
        elif k == "town":
            n_town += 1
            segs.append(100 + n_town)
        else:
            n_xiang += 1
            segs.append(200 + n_xiang)
    # the first street seed lies east of the seat
    base = ["城东", "城西", *invent_names(rng, 10, {"城东", "城西"})]
    suffix = {"street": "街道", "town": "镇", "xiang": "乡"}
    cells = _voronoi(seeds, outline)
    return pd.DataFrame({
        "code": [f"{COUNTY_CODE}{s:03d}000" for s in segs], "base": base,
        "name": [b + suffix[k] for b, k in zip(base, kinds, strict=True)], "kind": kinds,
        "x": seeds[:, 0], "y": seeds[:, 1], "geometry": list(cells),
    })


def _roads(rng: Generator, outline: Polygon, seat: np.ndarray,
           towns: pd.DataFrame) -> list[LineString]:
    roads = []
    for x, y in towns.loc[towns["kind"] != "street", ["x", "y"]].to_numpy():
        a, b = seat, np.array([x, y])
        t = np.linspace(0, 1, 5)[:, None]
        pts = a + t * (b - a)
        normal = np.array([-(b - a)[1], (b - a)[0]]) / np.hypot(*(b - a))
        pts[1:-1] += normal * rng.normal(0, 0.06 * np.hypot(*(b - a)), (3, 1))
        roads.append(LineString(pts))
    # a national road crossing the county west-east just north of the seat
    x0, _, x1, _ = outline.bounds
    gy = seat[1] + 1000.0 + rng.uniform(-300, 300)
    roads.append(LineString([(x0 - 1000, gy + rng.uniform(-4000, 4000)), (seat[0], gy),
                             (x1 + 1000, gy + rng.uniform(-4000, 4000))]).intersection(outline))
    return [largest_line(r) for r in roads]


def _villages(rng: Generator, towns: pd.DataFrame, seat: np.ndarray, hills: Polygon,
              park: Polygon) -> gpd.GeoDataFrame:
    area = shapely.area(np.array(towns["geometry"]))
    weight = area * towns["kind"].map({"street": 2.2, "town": 1.0, "xiang": 0.75}).to_numpy()
    share = weight / weight.sum() * _N_VILLAGES_2020
    n = np.maximum(np.floor(share).astype(int), 6)
    for i in np.argsort(-(share - np.floor(share)), kind="stable")[: _N_VILLAGES_2020 - n.sum()]:
        n[i] += 1
    taken = set(towns["base"])
    parts = []
    for t, (_, town) in enumerate(towns.iterrows()):
        geom, centre, k = town["geometry"], np.array([town["x"], town["y"]]), int(n[t])
        spacing = np.sqrt(geom.area / k)
        core = max(2, round(0.3 * k))
        sd = 1500.0 if town["kind"] == "street" else 900.0
        near = sample(rng, geom, core - 1, min_dist=0.35 * spacing, existing=centre,
                      around=tuple(centre), sd=sd)
        pts = np.vstack([centre, near])
        pts = np.vstack([pts, sample(rng, geom, k - core, min_dist=0.6 * spacing, existing=pts)])
        cells = _voronoi(pts, geom)
        d_town = np.hypot(*(pts - centre).T)
        d_seat = np.hypot(*(pts - seat).T)
        first = np.arange(k) == 0
        if town["kind"] == "street":
            juwei = d_seat < 3800
            cls = np.where(d_seat < 2800, "111", np.where(d_seat < 4800, "112", "220"))
        elif town["kind"] == "town":
            juwei = first | (d_town < 900)
            cls = np.where(juwei, "121", np.where(d_town < 2200, "122", "220"))
        else:
            juwei = np.zeros(k, dtype=bool)
            cls = np.where(first, "210", "220")
        seg = np.zeros(k, dtype=int)
        for flag, start in ((True, 1), (False, 201)):
            idx = np.flatnonzero(juwei == flag)
            seg[idx[np.argsort(d_town[idx], kind="stable")]] = start + np.arange(len(idx))
        names = invent_names(rng, k, taken)
        parts.append(pd.DataFrame({
            "code": [town["code"][:9] + f"{s:03d}" for s in seg],
            "name": [nm + ("社区居委会" if j else "村委会")
                     for nm, j in zip(names, juwei, strict=True)],
            "short": [nm + ("社区" if j else "村") for nm, j in zip(names, juwei, strict=True)],
            "township": town["code"], "juwei": juwei, "urban_rural": cls,
            "x": pts[:, 0], "y": pts[:, 1], "geometry": list(cells),
        }))
    vil = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry")
    vil["hilly"] = shapely.contains_xy(hills, vil["x"].to_numpy(), vil["y"].to_numpy())
    # the village holding the industrial park becomes 123 特殊区域 unless it is part of the main
    # town
    hit = np.flatnonzero(vil.intersects(park.centroid))
    if len(hit) and vil.at[hit[0], "urban_rural"] != "111":
        vil.at[hit[0], "urban_rural"] = "123"
    return vil.sort_values("code", kind="stable").reset_index(drop=True)


_POP_MEDIAN = {"111": 9000, "112": 4500, "121": 5000, "122": 2600, "123": 3000, "210": 2400,
               "220": 1400}
_POP_SIGMA = {"111": 0.3, "112": 0.35, "121": 0.35, "122": 0.35, "123": 0.3, "210": 0.3, "220": 0.5}
_URBAN = ("111", "112", "121", "123")


def _census(rng: Generator, vil: gpd.GeoDataFrame,
            towns: pd.DataFrame) -> tuple[gpd.GeoDataFrame, tuple[str, str]]:
    cls = vil["urban_rural"].to_numpy()
    raw = np.array([rng.lognormal(np.log(_POP_MEDIAN[c]), _POP_SIGMA[c]) for c in cls])
    raw *= np.where(vil["hilly"], 0.7, 1.0)
    total = 450_000 + int(rng.integers(-8000, 8000))
    pop = _round_to_total(raw / raw.sum() * total, total)
    urban = np.isin(cls, _URBAN)
    vil = vil.copy()
    vil["pop_2020"] = pop
    _breakdown(rng, vil, "2020", urban, ageing=0.0)

    # 2023: towns grow, villages shrink and age; one small village is merged into a neighbour
    drift = np.where(urban, rng.normal(1.03, 0.015, len(vil)), rng.normal(0.975, 0.02, len(vil)))
    pop23 = np.round(pop * drift).astype(np.int64)
    big_town = towns.loc[towns["kind"] == "town", "code"].iloc[0]
    cand = vil.index[(vil["township"] == big_town) & (cls == "220")]
    m = int(vil.loc[cand, "pop_2020"].idxmin())
    same = vil.index[(vil["township"] == big_town) & (vil.index != m)]
    touching = [i for i in same if vil.geometry[i].distance(vil.geometry[m]) < 1.0]
    s = min(touching,
            key=lambda i: np.hypot(vil.at[i, "x"] - vil.at[m, "x"],
                                   vil.at[i, "y"] - vil.at[m, "y"]))
    pop23[s] += pop23[m]
    pop23[m] = 0
    vil["pop_2023"] = pop23
    _breakdown(rng, vil, "2023", urban, ageing=0.015)
    return vil, (str(vil.at[m, "code"]), str(vil.at[s, "code"]))


def _round_to_total(values: np.ndarray, total: int) -> np.ndarray:
    out = np.floor(values).astype(np.int64)
    frac = values - out
    out[np.argsort(-frac, kind="stable")[: total - out.sum()]] += 1
    return out


def _breakdown(rng: Generator, vil: gpd.GeoDataFrame, year: str, urban: np.ndarray, *,
               ageing: float) -> None:
    pop = vil[f"pop_{year}"].to_numpy()
    n = len(pop)
    size = np.where(urban, rng.uniform(2.45, 2.75, n), rng.uniform(2.7, 3.1, n))
    young = np.clip(np.where(urban, rng.normal(0.135, 0.015, n), rng.normal(0.115, 0.02, n)),
                    0.06, 0.2)
    old = np.clip(np.where(urban, rng.normal(0.14, 0.02, n), rng.normal(0.21, 0.03, n)) + ageing,
                  0.07, 0.35)
    vil[f"hh_{year}"] = np.maximum(np.round(pop / size), np.minimum(pop, 1)).astype(np.int64)
    vil[f"a014_{year}"] = np.round(pop * young).astype(np.int64)
    vil[f"a65_{year}"] = np.round(pop * old).astype(np.int64)
    vil[f"a1564_{year}"] = pop - vil[f"a014_{year}"] - vil[f"a65_{year}"]


def _units_2023(outline: Polygon, towns: pd.DataFrame, vil: gpd.GeoDataFrame,
                merged: tuple[str, str]) -> gpd.GeoDataFrame:
    gone, into = merged
    v = vil[vil["code"] != gone].copy()
    v.loc[v["code"] == into, "geometry"] = shapely.union(
        vil.geometry[vil["code"] == into].iloc[0], vil.geometry[vil["code"] == gone].iloc[0])
    county = f"{COUNTY_CODE}000000"
    rows = pd.concat([
        pd.DataFrame({"code": [county], "name": [COUNTY_NAME], "level": ["county"],
                      "parent_code": [f"{COUNTY_CODE[:4]}00000000"], "geometry": [outline]}),
        pd.DataFrame({"code": towns["code"], "name": towns["name"], "level": "township",
                      "parent_code": county, "geometry": towns["geometry"]}),
        pd.DataFrame({"code": v["code"], "name": v["name"], "level": "village",
                      "parent_code": v["township"], "geometry": v.geometry}),
    ], ignore_index=True)
    return gpd.GeoDataFrame(rows, geometry="geometry")
