"""Rotated square regions of interest: crops into network inputs and points back to the image.

A :class:`Roi` is MediaPipe's ``NormalizedRect`` in pixels: a square of side ``size`` centred at
``(cx, cy)`` and rotated by ``angle`` (radians, counter-clockwise as seen in the image, i.e.
the crop's x axis points along ``(cos a, -sin a)`` in image coordinates with y down). Crops are
sampled bilinearly at pixel centres, like OpenCV's ``warpAffine`` that MediaPipe uses, with the
border replicated (mesh) or filled (detector letterbox).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jaxtyping import Array, Float


@struct.dataclass
class Roi:
    """A batch of rotated squares in image pixels.

    Attributes:
        center: (..., 2) centre (x, y), pixels.
        size: (...,) side length, pixels.
        angle: (...,) rotation, radians (see the module docstring).
    """

    center: Float[Array, "... 2"]
    size: Float[Array, "..."]
    angle: Float[Array, "..."]


def _axes(angle):
    c, s = jnp.cos(angle), jnp.sin(angle)
    # crop x axis and crop y axis, in image coordinates (y down).
    return jnp.stack([c, -s], -1), jnp.stack([s, c], -1)


def crop_to_image(roi: Roi, points: Float[Array, "... k 2"], out_size: int) -> Array:
    """Maps crop pixel coordinates (``out_size`` x ``out_size`` crop) to image pixels."""
    ax, ay = _axes(roi.angle)
    u = points / out_size - 0.5  # [-0.5, 0.5] across the crop
    scale = roi.size[..., None, None]
    return (
        roi.center[..., None, :]
        + scale * u[..., :1] * ax[..., None, :]
        + scale * u[..., 1:2] * ay[..., None, :]
    )


def image_to_crop(roi: Roi, points: Float[Array, "... k 2"], out_size: int) -> Array:
    """Inverse of :func:`crop_to_image`."""
    ax, ay = _axes(roi.angle)
    d = points - roi.center[..., None, :]
    u = jnp.stack([(d * ax[..., None, :]).sum(-1), (d * ay[..., None, :]).sum(-1)], -1)
    return (u / roi.size[..., None, None] + 0.5) * out_size


@functools.partial(jax.jit, static_argnames=("out_size", "replicate"))
def crop(
    image: Float[Array, "h w c"],
    roi: Roi,
    *,
    out_size: int,
    replicate: bool = True,
    fill=0.0,
    hw: Array | None = None,
) -> Float[Array, "b out_size out_size c"]:
    """Samples the rotated squares ``roi`` (a batch) of ``image`` into square crops.

    Args:
        image: (H, W, C) float image; may be padded beyond its valid part (see ``hw``), so that
            images of many sizes share one compiled program.
        roi: a batch of B regions.
        out_size: crop side in pixels.
        replicate: replicate the border (else fill with ``fill``).
        fill: value outside the image when ``replicate`` is False.
        hw: (2,) valid height and width of ``image`` (default: its shape).

    Returns:
        (B, out_size, out_size, C) crops; pixel (i, j) of a crop samples the image at the
        point of crop coordinates (j + 0.5, i + 0.5).
    """
    g = jnp.arange(out_size, dtype=jnp.float32) + 0.5
    grid = jnp.stack(jnp.meshgrid(g, g, indexing="xy"), -1).reshape(1, -1, 2)
    grid = jnp.broadcast_to(grid, (roi.size.shape[0], *grid.shape[1:]))
    pts = crop_to_image(roi, grid, out_size) - 0.5  # to pixel-index coordinates
    h, w = (image.shape[0], image.shape[1]) if hw is None else (hw[0], hw[1])

    def sample(p):
        x, y = p[..., 0], p[..., 1]
        x0, y0 = jnp.floor(x), jnp.floor(y)
        fx, fy = (x - x0)[..., None], (y - y0)[..., None]

        def at(yy, xx):
            inside = (xx >= 0) & (xx <= w - 1) & (yy >= 0) & (yy <= h - 1)
            iy = jnp.clip(yy, 0, h - 1).astype(jnp.int32)
            v = image[iy, jnp.clip(xx, 0, w - 1).astype(jnp.int32)]
            return v if replicate else jnp.where(inside[..., None], v, fill)

        top = at(y0, x0) * (1 - fx) + at(y0, x0 + 1) * fx
        bottom = at(y0 + 1, x0) * (1 - fx) + at(y0 + 1, x0 + 1) * fx
        return top * (1 - fy) + bottom * fy

    out = jax.vmap(sample)(pts)  # (B, out*out, C)
    return out.reshape(pts.shape[0], out_size, out_size, image.shape[-1])


def letterbox(height: int, width: int) -> Roi:
    """The square (side = the long side) centred on the image: MediaPipe's keep-aspect input."""
    side = float(max(height, width))
    return Roi(
        center=np.asarray([[width / 2.0, height / 2.0]], np.float32),
        size=np.asarray([side], np.float32),
        angle=np.zeros((1,), np.float32),
    )


def roi_from_box(
    lo: Float[Array, "b 2"],
    hi: Float[Array, "b 2"],
    eye_a: Float[Array, "b 2"],
    eye_b: Float[Array, "b 2"],
    *,
    scale: float = 1.5,
) -> Roi:
    """MediaPipe's face ROI: a box, turned so that ``eye_a -> eye_b`` is level, squared and scaled.

    ``DetectionsToRectsCalculator`` (rotation vector from ``eye_a`` to ``eye_b``, target angle 0)
    followed by ``RectTransformationCalculator`` (``scale_x = scale_y = scale``, ``square_long``).
    The box is axis-aligned in the image (MediaPipe takes it before rotating too): a
    detection's box, or the bounding box of the previous frame's landmarks when tracking.

    Args:
        lo, hi: (B, 2) box corners (x, y), pixels.
        eye_a, eye_b: (B, 2) the subject's right and left eye (image left and right when
            frontal): BlazeFace keypoints 0 and 1, or face-mesh vertices 33 and 263.
        scale: enlargement of the long side.
    """
    # host-side NumPy: a handful of numbers per frame, not worth device dispatches
    d = np.asarray(eye_b, np.float32) - np.asarray(eye_a, np.float32)
    lo, hi = np.asarray(lo, np.float32), np.asarray(hi, np.float32)
    return Roi(
        center=(lo + hi) / 2,
        size=(hi - lo).max(-1) * np.float32(scale),
        angle=np.arctan2(-d[:, 1], d[:, 0]),
    )
