"""Small random reduced skins (float64) for the inversion tests."""

import jax.numpy as jnp
import numpy as np

from aujax.physics import galerkin_model


def random_galerkin(k=4, m=6, seed=0):
    """A stable ``galerkin`` model with K = k coordinates and m muscles; its static response
    ``K^-1 g`` is of order 1."""
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(k, k))
    mass = q @ q.T + k * np.eye(k)
    q = rng.normal(size=(k, k))
    stiff = 50.0 * (q @ q.T + k * np.eye(k))
    damp = 0.05 * stiff + 0.1 * mass
    g = stiff @ rng.normal(size=(k, m)) / np.sqrt(m)
    return galerkin_model(
        jnp.asarray(mass), jnp.asarray(stiff), jnp.asarray(damp), force_map=jnp.asarray(g)
    )
