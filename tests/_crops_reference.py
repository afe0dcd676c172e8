"""The generator's previous crop renderer, kept in the tests as a reference (DESIGN §6.1).

Real AU pipelines feed networks face crops aligned by a similarity on the landmarks; the
synthetic generator renders them directly: for each frame the deformed mesh is seen under the
head's rotation by an orthographic camera whose scale and centre are fixed per sequence (fitted to
the subject's neutral face), so the face stays centred and at one size while expressions and head
rotation change the pixels. One light per sequence (elevation and ambient level drawn from the
preset's capture statistics), per-vertex skin albedo.

The crops' triangles span a few pixels, so they are rasterized triangle-major
(:func:`tests._render_reference.rasterize_tiles`: each triangle splats the pixel tile of its
bounding box, the tile fitted to the sequence), which gives the z-buffer of :func:`aujax.render.render`
at a fraction of its cost; sequences whose triangles grow past ``_MAX_TILE`` pixels fall back to
:func:`aujax.render.render`.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from aujax.geometry import frame_vertices, project
from aujax.render import render, vertex_normals
from aujax.render._rasterizer import _barycentric, _Setup, _setup
from tests._render_reference import _rasterize_tiles


__all__ = ["render_crops"]

_MAX_TILE = 12  # pixels; beyond it the banded rasterizer of `render` is cheaper


@functools.partial(jax.jit, static_argnames=("color",))
def _render_chunk(vertices, rotations, triangles, albedo, camera, light, ambient, *, color):
    """The banded rasterizer of :func:`aujax.render.render`, vmapped (large triangles)."""

    def one(v, r):
        cam = camera.replace(rotation=r)  # fixed scale and centre: aligned crops
        img = render(v, triangles, albedo, camera=cam, light_dir=light, ambient=ambient,
                     diffuse=1.0 - ambient).image  # fmt: skip
        if not color:
            img = jnp.mean(img, axis=-1, keepdims=True)
        return img

    return _to_uint8(jax.vmap(one)(vertices, rotations))


def _to_uint8(images):
    return jnp.clip(jnp.round(images * 255.0), 0, 255).astype(jnp.uint8)


@jax.jit
def _project_all(vertices, rotations, camera, triangles):
    """(B, n, 3) projected vertices and the (2,) largest triangle extent along v and u (px)."""
    pixels = jax.vmap(lambda v, r: project(camera.replace(rotation=r), v))(vertices, rotations)
    corners = jnp.take(pixels[..., :2], triangles, axis=1)  # (B, f, 3, 2)
    extent = jnp.max(jnp.max(corners, axis=2) - jnp.min(corners, axis=2), axis=(0, 1))
    return pixels, extent[::-1]


@functools.partial(jax.jit, static_argnames=("color", "tile", "height", "width"))
def _render_tiles(vertices, pixels, rotations, triangles, albedo, light, ambient, *, color, tile,
                  height, width):  # fmt: skip
    """Tile-splatting rasterizer plus the Lambert shading of :func:`aujax.render.shade`, with the
    batch explicit (flat gathers): (B, n, 3) model-frame vertices and their (B, n, 3) projections
    -> (B, H, W, C) images."""
    n_batch, n = vertices.shape[:2]
    dtype = vertices.dtype
    tri_id = _rasterize_tiles(pixels, triangles, height=height, width=width, tile=tile,
                              cull_backfaces=True)  # fmt: skip
    normals = jax.vmap(vertex_normals, in_axes=(0, None))(vertices, triangles)
    normals = jnp.einsum("bij,bnj->bni", rotations, normals)  # camera frame
    # per triangle (computed once, gathered per pixel as one contiguous row): the barycentric
    # setup of `rasterize`'s winner pass and the corner albedo and normals of `interpolate`
    mask = tri_id >= 0  # (B, P)
    corners = jnp.take(pixels, triangles, axis=1).reshape(-1, 3, 3)  # (B f, 3, 3)
    setup, _ = _setup(corners, cull_backfaces=False)
    attrs = jnp.concatenate([jnp.broadcast_to(albedo[None], normals.shape), normals], axis=-1)
    corner_attrs = jnp.take(attrs, triangles, axis=1).reshape(-1, 18)  # (B f, 3 corners x 6)
    table = jnp.concatenate([jnp.stack(setup, axis=-1), corner_attrs], axis=-1)  # (B f, 28)
    n_tri = triangles.shape[0]
    offset = (jnp.arange(n_batch, dtype=tri_id.dtype) * n_tri)[:, None]
    rows_ = jnp.take(table, (jnp.maximum(tri_id, 0) + offset).reshape(-1), axis=0)  # (B P, 28)
    rows, cols = jnp.meshgrid(
        jnp.arange(height, dtype=dtype), jnp.arange(width, dtype=dtype), indexing="ij"
    )
    pu = jnp.tile(cols.reshape(-1) + 0.5, n_batch)
    pv = jnp.tile(rows.reshape(-1) + 0.5, n_batch)
    l0, l1, l2, _ = _barycentric(_Setup(*(rows_[:, i] for i in range(10))), pu, pv)
    bary = jnp.stack([l0, l1, l2], axis=-1)  # (B P, 3)
    bary = jnp.where(mask.reshape(-1)[:, None], bary, jnp.zeros_like(bary))
    # interpolate albedo and normal together (as `interpolate`), then shade (as `shade`)
    values = jnp.sum(bary[:, :, None] * rows_[:, 10:].reshape(-1, 3, 6), axis=1)
    rho, pixel_normal = values[:, :3], values[:, 3:]
    sq = jnp.sum(pixel_normal**2, axis=-1)
    positive = sq > 0
    inv_norm = jnp.where(positive, jax.lax.rsqrt(jnp.where(positive, sq, 1.0)), 0.0)
    light = light / jnp.linalg.norm(light)
    cosine = jnp.maximum(jnp.sum(pixel_normal * light[None, :], axis=-1) * inv_norm, 0.0)
    intensity = ambient + (1.0 - ambient) * cosine
    image = jnp.clip(rho * intensity[:, None], 0.0, 1.0)
    image = jnp.where(mask.reshape(-1)[:, None], image, jnp.zeros_like(image))
    image = image.reshape(n_batch, height, width, 3)
    if not color:
        image = jnp.mean(image, axis=-1, keepdims=True)
    return _to_uint8(image)


def _padded(x, start, stop, pad, fill):
    return np.concatenate([x[start:stop], np.repeat(fill[None], pad, 0)])


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
    chunk: int = 32,
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
        chunk: frames rendered per jitted call (the last call is padded to it); 32 was faster
            than 128 on a 2-core CPU (1.3-1.4x at 64 px, cache).

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
    verts = rest[None] + u
    pixels, tile = None, None
    if n_frames:
        pixels, extent = _project_all(jnp.asarray(verts), jnp.asarray(rot), neutral_cam, tri)
        pixels, extent = np.asarray(pixels), np.asarray(extent)
        # pixel centres a bounding box can hold (+ a margin for the barycentric tolerance), as
        # `tile_extent`; NaN/inf extents fall back to the banded rasterizer
        tile = None
        if np.all(np.isfinite(extent)) and extent.max() + 1.0 <= _MAX_TILE:
            tile = tuple(int(np.floor(e + 2e-3)) + 1 for e in extent)
    for start in range(0, n_frames, chunk):
        stop = min(start + chunk, n_frames)
        pad = chunk - (stop - start)  # one compiled shape for every chunk

        v = _padded(verts, start, stop, pad, rest)
        r = _padded(rot, start, stop, pad, np.eye(3, dtype=np.float32))
        if tile is None:
            img = _render_chunk(
                jnp.asarray(v), jnp.asarray(r), tri, alb, neutral_cam, light,
                jnp.float32(ambient), color=color,
            )  # fmt: skip
        else:
            img = _render_tiles(
                jnp.asarray(v), jnp.asarray(_padded(pixels, start, stop, pad, pixels[0])),
                jnp.asarray(r), tri, alb, light, jnp.float32(ambient), color=color, tile=tile,
                height=size, width=size,
            )  # fmt: skip
        out.append(np.asarray(img)[: stop - start])
    if not out:
        return np.zeros((0, size, size, 3 if color else 1), np.uint8)
    return out[0] if len(out) == 1 else np.concatenate(out)
