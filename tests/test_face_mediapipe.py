"""The MediaPipe-468 scheme: the iBUG-68 table, the canonical model asset, the template embedding."""

import jax.numpy as jnp
import numpy as np
import pytest

import aujax.face as F
from aujax.face import _geometry_spec as spec
from aujax.face._mediapipe import _closest_on_triangles


UPPER_INNER_LIP = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LOWER_INNER_LIP = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
RIGHT_UPPER_LID = (33, 246, 161, 160, 159, 158, 157, 173, 133)
RIGHT_LOWER_LID = (33, 7, 163, 144, 145, 153, 154, 155, 133)

# Measured at the default regularization on templates of 400..30000 vertices: iBUG points 17-67
# from the embedded 468 points miss the template's own landmarks by at most 0.142 cm (point 28,
# the mean of MediaPipe 197 and 195, which lies off the curved nose bridge) and by 0.022-0.025 cm
# on average. The tolerances are about twice that.
INNER_MAX_CM = 0.3
INNER_MEAN_CM = 0.05


@pytest.fixture(scope="module")
def face():
    return F.make_face(600)


@pytest.fixture(scope="module")
def embedding(face):
    return F.mediapipe_embedding(face)


def _evaluate(vertices, face, embedding):
    tri, bary = embedding
    return np.asarray(F.landmarks_from_vertices(jnp.asarray(vertices), face.triangles, tri, bary))


def test_table():
    table = F.MEDIAPIPE_TO_IBUG68
    assert len(table) == 68
    assert all(1 <= len(p) <= 2 for p in table)
    flat = [i for p in table for i in p]
    assert all(isinstance(i, int) and 0 <= i < F.MEDIAPIPE_SCHEME for i in flat)
    assert F.MEDIAPIPE_SCHEME == 468
    assert table[30] == (4,) and table[27] == (168, 6) and table[62] == (13,)


def test_ibug68_from_mediapipe():
    pts = np.random.default_rng(0).normal(size=(2, 468, 3))
    out = F.ibug68_from_mediapipe(pts)
    assert isinstance(out, np.ndarray) and out.shape == (2, 68, 3)
    np.testing.assert_allclose(out[:, 27], 0.5 * (pts[:, 168] + pts[:, 6]))
    np.testing.assert_array_equal(out[:, 30], pts[:, 4])
    out_j = F.ibug68_from_mediapipe(jnp.asarray(pts[0, :, :2]))
    assert isinstance(out_j, jnp.ndarray) and out_j.shape == (68, 2)
    np.testing.assert_allclose(np.asarray(out_j), out[0, :, :2])
    for bad in (np.zeros((478, 3)), np.zeros((3, 468)), np.zeros(468)):
        with pytest.raises(ValueError, match="points"):
            F.ibug68_from_mediapipe(bad)


def test_canonical_model():
    v, t = F.canonical_face_model()
    assert v.shape == (468, 3) and v.dtype == np.float32 and np.isfinite(v).all()
    assert t.shape == (898, 3) and t.dtype == np.int32 and t.min() == 0 and t.max() == 467
    assert F.canonical_face_model()[0] is v  # cached
    assert not v.flags.writeable
    assert 15.0 < np.ptp(v[:, 0]) < 16.0  # ~15.5 cm wide
    assert int(np.argmax(v[:, 2])) == 4  # nose tip nearest the viewer (+z)
    assert v[10, 1] > v[[4, 152, 33, 263], 1].max()  # forehead at the top (+y)
    assert v[33, 0] < 0 < v[263, 0]  # subject's right outer canthus at negative x
    assert v[13, 1] > v[14, 1]  # upper inner lip above the lower one
    # the triangulation is a mirror-symmetric disk: each edge in one or two triangles
    e = np.sort(np.concatenate([t[:, [0, 1]], t[:, [1, 2]], t[:, [2, 0]]]), 1)
    _, counts = np.unique(e, axis=0, return_counts=True)
    assert counts.max() == 2 and 468 - len(counts) + len(t) == 1
    np.testing.assert_allclose(np.sort(v[:, 0]), -np.sort(v[:, 0])[::-1], atol=1e-6)


def test_closest_point_on_triangle():
    rng = np.random.default_rng(1)
    abc = rng.normal(size=(50, 3, 3))
    p = rng.normal(size=(50, 3)) * 2.0
    bary = _closest_on_triangles(p, abc[:, 0], abc[:, 1], abc[:, 2])
    assert bary.min() >= -1e-12
    np.testing.assert_allclose(bary.sum(1), 1.0)
    q = np.einsum("kc,kcd->kd", bary, abc)
    # no point of a dense sample of each triangle is closer
    u, w = np.meshgrid(np.linspace(0, 1, 60), np.linspace(0, 1, 60))
    keep = u + w <= 1
    s = np.stack([1 - u[keep] - w[keep], u[keep], w[keep]], 1)
    samples = np.einsum("sc,kcd->ksd", s, abc)
    dense = np.linalg.norm(samples - p[:, None], axis=-1).min(1)
    assert np.all(np.linalg.norm(q - p, axis=1) <= dense + 1e-12)


def test_embedding_valid_and_deterministic(face, embedding):
    tri, bary = embedding
    assert tri.shape == (468,) and tri.dtype == jnp.int32 and bary.shape == (468, 3)
    t, b = np.asarray(tri), np.asarray(bary)
    assert t.min() >= 0 and t.max() < face.triangles.shape[0]
    assert b.min() >= -1e-6
    np.testing.assert_allclose(b.sum(1), 1.0, atol=1e-9)
    tri2, bary2 = F.mediapipe_embedding(face)
    np.testing.assert_array_equal(np.asarray(tri2), t)
    np.testing.assert_array_equal(np.asarray(bary2), b)
    with pytest.raises(ValueError, match="regularization"):
        F.mediapipe_embedding(face, regularization=-1.0)


def test_embedding_matches_template_landmarks(face, embedding):
    pts = _evaluate(face.vertices, face, embedding)
    own = np.asarray(
        F.landmarks_from_vertices(
            face.vertices, face.triangles, face.landmark_triangles, face.landmark_barycentric
        )
    )
    d = np.linalg.norm(F.ibug68_from_mediapipe(pts) - own, axis=1)[17:]
    assert d.max() < INNER_MAX_CM and d.mean() < INNER_MEAN_CM
    # the embedded mesh keeps MediaPipe's layout: about as few fold-overs seen from the front
    cv, ct = F.canonical_face_model()
    flips = lambda p: int(
        (np.cross(p[ct[:, 1]] - p[ct[:, 0]], p[ct[:, 2]] - p[ct[:, 0]])[:, 2] <= 0).sum()
    )
    assert flips(pts) <= flips(cv.astype(np.float64)) + 5


def _open_jaw(face, angle):
    """Rotates the mandible about the hinge axis (x through JAW_PIVOT), skinned by jaw_weights."""
    v = np.asarray(face.vertices)
    c, s = np.cos(angle), np.sin(angle)
    rel = v - spec.JAW_PIVOT
    rot = np.stack([rel[:, 0], c * rel[:, 1] - s * rel[:, 2], s * rel[:, 1] + c * rel[:, 2]], 1)
    return v + np.asarray(face.jaw_weights)[:, None] * (rot + spec.JAW_PIVOT - v)


def test_lips_and_lids_on_their_rims(face, embedding):
    rest = _evaluate(face.vertices, face, embedding)
    up, lo = list(UPPER_INNER_LIP[1:-1]), list(LOWER_INNER_LIP[1:-1])  # corners are shared
    assert np.all(rest[up, 1] > rest[lo, 1])
    eu, el = list(RIGHT_UPPER_LID[1:-1]), list(RIGHT_LOWER_LID[1:-1])
    assert np.all(rest[eu, 1] > rest[el, 1])
    opened = _evaluate(_open_jaw(face, 0.15), face, embedding)
    gap_rest = rest[up, 1] - rest[lo, 1]
    gap_open = opened[up, 1] - opened[lo, 1]
    assert np.all(gap_open > gap_rest + 0.5)  # the lower lip drops with the jaw (>= 0.5 cm)
    # the upper lip stays (near the corners the jaw's skinning weight reaches a little into it)
    move_up = np.linalg.norm(opened[up] - rest[up], axis=1)
    move_lo = np.linalg.norm(opened[lo] - rest[lo], axis=1)
    assert np.all(move_up < 0.25 * move_lo)
