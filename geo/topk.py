"""A bounded nearest-k store: the ``K`` fastest facilities of every node, as two arrays.

`geo.routing.FacilityTrees` keeps one shortest-path tree per facility node: 12 bytes per graph
node per facility, so a province (2 million nodes, hundreds of facilities of a kind) needs
gigabytes, and past its budget every query searches again. `TopK` keeps, per node, only the
``K`` fastest facilities' (time, facility): ``K × nodes × 12`` bytes whatever the number of
facilities (3 × 2 M × 12 = 72 MB per kind), and a query is two array reads.

It is built facility block by facility block (one compiled multi-index Dijkstra per block of
``block`` facility nodes, merged into the running top ``K``), so building never holds more than
``block`` full trees. Times include the facility's own snap time (``Facilities.offset_s``), as
`geo.routing.nearest_k` adds it; ties are broken by facility position, as its stable sort does,
so for ``k ≤ K`` the answer is the one the trees give. Routes are not stored: a caller that
needs the path of the chosen facility runs one bounded search for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.sparse.csgraph import dijkstra

from emgis.geo.compiled import CompiledGraph, FloatArray, Int32Array

if TYPE_CHECKING:
    from emgis.geo.routing import Direction
    from emgis.layers.norms import Norms

__all__ = ["TopK", "build_topk"]

# nodes merged at a time while building (bounds the temporary arrays)
_COLUMNS = 1 << 18


@dataclass(frozen=True)
class TopK:
    """The ``K`` fastest facilities of every node: ``times[j, n]`` seconds (``inf`` when fewer
    than ``j + 1`` reach ``n``) and ``facility[j, n]`` their positions (-1 then), fastest first.
    """

    times: FloatArray
    facility: Int32Array
    direction: str

    @property
    def k(self) -> int:
        return int(self.times.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes held by the store."""
        return int(self.times.nbytes + self.facility.nbytes)

    def nearest(self, node: int, k: int) -> tuple[FloatArray, Int32Array]:
        """The ``k`` (≤ ``K``) fastest facilities of ``node``: (seconds, positions), reachable
        ones only, fastest first."""
        if not 1 <= k <= self.k:
            raise ValueError(f"k={k} must be between 1 and the store's K={self.k}")
        t = self.times[:k, node]
        f = self.facility[:k, node]
        ok = np.isfinite(t)
        return t[ok], f[ok]


def build_topk(graph: CompiledGraph, facilities: Any, k: int = 3, *,
               direction: Direction = "from_facility", norms: Norms | None = None,
               block: int = 16) -> TopK:
    """Build the `TopK` store of ``facilities`` (as `geo.routing.nearest_k` takes them).

    ``direction``: ``"from_facility"`` (facility to node: trees on the graph) or
    ``"to_facility"`` (node to facility: on the reversed graph).
    """
    from emgis.geo.routing import _check_direction, _facilities

    if k < 1:
        raise ValueError(f"k={k} must be at least 1")
    fac = _facilities(graph, facilities, norms)
    reverse = _check_direction(direction)
    n = graph.n_nodes
    best_t = np.full((k, n), np.inf)
    best_f = np.full((k, n), -1, dtype=np.int32)
    mat = graph.matrix(None, reverse=reverse)
    nodes = np.asarray(fac.nodes, dtype=np.int64)
    offsets = np.asarray(fac.offset_s, dtype=float)
    for start in range(0, nodes.size, block):
        idx = np.arange(start, min(start + block, nodes.size))
        uniq, row = np.unique(nodes[idx], return_inverse=True)
        dist = np.atleast_2d(dijkstra(mat, indices=uniq))
        t = dist[row] + offsets[idx][:, None]
        f = idx.astype(np.int32)[:, None]
        for c in range(0, n, _COLUMNS):  # merge a slice of nodes at a time: bounded memory
            cols = slice(c, min(c + _COLUMNS, n))
            all_t = np.concatenate([best_t[:, cols], t[:, cols]])
            all_f = np.concatenate([best_f[:, cols],
                                    np.broadcast_to(f, t[:, cols].shape)])
            # unreached slots sort last whatever their position
            key_f = np.where(np.isfinite(all_t), all_f, np.iinfo(np.int32).max)
            order = np.lexsort((key_f, all_t), axis=0)[:k]
            got_t = np.take_along_axis(all_t, order, axis=0)
            got_f = np.take_along_axis(all_f, order, axis=0)
            best_t[:, cols] = got_t
            best_f[:, cols] = np.where(np.isfinite(got_t), got_f, -1)
    return TopK(best_t, best_f, direction)
