"""The main job of seed 001: ``train_and_evaluate(config, workdir, prepare_table=...)`` (DESIGN §7.1,
§8).

Importable from a notebook; ``python -m experiments.bp4d_physics`` is a thin launcher around it
(``experiments/_launch.py`` passes the coefficient source, see below) and
``python -m experiments.evaluate`` calls it with ``train=False`` to restore every model of a run
and reprint its tables.

The method trains on a :class:`aujax.datasets.FrameTable` with blendshape coefficients c(t); where
they come from is chosen above it: ``prepare_table`` is a callable with the signature of
:func:`aujax.methods.topdown.prepared_table` (the top-down engine's reconstruction, cached), which
the experiments layer passes.

A run's workdir::

    config.json                 the resolved config (a rerun must use the same one)
    runs/<fold>/<model>/        one model: checkpoints/, metrics.jsonl
    results/table1.{md,csv}     and table4, table5, forces
    figures/figure4.png         force magnitude vs AU labels; figure5.png forces on the mesh

Everything derived from the data (the dataset when synthetic, its TFDS files, the reconstructed
coefficients) is cached under the cache directory and shared between runs.
"""

import dataclasses
import functools

import numpy as np

from ...datasets import BP4D_AUS, DISFA_DETECTION_AUS, NOT_CODED, FrameTable, cache_root
from ...train import (
    Report,
    Run,
    SubjectFolds,
    au_header,
    csv_table,
    data_mesh,
    fold_f1_lines,
    markdown_table,
    table_f1,
)
from ._template import build_physics_template
from ._train import (
    PhysicsSpec,
    covering_windows,
    predict_image,
    predict_physics,
    train_image,
    train_physics,
)


__all__ = ["EXPERIMENT", "ROWS", "row_spec", "train_and_evaluate"]

EXPERIMENT = "bp4d_physics"
ROWS = ("3D geometry", "3D force", "3D position", "3D physics", "2D image", "physics + image")


def row_spec(row: str, cfg) -> PhysicsSpec:
    """The physics-branch model behind a table 1 row (seed 001 §4.1)."""
    lam = float(cfg.loss.reconstruction)
    m = dict(force_mode=cfg.model.force_mode, dynamics=cfg.model.dynamics)
    specs = {
        "3D geometry": PhysicsSpec(("geometry",), reconstruction=0.0, **m),
        "3D force": PhysicsSpec(("force",), reconstruction=lam, **m),
        "3D position": PhysicsSpec(("position",), reconstruction=lam, **m),
        "3D physics": PhysicsSpec(("force", "position"), reconstruction=lam, **m),
        "physics + image": PhysicsSpec(("force", "position", "image"), reconstruction=lam, **m),
    }
    if row not in specs:
        raise ValueError(f"row {row!r} has no physics-branch model (rows: {ROWS}).")
    return specs[row]


def train_and_evaluate(config, workdir, *, train: bool = True, step="latest", prepare_table=None,
                       echo=print) -> dict:  # fmt: skip
    """Runs (or, with ``train=False``, restores and re-evaluates) the whole experiment.

    Args:
        config: the ``get_config()`` ConfigDict (experiments/configs/bp4d_physics.py).
        workdir: the run directory; a rerun with the same config resumes where it stopped.
        train: False restores every model from its checkpoints instead of training
            (``python -m experiments.evaluate``); a model without checkpoints is an error.
        step: the checkpoint to evaluate when ``train`` is False: ``"latest"``, ``"best"``
            (highest validation F1; needs ``train.validation_subjects`` > 0) or an int.
        prepare_table: where the coefficients come from: ``prepare_table(kind, data, *, seed,
            cache, log, aus=None, blendshapes=None, dynamics=None) -> (table, root, synthetic)``
            (``dynamics``: the template's Galerkin-reduced skin, the prior of the coefficient
            smoother when ``data.smoother`` enables it), a
            :class:`aujax.datasets.FrameTable` with ``c`` and ``c_mask`` set (the signature of
            :func:`aujax.methods.topdown.prepared_table`, which the experiments pass). Required.
        echo: where progress lines and tables are printed (None: silent).

    Returns:
        dict of the tables (``table1``, ``table4``, ``table5``, ``forces``) as nested dicts.
    """
    cfg = config
    if cfg.get("experiment", EXPERIMENT) != EXPERIMENT:
        raise ValueError(f"config.experiment must be {EXPERIMENT!r}, got {cfg.experiment!r}.")
    run = Run(cfg, workdir, experiment=EXPERIMENT, train=train, step=step, echo=echo)
    if prepare_table is None:
        raise ValueError(
            "train_and_evaluate needs prepare_table=, the source of the frames' blendshape "
            "coefficients: pass aujax.methods.topdown.prepared_table (as experiments/_launch.py "
            "does) or a callable with its signature."
        )
    ex = _Experiment(cfg, run, prepare_table)
    results: dict = {"table1": {}, "table4": {}, "table5": {}, "forces": {}}
    report = Report()
    results["table1"] = table1(ex, report)
    if cfg.table4.enabled:
        results["table4"] = table4(ex, report)
    if cfg.table5.enabled:
        results["table5"] = table5(ex, report)
    if cfg.forces.enabled and ex.synthetic:
        results["forces"] = force_study(ex, report)
    if cfg.figures and cfg.rows and train:
        figures(ex)
    run.finish(report, results)
    return results


class _Experiment:
    """What the steps of one run share: the run, the template, the BP4D table with coefficients, its
    folds (with validation subjects), and the table 1 models trained so far."""

    def __init__(self, cfg, run: Run, prepare_table):
        self.cfg, self.run, self.prepare_table = cfg, run, prepare_table
        self.cache = cache_root(cfg.data.cache_dir)
        self.mesh = data_mesh()
        self.template, self.blendshapes = build_physics_template(
            n_vertices=cfg.data.template_vertices, factors=tuple(cfg.model.factors), seed=cfg.seed
        )
        self.table, self.root, self.synthetic = prepare_table(
            "bp4d", cfg.data, seed=cfg.seed, cache=self.cache, log=run.log,
            blendshapes=self.blendshapes, dynamics=self.template.reduced,
        )  # fmt: skip
        self.split = SubjectFolds(self.table, "bp4d", seed=cfg.seed, where=str(self.root),
                                  validation_subjects=cfg.train.validation_subjects)  # fmt: skip
        self.states: dict = {}  # (fold, table 1 row) -> trained state

    def spec(self, reconstruction: float, **kw) -> PhysicsSpec:
        """The 3D physics model (forces and positions) with lambda_3d ``reconstruction``."""
        m = dict(force_mode=self.cfg.model.force_mode, dynamics=self.cfg.model.dynamics)
        return PhysicsSpec(("force", "position"), reconstruction=reconstruction, **(m | kw))

    def fit_physics(self, names, spec: PhysicsSpec, fold: int, z2d=None):
        s = self.split(fold)
        return self.run.fit(names, functools.partial(
            train_physics, cfg=self.cfg, table=self.table, rows=s.train, template=self.template,
            spec=spec, z2d=z2d, mesh=self.mesh, seed=self.cfg.seed, val_rows=s.validation,
        ))  # fmt: skip

    def fit_image(self, fold: int):
        s = self.split(fold)
        return self.run.fit((f"fold{fold}", "image"), functools.partial(
            train_image, cfg=self.cfg, table=self.table, rows=s.train, mesh=self.mesh,
            seed=self.cfg.seed, val_rows=s.validation,
        ))  # fmt: skip

    def f1(self, state, rows, z2d=None) -> np.ndarray:
        """Per-AU F1 of a physics-branch model on the frames of ``rows`` its windows cover."""
        pred = predict_physics(state, cfg=self.cfg, table=self.table, rows=rows, z2d=z2d)
        return table_f1(pred["prob"], self.table, pred["rows"])


# ------------------------------------------------------------------------------------------------
# the steps


def table1(ex: _Experiment, report: Report) -> dict:
    """Table 1: every configured row on every configured fold (seed 001 §4.1)."""
    cfg, table = ex.cfg, ex.table
    per_fold: dict = {r: [] for r in cfg.rows}
    for fold in cfg.folds:
        te = ex.split(fold).test
        z2d = None
        if {"2D image", "physics + image"} & set(cfg.rows):
            z2d = _image_branch(ex, fold, per_fold)
        for row in cfg.rows:
            if row == "2D image":
                continue
            st = ex.fit_physics((f"fold{fold}", row), row_spec(row, cfg), fold, z2d)
            ex.states[(fold, row)] = st
            per_fold[row].append(ex.f1(st, te, z2d))
        ex.run.log(f"fold {fold}: " + ", ".join(
            f"{r} {100 * np.mean(per_fold[r][-1]):.1f}" for r in cfg.rows))  # fmt: skip
    lines, record = fold_f1_lines(per_fold, table.aus)
    src = "synthetic BP4D-like" if ex.synthetic else "BP4D"
    report.table(
        "table1", f"Table 1 — F1 (%) on {src}, mean of folds {list(cfg.folds)}",
        au_header(table.aus), lines,
        note="Frame-based F1 (threshold 0.5, 9s skipped), per fold then averaged over folds.",
    )  # fmt: skip
    return record


def _image_branch(ex: _Experiment, fold: int, per_fold: dict) -> np.ndarray:
    """The fold's image branch: trained (or restored), scored as the ``2D image`` row when that is
    configured; returns its features z2d of every frame."""
    table = ex.table
    st = ex.fit_image(fold)
    with ex.run.timed(f"fold{fold}/image: features of {len(table)} frames"):
        img = predict_image(st, table=table, rows=np.arange(len(table)))
    if "2D image" in ex.cfg.rows:
        covered = _covered(table, ex.split(fold).test, ex.cfg.model.window)
        per_fold["2D image"].append(table_f1(img["prob"][covered], table, covered))
    return img["z2d"].astype(np.float32)


def table4(ex: _Experiment, report: Report) -> dict:
    """Table 4: the 3D physics model with a fraction of the AU labels, with and without L_3d."""
    cfg = ex.cfg
    record: dict = {}
    lines = []
    for frac in cfg.table4.fractions:
        vals = []
        for variant, lam in (("AU", 0.0), ("AU + reconstruction", float(cfg.loss.reconstruction))):
            scores = []
            for fold in cfg.table4.folds:
                spec = ex.spec(lam, label_fraction=float(frac))
                st = ex.fit_physics(("table4", f"fold{fold}", f"{variant} {frac:g}"), spec, fold)
                scores.append(float(np.mean(ex.f1(st, ex.split(fold).test))))
            vals.append(float(np.mean(scores)))
            record.setdefault(f"{100 * frac:g}%", {})[variant] = vals[-1]
        lines.append((f"{100 * frac:g}%", vals))
    report.table(
        "table4",
        f"Table 4 — average F1 (%) with a fraction of the AU labels (folds {list(cfg.table4.folds)})",
        ["AU labels", "AU", "AU + Reconstruction"], lines,
        note="3D physics model; the reconstruction loss uses every frame.",
        csv_header=["labels", "au", "au_reconstruction"],
    )  # fmt: skip
    return record


def table5(ex: _Experiment, report: Report) -> dict:
    """Table 5: trained on BP4D-like training subjects, tested on the DISFA-like set (shared AUs)."""
    cfg, fold = ex.cfg, ex.cfg.table5.fold
    disfa, _, _ = ex.prepare_table("disfa", cfg.data, seed=cfg.seed, cache=ex.cache,
                                   log=ex.run.log, aus=BP4D_AUS, blendshapes=ex.blendshapes,
                                   dynamics=ex.template.reduced)  # fmt: skip
    shared = [a for a in ex.table.aus if a in DISFA_DETECTION_AUS]
    cols = [ex.table.aus.index(a) for a in shared]
    record, vals = {}, []
    for variant, lam in (("data-driven", 0.0), ("physics-based", float(cfg.loss.reconstruction))):
        if variant == "physics-based" and (fold, "3D physics") in ex.states:
            st = ex.states[(fold, "3D physics")]
        else:
            st = ex.fit_physics(("table5", f"fold{fold}", variant), ex.spec(lam), fold)
        pred = predict_physics(st, cfg=cfg, table=disfa, rows=np.arange(len(disfa)))
        f1 = table_f1(pred["prob"][:, cols], _subset(disfa, cols), pred["rows"])
        vals.append(float(np.mean(f1)))
        record[variant] = {"avg": vals[-1], "per_au": dict(zip(shared, f1.tolist(), strict=True))}
    report.section("table5", markdown_table(
        f"Table 5 — train BP4D-like (fold {fold} training subjects), test DISFA-like, "
        f"F1 (%) on the shared AUs {shared}",
        ["Method", "data-driven", "physics-based"], [("Avg.", vals)],
    ), csv_table(["metric", "data_driven", "physics_based"], [("avg", vals)]))  # fmt: skip
    return record


def force_study(ex: _Experiment, report: Report) -> dict:
    """Correlation of estimated with true muscle forces, ``paper`` vs ``galerkin`` (synthetic)."""
    out = _force_correlation(ex)
    report.section(
        "forces",
        "### Estimated vs true muscle forces (synthetic ground truth)\n\n"
        "| dynamics | mean Pearson r |\n|---|---|\n"
        + "".join(f"| {k} | {v:.3f} |\n" for k, v in out.items())
        + "\nPer muscle, over the test frames of the fold: |F_m(t)| (paper, 3-vector forces) or "
        "a_m(t) (galerkin, directed activations) against the generator's activation of muscle m; "
        "mean over muscles that were active.\n",
        csv_table(["dynamics", "r"], [(k, [v]) for k, v in out.items()]),
    )
    return out


def figures(ex: _Experiment) -> None:
    """Figure 4 (force magnitude vs AU labels) and figure 5 (forces on the mesh), seed 001 §4.4,
    from the first 3D physics model on the test sequence with the most AU12 frames."""
    import matplotlib

    matplotlib.use("Agg")

    keys = [k for k in ex.states if k[1] == "3D physics"]
    if not keys:
        return  # figures are drawn from a 3D physics model
    fold, row = keys[0]
    cfg, table = ex.cfg, ex.table
    te_subj = ex.split(fold).test_subjects
    seqs = [
        (s, t, r) for s, t, r in table.sequences() if s in te_subj and r.size >= cfg.model.window
    ]
    j12 = {a: i for i, a in enumerate(table.aus)}.get(12, 0)
    s, t, rows = max(seqs, key=lambda x: int(np.sum(table.labels[x[2], j12] == 1)))
    pred = predict_physics(ex.states[(fold, row)], cfg=cfg, table=table, rows=rows)
    f = pred["forces"]
    mag = np.linalg.norm(f, axis=-1) if f.ndim == 3 else f  # (n, M)
    figs = ex.run.workdir / "figures"
    figs.mkdir(exist_ok=True)
    _figure4(figs / "figure4.png", ex, pred, mag, f"frame ({s} {t}, fold {fold} test)")
    _figure5(figs / "figure5.png", ex, pred, mag, f"{s} {t}")
    ex.run.log(f"figures: {figs / 'figure4.png'}, {figs / 'figure5.png'}")


# ------------------------------------------------------------------------------------------------
# helpers of the steps


def _subset(table: FrameTable, cols) -> FrameTable:
    return dataclasses.replace(table, labels=table.labels[:, cols], label_mask=table.label_mask[:, cols],
                               aus=tuple(table.aus[c] for c in cols))  # fmt: skip


def _covered(table: FrameTable, rows, window: int) -> np.ndarray:
    """The frames the window-based rows are evaluated on (so every row scores the same frames)."""
    wins, owner = covering_windows(table, rows, window)
    return np.sort(wins[owner])


def _true_activations(root, table: FrameTable, rows: np.ndarray) -> np.ndarray:
    """The generator's muscle activations (n, M) of table ``rows`` (synthetic copies only)."""
    out = None
    cache: dict = {}
    for j, r in enumerate(rows):
        key = (str(table.subject[r]), str(table.task[r]))
        if key not in cache:
            with np.load(root / "synthetic" / f"{key[0]}_{key[1]}.npz") as z:
                cache[key] = np.asarray(z["activations"])
        acts = cache[key]
        if out is None:
            out = np.zeros((len(rows), acts.shape[1]))
        out[j] = acts[int(table.frame[r]) - 1]  # BP4D frame numbers start at 1
    return out


def _pearson_mean(est: np.ndarray, true: np.ndarray) -> float:
    rs = []
    for m in range(true.shape[1]):
        a, b = est[:, m], true[:, m]
        if np.std(a) > 1e-12 and np.std(b) > 1e-12:
            rs.append(np.corrcoef(a, b)[0, 1])
    return float(np.mean(rs)) if rs else float("nan")


def _force_correlation(ex: _Experiment) -> dict:
    """Mean Pearson r of estimated and true muscle forces on the test frames, per dynamics."""
    cfg = ex.cfg
    fold = cfg.forces.fold
    te = ex.split(fold).test
    out = {}
    for dynamics, mode, solver in (
        ("paper", "vectors", cfg.model.solver),
        ("galerkin", "activations", cfg.forces.galerkin_solver),
    ):
        key = (fold, "3D physics")
        same = (cfg.model.dynamics, cfg.model.force_mode, cfg.model.solver) == (
            dynamics,
            mode,
            solver,
        )
        if key in ex.states and same:
            st = ex.states[key]
        else:
            spec = ex.spec(float(cfg.loss.reconstruction), force_mode=mode, dynamics=dynamics,
                           solver=solver)  # fmt: skip
            st = ex.fit_physics(("forces", f"fold{fold}", dynamics), spec, fold)
        pred = predict_physics(st, cfg=cfg, table=ex.table, rows=te)
        f = pred["forces"]
        est = np.linalg.norm(f, axis=-1) if f.ndim == 3 else f
        true = _true_activations(ex.root, ex.table, pred["rows"])
        out[f"{dynamics} ({mode})"] = _pearson_mean(est, true)
    ex.run.log("force correlation: " + ", ".join(f"{k} r = {v:.3f}" for k, v in out.items()))
    return out


def _figure4(path, ex: _Experiment, pred: dict, mag: np.ndarray, xlabel: str) -> None:
    """Estimated force magnitude (normalised) of the main muscle of AU1, 12 and 4 vs their labels."""
    import matplotlib.pyplot as plt

    table, template = ex.table, ex.template
    au_col = {a: i for i, a in enumerate(table.aus)}
    k_of = {a: i for i, a in enumerate(template.aus)}
    w = np.asarray(template.au_muscle_weights)
    panels = [a for a in (1, 12, 4) if a in au_col and a in k_of]
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 2.4 * len(panels)), sharex=True)
    axes = np.atleast_1d(axes)
    frames = table.frame[pred["rows"]]
    for ax, au in zip(axes, panels, strict=True):
        m = int(np.argmax(w[k_of[au]]))
        y = mag[:, m] / max(np.max(mag[:, m]), 1e-12)
        ax.plot(frames, y, color="tab:blue", label=f"|force| {template.muscle_names[m]}")
        lab = table.labels[pred["rows"], au_col[au]].astype(float)
        lab[lab == NOT_CODED] = np.nan
        ax.plot(frames, lab, color="tab:red", label=f"AU{au} label")
        ax.set_ylim(-0.05, 1.1)
        ax.legend(loc="upper right", fontsize=8)
    axes[-1].set_xlabel(xlabel)
    fig.suptitle("Figure 4: estimated force magnitude (normalised) vs AU labels")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _figure5(path, ex: _Experiment, pred: dict, mag: np.ndarray, sequence: str) -> None:
    """The frame of the strongest AU12 force: its image beside |force| on the template mesh."""
    import matplotlib.pyplot as plt

    table, template = ex.table, ex.template
    k_of = {a: i for i, a in enumerate(template.aus)}
    w = np.asarray(template.au_muscle_weights)
    m12 = int(np.argmax(w[k_of[12]])) if 12 in k_of else 0
    i = int(np.argmax(mag[:, m12]))
    vf = np.linalg.norm(template.vertex_forces(pred["forces"][i]), axis=1)
    v = np.asarray(template.neutral)
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(8, 4))
    if table.images is not None:
        a0.imshow(table.images[pred["rows"][i]])
    a0.set_title(f"{sequence} frame {int(table.frame[pred['rows'][i]])}")
    a0.axis("off")
    a1.tripcolor(
        v[:, 0], v[:, 1], np.asarray(template.triangles), vf, shading="gouraud", cmap="magma"
    )
    a1.set_aspect("equal")
    a1.axis("off")
    a1.set_title("Figure 5: |force| on the template mesh")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
