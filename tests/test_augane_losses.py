"""Seed 003's Table 1 groups, configural distances, losses (eqs. 4-8) and GANE (eqs. 1-3):
zero at a perfect fit, eq. 5 against its double sum written out, the inactive-AU weighting,
similarity invariance of the configural distances, float64 gradients, GANE's shapes and its
invariance to the order of the AU nodes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.test_util import check_grads

from aujax.datasets import DISFA_AUS
from aujax.face import canonical_face_model, ibug68_from_mediapipe
from aujax.methods.augane import (
    CONFIGURAL_DISTANCES,
    GANE,
    TABLE1,
    au_feature_loss,
    au_group_matrix,
    au_landmark_groups,
    au_landmark_loss,
    au_relative_distance_loss,
    configural_distances,
    parameter_regularizer,
    project_landmarks,
    total_loss,
)


# small, compile-bound problems: XLA's optimisations off for this module (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("fast_compile")


@pytest.fixture(scope="module")
def face():
    """The MediaPipe canonical face's iBUG-68 points (cm, y up, float64), a camera, the image
    landmarks it projects to, and a perturbed copy (every point moved ~0.3 px)."""
    m = jnp.asarray(ibug68_from_mediapipe(canonical_face_model()[0].astype(np.float64)))
    camera = jnp.array([3.0, 1.5, -0.5])
    k = project_landmarks(m, camera)
    rng = np.random.default_rng(0)
    noisy = k + jnp.asarray(rng.uniform(0.1, 0.5, (68, 2)) * rng.choice([-1.0, 1.0], (68, 2)))
    p = jnp.asarray(rng.uniform(0.1, 0.9, len(DISFA_AUS)))
    return m, camera, k, noisy, p


def test_table1_groups():
    g = au_group_matrix()
    assert g.shape == (12, 68) and set(np.unique(g)) == {0.0, 1.0}
    assert (g.sum(1) > 0).all()
    groups = au_landmark_groups()
    rows = {row.part: set(row.landmarks) for row in TABLE1}
    # the paper's complements: outer brow = brow - inner brow, upper eye = eye - lower eye
    assert rows["inner brow"] | rows["outer brow"] == rows["brow"] == set(range(17, 27))
    assert not rows["inner brow"] & rows["outer brow"]
    assert rows["upper eye"] | rows["lower eye"] == rows["eye"] == set(range(36, 48))
    assert not rows["upper eye"] & rows["lower eye"]
    assert set(groups[4]) == set(range(17, 27)) and set(groups[9]) == set(range(27, 36))
    assert np.array_equal(au_group_matrix((4, 26))[0], g[DISFA_AUS.index(4)])
    with pytest.raises(ValueError, match="aus"):
        au_group_matrix((4, 3))


def test_configural_distances(face):
    m, _, k, _, _ = face
    c = configural_distances(k)
    assert c.shape == (23,) == (len(CONFIGURAL_DISTANCES),)
    assert np.all(np.isfinite(c)) and np.all(c > 0)
    iod = np.linalg.norm(k[36] - k[45])
    # the paper's example (AU 4): the inner brow corners 21 and 22
    np.testing.assert_allclose(c[0], np.linalg.norm(k[21] - k[22]) / iod, rtol=1e-12)
    # invariant to 2D similarity transforms, a reflection included
    for angle, scale, flip in ((0.7, 2.5, 1.0), (-2.0, 0.3, -1.0)):
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        rot = rot @ np.diag([1.0, flip])
        moved = scale * k @ jnp.asarray(rot.T) + jnp.array([[10.0, -4.0]])
        np.testing.assert_allclose(configural_distances(moved), c, rtol=1e-12, atol=1e-14)
    # an AU 4 brow lowering: the inner brows move together, feature 0 shrinks
    lowered = k.at[21].add(0.2 * (k[22] - k[21]))
    assert configural_distances(lowered)[0] < c[0]
    with pytest.raises(ValueError, match="landmarks"):
        configural_distances(m)


def _eq5_reference(k, m, camera, p, groups):
    """Eq. 5 written out: sum_i sum_{j in L_i} p_i |k_j - (s Pi M_j + t)|_1, in NumPy."""
    k, m, camera = np.asarray(k), np.asarray(m), np.asarray(camera)
    total = 0.0
    for i, au in enumerate(DISFA_AUS):
        for j in groups[au]:
            total += p[i] * np.abs(k[j] - (camera[0] * m[j, :2] + camera[1:])).sum()
    return total


def test_au_landmark_loss(face):
    m, camera, k, noisy, p = face
    groups = au_landmark_groups()
    assert float(au_landmark_loss(k, m, camera, p)) == 0.0
    loss = au_landmark_loss(noisy, m, camera, p)
    assert loss > 0
    np.testing.assert_allclose(loss, _eq5_reference(noisy, m, camera, p, groups), rtol=1e-12)
    # p uniform 1: every group weighs 1 (a landmark counts once per group that holds it)
    ones = np.ones(len(DISFA_AUS))
    np.testing.assert_allclose(
        au_landmark_loss(noisy, m, camera, ones),
        _eq5_reference(noisy, m, camera, ones, groups),
        rtol=1e-12,
    )
    # landmark 5 belongs to AU 26's group only: with p_26 = 0 moving it changes nothing, with
    # p_26 > 0 it does
    assert [au for au in DISFA_AUS if 5 in groups[au]] == [26]
    off = p.at[DISFA_AUS.index(26)].set(0.0)
    moved = noisy.at[5].add(jnp.array([3.0, -2.0]))
    assert float(au_landmark_loss(moved, m, camera, off)) == float(
        au_landmark_loss(noisy, m, camera, off)
    )
    assert au_landmark_loss(moved, m, camera, p) > au_landmark_loss(noisy, m, camera, p)
    with pytest.raises(ValueError, match="probabilities"):
        au_landmark_loss(noisy, m, camera, p[:5])
    with pytest.raises(ValueError, match="camera"):
        au_landmark_loss(noisy, m, camera[:2], p)


def test_au_relative_distance_loss(face):
    m, camera, k, noisy, _ = face
    assert float(au_relative_distance_loss(k, m, camera)) == 0.0
    # the camera cancels: another scale and translation leave the fit perfect
    np.testing.assert_allclose(
        au_relative_distance_loss(k, m, jnp.array([0.5, -3.0, 2.0])), 0.0, atol=1e-13
    )
    assert au_relative_distance_loss(noisy, m, camera) > 0


def test_feature_regularizer_total():
    rng = np.random.default_rng(1)
    a = jnp.asarray(rng.normal(size=(12, 8)))
    b = jnp.asarray(rng.normal(size=(12, 8)))
    assert float(au_feature_loss(a, a)) == 0.0
    np.testing.assert_allclose(au_feature_loss(a, b), np.linalg.norm(a - b), rtol=1e-12)
    assert np.array_equal(jax.grad(au_feature_loss)(a, a), np.zeros((12, 8)))  # not NaN
    with pytest.raises(ValueError, match="render_features"):
        au_feature_loss(a, b[:3])
    psi, theta, cam = (jnp.asarray(rng.normal(size=n)) for n in (50, 6, 3))
    zero = [jnp.zeros(n) for n in (50, 6, 3)]
    assert float(parameter_regularizer(*zero)) == 0.0
    np.testing.assert_allclose(
        parameter_regularizer(psi, theta, cam),
        1e-5 * np.sum(psi**2) + 0.1 * np.sum(theta**2),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        parameter_regularizer(psi, theta, cam, camera_weight=2.0)
        - parameter_regularizer(psi, theta, cam),
        2.0 * np.sum(cam**2),
        rtol=1e-12,
    )
    terms = [jnp.asarray(x) for x in (1.0, 2.0, 3.0, 4.0)]
    np.testing.assert_allclose(total_loss(*terms), 0.75 + 0.5 + 2.25 + 4.0, rtol=1e-15)
    with pytest.raises(ValueError, match="regularizer"):
        total_loss(*terms[:3], jnp.zeros(2))


def test_loss_gradients(face):
    m, camera, _, noisy, p = face
    kw = dict(order=1, modes=("fwd", "rev"), atol=1e-6, rtol=1e-6, eps=1e-7)
    # jitted: one compiled call per evaluation instead of many small eager ones
    check_grads(jax.jit(lambda m, c, p: au_landmark_loss(noisy, m, c, p)), (m, camera, p), **kw)
    check_grads(jax.jit(lambda m, c: au_relative_distance_loss(noisy, m, c)), (m, camera), **kw)
    rng = np.random.default_rng(2)
    a, b = jnp.asarray(rng.normal(size=(2, 12, 4)))
    check_grads(jax.jit(au_feature_loss), (a, b), order=2, modes=("rev",))
    regularizer = jax.jit(parameter_regularizer)
    check_grads(regularizer, (a[0, :5], a[1, :6], a[2, :3]), order=2, modes=("rev",))
    # vmap over a batch matches the per-example losses
    batch = jnp.stack([noisy, noisy + 0.1])
    losses = jax.jit(jax.vmap(au_landmark_loss, in_axes=(0, None, None, None)))(batch, m, camera, p)
    np.testing.assert_allclose(losses[1], au_landmark_loss(batch[1], m, camera, p), rtol=1e-12)


@pytest.fixture(scope="module")
def gane():
    # built under jit: one compiled initialisation instead of many small eager ones
    return nnx.jit(
        lambda: GANE(
            8,
            12,
            expression_dim=5,
            pose_dim=6,
            camera_dim=3,
            gat_heads=2,
            transformer_heads=2,
            transformer_depth=1,
            param_dtype=jnp.float64,
            rngs=nnx.Rngs(0),
        )
    )()


def test_gane_shapes_and_node_order(gane):
    rng = np.random.default_rng(3)
    v = jnp.asarray(rng.normal(size=(2, 12, 8)))  # V_AFG: batch 2, N = 12 AU nodes
    x = jnp.asarray(rng.normal(size=(2, 12)))  # X: global feature
    forward = nnx.jit(lambda model, v, x: (model(v, x), model.embed(v, x), model.nodes(v, x)))
    out, embedded, nodes = forward(gane, v, x)
    assert nodes.shape == embedded.shape == (2, 13, 8)  # eqs. 2-3: N + 1 nodes
    np.testing.assert_array_equal(nodes[:, :12], v)  # V_AFG first, then X E
    assert out.expression.shape == (2, 5) and out.pose.shape == (2, 6)
    assert out.camera.shape == (2, 3)
    perm = rng.permutation(12)
    shuffled, _, _ = forward(gane, v[:, perm], x)
    for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(shuffled), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    # the global feature matters
    other, _, _ = forward(gane, v, x + 1.0)
    assert not np.allclose(other.expression, out.expression)
    with pytest.raises(ValueError, match="global_feature"):
        gane(v, x[:, :5])
    with pytest.raises(ValueError, match="au_features"):
        gane(v[..., :4], x)
