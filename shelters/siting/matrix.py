"""The travel-time matrix and the prepared data every siting model starts from.

A matrix is a sparse demand × candidate CSR array of seconds; a pair that is not stored is
unreachable within the cut-off the matrix was built with. Everything here works on its arrays
directly (no per-nonzero Python loops): the (row, column, seconds) entries, gathers of rows,
merging of demand rows with identical neighbourhoods, and the row/column dominance tests that
shrink covering models before HiGHS sees them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import sparse

_INF = np.inf


def times_matrix(times: Any, shape: tuple[int, int] | None = None) -> sparse.csr_array:
    """Return ``times`` as a canonical CSR array (sorted, no duplicates; zeros kept).

    Accepts a scipy sparse array/matrix (stored entries are the reachable pairs, explicit
    zeros included), `geo.routing.SparseTimes`, or a dense array with ``inf``/``nan`` for
    unreachable pairs.
    """
    if (isinstance(times, sparse.csr_array) and times.has_canonical_format
            and (shape is None or tuple(times.shape) == tuple(shape))):
        stored = times.data
        if stored.size and (stored.min() < 0 or not np.all(np.isfinite(stored))):
            raise ValueError("travel times must be finite and non-negative")
        return times  # already sorted without duplicates: nothing to do
    if hasattr(times, "rows") and hasattr(times, "cols") and hasattr(times, "times"):
        rows, cols, secs = (np.asarray(a) for a in (times.rows, times.cols, times.times))
        shp = tuple(times.shape)
    elif sparse.issparse(times):
        coo = sparse.coo_array(times)
        rows, cols, secs, shp = coo.row, coo.col, coo.data, coo.shape
    else:
        dense = np.asarray(times, dtype=float)
        if dense.ndim != 2:
            raise ValueError("times must be 2-D (demand × candidate)")
        rows, cols = np.nonzero(np.isfinite(dense))
        secs, shp = dense[rows, cols], dense.shape
    if shape is not None and tuple(shp) != tuple(shape):
        raise ValueError(f"times has shape {shp}, expected {shape}")
    secs = np.asarray(secs, dtype=float)
    if secs.size and (np.any(secs < 0) or not np.all(np.isfinite(secs))):
        raise ValueError("travel times must be finite and non-negative")
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    # keep the smallest time of duplicates, sorted by (row, col)
    order = np.lexsort((secs, cols, rows))
    rows, cols, secs = rows[order], cols[order], secs[order]
    if rows.size:
        first = np.r_[True, (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])]
        rows, cols, secs = rows[first], cols[first], secs[first]
    indptr = np.zeros(shp[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=shp[0]), out=indptr[1:])
    return sparse.csr_array((secs, cols, indptr), shape=shp)


# --- the prepared instance ---------------------------------------------------------------------

@dataclass(frozen=True)
class Instance:
    """One validated siting problem (`_prep`): the matrix, the weights, which sites may open."""

    times: sparse.csr_array  # demand × candidate seconds, canonical CSR
    weights: np.ndarray  # per demand point, finite and non-negative
    existing: np.ndarray  # candidate indices of the existing facilities, sorted, unique
    is_existing: np.ndarray  # bool per candidate
    allowed: np.ndarray  # bool per candidate, as given (True everywhere when not given)
    new_ok: np.ndarray  # bool per candidate: may open as a new site (allowed and not existing)

    @property
    def n_demand(self) -> int:
        """Number of demand points (matrix rows)."""
        return int(self.times.shape[0])

    @property
    def n_candidates(self) -> int:
        """Number of candidates (matrix columns), existing facilities included."""
        return int(self.times.shape[1])


def _prep(times: Any, weights: ArrayLike | None, existing: ArrayLike | None,
          allowed: ArrayLike | None) -> Instance:
    """Validate the public functions' inputs into an `Instance` (ValueError when invalid)."""
    matrix = times_matrix(times)
    n_demand, n_cand = matrix.shape
    if weights is None:
        weight = np.ones(n_demand)
    else:
        weight = np.asarray(weights, dtype=float).ravel()
        if weight.size != n_demand:
            raise ValueError(f"{weight.size} weights for {n_demand} demand points")
        if np.any(weight < 0) or not np.all(np.isfinite(weight)):
            raise ValueError("weights must be finite and non-negative")
    ex = np.unique(np.asarray(existing if existing is not None else [], dtype=np.int64).ravel())
    if ex.size and (ex.min() < 0 or ex.max() >= n_cand):
        raise ValueError("existing index out of range")
    is_existing = np.zeros(n_cand, dtype=bool)
    is_existing[ex] = True
    if allowed is None:
        allow = np.ones(n_cand, dtype=bool)
    else:
        allow = np.asarray(allowed, dtype=bool).ravel()
        if allow.size != n_cand:
            raise ValueError(f"allowed has {allow.size} entries for {n_cand} candidates")
    return Instance(times=matrix, weights=weight, existing=ex, is_existing=is_existing,
                    allowed=allow, new_ok=allow & ~is_existing)


def _capacity(capacity: ArrayLike, n_cand: int) -> np.ndarray:
    """``capacity`` (one value or one per candidate) as a float array of ``n_cand``."""
    cap = np.broadcast_to(np.asarray(capacity, dtype=float), (n_cand,)).astype(float)
    if np.any(cap < 0) or not np.all(np.isfinite(cap)):
        raise ValueError("capacities must be finite and non-negative")
    return cap


# --- entries, gathers, groups ------------------------------------------------------------------

def _entries(times: sparse.csr_array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The stored entries of a CSR array as (rows, cols, values), in storage order."""
    rows = np.repeat(np.arange(times.shape[0], dtype=np.int64), np.diff(times.indptr))
    return rows, times.indices.astype(np.int64), times.data


def _gather(indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The column indices of ``rows`` of a CSR structure, concatenated (no scipy slicing)."""
    start, stop = indptr[rows], indptr[rows + 1]
    counts = stop - start
    if counts.sum() == 0:
        return indices[:0]
    offs = np.repeat(start - np.r_[0, np.cumsum(counts)[:-1]], counts)
    return indices[offs + np.arange(int(counts.sum()))]


@dataclass(frozen=True)
class Groups:
    """Demand rows merged by identical neighbourhoods (`_group_rows`)."""

    members: np.ndarray  # the rows with at least one entry, sorted
    group_of: np.ndarray  # the group of each of ``members``
    reps: np.ndarray  # one representative row per group

    @property
    def n_groups(self) -> int:
        """Number of groups."""
        return int(self.reps.size)

    def total(self, weights: np.ndarray) -> np.ndarray:
        """The summed weight of each group's members."""
        return np.bincount(self.group_of, weights=weights[self.members], minlength=self.n_groups)

    def on_reps(self, rows: np.ndarray, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
        """For entries on ``rows``: which lie on a representative, and those entries' groups.

        The group matrix is the representatives' entries with rows renumbered by group.
        """
        is_rep = np.zeros(n_rows, dtype=bool)
        is_rep[self.reps] = True
        group_id = np.full(n_rows, -1, dtype=np.int64)
        group_id[self.reps] = np.arange(self.n_groups)
        on_rep = is_rep[rows]
        return on_rep, group_id[rows[on_rep]]


def _group_rows(rows: np.ndarray, cols: np.ndarray, n_cols: int,
                secs: np.ndarray | None = None, extra: np.ndarray | None = None) -> Groups:
    """Group rows with identical (col[, time]) sets (and ``extra`` value).

    ``rows`` must be sorted. Rows are hashed with two independent random 64-bit keys per entry
    (sum mod 2^64) plus their length: a false merge needs a 128-bit collision.
    """
    if rows.size == 0:
        none = np.zeros(0, dtype=np.int64)
        return Groups(none, none, none)
    rng = np.random.default_rng(0x5EED)
    k1 = rng.integers(0, np.iinfo(np.int64).max, size=n_cols, dtype=np.int64).astype(np.uint64)
    k2 = rng.integers(0, np.iinfo(np.int64).max, size=n_cols, dtype=np.int64).astype(np.uint64)
    h1, h2 = k1[cols], k2[cols]
    if secs is not None:
        tb = np.ascontiguousarray(secs, dtype=np.float64).view(np.uint64)
        h1 = h1 ^ (tb * np.uint64(0x9E3779B97F4A7C15))
        h2 = h2 + (tb ^ np.uint64(0xC2B2AE3D27D4EB4F)) * np.uint64(0x165667B19E3779F9)
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    members = rows[starts]
    count = np.diff(np.r_[starts, rows.size]).astype(np.uint64)
    s1 = np.add.reduceat(h1, starts)
    s2 = np.add.reduceat(h2, starts)
    key_cols = [s1, s2, count]
    if extra is not None:
        key_cols.append(np.ascontiguousarray(extra[members], dtype=np.float64).view(np.uint64))
    key = np.stack(key_cols, axis=1)
    _, first, inv = np.unique(key, axis=0, return_index=True, return_inverse=True)
    return Groups(members, inv.ravel().astype(np.int64), members[first])


# --- coverage and nearest sites ----------------------------------------------------------------

@dataclass(frozen=True)
class CoverEntries:
    """The pairs within a standard that a covering model needs (`_cover_entries`)."""

    rows: np.ndarray  # demand row of each pair a *new* site could cover
    cols: np.ndarray  # its candidate (new_ok, the row not already covered by an existing site)
    by_existing: np.ndarray  # bool per demand point: covered by an existing facility
    coverable: np.ndarray  # bool per demand point: some allowed or existing site covers it


def _cover_entries(inst: Instance, standard_s: float) -> CoverEntries:
    """Split the pairs within ``standard_s`` into fixed coverage and the model's entries."""
    rows, cols, secs = _entries(inst.times)
    within = secs <= standard_s
    rows, cols = rows[within], cols[within]
    is_existing, new_ok = inst.is_existing, inst.new_ok
    by_existing = np.zeros(inst.n_demand, dtype=bool)
    by_existing[rows[is_existing[cols]]] = True
    usable = new_ok[cols] | is_existing[cols]
    coverable = np.zeros(inst.n_demand, dtype=bool)
    coverable[rows[usable]] = True
    keep = new_ok[cols] & ~by_existing[rows]
    return CoverEntries(rows[keep], cols[keep], by_existing, coverable)


def covered(times: sparse.csr_array, chosen: ArrayLike, standard_s: float) -> np.ndarray:
    """Bool per demand point: some site of ``chosen`` is within ``standard_s``."""
    rows, cols, secs = _entries(times)
    is_open = np.zeros(times.shape[1], dtype=bool)
    is_open[np.asarray(chosen, dtype=np.int64)] = True
    cov = np.zeros(times.shape[0], dtype=bool)
    cov[rows[is_open[cols] & (secs <= standard_s)]] = True
    return cov


def _nearest(times: sparse.csr_array, open_mask: np.ndarray, fallback: ArrayLike) -> np.ndarray:
    """Nearest open time per row (``fallback`` when none or when the fallback is nearer)."""
    rows, cols, secs = _entries(times)
    on_open = open_mask[cols]
    dist = np.array(fallback, dtype=float, copy=True)
    np.minimum.at(dist, rows[on_open], secs[on_open])
    return dist


# --- dominance ---------------------------------------------------------------------------------

def _undominated_rows(cover: sparse.csr_array, max_pairs: float = 2e7) -> np.ndarray:
    """Rows of a 0/1 covering matrix not implied by another row (row dominance, exact for LSCP).

    Row i is dropped when some non-empty row k covers a subset of i's candidates: any cover of
    k covers i. Identical rows must already be merged. Skipped (all kept) when the row-overlap
    matrix would exceed ``max_pairs`` entries.
    """
    cover = sparse.csr_array(cover)
    n = cover.shape[0]
    colcount = np.diff(cover.tocsc().indptr).astype(float)
    if n == 0 or min(float((colcount ** 2).sum()), float(n) * n) > max_pairs:
        return np.ones(n, dtype=bool)
    size = np.diff(cover.indptr)
    if float(n) * n <= max_pairs:  # dense overlap counts through BLAS: fastest at county scale
        dense = cover.toarray().astype(np.float32)
        overlap = dense @ dense.T
        idx = np.arange(n)
        smaller = (size[None, :] < size[:, None]) | (
            (size[None, :] == size[:, None]) & (idx[None, :] < idx[:, None]))
        sub = (size[None, :].astype(np.float32) == overlap) & (size[None, :] > 0) & smaller
        return ~sub.any(axis=1)
    ones = sparse.csr_array((np.ones(cover.nnz, dtype=np.int32), cover.indices, cover.indptr),
                            shape=cover.shape)
    pairs = (ones @ ones.T).tocoo()
    i, k, v = pairs.row, pairs.col, pairs.data
    smaller = (size[k] < size[i]) | ((size[k] == size[i]) & (k < i))
    subset = (v == size[k]) & (size[k] > 0) & (i != k) & smaller
    keep = np.ones(n, dtype=bool)
    keep[i[subset]] = False
    return keep


def _undominated_columns(rows: np.ndarray, cols: np.ndarray, n_rows: int, new_ok: np.ndarray,
                         p: int, max_work: float = 5e7) -> np.ndarray:
    """``new_ok`` without candidates whose covered rows are a subset of another candidate's.

    Exact for MCLP and LSCP (uncapacitated, every site counts the same): a dominated site can
    be swapped for its dominator with no loss. Identical candidates keep the lowest index.
    Skipped when fewer than ``p`` candidates would remain (the models open exactly ``p``) or
    when the overlap product would be too large.
    """
    cand = np.flatnonzero(new_ok)
    rowcount = np.bincount(rows, minlength=n_rows).astype(float)
    if cand.size < 2 or float((rowcount ** 2).sum()) > max_work or cand.size ** 2 > max_work:
        return new_ok
    pos = np.full(new_ok.size, -1, dtype=np.int64)
    pos[cand] = np.arange(cand.size)
    cover = sparse.csc_array((np.ones(rows.size, dtype=np.float32), (rows, pos[cols])),
                             shape=(n_rows, cand.size))
    size = np.diff(cover.indptr)
    if float(n_rows) * cand.size <= 2e7:  # dense BLAS: fastest at county scale
        dense = cover.toarray()
        overlap = dense.T @ dense
    else:
        overlap = (cover.T @ cover).toarray()
    j = np.arange(cand.size)
    smaller = (size[:, None] < size[None, :]) | (
        (size[:, None] == size[None, :]) & (j[None, :] < j[:, None]))
    sub = ((size[:, None].astype(np.float32) == overlap) & (j[:, None] != j[None, :])
           & (size[None, :] > 0) & smaller)
    dominated = sub.any(axis=1)
    if int((~dominated).sum()) < p:
        return new_ok
    out = new_ok.copy()
    out[cand[dominated]] = False
    return out
