"""The morphable model of seed 002 (eqs. 1-2, ``aujax.face.MorphableModel``) and its PCA."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.decomposition import PCA as SkPCA, TruncatedSVD

from aujax.datasets import FaceWarehouseData, read_facewarehouse
from aujax.face import (
    PCA,
    MorphableModel,
    landmark_subset,
    landmarks_from_vertices,
    make_face,
    pca,
    template_albedos,
)
from aujax.synth import FACEWAREHOUSE_EXPRESSIONS, generate_facewarehouse


_N = 400  # template resolution of the generated copy (the smallest make_face allows)
_SUBJECTS = 4
_EXPRESSIONS = FACEWAREHOUSE_EXPRESSIONS[:10]


def _data(rng, m=40, d=12):
    """Samples with clearly separated variances (a well-defined PCA)."""
    scales = np.linspace(3.0, 0.2, d)
    return rng.normal(size=(m, d)) * scales[None] @ np.linalg.qr(rng.normal(size=(d, d)))[0]


def _assert_same_up_to_sign(a, b, atol):
    """Rows of ``a`` equal rows of ``b`` up to one sign per row."""
    signs = np.sign(np.sum(a * b, axis=1))
    assert np.all(signs != 0)
    np.testing.assert_allclose(a * signs[:, None], b, atol=atol)


# ------------------------------------------------------------------------------------------ PCA


def test_centred_pca_matches_sklearn():
    x = _data(np.random.default_rng(0))
    ours = pca(x, n_components=5)
    ref = SkPCA(n_components=5, svd_solver="full").fit(x)
    assert isinstance(ours, PCA)
    np.testing.assert_allclose(ours.mean, ref.mean_, atol=1e-12)
    _assert_same_up_to_sign(np.asarray(ours.components), ref.components_, atol=1e-10)
    np.testing.assert_allclose(ours.explained_variance, ref.explained_variance_, rtol=1e-10)
    np.testing.assert_allclose(ours.singular_values, ref.singular_values_, rtol=1e-10)
    # transform: the same scores up to the components' signs
    signs = np.sign(np.sum(np.asarray(ours.components) * ref.components_, axis=1))
    np.testing.assert_allclose(ours.transform(x) * signs[None], ref.transform(x), atol=1e-10)
    full = pca(x, n_components=12)
    np.testing.assert_allclose(full.inverse_transform(full.transform(x)), x, atol=1e-10)


def test_pca_sign_convention_is_deterministic():
    x = _data(np.random.default_rng(1))
    p = np.asarray(pca(x, n_components=6).components)
    q = np.asarray(pca(-x, n_components=6).components)  # the same axes, flipped data
    np.testing.assert_allclose(p, q, atol=1e-10)
    pivot = p[np.arange(6), np.argmax(np.abs(p), axis=1)]
    assert np.all(pivot > 0)
    np.testing.assert_allclose(p @ p.T, np.eye(6), atol=1e-12)


def test_uncentred_pca_matches_sklearn_on_symmetrised_data_and_truncated_svd():
    """Uncentred PCA (the expression basis): the centred PCA of ``[X; -X]`` (mean exactly 0)."""
    x = _data(np.random.default_rng(2)) + 1.5  # a clear mean, which the uncentred PCA keeps
    ours = pca(x, n_components=4, center=False)
    np.testing.assert_array_equal(ours.mean, np.zeros(12))
    ref = SkPCA(n_components=4, svd_solver="full").fit(np.concatenate([x, -x]))
    _assert_same_up_to_sign(np.asarray(ours.components), ref.components_, atol=1e-10)
    m = x.shape[0]  # sklearn's variance of 2m samples: 2 s^2 / (2m - 1); ours s^2 / m
    np.testing.assert_allclose(
        np.asarray(ours.explained_variance) * m * 2.0 / (2 * m - 1), ref.explained_variance_,
        rtol=1e-10,
    )  # fmt: skip
    svd = TruncatedSVD(n_components=4, algorithm="arpack").fit(x)
    _assert_same_up_to_sign(np.asarray(ours.components), svd.components_, atol=1e-8)
    np.testing.assert_allclose(ours.singular_values, svd.singular_values_, rtol=1e-10)


def test_pca_errors():
    x = np.ones((5, 3))
    with pytest.raises(ValueError, match="n_components must be in 1..3"):
        pca(x, n_components=4)
    with pytest.raises(ValueError, match="data must have shape"):
        pca(np.ones(5), n_components=1)
    with pytest.raises(ValueError, match="at least 2 samples"):
        pca(np.ones((1, 3)), n_components=1)
    with pytest.raises(ValueError, match="NaN"):
        pca(np.full((3, 3), np.nan), n_components=1)


# ------------------------------------------------------------------- the model on FaceWarehouse


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("fw")
    generate_facewarehouse(
        root, n_subjects=_SUBJECTS, expressions=_EXPRESSIONS, n_poses=0, n_vertices=_N,
        progress=None,
    )  # fmt: skip
    return read_facewarehouse(root)


@pytest.fixture(scope="module")
def face():
    return make_face(_N, seed=0)


@pytest.fixture(scope="module")
def model(generated, face):
    return MorphableModel.from_facewarehouse(generated, template=face)


def test_model_from_generated_facewarehouse(generated, face, model):
    v = np.asarray(generated.vertices, np.float64)
    s, e, n, _ = v.shape
    assert (model.n_vertices, model.n_id, model.n_alb) == (n, s - 1, s - 1)
    offsets = (v[:, 1:] - v[:, :1]).reshape(s * (e - 1), -1)
    assert model.n_exp == min(79, s * (e - 1)) == s * (e - 1)  # capped by the data's rank
    # the bases are the PCAs of the neutrals (centred) and of the offsets (uncentred)
    ref = pca(v[:, 0].reshape(s, -1), n_components=s - 1)
    np.testing.assert_allclose(model.mean_shape.reshape(-1), ref.mean, atol=1e-9)
    np.testing.assert_allclose(np.asarray(model.id_basis).reshape(-1, s - 1).T, ref.components,
                               atol=1e-9)  # fmt: skip
    np.testing.assert_allclose(model.id_std, np.sqrt(ref.explained_variance), rtol=1e-9)
    ref = pca(offsets, n_components=model.n_exp, center=False)
    np.testing.assert_allclose(np.asarray(model.exp_basis).reshape(-1, model.n_exp).T,
                               ref.components, atol=1e-9)  # fmt: skip
    np.testing.assert_allclose(model.exp_std, np.sqrt(ref.explained_variance), rtol=1e-9)
    for basis in (model.id_basis, model.exp_basis, model.albedo_basis):
        b = np.asarray(basis).reshape(-1, basis.shape[2])
        np.testing.assert_allclose(b.T @ b, np.eye(b.shape[1]), atol=1e-10)
    # the template's embedding and triangles
    np.testing.assert_array_equal(model.triangles, face.triangles)
    np.testing.assert_allclose(model.landmark_weights, face.landmark_barycentric)


def test_eq1_reconstructs_every_training_mesh(generated, model):
    """Eq. 1 with the coefficients of the projections: every neutral and expression mesh, exactly
    (all identity axes and the offsets' full rank are kept); x_exp = 0 is the neutral."""
    v = np.asarray(generated.vertices, np.float64)
    a_id = np.asarray(model.id_basis).reshape(-1, model.n_id)
    a_exp = np.asarray(model.exp_basis).reshape(-1, model.n_exp)
    mean = np.asarray(model.mean_shape).reshape(-1)
    peak = np.abs(v[:, 1:] - v[:, :1]).max()
    assert peak > 0.5  # real expressions (cm)
    for s in range(v.shape[0]):
        x_id = a_id.T @ (v[s, 0].reshape(-1) - mean)
        np.testing.assert_allclose(model.vertices(x_id, np.zeros(model.n_exp)), v[s, 0],
                                   atol=1e-9)  # fmt: skip
        for e in range(1, v.shape[1]):
            x_exp = a_exp.T @ (v[s, e] - v[s, 0]).reshape(-1)
            np.testing.assert_allclose(model.vertices(x_id, x_exp), v[s, e], atol=1e-9)
        got_id, got_exp = model.shape_coefficients(v[s, 3])
        np.testing.assert_allclose(model.vertices(got_id, got_exp), v[s, 3], atol=1e-8)
    # jit and vmap (one example per call, batched by the caller)
    xs = jnp.zeros((3, model.n_exp))
    out = jax.jit(jax.vmap(model.vertices, in_axes=(None, 0)))(jnp.zeros(model.n_id), xs)
    np.testing.assert_allclose(out, np.broadcast_to(mean.reshape(-1, 3), out.shape), atol=1e-12)


def test_truncated_model_keeps_the_leading_axes(generated, face):
    alb = np.random.default_rng(6).uniform(size=(3, face.n_vertices, 3))
    kw = dict(landmarks=(face.landmark_triangles, face.landmark_barycentric), albedo=alb)
    small = MorphableModel.from_facewarehouse(generated, n_exp=5, n_id=2, n_alb=1, **kw)
    full = MorphableModel.from_facewarehouse(generated, **kw)
    assert (small.n_exp, small.n_id, small.n_alb) == (5, 2, 1)
    np.testing.assert_allclose(small.exp_basis, full.exp_basis[..., :5], atol=1e-12)
    np.testing.assert_allclose(small.id_std, full.id_std[:2], rtol=1e-12)
    assert np.all(np.diff(np.asarray(full.exp_std)) <= 0)  # decreasing variance


def test_eq2_albedo_and_landmarks(model, face):
    alb = np.asarray(template_albedos(face, _SUBJECTS, key=jax.random.key(face.seed)))
    assert alb.shape == (_SUBJECTS, face.n_vertices, 3) and alb.min() >= 0 and alb.max() <= 1
    np.testing.assert_allclose(model.albedo(np.zeros(model.n_alb)), alb.mean(0), atol=1e-12)
    for b in alb:  # the training albedos: exact (n_alb = m - 1 axes of m samples)
        np.testing.assert_allclose(model.albedo(model.albedo_coefficients(b)), b, atol=1e-10)
    # the first axis is the skin tone: light <-> dark moves every channel the same way
    axis = np.asarray(model.albedo_basis[..., 0])
    assert np.all(np.mean(axis, axis=0) * np.sign(np.mean(axis)) > 0)
    # landmarks: the template's barycentric embedding of eq. 1's mesh; DISFA's 66 a subset
    rng = np.random.default_rng(3)
    x_id = rng.normal(size=model.n_id) * np.asarray(model.id_std)
    x_exp = rng.normal(size=model.n_exp) * np.asarray(model.exp_std)
    v = model.vertices(x_id, x_exp)
    ref = landmarks_from_vertices(v, face.triangles, face.landmark_triangles,
                                  face.landmark_barycentric)  # fmt: skip
    np.testing.assert_allclose(model.landmarks(x_id, x_exp), ref, atol=1e-10)
    np.testing.assert_allclose(model.landmarks(x_id, x_exp, scheme=66), landmark_subset(ref, 66),
                               atol=1e-10)  # fmt: skip
    mean, a_id, a_exp = model.landmark_bases(scheme=49)
    np.testing.assert_allclose(mean + a_id @ x_id + a_exp @ x_exp, landmark_subset(ref, 49),
                               atol=1e-10)  # fmt: skip


def test_vertex_index_landmarks_and_explicit_albedo(generated):
    idx = np.arange(68) * 3
    rng = np.random.default_rng(4)
    alb = rng.uniform(size=(3, generated.n_vertices, 3))
    m = MorphableModel.from_facewarehouse(generated, landmarks=idx, albedo=alb)
    x_id, x_exp = np.ones(m.n_id), np.full(m.n_exp, 0.1)
    np.testing.assert_allclose(m.landmarks(x_id, x_exp), m.vertices(x_id, x_exp)[idx], atol=1e-12)
    assert m.n_alb == 2 and m.triangles.shape == (generated.faces.shape[0], 3)


def test_save_load_round_trip(model, tmp_path):
    path = tmp_path / "mm.npz"
    model.save(path)
    back = MorphableModel.load(path)
    for name in ("mean_shape", "id_basis", "exp_std", "albedo_basis", "landmark_indices",
                 "landmark_weights", "triangles"):  # fmt: skip
        np.testing.assert_array_equal(getattr(back, name), getattr(model, name))
    np.savez(tmp_path / "bad.npz", mean_shape=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="missing"):
        MorphableModel.load(tmp_path / "bad.npz")
    arrays = {k: np.asarray(getattr(model, k)) for k in MorphableModel.__dataclass_fields__}
    np.savez(tmp_path / "bad2.npz", **{**arrays, "exp_std": np.ones(2)})
    with pytest.raises(ValueError, match="exp_std has shape"):
        MorphableModel.load(tmp_path / "bad2.npz")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(ValueError, match="not a MorphableModel"):
        MorphableModel.load(tmp_path / "junk.npz")


def test_construction_errors(generated, face):
    v = generated.vertices
    alb = np.random.default_rng(5).uniform(size=(3, v.shape[2], 3))
    idx = np.arange(68)
    one = FaceWarehouseData(vertices=v[:1], faces=None, subject_ids=("Tester_1",))
    with pytest.raises(ValueError, match="at least 2 subjects"):
        MorphableModel.from_facewarehouse(one, landmarks=idx, albedo=alb)
    with pytest.raises(ValueError, match="n_id=4 needs at least 5 subjects, got 4"):
        MorphableModel.from_facewarehouse(generated, landmarks=idx, albedo=alb, n_id=4)
    with pytest.raises(ValueError, match="n_alb=3 needs at least 4 albedo samples, got 3"):
        MorphableModel.from_facewarehouse(generated, landmarks=idx, albedo=alb, n_alb=3)
    with pytest.raises(ValueError, match="template has 401 vertices"):
        MorphableModel.from_facewarehouse(generated, template=face.replace(
            vertices=jnp.zeros((401, 3))))  # fmt: skip
    with pytest.raises(ValueError, match=rf"albedo must have shape \(m, {v.shape[2]}, 3\)"):
        MorphableModel.from_facewarehouse(generated, landmarks=idx, albedo=alb[:, :-1])
    with pytest.raises(ValueError, match="vertex indices must lie in"):
        MorphableModel.from_facewarehouse(generated, landmarks=idx + v.shape[2], albedo=alb)
    with pytest.raises(ValueError, match="landmarks: pass"):
        MorphableModel.from_facewarehouse(generated, albedo=alb)
    with pytest.raises(ValueError, match="carries no albedo"):
        MorphableModel.from_facewarehouse(generated, landmarks=idx)
    with pytest.raises(ValueError, match="data.vertices must have shape"):
        MorphableModel.from_facewarehouse(v[0], landmarks=idx, albedo=alb)
    flat = v.copy()
    flat[:, 1:] = flat[:, :1]
    with pytest.raises(ValueError, match="no offsets"):
        MorphableModel.from_facewarehouse(flat, landmarks=idx, albedo=alb)
    m = MorphableModel.from_facewarehouse(generated, landmarks=idx, albedo=alb, n_id=1, n_alb=1)
    with pytest.raises(ValueError, match=rf"x_exp must have shape \({m.n_exp},\)"):
        m.vertices(np.zeros(1), np.zeros(m.n_exp + 1))
    with pytest.raises(ValueError, match="scheme must be one of"):
        m.landmarks(np.zeros(1), np.zeros(m.n_exp), scheme=67)
