"""DISFA on-disk layout: writers, readers and the :class:`DISFASequence` container.

Paths relative to the dataset root (REFERENCE §1.2):

``ActionUnit_Labels/SNxxx/SNxxx_au{k}.txt`` (one file per AU of :data:`DISFA_AUS`)
    One line per video frame, ``frameIdx,intensity`` (two integers, intensity 0-5). Whether the
    real ``frameIdx`` starts at 0 or 1 is unverified; the writer writes **1-based** indices
    (``1 .. T``) and the reader ignores the field's value (it only checks that it is an integer),
    mapping line ``t`` (0-based) to frame ``t`` as ME-GraphAU does (image ``SNxxx/{t}.png``). The 12
    files of a subject must have the same number of lines.
``Landmark_Points/SNxxx/tmp_frame_lm/SNxxx_{t:04d}_lm.mat`` (66 landmarks per frame)
    ``scipy.io`` MAT-file (v5) with key ``'pts'`` holding a 66x2 array of (x, y); ``t`` is the
    0-based frame. The reader also accepts the second real pattern ``l0{t+1:04d}_lm.mat``
    (1-based). A frame with neither file gets NaN landmarks (``landmark_mask`` False) and is
    listed in :attr:`DISFASequence.missing_landmarks` (SN031 frame ``l03631`` is missing in the
    real data; OpenFace copies the previous frame instead, we mask it).
``Videos_LeftCamera/frames/SNxxx/{t}.png`` (left-camera frames, synthetic and pre-extracted)
    One PNG per frame, ``t`` 0-based as in ME-GraphAU's image list. The real dataset ships the
    video ``Videos_LeftCamera/LeftVideoSNxxx_comp.avi`` instead, which :func:`read_disfa_frames`
    decodes with OpenCV when the frame folder is absent.
"""

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.io
from PIL import Image

from ._folds import DISFA_AUS


__all__ = [
    "DISFASequence",
    "N_DISFA_LANDMARKS",
    "list_disfa_subjects",
    "read_disfa_frames",
    "read_disfa_sequence",
    "write_disfa_frames",
    "write_disfa_sequence",
]


#: Number of DISFA landmarks (iBUG 0..67 without 60 and 64).
N_DISFA_LANDMARKS = 66

_LABEL_DIR = "ActionUnit_Labels"
_LM_DIR = "Landmark_Points"
_VIDEO_DIR = "Videos_LeftCamera"
_FRAME_DIR = os.path.join(_VIDEO_DIR, "frames")
_SUBJ_RE = re.compile(r"^SN\d{3}$")


@dataclass(frozen=True, eq=False)
class DISFASequence:
    """One DISFA subject (one left-camera video): AU intensities and landmarks per frame.

    Attributes:
        subject: subject ID, e.g. ``"SN001"``.
        frames: (T,) int64 0-based frame indices ``0 .. T-1`` (line t of the label files).
        intensity: (T, 12) int8 intensities 0-5, columns in the order of :data:`DISFA_AUS`.
        landmarks: (T, 66, 2) float64 (x, y); NaN rows for frames without a landmark file.
        missing_landmarks: frames (0-based) whose landmark file was missing.
    """

    subject: str
    frames: np.ndarray
    intensity: np.ndarray
    landmarks: np.ndarray
    missing_landmarks: tuple[int, ...] = field(default=())

    def __post_init__(self):
        if np.ndim(self.frames) != 1:
            raise ValueError(f"frames: expected shape (T,), got {np.shape(self.frames)}")
        t = np.shape(self.frames)[0]
        for name, x, shape in (
            ("intensity", self.intensity, (t, len(DISFA_AUS))),
            ("landmarks", self.landmarks, (t, N_DISFA_LANDMARKS, 2)),
        ):
            if np.shape(x) != shape:
                raise ValueError(f"{name}: expected shape {shape}, got {np.shape(x)}")
        if np.any((self.intensity < 0) | (self.intensity > 5)):
            raise ValueError("intensity: expected values in 0..5")

    @property
    def aus(self) -> tuple[int, ...]:
        """The AU numbers of the columns of ``intensity`` (:data:`DISFA_AUS`)."""
        return DISFA_AUS

    @property
    def landmark_mask(self) -> np.ndarray:
        """(T,) bool: True where the frame has landmarks."""
        return np.all(np.isfinite(self.landmarks), axis=(1, 2))

    def occurrence(self, threshold: int = 2) -> np.ndarray:
        """(T, 12) int8 occurrence labels: 1 where ``intensity >= threshold``, else 0.

        The default ``threshold = 2`` is the common convention (ME-GraphAU, py-feat);
        ``threshold = 1`` gives the ``intensity > 0`` definition of augustdemi/demi.
        """
        if not 1 <= threshold <= 5:
            raise ValueError(f"threshold: expected an intensity in 1..5, got {threshold}")
        return (self.intensity >= threshold).astype(np.int8)


def _subject_dir(root, top, subject):
    return os.path.join(os.fspath(root), top, subject)


def _label_path(root, subject, au):
    return os.path.join(_subject_dir(root, _LABEL_DIR, subject), f"{subject}_au{au}.txt")


def _lm_dir(root, subject):
    return os.path.join(_subject_dir(root, _LM_DIR, subject), "tmp_frame_lm")


def write_disfa_sequence(root: str | os.PathLike, seq: DISFASequence) -> None:
    """Writes a subject's label files and per-frame landmark files in the real DISFA layout.

    Label lines are ``{t+1},{intensity}`` (1-based frame index); landmark files are
    ``SNxxx_{t:04d}_lm.mat`` (0-based) with key ``'pts'`` (66x2). Frames whose landmarks are NaN
    get no landmark file, as in the real data.

    Args:
        root: dataset root (created if needed).
        seq: the subject's sequence.
    """
    if not _SUBJ_RE.match(seq.subject):
        raise ValueError(f"seq.subject: expected 'SNxxx', got {seq.subject!r}")
    folder = _subject_dir(root, _LABEL_DIR, seq.subject)
    os.makedirs(folder, exist_ok=True)
    for j, au in enumerate(DISFA_AUS):
        with open(_label_path(root, seq.subject, au), "w", newline="") as fh:
            fh.writelines(f"{t + 1},{int(v)}\n" for t, v in enumerate(seq.intensity[:, j]))
    lm_dir = _lm_dir(root, seq.subject)
    os.makedirs(lm_dir, exist_ok=True)
    for t, pts in enumerate(seq.landmarks):
        if np.all(np.isfinite(pts)):
            path = os.path.join(lm_dir, f"{seq.subject}_{t:04d}_lm.mat")
            scipy.io.savemat(path, {"pts": np.asarray(pts, np.float64)})


def _read_labels(path):
    try:
        with open(path, newline="") as fh:
            lines = fh.read().splitlines()
    except OSError as e:
        raise ValueError(f"{path}: cannot read ({e.strerror})") from None
    while lines and not lines[-1].strip():
        lines.pop()
    out = np.empty(len(lines), np.int8)
    for t, line in enumerate(lines):
        fields = line.split(",")
        if len(fields) != 2:
            raise ValueError(
                f"{path}, line {t + 1}: expected 'frameIdx,intensity', got {line[:60]!r}"
            )
        for what, s in zip(("frame index", "intensity"), fields, strict=True):
            try:
                v = int(s.strip())
            except ValueError:
                raise ValueError(
                    f"{path}, line {t + 1}: expected an integer {what}, got {s.strip()!r}"
                ) from None
        if not 0 <= v <= 5:
            raise ValueError(f"{path}, line {t + 1}: expected intensity 0..5, got {v}")
        out[t] = v
    return out


def _read_lm(path):
    try:
        data = scipy.io.loadmat(path)
    except (OSError, ValueError, NotImplementedError) as e:
        raise ValueError(f"{path}: cannot read MAT-file ({e})") from None
    if "pts" not in data:
        raise ValueError(f"{path}: expected key 'pts', got {sorted(data)}")
    pts = np.asarray(data["pts"], np.float64)
    if pts.shape != (N_DISFA_LANDMARKS, 2):
        raise ValueError(f"{path}: expected 'pts' of shape (66, 2), got {pts.shape}")
    return pts


def read_disfa_landmarks(path: str | os.PathLike) -> np.ndarray:
    """The (66, 2) points of one DISFA landmark ``.mat`` file (key ``pts``, pixels)."""
    return _read_lm(path)


def read_disfa_sequence(
    root: str | os.PathLike, subject: str, *, landmarks: bool = True
) -> DISFASequence:
    """Reads one subject of a real (or synthetic) DISFA copy.

    Args:
        root: dataset root (holding ``ActionUnit_Labels/`` and ``Landmark_Points/``).
        subject: e.g. ``"SN001"``.
        landmarks: read ``Landmark_Points/{subject}/tmp_frame_lm`` (the folder must exist; missing
            per-frame files become NaN). If False the landmarks are all NaN.

    Returns:
        A :class:`DISFASequence` with T = the common line count of the 12 label files.

    Raises:
        ValueError: a missing label file or landmark folder, label files with different line
            counts (naming the file), a malformed line (file and 1-based line), a landmark file
            without a 66x2 ``'pts'``.
    """
    columns = []
    first = None
    for au in DISFA_AUS:
        path = _label_path(root, subject, au)
        if not os.path.isfile(path):
            raise ValueError(f"{subject}: missing AU label file {path}")
        col = _read_labels(path)
        if first is None:
            first = path
        elif col.shape != columns[0].shape:
            raise ValueError(
                f"{path}: expected {columns[0].shape[0]} lines like {first}, got {col.shape[0]}"
            )
        columns.append(col)
    intensity = np.stack(columns, axis=1)
    t = intensity.shape[0]
    lms = np.full((t, N_DISFA_LANDMARKS, 2), np.nan)
    missing = []
    if landmarks:
        folder = _lm_dir(root, subject)
        if not os.path.isdir(folder):
            raise ValueError(f"{subject}: no landmark folder {folder} (pass landmarks=False)")
        names = set(os.listdir(folder))
        for k in range(t):
            for name in (f"{subject}_{k:04d}_lm.mat", f"l0{k + 1:04d}_lm.mat"):
                if name in names:
                    lms[k] = _read_lm(os.path.join(folder, name))
                    break
            else:
                missing.append(k)
    return DISFASequence(
        subject=subject,
        frames=np.arange(t, dtype=np.int64),
        intensity=intensity,
        landmarks=lms,
        missing_landmarks=tuple(missing) if landmarks else (),
    )


def list_disfa_subjects(root: str | os.PathLike) -> list[str]:
    """Sorted subject IDs (``SNxxx``) with a folder under ``ActionUnit_Labels``.

    Raises:
        ValueError: ``root`` has no ``ActionUnit_Labels`` folder.
    """
    folder = os.path.join(os.fspath(root), _LABEL_DIR)
    if not os.path.isdir(folder):
        raise ValueError(f"root: expected a DISFA copy with a folder {folder}")
    return sorted(
        n
        for n in os.listdir(folder)
        if _SUBJ_RE.match(n) and os.path.isdir(os.path.join(folder, n))
    )


def write_disfa_frames(root: str | os.PathLike, subject: str, images: np.ndarray) -> list[str]:
    """Writes left-camera frames ``Videos_LeftCamera/frames/{subject}/{t}.png`` (t 0-based).

    Args:
        root: dataset root.
        subject: e.g. ``"SN001"``.
        images: (T, H, W) grayscale or (T, H, W, 3) RGB, uint8.

    Returns:
        The T written paths.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"images: expected dtype uint8, got {images.dtype}")
    if not (images.ndim == 3 or (images.ndim == 4 and images.shape[-1] == 3)):
        raise ValueError(f"images: expected shape (T, H, W) or (T, H, W, 3), got {images.shape}")
    folder = _subject_dir(root, _FRAME_DIR, subject)
    os.makedirs(folder, exist_ok=True)
    paths = []
    for t, im in enumerate(images):
        path = os.path.join(folder, f"{t}.png")
        Image.fromarray(im).save(path)
        paths.append(path)
    return paths


def _read_png_folder(folder):
    stems = sorted(
        int(n[:-4]) for n in os.listdir(folder) if n.endswith(".png") and n[:-4].isdigit()
    )
    if stems != list(range(len(stems))) or not stems:
        raise ValueError(f"{folder}: expected frames 0.png .. {{T-1}}.png, got {len(stems)} files")
    ims = []
    for t in stems:
        path = os.path.join(folder, f"{t}.png")
        try:
            with Image.open(path) as im:
                arr = np.asarray(im if im.mode in ("L", "RGB") else im.convert("RGB"))
        except OSError as e:
            raise ValueError(f"{path}: cannot read image ({e})") from None
        if ims and arr.shape != ims[0].shape:
            raise ValueError(f"{path}: expected shape {ims[0].shape}, got {arr.shape}")
        ims.append(arr)
    return np.stack(ims)


def _read_video(path, cv2):
    cap = cv2.VideoCapture(path)
    try:
        if not cap.isOpened():
            raise ValueError(f"{path}: OpenCV cannot open the video")
        ims = []
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            ims.append(np.asarray(frame)[..., ::-1])  # BGR -> RGB
    finally:
        cap.release()
    if not ims:
        raise ValueError(f"{path}: the video holds no frame")
    return np.stack(ims).astype(np.uint8)


def read_disfa_frames(
    root: str | os.PathLike, subject: str, frames: Sequence[int] | np.ndarray | None = None
) -> np.ndarray:
    """Reads a subject's left-camera frames.

    Uses the frame folder ``Videos_LeftCamera/frames/{subject}/`` of ``{t}.png`` files if it
    exists, else decodes ``Videos_LeftCamera/LeftVideo{subject}_comp.avi`` with OpenCV (``cv2``).

    Args:
        root: dataset root.
        subject: e.g. ``"SN001"``.
        frames: 0-based frames to return; None for all.

    Returns:
        (T, H, W) uint8 (grayscale PNGs) or (T, H, W, 3) uint8 RGB.

    Raises:
        ValueError: neither source is available (naming what was looked for), unreadable or
            inconsistent images, frames out of range.
    """
    folder = _subject_dir(root, _FRAME_DIR, subject)
    video = os.path.join(os.fspath(root), _VIDEO_DIR, f"LeftVideo{subject}_comp.avi")
    if os.path.isdir(folder):
        ims = _read_png_folder(folder)
    elif os.path.isfile(video):
        try:
            import cv2
        except ImportError:
            raise ValueError(
                f"{subject}: no frame folder {folder}, and reading {video} needs OpenCV "
                "(pip install opencv-python-headless)"
            ) from None
        ims = _read_video(video, cv2)
    else:
        raise ValueError(f"{subject}: found neither a frame folder {folder} nor a video {video}")
    if frames is None:
        return ims
    frames = np.asarray(frames, np.int64)
    if frames.size and (frames.min() < 0 or frames.max() >= ims.shape[0]):
        raise ValueError(f"frames: expected indices in [0, {ims.shape[0]}), got {frames}")
    return ims[frames]
