"""Seed 003's data: the synthetic DISFA-like frames with crop-space landmarks and 3D truth.

:func:`load_augane_data` reads what the AUGANE experiment trains and evaluates on:

1. **DISFA-like frames**: the synthetic copy of :func:`aujax.synth.dataset_root` with the same
   config fields and so the same cached copy as seed 002 (``experiments/configs/
   disfa_synthesis.py``): per subject, in time order, the 12 AU intensities 0-5
   (:data:`aujax.datasets.DISFA_AUS`), the aligned S x S crops and the 66 noisy landmarks of the
   1024 x 768 video frame.
2. **The morphable model**: :func:`aujax.synth.facewarehouse_model` at the DISFA-like set's
   ``n_vertices`` and seed (the model's vertices are the physics' vertices).
3. **Ground truth** (``root/synthetic/SNxxx.npz``): the model-frame 3D landmarks
   ``landmarks_3d`` (68) and head rotations; the subject's rest mesh
   (:func:`aujax.synth.subject_rest_mesh`). The clean crop-pixel landmarks are
   :func:`crop_landmarks` of them (the crops' own camera).
4. **Noisy crop-pixel landmarks** (:func:`crop_space_landmarks`): the layout's noisy frame
   landmarks carried into the crop by the per-frame similarity that maps the clean frame
   landmarks onto the clean crop landmarks, so the crop landmarks carry the detector's noise
   scaled and rotated as the crop sees it.

A real DISFA copy has neither crop-space landmarks nor 3D truth: :func:`load_augane_data` refuses
it. Subjects are split by the official DISFA fold (:func:`augane_split`): the paper's nine test
videos are fold 1's nine test subjects.
"""

import dataclasses
import pathlib

import numpy as np

from ...datasets import (
    DISFA_AUS,
    cache_root,
    folds,
    list_disfa_subjects,
    read_disfa_frames,
    read_disfa_sequence,
)
from ...face import IDX66, MorphableModel
from ...synth import dataset_root, facewarehouse_model, subject_rest_mesh
from ._encoder import crop_landmarks


__all__ = ["AuganeData", "augane_split", "crop_space_landmarks", "load_augane_data"]

_CLEAN_ONLY = tuple(i for i in range(68) if i not in IDX66)  # (60, 64): no detector output


@dataclasses.dataclass(frozen=True, eq=False)
class AuganeData:
    """The frames of the AUGANE experiment (host arrays; N frames, subject-major, time order).

    Attributes:
        model: the morphable model (:func:`aujax.synth.facewarehouse_model` at the DISFA-like
            set's ``n_vertices`` and seed).
        subject: (N,) str subject ID of each frame.
        frame: (N,) int64 frame index within its subject's video.
        labels: (N, 12) int8 AU intensities 0-5 of :data:`aujax.datasets.DISFA_AUS`.
        images: (N, S, S, 3) uint8 aligned face crops.
        landmarks: (N, 68, 2) float32 noisy iBUG-68 landmarks in crop pixels
            (:func:`crop_space_landmarks`; points 60 and 64 clean); NaN rows where the detector
            dropped the frame.
        landmarks_clean: (N, 68, 2) float32 clean crop-pixel landmarks (:func:`crop_landmarks`
            of the truth).
        landmarks_3d: (N, 68, 3) float32 true model-frame landmarks (``landmarks_3d``).
        rotation: (N, 3, 3) float64 true head rotations (``head_rotation``).
        rest: subject -> (n_vertices, 3) float64 rest mesh.
        train_subjects: the training subjects (sorted).
        test_subjects: the test subjects (sorted).
        root: the synthetic DISFA-like copy.
        synthetic: always True (a real copy is refused).
        src: a short description (table titles).
        aus: the AU numbers of the label columns.
    """

    model: MorphableModel
    subject: np.ndarray
    frame: np.ndarray
    labels: np.ndarray
    images: np.ndarray
    landmarks: np.ndarray
    landmarks_clean: np.ndarray
    landmarks_3d: np.ndarray
    rotation: np.ndarray
    rest: dict
    train_subjects: tuple
    test_subjects: tuple
    root: pathlib.Path
    synthetic: bool
    src: str
    aus: tuple = DISFA_AUS

    @property
    def subjects(self) -> list[str]:
        """The subjects in order of appearance."""
        return list(dict.fromkeys(self.subject.tolist()))

    @property
    def valid(self) -> np.ndarray:
        """(N,) bool: rows whose noisy landmarks are all finite."""
        return np.all(np.isfinite(self.landmarks), axis=(1, 2))

    def rows(self, subject: str) -> np.ndarray:
        """(T,) the rows of one subject's frames, in time order."""
        return np.flatnonzero(self.subject == subject)

    def split_rows(self, split: str, *, valid_only: bool = True) -> np.ndarray:
        """(M,) the rows of the ``"train"`` or ``"test"`` subjects, subject-major.

        Args:
            split: ``"train"`` or ``"test"``.
            valid_only: keep only rows with finite noisy landmarks.

        Raises:
            ValueError: an unknown split.
        """
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}.")
        subjects = self.train_subjects if split == "train" else self.test_subjects
        keep = np.isin(self.subject, list(subjects))
        if valid_only:
            keep &= self.valid
        return np.flatnonzero(keep)

    def float_images(self, rows) -> np.ndarray:
        """(M, S, S, 3) float32 crops of ``rows`` in [0, 1]."""
        return self.images[np.asarray(rows)].astype(np.float32) / np.float32(255.0)


def crop_space_landmarks(noisy_frame66, clean_frame68, clean_crop68) -> np.ndarray:
    """Noisy landmarks in crop pixels: the frame's detector noise carried into the crop.

    Per frame t, the least-squares 2D similarity (rotation and isotropic scale, no reflection:
    ``A = [[a, -b], [b, a]]``, plus a translation) that maps the 66 clean frame points onto the
    66 clean crop points is fitted in closed form; the noisy points are then
    ``clean_crop + A (noisy - clean_frame)``: the clean crop points plus the detector's noise
    rotated and scaled as the crop sees it (the clean points are never replaced by the fitted
    similarity's image, so noise-free input gives the clean crop points exactly). DISFA's layout
    has no points 60 and 64 (inner mouth corners; :data:`aujax.face.IDX66`), so the detector
    adds no noise there: they keep their clean crop values.

    Args:
        noisy_frame66: (T, 66, 2) noisy landmarks in the video frame's pixels (the layout's,
            :func:`aujax.datasets.read_disfa_sequence`); NaN rows where the detector dropped the
            frame.
        clean_frame68: (T, 68, 2) the clean iBUG-68 landmarks in the same frame (the ground
            truth's ``landmarks_2d``).
        clean_crop68: (T, 68, 2) the clean iBUG-68 landmarks in crop pixels
            (:func:`crop_landmarks`).

    Returns:
        (T, 68, 2) float64 noisy crop-pixel landmarks; a whole row NaN where any noisy point of
        that frame is not finite.

    Raises:
        ValueError: shapes other than the above, non-finite clean points, or a frame whose
            clean frame points all coincide.
    """
    noisy = np.asarray(noisy_frame66, np.float64)
    frame = np.asarray(clean_frame68, np.float64)
    crop = np.asarray(clean_crop68, np.float64)
    if noisy.ndim != 3 or noisy.shape[1:] != (66, 2):
        raise ValueError(f"noisy_frame66 must have shape (T, 66, 2), got {noisy.shape}.")
    t = noisy.shape[0]
    for name, x in (("clean_frame68", frame), ("clean_crop68", crop)):
        if x.shape != (t, 68, 2):
            raise ValueError(f"{name} must have shape ({t}, 68, 2), got {x.shape}.")
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{name} must be finite.")
    idx = np.asarray(IDX66)
    p, q = frame[:, idx], crop[:, idx]
    pc = p - p.mean(axis=1, keepdims=True)
    qc = q - q.mean(axis=1, keepdims=True)
    norm = np.sum(pc**2, axis=(1, 2))
    if np.any(norm <= 0.0):
        raise ValueError("clean_frame68: a frame whose 66 points all coincide (no similarity).")
    a = np.sum(pc * qc, axis=(1, 2)) / norm
    b = np.sum(pc[..., 0] * qc[..., 1] - pc[..., 1] * qc[..., 0], axis=1) / norm
    lin = np.stack([np.stack([a, -b], axis=-1), np.stack([b, a], axis=-1)], axis=1)  # (T, 2, 2)
    out = crop.copy()
    out[:, idx] = q + np.einsum("tij,tkj->tki", lin, noisy - p)
    out[~np.all(np.isfinite(noisy), axis=(1, 2))] = np.nan
    return out


def augane_split(subjects, *, fold: int) -> tuple[tuple, tuple, str]:
    """The training and test subjects of an official DISFA fold among the subjects present.

    The test subjects are those of ``aujax.datasets.folds("disfa")[fold - 1]``'s test part that
    are present (all 27 present: exactly the fold; fold 1's nine are the paper's nine test
    videos); if none is present (a subset such as the ``tiny`` preset's), the last subject in
    sorted order is the test subject. The others are the training subjects.

    Args:
        subjects: the subject IDs present.
        fold: 1, 2 or 3.

    Returns:
        ``(train, test, note)``: sorted tuples and a line saying how the split was made.

    Raises:
        ValueError: a bad fold, or a split without training or test subjects.
    """
    if isinstance(fold, bool) or fold not in (1, 2, 3):
        raise ValueError(f"split.fold must be 1, 2 or 3 (the official DISFA folds), got {fold!r}.")
    subjects, note = sorted(set(subjects)), ""
    fold_test = set(folds("disfa")[fold - 1][1])
    test = [s for s in subjects if s in fold_test]
    if test and len(test) == len(fold_test):
        note = f"fold {fold} (its {len(test)} test subjects)"
    elif test:
        note = f"fold {fold} (its test subjects present: {len(test)} of {len(fold_test)})"
    elif subjects:
        test = subjects[-1:]
        note = f"fold {fold} (none of its test subjects present: the last subject is the test one)"
    train = [s for s in subjects if s not in test]
    if not train or not test:
        raise ValueError(
            f"fold {fold} leaves {len(train)} training and {len(test)} test subjects of "
            f"{subjects}; both must be >= 1."
        )
    return tuple(train), tuple(test), note


def load_augane_data(cfg, log=print) -> AuganeData:
    """The frames, truth, crop landmarks and model of the configured run (module docstring).

    Args:
        cfg: the config: ``seed``; ``data.{disfa_dir, cache_dir, disfa_size, frames, n_vertices,
            image_size, facewarehouse_subjects, facewarehouse_expressions, subjects}`` (as in
            ``experiments/configs/disfa_synthesis.py``: the same cached synthetic copy);
            ``model.{n_exp, n_id}``; ``split.fold`` (1, 2 or 3).
        log: progress lines.

    Returns:
        :class:`AuganeData`.

    Raises:
        ValueError: a real DISFA copy (no ``synthetic/`` ground truth), a bad fold, subjects
            missing from the copy, or crops that are not square.
    """
    d, seed = cfg.data, int(cfg.seed)
    fold = cfg.split.fold
    if isinstance(fold, bool) or fold not in (1, 2, 3):
        raise ValueError(f"split.fold must be 1, 2 or 3 (the official DISFA folds), got {fold!r}.")
    root, synthetic = dataset_root(
        "disfa", given=d.disfa_dir, preset=d.disfa_size, seed=seed, cache=cache_root(d.cache_dir),
        image_size=int(d.image_size), n_frames=int(d.frames) or None,
        n_vertices=int(d.n_vertices), subjects=list(d.subjects) or None, log=log,
    )  # fmt: skip
    if not synthetic:
        raise ValueError(
            f"data.disfa_dir: {root} is a real DISFA copy (no synthetic/ ground truth); the AUGANE "
            "experiment needs crop-space landmarks and 3D truth (landmarks_3d, head rotations), "
            "which the DISFA layout does not store."
        )
    subjects = list_disfa_subjects(root)
    if d.subjects:
        missing = sorted(set(d.subjects) - set(subjects))
        if missing:
            raise ValueError(f"data.subjects: {missing} not in the DISFA copy {root}.")
        subjects = [s for s in subjects if s in set(d.subjects)]
    train, test, note = augane_split(subjects, fold=int(fold))
    model = facewarehouse_model(
        n_vertices=int(d.n_vertices), seed=seed, n_subjects=int(d.facewarehouse_subjects),
        n_expressions=int(d.facewarehouse_expressions), n_exp=int(cfg.model.n_exp),
        n_id=int(cfg.model.n_id) or None, cache_dir=d.cache_dir, log=log,
    )  # fmt: skip
    keys = ("subject", "frame", "labels", "images", "landmarks", "landmarks_clean",
            "landmarks_3d", "rotation")  # fmt: skip
    parts = {k: [] for k in keys}
    rest = {}
    for s in subjects:
        seq = read_disfa_sequence(root, s)
        frames = np.asarray(seq.frames, np.int64)
        ims = read_disfa_frames(root, s, frames)
        if ims.ndim == 3:
            ims = np.repeat(ims[..., None], 3, axis=3)
        if ims.shape[1] != ims.shape[2]:
            raise ValueError(f"{s}: frames must be square aligned crops, got {ims.shape[1:3]}.")
        gt = np.load(root / "synthetic" / f"{s}.npz")
        lm3, rot = gt["landmarks_3d"][frames], gt["head_rotation"][frames]
        rest[s] = subject_rest_mesh(root, s, n_vertices=int(d.n_vertices), seed=seed)
        clean = np.asarray(crop_landmarks(lm3, rot, rest[s], size=int(ims.shape[1])), np.float64)
        noisy = crop_space_landmarks(seq.landmarks, gt["landmarks_2d"][frames], clean)
        parts["subject"].append(np.full(frames.shape[0], s))
        parts["frame"].append(frames)
        parts["labels"].append(np.asarray(seq.intensity, np.int8))
        parts["images"].append(np.asarray(ims, np.uint8))
        parts["landmarks"].append(noisy.astype(np.float32))
        parts["landmarks_clean"].append(clean.astype(np.float32))
        parts["landmarks_3d"].append(np.asarray(lm3, np.float32))
        parts["rotation"].append(np.asarray(rot, np.float64))
    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    data = AuganeData(model=model, rest=rest, train_subjects=train, test_subjects=test,
                      root=root, synthetic=True, src="synthetic DISFA-like", **arrays)  # fmt: skip
    log(f"AUGANE data: {len(subjects)} subjects, {data.labels.shape[0]} frames "
        f"({int(data.valid.sum())} with landmarks), crops {data.images.shape[1]} px; {note}: "
        f"train {list(train)}, test {list(test)}.")  # fmt: skip
    return data
