"""Seed 002's augmentation study (fig. 5): labels for synthesis from other subjects, the study's
structure, its 0 % run against training on real images only, determinism and resume."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from aujax.methods.ausynth import (
    AUGMENT_FRACTIONS,
    RegressorConfig,
    augmentation_labels,
    augmentation_study,
    build_regressor,
    format_augmentation,
    plot_augmentation,
)
from aujax.methods.ausynth._augment import _epoch_decay
from aujax.nn import AlexNet
from aujax.nn._alexnet import adaptive_avg_pool


pytestmark = pytest.mark.usefixtures("fast_compile")

N_AUS, SIZE = 3, 16
CONFIG = RegressorConfig(depth=18, width=4, lr=3e-3, checkpoint_every=20, log_every=10)
STEPS, BATCH = 20, 8


def _problem(n, *, seed, offset=0.0):
    """Images whose brightness in AU k's patch is its intensity / 5 (plus noise and ``offset``)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 6, size=(n, N_AUS)).astype(np.float32)
    x = rng.uniform(0.0, 0.2, size=(n, SIZE, SIZE, 1)).astype(np.float32)
    for k in range(N_AUS):
        x[:, 4 * k : 4 * k + 4, 2:14, 0] += 0.15 * y[:, k, None, None] + offset
    return np.clip(x, 0.0, 1.0), y


# -- labels for synthesis ------------------------------------------------------------------------


def test_labels_come_from_other_subjects():
    # subject s's frames carry label values 10 s + (0, 1, 2): a drawn vector names its source
    subjects = np.repeat(np.array([3, 5, 8, 9]), 6)
    labels = 10.0 * subjects[:, None] + np.arange(N_AUS)[None, :]
    labels[::6] = 0.0  # one neutral frame per subject: never drawn
    y, target = augmentation_labels(labels, subjects, n=101, key=jax.random.key(0))
    assert y.shape == (101, N_AUS) and target.shape == (101,) and y.dtype == np.float32
    source = (y[:, 1] - 1.0) / 10.0
    assert np.all(np.isin(source, subjects)) and not np.any(source == target)
    assert not np.any(np.all(y == 0.0, axis=1))
    # targets cycle over every subject: each prefix is balanced
    assert np.array_equal(np.sort(target[:4]), [3, 5, 8, 9])
    assert sorted(np.unique(target, return_counts=True)[1]) == [25, 25, 25, 26]
    # every other subject is a source for each target, and the draw follows the key
    for t in (3, 5, 8, 9):
        assert set(source[target == t]) == set(subjects) - {t}
    y2, t2 = augmentation_labels(labels, subjects, n=101, key=jax.random.key(0))
    assert np.array_equal(y, y2) and np.array_equal(target, t2)
    y3, _ = augmentation_labels(labels, subjects, n=101, key=jax.random.key(1))
    assert not np.array_equal(y, y3)


def test_labels_errors():
    labels, subjects = np.ones((4, N_AUS)), np.array(["a", "a", "b", "b"])
    with pytest.raises(ValueError, match="subjects must have shape"):
        augmentation_labels(labels, subjects[:3], n=2, key=jax.random.key(0))
    with pytest.raises(ValueError, match="two training subjects"):
        augmentation_labels(labels, np.array(["a"] * 4), n=2, key=jax.random.key(0))
    neutral_b = labels * np.array([[1], [1], [0], [0]])
    with pytest.raises(ValueError, match="no other subject than 'a'"):
        augmentation_labels(neutral_b, subjects, n=2, key=jax.random.key(0))


# -- the study -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    real = _problem(48, seed=0)
    synth = _problem(40, seed=1, offset=0.05)  # renders: brighter than the real frames
    test = _problem(24, seed=2)
    data = dict(real_images=real[0], real_labels=real[1], synth_images=synth[0],
                synth_labels=synth[1], test_images=test[0], test_labels=test[1])  # fmt: skip
    workdir = tmp_path_factory.mktemp("augment")
    kw = dict(key=jax.random.key(7), steps=STEPS, batch_size=BATCH, config=CONFIG)
    results = augmentation_study(**data, fractions=(0.0, 0.5), workdir=workdir, **kw)
    return data, kw, workdir, results


def test_study_structure(study, tmp_path):
    _, _, workdir, results = study
    assert list(results) == [0.0, 0.5]
    assert [r["n_synthetic"] for r in results.values()] == [0, 24]
    for r in results.values():
        assert set(r) == {"mae", "mse", "icc", "per_au", "n_synthetic", "seconds"}
        assert {k: v.shape for k, v in r["per_au"].items()} == {k: (N_AUS,) for k in
                                                                ("mae", "mse", "icc")}  # fmt: skip
        assert np.all(np.isfinite([r["mae"], r["mse"], r["icc"]]))
        np.testing.assert_allclose(r["mae"], np.mean(r["per_au"]["mae"]), rtol=1e-12)
        assert r["mse"] >= r["mae"] ** 2 - 1e-12  # Jensen, per AU and in the mean
    # the data changed the network: the two fractions differ
    assert results[0.0]["mae"] != results[0.5]["mae"]
    for name in ("0", "0.5"):
        saved = json.loads((workdir / name / "config.json").read_text())
        assert saved["n_synthetic"] == (0 if name == "0" else 24)
    table = format_augmentation(results)
    assert "| 0 | 0 |" in table and "| 24 | 50 |" in table and "0.603" in table
    plot_augmentation(tmp_path / "fig5.png", results)
    assert (tmp_path / "fig5.png").stat().st_size > 0


def test_zero_fraction_is_real_only_and_deterministic(study):
    # in memory, with other synthetic images: the 0 % run is training on the real images alone,
    # and the same key gives the numbers of the checkpointed run
    data, kw, _, results = study
    other = dict(data, synth_images=np.zeros((0, SIZE, SIZE, 1), np.float32),
                 synth_labels=np.zeros((0, N_AUS), np.float32))  # fmt: skip
    again = augmentation_study(**other, fractions=(0.0,), **kw)
    for k in ("mae", "mse", "icc"):
        assert again[0.0][k] == results[0.0][k]
        np.testing.assert_array_equal(again[0.0]["per_au"][k], results[0.0]["per_au"][k])


def test_resume_restores(study):
    data, kw, workdir, results = study
    log = workdir / "0.5" / "metrics.jsonl"
    before = log.read_text()
    lines = []
    again = augmentation_study(**data, fractions=(0.0, 0.5), workdir=workdir, log=lines.append,
                               **kw)  # fmt: skip
    assert log.read_text() == before  # nothing trained
    assert len(lines) == 2 and "+24 synthetic" in lines[1]
    for f in (0.0, 0.5):
        assert again[f]["mae"] == results[f]["mae"] and again[f]["icc"] == results[f]["icc"]
    restored = augmentation_study(**data, fractions=(0.5,), workdir=workdir, restore=True, **kw)
    assert restored[0.5]["mse"] == results[0.5]["mse"]
    with pytest.raises(ValueError, match="config.json not found"):
        augmentation_study(**data, fractions=(0.2,), workdir=workdir, restore=True, **kw)
    # another setting in the same workdir is refused, not silently resumed
    with pytest.raises(ValueError, match="different config"):
        augmentation_study(**data, fractions=(0.5,), workdir=workdir, **dict(kw, steps=STEPS + 1))


def test_study_errors(study):
    data, kw, _, _ = study
    with pytest.raises(ValueError, match="synth_images has 40 rows; fraction 0.9"):
        augmentation_study(**data, fractions=AUGMENT_FRACTIONS, **kw)
    with pytest.raises(ValueError, match="test_labels has 23 rows"):
        augmentation_study(**dict(data, test_labels=data["test_labels"][:-1]), **kw)
    with pytest.raises(ValueError, match=r"synth_labels has 2 AUs, expected 3"):
        augmentation_study(**dict(data, synth_labels=data["synth_labels"][:, :2]), **kw)
    with pytest.raises(ValueError, match=r"test_images has images of shape \(8, 8, 1\)"):
        augmentation_study(**dict(data, test_images=data["test_images"][:, :8, :8]), **kw)
    with pytest.raises(ValueError, match=r"real_images must hold finite values in \[0, 1\]"):
        augmentation_study(**dict(data, real_images=255 * data["real_images"]), **kw)
    with pytest.raises(ValueError, match=r"real_labels must hold AU intensities in \[0, 5\]"):
        augmentation_study(**dict(data, real_labels=data["real_labels"] + 9.0), **kw)
    with pytest.raises(ValueError, match="key must be a typed PRNG key"):
        augmentation_study(**data, **dict(kw, key=jax.random.PRNGKey(0)))
    with pytest.raises(ValueError, match="fractions must be distinct"):
        augmentation_study(**data, fractions=(0.1, 0.1), **kw)


# -- the paper's network -------------------------------------------------------------------------


def test_alexnet_option():
    # torchvision's alexnet has 61,100,840 parameters with 1000 classes; ours, shapes only
    def n_params(module):
        return sum(x.size for x in jax.tree.leaves(nnx.state(module, nnx.Param)))

    assert (
        n_params(nnx.eval_shape(lambda: AlexNet(num_classes=1000, rngs=nnx.Rngs(0)))) == 61_100_840
    )
    config = RegressorConfig(arch="alexnet")
    net = nnx.eval_shape(lambda: build_regressor(config, n_aus=12, in_channels=3,
                                                 key=jax.random.key(0)))  # fmt: skip
    assert n_params(net) == 61_100_840 - 1000 * 4097 + 12 * 4097

    def out(px, key=None):
        def run(x):
            return AlexNet(num_classes=12, rngs=nnx.Rngs(0))(x, key=key)

        return jax.eval_shape(run, jax.ShapeDtypeStruct((2, px, px, 3), jnp.float32))

    for px in (64, 224):  # 224: the paper's crops; 64: the synthetic set's (adaptive pooling)
        feats, y = out(px, jax.random.key(1))
        assert feats.shape == (2, 4096) and y.shape == (2, 12)
    with pytest.raises(ValueError, match="arch must be one of"):
        RegressorConfig(arch="vgg")


def test_adaptive_pool_cells():
    # PyTorch's cells on 7 -> 6: rows [0, 2), [1, 3), [2, 4), [3, 5), [4, 6), [5, 7)
    x = jnp.arange(7.0)[None, :, None, None] * jnp.ones((1, 7, 7, 1))
    pooled = np.asarray(adaptive_avg_pool(x, 6))[0, :, 0, 0]
    np.testing.assert_allclose(pooled, [0.5, 1.5, 2.5, 3.5, 4.5, 5.5])
    x = jnp.arange(4.0)[None, :, None, None] * jnp.ones((1, 4, 4, 1))  # 4 -> 6: cells repeat
    np.testing.assert_allclose(np.asarray(adaptive_avg_pool(x, 6))[0, :, 0, 0],
                               [0.0, 0.5, 1.0, 2.0, 2.5, 3.0])  # fmt: skip


def test_learning_rate_drops_4_percent_per_epoch():
    # the paper's schedule: lr 1e-4, reduced by 4 % at each epoch (here 3 steps per epoch)
    tx = _epoch_decay(1e-4, 0.04)
    state = tx.init(None)._replace(epoch_steps=jnp.asarray(3.0, jnp.float32))
    g = {"w": jnp.ones((2,), jnp.float32)}
    scales = []
    for _ in range(7):
        u, state = tx.update(g, state)
        scales.append(float(u["w"][0]))
    want = -1e-4 * 0.96 ** np.array([0, 0, 0, 1, 1, 1, 2])
    np.testing.assert_allclose(scales, want, rtol=1e-6)
