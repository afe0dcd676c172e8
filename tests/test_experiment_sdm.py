"""The seed 004 experiment (``aujax.methods.sdm.train_and_evaluate``): tables, reprint, resume.

The fast tests run the whole experiment (three cross-validation runs, three cascades each, Table 1,
figs. 4-5, 7, 3, evaluation by restore, resume) on in-memory data: a bilinear model of random
smooth identity x expression fields on the 400-vertex template and images with a bright dot at
each landmark; the slow test runs the ``tiny`` preset on generated data (FaceWarehouse-like and
Bosphorus-like, about two minutes on the shared CPU).
"""

import json
import pathlib

import jax.numpy as jnp
import numpy as np
import pytest

from aujax.methods.sdm import (
    Cascade,
    RidgeRegressor,
    cv_splits,
    fit_mesh,
    load_cascade,
    save_cascade,
    train_and_evaluate,
)
from experiments.configs.bosphorus_sdm import get_config


def _in_memory_data(seed=0):
    """SdmData of 10 subjects x 3 classes on a random bilinear model (no physics, no renderer)."""
    from aujax.face import BilinearModel, make_face
    from aujax.methods.sdm._data import FLIP, SdmData, _camera_targets
    from aujax.synth import central_face_vertices, facewarehouse_landmark_vertices

    rng = np.random.default_rng(seed)
    face = make_face(400)
    base = np.asarray(face.vertices, np.float64)
    faces = np.asarray(face.triangles)
    lv = facewarehouse_landmark_vertices(n_vertices=400)
    centre = base.mean(0)

    def field(scale):  # a smooth random displacement field
        k = rng.normal(size=(3, 3)) * scale
        return (base - centre) @ k / 8.0

    ids = [field(0.6) for _ in range(6)]
    exps = [np.zeros_like(base)] + [field(0.3) for _ in range(3)]
    meshes = np.stack([np.stack([base + i + e for e in exps]) for i in ids])
    model = BilinearModel.from_tensor(meshes, n_id=4, n_exp=3, faces=faces)
    subjects, classes, g, cams = [], [], [], []
    for s in range(10):
        a = np.asarray(model.id_mean) + rng.normal(size=4) * np.sqrt(np.asarray(model.id_var))
        for c, yaw in (("N_N", 0.0), ("E_HAPPY", 0.0), ("YR_R30", 30.0)):
            b = np.asarray(model.train_exp_weights[0 if c == "N_N" else 1 + s % 3])
            subjects.append(f"bs{s:03d}"), classes.append(c), g.append(np.concatenate([a, b]))
            cams.append(yaw)
    g_star = np.stack(g).astype(np.float32)
    verts = np.stack([np.asarray(model.vertices(x[:4], x[4:])) for x in g_star])
    h = 64
    landmarks_true, images = [], []
    yy, xx = np.mgrid[0:h, 0:h]
    for v, yaw in zip(verts, cams, strict=True):
        t = np.radians(yaw)
        rot = FLIP @ np.array([[np.cos(t), 0, np.sin(t)], [0, 1, 0], [-np.sin(t), 0, np.cos(t)]])
        p = 2.5 * (v[lv] - centre) @ rot.T
        lm = p[:, :2] + h / 2
        landmarks_true.append(lm)
        img = np.zeros((h, h))
        for x0, y0 in lm:
            img += np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / 2.0)
        images.append(np.clip(img, 0, 1))
    landmarks_true = np.stack(landmarks_true).astype(np.float32)
    landmarks = landmarks_true + rng.normal(size=landmarks_true.shape).astype(np.float32) * 0.3
    n = g_star.shape[0]
    expression = np.array(["NEUTRAL" if c == "N_N" else "HAPPY" if c == "E_HAPPY" else "NEUTRAL"
                           for c in classes])  # fmt: skip
    return SdmData(
        model=model, landmark_vertices=lv, central=central_face_vertices(n_vertices=400),
        images=np.stack(images).astype(np.float32), landmarks=landmarks,
        stems=np.array([f"{s}_{c}_0" for s, c in zip(subjects, classes, strict=True)]),
        subjects=np.array(subjects), classes=np.array(classes), expression=expression,
        yaw=np.array(["30" if c.startswith("YR") else "0" for c in classes]), g_star=g_star,
        s_star=verts.astype(np.float32), mesh=verts.astype(np.float32),
        camera_target=_camera_targets(model, g_star, landmarks_true, lv), n_listed=n + 2,
        src="in-memory test", fw_test=None, faces=faces,
    )  # fmt: skip


def _cfg():
    cfg = get_config("tiny")
    cfg.data.image_size = 64
    cfg.cv.update(runs=3, test_subjects=2)
    # chunk 2: every row set reuses one compiled feature call and one cascade application
    cfg.cascade.update(validation_subjects=2, chunk=2)
    return cfg


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    data = _in_memory_data()
    cfg = _cfg()
    workdir = tmp_path_factory.mktemp("run")
    lines = []
    results = train_and_evaluate(cfg, workdir, data=data, echo=lines.append)
    return cfg, workdir, results, lines, data


def test_tiny_run_writes_tables_and_figures(tiny_run):
    cfg, workdir, results, lines, _ = tiny_run
    tables = (workdir / "results" / "tables.md").read_text()
    for needle in ("Table 1", "Fig. 4", "Fig. 5", "landmark fitting only", "paper: Zhu et al."):
        assert needle in tables
    saved = json.loads((workdir / "results" / "results.json").read_text())
    rows = saved["table1"]
    assert rows["paper: ours"]["rmse_S_central"] == pytest.approx(2.4628)
    ours = rows["ours (landmarks + HOG cascade)"]
    assert all(np.isfinite(ours[c]) and ours[c] > 0 for c in ours)
    assert (workdir / "figures" / "ced.png").stat().st_size > 1000
    assert (workdir / "figures" / "error_maps.png").stat().st_size > 1000
    for r in range(3):
        for name in ("ours", "ours_neutral", "hog_neutral"):
            assert (workdir / "runs" / f"run{r}" / name / "checkpoints" / "cascade.npz").is_file()
    assert saved["data"]["kept"] == 30 and saved["data"]["listed"] == 32
    # three runs of disjoint test subjects
    tested = [s for run in saved["runs"] for s in run["test"]]
    assert sorted(tested) == sorted(set(tested)) and len(tested) == 6
    for run in saved["runs"]:  # the cascades' training residual never increases
        for res in run["train_residual"].values():
            assert np.all(np.diff(res) <= 1e-9)


def test_evaluate_reprints_the_same_tables(tiny_run):
    cfg, workdir, results, _, data = tiny_run
    written = (workdir / "results" / "tables.md").read_text()
    lines = []
    again = train_and_evaluate(cfg, workdir, train=False, data=data, echo=lines.append)
    assert written.strip() in "\n".join(lines)
    assert again["table1"] == results["table1"]


def test_resume_restores_finished_cascades(tiny_run):
    cfg, workdir, results, _, data = tiny_run
    # a killed run: one cascade lost; the rerun restores the others and retrains that one
    lost = workdir / "runs" / "run0" / "hog_neutral" / "checkpoints" / "cascade.npz"
    kept = workdir / "runs" / "run0" / "ours" / "checkpoints" / "cascade.npz"
    stamp = kept.stat().st_mtime_ns
    lost.unlink()
    lines = []
    again = train_and_evaluate(cfg, workdir, data=data, echo=lines.append)
    assert kept.stat().st_mtime_ns == stamp and lost.is_file()
    assert again["table1"] == results["table1"]


def test_cascade_round_trip_and_bad_file(tmp_path):
    reg = RidgeRegressor(coef=jnp.ones((2, 3, 4)), intercept=jnp.zeros((2, 4)),
                         alpha=jnp.ones(2), penalty=jnp.zeros(2))  # fmt: skip
    c = Cascade(regressors=reg, rss=jnp.array([3.0, 2.0, 1.0]), residual=jnp.ones(3),
                objective=jnp.ones(2), guarded=jnp.zeros(2, bool), rows=7, standardize=True)  # fmt: skip
    save_cascade(tmp_path / "c.npz", c)
    back = load_cascade(tmp_path / "c.npz")
    assert back.rows == 7 and back.standardize and back.held_out_residual is None
    np.testing.assert_array_equal(back.regressors.coef, c.regressors.coef)
    (tmp_path / "bad.npz").write_bytes(b"nope")
    with pytest.raises(ValueError, match="bad.npz"):
        load_cascade(tmp_path / "bad.npz")


def test_cv_splits_are_disjoint_and_checked():
    subjects = [f"bs{i:03d}" for i in range(12)]
    splits = cv_splits(subjects, runs=3, train=0, test=4, seed=0)
    tests = [set(te) for _, te in splits]
    assert set.union(*tests) == set(subjects) and sum(map(len, tests)) == 12
    for tr, te in splits:
        assert not set(tr) & set(te) and len(tr) == 8
    with pytest.raises(ValueError, match="need 15 subjects"):
        cv_splits(subjects, runs=3, train=0, test=5, seed=0)


def test_fit_mesh_recovers_model_weights():
    rng = np.random.default_rng(0)
    from aujax.face import BilinearModel

    meshes = rng.normal(size=(5, 4, 30, 3))
    model = BilinearModel.from_tensor(meshes, n_id=5, n_exp=4)
    a, b = model.train_id_weights[2], model.train_exp_weights[1]
    fa, fb = fit_mesh(model, model.vertices(a, b), lambda_id=0.0, lambda_exp=0.0, n_iterations=30)
    np.testing.assert_allclose(model.vertices(fa, fb), model.vertices(a, b), atol=1e-4)


def test_evaluate_without_a_run_is_refused(tiny_run, tmp_path):
    cfg, _, _, _, data = tiny_run
    with pytest.raises(ValueError, match="config.json"):
        train_and_evaluate(cfg, tmp_path / "w", train=False, data=data, echo=None)


@pytest.mark.slow
def test_tiny_preset_on_generated_data(tmp_path):
    """The ``tiny`` preset end to end: generated FaceWarehouse-like and Bosphorus-like data, the
    cross-set table, failed detections reported; then the evaluate command reprints the tables."""
    import subprocess
    import sys

    cfg = get_config("tiny")
    cfg.data.cache_dir = str(tmp_path / "cache")
    lines = []
    res = train_and_evaluate(cfg, tmp_path / "run", echo=lines.append)
    assert any("dropped (failed landmark detection" in x for x in lines)
    assert res["facewarehouse"] and res["table1"]
    out = subprocess.run([sys.executable, "-m", "experiments.evaluate",
                          f"--workdir={tmp_path / 'run'}"], capture_output=True, text=True,
                         env={**__import__("os").environ, "AUJAX_CACHE": str(tmp_path / "cache")},
                         check=True)  # fmt: skip
    written = (tmp_path / "run" / "results" / "tables.md").read_text()
    assert written.strip() in out.stdout


def test_config_presets():
    assert get_config().preset == "small"
    with pytest.raises(ValueError, match="unknown preset"):
        get_config("huge")
    assert pathlib.Path("experiments/configs/bosphorus_sdm.py").is_file()
