"""Relief allocation: emgis's HiGHS model against a plain PuLP/CBC model of the same problem.

A county-scale event: 200 villages × 30 depots × 8 items, arrival times 1–14 h and a 10-hour
limit (pairs beyond it are not variables in either model). Both minimise the same objective —
unmet need first, then quantity × hours (PuLP: the same weighted form per item, with the same
M; one model for all items, as someone would write it) — and the optimum is checked to agree:
the unmet need per item exactly and the travel to 1e-6. Times are wall clock including model
building; the ratio is PuLP/CBC ÷ emgis (target ≥ 10×, emgis under 1 s).

Usage: ``python -m bench.relief [--quick] [--seed N]``.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd


def instance(villages: int = 200, depots: int = 30, items: int = 8, seed: int = 1):
    rng = np.random.default_rng(seed)
    names = [f"item{k}" for k in range(items)]
    need = pd.DataFrame([(f"v{v:03d}", i, float(rng.integers(0, 300)))
                         for v in range(villages) for i in names],
                        columns=["dest_id", "item", "need"])
    stock = pd.DataFrame([(d, i, float(rng.integers(0, 2000)))
                          for d in range(depots) for i in names],
                         columns=["depot_id", "item", "quantity"])
    arcs = pd.DataFrame([(d, f"v{v:03d}", round(float(rng.uniform(1, 14)), 3))
                         for d in range(depots) for v in range(villages)],
                        columns=["depot_id", "dest_id", "hours"])
    return need, stock, arcs


def pulp_model(need: pd.DataFrame, stock: pd.DataFrame, arcs: pd.DataFrame, limit_h: float):
    """The same problem written plainly in PuLP, solved by CBC: (unmet per item, travel)."""
    import pulp

    ok = arcs[arcs["hours"] <= limit_h]
    n = need.set_index(["dest_id", "item"])["need"].to_dict()
    s = stock.set_index(["depot_id", "item"])["quantity"].to_dict()
    items = sorted(need["item"].unique())
    prob = pulp.LpProblem("relief", pulp.LpMinimize)
    x, u = {}, {}
    for i in items:
        for r in ok.itertuples(index=False):
            if s.get((r.depot_id, i), 0) > 0 and n.get((r.dest_id, i), 0) > 0:
                x[r.depot_id, r.dest_id, i] = pulp.LpVariable(
                    f"x_{r.depot_id}_{r.dest_id}_{i}", lowBound=0)
    for (v, i), q in n.items():
        if q > 0:
            u[v, i] = pulp.LpVariable(f"u_{v}_{i}", lowBound=0)
    hours = {(r.depot_id, r.dest_id): r.hours for r in ok.itertuples(index=False)}
    big = {}
    for i in items:
        ds = sum(1 for (d, j), q in s.items() if j == i and q > 0)
        vs = sum(1 for (v, j), q in n.items() if j == i and q > 0)
        hs = [hours[d, v] for (d, v, j) in x if j == i]
        big[i] = min(ds, vs) * max(hs, default=0.0) + 1.0
    prob += (pulp.lpSum(hours[d, v] * var for (d, v, i), var in x.items())
             + pulp.lpSum(big[i] * var for (v, i), var in u.items()))
    by_depot: dict = {}
    by_dest: dict = {}
    for (d, v, i), var in x.items():
        by_depot.setdefault((d, i), []).append(var)
        by_dest.setdefault((v, i), []).append(var)
    for (d, i), vs in by_depot.items():
        prob += pulp.lpSum(vs) <= s[d, i]
    for (v, i), var in u.items():
        prob += pulp.lpSum(by_dest.get((v, i), [])) + var == n[v, i]
    prob.solve(pulp.PULP_CBC_CMD(msg=False))
    if pulp.LpStatus[prob.status] != "Optimal":
        raise RuntimeError(f"CBC: {pulp.LpStatus[prob.status]}")
    unmet = {i: 0.0 for i in items}
    for (_v, i), var in u.items():
        unmet[i] += var.value()
    travel = sum(hours[d, v] * var.value() for (d, v, _i), var in x.items())
    return unmet, travel


def main(argv: list[str] | None = None) -> int:
    from emgis.shelters.relief_lp import allocate, check_allocation

    argv = sys.argv[1:] if argv is None else argv
    quick = "--quick" in argv
    seed = int(argv[argv.index("--seed") + 1]) if "--seed" in argv else 1
    v, d = (60, 10) if quick else (200, 30)
    need, stock, arcs = instance(v, d, 8, seed)
    allocate(need.head(8), stock, arcs, limit_h=10.0)  # HiGHS loaded once, as in a server
    t0 = time.perf_counter()
    al = allocate(need, stock, arcs, limit_h=10.0)
    t_highs = time.perf_counter() - t0
    check_allocation(al, need, stock, arcs, limit_h=10.0)
    t0 = time.perf_counter()
    unmet, travel = pulp_model(need, stock, arcs, 10.0)
    t_pulp = time.perf_counter() - t0
    ours = al.by_item.set_index("item")["unmet"].to_dict()
    same = all(abs(ours.get(i, 0.0) - q) < 1e-6 for i, q in unmet.items()) \
        and abs(al.travel - travel) <= 1e-6 * max(1.0, travel)
    print(f"relief allocation {v} villages × {d} depots × 8 items, 10 h limit "
          f"({al.dims[0]:,} columns, {al.dims[1]:,} rows)")
    print(f"  emgis HiGHS  {t_highs:8.3f} s   unmet {sum(ours.values()):,.0f}   "
          f"travel {al.travel:,.3f} unit·h")
    print(f"  PuLP / CBC   {t_pulp:8.3f} s   unmet {sum(unmet.values()):,.0f}   "
          f"travel {travel:,.3f} unit·h")
    print(f"  ratio {t_pulp / t_highs:.1f}×   same optimum: {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
