"""AU columns from 68 landmarks: the top-down engine (seed 000) on a real camera.

``aujax detect`` fits :class:`aujax.methods.topdown.TopDownEngine` — the AU blendshapes of the
template calibrated to MediaPipe's canonical face (human proportions, issue 16), with the engine
settings of :data:`ENGINE` — to each face with no neutral reference (the identity is fitted per
frame under its population prior; the robust, bounded engine of issue 16): the 468 mesh points
with their relative depth (``"mesh468"``, the default) or the iBUG-68 points through a pinhole
camera of focal length ``focal x image width`` centred on the image (``"ibug68"``). It gives per face:

- ``levels``: the AU levels 0 <= a* <= 5 (the blendshape coefficients, seed 000 eq. 2, boxed
  to the FACS intensity scale by the engine);
- ``AU**_r``: the levels (OpenFace's 0-5 intensity scale);
- ``AU**_c``: presence, ``a*_k >= t_k`` with thresholds chosen on the synthetic training data
  (``tools.detect_thresholds``, stored in ``assets/au_thresholds.json``);
- head pose: translation (mm) and rotation (radians, OpenFace's ``R = Rx Ry Rz`` convention,
  camera frame x right, y down, z forward; 0 = facing the camera);
- ``residual``: RMS landmark residual in % of the outer inter-ocular distance (points 36-45).

The AU columns on real faces are only as good as the face model behind the engine;
``tools.realfaces_report`` measures them on labelled photographs.
"""

from __future__ import annotations

import functools
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from ..geometry import MODEL_TO_OPENCV, Camera, intrinsics_matrix


ENGINE = {
    "template_vertices": 400,
    "seed": 0,
    "iterations": 6,
    "nnls_iterations": 200,
    "nnls_method": "active_set",
    "calibrated": True,
}
THRESHOLDS_PATH = pathlib.Path(__file__).with_name("assets") / "au_thresholds.json"
FOCAL = 1.2  # focal length in image widths, when the camera is unknown


FITS = ("ibug68", "mesh468")
# The MediaPipe vertices of the engine's rigid iBUG landmarks 27-30, 36, 39, 42, 45 (REFERENCE §10).
MEDIAPIPE_RIGID = (168, 197, 5, 4, 33, 133, 362, 263)


@functools.cache
def _template_model():
    """The calibrated template (human proportions, :func:`aujax.face.calibrate_template`) and its
    AU blendshape model (float64; :func:`aujax.face.make_muscles` carries the muscles onto the
    calibrated shape), built once for both fits."""
    from ..face import make_face
    from ..physics import build_au_blendshapes

    with jax.enable_x64(True):
        template = make_face(
            ENGINE["template_vertices"], seed=ENGINE["seed"], calibrated=ENGINE["calibrated"]
        )
        model, _ = build_au_blendshapes(template)
    return template, model


@functools.cache
def engine(fit: str = "ibug68"):
    """The top-down engine of :data:`ENGINE` (built once per process and fit).

    ``"ibug68"``: the template's 68 landmarks (2D pixels through the camera).
    ``"mesh468"``: MediaPipe's 468 points embedded on the template
    (:func:`aujax.face.mediapipe_embedding`), fitted to the mesh's (x, y, z) as 3D points.
    """
    from ..face import MEDIAPIPE_FACE_OVAL, mediapipe_embedding
    from ..methods.topdown import TopDownEngine

    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, got {fit!r}")
    template, model = _template_model()
    rigid = None
    if fit == "mesh468":
        tri, bary = mediapipe_embedding(template)
        with jax.enable_x64(True):
            model = model.replace(
                landmark_triangles=jnp.asarray(tri, jnp.int32),
                landmark_barycentric=jnp.asarray(bary, jnp.float64),
            )
        rigid = MEDIAPIPE_RIGID
    with jax.enable_x64(True):  # as the coefficient reconstruction of the experiments
        return TopDownEngine.from_model(
            model,
            iterations=ENGINE["iterations"],
            nnls_iterations=ENGINE["nnls_iterations"],
            nnls_method=ENGINE["nnls_method"],
            **({} if rigid is None else {"rigid": rigid, "contour": MEDIAPIPE_FACE_OVAL}),
        )


@functools.cache
def thresholds() -> dict[int, float]:
    """Presence thresholds per AU (``assets/au_thresholds.json``)."""
    if not THRESHOLDS_PATH.is_file():
        raise FileNotFoundError(
            f"{THRESHOLDS_PATH} is missing: run `python -m tools.detect_thresholds`"
        )
    data = json.loads(THRESHOLDS_PATH.read_text())
    return {int(k): float(v) for k, v in data["thresholds"].items()}


def camera_for(width: int, height: int, *, focal: float = FOCAL) -> Camera:
    """A pinhole camera of focal length ``focal x width`` centred on the image (pixels)."""
    return Camera.create(
        intrinsics_matrix(focal=focal * width, center=jnp.asarray([width / 2.0, height / 2.0]))
    )


def euler_xyz(r: np.ndarray) -> np.ndarray:
    """(..., 3) angles (rx, ry, rz) with ``R = Rx(rx) Ry(ry) Rz(rz)`` (OpenFace's pose_R)."""
    ry = np.arcsin(np.clip(r[..., 0, 2], -1.0, 1.0))
    rx = np.arctan2(-r[..., 1, 2], r[..., 2, 2])
    rz = np.arctan2(-r[..., 0, 1], r[..., 0, 0])
    return np.stack([rx, ry, rz], -1)


def _observations(points68, mesh):
    points68 = np.asarray(points68, np.float64)
    if points68.ndim != 3 or points68.shape[1:] != (68, 2):
        raise ValueError(f"points68 must be (frames, 68, 2), got {points68.shape}")
    if mesh is not None:
        mesh = np.asarray(mesh, np.float64)
        if mesh.shape != (len(points68), 468, 3):
            raise ValueError(f"mesh must be ({len(points68)}, 468, 3), got {mesh.shape}")
    return points68, mesh


def fit_aus(
    points68: np.ndarray,
    width: int,
    height: int,
    *,
    mesh: np.ndarray | None = None,
    focal: float = FOCAL,
    chunk: int = 256,
) -> dict:
    """Fits the engine to one image size's faces, each alone; see the module docstring.

    Args:
        points68: (T, 68, 2) pixel landmarks (NaN = missing): the ``"ibug68"`` fit through a
            pinhole camera of focal length ``focal x width``.
        width, height: the image size (the camera).
        mesh: optional (T, 468, 3) face-mesh points (x, y, z) in pixels: the ``"mesh468"`` fit,
            all 468 points and their relative depth as a scaled-orthographic 3D observation (a
            similarity absorbs the pixel scale); the 68 points still give the residual's scale.

    Returns:
        dict of numpy arrays: ``levels`` (T, K), ``frame_levels`` (T, K; the same here),
        ``aus`` (K,), ``present`` (T, K) 0/1 (NaN for an AU without a threshold), ``pose_T``
        (T, 3) mm, ``pose_R`` (T, 3) rad, ``residual`` (T,) % of the outer inter-ocular
        distance, ``valid`` (T,), ``success`` (T,) (valid, and the fit within the engine's
        ``max_residual``).
    """
    points68, mesh = _observations(points68, mesh)
    from ..methods.topdown import fit_frames

    obs = points68 if mesh is None else mesh
    eng = engine("ibug68" if mesh is None else "mesh468")
    with jax.enable_x64(True):
        cam = camera_for(width, height, focal=focal) if mesh is None else None
        # chunks padded to a power of two >= 16: one compiled fit per bucket
        res = fit_frames(eng, obs, camera=cam, chunk=chunk, bucket=True)
    levels = np.asarray(res.levels)
    return _outputs(res, levels, levels, points68, (width, height), mesh is not None, focal)


@functools.cache
def _reduced():
    """The calibrated template's Galerkin-reduced skin and muscle names (float64), built once."""
    from ..physics import reduce_template

    template, model = _template_model()
    with jax.enable_x64(True):
        _, reduced, muscles = reduce_template(template, blendshapes=model)
    if tuple(muscles.names) != muscle_names():
        raise RuntimeError("the template's muscles are not in aujax.face.muscle_names() order")
    return reduced, tuple(muscles.names)


def muscle_names() -> tuple[str, ...]:
    """The template's muscles, in the order of the ``act_*`` columns."""
    from ..face import muscle_names as names

    return names()


@functools.cache
def smoother(fps: float):
    """The video smoother at ``fps``: the calibrated template's Galerkin-reduced skin driven
    through its FACS synergies (:func:`aujax.methods.topdown.table_smoother`, the main job's
    smoother with its defaults); its noise and settings are fitted on each video."""
    from ..methods.topdown import table_smoother

    _, model = _template_model()
    return table_smoother(model, _reduced()[0], fps=fps)


#: the physics inversion of a tracked video's levels (issue 17): window frames and the temporal
#: smoothness chosen by the main job on synthetic training sequences for smoothed coefficients
INVERSION = {"window": 20, "smoothness": 1.0}


def activations(levels: np.ndarray, *, fps: float) -> np.ndarray:
    """Directed muscle activations (T, M) of a tracked face: the physics inversion
    (:func:`aujax.physics.invert_activations`) of its smoothed levels through the calibrated
    template's reduced skin, synergy-parameterised (model units: the template's
    ``au_activations`` per unit AU level)."""
    from ..physics import invert_activations

    _, model = _template_model()
    with jax.enable_x64(True):
        inv = invert_activations(
            _reduced()[0], jnp.asarray(levels, jnp.float64), dt=1.0 / fps,
            synergies=jnp.asarray(model.au_activations, jnp.float64), **INVERSION,
        )  # fmt: skip
        return np.asarray(inv.activations)


def track_aus(
    points68: np.ndarray,
    width: int,
    height: int,
    *,
    fps: float,
    mesh: np.ndarray | None = None,
    valid: np.ndarray | None = None,
    shared_identity: bool = False,
    focal: float = FOCAL,
    chunk: int = 256,
) -> dict:
    """Tracks one face through consecutive video frames (issue 16): per-frame fits and the
    reduced-dynamics Kalman/RTS smoother (:func:`aujax.methods.topdown.track_sequence`).

    Args:
        points68, width, height, mesh, focal, chunk: as :func:`fit_aus`, frames consecutive at
            ``fps`` (a frame without a face: NaN points and ``valid`` False).
        fps: the video's frame rate (the dynamics' time step).
        valid: optional (T,) mask of the frames with a face.
        shared_identity: fit every frame against the video's own neutral (its least-expressive
            frames) instead of an identity per frame. Off by default: on the real video it turns
            the face mesh's pose-dependent shape into brow and jaw levels (``docs/detect.md``).

    Returns:
        :func:`fit_aus`'s dict; ``levels`` are the smoothed levels, ``frame_levels`` the
        per-frame fits' (against the video's neutral with ``shared_identity``), and
        ``activations`` (T, M) the physics inversion of the smoothed levels (:func:`activations`).

    Raises:
        ValueError: if no frame can be fitted.
    """
    points68, mesh = _observations(points68, mesh)
    from ..methods.topdown import track_sequence

    obs = points68 if mesh is None else mesh
    eng = engine("ibug68" if mesh is None else "mesh468")
    with jax.enable_x64(True):
        cam = camera_for(width, height, focal=focal) if mesh is None else None
        tracked = track_sequence(
            eng, obs, camera=cam, smoother=smoother(float(fps)), valid=valid,
            shared_identity=shared_identity, chunk=chunk,
        )  # fmt: skip
    levels = np.clip(np.asarray(tracked.levels, np.float64), 0.0, 5.0)
    out = _outputs(tracked.fit, levels, np.asarray(tracked.frame_levels), points68,
                   (width, height), mesh is not None, focal)  # fmt: skip
    if len(levels) >= 2:
        out["activations"] = activations(levels, fps=float(fps))
    return out


def _outputs(res, levels, frame_levels, points68, size, from_mesh, focal) -> dict:
    width, height = size
    aus = np.asarray(res.aus)
    thr = thresholds()
    t = np.array([thr.get(int(a), np.nan) for a in aus])
    present = np.where(np.isnan(t), np.nan, (levels >= np.nan_to_num(t, nan=np.inf)).astype(float))
    rot = np.asarray(res.pose.rotation) @ np.asarray(MODEL_TO_OPENCV).T
    trans = np.asarray(res.pose.translation)
    if from_mesh:  # pixels -> camera frame: X_px = s R p + t with s = f / Z (px per cm)
        s = np.asarray(res.pose.scale)[:, None]
        f = focal * width
        centre = np.array([width / 2.0, height / 2.0])
        trans = np.concatenate([(trans[:, :2] - centre) / s, f / s], axis=1)
    iod = np.linalg.norm(points68[:, 36] - points68[:, 45], axis=-1)
    valid = np.asarray(res.valid)
    return {
        "levels": levels,
        "frame_levels": frame_levels,
        "aus": aus,
        "present": present,
        "pose_T": 10.0 * trans,
        "pose_R": euler_xyz(rot),
        "residual": np.where(valid, 100.0 * np.asarray(res.residual) / iod, np.nan),
        "valid": valid,
        "success": np.asarray(res.success),
    }
