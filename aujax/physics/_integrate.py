r"""Second-order ODE integration on a frame grid with piecewise-constant forcing.

Shared by the full Cartesian model (:mod:`aujax.physics._dynamics`) and the reduced
(generalized-coordinate) models. The ODE is

.. math:: \ddot x(t) = a\big(x(t), \dot x(t), f_k\big), \qquad t \in [t_k, t_{k+1}),\;
    t_k = k\,\Delta t,

i.e. frame k's forcing ``f_k`` acts on ``[k dt, (k + 1) dt)``. Given T frames of forcing, the
states are saved at the T frame times ``t_0, ..., t_{T-1}`` with ``xs[0] = x0``, so T - 1
intervals are integrated and the last frame's forcing ``f_{T-1}`` (which acts after the last
saved time) does not affect the result. Each interval is one ``diffrax.diffeqsolve`` inside a
``lax.scan``, so the forcing is exactly constant within a solve and step-size control never
straddles a jump in the forcing.
"""

from collections.abc import Callable
from typing import Any

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import PyTree

from .._checks import check_scalar_positive


__all__ = ["ADJOINTS", "SOLVERS", "solve_frames"]

SOLVERS = ("euler", "heun", "tsit5", "kvaerno5", "semi_implicit_euler")
"""Solver names accepted by :func:`solve_frames`."""

ADJOINTS = ("recursive", "forward")
"""Adjoints of :func:`solve_frames`. diffrax's ``DirectAdjoint`` is deliberately not offered: diffrax
itself recommends against it, and through an adaptive tsit5 solve of the full skin model with traced
stiffness/damping its reverse-mode derivative differed from forward mode and finite differences by
1.2e-5 relative (the recursive adjoint: 1e-11). See docs/physics.md."""
"""Adjoint names accepted by :func:`solve_frames`."""

_ADAPTIVE_BY_DEFAULT = {"tsit5": True, "kvaerno5": True}

# failure codes -> (reason, hint); code 0 is success
_FAILURES = (
    ("", ""),
    ("max_steps reached", "reduce dt or raise max_steps"),
    ("minimum step size reached", "the problem may be too stiff; try kvaerno5 or loosen rtol"),
    ("too many rejected steps", "loosen rtol/atol or raise max_steps"),
    ("the solver reported an error", "check the inputs for NaN/inf and the solver settings"),
    (
        "non-finite state (NaN or inf)",
        "an explicit step is probably beyond its stability limit; raise substeps or use an "
        "adaptive solver (tsit5)",
    ),
)


def _failure_code(result, y) -> jax.Array:
    """Maps a diffrax result and the end state of one interval to a failure code (int32)."""
    finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(y)]))
    code = jnp.select(
        [
            result == diffrax.RESULTS.successful,
            result == diffrax.RESULTS.max_steps_reached,
            result == diffrax.RESULTS.dt_min_reached,
            result == diffrax.RESULTS.max_steps_rejected,
        ],
        [jnp.int32(0), jnp.int32(1), jnp.int32(2), jnp.int32(3)],
        default=jnp.int32(4),
    )
    return jnp.where((code == 0) & ~finite, jnp.int32(5), code)


def solve_frames(
    accel_fn: Callable[[PyTree, PyTree, PyTree], PyTree],
    x0: PyTree,
    v0: PyTree,
    forcing: PyTree,
    *,
    dt: float,
    solver: str = "tsit5",
    rtol: float = 1e-6,
    atol: float = 1e-9,
    dt0: float | None = None,
    substeps: int = 1,
    max_steps: int = 4096,
    adjoint: str = "recursive",
    name: str = "solve",
    velocity_dependent: bool = True,
    adaptive: bool | None = None,
) -> tuple[PyTree, PyTree]:
    r"""Integrates ``x'' = accel_fn(x, x', f_k)`` frame to frame with forcing held constant.

    Frame k's forcing acts on ``[k dt, (k + 1) dt)``; states are saved at the frame times
    ``t_0 = 0, ..., t_{T-1} = (T - 1) dt`` with ``xs[0] = x0``, so the T - 1 intervals between
    them are integrated (one ``diffrax.diffeqsolve`` each, inside ``lax.scan``) and the last
    frame's forcing is not used. With T = 1 nothing is integrated.

    Solvers:

    * ``"euler"``, ``"heun"``: explicit, constant step ``dt / substeps``;
    * ``"tsit5"``: explicit 5th order, adaptive (``PIDController(rtol, atol)``) by default;
    * ``"kvaerno5"``: implicit (stiff) 5th order, adaptive by default;
    * ``"semi_implicit_euler"``: symplectic Euler on ``(v, x)``, constant step ``dt / substeps``
      (``v += a(x) h`` then ``x += v h``). Only valid if ``accel_fn`` does not depend on the
      velocity: pass ``velocity_dependent=False`` (it is then called with zero velocity).

    Args:
        accel_fn: ``(x, v, f) -> x''`` with the structure of ``x``; ``f`` is one frame of
            ``forcing``.
        x0: initial position pytree (e.g. (n, 3) or (K,)).
        v0: initial velocity, same structure as ``x0``.
        forcing: pytree whose leaves have a leading frame axis T >= 1.
        dt: frame interval (s), > 0.
        solver: one of :data:`SOLVERS`.
        rtol: relative tolerance of adaptive solvers.
        atol: absolute tolerance of adaptive solvers.
        dt0: initial step of adaptive solvers (None: chosen automatically). Constant-step
            solvers take ``substeps`` instead.
        substeps: steps per frame interval for constant-step solvers (and for tsit5/kvaerno5
            with ``adaptive=False``).
        max_steps: maximum solver steps per frame interval.
        adjoint: ``"recursive"`` (``RecursiveCheckpointAdjoint``, for reverse mode),
            or ``"forward"`` (``ForwardMode``, for ``jax.jvp``/``jax.jacfwd``); see
            :data:`ADJOINTS` for why ``DirectAdjoint`` is not offered.
        name: name of this solve, used in error messages.
        velocity_dependent: whether ``accel_fn`` depends on the velocity; must be False for
            ``"semi_implicit_euler"``.
        adaptive: override step-size control of tsit5/kvaerno5 (None: adaptive); constant-step
            solvers cannot be adaptive.

    Returns:
        ``(xs, vs)``: pytrees like ``x0``/``v0`` with a leading axis of T frames.

    Raises:
        ValueError: on unknown solver/adjoint names, bad dt/substeps/max_steps, mismatched
            ``x0``/``v0``/``forcing`` shapes, or ``"semi_implicit_euler"`` with
            ``velocity_dependent=True``.
        EquinoxRuntimeError: at run time, if a solve fails (max steps, step size, non-finite
            state); the message names ``name``, the solver, the reason and a remedy.
    """
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}.")
    if adjoint == "direct":
        raise ValueError(
            "adjoint='direct' (diffrax.DirectAdjoint) is not supported: its reverse-mode "
            "derivative was measured 1.2e-5 off through adaptive solves; use 'recursive' for "
            "reverse mode (jax.grad) or 'forward' for forward mode (jax.jvp, jax.jacfwd)."
        )
    if adjoint not in ADJOINTS:
        raise ValueError(f"adjoint must be one of {ADJOINTS}, got {adjoint!r}.")
    if solver == "semi_implicit_euler" and velocity_dependent:
        raise ValueError(
            f"{name}: solver 'semi_implicit_euler' cannot express velocity-dependent "
            "acceleration (damping); use 'tsit5', 'heun' or 'kvaerno5', or pass "
            "velocity_dependent=False if the acceleration does not depend on the velocity."
        )
    check_scalar_positive(dt, "dt")
    if not isinstance(substeps, int) or substeps < 1:
        raise ValueError(f"substeps must be an int >= 1, got {substeps!r}.")
    if not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"max_steps must be an int >= 1, got {max_steps!r}.")
    if adaptive is None:
        adaptive = _ADAPTIVE_BY_DEFAULT.get(solver, False)
    if adaptive and solver not in _ADAPTIVE_BY_DEFAULT:
        raise ValueError(f"adaptive=True needs solver 'tsit5' or 'kvaerno5', got {solver!r}.")
    if dt0 is not None and not adaptive:
        raise ValueError(f"dt0 applies to adaptive solvers only; for {solver!r} use substeps.")
    if jax.tree.structure(x0) != jax.tree.structure(v0):
        raise ValueError("v0 must have the same pytree structure as x0.")
    for a, b in zip(jax.tree.leaves(x0), jax.tree.leaves(v0), strict=True):
        if jnp.shape(a) != jnp.shape(b):
            raise ValueError(
                f"v0 must have the shapes of x0, got {jnp.shape(b)} vs {jnp.shape(a)}."
            )
    leaves = jax.tree.leaves(forcing)
    if not leaves or any(jnp.ndim(leaf) == 0 for leaf in leaves):
        raise ValueError("forcing must be a pytree of arrays with a leading frame axis T.")
    n_frames = jnp.shape(leaves[0])[0]
    if n_frames < 1 or any(jnp.shape(leaf)[0] != n_frames for leaf in leaves):
        raise ValueError(
            f"forcing leaves must share a leading frame axis T >= 1, got shapes "
            f"{[jnp.shape(leaf) for leaf in leaves]}."
        )
    if n_frames == 1:
        return jax.tree.map(lambda a: a[None], x0), jax.tree.map(lambda a: a[None], v0)

    zero_v = jax.tree.map(jnp.zeros_like, v0)
    if solver == "semi_implicit_euler":
        terms: Any = (
            diffrax.ODETerm(lambda t, x, f: accel_fn(x, zero_v, f)),
            diffrax.ODETerm(lambda t, v, f: v),
        )
    else:
        terms = diffrax.ODETerm(lambda t, y, f: (y[1], accel_fn(y[0], y[1], f)))
    solver_obj = {
        "euler": diffrax.Euler,
        "heun": diffrax.Heun,
        "tsit5": diffrax.Tsit5,
        "kvaerno5": diffrax.Kvaerno5,
        "semi_implicit_euler": diffrax.SemiImplicitEuler,
    }[solver]()
    if adaptive:
        controller: Any = diffrax.PIDController(rtol=rtol, atol=atol)
        step0 = dt0
    else:
        controller = diffrax.ConstantStepSize()
        step0 = dt / substeps
    adjoint_obj = {
        "recursive": diffrax.RecursiveCheckpointAdjoint,
        "forward": diffrax.ForwardMode,
    }[adjoint]()

    def interval(carry, f):
        y, code = carry
        sol = diffrax.diffeqsolve(
            terms,
            solver_obj,
            0.0,
            dt,
            step0,
            y,
            args=f,
            saveat=diffrax.SaveAt(t1=True),
            stepsize_controller=controller,
            max_steps=max_steps,
            adjoint=adjoint_obj,
            throw=False,
        )
        y1 = jax.tree.map(lambda a: a[-1], sol.ys)
        new = _failure_code(sol.result, y1)
        code = jnp.where(code == 0, new, code)
        return (y1, code), y1

    y0 = (v0, x0) if solver == "semi_implicit_euler" else (x0, v0)
    head = jax.tree.map(lambda a: a[:-1], forcing)
    (_, code), ys = jax.lax.scan(interval, (y0, jnp.int32(0)), head)
    if solver == "semi_implicit_euler":
        ys = (ys[1], ys[0])
    xs, vs = jax.tree.map(lambda a0, a: jnp.concatenate([a0[None], a]), (x0, v0), ys)
    messages = [
        f"{name} ({solver}): diffrax solve failed between frames — {reason}; {hint}"
        for reason, hint in _FAILURES
    ]
    return eqx.branched_error_if((xs, vs), code != 0, code, messages)
