r"""AU evaluation metrics (REFERENCE §3, DESIGN §8): frame-based F1, ICC(3,1), MAE, MSE, geometry errors.

Every function is host-side NumPy: metrics are computed on gathered predictions, once per
evaluation, and must be exactly reproducible from the arrays a run saved.

Occurrence (REFERENCE §3.1, the ME-GraphAU / JAA-Net protocol):

1. binarise the predicted probability at ``>= threshold`` (0.5);
2. per AU, over the fold's test frames, leave out frames whose label is 9 (not coded) and
   sum TP, FP, FN;
3. :math:`F_1 = 2\,TP / (2\,TP + FP + FN)` per AU (0 when an AU has no positives and no
   predicted positives: ``zero_division = 0``, as py-feat);
4. mean over AUs for the fold; mean of the fold means for the reported number.

:class:`F1Counts` holds step 2's sums so that a fold evaluated in batches (or on several hosts)
gives exactly the F1 of one pass over all its frames.

Intensity (REFERENCE §3.2): ICC(3,1) (Shrout-Fleiss consistency, k = 2 raters: ground truth and
prediction), MAE and MSE per AU over the test frames without 9s, then means.
"""

from collections.abc import Mapping, Sequence

import numpy as np
from flax import struct

from ..datasets import NOT_CODED, FrameTable


__all__ = [
    "F1Counts",
    "NOT_CODED",
    "f1_counts",
    "f1_from_counts",
    "f1_score",
    "fold_mean",
    "icc31",
    "intensity_metrics",
    "geometry_errors",
    "table_f1",
]


def _as_2d(name: str, x, dtype=None) -> np.ndarray:
    x = np.asarray(x) if dtype is None else np.asarray(x, dtype=dtype)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"{name} must have shape (frames, n_aus) or (frames,), got {x.shape}.")
    return x


def _check_labels(labels: np.ndarray) -> None:
    bad = ~np.isin(labels, (0, 1, NOT_CODED))
    if np.any(bad):
        frame, au = np.argwhere(bad)[0]
        raise ValueError(
            f"labels must be 0, 1 or {NOT_CODED} (not coded); got {labels[frame, au]!r} at "
            f"frame {frame}, AU column {au}."
        )


@struct.dataclass
class F1Counts:
    """Per-AU true positive, false positive and false negative counts, summed over frames.

    Counts add: ``a + b`` is the counts of the union of the two frame sets, so a fold evaluated
    batch by batch gives the same F1 as one pass (REFERENCE §3.1, step 2).

    Attributes:
        tp, fp, fn: (n_aus,) int64 counts.
    """

    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray

    def __add__(self, other: "F1Counts") -> "F1Counts":
        return F1Counts(tp=self.tp + other.tp, fp=self.fp + other.fp, fn=self.fn + other.fn)

    @classmethod
    def zeros(cls, n_aus: int) -> "F1Counts":
        z = np.zeros(n_aus, dtype=np.int64)
        return cls(tp=z, fp=z.copy(), fn=z.copy())


def f1_counts(probabilities, labels, *, threshold: float = 0.5, mask=None) -> F1Counts:
    """TP / FP / FN per AU over frames, leaving out not-coded (9) labels (REFERENCE §3.1, 1-2).

    Args:
        probabilities: (frames, n_aus) predicted probabilities (or any score compared with
            ``threshold``); NaN is an error.
        labels: (frames, n_aus) labels 0, 1 or 9 (9 = not coded, skipped).
        threshold: a frame is predicted positive when ``probability >= threshold``.
        mask: optional (frames,) or (frames, n_aus) bool, extra frames to leave out (False).

    Returns:
        :class:`F1Counts`.

    Raises:
        ValueError: on shape mismatch, labels other than 0/1/9, or NaN probabilities.
    """
    p = _as_2d("probabilities", probabilities, np.float64)
    y = _as_2d("labels", labels)
    if p.shape != y.shape:
        raise ValueError(
            f"probabilities {p.shape} and labels {y.shape} must have the same shape (frames, n_aus)."
        )
    if np.any(np.isnan(p)):
        raise ValueError("probabilities contain NaN.")
    _check_labels(y)
    keep = y != NOT_CODED
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        if m.ndim == 1:
            m = m[:, None]
        keep = keep & np.broadcast_to(m, y.shape)
    pred = (p >= threshold) & keep
    pos = (y == 1) & keep
    return F1Counts(
        tp=np.sum(pred & pos, axis=0).astype(np.int64),
        fp=np.sum(pred & ~pos, axis=0).astype(np.int64),
        fn=np.sum(~pred & pos, axis=0).astype(np.int64),
    )


def f1_from_counts(counts: F1Counts) -> np.ndarray:
    """Per-AU F1 = 2 TP / (2 TP + FP + FN) (0 where the denominator is 0), REFERENCE §3.1 step 3.

    Returns:
        (n_aus,) float64.
    """
    num = 2.0 * counts.tp
    den = num + counts.fp + counts.fn
    return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0)


def f1_score(probabilities, labels, *, threshold: float = 0.5, mask=None) -> np.ndarray:
    """Per-AU frame-based F1 of one fold (REFERENCE §3.1, steps 1-3); mean it for the fold score.

    Equals ``sklearn.metrics.f1_score(y[keep], p[keep] >= threshold, zero_division=0)`` per AU.

    Returns:
        (n_aus,) float64 in [0, 1].
    """
    return f1_from_counts(f1_counts(probabilities, labels, threshold=threshold, mask=mask))


def fold_mean(per_fold: Sequence[Mapping[str, float]] | Sequence[np.ndarray]):
    """Mean over folds (REFERENCE §3.1 step 5) of per-fold per-AU scores.

    Args:
        per_fold: a list of (n_aus,) arrays, or a list of dicts with identical keys.

    Returns:
        The element-wise mean, in the input's form.
    """
    if len(per_fold) == 0:
        raise ValueError("per_fold: expected at least one fold, got none.")
    if isinstance(per_fold[0], Mapping):
        keys = list(per_fold[0])
        for i, d in enumerate(per_fold):
            if list(d) != keys:
                raise ValueError(f"per_fold[{i}] has keys {list(d)}, expected {keys}.")
        return {k: float(np.mean([d[k] for d in per_fold])) for k in keys}
    arrays = [np.asarray(a, dtype=np.float64) for a in per_fold]
    for i, a in enumerate(arrays):
        if a.shape != arrays[0].shape:
            raise ValueError(f"per_fold[{i}] has shape {a.shape}, expected {arrays[0].shape}.")
    return np.mean(np.stack(arrays), axis=0)


def icc31(y_true, y_pred) -> np.ndarray:
    r"""ICC(3,1) per AU, Shrout-Fleiss consistency with k = 2 raters (REFERENCE §3.2).

    .. math::

        ICC(3,1) = \frac{MS_{rows} - MS_{err}}{MS_{rows} + (k - 1) MS_{err}}

    with rows = frames, raters = (ground truth, prediction). Frames with a NaN on either side are
    left out per AU. An AU with fewer than 2 frames, or with both raters constant, gets NaN.

    Args:
        y_true, y_pred: (frames, n_aus) or (frames,) intensities.

    Returns:
        (n_aus,) float64.
    """
    a = _as_2d("y_true", y_true, np.float64)
    b = _as_2d("y_pred", y_pred, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"y_true {a.shape} and y_pred {b.shape} must have the same shape.")
    out = np.full(a.shape[1], np.nan)
    k = 2
    for j in range(a.shape[1]):
        keep = np.isfinite(a[:, j]) & np.isfinite(b[:, j])
        y = np.stack([a[keep, j], b[keep, j]], axis=1)
        n = y.shape[0]
        if n < 2:
            continue
        grand = y.mean()
        ss_tot = np.sum((y - grand) ** 2)
        ss_rows = k * np.sum((y.mean(axis=1) - grand) ** 2)
        ss_cols = n * np.sum((y.mean(axis=0) - grand) ** 2)
        ss_err = ss_tot - ss_rows - ss_cols
        ms_rows = ss_rows / (n - 1)
        ms_err = ss_err / ((n - 1) * (k - 1))
        den = ms_rows + (k - 1) * ms_err
        if den > 0:
            out[j] = (ms_rows - ms_err) / den
    return out


def intensity_metrics(y_true, y_pred, *, not_coded: float | None = NOT_CODED) -> dict:
    """ICC(3,1), MAE and MSE per AU over frames, leaving out not-coded labels (REFERENCE §3.2).

    Args:
        y_true: (frames, n_aus) ground-truth intensities (0-5); ``not_coded`` (9) and NaN
            entries are left out.
        y_pred: (frames, n_aus) predicted intensities.
        not_coded: the label value to leave out (None: only NaN is left out).

    Returns:
        ``{"icc": (n_aus,), "mae": (n_aus,), "mse": (n_aus,)}`` float64 arrays.
    """
    a = _as_2d("y_true", y_true, np.float64).copy()
    b = _as_2d("y_pred", y_pred, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"y_true {a.shape} and y_pred {b.shape} must have the same shape.")
    if np.any(np.isnan(b)):
        raise ValueError("y_pred contains NaN.")
    if not_coded is not None:
        a[a == not_coded] = np.nan
    err = np.where(np.isnan(a), np.nan, b - a)
    with np.errstate(invalid="ignore"):
        counts = np.sum(~np.isnan(err), axis=0)
        mae = np.where(counts > 0, np.nansum(np.abs(err), axis=0) / np.maximum(counts, 1), np.nan)
        mse = np.where(counts > 0, np.nansum(err**2, axis=0) / np.maximum(counts, 1), np.nan)
    return {"icc": icc31(a, b), "mae": mae, "mse": mse}


def geometry_errors(predicted, target, *, mask=None) -> dict:
    """RMSE and MAE of predicted geometry (vertices, landmarks or coefficients) against a target.

    Args:
        predicted, target: (..., d) arrays of the same shape (the last axis is the coordinate).
        mask: optional boolean array over the leading axes; False entries are left out.

    Returns:
        ``{"rmse": float, "mae": float}``: root mean squared Euclidean error per point and mean
        absolute error per coordinate.
    """
    p = np.asarray(predicted, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    if p.shape != t.shape:
        raise ValueError(f"predicted {p.shape} and target {t.shape} must have the same shape.")
    d = p - t
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        if m.shape != p.shape[:-1]:
            raise ValueError(f"mask must have shape {p.shape[:-1]}, got {m.shape}.")
        d = d[m]
    if d.size == 0:
        raise ValueError("no entries left to evaluate (empty input or all masked).")
    return {
        "rmse": float(np.sqrt(np.mean(np.sum(d**2, axis=-1)))),
        "mae": float(np.mean(np.abs(d))),
    }


def table_f1(prob: np.ndarray, table: FrameTable, rows) -> np.ndarray:
    """Per-AU frame-based F1 of probabilities ``prob`` (n, R) on table ``rows`` (masked labels
    count as not coded, REFERENCE §3)."""
    labels = np.where(table.label_mask[rows], table.labels[rows], NOT_CODED)
    return f1_score(prob, labels)
