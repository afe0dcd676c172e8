"""`python -m tools.bench physics`: full vs reduced dynamics, JAX vs NumPy forces, AU equilibria.

1. Force evaluation of the full model at N ~ 30,000 (internal + muscle forces), jitted JAX against
   a plain NumPy implementation of the same forces (`tools/_numpy_reference.py`), same inputs,
   same run. Goal: >= 5x.
2. One second of simulated dynamics (25 fps, an AU6+AU12 expression ramping in over 0.2 s and
   held), full model (implicit Newmark, h = 10 ms: explicit solvers are held to ~1e-4 s steps by
   the stiff bending modes at this resolution) against the Galerkin reduced model (K = 17, tsit5)
   on the same forcing; speed-up (goal >= 1000x) and the reduced model's relative displacement
   error.
3. Static equilibria for all 17 AU blendshapes at N ~ 5,000 (`build_au_blendshapes`, wall time
   including compilation). Goal: <= 30 s on this machine.

All in float64 on the default JAX device. `--quick` shrinks every size (< 1 min).
"""

import argparse
import platform
import time

import numpy as np

from ._common import cast_floats, enable_float64, print_table, timeit


def _forces(system, distribution, directions, u, v, activations):
    from aujax.physics import internal_forces, muscle_forces

    return internal_forces(system, u, v) + muscle_forces(distribution, directions, activations)


def _closed_over(system, distribution, directions):
    """The force function with the skin as compile-time constants (a closure: `jax.jit` would turn
    default arguments into traced arguments)."""
    return lambda u, v, a: _forces(system, distribution, directions, u, v, a)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.bench physics", description=__doc__)
    ap.add_argument("--n-full", type=int, default=30000)
    ap.add_argument("--n-equilibrium", type=int, default=5000)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.n_full, args.n_equilibrium = 3000, 1500
    enable_float64()
    import jax
    import jax.numpy as jnp

    from aujax.face import make_face, make_muscles
    from aujax.physics import (
        ImplicitIntegrator,
        build_au_blendshapes,
        build_spring_mass,
        muscle_forces,
        reduce_skin,
        simulate_reduced,
    )

    from ._numpy_reference import NumpySkin

    dev = jax.devices()[0]
    print(
        f"device: {dev.platform} ({dev.device_kind}); host: {platform.processor() or 'cpu'}, "
        f"{__import__('os').cpu_count()} cores; float64"
    )
    rows, ok = [], True

    # --- 1. force evaluation, N ~ 30k ------------------------------------------------------------
    face = make_face(args.n_full)
    muscles = make_muscles(face)
    system = build_spring_mass(face.vertices, face.triangles, face.bone_weights)
    n = face.n_vertices
    rng = np.random.default_rng(0)
    u = rng.normal(size=(n, 3)) * 0.05
    v = rng.normal(size=(n, 3)) * 0.5
    a = np.abs(rng.normal(size=muscles.n_muscles))
    P, D = muscles.distribution, muscles.directions
    # every JAX timing first, then every NumPy one: after a BLAS call OpenBLAS's idle threads spin
    # for a while and take a core from XLA (measured: float64 JAX 11 ms alone, 26 ms right after
    # the NumPy reference)
    timings = {}
    for dtype in (jnp.float32, jnp.float64):  # float32 is the library default, float64 verifies
        sys_d, P_d, D_d = cast_floats((system, P, D), dtype)
        args_j = [jnp.asarray(x.astype(np.dtype(dtype))) for x in (u, v, a)]
        # the skin closed over (compile-time constants, as the reference precomputes its arrays),
        # and for comparison passed as an argument (as under grad/vmap over parameters)
        closed = jax.jit(_closed_over(sys_d, P_d, D_d))
        timings[dtype] = timeit(closed, *args_j, repeat=20)
        t_arg, _ = timeit(jax.jit(_forces), sys_d, P_d, D_d, *args_j, repeat=20)
        timings[dtype, "argument"] = t_arg
    for dtype in (jnp.float32, jnp.float64):
        sys_d, P_d, D_d = cast_floats((system, P, D), dtype)
        np_dtype = np.dtype(dtype)
        args_np = [x.astype(np_dtype) for x in (u, v, a)]
        t_jax, f_jax = timings[dtype]
        ref = NumpySkin(sys_d, P_d, D_d)
        t_np, f_np = timeit(ref.forces, *args_np, repeat=10)
        agree = float(np.abs(np.asarray(f_jax) - f_np).max() / np.abs(f_np).max())
        r = t_np / t_jax
        if dtype == jnp.float32:
            ratio = r
            ok &= r >= 5.0 and agree < 1e-4
        else:
            ok &= agree < 1e-10
        rows.append(
            [
                f"force evaluation, N={n}, {np_dtype}",
                "JAX (jit), skin as argument",
                f"{timings[dtype, 'argument'] * 1e3:.3f} ms",
                f"NumPy {t_np * 1e3:.3f} ms",
                f"{t_np / timings[dtype, 'argument']:.1f}x",
                "",
            ]
        )
        rows.append(
            [
                f"force evaluation, N={n}, {np_dtype}",
                "JAX (jit), skin closed over",
                f"{t_jax * 1e3:.3f} ms",
                f"NumPy {t_np * 1e3:.3f} ms",
                f"{r:.1f}x (goal >= 5x)",
                f"max rel. diff {agree:.1e}",
            ]
        )

    # --- 2. 1 s of dynamics: full vs reduced --------------------------------------------------------
    t0 = time.perf_counter()
    model, _ = build_au_blendshapes(face, muscles=muscles, system=system)
    t_basis = time.perf_counter() - t0
    red = jax.jit(lambda b: reduce_skin(system, b, distribution=P, directions=D))(model.au_basis)
    dt, frames = 0.04, 26
    ramp = np.clip(np.arange(frames) * dt / 0.2, 0.0, 1.0)
    c = np.zeros(model.n_aus)
    c[model.au_index(6)], c[model.au_index(12)] = 3.0, 4.0
    acts = jnp.asarray(ramp[:, None] * (c @ np.asarray(model.au_activations))[None])
    forces = jax.vmap(lambda x: muscle_forces(P, D, x))(acts)
    # explicit tsit5 is held to tiny steps by the stiff bending modes at this resolution; the
    # full model runs on the implicit Newmark integrator (h = 10 ms), factorised once
    t1 = time.perf_counter()
    integ = ImplicitIntegrator(system, dt=dt, substeps=4)
    t_factor = time.perf_counter() - t1
    t1 = time.perf_counter()
    us = jnp.asarray(integ.run(np.asarray(forces))[0])
    t_full = time.perf_counter() - t1
    q = acts @ red.force_map.T
    zero = jnp.zeros(model.n_aus)
    reduced = jax.jit(lambda q: simulate_reduced(red, zero, zero, q, dt=dt, solver="tsit5")[0])
    t_red, cs = timeit(reduced, q, repeat=20)
    u_red = jnp.einsum("tk,knd->tnd", cs, model.au_basis)
    err = float(jnp.linalg.norm(u_red - us) / jnp.linalg.norm(us))
    speedup = t_full / t_red
    ok &= speedup >= 1000.0
    rows.append(
        [
            f"1 s dynamics, full N={n}",
            "implicit Newmark, h = 10 ms",
            f"{t_full:.2f} s",
            f"(+ factorisation {t_factor:.1f} s)",
            "",
            "",
        ]
    )
    rows.append(
        [
            f"1 s dynamics, Galerkin K={model.n_aus}",
            "tsit5 rtol 1e-6",
            f"{t_red * 1e3:.2f} ms",
            f"basis {t_basis:.1f} s",
            f"{speedup:.0f}x (goal >= 1000x)",
            f"rel. displacement error {err * 100:.2f} %",
        ]
    )

    # --- 3. all 17 AU equilibria at N ~ 5k -----------------------------------------------------------
    face5 = make_face(args.n_equilibrium)
    t2 = time.perf_counter()
    _, report = build_au_blendshapes(face5)
    t_eq = time.perf_counter() - t2
    ok &= t_eq <= 30.0
    rows.append(
        [
            f"17 AU equilibria, N={face5.n_vertices}",
            "Newton-PCG (sparse LU precond.)",
            f"{t_eq:.1f} s",
            f"max residual {report.residual.max():.1e}",
            "goal <= 30 s",
            f"Newton its {int(report.newton_iterations.sum())}",
        ]
    )

    print_table(
        ["what", "method", "time", "reference / note", "ratio", "accuracy"],
        rows,
        title="bench physics",
    )
    print(
        f"bench physics: reduced/full speed-up {speedup:.0f}x at N={n} (err {err * 100:.2f} %), "
        f"JAX/NumPy forces {ratio:.1f}x, 17 AU equilibria at N={face5.n_vertices} in {t_eq:.1f} s "
        f"{'PASS' if ok else 'FAIL'}"
    )
    return 0 if ok else 1
