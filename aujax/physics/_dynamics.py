r"""Full Cartesian dynamics of the spring-mass skin (seed 001, eq. 2) on a frame grid.

``m_i u_i'' = f_i^int(u, u') + f_i^ext(t)`` with the external (muscle) force held constant on
each frame interval ``[k dt, (k + 1) dt)``, integrated by
:func:`aujax.physics._integrate.solve_frames` (see there for the exact frame semantics).
"""

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from aujax.physics._integrate import solve_frames
from aujax.physics._spring_mass import (
    SpringMassSystem,
    _check_state,
    acceleration,
)

from .._checks import as_float, check_finite, check_scalar_positive, check_shape, is_concrete


__all__ = ["is_undamped", "relax", "simulate"]

_STATIC = ("solver", "substeps", "max_steps", "adjoint", "name", "velocity_dependent", "adaptive")


def is_undamped(system: SpringMassSystem) -> bool:
    """True if the system's dashpots and anchor damping are concretely all zero.

    Traced (abstract) damping arrays count as damped.
    """
    leaves = (system.damping, system.anchor_damping)
    if not is_concrete(*leaves):
        return False
    return all(not np.any(np.asarray(leaf)) for leaf in leaves)


def _simulate(system, forces, u0, v0, dt, rtol, atol, dt0, **static):
    def accel(u, v, f):
        return acceleration(system, u, v, f)

    return solve_frames(accel, u0, v0, forces, dt=dt, rtol=rtol, atol=atol, dt0=dt0, **static)


_simulate_jit = jax.jit(_simulate, static_argnames=_STATIC)


def simulate(
    system: SpringMassSystem,
    forces: Float[ArrayLike, "T n 3"],
    *,
    dt: float,
    u0: Float[ArrayLike, "n 3"] | None = None,
    v0: Float[ArrayLike, "n 3"] | None = None,
    solver: str = "tsit5",
    rtol: float = 1e-6,
    atol: float = 1e-9,
    dt0: float | None = None,
    substeps: int = 1,
    max_steps: int = 4096,
    adjoint: str = "recursive",
    name: str = "full-dynamics",
    adaptive: bool | None = None,
) -> tuple[Float[Array, "T n 3"], Float[Array, "T n 3"]]:
    r"""Simulates the full spring-mass skin under frame-wise constant external forces.

    .. math:: m_i \ddot u_i = f_i^{int}(u, \dot u) + f_i^{ext,k}, \qquad t \in [k\,dt, (k+1)\,dt)

    (seed 001, eq. 2). States are saved at the T frame times, ``us[0] = u0``; the last frame's
    force is not used (T - 1 intervals are integrated). Jitted internally; handles one sequence,
    vmap for batches. The solver is chosen by name (see :func:`solve_frames`);
    ``"semi_implicit_euler"`` is only accepted for an undamped system (``dashpot = 0`` and
    ``anchor_damping = 0``), whose acceleration does not depend on the velocity.

    Args:
        system: the skin.
        forces: (T, n, 3) external force of each frame.
        dt: frame interval (s).
        u0: (n, 3) initial displacement (default: rest).
        v0: (n, 3) initial velocity (default: zero).
        solver: ``"euler"``, ``"heun"``, ``"tsit5"``, ``"kvaerno5"`` or
            ``"semi_implicit_euler"``.
        rtol: relative tolerance of adaptive solvers.
        atol: absolute tolerance of adaptive solvers (cm, cm/s).
        dt0: initial step of adaptive solvers (None: automatic).
        substeps: steps per frame for constant-step solvers.
        max_steps: maximum solver steps per frame interval.
        adjoint: ``"recursive"`` (reverse mode) or ``"forward"`` (forward mode).
        name: solve name used in error messages.
        adaptive: override the step-size control of tsit5/kvaerno5.

    Returns:
        ``(us, vs)``, each (T, n, 3): displacements and velocities at the frame times.

    Raises:
        ValueError: on bad shapes, NaN/inf, bad settings, or ``"semi_implicit_euler"`` with a
            damped system.
        EquinoxRuntimeError: at run time if a solve fails (message names ``name`` and the cause).
    """
    n = system.n_vertices
    check_shape(forces, "forces", (None, n, 3), f"(T, n, 3) with n = {n}")
    if jnp.shape(forces)[0] < 1:
        raise ValueError("forces must hold at least one frame (T >= 1).")
    forces = as_float(forces, dtype=system.rest.dtype)
    check_finite(forces, "forces")
    u0 = jnp.zeros((n, 3), system.rest.dtype) if u0 is None else _check_state(system, "u0", u0)
    v0 = jnp.zeros((n, 3), system.rest.dtype) if v0 is None else _check_state(system, "v0", v0)
    check_finite(u0, "u0")
    check_finite(v0, "v0")
    check_scalar_positive(dt, "dt")
    return _simulate_jit(
        system,
        forces,
        u0,
        v0,
        dt,
        rtol,
        atol,
        dt0,
        solver=solver,
        substeps=substeps,
        max_steps=max_steps,
        adjoint=adjoint,
        name=name,
        # only semi-implicit Euler looks at the flag; keep it fixed otherwise (one compilation)
        velocity_dependent=solver != "semi_implicit_euler" or not is_undamped(system),
        adaptive=adaptive,
    )


def relax(
    system: SpringMassSystem,
    f_ext: Float[ArrayLike, "n 3"],
    *,
    duration: float = 1.0,
    dt: float = 0.04,
    u0: Float[ArrayLike, "n 3"] | None = None,
    v0: Float[ArrayLike, "n 3"] | None = None,
    **kwargs,
) -> tuple[Float[Array, "n 3"], Float[Array, "n 3"]]:
    r"""Runs the damped dynamics under a constant force for ``duration`` seconds.

    The end state approaches the static equilibrium (``equilibrium``) as the damping dissipates
    the motion; this is the dynamic route to it (REFERENCE 7.3).

    Args:
        system: the skin (damped, for the motion to settle).
        f_ext: (n, 3) constant external force.
        duration: simulated time (s); rounded to a whole number of frames ``dt``.
        dt: frame interval (s) at which the forcing is re-applied (it is constant anyway).
        u0: (n, 3) initial displacement (default: rest).
        v0: (n, 3) initial velocity (default: zero).
        **kwargs: passed to :func:`simulate` (solver, rtol, atol, ...).

    Returns:
        ``(u, v)`` at time ``duration``, each (n, 3).
    """
    f_ext = _check_state(system, "f_ext", f_ext)
    if not float(duration) > 0.0 or not float(dt) > 0.0:
        raise ValueError(f"duration and dt must be > 0, got duration={duration}, dt={dt}.")
    n_frames = max(int(round(float(duration) / float(dt))), 1) + 1
    forces = jnp.broadcast_to(f_ext[None], (n_frames, *f_ext.shape))
    us, vs = simulate(system, forces, dt=dt, u0=u0, v0=v0, **kwargs)
    return us[-1], vs[-1]
