r"""Static equilibrium of the spring-mass skin: Newton-CG with implicit differentiation.

The equilibrium displacement under a constant external force ``f`` minimises the potential

.. math:: \Pi(u) = E(u) - \sum_i f_i \cdot u_i, \qquad \nabla E(u^*) = f,

with ``E`` the elastic + anchor energy of :func:`aujax.physics._spring_mass.elastic_energy`
(DESIGN 4.1, REFERENCE 7.3). It is found by a truncated Newton method: each step solves
``H(u) p = -grad Pi(u)`` inexactly with preconditioned conjugate gradients (Hessian-vector
products from ``jax.linearize``; block-Jacobi preconditioner from the 3 x 3 diagonal blocks of
the Hessian with compressed springs' geometric terms clamped to zero), stops early on negative
curvature, and is safeguarded by a backtracking line search on ``Pi``. Gradients with respect to
``f`` and to every floating-point array of the system follow from the implicit function theorem
(a ``jax.custom_jvp`` rule): ``du*/dtheta = -H^{-1} d(grad Pi)/dtheta``, one preconditioned CG
solve (lineax) per tangent (forward mode) or cotangent (reverse mode, by transposition).
"""

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import lineax as lx
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from aujax.physics._spring_mass import (
    SpringMassSystem,
    _check_state,
    _energy_gradient,
    _spring_state,
    elastic_energy,
)

from .._checks import check_finite, check_scalar_positive


__all__ = ["EquilibriumResult", "equilibrium", "linear_response"]


class EquilibriumResult(NamedTuple):
    """Result of :func:`equilibrium`.

    Attributes:
        u: (n, 3) equilibrium displacement (differentiable by implicit differentiation).
        residual_norm: () ``||grad E(u) - f|| / ||f||`` (``||grad E(u)||`` when f = 0).
        newton_iterations: () int32 number of Newton steps taken.
        converged: () bool, ``residual_norm <= rtol``.
    """

    u: Float[Array, "n 3"]
    residual_norm: Float[Array, ""]
    newton_iterations: Int[Array, ""]
    converged: Bool[Array, ""]


# ------------------------------------------------------------------------------------------------
# preconditioner and inner solver


def _block_jacobi(system: SpringMassSystem, u: Array) -> Array:
    """Inverses (n, 3, 3) of the 3 x 3 diagonal Hessian blocks at ``u`` (made positive definite).

    Spring s contributes ``k' n n^T + max(t / l, 0) (I - n n^T)`` to both of its vertices, with
    ``k'`` the tangent stiffness and ``t`` the tension: the geometric term of compressed springs
    is dropped so every block is positive semi-definite. Anchors and the hinge bending energy add
    ``k_i I`` and ``sum_e (3 D / A_e) K_ek^2 I``; a tiny multiple of the mean diagonal
    keeps isolated directions invertible.
    """
    n = system.n_vertices
    i, j, direction, length, elongation, excess = _spring_state(system, u)
    tangent = system.stiffness * jnp.where(excess > 0.0, system.biphasic_ratio, 1.0)
    tension = system.stiffness * (elongation + (system.biphasic_ratio - 1.0) * excess)
    geometric = jnp.maximum(tension / length, 0.0)
    outer = direction[:, :, None] * direction[:, None, :]
    eye = jnp.eye(3, dtype=u.dtype)
    blocks = (tangent - geometric)[:, None, None] * outer + geometric[:, None, None] * eye[None]
    diag = jax.ops.segment_sum(blocks, i, num_segments=n) + jax.ops.segment_sum(
        blocks, j, num_segments=n
    )
    hinge = jax.ops.segment_sum(
        (system.hinge_stiffness[:, None] * system.hinge_weights**2).reshape(-1),
        system.hinges.reshape(-1),
        num_segments=n,
    )
    diag = diag + (system.anchor_stiffness + hinge)[:, None, None] * eye[None]
    floor = 1e-8 * jnp.mean(jnp.trace(diag, axis1=1, axis2=2)) / 3.0 + jnp.finfo(u.dtype).tiny
    return jnp.linalg.inv(diag + floor * eye[None])


def _apply_blocks(blocks: Array, r: Array) -> Array:
    return jnp.einsum("nij,nj->ni", blocks, r)


def _vdot(a: Array, b: Array) -> Array:
    return jnp.sum(a * b)


def _truncated_pcg(matvec, b: Array, precond, tol: Array, maxiter: int):
    """Preconditioned CG for ``A x = b`` from x = 0, stopping on ``||r|| <= tol`` or on negative
    curvature (then the current iterate, or the preconditioned ``b`` on the first iteration, is
    returned: a descent direction for ``A x = -grad``). ``precond`` is (n, 3, 3) inverse blocks
    or a callable. Returns ``(x, iterations)``."""
    if not callable(precond):
        blocks = precond
        precond = lambda r: _apply_blocks(blocks, r)
    z = precond(b)

    def cond(state):
        _, r, _, _, _, it, stop = state
        return (it < maxiter) & ~stop & (jnp.sqrt(_vdot(r, r)) > tol)

    def body(state):
        x, r, z, p, rz, it, _ = state
        ap = matvec(p)
        pap = _vdot(p, ap)
        negative = pap <= 0.0
        alpha = rz / jnp.where(negative, 1.0, pap)
        x_new = x + alpha * p
        r_new = r - alpha * ap
        z_new = precond(r_new)
        rz_new = _vdot(r_new, z_new)
        p_new = z_new + (rz_new / rz) * p
        fallback = jnp.where(it == 0, z, x)
        x_out = jnp.where(negative, fallback, x_new)
        state_new = (x_new, r_new, z_new, p_new, rz_new, it + 1, jnp.asarray(False))
        state_neg = (x_out, r, z, p, rz, it + 1, jnp.asarray(True))
        return jax.tree.map(lambda a, c: jnp.where(negative, a, c), state_neg, state_new)

    init = (jnp.zeros_like(b), b, z, z, _vdot(b, z), jnp.int32(0), jnp.asarray(False))
    x, _, _, _, _, it, _ = jax.lax.while_loop(cond, body, init)
    return x, it


# ------------------------------------------------------------------------------------------------
# Newton solve


def _newton(system: SpringMassSystem, f_ext: Array, u0: Array, rtol, max_newton, max_cg):
    """Truncated Newton-CG minimisation of E(u) - f.u from ``u0``. Returns (u, aux)."""
    dtype = u0.dtype
    f_norm = jnp.sqrt(_vdot(f_ext, f_ext))
    denom = jnp.where(f_norm > 0.0, f_norm, 1.0)
    eps = jnp.finfo(dtype).eps

    def potential(u):
        return elastic_energy(system, u) - _vdot(f_ext, u)

    def gradient(u):
        return _energy_gradient(system, u) - f_ext

    def cond(state):
        _, _, _, res, it, stalled = state
        return (res > rtol) & (it < max_newton) & ~stalled

    def body(state):
        u, g, pi, res, it, _ = state
        _, hvp = jax.linearize(lambda x: _energy_gradient(system, x), u)
        g_norm = jnp.sqrt(_vdot(g, g))
        forcing = jnp.minimum(0.5, jnp.sqrt(res))
        tol = jnp.maximum(forcing * g_norm, 0.1 * rtol * denom)
        p, _ = _truncated_pcg(hvp, -g, _block_jacobi(system, u), tol, max_cg)
        slope = _vdot(g, p)
        # steepest descent if the inexact Newton direction is not a descent direction
        p = jnp.where(slope < 0.0, p, -g)
        slope = jnp.where(slope < 0.0, slope, -(g_norm**2))
        slack = 64.0 * eps * (jnp.abs(elastic_energy(system, u)) + jnp.abs(_vdot(f_ext, u)))

        def ls_cond(ls):
            alpha, pi_new = ls
            return (pi_new > pi + 1e-4 * alpha * slope + slack) & (alpha > 1e-10)

        def ls_body(ls):
            alpha = 0.5 * ls[0]
            return alpha, potential(u + alpha * p)

        alpha, pi_new = jax.lax.while_loop(
            ls_cond, ls_body, (jnp.asarray(1.0, dtype), potential(u + p))
        )
        ok = alpha > 1e-10
        u_new = jnp.where(ok, u + alpha * p, u)
        g_new = gradient(u_new)
        res_new = jnp.sqrt(_vdot(g_new, g_new)) / denom
        return u_new, g_new, jnp.where(ok, pi_new, pi), res_new, it + 1, ~ok

    g0 = gradient(u0)
    res0 = jnp.sqrt(_vdot(g0, g0)) / denom
    init = (u0, g0, potential(u0), res0, jnp.int32(0), jnp.asarray(False))
    u, _, _, res, it, _ = jax.lax.while_loop(cond, body, init)
    # iterations as a float: every output of the custom-JVP function gets a float tangent
    return u, (res, it.astype(dtype))


def _rest_preconditioner(system: SpringMassSystem) -> Array:
    return jax.lax.stop_gradient(_block_jacobi(system, jnp.zeros_like(system.rest)))


class _RelativeCG(lx.CG):
    """``lineax.CG`` with the usual stopping rule ``||A x - b||_2 <= rtol ||b||_2``.

    lineax's own rule is elementwise (``|r_i| <= atol + rtol |b_i|`` and the same on the last
    update in x-space), which with ``atol = 0`` never holds where ``b_i = 0`` (most vertices carry
    no force) and with ``atol > 0`` mixes force and displacement units. The scale is computed
    inside the solve, so the solve stays linear in ``b`` for autodiff.
    """

    def compute(self, state, vector, options):
        operator, is_nsd = state
        preconditioner = options.get("preconditioner")
        precond = (lambda r: r) if preconditioner is None else preconditioner.mv
        tol = self.rtol * jnp.sqrt(_vdot(vector, vector))
        x, steps = _truncated_pcg(operator.mv, vector, precond, tol, self.max_steps)
        r = vector - operator.mv(x)
        converged = jnp.sqrt(_vdot(r, r)) <= 10.0 * tol
        result = lx.RESULTS.where(converged, lx.RESULTS.successful, lx.RESULTS.max_steps_reached)
        if is_nsd.value:
            x = -x
        return x, result, {"num_steps": steps, "max_steps": self.max_steps}


def _cg(matvec, b: Array, precond: Array, rtol, max_cg: int) -> Array:
    """Differentiable, transposable preconditioned CG for a symmetric positive definite A.

    Uses ``lineax.linear_solve`` (its own JVP and transpose rules), so it can sit on the tangent
    path of a custom JVP rule and be transposed for reverse mode. (``jax.scipy``'s CG cannot:
    transposing its ``custom_linear_solve`` inside a JVP rule raises ``NotImplementedError`` in
    jax 0.10.) Raises at run time if CG does not reach ``rtol`` within ``max_cg`` steps.
    """
    structure = jax.ShapeDtypeStruct(b.shape, b.dtype)
    tags = (lx.symmetric_tag, lx.positive_semidefinite_tag)
    operator = lx.FunctionLinearOperator(matvec, structure, tags=tags)
    preconditioner = lx.FunctionLinearOperator(
        lambda r: _apply_blocks(precond, r), structure, tags=tags
    )
    solver = _RelativeCG(rtol=rtol, atol=0.0, max_steps=max_cg)
    return lx.linear_solve(operator, b, solver, options={"preconditioner": preconditioner}).value


_TANGENT_CG_FACTOR = 10  # a tangent solve must converge (it raises otherwise): allow more steps


@partial(jax.custom_jvp, nondiff_argnums=(4, 5))
def _solve(system, f_ext, u0, rtol, max_newton, max_cg):
    """Newton solve with an implicit-function-theorem JVP; returns (u, residual, iterations)."""
    u, (res, it) = _newton(system, f_ext, u0, rtol, max_newton, max_cg)
    return u, res, it


@_solve.defjvp
def _solve_jvp(max_newton, max_cg, primals, tangents):
    r"""``grad E(u*; theta) = f``  =>  ``H du = df - d_theta(grad E) dtheta`` (one CG solve).

    The tangent map is linear in (dtheta, df) and built from transposable pieces (``jvp``,
    ``linearize`` and ``jax.scipy`` CG, a ``custom_linear_solve``), so reverse mode follows by
    transposition.
    """
    system, f_ext, u0, rtol = primals
    system_dot, f_dot, _, _ = tangents
    u, res, it = _solve(system, f_ext, u0, rtol, max_newton, max_cg)
    u = jax.lax.stop_gradient(u)
    _, rhs = jax.jvp(lambda s, f: _energy_gradient(s, u) - f, (system, f_ext), (system_dot, f_dot))
    _, hvp = jax.linearize(lambda x: _energy_gradient(system, x), u)
    precond = jax.lax.stop_gradient(_block_jacobi(system, u))
    u_dot = -_cg(hvp, rhs, precond, rtol, _TANGENT_CG_FACTOR * max_cg)
    return (u, res, it), (u_dot, jnp.zeros_like(res), jnp.zeros_like(it))


def _equilibrium(system, f_ext, u0, rtol, max_newton, max_cg):
    u, res, it = _solve(system, f_ext, u0, rtol, max_newton, max_cg)
    res, it = jax.lax.stop_gradient((res, it))
    return EquilibriumResult(u, res, it.astype(jnp.int32), res <= rtol)


_equilibrium_jit = jax.jit(_equilibrium, static_argnames=("max_newton", "max_cg"))


def equilibrium(
    system: SpringMassSystem,
    f_ext: Float[ArrayLike, "n 3"],
    *,
    u0: Float[ArrayLike, "n 3"] | None = None,
    rtol: float = 1e-10,
    max_newton: int = 30,
    max_cg: int = 2000,
) -> EquilibriumResult:
    r"""Static equilibrium under a constant external force (minimum of potential energy).

    .. math:: u^* = \arg\min_u\; E(u) - \sum_i f_i \cdot u_i, \qquad \nabla E(u^*) = f

    Truncated Newton-CG with a block-Jacobi preconditioner and a backtracking line search,
    inside ``lax.while_loop``. Differentiable (reverse and forward mode) with respect to
    ``f_ext`` and the floating-point arrays of ``system`` by implicit differentiation; ``u0``
    only affects the iteration count. Handles one example; vmap for batches.

    Args:
        system: the skin. Its Hessian must be positive definite at the solution (true with
            anchors on every vertex, i.e. positive bone weights).
        f_ext: (n, 3) constant external force.
        u0: (n, 3) initial guess (default: zeros).
        rtol: target relative residual ``||grad E(u) - f|| / ||f||`` (absolute when f = 0).
        max_newton: maximum Newton steps.
        max_cg: maximum CG iterations per (inexact) Newton step; the CG solve of each tangent or
            cotangent (gradients) may take ``10 * max_cg`` and raises at run time if it does not
            converge.

    Returns:
        :class:`EquilibriumResult` ``(u, residual_norm, newton_iterations, converged)``.

    Raises:
        ValueError: on wrong shapes, NaN/inf in ``f_ext`` or ``u0``, or bad solver settings.
    """
    f_ext = _check_state(system, "f_ext", f_ext)
    check_finite(f_ext, "f_ext")
    if u0 is None:
        u0 = jnp.zeros_like(f_ext)
    u0 = _check_state(system, "u0", u0)
    check_finite(u0, "u0")
    if not isinstance(max_newton, int) or max_newton < 0:
        raise ValueError(f"max_newton must be an int >= 0, got {max_newton!r}.")
    if not isinstance(max_cg, int) or max_cg < 1:
        raise ValueError(f"max_cg must be an int >= 1, got {max_cg!r}.")
    check_scalar_positive(rtol, "rtol")
    return _equilibrium_jit(system, f_ext, u0, rtol, max_newton=max_newton, max_cg=max_cg)


def _linear_response(system, f_ext, rtol, max_cg):
    precond = _rest_preconditioner(system)
    zero = jnp.zeros_like(f_ext)
    _, hvp = jax.linearize(lambda x: _energy_gradient(system, x), zero)
    return _cg(hvp, f_ext, precond, rtol, max_cg)


_linear_response_jit = jax.jit(_linear_response, static_argnames=("max_cg",))


def linear_response(
    system: SpringMassSystem,
    f_ext: Float[ArrayLike, "n 3"],
    *,
    rtol: float = 1e-10,
    max_cg: int = 20000,
) -> Float[Array, "n 3"]:
    r"""Linearised static response ``u = H(0)^{-1} f`` (one preconditioned CG solve).

    The small-displacement limit of :func:`equilibrium`, used to scale blendshapes.
    Differentiable with respect to ``f_ext`` and the system's arrays.

    Args:
        system: the skin (its rest Hessian must be positive definite).
        f_ext: (n, 3) external force.
        rtol: relative residual tolerance of CG.
        max_cg: maximum CG iterations (~700 at 5,000 vertices, a few thousand at 30,000).

    Returns:
        (n, 3) displacement.

    Raises:
        ValueError: on wrong shapes or NaN/inf in ``f_ext``.
        EquinoxRuntimeError: at run time if CG does not converge within ``max_cg`` steps.
    """
    f_ext = _check_state(system, "f_ext", f_ext)
    check_finite(f_ext, "f_ext")
    if not isinstance(max_cg, int) or max_cg < 1:
        raise ValueError(f"max_cg must be an int >= 1, got {max_cg!r}.")
    return _linear_response_jit(system, f_ext, rtol, max_cg=max_cg)
