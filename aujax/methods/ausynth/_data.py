"""The data of the seed 002 experiment: the DISFA-like frames, the morphable model, the parameters.

:func:`load_synthesis_data` prepares what ``experiments.disfa_synthesis``
(:mod:`._experiment`) reads:

1. **DISFA-like frames** (a given copy, ``data.disfa_dir`` or ``$AUJAX_DISFA_DIR``, or the
   synthetic one, generated once by :func:`aujax.synth.generate_disfa` and cached under
   ``{cache}/datasets/disfa_synthetic_{size}_{frames}f_{n_vertices}v_{S}px_seed{seed}{tag}``):
   per subject the 12 AU intensities 0-5 (:data:`aujax.datasets.DISFA_AUS`), the 66 landmarks and
   the aligned face crops (``Videos_LeftCamera/frames``), in time order.
2. **The morphable model** (eqs. 1-2, :func:`aujax.synth.facewarehouse_model`) built
   from the synthetic FaceWarehouse-like meshes of :func:`aujax.synth.generate_facewarehouse` at
   the **same** ``n_vertices`` and seed as the DISFA-like set: the identity PCA of the subjects'
   neutrals and an uncentred PCA of their expression offsets (``model.n_exp`` = 79 by default):
   an expression space learnt from FaceWarehouse-like blendshapes, **not** the AU basis.
3. **Vertex layout** (:func:`check_vertex_layout`): both generators build their meshes on
   ``make_face(n_vertices, seed)`` (the template's topology and vertex order depend only on
   ``n_vertices``), and a DISFA-like subject's rest mesh is the template plus its identity
   displacement (:func:`aujax.synth.subject_rest_mesh`). So the model's vertices *are* the
   physics' vertices: the check compares the triangles and projects each subject's rest mesh on
   the model's shape space (residual RMS per vertex, in cm); the vertex errors against the
   physics' own meshes rely on it. A real DISFA copy has no such meshes (``layout["shared"]`` is None).
4. **Source albedo** per subject: on the synthetic set, the skin the subject's crops were
   rendered with, replayed from its physique stream (:func:`aujax.synth.stream_rng`, checked
   against the identity the ground truth stores); on a real copy, the model's mean albedo.
5. **Parameters** (section 4.2, :func:`extract_all`): :func:`extract_subject` per subject
   (identity once from its least expressive frames among the all-zero-label ones, expressions per
   frame, optional temporal prior), cached on disk under ``{cache}/ausynth/`` keyed by a hash of
   the landmarks, the model and the settings.

Subjects are split by :func:`split_subjects` (the paper's 25 training / 2 test subjects of
DISFA: the last 2 of a seeded permutation are the test subjects; or an official fold).
"""

import dataclasses
import hashlib
import json
import pathlib
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from ..._digest import array_digest
from ...datasets import (
    DISFA_AUS,
    cache_root,
    folds,
    list_disfa_subjects,
    read_disfa_frames,
    read_disfa_sequence,
)
from ...face import MorphableModel, skin_albedo
from ...synth import (
    dataset_root,
    facewarehouse_model,
    stream_rng,
    subject_rest_mesh,
    template_face,
)
from ._extract import extract_subject


__all__ = [
    "Extracted",
    "SynthesisData",
    "check_vertex_layout",
    "extract_all",
    "load_model",
    "load_synthesis_data",
    "split_subjects",
    "subject_rest_mesh",
]

_EXTRACT_VERSION = "1"  # bump when the extraction changes (cache key)


@dataclasses.dataclass(frozen=True, eq=False)
class SynthesisData:
    """The frames the experiment reads (host arrays; N frames, subject-major, time order).

    Attributes:
        model: the morphable model (eqs. 1-2).
        subject: (N,) subject ID of each frame.
        frame: (N,) frame index within its subject's video.
        labels: (N, 12) int AU intensities 0-5 of :data:`aujax.datasets.DISFA_AUS`.
        landmarks: (N, 66, 2) float landmarks (pixels; NaN rows where missing).
        images: (N, S, S, C) uint8 aligned face crops.
        albedo: subject -> (n_vertices, 3) the source albedo (module docstring, step 4).
        src: a short description (table titles).
        root: the DISFA copy (None: in-memory data).
        synthetic: whether ``root`` is a synthetic copy (ground truth in ``root/synthetic``).
        layout: the vertex-layout check (:func:`check_vertex_layout`).
        aus: the AU numbers of the label columns.
    """

    model: MorphableModel
    subject: np.ndarray
    frame: np.ndarray
    labels: np.ndarray
    landmarks: np.ndarray
    images: np.ndarray
    albedo: dict
    src: str
    root: pathlib.Path | None = None
    synthetic: bool = False
    layout: dict = dataclasses.field(default_factory=dict)
    aus: tuple = DISFA_AUS

    @property
    def subjects(self) -> list[str]:
        """The subjects in order of appearance."""
        return list(dict.fromkeys(self.subject.tolist()))

    def rows(self, subject: str) -> np.ndarray:
        """(T,) the rows of one subject's frames."""
        return np.flatnonzero(self.subject == subject)


@dataclasses.dataclass(frozen=True, eq=False)
class Extracted:
    """The 3DMM parameters of every frame (:func:`extract_all`; rows as :class:`SynthesisData`).

    Attributes:
        x_id: subject -> (n_id,) identity coefficients.
        x_exp: (N, n_exp) expression coefficients (0 where not ``valid``).
        rotation: (N, 3, 3) camera rotation per frame (model frame -> y-down image).
        scale: (N,) camera scale (pixels per cm).
        residual: (N,) RMS landmark reprojection error (pixels; NaN where not ``valid``).
        valid: (N,) frames with enough landmarks.
    """

    x_id: dict
    x_exp: np.ndarray
    rotation: np.ndarray
    scale: np.ndarray
    residual: np.ndarray
    valid: np.ndarray


# ------------------------------------------------------------------------------------ splits


def split_subjects(subjects, *, seed: int, n_test: int = 2, fold: int = 0):
    """The training and test subjects (section 4.1: 25 / 2 of DISFA's 27).

    Args:
        subjects: the subject IDs present.
        seed: ``fold == 0``: the permutation's seed.
        n_test: ``fold == 0``: the last ``n_test`` subjects of ``permutation(sorted(subjects))``
            are the test subjects.
        fold: 0 (the paper's split) or 1-3: the official DISFA fold's test part
            (:func:`aujax.datasets.folds`) among the subjects present.

    Returns:
        ``(train, test)`` tuples of subject IDs (sorted).

    Raises:
        ValueError: a bad ``fold`` or ``n_test``, or a split without training or test subjects.
    """
    subjects = sorted(set(subjects))
    if fold == 0:
        if isinstance(n_test, bool) or not isinstance(n_test, int) or n_test < 1:
            raise ValueError(f"n_test must be an int >= 1, got {n_test!r}.")
        order = np.random.default_rng(int(seed)).permutation(len(subjects))
        perm = [subjects[i] for i in order]
        test = perm[len(perm) - n_test :]
    elif fold in (1, 2, 3):
        test = [s for s in folds("disfa")[fold - 1][1] if s in subjects]
    else:
        raise ValueError(f"fold must be 0 (seeded split) or 1, 2, 3 (official), got {fold!r}.")
    train = [s for s in subjects if s not in test]
    if not train or not test:
        raise ValueError(
            f"the split of {len(subjects)} subjects (fold {fold}, n_test {n_test}) leaves "
            f"{len(train)} training and {len(test)} test subjects; both must be >= 1."
        )
    return tuple(sorted(train)), tuple(sorted(test))


# ------------------------------------------------------------------------------------ loading


def _key(obj) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:10]


def load_model(cfg, log=print) -> MorphableModel:
    """The morphable model of the configured run (module docstring, step 2).

    Args:
        cfg: the experiment config (``seed``, ``data.n_vertices``, ``data.facewarehouse_*``,
            ``data.cache_dir``, ``model.n_exp``, ``model.n_id``).
        log: progress lines.

    Returns:
        The :class:`aujax.face.MorphableModel` (float64 under x64, else float32;
        :func:`aujax.synth.facewarehouse_model`).
    """
    d = cfg.data
    return facewarehouse_model(
        n_vertices=int(d.n_vertices), seed=int(cfg.seed), n_subjects=int(d.facewarehouse_subjects),
        n_expressions=int(d.facewarehouse_expressions), n_exp=int(cfg.model.n_exp),
        n_id=int(cfg.model.n_id) or None, cache_dir=d.cache_dir, log=log,
    )  # fmt: skip


def _replayed_albedo(root, subject: str, face, seed: int) -> np.ndarray | None:
    """The albedo :func:`aujax.synth.subject_physique` drew for ``subject`` (stream
    ``(seed, "disfa", subject, "physique")``: identity, gains, tone, the albedo's key), or None
    when the replayed identity differs from the stored one (another generator version)."""
    gt = np.load(pathlib.Path(root) / "synthetic" / f"{subject}.npz")
    rng = stream_rng(int(seed), "disfa", subject, "physique")
    identity = rng.standard_normal(gt["identity"].shape[0])
    rng.standard_normal(gt["gains"].shape[0])
    tone = float(rng.uniform())
    key = jax.random.key(int(rng.integers(2**31)))
    if not np.allclose(identity, gt["identity"]):
        return None
    return np.asarray(skin_albedo(face, jnp.asarray(tone), key=key))


def check_vertex_layout(
    model: MorphableModel, data: SynthesisData, *, n_vertices: int, seed: int
) -> dict:
    """Whether the model's vertices are the DISFA-like physics' vertices (module docstring, 3).

    Args:
        model: the morphable model.
        data: the frames (a synthetic copy's ground truth is read).
        n_vertices: the ``n_vertices`` both generators were asked for (``make_face``'s argument;
            the template has about that many).
        seed: the generators' seed.

    Returns:
        ``{"shared": bool | None, "triangles_equal", "rest_residual_cm" (max over subjects of
        the RMS per vertex of the rest mesh minus its projection on the model's shape space: the
        identity space's coverage, ~0 when the FaceWarehouse-like subjects span the template's
        identity modes), "note"}``; ``shared`` (same template vertices and triangles) is None
        without synthetic ground truth.
    """
    if not data.synthetic or data.root is None:
        return {"shared": None, "note": "no synthetic ground truth: layout not checked."}
    n = model.n_vertices
    face, _ = template_face(int(n_vertices), seed=int(seed))
    tri = np.array_equal(np.asarray(model.triangles), np.asarray(face.triangles))
    residual = 0.0
    for s in data.subjects:
        try:
            rest = subject_rest_mesh(data.root, s, n_vertices=n_vertices, seed=seed)
            if rest.shape != (n, 3):
                raise ValueError(f"{rest.shape[0]} vertices")
        except (OSError, KeyError, ValueError):
            return {"shared": False, "triangles_equal": tri,
                    "note": f"{s}: no rest mesh at {n} vertices."}  # fmt: skip
        x_id, x_exp = model.shape_coefficients(rest)
        fit = np.asarray(model.vertices(x_id, x_exp))
        residual = max(residual, float(np.sqrt(np.mean(np.sum((fit - rest) ** 2, axis=1)))))
    # one template, one vertex order: the layout is shared when the meshes have the template's
    # vertices and triangles; the residual says how well the model's identity space (a PCA of
    # the FaceWarehouse-like subjects) covers the DISFA-like identities
    shared = bool(tri)
    note = (f"{n}-vertex template layout {'shared' if shared else 'NOT shared'} (triangles "
            f"{'equal' if tri else 'differ'}); the subjects' rest meshes lie in the model's shape "
            f"space to {residual:.2g} cm RMS per vertex")  # fmt: skip
    return {"shared": shared, "triangles_equal": tri, "rest_residual_cm": residual, "note": note}


def load_synthesis_data(cfg, log=print) -> SynthesisData:
    """The frames, model and source albedos of the configured run (module docstring).

    Args:
        cfg: the experiment config (``seed``, ``data``, ``model`` sections).
        log: progress lines.

    Returns:
        :class:`SynthesisData`.
    """
    d, seed = cfg.data, int(cfg.seed)
    cache = cache_root(d.cache_dir)
    root, synthetic = dataset_root(
        "disfa", given=d.disfa_dir, preset=d.disfa_size, seed=seed, cache=cache,
        image_size=int(d.image_size), n_frames=int(d.frames) or None,
        n_vertices=int(d.n_vertices), subjects=list(d.subjects) or None, log=log,
    )  # fmt: skip
    model = load_model(cfg, log)
    subjects = list_disfa_subjects(root)
    if d.subjects:
        missing = sorted(set(d.subjects) - set(subjects))
        if missing:
            raise ValueError(f"data.subjects: {missing} not in the DISFA copy {root}.")
        subjects = [s for s in subjects if s in set(d.subjects)]
    parts = {k: [] for k in ("subject", "frame", "labels", "landmarks", "images")}
    for s in tqdm(subjects, desc="read DISFA-like", leave=False):
        seq = read_disfa_sequence(root, s)
        ims = read_disfa_frames(root, s, np.asarray(seq.frames))
        if ims.ndim == 3:
            ims = np.repeat(ims[..., None], 3, axis=3)
        if ims.shape[1] != ims.shape[2]:
            raise ValueError(f"{s}: frames must be square aligned crops, got {ims.shape[1:3]}.")
        t = seq.intensity.shape[0]
        parts["subject"].append(np.full(t, s))
        parts["frame"].append(np.asarray(seq.frames, np.int64))
        parts["labels"].append(np.asarray(seq.intensity, np.int8))
        parts["landmarks"].append(np.asarray(seq.landmarks, np.float32))
        parts["images"].append(ims)
    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    face = template_face(int(d.n_vertices), seed=seed)[0] if synthetic else None
    albedo, replayed = {}, 0
    mean_albedo = np.clip(np.asarray(model.albedo_mean), 0.0, 1.0)
    for s in subjects:
        a = None
        if synthetic and face is not None and face.n_vertices == model.n_vertices:
            a = _replayed_albedo(root, s, face, seed)
        replayed += a is not None
        albedo[s] = mean_albedo if a is None else a
    if synthetic and replayed < len(subjects):
        warnings.warn(f"{len(subjects) - replayed} subjects' albedo could not be replayed: "
                      "the model's mean albedo is used for them.", RuntimeWarning, stacklevel=2)  # fmt: skip
    data = SynthesisData(model=model, albedo=albedo, root=root, synthetic=synthetic,
                         src="synthetic DISFA-like" if synthetic else "DISFA", **arrays)  # fmt: skip
    layout = check_vertex_layout(model, data, n_vertices=int(d.n_vertices), seed=seed)
    log(f"DISFA-like data: {len(subjects)} subjects, {arrays['labels'].shape[0]} frames, crops "
        f"{arrays['images'].shape[1]} px; albedo replayed for {replayed}. Layout: "
        f"{layout['note']}")  # fmt: skip
    return dataclasses.replace(data, layout=layout)


# --------------------------------------------------------------------------------- extraction


def extract_all(data: SynthesisData, cfg, *, log=print) -> Extracted:
    """:func:`extract_subject` for every subject (section 4.2), cached on disk.

    Neutral frames for the identity: among the frames with every AU label 0.

    Args:
        data: the frames and the model.
        cfg: the experiment config (``extract`` section: ``lambda_id``, ``lambda_exp``,
            ``temporal``, ``n_neutral``, ``n_iterations``; ``data.cache_dir``).
        log: progress lines.

    Returns:
        :class:`Extracted`.
    """
    e = cfg.extract
    settings = {"lambda_id": float(e.lambda_id), "lambda_exp": float(e.lambda_exp),
                "temporal": float(e.temporal), "n_neutral": int(e.n_neutral),
                "n_iterations": int(e.n_iterations), "version": _EXTRACT_VERSION}  # fmt: skip
    m = data.model
    key = _key([settings, array_digest(data.landmarks, data.labels, data.subject.astype("U")),
                array_digest(m.mean_shape, m.id_basis, m.exp_basis, m.id_std, m.exp_std,
                             m.landmark_indices, m.landmark_weights)])  # fmt: skip
    path = cache_root(cfg.data.cache_dir) / "ausynth" / f"extract_{key}.npz"
    subjects = data.subjects
    if path.is_file():
        z = np.load(path)
        log(f"Parameters: cached {path}.")
        return Extracted(x_id={s: z["x_id"][i] for i, s in enumerate(subjects)},
                         x_exp=z["x_exp"], rotation=z["rotation"], scale=z["scale"],
                         residual=z["residual"], valid=z["valid"])  # fmt: skip
    n = data.labels.shape[0]
    x_exp = np.zeros((n, m.n_exp))
    rotation, scale = np.zeros((n, 3, 3)), np.zeros(n)
    residual, valid = np.full(n, np.nan), np.zeros(n, bool)
    x_id = {}
    t0 = time.perf_counter()
    for s in tqdm(subjects, desc="extract parameters", leave=False):
        rows = data.rows(s)
        neutral = np.all(data.labels[rows] == 0, axis=1)
        fit = extract_subject(
            m, data.landmarks[rows], neutral=neutral if neutral.any() else None,
            n_neutral=settings["n_neutral"], lambda_id=settings["lambda_id"],
            lambda_exp=settings["lambda_exp"], temporal=settings["temporal"],
            n_iterations=settings["n_iterations"],
        )  # fmt: skip
        x_id[s] = np.asarray(fit.x_id)
        x_exp[rows] = np.asarray(fit.x_exp)
        rotation[rows], scale[rows] = np.asarray(fit.camera.rotation), np.asarray(fit.camera.scale)
        residual[rows], valid[rows] = np.asarray(fit.residual), np.asarray(fit.valid)
    out = Extracted(x_id=x_id, x_exp=x_exp, rotation=rotation, scale=scale, residual=residual,
                    valid=valid)  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, x_id=np.stack([x_id[s] for s in subjects]), x_exp=x_exp, rotation=rotation,
             scale=scale, residual=residual, valid=valid)  # fmt: skip
    tmp.replace(path)
    log(f"Parameters: {len(subjects)} subjects, {n} frames ({valid.sum()} valid), mean RMS "
        f"residual {np.nanmean(residual):.3g} px, in {time.perf_counter() - t0:.0f} s "
        f"-> {path}.")  # fmt: skip
    return out
