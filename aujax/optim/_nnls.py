r"""Batched non-negative (box-constrained) least squares: accelerated projected gradient, and an
exact active-set solver for a shared matrix.

The top-down engine (seed 000, eq. 2) reads AU levels off landmark displacements as

.. math::

    a^* = \arg\min_{a \ge 0} \Big\| p - \bar p - \sum_k a_k b_k \Big\|_2 ,

one small problem (204 rows, 17 columns) per video frame, thousands of frames sharing the same
basis. :func:`nnls` solves the general form

.. math::

    \min_x \tfrac12 \|A x - b\|_2^2 + \tfrac12 \rho \|x\|_2^2
    \quad \text{s.t.} \quad 0 \le x_j \le u_j \;\; (j \notin \text{free}),

with one of two solvers (``method=``):

* ``"apg"`` (default; every case: per-problem A, upper bounds, free variables, warm starts, any
  conditioning), described below;
* ``"active_set"``: exact **block principal pivoting** (Kim & Park 2011; with upper bounds the
  three-set variant of Júdice & Pires 1994, per problem) (free variables, ridge, upper bounds and
  warm starts are supported), in :mod:`aujax.optim._active_set`: a few
  17 x 17 face solves per problem (mean 3.6 on the benchmark) instead of ~100 gradient
  iterations, and the exact solution (objective gaps ~1e-15 against SciPy). A shared 2-D ``A``
  runs a chunked batch-minor solver; per-problem matrices (a 3-D ``A``, or one problem under the
  caller's ``jax.vmap``, e.g. the top-down engine's per-frame Gauss-Newton systems) run one
  LAPACK Cholesky face solve per problem and pivot (a relative ridge of 100 eps on the face).
  Problems it leaves unsolved after ``max_pivots`` pivots go to the projected gradient,
  warm-started; ``"auto"`` picks it. Upper bounds always take the per-problem path.

``"apg"`` works on the Gram form ``G = A^T A + rho I``, ``h = A^T b`` (each iteration is an n x n
matvec, batched over right-hand sides as one matmul), with

* **Jacobi scaling** ``x = D y``, ``D = diag(G)^{-1/2}``: a diagonal change of variables keeps the
  box a box, gives the scaled Gram ``D G D`` a unit diagonal, and cuts the iteration count of the
  landmark AU basis by ~3x (``python -m tools.bench nnls``);
* **FISTA** (Beck & Teboulle 2009) with step ``1/L``, ``L`` the largest eigenvalue of the scaled
  Gram by power iteration (once per call when A is shared), and the **adaptive gradient restart**
  of O'Donoghue & Candes (2015): the momentum is reset whenever
  ``(y_k - x_{k+1}) . (x_{k+1} - x_k) > 0``. The gradient at the extrapolated point is the same
  extrapolation of gradients, so an iteration costs one matvec;
* a stop on the **projected-gradient (KKT) residual**, per problem (see :class:`NNLSResult` for its
  scaling); a problem that has converged is frozen and reports its own iteration count;
* a **work queue**: ``slots`` problems iterate together, the batch on the minor axis so that every
  array of the loop stays in cache; every ``block`` iterations, once an eighth of the slots have
  finished, their results are written out and the slots are refilled with the next problems. The
  loop thus runs about ``sum(iterations) / slots`` iterations rather than the slowest problem's
  count for everyone (iteration counts are long-tailed: median 89, max 447 on the benchmark),
  which made it ~2.5x faster than fixed chunks on this CPU.

A batch that fits in the slots (e.g. one problem under ``jax.vmap``) runs a plain loop. Everything
is jitted, runs in the dtype of the inputs (float32 or float64), works under ``jax.vmap`` (a
vmapped loop runs until every mapped problem has converged) and is forward-mode differentiable
(``jax.jvp`` through the loop gives the derivative of the solution on its active face; reverse mode
does not go through ``lax.while_loop``).

Speed (``python -m tools.bench nnls``, the landmark AU basis, cond(A) ~100, a shared A, against a
Python loop over ``scipy.optimize.nnls`` timed in the same run, on the 2-core CPU of this project
while other jobs shared it, so the ratios move by ~2-3x between runs): ``method="active_set"`` is
exact (gaps <= 6e-16 float64, <= 5e-6 float32, every frame converged, mean 3.6 pivots, max 26);
with the face solve of :mod:`aujax.optim._active_set` computing each entry once (issue 3) it was
~2x faster than before in both dtypes (process CPU time, old and new in the same run), i.e.
7-10x (float64) and 11-16x (float32) faster than SciPy under load (the quiet-machine figures
before the change were 8.5x and 14.7x). ``"apg"`` is several times slower than the exact path.
The 50x goal is not reached. Where the time goes (exact path): ~3.6 masked face solves per
problem (``F_0 = {x_unc > 0}`` is the optimal face for only ~1% of the frames), each an unrolled
17 x 17 Cholesky whose ~190 fused entry kernels XLA's CPU code runs at ~1 GFLOP/s (~1.5-2.5 us per
problem and pivot, float32 ~0.6x float64); the passes and compaction add little. The two matmuls
(``A^T b`` and the residual) alone would allow ~85-130x. What was measured and dropped is listed
in :mod:`aujax.optim._active_set`.
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from .._checks import check_finite, is_concrete
from . import _active_set


__all__ = ["METHODS", "NNLSResult", "default_tolerance", "lipschitz_constant", "nnls"]

METHODS = ("apg", "active_set", "auto")
"""The solvers of :func:`nnls`: accelerated projected gradient, exact block principal pivoting
(shared A, no upper bounds), or the latter where it applies and the former otherwise."""


@struct.dataclass
class NNLSResult:
    """Solutions of a batch of (box-constrained) least-squares problems; ``...`` is the batch.

    Attributes:
        x: (..., n) the solutions.
        iterations: (...) int32, accelerated projected-gradient iterations each problem took
            (0 when the starting point already satisfied the stopping test); for
            ``method="active_set"`` the face solves (pivots), plus the projected-gradient
            iterations of a problem handed to the fallback.
        residual: (...) ``||A x - b||_2`` (the ridge term is not included).
        kkt_residual: (...) relative projected-gradient (KKT) residual at ``x``. With ``g = G x - h``
            the gradient, ``D = diag(G)^{-1/2}`` the Jacobi scaling (``D_jj = 1`` for an all-zero
            column) and ``Pi`` the projection onto the box, it is
            ``||D^{-1} (x - Pi(x - D^2 g))||_2 / s``: the natural residual ``y - Pi(y - grad_y)`` in
            the scaled variables ``y = D^{-1} x``. It vanishes exactly at a KKT point (``g_j >= 0``
            where ``x_j = 0``, ``g_j <= 0`` where ``x_j = upper_j``, ``g_j = 0`` in between and for
            free variables) and does not change when a column of A is rescaled. The scale is
            ``s = max(||D h||, r_0)``: ``||D h||`` is the scaled gradient norm at ``x = 0`` and
            ``r_0`` the numerator at the starting point, which is at most ``||D h||`` from a cold
            start (so ``r_0`` only matters for a warm start worse than zero, or for ``b = 0``).
        converged: (...) bool, ``kkt_residual <= tol`` reached within ``max_iter`` iterations; for
            ``method="active_set"``: the pivoting terminated (``x_F >= -tol s``, ``g_C >= -tol s``
            in the Jacobi-scaled variables, ``s = ||D h||``), or the fallback converged.
    """

    x: Float[Array, "... n"]
    iterations: Int[Array, "..."]
    residual: Float[Array, "..."]
    kkt_residual: Float[Array, "..."]
    converged: Bool[Array, "..."]


def default_tolerance(dtype) -> float:
    """The default KKT tolerance of :func:`nnls`: 1e-10 in float64, 1e-5 in float32 or lower."""
    return 1e-10 if jnp.finfo(dtype).bits >= 64 else 1e-5


# ------------------------------------------------------------------------------------------------
# validation

_NOT_FINITE = "{name} must be finite, got NaN or inf entries"


def _dtype_of(x):
    dtype = getattr(x, "dtype", None)
    return np.dtype(dtype) if dtype is not None else np.asarray(x).dtype


def _float_dtype(*dtypes):
    """The working dtype: the promoted input dtype if floating (as JAX stores it), else float."""
    dt = functools.reduce(jnp.promote_types, dtypes)
    if not jnp.issubdtype(dt, jnp.floating):
        dt = jnp.float64
    return np.dtype(jax.dtypes.canonicalize_dtype(dt))


# ------------------------------------------------------------------------------------------------
# Lipschitz constant


def _power_lipschitz(gram: Float[Array, "n n"], iterations: int) -> Float[Array, ""]:
    """Safe upper estimate of the largest eigenvalue of a symmetric PSD matrix.

    Power iteration from a fixed, generic start vector gives the Rayleigh quotient ``rho`` and
    the residual ``r = ||G v - rho v||``; the estimate ``max(1.01 rho, rho + r)`` is capped by the
    (always valid) Gershgorin bound.
    """
    n = gram.shape[-1]
    dtype = gram.dtype
    j = jnp.arange(n, dtype=dtype)
    v = 1.0 + 0.5 * jnp.sin(1.0 + 2.3 * j)  # generic: not orthogonal to any eigenvector in practice
    v = v / jnp.linalg.norm(v)

    def body(_, v):
        w = gram @ v
        nw = jnp.linalg.norm(w)
        return jnp.where(nw > 0, w / jnp.where(nw > 0, nw, 1.0), v)

    v = jax.lax.fori_loop(0, iterations, body, v)
    gv = gram @ v
    rho = v @ gv
    r = jnp.linalg.norm(gv - rho * v)
    gersh = jnp.max(jnp.sum(jnp.abs(gram), axis=-1))
    return jnp.minimum(jnp.maximum(1.01 * rho, rho + r), gersh)


@functools.partial(jax.jit, static_argnames=("iterations",))
def _lipschitz_jit(a, iterations):
    return _power_lipschitz(a.T @ a, iterations)


def lipschitz_constant(A: Float[ArrayLike, "m n"], *, iterations: int = 50) -> Float[Array, ""]:
    """Largest eigenvalue of ``A^T A`` (the Lipschitz constant of the least-squares gradient).

    Power iteration on the n x n Gram matrix, bounded safely from above: the result is
    ``max(1.01 rho, rho + ||G v - rho v||)`` with ``rho`` the Rayleigh quotient after
    ``iterations`` steps, capped by the Gershgorin bound ``max_i sum_j |G_ij|``.

    Args:
        A: (m, n) matrix; (B, m, n) gives (B,) constants.
        iterations: power iterations (static).

    Returns:
        () the upper estimate of ``lambda_max(A^T A)`` in A's dtype ((B,) for a 3-D A).
    """
    if not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"iterations must be an int >= 1, got {iterations!r}")
    a = jnp.asarray(A)
    if a.ndim not in (2, 3):
        raise ValueError(f"A must be 2-D (m, n) or 3-D (B, m, n), got shape {a.shape}")
    check_finite(a, "A", message=_NOT_FINITE)
    a = a.astype(_float_dtype(a.dtype))
    if a.ndim == 3:
        return jax.vmap(lambda x: _lipschitz_jit(x, iterations))(a)
    return _lipschitz_jit(a, iterations)


# ------------------------------------------------------------------------------------------------
# the solver (batch-last layout inside: x is (n, C))


def _matvec(gram, x):
    """G x for a shared (n, n) Gram or per-problem (n, n, C) Grams; x is (n, C)."""
    if gram.ndim == 2:
        return gram @ x
    return jnp.einsum("ijc,jc->ic", gram, x)


def _natural_residual(p, x, g):
    """Norm over axis 0 of the Jacobi-scaled natural residual (see :class:`NNLSResult`)."""
    lo, hi = p["lo"], p["hi"]
    if "weight" not in p:
        return jnp.linalg.norm(x - jnp.clip(x - g, lo, hi), axis=0)
    w = p["weight"]  # z = w x, grad_z = g / w, bounds w lo, w hi
    return jnp.linalg.norm(w * (x - jnp.clip(x - g / (w * w), lo, hi)), axis=0)


def _start(p, y0, tol):
    """Iterate state of freshly loaded problems (batch last)."""
    x = jnp.clip(y0, p["lo"], p["hi"])
    g = _matvec(p["gram"], x) - p["h"]
    r0 = _natural_residual(p, x, g)
    h = p["h"] if "weight" not in p else p["h"] / p["weight"]
    scale = jnp.maximum(jnp.maximum(jnp.linalg.norm(h, axis=0), r0), jnp.finfo(x.dtype).tiny)
    kkt = r0 / scale
    one = jnp.ones_like(kkt)
    its = jnp.zeros(kkt.shape, jnp.int32)
    return dict(x=x, x_prev=x, g=g, g_prev=g, t=one, its=its, kkt=kkt, conv=kkt <= tol, scale=scale)


def _fista_step(p, s, tol, max_iter):
    """One FISTA iteration with adaptive gradient restart on every slot (batch last).

    Finished problems (converged, or at the iteration cap) are left unchanged.
    """
    x, x_prev, g, g_prev, t = s["x"], s["x_prev"], s["g"], s["g_prev"], s["t"]
    t_next = 0.5 * (1.0 + jnp.sqrt(1.0 + 4.0 * t * t))
    beta = ((t - 1.0) / t_next)[None]
    y = x + beta * (x - x_prev)
    gy = g + beta * (g - g_prev)  # the gradient is affine in x: no extra matvec
    x_new = jnp.clip(y - p["step"] * gy, p["lo"], p["hi"])
    g_new = _matvec(p["gram"], x_new) - p["h"]
    restart = jnp.sum((y - x_new) * (x_new - x), axis=0) > 0
    kkt_new = _natural_residual(p, x_new, g_new) / s["scale"]
    active = ~s["conv"] & (s["its"] < max_iter)
    keep = ~active[None]
    reset = restart[None]
    return dict(
        x=jnp.where(keep, x, x_new),
        # after a restart the next extrapolation is zero: x_prev = x
        x_prev=jnp.where(keep, x_prev, jnp.where(reset, x_new, x)),
        g=jnp.where(keep, g, g_new),
        g_prev=jnp.where(keep, g_prev, jnp.where(reset, g_new, g)),
        t=jnp.where(active & ~restart, t_next, jnp.where(active, jnp.ones_like(t), t)),
        its=s["its"] + active.astype(jnp.int32),
        kkt=jnp.where(active, kkt_new, s["kkt"]),
        conv=s["conv"] | (active & (kkt_new <= tol)),
        scale=s["scale"],
    )


def _select(mask, old, new):
    """Per-slot choice between two pytrees whose leaves have the slot axis last."""
    return jax.tree.map(
        lambda o, n: jnp.where(mask.reshape((1,) * (o.ndim - 1) + mask.shape), n, o), old, new
    )


def _solve_queue(data, shared, tol, *, max_iter, slots, block):
    """FISTA over a batch of scaled problems with a work queue of ``slots`` problems at a time.

    ``slots`` problems iterate together (the batch is the minor axis, so every array of the loop
    stays in cache); every ``block`` iterations, once enough of them have finished, their results
    are written out and their slots refilled from the queue. The loop therefore does about
    ``sum(iterations) / slots`` iterations instead of ``max(iterations)`` per chunk.

    Args:
        data: per-problem arrays, batch first: ``h`` (B, n) scaled ``D A^T b``, ``y0`` (B, n)
            scaled starting points, and optionally ``lo``/``hi``/``weight`` (B, n), ``gram``
            (B, n, n), ``step`` (B,).
        shared: the same keys for data shared by all problems: ``lo``/``hi``/``weight`` (n,),
            ``gram`` (n, n), ``step`` ().
        tol: () KKT tolerance.
        max_iter, slots, block: static sizes.

    Returns:
        (x (B, n) scaled solutions, iterations (B,), kkt (B,), converged (B,)).
    """
    batch, n = data["h"].shape
    dtype = data["h"].dtype
    size = min(slots, batch)
    threshold = max(1, size // 8)
    fixed = {k: (v[:, None] if v.ndim == 1 else v) for k, v in shared.items()}  # batch-last form

    def load(idx):
        p = {}
        for k, v in data.items():
            if k == "y0":
                continue
            v = jnp.moveaxis(v[idx], 0, -1)
            p[k] = v[None] if k == "step" else v
        y0 = jnp.moveaxis(data["y0"][idx], 0, -1)
        return p, _start({**fixed, **p}, y0, tol)

    def finished(s, empty):
        return (s["conv"] | (s["its"] >= max_iter)) & ~empty

    def write(out, s, idx, mask):
        w = jnp.where(mask, idx, batch)  # out of range: dropped
        return dict(
            x=out["x"].at[w].set(s["x"].T, mode="drop"),
            its=out["its"].at[w].set(s["its"], mode="drop"),
            kkt=out["kkt"].at[w].set(s["kkt"], mode="drop"),
            conv=out["conv"].at[w].set(s["conv"], mode="drop"),
        )

    def refill(carry):
        p, s, idx, empty, nxt, out = carry
        done = finished(s, empty)
        out = write(out, s, idx, done)
        new = nxt + jnp.cumsum(done, dtype=jnp.int32) - 1
        take = done & (new < batch)
        p_new, s_new = load(jnp.where(take, new, 0))
        p = _select(take, p, p_new)
        s = _select(take, s, s_new)
        idx = jnp.where(take, new, idx)
        empty = empty | (done & ~take)
        nxt = jnp.minimum(nxt + jnp.sum(done, dtype=jnp.int32), batch)
        return p, s, idx, empty, nxt, out

    def cond(carry):
        _, s, _, empty, nxt, _ = carry
        return (nxt < batch) | ~jnp.all(empty | s["conv"] | (s["its"] >= max_iter))

    def body(carry):
        p, s, idx, empty, nxt, out = carry
        full = {**fixed, **p}
        s = jax.lax.fori_loop(0, block, lambda _, s: _fista_step(full, s, tol, max_iter), s)
        carry = (p, s, idx, empty, nxt, out)
        n_done = jnp.sum(finished(s, empty), dtype=jnp.int32)
        return jax.lax.cond((nxt < batch) & (n_done >= threshold), refill, lambda c: c, carry)

    idx = jnp.arange(size, dtype=jnp.int32)
    p, s = load(idx)
    if size == batch:  # everything fits in the slots: a plain loop, no queue
        full = {**fixed, **p}
        s = jax.lax.while_loop(
            lambda s: ~jnp.all(s["conv"] | (s["its"] >= max_iter)),
            lambda s: _fista_step(full, s, tol, max_iter),
            s,
        )
        return s["x"].T, s["its"], s["kkt"], s["conv"]
    out = dict(
        x=jnp.zeros((batch, n), dtype),
        its=jnp.zeros((batch,), jnp.int32),
        kkt=jnp.zeros((batch,), dtype),
        conv=jnp.zeros((batch,), bool),
    )
    empty = jnp.zeros((size,), bool)
    carry = (p, s, idx, empty, jnp.asarray(size, jnp.int32), out)
    p, s, idx, empty, _, out = jax.lax.while_loop(cond, body, carry)
    out = write(out, s, idx, ~empty)
    return out["x"], out["its"], out["kkt"], out["conv"]


@functools.partial(
    jax.jit,
    static_argnames=(
        "batch_shape", "dtype", "max_iter", "jacobi", "slots", "block", "power_iterations",
        "method", "max_pivots", "chunk", "fallback_apg",
    ),
)  # fmt: skip
def _nnls_jit(a, b, upper, free, x0, ridge, lipschitz, tol, *, batch_shape, dtype, max_iter,
              jacobi, slots, block, power_iterations, method, max_pivots, chunk,
              fallback_apg):  # fmt: skip
    """Core of :func:`nnls` on validated inputs (casts and reshapes happen here, under jit).

    a: (m, n) or (B, m, n); b: batch_shape + (m,); upper: None, (n,) or batch_shape + (n,); free:
    None or (n,) bool; x0: None, (n,) or batch_shape + (n,); ridge: (); lipschitz: () or None
    (shared A only); tol: ().
    """
    m, n = a.shape[-2:]
    batch = math.prod(batch_shape)
    a = jnp.asarray(a).astype(dtype)
    b = jnp.asarray(b).astype(dtype).reshape(batch, m)
    bounded_above = upper is not None
    if upper is None:
        upper = jnp.full((n,), jnp.inf, dtype)
    else:
        upper = jnp.asarray(upper).astype(dtype)
        upper = upper if upper.shape == (n,) else upper.reshape(batch, n)
    free = jnp.zeros((n,), bool) if free is None else jnp.asarray(free)
    if x0 is not None:
        x0 = jnp.broadcast_to(jnp.asarray(x0).astype(dtype).reshape(-1, n), (batch, n))
    ridge = jnp.asarray(ridge).astype(dtype)
    tol = jnp.asarray(tol).astype(dtype)
    if lipschitz is not None:
        lipschitz = jnp.asarray(lipschitz).astype(dtype)
    shared_a = a.ndim == 2
    eye = jnp.eye(n, dtype=dtype)
    tiny = jnp.finfo(dtype).tiny
    if shared_a:
        gram = a.T @ a + ridge * eye
        h = b @ a  # (B, n)
        diag = jnp.diagonal(gram)
    else:
        gram = jnp.einsum("bmi,bmj->bij", a, a) + ridge * eye[None]
        h = jnp.einsum("bm,bmn->bn", b, a)
        diag = jnp.diagonal(gram, axis1=-2, axis2=-1)  # (B, n)
    # the Jacobi scaling always measures the KKT residual, and scales the iteration if `jacobi`
    d_kkt = jnp.where(diag > 0, jax.lax.rsqrt(jnp.where(diag > 0, diag, 1.0)), 1.0)
    d = d_kkt if jacobi else jnp.ones_like(diag)
    if shared_a:
        gram_s = gram * d[:, None] * d[None, :]
        if lipschitz is None:
            lip = _power_lipschitz(gram_s, power_iterations)
        elif jacobi:  # lambda_max(D G D) <= lambda_max(G) max_j d_j^2; Gershgorin is also safe
            gersh = jnp.max(jnp.sum(jnp.abs(gram_s), axis=-1))
            lip = jnp.minimum(lipschitz * jnp.max(d * d), gersh)
        else:
            lip = lipschitz
    else:
        gram_s = gram * d[:, :, None] * d[:, None, :]
        # per problem: the Gershgorin bound (no iteration; within ~1.5x of lambda_max for
        # unit-diagonal Grams)
        lip = jnp.max(jnp.sum(jnp.abs(gram_s), axis=-1), axis=-1)
    step = (1.0 / jnp.maximum(lip, tiny)).astype(dtype)
    inf = jnp.asarray(jnp.inf, dtype)
    lo = jnp.where(free, -inf, jnp.zeros((), dtype))  # (n,)
    hi = jnp.where(free[None] if upper.ndim == 2 else free, inf, upper)  # (n,) or (B, n)
    d_b = jnp.broadcast_to(d, (batch, n))
    d_kkt_b = jnp.broadcast_to(d_kkt, (batch, n))

    if method == "active_set":
        gram_k = gram * d_kkt[..., :, None] * d_kkt[..., None, :]  # (n, n) or (B, n, n)
        h_k = h * d_kkt_b
        hi_k = jnp.broadcast_to(jnp.where(free, inf, upper), (batch, n)) / d_kkt_b
        u0 = None
        if x0 is not None:
            f0 = x0 > 0
            if bounded_above:
                u0 = x0 >= jnp.broadcast_to(upper, (batch, n))
                f0 = f0 & ~u0
        elif shared_a:  # F_0 from the unconstrained solution (one pseudo-inverse, shared)
            f0 = (h_k @ jnp.linalg.pinv(gram_k, hermitian=True)) > 0
        else:  # F_0 = everything: the first face solve is the unconstrained solution
            f0 = jnp.ones((batch, n), bool)
        if shared_a and batch > 1 and not bounded_above:
            y_k, piv, opt = _active_set.bpp_solve(
                gram_k, h_k, f0, free, tol, max_pivots=max_pivots, chunk=chunk
            )
        else:  # per-problem Grams, upper bounds, or one problem (e.g. under the caller's vmap)
            single = functools.partial(
                _active_set.bpp_single, free=free, tol=tol, max_pivots=max_pivots
            )
            if bounded_above:
                u0 = jnp.zeros((batch, n), bool) if u0 is None else u0
                in_axes = (None if shared_a else 0, 0, 0, 0, 0)
                y_k, piv, opt = jax.vmap(
                    lambda g_, h_, f_, hi_, u_: single(g_, h_, f_, upper=hi_, u0=u_),
                    in_axes=in_axes,
                )(gram_k, h_k, f0, hi_k, u0)
            else:
                in_axes = (None, 0, 0) if shared_a else (0, 0, 0)
                y_k, piv, opt = jax.vmap(single, in_axes=in_axes)(gram_k, h_k, f0)
        lo_k = jnp.where(free, -jnp.inf, 0.0).astype(dtype)
        if shared_a:
            g_k = y_k @ gram_k - h_k
        else:
            g_k = jnp.einsum("bij,bj->bi", gram_k, y_k) - h_k
        num = jnp.linalg.norm(y_k - jnp.clip(y_k - g_k, lo_k[None], hi_k), axis=-1)
        s_k = jnp.maximum(jnp.linalg.norm(h_k, axis=-1), tiny)
        as_out = (y_k, piv, opt, num / s_k)
    # everything in the scaled variables y = x / d; shared (n,) where possible, else (B, n)
    data = {"h": h * d_b, "y0": jnp.zeros((batch, n), dtype) if x0 is None else x0 / d_b}
    shared = {}
    for name, value in (("lo", lo), ("hi", hi)):
        if shared_a and value.ndim == 1:
            shared[name] = value / d
        else:
            data[name] = (value if value.ndim == 2 else value[None]) / d_b
    if shared_a:
        shared["gram"], shared["step"] = gram_s, step
    else:
        data["gram"], data["step"] = gram_s, step
    if not jacobi:  # KKT weight e = d / d_kkt with d = 1
        if shared_a:
            shared["weight"] = 1.0 / d_kkt
        else:
            data["weight"] = 1.0 / d_kkt

    def apg(data):
        return _solve_queue(data, shared, tol, max_iter=max_iter, slots=slots, block=block)

    if method == "apg":
        y, its, kkt, conv = apg(data)
    else:  # exact block principal pivoting; APG (warm-started) for what it leaves unsolved
        y_as, piv, opt, kkt_as = as_out
        y_as = y_as * (d_kkt_b / d_b)  # into the APG variables

        def fallback(_):
            y_f, its_f, kkt_f, conv_f = apg({**data, "y0": y_as})
            return (
                jnp.where(opt[:, None], y_as, y_f),
                jnp.where(opt, piv, piv + its_f),
                jnp.where(opt, kkt_as, kkt_f),
                opt | conv_f,
            )

        if fallback_apg:
            y, its, kkt, conv = jax.lax.cond(
                jnp.all(opt), lambda _: (y_as, piv, kkt_as, opt), fallback, None
            )
        else:  # the caller takes the last face solution of an unfinished problem as it is
            y, its, kkt, conv = y_as, piv, kkt_as, opt
    x = jnp.clip(y * d_b, lo[None], hi if hi.ndim == 2 else hi[None])
    if shared_a:
        res = x @ a.T - b
    else:
        res = jnp.einsum("bmn,bn->bm", a, x) - b
    residual = jnp.linalg.norm(res, axis=-1)
    out = NNLSResult(x=x, iterations=its, residual=residual, kkt_residual=kkt, converged=conv)
    return jax.tree.map(lambda v: v.reshape(batch_shape + v.shape[1:]), out)


def nnls(
    A: Float[ArrayLike, "m n"] | Float[ArrayLike, "B m n"],
    b: Float[ArrayLike, "... m"],
    *,
    upper: Float[ArrayLike, "... n"] | None = None,
    ridge: float | Float[ArrayLike, ""] = 0.0,
    free: Bool[ArrayLike, " n"] | None = None,
    x0: Float[ArrayLike, "... n"] | None = None,
    lipschitz: float | Float[ArrayLike, ""] | None = None,
    tol: float | None = None,
    max_iter: int = 1000,
    jacobi: bool = True,
    slots: int = 256,
    block: int = 2,
    power_iterations: int = 50,
    method: str = "apg",
    max_pivots: int = 50,
    chunk: int | None = None,
    fallback: bool = True,
) -> NNLSResult:
    r"""Batched non-negative least squares (seed 000, eq. 2): projected gradient or active set.

    Solves, for every right-hand side,

    .. math::

        \min_x \tfrac12 \|A x - b\|_2^2 + \tfrac12\,\mathrm{ridge}\,\|x\|_2^2
        \quad\text{s.t.}\quad 0 \le x_j \le \mathrm{upper}_j \;\; (j \notin \mathrm{free}),

    which for ``A = [b_1 ... b_K]`` (landmark AU basis) and ``b = p - pbar`` is the AU-level fit of
    seed 000, eq. 2: ``a* = argmin_{a >= 0} ||p - pbar - sum_k a_k b_k||``. The algorithm (FISTA with
    adaptive restart on the Jacobi-scaled Gram form, stopped on the KKT residual) is described in
    the module docstring.

    Shapes: a shared ``A`` (m, n) with ``b`` (m,) or (..., m) (any leading batch dims), or
    per-problem ``A`` (B, m, n) with ``b`` (B, m). Results have the batch shape of ``b``'s leading
    dims. One problem under ``jax.vmap`` works too.

    Args:
        A: (m, n) shared matrix, or (B, m, n) one matrix per problem.
        b: (..., m) right-hand sides ((B, m) for a 3-D ``A``).
        upper: optional (n,) or (..., n) upper bounds (``inf`` = none; must be >= 0).
        ridge: Tikhonov weight ``>= 0``; it applies to every variable, free ones included.
        free: optional (n,) bool, True for variables without bounds (their ``upper`` is ignored).
        x0: optional (n,) or (..., n) warm start, projected onto the feasible set.
        lipschitz: optional precomputed upper bound on ``lambda_max(A^T A + ridge I)`` for a shared
            ``A`` (e.g. ``lipschitz_constant(A) + ridge``), so that many calls with one ``A``
            skip the power iteration. With Jacobi scaling the step then uses the safe bound
            ``min(lipschitz * max_j 1/G_jj, Gershgorin(D G D))`` (~1.5x above the power iteration on
            ``D G D`` that runs when it is None, i.e. ~20% more iterations). Ignored for a 3-D ``A``, whose
            per-problem constants are Gershgorin bounds of the scaled Grams.
        tol: KKT tolerance on ``kkt_residual`` (see :class:`NNLSResult`); default
            :func:`default_tolerance` of the dtype (1e-10 for float64, 1e-5 for float32).
        max_iter: iteration cap per problem (static).
        jacobi: scale the variables by ``diag(G)^{-1/2}`` (static; on by default, see the module
            docstring).
        slots: problems iterated at once by the work queue (static; see the module docstring).
        block: iterations between two checks for finished problems (static).
        power_iterations: power iterations for the Lipschitz constant of a shared ``A`` (static).
        method: ``"apg"`` (accelerated projected gradient, every case), ``"active_set"`` (exact
            block principal pivoting, box-constrained with ``upper``; ``tol`` is then the sign
            tolerance of the pivoting's feasibility test, relative to ``||D A^T b||``, and the
            Lipschitz/Jacobi/queue options only concern the fallback) or ``"auto"``
            (``"active_set"``). A shared ``A`` with a batch of right-hand sides and no ``upper``
            runs the batch-minor chunked solver (:func:`~aujax.optim._active_set.bpp_solve`);
            a 3-D ``A``, upper bounds, or a single problem (e.g. one frame under the caller's
            ``jax.vmap``) runs :func:`~aujax.optim._active_set.bpp_single` per problem. The
            default stays ``"apg"`` so that existing callers keep their iteration semantics; the
            module docstring compares the two (static).
        max_pivots: face solves per problem for ``"active_set"`` before the problem is handed to
            the projected gradient, warm-started from its last face solution (static).
        chunk: problems per face solve for ``"active_set"`` with a shared ``A`` (static); None:
            256 in float64, 512 in float32, so that the ~150 factor entries of a chunk (~300 KB)
            stay in L2 (the fastest on this CPU: in the same run float64 chunk 128 took ~1.2-1.6x
            and 512 ~1.2x the time of 256; float32 256 ~1.3x and 1024 ~1.5x that of 512).
        fallback: for ``"active_set"``, hand the problems left unsolved after ``max_pivots``
            pivots to the projected gradient (static; default True). False returns their last
            face solution, clipped, with ``converged=False``: under the caller's ``jax.vmap`` the
            fallback's branch would otherwise run for every problem (a vmapped ``cond`` runs both
            branches), with its Lipschitz power iteration.

    Iteration counts grow like ``sqrt(cond(D G D))``: at the default float64 tolerance the landmark
    AU basis (cond(A) ~100) takes a median of ~160 and at most ~1000 iterations, while cond(A) ~1e3
    to 1e4 can need a few thousand (raise ``max_iter``; ``converged`` tells). Forward-mode
    derivatives (``jax.jvp``) go through the loop; reverse mode does not.

    Returns:
        :class:`NNLSResult` with ``x`` (..., n) and per-problem ``iterations``, ``residual``,
        ``kkt_residual`` and ``converged``. The dtype follows the inputs (float32 or float64).

    Raises:
        ValueError: for wrong shapes (naming the argument), a negative ``ridge``, negative or NaN
            ``upper``, a non-boolean ``free``, non-finite ``A``/``b``/``x0`` (checked when the
            inputs are concrete), an unknown ``method``, ``method="active_set"`` with ``upper``, or
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    for name, v, low in (("max_iter", max_iter, 1), ("slots", slots, 1), ("block", block, 1),
                         ("power_iterations", power_iterations, 1), ("max_pivots", max_pivots, 1),
                         ("chunk", 1 if chunk is None else chunk, 1)):  # fmt: skip
        if not isinstance(v, int) or isinstance(v, bool) or v < low:
            raise ValueError(f"{name} must be an int >= {low}, got {v!r}")
    if not isinstance(jacobi, bool):
        raise ValueError(f"jacobi must be a bool, got {jacobi!r}")
    a_shape, b_shape = np.shape(A), np.shape(b)
    if len(a_shape) not in (2, 3):
        raise ValueError(f"A must be 2-D (m, n) or 3-D (B, m, n), got shape {a_shape}")
    m, n = a_shape[-2:]
    if n == 0 or m == 0:
        raise ValueError(f"A must have at least one row and one column, got shape {a_shape}")
    if len(a_shape) == 2:
        if len(b_shape) < 1 or b_shape[-1] != m:
            raise ValueError(
                f"b must have shape (..., {m}) for A of shape {a_shape}, got {b_shape}"
            )
        batch_shape = tuple(b_shape[:-1])
    else:
        if tuple(b_shape) != (a_shape[0], m):
            raise ValueError(
                f"b must have shape ({a_shape[0]}, {m}) for a per-problem A of shape {a_shape}, "
                f"got {b_shape}"
            )
        batch_shape = tuple(b_shape[:1])
    if math.prod(batch_shape) == 0:
        raise ValueError(f"b must hold at least one right-hand side, got shape {b_shape}")
    dtype = _float_dtype(_dtype_of(A), _dtype_of(b))
    check_finite(A, "A", message=_NOT_FINITE)
    check_finite(b, "b", message=_NOT_FINITE)

    def check_per_variable(name, v):
        shape = np.shape(v)
        if shape != (n,) and shape != batch_shape + (n,):
            raise ValueError(
                f"{name} must have shape ({n},) or {batch_shape + (n,)} (b's batch shape + (n,)), "
                f"got {shape}"
            )

    if upper is not None:
        check_per_variable("upper", upper)
        if is_concrete(upper):
            u_np = np.asarray(upper, dtype=np.float64)
            if np.any(np.isnan(u_np)):
                raise ValueError("upper must not contain NaN")
            if np.any(u_np < 0):
                raise ValueError(f"upper must be >= 0 (0 <= x <= upper), got min {u_np.min()}")
    if free is not None:
        if np.shape(free) != (n,):
            raise ValueError(f"free must have shape ({n},), got {np.shape(free)}")
        if _dtype_of(free) != np.bool_:
            raise ValueError(f"free must be a boolean array, got dtype {_dtype_of(free)}")
    if x0 is not None:
        check_per_variable("x0", x0)
        check_finite(x0, "x0", message=_NOT_FINITE)
    if len(a_shape) == 3:
        lipschitz = None  # ignored: per-problem constants come from the scaled Grams
    for name, v, strict in (("ridge", ridge, False), ("tol", tol, True),
                            ("lipschitz", lipschitz, True)):  # fmt: skip
        if v is None:
            continue
        if np.shape(v) != ():
            raise ValueError(f"{name} must be a scalar, got shape {np.shape(v)}")
        if is_concrete(v):
            val = float(np.asarray(v))
            if not (val > 0.0 if strict else val >= 0.0):
                raise ValueError(f"{name} must be {'>' if strict else '>='} 0, got {val}")
    if tol is None:
        tol = default_tolerance(dtype)
    if not isinstance(fallback, bool):
        raise ValueError(f"fallback must be a bool, got {fallback!r}")
    if method == "auto":
        method = "active_set"
    if chunk is None:  # ~300 KB of factor entries: in L2 (measured best on this CPU)
        chunk = 256 if np.dtype(dtype).itemsize >= 8 else 512
    return _nnls_jit(A, b, upper, free, x0, ridge, lipschitz, tol, batch_shape=batch_shape,
                     dtype=dtype, max_iter=max_iter, jacobi=jacobi, slots=slots, block=block,
                     power_iterations=power_iterations, method=method, max_pivots=max_pivots,
                     chunk=chunk, fallback_apg=fallback)  # fmt: skip
