r"""Bosphorus samples for 3D face reconstruction from one image (seed 004): the real sample classes
and their nominal head poses, a detector's 68 landmarks per sample (iBUG ``.pts``), the synthetic
ground truth written beside each sample, and :func:`sdm_samples`, the listing an experiment reads.

**Sample classes** (REFERENCE §1.3; the Bosphorus site lists 105 subjects, 4,666 scans, "up to 35
expressions per subject", "13 yaw and pitch rotations" and hand, eyeglass and hair occlusions;
the codes below are those of public code that reads the real files, the ones marked unverified
are our reading):

* ``N_N``: neutral, repeated ``N_N_0``, ``N_N_1``, ...;
* ``E_{ANGER, DISGUST, FEAR, HAPPY, SADNESS, SURPRISE}``: the six basic emotions;
* ``LFAU_{9, 10, 12, 12L, 12R, 12LW, 14, 15, 16, 17, 18, 20, 22, 23, 24, 25, 26, 27, 28, 34}``
  and ``UFAU_{1, 2, 4, 43, 44}``: lower / upper face AU poses (``L`` / ``R``: unilateral);
* ``CAU_{A1A2, A22A25, A26A12lw}``: combined AUs (``A1A2`` unverified);
* ``YR_{R10, R20, R30, R45, R90, L45, L90}``: yaw rotations, ``PR_{U, SU, SD, D}``: pitch
  (strong / slight, up / down), ``CR_{RU, RD}``: yaw 45 with pitch up / down;
* ``O_{EYE, MOUTH, GLASSES, HAIR}``: a hand over an eye, a hand over the mouth, eyeglasses, hair.

**Nominal head pose** (:data:`BOSPHORUS_ROTATIONS`, :func:`bosphorus_pose`): yaw and pitch in
degrees, yaw > 0 toward the subject's right (``R``), pitch > 0 up (``U``). The database gives the
yaw angles in the codes; the pitch angles (slight 15, strong 30) and the cross rotations' pitch
(20) are our estimates (unverified), and which way ``R`` turns is our reading (unverified). Every
other class is frontal (0, 0).

**Detector landmarks**: a face-landmark detector's 68 iBUG points (REFERENCE §10) on the ``.png``,
one iBUG/300-W ``.pts`` file per sample (``{stem}.pts`` in the subject folder, or under a separate
``landmarks_root`` with the same layout); no file means no detection (the detector failed or was
not run). ``.pts`` coordinates are 1-based (the 300-W convention, as menpo reads them); the
readers here return 0-based pixels with pixel centres at integers, the convention of ``.lm2``.

**Ground truth** (synthetic copies only): ``{stem}_gt.npz`` beside the sample
(:class:`SdmGroundTruth`): the true mesh on the aujax face template, the camera of the image,
identity and expression parameters, the true 2D landmarks and their visibility.

This module is pure host code (NumPy); it does not import JAX.
"""

import dataclasses
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

import numpy as np

from ._bosphorus import list_bosphorus_samples
from ._bosphorus_names import BosphorusName, PathLike, parse_bosphorus_name


__all__ = [
    "BOSPHORUS_CAU_CODES",
    "BOSPHORUS_EMOTION_CODES",
    "BOSPHORUS_LFAU_CODES",
    "BOSPHORUS_OCCLUSIONS",
    "BOSPHORUS_ROTATIONS",
    "BOSPHORUS_UFAU_CODES",
    "GT_SUFFIX",
    "SdmGroundTruth",
    "SdmSample",
    "bosphorus_pose",
    "read_pts",
    "read_sdm_ground_truth",
    "sdm_samples",
    "write_pts",
    "write_sdm_ground_truth",
]

BOSPHORUS_EMOTION_CODES: Final = ("ANGER", "DISGUST", "FEAR", "HAPPY", "SADNESS", "SURPRISE")
BOSPHORUS_LFAU_CODES: Final = (
    "9", "10", "12", "12L", "12R", "12LW", "14", "15", "16", "17", "18", "20", "22", "23", "24",
    "25", "26", "27", "28", "34",
)  # fmt: skip
BOSPHORUS_UFAU_CODES: Final = ("1", "2", "4", "43", "44")
BOSPHORUS_CAU_CODES: Final = ("A1A2", "A22A25", "A26A12lw")
BOSPHORUS_OCCLUSIONS: Final = ("EYE", "MOUTH", "GLASSES", "HAIR")

#: ``"{CLASS}_{CODE}"`` -> nominal (yaw, pitch) in degrees (module docstring for the conventions).
BOSPHORUS_ROTATIONS: Final[Mapping[str, tuple[float, float]]] = {
    "YR_R10": (10.0, 0.0),
    "YR_R20": (20.0, 0.0),
    "YR_R30": (30.0, 0.0),
    "YR_R45": (45.0, 0.0),
    "YR_R90": (90.0, 0.0),
    "YR_L45": (-45.0, 0.0),
    "YR_L90": (-90.0, 0.0),
    "PR_U": (0.0, 30.0),
    "PR_SU": (0.0, 15.0),
    "PR_SD": (0.0, -15.0),
    "PR_D": (0.0, -30.0),
    "CR_RU": (45.0, 20.0),
    "CR_RD": (45.0, -20.0),
}

#: File name suffix of the ground truth beside a sample: ``{stem}_gt.npz``.
GT_SUFFIX: Final = "_gt.npz"

_PTS_SUFFIX = ".pts"
_N_IBUG = 68


def bosphorus_pose(name: str | BosphorusName) -> tuple[float, float] | None:
    """The nominal head pose ``(yaw, pitch)`` in degrees of a sample name.

    Frontal classes (N, E, LFAU, UFAU, CAU, O) are ``(0, 0)``; rotation codes not in
    :data:`BOSPHORUS_ROTATIONS` are read generically (``YR_R{d}`` / ``YR_L{d}`` -> ``(+-d, 0)``,
    ``CR_{R|L}{U|D}`` -> ``(+-45, +-20)``), anything else gives None (no pose label).

    Args:
        name: a sample stem, file name or :class:`~aujax.datasets.BosphorusName`.

    Returns:
        ``(yaw, pitch)`` or None.
    """
    parsed = parse_bosphorus_name(name)
    key = f"{parsed.cls}_{parsed.code}"
    if key in BOSPHORUS_ROTATIONS:
        return BOSPHORUS_ROTATIONS[key]
    if parsed.cls not in ("YR", "PR", "CR"):
        return (0.0, 0.0)
    m = re.fullmatch(r"([RL])(\d+)[a-z]?", parsed.code)
    if parsed.cls == "YR" and m:
        return ((1.0 if m[1] == "R" else -1.0) * float(m[2]), 0.0)
    m = re.fullmatch(r"([RL])([UD])", parsed.code)
    if parsed.cls == "CR" and m:
        return ((45.0 if m[1] == "R" else -45.0), (20.0 if m[2] == "U" else -20.0))
    return None


def _expression(name: BosphorusName) -> str:
    if name.cls == "E":
        return name.code
    if name.cls in ("LFAU", "UFAU", "CAU"):
        return "AU"  # posed AUs: facial motion without an emotion label (seed 004, fig. 4)
    return "NEUTRAL"


# ------------------------------------------------------------------------------------ .pts


def write_pts(path: PathLike, points) -> None:
    """Writes 2D landmarks as an iBUG/300-W ``.pts`` file (1-based coordinates).

    Args:
        path: destination file.
        points: (k, 2) finite 0-based pixel coordinates ``(x, y)``, pixel centres at integers;
            written plus 1 (the 300-W convention).
    """
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 2 or p.shape[0] == 0 or not np.isfinite(p).all():
        raise ValueError(f"points must be a finite (k, 2) array with k > 0, got shape {p.shape}")
    lines = ["version: 1", f"n_points: {p.shape[0]}", "{"]
    lines += [f"{float(x) + 1.0!r} {float(y) + 1.0!r}" for x, y in p]
    Path(path).write_text("\n".join([*lines, "}"]) + "\n", encoding="ascii")


def read_pts(path: PathLike) -> np.ndarray:
    """Reads an iBUG/300-W ``.pts`` file.

    Args:
        path: the ``.pts`` file (``version: 1``, ``n_points: k``, ``{``, k lines ``x y``, ``}``).

    Returns:
        (k, 2) float64 0-based pixel coordinates (the file's minus 1).

    Raises:
        ValueError: a malformed file; the message names the file and the 1-based line.
    """
    where = os.fspath(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{where}: not a text file ({err.reason})") from None
    lines = [(i, line.strip()) for i, line in enumerate(text.splitlines(), 1) if line.strip()]
    header = {}
    body_start = None
    for k, (number, line) in enumerate(lines):
        if line == "{":
            body_start = k + 1
            break
        key, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"{where}, line {number}: expected 'key: value' or '{{', got {line!r}")
        header[key.strip()] = (number, value.strip())
    if body_start is None:
        raise ValueError(f"{where}: no '{{' line opening the points")
    if "n_points" not in header:
        raise ValueError(f"{where}: no 'n_points:' header line")
    number, value = header["n_points"]
    if not value.isdigit() or int(value) == 0:
        raise ValueError(f"{where}, line {number}: n_points must be a positive int, got {value!r}")
    count = int(value)
    body = lines[body_start:]
    if not body or body[-1][1] != "}":
        raise ValueError(f"{where}: no '}}' line closing the points")
    rows = body[:-1]
    if len(rows) != count:
        at = rows[count][0] if len(rows) > count else body[-1][0]
        raise ValueError(
            f"{where}, line {at}: n_points announces {count} points, the file holds {len(rows)}"
        )
    out = np.empty((count, 2))
    for k, (number, line) in enumerate(rows):
        parts = line.split()
        try:
            xy = [float(v) for v in parts]
        except ValueError:
            xy = []
        if len(xy) != 2 or not all(math.isfinite(v) for v in xy):
            raise ValueError(f"{where}, line {number}: expected two finite numbers, got {line!r}")
        out[k] = xy
    return out - 1.0


# ----------------------------------------------------------------------------- ground truth

_GT_ARRAYS: Final = {  # key -> (ndim, trailing shape)
    "vertices": (2, (3,)),
    "rotation": (2, (3,)),
    "offset": (1, ()),
    "image_size": (1, ()),
    "identity": (1, ()),
    "intensity": (1, ()),
    "activations": (1, ()),
    "landmarks_2d": (2, (2,)),
    "visible": (1, ()),
    "angles_deg": (1, ()),
}


@dataclasses.dataclass(frozen=True, eq=False)
class SdmGroundTruth:
    """The ground truth of a synthetic sample (``{stem}_gt.npz``).

    The image is a scaled orthographic view: a model-frame point ``v`` (cm; x toward the subject's
    left, y up, z toward the camera) is at ``c = R v`` in the camera frame (= the ``.bnt`` scan's
    frame, in cm instead of mm) and at pixel ``(x, y) = (s c_x + t_x - 1/2, t_y - s c_y - 1/2)``
    of the ``.png`` (pixel centres at integers, the ``.lm2`` convention).

    Attributes:
        vertices: (n, 3) the true mesh S, vertices of the aujax face template (cm, model frame).
        rotation: (3, 3) ``R``, model frame -> camera frame (the head pose).
        scale: ``s``, pixels per cm.
        offset: (2,) ``(t_x, t_y)`` in pixels.
        image_size: (2,) ``(H, W)`` of the ``.png``.
        identity: (I,) identity coefficients of the subject (:func:`aujax.face.identity_basis`).
        intensity: (17,) true AU intensities (order of ``aujax.face.AU_IDS``), the expression.
        activations: (M,) muscle activations that hold the expression (static equilibrium).
        landmarks_2d: (68, 2) the true iBUG-68 landmarks in pixels (before detector noise).
        visible: (68,) bool, the landmark's surface point is seen (not turned away or occluded).
        detected: whether the simulated detector found the face (a ``.pts`` file exists).
        angles_deg: (3,) the true (yaw, pitch, roll) in degrees, the conventions of
            :func:`bosphorus_pose` (roll > 0 counter-clockwise in the image).
        occlusion: ``""`` or the occluder (``"EYE"``, ``"MOUTH"``, ``"GLASSES"``, ``"HAIR"``).
    """

    vertices: np.ndarray
    rotation: np.ndarray
    scale: float
    offset: np.ndarray
    image_size: np.ndarray
    identity: np.ndarray
    intensity: np.ndarray
    activations: np.ndarray
    landmarks_2d: np.ndarray
    visible: np.ndarray
    detected: bool
    angles_deg: np.ndarray
    occlusion: str = ""

    def camera_vertices(self, points=None) -> np.ndarray:
        """(k, 3) model-frame points (default: the mesh) in the camera / scan frame (cm)."""
        v = self.vertices if points is None else np.asarray(points, dtype=np.float64)
        return v @ np.asarray(self.rotation).T

    def project(self, points=None) -> np.ndarray:
        """(k, 2) pixel coordinates of model-frame points (default: the mesh) on the ``.png``."""
        c = self.camera_vertices(points)
        s, (tx, ty) = float(self.scale), np.asarray(self.offset, dtype=np.float64)
        return np.stack([s * c[:, 0] + tx - 0.5, ty - s * c[:, 1] - 0.5], axis=-1)


def write_sdm_ground_truth(path: PathLike, gt: SdmGroundTruth) -> None:
    """Writes a :class:`SdmGroundTruth` as a compressed ``.npz`` (no pickles)."""
    if not isinstance(gt, SdmGroundTruth):
        raise ValueError(f"gt must be an SdmGroundTruth, got {type(gt).__name__}")
    arrays = {k: np.asarray(getattr(gt, k)) for k in _GT_ARRAYS}
    arrays["vertices"] = arrays["vertices"].astype(np.float32)
    np.savez_compressed(
        Path(path), **arrays, scale=np.float64(gt.scale), detected=np.bool_(gt.detected),
        occlusion=np.str_(gt.occlusion),
    )  # fmt: skip


def read_sdm_ground_truth(path: PathLike) -> SdmGroundTruth:
    """Reads a ``{stem}_gt.npz`` file written by :func:`write_sdm_ground_truth`.

    Raises:
        ValueError: not an npz file, a missing key, or an array of the wrong shape; the message
            names the file.
    """
    where = os.fspath(path)
    try:
        z = np.load(Path(path), allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"{where}: not a readable .npz file ({err})") from None
    with z:
        missing = [k for k in (*_GT_ARRAYS, "scale", "detected", "occlusion") if k not in z.files]
        if missing:
            raise ValueError(f"{where}: ground-truth keys {missing} missing (has {z.files})")
        fields = {}
        for key, (ndim, tail) in _GT_ARRAYS.items():
            a = np.asarray(z[key])
            if a.ndim != ndim or a.shape[1:] != tail:
                raise ValueError(f"{where}: '{key}' has shape {a.shape}, expected {ndim} dims")
            fields[key] = a.astype(bool) if key == "visible" else a.astype(np.float64)
        fields["image_size"] = fields["image_size"].astype(np.int64)
        for key, shape in (("rotation", (3, 3)), ("landmarks_2d", (68, 2)), ("offset", (2,)),
                           ("image_size", (2,)), ("angles_deg", (3,)), ("visible", (68,))):  # fmt: skip
            if fields[key].shape != shape:
                raise ValueError(
                    f"{where}: '{key}' has shape {fields[key].shape}, expected {shape}"
                )
        return SdmGroundTruth(
            **fields, scale=float(z["scale"]), detected=bool(z["detected"]),
            occlusion=str(z["occlusion"]),
        )  # fmt: skip


# ---------------------------------------------------------------------------------- listing


@dataclasses.dataclass(frozen=True, eq=False)
class SdmSample:
    """One sample of a Bosphorus copy as the single-image reconstruction experiment sees it.

    Attributes:
        name: the parsed sample name.
        scan_path: the ``.bnt`` range scan.
        image_path: the ``.png``, or None when absent.
        yaw_deg, pitch_deg: the nominal head pose (:func:`bosphorus_pose`); None for a rotation
            without a pose label.
        expression: ``"NEUTRAL"`` (N and the neutral-faced YR, PR, CR, O samples), the emotion
            code of an E sample, or ``"AU"`` for the posed AUs (no emotion label).
        occlusion: ``""`` or the O code (``"EYE"``, ...).
        landmarks: (68, 2) the detector's iBUG-68 points in pixels (0-based), or None (no
            ``.pts`` file: detection failed or not run).
        gt_path: the ``{stem}_gt.npz`` ground truth beside the sample, or None (real data).
    """

    name: BosphorusName
    scan_path: Path
    image_path: Path | None
    yaw_deg: float | None
    pitch_deg: float | None
    expression: str
    occlusion: str
    landmarks: np.ndarray | None
    gt_path: Path | None

    @property
    def stem(self) -> str:
        return self.name.stem

    @property
    def subject(self) -> str:
        return self.name.subject

    @property
    def cls(self) -> str:
        return self.name.cls

    @property
    def code(self) -> str:
        return self.name.code

    @property
    def detected(self) -> bool:
        """True when the sample has detector landmarks."""
        return self.landmarks is not None


def sdm_samples(
    root: PathLike,
    *,
    landmarks_root: PathLike | None = None,
    classes: Sequence[str] | None = None,
    subjects: Sequence[str] | None = None,
    n_landmarks: int = _N_IBUG,
    strict: bool = False,
) -> list[SdmSample]:
    """Lists the samples of a Bosphorus copy (real or synthetic) with what seed 004 needs.

    Args:
        root: the copy's root (``bsXXX/`` subject folders, :func:`list_bosphorus_samples`).
        landmarks_root: where the detector's ``bsXXX/{stem}.pts`` files lie (default: ``root``).
        classes: keep only these classes (e.g. ``("N", "E")``); default all.
        subjects: keep only these subjects; default all.
        n_landmarks: points expected in each ``.pts`` file.
        strict: raise on a ``.bnt`` file whose name is outside the naming scheme (True) or skip
            it (False, the default: public code that reads the real files skips an ``IGN``
            class, which :data:`~aujax.datasets.BOSPHORUS_CLASSES` does not know).

    Returns:
        The :class:`SdmSample` list in :func:`list_bosphorus_samples` order. Drop the samples
        whose ``landmarks`` is None to follow the paper (detection failures are dropped).

    Raises:
        ValueError: ``root`` is not a directory, an unparsable ``.bnt`` name (``strict``), a
            malformed ``.pts`` file or one with another number of points (the message names the
            file).
    """
    lm_root = Path(root if landmarks_root is None else landmarks_root)
    if landmarks_root is not None and not lm_root.is_dir():
        raise ValueError(f"landmarks_root must be a directory, got {os.fspath(landmarks_root)!r}")
    out = []
    for name in list_bosphorus_samples(root, strict=strict):
        if classes is not None and name.cls not in classes:
            continue
        if subjects is not None and name.subject not in subjects:
            continue
        pts = name.path(lm_root, _PTS_SUFFIX)
        landmarks = None
        if pts.is_file():
            landmarks = read_pts(pts)
            if landmarks.shape[0] != n_landmarks:
                raise ValueError(
                    f"{pts}: {landmarks.shape[0]} points, expected {n_landmarks} (iBUG-68)"
                )
        png, gt = name.path(root, ".png"), name.path(root, GT_SUFFIX)
        pose = bosphorus_pose(name)
        out.append(
            SdmSample(
                name=name,
                scan_path=name.path(root, ".bnt"),
                image_path=png if png.is_file() else None,
                yaw_deg=None if pose is None else pose[0],
                pitch_deg=None if pose is None else pose[1],
                expression=_expression(name),
                occlusion=name.code if name.cls == "O" else "",
                landmarks=landmarks,
                gt_path=gt if gt.is_file() else None,
            )
        )
    return out
