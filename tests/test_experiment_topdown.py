"""Seed 000's experiment: bottom-up CNN (eq. 5), integration (eq. 6), level thresholds, apex frames
and ``train_and_evaluate`` end to end.

The fast tests run the whole experiment (three folds, both protocols, checkpoints, evaluation by
restore) on an in-memory table of six subjects whose crops and top-down levels carry the labels;
the slow test runs the real command on a micro synthetic BP4D copy and reprints its tables with
``python -m experiments.evaluate``.
"""

import json
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.test_util import check_grads

from aujax.datasets import BP4D_AUS, BP4D_PARTS, FrameTable, folds
from aujax.face import AU_IDS
from aujax.methods.topdown._apex import apex_rows
from aujax.methods.topdown._bottomup import BottomUpCNN
from aujax.methods.topdown._experiment import ROWS, top_down_levels, train_and_evaluate
from aujax.methods.topdown._integration import IntegrationNet
from aujax.train import choose_thresholds, f1_score


ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from experiments.configs.bp4d_topdown import get_config  # noqa: E402


def _f64(model):
    nnx.update(model, jax.tree.map(lambda a: a.astype(jnp.float64), nnx.state(model)))
    return model


# ------------------------------------------------------------------------------------------------
# the networks


@pytest.mark.slow  # 10-70 s on the 2-core CI machine; lighter tests cover the same code in CI
def test_bottomup_cnn_shapes_and_gradients():
    net = BottomUpCNN(5, image_size=16, channels=(2, 3, 4), hidden=6, rngs=nnx.Rngs(0))
    kernels = [c.kernel[...].shape[:2] for c in net.convs]
    assert kernels == [(5, 5), (5, 5), (3, 3)]
    fwd = nnx.jit(lambda m, z: (m(z), m.probabilities(z)))
    x = jax.random.uniform(jax.random.key(1), (2, 3, 16, 16, 3), jnp.float32) - 0.5
    logits, p = fwd(net, x)
    assert logits.shape == (2, 3, 5)
    assert bool(jnp.all((p > 0) & (p < 1)))
    np.testing.assert_allclose(p, jax.nn.sigmoid(logits), rtol=1e-6)
    # the flattened map keeps where on the crop a pattern is: a shifted patch changes the output
    patch = jnp.zeros((16, 16, 3), jnp.float32).at[2:6, 2:6].set(1.0)
    shifted, _ = fwd(net, jnp.stack([patch, jnp.roll(patch, 8, axis=0)]))
    assert not np.allclose(shifted[0], shifted[1], atol=1e-6)
    net = BottomUpCNN(3, image_size=8, channels=(2, 2, 2), strides=(1, 1, 1), hidden=4,
                      rngs=nnx.Rngs(1))  # fmt: skip
    x64 = jax.random.uniform(jax.random.key(2), (2, 8, 8, 3), jnp.float64) - 0.5
    _f64(net)
    check_grads(jax.jit(lambda z: jnp.sum(net(z) ** 2)), (x64,), order=1, modes=["rev"], atol=1e-5)
    # every parameter receives gradient from the AU loss
    g = nnx.jit(nnx.grad(lambda m: jnp.sum(jax.nn.sigmoid(m(x64)))))(net)
    assert all(float(jnp.max(jnp.abs(v))) > 0 for v in jax.tree.leaves(g))
    with pytest.raises(ValueError, match="x must have shape"):
        net(jnp.zeros((1, 16, 16, 3), jnp.float64))
    with pytest.raises(ValueError, match="image_size must be a multiple of"):
        BottomUpCNN(5, image_size=24, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="kernels"):
        BottomUpCNN(5, kernels=(5, 3), rngs=nnx.Rngs(0))


def test_integration_net_shapes_and_gradients():
    net = _f64(IntegrationNet(3, 4, hidden=(6, 5), level_scale=2.0, rngs=nnx.Rngs(0)))
    assert len(net.mlp.layers) == 3  # three dense layers (eq. 6)
    prob = jax.random.uniform(jax.random.key(0), (7, 3), jnp.float64)
    levels = 3.0 * jax.random.uniform(jax.random.key(1), (7, 4), jnp.float64)
    assert net(prob, levels).shape == (7, 3)
    # the levels enter divided by level_scale
    direct = net.mlp(jnp.concatenate([prob, levels / 2.0], axis=1))
    np.testing.assert_allclose(net(prob, levels), direct, rtol=1e-12)
    check_grads(jax.jit(lambda p, a: jnp.sum(jnp.tanh(net(p, a)))), (prob, levels), order=1,
                modes=["rev"], atol=1e-6)  # fmt: skip
    # the output depends on both estimates
    assert not np.allclose(net(prob, levels), net(prob, 0.0 * levels))
    assert not np.allclose(net(prob, levels), net(0.0 * prob, levels))
    with pytest.raises(ValueError, match="levels must have shape"):
        net(prob, levels[:, :3])
    with pytest.raises(ValueError, match="hidden"):
        IntegrationNet(3, 4, hidden=(6,), rngs=nnx.Rngs(0))


# ------------------------------------------------------------------------------------------------
# thresholds and apex frames


def test_thresholds_maximise_training_f1_and_record_subjects():
    rng = np.random.default_rng(0)
    n = 200
    labels = (rng.random((n, 3)) < 0.3).astype(np.int8)
    levels = labels * rng.uniform(0.5, 2.0, (n, 3)) + rng.uniform(0.0, 1.2, (n, 3))
    labels[:10, 0] = 9  # not coded: skipped
    labels[:, 2] = 0  # an AU never active: never fires
    subjects = np.array(["F001", "M011"] * (n // 2))
    th = choose_thresholds(levels, labels, subjects=subjects, aus=(1, 2, 4))
    assert th.subjects == ("F001", "M011")
    assert th.folds == (2, 3)  # F001 is a test subject of fold 3, M011 of fold 2
    assert th.n_rows == n and th.thresholds[2] == np.inf and th.train_f1[2] == 0.0
    for k in range(2):  # no candidate threshold beats the chosen one
        best = max(
            f1_score((levels[:, k : k + 1] >= t).astype(float), labels[:, k : k + 1])[0]
            for t in np.unique(levels[:, k])
        )
        assert th.train_f1[k] == pytest.approx(best)
    np.testing.assert_array_equal(th.detect(levels), levels >= th.thresholds[None, :])
    with pytest.raises(ValueError, match="subjects must have shape"):
        choose_thresholds(levels, labels, subjects=subjects[:5], aus=(1, 2, 4))
    with pytest.raises(ValueError, match="NaN"):
        choose_thresholds(
            np.full((2, 1), np.nan), np.zeros((2, 1)), subjects=["F001"] * 2, aus=(1,)
        )


def _table(subjects, *, tasks=("T1", "T2"), frames=24, size=16, seed=0) -> FrameTable:
    """Frames whose crops (a bright patch per active AU) and levels both carry the labels."""
    rng = np.random.default_rng(seed)
    rows = [(s, t, f) for s in subjects for t in tasks for f in range(1, frames + 1)]
    n, r = len(rows), len(BP4D_AUS)
    labels = np.zeros((n, r), np.int8)
    for i0 in range(0, n, frames):  # episodes of 3-8 frames per AU
        for k in range(r):
            start = int(rng.integers(0, frames - 8))
            if rng.random() < 0.6:
                labels[i0 + start : i0 + start + int(rng.integers(3, 9)), k] = 1
    images = rng.integers(0, 60, (n, size, size, 3)).astype(np.uint8)
    for k in range(r):
        y, x = divmod(k, 4)
        images[labels[:, k] == 1, 4 * y : 4 * y + 4, 4 * x : 4 * x + 4, :] += 150
    c = np.zeros((n, len(AU_IDS)), np.float32)
    cols = [AU_IDS.index(a) for a in BP4D_AUS]
    c[:, cols] = labels * rng.uniform(1.0, 3.0, (n, r)) + rng.uniform(0.0, 0.8, (n, r))
    c_mask = np.ones(n, bool)
    c_mask[5] = False  # a frame without a reconstruction has zero levels
    return FrameTable(
        subject=np.array([s for s, _, _ in rows]), task=np.array([t for _, t, _ in rows]),
        frame=np.array([f for _, _, f in rows], np.int64), labels=labels,
        label_mask=np.ones_like(labels, bool), landmarks=np.zeros((n, 49, 2), np.float32),
        landmark_mask=np.ones(n, bool), images=images, aus=tuple(BP4D_AUS), c=c, c_mask=c_mask,
    )  # fmt: skip


def test_apex_rows_pick_the_peak_of_each_episode():
    t = _table(["F001"], tasks=("T1",), frames=12)
    t.labels[:] = 0
    t.labels[2:5, 0] = 1  # episode 1 of AU1: rows 2-4
    t.labels[8:11, 0] = 1  # episode 2 of AU1: rows 8-10
    t.labels[3:7, 1] = 1  # AU2: rows 3-6
    inten = np.zeros(t.labels.shape)
    inten[:, 0] = [0, 0, 1, 3, 2, 0, 0, 0, 4, 1, 1, 0]
    inten[:, 1] = [0, 0, 0, 1, 1, 2, 5, 0, 0, 0, 0, 0]
    apex, n = apex_rows(t, np.arange(12), intensity=inten)
    assert n == 3 and apex.tolist() == [3, 6, 8]
    apex, _ = apex_rows(t, np.arange(12))  # no intensities: middle frames
    assert apex.tolist() == [3, 5, 9]
    apex, n = apex_rows(t, np.arange(6), intensity=inten)  # only the given rows
    assert n == 2 and apex.tolist() == [3, 5]


def test_top_down_levels_select_the_label_aus():
    t = _table(["F001"], tasks=("T1",), frames=12)
    lv = top_down_levels(t)
    assert lv.shape == (12, len(BP4D_AUS))
    keep = np.arange(12) != 5
    np.testing.assert_array_equal(lv[keep, 3], t.c[keep, AU_IDS.index(BP4D_AUS[3])])
    assert np.all(lv[5] == 0.0)  # c_mask False: no levels


# ------------------------------------------------------------------------------------------------
# the experiment on an in-memory table


def _cfg(**folds_):
    cfg = get_config("tiny")
    cfg.folds = (1, 2, 3)
    cfg.train.update(steps=8, checkpoint_every=4)
    cfg.integration.update(steps=8)
    return cfg


def _lines(printed: list[str]) -> list[str]:
    return "\n".join(printed).splitlines()


def _tables(printed: list[str]) -> list[str]:
    return [x for x in _lines(printed) if x.startswith("|")]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    subjects = [s for part in BP4D_PARTS for s in part[:2]]
    table = _table(subjects)
    workdir = tmp_path_factory.mktemp("topdown_run")
    printed: list[str] = []
    res = train_and_evaluate(_cfg(), workdir, table=table, echo=printed.append)
    return table, workdir, res, printed


def test_tiny_run_end_to_end(run):
    table, workdir, res, printed = run
    assert set(res["table1"]) == {"apex", "all"}
    for protocol in ("apex", "all"):
        assert list(res["table1"][protocol]) == list(ROWS)
        for row in ROWS:
            r = res["table1"][protocol][row]
            assert len(r["per_fold_avg"]) == 3 and 0.0 <= r["avg"] <= 1.0
            assert set(r["per_au"]) == set(BP4D_AUS)
    # the levels carry the labels: the top-down model detects well
    assert res["table1"]["all"]["Top-down"]["avg"] > 0.6
    for f in (1, 2, 3):
        assert res["apex"][f"fold{f}"]["test_frames"] > 0
        for name in ("bottomup", "integration"):
            d = workdir / "runs" / f"fold{f}" / name
            assert (d / "checkpoints").is_dir() and (d / "metrics.jsonl").exists()
    out = workdir / "results"
    for name in ("tables.md", "table1_apex.csv", "table1_all.csv", "results.json"):
        assert (out / name).exists()
    assert (workdir / "figures" / "table1_per_au.png").stat().st_size > 1000
    assert json.loads((out / "results.json").read_text())["table1"] == json.loads(
        json.dumps(res["table1"], default=str)
    )
    assert sum(line.startswith("| Top-down") for line in _lines(printed)) == 2
    # a rerun of a finished run resumes at its last step and prints the same tables
    again: list[str] = []
    train_and_evaluate(_cfg(), workdir, table=table, echo=again.append)
    assert _tables(again) == _tables(printed)


def test_thresholds_never_see_test_fold_subjects(run):
    table, workdir, res, _ = run
    for f, (train_subj, test_subj) in enumerate(folds("bp4d"), start=1):
        for protocol in ("apex", "all"):
            rec = res["thresholds"][f"fold{f}"][protocol]
            saved = json.loads(
                (workdir / "runs" / f"fold{f}" / f"thresholds_{protocol}.json").read_text()
            )
            assert saved == rec
            assert not set(rec["subjects"]) & set(test_subj)
            assert set(rec["subjects"]) <= set(train_subj)
            assert f not in rec["folds"] and len(rec["folds"]) == 2
        # the all-frames search touched every training row, and only those
        assert res["thresholds"][f"fold{f}"]["all"]["n_rows"] == table.rows(train_subj).size


def test_evaluate_by_restore_reprints_identical_tables(run):
    table, workdir, res, printed = run
    again: list[str] = []
    out = train_and_evaluate(_cfg(), workdir, train=False, table=table, echo=again.append)
    assert out["table1"] == res["table1"]
    assert _tables(again) == _tables(printed)


def test_config_presets_and_guards(tmp_path):
    for preset in ("small", "tiny", "paper"):
        cfg = get_config(preset)
        assert cfg.experiment == "bp4d_topdown" and len(cfg.model.kernels) == 3
    with pytest.raises(ValueError, match="unknown preset"):
        get_config("huge")
    cfg = get_config("tiny")
    (tmp_path / "config.json").write_text(json.dumps({"seed": 123}))
    with pytest.raises(ValueError, match="different config"):
        train_and_evaluate(cfg, tmp_path, echo=None)
    with pytest.raises(ValueError, match="not a bp4d_topdown workdir"):
        train_and_evaluate(cfg, tmp_path / "empty", train=False, echo=None)
    cfg.protocols = ("peak",)
    with pytest.raises(ValueError, match="unknown protocol"):
        train_and_evaluate(cfg, tmp_path / "x", echo=None)
    cfg = get_config("tiny")
    cfg.data.dataset = "ck+"
    with pytest.raises(ValueError, match="data.dataset"):
        train_and_evaluate(cfg, tmp_path / "y", echo=None)


# ------------------------------------------------------------------------------------------------
# the real command on a micro synthetic copy


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.mark.slow
def test_command_and_evaluate_on_micro_bp4d(tmp_path):
    from aujax.synth import generate_bp4d

    data = tmp_path / "bp4d"
    generate_bp4d(data, size="tiny", seed=0, subjects=("F001", "M011", "F007"), tasks=("T1",),
                  n_vertices=400, progress=None)  # fmt: skip
    wd = tmp_path / "wd"
    args = [f"--config={ROOT / 'experiments/configs/bp4d_topdown.py'}:tiny",
            f"--config.data.bp4d_dir={data}", f"--config.data.cache_dir={tmp_path / 'cache'}",
            f"--workdir={wd}"]  # fmt: skip
    run = subprocess.run([sys.executable, "-m", "experiments.bp4d_topdown", *args], cwd=ROOT,
                         env=_env(), capture_output=True, text=True, timeout=1200)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    tables = [
        x for x in (wd / "results" / "tables.md").read_text().splitlines() if x.startswith("|")
    ]
    assert [x for x in run.stdout.splitlines() if x.startswith("|")] == tables
    ev = subprocess.run([sys.executable, "-m", "experiments.evaluate", f"--workdir={wd}"],
                        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=1200)  # fmt: skip
    assert ev.returncode == 0, ev.stderr[-3000:]
    assert [x for x in ev.stdout.splitlines() if x.startswith("|")] == tables
    res = json.loads((wd / "results" / "results.json").read_text())
    assert res["apex"]["fold1"]["test_episodes"] > 0
    assert not set(res["thresholds"]["fold1"]["all"]["subjects"]) & set(folds("bp4d")[0][1])


@pytest.mark.slow
def test_command_on_micro_disfa(tmp_path):
    """The same run on a DISFA-like copy with one flag: DISFA's 8 detection AUs and folds."""
    from aujax.datasets import DISFA_DETECTION_AUS
    from aujax.synth import generate_disfa

    data = tmp_path / "disfa"
    generate_disfa(data, size="tiny", seed=0, subjects=("SN002", "SN013", "SN003"), n_frames=60,
                   n_vertices=400, progress=None)  # fmt: skip
    wd = tmp_path / "wd"
    args = [f"--config={ROOT / 'experiments/configs/bp4d_topdown.py'}:tiny",
            "--config.data.dataset=disfa", f"--config.data.disfa_dir={data}",
            f"--config.data.cache_dir={tmp_path / 'cache'}", f"--workdir={wd}"]  # fmt: skip
    run = subprocess.run([sys.executable, "-m", "experiments.bp4d_topdown", *args], cwd=ROOT,
                         env=_env(), capture_output=True, text=True, timeout=1200)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    res = json.loads((wd / "results" / "results.json").read_text())
    assert [int(a) for a in res["table1"]["all"]["Top-down"]["per_au"]] == list(DISFA_DETECTION_AUS)
    rec = res["thresholds"]["fold1"]["all"]
    assert not set(rec["subjects"]) & set(folds("disfa")[0][1]) and 1 not in rec["folds"]


def test_resume_from_a_mid_run_checkpoint_is_bit_identical(run, tmp_path):
    """A run that died after fold 3's CNN checkpointed step 4 of 8 (its later checkpoint and
    everything after lost) resumes there and ends with the tables of the uninterrupted run."""
    import shutil

    table, workdir, res, printed = run
    copy = tmp_path / "run"
    shutil.copytree(workdir, copy)
    shutil.rmtree(copy / "results")
    shutil.rmtree(copy / "runs" / "fold3" / "integration")
    shutil.rmtree(copy / "runs" / "fold3" / "bottomup" / "checkpoints" / "latest" / "8")
    resumed: list[str] = []
    out = train_and_evaluate(_cfg(), copy, table=table, echo=resumed.append)
    assert out["table1"] == res["table1"]
    assert _tables(resumed) == _tables(printed)
    assert (copy / "runs" / "fold3" / "bottomup" / "metrics.jsonl").read_text() == (
        workdir / "runs" / "fold3" / "bottomup" / "metrics.jsonl"
    ).read_text()
