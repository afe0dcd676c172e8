"""A TFDS builder for the Bosphorus layout (real or synthetic) that needs no TensorFlow.

:class:`Bosphorus` turns a Bosphorus copy in ``manual_dir`` (REFERENCE §1.3; read with
:func:`aujax.datasets._bosphorus.read_bosphorus_sample`) into one ``array_record`` example per sample
(``.bnt`` file). Bosphorus has no official subject folds (:mod:`aujax.datasets._folds` defines them
for BP4D and DISFA only), so there is a single split ``"train"``; make subject-independent splits
from the ``subject`` feature.

No TensorFlow is needed to build or read (:mod:`aujax.datasets._tfds_core`).

Per-sample features (``k = 22`` standard landmarks :data:`~aujax.datasets.BOSPHORUS_LANDMARKS` in
that order; ``17`` AUs of :data:`aujax.datasets.AU_UNION`):

================  =================  ========================================================
feature           shape, dtype       meaning
================  =================  ========================================================
``subject``       Text               e.g. ``"bs000"``
``name``          Text               the sample stem, e.g. ``"bs000_LFAU_12_0"``
``cls``           Text               ``N``, ``E``, ``LFAU``, ``UFAU``, ``CAU``, ``YR``, ...
``code``          Text               e.g. ``"12"``, ``"A1A2"``, ``"HAPPY"``
``emotion``       Text               the emotion of an ``E`` sample, else ``""``
``aus``           (17,) int8         1 for the AUs the name poses, 0 for the others; all 9
                                     (not coded) for classes that name no AUs (E, YR, PR,
                                     CR, O)
``lm3``           (22, 3) float32    ``.lm3`` points (mm) by name; NaN where absent
``lm3_mask``      (22,) bool         the point is in the ``.lm3`` file
``lm2``           (22, 2) float32    ``.lm2`` points (pixels of the original ``.png``)
``lm2_mask``      (22,) bool         the point is in the ``.lm2`` file
``image_shape``   (2,) int64         (H, W) of the original ``.png`` (image configs)
``image``         (S, S, 3) uint8    the ``.png`` resized to the config size (image configs)
``xyz``           (S, S, 3) float32  the range grid (mm), nearest-neighbour resampled to the
                                     config size; NaN where there is no measurement
``xyz_mask``      (S, S) bool        the grid point is a measurement
================  =================  ========================================================

Landmark points are matched by name (extra points of some files, e.g. ear lobes, are dropped);
``lm2`` stays in the original image's pixels (scale by ``S / image_shape`` to use it on the
stored image). Example keys are the sample stems (unique and deterministic).
"""

import os
import re

import numpy as np
import tensorflow_datasets as tfds

from . import _tfds_core as core
from ._bosphorus import list_bosphorus_samples, read_bosphorus_image, read_bosphorus_sample
from ._bosphorus_names import parse_bosphorus_name
from ._folds import AU_UNION, NOT_CODED
from ._lm import BOSPHORUS_LANDMARKS


__all__ = [
    "BOSPHORUS_SPLITS",
    "Bosphorus",
    "BosphorusConfig",
    "bosphorus_aus",
    "bosphorus_data_source",
    "build_bosphorus_tfds",
]

#: The split names: a single ``"train"`` split (Bosphorus has no official folds).
BOSPHORUS_SPLITS: tuple[str, ...] = ("train",)


class BosphorusConfig(core.SizedConfig):
    """A :class:`Bosphorus` variant (``image_size``: side S of the stored square image and range
    grid, None for labels and landmarks only)."""


class Bosphorus(core.AuBuilder):
    """Bosphorus posed AU / emotion samples: range grid, texture, named 3D and 2D landmarks."""

    RELEASE_NOTES = core.release_notes(
        "Initial release: one example per sample, a single train split."
    )
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    The Bosphorus 3D face database is licensed: request it from Bogazici University
    (http://bosphorus.ee.boun.edu.tr/) and place (or link) the dataset root in `manual_dir/`,
    i.e. the subject folders `manual_dir/bsXXX/bsXXX_{CLASS}_{CODE}_{N}.{bnt,lm3,lm2,png}`.
    A synthetic copy in the same layout needs no licence:
    `python -m tools.make_synthetic --layout bosphorus --preset small --out DIR`, then use DIR
    as manual_dir.
    """
    BUILDER_CONFIGS = core.sized_configs(BosphorusConfig, "scan", "images and range grids")
    DEFAULT_CONFIG_NAME = "scan128"
    DESCRIPTION = (
        "Bosphorus posed expressions (single AUs, AU combinations, the six emotions, "
        f"neutral): range grids, textures, the {len(BOSPHORUS_LANDMARKS)} standard 3D/2D "
        f"landmarks and the posed AUs {AU_UNION} from the sample names; one train split."
    )
    HOMEPAGE = "http://bosphorus.ee.boun.edu.tr/"
    CITATION = (
        "@inproceedings{savran2008bosphorus, title={Bosphorus database for 3D face "
        'analysis}, author={Savran, Arman and Aly{\\"u}z, Ne{\\c{s}}e and Dibeklio{\\u{g}}lu, '
        'Hamdi and {\\c{C}}eliktutan, Oya and G{\\"o}kberk, Berk and Sankur, B{\\"u}lent '
        "and Akarun, Lale}, booktitle={Biometrics and Identity Management (BioID)}, "
        "pages={47--56}, year={2008}}"
    )
    EXPECTED = "a Bosphorus copy (a directory)"

    def _features(self):
        k = len(BOSPHORUS_LANDMARKS)
        return {
            "subject": tfds.features.Text(),
            "name": tfds.features.Text(),
            "cls": tfds.features.Text(),
            "code": tfds.features.Text(),
            "emotion": tfds.features.Text(),
            "aus": tfds.features.Tensor(shape=(len(AU_UNION),), dtype=np.int8),
            "lm3": tfds.features.Tensor(shape=(k, 3), dtype=np.float32),
            "lm3_mask": tfds.features.Tensor(shape=(k,), dtype=np.bool_),
            "lm2": tfds.features.Tensor(shape=(k, 2), dtype=np.float32),
            "lm2_mask": tfds.features.Tensor(shape=(k,), dtype=np.bool_),
        }

    def _image_features(self, size):
        return {
            "image_shape": tfds.features.Tensor(shape=(2,), dtype=np.int64),
            "image": core.image_feature((size, size, 3)),
            "xyz": core.image_feature((size, size, 3), np.float32),
            "xyz_mask": core.image_feature((size, size), np.bool_),
        }

    def _split_units(self, root):
        names = list_bosphorus_samples(root)
        if not names:
            raise ValueError(f"manual_dir: expected bsXXX/bsXXX_*.bnt samples in {root}")
        return {"train": names}

    def _examples(self, root, unit, size):
        yield unit.stem, _sample_example(root, unit, size)


def bosphorus_aus(name) -> tuple[int, ...] | None:
    """The AUs a sample name poses: ``LFAU_12`` -> (12,), ``CAU_A1A2`` -> (1, 2), ``N_N`` -> ().

    Unilateral or otherwise suffixed codes (``12L``, ``A12LW``) count as their AU number.

    Args:
        name: a sample stem, file name or :class:`~aujax.datasets.BosphorusName`.

    Returns:
        The sorted AU numbers, ``()`` for the neutral class, None for classes that do not name AUs
        (emotions, rotations, occlusions).
    """
    parsed = parse_bosphorus_name(name)
    if parsed.cls == "N":
        return ()
    if parsed.cls in ("LFAU", "UFAU"):
        m = re.match(r"^(\d+)", parsed.code)
        return (int(m[1]),) if m else None
    if parsed.cls == "CAU":
        aus = re.findall(r"A?(\d+)", parsed.code)
        return tuple(sorted({int(a) for a in aus})) or None
    return None


def _named(landmarks, dim):
    """(22, dim) float32 points by standard name (NaN where absent) and the (22,) mask."""
    out = np.full((len(BOSPHORUS_LANDMARKS), dim), np.nan, np.float32)
    if landmarks is not None:
        for i, name in enumerate(BOSPHORUS_LANDMARKS):
            if name in landmarks:
                out[i] = landmarks[name]
    return out, ~np.isnan(out[:, 0])


def _resample(grid: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour resampling of an (H, W, ...) grid to (size, size, ...)."""
    h, w = grid.shape[:2]
    rows = np.minimum(((np.arange(size) + 0.5) * h / size).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(size) + 0.5) * w / size).astype(np.int64), w - 1)
    return grid[rows[:, None], cols[None, :]]


def _aus_vector(name) -> np.ndarray:
    aus = bosphorus_aus(name)
    if aus is None:
        return np.full(len(AU_UNION), NOT_CODED, np.int8)
    return np.asarray([1 if au in aus else 0 for au in AU_UNION], np.int8)


def _sample_example(root, name, size):
    """The example of one sample (the reader's arrays, resampled to ``size`` if needed)."""
    sample = read_bosphorus_sample(root, name)
    lm3, lm3_mask = _named(sample.lm3, 3)
    lm2, lm2_mask = _named(sample.lm2, 2)
    ex = {
        "subject": name.subject,
        "name": name.stem,
        "cls": name.cls,
        "code": name.code,
        "emotion": name.code if name.cls == "E" else "",
        "aus": _aus_vector(name),
        "lm3": lm3,
        "lm3_mask": lm3_mask,
        "lm2": lm2,
        "lm2_mask": lm2_mask,
    }
    if size is None:
        return ex
    if sample.image_path is None:
        raise core.missing_images(name.stem, size, name.path(root, ".png"))
    image = read_bosphorus_image(sample.image_path)
    ex["image_shape"] = np.asarray(image.shape[:2], np.int64)
    ex["image"] = core.rgb(image[None], size)[0]
    ex["xyz"] = _resample(sample.scan.xyz, size).astype(np.float32)
    ex["xyz_mask"] = _resample(sample.scan.valid, size)
    return ex


def build_bosphorus_tfds(
    manual_dir: str | os.PathLike,
    data_dir: str | os.PathLike,
    *,
    config: str = "scan128",
) -> Bosphorus:
    """Prepares :class:`Bosphorus` from the Bosphorus root ``manual_dir`` (``bsXXX/`` subject
    folders) as ``config`` (``"scan64"``, ``"scan128"`` or ``"nocrops"``); see
    :func:`aujax.datasets._tfds_core.build`."""
    return core.build(Bosphorus, manual_dir, data_dir, config)


def bosphorus_data_source(
    data_dir: str | os.PathLike,
    split: str = "train",
    *,
    config: str = "scan128",
):
    """Random-access source of the prepared :class:`Bosphorus` split ``"train"`` (or an
    expression such as ``"train[:80%]"``); see :func:`aujax.datasets._tfds_core.data_source`."""
    return core.data_source(Bosphorus, data_dir, split, config)
