"""What the BP4D, DISFA and Bosphorus TFDS builders share (DESIGN §6.3).

:class:`AuBuilder` is the base of :class:`~aujax.datasets.Bp4d`, :class:`~aujax.datasets.Disfa` and
:class:`~aujax.datasets.Bosphorus`: version and release notes, the three configs (two image sizes
and ``"nocrops"``), ``_info`` from the subclass's features, description, homepage and citation,
the split generators from the subclass's ``_split_units`` and per-unit ``_examples``, and the
``manual_dir`` layout check as data (``REQUIRED_DIR``, ``EXPECTED``). :func:`build` and
:func:`data_source` prepare and open any of them; the ``build_*_tfds`` and ``*_data_source``
functions are these with the builder and its default config filled in.

TensorFlow is not needed to build or read (REFERENCE §11.5): the features are only ``Tensor``,
``Scalar`` and ``Text``, the file format is ``array_record``, and images are stored as raw uint8
tensors (the ``Image`` feature's PNG encoding would import TensorFlow).
"""

import abc
import dataclasses
import os
import sys

import numpy as np
import tensorflow_datasets as tfds
from etils import epath
from PIL import Image


__all__ = [
    "BYTES",
    "PART_SPLITS",
    "AuBuilder",
    "SizedConfig",
    "build",
    "check_config",
    "data_source",
    "image_feature",
    "missing_images",
    "part_splits",
    "release_notes",
    "rgb",
    "sized_configs",
    "unknown_subjects",
]

# Image-sized tensors are stored as one raw byte string (decoded with np.frombuffer) instead of a
# protobuf int64/float list: building the 32,800-frame small BP4D-like set spent ~45 s of ~140 s
# turning 64 x 64 x 3 crops into int64 lists (cProfile, this 2-core CPU); reading back pays the same.
BYTES = tfds.features.Encoding.BYTES

#: The split names of the datasets with official subject parts (P1, P2, P3 of REFERENCE §2).
PART_SPLITS: tuple[str, ...] = ("part1", "part2", "part3")


@dataclasses.dataclass(eq=False)
class SizedConfig(tfds.core.BuilderConfig):
    """A builder variant.

    Attributes:
        image_size: side of the stored square (H = W) image, or None for no image feature.
    """

    image_size: int | None = 128


def sized_configs(config_cls, prefix: str, what: str) -> list:
    """The configs ``{prefix}64``, ``{prefix}128`` (``what`` at that size) and ``"nocrops"``."""
    return [
        *(
            config_cls(name=f"{prefix}{s}", description=f"{s}x{s} {what}.", image_size=s)
            for s in (64, 128)
        ),
        config_cls(name="nocrops", description="Labels and landmarks only.", image_size=None),
    ]


def release_notes(first: str) -> dict[str, str]:
    """The release notes of version 1.1.0, ``first`` those of 1.0.0."""
    return {
        "1.0.0": first,
        "1.1.0": "Image (and range) tensors stored as raw bytes (Encoding.BYTES), not int64 lists.",
    }


def image_feature(shape, dtype=np.uint8):
    """A tensor feature stored as raw bytes (an image or range grid)."""
    return tfds.features.Tensor(shape=shape, dtype=dtype, encoding=BYTES)


class AuBuilder(tfds.core.GeneratorBasedBuilder):
    """A builder of per-frame (or per-sample) examples read from a licensed layout in manual_dir.

    Subclasses give ``BUILDER_CONFIGS`` (:func:`sized_configs`), ``DEFAULT_CONFIG_NAME``,
    ``RELEASE_NOTES``, ``MANUAL_DOWNLOAD_INSTRUCTIONS``, ``DESCRIPTION``, ``HOMEPAGE``,
    ``CITATION``, the layout check ``REQUIRED_DIR`` (path parts under manual_dir that must be a
    directory) and ``EXPECTED`` (what the error says was expected), and implement
    :meth:`_features`, :meth:`_split_units` and :meth:`_examples`.
    """

    VERSION = tfds.core.Version("1.1.0")
    DESCRIPTION: str
    HOMEPAGE: str
    CITATION: str
    REQUIRED_DIR: tuple[str, ...] = ()
    EXPECTED: str
    # TFDS infers these through importlib.resources, which fails when aujax is seen as a
    # namespace package (e.g. an editable install made before aujax/__init__.py existed).
    pkg_dir_path = epath.Path(os.path.dirname(os.path.abspath(__file__)))

    def __init_subclass__(cls, **kwargs):
        cls.code_path = epath.Path(os.path.abspath(sys.modules[cls.__module__].__file__))
        super().__init_subclass__(**kwargs)

    @abc.abstractmethod
    def _features(self) -> dict:
        """The features every config has (name -> feature), in order."""

    def _image_features(self, size: int) -> dict:
        """The features the configs with ``size`` x ``size`` images add."""
        return {"image": image_feature((size, size, 3))}

    @abc.abstractmethod
    def _split_units(self, root: str) -> dict[str, list]:
        """``{split: units}`` of the copy at ``root`` (a unit: what :meth:`_examples` reads)."""

    @abc.abstractmethod
    def _examples(self, root: str, unit, size: int | None):
        """Yields ``(key, example)`` for one unit (sequence, subject, sample) of ``root``."""

    def _info(self) -> tfds.core.DatasetInfo:
        features = self._features()
        size = self.builder_config.image_size
        if size is not None:
            features.update(self._image_features(size))
        return self.dataset_info_from_configs(
            description=self.DESCRIPTION,
            features=tfds.features.FeaturesDict(features),
            homepage=self.HOMEPAGE,
            citation=self.CITATION,
        )

    def _split_generators(self, dl_manager):
        root = os.fspath(dl_manager.manual_dir)
        return {
            name: self._generate_examples(root, units)
            for name, units in self._split_units(root).items()
        }

    def _generate_examples(self, root, units):
        size = self.builder_config.image_size
        for unit in units:
            yield from self._examples(root, unit, size)


def unknown_subjects(subjects, parts) -> list[str]:
    """The sorted subjects that are in none of ``parts``."""
    known = {s for part in parts for s in part}
    return sorted({s for s in subjects if s not in known})


def part_splits(units, parts, subject=lambda unit: unit) -> dict[str, list]:
    """``{"part1": units of P1, ...}`` without the parts that have none.

    TFDS cannot write an empty split: a part without units (a partial copy) gets no split.
    """
    splits = {}
    for name, part in zip(PART_SPLITS, parts, strict=True):
        mine = [u for u in units if subject(u) in part]
        if mine:
            splits[name] = mine
    return splits


def missing_images(who: str, size: int, expected: str) -> ValueError:
    """The error of an image config whose images are not in manual_dir."""
    return ValueError(
        f"{who}: the config with {size}x{size} images expects {expected} under manual_dir; "
        "use config 'nocrops'"
    )


def rgb(images: np.ndarray, size: int | None) -> np.ndarray:
    """(T, H, W) or (T, H, W, 3) uint8 -> (T, size, size, 3) uint8 (bilinear resize if needed)."""
    if images.ndim == 3:
        images = np.repeat(images[..., None], 3, axis=-1)
    if size is None or images.shape[1:3] == (size, size):
        return images
    return np.stack(
        [np.asarray(Image.fromarray(im).resize((size, size), Image.BILINEAR)) for im in images]
    )


def check_config(builder_cls, config: str) -> None:
    """Raises ``ValueError`` unless ``config`` names one of ``builder_cls``'s configs."""
    names = [c.name for c in builder_cls.BUILDER_CONFIGS]
    if config not in names:
        raise ValueError(f"config: expected one of {names}, got {config!r}")


def _builder(builder_cls, data_dir, config: str):
    check_config(builder_cls, config)
    return builder_cls(config=config, data_dir=os.fspath(data_dir), file_format="array_record")


def build(builder_cls, manual_dir, data_dir, config: str):
    """Prepares ``builder_cls`` (config ``config``) in ``data_dir`` from a copy in ``manual_dir``.

    Args:
        builder_cls: an :class:`AuBuilder` subclass.
        manual_dir: the dataset root in its original layout.
        data_dir: where TFDS writes the prepared ``array_record`` files.
        config: one of the builder's config names.

    Returns:
        The prepared builder (``builder.as_data_source(split=...)`` reads it).

    Raises:
        ValueError: unknown ``config`` or a ``manual_dir`` without the dataset's layout.
    """
    check_config(builder_cls, config)
    if not os.path.isdir(os.path.join(os.fspath(manual_dir), *builder_cls.REQUIRED_DIR)):
        raise ValueError(f"manual_dir: expected {builder_cls.EXPECTED}, got {manual_dir}")
    builder = _builder(builder_cls, data_dir, config)
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=os.fspath(manual_dir)),
        file_format="array_record",
    )
    return builder


def data_source(builder_cls, data_dir, split: str, config: str):
    """The random-access source of a prepared split (``len(src)``, ``src[i]`` -> dict of numpy).

    Args:
        builder_cls: an :class:`AuBuilder` subclass.
        data_dir: the ``data_dir`` given to :func:`build`.
        split: a split name or a TFDS split expression (``"part1+part2"``, ``"train[:80%]"``).
        config: the builder config that was prepared.

    Returns:
        The TFDS ``ArrayRecordDataSource``; Text features come back as ``bytes``.

    Raises:
        ValueError: unknown config, or a config not prepared under ``data_dir`` (the message
            names ``build_{name}_tfds``, the function that prepares it).
    """
    builder = _builder(builder_cls, data_dir, config)
    if not builder.is_prepared():
        raise ValueError(
            f"config: {config!r} is not prepared under data_dir {data_dir} "
            f"(run build_{builder_cls.name}_tfds with this config first)"
        )
    return builder.as_data_source(split=split)
