"""Synthetic BP4D-like data: generator -> real layout on disk -> readers give the generator's data."""

import json

import numpy as np
import pytest

from aujax.datasets import read_bp4d_sequence
from aujax.face import AU_IDS, IDX49
from aujax.synth import generate_bp4d


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("bp4d")
    summary = generate_bp4d(root, size="tiny", seed=3, subjects=["F001"], tasks=["T1", "T6"],
                            progress=None)  # fmt: skip
    return root, summary


def test_round_trip_through_the_bp4d_readers(generated):
    root, summary = generated
    assert summary["frames"] == 100
    for task in ("T1", "T6"):
        seq = read_bp4d_sequence(root, "F001", task, aus=None)
        gt = np.load(root / "synthetic" / f"F001_{task}.npz")
        cols = [seq.aus.index(au) for au in AU_IDS]
        occ = seq.occurrence[:, cols]
        assert occ.shape == (50, 17)
        assert set(np.unique(occ)) <= {0, 1, 9}
        # labels are the coded truth: present only where the true intensity is non-trivial
        coded = occ != 9
        assert np.all((occ[coded] == 1) <= (gt["intensity"][coded] > 0.0))
        others = [i for i, au in enumerate(seq.aus) if au not in AU_IDS]
        assert np.all(seq.occurrence[:, others] == 9)  # AUs the generator does not model
        # landmarks: the stored 49 points are the noisy projections, NaN on dropped frames
        lm = seq.landmarks
        dropped = gt["dropped"]
        assert np.all(np.isnan(lm[dropped])) and np.all(np.isfinite(lm[~dropped]))
        noise = lm[~dropped] - gt["landmarks_2d"][~dropped][:, np.asarray(IDX49)]
        assert 0.7 < noise.std() < 1.3  # 1 px detector noise
        np.testing.assert_allclose(seq.pose[~dropped], gt["head_rotation"][~dropped], atol=1e-12)
        assert set(seq.intensity) == {6, 10, 12, 14, 17}
    assert json.loads((root / "synthetic" / "summary.json").read_text())["frames"] == 100


def test_labels_agree_with_geometry(generated):
    """Frames labelled AU12 have raised mouth corners in the stored 3D landmarks (model frame; both
    sequences of the subject pooled: amusement holds a smile, pain mostly does not)."""
    root, _ = generated
    labels, corners = [], []
    for task in ("T1", "T6"):
        gt = np.load(root / "synthetic" / f"F001_{task}.npz")
        labels.append(read_bp4d_sequence(root, "F001", task, aus=(12,)).occurrence[:, 0])
        corners.append(gt["landmarks_3d"][:, [48, 54], 1].mean(axis=1))
    labels, corners = np.concatenate(labels), np.concatenate(corners)
    on, off = labels == 1, labels == 0
    assert on.sum() >= 5 and off.sum() >= 5
    assert corners[on].mean() > corners[off].mean() + 0.1  # cm


def test_generation_is_deterministic(generated, tmp_path):
    root, _ = generated
    generate_bp4d(tmp_path, size="tiny", seed=3, subjects=["F001"], tasks=["T6"], progress=None)
    a = np.load(root / "synthetic" / "F001_T6.npz")
    b = np.load(tmp_path / "synthetic" / "F001_T6.npz")
    for key in a.files:
        np.testing.assert_array_equal(a[key], b[key])
    first = (root / "AUCoding" / "AU_OCC" / "F001_T6.csv").read_bytes()
    assert first == (tmp_path / "AUCoding" / "AU_OCC" / "F001_T6.csv").read_bytes()


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="subjects"):
        generate_bp4d(tmp_path, subjects=["X999"], progress=None)
    with pytest.raises(ValueError):
        generate_bp4d(tmp_path, tasks=["T9"], progress=None)


def test_frames_are_written_and_au12_changes_the_mouth_pixels(generated):
    from aujax.datasets import read_bp4d_frames
    from aujax.face import make_face, skin_albedo
    from aujax.physics import build_au_blendshapes
    from tests._crops_reference import render_crops

    root, _ = generated
    frames = read_bp4d_frames(root, "F001", "T1")
    assert frames.shape[0] == 50 and frames.shape[-1] == 3 and frames.dtype == np.uint8
    assert frames.std() > 10.0  # a face, not a blank image
    face = make_face(600, seed=3)
    model, _ = build_au_blendshapes(face)
    albedo = np.asarray(skin_albedo(face, 0.3, key=__import__("jax").random.key(0)))
    u = np.stack(
        [np.zeros((face.n_vertices, 3)), 4.0 * np.asarray(model.au_basis[model.au_index(12)])]
    )
    img = render_crops(face.vertices, u, np.repeat(np.eye(3)[None], 2, 0), face.triangles, albedo,
                       size=64).astype(float)  # fmt: skip
    diff = np.abs(img[1] - img[0]).mean(axis=-1)
    lower, upper = diff[40:56].mean(), diff[8:24].mean()  # mouth rows vs brow rows
    assert lower > 3.0 * upper and lower > 1.0


def test_dataset_report(generated, tmp_path, capsys):
    from tools import dataset_report

    root, _ = generated
    assert dataset_report.main([str(root), "--figures", str(tmp_path), "--samples", "2"]) == 0
    out = capsys.readouterr().out
    assert "detector noise vs ground truth (RMS px) | 1.0" in out  # the generator's 1 px noise
    assert (tmp_path / "au_timeline.png").exists() and (tmp_path / "samples.png").exists()
    assert dataset_report.main([str(tmp_path)]) == 2  # not a dataset


@pytest.mark.parametrize("color", [True, False])
def test_tile_crops_equal_the_banded_renderer(monkeypatch, color):
    """The crops' tile-splatting path gives the images of `aujax.render.render` (the fallback for
    large triangles) up to one grey level at a few edge pixels (ties at equal depth)."""
    import jax

    import tests._crops_reference as crops
    from aujax.face import make_face, skin_albedo
    from aujax.synth import head_pose_sequence

    face = make_face(400, seed=1)
    albedo = np.asarray(skin_albedo(face, 0.6, key=jax.random.key(1)))
    rng = np.random.default_rng(0)
    rot, _ = head_pose_sequence(5, sd_deg=(15.0, 10.0, 5.0), fps=25.0, rng=rng)
    u = 0.1 * rng.standard_normal((5, face.n_vertices, 3))
    args = (face.vertices, u, rot, face.triangles, albedo)
    tiles = crops.render_crops(*args, size=48, color=color, chunk=4)
    monkeypatch.setattr(crops, "_MAX_TILE", 0)  # force the banded rasterizer
    banded = crops.render_crops(*args, size=48, color=color, chunk=4)
    assert tiles.shape == banded.shape == (5, 48, 48, 3 if color else 1)
    assert tiles.dtype == np.uint8
    d = np.abs(tiles.astype(int) - banded.astype(int))
    assert d.max() <= 1 and (d > 0).mean() < 1e-3
    assert tiles.std() > 10.0
