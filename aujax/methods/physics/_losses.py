r"""Training objectives of the physics branch (seed 001 §3.3, eqs. 13-17).

.. math::

    L = \lambda_{3d} L_{3d} + \lambda_{au} L_{au} + \lambda_c L_{clean} + \lambda_s L_{smooth}

Masks make every term honest about missing data: ``L_3d`` skips frames whose coefficients could
not be reconstructed (no landmarks), ``L_au`` skips not-coded (9) or occluded labels and, for the
data-efficiency study (table 4), the labels outside the kept fraction, while the reconstruction
still uses every frame. ``L_au`` (eq. 14) is :func:`aujax.train.au_loss`, the loss every AU
detector shares.

**Balanced reconstruction** (issue 17, ``LossWeights.balance``): ``L_3d`` is in squared
coefficient units and its size changes by orders of magnitude between rows, data and training
stages (~470 at initialisation on the synthetic small set against ``L_au`` ~0.7), so a fixed
lambda_3d either drowns the AU loss or vanishes. Balanced, the reconstruction term is
``lambda_3d * sg(L_au / L_3d) * L_3d``: its value is ``lambda_3d`` times the AU loss at every step
and its gradient is ``lambda_3d * L_au`` times that of ``log L_3d`` (sg = stop-gradient), a
per-loss normalisation; lambda_3d then reads as the reconstruction's share relative to the AU
loss.
"""

import jax
import jax.numpy as jnp
from flax import struct
from jaxtyping import Array, Bool, Float

from ...train import au_loss, masked_mean


__all__ = [
    "LossWeights",
    "au_loss",
    "clean_loss",
    "physics_loss",
    "reconstruction_loss",
    "smooth_loss",
]


@struct.dataclass
class LossWeights:
    """The lambdas of eq. 17.

    Attributes:
        reconstruction: lambda_3d (with ``balance``: relative to the AU loss, module docstring).
        au, clean, smooth: lambda_au, lambda_c, lambda_s.
        balance: normalise the reconstruction term by ``sg(L_au / L_3d)``.
    """

    reconstruction: float = struct.field(pytree_node=False, default=1.0)
    au: float = struct.field(pytree_node=False, default=1.0)
    clean: float = struct.field(pytree_node=False, default=1e-3)
    smooth: float = struct.field(pytree_node=False, default=1e-3)
    balance: bool = struct.field(pytree_node=False, default=False)


def reconstruction_loss(
    c: Float[Array, "*b T K"], c_tilde: Float[Array, "*b T K"], mask: Bool[Array, "*b T"]
) -> Float[Array, ""]:
    r"""``L_3d = 1/T sum_t ||c(t) - c~(t)||^2`` over valid frames (seed 001, eq. 13)."""
    return masked_mean(jnp.sum((c - c_tilde) ** 2, axis=-1), mask)


def clean_loss(forces: Float[Array, "*b T D"], *, n_muscles: int) -> Float[Array, ""]:
    r"""``L_clean = 1/M sum_j |F_j|_1`` (seed 001, eq. 15), averaged over frames and windows.

    Args:
        forces: per-frame forces flattened to D = M (activations) or 3M (vectors).
        n_muscles: M.
    """
    return jnp.mean(jnp.sum(jnp.abs(forces), axis=-1)) / n_muscles


def smooth_loss(forces: Float[Array, "*b T D"]) -> Float[Array, ""]:
    r"""``L_smooth = 1/T sum_{t>=2} ||F(t) - F(t-1)||^2`` (seed 001, eq. 16), mean over windows."""
    per_t = jnp.sum(jnp.diff(forces, axis=-2) ** 2, axis=-1)  # (*b, T-1)
    return jnp.mean(jnp.sum(per_t, axis=-1)) / forces.shape[-2]


def physics_loss(outputs: dict, batch: dict, *, weights: LossWeights) -> tuple[Array, dict]:
    """Eq. 17 on a batch of windows.

    Args:
        outputs: :class:`PhysicsAUNet` outputs (``logits``, ``forces``, ``c_tilde``).
        batch: ``c`` (B, T, K), ``c_mask`` (B, T) valid reconstructions, ``labels`` (B, T, R)
            0/1 (9s allowed; masked), ``label_mask`` (B, T, R).
        weights: the lambdas.

    Returns:
        ``(loss, terms)`` with each term's value.
    """
    forces = outputs["forces"]
    n_muscles = forces.shape[2]
    flat = forces.reshape(*forces.shape[:2], -1)
    terms = {
        "l3d": reconstruction_loss(batch["c"], outputs["c_tilde"], batch["c_mask"]),
        "lau": au_loss(outputs["logits"], batch["labels"], batch["label_mask"]),
        "lclean": clean_loss(flat, n_muscles=n_muscles),
        "lsmooth": smooth_loss(flat),
    }
    l3d = terms["l3d"]
    if weights.balance:
        l3d = l3d * jax.lax.stop_gradient(terms["lau"] / jnp.maximum(terms["l3d"], 1e-12))
    total = (
        weights.reconstruction * l3d
        + weights.au * terms["lau"]
        + weights.clean * terms["lclean"]
        + weights.smooth * terms["lsmooth"]
    )
    return total, terms
