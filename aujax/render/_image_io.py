"""Image output helpers: uint8 conversion, PNG files, labelled contact sheets, landmarks."""

import os
from collections.abc import Sequence

import numpy as np
from jaxtyping import ArrayLike
from PIL import Image, ImageDraw, ImageFont


def _as_hwc(image: ArrayLike, name: str = "image") -> np.ndarray:
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise ValueError(
            f"{name} must have shape (H, W) or (H, W, C) with C in 1, 3, 4, got {array.shape}"
        )
    return array


def to_uint8(image: ArrayLike) -> np.ndarray:
    """Converts an image to uint8.

    Args:
        image: (H, W) or (H, W, C) array: floats in [0, 1] (clipped, then rounded from
            ``255 x``), or uint8 (returned unchanged).

    Returns:
        (H, W, C) uint8 array (a 2-D input gets C = 1).
    """
    array = _as_hwc(image)
    if array.dtype == np.uint8:
        return array
    if np.issubdtype(array.dtype, np.bool_):
        return array.astype(np.uint8) * 255
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"image must be a float array in [0, 1] or uint8, got dtype {array.dtype}")
    if np.isnan(array).any():
        raise ValueError("image contains NaN values")
    return np.round(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)


def _to_pil(image: ArrayLike) -> Image.Image:
    array = to_uint8(image)
    channels = array.shape[2]
    if channels == 1:
        return Image.fromarray(array[:, :, 0])
    return Image.fromarray(array)


def save_png(path: str | os.PathLike, image: ArrayLike) -> None:
    """Writes an image as PNG (grayscale, RGB or RGBA by channel count).

    Args:
        path: output file; missing parent folders are created.
        image: (H, W) or (H, W, C) float image in [0, 1] or uint8, C in {1, 3, 4}.
    """
    pil = _to_pil(image)
    directory = os.path.dirname(os.fspath(path))
    if directory:
        os.makedirs(directory, exist_ok=True)
    pil.save(path, format="PNG")


def contact_sheet(
    images: Sequence[ArrayLike],
    *,
    ncols: int,
    labels: Sequence[str] | None = None,
    pad: int = 4,
    background: int = 255,
) -> np.ndarray:
    """Tiles images into one RGB grid, optionally with a text label under each tile.

    Tiles may differ in size; each sits at the top-left of a cell as large as the largest
    tile, with its label just below it. Grayscale tiles are repeated to RGB; an alpha
    channel is dropped.

    Args:
        images: list of (H, W) or (H, W, C) float images in [0, 1] or uint8.
        ncols: number of columns (>= 1).
        labels: one string per image, drawn in black with PIL's default font; or None.
        pad: pixels between and around cells (>= 0).
        background: gray level (0..255) of the sheet.

    Returns:
        (rows x cell height, ncols x cell width, 3) uint8 sheet including padding.
    """
    if len(images) == 0:
        raise ValueError("images must be a non-empty list of images")
    if isinstance(ncols, bool) or not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols must be a positive int, got {ncols!r}")
    if isinstance(pad, bool) or not isinstance(pad, int) or pad < 0:
        raise ValueError(f"pad must be a non-negative int, got {pad!r}")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"labels must have one entry per image ({len(images)}), got {len(labels)}")
    tiles = []
    for i, image in enumerate(images):
        tile = to_uint8(_as_hwc(image, name=f"images[{i}]"))[:, :, :3]
        tiles.append(np.repeat(tile, 3, axis=2) if tile.shape[2] == 1 else tile)
    tile_h = max(t.shape[0] for t in tiles)
    tile_w = max(t.shape[1] for t in tiles)
    font = ImageFont.load_default()
    label_h = 0
    if labels is not None:
        label_h = max(font.getbbox(str(label) or " ")[3] for label in labels) + 2
    cell_h, cell_w = tile_h + label_h, tile_w
    nrows = -(-len(tiles) // ncols)
    sheet_h = nrows * cell_h + (nrows + 1) * pad
    sheet_w = ncols * cell_w + (ncols + 1) * pad
    sheet = np.full((sheet_h, sheet_w, 3), background, dtype=np.uint8)
    label_origins = []
    for i, tile in enumerate(tiles):
        row, col = divmod(i, ncols)
        top, left = pad + row * (cell_h + pad), pad + col * (cell_w + pad)
        sheet[top : top + tile.shape[0], left : left + tile.shape[1]] = tile
        label_origins.append((left, top + tile.shape[0] + 1))
    if labels is None:
        return sheet
    pil = Image.fromarray(sheet)
    draw = ImageDraw.Draw(pil)
    for origin, label in zip(label_origins, labels, strict=True):
        draw.text(origin, str(label), fill=(0, 0, 0), font=font)
    return np.asarray(pil).copy()


def draw_points(
    image: ArrayLike,
    points_uv: ArrayLike,
    *,
    color: float | Sequence[float] | None = None,
    radius: float = 1.0,
) -> np.ndarray:
    """Overlays filled discs (e.g. landmarks) on a copy of an image.

    A pixel is painted when its centre ``(col + 0.5, row + 0.5)`` lies within ``radius``
    of a point (the pixel containing a point is always painted). Points with a NaN
    coordinate (e.g. dropped landmarks) are skipped.

    Args:
        image: (H, W) or (H, W, C) image, float or uint8.
        points_uv: (k, 2) pixel coordinates (u right, v down), as returned by
            ``aujax.geometry.project``.
        color: a scalar or C values, in the image's range (0..1 for floats, 0..255 for
            uint8); default the maximum (white).
        radius: disc radius in pixels (>= 0).

    Returns:
        (H, W, C) NumPy array of the image's dtype (a 2-D image gets C = 1).
    """
    array = _as_hwc(image).copy()
    points = np.asarray(points_uv, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points_uv must have shape (k, 2), got {points.shape}")
    if not radius >= 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    channels = array.shape[2]
    if color is None:
        color = 255 if array.dtype == np.uint8 else 1.0
    color = np.asarray(color, dtype=np.float64).reshape(-1)
    if color.size == 1:
        color = np.repeat(color, channels)
    if color.size != channels:
        raise ValueError(
            f"color must be a scalar or have {channels} values to match the image, "
            f"got {color.size} values"
        )
    points = points[~np.isnan(points).any(axis=1)]
    if points.shape[0] == 0:
        return array
    height, width = array.shape[:2]
    rows = np.arange(height)[None, :, None] + 0.5
    cols = np.arange(width)[None, None, :] + 0.5
    dist2 = (cols - points[:, 0, None, None]) ** 2 + (rows - points[:, 1, None, None]) ** 2
    hit = (dist2 <= radius**2).any(axis=0)
    col_idx = np.floor(points[:, 0]).astype(np.int64)
    row_idx = np.floor(points[:, 1]).astype(np.int64)
    inside = (col_idx >= 0) & (col_idx < width) & (row_idx >= 0) & (row_idx < height)
    hit[row_idx[inside], col_idx[inside]] = True
    array[hit] = color.astype(array.dtype)
    return array
