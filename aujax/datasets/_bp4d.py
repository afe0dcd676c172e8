"""BP4D-Spontaneous on-disk layout: writers, readers and the :class:`BP4DSequence` container.

The writers produce the layout of a real BP4D copy (REFERENCE §1.1) and the readers parse a real
copy unchanged. Paths relative to the dataset root:

``AUCoding/AU_OCC/{Subj}_{Task}.csv`` (occurrence)
    Header row, then one row per coded frame. Column ``'0'`` holds the frame number (real files do
    not start at 0), column ``'k'`` holds AU ``k`` with 1 = present, 0 = absent, 9 = not coded,
    and the **last column is the occlusion flag** (1 = occluded / invalid frame, as OpenFace's
    ``extract_BP4D_labels.m`` reads it). The writer numbers the AU columns contiguously from 1 to
    ``max_au`` (OpenFace takes AU k as column k of the code block) and gives the occlusion column
    the next number, ``str(max_au + 1)``, so that every header name is a number written as a
    string and the columns stay contiguous. AU columns the sequence does not carry are written as
    9 (not coded), as real files hold 9 in the columns of uncoded AUs. The default ``max_au = 99``
    is **unverified** (REFERENCE only says columns for AU >= 40 exist and hold 9). The reader is
    tolerant: it takes the last column as the occlusion flag whatever its header name (a number or
    a word such as ``occlusion``), selects AU columns by name, and does not require contiguity.
``AUCoding/AU_INT/AU{au:02d}/{Subj}_{Task}_AU{au:02d}.csv`` (intensity, AUs 6, 10, 12, 14, 17)
    No header; lines ``frame,intensity`` with intensity 0-5 and 9 = missing. The writer places the
    per-AU folders under ``AUCoding/AU_INT`` (the FERA 2015 distribution puts them in a separate
    intensity-code folder; the exact parent folder is unverified). The reader locates files exactly
    as OpenFace does, ``AU%02d/`` + ``{Subj}_{Task}*.csv``, under the first existing parent of
    :data:`BP4D_INTENSITY_DIRS`.
``2DFeatures/{Subj}_{Task}.mat`` (49 landmarks and head pose)
    MATLAB v7.3 cell arrays, written and read by :mod:`aujax.datasets._mat73` (the format is
    described there).

``img/{Subj}/{Task}/{frame}.jpg`` (frames, optional)
    ME-GraphAU's image-list layout (``F007/T1/643.jpg``), under an ``img`` folder of the root;
    written as JPEG (quality 95) with pillow.

Readers raise ``ValueError`` naming the file (and, for text files, the 1-based line) for anything
malformed. Missing landmark frames become NaN rows (never dropped); 9s stay 9 and
:attr:`BP4DSequence.occurrence_mask` exposes them.
"""

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from ._folds import BP4D_AUS, BP4D_INTENSITY_AUS
from ._mat73 import MAT_FIRST_FRAME, N_BP4D_LANDMARKS, read_features_mat, write_features_mat


__all__ = [
    "BP4DSequence",
    "BP4D_INTENSITY_DIRS",
    "BP4D_OCC_MAX_AU",
    "list_bp4d_sequences",
    "read_bp4d_frames",
    "read_bp4d_sequence",
    "write_bp4d_frames",
    "write_bp4d_sequence",
]


#: Highest AU column the writer emits by default (unverified, see the module docstring).
BP4D_OCC_MAX_AU = 99
#: Parents (relative to the root) searched, in order, for the ``AU%02d/`` intensity folders.
BP4D_INTENSITY_DIRS: tuple[str, ...] = ("AUCoding/AU_INT", "AU_INT")

_OCC_DIR = os.path.join("AUCoding", "AU_OCC")
_MAT_DIR = "2DFeatures"
_IMG_DIR = "img"
_SEQ_RE = re.compile(r"^([FM]\d{3})_(T\d)$")


@dataclass(frozen=True, eq=False)
class BP4DSequence:
    """One BP4D sequence ``{subject}_{task}``: labels, landmarks and head pose per coded frame.

    Attributes:
        subject: subject ID, e.g. ``"F001"``.
        task: task ID, ``"T1"`` .. ``"T8"``.
        frames: (T,) int64 frame numbers (column ``'0'`` of the AU_OCC file), strictly increasing.
        occurrence: (T, n_aus) int8 occurrence labels, 1 = present, 0 = absent, 9 = not coded.
        aus: the n_aus AU numbers of the columns of ``occurrence``.
        occlusion: (T,) bool, True where the occlusion flag (last AU_OCC column) is 1.
        intensity: dict AU -> (T,) int8 intensity 0-5 with 9 = missing (frames absent from the
            intensity file are 9), or None when the sequence has no intensity coding.
        landmarks: (T, 49, 2) float64 (x, y) pixel coordinates; NaN rows where a frame has no
            landmarks.
        pose: (T, 3, 3) float64 head rotation matrices; NaN where missing.
        images: optional list of T image paths (``img/{subj}/{task}/{frame}.jpg``) or None.
    """

    subject: str
    task: str
    frames: np.ndarray
    occurrence: np.ndarray
    aus: tuple[int, ...]
    occlusion: np.ndarray
    intensity: dict[int, np.ndarray] | None
    landmarks: np.ndarray
    pose: np.ndarray
    images: list[str] | None = None

    def __post_init__(self):
        t = np.shape(self.frames)[0] if np.ndim(self.frames) == 1 else -1
        if t < 0:
            raise ValueError(f"frames: expected shape (T,), got {np.shape(self.frames)}")
        n = len(self.aus)
        _check(self.occurrence, "occurrence", (t, n))
        _check(self.occlusion, "occlusion", (t,))
        _check(self.landmarks, "landmarks", (t, N_BP4D_LANDMARKS, 2))
        _check(self.pose, "pose", (t, 3, 3))
        if t > 1 and np.any(np.diff(self.frames) <= 0):
            raise ValueError("frames: expected strictly increasing frame numbers")
        if not np.all(np.isin(self.occurrence, (0, 1, 9))):
            raise ValueError("occurrence: expected values in {0, 1, 9}")
        if self.intensity is not None:
            for au, v in self.intensity.items():
                _check(v, f"intensity[{au}]", (t,))
                if not np.all(np.isin(v, (0, 1, 2, 3, 4, 5, 9))):
                    raise ValueError(f"intensity[{au}]: expected values in 0..5 or 9")
        if self.images is not None and len(self.images) != t:
            raise ValueError(f"images: expected {t} paths, got {len(self.images)}")

    @property
    def name(self) -> str:
        """The sequence name ``{subject}_{task}``, e.g. ``"F001_T1"``."""
        return f"{self.subject}_{self.task}"

    @property
    def occurrence_mask(self) -> np.ndarray:
        """(T, n_aus) bool: True where ``occurrence[t, j]`` is a usable label.

        A label is usable when it is not 9 (not coded; JAA-Net masks these) **and** the frame is
        not occluded (OpenFace's ``valid = occlusions ~= 1``). Losses and metrics should only see
        entries where the mask is True; the label there is 0 or 1.
        """
        return (self.occurrence != 9) & ~self.occlusion[:, None]

    @property
    def landmark_mask(self) -> np.ndarray:
        """(T,) bool: True where the frame has landmarks (no NaN)."""
        return np.all(np.isfinite(self.landmarks), axis=(1, 2))


def _check(x, name, shape):
    if np.shape(x) != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {np.shape(x)}")


# --------------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------------


def _occ_path(root, subject, task):
    return os.path.join(root, _OCC_DIR, f"{subject}_{task}.csv")


def _mat_path(root, subject, task):
    return os.path.join(root, _MAT_DIR, f"{subject}_{task}.mat")


def write_bp4d_sequence(
    root: str | os.PathLike, seq: BP4DSequence, *, max_au: int = BP4D_OCC_MAX_AU
) -> None:
    """Writes one sequence in the real BP4D layout (see the module docstring).

    Writes ``AUCoding/AU_OCC/{Subj}_{Task}.csv``, the intensity files
    ``AUCoding/AU_INT/AU{au:02d}/{Subj}_{Task}_AU{au:02d}.csv`` (when ``seq.intensity`` is not
    None) and ``2DFeatures/{Subj}_{Task}.mat`` (MATLAB v7.3). Images are written separately with
    :func:`write_bp4d_frames`.

    Args:
        root: dataset root folder (created if needed).
        seq: the sequence; ``seq.frames`` must be >= 1 (video frame numbers).
        max_au: the AU columns written are 1..max_au (contiguous, 9 where ``seq`` has no label);
            the occlusion column follows with header ``str(max_au + 1)``.

    Raises:
        ValueError: ``max_au`` smaller than an AU of ``seq`` or frames < 1.
    """
    if not seq.aus or max(seq.aus) > max_au or min(seq.aus) < 1:
        raise ValueError(f"max_au: expected >= every AU of seq.aus {seq.aus}, got {max_au}")
    frames = np.asarray(seq.frames, np.int64)
    if frames.size and frames[0] < MAT_FIRST_FRAME:
        raise ValueError(f"seq.frames: expected frame numbers >= {MAT_FIRST_FRAME}")
    root = os.fspath(root)

    # AU occurrence.
    table = np.full((frames.size, max_au), 9, np.int64)
    for j, au in enumerate(seq.aus):
        table[:, au - 1] = seq.occurrence[:, j]
    header = ",".join(str(k) for k in range(max_au + 2))
    lines = [header]
    for f, row, occ in zip(frames, table, seq.occlusion, strict=True):
        lines.append(f"{f}," + ",".join(str(v) for v in row) + f",{int(occ)}")
    path = _occ_path(root, seq.subject, seq.task)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="") as fh:
        fh.write("\n".join(lines) + "\n")

    # AU intensity.
    if seq.intensity is not None:
        for au, values in seq.intensity.items():
            folder = os.path.join(root, BP4D_INTENSITY_DIRS[0], f"AU{au:02d}")
            os.makedirs(folder, exist_ok=True)
            name = f"{seq.subject}_{seq.task}_AU{au:02d}.csv"
            with open(os.path.join(folder, name), "w", newline="") as fh:
                fh.writelines(f"{f},{int(v)}\n" for f, v in zip(frames, values, strict=True))

    # 2D landmarks and pose.
    write_features_mat(_mat_path(root, seq.subject, seq.task), frames, seq.landmarks, seq.pose)


def write_bp4d_frames(
    root: str | os.PathLike,
    subject: str,
    task: str,
    frames: Sequence[int] | np.ndarray,
    images: np.ndarray,
) -> list[str]:
    """Writes frame images ``img/{subject}/{task}/{frame}.jpg`` (JPEG, quality 95).

    Args:
        root: dataset root.
        subject, task: sequence identifiers.
        frames: (T,) frame numbers used as file names.
        images: (T, H, W) grayscale or (T, H, W, 3) RGB, uint8.

    Returns:
        The T written paths.
    """
    images = np.asarray(images)
    frames = np.asarray(frames)
    _check_images(images, "images")
    if frames.shape != images.shape[:1]:
        raise ValueError(f"frames: expected shape {images.shape[:1]}, got {frames.shape}")
    folder = os.path.join(os.fspath(root), _IMG_DIR, subject, task)
    os.makedirs(folder, exist_ok=True)
    paths = []
    for f, im in zip(frames, images, strict=True):
        path = os.path.join(folder, f"{int(f)}.jpg")
        Image.fromarray(im).save(path, quality=95)
        paths.append(path)
    return paths


def _check_images(images, name):
    if images.dtype != np.uint8:
        raise ValueError(f"{name}: expected dtype uint8, got {images.dtype}")
    if not (images.ndim == 3 or (images.ndim == 4 and images.shape[-1] == 3)):
        raise ValueError(f"{name}: expected shape (T, H, W) or (T, H, W, 3), got {images.shape}")


# --------------------------------------------------------------------------------------------
# Readers
# --------------------------------------------------------------------------------------------


def _parse_int(field, path, line, what):
    try:
        return int(field.strip())
    except ValueError:
        raise ValueError(
            f"{path}, line {line}: expected an integer {what}, got {field.strip()!r}"
        ) from None


def _read_lines(path):
    try:
        with open(path, newline="") as fh:
            text = fh.read()
    except OSError as e:
        raise ValueError(f"{path}: cannot read ({e.strerror})") from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


_UNSIGNED_CSV = re.compile(r"[0-9]+(?:,[0-9]+)*")


def _fast_rows(lines, ncol):
    """(R, ncol) int64 of data lines that are all plain unsigned integers separated by commas
    with ``ncol`` fields each, parsed at once; None otherwise (the caller parses line by line)."""
    if not lines or not all(line.count(",") == ncol - 1 for line in lines):
        return None
    body = ",".join(lines)
    if not _UNSIGNED_CSV.fullmatch(body):
        return None
    return np.array(body.split(","), dtype=np.int64).reshape(len(lines), ncol)


def _read_occ(path):
    """Returns (frames, {au: column}, occlusion) of an AU_OCC csv."""
    lines = _read_lines(path)
    if not lines:
        raise ValueError(f"{path}, line 1: expected a header row ('0', AU numbers...), got nothing")
    names = [s.strip().strip('"') for s in lines[0].split(",")]
    expected = "expected a header row of AU numbers as strings starting with '0'"
    if names[0] != "0" or len(names) < 3:
        raise ValueError(f"{path}, line 1: {expected}, got {lines[0][:60]!r}")
    try:
        au_cols = [int(s) for s in names[1:-1]]
    except ValueError:
        raise ValueError(f"{path}, line 1: {expected}, got {lines[0][:60]!r}") from None
    if any(b <= a for a, b in zip(au_cols[:-1], au_cols[1:], strict=False)) or min(au_cols) < 1:
        raise ValueError(
            f"{path}, line 1: {expected} (distinct, increasing, >= 1); this looks like a data "
            f"row, got {lines[0][:60]!r}"
        )
    ncol = len(names)
    rows = _fast_rows(lines[1:], ncol)
    if rows is not None:  # well formed: the checks below, vectorised
        ok = np.isin(rows[:, 1:], (0, 1, 9)).all() and (np.diff(rows[:, 0]) > 0).all()
        if ok:
            columns = {au: rows[:, c + 1] for c, au in enumerate(au_cols)}
            return rows[:, 0], columns, rows[:, -1] == 1
    rows = np.empty((len(lines) - 1, ncol), np.int64)  # line by line, naming the first bad one
    for r, line in enumerate(lines[1:]):
        lineno = r + 2
        fields = line.split(",")
        if len(fields) != ncol:
            raise ValueError(f"{path}, line {lineno}: expected {ncol} fields, got {len(fields)}")
        rows[r, 0] = _parse_int(fields[0], path, lineno, "frame number")
        for c in range(1, ncol):
            what = "occlusion flag" if c == ncol - 1 else f"label for AU {names[c]}"
            v = _parse_int(fields[c], path, lineno, what)
            if v not in (0, 1, 9):
                raise ValueError(f"{path}, line {lineno}: expected {what} in {{0, 1, 9}}, got {v}")
            rows[r, c] = v
        if r and rows[r, 0] <= rows[r - 1, 0]:
            raise ValueError(
                f"{path}, line {lineno}: expected frame numbers (column '0') to increase, got "
                f"{rows[r, 0]} after {rows[r - 1, 0]}"
            )
    columns = {au: rows[:, c + 1] for c, au in enumerate(au_cols)}
    return rows[:, 0], columns, rows[:, -1] == 1


def _find_intensity_file(root, subject, task, au):
    for parent in BP4D_INTENSITY_DIRS:
        folder = os.path.join(root, parent, f"AU{au:02d}")
        if not os.path.isdir(folder):
            continue
        prefix = f"{subject}_{task}"
        hits = sorted(
            n
            for n in os.listdir(folder)
            if n.startswith(prefix)
            and n.endswith(".csv")
            and not n[len(prefix) : len(prefix) + 1].isdigit()
        )
        if len(hits) > 1:
            raise ValueError(f"{folder}: expected one {prefix}*.csv file, found {hits}")
        if hits:
            return os.path.join(folder, hits[0])
    return None


def _read_intensity(path, frames):
    out = np.full(frames.shape, 9, np.int8)
    index = {int(f): t for t, f in enumerate(frames)}
    prev = None
    for lineno, line in enumerate(_read_lines(path), start=1):
        fields = line.split(",")
        if len(fields) != 2:
            raise ValueError(
                f"{path}, line {lineno}: expected 'frame,intensity' (2 fields, no header), "
                f"got {line[:60]!r}"
            )
        f = _parse_int(fields[0], path, lineno, "frame number")
        v = _parse_int(fields[1], path, lineno, "intensity")
        if not (0 <= v <= 5 or v == 9):
            raise ValueError(f"{path}, line {lineno}: expected intensity 0..5 or 9, got {v}")
        if prev is not None and f <= prev:
            raise ValueError(
                f"{path}, line {lineno}: expected frame numbers to increase, got {f} after {prev}"
            )
        prev = f
        if f in index:
            out[index[f]] = v
    return out


def read_bp4d_sequence(
    root: str | os.PathLike,
    subject: str,
    task: str,
    *,
    aus: Sequence[int] | None = BP4D_AUS,
    landmarks: bool = True,
) -> BP4DSequence:
    """Reads one sequence of a real (or synthetic) BP4D copy.

    Args:
        root: dataset root (holding ``AUCoding/`` and ``2DFeatures/``).
        subject: e.g. ``"F001"``.
        task: e.g. ``"T1"``.
        aus: AU columns to return (default the 12 detection AUs); None for every AU column of
            the file.
        landmarks: read ``2DFeatures/{Subj}_{Task}.mat`` (required to exist); if False the
            landmarks and pose are all NaN.

    Returns:
        A :class:`BP4DSequence`. ``intensity`` holds the intensity AUs whose file exists (frames
        absent from a file are 9), or is None if there is none; ``images`` lists
        ``img/{subj}/{task}/{frame}.jpg`` when that folder exists.

    Raises:
        ValueError: missing or malformed files (naming the file and 1-based line), an AU not in
            the file, a landmark entry that is not 49x2.
    """
    root = os.fspath(root)
    path = _occ_path(root, subject, task)
    if not os.path.isfile(path):
        raise ValueError(f"{subject}_{task}: no AU occurrence file {path}")
    frames, columns, occlusion = _read_occ(path)
    aus = tuple(sorted(columns)) if aus is None else tuple(int(a) for a in aus)
    missing = [a for a in aus if a not in columns]
    if missing:
        raise ValueError(f"{path}: expected columns for AUs {missing}, not in the header")
    occurrence = np.stack([columns[a] for a in aus], axis=1).astype(np.int8)
    intensity = {}
    for au in BP4D_INTENSITY_AUS:
        ipath = _find_intensity_file(root, subject, task, au)
        if ipath is not None:
            intensity[au] = _read_intensity(ipath, frames)
    if landmarks:
        mpath = _mat_path(root, subject, task)
        if not os.path.isfile(mpath):
            raise ValueError(f"{subject}_{task}: no landmark file {mpath} (pass landmarks=False)")
        lms, pose = read_features_mat(mpath, frames)
    else:
        lms = np.full((frames.size, N_BP4D_LANDMARKS, 2), np.nan)
        pose = np.full((frames.size, 3, 3), np.nan)
    images = None
    folder = os.path.join(root, _IMG_DIR, subject, task)
    if os.path.isdir(folder):
        images = [os.path.join(folder, f"{int(f)}.jpg") for f in frames]
        for p in images:
            if not os.path.isfile(p):
                raise ValueError(f"{folder}: expected an image for every coded frame, missing {p}")
    return BP4DSequence(
        subject=subject,
        task=task,
        frames=frames,
        occurrence=occurrence,
        aus=aus,
        occlusion=occlusion,
        intensity=intensity or None,
        landmarks=lms,
        pose=pose,
        images=images,
    )


def list_bp4d_sequences(root: str | os.PathLike) -> list[tuple[str, str]]:
    """Sorted ``(subject, task)`` pairs of the ``AUCoding/AU_OCC/{Subj}_{Task}.csv`` files.

    Files whose name is not ``{F|M}ddd_Td.csv`` are ignored.

    Raises:
        ValueError: ``root`` has no ``AUCoding/AU_OCC`` folder.
    """
    folder = os.path.join(os.fspath(root), _OCC_DIR)
    if not os.path.isdir(folder):
        raise ValueError(f"root: expected a BP4D copy with a folder {folder}")
    out = []
    for name in os.listdir(folder):
        stem, ext = os.path.splitext(name)
        m = _SEQ_RE.match(stem)
        if m and ext == ".csv":
            out.append((m.group(1), m.group(2)))
    return sorted(out)


def _open_image(path):
    """``Image.open`` trying the JPEG decoder first (the frames' format; no format probing), then
    every format as before."""
    try:
        return Image.open(path, formats=("JPEG",))
    except UnidentifiedImageError:
        return Image.open(path)


def _load_image(path):
    try:
        with _open_image(path) as im:
            if im.mode not in ("L", "RGB"):
                im = im.convert("RGB")
            return np.asarray(im)
    except OSError as e:
        raise ValueError(f"{path}: cannot read image ({e})") from None


def _stack_images(paths, what):
    ims = [_load_image(p) for p in paths]
    for p, im in zip(paths, ims, strict=True):
        if im.shape != ims[0].shape:
            raise ValueError(
                f"{p}: expected shape {ims[0].shape} like the other {what}, got {im.shape}"
            )
    return np.stack(ims)


def read_bp4d_frames(
    root: str | os.PathLike,
    subject: str,
    task: str,
    frames: Sequence[int] | np.ndarray | None = None,
) -> np.ndarray:
    """Reads frame images ``img/{subject}/{task}/{frame}.jpg``.

    Args:
        root: dataset root.
        subject, task: sequence identifiers.
        frames: frame numbers to read; None for every ``{int}.jpg`` of the folder in frame order.

    Returns:
        (T, H, W) uint8 for grayscale files, (T, H, W, 3) for colour ones.

    Raises:
        ValueError: missing folder or file, unreadable image or images of different shapes.
    """
    folder = os.path.join(os.fspath(root), _IMG_DIR, subject, task)
    if not os.path.isdir(folder):
        raise ValueError(f"{subject}_{task}: no frame folder {folder}")
    if frames is None:
        frames = sorted(
            int(n[:-4]) for n in os.listdir(folder) if n.endswith(".jpg") and n[:-4].isdigit()
        )
        if not frames:
            raise ValueError(f"{folder}: expected {{frame}}.jpg files, found none")
    paths = [os.path.join(folder, f"{int(f)}.jpg") for f in frames]
    for p in paths:
        if not os.path.isfile(p):
            raise ValueError(f"{subject}_{task}: missing frame image {p}")
    return _stack_images(paths, "frames")
