"""`aujax detect`: anchors, suppression, crops, the front end on real faces, the CLI and its table."""

import pathlib

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from aujax.datasets import read_dlib_landmarks
from aujax.detect import (
    DETECTORS,
    Detector,
    FaceFrontEnd,
    Roi,
    columns,
    crop,
    crop_to_image,
    detect_main,
    image_to_crop,
    landmark_agreement,
    ssd_anchors,
    weighted_nms,
)
from aujax.face import AU_IDS


REAL = pathlib.Path(__file__).resolve().parents[2] / "shared" / "realfaces"


def _need(path):
    if not path.exists():
        pytest.skip(f"{path} is missing")
    return path


def test_anchor_counts_and_centres():
    short, full = ssd_anchors(DETECTORS["short_range"]), ssd_anchors(DETECTORS["full_range"])
    assert short.shape == (896, 2) and full.shape == (2304, 2)
    # short range: 16x16 cells x 2 anchors, then 8x8 cells x 6; centres at cell middles
    np.testing.assert_allclose(short[0], [0.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(short[1], short[0])
    np.testing.assert_allclose(short[512], [0.5 / 8, 0.5 / 8])
    np.testing.assert_allclose(full[2303], [47.5 / 48, 47.5 / 48])


def test_weighted_nms_merges_overlaps_and_keeps_the_best_score():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60], [0, 0, 10, 10.0]])
    kps = np.zeros((4, 6, 2))
    kps[:, 0, 0] = [0.0, 3.0, 7.0, 100.0]
    scores = np.array([0.9, 0.6, 0.8, 0.3])
    out = weighted_nms(boxes, kps, scores, min_score=0.5)
    assert [s for _, _, s in out] == [0.9, 0.8]  # box 3 is below the score threshold
    np.testing.assert_allclose(out[0][0], (0.9 * boxes[0] + 0.6 * boxes[1]) / 1.5)
    np.testing.assert_allclose(out[0][1][0, 0], (0.6 * 3.0) / 1.5)
    np.testing.assert_allclose(out[1][0], boxes[2])


def test_rotated_crop_samples_a_linear_image_exactly():
    h, w = 60, 80
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    image = np.stack([xx, yy, xx + 2 * yy], -1)  # value = pixel-centre coordinate - 0.5
    roi = Roi(
        center=jnp.asarray([[40.0, 30.0]], jnp.float32),
        size=jnp.asarray([20.0], jnp.float32),
        angle=jnp.asarray([0.3], jnp.float32),
    )
    out = np.asarray(crop(jnp.asarray(image), roi, out_size=16))[0]
    g = np.arange(16, dtype=np.float32) + 0.5
    grid = np.stack(np.meshgrid(g, g, indexing="xy"), -1).reshape(1, -1, 2)
    pts = np.asarray(crop_to_image(roi, jnp.asarray(grid), 16))[0] - 0.5
    np.testing.assert_allclose(out[..., 0].ravel(), pts[:, 0], atol=1e-3)
    np.testing.assert_allclose(out[..., 1].ravel(), pts[:, 1], atol=1e-3)
    back = np.asarray(image_to_crop(roi, jnp.asarray(pts[None] + 0.5), 16))[0]
    np.testing.assert_allclose(back, grid[0], atol=1e-3)
    # the crop's x axis turns counter-clockwise in the image by the angle (y down)
    d = pts[1] - pts[0]
    np.testing.assert_allclose(np.arctan2(-d[1], d[0]), 0.3, atol=1e-5)


def test_front_end_on_dlib_faces():
    """≥ 90 % of the 43 annotated faces found; inner-51 NME ≤ 5 % of the outer inter-ocular
    distance (dlib's own predictor made the annotations: a scheme reference, not ground truth)."""
    folder = _need(REAL / "dlib")
    faces = read_dlib_landmarks(folder / "training_with_face_landmarks.xml")
    faces += read_dlib_landmarks(folder / "testing_with_face_landmarks.xml")
    assert len(faces) == 43
    score = landmark_agreement(FaceFrontEnd(), faces)
    print(score.summary())
    assert score.found.mean() >= 0.9
    assert np.nanmean(score.inner) <= 0.05
    assert np.nanmean(score.jaw) < 0.2  # the jaw is a silhouette: reported, loosely bounded


@pytest.mark.slow  # 10-70 s on the 2-core CI machine; lighter tests cover the same code in CI
def test_detect_video_end_to_end(tmp_path, capsys):
    video = _need(REAL / "video" / "WolfgangLanger_Pexels.mp4")
    assert detect_main([str(video), "-o", str(tmp_path), "-q", "--plot"]) == 0
    df = pd.read_csv(tmp_path / "WolfgangLanger_Pexels.csv")
    assert list(df.columns) == columns()
    assert len(df) == 472 and (df["face_id"] == 0).all()
    np.testing.assert_array_equal(df["frame"], np.arange(472))
    np.testing.assert_allclose(df["timestamp"], np.arange(472) / 23.976, rtol=1e-3)
    assert df["success"].mean() > 0.95  # one talking face, always in view
    ok = df[df["success"] == 1]
    assert ok[[f"x_{k}" for k in range(68)]].notna().all().all()
    assert (
        (
            (ok[[c for c in columns() if c.startswith("AU") and c.endswith("_r")]] >= 0)
            & (ok[[c for c in columns() if c.startswith("AU") and c.endswith("_r")]] <= 5)
        )
        .all()
        .all()
    )
    assert (tmp_path / "WolfgangLanger_Pexels_aus.png").stat().st_size > 0
    # the face is in the middle third of the frame, its eyes level within ~30 degrees
    assert ok["x_30"].between(640 / 4, 640 * 3 / 4).mean() > 0.9
    assert (ok["pose_Rz"].abs() < 0.5).mean() > 0.9
    # tracked (the default): the smoothed levels jitter less than the per-frame fits (measured
    # rms frame-to-frame change 0.029 against 0.137)
    r_cols = [f"AU{a:02d}_r" for a in AU_IDS]
    smooth = np.diff(ok[r_cols].to_numpy(), axis=0)
    raw = np.diff(ok[["c_" + c[:-2] for c in r_cols]].to_numpy(), axis=0)
    assert np.sqrt(np.mean(smooth**2)) < 0.5 * np.sqrt(np.mean(raw**2))
    act = [c for c in columns() if c.startswith("act_")]
    assert np.isfinite(ok[act].to_numpy()).all() and (ok[act].to_numpy() >= 0).all()


def test_bad_inputs_name_the_file_and_faceless_images_give_a_failed_row(tmp_path, capsys):
    corrupt = tmp_path / "broken.jpg"
    corrupt.write_bytes(b"this is not a JPEG")
    blank = tmp_path / "blank.png"
    from PIL import Image

    Image.fromarray(np.full((120, 160, 3), 128, np.uint8)).save(blank)
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    out = tmp_path / "out"
    status = detect_main([str(corrupt), str(blank), str(notes), "-o", str(out), "-q"])
    err = capsys.readouterr().err
    assert status == 1
    assert f"{corrupt}: not a readable image" in err
    assert f"{notes}: not an image" in err
    df = pd.read_csv(out / "blank.csv")  # the good input of the batch is not lost
    assert len(df) == 1 and df["success"].iloc[0] == 0 and np.isnan(df["AU12_r"].iloc[0])
    with pytest.raises(ValueError, match="broken.jpg"):
        Detector(progress=False)(corrupt)


def test_openface_csv_and_npy_landmarks_give_the_same_aus(tmp_path):
    folder = _need(REAL / "dlib")
    faces = read_dlib_landmarks(folder / "testing_with_face_landmarks.xml")[:4]
    pts = np.stack([f.points for f in faces])  # (4, 68, 2) pixels
    np.save(tmp_path / "lm.npy", pts)
    table = {"frame": np.arange(4), "face_id": 0, "timestamp": np.arange(4) / 30.0,
             "confidence": 0.98, "success": 1}  # fmt: skip
    for a in "xy":
        for k in range(68):
            table[f" {a}_{k}"] = pts[:, k, "xy".index(a)]  # OpenFace writes a space after commas
    pd.DataFrame(table).to_csv(tmp_path / "of.csv", index=False, float_format="%.17g")
    det = Detector(progress=False)
    a, b = det(tmp_path / "of.csv"), det(tmp_path / "lm.npy")
    aus = [c for c in columns() if c.startswith("AU") or c.startswith("c_AU")]
    assert a["success"].all()
    np.testing.assert_array_equal(a[aus].to_numpy(), b[aus].to_numpy())
    np.testing.assert_array_equal(a["timestamp"], np.arange(4) / 30.0)
    with pytest.raises(ValueError, match="x_0..x_67"):
        pd.DataFrame({"x_0": [1.0]}).to_csv(tmp_path / "bad.csv", index=False)
        det(tmp_path / "bad.csv")


def test_labelled_photographs_smiles_and_open_mouths():
    """Issue 16's bar on the 61 labelled photographs (by-eye labels, `?` left out), with no neutral
    reference: AU12 presence (level >= 1) agrees with the smile label on >= 85 % of the faces,
    AU25 with the teeth label on >= 80 %, median residual <= 4 % of the outer inter-ocular
    distance. Measured 2026-12-03 (2-core CPU): the default 468-point fit 92 % / 82 %, median
    2.96 %; the 68-point 2D fit 85 % / 80 % (AUC 0.983 / 0.935), median 1.32 %. Before issue 16
    (procedural template, unbounded least squares): 35 % / 82 % and 71 % / 57 %."""
    from tools.realfaces_report import largest_faces, read_labels, scores

    folder = _need(REAL / "photos")
    labels = read_labels(folder)
    det = Detector(progress=False)  # (without the zoomed tiles img61's face is missed)
    rows = det.rows(folder)  # the front end once, the engine twice
    deep = largest_faces(det.table(*rows))
    flat = largest_faces(det.table(*rows, fit="ibug68"))
    assert deep["success"].reindex(labels.index).eq(1).all()  # a face, fitted, in every photo
    s = scores(deep, labels)
    assert s[12]["agree_level1"] >= 0.85 and s[25]["agree_level1"] >= 0.80, s
    assert s["residual"]["median"] <= 4.0 and s["residual"]["max"] < 10.0, s["residual"]
    s = scores(flat, labels)  # the 2D fit sits at the bar: its ranking is what is guarded
    assert s[12]["auc"] >= 0.9 and s[25]["auc"] >= 0.85, s
    assert s["residual"]["median"] <= 4.0 and s["residual"]["success"] == 1.0, s["residual"]


def test_console_entry_points():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "aujax.detect", "--help"], capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert out.returncode == 0 and "--fit" in out.stdout
    from aujax.detect import main

    assert main([]) == 2  # `aujax` alone: the usage line, status 2


def test_tracker_keeps_ids_and_finds_a_face_entering_the_view():
    folder = _need(REAL / "photos")
    from aujax.detect import read_image

    a = read_image(folder / "img1.jpg")[:352, :352]
    b = read_image(folder / "img12.jpg")[:352, 64:416]
    blank = np.full_like(b, 90)
    frames = [np.concatenate([a, blank if t < 5 else b], axis=1) for t in range(34)]
    frames += [np.concatenate([blank, b], axis=1) for _ in range(3)]  # face 0 leaves
    front = FaceFrontEnd(redetect_every=30)
    seen = [{f.face_id: f.box for f in faces} for faces in front.track(frames)]
    assert all(set(s) == {0} for s in seen[:30])  # b enters at frame 5, found at the next sweep
    assert all(set(s) == {0, 1} for s in seen[30:34])
    assert seen[31][0][0] < 352 <= seen[31][1][0]  # ids stay with their faces (left, right)
    assert set(seen[-1]) == {1}  # the lost face is dropped, the other keeps its id


def test_tracking_a_video_smooths_the_levels_and_follows_a_smile():
    """A synthetic 5 s face at 25 fps (the calibrated template's own landmarks: a smile rising and
    falling, head motion, 1 px detector noise) through the table with and without tracking: the
    tracked AU12 follows the truth more closely and jitters several times less (measured: jitter
    0.466 -> 0.057, MAE 0.234 -> 0.156, r 0.956 -> 0.997); its ``c_`` columns are the per-frame
    fits."""
    from scipy.spatial.transform import Rotation

    from aujax.detect._au_fit import camera_for, engine
    from aujax.detect._table import build_table

    eng = engine("ibug68")
    aus = list(np.asarray(eng.aus))
    t_frames, fps = 125, 25.0
    t = np.arange(t_frames) / fps
    levels = np.zeros((t_frames, len(aus)))
    smile = 3.0 * np.clip(np.sin(np.pi * (t - 1.0) / 3.0), 0.0, None) * (t > 1.0) * (t < 4.0)
    levels[:, aus.index(12)] = smile
    levels[:, aus.index(6)] = 0.5 * smile
    rng = np.random.default_rng(3)
    identity = 0.7 * rng.normal(size=eng.identity_basis.shape[0])
    p = (
        np.asarray(eng.neutral)[None]
        + np.einsum("tk,kld->tld", levels, np.asarray(eng.au_basis))
        + np.einsum("j,jld->ld", identity, np.asarray(eng.identity_basis))[None]
    )
    angles = np.stack([4 * np.sin(t), 10 * np.sin(0.7 * t), 2 * np.cos(t)], 1)
    rot = np.diag([1.0, -1.0, -1.0]) @ Rotation.from_euler("xyz", angles, degrees=True).as_matrix()
    cam = np.einsum("tij,tlj->tli", rot, p) + np.array([0.0, 0.0, 60.0])
    k = np.asarray(camera_for(640, 480).intrinsics)
    q = cam @ k.T
    pts = q[..., :2] / q[..., 2:] + rng.normal(scale=1.0, size=(t_frames, 68, 2))
    rows = [
        {"input": "face.mp4", "frame": f, "face_id": 0, "timestamp": f / fps, "confidence": 1.0,
         "success": 1, "points": pts[f], "box": np.r_[pts[f].min(0), pts[f].max(0)]}
        for f in range(t_frames)
    ]  # fmt: skip
    size = lambda r: (640, 480)  # noqa: E731
    alone = build_table(rows, size_of=size, fit="ibug68", track=False)
    tracked = build_table(rows, size_of=size, fit="ibug68", track=True)
    assert tracked["success"].all()
    np.testing.assert_array_equal(alone["AU12_r"], alone["c_AU12"])  # no tracking: one number
    truth = smile

    def jitter(x):
        return float(np.sqrt(np.mean(np.diff(x) ** 2)))

    def mae(x):
        return float(np.mean(np.abs(x - truth)))

    a, b, c = alone["AU12_r"].to_numpy(), tracked["AU12_r"].to_numpy(), tracked["c_AU12"].to_numpy()
    assert jitter(b) < jitter(a) / 3.0
    # the tracked face's muscle activations (physics inversion of the smoothed levels): the smile's
    # muscle follows the smile (measured r 0.997), none is negative, and untracked rows have none
    act = [c for c in tracked.columns if c.startswith("act_")]
    assert len(act) == 35 and alone[act].isna().all().all()
    assert (tracked[act].to_numpy() >= 0).all()
    zygomaticus = tracked["act_zygomaticus_major_r"] + tracked["act_zygomaticus_major_l"]
    assert np.corrcoef(zygomaticus, truth)[0, 1] > 0.9
    np.testing.assert_array_equal(c, a)
    assert mae(b) < mae(a)
    assert np.corrcoef(b, truth)[0, 1] > 0.9
