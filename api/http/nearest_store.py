"""The bounded nearest-k stores the API keeps (`geo.topk.TopK` with routes), built in the
background.

Where a layer's facility trees do not fit ``EMGIS_API_ROUTE_TREES_MB`` (a province-sized graph,
or very many facilities), `/analyses/nearest` answers from a store of the ``K``
(``EMGIS_API_NEAREST_K_MAX``) fastest facilities of every road node instead: 16 bytes × K per
node, whatever the number of facilities. One store per (network, layer and team filter,
direction, closed area): it holds every facility of the layer (of the team type, speciality or
equipment asked) whatever its status, so a team going out on a call does not rebuild it (the
answer leaves it out: `geo.topk.nearest_routes`' ``among``); a facility added, removed or moved
does.

Building one takes a full Dijkstra per facility node (minutes for hundreds of facilities on a
province), so it is done by one daemon thread, one store at a time; until it is ready (and when a
store cannot tell: see `geo.topk.nearest_routes`) requests search as before. A build that is no
longer wanted (its facilities changed again) stops at its next block. The stores' bytes are kept
under ``EMGIS_API_TOPK_MB``, least recently used dropped first.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("emgis.api")

#: Facility nodes × road nodes searched in one call while building: scipy holds the GIL through
#: a call, so this bounds how long a build can keep requests waiting (~0.1 s at county scale; one
#: facility a call on a province)
BUILD_CELLS = 1 << 18


@dataclass
class _Entry:
    version: tuple  # the network's (name, built_at)
    fingerprint: str  # of the facilities' nodes and snap times, in order
    closures: Any  # the closed-road mask object (identity), or None
    store: Any  # geo.topk.TopK; None while wanted, not built yet


class NearestStores:
    """Stores by slot ``(network, layer, team filter, direction, id(closures))``: one (the newest)
    per slot."""

    def __init__(self, k: int, max_bytes: int) -> None:
        self.k = k
        self.max_bytes = max_bytes
        self._kept: OrderedDict[tuple, _Entry] = OrderedDict()
        self._wanted: OrderedDict[tuple, tuple[_Entry, Callable[[], Iterator]]] = OrderedDict()
        self._failed: set[tuple] = set()
        self._cond = threading.Condition()
        self._worker: threading.Thread | None = None
        self._building: tuple[tuple, _Entry] | None = None  # (slot, entry)
        self.built = self.answered = 0

    def fits(self, n_nodes: int) -> bool:
        """Would a store of a graph of ``n_nodes`` fit the budget at all?"""
        return 0 < 16 * self.k * n_nodes <= self.max_bytes

    @property
    def nbytes(self) -> int:
        with self._cond:
            return sum(e.store.nbytes for e in self._kept.values())

    def status(self) -> dict:
        """What is kept, for /health."""
        with self._cond:
            return {"stores": len(self._kept),
                    "bytes": sum(e.store.nbytes for e in self._kept.values()),
                    "budget_bytes": self.max_bytes, "k": self.k,
                    "building": len(self._wanted) + (self._building is not None)}

    def get(self, slot: tuple, version: tuple, fingerprint: str, closures: Any):
        """The store of ``slot`` for these facilities and closures, or None."""
        with self._cond:
            e = self._kept.get(slot)
            if (e is None or e.version != version or e.fingerprint != fingerprint
                    or e.closures is not closures):
                return None
            self._kept.move_to_end(slot)
            return e.store

    def want(self, slot: tuple, version: tuple, fingerprint: str, closures: Any,
             build: Callable[[], Iterator]) -> None:
        """Ask for the store of ``slot``; ``build()`` gives `geo.topk.iter_build_topk`'s steps.

        Replaces a store (or a wish) of the slot for other facilities; a build that failed once
        for the same facilities is not tried again.
        """
        entry = _Entry(version, fingerprint, closures, None)
        with self._cond:
            if (slot, version, fingerprint) in self._failed:
                return
            if slot in self._kept and not self._current(self._kept[slot], entry):
                del self._kept[slot]  # stale: never answered from again
            w = self._wanted.get(slot)
            if w is not None and self._current(w[0], entry):
                return
            b = self._building
            if w is None and b is not None and b[0] == slot and self._current(b[1], entry):
                return  # being built
            self._wanted[slot] = (entry, build)
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run, name="emgis-nearest-stores",
                                                daemon=True)
                self._worker.start()

    @staticmethod
    def _current(e: _Entry, want: _Entry) -> bool:
        return (e.version == want.version and e.fingerprint == want.fingerprint
                and e.closures is want.closures)

    def wait(self, timeout: float = 60.0) -> bool:
        """Wait until nothing is wanted or building (tests, benchmarks); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._wanted and self._building is None,
                                       timeout)

    def clear(self) -> None:
        """Forget every store and wish (the database was replaced)."""
        with self._cond:
            self._kept.clear()
            self._wanted.clear()
            self._failed.clear()

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._wanted:
                    self._building = None
                    self._cond.notify_all()
                    return
                slot, (entry, build) = self._wanted.popitem(last=False)
                self._building = (slot, entry)
            try:
                store = self._build(slot, entry, build)
            except Exception:  # a build must never kill the worker
                log.exception("nearest-k store of %s: build failed; searching instead", slot)
                with self._cond:
                    self._failed.add((slot, entry.version, entry.fingerprint))
                continue
            if store is not None:
                self._keep(slot, entry, store)

    def _build(self, slot: tuple, entry: _Entry, build: Callable[[], Iterator]):
        for step in build():
            with self._cond:
                w = self._wanted.get(slot)
                if w is not None and not self._current(w[0], entry):
                    return None  # other facilities are wanted now: this one is stale
            if step is not None:
                return step
        return None

    def _keep(self, slot: tuple, entry: _Entry, store) -> None:
        with self._cond:
            if store.nbytes > self.max_bytes:
                return
            entry.store = store
            self._kept[slot] = entry
            self._kept.move_to_end(slot)
            total = sum(e.store.nbytes for e in self._kept.values())
            while total > self.max_bytes:
                _, old = self._kept.popitem(last=False)
                total -= old.store.nbytes
            self.built += 1
