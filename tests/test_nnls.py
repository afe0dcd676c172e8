"""Tests for the batched projected-gradient NNLS (aujax.optim, seed 000 eq. 2)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
from _nnls_helpers import _gap, _rng, _with_condition
from jax.test_util import check_grads

from aujax.optim import NNLSResult, default_tolerance, lipschitz_constant, nnls


def _assert_kkt(a, b, x, *, upper=None, free=None, ridge=0.0, rtol=1e-7):
    """KKT conditions of the box-constrained least-squares problem at x."""
    n = a.shape[1]
    upper = np.full(n, np.inf) if upper is None else np.broadcast_to(upper, (n,))
    free = np.zeros(n, bool) if free is None else np.asarray(free)
    g = a.T @ (a @ x - b) + ridge * x
    scale = rtol * (np.linalg.norm(a.T @ b) + 1e-300)
    bounded = ~free
    assert np.all(x[bounded] >= 0.0), "x >= 0"
    assert np.all(x[bounded] <= upper[bounded]), "x <= upper"
    at_hi = bounded & (x == upper)
    at_lo = bounded & (x == 0.0) & ~at_hi  # upper = 0 fixes x = 0: any gradient sign is fine
    inside = ~(at_lo | at_hi)
    assert np.all(g[at_lo] >= -scale), f"gradient >= 0 where x = 0: {g[at_lo]}"
    assert np.all(g[at_hi] <= scale), f"gradient <= 0 where x = upper: {g[at_hi]}"
    assert np.all(np.abs(g[inside]) <= scale), f"gradient = 0 inside: {g[inside]}"
    # complementary slackness on the lower bound
    lo = bounded & ~at_hi
    assert np.all(np.abs(x[lo] * g[lo]) <= scale * (np.abs(x[lo]) + 1e-300))


# ------------------------------------------------------------------------------------------------
# agreement with SciPy


@pytest.mark.parametrize("cond", [10.0, 1e4])
def test_matches_scipy_well_and_ill_conditioned(cond):
    rng = _rng(int(cond))
    a = _with_condition(rng, 30, 8, cond)
    b = rng.normal(size=(6, 30))
    res = nnls(a, b, max_iter=10_000)  # cond(A^T A) = 1e8 takes FISTA a few thousand iterations
    assert isinstance(res, NNLSResult)
    assert res.x.shape == (6, 8) and res.iterations.shape == (6,)
    assert res.x.dtype == jnp.float64
    assert bool(jnp.all(res.converged))
    assert np.all(np.asarray(res.kkt_residual) <= 1e-10)
    for i in range(6):
        x_ref, r_ref = scipy.optimize.nnls(a, b[i])
        x = np.asarray(res.x[i])
        assert _gap(a, b[i], x, x_ref) <= 1e-6
        np.testing.assert_allclose(float(res.residual[i]), r_ref, rtol=1e-6)
        _assert_kkt(a, b[i], x, rtol=1e-7)
    # some components sit exactly at the bound, some are strictly positive
    x = np.asarray(res.x)
    assert np.any(x == 0.0) and np.any(x > 0.0)


def test_known_solution_with_zero_components():
    """b built so that x* (with zeros and a strictly positive multiplier there) is the solution."""
    rng = _rng(1)
    a = rng.normal(size=(25, 7))
    x_star = np.array([1.5, 0.0, 0.7, 0.0, 2.0, 0.0, 0.3])
    lam = np.array([0.0, 0.8, 0.0, 1.2, 0.0, 0.5, 0.0])  # gradient at x*: >0 on the zero set
    b = a @ x_star - a @ np.linalg.solve(a.T @ a, lam)
    res = nnls(a, b)
    np.testing.assert_allclose(np.asarray(res.x), x_star, atol=1e-9)
    assert np.all(np.asarray(res.x)[x_star == 0.0] == 0.0)
    _assert_kkt(a, b, np.asarray(res.x))


def test_rank_deficient_and_duplicate_columns():
    rng = _rng(2)
    base = rng.normal(size=(20, 4))
    a_dup = np.concatenate([base, base[:, :2]], axis=1)  # duplicate columns
    a_wide = rng.normal(size=(5, 9))  # m < n
    a_low = base @ rng.normal(size=(4, 7))  # rank 4 with 7 columns
    for a in (a_dup, a_wide, a_low):
        b = rng.normal(size=(3, a.shape[0])) + (a @ np.abs(rng.normal(size=(a.shape[1], 3)))).T
        res = nnls(a, b, max_iter=5000)
        assert bool(jnp.all(res.converged))
        for i in range(3):
            x_ref, _ = scipy.optimize.nnls(a, b[i])
            x = np.asarray(res.x[i])
            assert _gap(a, b[i], x, x_ref) <= 1e-6
            _assert_kkt(a, b[i], x, rtol=1e-7)


def test_zero_rhs_and_negative_cone():
    rng = _rng(3)
    a = np.abs(rng.normal(size=(15, 5)))  # non-negative columns
    b = np.stack([np.zeros(15), -a @ np.abs(rng.normal(size=5)), -np.abs(rng.normal(size=15))])
    res = nnls(a, b)
    np.testing.assert_array_equal(np.asarray(res.x), 0.0)
    assert bool(jnp.all(res.converged))
    assert int(res.iterations[0]) == 0  # b = 0: x = 0 is already optimal
    np.testing.assert_allclose(np.asarray(res.residual), np.linalg.norm(b, axis=1), rtol=1e-12)


def test_upper_bounds_match_lsq_linear():
    rng = _rng(4)
    a = rng.normal(size=(30, 6))
    x_true = np.array([3.0, 0.5, 2.0, 0.0, 1.0, 4.0])
    b = a @ x_true + 0.1 * rng.normal(size=30)
    upper = np.array([1.0, np.inf, 1.5, 2.0, 0.0, 2.5])  # upper = 0 fixes a variable
    res = nnls(a, b, upper=upper)
    # lsq_linear needs lower < upper: a 1e-14 box stands in for the fixed variable
    ub = np.maximum(upper, 1e-14)
    ref = scipy.optimize.lsq_linear(a, b, bounds=(0.0, ub), method="bvls", tol=1e-14)
    x = np.asarray(res.x)
    assert bool(res.converged)
    assert _gap(a, b, x, ref.x) <= 1e-6
    assert np.any(x == upper)  # some upper bounds are active
    _assert_kkt(a, b, x, upper=upper)
    # per-problem upper bounds, one row each
    ups = np.stack([upper, np.full(6, np.inf)])
    res2 = nnls(a, np.stack([b, b]), upper=ups)
    np.testing.assert_allclose(np.asarray(res2.x[0]), x, atol=1e-9)
    x_free, _ = scipy.optimize.nnls(a, b)
    np.testing.assert_allclose(np.asarray(res2.x[1]), x_free, atol=1e-8)


def test_ridge_matches_augmented_nnls():
    rng = _rng(5)
    a = _with_condition(rng, 12, 6, 1e3)
    b = rng.normal(size=12)
    ridge = 0.3
    res = nnls(a, b, ridge=ridge)
    a_aug = np.concatenate([a, np.sqrt(ridge) * np.eye(6)])
    b_aug = np.concatenate([b, np.zeros(6)])
    x_ref, _ = scipy.optimize.nnls(a_aug, b_aug)
    x = np.asarray(res.x)
    assert _gap(a_aug, b_aug, x, x_ref) <= 1e-6
    np.testing.assert_allclose(x, x_ref, atol=1e-8)
    _assert_kkt(a, b, x, ridge=ridge)
    # the ridge also acts on free variables: compare with unconstrained ridge regression
    free = np.ones(6, bool)
    res_free = nnls(a, b, ridge=ridge, free=free)
    np.testing.assert_allclose(
        np.asarray(res_free.x), np.linalg.solve(a.T @ a + ridge * np.eye(6), a.T @ b), atol=1e-8
    )


def test_free_variables_match_lsq_linear():
    rng = _rng(6)
    a = rng.normal(size=(20, 6))
    b = rng.normal(size=20) - 2.0 * a[:, 0]  # pushes x_0 negative: only allowed because free
    free = np.array([True, False, False, True, False, False])
    upper = np.array([0.5, np.inf, np.inf, 0.1, 0.4, np.inf])  # ignored for free variables
    res = nnls(a, b, free=free, upper=upper)
    lower = np.where(free, -np.inf, 0.0)
    hi = np.where(free, np.inf, upper)
    ref = scipy.optimize.lsq_linear(a, b, bounds=(lower, hi), method="bvls", tol=1e-14)
    x = np.asarray(res.x)
    assert x[0] < 0.0
    assert _gap(a, b, x, ref.x) <= 1e-6
    _assert_kkt(a, b, x, upper=upper, free=free)


# ------------------------------------------------------------------------------------------------
# warm starts, batching, vmap, dtypes


def test_warm_start_from_solution_takes_fewer_iterations():
    rng = _rng(7)
    a = _with_condition(rng, 30, 10, 1e3)
    b = rng.normal(size=(4, 30))
    cold = nnls(a, b)
    warm = nnls(a, b, x0=cold.x)
    assert np.all(np.asarray(warm.iterations) < np.asarray(cold.iterations))
    assert np.all(np.asarray(warm.iterations) <= 2)
    np.testing.assert_allclose(np.asarray(warm.x), np.asarray(cold.x), atol=1e-9)
    # an infeasible warm start is projected first and still converges to the solution
    bad = nnls(a, b, x0=-np.ones(10))
    np.testing.assert_allclose(np.asarray(bad.x), np.asarray(cold.x), atol=1e-8)
    # a warm start far from the solution also converges
    # (its KKT residual is relative to the larger residual at x0, see NNLSResult)
    far = nnls(a, b, x0=100.0 * np.ones((4, 10)))
    assert bool(jnp.all(far.converged))
    for i in range(4):
        assert _gap(a, b[i], np.asarray(far.x[i]), np.asarray(cold.x[i])) <= 1e-9


def test_shared_a_batch_equals_loop_and_queue():
    rng = _rng(8)
    a = rng.normal(size=(16, 5))
    b = rng.normal(size=(2, 3, 16))
    res = nnls(a, b)
    assert res.x.shape == (2, 3, 5) and res.residual.shape == (2, 3)
    few_slots = nnls(a, b, slots=4)  # 6 problems through 4 slots: refills
    for i in range(2):
        for j in range(3):
            one = nnls(a, b[i, j])
            assert one.x.shape == (5,) and one.iterations.shape == ()
            np.testing.assert_allclose(np.asarray(res.x[i, j]), np.asarray(one.x), atol=1e-12)
            assert int(res.iterations[i, j]) == int(one.iterations)
    np.testing.assert_allclose(np.asarray(few_slots.x), np.asarray(res.x), atol=1e-12)
    np.testing.assert_array_equal(np.asarray(few_slots.iterations), np.asarray(res.iterations))
    # problems that hit the iteration cap leave the queue too
    capped = nnls(a, b, slots=2, max_iter=5, tol=1e-14)
    its = np.asarray(capped.iterations)
    assert np.all(its == 5) and not bool(jnp.any(capped.converged))


def test_per_problem_a_equals_loop():
    rng = _rng(9)
    a = rng.normal(size=(5, 14, 4))
    b = rng.normal(size=(5, 14))
    upper = np.abs(rng.normal(size=(5, 4)))
    res = nnls(a, b, upper=upper, slots=2)
    for i in range(5):
        one = nnls(a[i], b[i], upper=upper[i])
        np.testing.assert_allclose(np.asarray(res.x[i]), np.asarray(one.x), atol=1e-8)
        ref = scipy.optimize.lsq_linear(a[i], b[i], bounds=(0.0, upper[i]), method="bvls")
        assert _gap(a[i], b[i], np.asarray(res.x[i]), ref.x) <= 1e-6
    # unscaled iteration (per-problem KKT weights) through the queue
    plain = nnls(a, b, upper=upper, slots=2, jacobi=False)
    assert bool(jnp.all(plain.converged))
    np.testing.assert_allclose(np.asarray(plain.x), np.asarray(res.x), atol=1e-7)


def test_vmap_and_jit():
    rng = _rng(10)
    a = rng.normal(size=(5, 12, 4))
    b = rng.normal(size=(5, 12))
    batched = nnls(a, b)
    mapped = jax.vmap(lambda ai, bi: nnls(ai, bi).x)(jnp.asarray(a), jnp.asarray(b))
    np.testing.assert_allclose(np.asarray(mapped), np.asarray(batched.x), atol=1e-8)
    # shared A, vmapped over b and a traced upper bound, inside jit
    up = jnp.full((5, 4), 0.5)
    f = jax.jit(jax.vmap(lambda bi, ui: nnls(a[0], bi, upper=ui).x))
    out = f(jnp.asarray(b), up)
    np.testing.assert_allclose(np.asarray(out), np.asarray(nnls(a[0], b, upper=up).x), atol=1e-8)


def test_float32_path():
    rng = _rng(11)
    a64 = _with_condition(rng, 40, 10, 30.0)
    b64 = rng.normal(size=(8, 40)) + (a64 @ np.abs(rng.normal(size=(10, 8)))).T
    res = nnls(jnp.asarray(a64, jnp.float32), jnp.asarray(b64, jnp.float32))
    assert res.x.dtype == jnp.float32 and res.residual.dtype == jnp.float32
    assert default_tolerance(jnp.float32) == 1e-5
    assert bool(jnp.all(res.converged))
    for i in range(8):
        x_ref, _ = scipy.optimize.nnls(a64, b64[i])
        assert _gap(a64, b64[i], np.asarray(res.x[i], np.float64), x_ref) <= 1e-4


def test_jacobi_scaling_and_lipschitz():
    rng = _rng(12)
    a = rng.normal(size=(30, 6)) * np.array([1.0, 10.0, 0.1, 1.0, 3.0, 0.3])[None]
    b = rng.normal(size=(3, 30)) + (a @ np.abs(rng.normal(size=(6, 3)))).T
    res = nnls(a, b, max_iter=20000)
    plain = nnls(a, b, jacobi=False, max_iter=20000)
    assert np.all(np.asarray(res.iterations) < np.asarray(plain.iterations))
    for i in range(3):
        x_ref, _ = scipy.optimize.nnls(a, b[i])
        assert _gap(a, b[i], np.asarray(res.x[i]), x_ref) <= 1e-6
        assert _gap(a, b[i], np.asarray(plain.x[i]), x_ref) <= 1e-6
    lam = np.linalg.eigvalsh(a.T @ a)[-1]
    lip = float(lipschitz_constant(a))
    assert lam <= lip <= 1.05 * lam
    lips = np.asarray(lipschitz_constant(np.stack([a, 2.0 * a])))
    np.testing.assert_allclose(lips, [lip, 4.0 * lip], rtol=1e-6)
    # a precomputed constant gives the same solution, with and without the Jacobi scaling
    given = nnls(a, b, lipschitz=lip, max_iter=20000)
    given_plain = nnls(a, b, lipschitz=lip, jacobi=False, max_iter=20000)
    for i in range(3):
        x_ref, _ = scipy.optimize.nnls(a, b[i])
        assert _gap(a, b[i], np.asarray(given.x[i]), x_ref) <= 1e-9
        assert _gap(a, b[i], np.asarray(given_plain.x[i]), x_ref) <= 1e-9


def test_iteration_cap_and_zero_column():
    rng = _rng(13)
    a = _with_condition(rng, 20, 6, 1e4)
    b = rng.normal(size=20)
    capped = nnls(a, b, max_iter=3)
    assert not bool(capped.converged) and int(capped.iterations) == 3
    assert float(capped.kkt_residual) > 1e-10
    a0 = np.concatenate([a, np.zeros((20, 1))], axis=1)  # an all-zero column, no ridge
    res = nnls(a0, b)
    assert bool(res.converged) and float(res.x[-1]) == 0.0
    x_ref, _ = scipy.optimize.nnls(a, b)
    assert _gap(a, b, np.asarray(res.x[:-1]), x_ref) <= 1e-6


def test_forward_mode_derivative_matches_face_solution():
    """d x* / d b on the active face: dx_F = (A_F^T A_F)^{-1} A_F^T db, dx = 0 elsewhere."""
    rng = _rng(14)
    a = rng.normal(size=(20, 6))
    b = rng.normal(size=20) + a @ np.array([1.0, 0.0, 2.0, 0.0, 1.0, 0.5])
    x = np.asarray(nnls(a, b).x)
    face = x > 0
    assert 0 < face.sum() < 6
    db = rng.normal(size=20)
    _, dx = jax.jvp(lambda v: nnls(a, v).x, (jnp.asarray(b),), (jnp.asarray(db),))
    ref = np.zeros(6)
    ref[face] = np.linalg.solve(a[:, face].T @ a[:, face], a[:, face].T @ db)
    np.testing.assert_allclose(np.asarray(dx), ref, atol=1e-8)


def test_lipschitz_constant_gradients():
    a = jnp.asarray(_rng(15).normal(size=(9, 4)))
    check_grads(lipschitz_constant, (a,), order=1, modes=("fwd", "rev"))


# ------------------------------------------------------------------------------------------------
# bad input


def test_bad_input():
    a = np.ones((4, 3))
    b = np.ones(4)
    with pytest.raises(ValueError, match="A must be 2-D"):
        nnls(np.ones(4), b)
    with pytest.raises(ValueError, match="A must be 2-D"):
        nnls(np.ones((1, 2, 4, 3)), b)
    with pytest.raises(ValueError, match=r"b must have shape \(\.\.\., 4\)"):
        nnls(a, np.ones(5))
    with pytest.raises(ValueError, match=r"b must have shape \(2, 4\)"):
        nnls(np.ones((2, 4, 3)), np.ones((3, 4)))
    with pytest.raises(ValueError, match="upper must have shape"):
        nnls(a, b, upper=np.ones(4))
    with pytest.raises(ValueError, match="upper must be >= 0"):
        nnls(a, b, upper=-np.ones(3))
    with pytest.raises(ValueError, match="upper must not contain NaN"):
        nnls(a, b, upper=np.array([1.0, np.nan, 1.0]))
    with pytest.raises(ValueError, match="free must have shape"):
        nnls(a, b, free=np.ones(4, bool))
    with pytest.raises(ValueError, match="free must be a boolean"):
        nnls(a, b, free=np.ones(3))
    with pytest.raises(ValueError, match="x0 must have shape"):
        nnls(a, b, x0=np.ones((2, 3)))
    with pytest.raises(ValueError, match="x0 must be finite"):
        nnls(a, b, x0=np.array([1.0, np.inf, 0.0]))
    with pytest.raises(ValueError, match="ridge must be >= 0"):
        nnls(a, b, ridge=-1.0)
    with pytest.raises(ValueError, match="A must be finite"):
        nnls(np.array([[1.0, np.nan, 0.0]] * 4), b)
    with pytest.raises(ValueError, match="b must be finite"):
        nnls(a, np.array([1.0, np.inf, 0.0, 1.0]))
    with pytest.raises(ValueError, match="tol must be > 0"):
        nnls(a, b, tol=0.0)
    with pytest.raises(ValueError, match="max_iter must be an int >= 1"):
        nnls(a, b, max_iter=0)
    with pytest.raises(ValueError, match="slots must be an int >= 1"):
        nnls(a, b, slots=1.5)
    with pytest.raises(ValueError, match="block must be an int >= 1"):
        nnls(a, b, block=0)
    with pytest.raises(ValueError, match="lipschitz must be > 0"):
        nnls(a, b, lipschitz=0.0)
    with pytest.raises(ValueError, match="iterations must be an int >= 1"):
        lipschitz_constant(a, iterations=0)
    with pytest.raises(ValueError, match="A must be finite"):
        lipschitz_constant(np.full((2, 2), np.nan))
