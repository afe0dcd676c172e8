"""Hard z-buffer rasterizer (row-binned, chunked edge-function tests), shading and render."""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jaxtyping import Array, Float, Int

from ..geometry import OrthoCamera, check_image_size, project, to_camera_frame


@struct.dataclass
class Fragments:
    """Per-pixel visibility of a rasterized mesh (one image).

    Attributes:
        triangle_id: (H, W) int32 index of the visible triangle, -1 for background.
        barycentric: (H, W, 3) barycentric weights of the pixel centre in that triangle
            (weights of its vertices 0, 1, 2, summing to 1; a centre on an edge may give a
            weight of about -64 eps; zeros for background).
        depth: (H, W) interpolated depth ``z`` of the visible surface (larger is nearer);
            ``-inf`` for background.
        mask: (H, W) bool, True where a triangle covers the pixel centre.
    """

    triangle_id: Int[Array, "H W"]
    barycentric: Float[Array, "H W 3"]
    depth: Float[Array, "H W"]
    mask: Array


def _check_mesh(pixels_xyz: Array, triangles: Array, *, name: str = "pixels_xyz") -> None:
    """Validates vertex and triangle arrays; checks values and index range when concrete."""
    if pixels_xyz.ndim != 2 or pixels_xyz.shape[1] != 3:
        raise ValueError(f"{name} must have shape (n, 3), got {pixels_xyz.shape}")
    if pixels_xyz.shape[0] == 0:
        raise ValueError(f"{name} must contain at least one vertex")
    if not jnp.issubdtype(pixels_xyz.dtype, jnp.floating):
        raise ValueError(f"{name} must be a floating-point array, got dtype {pixels_xyz.dtype}")
    if triangles.ndim != 2 or triangles.shape[1] != 3:
        raise ValueError(f"triangles must have shape (f, 3), got {triangles.shape}")
    if not jnp.issubdtype(triangles.dtype, jnp.integer):
        raise ValueError(f"triangles must be an integer array, got dtype {triangles.dtype}")
    values = _concrete(pixels_xyz)
    if values is not None and not np.all(np.isfinite(values)):
        raise ValueError(f"{name} contains NaN or infinite values")
    concrete = _concrete(triangles)
    if concrete is not None and concrete.size:
        lo, hi = int(concrete.min()), int(concrete.max())
        n = pixels_xyz.shape[0]
        if lo < 0 or hi >= n:
            raise ValueError(
                f"triangles index vertices out of range: indices span [{lo}, {hi}] "
                f"but {name} has {n} vertices"
            )


def _check_chunk_size(chunk_size: int) -> None:
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")


def _concrete(x: Array) -> np.ndarray | None:
    """The value of ``x`` as a NumPy array, or None under a transformation."""
    if isinstance(x, jax.core.Tracer):
        return None
    return np.asarray(x)


def _tolerance(dtype) -> float:
    """Barycentric slack so a pixel centre on a shared edge is never missed by both sides."""
    return 64.0 * float(jnp.finfo(dtype).eps)


class _Setup(NamedTuple):
    """Per-triangle affine coefficients of the barycentrics and depth in pixel space.

    With ``du = u - u_a`` and ``dv = v - v_a`` relative to the first vertex ``a``:
    ``l1 = a1 du + b1 dv``, ``l2 = a2 du + b2 dv``, ``l0 = c0 - l1 - l2`` and
    ``z = z_a + dz1 l1 + dz2 l2``; ``c0`` is 1 for a rasterizable triangle and -1 for a
    degenerate or culled one (so it covers nothing).
    """

    ua: Array  # shape=(f,)
    va: Array  # shape=(f,)
    za: Array  # shape=(f,)
    a1: Array  # shape=(f,)
    b1: Array  # shape=(f,)
    a2: Array  # shape=(f,)
    b2: Array  # shape=(f,)
    dz1: Array  # shape=(f,)
    dz2: Array  # shape=(f,)
    c0: Array  # shape=(f,)


def _setup(corners: Array, *, cull_backfaces: bool) -> tuple[_Setup, Array]:
    """Triangle setup from (f, 3, 3) corners ``(u, v, z)``; also returns the (f,) validity.

    The signed area is taken with y up (``-v``), so triangles whose vertices run
    counter-clockwise as seen from the camera have positive area.
    """
    (ua, va, za), (ub, vb, zb), (uc, vc, zc) = (
        (corners[:, i, 0], corners[:, i, 1], corners[:, i, 2]) for i in range(3)
    )
    # Edge function of edge s -> t at p, y up: (t_v - s_v)(p_u - s_u) + (s_u - t_u)(p_v - s_v).
    area = (vb - va) * (uc - ua) + (ua - ub) * (vc - va)
    finite = jnp.all(jnp.isfinite(corners), axis=(1, 2))
    valid = finite & ((area > 0) if cull_backfaces else (area != 0))
    inv_area = jnp.where(valid, 1.0 / jnp.where(valid, area, 1.0), 0.0)
    setup = _Setup(
        ua=ua,
        va=va,
        za=za,
        a1=(va - vc) * inv_area,
        b1=(uc - ua) * inv_area,
        a2=(vb - va) * inv_area,
        b2=(ua - ub) * inv_area,
        dz1=zb - za,
        dz2=zc - za,
        c0=jnp.where(valid, 1.0, -1.0).astype(corners.dtype),
    )
    return setup, valid


def _barycentric(setup: _Setup, pu: Array, pv: Array) -> tuple[Array, Array, Array, Array]:
    """Barycentrics ``(l0, l1, l2)`` and depth of pixel centres in broadcast triangles."""
    du, dv = pu - setup.ua, pv - setup.va
    l1 = setup.a1 * du + setup.b1 * dv
    l2 = setup.a2 * du + setup.b2 * dv
    l0 = setup.c0 - l1 - l2
    depth = setup.za + setup.dz1 * l1 + setup.dz2 * l2
    return l0, l1, l2, depth


BAND_PIXELS = 256  # tuned on a 2-core CPU; smaller bands mean fewer candidates each


def _band_rows(width: int) -> int:
    """Image rows per binning band: about ``BAND_PIXELS`` pixels per band."""
    return max(1, BAND_PIXELS // width)


class _Bands(NamedTuple):
    """Row bands of an image and, per band, the run of depth-sorted triangles to test."""

    packed: Array  # shape=(rows, f + chunk): per-triangle rows, sorted by top v
    tri_index: Array  # shape=(f + chunk,), dtype=int32: original index, -1 for padding
    tops: Array  # shape=(n_bands,): first image row of each band
    starts: Array  # shape=(n_bands,), dtype=int32: first candidate of each band
    stops: Array  # shape=(n_bands,), dtype=int32: one past its last candidate
    band_px: Array  # shape=(rows * W, 1): pixel-centre u of a band's pixels
    band_dv: Array  # shape=(rows * W, 1): row offset of a band's pixels
    rows: int  # image rows per band


def _bin_bands(corners, valid, rows_data, *, height, width, n_tri, slack) -> _Bands:
    """Bins triangles into bands of image rows by their vertical extent.

    Triangles are sorted by their top ``v`` (the invalid ones go last), so each band's
    candidates are one contiguous run ``[start, stop)`` of the sorted list: before ``start``
    every bottom lies above the band's first pixel-centre row, from ``stop`` on every top lies
    below its last one, each with ``slack`` pixels of margin.

    Args:
        corners: (f + chunk, 3, 3) projected corners ``(u, v, z)``, padded.
        valid: (f + chunk,) rasterizable triangles.
        rows_data: (r, f + chunk) per-triangle values the band loop slices (sorted here).
        height: image height.
        width: image width.
        n_tri: number of real (unpadded) triangles.
        slack: margin in pixels (may be traced).
    """
    dtype = corners.dtype
    v_min = jnp.where(valid, jnp.min(corners[..., 1], axis=1), jnp.inf)
    v_max = jnp.where(valid, jnp.max(corners[..., 1], axis=1), -jnp.inf)
    order = jnp.argsort(v_min, stable=True)
    reach = jax.lax.cummax(v_max[order], axis=0)  # max bottom over each prefix
    rows = _band_rows(width)
    n_bands = -(-height // rows)
    tops = jnp.arange(n_bands, dtype=dtype) * rows
    starts = jnp.searchsorted(reach, tops + (0.5 - slack), side="left", method="compare_all")
    stops = jnp.searchsorted(
        v_min[order], tops + (rows - 0.5 + slack), side="right", method="compare_all"
    )
    return _Bands(
        packed=rows_data[:, order],
        tri_index=jnp.where(order < n_tri, order, -1).astype(jnp.int32),
        tops=tops,
        starts=starts.astype(jnp.int32),
        stops=jnp.minimum(stops, n_tri).astype(jnp.int32),
        band_px=jnp.tile(jnp.arange(width, dtype=dtype) + 0.5, rows)[:, None],
        band_dv=jnp.repeat(jnp.arange(rows, dtype=dtype), width)[:, None],
        rows=rows,
    )


def _pad_triangles(triangles: Array, chunk: int) -> Array:
    """Appends ``chunk`` degenerate triangles (0, 0, 0) so every loop window stays in bounds."""
    return jnp.concatenate([triangles, jnp.zeros((chunk, 3), triangles.dtype)], axis=0)


@functools.partial(jax.jit, static_argnames=("height", "width", "chunk_size", "cull_backfaces"))
def _rasterize(pixels_xyz, triangles, *, height, width, chunk_size, cull_backfaces):
    dtype = pixels_xyz.dtype
    n_tri = triangles.shape[0]
    tol = _tolerance(dtype)
    neg_inf = jnp.array(-jnp.inf, dtype)

    # Visibility is piecewise constant: no gradient flows through the depth test.
    xyz = jax.lax.stop_gradient(pixels_xyz)
    chunk = max(1, min(chunk_size, n_tri))
    padded = _pad_triangles(triangles, chunk)
    corners = xyz[padded]  # (f + chunk, 3, 3)
    setup, valid = _setup(corners, cull_backfaces=cull_backfaces)
    # slack: a conservative margin (pixels) for the barycentric tolerance
    bands = _bin_bands(
        corners, valid, jnp.stack(setup, axis=0), height=height, width=width, n_tri=n_tri,
        slack=0.5,
    )  # fmt: skip
    rows, packed, tri_index = bands.rows, bands.packed, bands.tri_index
    band_px, band_dv = bands.band_px, bands.band_dv

    def band(inputs):
        top, start, stop = inputs
        pv = top + 0.5 + band_dv

        def cond(state):
            k, _, _ = state
            return k < stop

        def body(state):
            k, zbuf, tri_id = state
            window = jax.lax.dynamic_slice_in_dim(packed, k, chunk, axis=1)
            window = _Setup(*window[:, None, :])
            l0, l1, l2, depth = _barycentric(window, band_px, pv)  # (rows * W, chunk)
            inside = (l0 >= -tol) & (l1 >= -tol) & (l2 >= -tol)
            depth = jnp.where(inside, depth, neg_inf)
            best = jnp.argmax(depth, axis=1)
            best_depth = jnp.max(depth, axis=1)
            closer = best_depth > zbuf
            ids = jax.lax.dynamic_slice_in_dim(tri_index, k, chunk)[best]
            return (
                k + chunk,
                jnp.where(closer, best_depth, zbuf),
                jnp.where(closer, ids, tri_id),
            )

        init = (
            start,
            jnp.full((rows * width,), -jnp.inf, dtype),
            jnp.full((rows * width,), -1, jnp.int32),
        )
        _, _, tri_id = jax.lax.while_loop(cond, body, init)
        return tri_id

    tri_id = jax.lax.map(band, (bands.tops, bands.starts, bands.stops))
    tri_id = tri_id.reshape(-1, width)[:height].reshape(-1)
    return _fragments(pixels_xyz, padded, tri_id, height=height, width=width)


def _fragments(pixels_xyz, padded, tri_id, *, height, width) -> Fragments:
    """Fragments from the (H W,) winning triangle ids (-1: background): recomputes the winner's
    barycentrics and depth (differentiable in pixels_xyz)."""
    dtype = pixels_xyz.dtype
    neg_inf = jnp.array(-jnp.inf, dtype)
    mask = tri_id >= 0
    winner = padded[jnp.maximum(tri_id, 0)]  # (P, 3)
    win_setup, _ = _setup(pixels_xyz[winner], cull_backfaces=False)
    rows_all, cols_all = jnp.meshgrid(
        jnp.arange(height, dtype=dtype), jnp.arange(width, dtype=dtype), indexing="ij"
    )
    l0, l1, l2, depth = _barycentric(
        win_setup, cols_all.reshape(-1) + 0.5, rows_all.reshape(-1) + 0.5
    )
    bary = jnp.stack([l0, l1, l2], axis=-1)
    bary = jnp.where(mask[:, None], bary, jnp.zeros_like(bary))
    depth = jnp.where(mask, depth, neg_inf)
    return Fragments(
        triangle_id=tri_id.reshape(height, width),
        barycentric=bary.reshape(height, width, 3),
        depth=depth.reshape(height, width),
        mask=mask.reshape(height, width),
    )


def rasterize(
    pixels_xyz: Float[Array, "n 3"],
    triangles: Int[Array, "f 3"],
    *,
    height: int,
    width: int,
    chunk_size: int = 128,
    cull_backfaces: bool = True,
) -> Fragments:
    """Rasterizes a projected triangle mesh with a hard z-buffer.

    Each pixel centre ``p = (col + 0.5, row + 0.5)`` is tested against the triangles with
    edge functions ``w_0 = E(b, c, p)``, ``w_1 = E(c, a, p)``, ``w_2 = E(a, b, p)``,
    ``E(a, b, p) = (b - a) x (p - a)`` taken with y up. The barycentrics are
    ``lambda_i = w_i / (w_0 + w_1 + w_2)``; the centre is inside when every
    ``lambda_i >= -tol`` (``tol = 64 eps`` of the dtype, so a centre on an edge shared by
    two triangles is never missed by both); the depth is ``sum_i lambda_i z_i`` (exact for
    orthographic projection) and the largest depth (nearest the camera) wins. Ties at equal
    depth (centres on a shared edge) are broken deterministically.

    Work is bounded by binning: triangles are sorted by their top ``v``, so the candidates of
    a band of image rows (about 256 pixels, at least one row) form one contiguous run, which a
    ``lax.while_loop`` walks in chunks of ``chunk_size`` triangles (the triangle list is
    padded with degenerate triangles so the last chunk stays in bounds). Memory is
    O(band pixels x chunk_size); work is O(pixels x candidates per band), about O(H W f) only
    when every triangle spans the image height. Degenerate, non-finite and (with
    ``cull_backfaces``) back-facing triangles are dropped before binning. Visibility carries
    no gradient; barycentrics and depth of the visible triangle are differentiable in
    ``pixels_xyz``.

    Args:
        pixels_xyz: (n, 3) projected vertices ``(u, v, z)``: pixel coordinates (u right,
            v down) and depth (larger is nearer), e.g. from :func:`project`.
        triangles: (f, 3) integer vertex indices.
        height: image height in pixels, 8..1024.
        width: image width in pixels, 8..1024.
        chunk_size: triangles tested per loop step (capped at f).
        cull_backfaces: drop triangles whose vertices run clockwise as seen from the camera
            (their right-hand normal points away from it).

    Returns:
        The :class:`Fragments`.
    """
    pixels_xyz = jnp.asarray(pixels_xyz)
    triangles = jnp.asarray(triangles)
    _check_mesh(pixels_xyz, triangles)
    check_image_size(height, width)
    _check_chunk_size(chunk_size)
    return _rasterize(
        pixels_xyz,
        triangles,
        height=height,
        width=width,
        chunk_size=chunk_size,
        cull_backfaces=bool(cull_backfaces),
    )


def interpolate(
    fragments: Fragments, triangles: Int[Array, "f 3"], attributes: Float[Array, "n ..."]
) -> Float[Array, "H W ..."]:
    """Interpolates per-vertex attributes at the pixel centres with the barycentrics.

    Args:
        fragments: output of :func:`rasterize`.
        triangles: (f, 3) the triangles that were rasterized.
        attributes: (n, ...) per-vertex values.

    Returns:
        (H, W, ...) interpolated values; zeros for background pixels.
    """
    triangles = jnp.asarray(triangles)
    attributes = jnp.asarray(attributes)
    if triangles.ndim != 2 or triangles.shape[1] != 3:
        raise ValueError(f"triangles must have shape (f, 3), got {triangles.shape}")
    if attributes.ndim < 1:
        raise ValueError("attributes must have a leading vertex axis, got a scalar")
    safe_id = jnp.maximum(fragments.triangle_id, 0)
    corner_values = attributes[triangles[safe_id]]  # (H, W, 3, ...)
    bary = fragments.barycentric.astype(attributes.dtype)
    bary = bary.reshape(bary.shape + (1,) * (attributes.ndim - 1))
    values = jnp.sum(bary * corner_values, axis=2)
    mask = fragments.mask.reshape(fragments.mask.shape + (1,) * (attributes.ndim - 1))
    return jnp.where(mask, values, jnp.zeros_like(values))


def vertex_normals(
    vertices: Float[Array, "n 3"], triangles: Int[Array, "f 3"]
) -> Float[Array, "n 3"]:
    """Area-weighted vertex normals.

    Each vertex sums the face normals ``(b - a) x (c - a)`` (length twice the area) of its
    triangles and normalises; a vertex in no triangle (or with cancelling normals) gets
    the zero vector. Counter-clockwise triangles seen from +z give normals toward +z.

    Args:
        vertices: (n, 3) vertex positions.
        triangles: (f, 3) integer vertex indices.

    Returns:
        (n, 3) unit normals, dtype of ``vertices``.
    """
    vertices = jnp.asarray(vertices)
    triangles = jnp.asarray(triangles)
    _check_mesh(vertices, triangles, name="vertices")
    corners = vertices[triangles]  # (f, 3, 3)
    face_normals = jnp.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    n = vertices.shape[0]
    summed = jax.ops.segment_sum(
        jnp.repeat(face_normals, 3, axis=0), triangles.reshape(-1), num_segments=n
    )
    sq = jnp.sum(summed**2, axis=-1, keepdims=True)
    positive = sq > 0
    inv_norm = jnp.where(positive, jax.lax.rsqrt(jnp.where(positive, sq, 1.0)), 0.0)
    return summed * inv_norm


def _check_albedo(albedo: Array, n: int) -> None:
    if not (albedo.shape == (n,) or albedo.shape == (n, 3)):
        raise ValueError(
            f"albedo must have shape ({n},) (grayscale) or ({n}, 3) (RGB) to match the "
            f"{n} vertices, got {albedo.shape}"
        )
    if not jnp.issubdtype(albedo.dtype, jnp.floating):
        raise ValueError(f"albedo must be a floating-point array, got dtype {albedo.dtype}")


def _unit_light(light_dir, dtype) -> Array:
    light = jnp.asarray(light_dir, dtype)
    if light.shape != (3,):
        raise ValueError(f"light_dir must have shape (3,), got {light.shape}")
    concrete = _concrete(light)
    if concrete is not None and not np.any(concrete):
        raise ValueError("light_dir must be a non-zero vector")
    return light / jnp.linalg.norm(light)


def _surface(
    fragments: Fragments, triangles: Array, normals: Array, albedo: Array
) -> tuple[Array, Array]:
    """Interpolated (H, W, C) albedo and renormalised (H, W, 3) unit normal (zero where the
    interpolated normal vanishes or no triangle covers), in the dtype of ``albedo``; validates
    ``normals`` and ``albedo``."""
    normals = jnp.asarray(normals)
    albedo = jnp.asarray(albedo)
    if normals.ndim != 2 or normals.shape[1] != 3:
        raise ValueError(f"normals must have shape (n, 3), got {normals.shape}")
    _check_albedo(albedo, normals.shape[0])
    rho = albedo[:, None] if albedo.ndim == 1 else albedo
    pixel_rho = interpolate(fragments, triangles, rho)  # (H, W, C)
    pixel_normal = interpolate(fragments, triangles, normals.astype(albedo.dtype))  # (H, W, 3)
    sq = jnp.sum(pixel_normal**2, axis=-1, keepdims=True)
    positive = sq > 0
    inv_norm = jnp.where(positive, jax.lax.rsqrt(jnp.where(positive, sq, 1.0)), 0.0)
    return pixel_rho, pixel_normal * inv_norm


def shade(
    fragments: Fragments,
    triangles: Int[Array, "f 3"],
    normals: Float[Array, "n 3"],
    albedo: Float[Array, " n"] | Float[Array, "n 3"],
    *,
    light_dir,
    ambient: float,
    diffuse: float,
    background: float = 0.0,
) -> Float[Array, "H W C"]:
    """Lambert plus ambient shading with per-vertex albedo.

    .. math::
        I = \\rho\\,(k_a + k_d \\max(0, \\hat n \\cdot \\hat l))

    where ``rho`` and the normal are interpolated with the barycentrics (the normal is then
    renormalised) and ``l`` is the direction toward the light.

    Args:
        fragments: output of :func:`rasterize`.
        triangles: (f, 3) the triangles that were rasterized.
        normals: (n, 3) per-vertex normals, in the frame of ``light_dir``.
        albedo: (n,) grayscale or (n, 3) RGB per-vertex albedo, nominally in [0, 1].
        light_dir: (3,) direction toward the (distant) light; normalised here.
        ambient: ambient coefficient ``k_a``.
        diffuse: diffuse coefficient ``k_d``.
        background: value of pixels no triangle covers.

    Returns:
        (H, W, C) image, C = 1 for grayscale and 3 for RGB albedo, clipped to [0, 1], in
        the dtype of ``albedo``.
    """
    pixel_rho, pixel_normal = _surface(fragments, triangles, normals, albedo)
    dtype = pixel_rho.dtype
    light = _unit_light(light_dir, dtype)
    cosine = jnp.maximum(jnp.sum(pixel_normal * light[None, None, :], axis=-1), 0.0)
    ambient, diffuse = jnp.asarray(ambient, dtype), jnp.asarray(diffuse, dtype)
    intensity = ambient + diffuse * cosine
    image = jnp.clip(pixel_rho * intensity[..., None], 0.0, 1.0)
    return jnp.where(fragments.mask[..., None], image, jnp.asarray(background, dtype))


@struct.dataclass
class RenderOutput:
    """A rendered image and its geometry buffers.

    Attributes:
        image: (H, W, C) float image in [0, 1]; C = 1 (grayscale) or 3 (RGB).
        depth: (H, W) camera-frame z in cm of the visible surface (larger is nearer);
            0 for background (use ``mask``).
        mask: (H, W) bool, True where the mesh covers the pixel centre.
        coverage: (H, W) fraction of sub-samples covered (the mask as a float when
            ``supersample == 1``).
        triangle_id: (H, W) int32 visible triangle, -1 for background.
        barycentric: (H, W, 3) barycentrics of the pixel centre in that triangle.
    """

    image: Float[Array, "H W C"]
    depth: Float[Array, "H W"]
    mask: Array
    coverage: Float[Array, "H W"]
    triangle_id: Int[Array, "H W"]
    barycentric: Float[Array, "H W 3"]


def _average_pool(image: Array, factor: int) -> Array:
    h, w = image.shape[0] // factor, image.shape[1] // factor
    blocks = image.reshape((h, factor, w, factor) + image.shape[2:])
    return jnp.mean(blocks, axis=(1, 3))


def render(
    vertices: Float[Array, "n 3"],
    triangles: Int[Array, "f 3"],
    albedo: Float[Array, " n"] | Float[Array, "n 3"],
    *,
    camera: OrthoCamera,
    light_dir=(0.0, 0.0, 1.0),
    ambient: float = 0.3,
    diffuse: float = 0.7,
    background: float = 0.0,
    chunk_size: int = 128,
    cull_backfaces: bool = True,
    supersample: int = 1,
) -> RenderOutput:
    """Renders a mesh with an orthographic camera, a z-buffer and Lambert shading.

    Vertex normals are area-weighted face normals in the model frame, rotated into the
    camera frame; ``light_dir`` is given in the CAMERA frame (x right, y up, z toward the
    camera), so the default ``(0, 0, 1)`` lights the mesh from the camera and a head turned
    by ``camera.rotation`` moves under a fixed light. Works under ``jit`` (the camera's
    size is static), ``vmap`` over vertices/albedo, float32 and float64.

    With ``supersample = k > 1`` the image is shaded at ``k`` times the resolution and
    average-pooled (anti-aliased; ``coverage`` is the pooled mask); ``depth``, ``mask``,
    ``triangle_id`` and ``barycentric`` come from an extra pass at the base resolution and
    equal those of ``supersample = 1``.

    Args:
        vertices: (n, 3) vertices in the model frame (cm).
        triangles: (f, 3) integer vertex indices, counter-clockwise seen from outside.
        albedo: (n,) grayscale or (n, 3) RGB per-vertex albedo in [0, 1].
        camera: the :class:`OrthoCamera` (its height and width give the image size).
        light_dir: (3,) direction toward the light in the camera frame.
        ambient: ambient coefficient.
        diffuse: diffuse coefficient.
        background: image value where no triangle is visible.
        chunk_size: triangles per rasterizer loop step.
        cull_backfaces: drop triangles facing away from the camera.
        supersample: samples per pixel along each axis, 1..4.

    Returns:
        The :class:`RenderOutput`.
    """
    vertices = jnp.asarray(vertices)
    triangles = jnp.asarray(triangles)
    albedo = jnp.asarray(albedo)
    _check_mesh(vertices, triangles, name="vertices")
    _check_albedo(albedo, vertices.shape[0])
    if isinstance(supersample, bool) or not isinstance(supersample, int):
        raise ValueError(f"supersample must be an int in 1..4, got {supersample!r}")
    if not 1 <= supersample <= 4:
        raise ValueError(f"supersample must be an int in 1..4, got {supersample}")
    check_image_size(camera.height, camera.width)
    _check_chunk_size(chunk_size)
    if albedo.dtype != vertices.dtype:
        albedo = albedo.astype(vertices.dtype)
    _unit_light(light_dir, vertices.dtype)  # validate eagerly
    return _render(
        vertices,
        triangles,
        albedo,
        camera,
        jnp.asarray(light_dir, vertices.dtype),
        jnp.asarray(ambient, vertices.dtype),
        jnp.asarray(diffuse, vertices.dtype),
        jnp.asarray(background, vertices.dtype),
        chunk_size=chunk_size,
        cull_backfaces=bool(cull_backfaces),
        supersample=supersample,
    )


@functools.partial(jax.jit, static_argnames=("chunk_size", "cull_backfaces", "supersample"))
def _render(
    vertices,
    triangles,
    albedo,
    camera,
    light_dir,
    ambient,
    diffuse,
    background,
    *,
    chunk_size,
    cull_backfaces,
    supersample,
):
    normals = to_camera_frame(camera, vertex_normals(vertices, triangles))
    raster = functools.partial(
        _rasterize, triangles=triangles, chunk_size=chunk_size, cull_backfaces=cull_backfaces
    )
    shading = functools.partial(
        shade,
        triangles=triangles,
        normals=normals,
        albedo=albedo,
        light_dir=light_dir,
        ambient=ambient,
        diffuse=diffuse,
        background=background,
    )
    base = raster(project(camera, vertices), height=camera.height, width=camera.width)
    if supersample == 1:
        image = shading(base)
        coverage = base.mask.astype(vertices.dtype)
    else:
        fine_camera = camera.resized(supersample)
        fine = raster(
            project(fine_camera, vertices), height=fine_camera.height, width=fine_camera.width
        )
        image = _average_pool(shading(fine), supersample)
        coverage = _average_pool(fine.mask.astype(vertices.dtype), supersample)
    depth = jnp.where(base.mask, base.depth, jnp.zeros_like(base.depth))
    return RenderOutput(
        image=image,
        depth=depth,
        mask=base.mask,
        coverage=coverage,
        triangle_id=base.triangle_id,
        barycentric=base.barycentric,
    )
