"""`python -m tools.bench nnls`: batched AU-level NNLS (seed 000, eq. 2), aujax vs SciPy.

The problem of the top-down engine: N frames x (A: 204 rows = 68 landmarks x 3, 17 columns =
AUs), one shared A, the landmark AU basis of the physics-built blendshape model
(`build_au_blendshapes(make_face(n))`, `model.landmark_basis()`). Right-hand sides: sparse random
AU levels (each AU active with probability 0.2, level uniform in (0, 5]) times the basis plus
Gaussian landmark noise (0.05 cm), so that many constraints are active at the solution.

* reference: a Python loop over `scipy.optimize.nnls`, timed on the first `--scipy-frames`
  frames (default: all) and scaled to N when that is a subset (the table says so);
* aujax: `aujax.optim.nnls` jitted over the whole batch, float64 and float32, timed after
  compilation with `block_until_ready` (median of `--repeat` runs), with both solvers:
  ``method="active_set"`` (exact block principal pivoting, default tolerances; `--chunk` problems
  per face solve) and ``method="apg"`` (projected gradient). The headline is judged, per dtype, on
  the fastest method whose gap meets the goal (it names it). The float64 APG row judged uses a
  KKT tolerance matched to the objective-gap goal (3e-7: KKT tolerance 1e-6 gave gaps up to 6e-7
  on 10,000 frames, too close to 1e-6), the float32 one 5e-6 (the default 1e-5 gave gaps up to
  7.5e-5 against the 1e-4 goal); the default tolerances (1e-10, 1e-5) and the unscaled iteration
  (`jacobi=False`) are shown for comparison;
* the objective gap ``(f(x) - f(x_scipy)) / f(x_scipy)``, ``f = 1/2 ||A x - b||^2`` in float64, on
  every frame SciPy solved (max and median);
* a floor: the two matmuls every batched solver must do (``h = A^T b`` for all frames and the
  residual ``A x - b`` that `nnls` returns) timed alone, and the speed-up they cap;
* a per-problem row (not with `--quick`): the same problems with A repeated per frame as a
  (N, 204, 17) array, i.e. the exact solver of per-frame matrices (the top-down engine's
  Gauss-Newton systems: a LAPACK Cholesky face solve per problem under vmap);
* a profile row (not with `--quick`): one masked face solve (the unrolled 17 x 17 Cholesky of
  the exact path) for every frame, kernel only: the exact solver costs about the mean pivot count
  times this, plus the pass/compaction overhead.

Goal: >= 50x faster than the SciPy loop with gap <= 1e-6 (float64) and <= 1e-4 (float32).
`--quick`: make_face(600), 2,000 frames, only the judged rows.
"""

import argparse
import functools
import os
import platform
import time

import numpy as np

from ._common import enable_float64, print_table, timeit


GOAL_SPEEDUP = 50.0
GOAL_GAP = {"float64": 1e-6, "float32": 1e-4}


def _problem(n_vertices: int, frames: int, noise: float, seed: int):
    """The landmark AU basis as A (204, 17) and `frames` noisy sparse right-hand sides."""
    from aujax.face import make_face
    from aujax.physics import build_au_blendshapes

    t0 = time.perf_counter()
    model, _ = build_au_blendshapes(make_face(n_vertices))
    t_model = time.perf_counter() - t0
    basis = np.asarray(model.landmark_basis())  # (K, 68, 3)
    a = basis.reshape(basis.shape[0], -1).T  # (204, K)
    rng = np.random.default_rng(seed)
    k = a.shape[1]
    levels = np.where(rng.random((frames, k)) < 0.2, rng.uniform(0.0, 5.0, (frames, k)), 0.0)
    b = levels @ a.T + noise * rng.normal(size=(frames, a.shape[0]))
    return a, b, t_model, model.n_aus


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.bench nnls", description=__doc__)
    ap.add_argument("--frames", type=int, default=10_000)
    ap.add_argument("--n-vertices", type=int, default=1500)
    ap.add_argument("--scipy-frames", type=int, default=0, help="0: all frames")
    ap.add_argument("--noise", type=float, default=0.05, help="landmark noise (cm)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--slots", type=int, default=256, help="problems iterated at once (apg)")
    ap.add_argument(
        "--chunk", type=int, default=0, help="problems per face solve (active_set); 0: default"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.frames, args.n_vertices, args.repeat = 2000, 600, 3
    enable_float64()
    import jax
    import jax.numpy as jnp
    import scipy
    import scipy.optimize

    from aujax.optim import nnls

    dev = jax.devices()[0]
    print(
        f"device: {dev.platform} ({dev.device_kind}); host: {platform.processor() or 'cpu'}, "
        f"{os.cpu_count()} cores; jax {jax.__version__}, scipy {scipy.__version__}"
    )
    a, b, t_model, k = _problem(args.n_vertices, args.frames, args.noise, args.seed)
    n_frames = b.shape[0]
    n_ref = n_frames if args.scipy_frames <= 0 else min(args.scipy_frames, n_frames)
    print(
        f"A: {a.shape} landmark AU basis of make_face({args.n_vertices}) ({t_model:.1f} s to "
        f"build), {n_frames} frames, noise {args.noise} cm, cond(A) {np.linalg.cond(a):.0f}"
    )

    # --- reference: a Python loop over scipy.optimize.nnls ---------------------------------------
    x_ref = np.empty((n_ref, a.shape[1]))
    t0 = time.perf_counter()
    for i in range(n_ref):
        x_ref[i] = scipy.optimize.nnls(a, b[i])[0]
    t_scipy = (time.perf_counter() - t0) * n_frames / n_ref

    def objective(x):
        r = x @ a.T - b[: x.shape[0]]
        return 0.5 * np.sum(r * r, axis=-1)

    f_ref = objective(x_ref)
    scaled = "" if n_ref == n_frames else f" (timed on {n_ref}, scaled to {n_frames})"
    rows = [
        [
            "scipy.optimize.nnls loop",
            "float64",
            "-",
            f"{t_scipy * 1e3:.1f} ms{scaled}",
            f"{n_frames / t_scipy:,.0f}",
            "1x",
            "-",
            "-",
            "-",
            "-",
        ]
    ]

    # --- floor: the two matmuls of a batched solve ------------------------------------------------
    a64, b64 = jnp.asarray(a), jnp.asarray(b)
    x_any = jnp.asarray(np.tile(x_ref[:1], (n_frames, 1)))
    floor = jax.jit(lambda a, b, x: (b @ a, jnp.linalg.norm(x @ a.T - b, axis=-1)))
    t_floor, _ = timeit(floor, a64, b64, x_any, repeat=args.repeat)
    rows.append(
        [
            "floor: h = A^T b and ||A x - b|| only",
            "float64",
            "-",
            f"{t_floor * 1e3:.2f} ms",
            f"{n_frames / t_floor:,.0f}",
            f"{t_scipy / t_floor:.0f}x (cap)",
            "-",
            "-",
            "-",
            "-",
        ]
    )

    # --- profile of the exact path: one face solve of every frame, kernel only --------------------
    if not args.quick:
        from aujax.optim._active_set import masked_cholesky_solve

        g = a.T @ a
        dk = 1.0 / np.sqrt(np.diag(g))
        g_k = g * dk[:, None] * dk[None, :]
        h_k = (b @ a) * dk[None]
        f0 = (h_k @ np.linalg.pinv(g_k)) > 0

        def one_solve(g, f, h, chunk=args.chunk or 256):
            nb = h.shape[1] // chunk * chunk
            fc = f[:, :nb].reshape(f.shape[0], -1, chunk).transpose(1, 0, 2)
            hc = h[:, :nb].reshape(h.shape[0], -1, chunk).transpose(1, 0, 2)
            return jax.lax.map(
                lambda c: masked_cholesky_solve(g, c[0], c[1], pivot_tol=1e-14)[0], (fc, hc)
            )

        t_solve, _ = timeit(
            jax.jit(one_solve), jnp.asarray(g_k), jnp.asarray(f0.T), jnp.asarray(h_k.T),
            repeat=args.repeat,
        )  # fmt: skip
        rows.append(
            [
                "profile: one masked 17x17 face solve per frame (kernel only)",
                "float64",
                "-",
                f"{t_solve * 1e3:.2f} ms",
                f"{n_frames / t_solve:,.0f}",
                f"{t_scipy / t_solve:.0f}x (per pivot)",
                "-",
                "-",
                "-",
                f"{t_solve / n_frames * 1e9:.0f}",
            ]
        )

    # --- aujax ----------------------------------------------------------------------------------------
    apg = {"method": "apg", "slots": args.slots}
    exact = {"method": "active_set", "chunk": args.chunk or None}
    configs = [  # (label, dtype, tol, extra kwargs, judged)
        ("aujax nnls active_set (exact BPP)", jnp.float64, None, exact, True),
        ("aujax nnls apg, tol for the gap goal", jnp.float64, 3e-7, apg, True),
        ("aujax nnls apg, default tol", jnp.float64, None, apg, False),
        ("aujax nnls apg, no Jacobi scaling", jnp.float64, 3e-7, {**apg, "jacobi": False}, False),
        (
            "aujax nnls active_set, per-problem A (B, m, n)",
            jnp.float64,
            None,
            {"method": "active_set", "per_problem": True},
            False,
        ),
        ("aujax nnls active_set (exact BPP)", jnp.float32, None, exact, True),
        ("aujax nnls apg, tol for the gap goal", jnp.float32, 5e-6, apg, True),
        ("aujax nnls apg, default tol", jnp.float32, None, apg, False),
    ]
    if args.quick:  # the rows the headline is judged on
        configs = [c for c in configs if c[4]]
    summary = {}
    for label, dtype, tol, extra, judged in configs:
        extra = dict(extra)
        per_problem = extra.pop("per_problem", False)
        fn = jax.jit(functools.partial(nnls, tol=tol, max_iter=5000, **extra))
        a_d, b_d = jnp.asarray(a, dtype), jnp.asarray(b, dtype)
        if per_problem:  # the shared A repeated per frame: the per-problem (vmapped) solver
            a_d = jnp.broadcast_to(a_d, (n_frames, *a.shape))
        t1 = time.perf_counter()
        jax.block_until_ready(fn(a_d, b_d))
        t_compile = time.perf_counter() - t1
        t, res = timeit(fn, a_d, b_d, repeat=args.repeat)
        x = np.asarray(res.x, np.float64)
        gap = (objective(x[:n_ref]) - f_ref) / f_ref
        its = np.asarray(res.iterations)
        conv = float(np.mean(np.asarray(res.converged)))
        speedup = t_scipy / t
        name = jnp.dtype(dtype).name
        tol_used = tol if tol is not None else (1e-10 if name == "float64" else 1e-5)
        if judged:
            gap_ok = gap.max() <= GOAL_GAP[name] and conv == 1.0
            best = summary.get(name)
            if best is None or (gap_ok, speedup) > (best[3], best[0]):
                summary[name] = (speedup, gap.max(), extra["method"], gap_ok)
        rows.append(
            [
                label + (" (judged)" if judged else ""),
                name,
                f"{tol_used:g}",
                f"{t * 1e3:.1f} ms (compile {t_compile:.1f} s)",
                f"{n_frames / t:,.0f}",
                f"{speedup:.2f}x (goal >= {GOAL_SPEEDUP:.0f}x)",
                f"{gap.max():.1e} / {np.median(gap):.1e} (goal <= {GOAL_GAP[name]:g})",
                f"{np.median(its):.0f} / {its.max()} (mean {its.mean():.2f})",
                f"{conv:.4f}",
                f"{t / max(its.sum(), 1) * 1e9:.0f}",
            ]
        )

    print_table(
        [
            "solver",
            "dtype",
            "tol",
            f"time, {n_frames} frames",
            "problems/s",
            "speed-up vs SciPy",
            "gap max / median",
            "iterations (apg) or pivots (active_set) median / max",
            "converged",
            "ns / problem-iteration (or pivot)",
        ],
        rows,
        title=f"bench nnls: {n_frames} frames x A {a.shape} (K = {k} AUs), shared A",
    )
    s64, s32 = summary["float64"], summary["float32"]
    ok = all(s[3] and s[0] >= GOAL_SPEEDUP for s in (s64, s32))
    print(
        f"bench nnls: {n_frames} frames, aujax vs SciPy loop (best method meeting the gap goal) "
        f"{s64[0]:.2f}x float64 ({s64[2]}, gap {s64[1]:.1e}), {s32[0]:.2f}x float32 ({s32[2]}, "
        f"gap {s32[1]:.1e}); goal >= {GOAL_SPEEDUP:.0f}x; floor (matmuls only) "
        f"{t_scipy / t_floor:.0f}x {'PASS' if ok else 'FAIL'}"
    )
    return 0 if ok else 1
