"""The robust, bounded top-down engine (issue 16): large yaw, outliers, silhouettes, bounds and
failures reported instead of diverging. Float64, the 600-vertex template."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from aujax.face import make_face
from aujax.geometry import Camera, intrinsics_matrix, scaled_orthographic_pose
from aujax.methods.topdown import TopDownEngine
from aujax.physics import build_au_blendshapes


FLIP = np.diag([1.0, -1.0, -1.0])  # model frame (x left, y up, z to camera) -> camera frame
K = intrinsics_matrix(focal=800.0, center=(320.0, 240.0))


@pytest.fixture(scope="module")
def model():
    with jax.enable_x64(True):
        return build_au_blendshapes(make_face(600))[0]


def _frames(engine, levels, identity, angles_deg, depth=60.0):
    """(T, 68, 2) pixels of the model under rotations (x, y, z Euler angles, degrees)."""
    p = (
        engine.neutral[None]
        + jnp.einsum("tk,kld->tld", jnp.asarray(levels), engine.au_basis)
        + jnp.einsum("j,jld->ld", jnp.asarray(identity), engine.identity_basis)[None]
    )
    rot = Rotation.from_euler("xyz", angles_deg, degrees=True).as_matrix()
    rot = np.einsum("ij,tjk->tik", FLIP, rot)
    cam = np.einsum("tij,tlj->tli", rot, np.asarray(p)) + np.array([0.0, 0.0, depth])
    q = cam @ np.asarray(K).T
    return q[..., :2] / q[..., 2:]


def _levels(rng, t, k, high=5.0):
    a = np.zeros((t, k))
    for f in range(t):
        active = rng.choice(k, size=rng.integers(1, 4), replace=False)
        a[f, active] = rng.uniform(0.5, high, size=active.size)
    return a


def test_scaled_orthographic_pose_recovers_a_rotation():
    rng = np.random.default_rng(0)
    p = rng.normal(size=(12, 3))
    rot = Rotation.from_euler("xyz", [10, 50, -5], degrees=True).as_matrix()
    q = 2.5 * p @ rot.T + np.array([1.0, -2.0, 7.0])
    pose = scaled_orthographic_pose(jnp.asarray(p), jnp.asarray(q[:, :2]))
    np.testing.assert_allclose(pose.rotation, rot, atol=1e-10)
    np.testing.assert_allclose(pose.scale, 2.5, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(pose.apply(jnp.asarray(p)))[:, :2], q[:, :2], atol=1e-9)


@pytest.mark.parametrize("yaw", [-45.0, 45.0])
def test_large_yaw_is_recovered(model, yaw):
    """Noise-free 2D landmarks at ±45° yaw: the scaled-orthographic start reaches the exact fit."""
    with jax.enable_x64(True):
        engine = TopDownEngine.from_model(model, identity_prior=False)
        rng = np.random.default_rng(1)
        levels = _levels(rng, 6, model.n_aus)
        identity = rng.normal(size=engine.n_identity)
        angles = np.stack([rng.uniform(-10, 10, 6), np.full(6, yaw), rng.uniform(-10, 10, 6)], 1)
        q = _frames(engine, levels, identity, angles)
        neutral = engine.fit_neutral(
            _frames(engine, np.zeros((2, model.n_aus)), identity, np.zeros((2, 3))),
            camera=Camera.create(K),
        )
        out = engine.fit(q, neutral=neutral, camera=Camera.create(K))
        assert np.all(np.asarray(out.success))
        np.testing.assert_allclose(out.levels, levels, atol=5e-3)
        yaw_fit = Rotation.from_matrix(FLIP @ np.asarray(out.pose.rotation)).as_euler("xyz")[:, 1]
        np.testing.assert_allclose(np.degrees(yaw_fit), yaw, atol=0.1)


def test_outliers_are_down_weighted(model):
    """Five landmarks thrown 2 cm off: the Cauchy loss keeps the levels, least squares does not."""
    with jax.enable_x64(True):
        rng = np.random.default_rng(2)
        robust = TopDownEngine.from_model(model)
        plain = TopDownEngine.from_model(model, robust_scale=np.inf)
        levels = _levels(rng, 8, model.n_aus, high=3.0)
        identity = rng.normal(size=robust.n_identity) * 0.5
        angles = rng.uniform(-15, 15, size=(8, 3))
        clean = _frames(robust, levels, identity, angles)
        dirty = clean.copy()
        px_per_cm = 800.0 / 60.0
        for f in range(8):
            bad = rng.choice(np.arange(17, 68), size=5, replace=False)
            dirty[f, bad] += rng.choice([-1, 1], size=(5, 2)) * 2.0 * px_per_cm
        cam = Camera.create(K)
        ref = np.asarray(robust.fit(clean, camera=cam).levels)
        err_robust = np.abs(np.asarray(robust.fit(dirty, camera=cam).levels) - ref).mean()
        err_plain = np.abs(np.asarray(plain.fit(dirty, camera=cam).levels) - ref).mean()
        assert err_robust < 0.5 * err_plain, (err_robust, err_plain)


def test_levels_are_boxed_and_garbage_fails_without_diverging(model):
    with jax.enable_x64(True):
        engine = TopDownEngine.from_model(model)
        cam = Camera.create(K)
        rng = np.random.default_rng(3)
        k = model.n_aus
        big = np.zeros((2, k))
        big[0, model.au_index(12)] = 9.0  # beyond the FACS scale
        big[1, model.au_index(25)] = 8.0
        q = _frames(engine, big, np.zeros(engine.n_identity), np.zeros((2, 3)))
        out = engine.fit(q, camera=cam)
        lv = np.asarray(out.levels)
        assert lv.max() <= 5.0 + 1e-9 and lv.min() >= 0.0
        assert lv[0, model.au_index(12)] == pytest.approx(5.0)
        # garbage: random points, landmarks of a face shuffled, a face squashed to a line
        face = _frames(engine, np.zeros((1, k)), np.zeros(engine.n_identity), np.zeros((1, 3)))[0]
        junk = np.stack([
            rng.uniform(0, 640, size=(68, 2)),
            face[rng.permutation(68)],
            np.stack([face[:, 0], np.full(68, 240.0)], 1),
        ])  # fmt: skip
        out = engine.fit(junk, camera=cam)
        assert np.all(np.isfinite(np.asarray(out.levels)))
        assert np.all(np.isfinite(np.asarray(out.residual)))
        assert not np.any(np.asarray(out.success))
        lv = np.asarray(out.levels)
        assert lv.min() >= 0.0 and lv.max() <= 5.0 + 1e-9
        assert np.abs(np.asarray(out.identity)).max() <= 4.0 + 1e-9  # boxed to 4 SDs


def test_contour_points_slide_along_the_silhouette(model):
    """Jaw-contour points moved along the observed contour change nothing; moved across it, they
    count."""
    with jax.enable_x64(True):
        engine = TopDownEngine.from_model(model, identity_prior=False)
        cam = Camera.create(K)
        rng = np.random.default_rng(4)
        levels = _levels(rng, 1, model.n_aus)
        identity = rng.normal(size=engine.n_identity)
        q = _frames(engine, levels, identity, np.array([[5.0, 20.0, 3.0]]))
        exact = engine.fit(q, camera=cam)
        # slide the interior contour points a third of the way towards their next neighbour
        slid = q.copy()
        jaw = q[0, :17]
        for i in range(2, 15):
            slid[0, i] = jaw[i] + 0.3 * (jaw[i + 1] - jaw[i])
        out = engine.fit(slid, camera=cam)
        err_slid = np.abs(np.asarray(out.levels) - levels).max()
        assert float(np.asarray(exact.residual)[0]) < 1e-6
        rigid = TopDownEngine.from_model(model, identity_prior=False, contour=())
        err_fixed = np.abs(np.asarray(rigid.fit(slid, camera=cam).levels) - levels).max()
        assert err_slid < 0.25 * err_fixed, (err_slid, err_fixed)
