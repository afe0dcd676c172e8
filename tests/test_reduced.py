"""Tests for generalized coordinates and reduced Euler-Lagrange dynamics (aujax.physics)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from jax.test_util import check_grads

from aujax.physics import (
    ReducedModel,
    cholesky_from_mass,
    euler_paper,
    galerkin_model,
    generalized_acceleration,
    mass_from_cholesky,
    paper_model,
    reduced_force,
    simulate_reduced,
    static_response,
)
from aujax.physics._generalized import (
    directed_force_map,
    generalized_damping,
    generalized_force,
    generalized_mass,
    generalized_stiffness,
    muscle_force_maps,
    project,
    reconstruct,
)


N, K, M_MUSCLES = 6, 3, 4


# ------------------------------------------------------------------------------------------------
# fixtures and dense references


def _rng(seed):
    return np.random.default_rng(seed)


def _spd(rng, size, *, shift=1.0):
    a = rng.normal(size=(size, size))
    return a @ a.T + shift * np.eye(size)


def _dense(basis):
    """(3n, K) matrix whose column k is B_k flattened (vertex-major, xyz-minor)."""
    k = basis.shape[0]
    return np.asarray(basis).reshape(k, -1).T


def _matvec(h):
    """(n, 3) -> (n, 3) matvec of a dense (3n, 3n) matrix."""
    h = jnp.asarray(h)
    return lambda w: (h @ w.reshape(-1)).reshape(w.shape)


@pytest.fixture
def problem():
    rng = _rng(0)
    basis = rng.normal(size=(K, N, 3))
    mass = rng.uniform(0.5, 1.5, size=N)
    mass = mass / mass.sum()
    distribution = rng.uniform(0.0, 1.0, size=(N, M_MUSCLES))
    directions = rng.normal(size=(N, M_MUSCLES, 3))
    directions /= np.linalg.norm(directions, axis=-1, keepdims=True)
    return dict(basis=basis, mass=mass, distribution=distribution, directions=directions)


def _numpy_euler(mass, stiffness, damping, c0, c1, force, dt):
    """Hand-unrolled explicit Euler of seed 001 eq. 6 with dt explicit."""
    t_frames, k = force.shape
    minv = np.linalg.inv(mass)
    stiffness = np.zeros((k, k)) if stiffness is None else stiffness
    damping = np.zeros((k, k)) if damping is None else damping
    c = np.array(c0, dtype=float)
    v = (np.asarray(c1) - np.asarray(c0)) / dt
    out = [c.copy()]
    for t in range(t_frames - 1):
        a = minv @ (force[t] - damping @ v - stiffness @ c)
        c, v = c + dt * v, v + dt * a
        out.append(c.copy())
    return np.stack(out)


# ------------------------------------------------------------------------------------------------
# generalized coordinates


def test_generalized_mass_matches_dense_reference_and_is_spd(problem):
    basis, mass = problem["basis"], problem["mass"]
    m = np.asarray(generalized_mass(basis, mass))
    b = _dense(basis)
    m_ref = b.T @ np.diag(np.repeat(mass, 3)) @ b
    np.testing.assert_allclose(m, m_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(m, m.T)
    assert np.linalg.eigvalsh(m).min() > 0


def test_generalized_mass_has_no_half_kinetic_energy_identity(problem):
    # T = 1/2 sum_i m_i |u_i'|^2 must equal 1/2 c'^T M c' (DESIGN 4.4: no extra factor 1/2 in M).
    basis, mass = problem["basis"], problem["mass"]
    cdot = _rng(1).normal(size=K)
    udot = np.asarray(reconstruct(basis, cdot))
    kinetic = 0.5 * np.sum(mass[:, None] * udot**2)
    m = np.asarray(generalized_mass(basis, mass))
    np.testing.assert_allclose(0.5 * cdot @ m @ cdot, kinetic, rtol=1e-12)


def test_muscle_force_maps_match_einsum_and_eq9(problem):
    basis, p = problem["basis"], problem["distribution"]
    g = np.asarray(muscle_force_maps(basis, p))
    assert g.shape == (M_MUSCLES, K, 3)
    g_ref = np.stack([sum(p[i, m] * basis[:, i, :] for i in range(N)) for m in range(M_MUSCLES)])
    np.testing.assert_allclose(g, g_ref, rtol=1e-12, atol=1e-13)
    # Q = sum_m G_m F_m equals sum_i B(i)^T f_i with f = P F (eq. 1, eq. 9).
    f_mus = _rng(2).normal(size=(M_MUSCLES, 3))
    q_maps = np.einsum("mkj,mj->k", g, f_mus)
    q_direct = np.asarray(generalized_force(basis, p @ f_mus))
    np.testing.assert_allclose(q_maps, q_direct, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(q_direct, _dense(basis).T @ (p @ f_mus).reshape(-1), rtol=1e-12)


def test_directed_force_map_matches_einsum_and_muscle_maps(problem):
    basis, p, d = problem["basis"], problem["distribution"], problem["directions"]
    g = np.asarray(directed_force_map(basis, p, d))
    assert g.shape == (K, M_MUSCLES)
    g_ref = np.zeros((K, M_MUSCLES))
    for m in range(M_MUSCLES):
        for i in range(N):
            g_ref[:, m] += p[i, m] * basis[:, i, :] @ d[i, m]
    np.testing.assert_allclose(g, g_ref, rtol=1e-12, atol=1e-13)
    a = _rng(3).uniform(size=M_MUSCLES)
    f_ext = np.einsum("m,im,imj->ij", a, p, d)
    np.testing.assert_allclose(g @ a, np.asarray(generalized_force(basis, f_ext)), rtol=1e-12)
    # Constant direction per muscle: g a = sum_m G_m (a_m d_m).
    d_const = np.broadcast_to(d[0][None], d.shape)
    g_const = np.asarray(directed_force_map(basis, p, d_const))
    big_g = np.asarray(muscle_force_maps(basis, p))
    q_maps = np.einsum("mkj,mj->k", big_g, a[:, None] * d[0])
    np.testing.assert_allclose(g_const @ a, q_maps, rtol=1e-12, atol=1e-13)


def test_generalized_stiffness_and_damping_are_projections(problem):
    basis = problem["basis"]
    rng = _rng(4)
    h = _spd(rng, 3 * N)
    c_mat = _spd(rng, 3 * N, shift=0.1)
    b = _dense(basis)
    stiff = np.asarray(generalized_stiffness(basis, _matvec(h)))
    damp = np.asarray(generalized_damping(basis, _matvec(c_mat)))
    np.testing.assert_allclose(stiff, b.T @ h @ b, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(damp, b.T @ c_mat @ b, rtol=1e-11, atol=1e-11)
    np.testing.assert_array_equal(stiff, stiff.T)
    assert np.linalg.eigvalsh(stiff).min() > 0
    # A PSD (singular) H gives a PSD K.
    low_rank = rng.normal(size=(3 * N, 2))
    stiff_psd = np.asarray(generalized_stiffness(basis, _matvec(low_rank @ low_rank.T)))
    assert np.linalg.eigvalsh(stiff_psd).min() > -1e-10


def test_generalized_stiffness_symmetrises_a_nonsymmetric_matvec(problem):
    basis = problem["basis"]
    a = _rng(5).normal(size=(3 * N, 3 * N))
    b = _dense(basis)
    stiff = np.asarray(generalized_stiffness(basis, _matvec(a)))
    np.testing.assert_allclose(stiff, 0.5 * (b.T @ (a + a.T) @ b), rtol=1e-11, atol=1e-11)


def test_reconstruct_and_project_round_trip(problem):
    basis, mass = problem["basis"], problem["mass"]
    c = _rng(6).normal(size=K)
    u = np.asarray(reconstruct(basis, c))
    np.testing.assert_allclose(u.reshape(-1), _dense(basis) @ c, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(project(basis, mass, u)), c, rtol=1e-10)
    # For u outside span(B), the residual is M-orthogonal to every blendshape.
    u_far = _rng(7).normal(size=(N, 3))
    c_far = np.asarray(project(basis, mass, u_far))
    residual = u_far - np.asarray(reconstruct(basis, c_far))
    np.testing.assert_allclose(
        np.einsum("kni,n,ni->k", basis, mass, residual), np.zeros(K), atol=1e-12
    )


def test_generalized_functions_vmap_over_sequences(problem):
    basis, mass = problem["basis"], problem["mass"]
    cs = _rng(8).normal(size=(5, K))
    us = jax.vmap(reconstruct, in_axes=(None, 0))(basis, cs)
    assert us.shape == (5, N, 3)
    back = jax.vmap(project, in_axes=(None, None, 0))(basis, mass, us)
    np.testing.assert_allclose(np.asarray(back), cs, rtol=1e-10)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda p: generalized_mass(p["basis"][0], p["mass"]), "basis"),
        (lambda p: generalized_mass(p["basis"], p["mass"][:-1]), "mass"),
        (lambda p: generalized_mass(p["basis"], -p["mass"]), "mass"),
        (lambda p: generalized_mass(p["basis"] * np.nan, p["mass"]), "basis"),
        (lambda p: generalized_force(p["basis"], np.zeros((N, 2))), "force"),
        (lambda p: generalized_force(p["basis"], np.full((N, 3), np.nan)), "force"),
        (lambda p: muscle_force_maps(p["basis"], p["distribution"][1:]), "distribution"),
        (
            lambda p: directed_force_map(p["basis"], p["distribution"], p["directions"][:, 1:]),
            "directions",
        ),
        (lambda p: generalized_stiffness(p["basis"], lambda w: w[:-1]), "hvp"),
        (lambda p: generalized_damping(p["basis"], "not callable"), "damping_matvec"),
        (lambda p: reconstruct(p["basis"], np.zeros(K + 1)), "coefficients"),
        (lambda p: project(p["basis"], p["mass"], np.zeros((N + 1, 3))), "displacement"),
    ],
)
def test_generalized_validation(problem, call, match):
    with pytest.raises(ValueError, match=match):
        call(problem)


# ------------------------------------------------------------------------------------------------
# reduced models


def test_mass_from_cholesky_is_spd_and_inverts():
    rng = _rng(9)
    for scale in (0.1, 1.0, 30.0):
        raw = scale * rng.normal(size=(4, 4))
        m = np.asarray(mass_from_cholesky(raw))
        np.testing.assert_array_equal(m, m.T)
        assert np.linalg.eigvalsh(m).min() > 0
        # The strict upper triangle of the raw factor is ignored.
        np.testing.assert_array_equal(m, np.asarray(mass_from_cholesky(np.tril(raw))))
    # eps floors the diagonal even where softplus underflows.
    m_floor = np.asarray(mass_from_cholesky(-1e3 * np.eye(3), eps=0.1))
    np.testing.assert_allclose(m_floor, 0.01 * np.eye(3), rtol=1e-12)
    target = _spd(rng, 4)
    for eps in (0.0, 0.05):
        raw = cholesky_from_mass(target, eps=eps)
        np.testing.assert_allclose(np.asarray(mass_from_cholesky(raw, eps=eps)), target, rtol=1e-10)


def test_mass_from_cholesky_gradients():
    raw = _rng(10).normal(size=(3, 3))
    check_grads(jax.jit(lambda r: mass_from_cholesky(r, eps=0.01)), (jnp.asarray(raw),), order=1)


def test_reduced_model_is_a_pytree_with_static_form():
    model = galerkin_model(np.eye(2), 2.0 * np.eye(2), 0.1 * np.eye(2))
    leaves, treedef = jax.tree.flatten(model)
    assert len(leaves) == 3
    rebuilt = jax.tree.unflatten(treedef, leaves)
    assert rebuilt.form == "galerkin" and rebuilt.has_damping
    assert paper_model(np.eye(2)).form == "paper" and not paper_model(np.eye(2)).has_damping
    with pytest.raises(ValueError, match="form"):
        ReducedModel(mass=jnp.eye(2), form="lagrange")


def test_generalized_acceleration_forms():
    rng = _rng(11)
    m, kk, d = _spd(rng, K), _spd(rng, K), _spd(rng, K, shift=0.1)
    c, v, q = rng.normal(size=(3, K))
    paper = generalized_acceleration(paper_model(m), c, v, q)
    np.testing.assert_allclose(np.asarray(paper), np.linalg.solve(m, q), rtol=1e-12)
    gal = generalized_acceleration(galerkin_model(m, kk, d), c, v, q)
    np.testing.assert_allclose(np.asarray(gal), np.linalg.solve(m, q - d @ v - kk @ c), rtol=1e-11)


def test_reduced_force_from_activations_and_muscle_forces(problem):
    basis, p, d = problem["basis"], problem["distribution"], problem["directions"]
    mass = generalized_mass(basis, problem["mass"])
    g = directed_force_map(basis, p, d)
    big_g = muscle_force_maps(basis, p)
    model = paper_model(mass, force_map=g, muscle_maps=big_g)
    rng = _rng(12)
    a = rng.uniform(size=M_MUSCLES)
    f_mus = rng.normal(size=(M_MUSCLES, 3))
    np.testing.assert_allclose(
        np.asarray(reduced_force(model, activations=a)),
        np.asarray(generalized_force(basis, np.einsum("m,im,imj->ij", a, p, d))),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        np.asarray(reduced_force(model, muscle_forces=f_mus)),
        np.asarray(generalized_force(basis, p @ f_mus)),
        rtol=1e-12,
    )
    with pytest.raises(ValueError, match="exactly one"):
        reduced_force(model)
    with pytest.raises(ValueError, match="force_map"):
        reduced_force(paper_model(mass), activations=a)
    with pytest.raises(ValueError, match="muscle_forces"):
        reduced_force(model, muscle_forces=f_mus[:, :2])


def test_static_response_reproduces_full_equilibrium_in_span(problem):
    # u = B c0, f = H u  =>  K^{-1} B^T f = c0 exactly (Galerkin is exact inside span(B)).
    basis, mass = problem["basis"], problem["mass"]
    h = _spd(_rng(13), 3 * N)
    c0 = _rng(14).normal(size=K)
    u = np.asarray(reconstruct(basis, c0))
    f = (h @ u.reshape(-1)).reshape(N, 3)
    model = galerkin_model(generalized_mass(basis, mass), generalized_stiffness(basis, _matvec(h)))
    c_static = static_response(model, generalized_force(basis, f))
    np.testing.assert_allclose(np.asarray(c_static), c0, rtol=1e-10)
    with pytest.raises(ValueError, match="paper"):
        static_response(paper_model(np.eye(K)), np.ones(K))


def _modal_problem(seed=19, *, alpha=0.3, beta=0.02, frames=12):
    """Full linear model whose trajectory stays in span(B): B = lowest generalized eigenvectors.

    Full model: Mf u'' + C u' + H u = f with lumped Mf, Rayleigh damping C = alpha Mf + beta H and
    forces f_t = Mf B q_t, started in span(B); then u(t) = B c(t) exactly for the Galerkin c(t).
    """
    rng = _rng(seed)
    mass = rng.uniform(0.5, 1.5, size=N)
    mass = mass / mass.sum()
    m_full = np.diag(np.repeat(mass, 3))
    h = _spd(rng, 3 * N)
    _, vecs = scipy.linalg.eigh(h, m_full)
    b = vecs[:, :K]  # (3n, K), B^T Mf B = I
    basis = b.T.reshape(K, N, 3)
    c_full = alpha * m_full + beta * h
    q = rng.normal(size=(frames, K))
    f_full = (m_full @ b @ q.T).T  # (T, 3n)
    c0, c1 = 0.1 * rng.normal(size=(2, K))
    model = galerkin_model(
        generalized_mass(basis, mass),
        generalized_stiffness(basis, _matvec(h)),
        None if alpha == beta == 0.0 else generalized_damping(basis, _matvec(c_full)),
    )
    return dict(
        basis=basis,
        b=b,
        m_full=m_full,
        h=h,
        c_full=c_full,
        f_full=f_full,
        c0=c0,
        c1=c1,
        model=model,
    )


def test_galerkin_euler_equals_full_euler_in_invariant_subspace():
    pb = _modal_problem()
    b, dt = pb["b"], 0.05
    q = np.stack(
        [np.asarray(generalized_force(pb["basis"], f.reshape(N, 3))) for f in pb["f_full"]]
    )
    cs = np.asarray(euler_paper(pb["model"], pb["c0"], pb["c1"], q, dt=dt))
    us = _numpy_euler(
        pb["m_full"], pb["h"], pb["c_full"], b @ pb["c0"], b @ pb["c1"], pb["f_full"], dt
    )
    np.testing.assert_allclose(cs @ b.T, us, rtol=1e-9, atol=1e-12)
    # The dynamics are not trivial: the coefficients move well away from their start.
    assert np.abs(cs[-1] - cs[0]).max() > 0.1


@pytest.mark.parametrize("form", ["paper", "galerkin_undamped", "galerkin"])
@pytest.mark.parametrize("dt", [1.0, 0.05])
def test_euler_paper_matches_numpy_loop(form, dt):
    rng = _rng(15)
    m, kk, d = _spd(rng, K), _spd(rng, K), _spd(rng, K, shift=0.1)
    c0, c1 = rng.normal(size=(2, K))
    force = rng.normal(size=(7, K))
    if form == "paper":
        model, kk, d = paper_model(m), None, None
    elif form == "galerkin_undamped":
        model, d = galerkin_model(m, kk), None
    else:
        model = galerkin_model(m, kk, d)
    cs = np.asarray(euler_paper(model, c0, c1, force, dt=dt))
    ref = _numpy_euler(m, kk, d, c0, c1, force, dt)
    assert cs.shape == (7, K)
    np.testing.assert_allclose(cs, ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(cs[0], c0)
    np.testing.assert_allclose(cs[1], c1, rtol=1e-12, atol=1e-12)


def test_euler_paper_last_two_forces_do_not_act():
    rng = _rng(16)
    model = paper_model(_spd(rng, K))
    c0, c1 = rng.normal(size=(2, K))
    force = rng.normal(size=(5, K))
    grad = jax.grad(lambda q: jnp.sum(euler_paper(model, c0, c1, q, dt=0.1) ** 2))(force)
    grad = np.asarray(grad)
    assert np.all(grad[-2:] == 0.0) and np.all(np.abs(grad[:-2]).sum(axis=1) > 0)
    assert euler_paper(model, c0, c1, force[:1], dt=0.1).shape == (1, K)


def test_euler_paper_gradients():
    rng = _rng(17)
    raw = jnp.asarray(rng.normal(size=(K, K)))
    c0, c1 = jnp.asarray(rng.normal(size=(2, K)))
    force = jnp.asarray(rng.normal(size=(6, K)))

    def run(q, r, c):
        return euler_paper(paper_model(mass_from_cholesky(r, eps=0.1)), c, c1, q, dt=0.1)

    check_grads(jax.jit(run), (force, raw, c0), order=1, modes=("rev",))
    kk, d = jnp.asarray(_spd(rng, K)), jnp.asarray(_spd(rng, K, shift=0.1))

    def run_galerkin(q, r, c):
        model = galerkin_model(mass_from_cholesky(r, eps=0.1), kk, d)
        return euler_paper(model, c, c1, q, dt=0.1)

    check_grads(jax.jit(run_galerkin), (force, raw, c0), order=1, modes=("fwd", "rev"))


def test_euler_paper_jit_and_vmap_over_sequences():
    rng = _rng(18)
    model = galerkin_model(_spd(rng, K), _spd(rng, K), _spd(rng, K, shift=0.1))
    c0s, c1s = rng.normal(size=(2, 4, K))
    forces = rng.normal(size=(4, 6, K))
    run = jax.jit(lambda mdl, a, b, q: euler_paper(mdl, a, b, q, dt=0.05))
    batched = jax.vmap(run, in_axes=(None, 0, 0, 0))(model, c0s, c1s, forces)
    looped = np.stack([np.asarray(run(model, c0s[i], c1s[i], forces[i])) for i in range(4)])
    assert batched.shape == (4, 6, K)
    np.testing.assert_allclose(np.asarray(batched), looped, rtol=1e-12, atol=1e-12)
    # A batch of regressed masses (one per window) vmaps through the model constructor.
    raws = rng.normal(size=(4, K, K))
    out = jax.vmap(
        lambda r, a, b, q: euler_paper(paper_model(mass_from_cholesky(r)), a, b, q, dt=0.05)
    )(raws, c0s, c1s, forces)
    assert out.shape == (4, 6, K) and np.all(np.isfinite(np.asarray(out)))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: paper_model(np.ones((2, 3))), "mass"),
        (lambda: paper_model(np.array([[1.0, 0.5], [0.0, 1.0]])), "symmetric"),
        (lambda: paper_model(np.full((2, 2), np.nan)), "mass"),
        (lambda: galerkin_model(np.eye(2), np.eye(3)), "stiffness"),
        (lambda: galerkin_model(np.eye(2), np.eye(2), np.eye(3)), "damping"),
        (lambda: paper_model(np.eye(2), force_map=np.ones((3, 4))), "force_map"),
        (lambda: paper_model(np.eye(2), muscle_maps=np.ones((4, 2, 2))), "muscle_maps"),
        (
            lambda: paper_model(
                np.eye(2), force_map=np.ones((2, 4)), muscle_maps=np.ones((3, 2, 3))
            ),
            "muscles",
        ),
        (
            lambda: generalized_acceleration(
                ReducedModel(mass=jnp.eye(2), form="galerkin"),
                np.zeros(2),
                np.zeros(2),
                np.zeros(2),
            ),
            "stiffness",
        ),
        (
            lambda: euler_paper(
                paper_model(np.eye(2)), np.zeros(3), np.zeros(2), np.zeros((4, 2)), dt=0.1
            ),
            "c0",
        ),
        (
            lambda: euler_paper(
                paper_model(np.eye(2)), np.zeros(2), np.zeros(2), np.zeros((4, 3)), dt=0.1
            ),
            "force",
        ),
        (
            lambda: euler_paper(
                paper_model(np.eye(2)), np.zeros(2), np.full(2, np.nan), np.zeros((4, 2)), dt=0.1
            ),
            "c1",
        ),
        (
            lambda: euler_paper(
                paper_model(np.eye(2)), np.zeros(2), np.zeros(2), np.zeros((4, 2)), dt=0.0
            ),
            "dt",
        ),
        (
            lambda: generalized_acceleration(
                paper_model(np.eye(2)), np.zeros(2), np.zeros(1), np.zeros(2)
            ),
            "cdot",
        ),
        (lambda: mass_from_cholesky(np.ones((2, 3))), "factor"),
        (lambda: cholesky_from_mass(-np.eye(2)), "positive definite"),
    ],
)
def test_reduced_validation(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------------------------------------------
# diffrax path


@functools.partial(jax.jit, static_argnames=("dt", "solver", "adjoint", "substeps", "rtol", "atol"))
def _simulate(model, c0, v0, force, *, dt, solver="tsit5", adjoint="recursive", **kw):
    """simulate_reduced, jitted with a stable identity so equal settings share one compile."""
    return simulate_reduced(model, c0, v0, force, dt=dt, solver=solver, adjoint=adjoint, **kw)


def _oscillator_exact(t, *, m, k, d, q, c0, v0):
    """Exact solution of m c'' + d c' + k c = q (underdamped or undamped), constant q."""
    omega = np.sqrt(k / m)
    zeta = d / (2.0 * np.sqrt(k * m))
    omega_d = omega * np.sqrt(1.0 - zeta**2)
    c_eq = q / k
    a = c0 - c_eq
    b = (v0 + zeta * omega * a) / omega_d
    return c_eq + np.exp(-zeta * omega * t) * (a * np.cos(omega_d * t) + b * np.sin(omega_d * t))


OSC = dict(m=2.0, k=8.0, q=1.0, c0=0.2, v0=-0.5, dt=0.1, frames=21)


def _oscillator(damping):
    mdl = galerkin_model(
        np.array([[OSC["m"]]]),
        np.array([[OSC["k"]]]),
        None if damping == 0.0 else np.array([[damping]]),
    )
    force = np.full((OSC["frames"], 1), OSC["q"])
    t = OSC["dt"] * np.arange(OSC["frames"])
    exact = _oscillator_exact(
        t, m=OSC["m"], k=OSC["k"], d=damping, q=OSC["q"], c0=OSC["c0"], v0=OSC["v0"]
    )
    return mdl, force, exact


def _osc_error(mdl, force, exact, **kw):
    c0, v0 = np.array([OSC["c0"]]), np.array([OSC["v0"]])
    cs, _ = _simulate(mdl, c0, v0, force, dt=OSC["dt"], **kw)
    return np.abs(np.asarray(cs)[:, 0] - exact).max()


def test_simulate_reduced_oscillator_tsit5_is_exact():
    mdl, force, exact = _oscillator(0.8)
    assert _osc_error(mdl, force, exact, solver="tsit5", rtol=1e-10, atol=1e-12) < 1e-7


@pytest.mark.parametrize(
    "solver, order, damping",
    [("heun", 2, 0.8), ("semi_implicit_euler", 1, 0.0)],  # euler: see the all-solvers test
)
def test_simulate_reduced_oscillator_fixed_step_convergence(solver, order, damping):
    mdl, force, exact = _oscillator(damping)
    coarse, fine = (_osc_error(mdl, force, exact, solver=solver, substeps=s) for s in (10, 40))
    rate = np.log(coarse / fine) / np.log(4.0)
    assert abs(rate - order) < 0.15, rate
    assert fine < (2e-2 if order == 1 else 1e-4)


def test_simulate_reduced_paper_form_constant_force_is_a_parabola():
    m = np.array([[2.0, 0.3], [0.3, 1.0]])
    q = np.array([1.0, -0.5])
    c0, v0 = np.array([0.1, 0.2]), np.array([-0.3, 0.4])
    t = 0.1 * np.arange(6)
    acc = np.linalg.solve(m, q)
    exact = c0 + t[:, None] * v0 + 0.5 * t[:, None] ** 2 * acc
    force = np.tile(q, (6, 1))
    # Heun (2nd order) is exact for a constant acceleration; tsit5 paths are covered elsewhere.
    cs, vs = _simulate(paper_model(m), c0, v0, force, dt=0.1, solver="heun")
    np.testing.assert_allclose(np.asarray(cs), exact, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.asarray(vs), v0 + t[:, None] * acc, rtol=1e-12, atol=1e-14)


def _exact_linear(m_full, h, c_full, u0, v0, forces, dt):
    """Exact solution of Mf u'' + C u' + H u = f_k on each frame interval (matrix exponential)."""
    n = u0.size
    minv = np.linalg.inv(m_full)
    a = np.zeros((2 * n + 1, 2 * n + 1))
    a[:n, n : 2 * n] = np.eye(n)
    a[n : 2 * n, :n] = -minv @ h
    a[n : 2 * n, n : 2 * n] = -minv @ c_full
    y = np.concatenate([u0, v0, [1.0]])
    out = [u0]
    for f in forces[:-1]:
        a[n : 2 * n, -1] = minv @ f
        y = scipy.linalg.expm(a * dt) @ y
        out.append(y[:n])
    return np.stack(out)


MODAL_DT, MODAL_TIGHT = 0.05, dict(rtol=1e-11, atol=1e-13)


def _reduced_and_full(pb, f_full, **kw):
    """Reduced trajectory lifted to 3n (B c) and the exact full linear trajectory."""
    b, dt = pb["b"], MODAL_DT
    v0 = (pb["c1"] - pb["c0"]) / dt
    q = np.stack([np.asarray(generalized_force(pb["basis"], f.reshape(N, 3))) for f in f_full])
    cs, _ = _simulate(pb["model"], pb["c0"], v0, q, dt=dt, **kw)
    us = _exact_linear(pb["m_full"], pb["h"], pb["c_full"], b @ pb["c0"], b @ v0, f_full, dt)
    return np.asarray(cs) @ b.T, us


def test_galerkin_dynamics_equal_full_linear_dynamics_in_invariant_subspace():
    pb = _modal_problem(frames=8)
    reduced, full = _reduced_and_full(pb, pb["f_full"], solver="tsit5", **MODAL_TIGHT)
    np.testing.assert_allclose(reduced, full, rtol=1e-8, atol=1e-10)
    assert np.abs(full[-1] - full[0]).max() > 1e-2
    # Forces outside span(Mf B) leave the subspace: the reduced model is then only approximate.
    noise = 0.5 * _rng(21).normal(size=pb["f_full"].shape)
    reduced, full = _reduced_and_full(pb, pb["f_full"] + noise, solver="tsit5", **MODAL_TIGHT)
    assert np.abs(reduced - full).max() > 1e-4


@pytest.mark.parametrize(
    "solver, damped, kw, tol",
    [
        ("euler", True, dict(substeps=200), 2e-3),
        ("heun", True, dict(substeps=20), 2e-5),
        ("kvaerno5", True, MODAL_TIGHT, 1e-8),
        ("semi_implicit_euler", False, dict(substeps=200), 5e-4),
    ],
)
def test_simulate_reduced_all_solvers_agree_with_exact_full_solution(solver, damped, kw, tol):
    # tsit5 is checked against the same exact solution in the test above.
    pb = _modal_problem(frames=8) if damped else _modal_problem(frames=8, alpha=0.0, beta=0.0)
    reduced, full = _reduced_and_full(pb, pb["f_full"], solver=solver, **kw)
    scale = np.abs(full).max()
    err = np.abs(reduced - full).max() / scale
    assert err < tol, err
    assert solver == "kvaerno5" or err > 1e-3 * tol  # a fixed-step error is present but small


@pytest.mark.parametrize("adjoint, modes", [("recursive", ("rev",)), ("forward", ("fwd",))])
def test_simulate_reduced_gradients(adjoint, modes):
    rng = _rng(22)
    raw = jnp.asarray(rng.normal(size=(K, K)))
    c0, v0 = jnp.asarray(rng.normal(size=(2, K)))
    force = jnp.asarray(rng.normal(size=(3, K)))
    kk, d = jnp.asarray(_spd(rng, K)), jnp.asarray(_spd(rng, K, shift=0.1))

    @jax.jit
    def run(q, r, c):
        mdl = galerkin_model(mass_from_cholesky(r, eps=0.1), kk, d)
        kw = dict(solver="euler", substeps=4, max_steps=4, adjoint=adjoint)  # small, fast compile
        cs, vs = simulate_reduced(mdl, c, v0, q, dt=0.1, **kw)
        return cs + vs

    check_grads(run, (force, raw, c0), order=1, modes=modes)


def test_simulate_reduced_vmap_over_sequences():
    pb = _modal_problem(frames=8)
    rng = _rng(23)
    c0s, v0s = rng.normal(size=(2, 3, K))
    forces = rng.normal(size=(3, 8, K))
    run = functools.partial(_simulate, dt=MODAL_DT, solver="heun", substeps=20)
    batched = jax.vmap(run, in_axes=(None, 0, 0, 0))(pb["model"], c0s, v0s, forces)
    assert batched[0].shape == batched[1].shape == (3, 8, K)
    for i in range(3):
        cs, vs = run(pb["model"], c0s[i], v0s[i], forces[i])
        np.testing.assert_allclose(
            np.asarray(batched[0][i]), np.asarray(cs), rtol=1e-12, atol=1e-14
        )
        np.testing.assert_allclose(
            np.asarray(batched[1][i]), np.asarray(vs), rtol=1e-12, atol=1e-14
        )


def test_simulate_reduced_validation():
    mdl = galerkin_model(np.eye(2), np.eye(2), 0.1 * np.eye(2))
    z = np.zeros(2)
    with pytest.raises(ValueError, match="damping"):
        simulate_reduced(mdl, z, z, np.zeros((3, 2)), dt=0.1, solver="semi_implicit_euler")
    with pytest.raises(ValueError, match="velocity_dependent"):
        simulate_reduced(mdl, z, z, np.zeros((3, 2)), dt=0.1, velocity_dependent=False)
    with pytest.raises(ValueError, match="cdot0"):
        simulate_reduced(mdl, z, np.zeros(3), np.zeros((3, 2)), dt=0.1)
    with pytest.raises(ValueError, match="force"):
        simulate_reduced(mdl, z, z, np.zeros(2), dt=0.1)
    with pytest.raises(ValueError, match="solver"):
        simulate_reduced(mdl, z, z, np.zeros((3, 2)), dt=0.1, solver="rk4")


def test_float32_inputs_stay_float32_under_x64():
    # Training runs in float32; the test config enables x64 and strict dtype promotion.
    f32 = np.float32
    rng = _rng(24)
    basis, mass = rng.normal(size=(K, N, 3)).astype(f32), np.full(N, 1.0 / N, f32)
    m = generalized_mass(basis, mass)
    stiff = generalized_stiffness(basis, lambda w: 2.0 * w)
    assert m.dtype == stiff.dtype == project(basis, mass, basis[0]).dtype == jnp.float32
    model = galerkin_model(m, stiff, 0.1 * m)
    c0 = np.zeros(K, f32)
    force = rng.normal(size=(4, K)).astype(f32)
    assert euler_paper(model, c0, c0, force, dt=0.1).dtype == jnp.float32
    cs, vs = simulate_reduced(model, c0, c0, force, dt=0.1, solver="euler")
    assert cs.dtype == vs.dtype == jnp.float32
    cs64 = euler_paper(model, c0.astype(np.float64), c0, force, dt=0.1)  # mixed: promotes
    assert cs64.dtype == jnp.float64


def test_simulate_reduced_exact_matches_the_oscillator_and_tsit5():
    """The zero-order-hold propagator is exact: the closed-form damped oscillator, and tsit5 at a
    tight tolerance on a coupled galerkin model with a changing force and on the paper form."""
    from aujax.physics import simulate_reduced_exact

    mdl, force, exact = _oscillator(0.8)
    cs, _ = simulate_reduced_exact(mdl, np.array([OSC["c0"]]), np.array([OSC["v0"]]), force,
                                   dt=OSC["dt"])  # fmt: skip
    np.testing.assert_allclose(np.asarray(cs)[:, 0], exact, rtol=0, atol=1e-12)
    rng = _rng(31)
    m, kk, d = _spd(rng, K), 50.0 * _spd(rng, K), _spd(rng, K, shift=0.1)
    c0, v0 = rng.normal(size=(2, K))
    q = rng.normal(size=(9, K))
    for model in (galerkin_model(m, kk, d), paper_model(m)):
        ref_c, ref_v = _simulate(model, c0, v0, q, dt=0.04, rtol=1e-11, atol=1e-12)
        got_c, got_v = simulate_reduced_exact(model, c0, v0, q, dt=0.04)
        np.testing.assert_allclose(got_c, ref_c, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(got_v, ref_v, rtol=1e-7, atol=1e-8)


def test_simulate_reduced_exact_gradients():
    from aujax.physics import simulate_reduced_exact

    rng = _rng(32)
    raw = jnp.asarray(rng.normal(size=(K, K)))
    c0, v0 = jnp.asarray(rng.normal(size=(2, K)))
    force = jnp.asarray(rng.normal(size=(4, K)))
    kk, d = jnp.asarray(_spd(rng, K)), jnp.asarray(_spd(rng, K, shift=0.1))

    def run(q, r, c):
        mdl = galerkin_model(mass_from_cholesky(r, eps=0.1), kk, d)
        cs, vs = simulate_reduced_exact(mdl, c, v0, q, dt=0.1)
        return cs + vs

    check_grads(run, (force, raw, c0), order=1, modes=("rev",))
