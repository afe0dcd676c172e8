"""Integrators of the reduced dynamics (seed 001, eqs. 6 and 10; DESIGN 4.3).

* :func:`euler_paper`: the paper's explicit Euler on the frame grid (eq. 6), with the frame
  interval made explicit;
* :func:`simulate_reduced`: diffrax solvers with the generalized force held constant between
  frames, states saved at frame times;
* :func:`simulate_reduced_exact`: the exact zero-order-hold propagator of the linear model (stable
  at any dt; the choice for ``galerkin``).

Each integrates one sequence of a :class:`aujax.physics.ReducedModel`; batch with ``jax.vmap``.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from ._integrate import solve_frames
from ._reduced import ReducedModel, _accel_fn, _check_initial_value_problem, _model_dtype


__all__ = ["euler_paper", "simulate_reduced", "simulate_reduced_exact", "zoh_propagator"]


def euler_paper(
    model: ReducedModel,
    c0: Float[ArrayLike, " K"],
    c1: Float[ArrayLike, " K"],
    force: Float[ArrayLike, "T K"],
    *,
    dt: float,
) -> Float[Array, "T K"]:
    r"""The paper's explicit Euler on the frame grid (seed 001, eq. 6), dt made explicit.

    .. math::

        c_{t+1} = c_t + \Delta t\, \dot c_t, \qquad
        \dot c_{t+1} = \dot c_t + \Delta t\, \ddot c_t, \qquad
        \ddot c_t = M^{-1}(Q_t - D \dot c_t - K c_t),

    (D and K absent for ``paper``), started from the first two observed frames with the initial
    velocity ``cdot_0 = (c1 - c0) / dt`` (seed 001, text of eq. 10).

    Frames. Inputs: ``c0 = c(0)`` and ``c1 = c(dt)`` (observed), and ``force[t] = Q(t dt)`` for
    t = 0..T-1. Output: ``c[t] = c(t dt)`` for t = 0..T-1, with ``c[0] = c0`` and
    ``c[1] = c0 + dt (c1 - c0) / dt = c1`` (up to round-off). ``force[t]`` first changes the
    velocity at frame t+1 and the position at frame t+2, so ``force[T-2]`` and ``force[T-1]``
    do not influence the output (their gradients are zero). This lag is inherent to explicit
    Euler on positions; :func:`simulate_reduced` (forces acting within each interval) leaves only
    ``force[T-1]`` unused.

    Args:
        model: ``paper`` or ``galerkin`` reduced model.
        c0: (K,) coefficients at frame 0.
        c1: (K,) coefficients at frame 1.
        force: (T, K) generalized force per frame, T >= 1.
        dt: frame interval in seconds (> 0). ``dt=1`` reproduces eq. 6 literally.

    Returns:
        (T, K) coefficients at frames 0..T-1.

    Raises:
        ValueError: on shape mismatch, non-finite inputs or non-positive dt.
    """
    c0, c1, force = _check_initial_value_problem(model, dt, force, c0=c0, c1=c1)
    dtype = _model_dtype(model, c0, c1, force)
    c0, c1, force = c0.astype(dtype), c1.astype(dtype), force.astype(dtype)
    accel = _accel_fn(model, dtype)
    cdot0 = (c1 - c0) / dt

    def step(state, q):
        c, cdot = state
        c_next = c + dt * cdot
        cdot_next = cdot + dt * accel(c, cdot, q)
        return (c_next, cdot_next), c_next

    _, cs = jax.lax.scan(step, (c0, cdot0), force[:-1])
    return jnp.concatenate([c0[None, :], cs], axis=0)


def simulate_reduced(
    model: ReducedModel,
    c0: Float[ArrayLike, " K"],
    cdot0: Float[ArrayLike, " K"],
    force: Float[ArrayLike, "T K"],
    *,
    dt: float,
    solver: str = "tsit5",
    adjoint: str = "recursive",
    **solver_kwargs,
) -> tuple[Float[Array, "T K"], Float[Array, "T K"]]:
    r"""Reduced dynamics through diffrax with forces held constant between frames (DESIGN 4.3).

    Solves ``M c'' = Q`` (``paper``, seed 001 eq. 5) or ``M c'' + D c' + K c = Q`` (``galerkin``)
    with ``aujax.physics._integrate.solve_frames``: ``force[t]`` acts on ``[t dt, (t+1) dt)``,
    states are saved at the frame times ``t dt`` for t = 0..T-1 with ``cs[0] = c0``, so
    ``force[T-1]`` does not affect the result. M is Cholesky-factored once per call.

    ``"semi_implicit_euler"`` is allowed only when the acceleration does not depend on the
    velocity (``paper``, or ``galerkin`` without damping); ``velocity_dependent`` is passed to
    the solver accordingly, so undamped models skip the velocity argument.

    Args:
        model: ``paper`` or ``galerkin`` reduced model.
        c0: (K,) coefficients at frame 0.
        cdot0: (K,) velocity at frame 0 (the paper uses ``(c(dt) - c(0)) / dt``).
        force: (T, K) generalized force per frame, T >= 1.
        dt: frame interval in seconds (> 0).
        solver: ``"euler"``, ``"heun"``, ``"tsit5"``, ``"kvaerno5"`` or
            ``"semi_implicit_euler"``.
        adjoint: ``"recursive"`` (reverse mode) or ``"forward"`` (forward mode).
        **solver_kwargs: passed to ``solve_frames``: ``rtol``, ``atol``, ``dt0``, ``substeps``,
            ``max_steps``, ``name``, ``adaptive``.

    Returns:
        ``(cs, cdots)``: (T, K) coefficients and velocities at frames 0..T-1.

    Raises:
        ValueError: on shape mismatch, non-finite inputs, ``semi_implicit_euler`` with a damped
            model, or bad solver settings (from ``solve_frames``).
    """
    c0, cdot0, force = _check_initial_value_problem(model, dt, force, c0=c0, cdot0=cdot0)
    if "velocity_dependent" in solver_kwargs:
        raise ValueError(
            "velocity_dependent is derived from the model (damping or not); do not pass it."
        )
    if solver == "semi_implicit_euler" and model.has_damping:
        raise ValueError(
            "solver='semi_implicit_euler' cannot express the velocity-dependent damping "
            "D c' of this galerkin model (model.damping is set); use 'tsit5', 'heun', "
            "'kvaerno5' or 'euler', or build the model without damping."
        )
    solver_kwargs.setdefault("name", f"simulate_reduced[{model.form}]")
    dtype = _model_dtype(model, c0, cdot0, force)
    # diffrax keeps the state in (at least) the time dtype, float64 when x64 is enabled; solve in
    # that precision and return the inputs' precision.
    solve_dtype = np.result_type(dtype, jnp.result_type(float))
    cs, cdots = solve_frames(
        _accel_fn(model, solve_dtype),
        c0.astype(solve_dtype),
        cdot0.astype(solve_dtype),
        force.astype(solve_dtype),
        dt=dt,
        solver=solver,
        adjoint=adjoint,
        velocity_dependent=model.has_damping,
        **solver_kwargs,
    )
    return cs.astype(dtype), cdots.astype(dtype)


def zoh_propagator(
    model: ReducedModel, *, dt: float, dtype=None
) -> tuple[Float[Array, "2K 2K"], Float[Array, "2K K"]]:
    r"""The exact zero-order-hold discretisation ``x_{t+1} = Phi x_t + Gamma Q_t`` of the reduced
    dynamics, state ``x = (c, c')`` (see :func:`simulate_reduced_exact`).

    Args:
        model: ``paper`` or ``galerkin`` reduced model.
        dt: frame interval in seconds (> 0).
        dtype: computation dtype (default: the model's).

    Returns:
        ``(Phi, Gamma)``: (2K, 2K) state transition and (2K, K) force-to-state map over one frame.
    """
    k = jnp.shape(model.mass)[0]
    dtype = jnp.asarray(model.mass).dtype if dtype is None else dtype
    mass = jnp.asarray(model.mass, dtype)
    chol = jax.scipy.linalg.cho_factor(mass)
    minv = jax.scipy.linalg.cho_solve(chol, jnp.eye(k, dtype=dtype))
    zero = jnp.zeros((k, k), dtype)
    stiff = zero if model.stiffness is None else jnp.asarray(model.stiffness, dtype)
    damp = zero if model.damping is None else jnp.asarray(model.damping, dtype)
    big = jnp.block([
        [zero, jnp.eye(k, dtype=dtype), zero],
        [-minv @ stiff, -minv @ damp, minv],
        [zero, zero, zero],
    ])  # fmt: skip
    e = jax.scipy.linalg.expm(big * dt)
    return e[: 2 * k, : 2 * k], e[: 2 * k, 2 * k :]


def simulate_reduced_exact(
    model: ReducedModel,
    c0: Float[ArrayLike, " K"],
    cdot0: Float[ArrayLike, " K"],
    force: Float[ArrayLike, "T K"],
    *,
    dt: float,
) -> tuple[Float[Array, "T K"], Float[Array, "T K"]]:
    r"""The reduced dynamics solved exactly on the frame grid (zero-order-hold discretisation).

    ``M c'' + D c' + K c = Q`` (``galerkin``; ``paper`` has D = K = 0, seed 001 eq. 5) is linear
    with the force held constant over each frame interval (as in :func:`simulate_reduced`), so
    the state ``x = (c, c')`` advances by

    .. math::

        x_{t+1} = \Phi x_t + \Gamma Q_t, \qquad
        \exp\!\left(\begin{bmatrix} A & B \\ 0 & 0 \end{bmatrix} \Delta t\right)
        = \begin{bmatrix} \Phi & \Gamma \\ 0 & I \end{bmatrix},\quad
        A = \begin{bmatrix} 0 & I \\ -M^{-1}K & -M^{-1}D \end{bmatrix},\;
        B = \begin{bmatrix} 0 \\ M^{-1} \end{bmatrix},

    one matrix exponential of size 3K per call (``jax.scipy.linalg.expm``, differentiable), then
    T - 1 matrix-vector steps. It is the limit of any convergent solver and is stable for every
    dt, so it suits the stiff ``galerkin`` form at 25 fps, where the paper's explicit Euler is
    unstable (omega dt ~ 4.6) and an adaptive diffrax solver takes many steps (measured in the
    physics experiment: tsit5 ~5 s per training step against ~0.1 s with this propagator).

    Args:
        model: ``paper`` or ``galerkin`` reduced model.
        c0: (K,) coefficients at frame 0.
        cdot0: (K,) velocity at frame 0.
        force: (T, K) generalized force per frame; ``force[t]`` acts on ``[t dt, (t+1) dt)``.
        dt: frame interval in seconds (> 0).

    Returns:
        ``(cs, cdots)``: (T, K) coefficients and velocities at frames 0..T-1 (``cs[0] = c0``).
    """
    c0, cdot0, force = _check_initial_value_problem(model, dt, force, c0=c0, cdot0=cdot0)
    k = c0.shape[0]
    dtype = _model_dtype(model, c0, cdot0, force)
    phi, gamma = zoh_propagator(model, dt=dt, dtype=dtype)

    def step(x, q):
        x = phi @ x + gamma @ q
        return x, x

    x0 = jnp.concatenate([c0, cdot0]).astype(dtype)
    _, xs = jax.lax.scan(step, x0, force[:-1].astype(dtype))
    xs = jnp.concatenate([x0[None], xs], axis=0)
    return xs[:, :k], xs[:, k:]
