r"""The synthetic BP4D-like dataset: episodes -> activations -> full physics -> landmarks -> layout.

:func:`generate_bp4d` writes the real BP4D layout (REFERENCE §1.1, :mod:`aujax.data._bp4d`) for a
preset (:func:`aujax.data.get_preset`), so that the same readers serve synthetic and licensed data:

1. per subject: identity coefficients ~ N(0, 1) and log-normal muscle gains (sd 0.15), then a
   :class:`~aujax.data.SubjectRig` (the subject's own mesh, skin and muscles, integrator
   factorised once);
2. per task: the AU trajectory and coded labels (:func:`aujax.data.generate_sequence`), muscle
   activations (:func:`aujax.data.muscle_activations`, the template blendshape model's
   ``au_activations`` times the subject's gains), the **full** spring-mass dynamics on the
   subject's mesh (all the subject's tasks as one batch through
   :func:`aujax.data._rig.simulate_expressions`, rtol 1e-5; ``warmup`` frames holding the first
   activation are simulated first and dropped, so a sequence does not open with a transient), the
   68 landmarks. The physics of the next subject runs in a worker thread while this subject's
   crops are rendered and its files written (results do not depend on the overlap);
3. head pose: smooth yaw/pitch/roll (Ornstein-Uhlenbeck, correlation time 1.5 s, the preset's
   standard deviations) and a small translation drift; a pinhole camera at the preset's distance
   looking at the face (model frame x left, y up, z to camera -> camera frame x right, y down,
   z forward); 2D landmarks with Gaussian detector noise and runs of dropped frames (NaN);
4. the layout: ``AUCoding/AU_OCC`` (17 AU columns carry labels, the rest 9), the intensity files of
   AUs 6/10/12/14/17, ``2DFeatures/*.mat`` with the 49-point subset and the head rotation;
   ground truth the real data lack in ``synthetic/{subj}_{task}.npz`` (true intensities,
   activations, 3D landmarks, clean 2D landmarks, head rotation and translation, intrinsics,
   identity, gains, optionally the meshes) and the template model in
   ``synthetic/blendshape_model.npz``.

5. the frame images: aligned face crops rendered from the simulated meshes under the head
   rotation (:func:`sequence_crops`: the crops of :func:`aujax.data._crops.render_crops` through
   the batched packed-z-buffer renderer :func:`aujax.render._splat.render_splat`), one light per
   sequence, the subject's skin albedo, written as ``img/{subj}/{task}/{frame}.jpg`` like the
   real frames. The side is :data:`DEFAULT_IMAGE_SIZE` of the preset size (64 px for ``small``,
   what the main job consumes; ``image_size=128`` gives the preset's 128 px).
"""

import concurrent.futures
import dataclasses
import json
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np

from ..face import AU_IDS, IDX49, make_face, skin_albedo
from ..geometry import perspective_project
from ..render import frame_vertices
from ..render._splat import render_splat
from ._activation import ActivationDynamics, muscle_activations
from ._bp4d import BP4DSequence, write_bp4d_frames, write_bp4d_sequence
from ._episodes import generate_sequence, get_preset, runs_mask, stream_rng
from ._folds import BP4D_INTENSITY_AUS
from ._rig import build_subject_rig, rig_landmarks, simulate_expressions


__all__ = [
    "DEFAULT_N_VERTICES",
    "CameraSetup",
    "generate_bp4d",
    "DEFAULT_IMAGE_SIZE",
    "head_pose_sequence",
    "project_landmarks",
    "sequence_crops",
]

# Mesh resolution per preset size: the small preset's ~650 vertices (instead of 1,500) are what
# lets it run in minutes on 2 cores (docs/data.md, "Measured": landmark cost of the coarser mesh).
DEFAULT_N_VERTICES = {"tiny": 600, "small": 650, "full": 1500}
# Crop side per preset size: `small` at 64 px, the size the main job (experiments.bp4d_physics)
# trains on and ~4x cheaper to render and write than 128; 128 (the presets' capture size) on request.
DEFAULT_IMAGE_SIZE = {"tiny": 128, "small": 64, "full": 128}
_RTOL = 1e-5  # Newmark residual tolerance: ~3e-6 relative to a converged solution (docs/data.md)
_CROP_CHUNK = 32  # most frames per jitted crop-rendering call (faster than 128 on 2 cores)
_FLIP = np.diag([1.0, -1.0, -1.0])  # model frame -> camera frame (face looking at the camera)


@dataclasses.dataclass(frozen=True)
class CameraSetup:
    """The virtual video camera of a synthetic dataset.

    Attributes:
        frame_size: (height, width) of the video frame in pixels (landmarks are in its pixels).
        face_height_fraction: the neutral face's height (~20 cm) as a fraction of the frame height,
            which sets the focal length at the preset's distance.
        landmark_noise_px: sd of the Gaussian landmark-detector noise (pixels).
        dropout_fraction: fraction of frames without landmarks (in runs, NaN in the files).
        dropout_run: mean length of those runs (frames).
    """

    frame_size: tuple[int, int] = (480, 640)
    face_height_fraction: float = 0.5
    landmark_noise_px: float = 1.0
    dropout_fraction: float = 0.005
    dropout_run: float = 3.0

    def intrinsics(self, distance_cm: float) -> np.ndarray:
        h, w = self.frame_size
        f = self.face_height_fraction * h * distance_cm / 20.0
        return np.array([[f, 0.0, w / 2.0], [0.0, f, h / 2.0], [0.0, 0.0, 1.0]])


def _rotation(yaw, pitch, roll) -> np.ndarray:
    """(T, 3, 3) head rotations in the model frame: yaw about y, pitch about x, roll about z."""
    cy, sy, cp, sp, cr, sr = (
        f(np.radians(a)) for a in (yaw, pitch, roll) for f in (np.cos, np.sin)
    )
    one, zero = np.ones_like(cy), np.zeros_like(cy)
    ry = np.stack([np.stack([cy, zero, sy], -1), np.stack([zero, one, zero], -1),
                   np.stack([-sy, zero, cy], -1)], -2)  # fmt: skip
    rx = np.stack([np.stack([one, zero, zero], -1), np.stack([zero, cp, -sp], -1),
                   np.stack([zero, sp, cp], -1)], -2)  # fmt: skip
    rz = np.stack([np.stack([cr, -sr, zero], -1), np.stack([sr, cr, zero], -1),
                   np.stack([zero, zero, one], -1)], -2)  # fmt: skip
    return ry @ rx @ rz


def head_pose_sequence(
    n_frames: int, *, sd_deg, fps: float, rng: np.random.Generator, time_s: float = 1.5
) -> tuple[np.ndarray, np.ndarray]:
    """Smooth random head motion: rotations (T, 3, 3) and translations (T, 3) in cm.

    Yaw, pitch and roll are stationary Ornstein-Uhlenbeck processes with standard deviations
    ``sd_deg`` and correlation time ``time_s``; the translation drifts the same way with sd 1 cm.
    """
    rho = np.exp(-1.0 / (fps * time_s))
    x = np.empty((n_frames, 6))
    x[0] = rng.standard_normal(6)
    for t in range(1, n_frames):
        x[t] = rho * x[t - 1] + np.sqrt(1.0 - rho * rho) * rng.standard_normal(6)
    angles = x[:, :3] * np.asarray(sd_deg, dtype=np.float64)[None]
    return _rotation(angles[:, 0], angles[:, 1], angles[:, 2]), x[:, 3:] * 1.0


def project_landmarks(points, rotation, translation, intrinsics, distance_cm) -> np.ndarray:
    """Model-frame points (T, k, 3) under head pose to pixels (T, k, 2) (perspective camera)."""
    p = np.einsum("tij,tkj->tki", rotation, np.asarray(points))
    p = p + translation[:, None, :]
    cam = np.einsum("ij,tkj->tki", _FLIP, p) + np.array([0.0, 0.0, distance_cm])
    q = perspective_project(jnp.asarray(cam.reshape(-1, 3)), jnp.asarray(intrinsics))
    return np.asarray(q).reshape(cam.shape[:-1] + (2,))


def sequence_crops(
    rest,
    displacements,
    rotations,
    triangles,
    albedo,
    *,
    size: int,
    color: bool = True,
    light_elevation_deg: float = 30.0,
    ambient: float = 0.4,
    chunk: int = 32,
) -> np.ndarray:
    """Aligned face crops (T, size, size, C) uint8 of a simulated sequence.

    The crops of :func:`aujax.data._crops.render_crops` (orthographic camera fitted to the
    subject's neutral face with a 6 % margin, the head rotation per frame, one key light at
    ``light_elevation_deg`` above the camera axis, ambient ``ambient`` and diffuse
    ``1 - ambient``), rendered by :func:`aujax.render._splat.render_splat` (equal up to 1 grey
    level at a few edge pixels).

    Args:
        rest: (n, 3) the subject's rest vertices (cm, model frame).
        displacements: (T, n, 3) simulated displacements.
        rotations: (T, 3, 3) head rotations in the model frame.
        triangles: (f, 3) faces.
        albedo: (n, 3) RGB albedo in [0, 1].
        size: crop side in pixels, 8..1024.
        color: RGB (C = 3) or grayscale (C = 1).
        light_elevation_deg: elevation of the key light.
        ambient: ambient fraction in [0, 1).
        chunk: frames per jitted call.

    Returns:
        (T, size, size, C) uint8 images.
    """
    rest = np.asarray(rest, dtype=np.float32)
    u = np.asarray(displacements, dtype=np.float32)
    if u.ndim != 3 or u.shape[1:] != rest.shape:
        raise ValueError(f"displacements must have shape (T, {rest.shape[0]}, 3), got {u.shape}.")
    if isinstance(size, bool) or not isinstance(size, int) or not 8 <= size <= 1024:
        raise ValueError(f"size must be an int in [8, 1024], got {size!r}.")
    if not 0.0 <= ambient < 1.0:
        raise ValueError(f"ambient must be in [0, 1), got {ambient}.")
    camera = frame_vertices(jnp.asarray(rest), height=size, width=size, margin=0.06)
    el = np.radians(light_elevation_deg)
    return render_splat(
        rest[None] + u, triangles, albedo, camera=camera, rotations=rotations,
        light_dir=(0.0, float(np.sin(el)), float(np.cos(el))), ambient=float(ambient),
        diffuse=1.0 - float(ambient), color=color, chunk=chunk,
    )  # fmt: skip


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
) -> dict:
    """Writes a synthetic BP4D-like dataset in the real BP4D layout under ``root``.

    Args:
        root: output folder (the BP4D "manual directory").
        size: preset size, ``"tiny"``, ``"small"`` or ``"full"``.
        seed: the one seed everything is derived from.
        n_vertices: mesh resolution of the face (default :data:`DEFAULT_N_VERTICES`: 600 for
            tiny, 650 for small, 1,500 for full; docs/data.md gives the accuracy cost of 650).
        subjects: optional subset of the preset's subjects.
        tasks: optional subset of task names.
        camera: the virtual camera (default :class:`CameraSetup`).
        image_size: side of the crops (default :data:`DEFAULT_IMAGE_SIZE`: 64 for small, 128
            for tiny and full), 8..1024.
        warmup: frames simulated before each sequence (holding its first activation), dropped.
        save_meshes: also store the (T, n, 3) float32 meshes in the ground-truth files.
        images: render the aligned face crops (``image_size``, RGB or gray per the preset) and
            write them as the frame images ``img/{subj}/{task}/{frame}.jpg``.
        progress: called with one line per sequence (None: silent).

    Returns:
        A summary dict (also written to ``synthetic/summary.json``).
    """
    if image_size is not None and (
        isinstance(image_size, bool) or not isinstance(image_size, int)
        or not 8 <= image_size <= 1024
    ):  # fmt: skip
        raise ValueError(f"image_size must be an int in [8, 1024], got {image_size!r}.")
    with jax.enable_x64(True):  # the physics runs in float64 whatever the caller's default
        return _generate_bp4d(
            root, size=size, seed=seed, n_vertices=n_vertices, subjects=subjects, tasks=tasks,
            camera=camera, image_size=image_size, warmup=warmup, save_meshes=save_meshes, images=images,
            progress=progress,
        )  # fmt: skip


def _generate_bp4d(
    root, *, size, seed, n_vertices, subjects, tasks, camera, image_size, warmup, save_meshes,
    images, progress,
) -> dict:  # fmt: skip
    from ..physics import build_au_blendshapes

    preset = get_preset("bp4d", size)
    camera = CameraSetup() if camera is None else camera
    subjects = preset.subjects if subjects is None else tuple(subjects)
    task_names = tuple(t.name for t in preset.tasks) if tasks is None else tuple(tasks)
    for s in subjects:
        if s not in preset.subjects:
            raise ValueError(f"subjects: {s!r} is not in the bp4d/{size} preset.")
    for t in task_names:
        preset.task(t)  # raises on unknown names
    if not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be an int >= 0, got {warmup!r}.")
    n_vertices = DEFAULT_N_VERTICES[size] if n_vertices is None else n_vertices
    image_size = DEFAULT_IMAGE_SIZE[size] if image_size is None else image_size
    root = pathlib.Path(root)
    gt_dir = root / "synthetic"
    gt_dir.mkdir(parents=True, exist_ok=True)

    t_start = time.perf_counter()
    face = make_face(n_vertices, seed=seed)
    model, _ = build_au_blendshapes(face)
    model.save(gt_dir / "blendshape_model.npz")
    au_acts = np.asarray(model.au_activations, dtype=np.float64)
    intrinsics = camera.intrinsics(preset.capture.distance_cm)
    distance = preset.capture.distance_cm
    fps = preset.fps
    dynamics = ActivationDynamics()
    occ_aus = tuple(AU_IDS)
    col = {au: i for i, au in enumerate(AU_IDS)}
    timing = {"physics": 0.0, "rendering": 0.0, "writing": 0.0}
    cap = preset.capture

    def prepare(subject):
        """Host draws of one subject (cheap): physique, rig, per-task labels and activations."""
        rng_subject = stream_rng(seed, "bp4d", subject, "physique")
        identity = rng_subject.standard_normal(model.identity_basis.shape[0])
        gains = np.exp(0.15 * rng_subject.standard_normal(au_acts.shape[1]))
        tone = rng_subject.uniform()
        albedo_key = jax.random.key(int(rng_subject.integers(2**31)))
        albedo = np.asarray(skin_albedo(face, jnp.asarray(tone), key=albedo_key))
        rig = build_subject_rig(face, identity, fps=fps)
        tasks = []
        for task in task_names:
            seq = generate_sequence(preset, subject, task, seed=seed)
            rng = stream_rng(seed, "bp4d", subject, task, "capture")
            intensity = np.concatenate([np.repeat(seq.intensity[:1], warmup, 0), seq.intensity])
            acts = muscle_activations(
                intensity, au_acts, fps=fps, rng=rng, gains=gains, dynamics=dynamics
            )
            tasks.append((task, seq, rng, acts))
        return dict(subject=subject, identity=identity, gains=gains, albedo=albedo, rig=rig,
                    tasks=tasks)  # fmt: skip

    def physics(prep):
        """The subject's sequences as one batch (padded to the longest by holding the last
        activation; the dynamics are causal, so the padding changes no kept frame). The batch
        always has the preset's number of tasks (repeating the first sequence): a sequence's
        floating-point result then does not depend on which other tasks are generated."""
        with jax.enable_x64(True):  # thread-local: the worker thread sets its own
            t0 = time.perf_counter()
            rig = prep["rig"]
            acts = [t[3] for t in prep["tasks"]]
            longest = max(len(a) for a in acts)
            rows = [np.concatenate([a, np.repeat(a[-1:], longest - len(a), 0)]) for a in acts]
            rows += rows[:1] * (len(preset.tasks) - len(rows))
            batch = np.stack(rows)
            us_all, _ = simulate_expressions(rig, batch, rtol=_RTOL)
            out = []
            for a, us in zip(acts, us_all[: len(acts)], strict=True):
                us = us[warmup : len(a)]
                out.append((us, rig_landmarks(rig, us)))
            timing["physics"] += time.perf_counter() - t0
            return out

    n_frames_total = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        # pipeline: the physics of the next subject runs beside this subject's crops and files
        prep = prepare(subjects[0]) if subjects else None
        pending = pool.submit(physics, prep) if subjects else None
        for index, subject in enumerate(subjects):
            simulated = pending.result()
            current = prep
            if index + 1 < len(subjects):
                prep = prepare(subjects[index + 1])
                pending = pool.submit(physics, prep)
            rig, albedo = current["rig"], current["albedo"]
            identity, gains = current["identity"], current["gains"]
            for (task, seq, rng, acts), (us, lm3) in zip(current["tasks"], simulated,
                                                         strict=True):  # fmt: skip
                acts = acts[warmup:]
                n = lm3.shape[0]
                rot, trans = head_pose_sequence(n, sd_deg=cap.pose_sd_deg, fps=fps, rng=rng)
                clean = project_landmarks(lm3, rot, trans, intrinsics, distance)
                noisy = clean + camera.landmark_noise_px * rng.standard_normal(clean.shape)
                dropped = runs_mask(
                    n, fraction=camera.dropout_fraction, mean_run=camera.dropout_run, rng=rng
                )
                noisy[dropped] = np.nan
                pose = rot.copy()
                pose[dropped] = np.nan
                t1 = time.perf_counter()
                crops = None
                if images:
                    crops = sequence_crops(
                        rig.rest, us, rot, face.triangles, albedo, size=image_size,
                        color=cap.color,
                        light_elevation_deg=rng.normal(*cap.light_elevation_deg),
                        ambient=float(np.clip(rng.normal(*cap.ambient), 0.05, 0.9)),
                        chunk=-(-n // -(-n // _CROP_CHUNK)),  # equal chunks of <= 32 frames
                    )  # fmt: skip
                t2 = time.perf_counter()
                timing["rendering"] += t2 - t1
                labels = seq.labels
                bp4d = BP4DSequence(
                    subject=subject,
                    task=task,
                    frames=np.arange(1, n + 1, dtype=np.int64),
                    occurrence=labels.occurrence.astype(np.int8),
                    aus=occ_aus,
                    occlusion=labels.occlusion.astype(bool),
                    intensity={
                        au: labels.intensity[:, col[au]].astype(np.int8)
                        for au in BP4D_INTENSITY_AUS
                    },  # fmt: skip
                    landmarks=noisy[:, np.asarray(IDX49)],
                    pose=pose,
                )
                write_bp4d_sequence(root, bp4d)
                if crops is not None:
                    write_bp4d_frames(root, subject, task, bp4d.frames,
                                      crops if crops.shape[-1] == 3 else crops[..., 0])  # fmt: skip
                gt = dict(
                    intensity=seq.intensity, activations=acts, landmarks_3d=lm3,
                    landmarks_2d=clean, head_rotation=rot, head_translation=trans,
                    intrinsics=intrinsics, identity=identity, gains=gains, dropped=dropped,
                )  # fmt: skip
                if save_meshes:
                    gt["meshes"] = (rig.rest[None] + us).astype(np.float32)
                np.savez_compressed(gt_dir / f"{subject}_{task}.npz", **gt)
                timing["writing"] += time.perf_counter() - t2
                n_frames_total += n
                if progress is not None:
                    progress(
                        f"{subject}_{task}: {n} frames ({time.perf_counter() - t_start:.0f} s)"
                    )
    summary = {
        "dataset": "bp4d",
        "size": size,
        "seed": seed,
        "n_vertices": int(face.n_vertices),
        "subjects": list(subjects),
        "tasks": list(task_names),
        "frames": n_frames_total,
        "image_size": image_size if images else None,
        "seconds": time.perf_counter() - t_start,
        "physics_seconds": timing["physics"],
        "rendering_seconds": timing["rendering"],
        "writing_seconds": timing["writing"],
        "landmark_noise_px": camera.landmark_noise_px,
    }
    (gt_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
