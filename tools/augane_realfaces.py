"""Seed 003 (AUGANE) on real photographs: does a render keep the photo's smile and open mouth?

::

    python -m tools.augane_realfaces --workdir W [--out PNG] [--table MD] [IMAGES...]

``W`` is a finished ``experiments.disfa_augane`` run (``config.json``, ``runs/<detector |
deca_like | augane | emoca_like>/checkpoints``); its four networks are restored (newest
checkpoint) as :func:`aujax.methods.augane.run_stages` restores them, with the run's config
objects (:func:`~aujax.methods.augane.detector_config` etc.) and its data
(:func:`~aujax.methods.augane.load_augane_data`, cached: the model, and the training inputs'
shapes).

For each photograph (default: every row of ``$AUJAX_REALFACES/photos/labels.csv``):

1. **Crop**: ``aujax detect``'s front end gives the 68 iBUG points of the largest face
   (:func:`tools.sdm_realfaces.largest_face_landmarks`, pinhole pixels: pixel centres at
   ``(col, row)``). The least-squares 2D similarity (:func:`fit_similarity`: rotation, isotropic
   scale, translation; no reflection) maps them onto the **mean face's** 68 landmarks under the
   reference camera (:func:`reference_landmarks`: the camera that frames the mean face as the
   synthetic crops frame a subject's neutral, image y down, pixel centres at ``+ 0.5``; the
   same points :func:`~aujax.methods.augane.decode` gives for zero parameters). The photo is
   warped by it into an S x S crop (S = the run's ``data.image_size``; :func:`warp_to_crop`,
   bilinear, black outside the photo as the synthetic crops' background), its landmarks mapped
   too (:func:`align_photo`).
2. **Methods**: the detector on the crop (the 12 DISFA AU probabilities and nodes), the
   DECA-like encoder (parameters and X), GANE (detector nodes + X: AUGANE's expression, pose
   and camera on the DECA-like identity, light, albedo), the EMOCA-like encoder; each method's
   parameters soft-rendered as in the experiment, and the detector run on each render. A
   "neutral face" (the DECA-like face with expression 0) is the floor a render must beat.
3. **Scores** (:func:`score_rows`, :func:`agreement_rows`): on the photos with a 0/1 label,
   AU12 against ``smile`` and AU25 / AU26 against ``teeth``: the ROC AUC of the detector's
   probability on the photo crop and on each method's render (the paper's agreement idea on
   real faces: does the render keep the smile?), and the accuracy of ``p >= 0.5``. The paper's
   F1 agreement of each method (the detector's decisions on the render scored against its
   decisions on the photo, ``p >= 0.5``, :func:`aujax.methods.augane.agreement_f1`), per AU
   over the photos, and its mean over the AUs the detector finds on at least one photo. The 2D
   landmark error of each method's projected 68 landmarks against the photo's detected
   landmarks mapped into the crop, in % of the outer inter-ocular distance (36 -> 45); the mean
   face under the reference camera (the alignment's residual) is the reference row.

Writes the tables (``--table``, default ``docs/augane_realfaces.md``) and a figure (``--out``,
default ``docs/figures/augane_realfaces.png``): for ``--figure`` photos the crop with its
landmarks (detected, mapped: green; the mean face's: red), the AUGANE, DECA-like and EMOCA-like
renders, the AUs the detector finds (p >= 0.5) written under each tile (or, none found, the
most probable AU and its probability).

Photographs: deepface's test images (serengil/deepface, MIT licence), ``$AUJAX_REALFACES/photos``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import sys
import time

import numpy as np

from tools.ausynth_realfaces import FIGURE_PHOTOS, landmark_cues, read_labels
from tools.sdm_realfaces import PHOTOS, ROOT, largest_face_landmarks


DEFAULT_OUT = ROOT / "docs" / "figures" / "augane_realfaces.png"
DEFAULT_TABLE = ROOT / "docs" / "augane_realfaces.md"
#: (AU, label column) pairs scored (labels.csv has no raised brows: AU1 / AU2 are not scored)
PAIRS = ((12, "smile"), (25, "teeth"), (26, "teeth"))
#: the methods rendered, as the experiment names them, and the expression-free floor
METHODS = ("AUGANE", "DECA-like", "EMOCA-like")
NEUTRAL = "neutral face"
#: the detector's decision threshold (the experiment's, fixed in advance)
THRESHOLD = 0.5
_RUNS = {"detector": "detector", "encoder": "deca_like", "gane": "augane", "emoca": "emoca_like"}


# ------------------------------------------------------------------------------- the alignment


def reference_landmarks(model, *, size: int) -> np.ndarray:
    """(68, 2) the mean face's iBUG-68 landmarks under
    :func:`aujax.methods.augane.reference_camera` (crop pixels, u right, v down, pixel
    ``(row, col)`` centred at ``(col + 0.5, row + 0.5)``)."""
    import jax.numpy as jnp

    from aujax.geometry import project
    from aujax.methods.augane import reference_camera

    cam = reference_camera(model, size=int(size))
    lm = model.landmarks(jnp.zeros(model.n_id), jnp.zeros(model.n_exp), scheme=68)
    return np.asarray(project(cam, lm), np.float64)[:, :2]


def fit_similarity(source, target) -> tuple[np.ndarray, np.ndarray]:
    """The least-squares 2D similarity ``q = A p + t`` mapping ``source`` onto ``target``.

    ``A = [[a, -b], [b, a]]`` (rotation and isotropic scale, no reflection), closed form.

    Args:
        source: (k, 2) points ``p``, k >= 2, finite.
        target: (k, 2) points ``q``, finite.

    Returns:
        ``(A (2, 2), t (2,))`` float64.

    Raises:
        ValueError: other shapes, non-finite points, or source points that all coincide.
    """
    p = np.asarray(source, np.float64)
    q = np.asarray(target, np.float64)
    if p.ndim != 2 or p.shape[1] != 2 or p.shape[0] < 2:
        raise ValueError(f"source must have shape (k, 2) with k >= 2, got {p.shape}.")
    if q.shape != p.shape:
        raise ValueError(f"target must have source's shape {p.shape}, got {q.shape}.")
    if not (np.all(np.isfinite(p)) and np.all(np.isfinite(q))):
        raise ValueError("source and target must be finite.")
    pm, qm = p.mean(0), q.mean(0)
    pc, qc = p - pm, q - qm
    norm = float(np.sum(pc * pc))
    if norm <= 0.0:
        raise ValueError("source: the points all coincide (no similarity).")
    a = float(np.sum(pc * qc)) / norm
    b = float(np.sum(pc[:, 0] * qc[:, 1] - pc[:, 1] * qc[:, 0])) / norm
    lin = np.array([[a, -b], [b, a]])
    return lin, qm - lin @ pm


def apply_similarity(lin, shift, points) -> np.ndarray:
    """(..., 2) ``A p + t`` of points (..., 2)."""
    return np.asarray(points, np.float64) @ np.asarray(lin, np.float64).T + np.asarray(shift)


def warp_to_crop(image, lin, shift, *, size: int) -> np.ndarray:
    """The S x S crop of ``image`` under the similarity ``q = A p + t`` (photo -> crop).

    Crop pixel ``(row, col)`` is centred at ``q = (col + 0.5, row + 0.5)`` (the crops' and
    :class:`aujax.geometry.OrthoCamera`'s convention); it takes the photo's bilinear value at
    ``p = A^-1 (q - t)``, the photo's pixel ``(row, col)`` centred at ``p = (col, row)`` (the
    front end's pinhole convention). Outside the photo: black.

    Args:
        image: (H, W, 3) uint8 (or floats in [0, 1]) photo.
        lin: (2, 2) ``A`` (invertible).
        shift: (2,) ``t``.
        size: S.

    Returns:
        (S, S, 3) float32 crop in [0, 1].
    """
    from scipy.ndimage import map_coordinates

    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"image must have shape (H, W, 3), got {img.shape}.")
    img = img.astype(np.float64) / (255.0 if img.dtype == np.uint8 else 1.0)
    lin = np.asarray(lin, np.float64)
    if lin.shape != (2, 2) or abs(np.linalg.det(lin)) < 1e-12:
        raise ValueError(f"lin must be an invertible (2, 2) matrix, got {lin!r}.")
    s = int(size)
    col, row = np.meshgrid(np.arange(s) + 0.5, np.arange(s) + 0.5)
    q = np.stack([col, row], axis=-1) - np.asarray(shift, np.float64)
    p = q @ np.linalg.inv(lin).T  # (S, S, 2): (x, y) in the photo
    coords = np.stack([p[..., 1], p[..., 0]])  # (row, col)
    out = np.stack([map_coordinates(img[..., c], coords, order=1, mode="constant", cval=0.0)
                    for c in range(3)], axis=-1)  # fmt: skip
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def align_photo(image, landmarks, reference, *, size: int) -> dict:
    """The photo's crop aligned to the mean face (module docstring, step 1).

    Args:
        image: (H, W, 3) photo.
        landmarks: (68, 2) its detected landmarks (pinhole pixels).
        reference: (68, 2) :func:`reference_landmarks`.
        size: S.

    Returns:
        ``{"crop" (S, S, 3) float32, "landmarks" (68, 2) the detected points in crop pixels,
        "lin", "shift", "residual_pct"}``: the RMS distance of the mapped points from the
        reference, % of the reference's outer inter-ocular distance.
    """
    ref = np.asarray(reference, np.float64)
    lin, shift = fit_similarity(landmarks, ref)
    mapped = apply_similarity(lin, shift, landmarks)
    iod = float(np.linalg.norm(ref[45] - ref[36]))
    res = float(np.sqrt(np.mean(np.sum((mapped - ref) ** 2, axis=1))))
    return {"crop": warp_to_crop(image, lin, shift, size=size), "landmarks": mapped, "lin": lin,
            "shift": shift, "residual_pct": 100.0 * res / iod}  # fmt: skip


def mean_face_silhouette(model, *, size: int, blend=None) -> np.ndarray:
    """(S, S) the soft silhouette (alpha in [0, 1]) of the mean face under the reference camera
    (zero parameters, :func:`aujax.methods.augane.render_faces`): the synthetic crops' face
    region, for the masked variant of the photo crops (black outside the face, as the crops the
    networks were trained on)."""
    import jax.numpy as jnp

    from aujax.methods.augane import FaceParams, default_light, reference_camera, render_faces

    cam = reference_camera(model, size=int(size))
    p = FaceParams(identity=jnp.zeros((1, model.n_id)), expression=jnp.zeros((1, model.n_exp)),
                   pose=jnp.zeros((1, 3)), scale=jnp.reshape(cam.scale, (1,)),
                   translation=jnp.reshape(cam.translation, (1, 2)),
                   light=default_light()[None], albedo=jnp.zeros((1, model.n_alb)))  # fmt: skip
    return render_faces(p, model, size=int(size), blend=blend)[1][0]


# ------------------------------------------------------------------------------- the networks


def load_run(workdir, *, log=print) -> dict:
    """The config, data and the four restored networks of a finished ``disfa_augane`` run.

    Returns:
        ``{"cfg", "data", "states": {"detector", "encoder", "gane", "emoca"}, "configs"}``.

    Raises:
        ValueError: no config.json, another experiment, or a network without checkpoints.
    """
    import jax
    import ml_collections

    from aujax.methods import augane as ag

    workdir = pathlib.Path(workdir)
    path = workdir / "config.json"
    if not path.is_file():
        raise ValueError(f"{path}: no config.json; is {workdir} a disfa_augane workdir?")
    cfg = ml_collections.ConfigDict(json.loads(path.read_text()))
    if cfg.get("experiment", None) != ag.EXPERIMENT:
        raise ValueError(f"{path}: experiment {cfg.get('experiment')!r}, not {ag.EXPERIMENT!r}.")
    for name in _RUNS.values():
        if not (workdir / "runs" / name / "checkpoints").is_dir():
            raise ValueError(f"{workdir / 'runs' / name}: no checkpoints (was the run finished?).")
    data = ag.load_augane_data(cfg, log)
    model, size = data.model, int(cfg.data.image_size)
    configs = {"detector": ag.detector_config(cfg), "encoder": ag.encoder_config(cfg),
               "gane": ag.gane_config(cfg), "emoca": ag.emoca_config(cfg)}  # fmt: skip

    def key(i):  # the experiment's keys (only the shapes matter when restoring)
        return jax.random.fold_in(jax.random.key(int(cfg.seed)), i)

    def run_dir(net):
        return workdir / "runs" / _RUNS[net]

    # the training inputs' shapes: the first rows of the training split are enough to restore
    n = max(int(cfg.detector.batch_size), int(cfg.encoder.batch_size), int(cfg.gane.batch_size),
            int(cfg.emoca.batch_size))  # fmt: skip
    rows = data.split_rows("train")[:n]
    x = data.float_images(rows)
    d, e, g, m = cfg.detector, cfg.encoder, cfg.gane, cfg.emoca
    states = {}
    states["detector"] = ag.train_au_detector(
        x, data.labels[rows], key=key(1), steps=int(d.steps), batch_size=int(d.batch_size),
        config=configs["detector"], threshold=float(d.threshold), workdir=run_dir("detector"),
        restore="latest")  # fmt: skip
    states["encoder"] = ag.train_global_encoder(
        x, data.landmarks[rows], model, key=key(2), steps=int(e.steps),
        batch_size=int(e.batch_size), config=configs["encoder"], workdir=run_dir("encoder"),
        restore="latest")  # fmt: skip
    probs, nodes = ag.predict_aus(states["detector"], x)
    deca, feats = ag.encode(states["encoder"], x, model, config=configs["encoder"])
    states["gane"] = ag.train_gane(
        states["detector"], nodes=nodes, global_features=feats, landmarks=data.landmarks[rows],
        probabilities=probs, deca=deca, model=model, key=key(3), steps=int(g.steps),
        batch_size=int(g.batch_size), size=size, aus=data.aus, config=configs["gane"],
        workdir=run_dir("gane"), restore="latest")  # fmt: skip
    states["emoca"] = ag.train_emoca(
        states["detector"], states["encoder"], x, nodes=nodes, deca=deca, model=model,
        key=key(4), steps=int(m.steps), batch_size=int(m.batch_size), config=configs["emoca"],
        workdir=run_dir("emoca"), restore="latest")  # fmt: skip
    log(f"restored {', '.join(_RUNS.values())} of {workdir}")
    return {"cfg": cfg, "data": data, "states": states, "configs": configs}


def crop_photos(photos, *, reference, size: int, front_end=None, labels=None,
                echo=print) -> list[dict]:  # fmt: skip
    """Landmarks and aligned crops of every photo (module docstring, step 1).

    Returns:
        One record per photo: ``file``, ``face`` (False: no face found), the labels.csv columns,
        and for a face ``image``, ``photo_landmarks`` (68, 2) and :func:`align_photo`'s keys.
    """
    from aujax.detect import FaceFrontEnd, read_image

    front_end = front_end or FaceFrontEnd()
    records = []
    for path in map(pathlib.Path, photos):
        rec = {"file": path.name, **(labels or {}).get(path.name, {})}
        image = read_image(path)
        lm = largest_face_landmarks(front_end, image)
        if lm is None:
            records.append({**rec, "face": False})
            if echo:
                echo(f"{path.name}: no face found, skipped.")
            continue
        rec.update(face=True, image=image, photo_landmarks=lm,
                   **align_photo(image, lm, reference, size=size))  # fmt: skip
        records.append(rec)
    return records


def run_methods(crops, setup: dict) -> dict:
    """Every method on a batch of crops (module docstring, step 2).

    Args:
        crops: (n, S, S, 3) float32 crops in [0, 1].
        setup: :func:`load_run`'s dict.

    Returns:
        ``{"input_probs" (n, 12), "params": name -> FaceParams, "renders": name -> (n, S, S, 3),
        "render_probs": name -> (n, 12), "landmarks": name -> (n, 68, 2) projected}`` for
        :data:`METHODS` and :data:`NEUTRAL`.
    """
    import jax

    from aujax.methods import augane as ag

    data, states, cfgs = setup["data"], setup["states"], setup["configs"]
    model, size = data.model, int(setup["cfg"].data.image_size)
    x = np.asarray(crops, np.float32)
    input_probs, nodes = ag.predict_aus(states["detector"], x)
    deca, feats = ag.encode(states["encoder"], x, model, config=cfgs["encoder"])
    params = {
        "AUGANE": ag.predict_gane(states["gane"], nodes=nodes, global_features=feats, deca=deca,
                                  model=model, size=size, aus=data.aus, config=cfgs["gane"]),
        "DECA-like": deca,
        "EMOCA-like": ag.predict_emoca(states["emoca"], x, deca, model, config=cfgs["emoca"]),
        NEUTRAL: dataclasses.replace(deca, expression=np.zeros_like(deca.expression)),
    }  # fmt: skip

    @jax.jit
    def project68(p):
        return jax.vmap(lambda q: ag.decode(q, model, size=size, landmarks=68,
                                            render=False).landmarks)(p)  # fmt: skip

    renders, render_probs, landmarks = {}, {}, {}
    for name, p in params.items():
        renders[name] = ag.render_faces(p, model, size=size, blend=cfgs["encoder"].blend)[0]
        render_probs[name] = ag.predict_aus(states["detector"], renders[name])[0]
        landmarks[name] = np.asarray(project68(jax.tree.map(np.asarray, p)), np.float64)
    return {"input_probs": input_probs, "params": params, "renders": renders,
            "render_probs": render_probs, "landmarks": landmarks}  # fmt: skip


# ----------------------------------------------------------------------------------- the scores


def landmark_error_pct(projected, detected) -> np.ndarray:
    """(n,) mean distance of projected (n, 68, 2) from detected (n, 68, 2) landmarks, % of the
    detected outer inter-ocular distance (36 -> 45)."""
    p = np.asarray(projected, np.float64)
    d = np.asarray(detected, np.float64)
    iod = np.linalg.norm(d[:, 45] - d[:, 36], axis=-1)
    return 100.0 * np.linalg.norm(p - d, axis=-1).mean(axis=1) / iod


def score_rows(records: list[dict], out: dict, aus, *, detected=None) -> list[dict]:
    """One row per (source, AU, label column): :func:`aujax.methods.ausynth.binary_scores` of
    the detector's probability on the photo crops and on each method's renders, on the photos
    with a 0/1 label in that column (``records`` with a face, in ``out``'s order).

    With ``detected`` ((n, 68, 2) the photos' landmarks in crop pixels), detector-free rows
    follow (AUC only): :func:`tools.ausynth_realfaces.landmark_cues` of the detected points and
    of each method's projected landmarks: the lip-corner lift against ``smile`` and the inner
    lips' opening against ``teeth`` (does the reconstruction itself smile, open the mouth?)."""
    from aujax.methods.ausynth import binary_scores

    aus = list(aus)
    sources = {"photo crop": out["input_probs"],
               **{f"{n} render": out["render_probs"][n] for n in (*METHODS, NEUTRAL)}}  # fmt: skip
    rows = []
    for au, column in PAIRS:
        keep = np.array([r.get(column) in ("0", "1") for r in records], bool)
        if not keep.any():
            continue
        y = np.array([int(r[column]) for r, k in zip(records, keep, strict=True) if k])
        for name, probs in sources.items():
            s = binary_scores(probs[keep, aus.index(au)], y, threshold=THRESHOLD)
            rows.append({"score": f"detector AU{au} on the {name}", "label": column, **s})
    if detected is None:
        return rows
    points = {"detected": detected, **{n: out["landmarks"][n] for n in (*METHODS, NEUTRAL)}}
    for cue, column in (("corner_lift", "smile"), ("mouth", "teeth")):
        keep = np.array([r.get(column) in ("0", "1") for r in records], bool)
        if not keep.any():
            continue
        y = np.array([int(r[column]) for r, k in zip(records, keep, strict=True) if k])
        for name, pts in points.items():
            v = [landmark_cues(lm)[cue] for lm in np.asarray(pts)[keep]]
            s = binary_scores(v, y, threshold=np.inf)
            where = "detected landmarks" if name == "detected" else f"{name} landmarks"
            rows.append({"score": f"{cue.replace('_', ' ')} (% IOD) of the {where}",
                         "label": column, **{**s, "accuracy": float("nan")}})  # fmt: skip
    return rows


def agreement_rows(out: dict, aus, *, detected=None) -> tuple[dict, dict]:
    """The F1 agreement and the landmark error of each method (module docstring, step 3).

    Args:
        out: :func:`run_methods`'s dict.
        aus: the AU numbers of the detector's outputs.
        detected: (n, 68, 2) the photos' detected landmarks in crop pixels (None: no landmark
            error).

    Returns:
        ``(summary, per_au)``: ``summary[name]`` = ``{"F1 agreement", "AUs", "lm_mean",
        "lm_median"}``; ``per_au[f"AU{au}"][name]`` = that AU's F1 (absent: the detector never
        fires on the photos), plus ``"photos on"`` (how many photos the detector finds it on) and
        ``"max p"`` (its largest probability on a photo).
    """
    from aujax.methods.augane import agreement_f1

    summary, per_au = {}, {f"AU{a}": {} for a in aus}
    for name in (*METHODS, NEUTRAL):
        f1, defined = agreement_f1(out["input_probs"], out["render_probs"][name])
        row = {"F1 agreement": float(f1[defined].mean()) if defined.any() else float("nan"),
               "AUs": int(defined.sum())}  # fmt: skip
        if detected is not None:
            err = landmark_error_pct(out["landmarks"][name], detected)
            row.update(lm_mean=float(err.mean()), lm_median=float(np.median(err)))
        summary[name] = row
        for j, a in enumerate(aus):
            if defined[j]:
                per_au[f"AU{a}"][name] = float(f1[j])
    probs = np.asarray(out["input_probs"])
    on = (probs >= THRESHOLD).sum(axis=0)
    for j, a in enumerate(aus):
        per_au[f"AU{a}"]["photos on"] = int(on[j])
        per_au[f"AU{a}"]["max p"] = float(probs[:, j].max())
    return summary, per_au


def _f(v, fmt=".2f"):
    return "n/a" if not np.isfinite(v) else format(v, fmt)


def table_markdown(rows, summary, per_au, *, residual=None) -> str:
    """The three tables (Markdown): the label scores, each method's agreement and landmark
    error, the agreement per AU."""
    head = ["score", "label", "n (1 / 0)", "ROC AUC", f"accuracy (p >= {THRESHOLD:g})",
            "mean p: label 1", "label 0"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| " + " | ".join([
            r["score"], r["label"], f"{r['n_pos']} / {r['n_neg']}", _f(r["auc"]),
            _f(r["accuracy"]), _f(r["mean_pos"]), _f(r["mean_neg"])]) + " |")  # fmt: skip
    lines += ["", "| method | F1 agreement | AUs | 2D landmarks, % IOD: mean | median |",
              "|---|---|---|---|---|"]  # fmt: skip
    for name, s in summary.items():
        lines.append(f"| {name} | {_f(s['F1 agreement'])} | {s['AUs']} | "
                     f"{_f(s.get('lm_mean', np.nan), '.1f')} | "
                     f"{_f(s.get('lm_median', np.nan), '.1f')} |")  # fmt: skip
    if residual is not None and len(residual):
        lines.append(f"| mean face (reference camera) | | | {np.mean(residual):.1f} | "
                     f"{np.median(residual):.1f} |")  # fmt: skip
    names = (*METHODS, NEUTRAL)
    lines += ["", "| AU | photos on | max p | " + " | ".join(names) + " |",
              "|---" * (len(names) + 3) + "|"]  # fmt: skip
    for au, row in per_au.items():
        lines.append(
            f"| {au} | {row['photos on']} | {row['max p']:.2f} | "
            + " | ".join(_f(row[n]) if n in row else "" for n in names)
            + " |"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------- the figure


def figure_rows(records: list[dict], out: dict, aus, *, names=FIGURE_PHOTOS, tile: int = 160):
    """``(tiles, labels)``: per photo in ``names`` the crop with its landmarks (detected: green;
    mean face: red) and each method's render, the AUs found (p >= 0.5) under each."""
    from PIL import Image

    from aujax.render import draw_points

    index = {r["file"]: i for i, r in enumerate(records)}
    tiles, labels = [], []

    def big(img):
        u8 = (np.clip(np.asarray(img), 0, 1) * 255).round().astype(np.uint8)
        return np.asarray(Image.fromarray(u8).resize((tile, tile), Image.Resampling.BILINEAR))

    def on(p):
        found = [str(a) for a, v in zip(aus, p, strict=True) if v >= THRESHOLD]
        if found:
            return "AU " + ",".join(found)
        j = int(np.argmax(p))
        return f"none (AU{aus[j]} {p[j]:.2f})"  # the most probable AU, below the threshold

    for name in names:
        if name not in index:
            continue
        i = index[name]
        r = records[i]
        k = tile / r["crop"].shape[0]
        marked = big(r["crop"])
        for pts, colour in ((out["reference"], (230, 40, 40)), (r["landmarks"], (40, 220, 40))):
            marked = draw_points(marked, np.asarray(pts) * k, color=colour,
                                 radius=max(1.0, tile / 128))  # fmt: skip
        tiles.append(marked)
        labels.append(f"{name} s{r.get('smile', '')}t{r.get('teeth', '')}: "
                      f"{on(out['input_probs'][i])}")  # fmt: skip
        for m in METHODS:
            tiles.append(big(out["renders"][m][i]))
            labels.append(f"{m}: {on(out['render_probs'][m][i])}")
    return tiles, labels


# ------------------------------------------------------------------------------------------ main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images", nargs="*", type=pathlib.Path,
                    help=f"photographs (default: every photo of {PHOTOS}/labels.csv)")  # fmt: skip
    ap.add_argument("--workdir", type=pathlib.Path, required=True,
                    help="a finished experiments.disfa_augane run")  # fmt: skip
    ap.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT, help="figure (PNG)")
    ap.add_argument("--table", type=pathlib.Path, default=DEFAULT_TABLE, help="tables (Markdown)")
    ap.add_argument("--figure", nargs="*", default=list(FIGURE_PHOTOS),
                    help="the photos (file names) drawn in the figure")  # fmt: skip
    ap.add_argument("--tile", type=int, default=160, help="figure tile side, pixels")
    ap.add_argument("--no-mask", action="store_true",
                    help="skip the variant with the crops masked by the mean face's silhouette")  # fmt: skip
    args = ap.parse_args(argv)
    labels = read_labels(PHOTOS)
    photos = args.images or [PHOTOS / f for f in labels]
    missing = [str(p) for p in photos if not p.is_file()]
    if missing or not photos:
        ap.error(f"no such image: {', '.join(missing) or '(no photos)'}")
    for folder in {p.parent for p in photos} - {PHOTOS}:
        labels.update(read_labels(folder))
    t0 = time.perf_counter()
    try:
        setup = load_run(args.workdir)
    except ValueError as e:
        print(f"augane_realfaces: {e}", file=sys.stderr)
        return 2
    print(f"run restored in {time.perf_counter() - t0:.0f} s")
    data, cfg = setup["data"], setup["cfg"]
    size = int(cfg.data.image_size)
    reference = reference_landmarks(data.model, size=size)
    t0 = time.perf_counter()
    records = crop_photos(photos, reference=reference, size=size, labels=labels)
    ok = [r for r in records if r["face"]]
    if not ok:
        print("augane_realfaces: no face found in any photo.", file=sys.stderr)
        return 1
    crops = np.stack([r["crop"] for r in ok])
    print(f"{len(ok)} of {len(records)} photos with a face, cropped in "
          f"{time.perf_counter() - t0:.0f} s")  # fmt: skip
    variants = {"photo crops": crops}
    if not args.no_mask:
        alpha = mean_face_silhouette(data.model, size=size, blend=setup["configs"]["encoder"].blend)
        variants["photo crops masked by the mean face's silhouette"] = (
            crops * alpha[None, :, :, None]
        )
    residual = np.array([r["residual_pct"] for r in ok])
    detected = np.stack([r["landmarks"] for r in ok])
    sections, outs = [], {}
    for variant, x in variants.items():
        t0 = time.perf_counter()
        out = outs[variant] = run_methods(x, setup)
        out["reference"] = reference
        rows = score_rows(ok, out, data.aus, detected=detected)
        summary, per_au = agreement_rows(out, data.aus, detected=detected)
        table = table_markdown(rows, summary, per_au, residual=residual)
        print(f"\n## {variant} (methods run in {time.perf_counter() - t0:.0f} s)\n\n{table}")
        sections.append(f"## The detector and the methods on the {variant}\n\n{table}")
    note = (
        f"{len(ok)} of {len(records)} photos with a face (labels.csv; `?` left out per column). "
        f"Crops {size} px, aligned by the similarity that maps the 68 detected points onto the "
        f"mean face's under the reference camera (RMS residual {np.median(residual):.1f} % of "
        f"the IOD, median; max {residual.max():.1f} %). Masked: the crop times the mean face's "
        "soft silhouette under the same camera (black around the face, as the synthetic crops). "
        f"Detector: p >= {THRESHOLD:g} is a detection (the experiment's threshold). ROC AUC: the "
        "detector's probability of the AU against the label (0.5: chance). F1 agreement: the "
        "detector on the render against the detector on the photo crop, mean over the 'AUs' it "
        "finds on at least one photo (per AU in the last table; empty, n/a: never found on a "
        "photo). 2D landmarks: each method's projected 68 points against the detected ones "
        "mapped into the crop, mean distance per point in % of the detected outer IOD "
        "(36 -> 45); 'mean face': the reference landmarks themselves (the alignment's residual "
        "as a mean distance). 'neutral face': the DECA-like face with expression 0. Landmark "
        "rows (no detector, AUC only): the lip corners' lift above the outer lips' mid-line "
        "(48 / 54 vs 51 / 57) and the inner lips' opening (62 -> 66), % IOD, of the detected "
        "points and of each method's projected model landmarks."
    )
    args.table.parent.mkdir(parents=True, exist_ok=True)
    args.table.write_text(
        "# Seed 003 (AUGANE) on real photographs\n\n"
        f"`python -m tools.augane_realfaces --workdir` (a finished "
        f"{cfg.get('preset', '')} run of `experiments.disfa_augane`).\n\n{note}\n\n"
        + "\n\n".join(sections)
        + "\n"
    )
    print(f"\nwrote {args.table}")
    out = outs["photo crops"]
    tiles, names = figure_rows(ok, out, data.aus, names=args.figure, tile=args.tile)
    if tiles:
        from aujax.render import contact_sheet, save_png

        args.out.parent.mkdir(parents=True, exist_ok=True)
        save_png(args.out, contact_sheet(tiles, ncols=1 + len(METHODS), labels=names))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
