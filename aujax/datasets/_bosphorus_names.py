r"""Bosphorus file names: ``bsXXX_{CLASS}_{CODE}_{N}`` stems, sample classes and the layout's units.

The Bosphorus 3D face database (REFERENCE 1.3) stores one sample as four files that share a stem
in a per-subject folder::

    root/bsXXX/bsXXX_{CLASS}_{CODE}_{N}.bnt   range scan (:mod:`aujax.datasets._bnt`)
    root/bsXXX/bsXXX_{CLASS}_{CODE}_{N}.lm3   3D landmarks (text, mm; :mod:`aujax.datasets._lm`)
    root/bsXXX/bsXXX_{CLASS}_{CODE}_{N}.lm2   2D landmarks on the png (text, pixels)
    root/bsXXX/bsXXX_{CLASS}_{CODE}_{N}.png   texture image

with the classes N (neutral), E (emotion), LFAU / UFAU (lower / upper face AU), CAU (combined AUs),
YR / PR / CR (yaw / pitch / cross rotation) and O (occlusion), e.g. ``bs000_LFAU_9_0``.

**Units.** The real Bosphorus scans and ``.lm3`` files are in millimetres; files written here
use millimetres as well, and the readers return the file's units unchanged. The rest of aujax
works in centimetres: use :attr:`RangeScan.xyz_cm` / :attr:`Landmarks3D.points_cm` (``mm / 10``).

This module is pure host code; it does not import JAX.
"""

import dataclasses
import os
import re
from pathlib import Path


__all__ = [
    "BOSPHORUS_CLASSES",
    "MM_PER_CM",
    "BosphorusName",
    "bosphorus_name",
    "parse_bosphorus_name",
]

PathLike = str | os.PathLike

#: The sample classes of the file names, in the order of the Bosphorus documentation.
BOSPHORUS_CLASSES: tuple[str, ...] = ("N", "E", "LFAU", "UFAU", "CAU", "YR", "PR", "CR", "O")

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
