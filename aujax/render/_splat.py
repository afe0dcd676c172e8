"""Batched triangle-major rendering of small-triangle meshes: one packed z-buffer pass, uint8 out.

:func:`render_splat` renders B frames of one mesh (same triangles and albedo, per-frame vertices and
camera rotations, one orthographic scale and centre) as :func:`aujax.render.render` would — the
same pixel-centre coverage test, nearest-surface visibility, Lambert plus ambient shading of the
interpolated albedo and renormalised interpolated normal — and converts the images to uint8 on the
device. It is built for meshes whose triangles span a few pixels (the synthetic data's aligned
crops: ~1,200 triangles in 64-128 px):

* triangle-major splatting: every triangle tests the pixel centres of a small static tile
  (``SMALL_TILE``, 3 x 3) anchored at its own bounding box, and the few triangles (~1-5 % at
  64 px) whose bounding box holds more pixel centres test shifted copies of that tile over the
  rest of their box (a host-side list of ``(frame x triangle, row shift, column shift)`` rows,
  padded to a power of two), so the work is about ``B x f x 9`` samples plus a few, and the
  compiled shapes do not depend on the frames (one fitted tile for all was 5 x 6 at 64 px; a
  second tile fitted per chunk recompiled for most chunks);
* one scatter-max z-buffer pass over packed int32 keys ``(quantised depth << id_bits) | triangle``
  instead of a depth pass, a gather and an id pass (scatters dominate on XLA CPU). Depth is
  quantised to ``min(31 - id_bits, 23)`` bits over each frame's depth range (~1e-6 of it for
  1,200 triangles), so two surfaces closer than that at a pixel centre tie and the higher
  triangle index wins, as :func:`aujax.render.rasterize_tiles` breaks its exact ties; a frame's
  image does not depend on which frames share its chunk;
* vertex normals by a gather over a padded vertex -> triangle table (no scatter-add);
* the barycentric setup and the corner albedo and normals of each triangle packed in one row that
  each pixel gathers once.

The batch is explicit (flat gathers and scatters over ``B x pixels``), not vmapped: XLA CPU's
batched gathers and scatters are several times slower. The light direction, ambient and diffuse
coefficients are per frame, so the generator renders all of a subject's sequences (one light
each) in one call. Frames are rendered ``chunk`` at a time
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
SMALL_TILE = (3, 3)  # every triangle's tile; the few larger ones (~1 %) get shifted copies
EXTRA_BLOCK = 2048  # shifted tiles per z-buffer call (one compiled shape; more calls if needed)


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


def _project(vertices, rotations, scale, translation):
    """(B, n, 3) pixels ``(u, v, z)`` of the OrthoCamera with a per-frame rotation:
    u = s y_x + t_x, v = t_y - s y_y, z = y_z."""
    cam = jnp.einsum("bij,bnj->bni", rotations, vertices)
    return jnp.stack(
        [scale * cam[..., 0] + translation[0], translation[1] - scale * cam[..., 1], cam[..., 2]],
        axis=-1,
    )


def _triangle_setup(pixels, triangles):
    corners = jnp.take(jax.lax.stop_gradient(pixels), triangles, axis=1).reshape(-1, 3, 3)
    return _setup(corners, cull_backfaces=True), corners


def _id_bits(n_tri: int) -> int:
    return max(int(n_tri - 1).bit_length(), 1)


@functools.partial(jax.jit, static_argnames=("base", "tile", "height", "width"))
def _zbuffer(zbuf, vertices, rotations, triangles, scale, translation, extra, *, base, tile,
             height, width):  # fmt: skip
    """Scatter-max of packed ``(quantised depth << id_bits) | triangle`` keys into ``zbuf``
    (B H W,) int32 (-1 = empty).

    ``base``: every triangle tests ``tile`` anchored at its bounding box. ``extra`` (E, 3) int32
    rows ``(b f + t, dr, dc)`` test the same tile again, shifted by ``(dr, dc)`` pixels, for
    triangle ``t`` of frame ``b`` (the larger triangles' bounding boxes; a pixel tested twice
    gives the same key twice: the scatter-max is unchanged). Only E and the static arguments set
    the compiled shape."""
    n_batch, n_tri = vertices.shape[0], triangles.shape[0]
    dtype = vertices.dtype
    tol = _tolerance(dtype)
    pixels = _project(vertices, rotations, scale, translation)
    setup, corners = _triangle_setup(pixels, triangles)
    setup, valid = setup
    lo = jnp.where(valid[:, None], jnp.min(corners[..., :2], axis=1), 0.0)
    col0 = jnp.ceil(lo[:, 0] - 0.5 - 1e-3).astype(jnp.int32)
    row0 = jnp.ceil(lo[:, 1] - 0.5 - 1e-3).astype(jnp.int32)
    id_bits = _id_bits(n_tri)
    depth_bits = min(31 - id_bits, 23)  # levels exact in float32; keys stay positive int32
    z = pixels[..., 2]
    z_lo, z_hi = jnp.min(z, axis=1), jnp.max(z, axis=1)  # (B,): per frame, whatever the chunk
    levels = float(2**depth_bits - 1)
    quant = levels / jnp.maximum(z_hi - z_lo, jnp.finfo(dtype).tiny)
    n_pix = height * width
    th, tw = tile
    dc = jnp.tile(jnp.arange(tw, dtype=jnp.int32), th)
    dr = jnp.repeat(jnp.arange(th, dtype=jnp.int32), tw)

    def samples(rows, shift_r, shift_c):
        """Keys and flat pixel targets of the (R,) triangle rows over the tile at (R,) shifts."""
        col = (col0[rows] + shift_c)[:, None] + dc[None]  # (R, k)
        row = (row0[rows] + shift_r)[:, None] + dr[None]
        l0, l1, l2, depth = _barycentric(
            _Setup(*(x[rows][:, None] for x in setup)),
            col.astype(dtype) + 0.5,
            row.astype(dtype) + 0.5,
        )
        inside = (l0 >= -tol) & (l1 >= -tol) & (l2 >= -tol) & valid[rows][:, None]
        inside = inside & (col >= 0) & (col < width) & (row >= 0) & (row < height)
        b = (rows // n_tri)[:, None]
        q = jnp.clip(jnp.floor((depth - z_lo[b]) * quant[b]), 0.0, levels).astype(jnp.int32)
        key = jnp.where(inside, jnp.left_shift(q, id_bits) | (rows % n_tri)[:, None], -1)
        target = jnp.where(inside, b * n_pix + row * width + col, n_batch * n_pix)  # out: dropped
        return key.reshape(-1), target.reshape(-1)

    keys, targets = [], []
    if base:
        zero = jnp.zeros((n_batch * n_tri,), jnp.int32)
        key, target = samples(jnp.arange(n_batch * n_tri, dtype=jnp.int32), zero, zero)
        keys.append(key)
        targets.append(target)
    if extra.shape[0]:
        key, target = samples(extra[:, 0], extra[:, 1], extra[:, 2])
        keys.append(key)
        targets.append(target)
    if not keys:
        return zbuf
    return zbuf.at[jnp.concatenate(targets)].max(jnp.concatenate(keys), mode="drop")


@functools.partial(jax.jit, static_argnames=("height", "width", "color"))
def _shade(zbuf, vertices, rotations, triangles, table, albedo, scale, translation, light,
           ambient, diffuse, *, height, width, color):  # fmt: skip
    """The images (B, H, W, C) uint8 of a finished z-buffer (as `shade`: interpolated albedo and
    renormalised normal of the winner, Lambert plus ambient); ``light`` (B, 3) unit vectors,
    ``ambient`` and ``diffuse`` (B,) per frame."""
    n_batch, n_tri = vertices.shape[0], triangles.shape[0]
    dtype = vertices.dtype
    n_pix = height * width
    mask = zbuf >= 0
    tri_id = jnp.where(mask, zbuf & ((1 << _id_bits(n_tri)) - 1), 0)
    (setup, _), _ = _triangle_setup(_project(vertices, rotations, scale, translation), triangles)
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
    values = values.reshape(n_batch, n_pix, n_ch + 3)
    rho, pixel_normal = values[..., :n_ch], values[..., n_ch:]
    sq = jnp.sum(pixel_normal**2, axis=-1)
    positive = sq > 0
    inv_norm = jnp.where(positive, jax.lax.rsqrt(jnp.where(positive, sq, 1.0)), 0.0)
    cosine = jnp.maximum(jnp.sum(pixel_normal * light[:, None, :], axis=-1) * inv_norm, 0.0)
    shade = ambient[:, None] + diffuse[:, None] * cosine  # (B, P)
    image = jnp.clip(rho * shade[..., None], 0.0, 1.0)
    image = jnp.where(mask.reshape(n_batch, n_pix)[..., None], image, jnp.zeros_like(image))
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
    """The banded rasterizer of :func:`aujax.render.render`, vmapped (large triangles); light
    (B, 3), ambient and diffuse (B,) per frame."""

    def one(v, r, lt, am, di):
        img = render(v, triangles, albedo, camera=camera.replace(rotation=r), light_dir=lt,
                     ambient=am, diffuse=di).image  # fmt: skip
        if not color and img.shape[-1] == 3:
            img = jnp.mean(img, axis=-1, keepdims=True)
        return img

    return _to_uint8(jax.vmap(one)(vertices, rotations, light, ambient, diffuse))


def _extra_anchors(extents, tile) -> list[np.ndarray]:
    """Blocks of ``EXTRA_BLOCK`` int32 rows ``(b f + t, dr, dc)``: the shifted copies of ``tile``
    that cover the bounding box of triangle t of frame b beyond its own tile (extents (B, f, 2),
    as :func:`_triangle_extents`). The last block is padded with copies of row ``(0, 0, 0)`` (a
    tile tested twice: harmless), so that one shape is ever compiled; no rows, no block."""
    th, tw = tile
    need_r = -(-extents[..., 0] // th)  # (B, f) tiles along v
    need_c = -(-extents[..., 1] // tw)
    parts = []
    for i in range(int(need_r.max(initial=1))):
        for j in range(int(need_c.max(initial=1))):
            if i == 0 and j == 0:
                continue
            hit = np.flatnonzero(((need_r > i) & (need_c > j)).reshape(-1))
            if hit.size:
                parts.append(np.stack([hit, np.full_like(hit, i * th), np.full_like(hit, j * tw)],
                                      axis=1))  # fmt: skip
    if not parts:
        return []
    rows = np.concatenate(parts)
    out = np.zeros((-(-rows.shape[0] // EXTRA_BLOCK) * EXTRA_BLOCK, 3), np.int32)
    out[: rows.shape[0]] = rows
    return np.split(out, out.shape[0] // EXTRA_BLOCK)


def _per_frame(value, n_frames, name) -> np.ndarray:
    """A float or (B,) per-frame coefficient as (B,) float32."""
    x = np.asarray(value, dtype=np.float32)
    if x.ndim == 0:
        x = np.full((n_frames,), x, np.float32)
    if x.shape != (n_frames,) or not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must be a finite float or ({n_frames},) array, got {value!r}")
    return x


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
    ambient=0.3,
    diffuse=0.7,
    color: bool = True,
    chunk: int = 32,
    tile: tuple[int, int] | None = None,
    max_tile: int = MAX_TILE,
) -> np.ndarray:
    """Renders B frames of one mesh to uint8 images (the images of :func:`render`, batched).

    Frame b is ``render(vertices[b], triangles, albedo, camera=camera.replace(rotation=
    rotations[b]), light_dir=light_dir[b], ambient=ambient[b], diffuse=diffuse[b]).image``
    rounded to uint8 (``round(255 x)``), background 0, backfaces culled; equal to it up to 1 grey
    level at pixel centres on shared edges and at depth ties closer than the key quantisation
    (module docstring). A frame's image does not depend on the other frames of the call or on
    ``chunk`` (the depth keys are quantised over each frame's own depth range). Computes in
    float32 (the dtype of the inputs is not kept).

    Args:
        vertices: (B, n, 3) model-frame vertices of each frame (cm).
        triangles: (f, 3) integer vertex indices, counter-clockwise seen from outside.
        albedo: (n,) grayscale or (n, 3) RGB per-vertex albedo in [0, 1].
        camera: the orthographic camera (scale, centre and image size; its rotation is used for
            every frame when ``rotations`` is None).
        rotations: optional (B, 3, 3) model-to-camera rotation of each frame.
        light_dir: (3,) direction toward the light in the camera frame, or (B, 3) one per frame
            (normalised here), so that sequences lit differently render in one call.
        ambient: ambient coefficient, a float or (B,) per frame.
        diffuse: diffuse coefficient, a float or (B,) per frame.
        color: keep RGB (C = 3); False averages an RGB albedo's channels after shading (C = 1).
            A grayscale albedo always gives C = 1.
        chunk: frames per jitted call (the last one padded to it); 32 suits a 2-core CPU.
        tile: static ``(tile_h, tile_w)`` pixel tile per triangle (default: a 3 x 3 tile per
            triangle plus shifted copies over the larger triangles' bounding boxes).
        max_tile: if a triangle's bounding box holds more than this many pixel centres along
            either axis, the frames are rendered by the banded rasterizer of :func:`render`.

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
    if light.shape == (3,):
        light = np.repeat(light[None], n_frames, 0)
    norm = np.linalg.norm(light, axis=-1) if light.shape == (n_frames, 3) else None
    if norm is None or not np.all(np.isfinite(light)) or not np.all(norm > 0):
        raise ValueError(
            f"light_dir must be a finite non-zero (3,) vector or ({n_frames}, 3) array, got "
            f"{light_dir!r}"
        )
    light = light / norm[:, None]
    ambient = _per_frame(ambient, n_frames, "ambient")
    diffuse = _per_frame(diffuse, n_frames, "diffuse")
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
    small = tile
    if fitted:  # a small tile for all, shifted copies of it over the few larger triangles
        small = tuple(min(s, t) for s, t in zip(SMALL_TILE, tile, strict=True))
    if not banded:
        table = jnp.asarray(vertex_triangle_table(tri, v.shape[1]))
        alb_j = jnp.asarray(alb)
        no_extra = jnp.zeros((0, 3), jnp.int32)
    else:
        cam32 = OrthoCamera(jnp.eye(3, dtype=jnp.float32), scale, translation, height=height,
                            width=width)  # fmt: skip
        alb_j = jnp.asarray(alb_banded)
    pending = []  # dispatched asynchronously; the host prepares the next chunk meanwhile
    for start in range(0, n_frames, chunk):
        stop = min(start + chunk, n_frames)
        pad = chunk - (stop - start)

        def padded(x, start=start, stop=stop, pad=pad):
            return jnp.asarray(np.concatenate([x[start:stop], np.repeat(x[:1], pad, 0)]))

        args = (padded(v), padded(rot), tri_j)
        per_frame = (padded(light), padded(ambient), padded(diffuse))
        if banded:
            img = _banded_chunk(*args, alb_j, cam32, *per_frame, color=n_ch == 3)
        else:
            blocks = []
            if fitted:
                ext = np.concatenate([extents[start:stop], np.repeat(extents[:1], pad, 0)])
                # no larger triangle: one block of repeats (the chunks keep one compiled shape)
                blocks = _extra_anchors(ext, small) or [np.zeros((EXTRA_BLOCK, 3), np.int32)]
            geometry = (args[0], args[1], tri_j, scale, translation)
            static = dict(tile=small, height=height, width=width)
            zbuf = jnp.full((chunk * height * width,), -1, jnp.int32)
            zbuf = _zbuffer(zbuf, *geometry, jnp.asarray(blocks[0]) if blocks else no_extra,
                            base=True, **static)  # fmt: skip
            for block in blocks[1:]:
                zbuf = _zbuffer(zbuf, *geometry, jnp.asarray(block), base=False, **static)
            img = _shade(zbuf, *args, table, alb_j, scale, translation, *per_frame,
                         height=height, width=width, color=n_ch == 3)  # fmt: skip
        pending.append((img, stop - start))
    out = [np.asarray(img)[:k] for img, k in pending]
    return out[0] if len(out) == 1 else np.concatenate(out)
