"""Tests for the static equilibrium and linear response (aujax/physics/_equilibrium.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _meshes import height_field_mesh

from aujax.physics._dynamics import relax
from aujax.physics._equilibrium import EquilibriumResult, equilibrium, linear_response
from aujax.physics._spring_mass import (
    SkinParams,
    build_spring_mass,
    elastic_energy,
    hessian_vector_product,
)


@pytest.fixture(scope="module")
def mesh():
    return height_field_mesh(5, 6, width=8.0, height=10.0, depth=2.0, jitter=0.2)


@pytest.fixture(scope="module")
def system(mesh):
    return build_spring_mass(*mesh)


def _pull(system, displacement=1.0):
    """A brow-raise-like force (up and forward on the upper half) scaled to ~`displacement` cm."""
    x = np.asarray(system.rest)
    band = np.exp(-(((x[:, 1] - 2.0) / 2.5) ** 2))
    f = np.stack([0.2 * band, band, 0.3 * band], -1) * np.asarray(system.mass)[:, None]
    f = jnp.asarray(f)
    lin = linear_response(system, f)
    return f * (displacement / float(jnp.max(jnp.linalg.norm(lin, axis=-1))))


def _residual(system, u, f):
    g = jax.grad(elastic_energy, argnums=1)(system, u)
    return float(jnp.linalg.norm(g - f) / jnp.linalg.norm(f))


def test_equilibrium_converges_to_small_residual(system):
    f = _pull(system, 1.0)
    result = equilibrium(system, f)
    assert isinstance(result, EquilibriumResult)
    assert bool(result.converged) and 0 < int(result.newton_iterations) <= 30
    assert float(result.residual_norm) <= 1e-10
    assert _residual(system, result.u, f) <= 1e-9  # independent check through autodiff
    assert 0.5 < float(jnp.max(jnp.linalg.norm(result.u, axis=-1))) < 2.0
    # a minimum: the Hessian there is positive definite along random directions
    for k in range(3):
        w = jax.random.normal(jax.random.key(k), f.shape, jnp.float64)
        assert float(jnp.sum(w * hessian_vector_product(system, result.u, w))) > 0.0
    # warm start: same answer, fewer iterations
    warm = equilibrium(system, f, u0=result.u + 1e-3)
    np.testing.assert_allclose(warm.u, result.u, atol=1e-9)
    assert int(warm.newton_iterations) < int(result.newton_iterations)


def test_zero_force_gives_rest(system):
    result = equilibrium(system, jnp.zeros((system.n_vertices, 3)))
    assert float(jnp.max(jnp.abs(result.u))) == 0.0
    assert int(result.newton_iterations) == 0 and bool(result.converged)
    assert float(result.residual_norm) == 0.0


def test_biphasic_equilibrium_is_stiffer(mesh, system):
    stiff = build_spring_mass(*mesh, params=SkinParams(biphasic_ratio=5.0, biphasic_strain=0.02))
    f = _pull(system, 1.5)
    soft_u = equilibrium(system, f).u
    result = equilibrium(stiff, f)
    assert bool(result.converged)
    assert _residual(stiff, result.u, f) <= 1e-9
    assert float(jnp.linalg.norm(result.u)) < float(jnp.linalg.norm(soft_u))


def test_equilibrium_is_the_long_time_limit_of_damped_dynamics(system):
    f = _pull(system, 1.0)
    u_static = equilibrium(system, f).u
    u_dyn, v_dyn = relax(system, f, duration=2.0, dt=0.2, rtol=1e-10, atol=1e-12)
    scale = float(jnp.max(jnp.abs(u_static)))
    np.testing.assert_allclose(u_dyn, u_static, atol=1e-7 * scale)
    assert float(jnp.max(jnp.abs(v_dyn))) < 1e-5


def test_linear_response_matches_dense_solve_and_small_force_limit(system):
    n = system.n_vertices
    f = _pull(system, 1.0)
    cols = jax.jit(
        jax.vmap(lambda e: hessian_vector_product(system, jnp.zeros((n, 3)), e.reshape(n, 3)))
    )(jnp.eye(3 * n))
    dense = np.asarray(cols).reshape(3 * n, 3 * n).T
    expected = np.linalg.solve(dense, np.asarray(f).reshape(-1)).reshape(n, 3)
    np.testing.assert_allclose(linear_response(system, f), expected, rtol=1e-7, atol=1e-10)
    eps = 1e-4
    small = equilibrium(system, eps * f).u / eps
    np.testing.assert_allclose(small, expected, atol=1e-3 * np.abs(expected).max())


def test_implicit_gradient_matches_finite_differences(system):
    f = _pull(system, 1.0)
    w = jax.random.normal(jax.random.key(7), f.shape, jnp.float64)

    @jax.jit
    def loss(force_scale, stiffness_scale):
        s = system.replace(stiffness=stiffness_scale * system.stiffness)
        u = equilibrium(s, force_scale * f).u
        return jnp.sum(w * u) + jnp.sum(u**2)

    a, b, h = 1.2, 0.9, 1e-5
    grad = jax.grad(loss, argnums=(0, 1))(a, b)
    fd_a = (loss(a + h, b) - loss(a - h, b)) / (2 * h)
    fd_b = (loss(a, b + h) - loss(a, b - h)) / (2 * h)
    np.testing.assert_allclose(grad[0], fd_a, rtol=1e-6)
    np.testing.assert_allclose(grad[1], fd_b, rtol=1e-6)
    # forward mode through the same implicit rule
    tangent = jax.jvp(loss, (a, b), (1.0, 0.0))[1]
    np.testing.assert_allclose(tangent, grad[0], rtol=1e-8)


def test_linear_response_gradient_wrt_anchor_stiffness(system):
    f = _pull(system, 1.0)

    def loss(kappa_scale):
        s = system.replace(anchor_stiffness=kappa_scale * system.anchor_stiffness)
        return jnp.sum(linear_response(s, f) ** 2)

    h = 1e-5
    fd = (loss(1.0 + h) - loss(1.0 - h)) / (2 * h)
    np.testing.assert_allclose(jax.grad(loss)(1.0), fd, rtol=1e-6)


def test_vmap_over_forces_equals_loop(system):
    f = _pull(system, 1.0)
    scales = jnp.array([0.3, 1.0, 1.4])
    batched = jax.vmap(lambda s: equilibrium(system, s * f))(scales)
    assert batched.u.shape == (3, system.n_vertices, 3)
    for k in range(3):
        single = equilibrium(system, scales[k] * f)
        np.testing.assert_allclose(batched.u[k], single.u, atol=1e-10)
    assert bool(jnp.all(batched.converged))


def test_bad_inputs_raise_named_errors(system):
    n = system.n_vertices
    with pytest.raises(ValueError, match=r"f_ext must have shape \(n, 3\)"):
        equilibrium(system, jnp.zeros((n, 2)))
    with pytest.raises(ValueError, match="f_ext contains NaN"):
        equilibrium(system, jnp.full((n, 3), jnp.nan))
    with pytest.raises(ValueError, match=r"u0 must have shape"):
        equilibrium(system, jnp.zeros((n, 3)), u0=jnp.zeros((n + 1, 3)))
    with pytest.raises(ValueError, match="max_newton must be an int"):
        equilibrium(system, jnp.zeros((n, 3)), max_newton=-1)
    with pytest.raises(ValueError, match="rtol must be > 0"):
        equilibrium(system, jnp.zeros((n, 3)), rtol=0.0)
    with pytest.raises(ValueError, match=r"f_ext must have shape"):
        linear_response(system, jnp.zeros((n + 1, 3)))
