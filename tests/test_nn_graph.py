"""Seed 003's layers: graph attention against a float64 NumPy transcription of the GAT equations,
node-permutation equivariance and masking, the query-token readout's invariance to token order,
``ResNet.feature_map`` against the pooled forward, and the AU-specific feature generator."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from aujax.nn import (
    GAT,
    AUFeatureGenerator,
    GraphAttention,
    QueryTokenEncoder,
    ResNet,
    TransformerEncoder,
)


# small, compile-bound problems: XLA's optimisations off for this module (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("fast_compile")

F64 = dict(param_dtype=jnp.float64)


def _elu(x):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0.0)))


def _gat_reference(h, layer: GraphAttention, adjacency, activation):
    """Veličković et al. eqs. 1-6 written out node by node, head by head, in float64 NumPy:
    e_ij = LeakyReLU(a_k^T [W_k h_i || W_k h_j]) over j in N(i) (self loop included),
    alpha_ij = softmax_j e_ij, h'_i = concat_k / mean_k sum_j alpha_ij W_k h_j, + bias, sigma."""
    h = np.asarray(h, np.float64)
    w = np.asarray(layer.linear.kernel[...], np.float64)  # (F, K F'), head k: columns k F'..
    a = np.concatenate(
        [np.asarray(layer.attention_self[...]), np.asarray(layer.attention_neigh[...])], axis=1
    )  # (K, 2 F')
    n, f2, slope = h.shape[0], layer.out_features, layer.negative_slope
    heads = []
    for k in range(layer.num_heads):
        z = h @ w[:, k * f2 : (k + 1) * f2]
        out = np.zeros((n, f2))
        for i in range(n):
            nbrs = [j for j in range(n) if j == i or adjacency is None or adjacency[i][j]]
            e = np.array([a[k] @ np.concatenate([z[i], z[j]]) for j in nbrs])
            e = np.where(e > 0, e, slope * e)
            alpha = np.exp(e - e.max())
            alpha /= alpha.sum()
            out[i] = sum(alpha[m] * z[j] for m, j in enumerate(nbrs))
        heads.append(out)
    out = np.concatenate(heads, axis=1) if layer.concat else np.mean(heads, axis=0)
    out = out + np.asarray(layer.bias[...])
    return activation(out)


@pytest.fixture(scope="module")
def graph():
    """6 nodes of 3 features and a random directed adjacency (no self loops given)."""
    rng = np.random.default_rng(0)
    adjacency = rng.random((6, 6)) < 0.4
    np.fill_diagonal(adjacency, False)
    return rng.normal(size=(6, 3)), adjacency


@pytest.mark.parametrize(
    ("concat", "activation", "masked"),
    [(True, "elu", True), (False, None, True), (True, None, False)],
)
def test_graph_attention_matches_numpy_transcription(graph, concat, activation, masked):
    h, adjacency = graph
    adjacency = adjacency if masked else None
    layer = GraphAttention(
        3,
        4,
        num_heads=3,
        concat=concat,
        activation=activation,
        adjacency=adjacency,
        rngs=nnx.Rngs(1),
        **F64,
    )
    # a non-zero bias, so that the reference checks where it is added
    layer.bias[...] = jnp.linspace(-0.5, 0.5, layer.output_features, dtype=jnp.float64)
    out = layer(jnp.asarray(h))
    assert out.dtype == jnp.float64 and out.shape == (6, 12 if concat else 4)
    expected = _gat_reference(h, layer, adjacency, _elu if activation else (lambda x: x))
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-13)
    alpha, _ = layer.attention(jnp.asarray(h))
    np.testing.assert_allclose(alpha.sum(-1), 1.0, rtol=1e-13)
    if masked:  # zero weight outside each neighbourhood; self loops added
        outside = ~(adjacency | np.eye(6, dtype=bool))
        assert np.all(np.asarray(alpha)[:, outside] == 0.0)
        assert np.all(np.asarray(alpha)[:, np.eye(6, dtype=bool)] > 0.0)
    # leading batch dimensions and vmap give the per-example result
    hb = jnp.stack([jnp.asarray(h), jnp.asarray(h[::-1])])
    ob = layer(hb[None])
    assert ob.shape == (1, 2, *out.shape)
    np.testing.assert_allclose(ob[0, 0], out, rtol=1e-13)
    np.testing.assert_allclose(jax.vmap(layer)(hb), ob[0], rtol=1e-13, atol=1e-15)


def test_graph_attention_gradients(graph):
    from jax.test_util import check_grads

    h, adjacency = graph
    layer = GraphAttention(
        3, 2, num_heads=2, activation="elu", adjacency=adjacency, rngs=nnx.Rngs(2), **F64
    )
    loss = jax.jit(lambda x: jnp.sum(layer(x) ** 2))  # one compiled program, not op by op
    check_grads(loss, (jnp.asarray(h),), order=1, modes=("rev",))


def test_gat_is_permutation_equivariant(graph):
    h, adjacency = graph
    gat = GAT(3, 4, num_layers=2, num_heads=2, rngs=nnx.Rngs(3), **F64)
    assert gat.out_features == 4 and gat.layers[0].output_features == 4  # 2 heads x 4 // 2
    perm = np.array([3, 0, 5, 1, 4, 2])
    for adj in (None, adjacency):
        out = gat(jnp.asarray(h), adjacency=adj)
        permuted = gat(jnp.asarray(h[perm]), adjacency=None if adj is None else adj[perm][:, perm])
        np.testing.assert_allclose(permuted, out[perm], rtol=1e-12, atol=1e-14)
    # a batched adjacency: one graph per example
    two = gat(jnp.stack([h, h[perm]]), adjacency=np.stack([adjacency, adjacency[perm][:, perm]]))
    np.testing.assert_allclose(two[1], two[0][perm], rtol=1e-12, atol=1e-14)
    # the constructor's mask is the call's default
    fixed = GAT(3, 4, num_layers=2, num_heads=2, adjacency=adjacency, rngs=nnx.Rngs(3), **F64)
    np.testing.assert_array_equal(fixed(jnp.asarray(h)), gat(jnp.asarray(h), adjacency=adjacency))


def test_masking_hides_non_neighbours(graph):
    h, adjacency = graph
    layer = GraphAttention(3, 4, num_heads=2, adjacency=adjacency, rngs=nnx.Rngs(4), **F64)
    out = layer(jnp.asarray(h))
    i = int(np.argmax(adjacency.sum(1) < 5))  # a node with at least one non-neighbour
    j = next(j for j in range(6) if j != i and not adjacency[i, j])
    k = next((k for k in range(6) if adjacency[i, k]), None)
    moved = h.copy()
    moved[j] += 10.0
    out_j = layer(jnp.asarray(moved))
    np.testing.assert_array_equal(out_j[i], out[i])  # j is not in N(i): no effect
    assert not np.allclose(out_j[j], out[j])  # j itself (its self loop) changes
    if k is not None:
        moved = h.copy()
        moved[k] += 10.0
        assert not np.allclose(layer(jnp.asarray(moved))[i], out[i])  # a neighbour matters


def test_graph_attention_train_mode_dropout_and_errors(graph):
    h, _ = graph
    layer = GraphAttention(3, 4, num_heads=2, dropout=0.5, rngs=nnx.Rngs(5), **F64)
    layer.eval()
    np.testing.assert_array_equal(layer(jnp.asarray(h)), layer(jnp.asarray(h)))
    layer.train()
    assert not np.allclose(layer(jnp.asarray(h)), layer(jnp.asarray(h)))
    with pytest.raises(ValueError, match="h must have shape"):
        layer(jnp.ones((6, 4)))
    with pytest.raises(ValueError, match="adjacency must have shape"):
        layer(jnp.asarray(h), adjacency=np.ones((5, 5), bool))
    with pytest.raises(ValueError, match="adjacency must have shape"):
        GraphAttention(3, 4, adjacency=np.ones((2, 3)), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="num_heads"):
        GraphAttention(3, 4, num_heads=0, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="activation"):
        GraphAttention(3, 4, activation="swish2", rngs=nnx.Rngs(0))


def test_query_token_output_is_invariant_to_node_order(getkey):
    enc = QueryTokenEncoder(8, depth=2, num_heads=2, rngs=nnx.Rngs(6), **F64)
    x = jax.random.normal(getkey(), (2, 5, 8), dtype=jnp.float64)
    out = enc(x)
    assert out.shape == (2, 8) and out.dtype == jnp.float64
    perm = np.array([4, 2, 0, 3, 1])
    np.testing.assert_allclose(enc(x[:, perm]), out, rtol=1e-12, atol=1e-13)
    assert not np.allclose(out[0], out[1])  # it reads the tokens
    # the encoder is equivariant over the tokens; the readout is the query token's row
    tokens = enc.tokens(x)
    assert tokens.shape == (2, 6, 8)
    np.testing.assert_allclose(
        enc.tokens(x[:, perm])[:, 1:], tokens[:, 1:][:, perm], rtol=1e-12, atol=1e-13
    )
    with_query = jnp.concatenate([jnp.broadcast_to(enc.query[...], (2, 1, 8)), x], axis=1)
    np.testing.assert_allclose(TransformerEncoder.__call__(enc, with_query), tokens, rtol=1e-13)
    with pytest.raises(ValueError, match="divisible"):
        TransformerEncoder(6, num_heads=4, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="x must have shape"):
        enc(jnp.ones((5, 7)))


def test_transformer_dropout_modes(getkey):
    enc = TransformerEncoder(8, depth=1, num_heads=2, dropout=0.3, rngs=nnx.Rngs(7), **F64)
    x = jax.random.normal(getkey(), (4, 8), dtype=jnp.float64)
    enc.eval()
    np.testing.assert_array_equal(enc(x), enc(x))
    enc.train()
    assert not np.allclose(enc(x), enc(x))


@pytest.fixture(scope="module")
def tiny_resnet():
    """A width-4 ResNet-18 with the small stem (as tests/test_nn_resnet.py), in eval mode."""
    model = ResNet(depth=18, width=4, num_classes=3, stem="small", rngs=nnx.Rngs(0))
    model.eval()
    return model


def test_resnet_feature_map_pools_to_the_forward(tiny_resnet, getkey):
    # and the composition seed 003 uses: ResNet.feature_map -> AUFeatureGenerator, one node per AU
    afg = AUFeatureGenerator(tiny_resnet.num_features, 12, 16, rngs=nnx.Rngs(9))
    images = jax.random.normal(getkey(), (2, 16, 16, 3), dtype=jnp.float32)
    fmap, (feats, logits), nodes = nnx.jit(
        lambda m, a, x: (m.feature_map(x), m(x), a(m.feature_map(x)))
    )(tiny_resnet, afg, images)
    assert fmap.shape == (2, 2, 2, tiny_resnet.num_features)  # 16 px / 8 (small stem)
    pooled = jnp.mean(fmap, axis=(1, 2))
    np.testing.assert_allclose(pooled, feats, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(tiny_resnet.head(pooled), logits, rtol=1e-6, atol=1e-6)
    assert nodes.shape == (2, 12, 16) and nodes.dtype == jnp.float32
    np.testing.assert_allclose(afg(fmap), nodes, rtol=1e-5, atol=1e-6)
    assert np.all(np.isfinite(nodes)) and np.all(nodes >= 0)
    with pytest.raises(ValueError, match="NHWC"):
        tiny_resnet.feature_map(jnp.ones((2, 3, 16, 16), jnp.float32))


def test_au_feature_generator(getkey):
    afg = AUFeatureGenerator(5, 3, 4, rngs=nnx.Rngs(8), **F64)
    afg.bias[...] = jax.random.normal(getkey(), (3, 4), dtype=jnp.float64)
    fmap = jax.random.normal(getkey(), (2, 3, 2, 5), dtype=jnp.float64)
    nodes = afg(fmap)
    assert nodes.shape == (2, 3, 4) and nodes.dtype == jnp.float64
    # per AU i: FC on every position, ReLU, global average pooling
    x, w, b = (np.asarray(a) for a in (fmap, afg.kernel[...], afg.bias[...]))
    for i in range(3):
        expected = np.maximum(x @ w[i] + b[i], 0.0).mean(axis=(1, 2))
        np.testing.assert_allclose(nodes[:, i], expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(afg(fmap[0]), nodes[0], rtol=1e-13)  # no batch axis
    # head i's parameters move node i only
    afg.kernel[...] = afg.kernel[...].at[1].add(0.5)
    moved = afg(fmap)
    np.testing.assert_array_equal(moved[:, [0, 2]], nodes[:, [0, 2]])
    assert not np.allclose(moved[:, 1], nodes[:, 1])
    with pytest.raises(ValueError, match="feature_map must have shape"):
        afg(jnp.ones((2, 3, 2, 4)))
