"""Person-specific normalisation: each row's subject's percentile of a feature, over that subject.

OpenFace (Baltrušaitis et al., FG 2015) subtracts the person's median HOG descriptor from each
frame's, so what one person's video shares (identity, light, the face/template mismatch of a
model fit) leaves the features. Two methods use it: seed 002's image judge
(``aujax.methods.ausynth.person_median_features``, the median) and the physics method's reading of
the top-down engine's levels (a low percentile of a subject's smoothed levels: its resting face,
issue 17). It reads no labels, only all rows of each subject.
"""

import numpy as np
from jaxtyping import Float
from numpy.typing import ArrayLike


__all__ = ["person_quantile"]


def person_quantile(
    values: Float[ArrayLike, "n F"], subjects: ArrayLike, *, quantile: float = 50.0
) -> Float[np.ndarray, "n F"]:
    """Each row's subject's ``quantile``-th percentile per column, over that subject's rows.

    Non-finite entries are ignored (numpy's ``nanpercentile``, linear interpolation: the median
    at 50 is the mean of the two middle values for an even count).

    Args:
        values: (n, F) real values (features, coefficients).
        subjects: (n,) the subject (person / video) of each row; any values numpy can sort.
        quantile: percentile in [0, 100].

    Returns:
        (n, F) float64, each row holding its subject's percentile (NaN in a column where the
        subject has no finite value).

    Raises:
        ValueError: ``values`` not (n, F) of real numbers, ``subjects`` not (n,), or
            ``quantile`` outside [0, 100].
    """
    x = np.asarray(values)
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f"values must hold real numbers, got dtype {x.dtype}.")
    if x.ndim != 2:
        raise ValueError(f"values must have shape (n, F), got shape {x.shape}.")
    ids = np.asarray(subjects)
    if ids.shape != (x.shape[0],):
        raise ValueError(
            f"subjects must have shape ({x.shape[0]},) (one subject per row), got {ids.shape}."
        )
    if not 0.0 <= quantile <= 100.0:
        raise ValueError(f"quantile must be in [0, 100], got {quantile}.")
    x = np.where(np.isfinite(x), x.astype(np.float64), np.nan)
    out = np.full_like(x, np.nan)
    groups = np.unique(ids, return_inverse=True)[1].reshape(-1)
    for g in range(int(groups.max(initial=-1)) + 1):
        rows = groups == g
        have = np.isfinite(x[rows]).any(axis=0)  # all-NaN columns stay NaN, no warning
        out[np.ix_(rows, have)] = np.nanpercentile(x[rows][:, have], quantile, axis=0)
    return out
