"""Tiny procedural test meshes: a curved height-field grid with triangles and bone weights."""

import numpy as np


def height_field_mesh(
    nx: int = 6,
    ny: int = 7,
    *,
    width: float = 15.0,
    height: float = 20.0,
    depth: float = 4.0,
    jitter: float = 0.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A face-sized curved grid: an ellipsoidal cap over a width x height rectangle.

    Args:
        nx: vertices across (x, toward the subject's left).
        ny: vertices up (y).
        width: extent in x (cm).
        height: extent in y (cm).
        depth: sag of the cap from centre to corners (cm, z toward the camera).
        jitter: in-plane random displacement of interior vertices, in units of the grid spacing.
        seed: NumPy seed for the jitter.

    Returns:
        vertices (nx * ny, 3) float64, triangles (2 (nx - 1)(ny - 1), 3) int32 (counter-clockwise
        seen from +z) and bone_weights (nx * ny,) in [0.05, 1]: high along the top (forehead) and
        the vertical midline (nose), low over the cheeks.
    """
    xs = np.linspace(-width / 2, width / 2, nx)
    ys = np.linspace(-height / 2, height / 2, ny)
    x, y = np.meshgrid(xs, ys)  # (ny, nx)
    if jitter:
        rng = np.random.default_rng(seed)
        dx, dy = width / (nx - 1), height / (ny - 1)
        interior = np.zeros_like(x, bool)
        interior[1:-1, 1:-1] = True
        x = x + interior * jitter * dx * rng.uniform(-0.5, 0.5, x.shape)
        y = y + interior * jitter * dy * rng.uniform(-0.5, 0.5, y.shape)
    rx, ry = x / (width / 2), y / (height / 2)
    z = -0.5 * depth * (rx**2 + ry**2)
    vertices = np.stack([x, y, z], -1).reshape(-1, 3)

    idx = np.arange(nx * ny).reshape(ny, nx)
    v00, v10 = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel()
    v01, v11 = idx[1:, :-1].ravel(), idx[1:, 1:].ravel()
    triangles = np.concatenate([np.stack([v00, v10, v11], 1), np.stack([v00, v11, v01], 1)])

    forehead = np.clip((ry - 0.3) / 0.7, 0.0, 1.0)
    midline = np.exp(-((rx / 0.2) ** 2))
    bone = np.clip(0.05 + 0.95 * np.maximum(forehead, 0.8 * midline), 0.05, 1.0)
    return vertices, triangles.astype(np.int32), bone.reshape(-1)
