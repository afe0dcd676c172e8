"""Shuffled minibatches of in-memory arrays with a checkpointable position, for :func:`train_loop`.

The grain loaders of :mod:`aujax.datasets` read one record at a time (~0.5-2 ms each), which
dominates the step of a small model trained on a table of vectors (a GAN on 3DMM parameters,
batch 64); :class:`ArrayLoader` slices whole batches out of arrays held in memory. Epoch ``e``
visits the rows in the permutation drawn from ``numpy.random.default_rng((seed, e))`` and yields
``n // batch_size`` full batches (the remainder of the permutation is dropped, a different one
each epoch). The iterator's ``get_state()`` / ``set_state()`` (a short JSON text of epoch and
position) let :class:`Checkpoints` save and restore the position exactly, so a resumed run draws
the same batches as an uninterrupted one.
"""

import json
from collections.abc import Mapping

import numpy as np


__all__ = ["ArrayLoader"]


class ArrayLoader:
    """An endless iterable of shuffled minibatches ``{name: (batch_size, ...) array}``.

    Args:
        arrays: ``{name: (n, ...) array}``, all with the same leading size ``n``.
        batch_size: rows per batch (``1 <= batch_size <= n``).
        seed: the shuffling seed; equal seeds give equal batches.

    Raises:
        ValueError: no arrays, unequal or too small leading sizes, a bad ``batch_size``.
    """

    def __init__(self, arrays: Mapping[str, np.ndarray], *, batch_size: int, seed: int):
        if not isinstance(arrays, Mapping) or not arrays:
            raise ValueError("arrays: expected a non-empty mapping {name: (n, ...) array}.")
        self.arrays = {k: np.asarray(v) for k, v in arrays.items()}
        sizes = {k: (v.shape[0] if v.ndim else None) for k, v in self.arrays.items()}
        if None in sizes.values() or len(set(sizes.values())) != 1:
            raise ValueError(f"arrays: expected equal leading sizes, got {sizes}.")
        self.n = next(iter(sizes.values()))
        if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
            raise ValueError(f"batch_size: expected an int, got {batch_size!r}.")
        if not 1 <= batch_size <= self.n:
            raise ValueError(f"batch_size: expected 1 <= batch_size <= n = {self.n}, "
                             f"got {batch_size}.")  # fmt: skip
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ValueError(f"seed: expected an int >= 0, got {seed!r}.")
        self.batch_size, self.seed = int(batch_size), int(seed)
        self.batches_per_epoch = self.n // self.batch_size

    def __iter__(self) -> "_ArrayIterator":
        return _ArrayIterator(self)

    def __repr__(self) -> str:
        return f"ArrayLoader(n={self.n}, batch_size={self.batch_size}, seed={self.seed})"


class _ArrayIterator:
    def __init__(self, loader: ArrayLoader):
        self.loader = loader
        self.epoch, self.position = 0, 0
        self._perm = None

    def _permutation(self) -> np.ndarray:
        if self._perm is None:
            rng = np.random.default_rng((self.loader.seed, self.epoch))
            self._perm = rng.permutation(self.loader.n)
        return self._perm

    def __iter__(self):
        return self

    def __next__(self) -> dict:
        b = self.loader.batch_size
        if self.position >= self.loader.batches_per_epoch:
            self.epoch, self.position, self._perm = self.epoch + 1, 0, None
        rows = self._permutation()[self.position * b : (self.position + 1) * b]
        self.position += 1
        return {k: v[rows] for k, v in self.loader.arrays.items()}

    def get_state(self) -> str:
        """The position as JSON text (with the loader's description, checked on restore)."""
        return json.dumps({"loader": repr(self.loader), "epoch": self.epoch,
                           "position": self.position})  # fmt: skip

    def set_state(self, state: str | bytes) -> None:
        """Restores a position from :meth:`get_state`.

        Raises:
            ValueError: the state is malformed or was saved by a different loader.
        """
        try:
            s = json.loads(state)
            loader, epoch, position = s["loader"], int(s["epoch"]), int(s["position"])
        except (TypeError, ValueError, KeyError) as e:
            raise ValueError(f"state: not an ArrayLoader iterator state ({e}).") from e
        if loader != repr(self.loader):
            raise ValueError(f"state: saved by {loader}, cannot restore into {self.loader!r}.")
        self.epoch, self.position, self._perm = epoch, position, None
