"""Siting models against brute force on small instances, with an independent feasibility check."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import sparse

from emgis.shelters.siting import (
    SitingRules,
    capacitated_mclp,
    capacitated_p_median,
    check_solution,
    lscp,
    mclp,
    p_median,
    times_matrix,
)

INF = np.inf


def random_instance(seed: int, n: int = 14, m: int = 7, density: float = 0.55,
                    tmax: float = 900.0):
    """A small random sparse instance: dense array with inf for absent pairs."""
    rng = np.random.default_rng(seed)
    d = rng.uniform(30, tmax, (n, m)).round()
    d[rng.random((n, m)) > density] = INF
    w = rng.integers(1, 40, n).astype(float)
    return d, w


def subsets(m, k, allowed=None, existing=()):
    free = [j for j in range(m) if j not in set(existing) and (allowed is None or allowed[j])]
    return itertools.combinations(free, min(k, len(free)))


def brute_mclp(d, w, s, p, existing=(), allowed=None):
    best = -1.0
    for sub in subsets(d.shape[1], p, allowed, existing):
        open_ = list(sub) + list(existing)
        cov = (d[:, open_] <= s).any(axis=1)
        best = max(best, float(w[cov].sum()))
    return best


def brute_pmedian(d, w, p, existing=(), allowed=None, unserved=None):
    best = INF
    for sub in subsets(d.shape[1], p, allowed, existing):
        open_ = list(sub) + list(existing)
        t = d[:, open_].min(axis=1)
        if unserved is not None:
            t = np.minimum(t, unserved)
        else:
            reach = np.isfinite(d[:, _usable(d, allowed, existing)]).any(axis=1)
            if np.any(reach & ~np.isfinite(t)):
                continue
        f = np.isfinite(t)
        best = min(best, float((w[f] * t[f]).sum()))
    return best


def _usable(d, allowed, existing):
    m = d.shape[1]
    u = np.ones(m, bool) if allowed is None else np.asarray(allowed, bool).copy()
    u[list(existing)] = True
    return np.flatnonzero(u)


def brute_lscp(d, s, existing=(), allowed=None):
    m = d.shape[1]
    use = _usable(d, allowed, existing)
    can = (d[:, use] <= s).any(axis=1)
    free = [j for j in use if j not in set(existing)]
    for k in range(len(free) + 1):
        for sub in itertools.combinations(free, k):
            open_ = list(sub) + list(existing)
            cov = (d[:, open_] <= s).any(axis=1) if open_ else np.zeros(d.shape[0], bool)
            if np.all(cov | ~can):
                return k
    raise AssertionError("unreachable")  # pragma: no cover
    del m


def _assign_lp(d, w, open_, cap, s=None, unserved=None, cover=False):
    """Best split assignment to fixed open sites, as an LP (scipy linprog/HiGHS)."""
    from scipy.optimize import linprog

    n = d.shape[0]
    pairs = [(i, j) for i in range(n) for j in open_
             if np.isfinite(d[i, j]) and (s is None or d[i, j] <= s)]
    nz = len(pairs)
    nu = 0 if (cover or unserved is None) else n
    c = np.zeros(nz + nu)
    for k, (i, j) in enumerate(pairs):
        c[k] = -w[i] if cover else w[i] * d[i, j]
    if nu:
        c[nz:] = w * unserved
    A_ub, b_ub, A_eq, b_eq = [], [], [], []
    for i in range(n):
        row = np.zeros(nz + nu)
        for k, (ii, _) in enumerate(pairs):
            if ii == i:
                row[k] = 1
        if cover:
            A_ub.append(row)
            b_ub.append(1)
        else:
            if nu:
                row[nz + i] = 1
            if row.any():
                A_eq.append(row)
                b_eq.append(1)
    for j in open_:
        row = np.zeros(nz + nu)
        for k, (i, jj) in enumerate(pairs):
            if jj == j:
                row[k] = w[i]
        A_ub.append(row)
        b_ub.append(cap[j])
    res = linprog(c, A_ub=np.array(A_ub) if A_ub else None, b_ub=b_ub or None,
                  A_eq=np.array(A_eq) if A_eq else None, b_eq=b_eq or None,
                  bounds=(0, 1), method="highs")
    if res.status != 0:
        return None
    return -res.fun if cover else res.fun


def brute_capacitated(d, w, p, cap, existing=(), allowed=None, s=None, unserved=None,
                      cover=False):
    best = -INF if cover else INF
    for sub in subsets(d.shape[1], p, allowed, existing):
        v = _assign_lp(d, w, list(sub) + list(existing), cap, s, unserved, cover)
        if v is None:
            continue
        best = max(best, v) if cover else min(best, v)
    return best


def assert_ok(res, d, w, **kw):
    chk = check_solution(res, d, w, SitingRules(**kw))
    assert chk.ok, chk.problems
    return chk


# --- input --------------------------------------------------------------------------------------

def test_times_matrix_accepts_dense_sparse_and_keeps_zero_times():
    d = np.array([[0.0, INF], [5.0, 7.0]])
    a = times_matrix(d)
    assert a.nnz == 3 and a[0, 0] == 0.0
    b = times_matrix(sparse.csr_array(a))
    assert b.nnz == 3

    class ST:  # duck-typed geo.routing.SparseTimes
        rows = np.array([1, 0, 1])
        cols = np.array([0, 0, 0])
        times = np.array([9.0, 0.0, 5.0])
        shape = (2, 2)

    c = times_matrix(ST())
    assert c.nnz == 2 and c[1, 0] == 5.0  # the smaller of duplicated pairs


def test_rejects_bad_inputs():
    d, w = random_instance(0)
    with pytest.raises(ValueError):
        mclp(d, w[:-1], 300, 2)
    with pytest.raises(ValueError):
        mclp(-d, w, 300, 2)
    with pytest.raises(ValueError):
        mclp(d, w, 300, 2, allowed=np.ones(3, bool))
    with pytest.raises(ValueError):
        mclp(d, w, 300, 2, method="magic")


# --- MCLP ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("p", [1, 2, 3])
def test_mclp_matches_brute_force(seed, p):
    d, w = random_instance(seed)
    s = 400.0
    res = mclp(d, w, s, p)
    assert res.optimal and res.mip_gap <= 1e-6
    assert res.objective == pytest.approx(brute_mclp(d, w, s, p))
    assert res.new.size == p
    assert_ok(res, d, w, standard_s=s, p=p)


def test_mclp_existing_and_exclusions():
    d, w = random_instance(11, n=16, m=8)
    s = 450.0
    existing = [2]
    allowed = np.ones(8, bool)
    allowed[[0, 5]] = False
    best = brute_mclp(d, w, s, 2, existing=existing, allowed=allowed)
    for method in ("exact", "heuristic"):
        res = mclp(d, w, s, 2, existing=existing, allowed=allowed, method=method)
        assert 2 in res.chosen and 0 not in res.chosen and 5 not in res.chosen
        assert res.new.size == 2 and 2 not in res.new
        chk = assert_ok(res, d, w, standard_s=s, p=2, existing=existing, allowed=allowed)
        assert chk.objective == pytest.approx(res.objective)
        if method == "exact":
            assert res.objective == pytest.approx(best)
        else:
            assert res.objective <= best + 1e-9 and res.bound >= best - 1e-6


def test_mclp_existing_allowed_false_is_still_kept():
    d, w = random_instance(3)
    allowed = np.ones(d.shape[1], bool)
    allowed[1] = False
    res = mclp(d, w, 400, 2, existing=[1], allowed=allowed)
    assert 1 in res.chosen and 1 not in res.new
    assert_ok(res, d, w, standard_s=400, p=2, existing=[1], allowed=allowed)


def test_mclp_identical_demand_rows_are_merged():
    d, w = random_instance(4, n=6, m=5)
    d = np.vstack([d, d, d])
    w = np.r_[w, w, w]
    res = mclp(d, w, 400, 2)
    assert res.n_groups <= 6
    assert res.objective == pytest.approx(brute_mclp(d, w, 400, 2))
    assert_ok(res, d, w, standard_s=400, p=2)


def test_mclp_p_larger_than_candidates():
    d, w = random_instance(5, m=4)
    res = mclp(d, w, 400, 10)
    assert res.new.size == 4
    assert_ok(res, d, w, standard_s=400, p=10)


def test_mclp_reports_unreachable_demand():
    d, w = random_instance(6)
    d[0, :] = INF
    res = mclp(d, w, 400, 2)
    assert 0 in res.unreachable and 0 in res.uncovered
    assert_ok(res, d, w, standard_s=400, p=2)


@pytest.mark.parametrize("seed", range(4))
def test_mclp_heuristic_is_feasible_with_valid_bound(seed):
    d, w = random_instance(seed + 20, n=30, m=10)
    best = brute_mclp(d, w, 400, 3)
    res = mclp(d, w, 400, 3, method="heuristic")
    assert res.method == "heuristic"
    assert res.objective <= best + 1e-9 <= res.bound + 1e-6
    assert_ok(res, d, w, standard_s=400, p=3)


# --- LSCP ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(6))
def test_lscp_matches_brute_force(seed):
    d, w = random_instance(seed, n=12, m=7)
    s = 500.0
    res = lscp(d, s)
    assert res.optimal
    assert res.objective == brute_lscp(d, s)
    assert_ok(res, d, w, standard_s=s)


def test_lscp_existing_exclusions_and_uncoverable():
    d, w = random_instance(8, n=12, m=7)
    d[3, :] = 10_000.0  # reachable but never within the standard
    allowed = np.ones(7, bool)
    allowed[4] = False
    res = lscp(d, 500, existing=[0], allowed=allowed)
    assert res.objective == brute_lscp(d, 500, existing=[0], allowed=allowed)
    assert 0 in res.chosen and 4 not in res.chosen
    assert 3 in res.unreachable
    assert_ok(res, d, w, standard_s=500, existing=[0], allowed=allowed)
    h = lscp(d, 500, existing=[0], allowed=allowed, method="heuristic")
    assert h.bound <= res.objective <= h.objective
    assert_ok(h, d, w, standard_s=500, existing=[0], allowed=allowed)


# --- p-median -----------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("p", [1, 2, 3])
def test_pmedian_matches_brute_force_with_unserved_cost(seed, p):
    d, w = random_instance(seed)
    res = p_median(d, w, p, unserved_s=1200.0)
    assert res.optimal
    assert res.objective == pytest.approx(brute_pmedian(d, w, p, unserved=1200.0))
    assert_ok(res, d, w, p=p, unserved_s=1200.0)


@pytest.mark.parametrize("seed", range(4))
def test_pmedian_hard_assignment(seed):
    d, w = random_instance(seed, density=0.9)
    best = brute_pmedian(d, w, 3)
    res = p_median(d, w, 3)
    if not np.isfinite(best):
        assert res.status == "infeasible"
        return
    assert res.optimal and res.objective == pytest.approx(best)
    assert_ok(res, d, w, p=3)


def test_pmedian_existing_and_exclusions():
    d, w = random_instance(12, n=16, m=8, density=0.8)
    allowed = np.ones(8, bool)
    allowed[[1, 6]] = False
    ex = [3, 6]
    best = brute_pmedian(d, w, 2, existing=ex, allowed=allowed, unserved=2000.0)
    for method in ("exact", "heuristic"):
        res = p_median(d, w, 2, existing=ex, allowed=allowed, unserved_s=2000.0, method=method)
        assert {3, 6} <= set(res.chosen.tolist()) and 1 not in res.chosen
        assert res.new.size == 2
        assert_ok(res, d, w, p=2, existing=ex, allowed=allowed, unserved_s=2000.0)
        if method == "exact":
            assert res.objective == pytest.approx(best)
        else:
            assert res.bound - 1e-6 <= best <= res.objective + 1e-9


@pytest.mark.parametrize("seed", range(4))
def test_pmedian_heuristic_bound(seed):
    d, w = random_instance(seed + 40, n=30, m=10, density=0.7)
    best = brute_pmedian(d, w, 3, unserved=1500.0)
    res = p_median(d, w, 3, unserved_s=1500.0, method="heuristic")
    assert res.bound - 1e-6 <= best <= res.objective + 1e-9
    assert_ok(res, d, w, p=3, unserved_s=1500.0)


# --- capacitated --------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("p", [1, 2])
def test_capacitated_mclp_matches_brute_force(seed, p):
    d, w = random_instance(seed, n=10, m=6)
    rng = np.random.default_rng(seed)
    cap = rng.uniform(20, 90, 6).round()
    s = 450.0
    best = brute_capacitated(d, w, p, cap, s=s, cover=True)
    res = capacitated_mclp(d, w, s, p, cap)
    assert res.optimal
    assert res.objective == pytest.approx(best, rel=1e-6)
    chk = assert_ok(res, d, w, standard_s=s, p=p, capacity=cap)
    assert np.all(chk.loads <= cap + 1e-6)
    # capacity binds: never more than the uncapacitated optimum
    assert res.objective <= brute_mclp(d, w, s, p) + 1e-9


def test_capacitated_mclp_existing_and_exclusions():
    d, w = random_instance(9, n=10, m=6)
    cap = np.full(6, 60.0)
    allowed = np.array([True, False, True, True, False, True])
    res = capacitated_mclp(d, w, 450, 2, cap, existing=[4], allowed=allowed)
    best = brute_capacitated(d, w, 2, cap, existing=[4], allowed=allowed, s=450, cover=True)
    assert res.objective == pytest.approx(best, rel=1e-6)
    assert 4 in res.chosen and 1 not in res.chosen
    assert_ok(res, d, w, standard_s=450, p=2, existing=[4], allowed=allowed, capacity=cap)


@pytest.mark.parametrize("seed", range(4))
def test_capacitated_pmedian_matches_brute_force(seed):
    d, w = random_instance(seed, n=10, m=6, density=0.7)
    rng = np.random.default_rng(seed + 1)
    cap = rng.uniform(40, 120, 6).round()
    best = brute_capacitated(d, w, 2, cap, unserved=1500.0)
    res = capacitated_p_median(d, w, 2, cap, unserved_s=1500.0, existing=[])
    assert res.optimal
    assert res.objective == pytest.approx(best, rel=1e-6)
    assert_ok(res, d, w, p=2, capacity=cap, unserved_s=1500.0)


def test_capacitated_pmedian_existing_and_infeasible():
    d, w = random_instance(2, n=10, m=6, density=0.9)
    cap = np.full(6, 80.0)
    allowed = np.array([True, True, False, True, True, True])
    res = capacitated_p_median(d, w, 2, cap, existing=[2], allowed=allowed, unserved_s=2000.0)
    best = brute_capacitated(d, w, 2, cap, existing=[2], allowed=allowed, unserved=2000.0)
    assert res.objective == pytest.approx(best, rel=1e-6)
    assert 2 in res.chosen
    assert_ok(res, d, w, p=2, existing=[2], allowed=allowed, capacity=cap, unserved_s=2000.0)
    tiny = capacitated_p_median(d, w, 1, np.full(6, 1.0))
    assert tiny.status == "infeasible"


# --- the checker itself -------------------------------------------------------------------------

def test_check_solution_catches_violations():
    d, w = random_instance(1)
    allowed = np.ones(d.shape[1], bool)
    allowed[0] = False
    res = mclp(d, w, 400, 2, existing=[3], allowed=allowed)
    assert check_solution(res, d, w, SitingRules(
        standard_s=400, p=2, existing=[3], allowed=allowed)).ok
    bad = mclp(d, w, 400, 2, existing=[3], allowed=allowed)
    bad.chosen = np.r_[bad.chosen, 0]
    probs = check_solution(bad, d, w, SitingRules(
        standard_s=400, p=2, existing=[3], allowed=allowed)).problems
    assert any("disallowed" in p for p in probs) and any("p=2" in p for p in probs)
    bad2 = mclp(d, w, 400, 2, existing=[3], allowed=allowed)
    bad2.chosen = bad2.new
    bad2.objective += 1
    probs = check_solution(bad2, d, w, SitingRules(
        standard_s=400, p=2, existing=[3], allowed=allowed)).problems
    assert any("existing" in p for p in probs) and any("objective" in p for p in probs)
    cap = np.full(d.shape[1], 30.0)
    c = capacitated_mclp(d, w, 400, 2, cap)
    c.assignment = c.assignment * 3
    assert not check_solution(c, d, w, SitingRules(standard_s=400, p=2, capacity=cap)).ok


# --- against spopt (optional) -------------------------------------------------------------------

def test_same_objectives_as_spopt():
    spopt_locate = pytest.importorskip("spopt.locate")
    pulp = pytest.importorskip("pulp")
    import warnings

    rng = np.random.default_rng(7)
    n, m = 60, 15
    xy_d, xy_c = rng.uniform(0, 10, (n, 2)), rng.uniform(0, 10, (m, 2))
    dist = np.sqrt(((xy_d[:, None] - xy_c[None]) ** 2).sum(-1)) * 60  # "seconds"
    w = rng.integers(1, 50, n).astype(float)
    s = 180.0
    sparse_t = np.where(dist <= 3 * s, dist, INF)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PuLP 3.x deprecates PULP_CBC_CMD; spopt's own warnings
        solver = pulp.PULP_CBC_CMD(msg=False)
        ref = spopt_locate.MCLP.from_cost_matrix(dist, w, s, p_facilities=4).solve(solver)
        can = (dist <= s).any(axis=1)  # spopt's LSCP is infeasible with uncoverable demand
        ref_l = spopt_locate.LSCP.from_cost_matrix(dist[can], s).solve(solver)
        penal = np.where(np.isfinite(sparse_t), sparse_t, 3 * s)
        ref_p = spopt_locate.PMedian.from_cost_matrix(penal, w, p_facilities=4).solve(solver)
    res = mclp(sparse_t, w, s, 4)
    assert res.objective == pytest.approx(pulp.value(ref.problem.objective))
    assert_ok(res, sparse_t, w, standard_s=s, p=4)
    rl = lscp(sparse_t, s)
    assert rl.objective == pytest.approx(pulp.value(ref_l.problem.objective))
    assert_ok(rl, sparse_t, w, standard_s=s)
    rp = p_median(sparse_t, w, 4, unserved_s=3 * s)
    assert rp.objective == pytest.approx(pulp.value(ref_p.problem.objective), rel=1e-6)
    assert_ok(rp, sparse_t, w, p=4, unserved_s=3 * s)


def test_row_dominance_drops_exactly_the_implied_rows():
    from emgis.shelters.siting.matrix import _undominated_rows

    rng = np.random.default_rng(3)
    for density in [0.15, 0.35] * 15:
        D = (rng.random((25, 8)) < density).astype(float)
        D = np.unique(D, axis=0)  # identical rows are merged before
        keep = _undominated_rows(sparse.csr_array(D))
        sets = [set(np.flatnonzero(r)) for r in D]
        expect = [not any(k != i and sets[k] and sets[k] <= sets[i] for k in range(len(sets)))
                  for i in range(len(sets))]
        assert keep.tolist() == expect
        pairs = float((D.sum(axis=0) ** 2).sum())
        if pairs < len(D) ** 2:  # the sparse path runs when its overlap bound is below n²
            assert _undominated_rows(sparse.csr_array(D), max_pairs=pairs).tolist() == expect
        # too big: all kept
        assert _undominated_rows(sparse.csr_array(D), max_pairs=min(pairs, len(D) ** 2) - 1).all()
