r"""The synthetic DISFA-like dataset: one long stimulus video per subject, in the real DISFA layout.

:func:`generate_disfa` writes the DISFA layout (REFERENCE §1.2, :mod:`aujax.datasets._disfa`) for the
``disfa`` preset (:func:`aujax.synth.get_preset`), with the building blocks of the BP4D generator
(:mod:`aujax.synth._bp4d`) and the same stages:

1. per subject (real DISFA IDs ``SNxxx``, so the official folds of
   :mod:`aujax.datasets._folds` apply): identity coefficients ~ N(0, 1), log-normal muscle gains
   (sd 0.15), skin tone, and the subject's :class:`~aujax.synth.SubjectRig` (own mesh, **full**
   spring-mass skin);
2. one sequence per subject, the preset's single context ``"video"`` (watching an emotive
   montage: sparse, weaker expressions, often with the lips parted): AU trajectory and coded labels
   (:func:`aujax.synth.generate_sequence`; DISFA is coded frame by frame, so no 9s and no
   occlusion flags), muscle activations, the full dynamics (``warmup`` frames holding the first
   activation simulated first and dropped), the 68 landmarks;
3. head pose (Ornstein-Uhlenbeck, the preset's smaller standard deviations: subjects sit still
   watching a screen), a pinhole camera at the preset's distance with DISFA's 1024 x 768 frame
   (:data:`DISFA_CAMERA`), Gaussian landmark-detector noise and (rare) runs of frames without
   landmarks, which get no landmark file (as SN031 frame 3631 in the real data);
4. the layout: ``ActionUnit_Labels/SNxxx/SNxxx_au{k}.txt`` with the 0-5 intensity labels of the
   12 DISFA AUs, ``Landmark_Points/SNxxx/tmp_frame_lm/SNxxx_{t:04d}_lm.mat`` with the 66 points
   (iBUG 68 without the inner mouth corners 60 and 64, :data:`aujax.face.IDX66`), and the
   left-camera frames ``Videos_LeftCamera/frames/SNxxx/{t}.png`` (the aligned face crops rendered
   by :func:`aujax.synth._bp4d.sequence_crops`; PNG, so lossless). The real dataset ships the
   full 1024 x 768 video instead; the landmarks are in that video frame's pixels, not the crop's.
5. ground truth the real data lack in ``synthetic/SNxxx.npz`` (true intensities of the 17 model
   AUs, activations, 3D landmarks, clean 2D landmarks, head rotation and translation,
   intrinsics, identity, gains, the dropped-frame mask, optionally the meshes), the template
   model in ``synthetic/blendshape_model.npz`` and ``synthetic/summary.json``.

The per-sequence core (:func:`simulate_subject_sequence`) and the per-subject draws
(:func:`subject_physique`) are shared with the Bosphorus-like generator.
"""

import dataclasses
import functools
import json
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np

from ..datasets import DISFA_AUS, DISFASequence, write_disfa_frames, write_disfa_sequence
from ..face import AU_IDS, IDX66, make_face, skin_albedo
from ._activation import ActivationDynamics, muscle_activations
from ._bp4d import (
    DEFAULT_IMAGE_SIZE,
    DEFAULT_N_VERTICES,
    CameraSetup,
    head_pose_sequence,
    project_landmarks,
    sequence_crops,
)
from ._episodes import generate_sequence, get_preset, runs_mask, stream_rng
from ._rig import (
    SubjectRig,
    build_subject_rig,
    rig_landmarks,
    simulate_expression,
    simulate_long_expression,
)


__all__ = [
    "DISFA_CAMERA",
    "SubjectPhysique",
    "generate_disfa",
    "simulate_subject_sequence",
    "subject_physique",
    "template_model",
]

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


@dataclasses.dataclass(frozen=True)
class SubjectPhysique:
    """A synthetic subject's body: the random draws and the built rig.

    Attributes:
        identity: (I,) identity coefficients.
        gains: (M,) log-normal muscle gains.
        tone: skin tone in [0, 1] (0 light, 1 dark).
        albedo: (n, 3) RGB skin albedo.
        rig: the subject's :class:`~aujax.synth.SubjectRig` (own mesh, full skin, integrator).
    """

    identity: np.ndarray
    gains: np.ndarray
    tone: float
    albedo: np.ndarray
    rig: SubjectRig


def subject_physique(
    face, identity_dim: int, n_muscles: int, *, dataset: str, subject: str, seed: int, fps: float
) -> SubjectPhysique:
    """Draws a subject's identity, gains and skin, and builds its rig (as the BP4D generator).

    Deterministic in ``(seed, dataset, subject)`` (:func:`aujax.synth.stream_rng`).

    Args:
        face: the face template.
        identity_dim: number of identity coefficients (``model.identity_basis.shape[0]``).
        n_muscles: number of muscles (``model.au_activations.shape[1]``).
        dataset: stream name of the dataset, e.g. ``"disfa"``.
        subject: subject ID.
        seed: the dataset seed.
        fps: frame rate of the integrator.

    Returns:
        The :class:`SubjectPhysique`.
    """
    rng = stream_rng(seed, dataset, subject, "physique")
    identity = rng.standard_normal(identity_dim)
    gains = np.exp(0.15 * rng.standard_normal(n_muscles))
    tone = float(rng.uniform())
    key = jax.random.key(int(rng.integers(2**31)))
    albedo = np.asarray(skin_albedo(face, jnp.asarray(tone), key=key))
    rig = build_subject_rig(face, identity, fps=fps)
    return SubjectPhysique(identity, gains, tone, albedo, rig)


def simulate_subject_sequence(
    physique: SubjectPhysique,
    intensity,
    au_activations,
    *,
    fps: float,
    rng: np.random.Generator,
    warmup: int,
    dynamics: ActivationDynamics | None = None,
    segments: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AU intensities -> activations -> full spring-mass dynamics -> 68 landmarks.

    ``warmup`` frames holding the first intensity are simulated first and dropped, so a sequence
    does not open with a transient (for a posed apex, they let the skin settle).

    Args:
        physique: the subject.
        intensity: (T, 17) AU intensities at the frame times (order of ``AU_IDS``).
        au_activations: (17, M) activations per unit AU intensity (the template model's).
        fps: frame rate.
        rng: generator for the activation noise (consumed).
        warmup: frames simulated before the sequence (>= 0).
        dynamics: activation dynamics (defaults if None).
        segments: None: the host SuperLU integrator (:func:`aujax.synth.simulate_expression`, rtol
            1e-6; short posed clips); an int: the jitted dense Newmark with the sequence cut
            into that many overlapping pieces run as one batch
            (:func:`aujax.synth._rig.simulate_long_expression`, 50 frames of overlap, rtol 1e-5;
            the long DISFA-like videos).

    Returns:
        ``(displacements, activations, landmarks_3d)``: (T, n, 3), (T, M) and (T, 68, 3) in the
        model frame (cm).
    """
    x = np.asarray(intensity, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(AU_IDS) or x.shape[0] < 1:
        raise ValueError(f"intensity must have shape (T, {len(AU_IDS)}) with T >= 1, got {x.shape}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be an int >= 0, got {warmup!r}.")
    x = np.concatenate([np.repeat(x[:1], warmup, 0), x])
    acts = muscle_activations(
        x, au_activations, fps=fps, rng=rng, gains=physique.gains,
        dynamics=ActivationDynamics() if dynamics is None else dynamics,
    )  # fmt: skip
    if segments is None:
        us, _ = simulate_expression(physique.rig, acts, rtol=1e-6)
    else:
        us = simulate_long_expression(physique.rig, acts, segments=segments, overlap=50, rtol=1e-5)
    us, acts = us[warmup:], acts[warmup:]
    return us, acts, rig_landmarks(physique.rig, us)


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
) -> dict:
    """Writes a synthetic DISFA-like dataset in the real DISFA layout under ``root``.

    Args:
        root: output folder (the DISFA "manual directory").
        size: preset size, ``"tiny"``, ``"small"`` or ``"full"``.
        seed: the one seed everything is derived from.
        n_vertices: mesh resolution of the face (default
            :data:`aujax.synth._bp4d.DEFAULT_N_VERTICES`: 600 tiny, 650 small, 1,500 full).
        subjects: optional subset of the preset's subjects (``SNxxx``).
        n_frames: frames per subject (default: the preset's ``frames_per_task``).
        camera: the virtual camera (default :data:`DISFA_CAMERA`).
        image_size: side of the rendered crops (default
            :data:`aujax.synth._bp4d.DEFAULT_IMAGE_SIZE`: 64 for small, 128 otherwise).
        warmup: frames simulated before each sequence (holding its first activation), dropped.
        save_meshes: also store the (T, n, 3) float32 meshes in the ground-truth files.
        images: render the aligned face crops and write them as the left-camera frames.
        progress: called with one line per subject (None: silent).

    Returns:
        A summary dict (also written to ``synthetic/summary.json``).

    Raises:
        ValueError: an unknown size or subject, ``n_frames`` < 1, ``warmup`` < 0.
    """
    preset = get_preset("disfa", size)
    subjects = preset.subjects if subjects is None else tuple(subjects)
    for s in subjects:
        if s not in preset.subjects:
            raise ValueError(
                f"subjects: {s!r} is not in the disfa/{size} preset {preset.subjects}."
            )
    if n_frames is not None:
        if isinstance(n_frames, bool) or not isinstance(n_frames, int) or n_frames < 1:
            raise ValueError(f"n_frames must be a positive int, got {n_frames!r}.")
        preset = dataclasses.replace(preset, frames_per_task=n_frames)
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be an int >= 0, got {warmup!r}.")
    if image_size is not None and not 8 <= image_size <= 1024:
        raise ValueError(f"image_size must be in [8, 1024], got {image_size!r}.")
    with jax.enable_x64(True):  # the physics runs in float64 whatever the caller's default
        return _generate_disfa(
            pathlib.Path(root), preset=preset, seed=seed, n_vertices=n_vertices,
            subjects=subjects, camera=DISFA_CAMERA if camera is None else camera,
            image_size=image_size, warmup=warmup, save_meshes=save_meshes, images=images,
            progress=progress,
        )  # fmt: skip


def template_model(n_vertices: int, seed: int, gt_dir: pathlib.Path):
    """The face template and its AU blendshape model (saved to ``gt_dir``).

    Both are immutable and deterministic in ``(n_vertices, seed)``, so the last few are cached.
    """
    face, model = _template(int(n_vertices), int(seed))
    gt_dir.mkdir(parents=True, exist_ok=True)
    model.save(gt_dir / "blendshape_model.npz")
    return face, model


@functools.lru_cache(maxsize=4)
def _template(n_vertices: int, seed: int):
    from ..physics import build_au_blendshapes

    face = make_face(n_vertices, seed=seed)
    model, _ = build_au_blendshapes(face)
    return face, model


def _generate_disfa(
    root, *, preset, seed, n_vertices, subjects, camera, image_size, warmup, save_meshes, images,
    progress,
) -> dict:  # fmt: skip
    n_vertices = DEFAULT_N_VERTICES[preset.size] if n_vertices is None else n_vertices
    image_size = DEFAULT_IMAGE_SIZE[preset.size] if image_size is None else image_size
    gt_dir = root / "synthetic"
    t_start = time.perf_counter()
    face, model = template_model(n_vertices, seed, gt_dir)
    au_acts = np.asarray(model.au_activations, dtype=np.float64)
    cap = preset.capture
    intrinsics = camera.intrinsics(cap.distance_cm)
    fps = preset.fps
    task = preset.tasks[0].name
    cols = np.asarray([AU_IDS.index(au) for au in DISFA_AUS])
    timing = {"physics": 0.0, "rendering": 0.0, "writing": 0.0}
    n_total = 0
    for subject in subjects:
        t0 = time.perf_counter()
        body = subject_physique(
            face, model.identity_basis.shape[0], au_acts.shape[1], dataset="disfa",
            subject=subject, seed=seed, fps=fps,
        )  # fmt: skip
        seq = generate_sequence(preset, subject, task, seed=seed)
        rng = stream_rng(seed, "disfa", subject, task, "capture")
        us, acts, lm3 = simulate_subject_sequence(
            body, seq.intensity, au_acts, fps=fps, rng=rng, warmup=warmup, segments=_SEGMENTS
        )
        timing["physics"] += time.perf_counter() - t0
        n = lm3.shape[0]
        rot, trans = head_pose_sequence(n, sd_deg=cap.pose_sd_deg, fps=fps, rng=rng)
        clean = project_landmarks(lm3, rot, trans, intrinsics, cap.distance_cm)
        noisy = clean + camera.landmark_noise_px * rng.standard_normal(clean.shape)
        dropped = runs_mask(
            n, fraction=camera.dropout_fraction, mean_run=camera.dropout_run, rng=rng
        )
        noisy[dropped] = np.nan
        t1 = time.perf_counter()
        crops = None
        if images:
            crops = sequence_crops(
                body.rig.rest, us, rot, face.triangles, body.albedo, size=image_size,
                color=cap.color,
                light_elevation_deg=rng.normal(*cap.light_elevation_deg),
                ambient=float(np.clip(rng.normal(*cap.ambient), 0.05, 0.9)),
            )  # fmt: skip
        t2 = time.perf_counter()
        timing["rendering"] += t2 - t1
        intensity = seq.labels.intensity[:, cols]
        if np.any(intensity > 5):  # the DISFA coding has no not-coded cells
            raise AssertionError("disfa preset produced not-coded (9) labels")
        disfa = DISFASequence(
            subject=subject,
            frames=np.arange(n, dtype=np.int64),
            intensity=intensity.astype(np.int8),
            landmarks=noisy[:, np.asarray(IDX66)],
        )
        write_disfa_sequence(root, disfa)
        if crops is not None:
            write_disfa_frames(root, subject, crops if crops.shape[-1] == 3 else crops[..., 0])
        gt = dict(
            intensity=seq.intensity, activations=acts, landmarks_3d=lm3, landmarks_2d=clean,
            head_rotation=rot, head_translation=trans, intrinsics=intrinsics,
            identity=body.identity, gains=body.gains, dropped=dropped,
        )  # fmt: skip
        if save_meshes:
            gt["meshes"] = (body.rig.rest[None] + us).astype(np.float32)
        np.savez_compressed(gt_dir / f"{subject}.npz", **gt)
        timing["writing"] += time.perf_counter() - t2
        n_total += n
        if progress is not None:
            progress(f"{subject}: {n} frames ({time.perf_counter() - t_start:.0f} s)")
    summary = {
        "dataset": "disfa",
        "size": preset.size,
        "seed": seed,
        "n_vertices": int(face.n_vertices),
        "subjects": list(subjects),
        "tasks": [task],
        "frames": n_total,
        "image_size": image_size if images else None,
        "seconds": time.perf_counter() - t_start,
        "physics_seconds": timing["physics"],
        "rendering_seconds": timing["rendering"],
        "writing_seconds": timing["writing"],
        "landmark_noise_px": camera.landmark_noise_px,
    }
    (gt_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
