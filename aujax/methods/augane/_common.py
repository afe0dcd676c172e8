"""Input checks the seed 003 networks share (images, keys, counts, run settings)."""

import jax
import jax.numpy as jnp
import numpy as np


__all__ = ["check_images", "check_positive_int", "check_typed_key"]


def check_images(x, name: str) -> np.ndarray:
    """(n, H, W, C) floats in [0, 1] as float32, or a ValueError naming ``name``."""
    x = np.asarray(x)
    if x.ndim != 4 or x.shape[0] == 0:
        raise ValueError(f"{name} must have shape (n, H, W, C) with n >= 1, got {x.shape}.")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{name} must hold floats in [0, 1], got dtype {x.dtype}.")
    x = x.astype(np.float32, copy=False)
    if not (np.all(np.isfinite(x)) and x.min() >= 0.0 and x.max() <= 1.0):
        raise ValueError(f"{name} must hold finite values in [0, 1], got values in "
                         f"[{np.nanmin(x):.3g}, {np.nanmax(x):.3g}].")  # fmt: skip
    return x


def check_typed_key(key) -> jax.Array:
    """A scalar typed PRNG key, or a ValueError."""
    if not (isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
            and key.shape == ()):  # fmt: skip
        raise ValueError(f"key must be a typed PRNG key (jax.random.key(seed)), got {key!r}.")
    return key


def check_positive_int(v, name: str) -> int:
    """``v`` as an int >= 1, or a ValueError naming ``name``."""
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
        raise ValueError(f"{name} must be an int >= 1, got {v!r}.")
    return int(v)
