"""Relief needs and the allocation LP, without a database.

The LP is held against a brute-force optimum (every whole-number shipment plan enumerated) on
small instances, against a maximum flow (scipy) for the least unmet need, and — over random
instances (hypothesis) — never ships more than stock, never more than the need, never over the
hour limit, and always passes its own independent check.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emgis.layers import vocab
from emgis.layers.norms import default_norms
from emgis.shelters.relief import displaced_share, need_items, people_needs, sphere_check
from emgis.shelters.relief_lp import (
    Allocation,
    AllocationCheckError,
    allocate,
    check_allocation,
)


def _frames(need, stock, hours):
    """need[v][i], stock[d][i], hours[d][v] (None = no road) → the three input tables."""
    items = [f"i{k}" for k in range(len(need[0]))]
    nd = pd.DataFrame([(f"v{v}", items[i], float(q)) for v, row in enumerate(need)
                       for i, q in enumerate(row)], columns=["dest_id", "item", "need"])
    sk = pd.DataFrame([(d, items[i], float(q)) for d, row in enumerate(stock)
                       for i, q in enumerate(row)], columns=["depot_id", "item", "quantity"])
    ar = pd.DataFrame([(d, f"v{v}", float(h)) for d, row in enumerate(hours)
                       for v, h in enumerate(row) if h is not None],
                      columns=["depot_id", "dest_id", "hours"])
    return nd, sk, ar


def _brute(need, stock, hours, limit):
    """The lexicographic optimum by enumeration: (Σ_i unmet_i / need_i, travel)."""
    D, V, n_items = len(stock), len(need), len(need[0])
    arcs = [(d, v) for d in range(D) for v in range(V)
            if hours[d][v] is not None and hours[d][v] <= limit]
    total = [sum(need[v][i] for v in range(V)) for i in range(n_items)]
    best = None
    ranges = [range(min(stock[d][i], need[v][i]) + 1) for i in range(n_items) for d, v in arcs]
    for plan in itertools.product(*ranges):
        used = np.zeros((D, n_items))
        got = np.zeros((V, n_items))
        cost = 0.0
        for k, q in enumerate(plan):
            i, (d, v) = divmod(k, len(arcs))[0], arcs[k % len(arcs)]
            used[d, i] += q
            got[v, i] += q
            cost += q * hours[d][v]
        if (used > np.asarray(stock)).any() or (got > np.asarray(need)).any():
            continue
        unmet = sum((total[i] - got[:, i].sum()) / total[i] for i in range(n_items) if total[i])
        key = (round(unmet, 9), round(cost, 9))
        if best is None or key < best:
            best = key
    return best


CASES = {
    "2x2x1 stock short": ([[3], [2]], [[2], [2]], [[1, 5], [2, 3]], 4.0),
    "2x2x1 one far depot": ([[2], [2]], [[4], [3]], [[1, 2], [11, 1]], 10.0),
    "3 villages x 2 depots x 2 items": ([[2, 1], [1, 2], [2, 0]], [[3, 1], [2, 2]],
                                        [[1, 4, 2], [3, 1, None]], 4.0),
    "2x2x2 no road to one village": ([[2, 1], [1, 1]], [[1, 2], [2, 0]],
                                     [[1, None], [2, None]], 10.0),
    "2x3x1 crossing": ([[2], [2]], [[1], [2], [1]], [[1, 9], [2, 2], [9, 1]], 10.0),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_lp_agrees_with_brute_force_on_small_instances(case):
    need, stock, hours, limit = CASES[case]
    nd, sk, ar = _frames(need, stock, hours)
    al = allocate(nd, sk, ar, limit_h=limit)
    check_allocation(al, nd, sk, ar, limit_h=limit)
    assert (round(al.unmet_share, 9), round(al.travel, 9)) == _brute(need, stock, hours, limit)
    assert (al.shipments["quantity"] == al.shipments["quantity"].round()).all()


def _max_flow(nd, sk, ar, item, limit):
    """The most of ``item`` that can be shipped (scipy's maximum flow, independent of HiGHS)."""
    from scipy.sparse import csr_array
    from scipy.sparse.csgraph import maximum_flow

    d = sorted(sk["depot_id"].unique())
    v = sorted(nd["dest_id"].unique())
    n = 2 + len(d) + len(v)
    cap = np.zeros((n, n), dtype=np.int64)
    s = sk[sk["item"] == item].groupby("depot_id")["quantity"].sum()
    q = nd[nd["item"] == item].groupby("dest_id")["need"].sum()
    for k, dep in enumerate(d):
        cap[0, 2 + k] = int(s.get(dep, 0))
    for k, vil in enumerate(v):
        cap[2 + len(d) + k, 1] = int(q.get(vil, 0))
    for r in ar[ar["hours"] <= limit].itertuples():
        cap[2 + d.index(r.depot_id), 2 + len(d) + v.index(r.dest_id)] = 10**9
    return maximum_flow(csr_array(cap), 0, 1).flow_value


@st.composite
def instances(draw):
    D = draw(st.integers(1, 4))
    V = draw(st.integers(1, 5))
    item_count = draw(st.integers(1, 3))
    q = st.integers(0, 20)
    need = [[draw(q) for _ in range(item_count)] for _ in range(V)]
    stock = [[draw(q) for _ in range(item_count)] for _ in range(D)]
    hours = [[draw(st.one_of(st.none(), st.floats(0.5, 14, allow_nan=False)))
              for _ in range(V)] for _ in range(D)]
    return need, stock, hours, draw(st.sampled_from([6.0, 8.0, 10.0]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_never_ships_more_than_stock_nor_over_the_limit(inst):
    need, stock, hours, limit = inst
    nd, sk, ar = _frames(need, stock, hours)
    al = allocate(nd, sk, ar, limit_h=limit)
    check_allocation(al, nd, sk, ar, limit_h=limit)
    s = al.shipments
    used = s.groupby(["depot_id", "item"])["quantity"].sum()
    have = sk.set_index(["depot_id", "item"])["quantity"]
    assert (used <= have.reindex(used.index) + 1e-9).all()
    assert (s["hours"] <= limit + 1e-9).all()
    assert (s["quantity"] > 0).all()
    for item in nd["item"].unique():
        shipped = float(s.loc[s["item"] == item, "quantity"].sum())
        assert shipped == pytest.approx(_max_flow(nd, sk, ar, item, limit))


def test_limits_per_depot_level():
    nd, sk, ar = _frames([[5]], [[5], [5]], [[7.0], [9.0]])
    al = allocate(nd, sk, ar, limit_h={0: 6.0, 1: 10.0})  # a county depot at 7 h is too late
    assert al.shipments[["depot_id", "quantity"]].values.tolist() == [[1, 5.0]]
    al = allocate(nd, sk, ar, limit_h={0: 8.0, 1: 8.0})  # a city depot at 7 h, a 9 h one not
    assert al.shipments[["depot_id", "quantity"]].values.tolist() == [[0, 5.0]]


def test_check_refuses_an_overdrawn_answer():
    nd, sk, ar = _frames([[5]], [[3]], [[1.0]])
    al = allocate(nd, sk, ar, limit_h=10.0)
    bad = Allocation(al.shipments.assign(quantity=5.0), al.shortfalls.iloc[0:0], al.by_item,
                     "optimal", 0.0, 5.0, 0.0)
    with pytest.raises(AllocationCheckError, match="holds 3"):
        check_allocation(bad, nd, sk, ar, limit_h=10.0)
    idle = Allocation(al.shipments.iloc[0:0], al.shortfalls.assign(unmet=5.0), al.by_item,
                      "optimal", 1.0, 0.0, 0.0)
    with pytest.raises(AllocationCheckError, match="maximum flow"):
        check_allocation(idle, nd, sk, ar, limit_h=10.0)
    late = Allocation(al.shipments, al.shortfalls, al.by_item, "optimal", 0.4, 3.0, 0.0)
    with pytest.raises(AllocationCheckError, match="not reachable within"):
        check_allocation(late, nd, sk, ar, limit_h=0.5)


@pytest.mark.bad_input
@pytest.mark.parametrize("which", ["negative stock", "negative need"])
def test_negative_quantities_are_refused(which):
    nd, sk, ar = _frames([[5]], [[3]], [[1.0]])
    if which == "negative stock":
        sk["quantity"] = -3.0
    else:
        nd["need"] = -5.0
    with pytest.raises(ValueError, match="must not be negative"):
        allocate(nd, sk, ar, limit_h=10.0)


# --- needs from the norms ------------------------------------------------------------------------

def test_chinese_needs_come_from_the_norms_and_name_stock_items():
    norms = default_norms()
    items = need_items(norms)
    names = {s.name for s in vocab.STOCK_ITEMS}
    assert {i.item for i in items} >= {"帐篷", "棉被", "折叠床", "饮用水", "方便食品"}
    assert all(i.item in names for i in items)
    assert all(norms[i.key].status in ("V", "S", "L", "U") and i.source for i in items)
    people = pd.DataFrame({"dest_id": ["A"], "name": ["甲村"], "population": [1000.0]})
    n = people_needs(people, norms, share=0.3).set_index("item")
    hh = norms.number("relief.household_size")
    assert n.loc["帐篷", "need"] == np.ceil(300 / hh)          # one tent per household
    assert n.loc["棉被", "need"] == 300                         # one quilt per person
    assert n.loc["饮用水", "need"] == 300 * norms.number("relief.need.饮用水.per_person_day")
    assert n.loc["方便食品", "need"] == 150
    assert n.loc["帐篷", "key"] == "relief.need.帐篷.per_household"


def test_inasafe_set_is_only_an_option():
    norms = default_norms()
    people = pd.DataFrame({"dest_id": ["A"], "name": ["甲村"], "population": [700.0]})
    n = people_needs(people, norms, needs="inasafe").set_index("item")
    assert "大米" in n.index and "帐篷" not in n.index
    assert n.loc["大米", "need"] == np.ceil(700 * 2.8 / 7)  # 2.8 kg a week, one day


def test_displaced_share_per_incident_kind():
    norms = default_norms()
    for kind in vocab.INCIDENT_TYPE:
        assert f"relief.displaced_share.{kind}" in norms
    assert displaced_share("山洪", norms)[:2] == (0.3, "relief.displaced_share.flood")
    assert displaced_share("飞碟", norms)[1] == "relief.displaced_share.other"


def test_sphere_check_is_honest():
    rows = {r["check"].split()[0]: r for r in sphere_check(default_norms())}
    assert rows["drinking"]["ok"] and rows["covered"]["ok"]
    assert not rows["total"]["ok"]  # washing water is not in the depots: said, not passed
    assert rows["energy"]["minimum"] == 2100
