"""grain input pipelines over a per-frame random-access source (e.g. the BP4D TFDS splits).

:func:`frame_loader` batches single frames; :func:`window_loader` batches windows of ``T``
consecutive frames of one sequence (for the physics branch, which integrates over time). Both
return a ``grain.python.DataLoader``: iterating it yields dicts of stacked numpy arrays, the order
is a deterministic function of ``seed`` (and the shard), and the iterator's ``get_state()`` /
``set_state()`` checkpoint and restore the position exactly. Everything runs in the calling
process (``worker_count=0``); the data layer is host-side numpy.

:func:`fold_split` maps ME-GraphAU's fold number to the part splits of the ``bp4d`` and ``disfa``
TFDS builders.

``grain`` imports jax, so it is imported where a loader is built, not with this module: importing
:mod:`aujax.datasets` stays free of jax.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ._folds import BP4D_PARTS, folds
from ._tfds_bp4d import BP4D_SPLITS


if TYPE_CHECKING:
    import grain.python as pygrain

__all__ = [
    "WindowSource",
    "fold_split",
    "frame_loader",
    "window_index",
    "window_loader",
]

_SCAN_CHUNK = 1024


def fold_split(fold: int) -> tuple[tuple[str, str], str]:
    """The TFDS part splits of a BP4D fold (ME-GraphAU numbering, REFERENCE §2).

    Args:
        fold: 1, 2 or 3.

    Returns:
        ``(train_splits, test_split)``, e.g. fold 1 -> ``(("part1", "part2"), "part3")``. Read the
        training set with the split expression ``"+".join(train_splits)``.

    Raises:
        ValueError: ``fold`` not in 1..3.
    """
    if fold not in (1, 2, 3) or isinstance(fold, bool):
        raise ValueError(f"fold: expected 1, 2 or 3, got {fold!r}")
    train, test = folds("bp4d")[fold - 1]
    test_part = BP4D_PARTS.index(test)
    train_splits = tuple(s for p, s in enumerate(BP4D_SPLITS) if p != test_part)
    assert {x for p in train_splits for x in BP4D_PARTS[BP4D_SPLITS.index(p)]} == set(train)
    return train_splits, BP4D_SPLITS[test_part]


def _check_loader_args(batch_size, num_epochs, shard_index, shard_count):
    if not isinstance(batch_size, int | np.integer) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}")
    if num_epochs is not None and (not isinstance(num_epochs, int | np.integer) or num_epochs < 1):
        raise ValueError(f"num_epochs: expected a positive int or None, got {num_epochs!r}")
    if shard_count < 1 or not 0 <= shard_index < shard_count:
        raise ValueError(
            f"shard_index: expected 0 <= shard_index < shard_count = {shard_count}, "
            f"got {shard_index}"
        )


# Records are read in the consuming thread by default: the sources of the experiments are in-memory
# tables (microseconds per record), and grain's default read options (16 prefetch threads, a
# 500-deep buffer whose futures are polled on every element) cost ~2.7x the CPU time per batch of
# 16 windows (21.6 against 8.1 ms, 2-core CPU) and held a core busy beside the training step.
def synchronous_reads() -> pygrain.ReadOptions:
    """grain read options that read every record in the consuming thread (the loaders' default)."""
    import grain.python as pygrain

    return pygrain.ReadOptions(num_threads=0, prefetch_buffer_size=0)


def _loader(source, *, batch_size, seed, shuffle, num_epochs, shard_index, shard_count, drop,
            read_options=None):  # fmt: skip
    import grain.python as pygrain

    _check_loader_args(batch_size, num_epochs, shard_index, shard_count)
    if read_options is not None and not isinstance(read_options, pygrain.ReadOptions):
        raise ValueError(
            f"read_options: expected a grain.python.ReadOptions, got {type(read_options).__name__}"
        )
    if len(source) == 0:
        raise ValueError("data_source: expected at least one record, got an empty source")
    shard = pygrain.ShardOptions(
        shard_index=int(shard_index), shard_count=int(shard_count), drop_remainder=drop
    )
    sampler = pygrain.IndexSampler(
        num_records=len(source),
        shard_options=shard,
        shuffle=shuffle,
        num_epochs=num_epochs,
        seed=int(seed),
    )
    return pygrain.DataLoader(
        data_source=source,
        sampler=sampler,
        operations=[pygrain.Batch(batch_size=int(batch_size), drop_remainder=drop)],
        worker_count=0,
        read_options=synchronous_reads() if read_options is None else read_options,
    )


def frame_loader(
    data_source,
    *,
    batch_size: int,
    seed: int,
    shuffle: bool = True,
    num_epochs: int | None = 1,
    shard_index: int = 0,
    shard_count: int = 1,
    drop_remainder: bool = True,
    read_options: pygrain.ReadOptions | None = None,
) -> pygrain.DataLoader:
    """A grain loader of per-frame batches.

    Args:
        data_source: random-access source of per-frame dicts (``len`` and ``[i]``), e.g.
            :func:`aujax.datasets.bp4d_data_source`.
        batch_size: frames per batch (per shard).
        seed: shuffling seed; the order is identical for equal seeds.
        shuffle: shuffle the records (a fresh permutation each epoch).
        num_epochs: passes over the data, or None to repeat forever.
        shard_index: this host's shard (``jax.process_index()``).
        shard_count: number of shards (``jax.process_count()``).
        drop_remainder: drop the last incomplete batch and make shards equal in size.
        read_options: grain's record-reading threads and buffer; None reads synchronously
            (:func:`synchronous_reads`, best for in-memory sources); give prefetch threads for a
            source that waits on I/O (e.g. ``grain.python.ReadOptions(num_threads=4,
            prefetch_buffer_size=64)`` for array_record files on a network disk).

    Returns:
        A ``grain.python.DataLoader``. Iterating yields dicts of (batch_size, ...) numpy arrays
        (Text features as ``bytes`` arrays); ``it = iter(loader)`` has ``it.get_state()`` and
        ``it.set_state(state)`` to checkpoint and resume.

    Raises:
        ValueError: non-positive ``batch_size`` / ``num_epochs``, a bad shard or an empty source.
    """
    return _loader(
        data_source,
        batch_size=batch_size,
        seed=seed,
        shuffle=shuffle,
        num_epochs=num_epochs,
        shard_index=shard_index,
        shard_count=shard_count,
        drop=drop_remainder,
        read_options=read_options,
    )


def _scan_keys(data_source):
    """(subject, task, frame) of every record, read in chunks."""
    n = len(data_source)
    subjects, tasks, frames = [], [], np.empty(n, np.int64)
    getitems = getattr(data_source, "__getitems__", None)
    for start in range(0, n, _SCAN_CHUNK):
        idx = list(range(start, min(n, start + _SCAN_CHUNK)))
        records = getitems(idx) if getitems is not None else [data_source[i] for i in idx]
        for i, r in zip(idx, records, strict=True):
            try:
                subjects.append(_text(r["subject"]))
                tasks.append(_text(r["task"]))
                frames[i] = int(r["frame"])
            except KeyError as e:
                raise ValueError(
                    f"data_source: expected records with 'subject', 'task' and 'frame', "
                    f"record {i} has no {e}"
                ) from None
    return subjects, tasks, frames


def _text(x):
    return x.decode() if isinstance(x, bytes) else str(x)


def window_index(data_source, *, window: int, stride: int = 1) -> np.ndarray:
    """Record indices of every window of ``window`` consecutive frames of one sequence.

    Records are grouped by (subject, task) and sorted by frame number; a window starts at every
    ``stride``-th position of a run of consecutive frame numbers (``f, f + 1, ..., f + T - 1``)
    long enough to hold it. Windows never cross a gap or a sequence boundary.

    Args:
        data_source: random-access source of dicts with ``subject``, ``task`` and ``frame``.
        window: T, frames per window.
        stride: step between window starts within a run.

    Returns:
        (n_windows, T) int64 record indices, ordered by (subject, task, start frame).

    Raises:
        ValueError: ``window`` or ``stride`` < 1, records without those keys, or duplicate
            (subject, task, frame) records.
    """
    if window < 1:
        raise ValueError(f"window: expected a positive int, got {window!r}")
    if stride < 1:
        raise ValueError(f"stride: expected a positive int, got {stride!r}")
    subjects, tasks, frames = _scan_keys(data_source)
    groups: dict[tuple[str, str], list[int]] = {}
    for i, key in enumerate(zip(subjects, tasks, strict=True)):
        groups.setdefault(key, []).append(i)
    out = []
    for key in sorted(groups):
        idx = np.asarray(groups[key], np.int64)
        idx = idx[np.argsort(frames[idx], kind="stable")]
        f = frames[idx]
        if f.size > 1 and np.any(np.diff(f) == 0):
            raise ValueError(f"data_source: duplicate frames in sequence {key[0]}_{key[1]}")
        # run_start[k]: position where the run of consecutive frames holding k begins.
        breaks = np.concatenate([[True], np.diff(f) != 1])
        run_start = np.maximum.accumulate(np.where(breaks, np.arange(f.size), 0))
        for s in range(0, f.size - window + 1):
            e = s + window - 1
            if run_start[e] <= s and (s - run_start[s]) % stride == 0:
                out.append(idx[s : e + 1])
    if not out:
        return np.zeros((0, window), np.int64)
    return np.stack(out)


class WindowSource:
    """Random-access source of windows: record ``i`` stacks the frames ``index[i]``.

    Attributes:
        data_source: the per-frame source.
        index: (n_windows, T) int64 record indices (see :func:`window_index`).
    """

    def __init__(self, data_source, index: np.ndarray):
        index = np.asarray(index)
        if index.ndim != 2 or not np.issubdtype(index.dtype, np.integer):
            raise ValueError(f"index: expected (n_windows, T) integers, got {index.shape}")
        self.data_source = data_source
        self.index = index.astype(np.int64)

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def __getitem__(self, i) -> dict[str, np.ndarray]:
        rows = [int(j) for j in self.index[int(i)]]
        getitems = getattr(self.data_source, "__getitems__", None)
        records = getitems(rows) if getitems is not None else [self.data_source[j] for j in rows]
        return {k: np.stack([np.asarray(r[k]) for r in records]) for k in records[0]}

    def __repr__(self) -> str:
        return f"WindowSource(n_windows={len(self)}, window={self.index.shape[1]})"


def window_loader(
    data_source,
    *,
    window: int,
    batch_size: int,
    seed: int,
    stride: int = 1,
    shuffle: bool = True,
    num_epochs: int | None = 1,
    shard_index: int = 0,
    shard_count: int = 1,
    drop_remainder: bool = True,
    index: np.ndarray | None = None,
    read_options: pygrain.ReadOptions | None = None,
) -> pygrain.DataLoader:
    """A grain loader of batches of windows of ``window`` consecutive frames of one sequence.

    Args:
        data_source: random-access source of per-frame dicts with ``subject``, ``task``, ``frame``.
        window: T, frames per window.
        batch_size: windows per batch (per shard).
        seed: shuffling seed.
        stride: step between window starts (see :func:`window_index`).
        shuffle, num_epochs, shard_index, shard_count, drop_remainder, read_options: as in
            :func:`frame_loader`.
        index: a precomputed :func:`window_index` (it scans the whole source once, decoding every
            record; pass it to reuse across loaders).

    Returns:
        A ``grain.python.DataLoader`` yielding dicts of (batch_size, T, ...) arrays, with
        checkpointable iterators (``get_state`` / ``set_state``).

    Raises:
        ValueError: bad arguments, or no window of ``window`` consecutive frames exists.
    """
    if index is None:
        index = window_index(data_source, window=window, stride=stride)
    elif np.shape(index)[1:] != (window,):
        raise ValueError(f"index: expected shape (n_windows, {window}), got {np.shape(index)}")
    if len(index) == 0:
        raise ValueError(f"window: no sequence has {window} consecutive frames")
    return _loader(
        WindowSource(data_source, index),
        batch_size=batch_size,
        seed=seed,
        shuffle=shuffle,
        num_epochs=num_epochs,
        shard_index=shard_index,
        shard_count=shard_count,
        drop=drop_remainder,
        read_options=read_options,
    )
