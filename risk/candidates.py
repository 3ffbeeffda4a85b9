"""Candidate risk points from an OpenStreetMap extract, with default scores to refine.

A planner starts a risk-point inventory (风险点台账) from what OSM already knows: fuel
stations, industrial land, hazardous-goods sites and crowded places. Each OSM node, way or
multipolygon relation that matches a rule becomes one candidate point (ways and relations
at their centroid) with a category, a default method and default factor scores. The
defaults are placeholders for a planner to refine on site, not an assessment:

========================  ============  ============================  ======  ==================
kind                      category      OSM tags                      method  inputs → level
========================  ============  ============================  ======  ==================
storage_tank 储罐         hazchem       man_made=storage_tank|        LEC     L3 E6 C40 = 720 red
                                        gasometer
hazchem_plant 危化企业    hazchem       industrial=chemical|oil|      LEC     L3 E6 C40 = 720 red
                                        refinery|gas|fuel|
                                        petroleum_terminal|
                                        explosives|hazardous_waste
hazard_tagged 危险标注    hazchem       hazard=* (any value)          LEC     L1 E6 C40 = 240 orange
fuel_station 加油站       fuel_station  amenity=fuel                  LEC     L3 E6 C15 = 270 orange
hospital 医院             crowded       amenity=hospital              matrix  L2 S5 = 10 orange
school 学校               crowded       amenity=school|kindergarten|  matrix  L2 S4 = 8 yellow
                                        university|college
venue 人员密集场所        crowded       amenity=marketplace|theatre|  matrix  L2 S4 = 8 yellow
                                        cinema, leisure=stadium,
                                        shop=mall|department_store
worship 宗教场所          crowded       amenity=place_of_worship      matrix  L1 S4 = 4 yellow
supermarket 超市          crowded       shop=supermarket              matrix  L1 S3 = 3 blue
industrial_land 工业用地  industrial    landuse=industrial            LEC     L1 E6 C15 = 90 yellow
========================  ============  ============================  ======  ==================

Rules are tried in table order and the first match wins, so a chemical plant mapped as
``landuse=industrial`` + ``industrial=chemical`` is one hazchem candidate, not two. Levels in
the table are with the default bands; actual levels come from the bands in force.

Reading uses pyosmium on the local file only (PBF, .osm, .osm.gz, .osm.bz2); nothing
touches the network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmium
import shapely

from emgis.layers import vocab
from emgis.layers.norms import Norms
from emgis.risk.methods import BandTable, assess_many, get_method

SUFFIXES = (".osm.pbf", ".pbf", ".osm", ".osm.gz", ".osm.bz2", ".o5m")


@dataclass(frozen=True)
class CandidateRule:
    """Which OSM tags make a candidate of ``kind``, and its default method and inputs."""

    kind: str
    zh: str
    category: str
    tags: tuple[tuple[str, tuple[str, ...] | None], ...]  # (key, values); None = any value
    method: str
    inputs: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.category not in vocab.RISK_CATEGORY:
            raise ValueError(f"rule {self.kind!r}: category={self.category!r} is not a risk "
                             f"category; use one of {vocab.describe(vocab.RISK_CATEGORY)}")
        m = get_method(self.method)
        if set(self.inputs) != set(m.symbols):
            raise ValueError(f"rule {self.kind!r}: inputs {dict(self.inputs)} must give exactly "
                             f"{', '.join(m.symbols)} for {m.key}")

    def match(self, tags: Mapping[str, str]) -> str | None:
        """Return the matching 'key=value' tag, or None."""
        for key, values in self.tags:
            v = tags.get(key)
            if v is not None and (values is None or v in values):
                return f"{key}={v}"
        return None


DEFAULT_RULES: tuple[CandidateRule, ...] = (
    CandidateRule("storage_tank", "储罐", "hazchem",
                  (("man_made", ("storage_tank", "gasometer")),),
                  "LEC", {"L": 3, "E": 6, "C": 40}),
    CandidateRule("hazchem_plant", "危化企业", "hazchem",
                  (("industrial", ("chemical", "oil", "refinery", "gas", "fuel",
                                   "petroleum_terminal", "explosives", "hazardous_waste")),),
                  "LEC", {"L": 3, "E": 6, "C": 40}),
    CandidateRule("hazard_tagged", "危险标注", "hazchem", (("hazard", None),),
                  "LEC", {"L": 1, "E": 6, "C": 40}),
    CandidateRule("fuel_station", "加油站", "fuel_station", (("amenity", ("fuel",)),),
                  "LEC", {"L": 3, "E": 6, "C": 15}),
    CandidateRule("hospital", "医院", "crowded", (("amenity", ("hospital",)),),
                  "matrix", {"L": 2, "S": 5}),
    CandidateRule("school", "学校", "crowded",
                  (("amenity", ("school", "kindergarten", "university", "college")),),
                  "matrix", {"L": 2, "S": 4}),
    CandidateRule("venue", "人员密集场所", "crowded",
                  (("amenity", ("marketplace", "theatre", "cinema")), ("leisure", ("stadium",)),
                   ("shop", ("mall", "department_store"))),
                  "matrix", {"L": 2, "S": 4}),
    CandidateRule("worship", "宗教场所", "crowded", (("amenity", ("place_of_worship",)),),
                  "matrix", {"L": 1, "S": 4}),
    CandidateRule("supermarket", "超市", "crowded", (("shop", ("supermarket",)),),
                  "matrix", {"L": 1, "S": 3}),
    CandidateRule("industrial_land", "工业用地", "industrial", (("landuse", ("industrial",)),),
                  "LEC", {"L": 1, "E": 6, "C": 15}),
)

COLUMNS = ("ext_id", "osm_type", "osm_id", "name", "kind", "kind_zh", "category", "matched_tag",
           "method", "inputs", "L", "E", "C", "S")


def _classify(tags: Mapping[str, str],
              rules: Sequence[CandidateRule]) -> tuple[CandidateRule, str] | None:
    for r in rules:
        hit = r.match(tags)
        if hit:
            return r, hit
    return None


def _way_point(w: osmium.osm.Way) -> shapely.Point | None:
    coords = [(n.lon, n.lat) for n in w.nodes if n.location.valid()]
    if not coords:
        return None
    if len(coords) >= 4 and coords[0] == coords[-1]:
        geom = shapely.Polygon(coords)
        if geom.is_valid and geom.area > 0:
            return geom.centroid
    return shapely.LineString(coords).centroid if len(coords) > 1 else shapely.Point(coords[0])


def _check_path(path: str | Path) -> Path:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"OSM file {str(p)!r} does not exist; give a local extract "
                                "(.osm.pbf, .osm, .osm.gz or .osm.bz2)")
    if not p.name.lower().endswith(SUFFIXES):
        raise ValueError(f"OSM file {str(p)!r} has an unknown suffix; "
                         f"use one of {', '.join(SUFFIXES)}")
    return p


def find_candidates(
    path: str | Path,
    *,
    rules: Sequence[CandidateRule] = DEFAULT_RULES,
    score: bool = True,
    bands: BandTable | Mapping[str, BandTable] | None = None,
    norms: Norms | None = None,
) -> gpd.GeoDataFrame:
    """Read an OSM extract and return candidate risk points, scored with default inputs.

    Parameters
    ----------
    path
        Local OSM file (.osm.pbf, .osm, .osm.gz, .osm.bz2).
    rules
        Tag rules, tried in order; :data:`DEFAULT_RULES` when omitted.
    score
        Add ``score``, ``level`` and ``band_version`` (:func:`risk.methods.assess_many`).
    bands, norms
        Band tables / norms for scoring.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326 points with columns ``ext_id`` ('osm:n123', 'osm:w45', 'osm:r6'),
        ``osm_type``, ``osm_id``, ``name``, ``kind``, ``kind_zh``, ``category``,
        ``matched_tag``, ``method``, ``inputs`` (dict), factor columns ``L``, ``E``, ``C``,
        ``S`` (NaN where the method lacks them), and the score columns.
    """
    p = _check_path(path)
    keys = sorted({k for r in rules for k, _ in r.tags})
    fp = osmium.FileProcessor(str(p)).with_areas().with_filter(osmium.filter.KeyFilter(*keys))
    wkb = osmium.geom.WKBFactory()
    records: list[dict[str, object]] = []
    points: list[shapely.Point] = []
    for obj in fp:
        if isinstance(obj, osmium.osm.Area):
            if obj.from_way():  # closed ways are taken as ways below
                continue
            kind, oid = "relation", obj.orig_id()
        else:
            kind, oid = {"n": "node", "w": "way", "r": "relation"}[obj.type_str()], obj.id
            if kind == "relation":  # relations come through their assembled area
                continue
        tags = {t.k: t.v for t in obj.tags}
        hit = _classify(tags, rules)
        if hit is None:
            continue
        if kind == "node":
            if not obj.location.valid():
                continue
            pt = shapely.Point(obj.location.lon, obj.location.lat)
        elif kind == "way":
            pt = _way_point(obj)
        else:
            try:
                pt = shapely.from_wkb(bytes.fromhex(wkb.create_multipolygon(obj))).centroid
            except (RuntimeError, osmium.InvalidLocationError):
                pt = None
        if pt is None or pt.is_empty:
            continue
        rule, tag = hit
        m = get_method(rule.method)
        rec: dict[str, object] = {
            "ext_id": f"osm:{kind[0]}{oid}", "osm_type": kind, "osm_id": int(oid),
            "name": tags.get("name:zh") or tags.get("name") or "",
            "kind": rule.kind, "kind_zh": rule.zh, "category": rule.category,
            "matched_tag": tag, "method": m.key, "inputs": dict(rule.inputs),
        }
        for sym in ("L", "E", "C", "S"):
            rec[sym] = float(rule.inputs[sym]) if sym in rule.inputs else np.nan
        records.append(rec)
        points.append(pt)
    out = gpd.GeoDataFrame(
        {c: [r[c] for r in records] for c in COLUMNS}, geometry=points, crs="EPSG:4326"
    )
    out = out.drop_duplicates("ext_id").reset_index(drop=True)
    if score and len(out):
        out = assess_many(out, method_col="method", bands=bands, norms=norms, file=str(p))
    return out
