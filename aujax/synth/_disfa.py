r"""The synthetic DISFA-like dataset: one long stimulus video per subject, in the real DISFA layout.

:func:`generate_disfa` writes the DISFA layout (REFERENCE §1.2, :mod:`aujax.datasets._disfa`) for the
``disfa`` preset (:func:`aujax.synth.get_preset`), with the generator pipeline
(:mod:`aujax.synth._pipeline`) and the filming of the BP4D-like generator
(:class:`aujax.synth._video.Studio`), one subject per unit:

1. physics: per subject (real DISFA IDs ``SNxxx``, so the official folds of
   :mod:`aujax.datasets._folds` apply) identity coefficients ~ N(0, 1), log-normal muscle gains
   (sd 0.15), skin tone, and the subject's :class:`~aujax.synth.SubjectRig` (own mesh, **full**
   spring-mass skin); one sequence per subject, the preset's single context ``"video"`` (watching
   an emotive montage: sparse, weaker expressions, often with the lips parted): AU trajectory and
   coded labels (:func:`aujax.synth.generate_sequence`; DISFA is coded frame by frame, so no 9s
   and no occlusion flags), muscle activations (:meth:`aujax.synth.Cast.drive`, the preset's
   :class:`~aujax.synth.MuscleRealism`), the full dynamics (``warmup`` frames holding the
   first activation simulated first and dropped; :func:`aujax.synth.simulate_subject_sequence`
   with the video cut into overlapping pieces run as one batch), the 68 landmarks;
2. rendering: head pose (Ornstein-Uhlenbeck, the preset's smaller standard deviations: subjects
   sit still watching a screen), a pinhole camera at the preset's distance with DISFA's 1024 x 768
   frame (:data:`DISFA_CAMERA`), Gaussian landmark-detector noise and (rare) runs of frames without
   landmarks, which get no landmark file (as SN031 frame 3631 in the real data); the aligned face
   crops (:func:`aujax.synth.sequence_crops`);
3. writing, the layout: ``ActionUnit_Labels/SNxxx/SNxxx_au{k}.txt`` with the 0-5 intensity labels
   of the 12 DISFA AUs, ``Landmark_Points/SNxxx/tmp_frame_lm/SNxxx_{t:04d}_lm.mat`` with the 66
   points (iBUG 68 without the inner mouth corners 60 and 64, :data:`aujax.face.IDX66`), and the
   left-camera frames ``Videos_LeftCamera/frames/SNxxx/{t}.png`` (the crops; PNG, so lossless).
   The real dataset ships the full 1024 x 768 video instead; the landmarks are in that video
   frame's pixels, not the crop's. Ground truth the real data lack in ``synthetic/SNxxx.npz``
   (true intensities of the 17 model AUs, activations, 3D landmarks, clean 2D landmarks, head
   rotation and translation, intrinsics, identity, gains, the dropped-frame mask, the realism
   draws ``synergy`` and ``au_side_scale``, optionally the meshes), the template model in
   ``synthetic/blendshape_model.npz`` and ``synthetic/summary.json``.
"""

import dataclasses

import numpy as np

from ..datasets import DISFA_AUS, DISFASequence, write_disfa_frames, write_disfa_sequence
from ..face import AU_IDS, IDX66
from ._capture import CameraSetup
from ._pipeline import check_int, check_subjects
from ._presets import get_preset
from ._realism import MuscleRealism
from ._sequence import generate_sequence
from ._streams import stream_rng
from ._subject import simulate_subject_sequence
from ._video import Filmed, Take, VideoStages, run_video_generator


__all__ = ["DISFA_CAMERA", "generate_disfa"]

#: DISFA's left camera: 1024 x 768 frames (width x height), the face about 40 % of the frame
#: height, 1 px detector noise, rare short landmark dropouts (the real data miss one file).
DISFA_CAMERA = CameraSetup(
    frame_size=(768, 1024),
    face_height_fraction=0.4,
    landmark_noise_px=1.0,
    dropout_fraction=0.002,
    dropout_run=2.0,
)


# a subject's video is simulated as this many overlapping pieces in one batch (the dense Newmark's
# matrix read then serves 8 residuals; docs/data.md)
_SEGMENTS = 8
_COLUMNS = np.asarray([AU_IDS.index(au) for au in DISFA_AUS])


def generate_disfa(
    root,
    *,
    size: str = "tiny",
    seed: int = 0,
    n_vertices: int | None = None,
    subjects=None,
    n_frames: int | None = None,
    camera: CameraSetup | None = None,
    image_size: int | None = None,
    warmup: int = 10,
    save_meshes: bool = False,
    images: bool = True,
    progress=print,
    realism: MuscleRealism | None = None,
) -> dict:
    """Writes a synthetic DISFA-like dataset in the real DISFA layout under ``root``.

    Args:
        root: output folder (the DISFA "manual directory").
        size: preset size, ``"tiny"``, ``"small"`` or ``"full"``.
        seed: the one seed everything is derived from.
        n_vertices: mesh resolution of the face (default :data:`aujax.synth.DEFAULT_N_VERTICES`:
            600 tiny, 650 small, 1,500 full).
        subjects: optional subset of the preset's subjects (``SNxxx``).
        n_frames: frames per subject (default: the preset's ``frames_per_task``).
        camera: the virtual camera (default :data:`DISFA_CAMERA`).
        image_size: side of the rendered crops (default :data:`aujax.synth.DEFAULT_IMAGE_SIZE`: 64
            for small, 128 otherwise).
        warmup: frames simulated before each sequence (holding its first activation), dropped.
        save_meshes: also store the (T, n, 3) float32 meshes in the ground-truth files.
        images: render the aligned face crops and write them as the left-camera frames.
        progress: called with one line per subject (None: silent).
        realism: the muscle activity's realism (default: the preset's realistic options;
            :meth:`aujax.synth.MuscleRealism.off` gives the historical generator).

    Returns:
        A summary dict (also written to ``synthetic/summary.json``).

    Raises:
        ValueError: an unknown size or subject, ``n_frames`` < 1, ``warmup`` < 0.
    """
    preset = get_preset("disfa", size)
    if realism is not None:
        if not isinstance(realism, MuscleRealism):
            raise ValueError(f"realism must be a MuscleRealism, got {realism!r}.")
        preset = dataclasses.replace(preset, realism=realism)
    subjects = check_subjects(preset, subjects)
    if n_frames is not None:
        check_int("n_frames", n_frames, 1)
        preset = dataclasses.replace(preset, frames_per_task=n_frames)
    check_int("warmup", warmup, 0)
    if image_size is not None:
        check_int("image_size", image_size, 8, 1024)
    return run_video_generator(
        _DISFAStages, root, preset, seed=seed, n_vertices=n_vertices, subjects=subjects,
        tasks=[preset.tasks[0].name], camera=DISFA_CAMERA if camera is None else camera,
        image_size=image_size, images=images, warmup=warmup, save_meshes=save_meshes,
        progress=progress,
    )  # fmt: skip


@dataclasses.dataclass(frozen=True)
class _DISFAStages(VideoStages):
    """The DISFA-like generator's physics (one long video per subject) and layout."""

    def simulate(self, subject: str):
        cast, (task,) = self.cast, self.tasks
        body = cast.physique(subject)
        seq = generate_sequence(self.preset, subject, task, seed=cast.seed)
        rng = stream_rng(cast.seed, "disfa", subject, task, "capture")
        drive = cast.drive(
            body, seq.intensity, subject=subject, task=task, rng=rng, warmup=self.warmup
        )
        us, acts, lm3 = simulate_subject_sequence(
            body, seq.intensity, cast.au_activations, fps=cast.fps, rng=rng, warmup=self.warmup,
            segments=_SEGMENTS, activations=drive.activations,
        )  # fmt: skip
        return body, [Take(task, seq, rng, acts, us, lm3, drive.side_scale[self.warmup :])]

    def write_take(self, physique, filmed: Filmed) -> str:
        """The subject's label, landmark and frame files, then its ground truth."""
        take, crops, subject = filmed.take, filmed.crops, filmed.take.sequence.subject
        intensity = take.sequence.labels.intensity[:, _COLUMNS]
        if np.any(intensity > 5):  # the DISFA coding has no not-coded cells
            raise AssertionError("disfa preset produced not-coded (9) labels")
        disfa = DISFASequence(
            subject=subject,
            frames=np.arange(take.n_frames, dtype=np.int64),
            intensity=intensity.astype(np.int8),
            landmarks=filmed.footage.noisy[:, np.asarray(IDX66)],
        )
        write_disfa_sequence(self.root, disfa)
        if crops is not None:
            write_disfa_frames(self.root, subject, crops if crops.shape[-1] == 3 else crops[..., 0])
        self.save_ground_truth(subject, physique, filmed)
        return subject
