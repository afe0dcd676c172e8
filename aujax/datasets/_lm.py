r"""Bosphorus ``.lm3`` / ``.lm2`` landmark files (REFERENCE 1.3): read and written, and their
correspondence with the iBUG-68 scheme.

**.lm3 / .lm2** (text): optional ``#`` comment lines (real files open with a header comment; we
write ``# LANDMARKS 3D`` / ``# LANDMARKS 2D``, the exact wording of the real header is
unverified), then ``N landmarks:``, then N pairs of lines: a landmark name and ``x y z`` (lm3, mm)
or ``x y`` (lm2, image pixels). Blank lines and lines starting with ``#`` are skipped (as in
menpo's ``lm3_importer``). Files carry the 22 standard names of :data:`BOSPHORUS_LANDMARKS`, a
subset of them (occlusions, rotations) or extra points (ear lobes, temples) in some files.

This module is pure host code (NumPy); it does not import JAX.
"""

import dataclasses
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np

from ._bosphorus_names import MM_PER_CM, PathLike


__all__ = [
    "BOSPHORUS_LANDMARKS",
    "BOSPHORUS_TO_IBUG68",
    "Landmarks2D",
    "Landmarks3D",
    "read_lm2",
    "read_lm3",
    "write_lm2",
    "write_lm3",
]

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
