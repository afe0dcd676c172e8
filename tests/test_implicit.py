"""Tests for the host-side Newmark integrator of the full skin (aujax/physics/_implicit.py).

The reference is diffrax tsit5 at tight tolerance (`simulate`) on the procedural face at ~450
vertices, driven by AU6 + AU12 muscle forces scaled like `build_au_blendshapes` (intensity 5
gives the AU's peak displacement in the linearised response).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from aujax.face import AU_PEAK_DISPLACEMENT, au_muscle_matrix, make_face, make_muscles
from aujax.physics._dynamics import simulate
from aujax.physics._implicit import (
    ImplicitIntegrator,
    ImplicitStats,
    simulate_implicit,
    sparse_damping,
)
from aujax.physics._newmark_dense import dense_effective_inverse, newmark_dense
from aujax.physics._sparse import SparseEquilibriumSolver
from aujax.physics._spring_mass import (
    build_spring_mass,
    damping_matvec,
    internal_forces,
    kinetic_energy,
    muscle_forces,
    total_energy,
)


T = 11  # frames of every trajectory compared with tsit5 (one tsit5 compilation)


@pytest.fixture(scope="module")
def face_system():
    face = make_face(450)
    muscles = make_muscles(face)
    system = build_spring_mass(face.vertices, face.triangles, face.bone_weights)
    solver = SparseEquilibriumSolver(system)
    w = au_muscle_matrix(muscles.names, (6, 12))
    per_intensity = []
    for k, au in enumerate((6, 12)):
        f = np.asarray(muscle_forces(muscles.distribution, muscles.directions, jnp.asarray(w[k])))
        peak = np.max(np.linalg.norm(solver.linear_response(f), axis=-1))
        per_intensity.append(f * AU_PEAK_DISPLACEMENT[au] / (5.0 * peak))
    return system, solver, per_intensity[0] + per_intensity[1]


@pytest.fixture(scope="module")
def system(face_system):
    return face_system[0]


def _ramp(f_au, *, intensity, dt, n_frames=T, rise=0.2):
    """(n_frames, n, 3) AU6 + AU12 forces ramping linearly to `intensity` over `rise` s, then held."""
    t = np.arange(n_frames) * dt
    return (intensity * np.clip(t / rise, 0.0, 1.0))[:, None, None] * f_au[None]


def _tsit5(system, forces, dt):
    us, vs = simulate(system, forces, dt=dt, rtol=1e-10, atol=1e-12, max_steps=100_000)
    return np.asarray(us), np.asarray(vs)


def _rel(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


# ------------------------------------------------------------------------------------------------
# sparse damping matrix


def test_sparse_damping_is_the_velocity_jacobian(system, getkey):
    n = system.n_vertices
    w = jax.random.normal(getkey(), (n, 3), jnp.float64)
    c0 = sparse_damping(system)
    np.testing.assert_allclose(
        c0 @ np.asarray(w).reshape(-1), np.asarray(jax.jit(damping_matvec)(system, w)).reshape(-1),
        rtol=1e-12, atol=1e-12,
    )  # fmt: skip
    assert abs(c0 - c0.T).max() <= 1e-14 * abs(c0).max()  # symmetric
    # at a deformed state: -d f_int / dv along w (f_int is linear in v)
    u = 0.3 * jax.random.normal(getkey(), (n, 3), jnp.float64)
    v = jnp.zeros((n, 3), jnp.float64)
    jvp = jax.jit(lambda s, x, t: jax.jvp(lambda y: internal_forces(s, u, y), (x,), (t,))[1])(
        system, v, w
    )
    np.testing.assert_allclose(
        sparse_damping(system, np.asarray(u)) @ np.asarray(w).reshape(-1),
        -np.asarray(jvp).reshape(-1), rtol=1e-12, atol=1e-12,
    )  # fmt: skip


# ------------------------------------------------------------------------------------------------
# behaviour


def test_zero_force_stays_at_rest(system):
    us, vs, stats = ImplicitIntegrator(system, dt=0.04).run(
        np.zeros((5, system.n_vertices, 3)), return_stats=True
    )
    assert us.shape == vs.shape == (5, system.n_vertices, 3) and us.dtype == np.float64
    assert not np.any(us) and not np.any(vs)
    assert stats == ImplicitStats(8, 0, 0, 0, 0.0)


def test_frame_convention(face_system):
    system, _, f_au = face_system
    n = system.n_vertices
    u0 = 0.01 * np.asarray(jax.random.normal(jax.random.key(1), (n, 3), jnp.float64))
    v0 = np.ones((n, 3))
    integrator = ImplicitIntegrator(system, dt=0.04)
    us, vs = integrator.run(np.zeros((1, n, 3)), u0, v0)  # T = 1: nothing is integrated
    np.testing.assert_array_equal(us[0], u0)
    np.testing.assert_array_equal(vs[0], v0)
    forces = _ramp(f_au, intensity=2.0, dt=0.04, n_frames=4)
    us, vs = integrator.run(forces, u0, v0)
    np.testing.assert_array_equal(us[0], u0)
    last = forces.copy()
    last[-1] = 7.0 * f_au  # the last frame's force is never used
    us2, vs2 = integrator.run(last, u0, v0)
    np.testing.assert_array_equal(us2, us)
    np.testing.assert_array_equal(vs2, vs)


def test_linear_regime_matches_tsit5_to_second_order(face_system):
    """Tiny forces: the error against tsit5 is Newmark's O(h^2) truncation error.

    The order shows once the excited modes are resolved (omega h small): on the calibrated
    450-vertex face the displacement/velocity error ratios are 3.3/2.1 from 2 to 4 substeps (the
    stiff modes the ramp's kinks excite are still pre-asymptotic) and 4.2/4.2 from 8 to 16 and
    from 16 to 32, so the order is measured between 8 and 16 substeps.
    """
    system, _, f_au = face_system
    dt = 0.01
    forces = _ramp(f_au, intensity=1e-3, dt=dt, rise=0.05)
    ref_u, ref_v = _tsit5(system, forces, dt)
    errors = []
    for substeps in (8, 16):
        us, vs = simulate_implicit(system, forces, dt=dt, substeps=substeps, rtol=1e-11)
        errors.append((_rel(us, ref_u), _rel(vs, ref_v)))
    (eu8, ev8), (eu16, ev16) = errors
    assert eu16 < 2e-4 and ev16 < 5e-3  # measured 6.7e-5 and 1.7e-3
    assert 3.5 < eu8 / eu16 < 4.5  # second order in the displacement
    assert 3.5 < ev8 / ev16 < 4.5  # and in the velocity


def test_nonlinear_regime_matches_tsit5(face_system):
    """AU-level forces (~1 cm) at 25 fps: within 2 % (substeps 2) and 1 % (substeps 4).

    The largest vertex error over all frames, relative to the peak displacement, measured on this
    mesh: 1.3 % (substeps 2), 0.64 % (4), 0.18 % (8); RMS errors 0.9 %, 0.5 %, 0.16 %.
    """
    system, _, f_au = face_system
    dt = 0.04
    forces = _ramp(f_au, intensity=5.0, dt=dt)
    ref_u, _ = _tsit5(system, forces, dt)
    assert 0.7 < np.max(np.linalg.norm(ref_u, axis=-1)) < 1.5  # cm: the nonlinear regime
    us2, _ = simulate_implicit(system, forces, dt=dt, substeps=2)
    us4, _ = simulate_implicit(system, forces, dt=dt, substeps=4)
    peak = np.max(np.linalg.norm(ref_u, axis=-1))
    err2 = np.max(np.linalg.norm(us2 - ref_u, axis=-1)) / peak
    err4 = np.max(np.linalg.norm(us4 - ref_u, axis=-1)) / peak
    assert err2 < 2e-2 and err4 < 1e-2 and err4 < 0.6 * err2


def test_krylov_and_plain_modified_newton_agree(face_system):
    system, _, f_au = face_system
    forces = _ramp(f_au, intensity=5.0, dt=0.04, n_frames=6)
    runs = {}
    for method, anderson in (("modified", 5), ("modified", 0), ("krylov", 5)):
        integrator = ImplicitIntegrator(system, dt=0.04, method=method, anderson=anderson)
        runs[method, anderson] = integrator.run(forces, rtol=1e-10, return_stats=True)
    ref_u = runs["modified", 5][0]
    for key, (us, _, stats) in runs.items():
        np.testing.assert_allclose(us, ref_u, atol=1e-8 * np.max(np.abs(ref_u)), err_msg=str(key))
        assert stats.steps == 10 and stats.max_residual <= 1e-10
    # Anderson mixing saves iterations; Newton needs few but runs GMRES inside
    assert runs["modified", 5][2].iterations < runs["modified", 0][2].iterations
    assert runs["krylov", 5][2].max_iterations <= 4 < runs["modified", 5][2].max_iterations
    assert runs["krylov", 5][2].linear_iterations > 0 == runs["modified", 5][2].linear_iterations


def test_undamped_energy_is_conserved(face_system):
    """Newmark conserves the energy of linear undamped systems; small amplitude is nearly so."""
    system, _, f_au = face_system
    undamped = system.replace(
        damping=jnp.zeros_like(system.damping), anchor_damping=jnp.zeros_like(system.anchor_damping)
    )
    f = 0.005 * f_au  # ~25 um peak: the linear regime (the drift grows linearly with amplitude)
    forces = np.broadcast_to(f, (101, *f.shape))  # held 1 s from rest: an undamped oscillation
    us, vs = simulate_implicit(undamped, forces, dt=0.01, substeps=4, rtol=1e-10)
    energy = jax.jit(jax.vmap(total_energy, in_axes=(None, 0, 0, None)))(undamped, us, vs, f)
    kinetic = jax.jit(jax.vmap(kinetic_energy, in_axes=(None, 0)))(undamped, vs)
    drift = np.max(np.abs(np.asarray(energy) - float(energy[0]))) / float(np.max(kinetic))
    assert drift < 1e-6
    assert float(np.min(kinetic[50:])) < 0.5 * float(np.max(kinetic))  # it keeps oscillating


def test_held_force_relaxes_to_static_equilibrium(face_system):
    """A force held for 1 s: the damped motion settles on the static equilibrium.

    Newmark's average acceleration has no numerical dissipation: the stiff, lightly damped hinge
    bending modes excited by the force step (omega h >> 1) keep ringing, their damping mapped to
    ``c_a / (2 (1 + (omega h / 2)^2))``. At 25 fps with 2 substeps that leaves ~4e-4 of the
    displacement after 1 s; with 8 substeps the physical decay (tsit5: 3e-7) is nearly recovered.
    """
    system, solver, f_au = face_system
    f = 3.0 * f_au
    u_static, _ = solver.solve(f, rtol=1e-10)  # 1e-5 is checked
    forces = np.broadcast_to(f, (26, *f.shape))
    us, vs = simulate_implicit(system, forces, dt=0.04, substeps=8, rtol=1e-10)
    assert _rel(us[-1], u_static) < 1e-5
    # at rest: the last frame's speed against the motion's peak speed (measured 1e-4 on the
    # calibrated face, 2e-5 on the procedural one: the stiff modes' slow ringing)
    assert np.max(np.abs(vs[-1])) < 1e-3 * np.max(np.abs(vs))
    us, _ = simulate_implicit(system, forces, dt=0.04, substeps=2, rtol=1e-10)
    assert _rel(us[-1], u_static) < 2e-3


def test_run_is_deterministic(face_system):
    system, _, f_au = face_system
    forces = _ramp(f_au, intensity=4.0, dt=0.04, n_frames=5)
    integrator = ImplicitIntegrator(system, dt=0.04, substeps=2)
    first = integrator.run(forces)
    second = integrator.run(forces)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(first, simulate_implicit(system, forces, dt=0.04), strict=True):
        np.testing.assert_array_equal(a, b)


def test_nonconvergence_names_the_frame(face_system):
    system, _, f_au = face_system
    forces = _ramp(f_au, intensity=5.0, dt=0.04, n_frames=3)
    with pytest.raises(RuntimeError, match=r"frame interval 1 .*substep 0 of 2"):
        simulate_implicit(system, forces, dt=0.04, max_iter=1)


# ------------------------------------------------------------------------------------------------
# the JAX-side dense variant (newmark_dense)


def test_dense_inverse_inverts_k_eff(system):
    integrator = ImplicitIntegrator(system, dt=0.04)
    inv = dense_effective_inverse(integrator)
    k = integrator.k_eff.toarray()
    np.testing.assert_allclose(inv, inv.T, rtol=0, atol=0)
    np.testing.assert_allclose(inv @ k, np.eye(k.shape[0]), atol=1e-9)


@pytest.mark.parametrize("anderson", [5, 0])
def test_newmark_dense_matches_the_host_integrator(face_system, anderson):
    """Same scheme, same iteration (Anderson included): float64 results agree to the tolerance,
    and with Anderson the iteration counts are the host's exactly."""
    system, _, f_au = face_system
    forces = _ramp(f_au, intensity=5.0, dt=0.04, n_frames=8)
    integrator = ImplicitIntegrator(system, dt=0.04, anderson=anderson)
    inv = dense_effective_inverse(integrator)
    u0 = 0.01 * np.ones((system.n_vertices, 3))
    ref_u, ref_v, ref_stats = integrator.run(forces, u0, rtol=1e-10, return_stats=True)
    us, vs, stats = newmark_dense(integrator, inv, forces, u0, rtol=1e-10, return_stats=True)
    scale = np.max(np.abs(ref_u))
    assert np.max(np.abs(us - ref_u)) < 1e-9 * scale
    assert np.max(np.abs(vs - ref_v)) < 1e-7 * np.max(np.abs(ref_v))
    assert stats.steps == ref_stats.steps == 14
    if anderson:
        assert abs(stats.iterations - ref_stats.iterations) <= 2
    # the generator's tolerance: far below the time discretisation error (~1 %)
    us5, _ = newmark_dense(integrator, inv, forces, u0, rtol=1e-5)
    assert np.max(np.abs(us5 - ref_u)) < 1e-4 * scale


@pytest.mark.slow  # 10-70 s on the 2-core CI machine; lighter tests cover the same code in CI
def test_newmark_dense_batch_equals_single_sequences(face_system):
    system, _, f_au = face_system
    integrator = ImplicitIntegrator(system, dt=0.04)
    inv = dense_effective_inverse(integrator)
    forces = np.stack([_ramp(f_au, intensity=x, dt=0.04, n_frames=6) for x in (5.0, 1.0, 0.0)])
    v0 = np.zeros((3, system.n_vertices, 3))
    v0[1] = 0.1
    us, vs = newmark_dense(integrator, inv, forces, None, v0, rtol=1e-8)
    assert us.shape == vs.shape == forces.shape
    for b in range(3):
        u1, v1 = newmark_dense(integrator, inv, forces[b], None, v0[b], rtol=1e-8)
        np.testing.assert_allclose(us[b], u1, rtol=0, atol=1e-12 * max(np.abs(u1).max(), 1e-3))
        np.testing.assert_allclose(vs[b], v1, rtol=0, atol=1e-10 * max(np.abs(v1).max(), 1e-3))
    np.testing.assert_array_equal(us[2], 0.0)  # no force, rest state: stays at rest
    single, _ = newmark_dense(integrator, inv, forces[0, :1])
    assert single.shape == (1, system.n_vertices, 3)


def test_newmark_dense_errors(face_system):
    system, _, f_au = face_system
    integrator = ImplicitIntegrator(system, dt=0.04)
    inv = dense_effective_inverse(integrator)
    forces = _ramp(f_au, intensity=5.0, dt=0.04, n_frames=3)
    with pytest.raises(RuntimeError, match=r"frame interval 1 .*substep 0 of 2"):
        newmark_dense(integrator, inv, forces, max_iter=1)
    with pytest.raises(ValueError, match="forces must have shape"):
        newmark_dense(integrator, inv, forces[:, :5])
    with pytest.raises(ValueError, match="k_inv must have shape"):
        newmark_dense(integrator, inv[:3, :3], forces)
    with pytest.raises(ValueError, match="u0 must have shape"):
        newmark_dense(integrator, inv, forces[None], np.zeros((system.n_vertices, 3)))
    with pytest.raises(ValueError, match="NaN"):
        newmark_dense(integrator, inv, np.full_like(forces, np.nan))


# ------------------------------------------------------------------------------------------------
# input validation


def test_float32_system_is_rejected(system):
    def to32(x):
        return x.astype(jnp.float32) if jnp.issubdtype(x.dtype, jnp.floating) else x

    system32 = jax.tree.map(to32, system)
    with pytest.raises(ValueError, match="float64"):
        ImplicitIntegrator(system32, dt=0.04)
    with pytest.raises(ValueError, match="float64"):
        simulate_implicit(system32, np.zeros((2, system.n_vertices, 3)), dt=0.04)
    with pytest.raises(ValueError, match="float64"):
        sparse_damping(system32)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda n: {"forces": np.zeros((3, n + 1, 3))}, "forces must have shape"),
        (lambda n: {"forces": np.zeros((0, n, 3))}, "forces must have shape"),
        (lambda n: {"forces": np.zeros((3, n, 3), np.float32)}, "forces must be float64"),
        (lambda n: {"forces": np.full((3, n, 3), np.nan)}, "forces contains NaN"),
        (lambda n: {"u0": np.zeros((n, 2))}, "u0 must have shape"),
        (lambda n: {"v0": np.full((n, 3), np.inf)}, "v0 contains NaN"),
        (lambda n: {"dt": 0.0}, "dt must be"),
        (lambda n: {"dt": -0.04}, "dt must be"),
        (lambda n: {"dt": float("nan")}, "dt must be"),
        (lambda n: {"substeps": 0}, "substeps must be"),
        (lambda n: {"substeps": 1.5}, "substeps must be"),
        (lambda n: {"rtol": 0.0}, "rtol must be"),
        (lambda n: {"max_iter": 0}, "max_iter must be"),
        (lambda n: {"method": "euler"}, "method must be"),
    ],
)
def test_bad_inputs_raise(system, make, match):
    call = {"forces": np.zeros((3, system.n_vertices, 3)), "dt": 0.04}
    call.update(make(system.n_vertices))
    forces = call.pop("forces")
    with pytest.raises(ValueError, match=match):
        simulate_implicit(system, forces, **call)


def test_bad_integrator_settings_raise(system):
    with pytest.raises(ValueError, match="anderson must be"):
        ImplicitIntegrator(system, dt=0.04, anderson=-1)
    integrator = ImplicitIntegrator(system, dt=0.04)
    forces = np.zeros((2, system.n_vertices, 3))
    with pytest.raises(ValueError, match="rtol must be"):
        integrator.run(forces, rtol=2.0)
    with pytest.raises(ValueError, match="u0 must be float64"):
        integrator.run(forces, u0=np.zeros((system.n_vertices, 3), np.float32))
