"""Muscle activity of a frame table: the physics inversion of its coefficients, the synthetic
ground truth beside it, and AU detection from the recovered drive without AU-trained weights
(issue 17).

The main job (:mod:`aujax.methods.physics._experiment`: table 1's label-free rows and the force
table) and ``python -m tools.force_report`` share these:

* :func:`sequence_ids` — the (subject, task) sequence of each row, as integers;
* :func:`true_values` — a per-frame ground-truth array (``activations``, ``intensity``, ...) of a
  synthetic copy's rows;
* :func:`invert_table` — :func:`aujax.physics.invert_activations` of every sequence the rows belong
  to (whole sequences, in frame order), memoised per (sequence, lambda);
* :func:`synergy_columns` — the columns of the template's AU synergies that score a table's AUs;
* :func:`label_free_detection` — AU presence from a per-AU score (the inversion's drive, or the
  coefficients themselves) with thresholds, and the inversion's lambda, chosen on training rows.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ...datasets import NOT_CODED, FrameTable
from ...physics import ReducedModel, invert_activations
from ...train import LevelThresholds, choose_thresholds


__all__ = [
    "LabelFreeDetection",
    "invert_table",
    "label_free_detection",
    "sequence_ids",
    "synergy_columns",
    "true_values",
]


def sequence_ids(table: FrameTable, rows) -> np.ndarray:
    """(n,) int the index of each row's (subject, task) sequence among the rows' sequences."""
    rows = np.asarray(rows)
    key = np.char.add(
        np.char.add(table.subject[rows].astype(str), "_"), table.task[rows].astype(str)
    )
    return np.unique(key, return_inverse=True)[1].reshape(-1)


def true_values(root, table: FrameTable, rows, key: str) -> np.ndarray:
    """A per-frame ground-truth array of a synthetic copy's ``rows``.

    Args:
        root: the synthetic BP4D-like copy (its ``synthetic/{subject}_{task}.npz`` files).
        table: the frame table read from it.
        rows: (n,) table rows.
        key: the npz array, e.g. ``"activations"`` (T, m) or ``"intensity"`` (T, 17).

    Returns:
        (n, D) float64 values of the rows' frames.

    Raises:
        FileNotFoundError: naming the missing ground-truth file (not a synthetic copy).
        KeyError: naming the file when it lacks ``key``.
    """
    rows = np.asarray(rows)
    out = None
    cache: dict = {}
    for j, r in enumerate(rows):
        seq = (str(table.subject[r]), str(table.task[r]))
        if seq not in cache:
            path = root / "synthetic" / f"{seq[0]}_{seq[1]}.npz"
            if not path.is_file():
                raise FileNotFoundError(
                    f"{path}: no synthetic ground truth (not a synthetic copy?)"
                )
            with np.load(path) as z:
                if key not in z:
                    raise KeyError(f"{path} has no array {key!r} (it has {sorted(z.files)}).")
                cache[seq] = np.asarray(z[key], np.float64)
        values = cache[seq]
        if out is None:
            out = np.zeros((len(rows), values.shape[1]))
        out[j] = values[int(table.frame[r]) - 1]  # BP4D frame numbers start at 1
    return np.zeros((0, 0)) if out is None else out


def invert_table(
    table: FrameTable,
    rows,
    *,
    reduced: ReducedModel,
    synergies,
    dt: float,
    window: int,
    smoothness: float,
    memo: dict | None = None,
) -> np.ndarray:
    """The physics inversion's drive per AU synergy (n, S) of table ``rows``.

    Every sequence a row belongs to is inverted whole, in frame order
    (:func:`aujax.physics.invert_activations` of its coefficients ``table.c``, frames with
    ``c_mask`` False unweighted), in float64. The drive is in AU-intensity units (the static
    response to ``A^T e_k`` is the AU's blendshape); the activations are ``drive @ synergies``.

    Args:
        table: the frame table with coefficients ``c`` (N, K) and ``c_mask``.
        rows: (n,) rows whose drive is wanted.
        reduced: the template's Galerkin-reduced skin with its ``force_map``.
        synergies: (S, m) the FACS synergies A (``au_muscle_weights``).
        dt: frame interval (s).
        window: frames per inversion window.
        smoothness: the temporal regulariser lambda.
        memo: optional dict reused across calls: ``(subject, task, smoothness, window) -> drive``.

    Returns:
        (n, S) float64 drive of the rows.
    """
    if table.c is None:
        raise ValueError("table has no coefficients c: prepare it with a coefficient source.")
    rows = np.asarray(rows)
    memo = {} if memo is None else memo
    syn = np.asarray(synergies, np.float64)
    if table.c.shape[1] != syn.shape[0]:
        raise ValueError(f"the drive's synergies ({syn.shape[0]}) must be the coefficients' AU "
                         f"basis ({table.c.shape[1]} blendshapes).")  # fmt: skip
    out = np.zeros((len(rows), syn.shape[0]))
    if not len(rows):
        return out
    want = set(zip(table.subject[rows].tolist(), table.task[rows].tolist(), strict=True))
    pos = {int(r): j for j, r in enumerate(rows)}
    with jax.enable_x64(True):
        model = jax.tree.map(lambda x: None if x is None else jnp.asarray(x, jnp.float64), reduced)
        for s, t, seq in table.sequences():
            if (s, t) not in want:
                continue
            key = (str(s), str(t), float(smoothness), int(window))
            if key not in memo:
                if len(seq) < 2:  # one frame: the static limit u = c on the AU basis
                    memo[key] = np.maximum(np.nan_to_num(table.c[seq]), 0.0)
                else:
                    inv = invert_activations(
                        model, jnp.asarray(np.nan_to_num(table.c[seq]), jnp.float64), dt=dt,
                        synergies=jnp.asarray(syn), smoothness=smoothness, window=window,
                        valid=np.asarray(table.c_mask[seq], bool),
                    )  # fmt: skip
                    memo[key] = np.asarray(inv.drive)
            for i, r in enumerate(seq):
                j = pos.get(int(r))
                if j is not None:
                    out[j] = memo[key][i]
    return out


def synergy_columns(table_aus, template_aus) -> list[int]:
    """The template synergy (column of the drive) of each of the table's AUs.

    Raises:
        ValueError: naming the table AUs the template has no synergy for.
    """
    k_of = {int(a): i for i, a in enumerate(template_aus)}
    missing = [int(a) for a in table_aus if int(a) not in k_of]
    if missing:
        raise ValueError(f"the template has no AU synergy for AUs {missing} of the table.")
    return [k_of[int(a)] for a in table_aus]


@dataclasses.dataclass(frozen=True)
class LabelFreeDetection:
    """AU presence from a per-AU score with thresholds (and lambda) chosen on training rows.

    Attributes:
        thresholds: the per-AU thresholds and the training F1 they reached.
        smoothness: the inversion's lambda chosen (None for a score without one).
        train_f1: (lambda -> mean training F1) of every lambda tried.
    """

    thresholds: LevelThresholds
    smoothness: float | None
    train_f1: dict


def label_free_detection(
    score, table: FrameTable, train_rows, *, grid=(None,), aus, dataset: str = "bp4d"
) -> LabelFreeDetection:
    """Chooses the per-AU thresholds (and the score's hyper-parameter) on training rows.

    Args:
        score: ``score(rows, value) -> (n, K)`` the per-AU score of ``rows`` with hyper-parameter
            ``value`` from ``grid`` (the inversion's lambda; ignored by the coefficients).
        table: the frame table (labels and label mask).
        train_rows: (n,) training rows (training subjects only: the thresholds must not see a
            test subject; :class:`aujax.train.LevelThresholds` records the subjects).
        grid: the hyper-parameter values tried; the one with the best mean training F1 wins (ties:
            the first).
        aus: the K AU numbers of the score's columns.
        dataset: for the folds of the subjects recorded.

    Returns:
        :class:`LabelFreeDetection`.
    """
    train_rows = np.asarray(train_rows)
    labels = np.where(table.label_mask[train_rows], table.labels[train_rows], NOT_CODED)
    best, tried = None, {}
    for value in grid:
        th = choose_thresholds(score(train_rows, value), labels, subjects=table.subject[train_rows],
                               aus=aus, dataset=dataset)  # fmt: skip
        tried[value] = float(np.mean(th.train_f1))
        if best is None or tried[value] > tried[best[0]]:
            best = (value, th)
    return LabelFreeDetection(thresholds=best[1], smoothness=best[0], train_f1=tried)
