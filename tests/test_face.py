"""The procedural face: resolution, topology, symmetry, landmarks, regions, muscles, I/O."""

import jax
import numpy as np
import pytest

import aujax.face as F


@pytest.fixture(scope="module")
def face():
    return F.make_face(1500)


@pytest.mark.parametrize("n", [500, 4000, 30000])
def test_requested_resolution(n):
    f = F.make_face(n)
    assert abs(f.n_vertices - n) / n < 0.05
    t = np.asarray(f.triangles)
    assert t.min() == 0 and t.max() == f.n_vertices - 1
    # every vertex is used and no triangle is degenerate or flipped (front-facing, +z normal)
    v = np.asarray(f.vertices)
    assert np.unique(t).size == f.n_vertices
    e1, e2 = v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]]
    nz = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    assert nz.min() > 0


@pytest.mark.parametrize("n", [0, 399, 120_001, 3.5, "x", True])
def test_resolution_out_of_range(n):
    with pytest.raises(ValueError, match="n_vertices"):
        F.make_face(n)


def test_deterministic():
    a, b = F.make_face(800, seed=3), F.make_face(800, seed=3)
    assert jax.tree.all(jax.tree.map(lambda x, y: np.array_equal(x, y), a, b))


def test_edges_manifold_and_slits_open(face):
    t = np.asarray(face.triangles)
    e = np.sort(np.concatenate([t[:, [0, 1]], t[:, [1, 2]], t[:, [2, 0]]]), 1)
    _, counts = np.unique(e, axis=0, return_counts=True)
    assert counts.max() == 2  # manifold: each edge in one or two triangles
    v = np.asarray(face.vertices)
    pairs = np.asarray(face.slit_pairs)
    gap = v[pairs[:, 0], 1] - v[pairs[:, 1], 1]
    sid = np.asarray(face.slit_id)
    assert gap.min() > 0  # upper copies above lower copies everywhere
    assert 0.7 < gap[sid == 0].max() < 1.2  # palpebral fissure ~1 cm
    assert gap[sid == 2].max() < 0.2  # lips nearly closed at rest
    # the copies are not connected to each other: the slits are real cuts
    pair_set = {tuple(sorted(p)) for p in pairs}
    assert not pair_set & {tuple(x) for x in e}


def test_mirror_symmetry(face):
    m = F.mirror_map(face)
    v = np.asarray(face.vertices)
    np.testing.assert_allclose(v[m] * [-1, 1, 1], v, atol=1e-9)
    np.testing.assert_allclose(np.asarray(face.bone_weights)[m], face.bone_weights, atol=1e-9)
    np.testing.assert_allclose(np.asarray(face.jaw_weights)[m], face.jaw_weights, atol=1e-9)


def test_landmarks_semantics(face):
    p = np.asarray(
        F.landmarks_from_vertices(
            face.vertices, face.triangles, face.landmark_triangles, face.landmark_barycentric
        )
    )
    assert p.shape == (68, 3)
    assert np.all(np.asarray(face.landmark_barycentric) >= 0)
    np.testing.assert_allclose(np.asarray(face.landmark_barycentric).sum(1), 1.0, atol=1e-12)
    x, y, z = p.T
    assert x[0] < 0 < x[16] and abs(x[8]) < 1e-6 and y[8] == y[:17].min()  # jaw, chin lowest
    assert y[19] > y[37] > y[41] > y[30] > y[51] > y[57] > y[8]  # brow > lids > nose > lips > chin
    assert z[30] == z.max()  # the nose tip is the most prominent point
    assert x[36] < x[39] < 0 < x[42] < x[45]  # eye corners: right eye on the subject's right
    assert y[62] > y[66] and y[51] > y[62] and y[57] < y[66]  # outer/inner lips
    pairs = [(0, 16), (17, 26), (21, 22), (36, 45), (39, 42), (48, 54), (31, 35), (37, 44)]
    for a, b in pairs:
        np.testing.assert_allclose([-x[a], y[a], z[a]], [x[b], y[b], z[b]], atol=0.15)


def test_landmark_subsets():
    p = np.arange(68 * 2, dtype=float).reshape(68, 2)
    assert F.landmark_subset(p, 49).shape == (49, 2)
    assert F.landmark_subset(p, 66).shape == (66, 2)
    assert F.IDX49[0] == 17 and 60 not in F.IDX49 and 64 not in F.IDX66
    with pytest.raises(ValueError, match="scheme"):
        F.landmark_subset(p, 51)
    with pytest.raises(ValueError, match="68 landmarks"):
        F.landmark_subset(p[:60], 49)


def test_regions_and_bone_weights(face):
    b = np.asarray(face.bone_weights)
    assert b.min() >= 0 and b.max() <= 1
    for name in F.REGION_NAMES:
        assert face.region_mask(name).sum() > 0, name
    assert b[face.region_mask("forehead")].mean() > 0.5
    assert b[face.region_mask("lip_upper")].max() <= 0.03
    assert b[face.region_mask("cheek_l")].mean() < b[face.region_mask("forehead")].mean()
    jw = np.asarray(face.jaw_weights)
    assert jw[face.region_mask("lip_lower")].min() > 0.5 > jw[face.region_mask("lip_upper")].max()
    assert jw[face.region_mask("chin")].min() > 0.9 and jw[face.region_mask("forehead")].max() == 0
    with pytest.raises(ValueError, match="region"):
        face.region_mask("ear")


def test_muscles(face):
    m = F.make_muscles(face)
    assert m.n_muscles == len(F.muscle_names()) == 35
    p = np.asarray(m.distribution)
    np.testing.assert_allclose(p.sum(0), 1.0, rtol=1e-6)
    assert p.min() >= 0 and p.max() <= 1
    infl = np.asarray(m.influence)
    assert infl.min() >= 0 and infl.max() <= 1
    d = np.asarray(m.directions)
    np.testing.assert_allclose(np.linalg.norm(d, axis=-1), 1.0, atol=1e-6)
    # left/right muscles are mirror images
    mm = F.mirror_map(face)
    for name in m.names:
        if name.endswith("_r"):
            r, left = m.index(name), m.index(name[:-2] + "_l")
            np.testing.assert_allclose(infl[mm, left], infl[:, r], atol=1e-6)
            np.testing.assert_allclose(d[mm, left] * [-1, 1, 1], d[:, r], atol=1e-6)
    # zones of influence where anatomy puts them
    xy = np.asarray(face.param_xy)
    centre = lambda name: (infl[:, m.index(name)] @ xy) / infl[:, m.index(name)].sum()
    assert centre("zygomaticus_major_r")[0] < -2.5 and centre("frontalis_medial_l")[1] > 3
    assert centre("mentalis_r")[1] < -7 and centre("jaw")[1] < -6
    # levator labii acts above the mouth slit only, depressor labii below it only
    side = np.asarray(face.slit_side)
    lls = infl[:, m.index("levator_labii_superioris_r")]
    dli = infl[:, m.index("depressor_labii_inferioris_r")]
    mouth = np.abs(xy[:, 1] + 5.6) < 1e-9
    assert lls[mouth & (side < 0)].max() == 0 and dli[mouth & (side > 0)].max() == 0
    with pytest.raises(ValueError, match="unknown muscle"):
        m.index("platysma_r")


def test_facs_table():
    names = F.muscle_names()
    w = F.au_muscle_matrix(names)
    assert w.shape == (17, 35) and (w.sum(1) > 0).all()
    assert w[F.AU_IDS.index(12), names.index("zygomaticus_major_l")] == 1
    with pytest.raises(ValueError, match="unknown AU 3"):
        F.au_muscle_matrix(names, (1, 3))
    with pytest.raises(ValueError, match="absent"):
        F.au_muscle_matrix(names[:4], (12,))


def test_identity(face, getkey):
    basis = np.asarray(F.identity_basis(face))
    assert basis.shape == (20, face.n_vertices, 3)
    # slit copies move together: identity never tears an aperture
    pairs = np.asarray(face.slit_pairs)
    np.testing.assert_allclose(basis[:, pairs[:, 0]], basis[:, pairs[:, 1]], atol=1e-12)
    s = F.sample_subject(face, 35, key=getkey())
    assert s.identity.shape == (20,) and s.albedo.shape == (face.n_vertices, 3)
    assert 0 <= float(np.min(s.albedo)) and float(np.max(s.albedo)) <= 1
    # displacement per unit coefficient: millimetres, not centimetres
    amp = np.linalg.norm(basis, axis=-1).max(1)
    assert (amp > 0.05).all() and (amp < 1.0).all()


def test_obj_roundtrip_and_errors(face, tmp_path):
    p = tmp_path / "face.obj"
    F.write_obj(p, face.vertices, face.triangles, comment="aujax")
    v, t = F.read_obj(p)
    np.testing.assert_allclose(v, face.vertices, atol=1e-8)
    np.testing.assert_array_equal(t, face.triangles)
    q = tmp_path / "quad.obj"
    q.write_text("v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvt 0 0\nf 1/1 2//1 3/1/1 -1\n")
    v, t = F.read_obj(q)
    np.testing.assert_array_equal(t, [[0, 1, 2], [0, 2, 3]])
    bad = tmp_path / "bad.obj"
    bad.write_text("v 0 0 0\nv 1 0 x\n")
    with pytest.raises(ValueError, match=r"bad.obj:2"):
        F.read_obj(bad)
    bad.write_text("v 0 0 0\nv 1 0 0\nv 1 1 0\nf 1 2 7\n")
    with pytest.raises(ValueError, match=r"bad.obj:4.*not yet defined"):
        F.read_obj(bad)
    with pytest.raises(ValueError, match="triangles"):
        F.write_obj(p, face.vertices, np.asarray(face.triangles)[:, :2])
