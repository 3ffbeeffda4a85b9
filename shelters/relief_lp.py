"""Relief allocation: depot stock to destinations within their arrival limits (HiGHS LP).

A transportation model built directly as a HiGHS LP (as `shelters.siting.highs` and
`shelters.capacity` do): variables ``x[a, i]`` for each depot→destination pair ``a`` whose
arrival time is within the depot's limit and each item ``i`` the depot stocks and the
destination needs, and ``u[v, i]`` the unmet need;

* ``Σ_v x[d→v, i] ≤ stock[d, i]``  (never ship more than a depot holds)
* ``Σ_d x[d→v, i] + u[v, i] = need[v, i]``

Lexicographic objective: first the least unmet need, then the least total travel (quantity ×
arrival hours). Items share no constraint, so each item is its own LP (smaller and faster than
one joint model), solved once with the unmet need weighted by a constant ``M`` large enough
that no saving in travel can pay for a unit of unmet need (`_item_lp` gives the proof) — the
same answer as two solves. The least unmet need of an item is its maximum flow; with
whole-number stock and needs the optimum is whole-number (a flow polytope's vertices are).

`check_allocation` recomputes the stock used per depot × item and the balance per destination
× item from the shipments and the inputs alone; an answer that fails it is an error
(`AllocationCheckError`), never a result.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

__all__ = ["Allocation", "AllocationCheckError", "allocate", "check_allocation"]

_TOL = 1e-6


class AllocationCheckError(RuntimeError):
    """The allocation failed its independent check (stock overdrawn, need unbalanced, a
    shipment over its arrival limit): never used as a result."""


@dataclass
class Allocation:
    shipments: pd.DataFrame   # depot_id, dest_id, item, quantity, hours
    shortfalls: pd.DataFrame  # dest_id, item, need, received, unmet  (unmet > 0 only)
    by_item: pd.DataFrame     # item, need, received, unmet, stock, reachable_stock
    status: str
    unmet_share: float        # Σ_i unmet_i / need_i (the first objective, as shares)
    travel: float             # Σ quantity × hours (the second objective)
    seconds: float
    dims: tuple[int, int] = (0, 0)  # columns, rows
    notes: list[str] = field(default_factory=list)


def _lp(cost, ub, A, rlo, rhi):
    import highspy

    from emgis.shelters.siting.highs import new_highs

    h = new_highs()
    A = sparse.csc_array(A)
    A.sort_indices()
    ncol, nrow = cost.size, A.shape[0]
    st = h.passModel(int(ncol), int(nrow), int(A.nnz), 1, 1, 0.0,
                     cost.astype(float), np.zeros(ncol), ub.astype(float),
                     rlo.astype(float), rhi.astype(float),
                     A.indptr.astype(np.int32), A.indices.astype(np.int32), A.data.astype(float),
                     np.zeros(ncol, np.int32))
    if st == highspy.HighsStatus.kError:
        raise RuntimeError("HiGHS rejected the relief allocation model")
    return h


def _status(h) -> str:
    s = h.getModelStatus()
    return s.name if hasattr(s, "name") else str(s)


def _arcs(arcs: pd.DataFrame, limit_h: dict | float | None) -> pd.DataFrame:
    a = arcs[["depot_id", "dest_id", "hours"]].copy()
    a["hours"] = pd.to_numeric(a["hours"], errors="coerce").astype(float)
    a = a[np.isfinite(a["hours"].to_numpy())]
    if limit_h is not None:
        lim = (a["depot_id"].map(limit_h).astype(float) if isinstance(limit_h, dict)
               else pd.Series(float(limit_h), index=a.index))
        a = a[(a["hours"] <= lim + 1e-9).to_numpy()]
    return a.sort_values(["depot_id", "dest_id", "hours"]).drop_duplicates(
        ["depot_id", "dest_id"]).reset_index(drop=True)


def allocate(need: pd.DataFrame, stock: pd.DataFrame, arcs: pd.DataFrame, *,
             limit_h: dict | float | None = None) -> Allocation:
    """Allocate ``stock`` (depot_id, item, quantity) to ``need`` (dest_id, item, need) over
    ``arcs`` (depot_id, dest_id, hours = arrival time) within ``limit_h`` (hours: one number,
    a dict per depot, or None when ``arcs`` are already the allowed pairs)."""
    t0 = time.perf_counter()
    nd = need.groupby(["dest_id", "item"], sort=True)["need"].sum()
    nd = nd[nd > 0]
    st = stock.groupby(["depot_id", "item"], sort=True)["quantity"].sum()
    st = st[st > 0]
    if (stock["quantity"] < 0).any() or (need["need"] < 0).any():
        raise ValueError("stock and need must not be negative")
    a = _arcs(arcs, limit_h)
    dests = sorted(set(nd.index.get_level_values(0)), key=str)
    depots = sorted(set(st.index.get_level_values(0)), key=str)
    items = sorted(set(nd.index.get_level_values(1)), key=str)
    dv, dd, it = ({k: j for j, k in enumerate(x)} for x in (dests, depots, items))
    N = np.zeros((len(dests), len(items)))
    S = np.zeros((len(depots), len(items)))
    for (v, i), q in nd.items():
        N[dv[v], it[i]] = q
    for (d, i), q in st.items():
        if i in it:
            S[dd[d], it[i]] = q
    a = a[a["depot_id"].isin(dd) & a["dest_id"].isin(dv)]
    ad = a["depot_id"].map(dd).to_numpy(dtype=np.int64)
    av = a["dest_id"].map(dv).to_numpy(dtype=np.int64)
    ah = a["hours"].to_numpy(dtype=float)
    whole = bool(np.all(np.round(N) == N) and np.all(np.round(S) == S))
    parts, cols, rows = [], 0, 0
    for j in range(len(items)):
        q, c, r = _item_lp(N[:, j], S[:, j], ad, av, ah, whole)
        cols, rows = cols + c, rows + r
        keep = q > _TOL
        parts.append(pd.DataFrame({
            "depot_id": np.asarray(depots, dtype=object)[ad[keep]],
            "dest_id": np.asarray(dests, dtype=object)[av[keep]],
            "item": items[j], "quantity": q[keep], "hours": ah[keep]}))
    cols_ = ["depot_id", "dest_id", "item", "quantity", "hours"]
    ship = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols_)
    ship = ship.sort_values(["dest_id", "item", "hours", "depot_id"], kind="stable")
    out = _summaries(ship.reset_index(drop=True), nd, st, a)
    out.status = "optimal"
    out.seconds = time.perf_counter() - t0
    out.dims = (cols, rows)
    return out


def _item_lp(n: np.ndarray, s: np.ndarray, ad: np.ndarray, av: np.ndarray, ah: np.ndarray,
             whole: bool) -> tuple[np.ndarray, int, int]:
    """One item's transportation LP: the quantity on every arc (0 where the arc cannot carry
    it), and the model's columns and rows.

    Lexicographic in one solve: ``min Σ h_a x_a + M Σ u_v`` with ``M = min(D, V) · max h + 1``.
    Why M is enough: a flow with more unmet need than the least possible is not a maximum
    flow (depots → destinations, capacities stock and need), so it has an augmenting path;
    pushing ε along it lowers the unmet need by ε and raises travel by at most ε × (forward
    arcs on the path, ≤ min(D, V)) × max h < ε M. So every optimum of the weighted LP has the
    least unmet need, and among those the least travel — the two-stage answer.
    """
    use = np.flatnonzero((s[ad] > 0) & (n[av] > 0))
    q = np.zeros(ad.size)
    vs = np.flatnonzero(n > 0)
    if not vs.size:
        return q, 0, 0
    ds = np.flatnonzero(s > 0)
    if not use.size or not ds.size:
        return q, vs.size, vs.size
    drow = np.full(s.size, -1, dtype=np.int64)
    drow[ds] = np.arange(ds.size)
    vrow = np.full(n.size, -1, dtype=np.int64)
    vrow[vs] = ds.size + np.arange(vs.size)
    nx, nu = use.size, vs.size
    r = np.concatenate([drow[ad[use]], vrow[av[use]], vrow[vs]])
    c = np.concatenate([np.arange(nx), np.arange(nx), nx + np.arange(nu)])
    A = sparse.csc_array((np.ones(r.size), (r, c)), shape=(ds.size + nu, nx + nu))
    big = min(ds.size, nu) * float(ah[use].max()) + 1.0
    h = _lp(np.concatenate([ah[use], np.full(nu, big)]),
            np.concatenate([np.full(nx, np.inf), n[vs]]), A,
            np.concatenate([np.full(ds.size, -np.inf), n[vs]]), np.concatenate([s[ds], n[vs]]))
    h.setOptionValue("presolve", "off")  # twice as fast on these flow models
    h.run()
    status = _status(h)
    if status not in ("kOptimal", "kModelEmpty"):
        raise RuntimeError(f"HiGHS: relief allocation ended {status}")
    x = np.asarray(h.getSolution().col_value, dtype=float)[:nx]
    q[use] = _whole(x) if whole else x.clip(min=0.0)
    return q, nx + nu, ds.size + nu


def _whole(x: np.ndarray) -> np.ndarray:
    """A vertex of a flow LP with whole-number data is whole: take away the solver's noise."""
    r = np.round(x)
    return np.where(np.abs(x - r) < 1e-3, r, x).clip(min=0.0)


def _summaries(ship: pd.DataFrame, nd: pd.Series, st: pd.Series, a: pd.DataFrame) -> Allocation:
    got = ship.groupby(["dest_id", "item"])["quantity"].sum()
    bal = pd.DataFrame({"need": nd}).reset_index()
    bal["received"] = got.reindex(nd.index).fillna(0.0).to_numpy(dtype=float)
    bal["unmet"] = (bal["need"] - bal["received"]).clip(lower=0.0)
    short = bal[bal["unmet"] > _TOL].sort_values(["unmet", "dest_id"], ascending=[False, True],
                                                  kind="stable").reset_index(drop=True)
    items = sorted(set(bal["item"]), key=str)
    stock_i = st.groupby(level=1).sum()
    reach = set(a["depot_id"])
    reach_i = st[st.index.get_level_values(0).isin(reach)].groupby(level=1).sum()
    by = pd.DataFrame({"item": items})
    g = bal.groupby("item")
    by["need"] = by["item"].map(g["need"].sum()).astype(float)
    by["received"] = by["item"].map(g["received"].sum()).astype(float)
    by["unmet"] = by["item"].map(g["unmet"].sum()).astype(float)
    by["stock"] = by["item"].map(stock_i).fillna(0.0).astype(float)
    by["reachable_stock"] = by["item"].map(reach_i).fillna(0.0).astype(float)
    share = float((by["unmet"] / by["need"].where(by["need"] > 0)).fillna(0.0).sum())
    travel = float((ship["quantity"] * ship["hours"]).sum())
    return Allocation(ship, short, by, "", share, travel, 0.0)


def check_allocation(alloc: Allocation, need: pd.DataFrame, stock: pd.DataFrame,
                     arcs: pd.DataFrame, *, limit_h: dict | float | None = None) -> None:
    """Recompute the answer from the shipments and the inputs alone; raise
    `AllocationCheckError` naming what fails: a negative quantity, stock overdrawn at a depot
    × item, a shipment on a pair that is not allowed or later than its limit, received + unmet
    ≠ need, or the reported totals."""
    problems = []
    s = alloc.shipments
    if (s["quantity"] < -_TOL).any():
        problems.append("negative shipment quantities")
    st = stock.groupby(["depot_id", "item"])["quantity"].sum()
    used = s.groupby(["depot_id", "item"])["quantity"].sum()
    have = st.reindex(used.index).fillna(0.0)
    for (d, i), q in used[used > have + _TOL * np.maximum(1.0, have)].items():
        problems.append(f"depot {d} ships {q:g} {i} but holds {float(have[(d, i)]):g}")
    ok = _arcs(arcs, limit_h).rename(columns={"hours": "allowed_h"})
    m = s.merge(ok, on=["depot_id", "dest_id"], how="left")
    for r in m[m["allowed_h"].isna()].itertuples(index=False):
        problems.append(f"{r.depot_id} → {r.dest_id} is not reachable within its limit")
    for r in m[(m["allowed_h"] - m["hours"]).abs() > 1e-6].itertuples(index=False):
        problems.append(f"{r.depot_id} → {r.dest_id} reported {r.hours} h, arrives "
                        f"{r.allowed_h} h")
    nd = need.groupby(["dest_id", "item"])["need"].sum()
    got = s.groupby(["dest_id", "item"])["quantity"].sum()
    unmet = alloc.shortfalls.set_index(["dest_id", "item"])["unmet"] if len(alloc.shortfalls) \
        else pd.Series(dtype=float)
    cap = nd.reindex(got.index).fillna(0.0)
    for (v, i), q in got[got > cap + _TOL * np.maximum(1.0, got)].items():
        problems.append(f"{v} receives {q:g} {i}, more than its need")
    nd = nd[nd > 0]
    back = got.reindex(nd.index).fillna(0.0) + unmet.reindex(nd.index).fillna(0.0)
    for (v, i), r in back[(back - nd).abs() > _TOL * np.maximum(1.0, nd)].items():
        problems.append(f"{v} {i}: received + unmet = {r:g}, need {float(nd[(v, i)]):g}")
    problems += _least_unmet(alloc, need, stock, ok)
    travel = float((s["quantity"] * s["hours"]).sum())
    if abs(travel - alloc.travel) > 1e-6 * max(1.0, travel):
        problems.append(f"travel reported {alloc.travel:g}, recomputed {travel:g}")
    if problems:
        raise AllocationCheckError("relief allocation failed its check: "
                                   + "; ".join(problems[:10]))


def _least_unmet(alloc: Allocation, need: pd.DataFrame, stock: pd.DataFrame,
                 ok: pd.DataFrame) -> list[str]:
    """With whole-number data: each item's shipped total must be its maximum flow (scipy's
    push-relabel, independent of HiGHS) — the least unmet need is not left on the table."""
    from scipy.sparse.csgraph import maximum_flow

    if not (np.all(need["need"] == np.round(need["need"]))
            and np.all(stock["quantity"] == np.round(stock["quantity"]))):
        return []
    out = []
    shipped = alloc.shipments.groupby("item")["quantity"].sum()
    for item in sorted(need["item"].unique(), key=str):
        n = need[need["item"] == item].groupby("dest_id")["need"].sum()
        s = stock[stock["item"] == item].groupby("depot_id")["quantity"].sum()
        n, s = n[n > 0], s[s > 0]
        a = ok[ok["depot_id"].isin(s.index) & ok["dest_id"].isin(n.index)]
        if not len(n) or not len(s) or not len(a):
            flow = 0
        else:
            di = {k: 2 + j for j, k in enumerate(s.index)}
            vi = {k: 2 + len(s) + j for j, k in enumerate(n.index)}
            rows = np.concatenate([np.zeros(len(s), int), a["depot_id"].map(di).to_numpy(int),
                                   np.array(list(vi.values()), dtype=int)])
            cols = np.concatenate([np.array(list(di.values()), dtype=int),
                                   a["dest_id"].map(vi).to_numpy(int), np.ones(len(n), int)])
            big = int(n.sum())
            cap = np.concatenate([s.to_numpy(), np.full(len(a), big), n.to_numpy()])
            g = sparse.csr_array((cap.astype(np.int64), (rows, cols)),
                                 shape=(2 + len(s) + len(n),) * 2)
            flow = maximum_flow(g, 0, 1).flow_value
        got = float(shipped.get(item, 0.0))
        if abs(got - flow) > _TOL * max(1.0, flow):
            out.append(f"{item}: {got:g} shipped, but {flow:g} can reach the destinations "
                       "in time (maximum flow)")
    return out
