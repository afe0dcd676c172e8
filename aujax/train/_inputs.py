"""What image networks read: uint8 crops as float32 (the one input transform every method shares)."""

import jax
import jax.numpy as jnp


__all__ = ["crops_to_float"]


def crops_to_float(images) -> jax.Array:
    """The image networks' input: uint8 crops (..., S, S, C) -> float32 in [-0.5, 0.5]."""
    return jnp.asarray(images, jnp.float32) / 255.0 - 0.5
