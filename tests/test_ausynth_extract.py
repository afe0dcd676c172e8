"""Seed 002's parameter extraction from 2D landmarks and its normalisation
(``aujax.methods.ausynth._extract``), on landmarks projected from the model itself."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from aujax.geometry import MODEL_TO_OPENCV, look_rotation
from aujax.methods.ausynth import (
    ParameterBounds,
    SubjectParameters,
    extract_parameters,
    extract_subject,
    fit_expressions,
    fit_identity,
    labels_to_unit,
    select_neutral_frames,
    unit_to_labels,
)
from aujax.methods.ausynth._extract import _solve_block_tridiagonal
from tests._morphable_models import small_morphable_model


# small, compile-bound problems: XLA's optimisations off for this module (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("fast_compile")


@pytest.fixture(scope="module")
def model():
    """A small model on the 400-vertex template (n_id = 7, n_exp = 6: tests/_morphable_models.py)."""
    m = small_morphable_model()
    assert (m.n_id, m.n_exp) == (7, 6)
    return m


def _cameras(n, rng, *, motion=0.08):
    """Head rotations (model -> y-down image), scale 12 px/cm, translations near (512, 384)."""
    angles = motion * rng.normal(size=(n, 3))
    rot = np.stack([MODEL_TO_OPENCV @ np.asarray(look_rotation(*a)) for a in angles])
    trans = np.array([512.0, 384.0])[None] + rng.normal(scale=5.0, size=(n, 2))
    return rot, 12.0, trans


def _project(model, x_id, x_exp, rot, scale, trans):
    lm = jax.vmap(lambda x: model.landmarks(x_id, x, scheme=66))(jnp.asarray(x_exp))
    return scale * np.einsum("tdc,tlc->tld", rot[:, :2], np.asarray(lm)) + trans[:, None]


def _truth(model, rng, n_frames, *, neutral=0):
    x_id = rng.normal(size=model.n_id) * np.asarray(model.id_std)
    x_exp = rng.normal(size=(n_frames, model.n_exp)) * np.asarray(model.exp_std)
    x_exp[:neutral] = 0.0
    return x_id, x_exp


# one sequence length and one number of identity frames throughout: every jitted fit compiles once
_T = 24
_K = 8


def _spread(q):
    return float(np.mean(np.sum((q - q.mean(axis=1, keepdims=True)) ** 2, axis=2)))


# ----------------------------------------------------------------------------------- recovery


def test_noise_free_landmarks_give_back_the_parameters_and_cameras(model):
    rng = np.random.default_rng(1)
    x_id, x_exp = _truth(model, rng, _T, neutral=_K)
    rot, scale, trans = _cameras(_T, rng)
    q = _project(model, x_id, x_exp, rot, scale, trans)
    fit = extract_subject(model, q, lambda_id=1e-12, lambda_exp=1e-12, n_neutral=_K)
    assert isinstance(fit, SubjectParameters)
    assert np.all(fit.valid) and float(np.max(fit.residual)) < 1e-6  # pixels
    np.testing.assert_allclose(fit.x_id, x_id, atol=1e-6 * np.abs(x_id).max())
    np.testing.assert_allclose(fit.x_exp, x_exp, atol=1e-6 * np.abs(x_exp).max())
    np.testing.assert_allclose(fit.camera.scale, np.full(_T, scale), rtol=1e-7)
    np.testing.assert_allclose(fit.camera.rotation, rot, atol=1e-7)
    np.testing.assert_allclose(fit.camera.translation[:, :2], trans, atol=1e-5)
    # the least expressive frames, without head rotation (which changes the 2D shape too): the
    # neutral ones
    still = _project(model, x_id, x_exp, *_cameras(_T, rng, motion=0.0))
    assert set(np.asarray(select_neutral_frames(still, n_frames=_K)).tolist()) == set(range(_K))


def test_the_prior_lowers_the_error_under_detector_noise(model):
    """Gaussian noise: the MAP weight ``sigma^2 / D`` beats a vanishing prior and a far too
    strong one (module docstring), on the same noisy frames."""
    rng = np.random.default_rng(2)
    std = np.asarray(model.exp_std)
    errors = np.zeros(3)
    for _ in range(4):  # 4 x 24 frames
        x_id, x_exp = _truth(model, rng, _T)
        clean = _project(model, x_id, x_exp, *_cameras(_T, rng))
        sigma = 0.06 * np.sqrt(_spread(clean))
        q = clean + rng.normal(scale=sigma, size=clean.shape)
        lam_map = sigma**2 / _spread(clean)
        for i, lam in enumerate((1e-12, lam_map, 100.0 * lam_map)):
            x, *_ = fit_expressions(model, x_id, q, lambda_exp=lam)
            errors[i] += np.mean(np.square((np.asarray(x) - x_exp) / std))
    none, best, strong = errors
    assert best < 0.7 * none and best < 0.5 * strong


def test_identity_fit_on_a_few_frames(model):
    rng = np.random.default_rng(3)
    x_id, x_exp = _truth(model, rng, _K)
    rot, scale, trans = _cameras(_K, rng)
    q = _project(model, x_id, x_exp, rot, scale, trans)
    got_id, got_exp, cams = fit_identity(model, q, lambda_id=1e-12, lambda_exp=1e-12)
    np.testing.assert_allclose(got_id, x_id, atol=1e-6 * np.abs(x_id).max())
    np.testing.assert_allclose(got_exp, x_exp, atol=1e-6 * np.abs(x_exp).max())
    assert cams.rotation.shape == (_K, 3, 3)
    q[2, :] = np.nan
    with pytest.raises(ValueError, match="every frame needs at least 4 finite landmarks"):
        fit_identity(model, q)


def test_frames_without_landmarks(model):
    rng = np.random.default_rng(4)
    x_id, x_exp = _truth(model, rng, _T)
    x_exp[:] = x_exp[0]  # a held expression
    rot, scale, trans = _cameras(_T, rng, motion=0.0)
    q = _project(model, x_id, x_exp, rot, scale, trans)
    q[5] = np.nan
    x, cams, residual, valid = fit_expressions(model, x_id, q, lambda_exp=1e-9)
    assert np.asarray(valid).tolist() == [t != 5 for t in range(_T)]
    assert np.isnan(residual[5]) and np.all(np.isfinite(np.delete(np.asarray(residual), 5)))
    np.testing.assert_array_equal(x[5], np.zeros(model.n_exp))  # the prior's mean: the neutral
    assert np.all(np.isfinite(cams.rotation))
    x, *_ = fit_expressions(model, x_id, q, lambda_exp=1e-9, temporal=1e-3)
    np.testing.assert_allclose(x[5], x_exp[5], atol=1e-6 * np.abs(x_exp).max())  # interpolated


# ------------------------------------------------------------------------------ temporal prior


def test_temporal_prior_smooths_noise_without_biasing_a_constant_sequence(model):
    rng = np.random.default_rng(5)
    x_id, x_exp = _truth(model, rng, _T)
    x_exp[:] = x_exp[0]
    rot, scale, trans = _cameras(_T, rng, motion=0.02)
    clean = _project(model, x_id, x_exp, rot, scale, trans)
    # noise-free: the penalty vanishes on the constant solution, which stays the answer
    plain, *_ = fit_expressions(model, x_id, clean, lambda_exp=1e-9)
    smooth, *_ = fit_expressions(model, x_id, clean, lambda_exp=1e-9, temporal=1.0)
    np.testing.assert_allclose(smooth, plain, atol=1e-7 * np.abs(x_exp).max())
    np.testing.assert_allclose(smooth, x_exp, atol=1e-6 * np.abs(x_exp).max())
    # noisy: far less jitter, the same average
    sigma = 0.02 * np.sqrt(_spread(clean))
    q = clean + rng.normal(scale=sigma, size=clean.shape)
    lam = sigma**2 / _spread(clean)
    plain, *_ = fit_expressions(model, x_id, q, lambda_exp=lam)
    smooth, *_ = fit_expressions(model, x_id, q, lambda_exp=lam, temporal=0.1)
    std = np.asarray(model.exp_std)
    jitter = lambda x: float(np.mean(np.square(np.diff(np.asarray(x), axis=0) / std)))  # noqa: E731
    assert jitter(smooth) < 0.05 * jitter(plain)
    per_frame = float(np.sqrt(np.mean(np.square((np.asarray(plain) - x_exp) / std))))
    shift = np.abs(np.mean(np.asarray(smooth) - np.asarray(plain), axis=0) / std)
    assert np.all(shift < 0.2 * per_frame)  # the means agree far within a frame's error
    err_smooth = np.mean(np.square((np.asarray(smooth) - x_exp) / std))
    assert err_smooth < 0.4 * per_frame**2  # 0.21 with this seed


def test_block_tridiagonal_solver_matches_a_dense_solve():
    rng = np.random.default_rng(6)
    n, k = 7, 3
    a = rng.normal(size=(n, k, k))
    diag = np.einsum("tij,tkj->tik", a, a) + 0.1 * np.eye(k)[None]
    step = rng.uniform(0.5, 2.0, size=k)
    rhs = rng.normal(size=(n, k))
    dense = np.zeros((n * k, n * k))
    for t in range(n):
        count = 1 if t in (0, n - 1) else 2
        dense[t * k : (t + 1) * k, t * k : (t + 1) * k] = diag[t] + count * np.diag(step)
        if t + 1 < n:
            dense[t * k : (t + 1) * k, (t + 1) * k : (t + 2) * k] = -np.diag(step)
            dense[(t + 1) * k : (t + 2) * k, t * k : (t + 1) * k] = -np.diag(step)
    want = np.linalg.solve(dense, rhs.reshape(-1)).reshape(n, k)
    got = _solve_block_tridiagonal(jnp.asarray(diag), jnp.asarray(step), jnp.asarray(rhs))
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    one = _solve_block_tridiagonal(jnp.asarray(diag[:1]), jnp.asarray(step), jnp.asarray(rhs[:1]))
    np.testing.assert_allclose(one, np.linalg.solve(diag[0], rhs[0])[None], rtol=1e-10)


# ---------------------------------------------------------------------------------- datasets


def test_extract_parameters_per_subject(model):
    rng = np.random.default_rng(7)
    sequences, truths = {}, {}
    for subject in ("SN001", "SN002"):
        x_id, x_exp = _truth(model, rng, _T, neutral=_K)
        sequences[subject] = _project(model, x_id, x_exp, *_cameras(_T, rng))
        truths[subject] = x_id
    lines = []
    fits = extract_parameters(model, sequences, progress=lines.append, lambda_id=1e-12,
                              lambda_exp=1e-12, neutral={"SN001": np.arange(_T) < _K})  # fmt: skip
    assert list(fits) == ["SN001", "SN002"] and len(lines) == 2 and lines[0].startswith("SN001")
    assert set(np.asarray(fits["SN001"].neutral_frames).tolist()) == set(range(_K))
    for subject, x_id in truths.items():
        np.testing.assert_allclose(fits[subject].x_id, x_id, atol=1e-5 * np.abs(x_id).max())


def test_argument_errors(model):
    q = np.zeros((_T, 66, 2))
    with pytest.raises(ValueError, match=r"landmarks must have shape \(T, L, 2\)"):
        fit_expressions(model, np.zeros(model.n_id), np.zeros((3, 65, 2)))
    with pytest.raises(ValueError, match="lambda_exp must be a finite scalar >= 0"):
        fit_expressions(model, np.zeros(model.n_id), q, lambda_exp=-1.0)
    with pytest.raises(ValueError, match="temporal must be a finite scalar >= 0"):
        fit_expressions(model, np.zeros(model.n_id), q, temporal=np.nan)
    with pytest.raises(ValueError, match="n_iterations must be an int >= 1"):
        fit_expressions(model, np.zeros(model.n_id), q, n_iterations=0)
    with pytest.raises(ValueError, match=r"x_id must be finite with shape \(7,\)"):
        fit_expressions(model, np.zeros(3), q)
    with pytest.raises(ValueError, match="no frame .* has all landmarks finite"):
        select_neutral_frames(np.full((3, 66, 2), np.nan))
    with pytest.raises(ValueError, match="candidates must be a"):
        select_neutral_frames(q, candidates=np.ones(2, bool))


# ----------------------------------------------------------------------------- normalisation


def test_bounds_come_from_the_training_subjects_only():
    rng = np.random.default_rng(8)
    params = {s: rng.normal(size=(500, 4)) * [1.0, 2.0, 0.5, 3.0] for s in ("a", "b", "c")}
    params["test"] = 100.0 + rng.normal(size=(50, 4))  # far outside: must not move the bounds
    bounds = ParameterBounds.fit(params, train_subjects=["a", "b", "c"], q=1.0)
    train = np.concatenate([params[s] for s in "abc"])
    np.testing.assert_allclose(bounds.lower, np.percentile(train, 1.0, axis=0), rtol=1e-12)
    np.testing.assert_allclose(bounds.upper, np.percentile(train, 99.0, axis=0), rtol=1e-12)
    same = ParameterBounds.fit({s: params[s] for s in "abc"}, train_subjects="abc", q=1.0)
    np.testing.assert_array_equal(same.lower, bounds.lower)
    other = ParameterBounds.fit(params, train_subjects=["a", "test"], q=1.0)
    assert np.all(np.asarray(other.upper) > np.asarray(bounds.upper))
    # the map onto [-1, 1]: limits to -1 / +1, round trip, clipping
    u = bounds.normalise(train)
    assert float(jnp.min(u)) == -1.0 and float(jnp.max(u)) == 1.0
    np.testing.assert_allclose(bounds.normalise(bounds.lower), -np.ones(4), atol=1e-12)
    np.testing.assert_allclose(bounds.normalise(bounds.upper), np.ones(4), atol=1e-12)
    np.testing.assert_allclose(bounds.denormalise(bounds.normalise(train, clip=False)), train,
                               atol=1e-12)  # fmt: skip
    inside = np.asarray(bounds.denormalise(rng.uniform(-1, 1, size=(20, 4))))
    np.testing.assert_allclose(bounds.denormalise(bounds.normalise(inside)), inside, atol=1e-12)
    assert float(jnp.max(jnp.abs(bounds.normalise(params["test"])))) == 1.0
    flat = ParameterBounds.fit({"a": np.ones((5, 2))}, train_subjects=["a"])
    assert np.all(np.isfinite(flat.normalise(np.ones((1, 2)))))  # a constant dimension
    with pytest.raises(ValueError, match="train_subjects not in parameters"):
        ParameterBounds.fit(params, train_subjects=["zz"])
    with pytest.raises(ValueError, match="q must be a percentile"):
        ParameterBounds.fit(params, train_subjects=["a"], q=50.0)
    with pytest.raises(ValueError, match="NaN"):
        ParameterBounds.fit({"a": np.full((3, 2), np.nan)}, train_subjects=["a"])
    with pytest.raises(ValueError, match="last axis of size 4"):
        bounds.normalise(np.zeros((2, 3)))


def test_labels_scale_linearly_to_the_unit_interval():
    y = np.arange(6)
    u = labels_to_unit(y)
    np.testing.assert_allclose(u, [-1.0, -0.6, -0.2, 0.2, 0.6, 1.0], atol=1e-12)
    np.testing.assert_allclose(unit_to_labels(u), y, atol=1e-12)
    np.testing.assert_allclose(unit_to_labels(np.array([-3.0, 3.0])), [0.0, 5.0])
    np.testing.assert_allclose(unit_to_labels(np.array([3.0]), clip=False), [10.0])
    with pytest.raises(ValueError, match=r"intensities in \[0, 5\]"):
        labels_to_unit(np.array([6]))
