"""The masked AU loss every detector trains with (seed 001, eq. 14; seed 000's CNNs)."""

import jax.numpy as jnp
import optax
from jaxtyping import Array, Bool, Float


__all__ = ["au_loss", "masked_mean"]


def masked_mean(x: Array, mask: Array) -> Array:
    """Mean of ``x`` over the entries where ``mask`` is True (0 when none is)."""
    m = mask.astype(x.dtype)
    return jnp.sum(x * m) / jnp.maximum(jnp.sum(m), 1.0)


def au_loss(
    logits: Float[Array, "*b T R"], labels: Array, mask: Bool[Array, "*b T R"]
) -> Float[Array, ""]:
    r"""Masked binary cross-entropy over frames and AUs (seed 001, eq. 14).

    The paper prints ``1/(TR) sum [y log p + (1 - y) log(1 - p)]``, the log-likelihood; its
    negative is minimised. Entries with ``mask`` False (label 9, occlusion, or outside the kept
    label fraction) contribute nothing and the mean is over the counted entries.
    """
    y = jnp.where(mask, labels, 0).astype(logits.dtype)
    return masked_mean(optax.sigmoid_binary_cross_entropy(logits, y), mask)
