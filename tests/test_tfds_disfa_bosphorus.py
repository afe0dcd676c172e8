"""DISFA and Bosphorus layouts -> readers -> TFDS (array_record, no TensorFlow) -> data sources.

The layouts are written by the real-format writers from random arrays (no physics, no copyrighted
content); every record must equal the readers' arrays exactly, NaN included.
"""

import sys

import numpy as np
import pytest

from aujax.datasets import (
    BOSPHORUS_LANDMARKS,
    BosphorusName,
    BosphorusSample,
    Landmarks2D,
    Landmarks3D,
    RangeScan,
    list_bosphorus_samples,
    read_bosphorus_image,
    read_bosphorus_sample,
    write_bosphorus_sample,
)
from aujax.datasets._disfa import (
    DISFASequence,
    list_disfa_subjects,
    read_disfa_frames,
    read_disfa_sequence,
    write_disfa_frames,
    write_disfa_sequence,
)
from aujax.datasets._folds import DISFA_AUS, DISFA_PARTS
from aujax.datasets._grain import fold_split, frame_loader
from aujax.datasets._tfds_bosphorus import (
    BOSPHORUS_SPLITS,
    bosphorus_aus,
    bosphorus_data_source,
    build_bosphorus_tfds,
)
from aujax.datasets._tfds_disfa import DISFA_SPLITS, build_disfa_tfds, disfa_data_source
from aujax.face import AU_IDS


# one subject per part (P1, P2, P3); SN003 has grayscale frames, SN013 loses two landmark files
_DISFA = (("SN002", 7, True), ("SN013", 5, True), ("SN003", 6, False))
_SIZE = 32


def _write_disfa(root):
    rng = np.random.default_rng(0)
    for subject, t, color in _DISFA:
        lms = rng.uniform(100.0, 700.0, (t, 66, 2))
        if subject == "SN013":
            lms[[1, 3]] = np.nan
        seq = DISFASequence(
            subject=subject,
            frames=np.arange(t),
            intensity=rng.integers(0, 6, (t, len(DISFA_AUS))).astype(np.int8),
            landmarks=lms,
        )
        write_disfa_sequence(root, seq)
        shape = (t, _SIZE, _SIZE, 3) if color else (t, _SIZE, _SIZE)
        write_disfa_frames(root, subject, rng.integers(0, 256, shape, dtype=np.uint8))


def _write_bosphorus(root):
    rng = np.random.default_rng(1)
    names = [("bs000", "N", "N"), ("bs000", "LFAU", "12"), ("bs001", "CAU", "A1A2"),
             ("bs001", "E", "FEAR"), ("bs002", "UFAU", "4")]  # fmt: skip
    for n, (subject, cls, code) in enumerate(names):
        name = BosphorusName(subject, cls, code, 0)
        h, w = (_SIZE, _SIZE) if n != 2 else (40, 24)  # one grid to be resampled
        valid = rng.random((h, w)) < 0.7
        xyz = np.where(valid[..., None], rng.normal(0.0, 30.0, (h, w, 3)), np.nan)
        scan = RangeScan(xyz=xyz, uv=rng.random((h, w, 2)), valid=valid, zmin=-1e9,
                         image_file=name.stem + ".png")  # fmt: skip
        keep = list(BOSPHORUS_LANDMARKS) if n != 1 else list(BOSPHORUS_LANDMARKS[:10])
        lm3 = Landmarks3D(tuple(keep) + (("Left ear lobe",) if n == 0 else ()),
                          rng.normal(0.0, 40.0, (len(keep) + (n == 0), 3)))  # fmt: skip
        lm2 = Landmarks2D(tuple(keep), rng.uniform(0.0, _SIZE, (len(keep), 2)))
        image = rng.integers(0, 256, (h + 8, w + 4, 3) if n == 2 else (h, w, 3), dtype=np.uint8)
        if n == 3:
            image = image[..., 0]  # a grayscale texture
        write_bosphorus_sample(root, BosphorusSample(name, scan, lm3, lm2), image=image)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    disfa, bos = tmp_path_factory.mktemp("disfa"), tmp_path_factory.mktemp("bosphorus")
    data_dir = tmp_path_factory.mktemp("tfds")
    _write_disfa(disfa)
    _write_bosphorus(bos)
    build_disfa_tfds(disfa, data_dir, config="crops64")
    build_disfa_tfds(disfa, data_dir, config="nocrops")
    build_bosphorus_tfds(bos, data_dir, config="scan64")
    build_bosphorus_tfds(bos, data_dir, config="nocrops")
    return disfa, bos, data_dir


def test_no_tensorflow(prepared):
    assert "tensorflow" not in sys.modules


def _rgb64(frames):
    from aujax.datasets._tfds_core import rgb as _rgb

    return _rgb(frames, 64)


def test_disfa_splits_are_the_official_parts_and_equal_the_readers(prepared):
    root, _, data_dir = prepared
    seen = set()
    for split, part in zip(DISFA_SPLITS, DISFA_PARTS, strict=True):
        src = disfa_data_source(data_dir, split, config="crops64")
        plain = disfa_data_source(data_dir, split, config="nocrops")
        assert len(src) == len(plain)
        (subject,) = {r["subject"].decode() for r in (src[i] for i in range(len(src)))}
        assert subject in part
        seq = read_disfa_sequence(root, subject)
        frames = _rgb64(read_disfa_frames(root, subject))
        assert len(src) == seq.frames.size
        for i in range(len(src)):
            r, p = src[i], plain[i]
            t = int(r["frame"])
            seen.add((subject, t))
            assert r["task"] == b"video"
            np.testing.assert_array_equal(r["intensity"], seq.intensity[t])
            np.testing.assert_array_equal(r["occurrence"], seq.occurrence(2)[t])
            np.testing.assert_array_equal(r["landmarks"], seq.landmarks[t].astype(np.float32))
            assert bool(r["landmark_mask"]) == bool(seq.landmark_mask[t])
            np.testing.assert_array_equal(r["image"], frames[t])
            assert "image" not in p
            np.testing.assert_array_equal(p["landmarks"], r["landmarks"])
    assert len(seen) == sum(t for _, t, _ in _DISFA)
    nan = [r for r in (disfa_data_source(data_dir, "part2", config="nocrops")[i] for i in range(5))
           if not r["landmark_mask"]]  # fmt: skip
    assert sorted(int(r["frame"]) for r in nan) == [1, 3]
    assert all(np.isnan(r["landmarks"]).all() for r in nan)
    assert set(list_disfa_subjects(root)) == {s for s, _, _ in _DISFA}


def test_disfa_folds_and_grain(prepared):
    _, _, data_dir = prepared
    train, test = fold_split(1)  # trains on P1 + P2, tests on P3
    src = disfa_data_source(data_dir, "+".join(train), config="nocrops")
    assert {src[i]["subject"] for i in range(len(src))} == {b"SN002", b"SN013"}
    assert {disfa_data_source(data_dir, test, config="nocrops")[0]["subject"]} == {b"SN003"}
    a = [b["frame"].tolist() for b in frame_loader(src, batch_size=4, seed=3, num_epochs=1)]
    b = [b["frame"].tolist() for b in frame_loader(src, batch_size=4, seed=3, num_epochs=1)]
    assert a == b and sum(len(x) for x in a) == 12


def test_bosphorus_records_equal_the_readers(prepared):
    _, root, data_dir = prepared
    assert BOSPHORUS_SPLITS == ("train",)
    src = bosphorus_data_source(data_dir, config="scan64")
    plain = bosphorus_data_source(data_dir, "train", config="nocrops")
    names = list_bosphorus_samples(root)
    assert len(src) == len(plain) == len(names) == 5
    records = {src[i]["name"].decode(): src[i] for i in range(len(src))}
    assert set(records) == {n.stem for n in names}
    for n in names:
        r, sample = records[n.stem], read_bosphorus_sample(root, n)
        assert r["subject"].decode() == n.subject and r["cls"].decode() == n.cls
        assert r["code"].decode() == n.code
        assert r["emotion"] == (b"FEAR" if n.cls == "E" else b"")
        aus = bosphorus_aus(n)
        np.testing.assert_array_equal(
            r["aus"], [9] * len(AU_IDS) if aus is None else [int(a in aus) for a in AU_IDS]
        )
        for key, lm in (("lm3", sample.lm3), ("lm2", sample.lm2)):
            for j, name in enumerate(BOSPHORUS_LANDMARKS):
                if name in lm:
                    assert r[f"{key}_mask"][j]
                    np.testing.assert_array_equal(r[key][j], lm[name].astype(np.float32))
                else:
                    assert not r[f"{key}_mask"][j] and np.isnan(r[key][j]).all()
        image = read_bosphorus_image(sample.image_path)
        np.testing.assert_array_equal(r["image_shape"], image.shape[:2])
        if sample.scan.shape == (_SIZE, _SIZE):  # the others are resampled
            np.testing.assert_array_equal(r["xyz"][::2, ::2], sample.scan.xyz.astype(np.float32))
            np.testing.assert_array_equal(r["xyz_mask"][::2, ::2], sample.scan.valid)
        assert r["image"].shape == (64, 64, 3) and r["xyz"].shape == (64, 64, 3)
        np.testing.assert_array_equal(np.isnan(r["xyz"][..., 0]), ~r["xyz_mask"])
    assert "xyz" not in plain[0] and "image" not in plain[0]
    assert records["bs000_LFAU_12_0"]["lm3_mask"].sum() == 10  # a partial file


def test_bad_arguments(prepared, tmp_path):
    disfa, bos, data_dir = prepared
    with pytest.raises(ValueError, match="config"):
        build_disfa_tfds(disfa, tmp_path, config="crops32")
    with pytest.raises(ValueError, match="config"):
        bosphorus_data_source(data_dir, config="scan512")
    with pytest.raises(ValueError, match="ActionUnit_Labels"):
        build_disfa_tfds(bos, tmp_path / "x", config="nocrops")
    with pytest.raises(ValueError, match="not prepared"):
        disfa_data_source(tmp_path / "empty", "part1", config="crops128")
    with pytest.raises(ValueError, match="not prepared"):
        bosphorus_data_source(tmp_path / "empty", config="scan128")


def test_unknown_subjects_and_missing_images_are_rejected(tmp_path):
    rng = np.random.default_rng(2)
    seq = DISFASequence(subject="SN014", frames=np.arange(3),
                        intensity=np.zeros((3, 12), np.int8), landmarks=rng.random((3, 66, 2)))  # fmt: skip
    write_disfa_sequence(tmp_path / "a", seq)
    with pytest.raises(ValueError, match="SN014"):
        build_disfa_tfds(tmp_path / "a", tmp_path / "out_a", config="nocrops")
    write_disfa_sequence(tmp_path / "b", DISFASequence(**{**seq.__dict__, "subject": "SN001"}))
    with pytest.raises(ValueError, match="nocrops"):  # labels but no frames
        build_disfa_tfds(tmp_path / "b", tmp_path / "out_b", config="crops64")
    name = BosphorusName("bs000", "N", "N", 0)
    scan = RangeScan(xyz=np.ones((4, 4, 3)), uv=np.zeros((4, 4, 2)), valid=np.ones((4, 4), bool),
                     zmin=-1e9, image_file="bs000_N_N_0.png")  # fmt: skip
    write_bosphorus_sample(tmp_path / "c", BosphorusSample(name, scan))
    with pytest.raises(ValueError, match="nocrops"):  # a .bnt without a .png
        build_bosphorus_tfds(tmp_path / "c", tmp_path / "out_c", config="scan64")
    build_bosphorus_tfds(tmp_path / "c", tmp_path / "out_c2", config="nocrops")
    r = bosphorus_data_source(tmp_path / "out_c2", config="nocrops")[0]
    assert not r["lm3_mask"].any() and np.isnan(r["lm2"]).all()
