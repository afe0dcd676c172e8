"""Batched triangle-major rendering of small-triangle meshes: one packed z-buffer pass, uint8 out.

:func:`render_splat` renders B frames of one mesh (same triangles and albedo, per-frame vertices and
camera rotations, one orthographic scale and centre) as :func:`aujax.render.render` would — the
same pixel-centre coverage test, nearest-surface visibility, Lambert plus ambient shading of the
interpolated albedo and renormalised interpolated normal — and converts the images to uint8 on the
device. It is built for meshes whose triangles span a few pixels (the synthetic data's aligned
crops: ~1,200 triangles in 64-128 px). A chunk of frames is two jitted calls:

1. :func:`_zbuffer_chunk`, per triangle and then per sample:

   * projection and triangle setup as a structure of (B, f) arrays (no strided (f, 3, 3) slices);
   * triangle-major splatting: every triangle tests the pixel centres of a static ``tile``
     anchored at its bounding box (a square of side 3, 6, 12, ... fitted to most triangles of
     the first frame: one compiled shape per crop size and mesh resolution); the front-facing
     triangles whose box holds more pixel centres (~10 % at 64 px) are compacted on the device
     (``jnp.nonzero`` with a static budget) and test shifted copies of the tile over the rest of
     their box, so the work is about ``B f t_h t_w`` samples plus a few, and the compiled shapes
     do not depend on the poses;
   * one scatter-max z-buffer pass over packed int32 keys ``(quantised depth << id_bits) |
     triangle`` (scatters dominate on XLA CPU: one instead of depth, gather and id passes).
     Depth is quantised to ``min(31 - id_bits, 23)`` bits over each frame's depth range (~1e-6 of
     it for 1,200 triangles), so two surfaces closer than that at a pixel centre tie and the
     higher triangle index wins (as the tile-splatting reference of the tests breaks its exact
     ties); a frame's image does not depend on which frames share its chunk;
   * per triangle, the plane equations ``a u + b v + c`` of the attributes (albedo and the
     camera-frame vertex normal: barycentric interpolation is affine in pixel space under an
     orthographic camera), from area-weighted vertex normals (a flat ``segment_sum``, as
     :func:`aujax.render.vertex_normals`).

2. :func:`_shade_chunk`: every pixel gathers its winner's row of plane equations once, evaluates
   it, renormalises the normal and shades (Lambert plus ambient, light per frame), in
   channel-major arrays.

The split is what makes it fast on XLA CPU: in one program, XLA fuses the computation of the
plane equations into the per-pixel gather and redoes it for every pixel (18 ms of a 36 ms chunk
at 64 px; ``optimization_barrier`` does not survive to the CPU fusion pass). The batch is
explicit (flat gathers and scatters over ``B x pixels``), not vmapped: XLA CPU's batched gathers
and scatters are several times slower. The light direction, ambient and diffuse coefficients are
per frame, so the generator renders all of a subject's sequences (one light each) in one call.
Frames are rendered ``chunk`` at a time (the last chunk padded with the first frame, so every
chunk has one compiled shape), all chunks dispatched before any is read back. Meshes whose
front-facing triangles grow past ``max_tile`` pixels fall back to :func:`aujax.render.render`
(vmapped), which bins large triangles better; a chunk whose larger triangles overflow the static
budget is rendered again with a budget that holds them (same images; one more compile).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from ..geometry import OrthoCamera, check_image_size
from ._rasterizer import _barycentric, _check_mesh, _Setup, _tolerance, render


__all__ = ["render_splat"]

MAX_TILE = 12  # pixels; past it the banded rasterizer of `render` is cheaper
TILE_QUANTILE = 75  # the default tile holds this percentile of the triangles' boxes (frame 0)
BUDGET_FRACTION = 4  # static budgets: B f / 4 larger triangles and B f / 4 shifted tiles
BUDGET_ROUND = 1024  # budgets are multiples of this (few compiled shapes)


def _round_up(x: int) -> int:
    return max(BUDGET_ROUND, -(-int(x) // BUDGET_ROUND) * BUDGET_ROUND)


def _id_bits(n_tri: int) -> int:
    return max(int(n_tri - 1).bit_length(), 1)


def _setup_soa(corners):
    """Triangle setup (backfaces culled) from the nine (B, f) arrays ``ua va za ub vb zb uc vc
    zc`` (as :func:`aujax.render._rasterizer._setup`, structure of arrays); also the validity."""
    ua, va, za, ub, vb, zb, uc, vc, zc = corners
    area = (vb - va) * (uc - ua) + (ua - ub) * (vc - va)  # y up: counter-clockwise is positive
    valid = area > 0  # the vertices are finite (checked on the host)
    inv_area = jnp.where(valid, 1.0 / jnp.where(valid, area, 1.0), 0.0)
    setup = _Setup(
        ua=ua, va=va, za=za, a1=(va - vc) * inv_area, b1=(uc - ua) * inv_area,
        a2=(vb - va) * inv_area, b2=(ua - ub) * inv_area, dz1=zb - za, dz2=zc - za,
        c0=jnp.where(valid, 1.0, -1.0).astype(ua.dtype),
    )  # fmt: skip
    return setup, valid


def _shifts(tile, max_tile):
    """The shifted copies ``(i, j) != (0, 0)`` of a tile that cover a ``max_tile`` box."""
    s_r, s_c = -(-max_tile // tile[0]), -(-max_tile // tile[1])
    return [(i, j) for i in range(s_r) for j in range(s_c) if (i, j) != (0, 0)], (s_r, s_c)


@functools.partial(
    jax.jit,
    static_argnames=("tile", "n_big", "n_extra", "max_tile", "height", "width", "mean_albedo"),
)
def _zbuffer_chunk(vertices, rotations, triangles, albedo, scale, translation, *, tile, n_big,
                   n_extra, max_tile, height, width, mean_albedo):  # fmt: skip
    """The packed z-buffer (B H W,) int32 (-1 = empty), the (B f, 3 a) plane-equation rows of
    the a shaded attributes, and (3,) int32 counts ``(larger triangles, shifted tiles, largest
    box side)`` of the chunk (the host checks them against ``n_big``, ``n_extra`` and
    ``max_tile``).

    Every front-facing triangle tests ``tile`` (static) anchored at its bounding box; the
    ``n_big`` (static budget) first ones whose box is larger test shifted copies of it, at most
    ``n_extra`` (static budget) in all. ``mean_albedo``: shade the mean of an RGB albedo's
    channels (grey output where no channel clips)."""
    n_batch, n_vert = vertices.shape[:2]
    n_tri = triangles.shape[0]
    triangles = triangles.astype(jnp.int32)
    dtype = vertices.dtype
    tol = _tolerance(dtype)
    # the OrthoCamera with a per-frame rotation: u = s y_x + t_x, v = t_y - s y_y, z = y_z
    cam = jnp.einsum("bij,bnj->ibn", rotations, vertices)
    pixels = (scale * cam[0] + translation[0], translation[1] - scale * cam[1], cam[2])  # (B, n)
    corners = [jnp.take(p, triangles[:, k], axis=1) for k in range(3) for p in pixels]  # (B, f)
    setup, valid = _setup_soa(corners)
    us, vs = corners[0::3], corners[1::3]
    u_lo, v_lo = jnp.minimum(jnp.minimum(*us[:2]), us[2]), jnp.minimum(jnp.minimum(*vs[:2]), vs[2])
    u_hi, v_hi = jnp.maximum(jnp.maximum(*us[:2]), us[2]), jnp.maximum(jnp.maximum(*vs[:2]), vs[2])

    def flat(x, culled):
        return jnp.where(valid, x, culled).astype(jnp.int32).reshape(-1)

    col0, row0 = flat(jnp.ceil(u_lo - 0.5 - 1e-3), 0.0), flat(jnp.ceil(v_lo - 0.5 - 1e-3), 0.0)
    # pixel centres each box can hold (culled triangles: one, nothing beyond the tile)
    ext_c = flat(jnp.floor(u_hi - u_lo + 2e-3) + 1, 1.0)
    ext_r = flat(jnp.floor(v_hi - v_lo + 2e-3) + 1, 1.0)
    id_bits = _id_bits(n_tri)
    depth_bits = min(31 - id_bits, 23)  # levels exact in float32; keys stay positive int32
    z_lo, z_hi = jnp.min(pixels[2], axis=1), jnp.max(pixels[2], axis=1)  # (B,): per frame
    levels = float(2**depth_bits - 1)
    quant = levels / jnp.maximum(z_hi - z_lo, jnp.finfo(dtype).tiny)
    n_pix = height * width
    th, tw = tile
    dc = jnp.tile(jnp.arange(tw, dtype=jnp.int32), th)
    dr = jnp.repeat(jnp.arange(th, dtype=jnp.int32), tw)
    flat_setup = _Setup(*(a.reshape(-1) for a in setup))
    flat_valid = valid.reshape(-1)

    def splat(zbuf, rows, shift_r, shift_c):
        """Scatter-max of the keys of the (R,) triangle rows over the tile at (R,) shifts."""
        col = (col0[rows] + shift_c)[:, None] + dc[None]  # (R, k)
        row = (row0[rows] + shift_r)[:, None] + dr[None]
        l0, l1, l2, depth = _barycentric(
            _Setup(*(a[rows][:, None] for a in flat_setup)),
            col.astype(dtype) + 0.5,
            row.astype(dtype) + 0.5,
        )
        inside = (l0 >= -tol) & (l1 >= -tol) & (l2 >= -tol) & flat_valid[rows][:, None]
        inside = inside & (col >= 0) & (col < width) & (row >= 0) & (row < height)
        b = (rows // n_tri)[:, None]
        q = jnp.clip(jnp.floor((depth - z_lo[b]) * quant[b]), 0.0, levels).astype(jnp.int32)
        key = jnp.where(inside, jnp.left_shift(q, id_bits) | (rows % n_tri)[:, None], -1)
        target = jnp.where(inside, b * n_pix + row * width + col, n_batch * n_pix)  # out: dropped
        return zbuf.at[target.reshape(-1)].max(key.reshape(-1), mode="drop")

    zbuf = jnp.full((n_batch * n_pix,), -1, jnp.int32)
    all_rows = jnp.arange(n_batch * n_tri, dtype=jnp.int32)
    zbuf = splat(zbuf, all_rows, jnp.zeros_like(all_rows), jnp.zeros_like(all_rows))
    shifts, (s_r, s_c) = _shifts(tile, max_tile)
    need_r = jnp.minimum(-(-ext_r // th), s_r)  # tiles along v (and u) that cover the box
    need_c = jnp.minimum(-(-ext_c // tw), s_c)
    big = need_r * need_c > 1
    counts = [jnp.sum(big, dtype=jnp.int32), jnp.sum(need_r * need_c - 1, dtype=jnp.int32)]
    if n_big and n_extra and shifts:
        sel = jnp.nonzero(big, size=n_big, fill_value=0)[0].astype(jnp.int32)
        si = jnp.asarray([i for i, _ in shifts], jnp.int32)
        sj = jnp.asarray([j for _, j in shifts], jnp.int32)
        live = (jnp.arange(n_big, dtype=jnp.int32) < counts[0])[:, None]
        need = (si[None] < need_r[sel][:, None]) & (sj[None] < need_c[sel][:, None]) & live
        # padding repeats row sel[0] at shift 0: a tile tested twice leaves the maximum unchanged
        k = jnp.nonzero(need.reshape(-1), size=n_extra, fill_value=0)[0].astype(jnp.int32)
        shift = jnp.where(jnp.arange(n_extra, dtype=jnp.int32) < counts[1], k % len(shifts), -1)
        zbuf = splat(zbuf, sel[k // len(shifts)], jnp.where(shift >= 0, si[shift] * th, 0),
                     jnp.where(shift >= 0, sj[shift] * tw, 0))  # fmt: skip
    counts.append(jnp.max(jnp.maximum(ext_r, ext_c)))

    # per triangle: plane equations of the albedo and the camera-frame vertex normal
    model = [jnp.take(vertices, triangles[:, k], axis=1) for k in range(3)]  # (B, f, 3)
    face_normals = jnp.cross(model[1] - model[0], model[2] - model[0])
    owner = triangles.reshape(-1)[None] + n_vert * jnp.arange(n_batch, dtype=jnp.int32)[:, None]
    normals = jax.ops.segment_sum(
        jnp.repeat(face_normals.reshape(-1, 3), 3, axis=0), owner.reshape(-1),
        num_segments=n_batch * n_vert,
    ).reshape(n_batch, n_vert, 3)  # fmt: skip
    sq = jnp.sum(normals**2, axis=-1, keepdims=True)
    positive = sq > 0
    normals = normals * jnp.where(positive, jax.lax.rsqrt(jnp.where(positive, sq, 1.0)), 0.0)
    normals = jnp.einsum("bij,bnj->bni", rotations, normals)  # camera frame
    if mean_albedo:
        albedo = jnp.mean(albedo, axis=-1, keepdims=True)
    attrs = jnp.concatenate([jnp.broadcast_to(albedo[None], (n_batch,) + albedo.shape), normals],
                            -1)  # fmt: skip
    c0, c1, c2 = (jnp.take(attrs, triangles[:, k], axis=1) for k in range(3))  # (B, f, a)
    d1, d2 = c1 - c0, c2 - c0
    a1, b1, a2, b2 = (x[..., None] for x in (setup.a1, setup.b1, setup.a2, setup.b2))
    grad_u, grad_v = a1 * d1 + a2 * d2, b1 * d1 + b2 * d2  # d attr / du, d attr / dv
    const = c0 - grad_u * setup.ua[..., None] - grad_v * setup.va[..., None]
    planes = jnp.concatenate([grad_u, grad_v, const], axis=-1).reshape(n_batch * n_tri, -1)
    return zbuf, planes, jnp.stack(counts)


@functools.partial(jax.jit, static_argnames=("n_tri", "n_out", "height", "width"))
def _shade_chunk(zbuf, planes, light, ambient, diffuse, *, n_tri, n_out, height, width):
    """The images (B, H, W, n_out) uint8 of a finished z-buffer: each pixel evaluates its
    winner's plane equations (albedo, then normal), renormalises the normal and shades it,
    Lambert plus ambient; ``light`` (B, 3) unit vectors, ``ambient`` and ``diffuse`` (B,). An
    RGB albedo with ``n_out`` 1 is averaged after shading and clipping, as in `render`."""
    n_batch = light.shape[0]
    dtype = planes.dtype
    n_pix = height * width
    n_attr = planes.shape[1] // 3
    mask = zbuf >= 0
    tri_id = jnp.where(mask, zbuf & ((1 << _id_bits(n_tri)) - 1), 0)
    offset = jnp.repeat(jnp.arange(n_batch, dtype=jnp.int32) * n_tri, n_pix)
    rows = jnp.take(planes, tri_id + offset, axis=0).reshape(n_batch, n_pix, 3 * n_attr)
    r_idx, c_idx = jnp.meshgrid(
        jnp.arange(height, dtype=dtype), jnp.arange(width, dtype=dtype), indexing="ij"
    )
    pu, pv = (c_idx.reshape(1, -1) + 0.5), (r_idx.reshape(1, -1) + 0.5)
    values = [rows[..., k] * pu + rows[..., n_attr + k] * pv + rows[..., 2 * n_attr + k]
              for k in range(n_attr)]  # fmt: skip
    nx, ny, nz = values[n_attr - 3 :]
    sq = nx * nx + ny * ny + nz * nz
    positive = sq > 0
    inv_norm = jnp.where(positive, jax.lax.rsqrt(jnp.where(positive, sq, 1.0)), 0.0)
    cosine = (nx * light[:, 0:1] + ny * light[:, 1:2] + nz * light[:, 2:3]) * inv_norm
    shade = ambient[:, None] + diffuse[:, None] * jnp.maximum(cosine, 0.0)  # (B, P)
    mask = mask.reshape(n_batch, n_pix)
    image = jnp.stack(
        [jnp.where(mask, jnp.clip(rho * shade, 0.0, 1.0), 0.0) for rho in values[: n_attr - 3]],
        -1,
    )
    if image.shape[-1] != n_out:
        image = jnp.mean(image, axis=-1, keepdims=True)
    return _to_uint8(image.reshape(n_batch, height, width, n_out))


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


def _default_tile(vertices, rotation, scale, triangles, max_tile) -> tuple[int, int]:
    """A square tile of side ``3 x 2^k`` (3, 6, 12, ...), the smallest that holds the
    ``TILE_QUANTILE`` percentile of the pixel centres the front-facing triangles' boxes can hold
    along either axis in one frame (host NumPy); the larger ones get shifted copies.

    The coarse steps keep the choice (a static shape) the same for every frame and subject of a
    crop size and mesh resolution (the crops frame each face to the same size): a percentile
    rounded to one pixel flipped between 2 and 3 across the small preset's subjects (18 compiles
    instead of 1)."""
    rotation = np.asarray(rotation, np.float64)
    xy = scale * np.asarray(vertices, np.float64) @ rotation[:2].T  # (n, 2), v up
    c = xy[np.asarray(triangles)]  # (f, 3, 2)
    area = (c[:, 1, 0] - c[:, 0, 0]) * (c[:, 2, 1] - c[:, 0, 1]) - (
        (c[:, 2, 0] - c[:, 0, 0]) * (c[:, 1, 1] - c[:, 0, 1])
    )
    ext = (np.floor(c.max(axis=1) - c.min(axis=1) + 2e-3) + 1).max(axis=1)  # (f,)
    ext = ext[area > 0] if np.any(area > 0) else ext
    want = np.percentile(ext, TILE_QUANTILE, method="higher")
    side = 3
    while side < want and side < max_tile:
        side *= 2
    return side, side


def _budget(count: int, base: int) -> int:
    """The smallest ``base x 2^k`` that holds ``count`` (few compiled shapes on overflow)."""
    budget = base
    while budget < count:
        budget *= 2
    return budget


def _per_frame(value, n_frames, name) -> np.ndarray:
    """A float or (B,) per-frame coefficient as (B,) float32."""
    x = np.asarray(value, dtype=np.float32)
    if x.ndim == 0:
        x = np.full((n_frames,), x, np.float32)
    if x.shape != (n_frames,) or not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must be a finite float or ({n_frames},) array, got {value!r}")
    return x


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
        tile: static ``(tile_h, tile_w)`` pixel tile that every triangle tests, and no more
            (it must hold every triangle's bounding box). Default: a square tile of side 3, 6,
            12, ..., the smallest that holds the ``TILE_QUANTILE`` percentile of the
            front-facing triangles' boxes in frame 0 (3 x 3 for the ~1,200 triangles of a 64 px
            crop, 6 x 6 at 128 px), plus shifted copies of it over the larger boxes. The images
            do not depend on it.
        max_tile: if a front-facing triangle's bounding box holds more than this many pixel
            centres along either axis (or ``tile`` is larger), the frames are rendered by the
            banded rasterizer of :func:`render`.

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
    n_out = 3 if (color and alb.shape[1] == 3) else 1
    height, width = camera.height, camera.width
    if n_frames == 0:
        return np.zeros((0, height, width, n_out), np.uint8)
    scale = jnp.float32(camera.scale)
    translation = jnp.asarray(camera.translation, jnp.float32)
    tri_j = jnp.asarray(tri)
    n_tri = tri.shape[0]
    budgets = (0, 0)  # user tile: every triangle tests it, no shifted copies
    if tile is None:
        tile = _default_tile(v[0], rot[0], float(camera.scale), tri, max_tile)
        n = _round_up(chunk * n_tri / BUDGET_FRACTION)
        budgets = (n, n)
    tile = tuple(int(t) for t in tile)
    if len(tile) != 2 or min(tile) < 1:
        raise ValueError(f"tile must be two ints >= 1, got {tile!r}")
    n_pad = -(-n_frames // chunk) * chunk - n_frames  # the last chunk padded with frame 0

    def padded(x):
        return np.concatenate([x, np.repeat(x[:1], n_pad, 0)]) if n_pad else x

    v, rot = padded(v), padded(rot)
    per_frame = [padded(x) for x in (light, ambient, diffuse)]
    # grey output of an RGB albedo: mean(clip(rho_c shade)) = clip(mean(rho) shade) when no
    # channel clips (albedo in [0, 1], ambient + diffuse <= 1): one interpolated channel
    mean_albedo = bool(n_out == 1 and alb.shape[1] == 3 and np.all(ambient + diffuse <= 1.0)
                       and np.all((alb >= 0.0) & (alb <= 1.0)))  # fmt: skip
    static = dict(height=height, width=width)

    def splat(start, budgets):
        geometry = (jnp.asarray(v[start : start + chunk]), jnp.asarray(rot[start : start + chunk]))
        zbuf, planes, counts = _zbuffer_chunk(
            *geometry, tri_j, alb_j, scale, translation, tile=tile, n_big=budgets[0],
            n_extra=budgets[1], max_tile=max_tile, mean_albedo=mean_albedo, **static,
        )  # fmt: skip
        lights = [jnp.asarray(x[start : start + chunk]) for x in per_frame]
        return _shade_chunk(zbuf, planes, *lights, n_tri=n_tri, n_out=n_out, **static), counts

    alb_j = jnp.asarray(alb)
    starts = range(0, n_frames, chunk)
    banded = max(tile) > max_tile
    if not banded:  # every chunk dispatched before any is read back
        done = [splat(start, budgets) for start in starts]
        counts = np.stack([np.asarray(c) for _, c in done])  # (chunks, 3)
        banded = bool(np.any(counts[:, 2] > max_tile))
    if not banded:
        over = np.flatnonzero(np.any(counts[:, :2] > np.asarray(budgets), axis=1))
        if budgets[0] and over.size:  # rare: more larger triangles than the budget holds
            wider = tuple(_budget(counts[over, k].max(), budgets[k]) for k in (0, 1))
            for i in over:
                done[i] = splat(starts[i], wider)
        out = [np.asarray(img) for img, _ in done]
    else:
        cam32 = OrthoCamera(jnp.eye(3, dtype=jnp.float32), scale, translation, height=height,
                            width=width)  # fmt: skip
        alb_banded = jnp.asarray(alb_banded)
        out = []
        for start in starts:
            sl = slice(start, start + chunk)
            out.append(np.asarray(_banded_chunk(
                jnp.asarray(v[sl]), jnp.asarray(rot[sl]), tri_j, alb_banded, cam32,
                *(jnp.asarray(x[sl]) for x in per_frame), color=n_out == 3,
            )))  # fmt: skip
    return np.concatenate(out)[:n_frames]
