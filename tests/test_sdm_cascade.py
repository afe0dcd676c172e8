"""Seed 004's ridge stages and cascade (eqs. 11-13, Algorithm 1): the ridge fit against
``sklearn.linear_model.Ridge`` and a cascade on a toy problem whose features are a smooth
nonlinear function of the parameters, with a camera re-solved from the current estimate."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from aujax.methods import sdm
from aujax.methods.sdm import (
    SOLVERS,
    RidgeRegressor,
    apply_cascade,
    apply_cascade_batch,
    choose_alpha,
    fit_ridge,
    select_alphas,
    train_cascade,
)


def _data(n, f, p, seed=0):
    rng = np.random.default_rng(seed)
    # columns of different scales and offsets, so centring and standardising matter
    x = rng.normal(size=(n, f)) * rng.uniform(0.1, 5.0, size=f) + rng.normal(size=f) * 3
    y = x[:, : min(f, p)].sum(axis=1, keepdims=True) + rng.normal(size=(n, p))
    return x, y


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("standardize", [False, True])
@pytest.mark.parametrize("shape", [(40, 7), (7, 40)], ids=["N>F", "N<F"])
def test_ridge_matches_sklearn(solver, fit_intercept, standardize, shape):
    n, f = shape
    x, y = _data(n, f, 3)
    reg = fit_ridge(
        x, y, alpha=0.7, fit_intercept=fit_intercept, standardize=standardize, solver=solver
    )
    sk = Ridge(alpha=0.7, fit_intercept=fit_intercept, solver=solver)
    model = make_pipeline(StandardScaler(with_mean=fit_intercept), sk) if standardize else sk
    model.fit(x, y)
    scale = model[0].scale_ if standardize else np.ones(f)
    assert reg.coef.shape == (f, 3) and reg.intercept.shape == (3,)
    assert reg.coef.dtype == jnp.float64
    np.testing.assert_allclose(np.asarray(reg.coef), sk.coef_.T / scale[:, None], atol=1e-10)
    want_b = sk.intercept_ if fit_intercept else np.zeros(3)
    if fit_intercept and standardize:
        want_b = sk.intercept_ - model[0].mean_ @ (sk.coef_.T / scale[:, None])
    np.testing.assert_allclose(np.asarray(reg.intercept), want_b, atol=1e-10)
    np.testing.assert_allclose(np.asarray(reg.predict(x)), model.predict(x), atol=1e-10)
    # the penalty is alpha ||W||^2 of the penalised (standardised) weights
    np.testing.assert_allclose(float(reg.penalty), 0.7 * np.sum(sk.coef_**2), rtol=1e-10)


def test_ridge_solvers_agree_and_jit():
    x, y = _data(30, 12, 4, seed=1)
    a = fit_ridge(x, y, alpha=0.3, solver="cholesky")
    b = fit_ridge(x, y, alpha=0.3, solver="svd")
    np.testing.assert_allclose(np.asarray(a.coef), np.asarray(b.coef), atol=1e-11)
    jitted = jax.jit(lambda al: fit_ridge(x, y, alpha=al).coef)(jnp.asarray(0.3))
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(a.coef), atol=1e-12)
    # one target, one row
    r1 = fit_ridge(x, y[:, 0], alpha=0.3)
    assert r1.coef.shape == (12, 1)
    np.testing.assert_allclose(np.asarray(r1.coef[:, 0]), np.asarray(a.coef[:, 0]), atol=1e-12)
    assert a.predict(x[0]).shape == (4,)
    z = RidgeRegressor.zeros(12, 4, jnp.float64)
    assert np.all(np.asarray(z.predict(x)) == 0.0)


def test_ridge_constant_column_standardized():
    x, y = _data(20, 5, 2, seed=2)
    x[:, 2] = 4.0
    reg = fit_ridge(x, y, alpha=1.0, standardize=True)
    model = make_pipeline(StandardScaler(), Ridge(alpha=1.0)).fit(x, y)
    np.testing.assert_allclose(np.asarray(reg.predict(x)), model.predict(x), atol=1e-10)


@pytest.mark.parametrize("solver", SOLVERS)
def test_choose_alpha(solver):
    x, y = _data(40, 10, 3, seed=3)
    xv, yv = _data(15, 10, 3, seed=4)
    alphas = [1e-3, 0.1, 10.0, 1e3]
    choice = choose_alpha(x, y, xv, yv, alphas=alphas, standardize=True, solver=solver)
    want = [
        np.mean((make_pipeline(StandardScaler(), Ridge(alpha=a)).fit(x, y).predict(xv) - yv) ** 2)
        for a in alphas
    ]
    np.testing.assert_allclose(choice.errors, want, rtol=1e-9)
    assert choice.alpha == alphas[int(np.argmin(want))]
    np.testing.assert_array_equal(choice.alphas, alphas)


def test_ridge_errors():
    x, y = _data(10, 3, 2)
    with pytest.raises(ValueError, match="alpha must be > 0"):
        fit_ridge(x, y, alpha=0.0)
    with pytest.raises(ValueError, match="solver must be one of"):
        fit_ridge(x, y, alpha=1.0, solver="lsqr")
    with pytest.raises(ValueError, match="same number of rows"):
        fit_ridge(x, y[:5], alpha=1.0)
    with pytest.raises(ValueError, match=r"x must have shape \(N, F\)"):
        fit_ridge(x[0], y, alpha=1.0)
    with pytest.raises(ValueError, match="NaN"):
        fit_ridge(np.where(x > 1, np.nan, x), y, alpha=1.0)
    with pytest.raises(ValueError, match="alphas must be"):
        choose_alpha(x, y, x, y, alphas=[1.0, -1.0])
    with pytest.raises(ValueError, match="features in its last axis"):
        fit_ridge(x, y, alpha=1.0).predict(x[:, :2])


# --------------------------------------------------------------------------------------------
# the cascade on a toy problem: a sample is an "image" obs = scale * h(g*), the camera is the
# least-squares scale of h(g) to obs (re-solved from the current estimate, like eq. 6), and the
# features are h(g) - obs / camera, which vanish at g = g*.

P, F = 4, 12
_rng = np.random.default_rng(0)
_M = jnp.asarray(_rng.normal(size=F) * 2.0)
_A = jnp.asarray(_rng.normal(size=(F, P)) / np.sqrt(P))
_B = jnp.asarray(_rng.normal(size=(F, P)))


def _h(g):
    return _M + _A @ g + 0.3 * jnp.sin(_B @ g)


def toy_camera(g, sample):
    hg = _h(g)
    return jnp.dot(sample["obs"], hg) / jnp.dot(hg, hg)


def toy_features(g, camera, sample):
    return _h(g) - sample["obs"] / camera


def _toy_set(n, seed, noise=0.5):
    rng = np.random.default_rng(seed)
    g_star = rng.normal(size=(n, P))
    scale = rng.uniform(0.5, 2.0, size=n)
    obs = np.asarray(jax.vmap(_h)(jnp.asarray(g_star))) * scale[:, None]
    g0 = g_star + noise * rng.normal(size=(n, P))
    return jnp.asarray(g0), jnp.asarray(g_star), {"obs": jnp.asarray(obs)}


def _rms(a, b):
    return float(np.sqrt(np.mean(np.sum((np.asarray(a) - np.asarray(b)) ** 2, axis=-1))))


@pytest.fixture(scope="module")
def toy_cascade():
    g0, gs, samples = _toy_set(120, seed=1)
    cascade = train_cascade(
        init_g=g0,
        target_g=gs,
        samples=samples,
        features=toy_features,
        camera=toy_camera,
        stages=4,
        alpha=1e-3,
        perturbations=1,
        perturbation_scale=1.0,
        key=jax.random.key(0),
        chunk=64,
    )
    return cascade, (g0, gs, samples)


def test_cascade_residual_non_increasing_and_converges(toy_cascade):
    cascade, (g0, gs, samples) = toy_cascade
    assert cascade.n_stages == 4 and cascade.rows == 240
    rss = np.asarray(cascade.rss)
    assert np.all(np.diff(rss) <= 0.0), rss
    assert not np.any(np.asarray(cascade.guarded))
    np.testing.assert_allclose(np.asarray(cascade.residual), np.sqrt(rss / 240), rtol=1e-12)
    # the objective of eq. 13 (+ penalty) at the optimum is between the new and the old RSS
    obj = np.asarray(cascade.objective)
    assert np.all(obj >= rss[1:]) and np.all(obj <= rss[:-1])
    # converges toward the target: each stage at least halves the RMS error of this toy
    res = np.asarray(cascade.residual)
    assert np.all(res[1:] < 0.5 * res[:-1]), res
    # on unseen samples too
    t0, ts, tsamp = _toy_set(40, seed=2)
    fit = apply_cascade_batch(cascade, t0, tsamp, features=toy_features, camera=toy_camera)
    assert fit.path.shape == (40, 5, P) and fit.g.shape == (40, P) and fit.camera.shape == (40,)
    errs = [_rms(fit.path[:, k], ts) for k in range(5)]
    assert errs[-1] < 0.1 * errs[0], errs
    # the camera is re-solved from the final estimate: close to the true scale
    scale = np.asarray(tsamp["obs"][:, 0] / jax.vmap(_h)(ts)[:, 0])
    assert np.median(np.abs(np.asarray(fit.camera) / scale - 1.0)) < 0.01


def test_cascade_residual_non_increasing_on_noise_features():
    """Features unrelated to the errors: the stages can only fit noise, yet never increase the
    training residual (the zero update is feasible for the ridge objective). float32 features
    with float64 parameters: the fit runs in the features' dtype."""
    g0, gs, samples = _toy_set(30, seed=5)
    noise = jnp.asarray(np.random.default_rng(6).normal(size=(30, 40)), jnp.float32)
    cascade = train_cascade(
        init_g=g0,
        target_g=gs,
        samples={"noise": noise},
        features=lambda g, c, s: s["noise"] * c,
        camera=lambda g, s: jnp.sum(jnp.tanh(g)).astype(jnp.float32),
        stages=3,
        alpha=[1e-6, 1e-2, 1.0],
        solver="svd",
        standardize=True,
    )
    rss = np.asarray(cascade.rss)
    assert np.all(np.diff(rss) <= 0.0), rss
    np.testing.assert_allclose(np.asarray(cascade.alphas), [1e-6, 1e-2, 1.0])
    assert cascade.solver == "svd" and cascade.standardize
    assert cascade.regressors.coef.dtype == jnp.float32 and cascade.rss.dtype == jnp.float64


def test_apply_reproduces_training_path():
    g0, gs, samples = _toy_set(25, seed=7)
    kw = dict(features=toy_features, camera=toy_camera)
    cascade = train_cascade(
        init_g=g0, target_g=gs, samples=samples, stages=3, alpha=1e-2, chunk=10, **kw
    )
    fit = apply_cascade_batch(cascade, g0, samples, **kw)
    for k in range(4):
        np.testing.assert_allclose(
            np.sum((np.asarray(fit.path[:, k]) - np.asarray(gs)) ** 2),
            float(cascade.rss[k]),
            rtol=1e-10,
        )
    one = apply_cascade(cascade, g0[3], jax.tree.map(lambda a: a[3], samples), **kw)
    np.testing.assert_allclose(np.asarray(one.path), np.asarray(fit.path[3]), atol=1e-12)
    chunked = apply_cascade_batch(cascade, g0, samples, chunk=7, **kw)
    np.testing.assert_allclose(np.asarray(chunked.path), np.asarray(fit.path), atol=1e-12)
    two = cascade.truncated(2)
    assert two.n_stages == 2 and two.rss.shape == (3,)
    fit2 = apply_cascade_batch(two, g0, samples, **kw)
    np.testing.assert_allclose(np.asarray(fit2.g), np.asarray(fit.path[:, 2]), atol=1e-12)


def test_perturbations():
    g0, gs, samples = _toy_set(10, seed=8)
    kw = dict(
        init_g=g0,
        target_g=gs,
        samples=samples,
        features=toy_features,
        camera=toy_camera,
        stages=1,
        alpha=1.0,
        perturbations=3,
        perturbation_scale=0.5,
        chunk=64,
    )
    a = train_cascade(key=jax.random.key(1), **kw)
    b = train_cascade(key=jax.random.key(1), **kw)
    c = train_cascade(key=jax.random.key(2), **kw)
    assert a.rows == 40
    assert float(a.rss[0]) == float(b.rss[0]) and float(a.rss[0]) != float(c.rss[0])
    # zero scale: every copy is the unperturbed start
    z = train_cascade(key=jax.random.key(1), **(kw | {"perturbation_scale": 0.0}))
    np.testing.assert_allclose(float(z.rss[0]), 4 * float(jnp.sum((gs - g0) ** 2)), rtol=1e-12)
    with pytest.raises(ValueError, match="key is required"):
        train_cascade(**kw)


def test_guard_replaces_a_stage_that_would_increase_the_residual(monkeypatch):
    """Exact arithmetic never triggers the guard; a regressor that overshoots stands in for a
    stage spoiled by rounding."""
    from aujax.methods.sdm import _cascade

    fit_stage = _cascade._fit_stage

    def overshooting(x, delta, alpha, **kw):
        reg, step, finite = fit_stage(x, delta, alpha, **kw)
        return reg.replace(coef=-3.0 * reg.coef), -3.0 * step, finite

    g0, gs, samples = _toy_set(20, seed=9)
    monkeypatch.setattr(_cascade, "_fit_stage", overshooting)
    cascade = train_cascade(
        init_g=g0,
        target_g=gs,
        samples=samples,
        features=toy_features,
        camera=toy_camera,
        stages=2,
        alpha=1e-2,
    )
    assert np.all(np.asarray(cascade.guarded))
    np.testing.assert_array_equal(np.asarray(cascade.rss), float(cascade.rss[0]))
    assert np.all(np.asarray(cascade.regressors.coef) == 0.0)


def test_select_alphas():
    g0, gs, samples = _toy_set(60, seed=10)
    v0, vs, vsamp = _toy_set(20, seed=11)
    grid = [1e-4, 1e-1, 1e2]
    cascade = select_alphas(
        init_g=g0,
        target_g=gs,
        samples=samples,
        held_out_init_g=v0,
        held_out_target_g=vs,
        held_out_samples=vsamp,
        features=toy_features,
        camera=toy_camera,
        stages=3,
        alphas=grid,
    )
    errors = np.asarray(cascade.alpha_errors)
    assert errors.shape == (3, 3)
    np.testing.assert_array_equal(
        np.asarray(cascade.alphas), np.asarray(grid)[np.argmin(errors, axis=1)]
    )
    held = np.asarray(cascade.held_out_residual)
    assert held.shape == (4,) and held[-1] < 0.2 * held[0]
    # the stored held-out residual is what applying the cascade to the held-out set gives
    fit = apply_cascade_batch(cascade, v0, vsamp, features=toy_features, camera=toy_camera)
    np.testing.assert_allclose(held[-1], _rms(fit.g, vs), rtol=1e-9)
    # each stage's best held-out MSE (per target) is the held-out residual's next step
    np.testing.assert_allclose(errors.min(axis=1) * P, held[1:] ** 2, rtol=1e-9)


def test_cascade_validation():
    g0, gs, samples = _toy_set(6, seed=12)
    kw = dict(init_g=g0, target_g=gs, samples=samples, features=toy_features, camera=toy_camera)
    with pytest.raises(ValueError, match="stages must be"):
        train_cascade(stages=0, alpha=1.0, **kw)
    with pytest.raises(ValueError, match="one per stage"):
        train_cascade(stages=3, alpha=[1.0, 2.0], **kw)
    with pytest.raises(ValueError, match="target_g must have the shape"):
        train_cascade(stages=1, alpha=1.0, **(kw | {"target_g": gs[:3]}))
    with pytest.raises(ValueError, match="leading axis"):
        train_cascade(stages=1, alpha=1.0, **(kw | {"samples": {"obs": samples["obs"][:4]}}))
    with pytest.raises(ValueError, match="perturbation_scale"):
        train_cascade(
            stages=1,
            alpha=1.0,
            perturbations=1,
            perturbation_scale=-1.0,
            key=jax.random.key(0),
            **kw,
        )
    with pytest.raises(ValueError, match="NaN or inf at stage 1"):
        train_cascade(stages=1, alpha=1.0, **(kw | {"features": lambda g, c, s: jnp.log(-g)}))
    cascade = train_cascade(stages=1, alpha=1.0, **kw)
    with pytest.raises(ValueError, match="g0 must have shape"):
        apply_cascade(cascade, g0, samples, features=toy_features, camera=toy_camera)


def test_public_names():
    for name in sdm.__all__:
        assert hasattr(sdm, name), name
