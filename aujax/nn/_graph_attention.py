r"""Graph attention (Veličković et al. 2018, "Graph Attention Networks") in Flax NNX.

Seed 003's GANE (eq. 3) runs a GAT over its N + 1 nodes, the AU-specific features and the
projected global feature, to give the attention-embedded node features :math:`V'_{GANE}`. One
head k of one layer, on node features :math:`h_1, \dots, h_n \in \mathbb{R}^F`:

.. math::

   e^k_{ij} = \mathrm{LeakyReLU}\big(a_k^\top [W_k h_i \,\|\, W_k h_j]\big), \qquad
   \alpha^k_{ij} = \frac{\exp e^k_{ij}}{\sum_{l \in \mathcal{N}_i} \exp e^k_{il}}
   \quad (j \in \mathcal{N}_i),

   h'_i = \big\Vert_{k=1}^{K} \sigma\Big(\sum_{j \in \mathcal{N}_i} \alpha^k_{ij} W_k h_j\Big)
   \quad \text{(concatenated heads)}, \qquad
   h'_i = \sigma\Big(\frac{1}{K} \sum_{k=1}^{K} \sum_{j \in \mathcal{N}_i}
   \alpha^k_{ij} W_k h_j\Big) \quad \text{(averaged heads, the paper's last layer)}.

:math:`\mathcal{N}_i` holds i itself (self loops) and, by default, every other node (a fully
connected graph: GANE's nodes have no given topology); an ``adjacency`` mask restricts it. As in
the authors' implementation (PetarV-/GAT) a bias is added after aggregation (before σ), and dropout
(rate ``dropout``, in ``model.train()`` mode) is applied to each layer's input features and to the
normalised coefficients α. The attention vector is stored in its two halves,
:math:`a_k = [a^{self}_k \,\|\, a^{neigh}_k]`, so :math:`a_k^\top [W_k h_i \| W_k h_j] =
a^{self\top}_k W_k h_i + a^{neigh\top}_k W_k h_j`: an (n, n) matrix of scores from two (n,)
vectors, no (n, n, 2F') concatenation.

Batching: both layers take (..., n, F) arrays with any leading batch dimensions (one
``einsum`` over them), and also work under ``jax.vmap``.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from flax.nnx.nn.dtypes import promote_dtype
from jaxtyping import Array, ArrayLike, Bool, Float

from ._mlp import ACTIVATIONS


__all__ = ["GAT", "GraphAttention"]

# Glorot (fan_avg uniform) on each head's attention half (F',): fan_in F', fan_out 1, as the
# authors' 1x1 convolution to one channel.
_attention_init = nnx.initializers.variance_scaling(
    1.0, "fan_avg", "uniform", in_axis=-1, out_axis=(), batch_axis=(0,)
)


def _activation(activation: str | Callable[[Array], Array] | None) -> Callable | None:
    if activation is None or callable(activation):
        return activation
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"activation must be one of {sorted(ACTIVATIONS)}, a callable or None, "
            f"got {activation!r}"
        )
    return ACTIVATIONS[activation]


def _check_positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _neighbourhood_mask(adjacency: ArrayLike | None, name: str = "adjacency") -> Array | None:
    """Validates an adjacency mask and adds the self loops.

    Args:
      adjacency: (..., n, n) bool or 0/1 mask, ``adjacency[..., i, j]`` true when node i attends
        to node j; None for a fully connected graph.
      name: the argument's name in error messages.

    Returns:
      (..., n, n) bool mask with a true diagonal, or None.
    """
    if adjacency is None:
        return None
    adj = jnp.asarray(adjacency)
    if adj.ndim < 2 or adj.shape[-1] != adj.shape[-2]:
        raise ValueError(f"{name} must have shape (..., n, n), got {adj.shape}")
    if adj.dtype != jnp.bool_:
        if not (jnp.issubdtype(adj.dtype, jnp.integer) or jnp.issubdtype(adj.dtype, jnp.floating)):
            raise ValueError(f"{name} must be a bool or 0/1 mask, got dtype {adj.dtype}")
        adj = adj != 0
    eye = jnp.eye(adj.shape[-1], dtype=jnp.bool_)
    return adj | eye.reshape((1,) * (adj.ndim - 2) + eye.shape)


class GraphAttention(nnx.Module):
    r"""One multi-head graph attention layer (GAT, Veličković et al. 2018, eqs. 1-6).

    Attributes:
      linear: the shared :math:`W = [W_1, \dots, W_K]`, ``nnx.Linear(in_features ->
        num_heads * out_features)`` without bias.
      attention_self, attention_neigh: (num_heads, out_features) halves of the attention
        vectors :math:`a_k` (applied to the attending node i and to the neighbour j).
      bias: (num_heads * out_features,) if ``concat`` else (out_features,), or None.
      mask: (n, n) bool neighbourhoods with self loops, or None (fully connected).
      output_features: ``num_heads * out_features`` if ``concat`` else ``out_features``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        num_heads: int = 1,
        concat: bool = True,
        negative_slope: float = 0.2,
        dropout: float = 0.0,
        activation: str | Callable[[Array], Array] | None = None,
        adjacency: Bool[ArrayLike, "n n"] | None = None,
        use_bias: bool = True,
        dtype: jnp.dtype | None = None,
        param_dtype: jnp.dtype = jnp.float32,
        rngs: nnx.Rngs,
    ):
        """Builds the layer.

        Args:
          in_features: F, the input node features.
          out_features: F', the features of each head.
          num_heads: K, attention heads.
          concat: concatenate the heads (output K F') or average them (output F', the GAT
            paper's final layer).
          negative_slope: the LeakyReLU slope of the scores (0.2 in the paper).
          dropout: dropout rate on the input features and on α (0.6 in the paper's
            transductive runs; active in ``model.train()`` mode).
          activation: σ, applied per head before concatenation or after averaging: a name in
            :data:`ACTIVATIONS` (the paper's hidden layers use ``"elu"``), a callable, or None.
          adjacency: (n, n) bool or 0/1 mask, true where node i attends to node j; self loops
            are added; None: fully connected (any n). A mask passed to ``__call__`` replaces it.
          use_bias: add a bias after aggregation.
          dtype: computation dtype (None: from the input and parameters).
          param_dtype: parameter dtype.
          rngs: parameter initialisation (and dropout) streams.
        """
        in_features = _check_positive("in_features", in_features)
        out_features = _check_positive("out_features", out_features)
        num_heads = _check_positive("num_heads", num_heads)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if not negative_slope >= 0.0:
            raise ValueError(f"negative_slope must be >= 0, got {negative_slope}")
        self.in_features = in_features
        self.out_features = out_features
        self.num_heads = num_heads
        self.concat = bool(concat)
        self.negative_slope = float(negative_slope)
        self.activation = _activation(activation)
        self.dtype = dtype
        self.output_features = num_heads * out_features if concat else out_features
        self.mask = _neighbourhood_mask(adjacency)
        if self.mask is not None and self.mask.ndim != 2:
            raise ValueError(f"adjacency must have shape (n, n), got {self.mask.shape}")
        self.linear = nnx.Linear(
            in_features,
            num_heads * out_features,
            use_bias=False,
            kernel_init=nnx.initializers.glorot_uniform(),
            dtype=dtype,
            param_dtype=param_dtype,
            rngs=rngs,
        )
        shape = (num_heads, out_features)
        self.attention_self = nnx.Param(_attention_init(rngs.params(), shape, param_dtype))
        self.attention_neigh = nnx.Param(_attention_init(rngs.params(), shape, param_dtype))
        self.bias = nnx.data(
            nnx.Param(jnp.zeros((self.output_features,), param_dtype)) if use_bias else None
        )
        self.dropout = nnx.data(nnx.Dropout(dropout, rngs=rngs) if dropout > 0 else None)

    def attention(
        self,
        h: Float[Array, "*batch n f"],
        *,
        adjacency: Bool[ArrayLike, "*batch n n"] | None = None,
    ) -> tuple[Float[Array, "*batch heads n n"], Float[Array, "*batch n heads f2"]]:
        r"""The coefficients :math:`\alpha^k_{ij}` and the projected features :math:`W_k h_j`.

        Args:
          h: (..., n, in_features) node features.
          adjacency: (n, n) or (..., n, n) mask replacing the constructor's; None: the
            constructor's (fully connected if that is None too).

        Returns:
          ``(alpha, wh)``: alpha (..., num_heads, n, n), rows summing to 1 over each node's
          neighbourhood and 0 elsewhere (before dropout); wh (..., n, num_heads, out_features).
        """
        if h.ndim < 2 or h.shape[-1] != self.in_features:
            raise ValueError(f"h must have shape (..., n, {self.in_features}), got {h.shape}")
        n = h.shape[-2]
        mask = self.mask if adjacency is None else _neighbourhood_mask(adjacency)
        if mask is not None and mask.shape[-2:] != (n, n):
            raise ValueError(
                f"adjacency must have shape (..., {n}, {n}) for {n} nodes, got {mask.shape}"
            )
        if mask is not None and mask.ndim > 2 and mask.shape[:-2] != h.shape[:-2]:
            raise ValueError(
                f"a batched adjacency must have shape {h.shape[:-2] + (n, n)} (h's batch), "
                f"got {mask.shape}"
            )
        wh = self.linear(h).reshape(*h.shape[:-1], self.num_heads, self.out_features)
        wh, a_self, a_neigh = promote_dtype(
            (wh, self.attention_self[...], self.attention_neigh[...]), dtype=self.dtype
        )
        s_self = jnp.einsum("...nkf,kf->...kn", wh, a_self)  # a_self^T W_k h_i
        s_neigh = jnp.einsum("...nkf,kf->...kn", wh, a_neigh)  # a_neigh^T W_k h_j
        e = jax.nn.leaky_relu(
            s_self[..., :, None] + s_neigh[..., None, :], negative_slope=self.negative_slope
        )  # (..., K, n, n)
        if mask is not None:
            mask = mask[..., None, :, :] if mask.ndim > 2 else mask
            mask = mask.reshape((1,) * (e.ndim - mask.ndim) + mask.shape)
            e = jnp.where(mask, e, -jnp.inf)
        return jax.nn.softmax(e, axis=-1), wh

    def __call__(
        self,
        h: Float[Array, "*batch n f"],
        *,
        adjacency: Bool[ArrayLike, "*batch n n"] | None = None,
    ) -> Float[Array, "*batch n f_out"]:
        """Applies the layer.

        Args:
          h: (..., n, in_features) node features, any leading batch dimensions.
          adjacency: (n, n) or (..., n, n) mask replacing the constructor's for this call
            (self loops added); None: the constructor's.

        Returns:
          (..., n, output_features): K F' with concatenated heads, F' with averaged ones.
        """
        if self.dropout is not None:
            h = self.dropout(h)
        alpha, wh = self.attention(h, adjacency=adjacency)
        if self.dropout is not None:
            alpha = self.dropout(alpha)
        out = jnp.einsum("...kij,...jkf->...ikf", alpha, wh)  # (..., n, K, F')
        if self.concat:
            out = out.reshape(*out.shape[:-2], self.output_features)
        else:
            out = jnp.mean(out, axis=-2)
        if self.bias is not None:
            out, bias = promote_dtype((out, self.bias[...]), dtype=self.dtype)
            out = out + bias.reshape((1,) * (out.ndim - 1) + bias.shape)
        if self.activation is not None:  # elementwise: per head, then concatenated
            out = self.activation(out)
        return out


class GAT(nnx.Module):
    """A stack of :class:`GraphAttention` layers, the GAT paper's architecture.

    ``num_layers - 1`` hidden layers of ``num_heads`` concatenated heads of ``hidden_features``
    each with ``activation`` (ELU), then an output layer of ``out_heads`` heads of
    ``out_features`` averaged, without activation. The GAT paper used 2 layers (8 heads x 8,
    Cora) and 3 layers (4 heads x 256, final 6 heads averaged, PPI); seed 003 gives no depth
    or head count, so the defaults here are 2 layers and 4 heads, hidden width
    ``out_features // num_heads`` per head so that the hidden layer is as wide as the output.
    All layers share one neighbourhood (``adjacency``, fully connected by default).

    Works on (..., n, in_features) node features with any leading batch dimensions.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        hidden_features: int | None = None,
        num_layers: int = 2,
        num_heads: int = 4,
        out_heads: int | None = None,
        negative_slope: float = 0.2,
        dropout: float = 0.0,
        activation: str | Callable[[Array], Array] | None = "elu",
        adjacency: Bool[ArrayLike, "n n"] | None = None,
        dtype: jnp.dtype | None = None,
        param_dtype: jnp.dtype = jnp.float32,
        rngs: nnx.Rngs,
    ):
        """Builds the stack.

        Args:
          in_features: input node features.
          out_features: output node features (GANE: 512, eq. 3).
          hidden_features: features per head of the hidden layers (None: ``max(1,
            out_features // num_heads)``).
          num_layers: layers, >= 1 (the last one averages its heads).
          num_heads: heads of each hidden layer (concatenated).
          out_heads: heads of the output layer (averaged); None: ``num_heads``.
          negative_slope: LeakyReLU slope of the scores.
          dropout: dropout rate of every layer (inputs and α).
          activation: σ of the hidden layers (name, callable or None).
          adjacency: (n, n) mask shared by all layers; None: fully connected.
          dtype: computation dtype.
          param_dtype: parameter dtype.
          rngs: parameter initialisation (and dropout) streams.
        """
        num_layers = _check_positive("num_layers", num_layers)
        num_heads = _check_positive("num_heads", num_heads)
        out_heads = num_heads if out_heads is None else _check_positive("out_heads", out_heads)
        if hidden_features is None:
            hidden_features = max(1, out_features // num_heads)
        common = dict(
            negative_slope=negative_slope,
            dropout=dropout,
            adjacency=adjacency,
            dtype=dtype,
            param_dtype=param_dtype,
            rngs=rngs,
        )
        layers: list[GraphAttention] = []
        width = in_features
        for _ in range(num_layers - 1):
            layer = GraphAttention(
                width,
                hidden_features,
                num_heads=num_heads,
                concat=True,
                activation=activation,
                **common,
            )
            layers.append(layer)
            width = layer.output_features
        layers.append(
            GraphAttention(width, out_features, num_heads=out_heads, concat=False, **common)
        )
        self.layers = nnx.List(layers)
        self.in_features = layers[0].in_features
        self.out_features = layers[-1].output_features

    def __call__(
        self,
        h: Float[Array, "*batch n f"],
        *,
        adjacency: Bool[ArrayLike, "*batch n n"] | None = None,
    ) -> Float[Array, "*batch n f_out"]:
        """Applies the layers in turn.

        Args:
          h: (..., n, in_features) node features.
          adjacency: mask replacing the constructor's in every layer for this call.

        Returns:
          (..., n, out_features).
        """
        for layer in self.layers:
            h = layer(h, adjacency=adjacency)
        return h
