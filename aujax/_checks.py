"""Eager input validation shared by every package of aujax.

The value checks run only on concrete values: under ``jax.jit``, ``jax.vmap`` or ``jax.grad``
(tracers) they are skipped and only the static shape checks remain. This module imports nothing
of aujax, so every package may use it.
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike


__all__ = [
    "as_float",
    "check_finite",
    "check_scalar_positive",
    "check_shape",
    "check_triangles",
    "is_concrete",
]


def is_concrete(*xs) -> bool:
    """Tells whether values can be inspected eagerly.

    Args:
        *xs: Any values (arrays, scalars, None, ...).

    Returns:
        True if none of ``xs`` is a JAX tracer.
    """
    return not any(isinstance(x, jax.core.Tracer) for x in xs)


def as_float(x: ArrayLike, name: str | None = None, dtype=None) -> Array:
    """Converts ``x`` to a floating-point jax array.

    Args:
        x: An array-like.
        name: If given, ``x`` must hold real numbers (floating-point or integer) and the error
            names it; if None, any dtype is converted.
        dtype: The result dtype; None keeps a floating dtype and turns any other one into JAX's
            default float.

    Returns:
        ``x`` as a jax array of ``dtype``, or of a floating dtype.

    Raises:
        ValueError: If ``name`` is given and ``x`` holds neither floats nor integers.
    """
    x = jnp.asarray(x)
    if name is not None and not (
        jnp.issubdtype(x.dtype, jnp.floating) or jnp.issubdtype(x.dtype, jnp.integer)
    ):
        raise ValueError(f"{name} must hold real numbers, got dtype {x.dtype}.")
    if dtype is not None:
        return x.astype(dtype)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    return x


def check_shape(x: ArrayLike, name: str, shape: Sequence[int | None], what: str) -> None:
    """Checks the (static) shape of ``x``; runs on tracers too.

    Args:
        x: An array-like.
        name: The argument's name, for the error.
        shape: The expected shape; ``None`` matches any size.
        what: The expected shape as the error shows it, e.g. ``"(n, 3)"``.

    Raises:
        ValueError: If ``jnp.shape(x)`` does not match ``shape``.
    """
    got = jnp.shape(x)
    if len(got) != len(shape) or any(
        s is not None and s != g for s, g in zip(shape, got, strict=True)
    ):
        raise ValueError(f"{name} must have shape {what}, got shape {tuple(got)}.")


def check_finite(
    x: ArrayLike, name: str, *, message: str = "{name} contains NaN or inf values."
) -> None:
    """Checks that a concrete array holds no NaN or inf; skips tracers.

    Args:
        x: An array-like.
        name: The argument's name, for the error.
        message: The error text; ``{name}`` is replaced by ``name``.

    Raises:
        ValueError: If ``x`` is concrete and holds NaN or inf.
    """
    if is_concrete(x) and not np.all(np.isfinite(np.asarray(x))):
        raise ValueError(message.format(name=name))


def check_scalar_positive(x, name: str) -> None:
    """Checks that a concrete scalar is > 0 (NaN fails); skips tracers.

    Args:
        x: A scalar (Python number or 0-d array).
        name: The argument's name, for the error.

    Raises:
        ValueError: If ``x`` is concrete and not > 0.
    """
    if is_concrete(x) and not float(x) > 0.0:
        raise ValueError(f"{name} must be > 0, got {x}.")


def check_triangles(triangles: ArrayLike, name: str, n_vertices: int) -> np.ndarray:
    """Checks a concrete triangle list: (F, 3) integer indices of ``n_vertices`` vertices, F >= 1.

    Args:
        triangles: An array-like of vertex indices.
        name: The argument's name, for the error.
        n_vertices: The number of vertices the indices refer to.

    Returns:
        The triangles as an (F, 3) NumPy array of their own integer dtype.

    Raises:
        ValueError: A wrong shape, a non-integer dtype or an index outside ``[0, n_vertices)``.
    """
    tri = np.asarray(triangles)
    if tri.ndim != 2 or tri.shape[1] != 3 or tri.shape[0] == 0:
        raise ValueError(f"{name} must have shape (F, 3) with F >= 1, got shape {tri.shape}.")
    if not np.issubdtype(tri.dtype, np.integer):
        raise ValueError(f"{name} must hold integers (vertex indices), got dtype {tri.dtype}.")
    if tri.min() < 0 or tri.max() >= n_vertices:
        raise ValueError(
            f"{name} must index vertices in [0, {n_vertices}), got range "
            f"[{tri.min()}, {tri.max()}]."
        )
    return tri
