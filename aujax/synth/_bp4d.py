r"""The synthetic BP4D-like dataset: episodes -> activations -> full physics -> landmarks -> layout.

:func:`generate_bp4d` writes the real BP4D layout (REFERENCE §1.1, :mod:`aujax.datasets._bp4d`) for a
preset (:func:`aujax.synth.get_preset`), so that the same readers serve synthetic and licensed data.
It configures the generator pipeline (:mod:`aujax.synth._pipeline`), one subject per unit:

1. physics (worker threads): the subject's identity coefficients ~ N(0, 1), log-normal muscle
   gains (sd 0.15) and skin, then a :class:`~aujax.synth.SubjectRig` (the subject's own mesh, skin
   and muscles, integrator factorised once; :func:`aujax.synth.subject_physique`); per task the AU
   trajectory and coded labels (:func:`aujax.synth.generate_sequence`) and the muscle activations
   (:meth:`aujax.synth.Cast.drive`: the template blendshape model's ``au_activations`` times the
   subject's gains, with the preset's :class:`~aujax.synth.MuscleRealism`: asymmetric and
   unilateral AU events, the subject's own synergies, co-contraction, activation dynamics with an
   electromechanical delay); the **full** spring-mass dynamics on the subject's mesh (all the
   subject's tasks as one batch through :func:`aujax.synth._rig.simulate_expressions`, rtol 1e-5;
   ``warmup`` frames holding the first activation are simulated first and dropped, so a sequence
   does not open with a transient) and the 68 landmarks;
2. rendering (main thread, :class:`aujax.synth._video.Studio`): head pose (Ornstein-Uhlenbeck,
   correlation time 1.5 s, the preset's standard deviations) and a small translation drift; a
   pinhole camera at the preset's distance looking at the face (model frame x left, y up, z to
   camera -> camera frame x right, y down, z forward); 2D landmarks with Gaussian detector noise
   and runs of dropped frames (NaN); the aligned face crops rendered from the simulated meshes
   under the head rotation (:func:`aujax.synth.sequence_crops`, all of a subject's sequences in
   one call, one light per sequence, the subject's skin albedo). The side is
   :data:`aujax.synth.DEFAULT_IMAGE_SIZE` of the preset size (64 px for ``small``, what the main
   job consumes; ``image_size=128`` gives the preset's 128 px);
3. writing (writer thread), the layout: ``AUCoding/AU_OCC`` (17 AU columns carry labels, the rest
   9), the intensity files of AUs 6/10/12/14/17, ``2DFeatures/*.mat`` with the 49-point subset and
   the head rotation, the crops as ``img/{subj}/{task}/{frame}.jpg`` like the real frames; ground
   truth the real data lack in ``synthetic/{subj}_{task}.npz`` (true intensities, activations, 3D
   landmarks, clean 2D landmarks, head rotation and translation, intrinsics, identity, gains, the
   realism draws ``synergy`` and ``au_side_scale``, optionally the meshes); the template model
   in ``synthetic/blendshape_model.npz``.
"""

import dataclasses

import numpy as np

from ..datasets import BP4D_INTENSITY_AUS, BP4DSequence, write_bp4d_frames, write_bp4d_sequence
from ..face import AU_IDS, IDX49
from ._capture import CameraSetup
from ._pipeline import check_int, check_subjects
from ._presets import get_preset
from ._realism import MuscleRealism
from ._rig import rig_landmarks, simulate_expressions
from ._sequence import generate_sequence
from ._streams import stream_rng
from ._video import Filmed, Take, VideoStages, run_video_generator


__all__ = ["generate_bp4d"]

_RTOL = 1e-5  # Newmark residual tolerance: ~3e-6 relative to a converged solution (docs/data.md)
_COLUMN = {au: i for i, au in enumerate(AU_IDS)}


def generate_bp4d(
    root,
    *,
    size: str = "tiny",
    seed: int = 0,
    n_vertices: int | None = None,
    subjects=None,
    tasks=None,
    camera: CameraSetup | None = None,
    image_size: int | None = None,
    warmup: int = 10,
    save_meshes: bool = False,
    images: bool = True,
    progress=print,
    realism: MuscleRealism | None = None,
) -> dict:
    """Writes a synthetic BP4D-like dataset in the real BP4D layout under ``root``.

    Args:
        root: output folder (the BP4D "manual directory").
        size: preset size, ``"tiny"``, ``"small"`` or ``"full"``.
        seed: the one seed everything is derived from.
        n_vertices: mesh resolution of the face (default :data:`aujax.synth.DEFAULT_N_VERTICES`:
            600 for tiny, 650 for small, 1,500 for full; docs/data.md gives the accuracy cost of
            650).
        subjects: optional subset of the preset's subjects.
        tasks: optional subset of task names.
        camera: the virtual camera (default :class:`~aujax.synth.CameraSetup`).
        image_size: side of the crops (default :data:`aujax.synth.DEFAULT_IMAGE_SIZE`: 64 for
            small, 128 for tiny and full), 8..1024.
        warmup: frames simulated before each sequence (holding its first activation), dropped.
        save_meshes: also store the (T, n, 3) float32 meshes in the ground-truth files.
        images: render the aligned face crops (``image_size``, RGB or gray per the preset) and
            write them as the frame images ``img/{subj}/{task}/{frame}.jpg``.
        progress: called with one line per sequence (None: silent).
        realism: the muscle activity's realism (default: the preset's realistic options;
            :meth:`aujax.synth.MuscleRealism.off` gives the historical generator).

    Returns:
        A summary dict (also written to ``synthetic/summary.json``).
    """
    if image_size is not None:
        check_int("image_size", image_size, 8, 1024)
    preset = get_preset("bp4d", size)
    if realism is not None:
        if not isinstance(realism, MuscleRealism):
            raise ValueError(f"realism must be a MuscleRealism, got {realism!r}.")
        preset = dataclasses.replace(preset, realism=realism)
    subjects = check_subjects(preset, subjects)
    task_names = tuple(t.name for t in preset.tasks) if tasks is None else tuple(tasks)
    for t in task_names:
        preset.task(t)  # raises on unknown names
    check_int("warmup", warmup, 0)
    return run_video_generator(
        _BP4DStages, root, preset, seed=seed, n_vertices=n_vertices, subjects=subjects,
        tasks=task_names, camera=CameraSetup() if camera is None else camera,
        image_size=image_size, images=images, warmup=warmup, save_meshes=save_meshes,
        progress=progress,
    )  # fmt: skip


@dataclasses.dataclass(frozen=True)
class _BP4DStages(VideoStages):
    """The BP4D-like generator's physics (all of a subject's tasks as one batch) and layout."""

    def simulate(self, subject: str):
        """The subject's body, then per task its labels and activations (in the stream's order),
        then the physics of all its tasks (:meth:`_physics`)."""
        cast, warmup = self.cast, self.warmup
        body = cast.physique(subject)
        drawn = []
        for task in self.tasks:
            seq = generate_sequence(self.preset, subject, task, seed=cast.seed)
            rng = stream_rng(cast.seed, "bp4d", subject, task, "capture")
            drive = cast.drive(
                body, seq.intensity, subject=subject, task=task, rng=rng, warmup=warmup
            )
            drawn.append((task, seq, rng, drive))
        simulated = self._physics(body.rig, [d.activations for *_, d in drawn])
        return body, [
            Take(task, seq, rng, d.activations[warmup:], us, lm3, d.side_scale[warmup:])
            for (task, seq, rng, d), (us, lm3) in zip(drawn, simulated, strict=True)
        ]

    def _physics(self, rig, acts) -> list[tuple[np.ndarray, np.ndarray]]:
        """The sequences as one batch (padded to the longest by holding the last activation; the
        dynamics are causal, so the padding changes no kept frame); ``(displacements,
        landmarks_3d)`` per sequence, warm-up dropped. The batch always has the preset's number of
        tasks (repeating the first sequence): a sequence's floating-point result then does not
        depend on which other tasks are generated."""
        longest = max(len(a) for a in acts)
        rows = [np.concatenate([a, np.repeat(a[-1:], longest - len(a), 0)]) for a in acts]
        rows += rows[:1] * (len(self.preset.tasks) - len(rows))
        us_all, _ = simulate_expressions(rig, np.stack(rows), rtol=_RTOL)
        out = []
        for a, us in zip(acts, us_all[: len(acts)], strict=True):
            us = us[self.warmup : len(a)]
            out.append((us, rig_landmarks(rig, us)))
        return out

    def write_take(self, physique, filmed: Filmed) -> str:
        """The sequence's label, landmark and frame files, then its ground truth."""
        take, shot, crops = filmed.take, filmed.footage, filmed.crops
        subject, task, labels = take.sequence.subject, take.task, take.sequence.labels
        pose = shot.rotation.copy()
        pose[shot.dropped] = np.nan
        bp4d = BP4DSequence(
            subject=subject,
            task=task,
            frames=np.arange(1, take.n_frames + 1, dtype=np.int64),
            occurrence=labels.occurrence.astype(np.int8),
            aus=tuple(AU_IDS),
            occlusion=labels.occlusion.astype(bool),
            intensity={
                au: labels.intensity[:, _COLUMN[au]].astype(np.int8) for au in BP4D_INTENSITY_AUS
            },
            landmarks=shot.noisy[:, np.asarray(IDX49)],
            pose=pose,
        )
        write_bp4d_sequence(self.root, bp4d)
        if crops is not None:
            write_bp4d_frames(self.root, subject, task, bp4d.frames,
                              crops if crops.shape[-1] == 3 else crops[..., 0])  # fmt: skip
        self.save_ground_truth(f"{subject}_{task}", physique, filmed)
        return f"{subject}_{task}"
