"""The virtual video camera of the synthetic video datasets: its setup, the head's motion in front
of it and the projection of model-frame points into its frame (DESIGN §6.1).

Head pose: smooth yaw/pitch/roll (Ornstein-Uhlenbeck, correlation time 1.5 s, the preset's standard
deviations) and a small translation drift; a pinhole camera at the preset's distance looking at the
face (model frame x left, y up, z to camera -> camera frame x right, y down, z forward).
"""

import dataclasses

import jax.numpy as jnp
import numpy as np

from ..geometry import MODEL_TO_OPENCV, perspective_project


__all__ = ["CameraSetup", "head_pose_sequence", "project_landmarks"]


@dataclasses.dataclass(frozen=True)
class CameraSetup:
    """The virtual video camera of a synthetic dataset.

    Attributes:
        frame_size: (height, width) of the video frame in pixels (landmarks are in its pixels).
        face_height_fraction: the neutral face's height (~20 cm) as a fraction of the frame height,
            which sets the focal length at the preset's distance.
        landmark_noise_px: sd of the Gaussian landmark-detector noise (pixels).
        dropout_fraction: fraction of frames without landmarks (in runs, NaN in the files).
        dropout_run: mean length of those runs (frames).
    """

    frame_size: tuple[int, int] = (480, 640)
    face_height_fraction: float = 0.5
    landmark_noise_px: float = 1.0
    dropout_fraction: float = 0.005
    dropout_run: float = 3.0

    def intrinsics(self, distance_cm: float) -> np.ndarray:
        h, w = self.frame_size
        f = self.face_height_fraction * h * distance_cm / 20.0
        return np.array([[f, 0.0, w / 2.0], [0.0, f, h / 2.0], [0.0, 0.0, 1.0]])


def _rotation(yaw, pitch, roll) -> np.ndarray:
    """(T, 3, 3) head rotations in the model frame: yaw about y, pitch about x, roll about z."""
    cy, sy, cp, sp, cr, sr = (
        f(np.radians(a)) for a in (yaw, pitch, roll) for f in (np.cos, np.sin)
    )
    one, zero = np.ones_like(cy), np.zeros_like(cy)
    ry = np.stack([np.stack([cy, zero, sy], -1), np.stack([zero, one, zero], -1),
                   np.stack([-sy, zero, cy], -1)], -2)  # fmt: skip
    rx = np.stack([np.stack([one, zero, zero], -1), np.stack([zero, cp, -sp], -1),
                   np.stack([zero, sp, cp], -1)], -2)  # fmt: skip
    rz = np.stack([np.stack([cr, -sr, zero], -1), np.stack([sr, cr, zero], -1),
                   np.stack([zero, zero, one], -1)], -2)  # fmt: skip
    return ry @ rx @ rz


def head_pose_sequence(
    n_frames: int, *, sd_deg, fps: float, rng: np.random.Generator, time_s: float = 1.5
) -> tuple[np.ndarray, np.ndarray]:
    """Smooth random head motion: rotations (T, 3, 3) and translations (T, 3) in cm.

    Yaw, pitch and roll are stationary Ornstein-Uhlenbeck processes with standard deviations
    ``sd_deg`` and correlation time ``time_s``; the translation drifts the same way with sd 1 cm.
    """
    rho = np.exp(-1.0 / (fps * time_s))
    x = np.empty((n_frames, 6))
    x[0] = rng.standard_normal(6)
    for t in range(1, n_frames):
        x[t] = rho * x[t - 1] + np.sqrt(1.0 - rho * rho) * rng.standard_normal(6)
    angles = x[:, :3] * np.asarray(sd_deg, dtype=np.float64)[None]
    return _rotation(angles[:, 0], angles[:, 1], angles[:, 2]), x[:, 3:] * 1.0


def project_landmarks(points, rotation, translation, intrinsics, distance_cm) -> np.ndarray:
    """Model-frame points (T, k, 3) under head pose to pixels (T, k, 2) (perspective camera)."""
    p = np.einsum("tij,tkj->tki", rotation, np.asarray(points))
    p = p + translation[:, None, :]
    cam = np.einsum("ij,tkj->tki", MODEL_TO_OPENCV, p) + np.array([0.0, 0.0, distance_cm])
    q = perspective_project(jnp.asarray(cam.reshape(-1, 3)), jnp.asarray(intrinsics))
    return np.asarray(q).reshape(cam.shape[:-1] + (2,))
