"""The seed 004 experiment end to end on the ``tiny`` preset: tables, reprint, resume; helpers."""

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


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    cfg = get_config("tiny")
    cfg.data.cache_dir = str(cache)
    workdir = tmp_path_factory.mktemp("run")
    lines = []
    results = train_and_evaluate(cfg, workdir, echo=lines.append)
    return cfg, workdir, results, lines


def test_tiny_run_writes_tables_and_figures(tiny_run):
    cfg, workdir, results, lines = tiny_run
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
    for name in ("ours", "ours_neutral", "hog_neutral"):
        assert (workdir / "runs" / "run0" / name / "checkpoints" / "cascade.npz").is_file()
    assert any("dropped (failed landmark detection" in line for line in lines)
    assert saved["data"]["kept"] <= saved["data"]["listed"]


def test_evaluate_reprints_the_same_tables(tiny_run):
    cfg, workdir, results, _ = tiny_run
    written = (workdir / "results" / "tables.md").read_text()
    lines = []
    again = train_and_evaluate(cfg, workdir, train=False, echo=lines.append)
    assert "\n".join(lines).count(written.strip().splitlines()[0]) == 1
    assert written.strip() in "\n".join(lines)
    assert again["table1"] == results["table1"]


def test_resume_restores_finished_cascades(tiny_run):
    cfg, workdir, results, _ = tiny_run
    # a killed run: one cascade lost; the rerun restores the others and retrains that one
    lost = workdir / "runs" / "run0" / "hog_neutral" / "checkpoints" / "cascade.npz"
    kept = workdir / "runs" / "run0" / "ours" / "checkpoints" / "cascade.npz"
    stamp = kept.stat().st_mtime_ns
    lost.unlink()
    lines = []
    again = train_and_evaluate(cfg, workdir, echo=lines.append)
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


def test_config_presets():
    assert get_config().preset == "small"
    with pytest.raises(ValueError, match="unknown preset"):
        get_config("huge")
    assert pathlib.Path("experiments/configs/bosphorus_sdm.py").is_file()
