"""OSVR (``aujax.train.fit_osvr``): the interior-point solution against ``sklearn.svm.LinearSVR``
with the ordinal weight at zero (a tolerance from the duality-gap certificates of both
solutions), ordinal-only fits ordering held-out monotone sequences, the ordinal term helping
when labels are sparse and noisy, the pair builders, vmap over AUs, and input errors."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import pearsonr
from sklearn.svm import LinearSVR

from aujax.train import (
    OSVR,
    fit_osvr,
    ordinal_pairs_from_labels,
    ordinal_pairs_from_segments,
)


# small, compile-bound problems: XLA's optimisations off for this module (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("fast_compile")


def _primal(x, y, coef, intercept, *, c, epsilon, scaling, fit_intercept, loss):
    """The LinearSVR objective (liblinear's: the intercept weight b / s is penalised)."""
    r = np.maximum(np.abs(y - x @ coef - intercept) - epsilon, 0)
    reg = 0.5 * coef @ coef + (0.5 * (intercept / scaling) ** 2 if fit_intercept else 0.0)
    return reg + c * np.sum(r if loss == "l1" else r**2)


def _regression_data(n=40, d=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * rng.uniform(0.5, 2.0, size=d)
    y = x @ rng.normal(size=d) + 1.5 + 0.4 * rng.normal(size=n)
    return x, y


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize(
    ("c", "epsilon", "scaling", "loss"),
    [(1.0, 0.1, 1.0, "l1"), (10.0, 0.0, 3.0, "l1"), (0.3, 0.5, 1.0, "l2")],
)
def test_matches_linear_svr(c, epsilon, scaling, loss, fit_intercept):
    x, y = _regression_data()
    pairs = np.array([[0, 1], [2, 3]])  # present but weightless: C_o = 0
    model = fit_osvr(x, y, pairs=pairs, c=c, c_ordinal=0.0, epsilon=epsilon, loss=loss,
                     intercept_scaling=scaling, fit_intercept=fit_intercept, tol=1e-12)  # fmt: skip
    assert bool(model.converged)
    sk = LinearSVR(
        C=c, epsilon=epsilon, intercept_scaling=scaling, fit_intercept=fit_intercept, dual=True,
        loss="epsilon_insensitive" if loss == "l1" else "squared_epsilon_insensitive",
        tol=1e-10, max_iter=1_000_000, random_state=0,
    ).fit(x, y)  # fmt: skip
    kw = dict(c=c, epsilon=epsilon, scaling=scaling, fit_intercept=fit_intercept, loss=loss)
    coef, b = np.asarray(model.coef), float(model.intercept)
    np.testing.assert_allclose(float(model.primal), _primal(x, y, coef, b, **kw), rtol=1e-12)
    # certificates: ||w~ - w~*||^2 <= 2 (P(w~) - D) for any dual value D <= P*
    dual = float(model.primal - model.gap)
    p_sk = _primal(x, y, sk.coef_, float(np.atleast_1d(sk.intercept_)[0]), **kw)
    bound = np.sqrt(2 * float(model.gap)) + np.sqrt(2 * max(p_sk - dual, 0.0))
    assert bound < 1e-3  # both solvers are at the optimum, so the comparison means something
    s = scaling if fit_intercept else 1.0
    ours = np.r_[coef, b / s]
    theirs = np.r_[sk.coef_, float(np.atleast_1d(sk.intercept_)[0]) / s]
    assert np.linalg.norm(ours - theirs) <= bound
    # predictions: |x~ . dw~| <= ||x~|| ||dw~||
    xa = np.c_[x, np.full(len(x), s)]
    np.testing.assert_array_less(np.abs(model.predict(x) - sk.predict(x)),
                                 np.linalg.norm(xa, axis=1) * bound + 1e-12)  # fmt: skip
    if not fit_intercept:
        assert b == 0.0


def _episode(length, apex, rng):
    """A strict rise to ``apex`` then a strict fall, consecutive frames 0.15-0.45 apart."""
    steps = rng.uniform(0.15, 0.45, size=length - 1)
    rise = rng.uniform(0, 0.3) + np.r_[0, np.cumsum(steps[:apex])]
    fall = rise[-1] - np.cumsum(steps[apex:])
    return np.r_[rise, fall]


def _sequences(n_seq, rng, *, length=24, d=8, noise=0.02, v=None):
    """Episodes whose features are ``t v + subject offset + noise`` (t the latent intensity)."""
    v = rng.normal(size=d) if v is None else v
    x, t, segments, start = [], [], [], 0
    for _ in range(n_seq):
        apex = int(rng.integers(6, length - 6))
        ti = _episode(length, apex, rng)
        x.append(ti[:, None] * v + rng.normal(size=d) * 2.0 + noise * rng.normal(size=(length, d)))
        t.append(ti)
        segments.append((start, start + apex, start + length - 1))
        start += length
    return np.concatenate(x), np.concatenate(t), np.asarray(segments), v


def _padded(pairs, size=1500):
    """Pairs padded with weight-0 pairs to ``size``: one compiled program for this file's
    sequence tests."""
    weight = np.r_[np.ones(len(pairs)), np.zeros(size - len(pairs))]
    return np.r_[pairs, np.zeros((size - len(pairs), 2), np.int64)], weight


def test_ordinal_only_orders_held_out_monotone_sequences():
    rng = np.random.default_rng(1)
    x, _, segments, v = _sequences(8, rng, d=20)
    pairs, weight = _padded(ordinal_pairs_from_segments(segments, n=len(x)))
    model = fit_osvr(x, pairs=pairs, pair_weight=weight, c_ordinal=1.0)  # no label at all
    assert bool(model.converged)
    assert float(model.intercept) == 0.0  # the intercept cancels in every pair
    masked = fit_osvr(x, np.full(len(x), np.nan), label_mask=np.zeros(len(x), bool),
                      pairs=pairs, pair_weight=weight, c_ordinal=1.0)  # fmt: skip
    np.testing.assert_allclose(masked.coef, model.coef, rtol=1e-8, atol=1e-10)
    x_test, _, seg_test, _ = _sequences(5, np.random.default_rng(2), d=20, v=v)
    f = np.asarray(model.predict(x_test))
    for start, apex, end in seg_test:
        # Kendall's tau = 1 on the onset and -1 on the offset: strictly monotone predictions
        assert np.all(np.diff(f[start : apex + 1]) > 0)
        assert np.all(np.diff(f[apex : end + 1]) < 0)


def test_ordinal_term_helps_with_sparse_noisy_labels():
    """Weak supervision (the OSVR paper's setting): two noisy key-frame labels per episode (the
    first frame and the apex, label noise sd 0.5), the onset / apex / offset known, 20 features
    with per-sequence offsets and frame noise. The pair term (C_o = 0.1) must improve held-out
    Pearson correlation and MAE over the same fit without it (C_o = 0) on every seed.

    Measured (seeds 10, 11, 12): PCC 0.52 -> 0.90, 0.74 -> 0.87, 0.87 -> 0.91; MAE 2.23 -> 0.81,
    1.65 -> 1.10, 0.83 -> 0.77. The fits are exact optima (gap < 1e-10), so these do not move
    with rounding."""
    gains_r, gains_mae = [], []
    for seed in (10, 11, 12):
        rng = np.random.default_rng(seed)
        x, t, segments, v = _sequences(8, rng, d=20, noise=0.3)
        mask = np.zeros(len(x), bool)
        mask[segments[:, 0]] = mask[segments[:, 1]] = True
        y = np.where(mask, t + 0.5 * rng.normal(size=len(t)), np.nan)
        pairs, weight = _padded(ordinal_pairs_from_segments(segments, n=len(x), max_gap=6))
        x_test, t_test, _, _ = _sequences(8, np.random.default_rng(100 + seed), d=20, noise=0.3,
                                          v=v)  # fmt: skip
        scores = {}
        for c_o in (0.0, 0.1):
            m = fit_osvr(x, y, label_mask=mask, pairs=pairs, pair_weight=weight, c=1.0,
                         c_ordinal=c_o, epsilon=0.1)  # fmt: skip
            assert bool(m.converged)
            f = np.asarray(m.predict(x_test))
            scores[c_o] = (pearsonr(f, t_test).statistic, np.mean(np.abs(f - t_test)))
        gains_r.append(scores[0.1][0] - scores[0.0][0])
        gains_mae.append(scores[0.0][1] - scores[0.1][1])
    assert min(gains_r) > 0.02 and np.mean(gains_r) > 0.1, gains_r
    assert min(gains_mae) > 0.02 and np.mean(gains_mae) > 0.3, gains_mae


def test_pairs_from_labels_rule():
    y = np.array([0, 1, 1, 2, 1, 0, 0, 1])
    got = ordinal_pairs_from_labels(y)
    # rising runs [0..3] (0 1 1 2) and [5..7] (0 0 1); falling run [3..6] (2 1 0 0)
    want = {(0, 1), (0, 2), (0, 3), (1, 3), (2, 3), (5, 7), (6, 7), (4, 3), (5, 3), (6, 3),
            (5, 4), (6, 4)}  # fmt: skip
    assert set(map(tuple, got.tolist())) == want
    near = ordinal_pairs_from_labels(y, max_gap=1)
    assert set(map(tuple, near.tolist())) == {(0, 1), (2, 3), (6, 7), (4, 3), (5, 4)}
    # two sequences interleaved in the rows; an unlabelled frame is skipped, not a run break
    seq = np.array([0, 1, 0, 1, 0, 1])
    y2 = np.array([0.0, 3.0, 1.0, 2.0, 2.0, 1.0])
    mask = np.array([True, True, False, True, True, True])
    got2 = ordinal_pairs_from_labels(y2, sequence=seq, label_mask=mask)
    assert set(map(tuple, got2.tolist())) == {(0, 4), (3, 1), (5, 1), (5, 3)}


def test_pairs_from_segments_rule():
    got = ordinal_pairs_from_segments(np.array([[0, 2, 3], [5, 5, 6]]), n=7)
    want = {(0, 1), (0, 2), (1, 2), (3, 2), (6, 5)}
    assert set(map(tuple, got.tolist())) == want
    assert got.dtype == np.int64


def test_vmap_over_aus_with_padded_pairs():
    x, y0 = _regression_data(seed=3)
    ys = np.stack([y0, -y0 + 2.0], axis=1)
    # AU 0: two pairs; AU 1: one pair and a weight-0 padding pair
    padded = np.array([[[0, 1], [2, 3]], [[5, 6], [0, 0]]])
    weight = np.array([[1.0, 1.0], [1.0, 0.0]])
    batched = jax.vmap(lambda yk, pk, wk: fit_osvr(x, yk, pairs=pk, pair_weight=wk, c_ordinal=0.5))(
        jnp.asarray(ys.T), jnp.asarray(padded), jnp.asarray(weight)
    )
    assert isinstance(batched, OSVR) and batched.coef.shape == (2, 4)
    assert bool(jnp.all(batched.converged))
    for k in range(2):
        single = fit_osvr(x, ys[:, k], pairs=padded[k], pair_weight=weight[k], c_ordinal=0.5)
        np.testing.assert_allclose(batched.coef[k], single.coef, atol=1e-6)
        np.testing.assert_allclose(batched.intercept[k], single.intercept, atol=1e-6)


def test_float32_and_predict_shapes():
    x, y = _regression_data(seed=4)
    pairs = np.array([[0, 1], [2, 3]])
    model = fit_osvr(x.astype(np.float32), y, pairs=pairs)
    assert model.coef.dtype == jnp.float32 and bool(model.converged)
    ref = fit_osvr(x, y, pairs=pairs)
    np.testing.assert_allclose(model.coef, ref.coef, atol=1e-3)
    # a weight-0 pair is inert, and weights add: both are the one pair (i, j) of weight 1, a pair
    # the plain SVR violates (j is its lowest prediction, i its highest), so it moves the fit
    svr = fit_osvr(x, y, pairs=pairs, c_ordinal=0.0)
    i, j = int(jnp.argmax(svr.predict(x))), int(jnp.argmin(svr.predict(x)))
    one = fit_osvr(x, y, pairs=np.array([[i, j], [2, 3]]), pair_weight=np.array([1.0, 0.0]))
    split = fit_osvr(x, y, pairs=np.array([[i, j], [i, j]]), pair_weight=np.array([0.5, 0.5]))
    np.testing.assert_allclose(one.coef, split.coef, atol=1e-8)
    assert float(jnp.abs(one.coef - svr.coef).max()) > 1e-3
    assert model.predict(x[0]).shape == () and model.predict(x).shape == (40,)
    with pytest.raises(ValueError, match="4 features"):
        model.predict(np.ones((2, 5)))


def test_errors():
    x, y = _regression_data()
    with pytest.raises(ValueError, match="x must have shape"):
        fit_osvr(x[0], y)
    with pytest.raises(ValueError, match="y must have shape"):
        fit_osvr(x, y[:5])
    with pytest.raises(ValueError, match="x contains NaN"):
        fit_osvr(np.where(np.eye(40, 4) > 0, np.nan, x), y)
    with pytest.raises(ValueError, match="y contains NaN"):
        fit_osvr(x, np.r_[np.nan, y[1:]])
    with pytest.raises(ValueError, match="c must be"):
        fit_osvr(x, y, c=-1.0)
    with pytest.raises(ValueError, match="margin must be"):
        fit_osvr(x, y, margin=0.0)
    with pytest.raises(ValueError, match="loss must be"):
        fit_osvr(x, y, loss="huber")
    with pytest.raises(ValueError, match="pairs must index"):
        fit_osvr(x, y, pairs=np.array([[0, 40]]))
    with pytest.raises(ValueError, match="pairs must be an int array"):
        fit_osvr(x, y, pairs=np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="label_mask given without y"):
        fit_osvr(x, label_mask=np.ones(40, bool))
    with pytest.raises(ValueError, match="pair_weight must be >= 0"):
        fit_osvr(x, y, pairs=np.array([[0, 1]]), pair_weight=np.array([-1.0]))
    with pytest.raises(ValueError, match="max_iter"):
        fit_osvr(x, y, max_iter=0)
    with pytest.raises(ValueError, match="segments must satisfy"):
        ordinal_pairs_from_segments(np.array([[3, 2, 4]]))
    with pytest.raises(ValueError, match="beyond n"):
        ordinal_pairs_from_segments(np.array([[0, 2, 4]]), n=4)
    with pytest.raises(ValueError, match="sequence must have shape"):
        ordinal_pairs_from_labels(y, sequence=np.zeros(3))
    with pytest.raises(ValueError, match="max_gap"):
        ordinal_pairs_from_labels(y, max_gap=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trivial = fit_osvr(x, y, pairs=np.array([[0, 1], [2, 3]]), c=0.0, c_ordinal=0.0)
    assert float(jnp.abs(trivial.coef).max()) == 0.0 and bool(trivial.converged)  # w = 0
