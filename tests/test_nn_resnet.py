"""ResNet (basic / bottleneck, BatchNorm, stems, bf16) and the MLP head."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from aujax.nn._mlp import MLP
from aujax.nn._resnet import ResNet, _Block


# small, compile-bound problems: XLA's optimisations off for this module (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("fast_compile")


def _n_params(model) -> int:
    return sum(int(x.size) for x in jax.tree.leaves(nnx.state(model, nnx.Param)))


@pytest.mark.parametrize(
    ("depth", "expected"), [(18, 11_689_512), (34, 21_797_672), (50, 25_557_032)]
)
def test_param_count_matches_torchvision(depth, expected):
    model = nnx.eval_shape(lambda: ResNet(depth=depth, num_classes=1000, rngs=nnx.Rngs(0)))
    assert _n_params(model) == expected


@pytest.fixture(scope="module")
def tiny():
    """A width-4 ResNet-18 with the small stem (cheap to compile on the shared CPU)."""
    return ResNet(depth=18, width=4, num_classes=2, stem="small", rngs=nnx.Rngs(0))


def test_resnet18_forward_shapes_at_64px():
    # Full width, ImageNet stem: shapes by abstract evaluation (no compile on the 2-core CPU).
    model = nnx.eval_shape(lambda: ResNet(depth=18, num_classes=12, rngs=nnx.Rngs(0)))
    images = jax.ShapeDtypeStruct((2, 64, 64, 3), jnp.float32)
    feats, logits = nnx.eval_shape(lambda m, x: m(x), model, images)
    assert feats.shape == (2, 512) and logits.shape == (2, 12)
    small = nnx.eval_shape(lambda: ResNet(depth=50, width=8, stem="small", rngs=nnx.Rngs(0)))
    assert nnx.eval_shape(lambda m, x: m(x), small, images).shape == (2, 8 * 8 * 4)
    assert small.stem_conv.kernel.shape == (3, 3, 3, 8)
    with pytest.raises(ValueError, match="NHWC"):
        nnx.eval_shape(lambda m, x: m(x), model, jax.ShapeDtypeStruct((2, 3, 64, 64), jnp.float32))
    with pytest.raises(ValueError, match="depth"):
        ResNet(depth=20, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="stem"):
        ResNet(stem="cifar", rngs=nnx.Rngs(0))


@pytest.mark.parametrize("kind", ["basic", "bottleneck"])
def test_blocks_start_as_identity(kind, getkey):
    # zero_init_residual: the residual branch is 0 at init, so an identity block returns relu(x).
    conv = partial(nnx.Conv, use_bias=False, padding="SAME")
    norm = partial(nnx.BatchNorm, momentum=0.9, epsilon=1e-5)
    c_in = 8 if kind == "basic" else 16
    block = _Block(
        c_in,
        8 if kind == "basic" else 4,
        kind=kind,
        strides=1,
        conv=conv,
        norm=norm,
        zero_init_residual=True,
        rngs=nnx.Rngs(0),
    )
    assert block.proj is None and block.out_features == c_in
    x = jax.random.normal(getkey(), (2, 4, 4, c_in), dtype=jnp.float32)
    block.train()
    np.testing.assert_allclose(jax.jit(lambda b, x: b(x))(block, x), jax.nn.relu(x), atol=1e-6)
    down = _Block(
        c_in,
        8,
        kind=kind,
        strides=2,
        conv=conv,
        norm=norm,
        zero_init_residual=False,
        rngs=nnx.Rngs(0),
    )
    y = jax.jit(lambda b, x: b(x))(down, x)
    assert y.shape == (2, 2, 2, down.out_features) and np.all(y >= 0)


def test_forward_and_bf16(tiny, getkey):
    model = nnx.clone(tiny)
    model.eval()
    images = jax.random.normal(getkey(), (2, 16, 16, 3), dtype=jnp.float32)
    feats, logits = nnx.jit(lambda m, x: m(x))(model, images)
    assert feats.shape == (2, 32) and logits.shape == (2, 2)
    assert np.all(np.isfinite(feats)) and np.all(np.isfinite(logits))
    bf = ResNet(
        depth=18, width=4, num_classes=2, stem="small", dtype=jnp.bfloat16, rngs=nnx.Rngs(0)
    )
    bf.eval()
    f_bf, l_bf = nnx.jit(lambda m, x: m(x))(bf, images)
    assert f_bf.dtype == jnp.bfloat16 and l_bf.dtype == jnp.bfloat16
    assert bf.stem_conv.kernel.dtype == jnp.float32  # parameters stay float32
    # Same parameters (same seed): bf16 compute tracks float32 to bf16 precision.
    np.testing.assert_allclose(np.asarray(f_bf, np.float32), feats, rtol=0.1, atol=0.05)


def test_batchnorm_train_eval_modes(tiny, getkey):
    model = nnx.clone(tiny)
    x = jax.random.normal(getkey(), (4, 8, 8, 3), dtype=jnp.float32) * 2.0 + 1.0
    mean0 = np.asarray(model.stem_norm.mean[...])
    forward = nnx.jit(lambda m, x: m(x))

    model.train()
    _, train_logits = forward(model, x)
    assert not np.allclose(mean0, model.stem_norm.mean[...])  # running statistics updated
    # Train mode normalises with batch statistics: an example's output depends on the batch.
    _, alone = forward(model, x[:1])
    assert not np.allclose(alone[0], train_logits[0], atol=1e-6)

    model.eval()
    mean1 = np.asarray(model.stem_norm.mean[...])
    _, eval_logits = forward(model, x)
    np.testing.assert_array_equal(model.stem_norm.mean[...], mean1)  # frozen in eval mode
    _, alone = forward(model, x[:1])
    np.testing.assert_allclose(alone[0], eval_logits[0], rtol=1e-5, atol=1e-6)
    assert not np.allclose(eval_logits, train_logits, atol=1e-6)


def test_resnet_train_step_reduces_loss(tiny, getkey):
    model = nnx.clone(tiny)
    # optax.adam trips jax_numpy_dtype_promotion="strict" (optax's int count); SGD does not.
    opt = nnx.Optimizer(model, optax.sgd(0.05, momentum=0.9), wrt=nnx.Param)
    x = jax.random.normal(getkey(), (4, 8, 8, 3), dtype=jnp.float32)
    y = jnp.array([0, 1, 0, 1])

    @nnx.jit
    def step(model, opt, x, y):
        def loss_fn(m):
            _, logits = m(x)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        opt.update(model, grads)
        return loss, grads

    model.train()
    loss0, grads = step(model, opt, x, y)
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
    for _ in range(5):
        loss, _ = step(model, opt, x, y)
    assert float(loss) < float(loss0)


def test_mlp(getkey):
    mlp = MLP((5, 7, 3), activation="elu", rngs=nnx.Rngs(0))
    x = jax.random.normal(getkey(), (4, 5), dtype=jnp.float32)
    y = mlp(x)
    l0, l1 = mlp.layers
    ref = jax.nn.elu(x @ l0.kernel[...] + l0.bias[None]) @ l1.kernel[...] + l1.bias[None]
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)  # no final activation
    assert mlp(x[0]).shape == (3,)

    drop = MLP((5, 64, 2), dropout=0.5, rngs=nnx.Rngs(0))
    drop.eval()
    np.testing.assert_array_equal(drop(x), drop(x))
    drop.train()
    assert not np.allclose(drop(x), drop(x))
    with pytest.raises(ValueError, match="activation"):
        MLP((2, 2), activation="swish2", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="sizes"):
        MLP((2,), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="x must have shape"):
        mlp(jnp.ones((4, 6), jnp.float32))
