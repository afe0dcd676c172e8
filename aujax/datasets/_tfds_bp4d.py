"""A TFDS builder for the BP4D layout (real or synthetic) that needs no TensorFlow.

:class:`Bp4d` turns a BP4D copy in ``manual_dir`` (REFERENCE §1.1; read with
:func:`aujax.datasets._bp4d.read_bp4d_sequence`) into per-frame ``array_record`` examples, one split per
official subject part (REFERENCE §2): ``"part1"``, ``"part2"``, ``"part3"`` hold the subjects of
P1, P2, P3, so ME-GraphAU fold k trains on two parts and tests on the third
(:func:`aujax.datasets._grain.fold_split`).

TensorFlow is not needed to build or read (REFERENCE §11.5): the features are only ``Tensor``,
``Scalar`` and ``Text``, the file format is ``array_record``, and images are stored as raw uint8
tensors (the ``Image`` feature's PNG encoding would import TensorFlow).

Per-frame features (``n = 12`` occurrence AUs :data:`~aujax.datasets._folds.BP4D_AUS`, 5 intensity AUs
:data:`~aujax.datasets._folds.BP4D_INTENSITY_AUS`):

===================  ===============  =========================================================
feature              shape, dtype     meaning
===================  ===============  =========================================================
``subject``          Text             e.g. ``"F001"``
``task``             Text             ``"T1"`` .. ``"T8"``
``frame``            () int64         frame number (column ``'0'`` of AU_OCC)
``occurrence``       (12,) int8       1 present, 0 absent, 9 not coded
``occurrence_mask``  (12,) bool       label usable: not 9 and the frame not occluded
``intensity``        (5,) int8        0-5, 9 missing (all 9 without intensity files)
``landmarks``        (49, 2) float32  (x, y) pixels; NaN where the frame has none
``landmark_mask``    () bool          the frame has landmarks
``pose``             (3, 3) float32   head rotation; NaN where missing
``image``            (H, W, 3) uint8  the frame, resized to the config size (not in "nocrops")
===================  ===============  =========================================================

Example keys are ``f"{subject}_{task}_{frame}"`` (unique and deterministic).
"""

import dataclasses
import os

import numpy as np
import tensorflow_datasets as tfds
from etils import epath
from PIL import Image

from ._bp4d import list_bp4d_sequences, read_bp4d_frames, read_bp4d_sequence
from ._folds import BP4D_AUS, BP4D_INTENSITY_AUS, BP4D_PARTS
from ._mat73 import N_BP4D_LANDMARKS
from ._tfds_core import BYTES, check_config, open_data_source, prepare_builder


__all__ = [
    "BP4D_SPLITS",
    "Bp4d",
    "Bp4dConfig",
    "bp4d_data_source",
    "build_bp4d_tfds",
]

#: The split names, one per official subject part (P1, P2, P3 of REFERENCE §2).
BP4D_SPLITS: tuple[str, ...] = ("part1", "part2", "part3")


@dataclasses.dataclass(eq=False)
class Bp4dConfig(tfds.core.BuilderConfig):
    """A :class:`Bp4d` variant.

    Attributes:
        image_size: side of the stored square (H = W) RGB image, or None for no image feature.
    """

    image_size: int | None = 128


class Bp4d(tfds.core.GeneratorBasedBuilder):
    """BP4D-Spontaneous per-frame AU occurrence, intensity, landmarks, pose and images."""

    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {
        "1.0.0": "Initial release: per-frame examples, splits part1/part2/part3.",
        "1.1.0": "Image (and range) tensors stored as raw bytes (Encoding.BYTES), not int64 lists.",
    }
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    BP4D-Spontaneous is licensed: request it from Binghamton University
    (https://www.cs.binghamton.edu/~lijun/Research/3DFE/3DFE_Analysis.html) and place (or link) the
    dataset root in `manual_dir/`, i.e. `manual_dir/AUCoding/AU_OCC/{Subj}_{Task}.csv`,
    `manual_dir/AUCoding/AU_INT/AU06/...`, `manual_dir/2DFeatures/{Subj}_{Task}.mat` and, for the
    configs with images, aligned face crops `manual_dir/img/{Subj}/{Task}/{frame}.jpg`.
    A synthetic copy in the same layout needs no licence:
    `python -m tools.make_synthetic --layout bp4d --preset small --out DIR`, then use DIR as
    manual_dir.
    """
    BUILDER_CONFIGS = [
        Bp4dConfig(name="crops64", description="64x64 RGB frames.", image_size=64),
        Bp4dConfig(name="crops128", description="128x128 RGB frames.", image_size=128),
        Bp4dConfig(name="nocrops", description="Labels and landmarks only.", image_size=None),
    ]
    DEFAULT_CONFIG_NAME = "crops128"
    # TFDS infers these through importlib.resources, which fails when aujax is seen as a
    # namespace package (e.g. an editable install made before aujax/__init__.py existed).
    pkg_dir_path = epath.Path(os.path.dirname(os.path.abspath(__file__)))
    code_path = epath.Path(os.path.abspath(__file__))

    def _info(self) -> tfds.core.DatasetInfo:
        n, k = len(BP4D_AUS), len(BP4D_INTENSITY_AUS)
        features = {
            "subject": tfds.features.Text(),
            "task": tfds.features.Text(),
            "frame": tfds.features.Scalar(np.int64),
            "occurrence": tfds.features.Tensor(shape=(n,), dtype=np.int8),
            "occurrence_mask": tfds.features.Tensor(shape=(n,), dtype=np.bool_),
            "intensity": tfds.features.Tensor(shape=(k,), dtype=np.int8),
            "landmarks": tfds.features.Tensor(shape=(N_BP4D_LANDMARKS, 2), dtype=np.float32),
            "landmark_mask": tfds.features.Scalar(np.bool_),
            "pose": tfds.features.Tensor(shape=(3, 3), dtype=np.float32),
        }
        size = self.builder_config.image_size
        if size is not None:
            features["image"] = tfds.features.Tensor(
                shape=(size, size, 3), dtype=np.uint8, encoding=BYTES
            )
        return self.dataset_info_from_configs(
            description=(
                "BP4D-Spontaneous frames with the 12 occurrence AUs "
                f"{BP4D_AUS}, the 5 intensity AUs {BP4D_INTENSITY_AUS}, 49 2D landmarks and "
                "head pose; splits are the official subject parts P1/P2/P3."
            ),
            features=tfds.features.FeaturesDict(features),
            homepage="https://www.cs.binghamton.edu/~lijun/Research/3DFE/3DFE_Analysis.html",
            citation=(
                "@article{zhang2014bp4d, title={BP4D-Spontaneous: a high-resolution spontaneous "
                "3D dynamic facial expression database}, author={Zhang, Xing and others}, "
                "journal={Image and Vision Computing}, volume={32}, number={10}, "
                "pages={692--706}, year={2014}}"
            ),
        )

    def _split_generators(self, dl_manager):
        root = os.fspath(dl_manager.manual_dir)
        sequences = list_bp4d_sequences(root)
        known = {s for part in BP4D_PARTS for s in part}
        unknown = sorted({s for s, _ in sequences if s not in known})
        if unknown:
            raise ValueError(
                f"manual_dir: sequences of subjects {unknown} that are in no BP4D part "
                "(expected F001-F023, M001-M018)"
            )
        if not sequences:
            raise ValueError(
                f"manual_dir: expected AUCoding/AU_OCC/{{Subj}}_{{Task}}.csv in {root}"
            )
        # TFDS cannot write an empty split: a part without sequences (a partial copy) gets none.
        splits = {}
        for name, part in zip(BP4D_SPLITS, BP4D_PARTS, strict=True):
            mine = [(s, t) for s, t in sequences if s in part]
            if mine:
                splits[name] = self._generate_examples(root, mine)
        return splits

    def _generate_examples(self, root, sequences):
        size = self.builder_config.image_size
        for subject, task in sequences:
            yield from _sequence_examples(root, subject, task, size)


def _rgb(images: np.ndarray, size: int | None) -> np.ndarray:
    """(T, H, W) or (T, H, W, 3) uint8 -> (T, size, size, 3) uint8 (bilinear resize if needed)."""
    if images.ndim == 3:
        images = np.repeat(images[..., None], 3, axis=-1)
    if size is None or images.shape[1:3] == (size, size):
        return images
    return np.stack(
        [np.asarray(Image.fromarray(im).resize((size, size), Image.BILINEAR)) for im in images]
    )


def _sequence_examples(root, subject, task, size):
    """Yields ``(key, example)`` for every coded frame of one sequence."""
    seq = read_bp4d_sequence(root, subject, task, aus=BP4D_AUS)
    images = None
    if size is not None:
        if seq.images is None:
            raise ValueError(
                f"{subject}_{task}: the config with {size}x{size} images expects frames "
                f"img/{subject}/{task}/{{frame}}.jpg under manual_dir; use config 'nocrops'"
            )
        images = _rgb(read_bp4d_frames(root, subject, task, seq.frames), size)
    intensity = np.full((seq.frames.size, len(BP4D_INTENSITY_AUS)), 9, np.int8)
    for j, au in enumerate(BP4D_INTENSITY_AUS):
        if seq.intensity is not None and au in seq.intensity:
            intensity[:, j] = seq.intensity[au]
    occurrence = seq.occurrence.astype(np.int8)
    mask = seq.occurrence_mask
    lm_mask = seq.landmark_mask
    landmarks = seq.landmarks.astype(np.float32)
    pose = seq.pose.astype(np.float32)
    for t, frame in enumerate(seq.frames):
        example = {
            "subject": subject,
            "task": task,
            "frame": np.int64(frame),
            "occurrence": occurrence[t],
            "occurrence_mask": mask[t],
            "intensity": intensity[t],
            "landmarks": landmarks[t],
            "landmark_mask": np.bool_(lm_mask[t]),
            "pose": pose[t],
        }
        if images is not None:
            example["image"] = images[t]
        yield f"{subject}_{task}_{int(frame)}", example


def build_bp4d_tfds(
    manual_dir: str | os.PathLike,
    data_dir: str | os.PathLike,
    *,
    config: str = "crops128",
) -> Bp4d:
    """Prepares the BP4D TFDS dataset from a copy in ``manual_dir`` (no TensorFlow needed).

    Args:
        manual_dir: the BP4D root (``AUCoding/``, ``2DFeatures/``, optionally ``img/``).
        data_dir: where TFDS writes the prepared ``array_record`` files.
        config: ``"crops64"``, ``"crops128"`` or ``"nocrops"``.

    Returns:
        The prepared builder (``builder.as_data_source(split=...)`` reads it).

    Raises:
        ValueError: unknown ``config`` or a ``manual_dir`` without a BP4D layout.
    """
    _check_config(config)
    if not os.path.isdir(os.path.join(os.fspath(manual_dir), "AUCoding", "AU_OCC")):
        raise ValueError(f"manual_dir: expected a BP4D copy with AUCoding/AU_OCC, got {manual_dir}")
    return prepare_builder(Bp4d, manual_dir, data_dir, config)


def bp4d_data_source(
    data_dir: str | os.PathLike,
    split: str,
    *,
    config: str = "crops128",
):
    """Random-access source of a prepared split (``len(src)``, ``src[i]`` -> dict of numpy).

    Args:
        data_dir: the ``data_dir`` given to :func:`build_bp4d_tfds`.
        split: ``"part1"``, ``"part2"``, ``"part3"`` or a TFDS split expression such as
            ``"part1+part2"`` (a part without any sequence in ``manual_dir`` has no split).
        config: the builder config that was prepared.

    Returns:
        The TFDS ``ArrayRecordDataSource``; Text features come back as ``bytes``.

    Raises:
        ValueError: unknown or unprepared ``config``.
    """
    return open_data_source(Bp4d, data_dir, split, config, build_fn="build_bp4d_tfds")


def _check_config(config):
    check_config(Bp4d, config)
