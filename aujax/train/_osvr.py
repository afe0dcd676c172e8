r"""Ordinal support vector regression (OSVR), a linear model solved to a certified optimum.

OSVR (R. Zhao, Q. Gan, S. Wang, Q. Ji, "Facial Expression Intensity Estimation Using Ordinal
Information", CVPR 2016, pp. 3466-3474; reference code ``rort1989/OSVR``) learns
:math:`f(x) = w^\top x + b` from frames with intensity labels *and* from ordinal pairs of frames
whose intensity order is known (in an onset-to-apex segment a later frame is at least as
intense). Seed 002 uses it as one of its two AU-intensity judges (Table 1). The problem solved
here is

.. math::

    \min_{w, b}\; \tfrac12 \|w\|^2 + \tfrac12 (b / s)^2
      + C \sum_{i \in L} v_i\, \ell\big(|y_i - f(x_i)| - \epsilon\big)
      + C_o \sum_{(i, j) \in P} u_{ij}\, \ell\big(\mu - (f(x_j) - f(x_i))\big),

with :math:`\ell(t) = \max(0, t)` (``loss="l1"``: the epsilon-insensitive loss and the pair hinge
of the brief; the CVPR paper's form) or :math:`\max(0, t)^2` (``loss="l2"``: the squared forms, the
default of the reference code), :math:`L` the labelled frames, :math:`P` the ordinal pairs
(:math:`j` more intense than :math:`i`, margin :math:`\mu = 1`), :math:`v, u` optional per-term
weights. The intercept is regularised as liblinear does it (and so
``sklearn.svm.LinearSVR``): the features get a constant extra column :math:`s`
(``intercept_scaling``) whose weight :math:`w_b` is penalised like the others, and
:math:`b = s\,w_b`; a large :math:`s` approaches an unregularised intercept. The intercept cancels
in every pair term, so with no labelled frame :math:`b = 0` and only the order of :math:`f` is
learned. ``fit_intercept=False`` drops :math:`b`.

**Solver.** Every term is a (squared) hinge :math:`\ell(e_k - a_k^\top \tilde w)` of the augmented
weights :math:`\tilde w = (w, w_b)`: a labelled frame gives two rows
(:math:`a = \tilde x_i, e = y_i - \epsilon` and :math:`a = -\tilde x_i, e = -y_i - \epsilon`; at
most one is active, and their sum is the epsilon-insensitive loss), a pair gives
:math:`a = x_j - x_i, e = \mu`. With :math:`U_k = C v_i` or :math:`C_o u_{ij}` this is the QP

.. math::

    \min_{\tilde w, \xi}\; \tfrac12 \|\tilde w\|^2 + \sum_k U_k \xi_k \;[\text{l2: } U_k \xi_k^2]
    \quad \text{s.t.} \quad A \tilde w + \xi - e = s \ge 0,\; \xi \ge 0 \;[\text{l2: } \xi \text{ free}],

with the dual :math:`\max_{0 \le \alpha \le U} e^\top\alpha - \tfrac12\|A^\top\alpha\|^2`
(l2: :math:`\alpha \ge 0` and :math:`-\sum_k \alpha_k^2 / (4 U_k)`), :math:`\tilde w^* = A^\top\alpha^*`.
It is solved by a primal-dual interior-point method with Mehrotra's predictor-corrector (as
Ferris & Munson, "Interior-point methods for massive support vector machines", SIAM J. Optim.
2002, do for linear SVMs): the Newton system of the perturbed KKT conditions is reduced to the
``(d + 1) x (d + 1)`` positive definite system :math:`(I + A^\top \Theta A)\,\Delta\tilde w = r`
(:math:`\Theta` diagonal, positive), one Cholesky factorisation per iteration serving predictor and
corrector, steps at 0.995 of the distance to the boundary. Rows of weight 0 are made inert hinges
(see :func:`_rows`), so every problem of one shape, padded or not, is one compiled program, and
``jax.vmap`` batches AUs. The iteration count does not depend on how ill-conditioned the data are
(10-40 iterations to a relative gap of 1e-10, where coordinate descent, liblinear's solver, needs
thousands of sweeps for a tight tolerance on noisy labels); each costs O(m d^2) for m rows.

**Certificate.** After each iteration the **duality gap** :math:`G = P(\tilde w) - D(\alpha)`
is evaluated at the primal iterate (or at :math:`A^\top\alpha`, whichever is lower) and the dual
iterate clipped to its box; :math:`D(\alpha) \le P^*`, so :math:`G \ge P(\tilde w) - P^*`, and the
solver stops when :math:`G \le \mathrm{tol} \cdot P(\tilde w)`. The primal is 1-strongly convex in
:math:`\tilde w`, so the returned weights are certified whatever the iteration did:
:math:`\|\tilde w - \tilde w^*\|_2 \le \sqrt{2 G}` (with :math:`\tilde w = (w, b / s)`); the bound is
rigorous in exact arithmetic, and in float64 up to rounding far below any tolerance used here
(in float32 the computed gap can round to 0 near the optimum: there it is a convergence test,
not a certificate).
With :math:`C_o = 0` (or no pairs) the problem is exactly
``sklearn.svm.LinearSVR(loss="epsilon_insensitive", C=C, epsilon=epsilon,
intercept_scaling=s)`` (``"squared_epsilon_insensitive"`` for ``l2``).

**Pairs.** :func:`ordinal_pairs_from_segments` builds pairs without any intensity label from known
onset / apex / offset frames; :func:`ordinal_pairs_from_labels` builds them from labelled
sequences (see their docstrings for the exact rule).

Write for one problem; ``jax.vmap`` :func:`fit_osvr` over AUs (pad pair lists with weight-0 pairs
to a common length: a term of weight 0 is inert).
"""

import functools
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from .._checks import check_finite, check_shape, is_concrete


__all__ = [
    "OSVR",
    "fit_osvr",
    "ordinal_pairs_from_labels",
    "ordinal_pairs_from_segments",
]

Loss = Literal["l1", "l2"]


@struct.dataclass
class OSVR:
    r"""A fitted linear (O)SVR, ``f(x) = x @ coef + intercept``, with its optimality certificate.

    Attributes:
        coef: (d,) weights.
        intercept: () intercept ``b`` (0 when fitted without one, or with no labelled frame).
        primal: () the objective at ``(coef, intercept)``.
        gap: () duality gap ``G >= primal - optimum``; ``||w~ - w~*|| <= sqrt(2 G)`` for the
            augmented weights ``w~ = (coef, intercept / intercept_scaling)``.
        iterations: () interior-point iterations run.
        converged: () True when ``gap <= tol * primal`` was reached within ``max_iter``.
    """

    coef: Float[Array, " d"]
    intercept: Float[Array, ""]
    primal: Float[Array, ""]
    gap: Float[Array, ""]
    iterations: Int[Array, ""]
    converged: Bool[Array, ""]

    def predict(self, x: Float[ArrayLike, "*batch d"]) -> Float[Array, "*batch"]:
        """``f(x)`` of one feature vector (d,) or of rows (n, d)."""
        x = jnp.asarray(x)
        if x.shape[-1:] != self.coef.shape[-1:]:
            raise ValueError(
                f"x must have {self.coef.shape[-1]} features in its last axis, got shape {x.shape}."
            )
        return x.astype(self.coef.dtype) @ self.coef + self.intercept


def _check_hyper(name: str, value, *, positive: bool = False) -> None:
    if is_concrete(value):
        v = np.asarray(value)
        if v.shape != () or not np.isfinite(v) or v < 0 or (positive and v == 0):
            what = "> 0" if positive else ">= 0"
            raise ValueError(f"{name} must be a finite scalar {what}, got {value!r}.")


def fit_osvr(
    x: Float[ArrayLike, "n d"],
    y: Float[ArrayLike, " n"] | None = None,
    *,
    pairs: Int[ArrayLike, "p 2"] | None = None,
    label_mask: Bool[ArrayLike, " n"] | None = None,
    c: float = 1.0,
    c_ordinal: float = 1.0,
    epsilon: float = 0.1,
    margin: float = 1.0,
    loss: Loss = "l1",
    fit_intercept: bool = True,
    intercept_scaling: float = 1.0,
    sample_weight: Float[ArrayLike, " n"] | None = None,
    pair_weight: Float[ArrayLike, " p"] | None = None,
    tol: float | None = None,
    max_iter: int = 100,
) -> OSVR:
    r"""Fits a linear OSVR (module docstring) by an interior-point method, to a certified optimum.

    .. math::

        \min_{w, b} \tfrac12 \|w\|^2 + \tfrac12 (b/s)^2
          + C \sum_{i} v_i \ell(|y_i - f(x_i)| - \epsilon)
          + C_o \sum_{(i,j) \in P} u_{ij} \ell(\mu - f(x_j) + f(x_i))

    Args:
        x: (n, d) features (standardise them first: the penalty is on the raw weights).
        y: (n,) intensity labels; None for ordinal pairs only. Entries where ``label_mask`` is
            False are ignored (may be NaN).
        pairs: (p, 2) int row indices ``(i, j)``: frame ``j`` is more intense than frame ``i``
            (:func:`ordinal_pairs_from_labels`, :func:`ordinal_pairs_from_segments`); None: none.
        label_mask: (n,) bool, which frames carry a label (default: all when ``y`` is given).
        c: ``C``, weight of the regression loss (>= 0).
        c_ordinal: ``C_o``, weight of the ordinal loss (>= 0; 0 gives a plain linear SVR).
        epsilon: ``epsilon`` of the epsilon-insensitive loss (>= 0).
        margin: ``mu``, the pair margin (> 0; 1 in OSVR).
        loss: ``"l1"`` (hinge / epsilon-insensitive) or ``"l2"`` (their squares).
        fit_intercept: learn ``b`` (regularised through ``intercept_scaling``, as liblinear).
        intercept_scaling: ``s`` (> 0), the constant extra feature.
        sample_weight: (n,) ``v_i >= 0`` per labelled frame (default ones).
        pair_weight: (p,) ``u_ij >= 0`` per pair (default ones; 0 makes a padding pair inert).
        tol: stop when the duality gap is ``<= tol * primal`` (relative; > 0); None: 1e-10 in
            float64, 1e-5 in float32 (about what its rounding allows).
        max_iter: most interior-point iterations (each one Cholesky factorisation of a
            ``(d + 1) x (d + 1)`` matrix); 10-40 are typical.

    Returns:
        :class:`OSVR` in the dtype of ``x`` (float, or JAX's default float for integers).

    Raises:
        ValueError: malformed shapes, NaN / inf features or labels, pair indices out of range,
            negative weights or hyper-parameters, or an unknown ``loss``.
    """
    if loss not in ("l1", "l2"):
        raise ValueError(f"loss must be 'l1' or 'l2', got {loss!r}.")
    x = jnp.asarray(x)
    if not (jnp.issubdtype(x.dtype, jnp.floating) or jnp.issubdtype(x.dtype, jnp.integer)):
        raise ValueError(f"x must hold real numbers, got dtype {x.dtype}.")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"x must have shape (n, d) with n, d >= 1, got shape {x.shape}.")
    n, _ = x.shape
    dtype = x.dtype
    check_finite(x, "x")
    for name, value in (("c", c), ("c_ordinal", c_ordinal), ("epsilon", epsilon)):
        _check_hyper(name, value)
    if tol is None:
        tol = 1e-10 if dtype == jnp.float64 else 1e-5
    for name, value in (("margin", margin), ("intercept_scaling", intercept_scaling), ("tol", tol)):
        _check_hyper(name, value, positive=True)
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive int, got {max_iter!r}.")

    if y is None:
        if label_mask is not None:
            raise ValueError("label_mask given without y.")
        y = jnp.zeros((n,), dtype)
        label_mask = jnp.zeros((n,), bool)
    else:
        y = jnp.asarray(y)
        check_shape(y, "y", (n,), f"(n,) = ({n},) like x's rows")
        if not (jnp.issubdtype(y.dtype, jnp.floating) or jnp.issubdtype(y.dtype, jnp.integer)):
            raise ValueError(f"y must hold real numbers, got dtype {y.dtype}.")
        y = y.astype(dtype)
        if label_mask is None:
            label_mask = jnp.ones((n,), bool)
        label_mask = jnp.asarray(label_mask)
        check_shape(label_mask, "label_mask", (n,), f"(n,) = ({n},)")
        if label_mask.dtype != jnp.bool_:
            raise ValueError(f"label_mask must be boolean, got dtype {label_mask.dtype}.")
        if is_concrete(y, label_mask) and not np.all(
            np.isfinite(np.asarray(y))[np.asarray(label_mask)]
        ):
            raise ValueError("y contains NaN or inf at labelled frames (label_mask True).")
        y = jnp.where(label_mask, y, 0).astype(dtype)

    sample_weight = _weights(sample_weight, "sample_weight", n, dtype)
    if pairs is None:
        if pair_weight is not None:
            raise ValueError("pair_weight given without pairs.")
        pairs = jnp.zeros((0, 2), jnp.int32)
    pairs = jnp.asarray(pairs)
    if pairs.ndim != 2 or pairs.shape[1] != 2 or not jnp.issubdtype(pairs.dtype, jnp.integer):
        raise ValueError(
            f"pairs must be an int array of shape (p, 2), got shape {pairs.shape}, "
            f"dtype {pairs.dtype}."
        )
    if (
        is_concrete(pairs)
        and pairs.shape[0]
        and (int(jnp.min(pairs)) < 0 or int(jnp.max(pairs)) >= n)
    ):
        raise ValueError(f"pairs must index rows of x, in [0, {n}).")
    pairs = pairs.astype(jnp.int32)
    pair_weight = _weights(pair_weight, "pair_weight", pairs.shape[0], dtype)

    return _solve(
        x, y, label_mask, sample_weight, pairs, pair_weight,
        jnp.asarray(c, dtype), jnp.asarray(c_ordinal, dtype), jnp.asarray(epsilon, dtype),
        jnp.asarray(margin, dtype), jnp.asarray(intercept_scaling, dtype),
        jnp.asarray(fit_intercept, bool), jnp.asarray(tol, dtype), max_iter=max_iter, loss=loss,
    )  # fmt: skip


def _weights(w, name: str, size: int, dtype) -> Array:
    if w is None:
        return jnp.ones((size,), dtype)
    w = jnp.asarray(w)
    check_shape(w, name, (size,), f"({size},)")
    if is_concrete(w) and not np.all(np.asarray(w) >= 0):  # NaN fails too
        raise ValueError(f"{name} must be >= 0 everywhere (no NaN).")
    return w.astype(dtype)


def _rows(x, y, label_mask, sample_weight, pairs, pair_weight, c, c_ordinal, epsilon, margin,
          scaling, fit_intercept):  # fmt: skip
    """The hinge rows ``(A, e, U)`` of the problem: ``sum_k U_k l(e_k - a_k . w~)``.

    Rows of weight 0 (unlabelled frames, padding pairs, ``C = 0``) become ``a = 0, e = -1,
    U = 1``: a hinge that is never active (it adds nothing to the objective and its dual variable
    is 0 at the optimum) but keeps the interior of the dual box non-empty.
    """
    n = x.shape[0]
    dtype = x.dtype
    # the constant column s (0 without an intercept: its weight is then 0, penalty and all)
    column = jnp.where(fit_intercept, scaling, 0).astype(dtype)
    xa = jnp.concatenate([x, jnp.broadcast_to(column, (n, 1))], axis=1)
    a = jnp.concatenate([xa, -xa, xa[pairs[:, 1]] - xa[pairs[:, 0]]], axis=0)
    p = pairs.shape[0]
    e = jnp.concatenate([y - epsilon, -y - epsilon, jnp.broadcast_to(margin, (p,)).astype(dtype)])
    u_lab = c * sample_weight * label_mask.astype(dtype)
    bound = jnp.concatenate([u_lab, u_lab, c_ordinal * pair_weight])
    active = bound > 0
    a = jnp.where(active[:, None], a, 0)
    e = jnp.where(active, e, -1).astype(dtype)
    return a, e, jnp.where(active, bound, 1).astype(dtype)


def _objectives(a, e, bound, w, alpha, *, loss: str):
    """Primal objective at ``w`` and dual objective at ``alpha`` (a lower bound on the optimum)."""
    hinge = jnp.maximum(e - a @ w, 0)
    primal = 0.5 * jnp.dot(w, w) + jnp.sum(bound * (hinge if loss == "l1" else hinge * hinge))
    v = a.T @ alpha
    dual = jnp.dot(e, alpha) - 0.5 * jnp.dot(v, v)
    if loss == "l2":
        dual = dual - jnp.sum(alpha * alpha / (4 * bound))
    return primal, dual


@functools.partial(jax.jit, static_argnames=("max_iter", "loss"))
def _solve(x, y, label_mask, sample_weight, pairs, pair_weight, c, c_ordinal, epsilon, margin,
           scaling, fit_intercept, tol, *, max_iter: int, loss: str):  # fmt: skip
    a, e, bound = _rows(
        x, y, label_mask, sample_weight, pairs, pair_weight, c, c_ordinal, epsilon, margin,
        scaling, fit_intercept,
    )  # fmt: skip
    m, dw = a.shape
    dtype = x.dtype
    eye = jnp.eye(dw, dtype=dtype)
    l1 = loss == "l1"
    n_pairs = 2 * m if l1 else m  # complementarity products

    def max_step(v, dv):
        ratio = jnp.where(dv < 0, -v / jnp.where(dv < 0, dv, -1), jnp.inf)
        return jnp.minimum(1.0, 0.995 * jnp.min(ratio, initial=jnp.inf)).astype(dtype)

    def factor(state):
        # KKT: w = A^T alpha; l1: U - alpha - nu = 0, l2: 2 U xi - alpha = 0;
        # A w + xi - e - s = 0; alpha s = rc1, nu xi = rc2 (l1). Eliminated to
        # (I + A^T Theta A) dw = r, one Cholesky factor for the predictor and the corrector.
        _, xi, alpha, s, nu = state
        theta = 1 / (s / alpha + (xi / nu if l1 else 1 / (2 * bound)))
        return theta, jnp.linalg.cholesky(eye + (a * theta[:, None]).T @ a)

    def newton(state, theta, chol, rc1, rc2):
        w, xi, alpha, s, nu = state
        r1 = w - a.T @ alpha
        r3 = a @ w + xi - e - s
        if l1:
            r2 = bound - alpha - nu
            g = -r3 - (rc2 - xi * r2) / nu + rc1 / alpha
        else:
            r2 = 2 * bound * xi - alpha
            g = -r3 + r2 / (2 * bound) + rc1 / alpha
        dw_ = jax.scipy.linalg.cho_solve((chol, True), -r1 + a.T @ (theta * g))
        d_alpha = theta * (g - a @ dw_)
        d_s = (rc1 - s * d_alpha) / alpha
        if l1:
            d_nu = r2 - d_alpha
            d_xi = (rc2 - xi * r2) / nu + xi / nu * d_alpha
        else:
            d_nu = jnp.zeros_like(nu)
            d_xi = (d_alpha - r2) / (2 * bound)
        return dw_, d_xi, d_alpha, d_s, d_nu

    def steps(state, direction):
        _, xi, alpha, s, nu = state
        _, d_xi, d_alpha, d_s, d_nu = direction
        primal_step = max_step(s, d_s)
        dual_step = max_step(alpha, d_alpha)
        if l1:
            primal_step = jnp.minimum(primal_step, max_step(xi, d_xi))
            dual_step = jnp.minimum(dual_step, max_step(nu, d_nu))
        return primal_step, dual_step

    def gap_of(state):
        w, xi, alpha, s, nu = state
        mu = jnp.dot(alpha, s) + (jnp.dot(nu, xi) if l1 else 0)
        return mu / n_pairs

    def body(carry):
        state, it, best, _ = carry
        w, xi, alpha, s, nu = state
        mu = gap_of(state)
        zeros = jnp.zeros_like(s)
        # predictor (affine scaling)
        theta, chol = factor(state)
        aff = newton(state, theta, chol, -alpha * s, -nu * xi if l1 else zeros)
        tp, td = steps(state, aff)
        mu_aff = (jnp.dot(alpha + td * aff[2], s + tp * aff[3]) + (
            jnp.dot(nu + td * aff[4], xi + tp * aff[1]) if l1 else 0)) / n_pairs  # fmt: skip
        sigma = jnp.clip((mu_aff / mu) ** 3, 0, 1)
        # corrector (Mehrotra)
        rc1 = sigma * mu - alpha * s - aff[2] * aff[3]
        rc2 = sigma * mu - nu * xi - aff[4] * aff[1] if l1 else zeros
        direction = newton(state, theta, chol, rc1, rc2)
        tp, td = steps(state, direction)
        new = (
            w + tp * direction[0],
            xi + tp * direction[1],
            alpha + td * direction[2],
            s + tp * direction[3],
            nu + td * direction[4],
        )
        finite = jnp.all(jnp.asarray([jnp.all(jnp.isfinite(v)) for v in new]))
        new = jax.tree.map(lambda v, o: jnp.where(finite, v, o), new, state)
        # certificate: primal at w (or at A^T alpha, whichever is lower) against dual at alpha
        alpha_box = jnp.clip(new[2], 0, bound if l1 else jnp.inf)
        w_dual = a.T @ alpha_box
        p_w, dual = _objectives(a, e, bound, new[0], alpha_box, loss=loss)
        p_d, _ = _objectives(a, e, bound, w_dual, alpha_box, loss=loss)
        w_best = jnp.where(p_d < p_w, w_dual, new[0])
        primal = jnp.minimum(p_w, p_d)
        gap = jnp.maximum(primal - dual, 0)
        better = gap < best[2]
        best = jax.tree.map(lambda v, o: jnp.where(better, v, o), (w_best, primal, gap), best)
        done = (best[2] <= tol * jnp.abs(best[1])) | ~finite
        return new, it + 1, best, done

    def cond(carry):
        _, it, _, done = carry
        return (it < max_iter) & ~done

    ones = jnp.ones((m,), dtype)
    w0 = jnp.zeros((dw,), dtype)
    alpha0 = 0.5 * bound if l1 else ones
    state = (w0, ones, alpha0, ones, 0.5 * bound if l1 else jnp.zeros((m,), dtype))
    primal0, _ = _objectives(a, e, bound, w0, jnp.zeros((m,), dtype), loss=loss)
    best = (w0, primal0, primal0)  # D(0) = 0: the gap of w = 0 is its primal
    done = primal0 <= 0
    _, iters, (w, primal, gap), _ = jax.lax.while_loop(cond, body, (state, 0, best, done))
    converged = gap <= tol * jnp.abs(primal)
    d = x.shape[1]
    intercept = jnp.where(fit_intercept, w[d] * scaling, 0).astype(dtype)
    return OSVR(coef=w[:d], intercept=intercept, primal=primal, gap=gap, iterations=iters,
                converged=converged)  # fmt: skip


def _check_order_input(name: str, a: np.ndarray, n: int) -> None:
    if a.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) like labels, got shape {a.shape}.")


def _sequence_runs(sequence, n: int) -> list[np.ndarray]:
    """Row indices of each sequence, in row order (rows of one sequence need not be contiguous)."""
    if sequence is None:
        return [np.arange(n)]
    sequence = np.asarray(sequence)
    _check_order_input("sequence", sequence, n)
    _, inverse = np.unique(sequence, return_inverse=True)
    return [np.flatnonzero(inverse == s) for s in range(int(inverse.max()) + 1)] if n else []


def _pairs_in_run(values: np.ndarray, rows: np.ndarray, *, rising: bool, max_gap) -> np.ndarray:
    """Pairs ``(less, more)`` of rows of one monotone run with strictly ordered ``values``."""
    length = values.shape[0]
    out = []
    gaps = range(1, length if max_gap is None else min(length, max_gap + 1))
    for g in gaps:
        i = np.arange(length - g)
        j = i + g
        keep = values[i] < values[j] if rising else values[i] > values[j]
        if rising:
            out.append(np.stack([rows[i[keep]], rows[j[keep]]], axis=1))
        else:
            out.append(np.stack([rows[j[keep]], rows[i[keep]]], axis=1))
    return np.concatenate(out, axis=0) if out else np.zeros((0, 2), np.int64)


def _check_max_gap(max_gap) -> None:
    if max_gap is not None and (
        isinstance(max_gap, bool) or not isinstance(max_gap, int | np.integer) or max_gap < 1
    ):
        raise ValueError(f"max_gap must be a positive int or None, got {max_gap!r}.")


def ordinal_pairs_from_labels(
    labels: ArrayLike,
    *,
    sequence: ArrayLike | None = None,
    label_mask: ArrayLike | None = None,
    max_gap: int | None = None,
) -> np.ndarray:
    """Ordinal pairs of one AU from labelled sequences (host-side NumPy).

    The rule, per sequence (the rows with one ``sequence`` value, taken in row order, which must
    be temporal order; unlabelled rows are dropped first):

    1. split the label trajectory into its **rising runs** (maximal stretches of consecutive
       labelled frames over which the label never decreases: onset-to-apex segments, plateaus
       included) and its **falling runs** (never increases: apex-to-offset); a turning point or
       plateau belongs to both;
    2. in a rising run, every two frames ``i`` before ``j`` with ``label_i < label_j`` give the
       pair ``(i, j)``; in a falling run, ``i`` before ``j`` with ``label_i > label_j`` give
       ``(j, i)`` (the first index is always the less intense frame). Frames of equal label, and
       frames of different runs (a decay and the next episode's onset), are not paired: their
       order is not known from the trajectory alone;
    3. with ``max_gap``, only frames at most ``max_gap`` labelled frames apart are paired (the
       pair count of a run of length L drops from O(L^2) to O(L max_gap)).

    Args:
        labels: (n,) intensities (any ordered values).
        sequence: (n,) sequence ids (any hashable dtype); None: one sequence.
        label_mask: (n,) bool, usable labels (default: all finite labels).
        max_gap: the largest distance, in labelled frames of the sequence, of a pair; None: any.

    Returns:
        (p, 2) int64 rows ``(less intense, more intense)`` of ``labels``' index, sorted.
    """
    y = np.asarray(labels, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError(f"labels must have shape (n,), got shape {y.shape}.")
    n = y.shape[0]
    if label_mask is None:
        mask = np.isfinite(y)
    else:
        mask = np.asarray(label_mask)
        _check_order_input("label_mask", mask, n)
        if mask.dtype != bool:
            raise ValueError(f"label_mask must be boolean, got dtype {mask.dtype}.")
        if not np.all(np.isfinite(y[mask])):
            raise ValueError("labels contain NaN or inf at labelled frames (label_mask True).")
    _check_max_gap(max_gap)
    out = [np.zeros((0, 2), np.int64)]
    for rows in _sequence_runs(sequence, n):
        rows = rows[mask[rows]]
        v = y[rows]
        if rows.shape[0] < 2:
            continue
        step = np.diff(v)
        for rising in (True, False):
            bad = step < 0 if rising else step > 0  # a step that ends a run
            cuts = np.flatnonzero(bad) + 1
            for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, rows.shape[0]], strict=True):
                if hi - lo >= 2:
                    out.append(_pairs_in_run(v[lo:hi], rows[lo:hi], rising=rising, max_gap=max_gap))
    pairs = np.concatenate(out, axis=0).astype(np.int64)
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]


def ordinal_pairs_from_segments(
    segments: ArrayLike, *, n: int | None = None, max_gap: int | None = None
) -> np.ndarray:
    """Ordinal pairs from known onset / apex / offset frames, without any intensity label.

    A segment ``(start, apex, end)`` (row indices, ``start <= apex <= end``, rows in temporal
    order) is an expression episode: intensity rises from ``start`` to ``apex`` and falls from
    ``apex`` to ``end``. Every two rows ``i < j`` in ``[start, apex]`` give ``(i, j)`` (the later
    is more intense) and every two rows ``i < j`` in ``[apex, end]`` give ``(j, i)`` (the earlier
    is more intense): the OSVR reference code's ordinal set (``constructParams.m``), which assumes
    strictly monotone onsets and offsets. ``start == apex`` (or ``apex == end``) leaves out the
    onset (offset).

    Args:
        segments: (S, 3) int ``(start, apex, end)`` per episode.
        n: the number of rows, to check the indices against (optional).
        max_gap: the largest ``j - i`` of a pair; None: any.

    Returns:
        (p, 2) int64 rows ``(less intense, more intense)``, sorted.
    """
    s = np.asarray(segments)
    if s.ndim != 2 or s.shape[1] != 3 or not np.issubdtype(s.dtype, np.integer):
        raise ValueError(
            f"segments must be an int array of shape (S, 3) (start, apex, end), got shape "
            f"{s.shape}, dtype {s.dtype}."
        )
    _check_max_gap(max_gap)
    if s.shape[0] and not np.all((s[:, 0] <= s[:, 1]) & (s[:, 1] <= s[:, 2]) & (s[:, 0] >= 0)):
        raise ValueError("segments must satisfy 0 <= start <= apex <= end in every row.")
    if n is not None and s.shape[0] and s[:, 2].max() >= n:
        raise ValueError(f"segments index rows beyond n = {n}.")
    out = [np.zeros((0, 2), np.int64)]
    for start, apex, end in s:
        rise = np.arange(start, apex + 1)
        fall = np.arange(apex, end + 1)
        out.append(_pairs_in_run(rise.astype(np.float64), rise, rising=True, max_gap=max_gap))
        out.append(_pairs_in_run(-fall.astype(np.float64), fall, rising=False, max_gap=max_gap))
    pairs = np.concatenate(out, axis=0).astype(np.int64)
    pairs = np.unique(pairs, axis=0)
    return pairs
