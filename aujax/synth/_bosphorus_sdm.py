r"""The Bosphorus-like ``sdm`` preset (seed 004): the real sample classes, expressions as static
equilibria, head rotations, occlusions and a landmark detector's output, in the Bosphorus layout
with the true mesh beside every sample.

:func:`generate_bosphorus` with ``size="sdm"`` calls :func:`generate_bosphorus_sdm`; it runs the
generator pipeline (:mod:`aujax.synth._pipeline`) one subject per unit:

1. **physics** (worker threads): the subject's body and rig, drawn as in the other Bosphorus
   presets (:meth:`aujax.synth.Cast.physique`, stream ``"bosphorus"``: the same people); per
   expression class of the subject (:data:`aujax.synth.BOSPHORUS_SDM_CONTEXTS`) the posed apex
   intensity (:func:`aujax.synth.generate_sequence`), the muscle drive held ``settle`` frames
   (:meth:`aujax.synth.Cast.drive`, the preset's realism; ``LFAU_12L`` / ``12R`` one-sided) and
   its **static equilibrium** on the subject's full spring-mass skin
   (:class:`aujax.physics.SparseEquilibriumSolver`: Newton-PCG, relative residual 1e-7).
   Neutral-faced samples (N, YR, PR, CR, O) are the rest mesh;
2. **rendering** (main thread): per sample (:func:`sdm_plan`) the nominal head pose of its class
   (:func:`aujax.datasets.bosphorus_pose`) plus the preset's small pose jitter (the head turns
   about the centre of its neutral face's box, which stays at the image centre), one light, an
   occluder for the O class (:func:`occluder_mesh`: a hand over an eye or the mouth, eyeglass
   rims, a fringe of hair), an orthographic camera fitted to the subject's neutral face
   (:func:`aujax.geometry.frame_vertices`, margin 0.1); :func:`aujax.render.render` gives the
   image and the depth (occluders included, as a scanner sees them). The 68 landmarks are
   projected, their visibility read from the depth (:func:`landmark_visibility`), and the
   simulated detector (:class:`LandmarkDetector`) returns noisy points or fails;
3. **writing** (writer thread), per sample in ``root/bsXXX/``: ``{stem}.png`` (``image_size``
   px), ``{stem}.bnt`` (the range grid at ``image_size // scan_factor`` px: depth averaged over
   ``scan_factor`` x ``scan_factor`` pixel blocks, a block with any background pixel invalid; mm),
   ``{stem}.lm3`` / ``{stem}.lm2`` (the 22 standard points that are visible, as the real files
   omit hidden ones), ``{stem}.pts`` (the detector's 68 points; no file when it failed) and
   ``{stem}_gt.npz`` (:class:`aujax.datasets.SdmGroundTruth`: the true mesh, camera, identity,
   expression). ``synthetic/`` holds the template model (``blendshape_model.npz``: neutral,
   triangles, landmark embedding) and ``summary.json`` (counts, failure fraction, timings).

**Sample classes per subject** (:func:`sdm_sample_classes`, REFERENCE §1.3; counts unverified):
the site says "up to 35 expressions per subject". Here 65 of the 105 subjects (spread evenly over
the IDs: subject ``i`` when ``floor((i + 1) 65 / 105) > floor(i 65 / 105)``) pose the full
repertoire: 2 neutrals, 6 emotions, 20 lower-face and 5 upper-face AUs, 3 AU combinations,
13 rotations, 4 occlusions (53 samples); the other 40 pose 4 neutrals, the 6 emotions, the
rotations and occlusions (27 samples): 4,525 samples in all (the database has 4,666).

**Detector** (:class:`LandmarkDetector`; the paper used Dlib's 68-point detector and dropped the
failures, "less than 10 %", mostly occlusions and 90-degree yaw): per-point Gaussian noise as a
fraction of the inter-ocular distance (outer eye corners of the subject's frontal face), sd 2.5 %
per coordinate for the inner points and 5 % for the jaw line (mean point error ~4 % of the
inter-ocular distance on frontal faces: good detectors reach 3-5 % on 300-W's common subset, and
their jaw-line error is about twice the inner points'; figures from the literature, unverified)
plus a 1 % shift of the whole shape, growing as ``1 + angle / 45 deg`` with the head's
out-of-plane angle and 2.5x on hidden points (self-occluded or behind an occluder). Failure
probability ``1 - (1 - sigmoid((angle - 60) / 6)) (1 - p_occ)``: ~0.7 % at 30 deg, 8 % at 45 deg,
99 % at 90 deg; ``p_occ`` 10 % for a hand over an eye or the mouth, 3 % hair, 1 % glasses. The
jaw-line points stay on the mesh (no sliding to the silhouette as a real detector's do at yaw).
"""

import dataclasses
import pathlib
from collections.abc import Mapping
from typing import Final

import jax
import jax.numpy as jnp
import numpy as np

from ..datasets import (
    BOSPHORUS_CAU_CODES,
    BOSPHORUS_EMOTION_CODES,
    BOSPHORUS_LANDMARKS,
    BOSPHORUS_LFAU_CODES,
    BOSPHORUS_OCCLUSIONS,
    BOSPHORUS_ROTATIONS,
    BOSPHORUS_UFAU_CODES,
    GT_SUFFIX,
    BosphorusName,
    BosphorusSample,
    Landmarks2D,
    Landmarks3D,
    SdmGroundTruth,
    range_scan_from_depth,
    write_bosphorus_sample,
    write_pts,
    write_sdm_ground_truth,
)
from ..face import AU_IDS
from ..geometry import frame_vertices
from ..physics import SparseEquilibriumSolver, muscle_forces
from ..render import render
from ._bosphorus import _bosphorus_landmarks, _saddle_vertices
from ._capture import _rotation
from ._pipeline import Timings, check_int, check_subjects, run_pipeline, save_summary
from ._presets import Preset, get_preset
from ._realism import MuscleRealism
from ._rig import rig_landmarks
from ._sequence import generate_sequence
from ._streams import stream_rng
from ._subject import Cast, SubjectPhysique, template_model


__all__ = [
    "SDM_DETECTOR",
    "LandmarkDetector",
    "SdmShot",
    "generate_bosphorus_sdm",
    "landmark_visibility",
    "occluder_mesh",
    "sdm_plan",
    "sdm_sample_classes",
]

_N_SUBJECTS, _N_AU_SUBJECTS = 105, 65
_NEUTRALS = {True: 2, False: 4}  # N_N repetitions: AU-repertoire subjects, the others
_EXPRESSIONS_ALL: Final = (
    "N_N",
    *(f"E_{c}" for c in BOSPHORUS_EMOTION_CODES),
    *(f"LFAU_{c}" for c in BOSPHORUS_LFAU_CODES),
    *(f"UFAU_{c}" for c in BOSPHORUS_UFAU_CODES),
    *(f"CAU_{c}" for c in BOSPHORUS_CAU_CODES),
)
_POSES: Final = tuple(BOSPHORUS_ROTATIONS)
_OCCLUSIONS: Final = tuple(f"O_{c}" for c in BOSPHORUS_OCCLUSIONS)
_ONE_SIDED: Final = {"LFAU_12L": (0.0, 1.0), "LFAU_12R": (1.0, 0.0)}  # (right, left) scales
_MARGIN = 0.1  # camera fit: room for the rotated heads and the occluders
_VISIBLE_TOL_CM = 0.3
# relative residual of the static equilibria: Newton converges quadratically, 1e-7 is one step
# short of 1e-8's at most and moves the vertices by ~1e-7 cm
_EQUILIBRIUM_RTOL = 1e-7
# occluder buffer (one compiled render shape): vertices and triangles of the largest occluder
_OCC_RINGS, _OCC_SEGMENTS = 6, 24
_OCC_V = 1 + _OCC_RINGS * _OCC_SEGMENTS
_OCC_T = _OCC_SEGMENTS * (2 * _OCC_RINGS - 1)


def _has_au_poses(subject: str) -> bool:
    i = int(subject[2:])
    return (i + 1) * _N_AU_SUBJECTS // _N_SUBJECTS > i * _N_AU_SUBJECTS // _N_SUBJECTS


def sdm_sample_classes(subject: str) -> tuple[str, ...]:
    """The ``"{CLASS}_{CODE}"`` sample classes a subject of the sdm preset poses (module docstring).

    Args:
        subject: ``"bs000"`` ... ``"bs104"``.

    Returns:
        The classes in the documentation's order (``"N_N"`` once; it is repeated by :func:`sdm_plan`).
    """
    if not (isinstance(subject, str) and len(subject) == 5 and subject[:2] == "bs"
            and subject[2:].isdigit() and int(subject[2:]) < _N_SUBJECTS):  # fmt: skip
        raise ValueError(f"subject must be one of bs000..bs104, got {subject!r}")
    expressions = _EXPRESSIONS_ALL if _has_au_poses(subject) else _EXPRESSIONS_ALL[:7]
    return (*expressions, *_POSES, *_OCCLUSIONS)


@dataclasses.dataclass(frozen=True)
class SdmShot:
    """One planned sample.

    Attributes:
        name: the sample name.
        context: the expression context it shows (``"N_N"`` for the neutral-faced classes).
        yaw_deg, pitch_deg: nominal head pose (:func:`aujax.datasets.bosphorus_pose`).
        occlusion: ``""`` or the O code.
    """

    name: BosphorusName
    context: str
    yaw_deg: float
    pitch_deg: float
    occlusion: str


def sdm_plan(subject: str, classes=None) -> tuple[SdmShot, ...]:
    """The samples of one subject: :func:`sdm_sample_classes` (or its subset ``classes``).

    Args:
        subject: subject ID.
        classes: optional subset of ``"{CLASS}_{CODE}"`` classes; the ones the subject does not
            pose are skipped.

    Returns:
        The shots, neutrals first (``N_N_0``, ``N_N_1``, ...), then the documentation's order.
    """
    own = sdm_sample_classes(subject)
    keep = own if classes is None else tuple(c for c in own if c in set(classes))
    shots = []
    for key in keep:
        cls, _, code = key.partition("_")
        if key == "N_N":
            for k in range(_NEUTRALS[_has_au_poses(subject)]):
                shots.append(SdmShot(BosphorusName(subject, "N", "N", k), "N_N", 0.0, 0.0, ""))
            continue
        yaw, pitch = BOSPHORUS_ROTATIONS.get(key, (0.0, 0.0))
        context = key if cls in ("E", "LFAU", "UFAU", "CAU") else "N_N"
        occ = code if cls == "O" else ""
        shots.append(SdmShot(BosphorusName(subject, cls, code, 0), context, yaw, pitch, occ))
    return tuple(shots)


# ------------------------------------------------------------------------------- detector


@dataclasses.dataclass(frozen=True)
class LandmarkDetector:
    """A 68-point landmark detector's errors and failures (module docstring for the sources).

    Attributes:
        inner_sd: per-coordinate noise sd of points 17-67, fraction of the inter-ocular distance.
        contour_sd: the same for the jaw line 0-16.
        shift_sd: per-coordinate sd of a shift of the whole shape, same unit.
        angle_scale_deg: the noise grows as ``1 + angle / angle_scale_deg``.
        hidden_factor: noise factor of hidden points (turned away or occluded).
        fail_angle_deg: out-of-plane angle at which half of the detections fail.
        fail_width_deg: width of the logistic failure curve.
        occlusion_failure: occluder -> extra failure probability.
    """

    inner_sd: float = 0.025
    contour_sd: float = 0.05
    shift_sd: float = 0.01
    angle_scale_deg: float = 45.0
    hidden_factor: float = 2.5
    fail_angle_deg: float = 60.0
    fail_width_deg: float = 6.0
    occlusion_failure: Mapping[str, float] = dataclasses.field(
        default_factory=lambda: {"EYE": 0.10, "MOUTH": 0.10, "HAIR": 0.03, "GLASSES": 0.01}
    )

    def failure_probability(self, angle_deg: float, occlusion: str = "") -> float:
        """Probability that the face is not found at this out-of-plane angle and occlusion."""
        z = (abs(float(angle_deg)) - self.fail_angle_deg) / self.fail_width_deg
        p_pose = 1.0 / (1.0 + np.exp(-z))
        p_occ = float(self.occlusion_failure.get(occlusion, 0.0)) if occlusion else 0.0
        return float(1.0 - (1.0 - p_pose) * (1.0 - p_occ))

    def detect(
        self, landmarks_2d, visible, *, iod_px: float, angle_deg: float, occlusion: str,
        rng: np.random.Generator,
    ) -> np.ndarray | None:  # fmt: skip
        """The detector's output for one image.

        Draws, in this order, the failure (one uniform), the shape shift (2 normals) and the
        per-point noise (68 x 2 normals), whatever the outcome (fixed stream use).

        Args:
            landmarks_2d: (68, 2) true landmarks in pixels.
            visible: (68,) bool visibility (:func:`landmark_visibility`).
            iod_px: inter-ocular distance of the subject's frontal face in pixels.
            angle_deg: the head's out-of-plane angle (0 frontal, 90 profile).
            occlusion: ``""`` or the occluder.
            rng: the sample's detector stream.

        Returns:
            (68, 2) noisy landmarks, or None when the detection failed.
        """
        u = rng.random()
        shift = rng.standard_normal(2) * self.shift_sd
        noise = rng.standard_normal((68, 2))
        sd = np.full(68, self.inner_sd)
        sd[:17] = self.contour_sd
        sd = sd * (1.0 + abs(float(angle_deg)) / self.angle_scale_deg)
        sd = np.where(np.asarray(visible, bool), sd, sd * self.hidden_factor)
        if u < self.failure_probability(angle_deg, occlusion):
            return None
        err = (shift[None] + noise * sd[:, None]) * float(iod_px)
        return np.asarray(landmarks_2d, dtype=np.float64) + err


#: The detector of the sdm preset.
SDM_DETECTOR: Final = LandmarkDetector()


def landmark_visibility(points_cam, depth, *, scale: float, offset, tol: float = _VISIBLE_TOL_CM):
    """Whether camera-frame points are seen in a rendered depth map.

    A point is visible when it projects inside the image and some pixel of the 3 x 3
    neighbourhood of its pixel shows a surface no nearer than ``tol`` cm in front of it (depth is
    camera-frame z, larger is nearer; NaN background).

    Args:
        points_cam: (k, 3) points in the camera frame (cm).
        depth: (H, W) rendered depth, NaN where nothing was drawn.
        scale: camera pixels per cm.
        offset: (2,) camera ``(t_x, t_y)``.
        tol: tolerance in cm.

    Returns:
        (k,) bool.
    """
    p = np.asarray(points_cam, dtype=np.float64)
    h, w = depth.shape
    col = np.round(scale * p[:, 0] + offset[0] - 0.5).astype(np.int64)
    row = np.round(offset[1] - scale * p[:, 1] - 0.5).astype(np.int64)
    seen = np.zeros(len(p), dtype=bool)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            r, c = row + dr, col + dc
            inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
            d = np.where(inside, depth[np.clip(r, 0, h - 1), np.clip(c, 0, w - 1)], np.nan)
            seen |= inside & np.isfinite(d) & (d <= p[:, 2] + tol)
    return seen


# ------------------------------------------------------------------------------- occluders


def _disc(center, a: float, b: float, bulge: float, *, hole: float = 0.0, rings: int = _OCC_RINGS):
    """An elliptic patch (or annulus) facing +z, bulging toward the camera at its centre.

    ``rings`` rings of ``_OCC_SEGMENTS`` vertices (plus the centre when ``hole`` is 0);
    counter-clockwise seen from +z. Returns (vertices (v, 3), triangles (t, 3)).
    """
    t = np.linspace(0.0, 2.0 * np.pi, _OCC_SEGMENTS, endpoint=False)
    radii = np.linspace(hole if hole > 0 else 1.0 / rings, 1.0, rings)
    ring = np.stack(
        [
            np.stack([r * a * np.cos(t), r * b * np.sin(t), -bulge * r * r + 0 * t], -1)
            for r in radii
        ]
    )  # (rings, segments, 3)
    verts = ring.reshape(-1, 3)
    tris = []
    s = _OCC_SEGMENTS
    for k in range(rings - 1):
        for j in range(s):
            a0, a1 = k * s + j, k * s + (j + 1) % s
            b0, b1 = a0 + s, a1 + s
            tris += [(a0, b0, b1), (a0, b1, a1)]
    if hole == 0:
        c = len(verts)
        verts = np.concatenate([verts, [[0.0, 0.0, 0.0]]])
        tris += [(c, j, (j + 1) % s) for j in range(s)]
    return verts + np.asarray(center, dtype=np.float64)[None], np.asarray(tris, dtype=np.int64)


def occluder_mesh(kind: str, rest, landmarks, albedo, rng: np.random.Generator):
    """The occluder of an O sample, in the model frame, padded to a fixed size.

    * ``EYE`` / ``MOUTH``: a hand, an elliptic patch 9 x 10 (eye) or 10 x 8 cm (mouth) 1 cm in front
      of the face over one eye (side drawn) or the mouth, skin-coloured (the face's mean albedo);
    * ``GLASSES``: two elliptic rims (2.3 x 2.0 cm outside, 82 % of that inside) 1.5 cm in front of
      the eyes, dark (no lenses, bridge or temples);
    * ``HAIR``: a dark fringe (10 x 6 cm) 0.4 cm in front of the forehead over one brow and eye.

    Args:
        kind: ``""`` (none: an all-degenerate buffer) or an O code.
        rest: (n, 3) the subject's rest mesh (cm).
        landmarks: (68, 3) its landmarks.
        albedo: (n, 3) the face's albedo.
        rng: the sample's capture stream (side, colours, jitter).

    Returns:
        ``(vertices (_OCC_V, 3), triangles (_OCC_T, 3) indexed from 0, albedo (_OCC_V, 3))``;
        unused triangles are degenerate (all three corners on one vertex: never drawn).
    """
    rest, lm = np.asarray(rest), np.asarray(landmarks)
    side = 1.0 if rng.random() < 0.5 else -1.0  # +1: the subject's left (+x)
    jitter = rng.normal(0.0, 0.3, size=3)
    tone = rng.uniform(0.6, 1.0)
    if kind == "":
        v, t = np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)
        color = np.zeros(3)
    elif kind in ("EYE", "MOUTH"):
        if kind == "EYE":
            eye = lm[42:48] if side > 0 else lm[36:42]
            c = eye.mean(0) + np.array([0.0, 0.5, 0.0])
            a, b = 4.5, 5.0
        else:
            c = lm[48:68].mean(0) + np.array([0.0, -0.3, 0.0])
            a, b = 5.0, 4.0
        c = c + jitter * np.array([1.0, 1.0, 0.3])
        c[2] = float(rest[np.linalg.norm(rest[:, :2] - c[None, :2], axis=1) < max(a, b), 2].max())
        v, t = _disc(c + np.array([0.0, 0.0, 1.0]), a, b, bulge=1.0)
        color = np.asarray(albedo).mean(0) * tone / 0.8
    elif kind == "GLASSES":
        parts, t = [], []
        for eye in (lm[36:42], lm[42:48]):
            c = eye.mean(0) + np.array([0.0, 0.0, 1.5])
            pv, pt = _disc(c, 2.3, 2.0, 0.0, hole=0.82, rings=2)
            t.append(pt + sum(len(p) for p in parts))
            parts.append(pv)
        v, t = np.concatenate(parts), np.concatenate(t)
        color = np.full(3, 0.04 + 0.1 * (1.0 - tone))
    elif kind == "HAIR":
        brow = lm[22:27] if side > 0 else lm[17:22]
        c = brow.mean(0) + np.array([-0.8 * side, 1.2, 0.0]) + jitter * np.array([1.0, 1.0, 0.0])
        near = np.linalg.norm(rest[:, :2] - c[None, :2], axis=1) < 4.0
        c[2] = float(rest[near, 2].max()) + 0.4
        v, t = _disc(c, 5.0, 3.0, bulge=1.2)
        color = np.array([0.12, 0.08, 0.05]) * (0.5 + tone)
    else:
        raise ValueError(f"occlusion must be '' or one of {BOSPHORUS_OCCLUSIONS}, got {kind!r}")
    if len(v) > _OCC_V or len(t) > _OCC_T:  # pragma: no cover - sizes fixed by construction
        raise AssertionError("occluder larger than its buffer")
    out_v = np.concatenate([v, np.repeat(rest[:1] - [0.0, 0.0, 50.0], _OCC_V - len(v), 0)])
    out_t = np.concatenate([t, np.full((_OCC_T - len(t), 3), _OCC_V - 1, dtype=np.int64)])
    out_c = np.repeat(np.clip(color, 0.0, 1.0)[None], _OCC_V, 0)
    return out_v, out_t, out_c


# --------------------------------------------------------------------------------- stages


@dataclasses.dataclass(frozen=True)
class _Expression:
    displacement: np.ndarray  # (n, 3)
    activations: np.ndarray  # (M,)
    intensity: np.ndarray  # (17,)
    landmarks: np.ndarray | None = None  # (68, 3) model frame


@dataclasses.dataclass(frozen=True)
class _Subject:
    body: SubjectPhysique
    saddle: dict
    landmarks_rest: np.ndarray  # (68, 3)
    expressions: dict  # context -> _Expression
    plan: tuple


@dataclasses.dataclass(frozen=True)
class _Shot:
    shot: SdmShot
    expression: _Expression
    rotation: np.ndarray
    angles: np.ndarray  # (3,) listing convention
    image: np.ndarray
    depth: np.ndarray
    scale: float
    offset: np.ndarray
    landmarks_2d: np.ndarray
    visible: np.ndarray
    detected: np.ndarray | None
    mesh_landmarks: np.ndarray  # (68, 3) model frame


@dataclasses.dataclass(frozen=True)
class _SdmStages:
    root: pathlib.Path
    preset: Preset
    cast: Cast
    classes: tuple | None
    size: int
    scan_factor: int
    settle: int
    detector: LandmarkDetector
    counts: dict = dataclasses.field(default_factory=lambda: {"samples": 0, "failed": 0})

    def simulate(self, subject: str) -> _Subject:
        """The subject's body and the static equilibria of its expression classes."""
        cast, body = self.cast, self.cast.physique(subject)
        rest = body.rig.rest
        lm_rest = rig_landmarks(body.rig, np.zeros((1,) + rest.shape))[0]
        plan = sdm_plan(subject, self.classes)
        contexts = sorted({s.context for s in plan} - {"N_N"})
        zero = _Expression(np.zeros_like(rest), np.zeros(body.rig.n_muscles), np.zeros(len(AU_IDS)))
        expressions = {"N_N": zero}
        solver = SparseEquilibriumSolver(body.rig.system) if contexts else None
        for ctx in contexts:
            seq = generate_sequence(self.preset, subject, ctx, seed=cast.seed)
            rng = stream_rng(cast.seed, "bosphorus_sdm", subject, ctx, "drive")
            sides = None
            if ctx in _ONE_SIDED:
                sides = np.full((len(AU_IDS), 2), np.nan)
                sides[AU_IDS.index(12)] = _ONE_SIDED[ctx]
            drive = cast.drive(body, seq.intensity, subject=subject, task=ctx, rng=rng,
                               warmup=self.settle, sides=sides)  # fmt: skip
            act = drive.activations[-1]
            force = np.asarray(muscle_forces(body.rig.distribution, body.rig.directions, act))
            u, _ = solver.solve(force, rtol=_EQUILIBRIUM_RTOL)
            expressions[ctx] = _Expression(u, act, seq.intensity[-1])
        keys = list(expressions)
        # one batch of fixed size: a sample's landmarks do not depend on the classes generated
        us = np.zeros((len(_EXPRESSIONS_ALL),) + rest.shape)
        us[: len(keys)] = [expressions[k].displacement for k in keys]
        lms = rig_landmarks(body.rig, us)[: len(keys)]
        expressions = {
            k: dataclasses.replace(expressions[k], landmarks=lm)
            for k, lm in zip(keys, lms, strict=True)
        }
        return _Subject(body, _saddle_vertices(rest, lm_rest), lm_rest, expressions, plan)

    def render(self, sub: _Subject):
        rest = sub.body.rig.rest
        cam0 = frame_vertices(
            np.asarray(rest, np.float32), height=self.size, width=self.size, margin=_MARGIN
        )
        scale, offset = float(cam0.scale), np.asarray(cam0.translation, np.float64)
        iod = float(np.linalg.norm(sub.landmarks_rest[45] - sub.landmarks_rest[36])) * scale
        tris = np.asarray(self.cast.face.triangles)
        shots = [self._shoot(sub, s, cam0, scale, offset, iod, tris) for s in sub.plan]
        return sub, shots

    def _shoot(self, sub, shot: SdmShot, cam0, scale, offset, iod, tris) -> _Shot:
        cap, seed = self.preset.capture, self.cast.seed
        rng = stream_rng(seed, "bosphorus_sdm", shot.name.subject, shot.name.stem, "capture")
        jitter = rng.standard_normal(3) * np.asarray(cap.pose_sd_deg)
        angles = np.array([shot.yaw_deg, shot.pitch_deg, 0.0]) + jitter
        rot = _rotation(np.array([-angles[0]]), np.array([-angles[1]]), np.array([angles[2]]))[0]
        el = np.radians(rng.normal(*cap.light_elevation_deg))
        ambient = float(np.clip(rng.normal(*cap.ambient), 0.05, 0.9))
        rest = sub.body.rig.rest
        expr = sub.expressions[shot.context]
        mesh = rest + expr.displacement
        lm = expr.landmarks
        occ_v, occ_t, occ_c = occluder_mesh(shot.occlusion, rest, lm, sub.body.albedo, rng)
        n = len(rest)
        verts = np.concatenate([mesh, occ_v]).astype(np.float32)
        faces = np.concatenate([tris, occ_t + n])
        albedo = np.concatenate([sub.body.albedo, occ_c]).astype(np.float32)
        # the head turns about its own centre in the image (a subject rotates in front of the
        # scanner; the crop follows the face): keep the rotated neutral face's box centred
        box = lambda p: 0.5 * (p[:, :2].min(0) + p[:, :2].max(0))  # noqa: E731
        shift = box(rest @ rot.T) - box(rest)
        offset = offset + scale * np.array([-shift[0], shift[1]])
        cam = cam0.replace(
            rotation=jnp.asarray(rot, jnp.float32), translation=jnp.asarray(offset, jnp.float32)
        )
        out = render(
            verts, faces, albedo, camera=cam, light_dir=(0.0, float(np.sin(el)),
            float(np.cos(el))), ambient=ambient, diffuse=1.0 - ambient,
        )  # fmt: skip
        image = np.clip(np.round(np.asarray(out.image) * 255.0), 0, 255).astype(np.uint8)
        image = image if cap.color else image[..., 0]
        depth = np.where(np.asarray(out.mask), np.asarray(out.depth, np.float64), np.nan)
        cam_lm = lm @ rot.T
        lm2 = np.stack([scale * cam_lm[:, 0] + offset[0] - 0.5,
                        offset[1] - scale * cam_lm[:, 1] - 0.5], -1)  # fmt: skip
        visible = landmark_visibility(cam_lm, depth, scale=scale, offset=offset)
        angle = float(np.degrees(np.arccos(np.clip(rot[2, 2], -1.0, 1.0))))
        det_rng = stream_rng(seed, "bosphorus_sdm", shot.name.subject, shot.name.stem, "detector")
        detected = self.detector.detect(lm2, visible, iod_px=iod, angle_deg=angle,
                                        occlusion=shot.occlusion, rng=det_rng)  # fmt: skip
        return _Shot(shot, expr, rot, angles, image, depth, scale, offset, lm2, visible, detected,
                     lm)  # fmt: skip

    def write(self, rendered):
        sub, shots = rendered
        for s in shots:
            self._write_sample(sub, s)
        self.counts["samples"] += len(shots)
        self.counts["failed"] += sum(s.detected is None for s in shots)
        yield sub.plan[0].name.subject if sub.plan else "?", len(shots)

    def _write_sample(self, sub: _Subject, s: _Shot) -> None:
        name, k = s.shot.name, self.scan_factor
        h, w = s.depth.shape
        blocks = s.depth[: h // k * k, : w // k * k].reshape(h // k, k, w // k, k)
        depth = blocks.mean(axis=(1, 3))  # NaN when any pixel of the block is background
        scan = range_scan_from_depth(depth, image_file=name.stem + ".png", scale=s.scale / k,
                                     offset=s.offset / k)  # fmt: skip
        mesh = sub.body.rig.rest + s.expression.displacement
        pts22 = _bosphorus_landmarks(s.mesh_landmarks, mesh, sub.saddle) @ s.rotation.T
        seen = landmark_visibility(pts22, s.depth, scale=s.scale, offset=s.offset)
        names = tuple(n for n, v in zip(BOSPHORUS_LANDMARKS, seen, strict=True) if v)
        lm2 = np.stack([s.scale * pts22[:, 0] + s.offset[0] - 0.5,
                        s.offset[1] - s.scale * pts22[:, 1] - 0.5], -1)  # fmt: skip
        sample = BosphorusSample(
            name=name,
            scan=scan,
            lm3=Landmarks3D(names, pts22[seen] * 10.0) if names else None,
            lm2=Landmarks2D(names, lm2[seen]) if names else None,
        )
        write_bosphorus_sample(self.root, sample, image=s.image)
        if s.detected is not None:
            write_pts(name.path(self.root, ".pts"), s.detected)
        gt = SdmGroundTruth(
            vertices=mesh, rotation=s.rotation, scale=s.scale, offset=s.offset,
            image_size=np.array(s.image.shape[:2]), identity=sub.body.identity,
            intensity=s.expression.intensity, activations=s.expression.activations,
            landmarks_2d=s.landmarks_2d, visible=s.visible, detected=s.detected is not None,
            angles_deg=s.angles, occlusion=s.shot.occlusion,
        )  # fmt: skip
        write_sdm_ground_truth(name.path(self.root, GT_SUFFIX), gt)


def generate_bosphorus_sdm(
    root,
    *,
    seed: int = 0,
    n_vertices: int | None = None,
    subjects=None,
    classes=None,
    image_size: int | None = None,
    scan_factor: int = 2,
    settle: int = 10,
    progress=print,
    realism: MuscleRealism | None = None,
    detector: LandmarkDetector = SDM_DETECTOR,
) -> dict:
    """Writes the Bosphorus-like ``sdm`` dataset under ``root`` (module docstring).

    Args:
        root: output folder.
        seed: the one seed everything is derived from.
        n_vertices: mesh resolution of the face template (default 650, the small presets').
        subjects: optional subset of ``bs000`` ... ``bs104``.
        classes: optional subset of the ``"{CLASS}_{CODE}"`` sample classes (e.g.
            ``["N_N", "E_HAPPY", "YR_R90", "O_EYE"]``); each subject writes those it poses.
        image_size: side of the ``.png`` (default: the preset's capture size, 128).
        scan_factor: the ``.bnt`` grid is ``image_size // scan_factor`` on a side (>= 1).
        settle: frames the muscle drive is held before its activations are taken.
        progress: called with one line per subject (None: silent).
        realism: the muscle activity's realism (default: the preset's).
        detector: the simulated landmark detector.

    Returns:
        A summary dict (also in ``synthetic/summary.json``): samples, detection failures and
        their fraction, samples per class, timings.

    Raises:
        ValueError: an unknown subject or class, bad sizes.
    """
    preset = get_preset("bosphorus", "sdm")
    if realism is not None:
        if not isinstance(realism, MuscleRealism):
            raise ValueError(f"realism must be a MuscleRealism, got {realism!r}.")
        preset = dataclasses.replace(preset, realism=realism)
    if not isinstance(detector, LandmarkDetector):
        raise ValueError(f"detector must be a LandmarkDetector, got {detector!r}.")
    subjects = check_subjects(preset, subjects)
    if classes is not None:
        classes = tuple(classes)
        known = set(_EXPRESSIONS_ALL + _POSES + _OCCLUSIONS)
        for c in classes:
            if c not in known:
                raise ValueError(f"classes: {c!r} is not a sample class of the sdm preset.")
    check_int("settle", settle, 0)
    check_int("scan_factor", scan_factor, 1, 16)
    if image_size is not None:
        check_int("image_size", image_size, 16, 1024)
    n_vertices = 650 if n_vertices is None else n_vertices
    image_size = preset.capture.image_size[0] if image_size is None else image_size
    root, timings = pathlib.Path(root), Timings()
    with jax.enable_x64(True):
        face, model = template_model(n_vertices, seed, root / "synthetic")
        cast = Cast("bosphorus", seed, preset.fps, face, model, preset.realism)
        stages = _SdmStages(root, preset, cast, classes, image_size, scan_factor, settle, detector)
        samples = run_pipeline(subjects, stages, timings=timings, progress=progress, noun="samples")
    per_class: dict[str, int] = {}
    for s in subjects:
        for shot in sdm_plan(s, classes):
            key = f"{shot.name.cls}_{shot.name.code}"
            per_class[key] = per_class.get(key, 0) + 1
    failed = stages.counts["failed"]
    return save_summary(root / "synthetic", {
        "dataset": "bosphorus", "size": "sdm", "seed": seed, "n_vertices": int(face.n_vertices),
        "subjects": list(subjects), "samples": samples, "frames": samples,
        "detection_failures": failed, "failure_fraction": failed / max(samples, 1),
        "samples_per_class": per_class, "image_size": image_size,
        "scan_size": image_size // scan_factor, "settle_frames": settle,
        "detector": dataclasses.asdict(detector), **timings.summary(),
        "realism": dataclasses.asdict(preset.realism),
    })  # fmt: skip
