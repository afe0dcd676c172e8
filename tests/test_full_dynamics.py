"""Tests for the frame integrator (_integrate.py) and the full Cartesian dynamics (_dynamics.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _meshes import height_field_mesh

from aujax.physics._dynamics import is_undamped, relax, simulate
from aujax.physics._integrate import solve_frames
from aujax.physics._spring_mass import (
    SkinParams,
    build_spring_mass,
    kinetic_energy,
    total_energy,
)


T = 11  # frames in every trajectory below (one compilation per solver)
UNDAMPED = SkinParams(dashpot=0.0, anchor_damping=0.0)


@pytest.fixture(scope="module")
def mesh():
    return height_field_mesh(3, 4, width=6.0, height=8.0, depth=2.0)


@pytest.fixture(scope="module")
def system(mesh):
    return build_spring_mass(*mesh)


@pytest.fixture(scope="module")
def undamped(mesh):
    return build_spring_mass(*mesh, params=UNDAMPED)


def _forces(system, key, scale=30.0):
    """(T, n, 3) frame-wise random forces, proportional to mass (accelerations ~ scale)."""
    f = jax.random.normal(key, (T, system.n_vertices, 3), jnp.float64)
    return scale * system.mass[None, :, None] * f


@pytest.fixture(scope="module")
def reference(system, undamped):
    """tsit5 at tight tolerance, damped and undamped, 0.1 s."""
    forces = _forces(system, jax.random.key(0))
    tight = dict(dt=0.01, rtol=1e-11, atol=1e-13)
    return forces, simulate(system, forces, **tight), simulate(undamped, forces, **tight)


# ------------------------------------------------------------------------------------------------
# frame semantics of the generic integrator


@pytest.mark.parametrize("solver", ["heun", "tsit5"])
def test_solve_frames_piecewise_constant_forcing_is_exact(solver):
    """x'' = f_k on [k dt, (k+1) dt): Heun and Tsit5 are exact for quadratics in t."""
    dt = 0.1
    forcing = {"f": jnp.array([1.0, -2.0, 0.5, 3.0, 100.0])}  # the last frame is never used
    x0 = (jnp.array(0.3), jnp.array([1.0, 2.0]))  # a pytree state
    v0 = (jnp.array(-1.0), jnp.array([0.0, 1.0]))

    def accel(x, v, f):
        return (f["f"], jnp.stack([f["f"], -f["f"]]))

    xs, vs = jax.jit(lambda a, b, c: solve_frames(accel, a, b, c, dt=dt, solver=solver))(
        x0, v0, forcing
    )
    assert xs[0].shape == (5,) and xs[1].shape == (5, 2)

    def exact(x, v, sign):
        out_x, out_v = [x], [v]
        for f in sign * np.asarray(forcing["f"])[:-1]:
            x, v = x + v * dt + 0.5 * f * dt**2, v + f * dt
            out_x.append(x)
            out_v.append(v)
        return np.array(out_x), np.array(out_v)

    for got_x, got_v, (want_x, want_v) in [
        (xs[0], vs[0], exact(0.3, -1.0, 1.0)),
        (xs[1][:, 0], vs[1][:, 0], exact(1.0, 0.0, 1.0)),
        (xs[1][:, 1], vs[1][:, 1], exact(2.0, 1.0, -1.0)),
    ]:
        np.testing.assert_allclose(got_x, want_x, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(got_v, want_v, rtol=1e-12, atol=1e-13)
    # a single frame integrates nothing
    x1, v1 = solve_frames(accel, x0, v0, {"f": jnp.ones(1)}, dt=dt, solver=solver)
    assert float(x1[0][0]) == 0.3 and float(v1[1][0, 1]) == 1.0


def test_solve_frames_validates_arguments():
    acc = lambda x, v, f: f
    x0, f = jnp.zeros(2), jnp.zeros((3, 2))
    with pytest.raises(ValueError, match="solver must be one of"):
        solve_frames(acc, x0, x0, f, dt=0.1, solver="rk4")
    with pytest.raises(ValueError, match="adjoint must be one of"):
        solve_frames(acc, x0, x0, f, dt=0.1, adjoint="backsolve")
    with pytest.raises(ValueError, match="dt must be > 0"):
        solve_frames(acc, x0, x0, f, dt=0.0)
    with pytest.raises(ValueError, match="substeps must be an int"):
        solve_frames(acc, x0, x0, f, dt=0.1, solver="euler", substeps=0)
    with pytest.raises(ValueError, match="v0 must have the shapes of x0"):
        solve_frames(acc, x0, jnp.zeros(3), f, dt=0.1)
    with pytest.raises(ValueError, match="leading frame axis"):
        solve_frames(acc, x0, x0, {"a": jnp.zeros((3, 2)), "b": jnp.zeros((4, 2))}, dt=0.1)
    with pytest.raises(ValueError, match="dt0 applies to adaptive solvers only"):
        solve_frames(acc, x0, x0, f, dt=0.1, solver="heun", dt0=0.01)
    with pytest.raises(ValueError, match="semi_implicit_euler' cannot express velocity"):
        solve_frames(acc, x0, x0, f, dt=0.1, solver="semi_implicit_euler")


# ------------------------------------------------------------------------------------------------
# full dynamics


def test_zero_force_stays_exactly_at_rest(system):
    us, vs = simulate(system, jnp.zeros((T, system.n_vertices, 3)), dt=0.04)
    assert us.shape == (T, system.n_vertices, 3)
    assert float(jnp.max(jnp.abs(us))) == 0.0 and float(jnp.max(jnp.abs(vs))) == 0.0


def test_undamped_total_energy_is_conserved(undamped):
    assert is_undamped(undamped)
    n = undamped.n_vertices
    f_ext = 40.0 * undamped.mass[:, None] * jnp.array([[0.2, 1.0, 0.5]])
    v0 = 2.0 * jax.random.normal(jax.random.key(1), (n, 3), jnp.float64)
    forces = jnp.broadcast_to(f_ext[None], (T, n, 3))
    us, vs = simulate(undamped, forces, dt=0.1, v0=v0, rtol=1e-10, atol=1e-12)  # 1 s
    energy = jax.vmap(total_energy, in_axes=(None, 0, 0, None))(undamped, us, vs, f_ext)
    kinetic = jax.vmap(kinetic_energy, in_axes=(None, 0))(undamped, vs)
    assert float(jnp.max(jnp.abs(us))) > 0.05  # it really moved
    drift = float(jnp.max(jnp.abs(energy - energy[0])))
    assert drift <= 1e-6 * float(jnp.max(kinetic))


@pytest.mark.parametrize(
    "solver, options, tol",
    [
        ("euler", dict(substeps=200), 5e-2),
        ("heun", dict(substeps=20), 1e-3),
        ("tsit5", dict(), 1e-4),
        ("kvaerno5", dict(rtol=1e-8, atol=1e-10), 1e-5),
        ("semi_implicit_euler", dict(substeps=50), 5e-2),
    ],
)
def test_solvers_agree_with_tight_tsit5(system, undamped, reference, solver, options, tol):
    forces, (us_ref, _), (us_undamped, _) = reference
    target_system, us_ref = (
        (undamped, us_undamped) if solver == "semi_implicit_euler" else (system, us_ref)
    )
    us, vs = simulate(target_system, forces, dt=0.01, solver=solver, **options)
    scale = float(jnp.max(jnp.abs(us_ref)))
    assert scale > 1e-3
    assert float(jnp.max(jnp.abs(us - us_ref))) <= tol * scale
    assert bool(jnp.all(jnp.isfinite(vs)))


def test_semi_implicit_euler_rejects_damped_system(system):
    with pytest.raises(ValueError, match="semi_implicit_euler' cannot express velocity"):
        simulate(
            system, jnp.zeros((T, system.n_vertices, 3)), dt=0.01, solver="semi_implicit_euler"
        )


def test_step_failure_raises_named_error(system, reference):
    forces = reference[0]
    with pytest.raises(Exception, match=r"full-dynamics \(tsit5\): diffrax solve failed between "
                       r"frames — max_steps reached; reduce dt or raise max_steps"):  # fmt: skip
        jax.block_until_ready(simulate(system, forces, dt=0.01, max_steps=1))


def test_bad_inputs_raise_named_errors(system):
    n = system.n_vertices
    with pytest.raises(ValueError, match=r"forces must have shape \(T, n, 3\)"):
        simulate(system, jnp.zeros((T, n + 1, 3)), dt=0.01)
    with pytest.raises(ValueError, match="forces contains NaN"):
        simulate(system, jnp.full((T, n, 3), jnp.nan), dt=0.01)
    with pytest.raises(ValueError, match="dt must be > 0"):
        simulate(system, jnp.zeros((T, n, 3)), dt=-0.01)
    with pytest.raises(ValueError, match=r"u0 must have shape \(n, 3\)"):
        simulate(system, jnp.zeros((T, n, 3)), dt=0.01, u0=jnp.zeros((n, 2)))
    with pytest.raises(ValueError, match="solver must be one of"):
        simulate(system, jnp.zeros((T, n, 3)), dt=0.01, solver="rk45")


def test_vmap_over_force_sequences_equals_loop(system):
    keys = jax.random.split(jax.random.key(2), 3)
    batch = jax.vmap(lambda k: _forces(system, k))(keys)
    us_b, vs_b = jax.vmap(lambda f: simulate(system, f, dt=0.01))(batch)
    for b in range(3):
        us, vs = simulate(system, batch[b], dt=0.01)
        np.testing.assert_allclose(us_b[b], us, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(vs_b[b], vs, rtol=1e-9, atol=1e-10)


def test_direct_adjoint_is_refused():
    with pytest.raises(ValueError, match="DirectAdjoint"):
        solve_frames(
            lambda x, v, f: f, jnp.zeros(2), jnp.zeros(2), jnp.zeros((3, 2)), dt=0.1,
            adjoint="direct",
        )  # fmt: skip


@pytest.mark.parametrize("adjoints", [("recursive", "forward")])
def test_solve_frames_adjoints_agree_with_finite_differences(adjoints):
    """Reverse (recursive) and forward-mode gradients of a nonlinear oscillator loss."""
    forcing = jnp.array([[1.0, 0.0], [0.0, -2.0], [0.5, 0.5], [0.0, 0.0]])

    def loss(params, adjoint):
        k, c = params[0], params[1]
        acc = lambda x, v, f: -k * x - c * v + f + 0.3 * x**2
        x0, v0 = jnp.array([0.2, -0.1]), jnp.zeros(2)
        xs, vs = solve_frames(
            acc, x0, v0, forcing, dt=0.2, solver="heun", substeps=20, adjoint=adjoint
        )
        return jnp.sum(xs**2) + jnp.sum(vs[-1])

    p0, h = jnp.array([4.0, 0.5]), 1e-5
    jloss = jax.jit(loss, static_argnums=1)
    fd = np.array([(jloss(p0 + h * e, adjoints[0]) - jloss(p0 - h * e, adjoints[0])) / (2 * h)
                   for e in np.eye(2)])  # fmt: skip
    for adjoint in adjoints:
        derivative = jax.jacfwd if adjoint == "forward" else jax.grad
        grad = jax.jit(derivative(loss), static_argnums=1)(p0, adjoint)
        assert np.all(np.isfinite(np.asarray(grad)))
        np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)


@pytest.mark.slow
def test_simulate_gradient_matches_finite_differences(system, reference):
    forces = reference[0]
    weights = jax.random.normal(jax.random.key(3), forces.shape[1:], jnp.float64)

    def loss(scale):  # heun: the cheapest reverse-mode compilation
        us, _ = simulate(system, scale * forces, dt=0.01, solver="heun", substeps=10)
        return jnp.sum(weights * us[-1]) + jnp.sum(us[T // 2] ** 2)

    s0, h = 1.3, 1e-4
    reverse = jax.grad(loss)(s0)
    fd = (loss(s0 + h) - loss(s0 - h)) / (2 * h)
    assert np.isfinite(float(reverse))
    np.testing.assert_allclose(reverse, fd, rtol=1e-5)


def test_relax_reaches_rest_for_zero_force(system):
    n = system.n_vertices
    u0 = 0.2 * jax.random.normal(jax.random.key(4), (n, 3), jnp.float64)
    u, v = relax(system, jnp.zeros((n, 3)), duration=1.0, dt=0.1, u0=u0)
    assert float(jnp.max(jnp.abs(u))) < 1e-4 * float(jnp.max(jnp.abs(u0)))
