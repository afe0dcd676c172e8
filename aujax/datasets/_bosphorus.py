r"""Bosphorus on-disk layout: ``.bnt`` range scans, ``.lm3``/``.lm2`` landmarks, ``.png`` images.

The Bosphorus 3D face database (REFERENCE 1.3) stores one sample as four files that share a stem
in a per-subject folder::

    root/bsXXX/bsXXX_{CLASS}_{CODE}_{N}.bnt   range scan (binary, below)
    root/bsXXX/bsXXX_{CLASS}_{CODE}_{N}.lm3   3D landmarks (text, mm)
    root/bsXXX/bsXXX_{CLASS}_{CODE}_{N}.lm2   2D landmarks on the png (text, pixels)
    root/bsXXX/bsXXX_{CLASS}_{CODE}_{N}.png   texture image

with the classes N (neutral), E (emotion), LFAU / UFAU (lower / upper face AU), CAU (combined AUs),
YR / PR / CR (yaw / pitch / cross rotation) and O (occlusion), e.g. ``bs000_LFAU_9_0``.

**.bnt** (little-endian), fields in order::

    offset 0       nrows  uint16
    offset 2       ncols  uint16
    offset 4       zmin   float64
    offset 12      nchar  uint16
    offset 14      imfile char[nchar]      name of the matching image
    offset 14+n    nvals  uint32           must equal 5 * nrows * ncols
    offset 18+n    data   float64[nvals]

``data`` decodes as ``reshape(5, nrows*ncols) -> transpose -> reshape(nrows, ncols, 5)`` followed by
a vertical flip (the file stores the bottom row first); the channels are x, y, z, u, v. Points
without a measurement (background, holes) carry ``z == zmin``: that is the validity mask used
here. The reader returns those points' x, y, z as NaN; the writer stores all three as ``zmin`` at
invalid points (the convention of files written here; u and v are stored as given everywhere).
Scan -> file -> scan is therefore bit-exact, and so is file -> scan -> file for any file that
follows that convention. ``zmin`` must lie below every valid z.

**Units.** The real Bosphorus scans and ``.lm3`` files are in millimetres; files written here
use millimetres as well, and the readers return the file's units unchanged. The rest of aujax
works in centimetres: use :attr:`RangeScan.xyz_cm` / :attr:`Landmarks3D.points_cm` (``mm / 10``).
:func:`range_scan_from_depth` takes a renderer's depth map in cm and writes mm.

**.lm3 / .lm2** (text): optional ``#`` comment lines (real files open with a header comment; we
write ``# LANDMARKS 3D`` / ``# LANDMARKS 2D``, the exact wording of the real header is
unverified), then ``N landmarks:``, then N pairs of lines: a landmark name and ``x y z`` (lm3, mm)
or ``x y`` (lm2, image pixels). Blank lines and lines starting with ``#`` are skipped (as in
menpo's ``lm3_importer``). Files carry the 22 standard names of :data:`BOSPHORUS_LANDMARKS`, a
subset of them (occlusions, rotations) or extra points (ear lobes, temples) in some files.

This module is pure host code (NumPy, Pillow); it does not import JAX.
"""

import dataclasses
import math
import os
import re
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
from PIL import Image


__all__ = [
    "BOSPHORUS_CLASSES",
    "BOSPHORUS_LANDMARKS",
    "BOSPHORUS_TO_IBUG68",
    "DEFAULT_ZMIN",
    "BosphorusName",
    "BosphorusSample",
    "Landmarks2D",
    "Landmarks3D",
    "RangeScan",
    "bosphorus_name",
    "list_bosphorus_samples",
    "parse_bosphorus_name",
    "range_scan_from_depth",
    "read_bnt",
    "read_bosphorus_image",
    "read_bosphorus_sample",
    "read_lm2",
    "read_lm3",
    "write_bnt",
    "write_bosphorus_image",
    "write_bosphorus_sample",
    "write_lm2",
    "write_lm3",
]

PathLike = str | os.PathLike

#: The sample classes of the file names, in the order of the Bosphorus documentation.
BOSPHORUS_CLASSES: tuple[str, ...] = ("N", "E", "LFAU", "UFAU", "CAU", "YR", "PR", "CR", "O")

#: The 22 standard landmark names in file order (menpo/menpo3d ``lm3_importer``). "Left" and
#: "right" are taken as the subject's sides (anatomical convention; unverified against the
#: database manual).
BOSPHORUS_LANDMARKS: tuple[str, ...] = (
    "Outer left eyebrow",
    "Middle left eyebrow",
    "Inner left eyebrow",
    "Inner right eyebrow",
    "Middle right eyebrow",
    "Outer right eyebrow",
    "Outer left eye corner",
    "Inner left eye corner",
    "Inner right eye corner",
    "Outer right eye corner",
    "Nose saddle left",
    "Nose saddle right",
    "Left nose peak",
    "Nose tip",
    "Right nose peak",
    "Left mouth corner",
    "Upper lip outer middle",
    "Right mouth corner",
    "Upper lip inner middle",
    "Lower lip inner middle",
    "Lower lip outer middle",
    "Chin middle",
)

#: Bosphorus landmark name -> 0-based iBUG-68 index (REFERENCE 10), for the names with a
#: counterpart. Brows: outer / middle / inner are the iBUG brow ends and arch top (right brow
#: 17-21 outer -> inner, left brow 22-26 inner -> outer). Eye corners: exocanthion / endocanthion
#: (36, 39 right eye; 42, 45 left eye). Nose tip: pronasale 30. Nose peaks: the alar points, put on
#: the iBUG outer nostril points 31 (right) / 35 (left); approximate, iBUG marks the alar base a
#: few mm below and medial to the Bosphorus alar point. Mouth: cheilion 48 (right) / 54 (left),
#: labrale superius 51, labrale inferius 57, inner-lip midlines 62 (upper) / 66 (lower). Chin
#: middle: 8 (menton; the Bosphorus point sits on the chin's midline, approximately the same).
#: The two nose saddle points (on the sides of the nasal bridge) have no iBUG counterpart.
BOSPHORUS_TO_IBUG68: Mapping[str, int] = {
    "Outer left eyebrow": 26,
    "Middle left eyebrow": 24,
    "Inner left eyebrow": 22,
    "Inner right eyebrow": 21,
    "Middle right eyebrow": 19,
    "Outer right eyebrow": 17,
    "Outer left eye corner": 45,
    "Inner left eye corner": 42,
    "Inner right eye corner": 39,
    "Outer right eye corner": 36,
    "Left nose peak": 35,
    "Nose tip": 30,
    "Right nose peak": 31,
    "Left mouth corner": 54,
    "Upper lip outer middle": 51,
    "Right mouth corner": 48,
    "Upper lip inner middle": 62,
    "Lower lip inner middle": 66,
    "Lower lip outer middle": 57,
    "Chin middle": 8,
}

#: Background sentinel written by :func:`range_scan_from_depth` (mm). The value real files use
#: is not documented here (unverified); readers take whatever ``zmin`` the file holds.
DEFAULT_ZMIN = -1.0e9

MM_PER_CM = 10.0

_STEM_RE = re.compile(
    r"^(?P<subject>bs\d{3})_(?P<cls>" + "|".join(BOSPHORUS_CLASSES) + r")_"
    r"(?P<code>[A-Za-z0-9]+(?:_[A-Za-z0-9]+)*)_(?P<index>\d+)$"
)
_SUBJECT_RE = re.compile(r"^bs\d{3}$")
_CODE_RE = re.compile(r"^[A-Za-z0-9]+(?:_[A-Za-z0-9]+)*$")
_EXTENSIONS = (".bnt", ".lm3", ".lm2", ".png")


# ----------------------------------------------------------------------------------- names


@dataclasses.dataclass(frozen=True, order=True)
class BosphorusName:
    """The parts of a Bosphorus sample name ``bsXXX_{CLASS}_{CODE}_{N}``.

    Attributes:
        subject: subject folder name, ``"bs"`` + 3 digits, e.g. ``"bs000"``.
        cls: sample class, one of :data:`BOSPHORUS_CLASSES`.
        code: class-specific code, e.g. ``"9"`` (AU 9), ``"ANGER"``, ``"R10"``, ``"N"``.
        index: repetition number ``N`` (>= 0).
    """

    subject: str
    cls: str
    code: str
    index: int

    def __post_init__(self):
        if not isinstance(self.subject, str) or not _SUBJECT_RE.match(self.subject):
            raise ValueError(f"subject must look like 'bs000', got {self.subject!r}")
        if self.cls not in BOSPHORUS_CLASSES:
            raise ValueError(f"cls must be one of {BOSPHORUS_CLASSES}, got {self.cls!r}")
        if not isinstance(self.code, str) or not _CODE_RE.match(self.code):
            raise ValueError(
                f"code must be letters and digits (words joined by '_'), got {self.code!r}"
            )
        if isinstance(self.index, bool) or not isinstance(self.index, int) or self.index < 0:
            raise ValueError(f"index must be a non-negative int, got {self.index!r}")

    @property
    def stem(self) -> str:
        """The file stem, e.g. ``"bs000_LFAU_9_0"``."""
        return f"{self.subject}_{self.cls}_{self.code}_{self.index}"

    def path(self, root: PathLike, ext: str) -> Path:
        """``root/bsXXX/stem{ext}`` for an extension such as ``".bnt"``."""
        return Path(root) / self.subject / (self.stem + ext)

    def sort_key(self) -> tuple:
        """Subject, class (documentation order), code (numbers compared as numbers), index."""
        code_key = tuple(
            (0, int(part), "") if part.isdigit() else (1, 0, part)
            for part in re.findall(r"\d+|\D+", self.code)
        )
        return (self.subject, BOSPHORUS_CLASSES.index(self.cls), code_key, self.index)


def bosphorus_name(subject: str, cls: str, code: str | int, index: int = 0) -> str:
    """Builds a sample stem ``bsXXX_{CLASS}_{CODE}_{N}`` (validated).

    Args:
        subject: ``"bs000"``-style subject id.
        cls: one of :data:`BOSPHORUS_CLASSES`.
        code: class code (an int is written in decimal, e.g. AU 9 -> ``"9"``).
        index: repetition number.

    Returns:
        The stem, e.g. ``"bs000_LFAU_9_0"``.
    """
    return BosphorusName(subject, cls, str(code), index).stem


def parse_bosphorus_name(path: PathLike | BosphorusName) -> BosphorusName:
    """Parses a Bosphorus file name or stem.

    Args:
        path: a stem (``"bs000_LFAU_9_0"``), a file name with one of the extensions .bnt, .lm3,
            .lm2, .png, or a path to such a file. When the parent folder looks like a subject
            folder (``bsXXX``) it must match the subject of the name.

    Returns:
        The parsed :class:`BosphorusName`.

    Raises:
        ValueError: the name (quoted in the message) does not follow the naming scheme.
    """
    if isinstance(path, BosphorusName):
        return path
    p = Path(path)
    name = p.name
    stem = name[: -len(p.suffix)] if p.suffix.lower() in _EXTENSIONS else name
    match = _STEM_RE.match(stem)
    if match is None:
        raise ValueError(
            f"{str(path)!r} is not a Bosphorus sample name: expected "
            f"'bsXXX_{{CLASS}}_{{CODE}}_{{N}}[.bnt|.lm3|.lm2|.png]' with CLASS in "
            f"{BOSPHORUS_CLASSES}"
        )
    parent = p.parent.name
    if _SUBJECT_RE.match(parent) and parent != match["subject"]:
        raise ValueError(
            f"{str(path)!r}: file of subject {match['subject']} lies in folder {parent}"
        )
    return BosphorusName(match["subject"], match["cls"], match["code"], int(match["index"]))


# ------------------------------------------------------------------------------- range scan


@dataclasses.dataclass(frozen=True, eq=False)
class RangeScan:
    """A Bosphorus range scan: a grid of 3D points plus texture coordinates.

    Attributes:
        xyz: (H, W, 3) float64 points in the file's units (mm), row 0 at the top; NaN where
            ``valid`` is False.
        uv: (H, W, 2) float64 texture coordinates, as stored (also at invalid points).
        valid: (H, W) bool, True where the scanner measured a point (``z != zmin`` on disk).
        zmin: background sentinel stored in the file header; below every valid z.
        image_file: name of the matching texture image, as stored in the header (ASCII).
    """

    xyz: np.ndarray
    uv: np.ndarray
    valid: np.ndarray
    zmin: float
    image_file: str

    def __post_init__(self):
        xyz = np.array(self.xyz, dtype=np.float64)
        if xyz.ndim != 3 or xyz.shape[2] != 3:
            raise ValueError(f"xyz must have shape (H, W, 3), got {xyz.shape}")
        h, w = xyz.shape[:2]
        if h == 0 or w == 0 or h > 0xFFFF or w > 0xFFFF:
            raise ValueError(f"xyz must have 1..65535 rows and columns, got {h} x {w}")
        uv = np.array(self.uv, dtype=np.float64)
        if uv.shape != (h, w, 2):
            raise ValueError(f"uv must have shape ({h}, {w}, 2), got {uv.shape}")
        valid = np.array(self.valid)
        if valid.shape != (h, w) or valid.dtype != np.bool_:
            raise ValueError(
                f"valid must be a bool array of shape ({h}, {w}), got {valid.dtype} {valid.shape}"
            )
        zmin = float(self.zmin)
        if not math.isfinite(zmin):
            raise ValueError(f"zmin must be finite, got {zmin}")
        if not np.isfinite(xyz[valid]).all():
            raise ValueError("xyz must be finite at valid points")
        if not np.isnan(xyz[~valid]).all():
            raise ValueError("xyz must be NaN at invalid points (valid == False)")
        if (xyz[valid][:, 2] <= zmin).any():
            raise ValueError(f"every valid z must be above zmin = {zmin}")
        if not isinstance(self.image_file, str):
            raise ValueError(f"image_file must be a str, got {type(self.image_file).__name__}")
        _encode_image_file(self.image_file)
        for array in (xyz, uv, valid):
            array.flags.writeable = False
        object.__setattr__(self, "xyz", xyz)
        object.__setattr__(self, "uv", uv)
        object.__setattr__(self, "valid", valid)
        object.__setattr__(self, "zmin", zmin)

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)``."""
        return self.xyz.shape[:2]

    @property
    def xyz_cm(self) -> np.ndarray:
        """(H, W, 3) points in centimetres (``xyz / 10``; NaN where invalid)."""
        return self.xyz / MM_PER_CM

    def points(self) -> np.ndarray:
        """(n_valid, 3) valid points in row-major order, in the file's units (mm)."""
        return self.xyz[self.valid]


def _encode_image_file(image_file: str) -> bytes:
    try:
        raw = image_file.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError(f"image_file must be ASCII, got {image_file!r}") from None
    if len(raw) > 0xFFFF or b"\x00" in raw:
        raise ValueError(f"image_file must be at most 65535 characters without NUL, got {raw!r}")
    return raw


def _take(buf: bytes, offset: int, size: int, path: PathLike, field: str) -> bytes:
    if offset + size > len(buf):
        raise ValueError(
            f"{os.fspath(path)}: truncated .bnt file: field '{field}' at byte offset {offset} "
            f"needs {size} bytes, only {len(buf) - offset} left (file size {len(buf)})"
        )
    return buf[offset : offset + size]


def read_bnt(path: PathLike) -> RangeScan:
    """Reads a Bosphorus ``.bnt`` range scan (format in the module docstring).

    Args:
        path: the ``.bnt`` file.

    Returns:
        The :class:`RangeScan`, in the file's units (mm); ``valid`` is ``z != zmin``.

    Raises:
        ValueError: truncated file, zero or inconsistent sizes (``nvals != 5 nrows ncols``),
            an image name that is not ASCII or holds NUL, a non-finite ``zmin``, trailing bytes;
            the message names the file, the field and its byte offset.
    """
    buf = Path(path).read_bytes()
    where = os.fspath(path)
    nrows, ncols = struct.unpack("<HH", _take(buf, 0, 4, path, "nrows/ncols"))
    (zmin,) = struct.unpack("<d", _take(buf, 4, 8, path, "zmin"))
    (nchar,) = struct.unpack("<H", _take(buf, 12, 2, path, "nchar"))
    if nrows == 0 or ncols == 0:
        raise ValueError(f"{where}: field 'nrows/ncols' at byte offset 0 is {nrows} x {ncols}")
    if not math.isfinite(zmin):
        raise ValueError(f"{where}: field 'zmin' at byte offset 4 is not finite ({zmin})")
    raw_name = _take(buf, 14, nchar, path, f"imfile (nchar = {nchar})")
    try:
        image_file = raw_name.decode("ascii")
    except UnicodeDecodeError:
        raise ValueError(
            f"{where}: field 'imfile' at byte offset 14 (nchar = {nchar}) is not ASCII text: "
            f"{raw_name[:40]!r}; is nchar wrong?"
        ) from None
    if "\x00" in image_file:
        raise ValueError(
            f"{where}: field 'imfile' at byte offset 14 (nchar = {nchar}) holds NUL bytes; "
            "is nchar wrong?"
        )
    offset = 14 + nchar
    (nvals,) = struct.unpack("<I", _take(buf, offset, 4, path, "nvals"))
    if nvals != 5 * nrows * ncols:
        raise ValueError(
            f"{where}: field 'nvals' at byte offset {offset} is {nvals}, expected "
            f"5 * nrows * ncols = {5 * nrows * ncols} (nrows={nrows}, ncols={ncols})"
        )
    offset += 4
    data = np.frombuffer(_take(buf, offset, 8 * nvals, path, "data"), dtype="<f8")
    if offset + 8 * nvals != len(buf):
        raise ValueError(
            f"{where}: {len(buf) - offset - 8 * nvals} trailing bytes after field 'data' "
            f"(ends at byte offset {offset + 8 * nvals}, file size {len(buf)})"
        )
    grid = data.reshape(5, nrows * ncols).T.reshape(nrows, ncols, 5)[::-1].astype(np.float64)
    valid = grid[:, :, 2] != zmin
    xyz = np.where(valid[:, :, None], grid[:, :, :3], np.nan)
    if not np.isfinite(xyz[valid]).all():
        raise ValueError(f"{where}: field 'data' holds non-finite x, y or z at valid points")
    if (xyz[valid][:, 2] < zmin).any():
        raise ValueError(f"{where}: field 'data' holds z values below zmin = {zmin}")
    return RangeScan(
        xyz=xyz,
        uv=np.ascontiguousarray(grid[:, :, 3:]),
        valid=valid,
        zmin=zmin,
        image_file=image_file,
    )


def write_bnt(path: PathLike, scan: RangeScan) -> None:
    """Writes a :class:`RangeScan` as a ``.bnt`` file, the exact inverse of :func:`read_bnt`.

    Invalid points are written with ``x = y = z = zmin``; u and v are written as given.

    Args:
        path: destination file (parent folders must exist).
        scan: the scan (units as stored, mm for Bosphorus-compatible files).
    """
    if not isinstance(scan, RangeScan):
        raise ValueError(f"scan must be a RangeScan, got {type(scan).__name__}")
    nrows, ncols = scan.shape
    name = _encode_image_file(scan.image_file)
    xyz = np.where(scan.valid[:, :, None], scan.xyz, scan.zmin)
    grid = np.concatenate([xyz, scan.uv], axis=2)[::-1]
    data = np.ascontiguousarray(grid.reshape(nrows * ncols, 5).T, dtype="<f8")
    header = struct.pack("<HHdH", nrows, ncols, scan.zmin, len(name)) + name
    header += struct.pack("<I", data.size)
    Path(path).write_bytes(header + data.tobytes())


def range_scan_from_depth(
    depth: np.ndarray,
    *,
    image_file: str,
    intrinsics: np.ndarray | None = None,
    scale: float | None = None,
    offset: Sequence[float] | None = None,
    zmin: float = DEFAULT_ZMIN,
) -> RangeScan:
    r"""Turns a depth map (cm) into a Bosphorus range scan (mm), e.g. a rendered face.

    Two camera models; give either ``intrinsics`` or both ``scale`` and ``offset``:

    * **orthographic**, the inverse of ``aujax.render.OrthoCamera`` (pixel ``(row, col)`` has its
      centre at ``(u, v) = (col + 0.5, row + 0.5)``, ``u = s x + t_x``, ``v = t_y - s y``;
      ``depth`` is camera-frame z, larger is nearer):

      .. math:: x = (c + \tfrac12 - t_x) / s,\quad y = (t_y - r - \tfrac12) / s,\quad z = d

    * **pinhole** with intrinsic matrix ``K`` (``depth`` is the distance along the optical axis,
      > 0; pixel centres at integer ``(u, v) = (col, row)`` as in
      ``aujax.geometry.backproject``). The computer-vision camera frame (x right, y down,
      z forward) is turned into the scan frame x right, y up, z toward the camera:

      .. math:: (x, -y, -z)^\top \text{ with } (x, y, z)^\top = d\, K^{-1} (c, r, 1)^\top

    The result is multiplied by 10 (cm -> mm, the unit of the real database). Texture
    coordinates are the pixel centres normalised to [0, 1] with v up (OpenGL convention):
    ``u = (c + 0.5) / W``, ``v = 1 - (r + 0.5) / H``.

    Args:
        depth: (H, W) depth in cm; non-finite entries (inf, -inf, NaN) are background.
        image_file: name of the matching image stored in the header, e.g. ``"bs000_N_N_0.png"``.
        intrinsics: (3, 3) pinhole intrinsic matrix (invertible), or None.
        scale: orthographic pixels per cm (> 0), or None.
        offset: orthographic ``(t_x, t_y)`` pixel position of the camera-frame origin, or None.
        zmin: background sentinel (mm), below every valid z.

    Returns:
        The :class:`RangeScan` (mm).

    Raises:
        ValueError: bad shapes, both or neither camera given, non-positive pinhole depth or
            scale, a valid z at or below ``zmin``.
    """
    depth = np.asarray(depth, dtype=np.float64)
    if depth.ndim != 2 or 0 in depth.shape:
        raise ValueError(f"depth must have shape (H, W) with H, W > 0, got {depth.shape}")
    h, w = depth.shape
    valid = np.isfinite(depth)
    rows, cols = np.meshgrid(
        np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij"
    )
    ortho = scale is not None or offset is not None
    if (intrinsics is None) == (not ortho) or (ortho and (scale is None or offset is None)):
        raise ValueError("give either intrinsics or both scale and offset (orthographic camera)")
    d = np.where(valid, depth, 0.0)
    if intrinsics is not None:
        k = np.asarray(intrinsics, dtype=np.float64)
        if k.shape != (3, 3) or not np.isfinite(k).all():
            raise ValueError(f"intrinsics must be a finite (3, 3) matrix, got shape {k.shape}")
        if abs(np.linalg.det(k)) < 1e-12:
            raise ValueError("intrinsics must be invertible")
        if (depth[valid] <= 0).any():
            raise ValueError("depth must be > 0 (in front of the pinhole camera) where finite")
        pix = np.stack([cols, rows, np.ones_like(rows)], axis=-1).reshape(-1, 3)
        rays = np.linalg.solve(k, pix.T).T.reshape(h, w, 3)
        cam = rays * (d / rays[:, :, 2])[:, :, None]
        xyz = cam * np.array([1.0, -1.0, -1.0])
    else:
        s = float(scale)
        t = np.asarray(offset, dtype=np.float64)
        if not (math.isfinite(s) and s > 0):
            raise ValueError(f"scale must be a positive number of pixels per cm, got {scale}")
        if t.shape != (2,) or not np.isfinite(t).all():
            raise ValueError(f"offset must be a finite (t_x, t_y) pair, got {offset!r}")
        x = (cols + 0.5 - t[0]) / s
        y = (t[1] - rows - 0.5) / s
        xyz = np.stack([x, y, d], axis=-1)
    xyz = np.where(valid[:, :, None], xyz * MM_PER_CM, np.nan)
    uv = np.stack([(cols + 0.5) / w, 1.0 - (rows + 0.5) / h], axis=-1)
    return RangeScan(xyz=xyz, uv=uv, valid=valid, zmin=zmin, image_file=image_file)


# -------------------------------------------------------------------------------- landmarks


@dataclasses.dataclass(frozen=True, eq=False)
class _Landmarks:
    """Named landmarks in file order (base of :class:`Landmarks3D` and :class:`Landmarks2D`)."""

    names: tuple[str, ...]
    points: np.ndarray

    dim: ClassVar[int] = 0

    def __post_init__(self):
        names = tuple(self.names)
        points = np.array(self.points, dtype=np.float64)
        kind = type(self).__name__
        for name in names:
            if not isinstance(name, str) or not name.strip() or name != name.strip():
                raise ValueError(f"{kind}: names must be non-empty stripped strings, got {name!r}")
            if "\n" in name or "\r" in name or name.startswith("#"):
                raise ValueError(f"{kind}: name {name!r} contains a newline or starts with '#'")
            if _parse_floats(name) is not None:
                raise ValueError(f"{kind}: name {name!r} looks like a coordinate line")
        if len(set(names)) != len(names):
            raise ValueError(f"{kind}: duplicate names in {names}")
        if points.shape != (len(names), self.dim):
            raise ValueError(
                f"{kind}: points must have shape ({len(names)}, {self.dim}), got {points.shape}"
            )
        if not np.isfinite(points).all():
            raise ValueError(f"{kind}: points must be finite")
        points.flags.writeable = False
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "points", points)

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Sequence[float]]):
        """Builds the landmarks from a name -> coordinates mapping (in its order)."""
        names = tuple(mapping)
        points = np.array([np.asarray(mapping[n], dtype=np.float64) for n in names])
        return cls(names, points.reshape(len(names), cls.dim))

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: str) -> bool:
        return name in self.names

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.points[self.names.index(name)]
        except ValueError:
            raise KeyError(f"no landmark named {name!r}; have {self.names}") from None

    def as_dict(self) -> dict[str, np.ndarray]:
        """Name -> ``(dim,)`` coordinates, in file order."""
        return {n: p for n, p in zip(self.names, self.points, strict=True)}

    def to_ibug68(self) -> tuple[np.ndarray, np.ndarray]:
        """Scatters the points with an iBUG counterpart (:data:`BOSPHORUS_TO_IBUG68`).

        Returns:
            ``(points, present)``: (68, dim) coordinates, NaN where absent, and the (68,) bool
            mask of the filled rows.
        """
        out = np.full((68, self.dim), np.nan)
        for name, point in zip(self.names, self.points, strict=True):
            if name in BOSPHORUS_TO_IBUG68:
                out[BOSPHORUS_TO_IBUG68[name]] = point
        return out, ~np.isnan(out[:, 0])


@dataclasses.dataclass(frozen=True, eq=False)
class Landmarks3D(_Landmarks):
    """3D landmarks of a ``.lm3`` file.

    Attributes:
        names: (k,) landmark names in file order.
        points: (k, 3) float64 coordinates in the file's units (mm).
    """

    dim: ClassVar[int] = 3

    @property
    def points_cm(self) -> np.ndarray:
        """(k, 3) coordinates in centimetres (``points / 10``)."""
        return self.points / MM_PER_CM


@dataclasses.dataclass(frozen=True, eq=False)
class Landmarks2D(_Landmarks):
    """2D landmarks of a ``.lm2`` file.

    Attributes:
        names: (k,) landmark names in file order.
        points: (k, 2) float64 image coordinates ``(x, y)`` in pixels on the ``.png``.
    """

    dim: ClassVar[int] = 2


def _parse_floats(text: str) -> list[float] | None:
    parts = text.split()
    if not parts:
        return None
    try:
        return [float(p) for p in parts]
    except ValueError:
        return None


_COUNT_RE = re.compile(r"^(\d+)\s+landmarks:?$", re.IGNORECASE)


def _read_landmarks(path: PathLike, cls: type[_Landmarks]):
    where = os.fspath(path)
    dim = cls.dim
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{where}: not a UTF-8 text file ({err.reason})") from None
    lines = [
        (number, line.strip())
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not lines:
        raise ValueError(f"{where}: no 'N landmarks:' count line (file has no content lines)")
    number, first = lines[0]
    match = _COUNT_RE.match(first)
    if match is None:
        raise ValueError(
            f"{where}, line {number}: expected the count line 'N landmarks:', got {first!r}"
        )
    count = int(match[1])
    body = lines[1:]
    if len(body) != 2 * count:
        found = len(body) // 2
        at = body[2 * count][0] if len(body) > 2 * count else (body[-1][0] if body else number)
        raise ValueError(
            f"{where}, line {at}: count mismatch: line {number} announces {count} landmarks, "
            f"the file holds {found} name/coordinate pairs ({len(body)} content lines)"
        )
    names, points = [], []
    for (name_no, name), (coord_no, coord) in zip(body[0::2], body[1::2], strict=True):
        if _parse_floats(name) is not None:
            raise ValueError(
                f"{where}, line {name_no}: expected a landmark name, got coordinates {name!r}"
            )
        values = _parse_floats(coord)
        if values is None or len(values) != dim:
            raise ValueError(
                f"{where}, line {coord_no}: expected {dim} numbers for landmark {name!r}, "
                f"got {coord!r}"
            )
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"{where}, line {coord_no}: non-finite coordinate {coord!r}")
        if name in names:
            raise ValueError(f"{where}, line {name_no}: duplicate landmark name {name!r}")
        names.append(name)
        points.append(values)
    return cls(tuple(names), np.array(points, dtype=np.float64).reshape(count, dim))


def _write_landmarks(path: PathLike, landmarks: _Landmarks, header: str) -> None:
    out = [header, f"{len(landmarks)} landmarks:"]
    for name, point in zip(landmarks.names, landmarks.points, strict=True):
        out.append(name)
        out.append(" ".join(repr(float(v)) for v in point))
    Path(path).write_text("\n".join(out) + "\n", encoding="utf-8")


def _as_landmarks(value, cls: type[_Landmarks], arg: str):
    if isinstance(value, cls):
        return value
    if isinstance(value, Mapping):
        return cls.from_dict(value)
    raise ValueError(
        f"{arg} must be a {cls.__name__} or a name -> coordinates mapping, "
        f"got {type(value).__name__}"
    )


def read_lm3(path: PathLike) -> Landmarks3D:
    """Reads a ``.lm3`` file (3D landmarks, file units: mm).

    Args:
        path: the ``.lm3`` file.

    Returns:
        The :class:`Landmarks3D` in file order (``.as_dict()`` for a name -> (3,) mapping).

    Raises:
        ValueError: missing count line, a coordinate line without exactly 3 numbers, a count that
            does not match the pairs present, duplicate names; the message names the file and
            the 1-based line.
    """
    return _read_landmarks(path, Landmarks3D)


def write_lm3(path: PathLike, landmarks: Landmarks3D | Mapping[str, Sequence[float]]) -> None:
    """Writes a ``.lm3`` file (header comment, count line, name / ``x y z`` pairs).

    Coordinates are written with ``repr`` (shortest round-trip form), so :func:`read_lm3`
    returns them bit for bit.

    Args:
        path: destination file.
        landmarks: :class:`Landmarks3D` or a name -> (3,) mapping (its order is kept).
    """
    _write_landmarks(path, _as_landmarks(landmarks, Landmarks3D, "landmarks"), "# LANDMARKS 3D")


def read_lm2(path: PathLike) -> Landmarks2D:
    """Reads a ``.lm2`` file (2D landmarks on the image, pixels); errors as :func:`read_lm3`.

    Args:
        path: the ``.lm2`` file.

    Returns:
        The :class:`Landmarks2D` in file order.
    """
    return _read_landmarks(path, Landmarks2D)


def write_lm2(path: PathLike, landmarks: Landmarks2D | Mapping[str, Sequence[float]]) -> None:
    """Writes a ``.lm2`` file (header comment, count line, name / ``x y`` pairs).

    Args:
        path: destination file.
        landmarks: :class:`Landmarks2D` or a name -> (2,) mapping (its order is kept).
    """
    _write_landmarks(path, _as_landmarks(landmarks, Landmarks2D, "landmarks"), "# LANDMARKS 2D")


# ----------------------------------------------------------------------------------- images


def write_bosphorus_image(path: PathLike, image: np.ndarray) -> None:
    """Writes a uint8 grayscale (H, W) or RGB (H, W, 3) image as PNG (lossless).

    Args:
        path: destination ``.png`` file.
        image: uint8 array of shape (H, W) or (H, W, 3).
    """
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise ValueError(f"image must be uint8, got dtype {array.dtype}")
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)) or 0 in array.shape:
        raise ValueError(f"image must have shape (H, W) or (H, W, 3), got {array.shape}")
    mode = "L" if array.ndim == 2 else "RGB"
    Image.fromarray(np.ascontiguousarray(array), mode=mode).save(Path(path), format="PNG")


def read_bosphorus_image(path: PathLike) -> np.ndarray:
    """Reads a Bosphorus image.

    Args:
        path: an image file Pillow can open (``.png`` in the database).

    Returns:
        uint8 (H, W) for grayscale files, (H, W, 3) otherwise (palette and alpha images are
        converted to RGB).

    Raises:
        ValueError: the file is not an image Pillow can read, or has more than 8 bits per channel.
    """
    where = os.fspath(path)
    try:
        with Image.open(Path(path)) as img:
            img.load()
            if img.mode == "L":
                return np.asarray(img, dtype=np.uint8).copy()
            if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
                raise ValueError(f"{where}: {img.mode} images are not supported (need 8-bit)")
            return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
    except (OSError, Image.DecompressionBombError) as err:
        raise ValueError(f"{where}: cannot read image ({err})") from None


# ---------------------------------------------------------------------------------- samples


@dataclasses.dataclass(frozen=True, eq=False)
class BosphorusSample:
    """One Bosphorus sample: its name and the contents of its files.

    Attributes:
        name: the parsed :class:`BosphorusName`.
        scan: the ``.bnt`` range scan (mm).
        lm3: the ``.lm3`` landmarks (mm), or None when the file is absent.
        lm2: the ``.lm2`` landmarks (pixels), or None when the file is absent.
        image_path: path of the ``.png``, or None when absent (read it with
            :func:`read_bosphorus_image`).
    """

    name: BosphorusName
    scan: RangeScan
    lm3: Landmarks3D | None = None
    lm2: Landmarks2D | None = None
    image_path: Path | None = None

    def __post_init__(self):
        if not isinstance(self.name, BosphorusName):
            raise ValueError(f"name must be a BosphorusName, got {type(self.name).__name__}")
        if not isinstance(self.scan, RangeScan):
            raise ValueError(f"scan must be a RangeScan, got {type(self.scan).__name__}")
        if self.lm3 is not None and not isinstance(self.lm3, Landmarks3D):
            raise ValueError(f"lm3 must be Landmarks3D or None, got {type(self.lm3).__name__}")
        if self.lm2 is not None and not isinstance(self.lm2, Landmarks2D):
            raise ValueError(f"lm2 must be Landmarks2D or None, got {type(self.lm2).__name__}")
        if self.image_path is not None:
            object.__setattr__(self, "image_path", Path(self.image_path))


def read_bosphorus_sample(root: PathLike, name: str | BosphorusName) -> BosphorusSample:
    """Reads ``root/bsXXX/{name}.{bnt,lm3,lm2,png}``.

    Args:
        root: dataset root holding the ``bsXXX`` subject folders.
        name: sample stem (``"bs000_LFAU_9_0"``) or :class:`BosphorusName`.

    Returns:
        The :class:`BosphorusSample`; the ``.bnt`` file is required, the others may be absent.

    Raises:
        ValueError: bad name, missing ``.bnt``, or any malformed file (see the readers).
    """
    parsed = parse_bosphorus_name(name)
    bnt = parsed.path(root, ".bnt")
    if not bnt.is_file():
        raise ValueError(f"{bnt}: range scan of sample {parsed.stem} not found")
    lm3, lm2, png = (parsed.path(root, ext) for ext in (".lm3", ".lm2", ".png"))
    return BosphorusSample(
        name=parsed,
        scan=read_bnt(bnt),
        lm3=read_lm3(lm3) if lm3.is_file() else None,
        lm2=read_lm2(lm2) if lm2.is_file() else None,
        image_path=png if png.is_file() else None,
    )


def list_bosphorus_samples(root: PathLike, *, strict: bool = True) -> list[BosphorusName]:
    """Lists the samples (``.bnt`` files) under ``root/bsXXX/``.

    Args:
        root: dataset root.
        strict: raise on a ``.bnt`` file whose name does not parse (True) or skip it (False).

    Returns:
        The names, sorted by subject folder, then class (documentation order), code (numbers
        compared as numbers) and repetition index.

    Raises:
        ValueError: ``root`` is not a directory, or (strict) an unparsable ``.bnt`` file name.
    """
    root_path = Path(root)
    if not root_path.is_dir():
        raise ValueError(f"root must be a directory, got {os.fspath(root)!r}")
    names = []
    for folder in sorted(
        p for p in root_path.iterdir() if p.is_dir() and _SUBJECT_RE.match(p.name)
    ):
        for file in sorted(folder.glob("*.bnt")):
            try:
                names.append(parse_bosphorus_name(file))
            except ValueError:
                if strict:
                    raise
    return sorted(names, key=BosphorusName.sort_key)


def write_bosphorus_sample(
    root: PathLike, sample: BosphorusSample, *, image: np.ndarray | None = None
) -> BosphorusSample:
    """Writes a sample as ``root/bsXXX/{stem}.{bnt,lm3,lm2,png}`` (creating the folder).

    Args:
        root: dataset root.
        sample: the sample; ``lm3`` / ``lm2`` are written when present.
        image: uint8 image to write as the ``.png``. Without it, ``sample.image_path`` (if any)
            is copied byte for byte.

    Returns:
        The sample as it now lies under ``root`` (``image_path`` pointing at the written png,
        or None when no image was written).
    """
    if not isinstance(sample, BosphorusSample):
        raise ValueError(f"sample must be a BosphorusSample, got {type(sample).__name__}")
    name = sample.name
    name.path(root, "").parent.mkdir(parents=True, exist_ok=True)
    write_bnt(name.path(root, ".bnt"), sample.scan)
    if sample.lm3 is not None:
        write_lm3(name.path(root, ".lm3"), sample.lm3)
    if sample.lm2 is not None:
        write_lm2(name.path(root, ".lm2"), sample.lm2)
    png = name.path(root, ".png")
    if image is not None:
        write_bosphorus_image(png, image)
    elif sample.image_path is not None:
        if sample.image_path.resolve() != png.resolve():
            png.write_bytes(sample.image_path.read_bytes())
    else:
        png = None
    return dataclasses.replace(sample, image_path=png)
