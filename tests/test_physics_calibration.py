"""Issue 17: the learned linear reading of the engine's coefficients (fit_coefficient_calibration)."""

import numpy as np
import pytest

from aujax.datasets import FrameTable
from aujax.methods.physics import (
    CoefficientCalibration,
    choose_baseline_quantile,
    fit_coefficient_calibration,
    fit_subject_calibration,
    smoothed_coefficients,
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


def _subject_table(seed):
    """Six subjects x two sequences of 80 frames: true intensities y (a smooth bump train), engine
    levels = y @ mix + a per-subject offset + noise; one frame per sequence without levels."""
    rng = np.random.default_rng(seed)
    mix = np.array([[1.0, 0.8, 0.0], [0.0, 0.5, 0.0], [0.0, 0.9, 2.0]])
    subject, task, frame, c, ok, y = [], [], [], [], [], []
    t = np.arange(80)
    for s in range(6):
        offset = rng.normal(scale=1.5, size=3)
        for task_name in ("T1", "T2"):
            centres = rng.uniform(10, 70, size=(3, 2))
            yi = np.stack([np.exp(-0.5 * ((t[:, None] - centres[k]) / 6.0) ** 2).sum(1)
                           for k in range(3)], 1) * 3.0  # fmt: skip
            subject += [f"S{s}"] * t.size
            task += [task_name] * t.size
            frame += (t + 1).tolist()
            c.append(yi @ mix + offset + 0.05 * rng.standard_normal((t.size, 3)))
            m = np.ones(t.size, bool)
            m[7] = False
            ok.append(m)
            y.append(yi)
    n = len(frame)
    c = np.concatenate(c)
    mask = np.concatenate(ok)
    c[~mask] = np.nan
    table = FrameTable(
        subject=np.asarray(subject), task=np.asarray(task), frame=np.asarray(frame, np.int64),
        labels=np.zeros((n, 3), np.int8), label_mask=np.ones((n, 3), bool),
        landmarks=np.zeros((n, 49, 2), np.float32), landmark_mask=mask, images=None,
        aus=(1, 2, 4), c=c, c_mask=mask,
    )  # fmt: skip
    return table, np.concatenate(y)


def test_smoothed_coefficients_stay_within_sequences():
    table, _ = _subject_table(0)
    raw = smoothed_coefficients(table, sigma=0.0)
    np.testing.assert_array_equal(np.isnan(raw), ~table.c_mask[:, None].repeat(3, 1))
    np.testing.assert_allclose(raw[table.c_mask], table.c[table.c_mask])
    table.c[80:160] += 100.0  # a jump at the boundary of two sequences does not leak into the first
    smooth = smoothed_coefficients(table, sigma=3.0)
    assert np.nanmax(np.abs(smooth[:80])) < 50.0 and np.nanmin(smooth[80:160]) > 50.0
    with pytest.raises(ValueError, match="sigma"):
        smoothed_coefficients(table, sigma=-1.0)


def test_subject_calibration_removes_subject_offsets():
    """Per-subject offsets no shared map can undo: the subject baseline (fitted on four subjects,
    applied to two others) reads the held-out subjects' intensities far better than the ridge map
    alone, and the quantile is chosen on the training subjects' halves."""
    table, y = _subject_table(1)
    train = np.flatnonzero(np.isin(table.subject, ["S0", "S1", "S2", "S3"]))
    test = np.flatnonzero(np.isin(table.subject, ["S4", "S5"]) & table.c_mask)

    def r(est, truth):
        return np.mean([np.corrcoef(est[:, k], truth[:, k])[0, 1] for k in range(3)])

    def held_r(calibrated, held):
        return r(calibrated, y[held])

    q = choose_baseline_quantile(table, train, y[train], sigma=1.0, score=held_r,
                                 quantiles=(0.0, 50.0))  # fmt: skip
    assert q in (0.0, 50.0)
    cal = fit_subject_calibration(table, train, y[train], sigma=1.0, quantile=q)
    out = cal(table)
    assert out is not table and out.c_mask is table.c_mask and np.all(np.isfinite(out.c))
    plain = fit_coefficient_calibration(smoothed_coefficients(table, sigma=1.0)[train], y[train])
    r_subject = r(out.c[test], y[test])
    r_plain = r(plain(table.c[test]), y[test])
    assert r_subject > 0.97 and r_subject > r_plain + 0.1, (r_subject, r_plain)
    base = cal.baselines(table)
    np.testing.assert_allclose(base[test[0]], base[test[1]])  # one baseline per subject
    with pytest.raises(ValueError, match="two halves"):
        choose_baseline_quantile(table, train[:80], y[train[:80]], sigma=1.0, score=held_r)
