r"""Seed 003's AU -> landmark groups (Table 1) and AU configural distances (eq. 6) on iBUG-68.

**Table 1 remapped.** The paper lists, per facial part, the AUs it relates to and the landmarks
involved, on a 105-point scheme (MediaPipe / HRNet: brows 0-19, eyes 20-51, nose 52-64, mouth
65-104). We use the iBUG 68-point scheme (REFERENCE §10: jaw 0-16, right brow 17-21, left brow
22-26, nose 27-35, right eye 36-41, left eye 42-47, outer lip 48-59, inner lip 60-67; "right" is
the subject's right). Each row of :data:`TABLE1` keeps the paper's row text in a comment and gives
our remap, keeping the paper's proportions where it splits a part (inner brow: 12 of the 20 brow
points -> the 3 inner of each brow's 5; lower eye: lids' lower half -> corners + lower lids). The
paper's Table 1 covers AUs 1, 2, 4, 5, 6, 7, 9, 10, 12, 15, 18, 20, 23; DISFA also codes AUs 17,
25 and 26, which the table lacks: :data:`EXTRA_ROWS` adds them (our choice, marked as such).

**Configural distances.** Eq. 6 compares 23 configural features of the image landmarks and of
the projected model landmarks; the paper takes them from Perveen & Mohan (ref. [28], defined on 66
points) but does not list them, except the example of AU 4: the distance between the inner brow
corners, points 21 and 22 (the same points in iBUG-68, 0-based). :data:`CONFIGURAL_DISTANCES`
defines our 23: each is the Euclidean distance between two anchors (an anchor is one landmark or
the mean of several), divided by the inter-ocular distance :math:`\lVert p_{36} - p_{45}\rVert`
(outer eye corners, 300-W's normaliser), so every feature is invariant to a 2D similarity
transform (rotation, isotropic scale, translation, and reflection) of the landmarks.
"""

from typing import Final, NamedTuple

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from ...datasets import DISFA_AUS


__all__ = [
    "CONFIGURAL_DISTANCES",
    "EXTRA_ROWS",
    "INTER_OCULAR",
    "TABLE1",
    "ConfiguralDistance",
    "LandmarkGroup",
    "au_group_matrix",
    "au_landmark_groups",
    "configural_distances",
]


class LandmarkGroup(NamedTuple):
    """One row of Table 1: a facial part, the AUs it relates to and its iBUG-68 landmarks.

    Attributes:
      part: the facial part as the paper names it.
      aus: the related AUs (FACS numbers).
      landmarks: the involved iBUG-68 landmarks (0-based), sorted.
    """

    part: str
    aus: tuple[int, ...]
    landmarks: tuple[int, ...]


def _r(*spans) -> tuple[int, ...]:
    """Sorted union of ints and inclusive ``(first, last)`` ranges."""
    out: set[int] = set()
    for s in spans:
        out.update(range(s[0], s[1] + 1) if isinstance(s, tuple) else (s,))
    return tuple(sorted(out))


_BROW = _r((17, 26))
_INNER_BROW = _r((19, 21), (22, 24))
_EYE = _r((36, 47))
_LOWER_EYE = (36, 39, 40, 41, 42, 45, 46, 47)
_MOUTH = _r((48, 67))

TABLE1: Final[tuple[LandmarkGroup, ...]] = (
    # Brow | Brow Lowerer | 0, 1, 2, ..., 19
    LandmarkGroup("brow", (4,), _BROW),
    # Inner brow | Inner Brow Raiser | 1, 3, 5, 6, 8, 9, 11, 13, 15, 16, 18, 19
    LandmarkGroup("inner brow", (1,), _INNER_BROW),
    # Outer brow | Outer Brow Raiser | Elements excluding Inner brow from Brow
    LandmarkGroup("outer brow", (2,), tuple(i for i in _BROW if i not in _INNER_BROW)),
    # Eye | Lid Tightener | 20, 21, ..., 51
    LandmarkGroup("eye", (7,), _EYE),
    # Lower eye | Cheek Raiser | 20, 21, ..., 27, 33, 36, 37, ..., 43, 49
    LandmarkGroup("lower eye", (6,), _LOWER_EYE),
    # Upper eye | Upper Lid Raiser | Elements excluding Lower eye from Eye
    LandmarkGroup("upper eye", (5,), tuple(i for i in _EYE if i not in _LOWER_EYE)),
    # Nose | Nose Wrinkler | 52, 53, ..., 64
    LandmarkGroup("nose", (9,), _r((27, 35))),
    # Mouth | Lip Pucker, Lip Stretch, Lip Tightener | 65, 66, ..., 104
    LandmarkGroup("mouth", (18, 20, 23), _MOUTH),
    # Upper mouth | Upper Lip Raiser | 65, 66, 69, 70, ..., 76, 85, 86, ..., 94, 103, 104
    LandmarkGroup("upper mouth", (10,), _r((48, 54), (60, 64))),
    # Mouth corner | Lip Corner Puller, Lip Corner Depressor | 71, 72, 73, 74, 79, 80, 81, 82,
    #   85, 86, 88, 89, 90, 91, 92, 93, 97, 98, 99, 100, 103, 104
    LandmarkGroup("mouth corner", (12, 15), (48, 49, 53, 54, 55, 59, 60, 61, 63, 64, 65, 67)),
)
"""Table 1 of seed 003 on iBUG-68 (the paper's 105-point row in the comment above each row)."""

EXTRA_ROWS: Final[tuple[LandmarkGroup, ...]] = (
    # not in Table 1 (ours): Chin Raiser pushes the chin boss and the lower lip up
    LandmarkGroup("chin", (17,), _r((6, 10), (55, 59))),
    # not in Table 1 (ours): Lips Part separates the inner lip contours
    LandmarkGroup("inner lips", (25,), _r((60, 67))),
    # not in Table 1 (ours): Jaw Drop lowers the chin, the jaw line and the lower lip
    LandmarkGroup("jaw", (26,), _r((5, 11), (55, 59), (65, 67))),
)
"""Rows for DISFA's AUs 17, 25 and 26, which Table 1 does not cover (our choice)."""


def au_landmark_groups() -> dict[int, tuple[int, ...]]:
    """Every AU of :data:`TABLE1` and :data:`EXTRA_ROWS` -> its iBUG-68 landmark group.

    Returns:
      dict from the FACS AU number to the sorted landmark indices (0-based) of its row.
    """
    return {au: row.landmarks for row in TABLE1 + EXTRA_ROWS for au in row.aus}


def au_group_matrix(aus: tuple[int, ...] = DISFA_AUS) -> np.ndarray:
    """The 0/1 membership matrix :math:`G_{ij}` = [landmark j is in AU i's group] (eq. 5).

    Args:
      aus: the AUs in the order of the detector's probabilities p (default DISFA's twelve:
        1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26).

    Returns:
      (len(aus), 68) float64 NumPy array of zeros and ones.
    """
    groups = au_landmark_groups()
    unknown = [a for a in aus if a not in groups]
    if not aus or unknown:
        raise ValueError(
            f"aus must be a non-empty sequence of AUs among {sorted(groups)}, got {aus!r}"
            + (f" (no landmark group for {unknown})" if unknown else "")
        )
    g = np.zeros((len(aus), 68))
    for i, au in enumerate(aus):
        g[i, list(groups[au])] = 1.0
    return g


class ConfiguralDistance(NamedTuple):
    """One configural feature of eq. 6: ``|mean(p[a]) - mean(p[b])| / |p36 - p45|``.

    Attributes:
      name: what it measures.
      aus: the AUs that change it most.
      a, b: the iBUG-68 landmarks averaged into each anchor.
    """

    name: str
    aus: tuple[int, ...]
    a: tuple[int, ...]
    b: tuple[int, ...]


_D = ConfiguralDistance
CONFIGURAL_DISTANCES: Final[tuple[ConfiguralDistance, ...]] = (
    # the paper's example: brow lowerer pulls the inner brow corners together
    _D("inner brow gap", (4,), (21,), (22,)),
    _D("right inner brow - inner eye corner", (1, 4), (21,), (39,)),
    _D("left inner brow - inner eye corner", (1, 4), (22,), (42,)),
    _D("right outer brow - outer eye corner", (2,), (17,), (36,)),
    _D("left outer brow - outer eye corner", (2,), (26,), (45,)),
    _D("right brow middle - upper lid", (1, 2, 4), (19,), (37, 38)),
    _D("left brow middle - upper lid", (1, 2, 4), (24,), (43, 44)),
    _D("right eye opening", (5, 6, 7), (37, 38), (40, 41)),
    _D("left eye opening", (5, 6, 7), (43, 44), (46, 47)),
    _D("right lower lid - mouth corner", (6, 12), (40, 41), (48,)),
    _D("left lower lid - mouth corner", (6, 12), (46, 47), (54,)),
    _D("right nose wing - inner eye corner", (9, 10), (31,), (39,)),
    _D("left nose wing - inner eye corner", (9, 10), (35,), (42,)),
    _D("subnasale - upper lip", (9, 10), (33,), (51,)),
    _D("mouth width", (12, 18, 20), (48,), (54,)),
    _D("right mouth corner - subnasale", (12, 15), (48,), (33,)),
    _D("left mouth corner - subnasale", (12, 15), (54,), (33,)),
    _D("right mouth corner - chin", (12, 15), (48,), (8,)),
    _D("left mouth corner - chin", (12, 15), (54,), (8,)),
    _D("outer lip height", (17, 25, 26), (51,), (57,)),
    _D("inner lip opening", (25, 26), (61, 62, 63), (65, 66, 67)),
    _D("lower lip - chin", (17, 26), (57,), (8,)),
    _D("jaw drop: subnasale - chin", (26,), (33,), (8,)),
)
"""Our 23 configural distances of eq. 6 (the paper names only the first)."""

INTER_OCULAR: Final = (36, 45)
"""The normaliser: the outer eye corners (300-W's inter-ocular distance)."""


def _anchor_matrix(side: str) -> np.ndarray:
    """(23, 68) averaging weights of anchor ``a`` or ``b`` of every distance."""
    w = np.zeros((len(CONFIGURAL_DISTANCES), 68))
    for i, d in enumerate(CONFIGURAL_DISTANCES):
        idx = getattr(d, side)
        w[i, list(idx)] = 1.0 / len(idx)
    return w


_ANCHOR_A: Final = _anchor_matrix("a")
_ANCHOR_B: Final = _anchor_matrix("b")


def safe_norm(x: Float[Array, "*batch d"]) -> Float[Array, "*batch"]:
    """Euclidean norm over the last axis whose gradient at 0 is 0, not NaN.

    Args:
      x: (..., d) vectors.

    Returns:
      (...,) their norms; exact values, and the derivative of the norm elsewhere.
    """
    sq = jnp.sum(x * x, axis=-1)
    zero = sq == 0
    return jnp.where(zero, 0.0, jnp.sqrt(jnp.where(zero, 1.0, sq)))


def _check_landmarks(x: ArrayLike, name: str) -> Array:
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise ValueError(f"{name} must be floating-point, got dtype {x.dtype}")
    if x.shape != (68, 2):
        raise ValueError(f"{name} must have shape (68, 2) (iBUG-68 image points), got {x.shape}")
    return x


def configural_distances(landmarks: Float[ArrayLike, "68 2"]) -> Float[Array, "23"]:
    r"""The 23 configural features :math:`c_i` of eq. 6 for one face.

    .. math::

       c_i(p) = \frac{\lVert \bar p_{a_i} - \bar p_{b_i} \rVert_2}{\lVert p_{36} - p_{45} \rVert_2},
       \qquad \bar p_{a} = \frac{1}{|a|} \sum_{j \in a} p_j,

    with the anchors :math:`a_i, b_i` of :data:`CONFIGURAL_DISTANCES`. Invariant to any 2D
    similarity transform of ``landmarks``; differentiable everywhere the inter-ocular distance
    is non-zero (a coincident anchor pair, e.g. closed inner lips, has gradient 0).

    Args:
      landmarks: (68, 2) iBUG-68 image points.

    Returns:
      (23,) distances in units of the inter-ocular distance; vmap for batches.
    """
    p = _check_landmarks(landmarks, "landmarks")
    a = jnp.asarray(_ANCHOR_A, p.dtype) @ p
    b = jnp.asarray(_ANCHOR_B, p.dtype) @ p
    iod = safe_norm(p[INTER_OCULAR[0]] - p[INTER_OCULAR[1]])
    return safe_norm(a - b) / iod
