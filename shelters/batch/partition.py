"""Partitioning once: the province's road network cut into one piece per county, with a halo.

A county's piece holds every road node within ``halo_m`` of the county's outline box and the
roads between them: a village near the border reaches a shelter across it, and a search that
stays inside the piece finds the same times as the whole network for every trip up to the
halo's length. The cut is a distributed step (one task per county, `cut_county`) whose
output is cached by input hash under ``EMGIS_HOME/batch/cache/<hash>/``: the hash covers the
road file's bytes, the counties file's bytes and the halo, so a rerun on the same inputs
reads the pieces back and any change to them cuts again.

The tasks read the road arrays from that cache too (``source/*.npy``, memory-mapped), never
as task arguments: on a multi-machine cluster ``EMGIS_HOME`` is shared storage.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import numpy as np

__all__ = ["cache_key", "cut_county", "extract_source", "halo_box"]

_FORMAT = "emgis-batch-partition-1"
_SOURCE_ARRAYS = ("node_lon", "node_lat", "edge_u", "edge_v", "edge_highway", "edge_speed_kmh",
                  "edge_oneway", "geom_offsets", "geom_coords")
M_PER_DEG = 111_320.0


def _file_sha(path: Path, h) -> None:
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)


def cache_key(province: Path, halo_m: float) -> str:
    """The cache's name for these inputs: sha256 of the road and county files and the halo."""
    h = hashlib.sha256(_FORMAT.encode())
    for name in ("roads.npz", "counties.parquet"):
        _file_sha(Path(province) / name, h)
    h.update(f"{float(halo_m):.3f}".encode())
    return h.hexdigest()[:20]


def halo_box(box: tuple[float, float, float, float],
             halo_m: float) -> tuple[float, float, float, float]:
    """``box`` (lon/lat) grown by ``halo_m`` metres on every side."""
    dlat = halo_m / M_PER_DEG
    dlon = halo_m / (M_PER_DEG * max(math.cos(math.radians(max(abs(box[1]), abs(box[3])))),
                                     0.01))
    return box[0] - dlon, box[1] - dlat, box[2] + dlon, box[3] + dlat


def extract_source(roads: Path, cache: Path) -> Path:
    """Write the road arrays a cut needs as ``.npy`` files under ``cache/source`` (once)."""
    src = cache / "source"
    if (src / "meta.json").exists():
        return src
    tmp = cache / f"source.tmp-{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)
    with np.load(roads, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        for name in _SOURCE_ARRAYS:
            np.save(tmp / f"{name}.npy", z[name])
    (tmp / "meta.json").write_text(json.dumps({"highway_names": meta["highway_names"]}),
                                   encoding="utf-8")
    try:
        tmp.rename(src)
    except OSError:  # another process extracted it first
        if not (src / "meta.json").exists():
            raise
    return src


def cut_county(source: str, code: str, box: tuple[float, float, float, float], halo_m: float,
               dest: str) -> str:
    """Cut county ``code``'s piece (``box`` grown by the halo) and save it; return its path.

    An existing piece is kept (the cache is keyed by the inputs).
    """
    from emgis.geo.compiled import CompiledGraph, RoadEdges
    from emgis.geo.crs import metric_crs_for

    path = Path(dest) / f"{code}.npz"
    if path.exists():
        return str(path)
    src = Path(source)
    a = {n: np.load(src / f"{n}.npy", mmap_mode="r") for n in _SOURCE_ARRAYS}
    names = json.loads((src / "meta.json").read_text(encoding="utf-8"))["highway_names"]
    x0, y0, x1, y1 = halo_box(box, halo_m)
    lon, lat = np.asarray(a["node_lon"]), np.asarray(a["node_lat"])
    inside = (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)
    new = np.cumsum(inside) - 1
    u, v = np.asarray(a["edge_u"]), np.asarray(a["edge_v"])
    e = np.flatnonzero(inside[u] & inside[v])
    if e.size == 0:
        raise ValueError(f"county {code}: no road inside its box and halo {box}")
    off = np.asarray(a["geom_offsets"])
    counts = off[e + 1] - off[e]
    new_off = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    take = np.repeat(off[e] - new_off[:-1], counts) + np.arange(new_off[-1])
    edges = RoadEdges(new[u[e]], new[v[e]], highway=np.asarray(a["edge_highway"])[e],
                      highway_names=list(names), speed_kmh=np.asarray(a["edge_speed_kmh"])[e],
                      oneway=np.asarray(a["edge_oneway"])[e],
                      geom_coords=np.asarray(a["geom_coords"])[take], geom_offsets=new_off)
    graph = CompiledGraph.from_edges(lon[inside], lat[inside], edges,
                                     node_ids=np.flatnonzero(inside).astype(np.int64),
                                     crs=metric_crs_for(box))
    tmp = path.with_name(f"{code}.tmp-{os.getpid()}.npz")
    graph.save(tmp)
    tmp.replace(path)  # atomic: a reader never sees half a piece
    return str(path)
