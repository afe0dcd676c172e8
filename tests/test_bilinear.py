"""The HOSVD (Tucker) and the bilinear identity x expression model (seed 004, eqs. 2-3)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from aujax.face import BilinearModel, hosvd


def _reconstruct(core, factors):
    out = np.asarray(core)
    for mode, u in enumerate(factors):
        if u is not None:
            out = np.moveaxis(np.tensordot(np.asarray(u), out, axes=([1], [mode])), 0, mode)
    return out


def _unfold(t, mode):
    return np.moveaxis(t, mode, 0).reshape(t.shape[mode], -1)


@pytest.mark.parametrize("shape", [(12, 5, 4), (30, 3, 2), (4, 3, 5, 2)])
def test_hosvd_full_rank_is_exact_and_matches_numpy_svd(shape):
    """Full rank: exact reconstruction (1e-10), factors = NumPy's left singular vectors up to sign.

    (12, 5, 4) and (4, 3, 5, 2) take the Gram path in every mode; (30, 3, 2)'s first mode
    (30 x 6 unfolding) the thin SVD.
    """
    rng = np.random.default_rng(0)
    t = rng.normal(size=shape)
    ranks = [min(n, t.size // n) for n in shape]
    dec = hosvd(jnp.asarray(t), ranks=ranks)
    assert dec.core.dtype == jnp.float64
    np.testing.assert_allclose(_reconstruct(dec.core, dec.factors), t, atol=1e-10, rtol=0)
    for mode, (u, s) in enumerate(zip(dec.factors, dec.singular_values, strict=True)):
        u_ref, s_ref, _ = np.linalg.svd(_unfold(t, mode), full_matrices=False)
        np.testing.assert_allclose(s, s_ref, atol=1e-10 * s_ref[0])
        u = np.asarray(u)
        np.testing.assert_allclose(u.T @ u, np.eye(u.shape[1]), atol=1e-12)
        # the same vectors up to sign: |<u_k, u_ref_k>| = 1, and the fixed sign convention
        signs = np.sign(np.sum(u * u_ref, axis=0))
        np.testing.assert_allclose(u, u_ref * signs[None, :], atol=1e-9)
        pivots = u[np.argmax(np.abs(u), axis=0), np.arange(u.shape[1])]
        assert np.all(pivots > 0)
    # the core is the projection of the tensor on the factors
    core_ref = t
    for mode, u in enumerate(dec.factors):
        core_ref = np.moveaxis(np.tensordot(np.asarray(u).T, core_ref, axes=([1], [mode])), 0, mode)
    np.testing.assert_allclose(dec.core, core_ref, atol=1e-10)


def test_hosvd_truncation_and_unreduced_modes():
    """A rank-(., 2, 2) tensor is reproduced by a rank-2 truncation; None leaves a mode alone."""
    rng = np.random.default_rng(1)
    core = rng.normal(size=(7, 2, 2))
    a, b = np.linalg.qr(rng.normal(size=(6, 2)))[0], np.linalg.qr(rng.normal(size=(5, 2)))[0]
    t = np.einsum("vij,ai,bj->vab", core, a, b)
    dec = hosvd(jnp.asarray(t), ranks=(None, 2, 2))
    assert dec.factors[0] is None and dec.singular_values[0] is None
    assert dec.core.shape == (7, 2, 2)
    np.testing.assert_allclose(_reconstruct(dec.core, dec.factors), t, atol=1e-10)
    # the discarded singular values are zero
    np.testing.assert_allclose(dec.singular_values[1][2:], 0.0, atol=1e-6)
    # truncation of a full-rank tensor: the error is the tail of the singular values (mode 2 only)
    t2 = rng.normal(size=(8, 6, 3))
    dec2 = hosvd(jnp.asarray(t2), ranks=(None, 4, None))
    err = np.linalg.norm(_reconstruct(dec2.core, dec2.factors) - t2)
    np.testing.assert_allclose(err, np.linalg.norm(dec2.singular_values[1][4:]), rtol=1e-9)


@pytest.mark.parametrize(
    ("ranks", "match"),
    [
        ((3, 2), "one entry per mode"),
        ((3, 0, 2), r"ranks\[1\] must be an int in 1..4"),
        ((3, 5, 2), r"ranks\[1\] must be an int in 1..4"),
        ((3, 2.0, 2), r"ranks\[1\]"),
    ],
)
def test_hosvd_rejects_bad_ranks(ranks, match):
    with pytest.raises(ValueError, match=match):
        hosvd(np.ones((3, 4, 2)), ranks=ranks)


def test_hosvd_rejects_bad_tensors():
    with pytest.raises(ValueError, match="at least 2 non-empty modes"):
        hosvd(np.ones(5), ranks=(1,))
    with pytest.raises(ValueError, match="tensor contains NaN"):
        hosvd(np.full((2, 2), np.nan), ranks=(1, 1))


def _meshes(rng, n_subjects=6, n_expressions=4, n_vertices=10):
    return rng.normal(size=(n_subjects, n_expressions, n_vertices, 3))


def test_training_weights_reproduce_the_meshes_at_full_rank():
    rng = np.random.default_rng(2)
    v = _meshes(rng)
    faces = np.array([[0, 1, 2], [2, 3, 4]])
    model = BilinearModel.from_tensor(v, n_id=6, n_exp=4, faces=faces)
    assert (model.n_id, model.n_exp, model.n_vertices) == (6, 4, 10)
    assert model.core.shape == (10, 3, 6, 4)
    np.testing.assert_array_equal(model.faces, faces)
    all_meshes = jax.vmap(
        lambda a: jax.vmap(lambda b: model.vertices(a, b))(model.train_exp_weights)
    )(model.train_id_weights)
    np.testing.assert_allclose(all_meshes, v, atol=1e-10)
    # eq. 3: a subset of vertices; the mean weights give the mean mesh
    idx = np.array([7, 0, 3])
    w_id, w_exp = model.train_id_weights[4], model.train_exp_weights[2]
    np.testing.assert_allclose(model.vertices(w_id, w_exp, indices=idx), v[4, 2, idx], atol=1e-10)
    np.testing.assert_allclose(model.mean_vertices(), v.mean(axis=(0, 1)), atol=1e-10)
    # the linear bases in each set of weights
    np.testing.assert_allclose(
        jnp.einsum("vci,i->vc", model.identity_basis(w_exp), w_id), v[4, 2], atol=1e-10
    )
    np.testing.assert_allclose(
        jnp.einsum("vce,e->vc", model.expression_basis(w_id), w_exp), v[4, 2], atol=1e-10
    )


def test_priors_are_the_moments_of_the_training_weights():
    rng = np.random.default_rng(3)
    model = BilinearModel.from_tensor(_meshes(rng, 8, 5), n_id=3, n_exp=2)
    assert model.train_id_weights.shape == (8, 3) and model.train_exp_weights.shape == (5, 2)
    np.testing.assert_allclose(model.id_mean, np.mean(model.train_id_weights, axis=0))
    np.testing.assert_allclose(model.id_var, np.var(model.train_id_weights, axis=0))
    np.testing.assert_allclose(model.exp_mean, np.mean(model.train_exp_weights, axis=0))
    np.testing.assert_allclose(model.exp_var, np.var(model.train_exp_weights, axis=0))
    # the truncated factors have orthonormal columns (the leading identity / expression modes)
    np.testing.assert_allclose(
        model.train_id_weights.T @ model.train_id_weights, np.eye(3), atol=1e-12
    )


def test_truncated_model_is_the_best_low_rank_fit_for_a_low_rank_population():
    """Meshes made by a rank-(2, 2) bilinear model are reproduced exactly by n_id = n_exp = 2."""
    rng = np.random.default_rng(4)
    core = rng.normal(size=(9, 3, 2, 2))
    a, b = rng.normal(size=(7, 2)), rng.normal(size=(4, 2))
    v = np.einsum("vcij,si,ej->sevc", core, a, b)
    model = BilinearModel.from_tensor(v, n_id=2, n_exp=2)
    rebuilt = jnp.einsum(
        "vcij,si,ej->sevc", model.core, model.train_id_weights, model.train_exp_weights
    )
    np.testing.assert_allclose(rebuilt, v, atol=1e-10)


def test_vertices_jit_vmap_and_float32():
    rng = np.random.default_rng(5)
    model = BilinearModel.from_tensor(_meshes(rng), n_id=3, n_exp=2)
    w_id = jnp.asarray(rng.normal(size=(5, 3)))
    w_exp = jnp.asarray(rng.normal(size=(5, 2)))
    batched = jax.jit(jax.vmap(model.vertices))(w_id, w_exp)
    assert batched.shape == (5, 10, 3)
    np.testing.assert_allclose(batched[3], model.vertices(w_id[3], w_exp[3]), atol=1e-12)
    with jax.enable_x64(False):
        m32 = BilinearModel.from_tensor(np.float32(_meshes(rng)), n_id=3, n_exp=2)
        assert m32.core.dtype == jnp.float32
        assert m32.vertices(m32.id_mean, m32.exp_mean).dtype == jnp.float32


def test_bilinear_model_is_a_pytree():
    rng = np.random.default_rng(6)
    model = BilinearModel.from_tensor(_meshes(rng), n_id=2, n_exp=2)
    leaves = jax.tree.leaves(model)
    assert len(leaves) == 7  # faces None: no leaf
    doubled = jax.tree.map(lambda x: 2 * x, model)
    np.testing.assert_allclose(doubled.core, 2 * model.core)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(vertices=np.ones((3, 2, 4))), r"shape \(n_subjects, n_expressions, n_vertices, 3\)"),
        (dict(vertices=np.ones((1, 3, 4, 3))), "at least 2 subjects and 2 expressions"),
        (dict(n_id=4), "n_id must be in 1..3"),
        (dict(n_exp=0), "n_exp must be in 1..2"),
        (dict(n_exp=1.0), "n_exp must be an int"),
        (dict(faces=np.array([[0, 1, 9]])), "faces must index vertices in 0..3"),
        (dict(faces=np.array([0, 1, 2])), r"faces must be an integer array \(n_faces, 3\)"),
    ],
)
def test_from_tensor_rejects_bad_input(kwargs, match):
    args = dict(vertices=np.random.default_rng(7).normal(size=(3, 2, 4, 3)), n_id=2, n_exp=2)
    args.update(kwargs)
    vertices = args.pop("vertices")
    with pytest.raises(ValueError, match=match):
        BilinearModel.from_tensor(vertices, **args)


def test_vertices_rejects_wrong_weight_shapes():
    model = BilinearModel.from_tensor(
        np.random.default_rng(8).normal(size=(3, 2, 4, 3)), n_id=2, n_exp=2
    )
    with pytest.raises(ValueError, match=r"w_id must have shape \(2,\)"):
        model.vertices(jnp.ones(3), jnp.ones(2))
    with pytest.raises(ValueError, match=r"w_exp must have shape \(2,\)"):
        model.vertices(jnp.ones(2), jnp.ones((1, 2)))


def test_save_and_load_round_trip(tmp_path):
    rng = np.random.default_rng(9)
    faces = np.array([[0, 1, 2], [1, 2, 3]])
    model = BilinearModel.from_tensor(_meshes(rng), n_id=3, n_exp=2, faces=faces)
    model.save(tmp_path / "model.npz")
    back = BilinearModel.load(tmp_path / "model.npz")
    for a, b in zip(jax.tree.leaves(model), jax.tree.leaves(back), strict=True):
        np.testing.assert_array_equal(a, b)
    no_faces = BilinearModel.from_tensor(_meshes(rng), n_id=2, n_exp=2)
    no_faces.save(tmp_path / "bare.npz")
    assert BilinearModel.load(tmp_path / "bare.npz").faces is None


def test_load_names_the_bad_file(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="junk.npz: not a BilinearModel .npz file"):
        BilinearModel.load(tmp_path / "junk.npz")
    np.savez(tmp_path / "partial.npz", core=np.zeros((4, 3, 2, 2)))
    with pytest.raises(
        ValueError, match=r"partial.npz: not a BilinearModel file, missing \['exp_mean'"
    ):
        BilinearModel.load(tmp_path / "partial.npz")
    model = BilinearModel.from_tensor(_meshes(np.random.default_rng(10)), n_id=2, n_exp=2)
    arrays = {k: np.asarray(getattr(model, k)) for k in ("core", "id_mean", "id_var", "exp_mean")}
    np.savez(
        tmp_path / "bad.npz",
        **arrays,
        exp_var=np.ones(5),
        train_id_weights=np.asarray(model.train_id_weights),
        train_exp_weights=np.asarray(model.train_exp_weights),
    )
    with pytest.raises(ValueError, match=r"bad.npz: exp_var has shape \(5,\), expected \(2,\)"):
        BilinearModel.load(tmp_path / "bad.npz")
