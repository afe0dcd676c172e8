"""Gradient checks of the physics, float64: `python -m tools.gradcheck [--quick]`.

For a loss on the solved trajectory, every gradient is checked three ways along a random
direction delta: reverse mode (<grad L, delta>, the adjoint under test), forward mode (jax.jvp;
diffrax's ForwardMode adjoint for diffrax solves) and central finite differences
(L(x + eps delta) - L(x - eps delta)) / 2 eps. Rows cover

* the reduced dynamics (K = 17 AU blendshapes of the physics-built model): the paper's Euler
  (seed 001, eq. 6) and every diffrax solver (euler, heun, tsit5, kvaerno5, semi-implicit Euler
  for the undamped paper form), adjoint `recursive`; with respect to the
  activations a(t) (Q = g a), paper-style 3-vector muscle forces F(t) (Q = sum G_m F_m), the
  Cholesky factor of M, the initial state, and the physical parameters (edge stiffness, anchor
  stiffness, dashpot and anchor damping scales, through K = B^T H B and D = B^T C B);
* the full spring-mass model at small N: dynamics (tsit5, heun) with respect to activations, the
  initial state and the physical parameters; static equilibrium (implicit differentiation);
* the physics inversion (:func:`aujax.physics.invert_activations`, implicit gradients through the
  NNLS's KKT conditions) with respect to the coefficients, its smoothness weight and the physical
  parameters (reverse mode against central differences only: no forward mode through a custom
  VJP).

Target: max relative error <= 1e-5; the tool exits non-zero above it.
"""

import argparse
import sys
import time

import numpy as np

from ._common import enable_float64, print_table


TARGET = 1e-5


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n-vertices", type=int, default=1200, help="face for the reduced model")
    ap.add_argument("--n-full", type=int, default=420, help="face for the full-model checks")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--quick", action="store_true", help="fewer solvers and frames (< 1 min)")
    args = ap.parse_args(argv)
    enable_float64()
    import jax
    import jax.numpy as jnp

    from aujax.face import make_face, make_muscles
    from aujax.physics import (
        build_au_blendshapes,
        build_spring_mass,
        cholesky_from_mass,
        equilibrium,
        euler_paper,
        galerkin_model,
        mass_from_cholesky,
        muscle_forces,
        paper_model,
        reduce_skin,
        simulate,
        simulate_reduced,
    )

    t_start = time.perf_counter()
    n_red = 500 if args.quick else args.n_vertices
    frames = 5 if args.quick else args.frames
    dt = 0.04
    face = make_face(n_red)
    muscles = make_muscles(face)
    system = build_spring_mass(face.vertices, face.triangles, face.bone_weights)
    model, _ = build_au_blendshapes(face, muscles=muscles, system=system)
    basis = model.au_basis
    k = model.n_aus
    m = muscles.n_muscles
    rng = np.random.default_rng(0)

    def scaled(sys_, theta):
        """The skin with its physical parameters scaled by theta = (edge, anchor, dashpot, c_a)."""
        return sys_.replace(
            stiffness=sys_.stiffness * theta[0],
            anchor_stiffness=sys_.anchor_stiffness * theta[1],
            damping=sys_.damping * theta[2],
            anchor_damping=sys_.anchor_damping * theta[3],
        )

    gal0 = jax.jit(
        lambda th: reduce_skin(
            scaled(system, th),
            basis,
            distribution=muscles.distribution,
            directions=muscles.directions,
        )
    )(jnp.ones(4))
    chol0 = cholesky_from_mass(gal0.mass)
    target = jnp.asarray(rng.normal(size=(frames, k)) * 0.3)
    acts = jnp.asarray(
        np.abs(rng.normal(size=(frames, m))) * np.asarray(model.au_activations).max()
    )
    forces3 = jnp.asarray(rng.normal(size=(frames, m, 3)))
    c0 = jnp.asarray(rng.normal(size=k) * 0.1)
    v0 = jnp.asarray(rng.normal(size=k) * 0.1)
    theta0 = jnp.ones(4)

    def loss_of(cs):
        return jnp.sum((cs - target) ** 2) / cs.shape[0]

    def reduced_loss(form, solver, adjoint):
        def loss(p):
            if form == "galerkin":
                red = reduce_skin(
                    scaled(system, p["theta"]),
                    basis,
                    distribution=muscles.distribution,
                    directions=muscles.directions,
                )
                red = galerkin_model(
                    mass_from_cholesky(p["chol"]),
                    red.stiffness,
                    red.damping,
                    force_map=red.force_map,
                    muscle_maps=red.muscle_maps,
                )
            else:
                red = paper_model(
                    mass_from_cholesky(p["chol"]),
                    force_map=gal0.force_map,
                    muscle_maps=gal0.muscle_maps,
                )
            q = jnp.einsum("km,tm->tk", red.force_map, p["acts"])
            q = q + jnp.einsum("mkd,tmd->tk", red.muscle_maps, p["forces3"]) * 1e-3
            if solver == "paper_euler":
                # at 40 ms the explicit Euler is unstable for the Galerkin form's stiffest mode
                # (omega_max dt ~ 3 > 2); the row uses 4 ms there, the paper form keeps 40 ms
                h = dt / 10 if form == "galerkin" else dt
                cs = euler_paper(red, p["c0"], p["c0"] + h * p["v0"], q, dt=h)
            else:
                if solver in ("tsit5", "kvaerno5"):
                    kw = dict(rtol=1e-11, atol=1e-13, max_steps=100_000)
                else:  # fixed steps: dt / 20 keeps omega h < 0.3 for the stiffest reduced mode
                    kw = dict(substeps=20)
                cs, _ = simulate_reduced(
                    red, p["c0"], p["v0"], q, dt=dt, solver=solver, adjoint=adjoint, **kw
                )
            return loss_of(cs)

        return loss

    p0 = {"acts": acts, "forces3": forces3, "chol": chol0, "c0": c0, "v0": v0, "theta": theta0}
    groups = {
        "activations a(t)": ["acts"],
        "muscle forces F(t)": ["forces3"],
        "M (Cholesky factor)": ["chol"],
        "initial state": ["c0", "v0"],
        "stiffness, damping": ["theta"],
    }

    def direction(keys, params=None):
        """A random direction scaled to each parameter's own magnitude (elementwise)."""
        params = p0 if params is None else params
        d = {key: jnp.zeros_like(val) for key, val in params.items()}
        for key in keys:
            val = np.asarray(params[key])
            scale = np.abs(val) + 1e-3 * np.sqrt(np.mean(val**2))
            d[key] = jnp.asarray(rng.normal(size=val.shape) * scale)
        return d

    def add(p, d, eps):
        return jax.tree.map(lambda a, b: a + eps * b, p, d)

    def check(loss, loss_fwd, p, d):
        value, fwd = jax.jvp(loss_fwd, (p,), (d,))
        value, fwd = float(value), float(fwd)
        g = jax.grad(loss)(p)
        r = float(sum(jnp.vdot(g[key], d[key]) for key in g))
        # step: the loss changes by ~1e-4 of itself (clipped), which balances truncation against
        # round-off; central differences at eps and eps/2, Richardson-extrapolated (O(eps^4))
        eps = float(np.clip(1e-4 * max(abs(value), 1e-12) / max(abs(fwd), 1e-300), 1e-8, 1e-2))
        cd = lambda e: (float(loss(add(p, d, e))) - float(loss(add(p, d, -e)))) / (2 * e)
        fd = (4.0 * cd(eps / 2) - cd(eps)) / 3.0
        return r, fwd, fd

    solvers = [("galerkin", "paper_euler", "-"), ("paper", "paper_euler", "-")]
    diffrax_solvers = ["euler", "heun", "tsit5", "kvaerno5"]
    adjoints = ["recursive"]
    if args.quick:
        diffrax_solvers, adjoints = ["tsit5"], ["recursive"]
    for solver in diffrax_solvers:
        for adjoint in adjoints:
            solvers.append(("galerkin", solver, adjoint))
    if not args.quick:
        solvers += [("paper", "semi_implicit_euler", "recursive"), ("paper", "tsit5", "recursive")]

    rows, worst = [], 0.0
    for form, solver, adjoint in solvers:
        loss = jax.jit(reduced_loss(form, solver, adjoint if adjoint != "-" else "recursive"))
        loss_fwd = jax.jit(reduced_loss(form, solver, "forward"))
        for gname, keys in groups.items():
            if form == "paper" and gname == "stiffness, damping":
                continue
            r, fwd, fd = check(loss, loss_fwd, p0, direction(keys))
            e_fd, e_fwd = _rel(r, fd), _rel(r, fwd)
            worst = max(worst, e_fd, e_fwd)
            rows.append([f"reduced/{form}", solver, adjoint, gname, r, e_fd, e_fwd])
        print(
            f"  {form}/{solver}/{adjoint} done ({time.perf_counter() - t_start:.0f} s)", flush=True
        )

    # --- the physics inversion: implicit gradients through the NNLS's KKT conditions ------------
    # (reverse mode against central differences; forward mode does not apply to a custom VJP)
    from aujax.physics import invert_activations, simulate_reduced_exact

    syn = jnp.asarray(model.au_activations)
    t_inv = 12
    drive = np.maximum(0.0, rng.normal(size=(t_inv, k)) + 0.3)
    q_inv = jnp.asarray(drive) @ syn @ gal0.force_map.T
    c_inv, _ = simulate_reduced_exact(gal0, jnp.zeros(k), jnp.zeros(k), q_inv, dt=dt)
    c_inv = c_inv + jnp.asarray(0.02 * rng.normal(size=c_inv.shape))
    tgt_drive = jnp.asarray(rng.normal(size=(t_inv, k)))
    pi = {"c": c_inv, "lam": jnp.asarray(0.5), "theta": jnp.ones(4)}

    def inv_loss(p):
        red = reduce_skin(
            scaled(system, p["theta"]),
            basis,
            distribution=muscles.distribution,
            directions=muscles.directions,
        )
        inv = invert_activations(red, p["c"], dt=dt, synergies=syn, smoothness=p["lam"],
                                 ridge=1e-3, window=8)  # fmt: skip
        return jnp.sum((inv.drive - tgt_drive) ** 2)

    inv_j = jax.jit(inv_loss)
    inv_groups = {
        "coefficients c(t)": ["c"],
        "smoothness lambda": ["lam"],
        "stiffness, damping": ["theta"],
    }
    for gname, keys in inv_groups.items():
        d = direction(keys, pi)
        g = jax.grad(inv_j)(pi)
        r = float(sum(jnp.vdot(g[key], d[key]) for key in g))
        value = float(inv_j(pi))
        eps = float(np.clip(1e-5 * max(abs(value), 1e-12) / max(abs(r), 1e-300), 1e-9, 1e-3))
        cd = lambda e, d=d: (float(inv_j(add(pi, d, e))) - float(inv_j(add(pi, d, -e)))) / (2 * e)
        fd = (4.0 * cd(eps / 2) - cd(eps)) / 3.0
        e_fd = _rel(r, fd)
        worst = max(worst, e_fd)
        rows.append(
            ["inversion", "exact ZOH + NNLS", "implicit (KKT)", gname, r, e_fd, float("nan")]
        )
    print(f"  inversion done ({time.perf_counter() - t_start:.0f} s)", flush=True)

    # --- the full spring-mass model at small N --------------------------------------------------
    n_full = 400 if args.quick else args.n_full
    face_s = make_face(n_full)
    mus_s = make_muscles(face_s)
    sys_s = build_spring_mass(face_s.vertices, face_s.triangles, face_s.bone_weights)
    n = face_s.n_vertices
    fr = 4
    acts_s = jnp.asarray(np.abs(rng.normal(size=(fr, m))) * 2.0)
    u0 = jnp.asarray(rng.normal(size=(n, 3)) * 1e-3)
    tgt = jnp.asarray(rng.normal(size=(fr, n, 3)) * 0.01)
    ps = {"acts": acts_s, "u0": u0, "v0": u0 * 0.5, "theta": jnp.ones(4)}

    def full_loss(solver, adjoint):
        def loss(p):
            s = scaled(sys_s, p["theta"])
            f = jax.vmap(lambda a: muscle_forces(mus_s.distribution, mus_s.directions, a))(
                p["acts"]
            )
            kw = dict(rtol=1e-11, atol=1e-13) if solver == "tsit5" else dict(substeps=40)
            us, _ = simulate(
                s,
                f,
                dt=0.01,
                u0=p["u0"],
                v0=p["v0"],
                solver=solver,
                adjoint=adjoint,
                max_steps=100_000,
                **kw,
            )
            return jnp.sum((us - tgt) ** 2)

        return loss

    full_groups = {
        "activations a(t)": ["acts"],
        "initial state": ["u0", "v0"],
        "stiffness, damping": ["theta"],
    }

    direction_s = lambda keys: direction(keys, ps)

    full_solvers = [("tsit5", "recursive")]
    if not args.quick:
        full_solvers += [("heun", "recursive")]
    for solver, adjoint in full_solvers:
        loss = jax.jit(full_loss(solver, adjoint))
        loss_fwd = jax.jit(full_loss(solver, "forward"))
        for gname, keys in full_groups.items():
            r, fwd, fd = check(loss, loss_fwd, ps, direction_s(keys))
            e_fd, e_fwd = _rel(r, fd), _rel(r, fwd)
            worst = max(worst, e_fd, e_fwd)
            rows.append([f"full N={n}", solver, adjoint, gname, r, e_fd, e_fwd])
        print(f"  full/{solver}/{adjoint} done ({time.perf_counter() - t_start:.0f} s)", flush=True)

    # static equilibrium: implicit differentiation
    def eq_loss(p):
        s = scaled(sys_s, p["theta"])
        f = muscle_forces(mus_s.distribution, mus_s.directions, p["acts"][0] * 3.0)
        return jnp.sum((equilibrium(s, f, rtol=1e-13).u - tgt[0]) ** 2)

    eq = jax.jit(eq_loss)
    for gname, keys in {"activations a": ["acts"], "stiffness, damping": ["theta"]}.items():
        r, fwd, fd = check(eq, eq, ps, direction_s(keys))
        e_fd, e_fwd = _rel(r, fd), _rel(r, fwd)
        worst = max(worst, e_fd, e_fwd)
        rows.append([f"full N={n}", "equilibrium", "implicit", gname, r, e_fd, e_fwd])

    print_table(
        [
            "model",
            "solver",
            "adjoint",
            "with respect to",
            "directional derivative",
            "rel. err vs central FD",
            "rel. err vs forward mode",
        ],
        rows,
        title=f"Gradient checks (float64; reduced model K={k}, N={face.n_vertices})",
    )
    ok = worst <= TARGET
    print(
        f"gradcheck: max relative error {worst:.2e} over {len(rows)} checks "
        f"(target <= {TARGET:.0e}) {'PASS' if ok else 'FAIL'} "
        f"[{time.perf_counter() - t_start:.0f} s]"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
