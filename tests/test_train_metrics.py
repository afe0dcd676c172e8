"""aujax.train metrics against independent implementations (sklearn-free, by hand and scipy)."""

import numpy as np
import pytest

from aujax.train import (
    F1Counts,
    f1_counts,
    f1_from_counts,
    f1_score,
    fold_mean,
    geometry_errors,
    icc31,
    intensity_metrics,
)


def _f1_reference(p, y):
    """F1 per AU on frames with label != 9, written independently (sklearn's definition)."""
    out = []
    for j in range(y.shape[1]):
        keep = y[:, j] != 9
        t = y[keep, j] == 1
        q = p[keep, j] >= 0.5
        tp, fp, fn = np.sum(t & q), np.sum(~t & q), np.sum(t & ~q)
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        out.append(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
    return np.asarray(out)


def test_f1_matches_reference_and_skips_not_coded():
    rng = np.random.default_rng(0)
    y = rng.choice([0, 1, 9], size=(500, 6), p=[0.6, 0.3, 0.1])
    p = rng.random((500, 6))
    np.testing.assert_allclose(f1_score(p, y), _f1_reference(p, y), rtol=1e-12)
    # a 9 frame never counts, whatever is predicted there
    p2 = np.where(y == 9, 1.0 - p, p)
    np.testing.assert_array_equal(f1_score(p2, y), f1_score(p, y))


def test_counts_add_like_one_pass():
    rng = np.random.default_rng(1)
    y = rng.choice([0, 1, 9], size=(300, 4))
    p = rng.random((300, 4))
    parts = [f1_counts(p[i : i + 70], y[i : i + 70]) for i in range(0, 300, 70)]
    total = F1Counts.zeros(4)
    for c in parts:
        total = total + c
    np.testing.assert_array_equal(f1_from_counts(total), f1_score(p, y))


def test_f1_edge_cases_and_threshold():
    y = np.array([[1, 0], [1, 0], [0, 0]])
    p = np.array([[0.5, 0.1], [0.2, 0.2], [0.7, 0.3]])
    # AU0: tp=1 (0.5 >= 0.5), fn=1, fp=1 -> 2/(2+1+1) = 0.5; AU1: nothing positive -> 0
    np.testing.assert_allclose(f1_score(p, y), [0.5, 0.0])
    np.testing.assert_allclose(f1_score(p, y, threshold=0.6), [0.0, 0.0])
    # a perfect detector
    np.testing.assert_allclose(f1_score(y.astype(float), y)[0], 1.0)
    # mask leaves frames out
    np.testing.assert_allclose(f1_score(p, y, mask=np.array([True, False, False]))[0], 1.0)


@pytest.mark.parametrize(
    "labels,probs,match",
    [
        (np.array([[0, 2]]), np.zeros((1, 2)), "frame 0, AU column 1"),
        (np.zeros((2, 2), int), np.zeros((3, 2)), "same shape"),
        (np.zeros((1, 2), int), np.array([[np.nan, 0.0]]), "NaN"),
    ],
)
def test_f1_bad_input(labels, probs, match):
    with pytest.raises(ValueError, match=match):
        f1_score(probs, labels)


def _icc_anova(a, b):
    """ICC(3,1) from a two-way ANOVA table built with explicit loops."""
    y = np.stack([a, b], 1)
    n, k = y.shape
    g = y.mean()
    ss_r = sum(k * (y[i].mean() - g) ** 2 for i in range(n))
    ss_c = sum(n * (y[:, j].mean() - g) ** 2 for j in range(k))
    ss_t = sum((y[i, j] - g) ** 2 for i in range(n) for j in range(k))
    ms_r = ss_r / (n - 1)
    ms_e = (ss_t - ss_r - ss_c) / ((n - 1) * (k - 1))
    return (ms_r - ms_e) / (ms_r + (k - 1) * ms_e)


def test_icc_against_anova_and_properties():
    rng = np.random.default_rng(2)
    a = rng.integers(0, 6, size=(200, 3)).astype(float)
    b = a + rng.normal(0, 0.8, size=a.shape)
    got = icc31(a, b)
    want = [_icc_anova(a[:, j], b[:, j]) for j in range(3)]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # consistency form: a constant offset does not change ICC(3,1); identical raters give 1
    np.testing.assert_allclose(icc31(a, a + 2.0), 1.0)
    assert np.all(np.isnan(icc31(np.ones((5, 1)), np.ones((5, 1)))))


def test_intensity_metrics_skip_not_coded():
    y = np.array([[0.0, 9.0], [2.0, 3.0], [4.0, 9.0], [1.0, 1.0]])
    p = np.array([[0.5, 7.0], [2.0, 2.0], [3.0, 0.0], [1.0, 2.0]])
    out = intensity_metrics(y, p)
    np.testing.assert_allclose(out["mae"], [0.375, 1.0])
    np.testing.assert_allclose(out["mse"], [(0.25 + 1.0) / 4, 1.0])
    assert np.isfinite(out["icc"][0])


def test_fold_mean_and_geometry():
    np.testing.assert_allclose(fold_mean([np.array([0.2, 0.4]), np.array([0.4, 0.8])]), [0.3, 0.6])
    assert fold_mean([{"a": 1.0}, {"a": 2.0}]) == {"a": 1.5}
    with pytest.raises(ValueError, match="keys"):
        fold_mean([{"a": 1.0}, {"b": 2.0}])
    p = np.zeros((2, 4, 3))
    t = np.zeros((2, 4, 3))
    t[..., 0] = 3.0
    t[..., 1] = 4.0
    e = geometry_errors(p, t)
    assert e["rmse"] == pytest.approx(5.0) and e["mae"] == pytest.approx(7.0 / 3.0)
