"""Write a synthetic demo county as the ordinary files a county bureau really holds.

``write_demo_county`` builds a made-up county, 示范县（合成数据） / Demo County (synthetic),
code 339901 (city segment 99 is used by no real city), around 119.85°E 31.0°N, and writes
it in the formats and encodings a Chinese bureau hands over: GeoJSON boundaries, GBK
census CSVs keyed by 12-digit statistical codes, a GBK shelter table geocoded in GCJ-02
(as Amap returns it), a GBK Shapefile in CGCS2000, a GeoPackage in the county's
truncated 3° Gauss-Kruger zone, risk points with LEC / risk-matrix inputs, a hazard
register and hazard zones. ``emgis demo`` loads them through the same loaders a user
would use, so the demo also exercises encoding, CRS and code handling.

Everything is drawn from one ``numpy.random.Generator(PCG64(seed))`` in a fixed order,
so a seed always gives the same files (byte-identical on the same library versions).
The geography is built in metres in the Gauss-Kruger zone and converted at the end.
Nothing here is real data: every name, number and position is invented.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from numpy.random import PCG64, Generator
from pyproj import Transformer
from shapely import affinity
from shapely.geometry import LineString, MultiPoint, Point, Polygon, box

from emgis.geo.crs import gk_epsg, wgs84_to_gcj02

__all__ = ["COUNTY_CODE", "COUNTY_NAME", "COUNTY_NAME_EN", "DEFAULT_SEED", "DemoFiles", "write_demo_county"]

COUNTY_CODE = "339901"
COUNTY_NAME = "示范县（合成数据）"
COUNTY_NAME_EN = "Demo County (synthetic)"
DEFAULT_SEED = 20250801
#: The "today" of the demo: hazards whose deadline is before it and that are not closed are overdue.
REFERENCE_DATE = dt.date(2026, 11, 1)

_LON0, _LAT0 = 119.85, 31.0
_HALF_W, _HALF_H = 22_500.0, 17_500.0  # semi-axes of the outline, m (about 45 x 35 km)
_N_VILLAGES_2020 = 221
_FILE_DATE = "2025-08-01"  # stamped into the DBF header and GeoPackage so reruns give the same bytes
_INSET = 150.0  # m: facilities stay this far inside the outline so GCJ-02 round trips stay inside

_FIRST = "东西南北上下前后大小新青白石金龙凤马杨柳桃李梅竹松枫兰荷溪泉湖塘桥山岭岗坞港沙高长平安和丰"
_SECOND = "溪桥塘山湾岭坞口头埠里庄店墩浦港渚坂垟畈洋岩坑源田园林湖亭泉洲圩岙"
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾"
_RIVER = "范溪"


@dataclass(frozen=True)
class DemoFiles:
    """Where ``write_demo_county`` wrote each file, and what the county holds."""

    out_dir: Path
    county: Path
    admin_units: Path
    census_2020: Path
    census_2023: Path
    codes_2020: Path
    codes_2023: Path
    shelters: Path
    depots: Path
    depot_stock: Path
    team_bases: Path
    risk_points: Path
    hazards: Path
    hazard_zones: Path
    roads: Path
    readme: Path
    seed: int
    county_code: str = COUNTY_CODE
    county_name: str = COUNTY_NAME
    county_name_en: str = COUNTY_NAME_EN
    metric_epsg: int = 4549
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class _World:
    """The county in metres (Gauss-Kruger), before any file is written."""

    epsg: int
    outline: Polygon
    inner: Polygon  # outline shrunk by _INSET
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


# --- public entry point -----------------------------------------------------------------------

def write_demo_county(out_dir: Path, *, seed: int = DEFAULT_SEED) -> DemoFiles:
    """Write the synthetic demo county's files into ``out_dir`` and return their paths.

    Parameters
    ----------
    out_dir
        Directory to write into (created if missing; files of an earlier run are replaced).
    seed
        Seed of the random generator; the same seed gives the same files.

    Returns
    -------
    DemoFiles
        The path of every file, the county code and name, the metric EPSG code used for
        the geography and summary counts.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed={seed!r} is not a non-negative integer; pass e.g. seed={DEFAULT_SEED}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out_dir={str(out)!r} is a file, not a directory; give a directory path")
    out.mkdir(parents=True, exist_ok=True)
    rng = Generator(PCG64(int(seed)))
    w = _build_world(rng)
    to_wgs = Transformer.from_crs(w.epsg, 4326, always_xy=True)

    shelters = _shelters(rng, w)
    depots, stock = _depots(rng, w)
    teams = _teams(rng, w)
    risks = _risk_points(rng, w)
    hazards = _hazards(rng, w, risks, to_wgs)

    p = {name: out / fname for name, fname in _FILES.items()}
    _write_boundaries(w, p)
    _write_census(w, p)
    _write_codes(w, p)
    _write_shelters(shelters, w, to_wgs, p["shelters"])
    _write_depots(depots, stock, w, p["depots"], p["depot_stock"])
    _write_teams(teams, w, p["team_bases"])
    _write_points_geojson(risks, w, p["risk_points"])
    hazards.to_csv(p["hazards"], index=False, encoding="utf-8", lineterminator="\n")
    _write_geojson(w.zones.to_crs(4326), p["hazard_zones"])
    n_roads = _write_roads(w, int(seed), to_wgs, p["roads"])
    vil = w.villages
    counts = {
        "townships": len(w.towns),
        "villages_2020": len(vil),
        "villages_2023": int((w.units["level"] == "village").sum()),
        "population_2020": int(vil["pop_2020"].sum()),
        "population_2023": int(vil["pop_2023"].sum()),
        "shelters": len(shelters),
        "depots": len(depots),
        "depot_stock_rows": len(stock),
        "team_bases": len(teams),
        "risk_points": len(risks),
        "hazards": len(hazards),
        "hazard_zones": len(w.zones),
        "roads": n_roads,
    }
    p["readme"].write_text(_readme(seed, w, counts), encoding="utf-8")
    return DemoFiles(out_dir=out, seed=int(seed), metric_epsg=w.epsg, counts=counts, **p)


_FILES = {
    "county": "county.geojson",
    "admin_units": "admin_units.geojson",
    "census_2020": "census_2020.csv",
    "census_2023": "census_2023.csv",
    "codes_2020": "codes_2020.csv",
    "codes_2023": "codes_2023.csv",
    "shelters": "shelters.csv",
    "depots": "depots.shp",
    "depot_stock": "depot_stock.csv",
    "team_bases": "team_bases.gpkg",
    "risk_points": "risk_points.geojson",
    "hazards": "hazards.csv",
    "hazard_zones": "hazard_zones.geojson",
    "roads": "roads.gpkg",
    "readme": "README.txt",
}


def _write_roads(w: _World, seed: int, to_wgs: Transformer, path: Path) -> int:
    """A surveyed-style road layer (lines with class, one-way and speed) around the seat."""
    from emgis.geo.synthetic import synthetic_network

    # centred on the county and large enough to cover it: every village has roads near it
    x0, y0, x1, y1 = w.outline.bounds
    lon, lat = to_wgs.transform((x0 + x1) / 2, (y0 + y1) / 2)
    spacing = 250.0
    side = max(x1 - x0, y1 - y0) + 4000
    _, lines = synthetic_network("county", seed=seed, centre=(lon, lat), spacing_m=spacing,
                                 n_nodes=int((side / spacing) ** 2 * 0.95), as_lines=True)
    area = gpd.GeoSeries([w.outline.buffer(3000)], crs=w.epsg).to_crs(4326).iloc[0]
    lines = lines[lines.intersects(area)]
    out = gpd.GeoDataFrame({
        "highway": lines["highway"].to_numpy(dtype=object),
        "oneway": np.where(lines["oneway"].to_numpy(), "yes", "no").astype(object),
        "maxspeed": np.where(lines["highway"].isin(["motorway", "trunk"]), lines["speed_kmh"].round(), np.nan),
    }, geometry=lines.geometry.to_numpy(), crs=4326)
    _write_gpkg(out, path, "roads")
    return len(out)


# --- geometry helpers -------------------------------------------------------------------------

def _blob(rng: Generator, cx: float, cy: float, rx: float, ry: float, *, amp: float, kmax: int,
          n: int = 200) -> Polygon:
    """Return an irregular star-shaped polygon: an ellipse with random harmonic wobbles."""
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    r = np.ones_like(t)
    for k in range(2, kmax + 1):
        r += rng.uniform(0.4, 1.0) * amp / k**0.8 * np.cos(k * t + rng.uniform(0.0, 2.0 * np.pi))
    r = np.clip(r, 0.6, 1.4)
    return Polygon(np.c_[cx + rx * r * np.cos(t), cy + ry * r * np.sin(t)])


def _off(p, dx: float, dy: float) -> np.ndarray:
    return np.array([p[0] + dx, p[1] + dy], dtype=float)


def _largest(geom: shapely.Geometry) -> Polygon:
    parts = shapely.get_parts(geom)
    return parts[int(np.argmax(shapely.area(parts)))]


def _sample(rng: Generator, region: shapely.Geometry, n: int, *, min_dist: float = 0.0,
            existing: np.ndarray | None = None, around: tuple[float, float] | None = None,
            sd: float = 0.0, avoid: shapely.Geometry | None = None) -> np.ndarray:
    """Return ``n`` random points (n x 2) in ``region``, at least ``min_dist`` apart.

    Points are drawn uniformly over the region, or normally around ``around`` with
    standard deviation ``sd``; those in ``avoid`` or too close to ``existing`` points or
    to each other are rejected. The spacing is relaxed when the region is full.
    """
    shapely.prepare(region)
    have = np.empty((0, 2)) if existing is None else np.asarray(existing, dtype=float).reshape(-1, 2)
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


def _voronoi(points: np.ndarray, clip: shapely.Geometry) -> np.ndarray:
    """Return the Voronoi cell of each point (in the points' order), clipped to ``clip``."""
    cells = shapely.get_parts(shapely.voronoi_polygons(MultiPoint(points), extend_to=clip.buffer(20_000)))
    owner = np.array([np.flatnonzero(shapely.contains_xy(cells, x, y))[0] for x, y in points])
    return shapely.intersection(cells[owner], clip)


def _names(rng: Generator, n: int, taken: set[str]) -> list[str]:
    combos = [a + b for a in _FIRST for b in _SECOND if a != b and a + b not in taken]
    picked = [combos[i] for i in rng.permutation(len(combos))[:n]]
    taken.update(picked)
    return picked


def _person(rng: Generator) -> str:
    return _SURNAMES[int(rng.integers(len(_SURNAMES)))] + "某某"


# --- the county ---------------------------------------------------------------------------------

def _build_world(rng: Generator) -> _World:
    epsg = int(gk_epsg(_LON0, width=3, prefixed=False))
    cx, cy = Transformer.from_crs(4326, epsg, always_xy=True).transform(_LON0, _LAT0)
    outline = _blob(rng, cx, cy, _HALF_W, _HALF_H, amp=0.09, kmax=14, n=256)
    inner = outline.buffer(-_INSET)
    seat = np.array([cx + rng.uniform(-3500, -1500), cy + rng.uniform(500, 2000)])

    # The river crosses the county west to east about 3 km south of the seat; its meanders
    # are damped near the seat so the town sits on a terrace above the flood corridor.
    x = np.arange(cx - _HALF_W * 1.6, cx + _HALF_W * 1.6, 250.0)
    dx = x - seat[0]
    damp = 1.0 - np.exp(-((dx / 8000.0) ** 2))
    y = (seat[1] - 3000.0 + damp * 1500.0 * np.sin(2 * np.pi * x / 17_000 + rng.uniform(0, 2 * np.pi))
         + damp * 600.0 * np.sin(2 * np.pi * x / 9100 + rng.uniform(0, 2 * np.pi))
         + 300.0 * np.sin(2 * np.pi * x / 5200 + rng.uniform(0, 2 * np.pi)) + rng.uniform(-0.05, 0.05) * dx)
    river = LineString(np.c_[x, y])

    hills = _blob(rng, cx - 11_500 + rng.uniform(-1500, 1500), cy - 10_500 + rng.uniform(-1000, 1000),
                  9000.0, 6500.0, amp=0.12, kmax=7)
    hills = _largest(hills.intersection(outline).difference(river.buffer(2500.0)))

    pc = seat + np.array([6500.0, 2500.0]) + rng.uniform(-500, 500, 2)
    park = affinity.rotate(box(pc[0] - 1200, pc[1] - 800, pc[0] + 1200, pc[1] + 800), rng.uniform(-25, 25))

    zones, danger = _hazard_zones(rng, outline, river, hills, epsg)
    towns = _townships(rng, outline, seat, hills)
    roads = _roads(rng, outline, seat, towns)
    villages = _villages(rng, towns, seat, hills, park)
    villages, merged = _census(rng, villages, towns)
    units = _units_2023(outline, towns, villages, merged)
    villages["safe_km2"] = shapely.area(shapely.difference(villages.geometry.to_numpy(), danger)) / 1e6
    return _World(epsg, outline, inner, seat, river, hills, park, roads, zones, danger, towns,
                  villages, units, merged)


def _hazard_zones(rng: Generator, outline: Polygon, river: LineString, hills: Polygon, epsg: int):
    flood = [river.buffer(d).intersection(outline) for d in (250.0, 600.0, 1100.0)]
    shapely.prepare(hills)
    med_c = _sample(rng, hills.buffer(-1500.0), 4, min_dist=3500.0)
    med = shapely.union_all([_blob(rng, x, y, r, r * rng.uniform(0.7, 1.0), amp=0.15, kmax=5)
                             for (x, y), r in zip(med_c, rng.uniform(1800, 2600, 4), strict=True)])
    med = med.intersection(hills)
    high_c = _sample(rng, med.buffer(-400.0), 6, min_dist=1200.0)
    high = shapely.union_all([_blob(rng, x, y, r, r * rng.uniform(0.6, 1.0), amp=0.15, kmax=4, n=60)
                              for (x, y), r in zip(high_c, rng.uniform(450, 900, 6), strict=True)])
    high = high.intersection(hills)
    rows = [
        ("flood", "high", flood[0]),
        ("flood", "medium", flood[1].difference(flood[0])),
        ("flood", "low", flood[2].difference(flood[1])),
        *(("landslide", "high", g) for g in shapely.get_parts(high)),
        *(("landslide", "medium", g) for g in shapely.get_parts(med.difference(high))),
        ("landslide", "low", hills.difference(med).difference(high)),
    ]
    zones = gpd.GeoDataFrame(rows, columns=["hazard_type", "level", "geometry"], geometry="geometry", crs=epsg)
    zones["geometry"] = [_polygonal(g) for g in zones.geometry]
    zones = zones[zones.area > 10_000].reset_index(drop=True)  # drop slivers under 1 ha
    danger = shapely.union_all([flood[1], med])
    shapely.prepare(danger)
    return zones, danger


def _townships(rng: Generator, outline: Polygon, seat: np.ndarray, hills: Polygon) -> pd.DataFrame:
    streets = np.array([_off(seat, 1400.0, -300.0), _off(seat, -1300.0, 300.0)]) + rng.normal(0, 200, (2, 2))
    rural = _sample(rng, outline.buffer(-3000.0), 10, min_dist=8500.0, existing=streets)
    remote = np.hypot(*(rural - seat).T) + 6000.0 * shapely.contains_xy(hills, rural[:, 0], rural[:, 1])
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
    base = ["城东", "城西", *_names(rng, 10, {"城东", "城西"})]  # the first street seed lies east of the seat
    suffix = {"street": "街道", "town": "镇", "xiang": "乡"}
    cells = _voronoi(seeds, outline)
    return pd.DataFrame({
        "code": [f"{COUNTY_CODE}{s:03d}000" for s in segs], "base": base,
        "name": [b + suffix[k] for b, k in zip(base, kinds, strict=True)], "kind": kinds,
        "x": seeds[:, 0], "y": seeds[:, 1], "geometry": list(cells),
    })


def _roads(rng: Generator, outline: Polygon, seat: np.ndarray, towns: pd.DataFrame) -> list[LineString]:
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
    return [_largest_line(r) for r in roads]


def _largest_line(g: shapely.Geometry) -> LineString:
    parts = shapely.get_parts(g)
    return parts[int(np.argmax(shapely.length(parts)))]


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
        near = _sample(rng, geom, core - 1, min_dist=0.35 * spacing, existing=centre, around=tuple(centre), sd=sd)
        pts = np.vstack([centre, near])
        pts = np.vstack([pts, _sample(rng, geom, k - core, min_dist=0.6 * spacing, existing=pts)])
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
        names = _names(rng, k, taken)
        parts.append(pd.DataFrame({
            "code": [town["code"][:9] + f"{s:03d}" for s in seg],
            "name": [nm + ("社区居委会" if j else "村委会") for nm, j in zip(names, juwei, strict=True)],
            "short": [nm + ("社区" if j else "村") for nm, j in zip(names, juwei, strict=True)],
            "township": town["code"], "juwei": juwei, "urban_rural": cls,
            "x": pts[:, 0], "y": pts[:, 1], "geometry": list(cells),
        }))
    vil = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry")
    vil["hilly"] = shapely.contains_xy(hills, vil["x"].to_numpy(), vil["y"].to_numpy())
    # the village holding the industrial park becomes 123 特殊区域 unless it is part of the main town
    hit = np.flatnonzero(vil.intersects(park.centroid))
    if len(hit) and vil.at[hit[0], "urban_rural"] != "111":
        vil.at[hit[0], "urban_rural"] = "123"
    return vil.sort_values("code", kind="stable").reset_index(drop=True)


_POP_MEDIAN = {"111": 9000, "112": 4500, "121": 5000, "122": 2600, "123": 3000, "210": 2400, "220": 1400}
_POP_SIGMA = {"111": 0.3, "112": 0.35, "121": 0.35, "122": 0.35, "123": 0.3, "210": 0.3, "220": 0.5}
_URBAN = ("111", "112", "121", "123")


def _census(rng: Generator, vil: gpd.GeoDataFrame, towns: pd.DataFrame) -> tuple[gpd.GeoDataFrame, tuple[str, str]]:
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
    s = min(touching, key=lambda i: np.hypot(vil.at[i, "x"] - vil.at[m, "x"], vil.at[i, "y"] - vil.at[m, "y"]))
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


def _breakdown(rng: Generator, vil: gpd.GeoDataFrame, year: str, urban: np.ndarray, *, ageing: float) -> None:
    pop = vil[f"pop_{year}"].to_numpy()
    n = len(pop)
    size = np.where(urban, rng.uniform(2.45, 2.75, n), rng.uniform(2.7, 3.1, n))
    young = np.clip(np.where(urban, rng.normal(0.135, 0.015, n), rng.normal(0.115, 0.02, n)), 0.06, 0.2)
    old = np.clip(np.where(urban, rng.normal(0.14, 0.02, n), rng.normal(0.21, 0.03, n)) + ageing, 0.07, 0.35)
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


# --- facilities -------------------------------------------------------------------------------

def _village(w: _World, code: str) -> pd.Series:
    return w.villages.loc[w.villages["code"] == code].iloc[0]


def _unit_at(w: _World, xy) -> str:
    """Return the 2023 village code at ``xy``."""
    return _codes_of(w, gpd.GeoSeries([Point(xy)]))[0]


def _town_name(w: _World, code: str) -> str:
    return str(w.towns.loc[w.towns["code"] == code[:9] + "000", "name"].iloc[0])


def _near(rng: Generator, w: _World, xy, sd: float, *, avoid: bool = True, region=None) -> np.ndarray:
    """Return a random point about ``sd`` m from ``xy`` in ``region``, outside the danger zones if it can."""
    region = w.inner if region is None else region
    if avoid:
        safe = region.difference(w.danger)
        region = safe if safe.area > 20_000 else region  # a village wholly in the zone keeps its site
    return _sample(rng, region, 1, around=(float(xy[0]), float(xy[1])), sd=sd)[0]


def _pick_villages(rng: Generator, w: _World, mask: np.ndarray, k: int) -> pd.DataFrame:
    """Return ``k`` distinct villages among ``mask``, drawn with probability ~ population."""
    vil = w.villages[mask & (w.villages["pop_2023"] > 0) & (w.villages["safe_km2"] > 0.2)]
    p = vil["pop_2023"].to_numpy(dtype=float)
    idx = rng.choice(len(vil), size=min(k, len(vil)), replace=False, p=p / p.sum())
    return vil.iloc[np.sort(idx)]


def _shelters(rng: Generator, w: _World) -> pd.DataFrame:
    rows: list[dict] = []
    seat = w.seat

    def add(name, admin, design, duration, hazards, space, area, xy):
        rows.append({"name": name, "admin": admin, "design": design, "duration": duration,
                     "hazards": hazards, "space": space, "area": round(float(area), -1), "x": xy[0], "y": xy[1]})

    add("示范县体育中心", "县级", "中心", "长期", "地震;洪涝;地质灾害;台风;火灾", "室外",
        rng.uniform(55_000, 65_000), _near(rng, w, _off(seat, 200, 1300), 200))
    add("示范县第一中学操场", "县级", "固定", "中期", "地震;火灾", "室外",
        rng.uniform(14_000, 20_000), _near(rng, w, _off(seat, -900, 900), 300))
    add("人民公园", "县级", "固定", "短期", "地震;火灾", "室外",
        rng.uniform(24_000, 30_000), _near(rng, w, _off(seat, 1200, 1400), 300))
    add("示范县全民健身中心体育馆", "县级", "固定", "中期", "地震;洪涝;台风", "室内",
        rng.uniform(5000, 7000), _near(rng, w, _off(seat, -300, 2000), 300))
    tp = w.villages.groupby("township")["pop_2023"].sum()
    towns = w.towns[w.towns["kind"] != "street"].copy()
    towns["pop"] = towns["code"].map(tp)
    for _, t in towns.sort_values("pop", ascending=False, kind="stable").head(3).iterrows():
        add(f"{t['name']}中学", "乡镇级", "固定", "短期", "地震;火灾", "室外",
            rng.uniform(8000, 14_000), _near(rng, w, (t["x"], t["y"]), 500))
    for _, t in towns.iterrows():
        add(f"{t['name']}中心小学操场", "乡镇级", "紧急", "紧急", "地震;火灾", "室外",
            rng.uniform(2500, 6000), _near(rng, w, (t["x"], t["y"]), 400))
    urban = w.villages["urban_rural"].isin(["111", "112"]).to_numpy()
    for _, v in _pick_villages(rng, w, urban, 8).iterrows():
        kind = "文化广场" if rng.random() < 0.6 else "口袋公园"
        add(v["short"] + kind, "村级", "紧急", "紧急", "地震", "室外",
            rng.uniform(1200, 4000), _near(rng, w, (v["x"], v["y"]), 250, region=_in(w, v)))
    rural = w.villages["urban_rural"].isin(["122", "123", "210", "220"]).to_numpy()
    for i, (_, v) in enumerate(_pick_villages(rng, w, rural, 18).iterrows()):
        xy = _near(rng, w, (v["x"], v["y"]), 250, region=_in(w, v))
        if i % 2:
            add(v["short"] + "文化礼堂", "村级", "紧急", "短期", "洪涝;台风;地质灾害" if v["hilly"] else "洪涝;台风",
                "室内", rng.uniform(350, 900), xy)
        else:
            add(v["short"] + "村民广场", "村级", "紧急", "紧急", "地震;火灾", "室外", rng.uniform(1500, 3500), xy)
    # Two realistic mistakes for the gap analysis: flood shelters sited inside the flood corridor.
    high = w.zones.geometry[(w.zones["hazard_type"] == "flood") & (w.zones["level"] == "high")].iloc[0]
    wet = w.villages[w.villages.intersects(high) & (w.villages["pop_2023"] > 0)]
    wet = wet.iloc[np.argsort(-wet.intersection(high).area.to_numpy(), kind="stable")[:2]]
    for (_, v), (suffix, space, dur, area) in zip(
            wet.iterrows(), (("河滨广场", "室外", "紧急", 2500), ("沿河文化礼堂", "室内", "短期", 600)), strict=True):
        region = high.intersection(_in(w, v)).intersection(w.inner)
        add(v["short"] + suffix, "村级", "紧急", dur, "地震;洪涝" if space == "室外" else "洪涝;台风", space,
            area * rng.uniform(0.8, 1.2), _near(rng, w, region.representative_point().coords[0], 150,
                                                avoid=False, region=region))
    df = pd.DataFrame(rows)
    n = len(df)
    df["status"] = "开放"
    village_rows = np.flatnonzero(df["admin"] == "村级")[:-2]
    pick = rng.choice(village_rows, 4, replace=False)
    df.loc[pick, "status"] = ["关闭", "关闭", "不可用", "规划"]
    df.loc[df.index[6], "status"] = "规划"  # the third township middle school is still being built
    df["capacity"] = pd.array([pd.NA] * n, dtype="Int64")
    stated = rng.random(n) < 0.5
    ratio = rng.uniform(1.2, 3.0, n)  # m² per person the owner assumed; some below the norm
    df.loc[stated, "capacity"] = (np.floor(df["area"] / ratio / 10) * 10).astype(np.int64)[stated]
    df["occupancy"] = 0
    open_ = np.flatnonzero(df["status"] == "开放")
    df.loc[rng.choice(open_, 2, replace=False), "occupancy"] = rng.integers(20, 150, 2)
    return df


def _in(w: _World, v: pd.Series) -> shapely.Geometry:
    """Return the 2023 polygon holding village ``v`` (its own, or the one it merged into)."""
    code = w.merged[1] if v["code"] == w.merged[0] else v["code"]
    return w.units.geometry[w.units["code"] == code].iloc[0].intersection(w.inner)


def _depots(rng: Generator, w: _World) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = [{"name": "示范县救灾物资储备库", "level": "县级", "area_m2": round(rng.uniform(650, 800)),
             "status": "启用", "xy": _near(rng, w, _off(w.seat, 2200, 1200), 300)}]
    for _, t in w.towns.iterrows():
        rows.append({"name": f"{t['name']}应急物资储备点", "level": "乡镇级", "area_m2": round(rng.uniform(120, 400)),
                     "status": "启用", "xy": _near(rng, w, (t["x"], t["y"]), 300)})
    for i in rng.choice(np.arange(1, len(w.towns)), 2, replace=False):
        rows[1 + int(i)]["status"] = "停用"
    rural = (w.villages["urban_rural"] == "220").to_numpy()
    for j, (_, v) in enumerate(_pick_villages(rng, w, rural, 10).iterrows()):
        rows.append({"name": f"{v['short']}应急物资储备点", "level": "村级", "area_m2": round(rng.uniform(30, 90)),
                     "status": "停用" if j == 3 else "启用",
                     "xy": _near(rng, w, (v["x"], v["y"]), 200, region=_in(w, v))})
    # A real city or provincial depot would lie outside the county. To keep every demo file
    # inside the study area, both are placed just inside the outline (0.3-2 km from its
    # edge), on the side facing the (imaginary) city to the north-east / province to the east.
    for name, level, angle in (("示范市救灾物资储备库（合成）", "市级", 40.0), ("省救灾物资储备库示范分库（合成）", "省级", 5.0)):
        rows.append({"name": name, "level": level, "area_m2": round(rng.uniform(3000, 4500) * (1 if level == "市级" else 2)),
                     "status": "启用", "xy": _edge_point(rng, w, angle)})
    df = pd.DataFrame(rows)
    df.insert(0, "id", [f"CK{i + 1:03d}" for i in range(len(df))])
    base = {"县级": 1.0, "市级": 3.0, "省级": 6.0, "乡镇级": 0.1, "村级": 0.015}
    items = (("帐篷", "顶", 450), ("棉被", "床", 3000), ("折叠床", "张", 1100), ("饮用水", "L", 30_000),
             ("方便食品", "kg", 7500), ("发电机", "台", 15))
    stock = []
    for _, d in df[df["status"] == "启用"].iterrows():
        for item, unit, q in items:
            qty = q * base[d["level"]] * rng.uniform(0.6, 1.4)
            if qty >= 1:
                stock.append({"depot_id": d["id"], "item": item, "quantity": int(round(qty, -1) if qty > 100 else round(qty)),
                              "unit": unit})
    return df, pd.DataFrame(stock)


def _edge_point(rng: Generator, w: _World, angle_deg: float) -> np.ndarray:
    c = np.array(w.outline.centroid.coords[0])
    a = np.radians(angle_deg + rng.uniform(-10, 10))
    ray = LineString([c, c + 60_000 * np.array([np.cos(a), np.sin(a)])])
    hit = np.array(_largest_line(ray.intersection(w.outline)).coords[-1])
    inward = (c - hit) / np.hypot(*(c - hit))
    return hit + inward * rng.uniform(700, 1500)


_TEAM_SPECS = {
    "fire_station": "灭火;抢险救援",
    "comprehensive": "抢险救援;人员搜救;转移安置",
    "forest_fire": "森林灭火;以水灭火;隔离带开设",
    "water_rescue": "水域救援;潜水搜救;冲锋舟",
    "flood": "抗洪抢险;堤防巡查;排涝",
    "hazchem": "危化品处置;侦检;洗消",
    "medical": "紧急医学救援;现场救护;防疫",
    "mine": "矿山救护;边坡抢险",
    "volunteer": "应急救护;人员搜救;物资转运",
}


def _teams(rng: Generator, w: _World) -> pd.DataFrame:
    rows: list[dict] = []
    seat = w.seat

    def add(name, kind, xy, personnel, vehicles, fire_class=None, spec=None):
        rows.append({"name": name, "team_type": kind, "specialities": spec or _TEAM_SPECS[kind],
                     "personnel": int(personnel), "vehicles": int(vehicles), "fire_class": fire_class,
                     "xy": xy})

    add("城东消防救援站", "fire_station", _near(rng, w, _off(seat, 1500, 500), 300), rng.integers(45, 61),
        rng.integers(8, 11), "class1", "灭火;抢险救援;危化品处置")
    add("城西消防救援站", "fire_station", _near(rng, w, _off(seat, -1600, 200), 300), rng.integers(30, 41),
        rng.integers(5, 8), "class2")
    park = np.array(w.park.centroid.coords[0])
    add("工业园区消防救援站", "fire_station", _near(rng, w, _off(park, -900, 0), 200), rng.integers(30, 41),
        rng.integers(5, 8), "class2", "灭火;抢险救援;危化品处置")
    rural = w.towns[w.towns["kind"] != "street"]
    for _, t in rural.iloc[:2].iterrows():
        add(f"{t['name']}专职消防队", "fire_station", _near(rng, w, (t["x"], t["y"]), 300), rng.integers(15, 21), 3,
            "small")
    staff = rng.integers(30, 41, len(w.towns))
    staff[rng.choice(len(w.towns), 2, replace=False)] = rng.integers(20, 29, 2)  # below the 30-person norm
    for (_, t), n in zip(w.towns.iterrows(), staff, strict=True):
        add(f"{t['name']}综合性应急救援队", "comprehensive", _near(rng, w, (t["x"], t["y"]), 400), n,
            rng.integers(2, 6))
    hill_region = w.hills.intersection(w.inner)
    add("示范县森林消防专业队", "forest_fire", _near(rng, w, hill_region.representative_point().coords[0], 800,
                                                   region=hill_region), rng.integers(30, 41), rng.integers(4, 7))
    hill_towns = rural[shapely.intersects(np.array(rural["geometry"]), w.hills)]
    for _, t in hill_towns.head(2).iterrows():
        add(f"{t['name']}半专业扑火队", "forest_fire", _near(rng, w, (t["x"], t["y"]), 400), rng.integers(20, 31),
            rng.integers(1, 4))
    for name, frac in (("示范县水上救援队", None), ("下游水域救援分队", 0.8)):
        add(name, "water_rescue", _river_bank(rng, w, frac), rng.integers(15, 26), rng.integers(2, 5))
    add("示范县防汛抢险突击队", "flood", _near(rng, w, _off(seat, 0, -800), 300), rng.integers(50, 81),
        rng.integers(4, 9))
    xy = _river_bank(rng, w, 0.3)
    add(f"{_town_name(w, _unit_at(w, xy))}防汛抢险队", "flood", xy, rng.integers(30, 51), rng.integers(2, 5))
    add("工业园区危化品应急救援队", "hazchem", _near(rng, w, park, 300, region=w.park), rng.integers(20, 31),
        rng.integers(3, 6))
    add("县人民医院卫生应急救援队", "medical", _near(rng, w, _off(seat, -500, 600), 250), rng.integers(20, 31),
        rng.integers(3, 7))
    add("示范县矿山救护队", "mine", _near(rng, w, hill_region.centroid.coords[0], 1500, region=hill_region),
        rng.integers(15, 26), rng.integers(2, 5))
    add("示范县蓝天救援队", "volunteer", _near(rng, w, _off(seat, 800, -300), 400), rng.integers(40, 61),
        rng.integers(3, 7))
    add("示范县红十字应急救护队", "volunteer", _near(rng, w, _off(seat, -200, 300), 300), rng.integers(20, 41),
        rng.integers(1, 4))
    t = rural.iloc[3]
    add(f"{t['name']}民兵应急分队", "volunteer", _near(rng, w, (t["x"], t["y"]), 400), rng.integers(25, 46),
        rng.integers(1, 3))
    df = pd.DataFrame(rows)
    df.insert(0, "id", [f"DW{i + 1:03d}" for i in range(len(df))])
    df["status"] = "available"
    others = np.flatnonzero(df["team_type"] != "comprehensive")
    pick = rng.choice(others, 3, replace=False)
    df.loc[pick, "status"] = ["deployed", "deployed", "unavailable"]
    return df


def _river_bank(rng: Generator, w: _World, frac: float | None) -> np.ndarray:
    """Return a point about 0.9 km from the river (in the low flood zone), near ``frac`` of its course."""
    river = _largest_line(w.river.intersection(w.inner))
    if frac is None:  # the reach closest to the county seat
        frac = river.project(Point(w.seat)) / river.length
    p = np.array(river.interpolate(frac, normalized=True).coords[0])
    side = np.sign((w.seat - p)[1]) or 1.0  # the bank facing the seat
    return _near(rng, w, _off(p, 0.0, side * 900.0), 100)


# --- risk points and hazards -------------------------------------------------------------------

# (L, E, C) recipes for LEC and (L, S) for the risk matrix, grouped by the tier they were
# drawn to illustrate; the analysis, not this table, decides the colour from the norms.
_LEC = {
    "red": [(6, 6, 15), (3, 6, 40), (10, 6, 7), (6, 3, 40), (3, 10, 15), (1, 6, 100)],
    "orange": [(3, 6, 15), (6, 6, 7), (1, 6, 40), (6, 3, 15), (10, 3, 7), (3, 10, 7)],
    "yellow": [(3, 6, 7), (1, 6, 15), (3, 3, 15), (6, 2, 7), (1, 3, 40)],
    "blue": [(1, 6, 7), (1, 3, 7), (3, 2, 3), (0.5, 6, 15), (1, 2, 15), (0.2, 3, 40), (0.5, 3, 7),
             (0.1, 6, 40), (3, 1, 7), (6, 1, 3), (1, 0.5, 40), (3, 6, 1)],
}
_MATRIX = {
    "red": [(4, 5), (5, 4), (5, 5)],
    "orange": [(3, 4), (4, 3), (2, 5), (3, 5), (4, 4)],
    "yellow": [(2, 3), (3, 3), (2, 4), (1, 5), (2, 2), (3, 2)],
    "blue": [(1, 2), (1, 3), (2, 1), (1, 1), (3, 1)],
}
_TIERS = ("red", "orange", "yellow", "blue")
_TIER_P = {
    "hazchem": (0.35, 0.35, 0.2, 0.1), "mine": (0.25, 0.35, 0.25, 0.15),
    "industrial": (0.08, 0.25, 0.4, 0.27), "fuel_station": (0.05, 0.25, 0.4, 0.3),
    "crowded": (0.07, 0.2, 0.43, 0.3),
    "high": (0.35, 0.4, 0.2, 0.05), "medium": (0.1, 0.4, 0.4, 0.1), "low": (0.0, 0.15, 0.45, 0.4),
}


def _risk_points(rng: Generator, w: _World) -> pd.DataFrame:
    rows: list[dict] = []
    park = w.park.intersection(w.inner)
    taken = {str(v)[:2] for v in w.villages["name"]} | set(w.towns["base"])
    firms = iter(_names(rng, 40, taken))
    for xy in _sample(rng, park, 6, min_dist=250.0):
        rows.append(("hazchem", next(firms) + rng.choice(["化工有限公司", "气体有限公司", "新材料科技有限公司"]), xy))
    inds = ["纺织有限公司", "机械制造有限公司", "木业有限公司", "食品有限公司", "塑料制品有限公司", "五金有限公司"]
    for xy in _sample(rng, park, 8, min_dist=200.0, existing=np.array([r[2] for r in rows])):
        rows.append(("industrial", next(firms) + rng.choice(inds), xy))
    rural = w.towns[w.towns["kind"] != "street"]
    for _, t in rural.iloc[:4].iterrows():
        rows.append(("industrial", next(firms) + rng.choice(inds), _near(rng, w, (t["x"], t["y"]), 800)))
    fuel: list[np.ndarray] = []
    for _ in range(2000):
        if len(fuel) == 12:
            break
        road = w.roads[int(rng.integers(len(w.roads)))]
        p = road.interpolate(rng.uniform(0.1, 0.9), normalized=True)
        xy = _near(rng, w, p.coords[0], 30, avoid=False)
        if all(np.hypot(*(xy - f)) > 1500 for f in fuel):
            fuel.append(xy)
    for i, xy in enumerate(fuel):
        brand = "中国石化" if i % 3 else "中国石油"
        rows.append(("fuel_station", f"{brand}{_place(w, xy)}加油站", xy))
    ls_zones = w.zones[w.zones["hazard_type"] == "landslide"]
    ls_hot = shapely.union_all(ls_zones.geometry[ls_zones["level"] != "low"].to_numpy()).intersection(w.inner)
    hills = w.hills.intersection(w.inner)
    pts = np.vstack([_sample(rng, ls_hot, 11, min_dist=600.0), _sample(rng, hills, 7, min_dist=600.0)])
    for xy in pts:
        rows.append(("landslide", f"{_place(w, xy)}{rng.choice(['后山', '山塘', '岭脚', '公路边坡'])}滑坡隐患点", xy))
    river = _largest_line(w.river.intersection(w.inner))
    for frac in np.sort(rng.uniform(0.03, 0.97, 14)):
        p = np.array(river.interpolate(frac, normalized=True).coords[0])
        xy = _near(rng, w, p, 350, avoid=False)
        rows.append(("flood", f"{_place(w, xy)}{_RIVER}{rng.choice(['河段易涝点', '堤防险段', '低洼易涝区'])}", xy))
    crowded = ["县人民医院", "示范县第一中学", "示范县实验小学", "县汽车客运站", "万象商贸城", "城南农贸市场",
               "县人民大会堂", "县中医院", "示范县职业技术学校", "新世纪购物广场", "城北农贸市场", "县图书馆"]
    for name, xy in zip(crowded, _sample(rng, w.inner, len(crowded), min_dist=300.0, around=tuple(w.seat), sd=1200.0,
                                         avoid=w.danger), strict=True):
        rows.append(("crowded", name, xy))
    for _, t in rural.iloc[:2].iterrows():
        rows.append(("crowded", f"{t['name']}中心学校", _near(rng, w, (t["x"], t["y"]), 400)))
    for xy in _sample(rng, hills, 4, min_dist=2000.0, avoid=ls_hot):
        rows.append(("mine", f"{_place(w, xy)}{rng.choice(['建筑石料矿', '石灰石矿', '萤石矿'])}", xy))

    out = []
    for i, (cat, name, xy) in enumerate(rows):
        key = cat if cat not in ("landslide", "flood") else _zone_level(w, cat, xy)
        tier = _TIERS[int(rng.choice(4, p=_TIER_P[key]))]
        matrix = (cat in ("landslide", "flood") and rng.random() < 0.8) or (cat == "crowded" and rng.random() < 0.5)
        rec = {"id": f"FX{i + 1:03d}", "name": name, "category": cat, "method": "matrix" if matrix else "LEC",
               "L": np.nan, "E": np.nan, "C": np.nan, "S": np.nan, "x": xy[0], "y": xy[1]}
        if matrix:
            rec["L"], rec["S"] = _MATRIX[tier][int(rng.integers(len(_MATRIX[tier])))]
        else:
            rec["L"], rec["E"], rec["C"] = _LEC[tier][int(rng.integers(len(_LEC[tier])))]
        rec["tier"] = tier
        out.append(rec)
    df = pd.DataFrame(out)
    df["name"] = _unique(df["name"].tolist())
    # Guarantee a few reds for the four-colour map even with an unlucky seed.
    short = 5 - int((df["tier"] == "red").sum())
    if short > 0:
        cand = np.flatnonzero(df["category"].isin(["hazchem", "mine"]) & (df["tier"] != "red"))[:short]
        for i in cand:
            df.loc[i, ["method", "L", "E", "C", "S", "tier"]] = ["LEC", 6.0, 6.0, 15.0, np.nan, "red"]
    for c in "LECS":
        df[c] = df[c].astype(float)
    return df


def _unique(names: list[str]) -> list[str]:
    """Number repeated names the way registers do: 某某点, 某某点（二）, 某某点（三）."""
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}（{'一二三四五六七八九十'[min(seen[n], 10) - 1]}）")
    return out


def _zone_level(w: _World, hazard: str, xy) -> str:
    z = w.zones[(w.zones["hazard_type"] == hazard) & w.zones.contains(Point(xy))]
    return str(z["level"].iloc[0]) if len(z) else "low"


def _place(w: _World, xy) -> str:
    """Return the short name of the village at ``xy`` (for naming a site after its place)."""
    return str(w.units.loc[w.units["level"] == "village"].loc[lambda u: u.contains(Point(xy)), "name"]
               .pipe(lambda s: s.iloc[0] if len(s) else "示范").replace("社区居委会", "").replace("村委会", ""))


_HAZARD_TEXT = {
    "hazchem": [("储罐区可燃气体报警器失效", "更换报警探头并联网至园区监控平台"),
                ("危化品仓库超量储存", "清理超量物料，按核定储量管理"),
                ("装卸区静电接地装置损坏", "修复静电接地，装卸前检测")],
    "industrial": [("除尘系统未定期清理", "建立清扫制度，每班清理并记录"),
                   ("有限空间作业未审批", "落实作业审批和监护人制度"),
                   ("消防通道堆放杂物", "清理通道，设置禁止堆放标识")],
    "fuel_station": [("油罐区防雷检测过期", "委托检测机构完成防雷检测"),
                     ("卸油口未设防溢措施", "加装防溢流阀")],
    "landslide": [("坡体出现拉张裂缝", "设置警示牌，雨季专人巡查，裂缝封填"),
                  ("截排水沟堵塞", "清理截排水沟"),
                  ("坡脚住户未搬迁", "汛期前组织避让搬迁")],
    "flood": [("堤防渗漏", "汛前完成防渗处理，备足抢险物料"),
              ("排涝泵站设备老化", "更新水泵机组并试运行"),
              ("河道行洪断面被侵占", "拆除阻水建筑，恢复行洪断面")],
    "crowded": [("安全出口被锁闭", "立即打开安全出口，落实巡查"),
                ("疏散指示标志损坏", "更换疏散指示标志和应急照明"),
                ("消防设施未定期维保", "委托维保单位按月维保")],
    "mine": [("边坡超高超陡", "按设计削坡减载，设置监测点"),
             ("爆破器材管理不规范", "完善出入库登记，专人保管")],
}


def _hazards(rng: Generator, w: _World, risks: pd.DataFrame, to_wgs: Transformer) -> pd.DataFrame:
    weight = risks["tier"].map({"red": 4.0, "orange": 3.0, "yellow": 1.5, "blue": 0.5}).to_numpy()
    idx = np.sort(rng.choice(len(risks), 23, replace=False, p=weight / weight.sum()))
    states = np.array(["closed"] * 6 + ["rectifying"] * 6 + ["under_control"] * 4 + ["confirmed"] * 4
                      + ["discovered"] * 3 + ["rectifying", "confirmed"])
    states = states[rng.permutation(len(states))]
    open_ = np.flatnonzero(states != "closed")
    overdue = set(rng.choice(open_, 4, replace=False).tolist())
    rows = []
    sources = [(risks.iloc[i]["id"], risks.iloc[i]["category"], risks.iloc[i]["x"], risks.iloc[i]["y"]) for i in idx]
    for _ in range(2):  # hazards found on patrol that belong to no registered risk point
        xy = _sample(rng, w.hills.intersection(w.inner), 1)[0]
        sources.append(("", "landslide", xy[0], xy[1]))
    for k, ((rid, cat, x, y), state) in enumerate(zip(sources, states, strict=True)):
        title, measures = _HAZARD_TEXT[cat][int(rng.integers(len(_HAZARD_TEXT[cat])))]
        if not rid:
            title = "公路边坡落石"
            measures = "清理危岩，设置防护网"
        if state == "closed":
            found = REFERENCE_DATE - dt.timedelta(days=int(rng.integers(150, 420)))
            deadline = found + dt.timedelta(days=int(rng.integers(30, 90)))
        elif k in overdue:
            deadline = REFERENCE_DATE - dt.timedelta(days=int(rng.integers(5, 90)))
            found = deadline - dt.timedelta(days=int(rng.integers(30, 120)))
        else:
            deadline = REFERENCE_DATE + dt.timedelta(days=int(rng.integers(10, 150)))
            found = REFERENCE_DATE - dt.timedelta(days=int(rng.integers(3, 90)))
        lon, lat = to_wgs.transform(x + rng.normal(0, 20), y + rng.normal(0, 20))
        rows.append({"id": f"YH{k + 1:03d}", "title": title, "risk_point_id": rid, "state": state,
                     "responsible": _person(rng), "deadline": deadline.isoformat(), "measures": measures,
                     "discovered_on": found.isoformat(), "lon": round(lon, 6), "lat": round(lat, 6)})
    return pd.DataFrame(rows)


# --- writers ----------------------------------------------------------------------------------

def _remove(path: Path) -> None:
    for p in [path, *(path.with_suffix(s) for s in (".shx", ".dbf", ".prj", ".cpg"))] if path.suffix == ".shp" else [path]:
        p.unlink(missing_ok=True)


def _polygonal(g: shapely.Geometry) -> shapely.Geometry:
    """Return the valid polygonal part of ``g`` (dropping lines and points a repair may leave)."""
    parts = [q for q in shapely.get_parts(shapely.make_valid(g)) if q.geom_type in ("Polygon", "MultiPolygon")]
    polys = shapely.get_parts(parts)
    return polys[0] if len(polys) == 1 else shapely.MultiPolygon(list(polys))


def _write_geojson(gdf: gpd.GeoDataFrame, path: Path) -> None:
    _remove(path)
    if gdf.geom_type.isin(["Polygon", "MultiPolygon"]).all():
        # Snap to the 1e-7° grid the file is written on, so that what is read back is valid.
        geoms = [_polygonal(g) for g in shapely.set_precision(shapely.make_valid(gdf.geometry.to_numpy()), 1e-7)]
        gdf = gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs))
    pyogrio.write_dataframe(gdf, path, driver="GeoJSON", layer_options={"COORDINATE_PRECISION": 7})


def _codes_of(w: _World, gdf: gpd.GeoDataFrame | gpd.GeoSeries) -> list[str]:
    """Return the 2023 village code holding each point of ``gdf`` (metric CRS)."""
    vil = w.units[w.units["level"] == "village"].reset_index(drop=True)
    tree = shapely.STRtree(vil.geometry.to_numpy())
    pts = gdf.to_numpy() if isinstance(gdf, gpd.GeoSeries) else gdf.geometry.to_numpy()
    hit = tree.query_nearest(pts, all_matches=False)  # a point inside has distance 0
    return vil["code"].to_numpy()[hit[1][np.argsort(hit[0], kind="stable")]].tolist()


def _points(df: pd.DataFrame, w: _World) -> gpd.GeoDataFrame:
    if "xy" in df:
        xy = np.vstack(df["xy"].to_numpy())
        df = df.drop(columns="xy")
    else:
        xy = df[["x", "y"]].to_numpy()
        df = df.drop(columns=["x", "y"])
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=w.epsg)


def _write_boundaries(w: _World, p: dict[str, Path]) -> None:
    county = gpd.GeoDataFrame({"code": [COUNTY_CODE], "name": [COUNTY_NAME]}, geometry=[w.outline], crs=w.epsg)
    _write_geojson(county.to_crs(4326), p["county"])
    _write_geojson(w.units.set_crs(w.epsg).to_crs(4326), p["admin_units"])


_CENSUS_HEADER = ["统计用区划代码", "名称", "常住人口", "户数", "0-14岁", "15-64岁", "65岁及以上", "城乡分类代码"]


def _write_census(w: _World, p: dict[str, Path]) -> None:
    for year in ("2020", "2023"):
        v = w.villages[w.villages[f"pop_{year}"] > 0]
        df = pd.DataFrame({"c": v["code"], "n": v["name"], "p": v[f"pop_{year}"], "h": v[f"hh_{year}"],
                           "a": v[f"a014_{year}"], "b": v[f"a1564_{year}"], "o": v[f"a65_{year}"],
                           "u": v["urban_rural"]})
        df.columns = _CENSUS_HEADER
        df.to_csv(p[f"census_{year}"], index=False, encoding="gbk", lineterminator="\r\n")


def _write_codes(w: _World, p: dict[str, Path]) -> None:
    units = w.units[["code", "name", "level", "parent_code"]]
    gone = w.merged[0]
    old = w.villages.loc[w.villages["code"] == gone]
    units_2020 = pd.concat([units, pd.DataFrame({"code": old["code"], "name": old["name"], "level": "village",
                                                 "parent_code": old["township"]})], ignore_index=True)
    units_2020 = units_2020.sort_values("code", kind="stable")
    units_2020.to_csv(p["codes_2020"], index=False, encoding="utf-8", lineterminator="\n")
    units.sort_values("code", kind="stable").to_csv(p["codes_2023"], index=False, encoding="utf-8", lineterminator="\n")


_SHELTER_HEADER = ["编号", "名称", "行政级别", "设计类别", "时长类别", "灾种", "空间类型", "有效面积", "容纳人数",
                   "状态", "在避人数", "地址", "所属区划代码", "经度", "纬度"]


def _write_shelters(df: pd.DataFrame, w: _World, to_wgs: Transformer, path: Path) -> None:
    gdf = _points(df, w)
    codes = _codes_of(w, gdf)
    lon, lat = to_wgs.transform(df["x"].to_numpy(), df["y"].to_numpy())
    glon, glat = wgs84_to_gcj02(lon, lat)  # geocoded with Amap: GCJ-02, as the bureau's table has it
    addr = [f"示范县{_town_name(w, c)}{_village_short(w, c)}" for c in codes]
    out = pd.DataFrame({
        "编号": [f"BN{i + 1:03d}" for i in range(len(df))], "名称": df["name"], "行政级别": df["admin"],
        "设计类别": df["design"], "时长类别": df["duration"], "灾种": df["hazards"], "空间类型": df["space"],
        "有效面积": df["area"].astype(int), "容纳人数": df["capacity"], "状态": df["status"],
        "在避人数": df["occupancy"], "地址": addr, "所属区划代码": codes,
        "经度": np.round(glon, 6), "纬度": np.round(glat, 6),
    })
    out.to_csv(path, index=False, encoding="gbk", lineterminator="\r\n")


def _village_short(w: _World, code: str) -> str:
    name = str(w.units.loc[w.units["code"] == code, "name"].iloc[0])
    return name.replace("社区居委会", "社区").replace("村委会", "村")


def _write_depots(df: pd.DataFrame, stock: pd.DataFrame, w: _World, path: Path, stock_path: Path) -> None:
    gdf = _points(df, w).to_crs(4490)  # CGCS2000 geographic, as the provincial platform exports it
    gdf["area_m2"] = gdf["area_m2"].astype(float)
    _remove(path)
    pyogrio.write_dataframe(gdf, path, driver="ESRI Shapefile", encoding="GBK",
                            layer_options={"DBF_DATE_LAST_UPDATE": _FILE_DATE})
    path.with_suffix(".cpg").write_text("GBK", encoding="ascii")
    stock.to_csv(stock_path, index=False, encoding="utf-8", lineterminator="\n")


def _write_teams(df: pd.DataFrame, w: _World, path: Path) -> None:
    gdf = _points(df, w)
    gdf["unit_code"] = _codes_of(w, gdf)
    gdf = gdf[["id", "name", "team_type", "specialities", "personnel", "vehicles", "status", "fire_class",
               "unit_code", "geometry"]]
    _write_gpkg(gdf, path, "team_bases")


def _write_gpkg(gdf: gpd.GeoDataFrame, path: Path, layer: str) -> None:
    """Write a GeoPackage whose bytes depend only on the data (GDAL stamps the current date)."""
    _remove(path)
    before = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": f"{_FILE_DATE}T00:00:00.000Z"})
    try:
        pyogrio.write_dataframe(gdf, path, layer=layer, driver="GPKG")
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": before})


def _write_points_geojson(df: pd.DataFrame, w: _World, path: Path) -> None:
    gdf = _points(df.drop(columns="tier"), w)
    gdf["unit_code"] = _codes_of(w, gdf)
    _write_geojson(gdf.to_crs(4326), path)


def _readme(seed: int, w: _World, counts: dict[str, int]) -> str:
    gone, into = w.merged
    v = w.villages.set_index("code")["name"]
    return f"""\
示范县（合成数据） / Demo County (synthetic) — SYNTHETIC DATA / 合成数据，非真实数据
=====================================================================================

Every name, number, boundary and position in these files is invented by the emgis demo
generator (layers/demo.py, seed {seed}). County code {COUNTY_CODE}: province 33 with city
segment 99, which no real city uses. Do not use these files for any real decision.
The same seed always gives the same files.

Files
-----
county.geojson        study-area outline, EPSG:4326; code, name
admin_units.geojson   county, {counts['townships']} townships and {counts['villages_2023']} villages/communities
                      (2023 boundaries), EPSG:4326; code (12 digits), name, level, parent_code
census_2020.csv       census by village, GBK, Chinese headers (统计用区划代码, 名称, 常住人口, 户数,
                      0-14岁, 15-64岁, 65岁及以上, 城乡分类代码); {counts['villages_2020']} rows, {counts['population_2020']} people
census_2023.csv       same format, 2023 estimate; {counts['population_2023']} people
codes_2020.csv        official-style code list (code, name, level, parent_code), UTF-8, 2020 vintage
codes_2023.csv        the same for 2023: {v[gone]} ({gone}) was withdrawn and merged into
                      {v[into]} ({into})
shelters.csv          {counts['shelters']} emergency shelters, GBK, coordinates in GCJ-02 (geocoded with
                      Amap); 容纳人数 blank where only the area is known; two flood shelters
                      deliberately lie inside the high flood zone
depots.shp (+.dbf .shx .prj .cpg)
                      {counts['depots']} relief-supply depots, Shapefile in GBK, CGCS2000 (EPSG:4490);
                      the 市级 and 省级 depots are placed just inside the county edge so that
                      every demo file stays inside the study area
depot_stock.csv       stock per depot (depot_id, item, quantity, unit), UTF-8
team_bases.gpkg       layer team_bases: {counts['team_bases']} rescue-team bases, CGCS2000 3-degree
                      Gauss-Kruger CM 120E (EPSG:{w.epsg}, false easting 500000)
risk_points.geojson   {counts['risk_points']} risk points with LEC (L, E, C) or risk-matrix (L, S) inputs, EPSG:4326
hazards.csv           {counts['hazards']} hidden hazards (隐患) in the register, UTF-8, lon/lat WGS84;
                      overdue means deadline before {REFERENCE_DATE.isoformat()} and not closed
hazard_zones.geojson  flood corridor along the {_RIVER} river and landslide zones in the hills,
                      EPSG:4326; hazard_type (flood/landslide), level (high/medium/low)
roads.gpkg            layer roads: {counts['roads']} road segments as a surveyed road layer would hold
                      them (lines, EPSG:4326): highway (OSM road class), oneway (yes/no), maxspeed
                      (km/h, expressways only); the network is synthetic (geo/synthetic.py)
"""
