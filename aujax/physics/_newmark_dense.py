r"""Newmark average acceleration on the device: the scheme of :mod:`aujax.physics._implicit` as
one jitted time loop with a dense ``K_eff(0)^{-1}``, batched over sequences on one mesh.

At the data generator's sizes (N ~ 600-1,500 vertices, 1.8k-4.5k dofs) a modified-Newton
correction is one matrix product with the dense inverse (:func:`dense_effective_inverse`), and a
batch of sequences turns the triangular solves of the host integrator into one GEMM
(:func:`newmark_dense`).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike, Float

from ._implicit import (
    ImplicitIntegrator,
    ImplicitStats,
    _check_settings,
    _host_float,
    _newmark_residual,
)
from ._spring_mass import internal_forces


__all__ = ["dense_effective_inverse", "newmark_dense"]


def dense_effective_inverse(integrator: ImplicitIntegrator, *, dtype=np.float64) -> np.ndarray:
    r"""The dense inverse ``K_eff(0)^{-1}`` (3n, 3n) of an integrator's effective stiffness.

    Inverted densely by LAPACK's Cholesky (``potrf`` + ``potri``; K_eff(0) is SPD) and
    symmetrised: ~0.1 s at 2,000 dofs where the sparse factorisation's solve of the identity takes
    ~2 s. At the data generator's sizes (N ~ 600-1,500 vertices, 1.8k-4.5k dofs) a
    modified-Newton correction is then one matrix product, and a batch of sequences on the same
    mesh turns the triangular solves into one GEMM (:func:`newmark_dense`).

    Args:
        integrator: the factorised :class:`ImplicitIntegrator`.
        dtype: dtype of the returned matrix (float32 halves the memory traffic; the residual stays
            float64, so it only changes the contraction of the iteration, not its fixed point).

    Returns:
        (3n, 3n) numpy array.
    """
    from scipy.linalg import lapack

    c, info = lapack.dpotrf(integrator.k_eff.toarray(), lower=True)
    if info == 0:
        inv, info = lapack.dpotri(c, lower=True)
    if info != 0:
        raise ValueError(f"K_eff is not symmetric positive definite (LAPACK info {info}).")
    inv = np.tril(inv) + np.tril(inv, -1).T
    return inv.astype(dtype)


@functools.partial(jax.jit, static_argnames=("substeps", "max_iter", "depth"))
def _newmark_dense(system, k_inv, forces, u0, v0, h, rtol, floor, *, substeps, max_iter, depth):
    """One sequence: ``(us, vs, iterations (T-1, substeps), converged (T-1, substeps))``."""
    n = system.n_vertices
    m = system.mass[:, None]
    dtype = forces.dtype
    slots = jnp.arange(max(depth, 1), dtype=jnp.int32)

    def norm(x):
        return jnp.sqrt(jnp.sum(x * x))

    def anderson(g, x, hist):
        """Anderson type II step (as :class:`_Anderson`) over a ring buffer of ``depth`` slots."""
        dx, dg, x_prev, g_prev, count, pos, have_prev = hist
        new = have_prev.astype(pos.dtype)
        k = pos % depth
        dx = jnp.where(have_prev, dx.at[k].set(x - x_prev), dx)
        dg = jnp.where(have_prev, dg.at[k].set(g - g_prev), dg)
        count = jnp.minimum(count + new, depth)
        pos = pos + new
        valid = ((pos - 1 - slots) % depth) < count  # the last `count` slots written
        w = valid.astype(dtype)
        dgw = dg * w[:, None]
        gram = dgw @ dgw.T
        gram = gram + (1e-12 * jnp.trace(gram) + 1e-300) * jnp.eye(depth, dtype=dtype)
        gram = gram + jnp.diag(1.0 - w)  # unused slots: gamma = 0
        gamma = jnp.linalg.solve(gram, dgw @ g)
        step = g - gamma @ (dx * w[:, None] + dgw)
        return step, (dx, dg, x, g, count, pos, jnp.bool_(True))

    def newmark_step(state, f):
        u_0, v_0, a_0 = state
        f_norm = norm(f)

        def residual(u1):
            return _newmark_residual(system, u1, u_0, v_0, a_0, f, h)

        def converged(r, a1):
            target = jnp.maximum(rtol * jnp.maximum(f_norm, norm(m * a1)), floor)
            return norm(r) <= target

        def cond(it_state):
            it, _, r, _, a1, _, _ = it_state
            return (it < max_iter) & ~converged(r, a1)

        def body(it_state):
            it, u1, r, _, _, r_last, hist = it_state
            r_norm = norm(r)
            g = -(k_inv @ r.reshape(-1).astype(k_inv.dtype)).astype(dtype)
            if depth == 0:
                du = g
            else:
                restart = r_norm > r_last  # the mixing went astray: restart its history
                dx, dg, x_prev, g_prev, count, pos, have_prev = hist
                hist = (dx, dg, x_prev, g_prev, jnp.where(restart, 0, count), pos,
                        have_prev & ~restart)  # fmt: skip
                du, hist = anderson(g, u1.reshape(-1), hist)
            u1 = u1 + du.reshape(n, 3)
            r, v1, a1 = residual(u1)
            return it + 1, u1, r, v1, a1, r_norm, hist

        u1 = u_0 + h * v_0  # predictor: constant velocity (as the host integrator)
        r, v1, a1 = residual(u1)
        zeros = jnp.zeros((max(depth, 1), 3 * n), dtype)
        hist = (zeros, zeros, u1.reshape(-1), u1.reshape(-1), jnp.int32(0), jnp.int32(0),
                jnp.bool_(False))  # fmt: skip
        init = (jnp.int32(0), u1, r, v1, a1, jnp.asarray(jnp.inf, dtype), hist)
        it, u1, r, v1, a1, _, _ = jax.lax.while_loop(cond, body, init)
        return (u1, v1, a1), (it, converged(r, a1))

    def interval(state, fk):
        f, f_prev = fk
        u, v, a = state
        a = a + (f - f_prev) / m  # the acceleration jumps with the force (zero at k = 0)
        (u, v, a), (its, ok) = jax.lax.scan(
            newmark_step, (u, v, a), jnp.broadcast_to(f, (substeps,) + f.shape)
        )
        return (u, v, a), (u, v, its, ok)

    a0 = (internal_forces(system, u0, v0) + forces[0]) / m
    f_prev = jnp.concatenate([forces[:1], forces[:-2]], axis=0)
    _, (us, vs, its, ok) = jax.lax.scan(interval, (u0, v0, a0), (forces[:-1], f_prev))
    us = jnp.concatenate([u0[None], us], axis=0)
    vs = jnp.concatenate([v0[None], vs], axis=0)
    return us, vs, its, ok


def newmark_dense(
    integrator: ImplicitIntegrator,
    k_inv,
    forces: Float[ArrayLike, "*B T n 3"],
    u0: Float[ArrayLike, "*B n 3"] | None = None,
    v0: Float[ArrayLike, "*B n 3"] | None = None,
    *,
    rtol: float = 1e-8,
    max_iter: int = 30,
    return_stats: bool = False,
):
    r"""The integrator's Newmark scheme as one jitted JAX time loop with a dense solve.

    Same equations, frame convention and convergence test as :meth:`ImplicitIntegrator.run`
    (seed 001, eq. 2): average-acceleration Newmark with ``integrator.substeps`` steps per frame,
    each step iterated by modified Newton ``du = -K_eff(0)^{-1} R(u)`` with the integrator's
    Anderson mixing (same depth, same restart rule: the iteration counts equal the host's) until
    ``||R|| <= max(rtol * max(||f_ext||, ||M a_1||), noise_floor)``. The whole sequence is one
    ``lax.scan`` (the Newton loop a ``lax.while_loop``); a leading batch axis of sequences on the
    same mesh is vmapped, so each iteration multiplies ``K_eff^{-1}`` into all the batch's
    residuals at once (one GEMM instead of B triangular solves). A batched sequence's result does
    not depend on the others' values (converged members are frozen), but the rounding of the
    matrix product may depend on the batch size (~1e-16 relative).

    Args:
        integrator: the :class:`ImplicitIntegrator` (system, step, noise floor).
        k_inv: (3n, 3n) dense ``K_eff(0)^{-1}`` (:func:`dense_effective_inverse`).
        forces: (T, n, 3) or (B, T, n, 3) float64 external forces of each frame.
        u0, v0: (n, 3) or (B, n, 3) float64 initial state (default: rest).
        rtol: relative residual tolerance of each step, in (0, 1).
        max_iter: maximum nonlinear iterations per step (>= 1).
        return_stats: also return an :class:`ImplicitStats`.

    Returns:
        ``(us, vs)`` float64 numpy, each shaped like ``forces``; plus the stats if requested.

    Raises:
        ValueError: on bad shapes, dtypes, NaN/inf or settings.
        RuntimeError: if a step does not converge within ``max_iter`` iterations.
    """
    system = integrator.system
    n = integrator.n
    forces = np.asarray(forces)
    batched = forces.ndim == 4
    if forces.ndim not in (3, 4) or forces.shape[-2:] != (n, 3) or forces.shape[-3] < 1:
        raise ValueError(
            f"forces must have shape (T, n, 3) or (B, T, n, 3) with T >= 1 and n = {n}, "
            f"got shape {forces.shape}."
        )
    forces = _host_float("forces", forces)
    lead = forces.shape[:-3]
    k_inv = jnp.asarray(k_inv)
    if k_inv.shape != (3 * n, 3 * n):
        raise ValueError(f"k_inv must have shape ({3 * n}, {3 * n}), got {k_inv.shape}.")
    states = []
    for name, x in (("u0", u0), ("v0", v0)):
        if x is None:
            states.append(np.zeros(lead + (n, 3)))
        elif np.shape(x) != lead + (n, 3):
            raise ValueError(f"{name} must have shape {lead + (n, 3)}, got shape {np.shape(x)}.")
        else:
            states.append(_host_float(name, x))
    _check_settings(rtol=rtol, max_iter=max_iter)
    n_frames = forces.shape[-3]
    if n_frames == 1:
        us, vs = states[0][..., None, :, :], states[1][..., None, :, :]
        its = np.zeros(lead + (0, integrator.substeps), np.int32)
        ok = np.ones(its.shape, bool)
    else:
        run = functools.partial(_newmark_dense, substeps=integrator.substeps,
                                max_iter=int(max_iter), depth=integrator.anderson)  # fmt: skip
        args = (integrator.h, float(rtol), integrator.noise_floor)
        if batched:
            out = jax.vmap(lambda f, u, v: run(system, k_inv, f, u, v, *args))(
                jnp.asarray(forces), jnp.asarray(states[0]), jnp.asarray(states[1])
            )
        else:
            out = run(system, k_inv, jnp.asarray(forces), jnp.asarray(states[0]),
                      jnp.asarray(states[1]), *args)  # fmt: skip
        us, vs, its, ok = (np.asarray(x) for x in out)
    if not np.all(ok):
        where = np.argwhere(~ok)[0]
        seq = f"sequence {where[0]}, " if batched else ""
        k, s = where[-2], where[-1]
        raise RuntimeError(
            f"implicit step did not converge in {seq}frame interval {k} ([{k} dt, {k + 1} dt), "
            f"dt = {integrator.dt:g}), substep {s} of {integrator.substeps} within "
            f"{max_iter} iterations; increase max_iter or substeps."
        )
    if not return_stats:
        return us, vs
    stats = ImplicitStats(
        steps=int(np.prod(its.shape)),
        iterations=int(its.sum()),
        max_iterations=int(its.max(initial=0)),
        linear_iterations=0,
        max_residual=float("nan"),
    )
    return us, vs, stats
