"""Apex frames of AU episodes (seed 000 §3: the paper evaluates on 732 apex frames of BP4D).

An *episode* of AU k is a maximal run of consecutive frames of one sequence labelled 1 for k.
Its *apex* is the frame of peak intensity within the run (the first one on ties); without
intensities (a real copy: BP4D codes intensity for 5 AUs only) it is the run's middle frame.
The apex protocol scores every method on the union of the apex frames of all AUs' episodes of
the test subjects (all AU columns of those frames).

The synthetic generator stores the ground-truth intensities of every frame (0-5, the 17 AUs of
:data:`aujax.face.AU_IDS`) beside the layout, in ``synthetic/{subject}_{task}.npz`` (BP4D-like,
frames numbered from 1) or ``synthetic/{subject}.npz`` (DISFA-like, frames from 0);
:func:`synthetic_intensities` reads them for a table's rows.
"""

import pathlib

import numpy as np

from ...datasets import NOT_CODED
from ...face import AU_IDS


__all__ = ["apex_rows", "synthetic_intensities"]


def synthetic_intensities(root, table, *, dataset: str = "bp4d") -> np.ndarray | None:
    """The generator's (N, R) intensities of every row of ``table`` (its label AUs).

    Args:
        root: the synthetic copy (holding ``synthetic/``).
        table: a :class:`~aujax.datasets.FrameTable` read from ``root``.
        dataset: ``"bp4d"`` or ``"disfa"`` (file naming and first frame number).

    Returns:
        (N, R) float64, or None when ``root`` is not a synthetic copy.
    """
    if dataset not in ("bp4d", "disfa"):
        raise ValueError(f"dataset must be 'bp4d' or 'disfa', got {dataset!r}.")
    gt = pathlib.Path(root) / "synthetic"
    if not gt.is_dir():
        return None
    cols = [AU_IDS.index(a) for a in table.aus]
    first = 1 if dataset == "bp4d" else 0
    out = np.zeros((len(table), len(cols)))
    for subject, task, rows in table.sequences():
        name = f"{subject}_{task}.npz" if dataset == "bp4d" else f"{subject}.npz"
        path = gt / name
        if not path.exists():
            raise ValueError(f"root: {path} missing (is {root} a complete synthetic copy?).")
        with np.load(path) as z:
            inten = np.asarray(z["intensity"])
        idx = table.frame[rows] - first
        if idx.min() < 0 or idx.max() >= inten.shape[0]:
            raise ValueError(f"{path}: frames {idx.min()}..{idx.max()} outside its intensities.")
        out[rows] = inten[idx][:, cols]
    return out


def apex_rows(table, rows, *, intensity=None) -> tuple[np.ndarray, int]:
    """Apex frames of every AU episode in ``rows``' sequences.

    Args:
        table: the :class:`~aujax.datasets.FrameTable`.
        rows: table rows to consider (e.g. the test subjects'); episodes are found within them,
            per sequence, in frame order (a gap in the frame numbers ends an episode).
        intensity: optional (N, R) intensities of every table row (:func:`synthetic_intensities`);
            None picks each episode's middle frame.

    Returns:
        ``(apex, n_episodes)``: the sorted unique table rows that are the apex of at least one
        episode, and the number of episodes.
    """
    rows = np.asarray(rows, np.int64)
    if intensity is not None:
        intensity = np.asarray(intensity, np.float64)
        if intensity.shape != table.labels.shape:
            raise ValueError(
                f"intensity must have shape {table.labels.shape} (rows, AUs), got {intensity.shape}."
            )
    keep = np.zeros(len(table), bool)
    keep[rows] = True
    labels = np.where(table.label_mask, table.labels, NOT_CODED)
    apex, n_episodes = [], 0
    for _, _, seq in table.sequences():
        seq = seq[keep[seq]]
        if seq.size == 0:
            continue
        frames = table.frame[seq]
        gap = np.r_[True, np.diff(frames) != 1]
        for k in range(labels.shape[1]):
            on = labels[seq, k] == 1
            start = on & (gap | ~np.r_[False, on[:-1]])
            ids = np.cumsum(start)
            for e in np.unique(ids[on]):
                run = seq[on & (ids == e)]
                n_episodes += 1
                if intensity is None:
                    apex.append(run[run.size // 2])
                else:
                    apex.append(run[int(np.argmax(intensity[run, k]))])
    return np.unique(np.asarray(apex, np.int64)), n_episodes
