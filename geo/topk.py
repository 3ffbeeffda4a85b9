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
so for ``k ≤ K`` the answer is the one the trees give.

Routes: with ``routes=True`` the store also keeps, per slot, a link to the same facility's slot
at the next node of its route (4 bytes more: ``K × nodes × 16``). A facility among the ``K``
fastest of a node is among the ``K`` fastest of the next node of its route toward it (any
facility faster there would be faster here too), so the route is a walk along links, as the
facility's own tree would give it: `nearest_routes` answers like `nearest_k` with trees
(same facilities, times and routes) without a search.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.sparse.csgraph import dijkstra

from emgis.geo.compiled import CompiledGraph, FloatArray, Int32Array, Int64Array

if TYPE_CHECKING:
    from emgis.geo.routing import Direction, Facilities, Route
    from emgis.layers.norms import Norms

__all__ = ["TopK", "build_topk", "iter_build_topk", "nearest_routes"]

# nodes merged at a time while building (bounds the temporary arrays)
_COLUMNS = 1 << 18
# links: the facility's own node (its route ends here) / not found (ask a search instead)
ROOT, UNKNOWN = -1, -2


@dataclass(frozen=True)
class TopK:
    """The ``K`` fastest facilities of every node: ``times[j, n]`` seconds (``inf`` when fewer
    than ``j + 1`` reach ``n``) and ``facility[j, n]`` their positions (-1 then), fastest first.

    ``links`` (built with ``routes=True``): ``links[j, n]`` is ``j2 * nodes + m``, where ``m`` is
    the next node of the route between ``n`` and facility ``facility[j, n]`` and ``j2`` that
    facility's slot at ``m``; `ROOT` at the facility's own node, `UNKNOWN` when the facility
    is not among ``m``'s (rounding at a tie).
    """

    times: FloatArray
    facility: Int32Array
    direction: str
    links: Int32Array | None = None

    @property
    def k(self) -> int:
        return int(self.times.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes held by the store."""
        links = 0 if self.links is None else self.links.nbytes
        return int(self.times.nbytes + self.facility.nbytes + links)

    def nearest(self, node: int, k: int) -> tuple[FloatArray, Int32Array]:
        """The ``k`` (≤ ``K``) fastest facilities of ``node``: (seconds, positions), reachable
        ones only, fastest first."""
        if not 1 <= k <= self.k:
            raise ValueError(f"k={k} must be between 1 and the store's K={self.k}")
        t = self.times[:k, node]
        f = self.facility[:k, node]
        ok = np.isfinite(t)
        return t[ok], f[ok]

    def route_nodes(self, slot: int, node: int) -> Int64Array | None:
        """The nodes from ``node`` to the facility in its slot ``slot``, along the facility's
        shortest-path tree (None when a link is `UNKNOWN`)."""
        if self.links is None:
            raise ValueError("this store keeps no routes; build it with routes=True")
        n = self.times.shape[1]
        links = self.links.reshape(-1)
        at = slot * n + node
        out = [node]
        for _ in range(n):
            at = int(links[at])
            if at < 0:
                return np.asarray(out, dtype=np.int64) if at == ROOT else None
            out.append(at % n)
        return None  # a cycle: never for a store built here


def build_topk(graph: CompiledGraph, facilities: Any, k: int = 3, *,
               direction: Direction = "from_facility", norms: Norms | None = None,
               block: int = 16, closures: Any = None, routes: bool = False) -> TopK:
    """Build the `TopK` store of ``facilities`` (as `geo.routing.nearest_k` takes them).

    ``direction``: ``"from_facility"`` (facility to node: trees on the graph) or
    ``"to_facility"`` (node to facility: on the reversed graph). ``closures``: closed edges
    (as `nearest_k` takes them). ``routes``: also keep the links that give routes.
    """
    from emgis.geo.routing import _facilities

    fac = _facilities(graph, facilities, norms)
    *_, store = iter_build_topk(graph, fac, k, direction=direction, block=block,
                                closures=closures, routes=routes)
    assert store is not None
    return store


def iter_build_topk(graph: CompiledGraph, fac: Facilities, k: int, *,
                    direction: Direction = "from_facility", block: int = 16,
                    closures: Any = None, routes: bool = False) -> Iterator[TopK | None]:
    """`build_topk` one block at a time: yields None after each block of facility nodes (a
    caller may stop there: a build in the background that is no longer wanted), then the store.
    """
    from emgis.geo.routing import _check_direction

    if k < 1:
        raise ValueError(f"k={k} must be at least 1")
    reverse = _check_direction(direction)
    n = graph.n_nodes
    if routes and k * n >= 2**31:
        raise ValueError(f"k={k} x {n} nodes is too many slots for 32-bit links")
    best_t = np.full((k, n), np.inf)
    best_f = np.full((k, n), -1, dtype=np.int32)
    best_p = np.full((k, n), -1, dtype=np.int32) if routes else None
    closed = graph.edge_mask(closures)
    mat = graph.matrix(None if closed is None else graph.arc_weights(closed), reverse=reverse)
    nodes = np.asarray(fac.nodes, dtype=np.int64)
    offsets = np.asarray(fac.offset_s, dtype=float)
    for start in range(0, nodes.size, block):
        idx = np.arange(start, min(start + block, nodes.size))
        uniq, row = np.unique(nodes[idx], return_inverse=True)
        if routes:
            dist, pred = dijkstra(mat, indices=uniq, return_predecessors=True)
            pred = np.atleast_2d(pred)[row]
        else:
            dist, pred = dijkstra(mat, indices=uniq), None
        t = np.atleast_2d(dist)[row] + offsets[idx][:, None]
        _merge(best_t, best_f, best_p, t, idx.astype(np.int32), pred)
        yield None
    links = None if best_p is None else _links(best_t, best_f, best_p)
    yield TopK(best_t, best_f, direction, links)


def _merge(best_t: FloatArray, best_f: Int32Array, best_p: Int32Array | None, t: FloatArray,
           f_idx: Int32Array, pred: Any) -> None:
    """Merge a block's times ``t`` (facilities ``f_idx``, predecessors ``pred``) into the best."""
    k, n = best_t.shape
    f = f_idx[:, None]
    for c in range(0, n, _COLUMNS):  # merge a slice of nodes at a time: bounded memory
        cols = slice(c, min(c + _COLUMNS, n))
        all_t = np.concatenate([best_t[:, cols], t[:, cols]])
        all_f = np.concatenate([best_f[:, cols], np.broadcast_to(f, t[:, cols].shape)])
        # unreached slots sort last whatever their position
        key_f = np.where(np.isfinite(all_t), all_f, np.iinfo(np.int32).max)
        order = np.lexsort((key_f, all_t), axis=0)[:k]
        got_t = np.take_along_axis(all_t, order, axis=0)
        got_f = np.take_along_axis(all_f, order, axis=0)
        best_t[:, cols] = got_t
        best_f[:, cols] = np.where(np.isfinite(got_t), got_f, -1)
        if best_p is not None:
            all_p = np.concatenate([best_p[:, cols], pred[:, cols]])
            best_p[:, cols] = np.take_along_axis(all_p, order, axis=0)


def _links(best_t: FloatArray, best_f: Int32Array, best_p: Int32Array) -> Int32Array:
    """Each slot's link to its facility's slot at the route's next node (`TopK.links`)."""
    k, n = best_t.shape
    links = np.full((k, n), UNKNOWN, dtype=np.int32)
    for c in range(0, n, _COLUMNS):
        cols = slice(c, min(c + _COLUMNS, n))
        f, p = best_f[:, cols], best_p[:, cols]
        reached = np.isfinite(best_t[:, cols])
        nxt = np.maximum(p, 0)
        got = np.full(f.shape, UNKNOWN, dtype=np.int64)
        for j in range(k - 1, -1, -1):  # the fastest slot of the facility wins
            same = reached & (p >= 0) & (best_f[j][nxt] == f)
            got = np.where(same, j * n + nxt.astype(np.int64), got)
        got[reached & (p < 0)] = ROOT
        links[:, cols] = got
    return links


def nearest_routes(graph: CompiledGraph, store: TopK, place: tuple[float, float],
                   fac: Facilities, k: int, *, among: Int64Array | None = None,
                   closures: Any = None, norms: Norms | None = None) -> list[Route] | None:
    """`geo.routing.nearest_k` from the store: the same facilities, times and routes, no search.

    ``fac``: the facilities answered about; the store was built on them, or on a larger set of
    which ``among[i]`` gives the position in ``fac`` of the store's facility ``i`` (-1: not one
    of them, e.g. a team out on a call). ``closures`` as the store was built with.

    None when the store cannot tell: ``k`` above its ``K``, fewer than ``k`` of ``fac`` among a
    node's ``K`` (faster ones may lie beyond them), a route's link `UNKNOWN`; search then.
    """
    from emgis.geo.routing import Route, _path_geometry, snap

    if k < 1:
        raise ValueError(f"k={k} must be at least 1")
    if k > store.k or store.links is None:
        return None
    here = snap(graph, place[0], place[1], norms=norms, closures=closures)
    t, f = store.times[:, here.node], store.facility[:, here.node]
    reached = np.isfinite(t)
    pos = np.where(reached, f if among is None else among[np.maximum(f, 0)], -1)
    slots = np.flatnonzero(pos >= 0)
    want = min(k, len(fac))
    if slots.size < want and reached.all():
        return None
    w = graph.arc_weights(closures)
    out = []
    for j in slots[:want].tolist():
        path = store.route_nodes(j, here.node)
        if path is None:
            return None
        i = int(pos[j])
        length, coords = _path_geometry(graph, path if store.direction == "to_facility"
                                        else path[::-1], w)
        out.append(Route(i, int(fac.nodes[i]), float(t[j] + here.time_s), float(length), coords))
    return out
