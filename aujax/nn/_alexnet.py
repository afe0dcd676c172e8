"""AlexNet in Flax NNX (Krizhevsky et al. 2012), NHWC, in torchvision's single-tower layout.

Seed 002's image AU-intensity estimator (§4.3, fig. 5) is AlexNet with its last layer replaced by
a 12-output fully connected layer, on 224 x 224 crops. The layout is torchvision's
``alexnet``: five convolutions (64, 192, 384, 256, 256 channels; 11x11 stride 4, 5x5, 3x3 x 3)
with ReLU, three 3x3 stride-2 max-pools, an adaptive average pool to 6 x 6, and three fully
connected layers (4096, 4096, ``num_classes``) with dropout before the first two; 61,100,840
parameters with 1000 classes. No local response normalisation (torchvision drops it too).
"""

import jax
import jax.numpy as jnp
from flax import nnx
from jaxtyping import Array, Float


__all__ = ["AlexNet"]

_CONVS = ((64, 11, 4, 2), (192, 5, 1, 2), (384, 3, 1, 1), (256, 3, 1, 1), (256, 3, 1, 1))
_POOL_AFTER = (0, 1, 4)
_GRID = 6


def adaptive_avg_pool(x: Float[Array, "b h w c"], size: int) -> Float[Array, "b size size c"]:
    """PyTorch's ``AdaptiveAvgPool2d``: cell ``i`` averages rows ``floor(i h / size)`` to
    ``ceil((i + 1) h / size)`` (cells overlap or repeat when ``h`` is not a multiple)."""
    h, w = x.shape[1:3]
    if (h, w) == (size, size):
        return x

    def bounds(n):
        return [((i * n) // size, -((-(i + 1) * n) // size)) for i in range(size)]

    rows = [
        jnp.stack([jnp.mean(x[:, r0:r1, c0:c1], axis=(1, 2)) for c0, c1 in bounds(w)], axis=1)
        for r0, r1 in bounds(h)
    ]
    return jnp.stack(rows, axis=1)


class AlexNet(nnx.Module):
    """AlexNet features (9216 = 256 x 6 x 6) with an optional linear classifier."""

    def __init__(
        self,
        *,
        num_classes: int | None = 1000,
        in_channels: int = 3,
        dropout: float = 0.5,
        rngs: nnx.Rngs,
    ):
        """Builds the network.

        Args:
          num_classes: outputs of the last fully connected layer (seed 002: 12 AU intensities);
            None: no classifier (``__call__`` returns the 4096 features).
          in_channels: image channels.
          dropout: the dropout rate before the first two fully connected layers (training only,
            with a ``key``).
          rngs: parameter initialisation streams.
        """
        if num_classes is not None and num_classes < 1:
            raise ValueError(f"num_classes must be positive or None, got {num_classes}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        convs, c = [], in_channels
        for out, k, s, p in _CONVS:
            convs.append(nnx.Conv(c, out, (k, k), strides=s, padding=p, rngs=rngs))
            c = out
        self.convs = nnx.List(convs)
        self.in_channels = in_channels
        self.fc = nnx.List([nnx.Linear(c * _GRID * _GRID, 4096, rngs=rngs),
                            nnx.Linear(4096, 4096, rngs=rngs)])  # fmt: skip
        self.drop = nnx.Dropout(dropout)
        self.num_features = 4096
        self.num_classes = num_classes
        self.head = nnx.data(None if num_classes is None else nnx.Linear(4096, num_classes,
                                                                         rngs=rngs))  # fmt: skip

    def features(self, images: Float[Array, "b h w c"], *, key: jax.Array | None = None):
        """The 4096 features (b, 4096) of the second fully connected layer; with ``key``,
        dropout is applied (training)."""
        if images.ndim != 4 or images.shape[-1] != self.in_channels:
            raise ValueError(
                f"images must have shape (b, h, w, {self.in_channels}) (NHWC), got {images.shape}"
            )
        x = images
        for i, conv in enumerate(self.convs):
            x = jax.nn.relu(conv(x))
            if i in _POOL_AFTER:
                x = nnx.max_pool(x, (3, 3), strides=(2, 2), padding="VALID")
        x = adaptive_avg_pool(x, _GRID).reshape(x.shape[0], -1)
        keys = (None, None) if key is None else tuple(jax.random.split(key))
        for fc, k in zip(self.fc, keys, strict=True):
            if k is not None:
                x = self.drop(x, deterministic=False, rngs=nnx.Rngs(dropout=k))
            x = jax.nn.relu(fc(x))
        return x

    def __call__(self, images: Float[Array, "b h w c"], *, key: jax.Array | None = None):
        """Features (b, 4096) if ``num_classes`` is None, else ``(features, logits)``."""
        feats = self.features(images, key=key)
        if self.head is None:
            return feats
        return feats, self.head(feats)
