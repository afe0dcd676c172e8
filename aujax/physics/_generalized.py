"""Generalized (blendshape) coordinates: mass, forces, stiffness, damping (seed 001, eqs. 3-4, 9).

A mesh displacement is a linear combination of K blendshapes, ``u = sum_k c_k B_k`` (eq. 3), with
the basis stored as ``basis`` of shape (K, n, 3). ``B(i)`` denotes the 3 x K block of vertex i,
i.e. ``B(i)[:, k] = basis[k, i]``. Every quantity of the full Cartesian model (4.1 in DESIGN) has a
projection onto these coordinates:

* mass ``M = sum_i m_i B(i)^T B(i)`` (K, K);
* force ``Q = sum_i B(i)^T f_i`` (K,);
* stiffness ``K = B^T H B`` and damping ``D = B^T C B`` (K, K), formed from matrix-vector products
  with the full Hessian H and damping matrix C, never from an N x N matrix.

All functions handle one example; batch with ``jax.vmap``.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._checks import as_float, check_finite, is_concrete


__all__ = [
    "directed_force_map",
    "generalized_damping",
    "generalized_force",
    "generalized_mass",
    "generalized_stiffness",
    "muscle_force_maps",
    "project",
    "reconstruct",
]


# ------------------------------------------------------------------------------------------------
# validation helpers


def _check_ndim(name: str, x, ndim: int, what: str) -> None:
    if jnp.ndim(x) != ndim:
        raise ValueError(f"{name} must have shape {what}, got shape {jnp.shape(x)}.")


def _check_basis(basis) -> tuple[int, int]:
    """Checks that ``basis`` is (K, n, 3) and finite; returns (K, n)."""
    shape = jnp.shape(basis)
    if len(shape) != 3 or shape[2] != 3:
        raise ValueError(f"basis must have shape (K, n, 3), got shape {shape}.")
    if shape[0] == 0 or shape[1] == 0:
        raise ValueError(f"basis must have K >= 1 and n >= 1, got shape {shape}.")
    check_finite(basis, "basis")
    return shape[0], shape[1]


# ------------------------------------------------------------------------------------------------
# mass and forces


def generalized_mass(
    basis: Float[ArrayLike, "K n 3"], mass: Float[ArrayLike, " n"]
) -> Float[Array, "K K"]:
    r"""Generalized mass matrix of the blendshape coordinates (seed 001, eq. 4, without the 1/2).

    .. math::

        M = \sum_i m_i B(i)^\top B(i), \qquad
        M_{kl} = \sum_i m_i \langle B_k(i), B_l(i) \rangle.

    The paper writes ``M^B = 1/2 sum_i m_i B(i)^T B(i)``. The kinetic energy of the mesh is
    ``T = 1/2 sum_i m_i |u_i'|^2 = 1/2 c'^T (sum_i m_i B(i)^T B(i)) c'``, and the Euler-Lagrange
    equation ``d/dt dT/dc' = Q`` gives the mass matrix without the 1/2 (DESIGN 4.4). A mass
    regressed by a network absorbs the factor; a mass computed from physics must not carry it,
    otherwise the reduced model accelerates twice as fast as the full one.

    Args:
        basis: (K, n, 3) blendshape basis B.
        mass: (n,) lumped vertex masses m_i > 0.

    Returns:
        (K, K) symmetric matrix; positive definite when the masses are positive and the K
        blendshapes are linearly independent.

    Raises:
        ValueError: on wrong shapes, non-finite values or non-positive masses.
    """
    _, n = _check_basis(basis)
    if jnp.shape(mass) != (n,):
        raise ValueError(f"mass must have shape (n,) = ({n},), got shape {jnp.shape(mass)}.")
    check_finite(mass, "mass")
    if is_concrete(mass) and np.any(np.asarray(mass) <= 0):
        raise ValueError("mass must be strictly positive at every vertex.")
    basis = as_float(basis)
    mass = as_float(mass)
    weighted = basis * mass[None, :, None]
    m = jnp.einsum("kni,lni->kl", weighted, basis)
    return 0.5 * (m + m.T)


def generalized_force(
    basis: Float[ArrayLike, "K n 3"], force: Float[ArrayLike, "n 3"]
) -> Float[Array, " K"]:
    r"""Generalized force of Cartesian vertex forces (seed 001, eq. 4 / eq. 9).

    .. math::

        Q = \sum_i B(i)^\top f_i, \qquad Q_k = \sum_i \langle B_k(i), f_i \rangle.

    Args:
        basis: (K, n, 3) blendshape basis B.
        force: (n, 3) force on every vertex.

    Returns:
        (K,) generalized force Q.

    Raises:
        ValueError: on wrong shapes or non-finite values.
    """
    _, n = _check_basis(basis)
    if jnp.shape(force) != (n, 3):
        raise ValueError(f"force must have shape (n, 3) = ({n}, 3), got shape {jnp.shape(force)}.")
    check_finite(force, "force")
    return jnp.einsum("kni,ni->k", as_float(basis), as_float(force))


def muscle_force_maps(
    basis: Float[ArrayLike, "K n 3"], distribution: Float[ArrayLike, "n m"]
) -> Float[Array, "m K 3"]:
    r"""Per-muscle maps from paper-style 3-vector muscle forces to generalized force (eq. 9).

    With the external force ``f_i = sum_m P[i, m] F_m`` (seed 001, eq. 1),

    .. math::

        Q = \sum_i B(i)^\top \sum_m P_{im} F_m = \sum_m G_m F_m, \qquad
        G_m = \sum_i P_{im} B(i)^\top \in \mathbb{R}^{K \times 3}.

    Use as ``Q = jnp.einsum("mkj,mj->k", G, F)`` for muscle forces F of shape (m, 3).

    Args:
        basis: (K, n, 3) blendshape basis B.
        distribution: (n, m) distribution matrix P (how strongly muscle m acts on vertex i).

    Returns:
        (m, K, 3) stack of the maps G_m.

    Raises:
        ValueError: on wrong shapes or non-finite values.
    """
    _, n = _check_basis(basis)
    _check_ndim("distribution", distribution, 2, f"(n, m) with n = {n}")
    if jnp.shape(distribution)[0] != n:
        raise ValueError(
            f"distribution must have shape (n, m) with n = {n}, got shape "
            f"{jnp.shape(distribution)}."
        )
    check_finite(distribution, "distribution")
    return jnp.einsum("im,kij->mkj", as_float(distribution), as_float(basis))


def directed_force_map(
    basis: Float[ArrayLike, "K n 3"],
    distribution: Float[ArrayLike, "n m"],
    directions: Float[ArrayLike, "n m 3"],
) -> Float[Array, "K m"]:
    r"""Map from scalar (directed) muscle activations to generalized force.

    With ``f_i = sum_m a_m P[i, m] d[i, m]`` (DESIGN 4.1; the per-vertex pull direction replaces the
    single 3-vector of seed 001 eq. 1),

    .. math::

        Q = \sum_i B(i)^\top f_i = g\, a, \qquad
        g_{:, m} = \sum_i P_{im} B(i)^\top d_{im}.

    When ``d[i, m]`` is the same vector ``d_m`` for every vertex, ``g a = sum_m G_m (a_m d_m)``
    with G from :func:`muscle_force_maps`.

    Args:
        basis: (K, n, 3) blendshape basis B.
        distribution: (n, m) distribution matrix P.
        directions: (n, m, 3) pull direction of muscle m at vertex i (unit length by convention;
            not normalised here).

    Returns:
        (K, m) matrix g.

    Raises:
        ValueError: on wrong shapes or non-finite values.
    """
    _, n = _check_basis(basis)
    _check_ndim("distribution", distribution, 2, f"(n, m) with n = {n}")
    n_p, m = jnp.shape(distribution)
    if n_p != n:
        raise ValueError(
            f"distribution must have shape (n, m) with n = {n}, got shape "
            f"{jnp.shape(distribution)}."
        )
    if jnp.shape(directions) != (n, m, 3):
        raise ValueError(
            f"directions must have shape (n, m, 3) = ({n}, {m}, 3), got shape "
            f"{jnp.shape(directions)}."
        )
    check_finite(distribution, "distribution")
    check_finite(directions, "directions")
    pd = as_float(distribution)[:, :, None] * as_float(directions)
    return jnp.einsum("kij,imj->km", as_float(basis), pd)


# ------------------------------------------------------------------------------------------------
# stiffness and damping from matrix-vector products


def _project_operator(name: str, basis, matvec: Callable[[Array], Array]) -> Float[Array, "K K"]:
    """B^T A B from the matvec w -> A w, one column per basis vector (vmapped), symmetrised."""
    k, n = _check_basis(basis)
    if not callable(matvec):
        raise ValueError(f"{name} must be a callable (n, 3) -> (n, 3), got {type(matvec)}.")
    basis = as_float(basis)
    out = jax.eval_shape(matvec, jax.ShapeDtypeStruct((n, 3), basis.dtype))
    if getattr(out, "shape", None) != (n, 3):
        raise ValueError(
            f"{name} must map an (n, 3) = ({n}, 3) array to an (n, 3) array, got output "
            f"{getattr(out, 'shape', out)}."
        )
    applied = jax.vmap(matvec)(basis)  # (K, n, 3): row l is A B_l
    mat = jnp.einsum("kni,lni->kl", basis, applied)  # (B^T A B)[k, l] = B_k . A B_l
    return 0.5 * (mat + mat.T)


def generalized_stiffness(
    basis: Float[ArrayLike, "K n 3"], hvp: Callable[[Array], Array]
) -> Float[Array, "K K"]:
    r"""Generalized stiffness ``K = B^T H B`` from Hessian-vector products (DESIGN 4.2).

    .. math::

        K_{kl} = \langle B_k, H B_l \rangle,

    computed column by column as ``hvp(B_l)`` (vmapped over the K blendshapes), never forming the
    3n x 3n Hessian. The result is symmetrised, ``(K + K^T) / 2``, which removes round-off
    asymmetry (H itself is symmetric). For H positive (semi-)definite, K is too.

    Args:
        basis: (K, n, 3) blendshape basis B.
        hvp: callable ``w (n, 3) -> H w (n, 3)``, the Hessian of the elastic + anchor energy at
            rest applied to a displacement (e.g. ``partial(hessian_vector_product, system, u0)``).
            Must be traceable by ``jax.vmap``.

    Returns:
        (K, K) symmetric generalized stiffness.

    Raises:
        ValueError: on a bad basis or if ``hvp`` does not map (n, 3) to (n, 3).
    """
    return _project_operator("hvp", basis, hvp)


def generalized_damping(
    basis: Float[ArrayLike, "K n 3"], damping_matvec: Callable[[Array], Array]
) -> Float[Array, "K K"]:
    r"""Generalized damping ``D = B^T C B`` from damping-matrix products (DESIGN 4.2).

    .. math::

        D_{kl} = \langle B_k, C B_l \rangle,

    with C the (linearised) damping matrix of the dashpots and anchor dampers, applied column by
    column (vmapped), then symmetrised.

    Args:
        basis: (K, n, 3) blendshape basis B.
        damping_matvec: callable ``w (n, 3) -> C w (n, 3)`` (e.g.
            ``partial(damping_matvec, system)``). Must be traceable by ``jax.vmap``.

    Returns:
        (K, K) symmetric generalized damping.

    Raises:
        ValueError: on a bad basis or if ``damping_matvec`` does not map (n, 3) to (n, 3).
    """
    return _project_operator("damping_matvec", basis, damping_matvec)


# ------------------------------------------------------------------------------------------------
# coordinates <-> displacements


def reconstruct(
    basis: Float[ArrayLike, "K n 3"], coefficients: Float[ArrayLike, " K"]
) -> Float[Array, "n 3"]:
    r"""Mesh displacement from blendshape coefficients (seed 001, eq. 3).

    .. math::

        u = \sum_k c_k B_k.

    Args:
        basis: (K, n, 3) blendshape basis B.
        coefficients: (K,) coefficients c.

    Returns:
        (n, 3) displacement u.

    Raises:
        ValueError: on shape mismatch.
    """
    k, _ = _check_basis(basis)
    if jnp.shape(coefficients) != (k,):
        raise ValueError(
            f"coefficients must have shape (K,) = ({k},), got shape {jnp.shape(coefficients)}."
        )
    return jnp.einsum("k,kni->ni", as_float(coefficients), as_float(basis))


def project(
    basis: Float[ArrayLike, "K n 3"],
    mass: Float[ArrayLike, " n"],
    displacement: Float[ArrayLike, "n 3"],
) -> Float[Array, " K"]:
    r"""Mass-weighted least-squares blendshape coefficients of a displacement.

    .. math::

        c = \arg\min_c \sum_i m_i \lVert u_i - B(i) c \rVert^2
          = M^{-1} \sum_i m_i B(i)^\top u_i,

    with M from :func:`generalized_mass`. This is the M-orthogonal projection onto span(B):
    ``project(basis, mass, reconstruct(basis, c)) == c``.

    Args:
        basis: (K, n, 3) blendshape basis B (linearly independent blendshapes).
        mass: (n,) vertex masses m_i > 0.
        displacement: (n, 3) displacement u.

    Returns:
        (K,) coefficients c.

    Raises:
        ValueError: on wrong shapes, non-finite values or non-positive masses.
    """
    m = generalized_mass(basis, mass)
    _, n = jnp.shape(basis)[:2]
    if jnp.shape(displacement) != (n, 3):
        raise ValueError(
            f"displacement must have shape (n, 3) = ({n}, 3), got shape {jnp.shape(displacement)}."
        )
    rhs = generalized_force(basis, as_float(mass)[:, None] * as_float(displacement))
    factor = jax.scipy.linalg.cho_factor(m, lower=True)
    return jax.scipy.linalg.cho_solve(factor, rhs)
