"""A TFDS builder for the DISFA layout (real or synthetic) that needs no TensorFlow.

:class:`Disfa` turns a DISFA copy in ``manual_dir`` (REFERENCE §1.2; read with
:func:`aujax.datasets._disfa.read_disfa_sequence` and the left-camera frames) into per-frame
``array_record`` examples, one split per official subject part (REFERENCE §2): ``"part1"``,
``"part2"``, ``"part3"`` hold the subjects of P1, P2, P3, so ME-GraphAU fold k trains on two parts
and tests on the third. The split names are those of the BP4D builder, so
:func:`aujax.datasets._grain.fold_split` (same fold numbering) serves DISFA too.

No TensorFlow is needed to build or read (:mod:`aujax.datasets._tfds_core`).

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

import os

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from . import _tfds_core as core
from ._disfa import N_DISFA_LANDMARKS, list_disfa_subjects, read_disfa_frames, read_disfa_sequence
from ._folds import DISFA_AUS, DISFA_PARTS


__all__ = [
    "DISFA_OCCURRENCE_THRESHOLD",
    "DISFA_SPLITS",
    "Disfa",
    "DisfaConfig",
    "build_disfa_tfds",
    "disfa_data_source",
]

#: The split names, one per official subject part (P1, P2, P3 of REFERENCE §2).
DISFA_SPLITS: tuple[str, ...] = core.PART_SPLITS
#: Occurrence = intensity >= 2 (ME-GraphAU, py-feat; REFERENCE §1.2, §3.1).
DISFA_OCCURRENCE_THRESHOLD = 2
_TASK = "video"
_FRAME_DIR = os.path.join("Videos_LeftCamera", "frames")
_CHUNK = 256  # frames decoded at a time from a frame folder


class DisfaConfig(core.SizedConfig):
    """A :class:`Disfa` variant (``image_size``: side of the square RGB image, None for none)."""


class Disfa(core.AuBuilder):
    """DISFA per-frame AU intensities (12 AUs), occurrence, 66 landmarks and left-camera frames."""

    RELEASE_NOTES = core.release_notes(
        "Initial release: per-frame examples, splits part1/part2/part3."
    )
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
    BUILDER_CONFIGS = core.sized_configs(DisfaConfig, "crops", "RGB frames")
    DEFAULT_CONFIG_NAME = "crops128"
    DESCRIPTION = (
        f"DISFA left-camera frames with the intensities (0-5) of the 12 AUs {DISFA_AUS}, "
        f"occurrence at intensity >= {DISFA_OCCURRENCE_THRESHOLD} and 66 2D landmarks; "
        "splits are the official subject parts P1/P2/P3."
    )
    HOMEPAGE = "http://mohammadmahoor.com/disfa/"
    CITATION = (
        "@article{mavadati2013disfa, title={DISFA: A spontaneous facial action intensity "
        "database}, author={Mavadati, S. Mohammad and Mahoor, Mohammad H. and Bartlett, "
        "Kevin and Trinh, Philip and Cohn, Jeffrey F.}, journal={IEEE Transactions on "
        "Affective Computing}, volume={4}, number={2}, pages={151--160}, year={2013}}"
    )
    REQUIRED_DIR = ("ActionUnit_Labels",)
    EXPECTED = "a DISFA copy with ActionUnit_Labels"

    def _features(self):
        n = len(DISFA_AUS)
        return {
            "subject": tfds.features.Text(),
            "task": tfds.features.Text(),
            "frame": tfds.features.Scalar(np.int64),
            "intensity": tfds.features.Tensor(shape=(n,), dtype=np.int8),
            "occurrence": tfds.features.Tensor(shape=(n,), dtype=np.int8),
            "landmarks": tfds.features.Tensor(shape=(N_DISFA_LANDMARKS, 2), dtype=np.float32),
            "landmark_mask": tfds.features.Scalar(np.bool_),
        }

    def _split_units(self, root):
        subjects = list_disfa_subjects(root)
        unknown = core.unknown_subjects(subjects, DISFA_PARTS)
        if unknown:
            known = sorted({s for part in DISFA_PARTS for s in part})
            raise ValueError(
                f"manual_dir: subjects {unknown} are in no DISFA part (expected one of {known})"
            )
        if not subjects:
            raise ValueError(f"manual_dir: expected ActionUnit_Labels/SNxxx/ folders in {root}")
        return core.part_splits(subjects, DISFA_PARTS)

    def _examples(self, root, unit, size):
        return _subject_examples(root, unit, size)


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
        raise core.missing_images(
            subject, size, f"left-camera frames {folder}/{{t}}.png or a video {video}"
        )
    for start, images in _frame_chunks(root, subject, n):
        rgb_images = core.rgb(images, size)
        for k in range(rgb_images.shape[0]):
            ex = example(start + k)
            ex["image"] = rgb_images[k]
            yield f"{subject}_{int(seq.frames[start + k])}", ex


def build_disfa_tfds(
    manual_dir: str | os.PathLike,
    data_dir: str | os.PathLike,
    *,
    config: str = "crops128",
) -> Disfa:
    """Prepares :class:`Disfa` from the DISFA root ``manual_dir`` (``ActionUnit_Labels/``,
    ``Landmark_Points/``, optionally ``Videos_LeftCamera/``) as ``config`` (``"crops64"``,
    ``"crops128"`` or ``"nocrops"``); see :func:`aujax.datasets._tfds_core.build`."""
    return core.build(Disfa, manual_dir, data_dir, config)


def disfa_data_source(
    data_dir: str | os.PathLike,
    split: str,
    *,
    config: str = "crops128",
):
    """Random-access source of a prepared :class:`Disfa` split: ``"part1"``, ``"part2"``,
    ``"part3"`` or an expression such as ``"part1+part2"`` (a part without any subject in
    ``manual_dir`` has no split); see :func:`aujax.datasets._tfds_core.data_source`."""
    return core.data_source(Disfa, data_dir, split, config)
