"""ResNet-18/34/50/101/152 in Flax NNX (He et al. 2016), NHWC, BatchNorm.

The image branch of seed 001 (eq. 11, ``z2d = F(I)``) and the bottom-up baselines use it; seed
003's AU-specific feature generator reads the unpooled map (:meth:`ResNet.feature_map`).
Layout follows torchvision (bias-free convolutions, BatchNorm after each, 1x1 projection
shortcuts when the shape changes, stride on the 3x3 convolution of a bottleneck block: "ResNet
v1.5"), so the parameter counts match the standard ones (ResNet-18 11,689,512 and ResNet-50
25,557,032 with the ImageNet stem and 1000 classes). Two stems:

* ``"imagenet"``: 7x7 stride-2 convolution and 3x3 stride-2 max-pool (224 px inputs);
* ``"small"``: one 3x3 stride-1 convolution, no max-pool, for 64-128 px face crops (the spatial
  resolution is reduced 8x instead of 32x).

With ``dtype=jnp.bfloat16`` convolutions and the classifier compute in bf16 while BatchNorm
normalises in float32 and casts back. BatchNorm uses batch statistics in ``model.train()``
mode and running averages in ``model.eval()`` mode (momentum 0.9, epsilon 1e-5, PyTorch's defaults). With
``zero_init_residual`` the last BatchNorm scale of each block starts at zero, so every block
starts as the identity (Goyal et al. 2017).
"""

from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
from flax import nnx
from jaxtyping import Array, Float


__all__ = ["RESNET_STAGES", "ResNet"]

# depth -> (block kind, blocks per stage)
RESNET_STAGES: dict[int, tuple[str, tuple[int, ...]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
_STEMS = ("imagenet", "small")
_kernel_init = nnx.initializers.variance_scaling(2.0, "fan_out", "normal")


def _norm(norm: nnx.BatchNorm, x: Array) -> Array:
    """BatchNorm in float32 for low-precision activations (mixed precision), else as is."""
    if jnp.dtype(x.dtype).itemsize < 4:
        return norm(x.astype(jnp.float32)).astype(x.dtype)
    return norm(x)


class _Block(nnx.Module):
    """A basic (two 3x3) or bottleneck (1x1, 3x3, 1x1 with 4x expansion) residual block."""

    def __init__(
        self,
        in_features: int,
        features: int,
        *,
        kind: str,
        strides: int,
        conv: Callable[..., nnx.Conv],
        norm: Callable[..., nnx.BatchNorm],
        zero_init_residual: bool,
        rngs: nnx.Rngs,
    ):
        last_norm = partial(norm, scale_init=nnx.initializers.zeros) if zero_init_residual else norm
        if kind == "basic":
            out = features
            self.convs = nnx.List(
                [
                    conv(in_features, features, (3, 3), strides=strides, rngs=rngs),
                    conv(features, features, (3, 3), rngs=rngs),
                ]
            )
            self.norms = nnx.List([norm(features, rngs=rngs), last_norm(features, rngs=rngs)])
        else:
            out = 4 * features
            self.convs = nnx.List(
                [
                    conv(in_features, features, (1, 1), rngs=rngs),
                    conv(features, features, (3, 3), strides=strides, rngs=rngs),
                    conv(features, out, (1, 1), rngs=rngs),
                ]
            )
            self.norms = nnx.List(
                [norm(features, rngs=rngs), norm(features, rngs=rngs), last_norm(out, rngs=rngs)]
            )
        if strides != 1 or in_features != out:
            self.proj = nnx.data(conv(in_features, out, (1, 1), strides=strides, rngs=rngs))
            self.proj_norm = nnx.data(norm(out, rngs=rngs))
        else:
            self.proj = nnx.data(None)
            self.proj_norm = nnx.data(None)
        self.out_features = out

    def __call__(self, x: Array) -> Array:
        y = x
        for k, (conv, norm) in enumerate(zip(self.convs, self.norms, strict=True)):
            y = _norm(norm, conv(y))
            if k < len(self.convs) - 1:
                y = jax.nn.relu(y)
        shortcut = x if self.proj is None else _norm(self.proj_norm, self.proj(x))
        return jax.nn.relu(y + shortcut)


class ResNet(nnx.Module):
    """ResNet feature extractor with an optional linear classifier (seed 001 eq. 11)."""

    def __init__(
        self,
        *,
        depth: int = 18,
        num_classes: int | None = None,
        width: int = 64,
        in_channels: int = 3,
        stem: str = "imagenet",
        zero_init_residual: bool = True,
        dtype: jnp.dtype | None = None,
        param_dtype: jnp.dtype = jnp.float32,
        rngs: nnx.Rngs,
    ):
        """Builds the network.

        Args:
          depth: 18, 34 (basic blocks), 50, 101 or 152 (bottleneck blocks).
          num_classes: size of the linear classifier on the pooled features; None for none.
          width: channels of the first stage (64 standard; stages use width x 1, 2, 4, 8).
          in_channels: image channels (3 RGB, 1 grayscale).
          stem: ``"imagenet"`` (7x7/2 conv + 3x3/2 max-pool) or ``"small"`` (3x3/1 conv).
          zero_init_residual: start each block's last BatchNorm scale at 0.
          dtype: computation dtype, e.g. ``jnp.bfloat16`` (None: inferred).
          param_dtype: parameter dtype.
          rngs: parameter initialisation streams.
        """
        if depth not in RESNET_STAGES:
            raise ValueError(f"depth must be one of {sorted(RESNET_STAGES)}, got {depth!r}")
        if stem not in _STEMS:
            raise ValueError(f"stem must be one of {_STEMS}, got {stem!r}")
        if num_classes is not None and num_classes < 1:
            raise ValueError(f"num_classes must be positive or None, got {num_classes}")
        kind, stages = RESNET_STAGES[depth]
        conv = partial(
            nnx.Conv,
            use_bias=False,
            padding="SAME",
            kernel_init=_kernel_init,
            dtype=dtype,
            param_dtype=param_dtype,
        )
        # Low-precision compute (bf16) keeps BatchNorm statistics and outputs in float32.
        low = dtype is not None and jnp.dtype(dtype).itemsize < 4
        norm = partial(
            nnx.BatchNorm,
            momentum=0.9,
            epsilon=1e-5,
            dtype=jnp.float32 if low else dtype,
            param_dtype=param_dtype,
        )
        self.depth = depth
        self.stem = stem
        self.in_channels = in_channels
        if stem == "imagenet":
            self.stem_conv = conv(in_channels, width, (7, 7), strides=2, padding=3, rngs=rngs)
        else:
            self.stem_conv = conv(in_channels, width, (3, 3), rngs=rngs)
        self.stem_norm = norm(width, rngs=rngs)
        blocks = []
        c_in = width
        for s, n_blocks in enumerate(stages):
            for b in range(n_blocks):
                block = _Block(
                    c_in,
                    width * 2**s,
                    kind=kind,
                    strides=2 if (s > 0 and b == 0) else 1,
                    conv=conv,
                    norm=norm,
                    zero_init_residual=zero_init_residual,
                    rngs=rngs,
                )
                blocks.append(block)
                c_in = block.out_features
        self.blocks = nnx.List(blocks)
        self.num_features = c_in
        self.num_classes = num_classes
        self.head = nnx.data(
            None
            if num_classes is None
            else nnx.Linear(c_in, num_classes, dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        )

    def feature_map(self, images: Float[Array, "b h w c"]) -> Float[Array, "b hf wf f"]:
        """The last stage's feature map, before global pooling (seed 003's AFG input).

        Args:
          images: (b, h, w, in_channels) NHWC images.

        Returns:
          (b, h', w', num_features), h' = ceil(h / 32) with the ImageNet stem, ceil(h / 8) with
          the small one (w' likewise). :meth:`features` is its spatial mean.
        """
        if images.ndim != 4 or images.shape[-1] != self.in_channels:
            raise ValueError(
                f"images must have shape (b, h, w, {self.in_channels}) (NHWC), got {images.shape}"
            )
        x = jax.nn.relu(_norm(self.stem_norm, self.stem_conv(images)))
        if self.stem == "imagenet":
            x = nnx.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
        for block in self.blocks:
            x = block(x)
        return x

    def features(self, images: Float[Array, "b h w c"]) -> Float[Array, "b f"]:
        """Pooled features (b, num_features) of a batch of NHWC images: the spatial mean of
        :meth:`feature_map`."""
        return jnp.mean(self.feature_map(images), axis=(1, 2))

    def __call__(
        self, images: Float[Array, "b h w c"]
    ) -> Float[Array, "b f"] | tuple[Float[Array, "b f"], Float[Array, "b k"]]:
        """Runs the network on a batch (BatchNorm needs the batch axis).

        Args:
          images: (b, h, w, in_channels) NHWC images.

        Returns:
          Features (b, num_features) if ``num_classes`` is None, else ``(features, logits)``
          with logits (b, num_classes).
        """
        feats = self.features(images)
        if self.head is None:
            return feats
        return feats, self.head(feats)
