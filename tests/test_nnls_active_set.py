"""Tests for the exact block-principal-pivoting NNLS (aujax.optim, method="active_set")."""

import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
from _nnls_helpers import _gap, _rng, _with_condition

from aujax.optim import nnls
from aujax.optim._active_set import masked_cholesky_solve


def _assert_kkt(a, b, x, *, free=None, ridge=0.0, rtol=1e-8):
    n = a.shape[1]
    free = np.zeros(n, bool) if free is None else np.asarray(free)
    g = a.T @ (a @ x - b) + ridge * x
    scale = rtol * (np.linalg.norm(a.T @ b) + 1e-300)
    assert np.all(x[~free] >= 0.0)
    at_lo = ~free & (x == 0.0)
    assert np.all(g[at_lo] >= -scale), g[at_lo]
    assert np.all(np.abs(g[~at_lo]) <= scale), g[~at_lo]


def _sparse_rhs(rng, a, batch, noise=0.05):
    n = a.shape[1]
    levels = np.where(rng.random((batch, n)) < 0.3, rng.uniform(0.0, 2.0, (batch, n)), 0.0)
    return levels @ a.T + noise * rng.normal(size=(batch, a.shape[0]))


@pytest.mark.parametrize("cond", [10.0, 1e4])
def test_matches_scipy_and_kkt(cond):
    rng = _rng(0)
    a = _with_condition(rng, 20, 6, cond)
    b = np.concatenate([_sparse_rhs(rng, a, 6), rng.normal(size=(6, 20))])
    res = nnls(a, b, method="active_set", chunk=5)  # several chunks and passes
    assert res.x.dtype == jnp.float64
    assert np.all(np.asarray(res.converged))
    its = np.asarray(res.iterations)
    assert its.min() >= 1 and its.max() < 50
    assert np.max(np.asarray(res.kkt_residual)) <= 1e-9
    for i in range(b.shape[0]):
        x = np.asarray(res.x[i])
        x_ref = scipy.optimize.nnls(a, b[i])[0]
        assert _gap(a, b[i], x, x_ref) <= 1e-9
        _assert_kkt(a, b[i], x, rtol=1e-8 if cond < 100 else 1e-6)
        assert float(res.residual[i]) == pytest.approx(np.linalg.norm(a @ x - b[i]), rel=1e-9)


def test_rank_deficient_and_duplicate_columns():
    rng = _rng(1)
    base = rng.normal(size=(20, 4))
    dup = np.concatenate([base, base[:, :2]], axis=1)  # duplicate columns (20, 6)
    low = base @ rng.normal(size=(4, 6))  # rank 4 with 6 columns (dependent, mixed signs)
    for a in (dup, low):
        b = np.concatenate([rng.normal(size=(6, 20)), _sparse_rhs(rng, a, 6, noise=0.0)])
        res = nnls(a, b, method="active_set")
        assert np.all(np.asarray(res.converged))
        for i in range(b.shape[0]):
            x = np.asarray(res.x[i])
            x_ref = scipy.optimize.nnls(a, b[i])[0]
            assert _gap(a, b[i], x, x_ref) <= 1e-9
            assert np.all(x >= 0.0)


def test_zero_rhs_and_all_zero_solution():
    rng = _rng(2)
    a = rng.normal(size=(20, 6))
    res = nnls(a, np.zeros((12, 20)), method="active_set")
    np.testing.assert_array_equal(np.asarray(res.x), 0.0)
    assert np.all(np.asarray(res.converged))
    # a right-hand side in the negative polar cone (A^T b <= 0): the solution is x = 0
    a_pos = np.abs(a)
    b_neg = -np.abs(rng.normal(size=(12, 20)))
    res = nnls(a_pos, b_neg, method="active_set")
    np.testing.assert_array_equal(np.asarray(res.x), 0.0)
    assert np.all(np.asarray(res.converged))
    _assert_kkt(a_pos, b_neg[0], np.asarray(res.x[0]))


def test_batch_shapes_vmap_and_jit():
    rng = _rng(3)
    a = rng.normal(size=(20, 6))
    b = rng.normal(size=(12, 20))
    res = nnls(a, b.reshape(3, 4, 20), method="active_set")
    assert res.x.shape == (3, 4, 6) and res.iterations.shape == (3, 4)
    one = jax.jit(jax.vmap(lambda bi: nnls(a, bi, method="active_set").x))(b[:4])
    np.testing.assert_allclose(np.asarray(one), np.asarray(res.x[0]), atol=1e-12)
    for i in range(4):
        x_ref = scipy.optimize.nnls(a, b[i])[0]
        np.testing.assert_allclose(np.asarray(one[i]), x_ref, atol=1e-10)


def test_float32():
    rng = _rng(4)
    a = _with_condition(rng, 20, 6, 20.0)
    b = _sparse_rhs(rng, a, 12)
    res = nnls(jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32), method="active_set")
    assert res.x.dtype == jnp.float32
    assert np.all(np.asarray(res.converged))
    for i in range(b.shape[0]):
        x_ref = scipy.optimize.nnls(a, b[i])[0]
        assert _gap(a, b[i], np.asarray(res.x[i], np.float64), x_ref) <= 1e-4


def test_fallback_to_projected_gradient():
    rng = _rng(5)
    a = _with_condition(rng, 20, 6, 30.0)
    b = rng.normal(size=(12, 20))
    exact = nnls(a, b, method="active_set")
    capped = nnls(a, b, method="active_set", max_pivots=1)  # most problems need more pivots
    its = np.asarray(capped.iterations)
    assert np.sum(its > 1) >= 3  # fallback iterations are added to the pivot
    assert np.all(np.asarray(capped.converged))
    for i in range(b.shape[0]):
        x_ref = scipy.optimize.nnls(a, b[i])[0]
        assert _gap(a, b[i], np.asarray(capped.x[i]), x_ref) <= 1e-8
        assert _gap(a, b[i], np.asarray(exact.x[i]), x_ref) <= 1e-12


def test_free_variables_ridge_and_warm_start():
    rng = _rng(6)
    a = rng.normal(size=(20, 6))
    b = rng.normal(size=(12, 20))
    free = np.array([True, False, False, True, False, False])
    ridge = 0.3
    ex = nnls(a, b, method="active_set", free=free, ridge=ridge)
    assert np.all(np.asarray(ex.converged))
    a_aug = np.concatenate([a, np.sqrt(ridge) * np.eye(6)])  # the ridge as extra rows
    lower = np.where(free, -np.inf, 0.0)
    for i in range(12):
        x = np.asarray(ex.x[i])
        b_aug = np.concatenate([b[i], np.zeros(6)])
        ref = scipy.optimize.lsq_linear(a_aug, b_aug, bounds=(lower, np.inf), method="bvls")
        assert _gap(a_aug, b_aug, x, ref.x) <= 1e-9
        _assert_kkt(a, b[i], x, free=free, ridge=ridge)
    warm = nnls(a, b, method="active_set", free=free, ridge=ridge, x0=ex.x)
    np.testing.assert_array_equal(np.asarray(warm.iterations), 1)  # the optimal face at once
    np.testing.assert_allclose(np.asarray(warm.x), np.asarray(ex.x), atol=1e-12)


def test_auto_method_and_bad_input():
    rng = _rng(7)
    a = rng.normal(size=(20, 6))
    b = rng.normal(size=(12, 20))
    auto = nnls(a, b, method="auto")
    exact = nnls(a, b, method="active_set")
    np.testing.assert_array_equal(np.asarray(auto.iterations), np.asarray(exact.iterations))
    upper = np.full(6, 0.1)
    auto_box = nnls(a, b, method="auto", upper=upper)  # the box-constrained pivoting
    exact_box = nnls(a, b, method="active_set", upper=upper)
    np.testing.assert_array_equal(np.asarray(auto_box.x), np.asarray(exact_box.x))
    with pytest.raises(ValueError, match="method"):
        nnls(a, b, method="simplex")
    with pytest.raises(ValueError, match="fallback"):
        nnls(a, b, method="active_set", fallback=1)
    with pytest.raises(ValueError, match="max_pivots"):
        nnls(a, b, method="active_set", max_pivots=0)
    with pytest.raises(ValueError, match="chunk"):
        nnls(a, b, method="active_set", chunk=0)


def test_masked_cholesky_solve_faces_and_dropped_variable():
    rng = _rng(8)
    a = rng.normal(size=(12, 5))
    a[:, 3] = a[:, 1]  # duplicate column
    g = a.T @ a
    h = rng.normal(size=(5, 4))
    f = np.array(
        [[1, 1, 0, 1], [1, 0, 1, 1], [0, 1, 1, 1], [1, 1, 0, 0], [1, 0, 1, 1]], bool
    )  # (n, C)
    x, kept = masked_cholesky_solve(jnp.asarray(g), jnp.asarray(f), jnp.asarray(h), pivot_tol=1e-12)
    x, kept = np.asarray(x), np.asarray(kept)
    # column 0: F = {0, 1, 3, 4} holds the duplicate pair: variable 3 is dropped
    assert kept[:, 0].tolist() == [True, True, False, False, True]
    assert kept[:, 1].tolist() == [True, False, True, True, False]
    for c in range(4):
        face = kept[:, c]
        expect = np.zeros(5)
        expect[face] = np.linalg.solve(g[np.ix_(face, face)], h[face, c])
        np.testing.assert_allclose(x[:, c], expect, atol=1e-10)


def test_masked_cholesky_solve_computes_each_entry_once():
    """The compiled face solve holds each entry's arithmetic once (no re-computation in fusions).

    Every entry ends on a division, which XLA materialises; with entries ending on a
    multiplication, XLA fused both substitutions into each output entry: 1,770 instead of 585
    multiply/subtract/divide instructions for n = 10, ~2x the solver's time.
    """
    n = 10
    solve = jax.jit(functools.partial(masked_cholesky_solve, pivot_tol=1e-12))
    text = solve.lower(jnp.eye(n), jnp.ones((n, 4), bool), jnp.ones((n, 4))).compile().as_text()
    ops = len(re.findall(r"= \S+ (?:multiply|subtract|divide)\(", text))
    # Cholesky (pivots, entries with their divisions) + forward and back substitution
    essential = sum(2 * j + (n - 1 - j) * (2 * j + 1) for j in range(n)) + 2 * n * n
    assert essential == 575
    assert ops <= 1.25 * essential, ops


def test_per_problem_matrices_match_scipy():
    """A 3-D A (one matrix per problem, e.g. per-frame Jacobians) runs the single-problem pivoting
    under vmap; free variables and a ridge as in the top-down engine's Gauss-Newton step."""
    rng = _rng(9)
    a = np.stack([_with_condition(rng, 20, 6, c) for c in (3.0, 30.0, 300.0, 1e3)])
    a[:, :, 4:] *= 100.0  # badly scaled free columns (pose) beside the bounded ones
    b = rng.normal(size=(4, 20))
    free = np.array([False, False, False, False, True, True])
    res = nnls(a, b, method="active_set", free=free, ridge=1e-6)
    assert np.all(np.asarray(res.converged))
    assert np.max(np.asarray(res.iterations)) < 20
    lower = np.where(free, -np.inf, 0.0)
    for i in range(4):
        a_aug = np.concatenate([a[i], 1e-3 * np.eye(6)])
        b_aug = np.concatenate([b[i], np.zeros(6)])
        ref = scipy.optimize.lsq_linear(a_aug, b_aug, bounds=(lower, np.inf), method="bvls",
                                        tol=1e-14)  # fmt: skip
        assert _gap(a_aug, b_aug, np.asarray(res.x[i]), ref.x) <= 1e-9
    # the same problems one at a time under the caller's vmap, without the APG fallback
    one = jax.jit(jax.vmap(lambda ai, bi: nnls(ai, bi, method="active_set", free=free,
                                               ridge=1e-6, fallback=False)))(a, b)  # fmt: skip
    np.testing.assert_allclose(np.asarray(one.x), np.asarray(res.x), rtol=1e-10, atol=1e-12)
    # one problem starts from its unconstrained solution's positive set (a pseudo-inverse), a
    # 3-D A from every variable passive: one face solve more at most
    its_one, its = np.asarray(one.iterations), np.asarray(res.iterations)
    assert np.all((its_one <= its) & (its_one >= its - 1))


def test_no_fallback_reports_unfinished_problems():
    rng = _rng(10)
    a = np.stack([_with_condition(rng, 20, 6, 30.0) for _ in range(8)])
    b = rng.normal(size=(8, 20))
    capped = nnls(a, b, method="active_set", max_pivots=1, fallback=False)
    its = np.asarray(capped.iterations)
    conv = np.asarray(capped.converged)
    np.testing.assert_array_equal(its, 1)
    assert (~conv).sum() >= 3  # F_0 = all variables is rarely the optimal face
    assert np.all(np.asarray(capped.kkt_residual)[~conv] > 1e-6)
    exact = nnls(a, b, method="active_set", fallback=False)
    assert np.all(np.asarray(exact.converged))
    for i in range(8):
        assert _gap(a[i], b[i], np.asarray(exact.x[i]), scipy.optimize.nnls(a[i], b[i])[0]) <= 1e-12


@pytest.mark.parametrize("shared", [True, False])
def test_box_constrained_pivoting_matches_scipy(shared):
    """0 <= x <= u (some bounds inf, one variable free) by the three-set pivoting against SciPy's
    bounded least squares; warm starts at the bounds give the same optimum."""
    from scipy.optimize import lsq_linear

    rng = _rng(11)
    n, m, batch = 7, 25, 9
    a = rng.normal(size=(m, n)) if shared else rng.normal(size=(batch, m, n))
    b = rng.normal(size=(batch, m)) * 3.0
    upper = np.array([0.2, 0.5, np.inf, 0.1, 1.0, 0.3, np.inf])
    free = np.zeros(n, bool)
    free[4] = True
    lo = np.where(free, -np.inf, 0.0)
    hi = np.where(free, np.inf, upper)
    res = nnls(a, b, upper=upper, free=free, method="active_set")
    assert bool(np.all(np.asarray(res.converged)))
    warm = nnls(a, b, upper=upper, free=free, method="active_set", x0=np.minimum(upper, 5.0))
    for i in range(batch):
        ai = a if shared else a[i]
        ref = lsq_linear(ai, b[i], bounds=(lo, hi), method="bvls", tol=1e-14).x
        np.testing.assert_allclose(np.asarray(res.x[i]), ref, atol=1e-9)
        np.testing.assert_allclose(np.asarray(warm.x[i]), ref, atol=1e-9)
    x = np.asarray(res.x)
    assert np.all(x[:, ~free] >= 0.0) and np.all(x[:, ~free] <= upper[~free])
    assert np.any(np.isclose(x[:, ~free], upper[~free][None]))  # some bounds are active
