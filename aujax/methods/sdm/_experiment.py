"""The experiment of seed 004: ``train_and_evaluate(config, workdir)`` (``experiments.bosphorus_sdm``).

FaceWarehouse-like meshes -> bilinear model (HOSVD, eqs. 2-3) -> Bosphorus-like samples (failed
detections dropped) -> landmark fitting (eqs. 6-7) as the initial estimate -> cascades of ridge
regressors (eqs. 8-13, Algorithm 1) trained on the training subjects -> errors (eqs. 14-15) on the
test subjects, over ``cv_runs`` cross-validation runs of ``train_subjects`` / ``test_subjects``
(the paper: five runs of 100 / 5 of Bosphorus' 105 subjects). Per run three cascades:

* ``ours`` on every sample class (figs. 4, 5, 3 and the FaceWarehouse cross-set table);
* ``ours_neutral`` and ``hog_neutral`` on the frontal neutral samples only (Table 1 and fig. 7:
  "for fair comparison, only frontal neutral face samples were used for the training and testing");
  ``hog_neutral`` regresses the camera from HOG alone (stands in for Zhu et al.).

The alpha of each stage is chosen on ``cascade.validation_subjects`` training subjects held out
of that cascade's training (:func:`aujax.methods.sdm.select_alphas`).

A run's workdir::

    config.json                          the resolved config (``experiment = "bosphorus_sdm"``)
    runs/run<r>/<cascade>/checkpoints/   cascade.npz (the trained cascade) and split.json
    results/tables.md, <table>.csv, results.json
    figures/ced.png, error_maps.png

``python -m experiments.evaluate --workdir W`` restores every cascade and reprints the tables
(the data, landmark fits and ground truth are deterministic and cached).
"""

import functools
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from ...synth import TEMPLATE_TAG
from ...train import (
    Report,
    Run,
    ced,
    error_table_csv,
    error_table_markdown,
    grouped_errors,
    reconstruction_errors,
)
from ._cascade import Cascade, apply_cascade_batch, select_alphas
from ._data import SdmData, camera_vector, cross_set_samples, load_sdm_data
from ._fitting import fit_landmarks
from ._pipeline import make_method
from ._ridge import RidgeRegressor


__all__ = [
    "EXPERIMENT",
    "PAPER_TABLE1",
    "TABLE1_ROWS",
    "cv_splits",
    "load_cascade",
    "save_cascade",
    "train_and_evaluate",
]

EXPERIMENT = "bosphorus_sdm"
TABLE1_ROWS = {
    "hog": "HOG-only cascade (camera regressed; stands in for Zhu et al.)",
    "landmarks": "landmark fitting only",
    "ours": "ours (landmarks + HOG cascade)",
}
#: Table 1 of seed 004 (RMSE, eq. 14, mm): against S (the model fitted to the scan) and M (the
#: Laplacian-deformed mesh), on the central ("Center") and the whole face.
PAPER_TABLE1 = {
    "paper: Zhu et al. [6]": {"rmse_S_central": 2.7586, "rmse_S_whole": 3.0641,
                              "rmse_M_central": 2.8437, "rmse_M_whole": 3.8224},
    "paper: ours": {"rmse_S_central": 2.4628, "rmse_S_whole": 2.8522,
                    "rmse_M_central": 2.6308, "rmse_M_whole": 3.5101},
}  # fmt: skip
_COLUMNS = [
    f"{m}_{t}_{r}" for m in ("rmse", "mae") for t in ("S", "M") for r in ("central", "whole")
]
_EXPRESSIONS = ("NEUTRAL", "ANGER", "DISGUST", "FEAR", "HAPPY", "SADNESS", "SURPRISE", "AU")
_YAWS = ("0", "10", "20", "30", "45", "90", "no label")


# ------------------------------------------------------------------------------------------------
# cascades on disk


_CASCADE_ARRAYS = ("rss", "residual", "objective", "guarded", "held_out_residual", "alpha_errors")


def save_cascade(path, cascade: Cascade) -> None:
    """Writes a :class:`Cascade` to ``path`` (``.npz``, plain arrays, no pickle)."""
    arrays = {f"reg_{k}": np.asarray(getattr(cascade.regressors, k))
              for k in ("coef", "intercept", "alpha", "penalty")}  # fmt: skip
    for k in _CASCADE_ARRAYS:
        v = getattr(cascade, k)
        if v is not None:
            arrays[k] = np.asarray(v)
    meta = {"rows": cascade.rows, "fit_intercept": cascade.fit_intercept,
            "standardize": cascade.standardize, "solver": cascade.solver}  # fmt: skip
    np.savez(path, meta=np.str_(json.dumps(meta)), **arrays)


def load_cascade(path) -> Cascade:
    """Reads a cascade written by :func:`save_cascade`.

    Raises:
        ValueError: naming the file, when it is not such a file.
    """
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: not a cascade .npz file ({err})") from None
    with z:
        need = ["meta", "reg_coef", "reg_intercept", "reg_alpha", "reg_penalty", "rss"]
        missing = [k for k in need if k not in z.files]
        if missing:
            raise ValueError(f"{path}: not a cascade file, missing {missing}.")
        meta = json.loads(str(z["meta"]))
        reg = RidgeRegressor(**{k: jnp.asarray(z[f"reg_{k}"])
                                for k in ("coef", "intercept", "alpha", "penalty")})  # fmt: skip
        extra = {k: (jnp.asarray(z[k]) if k in z.files else None) for k in _CASCADE_ARRAYS}
    return Cascade(regressors=reg, **extra, **meta)


# ------------------------------------------------------------------------------------------------
# splits and initial estimates


def cv_splits(subjects, *, runs: int, train: int, test: int, seed: int) -> list[tuple[list, list]]:
    """``runs`` (train subjects, test subjects) pairs: disjoint test sets of ``test`` subjects
    drawn (seeded) without replacement, training on ``train`` of the others (all: 0).

    Raises:
        ValueError: fewer subjects than ``runs * test``, or too few left to train on.
    """
    pool = sorted(set(subjects))
    if runs * test > len(pool):
        raise ValueError(f"cv: {runs} runs x {test} test subjects need {runs * test} subjects, "
                         f"the data has {len(pool)}.")  # fmt: skip
    order = list(np.random.default_rng(seed).permutation(pool))
    out = []
    for r in range(runs):
        te = sorted(order[r * test : (r + 1) * test])
        rest = [s for s in order if s not in te]
        tr = sorted(rest if train <= 0 else rest[:train])
        if len(tr) < 2:
            raise ValueError(f"cv run {r}: fewer than 2 training subjects.")
        out.append((tr, te))
    return out


@functools.partial(jax.jit, static_argnames=("n_iterations",))
def _fit_all(model, landmarks, lv, lam_id, lam_exp, *, n_iterations):
    fit = functools.partial(fit_landmarks, model, landmark_vertices=lv, n_iterations=n_iterations,
                            lambda_id=lam_id, lambda_exp=lam_exp)  # fmt: skip
    return jax.vmap(lambda lm: fit(lm))(landmarks)


def landmark_init(data: SdmData, cfg) -> tuple[np.ndarray, np.ndarray]:
    """The landmark fit of every sample (eqs. 6-7): ``g0`` (N, P) and camera vectors (N, 6)."""
    r = _fit_all(data.model, jnp.asarray(data.landmarks), jnp.asarray(data.landmark_vertices),
                 float(cfg.fit.lambda_id), float(cfg.fit.lambda_exp),
                 n_iterations=int(cfg.fit.n_iterations))  # fmt: skip
    g0 = np.concatenate([np.asarray(r.w_id), np.asarray(r.w_exp)], axis=1).astype(np.float32)
    cams = np.stack([camera_vector(jax.tree.map(lambda a, k=k: a[k], r.camera))
                     for k in range(g0.shape[0])]).astype(np.float32)  # fmt: skip
    return g0, cams


# ------------------------------------------------------------------------------------------------
# one cascade


def _train_cascade(run_dir, *, progress, restore, ex, method, rows, val_rows):
    """Trains (or restores: a cascade.npz in ``run_dir/checkpoints``) one cascade."""
    path = pathlib.Path(run_dir) / "checkpoints" / "cascade.npz"
    if path.is_file():  # a finished cascade: restore (resume, or evaluation)
        return load_cascade(path)
    if restore is not None:
        raise ValueError(f"{path}: no saved cascade to evaluate.")
    c, m = ex.cfg.cascade, ex.methods[method]
    g0, target = ex.start[method], ex.target[method]
    bar = tqdm(total=int(c.stages), desc=progress, leave=False)

    def step(k, info):
        bar.set_postfix(residual=f"{info['residual']:.4f}",
                        held_out=f"{info.get('held_out_residual', float('nan')):.4f}")  # fmt: skip
        bar.update(1)

    cascade = select_alphas(
        init_g=g0[rows], target_g=target[rows], samples=ex.data.take(rows),
        held_out_init_g=g0[val_rows], held_out_target_g=target[val_rows],
        held_out_samples=ex.data.take(val_rows), features=m.features, camera=m.camera,
        stages=int(c.stages), alphas=tuple(float(a) for a in c.alphas),
        perturbations=int(c.perturbations), perturbation_scale=float(c.perturbation_scale),
        key=jax.random.key(int(ex.cfg.seed)), chunk=int(c.chunk), standardize=bool(c.standardize),
        solver=c.solver, progress=step,
    )  # fmt: skip
    bar.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_cascade(path, cascade)
    (path.parent / "split.json").write_text(json.dumps(
        {"train": sorted(set(ex.data.subjects[rows].tolist())),
         "validation": sorted(set(ex.data.subjects[val_rows].tolist())),
         "rows": int(rows.size), "validation_rows": int(val_rows.size)}, indent=2))  # fmt: skip
    return cascade


def _predict(ex, method: str, cascade: Cascade, rows: np.ndarray) -> np.ndarray:
    """(B, V, 3) reconstructed meshes of ``rows`` (the cascade from the landmark fit)."""
    m = ex.methods[method]
    fit = apply_cascade_batch(cascade, ex.start[method][rows], ex.data.take(rows),
                              features=m.features, camera=m.camera,
                              chunk=int(ex.cfg.cascade.chunk))  # fmt: skip
    return _meshes(ex, np.asarray(fit.g))


def _meshes(ex, g: np.ndarray) -> np.ndarray:
    n_id, n_exp = ex.data.model.n_id, ex.data.model.n_exp
    verts = jax.jit(jax.vmap(ex.data.model.vertices))
    return np.asarray(verts(jnp.asarray(g[:, :n_id]), jnp.asarray(g[:, n_id : n_id + n_exp])))


class _Experiment:
    def __init__(self, cfg, data: SdmData):
        self.cfg, self.data = cfg, data
        self.methods = {name: make_method(name, data.model, data.landmark_vertices, cfg.features)
                        for name in ("ours", "hog")}  # fmt: skip
        g0, cam0 = landmark_init(data, cfg)
        self.g0 = g0
        self.start = {"ours": g0, "hog": np.concatenate([g0, cam0], axis=1)}
        self.target = {"ours": data.g_star,
                       "hog": np.concatenate([data.g_star, data.camera_target], axis=1)}  # fmt: skip


def _errors(ex, pred: np.ndarray, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Per-sample eqs. 14-15 (in ``eval.unit``) against S* and M on the central and whole face."""
    d, scale = ex.data, float(ex.cfg.eval.unit_scale)
    regions = {"central": d.central, "whole": None}
    out = {}
    for t, target in (("S", d.s_star[rows]), ("M", d.mesh[rows])):
        e = reconstruction_errors(pred, target, regions=regions, align=ex.cfg.eval.align)
        for k, v in e.items():
            metric, region = k.split("_", 1)
            out[f"{metric}_{t}_{region}"] = scale * v
    return out


# ------------------------------------------------------------------------------------------------
# the run


def train_and_evaluate(config, workdir, *, train: bool = True, step="latest", data=None,
                       echo=print) -> dict:  # fmt: skip
    """Runs (or, with ``train=False``, restores and re-evaluates) the seed 004 experiment.

    Args:
        config: the ``get_config()`` ConfigDict (experiments/configs/bosphorus_sdm.py).
        workdir: the run directory; a rerun with the same config resumes (finished cascades are
            restored, the others trained).
        train: False restores every cascade from ``runs/`` (``python -m experiments.evaluate``).
        step: accepted for the launcher's interface; a cascade has one saved state.
        data: optional :class:`SdmData` to use instead of loading the configured data.
        echo: where progress lines and tables go (None: silent).

    Returns:
        dict with ``table1`` (method -> column -> mean), ``by_expression``, ``by_yaw``,
        ``ced``, ``facewarehouse`` (cross-set), ``runs`` (per-run splits and means) and ``data``.
    """
    cfg = config
    if cfg.get("experiment", None) != EXPERIMENT:
        raise ValueError(
            f"config.experiment must be {EXPERIMENT!r}, got {cfg.get('experiment')!r}."
        )
    del step
    run = Run(cfg, workdir, experiment=EXPERIMENT, train=train, echo=echo,
              provenance={"synthetic_generator": TEMPLATE_TAG})  # fmt: skip
    with run.timed("data"):
        data = load_sdm_data(cfg, run.log) if data is None else data
    ex = _Experiment(cfg, data)
    splits = cv_splits(data.subjects, runs=int(cfg.cv.runs), train=int(cfg.cv.train_subjects),
                       test=int(cfg.cv.test_subjects), seed=int(cfg.seed))  # fmt: skip
    ex.splits, ex.ours_models = splits, []
    neutral = data.classes == "N_N"
    t1 = {k: [] for k in TABLE1_ROWS}  # per-sample error dicts, all runs
    t1_rows, all_rows, ours_all, lm_all, runs = [], [], [], [], []
    ours_models = ex.ours_models
    for r, (tr_s, te_s) in enumerate(tqdm(splits, desc="cv runs", leave=False)):
        n_val = int(cfg.cascade.validation_subjects)
        val_s, fit_s = tr_s[:n_val], tr_s[n_val:]
        if not fit_s or not val_s:
            raise ValueError(f"cv run {r}: cascade.validation_subjects={n_val} leaves no training "
                             "or no validation subject.")  # fmt: skip
        fit_m, val_m, te_m = (np.isin(data.subjects, s) for s in (fit_s, val_s, te_s))
        rows = {}
        for name, method, mask in (("ours", "ours", None), ("ours_neutral", "ours", neutral),
                                   ("hog_neutral", "hog", neutral)):  # fmt: skip
            sel = np.ones_like(neutral) if mask is None else mask
            fr, vr = np.flatnonzero(fit_m & sel), np.flatnonzero(val_m & sel)
            if fr.size == 0 or vr.size == 0:
                raise ValueError(f"cv run {r}: no {name} training or validation samples.")
            rows[name] = run.fit((f"run{r}", name), functools.partial(
                _train_cascade, ex=ex, method=method, rows=fr, val_rows=vr))  # fmt: skip
        te_all, te_n = np.flatnonzero(te_m), np.flatnonzero(te_m & neutral)
        ours_models.append(rows["ours"])
        # Table 1 and fig. 7: frontal neutral test samples
        if te_n.size:
            preds = {"ours": _predict(ex, "ours", rows["ours_neutral"], te_n),
                     "hog": _predict(ex, "hog", rows["hog_neutral"], te_n),
                     "landmarks": _meshes(ex, ex.g0[te_n])}  # fmt: skip
            for k, p in preds.items():
                t1[k].append(_errors(ex, p, te_n))
            t1_rows.append(te_n)
        # figs. 4, 5, 3: every test sample
        p_ours = _predict(ex, "ours", rows["ours"], te_all)
        ours_all.append(_errors(ex, p_ours, te_all))
        lm_all.append(_errors(ex, _meshes(ex, ex.g0[te_all]), te_all))
        all_rows.append(te_all)
        runs.append({"train": tr_s, "test": te_s, "validation": val_s,
                     "test_samples": int(te_all.size), "test_neutral": int(te_n.size),
                     "ours_mae_M_whole": float(np.mean(ours_all[-1]["mae_M_whole"])),
                     "landmarks_mae_M_whole": float(np.mean(lm_all[-1]["mae_M_whole"])),
                     "stage_alphas": {k: np.asarray(v.alphas).tolist() for k, v in rows.items()},
                     "train_residual": {k: np.asarray(v.residual).tolist() for k, v in rows.items()},
                     "held_out_residual": {k: np.asarray(v.held_out_residual).tolist()
                                           for k, v in rows.items()}})  # fmt: skip
        run.log(f"run {r}: test {te_s}: MAE vs M (whole, {cfg.eval.unit}) ours "
                f"{runs[-1]['ours_mae_M_whole']:.3f}, landmark fit "
                f"{runs[-1]['landmarks_mae_M_whole']:.3f}")  # fmt: skip
    cat = lambda parts: {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}  # noqa: E731
    all_rows = np.concatenate(all_rows)
    ours_e, lm_e = cat(ours_all), cat(lm_all)
    report = Report()
    results: dict = {"data": _data_record(data), "runs": runs}
    unit = cfg.eval.unit
    if t1_rows:
        t1e = {k: cat(v) for k, v in t1.items()}
        results["table1"] = _table1(report, t1e, data, unit, sum(r.size for r in t1_rows))
        results["ced"] = _ced_record(t1e)
    else:
        t1e = None
        run.log("Table 1: no frontal neutral (N_N) test sample in the configured classes.")
    results["by_expression"] = _grouped(report, "fig4_expression", ours_e, lm_e,
                                        data.expression[all_rows], _EXPRESSIONS,
                                        "Fig. 4 — MAE (eq. 15) by expression class", unit)  # fmt: skip
    results["by_yaw"] = _grouped(report, "fig5_yaw", ours_e, lm_e, data.yaw[all_rows], _YAWS,
                                 "Fig. 5 — MAE (eq. 15) by absolute yaw (degrees)", unit)  # fmt: skip
    results["facewarehouse"] = _cross_set(report, ex, ours_models, unit)
    if train and cfg.figures:
        from ._figures import ced_figure, error_map_figure

        figs = run.workdir / "figures"
        figs.mkdir(exist_ok=True)
        if t1e is not None:
            ced_figure(figs / "ced.png", t1e, TABLE1_ROWS, unit)
        error_map_figure(figs / "error_maps.png", ex, all_rows, ours_all, splits, ours_models,
                         unit)  # fmt: skip
        run.log(f"figures: {figs}")
    run.finish(report, results)
    return results


def _data_record(d: SdmData) -> dict:
    return {"src": d.src, "listed": d.n_listed, "kept": int(d.stems.size),
            "dropped_fraction": 1 - d.stems.size / d.n_listed,
            "subjects": int(np.unique(d.subjects).size), "n_id": d.model.n_id,
            "n_exp": d.model.n_exp, "n_vertices": d.model.n_vertices,
            "central_vertices": int(d.central.size)}  # fmt: skip


def _table1(report, t1e, data, unit, n) -> dict:
    rows = {TABLE1_ROWS[k]: {c: float(np.mean(t1e[k][c])) for c in _COLUMNS}
            for k in ("hog", "landmarks", "ours")}  # fmt: skip
    rows = {**{k: {"n": n, **v} for k, v in rows.items()}, **PAPER_TABLE1}
    title = (f"Table 1 — frontal neutral test samples of the {data.src} data ({n} over the runs); "
             f"RMSE (eq. 14) and MAE (eq. 15) in {unit}")  # fmt: skip
    note = ("S = the model at g* (the model fitted to the ground truth); M = the reference mesh "
            "(synthetic: the true mesh; real data: fit_scan's Laplacian-deformed mesh). "
            "Central face: aujax.synth.central_face_vertices. The paper's rows give RMSE only, "
            "in mm, on real Bosphorus.")  # fmt: skip
    cols = ["n", *_COLUMNS]
    report.section("table1", error_table_markdown(rows, columns=cols, label="method", title=title,
                                                  note=note),
                   error_table_csv({k.replace(",", ";"): v for k, v in rows.items()},
                                   columns=cols, label="method"))  # fmt: skip
    return rows


def _grouped(report, name, ours_e, lm_e, groups, order, title, unit) -> dict:
    errors = {"ours MAE vs M": ours_e["mae_M_whole"], "landmark fit MAE vs M": lm_e["mae_M_whole"],
              "ours MAE vs S": ours_e["mae_S_whole"]}  # fmt: skip
    order = [g for g in order if g in set(groups.tolist())] + sorted(
        set(groups.tolist()) - set(order)
    )
    rows = grouped_errors(errors, list(groups), order=order, total=True)
    report.section(name, error_table_markdown(rows, label="group", title=f"{title}, {unit}, whole face"),
                   error_table_csv(rows, label="group"))  # fmt: skip
    return {str(k): v for k, v in rows.items()}


def _ced_record(t1e) -> dict:
    out = {}
    for k in t1e:
        for c in ("rmse_M_central", "rmse_M_whole"):
            th, frac = ced(t1e[k][c])
            out.setdefault(k, {})[c] = {"errors": th.tolist(), "fraction": frac.tolist()}
    return out


def _cross_set(report, ex, models, unit) -> dict:
    """Fig. 8 analogue: the cascades trained on the Bosphorus-like data, tested on renders of the
    FaceWarehouse-like subjects held out of the model (:func:`cross_set_samples`)."""
    d, cfg = ex.data, ex.cfg
    if d.fw_test is None or not models:
        return {}
    cs = cross_set_samples(d.fw_test, d.faces, n_vertices=int(cfg.data.n_vertices),
                           image_size=int(cfg.data.image_size), seed=int(cfg.seed),
                           expressions=int(cfg.data.cross_set_expressions))  # fmt: skip
    if cs["mesh"].size == 0:
        return {}
    r = _fit_all(d.model, jnp.asarray(cs["landmarks"]), jnp.asarray(d.landmark_vertices),
                 float(cfg.fit.lambda_id), float(cfg.fit.lambda_exp),
                 n_iterations=int(cfg.fit.n_iterations))  # fmt: skip
    g0 = np.concatenate([np.asarray(r.w_id), np.asarray(r.w_exp)], axis=1).astype(np.float32)
    m = ex.methods["ours"]
    samples = {"image": cs["image"], "landmarks": cs["landmarks"]}
    regions = {"central": d.central, "whole": None}
    scale = float(cfg.eval.unit_scale)

    def errs(pred):
        e = reconstruction_errors(pred, cs["mesh"], regions=regions, align=cfg.eval.align)
        return {k: scale * float(np.mean(v)) for k, v in e.items()}

    rows = {"landmark fitting only": errs(_meshes(ex, g0))}
    per_run = []
    for cascade in models:
        fit = apply_cascade_batch(cascade, g0, samples, features=m.features, camera=m.camera,
                                  chunk=int(cfg.cascade.chunk))  # fmt: skip
        per_run.append(errs(_meshes(ex, np.asarray(fit.g))))
    rows[f"ours (mean over the {len(models)} runs' cascades)"] = {
        k: float(np.mean([p[k] for p in per_run])) for k in per_run[0]
    }
    n = int(cs["mesh"].shape[0])
    rows = {k: {"n": n, **v} for k, v in rows.items()}
    title = (f"Fig. 8 analogue — cross-set: cascades trained on the {d.src} data, tested on {n} "
             f"renders of {d.fw_test.shape[0]} FaceWarehouse-like subjects held out of the model; "
             f"errors vs the true mesh, {unit}")  # fmt: skip
    report.section("fig8_facewarehouse", error_table_markdown(rows, label="method", title=title),
                   error_table_csv(rows, label="method"))  # fmt: skip
    return rows
