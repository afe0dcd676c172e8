"""Seed 003's data (``aujax.methods.augane._data``): noisy crop-space landmarks, the fold split and
the loader on the ``tiny`` synthetic DISFA-like copy.

The loader test reads the same cached copy as seed 002's ``tiny`` preset (``{cache}/datasets/
disfa_synthetic_tiny_60f_400v_64px_seed0_...``, generated once, ~35 s, on the first use of the
cache, then ~3 s to load).
"""

import numpy as np
import pytest

from aujax.face import IDX66
from aujax.methods.augane import augane_split, crop_space_landmarks, load_augane_data
from experiments.configs.disfa_synthesis import get_config


def _similar_pair(t: int, *, seed: int):
    """Clean frame points and their images under a known similarity per frame."""
    rng = np.random.default_rng(seed)
    frame = rng.uniform(200.0, 700.0, size=(t, 68, 2))
    theta, scale = rng.uniform(-0.5, 0.5, size=t), rng.uniform(0.1, 0.3, size=t)
    c, s = np.cos(theta), np.sin(theta)
    lin = scale[:, None, None] * np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], 1)
    shift = rng.uniform(-100.0, 100.0, size=(t, 1, 2))
    crop = np.einsum("tij,tkj->tki", lin, frame) + shift
    return rng, frame, crop, lin


def test_crop_space_landmarks_maps_the_noise_by_the_similarity():
    rng, frame, crop, lin = _similar_pair(4, seed=0)
    noise = rng.normal(0.0, 2.0, size=(4, 66, 2))
    got = crop_space_landmarks(frame[:, IDX66] + noise, frame, crop)
    want = crop.copy()
    want[:, IDX66] += np.einsum("tij,tkj->tki", lin, noise)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    # points 60 and 64 (no detector output): the clean crop points
    np.testing.assert_array_equal(got[:, [60, 64]], crop[:, [60, 64]])
    # a reflection is not a similarity: mirrored crops do not mirror the noise back
    mirrored = crop * np.array([-1.0, 1.0])
    refl = crop_space_landmarks(frame[:, IDX66] + noise, frame, mirrored)
    assert not np.allclose(refl, want * np.array([-1.0, 1.0]), atol=1e-3)


def test_crop_space_landmarks_noise_free_and_nan_rows():
    rng, frame, crop, _ = _similar_pair(3, seed=1)
    crop = crop + rng.normal(0.0, 0.5, size=crop.shape)  # not an exact similarity any more
    np.testing.assert_array_equal(crop_space_landmarks(frame[:, IDX66], frame, crop), crop)
    noisy = frame[:, IDX66] + rng.normal(size=(3, 66, 2))
    noisy[1] = np.nan
    noisy[2, 5, 0] = np.nan  # one missing coordinate drops the whole row
    got = crop_space_landmarks(noisy, frame, crop)
    assert np.all(np.isnan(got[1:])) and np.all(np.isfinite(got[0]))
    with pytest.raises(ValueError, match="noisy_frame66 must have shape"):
        crop_space_landmarks(frame, frame, crop)
    with pytest.raises(ValueError, match=r"clean_crop68 must have shape \(3, 68, 2\)"):
        crop_space_landmarks(noisy, frame, crop[:2])
    with pytest.raises(ValueError, match="clean_frame68 must be finite"):
        crop_space_landmarks(noisy, np.where(np.arange(3)[:, None, None] == 0, np.nan, frame),
                             crop)  # fmt: skip


def test_augane_split_by_fold():
    from aujax.datasets import folds

    all27 = sorted(folds("disfa")[0][0] + folds("disfa")[0][1])
    train, test, note = augane_split(all27, fold=1)
    assert test == tuple(sorted(folds("disfa")[0][1])) and len(test) == 9
    assert train == tuple(sorted(folds("disfa")[0][0])) and "fold 1" in note
    # the tiny preset's subjects: fold 1's SN003 is present
    assert augane_split(["SN013", "SN002", "SN003"], fold=1)[:2] == (("SN002", "SN013"), ("SN003",))
    # none of fold 1's test subjects present: the last subject, and the line says so
    train, test, note = augane_split(["SN013", "SN002"], fold=1)
    assert (train, test) == (("SN002",), ("SN013",)) and "last subject" in note
    with pytest.raises(ValueError, match="split.fold must be 1, 2 or 3"):
        augane_split(all27, fold=0)
    with pytest.raises(ValueError, match="0 training"):
        augane_split(["SN003"], fold=1)


def _tiny_cfg(fold: int = 1):
    cfg = get_config("tiny")
    cfg.split.fold = fold
    return cfg


@pytest.fixture(scope="module")
def tiny():
    lines = []
    return load_augane_data(_tiny_cfg(), log=lines.append), lines


def test_loader_on_the_tiny_preset(tiny):
    data, lines = tiny
    n, s = data.labels.shape[0], data.images.shape[1]
    assert n == 3 * 60 and data.subjects == ["SN002", "SN003", "SN013"]
    assert data.images.shape == (n, s, s, 3) and data.images.dtype == np.uint8 and s == 64
    assert data.labels.shape == (n, 12) and data.labels.dtype == np.int8
    assert 0 <= data.labels.min() and data.labels.max() <= 5
    for name, shape in (("landmarks", (n, 68, 2)), ("landmarks_clean", (n, 68, 2)),
                        ("landmarks_3d", (n, 68, 3))):  # fmt: skip
        x = getattr(data, name)
        assert x.shape == shape and x.dtype == np.float32, name
    assert data.rotation.shape == (n, 3, 3)
    np.testing.assert_allclose(data.rotation @ data.rotation.transpose(0, 2, 1),
                               np.broadcast_to(np.eye(3), (n, 3, 3)), atol=1e-6)  # fmt: skip
    for subj in data.subjects:
        assert data.rest[subj].shape == (data.model.n_vertices, 3)
        np.testing.assert_array_equal(data.frame[data.rows(subj)], np.arange(60))
    # clean landmarks inside the crop; noisy ones within a few px of them where valid
    assert np.all((data.landmarks_clean > 0) & (data.landmarks_clean < s))
    valid = data.valid
    assert 0.9 * n <= valid.sum() <= n
    assert np.all(np.isnan(data.landmarks[~valid]))
    diff = data.landmarks[valid] - data.landmarks_clean[valid]
    assert 0.0 < np.abs(diff).max() < 3.0
    np.testing.assert_array_equal(diff[:, [60, 64]], 0.0)
    # the split: fold 1's SN003, disjoint, covering every subject; rows follow it
    assert data.test_subjects == ("SN003",) and data.train_subjects == ("SN002", "SN013")
    train, test = data.split_rows("train"), data.split_rows("test")
    assert not set(train) & set(test) and np.all(valid[train]) and np.all(valid[test])
    assert set(data.subject[test]) == {"SN003"}
    assert len(data.split_rows("train", valid_only=False)) == 120
    x = data.float_images(test[:2])
    assert x.dtype == np.float32 and x.shape == (2, s, s, 3) and 0.0 <= x.min() <= x.max() <= 1.0
    with pytest.raises(ValueError, match="split must be"):
        data.split_rows("valid")
    assert any("test ['SN003']" in line for line in lines)


def test_loader_refuses_a_real_copy_and_fold_0(tmp_path):
    cfg = _tiny_cfg()
    cfg.data.disfa_dir = str(tmp_path)  # a directory without synthetic/: a real DISFA copy
    with pytest.raises(ValueError, match="real DISFA copy.*crop-space landmarks and 3D truth"):
        load_augane_data(cfg, log=lambda _: None)
    with pytest.raises(ValueError, match="split.fold must be 1, 2 or 3"):
        load_augane_data(_tiny_cfg(fold=0), log=lambda _: None)
