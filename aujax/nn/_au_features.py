r"""The AU-specific feature generator (AFG) of ME-GraphAU (Luo et al. 2022) in Flax NNX.

Seed 003 (eq. 1) takes its AU nodes :math:`V_{AFG} = \{v_1, \dots, v_N\}`, :math:`v_i \in
\mathbb{R}^{512}`, from ME-GraphAU's AFG, "composed of Fully Connected layers (FC layer) and
Global Average Pooling layer (GAP layer)": the backbone's feature map is read as a set of
spatial tokens :math:`x_p \in \mathbb{R}^C` (p over the h' x w' positions), each AU i has its own
FC layer applied to every token, and the tokens are averaged:

.. math::

   v_i = \frac{1}{h' w'} \sum_p \sigma\big(W_i^\top x_p + b_i\big), \qquad i = 1, \dots, N.

An FC layer on every position is a 1x1 convolution; the N heads are one (N, C, D) kernel applied
by one ``einsum``, and head i reads only its own :math:`W_i, b_i`. ME-GraphAU's FC block also
holds a BatchNorm and a dropout; they are left out here (a node depends on its image alone, and a
method may normalise the nodes itself). The feature map comes from
:meth:`aujax.nn.ResNet.feature_map`.
"""

from collections.abc import Callable

import jax.numpy as jnp
from flax import nnx
from flax.nnx.nn.dtypes import promote_dtype
from jaxtyping import Array, Float

from ._graph_attention import _activation, _check_positive


__all__ = ["AUFeatureGenerator"]

# LeCun normal per head: fan_in C (the head axis is a batch axis, not a receptive field).
_kernel_init = nnx.initializers.lecun_normal(in_axis=-2, out_axis=-1, batch_axis=(0,))


class AUFeatureGenerator(nnx.Module):
    """Per-AU heads (1x1 convolution + activation + global average pooling) on a feature map,
    one node per AU (seed 003 eq. 1, ME-GraphAU's AFG).

    Attributes:
      kernel: (n_aus, in_channels, node_dim) the heads' FC weights W_i.
      bias: (n_aus, node_dim) or None.
    """

    def __init__(
        self,
        in_channels: int,
        n_aus: int,
        node_dim: int,
        *,
        activation: str | Callable[[Array], Array] | None = "relu",
        use_bias: bool = True,
        dtype: jnp.dtype | None = None,
        param_dtype: jnp.dtype = jnp.float32,
        rngs: nnx.Rngs,
    ):
        """Builds the heads.

        Args:
          in_channels: C, channels of the feature map (``ResNet.num_features``).
          n_aus: N, AUs (one head and one node each).
          node_dim: D, node features (512 in seed 003 eq. 1).
          activation: σ after each head's FC layer, before pooling (ReLU as ME-GraphAU), a
            callable or None.
          use_bias: per-head biases.
          dtype: computation dtype.
          param_dtype: parameter dtype.
          rngs: parameter initialisation streams.
        """
        self.in_channels = _check_positive("in_channels", in_channels)
        self.n_aus = _check_positive("n_aus", n_aus)
        self.node_dim = _check_positive("node_dim", node_dim)
        self.activation = _activation(activation)
        self.dtype = dtype
        shape = (self.n_aus, self.in_channels, self.node_dim)
        self.kernel = nnx.Param(_kernel_init(rngs.params(), shape, param_dtype))
        self.bias = nnx.data(
            nnx.Param(jnp.zeros((self.n_aus, self.node_dim), param_dtype)) if use_bias else None
        )

    def __call__(self, feature_map: Float[Array, "*batch h w c"]) -> Float[Array, "*batch n d"]:
        """One node per AU from a feature map.

        Args:
          feature_map: (..., h, w, in_channels) NHWC map (e.g. ``ResNet.feature_map``), any
            leading batch dimensions.

        Returns:
          (..., n_aus, node_dim) AU nodes.
        """
        if feature_map.ndim < 3 or feature_map.shape[-1] != self.in_channels:
            raise ValueError(
                f"feature_map must have shape (..., h, w, {self.in_channels}) (NHWC), "
                f"got {feature_map.shape}"
            )
        args = (feature_map, self.kernel[...]) + (() if self.bias is None else (self.bias[...],))
        x, kernel, *bias = promote_dtype(args, dtype=self.dtype)
        y = jnp.einsum("...hwc,ncd->...hwnd", x, kernel)  # every head on every position
        if bias:
            y = y + bias[0].reshape((1,) * (y.ndim - 2) + bias[0].shape)
        if self.activation is not None:
            y = self.activation(y)
        return jnp.mean(y, axis=(-4, -3))
