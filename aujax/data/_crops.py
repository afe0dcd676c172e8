"""Aligned face crops of simulated sequences, rendered by :mod:`aujax.render` (DESIGN §6.1).

Real AU pipelines feed networks face crops aligned by a similarity on the landmarks; the
synthetic generator renders them directly: for each frame the deformed mesh is seen under the
head's rotation by an orthographic camera whose scale and centre are fixed per sequence (fitted to
the subject's neutral face), so the face stays centred and at one size while expressions and head
rotation change the pixels. One light per sequence (elevation and ambient level drawn from the
preset's capture statistics), per-vertex skin albedo.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ..render import frame_vertices, render


__all__ = ["render_crops"]


@functools.partial(jax.jit, static_argnames=("color",))
def _render_chunk(vertices, rotations, triangles, albedo, camera, light, ambient, *, color):
    def one(v, r):
        cam = camera.replace(rotation=r)  # fixed scale and centre: aligned crops
        out = render(v, triangles, albedo, camera=cam, light_dir=light, ambient=ambient,
                     diffuse=1.0 - ambient)  # fmt: skip
        img = out.image
        if not color:
            img = jnp.mean(img, axis=-1, keepdims=True)
        return img

    return jax.vmap(one)(vertices, rotations)


def render_crops(
    rest,
    displacements,
    rotations,
    triangles,
    albedo,
    *,
    size: int = 128,
    color: bool = True,
    light_elevation_deg: float = 30.0,
    ambient: float = 0.4,
    chunk: int = 16,
) -> np.ndarray:
    """Renders aligned crops (T, size, size, C) uint8 of a simulated sequence.

    Args:
        rest: (n, 3) the subject's rest vertices (cm, model frame).
        displacements: (T, n, 3) simulated displacements.
        rotations: (T, 3, 3) head rotations in the model frame (applied about the face's origin).
        triangles: (f, 3) faces.
        albedo: (n, 3) RGB albedo in [0, 1].
        size: crop side in pixels (64-256 in the presets).
        color: RGB (C = 3) or grayscale (C = 1).
        light_elevation_deg: elevation of the key light above the camera axis.
        ambient: ambient fraction in [0, 1); the rest is diffuse.
        chunk: frames rendered per jitted call.

    Returns:
        (T, size, size, C) uint8 images.
    """
    rest = np.asarray(rest, dtype=np.float32)
    u = np.asarray(displacements, dtype=np.float32)
    rot = np.asarray(rotations, dtype=np.float32)
    if u.ndim != 3 or u.shape[1:] != rest.shape:
        raise ValueError(f"displacements must have shape (T, {rest.shape[0]}, 3), got {u.shape}.")
    if rot.shape != (u.shape[0], 3, 3):
        raise ValueError(f"rotations must have shape ({u.shape[0]}, 3, 3), got {rot.shape}.")
    if not 8 <= size <= 1024:
        raise ValueError(f"size must be in [8, 1024], got {size}.")
    if not 0.0 <= ambient < 1.0:
        raise ValueError(f"ambient must be in [0, 1), got {ambient}.")
    neutral_cam = frame_vertices(jnp.asarray(rest), height=size, width=size, margin=0.06)
    el = np.radians(light_elevation_deg)
    light = jnp.asarray([0.0, np.sin(el), np.cos(el)], jnp.float32)
    tri = jnp.asarray(np.asarray(triangles))
    alb = jnp.asarray(np.asarray(albedo, dtype=np.float32))
    out = []
    n_frames = u.shape[0]
    for start in range(0, n_frames, chunk):
        stop = min(start + chunk, n_frames)
        pad = chunk - (stop - start)  # one compiled shape for every chunk
        v = np.concatenate([rest[None] + u[start:stop], np.repeat(rest[None], pad, 0)])
        r = np.concatenate([rot[start:stop], np.repeat(np.eye(3, dtype=np.float32)[None], pad, 0)])
        img = _render_chunk(
            jnp.asarray(v), jnp.asarray(r), tri, alb, neutral_cam, light, jnp.float32(ambient),
            color=color,
        )  # fmt: skip
        out.append(np.asarray(img)[: stop - start])
    images = np.concatenate(out) if out else np.zeros((0, size, size, 3 if color else 1))
    return np.clip(np.round(images * 255.0), 0, 255).astype(np.uint8)
