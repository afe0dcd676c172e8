"""The face front end: BlazeFace detection, face-mesh landmarks, video tracking (MediaPipe's
face-mesh pipeline, in JAX).

Image mode (``FaceFrontEnd.faces``): detect faces on the letterboxed image (and, for faces too
small for the detector's input, on overlapping zoomed tiles), turn each detection into a
rotation-normalised ROI (eyes level, box x 1.5, squared), crop it to 192 x 192 and run the mesh;
landmarks go back to image pixels through the ROI. Faces whose mesh flag is below
``min_presence`` are dropped.

Video mode (``FaceFrontEnd.track``): as MediaPipe's face mesh in video mode — the previous
frame's landmarks place the next crop (bounding box of the 468 points, eyes 33 -> 263 level,
x 1.5, squared), and the detector runs again only when a face is lost (flag < ``min_presence``)
or fewer than ``max_faces`` are tracked.

Landmarks are (x, y, z) in image pixels: z is the mesh's relative depth (smaller = nearer the
camera), scaled like x.
"""

from __future__ import annotations

import dataclasses
import functools
import time

import jax
import jax.numpy as jnp
import numpy as np

from ._blazeface import DETECTORS, decode_detections, iou, weighted_nms
from ._networks import load_network
from ._roi import Roi, crop, crop_to_image, letterbox, roi_from_box


MESH_SIZE = 192
EYE_OUTER = (33, 263)  # face-mesh vertices: the subject's right and left outer eye corners


@dataclasses.dataclass(frozen=True)
class Face:
    """One face found in an image.

    Attributes:
        box: (4,) detection or landmark box (x_min, y_min, x_max, y_max), pixels.
        score: detector score (1.0 for a tracked face).
        landmarks: (468, 3) face-mesh points (x, y, z), pixels.
        presence: face-mesh face flag, in (0, 1).
        roi: the crop the mesh ran on.
        face_id: the track's id in a video (:meth:`FaceFrontEnd.track`); -1 in an image.
    """

    box: np.ndarray
    score: float
    landmarks: np.ndarray
    presence: float
    roi: tuple[float, float, float, float]  # cx, cy, size, angle
    face_id: int = -1


@functools.partial(jax.jit, static_argnames=("network",))
def _run_detector(image: jax.Array, hw: jax.Array, roi: Roi, *, network: str):
    spec = DETECTORS[network]
    image = image.astype(jnp.float32)
    x = crop(image, roi, out_size=spec.size, replicate=False, fill=0.0, hw=hw) / 127.5 - 1.0
    regressors, logits = load_network(network)(x)
    boxes, keypoints, scores = decode_detections(regressors, logits, spec)
    # back to image pixels through each ROI (unit square -> crop of size 1)
    corners = crop_to_image(roi, boxes.reshape(boxes.shape[0], -1, 2), 1)  # (lo, hi) pairs
    kps = crop_to_image(roi, keypoints.reshape(keypoints.shape[0], -1, 2), 1)
    return corners.reshape(boxes.shape), kps.reshape(keypoints.shape), scores


@jax.jit
def _run_mesh(image: jax.Array, hw: jax.Array, roi: Roi):
    image = image.astype(jnp.float32)
    x = crop(image, roi, out_size=MESH_SIZE, replicate=True, hw=hw) / 255.0
    raw, flag = load_network("face_mesh")(x)
    raw = raw.reshape(-1, 468, 3)
    xy = crop_to_image(roi, raw[..., :2], MESH_SIZE)
    z = raw[..., 2:] / MESH_SIZE * roi.size[:, None, None]
    return jnp.concatenate([xy, z], -1), jax.nn.sigmoid(flag.reshape(-1))


def _tiles(height: int, width: int, zoom: int) -> Roi:
    """Overlapping square tiles of side ``long side / zoom`` (stride half a tile)."""
    side = max(height, width) / zoom
    step = side / 2
    xs = np.arange(side / 2, max(width - side / 2, side / 2) + step, step)
    ys = np.arange(side / 2, max(height - side / 2, side / 2) + step, step)
    c = np.stack(np.meshgrid(xs, ys, indexing="xy"), -1).reshape(-1, 2)
    return Roi(
        center=c.astype(np.float32),
        size=np.full((len(c),), side, np.float32),
        angle=np.zeros((len(c),), np.float32),
    )


@dataclasses.dataclass
class FaceFrontEnd:
    """Detector + face mesh + tracker (see the module docstring).

    Args:
        detector: ``"full_range"`` (faces up to ~5 m, the default) or ``"short_range"``.
        zooms: tile zoom levels tried besides the whole image (``(2,)`` adds tiles of half the
            long side, for faces below ~1/10 of the image); ``()`` for the whole image only.
        min_score: detector score threshold (default: the model's, 0.6 / 0.5).
        min_presence: face-mesh flag below which a face is dropped or a track is lost.
        max_faces: most faces per image.
        redetect_every: in video, run the detector every this many frames while fewer than
            ``max_faces`` faces are tracked (0: only when a face is lost).
        refine: extra mesh passes on an image, each cropped from the previous landmarks (as the
            tracker crops the next frame): the detector's box and eye keypoints place the first
            crop less well than the mesh's own 468 points.
    """

    detector: str = "full_range"
    zooms: tuple[int, ...] = (2,)
    min_score: float | None = None
    min_presence: float = 0.5
    max_faces: int = 8
    refine: int = 1
    redetect_every: int = 30

    def __post_init__(self):
        if self.detector not in DETECTORS:
            raise ValueError(f"detector must be one of {sorted(DETECTORS)}, got {self.detector!r}")
        self.timings = {"detect": 0.0, "mesh": 0.0}  # seconds spent, for benchmarks

    def detect(
        self, image: np.ndarray, *, bucket: int = 256
    ) -> list[tuple[np.ndarray, np.ndarray, float]]:
        """Face detections [(box (4,), keypoints (6, 2), score)] in image pixels, best first.

        ``bucket``: the image is zero-padded to a multiple of it in each dimension, so that
        photographs of many sizes share a few compiled programs (1: no padding, for video).
        """
        img, hw = _as_float(image, bucket)
        h, w = np.asarray(image).shape[:2]
        rois = [letterbox(h, w)] + [_tiles(h, w, z) for z in self.zooms]
        roi = _pad_batch(jax.tree.map(lambda *a: np.concatenate(a), *rois), 8)
        t0 = time.perf_counter()
        boxes, kps, scores = (
            np.asarray(a) for a in _run_detector(img, hw, roi, network=self.detector)
        )
        self.timings["detect"] += time.perf_counter() - t0
        spec = DETECTORS[self.detector]
        found = weighted_nms(
            boxes.reshape(-1, 4),
            kps.reshape(-1, 6, 2),
            scores.reshape(-1),
            min_score=spec.min_score if self.min_score is None else self.min_score,
            iou_threshold=spec.nms_iou,
        )
        return found[: self.max_faces]

    def mesh(
        self, image: np.ndarray, roi: Roi, *, bucket: int = 256
    ) -> tuple[np.ndarray, np.ndarray]:
        """Face-mesh landmarks (B, 468, 3) in pixels and face flags (B,) for a batch of ROIs."""
        t0 = time.perf_counter()
        n = roi.size.shape[0]
        padded = _pad_batch(roi, 1 << max(0, n - 1).bit_length())
        lm, flag = _run_mesh(*_as_float(image, bucket), padded)
        lm, flag = np.asarray(lm)[:n], np.asarray(flag)[:n]
        self.timings["mesh"] += time.perf_counter() - t0
        return lm, flag

    def faces(self, image: np.ndarray, *, bucket: int = 256) -> list[Face]:
        """Every face of an image: detection, ROI, mesh (see the module docstring)."""
        found = self.detect(image, bucket=bucket)
        if not found:
            return []
        boxes = np.stack([b for b, _, _ in found])
        kps = np.stack([k for _, k, _ in found])
        roi = roi_from_box(boxes[:, :2], boxes[:, 2:], kps[:, 0], kps[:, 1])
        lm, flag = self.mesh(image, roi, bucket=bucket)
        for _ in range(self.refine):
            roi = _roi_from_landmarks(lm)
            lm, flag = self.mesh(image, roi, bucket=bucket)
        return [
            Face(boxes[i], found[i][2], lm[i], float(flag[i]), _roi_tuple(roi, i))
            for i in range(len(found))
            if flag[i] >= self.min_presence
        ]

    def track(self, frames, *, progress=None):
        """Faces of each frame of a video (an iterable of RGB frames); yields lists of :class:`Face`.

        Each face keeps its ``face_id`` while it is tracked; a new face gets the next unused id.
        The detector runs when a face is lost, when nothing is tracked, and every
        ``redetect_every`` frames while fewer than ``max_faces`` are tracked (a face entering the
        view). Two tracks that converge on one face (box IoU > 0.5) become one.
        """
        tracks: list[Face] = []
        next_id = 0
        for t, frame in enumerate(frames):
            kept: list[Face] = []
            if tracks:
                lm = np.stack([f.landmarks for f in tracks])
                roi = _roi_from_landmarks(lm)
                new_lm, flag = self.mesh(frame, roi, bucket=1)  # frames share one shape
                for i, old in enumerate(tracks):
                    face = dataclasses.replace(
                        old, box=_box(new_lm[i]), score=1.0, landmarks=new_lm[i],
                        presence=float(flag[i]), roi=_roi_tuple(roi, i),
                    )  # fmt: skip
                    if flag[i] >= self.min_presence and _new(face, kept):
                        kept.append(face)
            periodic = self.redetect_every > 0 and t % self.redetect_every == 0
            if len(kept) < len(tracks) or not kept or (periodic and len(kept) < self.max_faces):
                for face in self.faces(frame, bucket=1):
                    if len(kept) < self.max_faces and _new(face, kept):
                        kept.append(dataclasses.replace(face, face_id=next_id))
                        next_id += 1
            tracks = kept
            if progress is not None:
                progress.update(1)
            yield tracks


def _new(face: Face, kept: list[Face]) -> bool:
    """Whether ``face`` overlaps none of ``kept`` (box IoU <= 0.5)."""
    return all(iou(face.box, k.box[None])[0] <= 0.5 for k in kept)


def _pad_batch(roi: Roi, multiple: int) -> Roi:
    """Repeats the last ROI up to a multiple of ``multiple`` (the extra outputs are dropped), so
    that images with different numbers of tiles or faces share compiled programs."""
    n = roi.size.shape[0]
    m = -(-n // multiple) * multiple
    if m == n:
        return roi
    return jax.tree.map(lambda a: np.concatenate([a, np.repeat(a[-1:], m - n, axis=0)]), roi)


def _roi_from_landmarks(lm: np.ndarray) -> Roi:
    xy = lm[..., :2]
    return roi_from_box(xy.min(1), xy.max(1), xy[:, EYE_OUTER[0]], xy[:, EYE_OUTER[1]])


def _box(lm: np.ndarray) -> np.ndarray:
    return np.concatenate([lm[:, :2].min(0), lm[:, :2].max(0)])


def _roi_tuple(roi: Roi, i: int) -> tuple[float, float, float, float]:
    c = np.asarray(roi.center[i])
    return float(c[0]), float(c[1]), float(roi.size[i]), float(roi.angle[i])


def _as_float(image: np.ndarray, bucket: int) -> tuple[jax.Array, np.ndarray]:
    """The image (uint8 as it came, else float32; the compiled crops cast), zero-padded up to a
    multiple of ``bucket`` (one compiled program per bucket, not per image size), and its valid
    (height, width)."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"image must be (height, width, 3) RGB, got shape {image.shape}")
    h, w = image.shape[:2]
    ph, pw = -(-h // bucket) * bucket, -(-w // bucket) * bucket
    dtype = np.uint8 if image.dtype == np.uint8 else np.float32  # uint8 moves 4x fewer bytes
    if (ph, pw) == (h, w):
        padded = image.astype(dtype, copy=False)
    else:
        padded = np.zeros((ph, pw, 3), dtype)
        padded[:h, :w] = image
    return jnp.asarray(padded), np.asarray([h, w], np.float32)
