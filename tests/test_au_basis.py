"""Physics-built AU blendshapes: FACS motion, symmetry, scale, the Galerkin projection, sparse solves."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import aujax.face as F
import aujax.physics as P


@pytest.fixture(scope="module")
def built():
    face = F.make_face(1200)
    muscles = F.make_muscles(face)
    system = P.build_spring_mass(face.vertices, face.triangles, face.bone_weights)
    model, report = P.build_au_blendshapes(face, muscles=muscles, system=system)
    return face, muscles, system, model, report


def test_build_report(built):
    _, _, _, model, report = built
    assert model.au_basis.shape[0] == 17 and model.aus == F.AU_IDS
    assert report.residual.max() <= 1e-6  # equilibrium residual (relative)
    # scaled so intensity 5 is plausible: a brow raise moves the brow ~1 cm, the jaw ~1.6 cm
    np.testing.assert_allclose(report.linear_peak, [F.AU_PEAK_DISPLACEMENT[a] for a in model.aus])
    assert 0.8 < report.peak_displacement[model.au_index(1)] < 1.25
    assert np.all(np.isfinite(np.asarray(model.au_basis)))


@pytest.mark.parametrize("au", F.AU_IDS)
def test_each_au_moves_the_facs_way(built, au):
    model = built[3]
    checks = [c for c in F.au_motion_checks(model) if c.au == au]
    assert checks, au
    for c in checks:
        assert c.passed, f"AU{au}: {c.expectation} (margin {c.value:.3f} cm)"


def test_mirror_symmetry(built):
    face, _, _, model, _ = built
    mm = F.mirror_map(face)
    b = np.asarray(model.au_basis)
    defect = np.abs(b[:, mm] * np.array([-1.0, 1.0, 1.0]) - b).max(axis=(1, 2))
    assert (defect <= 1e-4 * np.abs(b).max(axis=(1, 2))).all()


def test_apertures_open_and_close_without_tearing(built):
    face, _, _, model, _ = built
    pairs = np.asarray(face.slit_pairs)
    sid = np.asarray(face.slit_id)
    gap = lambda v, s: (v[pairs[sid == s, 0], 1] - v[pairs[sid == s, 1], 1]).max()
    c = np.zeros(17)
    v0 = np.asarray(model.vertices(jnp.asarray(c)))
    c[model.au_index(26)] = 5.0
    v26 = np.asarray(model.vertices(jnp.asarray(c)))
    assert gap(v26, 2) > gap(v0, 2) + 0.5  # the jaw opens the mouth by > 5 mm
    c[:] = 0
    c[model.au_index(5)] = 5.0
    assert gap(np.asarray(model.vertices(jnp.asarray(c))), 0) > gap(v0, 0)


def test_generalized_matrices(built):
    _, muscles, system, model, _ = built
    red = P.reduce_skin(
        system, model.au_basis, distribution=muscles.distribution, directions=muscles.directions
    )
    m, k, d = map(np.asarray, (red.mass, red.stiffness, red.damping))
    assert np.linalg.eigvalsh(m).min() > 0  # M SPD
    np.testing.assert_allclose(k, k.T, rtol=1e-10, atol=1e-12 * np.abs(k).max())
    assert np.linalg.eigvalsh(k).min() > 0  # K symmetric positive (definite: anchors)
    assert np.linalg.eigvalsh(d).min() > -1e-12 * np.abs(d).max()
    # the Galerkin model reproduces the full linearised equilibrium exactly within span(B)
    c0 = jnp.asarray(np.random.default_rng(0).uniform(0, 3, size=17))
    u = jnp.einsum("k,knd->nd", c0, model.au_basis)
    f = P.hessian_vector_product(system, jnp.zeros_like(u), u)
    c = P.static_response(red, P.generalized_force(model.au_basis, f))
    np.testing.assert_allclose(c, c0, rtol=1e-8)
    # Q = g a equals the projection of the directed muscle forces (seed 001, eq. 9)
    a = jnp.asarray(model.au_activations[model.au_index(12)] * 3.0)
    q = P.generalized_force(
        model.au_basis, P.muscle_forces(muscles.distribution, muscles.directions, a)
    )
    np.testing.assert_allclose(red.force_map @ a, q, rtol=1e-10)


def test_sparse_hessian_and_solver(built):
    _, muscles, system, model, _ = built
    rng = np.random.default_rng(1)
    u = rng.normal(size=system.rest.shape) * 0.1
    w = rng.normal(size=system.rest.shape)
    h = P.sparse_hessian(system, u)
    hv = np.asarray(P.hessian_vector_product(system, jnp.asarray(u), jnp.asarray(w)))
    np.testing.assert_allclose(
        (h @ w.ravel()).reshape(-1, 3), hv, rtol=1e-9, atol=1e-12 * np.abs(hv).max()
    )
    solver = P.SparseEquilibriumSolver(system)
    a = jnp.asarray(model.au_activations[model.au_index(4)] * 4.0)
    f = P.muscle_forces(muscles.distribution, muscles.directions, a)
    u_s, stats = solver.solve(f, rtol=1e-10)
    assert stats.residual <= 1e-10
    u_j = P.equilibrium(system, f, rtol=1e-10).u  # the differentiable JAX solver agrees
    np.testing.assert_allclose(u_s, u_j, atol=1e-7 * np.abs(u_s).max())


def test_errors(built, tmp_path):
    face, _, _, model, _ = built
    with pytest.raises(ValueError, match="unknown AU 3"):
        model.au_index(3)
    with pytest.raises(ValueError, match="unknown AU 11"):
        P.build_au_blendshapes(face, aus=(1, 11))
    with pytest.raises(ValueError, match="coefficients"):
        model.displacement(jnp.zeros(5))
    with pytest.raises(ValueError, match="method"):
        P.build_au_blendshapes(face, method="magic")
    with pytest.raises(ValueError, match="float64"):
        P.SparseEquilibriumSolver(
            jax.tree.map(
                lambda x: x.astype(jnp.float32) if jnp.issubdtype(x.dtype, jnp.floating) else x,
                built[2],
            )
        )
    path = tmp_path / "model.npz"
    model.save(path)
    back = F.BlendshapeModel.load(path)
    np.testing.assert_array_equal(back.au_basis, model.au_basis)
    assert back.aus == model.aus and back.muscle_names == model.muscle_names
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz"):
        F.BlendshapeModel.load(tmp_path / "bad.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="missing"):
        F.BlendshapeModel.load(tmp_path / "other.npz")
