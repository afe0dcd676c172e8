r"""Spiral mesh encoder and decoder (SpiralNet++ autoencoder, REFERENCE §8.2; seed 001 eq. 7).

The encoder maps a per-vertex signal on the template (a deformation ``u`` (N, 3)) to a latent
vector; the decoder mirrors it for the reconstruction baselines:

* encoder: ``[SpiralConv -> ELU -> pool] x L``, flatten, ``Linear(n_L * C_L -> latent)``;
* decoder: ``Linear(latent -> n_L * C_L)``, ``[unpool -> SpiralConv -> ELU] x L``, then a last
  ``SpiralConv(C_0 -> out_features)`` without activation.

Layer l of the encoder convolves on level l with ``hierarchy.spirals[l]`` and pools with
``hierarchy.sampling[l]``; the decoder goes back up the same levels.
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jaxtyping import Array, Float

from ._mesh_sampling import MeshHierarchy, mesh_pool, mesh_unpool
from ._spiral import SpiralConv


__all__ = ["SpiralDecoder", "SpiralEncoder"]


def _channels(channels: Sequence[int], hierarchy: MeshHierarchy) -> tuple[int, ...]:
    out = tuple(channels)
    if len(out) != hierarchy.n_levels or any(
        isinstance(c, bool) or not isinstance(c, int | np.integer) or c < 1 for c in out
    ):
        raise ValueError(
            f"channels must be {hierarchy.n_levels} positive ints (one per pooling step of the "
            f"hierarchy), got {channels!r}"
        )
    return tuple(int(c) for c in out)


class SpiralEncoder(nnx.Module):
    r"""Spiral mesh encoder ``z3d = E(u; Phi)`` (seed 001, eq. 7).

    .. math::

        z^{3d} = E(u; \Phi)
    """

    def __init__(
        self,
        hierarchy: MeshHierarchy,
        *,
        in_features: int = 3,
        channels: Sequence[int] = (32, 32),
        latent: int = 16,
        dtype: jnp.dtype | None = None,
        param_dtype: jnp.dtype = jnp.float32,
        rngs: nnx.Rngs,
    ):
        """Builds the encoder.

        Args:
          hierarchy: the template's :class:`MeshHierarchy` (L pooling steps).
          in_features: C_in of the input signal (3 for a deformation).
          channels: L output channels, one per level.
          latent: latent size.
          dtype: computation dtype (None: inferred).
          param_dtype: parameter dtype.
          rngs: parameter initialisation streams.
        """
        chans = _channels(channels, hierarchy)
        self.hierarchy = nnx.data(hierarchy)
        self.in_features = in_features
        self.latent = latent
        ins = (in_features, *chans[:-1])
        self.convs = nnx.List(
            [
                SpiralConv(
                    c_in,
                    c_out,
                    indices=hierarchy.spirals[level],
                    dtype=dtype,
                    param_dtype=param_dtype,
                    rngs=rngs,
                )
                for level, (c_in, c_out) in enumerate(zip(ins, chans, strict=True))
            ]
        )
        self.linear = nnx.Linear(
            hierarchy.sizes[-1] * chans[-1], latent, dtype=dtype, param_dtype=param_dtype, rngs=rngs
        )

    def __call__(self, u: Float[Array, "*batch n c"]) -> Float[Array, "*batch latent"]:
        """Encodes a vertex signal.

        Args:
          u: (..., N_0, C_in) signal on the template, any leading batch dimensions.

        Returns:
          (..., latent) codes.
        """
        x = u
        for conv, sampling in zip(self.convs, self.hierarchy.sampling, strict=True):
            x = mesh_pool(jax.nn.elu(conv(x)), sampling)
        return self.linear(x.reshape(*x.shape[:-2], -1))


class SpiralDecoder(nnx.Module):
    """Spiral mesh decoder mirroring :class:`SpiralEncoder` (latent -> (N_0, out_features))."""

    def __init__(
        self,
        hierarchy: MeshHierarchy,
        *,
        out_features: int = 3,
        channels: Sequence[int] = (32, 32),
        latent: int = 16,
        dtype: jnp.dtype | None = None,
        param_dtype: jnp.dtype = jnp.float32,
        rngs: nnx.Rngs,
    ):
        """Builds the decoder.

        Args:
          hierarchy: the template's :class:`MeshHierarchy` (L pooling steps).
          out_features: channels of the output signal (3 for a deformation).
          channels: the encoder's L channels (level order, fine to coarse).
          latent: latent size.
          dtype: computation dtype (None: inferred).
          param_dtype: parameter dtype.
          rngs: parameter initialisation streams.
        """
        chans = _channels(channels, hierarchy)
        self.hierarchy = nnx.data(hierarchy)
        self.latent = latent
        self.out_features = out_features
        self.coarse_channels = chans[-1]
        self.linear = nnx.Linear(
            latent, hierarchy.sizes[-1] * chans[-1], dtype=dtype, param_dtype=param_dtype, rngs=rngs
        )
        # Going up (SpiralNet++): after unpooling to level l, a conv on level l maps
        # channels[l + 1] (channels[L - 1] on the coarsest conv level) to channels[l].
        n_lv = hierarchy.n_levels
        self.convs = nnx.List(
            [
                SpiralConv(
                    chans[min(level + 1, n_lv - 1)],
                    chans[level],
                    indices=hierarchy.spirals[level],
                    dtype=dtype,
                    param_dtype=param_dtype,
                    rngs=rngs,
                )
                for level in reversed(range(hierarchy.n_levels))
            ]
        )
        self.head = SpiralConv(
            chans[0],
            out_features,
            indices=hierarchy.spirals[0],
            dtype=dtype,
            param_dtype=param_dtype,
            rngs=rngs,
        )

    def __call__(self, z: Float[Array, "*batch latent"]) -> Float[Array, "*batch n c"]:
        """Decodes latent codes.

        Args:
          z: (..., latent) codes.

        Returns:
          (..., N_0, out_features) signal on the template.
        """
        if z.ndim < 1 or z.shape[-1] != self.latent:
            raise ValueError(f"z must have shape (..., {self.latent}), got {z.shape}")
        x = self.linear(z).reshape(*z.shape[:-1], self.hierarchy.sizes[-1], self.coarse_channels)
        for conv, sampling in zip(self.convs, reversed(self.hierarchy.sampling), strict=True):
            x = jax.nn.elu(conv(mesh_unpool(x, sampling)))
        return self.head(x)
