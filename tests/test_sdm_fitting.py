"""Seed 004's camera solve (eq. 6), landmark fitting (eq. 7) and scan fitting (section 4.1)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from aujax.datasets import (
    BOSPHORUS_TO_IBUG68,
    Landmarks3D,
    RangeScan,
    read_bnt,
    read_lm3,
    write_bnt,
    write_lm3,
)
from aujax.face import BilinearModel, identity_basis, make_face
from aujax.geometry import SimilarityTransform, scaled_orthographic_pose, umeyama
from aujax.methods.sdm import (
    DEFAULT_LAMBDA_EXP,
    DEFAULT_LAMBDA_ID,
    fit_camera,
    fit_landmarks,
    fit_scan,
    landmark_objective,
    project_model,
    uniform_laplacian,
)


# small, compile-bound problems: XLA's optimisations off for this module (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("fast_compile")


# --------------------------------------------------------------------------------------------
# models


@pytest.fixture(scope="module")
def model():
    """A generic full-rank bilinear model: 40 vertices, 12 subjects x 6 expressions, whose
    expressions scale with a subject-specific gain (a genuinely bilinear population)."""
    rng = np.random.default_rng(0)
    ns, ne, nv = 12, 6, 40
    base = rng.normal(size=(nv, 3)) * 5.0
    ids = rng.normal(size=(ns, nv, 3)) * 0.8
    exps = rng.normal(size=(ne, nv, 3)) * 0.5
    gain = 1.0 + 0.3 * rng.normal(size=(ns, 1, 1))
    meshes = base[None, None] + ids[:, None] + gain[:, None] * exps[None]
    return BilinearModel.from_tensor(meshes, n_id=ns, n_exp=ne)


def _camera(euler, scale, txy):
    # image y down, model y up: the flip diag(1, -1, -1) is a rotation by pi about x
    rot = Rotation.from_euler("xyz", euler, degrees=True).as_matrix() @ np.diag([1.0, -1.0, -1.0])
    return SimilarityTransform(
        scale=jnp.asarray(float(scale)),
        rotation=jnp.asarray(rot),
        translation=jnp.asarray([txy[0], txy[1], 0.0]),
    )


#: one iteration count for every landmark fit below: one compilation per landmark count
N_IT = 50


def _spread(points):
    points = np.asarray(points)
    return float(np.mean(np.sum(np.square(points - points.mean(axis=0)), axis=1)))


# --------------------------------------------------------------------------------------------
# eq. 6: the camera


@pytest.mark.parametrize("euler", [(0.0, 0.0, 0.0), (10.0, 50.0, -5.0), (-30.0, -80.0, 170.0)])
def test_camera_solve_recovers_a_known_scaled_orthographic_camera(euler):
    """Noise-free points: s, R and t_xy exactly (float64), also with corrupted points weighted 0."""
    rng = np.random.default_rng(1)
    p = rng.normal(size=(15, 3))
    cam = _camera(euler, 37.5, (320.0, 240.0))
    q = np.asarray(cam.apply(jnp.asarray(p)))[:, :2]
    solve = jax.jit(scaled_orthographic_pose)  # one compilation instead of many eager ops
    pose = solve(jnp.asarray(p), jnp.asarray(q))
    np.testing.assert_allclose(pose.scale, 37.5, rtol=1e-12)
    np.testing.assert_allclose(pose.rotation, cam.rotation, atol=1e-12)
    np.testing.assert_allclose(pose.translation, cam.translation, atol=1e-9)
    assert np.isclose(np.linalg.det(np.asarray(pose.rotation)), 1.0)
    q_bad = q.copy()
    q_bad[:3] += 50.0
    w = np.ones(15)
    w[:3] = 0.0
    pose = solve(jnp.asarray(p), jnp.asarray(q_bad), weights=jnp.asarray(w))
    np.testing.assert_allclose(pose.scale, 37.5, rtol=1e-12)
    np.testing.assert_allclose(pose.rotation, cam.rotation, atol=1e-12)
    np.testing.assert_allclose(pose.translation, cam.translation, atol=1e-9)


def test_fit_camera_at_the_true_weights_is_exact(model):
    idx = jnp.arange(model.n_vertices)
    a, b = model.train_id_weights[3], model.train_exp_weights[2]
    cam = _camera((5.0, -25.0, 8.0), 12.0, (100.0, 80.0))
    q = project_model(model, a, b, cam, idx)
    got = fit_camera(model, a, b, q, idx)
    np.testing.assert_allclose(got.scale, 12.0, rtol=1e-12)
    np.testing.assert_allclose(got.rotation, cam.rotation, atol=1e-12)
    np.testing.assert_allclose(got.translation, cam.translation, atol=1e-9)


def test_project_model_is_eqs_3_and_4(model):
    idx = jnp.array([3, 0, 17, 9])
    a, b = model.train_id_weights[1], model.train_exp_weights[4]
    cam = _camera((10.0, 20.0, 30.0), 3.0, (1.0, 2.0))
    v = np.einsum("vcie,i,e->vc", np.asarray(model.core)[np.asarray(idx)], a, b)
    expected = 3.0 * (v @ np.asarray(cam.rotation).T)[:, :2] + np.array([1.0, 2.0])
    np.testing.assert_allclose(project_model(model, a, b, cam, idx), expected, atol=1e-12)


# --------------------------------------------------------------------------------------------
# eq. 7: landmark fitting


def _truth(model):
    a, b = model.train_id_weights[3], model.train_exp_weights[2]
    cam = _camera((10.0, 30.0, -5.0), 20.0, (100.0, 120.0))
    return a, b, cam


def test_noise_free_fit_recovers_the_landmarks_and_the_projected_mesh(model):
    """lambda = 0 on exact landmarks: zero residual, the whole mesh projects as the truth, the
    rotation and s * (w_id outer w_exp) are recovered (the weights themselves only up to the
    bilinear model's scale: (k w_id, w_exp, s / k) projects identically)."""
    a, b, cam = _truth(model)
    idx = jnp.arange(model.n_vertices)
    q = project_model(model, a, b, cam, idx)
    fit = fit_landmarks(model, q, idx, n_iterations=N_IT, lambda_id=0.0, lambda_exp=0.0)
    size = np.sqrt(_spread(q))
    assert fit.residual.shape == (N_IT,) and fit.objective.shape == (N_IT,)
    assert float(fit.residual[-1]) < 1e-9 * size
    # the residual is the objective here (no prior): it never increases
    assert np.all(np.diff(np.asarray(fit.residual)) <= 1e-12 * float(fit.residual[0]))
    np.testing.assert_allclose(
        project_model(model, fit.w_id, fit.w_exp, fit.camera, idx), q, atol=1e-9 * size
    )
    np.testing.assert_allclose(fit.camera.rotation, cam.rotation, atol=1e-9)
    np.testing.assert_allclose(
        fit.camera.scale * np.outer(fit.w_id, fit.w_exp), 20.0 * np.outer(a, b), atol=1e-9
    )


def test_objective_never_increases_with_priors_and_noise(model):
    a, b, cam = _truth(model)
    idx = jnp.arange(model.n_vertices)
    q = np.asarray(project_model(model, a, b, cam, idx))
    q = q + np.random.default_rng(2).normal(size=q.shape) * 0.03 * np.sqrt(_spread(q))
    for lam in (DEFAULT_LAMBDA_ID, 1e-2):
        fit = fit_landmarks(model, q, idx, n_iterations=N_IT, lambda_id=lam, lambda_exp=lam)
        obj = np.asarray(fit.objective)
        assert np.all(np.diff(obj) <= 1e-12 * obj[0]), obj
        value = landmark_objective(
            model, fit.w_id, fit.w_exp, fit.camera, q, idx, lambda_id=lam, lambda_exp=lam
        )
        np.testing.assert_allclose(value, obj[-1], rtol=1e-10)
        rms = np.sqrt(
            np.mean(
                np.sum(np.square(q - project_model(model, fit.w_id, fit.w_exp, fit.camera, idx)), 1)
            )
        )
        np.testing.assert_allclose(fit.residual[-1], rms, rtol=1e-10)


def test_a_strong_prior_pins_the_weights_to_the_prior_means(model):
    a, b, cam = _truth(model)
    idx = jnp.arange(model.n_vertices)
    q = project_model(model, a, b, cam, idx)
    fit = fit_landmarks(model, q, idx, n_iterations=N_IT, lambda_id=1e8, lambda_exp=1e8)
    np.testing.assert_allclose(fit.w_id, model.id_mean, atol=1e-4)
    np.testing.assert_allclose(fit.w_exp, model.exp_mean, atol=1e-4)


def test_few_landmarks_are_regularised_by_the_priors(model):
    """5 landmarks (10 equations) for 12 identity weights: the default priors keep it finite."""
    a, b, cam = _truth(model)
    idx = jnp.arange(model.n_vertices)
    w = np.zeros(model.n_vertices)
    w[[0, 7, 13, 22, 35]] = 1.0
    q = project_model(model, a, b, cam, idx)
    fit = fit_landmarks(model, q, idx, n_iterations=N_IT, weights=w)
    assert np.all(np.isfinite(np.asarray(fit.w_id))) and np.all(np.isfinite(np.asarray(fit.w_exp)))
    assert float(fit.residual[-1]) < 0.05 * np.sqrt(_spread(q))


def test_fit_vmaps_over_images(model):
    idx = jnp.arange(model.n_vertices)
    cams = [
        _camera((0.0, 0.0, 0.0), 10.0, (50.0, 60.0)),
        _camera((10.0, 40.0, 0.0), 15.0, (80.0, 60.0)),
        _camera((-5.0, -60.0, 10.0), 8.0, (40.0, 70.0)),
    ]
    q = jnp.stack(
        [
            project_model(model, model.train_id_weights[s], model.train_exp_weights[e], c, idx)
            for s, e, c in zip((0, 5, 9), (1, 3, 5), cams, strict=True)
        ]
    )

    def fit(x):
        return fit_landmarks(model, x, idx, n_iterations=N_IT)

    batched = jax.jit(jax.vmap(fit))(q)
    assert batched.w_id.shape == (3, model.n_id) and batched.residual.shape == (3, N_IT)
    assert batched.camera.rotation.shape == (3, 3, 3)
    for i in range(3):
        one = fit(q[i])
        np.testing.assert_allclose(batched.w_id[i], one.w_id, atol=1e-9)
        np.testing.assert_allclose(batched.w_exp[i], one.w_exp, atol=1e-9)
        np.testing.assert_allclose(batched.camera.rotation[i], one.camera.rotation, atol=1e-9)
        np.testing.assert_allclose(batched.residual[i], one.residual, rtol=1e-8, atol=1e-12)


def test_missing_landmarks_are_ignored(model):
    """NaN rows = weight 0 = rows whatever their values (here 1e6)."""
    a, b, cam = _truth(model)
    idx = jnp.arange(model.n_vertices)
    q = np.asarray(project_model(model, a, b, cam, idx))
    q = q + np.random.default_rng(3).normal(size=q.shape)
    drop = np.array([2, 11, 30])
    q_nan = q.copy()
    q_nan[drop, 1] = np.nan
    w = np.ones(model.n_vertices)
    w[drop] = 0.0
    q_far = q.copy()
    q_far[drop] = 1e6
    ref = fit_landmarks(model, q_far, idx, n_iterations=N_IT, weights=w)
    assert np.isfinite(float(ref.residual[-1])) and float(ref.residual[-1]) < 10.0
    for got in (
        fit_landmarks(model, q_nan, idx, n_iterations=N_IT),
        fit_landmarks(model, q, idx, n_iterations=N_IT, weights=w),
    ):
        np.testing.assert_allclose(got.w_id, ref.w_id, atol=1e-10)
        np.testing.assert_allclose(got.w_exp, ref.w_exp, atol=1e-10)
        np.testing.assert_allclose(got.residual, ref.residual, rtol=1e-9)


def test_init_at_the_truth_stays_there(model):
    a, b, cam = _truth(model)
    idx = jnp.arange(model.n_vertices)
    q = project_model(model, a, b, cam, idx)
    fit = fit_landmarks(
        model, q, idx, n_iterations=N_IT, lambda_id=0.0, lambda_exp=0.0, init=(a, b)
    )
    assert float(fit.residual[0]) < 1e-9 * np.sqrt(_spread(q))
    np.testing.assert_allclose(fit.w_id, a, atol=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(landmarks2d=np.ones((40, 3))), r"landmarks2d must have shape \(L, 2\)"),
        (dict(landmark_vertices=np.arange(39)), r"landmark_vertices must be \(40,\) integer"),
        (dict(landmark_vertices=np.arange(40) + 1), "landmark_vertices must lie in 0..39"),
        (dict(landmark_vertices=np.arange(40.0)), "landmark_vertices must be"),
        (dict(weights=-np.ones(40)), "weights must be finite and non-negative"),
        (dict(weights=np.ones(39)), r"weights must have shape \(40,\)"),
        (dict(weights=np.r_[np.ones(3), np.zeros(37)]), "at least 4 landmarks"),
        (dict(n_iterations=0), "n_iterations must be >= 1"),
        (dict(n_iterations=2.0), "n_iterations must be an int"),
        (dict(lambda_id=-1.0), "lambda_id must be finite and >= 0"),
        (dict(lambda_exp=np.nan), "lambda_exp must be finite and >= 0"),
        (dict(init=(np.zeros(3), np.zeros(6))), r"init must be \(w_id \(12,\), w_exp \(6,\)\)"),
    ],
)
def test_fit_landmarks_rejects_bad_input(model, kwargs, match):
    args = dict(
        landmarks2d=np.random.default_rng(4).normal(size=(40, 2)),
        landmark_vertices=np.arange(40),
        n_iterations=N_IT,
    )
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        fit_landmarks(model, args.pop("landmarks2d"), args.pop("landmark_vertices"), **args)


def test_fit_landmarks_rejects_too_few_landmarks(model):
    with pytest.raises(ValueError, match="at least 4 landmarks"):
        fit_landmarks(model, np.zeros((3, 2)), np.arange(3))


# --------------------------------------------------------------------------------------------
# section 4.1: fitting a range scan


@pytest.fixture(scope="module")
def face():
    """A face-like bilinear model on the procedural template (417 vertices): 10 subjects (identity
    modes 0-9) x 6 expressions (smooth fields from modes 10-19, subject-specific gains)."""
    template = make_face(400)
    basis = np.asarray(identity_basis(template), np.float64)
    vertices = np.asarray(template.vertices, np.float64)
    triangles = np.asarray(template.triangles)
    rng = np.random.default_rng(0)
    ns, ne = 10, 6
    ids = np.einsum("sk,knc->snc", rng.normal(size=(ns, 10)), basis[:10])
    exps = np.einsum("ek,knc->enc", rng.normal(size=(ne, 10)), basis[10:20])
    exps[0] = 0.0  # a neutral
    gain = 1.0 + 0.3 * rng.normal(size=(ns, 1, 1))
    meshes = vertices[None, None] + ids[:, None] + gain[:, None] * exps[None]
    model = BilinearModel.from_tensor(meshes, n_id=ns, n_exp=ne, faces=triangles)
    corner = np.argmax(np.asarray(template.landmark_barycentric), axis=1)
    ibug = triangles[np.asarray(template.landmark_triangles), corner]  # (68,) vertex per landmark
    return model, ibug, template


#: the iBUG points a Bosphorus .lm3 has (BOSPHORUS_TO_IBUG68's targets)
_LM3_IBUG = np.array(sorted(BOSPHORUS_TO_IBUG68.values()))
_TO_MM = dict(scale=10.0, euler=(5.0, 20.0, -3.0), translation=(3.0, -20.0, 700.0))


def _to_scan(x):
    rot = Rotation.from_euler("xyz", _TO_MM["euler"], degrees=True).as_matrix()
    return _TO_MM["scale"] * x @ rot.T + np.array(_TO_MM["translation"])


def _scan(face, *, seed=0, n_points=6000, noise=0.01, bump=False, below=None):
    """A scan (mm, rotated, translated) sampled on a known model mesh, and its iBUG landmarks."""
    model, ibug, template = face
    rng = np.random.default_rng(seed)
    a = np.asarray(model.id_mean) + 0.7 * np.sqrt(np.asarray(model.id_var)) * rng.normal(
        size=model.n_id
    )
    b = np.asarray(model.exp_mean) + 0.7 * np.sqrt(np.asarray(model.exp_var)) * rng.normal(
        size=model.n_exp
    )
    truth = np.asarray(model.vertices(a, b))
    if bump:  # a 3 mm smooth bump on the right cheek that the model cannot represent
        xy = np.asarray(template.vertices)[:, :2]
        height = 0.3 * np.exp(-np.sum(np.square(xy - np.array([4.0, -1.0])), axis=1) / 8.0)
        truth = truth + height[:, None] * np.array([0.0, 0.0, 1.0])
    tris = np.asarray(model.faces)
    corners = truth[tris]
    area = np.linalg.norm(
        np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1
    )
    if below is not None:  # a partial scan: only the triangles below height y = below (cm)
        area = area * (corners[:, :, 1].mean(axis=1) < below)
    which = rng.choice(tris.shape[0], n_points, p=area / area.sum())
    u = rng.uniform(size=(n_points, 2))
    flip = u.sum(axis=1) > 1
    u[flip] = 1.0 - u[flip]
    bary = np.stack([1.0 - u.sum(axis=1), u[:, 0], u[:, 1]], axis=1)
    points = np.einsum("pk,pkc->pc", bary, corners[which]) + noise * rng.normal(size=(n_points, 3))
    landmarks = np.full((68, 3), np.nan)  # only the .lm3's points, as to_ibug68 gives them
    landmarks[_LM3_IBUG] = truth[ibug[_LM3_IBUG]] + 0.05 * rng.normal(size=(_LM3_IBUG.size, 3))
    return _to_scan(points), _to_scan(landmarks), _to_scan(truth), (a, b)


def _rms(x):
    return float(np.sqrt(np.mean(np.sum(np.square(x), axis=1))))


def _placed(fit, vertices):
    return np.asarray(fit.transform.apply(jnp.asarray(vertices)))


def test_fit_scan_recovers_a_known_mesh(face):
    model, ibug, _ = face
    points, landmarks, truth, _ = _scan(face)
    fit = fit_scan(model, points, landmarks, ibug)
    size = np.sqrt(_spread(truth))  # ~87 mm
    assert fit.w_id.shape == (model.n_id,) and fit.mesh.shape == (model.n_vertices, 3)
    assert fit.residual.shape == (30,) and fit.mesh_residual.shape == (3,)
    # S* and M on the scan, against the mesh the scan was sampled from: < 1 % of the face size
    assert _rms(_placed(fit, fit.model_vertices) - truth) < 0.01 * size
    assert _rms(_placed(fit, fit.mesh) - truth) < 0.01 * size
    rot = Rotation.from_euler("xyz", _TO_MM["euler"], degrees=True).as_matrix()
    np.testing.assert_allclose(fit.transform.rotation, rot, atol=0.01)
    # the point-to-plane residual is down to the scan's sampling, not the model
    assert fit.residual[-1] < fit.residual[0]
    assert float(fit.mesh_residual[-1]) < 0.5 and float(fit.inlier_fraction) > 0.95
    # S* is the model at g*
    np.testing.assert_allclose(fit.model_vertices, model.vertices(fit.w_id, fit.w_exp), atol=1e-10)


def test_fit_scan_is_not_broken_by_outliers(face):
    """10 % uniform clutter around the face and a detached cluster 25 mm in front of it."""
    model, ibug, _ = face
    points, landmarks, truth, _ = _scan(face)
    rng = np.random.default_rng(5)
    lo, hi = points.min(axis=0) - 30.0, points.max(axis=0) + 30.0
    clutter = rng.uniform(lo, hi, size=(600, 3))
    cluster = points[:50] + np.array([0.0, 0.0, 25.0])
    clean = fit_scan(model, points, landmarks, ibug)
    noisy = fit_scan(model, np.concatenate([points, clutter, cluster]), landmarks, ibug)
    size = np.sqrt(_spread(truth))
    for vertices in (noisy.model_vertices, noisy.mesh):
        assert _rms(_placed(noisy, vertices) - truth) < 0.01 * size
    err_clean = _rms(_placed(clean, clean.mesh) - truth)
    assert _rms(_placed(noisy, noisy.mesh) - truth) < 1.25 * err_clean


def test_laplacian_deformation_follows_detail_the_model_lacks(face):
    """An off-model 3 mm bump: M follows it, S* (the model) cannot."""
    model, ibug, template = face
    points, landmarks, truth, _ = _scan(face, bump=True)
    fit = fit_scan(model, points, landmarks, ibug)
    xy = np.asarray(template.vertices)[:, :2]
    near = np.sum(np.square(xy - np.array([4.0, -1.0])), axis=1) < 4.0
    err_s = _rms((_placed(fit, fit.model_vertices) - truth)[near])
    err_m = _rms((_placed(fit, fit.mesh) - truth)[near])
    assert err_m < 0.7 * err_s, (err_m, err_s)
    # no deformation step: M is S*
    rigid = fit_scan(model, points, landmarks, ibug, n_nonrigid=0)
    np.testing.assert_allclose(rigid.mesh, rigid.model_vertices, atol=1e-10)
    assert rigid.mesh_residual.shape == (0,)


def test_fit_scan_reads_a_bosphorus_sample(face, tmp_path):
    """The real path: a .bnt (mm) and a .lm3 written and read by aujax.datasets, to_ibug68."""
    model, ibug, _ = face
    points, landmarks, truth, _ = _scan(face)
    scan = RangeScan(
        xyz=points[None],
        uv=np.zeros((1, points.shape[0], 2)),
        valid=np.ones((1, points.shape[0]), bool),
        zmin=float(points[:, 2].min()) - 100.0,
        image_file="bs000_N_N_0.png",
    )
    write_bnt(tmp_path / "bs000_N_N_0.bnt", scan)
    names = [n for n, i in BOSPHORUS_TO_IBUG68.items()]
    write_lm3(
        tmp_path / "bs000_N_N_0.lm3",
        Landmarks3D(tuple(names), np.array([landmarks[BOSPHORUS_TO_IBUG68[n]] for n in names])),
    )
    lm, present = read_lm3(tmp_path / "bs000_N_N_0.lm3").to_ibug68()
    assert present.sum() == _LM3_IBUG.size
    fit = fit_scan(model, read_bnt(tmp_path / "bs000_N_N_0.bnt").points(), lm, ibug)
    assert _rms(_placed(fit, fit.mesh) - truth) < 0.01 * np.sqrt(_spread(truth))


def test_uniform_laplacian():
    faces = np.array([[0, 1, 2], [1, 3, 2], [2, 3, 4]])
    lap = uniform_laplacian(faces, 6).toarray()  # vertex 5 is isolated
    np.testing.assert_allclose(lap @ np.ones(6), 0.0, atol=1e-15)
    np.testing.assert_allclose(lap[5], 0.0)
    np.testing.assert_allclose(lap[0], [1.0, -0.5, -0.5, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(lap[2], [-0.25, -0.25, 1.0, -0.25, -0.25, 0.0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(points=np.full((10, 3), np.nan)), "points must be finite"),
        (dict(points=np.ones((10, 2))), r"points must have shape \(P, 3\)"),
        (dict(landmarks3d=np.full((68, 3), np.nan)), "at least 3 finite landmarks"),
        (dict(landmark_vertices=np.arange(67)), r"landmark_vertices must be \(68,\) integer"),
        (dict(landmark_vertices=np.full(68, 10_000)), "landmark_vertices must lie in"),
        (dict(lambda_id=-1.0), "lambda_id must be finite and >= 0"),
        (dict(outlier_factor=1.0), "outlier_factor must be finite and > 1"),
        (dict(n_icp=0), "n_icp must be an int >= 1"),
        (dict(n_normal_neighbours=2), "n_normal_neighbours must be 0 or in 3.."),
        (dict(vertex_mask=np.ones(5, bool)), "vertex_mask must be a bool array"),
        (dict(max_distance=-1.0), "max_distance must be finite and > 0"),
    ],
)
def test_fit_scan_rejects_bad_input(face, kwargs, match):
    model, ibug, _ = face
    args = dict(
        points=np.random.default_rng(6).normal(size=(50, 3)),
        landmarks3d=np.random.default_rng(7).normal(size=(68, 3)),
        landmark_vertices=ibug,
    )
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        fit_scan(
            model,
            args.pop("points"),
            args.pop("landmarks3d"),
            args.pop("landmark_vertices"),
            **args,
        )


def test_fit_scan_needs_faces_for_the_deformation(model):
    points = np.random.default_rng(8).normal(size=(50, 3))
    with pytest.raises(ValueError, match="faces: the Laplacian deformation needs triangles"):
        fit_scan(model, points, points[:5], np.arange(5))
    fit = fit_scan(
        model, points, points[:5], np.arange(5), n_nonrigid=0, n_icp=1, n_normal_neighbours=0
    )
    assert fit.mesh.shape == (model.n_vertices, 3)


def test_defaults_are_documented_values():
    assert DEFAULT_LAMBDA_ID == DEFAULT_LAMBDA_EXP == 1e-4


def test_fit_runs_in_the_model_dtype(model):
    """float32 landmarks on a float64 model: cast to the model's dtype (strict promotion)."""
    a, b, cam = _truth(model)
    idx = jnp.arange(model.n_vertices)
    q = np.asarray(project_model(model, a, b, cam, idx), np.float32)
    fit = fit_landmarks(model, q, idx, n_iterations=N_IT)
    assert fit.w_id.dtype == model.core.dtype == jnp.float64
    assert fit.camera.rotation.dtype == jnp.float64
    assert float(fit.residual[-1]) < 0.05 * np.sqrt(_spread(q))
    assert project_model(model, np.float32(a), np.float32(b), cam, idx).dtype == jnp.float64


def test_default_priors_beat_no_priors_under_detector_noise(face):
    """The documented choice of the defaults (seeded): 68 landmarks with noise of 1 % of their
    spread, weights drawn from the priors; the MAP lambda (1e-4) gives a better 3D shape than none.
    """
    model, ibug, _ = face
    rng = np.random.default_rng(11)
    idx = jnp.asarray(ibug)
    cam = _camera((10.0, 25.0, -5.0), 10.0, (100.0, 100.0))
    errors = {0.0: [], DEFAULT_LAMBDA_ID: []}
    for _ in range(4):
        a = np.asarray(model.id_mean) + np.sqrt(np.asarray(model.id_var)) * rng.normal(
            size=model.n_id
        )
        b = np.asarray(model.exp_mean) + np.sqrt(np.asarray(model.exp_var)) * rng.normal(
            size=model.n_exp
        )
        truth = np.asarray(model.vertices(a, b))
        q = np.asarray(project_model(model, a, b, cam, idx))
        q = q + rng.normal(size=q.shape) * 0.01 * np.sqrt(_spread(q))
        for lam in errors:
            fit = fit_landmarks(model, q, idx, n_iterations=N_IT, lambda_id=lam, lambda_exp=lam)
            shape = np.asarray(model.vertices(fit.w_id, fit.w_exp))
            aligned = np.asarray(umeyama(shape, truth).apply(jnp.asarray(shape)))
            errors[lam].append(_rms(aligned - truth))
    assert np.mean(errors[DEFAULT_LAMBDA_ID]) < 0.8 * np.mean(errors[0.0]), errors


def test_partial_scan_with_a_vertex_mask(face):
    """A scan missing the upper face (forehead, brows): the model completes it from the visible
    part; ``vertex_mask`` keeps the unseen vertices out of the matching."""
    model, ibug, template = face
    y = np.asarray(template.vertices)[:, 1]
    cut = np.quantile(y, 0.6)
    points, landmarks, truth, _ = _scan(face, below=cut)
    landmarks[17:27] = np.nan  # the brows are not on the scan
    size = np.sqrt(_spread(truth))
    seen = y < cut - 0.5
    fit = fit_scan(model, points, landmarks, ibug, vertex_mask=seen)
    assert float(fit.inlier_fraction) > 0.95  # of the masked vertices
    for vertices in (fit.model_vertices, fit.mesh):
        assert _rms((_placed(fit, vertices) - truth)[seen]) < 0.01 * size
    # the unseen forehead comes from the model alone: a looser bound on the whole face
    assert _rms(_placed(fit, fit.model_vertices) - truth) < 0.02 * size
