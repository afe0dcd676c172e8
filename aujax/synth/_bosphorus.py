r"""The synthetic Bosphorus-like dataset: posed AU and emotion scans in the real Bosphorus layout.

:func:`generate_bosphorus` writes the Bosphorus layout (REFERENCE §1.3,
:mod:`aujax.datasets._bosphorus`) for the ``bosphorus`` preset (:func:`aujax.synth.get_preset`): per
subject (``bs000``-style IDs) one sample per posed context of the preset
(:data:`aujax.synth.BOSPHORUS_CONTEXTS`: the neutral face, single upper/lower-face AUs, two AU
combinations and the six emotions), each a single frame captured at the apex. It configures the
generator pipeline (:mod:`aujax.synth._pipeline`), one subject per unit; physics: 1 and 2,
rendering: 3, writing: 4 and 5.

1. per subject: identity, muscle gains, skin and the subject's rig, drawn exactly as in the
   other generators (:func:`aujax.synth.subject_physique`, stream ``"bosphorus"``);
2. per pose: the posed clip of the preset (:func:`aujax.synth.generate_sequence`: one posed episode
   whose apex covers the end of the clip), ``settle`` frames holding the first intensity in front,
   muscle activations (:meth:`aujax.synth.Cast.drive`, the preset's
   :class:`~aujax.synth.MuscleRealism`) and the **full** spring-mass dynamics; the captured sample
   is the clip's last frame (the skin has settled on the apex: the sample's ground truth stores
   the residual speed);
3. a small random head rotation (the preset's pose standard deviations), an orthographic camera
   fitted to the subject's neutral face (:func:`aujax.geometry.frame_vertices`, margin 0.06) and one
   light per sample; :func:`aujax.render.render` gives the texture image and the depth;
4. the layout, four files per sample ``bsXXX/bsXXX_{CLASS}_{CODE}_0.{bnt,lm3,lm2,png}``
   (:func:`aujax.datasets.write_bosphorus_sample`):

   * ``.bnt``: the range grid from the rendered depth (:func:`aujax.datasets.range_scan_from_depth`,
     orthographic; camera frame x right, y up, z toward the camera; millimetres), background
     pixels invalid;
   * ``.lm3``: the 22 standard landmarks (:data:`aujax.datasets.BOSPHORUS_LANDMARKS`) in the scan's
     frame (mm): 20 from the iBUG-68 points on the deformed mesh
     (:data:`aujax.datasets.BOSPHORUS_TO_IBUG68`), the two nose-saddle points from the mesh vertex
     nearest, on the subject's neutral face, to ``0.55 p27 + 0.45 p39`` (right) /
     ``0.55 p27 + 0.45 p42`` (left), followed through the deformation;
   * ``.lm2``: the same points projected into the ``.png`` in pixels, with pixel centres at
     integer coordinates (``(col, row)``, the pinhole convention of :mod:`aujax.geometry`);
   * ``.png``: the rendered image (lossless);

5. ground truth in ``synthetic/{stem}.npz``: the true AU intensities at the captured frame and
   along the clip, activations, the 68 landmarks in the model frame (cm), head rotation, camera
   scale and offset, identity, gains, the residual skin speed, the realism draws (``synergy``
   (17, M), ``au_side_scale`` (17, 2) at the captured frame), optionally the mesh; the template
   model in ``synthetic/blendshape_model.npz``; ``synthetic/summary.json``.

**Names.** Context ``"N_N"`` -> ``bsXXX_N_N_0``, ``"UFAU_1"`` -> ``bsXXX_UFAU_1_0``, ``"LFAU_12"`` ->
``bsXXX_LFAU_12_0``, ``"E_HAPPY"`` -> ``bsXXX_E_HAPPY_0``. The combined-AU codes are written
``A{au}A{au}...`` (``"CAU_1+2"`` -> ``bsXXX_CAU_A1A2_0``): a '+' is not allowed in a sample name,
and the ``A``-prefixed form follows our reading of the real CAU codes (unverified).
:func:`aujax.datasets._tfds_bosphorus.bosphorus_aus` parses a name back into the AUs it poses.
"""

import dataclasses
import pathlib

import jax
import numpy as np

from ..datasets import (
    BOSPHORUS_LANDMARKS,
    BOSPHORUS_TO_IBUG68,
    BosphorusName,
    BosphorusSample,
    Landmarks2D,
    Landmarks3D,
    range_scan_from_depth,
    write_bosphorus_sample,
)
from ..geometry import frame_vertices
from ..render import render
from ._capture import head_pose_sequence
from ._pipeline import Timings, check_int, check_subjects, run_pipeline, save_summary
from ._presets import Preset, get_preset
from ._realism import MuscleRealism
from ._rig import rig_landmarks
from ._sequence import SequenceAUs, generate_sequence
from ._streams import stream_rng
from ._subject import Cast, SubjectPhysique, simulate_subject_sequence, template_model
from ._video import realism_ground_truth


__all__ = [
    "BOSPHORUS_EMOTIONS",
    "bosphorus_sample_name",
    "generate_bosphorus",
]

#: The emotion codes of the ``E`` class.
BOSPHORUS_EMOTIONS: tuple[str, ...] = ("ANGER", "DISGUST", "FEAR", "HAPPY", "SADNESS", "SURPRISE")

_SADDLE = {"Nose saddle right": 39, "Nose saddle left": 42}  # inner eye corner of that side


def bosphorus_sample_name(subject: str, pose: str, index: int = 0) -> BosphorusName:
    """The sample name of a preset pose, e.g. ``("bs001", "CAU_1+2")`` -> ``bs001_CAU_A1A2_0``
    (codes already in the file form, ``"CAU_A22A25"``, are kept).

    Args:
        subject: ``"bsXXX"`` subject ID.
        pose: a context name of the bosphorus preset (``"{CLASS}_{CODE}"``).
        index: repetition number.

    Returns:
        The :class:`~aujax.datasets.BosphorusName`.
    """
    cls, _, code = pose.partition("_")
    if not code:
        raise ValueError(f"pose: expected '{{CLASS}}_{{CODE}}', got {pose!r}")
    if cls == "CAU" and "+" in code:
        code = "".join(f"A{int(au)}" for au in code.split("+"))
    return BosphorusName(subject, cls, code, index)


def generate_bosphorus(
    root,
    *,
    size: str = "tiny",
    seed: int = 0,
    n_vertices: int | None = None,
    subjects=None,
    poses=None,
    image_size: int | None = None,
    settle: int = 10,
    save_meshes: bool = False,
    progress=print,
    realism: MuscleRealism | None = None,
) -> dict:
    """Writes a synthetic Bosphorus-like dataset in the real Bosphorus layout under ``root``.

    Args:
        root: output folder (the Bosphorus "manual directory").
        size: preset size, ``"tiny"``, ``"small"``, ``"full"`` or ``"sdm"`` (below).
        seed: the one seed everything is derived from.
        n_vertices: mesh resolution of the face (default: 600 for tiny, 1500 otherwise).
        subjects: optional subset of the preset's subjects (``bsXXX``).
        poses: optional subset of the preset's pose names (e.g. ``["N_N", "LFAU_12"]``).
        image_size: side of the rendered image and range grid (default: the preset's
            ``capture.image_size``).
        settle: frames simulated before each clip holding its first (apex) intensity, dropped.
        save_meshes: also store the (n, 3) float32 mesh in the ground-truth files.
        progress: called with one line per sample (None: silent).
        realism: the muscle activity's realism (default: the preset's realistic options;
            :meth:`aujax.synth.MuscleRealism.off` gives the historical generator).

    Returns:
        A summary dict (also written to ``synthetic/summary.json``).

    Raises:
        ValueError: an unknown size, subject or pose, ``settle`` < 0.

    ``size="sdm"`` writes the preset of seed 004 instead
    (:func:`aujax.synth._bosphorus_sdm.generate_bosphorus_sdm`: the real sample classes, static
    equilibria, head rotations, occlusions, detector landmarks and the true mesh beside each
    sample); ``poses`` then selects sample classes, and ``save_meshes`` is implied.
    """
    if size == "sdm":
        from ._bosphorus_sdm import generate_bosphorus_sdm

        return generate_bosphorus_sdm(
            root, seed=seed, n_vertices=n_vertices, subjects=subjects, classes=poses,
            image_size=image_size, settle=settle, progress=progress, realism=realism,
        )  # fmt: skip
    preset = get_preset("bosphorus", size)
    if realism is not None:
        if not isinstance(realism, MuscleRealism):
            raise ValueError(f"realism must be a MuscleRealism, got {realism!r}.")
        preset = dataclasses.replace(preset, realism=realism)
    subjects = check_subjects(preset, subjects)
    known = [c.name for c in preset.tasks]
    poses = tuple(known) if poses is None else tuple(poses)
    for p in poses:
        if p not in known:
            raise ValueError(f"poses: {p!r} is not a pose of the bosphorus preset {known}.")
    check_int("settle", settle, 0)
    if image_size is not None:
        check_int("image_size", image_size, 8, 1024)
    n_vertices = (600 if size == "tiny" else 1500) if n_vertices is None else n_vertices
    image_size = preset.capture.image_size[0] if image_size is None else image_size
    root, timings = pathlib.Path(root), Timings()
    with jax.enable_x64(True):  # the physics runs in float64 whatever the caller's default
        face, model = template_model(n_vertices, seed, root / "synthetic")
        cast = Cast("bosphorus", seed, preset.fps, face, model, preset.realism)
        stages = _BosphorusStages(root, preset, cast, poses, image_size, settle, save_meshes)
        frames = run_pipeline(subjects, stages, timings=timings, progress=progress, noun="sample")
    return save_summary(root / "synthetic", {
        "dataset": "bosphorus", "size": size, "seed": seed, "n_vertices": int(face.n_vertices),
        "subjects": list(subjects), "poses": list(poses), "samples": frames, "frames": frames,
        "image_size": image_size, "settle_frames": settle,
        "max_residual_speed_cm_s": max([0.0, *stages.speeds]), **timings.summary(),
        "realism": dataclasses.asdict(preset.realism),
    })  # fmt: skip


def _bosphorus_landmarks(lm68: np.ndarray, vertices: np.ndarray, saddle_idx) -> np.ndarray:
    """(22, 3) points in the order of BOSPHORUS_LANDMARKS from the 68 landmarks and the mesh."""
    out = np.empty((len(BOSPHORUS_LANDMARKS), 3))
    for i, name in enumerate(BOSPHORUS_LANDMARKS):
        if name in BOSPHORUS_TO_IBUG68:
            out[i] = lm68[BOSPHORUS_TO_IBUG68[name]]
        else:
            out[i] = vertices[saddle_idx[name]]
    return out


def _saddle_vertices(rest: np.ndarray, lm_rest: np.ndarray) -> dict[str, int]:
    """The nose-saddle vertices: nearest, on the neutral face, to ``0.55 p27 + 0.45 p39 / p42``."""
    return {
        n: int(np.argmin(np.sum((rest - (0.55 * lm_rest[27] + 0.45 * lm_rest[k])) ** 2, 1)))
        for n, k in _SADDLE.items()
    }


@dataclasses.dataclass(frozen=True)
class _Posed:
    """One simulated pose: the clip and the state of its last (captured) frame."""

    name: BosphorusName
    sequence: SequenceAUs
    rng: np.random.Generator  # the capture stream, activation noise drawn
    displacement: np.ndarray  # (n, 3)
    activations: np.ndarray  # (M,)
    landmarks: np.ndarray  # (68, 3) model frame
    speed: float  # residual skin speed, cm/s
    side_scale: np.ndarray  # (17, 2) right/left scales of each AU's drive at the captured frame


@dataclasses.dataclass(frozen=True)
class _Shot:
    """A rendered pose: head rotation, image, depth (NaN on the background), camera scale/offset."""

    posed: _Posed
    rotation: np.ndarray
    image: np.ndarray
    depth: np.ndarray
    scale: float
    offset: np.ndarray


@dataclasses.dataclass(frozen=True)
class _BosphorusStages:
    """The pipeline stages of the Bosphorus-like generator, one subject per unit."""

    root: pathlib.Path
    preset: Preset
    cast: Cast
    poses: tuple[str, ...]
    size: int
    settle: int
    save_meshes: bool
    speeds: list = dataclasses.field(default_factory=list)  # residual speeds (render thread)

    def simulate(self, subject: str):
        """The subject's body, its nose-saddle vertices and every pose's clip."""
        body = self.cast.physique(subject)
        rest = body.rig.rest
        lm_rest = rig_landmarks(body.rig, np.zeros((1,) + rest.shape))[0]
        saddle = _saddle_vertices(rest, lm_rest)
        return body, saddle, [self._pose(body, subject, pose) for pose in self.poses]

    def _pose(self, body: SubjectPhysique, subject: str, pose: str) -> _Posed:
        cast = self.cast
        seq = generate_sequence(self.preset, subject, pose, seed=cast.seed)
        rng = stream_rng(cast.seed, "bosphorus", subject, pose, "capture")
        # one frame more in front, so that the residual speed can be measured on any clip
        clip = np.concatenate([seq.intensity[:1], seq.intensity])
        drive = cast.drive(body, clip, subject=subject, task=pose, rng=rng, warmup=self.settle)
        us, acts, lm3 = simulate_subject_sequence(
            body, clip, cast.au_activations, fps=cast.fps, rng=rng, warmup=self.settle,
            activations=drive.activations,
        )  # fmt: skip
        speed = float(np.abs(us[-1] - us[-2]).max() * cast.fps)  # cm/s
        name = bosphorus_sample_name(subject, pose)
        return _Posed(name, seq, rng, us[-1], acts[-1], lm3[-1], speed, drive.side_scale[-1])

    def render(self, simulated):
        body, saddle, posed = simulated
        self.speeds.extend(p.speed for p in posed)
        return body, saddle, [self._shoot(body, p) for p in posed]

    def _shoot(self, body: SubjectPhysique, posed: _Posed) -> _Shot:
        """A small head rotation and one light (drawn in this order), then the image and depth."""
        cap, size, rest, rng = self.preset.capture, self.size, body.rig.rest, posed.rng
        rot, _ = head_pose_sequence(1, sd_deg=cap.pose_sd_deg, fps=self.cast.fps, rng=rng)
        el = np.radians(rng.normal(*cap.light_elevation_deg))
        ambient = float(np.clip(rng.normal(*cap.ambient), 0.05, 0.9))
        cam = frame_vertices(
            np.asarray(rest, np.float32), height=size, width=size, margin=0.06
        ).replace(rotation=jax.numpy.asarray(rot[0], jax.numpy.float32))
        verts = (rest + posed.displacement).astype(np.float32)
        out = render(
            verts, np.asarray(self.cast.face.triangles), body.albedo.astype(np.float32),
            camera=cam, light_dir=(0.0, float(np.sin(el)), float(np.cos(el))), ambient=ambient,
            diffuse=1.0 - ambient,
        )  # fmt: skip
        image = np.clip(np.round(np.asarray(out.image) * 255.0), 0, 255).astype(np.uint8)
        image = image if cap.color else image[..., 0]
        depth = np.where(np.asarray(out.mask), np.asarray(out.depth, np.float64), np.nan)
        return _Shot(posed, rot[0], image, depth, float(cam.scale),
                     np.asarray(cam.translation, np.float64))  # fmt: skip

    def write(self, rendered):
        body, saddle, shots = rendered
        for shot in shots:
            self._write_sample(body, saddle, shot)
            yield shot.posed.name.stem, 1

    def _write_sample(self, body: SubjectPhysique, saddle, shot: _Shot) -> None:
        """The sample's four files (scan, 3D and 2D landmarks, image), then its ground truth."""
        p, scale, offset = shot.posed, shot.scale, shot.offset
        mesh = body.rig.rest + p.displacement
        scan = range_scan_from_depth(
            shot.depth, image_file=p.name.stem + ".png", scale=scale, offset=offset
        )
        # the 22 points in the camera frame = the scan's frame (cm), then in the png's pixels
        cam_pts = _bosphorus_landmarks(p.landmarks, mesh, saddle) @ np.asarray(shot.rotation).T
        lm2 = np.stack(
            [scale * cam_pts[:, 0] + offset[0] - 0.5, offset[1] - scale * cam_pts[:, 1] - 0.5],
            axis=-1,
        )
        sample = BosphorusSample(
            name=p.name,
            scan=scan,
            lm3=Landmarks3D(BOSPHORUS_LANDMARKS, cam_pts * 10.0),
            lm2=Landmarks2D(BOSPHORUS_LANDMARKS, lm2),
        )
        write_bosphorus_sample(self.root, sample, image=shot.image)
        gt = dict(
            intensity=p.sequence.intensity[-1], clip_intensity=p.sequence.intensity,
            activations=p.activations, landmarks_3d=p.landmarks, head_rotation=shot.rotation,
            camera_scale=scale, camera_offset=offset, identity=body.identity, gains=body.gains,
            residual_speed=p.speed, **realism_ground_truth(body, p.side_scale),
        )  # fmt: skip
        if self.save_meshes:
            gt["mesh"] = mesh.astype(np.float32)
        np.savez_compressed(self.root / "synthetic" / f"{p.name.stem}.npz", **gt)
