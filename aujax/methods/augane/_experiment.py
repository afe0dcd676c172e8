"""The seed 003 experiment (``python -m experiments.disfa_augane``): Tables 2 and 3, and beyond.

Stages (:func:`train_and_evaluate`; :func:`run_stages` returns them):

1. **data** (:func:`load_augane_data`): the synthetic DISFA-like frames with their crop-space
   landmarks (iBUG-68, the layout's detector noise carried into the crop) and 3D truth; the
   morphable model (FLAME's place) at the same vertex layout; fold ``split.fold``'s training and
   test subjects (fold 1: nine test subjects, as the paper's nine DISFA videos).
2. **detector** (the ME-GraphAU stand-in, :func:`train_au_detector`): the training subjects'
   crops, presence = intensity >= ``detector.threshold``.
3. **DECA-like encoder** (:func:`train_global_encoder`): the training subjects' crops,
   self-supervised (landmarks + photometric through the soft renderer).
4. **GANE** (:func:`train_gane`): ``gane.frames`` evenly spaced training frames; the detector's
   nodes and p_i, the encoder's X and its identity / light / albedo are computed once; eq. 4's
   loss through the soft renderer and the frozen detector.
5. **EMOCA-like** (:func:`train_emoca`): the DECA-like encoder's expression fine-tuned with
   eq. 7 alone on the same frames.
6. **evaluation**: ``eval.frames_per_subject`` evenly spaced frames of each test subject with
   landmarks; each method's parameters are rendered (the soft renderer the training used) and
   the detector is run on the input and on the render:

   * **Table 2** (per subject) and **Table 3** (per AU): the paper's F1 *agreement*, the
     detector's decisions on the render scored against its decisions on the input (p >= 0.5).
     Per subject, the mean over the AUs the detector finds at least once in that subject's
     inputs (the F1 of an AU never detected is undefined); per AU, pooled over the test frames.
     A "neutral face" row (the DECA-like identity, pose and camera, expression 0) gives the
     agreement of a render that carries no expression at all: the floor a method must beat;
   * **beyond the paper** (it had no 3D truth): the F1 of the detector on the inputs and on each
     method's renders against the true labels; the 3D landmark error (68 points, model frame,
     after a similarity alignment to the truth, cm; NoW-style, so identity counts) and the
     expression part of it (the landmark displacement from each face's own neutral, no
     alignment); the 2D landmark error of the projected model landmarks against the clean crop
     landmarks (px).

Results: ``workdir/results`` (tables.md, CSVs, results.json, ``qualitative.png``); the
evaluation frames' parameters, renders and probabilities in ``workdir/outputs/eval.npz``.
"""

import dataclasses
import pathlib
import time

import jax
import numpy as np
from tqdm.auto import tqdm

from ...face import MorphableModel
from ...train import Report, Run, error_table_csv, error_table_markdown, f1_score
from ._data import AuganeData, load_augane_data
from ._detector import DetectorConfig, predict_aus, presence_labels, train_au_detector
from ._encoder import EncoderConfig, FaceParams, decode, encode, train_global_encoder
from ._training import (
    GANEConfig,
    predict_emoca,
    predict_gane,
    render_faces,
    train_emoca,
    train_gane,
)


__all__ = [
    "EXPERIMENT",
    "METHODS",
    "PAPER_TABLE2",
    "PAPER_TABLE3",
    "Stages",
    "agreement_f1",
    "detector_config",
    "emoca_config",
    "encoder_config",
    "evaluation_rows",
    "gane_config",
    "landmark_errors",
    "rest_landmarks",
    "run_stages",
    "train_and_evaluate",
]

EXPERIMENT = "disfa_augane"
METHODS = ("AUGANE", "DECA-like", "EMOCA-like")
NEUTRAL = "neutral face"
_PAPER_NAMES = {"AUGANE": "AUGANE", "DECA-like": "DECA", "EMOCA-like": "EMOCA"}

#: The paper's Table 2 (real DISFA, its nine videos; ME-GraphAU on the input vs on the render):
#: subject -> (AUGANE, DECA, EMOCA). Its printed averages: 0.39 / 0.18 / 0.30.
PAPER_TABLE2 = {
    "SN003": (0.46, 0.23, 0.24), "SN006": (0.35, 0.13, 0.32), "SN011": (0.45, 0.18, 0.30),
    "SN012": (0.46, 0.30, 0.43), "SN016": (0.43, 0.05, 0.24), "SN018": (0.45, 0.19, 0.25),
    "SN023": (0.27, 0.16, 0.24), "SN025": (0.34, 0.21, 0.25), "SN027": (0.33, 0.07, 0.30),
}  # fmt: skip
PAPER_TABLE2_AVG = (0.39, 0.18, 0.30)
#: The paper's Table 3 (ME-GraphAU's 12 AUs; 7, 10 and 23 are not DISFA's): AU -> (AUGANE,
#: DECA, EMOCA). The text gives the averages 0.39 / 0.18 / 0.30 (Table 2's), not this table's.
PAPER_TABLE3 = {
    1: (0.00, 0.00, 0.00), 2: (0.00, 0.00, 0.00), 4: (0.47, 0.09, 0.30), 5: (0.24, 0.08, 0.12),
    7: (0.78, 0.47, 0.64), 9: (0.17, 0.00, 0.21), 10: (0.83, 0.47, 0.81), 12: (0.84, 0.40, 0.86),
    15: (0.13, 0.00, 0.02), 20: (0.04, 0.01, 0.06), 23: (0.28, 0.03, 0.02), 26: (0.56, 0.46, 0.36),
}  # fmt: skip


@dataclasses.dataclass
class Stages:
    """What :func:`run_stages` produced (host arrays unless noted).

    Attributes:
        cfg: the config.
        data: the :class:`AuganeData`.
        states: network name -> trained :class:`aujax.train.TrainState`.
        rows: (E,) the evaluation frames' rows of ``data``.
        input_probs: (E, n_aus) the detector on the inputs.
        params: method (and :data:`NEUTRAL`) -> :class:`FaceParams` of the evaluation frames.
        renders: method -> (E, S, S, 3) soft renders in [0, 1].
        alphas: method -> (E, S, S) their silhouettes.
        render_probs: method -> (E, n_aus) the detector on the renders.
        timings: stage -> seconds.
    """

    cfg: object
    data: AuganeData
    states: dict
    rows: np.ndarray
    input_probs: np.ndarray
    params: dict
    renders: dict
    alphas: dict
    render_probs: dict
    timings: dict


# ------------------------------------------------------------------------------------- configs


def detector_config(cfg) -> DetectorConfig:
    """The :class:`DetectorConfig` of an experiment config's ``detector`` section."""
    d = cfg.detector
    return DetectorConfig(depth=int(d.depth), width=int(d.width), stem=str(d.stem),
                          node_dim=int(d.node_dim), head=str(d.head), lr=float(d.lr),
                          warmup=int(d.warmup), checkpoint_every=int(d.checkpoint_every),
                          log_every=int(d.log_every),
                          augment=bool(d.get("augment", False)))  # fmt: skip


def encoder_config(cfg) -> EncoderConfig:
    """The DECA-like encoder's :class:`EncoderConfig` (``encoder`` section, ``data.image_size``;
    68 landmarks)."""
    e = cfg.encoder
    return EncoderConfig(depth=int(e.depth), width=int(e.width), stem=str(e.stem),
                         image_size=int(cfg.data.image_size), landmarks=68,
                         landmark_weight=float(e.landmark_weight),
                         photometric_weight=float(e.photometric_weight), lr=float(e.lr),
                         warmup=int(e.warmup), sigma=float(e.sigma), gamma=float(e.gamma),
                         k=int(e.k), checkpoint_every=int(e.checkpoint_every),
                         log_every=int(e.log_every))  # fmt: skip


def gane_config(cfg) -> GANEConfig:
    """The :class:`GANEConfig` (``gane`` section; the renderer's settings from ``encoder``)."""
    g, e = cfg.gane, cfg.encoder
    return GANEConfig(gat_layers=int(g.gat_layers), gat_heads=int(g.gat_heads),
                      transformer_depth=int(g.transformer_depth),
                      transformer_heads=int(g.transformer_heads), mlp_ratio=float(g.mlp_ratio),
                      landmark_weight=float(g.landmark_weight),
                      relative_weight=float(g.relative_weight),
                      feature_weight=float(g.feature_weight), expression_reg=float(g.expression_reg),
                      pose_reg=float(g.pose_reg), camera_reg=float(g.camera_reg),
                      sigma=float(e.sigma), gamma=float(e.gamma), k=int(e.k), lr=float(g.lr),
                      warmup=int(g.warmup), checkpoint_every=int(g.checkpoint_every),
                      log_every=int(g.log_every))  # fmt: skip


def emoca_config(cfg) -> EncoderConfig:
    """The EMOCA-like fine-tuning's :class:`EncoderConfig`: :func:`encoder_config` with the
    ``emoca`` section's ``lr`` and ``warmup``."""
    e = cfg.emoca
    return dataclasses.replace(encoder_config(cfg), lr=float(e.lr), warmup=int(e.warmup))


# ------------------------------------------------------------------------------------ stages


def _spaced(rows: np.ndarray, n: int) -> np.ndarray:
    """``n`` evenly spaced entries of ``rows`` (all of them when n is 0 or >= len)."""
    if n <= 0 or n >= rows.size:
        return rows
    return rows[np.round(np.linspace(0, rows.size - 1, n)).astype(np.int64)]


def evaluation_rows(data: AuganeData, per_subject: int) -> np.ndarray:
    """``per_subject`` evenly spaced valid frames of each test subject (0: all)."""
    valid = data.split_rows("test")
    out = [_spaced(valid[data.subject[valid] == s], per_subject) for s in data.test_subjects]
    return np.concatenate([r for r in out if r.size]) if out else valid[:0]


def _key(cfg, i: int) -> jax.Array:
    return jax.random.fold_in(jax.random.key(int(cfg.seed)), i)


def run_stages(cfg, run: Run, data: AuganeData | None = None) -> Stages:
    """Stages 1-6 of the module docstring (the tables come after).

    Args:
        cfg: the experiment config.
        run: the :class:`aujax.train.Run` (workdir, train or restore, log).
        data: in-memory data instead of the configured (tests).

    Returns:
        :class:`Stages`.
    """
    timings: dict = {}
    t0 = time.perf_counter()
    data = load_augane_data(cfg, run.log) if data is None else data
    timings["data"] = time.perf_counter() - t0
    model = data.model
    train = data.split_rows("train")
    run.log(f"split (fold {int(cfg.split.fold)}): {len(data.train_subjects)} training subjects "
            f"({train.size} frames with landmarks), test {list(data.test_subjects)}")  # fmt: skip
    x_train = data.float_images(train)
    det_cfg, enc_cfg, gane_cfg = detector_config(cfg), encoder_config(cfg), gane_config(cfg)
    states = {}

    t0 = time.perf_counter()
    d = cfg.detector
    states["detector"] = run.fit(("detector",), lambda run_dir, progress, restore: (
        train_au_detector(x_train, data.labels[train], key=_key(cfg, 1), steps=int(d.steps),
                          batch_size=int(d.batch_size), config=det_cfg,
                          threshold=float(d.threshold), workdir=run_dir, restore=restore,
                          progress=progress)))  # fmt: skip
    timings["detector"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    e = cfg.encoder
    states["encoder"] = run.fit(("deca_like",), lambda run_dir, progress, restore: (
        train_global_encoder(x_train, data.landmarks[train], model, key=_key(cfg, 2),
                             steps=int(e.steps), batch_size=int(e.batch_size), config=enc_cfg,
                             workdir=run_dir, restore=restore, progress=progress)))  # fmt: skip
    timings["DECA-like encoder"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    g = cfg.gane
    gane_rows = _spaced(train, int(g.frames))
    x_gane = data.float_images(gane_rows)
    probs, nodes = predict_aus(states["detector"], x_gane)
    deca, feats = encode(states["encoder"], x_gane, model, config=enc_cfg)
    timings["features"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    states["gane"] = run.fit(("augane",), lambda run_dir, progress, restore: (
        train_gane(states["detector"], nodes=nodes, global_features=feats,
                   landmarks=data.landmarks[gane_rows], probabilities=probs, deca=deca,
                   model=model, key=_key(cfg, 3), steps=int(g.steps),
                   batch_size=int(g.batch_size), size=int(cfg.data.image_size), aus=data.aus,
                   config=gane_cfg, workdir=run_dir, restore=restore,
                   progress=progress)))  # fmt: skip
    timings["GANE"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    m = cfg.emoca
    states["emoca"] = run.fit(("emoca_like",), lambda run_dir, progress, restore: (
        train_emoca(states["detector"], states["encoder"], x_gane, nodes=nodes, deca=deca,
                    model=model, key=_key(cfg, 4), steps=int(m.steps),
                    batch_size=int(m.batch_size), config=emoca_config(cfg), workdir=run_dir,
                    restore=restore, progress=progress)))  # fmt: skip
    timings["EMOCA-like"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    rows = evaluation_rows(data, int(cfg.eval.frames_per_subject))
    x = data.float_images(rows)
    input_probs, input_nodes = predict_aus(states["detector"], x)
    deca, feats = encode(states["encoder"], x, model, config=enc_cfg)
    params = {
        "AUGANE": predict_gane(
            states["gane"],
            nodes=input_nodes,
            global_features=feats,
            deca=deca,
            model=model,
            size=int(cfg.data.image_size),
            aus=data.aus,
            config=gane_cfg,
        ),  # fmt: skip
        "DECA-like": deca,
        "EMOCA-like": predict_emoca(states["emoca"], x, deca, model, config=emoca_config(cfg)),
        NEUTRAL: dataclasses.replace(deca, expression=np.zeros_like(deca.expression)),
    }
    renders, alphas, render_probs = {}, {}, {}
    for name, p in tqdm(params.items(), desc="render + detect", leave=False):
        renders[name], alphas[name] = render_faces(p, model, size=int(cfg.data.image_size),
                                                   blend=enc_cfg.blend)  # fmt: skip
        render_probs[name] = predict_aus(states["detector"], renders[name])[0]
    timings["evaluation"] = time.perf_counter() - t0
    return Stages(cfg=cfg, data=data, states=states, rows=rows, input_probs=input_probs,
                  params=params, renders=renders, alphas=alphas, render_probs=render_probs,
                  timings=timings)  # fmt: skip


# ------------------------------------------------------------------------------------ metrics


def agreement_f1(reference: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The paper's F1 agreement: the detector's decisions on the renders (``probs >= 0.5``)
    scored against its decisions on the inputs (``reference >= 0.5``), per AU.

    Args:
        reference: (n, n_aus) probabilities on the input images.
        probs: (n, n_aus) probabilities on the renders.

    Returns:
        ``(f1 (n_aus,), defined (n_aus,) bool)``: an AU the input never shows has no defined F1
        (it is 0 in ``f1``, :func:`aujax.train.f1_score`'s convention).
    """
    ref = (np.asarray(reference) >= 0.5).astype(np.int64)
    return f1_score(np.asarray(probs), ref), ref.sum(axis=0) > 0


def landmark_errors(params: FaceParams, data: AuganeData, rows: np.ndarray) -> dict:
    """The beyond-the-paper landmark errors of one method on ``rows`` (module docstring).

    Returns:
        ``{"3d_cm", "expression_cm", "2d_px"}``: means over frames and the 68 points.
    """
    model = data.model
    p = jax.tree.map(np.asarray, params)

    @jax.jit
    def points(p):
        def one(q):
            lm = model.landmarks(q.identity, q.expression, scheme=68)
            rest = model.landmarks(q.identity, 0.0 * q.expression, scheme=68)
            lm2 = decode(q, model, size=int(data.images.shape[1]), landmarks=68,
                         render=False).landmarks  # fmt: skip
            return lm, rest, lm2

        return jax.vmap(one)(p)

    lm, rest, lm2 = (np.asarray(a, np.float64) for a in points(p))
    truth = np.asarray(data.landmarks_3d[rows], np.float64)
    neutral = {s: rest_landmarks(model, data.rest[s]) for s in dict.fromkeys(data.subject[rows])}
    truth_rest = np.stack([neutral[s] for s in data.subject[rows]])
    aligned = np.stack([_similarity_align(a, b) for a, b in zip(lm, truth, strict=True)])
    e3 = np.linalg.norm(aligned - truth, axis=-1).mean()
    ex = np.linalg.norm((lm - rest) - (truth - truth_rest), axis=-1).mean()
    e2 = np.linalg.norm(lm2 - np.asarray(data.landmarks_clean[rows], np.float64), axis=-1).mean()
    return {"3d_cm": float(e3), "expression_cm": float(ex), "2d_px": float(e2)}


def rest_landmarks(model: MorphableModel, vertices: np.ndarray) -> np.ndarray:
    """(68, 3) the model's landmark embedding applied to a mesh of its layout (a subject's rest
    mesh: the truth's neutral landmarks)."""
    idx = np.asarray(model.landmark_indices)
    w = np.asarray(model.landmark_weights, np.float64)
    return np.einsum("kj,kjd->kd", w, np.asarray(vertices, np.float64)[idx])


def _similarity_align(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a`` (k, 3) moved by the least-squares similarity (Umeyama, no reflection) onto ``b``."""
    ma, mb = a.mean(0), b.mean(0)
    a0, b0 = a - ma, b - mb
    u, s, vt = np.linalg.svd(b0.T @ a0)
    d = np.sign(np.linalg.det(u @ vt))
    dm = np.diag([1.0, 1.0, d])
    r = u @ dm @ vt
    scale = np.trace(np.diag(s) @ dm) / np.sum(a0 * a0)
    return scale * a0 @ r.T + mb


# ------------------------------------------------------------------------------------- tables


def _table2(st: Stages, report: Report) -> dict:
    d = st.data
    names = (*METHODS, NEUTRAL)
    table, detail = {}, {}
    for s in d.test_subjects:
        m = d.subject[st.rows] == s
        if not np.any(m):
            continue
        row = {}
        for name in names:
            f1, defined = agreement_f1(st.input_probs[m], st.render_probs[name][m])
            if np.any(defined):  # else empty: the subject's inputs show no AU
                row[name] = float(f1[defined].mean())
        row["AUs detected"] = int(agreement_f1(st.input_probs[m], st.input_probs[m])[1].sum())
        table[s] = row
        detail[s] = row
    avg = {n: float(np.mean([r[n] for r in table.values() if n in r])) for n in names
           if any(n in r for r in table.values())}  # fmt: skip
    table["Avg."] = avg
    for i, method in enumerate(METHODS):
        for s, vals in PAPER_TABLE2.items():
            table.setdefault(f"paper {s}", {})[method] = vals[i]
        rows_mean = float(np.mean([v[i] for v in PAPER_TABLE2.values()]))
        table.setdefault("paper Avg. (printed)", {})[method] = PAPER_TABLE2_AVG[i]
        table.setdefault("paper Avg. (of its rows)", {})[method] = rows_mean
    cols = [*names, "AUs detected"]
    title = (f"Table 2 — F1 agreement per test subject: the detector on the render vs on the input "
             f"({d.src}, fold {int(st.cfg.split.fold)}, {st.rows.size} frames)")  # fmt: skip
    note = ("Per subject: the mean F1 over the AUs the detector finds at least once in that "
            "subject's inputs ('AUs detected'). 'neutral face': the DECA-like face with expression "
            "0 (no method can do worse by reading nothing). Paper rows: real DISFA, nine videos "
            "chosen for their AU activity; subject numbers are not ours (our test subjects are "
            "fold 1's), so compare the averages.")  # fmt: skip
    report.section("table2", error_table_markdown(table, columns=cols, label="subject",
                                                  title=title, precision=2, note=note),
                   error_table_csv(table, columns=cols, label="subject"))  # fmt: skip
    return {"rows": detail, "avg": avg}


def _table3(st: Stages, report: Report) -> dict:
    d = st.data
    names = (*METHODS, NEUTRAL)
    table, out = {}, {}
    for name in names:
        f1, defined = agreement_f1(st.input_probs, st.render_probs[name])
        out[name] = {"f1": f1.tolist(), "defined": defined.tolist()}
    for j, au in enumerate(d.aus):
        row = {n: out[n]["f1"][j] for n in names if out[n]["defined"][j]}  # empty: undefined
        for i, method in enumerate(METHODS):
            if au in PAPER_TABLE3:
                row[f"paper {_PAPER_NAMES[method]}"] = PAPER_TABLE3[au][i]
        table[f"AU{au}"] = row
    avg = {n: float(np.mean([r[n] for r in table.values() if n in r])) for n in names
           if any(n in r for r in table.values())}  # fmt: skip
    for i, method in enumerate(METHODS):
        avg[f"paper {_PAPER_NAMES[method]}"] = float(np.mean([v[i] for v in PAPER_TABLE3.values()]))
    table["Avg."] = avg
    cols = [*names] + [f"paper {_PAPER_NAMES[m]}" for m in METHODS]
    title = (f"Table 3 — F1 agreement per AU (pooled over the {st.rows.size} test frames): the "
             f"detector on the render vs on the input")  # fmt: skip
    note = ("Paper columns: its 12 ME-GraphAU AUs where they are DISFA's (it has 7, 10, 23 "
            "instead of our 6, 17, 25); its 'Avg.' here is the mean of all its 12 rows (0.36 / "
            "0.17 / 0.28), not the 0.39 / 0.18 / 0.30 its text gives. Empty: the input never "
            "shows the AU.")  # fmt: skip
    report.section("table3", error_table_markdown(table, columns=cols, label="AU", title=title,
                                                  precision=2, note=note),
                   error_table_csv(table, columns=cols, label="AU"))  # fmt: skip
    return {"per_au": out, "avg": avg}


def _beyond(st: Stages, report: Report) -> dict:
    d = st.data
    y = presence_labels(d.labels[st.rows], threshold=float(st.cfg.detector.threshold))
    rows = {"detector on the input": {"F1 vs labels": float(f1_score(st.input_probs, y).mean())}}
    for name in (*METHODS, NEUTRAL):
        r = {"F1 vs labels": float(f1_score(st.render_probs[name], y).mean())}
        r.update(landmark_errors(st.params[name], d, st.rows))
        rows[name] = r
    cols = ["F1 vs labels", "3d_cm", "expression_cm", "2d_px"]
    title = ("Beyond the paper — against the synthetic truth: the detector's F1 against the true "
             "labels (on the inputs; on each method's renders), landmark errors")  # fmt: skip
    note = ("F1: mean over the 12 AUs, presence = intensity >= "
            f"{st.cfg.detector.threshold:g}. 3d_cm: the 68 model landmarks after a similarity "
            "alignment to the true 3D landmarks (identity and expression), mean per point; "
            "expression_cm: the landmarks' displacement from the face's own neutral (ours from "
            "the estimated identity with expression 0, the truth's from the subject's rest mesh), "
            "mean per point, no alignment; 2d_px: projected landmarks vs the clean crop "
            "landmarks.")  # fmt: skip
    report.section("beyond", error_table_markdown(table := rows, columns=cols, label="method",
                                                  title=title, precision=3, note=note),
                   error_table_csv(table, columns=cols, label="method"))  # fmt: skip
    return rows


def _figure(st: Stages, path: pathlib.Path) -> None:
    """Input, each method's render and its error map for ``eval.figure_frames`` test frames
    (the frames where the detector finds the most AUs in the input, one per subject first)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(1, int(st.cfg.eval.figure_frames))
    active = (st.input_probs >= 0.5).sum(axis=1)
    subj = st.data.subject[st.rows]
    picks = []
    for s in dict.fromkeys(subj.tolist()):
        idx = np.flatnonzero(subj == s)
        picks.append(idx[np.argmax(active[idx])])
    picks = sorted(picks, key=lambda i: -active[i])[:n]
    x = st.data.float_images(st.rows[picks])
    cols = ["input", *METHODS, "AUGANE |error|"]
    fig, axes = plt.subplots(len(picks), len(cols), figsize=(2.0 * len(cols), 2.1 * len(picks)),
                             squeeze=False)  # fmt: skip
    for r, i in enumerate(picks):
        on = [f"{a}" for a, p in zip(st.data.aus, st.input_probs[i], strict=True) if p >= 0.5]
        panels = [x[r]] + [st.renders[m][i] for m in METHODS]
        err = np.abs(st.renders["AUGANE"][i] - x[r]).mean(-1) * st.alphas["AUGANE"][i]
        for c, img in enumerate(panels):
            axes[r, c].imshow(np.clip(img, 0, 1))
        axes[r, -1].imshow(err, cmap="magma", vmin=0, vmax=0.5)
        axes[r, 0].set_ylabel(f"{subj[i]} f{int(st.data.frame[st.rows[i]])}\nAUs {','.join(on)}",
                              fontsize=7)  # fmt: skip
        for c, name in enumerate(cols):
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
            if r == 0:
                axes[r, c].set_title(name, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _save_outputs(st: Stages, workdir: pathlib.Path) -> None:
    out = pathlib.Path(workdir) / "outputs"
    out.mkdir(exist_ok=True)
    arrays = {"rows": st.rows, "input_probs": st.input_probs}
    for name in st.params:
        slug = name.lower().replace(" ", "_").replace("-", "_")
        arrays[f"{slug}_probs"] = st.render_probs[name]
        arrays[f"{slug}_renders"] = (st.renders[name] * 255).round().astype(np.uint8)
        for f in dataclasses.fields(FaceParams):
            arrays[f"{slug}_{f.name}"] = np.asarray(getattr(st.params[name], f.name))
    np.savez_compressed(out / "eval.npz", **arrays)


def train_and_evaluate(config, workdir, *, train: bool = True, step="latest", echo=print,
                       data: AuganeData | None = None) -> dict:  # fmt: skip
    """Runs (or, with ``train=False``, restores and re-evaluates) the seed 003 experiment.

    Args:
        config: the ``get_config()`` ConfigDict (experiments/configs/disfa_augane.py).
        workdir: the run directory; a rerun with the same config resumes (finished networks are
            restored, the others trained from their newest checkpoint).
        train: False restores every network (``python -m experiments.evaluate``).
        step: the checkpoint restored when ``train`` is False.
        echo: where progress lines and tables go (None: silent).
        data: optional :class:`AuganeData` instead of the configured data.

    Returns:
        dict with ``table2``, ``table3``, ``beyond``, ``data``, ``split`` and ``timings``.
    """
    cfg = config
    if cfg.get("experiment", None) != EXPERIMENT:
        raise ValueError(f"config.experiment must be {EXPERIMENT!r}, got "
                         f"{cfg.get('experiment')!r}.")  # fmt: skip
    run = Run(cfg, workdir, experiment=EXPERIMENT, train=train, step=step, echo=echo)
    st = run_stages(cfg, run, data)
    report = Report()
    d = st.data
    results = {
        "table2": _table2(st, report),
        "table3": _table3(st, report),
        "beyond": _beyond(st, report),
        "data": {"src": d.src, "subjects": len(d.train_subjects) + len(d.test_subjects),
                 "frames": int(d.labels.shape[0]), "evaluation_frames": int(st.rows.size),
                 "n_id": d.model.n_id, "n_exp": d.model.n_exp, "n_vertices": d.model.n_vertices,
                 "aus": list(d.aus)},
        "split": {"fold": int(cfg.split.fold), "train": list(d.train_subjects),
                  "test": list(d.test_subjects)},
    }  # fmt: skip
    run.log("stage times (s): " + ", ".join(f"{k} {v:.0f}" for k, v in st.timings.items()))
    if train:
        _save_outputs(st, run.workdir)
        results["timings"] = dict(st.timings)
        (run.workdir / "results").mkdir(exist_ok=True)
        _figure(st, run.workdir / "results" / "qualitative.png")
    run.finish(report, results)
    return results
