"""A TFDS builder for the BP4D layout (real or synthetic) that needs no TensorFlow.

:class:`Bp4d` turns a BP4D copy in ``manual_dir`` (REFERENCE §1.1; read with
:func:`aujax.datasets._bp4d.read_bp4d_sequence`) into per-frame ``array_record`` examples, one split per
official subject part (REFERENCE §2): ``"part1"``, ``"part2"``, ``"part3"`` hold the subjects of
P1, P2, P3, so ME-GraphAU fold k trains on two parts and tests on the third
(:func:`aujax.datasets._grain.fold_split`).

No TensorFlow is needed to build or read (:mod:`aujax.datasets._tfds_core`).

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

import os

import numpy as np
import tensorflow_datasets as tfds

from . import _tfds_core as core
from ._bp4d import list_bp4d_sequences, read_bp4d_frames, read_bp4d_sequence
from ._folds import BP4D_AUS, BP4D_INTENSITY_AUS, BP4D_PARTS
from ._mat73 import N_BP4D_LANDMARKS


__all__ = [
    "BP4D_SPLITS",
    "Bp4d",
    "Bp4dConfig",
    "bp4d_data_source",
    "build_bp4d_tfds",
]

#: The split names, one per official subject part (P1, P2, P3 of REFERENCE §2).
BP4D_SPLITS: tuple[str, ...] = core.PART_SPLITS


class Bp4dConfig(core.SizedConfig):
    """A :class:`Bp4d` variant (``image_size``: side of the square RGB image, None for none)."""


class Bp4d(core.AuBuilder):
    """BP4D-Spontaneous per-frame AU occurrence, intensity, landmarks, pose and images."""

    RELEASE_NOTES = core.release_notes(
        "Initial release: per-frame examples, splits part1/part2/part3."
    )
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
    BUILDER_CONFIGS = core.sized_configs(Bp4dConfig, "crops", "RGB frames")
    DEFAULT_CONFIG_NAME = "crops128"
    DESCRIPTION = (
        "BP4D-Spontaneous frames with the 12 occurrence AUs "
        f"{BP4D_AUS}, the 5 intensity AUs {BP4D_INTENSITY_AUS}, 49 2D landmarks and "
        "head pose; splits are the official subject parts P1/P2/P3."
    )
    HOMEPAGE = "https://www.cs.binghamton.edu/~lijun/Research/3DFE/3DFE_Analysis.html"
    CITATION = (
        "@article{zhang2014bp4d, title={BP4D-Spontaneous: a high-resolution spontaneous "
        "3D dynamic facial expression database}, author={Zhang, Xing and others}, "
        "journal={Image and Vision Computing}, volume={32}, number={10}, "
        "pages={692--706}, year={2014}}"
    )
    REQUIRED_DIR = ("AUCoding", "AU_OCC")
    EXPECTED = "a BP4D copy with AUCoding/AU_OCC"

    def _features(self):
        n, k = len(BP4D_AUS), len(BP4D_INTENSITY_AUS)
        return {
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

    def _split_units(self, root):
        sequences = list_bp4d_sequences(root)
        unknown = core.unknown_subjects((s for s, _ in sequences), BP4D_PARTS)
        if unknown:
            raise ValueError(
                f"manual_dir: sequences of subjects {unknown} that are in no BP4D part "
                "(expected F001-F023, M001-M018)"
            )
        if not sequences:
            raise ValueError(
                f"manual_dir: expected AUCoding/AU_OCC/{{Subj}}_{{Task}}.csv in {root}"
            )
        return core.part_splits(sequences, BP4D_PARTS, subject=lambda seq: seq[0])

    def _examples(self, root, unit, size):
        """Yields ``(key, example)`` for every coded frame of one ``(subject, task)`` sequence."""
        subject, task = unit
        seq = read_bp4d_sequence(root, subject, task, aus=BP4D_AUS)
        images = None
        if size is not None:
            if seq.images is None:
                raise core.missing_images(
                    f"{subject}_{task}", size, f"frames img/{subject}/{task}/{{frame}}.jpg"
                )
            images = core.rgb(read_bp4d_frames(root, subject, task, seq.frames), size)
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
    """Prepares :class:`Bp4d` from the BP4D root ``manual_dir`` (``AUCoding/``, ``2DFeatures/``,
    optionally ``img/``) as ``config`` (``"crops64"``, ``"crops128"`` or ``"nocrops"``); see
    :func:`aujax.datasets._tfds_core.build`."""
    return core.build(Bp4d, manual_dir, data_dir, config)


def bp4d_data_source(
    data_dir: str | os.PathLike,
    split: str,
    *,
    config: str = "crops128",
):
    """Random-access source of a prepared :class:`Bp4d` split: ``"part1"``, ``"part2"``,
    ``"part3"`` or an expression such as ``"part1+part2"`` (a part without any sequence in
    ``manual_dir`` has no split); see :func:`aujax.datasets._tfds_core.data_source`."""
    return core.data_source(Bp4d, data_dir, split, config)
