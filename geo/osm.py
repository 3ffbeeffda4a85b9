"""Read the drivable ways of an OSM extract (PBF or XML, plain or compressed) with pyosmium.

One pass over the file with pyosmium's node-location index gives every way whose tags
pass `drivable_class`, with the OSM id and lon/lat of each of its nodes. A node missing
from the file (an extract clipped at its border) comes back with NaN coordinates, and
`geo.network` splits the way there instead of failing. Nothing here touches the network:
osmnx is not used to read files, so it can never call Overpass or Nominatim.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from emgis.layers.problems import Problems

__all__ = ["OsmWays", "drivable_class", "oneway_direction", "read_drivable_ways"]

# Extension -> osmium format name; osmium guesses the same from the name, but a name like
# "map.xml" or "export.osm.xml.gz" needs saying.
_FORMATS = {
    ".pbf": "pbf", ".osm": "osm", ".xml": "osm",
    ".osm.gz": "osm.gz", ".osm.bz2": "osm.bz2", ".xml.gz": "osm.gz", ".xml.bz2": "osm.bz2",
}

# osmnx 2.1's "drive" Overpass filter (settings.default_access included), applied locally;
# 'service' and 'track' are NOT excluded here: emgis routes them at their own class speed.
_EXCLUDE = {
    "area": {"yes"},
    "access": {"private"},
    "motor_vehicle": {"no"},
    "motorcar": {"no"},
    "service": {"alley", "driveway", "emergency_access", "parking", "parking_aisle", "private"},
}
# Highway values that take the speed of another class (``*_link`` is handled in code).
CLASS_ALIASES = {"living_street": "residential", "road": "unclassified"}


class Tags(Protocol):
    """OSM tags as pyosmium (``TagList``) or a dict gives them: only ``get`` is used."""

    def get(self, key: str, /) -> str | None: ...


@dataclass
class OsmWays:
    """Drivable ways of one OSM file, flat: way ``i`` has nodes ``offsets[i]:offsets[i + 1]``."""

    way_ids: np.ndarray
    highway: list[str]
    road_class: list[str]
    maxspeed: list[str | None]
    oneway: np.ndarray  # +1 forward only, -1 backward only, 0 both ways
    node_ids: np.ndarray
    lon: np.ndarray  # NaN where the node is missing from the file
    lat: np.ndarray
    offsets: np.ndarray
    ways_read: int


def drivable_class(tags: Tags, classes: Container[str]) -> str | None:
    """Return the speed class of a way (e.g. ``"primary"`` for ``primary_link``) or None.

    Parameters
    ----------
    tags
        Mapping-like OSM tags with ``get``.
    classes
        The classes that have a speed (the suffixes of the ``road.speed_kmh`` norms).
    """
    hw = tags.get("highway")
    if hw is None:
        if tags.get("route") == "ferry" and "ferry" in classes:
            cls = "ferry"
        else:
            return None
    else:
        base = hw[:-5] if hw.endswith("_link") else hw
        cls = CLASS_ALIASES.get(base, base)
        if cls not in classes or cls == "ferry":
            return None
    for key, bad in _EXCLUDE.items():
        if tags.get(key) in bad:
            return None
    return cls


def oneway_direction(tags: Tags) -> int:
    """Return +1 (one-way along the way), -1 (one-way against it) or 0 (both ways)."""
    ow = (tags.get("oneway") or "").strip().lower()
    if ow in ("yes", "true", "1"):
        return 1
    if ow in ("-1", "reverse"):
        return -1
    if ow in ("no", "false", "0"):
        return 0
    if tags.get("junction") in ("roundabout", "circular"):
        return 1
    if tags.get("highway") in ("motorway", "motorway_link"):
        return 1  # implied by OSM's tagging rules for motorways
    return 0


def read_drivable_ways(path: str | Path, *, classes: Container[str]) -> OsmWays:
    """Read the drivable ways of an OSM file with their node ids and coordinates.

    Parameters
    ----------
    path
        ``.osm.pbf``, ``.osm``, ``.osm.gz``, ``.osm.bz2`` (also ``.xml`` variants).
    classes
        Road classes to keep, see `drivable_class`.

    Returns
    -------
    OsmWays

    Raises
    ------
    layers.problems.InputError
        If the file is missing, empty, not an OSM file, or holds no drivable way.
    """
    import osmium

    path = Path(path)
    problems = Problems(str(path))
    fmt = next((f for ext, f in sorted(_FORMATS.items(), key=lambda kv: -len(kv[0]))
                if path.name.lower().endswith(ext)), None)
    if not path.is_file():
        problems.error(None, None, None, "does not exist or is not a file",
                       "give the path of an OSM extract (.osm.pbf, .osm, .osm.gz or .osm.bz2)")
    elif path.stat().st_size == 0:
        problems.error(None, None, None, "is empty (0 bytes)",
                       "download or export the extract again; the file holds nothing")
    elif fmt is None:
        problems.error(None, None, path.suffix, "is not an OSM file extension",
                       "give a .osm.pbf, .osm, .osm.gz or .osm.bz2 file (rename it if it is one)")
    problems.raise_if_errors()
    assert fmt is not None  # an unknown extension was reported and raised just above

    way_ids: list[int] = []
    highway: list[str] = []
    road_class: list[str] = []
    maxspeed: list[str | None] = []
    oneway: list[int] = []
    ids: list[int] = []
    lon: list[float] = []
    lat: list[float] = []
    lengths: list[int] = []
    n_read = 0
    nan = float("nan")
    try:
        fp = (osmium.FileProcessor(osmium.io.File(str(path), fmt))
              .with_locations()
              .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
              .with_filter(osmium.filter.KeyFilter("highway", "route")))
        for w in fp:
            if not isinstance(w, osmium.osm.Way):  # never: the entity filter passes ways only
                continue
            n_read += 1
            tags = w.tags
            cls = drivable_class(tags, classes)
            if cls is None or len(w.nodes) < 2:
                continue
            way_ids.append(w.id)
            highway.append(tags.get("highway") or cls)
            road_class.append(cls)
            maxspeed.append(tags.get("maxspeed"))
            oneway.append(oneway_direction(tags))
            lengths.append(len(w.nodes))
            for nd in w.nodes:
                ids.append(nd.ref)
                loc = nd.location
                if loc.valid():
                    lon.append(loc.lon)
                    lat.append(loc.lat)
                else:
                    lon.append(nan)
                    lat.append(nan)
    except RuntimeError as exc:
        problems.error(None, None, None, f"cannot be read as OSM {fmt} ({exc})",
                       "check that it is an OSM extract and not truncated or another format "
                       "with an OSM name; export or download it again")
        problems.raise_if_errors()
    if not way_ids:
        problems.error(None, None, None,
                       f"holds no drivable road ({n_read} ways with a highway or route tag, none "
                       "of a class with a speed in the norms road.speed_kmh.*)",
                       "give an extract that covers roads (not only buildings or POIs), or add a "
                       "speed norm for the road classes it has")
        problems.raise_if_errors()
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return OsmWays(
        way_ids=np.asarray(way_ids, dtype=np.int64), highway=highway, road_class=road_class,
        maxspeed=maxspeed, oneway=np.asarray(oneway, dtype=np.int8),
        node_ids=np.asarray(ids, dtype=np.int64), lon=np.asarray(lon), lat=np.asarray(lat),
        offsets=offsets, ways_read=n_read,
    )
