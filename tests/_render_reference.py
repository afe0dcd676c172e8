"""The tile-splatting rasterizer, retired from :mod:`aujax.render` into the tests as a reference.

Triangle-major visibility (each triangle splats the pixel tile of its bounding box, a scatter-max
keeps the nearest) for meshes of small triangles: the same visibility as
:func:`aujax.render.rasterize`, against which ``tests/test_render.py`` holds it, and the rasterizer
of the crop reference ``tests/_crops_reference.py``. It reuses the package's private triangle
setup (tests may import private modules; no package code depends on this file).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from aujax.geometry import check_image_size
from aujax.render import Fragments
from aujax.render._rasterizer import (
    _barycentric,
    _check_mesh,
    _fragments,
    _Setup,
    _setup,
    _tolerance,
)


__all__ = ["rasterize_tiles", "tile_extent"]


def tile_extent(pixels_xyz, triangles) -> tuple[int, int]:
    """Pixel centres a triangle's bounding box can hold along v and u, the most over the triangles.

    A span of length e holds at most ``floor(e) + 1`` pixel centres; a margin of 1e-3 px covers
    the barycentric tolerance. Works on concrete arrays (host side): the result sets the static
    tile of :func:`rasterize_tiles`. ``pixels_xyz`` may carry leading batch axes.

    Returns:
        ``(tile_h, tile_w)``, each >= 1.
    """
    xyz = np.asarray(pixels_xyz)
    corners = xyz[..., np.asarray(triangles), :2]  # (..., f, 3, 2)
    ext = corners.max(axis=-2) - corners.min(axis=-2)
    ext = ext.reshape(-1, 2)
    ext = ext[np.all(np.isfinite(ext), axis=1)]
    if ext.size == 0:
        return 1, 1
    e = ext.max(axis=0)
    return int(np.floor(e[1] + 2e-3)) + 1, int(np.floor(e[0] + 2e-3)) + 1


@functools.partial(jax.jit, static_argnames=("height", "width", "tile", "cull_backfaces"))
def _rasterize_tiles(pixels_xyz, triangles, *, height, width, tile, cull_backfaces):
    """Batched tile splatting: (B, n, 3) projected vertices -> (B, H W) winning triangle ids.

    The batch is explicit (flat gathers and scatters over ``B x pixels``), not vmapped: XLA's CPU
    scatters and gathers with batch dimensions are several times slower.
    """
    dtype = pixels_xyz.dtype
    n_batch = pixels_xyz.shape[0]
    n_tri = triangles.shape[0]
    tol = _tolerance(dtype)
    tile_h, tile_w = tile
    xyz = jax.lax.stop_gradient(pixels_xyz)
    corners = jnp.take(xyz, triangles, axis=1)  # (B, f, 3, 3)
    setup, valid = _setup(corners.reshape(-1, 3, 3), cull_backfaces=cull_backfaces)
    # first pixel column/row whose centre can lie in the bounding box (a margin for the tolerance)
    lo = jnp.where(valid[:, None], jnp.min(corners.reshape(-1, 3, 3)[..., :2], axis=1), 0.0)
    col0 = jnp.ceil(lo[:, 0] - 0.5 - 1e-3).astype(jnp.int32)
    row0 = jnp.ceil(lo[:, 1] - 0.5 - 1e-3).astype(jnp.int32)
    dc = jnp.tile(jnp.arange(tile_w, dtype=jnp.int32), tile_h)  # (k,)
    dr = jnp.repeat(jnp.arange(tile_h, dtype=jnp.int32), tile_w)
    col = col0[:, None] + dc[None]  # (B f, k)
    row = row0[:, None] + dr[None]
    l0, l1, l2, depth = _barycentric(
        _Setup(*(x[:, None] for x in setup)), col.astype(dtype) + 0.5, row.astype(dtype) + 0.5
    )
    inside = (l0 >= -tol) & (l1 >= -tol) & (l2 >= -tol) & valid[:, None]
    inside = inside & (col >= 0) & (col < width) & (row >= 0) & (row < height)
    n_pix = height * width
    base = jnp.repeat(jnp.arange(n_batch, dtype=jnp.int32) * (n_pix + 1), n_tri)[:, None]
    pixel = (base + jnp.where(inside, row * width + col, n_pix)).reshape(-1)  # n_pix: dropped
    depth = jnp.where(inside, depth, -jnp.inf).reshape(-1)
    n_seg = n_batch * (n_pix + 1)
    zbuf = jax.ops.segment_max(depth, pixel, num_segments=n_seg)
    ids = jnp.tile(jnp.arange(n_tri, dtype=jnp.int32), n_batch)[:, None]
    ids = jnp.broadcast_to(ids, inside.shape).reshape(-1)
    near = zbuf[pixel]
    slack = 4.0 * float(jnp.finfo(dtype).eps) * jnp.maximum(jnp.abs(near), 1.0)
    win = inside.reshape(-1) & (depth >= near - slack)
    tri_id = jax.ops.segment_max(jnp.where(win, ids, -1), pixel, num_segments=n_seg)
    tri_id = jnp.maximum(tri_id, -1).reshape(n_batch, n_pix + 1)[:, :n_pix]
    return tri_id  # empty segments gave the dtype's minimum, now -1


@functools.partial(jax.jit, static_argnames=("height", "width"))
def _tile_fragments(pixels_xyz, triangles, tri_id, *, height, width):
    padded = jnp.concatenate([triangles, jnp.zeros((1, 3), triangles.dtype)], axis=0)
    return _fragments(pixels_xyz, padded, tri_id, height=height, width=width)


def rasterize_tiles(
    pixels_xyz: Float[Array, "n 3"],
    triangles: Int[Array, "f 3"],
    *,
    height: int,
    width: int,
    tile: tuple[int, int] | None = None,
    cull_backfaces: bool = True,
) -> Fragments:
    """Rasterizes a mesh of small triangles by splatting each triangle's pixel tile.

    The same visibility as :func:`aujax.render.rasterize` (pixel centre inside with the barycentric tolerance,
    the largest depth wins), computed triangle-major: every triangle tests the ``tile_h x
    tile_w`` pixel centres from the top-left corner of its bounding box, and a scatter-max over
    the pixels keeps the nearest (ties, depths within 4 ulp of the nearest, go to the larger
    triangle index, where :func:`aujax.render.rasterize` keeps the first in its sorted order; at a centre on a
    shared edge the barycentric weights then differ but interpolate the same continuous
    attributes). Work is O(f tile_h tile_w) instead of
    O(pixels x candidates): for meshes whose triangles span a few pixels (the synthetic
    generator's aligned crops) it is several times faster. The tile must cover every triangle's
    bounding box (:func:`tile_extent`); triangles larger than the tile would be cut.

    Args:
        pixels_xyz: (n, 3) projected vertices ``(u, v, z)`` as for :func:`aujax.render.rasterize`.
        triangles: (f, 3) integer vertex indices.
        height: image height in pixels, 8..1024.
        width: image width in pixels, 8..1024.
        tile: ``(tile_h, tile_w)`` static tile (default: :func:`tile_extent` of the inputs,
            which must then be concrete).
        cull_backfaces: as for :func:`aujax.render.rasterize`.

    Returns:
        The :class:`Fragments`.
    """
    pixels_xyz = jnp.asarray(pixels_xyz)
    triangles = jnp.asarray(triangles)
    _check_mesh(pixels_xyz, triangles)
    check_image_size(height, width)
    if tile is None:
        tile = tile_extent(pixels_xyz, triangles)
    tile = tuple(int(t) for t in tile)
    if len(tile) != 2 or min(tile) < 1:
        raise ValueError(f"tile must be two ints >= 1, got {tile!r}")
    tri_id = _rasterize_tiles(
        pixels_xyz[None], triangles, height=height, width=width, tile=tile,
        cull_backfaces=bool(cull_backfaces),
    )[0]  # fmt: skip
    return _tile_fragments(pixels_xyz, triangles, tri_id, height=height, width=width)
