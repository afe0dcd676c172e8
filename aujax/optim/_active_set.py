r"""Exact batched NNLS for a shared matrix: block principal pivoting on the Gram form.

The active-set counterpart of the accelerated projected gradient of :mod:`aujax.optim._nnls`
(selected there by ``nnls(..., method="active_set")``). For the Jacobi-scaled Gram form
``G = D (A^T A + rho I) D``, ``h = D A^T b`` (``D = diag(A^T A + rho I)^{-1/2}``) every problem
is solved by **block principal pivoting** (Kim & Park 2011, "Fast nonnegative matrix factorization:
an active-set-like method and comparisons", SIAM J. Sci. Comput. 33(6), Algorithm 2 with the
"full exchange" rule, its backup counter ``alpha = 3`` and the single-exchange fallback on the
largest infeasible index): for a passive set ``F``

* solve the face system ``G_FF x_F = h_F`` (``x_C = 0``) and form the gradient ``y = G x - h``;
* the pair is optimal when ``x_F >= 0`` and ``y_C >= 0`` (the KKT conditions: ``y_F = 0`` holds by
  construction); otherwise the infeasible indices ``V = {j in F: x_j < 0} u {j in C: y_j < 0}``
  are exchanged between ``F`` and ``C``. Exchanging all of ``V`` ("full exchange") is tried while
  ``|V|`` keeps decreasing; after three non-decreasing steps only the largest index of ``V`` is
  exchanged, which is Murty's finite rule, so the method terminates in exact arithmetic.

The first passive set is ``F_0 = {x_unc > 0}`` with ``x_unc = G^+ h`` the unconstrained solution
(one more GEMM with the pseudo-inverse, computed once for the shared matrix), or ``{x0 > 0}`` for a
warm start. Free (unconstrained) variables are always in ``F`` and never exchanged.

**The face solve.** Each pivot solves ``M x = h * f`` with ``M = G * (f f^T) + diag(1 - f)``
(``f`` the 0/1 indicator of ``F``) by a Cholesky factorisation written out entry by entry: every
entry of ``L`` is a ``(C,)`` array over a chunk of ``C`` problems (batch on the minor axis), so the
whole factorisation and both substitutions are elementwise array code that XLA fuses, instead of a
per-matrix LAPACK loop (batched ``cho_factor``/``cho_solve`` on (10000, 17, 17) was ~4x slower on
this CPU). A variable outside ``F`` gets the pivot root ``inf``, which zeroes its column of ``L``
and its component of ``x`` (``t / inf = 0``). A pivot below ``100 eps`` (the Gram has unit
diagonal) means that the column is (numerically) in the span of the earlier columns of the face
(rank-deficient ``A``, duplicate columns): the variable is *dropped* the same way (``x_j = 0``),
which leaves the face's minimum unchanged, and its gradient ``y_j`` vanishes. A dropped variable
whose gradient is nevertheless negative beyond the tolerance counts as infeasible.

Every entry (of ``L``, ``z = L^{-1} h`` and ``x``) ends on a **division** by its pivot root. XLA
counts a division as expensive and materialises such an entry once; an entry that ended on a
multiplication (by an inverse root) or a ``where`` was instead fused into each of its consumers and
re-computed there, so that each of the n output entries of ``x`` re-ran both substitutions: the
compiled kernel had ~3x the essential arithmetic (1,770 against 585 multiply/subtract/divide
instructions for n = 10, 575 essential), and changing to divisions made the whole solver ~2x
faster and ~1.4x faster to compile (same run, process CPU time). Cost now: ~n^3/3 + 2 n^2
~ 2,200 flops per problem and pivot for n = 17, ~2.5 us per problem (process CPU time; up to ~6 us
of wall time on the loaded machine): XLA runs each of the ~190 fused entry kernels on ``(C,)``
arrays at ~1 GFLOP/s, so the per-kernel cost, not the arithmetic, dominates. The chunk (default
256 in float64, 512 in float32) keeps the ~150 entry arrays of a chunk in L2.

**Passes and compaction.** The solver runs in passes: each pass gathers the problems that are not
finished to the front of the batch (a prefix sum), and runs one pivot on them in chunks of
``chunk`` problems (a ``lax.while_loop`` over only as many chunks as needed). A pass costs what its
unfinished problems cost, so the total work is the sum of pivot counts rather than the maximum.

**Measured and dropped** (issue 3's 50x goal; landmark AU basis, 10,000 frames): the optimal
passive sets barely repeat (9,001 distinct among 10,000 frames, 7,265 distinct starting sets), so
factoring each distinct set once saves nothing; a start from k projected-gradient iterations cuts
the mean pivot count from 3.6 only to 3.4 (k = 5), 2.8 (k = 10) and 2.0 (k = 20) (a NumPy
simulation of this pivoting), while an iteration costs ~0.2-0.25 of a pivot (the bench's ns per
problem-iteration against ns per pivot), so k = 20 costs more than it saves; the same
factorisation on stacked ``(n - j, C)`` column arrays (fewer, larger kernels) was ~2x slower;
``lax.optimization_barrier`` does not stop the re-computation (XLA's CPU pipeline removes it
before fusion); LAPACK ``potrf`` through ``jax.lax.linalg.cholesky`` costs ~1.6 us per 8 x 8
matrix, so a face reordered to its passive variables would not gain from it; a float32 pre-solve
for float64 (pivot in float32, then one float64 face solve) would save ~10% at best by the measured
float32/float64 ratio (~0.6).
Estimated, not built: principal pivoting by the sweep operator (an O(n^2) update of
``[G h; h^T 0]`` per exchanged variable, from the shared ``G^{-1}``) would need ~12 updates per
problem, ~11.7k flops against ~8k for 3.6 Cholesky pivots: ~31 ms for 10,000 problems even at
5 GFLOP/s, i.e. ~22x.

Problems that have not terminated after ``max_pivots`` pivots are reported as not converged; the
caller (:func:`aujax.optim.nnls`) hands them to the projected-gradient solver, warm-started.
"""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int


__all__ = ["bpp_single", "bpp_solve", "masked_cholesky_solve"]


def masked_cholesky_solve(
    gram: Float[Array, "n n"],
    f: Bool[Array, "n C"],
    h: Float[Array, "n C"],
    *,
    pivot_tol: float,
) -> tuple[Float[Array, "n C"], Bool[Array, "n C"]]:
    """Solves ``G_FF x_F = h_F``, ``x_C = 0`` for a chunk of passive sets (batch on the minor axis).

    The Cholesky factorisation ``M = L L^T`` of ``M = G * (f f^T) + diag(1 - f)`` and the two
    triangular substitutions are unrolled over the n x n entries; each entry is a ``(C,)`` array.
    Variables outside ``F``, and variables whose pivot is ``<= pivot_tol * G_jj`` (linearly
    dependent on the earlier variables of ``F``), get the pivot root ``inf``: their column of ``L``
    and their component of ``x`` are zero. Every entry ends on a division by its pivot root, so
    that XLA computes it once (see the module docstring).

    Args:
        gram: (n, n) symmetric positive semi-definite matrix, shared by the chunk.
        f: (n, C) bool passive-set indicators.
        h: (n, C) right-hand sides.
        pivot_tol: relative pivot threshold for dropping a variable.

    Returns:
        ``(x, kept)``: (n, C) face solutions (zero outside ``F`` and on dropped variables), and
        (n, C) bool, True for variables of ``F`` that were not dropped.
    """
    n = gram.shape[0]
    lower = [[None] * n for _ in range(n)]
    root = [None] * n
    for j in range(n):
        s = jnp.where(f[j], gram[j, j], 1.0)
        for k in range(j):
            s = s - lower[j][k] * lower[j][k]
        # a root of inf drops the variable (t / inf = 0); every entry ends on a division, which
        # XLA counts as expensive and therefore materialises once instead of re-computing it in
        # each consumer (ending on a multiplication tripled the kernel's arithmetic)
        root[j] = jnp.sqrt(jnp.where(f[j] & (s > pivot_tol * gram[j, j]), s, jnp.inf))
        for i in range(j + 1, n):
            t = jnp.where(f[i] & f[j], gram[i, j], 0.0)
            for k in range(j):
                t = t - lower[i][k] * lower[j][k]
            lower[i][j] = t / root[j]
    z = [None] * n
    for i in range(n):
        t = h[i]
        for k in range(i):
            t = t - lower[i][k] * z[k]
        z[i] = t / root[i]
    x = [None] * n
    for i in reversed(range(n)):
        t = z[i]
        for k in range(i + 1, n):
            t = t - lower[k][i] * x[k]
        x[i] = t / root[i]
    return jnp.stack(x), jnp.stack([r != jnp.inf for r in root])


def _pivot(gram, f, h, scale, free, best, alpha, tol, pivot_tol, solve=None):
    """One block-principal-pivoting step on a chunk (batch last: f, h (n, C); scale (C,)).

    Returns the solution of the current face, whether it is optimal, and the next passive set
    and backup-rule counters. ``solve`` replaces the unrolled face solve (same signature).
    """
    solve = masked_cholesky_solve if solve is None else solve
    x, kept = solve(gram, f, h, pivot_tol=pivot_tol)
    y = gram @ x - h  # the gradient G x - h
    thr = (tol * scale)[None]
    bounded = ~free[:, None]
    dropped = f & ~kept
    infeasible = bounded & ((kept & (x < -thr)) | (~f & (y < -thr)))
    stuck = dropped & (y < -thr)  # a dropped variable that should enter: exchange it out and back
    v = infeasible | stuck
    flip, optimal, best, alpha = _exchange(v, best, alpha)
    return x, optimal, f ^ flip, best, alpha


def _exchange(v, best, alpha):
    """The exchange rule of block principal pivoting on infeasible sets ``v`` (n, C): all of
    ``v`` ("full exchange") while ``|v|`` keeps decreasing or the backup counter ``alpha`` lasts,
    else only its largest index (Murty's finite rule). Returns ``(flip, optimal, best, alpha)``:
    the (n, C) variables to move, whether ``v`` is empty, and the updated counters."""
    nv = jnp.sum(v, axis=0, dtype=jnp.int32)
    optimal = nv == 0
    improve = nv < best
    full = improve | (alpha > 0)
    n = v.shape[0]
    last = (n - 1) - jnp.argmax(v[::-1], axis=0).astype(jnp.int32)  # largest infeasible index
    single = jnp.arange(n, dtype=jnp.int32)[:, None] == last[None]
    flip = jnp.where(full[None], v, v & single)
    best = jnp.where(improve, nv, best)
    alpha = jnp.where(improve, 3, jnp.where(full, alpha - 1, alpha))
    return flip, optimal, best, alpha


def bpp_solve(
    gram: Float[Array, "n n"],
    h: Float[Array, "B n"],
    f0: Bool[Array, "B n"],
    free: Bool[Array, " n"],
    tol: Float[Array, ""],
    *,
    max_pivots: int,
    chunk: int,
) -> tuple[Float[Array, "B n"], Int[Array, " B"], Bool[Array, " B"]]:
    """Block principal pivoting over a batch of problems sharing the (scaled) Gram matrix.

    Args:
        gram: (n, n) shared Gram matrix (Jacobi-scaled: unit diagonal, up to the ridge).
        h: (B, n) right-hand sides ``D A^T b``.
        f0: (B, n) initial passive sets (free variables are added).
        free: (n,) bool, unconstrained variables.
        tol: () violation tolerance: ``x_j < -tol s`` or ``y_j < -tol s`` is infeasible, with
            ``s = ||h||`` per problem.
        max_pivots: pivots (face solves) per problem at most (static).
        chunk: problems solved at once (static).

    Returns:
        ``(x, pivots, optimal)``: (B, n) the last face solutions (clipped to ``x >= 0`` on the
        bounded variables of the optimal problems), (B,) int32 face solves per problem, (B,) bool.
    """
    batch, n = h.shape
    dtype = h.dtype
    size = min(chunk, batch)
    pivot_tol = 100.0 * float(jnp.finfo(dtype).eps)
    scale = jnp.maximum(jnp.linalg.norm(h, axis=-1), jnp.finfo(dtype).tiny)
    h_t = h.T  # batch last inside
    state = dict(
        f=(f0 | free[None]).T,
        best=jnp.full((batch,), n + 1, jnp.int32),
        alpha=jnp.full((batch,), 3, jnp.int32),
        x=jnp.zeros((n, batch), dtype),
        its=jnp.zeros((batch,), jnp.int32),
        done=jnp.zeros((batch,), bool),
        optimal=jnp.zeros((batch,), bool),
    )

    def chunk_step(c, carry):
        state, order = carry
        idx = jax.lax.dynamic_slice(order, (c * size,), (size,))  # batch: padding, dropped
        safe = jnp.minimum(idx, batch - 1)
        x, optimal, f_next, best, alpha = _pivot(
            gram, state["f"][:, safe], h_t[:, safe], scale[safe], free, state["best"][safe],
            state["alpha"][safe], tol, pivot_tol,
        )  # fmt: skip
        its = state["its"][safe] + 1
        done = optimal | (its >= max_pivots)
        new = dict(f=f_next, best=best, alpha=alpha, x=x, its=its, done=done, optimal=optimal)
        state = {
            k: (v.at[:, idx] if v.ndim == 2 else v.at[idx]).set(new[k], mode="drop")
            for k, v in state.items()
        }
        return state, order

    def one_pass(state):
        todo = ~state["done"]
        count = jnp.sum(todo, dtype=jnp.int32)
        pos = jnp.cumsum(todo, dtype=jnp.int32) - 1
        order = jnp.full((batch + size,), batch, jnp.int32)
        order = order.at[jnp.where(todo, pos, batch + size)].set(
            jnp.arange(batch, dtype=jnp.int32), mode="drop"
        )
        n_chunks = (count + size - 1) // size
        state, _ = jax.lax.fori_loop(0, n_chunks, chunk_step, (state, order))
        return state

    state = jax.lax.while_loop(lambda s: ~jnp.all(s["done"]), one_pass, state)
    x = state["x"].T
    x = jnp.where(state["optimal"][:, None] & ~free[None], jnp.maximum(x, 0.0), x)
    return x, state["its"], state["optimal"]


def _pivot_box(gram, f, up, h, upper, scale, free, best, alpha, tol, pivot_tol):
    """One box-constrained block-principal-pivoting step on one problem (``f``, ``up``, ``h``,
    ``upper``: (n, 1)): the three-set generalisation of :func:`_pivot` (Júdice & Pires 1994, "A
    block principal pivoting algorithm for large-scale strictly monotone linear complementarity
    problems", Comput. Oper. Res. 21(5)). Variables are passive (``f``), at their upper bound
    (``up``) or at zero. The face solves ``G_FF x_F = h_F - G_FU u_U``; the pair is optimal when
    ``0 <= x_F <= u_F``, ``y_j >= 0`` at zero and ``y_j <= 0`` at the upper bound (``y = G x - h``).
    Infeasible variables move: passive below zero -> zero, passive above its bound -> bound, zero
    or bound with the wrong gradient sign -> passive; with :func:`_pivot`'s full-exchange and
    single-exchange (largest index) backup rule. With ``upper = inf`` it is :func:`_pivot`.
    """
    bounded = ~free[:, None]
    at_up = up & bounded
    fixed = jnp.where(at_up, upper, 0.0)  # the values of the bound variables
    x_face, _ = _lapack_face(gram, f, h - gram @ fixed, pivot_tol=pivot_tol)
    x = x_face + fixed
    y = gram @ x - h
    thr = (tol * scale)[None]
    below = bounded & f & (x < -thr)
    above = bounded & f & (x > upper + thr)
    leave_zero = bounded & ~f & ~at_up & (y < -thr)
    leave_up = at_up & (y > thr)
    v = below | above | leave_zero | leave_up
    flip, optimal, best, alpha = _exchange(v, best, alpha)
    f_next = (f & ~(flip & (below | above))) | (flip & (leave_zero | leave_up))
    up_next = (up & ~(flip & leave_up)) | (flip & above)
    return x, optimal, f_next, up_next, best, alpha


def bpp_single(
    gram: Float[Array, "n n"],
    h: Float[Array, " n"],
    f0: Bool[Array, " n"],
    free: Bool[Array, " n"],
    tol: Float[Array, ""],
    *,
    max_pivots: int,
    upper: Float[Array, " n"] | None = None,
    u0: Bool[Array, " n"] | None = None,
) -> tuple[Float[Array, " n"], Int[Array, ""], Bool[Array, ""]]:
    """Block principal pivoting for one problem: written for one example, ``jax.vmap`` for many.

    The path of a per-problem Gram matrix (a 3-D ``A`` in :func:`aujax.optim.nnls`, or one problem
    under the caller's ``vmap``, as in the top-down engine's Gauss-Newton steps, where every frame
    has its own Jacobian), and of every problem with upper bounds ``0 <= x <= upper``
    (:func:`_pivot_box`; without bounds it pivots exactly as :func:`bpp_solve`). The face solve is
    LAPACK's Cholesky of ``M + 100 eps diag(f)`` (:func:`_lapack_face`; under ``vmap`` one batched
    ``potrf``): the unrolled factorisation of the shared path, vmapped, ran as fast but took ~10x
    longer to compile (24 s against 2.5 s for n = 23, and ~200 s inside the engine's Gauss-Newton
    loop). The relative ridge stands in for the shared path's dropping of dependent variables: a
    rank-deficient face gets its minimum-norm-like solution instead of a failed factorisation, and
    the solver solves the (strictly convex) problem with that ridge exactly. Under ``vmap`` the
    loop runs until the last mapped problem has terminated (per-problem pivot counts are small and
    even: at most 5 for the engine's systems).

    Args:
        gram: (n, n) Gram matrix of the problem (Jacobi-scaled: unit diagonal, up to a ridge).
        h: (n,) right-hand side ``D A^T b``.
        f0: (n,) initial passive set (free variables are added).
        free: (n,) bool, unconstrained variables.
        tol: () violation tolerance relative to ``||h||`` (see :func:`bpp_solve`).
        max_pivots: face solves at most (static).
        upper: optional (n,) upper bounds (in the scaled variables; ``inf`` = none).
        u0: optional (n,) initial set of variables at their upper bound (not in ``f0``).

    Returns:
        ``(x, pivots, optimal)``: (n,) the last face solution (clipped to ``0 <= x <= upper`` on
        the bounded variables when optimal), () int32 face solves, () bool.
    """
    n = h.shape[0]
    dtype = h.dtype
    pivot_tol = 100.0 * float(jnp.finfo(dtype).eps)
    scale = jnp.maximum(jnp.linalg.norm(h), jnp.finfo(dtype).tiny)[None]
    upper = jnp.full((n,), jnp.inf, dtype) if upper is None else upper.astype(dtype)
    finite = jnp.isfinite(upper)
    u0 = jnp.zeros((n,), bool) if u0 is None else u0
    u0 = u0 & finite & ~free
    state = dict(
        f=((f0 & ~u0) | free)[:, None],
        up=u0[:, None],
        best=jnp.full((1,), n + 1, jnp.int32),
        alpha=jnp.full((1,), 3, jnp.int32),
        x=jnp.zeros((n, 1), dtype),
        its=jnp.zeros((), jnp.int32),
        optimal=jnp.zeros((), bool),
    )
    hc, uc = h[:, None], upper[:, None]

    def body(s):
        x, optimal, f_next, up_next, best, alpha = _pivot_box(
            gram, s["f"], s["up"], hc, uc, scale, free, s["best"], s["alpha"], tol, pivot_tol
        )
        return dict(f=f_next, up=up_next, best=best, alpha=alpha, x=x, its=s["its"] + 1,
                    optimal=optimal[0])  # fmt: skip

    state = jax.lax.while_loop(lambda s: ~s["optimal"] & (s["its"] < max_pivots), body, state)
    x = state["x"][:, 0]
    x = jnp.where(state["optimal"] & ~free, jnp.clip(x, 0.0, upper), x)
    return x, state["its"], state["optimal"]


def _lapack_face(gram, f, h, *, pivot_tol):
    """The face solve of one problem (``f``, ``h``: (n, 1)) by LAPACK Cholesky, with a relative
    ridge of ``pivot_tol`` on the diagonal of the face; returns ``(x, kept)`` as
    :func:`masked_cholesky_solve` (no variable is dropped: ``kept = f``)."""
    ff = f[:, 0]
    m = jnp.where(ff[:, None] & ff[None, :], gram, 0.0) + jnp.diag(
        jnp.where(ff, pivot_tol * jnp.diagonal(gram), 1.0)
    )
    x = jax.scipy.linalg.cho_solve(
        jax.scipy.linalg.cho_factor(m, lower=True), jnp.where(ff, h[:, 0], 0.0)
    )
    return x[:, None], f
