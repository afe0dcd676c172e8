r"""Non-negative least squares with implicit gradients through its KKT conditions.

:func:`nnls_implicit` returns the solution of

.. math::

    x^*(A, b, \rho) = \arg\min_x \tfrac12 \|A x - b\|^2 + \tfrac12 \rho \|x\|^2
    \quad \text{s.t.} \quad 0 \le x_j \le u_j \;\; (j \notin \text{free})

(solved by :func:`aujax.optim.nnls`, exact block principal pivoting by default) and differentiates
it by the implicit function theorem instead of through the solver's iterations. Let F be the set
of variables strictly inside their bounds (free ones included); the others sit on a bound and,
under strict complementarity, stay there for small perturbations. On F the KKT conditions are the
normal equations ``A_F^T (A x - b) + rho x_F = 0``; differentiating them gives, for a cotangent
``xbar``, with ``w`` zero off F and ``(A_F^T A_F + rho I) w_F = xbar_F``:

.. math::

    \bar b = A w, \qquad \bar A = r w^T - (A w) x^T \;\; (r = b - A x), \qquad
    \bar\rho = -w^T x.

The bounds ``u`` and the free mask are constants. Where strict complementarity fails (a variable
on its bound with a zero multiplier) the solution map has a kink and this is one of its one-sided
derivatives. Cost of the backward pass: one (n, n) solve per right-hand side.
"""

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float

from ._nnls import nnls


__all__ = ["nnls_implicit"]


def nnls_implicit(
    A: Float[ArrayLike, "m n"],
    b: Float[ArrayLike, "... m"],
    *,
    ridge: float | Float[ArrayLike, ""] = 0.0,
    free: Bool[ArrayLike, " n"] | None = None,
    upper: Float[ArrayLike, " n"] | None = None,
    method: str = "active_set",
    **options,
) -> Float[Array, "... n"]:
    """The (box-)constrained least-squares solution, differentiable in ``A``, ``b`` and ``ridge``.

    Args:
        A: (m, n) matrix shared by the right-hand sides.
        b: (..., m) right-hand sides.
        ridge: Tikhonov weight >= 0 (applies to every variable).
        free: optional (n,) bool, variables without bounds.
        upper: optional (n,) upper bounds (``inf`` = none); a constant for the gradient.
        method: :func:`aujax.optim.nnls`'s method (default the exact ``"active_set"``).
        **options: further keyword arguments of :func:`aujax.optim.nnls` (``max_pivots``, ...).

    Returns:
        (..., n) the solutions (module docstring for the gradient).
    """
    A = jnp.asarray(A)
    b = jnp.asarray(b)
    if A.ndim != 2 or b.shape[-1:] != A.shape[:1]:
        raise ValueError(f"A must be (m, n) and b (..., m); got A {A.shape}, b {b.shape}.")
    n = A.shape[1]
    dtype = jnp.result_type(A.dtype, b.dtype)
    # free and upper enter as arguments (zero cotangents), not closed over: under an outer jit
    # they are tracers, which a custom_vjp's backward pass must not capture
    free_f = jnp.zeros((n,), dtype) if free is None else jnp.asarray(free, bool).astype(dtype)
    hi = jnp.full((n,), jnp.inf, dtype) if upper is None else jnp.asarray(upper, dtype)
    bounded = upper is not None

    def solve(a, rhs, rho, free_, hi_):
        # one problem per right-hand side under vmap (the per-problem pivoting): the batch-minor
        # shared-A solver compiles for minutes at n ~ 100 variables (measured 530 s at n = 95)
        def one(r):
            return nnls(a, r, ridge=rho, free=free_ > 0.5, upper=hi_ if bounded else None,
                        method=method, **options).x  # fmt: skip

        flat = rhs.reshape(-1, rhs.shape[-1])
        return jax.vmap(one)(flat).reshape(*rhs.shape[:-1], n)

    @jax.custom_vjp
    def solution(a, rhs, rho, free_, hi_):
        return solve(a, rhs, rho, free_, hi_)

    def forward(a, rhs, rho, free_, hi_):
        x = solve(a, rhs, rho, free_, hi_)
        return x, (a, rhs, rho, x, free_, hi_)

    def backward(res, xbar):
        a, rhs, rho, x, free_, hi_ = res
        xs, xbars = x.reshape(-1, n), xbar.reshape(-1, n)
        rhss = rhs.reshape(-1, rhs.shape[-1])
        inside = (free_[None, :] > 0.5) | ((xs > 0) & (xs < hi_[None, :]))  # (B, n)
        gram = a.T @ a + rho * jnp.eye(n, dtype=a.dtype)

        def one(inside_k, xbar_k):
            f = inside_k.astype(a.dtype)
            masked = f[:, None] * gram * f[None, :] + jnp.diag(1.0 - f)
            return jnp.linalg.solve(masked, f * xbar_k)

        w = jax.vmap(one)(inside, xbars)  # (B, n)
        aw = w @ a.T  # (B, m)
        r = rhss - xs @ a.T
        abar = r.T @ w - aw.T @ xs
        rhobar = jnp.asarray(-jnp.sum(w * xs), dtype=jnp.result_type(rho))
        return abar, aw.reshape(rhs.shape), rhobar, jnp.zeros_like(free_), jnp.zeros_like(hi_)

    solution.defvjp(forward, backward)
    return solution(A.astype(dtype), b.astype(dtype), jnp.asarray(ridge, dtype), free_f, hi)
