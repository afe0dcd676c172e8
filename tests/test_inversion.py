"""Issue 17: the differentiable NNLS, the physics inversion for activations, and the force scores.

Float64 throughout; small random reduced models (K coordinates, m muscles, S synergies) whose
trajectories come from the exact propagator, so the inversion's answer is known.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from aujax.optim import nnls, nnls_implicit
from aujax.physics import invert_activations, simulate_reduced_exact, window_design
from aujax.train import bilateral_pairs, force_scores, pearson, signed_projection
from tests._reduced_models import random_galerkin


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


def _model(k=4, m=6, seed=0):
    return random_galerkin(k, m, seed)


def _drive(t, s, seed=1):
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * np.pi, size=s)
    return 2.0 * np.maximum(0.0, np.sin(0.1 * np.arange(t)[:, None] + phase))


# ------------------------------------------------------------------------------------------------
# nnls_implicit


def _problem(seed=0, m=12, n=6, batch=3):
    rng = np.random.default_rng(seed)
    return jnp.asarray(rng.normal(size=(m, n))), jnp.asarray(rng.normal(size=(batch, m)))


def test_nnls_implicit_solves_what_nnls_solves():
    a, b = _problem()
    free = jnp.arange(6) < 1
    x = nnls_implicit(a, b, free=free, ridge=0.1)
    ref = nnls(a, b, free=free, ridge=0.1, method="active_set").x
    np.testing.assert_allclose(x, ref, atol=1e-12)
    assert (x[:, 1:] >= 0).all() and (x[:, 1:] == 0).any()  # some bounds are active


@pytest.mark.parametrize("bounded", [False, True])
def test_nnls_implicit_gradients_match_finite_differences(bounded):
    a, b = _problem(seed=2)
    free = jnp.arange(6) < 1
    upper = jnp.asarray([np.inf, np.inf, 0.3, np.inf, 0.2, np.inf]) if bounded else None
    x = nnls_implicit(a, b, free=free, upper=upper, ridge=0.1)
    if bounded:
        assert (x == 0.3).any() or (x == 0.2).any()  # an upper bound is active somewhere

    def f(a_, b_, rho):
        return nnls_implicit(a_, b_, free=free, upper=upper, ridge=rho)

    check_grads(f, (a, b, 0.1), order=1, modes=("rev",), eps=1e-6, atol=1e-6, rtol=1e-6)


def test_nnls_implicit_gradient_of_a_bound_variable_is_zero():
    a, b = _problem(seed=3, batch=1)
    x = nnls_implicit(a, b[0])
    zero = np.flatnonzero(np.asarray(x) == 0)
    assert zero.size
    jac = jax.jacrev(lambda b_: nnls_implicit(a, b_))(b[0])
    np.testing.assert_array_equal(jac[zero], 0.0)


# ------------------------------------------------------------------------------------------------
# the inversion


def test_window_design_reproduces_the_exact_propagator():
    model = _model()
    rng = np.random.default_rng(4)
    s = 3
    syn = np.abs(rng.normal(size=(s, 6)))
    w = 12
    x0 = rng.normal(size=8)
    u = np.abs(rng.normal(size=(w - 1, s)))
    h = window_design(model, model.force_map @ syn.T, length=w, dt=0.04)
    c = h @ np.concatenate([x0, u.ravel()])
    force = np.concatenate([u, np.zeros((1, s))]) @ syn @ np.asarray(model.force_map).T
    ref, _ = simulate_reduced_exact(model, x0[:4], x0[4:], jnp.asarray(force), dt=0.04)
    np.testing.assert_allclose(c.reshape(w, 4), ref, atol=1e-10)


@pytest.mark.parametrize("synergies", [True, False])
def test_noise_free_trajectory_gives_back_its_drive(synergies):
    """No noise, no regulariser: every drive but the last frame's (which no coefficient sees)."""
    model = _model(k=4, m=4 if not synergies else 6)
    t, s = 70, 3
    rng = np.random.default_rng(5)
    syn = np.abs(rng.normal(size=(s, 6))) if synergies else np.eye(4)
    u = _drive(t, syn.shape[0])
    force = u @ syn @ np.asarray(model.force_map).T
    cs, _ = simulate_reduced_exact(model, jnp.zeros(4), jnp.zeros(4), jnp.asarray(force), dt=0.04)
    inv = invert_activations(
        model, cs, dt=0.04, synergies=jnp.asarray(syn) if synergies else None,
        smoothness=0.0, ridge=0.0, window=30,
    )  # fmt: skip
    assert float(inv.residual) < 1e-9
    np.testing.assert_allclose(inv.drive[:-1], u[:-1], atol=1e-5)
    np.testing.assert_allclose(inv.activations, np.asarray(inv.drive) @ syn, atol=1e-12)


def test_smoothness_trades_noise_for_bias_and_missing_frames_are_bridged():
    model = _model()
    t, s = 90, 3
    rng = np.random.default_rng(6)
    syn = np.abs(rng.normal(size=(s, 6)))
    u = _drive(t, s)
    force = u @ syn @ np.asarray(model.force_map).T
    cs, _ = simulate_reduced_exact(model, jnp.zeros(4), jnp.zeros(4), jnp.asarray(force), dt=0.04)
    cs = np.asarray(cs)
    noisy = cs + 0.02 * np.std(cs) * rng.normal(
        size=cs.shape
    )  # measured: 0.385 (lambda 0), 0.054 (1)

    def err(lam, valid=None):
        inv = invert_activations(model, noisy, dt=0.04, synergies=jnp.asarray(syn),
                                 smoothness=lam, window=30, valid=valid)  # fmt: skip
        return float(np.sqrt(np.mean((np.asarray(inv.drive)[:-1] - u[:-1]) ** 2)))

    rough, smooth = err(0.0), err(1.0)
    assert smooth < 0.5 * rough
    valid = np.ones(t, bool)
    valid[40:46] = False
    noisy[40:46] = np.nan  # missing frames: no weight, the dynamics predict them
    assert err(1.0, valid) < 1.5 * smooth


def test_inversion_gradient_matches_finite_differences():
    model = _model(k=3, m=4)
    rng = np.random.default_rng(7)
    syn = np.abs(rng.normal(size=(2, 4)))
    u = _drive(10, 2)
    force = u @ syn @ np.asarray(model.force_map).T
    cs, _ = simulate_reduced_exact(model, jnp.zeros(3), jnp.zeros(3), jnp.asarray(force), dt=0.04)
    cs = cs + 0.01 * rng.normal(size=cs.shape)

    def f(c, lam):
        inv = invert_activations(model, c, dt=0.04, synergies=jnp.asarray(syn),
                                 smoothness=lam, ridge=1e-3, window=6)  # fmt: skip
        return inv.drive

    check_grads(f, (cs, 0.5), order=1, modes=("rev",), eps=1e-6, atol=1e-5, rtol=1e-5)


def test_inversion_errors_name_the_argument():
    model = _model()
    with pytest.raises(ValueError, match="coefficients must be"):
        invert_activations(model, jnp.zeros((10, 3)), dt=0.04)
    with pytest.raises(ValueError, match="force_map"):
        invert_activations(model.replace(force_map=None), jnp.zeros((10, 4)), dt=0.04)
    with pytest.raises(ValueError, match="synergies must be"):
        invert_activations(model, jnp.zeros((10, 4)), dt=0.04, synergies=jnp.ones((2, 5)))


# ------------------------------------------------------------------------------------------------
# force scores


def test_pearson_scores_a_constant_estimate_as_zero_and_a_constant_truth_as_undefined():
    y = np.sin(np.arange(20.0))
    assert pearson(np.ones(20), y) == 0.0
    assert np.isnan(pearson(y, np.ones(20)))
    assert pearson(2 * y + 1, y) == pytest.approx(1.0)


def test_force_scores_see_what_g_sees():
    rng = np.random.default_rng(8)
    names = ("a_r", "a_l", "b_r", "b_l", "jaw")
    pairs = bilateral_pairs(names)
    assert pairs == [(0, 1), (2, 3), (4,)]
    g = rng.normal(size=(3, 5))
    g[:, 1] = g[:, 0]  # left and right pull alike: their split is invisible
    syn = np.abs(rng.normal(size=(2, 5)))
    truth = np.abs(rng.normal(size=(50, 2))) @ syn + 0.01 * rng.normal(size=(50, 5))
    swapped = truth.copy()
    swapped[:, [0, 1]] = truth[:, [1, 0]]  # the sides exchanged: g a is the same
    sc = force_scores(swapped, truth, force_map=g, synergies=syn, pairs=pairs)
    assert sc.null_error < 1e-12
    np.testing.assert_allclose(sc.pair_r, 1.0)
    np.testing.assert_allclose(sc.synergy_r, 1.0)
    flat = force_scores(np.ones_like(truth), truth, force_map=g, synergies=syn, pairs=pairs)
    np.testing.assert_array_equal(flat.synergy_r, 0.0)  # a constant estimate is r = 0, not dropped
    assert flat.mean_synergy_r == 0.0
    seqs = np.repeat([0, 1], 25)
    per = force_scores(truth, truth, force_map=g, synergies=syn, pairs=pairs, sequences=seqs)
    np.testing.assert_allclose(per.synergy_r_sequence, 1.0)


def test_signed_projection_keeps_the_sign():
    f = np.array([[[1.0, 0.0, 0.0], [0.0, -2.0, 0.0]]])
    d = np.array([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    np.testing.assert_allclose(signed_projection(f, d), [[1.0, -2.0]])
