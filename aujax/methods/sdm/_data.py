"""The data of the seed 004 experiment: the bilinear model, the samples and their ground truth.

:func:`load_sdm_data` prepares what ``experiments.bosphorus_sdm`` (:mod:`._experiment`) reads:

1. **FaceWarehouse-like meshes** (a given copy, ``data.facewarehouse_dir`` or
   ``$AUJAX_FACEWAREHOUSE_DIR``, or the synthetic one, generated once and cached:
   :func:`aujax.synth.generate_facewarehouse`) -> :class:`aujax.face.BilinearModel` by HOSVD with
   the configured ranks (eqs. 2-3). The last ``facewarehouse_test_subjects`` subjects are held out
   of the model for the cross-set test (fig. 8 analogue).
2. **Bosphorus-like samples** (a given copy, ``data.bosphorus_dir`` or ``$AUJAX_BOSPHORUS_DIR``, or
   the synthetic ``sdm`` preset on the configured subjects and sample classes, generated once and
   cached: :func:`aujax.synth.generate_bosphorus_sdm`), listed by :func:`aujax.datasets.sdm_samples`;
   samples without detector landmarks are dropped (the paper drops failed detections) and the
   fraction is printed.
3. **Ground truth** ``g*`` per sample (section 4.1) and the two reference meshes of Table 1:
   ``S*`` (the model at ``g*``) and ``M``. ``ground_truth="scan"`` is the paper's preparation,
   :func:`aujax.methods.sdm.fit_scan` on the ``.bnt`` point cloud and the ``.lm3`` landmarks
   (``M``: its Laplacian-deformed mesh); ``"mesh"`` (synthetic copies only) fits the model to the
   true mesh with known vertex correspondence (:func:`fit_mesh`) and takes ``M`` = the true mesh,
   the exact analogue of the paper's scan-registered mesh at a fraction of the cost (fit_scan
   takes ~1 s per sample on the shared CPU).

Host-side orchestration (NumPy) around jitted, vmapped fits.
"""

import dataclasses
import functools
import hashlib
import json
import os
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ...datasets import (
    cache_root,
    read_bnt,
    read_facewarehouse,
    read_lm3,
    read_sdm_ground_truth,
    sdm_samples,
)
from ...face import BilinearModel
from ...synth import (
    TEMPLATE_TAG,
    central_face_vertices,
    facewarehouse_landmark_vertices,
    generate_bosphorus_sdm,
    generate_facewarehouse,
)
from ._fitting import _ridge_block, fit_camera
from ._scan_fit import fit_scan


__all__ = [
    "FLIP",
    "SdmData",
    "SdmModel",
    "camera_vector",
    "fit_mesh",
    "load_sdm_data",
    "load_sdm_model",
    "to_gray",
]

_GT_VERSION = "1"  # bump when the ground-truth preparation changes (cache key)


@dataclasses.dataclass(frozen=True, eq=False)
class SdmData:
    """Everything the experiment evaluates on (host arrays; N samples after dropping failures).

    Attributes:
        model: the bilinear model (eqs. 2-3).
        landmark_vertices: (68,) model vertex of each iBUG landmark ("i in L").
        central: (k,) vertex indices of the central face (the metrics' "central" region).
        images: (N, H, W) float32 grayscale images in [0, 1].
        landmarks: (N, 68, 2) detector landmarks (pixels, y down).
        stems, subjects, classes: (N,) sample stem, subject (``bsXXX``), ``"{CLASS}_{CODE}"``.
        expression: (N,) fig. 4 group (``NEUTRAL``, the six emotions, ``AU``: no emotion label).
        yaw: (N,) fig. 5 group (``"0"``, ``"10"``, ... absolute yaw, ``"no label"`` with pitch).
        g_star: (N, P) ground-truth weights ``[alpha; beta]``.
        s_star: (N, V, 3) the model at ``g*`` (Table 1's ``S``).
        mesh: (N, V, 3) the reference mesh ``M`` (true mesh, or fit_scan's Laplacian mesh).
        camera_target: (N, 6) the camera of ``g*`` for the camera-regressing baseline
            (:func:`camera_vector`) (eq. 6 on the true or detected landmarks).
        n_listed: samples listed before dropping failed detections.
        src: a short description of the data (table titles).
        fw_test: FaceWarehouse-like meshes held out of the model (S_test, E, V, 3) or None.
        faces: (F, 3) triangles of the model's mesh.
    """

    model: BilinearModel
    landmark_vertices: np.ndarray
    central: np.ndarray
    images: np.ndarray
    landmarks: np.ndarray
    stems: np.ndarray
    subjects: np.ndarray
    classes: np.ndarray
    expression: np.ndarray
    yaw: np.ndarray
    g_star: np.ndarray
    s_star: np.ndarray
    mesh: np.ndarray
    camera_target: np.ndarray
    n_listed: int
    src: str
    fw_test: np.ndarray | None
    faces: np.ndarray

    @property
    def n_params(self) -> int:
        return self.g_star.shape[1]

    def take(self, rows: np.ndarray) -> dict:
        """The arrays of ``rows`` as a dict (a cascade's ``samples`` pytree and its targets)."""
        return {"image": self.images[rows], "landmarks": self.landmarks[rows]}


def to_gray(image: np.ndarray) -> np.ndarray:
    """(H, W) float32 in [0, 1] from an (H, W) or (H, W, 3|4) uint8 image (ITU-R 601 luma)."""
    a = np.asarray(image)
    if a.ndim == 3:
        a = a[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    elif a.ndim != 2:
        raise ValueError(f"image must have shape (H, W) or (H, W, C), got {a.shape}.")
    a = a.astype(np.float32)
    return a / 255.0 if np.asarray(image).dtype == np.uint8 else a


# ------------------------------------------------------------------------------------------------
# ground truth by a 3D fit with known correspondence


@functools.partial(jax.jit, static_argnames="n_iterations")
def _fit_mesh(model, target, lam_id, lam_exp, *, n_iterations):
    weights = jnp.ones(target.shape[0], target.dtype)
    centre = jnp.mean(target, axis=0)
    spread = jnp.mean(jnp.sum(jnp.square(target - centre[None, :]), axis=1))
    core = model.core.astype(target.dtype)
    prec_id, prec_exp = 1.0 / model.id_var, 1.0 / model.exp_var
    a, b = model.id_mean.astype(target.dtype), model.exp_mean.astype(target.dtype)

    def step(state, _):
        a, b = state
        a = _ridge_block(jnp.einsum("vcie,e->vci", core, b), target, weights, spread, lam_id,
                         prec_id, model.id_mean)  # fmt: skip
        b = _ridge_block(jnp.einsum("vcie,i->vce", core, a), target, weights, spread, lam_exp,
                         prec_exp, model.exp_mean)  # fmt: skip
        return (a, b), None

    (a, b), _ = jax.lax.scan(step, (a, b), None, length=n_iterations)
    return a, b


def fit_mesh(
    model: BilinearModel,
    target: Float[Array, "V 3"],
    *,
    lambda_id: float = 1e-4,
    lambda_exp: float = 1e-4,
    n_iterations: int = 10,
) -> tuple[Float[Array, " n_id"], Float[Array, " n_exp"]]:
    r"""The weights ``g* = (alpha, beta)`` of a mesh with the model's vertex order (section 4.1).

    The 3D analogue of eq. (7) of seed 004 with every vertex as a landmark and the identity as
    camera (the mesh is in the model frame):

    .. math::
        \min_{\alpha,\beta} \frac{1}{D}\sum_i \|v_i(\alpha,\beta) - m_i\|^2
        + \lambda_1 (\alpha-\mu_\alpha)^\top Q_\alpha(\alpha-\mu_\alpha)
        + \lambda_2 (\beta-\mu_\beta)^\top Q_\beta(\beta-\mu_\beta),

    ``D`` the mean squared distance of the mesh from its centroid; alternating closed-form solves
    from the prior means. ``jax.vmap`` over meshes (keywords bound).

    Args:
        model: the bilinear model.
        target: (V, 3) the mesh (model frame, model units).
        lambda_id, lambda_exp: the prior weights (dimensionless, as in eq. 7's fit).
        n_iterations: alternations (static).

    Returns:
        ``(alpha (n_id,), beta (n_exp,))``.
    """
    target = jnp.asarray(target, model.core.dtype)
    if target.shape != (model.n_vertices, 3):
        raise ValueError(f"target must have shape ({model.n_vertices}, 3), got {target.shape}.")
    return _fit_mesh(model, target, jnp.asarray(lambda_id, target.dtype),
                     jnp.asarray(lambda_exp, target.dtype), n_iterations=int(n_iterations))  # fmt: skip


# ------------------------------------------------------------------------------------------------
# loading


def _given(env: str, given: str) -> pathlib.Path | None:
    path = given or os.environ.get(env, "")
    if not path:
        return None
    p = pathlib.Path(path)
    if not p.is_dir():
        raise ValueError(
            f"{env if not given else 'the configured path'} {path!r} is not a directory."
        )
    return p


def _key(obj) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:10]


def _bosphorus_root(d, seed: int, cache: pathlib.Path, log) -> tuple[pathlib.Path, bool]:
    given = _given("AUJAX_BOSPHORUS_DIR", d.bosphorus_dir)
    if given is not None:
        return given, (given / "synthetic").is_dir()
    subjects = [f"bs{i:03d}" for i in range(int(d.bosphorus_subjects))]
    classes = list(d.classes)
    settings = {"subjects": subjects, "classes": classes, "image_size": int(d.image_size),
                "n_vertices": int(d.n_vertices), "seed": seed, "template": TEMPLATE_TAG}  # fmt: skip
    root = cache / "datasets" / f"bosphorus_synthetic_sdm_{len(subjects)}s_{_key(settings)}"
    done = root / "synthetic" / "COMPLETE"
    if done.is_file():
        log(f"Using the cached synthetic Bosphorus-like sdm data {root}.")
        return root, True
    log(f"No Bosphorus copy given (data.bosphorus_dir or $AUJAX_BOSPHORUS_DIR): generating the "
        f"synthetic Bosphorus-like 'sdm' data ({len(subjects)} subjects, {len(classes)} sample "
        f"classes) once into {root}.")  # fmt: skip
    if root.exists():  # an interrupted generation: start again
        import shutil

        shutil.rmtree(root)
    summary = generate_bosphorus_sdm(root, seed=seed, n_vertices=int(d.n_vertices),
                                     subjects=subjects, classes=classes,
                                     image_size=int(d.image_size), progress=None)  # fmt: skip
    done.write_text(json.dumps({**summary, "settings": settings}, default=str))
    log(f"  generated {summary['samples']} samples in {summary['seconds']:.0f} s.")
    return root, True


def _facewarehouse(d, seed: int, cache_dir: str, log):
    given = _given("AUJAX_FACEWAREHOUSE_DIR", d.facewarehouse_dir)
    if given is None:
        root = generate_facewarehouse(
            n_subjects=int(d.facewarehouse_subjects), n_expressions=int(d.facewarehouse_expressions),
            n_poses=0, seed=seed, n_vertices=int(d.n_vertices), cache_dir=cache_dir,
            progress=None,
        )  # fmt: skip
        log(f"FaceWarehouse-like meshes: {root}.")
    else:
        root = given
    return read_facewarehouse(root), given is None


def _rotvec(rotation: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(np.asarray(rotation, np.float64)).as_rotvec()


#: The image flip ``diag(1, -1, -1)``: a y-down image's camera rotation is ``FLIP @ rot(r)`` with a
#: small rotation vector ``r`` for a frontal face (the rotation vector of the camera itself is near
#: pi, where it is discontinuous).
FLIP = np.diag([1.0, -1.0, -1.0])


def camera_vector(camera) -> np.ndarray:
    """``[log s, r (3), t_x, t_y]`` of a scaled-orthographic camera, ``R = FLIP @ rot(r)`` (host)."""
    r = _rotvec(FLIP.T @ np.asarray(camera.rotation, np.float64))
    return np.concatenate([[np.log(float(camera.scale))], r,
                           np.asarray(camera.translation, np.float64)[:2]])  # fmt: skip


@dataclasses.dataclass(frozen=True, eq=False)
class SdmModel:
    """The bilinear model of a seed 004 run and its vertex sets (what a fit on a photo needs).

    Attributes:
        model: the bilinear model (eqs. 2-3).
        landmark_vertices: (68,) model vertex of each iBUG landmark.
        central: (k,) vertex indices of the central face.
        faces: (F, 3) triangles of the model's mesh.
        fw_test: FaceWarehouse meshes held out of the model (S_test, E, V, 3) or None.
    """

    model: BilinearModel
    landmark_vertices: np.ndarray
    central: np.ndarray
    faces: np.ndarray
    fw_test: np.ndarray | None = None


def load_sdm_model(cfg, log=print) -> SdmModel:
    """The bilinear model of the configured run (step 1 of the module docstring), alone.

    The same model :func:`load_sdm_data` builds (the FaceWarehouse-like meshes are generated once
    and cached; the HOSVD is deterministic), without the Bosphorus-like samples: what a cascade
    saved in a run's workdir was trained with.

    Args:
        cfg: the experiment config (``data``, ``model`` sections).
        log: progress lines.

    Returns:
        :class:`SdmModel`.
    """
    d = cfg.data
    fw, fw_synthetic = _facewarehouse(d, int(cfg.seed), d.cache_dir, log)
    n_test = int(d.facewarehouse_test_subjects)
    if fw.vertices.shape[0] - n_test < 2:
        raise ValueError(
            f"data.facewarehouse_test_subjects={n_test} leaves fewer than 2 of the "
            f"{fw.vertices.shape[0]} FaceWarehouse subjects for the model."
        )
    train_meshes = fw.vertices[: fw.vertices.shape[0] - n_test]
    model = BilinearModel.from_tensor(train_meshes, n_id=int(cfg.model.n_id),
                                      n_exp=int(cfg.model.n_exp), faces=fw.faces)  # fmt: skip
    log(f"BilinearModel: HOSVD of {train_meshes.shape[0]} subjects x {train_meshes.shape[1]} "
        f"expressions x {train_meshes.shape[2]} vertices, ranks {model.n_id} x {model.n_exp}.")  # fmt: skip
    if not fw_synthetic and not d.landmark_vertices:
        raise ValueError("a real FaceWarehouse copy needs data.landmark_vertices (68 vertex ids).")
    if d.landmark_vertices:
        lv = np.asarray(d.landmark_vertices, np.int64)
        central = np.asarray(d.central_vertices, np.int64) if d.central_vertices else None
    else:
        lv = facewarehouse_landmark_vertices(n_vertices=int(d.n_vertices))
        central = central_face_vertices(n_vertices=int(d.n_vertices))
    if central is None:
        raise ValueError("data.central_vertices must be given with data.landmark_vertices.")
    return SdmModel(model=model, landmark_vertices=lv, central=central,
                    faces=np.asarray(fw.faces),
                    fw_test=fw.vertices[fw.vertices.shape[0] - n_test :] if n_test else None)  # fmt: skip


def load_sdm_data(cfg, log=print) -> SdmData:
    """The model, samples and ground truth of the configured run (module docstring).

    Args:
        cfg: the experiment config (``data``, ``model``, ``fit`` sections).
        log: progress lines.

    Returns:
        :class:`SdmData`.
    """
    d = cfg.data
    cache = cache_root(d.cache_dir)
    seed = int(cfg.seed)
    m = load_sdm_model(cfg, log)
    model, lv, central = m.model, m.landmark_vertices, m.central

    root, synthetic = _bosphorus_root(d, seed, cache, log)
    subjects = [f"bs{i:03d}" for i in range(int(d.bosphorus_subjects))] if synthetic else None
    listed = sdm_samples(
        root, subjects=subjects, classes=sorted({c.split("_")[0] for c in d.classes})
    )
    listed = [s for s in listed if f"{s.cls}_{s.code}" in set(d.classes)]
    kept = [s for s in listed if s.detected]
    if not kept:
        raise ValueError(f"{root}: no sample of the configured classes has detector landmarks.")
    log(f"Bosphorus-like samples: {len(listed)} listed, {len(listed) - len(kept)} dropped "
        f"(failed landmark detection: {100 * (len(listed) - len(kept)) / len(listed):.1f} %), "
        f"{len(kept)} kept.")  # fmt: skip

    from PIL import Image

    images = np.stack([to_gray(np.asarray(Image.open(s.image_path))) for s in kept])
    landmarks = np.stack([s.landmarks for s in kept]).astype(np.float32)
    source = cfg.fit.ground_truth
    if source not in ("mesh", "scan"):
        raise ValueError(f"fit.ground_truth must be 'mesh' or 'scan', got {source!r}.")
    if source == "mesh" and not synthetic:
        raise ValueError(
            "fit.ground_truth='mesh' needs a synthetic copy (true meshes); use 'scan'."
        )
    gts = [read_sdm_ground_truth(s.gt_path) for s in kept] if synthetic else None
    g_star, s_star, mesh = _ground_truth(cfg, model, kept, gts, lv, cache, root, log)
    cam_lm = np.stack([g.landmarks_2d for g in gts]).astype(np.float32) if gts else landmarks
    camera_target = _camera_targets(model, g_star, cam_lm, lv)

    def yaw_label(s):
        if s.cls in ("PR", "CR") or s.yaw_deg is None:
            return "no label"
        return str(int(abs(s.yaw_deg)))

    return SdmData(
        model=model, landmark_vertices=lv, central=central, images=images, landmarks=landmarks,
        stems=np.array([s.stem for s in kept]), subjects=np.array([s.subject for s in kept]),
        classes=np.array([f"{s.cls}_{s.code}" for s in kept]),
        expression=np.array([s.expression for s in kept]),
        yaw=np.array([yaw_label(s) for s in kept]), g_star=g_star, s_star=s_star, mesh=mesh,
        camera_target=camera_target, n_listed=len(listed),
        src=("synthetic Bosphorus-like" if synthetic else "Bosphorus"),
        fw_test=m.fw_test, faces=m.faces,
    )  # fmt: skip


def _ground_truth(cfg, model, kept, gts, lv, cache, root, log):
    """``(g* (N, P), S* (N, V, 3), M (N, V, 3))``, cached beside the data by settings."""
    f = cfg.fit
    settings = {"root": str(root), "stems": [s.stem for s in kept], "source": f.ground_truth,
                "model": _key(np.asarray(model.core[:3]).round(6).tolist()),
                "ranks": [model.n_id, model.n_exp], "lambda": [f.gt_lambda_id, f.gt_lambda_exp],
                "version": _GT_VERSION}  # fmt: skip
    path = cache / "sdm_ground_truth" / f"gt_{_key(settings)}.npz"
    if path.is_file():
        z = np.load(path)
        return z["g_star"], z["s_star"], z["mesh"]
    verts = jax.vmap(model.vertices)
    if f.ground_truth == "mesh":
        true = np.stack([g.vertices for g in gts]).astype(np.float32)
        fit = jax.vmap(functools.partial(fit_mesh, model, lambda_id=f.gt_lambda_id,
                                         lambda_exp=f.gt_lambda_exp))  # fmt: skip
        a, b = fit(jnp.asarray(true, model.core.dtype))
        mesh = true
    else:
        from tqdm.auto import tqdm

        a, b, mesh = [], [], []
        for s in tqdm(kept, desc="ground truth (fit_scan)", leave=False):
            pts, _ = read_lm3(s.scan_path.with_suffix(".lm3")).to_ibug68()
            fs = fit_scan(model, read_bnt(s.scan_path).points(), pts, lv,
                          lambda_id=f.gt_lambda_id, lambda_exp=f.gt_lambda_exp)  # fmt: skip
            a.append(fs.w_id), b.append(fs.w_exp), mesh.append(np.asarray(fs.mesh))
        a, b, mesh = jnp.stack(a), jnp.stack(b), np.stack(mesh)
    g_star = np.concatenate([np.asarray(a), np.asarray(b)], axis=1).astype(np.float32)
    s_star = np.asarray(verts(a, b), np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, g_star=g_star, s_star=s_star, mesh=np.asarray(mesh, np.float32))
    log(f"Ground truth g* ({f.ground_truth}) of {len(kept)} samples cached in {path}.")
    return g_star, s_star, np.asarray(mesh, np.float32)


def _camera_targets(model, g_star, landmarks, lv) -> np.ndarray:
    n_id = model.n_id

    def one(g, lm):
        return fit_camera(model, g[:n_id], g[n_id:], lm, lv)

    cams = jax.jit(jax.vmap(one))(jnp.asarray(g_star), jnp.asarray(landmarks))
    out = []
    for k in range(g_star.shape[0]):
        out.append(camera_vector(jax.tree.map(lambda a, k=k: a[k], cams)))
    return np.stack(out).astype(np.float32)


# ------------------------------------------------------------------------------------------------
# the FaceWarehouse-like cross-set test (fig. 8 analogue)


def cross_set_samples(meshes, faces, *, n_vertices: int, image_size: int, seed: int,
                      expressions: int) -> dict:  # fmt: skip
    """Frontal renders of held-out FaceWarehouse-like meshes with simulated detector landmarks.

    FaceWarehouse has no images of its blendshapes here, so the cross-set test renders them as the
    Bosphorus-like generator renders its samples: an orthographic camera framing the subject's
    neutral (:func:`aujax.geometry.frame_vertices`, margin 0.1), a uniform skin albedo, one
    frontal light, and the Bosphorus-like preset's landmark detector
    (:data:`aujax.synth.SDM_DETECTOR`, frontal: no failures beyond its base rate).

    Args:
        meshes: (S, E, V, 3) held-out subjects' meshes (model frame, cm); expression 0 neutral.
        faces: (F, 3) triangles.
        n_vertices: the template resolution (the landmark embedding).
        image_size: the image side in pixels.
        seed: the detector's noise seed.
        expressions: meshes per subject used (the first ones).

    Returns:
        dict of ``image`` (B, H, W) float32, ``landmarks`` (B, 68, 2), ``mesh`` (B, V, 3),
        ``expression`` (B,) indices; failed detections are left out.
    """
    from ...geometry import frame_vertices
    from ...render import render
    from ...synth import SDM_DETECTOR, facewarehouse_landmark_embedding

    tris, bary = facewarehouse_landmark_embedding(n_vertices=n_vertices)
    faces = np.asarray(faces)
    corners = faces[tris]  # (68, 3)
    rng = np.random.default_rng([seed, 4004])
    out = {"image": [], "landmarks": [], "mesh": [], "expression": []}
    for s in range(meshes.shape[0]):
        rest = np.asarray(meshes[s, 0], np.float32)
        cam = frame_vertices(rest, height=image_size, width=image_size, margin=0.1)
        scale, offset = float(cam.scale), np.asarray(cam.translation, np.float64)
        lm_rest = np.einsum("lj,ljd->ld", bary, rest[corners])
        iod = float(np.linalg.norm(lm_rest[45] - lm_rest[36])) * scale
        for e in range(min(expressions, meshes.shape[1])):
            mesh = np.asarray(meshes[s, e], np.float32)
            img = render(mesh, faces, np.full((mesh.shape[0], 3), 0.7, np.float32), camera=cam,
                         light_dir=(0.0, 0.3, 1.0), ambient=0.35, diffuse=0.65)  # fmt: skip
            lm = np.einsum("lj,ljd->ld", bary, mesh[corners].astype(np.float64))
            lm2 = np.stack([scale * lm[:, 0] + offset[0] - 0.5,
                            offset[1] - scale * lm[:, 1] - 0.5], -1)  # fmt: skip
            det = SDM_DETECTOR.detect(lm2, np.ones(68, bool), iod_px=iod, angle_deg=0.0,
                                      occlusion="", rng=rng)  # fmt: skip
            if det is None:
                continue
            out["image"].append(np.asarray(img.image, np.float32).mean(-1))
            out["landmarks"].append(np.asarray(det, np.float32))
            out["mesh"].append(mesh)
            out["expression"].append(e)
    return {k: np.stack(v) if v else np.zeros((0,)) for k, v in out.items()}
