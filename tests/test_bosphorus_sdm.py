"""The Bosphorus-like ``sdm`` preset of seed 004: generator -> real Bosphorus layout + detector
landmarks + true mesh -> readers and :func:`aujax.datasets.sdm_samples`."""

import numpy as np
import pytest

from aujax.datasets import (
    BOSPHORUS_LANDMARKS,
    GT_SUFFIX,
    bosphorus_pose,
    list_bosphorus_samples,
    parse_bosphorus_name,
    read_bosphorus_image,
    read_bosphorus_sample,
    read_pts,
    read_sdm_ground_truth,
    sdm_samples,
    write_pts,
)
from aujax.face import BlendshapeModel
from aujax.synth import (
    SDM_DETECTOR,
    generate_bosphorus,
    get_preset,
    sdm_plan,
    sdm_sample_classes,
)


_CLASSES = ["N_N", "E_HAPPY", "LFAU_12L", "YR_R45", "YR_R90", "YR_L90", "O_EYE", "O_GLASSES"]
_ARGS = dict(size="sdm", seed=0, subjects=["bs000", "bs001"], poses=_CLASSES, n_vertices=400,
             image_size=64, settle=4, progress=None)  # fmt: skip


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("sdm")
    return root, generate_bosphorus(root, **_ARGS)


def test_sample_classes_follow_the_real_dataset():
    preset = get_preset("bosphorus", "sdm")
    assert len(preset.subjects) == 105 and preset.subjects[-1] == "bs104"
    counts = [len(sdm_plan(s)) for s in preset.subjects]
    assert sorted(set(counts)) == [27, 53] and counts.count(53) == 65
    assert sum(counts) == 4525  # the database: 4,666
    full = sdm_sample_classes("bs001")
    for key in ("N_N", "E_SURPRISE", "LFAU_12R", "LFAU_34", "UFAU_43", "CAU_A22A25", "YR_R10",
                "YR_L90", "PR_SU", "CR_RD", "O_HAIR"):  # fmt: skip
        assert key in full
    assert "LFAU_9" not in sdm_sample_classes("bs000")  # an emotion-only subject
    stems = [s.name.stem for s in sdm_plan("bs000")]
    assert stems[:4] == [f"bs000_N_N_{k}" for k in range(4)]
    for s in sdm_plan("bs001"):
        assert parse_bosphorus_name(s.name.stem) == s.name
    with pytest.raises(ValueError, match="subject"):
        sdm_sample_classes("bs105")


def test_names_and_files_read_back(generated):
    root, summary = generated
    stems = [n.stem for n in list_bosphorus_samples(root)]
    expected = [s.name.stem for sub in ("bs000", "bs001") for s in sdm_plan(sub, _CLASSES)]
    assert sorted(stems) == sorted(expected) and summary["samples"] == len(expected)
    assert "bs001_LFAU_12L_0" in stems and "bs000_LFAU_12L_0" not in stems
    assert sum(s.startswith("bs000_N_N_") for s in stems) == 4
    for stem in stems:
        sample = read_bosphorus_sample(root, stem)
        assert sample.scan.shape == (32, 32) and sample.scan.image_file == stem + ".png"
        assert 0.1 < sample.scan.valid.mean() < 0.9
        image = read_bosphorus_image(sample.image_path)
        assert image.shape == (64, 64, 3) and image.std() > 10.0
        assert set(sample.lm3.names) <= set(BOSPHORUS_LANDMARKS)
        assert sample.lm2.names == sample.lm3.names
        gt = read_sdm_ground_truth(root / stem[:5] / (stem + GT_SUFFIX))
        assert gt.vertices.shape[1] == 3 and tuple(gt.image_size) == (64, 64)
        pts = root / stem[:5] / (stem + ".pts")
        assert pts.is_file() == gt.detected
        if gt.detected:
            assert read_pts(pts).shape == (68, 2)
    # frontal samples keep all 22 standard points; a profile drops the far side's
    assert len(read_bosphorus_sample(root, "bs001_N_N_0").lm3) == 22
    assert len(read_bosphorus_sample(root, "bs001_YR_R90_0").lm3) < 18
    model = BlendshapeModel.load(root / "synthetic" / "blendshape_model.npz")
    assert model.neutral.shape == gt.vertices.shape


def test_ground_truth_mesh_lies_on_the_face(generated):
    """The true mesh projects onto the rendered face, and its depth is the scan's."""
    root, _ = generated
    for n in list_bosphorus_samples(root):
        sample = read_bosphorus_sample(root, n)
        gt = read_sdm_ground_truth(n.path(root, GT_SUFFIX))
        image = read_bosphorus_image(sample.image_path)
        uv = np.round(gt.project()).astype(int)
        inside = (uv >= 0).all(1) & (uv < 64).all(1)
        assert inside.mean() > 0.97, n.stem
        face = np.pad(image.max(-1) > 0, 1)  # rim vertices of the eye and mouth openings and
        near = np.zeros_like(face)  # of the mesh's border fall on edge pixels: a 3 x 3 margin
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                near[1:-1, 1:-1] |= face[1 + dr : 65 + dr, 1 + dc : 65 + dc]
        on_face = near[uv[inside, 1] + 1, uv[inside, 0] + 1]
        # in profile the culled far side's border may stick out of the silhouette
        assert on_face.mean() > (0.9 if abs(gt.angles_deg[0]) > 60 else 0.98), n.stem
        if n.cls == "N":  # frontal: the scan (mm, camera frame) holds the mesh's depth
            cam = gt.camera_vertices()
            g = (gt.project() - 0.5) / 2.0  # continuous coordinates on the 32 x 32 scan grid
            i0 = np.clip(np.floor(g).astype(int), 0, 30)
            f = np.clip(g - i0, 0.0, 1.0)
            z = sum(  # bilinear interpolation of the scan's depth (NaN next to the background)
                sample.scan.xyz[i0[:, 1] + dr, i0[:, 0] + dc, 2]
                * (f[:, 1] if dr else 1 - f[:, 1]) * (f[:, 0] if dc else 1 - f[:, 0])
                for dr in (0, 1) for dc in (0, 1)
            ) / 10.0  # fmt: skip
            ok = np.isfinite(z)
            # (the 32 x 32 grid spaces its points 0.8 cm apart: interpolation error ~1 mm)
            assert ok.mean() > 0.6 and np.median(np.abs(z[ok] - cam[ok, 2])) < 0.2


def test_detector_landmarks(generated):
    root, summary = generated
    samples = sdm_samples(root)
    by_stem = {s.stem: s for s in samples}
    for s in samples:
        gt = read_sdm_ground_truth(s.gt_path)
        assert s.detected == gt.detected
        if s.cls == "N":  # frontal: found, error a few % of the inter-ocular distance
            iod = np.linalg.norm(gt.landmarks_2d[45] - gt.landmarks_2d[36])
            nme = np.linalg.norm(s.landmarks - gt.landmarks_2d, axis=1).mean() / iod
            assert s.detected and 0.01 < nme < 0.1, (s.stem, nme)
            assert gt.visible[17:].all()
    profiles = [by_stem[f"{b}_YR_{c}_0"] for b in ("bs000", "bs001") for c in ("R90", "L90")]
    assert sum(p.detected for p in profiles) <= 1  # fails ~99 % of the time at 90 degrees
    gt = read_sdm_ground_truth(by_stem["bs001_YR_R90_0"].gt_path)
    assert 0.2 < gt.visible.mean() < 0.8  # the far side is turned away
    eye = read_sdm_ground_truth(by_stem["bs001_O_EYE_0"].gt_path)
    assert min(eye.visible[36:42].mean(), eye.visible[42:48].mean()) < 0.5  # a hand on an eye
    assert summary["failure_fraction"] == summary["detection_failures"] / summary["samples"]


def test_failure_rate_rises_with_yaw():
    det = SDM_DETECTOR
    p = [det.failure_probability(a) for a in (0, 10, 30, 45, 60, 90)]
    assert p == sorted(p) and p[2] < 0.01 and p[3] < 0.15 and p[5] > 0.98
    assert det.failure_probability(0, "EYE") > det.failure_probability(0, "GLASSES") > p[0]
    rng = np.random.default_rng(0)
    lm, vis = np.zeros((68, 2)), np.ones(68, bool)
    rates = []
    for angle in (0, 30, 45, 55, 70, 90):
        out = [det.detect(lm, vis, iod_px=50, angle_deg=angle, occlusion="", rng=rng)
               for _ in range(400)]  # fmt: skip
        rates.append(np.mean([o is None for o in out]))
    assert rates == sorted(rates) and rates[0] == 0.0 and rates[-1] > 0.95
    # noise grows with the angle and on hidden points
    a = [det.detect(lm, vis, iod_px=50, angle_deg=0, occlusion="", rng=rng) for _ in range(200)]
    b = [det.detect(lm, ~vis, iod_px=50, angle_deg=40, occlusion="", rng=rng) for _ in range(200)]
    err = lambda xs: np.mean([np.abs(x).mean() for x in xs if x is not None])  # noqa: E731
    assert err(b) > 3.0 * err(a)


def test_one_sided_smile_and_listing(generated):
    root, _ = generated
    model = BlendshapeModel.load(root / "synthetic" / "blendshape_model.npz")
    names = list(model.muscle_names)
    gt = read_sdm_ground_truth(root / "bs001" / ("bs001_LFAU_12L_0" + GT_SUFFIX))
    left, right = (gt.activations[names.index(f"zygomaticus_major_{s}")] for s in "lr")
    assert left > 0.1 and right < 0.2 * left
    neutral = read_sdm_ground_truth(root / "bs001" / ("bs001_N_N_0" + GT_SUFFIX))
    assert np.all(neutral.activations == 0) and np.all(neutral.intensity == 0)
    # the listing: nominal poses, expression and occlusion labels, class filter
    samples = {s.stem: s for s in sdm_samples(root)}
    assert (samples["bs001_YR_R45_0"].yaw_deg, samples["bs001_YR_R45_0"].pitch_deg) == (45.0, 0.0)
    assert samples["bs001_YR_L90_0"].yaw_deg == -90.0
    assert samples["bs001_E_HAPPY_0"].expression == "HAPPY"
    assert samples["bs001_LFAU_12L_0"].expression == "AU"
    assert samples["bs001_O_EYE_0"].occlusion == "EYE"
    assert samples["bs001_O_EYE_0"].expression == "NEUTRAL"
    assert {s.cls for s in sdm_samples(root, classes=("N",))} == {"N"}
    assert {s.subject for s in sdm_samples(root, subjects=("bs000",))} == {"bs000"}
    assert bosphorus_pose("bs000_CR_RD_0") == (45.0, -20.0)
    assert bosphorus_pose("bs000_PR_U_0") == (0.0, 30.0)
    assert bosphorus_pose("bs000_YR_R60_0") == (60.0, 0.0)
    assert bosphorus_pose("bs000_PR_X_0") is None


def test_detector_landmarks_from_another_folder(generated, tmp_path):
    """A real copy plus a detector's .pts files elsewhere read the same way."""
    root, _ = generated
    (tmp_path / "bs000").mkdir()
    pts = np.array([[10.0 + i, 20.0 - 0.5 * i] for i in range(68)])
    write_pts(tmp_path / "bs000" / "bs000_N_N_0.pts", pts)
    text = (tmp_path / "bs000" / "bs000_N_N_0.pts").read_text()
    assert text.startswith("version: 1\nn_points: 68\n{\n11.0 21.0\n")  # 1-based on disk
    samples = sdm_samples(root, landmarks_root=tmp_path, subjects=("bs000",))
    assert [s.stem for s in samples if s.detected] == ["bs000_N_N_0"]
    np.testing.assert_array_equal(samples[0].landmarks, pts)
    (tmp_path / "bs000" / "bs000_N_N_1.pts").write_text("version: 1\nn_points: 68\n{\n1 2\n}\n")
    with pytest.raises(ValueError, match=r"bs000_N_N_1\.pts.*68 points"):
        sdm_samples(root, landmarks_root=tmp_path)
    bad = tmp_path / "bad.pts"
    bad.write_text("version: 1\nn_points: 2\n{\n1 2\n3 x\n}\n")
    with pytest.raises(ValueError, match=r"bad\.pts, line 5"):
        read_pts(bad)
    bad.write_text("version: 1\nn_points: 2\n1 2\n")
    with pytest.raises(ValueError, match=r"bad\.pts.*'\{'"):
        read_pts(bad)
    bad_gt = tmp_path / "x_gt.npz"
    np.savez(bad_gt, vertices=np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"x_gt\.npz.*missing"):
        read_sdm_ground_truth(bad_gt)


def test_generation_is_deterministic(generated, tmp_path):
    root, _ = generated
    generate_bosphorus(tmp_path, **{**_ARGS, "subjects": ["bs001"], "poses": ["LFAU_12L", "O_EYE"]})
    for stem in ("bs001_LFAU_12L_0", "bs001_O_EYE_0"):
        for ext in (".bnt", ".lm3", ".lm2", ".png", ".pts"):
            rel = f"bs001/{stem}{ext}"
            assert (root / rel).is_file() == (tmp_path / rel).is_file()
            if (root / rel).is_file():
                assert (root / rel).read_bytes() == (tmp_path / rel).read_bytes(), rel
        a = read_sdm_ground_truth(root / "bs001" / (stem + GT_SUFFIX))
        b = read_sdm_ground_truth(tmp_path / "bs001" / (stem + GT_SUFFIX))
        np.testing.assert_array_equal(a.vertices, b.vertices)
        np.testing.assert_array_equal(a.landmarks_2d, b.landmarks_2d)


def test_dataset_root_caches_the_sdm_preset(tmp_path, monkeypatch):
    from aujax.synth import _default

    calls = []

    def fake(path, **kw):
        calls.append(kw)
        (path / "synthetic").mkdir(parents=True)
        return {"frames": 1}

    monkeypatch.setattr(_default, "generate_bosphorus", fake)
    monkeypatch.delenv("AUJAX_BOSPHORUS_DIR", raising=False)
    args = dict(given="", preset="sdm", seed=0, cache=tmp_path, log=lambda *_: None)
    path, synthetic = _default.dataset_root("bosphorus", **args)
    assert synthetic and path.name == f"bosphorus_synthetic_sdm_128px_seed0{_default.TEMPLATE_TAG}"
    assert calls == [dict(size="sdm", seed=0, image_size=128, progress=None)]
    assert _default.dataset_root("bosphorus", **args)[0] == path and len(calls) == 1  # cached
    monkeypatch.setenv("AUJAX_BOSPHORUS_DIR", str(tmp_path))
    assert _default.dataset_root("bosphorus", **args) == (tmp_path, False)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="classes"):
        generate_bosphorus(tmp_path, size="sdm", poses=["LFAU_99"], progress=None)
    with pytest.raises(ValueError, match="subjects"):
        generate_bosphorus(tmp_path, size="sdm", subjects=["bs999"], progress=None)
    with pytest.raises(ValueError, match="scan_factor"):
        from aujax.synth import generate_bosphorus_sdm

        generate_bosphorus_sdm(tmp_path, scan_factor=0, progress=None)
