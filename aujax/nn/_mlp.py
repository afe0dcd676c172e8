"""Multi-layer perceptron heads (seed 001: regressor eq. 8, AU head eq. 12)."""

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jaxtyping import Array, Float


__all__ = ["ACTIVATIONS", "MLP"]

ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "relu": jax.nn.relu,
    "elu": jax.nn.elu,
    "gelu": jax.nn.gelu,
    "silu": jax.nn.silu,
    "tanh": jnp.tanh,
    "leaky_relu": jax.nn.leaky_relu,
    "softplus": jax.nn.softplus,
}


class MLP(nnx.Module):
    r"""Dense layers with an activation (and optional dropout) between them, none after the last.

    With ``sizes = (d_0, ..., d_K)``: ``x -> Linear(d_0, d_1) -> act -> dropout -> ... ->
    Linear(d_{K-1}, d_K)``. Works on (..., d_0) inputs; e.g. the regressor of seed 001 eq. 8,
    :math:`z^{phys} = \mathcal{F}_{reg}(z^{3d}; \Theta)`.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        *,
        activation: str | Callable[[Array], Array] = "relu",
        dropout: float = 0.0,
        use_bias: bool = True,
        dtype: jnp.dtype | None = None,
        param_dtype: jnp.dtype = jnp.float32,
        rngs: nnx.Rngs,
    ):
        """Builds the MLP.

        Args:
          sizes: (d_0, ..., d_K), K >= 1 layer widths including input and output.
          activation: a name in :data:`ACTIVATIONS` or a callable.
          dropout: dropout rate after each hidden activation (active in ``model.train()`` mode).
          use_bias: biases on the dense layers.
          dtype: computation dtype (None: inferred).
          param_dtype: parameter dtype.
          rngs: parameter initialisation (and dropout) streams.
        """
        sizes = tuple(sizes)
        if len(sizes) < 2 or any(
            isinstance(s, bool) or not isinstance(s, int | np.integer) or s < 1 for s in sizes
        ):
            raise ValueError(
                f"sizes must be >= 2 positive ints (input, ..., output), got {sizes!r}"
            )
        if isinstance(activation, str):
            if activation not in ACTIVATIONS:
                raise ValueError(
                    f"activation must be one of {sorted(ACTIVATIONS)} or a callable, got {activation!r}"
                )
            activation = ACTIVATIONS[activation]
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.sizes = tuple(int(s) for s in sizes)
        self.activation = activation
        self.layers = nnx.List(
            [
                nnx.Linear(a, b, use_bias=use_bias, dtype=dtype, param_dtype=param_dtype, rngs=rngs)
                for a, b in zip(self.sizes[:-1], self.sizes[1:], strict=True)
            ]
        )
        self.dropout = nnx.data(nnx.Dropout(dropout, rngs=rngs) if dropout > 0 else None)

    def __call__(self, x: Float[Array, "*batch d_in"]) -> Float[Array, "*batch d_out"]:
        """Applies the MLP to (..., d_0) inputs; returns (..., d_K)."""
        if x.ndim < 1 or x.shape[-1] != self.sizes[0]:
            raise ValueError(f"x must have shape (..., {self.sizes[0]}), got {x.shape}")
        for k, layer in enumerate(self.layers):
            x = layer(x)
            if k < len(self.layers) - 1:
                x = self.activation(x)
                if self.dropout is not None:
                    x = self.dropout(x)
        return x
