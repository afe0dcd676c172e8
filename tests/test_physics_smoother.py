"""Tests of the Kalman/RTS smoother on the reduced Galerkin dynamics (aujax.physics._smoother).

Tiny models (K = 2 coordinates, m = 3 muscles), float64 (conftest enables x64).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from aujax.physics import (
    CoefficientSmoother,
    SmootherSettings,
    difference_noise,
    galerkin_model,
    kalman_log_likelihood,
    paper_model,
    reduced_state_space,
    rts_smoother,
    select_hyperparameters,
    simulate_reduced_exact,
    smooth_coefficients,
)


K, M_MUSCLES = 2, 3
DT = 0.04


def _spd(rng, n, shift):
    a = rng.normal(size=(n, n))
    return a @ a.T + shift * np.eye(n)


def _model(seed=0):
    """A stiff, damped K = 2 model (eigenfrequencies ~20-60 rad/s, like the template's)."""
    rng = np.random.default_rng(seed)
    mass = _spd(rng, K, 1.0) * 1e-3
    stiffness = _spd(rng, K, 1.0)
    damping = 0.02 * stiffness + 0.5 * mass
    force_map = np.abs(rng.normal(size=(K, M_MUSCLES)))
    return galerkin_model(mass, stiffness, damping, force_map=force_map)


def _synergies(model):
    """(K, m) synergies with K^{-1} g A^T = I: the drive is in coefficient units."""
    g, stiff = np.asarray(model.force_map), np.asarray(model.stiffness)
    return np.linalg.lstsq(g, stiff, rcond=None)[0].T  # A^T = g^+ K


def _dense_posterior(space, y, r, ok):
    """The batch Gaussian posterior of x_{0:T-1} given the valid frames, by dense algebra."""
    f, q = np.asarray(space.transition), np.asarray(space.process_cov)
    p0 = np.asarray(space.initial_cov)
    n, t = f.shape[0], y.shape[0]
    # x = L w with w = (x_0, w_0, ..., w_{T-2}) ~ N(0, blockdiag(P0, Q, ..., Q))
    lmat = np.zeros((t * n, t * n))
    for i in range(t):
        for j in range(i + 1):
            lmat[i * n : (i + 1) * n, j * n : (j + 1) * n] = np.linalg.matrix_power(f, i - j)
    cov_w = np.zeros((t * n, t * n))
    cov_w[:n, :n] = p0
    for j in range(1, t):
        cov_w[j * n : (j + 1) * n, j * n : (j + 1) * n] = q
    prior = lmat @ cov_w @ lmat.T
    rows = [i * n + c for i in range(t) if ok[i] for c in range(K)]
    h = np.eye(t * n)[rows]
    rr = np.zeros((len(rows), len(rows)))
    idx = [i for i in range(t) if ok[i]]
    for a, i in enumerate(idx):
        rr[a * K : (a + 1) * K, a * K : (a + 1) * K] = r[i]
    yy = np.concatenate([y[i] for i in idx])
    s = h @ prior @ h.T + rr
    gain = prior @ h.T @ np.linalg.inv(s)
    mean = gain @ yy
    cov = prior - gain @ h @ prior
    ll = scipy.stats.multivariate_normal(np.zeros(len(rows)), s).logpdf(yy)
    return mean.reshape(t, n), cov, ll


@pytest.mark.parametrize(("acc", "order"), [(0.0, 1), (0.7, 1), (0.0, 2)])
def test_rts_equals_dense_posterior(acc, order):
    model = _model()
    settings = SmootherSettings(
        activation_sd=1.5, activation_time=0.3, acceleration_sd=acc, drive_order=order
    )
    space = reduced_state_space(model, dt=DT, settings=settings, synergies=_synergies(model))
    rng = np.random.default_rng(1)
    t = 7
    y = rng.normal(size=(t, K))
    sd = rng.uniform(0.2, 0.6, size=(t, K))
    ok = np.ones(t, bool)
    ok[3] = False
    y[3] = np.nan  # an invalid frame never reaches the arithmetic
    out = rts_smoother(space, y, noise=sd, valid=ok, covariance=True)
    mean, cov, ll = _dense_posterior(space, y, jax.vmap(jnp.diag)(sd**2), ok)
    np.testing.assert_allclose(out.mean, mean, rtol=1e-7, atol=1e-9)
    n = space.n_state
    for i in range(t):
        np.testing.assert_allclose(
            out.cov[i], cov[i * n : (i + 1) * n, i * n : (i + 1) * n], rtol=1e-6, atol=1e-9
        )
    np.testing.assert_allclose(float(out.log_likelihood), ll, rtol=1e-9)
    np.testing.assert_allclose(
        float(kalman_log_likelihood(space, y, noise=sd, valid=ok)), ll, rtol=1e-9
    )
    # a (T, K, K) covariance gives the same as the (T, K) sd
    full = rts_smoother(space, y, noise=jax.vmap(jnp.diag)(sd**2), valid=ok)
    np.testing.assert_allclose(full.mean, out.mean, rtol=1e-12, atol=1e-12)


def test_zero_process_noise_is_the_least_squares_free_response():
    """With no process noise the prior is deterministic given x_0: the smoothed trajectory is the
    model's exact zero-order-hold response (simulate_reduced_exact) from the generalised
    least-squares fit of the initial state."""
    model = _model()
    syn = _synergies(model)
    settings = SmootherSettings(activation_sd=0.0, activation_time=0.5, acceleration_sd=0.0)
    n = 3 * K
    p0 = np.diag([1.0] * K + [10.0] * K + [2.0] * K)
    space = reduced_state_space(model, dt=DT, settings=settings, synergies=syn, initial_cov=p0)
    rng = np.random.default_rng(2)
    t = 30
    y = 1.0 + rng.normal(size=(t, K))
    sd = np.full((t, K), 0.5)
    out = rts_smoother(space, y, noise=sd)
    x = np.asarray(out.mean)
    f = np.asarray(space.transition)
    np.testing.assert_allclose(x[1:], x[:-1] @ f.T, rtol=1e-8, atol=1e-10)
    # the GLS fit of x_0: min |x_0|^2_{P0^-1} + sum_t |y_t - H F^t x_0|^2_{R^-1}
    h = np.eye(n)[:K]
    rows = np.stack([h @ np.linalg.matrix_power(f, i) for i in range(t)])  # (T, K, n)
    a = np.concatenate([np.diag(1 / np.sqrt(np.diag(p0))), rows.reshape(-1, n) / 0.5])
    b = np.concatenate([np.zeros(n), y.reshape(-1) / 0.5])
    # (1e-5: the deterministic limit is ill-conditioned for the backward recursion, the predicted
    # covariance loses rank as the skin's modes decay)
    np.testing.assert_allclose(x[0], np.linalg.lstsq(a, b, rcond=None)[0], rtol=1e-5)
    # ... and the coefficients are the exact propagator's under the decaying held drive
    rho = np.exp(-DT / 0.5)
    drive = x[0, 2 * K :][None] * rho ** np.arange(t)[:, None]
    force = drive @ (np.asarray(model.force_map) @ syn.T).T
    cs, _ = simulate_reduced_exact(model, x[0, :K], x[0, K : 2 * K], force, dt=DT)
    np.testing.assert_allclose(out.coefficients, cs, rtol=1e-7, atol=1e-9)


def _smooth_truth(t, rng):
    """A smooth coefficient trajectory in [0, 5]: raised-cosine episodes, like the generator's."""
    time = np.arange(t) * DT
    c = np.zeros((t, K))
    for k in range(K):
        for _ in range(3):
            start, width, peak = (
                rng.uniform(0, t * DT - 1),
                rng.uniform(0.6, 1.5),
                rng.uniform(1, 4),
            )
            phase = np.clip((time - start) / width, 0.0, 1.0)
            c[:, k] = np.maximum(c[:, k], peak * 0.5 * (1 - np.cos(2 * np.pi * phase)))
    return c


def test_smoother_reduces_jitter_and_error():
    model = _model()
    rng = np.random.default_rng(3)
    b, t = 4, 150
    truth = np.stack([_smooth_truth(t, rng) for _ in range(b)])
    noisy = truth + 0.8 * rng.normal(size=truth.shape)
    sm = CoefficientSmoother(model=model, synergies=jnp.asarray(_synergies(model)), fps=1 / DT,
                             robust_iterations=0)  # fmt: skip
    c, s = sm.smooth(noisy)
    assert c.shape == truth.shape and s.shape == (b, t, K)
    jitter = lambda x: np.sqrt(np.mean(np.diff(x, axis=1) ** 2))  # noqa: E731
    err = lambda x: np.mean(np.abs(x - truth))  # noqa: E731
    assert jitter(c) < jitter(noisy) / 3
    assert err(c) < 0.6 * err(noisy)
    assert c.min() >= 0.0 and c.max() <= 5.0 and s.min() >= 0.0
    # the Huber passes do not undo that, and resist a single-frame outlier
    spiked = noisy.copy()
    spiked[0, 70, 0] += 25.0
    cr, _ = sm.replace(robust_iterations=3).smooth(spiked)
    cg, _ = sm.smooth(spiked)
    assert jitter(cr) < jitter(noisy) / 3
    assert abs(cr[0, 70, 0] - truth[0, 70, 0]) < abs(cg[0, 70, 0] - truth[0, 70, 0])


def _simulate_prior(model, settings, *, b, t, noise_sd, seed):
    """Sequences drawn from the smoother's own prior and observation model."""
    space = reduced_state_space(model, dt=DT, settings=settings, synergies=_synergies(model))
    f, q = np.asarray(space.transition), np.asarray(space.process_cov)
    rng = np.random.default_rng(seed)
    lq = np.linalg.cholesky(q + 1e-12 * np.eye(q.shape[0]))
    x = rng.multivariate_normal(np.zeros(space.n_state), np.asarray(space.initial_cov), size=b)
    ys = []
    for _ in range(t):
        ys.append(x[:, :K] + noise_sd * rng.normal(size=(b, K)))
        x = x @ f.T + rng.normal(size=x.shape) @ lq.T
    return np.stack(ys, axis=1)


def test_likelihood_grid_picks_the_true_noise_level():
    """Data simulated from the prior: the grid's maximiser is within a factor 2 of the truth."""
    model = _model()
    syn = _synergies(model)
    noise_sd = 0.3
    true = SmootherSettings(activation_sd=1.0, activation_time=0.5)
    y = _simulate_prior(model, true, b=12, t=120, noise_sd=noise_sd, seed=4)
    best, grid = select_hyperparameters(
        model, y, dt=DT, noise=np.eye(K) * noise_sd**2, synergies=syn, drive_orders=(1,),
        activation_sds=(0.25, 0.5, 1.0, 2.0, 4.0), activation_times=(0.5,),
        noise_scales=(0.25, 0.5, 1.0, 2.0, 4.0),
    )  # fmt: skip
    assert grid.shape == (1, 5, 1, 5)
    assert 0.5 <= best.activation_sd <= 2.0
    assert 0.5 <= best.noise_scale <= 2.0
    # and the label-free noise estimate from differences is close to the truth
    r = difference_noise(y)
    np.testing.assert_allclose(np.sqrt(np.diag(r)), noise_sd, rtol=0.5)


@pytest.mark.parametrize("order", [1, 2])
def test_likelihood_picks_the_true_drive_order(order):
    model = _model()
    true = SmootherSettings(activation_sd=1.0, activation_time=0.5, drive_order=order)
    y = _simulate_prior(model, true, b=8, t=100, noise_sd=0.1, seed=8 + order)
    best, grid = select_hyperparameters(
        model, y, dt=DT, noise=np.eye(K) * 0.01, synergies=_synergies(model),
        drive_orders=(1, 2), activation_sds=(0.5, 1.0, 2.0), activation_times=(0.25, 0.5, 1.0),
        noise_scales=(1.0,),
    )  # fmt: skip
    assert best.drive_order == order
    assert grid.shape == (2, 3, 3, 1)


def test_invalid_frames_are_bridged():
    model = _model()
    syn = _synergies(model)
    space = reduced_state_space(
        model, dt=DT, settings=SmootherSettings(activation_sd=2.0, activation_time=2.0),
        synergies=syn,
    )  # fmt: skip
    rng = np.random.default_rng(5)
    t = 80
    truth = _smooth_truth(t, rng)
    y = truth + 0.3 * rng.normal(size=truth.shape)
    ok = np.ones(t, bool)
    ok[30:38] = False
    sd = np.full((t, K), 0.3)
    a, b = y.copy(), y.copy()
    a[30:38] = np.nan
    b[30:38] = 1e6
    out_a = rts_smoother(space, a, noise=sd, valid=ok)
    out_b = rts_smoother(space, b, noise=sd, valid=ok)
    assert np.all(np.isfinite(out_a.mean))
    np.testing.assert_allclose(out_a.mean, out_b.mean, rtol=1e-12, atol=1e-12)
    # NaN observations mark themselves invalid
    out_c = rts_smoother(space, a, noise=sd)
    np.testing.assert_allclose(out_c.mean, out_a.mean, rtol=1e-12, atol=1e-12)
    gap = np.abs(np.asarray(out_a.coefficients)[30:38] - truth[30:38])
    assert gap.max() < 1.0
    # the batch driver: padded and gapped sequences, grouped by mask, equal one-by-one smoothing
    ys = np.stack([a, y, y + 0.1])
    oks = np.stack([ok, np.ones(t, bool), np.r_[np.ones(t - 10, bool), np.zeros(10, bool)]])
    c, _ = smooth_coefficients(
        model, ys, dt=DT, noise=np.eye(K) * 0.09,
        settings=SmootherSettings(activation_sd=2.0, activation_time=2.0), valid=oks,
        synergies=syn, bounds=None, chunk=2,
    )  # fmt: skip
    for i in range(3):
        ref = rts_smoother(space, ys[i], noise=sd, valid=oks[i]).coefficients
        np.testing.assert_allclose(c[i], ref, rtol=1e-9, atol=1e-9)


def test_difference_noise_recovers_a_full_covariance():
    rng = np.random.default_rng(6)
    cov = np.array([[0.5, 0.3], [0.3, 0.4]])
    y = 2.0 + rng.multivariate_normal(np.zeros(K), cov, size=(20, 200))
    y[3, 50, 0] = 40.0  # an outlier is trimmed
    est = difference_noise(y)
    np.testing.assert_allclose(est, cov, atol=0.05)
    assert np.count_nonzero(difference_noise(y, diagonal=True) - np.diag(np.diag(est))) == 0


def test_smoother_object_fits_and_keys():
    model = _model()
    sm = CoefficientSmoother(model=model, synergies=jnp.asarray(_synergies(model)), fps=25.0,
                             drive_orders=(1,), activation_sds=(0.5, 2.0),
                             activation_times=(1.0,), noise_scales=(1.0,), fit_sequences=2,
                             fit_window=50)  # fmt: skip
    rng = np.random.default_rng(7)
    y = np.stack([_smooth_truth(60, rng) for _ in range(3)]) + 0.5 * rng.normal(size=(3, 60, K))
    fitted = sm.fit(y)
    assert fitted.noise.shape == (K, K) and fitted.settings.activation_sd in (0.5, 2.0)
    assert fitted.key() != sm.key() and sm.key() == sm.key()
    assert sm.replace(robust_iterations=1).key() != sm.key()
    # the same settings on the model's arrays rounded to float32: another cache key (issue 17:
    # a float32 and a float64 template shared one cache file and smoothed differently)
    rounded = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), model)
    assert sm.replace(model=rounded).key() != sm.key()
    same = jax.tree.map(lambda a: jnp.array(np.asarray(a)), model)  # equal arrays, new buffers
    assert sm.replace(model=same).key() == sm.key()


def test_errors():
    model = _model()
    with pytest.raises(ValueError, match="galerkin"):
        reduced_state_space(paper_model(np.asarray(model.mass), force_map=model.force_map), dt=DT)
    with pytest.raises(ValueError, match="force_map"):
        reduced_state_space(galerkin_model(model.mass, model.stiffness, model.damping), dt=DT)
    with pytest.raises(ValueError, match="synergies"):
        reduced_state_space(model, dt=DT, synergies=np.ones((2, M_MUSCLES + 1)))
    space = reduced_state_space(model, dt=DT)
    with pytest.raises(ValueError, match="observations"):
        rts_smoother(space, np.zeros((5, K + 1)), noise=np.ones((5, K + 1)))
    with pytest.raises(ValueError, match="noise"):
        rts_smoother(space, np.zeros((5, K)), noise=np.ones((K, K)))
    with pytest.raises(ValueError, match="valid"):
        rts_smoother(space, np.zeros((5, K)), noise=np.ones((5, K)), valid=np.ones(4, bool))
