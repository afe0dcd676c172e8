r"""Pre-norm transformer encoder and the learned query-token readout in Flax NNX.

Seed 003 (GANE, fig. 1(c)): the attention-embedded nodes :math:`V'_{GANE}` of eq. 3 and a
learned query token :math:`T_Q` are concatenated and fed to a transformer encoder; the query
token's output is read out and regressed to the expression, pose and camera parameters (that head
belongs to the method, not here). Each block is pre-norm (Xiong et al. 2020, as ViT):

.. math::

   x \leftarrow x + \mathrm{Drop}(\mathrm{MHA}(\mathrm{LN}(x))), \qquad
   x \leftarrow x + \mathrm{Drop}(\mathrm{MLP}(\mathrm{LN}(x))),

with a final LayerNorm after the last block; MLP = Linear(d, r d) → GELU → Dropout → Linear(r d,
d) (r = ``mlp_ratio``). There is no positional encoding: GANE's tokens (one per AU and one global
feature) form a set, so the encoder is permutation equivariant over its tokens and the query
token's output is invariant to their order (``tests/test_nn_graph.py`` checks both). The paper
gives neither depth nor head count: defaults depth 2, 8 heads, ratio 4.
"""

import jax
import jax.numpy as jnp
from flax import nnx
from flax.nnx.nn.attention import dot_product_attention_weights
from flax.nnx.nn.dtypes import promote_dtype
from jaxtyping import Array, Float

from ._graph_attention import _check_positive
from ._mlp import MLP


__all__ = ["QueryTokenEncoder", "TransformerEncoder"]


def _attention(query: Array, key: Array, value: Array, **kwargs) -> Array:
    """``flax.nnx.dot_product_attention`` in the inputs' precision.

    Without dropout flax takes the fast path ``jax.nn.dot_product_attention``, whose softmax is
    always float32; float64 inputs take flax's own path (explicit weights, softmax in float64)
    instead, so float64 checks hold to float64 rounding. 32-bit and narrower inputs are unchanged.
    """
    if jnp.dtype(query.dtype).itemsize <= 4:
        return nnx.dot_product_attention(query, key, value, **kwargs)
    bias = kwargs.pop("bias", None)
    weights = dot_product_attention_weights(query, key, bias, **kwargs)
    return jnp.einsum("...hqk,...khd->...qhd", weights, value, precision=kwargs.get("precision"))


class _Block(nnx.Module):
    """One pre-norm block: self-attention, then the MLP, each on a residual branch."""

    def __init__(self, dim, *, num_heads, mlp_ratio, dropout, dtype, param_dtype, rngs):
        kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.norm1 = nnx.LayerNorm(dim, **kw)
        self.attention = nnx.MultiHeadAttention(
            num_heads,
            dim,
            qkv_features=dim,
            out_features=dim,
            dropout_rate=dropout,
            decode=False,
            attention_fn=_attention,
            **kw,
        )
        self.norm2 = nnx.LayerNorm(dim, **kw)
        hidden = max(1, round(mlp_ratio * dim))
        self.mlp = MLP((dim, hidden, dim), activation="gelu", dropout=dropout, **kw)
        self.dropout = nnx.data(nnx.Dropout(dropout, rngs=rngs) if dropout > 0 else None)

    def _drop(self, x):
        return x if self.dropout is None else self.dropout(x)

    def __call__(self, x):
        x = x + self._drop(self.attention(self.norm1(x)))
        return x + self._drop(self.mlp(self.norm2(x)))


class TransformerEncoder(nnx.Module):
    """A stack of pre-norm transformer blocks (``flax.nnx.MultiHeadAttention``) and a final
    LayerNorm, on (..., n, dim) token sets with any leading batch dimensions."""

    def __init__(
        self,
        dim: int,
        *,
        depth: int = 2,
        num_heads: int = 8,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        dtype: jnp.dtype | None = None,
        param_dtype: jnp.dtype = jnp.float32,
        rngs: nnx.Rngs,
    ):
        """Builds the encoder.

        Args:
          dim: token width d (GANE: 512); divisible by ``num_heads``.
          depth: blocks (seed 003 is silent; default 2).
          num_heads: attention heads (default 8, head width d / 8 = 64 at d = 512).
          mlp_ratio: MLP hidden width / d.
          dropout: dropout rate on the attention weights, inside the MLP and on both residual
            branches (active in ``model.train()`` mode).
          dtype: computation dtype.
          param_dtype: parameter dtype.
          rngs: parameter initialisation (and dropout) streams.
        """
        dim = _check_positive("dim", dim)
        depth = _check_positive("depth", depth)
        num_heads = _check_positive("num_heads", num_heads)
        if dim % num_heads:
            raise ValueError(f"dim ({dim}) must be divisible by num_heads ({num_heads})")
        if not mlp_ratio > 0:
            raise ValueError(f"mlp_ratio must be positive, got {mlp_ratio}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.dim = dim
        self.blocks = nnx.List(
            [
                _Block(
                    dim,
                    num_heads=num_heads,
                    mlp_ratio=mlp_ratio,
                    dropout=dropout,
                    dtype=dtype,
                    param_dtype=param_dtype,
                    rngs=rngs,
                )
                for _ in range(depth)
            ]
        )
        self.norm = nnx.LayerNorm(dim, dtype=dtype, param_dtype=param_dtype, rngs=rngs)

    def __call__(self, x: Float[Array, "*batch n d"]) -> Float[Array, "*batch n d"]:
        """Encodes a token set.

        Args:
          x: (..., n, dim) tokens.

        Returns:
          (..., n, dim), equivariant to permutations of the n tokens.
        """
        if x.ndim < 2 or x.shape[-1] != self.dim:
            raise ValueError(f"x must have shape (..., n, {self.dim}), got {x.shape}")
        # flax's LayerNorm and jax.nn.dot_product_attention call promote_types(dtype, float32),
        # which jax_numpy_dtype_promotion="strict" rejects for float64; the standard rules give
        # the same float64 (every other operand is cast explicitly by the layers)
        with jax.numpy_dtype_promotion("standard"):
            for block in self.blocks:
                x = block(x)
            return self.norm(x)


class QueryTokenEncoder(TransformerEncoder):
    r"""A learned query token :math:`T_Q` prepended to the tokens, the :class:`TransformerEncoder`
    it extends, and the query token's output (seed 003, GANE: :math:`[T_Q \,\|\, V'_{GANE}]` →
    encoder → the output at :math:`T_Q`). No positional encoding, so the output does not depend on
    the order of the tokens.

    Attributes:
      query: (dim,) the learned query token (normal, std 0.02, as ViT's class token).
    """

    def __init__(self, dim: int, *, rngs: nnx.Rngs, **kwargs):
        """Builds the readout.

        Args:
          dim: token width d.
          rngs: parameter initialisation (and dropout) streams.
          **kwargs: :class:`TransformerEncoder`'s keyword arguments (``depth``, ``num_heads``,
            ``mlp_ratio``, ``dropout``, ``dtype``, ``param_dtype``).
        """
        super().__init__(dim, rngs=rngs, **kwargs)
        self.dtype = kwargs.get("dtype")
        param_dtype = kwargs.get("param_dtype", jnp.float32)
        self.query = nnx.Param(
            nnx.initializers.normal(0.02)(rngs.params(), (self.dim,), param_dtype)
        )

    def tokens(self, x: Float[Array, "*batch n d"]) -> Float[Array, "*batch n1 d"]:
        r"""The encoder's output on :math:`[T_Q \,\|\, x]`.

        Args:
          x: (..., n, dim) tokens.

        Returns:
          (..., n + 1, dim): the query token's output first, then the n tokens' (equivariant to
          their order).
        """
        if x.ndim < 2 or x.shape[-1] != self.dim:
            raise ValueError(f"x must have shape (..., n, {self.dim}), got {x.shape}")
        x, query = promote_dtype((x, self.query[...]), dtype=self.dtype)
        query = jnp.broadcast_to(query, (*x.shape[:-2], 1, self.dim))
        return super().__call__(jnp.concatenate([query, x], axis=-2))

    def __call__(self, x: Float[Array, "*batch n d"]) -> Float[Array, "*batch d"]:
        """Reads a token set out through the query token.

        Args:
          x: (..., n, dim) tokens (GANE: the N + 1 attention-embedded nodes).

        Returns:
          (..., dim): the encoder's output at the query token, invariant to the order of the n
          tokens.
        """
        return self.tokens(x)[..., 0, :]
