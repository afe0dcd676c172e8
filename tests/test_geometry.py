"""Tests for aujax.geometry: projections, back-projection (eq. 3), DLT calibration, alignment (eq. 4)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy.spatial.transform import Rotation

from aujax.geometry import (
    Calibration,
    Camera,
    SimilarityTransform,
    backproject,
    dlt_calibrate,
    intrinsics_matrix,
    kabsch,
    look_at_pose,
    perspective_project,
    register_similarity,
    remove_head_pose,
    rotation_from_axis_angle,
    rq_decomposition,
    scaled_orthographic_project,
    umeyama,
    weak_perspective_project,
)


# ------------------------------------------------------------------------------------------------
# helpers (independent NumPy / SciPy references)


def _random_rotation(rng) -> np.ndarray:
    return Rotation.random(random_state=rng).as_matrix()


def _numpy_umeyama(src, dst, w=None, with_scale=True):
    """Independent weighted Umeyama (1991) in NumPy: returns (c, R, t) with dst ~ c R src + t."""
    w = np.ones(len(src)) if w is None else np.asarray(w, dtype=float)
    w = w / w.sum()
    ms, md = w @ src, w @ dst
    xs, xd = src - ms, dst - md
    sigma = (xd * w[:, None]).T @ xs
    u, d, vt = np.linalg.svd(sigma)
    s = np.eye(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        s[2, 2] = -1.0
    r = u @ s @ vt
    c = np.trace(np.diag(d) @ s) / np.sum(w * np.sum(xs**2, axis=1)) if with_scale else 1.0
    return c, r, md - c * r @ ms


def _camera_and_points(rng, n, *, aspect=1.0, skew=0.0):
    """Realistic 640x480 camera (f = 800 px) looking at a 20 cm cube of points from ~68 cm."""
    k = np.asarray(
        intrinsics_matrix(focal=800.0, center=np.array([322.0, 241.0]), skew=skew, aspect=aspect)
    )
    rot, t = look_at_pose(np.array([15.0, -8.0, 60.0]), np.zeros(3))
    rot, t = np.asarray(rot), np.asarray(t)
    pts = rng.uniform(-10.0, 10.0, (n, 3))
    uv = np.asarray(perspective_project(pts @ rot.T + t, k))
    assert np.all(uv > 0) and np.all(uv[:, 0] < 640) and np.all(uv[:, 1] < 480)
    return k, rot, t, pts, uv


# ------------------------------------------------------------------------------------------------
# projections and back-projection


def test_intrinsics_and_look_at_conventions():
    k = intrinsics_matrix(focal=800.0, center=np.array([320.0, 240.0]), skew=1.5, aspect=1.1)
    np.testing.assert_allclose(k, [[800.0, 1.5, 320.0], [0.0, 880.0, 240.0], [0.0, 0.0, 1.0]])
    # Frontal camera on the model's +z axis: the subject's left (+x) is image right, up is up.
    rot, t = look_at_pose(np.array([0.0, 0.0, 50.0]), np.zeros(3))
    np.testing.assert_allclose(rot, np.diag([1.0, -1.0, -1.0]), atol=1e-15)
    np.testing.assert_allclose(t, [0.0, 0.0, 50.0], atol=1e-12)
    uv = perspective_project(np.array([[2.0, 0.0, 50.0], [0.0, 3.0, 50.0]]), k)
    assert uv[0, 0] > 320.0 and uv[1, 1] > 240.0  # +x right, +y (camera) down
    rot, t = look_at_pose(np.array([10.0, -5.0, 40.0]), np.array([1.0, 2.0, 0.0]))
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-14)
    assert np.linalg.det(rot) == pytest.approx(1.0)
    np.testing.assert_allclose(rot @ np.array([10.0, -5.0, 40.0]) + t, 0.0, atol=1e-12)
    # The target lies on the optical axis in front of the camera.
    cam = rot @ np.array([1.0, 2.0, 0.0]) + t
    np.testing.assert_allclose(cam[:2], 0.0, atol=1e-12)
    assert cam[2] > 0


def test_perspective_backproject_round_trip_is_exact():
    rng = np.random.default_rng(0)
    k = intrinsics_matrix(focal=750.0, center=np.array([300.0, 250.0]), skew=0.8, aspect=1.05)
    pts = rng.uniform([-8.0, -8.0, 40.0], [8.0, 8.0, 70.0], (30, 3))
    uv = perspective_project(pts, k)
    np.testing.assert_allclose(backproject(uv, k, pts[:, 2]), pts, rtol=1e-13, atol=1e-12)
    # Eq. 3 literally: p = z W^{-1} (c, r, 1)^T.
    h = np.concatenate([np.asarray(uv), np.ones((30, 1))], axis=1)
    eq3 = pts[:, 2:3] * (np.linalg.inv(np.asarray(k)) @ h.T).T
    np.testing.assert_allclose(backproject(uv, k, pts[:, 2]), eq3, rtol=1e-12)
    # A projective rescaling of K (last row not (0, 0, 1)) gives the same points.
    np.testing.assert_allclose(backproject(uv, 3.0 * k, pts[:, 2]), pts, rtol=1e-12)


def test_weak_perspective_round_trip_and_scaled_orthographic():
    rng = np.random.default_rng(1)
    k = intrinsics_matrix(focal=800.0, center=np.array([320.0, 240.0]))
    pts = rng.uniform([-8.0, -8.0, 55.0], [8.0, 8.0, 65.0], (20, 3))
    zbar = 60.0
    uv = weak_perspective_project(pts, k, depth=zbar)
    back = backproject(uv, k, zbar)
    np.testing.assert_allclose(back[:, :2], pts[:, :2], rtol=1e-13)
    np.testing.assert_allclose(back[:, 2], zbar)
    # Weak perspective = scaled orthographic with s = f / zbar about the principal point.
    so = scaled_orthographic_project(pts, scale=800.0 / zbar, translation=np.array([320.0, 240.0]))
    np.testing.assert_allclose(uv, so, rtol=1e-13)
    # ... and approximates the full perspective to first order in the depth spread.
    err = np.abs(np.asarray(uv) - np.asarray(perspective_project(pts, k))).max()
    assert 0.0 < err < 800.0 * 8.0 * 5.0 / 55.0**2 * 1.5
    # scaled orthographic with a rotation: a model-frame face seen frontally (y up -> row up).
    flip = np.diag([1.0, -1.0, -1.0])
    q = scaled_orthographic_project(
        np.array([[1.0, 2.0, 0.5]]), scale=10.0, rotation=flip, translation=np.array([5.0, 6.0])
    )
    np.testing.assert_allclose(q, [[15.0, -14.0]])


def test_projection_functions_jit_and_grad():
    k = intrinsics_matrix(focal=800.0, center=np.array([320.0, 240.0]), skew=0.3, aspect=1.02)
    pts = jnp.array([[1.0, -2.0, 50.0], [3.0, 1.0, 60.0], [-2.0, 0.5, 55.0]])
    uv = jax.jit(perspective_project)(pts, k)
    np.testing.assert_allclose(uv, perspective_project(pts, k), rtol=1e-14)
    check_grads(lambda p, kk: perspective_project(p, kk), (pts, k), order=1, modes=("fwd", "rev"))
    check_grads(lambda q, z: backproject(q, k, z), (uv, pts[:, 2]), order=1, modes=("rev",))


def test_camera_bundles_projection_model():
    rng = np.random.default_rng(15)
    k = intrinsics_matrix(focal=800.0, center=(320.0, 240.0))
    pts = jnp.asarray(rng.uniform([-8.0, -8.0, 50.0], [8.0, 8.0, 70.0], (6, 3)))
    persp = Camera.create(k)
    assert persp.projection == "perspective" and persp.depth is None
    np.testing.assert_allclose(persp.project(pts), perspective_project(pts, k))
    np.testing.assert_allclose(persp.backproject(persp.project(pts), pts[:, 2]), pts, rtol=1e-13)
    weak = Camera.create(k, projection="weak_perspective", depth=60.0)
    uv = weak.project(pts)
    np.testing.assert_allclose(uv, weak_perspective_project(pts, k, depth=60.0))
    np.testing.assert_allclose(weak.backproject(uv)[:, :2], pts[:, :2], rtol=1e-13)
    # A pytree whose projection model is static: jit specialises on it.
    out = jax.jit(lambda cam, p: cam.project(p))(weak, pts)
    np.testing.assert_allclose(out, uv, rtol=1e-14)
    assert jax.tree.leaves(persp) == [persp.intrinsics]
    with pytest.raises(ValueError, match="depth .* is required"):
        Camera.create(k, projection="weak_perspective")
    with pytest.raises(ValueError, match="projection must be one of"):
        Camera.create(k, projection="fisheye")
    with pytest.raises(ValueError, match="depth must be finite and positive"):
        Camera.create(k, depth=-1.0)
    with pytest.raises(ValueError, match="no default depth"):
        persp.backproject(uv)


# ------------------------------------------------------------------------------------------------
# calibration


def test_rq_decomposition_properties():
    rng = np.random.default_rng(2)
    for _ in range(5):
        m = rng.normal(size=(3, 3))
        if np.linalg.det(m) < 0:
            m = -m
        k, r = rq_decomposition(m)
        k, r = np.asarray(k), np.asarray(r)
        np.testing.assert_allclose(np.tril(k, -1), 0.0, atol=1e-15)
        assert np.all(np.diagonal(k) > 0)
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-13)
        assert np.linalg.det(r) == pytest.approx(1.0, abs=1e-12)
        np.testing.assert_allclose(k @ r, m, atol=1e-13)
    # Unique: a known K R comes back.
    k0 = np.asarray(intrinsics_matrix(focal=700.0, center=np.array([300.0, 200.0]), skew=2.0))
    r0 = _random_rotation(rng)
    k, r = rq_decomposition(3.0 * k0 @ r0)
    np.testing.assert_allclose(k, 3.0 * k0, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(r, r0, atol=1e-12)
    with pytest.raises(ValueError, match="M must have a positive determinant"):
        rq_decomposition(-np.eye(3))
    with pytest.raises(ValueError, match=r"M must have shape \(3, 3\)"):
        rq_decomposition(np.eye(4))


def test_dlt_recovers_camera_from_noiseless_points():
    rng = np.random.default_rng(3)
    k, rot, t, pts, uv = _camera_and_points(rng, 68, aspect=1.03, skew=0.7)
    for refine in (False, True):
        cal = dlt_calibrate(pts, uv, refine=refine)
        assert isinstance(cal, Calibration)
        np.testing.assert_allclose(cal.intrinsics, k, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(cal.rotation, rot, atol=1e-6)
        np.testing.assert_allclose(cal.translation, t, rtol=1e-6, atol=1e-6)
        assert float(cal.reprojection_error) < 1e-6
        np.testing.assert_allclose(cal.project(pts), uv, atol=1e-6)
        np.testing.assert_allclose(cal.camera_center(), [15.0, -8.0, 60.0], atol=1e-6)
        p = np.asarray(cal.projection_matrix())
        h = np.concatenate([pts, np.ones((68, 1))], axis=1) @ p.T
        np.testing.assert_allclose(h[:, :2] / h[:, 2:], uv, atol=1e-6)
        assert np.all(h[:, 2] > 0)  # points in front of the recovered camera


def test_dlt_degrades_gracefully_with_pixel_noise_and_refinement_helps():
    """68 points in a 20 cm cube seen from ~68 cm, f = 800 px, 0.5 px Gaussian noise per axis.

    Measured over 30 seeds: focal error median 0.42 %, max 1.7 % (DLT and refined alike),
    principal point off by 5.7 px median (16 px max), rotation by 0.43 deg median (1.1 deg max);
    RMS reprojection error 0.67 px median, lowered by the Levenberg-Marquardt refinement in every
    seed (by 0.03-0.2 %, median 0.08 %: the normalised DLT is already close to the geometric
    optimum). Here the first 10 seeds are checked (focal error median 0.79 %, max 1.5 %):
    every focal error < 2 %, median < 1 %.
    """
    focal_errors = []
    for seed in range(10):
        rng = np.random.default_rng(seed)
        k, rot, t, pts, uv = _camera_and_points(rng, 68)
        noisy = uv + rng.normal(0.0, 0.5, uv.shape)
        refined = dlt_calibrate(pts, noisy, refine=True)
        plain = dlt_calibrate(pts, noisy)
        focal_errors.append(abs(float(plain.intrinsics[0, 0]) / 800.0 - 1.0))
        assert float(refined.reprojection_error) < float(plain.reprojection_error)
        assert 0.4 < float(refined.reprojection_error) < 1.0
        assert np.abs(np.asarray(refined.rotation) - rot).max() < 0.02
        np.testing.assert_allclose(refined.rotation @ refined.rotation.T, np.eye(3), atol=1e-12)
    assert max(focal_errors) < 0.02
    assert np.median(focal_errors) < 0.01


# ------------------------------------------------------------------------------------------------
# rotations and alignment


def test_rotation_from_axis_angle_matches_scipy_and_is_smooth_at_zero():
    rng = np.random.default_rng(4)
    for w in [rng.normal(size=3), 1e-9 * rng.normal(size=3), np.zeros(3), np.pi * np.eye(3)[1]]:
        np.testing.assert_allclose(
            rotation_from_axis_angle(w), Rotation.from_rotvec(w).as_matrix(), atol=1e-14
        )
    rot_fn = jax.jit(rotation_from_axis_angle)
    check_grads(rot_fn, (jnp.asarray(rng.normal(size=3)),), order=1, modes=("fwd", "rev"))
    # At the identity the derivative is the cross-product generator: dR/dw_x = [e_x]_x.
    jac = jax.jit(jax.jacfwd(rot_fn))(jnp.zeros(3))
    np.testing.assert_allclose(jac[:, :, 0], [[0, 0, 0], [0, 0, -1], [0, 1, 0]], atol=1e-15)


def _noisy_pair(rng, n, *, scale=1.0):
    src = rng.normal(size=(n, 3)) * np.array([3.0, 2.0, 1.0])
    r = _random_rotation(rng)
    t = rng.normal(size=3) * 5.0
    dst = scale * src @ r.T + t + 0.05 * rng.normal(size=(n, 3))
    return src, dst


@pytest.mark.parametrize("weighted", [False, True])
def test_kabsch_matches_numpy_svd_and_scipy(weighted):
    rng = np.random.default_rng(5)
    src, dst = _noisy_pair(rng, 12)
    w = rng.uniform(0.2, 2.0, 12) if weighted else None
    tr = kabsch(src, dst, weights=w)
    _, r_ref, t_ref = _numpy_umeyama(src, dst, w, with_scale=False)
    assert float(tr.scale) == 1.0
    np.testing.assert_allclose(tr.rotation, r_ref, atol=1e-12)
    np.testing.assert_allclose(tr.translation, t_ref, atol=1e-12)
    # SciPy's Wahba solver on the (weighted-)centred points: dst_c ~ R src_c.
    ww = np.ones(12) if w is None else w
    ww = ww / ww.sum()
    rot, _ = Rotation.align_vectors(dst - ww @ dst, src - ww @ src, weights=w)
    np.testing.assert_allclose(tr.rotation, rot.as_matrix(), atol=1e-10)

    # Optimality: no small perturbation of the rotation lowers the weighted cost.
    def cost(r, t):
        return np.sum(ww * np.sum((src @ r.T + t - dst) ** 2, axis=1))

    best = cost(np.asarray(tr.rotation), np.asarray(tr.translation))
    for _ in range(5):
        dr = Rotation.from_rotvec(1e-3 * rng.normal(size=3)).as_matrix()
        r2 = dr @ np.asarray(tr.rotation)
        assert cost(r2, ww @ dst - r2 @ (ww @ src)) > best


@pytest.mark.parametrize("weighted", [False, True])
def test_umeyama_matches_numpy_and_recovers_known_similarity(weighted):
    rng = np.random.default_rng(6)
    src, dst = _noisy_pair(rng, 10, scale=1.7)
    w = rng.uniform(0.2, 2.0, 10) if weighted else None
    tr = umeyama(src, dst, weights=w)
    c_ref, r_ref, t_ref = _numpy_umeyama(src, dst, w)
    np.testing.assert_allclose(tr.scale, c_ref, rtol=1e-12)
    np.testing.assert_allclose(tr.rotation, r_ref, atol=1e-12)
    np.testing.assert_allclose(tr.translation, t_ref, atol=1e-11)
    # Noise-free data: exact recovery of (s, R, t).
    r0, t0, s0 = _random_rotation(rng), np.array([1.0, -2.0, 30.0]), 0.37
    target = s0 * src @ r0.T + t0
    tr = umeyama(src, target, weights=w)
    np.testing.assert_allclose(tr.scale, s0, rtol=1e-13)
    np.testing.assert_allclose(tr.rotation, r0, atol=1e-13)
    np.testing.assert_allclose(tr.translation, t0, atol=1e-12)
    np.testing.assert_allclose(tr.apply(src), target, atol=1e-12)
    tr = umeyama(src, target, with_scale=False)
    assert float(tr.scale) == 1.0
    np.testing.assert_allclose(tr.rotation, r0, atol=1e-13)  # rotation unaffected by scale


def test_reflections_are_rejected():
    rng = np.random.default_rng(7)
    src = rng.normal(size=(8, 3)) * np.array([3.0, 2.0, 1.0])
    mirrored = src * np.array([-1.0, 1.0, 1.0])  # the best orthogonal map is a reflection
    for fit in (kabsch, umeyama):
        tr = fit(src, mirrored)
        r = np.asarray(tr.rotation)
        assert np.linalg.det(r) == pytest.approx(1.0, abs=1e-12)
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-13)
        rot, _ = Rotation.align_vectors(
            mirrored - mirrored.mean(0), src - src.mean(0)
        )  # SciPy also returns the best proper rotation
        np.testing.assert_allclose(r, rot.as_matrix(), atol=1e-10)
    # umeyama's scale uses the sign-corrected trace (d1 + d2 - d3) / var.
    c_ref, _, _ = _numpy_umeyama(src, mirrored)
    np.testing.assert_allclose(umeyama(src, mirrored).scale, c_ref, rtol=1e-12)
    assert float(umeyama(src, mirrored).scale) < 1.0


def test_similarity_transform_algebra():
    rng = np.random.default_rng(8)
    a = SimilarityTransform(
        scale=jnp.asarray(2.0),
        rotation=jnp.asarray(_random_rotation(rng)),
        translation=jnp.asarray(rng.normal(size=3)),
    )
    b = SimilarityTransform(
        scale=jnp.asarray(0.5),
        rotation=jnp.asarray(_random_rotation(rng)),
        translation=jnp.asarray(rng.normal(size=3)),
    )
    p = jnp.asarray(rng.normal(size=(6, 3)))
    np.testing.assert_allclose(a.inverse().apply(a.apply(p)), p, atol=1e-13)
    np.testing.assert_allclose(a.compose(b).apply(p), a.apply(b.apply(p)), atol=1e-13)
    h = np.concatenate([np.asarray(p), np.ones((6, 1))], axis=1) @ np.asarray(a.matrix()).T
    np.testing.assert_allclose(h[:, :3], a.apply(p), atol=1e-13)
    ident = SimilarityTransform.identity(jnp.float64)
    np.testing.assert_allclose(ident.apply(p), p)
    assert ident.rotation.dtype == jnp.float64
    assert SimilarityTransform.identity(jnp.float32).scale.dtype == jnp.float32


def _face_landmarks(rng, n=20):
    """A toy landmark set in the model frame (x subject's left, y up, z toward the camera)."""
    return rng.normal(size=(n, 3)) * np.array([4.0, 5.0, 2.0])


def test_remove_head_pose_recovers_pose_from_rigid_subset():
    rng = np.random.default_rng(9)
    neutral = _face_landmarks(rng) + np.array([0.0, 0.0, 60.0])
    rigid = np.array([0, 3, 5, 8, 11])
    non_rigid = np.setdiff1d(np.arange(20), rigid)
    expression = np.zeros_like(neutral)
    expression[non_rigid] = rng.normal(size=(non_rigid.size, 3))  # large non-rigid motion
    r_head = Rotation.from_euler("xyz", [10.0, -25.0, 5.0], degrees=True).as_matrix()
    t_head = np.array([2.0, -1.0, 5.0])
    observed = (neutral + expression) @ r_head.T + t_head
    aligned, tr = remove_head_pose(observed, neutral, rigid_indices=rigid)
    # R_A, T_A undo the head pose exactly ...
    np.testing.assert_allclose(tr.rotation, r_head.T, atol=1e-12)
    np.testing.assert_allclose(tr.translation, -r_head.T @ t_head, atol=1e-11)
    assert float(tr.scale) == 1.0
    # ... so the aligned landmarks are the neutral face plus the expression only.
    np.testing.assert_allclose(aligned, neutral + expression, atol=1e-11)

    # Eq. 4: for any rotation the two terms are equal, so both halves are minimised together.
    def eq4_terms(r, t):
        p, pb = observed[rigid], neutral[rigid]
        return np.linalg.norm(pb - p @ r.T - t), np.linalg.norm(pb @ r - t @ r - p)

    for r in (np.asarray(tr.rotation), _random_rotation(rng)):
        t1, t2 = eq4_terms(r, rng.normal(size=3))
        assert t1 == pytest.approx(t2, rel=1e-12)
    # A float32 point set stays float32 (and jits).
    a32, tr32 = jax.jit(remove_head_pose)(
        observed.astype(np.float32), neutral.astype(np.float32), rigid_indices=rigid
    )
    assert a32.dtype == jnp.float32 and tr32.rotation.dtype == jnp.float32
    np.testing.assert_allclose(a32, neutral + expression, atol=1e-3)


def test_register_similarity_maps_camera_landmarks_into_the_model_frame():
    rng = np.random.default_rng(10)
    model = _face_landmarks(rng)  # blendshape frame, y up
    rigid = np.array([1, 2, 4, 7, 9, 13])
    moved = model.copy()
    non_rigid = np.setdiff1d(np.arange(20), rigid)
    moved[non_rigid] += rng.normal(size=(non_rigid.size, 3))
    # Back-projected landmarks at a wrong zbar: camera frame (y down, z forward), wrong scale.
    r_cam, t_cam = look_at_pose(np.array([5.0, 3.0, 60.0]), np.zeros(3))
    s = 1.3
    camera = s * moved @ np.asarray(r_cam).T + s * np.asarray(t_cam)
    registered, tr = register_similarity(camera, model, rigid_indices=rigid)
    np.testing.assert_allclose(tr.scale, 1.0 / s, rtol=1e-12)
    np.testing.assert_allclose(tr.rotation, np.asarray(r_cam).T, atol=1e-12)
    np.testing.assert_allclose(registered, moved, atol=1e-10)


def test_kabsch_and_umeyama_gradients():
    rng = np.random.default_rng(11)
    src, dst = _noisy_pair(rng, 5, scale=1.2)
    src, dst = jnp.asarray(src), jnp.asarray(dst)
    w = jnp.asarray(rng.uniform(0.5, 1.5, 5))

    def fits(s, d, ww):  # one function, so that one compilation serves both checks
        rigid = kabsch(s, d, weights=ww)
        similar = umeyama(s, d, weights=ww)
        return (
            rigid.rotation,
            rigid.translation,
            similar.scale,
            similar.rotation,
            similar.translation,
        )

    check_grads(jax.jit(fits), (src, dst, w), order=1, modes=("fwd", "rev"))


def test_vmap_over_a_batch_of_point_sets():
    rng = np.random.default_rng(12)
    pairs = [_noisy_pair(rng, 7, scale=0.8) for _ in range(3)]
    src = jnp.asarray(np.stack([p[0] for p in pairs]))
    dst = jnp.asarray(np.stack([p[1] for p in pairs]))
    batched = jax.jit(jax.vmap(umeyama))(src, dst)
    assert batched.rotation.shape == (3, 3, 3) and batched.scale.shape == (3,)
    for i in range(3):
        one = umeyama(src[i], dst[i])
        np.testing.assert_allclose(batched.rotation[i], one.rotation, atol=1e-12)
        np.testing.assert_allclose(batched.scale[i], one.scale, rtol=1e-12)
        np.testing.assert_allclose(batched.translation[i], one.translation, atol=1e-11)
    neutral = dst[0]
    aligned, tr = jax.vmap(lambda p: remove_head_pose(p, neutral, rigid_indices=np.arange(7)))(dst)
    assert aligned.shape == (3, 7, 3)
    np.testing.assert_allclose(aligned[0], neutral, atol=1e-12)
    uv = jax.vmap(perspective_project, in_axes=(0, None))(
        dst + jnp.array([0.0, 0.0, 50.0])[None, None, :],
        intrinsics_matrix(focal=800.0, center=np.array([320.0, 240.0])),
    )
    assert uv.shape == (3, 7, 2)


# ------------------------------------------------------------------------------------------------
# bad inputs


_K = np.array([[800.0, 0.0, 320.0], [0.0, 800.0, 240.0], [0.0, 0.0, 1.0]])
_P3 = np.random.default_rng(13).uniform(-5.0, 5.0, (10, 3)) + np.array([0.0, 0.0, 50.0])
_P2 = np.random.default_rng(14).uniform(0.0, 400.0, (10, 2))
_COLLINEAR = np.outer(np.arange(5.0), [1.0, 2.0, 3.0])
_PLANAR = np.concatenate([_P3[:, :2], np.zeros((10, 1))], axis=1)
_NAN3 = _P3.copy()
_NAN3[2, 1] = np.nan


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: dlt_calibrate(_P3[:, :2], _P2), r"points_3d must have shape \(n, 3\)"),
        (lambda: dlt_calibrate(_P3, _P3), r"points_2d must have shape \(n, 2\)"),
        (lambda: dlt_calibrate(_P3[:5], _P2[:5]), "at least 6 points"),
        (lambda: dlt_calibrate(_P3, _P2[:9]), "same number of points"),
        (lambda: dlt_calibrate(_PLANAR, _P2), "points_3d is degenerate.*coplanar"),
        (lambda: dlt_calibrate(_NAN3, _P2), "points_3d contains NaN"),
        (lambda: dlt_calibrate(_P3, _P2, refine_steps=0), "refine_steps"),
        (lambda: kabsch(_P3[:2], _P3[:2]), "at least 3 points"),
        (lambda: kabsch(_P3, _P3[:9]), "same number of points"),
        (lambda: kabsch(_COLLINEAR, _COLLINEAR), "source is degenerate.*collinear"),
        (lambda: umeyama(_P3[:, :2], _P3[:, :2]), r"source must have shape \(n, 3\)"),
        (lambda: umeyama(_P3, _NAN3), "target contains NaN"),
        (lambda: umeyama(_P3, _P3, weights=np.ones(9)), r"weights must have shape \(10,\)"),
        (lambda: umeyama(_P3, _P3, weights=-np.ones(10)), "weights must be finite and non-neg"),
        (
            lambda: kabsch(_P3, _P3, weights=np.r_[1.0, 1.0, np.zeros(8)]),
            "at least 3 positive",
        ),
        (lambda: remove_head_pose(_P3, _P3, rigid_indices=[0, 1, 10]), "rigid_indices must lie"),
        (lambda: remove_head_pose(_P3, _P3, rigid_indices=[0, 1]), "at least 3 indices"),
        (lambda: remove_head_pose(_P3, _P3, rigid_indices=[0.0, 1.0, 2.0]), "integers"),
        (lambda: register_similarity(_P3, _P3[:9], rigid_indices=[0, 1, 2]), "same shape"),
        (lambda: backproject(_P2, _K, -1.0), "depth must be finite and positive"),
        (lambda: backproject(_P2, _K, np.ones(3)), r"depth must have shape \(\) or \(10,\)"),
        (lambda: backproject(_P2, np.zeros((3, 3)), 1.0), "intrinsics must be an invertible"),
        (lambda: backproject(_P3, _K, 1.0), r"points_2d must have shape \(n, 2\)"),
        (lambda: perspective_project(-_P3, _K), "in front of the camera"),
        (lambda: perspective_project(_P3, _K[:2]), r"intrinsics must have shape \(3, 3\)"),
        (lambda: weak_perspective_project(_P3, _K, depth=0.0), "depth must be finite and pos"),
        (lambda: scaled_orthographic_project(_P3, scale=-1.0), "scale must be finite and pos"),
        (lambda: intrinsics_matrix(focal=0.0, center=[1.0, 2.0]), "focal must be finite"),
        (lambda: intrinsics_matrix(focal=1.0, center=[1.0, 2.0, 3.0]), r"center must have shape"),
        (lambda: look_at_pose(np.zeros(3), np.array([0.0, 1.0, 0.0])), "up must not be parallel"),
        (lambda: rotation_from_axis_angle(np.ones(4)), r"axis_angle must have shape \(3,\)"),
    ],
)
def test_bad_inputs_raise_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_value_checks_are_skipped_under_jit():
    # Under tracing only shapes are checked; a bad depth produces a (meaningless) result.
    out = jax.jit(lambda q, z: backproject(q, _K, z))(_P2, -1.0)
    assert out.shape == (10, 3)
    with pytest.raises(ValueError, match="points_2d must have shape"):
        jax.jit(lambda q: backproject(q, _K, 1.0))(_P3)
