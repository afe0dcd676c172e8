"""What human coders make of a true AU trajectory: occurrence and intensity labels with coder
artefacts (DESIGN §6.1).

**Coding.** :func:`code_labels` turns a true trajectory into what human coders produce: occurrence
(intensity >= threshold), boundary jitter (each active run of each AU has its onset and offset
shifted by a few frames, independently per AU, as FACS coders code AUs one at a time), runs of
not-coded frames (value 9) and occlusion flags in runs. Intensity labels are integers 0-5
(rounded), 9 where not coded.

:func:`runs_mask` (an alternating renewal process) also places the landmark dropouts of the
generators' cameras.
"""

import dataclasses

import numpy as np

from ..face import AU_IDS


__all__ = ["Coding", "Labels", "code_labels", "runs_mask"]

_N_AU = len(AU_IDS)


@dataclasses.dataclass(frozen=True)
class Coding:
    """How human coders label a sequence.

    Attributes:
        threshold: occurrence = intensity >= threshold. BP4D coders count an AU from the A
            (trace) level on, i.e. once it would round to 1: threshold 0.5.
        boundary_jitter: max frames by which each active run's onset and offset are shifted
            (uniform integer in [-j, j], independently per AU and boundary).
        not_coded_fraction: expected fraction of (frame, AU) cells coded 9, placed in runs.
        not_coded_run: mean run length (frames) of not-coded cells.
        occlusion_fraction: expected fraction of occluded frames, placed in runs.
        occlusion_run: mean run length (frames) of occlusions.
    """

    threshold: float = 0.5
    boundary_jitter: int = 2
    not_coded_fraction: float = 0.0
    not_coded_run: float = 25.0
    occlusion_fraction: float = 0.0
    occlusion_run: float = 25.0

    def __post_init__(self):
        if not 0 < self.threshold <= 5:
            raise ValueError(f"threshold must be in (0, 5], got {self.threshold!r}")
        if self.boundary_jitter < 0 or int(self.boundary_jitter) != self.boundary_jitter:
            raise ValueError(f"boundary_jitter must be an int >= 0, got {self.boundary_jitter!r}")
        for f in ("not_coded_fraction", "occlusion_fraction"):
            if not 0 <= getattr(self, f) < 1:
                raise ValueError(f"{f} must be in [0, 1), got {getattr(self, f)!r}")
        for f in ("not_coded_run", "occlusion_run"):
            if not getattr(self, f) >= 1:
                raise ValueError(f"{f} must be >= 1 frame, got {getattr(self, f)!r}")


@dataclasses.dataclass(frozen=True)
class Labels:
    """Coded labels of one sequence (columns in the order of ``AU_IDS``).

    Attributes:
        occurrence: (T, 17) int8, 0/1 with 9 = not coded.
        intensity: (T, 17) int8, 0-5 with 9 = not coded.
        occlusion: (T,) int8 occlusion flag (1 = occluded).
    """

    occurrence: np.ndarray
    intensity: np.ndarray
    occlusion: np.ndarray


def runs_mask(n: int, *, fraction: float, mean_run: float, rng: np.random.Generator) -> np.ndarray:
    """A boolean (n,) mask that is True in runs: an alternating renewal process with geometric run
    lengths (mean ``mean_run``) and stationary on-fraction ``fraction``."""
    if fraction <= 0 or n == 0:
        return np.zeros(n, dtype=bool)
    mean_off = mean_run * (1 - fraction) / fraction
    on = rng.random() < fraction  # stationary initial state
    # enough runs to cover n frames with overwhelming probability
    k = int(2 * n / (mean_run + mean_off)) + 16
    lengths = np.empty(2 * k, dtype=np.int64)
    means = (mean_run, mean_off) if on else (mean_off, mean_run)
    lengths[0::2] = rng.geometric(1 / max(means[0], 1.0), size=k)
    lengths[1::2] = rng.geometric(1 / max(means[1], 1.0), size=k)
    while lengths.sum() < n:  # pragma: no cover - practically unreachable
        lengths = np.concatenate([lengths, lengths])
    state = np.zeros(lengths.size, dtype=bool)
    state[0 if on else 1 :: 2] = True
    return np.repeat(state, lengths)[:n]


def _jitter_runs(active: np.ndarray, j: int, rng: np.random.Generator) -> np.ndarray:
    if j == 0 or not active.any():
        return active.copy()
    n = active.size
    d = np.diff(np.concatenate([[0], active.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    # a run cut by the sequence start or end has no boundary there: only inner boundaries move
    starts = np.where(starts > 0, starts + rng.integers(-j, j + 1, size=starts.size), 0)
    ends = np.where(ends < n, ends + rng.integers(-j, j + 1, size=ends.size), n)
    starts, ends = np.clip(starts, 0, n), np.clip(ends, 0, n)
    out = np.zeros(n, dtype=bool)
    for s, e in zip(starts, ends, strict=True):
        out[s:e] = True  # empty if the jitter swallowed a short run
    return out


def code_labels(intensity: np.ndarray, *, coding: Coding, rng: np.random.Generator) -> Labels:
    """Labels a true intensity trajectory the way coders do (module docstring).

    occurrence = ``intensity >= coding.threshold`` with each active run's boundaries jittered;
    intensity label = ``round(intensity)`` clipped to 0-5, forced to >= 1 where the jittered
    occurrence is 1 and to 0 where it is 0; not-coded cells (runs per AU) are 9 in both;
    occlusion flags are runs per frame (labels are kept under occlusion, as in BP4D).

    Args:
        intensity: (T, 17) true intensities in [0, 5].
        coding: coding parameters.
        rng: NumPy generator (consumed).

    Returns:
        :class:`Labels`.
    """
    x = np.asarray(intensity, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != _N_AU:
        raise ValueError(f"intensity must have shape (T, {_N_AU}), got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("intensity contains NaN or inf")
    if x.min(initial=0.0) < 0 or x.max(initial=0.0) > 5:
        raise ValueError("intensity must lie in [0, 5]")
    n = x.shape[0]
    occ = np.zeros(x.shape, dtype=np.int8)
    lvl = np.clip(np.round(x), 0, 5).astype(np.int8)
    for k in range(_N_AU):
        occ[:, k] = _jitter_runs(x[:, k] >= coding.threshold, coding.boundary_jitter, rng)
    lvl = np.where(occ == 1, np.maximum(lvl, 1), 0).astype(np.int8)
    for k in range(_N_AU):
        nc = runs_mask(
            n, fraction=coding.not_coded_fraction, mean_run=coding.not_coded_run, rng=rng
        )
        occ[nc, k] = 9
        lvl[nc, k] = 9
    occl = runs_mask(
        n, fraction=coding.occlusion_fraction, mean_run=coding.occlusion_run, rng=rng
    ).astype(np.int8)
    return Labels(occurrence=occ, intensity=lvl, occlusion=occl)
