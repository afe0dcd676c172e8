"""Reduced Euler-Lagrange dynamics in blendshape coordinates (seed 001, eqs. 5, 6, 10; DESIGN 4.3).

Two reduced models share one container, :class:`ReducedModel`:

* ``"paper"``: ``M c'' = Q`` (seed 001, eq. 5). The elastic forces are dropped from Q, as in the
  paper, so a constant force accelerates the coefficients forever and there is no static
  equilibrium.
* ``"galerkin"``: ``M c'' + D c' + K c = Q``, the Galerkin projection of the full spring-mass
  model linearised at rest (DESIGN 4.2, 4.4), with K = B^T H B and D = B^T C B.

This module holds the models, the SPD parametrization of a regressed mass and the generalized
acceleration; the integrators (the paper's explicit Euler, eq. 6; diffrax solvers; the exact
zero-order-hold propagator) are in :mod:`aujax.physics._reduced_integrate`. Everything handles
one sequence; batch with ``jax.vmap``.
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jaxtyping import Array, ArrayLike, Float

from .._checks import as_float, check_finite, check_scalar_positive, is_concrete


__all__ = [
    "FORMS",
    "ReducedModel",
    "cholesky_from_mass",
    "galerkin_model",
    "generalized_acceleration",
    "mass_from_cholesky",
    "paper_model",
    "reduced_force",
    "static_response",
]

FORMS = ("paper", "galerkin")


@struct.dataclass
class ReducedModel:
    """Linear second-order dynamics in K generalized coordinates.

    ``paper``: ``M c'' = Q`` (seed 001, eq. 5); ``galerkin``: ``M c'' + D c' + K c = Q``.

    Attributes:
        mass: (K, K) symmetric positive definite generalized mass M.
        stiffness: (K, K) generalized stiffness K (``galerkin`` only; None for ``paper``).
        damping: (K, K) generalized damping D (``galerkin`` only; None means undamped).
        force_map: optional (K, m) map g from directed muscle activations a (m,) to Q = g a.
        muscle_maps: optional (m, K, 3) maps G_m from paper-style muscle forces F (m, 3) to
            Q = sum_m G_m F_m.
        form: static, ``"paper"`` or ``"galerkin"``.

    Build with :func:`paper_model` or :func:`galerkin_model`, which check shapes.
    """

    mass: Float[Array, "K K"]
    stiffness: Float[Array, "K K"] | None = None
    damping: Float[Array, "K K"] | None = None
    force_map: Float[Array, "K m"] | None = None
    muscle_maps: Float[Array, "m K 3"] | None = None
    form: str = struct.field(pytree_node=False, default="paper")

    def __post_init__(self):
        if self.form not in FORMS:
            raise ValueError(f"form must be one of {FORMS}, got {self.form!r}.")

    @property
    def num_coordinates(self) -> int:
        """K, the number of generalized coordinates."""
        return jnp.shape(self.mass)[0]

    @property
    def has_damping(self) -> bool:
        """True when the acceleration depends on the velocity (galerkin with a damping matrix)."""
        return self.form == "galerkin" and self.damping is not None


# ------------------------------------------------------------------------------------------------
# construction and validation


def _check_square(name: str, x, k: int | None = None) -> int:
    shape = jnp.shape(x)
    if len(shape) != 2 or shape[0] != shape[1] or shape[0] == 0:
        raise ValueError(f"{name} must be a square (K, K) matrix, got shape {shape}.")
    if k is not None and shape[0] != k:
        raise ValueError(f"{name} must have shape (K, K) = ({k}, {k}), got shape {shape}.")
    check_finite(x, name)
    return shape[0]


def _check_symmetric(name: str, x) -> None:
    if not is_concrete(x):
        return
    a = np.asarray(x)
    scale = max(float(np.max(np.abs(a))), np.finfo(a.dtype).tiny)
    tol = 1e3 * np.finfo(a.dtype).eps * scale
    if np.max(np.abs(a - a.T)) > tol:
        raise ValueError(
            f"{name} must be symmetric; max |{name} - {name}^T| = {np.max(np.abs(a - a.T)):.3g}."
        )


def _check_maps(k: int, force_map, muscle_maps) -> None:
    m = None
    if force_map is not None:
        shape = jnp.shape(force_map)
        if len(shape) != 2 or shape[0] != k:
            raise ValueError(f"force_map must have shape (K, m) with K = {k}, got shape {shape}.")
        check_finite(force_map, "force_map")
        m = shape[1]
    if muscle_maps is not None:
        shape = jnp.shape(muscle_maps)
        if len(shape) != 3 or shape[1:] != (k, 3):
            raise ValueError(
                f"muscle_maps must have shape (m, K, 3) with K = {k}, got shape {shape}."
            )
        if m is not None and shape[0] != m:
            raise ValueError(
                f"muscle_maps has {shape[0]} muscles but force_map has {m}; they must agree."
            )
        check_finite(muscle_maps, "muscle_maps")


def _validate(model: ReducedModel) -> int:
    """Checks the model's shapes; returns K."""
    if not isinstance(model, ReducedModel):
        raise ValueError(f"model must be a ReducedModel, got {type(model)}.")
    k = _check_square("model.mass", model.mass)
    if model.form == "galerkin":
        if model.stiffness is None:
            raise ValueError("model.stiffness is required for form='galerkin'.")
        _check_square("model.stiffness", model.stiffness, k)
        if model.damping is not None:
            _check_square("model.damping", model.damping, k)
    else:
        if model.stiffness is not None or model.damping is not None:
            raise ValueError(
                "form='paper' has no stiffness or damping (seed 001, eq. 5); use "
                "galerkin_model for M c'' + D c' + K c = Q."
            )
    _check_maps(k, model.force_map, model.muscle_maps)
    return k


def paper_model(
    mass: Float[ArrayLike, "K K"],
    *,
    force_map: Float[ArrayLike, "K m"] | None = None,
    muscle_maps: Float[ArrayLike, "m K 3"] | None = None,
) -> ReducedModel:
    """The paper's reduced model ``M c'' = Q`` (seed 001, eq. 5).

    Args:
        mass: (K, K) symmetric positive definite generalized mass (computed by
            ``generalized_mass`` or regressed through :func:`mass_from_cholesky`).
        force_map: optional (K, m) map g for directed activations.
        muscle_maps: optional (m, K, 3) maps G_m for paper-style muscle forces.

    Returns:
        A ``ReducedModel`` with ``form="paper"``.

    Raises:
        ValueError: on wrong shapes, a non-symmetric mass or non-finite values.
    """
    mass = as_float(mass)
    model = ReducedModel(
        mass=mass,
        force_map=None if force_map is None else as_float(force_map),
        muscle_maps=None if muscle_maps is None else as_float(muscle_maps),
        form="paper",
    )
    _validate(model)
    _check_symmetric("mass", mass)
    return model


def galerkin_model(
    mass: Float[ArrayLike, "K K"],
    stiffness: Float[ArrayLike, "K K"],
    damping: Float[ArrayLike, "K K"] | None = None,
    *,
    force_map: Float[ArrayLike, "K m"] | None = None,
    muscle_maps: Float[ArrayLike, "m K 3"] | None = None,
) -> ReducedModel:
    """The Galerkin-projected model ``M c'' + D c' + K c = Q`` (DESIGN 4.3).

    Args:
        mass: (K, K) symmetric positive definite generalized mass.
        stiffness: (K, K) generalized stiffness ``B^T H B``.
        damping: (K, K) generalized damping ``B^T C B``, or None for an undamped model.
        force_map: optional (K, m) map g for directed activations.
        muscle_maps: optional (m, K, 3) maps G_m for paper-style muscle forces.

    Returns:
        A ``ReducedModel`` with ``form="galerkin"``.

    Raises:
        ValueError: on wrong shapes, non-symmetric mass or non-finite values.
    """
    mass = as_float(mass)
    model = ReducedModel(
        mass=mass,
        stiffness=as_float(stiffness),
        damping=None if damping is None else as_float(damping),
        force_map=None if force_map is None else as_float(force_map),
        muscle_maps=None if muscle_maps is None else as_float(muscle_maps),
        form="galerkin",
    )
    _validate(model)
    _check_symmetric("mass", mass)
    return model


def mass_from_cholesky(factor: Float[ArrayLike, "K K"], *, eps: float = 0.0) -> Float[Array, "K K"]:
    r"""SPD generalized mass from an unconstrained Cholesky factor (DESIGN 7.1).

    The network regresses an unconstrained (K, K) array; its strict upper triangle is ignored,
    its diagonal goes through a softplus:

    .. math::

        L = \mathrm{tril}(R, -1) + \mathrm{diag}(\mathrm{softplus}(\mathrm{diag} R) + \epsilon),
        \qquad M = L L^\top.

    Every input gives a symmetric positive definite M (for ``eps > 0`` even where the softplus
    underflows), and the map is smooth, so gradients flow to the factor.

    Args:
        factor: (K, K) unconstrained factor R.
        eps: non-negative floor added to the diagonal of L.

    Returns:
        (K, K) symmetric positive definite mass M.

    Raises:
        ValueError: on a non-square factor or negative ``eps``.
    """
    _check_square("factor", factor)
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}.")
    r = as_float(factor)
    diag = jax.nn.softplus(jnp.diagonal(r)) + eps
    lower = jnp.tril(r, -1) + jnp.diag(diag)
    m = lower @ lower.T
    return 0.5 * (m + m.T)


def cholesky_from_mass(mass: Float[ArrayLike, "K K"], *, eps: float = 0.0) -> Float[Array, "K K"]:
    """Inverse of :func:`mass_from_cholesky`: the lower-triangular R with ``M = L L^T``.

    Useful to initialise a regressor's output at a physical mass. Requires the Cholesky
    diagonal of M to exceed ``eps``.

    Args:
        mass: (K, K) symmetric positive definite matrix.
        eps: the same floor as passed to :func:`mass_from_cholesky`.

    Returns:
        (K, K) lower-triangular R with ``mass_from_cholesky(R, eps=eps) == mass``.

    Raises:
        ValueError: on a non-square or non-symmetric mass, or (when concrete) a mass whose
            Cholesky diagonal is not above ``eps``.
    """
    _check_square("mass", mass)
    _check_symmetric("mass", mass)
    lower = jnp.linalg.cholesky(as_float(mass))
    d = jnp.diagonal(lower) - eps
    if is_concrete(d) and not bool(jnp.all(d > 0)):
        raise ValueError("mass must be positive definite with Cholesky diagonal above eps.")
    raw_diag = d + jnp.log(-jnp.expm1(-d))  # softplus^{-1}(d), stable for large d
    return jnp.tril(lower, -1) + jnp.diag(raw_diag)


# ------------------------------------------------------------------------------------------------
# forces and accelerations


def reduced_force(
    model: ReducedModel,
    *,
    activations: Float[ArrayLike, " m"] | None = None,
    muscle_forces: Float[ArrayLike, "m 3"] | None = None,
) -> Float[Array, " K"]:
    r"""Generalized force of one frame from muscle activations or muscle forces (seed 001, eq. 9).

    Exactly one of ``activations`` (uses ``model.force_map``: ``Q = g a``) and ``muscle_forces``
    (uses ``model.muscle_maps``: ``Q = sum_m G_m F_m``) must be given. For a sequence, vmap over
    frames.

    Args:
        model: the reduced model holding the maps.
        activations: (m,) directed muscle activations a.
        muscle_forces: (m, 3) paper-style muscle force vectors F.

    Returns:
        (K,) generalized force Q.

    Raises:
        ValueError: if neither or both inputs are given, the needed map is missing, or shapes
            do not match.
    """
    _validate(model)
    if (activations is None) == (muscle_forces is None):
        raise ValueError("pass exactly one of activations (m,) or muscle_forces (m, 3).")
    if activations is not None:
        if model.force_map is None:
            raise ValueError("model.force_map is None; build the model with force_map=g.")
        m = jnp.shape(model.force_map)[1]
        if jnp.shape(activations) != (m,):
            raise ValueError(
                f"activations must have shape (m,) = ({m},), got shape {jnp.shape(activations)}."
            )
        check_finite(activations, "activations")
        return model.force_map @ as_float(activations)
    if model.muscle_maps is None:
        raise ValueError("model.muscle_maps is None; build the model with muscle_maps=G.")
    m = jnp.shape(model.muscle_maps)[0]
    if jnp.shape(muscle_forces) != (m, 3):
        raise ValueError(
            f"muscle_forces must have shape (m, 3) = ({m}, 3), got shape "
            f"{jnp.shape(muscle_forces)}."
        )
    check_finite(muscle_forces, "muscle_forces")
    return jnp.einsum("mkj,mj->k", model.muscle_maps, as_float(muscle_forces))


def _check_vector(name: str, x, k: int) -> Array:
    if jnp.shape(x) != (k,):
        raise ValueError(f"{name} must have shape (K,) = ({k},), got shape {jnp.shape(x)}.")
    check_finite(x, name)
    return as_float(x)


def _check_forcing(name: str, q, k: int) -> Array:
    shape = jnp.shape(q)
    if len(shape) != 2 or shape[1] != k or shape[0] == 0:
        raise ValueError(f"{name} must have shape (T, K) with T >= 1, K = {k}, got {shape}.")
    check_finite(q, name)
    return as_float(q)


def _check_dt(dt) -> None:
    if jnp.ndim(dt) != 0:
        raise ValueError(f"dt must be a scalar, got shape {jnp.shape(dt)}.")
    check_scalar_positive(dt, "dt")


def _check_initial_value_problem(model: ReducedModel, dt, force, **states):
    """Validates a trajectory call: the model, each (K,) start state, the (T, K) force and dt.

    Returns:
        The checked start states (in keyword order) followed by the force.
    """
    k = _validate(model)
    checked = [_check_vector(name, value, k) for name, value in states.items()]
    force = _check_forcing("force", force, k)
    _check_dt(dt)
    return (*checked, force)


def _model_dtype(model: ReducedModel, *arrays):
    """The float dtype that holds the model's matrices and ``arrays`` (numpy promotion)."""
    leaves = [model.mass, model.stiffness, model.damping, *arrays]
    return np.result_type(*[jnp.result_type(x) for x in leaves if x is not None])


def _accel_fn(model: ReducedModel, dtype):
    """Returns ``(c, cdot, Q) -> c''`` with M factored once, computed in ``dtype``.

    Inputs are cast to ``dtype`` and the result back to the dtype of ``c``, so a solver that
    keeps its state in another precision (diffrax promotes the state to the time dtype) works
    under strict dtype promotion.
    """
    factor = jax.scipy.linalg.cho_factor(model.mass.astype(dtype), lower=True)
    stiffness = None if model.stiffness is None else model.stiffness.astype(dtype)
    damping = None if model.damping is None else model.damping.astype(dtype)

    def accel(c, cdot, q):
        out_dtype = jnp.result_type(c)
        c, cdot, rhs = c.astype(dtype), cdot.astype(dtype), q.astype(dtype)
        if model.form == "galerkin":
            rhs = rhs - stiffness @ c
            if damping is not None:
                rhs = rhs - damping @ cdot
        return jax.scipy.linalg.cho_solve(factor, rhs).astype(out_dtype)

    return accel


def generalized_acceleration(
    model: ReducedModel,
    c: Float[ArrayLike, " K"],
    cdot: Float[ArrayLike, " K"],
    force: Float[ArrayLike, " K"],
) -> Float[Array, " K"]:
    r"""Generalized acceleration by a Cholesky solve (seed 001, eq. 10 for ``paper``).

    .. math::

        \ddot c = M^{-1} Q \ (\text{paper}), \qquad
        \ddot c = M^{-1} (Q - D \dot c - K c) \ (\text{galerkin}).

    Args:
        model: the reduced model.
        c: (K,) generalized position.
        cdot: (K,) generalized velocity (ignored by ``paper`` and undamped ``galerkin``).
        force: (K,) generalized force Q.

    Returns:
        (K,) acceleration c''.

    Raises:
        ValueError: on shape mismatch or non-finite inputs.
    """
    k = _validate(model)
    c = _check_vector("c", c, k)
    cdot = _check_vector("cdot", cdot, k)
    force = _check_vector("force", force, k)
    dtype = _model_dtype(model, c, cdot, force)
    return _accel_fn(model, dtype)(c.astype(dtype), cdot.astype(dtype), force.astype(dtype))


def static_response(model: ReducedModel, force: Float[ArrayLike, " K"]) -> Float[Array, " K"]:
    r"""Static equilibrium of the Galerkin model, ``c = K^{-1} Q`` (DESIGN 4.4).

    Only ``galerkin`` has one: ``paper`` (``M c'' = Q``) has no restoring force, so a constant
    force accelerates it forever.

    Args:
        model: a ``galerkin`` reduced model with nonsingular stiffness.
        force: (K,) generalized force Q.

    Returns:
        (K,) equilibrium coefficients c.

    Raises:
        ValueError: for ``form="paper"`` or on shape mismatch.
    """
    k = _validate(model)
    if model.form != "galerkin":
        raise ValueError(
            f"static_response needs form='galerkin', got form={model.form!r}: the paper's model "
            "M c'' = Q has no elastic restoring force, so a constant force accelerates it forever "
            "and there is no static equilibrium (DESIGN 4.4)."
        )
    force = _check_vector("force", force, k)
    return jnp.linalg.solve(model.stiffness, force)
