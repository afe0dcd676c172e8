r"""The synthetic BP4D-like dataset: episodes -> activations -> full physics -> landmarks -> layout.

:func:`generate_bp4d` writes the real BP4D layout (REFERENCE §1.1, :mod:`aujax.datasets._bp4d`) for a
preset (:func:`aujax.synth.get_preset`), so that the same readers serve synthetic and licensed data:

1. per subject: identity coefficients ~ N(0, 1) and log-normal muscle gains (sd 0.15), then a
   :class:`~aujax.synth.SubjectRig` (the subject's own mesh, skin and muscles, integrator
   factorised once);
2. per task: the AU trajectory and coded labels (:func:`aujax.synth.generate_sequence`), muscle
   activations (:func:`aujax.synth.muscle_activations`, the template blendshape model's
   ``au_activations`` times the subject's gains), the **full** spring-mass dynamics on the
   subject's mesh (all the subject's tasks as one batch through
   :func:`aujax.synth._rig.simulate_expressions`, rtol 1e-5; ``warmup`` frames holding the first
   activation are simulated first and dropped, so a sequence does not open with a transient), the
   68 landmarks. The physics of the next two subjects runs in worker threads while this
   subject's crops are rendered, and the previous subject's files are written by a writer
   thread (results do not depend on the overlap, test);
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
   rotation (:func:`sequence_crops`: the crops of :func:`tests._crops_reference.render_crops` through
   the batched packed-z-buffer renderer :func:`aujax.render._splat.render_splat`, all of a
   subject's sequences in one call with a light per frame, so the chunks stay full and their
   compiled shape fixed), one light per sequence, the subject's skin albedo, written as
   ``img/{subj}/{task}/{frame}.jpg`` like the real frames. The side is
   :data:`DEFAULT_IMAGE_SIZE` of the preset size (64 px for ``small``, what the main job
   consumes; ``image_size=128`` gives the preset's 128 px).
"""

import collections
import concurrent.futures
import dataclasses
import json
import pathlib
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np

from ..datasets import BP4D_INTENSITY_AUS, BP4DSequence, write_bp4d_frames, write_bp4d_sequence
from ..face import AU_IDS, IDX49, make_face, skin_albedo
from ..geometry import perspective_project
from ..render import frame_vertices, render_splat
from ._activation import ActivationDynamics, muscle_activations
from ._episodes import generate_sequence, get_preset, runs_mask, stream_rng
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
# Subjects simulated at once (threads): a subject's physics (the dense inverse, then the Newmark
# scan) is single-threaded on XLA CPU and LAPACK here, and the main thread's crops and the writer
# leave most of a core free, so two subjects in flight keep both cores busy.
_PHYSICS_WORKERS = 2
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
    light_elevation_deg=30.0,
    ambient=0.4,
    chunk: int = 32,
) -> np.ndarray:
    """Aligned face crops (T, size, size, C) uint8 of a simulated sequence.

    The crops of :func:`tests._crops_reference.render_crops` (orthographic camera fitted to the
    subject's neutral face with a 6 % margin, the head rotation per frame, one key light at
    ``light_elevation_deg`` above the camera axis, ambient ``ambient`` and diffuse
    ``1 - ambient``), rendered by :func:`aujax.render._splat.render_splat` (equal up to 1 grey
    level at a few edge pixels). The light may differ per frame, so several sequences of one
    subject (one light each) render in one call: frame t's image does not depend on the others.

    Args:
        rest: (n, 3) the subject's rest vertices (cm, model frame).
        displacements: (T, n, 3) simulated displacements.
        rotations: (T, 3, 3) head rotations in the model frame.
        triangles: (f, 3) faces.
        albedo: (n, 3) RGB albedo in [0, 1].
        size: crop side in pixels, 8..1024.
        color: RGB (C = 3) or grayscale (C = 1).
        light_elevation_deg: elevation of the key light, a float or (T,) per frame.
        ambient: ambient fraction in [0, 1), a float or (T,) per frame.
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
    n_frames = u.shape[0]
    amb = np.asarray(ambient, dtype=np.float64)
    el = np.radians(np.asarray(light_elevation_deg, dtype=np.float64))
    for name, x in (("ambient", amb), ("light_elevation_deg", el)):
        if x.shape not in ((), (n_frames,)) or not np.all(np.isfinite(x)):
            raise ValueError(f"{name} must be a finite float or ({n_frames},) array.")
    if not np.all((amb >= 0.0) & (amb < 1.0)):
        raise ValueError(f"ambient must be in [0, 1), got {ambient}.")
    amb, el = np.broadcast_to(amb, (n_frames,)), np.broadcast_to(el, (n_frames,))
    camera = frame_vertices(jnp.asarray(rest), height=size, width=size, margin=0.06)
    light = np.stack([np.zeros_like(el), np.sin(el), np.cos(el)], axis=-1)
    return render_splat(
        rest[None] + u, triangles, albedo, camera=camera, rotations=rotations, light_dir=light,
        ambient=amb, diffuse=1.0 - amb, color=color, chunk=chunk,
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
    timing = {"physics": 0.0, "rendering": 0.0, "writing": 0.0}  # summed over threads
    lock = threading.Lock()
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
            with lock:
                timing["physics"] += time.perf_counter() - t0
            return out

    def capture(current, simulated):
        """Host draws of one subject's sequences (per task, in the stream's order): head pose,
        projected and noisy landmarks, dropped frames, then the light and ambient level."""
        out = []
        for (task, seq, rng, acts), (us, lm3) in zip(current["tasks"], simulated, strict=True):
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
            light = None
            if images:
                light = (rng.normal(*cap.light_elevation_deg),
                         float(np.clip(rng.normal(*cap.ambient), 0.05, 0.9)))  # fmt: skip
            out.append(dict(task=task, seq=seq, acts=acts[warmup:], us=us, lm3=lm3, rot=rot,
                            trans=trans, clean=clean, noisy=noisy, dropped=dropped, pose=pose,
                            light=light))  # fmt: skip
        return out

    def render_subject(current, captured):
        """All the subject's crops in one call (one light per sequence), split per sequence."""
        if not images or not captured:
            return [None] * len(captured)
        lengths = [c["us"].shape[0] for c in captured]
        crops = sequence_crops(
            current["rig"].rest, np.concatenate([c["us"] for c in captured]),
            np.concatenate([c["rot"] for c in captured]), face.triangles, current["albedo"],
            size=image_size, color=cap.color,
            light_elevation_deg=np.repeat([c["light"][0] for c in captured], lengths),
            ambient=np.repeat([c["light"][1] for c in captured], lengths), chunk=_CROP_CHUNK,
        )  # fmt: skip
        return np.split(crops, np.cumsum(lengths)[:-1])

    def write(current, captured, crops):
        """The subject's files (runs in the writer thread); returns the progress lines."""
        t0 = time.perf_counter()
        subject, lines = current["subject"], []
        for c, image in zip(captured, crops, strict=True):
            task, labels, n = c["task"], c["seq"].labels, c["lm3"].shape[0]
            bp4d = BP4DSequence(
                subject=subject,
                task=task,
                frames=np.arange(1, n + 1, dtype=np.int64),
                occurrence=labels.occurrence.astype(np.int8),
                aus=occ_aus,
                occlusion=labels.occlusion.astype(bool),
                intensity={
                    au: labels.intensity[:, col[au]].astype(np.int8) for au in BP4D_INTENSITY_AUS
                },
                landmarks=c["noisy"][:, np.asarray(IDX49)],
                pose=c["pose"],
            )
            write_bp4d_sequence(root, bp4d)
            if image is not None:
                write_bp4d_frames(root, subject, task, bp4d.frames,
                                  image if image.shape[-1] == 3 else image[..., 0])  # fmt: skip
            gt = dict(
                intensity=c["seq"].intensity, activations=c["acts"], landmarks_3d=c["lm3"],
                landmarks_2d=c["clean"], head_rotation=c["rot"], head_translation=c["trans"],
                intrinsics=intrinsics, identity=current["identity"], gains=current["gains"],
                dropped=c["dropped"],
            )  # fmt: skip
            if save_meshes:
                gt["meshes"] = (current["rig"].rest[None] + c["us"]).astype(np.float32)
            np.savez_compressed(gt_dir / f"{subject}_{task}.npz", **gt)
            lines.append((f"{subject}_{task}", n))
        with lock:
            timing["writing"] += time.perf_counter() - t0
        return lines

    n_frames_total = 0

    def report(written):
        nonlocal n_frames_total
        for name, n in written.result():  # re-raises the writer's errors
            n_frames_total += n
            if progress is not None:
                progress(f"{name}: {n} frames ({time.perf_counter() - t_start:.0f} s)")

    with (
        concurrent.futures.ThreadPoolExecutor(max_workers=_PHYSICS_WORKERS) as pool,
        concurrent.futures.ThreadPoolExecutor(max_workers=1) as writer,
    ):
        # pipeline: the physics of the next subjects (worker threads) and the files of the
        # previous one (writer thread) run beside this subject's crops
        ahead = collections.deque()

        def submit(i):
            prep = prepare(subjects[i])
            ahead.append((prep, pool.submit(physics, prep)))

        for i in range(min(_PHYSICS_WORKERS, len(subjects))):
            submit(i)
        written = None
        for index in range(len(subjects)):
            current, pending = ahead.popleft()
            simulated = pending.result()
            if index + _PHYSICS_WORKERS < len(subjects):
                submit(index + _PHYSICS_WORKERS)
            captured = capture(current, simulated)
            t1 = time.perf_counter()
            crops = render_subject(current, captured)
            timing["rendering"] += time.perf_counter() - t1
            if written is not None:
                report(written)
            written = writer.submit(write, current, captured, crops)
        if written is not None:
            report(written)
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
