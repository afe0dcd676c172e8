"""BlazeFace face detection: SSD anchors, box/keypoint decoding and weighted NMS (MediaPipe).

The networks are the converted MediaPipe models (:mod:`._networks`); this module is MediaPipe's
``SsdAnchorsCalculator``, ``TensorsToDetectionsCalculator`` and ``NonMaxSuppressionCalculator``
with the options of ``face_detection_short_range.pbtxt`` / ``face_detection_full_range.pbtxt``:

==========================  =============================  ===========================
option                      short range                    full range
==========================  =============================  ===========================
input                       128 x 128                      192 x 192
strides (layers)            8, 16, 16, 16                  4
anchors per cell            2 (ratio 1 + interpolated)     1
anchors                     896                            2304
min score                   0.5                            0.6
==========================  =============================  ===========================

Both: ``fixed_anchor_size`` (every anchor 1 x 1), offsets 0.5, 16 regressors per anchor
(box centre x, y, width, height, then six keypoints x, y: the subject's right eye, left eye, nose
tip, mouth centre, right tragion, left tragion), scores ``sigmoid(clip(logit, -100, 100))``,
weighted non-maximum suppression with IoU threshold 0.3. Decoding is vectorised in JAX; the
suppression, sequential by nature and over a handful of candidates, runs in NumPy.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float


@dataclasses.dataclass(frozen=True)
class DetectorSpec:
    """Options of one BlazeFace model (see the module docstring)."""

    network: str
    size: int
    strides: tuple[int, ...]
    interpolated: bool
    min_score: float
    nms_iou: float = 0.3


DETECTORS = {
    "short_range": DetectorSpec("short_range", 128, (8, 16, 16, 16), True, 0.5),
    "full_range": DetectorSpec("full_range", 192, (4,), False, 0.6),
}


def ssd_anchors(spec: DetectorSpec) -> np.ndarray:
    """(N, 2) anchor centres in [0, 1] (``SsdAnchorsCalculator``, fixed anchor size).

    Consecutive layers with the same stride share one feature map; each layer contributes one
    anchor per cell, plus one for the interpolated scale when enabled.
    """
    out = []
    layer = 0
    while layer < len(spec.strides):
        stride = spec.strides[layer]
        per_cell = 0
        while layer < len(spec.strides) and spec.strides[layer] == stride:
            per_cell += 2 if spec.interpolated else 1
            layer += 1
        n = int(np.ceil(spec.size / stride))
        y, x = np.meshgrid((np.arange(n) + 0.5) / n, (np.arange(n) + 0.5) / n, indexing="ij")
        cells = np.stack([x.ravel(), y.ravel()], -1)
        out.append(np.repeat(cells, per_cell, axis=0))
    return np.concatenate(out).astype(np.float32)


def decode_detections(
    regressors: Float[Array, "... n 16"], logits: Float[Array, "... n 1"], spec: DetectorSpec
) -> tuple[Array, Array, Array]:
    """Boxes, keypoints and scores of every anchor, in the network input's unit square.

    Returns:
        boxes: (..., N, 4) as (x_min, y_min, x_max, y_max);
        keypoints: (..., N, 6, 2);
        scores: (..., N) in (0, 1).
    """
    r = regressors / spec.size
    lead = (1,) * (r.ndim - 2)
    anchors = jnp.asarray(ssd_anchors(spec)).reshape(*lead, -1, 2)
    centre = r[..., :2] + anchors
    half = r[..., 2:4] / 2
    boxes = jnp.concatenate([centre - half, centre + half], -1)
    keypoints = r[..., 4:].reshape(*r.shape[:-1], 6, 2) + anchors[..., None, :]
    scores = 1.0 / (1.0 + jnp.exp(-jnp.clip(logits[..., 0], -100.0, 100.0)))
    return boxes, keypoints, scores


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of one (4,) box with (M, 4) boxes (x_min, y_min, x_max, y_max)."""
    lo = np.maximum(box[:2], boxes[:, :2])
    hi = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), -1)
    area = lambda b: np.prod(np.clip(b[..., 2:] - b[..., :2], 0, None), -1)
    return inter / np.maximum(area(box) + area(boxes) - inter, 1e-12)


def weighted_nms(
    boxes: np.ndarray,
    keypoints: np.ndarray,
    scores: np.ndarray,
    *,
    min_score: float,
    iou_threshold: float = 0.3,
) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """MediaPipe's ``WEIGHTED`` non-maximum suppression.

    Candidates above ``min_score`` are taken best first; each takes every remaining candidate
    that overlaps it by more than ``iou_threshold`` and becomes the score-weighted mean of their
    boxes and keypoints, keeping its own score.

    Returns:
        [(box (4,), keypoints (6, 2), score)], best first.
    """
    keep = np.flatnonzero(scores >= min_score)
    order = keep[np.argsort(-scores[keep], kind="stable")]
    out = []
    while order.size:
        best = order[0]
        overlap = iou(boxes[best], boxes[order]) > iou_threshold
        group = order[overlap]
        w = scores[group][:, None]
        box = (boxes[group] * w).sum(0) / w.sum()
        kps = (keypoints[group] * w[:, :, None]).sum(0) / w.sum()
        out.append((box, kps, float(scores[best])))
        order = order[~overlap]
    return out
