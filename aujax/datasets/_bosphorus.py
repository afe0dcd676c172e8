r"""Bosphorus on-disk layout (REFERENCE 1.3): one sample's ``.bnt`` range scan, ``.lm3``/``.lm2``
landmarks and ``.png`` image, read and written together, and the samples of a copy listed.

The file formats have their own modules: names and units :mod:`aujax.datasets._bosphorus_names`,
range scans :mod:`aujax.datasets._bnt`, landmark files :mod:`aujax.datasets._lm`.

This module is pure host code (NumPy, Pillow); it does not import JAX.
"""

import dataclasses
import os
from pathlib import Path

import numpy as np
from PIL import Image

from ._bnt import RangeScan, read_bnt, write_bnt
from ._bosphorus_names import (
    _SUBJECT_RE,
    BosphorusName,
    PathLike,
    parse_bosphorus_name,
)
from ._lm import Landmarks2D, Landmarks3D, read_lm2, read_lm3, write_lm2, write_lm3


__all__ = [
    "BosphorusSample",
    "list_bosphorus_samples",
    "read_bosphorus_image",
    "read_bosphorus_sample",
    "write_bosphorus_image",
    "write_bosphorus_sample",
]

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
