"""Seed 002's CGAN / CAAE: eqs. 3-11 against hand computations, soft labels' distributions, the
sub-networks, adversarial training (toy conditional Gaussian, CAAE reconstruction and prior) and
a resumed run."""

import dataclasses
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from scipy import stats

from aujax.methods.ausynth import (
    GANConfig,
    NetworkConfig,
    caae_networks,
    caae_objective,
    cgan_discriminator_loss,
    cgan_generator_loss,
    cgan_networks,
    cgan_objective,
    conditional_discriminator_loss,
    conditional_generator_loss,
    default_bounds,
    generate,
    prior_discriminator_loss,
    prior_encoder_loss,
    range_loss,
    reconstruction_loss,
    scale_labels,
    soft_labels,
    train_caae,
    train_cgan,
    unscale_labels,
)
from aujax.train import AdversarialState


REAL = np.array([0.5, -1.2, 2.0, 0.0])
FAKE = np.array([-0.3, 1.1, -2.5])


def _log_d(logit):  # log sigmoid, written out
    return np.log(1.0 / (1.0 + np.exp(-logit)))


def _log_1md(logit):  # log(1 - sigmoid)
    return np.log(1.0 - 1.0 / (1.0 + np.exp(-logit)))


# -- losses (float64 inputs: the reference is exact to round-off) --------------------------------


@pytest.mark.parametrize("fn", [cgan_discriminator_loss, conditional_discriminator_loss,
                                prior_discriminator_loss])  # fmt: skip
def test_discriminator_losses_eqs_3_6_8(fn):
    want = -(np.mean(_log_d(REAL)) + np.mean(_log_1md(FAKE)))
    np.testing.assert_allclose(float(fn(jnp.asarray(REAL), jnp.asarray(FAKE))), want, rtol=1e-12)


@pytest.mark.parametrize("fn", [cgan_generator_loss, conditional_generator_loss,
                                prior_encoder_loss])  # fmt: skip
def test_generator_losses_both_forms(fn):
    fake = jnp.asarray(FAKE)
    np.testing.assert_allclose(float(fn(fake)), -np.mean(_log_d(FAKE)), rtol=1e-12)
    np.testing.assert_allclose(float(fn(fake, form="minimax")), np.mean(_log_1md(FAKE)),
                               rtol=1e-12)  # fmt: skip
    with pytest.raises(ValueError, match="form must be one of"):
        fn(fake, form="wasserstein")


def test_losses_stable_for_confident_logits():
    big = jnp.asarray([1e4, -1e4, 80.0])
    for v in (cgan_discriminator_loss(big, -big), cgan_generator_loss(big),
              cgan_generator_loss(-big, form="minimax"), prior_encoder_loss(-big)):  # fmt: skip
        assert np.isfinite(float(v))
    assert float(cgan_discriminator_loss(jnp.asarray([1e4]), jnp.asarray([-1e4]))) == 0.0
    # where log(sigmoid(l)) underflows to -inf in float32, the loss is the exact |l|
    assert float(cgan_generator_loss(jnp.asarray([-200.0], jnp.float32))) == 200.0


def test_range_loss_eqs_4_9():
    lo, hi = np.array([-0.5, -1.0, 0.0]), np.array([0.5, 1.0, 0.25])
    inside = jnp.asarray([[0.0, 0.9, 0.1], [-0.5, -1.0, 0.25]])
    assert float(range_loss(inside, lower=lo, upper=hi)) == 0.0
    x = np.array([[0.75, -1.5, 0.1], [-1.0, 2.0, -0.125]])
    # row 1: 0.25 above + 0.5 below; row 2: 0.5 below + 1.0 above + 0.125 below
    np.testing.assert_allclose(float(range_loss(jnp.asarray(x), lower=lo, upper=hi)),
                               np.mean([0.75, 1.625]), rtol=1e-12)  # fmt: skip
    assert float(range_loss(jnp.asarray(x[0]), lower=lo, upper=hi)) == 0.75  # one vector
    assert float(range_loss(jnp.asarray(x), lower=-0.5, upper=0.5)) == pytest.approx(
        np.mean([0.25 + 1.0, 0.5 + 1.5])
    )
    with pytest.raises(ValueError, match="lower must be <= upper"):
        range_loss(jnp.asarray(x), lower=hi, upper=lo)
    with pytest.raises(ValueError, match=r"upper must be a scalar or a \(3,\) array"):
        range_loss(jnp.asarray(x), lower=lo, upper=np.ones(4))


def test_reconstruction_loss_eq_7():
    x = np.array([[0.1, -0.2], [0.4, 0.3], [0.0, 1.0]])
    x_rec = np.array([[0.2, -0.2], [-0.1, 0.3], [0.5, 0.25]])
    want = np.mean(np.abs(x - x_rec))
    np.testing.assert_allclose(float(reconstruction_loss(jnp.asarray(x), jnp.asarray(x_rec))),
                               want, rtol=1e-12)  # fmt: skip
    with pytest.raises(ValueError, match="one shape"):
        reconstruction_loss(jnp.asarray(x), jnp.asarray(x_rec[:2]))


def test_cgan_objective_eq_5():
    x_fake = np.array([[1.25, 0.0], [0.0, -1.5], [0.5, 0.5]])
    d, g = cgan_objective(jnp.asarray(REAL), jnp.asarray(FAKE), jnp.asarray(x_fake),
                          lower=-1.0, upper=1.0)  # fmt: skip
    np.testing.assert_allclose(float(d), -(np.mean(_log_d(REAL)) + np.mean(_log_1md(FAKE))),
                               rtol=1e-12)  # fmt: skip
    lr = np.mean([0.25, 0.5, 0.0])
    np.testing.assert_allclose(float(g), 10.0 * lr - np.mean(_log_d(FAKE)), rtol=1e-12)
    _, g2 = cgan_objective(jnp.asarray(REAL), jnp.asarray(FAKE), jnp.asarray(x_fake),
                           lower=-1.0, upper=1.0, beta=2.0, form="minimax")  # fmt: skip
    np.testing.assert_allclose(float(g2), 2.0 * lr + np.mean(_log_1md(FAKE)), rtol=1e-12)


def test_caae_objective_eq_10():
    rng = np.random.default_rng(0)
    real, fake, code = rng.normal(size=(3, 5))
    prior = rng.normal(size=7)
    x = rng.uniform(-1, 1, size=(5, 4))
    x_rec = x + rng.normal(scale=0.3, size=(5, 4))
    lo, hi = -0.9, 0.9
    d, eg = caae_objective(*map(jnp.asarray, (real, fake, prior, code, x, x_rec)), lower=lo,
                           upper=hi)  # fmt: skip
    d_want = -(np.mean(_log_d(prior)) + np.mean(_log_1md(code))) - (
        np.mean(_log_d(real)) + np.mean(_log_1md(fake))
    )
    lg = np.mean(np.abs(x - x_rec))
    lr = np.mean(np.sum(np.maximum(x_rec - hi, 0) + np.maximum(lo - x_rec, 0), axis=1))
    eg_want = 100.0 * lg + 10.0 * lr - np.mean(_log_d(code)) - np.mean(_log_d(fake))
    np.testing.assert_allclose(float(d), d_want, rtol=1e-12)
    np.testing.assert_allclose(float(eg), eg_want, rtol=1e-12)
    assert lr > 0  # the example exercises L_R


# -- soft labels (eq. 11) ----------------------------------------------------------------------------


def test_soft_labels_uniform_and_normal():
    y = jnp.asarray(np.tile(np.arange(6.0), (20_000, 1)))  # 120k labels, 20k per level
    soft = np.asarray(soft_labels(y, key=jax.random.key(0)))
    delta = soft - np.asarray(y)
    assert delta.min() >= -0.5 and delta.max() <= 0.5
    # per level: unbiased (sd of the mean 0.002), variance 1/12 (sd 0.0005)
    for level in range(6):
        assert abs(delta[:, level].mean()) < 0.012
        assert abs(delta[:, level].var() - 1 / 12) < 0.003
    normal = np.asarray(soft_labels(y, key=jax.random.key(1), kind="normal")) - np.asarray(y)
    # the printed N(-0.5, 0.5): mean -0.5 (sd of the mean 0.002), variance 0.5 (sd 0.002)
    assert abs(normal.mean() - (-0.5)) < 0.012
    assert abs(normal.var() - 0.5) < 0.012
    with pytest.raises(ValueError, match=r"intensities in \[0, 5.0\]"):
        soft_labels(jnp.asarray([[-1.0, 0.5]]), key=jax.random.key(0))
    with pytest.raises(ValueError, match="kind must be one of"):
        soft_labels(y, key=jax.random.key(0), kind="laplace")


def test_label_scaling_roundtrip():
    y = jnp.asarray([[0.0, 2.5, 5.0]])
    np.testing.assert_allclose(np.asarray(scale_labels(y)), [[-1.0, 0.0, 1.0]])
    np.testing.assert_allclose(np.asarray(unscale_labels(scale_labels(y))), np.asarray(y))


# -- networks ------------------------------------------------------------------------------------


def test_networks_shapes_ranges_and_layers():
    # the paper's sizes (§4.2), abstractly (no initialisation): three dense layers each
    nets = nnx.eval_shape(lambda: {**cgan_networks(NetworkConfig(), rngs=nnx.Rngs(0)),
                                   **{"caae_" + k: v for k, v in caae_networks(
                                       NetworkConfig(), rngs=nnx.Rngs(0)).items()}})  # fmt: skip
    ins_outs = {"generator": (112, 79), "discriminator": (91, 1), "caae_encoder": (79, 50),
                "caae_generator": (62, 79), "caae_discriminator": (91, 1),
                "caae_prior_discriminator": (50, 1)}  # fmt: skip
    for name, (d_in, d_out) in ins_outs.items():
        layers = nets[name].mlp.layers
        assert len(layers) == 3, name  # fig. 4
        assert layers[0].kernel.shape[0] == d_in and layers[-1].kernel.shape[1] == d_out, name
    # outputs, on small sizes (cheap to initialise)
    config = NetworkConfig(x_dim=6, y_dim=3, noise_dim=5, latent_dim=4, generator_hidden=(8, 8),
                           discriminator_hidden=(8, 8), encoder_hidden=(8, 8),
                           prior_hidden=(8, 8))  # fmt: skip
    n = 5
    key = jax.random.key(0)
    x = jax.random.uniform(key, (n, 6), minval=-1.0, maxval=1.0)  # float64 under x64: cast
    y = jax.random.uniform(jax.random.fold_in(key, 1), (n, 3), minval=-1.0, maxval=1.0)
    cg = cgan_networks(config, rngs=nnx.Rngs(0))
    g, d = cg["generator"], cg["discriminator"]
    z = g.sample_prior(jax.random.fold_in(key, 2), (n,))
    assert z.shape == (n, 5) and float(jnp.max(jnp.abs(z))) <= 1.0
    # large codes drive the tanh output toward, never past, +-1
    out = g(100 * z, y)
    assert out.shape == (n, 6) and out.dtype == jnp.float32
    assert float(jnp.max(jnp.abs(out))) <= 1.0
    assert d(x, y).shape == (n,) and d(x[0], y[0]).shape == ()  # one example
    ca = caae_networks(config, rngs=nnx.Rngs(0))
    code = ca["encoder"](100 * x)
    assert code.shape == (n, 4) and float(jnp.max(jnp.abs(code))) <= 1.0
    assert float(jnp.max(jnp.abs(code))) > 0.5
    assert ca["generator"](code, y).shape == (n, 6)
    assert ca["prior_discriminator"](code).shape == (n,)
    with pytest.raises(ValueError, match=r"y must have shape \(\.\.\., 3\)"):
        g(z, y[:, :2])
    with pytest.raises(ValueError, match="leading"):
        g(z[:2], y)
    with pytest.raises(ValueError, match="noise must be one of"):
        NetworkConfig(noise="cauchy")


# -- the must-hold: the CGAN reproduces a conditional Gaussian ---------------------------------------

_LEVELS = np.array([-1.0, 0.0, 1.0])
_A, _B = np.array([0.3, -0.25]), np.array([0.0, 0.1])
_S = np.array([[0.15, 0.2], [0.2, 0.15], [0.25, 0.25]])  # s(y): per level, per dimension


def _toy(level: int, n: int, rng) -> np.ndarray:
    """x | y ~ N(a y + b, diag s(y)^2), truncated to [-1, 1] (rejection; at >= 2.6 sd)."""
    out = np.empty((0, 2))
    while len(out) < n:
        c = _A * _LEVELS[level] + _B + _S[level] * rng.normal(size=(n, 2))
        out = np.concatenate([out, c[np.all(np.abs(c) <= 1, axis=1)]])
    return out[:n]


def _toy_data(n_per_level=1000):
    rng = np.random.default_rng(0)
    x = np.concatenate([_toy(k, n_per_level, rng) for k in range(3)])
    y = np.repeat(_LEVELS, n_per_level)[:, None]
    return x, y


def _toy_config(**kw):
    net = NetworkConfig(x_dim=2, y_dim=1, noise_dim=8, generator_hidden=(64, 64),
                        discriminator_hidden=(64, 64))  # fmt: skip
    return GANConfig(network=net, lr_schedule="cosine", b1=0.5, seed=0, **kw)


def _compare(state, *, mean_tol, std_range, alpha, n=2000, n_test=200):
    """Per level, generated against fresh true samples: standardised mean differences and sd
    ratios on ``n`` of each, and (``alpha``) per-dimension two-sample KS tests on ``n_test`` of
    each, Bonferroni over levels x dimensions. Returns the KS p-values."""
    pvalues = []
    for k, level in enumerate(_LEVELS):
        g = np.asarray(generate(state, np.full((n, 1), level, np.float32),
                                key=jax.random.key(100 + k)))  # fmt: skip
        r = _toy(k, n, np.random.default_rng(200 + k))
        assert np.all(np.abs(g) < 1)
        z = (g.mean(0) - r.mean(0)) / r.std(0)
        ratio = g.std(0) / r.std(0)
        assert np.all(np.abs(z) < mean_tol), (level, z)
        assert np.all((ratio > std_range[0]) & (ratio < std_range[1])), (level, ratio)
        pvalues += [stats.ks_2samp(g[:n_test, d], r[:n_test, d]).pvalue for d in range(2)]
    if alpha is not None:
        assert min(pvalues) > alpha / len(pvalues), pvalues
    return pvalues


@pytest.mark.slow
def test_cgan_reproduces_conditional_gaussian():
    """The issue's must-hold: per label level, the generated x pass two-sample KS tests against
    the true conditional (200 vs 200 per dimension, alpha 0.01 with Bonferroni over the 6 tests),
    and on 2000 vs 2000 the means lie within 0.3 sd and the sds within a factor 1.33. Measured
    with seeds 0, 1, 2 (seed 0 is the test's): smallest p 0.030, 0.18, 0.0061 against the
    threshold 0.0017; a standalone run without the test's x64 configuration: |z| <= 0.16, sd
    ratios 0.83-1.07. Adam with a cosine decay (without it, the players circle the equilibrium
    and the snapshot at the last step is off by up to 0.4 sd, sd ratios down to 0.84)."""
    x, y = _toy_data()
    state = train_cgan(x, y, config=_toy_config(steps=6000, batch_size=256, lr=1e-3),
                       bounds=(-1.0, 1.0), progress=False)  # fmt: skip
    _compare(state, mean_tol=0.3, std_range=(0.75, 1.33), alpha=0.01)


def test_cgan_conditional_gaussian_fast():
    """The fast variant (small widths, 2000 steps): the generated conditional means follow the
    labels (dimension 0 rises, dimension 1 falls with y, by 1.2-2 sd per level), lie within 1 sd
    of the truth, and the sds within a factor 2.5 (measured with seeds 0, 1, 2: |z| <= 0.65,
    ratios 0.50-1.12); the slow test above holds the two-sample test."""
    x, y = _toy_data()
    config = dataclasses.replace(
        _toy_config(steps=2000, batch_size=128, lr=3e-3),
        network=NetworkConfig(x_dim=2, y_dim=1, noise_dim=4, generator_hidden=(32, 32),
                              discriminator_hidden=(32, 32)),
    )  # fmt: skip
    state = train_cgan(x, y, config=config, bounds=(-1.0, 1.0), progress=False)
    assert isinstance(state, AdversarialState) and int(state.step) == 2000
    _compare(state, mean_tol=1.0, std_range=(0.4, 2.5), alpha=None)
    means = np.stack([
        np.asarray(generate(state, np.full((500, 1), level, np.float32),
                            key=jax.random.key(300))).mean(0)
        for level in _LEVELS
    ])  # fmt: skip
    assert np.all(np.diff(means[:, 0]) > 0) and np.all(np.diff(means[:, 1]) < 0), means


def _small(**kw):
    net = NetworkConfig(
        x_dim=2,
        y_dim=1,
        noise_dim=3,
        latent_dim=2,
        generator_hidden=(8, 8),
        discriminator_hidden=(8, 8),
        encoder_hidden=(8, 8),
        prior_hidden=(4, 4),
    )
    return GANConfig(network=net, batch_size=16, lr=1e-3, **kw)  # fmt: skip


def test_train_cgan_resumes_bit_identical(tmp_path):
    x, y = _toy_data(40)
    config = _small(steps=10, checkpoint_every=4, log_every=1, soft_labels="uniform",
                    max_intensity=2.0)  # fmt: skip
    ref = train_cgan(x, y, config=config, workdir=tmp_path, progress=False)
    ref_leaves = [np.asarray(v) for v in jax.tree.leaves(ref)]
    log = (tmp_path / "metrics.jsonl").read_text()
    latest = tmp_path / "checkpoints" / "latest"
    assert sorted(int(p.name) for p in latest.iterdir() if p.name.isdigit()) == [8, 10]
    # a kill after the step-8 checkpoint: the final one never got written
    shutil.rmtree(latest / "10")
    resumed = train_cgan(x, y, config=config, workdir=tmp_path, progress=False)
    assert int(resumed.step) == 10
    for a, b in zip(ref_leaves, jax.tree.leaves(resumed), strict=True):
        np.testing.assert_array_equal(a, np.asarray(b))
    assert (tmp_path / "metrics.jsonl").read_text() == log
    # evaluation by restore
    restored = train_cgan(x, y, config=config, workdir=tmp_path, progress=False, restore="latest")
    for a, b in zip(ref_leaves, jax.tree.leaves(restored), strict=True):
        np.testing.assert_array_equal(a, np.asarray(b))
    lo, hi = default_bounds(x)
    assert lo.shape == (2,) and np.all(lo < hi)


def test_train_rejects_bad_data():
    x, y = _toy_data(40)
    with pytest.raises(ValueError, match=r"x must have shape \(n, 79\)"):
        train_cgan(x, y, config=GANConfig(), progress=False)
    with pytest.raises(ValueError, match=r"y must be normalised to \[-1, 1\]"):
        train_cgan(x, 3 * y, config=_small(steps=1), progress=False)
    with pytest.raises(ValueError, match="same rows"):
        train_caae(x, y[:-1], config=_small(steps=1), progress=False)
    with pytest.raises(ValueError, match="x_lower <= x_upper"):
        train_cgan(x, y, config=_small(steps=1), bounds=(1.0, -1.0), progress=False)
    with pytest.raises(ValueError, match="soft_labels must be None or one of"):
        _small(soft_labels="gauss")


def _caae_toy(n=2000):
    """x = M u + c y + noise: u ~ U(-1, 1)^2 the individual part, y in {-1, 0, 1} the label."""
    rng = np.random.default_rng(0)
    u = rng.uniform(-1, 1, (n, 2))
    y = rng.choice(_LEVELS, (n, 1))
    m = np.array([[0.5, 0.0], [0.0, 0.5], [0.25, 0.25], [0.0, 0.0]])
    x = u @ m.T + 0.3 * y * np.array([0.0, 0.0, 0.5, 1.0]) + 0.02 * rng.normal(size=(n, 4))
    return x, y


def test_caae_reconstructs_and_spreads_its_latent():
    """Trained (800 steps) against untrained (the same seed, 0 steps): the L1 reconstruction
    error falls by 4x at least and the encoder's codes move toward the uniform prior (mean KS
    distance to U(-1, 1) down by 40 % at least, sd per dimension above 0.2). Measured with seeds
    0 and 1: L1 0.27 -> 0.014 and 0.30 -> 0.013; KS 0.48 -> 0.20 and 0.45 -> 0.21; sd 0.1 ->
    0.34-0.41."""
    x, y = _caae_toy()
    net = NetworkConfig(x_dim=4, y_dim=1, latent_dim=2, generator_hidden=(32, 32),
                        discriminator_hidden=(32, 32), encoder_hidden=(32, 32),
                        prior_hidden=(16, 8))  # fmt: skip
    results = []
    for steps in (0, 800):
        config = GANConfig(network=net, steps=steps, batch_size=64, lr=2e-3,
                           lr_schedule="cosine", seed=0)  # fmt: skip
        state = train_caae(x, y, config=config, progress=False)
        rec = np.asarray(generate(state, y, source=x))
        code = np.asarray(state.model("autoencoder")["encoder"](x))
        assert np.all(np.abs(code) <= 1)
        ks = np.mean([stats.kstest(code[:, d], stats.uniform(-1, 2).cdf).statistic
                      for d in range(2)])  # fmt: skip
        results.append((np.mean(np.abs(rec - x)), ks, code.std(0)))
    (l1_0, ks_0, _), (l1, ks, sd) = results
    assert l1 < l1_0 / 4
    assert ks < 0.6 * ks_0
    assert np.all(sd > 0.2)
    free = np.asarray(generate(state, y[:50], key=jax.random.key(3)))  # z from the prior
    assert free.shape == (50, 4) and np.all(np.abs(free) < 1)
    with pytest.raises(ValueError, match="key: required"):
        generate(state, y[:5])
