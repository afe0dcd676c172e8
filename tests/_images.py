"""Image comparisons that hold on any CPU.

Two renders of the same frames by differently compiled programs (other chunk sizes, tiles or
budgets) agree up to float32 rounding, which XLA may order differently (fused multiply-adds,
vector widths): a value within a few ulp of a uint8 rounding boundary can then move by one grey
level. "The same image" is therefore asserted as: no value differs by more than one level, and
only a tiny fraction differ at all (measured here: none; ~1e-4 of the lit values lie within 4 ulp
of a boundary).
"""

import numpy as np


def assert_same_image(got, want, *, max_fraction: float = 1e-3) -> None:
    """``got`` and ``want`` (uint8, same shape) differ by at most one grey level, rarely."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    diff = np.abs(got.astype(np.int32) - want.astype(np.int32))
    assert diff.max(initial=0) <= 1, f"images differ by up to {diff.max()} grey levels"
    assert (diff > 0).mean() <= max_fraction, f"{(diff > 0).mean():.2e} of the values differ"
