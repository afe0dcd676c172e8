r"""The integration model of seed 000 (§2.3, eq. 6): three dense layers on both estimates.

The final AU probabilities combine the bottom-up probabilities ``p^bu`` (eq. 5) with the
top-down AU levels ``a*`` (eq. 2):

.. math:: p = \sigma\big(f_3(f_2(f_1([p^{bu} \,\|\, a^* / s]))\big) \qquad \text{(eq. 6)}

with ReLU between the dense layers ``f_1, f_2, f_3`` and ``s`` a fixed scale that brings the
levels (0-5 intensity units) to the range of the probabilities.
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx
from jaxtyping import Array, Float

from ...nn import MLP


__all__ = ["IntegrationNet"]


class IntegrationNet(nnx.Module):
    """Three dense layers on ``[bottom-up probabilities || top-down levels]`` (seed 000, eq. 6)."""

    def __init__(
        self,
        n_aus: int,
        n_levels: int,
        *,
        hidden: Sequence[int] = (64, 32),
        level_scale: float = 5.0,
        rngs: nnx.Rngs,
    ):
        """Builds the network.

        Args:
            n_aus: number of AUs (bottom-up inputs and outputs).
            n_levels: number of top-down levels fed in.
            hidden: widths of the two hidden layers (three dense layers in all).
            level_scale: the levels are divided by this (intensity units -> about [0, 1]).
            rngs: parameter initialisation.
        """
        hidden = tuple(hidden)
        if not isinstance(n_aus, int) or n_aus < 1:
            raise ValueError(f"n_aus must be an int >= 1, got {n_aus!r}.")
        if not isinstance(n_levels, int) or n_levels < 1:
            raise ValueError(f"n_levels must be an int >= 1, got {n_levels!r}.")
        if len(hidden) != 2:
            raise ValueError(f"hidden must hold two widths (three dense layers), got {hidden!r}.")
        if not level_scale > 0:
            raise ValueError(f"level_scale must be > 0, got {level_scale}.")
        self.mlp = MLP((n_aus + n_levels, *hidden, n_aus), activation="relu", rngs=rngs)
        self.n_aus, self.n_levels = n_aus, n_levels
        self.level_scale = float(level_scale)

    def __call__(
        self, prob: Float[Array, "*batch K"], levels: Float[Array, "*batch L"]
    ) -> Float[Array, "*batch K"]:
        """Integrated AU logits (their sigmoids are the final probabilities of eq. 6).

        Args:
            prob: (..., K) bottom-up probabilities.
            levels: (..., L) top-down AU levels (>= 0).
        """
        if prob.shape[-1] != self.n_aus:
            raise ValueError(f"prob must have shape (..., {self.n_aus}), got {prob.shape}.")
        if levels.shape != (*prob.shape[:-1], self.n_levels):
            raise ValueError(
                f"levels must have shape {(*prob.shape[:-1], self.n_levels)}, got {levels.shape}."
            )
        x = jnp.concatenate([prob, levels / self.level_scale], axis=-1)
        return self.mlp(x)

    def probabilities(self, prob, levels) -> Float[Array, "*batch K"]:
        """Final AU probabilities (eq. 6)."""
        return jax.nn.sigmoid(self(prob, levels))
