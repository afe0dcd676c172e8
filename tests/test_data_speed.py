"""The data path's speed changes keep their results: fast readers, the LU inverse, batched crops."""

import os

import h5py
import jax.numpy as jnp
import numpy as np
import pytest

import aujax.geometry as ag
from aujax.datasets._bp4d import (
    BP4DSequence,
    _read_occ,
    read_bp4d_sequence,
    write_bp4d_sequence,
)
from aujax.datasets._mat73 import read_features_mat as _read_mat
from aujax.face import make_face
from aujax.physics import dense_effective_inverse
from aujax.render._splat import _shade_chunk, _zbuffer_chunk, render_splat
from aujax.synth import generate_bp4d
from aujax.synth._rig import build_subject_rig
from tests._images import assert_same_image


def _sequence(n=12, seed=0):
    rng = np.random.default_rng(seed)
    landmarks = rng.normal(200.0, 30.0, (n, 49, 2))
    pose = np.linalg.qr(rng.standard_normal((n, 3, 3)))[0]
    landmarks[[2, 7]] = np.nan  # dropped frames: empty cells
    pose[[2, 7]] = np.nan
    return BP4DSequence(
        subject="F001", task="T1", frames=np.arange(1, n + 1),
        occurrence=rng.choice([0, 1, 9], (n, 3)).astype(np.int8), aus=(1, 2, 12),
        occlusion=rng.random(n) < 0.2, intensity=None, landmarks=landmarks, pose=pose,
    )  # fmt: skip


def _high_level_mat(path, frames):
    """The reader before the low-level path: one high-level dereference per entry."""
    lms = np.full((len(frames), 49, 2), np.nan)
    pose = np.full((len(frames), 3, 3), np.nan)
    with h5py.File(path, "r") as fh:
        pred, rots = fh["fit/pred"][()].reshape(-1), fh["fit/pose"][()].reshape(-1)
        for k, f in enumerate(frames):
            obj = fh[pred[f - 1]]
            if not obj.attrs.get("MATLAB_empty", 0):
                lms[k] = obj[()].T
            obj = fh[rots[f - 1]]
            if isinstance(obj, h5py.Group):
                pose[k] = obj["rot"][()].T
    return lms, pose


def test_fast_mat_reader_equals_the_high_level_one(tmp_path):
    """Bit-identical landmarks and poses (NaN where cells are empty), including entries that
    take the fallback path: float32 data (HDF5 conversion) and a 2x49 cell marked empty."""
    seq = _sequence()
    write_bp4d_sequence(tmp_path, seq)
    path = os.path.join(tmp_path, "2DFeatures", "F001_T1.mat")
    frames = seq.frames
    got = _read_mat(path, frames)
    want = _high_level_mat(path, frames)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
    np.testing.assert_array_equal(got[0], seq.landmarks)  # float64 round trip is exact
    # rewrite two entries the fast path declines: float32 values, a 2x49 dataset marked empty
    with h5py.File(path, "r+") as fh:
        refs = fh["#refs#"]
        data = refs["p3"][()].astype(np.float32)
        del refs["p3"]
        refs.create_dataset("p3", data=data)
        fh["fit/pred"][3, 0] = refs["p3"].ref
        refs["p5"].attrs["MATLAB_empty"] = np.uint8(1)
    lms, pose = _read_mat(path, frames)
    np.testing.assert_array_equal(lms[3], data.T.astype(np.float64))
    assert np.isnan(lms[5]).all() and not np.isnan(pose[5]).any()
    np.testing.assert_array_equal(lms[[0, 1, 4, 6]], seq.landmarks[[0, 1, 4, 6]])


def test_fast_mat_reader_keeps_its_errors(tmp_path):
    seq = _sequence()
    write_bp4d_sequence(tmp_path, seq)
    path = os.path.join(tmp_path, "2DFeatures", "F001_T1.mat")
    with h5py.File(path, "r+") as fh:
        refs = fh["#refs#"]
        del refs["p4"]
        refs.create_dataset("p4", data=np.zeros((2, 48)))
        fh["fit/pred"][4, 0] = refs["p4"].ref
    with pytest.raises(ValueError, match=r"F001_T1.mat: fit/pred entry 4 \(frame 5\).*2x49"):
        _read_mat(path, seq.frames)
    write_bp4d_sequence(tmp_path, seq)
    with h5py.File(path, "r+") as fh:
        del fh["#refs#/r6/rot"]
        fh["#refs#/r6"].create_dataset("rot", data=np.eye(2))
    with pytest.raises(ValueError, match=r"fit/pose entry 6 \(frame 7\).*3x3 'rot'"):
        _read_mat(path, seq.frames)


def test_fast_occ_parse_equals_the_line_by_line_one(tmp_path):
    """The vectorised parse and the checked per-line parse give the same arrays; files it
    declines (spaces, a bad value) still fail or parse line by line with the same messages."""
    seq = _sequence()
    write_bp4d_sequence(tmp_path, seq, max_au=12)
    path = os.path.join(tmp_path, "AUCoding", "AU_OCC", "F001_T1.csv")
    fast = _read_occ(path)
    with open(path) as fh:
        text = fh.read().splitlines()
    spaced = [text[0]] + [line.replace(",", ", ") for line in text[1:]]  # per-line path
    with open(path, "w") as fh:
        fh.write("\n".join(spaced) + "\n")
    slow = _read_occ(path)
    np.testing.assert_array_equal(fast[0], slow[0])
    np.testing.assert_array_equal(fast[2], slow[2])
    assert fast[1].keys() == slow[1].keys()
    for au in fast[1]:
        np.testing.assert_array_equal(fast[1][au], slow[1][au])
    bad = list(text)
    bad[4] = bad[4][:-1] + "2"  # an occlusion flag of 2 on line 5
    with open(path, "w") as fh:
        fh.write("\n".join(bad) + "\n")
    with pytest.raises(ValueError, match=r"F001_T1.csv, line 5: expected occlusion flag"):
        _read_occ(path)
    bad = list(text)
    bad[3], bad[4] = bad[4], bad[3]  # frames out of order
    with open(path, "w") as fh:
        fh.write("\n".join(bad) + "\n")
    with pytest.raises(ValueError, match=r"line 5: expected frame numbers .* to increase"):
        _read_occ(path)


def test_lu_inverse_matches_cholesky():
    face = make_face(400)
    rig = build_subject_rig(face, np.random.default_rng(0).normal(size=20), fps=25.0)
    ref = dense_effective_inverse(rig.integrator)
    got = rig.k_eff_inverse
    np.testing.assert_array_equal(got, got.T)
    assert np.abs(got - ref).max() <= 1e-12 * np.abs(ref).max()


@pytest.fixture(scope="module")
def scene():
    face = make_face(400)
    rng = np.random.default_rng(1)
    n = 6
    verts = (face.vertices[None] + 0.05 * rng.standard_normal((n, face.n_vertices, 3))).astype(
        np.float32
    )
    yaw = 0.4 * rng.standard_normal(n)
    rots = np.stack([[[np.cos(a), 0.0, np.sin(a)], [0.0, 1.0, 0.0], [-np.sin(a), 0.0, np.cos(a)]]
                     for a in yaw]).astype(np.float32)  # fmt: skip
    albedo = rng.uniform(0.3, 0.9, (face.n_vertices, 3)).astype(np.float32)
    cam = ag.frame_vertices(jnp.asarray(face.vertices, jnp.float32), height=48, width=48,
                            margin=0.06)  # fmt: skip
    return face, verts, rots, albedo, cam


def test_per_frame_lights_equal_separate_calls(scene):
    """One call with a light per frame gives each frame the image of its own call, whatever
    frames share its chunk."""
    face, verts, rots, albedo, cam = scene
    lights = np.array([[0.0, 0.5, 1.0], [0.3, 0.2, 1.0], [0.0, 0.0, 1.0]] * 2)
    ambient = np.array([0.2, 0.5, 0.3, 0.1, 0.4, 0.6])
    both = render_splat(verts, face.triangles, albedo, camera=cam, rotations=rots,
                        light_dir=lights, ambient=ambient, diffuse=1.0 - ambient, chunk=4)  # fmt: skip
    for b in range(len(verts)):
        one = render_splat(verts[b : b + 1], face.triangles, albedo, camera=cam,
                           rotations=rots[b : b + 1], light_dir=tuple(lights[b]),
                           ambient=float(ambient[b]), diffuse=1.0 - float(ambient[b]))  # fmt: skip
        assert_same_image(both[b], one[0])
    with pytest.raises(ValueError, match="ambient"):
        render_splat(verts, face.triangles, albedo, camera=cam, ambient=ambient[:2])
    with pytest.raises(ValueError, match="light_dir"):
        render_splat(verts, face.triangles, albedo, camera=cam, light_dir=lights[:2])


def test_new_sequences_do_not_recompile(scene):
    """The compiled shapes depend on the chunk, the image size and the default tile (the size of
    the mesh's triangles in pixels), not on the frames' poses (or the larger triangles' count)."""
    face, verts, rots, albedo, cam = scene
    kw = dict(camera=cam, light_dir=(0.0, 0.3, 1.0), ambient=0.3, diffuse=0.7, chunk=3)
    render_splat(verts, face.triangles, albedo, rotations=rots, **kw)
    sizes = (_zbuffer_chunk._cache_size(), _shade_chunk._cache_size())
    other = np.concatenate([rots[:1], rots[:0:-1] @ rots[:1]])  # frame 0 kept (it sets the tile)
    assert not np.allclose(other[1:], rots[1:])  # other poses, other larger triangles
    moved = np.concatenate([verts[:1], verts[:0:-1] * 1.01])
    render_splat(moved, face.triangles, albedo, rotations=other, **kw)
    assert (_zbuffer_chunk._cache_size(), _shade_chunk._cache_size()) == sizes


@pytest.mark.slow
def test_subjects_in_flight_do_not_change_a_subject(tmp_path):
    """Three subjects generated together (the physics of two in flight, the writer thread) give
    the last one exactly the files of generating it alone."""
    from aujax.synth import get_preset

    subjects = get_preset("bp4d", "tiny").subjects[:3]
    last = subjects[-1]
    kw = dict(size="tiny", seed=3, n_vertices=400, tasks=["T1"], image_size=16, progress=None)
    generate_bp4d(tmp_path / "both", subjects=subjects, **kw)
    generate_bp4d(tmp_path / "alone", subjects=[last], **kw)
    a = read_bp4d_sequence(tmp_path / "both", last, "T1")
    b = read_bp4d_sequence(tmp_path / "alone", last, "T1")
    np.testing.assert_array_equal(a.landmarks, b.landmarks)
    np.testing.assert_array_equal(a.occurrence, b.occurrence)
    for name in (f"AUCoding/AU_OCC/{last}_T1.csv", f"img/{last}/T1/7.jpg"):
        assert (tmp_path / "both" / name).read_bytes() == (tmp_path / "alone" / name).read_bytes()
    ga = np.load(tmp_path / "both" / "synthetic" / f"{last}_T1.npz")
    gb = np.load(tmp_path / "alone" / "synthetic" / f"{last}_T1.npz")
    for key in ga.files:
        np.testing.assert_array_equal(ga[key], gb[key])


def test_mat_writer_is_byte_deterministic(tmp_path):
    """No object timestamps: writing the same sequence twice (> 1 s apart) gives the same bytes."""
    import time

    seq = _sequence()
    write_bp4d_sequence(tmp_path / "a", seq)
    time.sleep(1.1)
    write_bp4d_sequence(tmp_path / "b", seq)
    name = os.path.join("2DFeatures", "F001_T1.mat")
    assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
