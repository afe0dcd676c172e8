r"""Bosphorus ``.bnt`` range scans (REFERENCE 1.3): read, written, and made from a depth map.

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

Units: millimetres, as in the real files (:attr:`RangeScan.xyz_cm` for centimetres);
:func:`range_scan_from_depth` takes a renderer's depth map in cm and writes mm.

This module is pure host code (NumPy); it does not import JAX.
"""

import dataclasses
import math
import os
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ._bosphorus_names import MM_PER_CM, PathLike


__all__ = ["DEFAULT_ZMIN", "RangeScan", "range_scan_from_depth", "read_bnt", "write_bnt"]


#: Background sentinel written by :func:`range_scan_from_depth` (mm). The value real files use
#: is not documented here (unverified); readers take whatever ``zmin`` the file holds.
DEFAULT_ZMIN = -1.0e9


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

    * **orthographic**, the inverse of ``aujax.geometry.OrthoCamera`` (pixel ``(row, col)`` has its
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
