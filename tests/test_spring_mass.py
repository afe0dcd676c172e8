"""Tests for the Cartesian spring-mass skin (aujax/physics/_spring_mass.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _meshes import height_field_mesh
from jax.test_util import check_grads

from aujax.physics._spring_mass import (
    SkinParams,
    SpringMassSystem,
    acceleration,
    build_spring_mass,
    damping_matvec,
    distribute_forces,
    elastic_energy,
    hessian_vector_product,
    internal_forces,
    kinetic_energy,
    muscle_forces,
    total_energy,
)


@pytest.fixture(scope="module")
def mesh():
    return height_field_mesh(4, 5, jitter=0.3)


@pytest.fixture(scope="module")
def system(mesh):
    return build_spring_mass(*mesh)


def _random_state(system, key, scale=0.5):
    ku, kv = jax.random.split(key)
    n = system.n_vertices
    return (
        scale * jax.random.normal(ku, (n, 3), jnp.float64),
        jax.random.normal(kv, (n, 3), jnp.float64),
    )


@jax.jit
def _assembled_hessian(system, u):
    n = system.n_vertices
    cols = jax.vmap(lambda e: hessian_vector_product(system, u, e.reshape(n, 3)).reshape(-1))(
        jnp.eye(3 * n)
    )
    return cols.T


def _triangle(params=None):
    vertices = np.array([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    return build_spring_mass(vertices, np.array([[0, 1, 2]]), np.zeros(3), params=params)


# ------------------------------------------------------------------------------------------------
# construction


def test_build_topology_masses_and_anchors(mesh, system):
    vertices, triangles, bone = mesh
    nx, ny = 4, 5
    n_edges = nx * (ny - 1) + ny * (nx - 1) + (nx - 1) * (ny - 1)
    n_boundary = 2 * (nx - 1) + 2 * (ny - 1)
    assert system.n_edges == n_edges
    assert system.n_springs == n_edges + (n_edges - n_boundary)  # one bending spring per interior
    assert system.springs.dtype == jnp.int32
    np.testing.assert_allclose(float(jnp.sum(system.mass)), 1.0, rtol=1e-14)
    assert np.all(np.asarray(system.mass) > 0)
    # lumped mass: a third of the adjacent triangle areas, normalised
    x = vertices[triangles]
    area = 0.5 * np.linalg.norm(np.cross(x[:, 1] - x[:, 0], x[:, 2] - x[:, 0]), axis=-1)
    lumped = np.zeros(len(vertices))
    np.add.at(lumped, triangles.reshape(-1), np.repeat(area / 3, 3))
    np.testing.assert_allclose(system.mass, lumped / lumped.sum(), rtol=1e-12)
    # every edge spring is a triangle edge; bending springs join opposite vertices of a quad
    edges = {
        tuple(sorted(e)) for t in triangles for e in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0]))
    }
    springs = [tuple(sorted(map(int, s))) for s in np.asarray(system.springs)]
    assert set(springs[: system.n_edges]) == edges
    assert not set(springs[system.n_edges :]) & edges
    p = SkinParams()
    np.testing.assert_allclose(system.stiffness[: system.n_edges], p.edge_stiffness)
    np.testing.assert_allclose(system.stiffness[system.n_edges :], p.bend_ratio * p.edge_stiffness)
    np.testing.assert_allclose(system.damping[system.n_edges :], p.bend_ratio * p.dashpot)
    np.testing.assert_allclose(
        system.anchor_stiffness, p.anchor_stiffness * bone * system.mass, rtol=1e-14
    )
    np.testing.assert_allclose(system.anchor_damping, p.anchor_damping * system.mass, rtol=1e-14)
    s = np.asarray(system.springs)
    np.testing.assert_allclose(
        system.rest_length, np.linalg.norm(vertices[s[:, 1]] - vertices[s[:, 0]], axis=-1)
    )


def test_build_is_differentiable_in_params(mesh):
    u = 0.3 * jax.random.normal(jax.random.key(3), (len(mesh[0]), 3), jnp.float64)

    def energy(mu):
        params = SkinParams(edge_stiffness=mu, anchor_stiffness=0.0, bending_modulus=0.0)
        return elastic_energy(build_spring_mass(*mesh, params=params), u)

    # without anchors and bending the energy is linear in mu
    np.testing.assert_allclose(jax.grad(energy)(8.0), energy(8.0) / 8.0, rtol=1e-12)


def test_single_triangle_force_and_biphasic_tension():
    ratio, eps0 = 4.0, 0.1
    system = _triangle(SkinParams(biphasic_ratio=ratio, biphasic_strain=eps0, anchor_stiffness=0.0))
    k = float(system.stiffness[0])
    for stretch in (0.05, 0.5):  # below and above the threshold on the 2 cm edge 0-1
        u = jnp.zeros((3, 3)).at[1, 0].set(stretch)
        f = internal_forces(system, u, jnp.zeros((3, 3)))
        delta = stretch
        tension = k * delta + (ratio - 1.0) * k * max(delta - eps0 * 2.0, 0.0)
        # vertex 1 only moved along edge 0-1, so edge 1-2 contributes too; check vertex 0's x
        # force, to which only springs 0-1 (along x) and 0-2 (along y, unstretched) contribute
        np.testing.assert_allclose(float(f[0, 0]), tension, rtol=1e-12)
        np.testing.assert_allclose(float(f[0, 1]), 0.0, atol=1e-12)


# ------------------------------------------------------------------------------------------------
# forces and energy


def test_zero_state_gives_exactly_zero_force(system):
    z = jnp.zeros((system.n_vertices, 3))
    assert float(jnp.max(jnp.abs(internal_forces(system, z, z)))) == 0.0
    assert float(elastic_energy(system, z)) == 0.0
    assert float(jnp.max(jnp.abs(acceleration(system, z, z, z)))) == 0.0


@pytest.mark.parametrize("ratio", [1.0, 3.0])
def test_internal_force_is_minus_energy_gradient(mesh, ratio):
    params = SkinParams(biphasic_ratio=ratio, biphasic_strain=0.05)
    system = build_spring_mass(*mesh, params=params)
    u, _ = _random_state(system, jax.random.key(0))
    f = internal_forces(system, u, jnp.zeros_like(u))
    g = jax.grad(elastic_energy, argnums=1)(system, u)
    np.testing.assert_allclose(f, -g, rtol=1e-10, atol=1e-10 * float(jnp.max(jnp.abs(g))))
    if ratio > 1.0:  # the biphasic law is active and stiffer than the linear one
        linear = build_spring_mass(*mesh)
        assert float(elastic_energy(system, u)) > float(elastic_energy(linear, u))


def test_damping_force_matches_voigt_loop(system):
    u, v = _random_state(system, jax.random.key(1))
    z = jnp.zeros_like(v)
    damping = np.asarray(internal_forces(system, u, v) - internal_forces(system, u, z))
    x = np.asarray(system.rest + u)
    vn = np.asarray(v)
    expected = -np.asarray(system.anchor_damping)[:, None] * vn
    for (i, j), gamma in zip(np.asarray(system.springs), np.asarray(system.damping), strict=True):
        d = (x[j] - x[i]) / np.linalg.norm(x[j] - x[i])
        f = gamma * np.dot(vn[j] - vn[i], d) * d
        expected[i] += f
        expected[j] -= f
    np.testing.assert_allclose(damping, expected, rtol=1e-10, atol=1e-13)
    # damping_matvec is -d(force)/dv at rest
    jac_v = jax.jvp(lambda vv: internal_forces(system, jnp.zeros_like(vv), vv), (z,), (v,))[1]
    np.testing.assert_allclose(damping_matvec(system, v), -jac_v, rtol=1e-12, atol=1e-14)


def test_forces_conserve_momentum_without_anchors(mesh):
    params = SkinParams(anchor_stiffness=0.0, anchor_damping=0.0, biphasic_ratio=2.0)
    system = build_spring_mass(*mesh, params=params)
    u, v = _random_state(system, jax.random.key(2))
    f = internal_forces(system, u, v)
    scale = float(jnp.max(jnp.abs(f)))
    assert scale > 1.0
    np.testing.assert_allclose(jnp.sum(f, axis=0), 0.0, atol=1e-12 * scale)
    # the springs alone (no hinge bending, which is defined on the curved rest shape) are
    # central forces: no net torque, and rigid motions leave their energy unchanged
    system = build_spring_mass(*mesh, params=params.replace(bending_modulus=0.0))
    f = internal_forces(system, u, v)
    torque = jnp.sum(jnp.cross(system.rest + u, f), axis=0)  # central forces: no net torque
    np.testing.assert_allclose(torque, 0.0, atol=1e-11 * scale)
    # rigid motions do not change the spring energy
    c, s = np.cos(0.7), np.sin(0.7)
    rot = jnp.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    x = system.rest + u
    u_rigid = x @ rot.T + jnp.array([[1.0, -2.0, 0.5]]) - system.rest
    np.testing.assert_allclose(
        elastic_energy(system, u_rigid), elastic_energy(system, u), rtol=1e-12
    )


def test_check_grads_energy_and_forces():
    mesh = height_field_mesh(3, 3, jitter=0.2)
    system = build_spring_mass(*mesh, params=SkinParams(biphasic_ratio=2.0, biphasic_strain=0.02))
    u, v = _random_state(system, jax.random.key(4), scale=0.3)
    check_grads(jax.jit(lambda uu: elastic_energy(system, uu)), (u,), order=2, modes=["rev"])
    check_grads(jax.jit(lambda uu, vv: internal_forces(system, uu, vv)), (u, v), order=1)
    check_grads(
        jax.jit(lambda k, g: internal_forces(system.replace(stiffness=k, damping=g), u, v)),
        (system.stiffness, system.damping),
        order=1,
    )


def test_hessian_symmetric_psd_at_rest_and_pd_with_anchors(mesh):
    free = build_spring_mass(*mesh, params=SkinParams(anchor_stiffness=0.0, bending_modulus=0.0))
    anchored = build_spring_mass(*mesh)
    z = jnp.zeros((free.n_vertices, 3))
    h_free = np.asarray(_assembled_hessian(free, z))
    h_anch = np.asarray(_assembled_hessian(anchored, z))
    for h in (h_free, h_anch):
        np.testing.assert_allclose(h, h.T, atol=1e-12 * np.abs(h).max())
    ev_free = np.linalg.eigvalsh(h_free)
    ev_anch = np.linalg.eigvalsh(h_anch)
    assert ev_free.min() > -1e-10 * ev_free.max()
    assert np.sum(ev_free < 1e-9 * ev_free.max()) >= 6  # at least the rigid-body modes
    assert ev_anch.min() > 1e-6 * ev_anch.max()
    # hvp equals the autodiff Hessian at a deformed state too
    u, w = _random_state(anchored, jax.random.key(5), scale=0.4)
    n = anchored.n_vertices
    dense = jax.jit(jax.hessian(lambda x: elastic_energy(anchored, x.reshape(n, 3))))(u.reshape(-1))
    np.testing.assert_allclose(
        hessian_vector_product(anchored, u, w).reshape(-1), dense @ w.reshape(-1), rtol=1e-10
    )


def test_hinge_bending_energy_is_resolution_consistent():
    """Zero on affine out-of-plane displacements of a flat sheet; ~ D/2 int (lap w)^2 otherwise."""
    params = SkinParams(bending_modulus=2.0, edge_stiffness=0.0, anchor_stiffness=0.0)
    energies = []
    energy = jax.jit(elastic_energy)
    for n in (9, 25):
        vertices, triangles, bone = height_field_mesh(
            n, n, width=10.0, height=10.0, depth=0.0, jitter=0.3
        )
        system = build_spring_mass(vertices, triangles, bone, params=params)
        x, y = vertices[:, 0], vertices[:, 1]
        affine = np.stack([0 * x, 0 * x, 0.3 * x - 0.2 * y + 1.0], -1)
        assert float(energy(system, jnp.asarray(affine))) < 1e-20
        bowl = np.stack([0 * x, 0 * x, 0.05 * (x**2 + y**2)], -1)  # lap w = 0.2
        energies.append(float(energy(system, jnp.asarray(bowl))))
    continuum = 0.5 * 2.0 * 0.2**2 * 100.0
    assert abs(energies[1] / energies[0] - 1.0) < 0.15
    assert 0.8 < energies[1] / continuum < 2.0


def test_low_modes_in_face_range():
    """On a face-sized mesh with bone weights in [0.05, 1] the modes span a few Hz to ~20 Hz."""
    system = build_spring_mass(*height_field_mesh(6, 7))
    h = np.asarray(_assembled_hessian(system, jnp.zeros((system.n_vertices, 3))))
    m = np.repeat(np.asarray(system.mass), 3)
    freq = np.sqrt(np.linalg.eigvalsh(h / np.sqrt(m[:, None] * m[None, :]))) / (2 * np.pi)
    assert 2.0 < freq[0] < 6.0
    assert 10.0 < freq[-1] < 60.0


# ------------------------------------------------------------------------------------------------
# muscles, Newton's law, energies


def test_muscle_forces_and_distribution(getkey):
    n, m = 7, 3
    p = jax.random.uniform(getkey(), (n, m), jnp.float64)
    d = jax.random.normal(getkey(), (n, m, 3), jnp.float64)
    d = d / jnp.linalg.norm(d, axis=-1, keepdims=True)
    a = jnp.array([0.0, 1.5, 2.0])
    f = muscle_forces(p, d, a)
    expected = np.zeros((n, 3))
    for i in range(n):
        for k in range(m):
            expected[i] += float(a[k]) * float(p[i, k]) * np.asarray(d[i, k])
    np.testing.assert_allclose(f, expected, rtol=1e-12)
    big_f = jax.random.normal(getkey(), (m, 3), jnp.float64)
    np.testing.assert_allclose(distribute_forces(p, big_f), np.asarray(p) @ np.asarray(big_f))
    # the directed form is eq. 1 with F_m = a_m d_m when directions do not vary over vertices
    d_const = jnp.broadcast_to(d[:1], (n, m, 3))
    np.testing.assert_allclose(
        muscle_forces(p, d_const, a), distribute_forces(p, a[:, None] * d[0]), rtol=1e-12
    )


def test_acceleration_and_energies(system):
    u, v = _random_state(system, jax.random.key(6))
    f_ext = jax.random.normal(jax.random.key(7), u.shape, jnp.float64)
    acc = acceleration(system, u, v, f_ext)
    np.testing.assert_allclose(
        system.mass[:, None] * acc, internal_forces(system, u, v) + f_ext, rtol=1e-12
    )
    ke = kinetic_energy(system, v)
    np.testing.assert_allclose(ke, 0.5 * np.sum(np.asarray(system.mass)[:, None] * v**2))
    np.testing.assert_allclose(
        total_energy(system, u, v, f_ext),
        elastic_energy(system, u) + ke - jnp.sum(f_ext * u),
        rtol=1e-12,
    )


def test_jit_and_vmap_over_states(system):
    keys = jax.random.split(jax.random.key(8), 3)
    us, vs = jax.vmap(lambda k: _random_state(system, k))(keys)
    batched = jax.jit(jax.vmap(internal_forces, in_axes=(None, 0, 0)))(system, us, vs)
    for b in range(3):
        np.testing.assert_allclose(batched[b], internal_forces(system, us[b], vs[b]), rtol=1e-12)


def test_float32_system_stays_float32(mesh):
    vertices, triangles, bone = mesh
    system = build_spring_mass(vertices.astype(np.float32), triangles, bone.astype(np.float32))
    assert system.stiffness.dtype == jnp.float32 and system.mass.dtype == jnp.float32
    z = jnp.zeros((system.n_vertices, 3), jnp.float32)
    assert acceleration(system, z, z, z).dtype == jnp.float32


# ------------------------------------------------------------------------------------------------
# bad input


def test_bad_inputs_raise_named_errors(mesh):
    vertices, triangles, bone = mesh
    n = len(vertices)
    with pytest.raises(ValueError, match="vertices must have shape"):
        build_spring_mass(vertices[:, :2], triangles, bone)
    with pytest.raises(ValueError, match="vertices contains NaN"):
        build_spring_mass(np.where(np.arange(n)[:, None] == 3, np.nan, vertices), triangles, bone)
    with pytest.raises(ValueError, match="triangles must index vertices"):
        build_spring_mass(vertices, triangles + 1, bone)
    with pytest.raises(ValueError, match="triangles must have shape"):
        build_spring_mass(vertices, triangles[:, :2], bone)
    with pytest.raises(ValueError, match="triangles must hold integers"):
        build_spring_mass(vertices, triangles.astype(float), bone)
    with pytest.raises(ValueError, match="bone_weights must lie in"):
        build_spring_mass(vertices, triangles, bone * 2.0)
    with pytest.raises(ValueError, match="bone_weights must have shape"):
        build_spring_mass(vertices, triangles, bone[:-1])
    with pytest.raises(ValueError, match="belong to no triangle"):
        build_spring_mass(
            np.concatenate([vertices, [[0.0, 0.0, 9.0]]]), triangles, np.append(bone, 0.5)
        )
    with pytest.raises(ValueError, match="params.dashpot must be >= 0"):
        build_spring_mass(vertices, triangles, bone, params=SkinParams(dashpot=-1.0))
    with pytest.raises(ValueError, match="params.biphasic_ratio must be >= 1"):
        build_spring_mass(vertices, triangles, bone, params=SkinParams(biphasic_ratio=0.5))
    coincident = vertices.copy()
    coincident[1] = coincident[0]
    with pytest.raises(ValueError, match="coincident vertices"):
        build_spring_mass(coincident, triangles, bone)
    system = build_spring_mass(vertices, triangles, bone)
    z = jnp.zeros((n, 3))
    with pytest.raises(ValueError, match=r"u must have shape \(n, 3\)"):
        internal_forces(system, z[:-1], z)
    with pytest.raises(ValueError, match=r"f_ext must have shape"):
        acceleration(system, z, z, z[:, :2])
    with pytest.raises(ValueError, match=r"directions must have shape \(n, m, 3\)"):
        muscle_forces(jnp.ones((n, 2)), jnp.ones((n, 3, 3)), jnp.ones(2))
    with pytest.raises(ValueError, match=r"activations must have shape"):
        muscle_forces(jnp.ones((n, 2)), jnp.ones((n, 2, 3)), jnp.ones(3))
    with pytest.raises(ValueError, match=r"muscle_forces must have shape \(m, 3\)"):
        distribute_forces(jnp.ones((n, 2)), jnp.ones((3, 3)))
    assert isinstance(system, SpringMassSystem)
