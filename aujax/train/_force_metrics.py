r"""Scores of estimated muscle activity against the truth, on what the physics can identify (issue 17).

Muscle activations a (n frames, m muscles) enter the reduced skin only through ``Q = g a``
(``g`` (K, m), K generalized coordinates): the left and right muscles of a pair have (nearly) the
same column of g on a symmetric AU basis, so how a force is split between the sides is not
identifiable from the face's motion, and any component of a in the null space of g is invisible.
A per-muscle correlation (the main job's former force line) scores those invisible parts and
drops constant estimates. These scores instead use:

* **per AU synergy**: the activations' coordinates on the FACS synergies A (S, m), one row per AU,
  measured where the physics sees them: ``s = argmin_s ||g (A^T s - a)||``, i.e.
  ``s = (g A^T)^+ g a`` (for the trivial estimate ``a = A^T c`` this is c itself); Pearson r per
  synergy. (A plain projection ``argmin ||A^T s - a||`` would weigh each muscle by its
  activation scale; the jaw's, ~100x the others', would then decide every synergy it enters.)
* **per pair**: left + right of each bilateral muscle (a midline muscle alone), r per pair;
* **null-space-invariant error**: ``||g (a_hat - a)||_F / ||g a||_F`` over all frames: the error
  of the generalized force the estimate implies, blind to what g cannot see;
* r **pooled** over all frames and the mean of r **per sequence**;
* a **constant estimate counts as r = 0** (not dropped); a truth that does not move (standard
  deviation below ``min_truth_sd``, e.g. an AU the data never shows, whose synergy coordinate is
  only the projection of other muscles' noise) leaves r undefined (NaN, left out of means).

Vector forces (seed 001's 3-vector per muscle) are first reduced to signed scalars by projecting
each on its muscle's pull direction (:func:`signed_projection`), not by their norm, which discards
the sign.
"""

import dataclasses
import re

import numpy as np


__all__ = [
    "ForceScores",
    "bilateral_pairs",
    "force_scores",
    "pearson",
    "signed_projection",
    "synergy_coordinates",
]


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson r of two (n,) series; 0 for a constant ``x`` (an estimate that does not move), NaN
    for a constant ``y`` (a truth that does not move: nothing to score)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"pearson: two (n,) arrays expected, got {x.shape} and {y.shape}.")
    sy = np.std(y)
    if x.size < 2 or sy <= 1e-12 * max(1.0, np.max(np.abs(y))):
        return float("nan")
    sx = np.std(x)
    if sx <= 1e-12 * max(1.0, np.max(np.abs(x))):
        return 0.0
    return float(np.mean((x - x.mean()) * (y - y.mean())) / (sx * sy))


def bilateral_pairs(names) -> list[tuple[int, ...]]:
    """Groups muscle names ``*_l`` / ``*_r`` into (left, right) index pairs; others stay single."""
    names = list(names)
    groups: dict[str, list[int]] = {}
    for i, n in enumerate(names):
        groups.setdefault(re.sub(r"_(l|r)$", "", n), []).append(i)
    return [tuple(v) for v in groups.values()]


def signed_projection(forces: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """(n, m, 3) force vectors -> (n, m) signed magnitudes along each muscle's (m, 3) pull
    direction (normalised here)."""
    d = np.asarray(directions, np.float64)
    d = d / np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-12)
    return np.einsum("nmd,md->nm", np.asarray(forces, np.float64), d)


@dataclasses.dataclass(frozen=True)
class ForceScores:
    """The scores of one estimate (module docstring).

    Attributes:
        synergy_r: (S,) pooled r per AU synergy (NaN: the truth is constant).
        synergy_r_sequence: (S,) mean over sequences of the per-sequence r.
        pair_r: (P,) pooled r per bilateral pair sum (midline muscles alone).
        null_error: ``||g (a_hat - a)|| / ||g a||`` over all frames.
        mean_synergy_r: mean of ``synergy_r`` over the defined synergies.
        mean_pair_r: mean of ``pair_r`` over the defined pairs.
    """

    synergy_r: np.ndarray
    synergy_r_sequence: np.ndarray
    pair_r: np.ndarray
    null_error: float

    @property
    def mean_synergy_r(self) -> float:
        return float(np.nanmean(self.synergy_r)) if np.isfinite(self.synergy_r).any() else np.nan

    @property
    def mean_pair_r(self) -> float:
        return float(np.nanmean(self.pair_r)) if np.isfinite(self.pair_r).any() else np.nan


def synergy_coordinates(activations, *, force_map, synergies) -> np.ndarray:
    """The coordinates of activations on the AU synergies, measured through g (module docstring).

    ``s = (g A^T)^+ g a``: the synergy drive whose generalized force best matches that of ``a``;
    what the physics identifies of an activation (the part of ``a`` in g's null space is dropped).

    Args:
        activations: (n, m) directed activations (signed projections for vector forces).
        force_map: (K, m) g.
        synergies: (S, m) the FACS synergies A.

    Returns:
        (n, S) synergy coordinates, in AU-intensity units.
    """
    g = np.asarray(force_map, np.float64)
    a = np.asarray(synergies, np.float64)
    act = np.asarray(activations, np.float64)
    if act.ndim != 2 or act.shape[1] != g.shape[1] or a.shape[1] != g.shape[1]:
        raise ValueError(f"activations {act.shape}, force_map {g.shape} and synergies {a.shape} "
                         "must share the muscle axis m.")  # fmt: skip
    return act @ (np.linalg.pinv(g @ a.T) @ g).T


def force_scores(
    estimate: np.ndarray,
    truth: np.ndarray,
    *,
    force_map: np.ndarray,
    synergies: np.ndarray,
    pairs: list[tuple[int, ...]],
    sequences: np.ndarray | None = None,
    min_truth_sd: float = 0.05,
) -> ForceScores:
    """Scores an (n, m) activation estimate against the (n, m) truth (module docstring).

    Args:
        estimate: (n, m) estimated directed activations (signed projections for vector forces).
        truth: (n, m) the true activations.
        force_map: (K, m) g.
        synergies: (S, m) the FACS synergies A (rows per AU).
        pairs: muscle index groups summed per pair (:func:`bilateral_pairs`).
        sequences: optional (n,) sequence ids for the per-sequence r (default: one sequence).
        min_truth_sd: a synergy or pair whose true series has a smaller standard deviation is
            not scored (NaN); synergy units are AU intensities (0.05: a twentieth of a level).

    Returns:
        :class:`ForceScores`.
    """
    est = np.asarray(estimate, np.float64)
    tru = np.asarray(truth, np.float64)
    if est.shape != tru.shape or est.ndim != 2:
        raise ValueError(f"estimate and truth must both be (n, m); got {est.shape}, {tru.shape}.")
    g = np.asarray(force_map, np.float64)
    a = np.asarray(synergies, np.float64)
    if g.shape[1] != est.shape[1] or a.shape[1] != est.shape[1]:
        raise ValueError(
            f"force_map {g.shape} and synergies {a.shape} must have {est.shape[1]} muscle columns."
        )
    s_est = synergy_coordinates(est, force_map=g, synergies=a)
    s_true = synergy_coordinates(tru, force_map=g, synergies=a)
    seq = np.zeros(len(est), int) if sequences is None else np.asarray(sequences)

    def r(x, y):
        return pearson(x, y) if np.std(y) >= min_truth_sd else float("nan")

    syn_r = np.array([r(s_est[:, k], s_true[:, k]) for k in range(a.shape[0])])
    per_seq = []
    for sid in np.unique(seq):
        sel = seq == sid
        per_seq.append([r(s_est[sel, k], s_true[sel, k]) for k in range(a.shape[0])])
    per_seq = np.asarray(per_seq)
    defined = np.isfinite(per_seq)
    with np.errstate(invalid="ignore"):
        syn_seq = np.where(
            defined.any(0), np.nansum(per_seq, 0) / np.maximum(defined.sum(0), 1), np.nan
        )
    pair_r = np.array([r(est[:, list(p)].sum(1), tru[:, list(p)].sum(1)) for p in pairs])
    num = np.linalg.norm((est - tru) @ g.T)
    den = np.linalg.norm(tru @ g.T)
    return ForceScores(
        synergy_r=syn_r,
        synergy_r_sequence=syn_seq,
        pair_r=pair_r,
        null_error=float(num / den) if den > 0 else float("nan"),
    )
