"""Aligned face crops of simulated sequences, the frame images of the synthetic video datasets
(DESIGN §6.1).

:func:`sequence_crops` renders the crops of :func:`tests._crops_reference.render_crops` through the
batched packed-z-buffer renderer :func:`aujax.render._splat.render_splat`; :func:`subject_crops`
renders all of a subject's sequences in one call with a light per frame (one light per sequence), so
the chunks stay full and their compiled shape fixed. The side is :data:`DEFAULT_IMAGE_SIZE` of the
preset size (64 px for ``small``, what the main job consumes; 128 px for tiny and full).
"""

import jax.numpy as jnp
import numpy as np

from ..geometry import frame_vertices
from ..render import render_splat


__all__ = ["DEFAULT_IMAGE_SIZE", "sequence_crops", "subject_crops"]

# Crop side per preset size: `small` at 64 px, the size the main job (experiments.bp4d_physics)
# trains on and ~4x cheaper to render and write than 128; 128 (the presets' capture size) on request.
DEFAULT_IMAGE_SIZE = {"tiny": 128, "small": 64, "full": 128}
_CROP_CHUNK = 32  # most frames per jitted crop-rendering call (faster than 128 on 2 cores)


def sequence_crops(
    rest,
    displacements,
    rotations,
    triangles,
    albedo,
    *,
    size: int,
    color: bool = True,
    light_elevation_deg=30.0,
    ambient=0.4,
    chunk: int = 32,
) -> np.ndarray:
    """Aligned face crops (T, size, size, C) uint8 of a simulated sequence.

    The crops of :func:`tests._crops_reference.render_crops` (orthographic camera fitted to the
    subject's neutral face with a 6 % margin, the head rotation per frame, one key light at
    ``light_elevation_deg`` above the camera axis, ambient ``ambient`` and diffuse
    ``1 - ambient``), rendered by :func:`aujax.render._splat.render_splat` (equal up to 1 grey
    level at a few edge pixels). The light may differ per frame, so several sequences of one
    subject (one light each) render in one call: frame t's image does not depend on the others.

    Args:
        rest: (n, 3) the subject's rest vertices (cm, model frame).
        displacements: (T, n, 3) simulated displacements.
        rotations: (T, 3, 3) head rotations in the model frame.
        triangles: (f, 3) faces.
        albedo: (n, 3) RGB albedo in [0, 1].
        size: crop side in pixels, 8..1024.
        color: RGB (C = 3) or grayscale (C = 1).
        light_elevation_deg: elevation of the key light, a float or (T,) per frame.
        ambient: ambient fraction in [0, 1), a float or (T,) per frame.
        chunk: frames per jitted call.

    Returns:
        (T, size, size, C) uint8 images.
    """
    rest = np.asarray(rest, dtype=np.float32)
    u = np.asarray(displacements, dtype=np.float32)
    if u.ndim != 3 or u.shape[1:] != rest.shape:
        raise ValueError(f"displacements must have shape (T, {rest.shape[0]}, 3), got {u.shape}.")
    if isinstance(size, bool) or not isinstance(size, int) or not 8 <= size <= 1024:
        raise ValueError(f"size must be an int in [8, 1024], got {size!r}.")
    n_frames = u.shape[0]
    amb = np.asarray(ambient, dtype=np.float64)
    el = np.radians(np.asarray(light_elevation_deg, dtype=np.float64))
    for name, x in (("ambient", amb), ("light_elevation_deg", el)):
        if x.shape not in ((), (n_frames,)) or not np.all(np.isfinite(x)):
            raise ValueError(f"{name} must be a finite float or ({n_frames},) array.")
    if not np.all((amb >= 0.0) & (amb < 1.0)):
        raise ValueError(f"ambient must be in [0, 1), got {ambient}.")
    amb, el = np.broadcast_to(amb, (n_frames,)), np.broadcast_to(el, (n_frames,))
    camera = frame_vertices(jnp.asarray(rest), height=size, width=size, margin=0.06)
    light = np.stack([np.zeros_like(el), np.sin(el), np.cos(el)], axis=-1)
    return render_splat(
        rest[None] + u, triangles, albedo, camera=camera, rotations=rotations, light_dir=light,
        ambient=amb, diffuse=1.0 - amb, color=color, chunk=chunk,
    )  # fmt: skip


def subject_crops(
    rest, displacements, rotations, lights, triangles, albedo, *, size: int, color: bool
) -> list[np.ndarray]:
    """The crops of several sequences of one subject in one call, split per sequence.

    Args:
        rest: (n, 3) the subject's rest vertices.
        displacements: per sequence, (T_i, n, 3) simulated displacements.
        rotations: per sequence, (T_i, 3, 3) head rotations.
        lights: per sequence, ``(elevation_deg, ambient)`` of its light.
        triangles: (f, 3) faces.
        albedo: (n, 3) RGB albedo in [0, 1].
        size: crop side in pixels.
        color: RGB or grayscale.

    Returns:
        Per sequence, (T_i, size, size, C) uint8 images.
    """
    lengths = [u.shape[0] for u in displacements]
    crops = sequence_crops(
        rest, np.concatenate(displacements), np.concatenate(rotations), triangles, albedo,
        size=size, color=color, light_elevation_deg=np.repeat([x[0] for x in lights], lengths),
        ambient=np.repeat([x[1] for x in lights], lengths), chunk=_CROP_CHUNK,
    )  # fmt: skip
    return np.split(crops, np.cumsum(lengths)[:-1])
