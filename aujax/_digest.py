"""Content digests of arrays for cache keys, shared by every package of aujax.

A cache key must name everything that determines the cached values: settings *and* the arrays
they were computed from. Two models that agree in every setting but differ in their arrays (a
float32 and a float64 build of the same template, issue 17) must not share a cache file. This
module imports nothing of aujax, so every package may use it.
"""

import hashlib

import jax
import numpy as np


__all__ = ["array_digest"]


def array_digest(*trees, length: int = 12) -> str:
    """A short SHA-1 of the shape, dtype and bytes of every array leaf of ``trees``, in order.

    Args:
        *trees: arrays or pytrees of arrays (``None`` leaves are skipped, as by ``jax.tree``).
        length: hex characters kept.

    Returns:
        ``length`` hex characters; equal for equal arrays of equal dtypes, whatever built them.
    """
    h = hashlib.sha1()
    for leaf in jax.tree.leaves(trees):
        a = np.ascontiguousarray(np.asarray(leaf))
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:length]
