"""Per-AU decision thresholds of continuous AU scores, chosen on training subjects only.

A score that is not a probability — the top-down engine's level ``a*_k >= 0`` per AU (seed 000,
eq. 2), the physics inversion's drive per AU synergy (issue 17) — is not a detection; AU k is
detected when ``score_k >= t_k``. Each ``t_k`` maximises the frame-based F1 over the training rows
(an exact search over every cut between two consecutive distinct levels). The search records the
subjects of the rows it was given and the folds in which those subjects are test subjects, so a
caller (and a test) can prove that no test-fold subject shaped a threshold.
"""

import numpy as np
from flax import struct

from ..datasets import NOT_CODED, fold_of
from ._metrics import f1_score


__all__ = ["LevelThresholds", "choose_thresholds"]


@struct.dataclass
class LevelThresholds:
    """Decision thresholds of per-AU scores and where they came from (host numpy).

    Attributes:
        thresholds: (K,) level thresholds t_k; AU k is predicted when ``a*_k >= t_k``.
        train_f1: (K,) F1 of the thresholds on the rows they were chosen on.
        aus: AU numbers of the columns (static).
        subjects: the subjects whose rows the search touched, sorted (static).
        folds: the folds (1-3, ME-GraphAU numbering) in which those subjects are test subjects
            (static); fold f's thresholds must not contain f.
        n_rows: number of rows searched (static).
    """

    thresholds: np.ndarray
    train_f1: np.ndarray
    aus: tuple[int, ...] = struct.field(pytree_node=False, default=())
    subjects: tuple[str, ...] = struct.field(pytree_node=False, default=())
    folds: tuple[int, ...] = struct.field(pytree_node=False, default=())
    n_rows: int = struct.field(pytree_node=False, default=0)

    def detect(self, levels) -> np.ndarray:
        """(N, K) float 0/1 detections ``a*_k >= t_k`` of (N, K) levels."""
        levels = np.asarray(levels, np.float64)
        if levels.ndim != 2 or levels.shape[1] != self.thresholds.shape[0]:
            raise ValueError(
                f"levels must have shape (N, {self.thresholds.shape[0]}), got {levels.shape}."
            )
        return (levels >= self.thresholds[None, :]).astype(np.float64)


def _best_cut(level: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    """The threshold maximising F1 of ``level >= t`` against ``positive`` (1-D, coded rows)."""
    if level.size == 0 or not positive.any():
        return float("inf"), 0.0  # nothing to detect: never fire
    order = np.argsort(-level, kind="stable")
    v, y = level[order], positive[order]
    tp = np.cumsum(y)
    fp = np.cumsum(~y)
    last = np.r_[np.flatnonzero(v[1:] != v[:-1]), v.size - 1]  # end of each run of equal values
    f1 = 2.0 * tp[last] / (2.0 * tp[last] + fp[last] + (tp[-1] - tp[last]))
    i = int(np.argmax(f1))
    j = last[i]
    t = v[j] if j + 1 >= v.size else 0.5 * (v[j] + v[j + 1])  # midway to the next lower level
    return float(t), float(f1[i])


def choose_thresholds(
    levels,
    labels,
    *,
    subjects,
    aus,
    dataset: str = "bp4d",
) -> LevelThresholds:
    """Per-AU thresholds of scores (e.g. top-down levels) maximising F1 on the given (training)
    rows.

    Args:
        levels: (N, K) top-down levels of the training rows.
        labels: (N, K) labels 0/1/9 (9 = not coded, skipped).
        subjects: (N,) subject ID of each row (recorded with its fold IDs).
        aus: the K AU numbers.
        dataset: ``"bp4d"`` or ``"disfa"`` (for the fold IDs of the subjects).

    Returns:
        :class:`LevelThresholds`.
    """
    levels = np.asarray(levels, np.float64)
    labels = np.asarray(labels)
    subjects = np.asarray(subjects).astype(str)
    aus = tuple(int(a) for a in aus)
    if levels.ndim != 2 or levels.shape != labels.shape:
        raise ValueError(
            f"levels {levels.shape} and labels {labels.shape} must have the same shape (N, K)."
        )
    if levels.shape[1] != len(aus):
        raise ValueError(f"aus must name the {levels.shape[1]} columns, got {aus}.")
    if subjects.shape != (levels.shape[0],):
        raise ValueError(f"subjects must have shape ({levels.shape[0]},), got {subjects.shape}.")
    if np.any(~np.isfinite(levels)):
        raise ValueError("levels contain NaN or inf.")
    thr, f1 = np.zeros(len(aus)), np.zeros(len(aus))
    for k in range(len(aus)):
        coded = labels[:, k] != NOT_CODED
        thr[k], f1[k] = _best_cut(levels[coded, k], labels[coded, k] == 1)
    # the F1 of the chosen thresholds, by the library metric (a check of the search)
    train_f1 = f1_score((levels >= thr[None, :]).astype(np.float64), labels)
    if not np.allclose(train_f1, f1):
        raise AssertionError(f"threshold search F1 {f1} disagrees with f1_score {train_f1}.")
    touched = tuple(sorted(set(subjects.tolist())))
    return LevelThresholds(
        thresholds=thr,
        train_f1=train_f1,
        aus=aus,
        subjects=touched,
        folds=tuple(sorted({fold_of(dataset, s) for s in touched})),
        n_rows=int(levels.shape[0]),
    )
