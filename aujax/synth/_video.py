"""A subject's simulated sequences filmed by the virtual video camera: the render stage and the
ground truth shared by the BP4D- and DISFA-like generators (DESIGN §6.1).

Per sequence (:meth:`Studio.film`, drawn in this order from the sequence's capture stream, after
its activation noise): the head pose (:func:`aujax.synth.head_pose_sequence`), the 68 landmarks
projected into the frame (:func:`aujax.synth.project_landmarks`), Gaussian detector noise, runs of
dropped frames (NaN), then, when frames are rendered, the key light's elevation and the ambient
level; then the aligned crops of all the subject's sequences in one call
(:func:`aujax.synth._crops.subject_crops`). Ground truth the real data lack goes to one ``.npz`` per
sequence (:meth:`Studio.save_ground_truth`). :class:`VideoStages` are the pipeline stages
(:mod:`aujax.synth._pipeline`) of such a generator, less its physics and its layout, and
:func:`run_video_generator` runs them.
"""

import dataclasses
import pathlib

import jax
import numpy as np

from ._capture import CameraSetup, head_pose_sequence, project_landmarks
from ._coding import runs_mask
from ._crops import DEFAULT_IMAGE_SIZE, subject_crops
from ._pipeline import Timings, run_pipeline, save_summary
from ._presets import Capture, Preset
from ._sequence import SequenceAUs
from ._subject import DEFAULT_N_VERTICES, Cast, SubjectPhysique, template_model


__all__ = [
    "Filmed",
    "Footage",
    "Studio",
    "Take",
    "VideoStages",
    "realism_ground_truth",
    "run_video_generator",
]


def realism_ground_truth(physique: SubjectPhysique, side_scale) -> dict:
    """The realism draws of a sample for its ground-truth file: ``synergy`` (17, M) float64 and
    ``au_side_scale`` (..., 17, 2) float32, each where drawn."""
    out = {}
    if physique.synergy is not None:
        out["synergy"] = np.asarray(physique.synergy, dtype=np.float64)
    if side_scale is not None:
        out["au_side_scale"] = np.asarray(side_scale, dtype=np.float32)
    return out


@dataclasses.dataclass(frozen=True)
class Take:
    """One simulated sequence of a subject, ready to be filmed.

    Attributes:
        task: task name.
        sequence: its AU trajectory and coded labels.
        rng: the sequence's capture stream (its activation noise already drawn).
        activations: (T, M) muscle activations (warm-up frames dropped).
        displacements: (T, n, 3) simulated displacements (cm).
        landmarks_3d: (T, 68, 3) landmarks in the model frame (cm).
        side_scale: optional (T, 17, 2) right/left scales of each AU's drive
            (:func:`aujax.synth.event_side_scales`, warm-up frames dropped).
    """

    task: str
    sequence: SequenceAUs
    rng: np.random.Generator
    activations: np.ndarray
    displacements: np.ndarray
    landmarks_3d: np.ndarray
    side_scale: np.ndarray | None = None

    @property
    def n_frames(self) -> int:
        return self.landmarks_3d.shape[0]


@dataclasses.dataclass(frozen=True)
class Footage:
    """What the camera recorded of a take.

    Attributes:
        rotation: (T, 3, 3) head rotations (model frame).
        translation: (T, 3) head translations (cm).
        clean: (T, 68, 2) projected landmarks (pixels).
        noisy: (T, 68, 2) detected landmarks: detector noise, NaN on dropped frames.
        dropped: (T,) frames without landmarks.
        light: ``(elevation_deg, ambient)`` of the take's light; None when no frames are rendered.
    """

    rotation: np.ndarray
    translation: np.ndarray
    clean: np.ndarray
    noisy: np.ndarray
    dropped: np.ndarray
    light: tuple[float, float] | None


@dataclasses.dataclass(frozen=True)
class Filmed:
    """A take, its footage and its frame images ((T, S, S, C) uint8, or None)."""

    take: Take
    footage: Footage
    crops: np.ndarray | None


@dataclasses.dataclass(frozen=True)
class Studio:
    """The camera, head motion, lights and crops a video dataset is filmed with.

    Attributes:
        camera: the virtual camera.
        capture: the preset's camera and lighting statistics.
        fps: frame rate.
        triangles: (f, 3) faces of the template.
        image_size: side of the crops; None: no frame images (and no light draws).
    """

    camera: CameraSetup
    capture: Capture
    fps: float
    triangles: np.ndarray
    image_size: int | None

    @property
    def intrinsics(self) -> np.ndarray:
        return self.camera.intrinsics(self.capture.distance_cm)

    def footage(self, take: Take) -> Footage:
        """The camera's draws for one take (module docstring), from its capture stream."""
        cap, cam, rng, n = self.capture, self.camera, take.rng, take.n_frames
        rot, trans = head_pose_sequence(n, sd_deg=cap.pose_sd_deg, fps=self.fps, rng=rng)
        clean = project_landmarks(take.landmarks_3d, rot, trans, self.intrinsics, cap.distance_cm)
        noisy = clean + cam.landmark_noise_px * rng.standard_normal(clean.shape)
        dropped = runs_mask(n, fraction=cam.dropout_fraction, mean_run=cam.dropout_run, rng=rng)
        noisy[dropped] = np.nan
        light = None
        if self.image_size is not None:
            light = (rng.normal(*cap.light_elevation_deg),
                     float(np.clip(rng.normal(*cap.ambient), 0.05, 0.9)))  # fmt: skip
        return Footage(rot, trans, clean, noisy, dropped, light)

    def film(self, physique: SubjectPhysique, takes) -> list[Filmed]:
        """The footage of the subject's takes (in order), then their crops in one call."""
        footage = [self.footage(t) for t in takes]
        crops = [None] * len(takes)
        if self.image_size is not None and takes:
            crops = subject_crops(
                physique.rig.rest, [t.displacements for t in takes],
                [f.rotation for f in footage], [f.light for f in footage], self.triangles,
                physique.albedo, size=self.image_size, color=self.capture.color,
            )  # fmt: skip
        return [Filmed(t, f, c) for t, f, c in zip(takes, footage, crops, strict=True)]

    def save_ground_truth(
        self, path: pathlib.Path, filmed: Filmed, physique: SubjectPhysique, *, meshes: bool
    ) -> None:
        """Writes what the real data lack: true intensities, activations, 3D and clean 2D
        landmarks, head rotation and translation, intrinsics, identity, gains, the dropped-frame
        mask, the realism draws (``synergy`` (17, M): the subject's AU -> muscle map;
        ``au_side_scale`` (T, 17, 2) float32: the right/left scales of each AU's drive) where
        drawn, and optionally the (T, n, 3) float32 meshes."""
        take, shot = filmed.take, filmed.footage
        gt = dict(
            intensity=take.sequence.intensity, activations=take.activations,
            landmarks_3d=take.landmarks_3d, landmarks_2d=shot.clean, head_rotation=shot.rotation,
            head_translation=shot.translation, intrinsics=self.intrinsics,
            identity=physique.identity, gains=physique.gains, dropped=shot.dropped,
        )  # fmt: skip
        gt.update(realism_ground_truth(physique, take.side_scale))
        if meshes:
            gt["meshes"] = (physique.rig.rest[None] + take.displacements).astype(np.float32)
        np.savez_compressed(path, **gt)


@dataclasses.dataclass(frozen=True)
class VideoStages:
    """The pipeline stages of a video dataset, one subject per unit; a generator subclasses it with
    ``simulate(subject) -> (physique, takes)`` (the physics) and ``write_take(physique, filmed) ->
    name`` (its layout).

    Attributes:
        root: the dataset's folder (ground truth in ``root/synthetic``).
        preset: the preset.
        cast: the subjects.
        studio: how they are filmed.
        tasks: the task names each subject performs.
        warmup: frames simulated before each sequence (holding its first activation), dropped.
        save_meshes: also store the meshes in the ground-truth files.
    """

    root: pathlib.Path
    preset: Preset
    cast: Cast
    studio: Studio
    tasks: tuple[str, ...]
    warmup: int
    save_meshes: bool

    def render(self, simulated) -> tuple[SubjectPhysique, list[Filmed]]:
        physique, takes = simulated
        return physique, self.studio.film(physique, takes)

    def write(self, rendered):
        physique, filmed = rendered
        for f in filmed:
            yield self.write_take(physique, f), f.take.n_frames

    def write_take(self, physique: SubjectPhysique, filmed: Filmed) -> str:
        raise NotImplementedError

    def save_ground_truth(self, name: str, physique: SubjectPhysique, filmed: Filmed) -> None:
        """``root/synthetic/{name}.npz`` (:meth:`Studio.save_ground_truth`)."""
        path = self.root / "synthetic" / f"{name}.npz"
        self.studio.save_ground_truth(path, filmed, physique, meshes=self.save_meshes)


def run_video_generator(
    stages: type[VideoStages], root, preset: Preset, *, seed: int, n_vertices: int | None,
    subjects, tasks, camera: CameraSetup, image_size: int | None, images: bool, warmup: int,
    save_meshes: bool, progress,
) -> dict:  # fmt: skip
    """Runs a video generator (its :class:`VideoStages` subclass) on validated arguments: the
    template model (:data:`aujax.synth.DEFAULT_N_VERTICES` by default), the studio (crops of
    :data:`aujax.synth.DEFAULT_IMAGE_SIZE` by default), the pipeline, then ``summary.json``.

    Returns:
        The summary dict.
    """
    n_vertices = DEFAULT_N_VERTICES[preset.size] if n_vertices is None else n_vertices
    image_size = DEFAULT_IMAGE_SIZE[preset.size] if image_size is None else image_size
    root, timings = pathlib.Path(root), Timings()
    with jax.enable_x64(True):  # the physics runs in float64 whatever the caller's default
        face, model = template_model(n_vertices, seed, root / "synthetic")
        studio = Studio(camera, preset.capture, preset.fps, face.triangles,
                        image_size if images else None)  # fmt: skip
        cast = Cast(preset.dataset, seed, preset.fps, face, model, preset.realism)
        run = stages(root, preset, cast, studio, tuple(tasks), warmup, save_meshes)
        frames = run_pipeline(subjects, run, timings=timings, progress=progress)
    return save_summary(root / "synthetic", {
        "dataset": preset.dataset, "size": preset.size, "seed": seed,
        "n_vertices": int(face.n_vertices), "subjects": list(subjects), "tasks": list(tasks),
        "frames": frames, "image_size": studio.image_size, **timings.summary(),
        "landmark_noise_px": camera.landmark_noise_px,
        "realism": dataclasses.asdict(preset.realism),
    })  # fmt: skip
