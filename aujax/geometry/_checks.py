"""Eager input validation specific to the geometry functions (the shared checks live in
:mod:`aujax._checks`).

Every check runs only on concrete values: under ``jax.jit`` or ``jax.vmap`` (tracers) the value
checks are skipped and only the static shape checks remain.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from .._checks import check_shape, is_concrete


def common_float_dtype(*xs) -> np.dtype:
    """The widest floating dtype among the arrays in ``xs``, else JAX's default float.

    Python scalars, lists and tuples are weakly typed: they never widen the result (a float32
    point set with ``depth=60.0`` stays float32). Integer arrays count as the default float.
    """
    dtypes = [x.dtype for x in xs if hasattr(x, "dtype")]
    floats = [d for d in dtypes if jnp.issubdtype(d, jnp.floating)]
    if not floats:
        return jnp.zeros((), dtype=float).dtype
    out = floats[0]
    for d in floats[1:]:
        out = np.promote_types(out, d)
    return jax.dtypes.canonicalize_dtype(out)


def check_points(x: Array, name: str, dim: int) -> None:
    """Raises ValueError unless ``x`` has shape (n, dim)."""
    check_shape(x, name, (None, dim), f"(n, {dim})")


def check_same_length(a: Array, a_name: str, b: Array, b_name: str) -> None:
    """Raises ValueError unless ``a`` and ``b`` have the same leading dimension."""
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"{a_name} and {b_name} must hold the same number of points, "
            f"got {a.shape[0]} and {b.shape[0]}."
        )


def check_min_points(x: Array, name: str, minimum: int, purpose: str) -> None:
    """Raises ValueError if ``x`` has fewer than ``minimum`` rows."""
    if x.shape[0] < minimum:
        raise ValueError(
            f"{name} must hold at least {minimum} points for {purpose}, got {x.shape[0]}."
        )


def check_positive(x: Array, name: str) -> None:
    """Raises ValueError unless every entry of a concrete array is finite and > 0."""
    if is_concrete(x):
        v = np.asarray(x)
        if not (np.all(np.isfinite(v)) and np.all(v > 0)):
            raise ValueError(f"{name} must be finite and positive, got min {np.min(v)!r}.")


def affine_rank(points: np.ndarray, weights: np.ndarray | None = None) -> int:
    """Dimension of the affine hull of ``points`` (n, d), counting only positive weights.

    A point set is called degenerate when the smallest needed singular value of its centred
    (weighted) coordinates is below ``1e3 * eps * largest``: exact or round-off collinearity or
    coplanarity, not mere ill-conditioning.
    """
    p = np.asarray(points, dtype=np.float64)
    w = np.ones(p.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / np.sum(w)
    centred = (p - w @ p) * np.sqrt(w)[:, None]
    s = np.linalg.svd(centred, compute_uv=False)
    if s.size == 0 or s[0] == 0:
        return 0
    dtype = np.asarray(points).dtype
    eps = np.finfo(dtype if dtype.kind == "f" else np.float64).eps
    return int(np.sum(s > 1e3 * eps * s[0]))


def check_affine_rank(
    points: Array, name: str, minimum: int, what: str, weights: Array | None = None
) -> None:
    """Raises ValueError if concrete ``points`` span fewer than ``minimum`` affine dimensions."""
    if is_concrete(points, weights) and affine_rank(np.asarray(points), weights) < minimum:
        raise ValueError(f"{name} is degenerate: the points must not be {what}.")


def check_indices(indices: ArrayLike, name: str, n: int, minimum: int) -> Array:
    """Validates a 1-D integer index array into ``n`` points with at least ``minimum`` entries."""
    idx = jnp.asarray(indices)
    if idx.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of indices, got shape {tuple(idx.shape)}.")
    if not jnp.issubdtype(idx.dtype, jnp.integer):
        raise ValueError(f"{name} must hold integers, got dtype {idx.dtype}.")
    if idx.shape[0] < minimum:
        raise ValueError(f"{name} must hold at least {minimum} indices, got {idx.shape[0]}.")
    if is_concrete(idx):
        v = np.asarray(idx)
        if np.any(v < 0) or np.any(v >= n):
            raise ValueError(
                f"{name} must lie in [0, {n}), got values from {v.min()} to {v.max()}."
            )
    return idx
