r"""A learned linear reading of the top-down engine's coefficients (issue 17's must-hold).

The top-down engine fits every frame's AU levels ``c_hat`` (the blendshape coefficients) to 2D
landmarks. The lip AUs 14, 23 and 24 of the template move the 49 landmarks mostly in depth (89-98 %
of their displacement on the small preset's 400-vertex template) and by 0.07-0.13 cm in the image
plane (0.3-0.9 cm for AUs 12 and 26), and what they do move there lies almost in the span of the
other AUs' landmark motion (4-13 % of it is outside). Per frame the engine's bounded least squares
therefore gives those AUs levels that follow the mismatch between the subject's face and the
template more than the AU (on fold 1's training subjects of the small preset: r = 0.19 / 0.17 /
0.10 against the true intensity, with a standard deviation 1.9-2.5x the true one).

Part of that error is systematic: a given true expression gives, on average over subjects, a
given pattern of engine levels. A linear map fitted on training subjects' frames undoes that part:

.. math::

    \min_{W, b}\ \sum_t \|W^\top \hat c_t + b - y_t\|^2 + \rho\, n \|W\|_F^2,

with y the frames' AU intensities (on BP4D-like data the FACS intensity labels; on the synthetic
copy the generator's intensities), ``c_hat`` centred, n the number of frames. Fitted on
Gaussian-smoothed coefficients (the per-frame noise, which a map fitted on raw levels would shrink
towards the mean, then matters less), it is applied per frame and the physics inversion
(:func:`aujax.physics.invert_activations`) or any smoother runs on the calibrated levels. No
ground truth is read at inference: the map is a (K, K) matrix and a (K,) offset.
"""

import copy
import dataclasses

import numpy as np

from ...datasets import FrameTable
from ...train import person_quantile


__all__ = [
    "CoefficientCalibration",
    "SubjectCalibration",
    "choose_baseline_quantile",
    "fit_coefficient_calibration",
    "fit_subject_calibration",
    "smoothed_coefficients",
]


@dataclasses.dataclass(frozen=True)
class CoefficientCalibration:
    """``c -> c @ weight + bias``: the engine's coefficients read as AU intensities.

    Attributes:
        weight: (K, K) float64 map (row: engine coefficient, column: calibrated coefficient).
        bias: (K,) float64 offset.
        ridge: the ridge weight rho it was fitted with (per frame, on centred coefficients).
        frames: number of frames it was fitted on.
    """

    weight: np.ndarray
    bias: np.ndarray
    ridge: float
    frames: int

    def __call__(self, coefficients) -> np.ndarray:
        """Calibrates (n, K) coefficients; returns (n, K) float64 (NaN rows stay NaN)."""
        c = np.asarray(coefficients, np.float64)
        if c.ndim != 2 or c.shape[1] != self.weight.shape[0]:
            raise ValueError(f"coefficients must be (n, {self.weight.shape[0]}), got {c.shape}.")
        return c @ self.weight + self.bias


def fit_coefficient_calibration(
    coefficients,
    targets,
    *,
    ridge: float = 1e-3,
    valid=None,
) -> CoefficientCalibration:
    """Fits the ridge map from the engine's coefficients to the frames' AU intensities.

    Args:
        coefficients: (n, K) engine coefficients of training subjects' frames (e.g. smoothed in
            time per sequence).
        targets: (n, K) the frames' AU intensities in the same column order.
        ridge: rho >= 0, the ridge weight per frame on the centred coefficients (1e-3: chosen on
            two halves of fold 1's training subjects of the small preset; the figures barely
            moved between 1e-3 and 1e-1).
        valid: optional (n,) mask of frames to fit on (e.g. ``c_mask``); frames with a non-finite
            coefficient or target are left out as well.

    Returns:
        :class:`CoefficientCalibration`.

    Raises:
        ValueError: on mismatched shapes, a negative ``ridge``, or fewer than two usable frames.
    """
    x = np.asarray(coefficients, np.float64)
    y = np.asarray(targets, np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(
            f"coefficients and targets must be (n, K) and (n, K'), got {x.shape} and {y.shape}."
        )
    if not ridge >= 0.0:
        raise ValueError(f"ridge must be >= 0, got {ridge}.")
    ok = np.all(np.isfinite(x), axis=1) & np.all(np.isfinite(y), axis=1)
    if valid is not None:
        v = np.asarray(valid, bool)
        if v.shape != (x.shape[0],):
            raise ValueError(f"valid must have shape ({x.shape[0]},), got {v.shape}.")
        ok &= v
    n = int(ok.sum())
    if n < 2:
        raise ValueError(f"coefficients: {n} usable frame(s); at least two are needed.")
    x, y = x[ok], y[ok]
    mx, my = x.mean(0), y.mean(0)
    xc = x - mx
    gram = xc.T @ xc + ridge * n * np.eye(x.shape[1])
    weight = np.linalg.lstsq(gram, xc.T @ (y - my), rcond=None)[0]
    return CoefficientCalibration(
        weight=weight, bias=my - mx @ weight, ridge=float(ridge), frames=n
    )


def smoothed_coefficients(table: FrameTable, *, sigma: float) -> np.ndarray:
    """(N, K) float64 the table's coefficients Gaussian-smoothed in time within each sequence.

    Frames without coefficients (``c_mask`` False) enter the filter as zeros and come out NaN.

    Args:
        table: a frame table with coefficients ``c`` (N, K) and ``c_mask``.
        sigma: the Gaussian's standard deviation in frames (0: no smoothing).
    """
    from scipy.ndimage import gaussian_filter1d

    if not sigma >= 0.0:
        raise ValueError(f"sigma must be >= 0 frames, got {sigma}.")
    out = np.full(np.shape(table.c), np.nan)
    for _, _, rows in table.sequences():
        c = np.nan_to_num(np.asarray(table.c[rows], np.float64))
        if sigma > 0:
            c = gaussian_filter1d(c, sigma, axis=0, mode="nearest")
        out[rows] = np.where(np.asarray(table.c_mask[rows], bool)[:, None], c, np.nan)
    return out


@dataclasses.dataclass(frozen=True)
class SubjectCalibration:
    r"""Person-specific normalisation, then the ridge map: ``c -> (c - b_subject) W + b``.

    ``b_subject`` is the subject's ``quantile``-th percentile of its Gaussian-smoothed coefficients
    over all its frames in the table being read (:func:`aujax.train.person_quantile`; no labels:
    OpenFace's person-specific normalisation). It removes the offsets that the mismatch between a
    subject's face and the template gives the engine's levels, which no map shared by all subjects
    can (issue 17: on fold 1 of the small preset the calibrated synergy r rose 0.689 -> 0.747 on
    all test-subject frames).

    Attributes:
        calibration: the ridge map fitted on normalised, smoothed coefficients.
        sigma: Gaussian smoothing (frames) of the coefficients the baselines are read from.
        quantile: the baseline's percentile.
    """

    calibration: CoefficientCalibration
    sigma: float
    quantile: float

    def baselines(self, table: FrameTable) -> np.ndarray:
        """(N, K) each row's subject baseline, from all of that subject's rows in ``table``."""
        smoothed = smoothed_coefficients(table, sigma=self.sigma)
        return person_quantile(smoothed, table.subject, quantile=self.quantile)

    def __call__(self, table: FrameTable) -> FrameTable:
        """A shallow copy of ``table`` whose per-frame ``c`` is calibrated (``c_mask`` kept;
        frames without coefficients get the calibration of the subject's baseline)."""
        out = copy.copy(table)
        out.c = self.calibration(np.nan_to_num(np.asarray(table.c, np.float64)
                                               - self.baselines(table)))  # fmt: skip
        return out


def fit_subject_calibration(
    table: FrameTable,
    rows,
    targets,
    *,
    sigma: float,
    quantile: float,
    ridge: float = 1e-3,
) -> SubjectCalibration:
    """Fits :class:`SubjectCalibration` on ``rows`` (training subjects' frames) of ``table``.

    Args:
        table: the frame table (every frame of a subject counts in its baseline).
        rows: (n,) rows to fit on.
        targets: (n, K) their AU intensities.
        sigma: Gaussian smoothing in frames (of the fitting inputs and of the baselines).
        quantile: the baseline's percentile in [0, 100].
        ridge: see :func:`fit_coefficient_calibration`.
    """
    rows = np.asarray(rows)
    smoothed = smoothed_coefficients(table, sigma=sigma)
    base = person_quantile(smoothed, table.subject, quantile=quantile)
    cal = fit_coefficient_calibration(smoothed[rows] - base[rows], targets, ridge=ridge)
    return SubjectCalibration(calibration=cal, sigma=float(sigma), quantile=float(quantile))


def choose_baseline_quantile(
    table: FrameTable,
    rows,
    targets,
    *,
    sigma: float,
    score,
    quantiles=(10.0, 20.0, 30.0, 50.0),
    ridge: float = 1e-3,
) -> float:
    """The baseline percentile, chosen on two halves of the subjects of ``rows`` alone.

    For each candidate, :func:`fit_subject_calibration` on the frames of one half (subjects in
    sorted order, alternating) is scored on the other's, both ways round, and the mean kept.

    Args:
        table, rows, targets, sigma, ridge: as :func:`fit_subject_calibration`.
        score: ``score(calibrated, held_rows) -> float``, higher is better: ``calibrated`` the
            (len(held_rows), K) calibrated smoothed coefficients of the held-out half's rows.
        quantiles: the candidates.

    Returns:
        The best candidate (the first of equals).
    """
    rows = np.asarray(rows)
    targets = np.asarray(targets, np.float64)
    who = np.asarray(table.subject)[rows]
    subjects = sorted(set(who.tolist()))
    if len(subjects) < 2:
        raise ValueError(f"rows hold {len(subjects)} subject(s); two halves need at least two.")
    halves = [np.isin(who, subjects[k::2]) for k in (0, 1)]
    smoothed = smoothed_coefficients(table, sigma=sigma)

    def mean_score(q: float) -> float:
        base = person_quantile(smoothed, table.subject, quantile=q)
        x = smoothed[rows] - base[rows]
        out = []
        for fit, held in ((0, 1), (1, 0)):
            cal = fit_coefficient_calibration(x[halves[fit]], targets[halves[fit]], ridge=ridge)
            out.append(float(score(cal(np.nan_to_num(x[halves[held]])), rows[halves[held]])))
        return float(np.mean(out))

    scores = [mean_score(float(q)) for q in quantiles]
    return float(quantiles[int(np.argmax(scores))])
