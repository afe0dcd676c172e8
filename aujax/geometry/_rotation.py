"""Rotations from axis-angle vectors (Rodrigues' formula), smooth through the zero rotation."""

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._checks import as_float, check_finite, check_shape


__all__ = ["rotation_from_axis_angle", "skew_matrix"]


def skew_matrix(v: Float[Array, "3"]) -> Float[Array, "3 3"]:
    """The cross-product matrix ``[v]_x`` with ``[v]_x w = v x w``.

    Args:
        v: (3,) vector.

    Returns:
        (3, 3) antisymmetric matrix.
    """
    zero = jnp.zeros((), dtype=v.dtype)
    return jnp.stack(
        [
            jnp.stack([zero, -v[2], v[1]]),
            jnp.stack([v[2], zero, -v[0]]),
            jnp.stack([-v[1], v[0], zero]),
        ]
    )


def rotation_from_axis_angle(axis_angle: Float[ArrayLike, "3"]) -> Float[Array, "3 3"]:
    r"""Rotation matrix of an axis-angle (rotation) vector by Rodrigues' formula.

    .. math::
        R = I + \frac{\sin\theta}{\theta} [\omega]_\times
              + \frac{1 - \cos\theta}{\theta^2} [\omega]_\times^2,
        \qquad \theta = |\omega|

    The second coefficient is evaluated as ``2 sin^2(theta/2) / theta^2`` (no cancellation), and
    both coefficients switch to their Taylor series near ``theta = 0``, so the function and its
    derivatives are accurate and finite at the identity. Same convention as
    ``scipy.spatial.transform.Rotation.from_rotvec``.

    Args:
        axis_angle: (3,) rotation axis times the angle in radians.

    Returns:
        (3, 3) proper rotation matrix.
    """
    w = as_float(axis_angle, "axis_angle")
    check_shape(w, "axis_angle", (3,), "(3,)")
    check_finite(w, "axis_angle")
    theta2 = jnp.sum(w * w)
    small = theta2 < jnp.finfo(w.dtype).eps
    safe2 = jnp.where(small, jnp.ones_like(theta2), theta2)
    theta = jnp.sqrt(safe2)
    a = jnp.where(small, 1.0 - theta2 / 6.0 + theta2 * theta2 / 120.0, jnp.sin(theta) / theta)
    half = jnp.sin(0.5 * theta)
    b = jnp.where(small, 0.5 - theta2 / 24.0 + theta2 * theta2 / 720.0, 2.0 * half * half / safe2)
    k = skew_matrix(w)
    return jnp.eye(3, dtype=w.dtype) + a * k + b * (k @ k)
