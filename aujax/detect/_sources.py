"""What ``aujax detect`` reads: images, folders of images, videos, or landmarks users already have.

Every reader raises ``ValueError`` naming the file (and what was expected) for input it cannot
use. Frames are RGB ``uint8``; landmark sources give (T, 68, 2) pixel points with NaN where the
source has no point (BP4D's 49 points lack the jaw and the inner mouth corners, DISFA's 66 the
inner mouth corners).

=====================  ============================================================
input                  recognised by
=====================  ============================================================
image                  ``.jpg .jpeg .png .bmp .tif .tiff .webp``
folder                 a directory: its images, sorted by name (other files skipped)
video                  ``.mp4 .avi .mov .mkv .webm .m4v .mpg .mpeg .wmv``
OpenFace 2 CSV         ``.csv`` with ``x_0..x_67`` and ``y_0..y_67`` columns
BP4D ``2DFeatures``    ``.mat`` (MATLAB v7.3) with ``fit/pred``: 49 points per frame
DISFA landmarks        ``.mat`` (MATLAB 5) with ``pts``: 66 points (one frame per file)
NumPy                  ``.npy``: (68, 2), (T, 68, 2), (T, 66, 2) or (T, 49, 2)
=====================  ============================================================
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Iterator

import numpy as np

from ..datasets import (
    MAT_FIRST_FRAME,
    read_disfa_landmarks,
    read_features_mat,
)
from ..face import IDX49, IDX66


IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")
LANDMARK_EXTS = (".csv", ".mat", ".npy")
BP4D_SIZE = (1392, 1040)  # width, height
DISFA_SIZE = (1024, 768)


def kind_of(path: pathlib.Path) -> str:
    """``image``, ``folder``, ``video`` or ``landmarks``; ValueError for anything else."""
    if path.is_dir():
        return "folder"
    if not path.exists():
        raise ValueError(f"{path}: no such file or folder")
    ext = path.suffix.lower()
    if ext in IMAGE_EXTS:
        return "image"
    if ext in VIDEO_EXTS:
        return "video"
    if ext in LANDMARK_EXTS:
        return "landmarks"
    raise ValueError(
        f"{path}: not an image ({' '.join(IMAGE_EXTS)}), video ({' '.join(VIDEO_EXTS)}) or "
        f"landmark file ({' '.join(LANDMARK_EXTS)})"
    )


def read_image(path: pathlib.Path) -> np.ndarray:
    """(H, W, 3) RGB uint8; ValueError naming the file when it is not a readable image."""
    import cv2

    data = np.fromfile(path, np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise ValueError(f"{path}: not a readable image (OpenCV could not decode it)")
    return np.ascontiguousarray(image[..., ::-1])


def folder_images(path: pathlib.Path) -> list[pathlib.Path]:
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTS)
    if not files:
        raise ValueError(f"{path}: the folder holds no image ({' '.join(IMAGE_EXTS)})")
    return files


@dataclasses.dataclass
class Video:
    """An opened video: ``fps``, ``n_frames`` (as the container says), ``size`` (w, h), frames.

    Raises:
        ValueError: naming the file when OpenCV cannot open it or it holds no frame.
    """

    path: pathlib.Path

    def __post_init__(self):
        import cv2

        self._cv2 = cv2
        cap = cv2.VideoCapture(str(self.path))
        ok, frame = cap.read() if cap.isOpened() else (False, None)
        if not ok:
            cap.release()
            raise ValueError(f"{self.path}: not a readable video (OpenCV could not decode a frame)")
        self.fps = float(cap.get(cv2.CAP_PROP_FPS)) or 30.0
        self.n_frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.size = (frame.shape[1], frame.shape[0])
        cap.release()

    def frames(self) -> Iterator[np.ndarray]:
        """RGB uint8 frames, decoded one at a time."""
        cap = self._cv2.VideoCapture(str(self.path))
        try:
            while True:
                ok, frame = cap.read()
                if not ok:
                    return
                yield np.ascontiguousarray(frame[..., ::-1])
        finally:
            cap.release()


@dataclasses.dataclass(frozen=True)
class LandmarkSource:
    """Landmarks read from a file.

    Attributes:
        points: (T, 68, 2) pixels, NaN where missing.
        frame: (T,) frame numbers (0-based unless the file numbers them).
        face_id: (T,) face index per row.
        timestamp: (T,) seconds (NaN when the file has none).
        size: (width, height) of the images the points refer to, or None when unknown.
    """

    points: np.ndarray
    frame: np.ndarray
    face_id: np.ndarray
    timestamp: np.ndarray
    size: tuple[int, int] | None


def _scatter(points: np.ndarray, idx) -> np.ndarray:
    out = np.full((points.shape[0], 68, 2), np.nan)
    out[:, np.asarray(idx)] = points
    return out


def read_landmarks(path: pathlib.Path) -> LandmarkSource:
    """Reads an OpenFace CSV, BP4D ``2DFeatures`` / DISFA ``.mat`` or ``.npy`` landmark file."""
    ext = path.suffix.lower()
    if ext == ".csv":
        return _openface_csv(path)
    if ext == ".npy":
        try:
            pts = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise ValueError(f"{path}: not a NumPy .npy file ({e})") from None
        pts = np.asarray(pts, np.float64)
        if pts.ndim == 2:
            pts = pts[None]
        if pts.ndim != 3 or pts.shape[2] != 2 or pts.shape[1] not in (68, 66, 49):
            raise ValueError(
                f"{path}: expected (68, 2) or (T, 68|66|49, 2) points, got {pts.shape}"
            )
        idx = {68: range(68), 66: IDX66, 49: IDX49}[pts.shape[1]]
        t = len(pts)
        return LandmarkSource(_scatter(pts, idx), np.arange(t), np.zeros(t, int),
                              np.full(t, np.nan), None)  # fmt: skip
    if ext == ".mat":
        import h5py

        if h5py.is_hdf5(path):  # BP4D 2DFeatures (MATLAB v7.3)
            with h5py.File(path, "r") as fh:
                if "fit" not in fh or "pred" not in fh["fit"]:
                    raise ValueError(f"{path}: a v7.3 .mat without fit/pred (not BP4D 2DFeatures)")
                n = int(np.prod(fh["fit"]["pred"].shape))
            frames = np.arange(MAT_FIRST_FRAME, MAT_FIRST_FRAME + n)
            pts, _ = read_features_mat(path, frames)
            return LandmarkSource(_scatter(pts, IDX49), frames, np.zeros(n, int),
                                  np.full(n, np.nan), BP4D_SIZE)  # fmt: skip
        pts = read_disfa_landmarks(path)[None]
        return LandmarkSource(_scatter(pts, IDX66), np.zeros(1, int), np.zeros(1, int),
                              np.full(1, np.nan), DISFA_SIZE)  # fmt: skip
    raise ValueError(f"{path}: not a landmark file ({' '.join(LANDMARK_EXTS)})")


def _openface_csv(path: pathlib.Path) -> LandmarkSource:
    import pandas as pd

    try:
        df = pd.read_csv(path, skipinitialspace=True)
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not a readable CSV file ({e})") from None
    df.columns = [str(c).strip() for c in df.columns]
    need = [f"{a}_{k}" for a in "xy" for k in range(68)]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise ValueError(
            f"{path}: an OpenFace 2 CSV needs columns x_0..x_67 and y_0..y_67; "
            f"missing {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}"
        )
    try:
        x = df[[f"x_{k}" for k in range(68)]].to_numpy(np.float64)
        y = df[[f"y_{k}" for k in range(68)]].to_numpy(np.float64)
    except ValueError as e:
        raise ValueError(f"{path}: landmark columns hold non-numbers ({e})") from None
    pts = np.stack([x, y], -1)
    if "success" in df.columns:
        pts[df["success"].to_numpy() == 0] = np.nan
    n = len(df)
    col = lambda name, default: df[name].to_numpy() if name in df.columns else default
    return LandmarkSource(
        pts,
        col("frame", np.arange(n)).astype(int),
        col("face_id", np.zeros(n, int)).astype(int),
        col("timestamp", np.full(n, np.nan)).astype(float),
        None,
    )
