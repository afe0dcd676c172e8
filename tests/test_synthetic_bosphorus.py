"""Synthetic Bosphorus-like data: generator -> real Bosphorus layout -> readers -> TFDS."""

import json
import sys

import numpy as np
import pytest

from aujax.datasets import (
    BOSPHORUS_LANDMARKS,
    BOSPHORUS_TO_IBUG68,
    list_bosphorus_samples,
    read_bosphorus_image,
    read_bosphorus_sample,
)
from aujax.datasets._tfds_bosphorus import bosphorus_aus
from aujax.face import AU_IDS
from aujax.synth import _bosphorus as gen, get_preset


_POSES = ["N_N", "LFAU_12", "CAU_1+2", "E_HAPPY"]
_ARGS = dict(size="tiny", seed=0, subjects=["bs001"], poses=_POSES, n_vertices=400, image_size=64,
             settle=4, progress=None)  # fmt: skip


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """Generates four poses of one subject, recording the samples and images handed to the writer."""
    root = tmp_path_factory.mktemp("bosphorus")
    written = {}
    with pytest.MonkeyPatch.context() as mp:
        writer = gen.write_bosphorus_sample

        def spy(r, sample, *, image=None):
            written[sample.name.stem] = (sample, np.array(image))
            return writer(r, sample, image=image)

        mp.setattr(gen, "write_bosphorus_sample", spy)
        summary = gen.generate_bosphorus(root, **_ARGS)
    return root, summary, written


def test_names_and_round_trip_through_the_readers(generated):
    root, summary, written = generated
    stems = [n.stem for n in list_bosphorus_samples(root)]
    assert stems == ["bs001_N_N_0", "bs001_E_HAPPY_0", "bs001_LFAU_12_0", "bs001_CAU_A1A2_0"]
    assert summary["samples"] == 4 and set(written) == set(stems)
    for stem in stems:
        sample = read_bosphorus_sample(root, stem)
        sent, image = written[stem]
        assert sample.lm3.names == BOSPHORUS_LANDMARKS == sample.lm2.names
        np.testing.assert_array_equal(sample.lm3.points, sent.lm3.points)
        np.testing.assert_array_equal(sample.lm2.points, sent.lm2.points)
        np.testing.assert_array_equal(sample.scan.xyz, sent.scan.xyz)  # NaN where invalid
        np.testing.assert_array_equal(sample.scan.valid, sent.scan.valid)
        assert sample.scan.image_file == stem + ".png"
        np.testing.assert_array_equal(read_bosphorus_image(sample.image_path), image)
        assert image.shape == (64, 64, 3) and image.std() > 10.0
        assert 0.2 < sample.scan.valid.mean() < 0.9  # a face on a background
    assert json.loads((root / "synthetic" / "summary.json").read_text())["samples"] == 4


def test_landmarks_agree_with_the_range_scan_and_the_ground_truth(generated):
    """lm3 (mm, scan frame) lies on the scanned surface at the lm2 pixel; both come from the
    ground-truth 68 landmarks under the head rotation."""
    root, _, _ = generated
    for n in list_bosphorus_samples(root):
        sample = read_bosphorus_sample(root, n)
        gt = np.load(root / "synthetic" / f"{n.stem}.npz")
        scale, offset = float(gt["camera_scale"]), gt["camera_offset"]
        for name, k in BOSPHORUS_TO_IBUG68.items():
            p = gt["head_rotation"] @ gt["landmarks_3d"][k]
            np.testing.assert_allclose(sample.lm3[name], 10.0 * p, atol=1e-9)
            uv = [scale * p[0] + offset[0] - 0.5, offset[1] - scale * p[1] - 0.5]
            np.testing.assert_allclose(sample.lm2[name], uv, atol=1e-9)
        pixel_mm = 10.0 / scale
        for name in ("Nose tip", "Nose saddle left", "Nose saddle right", "Chin middle"):
            col, row = np.round(sample.lm2[name]).astype(int)
            assert sample.scan.valid[row, col]
            gap = np.abs(sample.scan.xyz[row, col] - sample.lm3[name])
            assert gap[:2].max() < pixel_mm and gap[2] < 3.0 * pixel_mm, (n.stem, name, gap)


def test_posed_aus_are_in_the_ground_truth(generated):
    root, summary, _ = generated
    assert summary["max_residual_speed_cm_s"] < 2.0  # settled on the apex
    for n in list_bosphorus_samples(root):
        gt = np.load(root / "synthetic" / f"{n.stem}.npz")
        active = {au for au, x in zip(AU_IDS, gt["intensity"], strict=True) if x >= 1.0}
        aus = bosphorus_aus(n)
        if aus is not None:
            assert set(aus) <= active
        if n.cls == "N":
            assert active == set() and np.all(gt["activations"] < 1e-6)
    # the smile raises the mouth corners relative to the neutral scan (3D ground truth, cm)
    neutral = np.load(root / "synthetic" / "bs001_N_N_0.npz")["landmarks_3d"]
    smile = np.load(root / "synthetic" / "bs001_LFAU_12_0.npz")["landmarks_3d"]
    lift = smile[[48, 54], 1].mean() - neutral[[48, 54], 1].mean()
    assert lift > 0.2


def test_bosphorus_aus_parses_names():
    assert bosphorus_aus("bs000_LFAU_12_0") == (12,)
    assert bosphorus_aus("bs000_LFAU_12L_0") == (12,)
    assert bosphorus_aus("bs000_CAU_A22A12_0") == (12, 22)
    assert bosphorus_aus("bs000_N_N_0") == ()
    assert bosphorus_aus("bs000_E_FEAR_0") is None
    assert bosphorus_aus("bs000_YR_R10_0") is None
    assert gen.bosphorus_sample_name("bs003", "CAU_12+25").stem == "bs003_CAU_A12A25_0"
    for pose in get_preset("bosphorus", "tiny").tasks:  # every preset pose has a valid name
        gen.bosphorus_sample_name("bs000", pose.name)
    with pytest.raises(ValueError, match="pose"):
        gen.bosphorus_sample_name("bs000", "SMILE")


def test_generation_is_deterministic(generated, tmp_path):
    root, _, _ = generated
    gen.generate_bosphorus(tmp_path, **{**_ARGS, "poses": ["LFAU_12"]})
    for ext in (".bnt", ".lm3", ".lm2", ".png"):
        rel = f"bs001/bs001_LFAU_12_0{ext}"
        assert (root / rel).read_bytes() == (tmp_path / rel).read_bytes()
    a = np.load(root / "synthetic" / "bs001_LFAU_12_0.npz")
    b = np.load(tmp_path / "synthetic" / "bs001_LFAU_12_0.npz")
    for key in a.files:
        np.testing.assert_array_equal(a[key], b[key])


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="subjects"):
        gen.generate_bosphorus(tmp_path, subjects=["bs999"], progress=None)
    with pytest.raises(ValueError, match="poses"):
        gen.generate_bosphorus(tmp_path, poses=["E_BOREDOM"], progress=None)
    with pytest.raises(ValueError, match="settle"):
        gen.generate_bosphorus(tmp_path, settle=-1, progress=None)


def test_tfds_round_trip_from_the_generator(generated, tmp_path):
    from aujax.datasets._tfds_bosphorus import bosphorus_data_source, build_bosphorus_tfds

    root, _, written = generated
    build_bosphorus_tfds(root, tmp_path, config="scan64")
    src = bosphorus_data_source(tmp_path, "train", config="scan64")
    assert len(src) == 4
    for i in range(len(src)):
        r = src[i]
        stem = r["name"].decode()
        sample, image = written[stem]
        np.testing.assert_array_equal(r["image"], image)
        np.testing.assert_array_equal(r["xyz"], sample.scan.xyz.astype(np.float32))
        np.testing.assert_array_equal(r["xyz_mask"], sample.scan.valid)
        np.testing.assert_array_equal(r["lm3"], sample.lm3.points.astype(np.float32))
        np.testing.assert_array_equal(r["lm2"], sample.lm2.points.astype(np.float32))
        assert r["lm3_mask"].all() and r["lm2_mask"].all()
        aus = bosphorus_aus(stem)
        want = [9] * len(AU_IDS) if aus is None else [int(a in aus) for a in AU_IDS]
        np.testing.assert_array_equal(r["aus"], want)
        assert r["emotion"] == (b"HAPPY" if stem == "bs001_E_HAPPY_0" else b"")
    assert "tensorflow" not in sys.modules


def test_make_synthetic_and_dataset_report(tmp_path, capsys):
    from tools import dataset_report, make_synthetic

    out = tmp_path / "cli"
    argv = ["--layout", "bosphorus", "--preset", "tiny", "--out", str(out), "--subjects", "bs002",
            "--poses", "N_N,UFAU_4", "--n-vertices", "400", "--image-size", "64"]  # fmt: skip
    assert make_synthetic.main(argv) == 0
    assert "2 frames of bosphorus/tiny" in capsys.readouterr().out
    assert [n.stem for n in list_bosphorus_samples(out)] == ["bs002_N_N_0", "bs002_UFAU_4_0"]
    figures = tmp_path / "fig"
    assert dataset_report.main([str(out), "--figures", str(figures), "--samples", "2"]) == 0
    text = capsys.readouterr().out
    assert "Bosphorus layout, 2 samples, 1 subjects" in text and "| AU4 | 1 |" in text
    assert (figures / "samples.png").exists()
