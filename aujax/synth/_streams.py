"""Random streams of the synthetic world: one independent NumPy generator per named purpose.

Every (dataset, subject, task, stream) gets its own
``np.random.default_rng(np.random.SeedSequence(seed, spawn_key=...))`` whose spawn key is derived
from the names (CRC-32), so a sequence does not depend on which other sequences were generated or
in what order.
"""

import zlib

import numpy as np


__all__ = ["stream_rng"]


def stream_rng(seed: int, *names: str) -> np.random.Generator:
    """An independent generator for ``(seed, *names)``, e.g. ``stream_rng(0, "F001", "T1", "traj")``.

    The names are hashed (CRC-32) into the ``SeedSequence`` spawn key, so streams do not depend on
    the order in which they are created.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    key = tuple(zlib.crc32(str(n).encode()) for n in names)
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=key))
