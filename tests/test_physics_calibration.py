"""Issue 17: the learned linear reading of the engine's coefficients (fit_coefficient_calibration)."""

import numpy as np
import pytest

from aujax.methods.physics import (
    CoefficientCalibration,
    fit_coefficient_calibration,
)


def _engine_like(n, seed):
    """True intensities y and engine levels that mix them (a fixed confusion of the columns, an
    offset) plus noise: what the ridge map must undo."""
    rng = np.random.default_rng(seed)
    y = rng.uniform(0.0, 5.0, (n, 3))
    mix = np.array([[1.0, 0.8, 0.0], [0.0, 0.5, 0.0], [0.0, 0.9, 2.0]])  # invertible, non-diagonal
    return y @ mix + np.array([0.5, 1.0, -0.2]) + 0.05 * rng.standard_normal((n, 3)), y, mix


def test_calibration_undoes_a_linear_confusion():
    c, y, mix = _engine_like(400, 0)
    cal = fit_coefficient_calibration(c, y, ridge=0.0)
    assert isinstance(cal, CoefficientCalibration) and cal.frames == 400
    # the map is the inverse of the confusion (noise 0.05 against a spread of ~1.4 per column)
    np.testing.assert_allclose(cal.weight, np.linalg.inv(mix), atol=0.05)
    # on new frames the calibrated columns follow the truth; the raw middle column does not
    c2, y2, _ = _engine_like(200, 1)
    out = cal(c2)
    assert out.shape == (200, 3)
    r_raw = np.corrcoef(c2[:, 1], y2[:, 1])[0, 1]
    r_cal = np.corrcoef(out[:, 1], y2[:, 1])[0, 1]
    assert r_cal > 0.99 and r_raw < 0.6
    # the residual is the engine noise through the map: 0.05 ||W[:, j]|| per column (RMS)
    expected = 0.05 * np.linalg.norm(np.linalg.inv(mix), axis=0)
    assert np.all(np.sqrt(np.mean((out - y2) ** 2, axis=0)) < 1.5 * expected)


def test_calibration_ridge_mask_and_errors():
    c, y, _ = _engine_like(100, 2)
    # a large ridge shrinks the map towards the targets' mean
    flat = fit_coefficient_calibration(c, y, ridge=1e6)
    assert np.abs(flat.weight).max() < 1e-3
    np.testing.assert_allclose(flat(c), np.broadcast_to(y.mean(0), y.shape), atol=0.01)
    # masked and non-finite frames are left out of the fit
    bad = c.copy()
    bad[:5] = 1e3  # masked out
    bad[10] = np.nan  # not finite
    got = fit_coefficient_calibration(bad, y, valid=np.arange(100) >= 5)
    assert got.frames == 94
    keep = (np.arange(100) >= 5) & (np.arange(100) != 10)
    ref = fit_coefficient_calibration(c[keep], y[keep])
    np.testing.assert_allclose(got.weight, ref.weight, atol=1e-10)
    np.testing.assert_allclose(got.bias, ref.bias, atol=1e-10)
    with pytest.raises(ValueError, match="ridge"):
        fit_coefficient_calibration(c, y, ridge=-1.0)
    with pytest.raises(ValueError, match="usable"):
        fit_coefficient_calibration(c[:1], y[:1])
    with pytest.raises(ValueError, match="valid"):
        fit_coefficient_calibration(c, y, valid=np.ones(3, bool))
    with pytest.raises(ValueError, match="coefficients must be"):
        flat(c[:, :2])
