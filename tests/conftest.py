"""Test configuration: float64 physics, strict promotion, four fake CPU devices."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest


jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")
try:  # must run before the backend initialises; harmless if it already did
    jax.config.update("jax_num_cpu_devices", 4)
except RuntimeError:  # pragma: no cover
    pass


@pytest.fixture
def getkey():
    """Returns a callable that yields a fresh typed PRNG key each call."""
    counter = iter(range(10**9))
    base = jax.random.key(0)

    def _getkey():
        return jax.random.fold_in(base, next(counter))

    return _getkey


def tree_allclose(x, y, *, rtol=1e-5, atol=1e-8):
    """True if two pytrees have the same structure and allclose leaves."""
    lx, tx = jax.tree.flatten(x)
    ly, ty = jax.tree.flatten(y)
    if tx != ty:
        return False
    return all(
        np.allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)
        for a, b in zip(lx, ly, strict=False)
    )


@pytest.fixture
def f64():
    return jnp.float64
