"""Person-specific normalisation shared by the methods (aujax.train.person_quantile)."""

import numpy as np
import pytest

from aujax.train import person_quantile


def test_person_quantile_removes_per_subject_offsets():
    """Two subjects with the same expressions and different offsets: after subtracting each
    subject's percentile the two series coincide; the value is the subject's percentile."""
    rng = np.random.default_rng(1)
    expr = rng.uniform(0.0, 2.0, (50, 2))
    c = np.concatenate([expr + np.array([0.3, -1.0]), expr + np.array([2.0, 0.5])])
    ids = np.repeat(["F001", "M002"], 50)
    base = person_quantile(c, ids, quantile=30.0)
    np.testing.assert_allclose(base[:50], np.percentile(c[:50], 30.0, axis=0)[None].repeat(50, 0))
    normed = c - base
    np.testing.assert_allclose(normed[:50], normed[50:], atol=1e-12)
    np.testing.assert_allclose(
        person_quantile(c, ids)[50:], np.median(c[50:], axis=0)[None] + 0 * c[50:]
    )


def test_person_quantile_ignores_nan_and_rejects_bad_input():
    c = np.array([[0.0, np.nan], [1.0, np.nan], [2.0, 3.0]])
    base = person_quantile(c, np.array(["a", "a", "b"]), quantile=0.0)
    np.testing.assert_allclose(base[:2, 0], 0.0)
    assert np.isnan(base[:2, 1]).all()
    np.testing.assert_allclose(base[2], [2.0, 3.0])
    with pytest.raises(ValueError, match="quantile"):
        person_quantile(c, np.array(["a", "a", "b"]), quantile=101.0)
    with pytest.raises(ValueError, match="subjects"):
        person_quantile(c, np.array(["a", "b"]))
    with pytest.raises(ValueError, match="values must have shape"):
        person_quantile(c[0], np.array(["a", "a"]))
    with pytest.raises(ValueError, match="real numbers"):
        person_quantile(np.array([["x"]]), np.array(["a"]))
