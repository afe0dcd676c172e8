r"""Cartesian spring-mass skin: springs, anchors, dashpots and Newton's law (seed 001, eqs. 1-2).

The skin is a triangle mesh whose vertices carry lumped masses and are joined by springs
(DESIGN 4.1, REFERENCE 7). The state is the displacement ``u`` (n, 3) from the rest positions
and the velocity ``v`` (n, 3). Forces:

* **edge springs** along every unique mesh edge, stiffness ``mu = edge_stiffness``, Hooke's law
  on the current length (geometrically nonlinear);
* **bending springs** across every interior edge: for triangles (a, b, c) and (b, a, d) sharing
  edge a-b, a spring joins c and d, stiffness ``bend_ratio * mu``;
* an optional **biphasic** law: above the strain threshold ``eps0`` a spring in tension is
  ``biphasic_ratio`` times stiffer (C1 energy, see :func:`elastic_energy`);
* a **Voigt dashpot** along each spring (REFERENCE 7.1);
* a **hinge bending energy** (quadratic bending model of Bergou et al. 2006, "A quadratic
  bending model for inextensible surfaces") on the same interior-edge stencils (a, b, c, d),
  with bending modulus ``D`` (see below for why it is needed);
* **anchor springs** tying each vertex to its rest position, ``k_i = kappa * w_i * m_i`` with
  bone-attachment weight ``w_i``, and absolute anchor damping ``-c_a m_i v_i``;
* **external muscle forces** ``f_i = sum_m a_m P[i, m] d[i, m]`` (directed form of eq. 1).

Newton's law ``m_i a_i = f_i`` (eq. 2) closes the model. Every function handles one example and
works under ``jax.jit``, ``jax.vmap`` and ``jax.grad``; forces are scattered with
``jax.ops.segment_sum`` over the spring list, one coordinate at a time.

**Default parameters** (units cm, s, total mass 1). The choice is explained here once:

* ``edge_stiffness = 8``. A triangular network of springs with constant k has the
  resolution-independent 2D Young's modulus ``E2 = 2 k / sqrt(3) ~ 9.2`` (mass/s^2). With a face
  of ~300 cm^2 and unit mass (areal density ``rho ~ 1/300``) the membrane wave speed is
  ``sqrt(E2 / rho) ~ 50 cm/s``: on its own the membrane is soft (in-plane modes ~2 Hz), so the
  skin spreads a muscle pull over its neighbourhood without dominating the dynamics.
* ``anchor_stiffness = 1e4``. An anchored vertex oscillates at ``omega = sqrt(kappa * w)``
  independently of the resolution: 100 rad/s (16 Hz) over bone (w = 1) and 22-32 rad/s
  (3.5-5 Hz) over cheeks and lips (w = 0.05-0.1). The membrane couples neighbours over the
  length ``sqrt(E2 / (kappa * w * rho))``, about 1 cm over bone and 2-3 cm over soft tissue.
  Together the low modes sit at roughly 5-20 Hz.
* ``anchor_damping = 30`` 1/s. The anchored modes get damping ratios ``zeta = c_a / (2 omega)``:
  0.15 at 16 Hz, 0.5-0.7 at 3.5-5 Hz, i.e. moderate damping that settles an expression within
  a few 25 fps frames (decay time ``2 / c_a ~ 0.07 s``).
* ``dashpot = 0.01``. Voigt dashpots are stiffness-proportional (relaxation time
  ``gamma / k ~ 1.3 ms``), so they damp the stiff mesh-scale modes (damping ratio ``~ omega
  gamma / (2 k)``) and leave the low modes to the anchor damping. Bending springs get
  ``bend_ratio * dashpot`` so all springs share the same relaxation time.
* ``bend_ratio = 0.1`` (REFERENCE 7.3), biphasic law off (``biphasic_ratio = 1``) with the
  threshold ``biphasic_strain = 0.15`` ready for when it is switched on.
* ``bending_modulus = 1.0`` (mass cm^2/s^2). *Departure from a pure spring network:* springs
  (edge and bending alike) have no linear stiffness against out-of-plane motion of a flat
  patch, and a compressed spring has negative geometric stiffness ``-|t| / l``. Out of plane
  only the anchors (``kappa w m_i``, proportional to the vertex area ``h^2``) resist, so under
  compressive strain ``eps`` the membrane buckles into mesh-scale wrinkles once
  ``E2 eps (pi / h)^2 > kappa w rho``: at 5,000 vertices a strain of ~0.2 % suffices, and the
  critical strain vanishes as the mesh is refined. A plate bending energy ``D (lap w)^2 / 2``
  makes the threshold resolution-independent: wrinkles appear only above the compressive
  stress ``sigma_c = 2 sqrt(D kappa w rho)`` and then with the physical wavelength
  ``2 pi sqrt(2 D / sigma_c)``. The value follows plate theory for the facial soft tissue as one
  layer: ``D = E2 t^2 / 12`` with the membrane modulus ``E2 ~ 9.2`` and a thickness ``t ~ 1.1 cm``
  (skin, subcutaneous fat and the SMAS together) gives D ~ 0.9. With D = 1 and the softest tissue
  (w = 0.05) wrinkles need ~30 % compressive strain. It also keeps the skin's response close to
  linear at AU-sized displacements: at intensity 5 the full nonlinear equilibrium differs from the
  linearised one by a median of ~5 % over the 17 AUs (~15 % with D = 0.1), which is what lets a
  linear reduced model track the full one (`python -m tools.verify_reduction`). The term is
  quadratic in ``u`` (constant Hessian, translation invariant); its cost is a stiffer top of the
  spectrum on fine meshes (``omega_max`` grows like ``1 / h^2`` instead of ``1 / h``), which the
  implicit integrator handles. Set it to 0 for a pure spring network.
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jaxtyping import Array, ArrayLike, Float, Int

from .._checks import as_float, check_finite, check_shape, check_triangles, is_concrete


__all__ = [
    "SkinParams",
    "SpringMassSystem",
    "acceleration",
    "build_spring_mass",
    "damping_matvec",
    "distribute_forces",
    "elastic_energy",
    "hessian_vector_product",
    "internal_forces",
    "kinetic_energy",
    "muscle_forces",
    "total_energy",
]


@struct.dataclass
class SkinParams:
    """Material parameters of the spring-mass skin; every field is a differentiable leaf.

    Attributes:
        edge_stiffness: mu, spring constant of each edge spring (mass/s^2). Constant per spring, so
            the membrane modulus does not depend on the mesh resolution.
        bend_ratio: bending spring stiffness as a fraction of ``edge_stiffness``.
        anchor_stiffness: kappa (1/s^2); vertex i's anchor spring is ``kappa * w_i * m_i``.
        dashpot: gamma, Voigt damping coefficient of each edge spring (mass/s); bending springs
            get ``bend_ratio * dashpot``.
        anchor_damping: c_a (1/s); the anchor damping force is ``-c_a * m_i * v_i``.
        biphasic_strain: strain threshold eps0 above which a spring in tension stiffens.
        biphasic_ratio: stiffness multiplier above the threshold (1 switches the law off).
        bending_modulus: D, plate bending modulus of the hinge bending energy (mass cm^2/s^2).
    """

    edge_stiffness: float | Array = 8.0
    bend_ratio: float | Array = 0.1
    anchor_stiffness: float | Array = 1.0e4
    dashpot: float | Array = 0.01
    anchor_damping: float | Array = 30.0
    biphasic_strain: float | Array = 0.15
    biphasic_ratio: float | Array = 1.0
    bending_modulus: float | Array = 1.0


@struct.dataclass
class SpringMassSystem:
    """A spring-mass skin ready for simulation (build it with :func:`build_spring_mass`).

    Springs ``[0, n_edges)`` are the mesh edges, the rest are bending springs.

    Attributes:
        rest: (n, 3) rest positions (cm).
        mass: (n,) lumped masses, one third of the adjacent triangle areas, summing to 1.
        springs: (s, 2) int vertex indices (i, j) of each spring.
        rest_length: (s,) rest lengths (cm).
        stiffness: (s,) spring constants.
        damping: (s,) Voigt dashpot coefficients.
        anchor_stiffness: (n,) anchor spring constants ``kappa * w_i * m_i``.
        anchor_damping: (n,) absolute anchor damping coefficients ``c_a * m_i`` (force
            ``-anchor_damping[i] * v_i``).
        biphasic_strain: () strain threshold of the biphasic law.
        biphasic_ratio: () stiffness multiplier above the threshold.
        hinges: (h, 4) int vertex indices (a, b, c, d) of each interior edge a-b with opposite
            vertices c and d.
        hinge_weights: (h, 4) the hinge's discrete Laplacian (mean-curvature) weights K_e at rest
            (cotangent weights, summing to zero).
        hinge_stiffness: (h,) ``3 D / A_e`` with ``A_e`` the area of the hinge's two triangles;
            the bending energy is ``sum_e 1/2 hinge_stiffness_e |sum_k K_ek u_k|^2``.
        n_edges: number of edge springs (static).
    """

    rest: Float[Array, "n 3"]
    mass: Float[Array, " n"]
    springs: Int[Array, "s 2"]
    rest_length: Float[Array, " s"]
    stiffness: Float[Array, " s"]
    damping: Float[Array, " s"]
    anchor_stiffness: Float[Array, " n"]
    anchor_damping: Float[Array, " n"]
    biphasic_strain: Float[Array, ""]
    biphasic_ratio: Float[Array, ""]
    hinges: Int[Array, "h 4"]
    hinge_weights: Float[Array, "h 4"]
    hinge_stiffness: Float[Array, " h"]
    n_edges: int = struct.field(pytree_node=False, default=0)

    @property
    def n_vertices(self) -> int:
        """Number of vertices n."""
        return self.rest.shape[0]

    @property
    def n_springs(self) -> int:
        """Number of springs s (edges + bending)."""
        return self.springs.shape[0]


# ------------------------------------------------------------------------------------------------
# validation helpers


def _check_state(system: SpringMassSystem, name: str, x) -> Array:
    n = system.n_vertices
    check_shape(x, name, (n, 3), f"(n, 3) = ({n}, 3)")
    return as_float(x, dtype=system.rest.dtype)


# ------------------------------------------------------------------------------------------------
# topology (NumPy preprocessing)


def _topology(triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique edges (e, 2), bending pairs (b, 2) and hinges (h, 4) of a triangle list.

    A hinge (a, b, c, d) is an interior edge a-b (shared by exactly two triangles) with its two
    opposite vertices c and d; a bending pair joins c and d. Pairs that coincide with a mesh
    edge or with another pair are dropped. Edges and pairs are sorted per row.
    """
    a, b, c = triangles[:, 0], triangles[:, 1], triangles[:, 2]
    half = np.concatenate([np.stack([a, b], 1), np.stack([b, c], 1), np.stack([c, a], 1)])
    opposite = np.concatenate([c, a, b])
    half = np.sort(half, axis=1)
    edges, inverse, counts = np.unique(half, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    interior = np.nonzero(counts == 2)[0]
    first = order[starts[interior]]
    second = order[starts[interior] + 1]
    hinges = np.concatenate([edges[interior], opposite[first, None], opposite[second, None]], 1)
    hinges = hinges[hinges[:, 2] != hinges[:, 3]]
    pairs = np.sort(hinges[:, 2:], axis=1)
    if pairs.shape[0]:
        pairs = np.unique(pairs, axis=0)
        n = int(triangles.max()) + 1
        edge_keys = edges[:, 0].astype(np.int64) * n + edges[:, 1]
        pair_keys = pairs[:, 0].astype(np.int64) * n + pairs[:, 1]
        pairs = pairs[~np.isin(pair_keys, edge_keys)]
    return edges, pairs.reshape(-1, 2), hinges.reshape(-1, 4)


def _cot(a: Array, b: Array) -> Array:
    """Cotangent of the angle between row vectors a and b (..., 3)."""
    cross = jnp.sqrt(jnp.sum(jnp.cross(a, b) ** 2, axis=-1))
    return jnp.sum(a * b, axis=-1) / cross


def _hinge_geometry(x: Array, hinges: Array) -> tuple[Array, Array]:
    """Bergou et al. (2006) hinge weights K_e (h, 4) and the hinge areas A_e (h,)."""
    x0, x1, x2, x3 = (x[hinges[:, k]] for k in range(4))
    e0, e1, e2, e3, e4 = x1 - x0, x2 - x0, x3 - x0, x2 - x1, x3 - x1
    c01, c02 = _cot(e0, e1), _cot(e0, e2)
    c03, c04 = _cot(-e0, e3), _cot(-e0, e4)
    weights = jnp.stack([c03 + c04, c01 + c02, -c01 - c03, -c02 - c04], axis=-1)
    area = 0.5 * (
        jnp.sqrt(jnp.sum(jnp.cross(e0, e1) ** 2, axis=-1))
        + jnp.sqrt(jnp.sum(jnp.cross(e0, e2) ** 2, axis=-1))
    )
    return weights, area


def build_spring_mass(
    vertices: Float[ArrayLike, "n 3"],
    triangles: Int[ArrayLike, "f 3"],
    bone_weights: Float[ArrayLike, " n"],
    *,
    params: SkinParams | None = None,
) -> SpringMassSystem:
    """Builds the spring-mass skin of a triangle mesh.

    The topology (edge and bending spring lists) is computed with NumPy from the concrete
    ``triangles``; everything that depends on ``vertices``, ``bone_weights`` and ``params`` is
    computed with jax.numpy, so the system is differentiable with respect to them.

    Args:
        vertices: (n, 3) rest positions in cm.
        triangles: (f, 3) vertex indices of each triangle (concrete integers in [0, n)). Every
            vertex must belong to at least one triangle (it needs a mass).
        bone_weights: (n,) bone-attachment weights in [0, 1]; anchor stiffness is proportional.
        params: material parameters (see :class:`SkinParams`); defaults to ``SkinParams()``.

    Returns:
        The :class:`SpringMassSystem`: masses ``m_i = (sum of adjacent triangle areas) / 3``
        normalised to sum 1, edge springs followed by bending springs.

    Raises:
        ValueError: on wrong shapes, NaN/inf, out-of-range indices or weights, vertices in no
            triangle, zero-area meshes or coincident vertices joined by a spring.
    """
    if params is None:
        params = SkinParams()
    check_shape(vertices, "vertices", (None, 3), "(n, 3)")
    n = jnp.shape(vertices)[0]
    if n < 3:
        raise ValueError(f"vertices must hold at least 3 vertices, got {n}.")
    check_finite(vertices, "vertices")
    check_shape(bone_weights, "bone_weights", (n,), f"(n,) = ({n},)")
    check_finite(bone_weights, "bone_weights")
    if not is_concrete(triangles):
        raise ValueError("triangles must be concrete (not traced): the topology is built in NumPy.")
    tri = check_triangles(triangles, "triangles", n)
    if np.any((tri[:, 0] == tri[:, 1]) | (tri[:, 1] == tri[:, 2]) | (tri[:, 0] == tri[:, 2])):
        raise ValueError("triangles must have three distinct vertex indices per triangle.")
    used = np.zeros(n, bool)
    used[tri.reshape(-1)] = True
    if not used.all():
        raise ValueError(
            f"vertices: {int((~used).sum())} vertices belong to no triangle (first: "
            f"{int(np.nonzero(~used)[0][0])}); every vertex needs a lumped mass."
        )
    if is_concrete(bone_weights):
        w = np.asarray(bone_weights)
        if w.min() < 0.0 or w.max() > 1.0:
            raise ValueError(
                f"bone_weights must lie in [0, 1], got range [{w.min():.3g}, {w.max():.3g}]."
            )
    for field in ("edge_stiffness", "bend_ratio", "anchor_stiffness", "dashpot", "anchor_damping",
                  "biphasic_strain", "biphasic_ratio", "bending_modulus"):  # fmt: skip
        value = getattr(params, field)
        check_shape(value, f"params.{field}", (), "() (a scalar)")
        check_finite(value, f"params.{field}")
        if is_concrete(value) and float(value) < 0.0:
            raise ValueError(f"params.{field} must be >= 0, got {float(value)}.")
    if is_concrete(params.biphasic_ratio) and float(params.biphasic_ratio) < 1.0:
        raise ValueError(f"params.biphasic_ratio must be >= 1, got {float(params.biphasic_ratio)}.")

    edges, pairs, hinges_np = _topology(tri.astype(np.int64))
    springs_np = np.concatenate([edges, pairs]).astype(np.int32)

    x = as_float(vertices)
    dtype = x.dtype
    w = as_float(bone_weights, dtype=dtype)
    p = jax.tree.map(lambda leaf: as_float(leaf, dtype=dtype), params)

    # lumped masses: one third of each triangle's area to each of its vertices
    t = jnp.asarray(tri)
    cross = jnp.cross(x[t[:, 1]] - x[t[:, 0]], x[t[:, 2]] - x[t[:, 0]])
    area = 0.5 * jnp.sqrt(jnp.sum(cross**2, axis=-1))
    lumped = jax.ops.segment_sum(jnp.repeat(area / 3.0, 3), t.reshape(-1), num_segments=n)
    total = jnp.sum(lumped)
    if is_concrete(lumped):
        lumped_np = np.asarray(lumped)
        if not float(total) > 0.0:
            raise ValueError("vertices: the mesh has zero total area.")
        if np.any(lumped_np <= 0.0):
            raise ValueError(
                f"vertices: {int((lumped_np <= 0).sum())} vertices touch only zero-area "
                "triangles and would get zero mass."
            )
    mass = lumped / total

    springs = jnp.asarray(springs_np)
    rest_length = _length(x.T[:, springs[:, 1]] - x.T[:, springs[:, 0]])
    if is_concrete(rest_length) and np.any(np.asarray(rest_length) <= 0.0):
        k = int(np.argmin(np.asarray(rest_length)))
        raise ValueError(
            f"vertices: coincident vertices {springs_np[k, 0]} and {springs_np[k, 1]} are joined "
            "by a spring (zero rest length)."
        )
    hinges = jnp.asarray(hinges_np.astype(np.int32))
    hinge_weights, hinge_area = _hinge_geometry(x, hinges)
    if is_concrete(hinge_weights) and not np.all(np.isfinite(np.asarray(hinge_weights))):
        raise ValueError("vertices: degenerate (zero-area) triangles next to an interior edge.")
    n_edges = edges.shape[0]
    is_edge = jnp.asarray(np.arange(springs_np.shape[0]) < n_edges)
    scale = jnp.where(is_edge, 1.0, p.bend_ratio)
    return SpringMassSystem(
        rest=x,
        mass=mass,
        springs=springs,
        rest_length=rest_length,
        stiffness=p.edge_stiffness * scale,
        damping=p.dashpot * scale,
        anchor_stiffness=p.anchor_stiffness * w * mass,
        anchor_damping=p.anchor_damping * mass,
        biphasic_strain=p.biphasic_strain,
        biphasic_ratio=p.biphasic_ratio,
        hinges=hinges,
        hinge_weights=hinge_weights,
        hinge_stiffness=3.0 * p.bending_modulus / hinge_area,
        n_edges=n_edges,
    )


# ------------------------------------------------------------------------------------------------
# energies and forces


# The hot kernels work component-major: positions as (3, n), spring quantities as (3, s). XLA on
# CPU vectorises an elementwise chain over a long contiguous axis well but not reductions over a
# trailing axis of size 3; this layout makes the force evaluation ~2.4x faster than the
# (s, 3) form at N = 30k (`python -m tools.bench physics`). Inputs and outputs stay (n, 3).


def _length(delta: Array) -> Array:
    """Lengths (s,) of component-major vectors (3, s); the rest lengths use the same expression,
    so the elongation at rest is exactly zero."""
    return jnp.sqrt(delta[0] * delta[0] + delta[1] * delta[1] + delta[2] * delta[2])


def _spring_kernel(system: SpringMassSystem, u: Array):
    """Spring geometry in component-major layout.

    Returns:
        (i, j, delta (3, s) = x_j - x_i, length (s,), elongation (s,), biphasic excess (s,)).
    """
    i, j = system.springs[:, 0], system.springs[:, 1]
    x = (system.rest + u).T
    delta = x[:, j] - x[:, i]
    length = _length(delta)
    elongation = length - system.rest_length
    excess = jax.nn.relu(elongation - system.biphasic_strain * system.rest_length)
    return i, j, delta, length, elongation, excess


def _stretch_rate(system: SpringMassSystem, i: Array, j: Array, delta: Array, v: Array) -> Array:
    """Dashpot force magnitude gamma_s * dl_s/dt times l_s, i.e. ``gamma_s (v_j - v_i) . delta``."""
    vt = v.T
    dv = vt[:, j] - vt[:, i]
    return system.damping * (dv[0] * delta[0] + dv[1] * delta[1] + dv[2] * delta[2])


def _spring_state(system: SpringMassSystem, u: Array):
    """Returns (i, j, direction (s, 3), length (s,), elongation (s,), biphasic excess (s,))."""
    i, j, delta, length, elongation, excess = _spring_kernel(system, u)
    return i, j, (delta / length[None]).T, length, elongation, excess


def _tension(system: SpringMassSystem, elongation: Array, excess: Array) -> Array:
    """Spring tension dE_s/dl (s,): ``k delta + (r - 1) k relu(delta - eps0 L)``."""
    return system.stiffness * (elongation + (system.biphasic_ratio - 1.0) * excess)


def _gather_forces(
    system: SpringMassSystem, i: Array, j: Array, spring: Array | None, hinge: Array | None
) -> Array:
    """Sums per-spring forces (3, s) (+ at i, - at j) and per-hinge-corner forces (3, 4h) to (n, 3)."""
    n = system.n_vertices
    corners = system.hinges.reshape(-1)
    rows = []
    for c in range(3):
        f = 0.0
        if spring is not None:
            f = jax.ops.segment_sum(spring[c], i, num_segments=n) - jax.ops.segment_sum(
                spring[c], j, num_segments=n
            )
        if hinge is not None:
            f = f + jax.ops.segment_sum(hinge[c], corners, num_segments=n)
        rows.append(f)
    return jnp.stack(rows, axis=1)


def elastic_energy(system: SpringMassSystem, u: Float[ArrayLike, "n 3"]) -> Float[Array, ""]:
    r"""Elastic energy of springs and anchors at displacement ``u``.

    .. math::
        E(u) = \sum_s \tfrac12 k_s \delta_s^2 + \tfrac12 (r - 1) k_s\,
        \mathrm{relu}(\delta_s - \varepsilon_0 L_s)^2 + \sum_i \tfrac12 k_i |u_i|^2,

    with ``delta_s = l_s - L_s`` the elongation in the current length ``l_s``. The biphasic term
    stiffens springs in tension above strain ``eps0`` by the ratio ``r``; the energy is C1. The
    hinge bending energy ``sum_e 1/2 (3 D / A_e) |sum_k K_ek u_k|^2`` is added (see the module
    docstring).

    Args:
        system: the skin.
        u: (n, 3) displacement from rest (cm).

    Returns:
        () the energy.
    """
    u = _check_state(system, "u", u)
    _, _, _, _, elongation, excess = _spring_kernel(system, u)
    springs = 0.5 * system.stiffness * (elongation**2 + (system.biphasic_ratio - 1.0) * excess**2)
    anchors = 0.5 * system.anchor_stiffness * jnp.sum(u * u, axis=-1)
    curvature = _hinge_curvature(system, u)
    bending = 0.5 * system.hinge_stiffness * jnp.sum(curvature * curvature, axis=0)
    return jnp.sum(springs) + jnp.sum(anchors) + jnp.sum(bending)


def _hinge_curvature(system: SpringMassSystem, u: Array) -> Array:
    """Change of each hinge's discrete mean-curvature vector, ``sum_k K_ek u_k`` (3, h)."""
    return jnp.einsum("hk,chk->ch", system.hinge_weights, u.T[:, system.hinges])


def _hinge_forces(system: SpringMassSystem, u: Array) -> Array:
    """Hinge bending force on each hinge corner (3, 4h), linear in u."""
    curvature = system.hinge_stiffness[None] * _hinge_curvature(system, u)
    return -(system.hinge_weights[None] * curvature[:, :, None]).reshape(3, -1)


def _elastic_forces(system: SpringMassSystem, u: Array) -> Array:
    """Elastic + anchor force -dE/du (n, 3), written explicitly with segment sums."""
    i, j, delta, length, elongation, excess = _spring_kernel(system, u)
    fs = (_tension(system, elongation, excess) / length)[None] * delta
    anchors = system.anchor_stiffness[:, None] * u
    return _gather_forces(system, i, j, fs, _hinge_forces(system, u)) - anchors


def _damping_forces(system: SpringMassSystem, u: Array, v: Array) -> Array:
    """Voigt dashpot + anchor damping force (n, 3) at state (u, v); linear in v."""
    i, j, delta, length, _, _ = _spring_kernel(system, u)
    fs = (_stretch_rate(system, i, j, delta, v) / (length * length))[None] * delta
    return _gather_forces(system, i, j, fs, None) - system.anchor_damping[:, None] * v


def _energy_gradient(system: SpringMassSystem, u: Array) -> Array:
    """grad E(u) (n, 3), the negative elastic force."""
    return -_elastic_forces(system, u)


def internal_forces(
    system: SpringMassSystem, u: Float[ArrayLike, "n 3"], v: Float[ArrayLike, "n 3"]
) -> Float[Array, "n 3"]:
    r"""Internal skin forces: elastic (``-grad E``) + Voigt dashpots + anchor damping.

    For spring s = (i, j) with unit direction ``n_s = (x_j - x_i) / l_s`` and stretching rate
    ``dl_s/dt = n_s . (v_j - v_i)`` (REFERENCE 7.1),

    .. math::
        f_i \mathrel{+}= (k_s \delta_s + (r-1) k_s\,\mathrm{relu}(\delta_s - \varepsilon_0 L_s)
        + \gamma_s \dot l_s)\, n_s, \qquad f_j \mathrel{-}= (\dots)\, n_s,

    every vertex adds ``-k_i u_i - c_i v_i`` from its anchor, and the hinge bending force
    ``-sum_e (3 D / A_e) K_ek (sum_l K_el u_l)`` is added.

    Args:
        system: the skin.
        u: (n, 3) displacement.
        v: (n, 3) velocity.

    Returns:
        (n, 3) force on each vertex.
    """
    u = _check_state(system, "u", u)
    v = _check_state(system, "v", v)
    i, j, delta, length, elongation, excess = _spring_kernel(system, u)
    inv = 1.0 / length
    magnitude = _tension(system, elongation, excess) + _stretch_rate(system, i, j, delta, v) * inv
    fs = (magnitude * inv)[None] * delta
    anchors = system.anchor_stiffness[:, None] * u + system.anchor_damping[:, None] * v
    return _gather_forces(system, i, j, fs, _hinge_forces(system, u)) - anchors


def muscle_forces(
    distribution: Float[ArrayLike, "n m"],
    directions: Float[ArrayLike, "n m 3"],
    activations: Float[ArrayLike, " m"],
) -> Float[Array, "n 3"]:
    r"""External muscle forces in directed form (seed 001, eq. 1).

    .. math:: f_i = \sum_m a_m\, P[i, m]\, d[i, m]

    Args:
        distribution: (n, m) distribution matrix P.
        directions: (n, m, 3) unit pull direction of muscle m at vertex i.
        activations: (m,) muscle activations a_m (force scale).

    Returns:
        (n, 3) force on each vertex.
    """
    check_shape(distribution, "distribution", (None, None), "(n, m)")
    n, m = jnp.shape(distribution)
    check_shape(directions, "directions", (n, m, 3), f"(n, m, 3) = ({n}, {m}, 3)")
    check_shape(activations, "activations", (m,), f"(m,) = ({m},)")
    p, d, a = as_float(distribution), as_float(directions), as_float(activations)
    # the per-unit-activation force field P[i, m] d[i, m] first: one contraction over m, which XLA
    # turns into a matrix-vector product (and folds to a constant when P and d are)
    return jnp.einsum("nmc,m->nc", p[:, :, None] * d, a)


def distribute_forces(
    distribution: Float[ArrayLike, "n m"], muscle_forces: Float[ArrayLike, "m 3"]
) -> Float[Array, "n 3"]:
    r"""Distributes per-muscle force vectors to the vertices (seed 001, eq. 1): ``F_ext = P F_mus``.

    Args:
        distribution: (n, m) distribution matrix P.
        muscle_forces: (m, 3) force vector of each muscle.

    Returns:
        (n, 3) external force on each vertex.
    """
    check_shape(distribution, "distribution", (None, None), "(n, m)")
    m = jnp.shape(distribution)[1]
    check_shape(muscle_forces, "muscle_forces", (m, 3), f"(m, 3) = ({m}, 3)")
    return as_float(distribution) @ as_float(muscle_forces)


def acceleration(
    system: SpringMassSystem,
    u: Float[ArrayLike, "n 3"],
    v: Float[ArrayLike, "n 3"],
    f_ext: Float[ArrayLike, "n 3"],
) -> Float[Array, "n 3"]:
    r"""Vertex accelerations from Newton's law (seed 001, eq. 2): ``m_i a_i = f_i``.

    Args:
        system: the skin.
        u: (n, 3) displacement.
        v: (n, 3) velocity.
        f_ext: (n, 3) external (muscle) force.

    Returns:
        (n, 3) acceleration ``(internal_forces(u, v) + f_ext) / m``.
    """
    f_ext = _check_state(system, "f_ext", f_ext)
    return (internal_forces(system, u, v) + f_ext) / system.mass[:, None]


def kinetic_energy(system: SpringMassSystem, v: Float[ArrayLike, "n 3"]) -> Float[Array, ""]:
    r"""Kinetic energy ``sum_i 1/2 m_i |v_i|^2``.

    Args:
        system: the skin.
        v: (n, 3) velocity.

    Returns:
        () the energy.
    """
    v = _check_state(system, "v", v)
    return 0.5 * jnp.sum(system.mass * jnp.sum(v * v, axis=-1))


def total_energy(
    system: SpringMassSystem,
    u: Float[ArrayLike, "n 3"],
    v: Float[ArrayLike, "n 3"],
    f_ext: Float[ArrayLike, "n 3"],
) -> Float[Array, ""]:
    r"""Total mechanical energy under a constant external force.

    .. math:: H = E(u) + \tfrac12 \sum_i m_i |v_i|^2 - \sum_i f_i \cdot u_i

    It is conserved by the undamped dynamics (``dashpot = anchor_damping = 0``) while
    ``f_ext`` is held constant.

    Args:
        system: the skin.
        u: (n, 3) displacement.
        v: (n, 3) velocity.
        f_ext: (n, 3) constant external force.

    Returns:
        () the energy.
    """
    u = _check_state(system, "u", u)
    f_ext = _check_state(system, "f_ext", f_ext)
    return elastic_energy(system, u) + kinetic_energy(system, v) - jnp.sum(f_ext * u)


def hessian_vector_product(
    system: SpringMassSystem, u: Float[ArrayLike, "n 3"], w: Float[ArrayLike, "n 3"]
) -> Float[Array, "n 3"]:
    r"""Hessian of the elastic energy at ``u`` applied to ``w``: ``H(u) w``.

    Computed as ``jax.jvp`` of the energy gradient; no n x n matrix is formed.

    Args:
        system: the skin.
        u: (n, 3) displacement at which the Hessian is taken.
        w: (n, 3) direction.

    Returns:
        (n, 3) ``H(u) w``.
    """
    u = _check_state(system, "u", u)
    w = _check_state(system, "w", w)
    return jax.jvp(lambda x: _energy_gradient(system, x), (u,), (w,))[1]


def damping_matvec(system: SpringMassSystem, w: Float[ArrayLike, "n 3"]) -> Float[Array, "n 3"]:
    r"""Damping matrix at rest applied to ``w``: ``C w = -d f_internal / dv |_{u=0} w``.

    The internal force is linear in the velocity, so this is ``-`` (damping force at u = 0,
    v = w): Voigt dashpots along the rest spring directions plus anchor damping.

    Args:
        system: the skin.
        w: (n, 3) velocity-like direction.

    Returns:
        (n, 3) ``C w``.
    """
    w = _check_state(system, "w", w)
    return -_damping_forces(system, jnp.zeros_like(w), w)
