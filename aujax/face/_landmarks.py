"""The iBUG 68-point landmark scheme on the procedural face (REFERENCE §10).

Landmarks live on the mesh as barycentric coordinates (triangle index + 3 weights), so they follow
every deformation. BP4D's 49 points and DISFA's 66 points are subsets of the 68 (DESIGN §2).
"""

from typing import Final

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from . import _geometry_spec as spec


IDX68: Final = tuple(range(68))
IDX66: Final = tuple(i for i in range(68) if i not in (60, 64))  # DISFA 'pts' row r -> IDX66[r]
IDX49: Final = tuple(i for i in range(17, 68) if i not in (60, 64))  # BP4D 'fit/pred' rows
LANDMARK_SCHEMES: Final = {68: IDX68, 66: IDX66, 49: IDX49}  # points -> iBUG-68 indices
# Nose bridge, nose tip and the four eye corners: no AU moves them much (DESIGN §3.1).
RIGID_LANDMARKS: Final = (27, 28, 29, 30, 36, 39, 42, 45)
# the jaw contour 0-16 (ear -> chin -> ear): silhouette points on a turned face
CONTOUR_LANDMARKS: Final = tuple(range(17))

# Landmarks on aperture rims: (+1 upper rim / -1 lower rim, slit height).
LANDMARK_SIDES: Final = {
    **{k: (1, spec.Y_EYE) for k in (37, 38, 43, 44)},
    **{k: (-1, spec.Y_EYE) for k in (40, 41, 46, 47)},
    **{k: (1, spec.Y_MOUTH) for k in (61, 62, 63)},
    **{k: (-1, spec.Y_MOUTH) for k in (65, 66, 67)},
}


def landmark_targets() -> np.ndarray:
    """The 68 landmark positions (x, y) in cm on the neutral face's (opened) parameter plane."""
    p = np.zeros((68, 2))
    a, b = spec.JAW_AXES
    phi = np.pi * np.arange(17) / 16.0
    p[:17, 0] = -a * np.cos(phi)
    p[:17, 1] = spec.JAW_CENTRE_Y - b * np.sin(phi)
    bx = np.array([-5.0, -4.1, -3.2, -2.25, -1.35])
    by = np.array([3.1, 3.55, 3.7, 3.55, 3.3])
    p[17:22] = np.stack([bx, by], 1)  # right brow, outer -> inner
    p[22:27] = np.stack([-bx[::-1], by[::-1]], 1)  # left brow, inner -> outer
    p[27:31] = [[0.0, spec.Y_EYE], [0.0, 0.3], [0.0, -1.2], [0.0, -2.8]]
    p[31:36] = [[-1.3, -3.3], [-0.65, -3.55], [0.0, -3.7], [0.65, -3.55], [1.3, -3.3]]
    third = (spec.EYE_OUTER - spec.EYE_INNER) / 3.0
    xo, xa, xb, xi = spec.EYE_OUTER, spec.EYE_OUTER - third, spec.EYE_INNER + third, spec.EYE_INNER
    up = lambda ax: spec.Y_EYE + float(spec.eye_opening_profile(np.array(ax)))
    dn = lambda ax: spec.Y_EYE - float(spec.eye_opening_profile(np.array(ax)))
    p[36:42] = [
        [-xo, spec.Y_EYE],
        [-xa, up(xa)],
        [-xb, up(xb)],
        [-xi, spec.Y_EYE],
        [-xb, dn(xb)],
        [-xa, dn(xa)],
    ]
    p[42:48] = [
        [xi, spec.Y_EYE],
        [xb, up(xb)],
        [xa, up(xa)],
        [xo, spec.Y_EYE],
        [xa, dn(xa)],
        [xb, dn(xb)],
    ]
    ym = spec.Y_MOUTH
    p[48] = [-2.6, ym]
    p[49:54] = [
        [-1.9, ym + 0.45],
        [-0.75, ym + 0.85],
        [0.0, ym + 0.75],
        [0.75, ym + 0.85],
        [1.9, ym + 0.45],
    ]
    p[54] = [2.6, ym]
    p[55:60] = [
        [1.9, ym - 0.55],
        [0.75, ym - 0.85],
        [0.0, ym - 0.9],
        [-0.75, ym - 0.85],
        [-1.9, ym - 0.55],
    ]
    mo = lambda ax: float(spec.mouth_opening_profile(np.array(ax)))
    p[60] = [-spec.MOUTH_HALF, ym]
    p[61:64] = [[-0.9, ym + mo(0.9)], [0.0, ym + mo(0.0)], [0.9, ym + mo(0.9)]]
    p[64] = [spec.MOUTH_HALF, ym]
    p[65:68] = [[0.9, ym - mo(0.9)], [0.0, ym - mo(0.0)], [-0.9, ym - mo(0.9)]]
    return p


def landmarks_from_vertices(
    vertices: Float[Array, "n 3"],
    triangles: Int[Array, "f 3"],
    landmark_triangles: Int[Array, " k"],
    landmark_barycentric: Float[Array, "k 3"],
) -> Float[Array, "k 3"]:
    """Evaluates barycentric landmarks on (deformed) vertices; vmap for batches."""
    corners = vertices[triangles[landmark_triangles]]  # (k, 3, 3)
    return jnp.einsum("kc,kcd->kd", landmark_barycentric, corners)


def landmark_subset(points: Float[Array, "... 68 d"], scheme: int) -> Float[Array, "... k d"]:
    """Selects the 68-, 66- (DISFA) or 49-point (BP4D) subset of 68-point landmarks."""
    if scheme not in LANDMARK_SCHEMES:
        raise ValueError(f"scheme must be one of {sorted(LANDMARK_SCHEMES)}, got {scheme!r}")
    if points.shape[-2] != 68:
        raise ValueError(f"points must have 68 landmarks on axis -2, got shape {points.shape}")
    return points[..., np.asarray(LANDMARK_SCHEMES[scheme]), :]
