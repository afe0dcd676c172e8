"""Batched triangle-major rendering of small-triangle meshes: one packed z-buffer pass, uint8 out.

:func:`render_splat` renders B frames of one mesh (same triangles and albedo, per-frame vertices and
camera rotations, one orthographic scale and centre) as :func:`aujax.render.render` would — the
same pixel-centre coverage test, nearest-surface visibility, Lambert plus ambient shading of the
interpolated albedo and renormalised interpolated normal — and converts the images to uint8 on the
device. It is built for meshes whose triangles span a few pixels (the synthetic data's aligned
crops: ~1,200 triangles in 64-128 px):

* triangle-major splatting: every triangle tests the pixel centres of a small static tile
  (``SMALL_TILE``, 3 x 3) anchored at its own bounding box, and the few triangles of a chunk
  whose bounding box holds more pixel centres (a host-side list padded to a power of two) test
  a second tile fitted to them (as :func:`aujax.render.tile_extent`), so the work is about
  ``B x f x 9`` samples plus a few at 64 px (one fitted tile for all was 5 x 6 there);
* one scatter-max z-buffer pass over packed int32 keys ``(quantised depth << id_bits) | triangle``
  instead of a depth pass, a gather and an id pass (scatters dominate on XLA CPU). Depth is
  quantised to ``min(31 - id_bits, 23)`` bits over the chunk's depth range (~1e-6 of it for
  1,200 triangles), so two surfaces closer than that at a pixel centre tie and the higher triangle index
  wins, as :func:`aujax.render.rasterize_tiles` breaks its exact ties;
* vertex normals by a gather over a padded vertex -> triangle table (no scatter-add);
* the barycentric setup and the corner albedo and normals of each triangle packed in one row that
  each pixel gathers once.

The batch is explicit (flat gathers and scatters over ``B x pixels``), not vmapped: XLA CPU's
batched gathers and scatters are several times slower. Frames are rendered ``chunk`` at a time
(the last chunk padded with the first frame, so every chunk has one compiled shape). Meshes whose
triangles grow past ``max_tile`` pixels fall back to :func:`aujax.render.render` (vmapped), which
bins large triangles better.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from ._camera import OrthoCamera, check_image_size
from ._rasterizer import _barycentric, _check_mesh, _Setup, _setup, _tolerance, render


__all__ = ["render_splat", "vertex_triangle_table"]

MAX_TILE = 12  # pixels; past it the banded rasterizer of `render` is cheaper
SMALL_TILE = (3, 3)  # every triangle's tile; the few larger ones (~1 %) get a second, fitted one


def vertex_triangle_table(triangles: Int[Array, "f 3"], n_vertices: int) -> np.ndarray:
    """The triangles of each vertex, padded: (n, d) int32, ``f`` (a zero normal) for padding.

    Args:
        triangles: (f, 3) integer vertex indices (concrete).
        n_vertices: number of vertices n.

    Returns:
        (n, d) table, d the largest valence (at least 1); row i lists the triangles holding vertex
        i in increasing order.
    """
    tri = np.asarray(triangles)
    if tri.ndim != 2 or tri.shape[1] != 3:
        raise ValueError(f"triangles must have shape (f, 3), got {tri.shape}")
    f = tri.shape[0]
    vert = tri.reshape(-1)
    owner = np.repeat(np.arange(f, dtype=np.int64), 3)
    order = np.lexsort((owner, vert))
    vert, owner = vert[order], owner[order]
    counts = np.bincount(vert, minlength=n_vertices)
    depth = max(int(counts.max(initial=0)), 1)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot = np.arange(vert.size) - first[vert]
    table = np.full((n_vertices, depth), f, np.int32)
    table[vert, slot] = owner
    return table


@functools.partial(jax.jit, static_argnames=("tile", "big_tile", "height", "width", "color"))
def _splat_chunk(
    vertices, rotations, triangles, table, albedo, scale, translation, light, ambient, diffuse,
    big, *, tile, big_tile, height, width, color,
):  # fmt: skip
    """(B, n, 3) model-frame vertices and (B, 3, 3) rotations -> (B, H, W, C) uint8 images.

    Every triangle tests ``tile``; the triangles ``big`` (K,) test ``big_tile`` as well (a
    triangle tested twice gives the same key twice: the scatter-max is unchanged)."""
    n_batch = vertices.shape[0]
    n_tri = triangles.shape[0]
    dtype = vertices.dtype
    tol = _tolerance(dtype)
    tile_h, tile_w = tile
    # projection (OrthoCamera with a per-frame rotation): u = s y_x + t_x, v = t_y - s y_y, z = y_z
    cam = jnp.einsum("bij,bnj->bni", rotations, vertices)
    pixels = jnp.stack(
        [scale * cam[..., 0] + translation[0], translation[1] - scale * cam[..., 1], cam[..., 2]],
        axis=-1,
    )
    corners = jnp.take(jax.lax.stop_gradient(pixels), triangles, axis=1).reshape(-1, 3, 3)
    setup, valid = _setup(corners, cull_backfaces=True)

    # --- visibility: one scatter-max of packed (depth, triangle) keys ------------------------------
    lo = jnp.where(valid[:, None], jnp.min(corners[..., :2], axis=1), 0.0)
    col0 = jnp.ceil(lo[:, 0] - 0.5 - 1e-3).astype(jnp.int32)
    row0 = jnp.ceil(lo[:, 1] - 0.5 - 1e-3).astype(jnp.int32)
    id_bits = max(int(n_tri - 1).bit_length(), 1)
    depth_bits = min(31 - id_bits, 23)  # levels exact in float32; keys stay positive int32
    z = pixels[..., 2]
    z_lo, z_hi = jnp.min(z), jnp.max(z)
    levels = float(2**depth_bits - 1)
    quant = levels / jnp.maximum(z_hi - z_lo, jnp.finfo(dtype).tiny)
    n_pix = height * width
    frame = jnp.repeat(jnp.arange(n_batch, dtype=jnp.int32), n_tri)  # (B f,)
    ids = jnp.tile(jnp.arange(n_tri, dtype=jnp.int32), n_batch)

    def samples(rows, tile_hw):
        """Keys and flat pixel targets of the (R,) triangle rows over a tile_hw tile."""
        th, tw = tile_hw
        dc = jnp.tile(jnp.arange(tw, dtype=jnp.int32), th)
        dr = jnp.repeat(jnp.arange(th, dtype=jnp.int32), tw)
        col = col0[rows][:, None] + dc[None]  # (R, k)
        row = row0[rows][:, None] + dr[None]
        l0, l1, l2, depth = _barycentric(
            _Setup(*(x[rows][:, None] for x in setup)),
            col.astype(dtype) + 0.5,
            row.astype(dtype) + 0.5,
        )
        inside = (l0 >= -tol) & (l1 >= -tol) & (l2 >= -tol) & valid[rows][:, None]
        inside = inside & (col >= 0) & (col < width) & (row >= 0) & (row < height)
        q = jnp.clip(jnp.floor((depth - z_lo) * quant), 0.0, levels).astype(jnp.int32)
        key = jnp.where(inside, jnp.left_shift(q, id_bits) | ids[rows][:, None], -1)
        base = frame[rows][:, None] * n_pix
        target = jnp.where(inside, base + row * width + col, n_batch * n_pix)  # out: dropped
        return key.reshape(-1), target.reshape(-1)

    key, target = samples(jnp.arange(n_batch * n_tri, dtype=jnp.int32), (tile_h, tile_w))
    if big.shape[0]:
        rows_big = (jnp.arange(n_batch, dtype=jnp.int32)[:, None] * n_tri + big[None, :]).reshape(
            -1
        )
        key_big, target_big = samples(rows_big, big_tile)
        key = jnp.concatenate([key, key_big])
        target = jnp.concatenate([target, target_big])
    zbuf = jnp.full((n_batch * n_pix,), -1, jnp.int32)
    zbuf = zbuf.at[target].max(key, mode="drop")
    mask = zbuf >= 0
    tri_id = jnp.where(mask, zbuf & ((1 << id_bits) - 1), 0)

    # --- shading (as `shade`): interpolated albedo and normal of the winner ------------------------
    model_corners = jnp.take(vertices, triangles, axis=1)  # (B, f, 3, 3)
    face_normals = jnp.cross(
        model_corners[:, :, 1] - model_corners[:, :, 0],
        model_corners[:, :, 2] - model_corners[:, :, 0],
    )
    face_normals = jnp.concatenate([face_normals, jnp.zeros((n_batch, 1, 3), dtype)], axis=1)
    normals = jnp.sum(jnp.take(face_normals, table, axis=1), axis=2)  # (B, n, 3)
    sq = jnp.sum(normals**2, axis=-1, keepdims=True)
    positive = sq > 0
    normals = normals * jnp.where(positive, jax.lax.rsqrt(jnp.where(positive, sq, 1.0)), 0.0)
    normals = jnp.einsum("bij,bnj->bni", rotations, normals)  # camera frame
    n_ch = albedo.shape[-1]
    attrs = jnp.concatenate(
        [jnp.broadcast_to(albedo[None], (n_batch,) + albedo.shape), normals], -1
    )
    width_attr = 3 * (n_ch + 3)
    corner_attrs = jnp.take(attrs, triangles, axis=1).reshape(-1, width_attr)  # (B f, 3 x attrs)
    rows = jnp.concatenate([jnp.stack(setup, axis=-1), corner_attrs], axis=-1)
    offset = jnp.repeat(jnp.arange(n_batch, dtype=jnp.int32) * n_tri, n_pix)
    rows = jnp.take(rows, tri_id + offset, axis=0)  # (B P, 10 + 3 x attrs)
    r_idx, c_idx = jnp.meshgrid(
        jnp.arange(height, dtype=dtype), jnp.arange(width, dtype=dtype), indexing="ij"
    )
    pu = jnp.tile(c_idx.reshape(-1) + 0.5, n_batch)
    pv = jnp.tile(r_idx.reshape(-1) + 0.5, n_batch)
    b0, b1, b2, _ = _barycentric(_Setup(*(rows[:, i] for i in range(10))), pu, pv)
    bary = jnp.stack([b0, b1, b2], axis=-1)
    values = jnp.sum(bary[:, :, None] * rows[:, 10:].reshape(-1, 3, n_ch + 3), axis=1)
    rho, pixel_normal = values[:, :n_ch], values[:, n_ch:]
    sq = jnp.sum(pixel_normal**2, axis=-1)
    positive = sq > 0
    inv_norm = jnp.where(positive, jax.lax.rsqrt(jnp.where(positive, sq, 1.0)), 0.0)
    cosine = jnp.maximum(jnp.sum(pixel_normal * light[None, :], axis=-1) * inv_norm, 0.0)
    image = jnp.clip(rho * (ambient + diffuse * cosine)[:, None], 0.0, 1.0)
    image = jnp.where(mask[:, None], image, jnp.zeros_like(image))
    image = image.reshape(n_batch, height, width, n_ch)
    if not color and n_ch == 3:
        image = jnp.mean(image, axis=-1, keepdims=True)
    return _to_uint8(image)


def _to_uint8(images):
    return jnp.clip(jnp.round(images * 255.0), 0, 255).astype(jnp.uint8)


@functools.partial(jax.jit, static_argnames=("color",))
def _banded_chunk(
    vertices, rotations, triangles, albedo, camera, light, ambient, diffuse, *, color
):
    """The banded rasterizer of :func:`aujax.render.render`, vmapped (large triangles)."""

    def one(v, r):
        img = render(v, triangles, albedo, camera=camera.replace(rotation=r), light_dir=light,
                     ambient=ambient, diffuse=diffuse).image  # fmt: skip
        if not color and img.shape[-1] == 3:
            img = jnp.mean(img, axis=-1, keepdims=True)
        return img

    return _to_uint8(jax.vmap(one)(vertices, rotations))


def _triangle_extents(vertices, rotations, scale, triangles) -> np.ndarray:
    """(B, f, 2) int: pixel centres each triangle's bounding box can hold along v and u (as
    :func:`aujax.render.tile_extent`, per frame and triangle; host NumPy)."""
    xy = scale * np.einsum("bij,bnj->bni", rotations[:, :2], vertices)
    corners = xy[:, triangles]  # (B, f, 3, 2)
    ext = corners.max(axis=2) - corners.min(axis=2)
    return (np.floor(ext[..., ::-1] + 2e-3) + 1).astype(np.int64)


def render_splat(
    vertices: Float[Array, "B n 3"],
    triangles: Int[Array, "f 3"],
    albedo: Float[Array, " n"] | Float[Array, "n 3"],
    *,
    camera: OrthoCamera,
    rotations: Float[Array, "B 3 3"] | None = None,
    light_dir=(0.0, 0.0, 1.0),
    ambient: float = 0.3,
    diffuse: float = 0.7,
    color: bool = True,
    chunk: int = 32,
    tile: tuple[int, int] | None = None,
    max_tile: int = MAX_TILE,
) -> np.ndarray:
    """Renders B frames of one mesh to uint8 images (the images of :func:`render`, batched).

    Frame b is ``render(vertices[b], triangles, albedo, camera=camera.replace(rotation=
    rotations[b]), light_dir=light_dir, ambient=ambient, diffuse=diffuse).image`` rounded to
    uint8 (``round(255 x)``), background 0, backfaces culled; equal to it up to 1 grey level at
    pixel centres on shared edges and at depth ties closer than the key quantisation (module
    docstring). Computes in float32 (the dtype of the inputs is not kept).

    Args:
        vertices: (B, n, 3) model-frame vertices of each frame (cm).
        triangles: (f, 3) integer vertex indices, counter-clockwise seen from outside.
        albedo: (n,) grayscale or (n, 3) RGB per-vertex albedo in [0, 1].
        camera: the orthographic camera (scale, centre and image size; its rotation is used for
            every frame when ``rotations`` is None).
        rotations: optional (B, 3, 3) model-to-camera rotation of each frame.
        light_dir: (3,) direction toward the light in the camera frame (normalised here).
        ambient: ambient coefficient.
        diffuse: diffuse coefficient.
        color: keep RGB (C = 3); False averages an RGB albedo's channels after shading (C = 1).
            A grayscale albedo always gives C = 1.
        chunk: frames per jitted call (the last one padded to it); 32 suits a 2-core CPU.
        tile: static ``(tile_h, tile_w)`` pixel tile per triangle (default: fitted to the batch,
            as :func:`aujax.render.tile_extent`).
        max_tile: if the fitted tile exceeds this many pixels along either axis, the frames are
            rendered by the banded rasterizer of :func:`render` instead.

    Returns:
        (B, H, W, C) uint8 numpy images, H and W the camera's.
    """
    v = np.asarray(vertices, dtype=np.float32)
    if v.ndim != 3 or v.shape[-1] != 3:
        raise ValueError(f"vertices must have shape (B, n, 3), got {v.shape}")
    tri = np.asarray(triangles)
    _check_mesh(jnp.zeros((max(v.shape[1], 1), 3), jnp.float32), jnp.asarray(tri),
                name="vertices")  # fmt: skip
    if not np.all(np.isfinite(v)):
        raise ValueError("vertices contains NaN or infinite values")
    alb = np.asarray(albedo, dtype=np.float32)
    if not (alb.shape == (v.shape[1],) or alb.shape == (v.shape[1], 3)):
        raise ValueError(
            f"albedo must have shape ({v.shape[1]},) or ({v.shape[1]}, 3), got {alb.shape}"
        )
    alb_banded = alb  # `render` takes (n,) grayscale
    alb = alb[:, None] if alb.ndim == 1 else alb
    check_image_size(camera.height, camera.width)
    n_frames = v.shape[0]
    if rotations is None:
        rot = np.repeat(np.asarray(camera.rotation, np.float32)[None], n_frames, 0)
    else:
        rot = np.asarray(rotations, dtype=np.float32)
        if rot.shape != (n_frames, 3, 3):
            raise ValueError(f"rotations must have shape ({n_frames}, 3, 3), got {rot.shape}")
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be a positive int, got {chunk!r}")
    light = np.asarray(light_dir, dtype=np.float32)
    if light.shape != (3,) or not np.any(light) or not np.all(np.isfinite(light)):
        raise ValueError(f"light_dir must be a finite non-zero (3,) vector, got {light_dir!r}")
    light = light / np.linalg.norm(light)
    n_ch = 3 if (color and alb.shape[1] == 3) else 1
    height, width = camera.height, camera.width
    if n_frames == 0:
        return np.zeros((0, height, width, n_ch), np.uint8)
    scale = jnp.float32(camera.scale)
    translation = jnp.asarray(camera.translation, jnp.float32)
    tri_j = jnp.asarray(tri)
    fitted = tile is None
    if fitted:
        extents = _triangle_extents(v, rot, float(camera.scale), tri)  # (B, f, 2) (v, u)
        tile = tuple(int(t) for t in extents.max(axis=(0, 1)))
    tile = tuple(int(t) for t in tile)
    if len(tile) != 2 or min(tile) < 1:
        raise ValueError(f"tile must be two ints >= 1, got {tile!r}")
    banded = max(tile) > max_tile
    if not banded:
        table = jnp.asarray(vertex_triangle_table(tri, v.shape[1]))
    else:
        cam32 = OrthoCamera(jnp.eye(3, dtype=jnp.float32), scale, translation, height=height,
                            width=width)  # fmt: skip
    out = []
    for start in range(0, n_frames, chunk):
        stop = min(start + chunk, n_frames)
        pad = chunk - (stop - start)
        vc = np.concatenate([v[start:stop], np.repeat(v[:1], pad, 0)])
        rc = np.concatenate([rot[start:stop], np.repeat(rot[:1], pad, 0)])
        if banded:
            img = _banded_chunk(jnp.asarray(vc), jnp.asarray(rc), tri_j, jnp.asarray(alb_banded), cam32,
                                jnp.asarray(light), jnp.float32(ambient), jnp.float32(diffuse),
                                color=n_ch == 3)  # fmt: skip
        else:
            small, big, big_tile = tile, np.zeros((0,), np.int32), tile
            if fitted:  # a small tile for all, the chunk's fitted tile for the few larger ones
                ext = extents[start:stop].max(axis=0)  # (f, 2)
                small = tuple(min(s, t) for s, t in zip(SMALL_TILE, tile, strict=True))
                big = np.nonzero(np.any(ext > np.asarray(small), axis=1))[0].astype(np.int32)
                big_tile = tuple(int(t) for t in ext[big].max(axis=0)) if big.size else small
                if big.size:  # pad to a power of two (repeats test a tile twice: harmless)
                    size = max(8, 1 << int(big.size - 1).bit_length())
                    big = np.concatenate([big, np.repeat(big[:1], size - big.size)])
            img = _splat_chunk(
                jnp.asarray(vc), jnp.asarray(rc), tri_j, table, jnp.asarray(alb), scale,
                translation, jnp.asarray(light), jnp.float32(ambient), jnp.float32(diffuse),
                jnp.asarray(big), tile=small, big_tile=big_tile, height=height, width=width,
                color=n_ch == 3,
            )  # fmt: skip
        out.append(np.asarray(img)[: stop - start])
    return out[0] if len(out) == 1 else np.concatenate(out)
