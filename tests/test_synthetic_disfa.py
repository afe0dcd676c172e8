"""Synthetic DISFA-like data: generator -> real DISFA layout -> readers -> TFDS give the generator's data."""

import json
import sys

import numpy as np
import pytest
import scipy.io

from aujax.datasets._disfa import list_disfa_subjects, read_disfa_frames, read_disfa_sequence
from aujax.datasets._folds import DISFA_AUS
from aujax.face import AU_IDS, IDX66
from aujax.synth import _disfa as gen, generate_sequence, get_preset


# seed 11 gives SN013 (part 2) an AU12 (smile) episode of ~1.5 s inside the tiny preset's 100 frames
_ARGS = dict(size="tiny", seed=11, subjects=["SN013"], n_vertices=400, image_size=64, progress=None)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """Generates one subject, recording what the generator hands to the layout writers."""
    root = tmp_path_factory.mktemp("disfa")
    written = {}
    with pytest.MonkeyPatch.context() as mp:
        seq_writer, frame_writer = gen.write_disfa_sequence, gen.write_disfa_frames

        def spy_seq(r, seq):
            written["seq"] = seq
            return seq_writer(r, seq)

        def spy_frames(r, subject, images):
            written["images"] = np.array(images)
            return frame_writer(r, subject, images)

        mp.setattr(gen, "write_disfa_sequence", spy_seq)
        mp.setattr(gen, "write_disfa_frames", spy_frames)
        summary = gen.generate_disfa(root, **_ARGS)
    return root, summary, written


def test_round_trip_through_the_disfa_readers(generated):
    root, summary, written = generated
    assert summary["frames"] == 100 and summary["dataset"] == "disfa"
    assert list_disfa_subjects(root) == ["SN013"]
    seq = read_disfa_sequence(root, "SN013")
    sent = written["seq"]
    # exactly the generator's labels: the coded intensities of the 12 DISFA AUs
    labels = generate_sequence(get_preset("disfa", "tiny"), "SN013", "video", seed=11).labels
    cols = [AU_IDS.index(au) for au in DISFA_AUS]
    np.testing.assert_array_equal(seq.intensity, labels.intensity[:, cols])
    np.testing.assert_array_equal(seq.intensity, sent.intensity)
    assert seq.intensity.dtype == np.int8 and seq.intensity.max() <= 5  # no 9s in DISFA
    # exactly the generator's landmarks (66 points, NaN where dropped), frames 0-based
    np.testing.assert_array_equal(seq.frames, np.arange(100))
    np.testing.assert_array_equal(seq.landmarks, sent.landmarks)
    gt = np.load(root / "synthetic" / "SN013.npz")
    np.testing.assert_array_equal(seq.landmark_mask, ~gt["dropped"])
    assert seq.missing_landmarks == tuple(np.flatnonzero(gt["dropped"]))
    noise = seq.landmarks[~gt["dropped"]] - gt["landmarks_2d"][~gt["dropped"]][:, IDX66]
    assert 0.8 < noise.std() < 1.2  # 1 px detector noise
    # the 66 points live in DISFA's 1024 x 768 video frame
    lm = seq.landmarks[seq.landmark_mask]
    assert lm[..., 0].min() > 0 and lm[..., 0].max() < 1024 and lm[..., 1].max() < 768
    # PNG frames are lossless: exactly the rendered crops
    frames = read_disfa_frames(root, "SN013")
    np.testing.assert_array_equal(frames, written["images"])
    assert frames.shape == (100, 64, 64, 3) and frames.std() > 10.0
    assert json.loads((root / "synthetic" / "summary.json").read_text())["frames"] == 100


def test_au12_raises_the_mouth_corners(generated):
    """Frames coded AU12 (intensity >= 2) raise and pull back the mouth corners: in the 3D ground
    truth (head frame), and in the stored (noisy, posed) 2D landmarks by pose-robust measures.

    In the image, corner height against the eye corners mixes the smile with head pitch (the
    episode's pitch moves the mouth against the eyes as much as the smile does: measured -0.0007
    inter-ocular distances on the calibrated face). The measures used instead: the mouth's width
    in inter-ocular distances (in-plane rotation and scale cancel; measured +0.086, 5 SD of the
    non-AU12 frames) and the corners' height against the lip midline (points 51 and 57, at nearly
    the same depth as the corners; measured -0.017).
    """
    root, _, _ = generated
    seq = read_disfa_sequence(root, "SN013")
    gt = np.load(root / "synthetic" / "SN013.npz")
    au12 = seq.occurrence(2)[:, DISFA_AUS.index(12)] == 1
    off = seq.intensity[:, DISFA_AUS.index(12)] == 0
    assert au12.sum() >= 10 and off.sum() >= 10
    corners3 = gt["landmarks_3d"][:, [48, 54], 1].mean(axis=1)
    eyes3 = gt["landmarks_3d"][:, [36, 45], 1].mean(axis=1)
    rise3 = corners3 - eyes3
    assert rise3[au12].mean() > rise3[off].mean() + 0.1  # cm
    lm = seq.landmarks  # rows of the 66-point scheme: iBUG 48 -> 48, 54 -> 54, eyes 36, 45
    rows = {i: IDX66.index(i) for i in (36, 45, 48, 51, 54, 57)}
    iod = np.linalg.norm(lm[:, rows[36]] - lm[:, rows[45]], axis=-1)
    width = np.linalg.norm(lm[:, rows[48]] - lm[:, rows[54]], axis=-1) / iod
    corners = lm[:, [rows[48], rows[54]], 1].mean(axis=1)
    midline = lm[:, [rows[51], rows[57]], 1].mean(axis=1)
    drop = (corners - midline) / iod  # image y points down: smaller = corners higher
    ok = seq.landmark_mask
    assert width[au12 & ok].mean() > width[off & ok].mean() + 0.03
    assert drop[au12 & ok].mean() < drop[off & ok].mean() - 0.005


def test_generation_is_deterministic(generated, tmp_path):
    root, _, _ = generated
    gen.generate_disfa(tmp_path, **_ARGS)
    a, b = np.load(root / "synthetic" / "SN013.npz"), np.load(tmp_path / "synthetic" / "SN013.npz")
    assert a.files == b.files
    for key in a.files:
        np.testing.assert_array_equal(a[key], b[key])
    for au in DISFA_AUS:
        rel = f"ActionUnit_Labels/SN013/SN013_au{au}.txt"
        assert (root / rel).read_bytes() == (tmp_path / rel).read_bytes()
    for t in (0, 57, 99):
        rel = f"Videos_LeftCamera/frames/SN013/{t}.png"
        assert (root / rel).read_bytes() == (tmp_path / rel).read_bytes()
        lm = f"Landmark_Points/SN013/tmp_frame_lm/SN013_{t:04d}_lm.mat"
        if (root / lm).exists():  # .mat headers carry a timestamp: compare the arrays
            np.testing.assert_array_equal(
                scipy.io.loadmat(root / lm)["pts"], scipy.io.loadmat(tmp_path / lm)["pts"]
            )


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="subjects"):
        gen.generate_disfa(tmp_path, subjects=["SN014"], progress=None)  # not a DISFA subject
    with pytest.raises(ValueError, match="n_frames"):
        gen.generate_disfa(tmp_path, n_frames=0, progress=None)
    with pytest.raises(ValueError, match="warmup"):
        gen.generate_disfa(tmp_path, warmup=-1, progress=None)
    with pytest.raises(ValueError, match="size"):
        gen.generate_disfa(tmp_path, size="huge", progress=None)


def test_tfds_round_trip_from_the_generator(generated, tmp_path):
    from aujax.datasets._grain import fold_split, window_loader
    from aujax.datasets._tfds_disfa import build_disfa_tfds, disfa_data_source

    root, _, written = generated
    build_disfa_tfds(root, tmp_path, config="crops64")
    train, test = fold_split(2)  # SN013 is a P2 subject: fold 2 tests it
    assert test == "part2"
    src = disfa_data_source(tmp_path, test, config="crops64")
    assert len(src) == 100
    seq = read_disfa_sequence(root, "SN013")
    records = sorted((src[i] for i in range(len(src))), key=lambda r: int(r["frame"]))
    for t, r in enumerate(records):
        assert r["subject"] == b"SN013" and int(r["frame"]) == t
        np.testing.assert_array_equal(r["intensity"], seq.intensity[t])
        np.testing.assert_array_equal(r["occurrence"], seq.intensity[t] >= 2)
        np.testing.assert_array_equal(r["landmarks"], seq.landmarks[t].astype(np.float32))
        np.testing.assert_array_equal(r["image"], written["images"][t])
    with pytest.raises(ValueError):
        disfa_data_source(tmp_path, "+".join(train), config="crops64")  # no P1/P3 subjects
    batch = next(iter(window_loader(src, window=5, batch_size=2, seed=0)))
    np.testing.assert_array_equal(np.diff(batch["frame"], axis=1), 1)
    assert "tensorflow" not in sys.modules


def test_make_synthetic_and_dataset_report(tmp_path, capsys):
    from tools import dataset_report, make_synthetic

    out = tmp_path / "cli"
    argv = ["--layout", "disfa", "--preset", "tiny", "--out", str(out), "--subjects", "SN002",
            "--frames", "20", "--n-vertices", "400", "--image-size", "32", "--seed", "11"]  # fmt: skip
    assert make_synthetic.main(argv) == 0
    assert "20 frames of disfa/tiny" in capsys.readouterr().out
    assert list_disfa_subjects(out) == ["SN002"]
    assert read_disfa_frames(out, "SN002").shape == (20, 32, 32, 3)
    assert make_synthetic.main(argv[:-2] + ["--subjects", "SN099"]) == 2
    assert "SN099" in capsys.readouterr().err
    figures = tmp_path / "fig"
    assert dataset_report.main([str(out), "--figures", str(figures), "--samples", "1"]) == 0
    text = capsys.readouterr().out
    assert "DISFA layout, 1 subjects, 20 frames" in text
    assert "base rate (>= 2)" in text and "detector noise vs ground truth (RMS px)" in text
    assert (figures / "au_timeline.png").exists() and (figures / "samples.png").exists()
