"""Histograms of oriented gradients (HOG) and bilinear patch sampling, in JAX.

:func:`hog` reproduces ``skimage.feature.hog`` for a grayscale float image with
``feature_vector=True`` and ``transform_sqrt=False`` (scikit-image 0.26,
``skimage/feature/_hog.py`` and ``_hoghistogram.pyx``), step by step:

1. gradients by central differences, ``g_row[r] = I[r + 1] - I[r - 1]`` and
   ``g_col[c] = I[:, c + 1] - I[:, c - 1]``, set to zero on the first and last row (column);
2. magnitude ``hypot(g_col, g_row)`` and unsigned orientation
   ``theta = degrees(arctan2(g_row, g_col)) mod 180`` (in [0, 180));
3. hard binning, no interpolation: a pixel votes into bin ``i`` when
   ``180 i / n <= theta < 180 (i + 1) / n``, so an orientation exactly on a bin edge belongs to the
   upper bin; cells tile the image from its top-left corner and the last
   ``H mod pixels_per_cell[0]`` rows (columns likewise) belong to no cell; a cell's histogram is the
   *mean* over its pixels (the vote sum divided by the cell's pixel count);
4. every block of ``cells_per_block`` cells, at every cell offset (stride one cell), normalised with
   ``eps = 1e-5``: ``L1`` ``v / (|v|_1 + eps)``, ``L1-sqrt`` its square root, ``L2``
   ``v / sqrt(|v|_2^2 + eps^2)``, ``L2-Hys`` that clipped at 0.2 and renormalised the same way;
5. flattened in the order (block row, block column, cell row, cell column, orientation).

Near a bin edge the bin depends on rounding, and it is reproduced as skimage rounds: skimage always
bins in float64 (its gradients are cast to float64 after they are formed in the image's dtype).
A float64 patch is binned with skimage's own formula, ``arctan2(g_row, g_col) * (180 / pi) % 180``
against the edges ``(180 / n) * i``, so near-ties (gradients at 45 degrees up to an ulp, common in
quantised images) round the same way. A float32 (or narrower) patch is binned without the
arctangent, whose float32 rounding would move near-ties onto the edge: the gradient is folded into
the upper half-plane and compared with each edge by the sign of a 2D cross product, exact for the
edges at 45, 90 and 135 degrees (written as exact direction vectors) and off skimage's float64
decision only within about 1e-7 rad of another edge. The one difference left: skimage rounds an
orientation within half an ulp below 180 degrees up to 180.0 and then drops that pixel from every
bin; the float32 path votes it into the last bin (this needs ``|g_row| < 1e-16 |g_col|``).
Cell sums (a scatter-add, several times faster on CPU than summing one-hot votes) are formed in
the patch's dtype; skimage accumulates them in float32 whatever the input (``cdef float total``),
which puts its float64 results about 1e-8 (relative) away from exact ones.

:func:`extract_patches` samples square patches at sub-pixel centres by bilinear interpolation; with
integer centres and unit spacing it reproduces plain crops exactly.

Pixel-centre conventions (those of :mod:`aujax.geometry`): ``convention="pinhole"`` (default) puts
pixel ``(row, col)`` at ``(x, y) = (col, row)``: :class:`aujax.geometry.Camera`, ``.lm2`` files
and the landmark files of BP4D and DISFA; ``convention="ortho"`` puts it at
``(col + 0.5, row + 0.5)``: :class:`aujax.geometry.OrthoCamera`, :func:`aujax.geometry.project`
and the rasterizer of :mod:`aujax.render`.
"""

import functools
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._checks import check_finite, check_scalar_positive


__all__ = ["BLOCK_NORMS", "extract_patches", "hog", "hog_shape", "hog_size"]

BLOCK_NORMS = ("L1", "L1-sqrt", "L2", "L2-Hys")
"""Block normalisations of :func:`hog` (those of ``skimage.feature.hog``)."""

_EPS = 1e-5  # skimage's `_hog_normalize_block` eps
_HYS_CLIP = 0.2
_CONVENTIONS = {"pinhole": 0.0, "ortho": 0.5}


def _pair(value, name: str) -> tuple[int, int]:
    """``value`` as a pair of positive Python ints, or a ValueError naming ``name``."""
    try:
        a, b = value
        pair = (int(a), int(b))
        ok = pair == (a, b) and min(pair) >= 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{name} must be a pair of positive integers, got {value!r}.")
    return pair


def _check_hyper(orientations, pixels_per_cell, cells_per_block, block_norm):
    if isinstance(orientations, bool) or not isinstance(orientations, int | np.integer):
        raise ValueError(f"orientations must be a positive integer, got {orientations!r}.")
    if orientations < 1:
        raise ValueError(f"orientations must be a positive integer, got {orientations!r}.")
    if block_norm not in BLOCK_NORMS:
        raise ValueError(f"block_norm must be one of {BLOCK_NORMS}, got {block_norm!r}.")
    return (
        int(orientations),
        _pair(pixels_per_cell, "pixels_per_cell"),
        _pair(cells_per_block, "cells_per_block"),
    )


def hog_shape(
    height: int,
    width: int,
    *,
    orientations: int = 9,
    pixels_per_cell: tuple[int, int] = (8, 8),
    cells_per_block: tuple[int, int] = (2, 2),
) -> tuple[int, int, int, int, int]:
    """The unflattened shape of the HOG of a ``height`` x ``width`` image.

    Args:
        height: image rows.
        width: image columns.
        orientations: orientation bins over [0, 180) degrees.
        pixels_per_cell: (rows, columns) of a cell.
        cells_per_block: (rows, columns) of cells in a block.

    Returns:
        ``(n_blocks_row, n_blocks_col, cells_per_block[0], cells_per_block[1], orientations)``.

    Raises:
        ValueError: a malformed hyper-parameter, or an image smaller than one block.
    """
    n, (c_row, c_col), (b_row, b_col) = _check_hyper(
        orientations, pixels_per_cell, cells_per_block, "L2"
    )
    n_blocks_row = height // c_row - b_row + 1
    n_blocks_col = width // c_col - b_col + 1
    if n_blocks_row <= 0 or n_blocks_col <= 0:
        raise ValueError(
            f"a {height} x {width} patch is too small for pixels_per_cell {(c_row, c_col)} and "
            f"cells_per_block {(b_row, b_col)}: it needs at least {b_row * c_row} rows and "
            f"{b_col * c_col} columns."
        )
    return n_blocks_row, n_blocks_col, b_row, b_col, n


def hog_size(
    height: int,
    width: int,
    *,
    orientations: int = 9,
    pixels_per_cell: tuple[int, int] = (8, 8),
    cells_per_block: tuple[int, int] = (2, 2),
) -> int:
    """Length of the HOG feature vector of a ``height`` x ``width`` image (see :func:`hog_shape`)."""
    shape = hog_shape(
        height,
        width,
        orientations=orientations,
        pixels_per_cell=pixels_per_cell,
        cells_per_block=cells_per_block,
    )
    return int(np.prod(shape))


@functools.lru_cache(maxsize=64)
def _edge_directions(orientations: int) -> np.ndarray:
    """(orientations - 1, 2) direction vectors ``(cos, sin)`` of the inner bin edges.

    The edges are skimage's ``(180 / n) * i`` degrees; edges at exactly 45, 90 and 135 degrees get
    exact (unnormalised) direction vectors, so that gradients on them tie exactly (a cross product
    of zero) and go to the upper bin, as in skimage.
    """
    exact = {45.0: (1.0, 1.0), 90.0: (0.0, 1.0), 135.0: (-1.0, 1.0)}
    width = 180.0 / orientations
    edges = []
    for i in range(1, orientations):
        deg = width * i
        if deg in exact:
            edges.append(exact[deg])
        else:
            rad = np.deg2rad(deg)
            edges.append((np.cos(rad), np.sin(rad)))
    return np.asarray(edges, dtype=np.float64).reshape(orientations - 1, 2)


def _bins(g_row: Array, g_col: Array, n: int) -> Array:
    """(rows, cols) int32 orientation bin of each pixel in [0, n); ``n`` for no bin.

    float64: skimage's formula and edge comparisons (a pixel at exactly 180 degrees gets ``n``);
    narrower floats: the fold into the upper half-plane and cross products with the edge
    directions (module docstring).
    """
    width = 180.0 / n
    if g_row.dtype == jnp.float64:
        theta = jnp.arctan2(g_row, g_col) * (180 / np.pi) % 180
        bins = jnp.full(theta.shape, n, dtype=jnp.int32)
        for i in range(n):
            bins = jnp.where((theta >= width * i) & (theta < width * (i + 1)), i, bins)
        return bins
    flip = (g_row < 0) | ((g_row == 0) & (g_col < 0))
    gx = jnp.where(flip, -g_col, g_col)
    gy = jnp.where(flip, -g_row, g_row)
    bins = jnp.zeros(gx.shape, dtype=jnp.int32)
    for cos, sin in _edge_directions(n).tolist():  # exact Python floats: weak-typed scalars
        bins = bins + (cos * gy - sin * gx >= 0).astype(jnp.int32)
    return bins


def _normalize_blocks(blocks: Array, method: str) -> Array:
    """skimage's ``_hog_normalize_block`` over the last three axes (cell row, col, bin)."""
    axes = (-3, -2, -1)
    if method in ("L1", "L1-sqrt"):
        out = blocks / (jnp.sum(jnp.abs(blocks), axis=axes, keepdims=True) + _EPS)
        return jnp.sqrt(out) if method == "L1-sqrt" else out
    out = blocks / jnp.sqrt(jnp.sum(blocks**2, axis=axes, keepdims=True) + _EPS**2)
    if method == "L2-Hys":
        out = jnp.minimum(out, _HYS_CLIP)
        out = out / jnp.sqrt(jnp.sum(out**2, axis=axes, keepdims=True) + _EPS**2)
    return out


def hog(
    patch: Float[ArrayLike, "H W"],
    *,
    orientations: int = 9,
    pixels_per_cell: tuple[int, int] = (8, 8),
    cells_per_block: tuple[int, int] = (2, 2),
    block_norm: str = "L2-Hys",
) -> Float[Array, " F"]:
    r"""Histogram of oriented gradients of one grayscale image, as ``skimage.feature.hog``.

    The steps and the one known difference are in the module docstring; per block ``v`` (the
    ``cells_per_block`` cell histograms), ``L2-Hys`` is

    .. math::

        v' = \min\Big(\frac{v}{\sqrt{\|v\|_2^2 + \epsilon^2}}, 0.2\Big), \qquad
        \hat v = \frac{v'}{\sqrt{\|v'\|_2^2 + \epsilon^2}}, \qquad \epsilon = 10^{-5}.

    This is the feature ``h_i`` of a landmark patch in eq. (10) of seed 004. Write for one patch;
    ``jax.vmap`` it over patches and images (the hyper-parameters are static).

    Args:
        patch: (H, W) grayscale image, floating point; computed in its dtype (float16 and
            bfloat16 in float32, integers in JAX's default float).
        orientations: orientation bins over [0, 180) degrees (unsigned gradients).
        pixels_per_cell: (rows, columns) of a cell.
        cells_per_block: (rows, columns) of cells in a block.
        block_norm: one of ``"L1"``, ``"L1-sqrt"``, ``"L2"``, ``"L2-Hys"``.

    Returns:
        (F,) feature vector, ``F = n_blocks_row * n_blocks_col * cells_per_block[0] *
        cells_per_block[1] * orientations`` (:func:`hog_size`), in the computation dtype.

    Raises:
        ValueError: ``patch`` not 2D or not real, a malformed hyper-parameter, or a patch
            smaller than one block.
    """
    patch = jnp.asarray(patch)
    if patch.ndim != 2:
        raise ValueError(
            f"patch must be a 2D (H, W) grayscale image, got shape {patch.shape}; vmap over "
            "patches, and convert colour images to grayscale first."
        )
    if not jnp.issubdtype(patch.dtype, jnp.floating):
        if not jnp.issubdtype(patch.dtype, jnp.integer):
            raise ValueError(f"patch must hold real numbers, got dtype {patch.dtype}.")
        patch = patch.astype(jnp.result_type(float))
    if patch.dtype not in (jnp.float32, jnp.float64):  # float16, bfloat16: as skimage, in float32
        patch = patch.astype(jnp.float32)
    n, (c_row, c_col), (b_row, b_col) = _check_hyper(
        orientations, pixels_per_cell, cells_per_block, block_norm
    )
    height, width = patch.shape
    n_blocks_row, n_blocks_col, *_ = hog_shape(
        height, width, orientations=n, pixels_per_cell=(c_row, c_col),
        cells_per_block=(b_row, b_col),
    )  # fmt: skip
    dtype = patch.dtype

    # 1. central differences, zero on the border rows / columns
    g_row = jnp.zeros_like(patch).at[1:-1, :].set(patch[2:, :] - patch[:-2, :])
    g_col = jnp.zeros_like(patch).at[:, 1:-1].set(patch[:, 2:] - patch[:, :-2])
    rows, cols = (height // c_row) * c_row, (width // c_col) * c_col
    g_row, g_col = g_row[:rows, :cols], g_col[:rows, :cols]

    # 2. magnitude (with a gradient-safe square root); 3. bins; cell means of the magnitude votes
    sq = g_row * g_row + g_col * g_col
    nonzero = sq > 0
    magnitude = jnp.where(nonzero, jnp.sqrt(jnp.where(nonzero, sq, 1)), 0)
    bins = _bins(g_row, g_col, n)  # (rows, cols) int32 in [0, n]; n: no bin
    cell_of = (jnp.arange(rows, dtype=jnp.int32) // c_row)[:, None] * (cols // c_col) + (
        jnp.arange(cols, dtype=jnp.int32) // c_col
    )[None, :]
    n_cells = (rows // c_row) * (cols // c_col)
    cells = jax.ops.segment_sum(
        magnitude.reshape(-1), (cell_of * (n + 1) + bins).reshape(-1),
        num_segments=n_cells * (n + 1),
    )  # fmt: skip
    cells = cells.reshape(rows // c_row, cols // c_col, n + 1)[..., :n] / (c_row * c_col)

    # 4. blocks at every cell offset: (n_blocks_row, n_blocks_col, b_row, b_col, n)
    blocks = jnp.stack(
        [
            jnp.stack(
                [cells[i : i + n_blocks_row, j : j + n_blocks_col] for j in range(b_col)], axis=2
            )
            for i in range(b_row)
        ],
        axis=2,
    )
    return _normalize_blocks(blocks, block_norm).reshape(-1).astype(dtype)


def extract_patches(
    image: Float[ArrayLike, "H W"],
    centers: Float[ArrayLike, "L 2"],
    *,
    size: int,
    spacing: float | Float[ArrayLike, ""] = 1.0,
    convention: Literal["pinhole", "ortho"] = "pinhole",
    mode: Literal["edge", "constant"] = "edge",
    cval: float = 0.0,
) -> Float[Array, "L size size"]:
    r"""Square patches of ``image`` around sub-pixel centres, by bilinear interpolation.

    Sample ``(i, j)`` of patch ``l`` is the image at

    .. math::

        (x, y) = \big(x_l + (j - \lfloor s/2 \rfloor)\,\delta,\;
                       y_l + (i - \lfloor s/2 \rfloor)\,\delta\big)

    (``s = size``, ``delta = spacing``), so the centre is sample ``(s // 2, s // 2)``; with an
    integer centre at pixel ``(r, c)`` and ``spacing = 1`` the patch is exactly
    ``image[r - s // 2 : r - s // 2 + s, c - s // 2 : c - s // 2 + s]`` (beyond the border: see
    ``mode``). No anti-aliasing: for ``spacing`` well above 1, smooth or downsample the image
    first. Linear in ``image`` and piecewise linear in ``centers`` and ``spacing``, so it is
    differentiable in all three; it jits and vmaps over images.

    Args:
        image: (H, W) grayscale image.
        centers: (L, 2) patch centres ``(x, y)`` in pixels, ``x`` along a row (column direction),
            ``y`` down the image, in the pixel-centre ``convention``.
        size: patch side in samples (static), >= 1.
        spacing: distance between neighbouring samples in image pixels, > 0 (a scalar; may be
            traced).
        convention: ``"pinhole"``: pixel ``(row, col)`` is centred at ``(col, row)``
            (:class:`aujax.geometry.Camera`, ``.lm2``, BP4D / DISFA landmark files);
            ``"ortho"``: at ``(col + 0.5, row + 0.5)`` (:class:`aujax.geometry.OrthoCamera`,
            :func:`aujax.geometry.project`, the rasterizer).
        mode: outside the image, ``"edge"`` repeats the border pixels, ``"constant"`` reads
            ``cval``.
        cval: the value outside the image for ``mode="constant"``.

    Returns:
        (L, size, size) patches in the image's dtype (JAX's default float for integer images).

    Raises:
        ValueError: a malformed ``image`` or ``centers``, non-finite centres, ``size`` < 1,
            ``spacing`` <= 0, an unknown ``convention`` or ``mode``.
    """
    image = jnp.asarray(image)
    if image.ndim != 2:
        raise ValueError(
            f"image must be a 2D (H, W) grayscale image, got shape {image.shape}; vmap over "
            "images, and convert colour images to grayscale first."
        )
    if not jnp.issubdtype(image.dtype, jnp.floating):
        if not jnp.issubdtype(image.dtype, jnp.integer):
            raise ValueError(f"image must hold real numbers, got dtype {image.dtype}.")
        image = image.astype(jnp.result_type(float))
    dtype = image.dtype
    centers = jnp.asarray(centers)
    if centers.ndim != 2 or centers.shape[1] != 2:
        raise ValueError(f"centers must have shape (L, 2) (x, y pixels), got {centers.shape}.")
    if not (
        jnp.issubdtype(centers.dtype, jnp.floating) or jnp.issubdtype(centers.dtype, jnp.integer)
    ):
        raise ValueError(f"centers must hold real numbers, got dtype {centers.dtype}.")
    check_finite(centers, "centers")
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}.")
    if jnp.ndim(spacing) != 0:
        raise ValueError(f"spacing must be a scalar, got shape {jnp.shape(spacing)}.")
    check_scalar_positive(spacing, "spacing")
    if convention not in _CONVENTIONS:
        raise ValueError(f"convention must be 'pinhole' or 'ortho', got {convention!r}.")
    if mode not in ("edge", "constant"):
        raise ValueError(f"mode must be 'edge' or 'constant', got {mode!r}.")

    centers = centers.astype(dtype) - _CONVENTIONS[convention]  # to pixel-index coordinates
    fill = jnp.asarray(cval, dtype)
    if isinstance(spacing, int | float) and spacing == 1:
        return _patches_unit(image, centers, size=size, mode=mode, fill=fill)
    return _patches_spaced(image, centers, size=size, spacing=spacing, mode=mode, fill=fill)


def _patches_unit(image: Array, centers: Array, *, size: int, mode: str, fill: Array) -> Array:
    """Unit spacing: one (size + 1)^2 window per patch from a padded image, then bilinear.

    The image is padded by ``size + 1`` pixels; a window that would start beyond the padding is
    clamped to one that lies wholly outside the image, which holds the same values, so any centre
    is handled exactly.
    """
    pad = size + 1
    if mode == "edge":
        padded = jnp.pad(image, pad, mode="edge")
    else:
        padded = jnp.pad(image, pad, mode="constant", constant_values=fill)
    # the last window start along (x, y); clamped here (dynamic_slice would wrap negative starts)
    last = jnp.asarray(padded.shape[::-1], dtype=centers.dtype) - (size + 1)

    def one(center):
        whole = jnp.floor(center)
        frac = center - whole
        start = jnp.clip(whole - size // 2 + pad, 0, last).astype(jnp.int32)
        v = jax.lax.dynamic_slice(padded, (start[1], start[0]), (size + 1, size + 1))
        fx, fy = frac[0], frac[1]
        top = v[:size, :size] * (1 - fx) + v[:size, 1:] * fx
        bottom = v[1:, :size] * (1 - fx) + v[1:, 1:] * fx
        return top * (1 - fy) + bottom * fy

    return jax.vmap(one)(centers)


def _patches_spaced(
    image: Array, centers: Array, *, size: int, spacing, mode: str, fill: Array
) -> Array:
    """Any spacing (may be traced): separable bilinear interpolation, rows first."""
    height, width = image.shape
    dtype = image.dtype
    offsets = (jnp.arange(size, dtype=dtype) - size // 2) * jnp.asarray(spacing, dtype)

    def taps(c, n):
        p = c + offsets
        p0 = jnp.floor(p)
        i0 = jnp.clip(p0, -2, n).astype(jnp.int32)  # beyond: the same values; no int overflow
        i1 = i0 + 1
        inside = ((i0 >= 0) & (i0 <= n - 1), (i1 >= 0) & (i1 <= n - 1))
        return jnp.clip(i0, 0, n - 1), jnp.clip(i1, 0, n - 1), inside, p - p0

    def one(center):
        c0, c1, col_in, fx = taps(center[0], width)
        r0, r1, row_in, fy = taps(center[1], height)
        a, b = jnp.take(image, r0, axis=0), jnp.take(image, r1, axis=0)  # (size, W)
        if mode == "constant":
            a = jnp.where(row_in[0][:, None], a, fill)
            b = jnp.where(row_in[1][:, None], b, fill)
        rows = a * (1 - fy)[:, None] + b * fy[:, None]
        left, right = jnp.take(rows, c0, axis=1), jnp.take(rows, c1, axis=1)  # (size, size)
        if mode == "constant":
            left = jnp.where(col_in[0][None, :], left, fill)
            right = jnp.where(col_in[1][None, :], right, fill)
        return left * (1 - fx)[None, :] + right * fx[None, :]

    return jax.vmap(one)(centers)
