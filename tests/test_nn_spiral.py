"""Spiral sequences, SpiralConv, the CoMA mesh hierarchy and the spiral encoder/decoder."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from aujax.face import make_face
from aujax.nn._mesh_encoder import SpiralDecoder, SpiralEncoder
from aujax.nn._mesh_sampling import (
    build_mesh_hierarchy,
    closest_point_barycentric,
    mesh_pool,
    mesh_unpool,
    qslim_decimate,
)
from aujax.nn._spiral import SpiralConv, one_rings, spiral_indices


# small, compile-bound problems: XLA's optimisations off for this module (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("fast_compile")


def _hexagon():
    """Centre 0 and ring 1..6 counter-clockwise, fan triangles (0, k, k+1)."""
    ang = np.arange(6) * np.pi / 3
    v = np.concatenate([np.zeros((1, 3)), np.stack([np.cos(ang), np.sin(ang), 0 * ang], 1)])
    tri = np.array([[0, k, k % 6 + 1] for k in range(1, 7)])
    return v, tri


def _grid(n, *, spike=None):
    """n x n planar grid in z = 0 (spacing 1), two counter-clockwise triangles per cell."""
    x, y = np.meshgrid(np.arange(n, dtype=float), np.arange(n, dtype=float))
    v = np.stack([x.ravel(), y.ravel(), np.zeros(n * n)], 1)
    tri = []
    for r in range(n - 1):
        for c in range(n - 1):
            a, b, d, e = r * n + c, r * n + c + 1, (r + 1) * n + c, (r + 1) * n + c + 1
            tri += [[a, b, e], [a, e, d]]
    if spike is not None:
        v[spike, 2] = 3.0
    return v, np.array(tri)


@pytest.fixture(scope="module")
def face_hierarchy():
    face = make_face(500)
    return face, build_mesh_hierarchy(face.vertices, face.triangles, factors=(4, 4))


# ---------------------------------------------------------------- spirals


def test_hexagon_rings_and_spirals_match_hand_derivation():
    v, tri = _hexagon()
    rings = one_rings(tri, 7)
    assert rings[0] == [1, 6, 5, 4, 3, 2]  # clockwise from the lowest index
    assert rings[1] == [6, 0, 2]  # boundary: starts at the counter-clockwise end of the fan
    sp = spiral_indices(tri, 7, seq_length=7)
    assert sp[0].tolist() == [0, 1, 6, 5, 4, 3, 2]
    # Every boundary vertex k gets the same pattern, rotated: the orientation is consistent.
    for k in range(1, 7):
        r = [(k - 1 + j) % 6 + 1 for j in range(-4, 2)]  # r[4 + j]: j steps counter-clockwise
        assert sp[k].tolist() == [k, r[3], 0, r[5], r[2], r[1], r[0]]
    # Dilation keeps every second entry of the first 6.
    assert spiral_indices(tri, 7, seq_length=3, dilation=2)[0].tolist() == [0, 6, 4]
    assert spiral_indices(tri, 7, seq_length=4)[1].tolist() == [1, 6, 0, 2]


def test_grid_rings_are_clockwise_and_spirals_valid():
    v, tri = _grid(5)
    faces = {tuple(np.roll(t, s)) for t in tri.tolist() for s in range(3)}
    rings = one_rings(tri, 25)
    for vert, ring in enumerate(rings):
        pairs = list(zip(ring[:-1], ring[1:], strict=True))
        interior = len(ring) == 6
        if interior:
            pairs.append((ring[-1], ring[0]))
        for a, b in pairs:  # clockwise seen from +z: (v, b, a) is a counter-clockwise face
            assert (vert, b, a) in faces
    sp = spiral_indices(tri, 25, seq_length=9)
    assert sp.shape == (25, 9) and sp.dtype == np.int32
    np.testing.assert_array_equal(sp[:, 0], np.arange(25))
    assert all(len(set(row)) == 9 for row in sp.tolist())
    # The centre vertex 12: its one-ring, then the second ring starts next to the first's end.
    assert sp[12, 1:7].tolist() == rings[12]


def test_knn_fallback_when_rings_run_out():
    # Two separate triangles; vertex 0's rings give only 3 entries.
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1.2, 0], [3, 0, 0], [4, 0, 0], [3, 1, 0]], dtype=float)
    tri = np.array([[0, 1, 2], [3, 4, 5]])
    sp = spiral_indices(tri, 6, seq_length=4, vertices=v)
    assert sp[0].tolist() == [0, 1, 2, 3]  # kNN by distance: 1.0, 1.2, 3.0
    assert sp[4].tolist() == [4, 3, 5, 1]  # 1.0, 1.41, 3.0
    assert spiral_indices(tri, 6, seq_length=2, dilation=2, vertices=v)[0].tolist() == [0, 2]
    with pytest.raises(ValueError, match="vertices"):
        spiral_indices(tri, 6, seq_length=4)
    with pytest.raises(ValueError, match="exceeds n_vertices"):
        spiral_indices(tri, 6, seq_length=7, vertices=v)
    with pytest.raises(ValueError, match="triangles"):
        spiral_indices(np.array([[0, 1, 9]]), 6, seq_length=2)


def test_spiral_conv_formula_batch_and_relabelling_equivariance(getkey):
    v, tri = _grid(4)
    n = 16
    sp = spiral_indices(tri, n, seq_length=5)
    conv = SpiralConv(3, 2, indices=sp, rngs=nnx.Rngs(0))
    x = jax.random.normal(getkey(), (n, 3), dtype=jnp.float32)
    y = conv(x)
    w, b = conv.linear.kernel[...], conv.linear.bias[...]
    np.testing.assert_allclose(y[7], x[sp[7]].reshape(-1) @ w + b, rtol=1e-5, atol=1e-6)
    xb = jax.random.normal(getkey(), (2, 3, n, 3), dtype=jnp.float32)
    np.testing.assert_allclose(conv(xb)[1, 2], conv(xb[1, 2]), rtol=1e-5, atol=1e-6)
    # Relabel vertices: new vertex i is old p[i]; spirals are remapped accordingly. In float64, so
    # that the tolerance is ~1e8 times the rounding of either side, whatever order a CPU's GEMM
    # kernel sums the permuted rows in (in float32 the two sides' rounding used half of it).
    p = np.random.default_rng(0).permutation(n)
    inv = np.argsort(p)
    conv64 = SpiralConv(3, 2, indices=sp, rngs=nnx.Rngs(0), param_dtype=jnp.float64)
    conv_p = SpiralConv(3, 2, indices=inv[sp[p]], rngs=nnx.Rngs(0), param_dtype=jnp.float64)
    x64 = x.astype(jnp.float64)
    np.testing.assert_allclose(conv_p(x64[p]), conv64(x64)[p], rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="x must have shape"):
        conv(jnp.ones((n, 4)))


# ---------------------------------------------------------------- sampling


def test_grid_hierarchy_pool_unpool():
    v, tri = _grid(9)
    v[:, 2] = 0.05 * ((v[:, 0] - 4) ** 2 + (v[:, 1] - 3) ** 2)  # a curved bowl
    h = build_mesh_hierarchy(v, tri, factors=(3,), seq_length=5)
    s = h.sampling[0]
    assert h.sizes == (81, 27) and s.n_coarse == 27
    kept = np.asarray(s.down_index)
    assert np.all(np.diff(kept) > 0)
    assert {0, 8, 72, 80} <= set(kept.tolist())  # the boundary constraints keep the corners
    x = jax.random.normal(jax.random.key(1), (81, 2))
    pooled = mesh_pool(x, s)
    np.testing.assert_array_equal(pooled, x[kept])
    np.testing.assert_allclose(s.down_matrix() @ np.asarray(x), pooled)
    back = mesh_unpool(pooled, s)
    np.testing.assert_array_equal(back[kept], x[kept])  # kept vertices are copied exactly
    np.testing.assert_allclose(s.up_matrix() @ np.asarray(pooled), back, atol=1e-12)
    w = np.asarray(s.up_weight, dtype=np.float64)
    assert np.all(w >= 0)
    np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-6)
    # Each removed vertex is written on a coarse triangle (or its edge/vertex) ...
    coarse_tri = {frozenset(t) for t in np.asarray(h.triangles[1]).tolist()}
    removed = np.setdiff1d(np.arange(81), kept)
    for i in removed:
        support = frozenset(np.asarray(s.up_index[i])[w[i] > 0].tolist())
        assert any(support <= t for t in coarse_tri)
    # ... at the closest point of the coarse mesh, within an edge length of the original.
    rec = np.asarray(mesh_unpool(h.vertices[1], s), dtype=np.float64)
    dist = np.linalg.norm(rec - v, axis=1)
    _, _, d_ref = closest_point_barycentric(v[removed], np.asarray(h.vertices[1]), h.triangles[1])
    np.testing.assert_allclose(dist[removed], d_ref, atol=1e-5)
    assert dist.max() < 1.0
    # Barycentric weights reproduce a linear field at the interpolated points.
    a = np.array([0.3, -1.2, 0.7])
    lin = jnp.asarray(v @ a + 2.0)[:, None]
    np.testing.assert_allclose(mesh_unpool(mesh_pool(lin, s), s)[:, 0], rec @ a + 2.0, atol=1e-5)


def test_closest_point_matches_brute_force():
    v, tri = _grid(6)
    v[:, 2] = np.sin(v[:, 0]) * np.cos(v[:, 1])
    pts = np.random.default_rng(3).uniform(-1, 6, size=(40, 3))
    t, w, d = closest_point_barycentric(pts, v, tri)
    np.testing.assert_allclose(w.sum(1), 1.0)
    assert np.all(w >= -1e-12)
    on_mesh = np.einsum("mk,mkd->md", w, v[tri[t]])
    np.testing.assert_allclose(np.linalg.norm(pts - on_mesh, axis=1), d, atol=1e-9)
    # Brute force: dense barycentric sampling of every triangle never beats the result.
    g = np.linspace(0, 1, 21)
    a, b = np.meshgrid(g, g)
    keep = a + b <= 1
    bary = np.stack([1 - a[keep] - b[keep], a[keep], b[keep]], 1)
    samples = np.einsum("sk,fkd->fsd", bary, v[tri]).reshape(-1, 3)
    d_brute = np.min(np.linalg.norm(pts[:, None] - samples[None], axis=2), axis=1)
    assert np.all(d <= d_brute + 1e-12)
    assert np.all(d_brute - d < 0.06)


def test_qslim_keeps_a_sharp_feature():
    v, tri = _grid(7, spike=24)  # centre vertex lifted out of the plane
    kept, coarse = qslim_decimate(v, tri, n_target=25)
    assert kept.size == 25 and 24 in kept
    assert coarse.min() >= 0 and coarse.max() < 25


def test_face_hierarchy_levels(face_hierarchy):
    face, h = face_hierarchy
    n0 = face.n_vertices
    assert h.sizes == (n0, math.ceil(n0 / 4), math.ceil(math.ceil(n0 / 4) / 4))
    assert h.n_levels == 2
    for level, n in enumerate(h.sizes):
        assert h.spirals[level].shape == (n, 9)
        np.testing.assert_array_equal(h.spirals[level][:, 0], np.arange(n))
        assert int(h.triangles[level].max()) == n - 1  # every vertex is in a triangle
    for s, (n_fine, n_coarse) in zip(
        h.sampling, zip(h.sizes[:-1], h.sizes[1:], strict=True), strict=True
    ):
        assert (s.n_fine, s.n_coarse) == (n_fine, n_coarse)
        np.testing.assert_allclose(np.asarray(s.up_weight).sum(1), 1.0, atol=1e-6)
    # Up-sampling the coarse template approximates the fine one (median well under an edge).
    rec = mesh_unpool(h.vertices[1], h.sampling[0])
    err = np.linalg.norm(np.asarray(rec - h.vertices[0]), axis=1)
    assert np.median(err) < 0.25 * face.grid_spacing
    # Immutable pytree: leaves are arrays, sizes are static.
    assert all(isinstance(x, jax.Array) for x in jax.tree.leaves(h))
    with pytest.raises(ValueError, match="factors"):
        build_mesh_hierarchy(face.vertices, face.triangles, factors=(1,))
    with pytest.raises(ValueError, match="seq_length"):
        build_mesh_hierarchy(face.vertices, face.triangles, factors=(4,), seq_length=(9,))


# ---------------------------------------------------------------- encoder / decoder


def test_encoder_decoder_shapes_jit_vmap_grads(face_hierarchy, getkey):
    face, h = face_hierarchy
    n = h.sizes[0]
    enc = SpiralEncoder(h, channels=(8, 16), latent=4, rngs=nnx.Rngs(0))
    dec = SpiralDecoder(h, channels=(8, 16), latent=4, rngs=nnx.Rngs(1))
    u = 0.1 * jax.random.normal(getkey(), (3, n, 3), dtype=jnp.float32)

    def loss(models):
        e, d = models
        return jnp.mean((d(e(u)) - u) ** 2)

    @jax.jit  # one compilation for everything (eager dispatch is slow on the shared CPU)
    def run(enc, dec, u):
        z = enc(u)
        return dict(
            z=z,
            z0=enc(u[0]),
            zv=jax.vmap(lambda x: enc(x))(u),
            rec=dec(z),
            rec0=dec(z[0]),
            grads=nnx.grad(loss)((enc, dec)),
        )

    out = run(enc, dec, u)
    assert out["z"].shape == (3, 4) and out["z0"].shape == (4,)
    assert out["rec"].shape == (3, n, 3) and out["rec0"].shape == (n, 3)
    np.testing.assert_allclose(out["zv"], out["z"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["z0"], out["z"][0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["rec0"], out["rec"][0], rtol=1e-5, atol=1e-6)
    leaves = jax.tree_util.tree_leaves_with_path(out["grads"])
    # 2 encoder convs + linear, decoder linear + 2 convs + head: 7 (kernel, bias) pairs.
    assert len(leaves) == 14
    for path, g in leaves:
        assert np.all(np.isfinite(g)), jax.tree_util.keystr(path)
        assert float(jnp.max(jnp.abs(g))) > 0, jax.tree_util.keystr(path)
    with pytest.raises(ValueError, match="channels"):
        SpiralEncoder(h, channels=(8,), latent=4, rngs=nnx.Rngs(0))
