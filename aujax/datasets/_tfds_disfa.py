"""A TFDS builder for the DISFA layout (real or synthetic) that needs no TensorFlow.

:class:`Disfa` turns a DISFA copy in ``manual_dir`` (REFERENCE §1.2; read with
:func:`aujax.datasets._disfa.read_disfa_sequence` and the left-camera frames) into per-frame
``array_record`` examples, one split per official subject part (REFERENCE §2): ``"part1"``,
``"part2"``, ``"part3"`` hold the subjects of P1, P2, P3, so ME-GraphAU fold k trains on two parts
and tests on the third. The split names are those of the BP4D builder, so
:func:`aujax.datasets._grain.fold_split` (same fold numbering) serves DISFA too.

TensorFlow is not needed to build or read (REFERENCE §11.5): the features are only ``Tensor``,
``Scalar`` and ``Text``, the file format is ``array_record``, images are raw uint8 tensors.

Per-frame features (the 12 DISFA AUs :data:`~aujax.datasets._folds.DISFA_AUS`):

===================  ===============  =========================================================
feature              shape, dtype     meaning
===================  ===============  =========================================================
``subject``          Text             e.g. ``"SN001"``
``task``             Text             always ``"video"`` (one stimulus video per subject; the
                                      key the grain window loader groups by)
``frame``            () int64         0-based frame (line of the label files, image ``{t}.png``)
``intensity``        (12,) int8       0-5 as coded (DISFA has no missing labels)
``occurrence``       (12,) int8       1 where intensity >= 2 (the usual binarisation), else 0
``landmarks``        (66, 2) float32  (x, y) video pixels; NaN where the frame has no file
``landmark_mask``    () bool          the frame has landmarks
``image``            (H, W, 3) uint8  the left-camera frame, resized to the config size (not in
                                      "nocrops"); grayscale frames are repeated to RGB
===================  ===============  =========================================================

Example keys are ``f"{subject}_{frame}"`` (unique and deterministic).
"""

import dataclasses
import os

import numpy as np
import tensorflow_datasets as tfds
from etils import epath
from PIL import Image

from ._disfa import N_DISFA_LANDMARKS, list_disfa_subjects, read_disfa_frames, read_disfa_sequence
from ._folds import DISFA_AUS, DISFA_PARTS
from ._tfds_bp4d import BP4D_SPLITS, _rgb
from ._tfds_core import BYTES, check_config, open_data_source, prepare_builder


__all__ = [
    "DISFA_OCCURRENCE_THRESHOLD",
    "DISFA_SPLITS",
    "Disfa",
    "DisfaConfig",
    "build_disfa_tfds",
    "disfa_data_source",
]

#: The split names, one per official subject part (P1, P2, P3 of REFERENCE §2).
DISFA_SPLITS: tuple[str, ...] = BP4D_SPLITS
#: Occurrence = intensity >= 2 (ME-GraphAU, py-feat; REFERENCE §1.2, §3.1).
DISFA_OCCURRENCE_THRESHOLD = 2
_TASK = "video"
_FRAME_DIR = os.path.join("Videos_LeftCamera", "frames")
_CHUNK = 256  # frames decoded at a time from a frame folder


@dataclasses.dataclass(eq=False)
class DisfaConfig(tfds.core.BuilderConfig):
    """A :class:`Disfa` variant.

    Attributes:
        image_size: side of the stored square (H = W) RGB image, or None for no image feature.
    """

    image_size: int | None = 128


class Disfa(tfds.core.GeneratorBasedBuilder):
    """DISFA per-frame AU intensities (12 AUs), occurrence, 66 landmarks and left-camera frames."""

    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {
        "1.0.0": "Initial release: per-frame examples, splits part1/part2/part3.",
        "1.1.0": "Image (and range) tensors stored as raw bytes (Encoding.BYTES), not int64 lists.",
    }
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    DISFA is licensed: request it from the University of Denver (http://mohammadmahoor.com/disfa/)
    and place (or link) the dataset root in `manual_dir/`, i.e.
    `manual_dir/ActionUnit_Labels/SNxxx/SNxxx_au{k}.txt`,
    `manual_dir/Landmark_Points/SNxxx/tmp_frame_lm/*.mat` and, for the configs with images, the
    left-camera frames `manual_dir/Videos_LeftCamera/frames/SNxxx/{t}.png` (t 0-based) or the
    videos `manual_dir/Videos_LeftCamera/LeftVideoSNxxx_comp.avi` (decoded with OpenCV).
    A synthetic copy in the same layout needs no licence:
    `python -m tools.make_synthetic --layout disfa --preset small --out DIR`, then use DIR as
    manual_dir.
    """
    BUILDER_CONFIGS = [
        DisfaConfig(name="crops64", description="64x64 RGB frames.", image_size=64),
        DisfaConfig(name="crops128", description="128x128 RGB frames.", image_size=128),
        DisfaConfig(name="nocrops", description="Labels and landmarks only.", image_size=None),
    ]
    DEFAULT_CONFIG_NAME = "crops128"
    # see Bp4d: TFDS cannot infer these when aujax is seen as a namespace package
    pkg_dir_path = epath.Path(os.path.dirname(os.path.abspath(__file__)))
    code_path = epath.Path(os.path.abspath(__file__))

    def _info(self) -> tfds.core.DatasetInfo:
        n = len(DISFA_AUS)
        features = {
            "subject": tfds.features.Text(),
            "task": tfds.features.Text(),
            "frame": tfds.features.Scalar(np.int64),
            "intensity": tfds.features.Tensor(shape=(n,), dtype=np.int8),
            "occurrence": tfds.features.Tensor(shape=(n,), dtype=np.int8),
            "landmarks": tfds.features.Tensor(shape=(N_DISFA_LANDMARKS, 2), dtype=np.float32),
            "landmark_mask": tfds.features.Scalar(np.bool_),
        }
        size = self.builder_config.image_size
        if size is not None:
            features["image"] = tfds.features.Tensor(
                shape=(size, size, 3), dtype=np.uint8, encoding=BYTES
            )
        return self.dataset_info_from_configs(
            description=(
                f"DISFA left-camera frames with the intensities (0-5) of the 12 AUs {DISFA_AUS}, "
                f"occurrence at intensity >= {DISFA_OCCURRENCE_THRESHOLD} and 66 2D landmarks; "
                "splits are the official subject parts P1/P2/P3."
            ),
            features=tfds.features.FeaturesDict(features),
            homepage="http://mohammadmahoor.com/disfa/",
            citation=(
                "@article{mavadati2013disfa, title={DISFA: A spontaneous facial action intensity "
                "database}, author={Mavadati, S. Mohammad and Mahoor, Mohammad H. and Bartlett, "
                "Kevin and Trinh, Philip and Cohn, Jeffrey F.}, journal={IEEE Transactions on "
                "Affective Computing}, volume={4}, number={2}, pages={151--160}, year={2013}}"
            ),
        )

    def _split_generators(self, dl_manager):
        root = os.fspath(dl_manager.manual_dir)
        subjects = list_disfa_subjects(root)
        known = {s for part in DISFA_PARTS for s in part}
        unknown = sorted(s for s in subjects if s not in known)
        if unknown:
            raise ValueError(
                f"manual_dir: subjects {unknown} are in no DISFA part "
                f"(expected one of {sorted(known)})"
            )
        if not subjects:
            raise ValueError(f"manual_dir: expected ActionUnit_Labels/SNxxx/ folders in {root}")
        # TFDS cannot write an empty split: a part without subjects (a partial copy) gets none.
        splits = {}
        for name, part in zip(DISFA_SPLITS, DISFA_PARTS, strict=True):
            mine = [s for s in subjects if s in part]
            if mine:
                splits[name] = self._generate_examples(root, mine)
        return splits

    def _generate_examples(self, root, subjects):
        size = self.builder_config.image_size
        for subject in subjects:
            yield from _subject_examples(root, subject, size)


def _read_png(path: str) -> np.ndarray:
    """One frame as :func:`read_disfa_frames` decodes it (L or RGB, other modes -> RGB)."""
    try:
        with Image.open(path) as im:
            return np.asarray(im if im.mode in ("L", "RGB") else im.convert("RGB"))
    except OSError as e:
        raise ValueError(f"{path}: cannot read image ({e})") from None


def _frame_chunks(root, subject, n_frames):
    """Yields (start, images) chunks of a subject's first ``n_frames`` left-camera frames.

    A frame folder is decoded ``_CHUNK`` frames at a time (a real subject has ~4845 frames); a
    video is decoded whole by :func:`read_disfa_frames`.
    """
    folder = os.path.join(os.fspath(root), _FRAME_DIR, subject)
    if not os.path.isdir(folder):
        images = read_disfa_frames(root, subject)
        if images.shape[0] < n_frames:
            raise ValueError(
                f"{subject}: expected {n_frames} frames (label lines), the video has "
                f"{images.shape[0]}"
            )
        yield 0, images[:n_frames]
        return
    shape = None
    for start in range(0, n_frames, _CHUNK):
        ims = []
        for t in range(start, min(start + _CHUNK, n_frames)):
            path = os.path.join(folder, f"{t}.png")
            if not os.path.isfile(path):
                raise ValueError(
                    f"{subject}: missing frame {path} (expected {n_frames} frames, one per label "
                    "line)"
                )
            arr = _read_png(path)
            shape = arr.shape if shape is None else shape
            if arr.shape != shape:
                raise ValueError(f"{path}: expected shape {shape}, got {arr.shape}")
            ims.append(arr)
        yield start, np.stack(ims)


def _subject_examples(root, subject, size):
    """Yields ``(key, example)`` for every frame of one subject."""
    seq = read_disfa_sequence(root, subject)
    intensity = seq.intensity.astype(np.int8)
    occurrence = seq.occurrence(DISFA_OCCURRENCE_THRESHOLD)
    landmarks = seq.landmarks.astype(np.float32)
    lm_mask = seq.landmark_mask
    n = seq.frames.size

    def example(t):
        return {
            "subject": subject,
            "task": _TASK,
            "frame": np.int64(seq.frames[t]),
            "intensity": intensity[t],
            "occurrence": occurrence[t],
            "landmarks": landmarks[t],
            "landmark_mask": np.bool_(lm_mask[t]),
        }

    if size is None:
        for t in range(n):
            yield f"{subject}_{int(seq.frames[t])}", example(t)
        return
    folder = os.path.join(os.fspath(root), _FRAME_DIR, subject)
    video = os.path.join(os.fspath(root), "Videos_LeftCamera", f"LeftVideo{subject}_comp.avi")
    if not (os.path.isdir(folder) or os.path.isfile(video)):
        raise ValueError(
            f"{subject}: the config with {size}x{size} images expects left-camera frames "
            f"{folder}/{{t}}.png or a video {video} under manual_dir; use config 'nocrops'"
        )
    for start, images in _frame_chunks(root, subject, n):
        rgb = _rgb(images, size)
        for k in range(rgb.shape[0]):
            ex = example(start + k)
            ex["image"] = rgb[k]
            yield f"{subject}_{int(seq.frames[start + k])}", ex


def build_disfa_tfds(
    manual_dir: str | os.PathLike,
    data_dir: str | os.PathLike,
    *,
    config: str = "crops128",
) -> Disfa:
    """Prepares the DISFA TFDS dataset from a copy in ``manual_dir`` (no TensorFlow needed).

    Args:
        manual_dir: the DISFA root (``ActionUnit_Labels/``, ``Landmark_Points/``, optionally
            ``Videos_LeftCamera/``).
        data_dir: where TFDS writes the prepared ``array_record`` files.
        config: ``"crops64"``, ``"crops128"`` or ``"nocrops"``.

    Returns:
        The prepared builder (``builder.as_data_source(split=...)`` reads it).

    Raises:
        ValueError: unknown ``config`` or a ``manual_dir`` without a DISFA layout.
    """
    _check_config(config)
    if not os.path.isdir(os.path.join(os.fspath(manual_dir), "ActionUnit_Labels")):
        raise ValueError(
            f"manual_dir: expected a DISFA copy with ActionUnit_Labels, got {manual_dir}"
        )
    return prepare_builder(Disfa, manual_dir, data_dir, config)


def disfa_data_source(
    data_dir: str | os.PathLike,
    split: str,
    *,
    config: str = "crops128",
):
    """Random-access source of a prepared split (``len(src)``, ``src[i]`` -> dict of numpy).

    Args:
        data_dir: the ``data_dir`` given to :func:`build_disfa_tfds`.
        split: ``"part1"``, ``"part2"``, ``"part3"`` or a TFDS split expression such as
            ``"part1+part2"`` (a part without any subject in ``manual_dir`` has no split).
        config: the builder config that was prepared.

    Returns:
        The TFDS ``ArrayRecordDataSource``; Text features come back as ``bytes``.

    Raises:
        ValueError: unknown or unprepared ``config``.
    """
    return open_data_source(Disfa, data_dir, split, config, build_fn="build_disfa_tfds")


def _check_config(config):
    check_config(Disfa, config)
